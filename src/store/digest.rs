//! Fixed-size keyed digests of strings and members: what an import keeps in
//! memory per row instead of the strings, so that its memory stays flat at a
//! million members.

use std::hash::{BuildHasher, Hash, Hasher, RandomState};

use crate::domain::Member;

/// 128 bits of two SipHashes under keys drawn for one run. Two different
/// values of one import collide with a chance of about 1 in 10^26 at a
/// million rows, and a collision cannot be crafted without the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest([u64; 2]);

/// Draws the keys of [`KeyDigest`]s for one run.
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
        KeyDigest([self.0[0].hash_one(key), self.0[1].hash_one(key)])
    }

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
        KeyDigest([one(&self.0[0]), one(&self.0[1])])
    }
}

/// FNV-1a over an already random digest: hashing it again needs no strength.
#[derive(Default)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// A map keyed by [`KeyDigest`].
pub type DigestMap<V> = std::collections::HashMap<KeyDigest, V, std::hash::BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_tell_members_apart() {
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
}
