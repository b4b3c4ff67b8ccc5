//! `pecdesk sim`: a faithful implementation of the provider contract
//! (`assets/provider-api.yaml`) on loopback, over real HTTP.
//!
//! Besides the contract's `/v1` operations it serves two control paths that are
//! not part of the contract and need no token (loopback only):
//! - `GET /sim/stats`: requests and state changes per operation and mailbox,
//!   and how many mailboxes are in each state;
//! - `GET /sim/clock`, `POST /sim/clock {"advance_seconds": n}`: the simulated
//!   clock (real time plus an offset that only moves forward).

mod seed;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::domain::{DEFAULT_PEC_DOMAIN, Member};
use crate::provider::api::{self, error_code, operation};

use state::{Answer, SimState};
pub use state::{MailboxStateCounts, OperationStats, SimStats};

/// Control path with the request counters (not part of the contract).
pub const STATS_PATH: &str = "/sim/stats";
/// Control path of the simulated clock (not part of the contract).
pub const CLOCK_PATH: &str = "/sim/clock";

/// Paths the simulator routes under `/v1`, as written in the contract.
pub const CONTRACT_PATHS: [&str; 3] = [
    "/v1/mailboxes",
    "/v1/mailboxes/{address}",
    "/v1/mailboxes/{address}/recovery-email",
];

/// How the simulator starts.
#[derive(Clone)]
pub struct SimConfig {
    /// The bearer token every `/v1` request must carry.
    pub token: String,
    /// Seed of the mailbox states (same roster and seed: same states).
    pub seed: u64,
    /// Only members whose PEC is on this domain have a mailbox.
    pub pec_domain: String,
    /// Demo mode: a few not-started mailboxes migrate every interval.
    pub demo: bool,
    pub demo_migration_interval: Duration,
}

impl SimConfig {
    pub fn new(token: impl Into<String>) -> Self {
        Self {
            token: token.into(),
            seed: 42,
            pec_domain: DEFAULT_PEC_DOMAIN.to_string(),
            demo: false,
            demo_migration_interval: Duration::from_secs(3),
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("token", &"***")
            .field("seed", &self.seed)
            .field("pec_domain", &self.pec_domain)
            .field("demo", &self.demo)
            .field("demo_migration_interval", &self.demo_migration_interval)
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

struct Shared {
    token: String,
    state: Mutex<SimState>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock cannot leave the state half-changed in
        // a way worse than refusing every later request.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Starts the simulator on `bind` (a loopback address; port 0 picks a free one)
/// with a mailbox for the members on `config.pec_domain`.
pub async fn start(
    members: &[Member],
    config: SimConfig,
    bind: SocketAddr,
) -> std::io::Result<SimHandle> {
    if !bind.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "il simulatore ascolta solo su un indirizzo locale (127.0.0.1 o ::1), non su {bind}"
            ),
        ));
    }
    let mailboxes = seed::generate(members, config.seed, &config.pec_domain, Utc::now());
    let shared = Arc::new(Shared {
        token: config.token.clone(),
        state: Mutex::new(SimState::new(mailboxes)),
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
                let migrated = shared.lock().migrate_some(&mut rng, count);
                tracing::debug!(migrated, "demo: migrazioni simulate");
            }
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let v1 = Router::new()
        .route(CONTRACT_PATHS[0], get(list_mailboxes))
        .route(CONTRACT_PATHS[1], get(get_mailbox))
        .route(CONTRACT_PATHS[2], post(resend_recovery_email))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            require_token,
        ));
    Router::new()
        .merge(v1)
        .route(STATS_PATH, get(stats))
        .route(CLOCK_PATH, get(get_clock).post(advance_clock))
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
    let message = message.into();
    respond(Answer::json(
        400,
        &api::ErrorBody {
            code: error_code::BAD_REQUEST.to_string(),
            message: message.clone(),
            details: vec![api::FieldError {
                field: field.to_string(),
                code: "invalid".to_string(),
                message,
            }],
        },
    ))
}

/// Compares without stopping at the first different byte.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = given.len() ^ expected.len();
    for i in 0..given.len().max(expected.len()) {
        let a = given.get(i).copied().unwrap_or(0);
        let b = expected.get(i).copied().unwrap_or(0);
        diff |= usize::from(a ^ b);
    }
    std::hint::black_box(diff) == 0
}

async fn require_token(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    // An empty configured token would accept an empty header: never allow it.
    if !shared.token.is_empty() && same_secret(given, shared.token.as_bytes()) {
        return next.run(request).await;
    }
    let mut response = error(
        401,
        error_code::UNAUTHORIZED,
        "Token di accesso mancante o non valido.",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The route a path falls in, without the address (personal data stays out of logs).
fn route_label(path: &str) -> &'static str {
    match path.strip_prefix("/v1/mailboxes") {
        Some("" | "/") => CONTRACT_PATHS[0],
        Some(rest) if rest.ends_with("/recovery-email") => CONTRACT_PATHS[2],
        Some(_) => CONTRACT_PATHS[1],
        None if path.starts_with("/sim/") => "/sim/*",
        None => "(altro)",
    }
}

async fn log_request(request: Request, next: Next) -> Response {
    let route = route_label(request.uri().path());
    let method = request.method().clone();
    let started = std::time::Instant::now();
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

async fn list_mailboxes(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<api::ListQuery>, QueryRejection>,
) -> Response {
    let refuse = |response: Response| {
        shared.lock().count_refused(operation::LIST_MAILBOXES);
        response
    };
    let Ok(Query(query)) = query else {
        return refuse(bad_request(
            "query",
            "I parametri 'page' e 'per_page' devono essere numeri interi positivi.",
        ));
    };
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(api::DEFAULT_PER_PAGE);
    if page == 0 {
        return refuse(bad_request("page", "Le pagine si contano da 1."));
    }
    if per_page == 0 || per_page > api::MAX_PER_PAGE {
        return refuse(bad_request(
            "per_page",
            format!("'per_page' deve essere tra 1 e {}.", api::MAX_PER_PAGE),
        ));
    }
    let page = shared.lock().list(page, per_page);
    respond(Answer::json(200, &page))
}

fn bad_address() -> Response {
    bad_request(
        "address",
        "Indirizzo della casella non leggibile nel percorso.",
    )
}

async fn get_mailbox(
    State(shared): State<Arc<Shared>>,
    address: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(address)) = address else {
        shared.lock().count_refused(operation::GET_MAILBOX);
        return bad_address();
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

async fn resend_recovery_email(
    State(shared): State<Arc<Shared>>,
    address: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(address)) = address else {
        shared
            .lock()
            .count_refused(operation::RESEND_RECOVERY_EMAIL);
        return bad_address();
    };
    let key = headers
        .get(api::IDEMPOTENCY_HEADER)
        .map(|v| v.to_str().map(str::trim));
    let key = match key {
        None | Some(Ok("")) => {
            shared
                .lock()
                .count_refused(operation::RESEND_RECOVERY_EMAIL);
            return error(
                400,
                error_code::IDEMPOTENCY_KEY_REQUIRED,
                format!(
                    "Serve l'intestazione {} con una chiave unica per l'operazione.",
                    api::IDEMPOTENCY_HEADER
                ),
            );
        }
        Some(Ok(key))
            if key.len() <= api::MAX_IDEMPOTENCY_KEY_LEN
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            key.to_string()
        }
        Some(_) => {
            shared
                .lock()
                .count_refused(operation::RESEND_RECOVERY_EMAIL);
            return bad_request(
                api::IDEMPOTENCY_HEADER,
                format!(
                    "La chiave di idempotenza deve avere al massimo {} caratteri ASCII visibili.",
                    api::MAX_IDEMPOTENCY_KEY_LEN
                ),
            );
        }
    };
    let outcome = shared.lock().resend(&address, &key);
    let mut response = respond(outcome.answer);
    if outcome.replayed {
        response.headers_mut().insert(
            api::IDEMPOTENT_REPLAYED_HEADER,
            HeaderValue::from_static("true"),
        );
    }
    response
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let stats = shared.lock().stats();
    respond(Answer::json(200, &stats))
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
}

fn clock_answer(state: &mut SimState) -> ClockAnswer {
    ClockAnswer {
        now: state.now(),
        offset_seconds: state.offset().num_seconds(),
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
    fn debug_hides_the_token() {
        let shown = format!("{:?}", SimConfig::new("s3cret"));
        assert!(!shown.contains("s3cret"));
    }
}
