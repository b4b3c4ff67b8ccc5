//! Sorting of the member table by any column.

use chrono::{DateTime, Utc};

use crate::store::RosterEntry;

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

/// The tie-breaking order of every column: name, then address. Mailboxes with
/// no member go last. One lower-case string per entry, built in one
/// allocation, compared once.
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
            SortColumn::Password => e.mailbox.as_ref().map_or(9, |m| m.password_at(now) as u8),
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
