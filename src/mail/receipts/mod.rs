//! PEC receipts: read from the Ordine's PEC inbox over IMAP ([`imap`]) or
//! from a local Maildir ([`maildir`]), parsed as the PEC technical rules
//! define them ([`daticert`], DM 2 novembre 2005), matched to the reminders
//! sent by their original Message-ID, stored once, and each original kept as
//! the legal proof (0600, `<data dir>/ricevute/`).
//!
//! A receipt that matches no reminder is stored with no reminder (it is
//! counted and left alone: it may answer a message sent by hand from the
//! webmail). A malformed one is reported and skipped; a message that is not a
//! receipt (no `X-Ricevuta`: ordinary PEC received by the Ordine) is counted
//! and left alone.

pub mod build;
pub mod daticert;
pub mod imap;
pub mod maildir;
pub mod provider_sim;
mod settings;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use mail_parser::{MessageParser, MimeHeaders};
use serde::Serialize;

pub use daticert::{Daticert, DaticertError, Kind};
pub use settings::{ImapSettings, PecReceiptsFile, ReceiptSource, Security, SettingsError};

use crate::store::{NewReceipt, ReadProgress, Store, StoreError};

/// Why one message could not be read as a receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("non è un messaggio MIME leggibile")]
    NotMime,
    #[error("X-Ricevuta \"{0}\" senza l'allegato daticert.xml")]
    NoDaticert(String),
    #[error("X-Ricevuta \"{0}\" non previsto dalle regole tecniche")]
    UnknownHeader(String),
    #[error(transparent)]
    Daticert(#[from] DaticertError),
    #[error("X-Ricevuta \"{header}\" ma daticert.xml di tipo \"{daticert}\"")]
    TypeMismatch { header: String, daticert: String },
    #[error("nessun Message-ID del messaggio originale (msgid, X-Riferimento-Message-ID)")]
    NoMessageId,
}

/// Errors that stop a reading run (a single bad message never does).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("server IMAP {server}: {message}")]
    Imap { server: String, message: String },
    #[error("server IMAP {server} non raggiungibile: {source}")]
    Connect {
        server: String,
        source: std::io::Error,
    },
    #[error("Maildir {path}: {source}")]
    Maildir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("impossibile conservare la ricevuta in {path}: {source}")]
    Keep {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A receipt as read from its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub kind: Kind,
    /// The original message's Message-ID, without angle brackets.
    pub message_id: String,
    /// The receipt message's own Message-ID, when it has one.
    pub own_message_id: Option<String>,
    pub daticert: Daticert,
}

impl Receipt {
    /// The mailbox the receipt is about: the delivery's `consegna`, else the
    /// recipients of the original.
    pub fn recipient(&self) -> Option<String> {
        self.daticert.delivered_to.clone().or_else(|| {
            (!self.daticert.recipients.is_empty()).then(|| self.daticert.recipients.join(", "))
        })
    }
}

/// Reads one message. `Ok(None)`: not a receipt (no `X-Ricevuta`).
pub fn parse_message(raw: &[u8]) -> Result<Option<Receipt>, ReceiptError> {
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.parts.is_empty())
        .ok_or(ReceiptError::NotMime)?;
    let Some(header) = message
        .header_raw("X-Ricevuta")
        .map(|h| h.trim().to_string())
    else {
        return Ok(None);
    };
    let header_kind =
        Kind::parse(&header).ok_or_else(|| ReceiptError::UnknownHeader(header.clone()))?;
    let xml = message
        .parts
        .iter()
        .find(|part| {
            part.attachment_name()
                .is_some_and(|name| name.trim().eq_ignore_ascii_case("daticert.xml"))
        })
        .ok_or_else(|| ReceiptError::NoDaticert(header.clone()))?;
    let daticert = daticert::parse(xml.contents())?;
    if daticert.kind != header_kind {
        return Err(ReceiptError::TypeMismatch {
            header,
            daticert: daticert.kind.code().to_string(),
        });
    }
    let referenced = message
        .header_raw("X-Riferimento-Message-ID")
        .map(daticert::bare_message_id)
        .filter(|id| !id.is_empty());
    let message_id = daticert
        .msgid
        .clone()
        .filter(|id| !id.is_empty())
        .or(referenced)
        .ok_or(ReceiptError::NoMessageId)?;
    Ok(Some(Receipt {
        kind: daticert.kind,
        message_id,
        own_message_id: message.message_id().map(str::to_string),
        daticert,
    }))
}

/// A message read from a source, not yet parsed.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Where it was read (`imap:<uidvalidity>:<uid>`, `maildir:<name>`).
    pub location: String,
    pub bytes: Vec<u8>,
}

/// A message that claimed to be a receipt and could not be read as one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Malformed {
    pub location: String,
    pub error: String,
}

/// What a reading run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadSummary {
    /// The source, without credentials.
    pub source: String,
    /// Messages read from the source.
    pub read: usize,
    /// Receipts newly stored.
    pub stored: usize,
    /// Of those, matched to a reminder.
    pub matched: usize,
    /// Of those, matching no reminder: counted and left alone.
    pub unmatched: usize,
    /// Non-deliveries among the stored receipts: members to chase.
    pub not_delivered: usize,
    /// Receipts stored in an earlier run.
    pub already_stored: usize,
    /// Messages that are not receipts (no `X-Ricevuta`).
    pub not_receipts: usize,
    pub malformed: Vec<Malformed>,
}

impl ReadSummary {
    /// One line for the operator.
    pub fn describe(&self) -> String {
        format!(
            "{} messaggi letti: {} ricevute nuove ({} abbinate ai solleciti, {} senza sollecito, {} mancate consegne), {} già archiviate, {} non ricevute, {} non valide",
            self.read,
            self.stored,
            self.matched,
            self.unmatched,
            self.not_delivered,
            self.already_stored,
            self.not_receipts,
            self.malformed.len()
        )
    }
}

/// Stores what the sources hand over, batch by batch.
pub(crate) struct Ingest<'a> {
    store: &'a mut Store,
    keep_dir: PathBuf,
    pub(crate) summary: ReadSummary,
}

/// The folder beside the store where receipts' originals are kept.
pub fn keep_dir(store_path: &Path) -> PathBuf {
    store_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("ricevute")
}

impl<'a> Ingest<'a> {
    pub(crate) fn new(store: &'a mut Store, source: String) -> Self {
        let keep_dir = keep_dir(store.path());
        Self {
            store,
            keep_dir,
            summary: ReadSummary {
                source,
                ..ReadSummary::default()
            },
        }
    }

    /// Parses, keeps and stores one batch; with it, how far the source was read.
    /// The batch's originals are on disk, durably, before its rows are
    /// committed: a stored receipt always has its proof.
    pub(crate) fn batch(
        &mut self,
        messages: Vec<Fetched>,
        progress: Option<ReadProgress<'_>>,
    ) -> Result<(), ReadError> {
        let mut receipts = Vec::with_capacity(messages.len());
        let mut originals = Vec::with_capacity(messages.len());
        for message in messages {
            self.summary.read += 1;
            match parse_message(&message.bytes) {
                Ok(Some(receipt)) => {
                    // The receipt's own Message-ID identifies it wherever it
                    // is read from; its location only when it has none.
                    let source_key = match &receipt.own_message_id {
                        Some(id) => format!("msgid:{id}"),
                        None => message.location.clone(),
                    };
                    let name = format!("{}.eml", file_name(&source_key));
                    receipts.push(NewReceipt {
                        source_key,
                        message_id: receipt.message_id.clone(),
                        kind: receipt.kind.code().to_string(),
                        at: receipt.daticert.at,
                        provider_id: receipt.daticert.identifier.clone(),
                        recipient: receipt.recipient(),
                        error: receipt.daticert.error_text(),
                        file: Some(format!("ricevute/{name}")),
                    });
                    originals.push((name, message.bytes));
                }
                Ok(None) => self.summary.not_receipts += 1,
                Err(error) => {
                    tracing::warn!(location = %message.location, %error, "ricevuta PEC non valida");
                    self.summary.malformed.push(Malformed {
                        location: message.location,
                        error: error.to_string(),
                    });
                }
            }
        }
        keep_originals(&self.keep_dir, originals)?;
        let stored = self
            .store
            .record_receipts(&receipts, progress, Utc::now())?;
        self.summary.not_delivered += stored.not_delivered;
        self.summary.stored += stored.stored;
        self.summary.matched += stored.matched;
        self.summary.unmatched += stored.unmatched;
        self.summary.already_stored += stored.duplicates;
        Ok(())
    }
}

/// Writes each original not kept yet, owner-only, under its name in `dir`,
/// and makes the batch durable together: all written under temporary names,
/// then flushed at once, then renamed into place, then one fsync of the
/// directory. One fsync per file took most of the reading time: on this
/// kind of disk each writes its inode on its own (0.5 ms a file when idle,
/// 3 ms under load); one flush writes them together.
fn keep_originals(dir: &Path, originals: Vec<(String, Vec<u8>)>) -> Result<(), ReadError> {
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReadError::Keep { path, source }
    };
    let mut names = std::collections::HashSet::new();
    let missing: Vec<(String, Vec<u8>)> = originals
        .into_iter()
        .filter(|(name, _)| !dir.join(name).exists() && names.insert(name.clone()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    create_private_dir(dir).map_err(fail(dir))?;
    let mut written = Vec::with_capacity(missing.len());
    for (name, bytes) in &missing {
        // NamedTempFile is created 0600 already; the path alone is kept (no
        // descriptor held), and removed if anything fails before the rename.
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail(dir))?;
        tmp.write_all(bytes).map_err(fail(tmp.path()))?;
        written.push((name, tmp.into_temp_path()));
    }
    flush(dir, written.iter().map(|(_, tmp)| tmp.as_ref())).map_err(fail(dir))?;
    for (name, tmp) in written {
        let path = dir.join(name);
        tmp.persist(&path).map_err(|e| fail(&path)(e.error))?;
    }
    // The renames are durable with the directory.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail(dir))
}

/// Makes the files just written in `dir` durable, data and inodes. On Linux
/// one `syncfs` of the filesystem writes them together; elsewhere each file
/// is synced.
fn flush<'a>(dir: &Path, files: impl Iterator<Item = &'a Path>) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let _ = files;
        let handle = std::fs::File::open(dir)?;
        // SAFETY: a valid open descriptor; syncfs only flushes its filesystem.
        if unsafe { libc::syncfs(handle.as_raw_fd()) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        for file in files {
            std::fs::File::open(file)?.sync_data()?;
        }
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// A file name from a key: its safe characters, then a hash of the whole key
/// so that two keys never share a file.
fn file_name(key: &str) -> String {
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    // FNV-1a, 64 bits: stable across versions and platforms.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{safe}-{hash:016x}")
}

/// Reads receipts from the configured source into the store at `store_path`.
pub async fn read(store_path: &Path, source: &ReceiptSource) -> Result<ReadSummary, ReadError> {
    match source {
        ReceiptSource::Imap(settings) => imap::read(store_path, settings).await,
        ReceiptSource::Maildir(dir) => {
            let dir = dir.clone();
            let store_path = store_path.to_path_buf();
            tokio::task::spawn_blocking(move || maildir::read(&store_path, &dir))
                .await
                .expect("the Maildir reader does not panic")
        }
    }
}
