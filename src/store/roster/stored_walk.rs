//! The stored members of an import, walked in id order beside the file's rows.
//!
//! A file imported again lists its members mostly in the order an earlier
//! import stored them: ids follow the rows of the first import, and an
//! albo's export keeps its order from one month to the next. So the planner
//! does not read every stored member into a table before the file's first
//! row (a pass over the whole store that the file's reader waited for, then
//! a table probed at random for every row: at a million members, cache
//! misses at every row, and 1.3 G instructions at 100k, three quarters of
//! the writer's). It reads them a window at a time in id order, and meets
//! each row of the file at the front of the window, comparing the stored
//! text with the row's fields in place: no string is copied and nothing is
//! hashed for a member that did not change.
//!
//! A row not at the front is looked up by its codice fiscale in the store's
//! unique index: a new member, a member listed out of order (one a later
//! import added, in an albo sorted by name), or one after members the file
//! no longer lists. The walk moves on to that member when it is in the
//! window, or when the file goes on from it in id order; otherwise the row
//! is met on its own. Every member the walk goes past without a row, and
//! every one it has not reached by the end, is looked at again when a full
//! roster marks the absent (see [`StoredWalk::unmet_in_roster`]): in id
//! order, as before, and only those no row met.
//!
//! A file in another order altogether (sorted anew, shuffled) would look
//! up most rows in the store, each a random seek in the index and the
//! table: at a million members, three times slower than reading them all
//! first. When lookups pass a share of the rows, the walk reads every
//! stored member once into a table of digests (codice fiscale, fields) and
//! finds the rest there.

use std::collections::{HashSet, VecDeque};

use chrono::NaiveDate;
use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::{IsoDate, SELECT_MEMBERS, member_of};
use crate::domain::Member;
use crate::store::digest::{DigestTable, KeyDigest, KeyHasher, Keyed};

/// Stored members read ahead of the file's rows; refilled when half gone.
const WINDOW: usize = 512;

/// Rows of a walked range read at a time when marking the absent.
const ABSENT_CHUNK: i64 = 4096;

/// Widest span of ids kept as a bitmap of the members met (16 MB); a store
/// with ids spread wider keeps a set.
const MAX_BITMAP_IDS: i64 = 1 << 27;

/// Lookups in the store after which, when they are more than a quarter of
/// the rows met, the stored members are read into a table (see the
/// module's documentation).
const LOOKUPS_BEFORE_TABLE: usize = if cfg!(test) { 64 } else { 1024 };

/// A stored member in the table of an out-of-order file: 48 bytes.
struct Indexed {
    cf: KeyDigest,
    fields: KeyDigest,
    id: i64,
    in_roster: bool,
}

impl Keyed for Indexed {
    fn key(&self) -> KeyDigest {
        self.cf
    }
}

/// The stored text fields of a member, in the order of [`SELECT_MEMBERS`]
/// (columns 1 to 10, then `left_on`, column 12).
const FIELDS: usize = 11;
const COLUMNS: [usize; FIELDS] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12];

/// One stored member as its row's text, compared in place.
#[derive(Default)]
struct StoredRow {
    id: i64,
    in_roster: bool,
    /// The fields' text, one after the other; reused from row to row.
    text: Vec<u8>,
    ends: [u32; FIELDS],
    /// A bit per NULL field.
    nulls: u16,
    /// A field that is neither text nor NULL: never taken as unchanged (the
    /// member is then read as [`member_of`] reads it, which decides).
    odd: bool,
}

impl StoredRow {
    fn read(&mut self, row: &rusqlite::Row<'_>) -> rusqlite::Result<()> {
        self.id = row.get(0)?;
        self.in_roster = row.get(11)?;
        self.text.clear();
        self.nulls = 0;
        self.odd = false;
        for (field, column) in COLUMNS.into_iter().enumerate() {
            match row.get_ref(column)? {
                ValueRef::Text(text) => self.text.extend_from_slice(text),
                ValueRef::Null => self.nulls |= 1 << field,
                _ => self.odd = true,
            }
            self.ends[field] = u32::try_from(self.text.len()).unwrap_or(u32::MAX);
        }
        Ok(())
    }

    fn field(&self, field: usize) -> Option<&[u8]> {
        if self.nulls & (1 << field) != 0 {
            return None;
        }
        let start = field.checked_sub(1).map_or(0, |f| self.ends[f]) as usize;
        self.text.get(start..self.ends[field] as usize)
    }

    fn codice_fiscale(&self) -> &[u8] {
        self.field(3).unwrap_or_default()
    }

    /// Whether [`member_of`] would read `member` from this row: a required
    /// field NULL reads as empty, an optional one as None, a date as its
    /// `yyyy-mm-dd` text.
    fn holds(&self, m: &Member) -> bool {
        let text = |f: usize, value: &str| self.field(f).unwrap_or_default() == value.as_bytes();
        let optional =
            |f: usize, value: &Option<String>| self.field(f) == value.as_deref().map(str::as_bytes);
        let date = |f: usize, value: Option<NaiveDate>| match (self.field(f), value) {
            (None, None) => true,
            (Some(stored), Some(_)) => IsoDate::of(value).is_some_and(|d| d.0 == stored),
            _ => false,
        };
        !self.odd
            && text(3, &m.codice_fiscale)
            && text(6, &m.pec)
            && text(1, &m.cognome)
            && text(2, &m.nome)
            && text(0, &m.numero_iscrizione)
            && date(4, m.data_nascita)
            && date(5, m.data_iscrizione)
            && optional(7, &m.email_servizio)
            && optional(8, &m.cellulare)
            && optional(9, &m.provincia)
            && date(10, m.data_cancellazione)
    }
}

/// The members a row of the file has met.
enum MetIds {
    /// A bit per id from the lowest stored.
    Bits {
        first: i64,
        bits: Vec<u64>,
    },
    Set(HashSet<i64>),
}

impl MetIds {
    fn new(first: i64, last: i64) -> Self {
        let span = last.saturating_sub(first).saturating_add(1).max(0);
        if span > MAX_BITMAP_IDS {
            return MetIds::Set(HashSet::new());
        }
        let words = usize::try_from(span).unwrap_or_default().div_ceil(64);
        MetIds::Bits {
            first,
            bits: vec![0; words],
        }
    }

    fn bit(first: i64, id: i64) -> (usize, u64) {
        let offset = usize::try_from(id - first).expect("a walked id");
        (offset / 64, 1 << (offset % 64))
    }

    fn contains(&self, id: i64) -> bool {
        match self {
            MetIds::Bits { first, bits } => {
                let (word, bit) = Self::bit(*first, id);
                bits[word] & bit != 0
            }
            MetIds::Set(set) => set.contains(&id),
        }
    }

    /// Marks `id` met; false when it was already.
    fn insert(&mut self, id: i64) -> bool {
        match self {
            MetIds::Bits { first, bits } => {
                let (word, bit) = Self::bit(*first, id);
                let new = bits[word] & bit == 0;
                bits[word] |= bit;
                new
            }
            MetIds::Set(set) => set.insert(id),
        }
    }
}

/// What the file's row is to the stored roster.
pub(super) enum Meeting {
    /// No stored member has its codice fiscale.
    New,
    /// A row earlier in the file met this member already.
    Again,
    /// The stored member, with the same fields as the row.
    Same { id: i64, in_roster: bool },
    /// The stored member, whose fields differ from the row's.
    Differs {
        id: i64,
        in_roster: bool,
        old: Box<Member>,
    },
}

/// The stored members (not erased), walked in id order as the file's rows
/// come; see the module's documentation.
pub(super) struct StoredWalk<'c> {
    conn: &'c Connection,
    /// The highest id stored when the walk began: members inserted since
    /// (by this import) come after it and are never walked.
    last_id: i64,
    /// Stored members read ahead, in id order.
    window: VecDeque<StoredRow>,
    /// Rows out of the window, to be filled again.
    spare: Vec<StoredRow>,
    /// Ids from here on are not read into the window yet.
    unread_from: i64,
    met: MetIds,
    /// Ranges of ids the walk went past, in order: members no row had met
    /// then (some may be met later, out of order).
    passed: Vec<(i64, i64)>,
    /// The member last met beyond the window: when the next row meets the
    /// one after it, the file goes on from there, and so does the walk.
    last_beyond: Option<i64>,
    /// No member was stored: every row is new, and none is looked up (a
    /// first import drops the index of codici fiscali until its end).
    empty: bool,
    /// Rows met, and of them looked up in the store.
    rows: usize,
    lookups: usize,
    /// Every stored member, once lookups are many.
    table: Option<Box<(KeyHasher, DigestTable<Indexed>)>>,
}

impl<'c> StoredWalk<'c> {
    /// Starts the walk at the lowest id, with its first window read.
    pub fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        // Erased members count here (two seeks; with `erased_at IS NULL` it
        // would be a scan of the table): the walk reads only the others.
        let (first, last): (Option<i64>, Option<i64>) = conn.query_row(
            "SELECT (SELECT MIN(id) FROM members), (SELECT MAX(id) FROM members)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let (first, last) = (first.unwrap_or(1), last.unwrap_or(0));
        let mut walk = Self {
            conn,
            last_id: last,
            window: VecDeque::with_capacity(WINDOW),
            spare: Vec::new(),
            unread_from: first,
            met: MetIds::new(first, last),
            passed: Vec::new(),
            last_beyond: None,
            empty: false,
            rows: 0,
            lookups: 0,
            table: None,
        };
        walk.fill()?;
        walk.empty = walk.window.is_empty() && walk.unread_from > walk.last_id;
        Ok(walk)
    }

    /// Whether no member is stored, erased ones aside (a first import):
    /// the first window, read to the end, found none.
    pub fn stores_none(&self) -> bool {
        self.empty
    }

    /// Reads the next stored members into the window when it is half empty.
    fn fill(&mut self) -> rusqlite::Result<()> {
        if self.window.len() >= WINDOW / 2 || self.unread_from > self.last_id {
            return Ok(());
        }
        let wanted = WINDOW - self.window.len();
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_MEMBERS} AND id BETWEEN ?1 AND ?2 ORDER BY id LIMIT ?3"
        ))?;
        let mut rows = stmt.query(rusqlite::params![
            self.unread_from,
            self.last_id,
            wanted as i64
        ])?;
        let mut read = 0;
        while let Some(row) = rows.next()? {
            let mut slot = self.spare.pop().unwrap_or_default();
            slot.read(row)?;
            self.unread_from = slot.id + 1;
            self.window.push_back(slot);
            read += 1;
        }
        if read < wanted {
            self.unread_from = self.last_id + 1;
        }
        Ok(())
    }

    /// The front of the window, past members already met (out of order).
    fn front(&mut self) -> rusqlite::Result<Option<&StoredRow>> {
        loop {
            self.fill()?;
            match self.window.front() {
                Some(row) if self.met.contains(row.id) => {
                    let row = self.window.pop_front().expect("a front");
                    self.spare.push(row);
                }
                _ => return Ok(self.window.front()),
            }
        }
    }

    /// Moves the walk past the window's members before `id`, noting them passed.
    fn pass_to(&mut self, id: i64) {
        let Some(from) = self.window.front().map(|r| r.id) else {
            return;
        };
        if from >= id {
            return;
        }
        match self.passed.last_mut() {
            Some((_, to)) if *to + 1 == from => *to = id - 1,
            _ => self.passed.push((from, id - 1)),
        }
        while self.window.front().is_some_and(|r| r.id < id) {
            let row = self.window.pop_front().expect("a front");
            self.spare.push(row);
        }
    }

    /// Finds the stored member of the file's next row, by its codice fiscale.
    pub fn meet(&mut self, member: &Member) -> rusqlite::Result<Meeting> {
        if self.empty {
            return Ok(Meeting::New);
        }
        self.rows += 1;
        let cf = member.codice_fiscale.as_bytes();
        if let Some(front) = self.front()?
            && front.codice_fiscale() == cf
        {
            let (id, in_roster) = (front.id, front.in_roster);
            let same = front.holds(member);
            let row = self.window.pop_front().expect("a front");
            self.spare.push(row);
            self.met.insert(id);
            self.last_beyond = None;
            return Ok(if same {
                Meeting::Same { id, in_roster }
            } else {
                Meeting::Differs {
                    id,
                    in_roster,
                    old: Box::new(self.member(id)?),
                }
            });
        }
        self.lookups += 1;
        if self.table.is_none()
            && self.lookups > LOOKUPS_BEFORE_TABLE
            && self.lookups * 4 > self.rows
        {
            self.table = Some(Box::new(self.read_table()?));
        }
        let (id, in_roster, old) = match self.table.as_deref() {
            Some((keys, table)) => {
                let Some(index) = table.get(&keys.digest(&member.codice_fiscale)) else {
                    return Ok(Meeting::New);
                };
                let found = &table.entries()[index];
                let (id, in_roster) = (found.id, found.in_roster);
                if !self.met.insert(id) {
                    return Ok(Meeting::Again);
                }
                let old = (found.fields != keys.member(member)).then(|| self.member(id));
                (id, in_roster, old.transpose()?)
            }
            None => {
                let mut stmt = self
                    .conn
                    .prepare_cached(&format!("{SELECT_MEMBERS} AND codice_fiscale = ?1"))?;
                let mut rows = stmt.query([&member.codice_fiscale])?;
                let Some(row) = rows.next()? else {
                    return Ok(Meeting::New);
                };
                let id: i64 = row.get(0)?;
                // Beyond the walk: added by this import, from an earlier
                // row (the UNIQUE index keeps it new once).
                if id > self.last_id {
                    return Ok(Meeting::New);
                }
                if !self.met.insert(id) {
                    return Ok(Meeting::Again);
                }
                let old = member_of(row)?;
                (id, row.get(11)?, (old != *member).then_some(old))
            }
        };
        self.move_on(id);
        Ok(match old {
            None => Meeting::Same { id, in_roster },
            Some(old) => Meeting::Differs {
                id,
                in_roster,
                old: Box::new(old),
            },
        })
    }

    /// Every stored member walked, as digests (see [`LOOKUPS_BEFORE_TABLE`]).
    fn read_table(&self) -> rusqlite::Result<(KeyHasher, DigestTable<Indexed>)> {
        let keys = KeyHasher::new();
        let count: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM members WHERE erased_at IS NULL AND id <= ?1",
            [self.last_id],
            |r| r.get(0),
        )?;
        let mut table = DigestTable::with_capacity(usize::try_from(count).unwrap_or_default());
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_MEMBERS} AND id <= ?1"))?;
        let mut rows = stmt.query([self.last_id])?;
        while let Some(row) = rows.next()? {
            let member = member_of(row)?;
            let _ = table.insert(Indexed {
                cf: keys.digest(&member.codice_fiscale),
                fields: keys.member(&member),
                id: row.get(0)?,
                in_roster: row.get(11)?,
            });
        }
        Ok((keys, table))
    }

    /// Moves the walk on after a member met out of its place (`id`).
    fn move_on(&mut self, id: i64) {
        let window_end = self.window.back().map(|r| r.id);
        if window_end.is_some_and(|end| id <= end) {
            // Members the file skips (left the albo): the walk goes on from here.
            self.pass_to(id + 1);
            self.last_beyond = None;
        } else if self.last_beyond.is_some_and(|last| last + 1 == id) {
            // The file goes on in id order from a member beyond the window.
            self.pass_to(self.window.back().map_or(id, |r| r.id + 1));
            self.note_passed(self.unread_from, id);
            self.unread_from = self.unread_from.max(id + 1);
            self.last_beyond = None;
        } else if window_end.is_some() || self.unread_from <= self.last_id {
            self.last_beyond = Some(id);
        }
    }

    /// Notes the unread ids from `from` up to `to` (included) passed.
    fn note_passed(&mut self, from: i64, to: i64) {
        if from > to {
            return;
        }
        match self.passed.last_mut() {
            Some((_, end)) if *end + 1 >= from => *end = (*end).max(to),
            _ => self.passed.push((from, to)),
        }
    }

    /// A stored member as [`member_of`] reads them.
    pub fn member(&self, id: i64) -> rusqlite::Result<Member> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_MEMBERS} AND id = ?1"))?;
        stmt.query_row([id], member_of)
    }

    /// After the last row: each stored member in the albo that no row met,
    /// in id order, to `each` (which may write: they are read a chunk at a
    /// time before it sees them).
    pub fn unmet_in_roster(
        &mut self,
        mut each: impl FnMut(i64, Member) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        if let Some((_, table)) = self.table.as_deref() {
            // Every stored member is in the table, in id order.
            let unmet: Vec<i64> = (table.entries().iter())
                .filter(|m| m.in_roster && !self.met.contains(m.id))
                .map(|m| m.id)
                .collect();
            for id in unmet {
                each(id, self.member(id)?)?;
            }
            return Ok(());
        }
        let rest = self
            .window
            .front()
            .map_or(self.unread_from, |r| r.id.min(self.unread_from));
        let mut ranges = std::mem::take(&mut self.passed);
        ranges.push((rest, self.last_id));
        let mut stmt = self.conn.prepare_cached(&format!(
            "{SELECT_MEMBERS} AND in_roster = 1 AND id BETWEEN ?1 AND ?2 ORDER BY id LIMIT ?3"
        ))?;
        let mut unmet = Vec::new();
        for (mut from, to) in ranges {
            while from <= to {
                let mut rows = stmt.query(rusqlite::params![from, to, ABSENT_CHUNK])?;
                let mut read = 0;
                while let Some(row) = rows.next()? {
                    let id: i64 = row.get(0)?;
                    read += 1;
                    from = id + 1;
                    if !self.met.contains(id) {
                        unmet.push((id, member_of(row)?));
                    }
                }
                if read < ABSENT_CHUNK {
                    from = to + 1;
                }
                drop(rows);
                for (id, member) in unmet.drain(..) {
                    each(id, member)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use chrono::Utc;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};

    use super::super::{
        ChangeKind, MemberUpsert, Planner, ProvidedFields, RosterEnd, RosterFeed, RosterPreview,
        plan_import,
    };
    use super::WINDOW;
    use crate::domain::Member;
    use crate::sample::generate_roster;
    use crate::store::digest::KeySet;
    use crate::store::events::EventKind;
    use crate::store::{Store, StoreError};

    type Rows = Vec<(Member, bool)>;

    /// A store holding `stored` as a first import stored them, the last
    /// `left` of them as already gone from the albo.
    fn store_with(stored: &[Member], left: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let rows: Rows = (stored.iter().enumerate())
            .map(|(i, m)| (m.clone(), i < stored.len() - left))
            .collect();
        import(&mut store, &rows, false);
        (dir, store)
    }

    fn end(full: bool) -> Option<RosterEnd> {
        Some(RosterEnd {
            full_roster: full,
            rejected_keys: KeySet::default(),
        })
    }

    fn import(store: &mut Store, rows: &Rows, full: bool) -> MemberUpsert {
        store
            .import_members("anna", "albo.csv", Utc::now(), |writer| {
                writer.feed(ProvidedFields::ALL, rows)?;
                Ok::<_, StoreError>(end(full))
            })
            .unwrap()
            .unwrap()
    }

    /// The plan of the planner that has every stored member in memory: the
    /// reference the walk must agree with.
    fn reference_plan(store: &Store, rows: &Rows, full: bool) -> RosterPreview {
        let existing = store.all_members().unwrap();
        let mut planner = Planner::new(&existing, ProvidedFields::ALL);
        let mut changes: Vec<_> = (rows.iter())
            .filter_map(|(m, in_albo)| planner.row(m, *in_albo).unwrap().map(|s| s.change()))
            .collect();
        if full {
            planner
                .absent(None, |step| {
                    changes.push(step.change());
                    Ok(())
                })
                .unwrap();
        }
        RosterPreview {
            counts: planner.counts,
            changes,
        }
    }

    fn walked_plan(store: &Store, rows: &Rows, full: bool) -> RosterPreview {
        plan_import(Some(store), |planner| {
            planner.feed(ProvidedFields::ALL, rows)?;
            Ok::<_, StoreError>(end(full))
        })
        .unwrap()
        .unwrap()
    }

    /// The member ids and details of the "aggiornato"/"rimosso" events after `after`.
    fn roster_events(store: &Store, after: i64) -> Vec<(i64, String)> {
        let mut stmt = (store.conn)
            .prepare("SELECT member_id, detail FROM events WHERE id > ?1 AND kind = ?2 ORDER BY id")
            .unwrap();
        stmt.query_map(
            rusqlite::params![after, EventKind::RosterUpdated.code()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// Plans `rows` by walking and by the reference, imports them, and checks
    /// that the import did exactly what both planned: the counts, one event
    /// per change naming its fields, and the stored roster.
    fn check(stored: &[Member], left: usize, rows: &Rows, full: bool, case: &str) {
        let (_dir, mut store) = store_with(stored, left);
        check_store(&mut store, rows, full, case);
    }

    /// [`check`] on a store as it is.
    fn check_store(store: &mut Store, rows: &Rows, full: bool, case: &str) {
        let reference = reference_plan(store, rows, full);
        let walked = walked_plan(store, rows, full);
        assert_eq!(walked.counts, reference.counts, "{case}");
        let differ = (walked.changes.iter().zip(&reference.changes)).position(|(a, b)| a != b);
        assert_eq!(
            differ.map(|i| (&walked.changes[i], &reference.changes[i])),
            None,
            "{case}: the walk plans as the reference"
        );
        assert_eq!(walked.changes.len(), reference.changes.len(), "{case}");
        let before: HashMap<String, (i64, Member, bool)> = (store.all_members().unwrap())
            .into_iter()
            .map(|(id, m, in_roster)| (m.codice_fiscale.clone(), (id, m, in_roster)))
            .collect();
        let last_event: i64 = (store.conn)
            .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(import(store, rows, full), reference.counts, "{case}");
        // One event per planned update or removal, about that member, naming its fields.
        let events = roster_events(store, last_event);
        let planned: Vec<_> = (reference.changes.iter())
            .filter(|c| c.kind != ChangeKind::New)
            .collect();
        assert_eq!(events.len(), planned.len(), "{case}");
        for ((member_id, detail), change) in events.iter().zip(&planned) {
            assert_eq!(Some(*member_id), change.member_id, "{case}");
            for field in &change.fields {
                assert!(detail.contains(field), "{case}: {detail} lacks {field}");
            }
        }
        // The stored roster: each row's member as the file has them, the
        // absent of a full roster gone, every other member as before.
        let mut expected: HashMap<String, (Member, bool)> = (before.iter())
            .map(|(cf, (_, m, in_roster))| (cf.clone(), (m.clone(), *in_roster)))
            .collect();
        let mut listed = HashSet::new();
        for (m, in_albo) in rows {
            if listed.insert(m.codice_fiscale.clone()) {
                expected.insert(m.codice_fiscale.clone(), (m.clone(), *in_albo));
            }
        }
        if full {
            for (cf, (_, in_roster)) in expected.iter_mut() {
                if !listed.contains(cf) {
                    *in_roster = false;
                }
            }
        }
        let after = store.all_members().unwrap();
        assert_eq!(after.len(), expected.len(), "{case}");
        for (id, m, in_roster) in after {
            let (want, want_in) = &expected[&m.codice_fiscale];
            let without_leaving = |m: &Member| Member {
                data_cancellazione: None,
                ..m.clone()
            };
            assert_eq!(without_leaving(&m), without_leaving(want), "{case}: {id}");
            assert_eq!(in_roster, *want_in, "{case}: {id}");
            if let Some((old_id, ..)) = before.get(&m.codice_fiscale) {
                assert_eq!(id, *old_id, "{case}: a stored member keeps their id");
            }
        }
        let report = store.verify_chain().unwrap();
        assert_eq!(report.broken, None, "{case}");
    }

    fn changed(m: &Member, how: u32) -> Member {
        let mut m = m.clone();
        match how % 4 {
            0 => m.pec = format!("nuova.{}", m.pec),
            1 => m.email_servizio = Some(format!("altra.{}", m.codice_fiscale.to_lowercase())),
            2 => m.cognome.push_str(" Bis"),
            _ => m.cellulare = None,
        }
        m
    }

    #[test]
    fn the_walk_plans_and_imports_as_the_whole_roster_in_memory_whatever_the_order() {
        let total = 6 * WINDOW;
        let everyone = generate_roster(total + 600, 24, "pec.fofi.it");
        let (stored, fresh) = everyone.split_at(total);
        let left = 40;
        let mut rng = rand::rngs::StdRng::seed_from_u64(24);
        let same: Rows = (stored.iter().enumerate())
            .map(|(i, m)| (m.clone(), i < total - left))
            .collect();

        check(stored, left, &same, true, "unchanged");

        // A few percent changed, single members and a block wider than the
        // window gone, new members in the middle and at the end, a member
        // rejoining and one leaving.
        let mut light = Vec::new();
        for (i, (m, in_albo)) in same.iter().enumerate() {
            match i {
                _ if (1000..1000 + WINDOW + 100).contains(&i) || i % 97 == 5 => continue,
                _ if i % 23 == 0 => light.push((changed(m, i as u32), *in_albo)),
                7 => light.push((m.clone(), false)),
                _ if i == total - 1 => light.push((m.clone(), true)),
                _ => light.push((m.clone(), *in_albo)),
            }
            if i % 500 == 250 {
                light.push((fresh[i / 500].clone(), true));
            }
        }
        light.extend(fresh[100..400].iter().map(|m| (m.clone(), true)));
        check(stored, left, &light, true, "lightly changed");
        check(stored, left, &light, false, "lightly changed, partial");

        let mut reversed = light.clone();
        reversed.reverse();
        check(stored, left, &reversed, true, "reversed");

        let mut shuffled = light.clone();
        shuffled.shuffle(&mut rng);
        check(stored, left, &shuffled, true, "shuffled");

        // Blocks moved: the end of the albo first, and a block out of place.
        let mut moved = same[2 * WINDOW..].to_vec();
        moved.extend_from_slice(&same[..WINDOW]);
        moved.extend_from_slice(&same[WINDOW + 10..2 * WINDOW]);
        check(stored, left, &moved, true, "blocks moved");

        // Members a later import added, listed where an albo sorted by name
        // puts them; a row repeated by the caller; members met at random
        // ahead of and behind the walk.
        let mut sorted = same.clone();
        for (k, m) in fresh[..50].iter().enumerate() {
            sorted.insert(rng.random_range(0..sorted.len()), (m.clone(), k % 9 != 0));
        }
        let mut later = sorted.clone();
        for _ in 0..30 {
            let from = rng.random_range(0..later.len());
            let row = later.remove(from);
            later.insert(rng.random_range(0..later.len()), row);
        }
        let repeated = sorted[300].clone();
        sorted.insert(2000, repeated);
        for (case, rows) in [("sorted by name", &sorted), ("random moves", &later)] {
            let (_dir, mut store) = store_with(stored, left);
            // Stored as a later import adds them: after everyone else.
            import(&mut store, rows, true);
            check_store(&mut store, rows, true, case);
        }
    }
}
