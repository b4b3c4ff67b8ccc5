//! Wire types of the provider contract, shared by the client and the simulator
//! so that the two cannot disagree. Field names match `assets/provider-api.yaml`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{MailboxState, MigrationState, PasswordState, RecoveryContacts};

/// Path prefix of every mailbox operation.
pub const API_PREFIX: &str = "/v1";
/// Path of the OAuth2 token endpoint (RFC 6749 section 4.4).
pub const TOKEN_PATH: &str = "/oauth/token";
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
/// Largest page the provider serves.
pub const MAX_PER_PAGE: u32 = 500;

/// The contract's operationIds, as in `assets/provider-api.yaml`.
pub mod operation {
    pub const ISSUE_TOKEN: &str = "issueToken";
    pub const LIST_MAILBOXES: &str = "listMailboxes";
    pub const GET_MAILBOX: &str = "getMailbox";
    pub const RESEND_RECOVERY_EMAIL: &str = "resendRecoveryEmail";
    pub const SET_RECOVERY_CONTACTS: &str = "setRecoveryContacts";
    pub const RESET_PASSWORD: &str = "resetPassword";
    /// Every operation, in the order the contract lists them.
    pub const ALL: [&str; 6] = [
        ISSUE_TOKEN,
        LIST_MAILBOXES,
        GET_MAILBOX,
        RESEND_RECOVERY_EMAIL,
        SET_RECOVERY_CONTACTS,
        RESET_PASSWORD,
    ];
}

/// HTTP method of an operation (only the ones the contract uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
}

impl Method {
    /// Upper case, as HTTP writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }
}

/// One operation of the contract: the single table the simulator routes from
/// and the contract test compares with `assets/provider-api.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub id: &'static str,
    pub method: Method,
    /// As written in the contract, `{address}` for the mailbox.
    pub path: &'static str,
    /// Needs `Authorization: Bearer` (everything but the token endpoint).
    pub needs_token: bool,
    /// Changes a mailbox, so it needs an `Idempotency-Key`.
    pub state_changing: bool,
}

/// Every operation of the contract, in the order `operation::ALL` lists them.
pub const OPERATIONS: [Operation; 6] = [
    Operation {
        id: operation::ISSUE_TOKEN,
        method: Method::Post,
        path: TOKEN_PATH,
        needs_token: false,
        state_changing: false,
    },
    Operation {
        id: operation::LIST_MAILBOXES,
        method: Method::Get,
        path: "/v1/mailboxes",
        needs_token: true,
        state_changing: false,
    },
    Operation {
        id: operation::GET_MAILBOX,
        method: Method::Get,
        path: "/v1/mailboxes/{address}",
        needs_token: true,
        state_changing: false,
    },
    Operation {
        id: operation::RESEND_RECOVERY_EMAIL,
        method: Method::Post,
        path: "/v1/mailboxes/{address}/recovery-email",
        needs_token: true,
        state_changing: true,
    },
    Operation {
        id: operation::SET_RECOVERY_CONTACTS,
        method: Method::Put,
        path: "/v1/mailboxes/{address}/recovery-contacts",
        needs_token: true,
        state_changing: true,
    },
    Operation {
        id: operation::RESET_PASSWORD,
        method: Method::Post,
        path: "/v1/mailboxes/{address}/password-reset",
        needs_token: true,
        state_changing: true,
    },
];

/// The operation with this operationId.
pub fn operation(id: &str) -> Option<&'static Operation> {
    OPERATIONS.iter().find(|op| op.id == id)
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
    /// The Ordine reset the password: the member must change it at the next login.
    #[serde(default)]
    pub must_change_password: bool,
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
            must_change_password: self.must_change_password,
            updated_at: self.updated_at,
        })
    }

    /// The DTO of a domain state.
    pub fn from_domain(state: &MailboxState) -> Self {
        Self {
            address: state.address.clone(),
            migration_state: state.migration.code().to_string(),
            migration_at: state.migration_at,
            password_state: state.password.code().to_string(),
            must_change_password: state.must_change_password,
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
    pub per_page: u32,
    /// Mailboxes matching the filters, over all pages, when this page was served.
    pub total: u64,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// The provider's clock when it served this page: the base of the next
    /// `updated_since`, so that the client's clock never matters.
    pub server_time: DateTime<Utc>,
    /// When the mailboxes pass to the new provider; before it no password may
    /// change (`resetPassword` answers 409 `migration_in_progress`).
    #[serde(default)]
    pub cutover_at: Option<DateTime<Utc>>,
}

/// `GET /v1/mailboxes` query. Unknown parameters are refused, so a client
/// cannot believe it filtered on something the contract does not have.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
    /// Comma-separated migration states (any of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_state: Option<String>,
    /// Comma-separated password states (any of them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_state: Option<String>,
    /// Only mailboxes with `updated_at` at or after this instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_since: Option<DateTime<Utc>>,
}

/// Which mailboxes a listing wants; empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxFilter {
    pub migration: Vec<MigrationState>,
    pub password: Vec<PasswordState>,
    pub updated_since: Option<DateTime<Utc>>,
}

impl MailboxFilter {
    /// Only what changed at or after `since`.
    pub fn changed_since(since: DateTime<Utc>) -> Self {
        Self {
            updated_since: Some(since),
            ..Self::default()
        }
    }

    /// The query of one page.
    pub fn query(&self, cursor: Option<&str>, per_page: u32) -> ListQuery {
        let join = |codes: Vec<&str>| (!codes.is_empty()).then(|| codes.join(","));
        ListQuery {
            cursor: cursor.map(str::to_string),
            per_page: Some(per_page),
            migration_state: join(self.migration.iter().map(|s| s.code()).collect()),
            password_state: join(self.password.iter().map(|s| s.code()).collect()),
            updated_since: self.updated_since,
        }
    }

    /// The filter a query asks for, or the name of the parameter at fault.
    pub fn from_query(query: &ListQuery) -> Result<Self, &'static str> {
        fn parse<T>(
            list: Option<&str>,
            from_code: fn(&str) -> Option<T>,
            field: &'static str,
        ) -> Result<Vec<T>, &'static str> {
            list.map(|l| {
                l.split(',')
                    .map(|c| from_code(c.trim()).ok_or(field))
                    .collect()
            })
            .unwrap_or(Ok(Vec::new()))
        }
        Ok(Self {
            migration: parse(
                query.migration_state.as_deref(),
                MigrationState::from_code,
                "migration_state",
            )?,
            password: parse(
                query.password_state.as_deref(),
                PasswordState::from_code,
                "password_state",
            )?,
            updated_since: query.updated_since,
        })
    }

    pub fn matches(&self, state: &MailboxState) -> bool {
        (self.migration.is_empty() || self.migration.contains(&state.migration))
            && (self.password.is_empty() || self.password.contains(&state.password))
            && self
                .updated_since
                .is_none_or(|since| state.updated_at >= since)
    }
}

/// `POST /v1/mailboxes/{address}/recovery-email` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendResponse {
    pub address: String,
    /// The service mailbox the link went to, masked (`*****sa@i*****.it`).
    pub sent_to_masked: String,
    pub link_sent_at: DateTime<Utc>,
    pub link_expires_at: DateTime<Utc>,
}

/// `PUT /v1/mailboxes/{address}/recovery-contacts` body: a field left out
/// keeps its value, at least one is needed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoveryContactsRequest {
    /// The member's ordinary e-mail (service mailbox), where recovery links go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A mobile number (Italian numbers may omit +39).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

/// `POST /v1/mailboxes/{address}/password-reset` body. Debug hides the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub temporary_password: String,
}

impl std::fmt::Debug for PasswordResetRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordResetRequest")
            .field("temporary_password", &"***")
            .finish()
    }
}

/// `POST /oauth/token` answer (RFC 6749 section 5.1). Debug hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the token stays valid.
    pub expires_in: u64,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"***")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Machine codes of the contract's errors.
pub mod error_code {
    /// Bearer token missing, wrong or expired.
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "mailbox_not_found";
    pub const NO_RECOVERY_CONTACT: &str = "no_recovery_contact";
    /// Before cutover no password may change.
    pub const MIGRATION_IN_PROGRESS: &str = "migration_in_progress";
    /// A field breaks a rule; `details` lists each problem.
    pub const VALIDATION_FAILED: &str = "validation_failed";
    /// The temporary password breaks the policy; `details` has one entry per rule.
    pub const PASSWORD_POLICY: &str = "password_policy";
    pub const BAD_REQUEST: &str = "bad_request";
    pub const IDEMPOTENCY_KEY_REQUIRED: &str = "idempotency_key_required";
    /// The idempotency key was already used for a different request.
    pub const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";
    /// No such path in the contract.
    pub const ROUTE_NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const INTERNAL: &str = "internal_error";
    pub const UNAVAILABLE: &str = "service_unavailable";
    // Token endpoint, with RFC 6749 section 5.2's names.
    pub const INVALID_CLIENT: &str = "invalid_client";
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const UNSUPPORTED_GRANT_TYPE: &str = "unsupported_grant_type";
    /// Every code, as the contract's `Error.code` lists them.
    pub const ALL: [&str; 17] = [
        UNAUTHORIZED,
        NOT_FOUND,
        NO_RECOVERY_CONTACT,
        MIGRATION_IN_PROGRESS,
        VALIDATION_FAILED,
        PASSWORD_POLICY,
        BAD_REQUEST,
        IDEMPOTENCY_KEY_REQUIRED,
        IDEMPOTENCY_KEY_REUSED,
        ROUTE_NOT_FOUND,
        METHOD_NOT_ALLOWED,
        RATE_LIMITED,
        INTERNAL,
        UNAVAILABLE,
        INVALID_CLIENT,
        INVALID_REQUEST,
        UNSUPPORTED_GRANT_TYPE,
    ];
}

/// Machine codes of `FieldError.code` besides the password rules
/// (`PasswordRule::code`).
pub mod field_code {
    pub const INVALID: &str = "invalid";
    pub const REQUIRED: &str = "required";
    pub const INVALID_EMAIL: &str = "invalid_email";
    pub const INVALID_MOBILE: &str = "invalid_mobile";
    /// The recovery e-mail is the PEC mailbox itself, useless for recovering it.
    pub const SAME_AS_MAILBOX: &str = "same_as_mailbox";
    /// These codes; the password rules add theirs.
    pub const ALL: [&str; 5] = [
        INVALID,
        REQUIRED,
        INVALID_EMAIL,
        INVALID_MOBILE,
        SAME_AS_MAILBOX,
    ];
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

/// Path of `setRecoveryContacts` for a mailbox.
pub fn recovery_contacts_path(address: &str) -> String {
    format!("{}/recovery-contacts", mailbox_path(address))
}

/// Path of `resetPassword` for a mailbox.
pub fn password_reset_path(address: &str) -> String {
    format!("{}/password-reset", mailbox_path(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_table_matches_the_ids() {
        let ids: Vec<&str> = OPERATIONS.iter().map(|op| op.id).collect();
        assert_eq!(ids, operation::ALL);
        for op in OPERATIONS {
            assert_eq!(
                op.state_changing,
                op.method != Method::Get && op.needs_token
            );
        }
        let a = "a@pec.fofi.it";
        for (id, path) in [
            (operation::GET_MAILBOX, mailbox_path(a)),
            (operation::RESEND_RECOVERY_EMAIL, recovery_email_path(a)),
            (operation::SET_RECOVERY_CONTACTS, recovery_contacts_path(a)),
            (operation::RESET_PASSWORD, password_reset_path(a)),
        ] {
            assert_eq!(operation(id).unwrap().path.replace("{address}", a), path);
        }
    }

    #[test]
    fn filters_round_trip_through_the_query() {
        let filter = MailboxFilter {
            migration: vec![
                MigrationState::FailedCredentials,
                MigrationState::FailedTwoFactor,
            ],
            password: vec![PasswordState::LinkExpired],
            updated_since: Some(Utc::now()),
        };
        let query = filter.query(Some("c"), 10);
        assert_eq!(
            query.migration_state.as_deref(),
            Some("failed_credentials,failed_2fa")
        );
        assert_eq!(MailboxFilter::from_query(&query).unwrap(), filter);
        let bad = ListQuery {
            password_state: Some("set,nope".into()),
            ..ListQuery::default()
        };
        assert_eq!(MailboxFilter::from_query(&bad), Err("password_state"));
        assert_eq!(
            MailboxFilter::from_query(&ListQuery::default()).unwrap(),
            MailboxFilter::default()
        );
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let reset = PasswordResetRequest {
            temporary_password: "Segreto!23".into(),
        };
        assert!(!format!("{reset:?}").contains("Segreto"));
        let token = TokenResponse {
            access_token: "abc123".into(),
            token_type: "Bearer".into(),
            expires_in: 60,
        };
        assert!(!format!("{token:?}").contains("abc123"));
    }
}
