//! The dashboard's figures from the store: over loaded entries, or counted
//! straight from the tables ([`Store::dashboard_counts`]) so that the first
//! screen shows before a single member is loaded.
//!
//! The counts read `members` and `mailboxes` (and `aruba_mailboxes` once
//! Aruba has been synced) and join them exactly as [`Store::roster_entries`]
//! joins (the first member with a PEC, not erased, takes its mailbox). Rows
//! that decide the states alike are grouped, and each group is classified
//! once by the domain's own rules ([`category::is_in_with`], [`Summary`])
//! with a representative entry, so the figures cannot drift from what the
//! loaded table shows.
//!
//! The mailboxes are read from an index of what the counts need of them
//! ([`MAILBOX_FACTS_MIGRATION`]: the address and one short text of states,
//! flags and the two moments looked at), not from the table: 80 MB at a
//! million mailboxes instead of 270, two columns to decode instead of
//! eight. Alike mailboxes are numbered as they are read, a text's facts
//! worked out once per thread (a completed migration's day is looked up by
//! its hour's text, see [`Days`]). The tables are read in pieces (ranges of
//! addresses, or of rowids) by one thread per core, each on its own
//! connection. Until Aruba is synced the members' rows are not read at all:
//! their PECs and ids come from the PECs' index, in the same ranges as the
//! mailboxes, and the few out of the roster or erased from an index of
//! their own ([`APART_MIGRATION`]); both are in address order, so each
//! range is joined as it is read ([`joined`]). Once Aruba is known the
//! members' contacts come from the table, in rowid pieces: rows are put in
//! 64 buckets by their address's hash and joined bucket by bucket (its maps
//! stay in the processor's cache) on every core.
//!
//! A count still reads a million index entries at a million members, so
//! its groups are kept in the store
//! ([`MIGRATION`]) with a fingerprint of what they were counted from: the
//! last audit event and sync runs (every write to members, mailboxes or Aruba's copy appends an event
//! in its own transaction), the schema and the PEC domain. A later start
//! whose fingerprint is the same classifies the kept groups (a few thousand
//! at most) instead of scanning; any write since makes them stale and the
//! tables are counted again. The groups hold what depends on the day as
//! dates, not as answers, so kept groups are right at any later moment: a
//! pending link keeps its expiry, a completed migration its Italian day.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{Result, RosterEntry, Store, StoreError, parse_ts, ts};
use crate::domain::aruba::{ArubaMailbox, ArubaSide, ArubaStatus, normalize_aruba_mobile};
use crate::domain::category::{self, Category};
use crate::domain::summary::{DashboardCounts, HISTORY_DAYS};
use crate::domain::{
    MailboxState, Member, MigrationState, PasswordState, RecoveryContacts, Summary,
};
use crate::i18n::italian_time;

/// The kept groups of the dashboard's counts (see the module's notes): one
/// row, replaced whenever the tables are counted with nothing written meanwhile.
pub const MIGRATION: &str = r#"
    CREATE TABLE dashboard_counts (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        fingerprint TEXT NOT NULL,   -- what they were counted from
        counted_at  TEXT NOT NULL,   -- the moment they hold for and after
        groups      TEXT NOT NULL    -- JSON: the alike entries and their number
    );
"#;

/// The members apart from the roster's usual run: out of the roster or
/// erased. Few, so the index is small and an import barely writes it; with
/// it the counts read the members from the index of their PECs (a tenth of
/// the table's pages) and learn these few from here.
pub const APART_MIGRATION: &str = r#"
    CREATE INDEX members_apart ON members(in_roster, erased_at)
        WHERE in_roster = 0 OR erased_at IS NOT NULL;
"#;

/// What the counts need of each mailbox, in address order and in one text
/// per mailbox ([`MAILBOX_FACTS_SQL`]): an index on the expression, which the
/// counts read instead of the table (a third of its pages, two columns to
/// decode instead of eight). Never edited: a change of the expression is a
/// new migration that drops this index and makes another.
pub const MAILBOX_FACTS_MIGRATION: &str = r#"
    CREATE INDEX IF NOT EXISTS mailboxes_counts ON mailboxes(address,
        migration_state || '|' || password_state || '|'
        || ((recovery_email_masked IS NOT NULL) + 2 * (recovery_mobile_masked IS NOT NULL)
            + 4 * (recovery_confirmed != 0)) || '|'
        || COALESCE(CASE WHEN migration_state = 'completed' THEN migration_at END, '') || '|'
        || COALESCE(CASE WHEN password_state = 'reset_pending' THEN link_expires_at END, ''));
"#;

/// The indexed expression of [`MAILBOX_FACTS_MIGRATION`], as the query must
/// spell it for SQLite to read it from the index (a test checks the plan):
/// `migration|password|flags|migrated at|link expires at`, the flags being
/// 1 for a recovery e-mail, 2 for a mobile, 4 when confirmed, and each
/// moment only where the counts look at it (a completed migration's, a
/// pending link's), else empty.
const MAILBOX_FACTS_SQL: &str = "migration_state || '|' || password_state || '|'
        || ((recovery_email_masked IS NOT NULL) + 2 * (recovery_mobile_masked IS NOT NULL)
            + 4 * (recovery_confirmed != 0)) || '|'
        || COALESCE(CASE WHEN migration_state = 'completed' THEN migration_at END, '') || '|'
        || COALESCE(CASE WHEN password_state = 'reset_pending' THEN link_expires_at END, '')";

/// Bumped whenever [`Group`] changes shape or meaning: kept groups of
/// another shape are counted again.
const GROUPS_FORMAT: u32 = 1;

/// The figures over loaded entries.
pub fn summarize(entries: &[RosterEntry], pec_domain: &str, now: DateTime<Utc>) -> Summary {
    Summary::compute(
        entries
            .iter()
            .map(|e| (e.member.as_ref(), e.in_roster, e.mailbox.as_ref())),
        pec_domain,
        now,
    )
}

/// A 64-bit hash of a text, the same on every thread and run (foldhash's
/// quality variant, with a fixed seed: several times quicker than SipHash on
/// short texts). Two of a million addresses share one by chance about once
/// in 10^7 stores.
fn text_hash(text: impl AsRef<[u8]>) -> u64 {
    const SEED: foldhash::quality::FixedState =
        foldhash::quality::FixedState::with_seed(0x7065_6364_6573_6b21);
    SEED.hash_one(text.as_ref())
}

/// The keys are hashes already.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ByHash<V> = HashMap<u64, V, BuildHasherDefault<KeyIsHash>>;

/// A quick hasher for small keys made by the program itself (the groups,
/// hours): a multiply-and-fold per word, as foldhash does.
#[derive(Default)]
struct Mixer(u64);

impl Mixer {
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * 0x9E37_79B9_7F4A_7C15;
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for Mixer {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }
    fn write_i32(&mut self, n: i32) {
        self.mix(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }
    fn write_u128(&mut self, n: u128) {
        self.mix(n as u64);
        self.mix((n >> 64) as u64);
    }
    fn write_i64(&mut self, n: i64) {
        self.mix(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.mix(n as u64);
    }
}

/// A mailbox as the counts need it, right from its counting moment on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct MailboxFacts {
    #[serde(with = "by_code")]
    migration: MigrationState,
    /// As stored, except a link already expired at the counting moment.
    #[serde(with = "by_code")]
    password: PasswordState,
    /// A pending link's expiry, when still ahead at the counting moment.
    expires: Option<DateTime<Utc>>,
    email: bool,
    mobile: bool,
    confirmed: bool,
    /// The Italian day of a completed migration, unless already older than
    /// the history at the counting moment.
    migrated_on: Option<NaiveDate>,
}

impl MailboxFacts {
    /// The password's state at `now` (not before the counting moment).
    fn password_at(&self, now: DateTime<Utc>) -> PasswordState {
        match (self.password, self.expires) {
            (PasswordState::ResetPending, Some(expiry)) if expiry <= now => {
                PasswordState::LinkExpired
            }
            (state, _) => state,
        }
    }
}

/// A state kept by its code, as the tables keep it.
trait Coded: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn to_code(self) -> &'static str;
    fn of_code(code: &str) -> Option<Self>;

    /// The state of a code as the table holds it, unchecked as text.
    fn of_code_bytes(code: &[u8]) -> Option<Self> {
        Self::index_of_code(code).map(|i| Self::ALL[i])
    }

    /// The place among [`Coded::ALL`] of the state of a code as the table holds it.
    fn index_of_code(code: &[u8]) -> Option<usize> {
        Self::ALL
            .iter()
            .position(|s| s.to_code().as_bytes() == code)
    }
}

impl Coded for MigrationState {
    const ALL: &'static [Self] = Self::ALL;
    fn to_code(self) -> &'static str {
        self.code()
    }
    fn of_code(code: &str) -> Option<Self> {
        Self::from_code(code)
    }
}

impl Coded for PasswordState {
    const ALL: &'static [Self] = Self::ALL;
    fn to_code(self) -> &'static str {
        self.code()
    }
    fn of_code(code: &str) -> Option<Self> {
        Self::from_code(code)
    }
}

/// Serde for [`Coded`] states.
mod by_code {
    use super::Coded;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer, T: Coded>(state: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(state.to_code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Coded>(d: D) -> Result<T, D::Error> {
        let code = String::deserialize(d)?;
        T::of_code(&code).ok_or_else(|| D::Error::custom(code))
    }
}

/// Aruba's copy of a mailbox as the counts need it: hashes of its contacts
/// as `contact_differs` compares them.
#[derive(Clone, Copy)]
struct ArubaFacts {
    blocks: bool,
    email: Option<u64>,
    mobile: Option<u64>,
}

/// A member row: its PEC's hash, whether in the roster and on the domain,
/// and (only when Aruba is known) hashes of its contacts.
struct MemberRow {
    pec: u64,
    in_roster: bool,
    on_domain: bool,
    email: Option<u64>,
    mobile: Option<u64>,
}

/// Everything that decides an entry's states.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Group {
    /// In the roster, PEC on the domain, e-mail differs at Aruba, mobile differs.
    member: Option<(bool, bool, bool, bool)>,
    mailbox: Option<MailboxFacts>,
    aruba: AtAruba,
}

/// The mailbox at Aruba, as the counts need it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum AtAruba {
    /// Aruba never synced.
    Unknown,
    Missing,
    Present {
        no_contact: bool,
        blocks: bool,
    },
}

/// Every group of alike entries and how many there are, as counted at a
/// moment; what the store keeps.
#[derive(Serialize, Deserialize)]
struct Groups {
    aruba_known: bool,
    groups: Vec<(Group, usize)>,
}

fn email_key(email: &str) -> u64 {
    let email = email.trim().as_bytes();
    // Lowered on the stack: a million of them are hashed when Aruba is known.
    let mut lowered = [0u8; 128];
    match lowered.get_mut(..email.len()) {
        Some(lowered) => {
            lowered.copy_from_slice(email);
            lowered.make_ascii_lowercase();
            text_hash(lowered)
        }
        None => text_hash(email.to_ascii_lowercase()),
    }
}

fn mobile_key(mobile: &str) -> u64 {
    text_hash(normalize_aruba_mobile(mobile))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

impl Store {
    /// The dashboard's figures and the count of every state, as of `now`,
    /// without loading the members: what the console shows first while the
    /// table loads behind it. From the groups the store keeps when nothing
    /// was written since they were counted, else counted from the tables
    /// (and kept for the next time).
    pub fn dashboard_counts(
        &self,
        pec_domain: &str,
        now: DateTime<Utc>,
    ) -> Result<DashboardCounts> {
        let fingerprint = self.counts_fingerprint(pec_domain)?;
        if let Some(groups) = self.kept_groups(&fingerprint, now)? {
            return Ok(classify_all(&groups, pec_domain, now));
        }
        // Kept with what the scans saw (each in its read transaction, all
        // the same): a write since the fingerprint above is counted in.
        let (groups, seen) = self.count_groups(pec_domain, now)?;
        if let Some(seen) = seen
            && let Err(e) = self.keep_groups(&seen, now, &groups)
        {
            // A store this account may only read, or a writer holding it:
            // the next start counts again.
            tracing::info!(error = %e, "dashboard counts not kept");
        }
        Ok(classify_all(&groups, pec_domain, now))
    }

    /// The dashboard's figures from the groups the store keeps, when they
    /// are current: nothing written since they were counted, counted for
    /// this PEC domain, by this build's rules, and not after `now`.
    pub fn kept_dashboard_counts(
        &self,
        pec_domain: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DashboardCounts>> {
        let fingerprint = self.counts_fingerprint(pec_domain)?;
        Ok(self
            .kept_groups(&fingerprint, now)?
            .map(|groups| classify_all(&groups, pec_domain, now)))
    }

    /// The dashboard's figures from the groups the store keeps even when
    /// something was written since, with the moment they were counted at:
    /// what the console shows, saying so, while it counts again. None when
    /// none were kept for this PEC domain by this build's rules.
    pub fn earlier_dashboard_counts(
        &self,
        pec_domain: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DashboardCounts, DateTime<Utc>)>> {
        let current = self.counts_fingerprint(pec_domain)?;
        let kept: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT fingerprint, counted_at FROM dashboard_counts WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let Some((fingerprint, counted_at)) = kept else {
            return Ok(None);
        };
        // Same rules and domain: the format comes first, the domain last.
        let alike = |f: &str| f.split_once('/').map(|(format, _)| format.to_string());
        let domain = |f: &str| f.rsplit_once('/').map(|(_, domain)| domain.to_string());
        if alike(&fingerprint) != alike(&current) || domain(&fingerprint) != domain(&current) {
            return Ok(None);
        }
        let counted_at = parse_ts(&counted_at)?;
        Ok(self
            .kept_groups(&fingerprint, now)?
            .map(|groups| (classify_all(&groups, pec_domain, now), counted_at)))
    }

    /// The dashboard's figures counted from the tables, never from what is kept.
    pub fn count_dashboard(&self, pec_domain: &str, now: DateTime<Utc>) -> Result<DashboardCounts> {
        let (groups, _) = self.count_groups(pec_domain, now)?;
        Ok(classify_all(&groups, pec_domain, now))
    }

    /// What the counts were taken from: every write that changes a member,
    /// a mailbox or Aruba's copy appends an audit event or a sync run in its
    /// transaction, and each is read here by its last id (an index seek).
    fn counts_fingerprint(&self, pec_domain: &str) -> Result<String> {
        self.conn
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version),
                        (SELECT COALESCE(MAX(id), 0) FROM events),
                        (SELECT COALESCE(MAX(id), 0) FROM sync_runs),
                        (SELECT COALESCE(MAX(id), 0) FROM aruba_sync_runs)",
                [],
                |r| {
                    Ok(format!(
                        "{GROUPS_FORMAT}/{}/{}/{}/{}/{}",
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        pec_domain.to_ascii_lowercase()
                    ))
                },
            )
            .map_err(self.err())
    }

    /// The kept groups, when counted from what `fingerprint` names and not after `now`.
    fn kept_groups(&self, fingerprint: &str, now: DateTime<Utc>) -> Result<Option<Groups>> {
        let kept: Option<(String, String)> = self
            .conn
            .query_row(
                "SELECT counted_at, groups FROM dashboard_counts WHERE id = 1 AND fingerprint = ?1",
                [fingerprint],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let Some((counted_at, groups)) = kept else {
            return Ok(None);
        };
        if parse_ts(&counted_at)? > now {
            return Ok(None);
        }
        serde_json::from_str(&groups)
            .map(Some)
            .map_err(|e| corrupt(format!("conteggi del cruscotto illeggibili: {e}")))
    }

    /// Keeps `groups`, counted at `now` from what `fingerprint` names. Never
    /// waits for another writer: the counts are wanted on screen now.
    fn keep_groups(&self, fingerprint: &str, now: DateTime<Utc>, groups: &Groups) -> Result<()> {
        let json = serde_json::to_string(groups).expect("groups serialise");
        self.conn
            .busy_timeout(std::time::Duration::ZERO)
            .map_err(self.err())?;
        let written = self.conn.execute(
            "INSERT OR REPLACE INTO dashboard_counts (id, fingerprint, counted_at, groups)
             VALUES (1, ?1, ?2, ?3)",
            params![fingerprint, ts(now), json],
        );
        self.conn
            .busy_timeout(super::BUSY_TIMEOUT)
            .map_err(self.err())?;
        written.map(drop).map_err(self.err())
    }

    /// Every group of alike entries, counted from the tables at `now`: the
    /// tables are read in pieces (ranges of rowids) by as many threads as
    /// there are cores, each on its own connection, into buckets by the
    /// address's hash, then joined bucket by bucket (a bucket holds every
    /// member and mailbox of its addresses).
    ///
    /// With the fingerprint of what they were counted from: each thread
    /// reads in one transaction, and a write between their starts (they
    /// would not have read the same store) makes them count again; none
    /// when writes kept coming for three tries.
    fn count_groups(
        &self,
        pec_domain: &str,
        now: DateTime<Utc>,
    ) -> Result<(Groups, Option<String>)> {
        self.count_groups_in_pieces(pec_domain, now, PIECE_ROWS)
    }

    fn count_groups_in_pieces(
        &self,
        pec_domain: &str,
        now: DateTime<Utc>,
        piece_rows: i64,
    ) -> Result<(Groups, Option<String>)> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (groups, seen) = self.count_groups_once(pec_domain, now, piece_rows)?;
            // A writer busier than the scans: what was read is shown, not kept.
            if seen.is_some() || attempts == 3 {
                return Ok((groups, seen));
            }
        }
    }

    /// The groups, and the fingerprint every thread's transaction saw when
    /// they all saw the same.
    fn count_groups_once(
        &self,
        pec_domain: &str,
        now: DateTime<Utc>,
        piece_rows: i64,
    ) -> Result<(Groups, Option<String>)> {
        let aruba_known = self.aruba_synced()?;
        // The mailboxes come from the index of their facts, in address
        // ranges. Without Aruba only the members' PECs and standing are
        // needed: the PECs come from their index in the same ranges, and
        // each range is joined as it is read. With Aruba the members'
        // contacts are in the table: it is read in rowid pieces, and every
        // piece is joined at the end by the addresses' hashes.
        let (pieces, addresses) = if aruba_known {
            let addresses = self.key_ranges("mailboxes", "address", piece_rows)?;
            let mut pieces = self.pieces("members", piece_rows, Piece::Members)?;
            pieces.extend((0..addresses.count()).map(Piece::Mailboxes));
            pieces.extend(self.pieces("aruba_mailboxes", piece_rows, Piece::Aruba)?);
            (pieces, addresses)
        } else {
            // Cut where the more rows are: a roster with no mailboxes yet,
            // or mailboxes synced before any roster, is still shared out.
            let pecs = self.key_ranges("members", "pec", piece_rows)?;
            let addresses = self.key_ranges("mailboxes", "address", piece_rows)?;
            let ranges = if pecs.count() >= addresses.count() {
                pecs
            } else {
                addresses
            };
            ((0..ranges.count()).map(Piece::Joined).collect(), ranges)
        };
        let workers = std::thread::available_parallelism()
            .map_or(2, usize::from)
            .clamp(1, MAX_WORKERS)
            .min(pieces.len().max(1));
        let scan = Scan {
            pieces: &pieces,
            addresses: &addresses,
            next: AtomicUsize::new(0),
            pec_domain,
            aruba_known,
            now,
            today: italian_time(now).date(),
        };
        let path = self.path.clone();
        let scanned = std::thread::scope(|scope| {
            let helpers: Vec<_> = (0..workers)
                .map(|_| scope.spawn(|| scan.run(&path)))
                .collect();
            let mut scanned = Ok((Vec::new(), Vec::new(), Vec::new()));
            for helper in helpers {
                let theirs = helper.join().expect("counting does not panic");
                match (&mut scanned, theirs) {
                    (Ok((seen, mine, facts)), Ok((fingerprint, theirs, their_facts))) => {
                        seen.push(fingerprint);
                        // Each piece's numbers are among its thread's facts.
                        mine.extend(theirs.into_iter().map(|(i, s)| (i, facts.len(), s)));
                        facts.push(their_facts);
                    }
                    (Ok(_), Err(e)) => scanned = Err(e),
                    (Err(_), _) => {}
                }
            }
            scanned
        })?;
        let (seen, mut scanned, threads_facts) = scanned;
        let seen = seen.iter().all(|f| *f == seen[0]).then(|| seen[0].clone());
        // Members in id order, as the table loads them: the first member
        // with a PEC takes its mailbox.
        scanned.sort_unstable_by_key(|(piece, _, _)| *piece);
        let mut tables = Tables {
            members: Vec::new(),
            mailboxes: Vec::new(),
            facts: Vec::new(),
            aruba: aruba_known.then(Vec::new),
        };
        // One number for alike mailboxes across the threads.
        let mut known: HashMap<MailboxFacts, u32, BuildHasherDefault<Mixer>> = HashMap::default();
        let threads_numbers: Vec<Vec<u32>> = threads_facts
            .iter()
            .map(|facts| {
                facts
                    .iter()
                    .map(|&f| {
                        *known.entry(f).or_insert_with(|| {
                            tables.facts.push(f);
                            (tables.facts.len() - 1) as u32
                        })
                    })
                    .collect()
            })
            .collect();
        let mut groups: HashMap<Group, usize, BuildHasherDefault<Mixer>> = HashMap::default();
        for (_, thread, rows) in scanned {
            match rows {
                Scanned::Joined(counted) => {
                    for (key, count) in counted {
                        let group = group_of(key, &threads_facts[thread]);
                        *groups.entry(group).or_default() += count;
                    }
                }
                Scanned::Members(rows) => tables.members.push(rows),
                Scanned::Mailboxes(mut buckets) => {
                    let numbers = &threads_numbers[thread];
                    for (_, n) in buckets.iter_mut().flatten() {
                        *n = numbers[*n as usize];
                    }
                    tables.mailboxes.push(buckets);
                }
                Scanned::Aruba(rows) => {
                    if let Some(aruba) = &mut tables.aruba {
                        aruba.push(rows);
                    }
                }
            }
        }
        if aruba_known {
            for (key, count) in tables.join_all(workers) {
                *groups.entry(group_of(key, &tables.facts)).or_default() += count;
            }
        }
        let groups = Groups {
            aruba_known,
            groups: groups.into_iter().collect(),
        };
        Ok((groups, seen))
    }

    /// Where to cut a table's `key` (a text column, indexed) into ranges of
    /// about `piece_rows` rows each, in order (keys sampled evenly over the
    /// rowids; the ranges need not be even, only many enough to share out),
    /// and about how many rows a range holds.
    fn key_ranges(&self, table: &str, key: &str, piece_rows: i64) -> Result<KeyRanges> {
        let (first, last): (Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                // Apart: together they would scan the table.
                &format!(
                    "SELECT (SELECT MIN(rowid) FROM {table}), (SELECT MAX(rowid) FROM {table})"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(KeyRanges::default());
        };
        let span = last - first + 1;
        let pieces = (span / piece_rows.max(1)).clamp(1, MAX_PIECES);
        // Four samples a bound: closer to even ranges than one.
        let samples = (pieces - 1) * 4;
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {key} FROM {table} WHERE rowid >= ?1 ORDER BY rowid LIMIT 1"
            ))
            .map_err(self.err())?;
        let mut keys = Vec::new();
        for i in 0..samples {
            let rowid = first + span * (2 * i + 1) / (2 * samples);
            let key: Option<rusqlite::types::Value> = stmt
                .query_row([rowid], |r| r.get(0))
                .optional()
                .map_err(self.err())?;
            // Bounds are compared as text: another kind of value is no bound.
            if let Some(rusqlite::types::Value::Text(key)) = key {
                keys.push(key);
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let bounds: Vec<String> = keys.into_iter().skip(2).step_by(4).collect();
        let rows = span / (bounds.len() as i64 + 1);
        Ok(KeyRanges { bounds, rows })
    }

    /// A table's rowids in pieces of about `piece_rows`.
    fn pieces(
        &self,
        table: &str,
        piece_rows: i64,
        piece: fn(i64, i64) -> Piece,
    ) -> Result<Vec<Piece>> {
        let (first, last): (Option<i64>, Option<i64>) = self
            .conn
            .query_row(
                // Apart: together they would scan the table.
                &format!(
                    "SELECT (SELECT MIN(rowid) FROM {table}), (SELECT MAX(rowid) FROM {table})"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(self.err())?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(Vec::new());
        };
        let span = last - first + 1;
        let count = (span / piece_rows.max(1)).clamp(1, MAX_PIECES);
        let step = (span + count - 1) / count;
        Ok((0..count)
            .map(|i| first + i * step)
            .map(|from| piece(from, from.saturating_add(step)))
            .collect())
    }
}

/// Rows per piece of a table's scan: enough pieces to keep every core busy
/// to the end (at 100k members each table is several pieces, so the
/// mailboxes, the larger part, are not read by one thread alone), few
/// enough that a small store is one.
const PIECE_ROWS: i64 = 16_384;
const MAX_PIECES: i64 = 64;
/// The scan reads pages from memory: past a few threads they only contend.
const MAX_WORKERS: usize = 4;
/// The rows are split by their address's hash into this many buckets as
/// they are read, and joined bucket by bucket: a bucket's maps stay in the
/// processor's cache at a million rows.
const BUCKETS: usize = 64;

/// A table cut into ranges of a text key: the `count()` ranges are from
/// one bound (or the first key) up to the next (or the last key).
#[derive(Default)]
struct KeyRanges {
    bounds: Vec<String>,
    /// About how many rows a range holds.
    rows: i64,
}

impl KeyRanges {
    fn count(&self) -> usize {
        self.bounds.len() + 1
    }

    /// The bounds of the `i`th range, `[from, to)`, a missing one being no bound.
    fn range(&self, i: usize) -> (Option<&str>, Option<&str>) {
        (
            i.checked_sub(1).map(|b| self.bounds[b].as_str()),
            self.bounds.get(i).map(String::as_str),
        )
    }
}

/// Rows split by their address's hash (see [`bucket`]).
type Buckets<T> = Vec<Vec<T>>;

/// `BUCKETS` empty buckets, room made for `rows` rows among them.
fn buckets<T>(rows: i64) -> Buckets<T> {
    let each = usize::try_from(rows).unwrap_or_default().min(1 << 20) / BUCKETS + 16;
    (0..BUCKETS).map(|_| Vec::with_capacity(each)).collect()
}

/// An address's bucket, by bits of its hash that neither the maps' buckets
/// nor their tags use.
fn bucket(hash: u64) -> usize {
    (hash >> 32) as usize % BUCKETS
}

/// A range of rowids `[from, to)` of one table, or of members' PECs.
#[derive(Clone, Copy)]
enum Piece {
    Members(i64, i64),
    /// The members (by their PECs) and the mailboxes with addresses in the
    /// [`KeyRanges`] range of that number, joined as they are read.
    Joined(usize),
    /// The mailboxes whose addresses are in the [`KeyRanges`] range of that number.
    Mailboxes(usize),
    Aruba(i64, i64),
}

/// The members out of the roster or erased, by id: whether erased, and
/// if not whether in the roster.
type Apart = HashMap<i64, Standing, BuildHasherDefault<Mixer>>;

#[derive(Clone, Copy)]
enum Standing {
    Erased,
    InRoster(bool),
}

/// What a piece held, as the counts need it.
enum Scanned {
    /// Its entries counted by [`Tables::key`] (the facts' numbers are
    /// among those its thread met).
    Joined(KeyCounts),
    /// In id order within each bucket.
    Members(Buckets<MemberRow>),
    /// Each mailbox's address hash and the number of its facts among those
    /// its thread met.
    Mailboxes(Buckets<(u64, u32)>),
    Aruba(Buckets<(u64, ArubaFacts)>),
}

/// What a thread of the scan read: the fingerprint its transaction saw, each
/// piece it took with its place among the pieces, and the facts the pieces'
/// numbers stand for.
type ThreadScan = (String, Vec<(usize, Scanned)>, Vec<MailboxFacts>);

/// The pieces of the tables' scan and the next one to take.
struct Scan<'a> {
    pieces: &'a [Piece],
    /// Where [`Piece::Joined`] and [`Piece::Mailboxes`] cut.
    addresses: &'a KeyRanges,
    next: AtomicUsize,
    pec_domain: &'a str,
    aruba_known: bool,
    now: DateTime<Utc>,
    today: NaiveDate,
}

impl Scan<'_> {
    /// Takes pieces until none is left, on a connection of its own and in
    /// one read transaction; each with its place among the pieces, and the
    /// fingerprint of what the transaction reads. A failure stops the other
    /// threads too.
    fn run(&self, path: &std::path::Path) -> Result<ThreadScan> {
        // Not through a memory map: the file's pages would count in the
        // console's resident memory, the whole file at a million members.
        let result = Store::open(path).and_then(|store| {
            store
                .conn
                .execute_batch("BEGIN DEFERRED")
                .map_err(store.err())?;
            let seen = store.counts_fingerprint(self.pec_domain)?;
            // The few members apart from the roster's run, for the members
            // read by their PECs (a small index of their own).
            let apart = if self.aruba_known {
                Apart::default()
            } else {
                apart(&store.conn).map_err(store.err())?
            };
            // One for the thread: alike mailboxes recur from piece to piece.
            let mut facts = FactsReader::new(self.now, self.today);
            let mut out = Vec::new();
            loop {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                let Some(&piece) = self.pieces.get(i) else {
                    // Only read: the transaction ends with the connection.
                    return Ok((seen, out, facts.distinct));
                };
                out.push((i, self.read(&store, &apart, &mut facts, piece)?));
            }
        });
        if result.is_err() {
            self.next.store(usize::MAX / 2, Ordering::Relaxed);
        }
        result
    }

    fn read(
        &self,
        store: &Store,
        apart: &Apart,
        facts: &mut FactsReader,
        piece: Piece,
    ) -> Result<Scanned> {
        let conn = &store.conn;
        match piece {
            Piece::Members(from, to) => {
                member_rows(conn, self.pec_domain, self.aruba_known, from, to)
                    .map(Scanned::Members)
                    .map_err(store.err())
            }
            Piece::Joined(i) => {
                let range = self.addresses.range(i);
                joined(conn, apart, self.pec_domain, range, facts)
                    .map_err(store.err())?
                    .map(Scanned::Joined)
            }
            Piece::Mailboxes(i) => {
                mailbox_facts(conn, facts, self.addresses.range(i), self.addresses.rows)
                    .map_err(store.err())?
                    .map(Scanned::Mailboxes)
            }
            Piece::Aruba(from, to) => aruba_facts(conn, from, to)
                .map(Scanned::Aruba)
                .map_err(store.err()),
        }
    }
}

/// Every row the counts need, read, piece by piece, when Aruba is known.
struct Tables {
    /// Piece by piece in id order.
    members: Vec<Buckets<MemberRow>>,
    /// Each mailbox's address hash and the number of its facts.
    mailboxes: Vec<Buckets<(u64, u32)>>,
    facts: Vec<MailboxFacts>,
    /// When Aruba was ever synced.
    aruba: Option<Vec<Buckets<(u64, ArubaFacts)>>>,
}

/// A [`Group`] packed in a number (see [`Tables::key`]), and how many entries.
type KeyCounts = HashMap<u64, usize, BuildHasherDefault<Mixer>>;

/// No mailbox, in a packed key.
const NO_FACTS: u64 = u32::MAX as u64;

impl Tables {
    /// Every entry counted by [`Tables::key`], joined bucket by bucket on
    /// `workers` threads.
    fn join_all(&self, workers: usize) -> KeyCounts {
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (0..workers)
                .map(|_| {
                    let next = &next;
                    scope.spawn(move || {
                        let mut counted = KeyCounts::default();
                        loop {
                            let bucket = next.fetch_add(1, Ordering::Relaxed);
                            if bucket >= BUCKETS {
                                return counted;
                            }
                            self.join(bucket, &mut counted);
                        }
                    })
                })
                .collect();
            let mut counted = KeyCounts::default();
            for helper in helpers {
                for (key, count) in helper.join().expect("joining does not panic") {
                    *counted.entry(key).or_default() += count;
                }
            }
            counted
        })
    }

    /// Counts the entries of addresses in `bucket` into `counted`, joined
    /// as [`Store::roster_entries`] joins them.
    fn join(&self, bucket: usize, counted: &mut KeyCounts) {
        let mailboxes = self.mailboxes.iter().flat_map(|piece| &piece[bucket]);
        let count = mailboxes.clone().count();
        // Each mailbox of the bucket: its place among them and its facts.
        let mut by_address: ByHash<(u32, u32)> =
            ByHash::with_capacity_and_hasher(count, Default::default());
        for (i, &(hash, facts)) in mailboxes.clone().enumerate() {
            by_address.insert(hash, (i as u32, facts));
        }
        let mut taken = vec![false; count];
        let mut aruba: Option<ByHash<ArubaFacts>> = self.aruba.as_ref().map(|pieces| {
            let rows = pieces.iter().flat_map(|piece| &piece[bucket]);
            let mut map =
                ByHash::with_capacity_and_hasher(rows.clone().count(), Default::default());
            map.extend(rows.copied());
            map
        });
        for row in self.members.iter().flat_map(|piece| &piece[bucket]) {
            let in_roster = row.in_roster;
            let facts = match by_address.get(&row.pec) {
                Some(&(i, facts)) if !taken[i as usize] => {
                    taken[i as usize] = true;
                    u64::from(facts)
                }
                _ => NO_FACTS,
            };
            let at_aruba = aruba.as_mut().map(|aruba| aruba.remove(&row.pec));
            let differs = |mine: Option<u64>, theirs: Option<u64>| matches!((mine, theirs), (Some(a), Some(b)) if a != b);
            let (email_differs, mobile_differs) = match at_aruba {
                Some(Some(a)) => (differs(row.email, a.email), differs(row.mobile, a.mobile)),
                _ => (false, false),
            };
            let member = Some((in_roster, row.on_domain, email_differs, mobile_differs));
            let aruba = match at_aruba {
                None => AtAruba::Unknown,
                Some(None) => AtAruba::Missing,
                Some(Some(a)) => AtAruba::Present {
                    no_contact: a.email.is_none(),
                    blocks: a.blocks,
                },
            };
            *counted.entry(Self::key(member, facts, aruba)).or_default() += 1;
        }
        for (&(_, facts), taken) in mailboxes.zip(taken) {
            if !taken {
                let key = Self::key(None, u64::from(facts), AtAruba::Unknown);
                *counted.entry(key).or_default() += 1;
            }
        }
    }

    /// A group in a number: the facts' number above, the member's and
    /// Aruba's bits below.
    fn key(member: Option<(bool, bool, bool, bool)>, facts: u64, aruba: AtAruba) -> u64 {
        let member = member.map_or(0, |(a, b, c, d)| {
            0b10000 | u64::from(a) | u64::from(b) << 1 | u64::from(c) << 2 | u64::from(d) << 3
        });
        let aruba = match aruba {
            AtAruba::Unknown => 0,
            AtAruba::Missing => 1,
            AtAruba::Present { no_contact, blocks } => {
                0b100 | u64::from(no_contact) | u64::from(blocks) << 1
            }
        };
        facts << 16 | member << 8 | aruba
    }
}

/// The group a [`Tables::key`] packed, its facts' number among `facts`.
fn group_of(key: u64, facts: &[MailboxFacts]) -> Group {
    let bit = |n: u32| key >> n & 1 == 1;
    let number = key >> 16;
    Group {
        member: bit(12).then(|| (bit(8), bit(9), bit(10), bit(11))),
        mailbox: (number != NO_FACTS).then(|| facts[number as usize]),
        aruba: match key & 0b111 {
            0 => AtAruba::Unknown,
            1 => AtAruba::Missing,
            _ => AtAruba::Present {
                no_contact: bit(0),
                blocks: bit(1),
            },
        },
    }
}

/// The dashboard's figures at `now` from every group of alike entries.
fn classify_all(groups: &Groups, pec_domain: &str, now: DateTime<Utc>) -> DashboardCounts {
    let mut counts = DashboardCounts {
        summary: Summary::empty(),
        categories: vec![0; Category::ALL.len()],
        aruba_known: groups.aruba_known,
    };
    let today = italian_time(now).date();
    for &(group, count) in &groups.groups {
        classify(&mut counts, group, count, pec_domain, today, now);
    }
    counts
}

/// Counts `count` entries alike by the domain's rules, through one
/// representative of them.
fn classify(
    counts: &mut DashboardCounts,
    group: Group,
    count: usize,
    pec_domain: &str,
    today: NaiveDate,
    now: DateTime<Utc>,
) {
    let member = group
        .member
        .map(|(_, on_domain, email_differs, mobile_differs)| Member {
            numero_iscrizione: String::new(),
            cognome: String::new(),
            nome: String::new(),
            codice_fiscale: String::new(),
            data_nascita: None,
            data_iscrizione: None,
            pec: if on_domain {
                format!("x@{pec_domain}")
            } else {
                format!("x@altro.{pec_domain}")
            },
            email_servizio: email_differs.then(|| "roster@example.it".to_string()),
            cellulare: mobile_differs.then(|| "+393330000001".to_string()),
            provincia: None,
            data_cancellazione: None,
        });
    let in_roster = group.member.is_some_and(|m| m.0);
    let mailbox = group.mailbox.map(|f| MailboxState {
        address: String::new(),
        migration: f.migration,
        migration_at: None,
        password: f.password,
        link_sent_at: None,
        link_expires_at: f.expires,
        recovery: RecoveryContacts {
            email_masked: f.email.then(String::new),
            mobile_masked: f.mobile.then(String::new),
            confirmed: f.confirmed,
        },
        last_login_at: None,
        must_change_password: false,
        updated_at: now,
    });
    let aruba = match group.aruba {
        AtAruba::Unknown => ArubaSide::Unknown,
        AtAruba::Missing => ArubaSide::Missing,
        AtAruba::Present { no_contact, blocks } => {
            let (email_differs, mobile_differs) =
                group.member.map_or((false, false), |m| (m.2, m.3));
            ArubaSide::Present(ArubaMailbox {
                address: String::new(),
                status: if blocks {
                    ArubaStatus::Suspended
                } else {
                    ArubaStatus::Certified
                },
                owner_id: None,
                contact_email: (!no_contact).then(|| {
                    if email_differs {
                        "aruba@example.it"
                    } else {
                        "roster@example.it"
                    }
                    .to_string()
                }),
                contact_mobile: mobile_differs.then(|| "+393330000002".to_string()),
            })
        }
    };
    if let Some(member) = &member {
        counts.summary.add_member(
            in_roster,
            member.pec_on_domain(pec_domain),
            mailbox.is_some(),
            count,
        );
    }
    if let Some(f) = group.mailbox {
        counts.summary.add_mailbox(
            member.is_none(),
            f.migration,
            f.migrated_on,
            f.password_at(now),
            (f.email, f.mobile, f.confirmed),
            today,
            count,
        );
    }
    for (i, &c) in Category::ALL.iter().enumerate() {
        if category::is_in_with(
            c,
            member.as_ref(),
            in_roster,
            mailbox.as_ref(),
            &aruba,
            pec_domain,
            now,
        ) {
            counts.categories[i] += count;
        }
    }
}

/// Whether a PEC (as bytes: the text need not be checked to be split) is on the domain.
fn on_domain(pec: &[u8], pec_domain: &str) -> bool {
    let domain = pec
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(&[][..], |at| &pec[at + 1..]);
    domain.eq_ignore_ascii_case(pec_domain.as_bytes())
}

/// The members with ids in `[from, to)`, in id order (as the table loads them).
fn member_rows(
    conn: &Connection,
    pec_domain: &str,
    contacts: bool,
    from: i64,
    to: i64,
) -> rusqlite::Result<Buckets<MemberRow>> {
    let mut stmt = conn.prepare_cached(if contacts {
        "SELECT pec, in_roster, email_servizio, cellulare FROM members
         WHERE id >= ?1 AND id < ?2 AND erased_at IS NULL ORDER BY id"
    } else {
        "SELECT pec, in_roster FROM members
         WHERE id >= ?1 AND id < ?2 AND erased_at IS NULL ORDER BY id"
    })?;
    let mut out = buckets(to - from);
    let mut rows = stmt.query([from, to])?;
    while let Some(row) = rows.next()? {
        // As bytes: the text need not be checked to be hashed and split.
        let pec = row.get_ref(0)?.as_bytes()?;
        let on_domain = on_domain(pec, pec_domain);
        let (email, mobile) = if contacts {
            (
                row.get_ref(2)?.as_str_or_null()?.map(email_key),
                row.get_ref(3)?.as_str_or_null()?.map(mobile_key),
            )
        } else {
            (None, None)
        };
        let pec = text_hash(pec);
        out[bucket(pec)].push(MemberRow {
            pec,
            in_roster: row.get(1)?,
            on_domain,
            email,
            mobile,
        });
    }
    Ok(out)
}

/// The entries of the members (from the index of their PECs) and mailboxes
/// (from the index of their facts) whose addresses are in `range`, counted
/// by [`Tables::key`]: both are read in address order and joined as they
/// come, as [`Store::roster_entries`] joins them (a PEC's members in id
/// order, the first not erased taking its mailbox). Without Aruba.
fn joined(
    conn: &Connection,
    apart: &Apart,
    pec_domain: &str,
    range: (Option<&str>, Option<&str>),
    facts: &mut FactsReader,
) -> rusqlite::Result<Result<KeyCounts>> {
    let (from, to) = (range.0.is_some(), range.1.is_some());
    let mut members = conn.prepare_cached(&members_by_pec_sql(from, to))?;
    let mut mailboxes = conn.prepare_cached(&mailbox_facts_sql(from, to))?;
    let mut members = query_in_range(&mut members, range)?;
    let mut mailboxes = MailboxCursor {
        rows: query_in_range(&mut mailboxes, range)?,
        address: Vec::new(),
        blob: false,
        facts: None,
        taken: false,
    };
    let mut counted = KeyCounts::default();
    let without_member = |number: u32| Tables::key(None, u64::from(number), AtAruba::Unknown);
    if let Err(e) = mailboxes.advance(facts)? {
        return Ok(Err(e));
    }
    while let Some(row) = members.next()? {
        let pec = row.get_ref(0)?;
        let pec = (matches!(pec, ValueRef::Blob(_)), pec.as_bytes()?);
        // Most often none is apart: the id is not even read.
        let standing = if apart.is_empty() {
            None
        } else {
            apart.get(&row.get(1)?)
        };
        let in_roster = match standing {
            None => true,
            Some(Standing::InRoster(in_roster)) => *in_roster,
            Some(Standing::Erased) => continue,
        };
        // The mailboxes before this PEC have no member.
        while let Some(number) = mailboxes.facts
            && (mailboxes.blob, mailboxes.address.as_slice()) < pec
        {
            if !mailboxes.taken {
                *counted.entry(without_member(number)).or_default() += 1;
            }
            if let Err(e) = mailboxes.advance(facts)? {
                return Ok(Err(e));
            }
        }
        let number = match mailboxes.facts {
            Some(number)
                if !mailboxes.taken && (mailboxes.blob, mailboxes.address.as_slice()) == pec =>
            {
                mailboxes.taken = true;
                u64::from(number)
            }
            _ => NO_FACTS,
        };
        let member = Some((in_roster, on_domain(pec.1, pec_domain), false, false));
        *counted
            .entry(Tables::key(member, number, AtAruba::Unknown))
            .or_default() += 1;
    }
    while let Some(number) = mailboxes.facts {
        if !mailboxes.taken {
            *counted.entry(without_member(number)).or_default() += 1;
        }
        if let Err(e) = mailboxes.advance(facts)? {
            return Ok(Err(e));
        }
    }
    Ok(Ok(counted))
}

/// The mailbox [`joined`] is at: its address (ordered as SQLite orders
/// them: texts before blobs, each by its bytes), the number of its facts
/// (none past the last) and whether a member took it.
struct MailboxCursor<'s> {
    rows: rusqlite::Rows<'s>,
    address: Vec<u8>,
    blob: bool,
    facts: Option<u32>,
    taken: bool,
}

impl MailboxCursor<'_> {
    fn advance(&mut self, facts: &mut FactsReader) -> rusqlite::Result<Result<()>> {
        self.taken = false;
        let Some(row) = self.rows.next()? else {
            self.facts = None;
            return Ok(Ok(()));
        };
        let address = row.get_ref(0)?;
        self.blob = matches!(address, ValueRef::Blob(_));
        self.address.clear();
        self.address.extend_from_slice(address.as_bytes()?);
        match facts.number(row.get_ref(1)?.as_bytes()?) {
            Ok(number) => {
                self.facts = Some(number);
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }
}

/// The query of [`member_rows_by_pec`], with a lower bound and an upper
/// one or not (?1 and ?2).
fn members_by_pec_sql(from: bool, to: bool) -> String {
    in_range_sql("SELECT pec, id FROM members", "pec", "pec, id", (from, to))
}

/// The query of [`mailbox_facts`], with a lower bound and an upper one or
/// not (?1 and ?2): through the index of the facts (not forced to: were it
/// ever missing, the counts would be slower, not wrong).
fn mailbox_facts_sql(from: bool, to: bool) -> String {
    in_range_sql(
        &format!("SELECT address, {MAILBOX_FACTS_SQL} FROM mailboxes"),
        "address",
        "address",
        (from, to),
    )
}

/// `select` of the rows whose `key` is from ?1 (when `from`) and before ?2
/// (when `to`), in `order`.
fn in_range_sql(select: &str, key: &str, order: &str, (from, to): (bool, bool)) -> String {
    let range = match (from, to) {
        (true, true) => format!("WHERE {key} >= ?1 AND {key} < ?2"),
        (true, false) => format!("WHERE {key} >= ?1"),
        (false, true) => format!("WHERE {key} < ?2"),
        (false, false) => String::new(),
    };
    format!("{select} {range} ORDER BY {order}")
}

/// The rows of a query of [`in_range_sql`] between `from` and `to`.
fn query_in_range<'s>(
    stmt: &'s mut rusqlite::CachedStatement<'_>,
    (from, to): (Option<&str>, Option<&str>),
) -> rusqlite::Result<rusqlite::Rows<'s>> {
    if let Some(from) = from {
        stmt.raw_bind_parameter(1, from)?;
    }
    if let Some(to) = to {
        stmt.raw_bind_parameter(2, to)?;
    }
    Ok(stmt.raw_query())
}

/// Read through `members_apart` (the planner's choice: a test checks it),
/// not forced to: were the index ever missing, the counts would be slower, not wrong.
const APART_SQL: &str = "SELECT id, in_roster, erased_at IS NOT NULL
    FROM members WHERE in_roster = 0 OR erased_at IS NOT NULL";

/// The members out of the roster or erased, from their own small index.
fn apart(conn: &Connection) -> rusqlite::Result<Apart> {
    let mut stmt = conn.prepare_cached(APART_SQL)?;
    let rows = stmt.query_map([], |r| {
        let standing = if r.get(2)? {
            Standing::Erased
        } else {
            Standing::InRoster(r.get(1)?)
        };
        Ok((r.get(0)?, standing))
    })?;
    rows.collect()
}

/// The mailboxes with addresses in `range` (see [`KeyRanges`]): each
/// address's hash with the number of its facts among the distinct facts met.
fn mailbox_facts(
    conn: &Connection,
    facts: &mut FactsReader,
    range: (Option<&str>, Option<&str>),
    rows_about: i64,
) -> rusqlite::Result<Result<Buckets<(u64, u32)>>> {
    let mut stmt = conn.prepare_cached(&mailbox_facts_sql(range.0.is_some(), range.1.is_some()))?;
    // Ranges are uneven: room for a quarter more than the average.
    let mut out = buckets(rows_about + rows_about / 4);
    let mut rows = query_in_range(&mut stmt, range)?;
    while let Some(row) = rows.next()? {
        let number = match facts.number(row.get_ref(1)?.as_bytes()?) {
            Ok(number) => number,
            Err(e) => return Ok(Err(e)),
        };
        let hash = text_hash(row.get_ref(0)?.as_bytes()?);
        out[bucket(hash)].push((hash, number));
    }
    Ok(Ok(out))
}

/// Mailboxes' facts as of a moment, alike ones numbered as they are read:
/// the join then carries a number, not the facts.
struct FactsReader {
    now: DateTime<Utc>,
    today: NaiveDate,
    days: Days,
    /// Numbers already given, by the packed facts of [`FactsText::quick`].
    by_key: HashMap<u64, u32, BuildHasherDefault<Mixer>>,
    numbers: HashMap<MailboxFacts, u32, BuildHasherDefault<Mixer>>,
    /// The facts met, by their number.
    distinct: Vec<MailboxFacts>,
}

impl FactsReader {
    fn new(now: DateTime<Utc>, today: NaiveDate) -> Self {
        Self {
            now,
            today,
            days: Days::default(),
            by_key: HashMap::default(),
            numbers: HashMap::default(),
            distinct: Vec::new(),
        }
    }

    /// The number of the facts of [`MAILBOX_FACTS_SQL`]'s `text`.
    fn number(&mut self, text: &[u8]) -> Result<u32> {
        let fields = FactsText::split(text)?;
        if let Some((key, facts)) = fields.quick(self.today, &mut self.days)? {
            if let Some(&number) = self.by_key.get(&key) {
                return Ok(number);
            }
            let number = self.numbered(facts);
            self.by_key.insert(key, number);
            return Ok(number);
        }
        let facts = read_facts(text, self.now, self.today, &mut self.days)?;
        Ok(self.numbered(facts))
    }

    fn numbered(&mut self, facts: MailboxFacts) -> u32 {
        *self.numbers.entry(facts).or_insert_with(|| {
            self.distinct.push(facts);
            (self.distinct.len() - 1) as u32
        })
    }
}

/// The Italian day of each hour met, as the text of moments in [`ts`]'s
/// own format begins (`YYYY-MM-DDTHH`): completed migrations come in bursts,
/// and Italy's offset changes on the hour. The rest of such a text is
/// checked byte by byte, not parsed; a moment in another format is parsed.
///
/// [`ts`]: super::ts
#[derive(Default)]
struct Days(HashMap<u128, NaiveDate, BuildHasherDefault<Mixer>>);

impl Days {
    fn day_of(&mut self, text: &[u8]) -> Result<NaiveDate> {
        match own_format_hour(text) {
            Some(hour) => self.day_by_hour(hour, text),
            None => Ok(italian_time(moment(text)?).date()),
        }
    }

    /// The day of `text`, in the store's own format, whose hour is `hour`
    /// (see [`own_format_hour`]).
    fn day_by_hour(&mut self, hour: u128, text: &[u8]) -> Result<NaiveDate> {
        if let Some(&day) = self.0.get(&hour) {
            return Ok(day);
        }
        // The first of its hour: its date and hour are checked by the parse,
        // and so are those of every later one that begins alike.
        let day = italian_time(moment(text)?).date();
        self.0.insert(hour, day);
        Ok(day)
    }
}

/// The first 13 bytes of a moment (`YYYY-MM-DDTHH`) as a number, when the
/// rest is as [`ts`] writes it (`:MM:SS`, a fraction of up to nine digits or
/// none, `Z`) and would be read so; the first 13 are left to [`Days::day_of`].
///
/// [`ts`]: super::ts
fn own_format_hour(b: &[u8]) -> Option<u128> {
    if b.len() < 20 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let two = |i: usize| {
        let (tens, units) = (b[i], b[i + 1]);
        (tens.is_ascii_digit() && units.is_ascii_digit()).then(|| (tens - b'0') * 10 + units - b'0')
    };
    if two(14)? >= 60 || two(17)? >= 60 {
        return None;
    }
    let tail = match &b[19..] {
        [b'.', fraction @ ..] => {
            let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            &fraction[digits..]
        }
        tail => tail,
    };
    if tail != b"Z" {
        return None;
    }
    let mut hour = [0u8; 16];
    hour[..13].copy_from_slice(&b[..13]);
    Some(u128::from_le_bytes(hour))
}

/// A moment as the tables keep it.
fn moment(text: &[u8]) -> Result<DateTime<Utc>> {
    match std::str::from_utf8(text) {
        Ok(text) => parse_ts(text),
        Err(_) => Err(corrupt(format!(
            "data e ora non valida: {}",
            String::from_utf8_lossy(text)
        ))),
    }
}

/// The fields of [`MAILBOX_FACTS_SQL`]'s text: the states and the flags
/// read, the moments as they are (empty where the counts do not look).
struct FactsText<'t> {
    migration: MigrationState,
    password: PasswordState,
    flags: u8,
    migrated_at: &'t [u8],
    expires_at: &'t [u8],
}

impl<'t> FactsText<'t> {
    fn split(text: &'t [u8]) -> Result<Self> {
        let mut fields = text.splitn(5, |&b| b == b'|');
        let mut field = || fields.next();
        let (Some(migration), Some(password), Some(flags), Some(migrated_at), Some(expires_at)) =
            (field(), field(), field(), field(), field())
        else {
            let text = String::from_utf8_lossy(text);
            return Err(corrupt(format!("stato della casella illeggibile: {text}")));
        };
        let Some(migration) = MigrationState::of_code_bytes(migration) else {
            let code = String::from_utf8_lossy(migration);
            return Err(corrupt(format!("stato di migrazione sconosciuto: {code}")));
        };
        let Some(password) = PasswordState::of_code_bytes(password) else {
            let code = String::from_utf8_lossy(password);
            return Err(corrupt(format!("stato della password sconosciuto: {code}")));
        };
        let &[flags @ b'0'..=b'7'] = flags else {
            let flags = String::from_utf8_lossy(flags);
            return Err(corrupt(format!(
                "contatti di recupero illeggibili: {flags}"
            )));
        };
        Ok(Self {
            migration,
            password,
            flags: flags - b'0',
            migrated_at,
            expires_at,
        })
    }

    /// The facts, with the day of the migration given (see [`MailboxFacts`]).
    fn facts(&self, migrated_on: Option<NaiveDate>) -> MailboxFacts {
        MailboxFacts {
            migration: self.migration,
            password: self.password,
            expires: None,
            email: self.flags & 1 != 0,
            mobile: self.flags & 2 != 0,
            confirmed: self.flags & 4 != 0,
            migrated_on,
        }
    }

    /// With no pending link, and no completed migration or one whose moment
    /// is in the store's own format: the facts packed in a number (states,
    /// flags, day of the migration) with the facts themselves, the moment's
    /// day looked up by its hour.
    fn quick(&self, today: NaiveDate, days: &mut Days) -> Result<Option<(u64, MailboxFacts)>> {
        if !self.expires_at.is_empty() {
            return Ok(None);
        }
        let migrated_on = if self.migrated_at.is_empty() {
            None
        } else {
            let Some(hour) = own_format_hour(self.migrated_at) else {
                return Ok(None);
            };
            within_history(days.day_by_hour(hour, self.migrated_at)?, today)
        };
        let facts = self.facts(migrated_on);
        let day = migrated_on.map_or(0, |d| {
            1 << 32 | u64::from(chrono::Datelike::num_days_from_ce(&d) as u32)
        });
        // Each state's place among its kind's fits in four bits.
        const _: () = assert!(MigrationState::ALL.len() <= 16 && PasswordState::ALL.len() <= 16);
        let states = (self.migration as u64) | (self.password as u64) << 4;
        Ok(Some((
            day << 12 | states << 3 | u64::from(self.flags),
            facts,
        )))
    }
}

/// The day itself when the history still shows it at `today`. Days ahead
/// stay too (a provider's clock ahead of ours): they come into it later.
fn within_history(day: NaiveDate, today: NaiveDate) -> Option<NaiveDate> {
    ((today - day).num_days() < HISTORY_DAYS as i64).then_some(day)
}

/// A mailbox's facts from the text of [`MAILBOX_FACTS_SQL`], as of `now`.
fn read_facts(
    text: &[u8],
    now: DateTime<Utc>,
    today: NaiveDate,
    days: &mut Days,
) -> Result<MailboxFacts> {
    let fields = FactsText::split(text)?;
    // Present only for a completed migration.
    let migrated_on = if fields.migrated_at.is_empty() {
        None
    } else {
        within_history(days.day_of(fields.migrated_at)?, today)
    };
    let mut facts = fields.facts(migrated_on);
    // Present only for a pending link.
    if !fields.expires_at.is_empty() {
        match moment(fields.expires_at)? {
            expiry if expiry <= now => facts.password = PasswordState::LinkExpired,
            expiry => facts.expires = Some(expiry),
        }
    }
    Ok(facts)
}

/// Aruba's mailboxes with rowids in `[from, to)`, by their address's hash.
fn aruba_facts(
    conn: &Connection,
    from: i64,
    to: i64,
) -> rusqlite::Result<Buckets<(u64, ArubaFacts)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT address, status, contact_email, contact_mobile FROM aruba_mailboxes
         WHERE rowid >= ?1 AND rowid < ?2",
    )?;
    let mut out = buckets(to - from);
    let mut rows = stmt.query([from, to])?;
    while let Some(row) = rows.next()? {
        let facts = ArubaFacts {
            blocks: ArubaStatus::from_code(row.get_ref(1)?.as_str()?).blocks_migration(),
            email: row.get_ref(2)?.as_str_or_null()?.map(email_key),
            mobile: row.get_ref(3)?.as_str_or_null()?.map(mobile_key),
        };
        let hash = text_hash(row.get_ref(0)?.as_bytes()?);
        out[bucket(hash)].push((hash, facts));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DEFAULT_PEC_DOMAIN;
    use crate::store::{IncomingRoster, ts};
    use chrono::TimeDelta;

    /// What the console computes from the loaded entries.
    fn from_entries(store: &Store, now: DateTime<Utc>) -> DashboardCounts {
        let entries = store.roster_entries().unwrap();
        DashboardCounts {
            summary: summarize(&entries, DEFAULT_PEC_DOMAIN, now),
            categories: Category::ALL
                .iter()
                .map(|&c| {
                    entries
                        .iter()
                        .filter(|e| {
                            category::is_in_with(
                                c,
                                e.member.as_ref(),
                                e.in_roster,
                                e.mailbox.as_ref(),
                                &e.aruba,
                                DEFAULT_PEC_DOMAIN,
                                now,
                            )
                        })
                        .count()
                })
                .collect(),
            aruba_known: entries
                .first()
                .is_some_and(|e| !matches!(e.aruba, ArubaSide::Unknown)),
        }
    }

    /// A store of 600 members in every state, removed members, external
    /// PECs and 17 mailboxes with no member; its roster.
    fn populated(now: DateTime<Utc>) -> (tempfile::TempDir, Store, Vec<Member>) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let roster = crate::sample::generate_roster(600, 11, DEFAULT_PEC_DOMAIN);
        store
            .upsert_members(&IncomingRoster::full(&roster), "t", "t", now)
            .unwrap();
        // A later roster without the last 50: they are removed.
        store
            .upsert_members(&IncomingRoster::full(&roster[..550]), "t", "t", now)
            .unwrap();
        let mut states: Vec<MailboxState> = roster
            .iter()
            .enumerate()
            .filter(|(i, m)| m.pec_on_domain(DEFAULT_PEC_DOMAIN) && i % 13 != 0)
            .map(|(i, m)| {
                let migration = MigrationState::ALL[i % 4];
                let password = PasswordState::ALL[(i / 4) % 4];
                let sent = now - TimeDelta::hours((i % 50) as i64);
                MailboxState {
                    address: m.pec.clone(),
                    migration,
                    migration_at: Some(now - TimeDelta::hours((i * 7 % 900) as i64)),
                    password,
                    link_sent_at: Some(sent),
                    link_expires_at: (i % 5 != 0).then(|| sent + TimeDelta::hours(24)),
                    recovery: RecoveryContacts {
                        email_masked: (i % 3 != 0).then(|| "a***@b.it".into()),
                        mobile_masked: (i % 7 < 3).then(|| "***123".into()),
                        confirmed: i % 2 == 0,
                    },
                    last_login_at: None,
                    must_change_password: false,
                    updated_at: now,
                }
            })
            .collect();
        for i in 0..17 {
            let mut orphan = states[i].clone();
            orphan.address = format!("orfano{i}@{DEFAULT_PEC_DOMAIN}");
            states.push(orphan);
        }
        store.apply_sync(&states, "t", now, now).unwrap();
        (dir, store, roster)
    }

    /// Imports the first 550 of `roster` (the rest are removed) and a later
    /// member with the PEC of each of `of`; those later members.
    fn with_twins(
        store: &mut Store,
        roster: &[Member],
        of: &[usize],
        now: DateTime<Utc>,
    ) -> Vec<Member> {
        let twins: Vec<Member> = of
            .iter()
            .zip(900..)
            .map(|(&from, seed)| {
                let mut twin =
                    crate::sample::generate_roster(1, seed, DEFAULT_PEC_DOMAIN).remove(0);
                twin.pec = roster[from].pec.clone();
                twin
            })
            .collect();
        let mut current = roster[..550].to_vec();
        current.extend_from_slice(&twins);
        store
            .upsert_members(&IncomingRoster::full(&current), "t", "t", now)
            .unwrap();
        twins
    }

    /// Aruba's copy of the roster's mailboxes, in every shape.
    /// A password reset recorded on `address`'s mailbox, as the console's
    /// action records it.
    fn record_reset(store: &mut Store, address: &str, now: DateTime<Utc>) {
        store
            .record_action(&crate::store::ActionResult {
                address: address.into(),
                member_id: None,
                operator: "t".into(),
                at: now,
                detail: "reimpostata".into(),
                outcome: crate::store::Outcome::Ok,
                change: Some(crate::store::MailboxChange::PasswordReset { updated_at: now }),
                transient: false,
            })
            .unwrap();
    }

    fn aruba_copy(roster: &[Member]) -> Vec<ArubaMailbox> {
        roster
            .iter()
            .enumerate()
            .filter(|(i, m)| m.pec_on_domain(DEFAULT_PEC_DOMAIN) && i % 11 != 0)
            .map(|(i, m)| ArubaMailbox {
                address: m.pec.clone(),
                status: ArubaStatus::from_code(["CERTIFICATO", "SOSPESO", "DA_CERTIFICARE"][i % 3]),
                owner_id: Some(i as i64),
                contact_email: match i % 4 {
                    0 => None,
                    1 => m
                        .email_servizio
                        .as_ref()
                        .map(|e| format!(" {} ", e.to_uppercase())),
                    _ => Some(format!("altro{i}@example.it")),
                },
                contact_mobile: match i % 5 {
                    0 => None,
                    1 => Some(format!("{}0", m.cellulare.clone().unwrap_or_default())),
                    _ => m
                        .cellulare
                        .as_ref()
                        .map(|c| c.trim_start_matches("+39").to_string()),
                },
            })
            .collect()
    }

    /// Every state, removed members, external PECs, mailboxes with no
    /// member, and Aruba's side in every shape: the counts from the tables
    /// equal the counts over the loaded entries, before and after Aruba.
    #[test]
    fn counts_from_the_tables_equal_those_of_the_loaded_entries() {
        let now = Utc::now();
        let (_dir, mut store, roster) = populated(now);
        let counted = store.dashboard_counts(DEFAULT_PEC_DOMAIN, now).unwrap();
        assert_eq!(counted, from_entries(&store, now));
        assert!(!counted.aruba_known);
        assert!(counted.count(Category::NoMember) == 17);
        assert!(counted.count(Category::Removed) > 0);
        assert!(counted.count(Category::ExternalPec) > 0);
        assert!(counted.summary.per_day.iter().any(|&d| d > 0));

        store
            .apply_aruba_sync(&aruba_copy(&roster), "t", now, now)
            .unwrap();
        let counted = store.dashboard_counts(DEFAULT_PEC_DOMAIN, now).unwrap();
        assert_eq!(counted, from_entries(&store, now));
        assert!(counted.aruba_known);
        for c in category::ARUBA {
            assert!(counted.count(c) > 0, "{c:?}");
        }
    }

    /// However the tables are cut into pieces (and so the buckets), the
    /// counts are the loaded entries' own: members sharing a PEC (the first
    /// takes the mailbox and Aruba's copy) and mailboxes with no member included.
    #[test]
    fn counts_in_small_pieces_equal_those_of_the_loaded_entries() {
        let now = Utc::now();
        let (_dir, mut store, mut roster) = populated(now);
        // Two later members with the PEC of earlier ones; the last 50 stay removed.
        let twins = with_twins(&mut store, &roster, &[3, 8], now);
        roster.extend(twins);
        let entries = store.roster_entries().unwrap();
        let twins = entries
            .iter()
            .filter(|e| e.member.as_ref().is_some_and(|m| m.pec == roster[3].pec))
            .count();
        assert_eq!(twins, 2, "a PEC shared by two members");
        for aruba in [false, true] {
            if aruba {
                store
                    .apply_aruba_sync(&aruba_copy(&roster), "t", now, now)
                    .unwrap();
            }
            let expected = from_entries(&store, now);
            assert!(expected.summary.removed > 0 && expected.count(Category::NoMember) > 0);
            assert_counted_in_pieces(&store, now, &[1, 7, 64, 100_000], &expected);
        }
    }

    /// Kept counts are right at any later moment: links expire and days
    /// pass out of the history as they would in the loaded table.
    #[test]
    fn kept_counts_equal_a_fresh_count_at_later_moments() {
        let now = Utc::now();
        let (_dir, mut store, roster) = populated(now);
        store
            .apply_aruba_sync(&aruba_copy(&roster), "t", now, now)
            .unwrap();
        assert!(
            store
                .kept_dashboard_counts(DEFAULT_PEC_DOMAIN, now)
                .unwrap()
                .is_none(),
            "nothing kept yet"
        );
        store.dashboard_counts(DEFAULT_PEC_DOMAIN, now).unwrap();
        let mut pending_changed = false;
        for hours in [0, 1, 5, 13, 25, 24 * 3, 24 * 29, 24 * 40] {
            let later = now + TimeDelta::hours(hours);
            let kept = store
                .kept_dashboard_counts(DEFAULT_PEC_DOMAIN, later)
                .unwrap()
                .unwrap_or_else(|| panic!("kept counts at +{hours} h"));
            assert_eq!(kept, from_entries(&store, later), "+{hours} h");
            assert_eq!(
                kept,
                store.count_dashboard(DEFAULT_PEC_DOMAIN, later).unwrap()
            );
            pending_changed |= kept.count(Category::LinkPending)
                != from_entries(&store, now).count(Category::LinkPending);
        }
        assert!(pending_changed, "some links expired meanwhile");
        // Before the moment they were counted at, or for another domain: counted again.
        let earlier = now - TimeDelta::minutes(1);
        assert!(
            store
                .kept_dashboard_counts(DEFAULT_PEC_DOMAIN, earlier)
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .kept_dashboard_counts("altro.it", now)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.dashboard_counts("altro.it", now).unwrap(),
            store.count_dashboard("altro.it", now).unwrap()
        );
    }

    /// After a write the earlier counts are still offered, with their
    /// moment, for the console to show as such while it counts again.
    #[test]
    fn earlier_counts_stay_offered_after_a_write() {
        let now = Utc::now();
        let (_dir, mut store, roster) = populated(now);
        assert!(
            store
                .earlier_dashboard_counts(DEFAULT_PEC_DOMAIN, now)
                .unwrap()
                .is_none()
        );
        let before = store.dashboard_counts(DEFAULT_PEC_DOMAIN, now).unwrap();
        store
            .upsert_members(&IncomingRoster::full(&roster[..400]), "t", "t", now)
            .unwrap();
        let later = now + TimeDelta::minutes(5);
        assert!(
            store
                .kept_dashboard_counts(DEFAULT_PEC_DOMAIN, later)
                .unwrap()
                .is_none()
        );
        let (earlier, at) = store
            .earlier_dashboard_counts(DEFAULT_PEC_DOMAIN, later)
            .unwrap()
            .expect("earlier counts");
        assert_eq!(at.timestamp_micros(), now.timestamp_micros());
        assert_eq!(earlier.summary.removed, before.summary.removed);
        let recounted = store.dashboard_counts(DEFAULT_PEC_DOMAIN, later).unwrap();
        assert_eq!(recounted, from_entries(&store, later));
        assert_ne!(recounted.summary.removed, earlier.summary.removed);
        // Not for another domain.
        assert!(
            store
                .earlier_dashboard_counts("altro.it", later)
                .unwrap()
                .is_none()
        );
    }

    /// Whatever changes a member, a mailbox or Aruba's copy makes the kept
    /// counts stale, in this process or another.
    #[test]
    fn every_write_makes_the_kept_counts_stale() {
        let now = Utc::now();
        let (dir, mut store, roster) = populated(now);
        let path = dir.path().join("s.db");
        let stale_after = |store: &mut Store, what: &str, write: &dyn Fn(&mut Store)| {
            store.dashboard_counts(DEFAULT_PEC_DOMAIN, now).unwrap();
            assert!(
                store
                    .kept_dashboard_counts(DEFAULT_PEC_DOMAIN, now)
                    .unwrap()
                    .is_some(),
                "kept before {what}"
            );
            // Written by another connection, as another operator's console would.
            let mut other = Store::open(&path).unwrap();
            write(&mut other);
            assert!(
                store
                    .kept_dashboard_counts(DEFAULT_PEC_DOMAIN, now)
                    .unwrap()
                    .is_none(),
                "stale after {what}"
            );
            assert_eq!(
                store.dashboard_counts(DEFAULT_PEC_DOMAIN, now).unwrap(),
                from_entries(store, now),
                "{what}"
            );
        };
        stale_after(&mut store, "an import", &|s| {
            s.upsert_members(&IncomingRoster::full(&roster[..500]), "t", "t", now)
                .unwrap();
        });
        stale_after(&mut store, "a sync", &|s| {
            let mut state = s.mailbox_states().unwrap().remove(3);
            state.migration = MigrationState::Completed;
            state.password = PasswordState::Set;
            s.apply_sync(&[state], "t", now, now).unwrap();
        });
        stale_after(&mut store, "Aruba's sync", &|s| {
            s.apply_aruba_sync(&aruba_copy(&roster), "t", now, now)
                .unwrap();
        });
        let address = roster[20].pec.clone();
        stale_after(&mut store, "an action", &|s| record_reset(s, &address, now));
        let member = s_member_id(&store, &roster[30].codice_fiscale);
        stale_after(&mut store, "an erasure", &|s| {
            s.forget(member, "t", now).unwrap();
        });
    }

    /// Without Aruba the members are read from indexes alone, and the
    /// mailboxes always are: no page of either table, no sorting (which the
    /// counts would still be right without, but slow at a million members).
    #[test]
    fn members_and_mailboxes_are_counted_from_indexes_alone() {
        let (_dir, store, _) = populated(Utc::now());
        let plan = |sql: &str| -> String {
            let mut stmt = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap();
            // Unbound parameters are NULL: the plan is the same.
            let mut rows = stmt.raw_query();
            let mut lines = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                lines.push(row.get::<_, String>(3).unwrap());
            }
            lines.join("; ")
        };
        let queries = [(true, true), (true, false), (false, true), (false, false)]
            .map(|(from, to)| members_by_pec_sql(from, to));
        for sql in queries.iter().map(String::as_str).chain([APART_SQL]) {
            let plan = plan(sql);
            assert!(
                (plan.contains("USING COVERING INDEX members_pec")
                    || plan.contains("USING COVERING INDEX members_apart"))
                    && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
        }
        let queries = [(true, true), (true, false), (false, true), (false, false)]
            .map(|(from, to)| mailbox_facts_sql(from, to));
        for sql in &queries {
            let plan = plan(sql);
            assert!(
                plan.contains("USING COVERING INDEX mailboxes_counts")
                    && !plan.contains("TEMP B-TREE"),
                "{sql}: {plan}"
            );
        }
    }

    /// An erased member and one out of the roster sharing PECs with later
    /// members: the first member still there takes the mailbox.
    #[test]
    fn the_first_member_not_erased_takes_the_mailbox() {
        let now = Utc::now();
        let (_dir, mut store, roster) = populated(now);
        with_twins(&mut store, &roster, &[3, 8, 560], now);
        let erased = s_member_id(&store, &roster[3].codice_fiscale);
        store.forget(erased, "t", now).unwrap();
        assert_counted_in_pieces(&store, now, &[1, 3, 100_000], &from_entries(&store, now));
    }

    /// The index of the mailboxes' facts follows every write (a sync, an
    /// action, a mailbox gone), and a state the build does not know is
    /// reported, not counted as another.
    #[test]
    fn the_facts_index_follows_the_mailboxes() {
        let now = Utc::now();
        let (_dir, mut store, roster) = populated(now);
        let mut states = store.mailbox_states().unwrap();
        // Every flag and moment changed by a later sync, and a mailbox gone.
        for (i, state) in states.iter_mut().enumerate() {
            state.recovery.email_masked = (i % 2 == 0).then(|| "c***@d.it".into());
            state.recovery.mobile_masked = (i % 3 == 0).then(|| "***999".into());
            state.recovery.confirmed = i % 5 == 0;
            state.migration = MigrationState::ALL[(i + 1) % 4];
            state.password = PasswordState::ALL[(i + 3) % 4];
            state.migration_at = (i % 4 != 0).then(|| now - TimeDelta::days((i % 40) as i64));
            state.link_expires_at = Some(now + TimeDelta::hours((i % 30) as i64 - 10));
            state.updated_at = now + TimeDelta::seconds(1);
        }
        states.pop();
        store.apply_sync(&states, "t", now, now).unwrap();
        record_reset(&mut store, &roster[20].pec, now);
        let later = now + TimeDelta::hours(3);
        assert_counted_in_pieces(
            &store,
            later,
            &[1, 5, 100_000],
            &from_entries(&store, later),
        );
        let check: String = store
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");

        store
            .conn
            .execute(
                "UPDATE mailboxes SET migration_state = 'sconosciuto' WHERE address = ?1",
                [&states[7].address],
            )
            .unwrap();
        match store.count_dashboard(DEFAULT_PEC_DOMAIN, later) {
            Err(StoreError::Corrupt(what)) => assert!(what.contains("sconosciuto"), "{what}"),
            other => panic!("{:?}", other.map(|c| c.summary.mailboxes)),
        }
    }

    /// The facts of every shape the index's text takes are read as the
    /// table's columns would be.
    #[test]
    fn facts_are_read_from_the_index_text() {
        let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
        let today = italian_time(now).date();
        let mut days = Days::default();
        let mut read = |text: &str| read_facts(text.as_bytes(), now, today, &mut days);
        let facts =
            read("completed|reset_pending|5|2026-11-28T23:30:00.5Z|2026-11-29T13:00:00Z").unwrap();
        assert_eq!(facts.migration, MigrationState::Completed);
        assert_eq!(facts.password, PasswordState::ResetPending);
        assert_eq!(facts.expires, Some("2026-11-29T13:00:00Z".parse().unwrap()));
        assert!(facts.email && !facts.mobile && facts.confirmed);
        // 23:30 UTC is already the next day in Italy.
        assert_eq!(facts.migrated_on, NaiveDate::from_ymd_opt(2026, 11, 29));
        let facts = read("not_started|reset_pending|2||2026-11-29T11:00:00Z").unwrap();
        assert_eq!(facts.password, PasswordState::LinkExpired);
        assert_eq!(facts.expires, None);
        assert!(!facts.email && facts.mobile && !facts.confirmed);
        assert_eq!(facts.migrated_on, None);
        let facts = read("completed|set|0|2026-01-01T10:00:00+02:00|").unwrap();
        assert_eq!(facts.migrated_on, None, "older than the history");
        for bad in [
            "nuovo|set|0||",
            "completed|nuovo|0||",
            "completed|set|8||",
            "completed|set|0|ieri|",
            "completed|set",
        ] {
            assert!(matches!(read(bad), Err(StoreError::Corrupt(_))), "{bad}");
        }
    }

    /// Facts numbered by their quick key are those read in full, whatever
    /// the order the texts come in.
    #[test]
    fn facts_numbered_by_key_are_those_read_in_full() {
        let now: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
        let today = italian_time(now).date();
        let mut texts = Vec::new();
        for (i, migration) in MigrationState::ALL.iter().enumerate() {
            for (j, password) in PasswordState::ALL.iter().enumerate() {
                for flags in 0..8 {
                    let (migration, password) = (migration.code(), password.code());
                    let hour = (i * 7 + j * 3 + flags) % 60;
                    let at = now - TimeDelta::hours(hour as i64) - TimeDelta::days(hour as i64);
                    texts.push(format!("{migration}|{password}|{flags}||"));
                    texts.push(format!("{migration}|{password}|{flags}|{}|", ts(at)));
                    let later =
                        at + TimeDelta::minutes(59 - i64::from(chrono::Timelike::minute(&at)));
                    texts.push(format!("{migration}|{password}|{flags}|{}|", ts(later)));
                    texts.push(format!(
                        "{migration}|{password}|{flags}|{}|",
                        at.to_rfc3339()
                    ));
                    texts.push(format!(
                        "{migration}|{password}|{flags}|{}|{}",
                        ts(at),
                        ts(at + TimeDelta::days(1))
                    ));
                }
            }
        }
        let mut reader = FactsReader::new(now, today);
        for text in texts.iter().chain(texts.iter().rev()) {
            let number = reader.number(text.as_bytes()).unwrap();
            let read = read_facts(text.as_bytes(), now, today, &mut Days::default()).unwrap();
            assert!(reader.distinct[number as usize] == read, "{text}");
        }
        assert!(reader.by_key.len() > 100, "the quick keys were used");
        // A known hour does not let a bad text through.
        let at = ts(now - TimeDelta::hours(1));
        reader
            .number(format!("completed|set|1|{at}|").as_bytes())
            .unwrap();
        for bad in [
            format!("completed|set|1|{}x|", &at[..at.len() - 1]),
            format!("completed|set|9|{at}|"),
            format!("completed|sett|1|{at}|"),
            format!("completed|set|1|{at}"),
        ] {
            assert!(reader.number(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    /// A moment's day looked up by its hour is the day its full parse
    /// gives, around Italy's changes of offset; a text that the parse would
    /// refuse is refused even when its hour was met before.
    #[test]
    fn days_by_the_hour_are_those_of_the_parse() {
        let mut days = Days::default();
        let start: DateTime<Utc> = "2026-03-28T20:00:00Z".parse().unwrap();
        for minutes in (0..60 * 40).step_by(7) {
            let at = start + TimeDelta::minutes(minutes) + TimeDelta::nanoseconds(minutes * 977);
            for text in [
                ts(at),
                at.to_rfc3339(),
                at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ] {
                let day = days.day_of(text.as_bytes()).unwrap();
                assert_eq!(day, italian_time(parse_ts(&text).unwrap()).date(), "{text}");
            }
        }
        days.day_of(b"2026-03-29T00:10:00Z").unwrap();
        for bad in [
            "2026-03-29T00:10:60Z",
            "2026-03-29T00:60:00Z",
            "2026-03-29T00:10:00.Z",
            "2026-03-29T00:10:00.1234567890Z",
            "2026-03-29T00:10:00",
            "2026-03-29T00:10:00ZZ",
            "2026-03-29T00:1x:00Z",
            "2026-02-30T00:10:00Z",
            "2026-03-29T24:10:00Z",
        ] {
            // As the parse reads it (a leap second's is), or refused.
            match parse_ts(bad) {
                Ok(at) => assert_eq!(
                    days.day_of(bad.as_bytes()).unwrap(),
                    italian_time(at).date()
                ),
                Err(_) => assert!(
                    matches!(days.day_of(bad.as_bytes()), Err(StoreError::Corrupt(_))),
                    "{bad}"
                ),
            }
        }
        assert!(days.day_of(b"2026-03-29T00:10:00.Z").is_err());
        assert!(days.day_of(b"2026-03-29T00:10:00ZZ").is_err());
    }

    /// The counts from the tables read in pieces of each of `sizes` rows are `expected`.
    fn assert_counted_in_pieces(
        store: &Store,
        now: DateTime<Utc>,
        sizes: &[i64],
        expected: &DashboardCounts,
    ) {
        for &piece_rows in sizes {
            let (groups, _) = store
                .count_groups_in_pieces(DEFAULT_PEC_DOMAIN, now, piece_rows)
                .unwrap();
            let aruba = groups.aruba_known;
            assert_eq!(
                &classify_all(&groups, DEFAULT_PEC_DOMAIN, now),
                expected,
                "pieces of {piece_rows}, Aruba {aruba}"
            );
        }
    }

    fn s_member_id(store: &Store, codice_fiscale: &str) -> i64 {
        store
            .conn
            .query_row(
                "SELECT id FROM members WHERE codice_fiscale = ?1",
                [codice_fiscale],
                |r| r.get(0),
            )
            .unwrap()
    }
}
