//! The one vocabulary of "states" staff filter by, in the console and on the
//! command line: a member or mailbox can be in several at once.

use chrono::{DateTime, Utc};

use super::aruba::{self, ArubaSide};
use super::{MailboxState, Member, MigrationState, PasswordState};

/// The lists about the old provider's side (Aruba), before the passage.
pub const ARUBA: [Category; 4] = [
    Category::ArubaNoContact,
    Category::ArubaContactDiffers,
    Category::ArubaSuspended,
    Category::ArubaNoMailbox,
];

impl Category {
    /// Whether this list is about the Aruba side.
    pub fn is_aruba(self) -> bool {
        ARUBA.contains(&self)
    }
}

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
    // Kept before the Aruba lists: those stay last in `ALL`.
    PecUndelivered => "pec_undelivered",
    ArubaNoContact => "aruba_no_contact",
    ArubaContactDiffers => "aruba_contact_differs",
    ArubaSuspended => "aruba_suspended",
    ArubaNoMailbox => "aruba_no_mailbox",
    }
}

/// The lists known from the reminders sent and their PEC receipts, which an
/// entry does not carry: [`is_in`] says no to them, and whoever holds the
/// receipts (the console's outreach, `pecdesk receipts`) fills them in.
pub const FROM_RECEIPTS: [Category; 1] = [Category::PecUndelivered];

/// Whether an entry (a member, a mailbox, or both) is in `category` as of
/// `now`, knowing nothing of Aruba (the Aruba lists are then empty).
pub fn is_in(
    category: Category,
    member: Option<&Member>,
    in_roster: bool,
    mailbox: Option<&MailboxState>,
    pec_domain: &str,
    now: DateTime<Utc>,
) -> bool {
    is_in_with(
        category,
        member,
        in_roster,
        mailbox,
        &ArubaSide::Unknown,
        pec_domain,
        now,
    )
}

/// [`is_in`], with what Aruba says of the entry's mailbox. The Aruba lists
/// hold members in the roster only: they are whom the Ordine can act for.
pub fn is_in_with(
    category: Category,
    member: Option<&Member>,
    in_roster: bool,
    mailbox: Option<&MailboxState>,
    aruba_side: &ArubaSide,
    pec_domain: &str,
    now: DateTime<Utc>,
) -> bool {
    let current = member.filter(|_| in_roster);
    let at_aruba = aruba_side.mailbox();
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
        // The last PEC reminder answered by a non-delivery ("mancata
        // consegna", "errore di consegna"): see FROM_RECEIPTS.
        Category::PecUndelivered => false,
        Category::ArubaNoContact => {
            current.is_some() && at_aruba.is_some_and(aruba::has_no_contact)
        }
        Category::ArubaContactDiffers => {
            matches!((current, at_aruba), (Some(m), Some(a)) if aruba::contact_differs(m, a))
        }
        Category::ArubaSuspended => {
            current.is_some() && at_aruba.is_some_and(|a| a.status.blocks_migration())
        }
        Category::ArubaNoMailbox => {
            matches!(aruba_side, ArubaSide::Missing)
                && current.is_some_and(|m| m.pec_on_domain(pec_domain))
        }
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
