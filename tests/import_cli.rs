//! `pecdesk import` as staff run it: summaries, JSON, exit codes, dry runs,
//! the rejects file round trip through Excel, INI-PEC and SQLite sources.

mod import_support;

use encoding_rs::WINDOWS_1252;
use import_support::*;
use pecdesk::store::Store;

#[test]
fn an_import_with_rejects_runs_and_reports_them() {
    let ws = Workspace::new();
    let mut roster = members(5, 1);
    roster[2].codice_fiscale.replace_range(15.., "#");
    let file = ws.write("albo.csv", excel(&roster));
    let json = ws.import_json(&[file.to_str().unwrap()]);
    for (key, value) in [
        ("read", 5),
        ("new", 4),
        ("updated", 0),
        ("unchanged", 0),
        ("removed", 0),
        ("rejected", 1),
    ] {
        assert_eq!(json[key], value, "{key}: {json}");
    }
    assert_eq!(json["format"], "csv");
    assert_eq!(json["encoding"], "windows-1252");
    assert_eq!(json["rejects"][0]["line"], 4);
    assert_eq!(json["rejects"][0]["field"], "Codice Fiscale");
    assert_eq!(Store::open(&ws.db()).unwrap().member_count().unwrap(), 4);

    // The same file as text: the summary in Italian, file, line, field, reason.
    let output = ws.import(&["albo.csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("invariati:    4"), "{text}");
    assert!(
        text.contains("albo.csv, riga 4, campo \"Codice Fiscale\": carattere non valido"),
        "{text}"
    );
}

#[test]
fn a_reimport_updates_adds_and_removes() {
    let ws = Workspace::new();
    let roster = members(6, 2);
    ws.write("albo.csv", excel(&roster[..5]));
    ws.import_json(&["albo.csv"]);
    let mut next = roster[1..].to_vec();
    next[0].email_servizio = Some("nuova@libero.it".into());
    ws.write("albo.csv", excel(&next));
    let json = ws.import_json(&["albo.csv"]);
    for (key, value) in [("new", 1), ("updated", 1), ("unchanged", 3), ("removed", 1)] {
        assert_eq!(json[key], value, "{key}: {json}");
    }
    let store = Store::open(&ws.db()).unwrap();
    assert_eq!(store.member_count().unwrap(), 6, "removed, never deleted");
    let (id, ..) = store.all_members().unwrap()[1].clone();
    let timeline = store.timeline(Some(id), None).unwrap();
    assert_eq!(
        timeline[0].detail,
        "aggiornato da albo.csv: e-mail di servizio"
    );
    assert_eq!(timeline[0].operator, "prova");

    // --partial leaves absent members alone.
    ws.write("pochi.csv", excel(&roster[..1]));
    let json = ws.import_json(&["pochi.csv", "--partial"]);
    assert_eq!(
        (json["updated"].as_u64(), json["removed"].as_u64()),
        (Some(1), Some(0)),
        "{json}"
    );
    assert_eq!(json["full_roster"], false);
}

#[test]
fn nothing_importable_exits_non_zero_with_the_reason_on_stderr() {
    let ws = Workspace::new();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("mancante.csv", Vec::new(), "impossibile leggere"),
        ("vuoto.csv", b"\r\n\r\n".to_vec(), "il file è vuoto"),
        (
            "colonne.csv",
            b"Cognome;Nome;PEC\r\nRossi;Mario;a@pec.fofi.it\r\n".to_vec(),
            "mancano le colonne obbligatorie: codice fiscale",
        ),
        (
            "binario.csv",
            (0..=255u8).cycle().take(5000).collect(),
            "non è un file di testo",
        ),
        (
            "scartate.csv",
            b"Cognome;Nome;CF;PEC\r\nRossi;Mario;X;a@pec.fofi.it\r\n".to_vec(),
            "nessuna riga valida da importare (1 scartate)",
        ),
    ];
    for (name, bytes, reason) in cases {
        if name != "mancante.csv" {
            ws.write(name, bytes);
        }
        let output = ws.import(&[name, "--json"]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        assert!(
            stderr(&output).contains(reason),
            "{name}: {}",
            stderr(&output)
        );
        assert!(output.stdout.is_empty(), "{name}");
    }
    assert!(stderr(&ws.import(&["scartate.csv"])).contains("riga 2, campo \"CF\""));
    assert!(
        !ws.db().exists(),
        "no store is created for a file that cannot be imported"
    );
}

#[test]
fn dry_run_changes_nothing() {
    let ws = Workspace::new();
    let roster = members(4, 3);
    ws.write("albo.csv", excel(&roster));
    let json = ws.import_json(&["albo.csv", "--dry-run"]);
    assert_eq!(
        (json["new"].as_u64(), json["dry_run"].as_bool()),
        (Some(4), Some(true))
    );
    assert!(!ws.db().exists(), "a dry run does not create the store");

    ws.import_json(&["albo.csv"]);
    let before = snapshot(&ws.db());
    ws.write("albo.csv", excel(&roster[1..]));
    let output = ws.import(&["albo.csv", "--dry-run"]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("SIMULAZIONE"), "{text}");
    assert!(text.contains("rimossi:      1"), "{text}");
    assert!(
        text.contains(&roster[0].full_name()),
        "the change is listed: {text}"
    );
    assert_eq!(snapshot(&ws.db()), before);
}

#[test]
fn rejected_rows_round_trip_through_excel() {
    let ws = Workspace::new();
    let mut roster = members(6, 4);
    roster[1].nome = "Niccolò".into();
    roster[1].pec = "niccolo(at)pec.fofi.it".into();
    roster[4].cognome = "D'Angelo; Mirò".into();
    roster[4].codice_fiscale.replace_range(15.., "0");
    let original = excel(&roster);
    ws.write("albo.csv", &original);
    let json = ws.import_json(&["albo.csv", "--rejects", "scarti.csv"]);
    assert_eq!(
        (json["new"].as_u64(), json["rejected"].as_u64()),
        (Some(4), Some(2))
    );

    let rejects = std::fs::read(ws.path("scarti.csv")).unwrap();
    let (text, _, malformed) = WINDOWS_1252.decode(&rejects);
    assert!(!malformed);
    let lines: Vec<&str> = text.lines().collect();
    let original_text = WINDOWS_1252.decode(&original).0;
    let original_lines: Vec<&str> = original_text.lines().collect();
    assert_eq!(
        lines[0],
        format!("{};Motivo dello scarto", original_lines[0])
    );
    assert!(
        lines[1].starts_with(&format!("{};", original_lines[2])),
        "row as it was"
    );
    assert!(lines[1].ends_with(
        "Indirizzo PEC: PEC non valida: indirizzo e-mail non valido: niccolo(at)pec.fofi.it"
    ));
    assert!(lines[2].contains("\"D'Angelo; Mirò\""), "{}", lines[2]);
    assert!(text.contains("\r\n"), "CRLF kept");

    // Fixed in Excel (same encoding and delimiter) and imported again.
    let fixed = text
        .replace("niccolo(at)pec", "niccolo@pec")
        .replace(&roster[4].codice_fiscale, &members(6, 4)[4].codice_fiscale);
    ws.write("scarti.csv", WINDOWS_1252.encode(&fixed).0);
    let json = ws.import_json(&["scarti.csv"]);
    for (key, value) in [("new", 2), ("rejected", 0), ("removed", 0)] {
        assert_eq!(json[key], value, "{key}: {json}");
    }
    assert_eq!(
        json["full_roster"], false,
        "a rejects file is never the whole albo"
    );
    let stored: Vec<String> = Store::open(&ws.db())
        .unwrap()
        .all_members()
        .unwrap()
        .into_iter()
        .map(|(_, m, _)| m.full_name())
        .collect();
    assert!(stored.contains(&roster[1].full_name()), "{stored:?}");
    assert!(stored.contains(&roster[4].full_name()), "{stored:?}");
}

#[test]
fn inipec_files_and_the_format_option() {
    let ws = Workspace::new();
    let roster = members(3, 5);
    let line = |i: usize, stato: &str, cancellazione: &str| {
        let m = &roster[i];
        format!(
            "{};{};{};{};{};{stato};01/02/2003;{cancellazione}\r\n",
            m.pec, m.nome, m.cognome, m.numero_iscrizione, m.codice_fiscale
        )
    };
    let text = [
        line(0, "ATTIVO", ""),
        line(1, "ATTIVO", ""),
        line(2, "CANCELLATO", "31/12/2024"),
    ]
    .concat();
    ws.write("inipec.txt", WINDOWS_1252.encode(&text).0);
    let json = ws.import_json(&["inipec.txt"]);
    assert_eq!(json["format"], "inipec");
    assert_eq!(json["new"], 3);
    let flags: Vec<bool> = Store::open(&ws.db())
        .unwrap()
        .all_members()
        .unwrap()
        .into_iter()
        .map(|(.., in_roster)| in_roster)
        .collect();
    assert_eq!(flags, [true, true, false]);

    // Read as a CSV, the same file has no header: a clear error.
    let output = ws.import(&["inipec.txt", "--format", "csv"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--format inipec"),
        "{}",
        stderr(&output)
    );
    let output = ws.import(&["inipec.txt", "--format", "xls"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("auto, csv o inipec"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sqlite_databases_with_and_without_table() {
    let ws = Workspace::new();
    let roster = members(3, 6);
    let path = ws.path("gestionale.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE anagrafica (cognome TEXT, nome TEXT, cf TEXT, pec TEXT, cellulare INTEGER);",
    )
    .unwrap();
    for m in &roster {
        conn.execute(
            "INSERT INTO anagrafica VALUES (?1, ?2, ?3, ?4, 3471234567)",
            [&m.cognome, &m.nome, &m.codice_fiscale, &m.pec],
        )
        .unwrap();
    }
    let json = ws.import_json(&["gestionale.db"]);
    assert_eq!(
        (json["format"].as_str(), json["table"].as_str()),
        (Some("sqlite"), Some("anagrafica"))
    );
    assert!(json["delimiter"].is_null(), "{json}");
    assert_eq!(
        json["unchanged"].as_u64().unwrap() + json["new"].as_u64().unwrap(),
        3
    );

    conn.execute_batch("CREATE TABLE log (x TEXT);").unwrap();
    drop(conn);
    let output = ws.import(&["gestionale.db"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("indicare quale con --table: anagrafica, log"),
        "{}",
        stderr(&output)
    );
    let json = ws.import_json(&["gestionale.db", "--table", "anagrafica"]);
    assert_eq!(json["unchanged"], 3);
    let output = ws.import(&["albo-inesistente.csv", "--table", "x"]);
    assert!(!output.status.success());
}

#[test]
fn pecdesk_exports_read_back_as_they_were() {
    let ws = Workspace::new();
    let mut roster = members(30, 8);
    roster[3].cognome = "=Mirò".into();
    ws.write("albo.csv", excel(&roster));
    ws.import_json(&["albo.csv"]);
    let stored = snapshot(&ws.db()).members;
    for (format, name) in [
        ("inipec", "inipec.txt"),
        ("csv-excel", "excel.csv"),
        ("csv", "plain.csv"),
    ] {
        let output = ws
            .pecdesk(&["export", "--out", name, "--format", format])
            .output()
            .unwrap();
        assert!(output.status.success(), "{format}: {}", stderr(&output));
        let json = ws.import_json(&[name]);
        assert_eq!(json["rejected"], 0, "{format}: {json}");
        // The INI-PEC file holds back the member whose surname starts like
        // a formula; as an update, its absence removes no one.
        let listed = if format == "inipec" { 29 } else { 30 };
        assert_eq!(json["unchanged"], listed, "{format}: {json}");
        assert_eq!(json["removed"], 0, "{format}: {json}");
        assert_eq!(
            json["format"],
            if format == "inipec" { "inipec" } else { "csv" }
        );
    }
    assert_eq!(snapshot(&ws.db()).members, stored);
}
