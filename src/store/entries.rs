//! The console's view of the store: every member with their mailbox, then
//! every mailbox with no member. Read at every start and after every sync, so
//! built for 100k members: members and mailboxes load side by side on two
//! connections (WAL lets readers run together), rows are read in place, and
//! the join happens on the mailbox side while the members are still loading.

use std::collections::HashMap;
use std::sync::mpsc;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::roster::{RosterEntry, read_member, read_members};
use super::rows::{ArubaListing, MailboxRow, RosterRows};
use super::{Result, Store, StoreError, parse_ts};
use crate::domain::aruba::{ArubaMailbox, ArubaSide};
use crate::domain::{MailboxState, MigrationState, PasswordState};

impl Store {
    /// The console's view: every member (in id order) with their mailbox, if
    /// any, then every mailbox with no member, by address.
    pub fn roster_entries(&self) -> Result<Vec<RosterEntry>> {
        self.beside_members(member_entries, |store, members_rx| {
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
        })
    }

    /// Reads the members on this connection while `join` runs beside it on
    /// another, receiving them when they are in: the two loads of the
    /// console. A failure of the members' read is the one reported.
    fn beside_members<M: Send, R: Send>(
        &self,
        members: impl FnOnce(&Connection) -> rusqlite::Result<M>,
        join: impl FnOnce(&Store, mpsc::Receiver<M>) -> Result<R> + Send,
    ) -> Result<R> {
        let path = self.path.clone();
        let (members_tx, members_rx) = mpsc::sync_channel::<M>(1);
        std::thread::scope(|scope| {
            let joiner = scope.spawn(move || join(&Store::open(&path)?, members_rx));
            let members_error = match members(&self.conn).map_err(self.err()) {
                Ok(members) => {
                    // The joiner only stops listening when it failed itself.
                    let _ = members_tx.send(members);
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

/// The mailboxes as the rows' load keeps them while the members load: their
/// addresses back to back, and their states as a row holds them.
#[derive(Default)]
struct MailboxRows {
    addresses: String,
    /// Where each address ends in `addresses`.
    ends: Vec<usize>,
    states: Vec<MailboxRow>,
}

impl MailboxRows {
    fn address(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.addresses[start..self.ends[i]]
    }
}

impl Store {
    /// The console's entries, compactly ([`RosterRows`]): the same entries
    /// in the same order as [`Store::roster_entries`], read as a stream.
    /// Members and mailboxes load side by side on two connections; the
    /// mailboxes' side keeps only their states and addresses, and joins them
    /// to the members by address once the members are in.
    pub fn roster_rows(&self) -> Result<RosterRows> {
        crate::memory::give_back_large_buffers();
        self.beside_members(member_rows, |store, members_rx| {
            let mailboxes = mailbox_rows(&store.conn).map_err(store.err())??;
            let aruba = if store.aruba_synced()? {
                Some(aruba_listing(&store.conn).map_err(store.err())?)
            } else {
                None
            };
            let by_address: foldhash::HashMap<&str, u32> = (0..mailboxes.states.len())
                .map(|i| (mailboxes.address(i), i as u32))
                .collect();
            let Ok(mut rows) = members_rx.recv() else {
                return Ok(RosterRows::default());
            };
            // The first member with an address takes its mailbox.
            let mut taken = vec![false; mailboxes.states.len()];
            let matched: Vec<Option<u32>> = rows
                .iter()
                .map(|row| {
                    let i = *by_address.get(row.address())?;
                    (!std::mem::replace(&mut taken[i as usize], true)).then_some(i)
                })
                .collect();
            drop(by_address);
            for (index, mailbox) in matched.into_iter().enumerate() {
                if let Some(i) = mailbox {
                    rows.set_mailbox(index, mailboxes.states[i as usize]);
                }
            }
            let mut orphans: Vec<usize> = (0..taken.len()).filter(|&i| !taken[i]).collect();
            orphans.sort_unstable_by(|&a, &b| mailboxes.address(a).cmp(mailboxes.address(b)));
            for i in orphans {
                rows.push_orphan(mailboxes.address(i), mailboxes.states[i]);
            }
            drop(mailboxes);
            if let Some(aruba) = aruba {
                rows.join_aruba(&aruba);
            }
            rows.shrink_to_fit();
            Ok(rows)
        })
    }

    /// One entry in full, as [`Store::roster_entries`] would give it: the
    /// member `member_id` (if any) with the mailbox at `address` and
    /// Aruba's copy. For the detail of one row.
    pub fn roster_entry(&self, member_id: Option<i64>, address: &str) -> Result<RosterEntry> {
        let member = match member_id {
            Some(id) => read_member(&self.conn, id).map_err(self.err())?,
            None => None,
        };
        // The mailbox (and Aruba's copy) is the first member's with that
        // address, as the load joins them.
        let first: Option<i64> = self
            .conn
            .query_row(
                "SELECT MIN(id) FROM members WHERE pec = ?1 AND erased_at IS NULL",
                [address],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        let joined = first.is_none() || first == member.as_ref().and(member_id);
        let mut mailbox = None;
        if joined {
            self.each_mailbox_state(Some(address), |state| mailbox = Some(state))?;
        }
        let aruba = if !self.aruba_synced()? {
            ArubaSide::Unknown
        } else {
            match self.aruba_mailbox(address)?.filter(|_| joined) {
                Some(m) => ArubaSide::Present(m),
                None => ArubaSide::Missing,
            }
        };
        let in_roster = member.as_ref().is_some_and(|(_, in_roster)| *in_roster);
        Ok(RosterEntry {
            member_id: member.as_ref().and(member_id),
            member: member.map(|(m, _)| m),
            in_roster,
            mailbox,
            aruba,
        })
    }
}

/// Every mailbox's address and states as a row keeps them: only those
/// columns, read in place (two instants parsed of the five a mailbox has).
fn mailbox_rows(conn: &Connection) -> rusqlite::Result<Result<MailboxRows>> {
    // Sized once from the last rowid (an index seek), rather than grown by
    // doubling, which copies each buffer and faults its pages in again.
    let last: i64 = conn.query_row("SELECT COALESCE(MAX(rowid), 0) FROM mailboxes", [], |r| {
        r.get(0)
    })?;
    let last = usize::try_from(last).unwrap_or_default();
    let mut out = MailboxRows {
        addresses: String::with_capacity(last * 32),
        ends: Vec::with_capacity(last),
        states: Vec::with_capacity(last),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT address, migration_state, migration_at, password_state, link_expires_at,
         recovery_email_masked IS NOT NULL, recovery_mobile_masked IS NOT NULL,
         recovery_confirmed FROM mailboxes",
    )?;
    let mut query = stmt.query([])?;
    while let Some(row) = query.next()? {
        let instant = |i: usize| -> rusqlite::Result<Result<Option<DateTime<Utc>>>> {
            Ok(row.get_ref(i)?.as_str_or_null()?.map(parse_ts).transpose())
        };
        let (migration, password) = (row.get_ref(1)?.as_str()?, row.get_ref(3)?.as_str()?);
        let states = MigrationState::from_code(migration).zip(PasswordState::from_code(password));
        let Some((migration, password)) = states else {
            return Ok(Err(StoreError::Corrupt(format!(
                "stato sconosciuto: {migration} / {password}"
            ))));
        };
        let (migration_at, link_expires_at) = match (instant(2)?, instant(4)?) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
        };
        out.addresses.push_str(row.get_ref(0)?.as_str()?);
        out.ends.push(out.addresses.len());
        out.states.push(MailboxRow::new(
            (migration, migration_at),
            (password, link_expires_at),
            (row.get(5)?, row.get(6)?, row.get(7)?),
        ));
    }
    Ok(Ok(out))
}

/// Every member as a row without a mailbox yet, in id order: only the
/// columns a row keeps, read in place (no member built and dropped per row).
fn member_rows(conn: &Connection) -> rusqlite::Result<RosterRows> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM members WHERE erased_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    let mut rows = RosterRows::with_capacity(usize::try_from(count).unwrap_or_default());
    let mut stmt = conn.prepare_cached(
        "SELECT id, in_roster, pec, cognome, nome, codice_fiscale, numero_iscrizione,
         email_servizio, cellulare FROM members WHERE erased_at IS NULL ORDER BY id",
    )?;
    let mut query = stmt.query([])?;
    while let Some(row) = query.next()? {
        let text = |i: usize| row.get_ref(i).and_then(|v| Ok(v.as_str_or_null()?));
        // As a `Member` reads them: a missing text is empty, contacts absent.
        let given = |i: usize| text(i).map(Option::unwrap_or_default).map(Some);
        rows.push_member_texts(
            row.get(0)?,
            row.get(1)?,
            [
                given(2)?,
                given(3)?,
                given(4)?,
                given(5)?,
                given(6)?,
                text(7)?,
                text(8)?,
            ],
        );
    }
    Ok(rows)
}

/// Aruba's complete listing, read in place into [`ArubaListing`]: an owned
/// [`ArubaMailbox`] each took some 300 bytes at 1M mailboxes.
fn aruba_listing(conn: &Connection) -> rusqlite::Result<ArubaListing> {
    let mut stmt = conn.prepare_cached(
        "SELECT address, status, owner_id, contact_email, contact_mobile FROM aruba_mailboxes",
    )?;
    let mut listing = ArubaListing::default();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        listing.push(
            row.get_ref(0)?.as_str()?,
            row.get_ref(1)?.as_str()?,
            row.get(2)?,
            [
                row.get_ref(3)?.as_str_or_null()?,
                row.get_ref(4)?.as_str_or_null()?,
            ],
        );
    }
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};

    use super::*;
    use crate::domain::aruba::ArubaStatus;
    use crate::domain::{DEFAULT_PEC_DOMAIN, MigrationState, PasswordState, RecoveryContacts};
    use crate::store::IncomingRoster;

    /// The rows hold what the entries hold, in the same order; one entry
    /// read alone equals the same entry of the whole load. With removed
    /// members, external PECs, a PEC two members share (the first takes the
    /// mailbox), mailboxes with no member, before and after Aruba.
    #[test]
    fn rows_and_one_entry_equal_the_full_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = Utc::now();
        let roster = crate::sample::generate_roster(120, 5, DEFAULT_PEC_DOMAIN);
        store
            .upsert_members(&IncomingRoster::full(&roster), "t", "t", now)
            .unwrap();
        store
            .upsert_members(&IncomingRoster::full(&roster[..110]), "t", "t", now)
            .unwrap();
        store
            .conn
            .execute(
                "UPDATE members SET pec = (SELECT pec FROM members WHERE id = 3) WHERE id = 9",
                [],
            )
            .unwrap();
        let mut states: Vec<MailboxState> = roster
            .iter()
            .enumerate()
            .filter(|(i, m)| m.pec_on_domain(DEFAULT_PEC_DOMAIN) && i % 9 != 0)
            .map(|(i, m)| MailboxState {
                address: m.pec.clone(),
                migration: MigrationState::ALL[i % 4],
                migration_at: Some(now - TimeDelta::hours(i as i64 * 5)),
                password: PasswordState::ALL[(i / 4) % 4],
                link_sent_at: None,
                link_expires_at: (i % 3 != 0).then(|| now + TimeDelta::hours(i as i64 - 60)),
                recovery: RecoveryContacts {
                    email_masked: (i % 2 == 0).then(|| "a***@b.it".into()),
                    mobile_masked: (i % 5 < 2).then(|| "***123".into()),
                    confirmed: i % 7 == 0,
                },
                last_login_at: None,
                must_change_password: i % 11 == 0,
                updated_at: now,
            })
            .collect();
        for i in 0..5 {
            let mut orphan = states[i].clone();
            orphan.address = format!("orfano{i}@{DEFAULT_PEC_DOMAIN}");
            states.push(orphan);
        }
        store.apply_sync(&states, "t", now, now).unwrap();
        let check = |store: &Store| {
            let entries = store.roster_entries().unwrap();
            let rows = store.roster_rows().unwrap();
            assert_eq!(rows, RosterRows::from_entries(entries.clone()));
            for (row, entry) in rows.iter().zip(&entries) {
                let alone = store.roster_entry(row.member_id(), row.address()).unwrap();
                assert_eq!(&alone, entry, "entry {}", row.index());
            }
            entries
        };
        let entries = check(&store);
        assert!(entries.iter().any(|e| e.member.is_none()));
        assert!(entries.iter().any(|e| e.member.is_some() && !e.in_roster));
        // Member 9 shares member 3's PEC: only member 3 has the mailbox.
        let shared = |id| entries.iter().find(|e| e.member_id == Some(id)).unwrap();
        assert!(shared(3).mailbox.is_some() && shared(9).mailbox.is_none());

        let aruba: Vec<ArubaMailbox> = roster
            .iter()
            .enumerate()
            .filter(|(i, m)| m.pec_on_domain(DEFAULT_PEC_DOMAIN) && i % 4 != 0)
            .map(|(i, m)| ArubaMailbox {
                address: m.pec.clone(),
                status: ArubaStatus::from_code(["CERTIFICATO", "SOSPESO", "ALTRO"][i % 3]),
                owner_id: (i % 5 != 0).then_some(i as i64),
                contact_email: (i % 2 == 0).then(|| format!("altro{i}@example.it")),
                contact_mobile: m.cellulare.clone(),
            })
            .collect();
        store.apply_aruba_sync(&aruba, "t", now, now).unwrap();
        let entries = check(&store);
        assert!(entries.iter().any(|e| e.aruba == ArubaSide::Missing));
        assert!(entries.iter().any(|e| e.aruba.mailbox().is_some()));
    }
}
