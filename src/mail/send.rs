//! Sending one reminder over SMTP (lettre): one message per member, UTF-8
//! plain text, the Ordine as sender and Reply-To, the Message-ID pecdesk
//! generated and stored before sending. Outcomes are sorted the way a
//! campaign must treat them: accepted, temporary refusal (try later),
//! permanent refusal (with the server's words), or in doubt (the connection
//! broke where the server may have taken the message: never resent alone).

use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

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

/// A pool of SMTP connections to one channel's server.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    settings: ChannelSettings,
}

impl SmtpSender {
    pub fn new(settings: &ChannelSettings) -> Result<Self, SendError> {
        let connect = |e: lettre::transport::smtp::Error| SendError::Connect(e.to_string());
        let tls = || TlsParameters::new(settings.host.clone()).map_err(connect);
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .timeout(Some(Duration::from_secs(60)))
            .tls(match settings.security {
                Security::Tls => Tls::Wrapper(tls()?),
                Security::Starttls => Tls::Required(tls()?),
                // Settings refuse `none` unless the host is loopback.
                Security::None => Tls::None,
            })
            .pool_config(
                lettre::transport::smtp::PoolConfig::new().max_size(settings.connections as u32),
            );
        let builder = match (&settings.user, &settings.password) {
            (Some(user), Some(password)) => {
                builder.credentials(Credentials::new(user.clone(), password.clone()))
            }
            _ => builder,
        };
        Ok(SmtpSender {
            transport: builder.build(),
            settings: settings.clone(),
        })
    }

    /// Sends one message. A refusal carries the server's code and words.
    pub async fn send(&self, out: &Outgoing) -> Result<(), SendError> {
        let message = build_message(&self.settings, out)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) => Err(classify(&e)),
        }
    }
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
