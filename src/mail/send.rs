//! Sending one reminder over SMTP (lettre): one message per member, UTF-8
//! plain text, the Ordine as sender and Reply-To, the Message-ID pecdesk
//! generated and stored before sending. Outcomes are sorted the way a
//! campaign must treat them: accepted, temporary refusal (try later),
//! permanent refusal (with the server's words), or in doubt (the connection
//! broke where the server may have taken the message: never resent alone).

use std::time::Duration;

use lettre::Message;
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::settings::{ChannelSettings, Security};

/// One message ready to go.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// With angle brackets: `<...@domain>`.
    pub message_id: String,
}

impl std::fmt::Debug for Outgoing {
    /// The body is personal: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("to", &self.to)
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

/// A fresh Message-ID on the sender's domain, unique across campaigns:
/// the campaign, the item and the time it was made.
pub fn new_message_id(from: &str, campaign: i64, item: i64) -> String {
    let domain = from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim())
        .filter(|d| !d.is_empty())
        .unwrap_or("pecdesk.invalid");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("<pecdesk.{campaign}.{item}.{nanos:x}@{domain}>")
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("indirizzo non valido {value}: {message}")]
    Address { value: String, message: String },
    #[error("impossibile comporre il messaggio: {0}")]
    Build(String),
    #[error("rifiuto temporaneo del server: {code} {text}")]
    Temporary { code: u16, text: String },
    #[error("rifiuto definitivo del server: {code} {text}")]
    Permanent { code: u16, text: String },
    /// The server may or may not have the message.
    #[error("esito incerto: {0}")]
    InDoubt(String),
    #[error("connessione al server non riuscita: {0}")]
    Connect(String),
    /// The caller could not record that the message was going: not sent.
    #[error("invio non registrato nell'archivio: messaggio non inviato")]
    NotRecorded,
}

impl SendError {
    /// Whether the campaign should slow down and try this member later.
    pub fn is_temporary(&self) -> bool {
        matches!(self, SendError::Temporary { .. } | SendError::Connect(_))
    }

    /// A refusal of the sender's login (530, 534, 535, 538): no message of
    /// the campaign can go until the settings are fixed.
    pub fn is_login_refused(&self) -> bool {
        matches!(
            self,
            SendError::Permanent {
                code: 530 | 534 | 535 | 538,
                ..
            }
        )
    }
}

fn mailbox(value: &str) -> Result<Mailbox, SendError> {
    value
        .parse()
        .map_err(|e: lettre::address::AddressError| SendError::Address {
            value: value.to_owned(),
            message: e.to_string(),
        })
}

/// The message exactly as it leaves: headers and the UTF-8 plain-text body.
pub fn build_message(settings: &ChannelSettings, out: &Outgoing) -> Result<Message, SendError> {
    build_message_from(&settings.from, &settings.reply_to, out)
}

/// [`build_message`] with the sender and Reply-To given.
pub fn build_message_from(
    from: &str,
    reply_to: &str,
    out: &Outgoing,
) -> Result<Message, SendError> {
    Message::builder()
        .from(mailbox(from)?)
        .reply_to(mailbox(reply_to)?)
        .to(mailbox(&out.to)?)
        .subject(out.subject.clone())
        .message_id(Some(out.message_id.clone()))
        .date_now()
        .header(ContentType::TEXT_PLAIN)
        .body(out.body.clone())
        .map_err(|e| SendError::Build(e.to_string()))
}

/// A pool of SMTP connections to one channel's server, opened by pecdesk
/// (lettre speaks the protocol on them) so that:
/// - Nagle is off (`TCP_NODELAY`): lettre writes the message and its final
///   `.` separately, and with Nagle on each message waits for the server's
///   delayed ACK (40 ms on Linux) before that last line can leave;
/// - each step is known: a failure before DATA is a clean "not sent" (tried
///   again later), only a message whose data went out with no reply is in
///   doubt.
#[derive(Clone)]
pub struct SmtpSender {
    inner: std::sync::Arc<SenderInner>,
}

struct SenderInner {
    settings: ChannelSettings,
    tls: Option<TlsParameters>,
    hello: ClientId,
    /// Idle connections, with when they were last used.
    idle: std::sync::Mutex<Vec<(AsyncSmtpConnection, std::time::Instant)>>,
}

/// A connection idle longer than this is checked (NOOP) before reuse: a
/// server may have closed it, and a message must not be lost to that.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(5);
/// How long connecting and each reply may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(60);

impl SmtpSender {
    pub fn new(settings: &ChannelSettings) -> Result<Self, SendError> {
        let tls = match settings.security {
            Security::Starttls => Some(
                TlsParameters::new(settings.host.clone())
                    .map_err(|e| SendError::Connect(e.to_string()))?,
            ),
            // Implicit TLS is set up by `implicit_tls`; settings refuse
            // `none` unless the host is loopback.
            Security::Tls | Security::None => None,
        };
        Ok(SmtpSender {
            inner: std::sync::Arc::new(SenderInner {
                settings: settings.clone(),
                tls,
                hello: ClientId::default(),
                idle: std::sync::Mutex::new(Vec::new()),
            }),
        })
    }

    /// Sends one message. A refusal carries the server's code and words.
    pub async fn send(&self, out: &Outgoing) -> Result<(), SendError> {
        self.send_after(out, std::future::ready(true)).await
    }

    /// Sends one message once `recorded` says the caller committed that it
    /// is going (a campaign's `sending`): awaited only just before the data,
    /// so the commit overlaps connecting, MAIL, RCPT and DATA. If it says
    /// false, the data never goes ([`SendError::NotRecorded`]).
    pub async fn send_after(
        &self,
        out: &Outgoing,
        recorded: impl std::future::Future<Output = bool>,
    ) -> Result<(), SendError> {
        let message = build_message(&self.inner.settings, out)?;
        let envelope = message.envelope().clone();
        let bytes = message.formatted();
        let mut recorded = Recorded {
            future: Box::pin(recorded),
            answer: None,
        };
        // A reused connection that turns out dead before DATA is replaced
        // once: nothing was sent on it.
        for fresh in [false, true] {
            let (mut conn, reused) = self.checkout(fresh).await?;
            match transfer(&mut conn, &envelope, &bytes, &mut recorded).await {
                Ok(()) => {
                    self.checkin(conn);
                    return Ok(());
                }
                Err(Step::BeforeData { dead: true, .. }) if reused => {
                    conn.abort().await;
                    continue;
                }
                Err(Step::BeforeData { error, .. } | Step::Data(error)) => {
                    conn.abort().await;
                    return Err(error);
                }
            }
        }
        Err(SendError::Connect("connessione chiusa dal server".into()))
    }

    /// An idle connection (checked if idle a while), or a new one.
    async fn checkout(&self, fresh: bool) -> Result<(AsyncSmtpConnection, bool), SendError> {
        if !fresh {
            loop {
                let idle = self.inner.idle.lock().expect("not poisoned").pop();
                let Some((mut conn, since)) = idle else {
                    break;
                };
                if since.elapsed() < CHECK_IDLE_AFTER || conn.test_connected().await {
                    return Ok((conn, true));
                }
                conn.abort().await;
            }
        }
        let conn = tokio::time::timeout(SMTP_TIMEOUT, self.connect())
            .await
            .map_err(|_| {
                SendError::Connect("nessuna risposta del server (tempo scaduto)".into())
            })??;
        Ok((conn, false))
    }

    fn checkin(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.inner.idle.lock().expect("not poisoned");
        if idle.len() < self.inner.settings.connections.max(1) {
            idle.push((conn, std::time::Instant::now()));
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let settings = &self.inner.settings;
        let connect_error = |e: &dyn std::fmt::Display| {
            SendError::Connect(format!("{}:{}: {e}", settings.host, settings.port))
        };
        let tcp = tokio::time::timeout(
            SMTP_TIMEOUT,
            tokio::net::TcpStream::connect((settings.host.as_str(), settings.port)),
        )
        .await
        .map_err(|_| connect_error(&"tempo scaduto"))?
        .map_err(|e| connect_error(&e))?;
        tcp.set_nodelay(true).map_err(|e| connect_error(&e))?;
        let smtp = |e: lettre::transport::smtp::Error| classify_before_data(&e);
        let mut conn = match (settings.security, &self.inner.tls) {
            (Security::Tls, _) => {
                // Implicit TLS: the handshake comes before the greeting.
                let stream = tokio::time::timeout(SMTP_TIMEOUT, implicit_tls(&settings.host, tcp))
                    .await
                    .map_err(|_| connect_error(&"TLS: tempo scaduto"))??;
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.inner.hello)
                    .await
                    .map_err(smtp)?
            }
            (Security::Starttls, Some(tls)) => {
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.inner.hello)
                        .await
                        .map_err(smtp)?;
                conn.starttls(tls.clone(), &self.inner.hello)
                    .await
                    .map_err(smtp)?;
                conn
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.inner.hello)
                .await
                .map_err(smtp)?,
        };
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            let credentials = Credentials::new(user.clone(), password.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(smtp)?;
        }
        Ok(conn)
    }
}

/// The caller's "recorded" answer, awaited once.
struct Recorded<F> {
    future: std::pin::Pin<Box<F>>,
    answer: Option<bool>,
}

impl<F: std::future::Future<Output = bool>> Recorded<F> {
    async fn get(&mut self) -> bool {
        if let Some(answer) = self.answer {
            return answer;
        }
        let answer = self.future.as_mut().await;
        self.answer = Some(answer);
        answer
    }
}

/// Where a transfer broke.
enum Step {
    /// MAIL, RCPT or DATA: the message did not go out. `dead`: no reply at
    /// all (the connection is gone), as opposed to a refusal.
    BeforeData { error: SendError, dead: bool },
    /// The message's data or its reply.
    Data(SendError),
}

async fn transfer<F: std::future::Future<Output = bool>>(
    conn: &mut AsyncSmtpConnection,
    envelope: &lettre::address::Envelope,
    bytes: &[u8],
    recorded: &mut Recorded<F>,
) -> Result<(), Step> {
    use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
    use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
    let mut options = Vec::new();
    if !bytes.is_ascii() && conn.server_info().supports_feature(Extension::EightBitMime) {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let before = |result: Result<Result<_, lettre::transport::smtp::Error>, _>| match result {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Step::BeforeData {
            dead: e.status().is_none(),
            error: classify_before_data(&e),
        }),
        Err(_) => Err(Step::BeforeData {
            error: SendError::Connect("nessuna risposta del server (tempo scaduto)".into()),
            dead: true,
        }),
    };
    before(
        tokio::time::timeout(
            SMTP_TIMEOUT,
            conn.command(Mail::new(envelope.from().cloned(), options)),
        )
        .await,
    )?;
    for to in envelope.to() {
        before(
            tokio::time::timeout(SMTP_TIMEOUT, conn.command(Rcpt::new(to.clone(), vec![]))).await,
        )?;
    }
    before(tokio::time::timeout(SMTP_TIMEOUT, conn.command(Data)).await)?;
    if !recorded.get().await {
        return Err(Step::BeforeData {
            error: SendError::NotRecorded,
            dead: false,
        });
    }
    match tokio::time::timeout(SMTP_TIMEOUT, conn.message(bytes)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(Step::Data(classify(&e))),
        Err(_) => Err(Step::Data(SendError::InDoubt(
            "messaggio inviato, nessuna risposta del server (tempo scaduto)".into(),
        ))),
    }
}

/// A failure before the data went out: a refusal keeps its code, anything
/// else means the message was not sent and may be tried again.
fn classify_before_data(e: &lettre::transport::smtp::Error) -> SendError {
    match classify(e) {
        SendError::InDoubt(words) => SendError::Connect(words),
        other => other,
    }
}

/// Implicit TLS on a socket pecdesk opened, as the stream lettre's
/// connection takes.
struct TlsStream(tokio_rustls::client::TlsStream<tokio::net::TcpStream>);

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsStream")
    }
}

impl tokio::io::AsyncRead for TlsStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsStream {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// The TLS handshake of implicit TLS (465), checked against the system's roots.
async fn implicit_tls(host: &str, tcp: tokio::net::TcpStream) -> Result<TlsStream, SendError> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fail = |e: &dyn std::fmt::Display| SendError::Connect(format!("TLS con {host}: {e}"));
    let config = rustls::ClientConfig::with_platform_verifier().map_err(|e| fail(&e))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| fail(&e))?;
    let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| fail(&e))?;
    Ok(TlsStream(stream))
}

fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let text = || {
        // The server's words without lettre's prefix.
        let s = e.to_string();
        s.split_once(": ").map(|(_, t)| t.to_owned()).unwrap_or(s)
    };
    // No connection, or no TLS session: nothing was sent, try again later.
    if e.is_tls() || e.to_string().starts_with("Connection error") {
        return SendError::Connect(e.to_string());
    }
    if let Some(code) = e.status() {
        let code: u16 = code.to_string().parse().unwrap_or(0);
        if e.is_transient() {
            return SendError::Temporary { code, text: text() };
        }
        if e.is_permanent() {
            return SendError::Permanent { code, text: text() };
        }
    }
    // Without a reply code the connection broke or timed out: after DATA the
    // server may have taken the message, and lettre does not say where it
    // broke, so the campaign must treat it as in doubt.
    SendError::InDoubt(e.to_string())
}
