//! PEC receipts read over IMAP from a real Dovecot on 127.0.0.1 (and from a
//! Maildir), built as providers build them, land on the right members.

#[path = "support/dovecot.rs"]
mod dovecot;

use std::path::Path;
use std::process::Command;

use pecdesk::mail::receipts::Kind;
use pecdesk::mail::receipts::build::{Original, ReceiptSpec, receipt_message};
use pecdesk::store::Store;
use serde_json::Value;

const FROM: &str = "segreteria@pec.ordine.it";

/// Three members, each sent one PEC reminder `reminder-N@pecdesk`.
fn store_with_reminders(path: &Path) -> Vec<i64> {
    Store::open(path).unwrap();
    let conn = rusqlite::Connection::open(path).unwrap();
    let now = "2026-11-29T09:00:00Z";
    let mut ids = Vec::new();
    for (n, (cognome, nome)) in [("Rossi", "Mario"), ("Bianchi", "Anna"), ("Verdi", "Luca")]
        .into_iter()
        .enumerate()
    {
        conn.execute(
            "INSERT INTO members (codice_fiscale, numero_iscrizione, cognome, nome, pec, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            rusqlite::params![format!("CF{n}"), format!("{n}"), cognome, nome, pec(n), now],
        )
        .unwrap();
        let member = conn.last_insert_rowid();
        conn.execute(
            "INSERT INTO reminders (member_id, channel, template, recipient, subject, message_id, state, created_at, sent_at, updated_at)
             VALUES (?1, 'pec', 'migrazione', ?2, 'Migrazione della casella PEC', ?3, 'sent', ?4, ?4, ?4)",
            rusqlite::params![member, pec(n), message_id(n), now],
        )
        .unwrap();
        ids.push(member);
    }
    ids
}

fn pec(n: usize) -> String {
    ["mario.rossi", "anna.bianchi", "luca.verdi"][n].to_string() + "@pec.fofi.it"
}

fn message_id(n: usize) -> String {
    format!("reminder-{n}@pecdesk")
}

fn receipt(n: usize, id: &str, kind: Kind, serial: u64) -> Vec<u8> {
    let failure = kind.is_failure();
    receipt_message(
        &Original {
            message_id: id.to_string(),
            from: FROM.into(),
            to: pec(n),
            subject: "Migrazione della casella PEC".into(),
        },
        &ReceiptSpec {
            kind,
            error: if failure { "no-dest" } else { "nessuno" }.into(),
            error_detail: failure.then(|| "5.1.1 - Casella del destinatario inesistente".into()),
            provider: "InfoCert S.p.A.".into(),
            provider_domain: "pec.infocert.it".into(),
            at: "2026-11-29T09:26:03Z".parse().unwrap(),
            serial,
        },
    )
}

const MALFORMED: &str = "Message-ID: <rotta.1@pec.infocert.it>\r\nFrom: posta-certificata@pec.infocert.it\r\nTo: segreteria@pec.ordine.it\r\nSubject: CONSEGNA: Migrazione\r\nX-Ricevuta: avvenuta-consegna\r\nX-Riferimento-Message-ID: <reminder-2@pecdesk>\r\nContent-Type: text/plain\r\n\r\nRicevuta senza daticert.xml\r\n";
const ORDINARY: &str = "Message-ID: <ciao.1@pec.fofi.it>\r\nFrom: mario.rossi@pec.fofi.it\r\nTo: segreteria@pec.ordine.it\r\nSubject: una domanda\r\nContent-Type: text/plain\r\n\r\nBuongiorno\r\n";

fn run_receipts(dir: &Path, port: u16) -> (i32, Value, String) {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[pec]\nimap_host = \"127.0.0.1\"\nimap_port = {port}\nimap_security = \"none\"\nuser = \"{}\"\n",
            dovecot::USER
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_pecdesk"))
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(dir.join("store.db"))
        .args(["--log-level", "trace", "receipts", "--json"])
        .env("HOME", dir)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env("PECDESK_PEC_IMAP_PASSWORD", dovecot::PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {stdout} stderr {stderr}"));
    (output.status.code().unwrap(), json, stdout + &stderr)
}

fn kinds(store: &Store, member: i64) -> Vec<String> {
    store
        .member_receipts(member)
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect()
}

#[test]
fn receipts_over_imap_land_on_the_right_members_once() {
    let server = match dovecot::Dovecot::start() {
        Ok(server) => server,
        Err(reason) => {
            eprintln!("SKIP receipts_over_imap: {reason}");
            return;
        }
    };
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("store.db");
    let members = store_with_reminders(&db);
    server.deliver(&receipt(0, &message_id(0), Kind::Accettazione, 1));
    server.deliver(&receipt(0, &message_id(0), Kind::AvvenutaConsegna, 2));
    server.deliver(&receipt(1, &message_id(1), Kind::Accettazione, 3));
    server.deliver(&receipt(1, &message_id(1), Kind::ErroreConsegna, 4));
    server.deliver(&receipt(
        2,
        "sent-by-hand@webmail",
        Kind::AvvenutaConsegna,
        5,
    ));
    server.deliver(MALFORMED.as_bytes());
    server.deliver(ORDINARY.as_bytes());
    let before = server.files();

    let (code, json, output) = run_receipts(work.path(), server.port);
    assert_eq!(code, 1, "a malformed receipt makes exit code 1: {output}");
    assert_eq!(json["read"], 7, "{json}");
    assert_eq!(json["stored"], 5, "{json}");
    assert_eq!(json["matched"], 4, "{json}");
    assert_eq!(json["unmatched"], 1, "{json}");
    assert_eq!(json["not_delivered"], 1, "{json}");
    assert_eq!(json["not_receipts"], 1, "{json}");
    assert_eq!(json["malformed"].as_array().unwrap().len(), 1, "{json}");
    assert!(
        json["malformed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("daticert.xml"),
        "{json}"
    );
    let chase = json["to_chase"].as_array().unwrap();
    assert_eq!(chase.len(), 1, "{json}");
    assert_eq!(chase[0]["member_id"], members[1]);
    assert!(chase[0]["error"].as_str().unwrap().contains("no-dest"));

    let store = Store::open(&db).unwrap();
    assert_eq!(
        kinds(&store, members[0]),
        ["accettazione", "avvenuta-consegna"]
    );
    assert_eq!(
        kinds(&store, members[1]),
        ["accettazione", "errore-consegna"]
    );
    assert!(kinds(&store, members[2]).is_empty());
    let all = store.all_receipts().unwrap();
    let delivered = all
        .iter()
        .find(|r| r.kind == "avvenuta-consegna" && r.member_id == Some(members[0]))
        .unwrap();
    assert_eq!(delivered.recipient.as_deref(), Some(pec(0).as_str()));
    assert_eq!(
        delivered.at.unwrap().to_rfc3339(),
        "2026-11-29T09:26:03+00:00"
    );
    assert!(
        delivered
            .provider_id
            .as_deref()
            .unwrap()
            .ends_with("@pec.infocert.it")
    );
    let unmatched = all.iter().find(|r| r.reminder_id.is_none()).unwrap();
    assert_eq!(unmatched.message_id, "sent-by-hand@webmail");
    // Each original kept, owner-only, byte for byte.
    for r in &all {
        let file = work.path().join(r.file.as_ref().unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("X-Ricevuta")
        );
    }

    // Again: nothing new is read, nothing stored twice.
    let (_, json, _) = run_receipts(work.path(), server.port);
    assert_eq!(
        (json["read"].as_u64(), json["stored"].as_u64()),
        (Some(0), Some(0)),
        "{json}"
    );
    // One more arrives: only it is read.
    server.deliver(&receipt(2, &message_id(2), Kind::Accettazione, 6));
    let (code, json, _) = run_receipts(work.path(), server.port);
    assert_eq!(code, 0);
    assert_eq!(
        (json["read"].as_u64(), json["stored"].as_u64()),
        (Some(1), Some(1)),
        "{json}"
    );
    // The folder's position forgotten (as after a UIDVALIDITY change): all is
    // read again and nothing is stored twice.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM receipt_sources", [])
        .unwrap();
    let (_, json, output) = run_receipts(work.path(), server.port);
    assert_eq!(json["read"], 8, "{json}");
    assert_eq!(json["stored"], 0, "{json}");
    assert_eq!(json["already_stored"], 6, "{json}");
    assert_eq!(Store::open(&db).unwrap().all_receipts().unwrap().len(), 6);

    // Nothing deleted, moved out or flagged on the server (Dovecot may move
    // new/ to cur/ itself; no flag is set, not even \Seen).
    let after = server.files();
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    for name in &after {
        let flags = name.rsplit_once(":2,").map(|(_, f)| f).unwrap_or("");
        assert!(flags.is_empty(), "flag set on {name}");
    }
    // The IMAP password is in no log and no output.
    assert!(!output.contains(dovecot::PASSWORD));
    let mut logs = Vec::new();
    collect_files(work.path(), &mut logs);
    for file in logs
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "log"))
    {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        assert!(
            !text.contains(dovecot::PASSWORD),
            "password in {}",
            file.display()
        );
    }
    assert!(
        logs.iter().any(|f| f.ends_with("pecdesk.log")),
        "the run logged to a file: {logs:?}"
    );
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn a_wrong_imap_password_is_refused_without_showing_it() {
    let server = match dovecot::Dovecot::start() {
        Ok(server) => server,
        Err(reason) => {
            eprintln!("SKIP a_wrong_imap_password: {reason}");
            return;
        }
    };
    let work = tempfile::tempdir().unwrap();
    Store::open(&work.path().join("store.db")).unwrap();
    let source =
        pecdesk::mail::receipts::ReceiptSource::Imap(pecdesk::mail::receipts::ImapSettings {
            host: "127.0.0.1".into(),
            port: server.port,
            security: pecdesk::mail::receipts::Security::None,
            folder: "INBOX".into(),
            user: dovecot::USER.into(),
            password: "Sbagliata-123!".into(),
        });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(pecdesk::mail::receipts::read(
            &work.path().join("store.db"),
            &source,
        ))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("rifiutato"), "{text}");
    assert!(!text.contains("Sbagliata-123!"), "{text}");
}

#[test]
fn receipts_from_a_maildir_are_read_without_moving_anything() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("store.db");
    let members = store_with_reminders(&db);
    let maildir = work.path().join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    std::fs::write(
        maildir.join("new/1.a.host"),
        receipt(0, &message_id(0), Kind::Accettazione, 1),
    )
    .unwrap();
    std::fs::write(
        maildir.join("cur/2.b.host:2,S"),
        receipt(1, &message_id(1), Kind::ErroreConsegna, 2),
    )
    .unwrap();
    let source = pecdesk::mail::receipts::ReceiptSource::Maildir(maildir.clone());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let summary = rt
        .block_on(pecdesk::mail::receipts::read(&db, &source))
        .unwrap();
    assert_eq!((summary.read, summary.stored, summary.matched), (2, 2, 2));
    let again = rt
        .block_on(pecdesk::mail::receipts::read(&db, &source))
        .unwrap();
    // The files read are remembered: the next round reads none of them, even
    // when a mail client has moved one to cur/ and flagged it meanwhile.
    assert_eq!((again.read, again.stored), (0, 0));
    std::fs::rename(
        maildir.join("new/1.a.host"),
        maildir.join("cur/1.a.host:2,S"),
    )
    .unwrap();
    std::fs::write(
        maildir.join("new/3.c.host"),
        receipt(2, &message_id(2), Kind::Accettazione, 3),
    )
    .unwrap();
    let third = rt
        .block_on(pecdesk::mail::receipts::read(&db, &source))
        .unwrap();
    assert_eq!((third.read, third.stored), (1, 1));
    assert!(maildir.join("cur/1.a.host:2,S").exists());
    let store = Store::open(&db).unwrap();
    assert_eq!(kinds(&store, members[1]), ["errore-consegna"]);
    assert_eq!(
        store.undelivered_reminders().unwrap()[0].member_id,
        members[1]
    );
    // `pecdesk report` counts the member whose PEC came back.
    let settings = pecdesk::domain::summary::Settings {
        lang: pecdesk::i18n::Lang::It,
        pec_domain: "pec.example.it".into(),
        ordine: "Ordine".into(),
        cutover: None,
    };
    let report =
        pecdesk::report::Report::from_store(&store, &settings, chrono::Utc::now()).unwrap();
    assert_eq!(
        report.states.get(pecdesk::domain::Category::PecUndelivered),
        1
    );
    assert!(report.to_json().contains("\"pec_undelivered\": 1"));
}
