//! The dashboard's figures (also those of `pecdesk report` and the summary
//! sheet of the workbook export): counts per state over the roster and its
//! mailboxes, the pace of the migration and the lists staff must chase. Pure
//! counting: the store feeds it rows, or counts it in SQL
//! (`Store::dashboard_counts`).

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::{Category, MailboxState, Member, MigrationState, PasswordState};
use crate::i18n::Lang;

/// Settings that shape what the console, the report and the exports show.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lang: Lang,
    pub pec_domain: String,
    pub ordine: String,
    /// The day of the passage to the new provider.
    pub cutover: Option<NaiveDate>,
}

/// The "to chase" lists of the dashboard, in the order they are shown (and
/// bound to the digits 1-7).
pub const CHASE: [Category; 7] = [
    Category::NotMigrated,
    Category::FailedCredentials,
    Category::Failed2fa,
    Category::LinkExpired,
    Category::NoRecoveryContact,
    Category::NoMailbox,
    Category::NoMember,
];

/// The lists about the Aruba side, after [`CHASE`] (keys 8, 9, 0, -); shown
/// only once Aruba has been synced, and as history after the passage.
pub const CHASE_ARUBA: [Category; 4] = crate::domain::category::ARUBA;

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
    /// The figures over `entries`: per entry its member (if any), whether
    /// the member is in the current roster, and its mailbox (if any).
    pub fn compute<'a>(
        entries: impl IntoIterator<Item = (Option<&'a Member>, bool, Option<&'a MailboxState>)>,
        pec_domain: &str,
        now: DateTime<Utc>,
    ) -> Self {
        let mut s = Summary::empty();
        let today = crate::i18n::italian_time(now).date();
        for (member, in_roster, mailbox) in entries {
            if let Some(member) = member {
                s.add_member(
                    in_roster,
                    member.pec_on_domain(pec_domain),
                    mailbox.is_some(),
                    1,
                );
            }
            let Some(mailbox) = mailbox else {
                continue;
            };
            let migrated_on = match (mailbox.migration, mailbox.migration_at) {
                (MigrationState::Completed, Some(at)) => Some(crate::i18n::italian_time(at).date()),
                _ => None,
            };
            s.add_mailbox(
                member.is_none(),
                mailbox.migration,
                migrated_on,
                mailbox.password_at(now),
                (
                    mailbox.recovery.email_masked.is_some(),
                    mailbox.recovery.mobile_masked.is_some(),
                    mailbox.recovery.confirmed,
                ),
                today,
                1,
            );
        }
        s
    }

    /// No figures yet, with the history's days in place.
    pub fn empty() -> Self {
        Summary {
            per_day: vec![0; HISTORY_DAYS],
            ..Summary::default()
        }
    }

    /// Counts `count` members alike: in the roster or removed, PEC on the
    /// Ordine's domain or not, with a mailbox at the provider or not.
    pub fn add_member(
        &mut self,
        in_roster: bool,
        on_domain: bool,
        has_mailbox: bool,
        count: usize,
    ) {
        if in_roster {
            self.members_in_roster += count;
            if !on_domain {
                self.external_pec += count;
            } else if !has_mailbox {
                self.no_mailbox += count;
            }
        } else {
            self.removed += count;
        }
    }

    /// Counts `count` mailboxes alike. `migrated_on` is the Italian day of a
    /// completed migration; `recovery` is (e-mail on file, mobile on file,
    /// confirmed).
    #[allow(clippy::too_many_arguments)]
    pub fn add_mailbox(
        &mut self,
        no_member: bool,
        migration: MigrationState,
        migrated_on: Option<NaiveDate>,
        password: PasswordState,
        (email, mobile, confirmed): (bool, bool, bool),
        today: NaiveDate,
        count: usize,
    ) {
        if no_member {
            self.no_member += count;
        }
        self.mailboxes += count;
        self.migration[migration_index(migration)] += count;
        if let (MigrationState::Completed, Some(day)) = (migration, migrated_on) {
            let age = (today - day).num_days();
            if (0..HISTORY_DAYS as i64).contains(&age) {
                self.per_day[HISTORY_DAYS - 1 - age as usize] += count as u64;
            }
        }
        self.password[password_index(password)] += count;
        if email {
            self.recovery_email += count;
        } else if mobile {
            self.recovery_mobile_only += count;
        } else {
            self.recovery_none += count;
        }
        if confirmed {
            self.recovery_confirmed += count;
        }
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

/// What the dashboard shows before any member is loaded: its figures, how
/// many entries each state holds, and whether Aruba's side is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardCounts {
    pub summary: Summary,
    /// Entries per state, indexed like `Category::ALL`.
    pub categories: Vec<usize>,
    pub aruba_known: bool,
}

impl DashboardCounts {
    /// How many entries are in `category`.
    pub fn count(&self, category: Category) -> usize {
        Category::ALL
            .iter()
            .position(|&c| c == category)
            .and_then(|i| self.categories.get(i).copied())
            .unwrap_or(0)
    }
}
