//! The simulated provider's state: mailboxes, the simulated clock, pending
//! recovery links, remembered idempotency keys and request counters. Pure and
//! synchronous: the HTTP layer locks it, calls one method, and unlocks.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{MailboxState, MigrationState, PasswordState, RECOVERY_LINK_VALIDITY};
use crate::provider::api::{self, IDEMPOTENCY_WINDOW, operation};

/// Requests and state changes of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationStats {
    pub requests: u64,
    pub state_changes: u64,
}

/// How many mailboxes are in each state, keyed by the contract's codes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxStateCounts {
    pub migration: BTreeMap<String, u64>,
    pub password: BTreeMap<String, u64>,
}

/// The answer of `GET /sim/stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStats {
    /// Keyed by operationId.
    pub operations: BTreeMap<String, OperationStats>,
    /// Per-mailbox operations only: address, then operationId.
    pub mailboxes: BTreeMap<String, BTreeMap<String, OperationStats>>,
    pub mailbox_states: MailboxStateCounts,
}

/// A complete HTTP answer, kept as bytes so that a replay is byte-identical.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        Self {
            status,
            body: serde_json::to_vec(value).expect("serialisable"),
        }
    }

    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self::json(
            status,
            &api::ErrorBody {
                code: code.to_string(),
                message: message.into(),
                details: Vec::new(),
            },
        )
    }
}

struct Remembered {
    address: String,
    answer: Answer,
}

/// What a resend request got.
pub(super) struct ResendOutcome {
    pub answer: Answer,
    pub replayed: bool,
}

pub(super) struct SimState {
    mailboxes: BTreeMap<String, MailboxState>,
    /// Simulated time = real time + offset.
    offset: TimeDelta,
    /// Pending links by expiry, to turn them into `link_expired` lazily.
    pending: BTreeSet<(DateTime<Utc>, String)>,
    idempotency: HashMap<String, Remembered>,
    /// Keys in the order they were stored, with the moment.
    idempotency_order: VecDeque<(DateTime<Utc>, String)>,
    operations: BTreeMap<String, OperationStats>,
    per_mailbox: BTreeMap<String, BTreeMap<String, OperationStats>>,
}

impl SimState {
    pub fn new(mailboxes: BTreeMap<String, MailboxState>) -> Self {
        let pending = mailboxes
            .values()
            .filter(|m| m.password == PasswordState::ResetPending)
            .filter_map(|m| m.link_expires_at.map(|e| (e, m.address.clone())))
            .collect();
        Self {
            mailboxes,
            offset: TimeDelta::zero(),
            pending,
            idempotency: HashMap::new(),
            idempotency_order: VecDeque::new(),
            operations: operation::ALL
                .iter()
                .map(|op| (op.to_string(), OperationStats::default()))
                .collect(),
            per_mailbox: BTreeMap::new(),
        }
    }

    /// The simulated now. Also applies whatever happened by then (expired links).
    pub fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now() + self.offset;
        self.expire_links(now);
        self.forget_old_keys(now);
        now
    }

    /// Moves the simulated clock forward and returns the new now.
    pub fn advance(&mut self, by: TimeDelta) -> DateTime<Utc> {
        self.offset += by;
        self.now()
    }

    pub fn offset(&self) -> TimeDelta {
        self.offset
    }

    fn expire_links(&mut self, now: DateTime<Utc>) {
        while let Some((expiry, _)) = self.pending.first() {
            if *expiry > now {
                break;
            }
            let (expiry, address) = self.pending.pop_first().expect("non-empty");
            if let Some(m) = self.mailboxes.get_mut(&address)
                && m.password == PasswordState::ResetPending
                && m.link_expires_at == Some(expiry)
            {
                m.password = PasswordState::LinkExpired;
                m.updated_at = m.updated_at.max(expiry);
            }
        }
    }

    fn forget_old_keys(&mut self, now: DateTime<Utc>) {
        while let Some((at, _)) = self.idempotency_order.front() {
            if *at + IDEMPOTENCY_WINDOW > now {
                break;
            }
            let (_, key) = self.idempotency_order.pop_front().expect("non-empty");
            self.idempotency.remove(&key);
        }
    }

    pub fn mailbox_count(&self) -> usize {
        self.mailboxes.len()
    }

    fn count(&mut self, op: &str, address: Option<&str>, state_change: bool) {
        let stats = self.operations.entry(op.to_string()).or_default();
        stats.requests += 1;
        stats.state_changes += u64::from(state_change);
        if let Some(address) = address {
            let stats = self
                .per_mailbox
                .entry(address.to_string())
                .or_default()
                .entry(op.to_string())
                .or_default();
            stats.requests += 1;
            stats.state_changes += u64::from(state_change);
        }
    }

    /// Counts a request of `op` that was refused before reaching a mailbox.
    pub fn count_refused(&mut self, op: &str) {
        self.count(op, None, false);
    }

    /// `listMailboxes`: one page, ordered by address; pages start at 1.
    pub fn list(&mut self, page: u32, per_page: u32) -> api::MailboxPage {
        self.now();
        self.count(operation::LIST_MAILBOXES, None, false);
        let total = self.mailboxes.len() as u64;
        let skip = (u64::from(page) - 1).saturating_mul(u64::from(per_page));
        let items: Vec<api::MailboxDto> = self
            .mailboxes
            .values()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(per_page as usize)
            .map(api::MailboxDto::from_domain)
            .collect();
        let next_page =
            (skip.saturating_add(u64::from(per_page)) < total).then(|| page.saturating_add(1));
        api::MailboxPage {
            items,
            page,
            per_page,
            total,
            next_page,
        }
    }

    /// `getMailbox`.
    pub fn get(&mut self, address: &str) -> Option<api::MailboxDto> {
        self.now();
        let address = address.to_lowercase();
        match self.mailboxes.get(&address) {
            Some(m) => {
                let dto = api::MailboxDto::from_domain(m);
                self.count(operation::GET_MAILBOX, Some(&address), false);
                Some(dto)
            }
            None => {
                self.count(operation::GET_MAILBOX, None, false);
                None
            }
        }
    }

    /// `resendRecoveryEmail` with an already validated idempotency key.
    pub fn resend(&mut self, address: &str, key: &str) -> ResendOutcome {
        let now = self.now();
        let address = address.to_lowercase();
        let op = operation::RESEND_RECOVERY_EMAIL;
        let known = self
            .mailboxes
            .contains_key(&address)
            .then_some(address.as_str());
        if let Some(remembered) = self.idempotency.get(key) {
            if remembered.address != address {
                self.count(op, None, false);
                return ResendOutcome {
                    answer: Answer::error(
                        422,
                        api::error_code::IDEMPOTENCY_KEY_REUSED,
                        "La chiave di idempotenza è già stata usata per un'altra casella: \
                         generarne una nuova per ogni operazione.",
                    ),
                    replayed: false,
                };
            }
            let answer = remembered.answer.clone();
            self.count(op, known, false);
            return ResendOutcome {
                answer,
                replayed: true,
            };
        }
        let (answer, changed) = match self.mailboxes.get_mut(&address) {
            None => (
                Answer::error(
                    404,
                    api::error_code::NOT_FOUND,
                    format!("La casella {address} non esiste presso il gestore."),
                ),
                false,
            ),
            Some(m) => match m.recovery.email_masked.clone() {
                None => (
                    Answer::error(
                        409,
                        api::error_code::NO_RECOVERY_CONTACT,
                        format!(
                            "La casella {address} non ha un indirizzo e-mail di recupero: \
                             il titolare non può reimpostare la password da solo, \
                             serve l'intervento dell'Ordine."
                        ),
                    ),
                    false,
                ),
                Some(sent_to_masked) => {
                    let expires = now + RECOVERY_LINK_VALIDITY;
                    m.password = PasswordState::ResetPending;
                    m.link_sent_at = Some(now);
                    m.link_expires_at = Some(expires);
                    m.updated_at = now;
                    self.pending.insert((expires, address.clone()));
                    (
                        Answer::json(
                            200,
                            &api::ResendResponse {
                                address: address.clone(),
                                sent_to_masked,
                                link_sent_at: now,
                                link_expires_at: expires,
                            },
                        ),
                        true,
                    )
                }
            },
        };
        self.count(op, known, changed);
        self.idempotency.insert(
            key.to_string(),
            Remembered {
                address: address.clone(),
                answer: answer.clone(),
            },
        );
        self.idempotency_order.push_back((now, key.to_string()));
        ResendOutcome {
            answer,
            replayed: false,
        }
    }

    /// Demo mode: up to `count` random not-started mailboxes complete their migration.
    pub fn migrate_some(&mut self, rng: &mut impl rand::Rng, count: usize) -> usize {
        let now = self.now();
        let mut candidates: Vec<String> = self
            .mailboxes
            .values()
            .filter(|m| m.migration == MigrationState::NotStarted)
            .map(|m| m.address.clone())
            .collect();
        let mut migrated = 0;
        while migrated < count && !candidates.is_empty() {
            let address = candidates.swap_remove(rng.random_range(0..candidates.len()));
            if let Some(m) = self.mailboxes.get_mut(&address) {
                m.migration = MigrationState::Completed;
                m.migration_at = Some(now);
                m.password = PasswordState::Set;
                m.link_sent_at = None;
                m.link_expires_at = None;
                m.updated_at = now;
                migrated += 1;
            }
        }
        migrated
    }

    pub fn stats(&mut self) -> SimStats {
        self.now();
        let mut counts = MailboxStateCounts {
            migration: MigrationState::ALL
                .iter()
                .map(|s| (s.code().to_string(), 0))
                .collect(),
            password: PasswordState::ALL
                .iter()
                .map(|s| (s.code().to_string(), 0))
                .collect(),
        };
        for m in self.mailboxes.values() {
            *counts
                .migration
                .entry(m.migration.code().to_string())
                .or_default() += 1;
            *counts
                .password
                .entry(m.password.code().to_string())
                .or_default() += 1;
        }
        SimStats {
            operations: self.operations.clone(),
            mailboxes: self.per_mailbox.clone(),
            mailbox_states: counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RecoveryContacts;

    fn mailbox(address: &str, email: Option<&str>) -> MailboxState {
        MailboxState {
            address: address.into(),
            migration: MigrationState::Completed,
            migration_at: None,
            password: PasswordState::Set,
            link_sent_at: None,
            link_expires_at: None,
            recovery: RecoveryContacts {
                email_masked: email.map(String::from),
                mobile_masked: None,
                confirmed: true,
            },
            last_login_at: None,
            updated_at: Utc::now() - TimeDelta::days(3),
        }
    }

    fn state() -> SimState {
        SimState::new(
            [
                mailbox("a@pec.fofi.it", Some("*****sa@i*****.it")),
                mailbox("b@pec.fofi.it", None),
            ]
            .into_iter()
            .map(|m| (m.address.clone(), m))
            .collect(),
        )
    }

    #[test]
    fn a_resent_link_expires_after_24_simulated_hours() {
        let mut s = state();
        let first = s.resend("A@pec.fofi.it", "k1");
        assert_eq!(first.answer.status, 200);
        let sent: api::ResendResponse = serde_json::from_slice(&first.answer.body).unwrap();
        s.advance(TimeDelta::hours(23));
        assert_eq!(
            s.get("a@pec.fofi.it").unwrap().password_state,
            "reset_pending"
        );
        s.advance(TimeDelta::hours(2));
        let dto = s.get("a@pec.fofi.it").unwrap();
        assert_eq!(dto.password_state, "link_expired");
        assert_eq!(dto.updated_at, sent.link_expires_at);
    }

    #[test]
    fn keys_are_replayed_then_forgotten_after_24_hours() {
        let mut s = state();
        let first = s.resend("a@pec.fofi.it", "k1");
        let again = s.resend("a@pec.fofi.it", "k1");
        assert!(again.replayed);
        assert_eq!(first.answer, again.answer);
        let other = s.resend("b@pec.fofi.it", "k1");
        assert_eq!(other.answer.status, 422);
        s.advance(TimeDelta::hours(25));
        let later = s.resend("a@pec.fofi.it", "k1");
        assert!(!later.replayed);
        assert_ne!(later.answer, first.answer);
        let stats = s.stats();
        let a = stats.mailboxes["a@pec.fofi.it"][operation::RESEND_RECOVERY_EMAIL];
        assert_eq!((a.requests, a.state_changes), (3, 2));
        let op = stats.operations[operation::RESEND_RECOVERY_EMAIL];
        assert_eq!((op.requests, op.state_changes), (4, 2));
    }

    #[test]
    fn no_recovery_email_and_unknown_mailbox() {
        let mut s = state();
        assert_eq!(s.resend("b@pec.fofi.it", "k2").answer.status, 409);
        assert_eq!(s.resend("zz@pec.fofi.it", "k3").answer.status, 404);
        let stats = s.stats();
        assert!(!stats.mailboxes.contains_key("zz@pec.fofi.it"));
        assert_eq!(stats.mailbox_states.password["set"], 2);
    }

    #[test]
    fn pages_cover_everything_once() {
        let mut s = state();
        let p1 = s.list(1, 1);
        assert_eq!((p1.items.len(), p1.total, p1.next_page), (1, 2, Some(2)));
        let p2 = s.list(2, 1);
        assert_eq!((p2.items.len(), p2.next_page), (1, None));
        assert_ne!(p1.items[0].address, p2.items[0].address);
        assert!(s.list(3, 1).items.is_empty());
        assert_eq!(s.list(1, 500).next_page, None);
    }
}
