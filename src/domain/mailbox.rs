//! A mailbox's state as the console sees it (DOMAIN.md, "A mailbox's state").

use chrono::{DateTime, Utc};

coded_enum! {
    /// Where the member is in the migration from Aruba.
    pub MigrationState {
        NotStarted => "not_started",
        Completed => "completed",
        /// "credenziali non valide": wrong Aruba address or password.
        FailedCredentials => "failed_credentials",
        /// Aruba two-factor authentication was on.
        FailedTwoFactor => "failed_2fa",
    }
}

coded_enum! {
    /// The password of the new mailbox.
    pub PasswordState {
        NotSet => "not_set",
        Set => "set",
        /// A recovery link was sent and has not expired yet.
        ResetPending => "reset_pending",
        /// The last recovery link is older than 24 hours.
        LinkExpired => "link_expired",
    }
}

impl MigrationState {
    /// The state in the words of the event log (Italian).
    pub fn label_it(self) -> &'static str {
        match self {
            MigrationState::NotStarted => "non avviata",
            MigrationState::Completed => "completata",
            MigrationState::FailedCredentials => "fallita: credenziali non valide",
            MigrationState::FailedTwoFactor => "fallita: doppio fattore attivo",
        }
    }
}

impl PasswordState {
    /// The state in the words of the event log (Italian).
    pub fn label_it(self) -> &'static str {
        match self {
            PasswordState::NotSet => "non impostata",
            PasswordState::Set => "impostata",
            PasswordState::ResetPending => "link di recupero inviato",
            PasswordState::LinkExpired => "link di recupero scaduto",
        }
    }
}

/// Recovery options on file at the provider, as the provider shows them (masked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryContacts {
    pub email_masked: Option<String>,
    pub mobile_masked: Option<String>,
    /// Confirmed by the member at first access.
    pub confirmed: bool,
}

impl RecoveryContacts {
    /// Without any contact the member cannot recover alone and needs the Ordine.
    pub fn is_empty(&self) -> bool {
        self.email_masked.is_none() && self.mobile_masked.is_none()
    }
}

/// Everything known about one mailbox at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxState {
    /// The PEC address, lower case.
    pub address: String,
    pub migration: MigrationState,
    /// When the migration completed or failed.
    pub migration_at: Option<DateTime<Utc>>,
    pub password: PasswordState,
    pub link_sent_at: Option<DateTime<Utc>>,
    pub link_expires_at: Option<DateTime<Utc>>,
    pub recovery: RecoveryContacts,
    pub last_login_at: Option<DateTime<Utc>>,
    /// The Ordine reset the password: the member must change it at the next
    /// login (the contract's `must_change_password`).
    pub must_change_password: bool,
    /// When the provider last changed this mailbox.
    pub updated_at: DateTime<Utc>,
}

impl MailboxState {
    /// The password state as of `now`: a pending link past its expiry counts as expired
    /// even before the next sync says so.
    pub fn password_at(&self, now: DateTime<Utc>) -> PasswordState {
        match (self.password, self.link_expires_at) {
            (PasswordState::ResetPending, Some(expiry)) if expiry <= now => {
                PasswordState::LinkExpired
            }
            (state, _) => state,
        }
    }

    /// Whether the provider can send a recovery e-mail for this mailbox.
    pub fn can_receive_recovery_email(&self) -> bool {
        self.recovery.email_masked.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn codes_round_trip() {
        for s in MigrationState::ALL {
            assert_eq!(MigrationState::from_code(s.code()), Some(*s));
        }
        for s in PasswordState::ALL {
            assert_eq!(PasswordState::from_code(s.code()), Some(*s));
        }
        assert_eq!(MigrationState::from_code("nope"), None);
    }

    #[test]
    fn a_pending_link_expires_after_24_hours() {
        let sent = Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap();
        let mailbox = MailboxState {
            address: "a@pec.fofi.it".into(),
            migration: MigrationState::Completed,
            migration_at: None,
            password: PasswordState::ResetPending,
            link_sent_at: Some(sent),
            link_expires_at: Some(sent + crate::domain::RECOVERY_LINK_VALIDITY),
            recovery: RecoveryContacts::default(),
            last_login_at: None,
            must_change_password: false,
            updated_at: sent,
        };
        let later = |h| sent + chrono::TimeDelta::hours(h);
        assert_eq!(mailbox.password_at(later(23)), PasswordState::ResetPending);
        assert_eq!(mailbox.password_at(later(24)), PasswordState::LinkExpired);
    }
}
