//! The HTTP client of the provider contract (`assets/provider-api.yaml`).
//!
//! - Auth: OAuth2 client credentials (RFC 6749 section 4.4), the token cached
//!   and refreshed before it expires, and once more on a 401; or a static
//!   bearer token. Secrets travel only in sensitive headers and never appear
//!   in Debug, logs or messages.
//! - HTTPS with certificate verification (rustls); plain HTTP only to this
//!   computer.
//! - Connect and whole-request timeouts; retries with exponential backoff and
//!   jitter for timeouts, connection errors and 5xx; 429 waits `Retry-After`;
//!   a bounded number of attempts, then [`ProviderError::GaveUp`].
//! - A state-changing request always carries an idempotency key, and a retry
//!   reuses it, so a retry never acts twice.
//! - Requests in flight and per second are limited across every clone of the
//!   client, so a bulk job never floods the provider.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;

use crate::domain::MailboxState;
use crate::domain::password::PasswordRule;
use crate::provider::api::{self, error_code};

/// How pecdesk proves who it is to the provider.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A bearer token issued out of band (the simulator's `--token`).
    StaticToken(String),
    /// OAuth2 client credentials, exchanged at `POST /oauth/token` for a
    /// short-lived bearer token.
    ClientCredentials {
        client_id: String,
        client_secret: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::StaticToken(_) => f.write_str("StaticToken(***)"),
            Credentials::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &"***")
                .finish(),
        }
    }
}

/// Where the provider is and how to talk to it.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://...`; `http://` only for a loopback host (the simulator).
    pub base_url: String,
    pub credentials: Credentials,
    pub connect_timeout: Duration,
    /// Whole request, answer included.
    pub request_timeout: Duration,
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// First retry waits between half and all of this; each retry doubles it.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Longest `Retry-After` honoured; a longer one is cut to this.
    pub max_retry_after: Duration,
    /// Requests in flight at once, over every clone of the client.
    pub max_in_flight: usize,
    /// Requests started per second, over every clone of the client; 0: no limit.
    pub max_per_second: u32,
    /// Mailboxes asked per page when listing (1 to `api::MAX_PER_PAGE`).
    pub page_size: u32,
}

impl ClientConfig {
    /// A client that authenticates with a static bearer token.
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self::with_credentials(base_url, Credentials::StaticToken(token.into()))
    }

    /// A client that obtains its tokens with OAuth2 client credentials.
    pub fn with_client_credentials(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self::with_credentials(
            base_url,
            Credentials::ClientCredentials {
                client_id: client_id.into(),
                client_secret: client_secret.into(),
            },
        )
    }

    pub fn with_credentials(base_url: impl Into<String>, credentials: Credentials) -> Self {
        Self {
            base_url: base_url.into(),
            credentials,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            // A sync of 10,000 mailboxes is ~20 pages; with one request in four
            // failing, eight attempts make giving up on a page about 1 in 100,000.
            max_attempts: 8,
            backoff_base: Duration::from_millis(200),
            backoff_cap: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
            max_in_flight: 4,
            max_per_second: 10,
            page_size: api::MAX_PER_PAGE,
        }
    }
}

/// Why a call to the provider failed. Messages are in Italian and never
/// contain a token or a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("indirizzo del gestore non valido: {0}")]
    InvalidUrl(String),
    #[error(
        "indirizzo del gestore non cifrato: {0} (serve https://; http:// solo verso questo computer)"
    )]
    InsecureUrl(String),
    #[error("gestore non raggiungibile: {0}")]
    Unreachable(String),
    #[error("il gestore non ha risposto in tempo")]
    Timeout,
    #[error("token di accesso rifiutato dal gestore")]
    Unauthorized,
    #[error("credenziali del client (client_id, client_secret) rifiutate dal gestore")]
    InvalidCredentials,
    #[error("casella {0} non trovata presso il gestore")]
    NotFound(String),
    #[error("la casella {0} non ha un indirizzo e-mail di recupero")]
    NoRecoveryContact(String),
    #[error("casella {address}: migrazione in corso, password non modificabile: {message}")]
    MigrationInProgress { address: String, message: String },
    #[error("password temporanea rifiutata: {}", rules_it(.rules))]
    PasswordRejected { rules: Vec<PasswordRule> },
    #[error("dati rifiutati dal gestore: {}", details_it(.details))]
    Invalid { details: Vec<api::FieldError> },
    #[error("troppe richieste al gestore{}", retry_suffix(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    #[error("errore del gestore (HTTP {status}, {code}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("risposta del gestore non conforme al contratto: {0}")]
    Contract(String),
    #[error("nessuna risposta valida dal gestore dopo {attempts} tentativi: {last}")]
    GaveUp {
        attempts: u32,
        last: Box<ProviderError>,
    },
}

fn retry_suffix(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", riprovare tra {} secondi", d.as_secs().max(1)),
        None => String::new(),
    }
}

fn rules_it(rules: &[PasswordRule]) -> String {
    rules
        .iter()
        .map(|r| r.description_it())
        .collect::<Vec<_>>()
        .join("; ")
}

fn details_it(details: &[api::FieldError]) -> String {
    details
        .iter()
        .map(|d| format!("{}: {}", d.field, d.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ProviderError {
    /// What the staff should read: plain Italian, with what to do.
    pub fn message_it(&self) -> String {
        match self {
            ProviderError::InvalidUrl(url) => format!(
                "L'indirizzo del gestore nella configurazione non è valido ({url}). \
                 Correggere la configurazione di pecdesk."
            ),
            ProviderError::InsecureUrl(url) => format!(
                "Per sicurezza pecdesk si collega al gestore solo con https://. \
                 L'indirizzo configurato ({url}) non è cifrato: correggere la configurazione."
            ),
            ProviderError::Unreachable(_) => "Il gestore non è raggiungibile in questo momento. \
                 Verificare la connessione di rete e riprovare tra qualche minuto."
                .to_string(),
            ProviderError::Timeout => "Il gestore non ha risposto entro il tempo previsto. \
                 Riprovare tra qualche minuto."
                .to_string(),
            ProviderError::Unauthorized => "Il gestore ha rifiutato il token di accesso. \
                 Chiedere all'amministratore di verificare le credenziali nella configurazione."
                .to_string(),
            ProviderError::InvalidCredentials => {
                "Il gestore ha rifiutato le credenziali di pecdesk (client_id e client_secret). \
                 Chiedere all'amministratore di verificarle nella configurazione."
                    .to_string()
            }
            ProviderError::NotFound(address) => format!(
                "La casella {address} non esiste presso il gestore. \
                 Verificare l'indirizzo PEC nell'albo."
            ),
            ProviderError::NoRecoveryContact(address) => format!(
                "La casella {address} non ha un indirizzo e-mail di recupero, quindi non si può \
                 inviare il link: l'Ordine deve impostare un contatto di recupero o reimpostare \
                 la password."
            ),
            ProviderError::MigrationInProgress { address, .. } => format!(
                "La password della casella {address} non si può reimpostare prima del passaggio \
                 al nuovo gestore: fino ad allora il titolare usa la password attuale."
            ),
            ProviderError::PasswordRejected { rules } => format!(
                "La password temporanea non rispetta le regole: {}. Sceglierne un'altra.",
                rules_it(rules)
            ),
            ProviderError::Invalid { details } => {
                format!("Dati non accettati dal gestore: {}.", details_it(details))
            }
            ProviderError::RateLimited {
                retry_after: Some(d),
            } => format!(
                "Il gestore sta ricevendo troppe richieste. Riprovare tra {} secondi.",
                d.as_secs().max(1)
            ),
            ProviderError::RateLimited { retry_after: None } => {
                "Il gestore sta ricevendo troppe richieste. Riprovare tra qualche minuto."
                    .to_string()
            }
            ProviderError::Api {
                status, message, ..
            } if *status >= 500 => format!(
                "Il gestore ha un problema temporaneo (errore {status}). \
                 Riprovare più tardi. Dettaglio: {message}"
            ),
            ProviderError::Api { message, .. } => {
                format!("Il gestore ha rifiutato la richiesta: {message}")
            }
            ProviderError::Contract(detail) => format!(
                "Il gestore ha risposto in modo inatteso. Segnalare il problema \
                 all'assistenza tecnica. Dettaglio: {detail}"
            ),
            ProviderError::GaveUp { attempts, last } => format!(
                "Nessuna risposta valida dal gestore dopo {attempts} tentativi. {}",
                last.message_it()
            ),
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Unreachable(_)
            | ProviderError::Timeout
            | ProviderError::RateLimited { .. } => true,
            ProviderError::Api { status, .. } => *status >= 500,
            ProviderError::GaveUp { last, .. } => last.is_transient(),
            _ => false,
        }
    }

    /// The error itself, or the last one before giving up.
    pub fn root(&self) -> &ProviderError {
        match self {
            ProviderError::GaveUp { last, .. } => last.root(),
            other => other,
        }
    }
}

/// The largest answer read: a page of 500 mailboxes is about 200 KB, so
/// anything near this is not the contract, and must not exhaust memory.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Reads a body up to [`MAX_BODY_BYTES`]; beyond it, a contract error.
async fn read_capped(
    mut response: reqwest::Response,
) -> Result<Vec<u8>, Result<ProviderError, reqwest::Error>> {
    let too_big = || {
        Ok(ProviderError::Contract(format!(
            "risposta del gestore oltre {} MB: non conforme al contratto",
            MAX_BODY_BYTES / (1024 * 1024)
        )))
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Err)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A fresh idempotency key: 32 random hex characters.
pub fn new_idempotency_key() -> String {
    let mut rng = StdRng::from_os_rng();
    format!("{:032x}", rng.random::<u128>())
}

/// How much of an unexpected body a message quotes.
const QUOTE_CHARS: usize = 200;
/// Refresh a token this long before it expires, at most (a tenth of its life
/// for shorter ones), so that a request never leaves with a token about to die.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Everything fetched by one listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    pub mailboxes: Vec<MailboxState>,
    /// The provider's clock when it served the first page.
    pub server_time: DateTime<Utc>,
    /// How many mailboxes matched when the first page was served.
    pub total: u64,
    pub cutover_at: Option<DateTime<Utc>>,
}

/// A bearer token and when to get a new one.
struct CachedToken {
    header: HeaderValue,
    refresh_at: Instant,
    /// Which fetch this is, so a 401 only discards the token it was sent with.
    generation: u64,
}

enum Auth {
    Static(HeaderValue),
    OAuth {
        client_id: String,
        client_secret: String,
        /// Held across a fetch, so concurrent callers wait for one fetch.
        cache: tokio::sync::Mutex<Option<CachedToken>>,
    },
}

/// Starts per second: a token bucket where callers reserve their slot, so
/// waiting callers are served in order without polling.
struct Pace {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        Self {
            rate: f64::from(per_second),
            tokens: f64::from(per_second),
            last: Instant::now(),
        }
    }

    /// Reserves one start and says how long to wait for it.
    fn reserve(&mut self) -> Duration {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.rate);
        self.last = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// What the HTTP clients share below their contracts (this provider's and
/// Aruba's): the limits on requests in flight and per second, over every
/// clone of a client, and the retry policy.
pub(crate) struct Transport {
    /// Whom the requests go to, for the log ("gestore", "Aruba").
    service: &'static str,
    pub(crate) max_attempts: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    max_retry_after: Duration,
    in_flight: Semaphore,
    pace: Option<Mutex<Pace>>,
}

/// An error the transport's retries understand.
pub(crate) trait Retryable: std::fmt::Display + Sized {
    /// Whether trying again later may succeed.
    fn is_transient(&self) -> bool;
    /// The wait the server asked for (429's `Retry-After`), if any.
    fn retry_after(&self) -> Option<Duration>;
    /// The error after `attempts` attempts, the last failing with `last`.
    fn gave_up(attempts: u32, last: Self) -> Self;
}

impl Retryable for ProviderError {
    fn is_transient(&self) -> bool {
        ProviderError::is_transient(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    fn gave_up(attempts: u32, last: Self) -> Self {
        ProviderError::GaveUp {
            attempts,
            last: Box::new(last),
        }
    }
}

/// What one exchange brought back: status, `Retry-After`, body.
pub(crate) type Exchanged = (StatusCode, Option<Duration>, Vec<u8>);

impl Transport {
    pub(crate) fn new(
        service: &'static str,
        max_attempts: u32,
        backoff_base: Duration,
        backoff_cap: Duration,
        max_retry_after: Duration,
        max_in_flight: usize,
        max_per_second: u32,
    ) -> Self {
        Self {
            service,
            max_attempts: max_attempts.max(1),
            backoff_base,
            backoff_cap: backoff_cap.max(backoff_base),
            max_retry_after,
            in_flight: Semaphore::new(max_in_flight.max(1)),
            pace: (max_per_second > 0).then(|| Mutex::new(Pace::new(max_per_second))),
        }
    }

    /// One HTTP exchange within the limits, the body read up to
    /// [`MAX_BODY_BYTES`]. Err: a body too large (as a contract error), or
    /// the transport's own failure.
    pub(crate) async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Exchanged, Result<ProviderError, reqwest::Error>> {
        if let Some(pace) = &self.pace {
            let wait = pace.lock().unwrap_or_else(|e| e.into_inner()).reserve();
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let _permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(Err)?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers().get(RETRY_AFTER));
        let body = read_capped(response).await?;
        Ok((status, retry_after, body))
    }

    /// After a failed attempt: the error itself if it is final, or (through
    /// `gave_up`, after more than one attempt) if attempts are over;
    /// otherwise waits (`Retry-After` or backoff) for the next attempt.
    pub(crate) async fn pause_or_give_up<E: Retryable>(
        &self,
        error: E,
        attempt: u32,
    ) -> Result<(), E> {
        if !error.is_transient() {
            return Err(error);
        }
        let Some(wait) = self.next_wait(attempt, error.retry_after()) else {
            return Err(if attempt > 1 {
                E::gave_up(attempt, error)
            } else {
                error
            });
        };
        tracing::warn!(
            service = self.service,
            attempt,
            wait_ms = wait.as_millis() as u64,
            error = %error,
            "richiesta fallita, nuovo tentativo"
        );
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// After a transient failure of attempt number `attempt`: how long to
    /// wait (`Retry-After` when the server said, capped; otherwise backoff
    /// with jitter), or None when the attempts are over.
    pub(crate) fn next_wait(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        (attempt < self.max_attempts).then(|| match retry_after {
            Some(d) => d.min(self.max_retry_after),
            None => backoff(attempt, self.backoff_base, self.backoff_cap),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    /// Without a trailing slash.
    base_url: String,
    auth: Auth,
    page_size: u32,
    transport: Transport,
}

/// A client of the provider contract. Cheap to clone: clones share the
/// connection pool, the token and the limits.
#[derive(Clone)]
pub struct ProviderClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("base_url", &self.inner.base_url)
            .field("max_attempts", &self.inner.transport.max_attempts)
            .finish_non_exhaustive()
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Checks the base URL: absolute http(s) with a host, no credentials, query or
/// fragment; plain http only to a loopback host.
pub(crate) fn check_base_url(base_url: &str) -> Result<String, ProviderError> {
    let trimmed = base_url.trim();
    let invalid = |why: &str| ProviderError::InvalidUrl(format!("{trimmed} ({why})"));
    let url = Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid("manca l'host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("le credenziali non vanno nell'indirizzo"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("non deve contenere '?' né '#'"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err(ProviderError::InsecureUrl(trimmed.to_string())),
        other => return Err(invalid(&format!("schema '{other}' non supportato"))),
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// The HTTP client both provider clients use for `base_url` (already
/// checked): rustls with certificate verification, HTTPS only unless the URL
/// is loopback http, no redirects (following one could leave HTTPS or the
/// host), the timeouts given.
pub(crate) fn http_client(
    base_url: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<reqwest::Client, ProviderError> {
    // reqwest is built without a default crypto provider: install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_backend_rustls()
        .https_only(!base_url.starts_with("http://"))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(request_timeout)
        .user_agent(concat!("pecdesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            ProviderError::InvalidUrl(format!(
                "{base_url} (client HTTP non configurabile: {})",
                root_cause(&e)
            ))
        })
}

/// At most `QUOTE_CHARS` characters of a body, for messages.
pub(crate) fn quote(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut quoted: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().count() > QUOTE_CHARS {
        quoted.push('…');
    }
    format!("«{quoted}»")
}

/// The innermost cause of an error, which is where the useful words are
/// ("connection refused", "invalid peer certificate", ...).
pub(crate) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

/// Exponential backoff with jitter: anywhere between half and all of
/// `base * 2^(attempt-1)`, capped, so that clients failing together do not
/// retry together.
fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(cap);
    let half = exp / 2;
    let mut rng = StdRng::from_os_rng();
    half + half.mul_f64(rng.random::<f64>())
}

fn parse_retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

/// `application/x-www-form-urlencoded`, as RFC 6749 section 2.3.1 wants client
/// credentials encoded before HTTP Basic authentication.
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

pub(crate) fn sensitive_bearer(token: &str) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    header.set_sensitive(true);
    Some(header)
}

impl ProviderClient {
    pub fn new(config: ClientConfig) -> Result<Self, ProviderError> {
        let base_url = check_base_url(&config.base_url)?;
        let auth = match config.credentials {
            Credentials::StaticToken(token) => {
                let token = token.trim();
                // A token that cannot travel in a header would be refused anyway.
                let header = sensitive_bearer(token).filter(|_| !token.is_empty());
                Auth::Static(header.ok_or(ProviderError::Unauthorized)?)
            }
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                if client_id.trim().is_empty() || client_secret.is_empty() {
                    return Err(ProviderError::InvalidCredentials);
                }
                Auth::OAuth {
                    client_id: client_id.trim().to_string(),
                    client_secret,
                    cache: tokio::sync::Mutex::new(None),
                }
            }
        };
        let http = http_client(&base_url, config.connect_timeout, config.request_timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                auth,
                page_size: config.page_size.clamp(1, api::MAX_PER_PAGE),
                transport: Transport::new(
                    "gestore",
                    config.max_attempts,
                    config.backoff_base,
                    config.backoff_cap,
                    config.max_retry_after,
                    config.max_in_flight,
                    config.max_per_second,
                ),
            }),
        })
    }

    /// The provider's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.inner.base_url)
    }

    /// One page of `listMailboxes`: the first without a cursor, then each
    /// answer's `next_cursor`.
    pub async fn list_mailboxes(
        &self,
        filter: &api::MailboxFilter,
        cursor: Option<&str>,
        per_page: u32,
    ) -> Result<api::MailboxPage, ProviderError> {
        let url = self.url(&api::mailboxes_path());
        let query = filter.query(cursor, per_page);
        self.call(|| self.inner.http.get(&url).query(&query), None)
            .await
    }

    /// Every mailbox matching `filter`, following the cursors; `progress`
    /// hears after each page how many were fetched and how many match.
    pub async fn fetch_mailboxes(
        &self,
        filter: &api::MailboxFilter,
        mut progress: impl FnMut(usize, u64),
    ) -> Result<Listing, ProviderError> {
        let mut cursor: Option<String> = None;
        let mut listing: Option<Listing> = None;
        loop {
            let page = self
                .list_mailboxes(filter, cursor.as_deref(), self.inner.page_size)
                .await?;
            let listing = listing.get_or_insert_with(|| Listing {
                mailboxes: Vec::with_capacity(
                    usize::try_from(page.total).unwrap_or(0).min(1_000_000),
                ),
                server_time: page.server_time,
                total: page.total,
                cutover_at: page.cutover_at,
            });
            if page.items.is_empty() && page.next_cursor.is_some() {
                return Err(ProviderError::Contract(
                    "una pagina vuota indica una pagina successiva".to_string(),
                ));
            }
            for dto in page.items {
                // Cursors promise addresses in increasing order: anything else
                // would repeat or skip mailboxes.
                let last = listing.mailboxes.last().map(|m| m.address.as_str());
                if last.is_some_and(|last| dto.address.to_lowercase().as_str() <= last) {
                    return Err(ProviderError::Contract(format!(
                        "caselle non in ordine di indirizzo: {} dopo {}",
                        dto.address,
                        last.unwrap_or_default()
                    )));
                }
                let address = dto.address.clone();
                listing.mailboxes.push(
                    dto.into_domain()
                        .map_err(|e| ProviderError::Contract(format!("casella {address}: {e}")))?,
                );
            }
            progress(listing.mailboxes.len(), listing.total);
            match page.next_cursor {
                None => break,
                Some(next) if cursor.as_deref() == Some(next.as_str()) => {
                    return Err(ProviderError::Contract(
                        "il cursore della pagina successiva non cambia".to_string(),
                    ));
                }
                Some(next) => cursor = Some(next),
            }
        }
        Ok(listing.expect("at least one page"))
    }

    /// Every mailbox.
    pub async fn list_all_mailboxes(&self) -> Result<Vec<MailboxState>, ProviderError> {
        let listing = self
            .fetch_mailboxes(&api::MailboxFilter::default(), |_, _| {})
            .await?;
        Ok(listing.mailboxes)
    }

    /// `getMailbox`.
    pub async fn get_mailbox(&self, address: &str) -> Result<MailboxState, ProviderError> {
        let dto = self.get_mailbox_dto(address).await?;
        dto.into_domain()
            .map_err(|e| ProviderError::Contract(format!("casella {address}: {e}")))
    }

    /// `getMailbox` as the wire has it, `must_change_password` included.
    pub async fn get_mailbox_dto(&self, address: &str) -> Result<api::MailboxDto, ProviderError> {
        let url = self.url(&api::mailbox_path(address));
        let dto = self
            .call(|| self.inner.http.get(&url), Some(address))
            .await?;
        same_mailbox(address, dto)
    }

    /// `resendRecoveryEmail`. Retries reuse `idempotency_key`, so the member
    /// gets one e-mail however many attempts it takes; calling again with the
    /// same key within 24 hours returns the first answer.
    pub async fn resend_recovery_email(
        &self,
        address: &str,
        idempotency_key: &str,
    ) -> Result<api::ResendResponse, ProviderError> {
        let url = self.url(&api::recovery_email_path(address));
        self.call(
            || {
                self.inner
                    .http
                    .post(&url)
                    .header(api::IDEMPOTENCY_HEADER, idempotency_key)
                    .header(reqwest::header::CONTENT_LENGTH, "0")
            },
            Some(address),
        )
        .await
    }

    /// `setRecoveryContacts`: sets the service e-mail and/or the mobile;
    /// answers the mailbox as it is afterwards. Idempotent by key, as above.
    pub async fn set_recovery_contacts(
        &self,
        address: &str,
        contacts: &api::RecoveryContactsRequest,
        idempotency_key: &str,
    ) -> Result<api::MailboxDto, ProviderError> {
        let url = self.url(&api::recovery_contacts_path(address));
        let dto = self
            .call(
                || {
                    self.inner
                        .http
                        .put(&url)
                        .header(api::IDEMPOTENCY_HEADER, idempotency_key)
                        .json(contacts)
                },
                Some(address),
            )
            .await?;
        same_mailbox(address, dto)
    }

    /// `resetPassword`: the Ordine's reset with a temporary password, which
    /// the member must change at the next login. Idempotent by key, as above.
    pub async fn reset_password(
        &self,
        address: &str,
        temporary_password: &str,
        idempotency_key: &str,
    ) -> Result<api::MailboxDto, ProviderError> {
        let url = self.url(&api::password_reset_path(address));
        let body = api::PasswordResetRequest {
            temporary_password: temporary_password.to_string(),
        };
        let dto = self
            .call(
                || {
                    self.inner
                        .http
                        .post(&url)
                        .header(api::IDEMPOTENCY_HEADER, idempotency_key)
                        .json(&body)
                },
                Some(address),
            )
            .await?;
        same_mailbox(address, dto)
    }

    /// The `Authorization` header to send, and the token generation it is
    /// (0 for a static token).
    async fn bearer(&self) -> Result<(HeaderValue, u64), ProviderError> {
        let (client_id, client_secret, cache) = match &self.inner.auth {
            Auth::Static(header) => return Ok((header.clone(), 0)),
            Auth::OAuth {
                client_id,
                client_secret,
                cache,
            } => (client_id, client_secret, cache),
        };
        let mut cached = cache.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok((token.header.clone(), token.generation));
        }
        let generation = cached.as_ref().map_or(1, |t| t.generation + 1);
        let fresh = self
            .fetch_token(client_id, client_secret, generation)
            .await?;
        let answer = (fresh.header.clone(), fresh.generation);
        *cached = Some(fresh);
        Ok(answer)
    }

    /// Forgets the token of `generation` after the provider refused it.
    async fn discard_token(&self, generation: u64) {
        if let Auth::OAuth { cache, .. } = &self.inner.auth {
            let mut cached = cache.lock().await;
            if cached.as_ref().is_some_and(|t| t.generation == generation) {
                *cached = None;
            }
        }
    }

    /// `issueToken`, with the same retries as any call (asking for a token
    /// twice is harmless, so no idempotency key is needed).
    async fn fetch_token(
        &self,
        client_id: &str,
        client_secret: &str,
        generation: u64,
    ) -> Result<CachedToken, ProviderError> {
        let url = self.url(api::TOKEN_PATH);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = self
                .inner
                .http
                .post(&url)
                .basic_auth(form_encode(client_id), Some(form_encode(client_secret)))
                .form(&[("grant_type", "client_credentials")]);
            let received = Instant::now();
            match self.attempt::<api::TokenResponse>(request, None).await {
                Ok(answer) => return cached_token(answer, received, generation),
                Err(ProviderError::Unauthorized) => return Err(ProviderError::InvalidCredentials),
                Err(ProviderError::Api { code, .. }) if code == error_code::INVALID_CLIENT => {
                    return Err(ProviderError::InvalidCredentials);
                }
                Err(error) => {
                    self.inner
                        .transport
                        .pause_or_give_up(error, attempt)
                        .await?
                }
            }
        }
    }

    /// Sends the request built by `build` with a bearer token, retrying
    /// transient failures, and once with a fresh token after a 401.
    async fn call<T: DeserializeOwned>(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        address: Option<&str>,
    ) -> Result<T, ProviderError> {
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            // Token failures were already retried where the token is fetched.
            let (auth, generation) = self.bearer().await?;
            attempt += 1;
            let request = build().header(AUTHORIZATION, auth);
            let error = match self.attempt(request, address).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if matches!(error, ProviderError::Unauthorized)
                && matches!(self.inner.auth, Auth::OAuth { .. })
                && !refreshed
            {
                // The token expired in flight or was revoked: one fresh token,
                // not counted as an attempt.
                tracing::info!("token di accesso rifiutato dal gestore, ne chiedo uno nuovo");
                refreshed = true;
                attempt -= 1;
                self.discard_token(generation).await;
                continue;
            }
            self.inner
                .transport
                .pause_or_give_up(error, attempt)
                .await?;
        }
    }

    /// One HTTP exchange, within the limits on requests per second and in flight.
    async fn attempt<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        address: Option<&str>,
    ) -> Result<T, ProviderError> {
        let (status, retry_after, body) = self
            .inner
            .transport
            .exchange(request)
            .await
            .map_err(|e| e.unwrap_or_else(|e| self.transport_error(e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                ProviderError::Contract(format!(
                    "risposta HTTP {} illeggibile ({e}): {}",
                    status.as_u16(),
                    quote(&body)
                ))
            });
        }
        Err(error_from(status, &body, retry_after, address))
    }

    fn transport_error(&self, error: reqwest::Error) -> ProviderError {
        if error.is_timeout() {
            return ProviderError::Timeout;
        }
        let error = error.without_url();
        ProviderError::Unreachable(format!("{} ({})", self.inner.base_url, root_cause(&error)))
    }
}

/// Checks that the provider answered about the mailbox asked for.
fn same_mailbox(address: &str, dto: api::MailboxDto) -> Result<api::MailboxDto, ProviderError> {
    if !dto.address.eq_ignore_ascii_case(address.trim()) {
        return Err(ProviderError::Contract(format!(
            "chiesta la casella {address}, ricevuta {}",
            dto.address
        )));
    }
    // The codes must be the contract's even when the caller keeps the DTO.
    dto.clone()
        .into_domain()
        .map_err(|e| ProviderError::Contract(format!("casella {address}: {e}")))?;
    Ok(dto)
}

fn cached_token(
    answer: api::TokenResponse,
    received: Instant,
    generation: u64,
) -> Result<CachedToken, ProviderError> {
    if !answer.token_type.eq_ignore_ascii_case("bearer") {
        return Err(ProviderError::Contract(format!(
            "token di tipo '{}' invece di Bearer",
            answer.token_type
        )));
    }
    if answer.expires_in == 0 {
        return Err(ProviderError::Contract(
            "token già scaduto (expires_in 0)".to_string(),
        ));
    }
    let header = sensitive_bearer(answer.access_token.trim())
        .filter(|_| !answer.access_token.trim().is_empty())
        .ok_or_else(|| ProviderError::Contract("token vuoto o non valido".to_string()))?;
    let life = Duration::from_secs(answer.expires_in);
    let margin = (life / 10).min(TOKEN_REFRESH_MARGIN);
    Ok(CachedToken {
        header,
        refresh_at: received + life - margin,
        generation,
    })
}

/// Maps a non-2xx answer to an error, by the contract's error code first.
fn error_from(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
    address: Option<&str>,
) -> ProviderError {
    if status == StatusCode::UNAUTHORIZED {
        return ProviderError::Unauthorized;
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ProviderError::RateLimited { retry_after };
    }
    let parsed: Result<api::ErrorBody, _> = serde_json::from_slice(body);
    let Ok(error) = parsed else {
        if status.is_server_error() {
            // A proxy in between may answer 502/503 with HTML: still worth a retry.
            return ProviderError::Api {
                status: status.as_u16(),
                code: format!("http_{}", status.as_u16()),
                message: quote(body),
            };
        }
        return ProviderError::Contract(format!(
            "errore HTTP {} senza il formato previsto: {}",
            status.as_u16(),
            quote(body)
        ));
    };
    let address = address.map(|a| a.trim().to_lowercase());
    match (error.code.as_str(), address) {
        (error_code::UNAUTHORIZED, _) => ProviderError::Unauthorized,
        (error_code::NOT_FOUND, Some(address)) => ProviderError::NotFound(address),
        (error_code::NO_RECOVERY_CONTACT, Some(address)) => {
            ProviderError::NoRecoveryContact(address)
        }
        (error_code::MIGRATION_IN_PROGRESS, Some(address)) => ProviderError::MigrationInProgress {
            address,
            message: error.message,
        },
        (error_code::PASSWORD_POLICY, _) => {
            let rules: Vec<PasswordRule> = error
                .details
                .iter()
                .filter_map(|d| PasswordRule::from_code(&d.code))
                .collect();
            if rules.is_empty() {
                ProviderError::Contract(format!(
                    "password rifiutata senza indicare le regole: {}",
                    error.message
                ))
            } else {
                ProviderError::PasswordRejected { rules }
            }
        }
        (error_code::VALIDATION_FAILED, _) if !error.details.is_empty() => ProviderError::Invalid {
            details: error.details,
        },
        (error_code::RATE_LIMITED, _) => ProviderError::RateLimited { retry_after },
        _ => ProviderError::Api {
            status: status.as_u16(),
            code: error.code,
            message: error.message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            check_base_url("https://provider.example/api/").unwrap(),
            "https://provider.example/api"
        );
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.5.6.7",
            "http://[::1]:9000/",
            "http://LOCALHOST:1",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        assert!(matches!(
            check_base_url("http://example.com"),
            Err(ProviderError::InsecureUrl(_))
        ));
        assert!(matches!(
            check_base_url("http://10.0.0.1"),
            Err(ProviderError::InsecureUrl(_))
        ));
        for bad in [
            "",
            "example.com",
            "ftp://example.com",
            "https://user:pw@example.com",
            "https://example.com/?a=1",
            "mailto:x@y.it",
        ] {
            assert!(
                matches!(check_base_url(bad), Err(ProviderError::InvalidUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_hides_the_secrets() {
        let config = ClientConfig::new("https://x.example", "s3cret-t0ken");
        assert!(!format!("{config:?}").contains("s3cret"));
        let client = ProviderClient::new(config).unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
        let config = ClientConfig::with_client_credentials("https://x.example", "ordine", "s3cret");
        let shown = format!("{config:?}");
        assert!(
            shown.contains("ordine") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn empty_credentials_are_refused_up_front() {
        assert!(matches!(
            ProviderClient::new(ClientConfig::new("https://x.example", " ")),
            Err(ProviderError::Unauthorized)
        ));
        assert!(matches!(
            ProviderClient::new(ClientConfig::with_client_credentials(
                "https://x.example",
                "id",
                ""
            )),
            Err(ProviderError::InvalidCredentials)
        ));
    }

    #[test]
    fn errors_map_by_code() {
        let body = br#"{"code":"no_recovery_contact","message":"x"}"#;
        assert!(matches!(
            error_from(StatusCode::CONFLICT, body, None, Some("A@pec.fofi.it")),
            ProviderError::NoRecoveryContact(a) if a == "a@pec.fofi.it"
        ));
        let body = br#"{"code":"password_policy","message":"x","details":[
            {"field":"temporary_password","code":"too_short","message":"m"},
            {"field":"temporary_password","code":"missing_digit","message":"m"}]}"#;
        match error_from(
            StatusCode::UNPROCESSABLE_ENTITY,
            body,
            None,
            Some("a@pec.fofi.it"),
        ) {
            ProviderError::PasswordRejected { rules } => {
                assert_eq!(rules, [PasswordRule::MinLength, PasswordRule::Digit]);
            }
            other => panic!("{other:?}"),
        }
        let body = br#"{"code":"migration_in_progress","message":"fino al 01/12"}"#;
        let error = error_from(StatusCode::CONFLICT, body, None, Some("a@pec.fofi.it"));
        assert!(matches!(error, ProviderError::MigrationInProgress { .. }));
        assert!(error.message_it().contains("passaggio al nuovo gestore"));
        let html = "<html>".repeat(100);
        match error_from(StatusCode::BAD_REQUEST, html.as_bytes(), None, None) {
            ProviderError::Contract(m) => assert!(m.chars().count() < 300, "{m}"),
            other => panic!("{other:?}"),
        }
        let gateway = error_from(StatusCode::BAD_GATEWAY, b"<html>", None, None);
        assert!(gateway.is_transient());
        let limited = error_from(
            StatusCode::TOO_MANY_REQUESTS,
            b"",
            Some(Duration::from_secs(3)),
            None,
        );
        assert!(limited.is_transient());
        assert!(limited.to_string().contains("3 secondi"));
        assert!(!ProviderError::Unauthorized.is_transient());
        let gave_up = ProviderError::GaveUp {
            attempts: 4,
            last: Box::new(ProviderError::Timeout),
        };
        assert!(gave_up.is_transient());
        assert!(matches!(gave_up.root(), ProviderError::Timeout));
        assert!(gave_up.message_it().contains("4 tentativi"));
    }

    #[test]
    fn backoff_grows_with_jitter() {
        let (base, cap) = (Duration::from_millis(200), Duration::from_secs(10));
        for attempt in 1..8 {
            let d = backoff(attempt, base, cap);
            let full = (base * 2u32.pow(attempt - 1)).min(cap);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn the_pace_spaces_starts_after_a_burst() {
        let mut pace = Pace::new(4);
        for _ in 0..4 {
            assert_eq!(pace.reserve(), Duration::ZERO);
        }
        let fifth = pace.reserve();
        let sixth = pace.reserve();
        assert!(fifth > Duration::from_millis(200) && fifth <= Duration::from_millis(250));
        assert!(
            sixth > fifth && sixth <= Duration::from_millis(500),
            "{sixth:?}"
        );
    }

    #[test]
    fn tokens_are_refreshed_before_they_expire() {
        let now = Instant::now();
        let answer = |expires_in| api::TokenResponse {
            access_token: "t".into(),
            token_type: "bearer".into(),
            expires_in,
        };
        let hour = cached_token(answer(3600), now, 1).unwrap();
        assert_eq!(hour.refresh_at - now, Duration::from_secs(3540));
        let short = cached_token(answer(10), now, 1).unwrap();
        assert_eq!(short.refresh_at - now, Duration::from_secs(9));
        assert!(short.header.is_sensitive());
        assert!(cached_token(answer(0), now, 1).is_err());
        let mut mac = answer(60);
        mac.token_type = "mac".into();
        assert!(cached_token(mac, now, 1).is_err());
    }

    #[test]
    fn credentials_are_form_encoded_for_basic() {
        assert_eq!(form_encode("id:x y&z"), "id%3Ax+y%26z");
        assert_eq!(form_encode("plain-id_1.2"), "plain-id_1.2");
    }

    #[test]
    fn idempotency_keys() {
        let (a, b) = (new_idempotency_key(), new_idempotency_key());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn messages_are_italian_and_plain() {
        let e = ProviderError::NoRecoveryContact("a@pec.fofi.it".into());
        assert!(e.message_it().contains("reimpostare la password"));
        assert!(ProviderError::Timeout.message_it().contains("Riprovare"));
        let e = ProviderError::PasswordRejected {
            rules: vec![PasswordRule::Special],
        };
        assert!(
            e.message_it().contains("carattere speciale"),
            "{}",
            e.message_it()
        );
    }
}
