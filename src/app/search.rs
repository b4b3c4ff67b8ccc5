//! Fuzzy search over the roster with nucleo: every word of the query must match
//! (cognome, nome, codice fiscale, PEC, numero iscrizione, service e-mail or
//! mobile), results ranked by score. Typing more narrows the previous result
//! instead of starting over, so a keystroke costs a fraction of a full pass
//! even at 100k members.
//!
//! What a caller reads out is matched exactly, not fuzzily: a mobile number in
//! any spelling (`347 123 4567`, `+39 347…`, `0039 347…`) is joined into its
//! national digits, and words with digits, `@`, `.` or `_` (a codice fiscale's
//! part, a numero iscrizione, an e-mail, a PEC's local part) are substrings.

use nucleo_matcher::pattern::{Atom, AtomKind, CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str, Utf32String};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use super::index::Ordering;
use crate::store::{RosterRow, RosterRows};

mod ascii;
mod occurrences;

#[derive(Clone)]
pub struct Search {
    /// Every entry's texts, shared with the scans under way on other threads.
    texts: Arc<Texts>,
    /// The last [`REMEMBERED`] queries, each with every entry it matched
    /// (before any state filter), least recently used first, within
    /// [`REMEMBERED_BYTES`]: typing on narrows one of them, deleting goes
    /// back to an earlier one without matching again.
    history: Vec<(String, Matches)>,
    /// When a scan's matches are ranked in two stages ([`Staging`]).
    pub(super) staging: Staging,
}

/// Large results are ranked in two stages where they are found: the best
/// `first` in the table's order, enough for the first pages, are sent to
/// the table at once (the rest following them unranked), then the whole
/// list. At a million members ranking every match of a two-letter word
/// took longer than finding them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Staging {
    /// From this many matches.
    pub(super) from: usize,
    /// How many are ranked first.
    pub(super) first: usize,
}

impl Default for Staging {
    fn default() -> Self {
        Staging {
            from: STAGED_FROM,
            first: FIRST_RANKED,
        }
    }
}

/// Matches from which a scan ranks a first page before the rest: below it
/// the whole ranking takes little more than the first stage and the extra
/// frame it makes. The whole ranking of a fifth of a million members (`ros`,
/// `con`, `12`) walks the whole table's order and took 8 to 10 ms more
/// than the first stage, whose list the table now takes without a pass of
/// its own.
const STAGED_FROM: usize = 100_000;

/// The matches a scan ranks first: many pages of the table, whose page at
/// a million members is a few dozen rows, with room for a state filter
/// that hides some.
const FIRST_RANKED: usize = 2_048;

/// A query's matches: every entry it matched with its score, in entry
/// order, and, when it was matched for a table order, the same entries best
/// first in that order ([`best_first_of`]), ranked where it was matched (off
/// the UI thread at a million members) so the frame that shows them only
/// filters. Cheap to clone: remembered queries and the table share them.
#[derive(Debug, Clone, Default)]
pub struct Matches {
    scored: Arc<Vec<(u32, u32)>>,
    ranked: Option<Ranked>,
    /// When only their first are ranked ([`Staging`]): the table's list.
    first: Option<FirstRanked>,
}

/// A scan's first stage ([`Staging`]): every match listed as the table
/// shows it while the rest are ranked, the best first in their final
/// place, then the others in entry order. Made where the matches are
/// found, so that a table that shows every entry takes it as it is: at a
/// million members, listing them took the UI thread 5 to 10 ms.
#[derive(Clone)]
pub(super) struct FirstRanked {
    /// Held, so a newer order is never at its address: compared by address.
    ordering: Arc<Ordering>,
    listed: Arc<Vec<usize>>,
    /// How many of `listed`'s first are in their final place.
    settled: usize,
}

impl std::fmt::Debug for FirstRanked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstRanked")
            .field("entries", &self.listed.len())
            .field("settled", &self.settled)
            .finish()
    }
}

impl FirstRanked {
    /// The entries `shown` lets through, those ranked first as
    /// [`Matches::best_first`] will list them, then the others; and how
    /// many of them are in their final place. None when ranked in another
    /// order than `ordering`. With `everything_shown` (`shown` lets every
    /// entry through), the list as made, not copied when no one else
    /// holds it.
    pub(super) fn listed(
        self,
        ordering: &Arc<Ordering>,
        everything_shown: bool,
        shown: impl Fn(usize) -> bool,
    ) -> Option<(Vec<usize>, usize)> {
        if !Arc::ptr_eq(&self.ordering, ordering) {
            return None;
        }
        if everything_shown {
            let listed = Arc::try_unwrap(self.listed).unwrap_or_else(|shared| (*shared).clone());
            return Some((listed, self.settled));
        }
        let (first, rest) = self.listed.split_at(self.settled);
        let mut listed: Vec<usize> = Vec::with_capacity(self.listed.len());
        listed.extend(first.iter().copied().filter(|&i| shown(i)));
        let settled = listed.len();
        listed.extend(rest.iter().copied().filter(|&i| shown(i)));
        Some((listed, settled))
    }
}

/// Matches best first in one table order.
#[derive(Clone)]
struct Ranked {
    /// Held, so a newer order is never at its address: compared by address.
    ordering: Arc<Ordering>,
    list: Arc<Vec<u32>>,
}

impl std::fmt::Debug for Ranked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ranked")
            .field("entries", &self.list.len())
            .finish()
    }
}

impl PartialEq for Matches {
    fn eq(&self, other: &Self) -> bool {
        self.scored == other.scored
    }
}

impl Matches {
    /// How many entries matched.
    pub fn len(&self) -> usize {
        self.scored.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scored.is_empty()
    }

    /// Every entry matched, with its score, in entry order.
    pub fn scored(&self) -> &[(u32, u32)] {
        &self.scored
    }

    /// The entries `shown` lets through, best first in `ordering` (as
    /// [`best_first_of`] lists them): a filtering pass when they were ranked
    /// in that order already.
    pub(super) fn best_first(
        &self,
        ordering: &Arc<Ordering>,
        shown: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        match &self.ranked {
            Some(ranked) if Arc::ptr_eq(&ranked.ordering, ordering) => ranked
                .list
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| shown(i))
                .collect(),
            _ => best_first_of(&self.scored, &ordering.order, &ordering.rank, shown),
        }
    }

    /// Whether they are ranked in full in `ordering`: [`Self::best_first`]
    /// only filters them.
    pub(super) fn ranked_in(&self, ordering: &Arc<Ordering>) -> bool {
        self.ranked
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(&r.ordering, ordering))
    }

    /// When only their first are ranked (the first stage of [`Staging`]):
    /// the table's list of them, taken out (what is remembered of them
    /// need not hold it).
    pub(super) fn take_first_ranked(&mut self) -> Option<FirstRanked> {
        self.first.take()
    }

    /// [`FirstRanked::listed`] of their first stage, if they are one.
    #[cfg(test)]
    pub(super) fn first_ranked(
        &self,
        ordering: &Arc<Ordering>,
        shown: impl Fn(usize) -> bool,
    ) -> Option<(Vec<usize>, usize)> {
        self.first.clone()?.listed(ordering, false, shown)
    }

    /// The bytes they hold (what the history of queries is bounded by).
    fn bytes(&self) -> usize {
        self.scored.len() * std::mem::size_of::<(u32, u32)>()
            + self
                .ranked
                .as_ref()
                .map_or(0, |r| r.list.len() * std::mem::size_of::<u32>())
            + self
                .first
                .as_ref()
                .map_or(0, |f| f.listed.len() * std::mem::size_of::<usize>())
    }
}

/// What a query is matched against, for every entry.
///
/// Kept column by column, each read only by the words that look at it: at
/// a million members a keystroke's scan is bound by the memory it reads
/// (the development machine streams about 3 GB/s), and a fuzzy word, the
/// most common, reads only the names, their spans and their masks.
struct Texts {
    /// Every entry's names (see [`haystacks`]) back to back, for entries
    /// whose texts are ASCII (nearly all): one allocation for the whole
    /// roster instead of one per entry.
    names: Vec<u8>,
    /// Every entry's contacts, back to back as the names.
    contacts: Vec<u8>,
    /// Per entry: where its names start in `names`, their length and the
    /// contacts' length, each with [`FOLDED`] set when the text is the
    /// [`ascii::fold`] of one that is not ASCII. A names length of
    /// [`ELSEWHERE`] means the texts are in `unicode`, at that start.
    spans: Vec<(u32, u16, u16)>,
    /// Per entry: where its contacts start in `contacts`.
    contacts_at: Vec<u32>,
    /// The texts that are not ASCII and have no fold, as nucleo wants them.
    unicode: Vec<(Utf32String, Utf32String)>,
    /// The entries whose texts are folded, by entry, with their texts as
    /// nucleo wants them (for a word that is not ASCII, or an operator).
    originals: Vec<(u32, Utf32String, Utf32String)>,
    /// Per entry: which characters its names hold ([`char_bit`]), so a
    /// word is tried only on entries that have every character of it; most
    /// of a million members are passed over that way.
    names_masks: Vec<u64>,
    /// The same for its contacts.
    contacts_masks: Vec<u64>,
    /// Per entry: which characters of its names follow what
    /// ([`ascii::Starts`]), so a one-character word (the first keystroke
    /// of a search, over the whole roster) is scored without reading them.
    starts: Vec<ascii::Starts>,
    /// Whether [`Needs`] pass entries over; off only for tests that check
    /// they drop no match.
    prefilter: bool,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search")
            .field("entries", &self.texts.spans.len())
            .finish()
    }
}

/// A query's matching still to be done, over the entries of `pool`: on the
/// UI thread for a few, on another for many ([`Search::lookup`]).
#[derive(Clone)]
pub struct Scan {
    /// Normalised ([`normalize_query`]).
    query: String,
    pool: Pool,
    texts: Arc<Texts>,
    /// The table order to rank the matches in, where they are found.
    ordering: Option<Arc<Ordering>>,
    staging: Staging,
}

/// The entries a scan tries: all, or those an earlier query matched (shared
/// with it, not copied: at a million members a first letter matches most);
/// or none, the query's own matches being known and only to be ranked.
#[derive(Debug, Clone)]
enum Pool {
    Every(u32),
    Matched(Arc<Vec<(u32, u32)>>),
    Known(Arc<Vec<(u32, u32)>>),
}

impl Pool {
    fn len(&self) -> usize {
        match self {
            Pool::Every(n) => *n as usize,
            Pool::Matched(matched) | Pool::Known(matched) => matched.len(),
        }
    }
}

impl PartialEq for Pool {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Pool::Every(a), Pool::Every(b)) => a == b,
            (Pool::Matched(a), Pool::Matched(b)) | (Pool::Known(a), Pool::Known(b)) => {
                Arc::ptr_eq(a, b) || a == b
            }
            _ => false,
        }
    }
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("query", &self.query)
            .field("candidates", &self.pool.len())
            .finish()
    }
}

/// Scans are the same when they match the same query over the same entries.
impl PartialEq for Scan {
    fn eq(&self, other: &Self) -> bool {
        self.query == other.query
            && Arc::ptr_eq(&self.texts, &other.texts)
            && self.pool == other.pool
            && match (&self.ordering, &other.ordering) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

impl Eq for Scan {}

impl Scan {
    /// The normalised query.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// How many entries it tries.
    pub fn candidates(&self) -> usize {
        self.pool.len()
    }

    /// Whether it is for another thread ([`BACKGROUND_FROM`], or `from` in tests).
    pub(super) fn for_another_thread(&self, from: usize) -> bool {
        self.candidates() >= from && self.texts.spans.len() >= from.saturating_mul(5) / 2
    }

    /// Every entry of the pool the query matches, with its score, in entry
    /// order, and ranked in the scan's table order if it has one; None when
    /// `cancelled` said so on the way.
    pub fn run(&self, cancelled: &(dyn Fn() -> bool + Sync)) -> Option<Matches> {
        self.run_staged(cancelled, None)
    }

    /// [`Self::run`], handing `first` the matches with only their first
    /// ranked ([`Staging`]) before ranking the rest, when they are many.
    pub fn run_staged(
        &self,
        cancelled: &(dyn Fn() -> bool + Sync),
        first: Option<&mut dyn FnMut(Matches)>,
    ) -> Option<Matches> {
        let found = match &self.pool {
            Pool::Known(scored) => Found::Known(Arc::clone(scored)),
            pool => {
                let pattern = pattern(&self.query);
                let contacts: Vec<bool> = self
                    .query
                    .split_whitespace()
                    .map(searches_contacts)
                    .collect();
                score(&self.texts, &(pattern, contacts), pool, cancelled)?
            }
        };
        let per_score = match &found {
            Found::Scored { per_score, .. } => per_score.clone(),
            Found::Known(_) => None,
        };
        let Some(ordering) = &self.ordering else {
            return Some(Matches {
                scored: found.joined(),
                ranked: None,
                first: None,
            });
        };
        if cancelled() {
            return None;
        }
        let staged = self.staging.first.max(1);
        let total = found.len();
        let scored = match first {
            Some(first) if total >= self.staging.from && total > staged => {
                // The best ranked first, while the parts found on each
                // thread are joined on another: the first pages do not
                // wait for the copy.
                let parts = found.parts();
                let (scored, listed) = std::thread::scope(|scope| {
                    let joining = scope.spawn(|| found.joined());
                    let listed = rank_first(
                        &parts,
                        &ordering.order,
                        &ordering.rank,
                        staged,
                        per_score.as_ref(),
                    );
                    (joining.join().expect("joining thread"), listed)
                });
                first(Matches {
                    scored: Arc::clone(&scored),
                    ranked: None,
                    first: Some(FirstRanked {
                        listed: Arc::new(listed),
                        ordering: Arc::clone(ordering),
                        settled: staged,
                    }),
                });
                if cancelled() {
                    return None;
                }
                scored
            }
            _ => found.joined(),
        };
        let list = rank(&scored, &ordering.order, &ordering.rank, per_score.as_ref());
        Some(Matches {
            scored,
            ranked: Some(Ranked {
                list: Arc::new(list),
                ordering: Arc::clone(ordering),
            }),
            first: None,
        })
    }
}

/// What [`Search::lookup`] finds for a query.
pub enum Lookup {
    /// Remembered: the matches.
    Known(Matches),
    /// To be matched.
    Scan(Scan),
}

/// The texts a query is matched against, in ASCII lower case: nucleo-matcher
/// 0.3.1 misses a case-insensitive substring whose first letter is not among
/// its first two characters (`80A41` in a codice fiscale) when the haystack
/// has it in upper case.
///
/// Two per entry: the names (cognome, nome, codice fiscale, PEC, numero
/// iscrizione), which every word is matched against, and what only exact
/// words look at (the service e-mail and the mobile in E.164, which holds the
/// national digits a normalised phone query looks for). Fuzzy words stay on
/// the shorter text, so adding the contacts costs name searches nothing.
fn haystacks(entry: RosterRow<'_>) -> (String, String) {
    let (mut names, mut contacts) = if entry.has_member() {
        let names = format!(
            "{} {} {} {} {}",
            entry.cognome(),
            entry.nome(),
            entry.codice_fiscale(),
            entry.address(),
            entry.numero_iscrizione()
        );
        let contacts: Vec<&str> = [entry.email_servizio(), entry.cellulare()]
            .into_iter()
            .flatten()
            .collect();
        (names, contacts.join(" "))
    } else {
        (entry.address().to_string(), String::new())
    };
    names.make_ascii_lowercase();
    contacts.make_ascii_lowercase();
    (names, contacts)
}

/// Queries using nucleo's operators (negation, anchors, exact) may match more
/// when extended, so they are never narrowed incrementally. Both queries are
/// normalised ([`normalize_query`]): "347 12" and "347 123" are different
/// words once the second is taken for a phone number, so it starts over.
/// A word that becomes exact (and so also looks at the contacts) as it is
/// typed may match entries the fuzzy word did not: no narrowing then.
fn narrows(previous: &str, query: &str) -> bool {
    !previous.is_empty()
        && query.starts_with(previous)
        && !query.contains(['!', '^', '$', '\'', '\\'])
        && previous
            .split_whitespace()
            .zip(query.split_whitespace())
            .all(|(before, now)| searches_contacts(before) || !searches_contacts(now))
}

/// A word that can be part of a phone number as people say or write it.
fn phone_part(word: &str) -> bool {
    let body = word.strip_prefix('+').unwrap_or(word);
    !body.is_empty()
        && body.chars().any(|c| c.is_ascii_digit())
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '/' | '(' | ')'))
}

/// Fewest digits for a run of words to be taken for a phone number.
const PHONE_DIGITS: usize = 6;

/// The query with every run of phone-number words joined into national digits
/// (`+39 347 123 4567`, `0039 347.123.4567` → `3471234567`); other words as typed.
pub fn normalize_query(query: &str) -> String {
    let words: Vec<&str> = query.split_whitespace().collect();
    let mut out: Vec<String> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let run = words[i..].iter().take_while(|w| phone_part(w)).count();
        if run == 0 {
            out.push(words[i].to_string());
            i += 1;
            continue;
        }
        let joined: String = words[i..i + run].concat();
        let plus = joined.starts_with('+');
        let digits: String = joined.chars().filter(char::is_ascii_digit).collect();
        let national = if plus {
            digits.strip_prefix("39")
        } else {
            digits.strip_prefix("0039")
        };
        // With Italy's prefix typed (`+39 3…`, `0039 34…`) the rest is the
        // number already; without it, six digits make a number.
        match national {
            Some(national) if !national.is_empty() => out.push(national.to_string()),
            _ if digits.len() >= PHONE_DIGITS => out.push(digits),
            _ => out.extend(words[i..i + run].iter().map(|w| w.to_string())),
        }
        i += run;
    }
    out.join(" ")
}

/// Whether a word is matched as an exact substring: what is read out letter by
/// letter or digit by digit is never meant fuzzily.
fn exact_word(word: &str) -> bool {
    word.chars().count() == 1
        || word
            .chars()
            .any(|c| c.is_ascii_digit() || matches!(c, '@' | '.' | '_'))
}

/// Whether a word is also matched against the contacts (e-mail, mobile):
/// what has digits, `@`, `.` or `_` in it.
fn searches_contacts(word: &str) -> bool {
    word.chars()
        .any(|c| c.is_ascii_digit() || matches!(c, '@' | '.' | '_'))
}

/// The pattern of a query (normalised first).
pub fn pattern(query: &str) -> Pattern {
    let mut pattern = Pattern::default();
    for word in normalize_query(query).split_whitespace() {
        let operator = word.starts_with(['!', '^', '\'', '\\']) || word.ends_with('$');
        // A one-letter word matches where a substring search does, and the
        // substring search is far cheaper: it is the first keystroke of
        // every search, over the whole roster.
        let atom = if exact_word(word) && !operator {
            Atom::new(
                word,
                CaseMatching::Ignore,
                Normalization::Smart,
                AtomKind::Substring,
                false,
            )
        } else {
            Atom::parse(word, CaseMatching::Ignore, Normalization::Smart)
        };
        pattern.atoms.push(atom);
    }
    pattern
}

/// A character's bit in an entry's mask: letters (either case), digits and
/// what addresses and numbers are made of. Others have none.
fn char_bit(c: char) -> Option<u64> {
    let c = c.to_ascii_lowercase();
    let bit = match c {
        'a'..='z' => c as u32 - 'a' as u32,
        '0'..='9' => 26 + (c as u32 - '0' as u32),
        '@' => 36,
        '.' => 37,
        '_' => 38,
        '-' => 39,
        '+' => 40,
        '\'' => 41,
        _ => return None,
    };
    Some(1 << bit)
}

/// Which of an entry's texts a word is matched against (as in `score_one`).
#[derive(Clone, Copy)]
enum Place {
    Names,
    Contacts,
    Either,
}

/// What a word needs of an entry for it to be worth matching: every one of
/// its characters where it looks. (An exact word's very text is looked for
/// by its scorer, [`ascii::Substring`], with memchr's memmem, as fast as a
/// check before it would.)
struct Needs {
    place: Place,
    mask: u64,
}

impl Needs {
    /// None when nothing can be told in advance (a negated word, a
    /// character with no bit).
    fn of(atom: &Atom, in_contacts: bool) -> Option<Self> {
        let mut mask = 0;
        for c in atom.needle_text().chars() {
            mask |= char_bit(c)?;
        }
        if atom.negative {
            return None;
        }
        let place = if atom.kind == AtomKind::Fuzzy || !in_contacts {
            Place::Names
        } else if atom.needle_text().chars().next() == Some('+') {
            Place::Contacts
        } else {
            Place::Either
        };
        Some(Needs { place, mask })
    }

    /// Whether entry `i` of `texts` may match in its names, and in its
    /// contacts.
    fn places(&self, texts: &Texts, i: u32) -> (bool, bool) {
        let i = i as usize;
        let names = texts.names_masks[i];
        let contacts = || texts.contacts_masks[i];
        match self.place {
            Place::Names => (names & self.mask == self.mask, false),
            Place::Contacts => (false, contacts() & self.mask == self.mask),
            Place::Either => (
                names & self.mask == self.mask,
                contacts() & self.mask == self.mask,
            ),
        }
    }
}

/// The names length that sends a lookup to [`Texts::unicode`].
const ELSEWHERE: u16 = u16::MAX;

/// The bit of a text's length in [`Texts::spans`] that says it is folded.
const FOLDED: u16 = 1 << 15;

/// A text that is not ASCII as ASCII ([`ascii::fold`]), when it folds.
fn folds(text: &Utf32String) -> Option<Vec<u8>> {
    match text.slice(..) {
        Utf32Str::Ascii(bytes) => Some(bytes.to_vec()),
        Utf32Str::Unicode(chars) => chars.iter().map(|&c| ascii::fold(c)).collect(),
    }
}

/// The characters of an ASCII text that have a bit.
fn mask_of(text: &[u8]) -> u64 {
    text.iter()
        .filter_map(|&c| char_bit(c as char))
        .fold(0, |mask, bit| mask | bit)
}

impl Search {
    pub fn new(entries: &RosterRows) -> Self {
        let mut names_column = Vec::with_capacity(entries.len() * 64);
        let mut contacts_column = Vec::with_capacity(entries.len() * 32);
        let mut spans = Vec::with_capacity(entries.len());
        let mut contacts_at = Vec::with_capacity(entries.len());
        let mut unicode = Vec::new();
        let mut names_masks = Vec::with_capacity(entries.len());
        let mut contacts_masks = Vec::with_capacity(entries.len());
        let mut starts = Vec::with_capacity(entries.len());
        let mut originals = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let (names, contacts) = haystacks(entry);
            let start = u32::try_from(names_column.len()).ok();
            let contacts_start = u32::try_from(contacts_column.len()).ok();
            let ascii = names.is_ascii() && contacts.is_ascii();
            let folded = if ascii {
                None
            } else {
                let names = Utf32String::from(names.as_str());
                let contacts = Utf32String::from(contacts.as_str());
                folds(&names)
                    .zip(folds(&contacts))
                    .map(|(n, c)| (n, c, names, contacts))
            };
            let (names_text, contacts_text) = match &folded {
                Some((n, c, ..)) => (n.as_slice(), c.as_slice()),
                None => (names.as_bytes(), contacts.as_bytes()),
            };
            let fits = |text: &[u8]| u16::try_from(text.len()).ok().filter(|&n| n < FOLDED);
            match (start, contacts_start, fits(names_text), fits(contacts_text)) {
                (Some(start), Some(contacts_start), Some(n), Some(c))
                    if ascii || folded.is_some() =>
                {
                    names_column.extend_from_slice(names_text);
                    contacts_column.extend_from_slice(contacts_text);
                    let flag = |original: &str| if original.is_ascii() { 0 } else { FOLDED };
                    spans.push((start, n | flag(&names), c | flag(&contacts)));
                    contacts_at.push(contacts_start);
                    names_masks.push(mask_of(names_text));
                    contacts_masks.push(mask_of(contacts_text));
                    // nucleo scores a one-character word on a text that is
                    // not ASCII otherwise than from its starts.
                    starts.push(if names.is_ascii() {
                        ascii::Starts::of(names_text)
                    } else {
                        ascii::Starts::UNKNOWN
                    });
                    if let Some((.., names, contacts)) = folded {
                        originals.push((i as u32, names, contacts));
                    }
                }
                _ => {
                    // Normalisation may match what is not there as typed.
                    names_masks.push(u64::MAX);
                    contacts_masks.push(u64::MAX);
                    starts.push(ascii::Starts::UNKNOWN);
                    spans.push((unicode.len() as u32, ELSEWHERE, 0));
                    contacts_at.push(0);
                    unicode.push((Utf32String::from(names), Utf32String::from(contacts)));
                }
            }
        }
        names_column.shrink_to_fit();
        contacts_column.shrink_to_fit();
        Self {
            texts: Arc::new(Texts {
                names: names_column,
                contacts: contacts_column,
                spans,
                contacts_at,
                unicode,
                originals,
                names_masks,
                contacts_masks,
                starts,
                prefilter: true,
            }),
            history: Vec::new(),
            staging: Staging::default(),
        }
    }

    /// Entries matching `query`, with their scores, in entry order.
    pub fn matches(&mut self, query: &str) -> Vec<(u32, u32)> {
        self.matched(query, None).scored.to_vec()
    }

    /// The matches of `query`, remembered or found now on this thread,
    /// ranked in `ordering` when found now.
    pub(super) fn matched(&mut self, query: &str, ordering: Option<&Arc<Ordering>>) -> Matches {
        match self.lookup_in(query, ordering) {
            Lookup::Known(matched) => matched,
            Lookup::Scan(scan) => {
                let matched = scan.run(&|| false).expect("never cancelled");
                self.remember(scan.query, matched.clone());
                matched
            }
        }
    }

    /// The remembered matches of `query`, or the scan that finds them: over
    /// the smallest earlier result it narrows, else over every entry.
    pub fn lookup(&mut self, query: &str) -> Lookup {
        self.lookup_in(query, None)
    }

    /// [`Self::lookup`], with the table order a scan ranks its matches in.
    pub(super) fn lookup_in(&mut self, query: &str, ordering: Option<&Arc<Ordering>>) -> Lookup {
        let query = normalize_query(query);
        // Back to an earlier query (Backspace): its result is still here.
        if let Some(position) = self.history.iter().rposition(|(q, _)| *q == query) {
            let earlier = self.history.remove(position);
            let matched = earlier.1.clone();
            self.history.push(earlier);
            // Not yet ranked in the table's order (its ranking was stopped
            // half way, or the sort changed): ranked by a scan, off the UI
            // thread when they are many, as when found.
            return match ordering {
                Some(ordering) if !matched.ranked_in(ordering) => Lookup::Scan(Scan {
                    query,
                    pool: Pool::Known(Arc::clone(&matched.scored)),
                    texts: Arc::clone(&self.texts),
                    ordering: Some(Arc::clone(ordering)),
                    staging: self.staging,
                }),
                _ => Lookup::Known(matched),
            };
        }
        let narrowed = self
            .history
            .iter()
            .filter(|(previous, _)| narrows(previous, &query))
            .min_by_key(|(_, matched)| matched.len());
        let every = self.texts.spans.len();
        let pool = match narrowed {
            // An earlier query that matched every entry (`c`: every PEC
            // has one) narrows nothing: the entries are tried in turn
            // without reading its 8 MB of matches at a million members.
            Some((_, matched)) if matched.len() < every => {
                Pool::Matched(Arc::clone(&matched.scored))
            }
            _ => Pool::Every(every as u32),
        };
        Lookup::Scan(Scan {
            query,
            pool,
            texts: Arc::clone(&self.texts),
            ordering: ordering.cloned(),
            staging: self.staging,
        })
    }

    /// Keeps the matches of a (normalised) query found by a [`Scan`].
    pub fn remember(&mut self, query: String, matched: Matches) {
        self.history.retain(|(q, _)| *q != query);
        self.history.push((query, matched));
        // At most REMEMBERED queries in REMEMBERED_BYTES, the least recently
        // used let go first; the latest is kept whatever its size (the next
        // keystroke narrows it). A first letter or digit matches most of a
        // million members: 8 MB of matches, 12 MB with their ranking.
        while self.history.len() > REMEMBERED
            || (self.history.len() > 1 && self.remembered_bytes() > REMEMBERED_BYTES)
        {
            self.history.remove(0);
        }
    }

    /// Lets go of the remembered queries: the search was closed, and a new
    /// one starts over (at a million members they hold up to
    /// [`REMEMBERED_BYTES`], which a change of sort would add its own to).
    pub(super) fn forget(&mut self) {
        self.history = Vec::new();
    }

    /// The bytes the remembered matches hold.
    fn remembered_bytes(&self) -> usize {
        self.history.iter().map(|(_, m)| m.bytes()).sum()
    }
}

/// One of an entry's texts, as it is scored.
#[derive(Clone, Copy)]
enum Text<'a> {
    Ascii(&'a [u8]),
    /// A text that is not ASCII, folded ([`ascii::fold`]), and where it is
    /// as it is.
    Folded(&'a [u8], Original<'a>),
    Unicode(Utf32Str<'a>),
}

/// Where a folded text is kept as it is: found only when nucleo scores it
/// (a word that is not ASCII, an operator), not for every word.
#[derive(Clone, Copy)]
struct Original<'a> {
    texts: &'a Texts,
    entry: u32,
    contacts: bool,
}

impl<'a> Text<'a> {
    /// The text as nucleo wants it.
    fn utf32(self) -> Utf32Str<'a> {
        match self {
            Text::Ascii(text) => Utf32Str::Ascii(text),
            Text::Folded(
                _,
                Original {
                    texts,
                    entry,
                    contacts,
                },
            ) => {
                let at = texts
                    .originals
                    .binary_search_by_key(&entry, |&(i, ..)| i)
                    .expect("a folded entry keeps its texts");
                let (_, names_text, contacts_text) = &texts.originals[at];
                if contacts { contacts_text } else { names_text }.slice(..)
            }
            Text::Unicode(text) => text,
        }
    }
}

impl Texts {
    /// The names and contacts of entry `i`.
    fn haystacks(&self, i: u32) -> (Text<'_>, Text<'_>) {
        let (start, names, contacts) = self.spans[i as usize];
        if names == ELSEWHERE {
            let (names, contacts) = &self.unicode[start as usize];
            return (
                Text::Unicode(names.slice(..)),
                Text::Unicode(contacts.slice(..)),
            );
        }
        let start = start as usize;
        let contacts_start = self.contacts_at[i as usize] as usize;
        let text = |contacts: bool, start: usize, length: u16| {
            let column = if contacts {
                &self.contacts
            } else {
                &self.names
            };
            let text = &column[start..start + (length & !FOLDED) as usize];
            match length & FOLDED {
                0 => Text::Ascii(text),
                _ => Text::Folded(
                    text,
                    Original {
                        texts: self,
                        entry: i,
                        contacts,
                    },
                ),
            }
        };
        (
            text(false, start, names),
            text(true, contacts_start, contacts),
        )
    }
}

/// From this many candidates, in a roster of at least 2.5 times as many
/// entries, a keystroke's matching runs on another thread
/// ([`SearchRequest`]) and the frame does not wait for it: at a million
/// members a first letter tries them all, 0.1 to 0.2 s of work. In smaller
/// rosters (the whole of 100k takes about 10 ms) the results are in the
/// keystroke's own frame: sent off the thread, the first letter at 100k came
/// a few milliseconds later than at once on the loaded 2-core machine.
pub const BACKGROUND_FROM: usize = 60_000;

/// The number of the latest search keystroke, shared with the scans under
/// way: a scan for an older one stops.
#[derive(Debug, Clone, Default)]
pub struct Keystrokes(Arc<std::sync::atomic::AtomicU64>);

impl Keystrokes {
    /// Counts a keystroke (stopping every older scan); its number.
    pub(super) fn next(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }

    fn latest(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A keystroke's matching, for another thread.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Of the load whose index it searches.
    pub(super) generation: u64,
    pub(super) keystroke: u64,
    pub(super) scan: Scan,
    pub(super) keystrokes: Keystrokes,
}

impl PartialEq for SearchRequest {
    fn eq(&self, other: &Self) -> bool {
        (self.generation, self.keystroke, &self.scan)
            == (other.generation, other.keystroke, &other.scan)
    }
}

impl Eq for SearchRequest {}

impl SearchRequest {
    /// Matches, unless a newer keystroke came meanwhile.
    pub fn run(&self) -> SearchResult {
        let matches = self
            .scan
            .run(&|| self.keystrokes.latest() != self.keystroke);
        self.result(matches)
    }

    /// [`Self::run`], in two stages when the matches are many
    /// ([`Staging`]): `send` has them first with their best ranked, then
    /// (unless a newer keystroke came) ranked in full; or once, as `run`
    /// returns them.
    pub fn run_staged(&self, send: &mut dyn FnMut(SearchResult)) {
        let cancelled = || self.keystrokes.latest() != self.keystroke;
        let mut first = |matches: Matches| send(self.result(Some(matches)));
        let matches = self.scan.run_staged(&cancelled, Some(&mut first));
        send(self.result(matches));
    }

    fn result(&self, matches: Option<Matches>) -> SearchResult {
        SearchResult {
            generation: self.generation,
            keystroke: self.keystroke,
            query: self.scan.query.clone(),
            matches,
        }
    }
}

/// A [`SearchRequest`]'s outcome: None when a newer keystroke stopped it.
#[derive(Debug, Clone)]
pub struct SearchResult {
    pub(super) generation: u64,
    pub(super) keystroke: u64,
    pub(super) query: String,
    pub(super) matches: Option<Matches>,
}

/// Earlier queries kept with their results, most recent last: typing on
/// narrows one of them, deleting finds one again (phone numbers and e-mails
/// are typed and corrected back and forth).
const REMEMBERED: usize = 24;

/// The bytes the remembered results may hold in all: at 100k members every
/// one of [`REMEMBERED`]; at a million, the three or four latest broad ones
/// with their ranking (as many as a word typed and deleted back through
/// goes back to; the console's memory at a million members stays well
/// within its 450 MB).
const REMEMBERED_BYTES: usize = 40 << 20;

/// Below this many candidates one thread is quicker than two.
const PARALLEL_FROM: usize = 20_000;

/// The threads a large scan or ranking is split over: the machine's.
fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8)
    })
}

/// Scores `pool` against the pattern, over every core for large pools (the
/// first keystroke of a search runs over the whole roster): each thread
/// takes the next [`CHUNK`] of entries until none is left, so a thread the
/// machine holds up leaves its share to the others; the chunks' matches are
/// joined in entry order. None when `cancelled` said so on the way.
fn score(
    texts: &Texts,
    pattern: &(Pattern, Vec<bool>),
    pool: &Pool,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Option<Found> {
    let threads = if pool.len() < PARALLEL_FROM {
        1
    } else {
        threads()
    };
    score_on(texts, pattern, pool, cancelled, threads)
}

/// [`score`] on this many threads.
fn score_on(
    texts: &Texts,
    pattern: &(Pattern, Vec<bool>),
    pool: &Pool,
    cancelled: &(dyn Fn() -> bool + Sync),
    threads: usize,
) -> Option<Found> {
    // Per word, how it is scored and what it needs, once for every entry.
    let words: Vec<Word<'_>> = pattern
        .0
        .atoms
        .iter()
        .zip(&pattern.1)
        .map(|(atom, &in_contacts)| Word::of(atom, in_contacts, texts.prefilter))
        .collect();
    // Per word looked for in whole chunks: how many chunks in a row most
    // entries held it, shared by the threads (see `run`).
    let dense: Vec<AtomicUsize> = words.iter().map(|_| AtomicUsize::new(0)).collect();
    // Entry `i`, at `slot` in its chunk, whose words are in the texts
    // `found` says (per word, when looked for in the chunk).
    let score_entry = |i: u32,
                       slot: usize,
                       found: &[Option<occurrences::Occurrences>],
                       matcher: &mut Matcher|
     -> Option<(u32, u32)> {
        if let [word] = &words[..]
            && let Some(score) = word.alone(texts, i)
        {
            return score.map(|score| (i, score));
        }
        // Bit k: word k cannot be in the names (or the contacts).
        let mut not_in_names = 0u64;
        let mut not_in_contacts = 0u64;
        for (k, (word, found)) in words.iter().zip(found).enumerate() {
            let (mut in_names, mut in_contacts) = match &word.needs {
                Some(needs) => needs.places(texts, i),
                None => (true, true),
            };
            if let Some(found) = found {
                in_names &= found.in_names(slot);
                in_contacts &= found.in_contacts(slot);
            }
            if !in_names && !in_contacts {
                return None;
            }
            let bit = 1u64.checked_shl(k as u32).unwrap_or(0);
            if !in_names {
                not_in_names |= bit;
            }
            if !in_contacts {
                not_in_contacts |= bit;
            }
        }
        let (names, contacts) = texts.haystacks(i);
        let starts = (texts.starts[i as usize], texts.names_masks[i as usize]);
        score_one(
            &words,
            names,
            starts,
            contacts,
            (not_in_names, not_in_contacts),
            matcher,
        )
        .map(|score| (i, score))
    };
    let run = |range: std::ops::Range<usize>, matcher: &mut Matcher, out: &mut Vec<(u32, u32)>| {
        let entries: Vec<u32> = match pool {
            Pool::Every(_) => (range.start as u32..range.end as u32).collect(),
            Pool::Matched(matched) | Pool::Known(matched) => {
                matched[range].iter().map(|&(i, _)| i).collect()
            }
        };
        let found: Vec<Option<occurrences::Occurrences>> = words
            .iter()
            .zip(&dense)
            .map(|(word, dense)| {
                let finder = word
                    .finder
                    .as_ref()
                    .filter(|_| dense.load(std::sync::atomic::Ordering::Relaxed) < DENSE_CHUNKS)?;
                let columns = match word.look {
                    Look::Names => (true, false),
                    Look::Contacts => (false, true),
                    Look::NamesElseContacts => (true, true),
                };
                let found = occurrences::Occurrences::find(texts, &entries, finder, columns)?;
                // A word in most entries (`+39`, `pec`) is found quicker
                // entry by entry: after a few such chunks in a row, the
                // later ones are searched so (a run of numeri iscrizione
                // from 1200 holds `12`, the rest of the roster seldom).
                if found.holding() * 4 > entries.len() * 3 {
                    dense.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                } else {
                    dense.store(0, std::sync::atomic::Ordering::Relaxed);
                }
                Some(found)
            })
            .collect();
        out.extend(
            entries
                .iter()
                .enumerate()
                .filter_map(|(slot, &i)| score_entry(i, slot, &found, matcher)),
        );
    };
    let n = pool.len();
    let chunks = n.div_ceil(CHUNK);
    if threads <= 1 {
        let mut matcher = Matcher::new(Config::DEFAULT);
        let mut scored = Vec::new();
        // A newer keystroke stops a scan within a few milliseconds.
        for chunk in 0..chunks {
            if cancelled() {
                return None;
            }
            run(
                chunk * CHUNK..n.min((chunk + 1) * CHUNK),
                &mut matcher,
                &mut scored,
            );
        }
        return Some(Found::Scored {
            parts: vec![scored],
            per_score: None,
        });
    }
    let next = AtomicUsize::new(0);
    let stopped = AtomicBool::new(false);
    let work = || {
        let mut matcher = Matcher::new(Config::DEFAULT);
        let mut done = Vec::new();
        let mut counting = Counting::default();
        loop {
            let chunk = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if chunk >= chunks || stopped.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            if cancelled() {
                stopped.store(true, std::sync::atomic::Ordering::Relaxed);
                break;
            }
            let range = chunk * CHUNK..n.min((chunk + 1) * CHUNK);
            let mut scored = Vec::with_capacity(range.len());
            run(range, &mut matcher, &mut scored);
            // Counted while the chunk's scores are at hand: the ranking
            // reads every score once less.
            counting.add(&scored);
            done.push((chunk, scored));
        }
        (done, counting)
    };
    let (mut done, counting) = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let (mut done, mut counting) = work();
        for other in others {
            let (theirs, counted) = other.join().expect("scoring thread");
            done.extend(theirs);
            counting.join(counted);
        }
        (done, counting)
    });
    if stopped.into_inner() {
        return None;
    }
    done.sort_unstable_by_key(|&(chunk, _)| chunk);
    Some(Found::Scored {
        parts: done.into_iter().map(|(_, part)| part).collect(),
        per_score: counting.per_score(),
    })
}

/// A scan's matches with their scores, in entry order.
enum Found {
    /// Found now: in parts, chunk after chunk, as the threads found them,
    /// and how many have each score when counted as found.
    Scored {
        parts: Vec<Vec<(u32, u32)>>,
        per_score: Option<PerScore>,
    },
    /// Found earlier.
    Known(Arc<Vec<(u32, u32)>>),
}

impl Found {
    fn len(&self) -> usize {
        match self {
            Found::Scored { parts, .. } => parts.iter().map(Vec::len).sum(),
            Found::Known(scored) => scored.len(),
        }
    }

    /// The parts, in order.
    fn parts(&self) -> Vec<&[(u32, u32)]> {
        match self {
            Found::Scored { parts, .. } => parts.iter().map(Vec::as_slice).collect(),
            Found::Known(scored) => vec![scored.as_slice()],
        }
    }

    /// In one list.
    fn joined(&self) -> Arc<Vec<(u32, u32)>> {
        match self {
            Found::Scored { parts, .. } => {
                let mut scored = Vec::with_capacity(self.len());
                for part in parts {
                    scored.extend_from_slice(part);
                }
                Arc::new(scored)
            }
            Found::Known(scored) => Arc::clone(scored),
        }
    }
}

/// How many matches have each score, from the highest: what ranking them
/// in buckets needs to know first ([`rank_first`], [`rank`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PerScore {
    lowest: u32,
    highest: u32,
    /// Bucket 0 the highest score.
    counts: Vec<usize>,
}

impl PerScore {
    /// Counted anew (for matches scored elsewhere, or a score past
    /// [`COUNTED_SCORES`]).
    fn of(parts: &[&[(u32, u32)]]) -> Self {
        let scores = || {
            parts
                .iter()
                .flat_map(|part| part.iter().map(|&(_, score)| score))
        };
        let lowest = scores().min().unwrap_or(0);
        let highest = scores().max().unwrap_or(0);
        let buckets = (highest - lowest) as usize + 1;
        let mut counts = vec![0usize; if buckets <= 1 << 16 { buckets } else { 0 }];
        if !counts.is_empty() {
            for score in scores() {
                counts[(highest - score) as usize] += 1;
            }
        }
        PerScore {
            lowest,
            highest,
            counts,
        }
    }
}

/// Scores below this are counted as a scan finds them ([`Counting`]).
const COUNTED_SCORES: usize = 1 << 14;

/// A scoring thread's count of the scores it found.
struct Counting {
    per_score: Vec<u32>,
    /// A score past [`COUNTED_SCORES`] was found: counted anew.
    past: bool,
}

impl Default for Counting {
    fn default() -> Self {
        Counting {
            per_score: vec![0; COUNTED_SCORES],
            past: false,
        }
    }
}

impl Counting {
    fn add(&mut self, scored: &[(u32, u32)]) {
        for &(_, score) in scored {
            match self.per_score.get_mut(score as usize) {
                Some(count) => *count += 1,
                None => self.past = true,
            }
        }
    }

    fn join(&mut self, other: Counting) {
        self.past |= other.past;
        for (mine, theirs) in self.per_score.iter_mut().zip(other.per_score) {
            *mine += theirs;
        }
    }

    /// None when some score was past them, or nothing was found.
    fn per_score(&self) -> Option<PerScore> {
        if self.past {
            return None;
        }
        let lowest = self.per_score.iter().position(|&c| c > 0)?;
        let highest = self.per_score.iter().rposition(|&c| c > 0)?;
        Some(PerScore {
            lowest: lowest as u32,
            highest: highest as u32,
            counts: self.per_score[lowest..=highest]
                .iter()
                .rev()
                .map(|&c| c as usize)
                .collect(),
        })
    }
}

/// Entries scored between two looks at whether the scan is still wanted.
const CHUNK: usize = 8192;

/// Chunks in a row where most entries hold an exact word, after which it is
/// no longer looked for in whole chunks.
const DENSE_CHUNKS: usize = 3;

/// How a word is scored: nucleo's scores computed here for what the search
/// tries most ([`ascii`]), else by nucleo.
enum Scorer {
    Substring(ascii::Substring),
    /// A one-character word, with its character's bit.
    OneChar(ascii::Substring, u8, u64),
    Fuzzy(Vec<u8>),
    Nucleo,
}

impl Scorer {
    /// None when nucleo scores the word.
    fn of(atom: &Atom) -> Option<Self> {
        if atom.negative {
            return None;
        }
        let needle: String = atom.needle_text().chars().collect();
        match atom.kind {
            AtomKind::Substring => {
                let word = ascii::Substring::new(&needle)?;
                match needle.as_bytes() {
                    &[c] => Some(match char_bit(c as char) {
                        Some(bit) => Scorer::OneChar(word, c, bit),
                        None => Scorer::Substring(word),
                    }),
                    _ => Some(Scorer::Substring(word)),
                }
            }
            AtomKind::Fuzzy => {
                ascii::fuzzy_word(&needle).then(|| Scorer::Fuzzy(needle.into_bytes()))
            }
            _ => None,
        }
    }

    /// The word's score on an entry's names, whose starts and mask are
    /// `starts`: from them for a one-character word when they tell.
    fn score_names(
        &self,
        atom: &Atom,
        names: Text<'_>,
        (starts, mask): (ascii::Starts, u64),
        matcher: &mut Matcher,
    ) -> Option<u16> {
        if let Scorer::OneChar(_, c, bit) = self
            && let Some(score) = starts.one_char(mask, *c, *bit)
        {
            return score;
        }
        self.score(atom, names, matcher)
    }

    /// The word's score on `haystack`, as nucleo gives it (greedily for a
    /// fuzzy word).
    fn score(&self, atom: &Atom, text: Text<'_>, matcher: &mut Matcher) -> Option<u16> {
        match (self, text) {
            (Scorer::Substring(word) | Scorer::OneChar(word, ..), Text::Ascii(text)) => {
                word.score(text)
            }
            (Scorer::Substring(word) | Scorer::OneChar(word, ..), Text::Folded(text, _)) => {
                word.score_folded(text)
            }
            // nucleo's greedy match is the same on a text and on its fold.
            (Scorer::Fuzzy(word), Text::Ascii(text) | Text::Folded(text, _)) => {
                ascii::fuzzy_greedy(text, word)
            }
            _ if atom.kind == AtomKind::Fuzzy && !atom.negative => {
                matcher.config.ignore_case = true;
                matcher.config.normalize = true;
                matcher.fuzzy_match_greedy(text.utf32(), atom.needle_text())
            }
            _ => atom.score(text.utf32(), matcher),
        }
    }
}

/// A word of the query as a scan scores it.
struct Word<'a> {
    atom: &'a Atom,
    scorer: Scorer,
    look: Look,
    /// What an entry needs for it (none with the prefilter off).
    needs: Option<Needs>,
    /// For an exact word of two characters or more: looked for in a
    /// chunk's texts at once ([`occurrences`]).
    finder: Option<memchr::memmem::Finder<'a>>,
}

impl Word<'_> {
    /// The score of a query of this one word on entry `i`, when its texts
    /// are ASCII and the word a fuzzy or one-character one (the first
    /// keystrokes of most searches, over most of the roster): as
    /// [`score_one`] scores it, without its bookkeeping per word. None when
    /// the entry needs that.
    fn alone(&self, texts: &Texts, i: u32) -> Option<Option<u32>> {
        // Only what the word reads: the names' span, mask and text for a
        // fuzzy word; the mask and starts for one character (whose starts
        // are known only for names in ASCII).
        let mask = texts.names_masks[i as usize];
        match (&self.scorer, self.look) {
            (Scorer::Fuzzy(needle), Look::Names) => {
                if let Some(needs) = &self.needs
                    && mask & needs.mask != needs.mask
                {
                    return Some(None);
                }
                let (start, names, _) = texts.spans[i as usize];
                // ELSEWHERE has the bit too.
                if names & FOLDED != 0 {
                    return None;
                }
                let start = start as usize;
                let text = &texts.names[start..start + names as usize];
                Some(ascii::fuzzy_greedy(text, needle).map(u32::from))
            }
            (Scorer::OneChar(_, c, bit), Look::Names) => texts.starts[i as usize]
                .one_char(mask, *c, *bit)
                .map(|score| score.map(u32::from)),
            // In the names, from their starts; else the contacts are read.
            (Scorer::OneChar(_, c, bit), Look::NamesElseContacts) if mask & bit != 0 => texts
                .starts[i as usize]
                .one_char(mask, *c, *bit)
                .map(|score| score.map(u32::from)),
            _ => None,
        }
    }
}

/// Which of an entry's texts a word is scored on.
#[derive(Clone, Copy)]
enum Look {
    Names,
    /// Only a mobile has a `+`.
    Contacts,
    /// The names, else the contacts: what has digits, `@`, `.` or `_`.
    NamesElseContacts,
}

impl<'a> Word<'a> {
    /// Scored by nucleo alone, every entry tried, with the prefilter off.
    fn of(atom: &'a Atom, in_contacts: bool, prefilter: bool) -> Self {
        let scorer = Scorer::of(atom)
            .filter(|_| prefilter)
            .unwrap_or(Scorer::Nucleo);
        let finder = match &scorer {
            Scorer::Substring(word) => {
                Some(memchr::memmem::Finder::new(word.needle()).into_owned())
            }
            _ => None,
        };
        let look = if atom.kind == AtomKind::Fuzzy && !atom.negative {
            Look::Names
        } else if in_contacts && !atom.negative && atom.needle_text().chars().next() == Some('+') {
            Look::Contacts
        } else if in_contacts && !atom.negative {
            Look::NamesElseContacts
        } else {
            Look::Names
        };
        Word {
            atom,
            scorer,
            look,
            needs: Needs::of(atom, in_contacts).filter(|_| prefilter),
            finder,
        }
    }
}

/// Every word must match; the score is their sum. Fuzzy words are scored
/// greedily: the optimal alignment nucleo also offers costs several times more
/// per row and ranks names no better.
fn score_one(
    words: &[Word<'_>],
    names: Text<'_>,
    starts: (ascii::Starts, u64),
    contacts: Text<'_>,
    (not_in_names, not_in_contacts): (u64, u64),
    matcher: &mut Matcher,
) -> Option<u32> {
    let mut total = 0u32;
    for (k, word) in words.iter().enumerate() {
        let (atom, scorer) = (word.atom, &word.scorer);
        let bit = 1u64.checked_shl(k as u32).unwrap_or(0);
        let score = match word.look {
            Look::Names => scorer.score_names(atom, names, starts, matcher)?,
            Look::Contacts => scorer.score(atom, contacts, matcher)?,
            Look::NamesElseContacts => (not_in_names & bit == 0)
                .then(|| scorer.score_names(atom, names, starts, matcher))
                .flatten()
                .or_else(|| {
                    (not_in_contacts & bit == 0)
                        .then(|| scorer.score(atom, contacts, matcher))
                        .flatten()
                })?,
        };
        total += score as u32;
    }
    Some(total)
}

/// The entries of `matches` that `shown` lets through, best score first and
/// alike scores in the table's order (`order`, whose inverse is `rank`):
/// what the table lists for a search ([`Matches::best_first`], which may
/// have them ranked already).
#[cfg(test)]
pub(super) fn best_first(
    matches: Vec<(u32, u32)>,
    order: &[u32],
    rank: &[u32],
    shown: impl Fn(usize) -> bool,
) -> Vec<usize> {
    best_first_of(&matches, order, rank, shown)
}

/// Score buckets from this many: `(lowest, highest, buckets)` of `matches`.
fn score_range(matches: &[(u32, u32)]) -> (u32, u32, usize) {
    let lowest = matches.iter().map(|&(_, s)| s).min().unwrap_or(0);
    let highest = matches.iter().map(|&(_, s)| s).max().unwrap_or(0);
    (lowest, highest, (highest - lowest) as usize + 1)
}

/// Whether [`best_first_of`] sorts: a few matches, or scores too spread for
/// buckets.
fn sorts(matches: usize, entries: usize, buckets: usize) -> bool {
    matches * 8 < entries || buckets > 1 << 16
}

/// Marks no score in [`scores_by_entry`].
const NO_SCORE: u32 = u32::MAX;

/// Each entry's score, [`NO_SCORE`] for those not matched.
fn scores_by_entry(matches: &[(u32, u32)], entries: usize) -> Vec<u32> {
    let mut score_of = vec![NO_SCORE; entries];
    for &(i, score) in matches {
        score_of[i as usize] = score;
    }
    score_of
}

/// The entries of `matches` that `shown` lets through, best score first and
/// alike scores in the table's order (`order`, whose inverse is `rank`).
fn best_first_of(
    matches: &[(u32, u32)],
    order: &[u32],
    rank: &[u32],
    shown: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let (_, highest, buckets) = score_range(matches);
    if sorts(matches.len(), order.len(), buckets) {
        let mut keys: Vec<u64> = matches
            .iter()
            .filter(|&&(i, _)| shown(i as usize))
            .map(|&(i, score)| (u64::from(u32::MAX - score) << 32) | u64::from(rank[i as usize]))
            .collect();
        keys.sort_unstable();
        return keys
            .into_iter()
            .map(|key| order[(key & u64::from(u32::MAX)) as usize] as usize)
            .collect();
    }
    // Most of the roster (the first letters of a search at a million
    // members): walked in the table's order and dealt into one bucket per
    // score, linear where sorting them took tens of milliseconds.
    let score_of = scores_by_entry(matches, order.len());
    let (listed, _) = deal(order, &score_of, highest, buckets, |i| shown(i as usize));
    listed.into_iter().map(|i| i as usize).collect()
}

/// The entries of `part` (a stretch of the table's order) that have a score
/// and that `shown` lets through, best first, ties in `part`'s order; and
/// how many there are per bucket (bucket 0 the `highest` score).
fn deal(
    part: &[u32],
    score_of: &[u32],
    highest: u32,
    buckets: usize,
    shown: impl Fn(u32) -> bool,
) -> (Vec<u32>, Vec<usize>) {
    let mut in_order = Vec::with_capacity(part.len());
    let mut per_bucket = vec![0usize; buckets];
    for &i in part {
        let score = score_of[i as usize];
        if score != NO_SCORE && shown(i) {
            let bucket = (highest - score) as usize;
            per_bucket[bucket] += 1;
            in_order.push((i, bucket as u32));
        }
    }
    let mut slots = Vec::with_capacity(buckets);
    let mut next = 0;
    for &count in &per_bucket {
        slots.push(next);
        next += count;
    }
    let mut out = vec![0u32; in_order.len()];
    for (i, bucket) in in_order {
        let slot = &mut slots[bucket as usize];
        out[*slot] = i;
        *slot += 1;
    }
    (out, per_bucket)
}

/// The `first` best matches in the table's order, as [`best_first_of`]
/// lists them, then every other match in entry order: what the table's
/// first pages show while the rest is ranked ([`Staging`]). Linear: the
/// scores say which matches may be among the first, and only those are
/// compared.
fn rank_first(
    parts: &[&[(u32, u32)]],
    order: &[u32],
    rank: &[u32],
    first: usize,
    per_score: Option<&PerScore>,
) -> Vec<usize> {
    // Best score first, then the table's order: as `best_first_of` sorts.
    let key =
        |i: u32, score: u32| (u64::from(u32::MAX - score) << 32) | u64::from(rank[i as usize]);
    let counted;
    let per_score = match per_score {
        Some(per_score) => per_score,
        None => {
            counted = PerScore::of(parts);
            &counted
        }
    };
    let matches = || parts.iter().flat_map(|part| part.iter());
    let (lowest, highest) = (per_score.lowest, per_score.highest);
    // The lowest score among the first: those above it are fewer than
    // `first`, those with it make up the rest (every score when they were
    // too spread to count).
    let mut before = 0;
    let cut = per_score
        .counts
        .iter()
        .position(|&count| {
            before += count;
            before >= first
        })
        .map_or(lowest, |bucket| highest - bucket as u32);
    let mut keys: Vec<u64> = matches()
        .filter(|&&(_, score)| score >= cut)
        .map(|&(i, score)| key(i, score))
        .collect();
    if keys.len() > first && first > 0 {
        keys.select_nth_unstable(first - 1);
        keys.truncate(first);
    }
    keys.sort_unstable();
    let Some(&last) = keys.last() else {
        return matches().map(|&(i, _)| i as usize).collect();
    };
    let mut list = Vec::with_capacity(parts.iter().map(|part| part.len()).sum());
    list.extend(
        keys.iter()
            .map(|&k| order[(k & u64::from(u32::MAX)) as usize] as usize),
    );
    list.extend(
        matches()
            .filter(|&&(i, score)| score < cut || key(i, score) > last)
            .map(|&(i, _)| i as usize),
    );
    list
}

/// Every match best first in the table's order, as [`best_first_of`] lists
/// them with nothing filtered out: for large results, the order is dealt in
/// stretches, one per core, whose buckets are then joined stretch after
/// stretch (so ties keep the table's order).
fn rank(
    matches: &[(u32, u32)],
    order: &[u32],
    rank: &[u32],
    per_score: Option<&PerScore>,
) -> Vec<u32> {
    rank_on(matches, order, rank, threads(), per_score)
}

/// [`rank`] on this many threads.
fn rank_on(
    matches: &[(u32, u32)],
    order: &[u32],
    rank: &[u32],
    threads: usize,
    per_score: Option<&PerScore>,
) -> Vec<u32> {
    let (_, highest, buckets) = match per_score {
        Some(p) => (p.lowest, p.highest, (p.highest - p.lowest) as usize + 1),
        None => score_range(matches),
    };
    if sorts(matches.len(), order.len(), buckets) || matches.len() < PARALLEL_FROM || threads <= 1 {
        return best_first_of(matches, order, rank, |_| true)
            .into_iter()
            .map(|i| i as u32)
            .collect();
    }
    let score_of = scores_by_entry(matches, order.len());
    let stretch = order.len().div_ceil(threads);
    let parts: Vec<(Vec<u32>, Vec<usize>)> = std::thread::scope(|scope| {
        let dealing: Vec<_> = order
            .chunks(stretch)
            .map(|part| scope.spawn(|| deal(part, &score_of, highest, buckets, |_| true)))
            .collect();
        dealing
            .into_iter()
            .map(|part| part.join().expect("ranking thread"))
            .collect()
    });
    let mut out = Vec::with_capacity(matches.len());
    let mut taken = vec![0usize; parts.len()];
    for bucket in 0..buckets {
        for ((listed, per_bucket), taken) in parts.iter().zip(&mut taken) {
            let count = per_bucket[bucket];
            out.extend_from_slice(&listed[*taken..*taken + count]);
            *taken += count;
        }
    }
    out
}

/// Character positions of `text` that the query's words match, for highlighting.
pub fn highlights(pattern: &Pattern, matcher: &mut Matcher, text: &str) -> Vec<u32> {
    let mut buf = Vec::new();
    let mut indices = Vec::new();
    // Lower case as the haystacks are (see `haystack`); ASCII only, so the
    // character positions stay those of `text`.
    let text = text.to_ascii_lowercase();
    for atom in &pattern.atoms {
        atom.indices(Utf32Str::new(&text, &mut buf), matcher, &mut indices);
    }
    indices.sort_unstable();
    indices.dedup();
    indices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RosterEntry;

    #[test]
    fn narrowing_only_for_plain_extensions() {
        assert!(narrows("ros", "rossi"));
        assert!(narrows("rossi", "rossi m"));
        assert!(!narrows("", "r"));
        assert!(!narrows("rossi", "ross"));
        assert!(!narrows("ros", "ros !m"));
    }

    /// A roster of 2,000 with the caller, Marisa Rossi, somewhere in the middle,
    /// and namesakes around her.
    fn roster_with_caller() -> (RosterRows, u32) {
        let (entries, caller) = caller_entries();
        (RosterRows::from_entries(entries), caller)
    }

    fn caller_entries() -> (Vec<RosterEntry>, u32) {
        let mut members = crate::sample::generate_roster(2000, 7, "pec.fofi.it");
        let caller = 1234;
        let m = &mut members[caller];
        m.cognome = "Rossi".into();
        m.nome = "Marisa".into();
        m.codice_fiscale = "RSSMRS80A41H501X".into();
        m.numero_iscrizione = "4711".into();
        m.pec = "marisa.rossi@pec.fofi.it".into();
        m.email_servizio = Some("marisa@inwind.it".into());
        m.cellulare = Some("+393471234567".into());
        for (i, other) in members.iter_mut().enumerate().take(40) {
            other.cognome = "Rossi".into();
            other.nome = if i % 2 == 0 { "Maria" } else { "Marisa" }.into();
        }
        (in_the_roster(members), caller as u32)
    }

    /// Members as entries in the roster, with no mailbox.
    fn in_the_roster(members: Vec<crate::domain::Member>) -> Vec<RosterEntry> {
        members
            .into_iter()
            .map(|m| RosterEntry {
                member_id: None,
                member: Some(m),
                in_roster: true,
                mailbox: None,
                aruba: Default::default(),
            })
            .collect()
    }

    /// Best first, as the table shows them.
    fn ranked(search: &mut Search, query: &str) -> Vec<u32> {
        let mut hits = search.matches(query);
        hits.sort_by_key(|&(i, score)| (std::cmp::Reverse(score), i));
        hits.into_iter().map(|(i, _)| i).collect()
    }

    #[test]
    fn phone_numbers_in_any_spelling_find_the_caller_alone() {
        let (entries, caller) = roster_with_caller();
        for spelling in [
            "347 123 4567",
            "3471234567",
            "+39 347 123 4567",
            "+393471234567",
            "0039 347 1234567",
            "0039.347.123.4567",
            "347-123-4567",
            "347/1234567",
        ] {
            // Typed key by key, as at the console, and fresh.
            let mut typed = Search::new(&entries);
            let mut found = Vec::new();
            for end in 1..=spelling.len() {
                found = ranked(&mut typed, &spelling[..end]);
            }
            assert_eq!(found, vec![caller], "{spelling}");
            assert_eq!(
                ranked(&mut Search::new(&entries), spelling),
                vec![caller],
                "{spelling}"
            );
        }
        assert_eq!(normalize_query("0039 347 123 4567"), "3471234567");
        assert_eq!(
            normalize_query("+39 347 123 4567 rossi"),
            "3471234567 rossi"
        );
        assert_eq!(normalize_query("rossi 47 11"), "rossi 47 11");
        assert_eq!(normalize_query("+39 34"), "34");
        assert_eq!(normalize_query("+39"), "+39");
        assert_eq!(normalize_query("39 347 123 4567"), "393471234567");
    }

    #[test]
    fn e_mail_numero_pec_and_codice_fiscale_rank_the_caller_first() {
        let (entries, caller) = roster_with_caller();
        let mut search = Search::new(&entries);
        for query in [
            "marisa@inwind.it",
            "MARISA@INWIND.IT",
            "marisa@inwind",
            "4711",
            "marisa.rossi",
            "marisa.rossi@pec.fofi.it",
            "RSSMRS80",
            "rssmrs80a41",
            "80A41H501",
            "rossi 4711",
        ] {
            let found = ranked(&mut search, query);
            assert_eq!(found.first(), Some(&caller), "{query}: {found:?}");
        }
        // A partial codice fiscale is matched exactly, not fuzzily.
        assert_eq!(ranked(&mut search, "RSSMRS80A41"), vec![caller]);
        // Names stay fuzzy.
        assert!(ranked(&mut search, "rosi marsa").contains(&caller));
    }

    #[test]
    fn an_e_mail_unlike_the_name_is_found_as_typed() {
        let (mut entries, caller) = caller_entries();
        entries[caller as usize]
            .member
            .as_mut()
            .unwrap()
            .email_servizio = Some("segreteria.farmacia@libero.it".into());
        let entries = RosterRows::from_entries(entries);
        let query = "segreteria.farmacia@libero.it";
        let mut typed = Search::new(&entries);
        let mut found = Vec::new();
        for end in 1..=query.len() {
            found = ranked(&mut typed, &query[..end]);
        }
        assert_eq!(found, vec![caller]);
        assert!(
            !narrows("segreteria", "segreteria."),
            "fuzzy to exact starts over"
        );
        assert!(narrows("segreteria.", "segreteria.f"));
    }

    #[test]
    fn deleting_returns_the_earlier_result_and_typing_narrows() {
        let entries: Vec<RosterEntry> = crate::sample::generate_roster(300, 5, "pec.fofi.it")
            .into_iter()
            .map(|m| RosterEntry {
                member_id: None,
                member: Some(m),
                in_roster: true,
                mailbox: None,
                aruba: Default::default(),
            })
            .collect();
        let entries = RosterRows::from_entries(entries);
        let mut search = Search::new(&entries);
        let r = search.matches("r");
        let ro = search.matches("ro");
        assert!(ro.len() <= r.len());
        assert_eq!(search.matches("r"), r);
        // A fresh index gives the same answers as the incremental one.
        let mut fresh = Search::new(&entries);
        assert_eq!(fresh.matches("ro"), ro);
        assert_eq!(search.matches("rossi"), fresh.matches("rossi"));
    }

    /// Skipping the entries a word's characters rule out changes no result:
    /// the same matches with the same scores as trying every entry.
    #[test]
    fn the_character_masks_drop_no_match() {
        let (mut entries, _) = caller_entries();
        // Names nucleo normalises, and a mailbox with no member.
        entries[7].member.as_mut().unwrap().cognome = "Nicolò".into();
        entries[8].member.as_mut().unwrap().nome = "José".into();
        entries.push(RosterEntry {
            member_id: None,
            member: None,
            in_roster: false,
            mailbox: Some(crate::domain::MailboxState {
                address: "orfano@pec.fofi.it".into(),
                migration: crate::domain::MigrationState::NotStarted,
                migration_at: None,
                password: crate::domain::PasswordState::NotSet,
                link_sent_at: None,
                link_expires_at: None,
                recovery: Default::default(),
                last_login_at: None,
                must_change_password: false,
                updated_at: chrono::Utc::now(),
            }),
            aruba: Default::default(),
        });
        let entries = RosterRows::from_entries(entries);
        let masked = Search::new(&entries);
        assert!(masked.texts.names_masks.iter().any(|&m| m != u64::MAX));
        let everything = unfiltered(&entries);
        for query in [
            "r",
            "ro",
            "rossi mar",
            "z",
            "q",
            "nicolo",
            "jose",
            "nicolò",
            "ni",
            "o",
            "e",
            "co",
            "os",
            "nicol",
            "jos 1",
            "sé",
            "^nic",
            "+39",
            "+39 347",
            "347 123",
            "marisa@inwind",
            "4711",
            "rss",
            "80a41",
            "!rossi",
            "^ros",
            "ssi$",
            "'mari",
            "orfano",
            "pec.fofi",
            "x y",
            "rossi !maria",
            "a-b",
            "_",
            "@",
        ] {
            let mut expected = everything.clone().matches(query);
            let mut found = masked.clone().matches(query);
            expected.sort_unstable();
            found.sort_unstable();
            assert_eq!(found, expected, "{query}");
        }
    }

    /// A search over `entries` that tries every entry and scores every word
    /// with nucleo: what the masks, the folds and the chunk-wide search for
    /// exact words must not change.
    fn unfiltered(entries: &RosterRows) -> Search {
        let mut everything = Search::new(entries);
        let mut texts = Arc::try_unwrap(std::mem::replace(
            &mut everything.texts,
            Search::new(&RosterRows::default()).texts,
        ))
        .unwrap_or_else(|_| panic!("shared"));
        texts.prefilter = false;
        everything.texts = Arc::new(texts);
        everything
    }

    /// Exact words looked for once in a chunk's texts, where the texts of
    /// one entry run into the next's (and names into contacts) and where
    /// the entries tried are a narrowed few: the same matches with the
    /// same scores as trying every entry with nucleo, typed key by key
    /// (narrowing) and fresh, over several chunks.
    #[test]
    fn exact_words_looked_for_in_a_whole_chunk_drop_no_match() {
        let mut members = crate::sample::generate_roster(CHUNK * 2 + 500, 5, "pec.fofi.it");
        for (k, m) in members.iter_mut().enumerate() {
            match k % 7 {
                // Digits where a text ends and the next begins.
                0 => {
                    m.numero_iscrizione = format!("{}1", k % 100);
                    m.email_servizio = Some(format!("2{k}@libero.it"));
                }
                1 => {
                    m.email_servizio = None;
                    m.cellulare = None;
                    m.numero_iscrizione = "121".into();
                }
                2 => m.cognome = format!("112{}", m.cognome),
                3 if k % 3 == 0 => m.cognome = "Àlvaro".into(),
                4 if k % 3 == 0 => m.nome = "Niccolò".into(),
                _ => (),
            }
        }
        let entries = RosterRows::from_entries(in_the_roster(members));
        let everything = unfiltered(&entries);
        let mut typed = Search::new(&entries);
        for query in [
            "12",
            "121",
            "1",
            "21",
            "2x",
            "12 34",
            "+39 34",
            "11",
            "00",
            "1m",
            "it",
            ".it",
            "@libero",
            "1@",
            "ma 12",
            "gi 00",
            "niccol 1",
            "àlvaro 2",
            "alvaro 2",
        ] {
            let mut expected = everything.clone().matches(query);
            expected.sort_unstable();
            let mut fresh = Search::new(&entries).matches(query);
            fresh.sort_unstable();
            assert_eq!(fresh, expected, "{query}");
            for end in 1..=query.len() {
                if query.is_char_boundary(end) {
                    typed.matches(&query[..end]);
                }
            }
            let mut narrowed = typed.matches(query);
            narrowed.sort_unstable();
            assert_eq!(narrowed, expected, "{query}, typed");
        }
    }

    /// Over a generated roster past [`PARALLEL_FROM`], with accented and
    /// apostrophised names and another PEC domain here and there, every
    /// kind of word: the scan as it runs (texts in columns, masks, starts,
    /// the chunk-wide search for exact words, scores counted as found, two
    /// threads, two stages) finds what a plain scan finds (nucleo on every
    /// entry), with the same scores, and lists them in the same order,
    /// fresh and typed key by key; its first stage puts first what the
    /// whole ranking puts first.
    #[test]
    fn the_scan_as_it_runs_finds_and_ranks_as_a_plain_scan() {
        let mut members = crate::sample::generate_roster(PARALLEL_FROM + 4_000, 11, "pec.fofi.it");
        for (k, m) in members.iter_mut().enumerate() {
            match k % 89 {
                0 => m.cognome = "Nicolò".into(),
                1 => m.nome = "José".into(),
                2 => m.cognome = "D'Àngelo".into(),
                3 => m.cognome = "Dell'Orto".into(),
                4 => m.pec = format!("studio{k}@legalmail.it"),
                5 => m.cellulare = None,
                6 => m.email_servizio = Some(format!("Farmacia.{k}@Libero.IT")),
                _ => (),
            }
        }
        let entries = RosterRows::from_entries(in_the_roster(members));
        let ordering = shuffled_ordering(entries.len() as u32);
        let plain = unfiltered(&entries);
        let mut typed = Search::new(&entries);
        typed.staging = Staging {
            from: 1,
            first: 100,
        };
        for query in [
            "r",
            "c",
            "1",
            "3",
            "0",
            "+",
            "a",
            "é",
            "ò",
            "'",
            "co",
            "ro",
            "rs",
            "12",
            "34",
            "00",
            "+3",
            "ni",
            "jo",
            "é ",
            "ros",
            "con",
            "rss",
            "123",
            "347",
            "nic",
            "jos",
            "d'a",
            "rossi mar",
            "conte gio",
            "RSSMRA",
            "rssmra80",
            "80a41",
            "rossi 12",
            "mar 3",
            "+39 3",
            "pec.fofi",
            "@pec",
            "fofi.it",
            ".it",
            "nicolò",
            "josé",
            "NICOLO",
            "Josè",
            "d'àngelo",
            "dangelo",
            "àngelo",
            "dell'o",
            "x y",
            "zz",
            "!rossi",
            "^ros",
            "ssi$",
            "'mari",
            "4711",
            "legalmail",
            "farmacia.1",
            "LIBERO.it",
            "347 123 4567",
            "+39 347",
        ] {
            let mut expected = plain.clone().matches(query);
            expected.sort_unstable();
            let listed = best_first(expected.clone(), &ordering.order, &ordering.rank, |_| true);
            let mut search = Search::new(&entries);
            search.staging = typed.staging;
            let Lookup::Scan(scan) = search.lookup_in(query, Some(&ordering)) else {
                panic!("a fresh query is scanned");
            };
            let mut firsts = Vec::new();
            let whole = scan
                .run_staged(&|| false, Some(&mut |m| firsts.push(m)))
                .unwrap();
            assert_eq!(whole.scored(), &expected[..], "{query}");
            assert_eq!(whole.best_first(&ordering, |_| true), listed, "{query}");
            for first in firsts {
                let (first, settled) = first.first_ranked(&ordering, |_| true).unwrap();
                assert_eq!(first[..settled], listed[..settled], "{query}: first stage");
                assert_eq!(first.len(), listed.len(), "{query}: first stage");
            }
            // Typed key by key: narrowed from the earlier keystrokes.
            for end in 1..query.len() {
                if query.is_char_boundary(end) {
                    typed.matched(&query[..end], Some(&ordering));
                }
            }
            let narrowed = typed.matched(query, Some(&ordering));
            assert_eq!(narrowed.scored(), &expected[..], "{query}, typed");
            assert_eq!(
                narrowed.best_first(&ordering, |_| true),
                listed,
                "{query}, typed"
            );
        }
    }

    /// Best first, alike scores in the table's order, through buckets or a
    /// sort, as a plain sort of the matches would list them.
    #[test]
    fn best_first_lists_as_a_plain_sort_would() {
        let n = 5000u32;
        // A table order: entries shuffled by a fixed permutation.
        let order: Vec<u32> = (0..n).map(|i| (i * 3001) % n).collect();
        let mut sorted_order = order.clone();
        sorted_order.sort_unstable();
        assert_eq!(sorted_order, (0..n).collect::<Vec<_>>(), "a permutation");
        let mut rank = vec![0; n as usize];
        for (position, &i) in order.iter().enumerate() {
            rank[i as usize] = position as u32;
        }
        let shown = |i: usize| i % 7 != 3;
        for (every, spread) in [(1, 5), (1, 300), (2, 40), (3, 1 << 20), (20, 9), (97, 30)] {
            let matches: Vec<(u32, u32)> = (0..n)
                .filter(|i| i % every == 0)
                .map(|i| (i, 100 + (i * 31) % spread))
                .collect();
            let mut expected: Vec<(u32, u32)> = matches
                .iter()
                .copied()
                .filter(|&(i, _)| shown(i as usize))
                .collect();
            expected.sort_by_key(|&(i, score)| (std::cmp::Reverse(score), rank[i as usize]));
            let expected: Vec<usize> = expected.into_iter().map(|(i, _)| i as usize).collect();
            assert_eq!(
                best_first(matches, &order, &rank, shown),
                expected,
                "every {every}, spread {spread}"
            );
        }
    }

    /// A roster past [`PARALLEL_FROM`], with the caller's namesakes.
    fn large_roster() -> RosterRows {
        RosterRows::from_entries(in_the_roster(crate::sample::generate_roster(
            PARALLEL_FROM + 7_000,
            3,
            "pec.fofi.it",
        )))
    }

    /// A scan split over several threads finds what one thread finds, in
    /// the same (entry) order with the same scores, whole roster or
    /// narrowed; a cancelled one stops on every thread.
    #[test]
    fn a_split_scan_equals_a_single_one() {
        let entries = large_roster();
        let search = Search::new(&entries);
        let texts = &search.texts;
        let every = Pool::Every(entries.len() as u32);
        for query in [
            "r",
            "ro",
            "rossi mar",
            "3",
            "+39 3",
            "pec.fofi",
            "4711",
            "zz",
            "nicolo",
        ] {
            let query = normalize_query(query);
            let pattern = (
                pattern(&query),
                query.split_whitespace().map(searches_contacts).collect(),
            );
            let single = score_on(texts, &pattern, &every, &|| false, 1)
                .unwrap()
                .joined();
            let single = single.to_vec();
            for threads in [2, 3, 8] {
                let found = score_on(texts, &pattern, &every, &|| false, threads).unwrap();
                assert_eq!(*found.joined(), single, "{query} on {threads} threads");
                // The scores counted as found, as counted afterwards.
                if let Found::Scored {
                    per_score: Some(counted),
                    ..
                } = &found
                {
                    assert_eq!(*counted, PerScore::of(&[&single]), "{query}");
                } else {
                    assert!(single.is_empty(), "{query}: counted");
                }
                // Narrowed: over what the query matched, the same again.
                let narrowed = Pool::Matched(Arc::new(single.clone()));
                assert_eq!(
                    *score_on(texts, &pattern, &narrowed, &|| false, threads)
                        .unwrap()
                        .joined(),
                    single,
                    "{query} narrowed"
                );
            }
            assert!(score_on(texts, &pattern, &every, &|| true, 2).is_none());
        }
    }

    /// Ranked in stretches on several threads, matches list as
    /// [`best_first`] lists them: best first, ties in the table's order.
    #[test]
    fn a_split_ranking_lists_as_best_first() {
        let n = (PARALLEL_FROM * 2) as u32;
        let order: Vec<u32> = (0..n).map(|i| (i * 7919) % n).collect();
        let mut rank = vec![0; n as usize];
        for (position, &i) in order.iter().enumerate() {
            rank[i as usize] = position as u32;
        }
        for (every, spread) in [(1, 3), (1, 60), (2, 17)] {
            let matches: Vec<(u32, u32)> = (0..n)
                .filter(|i| i % every == 0)
                .map(|i| (i, 40 + (i * 31) % spread))
                .collect();
            let expected: Vec<u32> = best_first(matches.clone(), &order, &rank, |_| true)
                .into_iter()
                .map(|i| i as u32)
                .collect();
            for threads in [1, 2, 3, 8] {
                assert_eq!(
                    rank_on(&matches, &order, &rank, threads, None),
                    expected,
                    "every {every}, spread {spread}, {threads} threads"
                );
                assert_eq!(
                    rank_on(
                        &matches,
                        &order,
                        &rank,
                        threads,
                        Some(&PerScore::of(&[&matches]))
                    ),
                    expected,
                    "every {every}, spread {spread}, {threads} threads"
                );
            }
        }
    }

    /// The table lists a search's matches alike whether they were ranked
    /// where they were found or are ranked when shown, filtered or not.
    #[test]
    fn ranked_matches_list_as_ranked_when_shown() {
        let entries = large_roster();
        let n = entries.len() as u32;
        let order: Vec<u32> = (0..n).map(|i| (i * 7919) % n).collect();
        let mut rank = vec![0; n as usize];
        for (position, &i) in order.iter().enumerate() {
            rank[i as usize] = position as u32;
        }
        let ordering = Arc::new(Ordering { order, rank });
        let other = Arc::new((*ordering).clone());
        let mut search = Search::new(&entries);
        for query in ["r", "ro", "rossi", "3"] {
            let ranked = search.matched(query, Some(&ordering));
            assert!(ranked.ranked.is_some());
            let shown = |i: usize| i % 5 != 1;
            let expected = best_first(
                ranked.scored().to_vec(),
                &ordering.order,
                &ordering.rank,
                shown,
            );
            assert_eq!(ranked.best_first(&ordering, shown), expected, "{query}");
            // Ranked in another order (the sort changed): ranked again.
            assert_eq!(ranked.best_first(&other, shown), expected, "{query}");
        }
    }

    /// Typing at a million members: the keystroke's frame shows the earlier
    /// matches while its own are found on another thread; a newer keystroke
    /// stops the older scan; the matches shown at last are those found on
    /// the UI thread.
    #[test]
    fn large_scans_run_off_the_ui_thread_and_end_as_at_once() {
        use crate::app::{Action, Effect, fixtures, update};
        use crate::i18n::Lang;
        use tui_input::InputRequest;
        let type_in = |state: &mut crate::app::State, c: char| {
            update(state, Action::SearchEdit(InputRequest::InsertChar(c)))
        };
        let mut at_once = fixtures::state(Lang::It);
        type_in(&mut at_once, 'r');
        assert!(type_in(&mut at_once, 'o').is_empty());
        let expected = at_once.visible.clone();
        assert!(!expected.is_empty() && expected.len() < at_once.entries.len());

        let mut state = fixtures::state(Lang::It);
        state.background_search_from = 1;
        let everyone = state.visible.clone();
        let effects: [Effect; 1] = type_in(&mut state, 'r').try_into().unwrap();
        let [Effect::Search(first)] = effects else {
            panic!("a scan off the UI thread");
        };
        assert!(state.search_under_way());
        assert_eq!(state.visible, everyone, "the frame shows the earlier list");
        let effects: [Effect; 1] = type_in(&mut state, 'o').try_into().unwrap();
        let [Effect::Search(second)] = effects else {
            panic!("a scan off the UI thread");
        };
        // The older scan stops; its (missing) result changes nothing.
        let stopped = first.run();
        assert!(stopped.matches.is_none());
        update(&mut state, Action::Searched(Box::new(stopped)));
        assert!(state.search_under_way());
        assert_eq!(state.visible, everyone);
        update(&mut state, Action::Searched(Box::new(second.run())));
        assert!(!state.search_under_way());
        assert_eq!(state.visible, expected);
        // Deleting back to a remembered query: at once.
        update(&mut state, Action::SearchEdit(InputRequest::DeletePrevChar));
        assert!(
            update(
                &mut state,
                Action::SearchEdit(InputRequest::InsertChar('o'))
            )
            .is_empty()
        );
        assert_eq!(state.visible, expected);
    }

    /// A table order over `n` entries: shuffled by a fixed permutation.
    fn shuffled_ordering(n: u32) -> Arc<Ordering> {
        let order: Vec<u32> = (0..n).map(|i| (i * 7919) % n).collect();
        let mut rank = vec![0; n as usize];
        for (position, &i) in order.iter().enumerate() {
            rank[i as usize] = position as u32;
        }
        Arc::new(Ordering { order, rank })
    }

    /// Ranked in two stages, the first entries are those a whole sort puts
    /// first, in its order (ties in the table's order), and the rest are
    /// every other match: the same list once ranked in full.
    #[test]
    fn the_first_ranked_are_the_whole_sorts_first() {
        let n = 20_000u32;
        let ordering = shuffled_ordering(n);
        for (every, spread) in [(1, 1), (1, 3), (1, 60), (2, 17), (5, 1 << 20), (97, 30)] {
            let matches: Vec<(u32, u32)> = (0..n)
                .filter(|i| i % every == 0)
                .map(|i| (i, 40 + (i * 31) % spread))
                .collect();
            let whole = best_first(matches.clone(), &ordering.order, &ordering.rank, |_| true);
            let firsts = [1, 7, 100, 2048, matches.len() - 1, matches.len()];
            for first in firsts.into_iter().filter(|&f| f <= matches.len()) {
                let listed = rank_first(&[&matches], &ordering.order, &ordering.rank, first, None);
                // In parts, as the threads find them, and counted as found.
                let (a, rest) = matches.split_at(matches.len() / 3);
                let (b, c) = rest.split_at(rest.len() / 2);
                let counted = PerScore::of(&[&matches]);
                assert_eq!(PerScore::of(&[a, b, c]), counted);
                assert_eq!(
                    rank_first(
                        &[a, b, c],
                        &ordering.order,
                        &ordering.rank,
                        first,
                        Some(&counted)
                    ),
                    listed
                );
                assert_eq!(
                    listed[..first],
                    whole[..first],
                    "every {every}, spread {spread}, first {first}"
                );
                let mut rest = listed[first..].to_vec();
                rest.sort_unstable();
                let mut expected = whole[first..].to_vec();
                expected.sort_unstable();
                assert_eq!(rest, expected, "every {every}, spread {spread}");
                // The rest in entry order, as found.
                assert!(listed[first..].is_sorted());
            }
        }
    }

    /// A staged scan hands over its matches with the first page ranked as
    /// the whole ranking lists it, then the whole ranking, the same as a
    /// scan ranked at once; filtered, the first ranked stay first.
    #[test]
    fn a_staged_scan_ranks_its_first_page_then_the_whole_list() {
        let entries = large_roster();
        let ordering = shuffled_ordering(entries.len() as u32);
        let mut search = Search::new(&entries);
        search.staging = Staging { from: 1, first: 50 };
        for query in ["r", "ro", "rossi", "3", "+39"] {
            let Lookup::Scan(scan) = search.lookup_in(query, Some(&ordering)) else {
                panic!("a fresh query is scanned");
            };
            let at_once = scan.run(&|| false).unwrap();
            assert!(at_once.ranked_in(&ordering));
            let mut staged = Vec::new();
            let whole = scan
                .run_staged(&|| false, Some(&mut |m| staged.push(m)))
                .unwrap();
            assert_eq!(whole, at_once, "{query}");
            assert!(whole.ranked_in(&ordering));
            let everyone = |_| true;
            let expected = at_once.best_first(&ordering, everyone);
            assert_eq!(whole.best_first(&ordering, everyone), expected, "{query}");
            let [first] = &staged[..] else {
                panic!("{query}: one first stage, of {}", at_once.len());
            };
            assert!(!first.ranked_in(&ordering));
            let (listed, settled) = first.first_ranked(&ordering, everyone).unwrap();
            assert_eq!(settled, 50);
            assert_eq!(listed[..settled], expected[..settled], "{query}");
            let mut all = listed.clone();
            all.sort_unstable();
            let mut sorted = expected.clone();
            sorted.sort_unstable();
            assert_eq!(all, sorted, "{query}: every match listed");
            // Its whole ranking, asked for anyway, is the same.
            assert_eq!(first.best_first(&ordering, everyone), expected);
            // Filtered: the ranked ones that pass, first.
            let shown = |i: usize| !i.is_multiple_of(3);
            let filtered = at_once.best_first(&ordering, shown);
            let (listed, settled) = first.first_ranked(&ordering, shown).unwrap();
            assert!(settled < 50);
            assert_eq!(listed[..settled], filtered[..settled], "{query}");
            assert_eq!(listed.len(), filtered.len());
            search.remember(scan.query().to_string(), whole);
        }
        // Few matches: ranked at once, with no first stage.
        search.staging.from = usize::MAX;
        let Lookup::Scan(scan) = search.lookup_in("bianchi", Some(&ordering)) else {
            panic!("scanned");
        };
        let mut staged = 0;
        scan.run_staged(&|| false, Some(&mut |_| staged += 1))
            .unwrap();
        assert_eq!(staged, 0);
    }

    /// A remembered query whose ranking was stopped after its first stage
    /// (or that was ranked in an earlier sort) is ranked again by a scan,
    /// which does not match again; one ranked in full is known at once.
    #[test]
    fn a_remembered_query_not_ranked_in_full_is_ranked_by_a_scan() {
        let entries = large_roster();
        let ordering = shuffled_ordering(entries.len() as u32);
        let mut search = Search::new(&entries);
        search.staging = Staging { from: 1, first: 10 };
        let Lookup::Scan(scan) = search.lookup_in("ro", Some(&ordering)) else {
            panic!("scanned");
        };
        let handed = AtomicBool::new(false);
        let mut first = None;
        let stopped = scan.run_staged(
            &|| handed.load(std::sync::atomic::Ordering::Relaxed),
            Some(&mut |m| {
                first = Some(m);
                handed.store(true, std::sync::atomic::Ordering::Relaxed);
            }),
        );
        assert!(stopped.is_none(), "stopped after its first stage");
        let first = first.unwrap();
        search.remember("ro".into(), first.clone());
        let Lookup::Scan(again) = search.lookup_in("ro", Some(&ordering)) else {
            panic!("ranked again off the UI thread");
        };
        assert!(matches!(again.pool, Pool::Known(_)));
        let whole = again.run(&|| false).unwrap();
        assert_eq!(whole, first);
        assert!(whole.ranked_in(&ordering));
        search.remember("ro".into(), whole.clone());
        assert!(matches!(
            search.lookup_in("ro", Some(&ordering)),
            Lookup::Known(m) if m.ranked_in(&ordering)
        ));
        // The table sorted otherwise: ranked again in the new order.
        let other = Arc::new((*ordering).clone());
        assert!(matches!(
            search.lookup_in("ro", Some(&other)),
            Lookup::Scan(Scan {
                pool: Pool::Known(_),
                ..
            })
        ));
    }

    /// The remembered results are held within their bytes, the least
    /// recently used let go first; the latest is kept whatever its size.
    #[test]
    fn remembered_results_stay_within_their_bytes() {
        let mut search = Search::new(&RosterRows::default());
        let broad = |n: u32| Matches {
            scored: Arc::new((0..n).map(|i| (i, 1)).collect()),
            ranked: None,
            first: None,
        };
        let big = (REMEMBERED_BYTES / 4 / 8) as u32; // a quarter of the bytes
        for query in ["a", "b", "c", "d"] {
            search.remember(query.into(), broad(big));
        }
        search.remember("e".into(), broad(10));
        // Back to "c": used most recently now.
        assert!(matches!(search.lookup("c"), Lookup::Known(_)));
        search.remember("f".into(), broad(big));
        assert!(search.remembered_bytes() <= REMEMBERED_BYTES);
        let kept: Vec<&str> = search.history.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(kept, ["d", "e", "c", "f"]);
        search.remember("g".into(), broad(4 * big));
        let kept: Vec<&str> = search.history.iter().map(|(q, _)| q.as_str()).collect();
        assert_eq!(kept, ["g"], "the latest, alone past the bytes");
        for i in 0..REMEMBERED + 5 {
            search.remember(format!("q{i}"), broad(10));
        }
        assert_eq!(search.history.len(), REMEMBERED);
    }

    /// Closing the search lets go of its remembered queries; typing while
    /// it is open keeps them.
    #[test]
    fn closing_the_search_lets_go_of_its_remembered_queries() {
        use crate::app::{Action, Command, fixtures, update};
        use crate::i18n::Lang;
        use tui_input::InputRequest;
        let mut state = fixtures::state(Lang::It);
        update(&mut state, Action::Command(Command::Search));
        for c in "ro".chars() {
            update(&mut state, Action::SearchEdit(InputRequest::InsertChar(c)));
        }
        update(&mut state, Action::SearchEdit(InputRequest::DeletePrevChar));
        let history =
            |state: &crate::app::State| state.index.as_ref().unwrap().search.history.len();
        assert_eq!(history(&state), 2);
        update(&mut state, Action::Command(Command::Back));
        assert!(state.search.value().is_empty());
        assert_eq!(history(&state), 0);
        assert_eq!(state.visible.len(), state.entries.len());
    }

    /// At a million members the table shows a keystroke's best matches
    /// ranked while the rest are ranked off the UI thread: its first page
    /// is the whole ranking's, every match is listed (so the count is
    /// right), the search is still under way; then the whole ranking, with
    /// the selection where it was moved meanwhile.
    #[test]
    fn the_table_shows_the_first_ranked_then_the_whole_ranking() {
        use crate::app::{Action, Command, Effect, fixtures, update};
        use crate::i18n::Lang;
        use tui_input::InputRequest;
        let mut at_once = fixtures::state(Lang::It);
        update(
            &mut at_once,
            Action::SearchEdit(InputRequest::InsertChar('r')),
        );
        let expected = at_once.visible.clone();
        assert!(expected.len() > 6, "{}", expected.len());

        // `r` typed with a page of three rows, its first `first` matches
        // ranked first: the state, and the scan's two stages.
        let staged = |first: usize| {
            let mut state = fixtures::state(Lang::It);
            state.background_search_from = 1;
            state.page_rows.set(3);
            state.index.as_mut().unwrap().search.staging = Staging { from: 1, first };
            let before = state.visible.clone();
            let effects: [Effect; 1] = update(
                &mut state,
                Action::SearchEdit(InputRequest::InsertChar('r')),
            )
            .try_into()
            .unwrap();
            let [Effect::Search(request)] = effects else {
                panic!("a scan off the UI thread");
            };
            let mut results = Vec::new();
            request.run_staged(&mut |r| results.push(r));
            let [first, whole]: [SearchResult; 2] = results.try_into().unwrap();
            (state, before, first, whole)
        };
        let (mut state, _, first, whole) = staged(4);
        update(&mut state, Action::Searched(Box::new(first)));
        assert!(state.search_under_way(), "still ranking");
        assert_eq!(state.visible[..4], expected[..4]);
        assert_eq!(state.visible.len(), expected.len());
        assert_eq!(state.selected, 0);
        update(&mut state, Action::Command(Command::Down));
        update(&mut state, Action::Command(Command::Down));
        let selected = state.visible[2];
        update(&mut state, Action::Searched(Box::new(whole)));
        assert!(!state.search_under_way());
        assert_eq!(state.visible, expected);
        assert_eq!(state.visible[state.selected], selected);

        // A first stage that does not fill the page (as when a state filter
        // hides most of the best) is not shown: the earlier list stays
        // until the whole ranking comes.
        let (mut state, everyone, first, whole) = staged(2);
        update(&mut state, Action::Searched(Box::new(first)));
        assert_eq!(state.visible, everyone);
        update(&mut state, Action::Searched(Box::new(whole)));
        assert_eq!(state.visible, expected);
        assert_eq!(state.selected, 0);
    }
}
