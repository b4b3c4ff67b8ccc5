//! Sorting of the member table by any column.

use std::cmp::Ordering;

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

fn name_key(entry: &RosterEntry) -> (bool, String, String) {
    match &entry.member {
        Some(m) => (false, m.cognome.to_lowercase(), m.nome.to_lowercase()),
        // Mailboxes with no member go last.
        None => (true, String::new(), String::new()),
    }
}

/// Entry indices ordered by `sort`; ties broken by name, then address, so the
/// order is total and stable across reloads.
pub fn sorted(entries: &[RosterEntry], sort: Sort, now: DateTime<Utc>) -> Vec<u32> {
    // Keys are built once per entry, not per comparison: this runs on 100k rows.
    let names: Vec<(bool, String, String)> = entries.iter().map(name_key).collect();
    let primary: Vec<(u8, String)> = entries
        .iter()
        .map(|e| match sort.column {
            SortColumn::Name => (0, String::new()),
            SortColumn::CodiceFiscale => (
                e.member.is_none() as u8,
                e.member
                    .as_ref()
                    .map(|m| m.codice_fiscale.clone())
                    .unwrap_or_default(),
            ),
            SortColumn::Pec => (0, e.address().to_string()),
            SortColumn::Migration => (
                e.mailbox.as_ref().map_or(9, |m| m.migration as u8),
                String::new(),
            ),
            SortColumn::Password => (
                e.mailbox.as_ref().map_or(9, |m| m.password_at(now) as u8),
                String::new(),
            ),
            SortColumn::Recovery => (
                e.mailbox.as_ref().map_or(9, |m| {
                    if m.recovery.email_masked.is_some() {
                        0
                    } else if m.recovery.mobile_masked.is_some() {
                        1
                    } else {
                        2
                    }
                }),
                String::new(),
            ),
        })
        .collect();
    let mut order: Vec<u32> = (0..entries.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        let by_column = primary[a].cmp(&primary[b]);
        let by_column = if sort.descending {
            by_column.reverse()
        } else {
            by_column
        };
        by_column
            .then_with(|| names[a].cmp(&names[b]))
            .then_with(|| entries[a].address().cmp(entries[b].address()))
            .then(Ordering::Equal)
    });
    order
}
