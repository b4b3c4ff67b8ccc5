//! The HTTP client of Aruba's partner API, to the letter of the published
//! files (`assets/aruba-api.json` is the project's copy of the part used).
//!
//! - Auth (`05-auth.json`): username and password at `POST /public/auth/v2/token`
//!   for a JWT access token (300 s) and a refresh token (12 h); the access
//!   token is renewed at `POST /public/auth/v2/refresh` before it expires, and
//!   a new login happens when the refresh token has expired or is refused.
//!   Tokens and the password travel only in bodies and sensitive headers and
//!   never appear in Debug, logs or messages.
//! - The same transport as the provider client ([`crate::provider::client`]):
//!   HTTPS (plain HTTP only to this computer), timeouts, retries with backoff
//!   and jitter on time-outs, connection errors and 5xx, `Retry-After` on 429,
//!   limits on requests in flight and per second across clones.
//! - Errors in the spec's shape (`{data, datetime, version, errors: [{code,
//!   description, validationError}]}`) become [`ArubaError`]s naming Aruba's code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::api::{self, Account, Envelope, Owner, Page};
use crate::provider::ProviderError;
use crate::provider::client::{
    Retryable, Transport, check_base_url, http_client, quote, root_cause, sensitive_bearer,
};

/// Where Aruba is and who pecdesk is there.
#[derive(Clone)]
pub struct ArubaConfig {
    /// The spec's server URL, `https://publicapi-areaclienti.arubapec.it/service`;
    /// `http://` only for a loopback host (the simulator).
    pub base_url: String,
    pub username: String,
    pub password: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    pub max_retry_after: Duration,
    pub max_in_flight: usize,
    /// 0: no limit.
    pub max_per_second: u32,
    /// Mailboxes asked per page when listing the domain.
    pub page_size: u32,
}

impl std::fmt::Debug for ArubaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArubaConfig")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"***")
            .finish_non_exhaustive()
    }
}

impl ArubaConfig {
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            username: username.into(),
            password: password.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            max_attempts: 8,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            max_in_flight: 4,
            max_per_second: 10,
            page_size: 200,
        }
    }
}

/// Why a call to Aruba failed. Messages are Italian, name Aruba's error code
/// when there is one, and never contain a token or the password.
#[derive(Debug, thiserror::Error)]
pub enum ArubaError {
    #[error("indirizzo di Aruba non valido: {0}")]
    InvalidUrl(String),
    #[error(
        "indirizzo di Aruba non cifrato: {0} (serve https://; http:// solo verso questo computer)"
    )]
    InsecureUrl(String),
    #[error("Aruba non raggiungibile: {0}")]
    Unreachable(String),
    #[error("Aruba non ha risposto in tempo")]
    Timeout,
    #[error("credenziali dell'account partner rifiutate da Aruba{}", code_suffix(.code))]
    LoginRefused { code: Option<String> },
    #[error("token di accesso rifiutato da Aruba{}", code_suffix(.code))]
    Unauthorized { code: Option<String> },
    #[error("{what} inesistente presso Aruba{}{}", code_suffix(.code), description_suffix(.description))]
    NotFound {
        what: String,
        code: Option<String>,
        description: Option<String>,
    },
    #[error("Aruba ha rifiutato la richiesta (HTTP {status}{}){}", code_suffix(.code), description_suffix(.description))]
    Rejected {
        status: u16,
        code: Option<String>,
        description: Option<String>,
    },
    #[error("troppe richieste ad Aruba")]
    RateLimited { retry_after: Option<Duration> },
    #[error("errore di Aruba (HTTP {status}{}){}", code_suffix(.code), description_suffix(.description))]
    Server {
        status: u16,
        code: Option<String>,
        description: Option<String>,
    },
    #[error("risposta di Aruba non conforme alle specifiche pubblicate: {0}")]
    Contract(String),
    #[error("nessuna risposta valida da Aruba dopo {attempts} tentativi: {last}")]
    GaveUp {
        attempts: u32,
        last: Box<ArubaError>,
    },
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(", codice Aruba {c}"))
        .unwrap_or_default()
}

fn description_suffix(description: &Option<String>) -> String {
    description
        .as_deref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

impl ArubaError {
    /// What the staff should read, with what to do.
    pub fn message_it(&self) -> String {
        match self {
            ArubaError::LoginRefused { .. } => format!(
                "{self}. Verificare username e password dell'account partner Aruba \
                 ([aruba] username, PECDESK_ARUBA_PASSWORD)."
            ),
            ArubaError::Unreachable(_) | ArubaError::Timeout | ArubaError::Server { .. } => {
                format!("{self}. Riprovare tra qualche minuto.")
            }
            ArubaError::Rejected { status: 403, .. } => {
                format!("{self}. L'account partner deve avere il permesso «Accesso API PEC».")
            }
            ArubaError::GaveUp { attempts, last } => format!(
                "Nessuna risposta valida da Aruba dopo {attempts} tentativi. {}",
                last.message_it()
            ),
            other => format!("{other}."),
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            ArubaError::Unreachable(_)
            | ArubaError::Timeout
            | ArubaError::RateLimited { .. }
            | ArubaError::Server { .. } => true,
            ArubaError::GaveUp { last, .. } => last.is_transient(),
            _ => false,
        }
    }

    /// Aruba could not be reached or did not answer (exit code 3).
    pub fn is_unreachable(&self) -> bool {
        match self {
            ArubaError::Unreachable(_) | ArubaError::Timeout => true,
            ArubaError::GaveUp { last, .. } => last.is_unreachable(),
            _ => false,
        }
    }

    fn from_provider(error: ProviderError) -> Self {
        match error {
            ProviderError::InvalidUrl(u) => ArubaError::InvalidUrl(u),
            ProviderError::InsecureUrl(u) => ArubaError::InsecureUrl(u),
            other => ArubaError::Contract(other.to_string()),
        }
    }
}

impl Retryable for ArubaError {
    fn is_transient(&self) -> bool {
        ArubaError::is_transient(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ArubaError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    fn gave_up(attempts: u32, last: Self) -> Self {
        ArubaError::GaveUp {
            attempts,
            last: Box::new(last),
        }
    }
}

/// Fresh tokens one call may ask for after 401 answers.
const MAX_RENEWALS: u32 = 3;

/// How long before expiry a token is renewed: a tenth of its life, at most a minute.
fn refresh_margin(life: Duration) -> Duration {
    (life / 10).min(Duration::from_secs(60))
}

struct Session {
    access: HeaderValue,
    access_until: Instant,
    refresh_token: String,
    refresh_until: Instant,
    generation: u64,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    username: String,
    password: String,
    page_size: u32,
    transport: Transport,
    /// Held across a login or refresh, so concurrent callers wait for one.
    session: tokio::sync::Mutex<Option<Session>>,
    generations: std::sync::atomic::AtomicU64,
}

/// A client of Aruba's partner API. Cheap to clone: clones share the
/// connection pool, the session and the limits.
#[derive(Clone)]
pub struct ArubaClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ArubaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArubaClient")
            .field("base_url", &self.inner.base_url)
            .field("username", &self.inner.username)
            .finish_non_exhaustive()
    }
}

/// What one request is: its method, path, query and JSON body.
struct Call<'a> {
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<serde_json::Value>,
    /// What a 404 is about, for the message.
    what: &'a str,
    /// Whether a transient failure is retried here. Not for a change: Aruba
    /// has no idempotency key, so its caller reads again before another try.
    retry: bool,
}

impl ArubaClient {
    pub fn new(config: ArubaConfig) -> Result<Self, ArubaError> {
        let base_url = check_base_url(&config.base_url).map_err(ArubaError::from_provider)?;
        if config.username.trim().is_empty() || config.password.is_empty() {
            return Err(ArubaError::LoginRefused { code: None });
        }
        let http = http_client(&base_url, config.connect_timeout, config.request_timeout)
            .map_err(ArubaError::from_provider)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                username: config.username.trim().to_string(),
                password: config.password,
                page_size: config.page_size.clamp(1, 2000),
                transport: Transport::new(
                    "Aruba",
                    config.max_attempts,
                    config.backoff_base,
                    config.backoff_cap,
                    config.max_retry_after,
                    config.max_in_flight,
                    config.max_per_second,
                ),
                session: tokio::sync::Mutex::new(None),
                generations: Default::default(),
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// One page of `domainListMailboxes` (pages count from 0).
    pub async fn list_mailboxes(
        &self,
        domain: &str,
        page: u32,
        size: u32,
    ) -> Result<Page<Account>, ArubaError> {
        self.authed(Call {
            method: Method::POST,
            path: api::LIST_MAILBOXES_PATH.to_string(),
            query: paging(page, size),
            body: Some(json(&api::DomainByNameRequest {
                full_name: domain.to_string(),
            })),
            what: "dominio",
            retry: true,
        })
        .await
    }

    /// Every mailbox of `domain`, page after page; `progress` hears how many
    /// were fetched and how many there are. Offset paging can skip or repeat
    /// an account that appears or goes during the listing: when the count at
    /// the end is not the count at the start, the listing starts again.
    pub async fn fetch_domain_mailboxes(
        &self,
        domain: &str,
        mut progress: impl FnMut(usize, u64),
    ) -> Result<Vec<Account>, ArubaError> {
        let size = self.inner.page_size;
        let mut last_error = None;
        for _ in 0..3 {
            let mut seen = std::collections::BTreeMap::new();
            let mut page = 0;
            let mut first_total = None;
            let mut last_total;
            loop {
                let answer = self.list_mailboxes(domain, page, size).await?;
                first_total.get_or_insert(answer.total_elements);
                last_total = answer.total_elements;
                for account in answer.content {
                    seen.insert(account.name.to_lowercase(), account);
                }
                progress(seen.len(), answer.total_elements.max(0) as u64);
                // `totalPages` bounds the walk even if a page never says `last`.
                let past_the_end = i64::from(page) + 1 >= i64::from(answer.total_pages);
                if answer.last || answer.empty || answer.number_of_elements == 0 || past_the_end {
                    break;
                }
                page += 1;
            }
            if first_total == Some(last_total) && seen.len() as i64 == last_total {
                return Ok(seen.into_values().collect());
            }
            last_error = Some(ArubaError::Contract(format!(
                "elenco delle caselle cambiato durante la lettura ({} lette, {last_total} dichiarate)",
                seen.len()
            )));
        }
        Err(last_error.expect("three attempts"))
    }

    /// `accountInfo`: a mailbox's details (Aruba answers only for some statuses).
    pub async fn account_info(&self, address: &str) -> Result<Account, ArubaError> {
        self.authed(Call {
            method: Method::POST,
            path: api::ACCOUNT_INFO_PATH.to_string(),
            query: Vec::new(),
            body: Some(json(&api::AccountInfoRequest {
                name: address.trim().to_lowercase(),
                load_extra_data: Some(false),
            })),
            what: "casella",
            retry: true,
        })
        .await
    }

    /// One page of `accountList`.
    pub async fn search_accounts(
        &self,
        request: &api::AccountSearchRequest,
        page: u32,
        size: u32,
    ) -> Result<Page<Account>, ArubaError> {
        self.authed(Call {
            method: Method::POST,
            path: api::ACCOUNT_SEARCH_PATH.to_string(),
            query: paging(page, size),
            body: Some(json(request)),
            what: "casella",
            retry: true,
        })
        .await
    }

    /// `ownerInfo`.
    pub async fn owner(&self, id: i64) -> Result<Owner, ArubaError> {
        self.authed(Call {
            method: Method::GET,
            path: api::OWNER_INFO_PATH.replace("{id}", &id.to_string()),
            query: Vec::new(),
            body: None,
            what: "titolare",
            retry: true,
        })
        .await
    }

    /// One page of `ownerSearch`.
    pub async fn search_owners(
        &self,
        request: &api::OwnerSearchRequest,
        page: u32,
        size: u32,
    ) -> Result<Page<Owner>, ArubaError> {
        self.authed(Call {
            method: Method::POST,
            path: api::OWNER_SEARCH_PATH.to_string(),
            query: paging(page, size),
            body: Some(json(request)),
            what: "titolare",
            retry: true,
        })
        .await
    }

    /// `ownerUpdate` with only the contact fields given: Aruba "updates only
    /// data passed in the request". One attempt: without an idempotency key a
    /// blind retry could land on data changed meanwhile, so the caller reads
    /// the owner again before trying again.
    pub async fn update_owner_contacts(
        &self,
        owner_id: i64,
        contacts: &api::ContactDataUpdate,
    ) -> Result<Owner, ArubaError> {
        let request = api::OwnerUpdateRequest {
            owner_id: api::OwnerId {
                id: Some(owner_id),
                tax_code: None,
            },
            contacts: Some(contacts.clone()),
        };
        self.authed(Call {
            method: Method::PATCH,
            path: api::OWNERS_PATH.to_string(),
            query: Vec::new(),
            body: Some(json(&request)),
            what: "titolare",
            retry: false,
        })
        .await
    }

    /// A bearer header for the next request: the current access token, a
    /// refreshed one, or a new login.
    async fn access(&self) -> Result<(HeaderValue, u64), ArubaError> {
        let mut session = self.inner.session.lock().await;
        let now = Instant::now();
        if let Some(s) = session.as_ref()
            && now < s.access_until
        {
            return Ok((s.access.clone(), s.generation));
        }
        let refreshable = session
            .as_ref()
            .filter(|s| now < s.refresh_until)
            .map(|s| s.refresh_token.clone());
        let mut model = None;
        if let Some(refresh_token) = refreshable {
            match self
                .exchange(
                    api::REFRESH_PATH,
                    json(&api::RefreshRequest { refresh_token }),
                )
                .await
            {
                Ok(answer) => model = Some(answer),
                Err(error) if error.is_transient() => return Err(error),
                // Refused (expired early, revoked): log in again.
                Err(error) => {
                    tracing::info!(%error, "refresh del token Aruba rifiutato, nuovo login")
                }
            }
        }
        let model = match model {
            Some(model) => model,
            None => {
                tracing::info!("login presso Aruba");
                self.exchange(
                    api::TOKEN_PATH,
                    json(&api::TokenRequest {
                        username: self.inner.username.clone(),
                        password: self.inner.password.clone(),
                    }),
                )
                .await
                .map_err(|e| match e {
                    ArubaError::Unauthorized { code } => ArubaError::LoginRefused { code },
                    other => other,
                })?
            }
        };
        let received = Instant::now();
        let fresh = new_session(model, received, self.next_generation())?;
        let answer = (fresh.access.clone(), fresh.generation);
        *session = Some(fresh);
        Ok(answer)
    }

    fn next_generation(&self) -> u64 {
        self.inner
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    /// After a 401: forget the access token it was sent with (not a newer one).
    async fn discard_access(&self, generation: u64) {
        let mut session = self.inner.session.lock().await;
        if let Some(s) = session.as_mut()
            && s.generation == generation
        {
            s.access_until = Instant::now();
        }
    }

    /// A token or refresh request, with retries on transient failures.
    async fn exchange(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<api::TokenModel, ArubaError> {
        let url = format!("{}{path}", self.inner.base_url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = self.inner.http.post(&url).json(&body);
            match self.attempt(request, "sessione").await {
                Ok(model) => return Ok(model),
                Err(error) => {
                    self.inner
                        .transport
                        .pause_or_give_up(error, attempt)
                        .await?
                }
            }
        }
    }

    /// An authenticated call, with retries; a 401 gets a fresh token, a few
    /// times at most (a token may expire in flight again when requests are
    /// slow; credentials that are wrong fail at the login itself).
    async fn authed<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, ArubaError> {
        let url = format!("{}{}", self.inner.base_url, call.path);
        let mut attempt = 0;
        let mut renewals = 0;
        loop {
            attempt += 1;
            let (auth, generation) = match self.access().await {
                Ok(access) => access,
                Err(error) => {
                    self.inner
                        .transport
                        .pause_or_give_up(error, attempt)
                        .await?;
                    continue;
                }
            };
            let mut request = self
                .inner
                .http
                .request(call.method.clone(), &url)
                .header(AUTHORIZATION, auth);
            if !call.query.is_empty() {
                request = request.query(&call.query);
            }
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let error = match self.attempt(request, call.what).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if matches!(error, ArubaError::Unauthorized { .. }) && renewals < MAX_RENEWALS {
                // Expired in flight or revoked: a fresh token, not counted.
                tracing::info!("token Aruba rifiutato, ne chiedo uno nuovo");
                renewals += 1;
                attempt -= 1;
                self.discard_access(generation).await;
                continue;
            }
            if !call.retry && error.is_transient() {
                return Err(error);
            }
            self.inner
                .transport
                .pause_or_give_up(error, attempt)
                .await?;
        }
    }

    /// One exchange within the limits; the envelope's `data` on success.
    async fn attempt<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<T, ArubaError> {
        let (status, retry_after, body) =
            self.inner
                .transport
                .exchange(request)
                .await
                .map_err(|e| match e {
                    Ok(error) => ArubaError::from_provider(error),
                    Err(error) => self.transport_error(error),
                })?;
        if status.is_success() {
            let envelope: Envelope<T> = serde_json::from_slice(&body).map_err(|e| {
                ArubaError::Contract(format!(
                    "risposta HTTP {} illeggibile ({e}): {}",
                    status.as_u16(),
                    quote(&body)
                ))
            })?;
            return envelope.data.ok_or_else(|| {
                ArubaError::Contract(format!("risposta senza «data»: {}", quote(&body)))
            });
        }
        Err(error_from(status, &body, retry_after, what))
    }

    fn transport_error(&self, error: reqwest::Error) -> ArubaError {
        if error.is_timeout() {
            return ArubaError::Timeout;
        }
        let error = error.without_url();
        ArubaError::Unreachable(format!("{} ({})", self.inner.base_url, root_cause(&error)))
    }
}

fn paging(page: u32, size: u32) -> Vec<(&'static str, String)> {
    vec![
        ("page", page.to_string()),
        ("size", size.to_string()),
        ("sort", "name,asc".to_string()),
    ]
}

fn json(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("wire types serialize")
}

fn new_session(
    model: api::TokenModel,
    received: Instant,
    generation: u64,
) -> Result<Session, ArubaError> {
    if !model.token_type.eq_ignore_ascii_case("bearer") {
        return Err(ArubaError::Contract(format!(
            "token di tipo «{}» invece di Bearer",
            model.token_type
        )));
    }
    if model.expires_in <= 0 || model.refresh_expires_in < 0 {
        return Err(ArubaError::Contract(
            "token con durata non valida".to_string(),
        ));
    }
    let access = sensitive_bearer(model.access_token.trim())
        .filter(|_| !model.access_token.trim().is_empty())
        .ok_or_else(|| ArubaError::Contract("token vuoto o non valido".to_string()))?;
    let access_life = Duration::from_secs(model.expires_in as u64);
    let refresh_life = Duration::from_secs(model.refresh_expires_in as u64);
    Ok(Session {
        access,
        access_until: received + access_life - refresh_margin(access_life),
        refresh_token: model.refresh_token,
        refresh_until: received + refresh_life - refresh_margin(refresh_life),
        generation,
    })
}

/// A non-2xx answer as an error, by HTTP status and Aruba's first error.
fn error_from(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
    what: &str,
) -> ArubaError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ArubaError::RateLimited { retry_after };
    }
    let parsed: Option<api::ErrorResponse> = serde_json::from_slice(body).ok();
    let first = parsed
        .as_ref()
        .and_then(|e| e.errors.as_ref())
        .and_then(|errors| errors.first());
    let code = first.and_then(|e| e.code.clone());
    let description = first.and_then(|e| {
        let field = e.validation_error.as_ref().and_then(|v| v.field.as_deref());
        match (e.description.as_deref(), field) {
            (Some(d), Some(f)) => Some(format!("{d} (campo {f})")),
            (Some(d), None) => Some(d.to_string()),
            (None, Some(f)) => Some(format!("campo {f}")),
            (None, None) => None,
        }
    });
    if parsed.is_none() && !status.is_server_error() {
        if status == StatusCode::UNAUTHORIZED {
            return ArubaError::Unauthorized { code: None };
        }
        return ArubaError::Contract(format!(
            "errore HTTP {} senza il formato previsto: {}",
            status.as_u16(),
            quote(body)
        ));
    }
    match status.as_u16() {
        401 => ArubaError::Unauthorized { code },
        404 => ArubaError::NotFound {
            what: what.to_string(),
            code,
            description,
        },
        500..=599 => ArubaError::Server {
            status: status.as_u16(),
            code,
            description: description.or_else(|| parsed.is_none().then(|| quote(body))),
        },
        other => ArubaError::Rejected {
            status: other,
            code,
            description,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_arubas_code() {
        let body = br#"{"data":"","datetime":"2026-01-01T10:00:00.000+01:00","version":"v2",
            "errors":[{"code":"004","description":"Account not found"}]}"#;
        let error = error_from(StatusCode::NOT_FOUND, body, None, "casella");
        assert!(error.to_string().contains("codice Aruba 004"), "{error}");
        let body = br#"{"version":"v2","errors":[{"code":"001","description":"Invalid",
            "validationError":{"field":"contacts.email","code":"Size"}}]}"#;
        let error = error_from(StatusCode::BAD_REQUEST, body, None, "titolare");
        let shown = error.message_it();
        assert!(
            shown.contains("001") && shown.contains("contacts.email"),
            "{shown}"
        );
        assert!(error_from(StatusCode::BAD_GATEWAY, b"<html>", None, "x").is_transient());
        assert!(matches!(
            error_from(StatusCode::UNAUTHORIZED, b"", None, "x"),
            ArubaError::Unauthorized { .. }
        ));
    }

    #[test]
    fn the_session_renews_before_expiry() {
        let now = Instant::now();
        let model = api::TokenModel {
            access_token: "a".into(),
            expires_in: 300,
            refresh_token: "r".into(),
            refresh_expires_in: 43200,
            token_type: "Bearer".into(),
        };
        let s = new_session(model, now, 1).unwrap();
        assert_eq!(s.access_until - now, Duration::from_secs(270));
        assert_eq!(s.refresh_until - now, Duration::from_secs(43140));
        assert!(s.access.is_sensitive());
    }

    #[test]
    fn debug_hides_the_password() {
        let config = ArubaConfig::new("https://x.example", "partner", "pw-s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
        let client = ArubaClient::new(config).unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
        let request = api::TokenRequest {
            username: "u".into(),
            password: "pw-s3cret".into(),
        };
        assert!(!format!("{request:?}").contains("s3cret"));
    }
}
