//! INI-PEC as the registry takes it (issue 12, section 3), through the real
//! binary on a real store: the first load, an update with exactly the new,
//! changed and departed members, nothing to send, `--all`, a write that fails
//! before the rename, the import of a file with the numeric Stato, and the
//! purge by the recorded leaving day.

mod import_support;

use std::collections::BTreeMap;
use std::process::Output;

use chrono::{NaiveDate, Utc};
use import_support::{Workspace, stderr};
use pecdesk::domain::Member;
use pecdesk::sample::generate_roster;
use pecdesk::store::Store;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A roster as the Ordine's software exports it, with Stato and Data
/// cancellazione columns: `left` maps a member's index to its cancellation
/// date ("" for a Stato alone).
fn roster(members: &[Member], left: &[(usize, &str)]) -> String {
    let mut text = "Numero iscrizione;Cognome;Nome;Codice fiscale;Data iscrizione;PEC;Stato;Data cancellazione\r\n".to_string();
    for (i, m) in members.iter().enumerate() {
        let cancelled = left.iter().find(|(j, _)| *j == i).map(|(_, d)| *d);
        text.push_str(&format!(
            "{};{};{};{};{};{};{};{}\r\n",
            m.numero_iscrizione,
            m.cognome,
            m.nome,
            m.codice_fiscale,
            m.data_iscrizione
                .map(|d| d.format("%d/%m/%Y").to_string())
                .unwrap_or_default(),
            m.pec,
            if cancelled.is_some() {
                "Cancellato"
            } else {
                "Attivo"
            },
            cancelled.unwrap_or_default(),
        ));
    }
    text
}

impl Workspace {
    fn import_roster(&self, name: &str, text: &str) {
        self.write(name, text);
        let output = self.import(&[name]);
        assert!(output.status.success(), "{}", stderr(&output));
    }

    fn run(&self, args: &[&str]) -> Output {
        self.pecdesk(args).output().unwrap()
    }

    fn export(&self, out: &str, extra: &[&str]) -> Output {
        let out = self.path(out);
        let mut args = vec![
            "export",
            "--format",
            "inipec",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        self.run(&args)
    }

    /// The rows of a written file, by codice fiscale: (Stato, all fields).
    fn rows(&self, name: &str) -> BTreeMap<String, Vec<String>> {
        let bytes = std::fs::read(self.path(name)).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with("\r\n"), "CRLF: {text:?}");
        text.split_terminator("\r\n")
            .map(|line| {
                let fields: Vec<String> = line.split(';').map(str::to_string).collect();
                assert_eq!(fields.len(), 8, "{line}");
                (fields[4].clone(), fields)
            })
            .collect()
    }

    /// The export's temporary files left in the workspace.
    fn temporary_files(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".pecdesk-export"))
            .collect()
    }

    fn ledger_files(&self) -> usize {
        Store::open(&self.db())
            .unwrap()
            .inipec_files()
            .unwrap()
            .len()
    }
}

fn codes(rows: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, String> {
    rows.iter()
        .map(|(cf, r)| (cf.clone(), r[5].clone()))
        .collect()
}

fn today_it() -> String {
    pecdesk::i18n::italian_time(Utc::now())
        .date()
        .format("%d/%m/%Y")
        .to_string()
}

#[test]
fn first_load_update_nothing_to_send_and_all() {
    let ws = Workspace::new();
    let mut members = generate_roster(12, 1201, "pec.fofi.it");
    let (newcomers, first) = (members.split_off(10), members);
    ws.import_roster("albo1.csv", &roster(&first, &[]));

    // First load: every position is new.
    let output = ws.export("inipec1.csv", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("2: 10"), "{}", stdout(&output));
    let rows = ws.rows("inipec1.csv");
    assert_eq!(rows.len(), 10);
    for m in &first {
        let row = &rows[&m.codice_fiscale];
        let iscrizione = m.data_iscrizione.unwrap().format("%d/%m/%Y").to_string();
        assert_eq!(
            row,
            &[
                &m.pec,
                &m.nome,
                &m.cognome,
                &m.numero_iscrizione,
                &m.codice_fiscale,
                "2",
                &iscrizione,
                ""
            ]
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ws.path("inipec1.csv"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The next roster: two new, a PEC and a surname changed, one absent from
    // the full roster, one listed as cancelled with its date.
    let mut second = first.clone();
    second[1].pec = "nuova.pec@pec.fofi.it".into();
    second[2].cognome = "Dell'Orto".into();
    let absent = second.remove(3);
    second.extend(newcomers.iter().cloned());
    // second[3] is first[4].
    ws.import_roster("albo2.csv", &roster(&second, &[(3, "15/11/2026")]));

    // A dry run shows the counts and records nothing.
    let output = ws.export("dry.csv", &["--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("2: 2") && text.contains("1: 2") && text.contains("3: 2"),
        "{text}"
    );
    assert!(!ws.path("dry.csv").exists());
    assert_eq!(ws.ledger_files(), 1);

    let output = ws.export("inipec2.csv", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = ws.rows("inipec2.csv");
    let expected: BTreeMap<String, String> = [
        (&newcomers[0], "2"),
        (&newcomers[1], "2"),
        (&first[1], "1"),
        (&first[2], "1"),
        (&absent, "3"),
        (&first[4], "3"),
    ]
    .into_iter()
    .map(|(m, code)| (m.codice_fiscale.clone(), code.to_string()))
    .collect();
    assert_eq!(codes(&rows), expected);
    assert_eq!(rows[&first[1].codice_fiscale][0], "nuova.pec@pec.fofi.it");
    assert_eq!(
        rows[&first[1].codice_fiscale][6], "",
        "Data Iscrizione only with a 2"
    );
    assert_eq!(rows[&first[2].codice_fiscale][2], "Dell'Orto");
    assert_eq!(
        rows[&absent.codice_fiscale][7],
        today_it(),
        "the day of the import"
    );
    assert_eq!(
        rows[&first[4].codice_fiscale][7], "15/11/2026",
        "the file's date"
    );
    assert_eq!(rows[&first[4].codice_fiscale][6], "");
    let iscrizione = newcomers[0]
        .data_iscrizione
        .unwrap()
        .format("%d/%m/%Y")
        .to_string();
    assert_eq!(rows[&newcomers[0].codice_fiscale][6], iscrizione);

    // The ledger holds the values sent and the file they went in.
    let store = Store::open(&ws.db()).unwrap();
    let files = store.inipec_files().unwrap();
    assert_eq!(
        (files[0].new, files[0].updated, files[0].cancelled),
        (2, 2, 2)
    );
    assert!(files[0].path.ends_with("inipec2.csv"));
    let entry = store
        .inipec_position(&first[1].codice_fiscale)
        .unwrap()
        .unwrap();
    assert_eq!(entry.sent.pec, "nuova.pec@pec.fofi.it");
    assert_eq!(entry.file_id, files[0].id);
    drop(store);
    // An access request shows what was sent about the member.
    let access = ws.path("accesso.json");
    let output = ws.run(&[
        "access",
        &first[1].codice_fiscale,
        "--out",
        access.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&access).unwrap()).unwrap();
    assert_eq!(report["inipec"]["pec"], "nuova.pec@pec.fofi.it");
    assert_eq!(report["inipec"]["stato"], 1);

    // Nothing changed: no file, said so, exit 0.
    let output = ws.export("inipec3.csv", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("Nessuna variazione"),
        "{}",
        stdout(&output)
    );
    assert!(!ws.path("inipec3.csv").exists());
    assert_eq!(ws.ledger_files(), 2);

    // --all: every position in the albo, all already sent, so `1`.
    let output = ws.export("inipec4.csv", &["--all"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = ws.rows("inipec4.csv");
    assert_eq!(rows.len(), 10);
    assert!(codes(&rows).values().all(|c| c == "1"));
    assert!(!rows.contains_key(&absent.codice_fiscale));
    // And after it, still nothing to send.
    let output = ws.export("inipec5.csv", &[]);
    assert!(stdout(&output).contains("Nessuna variazione"));

    // --all and --dry-run belong to the INI-PEC format only.
    let output = ws.run(&["export", "--out", "x.csv", "--all"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn a_write_that_fails_records_nothing() {
    let ws = Workspace::new();
    let members = generate_roster(5, 1202, "pec.fofi.it");
    ws.import_roster("albo.csv", &roster(&members, &[]));
    // The target is a directory: the temporary file is written and synced,
    // and the rename over the target fails.
    std::fs::create_dir(ws.path("occupied.csv")).unwrap();
    std::fs::write(ws.path("occupied.csv").join("keep"), "x").unwrap();
    let output = ws.export("occupied.csv", &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("occupied.csv"),
        "{}",
        stderr(&output)
    );
    assert_eq!(ws.ledger_files(), 0);
    assert_eq!(ws.temporary_files(), Vec::<String>::new());
    // A directory that does not exist: nothing recorded either.
    let output = ws.export("missing/inipec.csv", &[]);
    assert!(!output.status.success());
    assert_eq!(ws.ledger_files(), 0);
    // The positions are still due: the next file has them all, as new.
    let output = ws.export("inipec.csv", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let rows = ws.rows("inipec.csv");
    assert_eq!(rows.len(), 5);
    assert!(codes(&rows).values().all(|c| c == "2"));
}

#[test]
fn an_inipec_file_with_the_numeric_stato_imports_and_its_leaving_days_are_kept() {
    let ws = Workspace::new();
    let members = generate_roster(5, 1203, "pec.fofi.it");
    // A member already stored and absent from the file: an INI-PEC file is
    // an update, so they stay in the albo.
    ws.import_roster("albo.csv", &roster(&members[4..], &[]));
    let line = |m: &Member, stato: u8, cancellazione: &str| {
        format!(
            "{};{};{};{};{};{stato};;{cancellazione}\r\n",
            m.pec, m.nome, m.cognome, m.numero_iscrizione, m.codice_fiscale
        )
    };
    let text = [
        line(&members[0], 2, ""),
        line(&members[1], 1, ""),
        line(&members[2], 3, "31/01/2026"),
        line(&members[3], 3, ""),
    ]
    .concat();
    ws.write("registro.csv", &text);
    let json = ws.import_json(&["registro.csv"]);
    assert_eq!(json["new"], 4, "{json}");
    assert_eq!(
        (json["full_roster"].as_bool(), json["removed"].as_u64()),
        (Some(false), Some(0))
    );
    let store = Store::open(&ws.db()).unwrap();
    let by_cf: BTreeMap<String, (bool, Option<NaiveDate>)> = store
        .all_members()
        .unwrap()
        .into_iter()
        .map(|(_, m, in_roster)| (m.codice_fiscale, (in_roster, m.data_cancellazione)))
        .collect();
    let today = pecdesk::i18n::italian_time(Utc::now()).date();
    assert_eq!(by_cf[&members[0].codice_fiscale], (true, None));
    assert_eq!(by_cf[&members[1].codice_fiscale], (true, None));
    assert_eq!(
        by_cf[&members[2].codice_fiscale],
        (false, NaiveDate::from_ymd_opt(2026, 1, 31))
    );
    assert_eq!(by_cf[&members[3].codice_fiscale], (false, Some(today)));
    assert_eq!(by_cf[&members[4].codice_fiscale], (true, None));
}

#[test]
fn purge_goes_by_the_recorded_leaving_day() {
    let ws = Workspace::new();
    let members = generate_roster(4, 1204, "pec.fofi.it");
    // One left in 2020 (the file says so), one leaves today.
    ws.import_roster("albo.csv", &roster(&members, &[(0, "01/03/2020")]));
    ws.export("inipec.csv", &[]);
    ws.import_roster("albo2.csv", &roster(&members[..3], &[(0, "01/03/2020")]));
    let output = ws.run(&["purge", "--left-before", "2021-01-01", "--yes"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("1 iscritti usciti"),
        "{}",
        stdout(&output)
    );
    let store = Store::open(&ws.db()).unwrap();
    let kept: Vec<String> = store
        .all_members()
        .unwrap()
        .into_iter()
        .map(|(_, m, _)| m.codice_fiscale)
        .collect();
    assert!(!kept.contains(&members[0].codice_fiscale));
    assert!(
        kept.contains(&members[3].codice_fiscale),
        "left today: kept"
    );
    // The erased member never went to INI-PEC (cancelled before the first
    // file); those sent keep their position.
    assert!(
        store
            .inipec_position(&members[0].codice_fiscale)
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .inipec_position(&members[3].codice_fiscale)
            .unwrap()
            .is_some()
    );
    drop(store);
    let tomorrow = (Utc::now().date_naive() + chrono::TimeDelta::days(2))
        .format("%Y-%m-%d")
        .to_string();
    let output = ws.run(&["purge", "--left-before", &tomorrow, "--yes"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "INI-PEC elenca ancora 1 di questi iscritti ({})",
            members[3].codice_fiscale
        )),
        "{}",
        stderr(&output)
    );
    let store = Store::open(&ws.db()).unwrap();
    assert_eq!(store.all_members().unwrap().len(), 2);
    assert!(
        store
            .inipec_position(&members[3].codice_fiscale)
            .unwrap()
            .is_none(),
        "erasure drops the ledger's copy of the member"
    );
}

/// The console: `:export FILE inipec` shows the counts per code (nothing
/// written yet), Enter writes and records, through the real services.
#[tokio::test(flavor = "multi_thread")]
async fn the_console_shows_the_counts_then_writes_on_confirm() {
    use pecdesk::app::inipec_flow::IniPecStep;
    use pecdesk::app::{Action, Command, Effect, Modal, Settings, State, update};
    use pecdesk::services::Services;
    use tui_input::InputRequest;

    let ws = Workspace::new();
    let members = generate_roster(6, 1205, "pec.fofi.it");
    ws.import_roster("albo.csv", &roster(&members, &[(5, "")]));
    let services = Services::new(ws.db(), None, "segreteria".into());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut state = State::new(
        Settings {
            lang: pecdesk::i18n::Lang::It,
            pec_domain: "pec.fofi.it".into(),
            ordine: "Ordine di prova".into(),
            cutover: None,
        },
        Utc::now(),
    );
    let out = ws.path("console.csv");
    // Runs the effects, feeds their results back, until none is pending.
    async fn settle(
        state: &mut State,
        services: &Services,
        tx: &tokio::sync::mpsc::UnboundedSender<Action>,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Action>,
        effects: Vec<Effect>,
    ) {
        let mut pending = 0;
        for effect in effects {
            services.perform(effect, tx);
            pending += 1;
        }
        while pending > 0 {
            let action = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
                .await
                .unwrap()
                .unwrap();
            pending -= 1;
            for effect in update(state, action) {
                services.perform(effect, tx);
                pending += 1;
            }
        }
    }
    // Typed in the palette, as staff do.
    update(&mut state, Action::Command(Command::Palette));
    for c in format!("export {} inipec", out.display()).chars() {
        update(&mut state, Action::PaletteEdit(InputRequest::InsertChar(c)));
    }
    let effects = update(&mut state, Action::PaletteRun);
    settle(&mut state, &services, &tx, &mut rx, effects).await;
    let Some(Modal::IniPec(IniPecStep::Preview { planned, .. })) = &state.modal else {
        panic!("no preview: {:?}", state.modal);
    };
    assert_eq!(
        planned.plan.rows.len(),
        5,
        "the one cancelled was never sent"
    );
    assert!(!out.exists(), "nothing written before confirming");
    let effects = update(&mut state, Action::Confirm);
    settle(&mut state, &services, &tx, &mut rx, effects).await;
    assert!(state.modal.is_none());
    assert_eq!(ws.rows("console.csv").len(), 5);
    let files = Store::open(&ws.db()).unwrap().inipec_files().unwrap();
    assert_eq!((files.len(), files[0].operator.as_str()), (1, "segreteria"));
}

/// A file written but not recordable (another file went in since it was
/// planned) is removed: no file the ledger does not know about is left to
/// be sent.
#[test]
fn a_file_that_cannot_be_recorded_is_removed() {
    use pecdesk::export::inipec::{IniPecError, plan_file, write_file};
    let ws = Workspace::new();
    let members = generate_roster(3, 1206, "pec.fofi.it");
    ws.import_roster("albo.csv", &roster(&members, &[]));
    let mut store = Store::open(&ws.db()).unwrap();
    let stale = plan_file(&store, false).unwrap();
    let fresh = plan_file(&store, false).unwrap();
    write_file(&mut store, &ws.path("a.csv"), &fresh, "anna", Utc::now()).unwrap();
    let err = write_file(&mut store, &ws.path("b.csv"), &stale, "anna", Utc::now()).unwrap_err();
    assert!(matches!(err, IniPecError::NotRecorded { .. }), "{err}");
    assert!(err.to_string().contains("b.csv"), "{err}");
    assert!(!ws.path("b.csv").exists());
    assert_eq!(store.inipec_files().unwrap().len(), 1);
}

/// `pecdesk export --format inipec` killed (abort, as kill -9) after the
/// file is renamed into place and before the ledger records it: the next
/// export records that file (read back, hash checked) and plans nothing
/// again; killed before the rename: the next export discards the unfinished
/// file and sends the same rows.
#[test]
fn an_export_killed_between_the_file_and_the_ledger_is_resolved_by_the_next() {
    use pecdesk::export::inipec::ABORT_AT_ENV;
    let ws = Workspace::new();
    let members = generate_roster(6, 1207, "pec.fofi.it");
    ws.import_roster("albo.csv", &roster(&members, &[]));

    let killed = |out: &str, at: &str| {
        let output = ws
            .pecdesk(&[
                "export",
                "--format",
                "inipec",
                "--out",
                ws.path(out).to_str().unwrap(),
            ])
            .env(ABORT_AT_ENV, at)
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(output.status.signal(), Some(6), "{}", stderr(&output));
    };

    // After the rename: the file is whole, the ledger does not know it yet.
    killed("renamed.csv", "renamed");
    assert_eq!(ws.rows("renamed.csv").len(), 6);
    assert_eq!(ws.ledger_files(), 0);
    let output = ws.export("again.csv", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("renamed.csv (6 righe)"), "{text}");
    assert!(text.contains("Nessuna variazione"), "{text}");
    assert!(!ws.path("again.csv").exists());
    let store = Store::open(&ws.db()).unwrap();
    let files = store.inipec_files().unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].path.ends_with("renamed.csv"));
    assert_eq!(files[0].new, 6);
    assert!(store.staged_inipec_files().unwrap().is_empty());
    drop(store);

    // Before the rename: nothing in place; the rows stay to send.
    ws.import_roster(
        "albo2.csv",
        &roster(&generate_roster(8, 1207, "pec.fofi.it"), &[]),
    );
    killed("staged.csv", "staged");
    assert!(!ws.path("staged.csv").exists());
    let output = ws.export("after.csv", &["--dry-run"]);
    assert!(
        stderr(&output).contains("interrotta"),
        "{}",
        stderr(&output)
    );
    let output = ws.export("after.csv", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("non era stato completato"),
        "{}",
        stdout(&output)
    );
    assert_eq!(ws.rows("after.csv").len(), 2);
    assert_eq!(ws.ledger_files(), 2);
    assert_eq!(
        ws.temporary_files(),
        Vec::<String>::new(),
        "the unfinished temporary file is removed"
    );
    let output = ws.run(&["audit", "verify"]);
    assert!(output.status.success(), "{}", stderr(&output));
}
