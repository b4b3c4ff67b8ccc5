//! The INI-PEC ledger: what pecdesk has sent to the registry. For each
//! position (keyed by codice fiscale) the values last sent, their Stato code
//! and the file they went in; and the files written, each with its counts and
//! the SHA-256 of its bytes. A file is recorded only once it is completely
//! written (see `export::inipec`), in one transaction with its audit event.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::events::{EventKind, NewEvent, append};
use super::{Result, Store, StoreError, parse_ts, sql_error, ts};
use crate::domain::inipec::{IniPecCode, IniPecRow, SentPosition};

/// Sets the leaving day of members already out of the albo when the column
/// is added: the day of the event that recorded their leaving (UTC), else of
/// their last change.
macro_rules! backfill_left_on {
    () => {
        "UPDATE members SET left_on = COALESCE(
            (SELECT substr(max(e.at), 1, 10) FROM events e
             WHERE e.member_id = members.id
               AND (e.detail LIKE 'rimosso dall''albo%'
                    OR e.detail LIKE '%(già cancellato dall''albo)')),
            substr(updated_at, 1, 10))
        WHERE in_roster = 0 AND left_on IS NULL;"
    };
}

/// The schema: the day a member left the albo (see [`backfill_left_on`]),
/// the files written and the positions sent.
pub(super) const MIGRATION: &str = concat!(
    "ALTER TABLE members ADD COLUMN left_on TEXT;",
    backfill_left_on!(),
    r#"
    CREATE TABLE inipec_files (
        id          INTEGER PRIMARY KEY,
        written_at  TEXT NOT NULL,
        path        TEXT NOT NULL,
        operator    TEXT NOT NULL,
        full_load   INTEGER NOT NULL,
        new_count   INTEGER NOT NULL,
        update_count INTEGER NOT NULL,
        cancel_count INTEGER NOT NULL,
        sha256      TEXT NOT NULL
    );
    CREATE TABLE inipec_positions (
        codice_fiscale    TEXT PRIMARY KEY,
        pec               TEXT NOT NULL,
        nome              TEXT NOT NULL,
        cognome           TEXT NOT NULL,
        numero_iscrizione TEXT NOT NULL,
        stato             INTEGER NOT NULL CHECK (stato IN (1, 2, 3)),
        file_id           INTEGER NOT NULL REFERENCES inipec_files(id)
    ) WITHOUT ROWID;
"#
);

/// Schema: a file written but not yet renamed into place and recorded. Kept
/// from before the rename until the ledger records it, so that a process
/// killed in between leaves a trace the next export resolves: the file in
/// place with the staged hash is recorded then; otherwise it never was
/// complete and is discarded (its rows stay to send). No personal data: the
/// rows are read back from the file itself.
pub(super) const STAGED_MIGRATION: &str = r#"
    CREATE TABLE inipec_staged (
        id            INTEGER PRIMARY KEY,
        written_at    TEXT NOT NULL,
        path          TEXT NOT NULL,
        temp_path     TEXT NOT NULL,
        operator      TEXT NOT NULL,
        full_load     INTEGER NOT NULL,
        sha256        TEXT NOT NULL,
        planned_after INTEGER
    );
"#;

/// A file staged by [`Store::stage_inipec_file`] and not yet recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedIniPecFile {
    pub id: i64,
    pub written_at: DateTime<Utc>,
    pub path: String,
    /// Where the bytes were written before the rename.
    pub temp_path: String,
    pub operator: String,
    pub full_load: bool,
    pub sha256: String,
    pub planned_after: Option<i64>,
}

/// An INI-PEC file pecdesk wrote and recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IniPecFile {
    pub id: i64,
    pub written_at: DateTime<Utc>,
    pub path: String,
    pub operator: String,
    /// Written with `--all`.
    pub full_load: bool,
    pub new: usize,
    pub updated: usize,
    pub cancelled: usize,
    /// Of the file's bytes, hex: what was sent can be proven later.
    pub sha256: String,
}

/// A file about to be recorded.
#[derive(Debug, Clone)]
pub struct NewIniPecFile<'a> {
    pub path: &'a str,
    pub operator: &'a str,
    pub at: DateTime<Utc>,
    pub full_load: bool,
    pub sha256: &'a str,
    /// The last file recorded when the rows were planned: if another file
    /// went in since, the rows may repeat it, and nothing is recorded.
    pub planned_after: Option<i64>,
    /// The staging record the file was written under, cleared when it is
    /// recorded ([`Store::stage_inipec_file`]).
    pub staged: Option<i64>,
}

/// One position of the ledger, with the file it last went in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub sent: SentPosition,
    pub file_id: i64,
    pub sent_at: DateTime<Utc>,
}

/// Why a file could not be recorded.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(
        "un altro file INI-PEC è stato registrato mentre questo veniva scritto: rigenerare l'aggiornamento"
    )]
    Moved,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn last_file(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT max(id) FROM inipec_files", [], |r| r.get(0))
}

/// A write transaction on the ledger, refused when another file was recorded
/// since the rows were planned (`planned_after`).
fn ledger_transaction<'c>(
    conn: &'c mut Connection,
    path: &std::path::Path,
    planned_after: Option<i64>,
) -> std::result::Result<rusqlite::Transaction<'c>, LedgerError> {
    let to_err = sql_error(path);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(&to_err)?;
    if last_file(&tx).map_err(&to_err)? != planned_after {
        return Err(LedgerError::Moved);
    }
    Ok(tx)
}

impl Store {
    /// The ledger: every position sent, by codice fiscale, and the id of the
    /// last file recorded (to pass back to [`Store::record_inipec_file`]).
    pub fn inipec_ledger(&self) -> Result<(HashMap<String, SentPosition>, Option<i64>)> {
        let conn = &self.conn;
        let read = || -> rusqlite::Result<_> {
            let count: i64 =
                conn.query_row("SELECT COUNT(*) FROM inipec_positions", [], |r| r.get(0))?;
            let mut ledger = HashMap::with_capacity(usize::try_from(count).unwrap_or_default());
            let mut stmt = conn.prepare(
                "SELECT codice_fiscale, pec, nome, cognome, numero_iscrizione, stato
                 FROM inipec_positions",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                let stato: i64 = row.get(5)?;
                let code = IniPecCode::from_digit(stato).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        5,
                        rusqlite::types::Type::Integer,
                        StoreError::Corrupt(format!("Stato INI-PEC {stato}")).into(),
                    )
                })?;
                ledger.insert(
                    row.get(0)?,
                    SentPosition {
                        pec: row.get(1)?,
                        nome: row.get(2)?,
                        cognome: row.get(3)?,
                        numero_iscrizione: row.get(4)?,
                        code,
                    },
                );
            }
            Ok((ledger, last_file(conn)?))
        };
        read().map_err(self.err())
    }

    /// The ledger's entry for one codice fiscale.
    pub fn inipec_position(&self, codice_fiscale: &str) -> Result<Option<LedgerEntry>> {
        self.conn
            .query_row(
                "SELECT p.pec, p.nome, p.cognome, p.numero_iscrizione, p.stato, p.file_id,
                 f.written_at
                 FROM inipec_positions p JOIN inipec_files f ON f.id = p.file_id
                 WHERE p.codice_fiscale = ?1",
                [codice_fiscale],
                |r| {
                    Ok((
                        SentPosition {
                            pec: r.get(0)?,
                            nome: r.get(1)?,
                            cognome: r.get(2)?,
                            numero_iscrizione: r.get(3)?,
                            code: IniPecCode::from_digit(r.get(4)?).unwrap_or(IniPecCode::Update),
                        },
                        r.get::<_, i64>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err())?
            .map(|(sent, file_id, at)| {
                Ok(LedgerEntry {
                    sent,
                    file_id,
                    sent_at: parse_ts(&at)?,
                })
            })
            .transpose()
    }

    /// The INI-PEC files recorded, newest first.
    pub fn inipec_files(&self) -> Result<Vec<IniPecFile>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, written_at, path, operator, full_load, new_count, update_count,
                 cancel_count, sha256 FROM inipec_files ORDER BY id DESC",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                    [r.get::<_, i64>(5)?, r.get(6)?, r.get(7)?],
                    r.get::<_, String>(8)?,
                ))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(
                |(id, at, path, operator, full_load, [new, updated, cancelled], sha256)| {
                    Ok(IniPecFile {
                        id,
                        written_at: parse_ts(&at)?,
                        path,
                        operator,
                        full_load,
                        new: new as usize,
                        updated: updated as usize,
                        cancelled: cancelled as usize,
                        sha256,
                    })
                },
            )
            .collect()
    }

    /// Records a file completely written with `rows`: the file, each row's
    /// values as the position's last sent, and an audit event, in one
    /// transaction. Refused when another file was recorded since the rows
    /// were planned ([`NewIniPecFile::planned_after`]).
    pub fn record_inipec_file(
        &mut self,
        file: &NewIniPecFile<'_>,
        rows: &[IniPecRow],
    ) -> std::result::Result<i64, LedgerError> {
        let to_err = sql_error(&self.path);
        let tx = ledger_transaction(&mut self.conn, &self.path, file.planned_after)?;
        if let Some(staged) = file.staged {
            tx.execute("DELETE FROM inipec_staged WHERE id = ?1", [staged])
                .map_err(&to_err)?;
        }
        let count = |code| rows.iter().filter(|r| r.code == code).count();
        let (new, updated, cancelled) = (
            count(IniPecCode::New),
            count(IniPecCode::Update),
            count(IniPecCode::Cancel),
        );
        tx.execute(
            "INSERT INTO inipec_files (written_at, path, operator, full_load, new_count,
             update_count, cancel_count, sha256) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                ts(file.at),
                file.path,
                file.operator,
                file.full_load,
                new as i64,
                updated as i64,
                cancelled as i64,
                file.sha256
            ],
        )
        .map_err(&to_err)?;
        let file_id = tx.last_insert_rowid();
        {
            let mut upsert = tx
                .prepare(
                    "INSERT INTO inipec_positions (codice_fiscale, pec, nome, cognome,
                     numero_iscrizione, stato, file_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (codice_fiscale) DO UPDATE SET pec = ?2, nome = ?3,
                     cognome = ?4, numero_iscrizione = ?5, stato = ?6, file_id = ?7",
                )
                .map_err(&to_err)?;
            for row in rows {
                upsert
                    .execute(params![
                        row.codice_fiscale,
                        row.pec,
                        row.nome,
                        row.cognome,
                        row.numero_iscrizione,
                        row.code.digit(),
                        file_id
                    ])
                    .map_err(&to_err)?;
            }
        }
        append(
            &tx,
            &NewEvent {
                at: file.at,
                operator: file.operator.to_string(),
                kind: EventKind::Action,
                member_id: None,
                mailbox: None,
                detail: format!(
                    "file INI-PEC {}{}: {new} nuove posizioni (2), {updated} aggiornamenti (1), {cancelled} cancellazioni (3); SHA-256 {}",
                    file.path,
                    if file.full_load { " (completo)" } else { "" },
                    file.sha256
                ),
                outcome: None,
            },
        )
        .map_err(&to_err)?;
        tx.commit().map_err(&to_err)?;
        Ok(file_id)
    }
}

impl Store {
    /// Notes, before its rename, a file about to be recorded (see
    /// [`STAGED_MIGRATION`]). Refused, like the record itself, when another
    /// file was recorded since the rows were planned.
    pub fn stage_inipec_file(
        &mut self,
        file: &NewIniPecFile<'_>,
        temp_path: &str,
    ) -> std::result::Result<i64, LedgerError> {
        let to_err = sql_error(&self.path);
        let tx = ledger_transaction(&mut self.conn, &self.path, file.planned_after)?;
        tx.execute(
            "INSERT INTO inipec_staged (written_at, path, temp_path, operator, full_load,
             sha256, planned_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                ts(file.at),
                file.path,
                temp_path,
                file.operator,
                file.full_load,
                file.sha256,
                file.planned_after
            ],
        )
        .map_err(&to_err)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(&to_err)?;
        Ok(id)
    }

    /// Files staged and never recorded: a process stopped between the
    /// staging and the record (oldest first).
    pub fn staged_inipec_files(&self) -> Result<Vec<StagedIniPecFile>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, written_at, path, temp_path, operator, full_load, sha256,
                 planned_after FROM inipec_staged ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    StagedIniPecFile {
                        id: r.get(0)?,
                        written_at: DateTime::<Utc>::MIN_UTC,
                        path: r.get(2)?,
                        temp_path: r.get(3)?,
                        operator: r.get(4)?,
                        full_load: r.get(5)?,
                        sha256: r.get(6)?,
                        planned_after: r.get(7)?,
                    },
                ))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(at, staged)| {
                Ok(StagedIniPecFile {
                    written_at: parse_ts(&at)?,
                    ..staged
                })
            })
            .collect()
    }

    /// Drops a staging record whose file failed to reach its place (the
    /// failure is reported to whoever wrote it).
    pub fn unstage_inipec_file(&mut self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM inipec_staged WHERE id = ?1", [id])
            .map(drop)
            .map_err(self.err())
    }

    /// Drops a staged file that never reached its place, with an event
    /// saying so: its rows were not recorded and stay to send.
    pub fn discard_staged_inipec_file(
        &mut self,
        staged: &StagedIniPecFile,
        operator: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let to_err = sql_error(&self.path);
        let tx = self.conn.transaction().map_err(&to_err)?;
        tx.execute("DELETE FROM inipec_staged WHERE id = ?1", [staged.id])
            .map_err(&to_err)?;
        append(
            &tx,
            &NewEvent {
                at,
                operator: operator.to_string(),
                kind: EventKind::Action,
                member_id: None,
                mailbox: None,
                detail: format!(
                    "file INI-PEC {} interrotto prima di essere completato: scartato, le sue righe restano da inviare",
                    staged.path
                ),
                outcome: None,
            },
        )
        .map_err(&to_err)?;
        tx.commit().map_err(&to_err)
    }
}

/// Drops a member's position from the ledger (erasure: the ledger holds their
/// codice fiscale and PEC).
pub(super) fn forget_position(conn: &Connection, member_id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM inipec_positions WHERE codice_fiscale =
         (SELECT codice_fiscale FROM members WHERE id = ?1)",
        [member_id],
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;
    use crate::domain::Member;
    use crate::sample::generate_roster;
    use crate::store::IncomingRoster;

    fn day(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    fn left_days(store: &Store) -> Vec<Option<NaiveDate>> {
        (store.all_members().unwrap().into_iter())
            .map(|(_, m, _)| m.data_cancellazione)
            .collect()
    }

    #[test]
    fn the_leaving_day_is_set_once_from_the_file_or_the_import_and_cleared_on_return() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let members = generate_roster(4, 31, "pec.fofi.it");
        // 23:30 UTC on 1 Nov is already 2 Nov in Italy.
        let first = Utc.with_ymd_and_hms(2026, 11, 1, 23, 30, 0).unwrap();
        let later = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        let mut import = |incoming: IncomingRoster<'_>, at| {
            store
                .upsert_members(&incoming, "anna", "albo.csv", at)
                .unwrap()
        };
        import(IncomingRoster::full(&members), first);
        import(IncomingRoster::full(&members[..2]), first);
        let mut cancelled: Vec<Member> = members[2..].to_vec();
        // The file's own Data cancellazione wins for the fourth; the third,
        // already out and listed without a date, keeps the day it left.
        cancelled[1].data_cancellazione = day(2026, 10, 15);
        let outcome = import(
            IncomingRoster {
                members: &members[..2],
                left_albo: &cancelled,
                ..IncomingRoster::default()
            },
            later,
        );
        assert_eq!((outcome.updated, outcome.unchanged), (1, 3));
        assert_eq!(
            left_days(&store),
            [None, None, day(2026, 11, 2), day(2026, 10, 15)]
        );
        // Still absent later: the day does not move.
        store
            .upsert_members(&IncomingRoster::full(&members[..2]), "anna", "a.csv", later)
            .unwrap();
        assert_eq!(left_days(&store)[2], day(2026, 11, 2));
        // Back in the albo: cleared. A new member already out: the import's day.
        let mut newcomer = generate_roster(5, 32, "pec.fofi.it").pop().unwrap();
        newcomer.codice_fiscale = crate::domain::codice_fiscale::complete("ZZZZZZ80A01H501");
        store
            .upsert_members(
                &IncomingRoster {
                    members: &members[..3],
                    left_albo: std::slice::from_ref(&newcomer),
                    ..IncomingRoster::default()
                },
                "anna",
                "b.csv",
                later,
            )
            .unwrap();
        assert_eq!(
            left_days(&store),
            [None, None, None, day(2026, 10, 15), day(2026, 11, 20)]
        );
    }

    #[test]
    fn a_store_from_before_gets_the_leaving_day_of_the_event_that_recorded_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let members = generate_roster(3, 33, "pec.fofi.it");
        let left_at = Utc.with_ymd_and_hms(2026, 3, 4, 10, 0, 0).unwrap();
        store
            .upsert_members(&IncomingRoster::full(&members), "anna", "a.csv", left_at)
            .unwrap();
        store
            .upsert_members(
                &IncomingRoster::full(&members[..2]),
                "anna",
                "b.csv",
                left_at,
            )
            .unwrap();
        // As before the column: no day, and a later change of the member.
        store
            .conn
            .execute_batch(
                "UPDATE members SET left_on = NULL;
                 UPDATE members SET updated_at = '2026-09-01T08:00:00Z' WHERE in_roster = 0;",
            )
            .unwrap();
        store.conn.execute_batch(backfill_left_on!()).unwrap();
        assert_eq!(left_days(&store), [None, None, day(2026, 3, 4)]);
    }

    #[test]
    fn a_file_planned_against_an_older_ledger_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let row = |cf: &str, code| IniPecRow {
            code,
            pec: format!("{cf}@pec.fofi.it").to_lowercase(),
            nome: "Anna".into(),
            cognome: "Rossi".into(),
            numero_iscrizione: "1".into(),
            codice_fiscale: cf.into(),
            data_iscrizione: None,
            data_cancellazione: None,
        };
        let file = |planned_after| NewIniPecFile {
            path: "inipec.csv",
            operator: "anna",
            at: Utc::now(),
            full_load: false,
            sha256: "00",
            planned_after,
            staged: None,
        };
        let (ledger, last) = store.inipec_ledger().unwrap();
        assert!(ledger.is_empty() && last.is_none());
        let id = store
            .record_inipec_file(&file(None), &[row("A", IniPecCode::New)])
            .unwrap();
        let err = store
            .record_inipec_file(&file(None), &[row("B", IniPecCode::New)])
            .unwrap_err();
        assert!(matches!(err, LedgerError::Moved), "{err}");
        store
            .record_inipec_file(&file(Some(id)), &[row("A", IniPecCode::Cancel)])
            .unwrap();
        let (ledger, _) = store.inipec_ledger().unwrap();
        assert_eq!(ledger.len(), 1);
        assert_eq!(ledger["A"].code, IniPecCode::Cancel);
        let entry = store.inipec_position("A").unwrap().unwrap();
        assert_eq!(entry.file_id, id + 1);
        let files = store.inipec_files().unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!((files[0].cancelled, files[1].new), (1, 1));
    }
}
