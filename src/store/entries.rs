//! The console's view of the store: every member with their mailbox, then
//! every mailbox with no member. Read at every start and after every sync, so
//! built for 100k members: members and mailboxes load side by side on two
//! connections (WAL lets readers run together), rows are read in place, and
//! the join happens on the mailbox side while the members are still loading.

use std::collections::HashMap;
use std::sync::mpsc;

use rusqlite::Connection;

use super::roster::{RosterEntry, read_members};
use super::{Result, Store};
use crate::domain::MailboxState;
use crate::domain::aruba::{ArubaMailbox, ArubaSide};

impl Store {
    /// The console's view: every member (in id order) with their mailbox, if
    /// any, then every mailbox with no member, by address.
    pub fn roster_entries(&self) -> Result<Vec<RosterEntry>> {
        let path = self.path.clone();
        let (members_tx, members_rx) = mpsc::sync_channel::<Vec<RosterEntry>>(1);
        std::thread::scope(|scope| {
            let joiner = scope.spawn(move || -> Result<Vec<RosterEntry>> {
                let store = Store::open(&path)?;
                let mailboxes = store.mailbox_states()?;
                // Aruba's side, when a complete listing was ever stored.
                let aruba: Option<HashMap<String, ArubaMailbox>> = if store.aruba_synced()? {
                    Some(
                        store
                            .aruba_mailboxes()?
                            .into_iter()
                            .map(|m| (m.address.clone(), m))
                            .collect(),
                    )
                } else {
                    None
                };
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
                    aruba: ArubaSide::Unknown,
                }));
                if let Some(mut aruba) = aruba {
                    for entry in entries.iter_mut() {
                        let address = entry.address().to_string();
                        entry.aruba = match aruba.remove(&address) {
                            Some(m) => ArubaSide::Present(m),
                            None => ArubaSide::Missing,
                        };
                    }
                }
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
    read_members(conn, |id, member, in_roster| RosterEntry {
        member_id: Some(id),
        member: Some(member),
        in_roster,
        mailbox: None,
        aruba: ArubaSide::Unknown,
    })
}
