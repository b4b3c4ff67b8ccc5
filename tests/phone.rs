//! A member on the phone, headless: `pecdesk who` against known data, and the
//! per-job lock that keeps two syncs (or two imports) of one store apart.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::provider::sim::{self, Faults, SimConfig, SimHandle};
use pecdesk::provider::{ClientConfig, ProviderClient};
use pecdesk::store::{IncomingRoster, Store};
use serde_json::Value;

const TOKEN: &str = "phone-test-token";

/// The caller: Marisa Rossi, among 120 members and a few namesakes.
fn roster() -> Vec<Member> {
    let mut members = pecdesk::sample::generate_roster(120, 33, DEFAULT_PEC_DOMAIN);
    let m = &mut members[57];
    m.cognome = "Rossi".into();
    m.nome = "Marisa".into();
    m.codice_fiscale = "RSSMRS80A41H501X".into();
    m.numero_iscrizione = "4711".into();
    m.pec = "marisa.rossi@pec.fofi.it".into();
    m.email_servizio = Some("marisa@inwind.it".into());
    m.cellulare = Some("+393471234567".into());
    for other in members.iter_mut().take(6) {
        other.cognome = "Rossi".into();
    }
    members
}

struct Setup {
    dir: tempfile::TempDir,
    store: PathBuf,
    sim: SimHandle,
}

async fn setup(faults: Faults, sync_first: bool) -> Setup {
    let members = roster();
    let mut config = SimConfig::new(TOKEN);
    config.faults = faults;
    let sim = sim::start(&members, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("p.db");
    Store::open(&store)
        .unwrap()
        .upsert_members(&IncomingRoster::full(&members), "test", "test", Utc::now())
        .unwrap();
    if sync_first {
        let client = ProviderClient::new(ClientConfig::new(sim.base_url(), TOKEN)).unwrap();
        pecdesk::sync::run(&store, &client, "test").await.unwrap();
    }
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "cutover = 2099-01-31\nmax_per_second = 0\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    Setup { dir, store, sim }
}

fn command(s: &Setup, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pecdesk"));
    command
        .arg("--db")
        .arg(&s.store)
        .arg("--config")
        .arg(s.dir.path().join("config.toml"))
        .args(args)
        .env("PECDESK_PROVIDER_URL", s.sim.base_url())
        .env("PECDESK_PROVIDER_TOKEN", TOKEN)
        .env("PECDESK_OPERATOR", "centralino")
        .env("HOME", s.dir.path());
    command
}

fn pecdesk(s: &Setup, args: &[&str]) -> Output {
    command(s, args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_finds_the_caller_from_what_they_say() {
    let s = setup(Faults::default(), true).await;
    let stored = Store::open(&s.store).unwrap().roster_entries().unwrap();
    let caller = stored
        .iter()
        .find(|e| e.address() == "marisa.rossi@pec.fofi.it")
        .unwrap();
    let mailbox = caller
        .mailbox
        .as_ref()
        .expect("the simulator has her mailbox");
    // What the diagnosis must say for her stored state, before the passage.
    let expected = pecdesk::domain::diagnosis::diagnose(&pecdesk::domain::diagnosis::Facts {
        member: caller.member.as_ref(),
        in_roster: true,
        mailbox: Some(mailbox),
        pec_domain: DEFAULT_PEC_DOMAIN,
        cutover: chrono::NaiveDate::from_ymd_opt(2099, 1, 31),
        now: Utc::now(),
        last_reminder: None,
    })
    .render(pecdesk::i18n::Lang::It);

    for spoken in [
        "347 123 4567",
        "3471234567",
        "+39 347 1234567",
        "0039 347 123 4567",
        "marisa@inwind.it",
        "RSSMRS80A41",
        "4711",
    ] {
        let out = pecdesk(&s, &["who", spoken, "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{spoken}: {}",
            text(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["query"], spoken);
        let first = &report["members"][0];
        assert_eq!(first["cognome"], "Rossi", "{spoken}: {report}");
        assert_eq!(first["nome"], "Marisa");
        assert_eq!(first["codice_fiscale"], "RSSMRS80A41H501X");
        assert_eq!(first["cellulare"], "+393471234567");
        assert_eq!(first["email_servizio"], "marisa@inwind.it");
        assert_eq!(first["pec"], "marisa.rossi@pec.fofi.it");
        assert_eq!(first["migration"], mailbox.migration.code());
        assert_eq!(
            first["must_change_password"],
            Value::Null,
            "inside the diagnosis"
        );
        assert_eq!(first["diagnosis"]["case"], expected.case);
        assert_eq!(first["diagnosis"]["situation"], expected.situation.as_str());
        assert_eq!(
            first["diagnosis"]["steps"].as_array().unwrap().len(),
            expected.steps.len()
        );
        assert_eq!(first["diagnosis"]["must_change_password"], false);
        assert!(
            first["diagnosis"]["staff"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["action"] == "reset_password" && a["act"] == false),
            "before the passage: no reset"
        );
        if spoken.chars().any(|c| c.is_ascii_digit()) && !spoken.contains('@') {
            assert_eq!(report["total"], 1, "{spoken}: one member has that number");
        }
    }

    // A surname alone: at most five shown, the total said.
    let out = pecdesk(&s, &["who", "rossi", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["total"].as_u64().unwrap() >= 7, "{report}");
    assert_eq!(report["members"].as_array().unwrap().len(), 5);

    // As text, for the colleague at the phone.
    let out = pecdesk(&s, &["who", "347", "123", "4567"]);
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("Rossi Marisa <marisa.rossi@pec.fofi.it>"),
        "{shown}"
    );
    assert!(shown.contains("Cosa fare: "), "{shown}");
    assert!(
        shown.contains("✗ [p] non reimpostare la password"),
        "{shown}"
    );
    let out = pecdesk(&s, &["--lang", "en", "who", "347", "123", "4567"]);
    assert!(text(&out.stdout).contains("What to do: "));

    // Nobody: exit 1, said on stderr.
    let out = pecdesk(&s, &["who", "zzzz qqqq", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("nessun iscritto trovato per \"zzzz qqqq\""));
    s.sim.shutdown().await;
}

/// Waits until another process holds `job`'s lock on the store.
fn wait_until_locked(store: &Path, job: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match pecdesk::lock::try_lock(store, job) {
            Err(pecdesk::lock::LockError::Busy(_)) => return,
            Ok(mine) => drop(mine),
            Err(e) => panic!("{e}"),
        }
        assert!(
            Instant::now() < deadline,
            "the first {job} never took its lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_overlapping_sync_exits_2() {
    // Slow answers keep the first sync running while the second starts.
    let faults = Faults {
        latency: Duration::from_millis(1500),
        ..Faults::default()
    };
    let s = setup(faults, false).await;
    let first = command(&s, &["sync"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_locked(&s.store, "sync");
    let second = pecdesk(&s, &["sync"]);
    assert_eq!(second.status.code(), Some(2), "{}", text(&second.stderr));
    let message = text(&second.stderr);
    assert!(
        message.contains("un'altra esecuzione di \"sync\" è in corso su questo archivio"),
        "{message}"
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    // Only the first one synced: one sync event.
    let syncs = |store: &Path| {
        Store::open(store)
            .unwrap()
            .events_since(None)
            .unwrap()
            .iter()
            .filter(|e| e.kind == pecdesk::store::EventKind::Sync)
            .count()
    };
    assert_eq!(syncs(&s.store), 1);
    // Once it is done, the next sync runs.
    assert_eq!(pecdesk(&s, &["sync"]).status.code(), Some(0));
    assert_eq!(syncs(&s.store), 2);
    s.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_while_another_runs_exits_2_and_changes_nothing() {
    let s = setup(Faults::default(), false).await;
    let csv = s.dir.path().join("albo.csv");
    std::fs::write(
        &csv,
        "Cognome;Nome;Codice Fiscale;PEC\r\nVerdi;Anna;VRDNNA80A41H501H;anna.verdi@pec.fofi.it\r\n",
    )
    .unwrap();
    let before = Store::open(&s.store).unwrap().event_count().unwrap();
    let held = pecdesk::lock::lock(&s.store, "import").unwrap();
    let out = pecdesk(&s, &["import", csv.to_str().unwrap(), "--partial"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("un'altra esecuzione di \"import\""));
    assert_eq!(
        Store::open(&s.store).unwrap().event_count().unwrap(),
        before
    );
    // A dry run writes nothing and needs no lock.
    let out = pecdesk(
        &s,
        &["import", csv.to_str().unwrap(), "--partial", "--dry-run"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    drop(held);
    let out = pecdesk(&s, &["import", csv.to_str().unwrap(), "--partial"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    s.sim.shutdown().await;
}

/// The contract's `must_change_password` reaches the store at sync, is logged
/// as a change, and the diagnosis (headless too) says what follows from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn must_change_password_is_synced_stored_and_diagnosed() {
    let members = roster();
    let mut config = SimConfig::new(TOKEN);
    config.cutover_at = Utc::now() - chrono::TimeDelta::days(3);
    let sim = sim::start(&members, config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("m.db");
    Store::open(&store)
        .unwrap()
        .upsert_members(&IncomingRoster::full(&members), "test", "test", Utc::now())
        .unwrap();
    let client = ProviderClient::new(ClientConfig::new(sim.base_url(), TOKEN)).unwrap();
    pecdesk::sync::run(&store, &client, "test").await.unwrap();
    let address = "marisa.rossi@pec.fofi.it";
    let stored = |store: &Path| {
        Store::open(store)
            .unwrap()
            .mailbox_states()
            .unwrap()
            .into_iter()
            .find(|m| m.address == address)
            .unwrap()
    };
    assert!(!stored(&store).must_change_password);
    // Reset at the provider by someone else (another console, the adapter's own tool).
    let answer = client
        .reset_password(
            address,
            "Temp!Pass42",
            &pecdesk::provider::client::new_idempotency_key(),
        )
        .await
        .unwrap();
    assert!(answer.must_change_password);
    pecdesk::sync::run(&store, &client, "test").await.unwrap();
    assert!(stored(&store).must_change_password, "synced and stored");
    let events = Store::open(&store)
        .unwrap()
        .timeline(None, Some(address))
        .unwrap();
    assert!(
        events.iter().any(|e| e
            .detail
            .contains("cambio password richiesto al prossimo accesso")),
        "{events:?}"
    );
    // Headless, after the passage: the temporary password's case.
    let config_file = dir.path().join("config.toml");
    let cutover = (Utc::now() - chrono::TimeDelta::days(3)).date_naive();
    std::fs::write(&config_file, format!("cutover = {cutover}\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pecdesk"))
        .arg("--db")
        .arg(&store)
        .arg("--config")
        .arg(&config_file)
        .args(["who", "347 123 4567", "--json"])
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diagnosis = &report["members"][0]["diagnosis"];
    assert_eq!(diagnosis["case"], "after_temporary_password", "{report}");
    assert_eq!(diagnosis["must_change_password"], true);
    sim.shutdown().await;
}
