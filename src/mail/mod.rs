//! Mail: the reminder templates as files (bundled in `assets/templates/`,
//! overridable from the config directory) and the channels' settings
//! (`[mail]`, `[pec]`). The rules of a template (format, placeholders,
//! rendering, checks) are in [`crate::domain::template`].

pub mod templates;

pub use templates::{TemplateSource, TemplatesError, load_template};

pub mod settings;

pub use settings::{Channel, ChannelFile, ChannelSettings, Security, SettingsError};

pub mod send;

pub use send::{Outgoing, SendError, SmtpSender, new_message_id};

/// PEC receipts read from the Ordine's PEC inbox (IMAP) or a local Maildir.
pub mod receipts;

/// The demo's local outbox and simulated PEC providers.
pub mod demo;
