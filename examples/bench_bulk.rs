//! A bulk resend of 10,000 mailboxes through the action queue against the
//! simulator on loopback, with 20 ms of latency per request and 32 requests
//! in flight, against the ideal 10,000 × 20 ms / 32 = 6.25 s:
//!
//!   cargo run --release --example bench_bulk [-- --mailboxes 10000 --in-flight 32 --latency-ms 20]

use std::time::{Duration, Instant};

use chrono::Utc;
use pecdesk::domain::DEFAULT_PEC_DOMAIN;
use pecdesk::provider::sim::{self, Faults, SimConfig};
use pecdesk::provider::{ClientConfig, ProviderClient};
use pecdesk::queue::{self, Control};
use pecdesk::store::{IncomingRoster, JobKind, NewJobItem, Store};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let mailboxes = arg("--mailboxes", 10_000) as usize;
    let in_flight = arg("--in-flight", 32) as usize;
    let latency = Duration::from_millis(arg("--latency-ms", 20));
    // Enough members that `mailboxes` of them can receive a recovery e-mail.
    let members =
        pecdesk::sample::generate_roster(mailboxes * 13 / 10 + 100, 5, DEFAULT_PEC_DOMAIN);
    let token = sim::random_token();
    let mut sim_config = SimConfig::new(token.clone());
    sim_config.faults = Faults {
        latency,
        ..Faults::default()
    };
    let sim = sim::start(&members, sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut config = ClientConfig::new(sim.base_url(), token);
    config.max_in_flight = in_flight;
    config.max_per_second = 0;
    let client = ProviderClient::new(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bulk.db");
    Store::open(&path)
        .unwrap()
        .upsert_members(
            &IncomingRoster::full(&members),
            "bench",
            "bench",
            Utc::now(),
        )
        .unwrap();
    pecdesk::sync::run(&path, &client, "bench").await.unwrap();
    let items: Vec<NewJobItem> = Store::open(&path)
        .unwrap()
        .roster_entries()
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.mailbox
                .as_ref()
                .is_some_and(|m| m.can_receive_recovery_email())
        })
        .take(mailboxes)
        .map(|e| NewJobItem {
            address: e.address().to_string(),
            member_id: e.member_id,
            payload: None,
        })
        .collect();
    assert_eq!(
        items.len(),
        mailboxes,
        "not enough mailboxes with a recovery e-mail"
    );
    let start = Instant::now();
    let job = Store::open(&path)
        .unwrap()
        .create_job(JobKind::Resend, "bench", &items, Utc::now())
        .unwrap();
    let (_control, rx) = tokio::sync::watch::channel(Control::Run);
    let counts = queue::run_job(&path, &client, job, "bench", in_flight, rx, |_| {})
        .await
        .unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let ideal = mailboxes as f64 * latency.as_secs_f64() / in_flight as f64;
    println!(
        "bulk resend: {} mailboxes, {} ms latency, {} in flight",
        mailboxes,
        latency.as_millis(),
        in_flight
    );
    println!("done {}, failed {}", counts.done, counts.failed);
    println!(
        "time {elapsed:.2} s, ideal {ideal:.2} s, ratio {:.3} (goal <= 1.15)",
        elapsed / ideal
    );
    sim.shutdown().await;
}
