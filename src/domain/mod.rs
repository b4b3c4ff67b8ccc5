//! The migration's own concepts: members, mailbox states, the password policy,
//! codice fiscale and contact validation. No I/O, no terminal, HTTP or SQL here.

pub mod aruba;
pub mod category;
pub mod codice_fiscale;
pub mod contact;
pub mod diagnosis;
pub mod inipec;
pub mod mailbox;
pub mod member;
pub mod password;
pub mod template;

pub use category::Category;
pub use mailbox::{MailboxState, MigrationState, PasswordState, RecoveryContacts};
pub use member::Member;

/// The Ordine's own PEC domain when the configuration names none.
pub const DEFAULT_PEC_DOMAIN: &str = "pec.fofi.it";

/// How long a recovery link stays valid (procedure "accesso e recupero password").
pub const RECOVERY_LINK_VALIDITY: chrono::TimeDelta = chrono::TimeDelta::hours(24);
