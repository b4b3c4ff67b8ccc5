//! The audit chain: each event carries a SHA-256 hash over its own content
//! and the hash of the event before it, so that an event changed, removed or
//! slipped in shows as a break, and a head (last hash and count) filed
//! elsewhere proves later that nothing before it changed.
//!
//! Erasure must not break the chain, so the chain does not hash the personal
//! fields themselves (the mailbox address, the detail text, which may name a
//! person). It hashes a *digest* of them: HMAC-SHA256 under a key of the
//! person the event is about (`members.audit_key`; for an address with no
//! member, a key in `audit_keys` filed under a keyed pseudonym of the
//! address; for events about no one, the store's key). Erasing a member
//! rewrites their events' personal fields and destroys their key: the
//! digest, still in the chain, can then be checked against nothing, and the
//! chain itself still verifies. The erasure is an event of its own, in the
//! chain, naming the pseudonym (member id and address subject), so a key
//! missing without such an event is reported as tampering.
//!
//! The keys live in the store: the chain proves integrity against a head
//! kept outside it (printed by `report` and `audit export`), not against
//! someone who can rewrite the whole file and recompute every hash.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use ring::{digest, hmac};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, params};

/// Migration: the chain's columns, the keys, and an update trigger that lets
/// only the personal fields of a sealed event change (erasure).
pub const MIGRATION: &str = r#"
    ALTER TABLE events ADD COLUMN account TEXT;
    ALTER TABLE events ADD COLUMN subject BLOB;
    ALTER TABLE events ADD COLUMN digest BLOB;
    ALTER TABLE events ADD COLUMN hash BLOB;
    ALTER TABLE members ADD COLUMN audit_key TEXT;  -- 128 random bits, hex: the roster table stays text
    ALTER TABLE members ADD COLUMN erased_at TEXT;
    UPDATE members SET audit_key = lower(hex(randomblob(16)));
    CREATE TABLE audit_keys (
        subject BLOB PRIMARY KEY,   -- x'' the store's own key; else a keyed pseudonym of an address
        key     BLOB NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO audit_keys (subject, key) VALUES (x'', randomblob(32));
    DROP TRIGGER events_append_only_update;
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        WHEN OLD.hash IS NOT NULL AND NOT (
            NEW.id IS OLD.id AND NEW.at IS OLD.at AND NEW.operator IS OLD.operator
            AND NEW.account IS OLD.account AND NEW.kind IS OLD.kind
            AND NEW.member_id IS OLD.member_id AND NEW.outcome IS OLD.outcome
            AND NEW.subject IS OLD.subject AND NEW.digest IS OLD.digest
            AND NEW.hash IS OLD.hash)
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"#;

/// What an erased event's detail becomes.
pub const ERASED_DETAIL: &str = "[dati personali cancellati]";

pub type Hash = [u8; 32];

/// The content of one event as the chain sees it.
pub(crate) struct Link<'a> {
    pub at: &'a str,
    pub account: &'a str,
    pub operator: &'a str,
    pub kind: &'a str,
    pub outcome: Option<&'a str>,
    pub member_id: Option<i64>,
    pub mailbox: Option<&'a str>,
    pub detail: &'a str,
}

fn put(ctx: &mut digest::Context, bytes: &[u8]) {
    ctx.update(&(bytes.len() as u32).to_be_bytes());
    ctx.update(bytes);
}

/// HMAC of the personal fields under the subject's key.
pub(crate) fn personal_digest(key: &[u8], mailbox: Option<&str>, detail: &str) -> Hash {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    let mailbox = mailbox.unwrap_or_default().as_bytes();
    ctx.update(&(mailbox.len() as u32).to_be_bytes());
    ctx.update(mailbox);
    ctx.update(&(detail.len() as u32).to_be_bytes());
    ctx.update(detail.as_bytes());
    ctx.sign().as_ref().try_into().expect("32 bytes")
}

/// The event's hash: its id, its non-personal fields, the digest of the
/// personal ones, and the previous hash.
pub(crate) fn event_hash(
    prev: &Hash,
    id: i64,
    link: &Link<'_>,
    subject: &[u8],
    digest_value: &Hash,
) -> Hash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev);
    ctx.update(&id.to_be_bytes());
    put(&mut ctx, link.at.as_bytes());
    put(&mut ctx, link.account.as_bytes());
    put(&mut ctx, link.operator.as_bytes());
    put(&mut ctx, link.kind.as_bytes());
    put(&mut ctx, link.outcome.unwrap_or_default().as_bytes());
    ctx.update(&link.member_id.unwrap_or(i64::MIN).to_be_bytes());
    put(&mut ctx, subject);
    ctx.update(digest_value);
    ctx.finish().as_ref().try_into().expect("32 bytes")
}

/// An event's digest (of its personal fields, under `key`) and its hash
/// over `prev`: what linking it into the chain computes.
fn digest_and_hash(
    prev: &Hash,
    id: i64,
    link: &Link<'_>,
    subject: &[u8],
    key: &[u8],
) -> (Hash, Hash) {
    let digest_value = personal_digest(key, link.mailbox, link.detail);
    let hash = event_hash(prev, id, link, subject, &digest_value);
    (digest_value, hash)
}

/// Digest and hash side by side, as [`SetLinkState`] keeps the last row's.
fn packed((digest_value, hash): (Hash, Hash)) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&digest_value);
    out[32..].copy_from_slice(&hash);
    out
}

/// The keyed pseudonym under which an address's key is filed.
pub(crate) fn address_subject(store_key: &[u8], address: &str) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, store_key);
    let tag = hmac::sign(&key, format!("a:{}", address.to_lowercase()).as_bytes());
    tag.as_ref()[..16].to_vec()
}

pub(crate) fn store_key(conn: &Connection) -> rusqlite::Result<Vec<u8>> {
    conn.query_row("SELECT key FROM audit_keys WHERE subject = x''", [], |r| {
        r.get(0)
    })
}

/// A member's key as stored: 16 random bytes in hex, used as the HMAC key.
pub(crate) fn member_key(rng: &mut impl rand::RngCore) -> [u8; 32] {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    let mut key = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        key[2 * i] = b"0123456789abcdef"[usize::from(b >> 4)];
        key[2 * i + 1] = b"0123456789abcdef"[usize::from(b & 15)];
    }
    key
}

/// A fresh random key.
pub(crate) fn new_key() -> Vec<u8> {
    let mut key = vec![0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .expect("the system's random source");
    key
}

/// Appends to the chain inside the caller's write transaction.
pub(crate) struct ChainWriter {
    prev: Hash,
    next_id: i64,
    store_key: Vec<u8>,
}

impl ChainWriter {
    /// Reads the head (sealing first any event written without a hash: one
    /// from before the chain existed).
    pub fn begin(conn: &Connection) -> rusqlite::Result<Self> {
        let store_key = store_key(conn)?;
        let last: Option<(i64, Option<Vec<u8>>)> = conn
            .query_row(
                "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let prev = match last {
            None => [0; 32],
            Some((_, Some(hash))) => to_hash(&hash),
            Some((_, None)) => seal_pending(conn, &store_key)?,
        };
        // AUTOINCREMENT's counter, not MAX(id): events removed from the end
        // leave a gap that verification reports.
        let seq = events_counter(conn)?;
        let max: i64 =
            conn.query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?;
        Ok(Self {
            prev,
            next_id: seq.max(max) + 1,
            store_key,
        })
    }

    /// The subject and key the personal fields of an event are digested
    /// under; `member_key` when the caller has it at hand.
    pub fn key_for(
        &self,
        conn: &Connection,
        member_id: Option<i64>,
        mailbox: Option<&str>,
    ) -> rusqlite::Result<(Vec<u8>, Vec<u8>)> {
        if let Some(id) = member_id {
            let key: Option<Vec<u8>> = conn
                .prepare_cached("SELECT CAST(audit_key AS BLOB) FROM members WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?
                .flatten();
            let key = match key {
                Some(key) => key,
                None => {
                    // A member inserted without a key (by an older writer).
                    let key = hex(&new_key()[..16]);
                    conn.execute(
                        "UPDATE members SET audit_key = ?2 WHERE id = ?1 AND erased_at IS NULL",
                        params![id, key],
                    )?;
                    key.into_bytes()
                }
            };
            return Ok((Vec::new(), key));
        }
        match mailbox {
            Some(address) => {
                let subject = address_subject(&self.store_key, address);
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO audit_keys (subject, key) VALUES (?1, ?2)",
                )?
                .execute(params![subject, new_key()])?;
                let key: Vec<u8> = conn
                    .prepare_cached("SELECT key FROM audit_keys WHERE subject = ?1")?
                    .query_row([&subject], |r| r.get(0))?;
                Ok((subject, key))
            }
            None => Ok((Vec::new(), self.store_key.clone())),
        }
    }

    /// The id the next event gets.
    pub fn next_id(&self) -> i64 {
        self.next_id
    }

    /// Links, inside SQLite, the rows that `insert` writes: an `INSERT …
    /// SELECT` whose ids start at `self.next_id()` and go up by one, calling
    /// [`LINK_FUNCTION`] for each (see [`SetLinker`]). Returns how many rows
    /// it linked; the chain goes on after the last of them.
    pub fn link_set(
        &mut self,
        linker: &SetLinker,
        insert: impl FnOnce() -> rusqlite::Result<usize>,
    ) -> rusqlite::Result<usize> {
        linker.start(self.prev, self.next_id, None);
        self.finish_set(linker, insert)
    }

    fn finish_set(
        &mut self,
        linker: &SetLinker,
        insert: impl FnOnce() -> rusqlite::Result<usize>,
    ) -> rusqlite::Result<usize> {
        let inserted = insert();
        let (prev, next_id) = linker.stop();
        let inserted = inserted?;
        if next_id - self.next_id != inserted as i64 {
            return Err(rusqlite::Error::UserFunctionError(
                format!(
                    "{inserted} eventi scritti, {} collegati alla catena",
                    next_id - self.next_id
                )
                .into(),
            ));
        }
        (self.prev, self.next_id) = (prev, next_id);
        Ok(inserted)
    }

    /// [`Self::link_set`] for rows whose digests and hashes were computed
    /// ahead ([`link_run`] from this chain's head): [`LINK_FUNCTION`] hands
    /// them out in order, checking each row's id and member.
    pub fn link_set_ahead(
        &mut self,
        linker: &SetLinker,
        ahead: LinkedAhead,
        insert: impl FnOnce() -> rusqlite::Result<usize>,
    ) -> rusqlite::Result<usize> {
        if ahead.first_id != self.next_id || ahead.prev != self.prev {
            return Err(link_error(
                "collegamenti calcolati da un'altra testa della catena",
            ));
        }
        linker.start(self.prev, self.next_id, Some(ahead));
        self.finish_set(linker, insert)
    }

    /// The chain's head: the last hash and the id the next event gets.
    pub fn head(&self) -> (Hash, i64) {
        (self.prev, self.next_id)
    }

    /// Links the next event; returns its id, subject, digest and hash.
    pub fn link(&mut self, link: &Link<'_>, subject: &[u8], key: &[u8]) -> (i64, Hash, Hash) {
        let id = self.next_id;
        let (digest_value, hash) = digest_and_hash(&self.prev, id, link, subject, key);
        self.prev = hash;
        self.next_id += 1;
        (id, digest_value, hash)
    }
}

/// The SQL function that links one row of a set-based `INSERT … SELECT`
/// into the chain: `pecdesk_link(id, at, account, operator, kind,
/// member_id, key, mailbox, detail)` returns the row's digest (32 bytes),
/// for an event with no outcome and no subject (an event about a member,
/// digested under the member's `key`); [`LINK_HASH_FUNCTION`] then gives
/// its hash. Ids must come in order, one after the other, from the chain's
/// next id: a row out of order is an error, so that a query plan that would
/// evaluate the rows in another order fails instead of writing a broken
/// chain. The last row may be asked for again: it is not linked twice.
pub(crate) const LINK_FUNCTION: &str = "pecdesk_link";

/// `pecdesk_link_hash(id)`: the hash of row `id`, which must be the row
/// [`LINK_FUNCTION`] linked last (its column comes after the digest's). Two
/// functions rather than one value cut in two: each call of a function in
/// an `INSERT … SELECT` is made for every row, with its result copied.
pub(crate) const LINK_HASH_FUNCTION: &str = "pecdesk_link_hash";

/// Where [`LINK_FUNCTION`] is in the chain: the previous hash, the id the
/// next row must have, and the last row linked.
struct SetLinkState {
    prev: Hash,
    next_id: i64,
    last: Option<(i64, [u8; 64])>,
    /// The rows' digests and hashes, when computed ahead.
    ahead: Option<LinkedAhead>,
}

/// Events about members (no outcome, no subject) linked ahead of their
/// insertion, from a known head: digest and hash of each, in id order.
pub(crate) struct LinkedAhead {
    prev: Hash,
    first_id: i64,
    first_member: i64,
    links: Vec<[u8; 64]>,
}

impl LinkedAhead {
    /// Whether these are the links of the `count` members from `first_member` on.
    pub fn covers(&self, first_member: i64, count: usize) -> bool {
        self.first_member == first_member && self.links.len() == count
    }
}

/// Links a run of events about members, one after the other from the head
/// `(prev, first_id)`: the `n`th is about member `first_member + n`, whose
/// key and mailbox `member(n)` gives with the event's detail. The same
/// digests and hashes as [`ChainWriter::link`] (pure computation: it may run
/// on another thread while the rows are written).
#[allow(clippy::too_many_arguments)]
pub(crate) fn link_run<'m>(
    (prev, first_id): (Hash, i64),
    first_member: i64,
    at: &str,
    account: &str,
    operator: &str,
    kind: &str,
    count: usize,
    member: impl Fn(usize) -> (&'m [u8], &'m str, &'m str),
) -> LinkedAhead {
    let mut last = prev;
    let links = (0..count)
        .map(|n| {
            let (key, mailbox, detail) = member(n);
            let link = Link {
                at,
                account,
                operator,
                kind,
                outcome: None,
                member_id: Some(first_member + n as i64),
                mailbox: Some(mailbox),
                detail,
            };
            let (digest_value, hash) = digest_and_hash(&last, first_id + n as i64, &link, &[], key);
            last = hash;
            packed((digest_value, hash))
        })
        .collect();
    LinkedAhead {
        prev,
        first_id,
        first_member,
        links,
    }
}

/// [`LINK_FUNCTION`], registered on a connection (see [`ChainWriter::link_set`]).
pub(crate) struct SetLinker(Arc<Mutex<Option<SetLinkState>>>);

impl SetLinker {
    pub fn register(conn: &Connection) -> rusqlite::Result<Self> {
        let state: Arc<Mutex<Option<SetLinkState>>> = Arc::default();
        let shared = Arc::clone(&state);
        conn.create_scalar_function(
            LINK_FUNCTION,
            9,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
            move |ctx| {
                let mut guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
                let state = guard
                    .as_mut()
                    .ok_or_else(|| link_error("nessun collegamento in corso"))?;
                let id: i64 = ctx.get(0)?;
                match state.last {
                    Some((last, out)) if last == id => return Ok(out[..32].to_vec()),
                    _ if id != state.next_id => {
                        return Err(link_error(format!(
                            "evento n. {id} fuori ordine (atteso il n. {})",
                            state.next_id
                        )));
                    }
                    _ => {}
                }
                if let Some(ahead) = &state.ahead {
                    let n = usize::try_from(id - ahead.first_id).ok();
                    let member_id: i64 = ctx.get(5)?;
                    let out = n
                        .and_then(|n| ahead.links.get(n))
                        .filter(|_| member_id - ahead.first_member == id - ahead.first_id)
                        .copied()
                        .ok_or_else(|| {
                            link_error(format!("evento n. {id} non calcolato in anticipo"))
                        })?;
                    let hash = out[32..].try_into().expect("32 bytes");
                    (state.prev, state.next_id, state.last) = (hash, id + 1, Some((id, out)));
                    return Ok(out[..32].to_vec());
                }
                let text = |i: usize| ctx.get_raw(i).as_str();
                let link = Link {
                    at: text(1)?,
                    account: text(2)?,
                    operator: text(3)?,
                    kind: text(4)?,
                    outcome: None,
                    member_id: ctx.get(5)?,
                    mailbox: ctx.get_raw(7).as_str_or_null()?,
                    detail: text(8)?,
                };
                let key = ctx.get_raw(6).as_bytes()?;
                let (digest_value, hash) = digest_and_hash(&state.prev, id, &link, &[], key);
                let out = packed((digest_value, hash));
                (state.prev, state.next_id, state.last) = (hash, id + 1, Some((id, out)));
                Ok(out[..32].to_vec())
            },
        )?;
        let shared = Arc::clone(&state);
        conn.create_scalar_function(
            LINK_HASH_FUNCTION,
            1,
            FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
            move |ctx| {
                let guard = shared.lock().unwrap_or_else(PoisonError::into_inner);
                let id: i64 = ctx.get(0)?;
                match guard.as_ref().and_then(|state| state.last) {
                    Some((last, out)) if last == id => Ok(out[32..].to_vec()),
                    _ => Err(link_error(format!("evento n. {id} non collegato"))),
                }
            },
        )?;
        Ok(Self(state))
    }

    pub fn unregister(self, conn: &Connection) -> rusqlite::Result<()> {
        conn.remove_function(LINK_FUNCTION, 9)?;
        conn.remove_function(LINK_HASH_FUNCTION, 1)
    }

    /// Links from `(prev, next_id)` on, with the links computed `ahead`, if any.
    fn start(&self, prev: Hash, next_id: i64, ahead: Option<LinkedAhead>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(SetLinkState {
            prev,
            next_id,
            last: None,
            ahead,
        });
    }

    /// The previous hash and the next id where linking stopped.
    fn stop(&self) -> (Hash, i64) {
        let state = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        state.map_or(([0; 32], 0), |s| (s.prev, s.next_id))
    }
}

fn link_error(message: impl Into<String>) -> rusqlite::Error {
    rusqlite::Error::UserFunctionError(message.into().into())
}

/// The highest event id ever given (AUTOINCREMENT's counter).
fn events_counter(conn: &Connection) -> rusqlite::Result<i64> {
    Ok(conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut hash = [0; 32];
    let n = bytes.len().min(32);
    hash[..n].copy_from_slice(&bytes[..n]);
    hash
}

/// Seals, in id order, the events with no hash that follow the last sealed
/// one (those written before the chain existed); returns the new head hash.
fn seal_pending(conn: &Connection, store_key: &[u8]) -> rusqlite::Result<Hash> {
    let last_sealed: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT id, hash FROM events WHERE hash IS NOT NULL ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (from, mut prev) = last_sealed.map_or((0, [0; 32]), |(id, h)| (id, to_hash(&h)));
    let rows: Vec<RawRow> = conn
        .prepare(&format!("{SELECT_ROWS} WHERE id > ?1 ORDER BY id"))?
        .query_map([from], RawRow::read)?
        .collect::<rusqlite::Result<_>>()?;
    let writer = ChainWriter {
        prev,
        next_id: 0,
        store_key: store_key.to_vec(),
    };
    let mut update = conn.prepare(
        "UPDATE events SET account = COALESCE(account, ''), subject = ?2, digest = ?3, hash = ?4
         WHERE id = ?1",
    )?;
    for row in rows {
        let link = row.link();
        let (subject, key) = writer.key_for(conn, row.member_id, row.mailbox.as_deref())?;
        let digest_value;
        (digest_value, prev) = digest_and_hash(&prev, row.id, &link, &subject, &key);
        update.execute(params![row.id, subject, &digest_value[..], &prev[..]])?;
    }
    Ok(prev)
}

/// Seals events left without a hash (a store from before the chain). Only
/// the last event is looked at: every append seals what precedes it, so
/// unsealed events can only trail.
pub(crate) fn seal_legacy(conn: &mut Connection) -> rusqlite::Result<()> {
    let unsealed: Option<bool> = conn
        .query_row(
            "SELECT hash IS NULL FROM events ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if unsealed == Some(true) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        seal_pending(&tx, &store_key(&tx)?)?;
        tx.commit()?;
    }
    Ok(())
}

const SELECT_ROWS: &str =
    "SELECT id, at, COALESCE(account, ''), operator, kind, outcome, member_id,
    mailbox, detail, subject, digest, hash FROM events";

struct RawRow {
    id: i64,
    at: String,
    account: String,
    operator: String,
    kind: String,
    outcome: Option<String>,
    member_id: Option<i64>,
    mailbox: Option<String>,
    detail: String,
    subject: Option<Vec<u8>>,
    digest: Option<Vec<u8>>,
    hash: Option<Vec<u8>>,
}

impl RawRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: r.get(0)?,
            at: r.get(1)?,
            account: r.get(2)?,
            operator: r.get(3)?,
            kind: r.get(4)?,
            outcome: r.get(5)?,
            member_id: r.get(6)?,
            mailbox: r.get(7)?,
            detail: r.get(8)?,
            subject: r.get(9)?,
            digest: r.get(10)?,
            hash: r.get(11)?,
        })
    }

    fn link(&self) -> Link<'_> {
        Link {
            at: &self.at,
            account: &self.account,
            operator: &self.operator,
            kind: &self.kind,
            outcome: self.outcome.as_deref(),
            member_id: self.member_id,
            mailbox: self.mailbox.as_deref(),
            detail: &self.detail,
        }
    }
}

/// The head of the chain: how many events, the last one's id and hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainHead {
    pub count: i64,
    pub last_id: i64,
    /// Hex SHA-256 of the last event ("" for an empty log).
    pub hash: String,
}

impl std::fmt::Display for ChainHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "testa della catena: {} eventi, ultimo n. {}, hash {}",
            self.count,
            self.last_id,
            if self.hash.is_empty() {
                "-"
            } else {
                &self.hash
            }
        )
    }
}

pub(crate) fn head(conn: &Connection) -> rusqlite::Result<ChainHead> {
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?;
    let last: Option<(i64, Option<Vec<u8>>)> = conn
        .query_row(
            "SELECT id, hash FROM events ORDER BY id DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (last_id, hash) = last.unwrap_or((0, None));
    Ok(ChainHead {
        count,
        last_id,
        hash: hash.map(|h| hex(&h)).unwrap_or_default(),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Where the chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChainBreak {
    /// The event's content (or its personal fields) is not what was sealed.
    Changed { id: i64 },
    /// Events between `after` and `before` are missing (`before` None: at the end).
    Removed { after: i64, before: Option<i64> },
    /// An event that is not part of the chain where it stands.
    Inserted { id: i64 },
    /// An event whose key was destroyed with no erasure recorded for it.
    KeyRemoved { id: i64 },
    /// The last event does not chain: changed, or added after the head
    /// (nothing after it tells which).
    LastChangedOrAppended { id: i64 },
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Changed { id } => write!(f, "l'evento n. {id} è stato modificato"),
            ChainBreak::Removed {
                after,
                before: Some(before),
            } => write!(
                f,
                "eventi rimossi tra il n. {after} e il n. {before} (mancano i n. {}–{})",
                after + 1,
                before - 1
            ),
            ChainBreak::Removed {
                after,
                before: None,
            } => write!(f, "eventi rimossi dopo l'ultimo presente, il n. {after}"),
            ChainBreak::Inserted { id } => {
                write!(f, "l'evento n. {id} è stato inserito fuori dalla catena")
            }
            ChainBreak::LastChangedOrAppended { id } => write!(
                f,
                "l'ultimo evento, n. {id}, è stato modificato o aggiunto fuori dalla catena"
            ),
            ChainBreak::KeyRemoved { id } => write!(
                f,
                "l'evento n. {id} non è verificabile: chiave rimossa senza una cancellazione registrata"
            ),
        }
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChainReport {
    pub head: ChainHead,
    /// Events checked, up to the break if any.
    pub checked: i64,
    /// Events of erased people: chained, their personal fields no longer checkable.
    pub erased: i64,
    pub broken: Option<ChainBreak>,
}

/// Walks the whole chain in id order.
pub(crate) fn verify(conn: &Connection) -> rusqlite::Result<ChainReport> {
    let head = head(conn)?;
    let store_key = store_key(conn)?;
    let mut member_keys: HashMap<i64, Option<Vec<u8>>> = HashMap::new();
    {
        let mut stmt = conn.prepare("SELECT id, CAST(audit_key AS BLOB) FROM members")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            member_keys.insert(r.get(0)?, r.get(1)?);
        }
    }
    let address_keys: HashMap<Vec<u8>, Vec<u8>> = conn
        .prepare("SELECT subject, key FROM audit_keys")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    // The erasures recorded in the chain justify missing keys.
    let mut erased_members: HashSet<i64> = HashSet::new();
    let mut erased_subjects: HashSet<Vec<u8>> = HashSet::new();
    {
        let mut stmt = conn.prepare(
            "SELECT member_id, subject FROM events WHERE kind = 'erased' AND hash IS NOT NULL",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            if let Some(id) = r.get::<_, Option<i64>>(0)? {
                erased_members.insert(id);
            }
            if let Some(subject) = r.get::<_, Option<Vec<u8>>>(1)?
                && !subject.is_empty()
            {
                erased_subjects.insert(subject);
            }
        }
    }
    let mut stmt = conn.prepare(&format!("{SELECT_ROWS} ORDER BY id"))?;
    let mut rows = stmt.query([])?;
    let mut prev: Hash = [0; 32];
    let mut prev_id = 0i64;
    let mut checked = 0i64;
    let mut erased = 0i64;
    let mut pending: Option<RawRow> = None;
    let broken = loop {
        let row = match pending.take() {
            Some(row) => row,
            None => match rows.next()? {
                Some(r) => RawRow::read(r)?,
                None => break None,
            },
        };
        let (Some(stored), Some(stored_digest)) = (&row.hash, &row.digest) else {
            break Some(ChainBreak::Inserted { id: row.id });
        };
        if row.id != prev_id + 1 {
            break Some(if row.id <= prev_id {
                ChainBreak::Inserted { id: row.id }
            } else {
                ChainBreak::Removed {
                    after: prev_id,
                    before: Some(row.id),
                }
            });
        }
        let subject = row.subject.clone().unwrap_or_default();
        let link = row.link();
        let stored_digest = to_hash(stored_digest);
        if event_hash(&prev, row.id, &link, &subject, &stored_digest)[..] != stored[..] {
            // Slipped in: the next event links to the one before it.
            let next = rows.next()?.map(RawRow::read).transpose()?;
            let inserted = next.as_ref().is_some_and(|n| {
                let n_subject = n.subject.clone().unwrap_or_default();
                let n_digest = n.digest.as_deref().map(to_hash).unwrap_or_default();
                n.hash.as_deref().is_some_and(|h| {
                    event_hash(&prev, n.id, &n.link(), &n_subject, &n_digest)[..] == h[..]
                        || event_hash(&prev, row.id, &n.link(), &n_subject, &n_digest)[..] == h[..]
                })
            });
            break Some(if inserted {
                ChainBreak::Inserted { id: row.id }
            } else if next.is_none() {
                ChainBreak::LastChangedOrAppended { id: row.id }
            } else {
                ChainBreak::Changed { id: row.id }
            });
        }
        // The personal fields, where their key still exists.
        let key: Option<&Vec<u8>> = match (row.member_id, subject.is_empty()) {
            // An erasure is digested under the store's key: it outlives the member's.
            _ if row.kind == "erased" => Some(&store_key),
            (Some(id), _) => match member_keys.get(&id) {
                Some(Some(key)) => Some(key),
                _ if erased_members.contains(&id) => None,
                _ => break Some(ChainBreak::KeyRemoved { id: row.id }),
            },
            (None, false) => match address_keys.get(&subject) {
                Some(key) => Some(key),
                None if erased_subjects.contains(&subject) => None,
                None => break Some(ChainBreak::KeyRemoved { id: row.id }),
            },
            (None, true) => Some(&store_key),
        };
        match key {
            Some(key) => {
                if personal_digest(key, link.mailbox, link.detail) != stored_digest {
                    break Some(ChainBreak::Changed { id: row.id });
                }
            }
            None => erased += 1,
        }
        prev = to_hash(stored);
        prev_id = row.id;
        checked += 1;
    };
    let broken = match broken {
        Some(b) => Some(b),
        None => {
            let seq = events_counter(conn)?;
            (seq > prev_id).then_some(ChainBreak::Removed {
                after: prev_id,
                before: None,
            })
        }
    };
    Ok(ChainReport {
        head,
        checked,
        erased,
        broken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_computed_ahead_are_the_chain_s_own() {
        let mut chain = ChainWriter {
            prev: [7; 32],
            next_id: 41,
            store_key: new_key(),
        };
        let keys: Vec<[u8; 32]> = (0..3)
            .map(|n| member_key(&mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(n)))
            .collect();
        let mailboxes = ["a@pec.fofi.it", "b@pec.fofi.it", "c@pec.fofi.it"];
        let details = [
            "importato da albo.csv",
            "importato da albo.csv (già cancellato dall'albo)",
            "importato da albo.csv",
        ];
        let ahead = link_run(chain.head(), 100, "t", "root", "anna", "imported", 3, |n| {
            (&keys[n][..], mailboxes[n], details[n])
        });
        assert!(ahead.covers(100, 3) && !ahead.covers(101, 3) && !ahead.covers(100, 2));
        for n in 0..3 {
            let link = Link {
                at: "t",
                account: "root",
                operator: "anna",
                kind: "imported",
                outcome: None,
                member_id: Some(100 + n as i64),
                mailbox: Some(mailboxes[n]),
                detail: details[n],
            };
            let (id, digest_value, hash) = chain.link(&link, &[], &keys[n]);
            assert_eq!(id, 41 + n as i64);
            assert_eq!(ahead.links[n][..32], digest_value);
            assert_eq!(ahead.links[n][32..], hash);
        }
    }
}
