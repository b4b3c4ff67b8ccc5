//! The one vocabulary of "states" staff filter by, in the console and on the
//! command line: a member or mailbox can be in several at once.

use chrono::{DateTime, Utc};

use super::{MailboxState, Member, MigrationState, PasswordState};

coded_enum! {
    /// A state to filter, count and export by; `code()` is the name used by
    /// `--state` and in JSON output.
    pub Category {
    NotMigrated => "not_migrated",
    Migrated => "migrated",
    FailedCredentials => "failed_credentials",
    Failed2fa => "failed_2fa",
    LinkPending => "link_pending",
    LinkExpired => "link_expired",
    NoRecoveryContact => "no_recovery_contact",
    Removed => "removed",
    ExternalPec => "external_pec",
    NoMailbox => "no_mailbox",
    NoMember => "no_member",
    }
}

/// Whether an entry (a member, a mailbox, or both) is in `category` as of `now`.
pub fn is_in(
    category: Category,
    member: Option<&Member>,
    in_roster: bool,
    mailbox: Option<&MailboxState>,
    pec_domain: &str,
    now: DateTime<Utc>,
) -> bool {
    let migration = mailbox.map(|m| m.migration);
    match category {
        // Not started; the two failures have categories of their own.
        Category::NotMigrated => migration == Some(MigrationState::NotStarted),
        Category::Migrated => migration == Some(MigrationState::Completed),
        Category::FailedCredentials => migration == Some(MigrationState::FailedCredentials),
        Category::Failed2fa => migration == Some(MigrationState::FailedTwoFactor),
        Category::LinkPending => {
            mailbox.is_some_and(|m| m.password_at(now) == PasswordState::ResetPending)
        }
        Category::LinkExpired => {
            mailbox.is_some_and(|m| m.password_at(now) == PasswordState::LinkExpired)
        }
        Category::NoRecoveryContact => mailbox.is_some_and(|m| m.recovery.is_empty()),
        Category::Removed => member.is_some() && !in_roster,
        Category::ExternalPec => member.is_some_and(|m| !m.pec_on_domain(pec_domain)),
        Category::NoMailbox => {
            in_roster && mailbox.is_none() && member.is_some_and(|m| m.pec_on_domain(pec_domain))
        }
        Category::NoMember => member.is_none() && mailbox.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::from_code(c.code()), Some(*c));
        }
    }
}
