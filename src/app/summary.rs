//! Figures for the dashboard, computed from the roster entries.

use chrono::{DateTime, Utc};

use crate::domain::{MigrationState, PasswordState};
use crate::store::RosterEntry;

/// Counts per state over the roster and its mailboxes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub mailboxes: usize,
    /// Indexed like `MigrationState::ALL`.
    pub migration: [usize; 4],
    /// Indexed like `PasswordState::ALL`, as of `now`.
    pub password: [usize; 4],
    pub recovery_email: usize,
    pub recovery_mobile_only: usize,
    pub recovery_none: usize,
    pub recovery_confirmed: usize,
    pub members_in_roster: usize,
    pub external_pec: usize,
    pub no_mailbox: usize,
    pub no_member: usize,
    pub removed: usize,
}

impl Summary {
    pub fn compute(entries: &[RosterEntry], pec_domain: &str, now: DateTime<Utc>) -> Self {
        let mut s = Summary::default();
        for entry in entries {
            if let Some(member) = &entry.member {
                if entry.in_roster {
                    s.members_in_roster += 1;
                    if !member.pec_on_domain(pec_domain) {
                        s.external_pec += 1;
                    } else if entry.mailbox.is_none() {
                        s.no_mailbox += 1;
                    }
                } else {
                    s.removed += 1;
                }
            }
            let Some(mailbox) = &entry.mailbox else {
                continue;
            };
            if entry.member.is_none() {
                s.no_member += 1;
            }
            s.mailboxes += 1;
            s.migration[migration_index(mailbox.migration)] += 1;
            s.password[password_index(mailbox.password_at(now))] += 1;
            let recovery = &mailbox.recovery;
            if recovery.email_masked.is_some() {
                s.recovery_email += 1;
            } else if recovery.mobile_masked.is_some() {
                s.recovery_mobile_only += 1;
            } else {
                s.recovery_none += 1;
            }
            if recovery.confirmed {
                s.recovery_confirmed += 1;
            }
        }
        s
    }

    pub fn migrated(&self) -> usize {
        self.migration[migration_index(MigrationState::Completed)]
    }

    /// Share of `count` over the mailboxes, in percent.
    pub fn percent(&self, count: usize) -> f64 {
        if self.mailboxes == 0 {
            0.0
        } else {
            count as f64 * 100.0 / self.mailboxes as f64
        }
    }
}

pub fn migration_index(state: MigrationState) -> usize {
    MigrationState::ALL
        .iter()
        .position(|s| *s == state)
        .expect("every state is listed")
}

pub fn password_index(state: PasswordState) -> usize {
    PasswordState::ALL
        .iter()
        .position(|s| *s == state)
        .expect("every state is listed")
}
