//! Nothing lost: the import is one transaction, so a process that dies in the
//! middle of it (abort, SIGKILL) leaves the store exactly as it was.

mod import_support;

use std::time::Instant;

use import_support::*;
use pecdesk::store::ABORT_AFTER_ROWS_ENV;

/// A store with a first roster, and a second roster that changes every kind
/// of thing: updates, new members, and (being full) removals.
fn prepared(ws: &Workspace, rows: usize) -> std::path::PathBuf {
    let first = members(rows, 7);
    ws.write("primo.csv", excel(&first[..rows / 2]));
    ws.import_json(&["primo.csv"]);
    let mut second = first[rows / 4..].to_vec();
    for m in second.iter_mut().step_by(3) {
        m.email_servizio = Some(format!("{}@libero.it", m.codice_fiscale.to_lowercase()));
    }
    ws.write("secondo.csv", excel(&second))
}

/// Imports `file` with the process aborting after `rows` writes inside the
/// transaction, and checks that it died before its summary.
fn aborted_import(ws: &Workspace, file: &std::path::Path, rows: usize) {
    let output = ws
        .import_command(&[file.to_str().unwrap()])
        .env(ABORT_AFTER_ROWS_ENV, rows.to_string())
        .output()
        .unwrap();
    assert!(!output.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(output.status.signal(), Some(6), "died of SIGABRT");
    }
    assert!(output.stdout.is_empty(), "it never got to the summary");
}

#[test]
fn an_abort_in_the_middle_of_the_transaction_leaves_the_store_as_it_was() {
    let ws = Workspace::new();
    let file = prepared(&ws, 20_000);
    let before = snapshot(&ws.db());
    aborted_import(&ws, &file, 12_000);
    let wal = std::fs::metadata(ws.path("pecdesk.db-wal")).map_or(0, |m| m.len());
    assert!(
        wal > 0,
        "uncommitted pages had reached the WAL when the process died"
    );
    assert_eq!(snapshot(&ws.db()), before);

    // The store still works: the same import now goes through.
    let json = ws.import_json(&["secondo.csv"]);
    assert_eq!(json["new"], 10_000);
    assert_ne!(snapshot(&ws.db()), before);
}

/// The names of the store's indexes.
fn indexes(db: &std::path::Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' ORDER BY name")
        .unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.map(Result::unwrap).collect()
}

#[test]
fn an_abort_in_the_middle_of_a_first_import_leaves_the_store_empty_and_indexed() {
    // A first import drops the indexes it fills in random order and creates
    // them again before its commit: all inside its transaction.
    let ws = Workspace::new();
    drop(pecdesk::store::Store::open(&ws.db()).unwrap());
    let before = (snapshot(&ws.db()), indexes(&ws.db()));
    assert!(
        before.1.contains(&"members_pec".to_string()),
        "{:?}",
        before.1
    );
    let file = ws.write("albo.csv", excel(&members(20_000, 8)));
    aborted_import(&ws, &file, 15_000);
    assert_eq!((snapshot(&ws.db()), indexes(&ws.db())), before);

    let json = ws.import_json(&[file.to_str().unwrap()]);
    assert_eq!(json["new"], 20_000);
    assert_eq!(indexes(&ws.db()), before.1, "created again");
}

#[test]
fn a_kill_at_any_moment_is_all_or_nothing() {
    let ws = Workspace::new();
    let file = prepared(&ws, 10_000);
    // The CLI closed the store cleanly, so the WAL is checkpointed and gone:
    // copying the file copies the store.
    assert!(!ws.path("pecdesk.db-wal").exists());
    let pristine = ws.path("pristine.db");
    std::fs::copy(ws.db(), &pristine).unwrap();
    let before = snapshot(&ws.db());
    let restore = || {
        for suffix in ["-wal", "-shm"] {
            std::fs::remove_file(ws.path(&format!("pecdesk.db{suffix}"))).ok();
        }
        std::fs::copy(&pristine, ws.db()).unwrap();
    };

    // How long the whole import takes here, to aim the kills inside it.
    restore();
    let started = Instant::now();
    ws.import_json(&[file.to_str().unwrap()]);
    let full = started.elapsed();
    let after = snapshot(&ws.db());
    assert_ne!(after, before);

    let mut killed_before_the_end = 0;
    for fifth in 1..5 {
        restore();
        let mut child = ws
            .import_command(&[file.to_str().unwrap()])
            .spawn()
            .unwrap();
        std::thread::sleep(full * fifth / 5);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let now = snapshot(&ws.db());
        assert!(
            now == before || now == after,
            "a part of an import after a kill at {fifth}/5"
        );
        if !finished {
            killed_before_the_end += 1;
        }
    }
    assert!(
        killed_before_the_end > 0,
        "no kill landed before the end ({full:?})"
    );
}

/// The store after a first import died: a hot rollback journal, which the
/// next open rolls back. Checks that the store opens, is in WAL again, holds
/// no member, and that `pecdesk audit verify` passes on it.
fn rolled_back_first_import(ws: &Workspace, before: &(Snapshot, Vec<String>)) {
    let journal = ws.path("pecdesk.db-journal");
    assert!(
        std::fs::metadata(&journal).is_ok_and(|m| m.len() > 0),
        "the first import ran with a rollback journal, left hot"
    );
    let verify = ws.pecdesk(&["audit", "verify"]).output().unwrap();
    assert!(verify.status.success(), "{}", stderr(&verify));
    assert!(!journal.exists(), "rolled back and deleted at the open");
    assert_eq!((snapshot(&ws.db()), indexes(&ws.db())), *before);
    let store = pecdesk::store::Store::open(&ws.db()).unwrap();
    assert_eq!(store.member_count().unwrap(), 0);
    assert_eq!(store.verify_chain().unwrap().broken, None);
    drop(store);
    let conn = rusqlite::Connection::open(ws.db()).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_first_import_killed_in_the_middle_rolls_back_its_journal_at_the_next_open() {
    let ws = Workspace::new();
    drop(pecdesk::store::Store::open(&ws.db()).unwrap());
    let before = (snapshot(&ws.db()), indexes(&ws.db()));
    let empty_size = std::fs::metadata(ws.db()).unwrap().len();
    let file = ws.write("albo.csv", excel(&members(60_000, 9)));

    // Aborted inside the transaction, pages already written to the store.
    aborted_import(&ws, &file, 15_000);
    assert!(std::fs::metadata(ws.db()).unwrap().len() > empty_size);
    rolled_back_first_import(&ws, &before);

    // Killed (SIGKILL) inside its transaction: once the journal has the
    // pages it changed (the store's own pages reach the file only when the
    // import's cache spills, at the commit for this size).
    let journal = ws.path("pecdesk.db-journal");
    let mut child = ws
        .import_command(&[file.to_str().unwrap()])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::metadata(&journal).map_or(0, |m| m.len()) == 0 {
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        assert!(started.elapsed().as_secs() < 60, "no journal");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    rolled_back_first_import(&ws, &before);

    // And the same import now goes through, in WAL afterwards.
    let json = ws.import_json(&[file.to_str().unwrap()]);
    assert_eq!(json["new"], 60_000);
    assert!(!ws.path("pecdesk.db-journal").exists());
}
