//! `pecdesk report`: the dashboard's figures as text or JSON, and the state
//! vocabulary of the command line (`--state`), shared with the exports.
//!
//! Every figure comes from [`Summary`] and [`category::is_in`], the code the
//! dashboard itself uses: nothing is counted twice in two ways.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::domain::summary::{CHASE, DashboardCounts, PACE_DAYS, Settings};
use crate::domain::{Category, category};
use crate::i18n::{Lang, T, format_date, format_datetime, italian_time};
use crate::store::{RosterEntry, Store, StoreError, SyncRun};

/// What a state means, in Italian and in English, for `--help` and the report.
pub fn describe_state(state: Category) -> (&'static str, &'static str) {
    match state {
        Category::NotMigrated => ("migrazione non avviata", "migration not started"),
        Category::Migrated => ("migrazione completata", "migration completed"),
        Category::FailedCredentials => (
            "migrazione fallita: credenziali non valide",
            "migration failed: wrong credentials",
        ),
        Category::Failed2fa => (
            "migrazione fallita: doppio fattore attivo su Aruba",
            "migration failed: Aruba two-factor on",
        ),
        Category::LinkPending => (
            "link di recupero inviato, ancora valido",
            "recovery link sent, still valid",
        ),
        Category::LinkExpired => ("link di recupero scaduto (24 ore)", "recovery link expired"),
        Category::NoRecoveryContact => (
            "nessun contatto di recupero: serve il reset dall'Ordine",
            "no recovery contact: the Ordine must reset the password",
        ),
        Category::PecUndelivered => (
            "sollecito PEC non consegnato (casella piena o inesistente)",
            "reminder PEC not delivered (mailbox full or gone)",
        ),
        Category::ArubaNoContact => (
            "nessun contatto presso Aruba: bloccato dopo il passaggio",
            "no contact at Aruba: locked out after the cutover",
        ),
        Category::ArubaContactDiffers => (
            "contatto presso Aruba diverso dall'albo",
            "contact at Aruba differs from the roster",
        ),
        Category::ArubaSuspended => (
            "casella sospesa o in disdetta presso Aruba: non può migrare",
            "mailbox suspended or being cancelled at Aruba: cannot migrate",
        ),
        Category::ArubaNoMailbox => (
            "nell'albo, nessuna casella presso Aruba",
            "in the roster, no mailbox at Aruba",
        ),
        Category::Removed => (
            "uscito dall'albo (casella e storico restano)",
            "left the roster (mailbox and history kept)",
        ),
        Category::ExternalPec => (
            "PEC presso un altro gestore, fuori dalla migrazione",
            "PEC at another provider, outside the migration",
        ),
        Category::NoMailbox => (
            "nell'albo, sconosciuto al gestore",
            "in the roster, unknown to the provider",
        ),
        Category::NoMember => (
            "casella senza iscritto nell'albo",
            "a mailbox with no member in the roster",
        ),
    }
}

fn describe_in(state: Category, lang: Lang) -> &'static str {
    let (it, en) = describe_state(state);
    match lang {
        Lang::It => it,
        Lang::En => en,
    }
}

/// `--state` on the command line: one of [`Category::ALL`]'s codes.
pub fn parse_state(code: &str) -> Result<Category, String> {
    Category::from_code(code.trim()).ok_or_else(|| {
        format!(
            "stato sconosciuto \"{code}\"; stati validi: {}",
            Category::ALL
                .iter()
                .map(|c| c.code())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The `--state` option's long help: every state with what it means.
pub fn states_help() -> String {
    let width = Category::ALL
        .iter()
        .map(|c| c.code().len())
        .max()
        .unwrap_or(0);
    let mut help = String::from(
        "Solo le voci in questo stato; più --state valgono come \"uno qualsiasi\". \
         Senza --state: tutte. Gli stessi codici compaiono nel JSON.\n\
         Only entries in this state; several --state mean any of them. \
         The same codes appear in JSON output.\n",
    );
    for &state in Category::ALL {
        let (it, en) = describe_state(state);
        let _ = write!(help, "\n  {:width$}  {it} / {en}", state.code());
    }
    help
}

/// Whether `entry` is in `state` as of `now`: the one definition, the dashboard's.
pub fn entry_is_in(
    entry: &RosterEntry,
    state: Category,
    pec_domain: &str,
    now: DateTime<Utc>,
) -> bool {
    category::is_in_with(
        state,
        entry.member.as_ref(),
        entry.in_roster,
        entry.mailbox.as_ref(),
        &entry.aruba,
        pec_domain,
        now,
    )
}

/// Every state `entry` is in, in [`Category::ALL`] order.
pub fn states_of(entry: &RosterEntry, pec_domain: &str, now: DateTime<Utc>) -> Vec<Category> {
    Category::ALL
        .iter()
        .copied()
        .filter(|&c| entry_is_in(entry, c, pec_domain, now))
        .collect()
}

/// Counts per state, in a fixed order; serialized as `{"code": count, ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StateCounts(pub Vec<(Category, usize)>);

impl StateCounts {
    pub fn get(&self, state: Category) -> usize {
        self.0
            .iter()
            .find(|(c, _)| *c == state)
            .map_or(0, |(_, n)| *n)
    }

    fn only(&self, states: &[Category]) -> Self {
        Self(states.iter().map(|&c| (c, self.get(c))).collect())
    }
}

impl Serialize for StateCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (state, count) in &self.0 {
            map.serialize_entry(state.code(), count)?;
        }
        map.end()
    }
}

/// The migration's pace over the last [`PACE_DAYS`] days, against the cutover.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pace {
    /// Days the pace is averaged over.
    pub days: usize,
    /// Migrations completed per day.
    pub per_day: f64,
    /// Mailboxes still to migrate.
    pub remaining: usize,
    /// Migrations per day needed to finish by the cutover (none without one).
    pub needed_per_day: Option<f64>,
    /// Whether the pace finishes the job by the cutover (none without one).
    pub on_track: Option<bool>,
}

/// The dashboard's figures at one instant (`pecdesk report`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub generated_at: DateTime<Utc>,
    pub ordine: String,
    pub pec_domain: String,
    pub members_in_roster: usize,
    pub mailboxes: usize,
    /// Entries in each state, every code of [`Category::ALL`] (the Aruba
    /// ones are 0 until Aruba's side has been synced).
    pub states: StateCounts,
    /// Mailboxes migrated, and their share of all mailboxes (percent).
    pub migrated: usize,
    pub migrated_percent: f64,
    pub cutover: Option<NaiveDate>,
    /// Negative once the cutover has passed.
    pub days_to_cutover: Option<i64>,
    pub pace: Pace,
    /// The dashboard's "to chase" lists ([`CHASE`]), in its order.
    pub to_chase: StateCounts,
    pub last_sync: Option<SyncRun>,
}

/// The dashboard's lists: [`CHASE`], then the Aruba lists while Aruba's side
/// is known and the passage has not happened (after it, Aruba is history).
fn to_chase(aruba_known: bool, cutover: Option<NaiveDate>, now: DateTime<Utc>) -> Vec<Category> {
    let mut lists = CHASE.to_vec();
    let passed = cutover.is_some_and(|day| italian_time(now).date() >= day);
    if aruba_known && !passed {
        lists.extend(crate::domain::category::ARUBA);
    }
    lists
}

impl Report {
    /// The figures for `entries` as of `now`; `undelivered` is how many
    /// members' last PEC reminder came back undelivered (known from the
    /// receipts, not from the entries).
    pub fn compute(
        entries: &[RosterEntry],
        undelivered: usize,
        settings: &Settings,
        last_sync: Option<&SyncRun>,
        now: DateTime<Utc>,
    ) -> Self {
        let counts = DashboardCounts {
            summary: crate::store::summarize(entries, &settings.pec_domain, now),
            categories: Category::ALL
                .iter()
                .map(|&c| {
                    entries
                        .iter()
                        .filter(|e| entry_is_in(e, c, &settings.pec_domain, now))
                        .count()
                })
                .collect(),
            // The Aruba lists are to chase once Aruba's side has been synced.
            aruba_known: entries
                .first()
                .is_some_and(|e| !matches!(e.aruba, crate::domain::aruba::ArubaSide::Unknown)),
        };
        Self::from_counts(&counts, undelivered, settings, last_sync, now)
    }

    /// The figures from the dashboard's counts, and the count of members
    /// whose last PEC reminder came back undelivered.
    pub fn from_counts(
        counts: &DashboardCounts,
        undelivered: usize,
        settings: &Settings,
        last_sync: Option<&SyncRun>,
        now: DateTime<Utc>,
    ) -> Self {
        let summary = &counts.summary;
        // The one list known from PEC receipts is counted by the caller.
        let states = StateCounts(
            Category::ALL
                .iter()
                .map(|&c| match c {
                    Category::PecUndelivered => (c, undelivered),
                    _ => (c, counts.count(c)),
                })
                .collect(),
        );
        // Without a cutover the forecast is taken against today, for its pace
        // and remaining count only.
        let today = italian_time(now).date();
        let forecast = summary.forecast(settings.cutover.unwrap_or(today), now);
        let with_cutover = settings.cutover.map(|_| forecast);
        Report {
            generated_at: now,
            ordine: settings.ordine.clone(),
            pec_domain: settings.pec_domain.clone(),
            members_in_roster: summary.members_in_roster,
            mailboxes: summary.mailboxes,
            to_chase: states.only(&to_chase(counts.aruba_known, settings.cutover, now)),
            states,
            migrated: summary.migrated(),
            migrated_percent: summary.percent(summary.migrated()),
            cutover: settings.cutover,
            days_to_cutover: with_cutover.map(|f| f.days_left),
            pace: Pace {
                days: PACE_DAYS,
                per_day: forecast.pace,
                remaining: forecast.remaining,
                needed_per_day: with_cutover.map(|f| f.needed),
                on_track: with_cutover.map(|f| f.on_track),
            },
            last_sync: last_sync.cloned(),
        }
    }

    /// The figures for what `store` holds, counted by the store itself
    /// (no member is loaded: `pecdesk report` stays quick at any size).
    pub fn from_store(
        store: &Store,
        settings: &Settings,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let counts = store.dashboard_counts(&settings.pec_domain, now)?;
        let last_sync = store.last_sync()?;
        let undelivered = store.undelivered_reminders()?.len();
        Ok(Self::from_counts(
            &counts,
            undelivered,
            settings,
            last_sync.as_ref(),
            now,
        ))
    }

    /// Pretty-printed JSON, state codes as keys.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The report as staff read it, in `lang`.
    pub fn to_text(&self, lang: Lang) -> String {
        let t = |text: T| text.get(lang);
        let (totals, ok, failed, changes) = match lang {
            Lang::It => (
                "Totali per stato",
                "riuscita",
                "non riuscita",
                "cambiamenti",
            ),
            Lang::En => ("Totals per state", "succeeded", "failed", "changes"),
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} · {}",
            self.ordine,
            format_datetime(self.generated_at)
        );
        let _ = writeln!(
            out,
            "{}: {} {} {} {} ({}%)",
            t(T::MigratedGauge),
            self.migrated,
            t(T::Of),
            self.mailboxes,
            t(T::Mailboxes),
            decimal(self.migrated_percent, lang)
        );
        let _ = writeln!(
            out,
            "{}: {} · {}: {}",
            t(T::RosterMembers),
            self.members_in_roster,
            t(T::Mailboxes),
            self.mailboxes
        );
        let pace = format!(
            "{}: {} {}",
            t(T::Pace),
            decimal(self.pace.per_day, lang),
            t(T::PerDay)
        );
        match (self.cutover, self.days_to_cutover) {
            (Some(cutover), Some(days)) => {
                let when = if days >= 0 {
                    format!("{days} {}", t(T::DaysLeft))
                } else {
                    t(T::CutoverPast).to_string()
                };
                let _ = writeln!(out, "{}: {} · {when}", t(T::Cutover), format_date(cutover));
                let needed = self.pace.needed_per_day.unwrap_or_default();
                let _ = writeln!(out, "{pace} · {} {}", t(T::Needed), decimal(needed, lang));
                let verdict = if self.pace.on_track == Some(true) {
                    T::OnTrack
                } else {
                    T::OffTrack
                };
                let _ = writeln!(out, "{}", t(verdict));
            }
            _ => {
                let _ = writeln!(out, "{}: {}", t(T::Cutover), t(T::CutoverNotSet));
                let _ = writeln!(out, "{pace}");
            }
        }
        let mut section = |title: &str, counts: &StateCounts| {
            let _ = writeln!(out, "\n{title}:");
            for &(state, count) in &counts.0 {
                let _ = writeln!(
                    out,
                    "  {:<20} {count:>7}  {}",
                    state.code(),
                    describe_in(state, lang)
                );
            }
        };
        section(t(T::ToChase), &self.to_chase);
        section(totals, &self.states);
        out.push('\n');
        match &self.last_sync {
            None => {
                let _ = writeln!(out, "{}: {}", t(T::LastSync), t(T::NeverSynced));
            }
            Some(sync) => {
                let _ = write!(
                    out,
                    "{}: {}, {} ({} {}, {} {changes})",
                    t(T::LastSync),
                    format_datetime(sync.finished_at),
                    if sync.ok { ok } else { failed },
                    sync.mailboxes,
                    t(T::Mailboxes),
                    sync.changes
                );
                if let Some(error) = &sync.error {
                    let _ = write!(out, ": {error}");
                }
                out.push('\n');
            }
        }
        out
    }
}

/// One decimal, with the decimal comma in Italian.
fn decimal(value: f64, lang: Lang) -> String {
    let text = format!("{value:.1}");
    match lang {
        Lang::It => text.replace('.', ","),
        Lang::En => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_parses_and_is_in_the_help() {
        let help = states_help();
        for &state in Category::ALL {
            assert_eq!(parse_state(state.code()), Ok(state));
            assert!(help.contains(state.code()), "{help}");
            assert!(help.contains(describe_state(state).0), "{help}");
        }
        let err = parse_state("migrati").unwrap_err();
        assert!(
            err.contains("migrati") && err.contains("not_migrated"),
            "{err}"
        );
    }

    #[test]
    fn decimals_follow_the_language() {
        assert_eq!(decimal(54.125, Lang::It), "54,1");
        assert_eq!(decimal(54.125, Lang::En), "54.1");
    }
}
