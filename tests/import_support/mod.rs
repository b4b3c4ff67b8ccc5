//! Helpers for the import tests: the real binary in an isolated home, rosters,
//! and a snapshot of the store to compare before and after.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pecdesk::domain::Member;
use pecdesk::import::{CsvStyle, roster_csv};
use pecdesk::sample::generate_roster;
use pecdesk::store::Store;

/// A temporary home for one test: store path and files beside it.
pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db(&self) -> PathBuf {
        self.path("pecdesk.db")
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `pecdesk --db <db> import <args>`.
    pub fn import_command(&self, args: &[&str]) -> Command {
        let mut command = self.pecdesk(&["import"]);
        command.args(args);
        command
    }

    /// `pecdesk --db <db> <args>` with config and data directories inside
    /// the workspace.
    pub fn pecdesk(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pecdesk"));
        command
            .arg("--db")
            .arg(self.db())
            .args(args)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("PECDESK_OPERATOR", "prova")
            .env_remove("PECDESK_PROVIDER_URL")
            .env_remove("PECDESK_PROVIDER_TOKEN");
        command
    }

    pub fn import(&self, args: &[&str]) -> Output {
        self.import_command(args).output().unwrap()
    }

    /// Runs an import that must succeed and returns its JSON summary.
    pub fn import_json(&self, args: &[&str]) -> serde_json::Value {
        let mut args = args.to_vec();
        args.push("--json");
        let output = self.import(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
    }
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn members(count: usize, seed: u64) -> Vec<Member> {
    generate_roster(count, seed, "pec.fofi.it")
}

/// The roster as Excel writes it in Italy (Windows-1252, `;`, CRLF).
pub fn excel(members: &[Member]) -> Vec<u8> {
    roster_csv(members, CsvStyle::EXCEL_IT)
}

/// Everything an import may change, to compare a store before and after.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub members: Vec<(i64, Member, bool)>,
    pub events: i64,
}

pub fn snapshot(db: &Path) -> Snapshot {
    let store = Store::open(db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    Snapshot {
        members: store.all_members().unwrap(),
        events: store.event_count().unwrap(),
    }
}
