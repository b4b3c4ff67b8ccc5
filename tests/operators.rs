//! Two staff on the Ordine's server, one store: two real pecdesk processes at
//! once. One runs a bulk `resend --yes` while the other imports a new roster
//! and syncs. Neither sees "database is locked", no update is lost, and the
//! event log holds every event of both, each under its operator.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::import::{CsvStyle, roster_csv};
use pecdesk::provider::sim::{self, Faults, SimConfig};
use pecdesk::provider::{ClientConfig, ProviderClient};
use pecdesk::store::{EventKind, Outcome, Store};

const TOKEN: &str = "operators-test-token";

/// A roster CSV as an Ordine's software exports it (`;`, CRLF, dd/mm/yyyy).
fn write_roster(path: &Path, members: &[Member]) {
    std::fs::write(path, roster_csv(members, CsvStyle::EXCEL_IT)).unwrap();
}

/// One staff member's pecdesk: same store, own operator name, a private
/// HOME so no user config or data directory is touched.
fn pecdesk(home: &Path, db: &Path, config: &Path, url: &str, operator: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pecdesk"));
    command
        .arg("--db")
        .arg(db)
        .arg("--config")
        .arg(config)
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env("PECDESK_PROVIDER_URL", url)
        .env("PECDESK_PROVIDER_TOKEN", TOKEN)
        .env("PECDESK_OPERATOR", operator)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn private_config(dir: &Path) -> PathBuf {
    let config = dir.join("config.toml");
    std::fs::write(&config, "max_in_flight = 8\nmax_per_second = 0\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    config
}

fn assert_clean(what: &str, output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for text in [&stderr, &stdout] {
        let lower = text.to_lowercase();
        assert!(
            !lower.contains("locked") && !lower.contains("busy"),
            "{what} met a locked store:\n{stderr}\n{stdout}"
        );
    }
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what} failed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
}

fn wait_output(child: Child) -> Output {
    child.wait_with_output().unwrap()
}

/// Bruno's nightly sync asks only for what changed since the last one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_resend_and_import_with_sync_at_once() {
    two_operators(&["sync"]).await;
}

/// The same with the complete sync that runs once a day (`sync --full`): its
/// listing is fetched before some of Anna's resends reach the provider and
/// stored after they reach the store. It must not put back, for those
/// mailboxes, the state from before the resend (before the fix it did, for 3
/// to 11 of ~570 mailboxes per run here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_resend_and_import_with_a_complete_sync_at_once() {
    two_operators(&["sync", "--full"]).await;
}

async fn two_operators(sync: &[&str]) {
    // reqwest is built without a default crypto provider (see Cargo.toml).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let db = home.join("ordine.db");
    let config = private_config(home);
    let everyone = pecdesk::sample::generate_roster(800, 808, DEFAULT_PEC_DOMAIN);
    // Answers slow enough that the bulk resend is still running when the
    // other operator's import and sync are over.
    let mut sim_config = SimConfig::new(TOKEN);
    sim_config.faults = Faults {
        latency: Duration::from_millis(30),
        ..Faults::default()
    };
    let sim = sim::start(&everyone, sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = sim.base_url();

    // The store as yesterday left it: 700 members and a first sync.
    let first = home.join("albo-ieri.csv");
    write_roster(&first, &everyone[..700]);
    let output = pecdesk(home, &db, &config, &url, "setup")
        .arg("import")
        .arg(&first)
        .output()
        .unwrap();
    assert_clean("the first import", &output);
    let output = pecdesk(home, &db, &config, &url, "setup")
        .arg("sync")
        .output()
        .unwrap();
    assert_clean("the first sync", &output);
    let events_before = Store::open(&db).unwrap().event_count().unwrap();

    // Today's roster: 50 members changed their mobile, 100 joined.
    let mut today: Vec<Member> = everyone.clone();
    let mut changed = 0;
    for (i, m) in today.iter_mut().enumerate().take(700) {
        if i % 14 == 0 {
            m.cellulare = Some(format!("+39347{:07}", 1_000_000 + i));
            changed += 1;
        }
    }
    assert_eq!(changed, 50);
    let second = home.join("albo-oggi.csv");
    write_roster(&second, &today);

    // Anna starts the bulk resend.
    let anna = pecdesk(home, &db, &config, &url, "anna")
        .args(["resend", "--yes", "--json"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    let job_id = loop {
        let running = Store::open(&db)
            .ok()
            .and_then(|s| s.unfinished_jobs().ok())
            .and_then(|jobs| jobs.first().map(|j| (j.id, j.counts)));
        if let Some((id, counts)) = running
            && counts.done >= 20
        {
            break id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the resend never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };

    // Meanwhile Bruno imports today's roster, then syncs.
    let output = pecdesk(home, &db, &config, &url, "bruno")
        .arg("import")
        .arg(&second)
        .output()
        .unwrap();
    assert_clean("bruno's import", &output);
    let output = pecdesk(home, &db, &config, &url, "bruno")
        .args(sync)
        .output()
        .unwrap();
    assert_clean("bruno's sync", &output);
    // Proof that the two really overlapped: anna's job is still going.
    let counts = Store::open(&db).unwrap().job_counts(job_id).unwrap();
    assert!(
        counts.pending > 0,
        "the resend ended before bruno was done ({counts:?}): no overlap"
    );

    let output = wait_output(anna);
    assert_clean("anna's resend", &output);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let total = report["total"].as_u64().unwrap() as usize;
    assert!(total > 300, "{report}");
    assert_eq!(report["done"].as_u64().unwrap() as usize, total, "{report}");

    let store = Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let events = store.events_since(None).unwrap();

    // The log has no gap and holds everything: per operator and kind.
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids, (1..=events.len() as i64).collect::<Vec<_>>());
    let mut per: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for e in &events {
        *per.entry((e.operator.as_str(), e.kind.code())).or_default() += 1;
    }
    let count = |operator: &str, kind: EventKind| {
        per.get(&(operator, kind.code()))
            .copied()
            .unwrap_or_default()
    };
    // Setup: 700 members and the import's summary, one sync run.
    assert_eq!(count("setup", EventKind::Imported), 701, "{per:?}");
    assert_eq!(count("setup", EventKind::Sync), 1, "{per:?}");
    // Anna: one action per mailbox of the job, each with its outcome.
    assert_eq!(count("anna", EventKind::Action), total, "{per:?}");
    let mut anna_per_mailbox: HashMap<&str, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.operator == "anna") {
        assert_eq!(e.kind, EventKind::Action, "{e:?}");
        assert_eq!(e.outcome, Some(Outcome::Ok), "{e:?}");
        *anna_per_mailbox
            .entry(e.mailbox.as_deref().unwrap())
            .or_default() += 1;
    }
    assert_eq!(anna_per_mailbox.len(), total);
    assert!(anna_per_mailbox.values().all(|&n| n == 1));
    // Bruno: 100 new members and the summary, 50 updates, one sync run.
    assert_eq!(count("bruno", EventKind::Imported), 101, "{per:?}");
    assert_eq!(count("bruno", EventKind::RosterUpdated), 50, "{per:?}");
    assert_eq!(count("bruno", EventKind::Sync), 1, "{per:?}");
    let bruno_other = events
        .iter()
        .filter(|e| e.operator == "bruno")
        .filter(|e| {
            !matches!(
                e.kind,
                EventKind::Imported
                    | EventKind::RosterUpdated
                    | EventKind::Sync
                    | EventKind::StateChanged
            )
        })
        .count();
    assert_eq!(bruno_other, 0, "{per:?}");
    let nobody_else = events
        .iter()
        .filter(|e| !["setup", "anna", "bruno"].contains(&e.operator.as_str()))
        .count();
    assert_eq!(nobody_else, 0, "{per:?}");
    assert_eq!(
        events.len() as i64,
        events_before
            + (total
                + count("bruno", EventKind::Imported)
                + count("bruno", EventKind::RosterUpdated)
                + count("bruno", EventKind::Sync)
                + count("bruno", EventKind::StateChanged)) as i64
    );

    // No update lost: the roster is today's, with every change.
    let stored: HashMap<String, Member> = store
        .all_members()
        .unwrap()
        .into_iter()
        .map(|(_, m, in_roster)| {
            assert!(in_roster, "{}", m.codice_fiscale);
            (m.codice_fiscale.clone(), m)
        })
        .collect();
    assert_eq!(stored.len(), today.len());
    for m in &today {
        assert_eq!(
            stored[&m.codice_fiscale].cellulare, m.cellulare,
            "{}",
            m.codice_fiscale
        );
    }
    // ... every item of the job is done, once ...
    let job = store.job(job_id).unwrap().unwrap();
    assert_eq!(job.counts.done, total);
    assert_eq!(job.counts.pending + job.counts.failed, 0);
    let stats: serde_json::Value = reqwest::get(format!("{url}/sim/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for address in anna_per_mailbox.keys() {
        assert_eq!(
            stats["mailboxes"][address]["resendRecoveryEmail"]["state_changes"].as_u64(),
            Some(1),
            "{address}"
        );
    }
    // ... and the store shows each link as the provider has it: a sync that
    // ran during the resend did not put back the state from before it.
    let client = ProviderClient::new(ClientConfig::new(url.clone(), TOKEN)).unwrap();
    let at_provider: HashMap<String, _> = client
        .list_all_mailboxes()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.address.clone(), m))
        .collect();
    let in_store: HashMap<String, _> = store
        .mailbox_states()
        .unwrap()
        .into_iter()
        .map(|m| (m.address.clone(), m))
        .collect();
    let mut stale = Vec::new();
    for address in anna_per_mailbox.keys() {
        let (ours, theirs) = (&in_store[*address], &at_provider[*address]);
        if (ours.password, ours.link_sent_at, ours.link_expires_at)
            != (theirs.password, theirs.link_sent_at, theirs.link_expires_at)
        {
            stale.push(format!(
                "{address}: store {:?} {:?}, provider {:?} {:?}",
                ours.password, ours.link_sent_at, theirs.password, theirs.link_sent_at
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "{} resends lost in the store, e.g.\n{}",
        stale.len(),
        stale.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
    sim.shutdown().await;
}

/// Anna's bulk resend is running when Bruno, seeing it among the unfinished
/// jobs, runs `queue resume --yes`. He must not run it too: the provider
/// would replay (same keys), but each item would be recorded twice (before
/// the fix, with a lock per command, every item was).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_does_not_run_a_job_another_process_is_running() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let db = home.join("ordine.db");
    let config = private_config(home);
    let everyone = pecdesk::sample::generate_roster(300, 909, DEFAULT_PEC_DOMAIN);
    let mut sim_config = SimConfig::new(TOKEN);
    sim_config.faults = Faults {
        latency: Duration::from_millis(20),
        ..Faults::default()
    };
    let sim = sim::start(&everyone, sim_config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = sim.base_url();
    let roster = home.join("albo.csv");
    write_roster(&roster, &everyone);
    for args in [vec!["import", roster.to_str().unwrap()], vec!["sync"]] {
        let output = pecdesk(home, &db, &config, &url, "setup")
            .args(&args)
            .output()
            .unwrap();
        assert_clean("setup", &output);
    }
    let anna = pecdesk(home, &db, &config, &url, "anna")
        .args(["resend", "--yes"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while Store::open(&db)
        .ok()
        .and_then(|s| s.unfinished_jobs().ok())
        .and_then(|jobs| jobs.first().map(|j| j.counts.done))
        .unwrap_or(0)
        < 10
    {
        assert!(started.elapsed() < Duration::from_secs(30));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let bruno = pecdesk(home, &db, &config, &url, "bruno")
        .args(["queue", "resume", "--yes"])
        .output()
        .unwrap();
    let anna = wait_output(anna);
    assert_clean("anna's resend", &anna);
    // Bruno may be told the job is running elsewhere (exit 2), or find
    // nothing to resume; he must not run it a second time.
    let store = Store::open(&db).unwrap();
    let mut per_mailbox: HashMap<String, usize> = HashMap::new();
    for e in store.events_since(None).unwrap() {
        if e.kind == EventKind::Action {
            *per_mailbox.entry(e.mailbox.unwrap()).or_default() += 1;
        }
    }
    let twice: Vec<_> = per_mailbox.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} mailboxes recorded twice (bruno: {:?}), e.g. {:?}",
        twice.len(),
        bruno.status.code(),
        twice.first()
    );
    sim.shutdown().await;
}
