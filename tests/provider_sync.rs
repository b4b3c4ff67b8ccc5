//! Sync against the simulator: a first complete pass, then only changes
//! (`updated_since`), progress, mailboxes gone, tokens expiring and faults
//! along the way.

mod provider_support;

use std::sync::Mutex;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use pecdesk::domain::{MailboxState, PasswordState, RecoveryContacts};
use pecdesk::provider::api::operation;
use pecdesk::provider::client::{ClientConfig, ProviderClient, new_idempotency_key};
use pecdesk::provider::sim::Faults;
use pecdesk::store::{Store, SyncBatch};
use pecdesk::sync::{self, SyncMode, SyncProgress};
use provider_support::*;

fn store_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("sync.db")
}

fn list_requests(stats: &serde_json::Value) -> u64 {
    stats["operations"][operation::LIST_MAILBOXES]["requests"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn after_the_first_pass_only_changes_are_fetched() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut config = fast(ClientConfig::with_client_credentials(
        sim.base_url(),
        CLIENT_ID,
        CLIENT_SECRET,
    ));
    config.page_size = 40;
    let client = ProviderClient::new(config).unwrap();

    let seen: Mutex<Vec<SyncProgress>> = Mutex::default();
    let first = sync::run_with_progress(&path, &client, "test", |p| seen.lock().unwrap().push(p))
        .await
        .unwrap();
    assert!(!first.incremental);
    let total = first.mailboxes;
    assert!(total > 250, "{total}");
    let seen = seen.into_inner().unwrap();
    assert_eq!(
        seen[0],
        SyncProgress {
            fetched: 0,
            total: None
        }
    );
    assert_eq!(seen.len(), 1 + total.div_ceil(40));
    assert_eq!(
        seen.last(),
        Some(&SyncProgress {
            fetched: total,
            total: Some(total as u64)
        })
    );
    assert!(seen.windows(2).all(|w| w[0].fetched < w[1].fetched));
    let pages_first = list_requests(&stats(&sim).await);

    // Nothing changed: the next run asks for changes and gets none.
    let quiet = sync::run(&path, &client, "test").await.unwrap();
    assert!(quiet.incremental);
    assert_eq!((quiet.mailboxes, quiet.changes), (0, 0));
    assert_eq!(list_requests(&stats(&sim).await), pages_first + 1);

    // Two changes at the provider: a resend and a link used.
    let all = client.list_all_mailboxes().await.unwrap();
    let with_email = |confirmed: bool| {
        all.iter()
            .find(|m| m.recovery.email_masked.is_some() && m.recovery.confirmed == confirmed)
            .unwrap()
    };
    let (resent, used) = (with_email(true), with_email(false));
    for m in [resent, used] {
        client
            .resend_recovery_email(&m.address, &new_idempotency_key())
            .await
            .unwrap();
    }
    assert_eq!(
        use_link(&sim, &used.address, Some("Nuova!Pass7")).await.0,
        200
    );
    let changed = sync::run(&path, &client, "test").await.unwrap();
    assert!(changed.incremental);
    assert_eq!(changed.mailboxes, 2);
    assert!(changed.changes >= 2, "{changed:?}");
    let store = Store::open(&path).unwrap();
    let stored: Vec<MailboxState> = store.mailbox_states().unwrap();
    assert_eq!(
        stored.len(),
        total,
        "an incremental run keeps every mailbox"
    );
    let find = |address: &str| {
        stored
            .iter()
            .find(|m| m.address == address)
            .unwrap()
            .clone()
    };
    assert_eq!(find(&resent.address).password, PasswordState::ResetPending);
    assert_eq!(find(&used.address).password, PasswordState::Set);
    assert!(
        store
            .timeline(None, Some(&used.address))
            .unwrap()
            .iter()
            .any(|e| e.detail.contains("contatti di recupero confermati")),
        "the first access confirmed the recovery options"
    );
    drop(store);

    // A day of simulated time: every pending link expires, and the
    // incremental run sees each one (updated_at is the moment of expiry).
    advance_clock(&sim, 25 * 3600).await;
    let expired = sync::run(&path, &client, "test").await.unwrap();
    assert!(expired.incremental);
    let stored = Store::open(&path).unwrap().mailbox_states().unwrap();
    assert!(
        stored
            .iter()
            .all(|m| m.password != PasswordState::ResetPending)
    );
    let resent_now = stored.iter().find(|m| m.address == resent.address).unwrap();
    assert_eq!(resent_now.password, PasswordState::LinkExpired);
    assert_eq!(
        stored
            .iter()
            .filter(|m| m.password == PasswordState::LinkExpired)
            .count(),
        client
            .list_all_mailboxes()
            .await
            .unwrap()
            .iter()
            .filter(|m| m.password == PasswordState::LinkExpired)
            .count()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn only_a_complete_pass_finds_mailboxes_gone() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let client = oauth_client(&sim);
    let first = sync::run(&path, &client, "test").await.unwrap();
    assert_eq!(first.gone, 0);
    // A mailbox the provider does not have (deleted there since).
    let ghost = MailboxState {
        address: "fantasma@pec.fofi.it".into(),
        migration: pecdesk::domain::MigrationState::Completed,
        migration_at: None,
        password: PasswordState::Set,
        link_sent_at: None,
        link_expires_at: None,
        recovery: RecoveryContacts::default(),
        last_login_at: None,
        must_change_password: false,
        updated_at: Utc::now() - TimeDelta::days(9),
    };
    {
        let mut store = Store::open(&path).unwrap();
        let batch = SyncBatch {
            states: std::slice::from_ref(&ghost),
            complete: false,
            watermark: None,
        };
        store
            .apply_sync_batch(batch, "test", Utc::now(), Utc::now())
            .unwrap();
    }
    let has_ghost = || {
        Store::open(&path)
            .unwrap()
            .mailbox_states()
            .unwrap()
            .iter()
            .any(|m| m.address == ghost.address)
    };
    let incremental = sync::run(&path, &client, "test").await.unwrap();
    assert!(incremental.incremental);
    assert_eq!(incremental.gone, 0);
    assert!(has_ghost(), "an incremental run marks nothing as gone");

    let full = sync::run_with(&path, &client, "test", SyncMode::Full, |_| {})
        .await
        .unwrap();
    assert!(!full.incremental);
    assert_eq!(full.gone, 1);
    assert!(
        full.describe().contains("1 non più presso il gestore"),
        "{}",
        full.describe()
    );
    assert!(!has_ghost());
    let timeline = Store::open(&path)
        .unwrap()
        .timeline(None, Some(&ghost.address))
        .unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.detail == "casella non più presente presso il gestore")
    );
    // Auto after a complete run is incremental again.
    assert!(sync::run(&path, &client, "test").await.unwrap().incremental);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_complete_listing_removes_nothing() {
    // Mailboxes stored by a sync against one provider...
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let first = sync::run(&path, &oauth_client(&sim), "test").await.unwrap();
    assert!(first.mailboxes > 0);
    sim.shutdown().await;
    // ...then a complete pass against a provider that lists none.
    let empty = start_sim_with(&[], sim_config()).await;
    let result = sync::run_with(&path, &oauth_client(&empty), "test", SyncMode::Full, |_| {}).await;
    let error = result.expect_err("an empty listing is refused");
    assert!(error.to_string().contains("elenco vuoto"), "{error}");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.mailbox_count().unwrap(), first.mailboxes);
    let last = store.last_sync().unwrap().unwrap();
    assert!(!last.ok, "the refused run is recorded as failed");
    empty.shutdown().await;
}

#[tokio::test]
async fn a_token_that_expires_during_a_long_sync_is_renewed() {
    let mut config = sim_config();
    config.token_ttl = Duration::from_secs(1);
    config.faults.latency = Duration::from_millis(70);
    let sim = start_sim_with(&roster(300), config).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = fast(ClientConfig::with_client_credentials(
        sim.base_url(),
        CLIENT_ID,
        CLIENT_SECRET,
    ));
    config.page_size = 15;
    let client = ProviderClient::new(config).unwrap();
    // About 20 pages of 70 ms each: the one-second token runs out midway.
    let outcome = sync::run(&store_path(&dir), &client, "test").await.unwrap();
    let stats = stats(&sim).await;
    assert!(outcome.mailboxes > 250);
    assert!(
        stats["operations"][operation::ISSUE_TOKEN]["requests"]
            .as_u64()
            .unwrap()
            >= 2,
        "{stats}"
    );
    // Renewed before expiry; a request already on its way with the old token
    // may still be refused once, and is then repeated with the new one.
    assert!(faults(&sim).await.unauthorized <= 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn thousands_of_mailboxes_under_faults_are_all_stored() {
    let mut config = sim_config();
    config.faults = Faults {
        latency: Duration::from_millis(2),
        fail_rate: 0.2,
        timeout_rate: 0.05,
        late_answer_delay: Duration::from_millis(400),
        rate_limit: None,
    };
    let members = roster(3000);
    let sim = start_sim_with(&members, config).await;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut config = fast(ClientConfig::with_client_credentials(
        sim.base_url(),
        CLIENT_ID,
        CLIENT_SECRET,
    ));
    config.request_timeout = Duration::from_millis(200);
    config.page_size = 100;
    config.max_attempts = 20;
    let client = ProviderClient::new(config).unwrap();
    let outcome = sync::run(&path, &client, "test").await.unwrap();
    let expected: u64 = stats(&sim).await["mailbox_states"]["migration"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(outcome.mailboxes as u64, expected);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.mailbox_states().unwrap().len() as u64, expected);
    assert!(store.last_sync().unwrap().unwrap().ok);
    let faults = faults(&sim).await;
    assert!(faults.failed_before + faults.failed_after > 0, "{faults:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failed_sync_is_recorded_without_a_watermark() {
    let sim = start_sim().await;
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let wrong = ProviderClient::new(fast(ClientConfig::with_client_credentials(
        sim.base_url(),
        CLIENT_ID,
        "sbagliato",
    )))
    .unwrap();
    let error = sync::run(&path, &wrong, "test").await.unwrap_err();
    assert!(error.to_string().contains("client_id"), "{error}");
    let store = Store::open(&path).unwrap();
    assert!(!store.last_sync().unwrap().unwrap().ok);
    assert_eq!(store.sync_checkpoint().unwrap(), None);
    drop(store);
    // The next run is still a complete one.
    let first = sync::run(&path, &oauth_client(&sim), "test").await.unwrap();
    assert!(!first.incremental);
    sim.shutdown().await;
}
