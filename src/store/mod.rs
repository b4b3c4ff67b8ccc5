//! The store: one SQLite file (WAL, foreign keys, versioned migrations) holding
//! the roster, the mailbox states seen at sync, and the append-only event log.

mod aruba;
mod backup;
mod chain;
pub mod digest;
mod entries;
mod events;
mod inipec;
mod jobs;
mod mail_schema;
mod outreach;
mod privacy;
mod receipts;
mod reminders;
mod roster;
mod rows;
mod schema;
mod shared;
mod summary;
mod sync;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;

pub use aruba::{ArubaSyncOutcome, ArubaSyncRun};
pub use backup::{BackupReport, RestoreReport, restore};
pub use chain::{ChainBreak, ChainHead, ChainReport};
pub use events::{Event, EventKind, NewEvent, Outcome};
pub use inipec::{IniPecFile, LedgerEntry, LedgerError, NewIniPecFile, StagedIniPecFile};
pub use jobs::{
    ActionResult, Job, JobCounts, JobItem, JobKind, JobStatus, MailboxChange, NewJobItem,
};
pub use outreach::{
    MemberOutreach, OUTREACH_DAYS, Outreach, OutreachWeek, ReminderTrail, TrailReceipt,
};
pub use privacy::{AccessReport, ForgetReport, Subject};
pub use receipts::{
    NewReceipt, ReadProgress, ReceiptCursor, ReceiptsStored, StoredReceipt, Undelivered,
};
pub use reminders::{
    CampaignItem, DoubtDecision, InDoubtReminder, LastReminder, NewCampaign, NewReminder,
    ReminderOutcome, ReminderState,
};
pub use roster::{
    ABORT_AFTER_ROWS_ENV, ChangeKind, IMPORT_CACHE_KIB, IncomingRoster, MemberUpsert,
    PREVIEW_CHANGES_KEPT, PlannedChange, ProvidedFields, RosterEnd, RosterEntry, RosterFeed,
    RosterPlanner, RosterPreview, RosterWriter, plan_import, preview_roster,
};
pub use rows::{ArubaRow, MailboxRow, RosterRow, RosterRows, Scratch, summarize_rows};
pub use shared::{StoreMode, check_store_mode, create_group_store};
pub use summary::summarize;
pub use sync::{BatchSource, ReportRun, SyncBatch, SyncCheckpoint, SyncOutcome, SyncRun};

/// Errors of the store, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("impossibile creare o aprire l'archivio {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} non è un archivio SQLite di pecdesk")]
    NotADatabase { path: PathBuf },
    #[error(
        "l'archivio {path} ha la versione di schema {found}, più recente di quella che questo pecdesk conosce ({known}): aggiornare pecdesk"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("errore dell'archivio {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("dato non valido nell'archivio: {0}")]
    Corrupt(String),
    /// A complete report that lists none of the stored mailboxes: more likely
    /// the wrong file than every mailbox gone.
    #[error(
        "{file}: il report non contiene nessuna delle {stored} caselle in archivio; nessuna casella rimossa (usare --partial se il report elenca solo alcune caselle)"
    )]
    ReportRemovesAll { file: String, stored: usize },
    #[error("{0}")]
    Access(#[from] shared::AccessError),
    #[error("nessun iscritto corrisponde a \"{0}\" (codice fiscale o PEC)")]
    NoSuchMember(String),
    #[error("{0}")]
    Backup(String),
    /// Another process holds the store's write lock for longer than
    /// [`BUSY_TIMEOUT`]: a first import, which keeps readers out while it
    /// runs (see the README's speed section), or a long write.
    #[error(
        "l'archivio {path} è occupato da un'altra operazione (ad esempio una prima importazione dell'albo in corso): riprovare tra qualche istante"
    )]
    Busy { path: PathBuf },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// How long a writer waits for another process holding the lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Page size of a new store, in bytes (SQLite's default is 4 KiB).
const PAGE_SIZE: u32 = 16 * 1024;

/// An open store. Not `Sync`: each thread or task opens its own.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// The store's default location in the user's data directory.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("it", "pecdesk", "pecdesk")
            .map(|dirs| dirs.data_dir().join("pecdesk.db"))
    }

    /// Opens (creating if needed, owner-only) and migrates the store at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        create_private_file(path)?;
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        // After configure, which tells a file that is not SQLite at all.
        shared::check_store_mode(path)?;
        store.migrate()?;
        let to_err = sql_error(path);
        chain::seal_legacy(&mut store.conn).map_err(to_err)?;
        Ok(store)
    }

    /// The head of the audit chain: its event count, last id and hash.
    pub fn chain_head(&self) -> Result<ChainHead> {
        chain::head(&self.conn).map_err(self.err())
    }

    /// Walks the audit chain and names the first event that breaks it.
    pub fn verify_chain(&self) -> Result<ChainReport> {
        chain::verify(&self.conn).map_err(self.err())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| match source {
            rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::NotADatabase => {
                StoreError::NotADatabase {
                    path: self.path.clone(),
                }
            }
            source => sql_error(&self.path)(source),
        }
    }

    fn configure(&mut self) -> Result<()> {
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(self.err())?;
        // Takes effect only on a file with no tables yet: a new store. Larger
        // pages mean fewer B-tree splits and WAL frames when a 100k-row roster
        // goes in, and fewer pages to read at start (measured: import 0.84 s
        // -> 0.70 s, console load 367 -> 266 ms at 100k, against 4 KiB).
        self.conn
            .execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE}"))
            .map_err(self.err())?;
        // The first statement that reads the file tells us whether it is SQLite at all.
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(self.err())?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(mode, "WAL journal mode not available");
        }
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
            .map_err(self.err())
    }

    /// The schema version this build writes.
    pub fn schema_version() -> i64 {
        schema::MIGRATIONS.len() as i64
    }

    fn migrate(&mut self) -> Result<()> {
        let known = Self::schema_version();
        let found: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(self.err())?;
        if found > known {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found,
                known,
            });
        }
        if found == known {
            return Ok(());
        }
        let to_err = sql_error(&self.path);
        // A migration may rebuild a table others reference (SQLite's 12-step
        // procedure): foreign keys are off while migrating (they cannot be
        // switched inside a transaction) and checked before the commit.
        self.conn
            .execute_batch("PRAGMA foreign_keys = OFF")
            .map_err(&to_err)?;
        let migrated = self.migrate_from_version();
        self.conn
            .execute_batch("PRAGMA foreign_keys = ON")
            .map_err(&to_err)?;
        migrated
    }

    fn migrate_from_version(&mut self) -> Result<()> {
        use rusqlite::OptionalExtension;
        let to_err = sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        // Re-read inside the write lock: another process may have migrated meanwhile.
        let found: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(&to_err)?;
        for (index, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(sql).map_err(&to_err)?;
            tx.pragma_update(None, "user_version", index as i64 + 1)
                .map_err(&to_err)?;
        }
        let dangling: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()
            .map_err(&to_err)?;
        if let Some(table) = dangling {
            return Err(StoreError::Corrupt(format!(
                "migrazione: riferimenti non validi nella tabella {table}"
            )));
        }
        tx.commit().map_err(&to_err)
    }

    /// Runs `PRAGMA integrity_check` and returns its verdict ("ok" when sound).
    pub fn integrity_check(&self) -> Result<String> {
        self.conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.err())
    }
}

/// Maps SQLite errors to [`StoreError`] naming `path`; usable while `self` is
/// mutably borrowed by a transaction.
fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + 'static {
    let path = path.to_path_buf();
    move |source| match source {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::DatabaseBusy => {
            StoreError::Busy { path: path.clone() }
        }
        source => StoreError::Sqlite {
            path: path.clone(),
            source,
        },
    }
}

/// Creates the file with mode 0600 if it does not exist, and its directory.
fn create_private_file(path: &Path) -> Result<()> {
    let io_err = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_err(e)),
    }
}

/// RFC 3339 in UTC, lossless so that a state read back compares equal.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub(crate) fn parse_ts(text: &str) -> Result<DateTime<Utc>> {
    parse_own_ts(text)
        .or_else(|| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .ok_or_else(|| StoreError::Corrupt(format!("data e ora non valida: {text}")))
}

/// The format [`ts`] writes (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`), read without
/// the general RFC 3339 parser: loading 100k mailboxes parses half a million
/// of these.
fn parse_own_ts(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + (c - b'0') as u32)
        })
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &b[19..];
    let (nanos, tail) = match rest.first() {
        Some(b'.') => {
            let digits = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            let value = num(20..20 + digits)?;
            (value * 10u32.pow(9 - digits as u32), &rest[1 + digits..])
        }
        _ => (0, rest),
    };
    if tail != b"Z" {
        return None;
    }
    date.and_hms_nano_opt(hour, minute, second, nanos)
        .map(|t| t.and_utc())
}

pub(crate) fn parse_opt_ts(text: Option<String>) -> Result<Option<DateTime<Utc>>> {
    text.as_deref().map(parse_ts).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_migrates_an_empty_file_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("store.db");
        let store = Store::open(&path).unwrap();
        let version: i64 = store
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, Store::schema_version());
        let mode: String = store
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let page_size: u32 = store
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, PAGE_SIZE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        // Reopening an up-to-date store is a no-op.
        Store::open(&path).unwrap();
    }

    #[test]
    fn timestamps_round_trip_fast_and_slow_path() {
        use chrono::TimeZone;
        let whole = Utc.with_ymd_and_hms(2026, 11, 22, 9, 5, 7).unwrap();
        for at in [
            whole,
            whole + chrono::TimeDelta::milliseconds(120),
            whole + chrono::TimeDelta::nanoseconds(123_456_789),
        ] {
            assert_eq!(parse_ts(&ts(at)).unwrap(), at);
            assert_eq!(parse_own_ts(&ts(at)), Some(at));
        }
        // Other RFC 3339 forms still parse, through chrono.
        assert_eq!(parse_ts("2026-11-22T10:05:07+01:00").unwrap(), whole);
        assert!(parse_ts("2026-13-22T10:05:07Z").is_err());
        assert!(parse_ts("ieri").is_err());
    }

    #[test]
    fn refuses_a_file_that_is_not_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, b"this is not a database, just some text........").unwrap();
        let before = std::fs::read(&path).unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.db");
        drop(Store::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = Store::open(&path).unwrap_err();
        assert!(
            matches!(err, StoreError::NewerSchema { found: 99, .. }),
            "{err}"
        );
    }
}
