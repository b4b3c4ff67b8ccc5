//! Which entries of a chunk hold an exact word, found by one search over the
//! chunk's texts (they lie back to back in [`Texts::text`]) instead of one
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

    /// Where `finder`'s word is among `entries` (in entry order), or None
    /// when they are too sparse in the texts for one search over them to
    /// pay. An entry whose texts are not in [`Texts::text`] may hold it.
    pub(super) fn find(texts: &Texts, entries: &[u32], finder: &Finder<'_>) -> Option<Self> {
        let (&first, &last) = (entries.first()?, entries.last()?);
        if (last - first) as usize >= entries.len() * SPARSEST {
            return None;
        }
        let words = entries.len().div_ceil(64);
        let mut found = Self {
            names: vec![0; words],
            contacts: vec![0; words],
        };
        // The texts' span: from the first entry that has its texts there to
        // the end of the last.
        let mut bounds = entries.iter().enumerate().map(|(slot, &i)| {
            let (start, names, contacts) = texts.spans[i as usize];
            let start = start as usize;
            let middle = start + (names & !FOLDED) as usize;
            (
                slot,
                names == ELSEWHERE,
                start,
                middle,
                middle + (contacts & !FOLDED) as usize,
            )
        });
        for (slot, elsewhere, ..) in bounds.clone() {
            if elsewhere {
                found.names[slot / 64] |= 1 << (slot % 64);
                found.contacts[slot / 64] |= 1 << (slot % 64);
            }
        }
        let in_text = |b: &(usize, bool, usize, usize, usize)| !b.1;
        let Some(begin) = bounds.clone().find(in_text).map(|b| b.2) else {
            return Some(found);
        };
        let end = bounds.clone().rev().find(in_text).map_or(begin, |b| b.4);
        let span = &texts.text[begin..end];
        let len = finder.needle().len();
        let mut current = bounds.next();
        let mut at = 0;
        while let Some(hit) = finder.find(&span[at..]) {
            let p = begin + at + hit;
            // The entry whose texts end past the hit.
            while let Some(b) = current
                && (b.1 || b.4 <= p)
            {
                current = bounds.next();
            }
            let Some((slot, _, start, middle, stop)) = current else {
                break;
            };
            // Overlapping hits are looked at too: one that runs from an
            // entry into the next must not hide the next one's.
            at = p + 1 - begin;
            if p < start {
                // In an entry the chunk does not try, or across two.
                continue;
            }
            if p + len <= middle {
                found.names[slot / 64] |= 1 << (slot % 64);
                // The names hold it: on to the contacts.
                at = at.max(middle - begin);
            } else if p >= middle && p + len <= stop {
                found.contacts[slot / 64] |= 1 << (slot % 64);
                at = at.max(stop - begin);
            }
        }
        Some(found)
    }
}

/// Entries the texts' span may hold per entry tried, at most: past it the
/// entries are searched one by one.
const SPARSEST: usize = 4;
