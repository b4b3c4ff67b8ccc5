//! The provider client against the simulator, over real loopback HTTP.

use std::collections::BTreeSet;
use std::time::Duration;

use pecdesk::domain::{
    MailboxState, Member, MigrationState, PasswordState, RECOVERY_LINK_VALIDITY,
};
use pecdesk::provider::api::{self, operation};
use pecdesk::provider::client::{ClientConfig, ProviderClient, ProviderError, new_idempotency_key};
use pecdesk::provider::sim::{self, CONTRACT_PATHS, SimConfig, SimHandle};
use pecdesk::sample::generate_roster;
use serde_json::Value;

const TOKEN: &str = "t0ken";
const DOMAIN: &str = "pec.fofi.it";

fn roster() -> Vec<Member> {
    generate_roster(300, 1, DOMAIN)
}

async fn start_sim() -> SimHandle {
    sim::start(
        &roster(),
        SimConfig::new(TOKEN),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("simulator starts")
}

fn client_with(sim: &SimHandle, token: &str) -> ProviderClient {
    let mut config = ClientConfig::new(sim.base_url(), token);
    config.max_attempts = 1;
    ProviderClient::new(config).expect("loopback http is allowed")
}

fn client(sim: &SimHandle) -> ProviderClient {
    client_with(sim, TOKEN)
}

/// reqwest is built without a default crypto provider, even for plain HTTP.
fn plain_http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn stats(sim: &SimHandle) -> Value {
    plain_http()
        .get(format!("{}/sim/stats", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn advance_clock(sim: &SimHandle, seconds: i64) -> Value {
    plain_http()
        .post(format!("{}/sim/clock", sim.base_url()))
        .json(&serde_json::json!({ "advance_seconds": seconds }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn with_recovery_email(all: &[MailboxState]) -> &MailboxState {
    all.iter()
        .find(|m| m.recovery.email_masked.is_some())
        .expect("some mailbox has a recovery e-mail")
}

/// `*****xx@y*****.tld`
fn looks_masked(masked: &str) -> bool {
    let Some((local, domain)) = masked.split_once('@') else {
        return false;
    };
    let Some(tail) = local.strip_prefix("*****") else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let mut host = host.chars();
    let first = host.next();
    (1..=2).contains(&tail.chars().count())
        && !tail.contains('*')
        && first.is_some_and(|c| c.is_ascii_alphanumeric())
        && host.as_str() == "*****"
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
}

#[tokio::test]
async fn list_all_returns_every_mailbox_on_the_domain() {
    let sim = start_sim().await;
    let all = client(&sim).list_all_mailboxes().await.unwrap();
    let members = roster();
    let on_domain: BTreeSet<String> = members
        .iter()
        .filter(|m| m.pec_on_domain(DOMAIN))
        .map(|m| m.pec.to_lowercase())
        .collect();
    let external: BTreeSet<String> = members
        .iter()
        .filter(|m| !m.pec_on_domain(DOMAIN))
        .map(|m| m.pec.to_lowercase())
        .collect();
    assert!(!external.is_empty(), "the roster has external PECs");

    let addresses: BTreeSet<String> = all.iter().map(|m| m.address.clone()).collect();
    assert_eq!(addresses.len(), all.len(), "no duplicates");
    assert!(
        addresses.is_disjoint(&external),
        "no external PEC has a mailbox"
    );
    let former: Vec<&String> = addresses.difference(&on_domain).collect();
    assert!(
        former
            .iter()
            .all(|a| a.starts_with("cessato.") && a.ends_with("@pec.fofi.it")),
        "{former:?}"
    );
    assert_eq!(former.len(), (on_domain.len() + 50) / 100);
    let missing = on_domain.difference(&addresses).count();
    assert!(missing <= on_domain.len() / 20, "{missing}");
    assert!(all.len() <= on_domain.len() + former.len());

    let sorted: Vec<&String> = all.iter().map(|m| &m.address).collect();
    assert!(sorted.windows(2).all(|w| w[0] < w[1]), "ordered by address");
    for m in &all {
        if m.migration == MigrationState::NotStarted {
            assert_eq!(m.password, PasswordState::NotSet, "{}", m.address);
            assert!(m.migration_at.is_none());
        } else {
            assert!(m.migration_at.is_some(), "{}", m.address);
        }
        if m.password == PasswordState::ResetPending {
            assert_eq!(
                m.link_expires_at.unwrap() - m.link_sent_at.unwrap(),
                RECOVERY_LINK_VALIDITY
            );
        }
        if let Some(masked) = &m.recovery.email_masked {
            assert!(looks_masked(masked), "{masked}");
        }
    }
    assert!(all.iter().any(|m| m.migration == MigrationState::Completed));
    assert!(
        all.iter()
            .any(|m| m.migration == MigrationState::NotStarted)
    );

    // The counters agree with the list.
    let stats = stats(&sim).await;
    let migration = stats["mailbox_states"]["migration"].as_object().unwrap();
    let counted: u64 = migration.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(counted, all.len() as u64);
    assert_eq!(
        migration["completed"].as_u64().unwrap(),
        all.iter()
            .filter(|m| m.migration == MigrationState::Completed)
            .count() as u64
    );
    assert_eq!(
        stats["operations"][operation::LIST_MAILBOXES]["requests"],
        1
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn small_pages_give_the_same_set() {
    let sim = start_sim().await;
    let client = client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let mut paged = Vec::new();
    let mut page = 1;
    loop {
        let answer = client.list_mailboxes_page(page, 7).await.unwrap();
        assert_eq!(answer.total, all.len() as u64);
        assert_eq!((answer.page, answer.per_page), (page, 7));
        assert!(answer.items.len() <= 7);
        for dto in answer.items {
            paged.push(dto.into_domain().unwrap());
        }
        match answer.next_page {
            Some(next) => {
                assert_eq!(next, page + 1);
                page = next;
            }
            None => break,
        }
    }
    assert_eq!(page as usize, all.len().div_ceil(7));
    assert_eq!(paged, all);

    // Beyond the limit: 400 bad_request in the contract's error shape.
    match client.list_mailboxes_page(1, api::MAX_PER_PAGE + 1).await {
        Err(ProviderError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (400, api::error_code::BAD_REQUEST));
        }
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_token_is_unauthorized() {
    let sim = start_sim().await;
    for token in ["wrong", "t0ke", "t0ken0", "T0KEN"] {
        let result = client_with(&sim, token).list_mailboxes_page(1, 10).await;
        assert!(
            matches!(result, Err(ProviderError::Unauthorized)),
            "{token}: {result:?}"
        );
    }
    // Without any Authorization header at all.
    let response = plain_http()
        .get(format!("{}/v1/mailboxes", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: api::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, api::error_code::UNAUTHORIZED);
    let error = client_with(&sim, "wrong")
        .get_mailbox("x@pec.fofi.it")
        .await
        .unwrap_err();
    assert!(!error.to_string().contains("wrong"));
    assert!(!error.message_it().contains("wrong"));
    sim.shutdown().await;
}

#[tokio::test]
async fn resend_sends_a_24_hour_link_once_per_key() {
    let sim = start_sim().await;
    let client = client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let target = with_recovery_email(&all);
    let key = new_idempotency_key();

    let first = client
        .resend_recovery_email(&target.address.to_uppercase(), &key)
        .await
        .unwrap();
    assert_eq!(first.address, target.address);
    assert!(
        looks_masked(&first.sent_to_masked),
        "{}",
        first.sent_to_masked
    );
    assert_eq!(
        Some(&first.sent_to_masked),
        target.recovery.email_masked.as_ref()
    );
    assert_eq!(
        first.link_expires_at - first.link_sent_at,
        RECOVERY_LINK_VALIDITY
    );

    let now = client.get_mailbox(&target.address).await.unwrap();
    assert_eq!(now.password, PasswordState::ResetPending);
    assert_eq!(now.link_sent_at, Some(first.link_sent_at));
    assert_eq!(now.link_expires_at, Some(first.link_expires_at));
    assert_eq!(now.updated_at, first.link_sent_at);

    // The same key again: the first answer, nothing changed.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = client
        .resend_recovery_email(&target.address, &key)
        .await
        .unwrap();
    assert_eq!(again, first);
    let unchanged = client.get_mailbox(&target.address).await.unwrap();
    assert_eq!(unchanged, now);

    let stats = stats(&sim).await;
    let counted = &stats["mailboxes"][&target.address][operation::RESEND_RECOVERY_EMAIL];
    assert_eq!(counted["requests"], 2, "{stats}");
    assert_eq!(counted["state_changes"], 1, "{stats}");
    let op = &stats["operations"][operation::RESEND_RECOVERY_EMAIL];
    assert_eq!(
        (op["requests"].as_u64(), op["state_changes"].as_u64()),
        (Some(2), Some(1))
    );
    let gets = &stats["mailboxes"][&target.address][operation::GET_MAILBOX];
    assert_eq!(
        (gets["requests"].as_u64(), gets["state_changes"].as_u64()),
        (Some(2), Some(0))
    );

    // A new key sends a new link.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let second = client
        .resend_recovery_email(&target.address, &new_idempotency_key())
        .await
        .unwrap();
    assert!(second.link_sent_at > first.link_sent_at);
    sim.shutdown().await;
}

#[tokio::test]
async fn resend_refusals() {
    let sim = start_sim().await;
    let client = client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let without = all
        .iter()
        .find(|m| m.recovery.email_masked.is_none())
        .expect("some mailbox has no recovery e-mail");
    let result = client
        .resend_recovery_email(&without.address, &new_idempotency_key())
        .await;
    match result {
        Err(ProviderError::NoRecoveryContact(address)) => assert_eq!(address, without.address),
        other => panic!("{other:?}"),
    }
    let unchanged = client.get_mailbox(&without.address).await.unwrap();
    assert_eq!(&unchanged, without);

    let unknown = "nessuno.qui@pec.fofi.it";
    assert!(matches!(
        client.resend_recovery_email(unknown, &new_idempotency_key()).await,
        Err(ProviderError::NotFound(a)) if a == unknown
    ));
    assert!(matches!(
        client.get_mailbox(unknown).await,
        Err(ProviderError::NotFound(a)) if a == unknown
    ));

    // Without the idempotency key header.
    let target = with_recovery_email(&all);
    let response = plain_http()
        .post(format!(
            "{}{}",
            sim.base_url(),
            api::recovery_email_path(&target.address)
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: api::ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, api::error_code::IDEMPOTENCY_KEY_REQUIRED);
    assert_eq!(client.get_mailbox(&target.address).await.unwrap(), *target);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_link_expires_after_24_simulated_hours() {
    let sim = start_sim().await;
    let client = client(&sim);
    let all = client.list_all_mailboxes().await.unwrap();
    let target = with_recovery_email(&all);
    let sent = client
        .resend_recovery_email(&target.address, &new_idempotency_key())
        .await
        .unwrap();
    let clock = advance_clock(&sim, 25 * 3600).await;
    assert_eq!(clock["offset_seconds"], 25 * 3600);
    let later = client.get_mailbox(&target.address).await.unwrap();
    assert_eq!(later.password, PasswordState::LinkExpired);
    assert_eq!(later.link_expires_at, Some(sent.link_expires_at));
    assert_eq!(later.updated_at, sent.link_expires_at);
    // Every link pending at the start has expired too.
    let all_later = client.list_all_mailboxes().await.unwrap();
    assert!(
        all_later
            .iter()
            .all(|m| m.password != PasswordState::ResetPending)
    );
    let stats = stats(&sim).await;
    assert_eq!(stats["mailbox_states"]["password"]["reset_pending"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn plain_http_is_refused_off_loopback() {
    for url in [
        "http://example.com",
        "http://example.com/v1",
        "http://192.168.1.10:8080",
    ] {
        assert!(
            matches!(
                ProviderClient::new(ClientConfig::new(url, TOKEN)),
                Err(ProviderError::InsecureUrl(_))
            ),
            "{url}"
        );
    }
    assert!(matches!(
        ProviderClient::new(ClientConfig::new("not a url", TOKEN)),
        Err(ProviderError::InvalidUrl(_))
    ));
    assert!(ProviderClient::new(ClientConfig::new("https://example.com", TOKEN)).is_ok());
    assert!(ProviderClient::new(ClientConfig::new("http://localhost:1", TOKEN)).is_ok());
}

#[tokio::test]
async fn an_unreachable_provider() {
    // A port that was free a moment ago: nothing listens there now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}"), TOKEN);
    config.max_attempts = 1;
    let client = ProviderClient::new(config).unwrap();
    let error = client.list_all_mailboxes().await.unwrap_err();
    assert!(matches!(error, ProviderError::Unreachable(_)), "{error:?}");
    assert!(error.is_transient());
    assert!(!error.to_string().contains(TOKEN));
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}"), TOKEN);
    config.max_attempts = 3;
    let client = ProviderClient::new(config).unwrap();
    let started = std::time::Instant::now();
    let error = client.get_mailbox("a@pec.fofi.it").await.unwrap_err();
    assert!(matches!(error, ProviderError::Unreachable(_)), "{error:?}");
    // Two backoffs: at least 100 ms + 200 ms (half of 200 ms and 400 ms).
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sim = start_sim().await;
    let url = sim.base_url();
    let client = client(&sim);
    client.list_mailboxes_page(1, 1).await.unwrap();
    sim.shutdown().await;
    assert!(matches!(
        client.list_mailboxes_page(1, 1).await,
        Err(ProviderError::Unreachable(_))
    ));
    assert!(
        plain_http()
            .get(format!("{url}/sim/stats"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn demo_mode_migrates_mailboxes() {
    let mut config = SimConfig::new(TOKEN);
    config.demo = true;
    config.demo_migration_interval = Duration::from_millis(50);
    let sim = sim::start(&roster(), config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let count = |stats: &Value| stats["mailbox_states"]["migration"]["completed"].as_u64();
    let before = count(&stats(&sim).await).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = count(&stats(&sim).await).unwrap();
    assert!(after > before, "{before} -> {after}");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_binds_only_to_loopback() {
    let result = sim::start(
        &roster(),
        SimConfig::new(TOKEN),
        "0.0.0.0:0".parse().unwrap(),
    )
    .await;
    assert!(result.is_err());
}

#[test]
fn the_contract_documents_every_operation_and_path() {
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/provider-api.yaml"
    ))
    .unwrap();
    for op in operation::ALL {
        assert!(yaml.contains(&format!("operationId: {op}")), "{op}");
    }
    for path in CONTRACT_PATHS {
        assert!(yaml.contains(&format!("\n  {path}:\n")), "{path}");
    }
    // Every /v1 path written in the contract is one the simulator routes.
    let documented: Vec<&str> = yaml
        .lines()
        .filter_map(|l| l.strip_prefix("  /"))
        .filter_map(|l| l.strip_suffix(':'))
        .collect();
    assert_eq!(documented.len(), CONTRACT_PATHS.len(), "{documented:?}");
    for path in documented {
        assert!(
            CONTRACT_PATHS.contains(&format!("/{path}").as_str()),
            "{path}"
        );
    }
    for needle in [
        "bearerAuth",
        "Idempotency-Key",
        "no_recovery_contact",
        "mailbox_not_found",
        "unauthorized",
        "failed_2fa",
        "link_expired",
        "maximum: 500",
    ] {
        assert!(yaml.contains(needle), "{needle}");
    }
    assert!(
        !yaml.contains("\n  /sim/"),
        "the control paths are not in the contract"
    );
}

#[tokio::test]
async fn every_error_has_the_contract_shape() {
    let sim = start_sim().await;
    let http = plain_http();
    let base = sim.base_url();
    let cases = [
        (
            http.get(format!("{base}/v1/mailboxes/%FF")),
            400,
            "bad_request",
        ),
        (
            http.get(format!("{base}/v1/mailboxes?page=0")),
            400,
            "bad_request",
        ),
        (
            http.get(format!("{base}/v1/mailboxes?per_page=x")),
            400,
            "bad_request",
        ),
        (http.get(format!("{base}/v1/nothing")), 404, "not_found"),
        (
            http.delete(format!("{base}/v1/mailboxes")),
            405,
            "method_not_allowed",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{code}");
        let body: api::ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, code);
        assert!(!body.message.is_empty());
    }

    // A replay says so in a header, with byte-identical bodies.
    let all = client(&sim).list_all_mailboxes().await.unwrap();
    let target = with_recovery_email(&all);
    let url = format!("{base}{}", api::recovery_email_path(&target.address));
    let key = new_idempotency_key();
    let mut bodies = Vec::new();
    for replay in [false, true] {
        let response = http
            .post(&url)
            .bearer_auth(TOKEN)
            .header(api::IDEMPOTENCY_HEADER, &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response
                .headers()
                .contains_key(api::IDEMPOTENT_REPLAYED_HEADER),
            replay
        );
        bodies.push(response.bytes().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    // The same key for another mailbox is refused.
    let other = all.iter().find(|m| m.address != target.address).unwrap();
    let response = http
        .post(format!(
            "{base}{}",
            api::recovery_email_path(&other.address)
        ))
        .bearer_auth(TOKEN)
        .header(api::IDEMPOTENCY_HEADER, &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
    sim.shutdown().await;
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_key() {
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};

    // A flaky provider: 503, then 429 with Retry-After: 0, then the answer.
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/v1/mailboxes/{address}/recovery-email",
        axum::routing::post(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let key = headers
                    .get(api::IDEMPOTENCY_HEADER)
                    .map(|v| v.to_str().unwrap().to_string());
                let n = {
                    let mut log = log.lock().unwrap();
                    log.push(key);
                    log.len()
                };
                match n {
                    1 => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        HeaderMap::new(),
                        "<html>".to_string(),
                    ),
                    2 => {
                        let mut h = HeaderMap::new();
                        h.insert("retry-after", "0".parse().unwrap());
                        (StatusCode::TOO_MANY_REQUESTS, h, String::new())
                    }
                    _ => (
                        StatusCode::OK,
                        HeaderMap::new(),
                        serde_json::json!({
                            "address": "a@pec.fofi.it",
                            "sent_to_masked": "*****sa@i*****.it",
                            "link_sent_at": "2026-11-01T09:00:00Z",
                            "link_expires_at": "2026-11-02T09:00:00Z"
                        })
                        .to_string(),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = ProviderClient::new(ClientConfig::new(format!("http://{addr}"), TOKEN)).unwrap();
    let answer = client
        .resend_recovery_email("a@pec.fofi.it", "key-1")
        .await
        .unwrap();
    assert_eq!(answer.sent_to_masked, "*****sa@i*****.it");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![Some("key-1".to_string()); 3]);
    server.abort();
}
