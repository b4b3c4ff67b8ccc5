//! PEC receipts: stored once per source message (`source_key`), matched to the
//! reminder they answer by the original Message-ID, and where each source
//! (an IMAP folder) was read up to.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Result, Store, StoreError, parse_opt_ts, parse_ts, ts};

/// Migration: where each IMAP folder was read up to. A folder's UIDs are
/// only valid with its UIDVALIDITY: when that changes, it is read again from
/// the start (the receipts' `source_key` keeps the stored ones from repeating).
pub const MIGRATION: &str = r#"
    CREATE TABLE receipt_sources (
        source       TEXT PRIMARY KEY,        -- imap://user@host:port/folder
        uidvalidity  INTEGER NOT NULL,
        last_uid     INTEGER NOT NULL,
        updated_at   TEXT NOT NULL
    );
"#;

/// Migration: the files of each Maildir already read (their unique part,
/// without flags), so that a round reads only what arrived since.
pub const MAILDIR_MIGRATION: &str = r#"
    CREATE TABLE maildir_seen (
        source TEXT NOT NULL,   -- maildir:<directory>
        name   TEXT NOT NULL,
        PRIMARY KEY (source, name)
    ) WITHOUT ROWID;
"#;

/// How far a source was read, stored with the batch read from it.
#[derive(Debug, Clone, Copy)]
pub enum ReadProgress<'a> {
    /// An IMAP folder, read up to a UID.
    Folder(&'a str, ReceiptCursor),
    /// A Maildir: these files were read.
    Files(&'a str, &'a [String]),
}

/// A receipt read and parsed, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReceipt {
    /// Where it was read: never stored twice.
    pub source_key: String,
    /// The original message's Message-ID, without angle brackets.
    pub message_id: String,
    /// daticert's `tipo`.
    pub kind: String,
    pub at: Option<DateTime<Utc>>,
    pub provider_id: Option<String>,
    pub recipient: Option<String>,
    pub error: Option<String>,
    /// The kept original, relative to the data directory.
    pub file: Option<String>,
}

/// How far an IMAP folder has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiptCursor {
    pub uidvalidity: u32,
    pub last_uid: u32,
}

/// What storing a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReceiptsStored {
    /// New receipts stored.
    pub stored: usize,
    /// Of those, matched to a reminder.
    pub matched: usize,
    /// Of those, matching no reminder (stored with no reminder).
    pub unmatched: usize,
    /// Already stored before: left alone.
    pub duplicates: usize,
    /// Of the new ones, non-deliveries.
    pub not_delivered: usize,
}

/// A receipt as stored, with the member it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredReceipt {
    pub id: i64,
    pub reminder_id: Option<i64>,
    pub member_id: Option<i64>,
    pub message_id: String,
    pub kind: String,
    pub at: Option<DateTime<Utc>>,
    pub provider_id: Option<String>,
    pub recipient: Option<String>,
    pub error: Option<String>,
    pub file: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// A member whose last PEC reminder came back undelivered: to chase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Undelivered {
    pub member_id: i64,
    pub cognome: String,
    pub nome: String,
    pub pec: String,
    pub kind: String,
    pub error: Option<String>,
    pub at: Option<DateTime<Utc>>,
}

const FAILURE_TYPES: [&str; 4] = [
    "non-accettazione",
    "errore-consegna",
    "preavviso-errore-consegna",
    "rilevazione-virus",
];
const TYPES_NOT_DELIVERED: &str =
    "'non-accettazione', 'errore-consegna', 'preavviso-errore-consegna', 'rilevazione-virus'";

impl Store {
    /// Where `source` was read up to, if ever.
    pub fn receipt_cursor(&self, source: &str) -> Result<Option<ReceiptCursor>> {
        self.conn
            .query_row(
                "SELECT uidvalidity, last_uid FROM receipt_sources WHERE source = ?1",
                [source],
                |row| {
                    Ok(ReceiptCursor {
                        uidvalidity: row.get(0)?,
                        last_uid: row.get(1)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// The files of the Maildir `source` already read.
    pub fn maildir_seen(&self, source: &str) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name FROM maildir_seen WHERE source = ?1")
            .map_err(self.err())?;
        let names = stmt
            .query_map([source], |row| row.get(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        Ok(names)
    }

    /// Stores a batch of receipts and, with it, how far `source` was read, in
    /// one transaction: a crash leaves either both or neither.
    pub fn record_receipts(
        &mut self,
        receipts: &[NewReceipt],
        progress: Option<ReadProgress<'_>>,
        now: DateTime<Utc>,
    ) -> Result<ReceiptsStored> {
        let path = self.path.clone();
        let err = move |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&err)?;
        let mut outcome = ReceiptsStored::default();
        {
            let mut find = tx
                .prepare_cached("SELECT id FROM reminders WHERE message_id = ?1")
                .map_err(&err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO receipts (reminder_id, message_id, kind, at, provider_id,
                         recipient, error, source_key, file, received_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT(source_key) DO NOTHING",
                )
                .map_err(&err)?;
            let received = ts(now);
            for r in receipts {
                let reminder: Option<i64> = find
                    .query_row([&r.message_id], |row| row.get(0))
                    .optional()
                    .map_err(&err)?;
                let inserted = insert
                    .execute(params![
                        reminder,
                        r.message_id,
                        r.kind,
                        r.at.map(ts),
                        r.provider_id,
                        r.recipient,
                        r.error,
                        r.source_key,
                        r.file,
                        received,
                    ])
                    .map_err(&err)?;
                if inserted == 0 {
                    outcome.duplicates += 1;
                } else {
                    outcome.stored += 1;
                    if FAILURE_TYPES.contains(&r.kind.as_str()) {
                        outcome.not_delivered += 1;
                    }
                    if reminder.is_some() {
                        outcome.matched += 1;
                    } else {
                        outcome.unmatched += 1;
                    }
                }
            }
        }
        if let Some(ReadProgress::Files(source, names)) = progress {
            let mut seen = tx
                .prepare_cached(
                    "INSERT INTO maildir_seen (source, name) VALUES (?1, ?2)
                     ON CONFLICT DO NOTHING",
                )
                .map_err(&err)?;
            for name in names {
                seen.execute(params![source, name]).map_err(&err)?;
            }
        }
        if let Some(ReadProgress::Folder(source, cursor)) = progress {
            tx.execute(
                "INSERT INTO receipt_sources (source, uidvalidity, last_uid, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(source) DO UPDATE SET uidvalidity = excluded.uidvalidity,
                     last_uid = excluded.last_uid, updated_at = excluded.updated_at",
                params![source, cursor.uidvalidity, cursor.last_uid, ts(now)],
            )
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(outcome)
    }

    /// Every receipt of a member's reminders, oldest first.
    pub fn member_receipts(&self, member_id: i64) -> Result<Vec<StoredReceipt>> {
        self.select_receipts("WHERE m.member_id = ?1", [member_id])
    }

    /// Every receipt stored, oldest first (matched or not).
    pub fn all_receipts(&self) -> Result<Vec<StoredReceipt>> {
        self.select_receipts("", [])
    }

    fn select_receipts(
        &self,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<StoredReceipt>> {
        let sql = format!(
            "SELECT r.id, r.reminder_id, m.member_id, r.message_id, r.kind, r.at,
                    r.provider_id, r.recipient, r.error, r.file, r.received_at
             FROM receipts r LEFT JOIN reminders m ON m.id = r.reminder_id
             {filter} ORDER BY r.id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(args, |row| {
                Ok((
                    StoredReceipt {
                        id: row.get(0)?,
                        reminder_id: row.get(1)?,
                        member_id: row.get(2)?,
                        message_id: row.get(3)?,
                        kind: row.get(4)?,
                        at: None,
                        provider_id: row.get(6)?,
                        recipient: row.get(7)?,
                        error: row.get(8)?,
                        file: row.get(9)?,
                        received_at: DateTime::<Utc>::MIN_UTC,
                    },
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, String>(10)?,
                ))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(mut r, at, received)| {
                r.at = parse_opt_ts(at)?;
                r.received_at = parse_ts(&received)?;
                Ok(r)
            })
            .collect()
    }

    /// Members whose latest PEC reminder has a non-delivery receipt and no
    /// delivery: their mailbox is full, gone or refused the message.
    pub fn undelivered_reminders(&self) -> Result<Vec<Undelivered>> {
        let sql = format!(
            "SELECT mb.id, mb.cognome, mb.nome, mb.pec, r.kind, r.error, r.at
             FROM reminders m
             JOIN members mb ON mb.id = m.member_id
             JOIN receipts r ON r.reminder_id = m.id AND r.kind IN ({TYPES_NOT_DELIVERED})
             WHERE m.channel = 'pec'
               AND m.id = (SELECT id FROM reminders l WHERE l.member_id = m.member_id
                           AND l.channel = 'pec' ORDER BY l.created_at DESC, l.id DESC LIMIT 1)
               AND NOT EXISTS (SELECT 1 FROM receipts d WHERE d.reminder_id = m.id
                               AND d.kind = 'avvenuta-consegna')
               AND r.id = (SELECT max(x.id) FROM receipts x WHERE x.reminder_id = m.id
                           AND x.kind IN ({TYPES_NOT_DELIVERED}))
             ORDER BY mb.cognome, mb.nome, mb.id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    Undelivered {
                        member_id: row.get(0)?,
                        cognome: row.get(1)?,
                        nome: row.get(2)?,
                        pec: row.get(3)?,
                        kind: row.get(4)?,
                        error: row.get(5)?,
                        at: None,
                    },
                    row.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(mut u, at)| {
                u.at = parse_opt_ts(at)?;
                Ok(u)
            })
            .collect()
    }
}
