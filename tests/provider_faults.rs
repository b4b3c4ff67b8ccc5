//! A bad network and a strict provider: faults, retries that never act twice,
//! tokens expiring mid-flight, 429 and the client's own limits.

mod provider_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use pecdesk::provider::api::{self, operation};
use pecdesk::provider::client::{ClientConfig, ProviderClient, ProviderError, new_idempotency_key};
use pecdesk::provider::sim::Faults;
use provider_support::*;

/// Faults on a third of the requests, late answers well past the client's
/// timeout, and a client patient enough to get through.
fn faulty_sim_config() -> pecdesk::provider::sim::SimConfig {
    let mut config = sim_config();
    config.cutover_at = chrono::Utc::now() - chrono::TimeDelta::days(1);
    config.faults = Faults {
        latency: Duration::from_millis(1),
        fail_rate: 0.3,
        timeout_rate: 0.1,
        late_answer_delay: Duration::from_millis(400),
        rate_limit: None,
    };
    config
}

fn patient_client(base_url: String) -> ProviderClient {
    let mut config = fast(ClientConfig::with_client_credentials(
        base_url,
        CLIENT_ID,
        CLIENT_SECRET,
    ));
    config.request_timeout = Duration::from_millis(100);
    config.max_attempts = 30;
    ProviderClient::new(config).unwrap()
}

#[tokio::test]
async fn retries_with_one_key_change_a_mailbox_once() {
    let sim = start_sim_with(&roster(300), faulty_sim_config()).await;
    let client = patient_client(sim.base_url());
    let all = client.list_all_mailboxes().await.unwrap();
    let targets: Vec<&str> = all
        .iter()
        .filter(|m| m.recovery.email_masked.is_some())
        .take(8)
        .map(|m| m.address.as_str())
        .collect();
    for (i, address) in targets.iter().enumerate() {
        let answer = client
            .resend_recovery_email(address, &new_idempotency_key())
            .await
            .unwrap();
        // The answer the client got is the one the provider keeps, whichever
        // attempt carried it.
        let now = client.get_mailbox(address).await.unwrap();
        assert_eq!(now.link_sent_at, Some(answer.link_sent_at), "{address}");
        let contacts = api::RecoveryContactsRequest {
            mobile: Some(format!("347 000 {:04}", 1000 + i)),
            ..Default::default()
        };
        let set = client
            .set_recovery_contacts(address, &contacts, &new_idempotency_key())
            .await
            .unwrap();
        assert!(
            set.recovery_mobile_masked
                .unwrap()
                .ends_with(&format!("{}", 1000 + i)[1..])
        );
        let reset = client
            .reset_password(address, "Temp!Pass42", &new_idempotency_key())
            .await
            .unwrap();
        assert!(reset.must_change_password);
    }
    let stats = stats(&sim).await;
    let mut retried = 0;
    for address in &targets {
        for op in [
            operation::RESEND_RECOVERY_EMAIL,
            operation::SET_RECOVERY_CONTACTS,
            operation::RESET_PASSWORD,
        ] {
            let (requests, changes) = counted(&stats, address, op);
            assert_eq!(changes, 1, "{address} {op}: {requests} requests");
            retried += requests - 1;
        }
    }
    let faults = faults(&sim).await;
    assert!(retried > 0, "{faults:?}");
    // Both kinds of fault after the change happened, so replays were needed.
    assert!(faults.failed_after > 0 && faults.late > 0, "{faults:?}");
    assert!(faults.failed_before > 0, "{faults:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_token_expiring_mid_listing_is_replaced_once() {
    let sim = start_sim().await;
    let client = oauth_client(&sim);
    let any = api::MailboxFilter::default();
    let first = client.list_mailboxes(&any, None, 50).await.unwrap();
    // Two simulated hours: the one-hour token is dead at the provider while
    // the client still believes in it.
    advance_clock(&sim, 2 * 3600).await;
    let second = client
        .list_mailboxes(&any, first.next_cursor.as_deref(), 50)
        .await
        .unwrap();
    assert!(second.items[0].address > first.items.last().unwrap().address);
    let stats = stats(&sim).await;
    assert_eq!(stats["operations"][operation::ISSUE_TOKEN]["requests"], 2);
    assert_eq!(
        stats["operations"][operation::LIST_MAILBOXES]["requests"],
        3
    );
    assert_eq!(faults(&sim).await.unauthorized, 1);

    sim.shutdown().await;
}

#[tokio::test]
async fn a_provider_refusing_even_a_fresh_token_gets_one_retry() {
    // Tokens are issued, then refused: the client asks for one fresh token
    // and then reports the refusal.
    let tokens = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let (issued, denied) = (tokens.clone(), refused.clone());
    let app = axum::Router::new()
        .route(
            api::TOKEN_PATH,
            axum::routing::post(move || {
                let n = issued.fetch_add(1, Ordering::SeqCst);
                async move {
                    serde_json::json!({
                        "access_token": format!("tok{n}"),
                        "token_type": "Bearer",
                        "expires_in": 3600
                    })
                    .to_string()
                }
            }),
        )
        .route(
            "/v1/mailboxes/{address}",
            axum::routing::get(move || {
                denied.fetch_add(1, Ordering::SeqCst);
                async {
                    (
                        StatusCode::UNAUTHORIZED,
                        r#"{"code":"unauthorized","message":"no"}"#,
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = fast(ClientConfig::with_client_credentials(
        format!("http://{addr}"),
        CLIENT_ID,
        CLIENT_SECRET,
    ));
    let error = ProviderClient::new(config)
        .unwrap()
        .get_mailbox("a@pec.fofi.it")
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unauthorized), "{error:?}");
    assert_eq!(tokens.load(Ordering::SeqCst), 2);
    assert_eq!(refused.load(Ordering::SeqCst), 2);
    server.abort();
}

#[tokio::test]
async fn a_static_token_is_not_refreshed() {
    let sim = start_sim().await;
    let mut config = fast(ClientConfig::new(sim.base_url(), "revoked"));
    config.max_attempts = 5;
    let error = ProviderClient::new(config)
        .unwrap()
        .get_mailbox("a@pec.fofi.it")
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unauthorized), "{error:?}");
    assert_eq!(faults(&sim).await.unauthorized, 1, "401 is not retried");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_rate_limited_client_waits_for_retry_after() {
    let mut config = sim_config();
    config.faults.rate_limit = Some(4);
    let sim = start_sim_with(&roster(50), config).await;
    // One attempt: the 429 and its Retry-After reach the caller.
    let hasty = token_client(&sim, TOKEN);
    let mut limited = None;
    for _ in 0..8 {
        if let Err(error) = hasty.list_mailboxes(&Default::default(), None, 1).await {
            limited = Some(error);
            break;
        }
    }
    match limited {
        Some(ProviderError::RateLimited {
            retry_after: Some(wait),
        }) => assert_eq!(wait, Duration::from_secs(1)),
        other => panic!("{other:?}"),
    }
    // With retries every call gets through, after waiting as told.
    let mut config = fast(ClientConfig::new(sim.base_url(), TOKEN));
    config.max_in_flight = 8;
    let patient = ProviderClient::new(config).unwrap();
    let started = Instant::now();
    let calls = (0..8).map(|_| {
        let client = patient.clone();
        tokio::spawn(async move { client.list_mailboxes(&Default::default(), None, 1).await })
    });
    for call in futures::future::join_all(calls).await {
        call.unwrap().unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(faults(&sim).await.rate_limited >= 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_paced_client_stays_under_the_providers_limit() {
    let mut config = sim_config();
    config.faults.rate_limit = Some(20);
    let sim = start_sim_with(&roster(50), config).await;
    let mut config = fast(ClientConfig::new(sim.base_url(), TOKEN));
    config.max_per_second = 15;
    config.max_attempts = 1;
    let client = ProviderClient::new(config).unwrap();
    let started = Instant::now();
    // Clones share the pace: 15 at once, then one every 1/15 s.
    let calls = (0..24).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.get_mailbox("nessuno@pec.fofi.it").await })
    });
    for call in futures::future::join_all(calls).await {
        assert!(matches!(call.unwrap(), Err(ProviderError::NotFound(_))));
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(faults(&sim).await.rate_limited, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_in_flight_are_limited_across_clones() {
    // A provider that counts how many requests it is serving at once.
    let serving = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (now, top) = (serving.clone(), peak.clone());
    let app = axum::Router::new().route(
        "/v1/mailboxes/{address}",
        axum::routing::get(move || {
            let (now, top) = (now.clone(), top.clone());
            async move {
                let current = now.fetch_add(1, Ordering::SeqCst) + 1;
                top.fetch_max(current, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(40)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                (
                    StatusCode::NOT_FOUND,
                    r#"{"code":"mailbox_not_found","message":"x"}"#,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = fast(ClientConfig::new(format!("http://{addr}"), TOKEN));
    config.max_in_flight = 3;
    let client = ProviderClient::new(config).unwrap();
    let calls = (0..12).map(|i| {
        let client = client.clone();
        tokio::spawn(async move { client.get_mailbox(&format!("m{i}@pec.fofi.it")).await })
    });
    for call in futures::future::join_all(calls).await {
        assert!(matches!(call.unwrap(), Err(ProviderError::NotFound(_))));
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    server.abort();
}

#[tokio::test]
async fn late_answers_time_out_and_attempts_are_bounded() {
    let mut config = sim_config();
    config.faults.timeout_rate = 1.0;
    config.faults.late_answer_delay = Duration::from_millis(500);
    let sim = start_sim_with(&roster(20), config).await;
    let mut config = fast(ClientConfig::new(sim.base_url(), TOKEN));
    config.request_timeout = Duration::from_millis(100);
    config.max_attempts = 3;
    let started = Instant::now();
    let error = ProviderClient::new(config)
        .unwrap()
        .list_mailboxes(&Default::default(), None, 1)
        .await
        .unwrap_err();
    match &error {
        ProviderError::GaveUp { attempts: 3, last } => {
            assert!(matches!(**last, ProviderError::Timeout), "{last:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        error.message_it().contains("3 tentativi"),
        "{}",
        error.message_it()
    );
    assert!(
        started.elapsed() < Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(faults(&sim).await.late, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_answer_a_5xx_gives_up_with_the_last_error() {
    let mut config = sim_config();
    config.faults.fail_rate = 1.0;
    let sim = start_sim_with(&roster(20), config).await;
    let mut config = fast(ClientConfig::new(sim.base_url(), TOKEN));
    config.max_attempts = 4;
    let error = ProviderClient::new(config)
        .unwrap()
        .get_mailbox("a@pec.fofi.it")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.root(),
            ProviderError::Api {
                status: 500 | 503,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_transient());
    let counts = faults(&sim).await;
    assert_eq!(counts.failed_before + counts.failed_after, 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn retries_stop_after_max_attempts() {
    let mut config = ClientConfig::new(format!("http://127.0.0.1:{}", closed_port()), TOKEN);
    config.max_attempts = 3;
    let client = ProviderClient::new(config).unwrap();
    let started = Instant::now();
    let error = client.get_mailbox("a@pec.fofi.it").await.unwrap_err();
    assert!(
        matches!(error.root(), ProviderError::Unreachable(_)),
        "{error:?}"
    );
    // Two backoffs: at least 100 ms + 200 ms (half of 200 ms and 400 ms).
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_key() {
    use std::sync::Mutex;

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

    let client =
        ProviderClient::new(fast(ClientConfig::new(format!("http://{addr}"), TOKEN))).unwrap();
    let answer = client
        .resend_recovery_email("a@pec.fofi.it", "key-1")
        .await
        .unwrap();
    assert_eq!(answer.sent_to_masked, "*****sa@i*****.it");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, vec![Some("key-1".to_string()); 3]);
    server.abort();
}
