//! What the provider tests share: a simulator on loopback, clients tuned to
//! fail fast, and the simulator's control paths.
#![allow(dead_code)] // each test binary uses its own part

use std::time::Duration;

use pecdesk::domain::{MailboxState, Member};
use pecdesk::provider::client::{ClientConfig, ProviderClient};
use pecdesk::provider::sim::{self, FaultCounts, SimConfig, SimHandle};
use pecdesk::sample::generate_roster;
use serde_json::Value;

pub const TOKEN: &str = "t0ken";
pub const CLIENT_ID: &str = "ordine-test";
pub const CLIENT_SECRET: &str = "s3gr3to:con&caratteri speciali";
pub const DOMAIN: &str = "pec.fofi.it";

pub fn roster(count: usize) -> Vec<Member> {
    generate_roster(count, 1, DOMAIN)
}

/// The simulator's configuration in tests: known credentials, no faults.
pub fn sim_config() -> SimConfig {
    let mut config = SimConfig::new(TOKEN);
    config.client_id = CLIENT_ID.to_string();
    config.client_secret = CLIENT_SECRET.to_string();
    config
}

pub async fn start_sim_with(members: &[Member], config: SimConfig) -> SimHandle {
    sim::start(members, config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator starts")
}

pub async fn start_sim() -> SimHandle {
    start_sim_with(&roster(300), sim_config()).await
}

/// Short timeouts and backoffs, no pacing: tests stay fast.
pub fn fast(mut config: ClientConfig) -> ClientConfig {
    config.connect_timeout = Duration::from_secs(1);
    config.request_timeout = Duration::from_secs(2);
    config.backoff_base = Duration::from_millis(5);
    config.backoff_cap = Duration::from_millis(40);
    config.max_retry_after = Duration::from_secs(2);
    config.max_per_second = 0;
    config
}

/// A client with the client credentials, one attempt per call.
pub fn oauth_client(sim: &SimHandle) -> ProviderClient {
    let mut config = fast(ClientConfig::with_client_credentials(
        sim.base_url(),
        CLIENT_ID,
        CLIENT_SECRET,
    ));
    config.max_attempts = 1;
    ProviderClient::new(config).expect("loopback http is allowed")
}

/// A client with a static token, one attempt per call.
pub fn token_client(sim: &SimHandle, token: &str) -> ProviderClient {
    let mut config = fast(ClientConfig::new(sim.base_url(), token));
    config.max_attempts = 1;
    ProviderClient::new(config).expect("loopback http is allowed")
}

/// reqwest is built without a default crypto provider, even for plain HTTP.
pub fn plain_http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn stats(sim: &SimHandle) -> Value {
    plain_http()
        .get(format!("{}{}", sim.base_url(), sim::STATS_PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn faults(sim: &SimHandle) -> FaultCounts {
    plain_http()
        .get(format!("{}{}", sim.base_url(), sim::FAULTS_PATH))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub async fn advance_clock(sim: &SimHandle, seconds: i64) -> Value {
    plain_http()
        .post(format!("{}{}", sim.base_url(), sim::CLOCK_PATH))
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

/// The member opens the pending recovery link and saves `password`.
pub async fn use_link(sim: &SimHandle, address: &str, password: Option<&str>) -> (u16, Value) {
    let url = format!(
        "{}{}",
        sim.base_url(),
        sim::USE_LINK_PATH.replace("{address}", address)
    );
    let mut request = plain_http().post(url);
    if let Some(password) = password {
        request = request.json(&serde_json::json!({ "password": password }));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// `(requests, state_changes)` of an operation on one mailbox.
pub fn counted(stats: &Value, address: &str, operation: &str) -> (u64, u64) {
    let entry = &stats["mailboxes"][address][operation];
    (
        entry["requests"].as_u64().unwrap_or(0),
        entry["state_changes"].as_u64().unwrap_or(0),
    )
}

pub fn with_recovery_email(all: &[MailboxState]) -> &MailboxState {
    all.iter()
        .find(|m| m.recovery.email_masked.is_some())
        .expect("some mailbox has a recovery e-mail")
}

/// A port nothing listens on (it was free a moment ago).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
