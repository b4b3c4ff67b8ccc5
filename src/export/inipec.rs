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

use super::{ExportError, write_atomically};
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

/// Writes `planned` to `path` (atomically, 0600), then records it in the
/// ledger. Returns the id of the recorded file.
pub fn write_file(
    store: &mut Store,
    path: &Path,
    planned: &PlannedFile,
    operator: &str,
    at: DateTime<Utc>,
) -> Result<i64, IniPecError> {
    let bytes = render(&planned.plan.rows);
    let sha256 = sha256_hex(&bytes);
    write_atomically(path, |out| out.write_all(&bytes))?;
    let shown = path.display().to_string();
    let file = NewIniPecFile {
        path: &shown,
        operator,
        at,
        full_load: planned.all,
        sha256: &sha256,
        planned_after: planned.planned_after,
    };
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
    write_file(store, path, planned, operator, at)
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
        assert_eq!(sha256_hex(b"abc").len(), 64);
        assert!(sha256_hex(b"abc").starts_with("ba7816bf"));
    }
}
