//! `pecdesk who QUERY`: the members a caller may be, found from anything they
//! say (name, mobile in any spelling, e-mail, codice fiscale or part of it,
//! numero iscrizione, PEC), with their states and the diagnosis, for a
//! colleague who answers the phone without opening the console.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::app::search::Search;
use crate::domain::diagnosis::{Facts, Rendered, StaffAction, diagnose};
use crate::domain::{Category, MigrationState, PasswordState};
use crate::i18n::{Lang, T, format_datetime};
use crate::store::{ReminderTrail, RosterEntry, RosterRows, Store};
use crate::tui::labels;

/// At most this many members are shown: the phone needs the likeliest few.
pub const MAX_SHOWN: usize = 5;

/// No member matches the query: exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("nessun iscritto trovato per \"{query}\"")]
pub struct NoMatch {
    pub query: String,
}

/// What `who` reports.
#[derive(Debug, Clone, Serialize)]
pub struct WhoReport {
    pub query: String,
    /// Entries matching, over all; `members` holds the first few.
    pub total: usize,
    pub members: Vec<WhoEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WhoEntry {
    pub cognome: Option<String>,
    pub nome: Option<String>,
    pub codice_fiscale: Option<String>,
    pub numero_iscrizione: Option<String>,
    pub pec: String,
    pub email_servizio: Option<String>,
    pub cellulare: Option<String>,
    pub in_roster: bool,
    /// `migration_state` and `password_state` codes of the contract, as of now.
    pub migration: Option<&'static str>,
    pub password: Option<&'static str>,
    pub link_expires_at: Option<DateTime<Utc>>,
    pub recovery_email_masked: Option<String>,
    pub recovery_mobile_masked: Option<String>,
    pub recovery_confirmed: Option<bool>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// The state codes of `--state` and the exports.
    pub states: Vec<&'static str>,
    pub diagnosis: Rendered,
}

/// Options of one `who`.
#[derive(Debug, Clone)]
pub struct WhoOptions {
    pub pec_domain: String,
    pub cutover: Option<NaiveDate>,
    pub lang: Lang,
    pub now: DateTime<Utc>,
}

/// Finds the entries matching `query`, best first, over the compact rows,
/// and diagnoses the first few, each read in full by `full` with its
/// member's reminders, newest first (the last one weighs in the diagnosis,
/// as in the console's detail).
pub fn who<E>(
    entries: &RosterRows,
    query: &str,
    options: &WhoOptions,
    full: impl Fn(usize) -> Result<(RosterEntry, Vec<ReminderTrail>), E>,
) -> Result<WhoReport, E> {
    let mut hits = Search::new(entries).matches(query.trim());
    let name = |i: u32| {
        let e = entries.row(i as usize);
        e.has_member()
            .then(|| (e.cognome().to_lowercase(), e.nome().to_lowercase()))
    };
    hits.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| name(a.0).cmp(&name(b.0))));
    let total = hits.len();
    let members = hits
        .into_iter()
        .take(MAX_SHOWN)
        .map(|(i, _)| {
            let (entry, trail) = full(i as usize)?;
            Ok(entry_report(&entry, trail.first(), options))
        })
        .collect::<Result<_, E>>()?;
    Ok(WhoReport {
        query: query.trim().to_string(),
        total,
        members,
    })
}

fn entry_report(
    entry: &RosterEntry,
    last_reminder: Option<&ReminderTrail>,
    options: &WhoOptions,
) -> WhoEntry {
    let member = entry.member.as_ref();
    let mailbox = entry.mailbox.as_ref();
    let diagnosis = diagnose(&Facts {
        member,
        in_roster: entry.in_roster,
        mailbox,
        pec_domain: &options.pec_domain,
        cutover: options.cutover,
        last_reminder: last_reminder.map(ReminderTrail::as_last_reminder),
        now: options.now,
    });
    let states = Category::ALL
        .iter()
        .filter(|&&c| {
            crate::domain::category::is_in(
                c,
                member,
                entry.in_roster,
                mailbox,
                &options.pec_domain,
                options.now,
            )
        })
        .map(|c| c.code())
        .collect();
    WhoEntry {
        cognome: member.map(|m| m.cognome.clone()),
        nome: member.map(|m| m.nome.clone()),
        codice_fiscale: member.map(|m| m.codice_fiscale.clone()),
        numero_iscrizione: member.map(|m| m.numero_iscrizione.clone()),
        pec: entry.address().to_string(),
        email_servizio: member.and_then(|m| m.email_servizio.clone()),
        cellulare: member.and_then(|m| m.cellulare.clone()),
        in_roster: entry.in_roster,
        migration: mailbox.map(|b| b.migration.code()),
        password: mailbox.map(|b| b.password_at(options.now).code()),
        link_expires_at: mailbox.and_then(|b| b.link_expires_at),
        recovery_email_masked: mailbox.and_then(|b| b.recovery.email_masked.clone()),
        recovery_mobile_masked: mailbox.and_then(|b| b.recovery.mobile_masked.clone()),
        recovery_confirmed: mailbox.map(|b| b.recovery.confirmed),
        last_login_at: mailbox.and_then(|b| b.last_login_at),
        states,
        diagnosis: diagnosis.render(options.lang),
    }
}

/// Reads the store and reports; `NoMatch` when nothing matches.
pub fn who_in_store(store: &Store, query: &str, options: &WhoOptions) -> anyhow::Result<WhoReport> {
    // The roster compactly, as the console holds it; the few shown in full.
    let entries = store.roster_rows()?;
    let report = who(&entries, query, options, |i| {
        let row = entries.row(i);
        let trail = match row.member_id() {
            Some(id) => store.reminder_trail(id)?,
            None => Vec::new(),
        };
        Ok::<_, crate::store::StoreError>((
            store.roster_entry(row.member_id(), row.address())?,
            trail,
        ))
    })?;
    if report.total == 0 {
        return Err(NoMatch {
            query: report.query,
        }
        .into());
    }
    Ok(report)
}

impl WhoReport {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    /// The report as text, in `lang`; `key_of` names the console's key for a
    /// staff action (from the keymap in force).
    pub fn to_text(&self, lang: Lang, key_of: &dyn Fn(StaffAction) -> Option<String>) -> String {
        let t = |text: T| text.get(lang);
        let mut out = String::new();
        let dash = || "—".to_string();
        for (n, e) in self.members.iter().enumerate() {
            let name = match (&e.cognome, &e.nome) {
                (Some(c), Some(n)) => format!("{c} {n}"),
                _ => t(T::NotInRoster).to_string(),
            };
            let _ = writeln!(out, "{}. {name} <{}>", n + 1, e.pec);
            if let Some(cf) = &e.codice_fiscale {
                let _ = writeln!(
                    out,
                    "   {}: {cf} · {}: {}",
                    t(T::ColCf),
                    t(T::FieldNumero),
                    e.numero_iscrizione.clone().unwrap_or_else(dash)
                );
                let _ = writeln!(
                    out,
                    "   {}: {} · {}: {}",
                    t(T::FieldServiceEmail),
                    e.email_servizio.clone().unwrap_or_else(dash),
                    t(T::FieldMobile),
                    e.cellulare.clone().unwrap_or_else(dash)
                );
            }
            let _ = writeln!(
                out,
                "   {}: {} · {}: {} · {}: {}",
                t(T::Migration),
                e.migration
                    .and_then(MigrationState::from_code)
                    .map_or("—", |m| t(labels::migration(m))),
                t(T::Password),
                e.password
                    .and_then(PasswordState::from_code)
                    .map_or("—", |p| t(labels::password(p))),
                t(T::Recovery),
                [&e.recovery_email_masked, &e.recovery_mobile_masked]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(login) = e.last_login_at {
                let _ = writeln!(
                    out,
                    "   {}: {}",
                    t(T::FieldLastLogin),
                    format_datetime(login)
                );
            }
            let states: Vec<&str> = e
                .states
                .iter()
                .filter_map(|code| Category::from_code(code))
                .map(|c| t(labels::category(c)))
                .collect();
            let _ = writeln!(out, "   [{}]", states.join(", "));
            let d = &e.diagnosis;
            let _ = writeln!(out, "   {}: {}", t(T::DxWhatToDo), d.situation);
            for block in &d.blocks {
                let _ = writeln!(out, "   {}: {block}", t(T::DxWhy));
            }
            if d.must_change_password {
                let _ = writeln!(out, "   ⚠ {}", t(T::DxMustChange));
            }
            for advice in &d.staff {
                let key = advice
                    .action
                    .and_then(StaffAction::from_code)
                    .and_then(key_of)
                    .map(|k| format!("[{k}] "))
                    .unwrap_or_default();
                let mark = if advice.act { "▸" } else { "✗" };
                let _ = writeln!(out, "   {mark} {key}{}", advice.text);
            }
            if !d.steps.is_empty() {
                let _ = writeln!(out, "   {}:", t(T::DxMemberSteps));
                for (i, step) in d.steps.iter().enumerate() {
                    let _ = writeln!(out, "     {}. {step}", i + 1);
                }
            }
            out.push('\n');
        }
        if self.total > self.members.len() {
            let _ = writeln!(
                out,
                "{} {} {}",
                self.total - self.members.len(),
                t(T::DxWhoMore),
                self.total
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TrailReceipt;

    /// The last reminder weighs in `who`'s advice as in the console's detail:
    /// a PEC reminder the member's provider could not deliver is said so.
    #[test]
    fn the_last_reminder_is_in_the_advice() {
        let entries: Vec<RosterEntry> = crate::app::fixtures::entries();
        let caller = entries.iter().position(|e| e.member.is_some()).unwrap();
        let rows = RosterRows::from_entries(entries.clone());
        let cf = entries[caller]
            .member
            .as_ref()
            .unwrap()
            .codice_fiscale
            .clone();
        let now = crate::app::fixtures::now();
        let options = WhoOptions {
            pec_domain: "pec.fofi.it".into(),
            cutover: NaiveDate::from_ymd_opt(2099, 1, 31),
            lang: Lang::It,
            now,
        };
        let bounced = ReminderTrail {
            template: "migrazione".into(),
            channel: "pec".into(),
            state: "sent".into(),
            created_at: now - chrono::TimeDelta::days(3),
            sent_at: Some(now - chrono::TimeDelta::days(3)),
            smtp_reply: None,
            receipts: vec![TrailReceipt {
                kind: "errore-consegna".into(),
                at: Some(now - chrono::TimeDelta::days(3)),
                error: Some("casella piena".into()),
            }],
        };
        let advice = |trail: Vec<ReminderTrail>| {
            let report = who(&rows, &cf, &options, |i| {
                Ok::<_, std::convert::Infallible>((entries[i].clone(), trail.clone()))
            })
            .unwrap();
            assert_eq!(report.total, 1);
            report.members[0].diagnosis.staff.clone()
        };
        let without = advice(vec![]);
        let with = advice(vec![bounced]);
        assert_eq!(with.len(), without.len() + 1);
        let said = serde_json::to_string(&with).unwrap();
        assert!(said.contains("sollecit"), "{said}");
        assert!(said.contains("via PEC"), "{said}");
    }
}
