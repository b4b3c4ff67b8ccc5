//! Figures for the dashboard, computed from the roster entries.

use chrono::{DateTime, NaiveDate, Utc};

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
    /// Migrations completed per day over the last [`HISTORY_DAYS`], oldest first
    /// (Italian calendar days, today last).
    pub per_day: Vec<u64>,
}

/// Days of migration history the dashboard charts.
pub const HISTORY_DAYS: usize = 30;
/// Days over which the pace is averaged.
pub const PACE_DAYS: usize = 7;

/// Where the migration stands against the cutover date.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    pub days_left: i64,
    /// Migrations per day over the last [`PACE_DAYS`].
    pub pace: f64,
    /// Mailboxes still to migrate.
    pub remaining: usize,
    /// Migrations per day needed from today to finish by the cutover.
    pub needed: f64,
    pub on_track: bool,
}

impl Summary {
    pub fn compute(entries: &[RosterEntry], pec_domain: &str, now: DateTime<Utc>) -> Self {
        let mut s = Summary {
            per_day: vec![0; HISTORY_DAYS],
            ..Summary::default()
        };
        let today = crate::i18n::italian_time(now).date();
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
            if let (MigrationState::Completed, Some(at)) = (mailbox.migration, mailbox.migration_at)
            {
                let day = crate::i18n::italian_time(at).date();
                let age = (today - day).num_days();
                if (0..HISTORY_DAYS as i64).contains(&age) {
                    s.per_day[HISTORY_DAYS - 1 - age as usize] += 1;
                }
            }
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

    /// Days left, pace and whether the pace finishes the job by `cutover`.
    pub fn forecast(&self, cutover: NaiveDate, now: DateTime<Utc>) -> Forecast {
        let today = crate::i18n::italian_time(now).date();
        let days_left = (cutover - today).num_days();
        let pace =
            self.per_day[HISTORY_DAYS - PACE_DAYS..].iter().sum::<u64>() as f64 / PACE_DAYS as f64;
        let remaining = self.mailboxes - self.migrated();
        let needed = if days_left > 0 {
            remaining as f64 / days_left as f64
        } else {
            remaining as f64
        };
        Forecast {
            days_left,
            pace,
            remaining,
            needed,
            on_track: remaining == 0
                || (days_left > 0 && pace * days_left as f64 >= remaining as f64),
        }
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
