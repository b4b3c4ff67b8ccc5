//! Who did it and what is kept: the OS account in the trail, the hash chain
//! and its verification, erasure, access requests, backups; through the real
//! binary on real stores, with the provider simulator on loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::import::{CsvStyle, roster_csv};
use pecdesk::provider::sim::{self, Faults, SimConfig, SimHandle};
use pecdesk::store::{EventKind, Store};

const TOKEN: &str = "gdpr-test-token";

struct Office {
    dir: tempfile::TempDir,
    sim: SimHandle,
    members: Vec<Member>,
}

impl Office {
    /// A store with `count` members imported and synced, and a resend done.
    async fn new(count: usize, latency_ms: u64) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let members = pecdesk::sample::generate_roster(count, 1515, DEFAULT_PEC_DOMAIN);
        let mut config = SimConfig::new(TOKEN);
        config.faults = Faults {
            latency: Duration::from_millis(latency_ms),
            ..Faults::default()
        };
        let sim = sim::start(&members, config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let office = Self { dir, sim, members };
        std::fs::write(
            office.path("config.toml"),
            "operator = \"Nome Finto\"\nmax_per_second = 0\n",
        )
        .unwrap();
        office.roster("albo.csv", &office.members);
        office.ok(&["import", "albo.csv"]);
        office.ok(&["sync"]);
        office
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn db(&self) -> PathBuf {
        self.path("pecdesk.db")
    }

    fn roster(&self, name: &str, members: &[Member]) {
        std::fs::write(self.path(name), roster_csv(members, CsvStyle::EXCEL_IT)).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pecdesk"));
        command
            .arg("--db")
            .arg(self.db())
            .arg("--config")
            .arg(self.path("config.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("XDG_DATA_HOME", self.path("data"))
            .env("PECDESK_PROVIDER_URL", self.sim.base_url())
            .env("PECDESK_PROVIDER_TOKEN", TOKEN)
            .env("PECDESK_OPERATOR", "collega-altrui")
            .env("USER", "collega-altrui")
            .env("LOGNAME", "collega-altrui")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "pecdesk {args:?}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

fn os_account() -> String {
    pecdesk::identity::os_account().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_carry_the_os_account_whatever_name_is_configured() {
    let office = Office::new(30, 0).await;
    office.ok(&["resend", "--yes"]);
    let store = Store::open(&office.db()).unwrap();
    let events = store.events_since(None).unwrap();
    assert!(events.iter().any(|e| e.kind == EventKind::Action));
    for e in &events {
        // PECDESK_OPERATOR wins over the config's name, as a display name;
        // the account is the system's, not $USER.
        assert_eq!(e.account, os_account(), "{e:?}");
        assert_ne!(e.account, "collega-altrui");
        assert_eq!(e.operator, "collega-altrui", "{e:?}");
    }
}

/// Drops the append-only triggers and runs `sql` on a copy of the store.
fn tampered(office: &Office, name: &str, sql: &str) -> PathBuf {
    let copy = office.path(name);
    let store = Store::open(&office.db()).unwrap();
    store.backup_to(&copy).unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.execute_batch(
        "DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
    copy
}

fn verify(office: &Office, db: &Path) -> (Option<i32>, String) {
    let output = office
        .command(&["audit", "verify"])
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_holds_after_work_and_names_what_was_tampered_with() {
    let office = Office::new(60, 0).await;
    office.ok(&["resend", "--yes"]);
    let mut changed = office.members.clone();
    changed[3].cellulare = Some("+393471234567".into());
    office.roster("albo2.csv", &changed[..50]);
    office.ok(&["import", "albo2.csv"]);
    office.ok(&["sync", "--full"]);
    let (code, out) = verify(&office, &office.db());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Catena integra"), "{out}");
    let count = Store::open(&office.db()).unwrap().event_count().unwrap();
    assert!(count > 100, "{count}");
    // The head is printed by report and audit export.
    let head = Store::open(&office.db()).unwrap().chain_head().unwrap();
    assert!(office.ok(&["report"]).contains(&head.hash));
    assert!(
        office
            .ok(&["audit", "export", "--out", "a.csv"])
            .contains(&head.hash)
    );

    let edited = tampered(
        &office,
        "edited.db",
        "UPDATE events SET operator = 'x' WHERE id = 40",
    );
    let (code, out) = verify(&office, &edited);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("n. 40 è stato modificato"), "{out}");

    let personal = tampered(
        &office,
        "personal.db",
        "UPDATE events SET detail = 'altro' WHERE id = 12",
    );
    let (code, out) = verify(&office, &personal);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("n. 12 è stato modificato"), "{out}");

    let deleted = tampered(&office, "deleted.db", "DELETE FROM events WHERE id = 25");
    let (code, out) = verify(&office, &deleted);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("tra il n. 24 e il n. 26"), "{out}");

    let last_removed = tampered(
        &office,
        "last.db",
        &format!("DELETE FROM events WHERE id = {count}"),
    );
    let (code, out) = verify(&office, &last_removed);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("rimossi dopo"), "{out}");

    // Slipped in between 49 and 50, the later ones renumbered to make room.
    let inserted = tampered(
        &office,
        "inserted.db",
        "UPDATE events SET id = -id WHERE id >= 50;
         UPDATE events SET id = 1 - id WHERE id < 0;
         INSERT INTO events (id, at, operator, account, kind, detail, digest, hash)
             SELECT 50, at, operator, account, kind, 'falso', digest, hash FROM events WHERE id = 49;",
    );
    let (code, out) = verify(&office, &inserted);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("n. 50 è stato inserito"), "{out}");

    let appended = tampered(
        &office,
        "appended.db",
        &format!(
            "INSERT INTO events (id, at, operator, account, kind, detail, digest, hash)
             SELECT {id}, at, operator, account, kind, 'falso', digest, hash FROM events WHERE id = {count}",
            id = count + 1
        ),
    );
    let (code, out) = verify(&office, &appended);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("n. {}, è stato modificato o aggiunto", count + 1)),
        "{out}"
    );
}

/// Where `needle` occurs in the store's files (database, WAL).
fn occurrences(db: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let Ok(bytes) = std::fs::read(PathBuf::from(name)) else {
            continue;
        };
        let needle_bytes = needle.as_bytes();
        if bytes.windows(needle_bytes.len()).any(|w| w == needle_bytes) {
            found.push(format!("{needle} in {}{suffix}", db.display()));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_leaves_no_byte_of_the_member_and_the_chain_holds() {
    let office = Office::new(40, 0).await;
    office.ok(&["resend", "--yes"]);
    let target = office.members[7].clone();
    let receipt_file = office.path("ricevuta.eml");
    std::fs::write(&receipt_file, format!("To: {}\r\n\r\nricevuta", target.pec)).unwrap();
    {
        let store = Store::open(&office.db()).unwrap();
        let id = store
            .find_subject(&target.codice_fiscale)
            .unwrap()
            .member_id;
        drop(store);
        let conn = rusqlite::Connection::open(office.db()).unwrap();
        conn.execute(
            "INSERT INTO reminders (member_id, channel, template, recipient, subject, message_id,
             state, created_at, updated_at)
             VALUES (?1, 'pec', 'migrazione', ?2, ?3, 'm1@ordine', 'sent', '2026-11-01T00:00:00Z',
             '2026-11-01T00:00:00Z')",
            rusqlite::params![id, target.pec, format!("Sollecito per {}", target.cognome)],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO receipts (reminder_id, message_id, kind, recipient, source_key, file, received_at)
             VALUES (1, 'm1@ordine', 'avvenuta-consegna', ?1, 'maildir:1', ?2, '2026-11-01T00:01:00Z')",
            rusqlite::params![target.pec, receipt_file.display().to_string()],
        )
        .unwrap();
    }
    let before = Store::open(&office.db()).unwrap().all_members().unwrap();
    let others: Vec<&Member> = before
        .iter()
        .map(|(_, m, _)| m)
        .filter(|m| m.codice_fiscale != target.codice_fiscale)
        .collect();
    // Without --yes and no terminal: refused, nothing erased.
    let refused = office.run(&["forget", &target.codice_fiscale]);
    assert!(!refused.status.success());
    let out = office.ok(&["forget", &target.pec.to_uppercase(), "--yes"]);
    assert!(out.contains("Dati personali cancellati"), "{out}");
    assert!(!receipt_file.exists());

    let mut needles = vec![target.codice_fiscale.clone(), target.pec.clone()];
    needles.extend(target.email_servizio.clone());
    needles.extend(target.cellulare.clone());
    let full_name = format!("{} {}", target.cognome, target.nome);
    if !others.iter().any(|m| m.cognome == target.cognome) {
        needles.push(target.cognome.clone());
    }
    needles.push(full_name);
    for needle in &needles {
        assert_eq!(occurrences(&office.db(), needle), Vec::<String>::new());
    }
    let store = Store::open(&office.db()).unwrap();
    let after: Vec<Member> = store
        .all_members()
        .unwrap()
        .into_iter()
        .map(|(_, m, _)| m)
        .collect();
    assert_eq!(after, others.into_iter().cloned().collect::<Vec<_>>());
    let report = store.verify_chain().unwrap();
    assert_eq!(report.broken, None);
    assert!(report.erased > 0, "{report:?}");
    assert!(
        store
            .events_since(None)
            .unwrap()
            .iter()
            .any(|e| e.kind == EventKind::Erased && e.account == os_account())
    );
    let json: serde_json::Value = serde_json::from_str(&office.ok(&["report", "--json"])).unwrap();
    assert_eq!(json["members_in_roster"], 39, "{json}");
    let (code, out) = verify(&office, &office.db());
    assert_eq!(code, Some(0), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_forgets_those_who_left_before_the_date() {
    let office = Office::new(20, 0).await;
    office.roster("albo2.csv", &office.members[..15]);
    office.ok(&["import", "albo2.csv"]);
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let yesterday = (chrono::Utc::now() - chrono::TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let out = office.ok(&["purge", "--left-before", &yesterday, "--yes"]);
    assert!(out.starts_with("0 iscritti"), "{out}");
    let out = office.ok(&["purge", "--left-before", &tomorrow, "--dry-run"]);
    assert!(out.starts_with("5 iscritti"), "{out}");
    assert_eq!(
        Store::open(&office.db())
            .unwrap()
            .all_members()
            .unwrap()
            .len(),
        20
    );
    office.ok(&["purge", "--left-before", &tomorrow, "--yes"]);
    let store = Store::open(&office.db()).unwrap();
    let left: Vec<String> = store
        .all_members()
        .unwrap()
        .into_iter()
        .map(|(_, m, _)| m.codice_fiscale)
        .collect();
    assert_eq!(
        left,
        office.members[..15]
            .iter()
            .map(|m| m.codice_fiscale.clone())
            .collect::<Vec<_>>()
    );
    for m in &office.members[15..] {
        assert!(occurrences(&office.db(), &m.codice_fiscale).is_empty());
    }
    assert_eq!(store.verify_chain().unwrap().broken, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_request_holds_every_stored_fact() {
    let office = Office::new(20, 0).await;
    office.ok(&["resend", "--yes"]);
    let target = office.members[2].clone();
    office.ok(&["access", &target.codice_fiscale, "--out", "accesso.json"]);
    let file = office.path("accesso.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let store = Store::open(&office.db()).unwrap();
    let subject = store.find_subject(&target.codice_fiscale).unwrap();
    // Every column of the member's row and of their mailbox's.
    let conn = rusqlite::Connection::open(office.db()).unwrap();
    for (table, key, value) in [
        ("members", "id", subject.member_id.to_string()),
        ("mailboxes", "address", format!("'{}'", target.pec)),
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} WHERE {key} = {value}"))
            .unwrap();
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let section = if table == "members" {
            "member"
        } else {
            "mailbox"
        };
        let mut rows = stmt.query([]).unwrap();
        let row = rows.next().unwrap().unwrap();
        for (i, name) in names.iter().enumerate() {
            if name == "audit_key" {
                assert!(json[section].get(name).is_none(), "a key is not a fact");
                continue;
            }
            let stored: rusqlite::types::Value = row.get(i).unwrap();
            let shown = &json[section][name];
            match stored {
                rusqlite::types::Value::Text(t) => assert_eq!(shown, &t, "{name}"),
                rusqlite::types::Value::Integer(n) => assert_eq!(shown, n, "{name}"),
                rusqlite::types::Value::Null => assert!(shown.is_null(), "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
    let timeline = store
        .timeline(Some(subject.member_id), Some(&target.pec))
        .unwrap();
    let ids: Vec<i64> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let mut expected: Vec<i64> = timeline.iter().map(|e| e.id).collect();
    expected.sort();
    assert_eq!(ids, expected);
    assert!(
        json["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["account"] == os_account())
    );
    assert!(timeline.iter().any(|e| e.kind == EventKind::Action));

    office.ok(&[
        "access",
        &target.pec,
        "--out",
        "accesso.html",
        "--format",
        "html",
    ]);
    let html = std::fs::read_to_string(office.path("accesso.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("lang=\"it\""));
    assert!(html.contains(&target.codice_fiscale));
    assert!(html.contains("Cronologia delle operazioni"));
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_a_bulk_job_is_sound_and_complete_and_restore_is_careful() {
    let office = Office::new(300, 20).await;
    let db = office.db();
    let mut resend = office.command(&["resend", "--yes"]);
    let child = resend
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let before = loop {
        let store = Store::open(&db).unwrap();
        let running = store.unfinished_jobs().unwrap();
        if running.first().is_some_and(|j| j.counts.done >= 20) {
            break store.event_count().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no job");
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = office.ok(&["backup", "copia.db"]);
    assert!(out.contains("catena integra"), "{out}");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let after = Store::open(&db).unwrap().event_count().unwrap();
    let copy = Store::open(&office.path("copia.db")).unwrap();
    assert_eq!(copy.integrity_check().unwrap(), "ok");
    assert_eq!(copy.verify_chain().unwrap().broken, None);
    let in_copy = copy.event_count().unwrap();
    assert!(
        in_copy >= before && in_copy < after,
        "{before} {in_copy} {after}"
    );
    let ids: Vec<i64> = copy
        .events_since(None)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, (1..=in_copy).collect::<Vec<_>>());
    drop(copy);

    // A newer schema is refused, the store stays.
    let newer = office.path("nuova.db");
    std::fs::copy(office.path("copia.db"), &newer).unwrap();
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    let refused = office.run(&["restore", "nuova.db"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("più recente"));
    let junk = office.path("junk.db");
    std::fs::write(
        &junk,
        b"not a store at all, no no no no no no no no no no no",
    )
    .unwrap();
    assert!(!office.run(&["restore", "junk.db"]).status.success());
    assert_eq!(Store::open(&db).unwrap().event_count().unwrap(), after);

    let out = office.ok(&["restore", "copia.db"]);
    assert!(out.contains("conservato in"), "{out}");
    assert_eq!(Store::open(&db).unwrap().event_count().unwrap(), in_copy);
    let kept = std::fs::read_dir(office.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .contains("prima-del-ripristino")
        })
        .expect("the previous store kept");
    assert_eq!(
        Store::open(&kept.path()).unwrap().event_count().unwrap(),
        after
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_others_can_read_is_refused() {
    let office = Office::new(5, 0).await;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(office.db(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = office.run(&["report"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("chmod o-rwx"), "{stderr}");
}

// ---- Two real OS accounts sharing a group store (root only). ----

struct OsUsers {
    group: String,
    users: Vec<String>,
}

impl Drop for OsUsers {
    fn drop(&mut self) {
        for user in &self.users {
            let _ = Command::new("userdel").arg("-r").arg(user).output();
        }
        let _ = Command::new("groupdel").arg(&self.group).output();
    }
}

fn create_users() -> Option<OsUsers> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIP: two OS accounts need root to be created (useradd, groupadd)");
        return None;
    }
    if Command::new("useradd").arg("--help").output().is_err() {
        println!("SKIP: useradd is missing");
        return None;
    }
    let tag = std::process::id();
    let users = OsUsers {
        group: format!("pdg{tag}"),
        users: vec![format!("pda{tag}"), format!("pdb{tag}")],
    };
    let ok = |c: &mut Command| c.output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok(Command::new("groupadd").arg(&users.group)));
    for user in &users.users {
        assert!(ok(Command::new("useradd").args([
            "-m",
            "-G",
            &users.group,
            user
        ])));
    }
    Some(users)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_os_accounts_share_a_group_store() {
    let Some(users) = create_users() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let everyone = pecdesk::sample::generate_roster(400, 77, DEFAULT_PEC_DOMAIN);
    let mut config = SimConfig::new(TOKEN);
    config.faults = Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    };
    let sim = sim::start(&everyone, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    // The office's directory: the group's, set-group-id, outside any home.
    let base = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = base.path().join("ufficio");
    let db = shared.join("pecdesk.db");
    let roster = base.path().join("albo.csv");
    std::fs::write(&roster, roster_csv(&everyone[..350], CsvStyle::EXCEL_IT)).unwrap();
    let roster2 = base.path().join("albo2.csv");
    std::fs::write(&roster2, roster_csv(&everyone, CsvStyle::EXCEL_IT)).unwrap();
    let config = base.path().join("config.toml");
    std::fs::write(&config, "max_per_second = 0\n").unwrap();
    for file in [&roster, &roster2, &config] {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let as_user = |user: &str, args: &[&str]| {
        let mut command = Command::new("runuser");
        command
            .args(["-u", user, "--", env!("CARGO_BIN_EXE_pecdesk"), "--db"])
            .arg(&db)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("HOME", format!("/home/{user}"))
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env("PECDESK_PROVIDER_URL", sim.base_url())
            .env("PECDESK_PROVIDER_TOKEN", TOKEN)
            .env("PECDESK_OPERATOR", "root")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    let check = |what: &str, output: Output| {
        assert!(
            output.status.success(),
            "{what}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let (anna, bruno) = (&users.users[0], &users.users[1]);
    // The store is created by root for the group, as the README says.
    let out = Command::new(env!("CARGO_BIN_EXE_pecdesk"))
        .arg("--db")
        .arg(&db)
        .args(["init", "--group", &users.group])
        .env("HOME", base.path())
        .output()
        .unwrap();
    check("init", out);
    check(
        "first import",
        as_user(anna, &["import", roster.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    check("first sync", as_user(anna, &["sync"]).output().unwrap());
    let resend = as_user(anna, &["resend", "--yes", "--json"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    let job_id = loop {
        let running = Store::open(&db)
            .ok()
            .and_then(|s| s.unfinished_jobs().ok())
            .and_then(|jobs| jobs.first().map(|j| (j.id, j.counts)));
        if let Some((id, counts)) = running
            && counts.done >= 20
        {
            break id;
        }
        // Generous: under a loaded CI machine the first twenty calls once took
        // over 30 s; the test is about overlap, not speed.
        assert!(started.elapsed() < Duration::from_secs(120), "no resend");
        std::thread::sleep(Duration::from_millis(5));
    };
    check(
        "bruno's import",
        as_user(bruno, &["import", roster2.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    check("bruno's sync", as_user(bruno, &["sync"]).output().unwrap());
    let counts = Store::open(&db).unwrap().job_counts(job_id).unwrap();
    assert!(counts.pending > 0, "no overlap: {counts:?}");
    let output = resend.wait_with_output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    check("anna's resend", output);
    let total = report["total"].as_u64().unwrap() as usize;

    use std::os::unix::fs::MetadataExt;
    let gid = pecdesk::identity::group_id(&users.group).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        if let Ok(meta) = std::fs::metadata(PathBuf::from(&name)) {
            assert_eq!(meta.gid(), gid, "{name:?}");
            assert_eq!(meta.mode() & 0o777, 0o660, "{name:?}");
        }
    }
    for user in [anna, bruno] {
        let log = PathBuf::from(format!("/home/{user}/.local/share/pecdesk/pecdesk.log"));
        let meta = std::fs::metadata(&log).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
    }
    let store = Store::open(&db).unwrap();
    assert_eq!(store.verify_chain().unwrap().broken, None);
    let events = store.events_since(None).unwrap();
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=events.len() as i64).collect::<Vec<_>>());
    let actions: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Action)
        .collect();
    assert_eq!(actions.len(), total);
    assert!(actions.iter().all(|e| &e.account == anna));
    let imported_by_bruno = events
        .iter()
        .filter(|e| e.kind == EventKind::Imported && &e.account == bruno)
        .count();
    assert_eq!(imported_by_bruno, 51);
    assert!(events.iter().all(|e| e.operator == "root"));
    assert!(
        events
            .iter()
            .all(|e| e.account == *anna || e.account == *bruno)
    );
    drop(store);

    // Opened up to everyone: refused.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o664)).unwrap();
    let output = as_user(bruno, &["report"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("chmod o-rwx"));
}
