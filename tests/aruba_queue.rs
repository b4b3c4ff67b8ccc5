//! The contact fix at Aruba through the queue, from the command line: a bulk
//! fix of 500+ owners killed with SIGKILL midway and resumed changes each
//! owner exactly once, to the roster's values; after the passage nothing is
//! changed; the password and the tokens never reach the logs or the output.

mod aruba_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aruba_support::*;
use chrono::Utc;
use pecdesk::domain::Member;
use pecdesk::domain::aruba::normalize_aruba_mobile;
use pecdesk::provider::sim::Faults;
use pecdesk::store::{IncomingRoster, JobKind, Store};

struct Setup {
    dir: tempfile::TempDir,
    store: PathBuf,
    config: PathBuf,
}

/// A store with the roster and Aruba's side synced, and a config file
/// (owner-only) pointing at the simulator.
async fn setup(members: &[Member], base_url: &str, extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("ordine.db");
    Store::open(&store)
        .unwrap()
        .upsert_members(&IncomingRoster::full(members), "test", "test", Utc::now())
        .unwrap();
    pecdesk::aruba::sync(&store, &client(base_url), DOMAIN, "test", |_| {})
        .await
        .unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "pec_domain = \"{DOMAIN}\"\nmax_in_flight = 8\nmax_per_second = 0\n{extra}\n[aruba]\nurl = \"{base_url}\"\nusername = \"{USER}\"\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    Setup { dir, store, config }
}

fn pecdesk(setup: &Setup, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pecdesk"));
    command
        .arg("--db")
        .arg(&setup.store)
        .arg("--config")
        .arg(&setup.config)
        .args(["--log-level", "trace"])
        .args(args)
        .env("PECDESK_ARUBA_PASSWORD", PASSWORD)
        .env("PECDESK_OPERATOR", "segreteria")
        .env("HOME", setup.dir.path())
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("PECDESK_PROVIDER_URL")
        .stdin(Stdio::null());
    command
}

fn log_text(setup: &Setup) -> String {
    let mut text = String::new();
    for entry in walk(setup.dir.path()) {
        if entry.extension().is_some_and(|e| e == "log") {
            text.push_str(&std::fs::read_to_string(&entry).unwrap_or_default());
        }
    }
    text
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// No password, no JWT (they all start with the base64 of `{"`), anywhere.
fn assert_no_secrets(what: &str, text: &str) {
    assert!(!text.contains(PASSWORD), "{what} shows the password");
    assert!(!text.contains("eyJ"), "{what} shows a token");
}

fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_fix_killed_midway_and_resumed_changes_each_owner_once_and_rightly() {
    let members = roster(3100, 11);
    let mut config = sim_config();
    config.faults = Faults {
        fail_rate: 0.1,
        latency: Duration::from_millis(25),
        ..Faults::default()
    };
    let aruba = start_sim(&members, config).await;
    let setup = setup(&members, &aruba.base_url(), "").await;

    // What the fix will touch, from the store's own view.
    let entries = Store::open(&setup.store).unwrap().roster_entries().unwrap();
    let targets: Vec<(String, Member)> = entries
        .iter()
        .filter(|e| pecdesk::aruba::fix_item(e).is_ok())
        .map(|e| (e.address().to_string(), e.member.clone().unwrap()))
        .collect();
    assert!(targets.len() >= 500, "{} owners to fix", targets.len());

    let mut child = pecdesk(&setup, &["aruba", "fix-contacts", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let done = Store::open(&setup.store)
            .ok()
            .and_then(|s| s.unfinished_jobs().ok())
            .and_then(|jobs| jobs.first().map(|j| j.counts.done))
            .unwrap_or(0);
        if done >= 120 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the job never progressed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let jobs = Store::open(&setup.store)
        .unwrap()
        .unfinished_jobs()
        .unwrap();
    assert_eq!(jobs.len(), 1, "the killed job waits to be resumed");
    assert_eq!(jobs[0].kind, JobKind::ArubaContacts);
    assert!(jobs[0].counts.pending > 0);

    let output = pecdesk(&setup, &["queue", "resume", "--yes"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", output_text(&output));
    assert_no_secrets("queue resume's output", &output_text(&output));
    let store = Store::open(&setup.store).unwrap();
    assert!(store.unfinished_jobs().unwrap().is_empty());
    let job = store.job(jobs[0].id).unwrap().unwrap();
    assert_eq!(job.counts.done, targets.len());

    // Exactly one change per owner at the simulator, and none elsewhere.
    let stats = stats(&aruba.base_url()).await;
    for (address, _) in &targets {
        assert_eq!(
            stats["mailboxes"][address]["ownerUpdate"]["state_changes"].as_u64(),
            Some(1),
            "{address} changed twice or never"
        );
    }
    assert_eq!(
        stats["operations"]["ownerUpdate"]["state_changes"].as_u64(),
        Some(targets.len() as u64)
    );
    // To the roster's values: a fresh listing says so.
    let check = tempfile::tempdir().unwrap();
    let path = check.path().join("check.db");
    pecdesk::aruba::sync(&path, &client(&aruba.base_url()), DOMAIN, "test", |_| {})
        .await
        .unwrap();
    let after = Store::open(&path).unwrap();
    for (address, member) in &targets {
        let now = after.aruba_mailbox(address).unwrap().unwrap();
        if let Some(email) = &member.email_servizio {
            assert_eq!(now.contact_email.as_ref(), Some(email), "{address}");
        }
        if let (Some(mobile), Some(_)) = (&member.cellulare, &now.contact_email) {
            assert_eq!(
                now.contact_mobile
                    .as_deref()
                    .map(normalize_aruba_mobile)
                    .as_ref(),
                Some(mobile),
                "{address}"
            );
        }
    }
    // Changes whose answer was lost (a fault, or the kill) were found by reading again.
    let reread = targets
        .iter()
        .filter(|(a, _)| {
            store.timeline(None, Some(a)).unwrap().iter().any(|e| {
                e.detail.contains("già uguali") || e.detail.contains("verificato rileggendo")
            })
        })
        .count();
    println!(
        "{} owners fixed, {reread} found already changed on a second read",
        targets.len()
    );
    assert!(reread > 0, "the faults lost some answers");
    // Each item is in the audit trail under the operator, contacts masked.
    let (address, member) = &targets[0];
    let timeline = store.timeline(None, Some(address)).unwrap();
    let action = timeline
        .iter()
        .find(|e| e.detail.contains("presso Aruba"))
        .expect("an audit event");
    assert_eq!(action.operator, "segreteria");
    if let Some(email) = &member.email_servizio {
        assert!(!action.detail.contains(email.as_str()), "{}", action.detail);
    }
    assert_no_secrets("the log", &log_text(&setup));
    aruba.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_from_the_command_line_and_nothing_changes_at_aruba_after_the_passage() {
    let members = roster(300, 12);
    let aruba = start_sim(&members, sim_config()).await;
    // A passage long gone; few attempts, so that an unreachable Aruba is told quickly.
    let setup = setup(
        &members,
        &aruba.base_url(),
        "cutover = 2020-01-31\nmax_attempts = 2\nrequest_timeout_secs = 2",
    )
    .await;
    let output = pecdesk(&setup, &["sync", "--aruba"]).output().unwrap();
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("caselle presso Aruba"), "{text}");
    assert!(text.contains("storico"), "{text}");
    assert_no_secrets("sync's output", &text);

    let output = pecdesk(&setup, &["aruba", "fix-contacts", "--yes"])
        .output()
        .unwrap();
    let text = output_text(&output);
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("storici"), "{text}");
    let stats = stats(&aruba.base_url()).await;
    assert!(stats["operations"]["ownerUpdate"].is_null(), "{stats}");
    // Aruba unreachable: exit code 3, as for the provider.
    aruba.shutdown().await;
    let output = pecdesk(&setup, &["sync", "--aruba"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", output_text(&output));
    assert_no_secrets("the log", &log_text(&setup));
    let log = log_text(&setup);
    assert!(
        log.contains("login presso Aruba"),
        "the log was written: {log}"
    );
}
