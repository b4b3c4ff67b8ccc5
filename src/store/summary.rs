//! The dashboard's figures from the store: over loaded entries, or counted
//! straight from the tables ([`Store::dashboard_counts`]) so that the first
//! screen shows before a single member is loaded.
//!
//! The counts scan `members` and `mailboxes` (and `aruba_mailboxes` once
//! Aruba has been synced) side by side, keeping per row only a hash of the
//! address and a few flags; the join is done on those hashes, in member id
//! order, exactly as [`Store::roster_entries`] joins (the first member with a
//! PEC takes its mailbox). Rows that decide the states alike are grouped, and
//! each group is classified once by the domain's own rules
//! ([`category::is_in_with`], [`Summary`]) with a representative entry, so the
//! figures cannot drift from what the loaded table shows.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rusqlite::Connection;

use super::{Result, RosterEntry, Store, StoreError, parse_ts};
use crate::domain::aruba::{ArubaMailbox, ArubaSide, ArubaStatus, normalize_aruba_mobile};
use crate::domain::category::{self, Category};
use crate::domain::summary::{DashboardCounts, HISTORY_DAYS};
use crate::domain::{
    MailboxState, Member, MigrationState, PasswordState, RecoveryContacts, Summary,
};
use crate::i18n::italian_time;

/// The figures over loaded entries.
pub fn summarize(entries: &[RosterEntry], pec_domain: &str, now: DateTime<Utc>) -> Summary {
    Summary::compute(
        entries
            .iter()
            .map(|e| (e.member.as_ref(), e.in_roster, e.mailbox.as_ref())),
        pec_domain,
        now,
    )
}

/// A 64-bit hash of a text, the same on every thread and run. Collisions
/// between two addresses of one store are a one-in-10^13 event at 1M rows.
fn text_hash(text: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(text.as_bytes());
    hasher.finish()
}

/// The keys are hashes already.
#[derive(Default)]
struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type ByHash<V> = HashMap<u64, V, BuildHasherDefault<KeyIsHash>>;

/// A mailbox as the counts need it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct MailboxFacts {
    migration: MigrationState,
    /// As of the counts' `now`.
    password: PasswordState,
    email: bool,
    mobile: bool,
    confirmed: bool,
    /// Italian days since a completed migration, within the history.
    migrated_ago: Option<u8>,
}

/// Aruba's copy of a mailbox as the counts need it: hashes of its contacts
/// as `contact_differs` compares them.
#[derive(Clone, Copy)]
struct ArubaFacts {
    blocks: bool,
    email: Option<u64>,
    mobile: Option<u64>,
}

/// A member row: its PEC's hash, whether in the roster and on the domain,
/// and (only when Aruba is known) hashes of its contacts.
struct MemberRow {
    pec: u64,
    in_roster: bool,
    on_domain: bool,
    email: Option<u64>,
    mobile: Option<u64>,
}

/// Everything that decides an entry's states.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Group {
    /// In the roster, PEC on the domain, e-mail differs at Aruba, mobile differs.
    member: Option<(bool, bool, bool, bool)>,
    mailbox: Option<MailboxFacts>,
    /// None: Aruba unknown; Some(None): missing at Aruba; else (no contact, blocks).
    aruba: Option<Option<(bool, bool)>>,
}

fn email_key(email: &str) -> u64 {
    text_hash(&email.trim().to_ascii_lowercase())
}

fn mobile_key(mobile: &str) -> u64 {
    text_hash(&normalize_aruba_mobile(mobile))
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

impl Store {
    /// The dashboard's figures and the count of every state, as of `now`,
    /// counted from the tables without loading the members: what the
    /// console shows first while the table loads behind it.
    pub fn dashboard_counts(
        &self,
        pec_domain: &str,
        now: DateTime<Utc>,
    ) -> Result<DashboardCounts> {
        let aruba_known = self.aruba_synced()?;
        let path = self.path.clone();
        let today = italian_time(now).date();
        let (members, others) = std::thread::scope(|scope| {
            let others = scope.spawn(move || -> Result<_> {
                let store = Store::open(&path)?;
                let mailboxes = mailbox_facts(&store.conn, now, today).map_err(store.err())??;
                let aruba = if aruba_known {
                    Some(aruba_facts(&store.conn).map_err(store.err())?)
                } else {
                    None
                };
                Ok((mailboxes, aruba))
            });
            let members = member_rows(&self.conn, pec_domain, aruba_known).map_err(self.err());
            (members, others.join().expect("counting does not panic"))
        });
        let members = members?;
        let (mailboxes, mut aruba) = others?;
        let mut mailboxes: ByHash<(MailboxFacts, bool)> = mailboxes
            .into_iter()
            .map(|(k, v)| (k, (v, false)))
            .collect();
        let mut groups: HashMap<Group, usize> = HashMap::new();
        for row in &members {
            let mailbox =
                mailboxes
                    .get_mut(&row.pec)
                    .filter(|(_, taken)| !taken)
                    .map(|(facts, taken)| {
                        *taken = true;
                        *facts
                    });
            let at_aruba = aruba.as_mut().map(|aruba| aruba.remove(&row.pec));
            let differs = |mine: Option<u64>, theirs: Option<u64>| matches!((mine, theirs), (Some(a), Some(b)) if a != b);
            let (email_differs, mobile_differs) = match at_aruba {
                Some(Some(a)) => (differs(row.email, a.email), differs(row.mobile, a.mobile)),
                _ => (false, false),
            };
            let group = Group {
                member: Some((row.in_roster, row.on_domain, email_differs, mobile_differs)),
                mailbox,
                aruba: at_aruba.map(|a| a.map(|a| (a.email.is_none(), a.blocks))),
            };
            *groups.entry(group).or_default() += 1;
        }
        for (facts, taken) in mailboxes.into_values() {
            if !taken {
                let group = Group {
                    member: None,
                    mailbox: Some(facts),
                    aruba: None,
                };
                *groups.entry(group).or_default() += 1;
            }
        }
        let mut counts = DashboardCounts {
            summary: Summary::empty(),
            categories: vec![0; Category::ALL.len()],
            aruba_known,
        };
        for (group, count) in groups {
            classify(&mut counts, group, count, pec_domain, today, now);
        }
        Ok(counts)
    }
}

/// Counts `count` entries alike by the domain's rules, through one
/// representative of them.
fn classify(
    counts: &mut DashboardCounts,
    group: Group,
    count: usize,
    pec_domain: &str,
    today: NaiveDate,
    now: DateTime<Utc>,
) {
    let member = group
        .member
        .map(|(_, on_domain, email_differs, mobile_differs)| Member {
            numero_iscrizione: String::new(),
            cognome: String::new(),
            nome: String::new(),
            codice_fiscale: String::new(),
            data_nascita: None,
            data_iscrizione: None,
            pec: if on_domain {
                format!("x@{pec_domain}")
            } else {
                format!("x@altro.{pec_domain}")
            },
            email_servizio: email_differs.then(|| "roster@example.it".to_string()),
            cellulare: mobile_differs.then(|| "+393330000001".to_string()),
            provincia: None,
            data_cancellazione: None,
        });
    let in_roster = group.member.is_some_and(|m| m.0);
    let mailbox = group.mailbox.map(|f| MailboxState {
        address: String::new(),
        migration: f.migration,
        migration_at: None,
        password: f.password,
        link_sent_at: None,
        link_expires_at: None,
        recovery: RecoveryContacts {
            email_masked: f.email.then(String::new),
            mobile_masked: f.mobile.then(String::new),
            confirmed: f.confirmed,
        },
        last_login_at: None,
        must_change_password: false,
        updated_at: now,
    });
    let aruba = match group.aruba {
        None => ArubaSide::Unknown,
        Some(None) => ArubaSide::Missing,
        Some(Some((no_contact, blocks))) => {
            let (email_differs, mobile_differs) =
                group.member.map_or((false, false), |m| (m.2, m.3));
            ArubaSide::Present(ArubaMailbox {
                address: String::new(),
                status: if blocks {
                    ArubaStatus::Suspended
                } else {
                    ArubaStatus::Certified
                },
                owner_id: None,
                contact_email: (!no_contact).then(|| {
                    if email_differs {
                        "aruba@example.it"
                    } else {
                        "roster@example.it"
                    }
                    .to_string()
                }),
                contact_mobile: mobile_differs.then(|| "+393330000002".to_string()),
            })
        }
    };
    if let Some(member) = &member {
        counts.summary.add_member(
            in_roster,
            member.pec_on_domain(pec_domain),
            mailbox.is_some(),
            count,
        );
    }
    if let Some(f) = group.mailbox {
        counts.summary.add_mailbox(
            member.is_none(),
            f.migration,
            f.migrated_ago
                .map(|ago| today - TimeDelta::days(i64::from(ago))),
            f.password,
            (f.email, f.mobile, f.confirmed),
            today,
            count,
        );
    }
    for (i, &c) in Category::ALL.iter().enumerate() {
        if category::is_in_with(
            c,
            member.as_ref(),
            in_roster,
            mailbox.as_ref(),
            &aruba,
            pec_domain,
            now,
        ) {
            counts.categories[i] += count;
        }
    }
}

/// Every member's row, in id order (as the table loads them).
fn member_rows(
    conn: &Connection,
    pec_domain: &str,
    contacts: bool,
) -> rusqlite::Result<Vec<MemberRow>> {
    let count: i64 = conn.query_row(
        "SELECT COUNT(*) FROM members WHERE erased_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare(if contacts {
        "SELECT pec, in_roster, email_servizio, cellulare FROM members
         WHERE erased_at IS NULL ORDER BY id"
    } else {
        "SELECT pec, in_roster FROM members WHERE erased_at IS NULL ORDER BY id"
    })?;
    let mut out = Vec::with_capacity(usize::try_from(count).unwrap_or_default());
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let pec = row.get_ref(0)?.as_str()?;
        let on_domain = crate::domain::contact::domain_of(pec).eq_ignore_ascii_case(pec_domain);
        let (email, mobile) = if contacts {
            (
                row.get_ref(2)?.as_str_or_null()?.map(email_key),
                row.get_ref(3)?.as_str_or_null()?.map(mobile_key),
            )
        } else {
            (None, None)
        };
        out.push(MemberRow {
            pec: text_hash(pec),
            in_roster: row.get(1)?,
            on_domain,
            email,
            mobile,
        });
    }
    Ok(out)
}

/// Every mailbox's facts by its address's hash.
fn mailbox_facts(
    conn: &Connection,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> rusqlite::Result<Result<ByHash<MailboxFacts>>> {
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM mailboxes", [], |r| r.get(0))?;
    let mut stmt = conn.prepare(
        "SELECT address, migration_state, migration_at, password_state, link_expires_at,
         recovery_email_masked IS NOT NULL, recovery_mobile_masked IS NOT NULL,
         recovery_confirmed FROM mailboxes",
    )?;
    let mut out = ByHash::with_capacity_and_hasher(
        usize::try_from(count).unwrap_or_default(),
        Default::default(),
    );
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let code = row.get_ref(1)?.as_str()?;
        let Some(migration) = MigrationState::from_code(code) else {
            return Ok(Err(corrupt(format!(
                "stato di migrazione sconosciuto: {code}"
            ))));
        };
        let code = row.get_ref(3)?.as_str()?;
        let Some(mut password) = PasswordState::from_code(code) else {
            return Ok(Err(corrupt(format!(
                "stato della password sconosciuto: {code}"
            ))));
        };
        if password == PasswordState::ResetPending
            && let Some(expiry) = row.get_ref(4)?.as_str_or_null()?
        {
            match parse_ts(expiry) {
                Ok(expiry) if expiry <= now => password = PasswordState::LinkExpired,
                Ok(_) => {}
                Err(e) => return Ok(Err(e)),
            }
        }
        let mut migrated_ago = None;
        if migration == MigrationState::Completed
            && let Some(at) = row.get_ref(2)?.as_str_or_null()?
        {
            let at = match parse_ts(at) {
                Ok(at) => at,
                Err(e) => return Ok(Err(e)),
            };
            let ago = (today - italian_time(at).date()).num_days();
            if (0..HISTORY_DAYS as i64).contains(&ago) {
                migrated_ago = Some(ago as u8);
            }
        }
        let facts = MailboxFacts {
            migration,
            password,
            email: row.get(5)?,
            mobile: row.get(6)?,
            confirmed: row.get(7)?,
            migrated_ago,
        };
        out.insert(text_hash(row.get_ref(0)?.as_str()?), facts);
    }
    Ok(Ok(out))
}

/// Aruba's mailboxes by their address's hash.
fn aruba_facts(conn: &Connection) -> rusqlite::Result<ByHash<ArubaFacts>> {
    let mut stmt =
        conn.prepare("SELECT address, status, contact_email, contact_mobile FROM aruba_mailboxes")?;
    let mut out = ByHash::default();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let facts = ArubaFacts {
            blocks: ArubaStatus::from_code(row.get_ref(1)?.as_str()?).blocks_migration(),
            email: row.get_ref(2)?.as_str_or_null()?.map(email_key),
            mobile: row.get_ref(3)?.as_str_or_null()?.map(mobile_key),
        };
        out.insert(text_hash(row.get_ref(0)?.as_str()?), facts);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DEFAULT_PEC_DOMAIN;
    use crate::store::IncomingRoster;

    /// What the console computes from the loaded entries.
    fn from_entries(store: &Store, now: DateTime<Utc>) -> DashboardCounts {
        let entries = store.roster_entries().unwrap();
        DashboardCounts {
            summary: summarize(&entries, DEFAULT_PEC_DOMAIN, now),
            categories: Category::ALL
                .iter()
                .map(|&c| {
                    entries
                        .iter()
                        .filter(|e| {
                            category::is_in_with(
                                c,
                                e.member.as_ref(),
                                e.in_roster,
                                e.mailbox.as_ref(),
                                &e.aruba,
                                DEFAULT_PEC_DOMAIN,
                                now,
                            )
                        })
                        .count()
                })
                .collect(),
            aruba_known: entries
                .first()
                .is_some_and(|e| !matches!(e.aruba, ArubaSide::Unknown)),
        }
    }

    /// Every state, removed members, external PECs, mailboxes with no
    /// member, and Aruba's side in every shape: the counts from the tables
    /// equal the counts over the loaded entries, before and after Aruba.
    #[test]
    fn counts_from_the_tables_equal_those_of_the_loaded_entries() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = Utc::now();
        let roster = crate::sample::generate_roster(600, 11, DEFAULT_PEC_DOMAIN);
        store
            .upsert_members(&IncomingRoster::full(&roster), "t", "t", now)
            .unwrap();
        // A later roster without the last 50: they are removed.
        store
            .upsert_members(&IncomingRoster::full(&roster[..550]), "t", "t", now)
            .unwrap();
        let mut states: Vec<MailboxState> = roster
            .iter()
            .enumerate()
            .filter(|(i, m)| m.pec_on_domain(DEFAULT_PEC_DOMAIN) && i % 13 != 0)
            .map(|(i, m)| {
                let migration = MigrationState::ALL[i % 4];
                let password = PasswordState::ALL[(i / 4) % 4];
                let sent = now - TimeDelta::hours((i % 50) as i64);
                MailboxState {
                    address: m.pec.clone(),
                    migration,
                    migration_at: Some(now - TimeDelta::hours((i * 7 % 900) as i64)),
                    password,
                    link_sent_at: Some(sent),
                    link_expires_at: (i % 5 != 0).then(|| sent + TimeDelta::hours(24)),
                    recovery: RecoveryContacts {
                        email_masked: (i % 3 != 0).then(|| "a***@b.it".into()),
                        mobile_masked: (i % 7 < 3).then(|| "***123".into()),
                        confirmed: i % 2 == 0,
                    },
                    last_login_at: None,
                    must_change_password: false,
                    updated_at: now,
                }
            })
            .collect();
        for i in 0..17 {
            let mut orphan = states[i].clone();
            orphan.address = format!("orfano{i}@{DEFAULT_PEC_DOMAIN}");
            states.push(orphan);
        }
        store.apply_sync(&states, "t", now, now).unwrap();
        let counted = store.dashboard_counts(DEFAULT_PEC_DOMAIN, now).unwrap();
        assert_eq!(counted, from_entries(&store, now));
        assert!(!counted.aruba_known);
        assert!(counted.count(Category::NoMember) == 17);
        assert!(counted.count(Category::Removed) > 0);
        assert!(counted.count(Category::ExternalPec) > 0);
        assert!(counted.summary.per_day.iter().any(|&d| d > 0));

        let aruba: Vec<ArubaMailbox> = roster
            .iter()
            .enumerate()
            .filter(|(i, m)| m.pec_on_domain(DEFAULT_PEC_DOMAIN) && i % 11 != 0)
            .map(|(i, m)| ArubaMailbox {
                address: m.pec.clone(),
                status: ArubaStatus::from_code(["CERTIFICATO", "SOSPESO", "DA_CERTIFICARE"][i % 3]),
                owner_id: Some(i as i64),
                contact_email: match i % 4 {
                    0 => None,
                    1 => m
                        .email_servizio
                        .as_ref()
                        .map(|e| format!(" {} ", e.to_uppercase())),
                    _ => Some(format!("altro{i}@example.it")),
                },
                contact_mobile: match i % 5 {
                    0 => None,
                    1 => Some(format!("{}0", m.cellulare.clone().unwrap_or_default())),
                    _ => m
                        .cellulare
                        .as_ref()
                        .map(|c| c.trim_start_matches("+39").to_string()),
                },
            })
            .collect();
        store.apply_aruba_sync(&aruba, "t", now, now).unwrap();
        let counted = store.dashboard_counts(DEFAULT_PEC_DOMAIN, now).unwrap();
        assert_eq!(counted, from_entries(&store, now));
        assert!(counted.aruba_known);
        for c in category::ARUBA {
            assert!(counted.count(c) > 0, "{c:?}");
        }
    }
}
