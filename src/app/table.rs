//! Sorting of the member table by any column.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use crate::store::{RosterRow, RosterRows};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    #[default]
    Name,
    CodiceFiscale,
    Pec,
    Migration,
    Password,
    Recovery,
}

impl SortColumn {
    pub const ALL: [SortColumn; 6] = [
        SortColumn::Name,
        SortColumn::CodiceFiscale,
        SortColumn::Pec,
        SortColumn::Migration,
        SortColumn::Password,
        SortColumn::Recovery,
    ];

    /// Whether the order changes as time passes (a link pending until its
    /// expiry counts as expired after it).
    pub fn depends_on_clock(self) -> bool {
        self == SortColumn::Password
    }

    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|&c| c == self).expect("listed");
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// The palette's name for the column.
    pub fn name(self) -> &'static str {
        match self {
            SortColumn::Name => "name",
            SortColumn::CodiceFiscale => "cf",
            SortColumn::Pec => "pec",
            SortColumn::Migration => "migration",
            SortColumn::Password => "password",
            SortColumn::Recovery => "recovery",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub column: SortColumn,
    pub descending: bool,
}

/// The orders every sort is made of, off the UI thread: by name (the
/// tie-break of every column) with the index of each load; by codice fiscale
/// and by PEC the first time the table is sorted so ([`super::Effect::Sort`],
/// the table keeps its order meanwhile), then kept for the load. A state
/// column is the name order bucketed by state, a linear pass.
#[derive(Debug, Default)]
pub struct SortOrders {
    by_name: Vec<u32>,
    /// Each entry's position in `by_name`.
    name_rank: OnceLock<Vec<u32>>,
    by_cf: OnceLock<Vec<u32>>,
    by_pec: OnceLock<Vec<u32>>,
}

/// Every entry's name key, back to back: `0`, cognome and nome in lower
/// case, then the address, each after a `\u{1}`; `1` and the address for a
/// mailbox with no member, so those go last. Lower-cased once here, so a
/// tie on the integer prefix is one `memcmp`, not a walk over characters.
struct NameKeys {
    bytes: Vec<u8>,
    /// Where each entry's key starts; one more for the end of the last.
    starts: Vec<u32>,
}

impl NameKeys {
    fn build(rows: &RosterRows) -> Self {
        let mut bytes = Vec::with_capacity(rows.len() * 48);
        let mut starts = Vec::with_capacity(rows.len() + 1);
        for row in rows.iter() {
            starts.push(bytes.len() as u32);
            if row.has_member() {
                bytes.push(b'0');
                push_lowercase(&mut bytes, row.cognome());
                bytes.push(1);
                push_lowercase(&mut bytes, row.nome());
                bytes.push(1);
            } else {
                bytes.push(b'1');
            }
            bytes.extend_from_slice(row.address().as_bytes());
        }
        starts.push(bytes.len() as u32);
        Self { bytes, starts }
    }

    fn key(&self, i: u32) -> &[u8] {
        let i = i as usize;
        &self.bytes[self.starts[i] as usize..self.starts[i + 1] as usize]
    }
}

/// Appends `text` in lower case (UTF-8 bytes order as its characters do);
/// ASCII, as most names are, without a per-character conversion.
fn push_lowercase(out: &mut Vec<u8>, text: &str) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|b| b.to_ascii_lowercase()));
    } else {
        let mut buf = [0u8; 4];
        for c in text.chars().flat_map(char::to_lowercase) {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
}

/// The first 16 bytes of a key as a number, zero-padded: nearly every
/// comparison ends there, on integers.
fn prefix(bytes: &[u8]) -> u128 {
    let mut head = [0u8; 16];
    let n = bytes.len().min(16);
    head[..n].copy_from_slice(&bytes[..n]);
    u128::from_be_bytes(head)
}

/// Sorts `(prefix, index)` pairs by prefix, then by `full` where prefixes tie.
fn sort_by_prefix<P: Ord>(
    mut keyed: Vec<(P, u32)>,
    full: impl Fn(u32, u32) -> std::cmp::Ordering + Sync,
) -> Vec<u32> {
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| full(a.1, b.1)));
    keyed.into_iter().map(|(_, i)| i).collect()
}

impl SortOrders {
    pub fn build(rows: &RosterRows) -> Self {
        let keys = NameKeys::build(rows);
        let by_name = sort_by_prefix(
            (0..rows.len() as u32)
                .map(|i| (prefix(keys.key(i)), i))
                .collect(),
            |a, b| keys.key(a).cmp(keys.key(b)),
        );
        Self {
            by_name,
            ..Self::default()
        }
    }

    fn name_rank(&self) -> &[u32] {
        self.name_rank.get_or_init(|| {
            let mut rank = vec![0u32; self.by_name.len()];
            for (position, &i) in self.by_name.iter().enumerate() {
                rank[i as usize] = position as u32;
            }
            rank
        })
    }

    /// Codice fiscale, then name; mailboxes with no member last, by name.
    fn by_cf(&self, rows: &RosterRows) -> &[u32] {
        self.by_cf.get_or_init(|| {
            let rank = self.name_rank();
            let cf = |i: u32| {
                let row = rows.row(i as usize);
                row.has_member().then(|| row.codice_fiscale())
            };
            sort_by_prefix(
                (0..rows.len() as u32)
                    .map(|i| (cf_prefix(cf(i)), i))
                    .collect(),
                |a, b| {
                    match (cf(a), cf(b)) {
                        (Some(x), Some(y)) => x.cmp(y),
                        _ => std::cmp::Ordering::Equal,
                    }
                    .then(rank[a as usize].cmp(&rank[b as usize]))
                },
            )
        })
    }

    /// Address, then name.
    fn by_pec(&self, rows: &RosterRows) -> &[u32] {
        self.by_pec.get_or_init(|| {
            let rank = self.name_rank();
            let address = |i: u32| rows.row(i as usize).address();
            sort_by_prefix(
                (0..rows.len() as u32)
                    .map(|i| (prefix(address(i).as_bytes()), i))
                    .collect(),
                |a, b| {
                    address(a)
                        .cmp(address(b))
                        .then(rank[a as usize].cmp(&rank[b as usize]))
                },
            )
        })
    }

    /// Entry indices ordered by `sort`; ties broken by name, then address,
    /// so the order is total and stable across reloads. Linear.
    pub fn ordered(&self, rows: &RosterRows, sort: Sort, now: DateTime<Utc>) -> Vec<u32> {
        let text = match sort.column {
            SortColumn::Name => Some(self.by_name.as_slice()),
            SortColumn::CodiceFiscale => Some(self.by_cf(rows)),
            SortColumn::Pec => Some(self.by_pec(rows)),
            _ => None,
        };
        if let Some(order) = text {
            return if sort.descending {
                order.iter().rev().copied().collect()
            } else {
                order.to_vec()
            };
        }
        // A state column: the name order, bucketed by state (names stay
        // ascending within a state either way).
        let state = |row: RosterRow<'_>| -> usize {
            let Some(m) = row.mailbox() else {
                return 9;
            };
            match sort.column {
                SortColumn::Migration => m.migration as usize,
                SortColumn::Password => m.password_at(now) as usize,
                _ if m.recovery_email => 0,
                _ if m.recovery_mobile => 1,
                _ => 2,
            }
        };
        let mut buckets: Vec<Vec<u32>> = vec![Vec::new(); 10];
        for &i in &self.by_name {
            buckets[state(rows.row(i as usize))].push(i);
        }
        if sort.descending {
            buckets.reverse();
        }
        buckets.concat()
    }
}

/// A codice fiscale (16 characters, upper case) after a 0 byte, as one
/// number; no member: all ones, last.
fn cf_prefix(cf: Option<&str>) -> u128 {
    match cf {
        Some(cf) => prefix(cf.as_bytes()) >> 8,
        None => u128::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RosterEntry;

    fn entries() -> Vec<RosterEntry> {
        let now = Utc::now();
        let mut members = crate::sample::generate_roster(3000, 9, "pec.fofi.it");
        members[10].cognome = "Niccolò".into();
        members[11].cognome = "ÉCOLE".into();
        members[12].cognome = "D'Àngelo".into();
        for m in members.iter_mut().take(200) {
            m.cognome = "Rossi".into();
            m.nome = "Maria Grazia".into();
        }
        let mut entries: Vec<RosterEntry> = members
            .into_iter()
            .enumerate()
            .map(|(i, m)| RosterEntry {
                member_id: Some(i as i64),
                mailbox: (i % 7 != 0).then(|| crate::domain::MailboxState {
                    address: m.pec.clone(),
                    migration: crate::domain::MigrationState::ALL[i % 4],
                    migration_at: None,
                    password: crate::domain::PasswordState::ALL[(i / 4) % 4],
                    link_sent_at: None,
                    link_expires_at: Some(now + chrono::TimeDelta::hours(i as i64 % 48 - 24)),
                    recovery: crate::domain::RecoveryContacts {
                        email_masked: (i % 3 == 0).then(String::new),
                        mobile_masked: (i % 5 == 0).then(String::new),
                        confirmed: false,
                    },
                    last_login_at: None,
                    must_change_password: false,
                    updated_at: now,
                }),
                member: Some(m),
                in_roster: true,
                aruba: Default::default(),
            })
            .collect();
        for i in 0..30 {
            let mut orphan = entries[1].clone();
            orphan.member = None;
            orphan.member_id = None;
            orphan.mailbox.as_mut().unwrap().address = format!("z{}@pec.fofi.it", 30 - i);
            entries.push(orphan);
        }
        entries
    }

    /// Every column, both ways, gives the order the string keys gave.
    #[test]
    fn prepared_orders_equal_the_string_key_sort() {
        let entries = entries();
        let rows = RosterRows::from_entries(entries.clone());
        let now = Utc::now();
        let orders = SortOrders::build(&rows);
        for column in SortColumn::ALL {
            for descending in [false, true] {
                let sort = Sort { column, descending };
                assert_eq!(
                    orders.ordered(&rows, sort, now),
                    old::sorted(&entries, sort, now),
                    "{sort:?}"
                );
            }
        }
    }

    /// The sort before issue 17, kept as the reference.
    mod old {
        use super::super::{Sort, SortColumn};
        use crate::store::RosterEntry;
        use chrono::{DateTime, Utc};
        fn name_key(entry: &RosterEntry) -> String {
            let address = entry.address();
            let Some(m) = &entry.member else {
                return format!("1{address}");
            };
            let mut key = String::with_capacity(3 + m.cognome.len() + m.nome.len() + address.len());
            key.push('0');
            push_lowercase(&mut key, &m.cognome);
            key.push('\u{1}');
            push_lowercase(&mut key, &m.nome);
            key.push('\u{1}');
            key.push_str(address);
            key
        }

        /// Appends `text` in lower case; ASCII, as most names are, without a
        /// per-character conversion.
        fn push_lowercase(key: &mut String, text: &str) {
            if text.is_ascii() {
                let start = key.len();
                key.push_str(text);
                key[start..].make_ascii_lowercase();
            } else {
                key.extend(text.chars().flat_map(char::to_lowercase));
            }
        }

        /// The first 16 bytes of a key as a number: most comparisons end there, on
        /// integers, instead of in `memcmp` (this sort runs over 100k rows at start).
        fn prefix(key: &str) -> u128 {
            let mut bytes = [0u8; 16];
            let n = key.len().min(16);
            bytes[..n].copy_from_slice(&key.as_bytes()[..n]);
            u128::from_be_bytes(bytes)
        }

        /// Entry indices ordered by `sort`; ties broken by name, then address, so the
        /// order is total and stable across reloads.
        pub fn sorted(entries: &[RosterEntry], sort: Sort, now: DateTime<Utc>) -> Vec<u32> {
            let names: Vec<String> = entries.iter().map(name_key).collect();
            let primary: Vec<u8> = entries
                .iter()
                .map(|e| match sort.column {
                    SortColumn::Name | SortColumn::CodiceFiscale | SortColumn::Pec => 0,
                    SortColumn::Migration => e.mailbox.as_ref().map_or(9, |m| m.migration as u8),
                    SortColumn::Password => {
                        e.mailbox.as_ref().map_or(9, |m| m.password_at(now) as u8)
                    }
                    SortColumn::Recovery => e.mailbox.as_ref().map_or(9, |m| {
                        if m.recovery.email_masked.is_some() {
                            0
                        } else if m.recovery.mobile_masked.is_some() {
                            1
                        } else {
                            2
                        }
                    }),
                })
                .collect();
            // Text columns sort by their own key, the others by name within a state.
            let keys: Vec<String> = match sort.column {
                SortColumn::CodiceFiscale => entries
                    .iter()
                    .zip(&names)
                    .map(|(e, name)| match &e.member {
                        Some(m) => format!("0{}\u{1}{name}", m.codice_fiscale),
                        None => format!("1{name}"),
                    })
                    .collect(),
                SortColumn::Pec => entries
                    .iter()
                    .zip(&names)
                    .map(|(e, name)| format!("{}\u{1}{name}", e.address()))
                    .collect(),
                _ => names,
            };
            let mut order: Vec<(u8, u128, u32)> = (0..entries.len())
                .map(|i| (primary[i], prefix(&keys[i]), i as u32))
                .collect();
            order.sort_unstable_by(|a, b| {
                let by_state = if sort.descending {
                    b.0.cmp(&a.0)
                } else {
                    a.0.cmp(&b.0)
                };
                let by_key = || {
                    let key =
                        a.1.cmp(&b.1)
                            .then_with(|| keys[a.2 as usize].cmp(&keys[b.2 as usize]));
                    // Descending text columns reverse the key; state columns keep names ascending.
                    match sort.column {
                        SortColumn::Name | SortColumn::CodiceFiscale | SortColumn::Pec
                            if sort.descending =>
                        {
                            key.reverse()
                        }
                        _ => key,
                    }
                };
                by_state.then_with(by_key)
            });
            order.into_iter().map(|(_, _, i)| i).collect()
        }
    }
}
