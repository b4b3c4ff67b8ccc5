//! Fixed-size keyed digests of strings and members: what an import keeps in
//! memory per row instead of the strings (the keys it has seen, to reject
//! repeated ones; the stored members, when a file lists them out of order),
//! so that its memory stays flat at a million members.

use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use crate::domain::Member;

/// 128 bits of two SipHashes under keys drawn for one run. Two different
/// values of one import collide with a chance of about 1 in 10^26 at a
/// million rows, and a collision cannot be crafted without the keys. Held
/// as 32-bit words: a digest beside a 32-bit line takes 20 bytes, not 24.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest([u32; 4]);

impl KeyDigest {
    fn of(a: u64, b: u64) -> Self {
        Self([a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32])
    }
}

/// Draws the keys of [`KeyDigest`]s for one run.
#[derive(Debug, Clone)]
pub struct KeyHasher([RandomState; 2]);

impl Default for KeyHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyHasher {
    pub fn new() -> Self {
        Self([RandomState::new(), RandomState::new()])
    }

    /// The digest of one key (a codice fiscale, a PEC).
    pub fn digest(&self, key: &str) -> KeyDigest {
        KeyDigest::of(self.0[0].hash_one(key), self.0[1].hash_one(key))
    }
}

impl KeyHasher {
    /// The digest of every stored field of a member: equal digests, same member.
    pub fn member(&self, m: &Member) -> KeyDigest {
        let one = |state: &RandomState| {
            let mut h = state.build_hasher();
            m.numero_iscrizione.hash(&mut h);
            m.cognome.hash(&mut h);
            m.nome.hash(&mut h);
            m.codice_fiscale.hash(&mut h);
            m.data_nascita.hash(&mut h);
            m.data_iscrizione.hash(&mut h);
            m.pec.hash(&mut h);
            m.email_servizio.hash(&mut h);
            m.cellulare.hash(&mut h);
            m.provincia.hash(&mut h);
            m.data_cancellazione.hash(&mut h);
            h.finish()
        };
        KeyDigest::of(one(&self.0[0]), one(&self.0[1]))
    }
}

/// What a [`DigestTable`] finds its entries by.
pub trait Keyed {
    fn key(&self) -> KeyDigest;
}

impl<V> Keyed for (KeyDigest, V) {
    fn key(&self) -> KeyDigest {
        self.0
    }
}

/// Entries found by their [`KeyDigest`]: the entries in one vector, and an
/// open-addressing table of their positions, 4 bytes a slot, at most 7/8
/// full. At a million entries of a digest and a line it takes 28 MB, where
/// a `HashMap` from digest to line takes 52 MB (24-byte slots, half of
/// them empty after it doubles).
#[derive(Debug, Clone)]
pub struct DigestTable<T> {
    entries: Vec<T>,
    /// An entry's position plus one, 0 for a free slot; a power of two long.
    slots: Vec<u32>,
}

impl<T: Keyed> DigestTable<T> {
    pub fn with_capacity(entries: usize) -> Self {
        Self {
            entries: Vec::with_capacity(entries),
            slots: vec![0; Self::slots_for(entries)],
        }
    }

    fn slots_for(entries: usize) -> usize {
        (entries.saturating_mul(8) / 7 + 1)
            .next_power_of_two()
            .max(16)
    }

    /// The position of the entry with `key`, or the free slot where it would go.
    fn find(&self, key: &KeyDigest) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        // The digest is already random: its low bits are the slot.
        let mut slot = key.0[0] as usize & mask;
        loop {
            match self.slots[slot] {
                0 => return Err(slot),
                position => {
                    let index = position as usize - 1;
                    if self.entries[index].key() == *key {
                        return Ok(index);
                    }
                }
            }
            slot = (slot + 1) & mask;
        }
    }

    /// Reads the slot where `key` would be found first, and the key of the
    /// entry there, for a later [`Self::get`] or [`Self::insert`] of it to
    /// find them in the CPU's caches: touching a batch of keys first lets
    /// their cache misses overlap. Returns a word of what was read, to be
    /// kept from the optimizer ([`std::hint::black_box`]).
    pub fn touch(&self, key: &KeyDigest) -> u32 {
        let position = self.slots[key.0[0] as usize & (self.slots.len() - 1)];
        match position.checked_sub(1) {
            Some(index) => self.entries[index as usize].key().0[1],
            None => 0,
        }
    }

    /// The position of the entry with `key`.
    pub fn get(&self, key: &KeyDigest) -> Option<usize> {
        self.find(key).ok()
    }

    /// Adds `entry` and returns its position, or the position of the entry
    /// that already has its key (and drops `entry`).
    pub fn insert(&mut self, entry: T) -> Result<usize, usize> {
        if (self.entries.len() + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        match self.find(&entry.key()) {
            Ok(existing) => Err(existing),
            Err(slot) => {
                let index = self.entries.len();
                self.slots[slot] = u32::try_from(index + 1).expect("fewer than 4 billion entries");
                self.entries.push(entry);
                Ok(index)
            }
        }
    }

    fn grow(&mut self) {
        self.slots = vec![0; self.slots.len() * 2];
        let mask = self.slots.len() - 1;
        for (index, entry) in self.entries.iter().enumerate() {
            let mut slot = entry.key().0[0] as usize & mask;
            while self.slots[slot] != 0 {
                slot = (slot + 1) & mask;
            }
            self.slots[slot] = (index + 1) as u32;
        }
    }

    pub fn entries(&self) -> &[T] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A set of strings as 128-bit digests (20 bytes each, 4 more to find
/// them): the codici fiscali and PEC addresses of an import's rejected rows.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: KeyHasher,
    table: DigestTable<(KeyDigest, ())>,
}

impl Default for KeySet {
    fn default() -> Self {
        Self {
            keys: KeyHasher::new(),
            table: DigestTable::with_capacity(0),
        }
    }
}

impl KeySet {
    pub fn insert(&mut self, key: &str) {
        let _ = self.table.insert((self.keys.digest(key), ()));
    }

    /// Adds `key`; false when it was there already.
    pub fn insert_new(&mut self, key: &str) -> bool {
        self.table.insert((self.keys.digest(key), ())).is_ok()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.table.get(&self.keys.digest(key)).is_some()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

impl<'k> FromIterator<&'k str> for KeySet {
    fn from_iter<I: IntoIterator<Item = &'k str>>(keys: I) -> Self {
        let mut set = Self::default();
        for key in keys {
            set.insert(key);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_tell_keys_and_members_apart() {
        let keys = KeyHasher::new();
        let members = crate::sample::generate_roster(3, 1, "pec.fofi.it");
        assert_eq!(keys.member(&members[0]), keys.member(&members[0].clone()));
        assert_ne!(keys.member(&members[0]), keys.member(&members[1]));
        let mut changed = members[0].clone();
        changed.cellulare = None;
        assert_ne!(keys.member(&members[0]), keys.member(&changed));
        assert_eq!(keys.digest("A"), keys.digest("A"));
        assert_ne!(keys.digest("A"), keys.digest("B"));
    }

    #[test]
    fn a_table_finds_every_entry_and_refuses_a_key_twice() {
        let keys = KeyHasher::new();
        let mut table = DigestTable::with_capacity(3);
        for i in 0..10_000u32 {
            assert_eq!(
                table.insert((keys.digest(&i.to_string()), i)),
                Ok(i as usize)
            );
        }
        assert_eq!(table.insert((keys.digest("17"), 99)), Err(17));
        assert_eq!(table.len(), 10_000);
        for i in 0..10_000u32 {
            let found = table.get(&keys.digest(&i.to_string())).unwrap();
            assert_eq!(table.entries()[found].1, i);
        }
        assert_eq!(table.get(&keys.digest("x")), None);
    }
}
