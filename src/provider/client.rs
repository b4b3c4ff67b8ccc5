//! The HTTP client of the provider contract (`assets/provider-api.yaml`).
//!
//! Bearer token in a sensitive header, HTTPS with certificate verification
//! (plain HTTP only to this computer), timeouts, and retries with exponential
//! backoff for what may succeed later. A state-changing request always carries
//! an idempotency key, and a retry reuses it, so a retry never acts twice.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::domain::MailboxState;
use crate::provider::api::{self, error_code};

/// Where the provider is and how to talk to it.
#[derive(Clone)]
pub struct ClientConfig {
    /// `https://...`; `http://` only for a loopback host (the simulator).
    pub base_url: String,
    pub token: String,
    pub connect_timeout: Duration,
    /// Whole request, answer included.
    pub request_timeout: Duration,
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            token: token.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(20),
            max_attempts: 4,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url)
            .field("token", &"***")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// Why a call to the provider failed. Messages are in Italian and never
/// contain the token.
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
    #[error("casella {0} non trovata presso il gestore")]
    NotFound(String),
    #[error("la casella {0} non ha un indirizzo e-mail di recupero")]
    NoRecoveryContact(String),
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
}

fn retry_suffix(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(", riprovare tra {} secondi", d.as_secs().max(1)),
        None => String::new(),
    }
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
                 Chiedere all'amministratore di verificare il token nella configurazione."
                .to_string(),
            ProviderError::NotFound(address) => format!(
                "La casella {address} non esiste presso il gestore. \
                 Verificare l'indirizzo PEC nell'albo."
            ),
            ProviderError::NoRecoveryContact(address) => format!(
                "La casella {address} non ha un indirizzo e-mail di recupero, quindi non si può \
                 inviare il link: l'Ordine deve impostare un contatto di recupero o reimpostare \
                 la password."
            ),
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
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ProviderError::Unreachable(_)
            | ProviderError::Timeout
            | ProviderError::RateLimited { .. } => true,
            ProviderError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// A fresh idempotency key: 32 random hex characters.
pub fn new_idempotency_key() -> String {
    let mut rng = StdRng::from_os_rng();
    format!("{:032x}", rng.random::<u128>())
}

/// Longest wait honoured from a `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const BACKOFF_BASE: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// How much of an unexpected body a message quotes.
const QUOTE_CHARS: usize = 200;

/// A client of the provider contract. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    /// Without a trailing slash.
    base_url: String,
    auth: HeaderValue,
    max_attempts: u32,
}

impl std::fmt::Debug for ProviderClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderClient")
            .field("base_url", &self.base_url)
            .field("max_attempts", &self.max_attempts)
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
fn check_base_url(base_url: &str) -> Result<String, ProviderError> {
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

/// At most `QUOTE_CHARS` characters of a body, for messages.
fn quote(body: &[u8]) -> String {
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
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(BACKOFF_CAP);
    // Jitter: anywhere between half and all of the exponential delay.
    let half = exp / 2;
    let mut rng = StdRng::from_os_rng();
    half + half.mul_f64(rng.random::<f64>())
}

fn parse_retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

impl ProviderClient {
    pub fn new(config: ClientConfig) -> Result<Self, ProviderError> {
        let base_url = check_base_url(&config.base_url)?;
        let token = config.token.trim();
        // A token that cannot travel in a header would be refused anyway.
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| ProviderError::Unauthorized)?;
        if token.is_empty() {
            return Err(ProviderError::Unauthorized);
        }
        auth.set_sensitive(true);
        // reqwest is built without a default crypto provider: install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .https_only(!base_url.starts_with("http://"))
            // The contract has no redirects; following one could leave HTTPS or the host.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("pecdesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ProviderError::InvalidUrl(format!(
                    "{base_url} (client HTTP non configurabile: {})",
                    root_cause(&e)
                ))
            })?;
        Ok(Self {
            http,
            base_url,
            auth,
            max_attempts: config.max_attempts.max(1),
        })
    }

    /// The provider's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// One page of `listMailboxes` (pages start at 1).
    pub async fn list_mailboxes_page(
        &self,
        page: u32,
        per_page: u32,
    ) -> Result<api::MailboxPage, ProviderError> {
        let url = format!("{}{}", self.base_url, api::mailboxes_path());
        let query = api::ListQuery {
            page: Some(page),
            per_page: Some(per_page),
        };
        self.call(|| self.http.get(&url).query(&query), None).await
    }

    /// Every mailbox, following `next_page` with the largest pages allowed.
    pub async fn list_all_mailboxes(&self) -> Result<Vec<MailboxState>, ProviderError> {
        let mut page = 1;
        let mut all = Vec::new();
        loop {
            let answer = self.list_mailboxes_page(page, api::MAX_PER_PAGE).await?;
            if answer.items.is_empty() && answer.next_page.is_some() {
                return Err(ProviderError::Contract(format!(
                    "la pagina {page} è vuota ma indica una pagina successiva"
                )));
            }
            if all.is_empty() {
                all.reserve(usize::try_from(answer.total).unwrap_or(0).min(1_000_000));
            }
            for dto in answer.items {
                let address = dto.address.clone();
                all.push(
                    dto.into_domain()
                        .map_err(|e| ProviderError::Contract(format!("casella {address}: {e}")))?,
                );
            }
            match answer.next_page {
                None => break,
                Some(next) if next > page => page = next,
                Some(next) => {
                    return Err(ProviderError::Contract(format!(
                        "la pagina {page} indica come successiva la pagina {next}"
                    )));
                }
            }
        }
        Ok(all)
    }

    /// `getMailbox`.
    pub async fn get_mailbox(&self, address: &str) -> Result<MailboxState, ProviderError> {
        let url = format!("{}{}", self.base_url, api::mailbox_path(address));
        let dto: api::MailboxDto = self.call(|| self.http.get(&url), Some(address)).await?;
        if !dto.address.eq_ignore_ascii_case(address.trim()) {
            return Err(ProviderError::Contract(format!(
                "chiesta la casella {address}, ricevuta {}",
                dto.address
            )));
        }
        dto.into_domain()
            .map_err(|e| ProviderError::Contract(format!("casella {address}: {e}")))
    }

    /// `resendRecoveryEmail`. Retries reuse `idempotency_key`, so the member
    /// gets one e-mail however many attempts it takes; calling again with the
    /// same key within 24 hours returns the first answer.
    pub async fn resend_recovery_email(
        &self,
        address: &str,
        idempotency_key: &str,
    ) -> Result<api::ResendResponse, ProviderError> {
        let url = format!("{}{}", self.base_url, api::recovery_email_path(address));
        self.call(
            || {
                self.http
                    .post(&url)
                    .header(api::IDEMPOTENCY_HEADER, idempotency_key)
                    .header(reqwest::header::CONTENT_LENGTH, "0")
            },
            Some(address),
        )
        .await
    }

    /// Sends the request built by `build`, retrying transient failures.
    async fn call<T: DeserializeOwned>(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
        address: Option<&str>,
    ) -> Result<T, ProviderError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.attempt(build(), address).await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if !error.is_transient() || attempt >= self.max_attempts {
                return Err(error);
            }
            let wait = match &error {
                ProviderError::RateLimited {
                    retry_after: Some(d),
                } => (*d).min(MAX_RETRY_AFTER),
                _ => backoff(attempt),
            };
            tracing::warn!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "richiesta al gestore fallita, nuovo tentativo"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        address: Option<&str>,
    ) -> Result<T, ProviderError> {
        let response = request
            .header(AUTHORIZATION, self.auth.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers().get(RETRY_AFTER));
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
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
        ProviderError::Unreachable(format!("{} ({})", self.base_url, root_cause(&error)))
    }
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
    match (error.code.as_str(), address) {
        (error_code::UNAUTHORIZED, _) => ProviderError::Unauthorized,
        (error_code::NOT_FOUND, Some(address)) => {
            ProviderError::NotFound(address.trim().to_lowercase())
        }
        (error_code::NO_RECOVERY_CONTACT, Some(address)) => {
            ProviderError::NoRecoveryContact(address.trim().to_lowercase())
        }
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
    fn debug_hides_the_token() {
        let config = ClientConfig::new("https://x.example", "s3cret-t0ken");
        assert!(!format!("{config:?}").contains("s3cret"));
        let client = ProviderClient::new(config).unwrap();
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn errors_map_by_code() {
        let body = br#"{"code":"no_recovery_contact","message":"x"}"#;
        assert!(matches!(
            error_from(StatusCode::CONFLICT, body, None, Some("A@pec.fofi.it")),
            ProviderError::NoRecoveryContact(a) if a == "a@pec.fofi.it"
        ));
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
    }

    #[test]
    fn backoff_grows_with_jitter() {
        for attempt in 1..8 {
            let d = backoff(attempt);
            let full = BACKOFF_BASE * 2u32.pow(attempt - 1);
            let full = full.min(BACKOFF_CAP);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
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
    }
}
