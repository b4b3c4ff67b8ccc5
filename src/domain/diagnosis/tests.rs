//! The diagnosis over every combination of states, on both sides of the
//! passage, and for the entries that are not plain members.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{NaiveDate, TimeZone, Utc};

use super::*;
use crate::domain::RecoveryContacts;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 10, 10, 0, 0).unwrap()
}

const BEFORE: NaiveDate = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
const AFTER: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();

fn member(pec: &str) -> Member {
    Member {
        numero_iscrizione: "1234".into(),
        cognome: "Rossi".into(),
        nome: "Marisa".into(),
        codice_fiscale: "RSSMRS80A41H501X".into(),
        data_nascita: None,
        data_iscrizione: None,
        pec: pec.into(),
        email_servizio: Some("marisa@inwind.it".into()),
        cellulare: Some("+393471234567".into()),
        provincia: Some("RM".into()),
        data_cancellazione: None,
    }
}

#[derive(Debug, Clone, Copy)]
enum Contacts {
    None,
    Email,
    MobileOnly,
    Both,
}

const CONTACTS: [Contacts; 4] = [
    Contacts::None,
    Contacts::Email,
    Contacts::MobileOnly,
    Contacts::Both,
];

fn mailbox(
    migration: MigrationState,
    password: PasswordState,
    contacts: Contacts,
    confirmed: bool,
    must_change: bool,
) -> MailboxState {
    let (email, mobile) = match contacts {
        Contacts::None => (None, None),
        Contacts::Email => (Some("*****sa@i*****.it"), None),
        Contacts::MobileOnly => (None, Some("+39*******567")),
        Contacts::Both => (Some("*****sa@i*****.it"), Some("+39*******567")),
    };
    let at = |h: i64| now() + chrono::TimeDelta::hours(h);
    let (sent, expires) = match password {
        PasswordState::ResetPending => (Some(at(-2)), Some(at(22))),
        PasswordState::LinkExpired => (Some(at(-30)), Some(at(-6))),
        _ => (None, None),
    };
    MailboxState {
        address: "marisa.rossi@pec.fofi.it".into(),
        migration,
        migration_at: (migration != MigrationState::NotStarted).then(|| at(-240)),
        password,
        link_sent_at: sent,
        link_expires_at: expires,
        recovery: RecoveryContacts {
            email_masked: email.map(Into::into),
            mobile_masked: mobile.map(Into::into),
            confirmed,
        },
        last_login_at: None,
        must_change_password: must_change,
        updated_at: at(-1),
    }
}

fn facts<'a>(
    member: Option<&'a Member>,
    in_roster: bool,
    mailbox: Option<&'a MailboxState>,
    cutover: NaiveDate,
) -> Facts<'a> {
    Facts {
        member,
        in_roster,
        mailbox,
        pec_domain: "pec.fofi.it",
        cutover: Some(cutover),
        now: now(),
    }
}

/// Every combination: (label, diagnosis).
fn table() -> Vec<(String, Diagnosis)> {
    let plain = member("marisa.rossi@pec.fofi.it");
    let external = member("marisa.rossi@legalmail.it");
    let mut rows = Vec::new();
    for (side, cutover) in [("prima", BEFORE), ("dopo", AFTER)] {
        for &migration in MigrationState::ALL {
            for &password in PasswordState::ALL {
                for contacts in CONTACTS {
                    for confirmed in [false, true] {
                        for must_change in [false, true] {
                            let b = mailbox(migration, password, contacts, confirmed, must_change);
                            let label = format!(
                                "{side} {} {} {contacts:?} confermati={confirmed} cambio={must_change}",
                                migration.code(),
                                password.code()
                            );
                            rows.push((
                                label,
                                diagnose(&facts(Some(&plain), true, Some(&b), cutover)),
                            ));
                        }
                    }
                }
            }
        }
        let b = mailbox(
            MigrationState::Completed,
            PasswordState::Set,
            Contacts::Email,
            true,
            false,
        );
        let special = [
            (
                "casella senza iscritto",
                diagnose(&facts(None, false, Some(&b), cutover)),
            ),
            (
                "iscritto senza casella",
                diagnose(&facts(Some(&plain), true, None, cutover)),
            ),
            (
                "uscito dall'albo con casella",
                diagnose(&facts(Some(&plain), false, Some(&b), cutover)),
            ),
            (
                "uscito dall'albo senza casella",
                diagnose(&facts(Some(&plain), false, None, cutover)),
            ),
            (
                "PEC presso altro gestore",
                diagnose(&facts(Some(&external), true, None, cutover)),
            ),
        ];
        for (label, d) in special {
            rows.push((format!("{side} {label}"), d));
        }
    }
    rows
}

fn rendered_text(r: &Rendered) -> String {
    let mut out = String::new();
    writeln!(out, "caso: {}", r.case).unwrap();
    writeln!(out, "situazione: {}", r.situation).unwrap();
    for b in &r.blocks {
        writeln!(out, "perché: {b}").unwrap();
    }
    for (i, s) in r.steps.iter().enumerate() {
        writeln!(out, "{}. {s}", i + 1).unwrap();
    }
    for a in &r.staff {
        let action = a.action.unwrap_or("-");
        let verb = if a.act { "può" } else { "NON" };
        writeln!(out, "staff [{action}] {verb}: {}", a.text).unwrap();
    }
    out
}

/// Each distinct text once, with every combination that gives it.
fn snapshot_of(lang: Lang) -> String {
    let mut distinct: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (label, d) in table() {
        let r = d.render(lang);
        let flag = if r.must_change_password {
            " (cambio password)"
        } else {
            ""
        };
        distinct
            .entry(rendered_text(&r))
            .or_default()
            .push(format!("{label}{flag}"));
    }
    let mut out = String::new();
    for (text, labels) in distinct {
        writeln!(
            out,
            "=== {} combinazioni, per esempio: {}",
            labels.len(),
            labels[0]
        )
        .unwrap();
        out.push_str(&text);
        out.push('\n');
    }
    out
}

#[test]
fn every_combination_has_a_complete_diagnosis() {
    let rows = table();
    assert_eq!(rows.len(), 2 * (4 * 4 * 4 * 2 * 2 + 5));
    for (label, d) in &rows {
        for lang in [Lang::It, Lang::En] {
            let r = d.render(lang);
            assert!(!r.situation.is_empty(), "{label}");
            assert!(!r.steps.is_empty(), "{label}: no step for the member");
            assert!(!r.staff.is_empty(), "{label}: nothing said to the staff");
            let all = rendered_text(&r);
            assert!(!all.contains('{'), "{label}: unfilled placeholder in {all}");
        }
        let before = label.starts_with("prima");
        // The procedures: no password changes before the passage.
        if before && d.member_involved() {
            assert!(
                d.staff
                    .iter()
                    .all(|a| a.action != Some(StaffAction::ResetPassword) || !a.act),
                "{label}: a reset advised before the passage"
            );
            assert!(
                d.staff
                    .iter()
                    .any(|a| a.action == Some(StaffAction::ResetPassword) && !a.act),
                "{label}"
            );
        }
        // A recovery link can only go to an e-mail on file.
        let steps = d.render(Lang::It).steps.join("\n");
        if steps.contains("Non riesco ad accedere\u{bb} e") || steps.contains("Scelga di ricevere")
        {
            assert!(
                d.service_address_masked.is_some(),
                "{label}: recovery without an e-mail"
            );
            assert!(
                steps.contains("*****sa@i*****.it"),
                "{label}: masked address missing"
            );
        }
    }
}

#[test]
fn the_cases_follow_the_procedures() {
    let plain = member("marisa.rossi@pec.fofi.it");
    let case =
        |b: &MailboxState, cutover| diagnose(&facts(Some(&plain), true, Some(b), cutover)).case;
    let b = |m, p, c| mailbox(m, p, c, false, false);
    use MigrationState as M;
    use PasswordState as P;
    assert_eq!(
        case(&b(M::NotStarted, P::NotSet, Contacts::Email), BEFORE),
        Case::BeforeNotMigrated
    );
    assert_eq!(
        case(&b(M::FailedTwoFactor, P::NotSet, Contacts::Email), BEFORE),
        Case::BeforeFailed2fa
    );
    assert_eq!(
        case(&b(M::FailedCredentials, P::NotSet, Contacts::None), BEFORE),
        Case::BeforeFailedCredentials
    );
    assert_eq!(
        case(&b(M::Completed, P::Set, Contacts::Email), BEFORE),
        Case::BeforeMigrated
    );
    assert_eq!(
        case(&b(M::Completed, P::Set, Contacts::Email), AFTER),
        Case::AfterLogin
    );
    assert_eq!(
        case(&b(M::NotStarted, P::NotSet, Contacts::Email), AFTER),
        Case::AfterFirstPassword
    );
    assert_eq!(
        case(&b(M::NotStarted, P::NotSet, Contacts::MobileOnly), AFTER),
        Case::AfterNeedsOrdineReset
    );
    assert_eq!(
        case(&b(M::Completed, P::LinkExpired, Contacts::Email), AFTER),
        Case::AfterLinkExpired
    );
    assert_eq!(
        case(&b(M::Completed, P::ResetPending, Contacts::Both), AFTER),
        Case::AfterLinkPending
    );
    assert_eq!(
        case(
            &mailbox(M::Completed, P::Set, Contacts::None, true, true),
            AFTER
        ),
        Case::AfterTemporaryPassword
    );
    // The 24 hours run on the clock, not only at sync.
    let mut stale = b(M::Completed, P::ResetPending, Contacts::Email);
    stale.link_expires_at = Some(now() - chrono::TimeDelta::minutes(1));
    assert_eq!(case(&stale, AFTER), Case::AfterLinkExpired);
    // The day of the passage counts as after it.
    let today = crate::i18n::italian_time(now()).date();
    assert_eq!(
        case(&b(M::Completed, P::Set, Contacts::Email), today),
        Case::AfterLogin
    );
    let d = diagnose(&facts(
        Some(&plain),
        true,
        Some(&b(M::NotStarted, P::NotSet, Contacts::Email)),
        BEFORE,
    ));
    assert_eq!(
        d.render(Lang::It).situation,
        "non ha ancora migrato; mancano 21 giorni al passaggio (01/12/2026)"
    );
}

#[test]
fn the_call_script_reads_the_steps_aloud() {
    let plain = member("marisa.rossi@pec.fofi.it");
    let b = mailbox(
        MigrationState::Completed,
        PasswordState::LinkExpired,
        Contacts::Email,
        false,
        false,
    );
    let d = diagnose(&facts(Some(&plain), true, Some(&b), AFTER));
    insta::assert_snapshot!(
        "call_script_it",
        d.call_script(Lang::It, Some("Marisa Rossi"))
    );
    insta::assert_snapshot!("call_script_en", d.call_script(Lang::En, None));
}

#[test]
fn texts_it() {
    insta::assert_snapshot!("diagnosis_it", snapshot_of(Lang::It));
}

#[test]
fn texts_en() {
    insta::assert_snapshot!("diagnosis_en", snapshot_of(Lang::En));
}
