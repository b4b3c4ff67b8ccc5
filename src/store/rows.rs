//! The console's roster in memory: one compact row per entry (a member with
//! their mailbox, a member with no mailbox, a mailbox with no member).
//!
//! A [`RosterEntry`] holds the whole member, mailbox and Aruba copy, about a
//! dozen owned strings (some 0.8 KB a member); at 1M members that is most of
//! a gigabyte. A row keeps only what the table shows, sorts, searches and
//! classifies: states as bytes, the two instants the states need as `i32`,
//! and its strings (address, names, codice fiscale, numero, the service
//! e-mail and mobile that search and the bulk actions read) back to back in
//! one buffer for the whole roster, each behind a one-byte length. The rest
//! (dates, masked recovery contacts, the mailbox's history) is read from the
//! store for the one entry the detail shows ([`super::Store::roster_entry`]).

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::RosterEntry;
use crate::domain::aruba::{ArubaMailbox, ArubaSide, ArubaStatus};
use crate::domain::{MailboxState, Member, MigrationState, PasswordState, RecoveryContacts};

/// `member_id` of a mailbox with no member.
const NO_MEMBER: i64 = i64::MIN;
/// An instant or day that is not there.
const NONE: i32 = i32::MIN;
/// Instants are seconds from 2020-01-01T00:00:00Z in an `i32`: 1952 to 2088.
const EPOCH: i64 = 1_577_836_800;

const HAS_MEMBER: u8 = 1;
const IN_ROSTER: u8 = 1 << 1;
const HAS_MAILBOX: u8 = 1 << 2;
const RECOVERY_EMAIL: u8 = 1 << 3;
const RECOVERY_MOBILE: u8 = 1 << 4;
const RECOVERY_CONFIRMED: u8 = 1 << 5;

/// What is known at Aruba: [`ArubaSide`] without its strings.
const ARUBA_UNKNOWN: u8 = 0;
const ARUBA_MISSING: u8 = 1;
const ARUBA_PRESENT: u8 = 2;

/// A text field's length byte: up to `LONG - 1` the length itself; `LONG`:
/// the length follows in [`LONG_DIGITS`] bytes of seven bits; `ABSENT`: no
/// value (`None`). Every length byte is ASCII, so a buffer of fields is
/// UTF-8 as a whole and a field is sliced out of it without checking again.
const LONG: u8 = 0x7E;
const ABSENT: u8 = 0x7F;
const LONG_DIGITS: usize = 5;

/// The text fields of a row, in buffer order.
#[derive(Clone, Copy)]
enum Field {
    Address,
    Cognome,
    Nome,
    CodiceFiscale,
    Numero,
    Email,
    Mobile,
}

/// One entry's fixed part: 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    /// Its Aruba copy in [`Parts::aruba`] when [`ARUBA_PRESENT`] (in what
    /// would otherwise be padding).
    aruba_copy: u32,
    member_id: i64,
    /// Where the row's text fields start in [`RosterRows::text`].
    text: u64,
    /// Seconds from [`EPOCH`].
    link_expires: i32,
    /// Italian day of a completed migration (days from the common era).
    migrated_on: i32,
    migration: u8,
    password: u8,
    flags: u8,
    aruba: u8,
}

/// Every entry of the console, compactly; in the order the store loads
/// them (members by id, then mailboxes with no member by address).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RosterRows {
    /// Boxed: the rows travel inside the console's actions, kept small.
    parts: Box<Parts>,
}

#[derive(Clone, Default, PartialEq, Eq)]
struct Parts {
    rows: Vec<Row>,
    text: String,
    /// The entries present at Aruba with Aruba's copy, by row: only once
    /// Aruba's side has been synced, and only for the Ordine's mailboxes.
    aruba: Vec<ArubaCopy>,
    /// The copies' texts: contact e-mail, mobile, and a status Aruba named
    /// outside the known ones, as [`RosterRows::text`] keeps texts.
    aruba_text: String,
}

/// Aruba's copy of a row's mailbox ([`ArubaMailbox`]), its address being the
/// row's: 16 bytes and its texts, where an owned copy took some 300.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ArubaCopy {
    /// [`NO_OWNER`] when Aruba gave none.
    owner_id: i64,
    /// Where its texts start in [`Parts::aruba_text`].
    text: u32,
    /// [`ARUBA_STATUSES`] index, or [`OTHER_STATUS`] (the code is a text).
    status: u8,
    /// [`EMAIL_AS_ROW`], [`MOBILE_AS_ROW`]: a contact that is, byte for
    /// byte, the row's own e-mail or mobile is not written again (most are:
    /// at a million, some 18 MB).
    as_row: u8,
}

const EMAIL_AS_ROW: u8 = 1;
const MOBILE_AS_ROW: u8 = 1 << 1;

const NO_OWNER: i64 = i64::MIN;

/// The statuses a copy keeps as a byte; any other is kept as Aruba wrote it.
const ARUBA_STATUSES: [ArubaStatus; 6] = [
    ArubaStatus::Certified,
    ArubaStatus::ToCertify,
    ArubaStatus::Suspended,
    ArubaStatus::CancellationRequested,
    ArubaStatus::CancellationRequestedSuspended,
    ArubaStatus::Cancelled,
];
const OTHER_STATUS: u8 = ARUBA_STATUSES.len() as u8;

/// The text fields of an Aruba copy, in buffer order.
#[derive(Clone, Copy)]
enum ArubaField {
    Email,
    Mobile,
    OtherStatus,
}

/// A status as a copy keeps it: its byte, and its code as a text when it
/// is none of the known ones ([`ArubaField::OtherStatus`]).
fn coded_status(status: &ArubaStatus) -> (u8, Option<&str>) {
    match ARUBA_STATUSES.iter().position(|s| s == status) {
        Some(known) => (known as u8, None),
        None => (OTHER_STATUS, Some(status.code())),
    }
}

/// Writes a text as a field of a buffer: its length byte (or [`LONG`] and
/// its length in seven-bit digits), then its text; [`ABSENT`] for None.
fn push_text(text: &mut String, value: Option<&str>) {
    match value {
        None => text.push(char::from(ABSENT)),
        Some(value) if value.len() < usize::from(LONG) => {
            text.push(char::from(value.len() as u8));
            text.push_str(value);
        }
        Some(value) => {
            text.push(char::from(LONG));
            let mut len = value.len();
            for _ in 0..LONG_DIGITS {
                text.push(char::from((len & 0x7F) as u8));
                len >>= 7;
            }
            assert_eq!(len, 0, "a text field under 32 GiB");
            text.push_str(value);
        }
    }
}

/// Field `n` of the fields written by [`push_text`] from `at` on: the
/// fields before it are skipped by their lengths.
fn text_field(text: &str, mut at: usize, n: usize) -> Option<&str> {
    let bytes = text.as_bytes();
    for i in 0..=n {
        let (start, len) = match bytes[at] {
            ABSENT => (at + 1, None),
            LONG => {
                let digits = &bytes[at + 1..at + 1 + LONG_DIGITS];
                let len = digits
                    .iter()
                    .rev()
                    .fold(0usize, |len, &digit| len << 7 | usize::from(digit));
                (at + 1 + LONG_DIGITS, Some(len))
            }
            len => (at + 1, Some(usize::from(len))),
        };
        if i == n {
            return len.map(|len| &text[start..start + len]);
        }
        at = start + len.unwrap_or(0);
    }
    None
}

/// Personal data, and a lot of it: `Debug` says how many.
impl std::fmt::Debug for RosterRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RosterRows")
            .field("rows", &self.parts.rows.len())
            .field("text_bytes", &self.parts.text.len())
            .field("at_aruba", &self.parts.aruba.len())
            .finish()
    }
}

/// A mailbox's states as a row keeps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxRow {
    pub migration: MigrationState,
    pub password: PasswordState,
    link_expires: i32,
    migrated_on: i32,
    /// A recovery e-mail, a mobile on file; confirmed at first access.
    pub recovery_email: bool,
    pub recovery_mobile: bool,
    pub recovery_confirmed: bool,
}

fn seconds(at: Option<DateTime<Utc>>) -> i32 {
    at.map_or(NONE, |at| {
        (at.timestamp() - EPOCH).clamp(i64::from(NONE) + 1, i64::from(i32::MAX)) as i32
    })
}

fn instant(seconds: i32) -> Option<DateTime<Utc>> {
    (seconds != NONE)
        .then(|| DateTime::from_timestamp(EPOCH + i64::from(seconds), 0))
        .flatten()
}

impl MailboxRow {
    pub fn of(state: &MailboxState) -> Self {
        Self::new(
            (state.migration, state.migration_at),
            (state.password, state.link_expires_at),
            (
                state.recovery.email_masked.is_some(),
                state.recovery.mobile_masked.is_some(),
                state.recovery.confirmed,
            ),
        )
    }

    /// From the migration state and when it happened, the password state
    /// and when its link expires, and the recovery contacts (an e-mail, a
    /// mobile, confirmed).
    pub fn new(
        (migration, migration_at): (MigrationState, Option<DateTime<Utc>>),
        (password, link_expires_at): (PasswordState, Option<DateTime<Utc>>),
        (recovery_email, recovery_mobile, recovery_confirmed): (bool, bool, bool),
    ) -> Self {
        let migrated_on = match (migration, migration_at) {
            (MigrationState::Completed, Some(at)) => {
                crate::i18n::italian_time(at).date().num_days_from_ce()
            }
            _ => NONE,
        };
        Self {
            migration,
            password,
            link_expires: seconds(link_expires_at),
            migrated_on,
            recovery_email,
            recovery_mobile,
            recovery_confirmed,
        }
    }

    /// When the recovery link expires, to the second.
    pub fn link_expires_at(&self) -> Option<DateTime<Utc>> {
        instant(self.link_expires)
    }

    /// The password state as of `now`, as [`MailboxState::password_at`]
    /// says it (to the second).
    pub fn password_at(&self, now: DateTime<Utc>) -> PasswordState {
        match self.password {
            PasswordState::ResetPending
                if self.link_expires != NONE && self.link_expires <= seconds(Some(now)) =>
            {
                PasswordState::LinkExpired
            }
            state => state,
        }
    }

    /// The Italian day a completed migration happened.
    pub fn migrated_on(&self) -> Option<NaiveDate> {
        (self.migrated_on != NONE)
            .then(|| NaiveDate::from_num_days_from_ce_opt(self.migrated_on))
            .flatten()
    }

    pub fn can_receive_recovery_email(&self) -> bool {
        self.recovery_email
    }

    /// No recovery contact at all: only the Ordine can help.
    pub fn recovery_is_empty(&self) -> bool {
        !self.recovery_email && !self.recovery_mobile
    }
}

/// Aruba's complete listing as read for [`RosterRows::join_aruba`]: each
/// mailbox's owner and status byte, and its texts (address, contact e-mail,
/// mobile, a status outside the known ones) back to back.
#[derive(Default)]
pub(crate) struct ArubaListing {
    copies: Vec<(Option<i64>, u8)>,
    starts: Vec<u32>,
    text: String,
}

impl ArubaListing {
    pub(crate) fn push(
        &mut self,
        address: &str,
        status: &str,
        owner_id: Option<i64>,
        [email, mobile]: [Option<&str>; 2],
    ) {
        let status = ArubaStatus::from_code(status);
        let (byte, other) = coded_status(&status);
        self.copies.push((owner_id, byte));
        self.starts
            .push(u32::try_from(self.text.len()).expect("Aruba's listing under 4 GiB"));
        for value in [Some(address), email, mobile, other] {
            push_text(&mut self.text, value);
        }
    }

    fn address(&self, at: usize) -> &str {
        self.field(at, 0).unwrap_or_default()
    }

    fn field(&self, at: usize, n: usize) -> Option<&str> {
        text_field(&self.text, self.starts[at] as usize, n)
    }
}

/// What Aruba says of a row's mailbox ([`ArubaSide`], borrowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArubaRow<'a> {
    Unknown,
    Missing,
    Present(ArubaView<'a>),
}

impl<'a> ArubaRow<'a> {
    pub fn mailbox(self) -> Option<ArubaView<'a>> {
        match self {
            ArubaRow::Present(m) => Some(m),
            _ => None,
        }
    }
}

/// Aruba's copy of a row's mailbox, read in place ([`ArubaMailbox`]'s
/// fields as methods; [`ArubaView::to_mailbox`] for an owned one).
#[derive(Clone, Copy)]
pub struct ArubaView<'a> {
    row: RosterRow<'a>,
    copy: &'a ArubaCopy,
}

impl<'a> ArubaView<'a> {
    /// The mailbox's address: the row's.
    pub fn address(&self) -> &'a str {
        self.row.address()
    }

    pub fn status(&self) -> ArubaStatus {
        match ARUBA_STATUSES.get(usize::from(self.copy.status)) {
            Some(known) => known.clone(),
            None => ArubaStatus::Other(
                self.field(ArubaField::OtherStatus)
                    .unwrap_or_default()
                    .into(),
            ),
        }
    }

    /// Aruba's owner id, needed to change the contacts.
    pub fn owner_id(&self) -> Option<i64> {
        (self.copy.owner_id != NO_OWNER).then_some(self.copy.owner_id)
    }

    /// The owner's contact e-mail at Aruba.
    pub fn contact_email(&self) -> Option<&'a str> {
        if self.copy.as_row & EMAIL_AS_ROW != 0 {
            return self.row.email_servizio();
        }
        self.field(ArubaField::Email)
    }

    /// The owner's mobile at Aruba.
    pub fn contact_mobile(&self) -> Option<&'a str> {
        if self.copy.as_row & MOBILE_AS_ROW != 0 {
            return self.row.cellulare();
        }
        self.field(ArubaField::Mobile)
    }

    pub fn to_mailbox(self) -> ArubaMailbox {
        ArubaMailbox {
            address: self.address().to_string(),
            status: self.status(),
            owner_id: self.owner_id(),
            contact_email: self.contact_email().map(str::to_string),
            contact_mobile: self.contact_mobile().map(str::to_string),
        }
    }

    fn field(&self, field: ArubaField) -> Option<&'a str> {
        let text = &self.row.rows.parts.aruba_text;
        text_field(text, self.copy.text as usize, field as usize)
    }
}

/// Personal data: only the status.
impl std::fmt::Debug for ArubaView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArubaView")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl PartialEq for ArubaView<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.address() == other.address()
            && self.copy.owner_id == other.copy.owner_id
            && self.status() == other.status()
            && self.contact_email() == other.contact_email()
            && self.contact_mobile() == other.contact_mobile()
    }
}

impl Eq for ArubaView<'_> {}

/// One entry of [`RosterRows`].
#[derive(Clone, Copy)]
pub struct RosterRow<'a> {
    rows: &'a RosterRows,
    index: usize,
}

impl std::fmt::Debug for RosterRow<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RosterRow")
            .field("index", &self.index)
            .field("member_id", &self.member_id())
            .finish_non_exhaustive()
    }
}

impl<'a> RosterRow<'a> {
    fn row(&self) -> &'a Row {
        &self.rows.parts.rows[self.index]
    }

    fn flag(&self, flag: u8) -> bool {
        self.row().flags & flag != 0
    }

    /// A text field of the row.
    fn field(&self, field: Field) -> Option<&'a str> {
        text_field(
            &self.rows.parts.text,
            self.row().text as usize,
            field as usize,
        )
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn member_id(&self) -> Option<i64> {
        let id = self.row().member_id;
        (id != NO_MEMBER).then_some(id)
    }

    /// A roster member (in the roster or removed from it).
    pub fn has_member(&self) -> bool {
        self.flag(HAS_MEMBER)
    }

    /// False when the member left the roster (kept with their history).
    pub fn in_roster(&self) -> bool {
        self.flag(IN_ROSTER)
    }

    /// The PEC address this entry is about ([`RosterEntry::address`]).
    pub fn address(&self) -> &'a str {
        self.field(Field::Address).unwrap_or_default()
    }

    /// The member's cognome; empty without a member.
    pub fn cognome(&self) -> &'a str {
        self.field(Field::Cognome).unwrap_or_default()
    }

    pub fn nome(&self) -> &'a str {
        self.field(Field::Nome).unwrap_or_default()
    }

    pub fn codice_fiscale(&self) -> &'a str {
        self.field(Field::CodiceFiscale).unwrap_or_default()
    }

    pub fn numero_iscrizione(&self) -> &'a str {
        self.field(Field::Numero).unwrap_or_default()
    }

    /// The member's service e-mail.
    pub fn email_servizio(&self) -> Option<&'a str> {
        self.field(Field::Email)
    }

    /// The member's mobile, E.164.
    pub fn cellulare(&self) -> Option<&'a str> {
        self.field(Field::Mobile)
    }

    /// "Cognome Nome", as [`Member::full_name`]; None without a member.
    pub fn full_name(&self) -> Option<String> {
        self.has_member()
            .then(|| format!("{} {}", self.cognome(), self.nome()))
    }

    pub fn mailbox(&self) -> Option<MailboxRow> {
        let row = self.row();
        self.flag(HAS_MAILBOX).then(|| MailboxRow {
            migration: MigrationState::ALL[usize::from(row.migration)],
            password: PasswordState::ALL[usize::from(row.password)],
            link_expires: row.link_expires,
            migrated_on: row.migrated_on,
            recovery_email: self.flag(RECOVERY_EMAIL),
            recovery_mobile: self.flag(RECOVERY_MOBILE),
            recovery_confirmed: self.flag(RECOVERY_CONFIRMED),
        })
    }

    pub fn aruba(&self) -> ArubaRow<'a> {
        let row = self.row();
        match row.aruba {
            ARUBA_UNKNOWN => ArubaRow::Unknown,
            ARUBA_MISSING => ArubaRow::Missing,
            _ => ArubaRow::Present(ArubaView {
                row: *self,
                copy: &self.rows.parts.aruba[row.aruba_copy as usize],
            }),
        }
    }
}

impl RosterRows {
    pub fn with_capacity(rows: usize) -> Self {
        Self {
            parts: Box::new(Parts {
                rows: Vec::with_capacity(rows),
                // Most entries' texts take 100 to 130 bytes.
                text: String::with_capacity(rows * 112),
                aruba: Vec::new(),
                aruba_text: String::new(),
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.parts.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.rows.is_empty()
    }

    /// Entry `index`; panics past the end, as indexing a slice does.
    pub fn row(&self, index: usize) -> RosterRow<'_> {
        assert!(
            index < self.parts.rows.len(),
            "row {index} of {}",
            self.parts.rows.len()
        );
        RosterRow { rows: self, index }
    }

    pub fn get(&self, index: usize) -> Option<RosterRow<'_>> {
        (index < self.parts.rows.len()).then_some(RosterRow { rows: self, index })
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = RosterRow<'_>> + '_ {
        (0..self.parts.rows.len()).map(|index| RosterRow { rows: self, index })
    }

    /// Whether Aruba's side is known (a complete listing was stored).
    pub fn aruba_known(&self) -> bool {
        self.parts
            .rows
            .first()
            .is_some_and(|r| r.aruba != ARUBA_UNKNOWN)
    }

    fn push_text(&mut self, value: Option<&str>) {
        push_text(&mut self.parts.text, value);
    }

    fn push_row(&mut self, member_id: i64, flags: u8) {
        self.parts.rows.push(Row {
            aruba_copy: 0,
            member_id,
            text: self.parts.text.len() as u64,
            link_expires: NONE,
            migrated_on: NONE,
            migration: 0,
            password: 0,
            flags,
            aruba: ARUBA_UNKNOWN,
        });
    }

    /// A member, without a mailbox yet; `address` is their PEC (or the
    /// address of the mailbox joined to them).
    pub(crate) fn push_member(&mut self, id: i64, member: &Member, in_roster: bool, address: &str) {
        self.push_member_texts(
            id,
            in_roster,
            [
                Some(address),
                Some(&member.cognome),
                Some(&member.nome),
                Some(&member.codice_fiscale),
                Some(&member.numero_iscrizione),
                member.email_servizio.as_deref(),
                member.cellulare.as_deref(),
            ],
        );
    }

    /// A member from their texts in [`Field`] order (address, cognome, nome,
    /// codice fiscale, numero, e-mail, mobile), as read in place.
    pub(crate) fn push_member_texts(&mut self, id: i64, in_roster: bool, texts: [Option<&str>; 7]) {
        let flags = HAS_MEMBER | if in_roster { IN_ROSTER } else { 0 };
        self.push_row(id, flags);
        for value in texts {
            self.push_text(value);
        }
    }

    /// A mailbox with no member.
    pub(crate) fn push_orphan(&mut self, address: &str, mailbox: MailboxRow) {
        self.push_row(NO_MEMBER, 0);
        self.push_text(Some(address));
        let last = self.parts.rows.len() - 1;
        self.set_mailbox(last, mailbox);
    }

    pub(crate) fn set_mailbox(&mut self, index: usize, mailbox: MailboxRow) {
        let row = &mut self.parts.rows[index];
        row.migration = mailbox.migration as u8;
        row.password = mailbox.password as u8;
        row.link_expires = mailbox.link_expires;
        row.migrated_on = mailbox.migrated_on;
        for (on, flag) in [
            (true, HAS_MAILBOX),
            (mailbox.recovery_email, RECOVERY_EMAIL),
            (mailbox.recovery_mobile, RECOVERY_MOBILE),
            (mailbox.recovery_confirmed, RECOVERY_CONFIRMED),
        ] {
            if on {
                row.flags |= flag;
            }
        }
    }

    /// What Aruba says of entry `index`.
    pub(crate) fn set_aruba(&mut self, index: usize, side: ArubaSide) {
        let state = match side {
            ArubaSide::Unknown => ARUBA_UNKNOWN,
            ArubaSide::Missing => ARUBA_MISSING,
            ArubaSide::Present(mailbox) => {
                let (status, other) = coded_status(&mailbox.status);
                let texts = [
                    mailbox.contact_email.as_deref(),
                    mailbox.contact_mobile.as_deref(),
                    other,
                ];
                return self.push_aruba(index, mailbox.owner_id, status, texts);
            }
        };
        self.parts.rows[index].aruba = state;
    }

    /// Aruba's copy for row `index`, its contacts `[email, mobile, other
    /// status]`; the row is marked present.
    fn push_aruba(
        &mut self,
        index: usize,
        owner_id: Option<i64>,
        status: u8,
        [email, mobile, other]: [Option<&str>; 3],
    ) {
        let own = self.row(index);
        let email_as_row = email.is_some() && email == own.email_servizio();
        let mobile_as_row = mobile.is_some() && mobile == own.cellulare();
        let as_row = if email_as_row { EMAIL_AS_ROW } else { 0 }
            | if mobile_as_row { MOBILE_AS_ROW } else { 0 };
        let email = email.filter(|_| !email_as_row);
        let mobile = mobile.filter(|_| !mobile_as_row);
        let parts = &mut self.parts;
        let copy = u32::try_from(parts.aruba.len()).expect("under 4G copies");
        parts.aruba.push(ArubaCopy {
            owner_id: owner_id.unwrap_or(NO_OWNER),
            text: u32::try_from(parts.aruba_text.len()).expect("Aruba's texts under 4 GiB"),
            status,
            as_row,
        });
        for value in [email, mobile, other] {
            push_text(&mut parts.aruba_text, value);
        }
        let row = &mut parts.rows[index];
        row.aruba = ARUBA_PRESENT;
        row.aruba_copy = copy;
    }

    /// Joins Aruba's complete listing to the rows by address: the first row
    /// with an address takes its copy, every other row is missing there.
    pub(crate) fn join_aruba(&mut self, listing: &ArubaListing) {
        let mut by_address: foldhash::HashMap<&str, u32> = (0..listing.starts.len())
            .map(|i| (listing.address(i), i as u32))
            .collect();
        let matched: Vec<(usize, u32)> = self
            .iter()
            .filter_map(|row| Some((row.index, by_address.remove(row.address())?)))
            .collect();
        drop(by_address);
        for row in &mut self.parts.rows {
            row.aruba = ARUBA_MISSING;
        }
        self.parts.aruba.reserve_exact(matched.len());
        for (index, at) in matched {
            let (owner_id, status) = listing.copies[at as usize];
            let texts = [
                ArubaField::Email,
                ArubaField::Mobile,
                ArubaField::OtherStatus,
            ]
            .map(|field| listing.field(at as usize, 1 + field as usize));
            self.push_aruba(index, owner_id, status, texts);
        }
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.parts.text.shrink_to_fit();
        self.parts.rows.shrink_to_fit();
        self.parts.aruba.shrink_to_fit();
        self.parts.aruba_text.shrink_to_fit();
    }

    /// The rows of entries as [`super::Store::roster_entries`] gives them
    /// (tests, fixtures, and whoever holds full entries already).
    pub fn from_entries(entries: impl IntoIterator<Item = RosterEntry>) -> Self {
        let mut rows = Self::default();
        for (index, entry) in entries.into_iter().enumerate() {
            match (&entry.member, entry.member_id) {
                (Some(member), id) => {
                    let address = entry.address();
                    rows.push_member(id.unwrap_or(NO_MEMBER), member, entry.in_roster, address);
                    // A mailbox joined by address: the member's PEC is its address.
                    if let Some(mailbox) = &entry.mailbox {
                        rows.set_mailbox(index, MailboxRow::of(mailbox));
                    }
                }
                (None, _) => {
                    let mailbox = entry.mailbox.as_ref();
                    rows.push_row(NO_MEMBER, 0);
                    rows.push_text(Some(entry.address()));
                    if let Some(mailbox) = mailbox {
                        rows.set_mailbox(index, MailboxRow::of(mailbox));
                    }
                }
            }
            rows.set_aruba(index, entry.aruba);
        }
        rows
    }
}

/// A member, mailbox and Aruba side filled from a row, reusing their
/// strings from row to row, for the domain's rules ([`category::is_in_with`],
/// the diagnosis's facts) that take the full types. Dates, the province and
/// the masked contacts' text are not in a row: they stay empty.
///
/// [`category::is_in_with`]: crate::domain::category::is_in_with
pub struct Scratch {
    member: Member,
    mailbox: MailboxState,
    aruba: ArubaSide,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            member: Member::default(),
            mailbox: MailboxState {
                address: String::new(),
                migration: MigrationState::NotStarted,
                migration_at: None,
                password: PasswordState::NotSet,
                link_sent_at: None,
                link_expires_at: None,
                recovery: RecoveryContacts {
                    email_masked: None,
                    mobile_masked: None,
                    confirmed: false,
                },
                last_login_at: None,
                must_change_password: false,
                updated_at: DateTime::UNIX_EPOCH,
            },
            aruba: ArubaSide::Unknown,
        }
    }
}

/// The entry as the domain's rules see it: member, in the roster, mailbox,
/// Aruba's side.
pub type Facts<'s> = (
    Option<&'s Member>,
    bool,
    Option<&'s MailboxState>,
    &'s ArubaSide,
);

fn set_text(slot: &mut String, value: &str) {
    slot.clear();
    slot.push_str(value);
}

fn set_optional(slot: &mut Option<String>, value: Option<&str>) {
    match (slot.as_mut(), value) {
        (Some(text), Some(value)) => set_text(text, value),
        (None, Some(value)) => *slot = Some(value.to_string()),
        (_, None) => *slot = None,
    }
}

impl Scratch {
    pub fn fill(&mut self, row: RosterRow<'_>) -> Facts<'_> {
        let member = row.has_member().then(|| {
            let m = &mut self.member;
            set_text(&mut m.pec, row.address());
            set_text(&mut m.cognome, row.cognome());
            set_text(&mut m.nome, row.nome());
            set_text(&mut m.codice_fiscale, row.codice_fiscale());
            set_text(&mut m.numero_iscrizione, row.numero_iscrizione());
            set_optional(&mut m.email_servizio, row.email_servizio());
            set_optional(&mut m.cellulare, row.cellulare());
        });
        let mailbox = row.mailbox().map(|facts| {
            let m = &mut self.mailbox;
            set_text(&mut m.address, row.address());
            m.migration = facts.migration;
            m.password = facts.password;
            m.link_expires_at = facts.link_expires_at();
            let present = |on: bool| on.then(String::new);
            m.recovery.email_masked = present(facts.recovery_email);
            m.recovery.mobile_masked = present(facts.recovery_mobile);
            m.recovery.confirmed = facts.recovery_confirmed;
        });
        match row.aruba() {
            ArubaRow::Unknown => self.aruba = ArubaSide::Unknown,
            ArubaRow::Missing => self.aruba = ArubaSide::Missing,
            ArubaRow::Present(view) => match &mut self.aruba {
                ArubaSide::Present(scratch) => {
                    set_text(&mut scratch.address, view.address());
                    scratch.status = view.status();
                    scratch.owner_id = view.owner_id();
                    set_optional(&mut scratch.contact_email, view.contact_email());
                    set_optional(&mut scratch.contact_mobile, view.contact_mobile());
                }
                other => *other = ArubaSide::Present(view.to_mailbox()),
            },
        }
        (
            member.map(|()| &self.member),
            row.in_roster(),
            mailbox.map(|()| &self.mailbox),
            &self.aruba,
        )
    }
}

/// The dashboard's figures over the rows ([`crate::domain::Summary::compute`]
/// over entries).
pub fn summarize_rows(
    rows: &RosterRows,
    pec_domain: &str,
    now: DateTime<Utc>,
) -> crate::domain::Summary {
    let mut s = crate::domain::Summary::empty();
    let today = crate::i18n::italian_time(now).date();
    for row in rows.iter() {
        let mailbox = row.mailbox();
        if row.has_member() {
            let on_domain =
                crate::domain::contact::domain_of(row.address()).eq_ignore_ascii_case(pec_domain);
            s.add_member(row.in_roster(), on_domain, mailbox.is_some(), 1);
        }
        if let Some(m) = mailbox {
            s.add_mailbox(
                !row.has_member(),
                m.migration,
                m.migrated_on(),
                m.password_at(now),
                (m.recovery_email, m.recovery_mobile, m.recovery_confirmed),
                today,
                1,
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_32_bytes_and_an_aruba_copy_16() {
        assert_eq!(std::mem::size_of::<Row>(), 32);
        assert_eq!(std::mem::size_of::<ArubaCopy>(), 16);
    }

    /// Aruba's copies read back as the entries had them, set one by one or
    /// joined from a listing by address (the first row with an address takes
    /// it): known and unknown statuses, no owner, absent and long contacts.
    #[test]
    fn aruba_copies_read_back_what_aruba_said() {
        let members = crate::sample::generate_roster(30, 4, "pec.fofi.it");
        let copy = |i: usize, m: &Member| ArubaMailbox {
            address: m.pec.clone(),
            status: ArubaStatus::from_code(
                ["CERTIFICATO", "SOSPESO", "In verifica", "DISDETTO"][i % 4],
            ),
            owner_id: (!i.is_multiple_of(3)).then_some(1000 + i as i64),
            // The member's own contacts too, which a copy does not write
            // again, and one differing only in case, which it does.
            contact_email: match i % 5 {
                0 => None,
                1 => Some(format!("{}@example.it", "x".repeat(300))),
                2 => m.email_servizio.clone(),
                3 => m.email_servizio.as_deref().map(str::to_uppercase),
                _ => Some(format!("titolare{i}@example.it")),
            },
            contact_mobile: match i % 3 {
                0 => Some(format!("+39347{i:07}")),
                1 => m.cellulare.clone(),
                _ => None,
            },
        };
        let entries: Vec<RosterEntry> = members
            .iter()
            .enumerate()
            .map(|(i, m)| RosterEntry {
                member_id: Some(i as i64 + 1),
                member: Some(m.clone()),
                in_roster: true,
                mailbox: None,
                aruba: if i % 5 == 4 {
                    ArubaSide::Missing
                } else {
                    ArubaSide::Present(copy(i, m))
                },
            })
            .collect();
        let rows = RosterRows::from_entries(entries.clone());
        let as_row = |flag: u8| {
            rows.parts
                .aruba
                .iter()
                .filter(|c| c.as_row & flag != 0)
                .count()
        };
        assert!(as_row(EMAIL_AS_ROW) > 0 && as_row(MOBILE_AS_ROW) > 0);
        for (entry, row) in entries.iter().zip(rows.iter()) {
            match (&entry.aruba, row.aruba()) {
                (ArubaSide::Present(mailbox), ArubaRow::Present(view)) => {
                    assert_eq!(&view.to_mailbox(), mailbox, "row {}", row.index());
                    assert_eq!(view.owner_id(), mailbox.owner_id);
                }
                (ArubaSide::Missing, ArubaRow::Missing) => {}
                (a, b) => panic!("row {}: {a:?} read as {b:?}", row.index()),
            }
        }
        // "In verifica" is no status pecdesk knows: kept as Aruba wrote it.
        let other = rows.row(2).aruba().mailbox().unwrap();
        assert_eq!(other.status(), ArubaStatus::Other("In verifica".into()));
        assert!(!format!("{other:?}").contains("example.it"), "{other:?}");

        // The same from a listing, in another order, with an address no row has.
        let mut listing = ArubaListing::default();
        for entry in entries.iter().rev() {
            if let ArubaSide::Present(m) = &entry.aruba {
                listing.push(
                    &m.address,
                    m.status.code(),
                    m.owner_id,
                    [m.contact_email.as_deref(), m.contact_mobile.as_deref()],
                );
            }
        }
        listing.push("altro@pec.fofi.it", "CERTIFICATO", None, [None, None]);
        let mut joined = RosterRows::from_entries(entries.iter().map(|e| RosterEntry {
            aruba: ArubaSide::Unknown,
            ..e.clone()
        }));
        joined.join_aruba(&listing);
        assert_eq!(joined, rows);
    }

    /// Every field reads back as the entry had it, long and absent ones too.
    #[test]
    fn rows_read_back_what_the_entries_held() {
        let now = Utc::now();
        let mut members = crate::sample::generate_roster(50, 3, "pec.fofi.it");
        members[1].cognome = "D'Àngelo".repeat(60);
        members[2].email_servizio = None;
        members[2].cellulare = None;
        // Lengths at the length byte's limits, and one of three digits.
        for (i, len) in [(3, 125), (4, 126), (5, 127), (6, 128)] {
            members[i].nome = "n".repeat(len);
        }
        members[7].cellulare = Some("é".repeat(70_000));
        let entries: Vec<RosterEntry> = members
            .into_iter()
            .enumerate()
            .map(|(i, m)| RosterEntry {
                member_id: Some(i as i64 + 1),
                in_roster: i % 5 != 0,
                mailbox: (i % 4 != 0).then(|| MailboxState {
                    address: m.pec.clone(),
                    migration: MigrationState::ALL[i % 4],
                    migration_at: Some(now),
                    password: PasswordState::ALL[i % 4],
                    link_sent_at: None,
                    link_expires_at: Some(now + chrono::TimeDelta::hours(i as i64 - 25)),
                    recovery: RecoveryContacts {
                        email_masked: (i % 3 == 0).then(|| "*****a@b.it".into()),
                        mobile_masked: (i % 2 == 0).then(|| "***123".into()),
                        confirmed: i % 7 == 0,
                    },
                    last_login_at: None,
                    must_change_password: false,
                    updated_at: now,
                }),
                member: Some(m),
                aruba: ArubaSide::Missing,
            })
            .collect();
        let rows = RosterRows::from_entries(entries.clone());
        assert_eq!(rows.len(), entries.len());
        for (entry, row) in entries.iter().zip(rows.iter()) {
            let m = entry.member.as_ref().unwrap();
            assert_eq!(row.member_id(), entry.member_id);
            assert_eq!(row.in_roster(), entry.in_roster);
            assert_eq!(row.address(), entry.address());
            assert_eq!(row.cognome(), m.cognome);
            assert_eq!(row.nome(), m.nome);
            assert_eq!(row.codice_fiscale(), m.codice_fiscale);
            assert_eq!(row.numero_iscrizione(), m.numero_iscrizione);
            assert_eq!(row.email_servizio(), m.email_servizio.as_deref());
            assert_eq!(row.cellulare(), m.cellulare.as_deref());
            assert_eq!(row.full_name(), Some(m.full_name()));
            assert_eq!(row.aruba(), ArubaRow::Missing);
            let mailbox = entry.mailbox.as_ref();
            assert_eq!(row.mailbox().is_some(), mailbox.is_some());
            if let (Some(a), Some(b)) = (mailbox, row.mailbox()) {
                assert_eq!(b, MailboxRow::of(a));
                assert_eq!(b.password_at(now), a.password_at(now));
                assert_eq!(b.recovery_is_empty(), a.recovery.is_empty());
            }
        }
    }
}
