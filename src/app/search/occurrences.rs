//! Which entries of a chunk hold an exact word, found by one search over the
//! chunk's texts (they lie back to back in [`Texts::names`] and
//! [`Texts::contacts`]) instead of one
//! per entry: the digits a caller reads out (`12`, `34`, `00`) are in a
//! fraction of a million members, but every one of them was read to tell.
//! Only the entries that hold the word are then scored: a word that is not
//! in a text scores nothing there, whichever of nucleo's paths scores it.

use memchr::memmem::Finder;

use super::{ELSEWHERE, FOLDED, Texts};

/// Per entry of a chunk (by its place in the chunk): whether a word is in
/// its names, and in its contacts.
pub(super) struct Occurrences {
    names: Vec<u64>,
    contacts: Vec<u64>,
}

impl Occurrences {
    pub(super) fn in_names(&self, slot: usize) -> bool {
        self.names[slot / 64] & (1 << (slot % 64)) != 0
    }

    pub(super) fn in_contacts(&self, slot: usize) -> bool {
        self.contacts[slot / 64] & (1 << (slot % 64)) != 0
    }

    /// How many entries hold the word (or may).
    pub(super) fn holding(&self) -> usize {
        self.names
            .iter()
            .zip(&self.contacts)
            .map(|(n, c)| (n | c).count_ones() as usize)
            .sum()
    }

    /// Where `finder`'s word is among `entries` (in entry order), in their
    /// names when `names` says so and in their contacts when `contacts`
    /// does, or None when they are too sparse in the texts for one search
    /// over them to pay. An entry whose texts are not in the columns may
    /// hold it.
    pub(super) fn find(
        texts: &Texts,
        entries: &[u32],
        finder: &Finder<'_>,
        (names, contacts): (bool, bool),
    ) -> Option<Self> {
        let (&first, &last) = (entries.first()?, entries.last()?);
        if (last - first) as usize >= entries.len() * SPARSEST {
            return None;
        }
        let words = entries.len().div_ceil(64);
        let mut found = Self {
            names: vec![0; words],
            contacts: vec![0; words],
        };
        for (slot, &i) in entries.iter().enumerate() {
            if texts.spans[i as usize].1 == ELSEWHERE {
                found.names[slot / 64] |= 1 << (slot % 64);
                found.contacts[slot / 64] |= 1 << (slot % 64);
            }
        }
        if names {
            let column = entries.iter().map(|&i| {
                let (start, names, _) = texts.spans[i as usize];
                (names != ELSEWHERE).then(|| {
                    let start = start as usize;
                    (start, start + (names & !FOLDED) as usize)
                })
            });
            mark(&texts.names, column, finder, &mut found.names);
        }
        if contacts {
            let column = entries.iter().map(|&i| {
                let (_, names, contacts) = texts.spans[i as usize];
                (names != ELSEWHERE).then(|| {
                    let start = texts.contacts_at[i as usize] as usize;
                    (start, start + (contacts & !FOLDED) as usize)
                })
            });
            mark(&texts.contacts, column, finder, &mut found.contacts);
        }
        Some(found)
    }
}

/// Marks in `holding` (by slot) the entries whose text in `column` holds
/// `finder`'s word: one search over the column from the first entry's text
/// to the end of the last. `bounds` gives, slot by slot, where each entry's
/// text is (None: not in the column).
fn mark(
    column: &[u8],
    bounds: impl Iterator<Item = Option<(usize, usize)>> + Clone,
    finder: &Finder<'_>,
    holding: &mut [u64],
) {
    let mut bounds = bounds
        .enumerate()
        .filter_map(|(slot, b)| b.map(|(start, end)| (slot, start, end)));
    let Some(begin) = bounds.clone().next().map(|b| b.1) else {
        return;
    };
    let end = bounds.clone().last().map_or(begin, |b| b.2);
    let span = &column[begin..end];
    let len = finder.needle().len();
    let mut current = bounds.next();
    let mut at = 0;
    while let Some(hit) = finder.find(&span[at..]) {
        let p = begin + at + hit;
        // The entry whose text ends past the hit.
        while let Some(b) = current
            && b.2 <= p
        {
            current = bounds.next();
        }
        let Some((slot, start, stop)) = current else {
            break;
        };
        // Overlapping hits are looked at too: one that runs from an entry
        // into the next must not hide the next one's.
        at = p + 1 - begin;
        if p < start {
            // In an entry the chunk does not try, or across two.
            continue;
        }
        if p + len <= stop {
            holding[slot / 64] |= 1 << (slot % 64);
            // It holds it: on to the next entry.
            at = at.max(stop - begin);
        }
    }
}

/// Entries the texts' span may hold per entry tried, at most: past it the
/// entries are searched one by one.
const SPARSEST: usize = 4;
