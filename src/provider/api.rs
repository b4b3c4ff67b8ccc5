//! Wire types of the provider contract, shared by the client and the simulator
//! so that the two cannot disagree. Field names match `assets/provider-api.yaml`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{MailboxState, MigrationState, PasswordState, RecoveryContacts};

/// Path prefix of every contract operation.
pub const API_PREFIX: &str = "/v1";
/// Header carrying the idempotency key of a state-changing request.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";
/// Header set to `true` on an answer replayed for an idempotency key already seen.
pub const IDEMPOTENT_REPLAYED_HEADER: &str = "Idempotent-Replayed";
/// Longest idempotency key the provider accepts.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// How long the provider remembers an idempotency key (the same 24 hours as a link).
pub const IDEMPOTENCY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);
/// Default page size of `listMailboxes`.
pub const DEFAULT_PER_PAGE: u32 = 100;

/// The contract's operationIds, as in `assets/provider-api.yaml`.
pub mod operation {
    pub const LIST_MAILBOXES: &str = "listMailboxes";
    pub const GET_MAILBOX: &str = "getMailbox";
    pub const RESEND_RECOVERY_EMAIL: &str = "resendRecoveryEmail";
    /// Every operation, in the order the contract lists them.
    pub const ALL: [&str; 3] = [LIST_MAILBOXES, GET_MAILBOX, RESEND_RECOVERY_EMAIL];
}

/// Path of `listMailboxes`.
pub fn mailboxes_path() -> String {
    format!("{API_PREFIX}/mailboxes")
}

/// One mailbox as the provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxDto {
    pub address: String,
    /// not_started | completed | failed_credentials | failed_2fa
    pub migration_state: String,
    pub migration_at: Option<DateTime<Utc>>,
    /// not_set | set | reset_pending | link_expired
    pub password_state: String,
    pub link_sent_at: Option<DateTime<Utc>>,
    pub link_expires_at: Option<DateTime<Utc>>,
    pub recovery_email_masked: Option<String>,
    pub recovery_mobile_masked: Option<String>,
    pub recovery_confirmed: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// A provider answer that does not fit the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("campo '{field}' con valore non previsto dal contratto: '{value}'")]
pub struct ContractViolation {
    pub field: &'static str,
    pub value: String,
}

impl MailboxDto {
    pub fn into_domain(self) -> Result<MailboxState, ContractViolation> {
        let migration =
            MigrationState::from_code(&self.migration_state).ok_or_else(|| ContractViolation {
                field: "migration_state",
                value: self.migration_state.clone(),
            })?;
        let password =
            PasswordState::from_code(&self.password_state).ok_or_else(|| ContractViolation {
                field: "password_state",
                value: self.password_state.clone(),
            })?;
        Ok(MailboxState {
            address: self.address.to_lowercase(),
            migration,
            migration_at: self.migration_at,
            password,
            link_sent_at: self.link_sent_at,
            link_expires_at: self.link_expires_at,
            recovery: RecoveryContacts {
                email_masked: self.recovery_email_masked,
                mobile_masked: self.recovery_mobile_masked,
                confirmed: self.recovery_confirmed,
            },
            last_login_at: self.last_login_at,
            updated_at: self.updated_at,
        })
    }

    pub fn from_domain(state: &MailboxState) -> Self {
        Self {
            address: state.address.clone(),
            migration_state: state.migration.code().to_string(),
            migration_at: state.migration_at,
            password_state: state.password.code().to_string(),
            link_sent_at: state.link_sent_at,
            link_expires_at: state.link_expires_at,
            recovery_email_masked: state.recovery.email_masked.clone(),
            recovery_mobile_masked: state.recovery.mobile_masked.clone(),
            recovery_confirmed: state.recovery.confirmed,
            last_login_at: state.last_login_at,
            updated_at: state.updated_at,
        }
    }
}

/// `GET /v1/mailboxes` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailboxPage {
    pub items: Vec<MailboxDto>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
    /// The next page to ask for, absent on the last page.
    pub next_page: Option<u32>,
}

/// `GET /v1/mailboxes` query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListQuery {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// Largest page the provider serves.
pub const MAX_PER_PAGE: u32 = 500;

/// `POST /v1/mailboxes/{address}/recovery-email` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendResponse {
    pub address: String,
    /// The service mailbox the link went to, masked (`*****sa@i*****.it`).
    pub sent_to_masked: String,
    pub link_sent_at: DateTime<Utc>,
    pub link_expires_at: DateTime<Utc>,
}

/// Machine codes of the contract's errors.
pub mod error_code {
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "mailbox_not_found";
    pub const NO_RECOVERY_CONTACT: &str = "no_recovery_contact";
    pub const BAD_REQUEST: &str = "bad_request";
    pub const IDEMPOTENCY_KEY_REQUIRED: &str = "idempotency_key_required";
    /// The idempotency key was already used for a different request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    /// No such path in the contract.
    pub const ROUTE_NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const INTERNAL: &str = "internal_error";
}

/// The one error shape of the contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
}

/// URL path segment for a mailbox address ('@' is legal in a path, but encode
/// anything else unusual).
pub fn mailbox_path(address: &str) -> String {
    let encoded: String = address
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'@' | b'+' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{API_PREFIX}/mailboxes/{encoded}")
}

/// Path of `resendRecoveryEmail` for a mailbox.
pub fn recovery_email_path(address: &str) -> String {
    format!("{}/recovery-email", mailbox_path(address))
}
