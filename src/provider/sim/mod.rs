//! `pecdesk sim`: a faithful implementation of the provider contract
//! (`assets/provider-api.yaml`) on loopback, over real HTTP.
//!
//! Every route of the contract comes from one table, [`api::OPERATIONS`], which
//! a test compares with the YAML, so the spec and the server cannot drift.
//! Each contract request goes through the same gate, in this order: counted in
//! the stats, delayed by `--latency-ms`, refused with 429 past `--rate-limit`,
//! refused with 401 without a valid token, then possibly faulted.
//!
//! Faults never make a state change happen twice or by half. A 5xx is decided
//! before the handler runs and is either *before* (nothing was done) or
//! *after* (the change was applied and remembered under its idempotency key,
//! then the answer was lost); a late answer is always *after*. Either way the
//! client's retry with the same key gets the stored first answer, and the
//! change counts once in `/sim/stats`.
//!
//! Control paths outside the contract, without a token (loopback only):
//! - `GET /sim/stats`: requests and state changes per operation and mailbox,
//!   and how many mailboxes are in each state;
//! - `GET /sim/faults`: how many faults were injected;
//! - `GET /sim/clock`, `POST /sim/clock {"advance_seconds": n}`: the simulated
//!   clock (real time plus an offset that only moves forward);
//! - `POST /sim/mailboxes/{address}/use-link {"password": "..."}` (body
//!   optional): the member opens the recovery link and sets a password.

mod seed;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get, on, post};
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::domain::{DEFAULT_PEC_DOMAIN, Member};
use crate::provider::api::{self, error_code, operation};

use state::{Answer, Outcome, SimState};
pub use state::{MailboxStateCounts, OperationStats, SimStats};

/// Control path with the request counters (not part of the contract).
pub const STATS_PATH: &str = "/sim/stats";
/// Control path with the injected faults (not part of the contract).
pub const FAULTS_PATH: &str = "/sim/faults";
/// Control path of the simulated clock (not part of the contract).
pub const CLOCK_PATH: &str = "/sim/clock";
/// Control path where a member uses a pending recovery link (not part of the contract).
pub const USE_LINK_PATH: &str = "/sim/mailboxes/{address}/use-link";

/// Every path the simulator routes for the contract, as written in it.
pub const CONTRACT_PATHS: [&str; 6] = [
    api::OPERATIONS[0].path,
    api::OPERATIONS[1].path,
    api::OPERATIONS[2].path,
    api::OPERATIONS[3].path,
    api::OPERATIONS[4].path,
    api::OPERATIONS[5].path,
];

/// The client id the simulator accepts when none is configured.
pub const DEFAULT_CLIENT_ID: &str = "pecdesk";
/// Default lifetime of an issued token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Default distance of the cutover from the simulator's start.
pub const DEFAULT_CUTOVER_IN: TimeDelta = TimeDelta::days(30);
/// Default delay of a late answer: longer than any sensible client timeout.
pub const DEFAULT_LATE_ANSWER_DELAY: Duration = Duration::from_secs(60);

/// Faults injected on the contract's operations (never on `/sim/`).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Added to every request.
    pub latency: Duration,
    /// Share of requests answered with a 5xx, from 0 to 1.
    pub fail_rate: f64,
    /// Share of requests answered after `late_answer_delay`, from 0 to 1.
    pub timeout_rate: f64,
    /// How late a late answer is: set it above the client's timeout.
    pub late_answer_delay: Duration,
    /// Requests per second over all operations; past it, 429 with `Retry-After`.
    pub rate_limit: Option<u32>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            fail_rate: 0.0,
            timeout_rate: 0.0,
            late_answer_delay: DEFAULT_LATE_ANSWER_DELAY,
            rate_limit: None,
        }
    }
}

impl Faults {
    /// Why these faults cannot be simulated, in Italian.
    pub fn check(&self) -> Result<(), String> {
        let share = |x: f64| (0.0..=1.0).contains(&x);
        if !share(self.fail_rate) || !share(self.timeout_rate) {
            return Err("--fail-rate e --timeout-rate vanno da 0 a 1".to_string());
        }
        if self.fail_rate + self.timeout_rate > 1.0 {
            return Err("--fail-rate e --timeout-rate insieme non possono superare 1".to_string());
        }
        if self.rate_limit == Some(0) {
            return Err("--rate-limit deve essere almeno 1 richiesta al secondo".to_string());
        }
        Ok(())
    }
}

/// How the simulator starts.
#[derive(Clone)]
pub struct SimConfig {
    /// A static bearer token also accepted besides the issued ones (issue 2's
    /// `--token`); empty: only issued tokens.
    pub token: String,
    /// OAuth2 client credentials that `POST /oauth/token` accepts.
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of an issued token, in simulated time.
    pub token_ttl: Duration,
    /// Seed of the mailbox states and of the faults (same roster and seed:
    /// same states).
    pub seed: u64,
    /// Only members whose PEC is on this domain have a mailbox.
    pub pec_domain: String,
    /// Demo mode: every interval a few not-started mailboxes migrate, some
    /// pending links get used and some temporary passwords get changed.
    pub demo: bool,
    pub demo_migration_interval: Duration,
    /// The passage to the new provider (simulated time): before it the Ordine
    /// cannot reset a password.
    pub cutover_at: DateTime<Utc>,
    pub faults: Faults,
}

impl SimConfig {
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            client_id: DEFAULT_CLIENT_ID.to_string(),
            client_secret: random_token(),
            token_ttl: DEFAULT_TOKEN_TTL,
            seed: 42,
            pec_domain: DEFAULT_PEC_DOMAIN.to_string(),
            demo: false,
            demo_migration_interval: Duration::from_secs(3),
            cutover_at: Utc::now() + DEFAULT_CUTOVER_IN,
            faults: Faults::default(),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("token", &"***")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("token_ttl", &self.token_ttl)
            .field("seed", &self.seed)
            .field("pec_domain", &self.pec_domain)
            .field("demo", &self.demo)
            .field("demo_migration_interval", &self.demo_migration_interval)
            .field("cutover_at", &self.cutover_at)
            .field("faults", &self.faults)
            .finish()
    }
}

/// A running simulator. Dropping it also stops the server (without waiting).
pub struct SimHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    stop_demo: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    demo: Option<JoinHandle<()>>,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for the client's configuration.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the demo task and the server, letting requests in flight finish
    /// (at most 5 seconds).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop_demo.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(demo) = self.demo.take() {
            let _ = demo.await;
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        tracing::info!(addr = %self.addr, "simulatore fermato");
    }
}

/// A fresh random token (64 hex characters) for when none is configured.
pub fn random_token() -> String {
    let mut rng = StdRng::from_os_rng();
    let (a, b): (u128, u128) = (rng.random(), rng.random());
    format!("{a:032x}{b:032x}")
}

/// `GET /sim/faults` answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// 5xx answered before doing anything.
    pub failed_before: u64,
    /// 5xx answered after the request was carried out.
    pub failed_after: u64,
    /// Answers held back by `late_answer_delay`.
    pub late: u64,
    /// 429 answers.
    pub rate_limited: u64,
    /// 401 answers.
    pub unauthorized: u64,
}

/// A token bucket: `rate` per second, bursts of `rate`.
pub(crate) struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new(rate: u32) -> Self {
        Self {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            last: Instant::now(),
        }
    }

    /// Takes one token, or says how long until one is there.
    pub(crate) fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// What happens to one request besides its normal handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    FailBefore,
    FailAfter,
    Late,
}

struct Shared {
    static_token: String,
    client_id: String,
    client_secret: String,
    token_ttl: TimeDelta,
    faults: Faults,
    rng: Mutex<StdRng>,
    bucket: Option<Mutex<Bucket>>,
    fault_counts: Mutex<FaultCounts>,
    state: Mutex<SimState>,
}

/// Locks a mutex even if a panic poisoned it: every change under these locks
/// is a single synchronous call, so a panic cannot leave one half-done.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        lock(&self.state)
    }

    fn faulted(&self, f: impl FnOnce(&mut FaultCounts)) {
        f(&mut lock(&self.fault_counts));
    }

    fn draw_fault(&self) -> Fault {
        let (fail, late) = (self.faults.fail_rate, self.faults.timeout_rate);
        if fail <= 0.0 && late <= 0.0 {
            return Fault::None;
        }
        let mut rng = lock(&self.rng);
        let roll: f64 = rng.random();
        if roll < fail {
            if rng.random_bool(0.5) {
                Fault::FailBefore
            } else {
                Fault::FailAfter
            }
        } else if roll < fail + late {
            Fault::Late
        } else {
            Fault::None
        }
    }

    /// Whether `authorization` carries the static token or a live issued one.
    fn authorized(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(given) = authorization.and_then(|v| v.as_bytes().strip_prefix(b"Bearer ")) else {
            return false;
        };
        // An empty static token would accept an empty header: never allow it.
        if !self.static_token.is_empty() && same_secret(given, self.static_token.as_bytes()) {
            return true;
        }
        std::str::from_utf8(given).is_ok_and(|token| self.lock().token_valid(token))
    }
}

/// Starts the simulator on `bind` (a loopback address; port 0 picks a free one)
/// with a mailbox for the members on `config.pec_domain`.
pub async fn start(
    members: &[Member],
    config: SimConfig,
    bind: SocketAddr,
) -> std::io::Result<SimHandle> {
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
    if !bind.ip().is_loopback() {
        return Err(invalid(format!(
            "il simulatore ascolta solo su un indirizzo locale (127.0.0.1 o ::1), non su {bind}"
        )));
    }
    config.faults.check().map_err(invalid)?;
    if config.client_id.trim().is_empty() || config.client_secret.is_empty() {
        return Err(invalid(
            "client_id e client_secret non possono essere vuoti".to_string(),
        ));
    }
    let token_ttl = TimeDelta::from_std(config.token_ttl)
        .ok()
        .filter(|ttl| ttl.num_seconds() >= 1)
        .ok_or_else(|| invalid("--token-ttl deve essere almeno 1 secondo".to_string()))?;
    let mailboxes = seed::generate(members, config.seed, &config.pec_domain, Utc::now());
    let shared = Arc::new(Shared {
        static_token: config.token.clone(),
        client_id: config.client_id.clone(),
        client_secret: config.client_secret.clone(),
        token_ttl,
        rng: Mutex::new(StdRng::seed_from_u64(config.seed.wrapping_add(2))),
        bucket: config.faults.rate_limit.map(|r| Mutex::new(Bucket::new(r))),
        faults: config.faults.clone(),
        fault_counts: Mutex::default(),
        state: Mutex::new(SimState::new(mailboxes, config.cutover_at)),
    });
    let count = shared.lock().mailbox_count();
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let app = router(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "simulatore interrotto");
        }
    });
    let (stop_demo, demo) = if config.demo {
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(demo_task(
            shared.clone(),
            config.seed.wrapping_add(1),
            config.demo_migration_interval,
            rx,
        ));
        (Some(tx), Some(task))
    } else {
        (None, None)
    };
    tracing::info!(
        %addr,
        mailboxes = count,
        demo = config.demo,
        faults = ?config.faults,
        "simulatore del gestore in ascolto"
    );
    Ok(SimHandle {
        addr,
        stop: Some(stop),
        stop_demo,
        server: Some(server),
        demo,
    })
}

async fn demo_task(
    shared: Arc<Shared>,
    seed: u64,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {
                let count = rng.random_range(1..=3);
                let step = shared.lock().demo_step(&mut rng, count);
                tracing::debug!(?step, "demo: passo simulato");
            }
        }
    }
}

/// The handler of an operation, by operationId.
fn handler(op: &api::Operation) -> MethodRouter<Arc<Shared>> {
    let filter = match op.method {
        api::Method::Get => MethodFilter::GET,
        api::Method::Post => MethodFilter::POST,
        api::Method::Put => MethodFilter::PUT,
    };
    match op.id {
        operation::ISSUE_TOKEN => on(filter, issue_token),
        operation::LIST_MAILBOXES => on(filter, list_mailboxes),
        operation::GET_MAILBOX => on(filter, get_mailbox),
        operation::RESEND_RECOVERY_EMAIL => on(filter, resend_recovery_email),
        operation::SET_RECOVERY_CONTACTS => on(filter, set_recovery_contacts),
        operation::RESET_PASSWORD => on(filter, reset_password),
        other => unreachable!("operation {other} without a handler"),
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for op in &api::OPERATIONS {
        let gate = middleware::from_fn_with_state((shared.clone(), op), contract_gate);
        router = router.route(op.path, handler(op).route_layer(gate));
    }
    router
        .route(STATS_PATH, get(stats))
        .route(FAULTS_PATH, get(fault_counts))
        .route(CLOCK_PATH, get(get_clock).post(advance_clock))
        .route(USE_LINK_PATH, post(use_link))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .with_state(shared)
}

fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Body::from(answer.body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Response {
    respond(Answer::error(status, code, message))
}

fn bad_request(field: &str, message: impl Into<String>) -> Response {
    respond(bad_request_answer(field, message))
}

fn bad_request_answer(field: &str, message: impl Into<String>) -> Answer {
    let message = message.into();
    Answer::with_details(
        400,
        error_code::BAD_REQUEST,
        message.clone(),
        vec![api::FieldError {
            field: field.to_string(),
            code: api::field_code::INVALID.to_string(),
            message,
        }],
    )
}

/// Compares without stopping at the first different byte.
pub(crate) fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for i in 0..given.len().max(expected.len()) {
        let a = given.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        diff |= usize::from(a ^ b);
    }
    std::hint::black_box(diff) == 0
}

/// The `{address}` of a request, lower case, if the path has one.
async fn address_of(request: Request) -> (Request, Option<String>) {
    let (mut parts, body) = request.into_parts();
    let address = RawPathParams::from_request_parts(&mut parts, &())
        .await
        .ok()
        .and_then(|params| {
            params
                .iter()
                .find(|(name, _)| *name == "address")
                .map(|(_, value)| value.to_lowercase())
        });
    (Request::from_parts(parts, body), address)
}

/// What every contract request goes through before and after its handler.
async fn contract_gate(
    State((shared, op)): State<(Arc<Shared>, &'static api::Operation)>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (request, address) = address_of(request).await;
    shared.lock().count_request(op.id, address.as_deref());
    if !shared.faults.latency.is_zero() {
        // Counted from the request's arrival, and aimed a millisecond early:
        // tokio's timer fires 1-2 ms after its deadline, so this way the
        // average answer comes after the configured latency, not 2 ms later.
        let early = Duration::from_millis(1).min(shared.faults.latency);
        tokio::time::sleep_until(tokio::time::Instant::from_std(
            started + shared.faults.latency - early,
        ))
        .await;
    }
    let mut fault = Fault::None;
    let response = if let Some(wait) = shared
        .bucket
        .as_ref()
        .and_then(|bucket| lock(bucket).take().err())
    {
        shared.faulted(|c| c.rate_limited += 1);
        rate_limited(wait)
    } else if op.needs_token && !shared.authorized(request.headers().get(header::AUTHORIZATION)) {
        shared.faulted(|c| c.unauthorized += 1);
        unauthorized(request.headers().contains_key(header::AUTHORIZATION))
    } else {
        fault = shared.draw_fault();
        match fault {
            Fault::FailBefore => {
                shared.faulted(|c| c.failed_before += 1);
                error(
                    503,
                    error_code::UNAVAILABLE,
                    "Servizio temporaneamente non disponibile: nulla è stato eseguito, riprovare.",
                )
            }
            Fault::FailAfter => {
                // The work is done and remembered under the idempotency key;
                // only the answer is lost.
                let _ = next.run(request).await;
                shared.faulted(|c| c.failed_after += 1);
                error(
                    500,
                    error_code::INTERNAL,
                    "Errore interno del gestore: riprovare con la stessa chiave di idempotenza.",
                )
            }
            Fault::Late => {
                let response = next.run(request).await;
                shared.faulted(|c| c.late += 1);
                tokio::time::sleep(shared.faults.late_answer_delay).await;
                response
            }
            Fault::None => next.run(request).await,
        }
    };
    tracing::debug!(
        operation = op.id,
        status = response.status().as_u16(),
        ?fault,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "operazione del contratto"
    );
    response
}

fn rate_limited(wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut response = error(
        429,
        error_code::RATE_LIMITED,
        format!("Troppe richieste: riprovare tra {seconds} secondi."),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// 401 with the RFC 6750 challenge: `invalid_token` when a token was sent.
fn unauthorized(token_sent: bool) -> Response {
    let mut response = error(
        401,
        error_code::UNAUTHORIZED,
        "Token di accesso mancante, non valido o scaduto.",
    );
    let challenge = if token_sent {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// The route a path falls in, without the address (personal data stays out of logs).
fn route_label(path: &str) -> &'static str {
    if path.starts_with("/v1/") {
        "/v1/*"
    } else if path == api::TOKEN_PATH {
        api::TOKEN_PATH
    } else if path.starts_with("/sim/") {
        "/sim/*"
    } else {
        "(altro)"
    }
}

async fn log_request(request: Request, next: Next) -> Response {
    let route = route_label(request.uri().path());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        route,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "richiesta al simulatore"
    );
    response
}

async fn route_not_found() -> Response {
    error(
        404,
        error_code::ROUTE_NOT_FOUND,
        "Percorso non previsto dal contratto.",
    )
}

async fn method_not_allowed() -> Response {
    error(
        405,
        error_code::METHOD_NOT_ALLOWED,
        "Metodo non previsto dal contratto per questo percorso.",
    )
}

/// Token endpoint error, in the contract's shape with RFC 6749's codes.
fn token_error(status: u16, code: &str, message: &str) -> Response {
    let mut response = error(status, code, message);
    if status == 401 {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"pecdesk-sim\""),
        );
    }
    response
}

/// One `application/x-www-form-urlencoded` value (RFC 6749 section 2.3.1
/// encodes client credentials so before Basic authentication).
fn form_decode(value: &str) -> String {
    if value.contains(['=', '&']) {
        // Not encoded as the RFC asks: take it literally rather than mangle it.
        return value.to_string();
    }
    form_urlencoded::parse(value.as_bytes())
        .next()
        .map(|(decoded, _)| decoded.into_owned())
        .unwrap_or_default()
}

/// Client credentials from `Authorization: Basic` (RFC 6749 section 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let encoded = value.as_bytes().strip_prefix(b"Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    Some(decoded.and_then(|pair| {
        let (id, secret) = pair.split_once(':')?;
        Some((form_decode(id), form_decode(secret)))
    }))
}

/// `issueToken`: the OAuth2 client-credentials grant (RFC 6749 section 4.4).
async fn issue_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return token_error(
            400,
            error_code::INVALID_REQUEST,
            "Corpo atteso in application/x-www-form-urlencoded.",
        );
    }
    let mut params = std::collections::HashMap::new();
    for (name, value) in form_urlencoded::parse(&body) {
        // RFC 6749 section 3.2: parameters must not repeat.
        if params
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return token_error(400, error_code::INVALID_REQUEST, "Parametro ripetuto.");
        }
    }
    match params.get("grant_type").map(String::as_str) {
        None => {
            return token_error(400, error_code::INVALID_REQUEST, "Manca grant_type.");
        }
        Some("client_credentials") => {}
        Some(_) => {
            return token_error(
                400,
                error_code::UNSUPPORTED_GRANT_TYPE,
                "Il gestore accetta solo grant_type=client_credentials.",
            );
        }
    }
    let in_body = match (params.get("client_id"), params.get("client_secret")) {
        (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        (None, None) => None,
        _ => {
            return token_error(
                400,
                error_code::INVALID_REQUEST,
                "client_id e client_secret vanno indicati insieme.",
            );
        }
    };
    let credentials = match (basic_credentials(&headers), in_body) {
        (Some(_), Some(_)) => {
            return token_error(
                400,
                error_code::INVALID_REQUEST,
                "Credenziali del client indicate due volte (intestazione e corpo).",
            );
        }
        (Some(basic), None) => basic,
        (None, body) => body,
    };
    let valid = credentials.is_some_and(|(id, secret)| {
        // Both compared in full, so the timing does not say which one was wrong.
        let id_ok = same_secret(id.as_bytes(), shared.client_id.as_bytes());
        let secret_ok = same_secret(secret.as_bytes(), shared.client_secret.as_bytes());
        id_ok & secret_ok
    });
    if !valid {
        return token_error(
            401,
            error_code::INVALID_CLIENT,
            "Credenziali del client (client_id e client_secret) non valide.",
        );
    }
    let token = shared.lock().issue_token(shared.token_ttl);
    let mut response = respond(Answer::json(200, &token));
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn list_mailboxes(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<api::ListQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return bad_request(
            "query",
            "Parametri non previsti dal contratto o non validi (cursor, per_page, \
             migration_state, password_state, updated_since).",
        );
    };
    let per_page = query.per_page.unwrap_or(api::DEFAULT_PER_PAGE);
    if per_page == 0 || per_page > api::MAX_PER_PAGE {
        return bad_request(
            "per_page",
            format!("'per_page' deve essere tra 1 e {}.", api::MAX_PER_PAGE),
        );
    }
    let after = match query.cursor.as_deref().map(state::decode_cursor) {
        None => None,
        Some(Some(after)) => Some(after),
        Some(None) => {
            return bad_request(
                "cursor",
                "Cursore non valido: usare il valore di 'next_cursor' così com'è.",
            );
        }
    };
    let filter = match api::MailboxFilter::from_query(&query) {
        Ok(filter) => filter,
        Err(field) => {
            return bad_request(
                field,
                format!("Valore di '{field}' non previsto dal contratto."),
            );
        }
    };
    let page = shared.lock().list(&filter, after.as_deref(), per_page);
    respond(Answer::json(200, &page))
}

fn bad_address() -> Answer {
    bad_request_answer(
        "address",
        "Indirizzo della casella non leggibile nel percorso.",
    )
}

async fn get_mailbox(
    State(shared): State<Arc<Shared>>,
    address: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(address)) = address else {
        return respond(bad_address());
    };
    let found = shared.lock().get(&address);
    match found {
        Some(dto) => respond(Answer::json(200, &dto)),
        None => error(
            404,
            error_code::NOT_FOUND,
            format!(
                "La casella {} non esiste presso il gestore.",
                address.to_lowercase()
            ),
        ),
    }
}

/// The request's idempotency key, or the 400 answer for its absence or shape.
fn idempotency_key(headers: &HeaderMap) -> Result<String, Answer> {
    let key = headers
        .get(api::IDEMPOTENCY_HEADER)
        .map(|v| v.to_str().map(str::trim));
    match key {
        None | Some(Ok("")) => Err(Answer::error(
            400,
            error_code::IDEMPOTENCY_KEY_REQUIRED,
            format!(
                "Serve l'intestazione {} con una chiave unica per l'operazione.",
                api::IDEMPOTENCY_HEADER
            ),
        )),
        Some(Ok(key))
            if key.len() <= api::MAX_IDEMPOTENCY_KEY_LEN
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(key.to_string())
        }
        Some(_) => Err(bad_request_answer(
            api::IDEMPOTENCY_HEADER,
            format!(
                "La chiave di idempotenza deve avere al massimo {} caratteri ASCII visibili.",
                api::MAX_IDEMPOTENCY_KEY_LEN
            ),
        )),
    }
}

/// The parts every state-changing request needs: the address, the key and
/// the JSON body, or the 400 answer for what is missing.
fn state_change<T>(
    address: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: Result<axum::Json<T>, JsonRejection>,
) -> Result<(String, String, T), Answer> {
    let Ok(Path(address)) = address else {
        return Err(bad_address());
    };
    let key = idempotency_key(headers)?;
    let body = body.map_err(|rejection| bad_request_answer("body", rejection.body_text()))?;
    Ok((address, key, body.0))
}

fn outcome_response(outcome: Outcome) -> Response {
    let mut response = respond(outcome.answer);
    if outcome.replayed {
        response.headers_mut().insert(
            api::IDEMPOTENT_REPLAYED_HEADER,
            HeaderValue::from_static("true"),
        );
    }
    response
}

async fn resend_recovery_email(
    State(shared): State<Arc<Shared>>,
    address: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(address)) = address else {
        return respond(bad_address());
    };
    match idempotency_key(&headers) {
        Ok(key) => outcome_response(shared.lock().resend(&address, &key)),
        Err(refused) => respond(refused),
    }
}

async fn set_recovery_contacts(
    State(shared): State<Arc<Shared>>,
    address: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<axum::Json<api::RecoveryContactsRequest>, JsonRejection>,
) -> Response {
    match state_change(address, &headers, body) {
        Ok((address, key, body)) => {
            outcome_response(shared.lock().set_contacts(&address, &key, &body))
        }
        Err(refused) => respond(refused),
    }
}

async fn reset_password(
    State(shared): State<Arc<Shared>>,
    address: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<axum::Json<api::PasswordResetRequest>, JsonRejection>,
) -> Response {
    match state_change(address, &headers, body) {
        Ok((address, key, body)) => {
            outcome_response(shared.lock().reset_password(&address, &key, &body))
        }
        Err(refused) => respond(refused),
    }
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let stats = shared.lock().stats();
    respond(Answer::json(200, &stats))
}

async fn fault_counts(State(shared): State<Arc<Shared>>) -> Response {
    let counts = *lock(&shared.fault_counts);
    respond(Answer::json(200, &counts))
}

/// `POST /sim/mailboxes/{address}/use-link` body (optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UseLink {
    /// The password the member chooses; checked against the six rules.
    pub password: Option<String>,
}

async fn use_link(
    State(shared): State<Arc<Shared>>,
    address: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Response {
    let Ok(Path(address)) = address else {
        return respond(bad_address());
    };
    let body: UseLink = if body.is_empty() {
        UseLink::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(body) => body,
            Err(_) => return bad_request("password", "Corpo atteso: {\"password\": \"...\"}."),
        }
    };
    let answer = shared.lock().use_link(&address, body.password.as_deref());
    respond(answer)
}

/// `POST /sim/clock` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdvanceClock {
    pub advance_seconds: i64,
}

/// `GET` and `POST /sim/clock` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockAnswer {
    pub now: DateTime<Utc>,
    pub offset_seconds: i64,
    pub cutover_at: DateTime<Utc>,
}

fn clock_answer(state: &mut SimState) -> ClockAnswer {
    ClockAnswer {
        now: state.now(),
        offset_seconds: state.offset().num_seconds(),
        cutover_at: state.cutover_at(),
    }
}

async fn get_clock(State(shared): State<Arc<Shared>>) -> Response {
    let answer = clock_answer(&mut shared.lock());
    respond(Answer::json(200, &answer))
}

/// At most ten years per call, so that the clock cannot overflow.
const MAX_ADVANCE_SECONDS: i64 = 10 * 366 * 24 * 3600;

async fn advance_clock(
    State(shared): State<Arc<Shared>>,
    body: Result<axum::Json<AdvanceClock>, JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return bad_request(
            "advance_seconds",
            "Corpo atteso: {\"advance_seconds\": n} in JSON.",
        );
    };
    if !(0..=MAX_ADVANCE_SECONDS).contains(&body.advance_seconds) {
        return bad_request(
            "advance_seconds",
            "L'orologio simulato può solo andare avanti (al massimo dieci anni per volta).",
        );
    }
    let answer = {
        let mut state = shared.lock();
        state.advance(TimeDelta::seconds(body.advance_seconds));
        clock_answer(&mut state)
    };
    tracing::info!(
        offset_seconds = answer.offset_seconds,
        "orologio simulato avanzato"
    );
    respond(Answer::json(200, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_fully() {
        assert!(same_secret(b"t0ken", b"t0ken"));
        assert!(!same_secret(b"t0ke", b"t0ken"));
        assert!(!same_secret(b"t0kenX", b"t0ken"));
        assert!(!same_secret(b"x0ken", b"t0ken"));
        assert!(!same_secret(b"", b"t0ken"));
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn debug_hides_the_secrets() {
        let mut config = SimConfig::new("s3cret");
        config.client_secret = "cl13nt-s3cret".into();
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn fault_shares_are_checked() {
        let mut faults = Faults::default();
        assert!(faults.check().is_ok());
        faults.fail_rate = 0.7;
        faults.timeout_rate = 0.4;
        assert!(faults.check().is_err());
        faults.timeout_rate = -0.1;
        assert!(faults.check().is_err());
        faults.timeout_rate = 0.3;
        assert!(faults.check().is_ok());
        faults.rate_limit = Some(0);
        assert!(faults.check().is_err());
    }

    #[test]
    fn the_bucket_refills_at_its_rate() {
        let mut bucket = Bucket::new(2);
        assert!(bucket.take().is_ok());
        assert!(bucket.take().is_ok());
        let wait = bucket.take().unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        std::thread::sleep(wait + Duration::from_millis(20));
        assert!(bucket.take().is_ok());
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut headers = HeaderMap::new();
        // RFC 6749 section 2.3.1: "id:x" and "s p" encode as "id%3Ax" and "s+p".
        let encoded = base64::engine::general_purpose::STANDARD.encode("id%3Ax:s+p%21");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(Some(("id:x".to_string(), "s p!".to_string())))
        );
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!"));
        assert_eq!(basic_credentials(&headers), Some(None));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&headers), None);
    }
}
