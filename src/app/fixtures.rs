//! A small fixed console state for unit and snapshot tests.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::{Action, Effect, Settings, Snapshot, State, TableIndex, update};
use crate::domain::{MailboxState, MigrationState, PasswordState, RecoveryContacts};
use crate::i18n::Lang;
use crate::sample::generate_roster;
use crate::store::{RosterEntry, RosterRows, SyncRun};

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 30, 0).unwrap()
}

/// 40 members with a deterministic spread of states, plus one mailbox with no
/// member; loaded into a state as the runtime would.
pub fn state(lang: Lang) -> State {
    state_with(lang, entries())
}

/// The fixture's entries in full, in load order.
pub fn entries() -> Vec<RosterEntry> {
    let now = now();
    let mut entries: Vec<RosterEntry> = generate_roster(40, 11, "pec.fofi.it")
        .into_iter()
        .enumerate()
        .map(|(i, mut member)| {
            if i == 39 {
                // Out of the albo (below) since a day the roster gave.
                member.data_cancellazione = chrono::NaiveDate::from_ymd_opt(2026, 10, 31);
            }
            let on_domain = member.pec_on_domain("pec.fofi.it");
            let mailbox = (on_domain && i % 13 != 7).then(|| {
                let migration = MigrationState::ALL[[1, 1, 0, 1, 2, 1, 3, 0][i % 8]];
                let completed = migration == MigrationState::Completed;
                let password = if completed {
                    PasswordState::ALL[[1, 1, 2, 3, 0][i % 5]]
                } else {
                    PasswordState::NotSet
                };
                let sent = now
                    - TimeDelta::hours(if password == PasswordState::LinkExpired {
                        30
                    } else {
                        3
                    });
                let pending = matches!(
                    password,
                    PasswordState::ResetPending | PasswordState::LinkExpired
                );
                MailboxState {
                    address: member.pec.clone(),
                    migration,
                    migration_at: (migration != MigrationState::NotStarted)
                        .then(|| now - TimeDelta::days(i as i64)),
                    password,
                    link_sent_at: pending.then_some(sent),
                    link_expires_at: pending.then(|| sent + TimeDelta::hours(24)),
                    recovery: RecoveryContacts {
                        email_masked: (i % 6 != 5)
                            .then(|| {
                                member
                                    .email_servizio
                                    .as_deref()
                                    .map(crate::domain::contact::mask_email)
                            })
                            .flatten(),
                        mobile_masked: member
                            .cellulare
                            .as_deref()
                            .map(crate::domain::contact::mask_mobile),
                        confirmed: completed && i % 2 == 0,
                    },
                    last_login_at: completed.then(|| now - TimeDelta::hours(i as i64)),
                    must_change_password: false,
                    updated_at: now - TimeDelta::hours(1),
                }
            });
            RosterEntry {
                member_id: Some(i as i64 + 1),
                member: Some(member),
                in_roster: i != 39,
                mailbox,
                aruba: Default::default(),
            }
        })
        .collect();
    entries.push(RosterEntry {
        member_id: None,
        member: None,
        in_roster: false,
        mailbox: Some(MailboxState {
            address: "cessato.1@pec.fofi.it".into(),
            migration: MigrationState::NotStarted,
            migration_at: None,
            password: PasswordState::NotSet,
            link_sent_at: None,
            link_expires_at: None,
            recovery: RecoveryContacts::default(),
            last_login_at: None,
            must_change_password: false,
            updated_at: now,
        }),
        aruba: Default::default(),
    });
    entries
}

fn state_with(lang: Lang, entries: Vec<RosterEntry>) -> State {
    let now = now();
    let mut state = State::new(
        Settings {
            lang,
            pec_domain: "pec.fofi.it".into(),
            ordine: "Ordine dei Farmacisti di Prova".into(),
            cutover: chrono::NaiveDate::from_ymd_opt(2026, 12, 31),
        },
        now,
    );
    load(
        &mut state,
        Snapshot {
            entries: RosterRows::from_entries(entries),
            last_sync: Some(SyncRun {
                started_at: now - TimeDelta::minutes(2),
                finished_at: now - TimeDelta::minutes(2),
                ok: true,
                mailboxes: 38,
                changes: 0,
                error: None,
            }),
        },
    );
    state
}

/// Loads `snapshot` as the runtime does, building the table's index at once.
pub(crate) fn load(state: &mut State, snapshot: Snapshot) {
    let effects = update(state, Action::Loaded(Ok(snapshot)));
    perform(state, effects);
}

/// Performs, as the runtime would and at once, the effects that build the
/// table's index and order and read an entry in full (from the fixture's
/// entries: [`aruba_entries`] once Aruba's side is known); the others are
/// left out.
pub(crate) fn perform(state: &mut State, effects: Vec<Effect>) {
    for effect in effects {
        let action = match effect {
            Effect::BuildIndex(request) => Action::Indexed(Box::new(TableIndex::build(&request))),
            Effect::Sort(request) => Action::Sorted(Box::new(request.run())),
            Effect::LoadEntry {
                entry,
                member_id,
                address,
            } => {
                let full = if state.entries.aruba_known() {
                    aruba_entries()
                } else {
                    entries()
                };
                let found = full
                    .into_iter()
                    .find(|e| e.member_id == member_id && e.address() == address)
                    .expect("a fixture entry");
                Action::EntryLoaded {
                    entry,
                    result: Ok(Box::new(found)),
                }
            }
            _ => continue,
        };
        let more = update(state, action);
        perform(state, more);
    }
}

/// [`update`], then [`perform`].
pub(crate) fn act(state: &mut State, action: impl Into<Action>) {
    let effects = update(state, action.into());
    perform(state, effects);
}

/// The fixture with Aruba's side synced: a deterministic spread of members
/// with no mailbox at Aruba, no contact, another e-mail, a suspended mailbox.
pub fn with_aruba(mut state: State) -> State {
    let last_sync = state.last_sync.clone();
    let entries = RosterRows::from_entries(aruba_entries());
    load(&mut state, Snapshot { entries, last_sync });
    state
}

/// [`entries`] with Aruba's side ([`with_aruba`]).
pub fn aruba_entries() -> Vec<RosterEntry> {
    use crate::domain::aruba::{ArubaMailbox, ArubaSide, ArubaStatus};
    let mut entries = entries();
    for (i, entry) in entries.iter_mut().enumerate() {
        let Some(member) = entry.member.clone() else {
            entry.aruba = ArubaSide::Missing;
            continue;
        };
        let mut mailbox = ArubaMailbox {
            address: member.pec.clone(),
            status: ArubaStatus::Certified,
            owner_id: Some(18_000_000 + i as i64),
            contact_email: member.email_servizio.clone(),
            contact_mobile: member.cellulare.clone(),
        };
        match i % 10 {
            3 => {
                entry.aruba = ArubaSide::Missing;
                continue;
            }
            4 => (mailbox.contact_email, mailbox.contact_mobile) = (None, None),
            5 => mailbox.contact_email = Some(format!("vecchio.{i}@libero.it")),
            6 => mailbox.status = ArubaStatus::Suspended,
            _ => {}
        }
        entry.aruba = ArubaSide::Present(mailbox);
    }
    entries
}
