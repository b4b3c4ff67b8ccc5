//! Receipts from the Ordine's PEC inbox over IMAP. The folder is opened
//! read-only (EXAMINE) and messages are fetched with BODY.PEEK, so nothing
//! is moved, deleted or marked as read; what was read is remembered as the
//! folder's UIDVALIDITY and last UID in the store.

use std::path::Path;
use std::sync::Arc;

use async_imap::Client;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::{Fetched, ImapSettings, Ingest, ReadError, ReadSummary, Security};
use crate::store::{ReadProgress, ReceiptCursor, Store};

/// UIDs fetched, and stored, per round.
const BATCH: usize = 1000;
/// How long connecting may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}
type Stream = Box<dyn Io>;

fn imap_error(settings: &ImapSettings) -> impl Fn(async_imap::error::Error) -> ReadError + '_ {
    move |e| ReadError::Imap {
        server: settings.server(),
        message: e.to_string(),
    }
}

async fn tls(settings: &ImapSettings, tcp: Stream) -> Result<Stream, ReadError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fail = |message: String| ReadError::Imap {
        server: settings.server(),
        message,
    };
    use rustls_platform_verifier::ConfigVerifierExt;
    let config = rustls::ClientConfig::with_platform_verifier()
        .map_err(|e| fail(format!("TLS non configurabile: {e}")))?;
    let name = rustls::pki_types::ServerName::try_from(settings.host.clone())
        .map_err(|e| fail(format!("nome del server non valido: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| fail(format!("TLS: {e}")))?;
    Ok(Box::new(stream))
}

/// Connects, says the protocol's greeting, and upgrades to TLS as set.
async fn connect(settings: &ImapSettings) -> Result<Client<Stream>, ReadError> {
    let server = settings.server();
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((settings.host.as_str(), settings.port)),
    )
    .await
    .map_err(|_| ReadError::Connect {
        server: server.clone(),
        source: std::io::ErrorKind::TimedOut.into(),
    })?
    .map_err(|source| ReadError::Connect {
        server: server.clone(),
        source,
    })?;
    let stream: Stream = Box::new(tcp);
    let stream = match settings.security {
        Security::Tls => tls(settings, stream).await?,
        Security::None | Security::Starttls => stream,
    };
    let mut client = Client::new(stream);
    let greeting = client
        .read_response()
        .await
        .map_err(|source| ReadError::Connect {
            server: server.clone(),
            source,
        })?;
    if greeting.is_none() {
        return Err(ReadError::Imap {
            server,
            message: "connessione chiusa prima del saluto".into(),
        });
    }
    if settings.security == Security::Starttls {
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .map_err(imap_error(settings))?;
        let stream = tls(settings, client.into_inner()).await?;
        client = Client::new(stream);
    }
    Ok(client)
}

/// Reads the receipts that arrived since the last run.
pub async fn read(store_path: &Path, settings: &ImapSettings) -> Result<ReadSummary, ReadError> {
    let source = settings.source_name();
    let client = connect(settings).await?;
    // The password goes only to the server: never into an error or a log.
    let mut session = client
        .login(&settings.user, &settings.password)
        .await
        .map_err(|(e, _)| ReadError::Imap {
            server: settings.server(),
            message: format!("accesso di {} rifiutato: {e}", settings.user),
        })?;
    let mailbox = session
        .examine(&settings.folder)
        .await
        .map_err(imap_error(settings))?;
    let uidvalidity = mailbox.uid_validity.ok_or_else(|| ReadError::Imap {
        server: settings.server(),
        message: format!("la cartella {} non dichiara UIDVALIDITY", settings.folder),
    })?;
    let mut store = Store::open(store_path)?;
    let first = match store.receipt_cursor(&source)? {
        Some(cursor) if cursor.uidvalidity == uidvalidity => cursor.last_uid + 1,
        _ => 1,
    };
    let mut uids: Vec<u32> = if mailbox.exists == 0 {
        Vec::new()
    } else {
        session
            .uid_search(format!("UID {first}:*"))
            .await
            .map_err(imap_error(settings))?
            .into_iter()
            // `n:*` always includes the last message, even below n.
            .filter(|&uid| uid >= first)
            .collect()
    };
    uids.sort_unstable();
    let mut ingest = Ingest::new(&mut store, source.clone());
    for chunk in uids.chunks(BATCH) {
        let set = uid_set(chunk);
        let mut fetched: Vec<(u32, Fetched)> = Vec::with_capacity(chunk.len());
        {
            let mut stream = session
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await
                .map_err(imap_error(settings))?;
            while let Some(fetch) = stream.try_next().await.map_err(imap_error(settings))? {
                let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) else {
                    continue;
                };
                fetched.push((
                    uid,
                    Fetched {
                        location: format!("imap:{uidvalidity}:{uid}"),
                        bytes: body.to_vec(),
                    },
                ));
            }
        }
        fetched.sort_by_key(|(uid, _)| *uid);
        let last_uid = *chunk.last().expect("chunks are never empty");
        let cursor = ReceiptCursor {
            uidvalidity,
            last_uid,
        };
        ingest.batch(
            fetched.into_iter().map(|(_, f)| f).collect(),
            Some(ReadProgress::Folder(&source, cursor)),
        )?;
    }
    if uids.is_empty() {
        // Remember the folder's UIDVALIDITY even when it is empty.
        let last_uid = first.saturating_sub(1);
        ingest.batch(
            Vec::new(),
            Some(ReadProgress::Folder(
                &source,
                ReceiptCursor {
                    uidvalidity,
                    last_uid,
                },
            )),
        )?;
    }
    let summary = ingest.summary;
    let _ = session.logout().await;
    Ok(summary)
}

/// `1:3,7,9:10` from sorted UIDs.
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(super::uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(super::uid_set(&[5]), "5");
    }
}
