//! Mailbox states from a provider's report file (`pecdesk sync --report`):
//! header and value families, dates, contacts, rejects, complete and partial
//! reports, older reports, the refusal of a report that removes everything,
//! and the same events as a sync through the API.

mod import_support;
mod provider_support;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use import_support::{Workspace, stderr, stdout};
use pecdesk::domain::{MailboxState, MigrationState, PasswordState};
use pecdesk::import::{self, ParsedReport, ReportOptions};
use pecdesk::provider::client::new_idempotency_key;
use pecdesk::store::{EventKind, Store, StoreError, SyncOutcome};
use pecdesk::sync::{self, ReportSync, SyncError};
use provider_support::*;

fn options(as_of: DateTime<Utc>) -> ReportOptions {
    ReportOptions {
        domain: Some(DOMAIN.to_string()),
        as_of: Some(as_of),
        sheet: None,
    }
}

fn day(d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, d, 12, 0, 0).unwrap()
}

fn read(text: &str, as_of: DateTime<Utc>) -> ParsedReport {
    import::read_report_bytes(text.as_bytes(), "report.csv", &options(as_of)).unwrap()
}

fn store_parsed(
    store: &mut Store,
    parsed: &ParsedReport,
    partial: bool,
) -> Result<SyncOutcome, SyncError> {
    sync::store_report(
        store,
        ReportSync {
            report: parsed,
            file: "report.csv",
            partial,
            domain: Some(DOMAIN),
            dry_run: false,
        },
        "prova",
    )
}

fn state<'a>(states: &'a [MailboxState], address: &str) -> &'a MailboxState {
    states.iter().find(|s| s.address == address).unwrap()
}

#[test]
fn every_header_family_is_recognised() {
    let headers = [
        "Casella;Stato migrazione",
        "Indirizzo PEC;Migrazione",
        "ACCOUNT;ESITO_MIGRAZIONE",
        "UserID,Migration status",
        "Nome casella\tEsito migrazione",
        "e-mail address;migration.state",
        " casella pec ;Stato  Migrazione ",
    ];
    for header in headers {
        let delimiter = if header.contains(',') {
            ","
        } else if header.contains('\t') {
            "\t"
        } else {
            ";"
        };
        let text = format!("{header}\r\nmario.rossi@pec.fofi.it{delimiter}Migrata\r\n");
        let parsed = read(&text, day(5));
        assert!(parsed.rejects.is_empty(), "{header}: {:?}", parsed.rejects);
        assert_eq!(parsed.states.len(), 1, "{header}");
        assert_eq!(
            parsed.states[0].migration,
            MigrationState::Completed,
            "{header}"
        );
    }
    // Optional columns in English.
    let text = "Mailbox,Migration,Migration date,Password status,Last login,Recovery email,Recovery mobile,Recovery confirmed,Report date\n\
                anna.bruno@pec.fofi.it,completed,2026-03-01,set,2026-03-02T09:15:00Z,anna@example.it,3471234567,yes,2026-03-04\n";
    let parsed = read(text, day(5));
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    let anna = &parsed.states[0];
    assert_eq!(anna.password, PasswordState::Set);
    assert_eq!(
        anna.last_login_at,
        Some(Utc.with_ymd_and_hms(2026, 3, 2, 9, 15, 0).unwrap())
    );
    assert!(anna.recovery.confirmed);
    assert!(parsed.as_of_from_file);
    // 4 March 2026, midnight in Rome (UTC+1).
    assert_eq!(
        parsed.as_of,
        Some(Utc.with_ymd_and_hms(2026, 3, 3, 23, 0, 0).unwrap())
    );
    // Without the two required columns the file is refused.
    let error = import::read_report_bytes(
        b"Casella;Note\nx@pec.fofi.it;a\n",
        "r.csv",
        &options(day(5)),
    )
    .unwrap_err();
    assert!(error.to_string().contains("stato migrazione"), "{error}");
}

#[test]
fn every_value_family_maps_and_names_without_domain_get_it() {
    let rows = [
        ("Migrata", MigrationState::Completed),
        ("Completata", MigrationState::Completed),
        ("OK", MigrationState::Completed),
        ("Sì", MigrationState::Completed),
        ("Non avviata", MigrationState::NotStarted),
        ("Da migrare", MigrationState::NotStarted),
        ("No", MigrationState::NotStarted),
        ("Credenziali non valide", MigrationState::FailedCredentials),
        ("Errore credenziali", MigrationState::FailedCredentials),
        (
            "Verifica in due passaggi attiva",
            MigrationState::FailedTwoFactor,
        ),
        ("2FA", MigrationState::FailedTwoFactor),
        ("Doppio fattore", MigrationState::FailedTwoFactor),
    ];
    let mut text = String::from("Nome casella;Esito migrazione;Stato password\r\n");
    for (i, (value, _)) in rows.iter().enumerate() {
        text.push_str(&format!("socio{i};{value};\r\n"));
    }
    // Windows-1252, as Excel saves it: "Sì" is one byte 0xEC.
    let bytes = encoding_rs::WINDOWS_1252.encode(&text).0.into_owned();
    let parsed = import::read_report_bytes(&bytes, "report.csv", &options(day(5))).unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    for (i, (value, expected)) in rows.iter().enumerate() {
        let s = state(&parsed.states, &format!("socio{i}@pec.fofi.it"));
        assert_eq!(s.migration, *expected, "{value}");
        // An empty password cell: set once migrated, not set otherwise.
        let password = if *expected == MigrationState::Completed {
            PasswordState::Set
        } else {
            PasswordState::NotSet
        };
        assert_eq!(s.password, password, "{value}");
        assert_eq!(s.updated_at, day(5), "the --as-of date");
    }
    let passwords = [
        ("Impostata", PasswordState::Set),
        ("Non impostata", PasswordState::NotSet),
        ("Link di recupero inviato", PasswordState::ResetPending),
        ("Link scaduto", PasswordState::LinkExpired),
    ];
    let mut text = String::from("Casella;Stato migrazione;Stato password;Link inviato il\n");
    for (i, (value, _)) in passwords.iter().enumerate() {
        text.push_str(&format!(
            "p{i}@pec.fofi.it;Completata;{value};04/03/2026 10:30\n"
        ));
    }
    let parsed = read(&text, day(5));
    for (i, (value, expected)) in passwords.iter().enumerate() {
        let s = state(&parsed.states, &format!("p{i}@pec.fofi.it"));
        assert_eq!(s.password, *expected, "{value}");
        let sent = Utc.with_ymd_and_hms(2026, 3, 4, 9, 30, 0).unwrap();
        assert_eq!(s.link_sent_at, Some(sent));
        assert_eq!(s.link_expires_at, Some(sent + TimeDelta::hours(24)));
    }
}

#[test]
fn excel_serial_dates_and_italian_dates() {
    let text = "Casella;Stato migrazione;Data migrazione;Ultimo accesso\n\
                a@pec.fofi.it;Migrata;46086;46086,75\n\
                b@pec.fofi.it;Migrata;05/03/2026;05/03/2026 18:00\n\
                c@pec.fofi.it;Migrata;2026-03-05;2026-03-05 18:00\n";
    let parsed = read(text, day(6));
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    let midnight = Utc.with_ymd_and_hms(2026, 3, 4, 23, 0, 0).unwrap();
    let evening = Utc.with_ymd_and_hms(2026, 3, 5, 17, 0, 0).unwrap();
    for address in ["a@pec.fofi.it", "b@pec.fofi.it", "c@pec.fofi.it"] {
        let s = state(&parsed.states, address);
        assert_eq!(s.migration_at, Some(midnight), "{address}");
        assert_eq!(s.last_login_at, Some(evening), "{address}");
    }
}

#[test]
fn masked_contacts_stay_and_full_contacts_are_masked() {
    let text = "Casella;Stato migrazione;E-mail di recupero;Cellulare di recupero;Contatti confermati\n\
                a@pec.fofi.it;Migrata;*****sa@i*****.it;+39*******567;Sì\n\
                b@pec.fofi.it;Migrata;Marisa@Inwind.it;347 1234567;no\n\
                c@pec.fofi.it;Non avviata;;;\n";
    let parsed = read(text, day(5));
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects);
    let a = state(&parsed.states, "a@pec.fofi.it");
    assert_eq!(
        a.recovery.email_masked.as_deref(),
        Some("*****sa@i*****.it")
    );
    assert_eq!(a.recovery.mobile_masked.as_deref(), Some("+39*******567"));
    assert!(a.recovery.confirmed);
    // A full contact is stored only as the provider would show it.
    let b = state(&parsed.states, "b@pec.fofi.it");
    assert_eq!(
        b.recovery.email_masked.as_deref(),
        Some("*****sa@i*****.it")
    );
    assert_eq!(b.recovery.mobile_masked.as_deref(), Some("+39*******567"));
    assert!(!b.recovery.confirmed);
    let c = state(&parsed.states, "c@pec.fofi.it");
    assert!(c.recovery.is_empty());
}

#[test]
fn unmappable_values_are_rejected_with_line_column_and_value() {
    let ws = Workspace::new();
    let text = "Casella;Stato migrazione;Ultimo accesso;Confermati\r\n\
                a@pec.fofi.it;Migrata;;Sì\r\n\
                \r\n\
                b@pec.fofi.it;In corso forse;;\r\n\
                c@pec.fofi.it;Migrata;ieri;\r\n\
                non-un-indirizzo@;Migrata;;\r\n\
                d@pec.fofi.it;Migrata;;boh\r\n\
                a@pec.fofi.it;Migrata;;\r\n";
    let parsed = read(text, day(5));
    assert_eq!(parsed.states.len(), 1);
    let shown: Vec<String> = parsed.rejects.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "riga 4, colonna \"Stato migrazione\", valore \"In corso forse\": stato di migrazione non riconosciuto",
            "riga 5, colonna \"Ultimo accesso\", valore \"ieri\": data non riconosciuta",
            "riga 6, colonna \"Casella\", valore \"non-un-indirizzo@\": non è un indirizzo PEC",
            "riga 7, colonna \"Confermati\", valore \"boh\": né sì né no",
            "riga 8: casella a@pec.fofi.it già presente alla riga 2",
        ]
    );

    // Through the command: rejects on stderr and in the rejects file.
    ws.write("report.csv", text);
    let output = ws
        .pecdesk(&[
            "sync",
            "--report",
            "report.csv",
            "--as-of",
            "05/03/2026",
            "--rejects",
            "scarti.csv",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("report.csv, riga 4, colonna \"Stato migrazione\", valore \"In corso forse\""),
        "{err}"
    );
    let out = stdout(&output);
    assert!(
        out.contains("Report report.csv: stati al 05/03/2026 00:00 (da --as-of)"),
        "{out}"
    );
    assert!(out.contains("5 righe scartate"), "{out}");
    let rejects = std::fs::read_to_string(ws.path("scarti.csv")).unwrap();
    let rejects = rejects.trim_start_matches('\u{feff}');
    assert!(
        rejects.starts_with(
            "Casella;Stato migrazione;Ultimo accesso;Confermati;Motivo dello scarto\r\n"
        ),
        "{rejects}"
    );
    assert!(
        rejects.contains("b@pec.fofi.it;In corso forse;;;\"Stato migrazione \"\"In corso forse\"\": stato di migrazione non riconosciuto\"\r\n"),
        "{rejects}"
    );
    let store = Store::open(&ws.db()).unwrap();
    assert_eq!(store.mailbox_count().unwrap(), 1);

    // A file with no valid row stores nothing and fails.
    ws.write(
        "vuoto.csv",
        "Casella;Stato migrazione\nb@pec.fofi.it;forse\n",
    );
    let output = ws
        .pecdesk(&["sync", "--report", "vuoto.csv", "--partial"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("nessuna riga valida"),
        "{}",
        stderr(&output)
    );
    assert_eq!(store.mailbox_count().unwrap(), 1);
}

const FIRST: &str = "Casella;Stato migrazione\n\
                     a@pec.fofi.it;Non avviata\n\
                     b@pec.fofi.it;Non avviata\n\
                     c@pec.fofi.it;Non avviata\n\
                     altro@altro.it;Non avviata\n";

#[test]
fn complete_and_partial_reports() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    let first = store_parsed(&mut store, &read(FIRST, day(1)), false).unwrap();
    assert_eq!((first.new_mailboxes, first.gone), (4, 0));

    // Partial: only a changes (migrated, so its password is set); b and c stay.
    let partial = read("Casella;Stato migrazione\na@pec.fofi.it;Migrata\n", day(2));
    let outcome = store_parsed(&mut store, &partial, true).unwrap();
    assert_eq!((outcome.changes, outcome.gone), (2, 0));
    assert_eq!(store.mailbox_count().unwrap(), 4);

    // Complete: c is gone; a mailbox of another domain is not the report's to remove.
    let complete = read(
        "Casella;Stato migrazione\na@pec.fofi.it;Migrata\nb@pec.fofi.it;2FA\n",
        day(3),
    );
    let outcome = store_parsed(&mut store, &complete, false).unwrap();
    assert_eq!((outcome.changes, outcome.gone), (1, 1));
    let states = store.mailbox_states().unwrap();
    let mut addresses: Vec<&str> = states.iter().map(|s| s.address.as_str()).collect();
    addresses.sort();
    assert_eq!(
        addresses,
        ["a@pec.fofi.it", "altro@altro.it", "b@pec.fofi.it"]
    );
    let events = store.timeline(None, Some("c@pec.fofi.it")).unwrap();
    assert_eq!(
        events[0].detail,
        "casella non più presente presso il gestore (report report.csv)"
    );
    let events = store.timeline(None, Some("b@pec.fofi.it")).unwrap();
    assert_eq!(
        events[0].detail,
        "migrazione: non avviata → fallita: doppio fattore attivo (report report.csv)"
    );
}

#[test]
fn an_older_report_rolls_nothing_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.db")).unwrap();
    store_parsed(&mut store, &read(FIRST, day(1)), false).unwrap();
    store_parsed(
        &mut store,
        &read("Casella;Stato migrazione\na@pec.fofi.it;Migrata\n", day(10)),
        true,
    )
    .unwrap();
    let before = store.mailbox_states().unwrap();
    // Dated 5 March: a was migrated on the 10th; b and c are older in the store.
    let old = read(
        "Casella;Stato migrazione\na@pec.fofi.it;Non avviata\nb@pec.fofi.it;Credenziali non valide\n",
        day(5),
    );
    let outcome = store_parsed(&mut store, &old, true).unwrap();
    assert_eq!(outcome.older_skipped, 1, "{outcome:?}");
    assert_eq!(outcome.changes, 1);
    assert!(
        outcome.describe().contains("1 lasciate invariate"),
        "{}",
        outcome.describe()
    );
    let after = store.mailbox_states().unwrap();
    assert_eq!(
        state(&after, "a@pec.fofi.it"),
        state(&before, "a@pec.fofi.it")
    );
    assert_eq!(
        state(&after, "b@pec.fofi.it").migration,
        MigrationState::FailedCredentials
    );
    // A complete report older than a mailbox's stored state does not remove it.
    let old_complete = read(
        "Casella;Stato migrazione\nb@pec.fofi.it;Credenziali non valide\n",
        day(6),
    );
    let outcome = store_parsed(&mut store, &old_complete, false).unwrap();
    assert_eq!(outcome.gone, 1, "c goes, a (newer) stays: {outcome:?}");
    assert_eq!(outcome.older_skipped, 1);
    let after = store.mailbox_states().unwrap();
    assert!(after.iter().any(|s| s.address == "a@pec.fofi.it"));
    assert!(!after.iter().any(|s| s.address == "c@pec.fofi.it"));
}

#[test]
fn a_report_removing_every_mailbox_is_refused_and_a_dry_run_stores_nothing() {
    let ws = Workspace::new();
    {
        let mut store = Store::open(&ws.db()).unwrap();
        store_parsed(&mut store, &read(FIRST, day(1)), false).unwrap();
    }
    let before = Store::open(&ws.db()).unwrap().recent_events(1000).unwrap();
    ws.write(
        "altro.csv",
        "Casella;Stato migrazione\nz@pec.fofi.it;Migrata\n",
    );
    let output = ws
        .pecdesk(&["sync", "--report", "altro.csv", "--as-of", "2026-03-02"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("il report non contiene nessuna delle 3 caselle in archivio"),
        "{}",
        stderr(&output)
    );
    let mut store = Store::open(&ws.db()).unwrap();
    assert_eq!(store.mailbox_count().unwrap(), 4);
    assert_eq!(store.recent_events(1000).unwrap(), before);
    // The same error from the library, typed.
    let error = store_parsed(
        &mut store,
        &read("Casella;Stato migrazione\nz@pec.fofi.it;Migrata\n", day(2)),
        false,
    )
    .unwrap_err();
    assert!(matches!(
        error,
        SyncError::Store(StoreError::ReportRemovesAll { stored: 3, .. })
    ));
    drop(store);

    // --partial adds it; a dry run says so and stores nothing.
    let output = ws
        .pecdesk(&["sync", "--report", "altro.csv", "--partial", "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.contains(
            "Simulazione (nulla è stato salvato): 1 caselle modificate dall'ultima volta, 1 nuove"
        ),
        "{out}"
    );
    assert!(out.contains("(dalla data di modifica del file)"), "{out}");
    let store = Store::open(&ws.db()).unwrap();
    assert_eq!(store.mailbox_count().unwrap(), 4);
    assert_eq!(store.recent_events(1000).unwrap(), before);
}

/// The states as a report written from them, in Italian words.
fn report_of(states: &[MailboxState], as_of: DateTime<Utc>) -> String {
    let mut text = String::from(
        "Casella;Stato migrazione;Data migrazione;Stato password;Link inviato il;Ultimo accesso;E-mail di recupero;Cellulare di recupero;Confermati;Data report\r\n",
    );
    let at = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    for s in states {
        text.push_str(&format!(
            "{};{};{};{};{};{};{};{};{};{}\r\n",
            s.address,
            s.migration.label_it(),
            at(s.migration_at),
            s.password.label_it(),
            at(s.link_sent_at),
            at(s.last_login_at),
            s.recovery.email_masked.as_deref().unwrap_or_default(),
            s.recovery.mobile_masked.as_deref().unwrap_or_default(),
            if s.recovery.confirmed { "Sì" } else { "No" },
            as_of.to_rfc3339(),
        ));
    }
    text
}

/// Each mailbox's state-change events after `after`, as (mailbox, detail).
fn changes(store: &Store, after: i64, strip: &str) -> Vec<(String, String)> {
    let mut events: Vec<(String, String)> = store
        .recent_events(100_000)
        .unwrap()
        .into_iter()
        .filter(|e| e.id > after && e.kind == EventKind::StateChanged && e.mailbox.is_some())
        .map(|e| {
            let detail = e
                .detail
                .strip_suffix(strip)
                .unwrap_or(&e.detail)
                .to_string();
            (e.mailbox.unwrap(), detail)
        })
        .collect();
    events.sort();
    events
}

#[tokio::test]
async fn a_report_records_the_same_events_as_an_api_sync() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let api_path = dir.path().join("api.db");
    let report_path = dir.path().join("report.db");
    sync::run_with(&api_path, &client, "prova", sync::SyncMode::Full, |_| {})
        .await
        .unwrap();
    std::fs::copy(&api_path, &report_path).unwrap();
    let last_id =
        |path: &std::path::Path| Store::open(path).unwrap().recent_events(1).unwrap()[0].id;
    let (api_after, report_after) = (last_id(&api_path), last_id(&report_path));

    // Changes at the provider: two resends and a link used.
    let all = client.list_all_mailboxes().await.unwrap();
    let with_email = |confirmed: bool| {
        all.iter()
            .find(|m| m.recovery.email_masked.is_some() && m.recovery.confirmed == confirmed)
            .unwrap()
    };
    let (resent, used) = (with_email(true), with_email(false));
    for m in [resent, used] {
        client
            .resend_recovery_email(&m.address, &new_idempotency_key())
            .await
            .unwrap();
    }
    assert_eq!(
        use_link(&sim, &used.address, Some("Nuova!Pass7")).await.0,
        200
    );

    let api = sync::run_with(&api_path, &client, "prova", sync::SyncMode::Full, |_| {})
        .await
        .unwrap();
    let now = client.list_all_mailboxes().await.unwrap();
    let as_of = now.iter().map(|s| s.updated_at).max().unwrap() + TimeDelta::seconds(1);
    let text = report_of(&now, as_of);
    let parsed = import::read_report_bytes(text.as_bytes(), "report.csv", &options(as_of)).unwrap();
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
    let mut store = Store::open(&report_path).unwrap();
    let report = store_parsed(&mut store, &parsed, false).unwrap();
    assert_eq!(
        (report.changes, report.new_mailboxes, report.gone),
        (api.changes, api.new_mailboxes, api.gone)
    );
    assert!(api.changes >= 3, "{api:?}");
    let from_api = changes(&Store::open(&api_path).unwrap(), api_after, "");
    let from_report = changes(&store, report_after, " (report report.csv)");
    assert_eq!(from_report, from_api);
    // The stored states agree too, save the provider's own timestamps.
    let strip = |mut states: Vec<MailboxState>| {
        for s in &mut states {
            s.updated_at = as_of;
        }
        states.sort_by(|a, b| a.address.cmp(&b.address));
        states
    };
    assert_eq!(
        strip(store.mailbox_states().unwrap()),
        strip(Store::open(&api_path).unwrap().mailbox_states().unwrap())
    );
    // Every report event names the file.
    assert!(
        store
            .recent_events(100_000)
            .unwrap()
            .iter()
            .filter(|e| e.id > report_after
                && e.kind == EventKind::StateChanged
                && e.mailbox.is_some())
            .all(|e| e.detail.ends_with(" (report report.csv)"))
    );
}

/// `provider = "report"` from the command line: what needs the API says so
/// and queues nothing (with a provider URL set that nothing listens on, a
/// call would fail differently), `sync` says how to load a report, and a
/// report is stored with its date for the console's header.
#[test]
fn report_mode_refuses_what_needs_the_api_and_loads_reports() {
    let ws = Workspace::new();
    let members = import_support::members(8, 5);
    Store::open(&ws.db())
        .unwrap()
        .upsert_members(
            &pecdesk::store::IncomingRoster::full(&members),
            "albo.csv",
            "prova",
            Utc::now(),
        )
        .unwrap();
    let run = |args: &[&str]| {
        ws.pecdesk(args)
            .env("PECDESK_PROVIDER", "report")
            .env("PECDESK_PROVIDER_URL", "http://127.0.0.1:9")
            .env("PECDESK_PROVIDER_TOKEN", "t")
            .output()
            .unwrap()
    };
    let output = run(&["resend", "--yes"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("serve l'API del gestore"),
        "{}",
        stderr(&output)
    );
    let store = Store::open(&ws.db()).unwrap();
    assert!(store.unfinished_jobs().unwrap().is_empty());
    let output = run(&["sync"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains(":sync report FILE"),
        "{}",
        stderr(&output)
    );
    assert_eq!(store.last_report().unwrap(), None);
    // A resend job left by an API-mode run is not run, and stays queued.
    let mut writer = Store::open(&ws.db()).unwrap();
    let job = writer
        .create_job(
            pecdesk::store::JobKind::Resend,
            "prova",
            &[pecdesk::store::NewJobItem {
                address: members[0].pec.clone(),
                member_id: None,
                payload: None,
            }],
            Utc::now(),
        )
        .unwrap();
    let output = run(&["queue", "resume", "--yes"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("serve l'API del gestore"),
        "{}",
        stderr(&output)
    );
    let pending = store.unfinished_jobs().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].id, pending[0].counts.pending), (job, 1));

    let pec = members
        .iter()
        .find(|m| m.pec_on_domain(DOMAIN))
        .map(|m| m.pec.clone())
        .unwrap();
    ws.write(
        "r.csv",
        format!("Casella;Stato migrazione\n{pec};Migrata\n"),
    );
    let output = run(&[
        "sync",
        "--report",
        "r.csv",
        "--partial",
        "--as-of",
        "27/11/2026",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report = store.last_report().unwrap().unwrap();
    assert_eq!(report.file, "r.csv");
    assert_eq!(
        report.as_of.map(pecdesk::i18n::format_datetime),
        Some("27/11/2026 00:00".to_string())
    );
}
