//! Backups with SQLite's online backup API (a consistent copy while the
//! console or a bulk job writes), checked before they are trusted; and
//! restore, which keeps the store it replaces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{Result, Store, StoreError};

/// What a backup wrote and found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupReport {
    pub path: PathBuf,
    pub integrity: String,
    pub head: super::ChainHead,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// Where the store that was replaced now is (None: there was none).
    pub previous: Option<PathBuf>,
    pub head: super::ChainHead,
}

fn backup_err(message: String) -> StoreError {
    StoreError::Backup(message)
}

impl Store {
    /// Copies the store to `out` (replaced atomically), with the store's mode
    /// and group; then opens the copy and checks its integrity and its audit
    /// chain. A copy that fails either is removed and the error says why.
    pub fn backup_to(&self, out: &Path) -> Result<BackupReport> {
        let dir = out
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let temp = tempfile::Builder::new()
            .prefix(".pecdesk-backup-")
            .tempfile_in(dir)
            .map_err(|source| StoreError::Io {
                path: out.to_path_buf(),
                source,
            })?;
        let to_err = super::sql_error(out);
        {
            let mut copy = Connection::open(temp.path()).map_err(&to_err)?;
            let backup = rusqlite::backup::Backup::new(&self.conn, &mut copy).map_err(&to_err)?;
            // Whole database in one step: a page-by-page copy restarts each
            // time a writer changes the source, and a busy office never lets
            // it finish. One step holds a read transaction: a snapshot.
            let started = std::time::Instant::now();
            loop {
                use rusqlite::backup::StepResult;
                match backup.step(-1).map_err(&to_err)? {
                    StepResult::Done => break,
                    StepResult::More | StepResult::Busy | StepResult::Locked
                        if started.elapsed() < super::BUSY_TIMEOUT =>
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    _ => {
                        return Err(backup_err(
                            "l'archivio è rimasto bloccato da un'altra sessione: copia non fatta"
                                .into(),
                        ));
                    }
                }
            }
            drop(backup);
            // The copy is a plain rollback-journal file: one file to carry.
            copy.execute_batch("PRAGMA journal_mode = DELETE")
                .map_err(&to_err)?;
        }
        super::shared::copy_mode(&self.path, temp.path())?;
        let check = Connection::open_with_flags(temp.path(), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(&to_err)?;
        let integrity: String = check
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(&to_err)?;
        if integrity != "ok" {
            return Err(backup_err(format!(
                "la copia non supera il controllo di integrità: {integrity}"
            )));
        }
        let report = super::chain::verify(&check).map_err(&to_err)?;
        if let Some(broken) = report.broken {
            return Err(backup_err(format!(
                "la catena degli eventi della copia non regge: {broken}"
            )));
        }
        drop(check);
        temp.persist(out).map_err(|e| StoreError::Io {
            path: out.to_path_buf(),
            source: e.error,
        })?;
        Ok(BackupReport {
            path: out.to_path_buf(),
            integrity,
            head: report.head,
        })
    }
}

/// Replaces the store at `path` with the backup `input`, after checking that
/// it is a pecdesk store of a schema this build knows, sound, with an intact
/// chain. The current store is kept beside it as `NAME.prima-del-ripristino-TIMESTAMP`.
pub fn restore(path: &Path, input: &Path) -> Result<RestoreReport> {
    let to_err = super::sql_error(input);
    let not_ours = || StoreError::NotADatabase {
        path: input.to_path_buf(),
    };
    let check = Connection::open_with_flags(input, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|_| not_ours())?;
    let version: i64 = check
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|_| not_ours())?;
    let has_events: bool = check
        .query_row(
            "SELECT COUNT(*) = 2 FROM sqlite_schema WHERE type = 'table' AND name IN ('events', 'members')",
            [],
            |r| r.get(0),
        )
        .map_err(|_| not_ours())?;
    if version == 0 || !has_events {
        return Err(not_ours());
    }
    if version > Store::schema_version() {
        return Err(StoreError::NewerSchema {
            path: input.to_path_buf(),
            found: version,
            known: Store::schema_version(),
        });
    }
    let integrity: String = check
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(&to_err)?;
    if integrity != "ok" {
        return Err(backup_err(format!(
            "{} non supera il controllo di integrità: {integrity}",
            input.display()
        )));
    }
    if version == Store::schema_version() {
        let report = super::chain::verify(&check).map_err(&to_err)?;
        if let Some(broken) = report.broken {
            return Err(backup_err(format!(
                "la catena degli eventi di {} non regge: {broken}",
                input.display()
            )));
        }
    }
    drop(check);
    let mut previous = None;
    if path.exists() {
        // Fold the WAL in, so the kept file is the whole store.
        let current = Store::open(path)?;
        current
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(current.err())?;
        drop(current);
        let mut kept = path.as_os_str().to_owned();
        kept.push(format!(
            ".prima-del-ripristino-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S")
        ));
        let kept = PathBuf::from(kept);
        std::fs::rename(path, &kept).map_err(|source| StoreError::Io {
            path: kept.clone(),
            source,
        })?;
        for stale in super::shared::store_files(path).iter().skip(1) {
            let _ = std::fs::remove_file(stale);
        }
        previous = Some(kept);
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temp = tempfile::Builder::new()
        .prefix(".pecdesk-restore-")
        .tempfile_in(dir)
        .map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    std::fs::copy(input, temp.path()).map_err(|source| StoreError::Io {
        path: input.to_path_buf(),
        source,
    })?;
    if let Some(kept) = &previous {
        super::shared::copy_mode(kept, temp.path())?;
    }
    temp.persist(path).map_err(|e| StoreError::Io {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    let store = Store::open(path)?;
    Ok(RestoreReport {
        previous,
        head: store.chain_head()?,
    })
}
