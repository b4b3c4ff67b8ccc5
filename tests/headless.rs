//! Headless commands as cron runs them: the built binary against the simulator.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::Utc;
use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::provider::sim::{self, Faults, SimConfig, SimHandle};
use pecdesk::provider::{ClientConfig, ProviderClient};
use pecdesk::store::{IncomingRoster, Store};
use serde_json::Value;

const TOKEN: &str = "headless-test-token";

struct Setup {
    dir: tempfile::TempDir,
    store: PathBuf,
    sim: SimHandle,
}

async fn setup(faults: Faults) -> Setup {
    let members: Vec<Member> = pecdesk::sample::generate_roster(120, 21, DEFAULT_PEC_DOMAIN);
    let mut config = SimConfig::new(TOKEN);
    config.faults = faults;
    let sim = sim::start(&members, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("h.db");
    Store::open(&store)
        .unwrap()
        .upsert_members(&IncomingRoster::full(&members), "test", "test", Utc::now())
        .unwrap();
    // The first sync with a patient client, so faults do not stop the setup.
    let mut patient = ClientConfig::new(sim.base_url(), TOKEN);
    patient.max_attempts = 20;
    patient.backoff_base = std::time::Duration::from_millis(1);
    pecdesk::sync::run(&store, &ProviderClient::new(patient).unwrap(), "test")
        .await
        .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "max_per_second = 0\nmax_attempts = 2\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    Setup { dir, store, sim }
}

fn pecdesk(s: &Setup, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pecdesk"))
        .arg("--db")
        .arg(&s.store)
        .arg("--config")
        .arg(s.dir.path().join("config.toml"))
        .args(args)
        .env("PECDESK_PROVIDER_URL", url)
        .env("PECDESK_PROVIDER_TOKEN", TOKEN)
        .env("PECDESK_OPERATOR", "cron")
        .env("HOME", s.dir.path())
        .output()
        .unwrap()
}

async fn resends(sim: &SimHandle) -> u64 {
    let stats: Value = reqwest::get(format!("{}/sim/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stats["operations"]["resendRecoveryEmail"]["requests"]
        .as_u64()
        .unwrap_or(0)
}

fn events(store: &Path) -> i64 {
    Store::open(store).unwrap().event_count().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_yes_or_with_dry_run_nothing_changes() {
    let s = setup(Faults::default()).await;
    let before = events(&s.store);
    for args in [
        &["resend", "--state", "not_migrated"][..],
        &["resend", "--state", "not_migrated", "--dry-run", "--yes"][..],
    ] {
        let out = pecdesk(&s, &s.sim.base_url(), args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("--yes"));
    }
    let json = pecdesk(
        &s,
        &s.sim.base_url(),
        &["resend", "--state", "link_expired", "--dry-run", "--json"],
    );
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["dry_run"], true);
    assert_eq!(resends(&s.sim).await, 0);
    assert_eq!(events(&s.store), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_0_1_2_3() {
    let ok = setup(Faults::default()).await;
    let out = pecdesk(
        &ok,
        &ok.sim.base_url(),
        &["resend", "--state", "not_migrated", "--yes", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["done"].as_u64().unwrap() > 0);
    assert_eq!(report["failed"], 0);
    // Usage: an unknown state.
    let out = pecdesk(&ok, &ok.sim.base_url(), &["resend", "--state", "boh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("boh"));
    // Unreachable: nothing listens on that port.
    let out = pecdesk(&ok, "http://127.0.0.1:9", &["sync"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Done with failures: the provider fails every request.
    let failing = setup(Faults::default()).await;
    let mut broken = SimConfig::new(TOKEN);
    broken.faults.fail_rate = 1.0;
    let members = pecdesk::sample::generate_roster(120, 21, DEFAULT_PEC_DOMAIN);
    let broken_sim = sim::start(&members, broken, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let out = pecdesk(
        &failing,
        &broken_sim.base_url(),
        &["resend", "--state", "not_migrated", "--yes"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_of_one_job_never_overlap() {
    let s = setup(Faults::default()).await;
    let _held = pecdesk::headless::lock(&s.store, "resend").unwrap();
    let out = pecdesk(
        &s,
        &s.sim.base_url(),
        &["resend", "--state", "not_migrated", "--yes"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in corso"));
    assert_eq!(resends(&s.sim).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_export_writes_every_event_escaped() {
    let s = setup(Faults::default()).await;
    pecdesk(
        &s,
        &s.sim.base_url(),
        &["resend", "--state", "not_migrated", "--yes"],
    );
    let out_file = s.dir.path().join("audit.csv");
    let out = pecdesk(
        &s,
        &s.sim.base_url(),
        &["audit", "export", "--out", out_file.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    let rows = text.lines().count() - 1;
    assert_eq!(rows as i64, events(&s.store));
    assert!(text.contains(";cron;action;"));
    assert!(!text.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_refused_while_the_queue_runs_leaves_no_job_behind() {
    let s = setup(Faults::default()).await;
    let _queue = pecdesk::lock::lock(&s.store, "queue").unwrap();
    let out = pecdesk(
        &s,
        &s.sim.base_url(),
        &["resend", "--state", "not_migrated", "--yes"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        Store::open(&s.store)
            .unwrap()
            .unfinished_jobs()
            .unwrap()
            .is_empty()
    );
    assert_eq!(resends(&s.sim).await, 0);
}
