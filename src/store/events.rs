//! The append-only event log: imports, changes seen at sync, staff actions and
//! their results. Triggers in the schema refuse UPDATE and DELETE.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::chain::{ChainWriter, Link};
use super::{Result, Store, parse_ts, ts};

/// Migration: the index of events by address leaves out the "importato"
/// events about a member. An import writes one per new member, with the
/// member's PEC as its address, so that indexing them meant sorting every
/// PEC a second time at a first import (after `members_pec`), the largest
/// of its index builds. Their address stays in the event, as it was; a
/// search by address finds them through their member instead: a member
/// holding that address now (`members_pec`), or one whose PEC changed
/// since it was logged, listed in `pec_changed` (kept by a trigger on
/// every change of a member's PEC, and filled here from the events already
/// stored). [`Store::timeline`] reads both ways; reads by address of
/// events about no member (erasure, access report) use the index as before.
/// A future migration that rebuilds `members` drops the trigger with the
/// table: it must run this again after it (it may run twice).
pub const MAILBOX_INDEX_MIGRATION: &str = r#"
    CREATE TABLE IF NOT EXISTS pec_changed (
        member_id INTEGER PRIMARY KEY   -- a member whose PEC changed after an event named it
    );
    INSERT OR IGNORE INTO pec_changed (member_id)
        SELECT DISTINCT e.member_id FROM events e JOIN members m ON m.id = e.member_id
        WHERE e.kind = 'imported' AND e.mailbox IS NOT m.pec;
    CREATE TRIGGER IF NOT EXISTS members_pec_changed AFTER UPDATE OF pec ON members
        WHEN OLD.pec IS NOT NEW.pec
        BEGIN INSERT OR IGNORE INTO pec_changed (member_id) VALUES (NEW.id); END;
    DROP INDEX IF EXISTS events_mailbox;
    CREATE INDEX events_mailbox ON events(mailbox, id)
        WHERE kind <> 'imported' OR member_id IS NULL;
"#;

/// [`Store::timeline`]'s query: the events about member `?1`, and those
/// naming address `?2`. The "importato" events about a member are not in
/// `events_mailbox` (see [`MAILBOX_INDEX_MIGRATION`]): those naming the
/// address are found through the members who hold it, or whose PEC has
/// changed since; the rest through the index.
const TIMELINE: &str = "SELECT id, at, operator, kind, member_id, mailbox, detail, outcome,
    COALESCE(account, '') FROM events
    WHERE (?1 IS NOT NULL AND member_id = ?1)
       OR (?2 IS NOT NULL AND mailbox = ?2 AND (kind <> 'imported' OR member_id IS NULL))
       OR (?2 IS NOT NULL AND mailbox = ?2 AND kind = 'imported' AND member_id IN
           (SELECT id FROM members WHERE pec = ?2 UNION ALL SELECT member_id FROM pec_changed))
    ORDER BY id DESC";

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

    /// The timeline of a member and/or mailbox, newest first: the events
    /// about the member, and those naming the address (see [`TIMELINE`]).
    pub fn timeline(&self, member_id: Option<i64>, mailbox: Option<&str>) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(TIMELINE).map_err(self.err())?;
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

    use crate::store::IncomingRoster;

    /// The timeline as it read before `events_mailbox` left out the members'
    /// "importato" events: every event about the member or naming the
    /// address, found by reading the whole log.
    fn timeline_by_scan(
        store: &Store,
        member_id: Option<i64>,
        mailbox: Option<&str>,
    ) -> Vec<Event> {
        let mut stmt = store
            .conn
            .prepare(
                "SELECT id, at, operator, kind, member_id, mailbox, detail, outcome, COALESCE(account, '')
                 FROM events NOT INDEXED
                 WHERE (?1 IS NOT NULL AND member_id = ?1) OR (?2 IS NOT NULL AND mailbox = ?2)
                 ORDER BY id DESC",
            )
            .unwrap();
        stmt.query_map(params![member_id, mailbox], raw_event)
            .unwrap()
            .map(|r| r.unwrap().into_event().unwrap())
            .collect()
    }

    /// Every timeline of `members` and `addresses` (and of each alone)
    /// reads as the scan does.
    fn assert_timelines_as_scanned(store: &Store, members: &[i64], addresses: &[&str]) {
        let members = members.iter().map(|&m| Some(m)).chain([None]);
        for member in members {
            for address in addresses.iter().map(|&a| Some(a)).chain([None]) {
                assert_eq!(
                    store.timeline(member, address).unwrap(),
                    timeline_by_scan(store, member, address),
                    "member {member:?}, address {address:?}"
                );
            }
        }
    }

    fn import(store: &mut Store, members: &[crate::domain::Member], source: &str) {
        store
            .upsert_members(&IncomingRoster::full(members), "anna", source, Utc::now())
            .unwrap();
    }

    fn action(store: &Store, member_id: Option<i64>, mailbox: &str) {
        store
            .append_event(&NewEvent {
                at: Utc::now(),
                operator: "anna".into(),
                kind: EventKind::Action,
                member_id,
                mailbox: Some(mailbox.into()),
                detail: "reinvio e-mail di recupero".into(),
                outcome: Some(Outcome::Ok),
            })
            .unwrap();
    }

    /// A roster whose first member's PEC passes, after the first import, to
    /// a new member; with actions by address, with and without a member.
    /// Returns the member ids and the addresses involved.
    fn pec_passed_on(store: &mut Store) -> (Vec<i64>, [String; 3]) {
        let mut members = crate::sample::generate_roster(6, 31, "pec.fofi.it");
        let mut newcomer = members.pop().unwrap();
        let old = members[0].pec.clone();
        import(store, &members, "albo-1.csv");
        action(store, None, &old);
        members[0].pec = "nuova.casella@pec.fofi.it".into();
        import(store, &members, "albo-2.csv");
        newcomer.pec = old.clone();
        members.push(newcomer);
        import(store, &members, "albo-3.csv");
        let ids: Vec<i64> = store.all_members().unwrap().iter().map(|m| m.0).collect();
        action(store, Some(ids[5]), &old);
        action(store, Some(ids[0]), "nuova.casella@pec.fofi.it");
        let other = members[2].pec.clone();
        (ids, [old, "nuova.casella@pec.fofi.it".into(), other])
    }

    #[test]
    fn timelines_find_by_address_what_the_whole_log_holds() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let (ids, addresses) = pec_passed_on(&mut store);
        let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
        assert_timelines_as_scanned(&store, &ids, &addresses);
        // The newcomer's timeline, by id and address as the console asks,
        // shows their own import and that of the member who had the address.
        let timeline = store.timeline(Some(ids[5]), Some(addresses[0])).unwrap();
        let imported: Vec<Option<i64>> = (timeline.iter())
            .filter(|e| e.kind == EventKind::Imported)
            .map(|e| e.member_id)
            .collect();
        assert_eq!(imported, [Some(ids[5]), Some(ids[0])]);
        assert!(
            (timeline.iter())
                .filter(|e| e.kind == EventKind::Imported)
                .all(|e| e.mailbox.as_deref() == Some(addresses[0])),
            "the import's event keeps its address"
        );
        // The access report lists the import with its address, as before.
        let report = store.access_report(ids[5], Utc::now()).unwrap();
        assert!(
            report
                .events
                .iter()
                .any(|e| { e["kind"] == "imported" && e["mailbox"] == addresses[0] })
        );
        assert_eq!(store.verify_chain().unwrap().broken, None);
        // Erased, the first member's events lose their address: their
        // import is found by none of its addresses any more, as the scan says.
        store.forget(ids[0], "anna", Utc::now()).unwrap();
        assert_timelines_as_scanned(&store, &ids, &addresses);
        assert_eq!(store.verify_chain().unwrap().broken, None);
    }

    #[test]
    fn reads_by_address_use_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let plan = |sql: &str| -> Vec<String> {
            let mut stmt = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            let params = vec![rusqlite::types::Value::Integer(1); stmt.parameter_count()];
            stmt.query_map(rusqlite::params_from_iter(params), |r| r.get(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        for sql in [
            TIMELINE,
            // The access report's and the erasure's (store/privacy.rs).
            "SELECT id FROM events WHERE member_id = ?1 OR (member_id IS NULL AND mailbox = ?2)",
        ] {
            let plan = plan(sql);
            assert!(
                plan.iter().any(|step| step.contains("events_mailbox")),
                "{plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN events")),
                "{plan:?}"
            );
        }
    }

    #[test]
    fn the_index_migration_lists_the_pecs_changed_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut store = Store::open(&path).unwrap();
        // Back to the schema before the migration: every event indexed by
        // address, no list of changed PECs.
        let mine = super::super::schema::MIGRATIONS
            .iter()
            .position(|m| *m == MAILBOX_INDEX_MIGRATION)
            .unwrap();
        store
            .conn
            .execute_batch(
                "DROP TRIGGER members_pec_changed; DROP TABLE pec_changed;
                 DROP INDEX events_mailbox; CREATE INDEX events_mailbox ON events(mailbox, id);",
            )
            .unwrap();
        store
            .conn
            .pragma_update(None, "user_version", mine as i64)
            .unwrap();
        let (ids, addresses) = pec_passed_on(&mut store);
        drop(store);

        let store = Store::open(&path).unwrap();
        let changed: Vec<i64> = store
            .conn
            .prepare("SELECT member_id FROM pec_changed")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(changed, [ids[0]]);
        let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
        assert_timelines_as_scanned(&store, &ids, &addresses);
        assert_eq!(store.verify_chain().unwrap().broken, None);
    }
}
