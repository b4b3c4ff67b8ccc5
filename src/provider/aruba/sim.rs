//! `pecdesk sim --aruba-port N`: Aruba's partner API on loopback, faithful to
//! the published files (`assets/aruba-api.json`): the spec's paths and
//! methods, JSON bodies in its field names, its envelope and error shape,
//! Spring paging (`page` from 0, `size`, `sort`), a JWT access token valid
//! 300 s and a refresh token valid 12 h. `http://127.0.0.1:N` stands where
//! the spec's server URL (`https://publicapi-areaclienti.arubapec.it/service`)
//! stands.
//!
//! Mailboxes are seeded from the roster with a realistic spread ([`seed`]):
//! some owners without contact, some with another e-mail or mobile than the
//! roster's, a few suspended or being cancelled, a few members without a
//! mailbox. Faults come on demand as in the provider simulator (latency, 5xx
//! before or after the work, late answers, 429 past a rate); a 5xx "after" an
//! owner change has applied it, as a lost answer would.
//!
//! Control paths outside the spec, without a token (loopback only):
//! `GET /sim/stats`: requests and changes per operation and per mailbox,
//! logins and refreshes; `POST /sim/expire-tokens[?refresh=true]`: every
//! access token (and refresh token) ends now.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, get, on};
use base64::Engine;
use chrono::{SecondsFormat, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::api::{self, Account, Envelope, Owner, Page};
use crate::domain::Member;
use crate::provider::sim::{Bucket, Faults, random_token, same_secret};

/// Control path with the counters (not part of the spec).
pub const STATS_PATH: &str = "/sim/stats";
/// Control path that ends every access token now, as an early expiry or a
/// revocation would (`?refresh=true`: the refresh tokens too). Not in the spec.
pub const EXPIRE_TOKENS_PATH: &str = "/sim/expire-tokens";
/// The spec's example lifetimes: access 300 s, refresh 43,200 s (12 h).
pub const ACCESS_TTL: Duration = Duration::from_secs(300);
pub const REFRESH_TTL: Duration = Duration::from_secs(43_200);
/// Spring's default largest page.
pub const MAX_PAGE_SIZE: u32 = 2000;

/// How the Aruba simulator starts.
#[derive(Clone)]
pub struct ArubaSimConfig {
    pub username: String,
    pub password: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub seed: u64,
    pub pec_domain: String,
    pub faults: Faults,
}

impl ArubaSimConfig {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
            access_ttl: ACCESS_TTL,
            refresh_ttl: REFRESH_TTL,
            seed: 42,
            pec_domain: crate::domain::DEFAULT_PEC_DOMAIN.to_string(),
            faults: Faults::default(),
        }
    }
}

impl std::fmt::Debug for ArubaSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArubaSimConfig")
            .field("username", &self.username)
            .field("password", &"***")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("seed", &self.seed)
            .field("pec_domain", &self.pec_domain)
            .field("faults", &self.faults)
            .finish()
    }
}

/// One seeded mailbox and its owner: the ground truth tests compare with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededAccount {
    pub address: String,
    pub status: String,
    pub owner_id: i64,
    pub name: String,
    pub surname: String,
    pub tax_code: String,
    pub provincia: Option<String>,
    /// As Aruba stores it (None: the owner has no contact data at all).
    pub email: Option<String>,
    pub mobile: Option<String>,
}

/// Share of the domain's members with no mailbox at Aruba.
const MISSING_SHARE: f64 = 0.02;
/// Share of owners with no contact data.
const NO_CONTACT_SHARE: f64 = 0.08;
/// Share of owners with another e-mail than the roster's.
const OTHER_EMAIL_SHARE: f64 = 0.07;
/// Share of owners with another mobile than the roster's.
const OTHER_MOBILE_SHARE: f64 = 0.05;

/// The accounts for `members` on `pec_domain`, reproducible from `seed`.
pub fn seed(members: &[Member], seed: u64, pec_domain: &str) -> Vec<SeededAccount> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xA5B1_7E57);
    let mut accounts = Vec::new();
    for (i, member) in members.iter().enumerate() {
        if !member.pec_on_domain(pec_domain) {
            continue;
        }
        let roll: f64 = rng.random();
        if roll < MISSING_SHARE {
            continue;
        }
        let status_roll: f64 = rng.random();
        let status = if status_roll < 0.03 {
            "SOSPESO"
        } else if status_roll < 0.05 {
            "RICHIESTA_DISDETTA"
        } else if status_roll < 0.055 {
            "RICHIESTA_DISDETTA_SOSPESA"
        } else if status_roll < 0.065 {
            "DA_CERTIFICARE"
        } else {
            "CERTIFICATO"
        };
        let contact_roll: f64 = rng.random();
        let mobile_form = |m: &str, dotted: bool| {
            let national = m.strip_prefix("+39").unwrap_or(m);
            if dotted {
                format!("+39.{national}")
            } else {
                national.to_string()
            }
        };
        let dotted = rng.random_bool(0.3);
        let (email, mobile) = if contact_roll < NO_CONTACT_SHARE || member.email_servizio.is_none()
        {
            (None, None)
        } else if contact_roll < NO_CONTACT_SHARE + OTHER_EMAIL_SHARE {
            (
                Some(format!("vecchio.{i}@libero.it")),
                member.cellulare.as_deref().map(|m| mobile_form(m, dotted)),
            )
        } else if contact_roll < NO_CONTACT_SHARE + OTHER_EMAIL_SHARE + OTHER_MOBILE_SHARE {
            (
                member.email_servizio.clone(),
                Some(format!(
                    "3{:09}",
                    rng.random_range(100_000_000..999_999_999u32)
                )),
            )
        } else {
            (
                member.email_servizio.clone(),
                member.cellulare.as_deref().map(|m| mobile_form(m, dotted)),
            )
        };
        accounts.push(SeededAccount {
            address: member.pec.to_lowercase(),
            status: status.to_string(),
            owner_id: 18_000_000 + i as i64,
            name: member.nome.clone(),
            surname: member.cognome.clone(),
            tax_code: member.codice_fiscale.clone(),
            provincia: member.provincia.clone(),
            email,
            mobile,
        });
    }
    accounts
}

/// A running simulator; dropping it stops the server.
pub struct ArubaSimHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl ArubaSimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Counts {
    requests: u64,
    state_changes: u64,
}

#[derive(Debug, Default, Serialize)]
struct Stats {
    operations: BTreeMap<&'static str, Counts>,
    mailboxes: BTreeMap<String, BTreeMap<&'static str, Counts>>,
    logins: u64,
    refreshes: u64,
    failed_logins: u64,
    /// Requests refused for a missing, expired or revoked access token.
    unauthorized: u64,
    faults: u64,
}

struct SimState {
    accounts: BTreeMap<String, SeededAccount>,
    /// Owner id to the addresses it holds.
    owners: HashMap<i64, Vec<String>>,
    access: HashMap<String, Instant>,
    refresh: HashMap<String, Instant>,
    stats: Stats,
}

impl SimState {
    fn count(&mut self, op: &'static str, addresses: &[String], changed: bool) {
        let add = |c: &mut Counts| {
            c.requests += 1;
            c.state_changes += u64::from(changed);
        };
        add(self.stats.operations.entry(op).or_default());
        for address in addresses {
            add(self
                .stats
                .mailboxes
                .entry(address.clone())
                .or_default()
                .entry(op)
                .or_default());
        }
    }

    fn owner_accounts(&self, id: i64) -> Vec<String> {
        self.owners.get(&id).cloned().unwrap_or_default()
    }
}

struct Shared {
    config: ArubaSimConfig,
    rng: Mutex<StdRng>,
    bucket: Option<Mutex<Bucket>>,
    state: Mutex<SimState>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the simulator on `bind` (loopback only; port 0 picks one).
pub async fn start(
    members: &[Member],
    config: ArubaSimConfig,
    bind: SocketAddr,
) -> std::io::Result<ArubaSimHandle> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    if !bind.ip().is_loopback() {
        return Err(invalid(format!(
            "il simulatore di Aruba ascolta solo su un indirizzo locale, non su {bind}"
        )));
    }
    config.faults.check().map_err(invalid)?;
    if config.username.trim().is_empty() || config.password.is_empty() {
        return Err(invalid(
            "--aruba-username e --aruba-password non possono essere vuoti".into(),
        ));
    }
    let seeded = seed(members, config.seed, &config.pec_domain);
    let mut owners: HashMap<i64, Vec<String>> = HashMap::new();
    for a in &seeded {
        owners
            .entry(a.owner_id)
            .or_default()
            .push(a.address.clone());
    }
    let count = seeded.len();
    let shared = Arc::new(Shared {
        rng: Mutex::new(StdRng::seed_from_u64(config.seed.wrapping_add(7))),
        bucket: config.faults.rate_limit.map(|r| Mutex::new(Bucket::new(r))),
        state: Mutex::new(SimState {
            accounts: seeded.into_iter().map(|a| (a.address.clone(), a)).collect(),
            owners,
            access: HashMap::new(),
            refresh: HashMap::new(),
            stats: Stats::default(),
        }),
        config,
    });
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let app = router(shared);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    tracing::info!(%addr, mailboxes = count, "simulatore di Aruba in ascolto");
    Ok(ArubaSimHandle {
        addr,
        stop: Some(stop),
        server: Some(server),
    })
}

/// The method filter of a spec operation.
fn method_filter(method: &str) -> MethodFilter {
    match method {
        "get" => MethodFilter::GET,
        "patch" => MethodFilter::PATCH,
        _ => MethodFilter::POST,
    }
}

/// Every route the simulator serves for the spec: (method, path), from the
/// same table the client uses.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    api::OPERATIONS.iter().map(|o| (o.method, o.path)).collect()
}

fn handler(op: &api::Operation) -> MethodRouter<Arc<Shared>> {
    let filter = method_filter(op.method);
    match op.id {
        "token" => on(filter, token),
        "refresh" => on(filter, refresh),
        "domainListMailboxes" => on(filter, list_mailboxes),
        "accountList" => on(filter, search_accounts),
        "accountInfo" => on(filter, account_info),
        "ownerSearch" => on(filter, search_owners),
        "ownerInfo" => on(filter, owner_info),
        "ownerUpdate" => on(filter, update_owner),
        other => unreachable!("operation {other} has no handler"),
    }
}

fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for op in &api::OPERATIONS {
        router = router.route(op.path, handler(op));
    }
    router
        .route(STATS_PATH, get(stats))
        .route(EXPIRE_TOKENS_PATH, axum::routing::post(expire_tokens))
        .fallback(|| async { error(404, "004", "Resource not found") })
        .method_not_allowed_fallback(|| async { error(405, "005", "Method not allowed") })
        .with_state(shared)
}

fn now_text() -> String {
    chrono::Local::now()
        .fixed_offset()
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// A success envelope. Only the token responses have `datetime` in the
/// published schemas (`TokenResponse`); the others (`DomainMailboxesResponse`,
/// `AccountInfoResponse`, ...) list `data`, `version` and `errors` alone.
fn respond<T: Serialize>(status: u16, data: T) -> Response {
    envelope(status, data, false)
}

fn respond_token<T: Serialize>(data: T) -> Response {
    envelope(200, data, true)
}

fn envelope<T: Serialize>(status: u16, data: T, with_datetime: bool) -> Response {
    let body = Envelope {
        data: Some(data),
        datetime: with_datetime.then(now_text),
        version: api::VERSION.to_string(),
        errors: None,
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        axum::Json(body),
    )
        .into_response()
}

/// A `RestErrorResponse`.
fn error_with(status: u16, error: api::RestError) -> Response {
    let body = api::ErrorResponse {
        data: Some(String::new()),
        datetime: Some(now_text()),
        version: api::VERSION.to_string(),
        errors: Some(vec![error]),
    };
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

fn error(status: u16, code: &str, description: &str) -> Response {
    error_with(
        status,
        api::RestError {
            code: Some(code.to_string()),
            validation_error: None,
            description: Some(description.to_string()),
        },
    )
}

fn invalid_field(object: &str, field: &str, code: &str, rejected: serde_json::Value) -> Response {
    error_with(
        400,
        api::RestError {
            code: Some("001".to_string()),
            validation_error: Some(api::ValidationError {
                object_name: Some(object.to_string()),
                field: Some(field.to_string()),
                code: Some(code.to_string()),
                rejected_value: Some(rejected),
                default_message: Some(format!("invalid {field}")),
            }),
            description: Some("Invalid request data".to_string()),
        },
    )
}

fn unauthorized() -> Response {
    error(401, "002", "Unauthorized access")
}

/// What the fault draw decided for one request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    FailBefore,
    FailAfter,
    Late,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        lock(&self.state)
    }

    fn draw(&self) -> Fault {
        let (fail, late) = (
            self.config.faults.fail_rate,
            self.config.faults.timeout_rate,
        );
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

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        self.lock()
            .access
            .get(token)
            .is_some_and(|until| Instant::now() < *until)
    }

    /// The gate every spec request passes: latency, rate limit, token (unless
    /// `public`), faults; then `work`, which says what it answers.
    async fn serve(
        &self,
        op: &'static str,
        headers: &HeaderMap,
        public: bool,
        work: impl FnOnce(&mut SimState) -> Response,
    ) -> Response {
        let faults = &self.config.faults;
        if !faults.latency.is_zero() {
            tokio::time::sleep(faults.latency).await;
        }
        if let Some(bucket) = &self.bucket
            && let Err(wait) = lock(bucket).take()
        {
            self.lock().count(op, &[], false);
            let mut response = error(429, "429", "Too many requests");
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            if let Ok(value) = secs.to_string().parse() {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        if !public && !self.authorized(headers) {
            let mut state = self.lock();
            state.count(op, &[], false);
            state.stats.unauthorized += 1;
            return unauthorized();
        }
        let fault = self.draw();
        if fault == Fault::FailBefore {
            let mut state = self.lock();
            state.count(op, &[], false);
            state.stats.faults += 1;
            return error(503, "500", "Unhandled error");
        }
        let response = work(&mut self.lock());
        match fault {
            Fault::FailAfter => {
                self.lock().stats.faults += 1;
                error(500, "500", "Unhandled error")
            }
            Fault::Late => {
                self.lock().stats.faults += 1;
                tokio::time::sleep(faults.late_answer_delay).await;
                response
            }
            _ => response,
        }
    }
}

/// A JSON body of type `T`, or the spec's 400.
fn parse<T: DeserializeOwned>(body: &Bytes, object: &str) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(invalid_field(
            object,
            "body",
            "HttpMessageNotReadable",
            serde_json::Value::String(e.to_string()),
        ))
    })
}

/// `page`, `size` (and `sort`, accepted) as Spring reads them.
fn paging(query: Option<&str>) -> Result<(usize, usize), Box<Response>> {
    let (mut page, mut size) = (0usize, api::DEFAULT_PAGE_SIZE as usize);
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let number = || {
            value.parse::<usize>().map_err(|_| {
                Box::new(invalid_field(
                    "pageable",
                    &key,
                    "typeMismatch",
                    serde_json::Value::String(value.to_string()),
                ))
            })
        };
        match key.as_ref() {
            "page" => page = number()?,
            "size" => size = number()?.clamp(1, MAX_PAGE_SIZE as usize),
            _ => {}
        }
    }
    Ok((page, size))
}

/// A paged search's body and paging, or the spec's 400.
fn paged<T: DeserializeOwned>(
    body: &Bytes,
    query: Option<&str>,
    object: &str,
) -> Result<(T, usize, usize), Box<Response>> {
    let request = parse(body, object)?;
    let (page, size) = paging(query)?;
    Ok((request, page, size))
}

fn page_of<T: Clone>(items: &[T], page: usize, size: usize) -> Page<T> {
    let total = items.len();
    let start = (page * size).min(total);
    let content: Vec<T> = items[start..(start + size).min(total)].to_vec();
    let total_pages = total.div_ceil(size);
    Page {
        total_pages: total_pages as i32,
        total_elements: total as i64,
        size: size as i32,
        number: page as i32,
        number_of_elements: content.len() as i32,
        pageable: Some(api::Pageable {
            offset: start as i64,
            page_number: page as i32,
            page_size: size as i32,
            paged: true,
            unpaged: false,
        }),
        first: page == 0,
        last: page + 1 >= total_pages,
        empty: content.is_empty(),
        content,
    }
}

fn owner_json(a: &SeededAccount) -> Owner {
    let contacts = a.email.as_ref().map(|email| api::ContactData {
        address: Some("Via Roma, 1".to_string()),
        town: Some(a.provincia.clone().unwrap_or_else(|| "Roma".to_string())),
        zip_code: Some("00100".to_string()),
        district: Some(a.provincia.clone().unwrap_or_else(|| "RM".to_string())),
        country: Some(260),
        email: Some(email.clone()),
        telephone_number: Some("+39.0600000000".to_string()),
        mobile: a.mobile.clone(),
    });
    Owner {
        user_type: "PRIVATO".to_string(),
        name: a.name.clone(),
        surname: a.surname.clone(),
        tax_code: a.tax_code.clone(),
        vat_number: None,
        contacts,
        id: Some(a.owner_id),
    }
}

fn account_json(a: &SeededAccount) -> Account {
    let date = |days: i64| {
        (Utc::now() + TimeDelta::days(days))
            .with_timezone(&chrono::FixedOffset::east_opt(3600).expect("+01:00"))
            .to_rfc3339_opts(SecondsFormat::Millis, false)
    };
    let suspended = a.status.contains("SOSPES");
    Account {
        name: a.address.clone(),
        kind: "EMAIL".to_string(),
        status: a.status.clone(),
        quotas: vec![api::InfoQuota {
            kind: "INBOX".to_string(),
            base: 2,
        }],
        owner: owner_json(a),
        request_date: date(-900),
        certification_date: date(-899),
        cancellation_date: a.status.contains("DISDETTA").then(|| date(30)),
        suspension_date: suspended.then(|| date(-10)),
        end_date: date(200),
        renewal_data: api::RenewalData {
            kind: "T".to_string(),
            duration: 1,
        },
    }
}

/// A JWT-shaped token: header, claims and a random signature, base64url.
fn jwt(username: &str, ttl: Duration, kind: &str) -> String {
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let now = Utc::now().timestamp();
    format!(
        "{}.{}.{}",
        b64(serde_json::json!({"alg": "HS256", "typ": "JWT"})),
        b64(serde_json::json!({
            "sub": username, "typ": kind, "iat": now,
            "exp": now + ttl.as_secs() as i64, "jti": random_token()
        })),
        &random_token()[..43]
    )
}

fn issue(
    state: &mut SimState,
    config: &ArubaSimConfig,
    refresh: Option<(String, Instant)>,
) -> Response {
    let now = Instant::now();
    let access = jwt(&config.username, config.access_ttl, "Bearer");
    state.access.retain(|_, until| *until > now);
    state.access.insert(access.clone(), now + config.access_ttl);
    let (refresh_token, refresh_until) = refresh.unwrap_or_else(|| {
        let token = jwt(&config.username, config.refresh_ttl, "Refresh");
        (token, now + config.refresh_ttl)
    });
    state.refresh.insert(refresh_token.clone(), refresh_until);
    respond_token(api::TokenModel {
        access_token: access,
        expires_in: config.access_ttl.as_secs() as i64,
        refresh_token,
        refresh_expires_in: refresh_until.saturating_duration_since(now).as_secs() as i64,
        token_type: "Bearer".to_string(),
    })
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: api::TokenRequest = match parse(&body, "tokenRequest") {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let config = shared.config.clone();
    shared
        .serve("token", &headers, true, move |state| {
            let ok = same_secret(request.username.as_bytes(), config.username.as_bytes())
                & same_secret(request.password.as_bytes(), config.password.as_bytes());
            state.count("token", &[], false);
            if !ok {
                state.stats.failed_logins += 1;
                return error(401, "002", "Invalid user credentials");
            }
            state.stats.logins += 1;
            issue(state, &config, None)
        })
        .await
}

async fn refresh(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: api::RefreshRequest = match parse(&body, "refreshRequest") {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let config = shared.config.clone();
    shared
        .serve("refresh", &headers, true, move |state| {
            state.count("refresh", &[], false);
            let now = Instant::now();
            match state.refresh.get(&request.refresh_token).copied() {
                Some(until) if now < until => {
                    state.stats.refreshes += 1;
                    issue(state, &config, Some((request.refresh_token, until)))
                }
                _ => {
                    state.refresh.remove(&request.refresh_token);
                    error(401, "002", "Refresh token expired or invalid")
                }
            }
        })
        .await
}

async fn list_mailboxes(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (request, page, size): (api::DomainByNameRequest, _, _) =
        match paged(&body, query.as_deref(), "domainByNameRequest") {
            Ok(r) => r,
            Err(e) => return *e,
        };
    let domain = shared.config.pec_domain.clone();
    shared
        .serve("domainListMailboxes", &headers, false, move |state| {
            state.count("domainListMailboxes", &[], false);
            if !request.full_name.eq_ignore_ascii_case(&domain) {
                return error(404, "004", "Domain not found");
            }
            let accounts: Vec<&SeededAccount> = state.accounts.values().collect();
            respond(200, page_of(&accounts, page, size).map(account_json))
        })
        .await
}

async fn search_accounts(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (request, page, size): (api::AccountSearchRequest, _, _) =
        match paged(&body, query.as_deref(), "accountSearchRequest") {
            Ok(r) => r,
            Err(e) => return *e,
        };
    shared
        .serve("accountList", &headers, false, move |state| {
            let found: Vec<Account> = state
                .accounts
                .values()
                .filter(|a| owner_matches(a, request.owner.as_ref()))
                .filter(|a| request.status.as_ref().is_none_or(|s| &a.status == s))
                .filter(|_| request.kind.as_ref().is_none_or(|k| k == "EMAIL"))
                .map(account_json)
                .collect();
            let addresses: Vec<String> = found.iter().map(|a| a.name.clone()).collect();
            state.count("accountList", &addresses, false);
            respond(200, page_of(&found, page, size))
        })
        .await
}

fn owner_matches(a: &SeededAccount, search: Option<&api::OwnerSearchRequest>) -> bool {
    let Some(s) = search else { return true };
    s.id.is_none_or(|id| id == a.owner_id)
        && s.tax_code
            .as_ref()
            .is_none_or(|t| t.eq_ignore_ascii_case(&a.tax_code))
        && s.surname
            .as_ref()
            .is_none_or(|t| t.eq_ignore_ascii_case(&a.surname))
        && s.name
            .as_ref()
            .is_none_or(|t| t.eq_ignore_ascii_case(&a.name))
}

/// The statuses `accountInfo` answers for, as its description says.
const INFO_STATUSES: [&str; 4] = [
    "CERTIFICATO",
    "RICHIESTA_DISDETTA",
    "RICHIESTA_DISDETTA_SOSPESA",
    "DA_CERTIFICARE",
];

async fn account_info(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: api::AccountInfoRequest = match parse(&body, "accountInfoRequestV3") {
        Ok(r) => r,
        Err(e) => return *e,
    };
    shared
        .serve("accountInfo", &headers, false, move |state| {
            let name = request.name.trim().to_lowercase();
            let found = state
                .accounts
                .get(&name)
                .filter(|a| INFO_STATUSES.contains(&a.status.as_str()))
                .map(account_json);
            state.count("accountInfo", std::slice::from_ref(&name), false);
            match found {
                Some(account) => respond(200, account),
                None => error(404, "004", "Account not found"),
            }
        })
        .await
}

async fn search_owners(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (request, page, size): (api::OwnerSearchRequest, _, _) =
        match paged(&body, query.as_deref(), "ownerSearchRequest") {
            Ok(r) => r,
            Err(e) => return *e,
        };
    shared
        .serve("ownerSearch", &headers, false, move |state| {
            let mut seen = std::collections::BTreeSet::new();
            let mut addresses = Vec::new();
            let found: Vec<Owner> = state
                .accounts
                .values()
                .filter(|a| owner_matches(a, Some(&request)))
                .filter(|a| seen.insert(a.owner_id))
                .map(|a| {
                    addresses.push(a.address.clone());
                    owner_json(a)
                })
                .collect();
            state.count("ownerSearch", &addresses, false);
            respond(200, page_of(&found, page, size))
        })
        .await
}

async fn owner_info(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return invalid_field(
            "ownerInfo",
            "id",
            "typeMismatch",
            serde_json::Value::String(id),
        );
    };
    shared
        .serve("ownerInfo", &headers, false, move |state| {
            let addresses = state.owner_accounts(id);
            state.count("ownerInfo", &addresses, false);
            match addresses.first().and_then(|a| state.accounts.get(a)) {
                Some(account) => respond(200, owner_json(account)),
                None => error(404, "004", "Owner not found"),
            }
        })
        .await
}

async fn update_owner(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: api::OwnerUpdateRequest = match parse(&body, "ownerUpdateRequest") {
        Ok(r) => r,
        Err(e) => return *e,
    };
    let contacts = request.contacts.clone().unwrap_or_default();
    if let Some(email) = &contacts.email
        && (!(5..=80).contains(&email.chars().count()) || !email.contains('@'))
    {
        return invalid_field(
            "ownerUpdateRequest",
            "contacts.email",
            "Size",
            email.clone().into(),
        );
    }
    if let Some(mobile) = &contacts.mobile
        && !(1..=50).contains(&mobile.chars().count())
    {
        return invalid_field(
            "ownerUpdateRequest",
            "contacts.mobile",
            "Size",
            mobile.clone().into(),
        );
    }
    shared
        .serve("ownerUpdate", &headers, false, move |state| {
            let id = request.owner_id.id;
            let addresses = match id {
                Some(id) => state.owner_accounts(id),
                None => Vec::new(),
            };
            if addresses.is_empty() {
                state.count("ownerUpdate", &[], false);
                return error(404, "004", "Owner not found");
            }
            let has_email = addresses
                .iter()
                .any(|a| state.accounts.get(a).is_some_and(|a| a.email.is_some()));
            if contacts.email.is_none() && contacts.mobile.is_some() && !has_email {
                state.count("ownerUpdate", &addresses, false);
                return invalid_field(
                    "ownerUpdateRequest",
                    "contacts.email",
                    "NotNull",
                    serde_json::Value::Null,
                );
            }
            let mut changed = false;
            for address in &addresses {
                if let Some(account) = state.accounts.get_mut(address) {
                    if let Some(email) = &contacts.email
                        && account.email.as_ref() != Some(email)
                    {
                        account.email = Some(email.clone());
                        changed = true;
                    }
                    if let Some(mobile) = &contacts.mobile
                        && account.email.is_some()
                        && account.mobile.as_ref() != Some(mobile)
                    {
                        account.mobile = Some(mobile.clone());
                        changed = true;
                    }
                }
            }
            state.count("ownerUpdate", &addresses, changed);
            let owner = owner_json(&state.accounts[&addresses[0]]);
            respond(200, owner)
        })
        .await
}

async fn expire_tokens(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let refresh_too = query.as_deref().is_some_and(|q| q.contains("refresh=true"));
    let mut state = shared.lock();
    state.access.clear();
    if refresh_too {
        state.refresh.clear();
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(shared): State<Arc<Shared>>) -> Response {
    let state = shared.lock();
    axum::Json(&state.stats).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_has_a_realistic_spread() {
        let members = crate::sample::generate_roster(2000, 3, "pec.fofi.it");
        let accounts = seed(&members, 1, "pec.fofi.it");
        let share = |f: &dyn Fn(&SeededAccount) -> bool| {
            accounts.iter().filter(|a| f(a)).count() as f64 / accounts.len() as f64
        };
        assert!(accounts.len() < members.len() && accounts.len() > members.len() * 9 / 10);
        let none = share(&|a| a.email.is_none());
        assert!((0.04..0.2).contains(&none), "{none}");
        let suspended = share(&|a| a.status != "CERTIFICATO" && a.status != "DA_CERTIFICARE");
        assert!((0.02..0.1).contains(&suspended), "{suspended}");
        assert_eq!(accounts, seed(&members, 1, "pec.fofi.it"));
    }

    #[test]
    fn pages_are_springs() {
        let items: Vec<u32> = (0..5).collect();
        let p = page_of(&items, 1, 2);
        assert_eq!(
            (p.total_pages, p.total_elements, p.number_of_elements),
            (3, 5, 2)
        );
        assert!(!p.first && !p.last);
        let last = page_of(&items, 2, 2);
        assert!(last.last && last.content == vec![4]);
        assert!(page_of(&items, 9, 2).empty);
    }
}
