//! The working console end to end: the bundled roster imported into a real
//! store, a first sync from the simulator over loopback HTTP, then the console
//! loop driven by keystrokes on a TestBackend to resend one recovery e-mail.

use std::io;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use futures::StreamExt;
use pecdesk::app::{Settings, State};
use pecdesk::cli::{SAMPLE_ROSTER, SAMPLE_ROSTER_NAME};
use pecdesk::i18n::Lang;
use pecdesk::provider::sim::{self, SimConfig, SimHandle};
use pecdesk::provider::{ClientConfig, ProviderClient};
use pecdesk::services::Services;
use pecdesk::store::{EventKind, Outcome, Store};
use pecdesk::tui::{Keymap, Theme, Ui, run_loop};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::Value;

const TOKEN: &str = "test-token-not-secret";

struct Fixture {
    _dir: tempfile::TempDir,
    store_path: std::path::PathBuf,
    sim: SimHandle,
    client: ProviderClient,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("console.db");
    let parsed = pecdesk::import::parse_csv(SAMPLE_ROSTER, SAMPLE_ROSTER_NAME).unwrap();
    let members = parsed.members.clone();
    let mut store = Store::open(&store_path).unwrap();
    let summary = pecdesk::import::store_roster(&mut store, parsed, "test", Utc::now()).unwrap();
    assert_eq!(summary.stored.new, members.len());
    let sim = sim::start(
        &members,
        SimConfig::new(TOKEN),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let client = ProviderClient::new(ClientConfig::new(sim.base_url(), TOKEN)).unwrap();
    Fixture {
        _dir: dir,
        store_path,
        sim,
        client,
    }
}

async fn stats(sim: &SimHandle) -> Value {
    reqwest::get(format!("{}/sim/stats", sim.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn sync_stores_a_state_for_every_mailbox() {
    let f = fixture().await;
    let outcome = pecdesk::sync::run(&f.store_path, &f.client, "test")
        .await
        .unwrap();
    let total: u64 = stats(&f.sim).await["mailbox_states"]["migration"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let store = Store::open(&f.store_path).unwrap();
    assert_eq!(store.mailbox_states().unwrap().len() as u64, total);
    assert_eq!(outcome.mailboxes as u64, total);
    assert!(store.last_sync().unwrap().unwrap().ok);
    // A second sync with nothing changed at the provider records no change.
    let again = pecdesk::sync::run(&f.store_path, &f.client, "test")
        .await
        .unwrap();
    assert_eq!(again.changes, 0);
}

#[tokio::test]
async fn a_failed_sync_is_recorded() {
    let f = fixture().await;
    let wrong = ProviderClient::new(ClientConfig::new(f.sim.base_url(), "wrong")).unwrap();
    assert!(
        pecdesk::sync::run(&f.store_path, &wrong, "test")
            .await
            .is_err()
    );
    let last = Store::open(&f.store_path)
        .unwrap()
        .last_sync()
        .unwrap()
        .unwrap();
    assert!(!last.ok);
    assert!(!last.error.unwrap().contains("wrong"));
}

fn key(code: KeyCode) -> io::Result<Event> {
    Ok(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

/// Polls `check` every 20 ms for at most 10 s.
async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn the_console_resends_a_recovery_email_once_and_logs_it() {
    let f = fixture().await;
    let services = Services::new(
        f.store_path.clone(),
        Some(f.client.clone()),
        "segreteria".into(),
    );
    let store_path = f.store_path.clone();
    let base_url = f.sim.base_url();
    // The script waits for the console's first sync, searches for a member whose
    // mailbox has a recovery e-mail, opens the detail, resends, confirms, waits
    // for the provider and the audit trail, and quits.
    let script = async_stream(move |tx| async move {
        // The member is found by codice fiscale: unique, so the best match.
        let (target, codice_fiscale) = {
            let mut found = None;
            for _ in 0..500 {
                let store = Store::open(&store_path).unwrap();
                found = store
                    .mailbox_states()
                    .unwrap()
                    .into_iter()
                    .filter(|m| m.can_receive_recovery_email())
                    .find_map(|m| {
                        let id = store.member_id_for_mailbox(&m.address).unwrap()?;
                        let (_, member, _) = store
                            .all_members()
                            .unwrap()
                            .into_iter()
                            .find(|(i, _, _)| *i == id)?;
                        Some((m.address, member.codice_fiscale))
                    });
                if found.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            found.expect("the first sync stored mailboxes")
        };
        // The console reloads its view after the sync is recorded; give it that
        // reload before typing, or the search runs on the roster without
        // mailboxes (the keys would then meet "no mailbox").
        for _ in 0..500 {
            if Store::open(&store_path)
                .unwrap()
                .last_sync()
                .unwrap()
                .is_some()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut keys = vec![key(KeyCode::Char('/'))];
        keys.extend(codice_fiscale.chars().map(|c| key(KeyCode::Char(c))));
        keys.extend([
            key(KeyCode::Enter),
            key(KeyCode::Enter),
            key(KeyCode::Char('r')),
            key(KeyCode::Char('s')),
        ]);
        for k in keys {
            tx.send(k).unwrap();
        }
        let stats_url = format!("{base_url}/sim/stats");
        let address = target.clone();
        wait_for("the resend at the provider", || {
            let url = stats_url.clone();
            let address = address.clone();
            async move {
                let stats: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
                stats["mailboxes"][&address]["resendRecoveryEmail"]["state_changes"] == 1
            }
        })
        .await;
        wait_for("the audit event", || {
            let store_path = store_path.clone();
            let address = target.clone();
            async move {
                Store::open(&store_path)
                    .unwrap()
                    .timeline(None, Some(&address))
                    .unwrap()
                    .iter()
                    .any(|e| e.kind == EventKind::Action)
            }
        })
        .await;
        // Let the console reload the timeline it shows.
        tokio::time::sleep(Duration::from_millis(500)).await;
        tx.send(key(KeyCode::Char('q'))).unwrap();
    });
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let state = State::new(
        Settings {
            lang: Lang::It,
            pec_domain: "pec.fofi.it".into(),
            ordine: "Ordine di prova".into(),
            cutover: None,
        },
        Utc::now(),
    );
    let ui = Ui {
        theme: Theme { color: false },
        keymap: Keymap::default(),
    };
    let state = tokio::time::timeout(
        Duration::from_secs(30),
        run_loop(&mut terminal, state, &services, script, &ui, None),
    )
    .await
    .expect("the console finished")
    .unwrap();

    let (_, entry) = state.selected_entry().unwrap();
    let address = entry.address().to_string();
    let stats = stats(&f.sim).await;
    assert_eq!(stats["operations"]["resendRecoveryEmail"]["requests"], 1);
    assert_eq!(
        stats["mailboxes"][&address]["resendRecoveryEmail"]["state_changes"],
        1
    );
    let store = Store::open(&f.store_path).unwrap();
    let actions: Vec<_> = store
        .timeline(None, Some(&address))
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Action)
        .collect();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].operator, "segreteria");
    assert_eq!(actions[0].outcome, Some(Outcome::Ok));
    assert!(
        actions[0]
            .detail
            .starts_with("reinvio e-mail di recupero a *****")
    );
    // The console shows the result in the member's timeline.
    let screen = terminal.backend().to_string();
    assert!(screen.contains("reinvio e-mail di recupero"), "{screen}");
    assert!(!screen.contains(TOKEN));
    f.sim.shutdown().await;
}

/// A stream of terminal events fed by `script` through a channel.
fn async_stream<F, Fut>(script: F) -> impl futures::Stream<Item = io::Result<Event>> + Unpin
where
    F: FnOnce(tokio::sync::mpsc::UnboundedSender<io::Result<Event>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(script(tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) }).boxed()
}
