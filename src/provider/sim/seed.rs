//! The simulator's initial mailboxes: one per member on the Ordine's domain, a
//! few missing, a few left over from members no longer in the roster, with a
//! realistic, reproducible spread of states.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::contact::{mask_email, mask_mobile};
use crate::domain::{
    MailboxState, Member, MigrationState, PasswordState, RECOVERY_LINK_VALIDITY, RecoveryContacts,
};

use super::state::SimMailbox;

/// Share of roster members on the domain that have no mailbox at the provider.
const MISSING_SHARE: f64 = 0.01;
/// Share of mailboxes without any recovery contact.
const NO_RECOVERY_SHARE: f64 = 0.08;

fn seconds(rng: &mut StdRng, from: TimeDelta, to: TimeDelta) -> TimeDelta {
    TimeDelta::seconds(rng.random_range(from.num_seconds()..to.num_seconds()))
}

fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

fn hours(n: i64) -> TimeDelta {
    TimeDelta::hours(n)
}

/// Draws one mailbox's state; `service_email` and `mobile` are the contacts the
/// member gave the Ordine (carried over from Aruba as recovery options).
fn draw_mailbox(
    rng: &mut StdRng,
    address: String,
    service_email: Option<&str>,
    mobile: Option<&str>,
    now: DateTime<Utc>,
) -> SimMailbox {
    let (service_email, mobile) = if rng.random_bool(NO_RECOVERY_SHARE) {
        (None, None)
    } else {
        (service_email, mobile)
    };
    let recovery = RecoveryContacts {
        email_masked: service_email.map(mask_email),
        mobile_masked: mobile.map(mask_mobile),
        confirmed: false,
    };
    // The mailbox was provisioned at Aruba long ago; this is when the provider
    // last touched it if nothing else happened since.
    let provisioned = now - seconds(rng, days(30), days(120));
    let mut mailbox = MailboxState {
        address,
        migration: MigrationState::NotStarted,
        migration_at: None,
        password: PasswordState::NotSet,
        link_sent_at: None,
        link_expires_at: None,
        recovery,
        last_login_at: None,
        must_change_password: false,
        updated_at: provisioned,
    };
    let roll: f64 = rng.random();
    if roll < 0.56 {
        complete(rng, &mut mailbox, now);
    } else if roll < 0.90 {
        // Not started: nothing more.
    } else {
        mailbox.migration = if roll < 0.96 {
            MigrationState::FailedCredentials
        } else {
            MigrationState::FailedTwoFactor
        };
        let at = now - seconds(rng, TimeDelta::minutes(10), days(21));
        mailbox.migration_at = Some(at);
        mailbox.updated_at = at;
    }
    SimMailbox::new(
        mailbox,
        service_email.map(str::to_string),
        mobile.map(str::to_string),
    )
}

fn complete(rng: &mut StdRng, mailbox: &mut MailboxState, now: DateTime<Utc>) {
    let migrated = now - seconds(rng, hours(1), days(60));
    mailbox.migration = MigrationState::Completed;
    mailbox.migration_at = Some(migrated);
    mailbox.updated_at = migrated;
    let has_contact = !mailbox.recovery.is_empty();
    if has_contact && rng.random_bool(0.65) {
        mailbox.recovery.confirmed = true;
    }
    if rng.random_bool(0.5) {
        let since = (now - migrated).num_seconds().max(2);
        mailbox.last_login_at = Some(migrated + TimeDelta::seconds(rng.random_range(1..since)));
    }
    let can_get_link = mailbox.recovery.email_masked.is_some();
    let roll: f64 = rng.random();
    mailbox.password = if roll < 0.75 {
        PasswordState::Set
    } else if roll < 0.85 && can_get_link {
        // A link sent within the last 24 hours, still valid.
        let sent = now - seconds(rng, TimeDelta::minutes(5), hours(23));
        let sent = sent.max(migrated);
        mailbox.link_sent_at = Some(sent);
        mailbox.link_expires_at = Some(sent + RECOVERY_LINK_VALIDITY);
        mailbox.updated_at = mailbox.updated_at.max(sent);
        PasswordState::ResetPending
    } else if roll < 0.93 && can_get_link {
        // A link that was never used: expired between 1 hour and 2 weeks ago.
        let expired = now - seconds(rng, hours(1), days(14));
        let sent = expired - RECOVERY_LINK_VALIDITY;
        if sent < migrated {
            PasswordState::Set
        } else {
            mailbox.link_sent_at = Some(sent);
            mailbox.link_expires_at = Some(expired);
            mailbox.updated_at = mailbox.updated_at.max(expired);
            PasswordState::LinkExpired
        }
    } else if roll < 0.93 {
        PasswordState::Set
    } else {
        PasswordState::NotSet
    };
}

/// The mailboxes the simulated provider holds at `now`, keyed by lower-case address.
pub(super) fn generate(
    members: &[Member],
    seed: u64,
    pec_domain: &str,
    now: DateTime<Utc>,
) -> BTreeMap<String, SimMailbox> {
    let mut rng = StdRng::seed_from_u64(seed);
    let domain = pec_domain.trim().to_lowercase();
    let mut mailboxes = BTreeMap::new();
    let mut on_domain = 0usize;
    for member in members.iter().filter(|m| m.pec_on_domain(&domain)) {
        on_domain += 1;
        let address = member.pec.trim().to_lowercase();
        // Drawn for every member so that the spread does not depend on duplicates.
        let missing = rng.random_bool(MISSING_SHARE);
        let mailbox = draw_mailbox(
            &mut rng,
            address.clone(),
            member.email_servizio.as_deref(),
            member.cellulare.as_deref(),
            now,
        );
        if !missing {
            mailboxes.entry(address).or_insert(mailbox);
        }
    }
    // Mailboxes of former members, no longer in the roster (~1%).
    let extra = (on_domain + 50) / 100;
    let mut n = 0;
    let mut added = 0;
    while added < extra {
        n += 1;
        let address = format!("cessato.{n}@{domain}");
        if mailboxes.contains_key(&address) {
            continue;
        }
        let email = rng
            .random_bool(0.7)
            .then(|| format!("ex.iscritto{n}@libero.it"));
        let mailbox = draw_mailbox(&mut rng, address.clone(), email.as_deref(), None, now);
        mailboxes.insert(address, mailbox);
        added += 1;
    }
    mailboxes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::generate_roster;

    #[test]
    fn spread_is_realistic_and_reproducible() {
        let now = Utc::now();
        let roster = generate_roster(5000, 3, "pec.fofi.it");
        let a = generate(&roster, 42, "PEC.fofi.it", now);
        let b = generate(&roster, 42, "pec.fofi.it", now);
        assert_eq!(a, b);
        for m in a.values() {
            assert_eq!(
                m.email.as_deref().map(mask_email),
                m.state.recovery.email_masked
            );
            assert_eq!(
                m.mobile.as_deref().map(mask_mobile),
                m.state.recovery.mobile_masked
            );
        }
        let a: BTreeMap<String, MailboxState> = a.into_iter().map(|(k, m)| (k, m.state)).collect();
        let on_domain = roster
            .iter()
            .filter(|m| m.pec_on_domain("pec.fofi.it"))
            .count();
        let extras = a.keys().filter(|k| k.starts_with("cessato.")).count();
        assert_eq!(extras, (on_domain + 50) / 100);
        let missing = on_domain + extras - a.len();
        assert!(missing > 0 && missing < on_domain / 40, "{missing}");
        let share = |f: &dyn Fn(&MailboxState) -> bool| {
            a.values().filter(|m| f(m)).count() as f64 / a.len() as f64
        };
        let completed = share(&|m| m.migration == MigrationState::Completed);
        assert!((0.50..0.62).contains(&completed), "{completed}");
        let not_started = share(&|m| m.migration == MigrationState::NotStarted);
        assert!((0.28..0.40).contains(&not_started), "{not_started}");
        let no_contact = share(&|m| m.recovery.is_empty());
        assert!((0.05..0.13).contains(&no_contact), "{no_contact}");
        for m in a.values() {
            match m.migration {
                MigrationState::NotStarted => {
                    assert_eq!(m.password, PasswordState::NotSet);
                    assert!(m.migration_at.is_none());
                }
                _ => assert!(m.migration_at.is_some_and(|at| at <= now)),
            }
            if m.password == PasswordState::ResetPending {
                let expiry = m.link_expires_at.unwrap();
                assert!(expiry > now);
                assert_eq!(expiry - m.link_sent_at.unwrap(), RECOVERY_LINK_VALIDITY);
                assert!(m.recovery.email_masked.is_some());
            }
            if m.password == PasswordState::LinkExpired {
                assert!(m.link_expires_at.unwrap() <= now);
            }
            assert!(m.updated_at <= now);
        }
        for state in PasswordState::ALL {
            assert!(a.values().any(|m| m.password == *state), "{state:?}");
        }
        for state in MigrationState::ALL {
            assert!(a.values().any(|m| m.migration == *state), "{state:?}");
        }
    }
}
