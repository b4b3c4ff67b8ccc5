//! Members of the roster, and the joined view of roster and mailboxes that the
//! console shows.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, params};

use super::chain::{
    ChainWriter, LINK_FUNCTION, LINK_HASH_FUNCTION, Link, LinkedAhead, SetLinker, link_run,
};
use super::digest::{DigestTable, KeyDigest, KeyHasher, KeySet, Keyed};
use super::events::{EventKind, NewEvent, append, append_linked, insert_link, insert_statement};
use super::{Result, Store, StoreError, ts};
use crate::domain::{MailboxState, Member};

mod static_insert;
mod stored_walk;
use static_insert::{Bind, StaticInsert};
use stored_walk::{Meeting, StoredWalk};

/// What an import did, or would do, to the stored roster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemberUpsert {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Members marked as out of the albo (absent from a full roster, or listed
    /// as cancelled). Never deleted: mailbox and history stay.
    pub removed: usize,
}

/// Which of a member's optional fields a file carries. A field the file has
/// no column for keeps its stored value on update: an INI-PEC file has no
/// e-mail column, and must not wipe the recovery e-mails. (A column that is
/// there but empty does clear the value: the file says there is none.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvidedFields {
    pub numero_iscrizione: bool,
    pub data_nascita: bool,
    pub data_iscrizione: bool,
    pub email_servizio: bool,
    pub cellulare: bool,
    pub provincia: bool,
}

impl ProvidedFields {
    /// A file with every column.
    pub const ALL: ProvidedFields = ProvidedFields {
        numero_iscrizione: true,
        data_nascita: true,
        data_iscrizione: true,
        email_servizio: true,
        cellulare: true,
        provincia: true,
    };

    /// `new` with the fields the file lacks taken from `old`; borrowed when
    /// the file has them all, as usual.
    fn merge<'a>(self, old: &Member, new: &'a Member) -> Cow<'a, Member> {
        if self == Self::ALL {
            return Cow::Borrowed(new);
        }
        let mut merged = new.clone();
        let mut keep = |provided: bool, field: &mut dyn FnMut(&mut Member)| {
            if !provided {
                field(&mut merged);
            }
        };
        keep(self.numero_iscrizione, &mut |m| {
            m.numero_iscrizione.clone_from(&old.numero_iscrizione)
        });
        keep(self.data_nascita, &mut |m| {
            m.data_nascita = old.data_nascita
        });
        keep(self.data_iscrizione, &mut |m| {
            m.data_iscrizione = old.data_iscrizione
        });
        keep(self.email_servizio, &mut |m| {
            m.email_servizio.clone_from(&old.email_servizio)
        });
        keep(self.cellulare, &mut |m| {
            m.cellulare.clone_from(&old.cellulare)
        });
        keep(self.provincia, &mut |m| {
            m.provincia.clone_from(&old.provincia)
        });
        Cow::Owned(merged)
    }
}

impl Default for ProvidedFields {
    fn default() -> Self {
        Self::ALL
    }
}

/// The roster as an import file gives it.
#[derive(Debug, Clone, Copy, Default)]
pub struct IncomingRoster<'a> {
    /// Members in the albo.
    pub members: &'a [Member],
    /// Members the file lists as having left the albo (e.g. INI-PEC "cancellato").
    pub left_albo: &'a [Member],
    /// Codici fiscali (upper case) and PEC addresses (lower case) of the file's
    /// rejected rows: those members are in the file, just not readable this
    /// time, so they are never removed for being absent.
    pub rejected_keys: Option<&'a KeySet>,
    /// The file is the whole albo: stored members absent from it are marked removed.
    pub full_roster: bool,
    /// The optional fields the file has columns for.
    pub provided: ProvidedFields,
}

impl<'a> IncomingRoster<'a> {
    /// A full roster of members all in the albo.
    pub fn full(members: &'a [Member]) -> Self {
        Self {
            members,
            full_roster: true,
            ..Self::default()
        }
    }

    /// The rows in file order as the planner takes them: members in the albo,
    /// then those who left, each with whether they are in the albo.
    fn rows(&self) -> impl Iterator<Item = (&'a Member, bool)> + use<'a> {
        let (members, left_albo) = (self.members, self.left_albo);
        (members.iter().map(|m| (m, true))).chain(left_albo.iter().map(|m| (m, false)))
    }
}

/// What kind of change an import makes to one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    New,
    Updated,
    Removed,
}

/// One change an import makes, as a preview lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedChange {
    pub kind: ChangeKind,
    /// None for a new member.
    pub member_id: Option<i64>,
    pub codice_fiscale: String,
    /// "Cognome Nome".
    pub name: String,
    /// The fields that change, as the event log words them.
    pub fields: Vec<&'static str>,
}

/// What an import would do, computed without writing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterPreview {
    pub counts: MemberUpsert,
    /// In file order, then the members a full roster removes.
    pub changes: Vec<PlannedChange>,
}

/// Test-only fault injection: abort the process (no unwinding, no rollback by
/// us) after this many rows written inside the import transaction, to prove a
/// crash leaves the store as it was.
pub const ABORT_AFTER_ROWS_ENV: &str = "PECDESK_TEST_ABORT_AFTER_ROWS";

/// SQLite page cache bound while importing, in KiB (negative `cache_size`):
/// enough for a 100k-member albo to stay in cache (about 35 MB), a bound on
/// the import's memory beyond that (a larger transaction spills its pages to
/// the WAL as it goes).
pub const IMPORT_CACHE_KIB: i64 = 64 * 1024;

/// Helper threads SQLite may sort with while an import builds its deferred
/// indexes (`PRAGMA threads`).
const SORT_HELPER_THREADS: i64 = 1;

/// The page cache while the deferred indexes are built, in KiB: the size of
/// the sorter's runs (SQLite's floor is 250 pages, 4 MiB of 16 KiB pages).
const SORT_RUN_KIB: i64 = 4 * 1024;

/// New members up to which the deferred indexes are sorted in one run in
/// memory, within the import's cache (about 5 MB of keys an index at 100k:
/// splitting them would only add the temporary files of the runs).
const SORTED_IN_ONE_RUN: usize = 200_000;

const REJOINED: &str = "rientrato nell'albo";
const LEFT: &str = "rimosso dall'albo";

/// One line of the console: a roster member with their mailbox, a member with
/// no mailbox at the provider, or a mailbox with no member in the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub member_id: Option<i64>,
    pub member: Option<Member>,
    /// False when the member left the roster (kept with their history).
    pub in_roster: bool,
    pub mailbox: Option<MailboxState>,
    /// The same mailbox at Aruba, the old provider.
    pub aruba: crate::domain::aruba::ArubaSide,
}

impl RosterEntry {
    /// The PEC address this entry is about.
    pub fn address(&self) -> &str {
        self.mailbox
            .as_ref()
            .map(|m| m.address.as_str())
            .or(self.member.as_ref().map(|m| m.pec.as_str()))
            .unwrap_or_default()
    }
}

/// A date as stored, `yyyy-mm-dd`, formatted on the stack: two per row of a
/// 100k-row import add up.
struct IsoDate([u8; 10]);

impl IsoDate {
    fn of(date: Option<NaiveDate>) -> Option<Self> {
        use chrono::Datelike;
        let date = date?;
        let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
        let mut text = *b"0000-00-00";
        for (slot, value, width) in [(0, year, 4), (5, date.month(), 2), (8, date.day(), 2)] {
            let mut value = value;
            for i in (slot..slot + width).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        Some(Self(text))
    }
}

/// A member's values as the INSERT and UPDATE statements of an import bind
/// them, `?1` to `?12` (the UPDATE adds the id as `?13`).
struct MemberRow<'a> {
    member: &'a Member,
    born: Option<IsoDate>,
    enrolled: Option<IsoDate>,
    in_roster: bool,
    now: &'a str,
    /// The file's Data cancellazione (see [`Statements`] for the day stored).
    left: Option<IsoDate>,
}

impl<'a> MemberRow<'a> {
    fn new(member: &'a Member, in_roster: bool, now: &'a str) -> Self {
        Self {
            member,
            born: IsoDate::of(member.data_nascita),
            enrolled: IsoDate::of(member.data_iscrizione),
            in_roster,
            now,
            left: IsoDate::of(member.data_cancellazione),
        }
    }

    /// The INSERT's parameters, `?1` to `?15`: these, the new member's
    /// audit key, the leaving day from the file and the import's day.
    fn binds<'b>(&'b self, key: &'b str, today: Option<&'b IsoDate>) -> [Bind<'b>; 15] {
        let m = self.member;
        let date = |d: Option<&'b IsoDate>| Bind::from(d.map(IsoDate::as_str));
        [
            Bind::Text(&m.numero_iscrizione),
            Bind::Text(&m.cognome),
            Bind::Text(&m.nome),
            Bind::Text(&m.codice_fiscale),
            date(self.born.as_ref()),
            date(self.enrolled.as_ref()),
            Bind::Text(&m.pec),
            Bind::from(m.email_servizio.as_deref()),
            Bind::from(m.cellulare.as_deref()),
            Bind::from(m.provincia.as_deref()),
            Bind::Int(i64::from(self.in_roster)),
            Bind::Text(self.now),
            Bind::Text(key),
            date(self.left.as_ref()),
            date(today),
        ]
    }

    fn values(&self) -> [&dyn rusqlite::ToSql; 12] {
        let m = self.member;
        [
            &m.numero_iscrizione,
            &m.cognome,
            &m.nome,
            &m.codice_fiscale,
            &self.born,
            &self.enrolled,
            &m.pec,
            &m.email_servizio,
            &m.cellulare,
            &m.provincia,
            &self.in_roster,
            &self.now,
        ]
    }
}

impl IsoDate {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII digits")
    }
}

impl rusqlite::ToSql for IsoDate {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(
            rusqlite::types::ValueRef::Text(&self.0),
        ))
    }
}

/// The PEC among [`changed_fields`].
const PEC_FIELD: &str = "PEC";

/// Names of the fields that differ, in Italian, as the event log words them.
fn changed_fields(old: &Member, new: &Member) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut check = |differs: bool, name| {
        if differs {
            fields.push(name)
        }
    };
    check(
        old.numero_iscrizione != new.numero_iscrizione,
        "numero iscrizione",
    );
    check(old.cognome != new.cognome, "cognome");
    check(old.nome != new.nome, "nome");
    check(old.data_nascita != new.data_nascita, "data di nascita");
    check(
        old.data_iscrizione != new.data_iscrizione,
        "data iscrizione",
    );
    check(old.pec != new.pec, PEC_FIELD);
    check(
        old.email_servizio != new.email_servizio,
        "e-mail di servizio",
    );
    check(old.cellulare != new.cellulare, "cellulare");
    check(old.provincia != new.provincia, "provincia");
    fields
}

/// One write an import makes.
enum Step<'a> {
    Insert {
        member: &'a Member,
        in_roster: bool,
    },
    Update {
        id: i64,
        /// The file's data, with what it lacks kept from the store (boxed:
        /// updates are few, inserts many, and a Step is sized by its largest).
        member: Box<Cow<'a, Member>>,
        in_roster: bool,
        fields: Vec<&'static str>,
    },
    /// Absent from a full roster: only `in_roster` changes.
    MarkAbsent {
        id: i64,
        member: Box<Cow<'a, Member>>,
    },
}

impl Step<'_> {
    /// The change as a preview lists it.
    fn change(&self) -> PlannedChange {
        let (kind, member_id, member, fields): (_, _, &Member, _) = match self {
            Step::Insert { member, .. } => (ChangeKind::New, None, member, Vec::new()),
            Step::Update {
                id, member, fields, ..
            } => {
                let kind = if fields.first() == Some(&LEFT) {
                    ChangeKind::Removed
                } else {
                    ChangeKind::Updated
                };
                (kind, Some(*id), member, fields.clone())
            }
            Step::MarkAbsent { id, member } => (ChangeKind::Removed, Some(*id), member, vec![LEFT]),
        };
        PlannedChange {
            kind,
            member_id,
            codice_fiscale: member.codice_fiscale.clone(),
            name: member.full_name(),
            fields,
        }
    }
}

/// What a preview's planner remembers of a stored member.
struct Known {
    /// The digest of the codice fiscale, which the planner finds them by.
    cf: KeyDigest,
    id: i64,
}

impl Keyed for Known {
    fn key(&self) -> KeyDigest {
        self.cf
    }
}

/// A stored member in the albo ([`Planner::flags`]).
const IN_ROSTER: u8 = 1;
/// A stored member the file has listed so far.
const LISTED: u8 = 2;

/// Where the planner finds the stored members: all in memory (a preview of
/// a parsed file, [`Store::preview_members`]), or walked in the store beside
/// the file's rows (an import, and the preview of a file being read: a
/// million members in memory would cost a gigabyte; see [`StoredWalk`]).
enum Stored<'e> {
    Loaded(&'e [(i64, Member, bool)]),
    InStore(StoredWalk<'e>),
    /// No store yet (a preview before the first import).
    Nothing,
}

/// The stored member a row of the file is about, if any.
enum Met<'e> {
    New,
    /// Already met by an earlier row of the file: nothing more to do.
    Again,
    /// Same fields, still where the file has them: nothing to do.
    Unchanged,
    Stored {
        id: i64,
        in_roster: bool,
        /// Boxed: most rows meet no change.
        old: Box<Cow<'e, Member>>,
    },
}

/// Works out, one row of the file at a time and then for the members the file
/// does not list, what an import changes in the stored roster, keyed by codice
/// fiscale. The one set of rules behind both a preview and an import, which
/// plans each batch of rows as it arrives.
struct Planner<'e> {
    stored: Stored<'e>,
    /// With everything in memory (a preview), the stored members by codice
    /// fiscale, and the new ones too, so that a repeated one is new only
    /// once (an import leaves that to the UNIQUE constraint).
    known: DigestTable<Known>,
    /// [`IN_ROSTER`] and [`LISTED`] of each of `known`.
    flags: Vec<u8>,
    keys: KeyHasher,
    provided: ProvidedFields,
    counts: MemberUpsert,
}

impl<'e> Planner<'e> {
    /// `existing` as the store holds it: its codici fiscali are unique, so
    /// each is found at its own position.
    fn new(existing: &'e [(i64, Member, bool)], provided: ProvidedFields) -> Self {
        let mut planner = Self::with(Stored::Loaded(existing), existing.len(), provided);
        for (id, member, in_roster) in existing {
            planner.add(*id, &member.codice_fiscale, *in_roster);
        }
        debug_assert_eq!(planner.known.len(), existing.len(), "unique codici fiscali");
        planner
    }

    /// The planner of an import: the stored roster walked as the rows come.
    fn in_store(conn: &'e Connection) -> rusqlite::Result<Self> {
        let walk = StoredWalk::begin(conn)?;
        Ok(Self::with(Stored::InStore(walk), 0, ProvidedFields::ALL))
    }

    /// A planner with nothing stored, standing in while the real one walks,
    /// or planning against a store not created yet.
    fn empty() -> Self {
        Self::with(Stored::Nothing, 0, ProvidedFields::ALL)
    }

    fn with(stored: Stored<'e>, members: usize, provided: ProvidedFields) -> Self {
        Self {
            stored,
            known: DigestTable::with_capacity(members),
            flags: Vec::with_capacity(members),
            keys: KeyHasher::new(),
            provided,
            counts: MemberUpsert::default(),
        }
    }

    /// Whether no member is stored (a first import).
    fn stores_none(&self) -> bool {
        match &self.stored {
            Stored::Loaded(existing) => existing.is_empty(),
            Stored::InStore(walk) => walk.stores_none(),
            Stored::Nothing => true,
        }
    }

    /// Remembers a stored member (codici fiscali are unique in the store).
    fn add(&mut self, id: i64, cf: &str, in_roster: bool) {
        let known = Known {
            cf: self.keys.digest(cf),
            id,
        };
        if self.known.insert(known).is_ok() {
            self.flags.push(if in_roster { IN_ROSTER } else { 0 });
        }
    }

    /// Finds the stored member of the file's next row.
    fn meet(&mut self, member: &Member, in_albo: bool) -> rusqlite::Result<Met<'e>> {
        let existing = match &mut self.stored {
            Stored::InStore(walk) => {
                return Ok(match walk.meet(member)? {
                    Meeting::New => Met::New,
                    Meeting::Again => Met::Again,
                    // The usual re-import: the same member, same fields, still in the albo.
                    Meeting::Same { in_roster, .. }
                        if in_roster == in_albo && self.provided == ProvidedFields::ALL =>
                    {
                        Met::Unchanged
                    }
                    Meeting::Same { id, in_roster } => Met::Stored {
                        id,
                        in_roster,
                        old: Box::new(Cow::Owned(walk.member(id)?)),
                    },
                    Meeting::Differs { id, in_roster, old } => Met::Stored {
                        id,
                        in_roster,
                        old: Box::new(Cow::Owned(*old)),
                    },
                });
            }
            Stored::Loaded(existing) => Some(*existing),
            Stored::Nothing => None,
        };
        let cf = self.keys.digest(&member.codice_fiscale);
        let Some(index) = self.known.get(&cf) else {
            // The importer rejects repeated codici fiscali; for a caller that
            // did not, a repeated one is new only once (see `known`).
            if existing.is_some() {
                let _ = self.known.insert(Known { cf, id: 0 });
                self.flags.push(LISTED);
            }
            return Ok(Met::New);
        };
        if self.flags[index] & LISTED != 0 {
            return Ok(Met::Again);
        }
        self.flags[index] |= LISTED;
        let existing = existing.expect("only a loaded roster knows members");
        Ok(Met::Stored {
            id: self.known.entries()[index].id,
            in_roster: self.flags[index] & IN_ROSTER != 0,
            old: Box::new(Cow::Borrowed(&existing[index].1)),
        })
    }

    /// The write for the file's next row (`in_albo` false for a member the
    /// file says left), or None when nothing changes.
    fn row<'m>(&mut self, member: &'m Member, in_albo: bool) -> rusqlite::Result<Option<Step<'m>>>
    where
        'e: 'm,
    {
        let (id, was_in_roster, old) = match self.meet(member, in_albo)? {
            Met::New => {
                self.counts.new += 1;
                return Ok(Some(Step::Insert {
                    member,
                    in_roster: in_albo,
                }));
            }
            Met::Again => return Ok(None),
            Met::Unchanged => {
                self.counts.unchanged += 1;
                return Ok(None);
            }
            Met::Stored { id, in_roster, old } => (id, in_roster, old),
        };
        let member = self.provided.merge(&old, member);
        let mut fields = changed_fields(&old, &member);
        match (was_in_roster, in_albo) {
            (true, false) => {
                fields.insert(0, LEFT);
                self.counts.removed += 1;
            }
            (false, true) => {
                fields.insert(0, REJOINED);
                self.counts.updated += 1;
            }
            (false, false)
                if member.data_cancellazione.is_some()
                    && member.data_cancellazione != old.data_cancellazione =>
            {
                fields.push("data cancellazione");
                self.counts.updated += 1;
            }
            _ if fields.is_empty() => {
                self.counts.unchanged += 1;
                return Ok(None);
            }
            _ => self.counts.updated += 1,
        }
        Ok(Some(Step::Update {
            id,
            member: Box::new(member),
            in_roster: in_albo,
            fields,
        }))
    }

    /// After the last row of a full roster: the members in the albo that the
    /// file does not list, neither as read nor among its rejected rows
    /// (`rejected_keys`, see [`IncomingRoster::rejected_keys`]), one at a
    /// time to `each`, in id order.
    fn absent(
        &mut self,
        rejected: Option<&KeySet>,
        mut each: impl FnMut(Step<'e>) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<()> {
        let rejected = |m: &Member| {
            rejected.is_some_and(|set| set.contains(&m.codice_fiscale) || set.contains(&m.pec))
        };
        let counts = &mut self.counts;
        let mut mark = |id: i64, member: Cow<'e, Member>| {
            if rejected(&member) {
                return Ok(());
            }
            counts.removed += 1;
            each(Step::MarkAbsent {
                id,
                member: Box::new(member),
            })
        };
        match &mut self.stored {
            Stored::InStore(walk) => {
                walk.unmet_in_roster(|id, member| mark(id, Cow::Owned(member)))
            }
            Stored::Loaded(existing) => {
                for (index, flags) in self.flags.iter().enumerate() {
                    if *flags == IN_ROSTER {
                        mark(
                            self.known.entries()[index].id,
                            Cow::Borrowed(&existing[index].1),
                        )?;
                    }
                }
                Ok(())
            }
            Stored::Nothing => Ok(()),
        }
    }
}

/// What `incoming` would do to a store holding `existing` (see [`Store::all_members`]).
pub fn preview_roster(
    existing: &[(i64, Member, bool)],
    incoming: &IncomingRoster<'_>,
) -> RosterPreview {
    let mut planner = Planner::new(existing, incoming.provided);
    // With every member in memory, planning reads nothing and cannot fail.
    let mut changes: Vec<PlannedChange> = incoming
        .rows()
        .filter_map(|(member, in_albo)| {
            planner
                .row(member, in_albo)
                .ok()
                .flatten()
                .map(|s| s.change())
        })
        .collect();
    if incoming.full_roster {
        let _ = planner.absent(incoming.rejected_keys, |step| {
            changes.push(step.change());
            Ok(())
        });
    }
    RosterPreview {
        counts: planner.counts,
        changes,
    }
}

/// Every stored member, in id order, as `each` makes them: the import's
/// plan and the console's entries read the same rows.
pub(super) fn read_members<T>(
    conn: &Connection,
    mut each: impl FnMut(i64, Member, bool) -> T,
) -> rusqlite::Result<Vec<T>> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM members WHERE erased_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!("{SELECT_MEMBERS} ORDER BY id"))?;
    // Sized up front: growing a 100k-row vector by doubling copies it over and over.
    let mut members = Vec::with_capacity(usize::try_from(count).unwrap_or_default());
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        members.push(each(row.get(0)?, member_of(row)?, row.get(11)?));
    }
    Ok(members)
}

/// One member by id, and whether in the roster (the console's detail).
pub(super) fn read_member(conn: &Connection, id: i64) -> rusqlite::Result<Option<(Member, bool)>> {
    use rusqlite::OptionalExtension;
    let mut stmt = conn.prepare_cached(&format!("{SELECT_MEMBERS} AND id = ?1"))?;
    stmt.query_row([id], |row| Ok((member_of(row)?, row.get(11)?)))
        .optional()
}

/// The stored members' columns as [`member_of`] reads them.
const SELECT_MEMBERS: &str = "SELECT id, numero_iscrizione, cognome, nome, codice_fiscale,
    data_nascita, data_iscrizione, pec, email_servizio, cellulare, provincia, in_roster,
    left_on FROM members WHERE erased_at IS NULL";

/// A member from a row of [`SELECT_MEMBERS`], read in place: at 100k
/// members, every intermediate string counts.
fn member_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<Member> {
    let text = |i: usize| -> rusqlite::Result<String> {
        Ok(row
            .get_ref(i)?
            .as_str_or_null()?
            .unwrap_or_default()
            .to_string())
    };
    let optional = |i: usize| -> rusqlite::Result<Option<String>> {
        Ok(row.get_ref(i)?.as_str_or_null()?.map(str::to_string))
    };
    let date = |i: usize| -> rusqlite::Result<Option<NaiveDate>> {
        match row.get_ref(i)?.as_str_or_null()? {
            None => Ok(None),
            Some(text) => iso_date(text).map(Some).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    i,
                    rusqlite::types::Type::Text,
                    StoreError::Corrupt(format!("data non valida: {text}")).into(),
                )
            }),
        }
    };
    Ok(Member {
        numero_iscrizione: text(1)?,
        cognome: text(2)?,
        nome: text(3)?,
        codice_fiscale: text(4)?,
        data_nascita: date(5)?,
        data_iscrizione: date(6)?,
        pec: text(7)?,
        email_servizio: optional(8)?,
        cellulare: optional(9)?,
        provincia: optional(10)?,
        data_cancellazione: date(12)?,
    })
}

fn load_members(conn: &Connection) -> rusqlite::Result<Vec<(i64, Member, bool)>> {
    read_members(conn, |id, member, in_roster| (id, member, in_roster))
}

/// A date as the store writes it, `yyyy-mm-dd`, parsed without chrono's
/// general parser (two per member at every load).
fn iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

/// The value of [`ABORT_AFTER_ROWS_ENV`], read once per import.
fn abort_after_rows() -> Option<usize> {
    std::env::var(ABORT_AFTER_ROWS_ENV).ok()?.parse().ok()
}

/// How an import ends, once the whole file has been read.
#[derive(Debug, Clone, Default)]
pub struct RosterEnd {
    /// The file is the whole albo: stored members absent from it are marked removed.
    pub full_roster: bool,
    /// See [`IncomingRoster::rejected_keys`].
    pub rejected_keys: KeySet,
}

/// Who imports what, and when.
struct ApplyContext<'a> {
    operator: &'a str,
    source: &'a str,
    at: DateTime<Utc>,
    /// `at` as stored.
    now: String,
    /// The day of `at` in Italy: the leaving day of those found gone.
    today: Option<IsoDate>,
    /// See [`ABORT_AFTER_ROWS_ENV`].
    abort_after: Option<usize>,
}

/// Migration: `members` rebuilt with the same columns, in the same order,
/// without the inline UNIQUE on the codice fiscale, whose unique index is
/// named instead (an inline constraint's index cannot be dropped, so a first
/// import had to insert a million codici fiscali at random places of it).
/// SQLite's 12-step procedure: the migration runs with foreign keys off and
/// checks them before its commit; `members` has no triggers or views.
pub const NAMED_UNIQUE_MIGRATION: &str = r#"
    CREATE TABLE members_rebuilt (
        id                INTEGER PRIMARY KEY,
        codice_fiscale    TEXT NOT NULL,
        numero_iscrizione TEXT NOT NULL,
        cognome           TEXT NOT NULL,
        nome              TEXT NOT NULL,
        data_nascita      TEXT,
        data_iscrizione   TEXT,
        pec               TEXT NOT NULL,
        email_servizio    TEXT,
        cellulare         TEXT,
        provincia         TEXT,
        in_roster         INTEGER NOT NULL DEFAULT 1,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL,
        audit_key         TEXT,
        erased_at         TEXT,
        left_on           TEXT
    );
    INSERT INTO members_rebuilt (id, codice_fiscale, numero_iscrizione, cognome, nome,
        data_nascita, data_iscrizione, pec, email_servizio, cellulare, provincia, in_roster,
        created_at, updated_at, audit_key, erased_at, left_on)
    SELECT id, codice_fiscale, numero_iscrizione, cognome, nome,
        data_nascita, data_iscrizione, pec, email_servizio, cellulare, provincia, in_roster,
        created_at, updated_at, audit_key, erased_at, left_on
    FROM members ORDER BY id;
    DROP TABLE members;
    ALTER TABLE members_rebuilt RENAME TO members;
    CREATE UNIQUE INDEX members_codice_fiscale ON members(codice_fiscale);
    CREATE INDEX members_pec ON members(pec);
"#;

/// Indexes whose keys a first import adds in random order (file order is
/// not PEC or codice fiscale order), or that are cheaper sorted once: an
/// import into a store with no members drops them and creates them again
/// before its commit, inside its transaction. Sorting once costs less than
/// 100k inserts at random places of a B-tree.
/// (`events_member` is not among them: a first import appends its keys in
/// order, which costs less than sorting them; measured. Nor is
/// `events_mailbox`, which leaves out the "importato" events about members,
/// all but one of a first import's: see
/// [`super::events::MAILBOX_INDEX_MIGRATION`].)
const DEFERRED_INDEXES: [&str; 2] = ["members_pec", "members_codice_fiscale"];

/// Drops the [`DEFERRED_INDEXES`] and returns the statements that create them
/// again, as the schema has them.
fn drop_deferred_indexes(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let indexes: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND name IN (?1, ?2)")?
        .query_map(DEFERRED_INDEXES, |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (name, _) in &indexes {
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
    }
    Ok(indexes.into_iter().map(|(_, sql)| sql).collect())
}

/// The statements an import writes members with, prepared once per batch.
/// Each keeps `left_on`, the day a member left the albo: empty while in the
/// albo; the file's Data cancellazione (`?14`) when it has one; else the day
/// already stored, or the import's day (`?15`, `?3` for the absent).
struct Statements<'c> {
    /// Binds its texts in place (see [`StaticInsert`]): one a new member.
    insert: StaticInsert<'c>,
    /// The UPDATE of a changed member, and of one whose PEC changed (see [`update_sql`]).
    update: rusqlite::CachedStatement<'c>,
    update_with_pec: rusqlite::CachedStatement<'c>,
    mark_absent: rusqlite::CachedStatement<'c>,
}

const INSERT_MEMBER: &str = "INSERT INTO members (numero_iscrizione, cognome, nome, codice_fiscale,
     data_nascita, data_iscrizione, pec, email_servizio, cellulare, provincia,
     in_roster, created_at, updated_at, audit_key, left_on)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13,
     CASE WHEN ?11 THEN NULL ELSE COALESCE(?14, ?15) END)";

/// The UPDATE of a changed member (parameters as [`MemberRow::values`],
/// then the id, `?14` and `?15`): every field but the codice fiscale, which
/// the member was found by and so never changes, and the PEC only when it
/// changes. SQLite rewrites the entries of every index on a column the
/// statement sets, changed or not: at a million members, random seeks in
/// the unique index of codici fiscali and in the PEC's for each change
/// (half of the writer's time re-importing a few percent of changed rows).
fn update_sql(with_pec: bool) -> String {
    let pec = if with_pec { "pec = ?7," } else { "" };
    format!(
        "UPDATE members SET numero_iscrizione = ?1, cognome = ?2, nome = ?3,
         data_nascita = ?5, data_iscrizione = ?6, {pec}
         email_servizio = ?8, cellulare = ?9, provincia = ?10, in_roster = ?11,
         updated_at = ?12,
         left_on = CASE WHEN ?11 THEN NULL ELSE COALESCE(?14, left_on, ?15) END
         WHERE id = ?13"
    )
}

impl<'c> Statements<'c> {
    fn new(conn: &'c Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            insert: StaticInsert::prepare(conn, INSERT_MEMBER)?,
            update: conn.prepare_cached(&update_sql(false))?,
            update_with_pec: conn.prepare_cached(&update_sql(true))?,
            mark_absent: conn.prepare_cached(
                "UPDATE members SET in_roster = 0, updated_at = ?1, left_on = COALESCE(left_on, ?3)
                 WHERE id = ?2",
            )?,
        })
    }
}

/// A first import's journal: the store leaves WAL for a rollback journal
/// while the import runs, when it has no members and no other connection
/// has it open. A rollback journal keeps a copy of the pages the transaction
/// changes that existed before it: on an empty store, a few pages of schema,
/// while the WAL would take every page written (half a gigabyte at a million
/// members) and copy it again into the store at the checkpoint. A crash
/// leaves a hot journal that SQLite rolls back at the next open, as it
/// would the WAL's uncommitted frames; with `synchronous = FULL` meanwhile,
/// as a rollback journal needs against a power cut. Readers cannot read
/// beside such a transaction: one that opens the store meanwhile waits, and
/// then gets [`StoreError::Busy`] (they would have seen an empty store).
///
/// Foreign keys are off for the same transaction: every event a first
/// import writes is about a member it inserted in it, taken from the
/// members table itself (`INSERT … SELECT`), and an import never deletes a
/// member, so the lookup of each event's member (a million at 1M rows, 5 %
/// of the writer's instructions at 100k) checks what holds by construction;
/// [`check_member_references`] checks the range of them before the commit.
struct FirstImportJournal {
    first: bool,
    left_wal: bool,
}

impl FirstImportJournal {
    /// Leaves WAL if the store has no members; goes on in WAL when another
    /// connection has the store open (SQLite refuses to leave it then).
    fn enter(conn: &Connection) -> rusqlite::Result<Self> {
        let empty: bool = conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM members)", [], |r| {
            r.get(0)
        })?;
        if !empty {
            return Ok(Self {
                first: false,
                left_wal: false,
            });
        }
        conn.pragma_update(None, "foreign_keys", false)?;
        let mode = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| {
            r.get::<_, String>(0)
        });
        let left_wal = match mode {
            Ok(mode) => mode.eq_ignore_ascii_case("delete"),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                false
            }
            Err(e) => {
                conn.pragma_update(None, "foreign_keys", true)?;
                return Err(e);
            }
        };
        if left_wal {
            conn.pragma_update(None, "synchronous", "FULL")?;
        } else {
            tracing::info!("prima importazione in modalità WAL: l'archivio è aperto altrove");
        }
        Ok(Self {
            first: true,
            left_wal,
        })
    }

    /// Back to WAL and the store's usual sync (committed or rolled back by
    /// now). Should it fail, the next open of the store sets WAL again.
    fn leave(self, conn: &Connection) {
        if self.first
            && let Err(error) = conn.pragma_update(None, "foreign_keys", true)
        {
            tracing::error!(%error, "chiavi esterne non riattivate");
        }
        if !self.left_wal {
            return;
        }
        let back = conn
            .pragma_update(None, "synchronous", "NORMAL")
            .and_then(|()| {
                conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            });
        match back {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => {}
            other => tracing::warn!(?other, "ritorno alla modalità WAL non riuscito"),
        }
    }
}

/// With foreign keys off (a first import, see [`FirstImportJournal`]),
/// refuses to commit events about members outside the stored ids: two
/// seeks in `events_member`, not a lookup per event.
fn check_member_references(conn: &Connection) -> rusqlite::Result<()> {
    let on: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    if on {
        return Ok(());
    }
    let dangling: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM events WHERE member_id < (SELECT MIN(id) FROM members))
            OR EXISTS (SELECT 1 FROM events WHERE member_id > (SELECT MAX(id) FROM members))
            OR (NOT EXISTS (SELECT 1 FROM members)
                AND EXISTS (SELECT 1 FROM events WHERE member_id IS NOT NULL))",
        [],
        |r| r.get(0),
    )?;
    if dangling {
        return Err(rusqlite::Error::UserFunctionError(
            "eventi che rimandano a iscritti inesistenti".into(),
        ));
    }
    Ok(())
}

/// An import under way inside its transaction (see [`Store::import_members`]):
/// plans and writes the file's rows as they come, an event for each change.
pub struct RosterWriter<'a> {
    conn: &'a Connection,
    path: &'a std::path::Path,
    planner: Planner<'a>,
    context: ApplyContext<'a>,
    /// Members inserted that have no "importato" event yet: the first and
    /// last id, and how many.
    unlogged: Option<(i64, i64, usize)>,
    /// Links the "importato" events inside SQLite.
    linker: &'a SetLinker,
    /// Draws the new members' audit keys (seeded once from the system;
    /// faster than SQLite's randomblob, measured).
    keys: rand::rngs::StdRng,
    /// The statements that create the indexes dropped for this import.
    deferred_indexes: Vec<String>,
    /// With the codice fiscale's unique index dropped for a first import,
    /// the codici fiscali inserted so far, so that one the caller repeats is
    /// new only once (as the index would have it) instead of failing the
    /// index's creation at the end; None when the index is there, or the
    /// rows come from the importer, which rejects repeated ones itself.
    new_codici: Option<KeySet>,
    /// Writes made so far, for [`ABORT_AFTER_ROWS_ENV`].
    written: usize,
}

impl<'a> RosterWriter<'a> {
    /// The optional fields the file has columns for: all, unless told so
    /// before the first row.
    pub fn set_provided(&mut self, provided: ProvidedFields) {
        self.planner.provided = provided;
    }

    /// The rows will have no codice fiscale twice (the importer's reader
    /// rejects repeated ones): a first import need not remember them.
    pub fn rows_have_unique_codici(&mut self) {
        self.new_codici = None;
    }

    /// Plans and writes the file's next rows, in file order: each member, and
    /// whether the file has them in the albo.
    pub fn rows<'m>(&mut self, rows: impl IntoIterator<Item = (&'m Member, bool)>) -> Result<()>
    where
        'a: 'm,
    {
        let to_err = super::sql_error(self.path);
        let mut statements = Statements::new(self.conn).map_err(&to_err)?;
        let mut chain = ChainWriter::begin(self.conn).map_err(&to_err)?;
        let mut steps = Vec::new();
        for (member, in_albo) in rows {
            if let Some(step) = self.planner.row(member, in_albo).map_err(&to_err)? {
                steps.push(step);
            }
        }
        if steps.is_empty() || !steps.iter().all(|s| matches!(s, Step::Insert { .. })) {
            for step in &steps {
                self.write(&mut statements, &mut chain, step, None)
                    .map_err(&to_err)?;
            }
            return self.log_imported(&mut chain, None).map_err(&to_err);
        }
        let ahead = self
            .insert_linking_ahead(&mut statements, &mut chain, &steps)
            .map_err(&to_err)?;
        self.log_imported(&mut chain, Some(ahead)).map_err(&to_err)
    }

    /// Inserts `steps`, new members all, while a helper thread links their
    /// "importato" events into the chain (the digests and hashes are most of
    /// what logging them costs, and this thread bounds an import's speed):
    /// their keys are drawn here first, and their ids follow the last
    /// member's, as the events' follow the chain's head.
    /// [`Self::log_imported`] uses the links if the ids came as expected.
    fn insert_linking_ahead(
        &mut self,
        statements: &mut Statements<'_>,
        chain: &mut ChainWriter,
        steps: &[Step<'_>],
    ) -> rusqlite::Result<LinkedAhead> {
        let keys: Vec<[u8; 32]> = (steps.iter())
            .map(|_| super::chain::member_key(&mut self.keys))
            .collect();
        let first_member: i64 =
            (self.conn).query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM members", [], |r| {
                r.get(0)
            })?;
        let (in_albo, left) = self.imported_details();
        let (now, operator) = (self.context.now.clone(), self.context.operator);
        let head = chain.head();
        std::thread::scope(|scope| {
            let linker = scope.spawn(|| {
                link_run(
                    head,
                    first_member,
                    &now,
                    crate::identity::os_account(),
                    operator,
                    EventKind::Imported.code(),
                    steps.len(),
                    |n| match &steps[n] {
                        Step::Insert { member, in_roster } => (
                            &keys[n][..],
                            member.pec.as_str(),
                            if *in_roster { &in_albo } else { &left },
                        ),
                        _ => unreachable!("new members only"),
                    },
                )
            });
            for (step, key) in steps.iter().zip(&keys) {
                self.write(statements, chain, step, Some(key))?;
            }
            Ok(linker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
        })
    }

    /// The detail of an "importato" event: of a member in the albo, and of
    /// one imported as already gone.
    fn imported_details(&self) -> (String, String) {
        let source = self.context.source;
        (
            format!("importato da {source}"),
            format!("importato da {source} (già cancellato dall'albo)"),
        )
    }

    /// Logs an "importato" event for each member inserted since the last
    /// call, in one `INSERT … SELECT` from the members table that links each
    /// row into the audit chain inside SQLite (see [`SetLinker`]): one
    /// statement, not one per event. Logging each batch as it is written,
    /// not all at the end, lets it run while the file is still being read.
    fn log_imported(
        &mut self,
        chain: &mut ChainWriter,
        ahead: Option<LinkedAhead>,
    ) -> rusqlite::Result<()> {
        let Some((first, last, count)) = self.unlogged.take() else {
            return Ok(());
        };
        let ApplyContext {
            operator, ref now, ..
        } = self.context;
        let (in_albo, left) = self.imported_details();
        let account = crate::identity::os_account();
        let kind = EventKind::Imported.code();
        if usize::try_from(last - first + 1) != Ok(count) {
            // Ids with gaps (never within one transaction that only appends,
            // but the event ids below are counted from the member ids).
            return self.log_imported_one_by_one(chain, first, (&in_albo, &left));
        }
        let id = "?1 + id - ?2";
        let detail = "CASE in_roster WHEN 1 THEN ?7 ELSE ?8 END";
        let link = format!("{LINK_FUNCTION}({id}, ?3, ?4, ?5, ?6, id, audit_key, pec, {detail})");
        let sql = format!(
            "INSERT INTO events (id, at, account, operator, kind, member_id, mailbox, detail,
             digest, hash)
             SELECT {id}, ?3, ?4, ?5, ?6, id, pec, {detail}, {link}, {LINK_HASH_FUNCTION}({id})
             FROM members WHERE id BETWEEN ?2 AND ?9 ORDER BY id"
        );
        let mut insert = self.conn.prepare_cached(&sql)?;
        let first_event = chain.next_id();
        let insert = || {
            insert.execute(params![
                first_event,
                first,
                now,
                account,
                operator,
                kind,
                in_albo,
                left,
                last
            ])
        };
        // Linked ahead for exactly these members (a repeated codice fiscale
        // skipped, or ids not where expected: linked here instead).
        match ahead.filter(|a| a.covers(first, count)) {
            Some(ahead) => chain.link_set_ahead(self.linker, ahead, insert)?,
            None => chain.link_set(self.linker, insert)?,
        };
        Ok(())
    }

    /// [`Self::log_imported`] one event at a time, linked here.
    fn log_imported_one_by_one(
        &self,
        chain: &mut ChainWriter,
        first: i64,
        (in_albo, left): (&str, &str),
    ) -> rusqlite::Result<()> {
        let rows: Vec<(i64, String, bool, Vec<u8>)> = self
            .conn
            .prepare(
                "SELECT id, pec, in_roster, CAST(audit_key AS BLOB) FROM members
                 WHERE id >= ?1 ORDER BY id",
            )?
            .query_map([first], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut insert = insert_statement(self.conn)?;
        for (id, pec, in_roster, key) in rows {
            let link = Link {
                at: &self.context.now,
                account: crate::identity::os_account(),
                operator: self.context.operator,
                kind: EventKind::Imported.code(),
                outcome: None,
                member_id: Some(id),
                mailbox: Some(&pec),
                detail: if in_roster { in_albo } else { left },
            };
            insert_link(&mut insert, chain, &link, &[], &key)?;
        }
        Ok(())
    }

    /// Writes one step; a new member gets `key` as audit key, or one drawn here.
    fn write(
        &mut self,
        statements: &mut Statements<'_>,
        chain: &mut ChainWriter,
        step: &Step<'_>,
        key: Option<&[u8; 32]>,
    ) -> rusqlite::Result<()> {
        let ApplyContext {
            operator,
            source,
            at,
            ref now,
            ref today,
            abort_after,
        } = self.context;
        if abort_after == Some(self.written) {
            std::process::abort();
        }
        self.written += 1;
        let conn = self.conn;
        let mut event = |member_id: i64, mailbox: &str, detail: String| {
            append_linked(
                conn,
                chain,
                &NewEvent {
                    at,
                    operator: operator.to_string(),
                    kind: EventKind::RosterUpdated,
                    member_id: Some(member_id),
                    mailbox: Some(mailbox.to_string()),
                    detail,
                    outcome: None,
                },
            )
            .map(drop)
        };
        match step {
            Step::Insert { member, in_roster } => {
                if let Some(seen) = &mut self.new_codici
                    && !seen.insert_new(&member.codice_fiscale)
                {
                    self.planner.counts.new -= 1;
                    return Ok(());
                }
                let row = MemberRow::new(member, *in_roster, now);
                let key = key
                    .copied()
                    .unwrap_or_else(|| super::chain::member_key(&mut self.keys));
                let key = std::str::from_utf8(&key).expect("hex");
                let inserted = statements.insert.insert(&row.binds(key, today.as_ref()));
                let id = match inserted {
                    // A codice fiscale the caller repeated (the importer
                    // rejects them): new only once. The failed statement
                    // alone is undone.
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                    {
                        self.planner.counts.new -= 1;
                        return Ok(());
                    }
                    inserted => inserted?,
                };
                self.unlogged = Some(match self.unlogged {
                    Some((first, _, count)) => (first, id, count + 1),
                    None => (id, id, 1),
                });
            }
            Step::Update {
                id,
                member,
                in_roster,
                fields,
            } => {
                let row = MemberRow::new(member, *in_roster, now);
                let key: &dyn rusqlite::ToSql = id;
                let update = if fields.contains(&PEC_FIELD) {
                    &mut statements.update_with_pec
                } else {
                    &mut statements.update
                };
                update.execute(rusqlite::params_from_iter(
                    (row.values().into_iter()).chain([key, &row.left, today]),
                ))?;
                let detail = match fields.split_first() {
                    Some((&LEFT, [])) => format!("{LEFT}: cancellato secondo {source}"),
                    Some((&LEFT, rest)) => format!(
                        "{LEFT}: cancellato secondo {source}; aggiornato: {}",
                        rest.join(", ")
                    ),
                    _ => format!("aggiornato da {source}: {}", fields.join(", ")),
                };
                event(*id, &member.pec, detail)?;
            }
            Step::MarkAbsent { id, member } => {
                statements.mark_absent.execute(params![now, id, today])?;
                event(*id, &member.pec, format!("{LEFT}: assente da {source}"))?;
            }
        }
        Ok(())
    }

    /// After the last row: marks the members absent from a full roster, logs
    /// the run, and creates the indexes dropped for it again.
    fn finish(mut self, end: &RosterEnd) -> rusqlite::Result<MemberUpsert> {
        if end.full_roster {
            // Taken out of the writer for the walk: its steps are written as they come.
            let mut planner = std::mem::replace(&mut self.planner, Planner::empty());
            let mut statements = Statements::new(self.conn)?;
            let mut chain = ChainWriter::begin(self.conn)?;
            planner.absent(Some(&end.rejected_keys), |step| {
                self.write(&mut statements, &mut chain, &step, None)
            })?;
            self.planner = planner;
        }
        let ApplyContext {
            operator,
            source,
            at,
            ..
        } = self.context;
        let counts = self.planner.counts;
        append(
            self.conn,
            &NewEvent {
                at,
                operator: operator.to_string(),
                kind: EventKind::Imported,
                member_id: None,
                mailbox: None,
                detail: format!(
                    "importazione di {source} ({}): {} nuovi, {} aggiornati, {} invariati, {} rimossi",
                    if end.full_roster {
                        "albo completo"
                    } else {
                        "parziale"
                    },
                    counts.new,
                    counts.updated,
                    counts.unchanged,
                    counts.removed
                ),
                outcome: None,
            },
        )?;
        // The tables' pages written so far go to the disk while the indexes
        // are sorted (measured at 1M rows: the commit's fsync 0.05 s instead
        // of 0.33 s); on a thread, as starting the writeback itself blocks.
        let path = self.path.to_path_buf();
        let writeback = (!self.deferred_indexes.is_empty())
            .then(|| std::thread::spawn(move || start_writeback(&path)));
        if !self.deferred_indexes.is_empty() && counts.new > SORTED_IN_ONE_RUN {
            // SQLite's sorter keeps a cache's worth of keys in memory before
            // it sorts them as one run: with the import's cache, a million
            // keys in one list, sorted on this thread. Runs of 4 MiB sort
            // faster (they fit the CPU's caches), on the helper thread
            // (`PRAGMA threads`) while this one reads the table, and then
            // merge (measured at 1M rows: 1.8 s instead of 6.0 s for the
            // indexes, under load). The pages written meanwhile go to the WAL,
            // as they would at the commit; the import restores the cache.
            self.conn.pragma_update(None, "cache_size", -SORT_RUN_KIB)?;
        }
        for sql in &self.deferred_indexes {
            self.conn.execute_batch(sql)?;
        }
        if let Some(writeback) = writeback {
            // A hint only: whatever it did, the commit syncs the store.
            let _ = writeback.join();
        }
        Ok(counts)
    }
}

/// Asks the kernel to start writing the store's pages already written out
/// (a first import writes its tables into the file as its cache spills:
/// hundreds of megabytes at a million members) to the disk now, instead of
/// all of them at the commit's fsync. Only a hint: the commit syncs as ever.
fn start_writeback(path: &std::path::Path) {
    #[cfg(target_os = "linux")]
    if let Ok(file) = std::fs::File::open(path) {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on a file descriptor open for its duration.
        let done =
            unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        if done != 0 {
            tracing::debug!(error = %std::io::Error::last_os_error(), "sync_file_range");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
}

/// Where the rows of a file being read go, a batch at a time: a
/// [`RosterWriter`] (an import) or a [`RosterPlanner`] (a preview).
pub trait RosterFeed {
    /// Plans (and, for an import, writes) the next rows, in file order: each
    /// member, and whether the file has them in the albo; `provided` as
    /// [`RosterWriter::set_provided`].
    fn feed(&mut self, provided: ProvidedFields, rows: &[(Member, bool)]) -> Result<()>;
}

impl RosterFeed for RosterWriter<'_> {
    fn feed(&mut self, provided: ProvidedFields, rows: &[(Member, bool)]) -> Result<()> {
        self.set_provided(provided);
        self.rows(rows.iter().map(|(member, in_albo)| (member, *in_albo)))
    }
}

/// Changes a streamed preview lists, of each of two sorts (new members;
/// updates and removals), in file order: its counts cover every change, and
/// its memory stays bounded whatever the file's size.
pub const PREVIEW_CHANGES_KEPT: usize = 10_000;

/// A preview of a file still being read (see [`Store::plan_import`]): plans
/// each batch of rows as it comes, with the rules of an import, against the
/// stored roster walked beside it (see [`StoredWalk`]), and writes nothing.
pub struct RosterPlanner<'a> {
    planner: Planner<'a>,
    path: &'a std::path::Path,
    changes: Vec<PlannedChange>,
    /// Changes kept of new members, and of the others.
    kept: [usize; 2],
}

impl RosterPlanner<'_> {
    fn keep(&mut self, step: &Step<'_>) {
        let sort = usize::from(!matches!(step, Step::Insert { .. }));
        if self.kept[sort] < PREVIEW_CHANGES_KEPT {
            self.kept[sort] += 1;
            self.changes.push(step.change());
        }
    }

    fn finish(mut self, end: &RosterEnd) -> rusqlite::Result<RosterPreview> {
        if end.full_roster {
            let mut planner = std::mem::replace(&mut self.planner, Planner::empty());
            planner.absent(Some(&end.rejected_keys), |step| {
                self.keep(&step);
                Ok(())
            })?;
            self.planner = planner;
        }
        Ok(RosterPreview {
            counts: self.planner.counts,
            changes: self.changes,
        })
    }
}

impl RosterFeed for RosterPlanner<'_> {
    fn feed(&mut self, provided: ProvidedFields, rows: &[(Member, bool)]) -> Result<()> {
        self.planner.provided = provided;
        for (member, in_albo) in rows {
            let step = self.planner.row(member, *in_albo);
            if let Some(step) = step.map_err(super::sql_error(self.path))? {
                self.keep(&step);
            }
        }
        Ok(())
    }
}

/// What importing a file still being read would do to `store` (None: a
/// store not created yet), without writing: `feed` hands the rows to the
/// [`RosterPlanner`] as they come and returns how the file ends, or None
/// when it turned out unimportable. The plan reads the store in one read
/// transaction, so it sees one state of it.
pub fn plan_import<E: From<StoreError>>(
    store: Option<&Store>,
    feed: impl FnOnce(&mut RosterPlanner<'_>) -> std::result::Result<Option<RosterEnd>, E>,
) -> std::result::Result<Option<RosterPreview>, E> {
    let nowhere = std::path::Path::new("");
    let Some(store) = store else {
        let mut planner = RosterPlanner {
            planner: Planner::empty(),
            path: nowhere,
            changes: Vec::new(),
            kept: [0; 2],
        };
        let Some(end) = feed(&mut planner)? else {
            return Ok(None);
        };
        return Ok(Some(
            planner.finish(&end).map_err(super::sql_error(nowhere))?,
        ));
    };
    let to_err = super::sql_error(&store.path);
    // Rolled back when dropped: nothing is written.
    let tx = store.conn.unchecked_transaction().map_err(&to_err)?;
    let mut planner = RosterPlanner {
        planner: Planner::in_store(&tx).map_err(&to_err)?,
        path: &store.path,
        changes: Vec::new(),
        kept: [0; 2],
    };
    let Some(end) = feed(&mut planner)? else {
        return Ok(None);
    };
    Ok(Some(planner.finish(&end).map_err(&to_err)?))
}

impl Store {
    /// Reconciles the stored roster with an imported file in one transaction:
    /// adds new members, updates changed ones (keyed by codice fiscale), marks
    /// as removed those the file says left the albo and, for a full roster,
    /// those absent from it. Logs an event for each change and one for the run.
    /// Either everything goes in or nothing does.
    pub fn upsert_members(
        &mut self,
        incoming: &IncomingRoster<'_>,
        operator: &str,
        source: &str,
        at: DateTime<Utc>,
    ) -> Result<MemberUpsert> {
        let end = RosterEnd {
            full_roster: incoming.full_roster,
            rejected_keys: incoming.rejected_keys.cloned().unwrap_or_default(),
        };
        let counts = self.import_members(operator, source, at, |writer| {
            writer.set_provided(incoming.provided);
            writer.rows(incoming.rows())?;
            Ok::<_, StoreError>(Some(end))
        })?;
        Ok(counts.expect("the feed always ends"))
    }

    /// [`Store::upsert_members`] for a file still being read: begins the
    /// transaction and starts walking the stored roster, then `feed` hands the rows to
    /// the [`RosterWriter`] as they come, which plans and writes them at once,
    /// and returns how the import ends, or None to roll everything back (the
    /// file turned out unimportable). An error from `feed` rolls back too.
    /// Returns the counts when committed.
    pub fn import_members<E: From<StoreError>>(
        &mut self,
        operator: &str,
        source: &str,
        at: DateTime<Utc>,
        feed: impl FnOnce(&mut RosterWriter<'_>) -> std::result::Result<Option<RosterEnd>, E>,
    ) -> std::result::Result<Option<MemberUpsert>, E> {
        let to_err = super::sql_error(&self.path);
        // Stored to the second: `ts` writes the nanoseconds a clock gives
        // (30 characters, 20 without them), and an import writes its instant
        // three times a new member (created, updated, the event's), 30 MB at
        // a million members. Every reader takes both forms (`parse_ts`);
        // the chain hashes the text as stored, so old rows verify as before.
        let at = chrono::SubsecRound::trunc_subsecs(at, 0);
        let context = ApplyContext {
            operator,
            source,
            at,
            now: ts(at),
            today: IsoDate::of(Some(crate::i18n::italian_time(at).date())),
            abort_after: abort_after_rows(),
        };
        let journal = FirstImportJournal::enter(&self.conn).map_err(&to_err)?;
        let result = self.import_with_cache(context, feed);
        journal.leave(&self.conn);
        result
    }

    /// [`Self::import_members`] with the page cache and the sorter's threads
    /// an import wants.
    fn import_with_cache<E: From<StoreError>>(
        &mut self,
        context: ApplyContext<'_>,
        feed: impl FnOnce(&mut RosterWriter<'_>) -> std::result::Result<Option<RosterEnd>, E>,
    ) -> std::result::Result<Option<MemberUpsert>, E> {
        let to_err = super::sql_error(&self.path);
        if context.abort_after.is_some() {
            // Keep SQLite's small cache: uncommitted pages then reach the
            // file (the WAL, or the store beside its rollback journal)
            // before the abort, the harder case for the crash test.
            return self.import_in_transaction(context, feed);
        }
        // A large albo touches more pages than SQLite's default 2 MB cache holds,
        // and a transaction that outgrows its cache writes pages out and reads
        // them back. Pages are allocated only when used, so the bound is cheap.
        let cache_size: i64 = self
            .conn
            .query_row("PRAGMA cache_size", [], |r| r.get(0))
            .map_err(&to_err)?;
        self.conn
            .pragma_update(None, "cache_size", -IMPORT_CACHE_KIB)
            .map_err(&to_err)?;
        // The deferred indexes of a first import are sorted with a helper
        // thread: by then the reader is done and its core free.
        self.conn
            .pragma_update(None, "threads", SORT_HELPER_THREADS)
            .map_err(&to_err)?;
        let result = self.import_in_transaction(context, feed);
        self.conn
            .pragma_update(None, "cache_size", cache_size)
            .map_err(&to_err)?;
        self.conn
            .pragma_update(None, "threads", 0)
            .map_err(&to_err)?;
        result
    }

    fn import_in_transaction<E: From<StoreError>>(
        &mut self,
        context: ApplyContext<'_>,
        feed: impl FnOnce(&mut RosterWriter<'_>) -> std::result::Result<Option<RosterEnd>, E>,
    ) -> std::result::Result<Option<MemberUpsert>, E> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        // Read inside the write lock, so that the plan is the one applied.
        let planner = Planner::in_store(&tx).map_err(&to_err)?;
        let deferred_indexes = if planner.stores_none() {
            drop_deferred_indexes(&tx).map_err(&to_err)?
        } else {
            Vec::new()
        };
        let new_codici = deferred_indexes
            .iter()
            .any(|sql| sql.contains("members_codice_fiscale"))
            .then(KeySet::default);
        let linker = SetLinker::register(&tx).map_err(&to_err)?;
        let mut writer = RosterWriter {
            conn: &tx,
            path: &self.path,
            planner,
            context,
            unlogged: None,
            linker: &linker,
            keys: rand::SeedableRng::from_os_rng(),
            new_codici,
            deferred_indexes,
            written: 0,
        };
        let result = feed(&mut writer).and_then(|end| match end {
            Some(end) => Ok(Some(writer.finish(&end).map_err(&to_err)?)),
            None => Ok(None),
        });
        linker.unregister(&tx).map_err(&to_err)?;
        // Dropping the transaction without a commit rolls it back.
        let Some(counts) = result? else {
            return Ok(None);
        };
        check_member_references(&tx).map_err(&to_err)?;
        tx.commit().map_err(&to_err)?;
        Ok(Some(counts))
    }

    /// What [`Store::upsert_members`] would do, without writing.
    pub fn preview_members(&self, incoming: &IncomingRoster<'_>) -> Result<RosterPreview> {
        Ok(preview_roster(&self.all_members()?, incoming))
    }

    /// Every member with their id and whether they are in the roster.
    pub fn all_members(&self) -> Result<Vec<(i64, Member, bool)>> {
        load_members(&self.conn).map_err(self.err())
    }

    pub fn member_count(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM members WHERE erased_at IS NULL",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::generate_roster;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    fn upsert(store: &mut Store, incoming: IncomingRoster<'_>) -> MemberUpsert {
        store
            .upsert_members(&incoming, "anna", "albo.csv", Utc::now())
            .unwrap()
    }

    fn in_roster(store: &Store) -> Vec<bool> {
        store
            .all_members()
            .unwrap()
            .into_iter()
            .map(|(_, _, in_roster)| in_roster)
            .collect()
    }

    #[test]
    fn iso_dates_parse_like_chrono() {
        for text in ["1985-03-01", "2024-02-29", "0999-12-31"] {
            assert_eq!(iso_date(text), text.parse().ok(), "{text}");
        }
        for text in [
            "2023-02-29",
            "1985-3-01",
            "1985/03/01",
            "",
            "abcd-ef-gh",
            "1985-03-011",
        ] {
            assert_eq!(iso_date(text), None, "{text}");
        }
    }

    #[test]
    fn dates_are_stored_as_iso_text() {
        let text = |y, m, d| {
            IsoDate::of(NaiveDate::from_ymd_opt(y, m, d))
                .map(|t| String::from_utf8(t.0.to_vec()).unwrap())
        };
        assert_eq!(text(1985, 3, 1).as_deref(), Some("1985-03-01"));
        assert_eq!(text(2025, 12, 31).as_deref(), Some("2025-12-31"));
        assert_eq!(text(10000, 1, 1), None);
        assert!(IsoDate::of(None).is_none());
    }

    #[test]
    fn upsert_adds_updates_and_never_duplicates() {
        let (_dir, mut store) = store();
        let mut members = generate_roster(20, 3, "pec.fofi.it");
        let first = upsert(&mut store, IncomingRoster::full(&members));
        assert_eq!(first.new, 20);
        members[0].email_servizio = Some("nuova@libero.it".into());
        let second = upsert(&mut store, IncomingRoster::full(&members));
        assert_eq!(
            second,
            MemberUpsert {
                new: 0,
                updated: 1,
                unchanged: 19,
                removed: 0,
            }
        );
        assert_eq!(store.member_count().unwrap(), 20);
        let (id, stored, _) = store.all_members().unwrap().remove(0);
        assert_eq!(stored, members[0]);
        let timeline = store.timeline(Some(id), None).unwrap();
        assert_eq!(timeline.len(), 2);
        assert_eq!(
            timeline[0].detail,
            "aggiornato da albo.csv: e-mail di servizio"
        );
        assert_eq!(timeline[1].detail, "importato da albo.csv");
        assert_eq!(timeline[1].kind, EventKind::Imported);
    }

    #[test]
    fn a_full_roster_marks_absent_members_removed_and_a_partial_one_does_not() {
        let (_dir, mut store) = store();
        let members = generate_roster(5, 4, "pec.fofi.it");
        upsert(&mut store, IncomingRoster::full(&members));
        let partial = upsert(
            &mut store,
            IncomingRoster {
                full_roster: false,
                ..IncomingRoster::full(&members[..2])
            },
        );
        assert_eq!(partial.removed, 0);
        assert_eq!(in_roster(&store), [true; 5]);

        let full = upsert(&mut store, IncomingRoster::full(&members[..3]));
        assert_eq!((full.unchanged, full.removed), (3, 2));
        assert_eq!(in_roster(&store), [true, true, true, false, false]);
        assert_eq!(store.member_count().unwrap(), 5, "never deleted");
        let (id, ..) = store.all_members().unwrap().remove(4);
        let timeline = store.timeline(Some(id), None).unwrap();
        assert_eq!(timeline[0].detail, "rimosso dall'albo: assente da albo.csv");

        // Back in the next file: rejoins, counted as an update.
        let back = upsert(&mut store, IncomingRoster::full(&members));
        assert_eq!((back.updated, back.unchanged, back.removed), (2, 3, 0));
        let timeline = store.timeline(Some(id), None).unwrap();
        assert_eq!(
            timeline[0].detail,
            "aggiornato da albo.csv: rientrato nell'albo"
        );
        assert_eq!(in_roster(&store), [true; 5]);
    }

    #[test]
    fn members_whose_row_was_rejected_are_not_removed() {
        let (_dir, mut store) = store();
        let members = generate_roster(3, 5, "pec.fofi.it");
        upsert(&mut store, IncomingRoster::full(&members));
        let rejected: KeySet = [members[2].codice_fiscale.as_str()].into_iter().collect();
        let outcome = upsert(
            &mut store,
            IncomingRoster {
                rejected_keys: Some(&rejected),
                ..IncomingRoster::full(&members[..2])
            },
        );
        assert_eq!(outcome.removed, 0);
        assert_eq!(in_roster(&store), [true; 3]);
    }

    #[test]
    fn members_listed_as_left_are_removed_or_imported_as_removed() {
        let (_dir, mut store) = store();
        let members = generate_roster(3, 6, "pec.fofi.it");
        upsert(&mut store, IncomingRoster::full(&members[..2]));
        let mut left = members[1..].to_vec();
        left[0].cellulare = Some("+393330000000".into());
        let outcome = upsert(
            &mut store,
            IncomingRoster {
                members: &members[..1],
                left_albo: &left,
                ..IncomingRoster::default()
            },
        );
        assert_eq!(
            outcome,
            MemberUpsert {
                new: 1,
                updated: 0,
                unchanged: 1,
                removed: 1
            }
        );
        assert_eq!(in_roster(&store), [true, false, false]);
        let all = store.all_members().unwrap();
        let timeline = store.timeline(Some(all[1].0), None).unwrap();
        assert_eq!(
            timeline[0].detail,
            "rimosso dall'albo: cancellato secondo albo.csv; aggiornato: cellulare"
        );
        let timeline = store.timeline(Some(all[2].0), None).unwrap();
        assert_eq!(
            timeline[0].detail,
            "importato da albo.csv (già cancellato dall'albo)"
        );
    }

    #[test]
    fn preview_matches_the_import_and_writes_nothing() {
        let (_dir, mut store) = store();
        let mut members = generate_roster(6, 7, "pec.fofi.it");
        upsert(&mut store, IncomingRoster::full(&members[..5]));
        members[0].cognome = "Mirò".into();
        let events = store.event_count().unwrap();
        let incoming = IncomingRoster::full(&members[..5]);
        let preview = store.preview_members(&incoming).unwrap();
        assert_eq!(store.event_count().unwrap(), events);
        assert_eq!(
            preview.counts,
            MemberUpsert {
                new: 0,
                updated: 1,
                unchanged: 4,
                removed: 0
            }
        );
        assert_eq!(preview.changes.len(), 1);
        assert_eq!(preview.changes[0].fields, ["cognome"]);
        assert_eq!(preview.changes[0].name, members[0].full_name());
        assert_eq!(upsert(&mut store, incoming), preview.counts);

        let without_first = IncomingRoster::full(&members[1..]);
        let preview = store.preview_members(&without_first).unwrap();
        assert_eq!(
            (preview.counts.new, preview.counts.removed),
            (1, 1),
            "{preview:?}"
        );
        let kinds: Vec<ChangeKind> = preview.changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ChangeKind::New, ChangeKind::Removed]);
    }

    #[test]
    fn fields_the_file_lacks_keep_their_stored_value() {
        let (_dir, mut store) = store();
        let members = generate_roster(2, 9, "pec.fofi.it");
        upsert(&mut store, IncomingRoster::full(&members));
        // An INI-PEC-like file: no e-mail, mobile, birth date or provincia.
        let mut bare = members.clone();
        for m in &mut bare {
            (m.email_servizio, m.cellulare, m.data_nascita, m.provincia) = (None, None, None, None);
        }
        bare[1].cognome = "Mirò".into();
        let provided = ProvidedFields {
            email_servizio: false,
            cellulare: false,
            data_nascita: false,
            provincia: false,
            ..ProvidedFields::ALL
        };
        let incoming = IncomingRoster {
            provided,
            ..IncomingRoster::full(&bare)
        };
        let preview = store.preview_members(&incoming).unwrap();
        assert_eq!((preview.counts.unchanged, preview.counts.updated), (1, 1));
        assert_eq!(preview.changes[0].fields, ["cognome"]);
        upsert(&mut store, incoming);
        let stored: Vec<Member> = store
            .all_members()
            .unwrap()
            .into_iter()
            .map(|e| e.1)
            .collect();
        assert_eq!(stored[0], members[0]);
        assert_eq!(stored[1].cognome, "Mirò");
        assert_eq!(stored[1].email_servizio, members[1].email_servizio);
        assert_eq!(stored[1].cellulare, members[1].cellulare);

        // A column that is there but empty does clear the value.
        upsert(&mut store, IncomingRoster::full(&bare));
        assert!(
            store
                .all_members()
                .unwrap()
                .iter()
                .all(|e| e.1.email_servizio.is_none())
        );
    }

    #[test]
    fn a_codice_fiscale_repeated_by_the_caller_is_new_once() {
        let (_dir, mut store) = store();
        let mut members = generate_roster(3, 13, "pec.fofi.it");
        members.push(members[1].clone());
        let preview = store
            .preview_members(&IncomingRoster::full(&members))
            .unwrap();
        assert_eq!(preview.counts.new, 3);
        let outcome = upsert(&mut store, IncomingRoster::full(&members));
        assert_eq!(outcome, preview.counts);
        assert_eq!(store.member_count().unwrap(), 3);
        assert_eq!(store.event_count().unwrap(), 4);
        assert_eq!(store.verify_chain().unwrap().broken, None);
    }

    #[test]
    fn imports_link_every_event_into_the_chain() {
        let (_dir, mut store) = store();
        let mut members = generate_roster(30, 11, "pec.fofi.it");
        upsert(
            &mut store,
            IncomingRoster {
                members: &members[..20],
                left_albo: &members[20..25],
                ..IncomingRoster::default()
            },
        );
        members[3].cognome = "Mirò".into();
        upsert(&mut store, IncomingRoster::full(&members[..18]));
        upsert(&mut store, IncomingRoster::full(&members));
        let report = store.verify_chain().unwrap();
        assert_eq!(report.broken, None);
        assert_eq!(report.checked, store.event_count().unwrap());
        // An "importato" event linked inside SQLite is checked like any other.
        let (id, ..) = store.all_members().unwrap().remove(21);
        let event: i64 = store
            .conn
            .query_row(
                "SELECT id FROM events WHERE member_id = ?1 AND kind = 'imported'",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        store
            .conn
            .execute("UPDATE events SET detail = 'x' WHERE id = ?1", [event])
            .unwrap();
        assert_eq!(
            store.verify_chain().unwrap().broken,
            Some(crate::store::ChainBreak::Changed { id: event })
        );
    }

    /// Runs, with the set linker, an `INSERT … SELECT` of an event per
    /// member whose digest and hash columns (in the order `columns` names
    /// them) are `values`, in `order`; asserts that it fails and leaves the
    /// log as it was, its chain whole.
    fn assert_link_set_refused(columns: &str, values: &str, order: &str) {
        let (_dir, mut store) = store();
        upsert(
            &mut store,
            IncomingRoster::full(&generate_roster(3, 12, "pec.fofi.it")),
        );
        let events = store.event_count().unwrap();
        let tx = store.conn.transaction().unwrap();
        let linker = SetLinker::register(&tx).unwrap();
        let mut chain = ChainWriter::begin(&tx).unwrap();
        let first = chain.next_id();
        let link =
            format!("{LINK_FUNCTION}(?1 + id - 1, 'a', 'b', 'c', 'd', id, audit_key, pec, 'e')");
        let hash = format!("{LINK_HASH_FUNCTION}(?1 + id - 1)");
        let values = values.replace("LINK", &link).replace("HASH", &hash);
        let result = chain.link_set(&linker, || {
            tx.execute(
                &format!(
                    "INSERT INTO events (id, at, account, operator, kind, member_id, mailbox,
                     detail, {columns})
                     SELECT ?1 + id - 1, 'a', 'b', 'c', 'd', id, pec, 'e', {values}
                     FROM members ORDER BY id {order}"
                ),
                [first],
            )
        });
        assert!(result.is_err(), "{result:?}");
        linker.unregister(&tx).unwrap();
        tx.commit().unwrap();
        assert_eq!(store.event_count().unwrap(), events);
        assert_eq!(store.verify_chain().unwrap().broken, None);
    }

    #[test]
    fn the_link_function_refuses_rows_out_of_order() {
        // In id order, these ids would chain; evaluated in the reverse order, they must not.
        assert_link_set_refused("digest, hash", "LINK, HASH", "DESC");
    }

    #[test]
    fn the_hash_of_a_row_is_refused_before_the_row_is_linked() {
        // The hash's column before the digest's: asked for a row not yet linked.
        assert_link_set_refused("hash, digest", "HASH, LINK", "ASC");
    }

    /// The indexes of `table`, by name, in order.
    fn index_names(store: &Store, table: &str) -> Vec<String> {
        store
            .conn
            .prepare(
                "SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ?1 ORDER BY name",
            )
            .unwrap()
            .query_map([table], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn members_rebuilt_with_a_named_unique_index_keep_their_rows_and_references() {
        let (dir, mut store) = store();
        let members = generate_roster(40, 14, "pec.fofi.it");
        upsert(&mut store, IncomingRoster::full(&members));
        let before = store.all_members().unwrap();
        let events = store.event_count().unwrap();
        // Back to the shape before the migration: the inline UNIQUE.
        let mine = super::super::schema::MIGRATIONS
            .iter()
            .position(|m| *m == NAMED_UNIQUE_MIGRATION)
            .unwrap();
        let old_shape = NAMED_UNIQUE_MIGRATION
            .replace("members_rebuilt", "members_old")
            .replace(
                "codice_fiscale    TEXT NOT NULL,",
                "codice_fiscale TEXT NOT NULL UNIQUE,",
            )
            .replace(
                "CREATE UNIQUE INDEX members_codice_fiscale ON members(codice_fiscale);",
                "",
            );
        store
            .conn
            .execute_batch(&format!(
                "PRAGMA foreign_keys = OFF; BEGIN; {old_shape} COMMIT; PRAGMA foreign_keys = ON;"
            ))
            .unwrap();
        store
            .conn
            .pragma_update(None, "user_version", mine as i64)
            .unwrap();
        let indexes = |store: &Store| index_names(store, "members");
        assert_eq!(
            indexes(&store),
            ["members_pec", "sqlite_autoindex_members_1"]
        );
        drop(store);

        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(
            indexes(&store),
            ["members_apart", "members_codice_fiscale", "members_pec"]
        );
        assert_eq!(store.all_members().unwrap(), before);
        assert_eq!(store.event_count().unwrap(), events);
        assert_eq!(store.verify_chain().unwrap().broken, None);
        let fk: i64 = store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1, "foreign keys on again after migrating");
        // Still unique, and still referenced by the events.
        let repeated = store.conn.execute(
            "INSERT INTO members (codice_fiscale, numero_iscrizione, cognome, nome, pec,
             created_at, updated_at) VALUES (?1, '1', 'a', 'b', 'x@pec.fofi.it', '', '')",
            [&members[0].codice_fiscale],
        );
        assert!(repeated.is_err(), "{repeated:?}");
        let referenced = store
            .conn
            .execute("DELETE FROM members WHERE id = ?1", [before[0].0]);
        assert!(referenced.is_err(), "{referenced:?}");
        // A re-import finds every member.
        let again = upsert(&mut store, IncomingRoster::full(&members));
        assert_eq!(again.unchanged, 40);
    }

    #[test]
    fn a_first_import_builds_its_deferred_indexes_again() {
        let (_dir, mut store) = store();
        upsert(
            &mut store,
            IncomingRoster::full(&generate_roster(50, 15, "pec.fofi.it")),
        );
        let mut names = index_names(&store, "members");
        names.extend(index_names(&store, "events"));
        assert!(
            DEFERRED_INDEXES
                .iter()
                .all(|d| names.iter().any(|n| n == d)),
            "{names:?}"
        );
        let check: String = store
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    fn journal_mode(conn: &Connection) -> String {
        conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap()
    }

    /// Imports `members` into `store`; returns the journal mode the import
    /// ran in.
    fn import_seeing_the_journal(store: &mut Store, members: &[Member]) -> String {
        let mut seen = String::new();
        store
            .import_members("anna", "albo.csv", Utc::now(), |writer| {
                seen = journal_mode(writer.conn);
                writer.rows(members.iter().map(|m| (m, true)))?;
                Ok::<_, StoreError>(Some(RosterEnd {
                    full_roster: true,
                    ..RosterEnd::default()
                }))
            })
            .unwrap();
        seen
    }

    #[test]
    fn a_first_import_leaves_wal_for_its_duration_only() {
        let (_dir, mut store) = store();
        let members = generate_roster(30, 16, "pec.fofi.it");
        assert_eq!(import_seeing_the_journal(&mut store, &members), "delete");
        assert_eq!(journal_mode(&store.conn), "wal");
        let sync: i64 = store
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 1, "NORMAL again");
        let fk: bool = store
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(fk, "foreign keys on again");
        let dangling: Option<String> = rusqlite::OptionalExtension::optional(store.conn.query_row(
            "PRAGMA foreign_key_check",
            [],
            |r| r.get(0),
        ))
        .unwrap();
        assert_eq!(dangling, None);
        assert_eq!(store.member_count().unwrap(), 30);
        // A store with members is imported into in WAL, readers beside it.
        assert_eq!(import_seeing_the_journal(&mut store, &members), "wal");
        assert_eq!(store.verify_chain().unwrap().broken, None);
    }

    #[test]
    fn an_import_stores_its_instant_to_the_second_and_old_instants_still_verify() {
        use chrono::TimeZone;
        let (_dir, mut store) = store();
        let members = generate_roster(3, 19, "pec.fofi.it");
        let at = Utc.with_ymd_and_hms(2026, 11, 29, 12, 5, 7).unwrap()
            + chrono::TimeDelta::nanoseconds(123_456_789);
        store
            .upsert_members(&IncomingRoster::full(&members[..2]), "anna", "a.csv", at)
            .unwrap();
        let stored: Vec<String> = store
            .conn
            .prepare("SELECT created_at FROM members UNION ALL SELECT at FROM events")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert!(
            stored.iter().all(|t| t == "2026-11-29T12:05:07Z"),
            "{stored:?}"
        );
        // A row from before, with its nanoseconds, beside the new ones.
        let mut chain = ChainWriter::begin(&store.conn).unwrap();
        let event = NewEvent {
            at,
            operator: "anna".into(),
            kind: EventKind::Action,
            member_id: None,
            mailbox: None,
            detail: "prima".into(),
            outcome: None,
        };
        append_linked(&store.conn, &mut chain, &event).unwrap();
        store
            .upsert_members(&IncomingRoster::full(&members), "anna", "b.csv", at)
            .unwrap();
        assert_eq!(store.verify_chain().unwrap().broken, None);
        let recent = store.recent_events(10).unwrap();
        assert!(
            recent.iter().any(|e| e.at == at),
            "the old form reads back whole"
        );
        assert!(
            recent
                .iter()
                .any(|e| e.at == at - chrono::TimeDelta::nanoseconds(123_456_789))
        );
    }

    #[test]
    fn a_first_import_stays_in_wal_while_another_connection_has_the_store_open() {
        let (dir, mut store) = store();
        let other = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(other.member_count().unwrap(), 0);
        let members = generate_roster(30, 17, "pec.fofi.it");
        assert_eq!(import_seeing_the_journal(&mut store, &members), "wal");
        assert_eq!(journal_mode(&store.conn), "wal");
        // The other connection read beside the import, and reads its result.
        assert_eq!(other.member_count().unwrap(), 30);
        assert_eq!(other.verify_chain().unwrap().broken, None);
    }

    #[test]
    fn with_foreign_keys_off_an_event_about_no_member_is_refused() {
        let (_dir, mut store) = store();
        upsert(
            &mut store,
            IncomingRoster::full(&generate_roster(3, 20, "pec.fofi.it")),
        );
        store
            .conn
            .pragma_update(None, "foreign_keys", false)
            .unwrap();
        assert!(check_member_references(&store.conn).is_ok());
        for member in [0, 99] {
            let tx = store.conn.transaction().unwrap();
            tx.execute(
                "INSERT INTO events (at, operator, kind, member_id, detail)
                 VALUES ('2026-11-29T12:00:00Z', 'x', 'action', ?1, 'x')",
                [member],
            )
            .unwrap();
            assert!(check_member_references(&tx).is_err(), "member {member}");
        }
        // With foreign keys on, SQLite itself checks: nothing to do here.
        store
            .conn
            .pragma_update(None, "foreign_keys", true)
            .unwrap();
        assert!(check_member_references(&store.conn).is_ok());
    }

    #[test]
    fn a_reader_locked_out_by_a_first_import_is_told_the_store_is_busy() {
        let (dir, mut store) = store();
        let path = dir.path().join("s.db");
        let members = generate_roster(30, 18, "pec.fofi.it");
        let (locked, wait_locked) = std::sync::mpsc::channel();
        let (read, wait_read) = std::sync::mpsc::channel::<()>();
        let (importing, members) = (&mut store, &members);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                importing
                    .import_members("anna", "albo.csv", Utc::now(), |writer| {
                        writer.rows(members.iter().map(|m| (m, true)))?;
                        // The store's lock, as a spill of the cache takes it.
                        writer.conn.cache_flush().unwrap();
                        locked.send(()).unwrap();
                        wait_read.recv().unwrap();
                        Ok::<_, StoreError>(Some(RosterEnd::default()))
                    })
                    .unwrap()
            });
            wait_locked.recv().unwrap();
            let conn = Connection::open(&path).unwrap();
            conn.busy_timeout(std::time::Duration::from_millis(50))
                .unwrap();
            let reader = Store {
                conn,
                path: path.clone(),
            };
            let err = reader.member_count().unwrap_err();
            assert!(matches!(err, StoreError::Busy { .. }), "{err:?}");
            assert!(err.to_string().contains("occupato"), "{err}");
            read.send(()).unwrap();
        });
        assert_eq!(store.member_count().unwrap(), 30);
    }

    #[test]
    fn each_import_logs_one_run_event() {
        let (_dir, mut store) = store();
        let members = generate_roster(4, 8, "pec.fofi.it");
        upsert(&mut store, IncomingRoster::full(&members));
        upsert(&mut store, IncomingRoster::full(&members));
        // 4 "importato" events plus one per run.
        assert_eq!(store.event_count().unwrap(), 6);
        let last = &store.recent_events(1).unwrap()[0];
        assert_eq!(last.member_id, None);
        assert_eq!(
            last.detail,
            "importazione di albo.csv (albo completo): 0 nuovi, 0 aggiornati, 4 invariati, 0 rimossi"
        );
    }
}
