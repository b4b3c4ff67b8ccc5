//! The console's view of the store: every member with their mailbox, then
//! every mailbox with no member. Read at every start and after every sync, so
//! built for 100k members: members and mailboxes load side by side on two
//! connections (WAL lets readers run together), rows are read in place, and
//! the join happens on the mailbox side while the members are still loading.

use std::collections::HashMap;
use std::sync::mpsc;

use chrono::NaiveDate;
use rusqlite::Connection;

use super::roster::RosterEntry;
use super::{Result, Store, StoreError};
use crate::domain::{MailboxState, Member};

impl Store {
    /// The console's view: every member (in id order) with their mailbox, if
    /// any, then every mailbox with no member, by address.
    pub fn roster_entries(&self) -> Result<Vec<RosterEntry>> {
        let path = self.path.clone();
        let (members_tx, members_rx) = mpsc::sync_channel::<Vec<RosterEntry>>(1);
        std::thread::scope(|scope| {
            let joiner = scope.spawn(move || -> Result<Vec<RosterEntry>> {
                let mailboxes = Store::open(&path)?.mailbox_states()?;
                // Which mailbox each address is, built while the members load.
                let by_address: HashMap<&str, u32> = mailboxes
                    .iter()
                    .enumerate()
                    .map(|(i, m)| (m.address.as_str(), i as u32))
                    .collect();
                // The members failed to load: their error is the one to report.
                let Ok(mut entries) = members_rx.recv() else {
                    return Ok(Vec::new());
                };
                let matched: Vec<Option<u32>> = entries
                    .iter()
                    .map(|e| {
                        let pec = e.member.as_ref().map_or("", |m| m.pec.as_str());
                        by_address.get(pec).copied()
                    })
                    .collect();
                drop(by_address);
                let mut mailboxes: Vec<Option<MailboxState>> =
                    mailboxes.into_iter().map(Some).collect();
                for (entry, index) in entries.iter_mut().zip(matched) {
                    entry.mailbox = index.and_then(|i| mailboxes[i as usize].take());
                }
                let mut orphans: Vec<MailboxState> = mailboxes.into_iter().flatten().collect();
                orphans.sort_unstable_by(|a, b| a.address.cmp(&b.address));
                entries.extend(orphans.into_iter().map(|mailbox| RosterEntry {
                    member_id: None,
                    member: None,
                    in_roster: false,
                    mailbox: Some(mailbox),
                }));
                Ok(entries)
            });
            let members = member_entries(&self.conn).map_err(self.err());
            let members_error = match members {
                Ok(entries) => {
                    // The joiner only stops listening when it failed itself.
                    let _ = members_tx.send(entries);
                    None
                }
                Err(e) => {
                    drop(members_tx);
                    Some(e)
                }
            };
            let joined = joiner.join().expect("the joining thread does not panic");
            match members_error {
                Some(e) => Err(e),
                None => joined,
            }
        })
    }
}

/// Every member as an entry without a mailbox yet, in id order.
fn member_entries(conn: &Connection) -> rusqlite::Result<Vec<RosterEntry>> {
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM members", [], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, numero_iscrizione, cognome, nome, codice_fiscale, data_nascita,
         data_iscrizione, pec, email_servizio, cellulare, provincia, in_roster
         FROM members ORDER BY id",
    )?;
    // Sized up front: growing a 100k-row vector by doubling copies it over and over.
    let mut entries = Vec::with_capacity(usize::try_from(count).unwrap_or_default());
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
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
        entries.push(RosterEntry {
            member_id: Some(row.get(0)?),
            member: Some(Member {
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
            }),
            in_roster: row.get(11)?,
            mailbox: None,
        });
    }
    Ok(entries)
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
