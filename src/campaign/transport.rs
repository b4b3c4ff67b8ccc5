//! Where a campaign's messages go: the Ordine's SMTP server, or a local
//! outbox directory (the demo, a dry rehearsal) holding one `.eml` file per
//! message, owner-only.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::mail::send::build_message_from;
use crate::mail::{ChannelSettings, Outgoing, SendError, SmtpSender};

/// A channel's way out.
#[derive(Clone)]
pub enum Transport {
    Smtp(SmtpSender),
    Outbox(Outbox),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Smtp(_) => f.write_str("Transport::Smtp"),
            Transport::Outbox(o) => f.debug_tuple("Transport::Outbox").field(&o.dir).finish(),
        }
    }
}

impl Transport {
    /// The channel's SMTP server (a pool of `settings.connections`).
    pub fn smtp(settings: &ChannelSettings) -> Result<Self, SendError> {
        Ok(Transport::Smtp(SmtpSender::new(settings)?))
    }

    /// A directory of `.eml` files (created 0700 if missing), each message
    /// as it would leave, from `from` with Reply-To `reply_to`.
    pub fn outbox(
        dir: impl Into<PathBuf>,
        from: &str,
        reply_to: &str,
    ) -> Result<Self, super::CampaignError> {
        let dir = dir.into();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|source| super::CampaignError::Outbox {
                path: dir.clone(),
                source,
            })?;
        Ok(Transport::Outbox(Outbox {
            dir,
            from: from.to_string(),
            reply_to: reply_to.to_string(),
        }))
    }

    /// Sends one message; errors say whether it may be tried again.
    pub async fn send(&self, out: &Outgoing) -> Result<(), SendError> {
        self.send_after(out, std::future::ready(true)).await
    }

    /// Sends one message once `recorded` says it was committed as going
    /// (see [`SmtpSender::send_after`]).
    pub async fn send_after(
        &self,
        out: &Outgoing,
        recorded: impl std::future::Future<Output = bool>,
    ) -> Result<(), SendError> {
        match self {
            Transport::Smtp(sender) => sender.send_after(out, recorded).await,
            Transport::Outbox(outbox) => {
                if !recorded.await {
                    return Err(SendError::NotRecorded);
                }
                let outbox = outbox.clone();
                let out = out.clone();
                tokio::task::spawn_blocking(move || outbox.write(&out))
                    .await
                    .map_err(|e| SendError::InDoubt(e.to_string()))?
            }
        }
    }
}

/// One `.eml` file per message, named by its Message-ID: writing the same
/// message twice replaces the file, never adds a second.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
    from: String,
    reply_to: String,
}

impl Outbox {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a message goes to.
    pub fn file_for(&self, message_id: &str) -> PathBuf {
        let name: String = message_id
            .trim_start_matches('<')
            .trim_end_matches('>')
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{name}.eml"))
    }

    fn write(&self, out: &Outgoing) -> Result<(), SendError> {
        let message = build_message_from(&self.from, &self.reply_to, out)?;
        let path = self.file_for(&out.message_id);
        let tmp = path.with_extension("eml.tmp");
        let io = |e: std::io::Error| SendError::Connect(format!("{}: {e}", path.display()));
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(true).write(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(&message.formatted()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}
