//! The append-only event log: imports, changes seen at sync, staff actions and
//! their results. Triggers in the schema refuse UPDATE and DELETE.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::chain::{ChainWriter, Link};
use super::{Result, Store, parse_ts, ts};

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A member added by an import.
    Imported,
    /// A member's roster data changed at import.
    RosterUpdated,
    /// A change of a mailbox's state seen at sync.
    StateChanged,
    /// A staff action on a mailbox and its result.
    Action,
    /// A sync run (one event per run).
    Sync,
    /// A member's personal data erased (the event names only the pseudonym).
    Erased,
    /// A reminder campaign, or one reminder's outcome (e-mail or PEC).
    Reminder,
}

impl EventKind {
    pub fn code(self) -> &'static str {
        match self {
            EventKind::Imported => "imported",
            EventKind::RosterUpdated => "roster_updated",
            EventKind::StateChanged => "state_changed",
            EventKind::Action => "action",
            EventKind::Sync => "sync",
            EventKind::Erased => "erased",
            EventKind::Reminder => "reminder",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            EventKind::Imported,
            EventKind::RosterUpdated,
            EventKind::StateChanged,
            EventKind::Action,
            EventKind::Sync,
            EventKind::Erased,
            EventKind::Reminder,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// The result of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
}

impl Outcome {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
        }
    }
}

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub at: DateTime<Utc>,
    /// The display name (config `operator`, `PECDESK_OPERATOR`); the OS
    /// account is recorded beside it by [`append`], from the system.
    pub operator: String,
    pub kind: EventKind,
    pub member_id: Option<i64>,
    pub mailbox: Option<String>,
    /// Human-readable description, in Italian. Never a password or token.
    pub detail: String,
    pub outcome: Option<Outcome>,
}

/// An event read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The display name the operator gave.
    pub operator: String,
    /// The OS account that wrote the event ("" for events from before accounts were recorded).
    pub account: String,
    pub kind: EventKind,
    pub member_id: Option<i64>,
    pub mailbox: Option<String>,
    pub detail: String,
    pub outcome: Option<Outcome>,
}

impl Event {
    /// Who acted, as the trail proves it: the OS account, with the display
    /// name beside it when they differ (only the name for events from before
    /// accounts were recorded).
    pub fn signed_by(&self) -> String {
        match (self.account.as_str(), self.operator.as_str()) {
            ("", name) => name.to_string(),
            (account, name) if name.is_empty() || name == account => account.to_string(),
            (account, name) => format!("{account} ({name})"),
        }
    }
}

/// Appends one event to the log and to the audit chain, under the OS
/// account of this process. Runs in the caller's transaction, or in one of
/// its own: reading the chain's head and linking to it must not interleave
/// with another writer.
pub(crate) fn append(conn: &Connection, event: &NewEvent) -> rusqlite::Result<i64> {
    if !conn.is_autocommit() {
        let mut chain = ChainWriter::begin(conn)?;
        return append_linked(conn, &mut chain, event);
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result =
        ChainWriter::begin(conn).and_then(|mut chain| append_linked(conn, &mut chain, event));
    match result {
        Ok(id) => {
            conn.execute_batch("COMMIT")?;
            Ok(id)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Appends `event` as the next link of `chain` (inside a write transaction).
pub(crate) fn append_linked(
    conn: &Connection,
    chain: &mut ChainWriter,
    event: &NewEvent,
) -> rusqlite::Result<i64> {
    let (subject, key) = chain.key_for(conn, event.member_id, event.mailbox.as_deref())?;
    insert_event(conn, chain, event, &subject, &key)
}

/// Inserts `event` linked under the given subject and key.
pub(crate) fn insert_event(
    conn: &Connection,
    chain: &mut ChainWriter,
    event: &NewEvent,
    subject: &[u8],
    key: &[u8],
) -> rusqlite::Result<i64> {
    let at = ts(event.at);
    let link = Link {
        at: &at,
        account: crate::identity::os_account(),
        operator: &event.operator,
        kind: event.kind.code(),
        outcome: event.outcome.map(Outcome::code),
        member_id: event.member_id,
        mailbox: event.mailbox.as_deref(),
        detail: &event.detail,
    };
    insert_link(&mut insert_statement(conn)?, chain, &link, subject, key)
}

/// The statement [`insert_link`] runs: prepared once for a batch of events.
pub(crate) fn insert_statement(
    conn: &Connection,
) -> rusqlite::Result<rusqlite::CachedStatement<'_>> {
    conn.prepare_cached(
        "INSERT INTO events (id, at, operator, account, kind, member_id, mailbox, detail,
         outcome, subject, digest, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )
}

/// Inserts the event `link` describes as the next link of `chain`.
pub(crate) fn insert_link(
    insert: &mut rusqlite::CachedStatement<'_>,
    chain: &mut ChainWriter,
    link: &Link<'_>,
    subject: &[u8],
    key: &[u8],
) -> rusqlite::Result<i64> {
    let (id, digest, hash) = chain.link(link, subject, key);
    insert.execute(params![
        id,
        link.at,
        link.operator,
        link.account,
        link.kind,
        link.member_id,
        link.mailbox,
        link.detail,
        link.outcome,
        (!subject.is_empty()).then_some(subject),
        &digest[..],
        &hash[..],
    ])?;
    Ok(id)
}

impl Store {
    /// Appends one event and returns its id.
    pub fn append_event(&self, event: &NewEvent) -> Result<i64> {
        append(&self.conn, event).map_err(self.err())
    }

    /// The timeline of a member and/or mailbox, newest first.
    pub fn timeline(&self, member_id: Option<i64>, mailbox: Option<&str>) -> Result<Vec<Event>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, at, operator, kind, member_id, mailbox, detail, outcome, COALESCE(account, '') FROM events
                 WHERE (?1 IS NOT NULL AND member_id = ?1) OR (?2 IS NOT NULL AND mailbox = ?2)
                 ORDER BY id DESC",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![member_id, mailbox], raw_event)
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err()).and_then(RawEvent::into_event))
            .collect()
    }

    /// The most recent events of the whole log, newest first.
    pub fn recent_events(&self, limit: usize) -> Result<Vec<Event>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, at, operator, kind, member_id, mailbox, detail, outcome, COALESCE(account, '') FROM events
                 ORDER BY id DESC LIMIT ?1",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![limit as i64], raw_event)
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err()).and_then(RawEvent::into_event))
            .collect()
    }

    /// Every event since `since` (all when `None`), oldest first.
    pub fn events_since(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Event>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, at, operator, kind, member_id, mailbox, detail, outcome, COALESCE(account, '') FROM events
                 WHERE ?1 IS NULL OR at >= ?1 ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![since.map(ts)], raw_event)
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err()).and_then(RawEvent::into_event))
            .collect()
    }

    /// The newest `limit` events whose date, operator, kind, mailbox or detail
    /// contains every word of `filter` (case-insensitive), newest first.
    pub fn audit(&self, filter: &str, limit: usize) -> Result<Vec<Event>> {
        let words: Vec<String> = filter
            .split_whitespace()
            .map(|w| format!("%{}%", w.replace(['%', '_'], "")))
            .collect();
        let mut sql = String::from(
            "SELECT id, at, operator, kind, member_id, mailbox, detail, outcome, COALESCE(account, '') FROM events WHERE 1",
        );
        for i in 0..words.len() {
            let p = i + 1;
            sql.push_str(&format!(
                " AND (at LIKE ?{p} OR operator LIKE ?{p} OR account LIKE ?{p} OR kind LIKE ?{p} OR mailbox LIKE ?{p} OR detail LIKE ?{p})"
            ));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(words.iter()), raw_event)
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err()).and_then(RawEvent::into_event))
            .collect()
    }

    /// The member whose PEC is `address`, if any.
    pub fn member_id_for_mailbox(&self, address: &str) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT id FROM members WHERE pec = ?1 ORDER BY in_roster DESC, id LIMIT 1",
                params![address],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    pub fn event_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
            .map_err(self.err())
    }
}

struct RawEvent {
    id: i64,
    at: String,
    operator: String,
    kind: String,
    member_id: Option<i64>,
    mailbox: Option<String>,
    detail: String,
    outcome: Option<String>,
    account: String,
}

fn raw_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawEvent> {
    Ok(RawEvent {
        id: row.get(0)?,
        at: row.get(1)?,
        operator: row.get(2)?,
        kind: row.get(3)?,
        member_id: row.get(4)?,
        mailbox: row.get(5)?,
        detail: row.get(6)?,
        outcome: row.get(7)?,
        account: row.get(8)?,
    })
}

impl RawEvent {
    fn into_event(self) -> Result<Event> {
        let kind = EventKind::from_code(&self.kind)
            .ok_or_else(|| super::StoreError::Corrupt(format!("tipo di evento: {}", self.kind)))?;
        let outcome = match self.outcome.as_deref() {
            None => None,
            Some("ok") => Some(Outcome::Ok),
            Some(_) => Some(Outcome::Failed),
        };
        Ok(Event {
            id: self.id,
            at: parse_ts(&self.at)?,
            operator: self.operator,
            account: self.account,
            kind,
            member_id: self.member_id,
            mailbox: self.mailbox,
            detail: self.detail,
            outcome,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_append_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let id = store
            .append_event(&NewEvent {
                at: Utc::now(),
                operator: "anna".into(),
                kind: EventKind::Action,
                member_id: None,
                mailbox: Some("a@pec.fofi.it".into()),
                detail: "reinvio e-mail di recupero".into(),
                outcome: Some(Outcome::Ok),
            })
            .unwrap();
        assert!(store.conn.execute("DELETE FROM events", []).is_err());
        for column in [
            "operator", "account", "at", "kind", "outcome", "hash", "digest",
        ] {
            assert!(
                store
                    .conn
                    .execute(
                        &format!("UPDATE events SET {column} = 'x' WHERE id = ?1"),
                        [id]
                    )
                    .is_err(),
                "{column}"
            );
        }
        assert_eq!(store.verify_chain().unwrap().broken, None);
        let timeline = store.timeline(None, Some("a@pec.fofi.it")).unwrap();
        assert_eq!(timeline.len(), 1);
        assert_eq!(store.audit("ANNA reinvio", 10).unwrap().len(), 1);
        assert_eq!(store.audit("anna altro", 10).unwrap().len(), 0);
        assert_eq!(store.audit("", 10).unwrap().len(), 1);
        assert_eq!(timeline[0].operator, "anna");
        assert_eq!(timeline[0].account, crate::identity::os_account());
        assert_eq!(timeline[0].outcome, Some(Outcome::Ok));
        // The personal fields may be rewritten (erasure does), but not unseen.
        store
            .conn
            .execute("UPDATE events SET detail = 'x' WHERE id = ?1", [id])
            .unwrap();
        assert_eq!(
            store.verify_chain().unwrap().broken,
            Some(crate::store::ChainBreak::Changed { id })
        );
    }
}
