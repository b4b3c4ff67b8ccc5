//! `pecdesk export --format inipec`: the update for the national registry
//! since the last file pecdesk wrote, or with `--all` every position.
//!
//! The file follows inipec.gov.it, "Come mandare i dati": one position per
//! line, fields separated by `;` and kept when empty, no header line. Where the
//! page is silent (see the README): UTF-8 without BOM, CRLF line ends, dates
//! `dd/mm/yyyy`. Values are written as they are, never quoted nor escaped: a
//! position whose values the layout cannot carry is held back and named
//! (`domain::inipec`).
//!
//! The ledger records a file only once it is completely written: the bytes go
//! to a temporary file that is synced and renamed over the target (mode
//! 0600), and only then is the ledger updated, in one transaction. A write
//! that fails leaves the ledger as it was; a ledger that cannot be updated
//! removes the file, so that no unrecorded file is ever sent.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{ExportError, write_temporary};
use crate::domain::inipec::{self, IniPecCode, IniPecPlan, IniPecRow, Position};
use crate::store::{LedgerError, NewIniPecFile, Store, StoreError};

/// What the next file would hold, and the ledger it was planned against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub plan: IniPecPlan,
    /// Every position (`--all`) or the update.
    pub all: bool,
    planned_after: Option<i64>,
}

impl PlannedFile {
    /// A plan made outside a store (the console's snapshots).
    #[cfg(test)]
    pub(crate) fn for_tests(plan: IniPecPlan) -> Self {
        Self {
            plan,
            all: false,
            planned_after: None,
        }
    }

    /// "2: 12 (nuove posizioni) · 1: 3 (aggiornamenti) · 3: 1 (cancellazioni)".
    pub fn counts_text(&self) -> String {
        IniPecCode::ALL
            .iter()
            .map(|&code| {
                format!(
                    "{}: {} ({})",
                    code.digit(),
                    self.plan.count(code),
                    code.label_it()
                )
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// Why an INI-PEC file was not written or not recorded.
#[derive(Debug, thiserror::Error)]
pub enum IniPecError {
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Busy(#[from] crate::lock::LockError),
    #[error("{} è stato scritto ma non registrato, ed è stato rimosso: {source}", path.display())]
    NotRecorded {
        path: std::path::PathBuf,
        source: LedgerError,
    },
}

/// Plans the next file from the roster and the ledger in `store`.
pub fn plan_file(store: &Store, all: bool) -> Result<PlannedFile, StoreError> {
    let members = store.all_members()?;
    let (ledger, planned_after) = store.inipec_ledger()?;
    let positions = members.iter().map(|(_, member, in_albo)| Position {
        member,
        in_albo: *in_albo,
    });
    Ok(PlannedFile {
        plan: inipec::plan(positions, &ledger, all),
        all,
        planned_after,
    })
}

/// The bytes of the file: one line per row, CRLF.
pub fn render(rows: &[IniPecRow]) -> Vec<u8> {
    let mut out = String::with_capacity(rows.len() * 96);
    let date = |out: &mut String, day: Option<chrono::NaiveDate>| {
        if let Some(day) = day {
            out.push_str(&crate::i18n::format_date(day));
        }
    };
    for row in rows {
        for (_, value) in row.texts() {
            out.push_str(value);
            out.push(';');
        }
        out.push(char::from(b'0' + row.code.digit()));
        out.push(';');
        date(&mut out, row.data_iscrizione);
        out.push(';');
        date(&mut out, row.data_cancellazione);
        out.push_str("\r\n");
    }
    out.into_bytes()
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Test-only fault injection: abort the process (as a kill -9 would stop it)
/// at `staged` (after the staging record, before the rename) or `renamed`
/// (after the rename, before the ledger's record).
pub const ABORT_AT_ENV: &str = "PECDESK_TEST_ABORT_INIPEC";

fn abort_at(moment: &str) {
    if std::env::var(ABORT_AT_ENV).is_ok_and(|at| at == moment) {
        std::process::abort();
    }
}

/// Writes `planned` to `path` (atomically, 0600), then records it in the
/// ledger. Returns the id of the recorded file.
///
/// The file is staged in the store before its rename (its hash and both
/// paths), so that a process stopped after the rename and before the record
/// is resolved by [`recover_interrupted`] rather than leaving a file on disk
/// that the ledger does not know.
pub fn write_file(
    store: &mut Store,
    path: &Path,
    planned: &PlannedFile,
    operator: &str,
    at: DateTime<Utc>,
) -> Result<i64, IniPecError> {
    let bytes = render(&planned.plan.rows);
    let sha256 = sha256_hex(&bytes);
    let (temp, ()) = write_temporary(path, |out| out.write_all(&bytes))?;
    let shown = path.display().to_string();
    let mut file = NewIniPecFile {
        path: &shown,
        operator,
        at,
        full_load: planned.all,
        sha256: &sha256,
        planned_after: planned.planned_after,
        staged: None,
    };
    let temp_shown = temp.path().display().to_string();
    let staged = store
        .stage_inipec_file(&file, &temp_shown)
        .map_err(|source| IniPecError::NotRecorded {
            path: path.to_path_buf(),
            source,
        })?;
    file.staged = Some(staged);
    abort_at("staged");
    if let Err(e) = temp.persist(path) {
        // Nothing reached its place (the temporary file goes with `e`).
        store.unstage_inipec_file(staged)?;
        return Err(ExportError::Write {
            path: path.to_path_buf(),
            source: e.error,
        }
        .into());
    }
    abort_at("renamed");
    store
        .record_inipec_file(&file, &planned.plan.rows)
        .map_err(|source| {
            // Never leave a file that the ledger does not know was sent.
            let _ = std::fs::remove_file(path);
            IniPecError::NotRecorded {
                path: path.to_path_buf(),
                source,
            }
        })
}

/// The rows of a file as [`render`] wrote them; `None` when the bytes are not
/// such a file.
pub fn parse_rendered(bytes: &[u8]) -> Option<Vec<IniPecRow>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let date = |text: &str| -> Option<Option<chrono::NaiveDate>> {
        if text.is_empty() {
            Some(None)
        } else {
            chrono::NaiveDate::parse_from_str(text, "%d/%m/%Y")
                .ok()
                .map(Some)
        }
    };
    let mut rows = Vec::new();
    for line in text.split_terminator("\r\n") {
        let fields: Vec<&str> = line.split(';').collect();
        let [
            pec,
            nome,
            cognome,
            numero,
            cf,
            code,
            iscrizione,
            cancellazione,
        ] = fields[..]
        else {
            return None;
        };
        let code = code.parse::<i64>().ok().and_then(IniPecCode::from_digit)?;
        rows.push(IniPecRow {
            code,
            pec: pec.to_string(),
            nome: nome.to_string(),
            cognome: cognome.to_string(),
            numero_iscrizione: numero.to_string(),
            codice_fiscale: cf.to_string(),
            data_iscrizione: date(iscrizione)?,
            data_cancellazione: date(cancellazione)?,
        });
    }
    Some(rows)
}

/// What [`recover_interrupted`] did with a file an earlier run left staged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// The file was in place, whole: recorded now, as the ledger's file `id`.
    Recorded { path: String, id: i64, rows: usize },
    /// The file never reached its place (or was changed since): dropped, its
    /// rows stay to send.
    Discarded { path: String },
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovered::Recorded { path, id, rows } => write!(
                f,
                "il file INI-PEC {path} ({rows} righe) era stato scritto da un'esportazione interrotta: ora è registrato (n. {id})"
            ),
            Recovered::Discarded { path } => write!(
                f,
                "il file INI-PEC {path} non era stato completato da un'esportazione interrotta: scartato, le sue righe restano da inviare"
            ),
        }
    }
}

/// Resolves the files an earlier export left between writing and record
/// (killed in between): a file in place whose bytes have the staged hash is
/// recorded, with the rows read back from it; any other is discarded, and
/// its temporary file removed. Run under the INI-PEC lock, before planning.
pub fn recover_interrupted(
    store: &mut Store,
    operator: &str,
) -> Result<Vec<Recovered>, IniPecError> {
    let mut done = Vec::new();
    for staged in store.staged_inipec_files()? {
        let whole = std::fs::read(&staged.path)
            .ok()
            .filter(|bytes| sha256_hex(bytes) == staged.sha256)
            .and_then(|bytes| parse_rendered(&bytes));
        let Some(rows) = whole else {
            let _ = std::fs::remove_file(&staged.temp_path);
            store.discard_staged_inipec_file(&staged, operator, Utc::now())?;
            done.push(Recovered::Discarded { path: staged.path });
            continue;
        };
        let file = NewIniPecFile {
            path: &staged.path,
            operator: &staged.operator,
            at: staged.written_at,
            full_load: staged.full_load,
            sha256: &staged.sha256,
            planned_after: staged.planned_after,
            staged: Some(staged.id),
        };
        let id = match store.record_inipec_file(&file, &rows) {
            Ok(id) => id,
            Err(LedgerError::Moved) => {
                // Another file went in after this one was planned: as for a
                // write, a file the ledger cannot take is not left on disk.
                let _ = std::fs::remove_file(&staged.path);
                store.discard_staged_inipec_file(&staged, operator, Utc::now())?;
                done.push(Recovered::Discarded { path: staged.path });
                continue;
            }
            Err(LedgerError::Store(e)) => return Err(e.into()),
        };
        done.push(Recovered::Recorded {
            path: staged.path,
            id,
            rows: rows.len(),
        });
    }
    Ok(done)
}

/// [`write_file`] under the store's INI-PEC lock: two exports of one store
/// never run at once (the ledger also refuses a file planned against an
/// older ledger).
pub fn write_locked(
    store: &mut Store,
    path: &Path,
    planned: &PlannedFile,
    operator: &str,
    at: DateTime<Utc>,
) -> Result<i64, IniPecError> {
    let _lock = crate::lock::try_lock(store.path(), LOCK)?;
    // A file left by an interrupted export is recorded first; if it was, the
    // plan is stale and the ledger refuses it (regenerate the update).
    for recovered in recover_interrupted(store, operator)? {
        tracing::warn!("{recovered}");
    }
    write_file(store, path, planned, operator, at)
}

/// [`plan_file`] after resolving what an interrupted export left, when the
/// INI-PEC lock is free (else another export is running, which resolves it).
pub fn plan_file_recovering(
    store: &mut Store,
    all: bool,
    operator: &str,
) -> Result<(PlannedFile, Vec<Recovered>), IniPecError> {
    let recovered = match crate::lock::try_lock(store.path(), LOCK) {
        Ok(_lock) => recover_interrupted(store, operator)?,
        Err(_) => Vec::new(),
    };
    Ok((plan_file(store, all)?, recovered))
}

/// The name of the lock beside the store.
pub const LOCK: &str = "inipec";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn rows_are_written_as_the_registry_lists_its_fields() {
        let row = |code, iscr, canc| IniPecRow {
            code,
            pec: "anna.rossi@pec.fofi.it".into(),
            nome: "Anna".into(),
            cognome: "D'Angelo".into(),
            numero_iscrizione: String::new(),
            codice_fiscale: "DNGNNA80A41H501Y".into(),
            data_iscrizione: iscr,
            data_cancellazione: canc,
        };
        let bytes = render(&[
            row(IniPecCode::New, NaiveDate::from_ymd_opt(2010, 3, 1), None),
            row(
                IniPecCode::Cancel,
                None,
                NaiveDate::from_ymd_opt(2026, 11, 2),
            ),
        ]);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "anna.rossi@pec.fofi.it;Anna;D'Angelo;;DNGNNA80A41H501Y;2;01/03/2010;\r\n\
             anna.rossi@pec.fofi.it;Anna;D'Angelo;;DNGNNA80A41H501Y;3;;02/11/2026\r\n"
        );
        let rows = [
            row(IniPecCode::New, NaiveDate::from_ymd_opt(2010, 3, 1), None),
            row(
                IniPecCode::Cancel,
                None,
                NaiveDate::from_ymd_opt(2026, 11, 2),
            ),
        ];
        assert_eq!(parse_rendered(&render(&rows)).unwrap(), rows);
        assert_eq!(parse_rendered(b""), Some(Vec::new()));
        assert_eq!(parse_rendered(b"a;b;c\r\n"), None);
        assert_eq!(sha256_hex(b"abc").len(), 64);
        assert!(sha256_hex(b"abc").starts_with("ba7816bf"));
    }
}
