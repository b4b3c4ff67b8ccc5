//! The action queue against the simulator over loopback HTTP: bulk jobs under
//! faults, and a process killed mid-job then resumed, with /sim/stats proving
//! that no mailbox changed twice.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::provider::sim::{self, Faults, SimConfig, SimHandle};
use pecdesk::provider::{ClientConfig, ProviderClient};
use pecdesk::queue::{self, Control};
use pecdesk::store::{IncomingRoster, JobKind, NewJobItem, Store};
use serde_json::Value;

const TOKEN: &str = "queue-test-token";

fn roster(n: usize) -> Vec<Member> {
    pecdesk::sample::generate_roster(n, 77, DEFAULT_PEC_DOMAIN)
}

async fn start_sim(members: &[Member], faults: Faults) -> SimHandle {
    let mut config = SimConfig::new(TOKEN);
    config.faults = faults;
    sim::start(members, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

async fn stats(sim: &SimHandle) -> Value {
    reqwest::get(format!("{}/sim/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A store with the roster and a first sync, and the mailboxes a resend fits.
async fn prepared_store(
    dir: &std::path::Path,
    members: &[Member],
    client: &ProviderClient,
) -> (std::path::PathBuf, Vec<NewJobItem>) {
    let path = dir.join("queue.db");
    let mut store = Store::open(&path).unwrap();
    store
        .upsert_members(&IncomingRoster::full(members), "test", "test", Utc::now())
        .unwrap();
    drop(store);
    pecdesk::sync::run(&path, client, "test").await.unwrap();
    let store = Store::open(&path).unwrap();
    let items = store
        .roster_entries()
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.mailbox
                .as_ref()
                .is_some_and(|m| m.can_receive_recovery_email())
        })
        .map(|e| NewJobItem {
            address: e.address().to_string(),
            member_id: e.member_id,
            payload: None,
        })
        .collect();
    (path, items)
}

fn resend_changes(stats: &Value, address: &str) -> u64 {
    stats["mailboxes"][address]["resendRecoveryEmail"]["state_changes"]
        .as_u64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_resend_under_faults_changes_each_mailbox_once_or_lists_it() {
    let members = roster(1300);
    let sim = start_sim(
        &members,
        Faults {
            fail_rate: 0.1,
            ..Faults::default()
        },
    )
    .await;
    let mut config = ClientConfig::new(sim.base_url(), TOKEN);
    config.max_attempts = 2;
    config.backoff_base = Duration::from_millis(1);
    config.max_per_second = 0;
    let client = ProviderClient::new(config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The first sync may itself meet faults: retry it with a patient client.
    let mut patient = ClientConfig::new(sim.base_url(), TOKEN);
    patient.max_attempts = 10;
    patient.backoff_base = Duration::from_millis(1);
    let (path, items) =
        prepared_store(dir.path(), &members, &ProviderClient::new(patient).unwrap()).await;
    let items: Vec<NewJobItem> = items.into_iter().take(1000).collect();
    assert_eq!(items.len(), 1000);
    let job = Store::open(&path)
        .unwrap()
        .create_job(JobKind::Resend, "test", &items, Utc::now())
        .unwrap();
    let (_control, rx) = tokio::sync::watch::channel(Control::Run);
    let counts = queue::run_job(&path, &client, job, "test", 16, rx, |_| {})
        .await
        .unwrap();
    assert_eq!(counts.total, 1000);
    assert_eq!(counts.pending, 0);
    assert_eq!(counts.done + counts.failed, 1000);
    let store = Store::open(&path).unwrap();
    let failed: Vec<String> = store
        .failed_items(job)
        .unwrap()
        .into_iter()
        .map(|i| i.address)
        .collect();
    assert_eq!(failed.len(), counts.failed);
    let stats = stats(&sim).await;
    for item in &items {
        let changes = resend_changes(&stats, &item.address);
        if failed.contains(&item.address) {
            assert!(changes <= 1, "{} changed {changes} times", item.address);
        } else {
            assert_eq!(
                changes, 1,
                "{} done but changed {changes} times",
                item.address
            );
        }
    }
    // "Retry the failed" until none is left: still one change per mailbox.
    for _ in 0..10 {
        if store.failed_items(job).unwrap().is_empty() {
            break;
        }
        Store::open(&path)
            .unwrap()
            .retry_failed(job, Utc::now())
            .unwrap();
        let (_control, rx) = tokio::sync::watch::channel(Control::Run);
        queue::run_job(&path, &client, job, "test", 16, rx, |_| {})
            .await
            .unwrap();
    }
    assert!(store.failed_items(job).unwrap().is_empty());
    let stats = self::stats(&sim).await;
    for item in &items {
        assert_eq!(resend_changes(&stats, &item.address), 1, "{}", item.address);
    }
    // Every attempt is in the audit trail, each with its outcome.
    assert!(store.event_count().unwrap() as usize >= 1000);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_bulk_job_resumes_without_repeating_a_change() {
    let members = roster(400);
    // Slow answers so the process is surely killed mid-job.
    let sim = start_sim(
        &members,
        Faults {
            latency: Duration::from_millis(40),
            ..Faults::default()
        },
    )
    .await;
    let client = ProviderClient::new(ClientConfig::new(sim.base_url(), TOKEN)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, items) = prepared_store(dir.path(), &members, &client).await;
    let bin = env!("CARGO_BIN_EXE_pecdesk");
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "max_in_flight = 4\nmax_per_second = 0\n").unwrap();
    let pecdesk = |args: &[&str]| {
        let mut command = Command::new(bin);
        command
            .arg("--db")
            .arg(&path)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("PECDESK_PROVIDER_URL", sim.base_url())
            .env("PECDESK_PROVIDER_TOKEN", TOKEN)
            .env("PECDESK_OPERATOR", "cron")
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let mut child = pecdesk(&["resend", "--yes"]).spawn().unwrap();
    // Wait until part of the job is done, then kill the process outright.
    let started = Instant::now();
    loop {
        let done = Store::open(&path)
            .ok()
            .and_then(|s| s.unfinished_jobs().ok())
            .and_then(|jobs| jobs.first().map(|j| j.counts.done))
            .unwrap_or(0);
        if done >= 40 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the job never progressed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let jobs = Store::open(&path).unwrap().unfinished_jobs().unwrap();
    assert_eq!(jobs.len(), 1, "the killed job is waiting to be resumed");
    assert!(jobs[0].counts.pending > 0);
    let status = pecdesk(&["queue", "resume", "--yes"]).status().unwrap();
    assert_eq!(status.code(), Some(0));
    let store = Store::open(&path).unwrap();
    assert!(store.unfinished_jobs().unwrap().is_empty());
    let job = store.job(jobs[0].id).unwrap().unwrap();
    assert_eq!(job.counts.done, items.len());
    let stats = stats(&sim).await;
    for item in &items {
        assert_eq!(
            resend_changes(&stats, &item.address),
            1,
            "{} changed twice or never",
            item.address
        );
    }
    assert_eq!(
        stats["operations"]["resendRecoveryEmail"]["state_changes"]
            .as_u64()
            .unwrap(),
        items.len() as u64
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
    sim.shutdown().await;
}

/// A job resumed after the provider forgot its keys (24 hours) must not send
/// a second e-mail where its first attempt got through and the answer was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_queued_over_a_day_ago_is_checked_before_it_is_sent_again() {
    let members = roster(40);
    let sim = start_sim(&members, Faults::default()).await;
    let client = ProviderClient::new(ClientConfig::new(sim.base_url(), TOKEN)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (path, items) = prepared_store(dir.path(), &members, &client).await;
    let items: Vec<NewJobItem> = items.into_iter().take(6).collect();
    assert_eq!(items.len(), 6);
    let queued_at = Utc::now() - chrono::TimeDelta::hours(25);
    let job = Store::open(&path)
        .unwrap()
        .create_job(JobKind::Resend, "test", &items, queued_at)
        .unwrap();
    // The first attempt at the first item reached the provider, its answer did
    // not come back; its key has since been forgotten.
    client
        .resend_recovery_email(
            &items[0].address,
            &pecdesk::provider::client::new_idempotency_key(),
        )
        .await
        .unwrap();
    let mut already_sent = Vec::new();
    for item in &items {
        let mailbox = client.get_mailbox(&item.address).await.unwrap();
        if mailbox.link_sent_at.is_some_and(|at| at >= queued_at) {
            already_sent.push(item.address.clone());
        }
    }
    assert!(already_sent.contains(&items[0].address));
    assert!(already_sent.len() < items.len(), "some are still to send");
    let before = stats(&sim).await;

    let (_control, rx) = tokio::sync::watch::channel(Control::Run);
    let counts = queue::run_job(&path, &client, job, "test", 4, rx, |_| {})
        .await
        .unwrap();
    assert_eq!((counts.done, counts.failed, counts.pending), (6, 0, 0));
    let after = stats(&sim).await;
    let store = Store::open(&path).unwrap();
    for item in &items {
        let sent = resend_changes(&after, &item.address) - resend_changes(&before, &item.address);
        let skipped = already_sent.contains(&item.address);
        assert_eq!(sent, u64::from(!skipped), "{}", item.address);
        let timeline = store.timeline(None, Some(&item.address)).unwrap();
        assert_eq!(
            timeline.iter().any(|e| e.detail.contains("già inviata")),
            skipped,
            "{}",
            item.address
        );
    }
    sim.shutdown().await;
}
