//! The simulated provider's state: mailboxes, the simulated clock, the
//! cutover, pending recovery links, issued tokens, remembered idempotency keys
//! and request counters. Pure and synchronous: the HTTP layer locks it, calls
//! one method, and unlocks, so every state change is atomic.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::ops::Bound;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::domain::contact::{mask_email, mask_mobile, normalize_email, normalize_mobile};
use crate::domain::password::{self, PasswordRule};
use crate::domain::{MailboxState, MigrationState, PasswordState, RECOVERY_LINK_VALIDITY};
use crate::provider::api::{self, IDEMPOTENCY_WINDOW, error_code, field_code, operation};

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
    /// Keyed by operationId: every request received, faulted ones included.
    pub operations: BTreeMap<String, OperationStats>,
    /// Per-mailbox operations only: address, then operationId.
    pub mailboxes: BTreeMap<String, BTreeMap<String, OperationStats>>,
    pub mailbox_states: MailboxStateCounts,
}

/// One mailbox as the simulated provider holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SimMailbox {
    /// What the contract reports (contacts masked).
    pub state: MailboxState,
    /// The recovery contacts in full, which the contract never shows.
    pub email: Option<String>,
    pub mobile: Option<String>,
    /// Set by the Ordine's reset until the member logs in and changes it.
    pub must_change_password: bool,
}

impl SimMailbox {
    pub fn new(state: MailboxState, email: Option<String>, mobile: Option<String>) -> Self {
        Self {
            state,
            email,
            mobile,
            must_change_password: false,
        }
    }

    fn dto(&self) -> api::MailboxDto {
        let mut dto = api::MailboxDto::from_domain(&self.state);
        dto.must_change_password = self.must_change_password;
        dto
    }

    /// The member logs in with a password of their own: the recovery options
    /// are confirmed at that first access (procedure "accesso e recupero").
    fn member_sets_password(&mut self, now: DateTime<Utc>) {
        self.state.password = PasswordState::Set;
        self.state.link_sent_at = None;
        self.state.link_expires_at = None;
        self.state.last_login_at = Some(now);
        self.state.recovery.confirmed = !self.state.recovery.is_empty();
        self.must_change_password = false;
        self.state.updated_at = now;
    }
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
        Self::with_details(status, code, message, Vec::new())
    }

    pub fn with_details(
        status: u16,
        code: &str,
        message: impl Into<String>,
        details: Vec<api::FieldError>,
    ) -> Self {
        Self::json(
            status,
            &api::ErrorBody {
                code: code.to_string(),
                message: message.into(),
                details,
            },
        )
    }

    fn not_found(address: &str) -> Self {
        Self::error(
            404,
            error_code::NOT_FOUND,
            format!("La casella {address} non esiste presso il gestore."),
        )
    }
}

fn field_error(field: &str, code: &str, message: impl Into<String>) -> api::FieldError {
    api::FieldError {
        field: field.to_string(),
        code: code.to_string(),
        message: message.into(),
    }
}

/// 422 `password_policy` with one detail per broken rule, or None when it complies.
fn password_policy(password: &str, address: &str, field: &str, what: &str) -> Option<Answer> {
    let broken = password::check(password, &password::user_id_of(address));
    if broken.is_empty() {
        return None;
    }
    let details = broken
        .iter()
        .map(|rule: &PasswordRule| field_error(field, rule.code(), rule.description_it()))
        .collect();
    Some(Answer::with_details(
        422,
        error_code::PASSWORD_POLICY,
        format!("{what} non rispetta le regole di sicurezza: vedere i dettagli."),
        details,
    ))
}

/// A stable digest of what a request asks, so that a key reused for a
/// different request is recognised without keeping the request (a temporary
/// password must not stay in memory for 24 hours).
fn fingerprint(op: &str, address: &str, body: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    (op, address, body).hash(&mut hasher);
    hasher.finish()
}

/// `listMailboxes` cursors: opaque to clients, the last address in hex here.
pub(super) fn encode_cursor(address: &str) -> String {
    address.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn decode_cursor(cursor: &str) -> Option<String> {
    if !cursor.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

struct Remembered {
    fingerprint: u64,
    answer: Answer,
}

/// What a state-changing request got.
pub(super) struct Outcome {
    pub answer: Answer,
    pub replayed: bool,
}

/// What one demo step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct DemoStep {
    pub migrated: usize,
    pub links_used: usize,
    pub passwords_changed: usize,
}

pub(super) struct SimState {
    mailboxes: BTreeMap<String, SimMailbox>,
    /// Simulated time = real time + offset.
    offset: TimeDelta,
    /// The passage to the new provider, in simulated time.
    cutover_at: DateTime<Utc>,
    /// Pending links by expiry, to turn them into `link_expired` lazily.
    pending: BTreeSet<(DateTime<Utc>, String)>,
    /// Issued access tokens and when (simulated time) they stop working.
    tokens: HashMap<String, DateTime<Utc>>,
    idempotency: HashMap<String, Remembered>,
    /// Keys in the order they were stored, with the moment.
    idempotency_order: VecDeque<(DateTime<Utc>, String)>,
    operations: BTreeMap<String, OperationStats>,
    per_mailbox: BTreeMap<String, BTreeMap<String, OperationStats>>,
}

impl SimState {
    pub fn new(mailboxes: BTreeMap<String, SimMailbox>, cutover_at: DateTime<Utc>) -> Self {
        let pending = mailboxes
            .values()
            .filter(|m| m.state.password == PasswordState::ResetPending)
            .filter_map(|m| {
                m.state
                    .link_expires_at
                    .map(|e| (e, m.state.address.clone()))
            })
            .collect();
        Self {
            mailboxes,
            offset: TimeDelta::zero(),
            cutover_at,
            pending,
            tokens: HashMap::new(),
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

    pub fn cutover_at(&self) -> DateTime<Utc> {
        self.cutover_at
    }

    fn expire_links(&mut self, now: DateTime<Utc>) {
        while let Some((expiry, _)) = self.pending.first() {
            if *expiry > now {
                break;
            }
            let (expiry, address) = self.pending.pop_first().expect("non-empty");
            if let Some(m) = self.mailboxes.get_mut(&address)
                && m.state.password == PasswordState::ResetPending
                && m.state.link_expires_at == Some(expiry)
            {
                m.state.password = PasswordState::LinkExpired;
                m.state.updated_at = m.state.updated_at.max(expiry);
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

    /// Counts a request received for `op` (on `address`, if it names a mailbox).
    pub fn count_request(&mut self, op: &str, address: Option<&str>) {
        let known = address
            .map(str::to_lowercase)
            .filter(|a| self.mailboxes.contains_key(a));
        self.operations.entry(op.to_string()).or_default().requests += 1;
        if let Some(address) = known {
            self.per_mailbox
                .entry(address)
                .or_default()
                .entry(op.to_string())
                .or_default()
                .requests += 1;
        }
    }

    fn count_change(&mut self, op: &str, address: &str) {
        self.operations
            .entry(op.to_string())
            .or_default()
            .state_changes += 1;
        self.per_mailbox
            .entry(address.to_string())
            .or_default()
            .entry(op.to_string())
            .or_default()
            .state_changes += 1;
    }

    /// `issueToken`: a fresh token valid for `ttl` of simulated time.
    pub fn issue_token(&mut self, ttl: TimeDelta) -> api::TokenResponse {
        let now = self.now();
        self.tokens.retain(|_, expiry| *expiry > now);
        let token = super::random_token();
        self.tokens.insert(token.clone(), now + ttl);
        api::TokenResponse {
            access_token: token,
            token_type: "Bearer".to_string(),
            expires_in: u64::try_from(ttl.num_seconds()).unwrap_or(0),
        }
    }

    /// Whether `token` was issued here and has not expired.
    pub fn token_valid(&mut self, token: &str) -> bool {
        let now = self.now();
        self.tokens.get(token).is_some_and(|expiry| *expiry > now)
    }

    /// `listMailboxes`: up to `per_page` mailboxes after `after`, ordered by address.
    pub fn list(
        &mut self,
        filter: &api::MailboxFilter,
        after: Option<&str>,
        per_page: u32,
    ) -> api::MailboxPage {
        let server_time = self.now();
        let per_page_len = per_page as usize;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut items = Vec::with_capacity(per_page_len.min(self.mailboxes.len()));
        let mut more = false;
        for m in self
            .mailboxes
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|(_, m)| m)
            .filter(|m| filter.matches(&m.state))
        {
            if items.len() == per_page_len {
                more = true;
                break;
            }
            items.push(m.dto());
        }
        let total = self
            .mailboxes
            .values()
            .filter(|m| filter.matches(&m.state))
            .count() as u64;
        let next_cursor = more
            .then(|| {
                items
                    .last()
                    .map(|m: &api::MailboxDto| encode_cursor(&m.address))
            })
            .flatten();
        api::MailboxPage {
            items,
            per_page,
            total,
            next_cursor,
            server_time,
            cutover_at: Some(self.cutover_at),
        }
    }

    /// `getMailbox`.
    pub fn get(&mut self, address: &str) -> Option<api::MailboxDto> {
        self.now();
        self.mailboxes
            .get(&address.to_lowercase())
            .map(SimMailbox::dto)
    }

    /// Runs a state-changing request once per idempotency key: a key seen
    /// within 24 hours for the same request replays the first answer and
    /// changes nothing; for a different request it is refused. `act` returns
    /// the answer and whether it changed the mailbox.
    fn idempotent(
        &mut self,
        op: &str,
        address: &str,
        key: &str,
        body: &str,
        act: impl FnOnce(&mut Self, DateTime<Utc>, &str) -> (Answer, bool),
    ) -> Outcome {
        let now = self.now();
        let address = address.to_lowercase();
        let print = fingerprint(op, &address, body);
        if let Some(remembered) = self.idempotency.get(key) {
            if remembered.fingerprint != print {
                return Outcome {
                    answer: Answer::error(
                        422,
                        error_code::IDEMPOTENCY_KEY_REUSED,
                        "La chiave di idempotenza è già stata usata per un'altra richiesta: \
                         generarne una nuova per ogni operazione.",
                    ),
                    replayed: false,
                };
            }
            return Outcome {
                answer: remembered.answer.clone(),
                replayed: true,
            };
        }
        let (answer, changed) = act(self, now, &address);
        if changed {
            self.count_change(op, &address);
        }
        self.idempotency.insert(
            key.to_string(),
            Remembered {
                fingerprint: print,
                answer: answer.clone(),
            },
        );
        self.idempotency_order.push_back((now, key.to_string()));
        Outcome {
            answer,
            replayed: false,
        }
    }

    /// `resendRecoveryEmail` with an already validated idempotency key.
    pub fn resend(&mut self, address: &str, key: &str) -> Outcome {
        self.idempotent(
            operation::RESEND_RECOVERY_EMAIL,
            address,
            key,
            "",
            |s, now, address| {
                let Some(m) = s.mailboxes.get_mut(address) else {
                    return (Answer::not_found(address), false);
                };
                let Some(sent_to_masked) = m.state.recovery.email_masked.clone() else {
                    return (
                        Answer::error(
                            409,
                            error_code::NO_RECOVERY_CONTACT,
                            format!(
                                "La casella {address} non ha un indirizzo e-mail di recupero: \
                                 il titolare non può reimpostare la password da solo, \
                                 serve l'intervento dell'Ordine."
                            ),
                        ),
                        false,
                    );
                };
                let expires = now + RECOVERY_LINK_VALIDITY;
                m.state.password = PasswordState::ResetPending;
                m.state.link_sent_at = Some(now);
                m.state.link_expires_at = Some(expires);
                m.state.updated_at = now;
                s.pending.insert((expires, address.to_string()));
                let answer = api::ResendResponse {
                    address: address.to_string(),
                    sent_to_masked,
                    link_sent_at: now,
                    link_expires_at: expires,
                };
                (Answer::json(200, &answer), true)
            },
        )
    }

    /// `setRecoveryContacts` with an already validated idempotency key.
    pub fn set_contacts(
        &mut self,
        address: &str,
        key: &str,
        request: &api::RecoveryContactsRequest,
    ) -> Outcome {
        let body = serde_json::to_string(request).expect("serialisable");
        self.idempotent(
            operation::SET_RECOVERY_CONTACTS,
            address,
            key,
            &body,
            |s, now, address| {
                let Some(m) = s.mailboxes.get_mut(address) else {
                    return (Answer::not_found(address), false);
                };
                let (email, mobile, details) = validate_contacts(request, address);
                if !details.is_empty() {
                    let answer = Answer::with_details(
                        422,
                        error_code::VALIDATION_FAILED,
                        "Contatti di recupero non validi: vedere i dettagli.",
                        details,
                    );
                    return (answer, false);
                }
                let email = email.or_else(|| m.email.clone());
                let mobile = mobile.or_else(|| m.mobile.clone());
                let changed = email != m.email || mobile != m.mobile;
                if changed {
                    m.state.recovery.email_masked = email.as_deref().map(mask_email);
                    m.state.recovery.mobile_masked = mobile.as_deref().map(mask_mobile);
                    // Contacts set by the Ordine are the member's to confirm at
                    // the next access.
                    m.state.recovery.confirmed = false;
                    m.state.updated_at = now;
                    m.email = email;
                    m.mobile = mobile;
                }
                (Answer::json(200, &m.dto()), changed)
            },
        )
    }

    /// `resetPassword` with an already validated idempotency key. The checks
    /// go from the mailbox outwards: 404, then 409 before cutover, then 422.
    pub fn reset_password(
        &mut self,
        address: &str,
        key: &str,
        request: &api::PasswordResetRequest,
    ) -> Outcome {
        let cutover_at = self.cutover_at;
        let mut hasher = std::hash::DefaultHasher::new();
        request.temporary_password.hash(&mut hasher);
        let body = format!("{:016x}", hasher.finish());
        self.idempotent(
            operation::RESET_PASSWORD,
            address,
            key,
            &body,
            |s, now, address| {
                let Some(m) = s.mailboxes.get_mut(address) else {
                    return (Answer::not_found(address), false);
                };
                if now < cutover_at {
                    let answer = Answer::error(
                        409,
                        error_code::MIGRATION_IN_PROGRESS,
                        format!(
                            "La migrazione della casella {address} è in corso: fino al passaggio \
                             al nuovo gestore ({}) vale la password attuale e nessuna password \
                             può essere cambiata.",
                            crate::i18n::format_datetime(cutover_at)
                        ),
                    );
                    return (answer, false);
                }
                if let Some(refused) = password_policy(
                    &request.temporary_password,
                    address,
                    "temporary_password",
                    "La password temporanea",
                ) {
                    return (refused, false);
                }
                m.state.password = PasswordState::Set;
                // A pending link stops working once the Ordine sets a password.
                m.state.link_sent_at = None;
                m.state.link_expires_at = None;
                m.state.updated_at = now;
                m.must_change_password = true;
                (Answer::json(200, &m.dto()), true)
            },
        )
    }

    /// Simulator control: the member opens the recovery link and saves a new
    /// password (checked against the same six rules as the provider's page),
    /// then logs in with it.
    pub fn use_link(&mut self, address: &str, new_password: Option<&str>) -> Answer {
        let now = self.now();
        let address = address.to_lowercase();
        let Some(m) = self.mailboxes.get_mut(&address) else {
            return Answer::not_found(&address);
        };
        match m.state.password {
            PasswordState::ResetPending => {}
            PasswordState::LinkExpired => {
                return Answer::error(
                    409,
                    "link_expired",
                    "Il link è scaduto (vale 24 ore): bisogna richiederne uno nuovo.",
                );
            }
            _ => {
                return Answer::error(
                    409,
                    "link_not_pending",
                    "Per questa casella non c'è un link di recupero in attesa.",
                );
            }
        }
        if let Some(refused) =
            new_password.and_then(|p| password_policy(p, &address, "password", "La nuova password"))
        {
            return refused;
        }
        m.member_sets_password(now);
        Answer::json(200, &m.dto())
    }

    /// Demo mode: up to `count` random not-started mailboxes complete their
    /// migration, some pending links get used, and some members who got a
    /// temporary password log in and change it.
    pub fn demo_step(&mut self, rng: &mut impl Rng, count: usize) -> DemoStep {
        let now = self.now();
        let mut step = DemoStep::default();
        let pick = |s: &Self, f: &dyn Fn(&SimMailbox) -> bool| -> Vec<String> {
            s.mailboxes
                .values()
                .filter(|m| f(m))
                .map(|m| m.state.address.clone())
                .collect()
        };
        let mut candidates = pick(self, &|m| m.state.migration == MigrationState::NotStarted);
        while step.migrated < count && !candidates.is_empty() {
            let address = candidates.swap_remove(rng.random_range(0..candidates.len()));
            if let Some(m) = self.mailboxes.get_mut(&address) {
                m.state.migration = MigrationState::Completed;
                m.state.migration_at = Some(now);
                m.state.password = PasswordState::Set;
                m.state.link_sent_at = None;
                m.state.link_expires_at = None;
                m.state.updated_at = now;
                step.migrated += 1;
            }
        }
        // About one member in three with a pending link uses it per step.
        for address in pick(self, &|m| m.state.password == PasswordState::ResetPending) {
            if rng.random_bool(0.3)
                && let Some(m) = self.mailboxes.get_mut(&address)
            {
                m.member_sets_password(now);
                step.links_used += 1;
            }
        }
        for address in pick(self, &|m| m.must_change_password) {
            if rng.random_bool(0.3)
                && let Some(m) = self.mailboxes.get_mut(&address)
            {
                m.member_sets_password(now);
                step.passwords_changed += 1;
            }
        }
        step
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
                .entry(m.state.migration.code().to_string())
                .or_default() += 1;
            *counts
                .password
                .entry(m.state.password.code().to_string())
                .or_default() += 1;
        }
        SimStats {
            operations: self.operations.clone(),
            mailboxes: self.per_mailbox.clone(),
            mailbox_states: counts,
        }
    }
}

/// The contacts a request sets, normalised, and what is wrong with it.
fn validate_contacts(
    request: &api::RecoveryContactsRequest,
    address: &str,
) -> (Option<String>, Option<String>, Vec<api::FieldError>) {
    let mut details = Vec::new();
    if request.email.is_none() && request.mobile.is_none() {
        let message = "Indicare almeno un'e-mail o un numero di cellulare.";
        details.push(field_error("email", field_code::REQUIRED, message));
        details.push(field_error("mobile", field_code::REQUIRED, message));
    }
    let email = request
        .email
        .as_deref()
        .and_then(|e| match normalize_email(e) {
            Ok(email) if email == address => {
                details.push(field_error(
                    "email",
                    field_code::SAME_AS_MAILBOX,
                    "L'e-mail di recupero non può essere la casella PEC stessa: \
                 il link non arriverebbe a chi non riesce ad accedervi.",
                ));
                None
            }
            Ok(email) => Some(email),
            Err(e) => {
                details.push(field_error(
                    "email",
                    field_code::INVALID_EMAIL,
                    e.to_string(),
                ));
                None
            }
        });
    let mobile = request
        .mobile
        .as_deref()
        .and_then(|m| match normalize_mobile(m) {
            Ok(mobile) => Some(mobile),
            Err(e) => {
                details.push(field_error(
                    "mobile",
                    field_code::INVALID_MOBILE,
                    e.to_string(),
                ));
                None
            }
        });
    (email, mobile, details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RecoveryContacts;

    fn mailbox(address: &str, email: Option<&str>) -> SimMailbox {
        SimMailbox::new(
            MailboxState {
                address: address.into(),
                migration: MigrationState::Completed,
                migration_at: None,
                password: PasswordState::Set,
                link_sent_at: None,
                link_expires_at: None,
                recovery: RecoveryContacts {
                    email_masked: email.map(mask_email),
                    mobile_masked: None,
                    confirmed: true,
                },
                last_login_at: None,
                must_change_password: false,
                updated_at: Utc::now() - TimeDelta::days(3),
            },
            email.map(String::from),
            None,
        )
    }

    fn state_with_cutover(cutover_at: DateTime<Utc>) -> SimState {
        SimState::new(
            [
                mailbox("a@pec.fofi.it", Some("marisa@inwind.it")),
                mailbox("b@pec.fofi.it", None),
            ]
            .into_iter()
            .map(|m| (m.state.address.clone(), m))
            .collect(),
            cutover_at,
        )
    }

    fn state() -> SimState {
        state_with_cutover(Utc::now() + TimeDelta::days(30))
    }

    fn reset(temporary_password: &str) -> api::PasswordResetRequest {
        api::PasswordResetRequest {
            temporary_password: temporary_password.into(),
        }
    }

    fn error(answer: &Answer) -> api::ErrorBody {
        serde_json::from_slice(&answer.body).unwrap()
    }

    #[test]
    fn a_resent_link_expires_after_24_simulated_hours() {
        let mut s = state();
        let first = s.resend("A@pec.fofi.it", "k1");
        assert_eq!(first.answer.status, 200);
        let sent: api::ResendResponse = serde_json::from_slice(&first.answer.body).unwrap();
        assert_eq!(sent.sent_to_masked, "*****sa@i*****.it");
        s.advance(TimeDelta::hours(23));
        assert_eq!(
            s.get("a@pec.fofi.it").unwrap().password_state,
            "reset_pending"
        );
        s.advance(TimeDelta::hours(2));
        let dto = s.get("a@pec.fofi.it").unwrap();
        assert_eq!(dto.password_state, "link_expired");
        assert_eq!(dto.updated_at, sent.link_expires_at);
        assert_eq!(s.use_link("a@pec.fofi.it", None).status, 409);
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
        // The same key for another operation on the same mailbox is refused too.
        let contacts = api::RecoveryContactsRequest {
            mobile: Some("3471234567".into()),
            ..Default::default()
        };
        assert_eq!(
            s.set_contacts("a@pec.fofi.it", "k1", &contacts)
                .answer
                .status,
            422
        );
        s.advance(TimeDelta::hours(25));
        let later = s.resend("a@pec.fofi.it", "k1");
        assert!(!later.replayed);
        assert_ne!(later.answer, first.answer);
        let stats = s.stats();
        let a = stats.mailboxes["a@pec.fofi.it"][operation::RESEND_RECOVERY_EMAIL];
        assert_eq!(a.state_changes, 2);
        let op = stats.operations[operation::RESEND_RECOVERY_EMAIL];
        assert_eq!(op.state_changes, 2);
    }

    #[test]
    fn no_recovery_email_and_unknown_mailbox() {
        let mut s = state();
        let refused = s.resend("b@pec.fofi.it", "k2").answer;
        assert_eq!(
            (refused.status, error(&refused).code.as_str()),
            (409, "no_recovery_contact")
        );
        assert_eq!(s.resend("zz@pec.fofi.it", "k3").answer.status, 404);
        s.count_request(operation::GET_MAILBOX, Some("zz@pec.fofi.it"));
        let stats = s.stats();
        assert!(!stats.mailboxes.contains_key("zz@pec.fofi.it"));
        assert_eq!(stats.operations[operation::GET_MAILBOX].requests, 1);
        assert_eq!(stats.mailbox_states.password["set"], 2);
    }

    #[test]
    fn contacts_are_validated_masked_and_left_to_confirm() {
        let mut s = state();
        let bad = api::RecoveryContactsRequest {
            email: Some("non-una-mail".into()),
            mobile: Some("06 1234567".into()),
        };
        let refused = s.set_contacts("b@pec.fofi.it", "c1", &bad).answer;
        assert_eq!(refused.status, 422);
        let body = error(&refused);
        let codes: Vec<(&str, &str)> = body
            .details
            .iter()
            .map(|d| (d.field.as_str(), d.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [("email", "invalid_email"), ("mobile", "invalid_mobile")]
        );
        let empty = s
            .set_contacts("b@pec.fofi.it", "c2", &Default::default())
            .answer;
        assert_eq!(error(&empty).details.len(), 2);
        let itself = api::RecoveryContactsRequest {
            email: Some("B@pec.fofi.it".into()),
            ..Default::default()
        };
        let refused = s.set_contacts("b@pec.fofi.it", "c3", &itself).answer;
        assert_eq!(error(&refused).details[0].code, "same_as_mailbox");

        let good = api::RecoveryContactsRequest {
            email: Some(" Maria.Bianchi@Libero.it ".into()),
            mobile: Some("347 123 4567".into()),
        };
        let set = s.set_contacts("b@pec.fofi.it", "c4", &good).answer;
        assert_eq!(set.status, 200);
        let dto: api::MailboxDto = serde_json::from_slice(&set.body).unwrap();
        assert_eq!(
            dto.recovery_email_masked.as_deref(),
            Some("*****hi@l*****.it")
        );
        assert_eq!(dto.recovery_mobile_masked.as_deref(), Some("+39*******567"));
        assert!(!dto.recovery_confirmed);
        // The same contacts again under a new key: answered, nothing changed.
        let same = s.set_contacts("b@pec.fofi.it", "c5", &good).answer;
        assert_eq!(same, set);
        // Only the mobile: the e-mail stays.
        let mobile = api::RecoveryContactsRequest {
            mobile: Some("+39 333 0000111".into()),
            ..Default::default()
        };
        let dto: api::MailboxDto =
            serde_json::from_slice(&s.set_contacts("b@pec.fofi.it", "c6", &mobile).answer.body)
                .unwrap();
        assert_eq!(
            dto.recovery_email_masked.as_deref(),
            Some("*****hi@l*****.it")
        );
        assert_eq!(dto.recovery_mobile_masked.as_deref(), Some("+39*******111"));
        let stats = s.stats();
        assert_eq!(
            stats.mailboxes["b@pec.fofi.it"][operation::SET_RECOVERY_CONTACTS].state_changes,
            2
        );
        // Now the member can receive links.
        assert_eq!(s.resend("b@pec.fofi.it", "c7").answer.status, 200);
    }

    #[test]
    fn no_reset_before_cutover_then_every_broken_rule() {
        let mut s = state();
        let early = s
            .reset_password("a@pec.fofi.it", "r1", &reset("Fisc0!Temp9"))
            .answer;
        assert_eq!(
            (early.status, error(&early).code.as_str()),
            (409, "migration_in_progress")
        );
        s.advance(TimeDelta::days(31));
        let weak = s
            .reset_password("a@pec.fofi.it", "r2", &reset("zzz"))
            .answer;
        assert_eq!(weak.status, 422);
        let body = error(&weak);
        assert_eq!(body.code, "password_policy");
        let rules: Vec<&str> = body.details.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(
            rules,
            [
                "too_short",
                "missing_upper_or_lower",
                "missing_digit",
                "missing_special",
                "repeated_characters"
            ]
        );
        assert!(body.details.iter().all(|d| d.field == "temporary_password"));
        let with_id = s
            .reset_password("a@pec.fofi.it", "r3", &reset("xA!1a@Bc9"))
            .answer;
        assert_eq!(error(&with_id).details[0].code, "contains_user_id");
        s.resend("a@pec.fofi.it", "r4");
        let done = s
            .reset_password("a@pec.fofi.it", "r5", &reset("Fisc0!Temp9"))
            .answer;
        assert_eq!(done.status, 200);
        let dto: api::MailboxDto = serde_json::from_slice(&done.body).unwrap();
        assert!(dto.must_change_password);
        assert_eq!(dto.password_state, "set");
        assert_eq!(dto.link_expires_at, None);
        assert_eq!(s.use_link("a@pec.fofi.it", None).status, 409);
        // Replays do not show the password and do not reset again.
        assert!(!String::from_utf8_lossy(&done.body).contains("Fisc0"));
        let again = s.reset_password("a@pec.fofi.it", "r5", &reset("Fisc0!Temp9"));
        assert!(again.replayed);
        let other = s.reset_password("a@pec.fofi.it", "r5", &reset("Altra!Pass9"));
        assert_eq!(other.answer.status, 422);
        assert_eq!(error(&other.answer).code, "idempotency_key_reused");
        let stats = s.stats();
        assert_eq!(stats.operations[operation::RESET_PASSWORD].state_changes, 1);
    }

    #[test]
    fn a_member_uses_the_link_and_confirms_recovery_at_first_access() {
        let mut s = state();
        s.resend("a@pec.fofi.it", "u1");
        let weak = s.use_link("a@pec.fofi.it", Some("short"));
        assert_eq!(weak.status, 422);
        let used = s.use_link("a@pec.fofi.it", Some("Nuov0!Pess7"));
        assert_eq!(used.status, 200);
        let dto = s.get("a@pec.fofi.it").unwrap();
        assert_eq!(dto.password_state, "set");
        assert!(dto.last_login_at.is_some() && dto.recovery_confirmed);
        assert_eq!(s.use_link("a@pec.fofi.it", None).status, 409);
        assert_eq!(s.use_link("zz@pec.fofi.it", None).status, 404);
    }

    #[test]
    fn pages_cover_everything_once_and_filters_apply() {
        let mut s = state();
        let all = api::MailboxFilter::default();
        let p1 = s.list(&all, None, 1);
        assert_eq!((p1.items.len(), p1.total), (1, 2));
        let cursor = decode_cursor(p1.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(cursor, p1.items[0].address);
        let p2 = s.list(&all, Some(&cursor), 1);
        assert_eq!((p2.items.len(), p2.next_cursor.as_deref()), (1, None));
        assert_ne!(p1.items[0].address, p2.items[0].address);
        assert_eq!(s.list(&all, None, 500).next_cursor, None);
        let since = api::MailboxFilter::changed_since(Utc::now() - TimeDelta::hours(1));
        assert_eq!(s.list(&since, None, 10).total, 0);
        s.resend("a@pec.fofi.it", "p1");
        let changed = s.list(&since, None, 10);
        assert_eq!(changed.items.len(), 1);
        assert_eq!(changed.items[0].address, "a@pec.fofi.it");
        let pending = api::MailboxFilter {
            password: vec![PasswordState::ResetPending, PasswordState::LinkExpired],
            ..Default::default()
        };
        assert_eq!(s.list(&pending, None, 10).total, 1);
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(decode_cursor("abc"), None);
    }

    #[test]
    fn tokens_expire_with_the_simulated_clock() {
        let mut s = state();
        let token = s.issue_token(TimeDelta::seconds(60));
        assert_eq!(
            (token.token_type.as_str(), token.expires_in),
            ("Bearer", 60)
        );
        assert!(s.token_valid(&token.access_token));
        assert!(!s.token_valid("something-else"));
        s.advance(TimeDelta::seconds(61));
        assert!(!s.token_valid(&token.access_token));
    }
}
