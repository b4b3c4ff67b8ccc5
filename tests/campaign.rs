//! Reminder campaigns against a real SMTP server that pecdesk did not write
//! (aiosmtpd, started here on 127.0.0.1): one message per member with the
//! right recipient, subject and Message-ID; refusals; the pace; pause and
//! cancel; in-doubt messages settled by a PEC receipt; the outbox.

#[path = "support/smtp.rs"]
mod smtp;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use pecdesk::campaign::{
    self, CampaignEnv, CampaignError, CampaignRequest, LeftOutReason, Pace, Transport,
};
use pecdesk::domain::template::TemplateName;
use pecdesk::domain::{DEFAULT_PEC_DOMAIN, Member};
use pecdesk::mail::{Channel, ChannelFile, ChannelSettings};
use pecdesk::queue::Control;
use pecdesk::store::{IncomingRoster, JobStatus, NewReceipt, ReminderState, Store};
use smtp::{SmtpServer, header};
use tokio::sync::watch;

fn store_with(dir: &Path, n: usize) -> (PathBuf, Vec<Member>, Vec<i64>) {
    let members = pecdesk::sample::generate_roster(n, 13, DEFAULT_PEC_DOMAIN);
    let path = dir.join("campaign.db");
    let mut store = Store::open(&path).unwrap();
    store
        .upsert_members(&IncomingRoster::full(&members), "test", "test", Utc::now())
        .unwrap();
    let ids = store
        .roster_entries()
        .unwrap()
        .iter()
        .filter_map(|e| e.member_id)
        .collect();
    (path, members, ids)
}

/// A config file in `dir` for the Ordine of the tests, whose `[pec]` section
/// is `pec` (server and connections) plus the sender and no rate limit.
fn pec_config(dir: &Path, pec: &str) -> PathBuf {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "ordine = \"Ordine dei Farmacisti di Prova\"\ncutover = 2099-12-31\n\
             [pec]\n{pec}from = \"Ordine <ordine@pec.fofi.it>\"\nrate_per_minute = 0\n"
        ),
    )
    .unwrap();
    config
}

/// The `pecdesk` binary on a test's store and config, as cron runs it: the
/// account "cron", its own home, no XDG data directory, no input.
fn cron_pecdesk(db: &Path, config: &Path, home: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_pecdesk"));
    command
        .arg("--db")
        .arg(db)
        .arg("--config")
        .arg(config)
        .env("PECDESK_OPERATOR", "cron")
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .stdin(std::process::Stdio::null());
    command
}

fn settings(port: u16) -> ChannelSettings {
    let file: ChannelFile = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\nfrom = \"Ordine dei Farmacisti <ordine@pec.fofi.it>\"\nreply_to = \"segreteria@ordine.it\"\nrate_per_minute = 0\nconnections = 4\n"
    ))
    .unwrap();
    file.resolve(Channel::Pec, |_| None).unwrap()
}

fn pace(rate_per_minute: u32, connections: usize) -> Pace {
    Pace {
        rate_per_minute,
        daily_cap: 0,
        connections,
        retry_after: Duration::from_millis(200),
        tries_per_run: 3,
    }
}

fn env(pace: Pace) -> CampaignEnv {
    CampaignEnv {
        ordine: "Ordine dei Farmacisti della Provincia di Prova".into(),
        cutover: Some((Utc::now() + TimeDelta::days(30)).date_naive()),
        config_dir: None,
        from: "Ordine dei Farmacisti <ordine@pec.fofi.it>".into(),
        pace,
    }
}

fn request(template: TemplateName, members: &[i64]) -> CampaignRequest {
    CampaignRequest {
        template,
        channel: Channel::Pec,
        members: members.to_vec(),
        not_reminded_for: None,
    }
}

/// Prepares and writes a campaign of `migrazione` by PEC to `members`.
fn queued(path: &Path, members: &[i64], pace: Pace) -> i64 {
    let mut store = Store::open(path).unwrap();
    let preview = campaign::prepare(
        &store,
        &request(TemplateName::Migrazione, members),
        &env(pace),
        Utc::now(),
    )
    .unwrap();
    assert!(preview.left_out.is_empty(), "{:?}", preview.left_out);
    campaign::enqueue(&mut store, &preview, "anna", Utc::now()).unwrap()
}

async fn run(
    path: &Path,
    transport: &Transport,
    job_id: i64,
    pace: Pace,
) -> campaign::CampaignOutcome {
    let (_control, rx) = watch::channel(Control::Run);
    campaign::run_campaign(path, transport, job_id, "anna", pace, rx, |_| {})
        .await
        .unwrap()
}

fn by_message_id(server: &SmtpServer) -> HashMap<String, Vec<String>> {
    let mut all: HashMap<String, Vec<String>> = HashMap::new();
    for raw in server.received() {
        let id = header(&raw, "Message-ID").expect("a Message-ID");
        all.entry(id).or_default().push(raw);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_of_500_reaches_each_member_once_with_its_message_id() {
    let Some(server) = SmtpServer::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 500);
    let pace = pace(0, 4);
    let job_id = queued(&path, &ids, pace);
    let transport = Transport::smtp(&settings(server.port)).unwrap();
    let outcome = run(&path, &transport, job_id, pace).await;
    assert_eq!(
        (
            outcome.sent,
            outcome.failed,
            outcome.in_doubt,
            outcome.pending
        ),
        (500, 0, 0, 0)
    );

    let store = Store::open(&path).unwrap();
    let items = store.campaign_items(job_id).unwrap();
    let received = by_message_id(&server);
    assert_eq!(received.len(), 500, "one distinct message per member");
    let mut recipients = HashSet::new();
    for item in &items {
        assert_eq!(item.state, ReminderState::Sent);
        let copies = &received[&format!("<{}>", item.message_id)];
        assert_eq!(copies.len(), 1, "{} received twice", item.recipient);
        let raw = &copies[0];
        assert_eq!(header(raw, "To").as_deref(), Some(item.recipient.as_str()));
        assert_eq!(
            header(raw, "Subject").as_deref(),
            Some(item.subject.as_str())
        );
        assert!(item.subject.contains(&item.recipient), "{}", item.subject);
        assert!(!raw.contains("{nome}") && !raw.contains("{pec}"));
        recipients.insert(item.recipient.clone());
    }
    assert_eq!(recipients.len(), 500, "each member their own message");
    assert_eq!(server.accepted().len(), 500);
    let job = store.job(job_id).unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Done);
    // Each reminder is in its member's trail.
    let first = &items[0];
    let trail = store
        .timeline(first.member_id, first.pec.as_deref())
        .unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.detail.contains("sollecito «migrazione» via PEC")
                && e.detail.contains("inviato")
                && e.detail.contains(&first.message_id)),
        "{trail:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_550_fail_with_the_servers_words_and_451_is_tried_later() {
    let dir = tempfile::tempdir().unwrap();
    let (path, members, ids) = store_with(dir.path(), 6);
    let (busy_once, gone, busy_always) = (&members[0].pec, &members[1].pec, &members[2].pec);
    let Some(server) = SmtpServer::start(&[
        format!("{busy_once}=451*1"),
        format!("{gone}=550"),
        format!("{busy_always}=451"),
    ]) else {
        return;
    };
    let pace = pace(0, 2);
    let job_id = queued(&path, &ids, pace);
    let transport = Transport::smtp(&settings(server.port)).unwrap();
    let outcome = run(&path, &transport, job_id, pace).await;
    assert_eq!(
        (outcome.sent, outcome.failed, outcome.pending),
        (4, 1, 1),
        "{outcome:?}"
    );

    let store = Store::open(&path).unwrap();
    let items = store.campaign_items(job_id).unwrap();
    let item = |pec: &str| items.iter().find(|i| i.recipient == pec).unwrap().clone();
    let once = item(busy_once);
    assert_eq!(once.state, ReminderState::Sent);
    assert_eq!(once.attempts, 2, "refused once, then accepted");
    let failed = item(gone);
    assert_eq!(failed.state, ReminderState::Failed);
    let words = store.failed_items(job_id).unwrap();
    assert!(
        words[0].result.as_deref().unwrap().contains("550")
            && words[0]
                .result
                .as_deref()
                .unwrap()
                .contains("casella inesistente"),
        "{words:?}"
    );
    let deferred = item(busy_always);
    assert_eq!(deferred.state, ReminderState::Deferred);
    assert_eq!(deferred.attempts, 3, "tried as often as the pace allows");
    // Still to send: the job waits for the next run.
    assert_eq!(
        store.job(job_id).unwrap().unwrap().status,
        JobStatus::Pending
    );
    assert_eq!(store.unfinished_jobs().unwrap().len(), 1);
    let received = by_message_id(&server);
    assert_eq!(received.len(), 4);
    assert!(received.values().all(|c| c.len() == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_at_120_a_minute_takes_the_time_the_rate_implies() {
    let Some(server) = SmtpServer::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 4);
    let pace = pace(120, 4);
    let job_id = queued(&path, &ids, pace);
    let preview_says = pace.duration_for(4);
    assert_eq!(preview_says, Duration::from_millis(1500));
    let transport = Transport::smtp(&settings(server.port)).unwrap();
    let started = Instant::now();
    let outcome = run(&path, &transport, job_id, pace).await;
    assert_eq!(outcome.sent, 4);
    assert!(
        started.elapsed() >= preview_says,
        "4 messages at 120/min took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_then_cancel_stops_sending_and_nothing_goes_twice() {
    let Some(server) = SmtpServer::start(&["delay-ms=60".to_string()]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 30);
    let pace = pace(0, 1);
    let job_id = queued(&path, &ids, pace);
    let transport = Transport::smtp(&settings(server.port)).unwrap();
    let (control, rx) = watch::channel(Control::Run);
    let runner = {
        let path = path.clone();
        tokio::spawn(async move {
            campaign::run_campaign(&path, &transport, job_id, "anna", pace, rx, |_| {}).await
        })
    };
    while server.accepted().len() < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    control.send(Control::Pause).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let paused_at = server.accepted().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        server.accepted().len(),
        paused_at,
        "nothing goes while paused"
    );
    control.send(Control::Run).unwrap();
    while server.accepted().len() < paused_at + 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    control.send(Control::Cancel).unwrap();
    let outcome = runner.await.unwrap().unwrap();
    assert!(outcome.cancelled);
    let accepted = server.accepted();
    assert_eq!(outcome.sent, accepted.len());
    assert!(accepted.len() < 30);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.job(job_id).unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    let items = store.campaign_items(job_id).unwrap();
    assert_eq!(
        items
            .iter()
            .filter(|i| i.state == ReminderState::Cancelled)
            .count(),
        30 - accepted.len()
    );
    assert!(store.unfinished_jobs().unwrap().is_empty());
    let unique: HashSet<_> = accepted.iter().collect();
    assert_eq!(unique.len(), accepted.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_in_doubt_is_never_resent_and_a_pec_acceptance_settles_it() {
    let Some(server) = SmtpServer::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 5);
    let pace = pace(0, 2);
    let job_id = queued(&path, &ids, pace);
    // As if a run died after committing `sending` for two members, one of
    // which the provider accepted (its receipt came in).
    let mut store = Store::open(&path).unwrap();
    let items = store.campaign_items(job_id).unwrap();
    store
        .mark_sending(&[(job_id, 0), (job_id, 1)], Utc::now())
        .unwrap();
    store
        .record_receipts(
            &[NewReceipt {
                source_key: "maildir:1".into(),
                message_id: items[0].message_id.clone(),
                kind: "accettazione".into(),
                at: Some(Utc::now()),
                provider_id: Some("opec21.20261129.1@pec.aruba.it".into()),
                recipient: Some(items[0].recipient.clone()),
                error: None,
                file: None,
            }],
            None,
            Utc::now(),
        )
        .unwrap();
    drop(store);
    let transport = Transport::smtp(&settings(server.port)).unwrap();
    let outcome = run(&path, &transport, job_id, pace).await;
    assert_eq!(outcome.recovered_in_doubt, 2);
    assert_eq!((outcome.sent, outcome.in_doubt), (4, 1), "{outcome:?}");
    // Neither went out again.
    let received = by_message_id(&server);
    assert_eq!(received.len(), 3);
    assert!(!received.contains_key(&format!("<{}>", items[0].message_id)));
    assert!(!received.contains_key(&format!("<{}>", items[1].message_id)));

    let store = Store::open(&path).unwrap();
    let open = store.in_doubt_reminders(None).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].message_id, items[1].message_id);
    // Running again does not send it either.
    drop(store);
    run(&path, &transport, job_id, pace).await;
    assert_eq!(by_message_id(&server).len(), 3);
    // The operator decides to send it again: it goes once, same Message-ID.
    let mut store = Store::open(&path).unwrap();
    let jobs = campaign::resolve_in_doubt(
        &mut store,
        &[open[0].reminder_id],
        pecdesk::store::DoubtDecision::SendAgain,
        "anna",
        Utc::now(),
    )
    .unwrap();
    assert_eq!(jobs, vec![job_id]);
    drop(store);
    let outcome = run(&path, &transport, job_id, pace).await;
    assert_eq!((outcome.sent, outcome.in_doubt), (5, 0));
    let received = by_message_id(&server);
    assert_eq!(received[&format!("<{}>", items[1].message_id)].len(), 1);
    // Deciding on a reminder that is not in doubt is refused.
    let mut store = Store::open(&path).unwrap();
    assert!(
        campaign::resolve_in_doubt(
            &mut store,
            &[open[0].reminder_id],
            pecdesk::store::DoubtDecision::MarkSent,
            "anna",
            Utc::now(),
        )
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_holds_one_private_eml_per_message() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 3);
    let pace = pace(0, 2);
    let job_id = queued(&path, &ids, pace);
    let outbox = dir.path().join("outbox");
    let transport =
        Transport::outbox(&outbox, "Ordine <ordine@pec.fofi.it>", "ordine@pec.fofi.it").unwrap();
    let outcome = run(&path, &transport, job_id, pace).await;
    assert_eq!(outcome.sent, 3);
    let files: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        assert_eq!(file.extension().unwrap(), "eml");
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let raw = std::fs::read_to_string(file).unwrap();
        assert!(header(&raw, "Message-ID").unwrap().starts_with("<pecdesk."));
    }
}

#[test]
fn who_is_left_out_is_said_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 4);
    let mut store = Store::open(&path).unwrap();
    let now = Utc::now();
    // link-scaduto needs {email_recupero}: no mailbox was synced, so nobody has it.
    let preview = campaign::prepare(
        &store,
        &request(TemplateName::LinkScaduto, &ids),
        &env(pace(0, 1)),
        now,
    )
    .unwrap();
    assert!(preview.recipients.is_empty());
    assert!(preview.left_out.iter().all(|l| l.reason
        == LeftOutReason::MissingValues {
            placeholders: vec!["email_recupero".into()]
        }));
    assert!(matches!(
        campaign::enqueue(&mut store, &preview, "anna", now),
        Err(CampaignError::NoRecipients)
    ));
    // By e-mail, members with no service address are left out by name.
    let mut by_email = request(TemplateName::Migrazione, &ids);
    by_email.channel = Channel::Email;
    let preview = campaign::prepare(&store, &by_email, &env(pace(0, 1)), now).unwrap();
    let entries = store.roster_entries().unwrap();
    let without_email = entries
        .iter()
        .filter(|e| e.member.as_ref().unwrap().email_servizio.is_none())
        .count();
    assert_eq!(
        preview
            .left_out
            .iter()
            .filter(|l| l.reason == LeftOutReason::NoServiceEmail)
            .count(),
        without_email
    );
    // Once queued, a member is not queued again; once reminded, the
    // "not reminded for" window leaves them out.
    let pec = request(TemplateName::Migrazione, &ids);
    let preview = campaign::prepare(&store, &pec, &env(pace(0, 1)), now).unwrap();
    assert_eq!(preview.recipients.len(), 4);
    assert_eq!(preview.estimated, Duration::ZERO);
    let slow = campaign::prepare(&store, &pec, &env(pace(6, 1)), now).unwrap();
    assert_eq!(
        slow.estimated,
        Duration::from_secs(30),
        "4 messages at 6/min"
    );
    let job_id = campaign::enqueue(&mut store, &preview, "anna", now).unwrap();
    let again = campaign::prepare(&store, &pec, &env(pace(0, 1)), now).unwrap();
    assert!(again.recipients.is_empty());
    assert!(matches!(
        again.left_out[0].reason,
        LeftOutReason::AlreadyQueued { .. }
    ));
    let outcomes: Vec<_> = (0..4)
        .map(|position| pecdesk::store::ReminderOutcome {
            job_id,
            position,
            state: ReminderState::Sent,
            reply: None,
            at: now,
        })
        .collect();
    store.finish_reminders(&outcomes, "anna").unwrap();
    let mut recent = pec.clone();
    recent.not_reminded_for = Some(TimeDelta::days(3));
    let preview = campaign::prepare(&store, &recent, &env(pace(0, 1)), now).unwrap();
    assert!(preview.recipients.is_empty());
    assert!(matches!(
        preview.left_out[0].reason,
        LeftOutReason::RemindedRecently { days: 3, .. }
    ));
}

#[test]
fn an_unknown_placeholder_in_an_override_stops_the_campaign_before_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 2);
    let config_dir = dir.path().join("config");
    std::fs::create_dir_all(config_dir.join("templates")).unwrap();
    std::fs::write(
        config_dir.join("templates/migrazione.txt"),
        "Oggetto: Promemoria\n\nGentile {nom},\n",
    )
    .unwrap();
    let store = Store::open(&path).unwrap();
    let mut env = env(pace(0, 1));
    env.config_dir = Some(config_dir);
    let err = campaign::prepare(
        &store,
        &request(TemplateName::Migrazione, &ids),
        &env,
        Utc::now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("{nom}"), "{err}");
    assert!(store.unfinished_jobs().unwrap().is_empty());
}

/// `pecdesk remind` killed outright mid-campaign, then resumed: no member
/// gets the reminder twice; what was in flight is listed as in doubt and
/// settled by the operator; the password and the bodies are not in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_remind_resumes_without_a_duplicate_and_lists_the_in_doubt() {
    use std::process::Stdio;
    const PASSWORD: &str = "Pec-Segreta!77";
    let Some(server) = SmtpServer::start(&[
        "delay-ms=120".to_string(),
        format!("auth=ordine@pec.fofi.it:{PASSWORD}"),
    ]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (path, members, _) = store_with(dir.path(), 30);
    let config = pec_config(
        dir.path(),
        &format!(
            "host = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n\
             user = \"ordine@pec.fofi.it\"\nconnections = 2\n",
            server.port
        ),
    );
    let home = dir.path().join("home");
    let pecdesk = |args: &[&str]| {
        let mut command = cron_pecdesk(&path, &config, &home);
        command
            .args(["--log-level", "trace"])
            .args(args)
            .env("PECDESK_PEC_PASSWORD", PASSWORD)
            .stderr(Stdio::null());
        command
    };
    let campaign = [
        "remind",
        "--state",
        "no_mailbox",
        "--template",
        "migrazione",
        "--channel",
        "pec",
    ];
    // Without --yes: only what would happen.
    let dry = pecdesk(&campaign).output().unwrap();
    assert_eq!(dry.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&dry.stdout).contains("30 destinatari"));
    assert!(server.accepted().is_empty());

    let mut child = pecdesk(&[&campaign[..], &["--yes"]].concat())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while server.accepted().len() < 6 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never progressed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = server.accepted().len();
    assert!(before < 30, "killed too late to prove anything");

    let resumed = pecdesk(&["queue", "resume", "--yes"]).output().unwrap();
    let code = resumed.status.code();
    let listed = pecdesk(&["remind", "--in-doubt", "--json"])
        .output()
        .unwrap();
    assert_eq!(listed.status.code(), Some(0));
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let in_doubt = listed["in_doubt"].as_array().unwrap().clone();
    assert_eq!(
        code,
        Some(if in_doubt.is_empty() { 0 } else { 1 }),
        "{}",
        String::from_utf8_lossy(&resumed.stdout)
    );

    let accepted = server.accepted();
    let unique: HashSet<_> = accepted.iter().collect();
    assert_eq!(
        unique.len(),
        accepted.len(),
        "a member got the reminder twice"
    );
    // Everyone not in doubt got exactly one; the in-doubt ones at most one.
    assert!(accepted.len() + in_doubt.len() >= 30);
    eprintln!(
        "killed after {before} accepted; resume exit {code:?}; {} in doubt",
        in_doubt.len()
    );
    let store = Store::open(&path).unwrap();
    let job = store.job(1).unwrap().unwrap();
    let items = store.campaign_items(job.id).unwrap();
    let got: HashSet<String> = accepted
        .iter()
        .map(|id| id.trim_matches(['<', '>']).to_string())
        .collect();
    for item in &items {
        match item.state {
            ReminderState::Sent => assert!(got.contains(&item.message_id)),
            ReminderState::InDoubt => {}
            other => panic!("{} left {other:?}", item.recipient),
        }
    }
    // The operator settles each: the server has it (mark sent) or not (send again).
    let (have, have_not): (Vec<_>, Vec<_>) = in_doubt
        .iter()
        .partition(|r| got.contains(r["message_id"].as_str().unwrap()));
    let ids = |list: &[&serde_json::Value]| -> Vec<String> {
        list.iter()
            .map(|r| r["reminder_id"].as_i64().unwrap().to_string())
            .collect()
    };
    if !have.is_empty() {
        let mut args = vec!["remind", "--in-doubt", "--mark-sent"];
        let have = ids(&have);
        args.extend(have.iter().map(String::as_str));
        assert_eq!(pecdesk(&args).output().unwrap().status.code(), Some(0));
    }
    if !have_not.is_empty() {
        let mut args = vec!["remind", "--in-doubt", "--send-again"];
        let have_not = ids(&have_not);
        args.extend(have_not.iter().map(String::as_str));
        assert_eq!(pecdesk(&args).output().unwrap().status.code(), Some(0));
    }
    let accepted = server.accepted();
    assert_eq!(accepted.len(), 30, "each member exactly once in the end");
    assert_eq!(accepted.iter().collect::<HashSet<_>>().len(), 30);
    let items = Store::open(&path).unwrap().campaign_items(job.id).unwrap();
    assert!(items.iter().all(|i| i.state == ReminderState::Sent));
    let recipients: HashSet<_> = items.iter().map(|i| i.recipient.clone()).collect();
    assert!(members.iter().all(|m| recipients.contains(&m.pec)));

    let log = std::fs::read_to_string(home.join(".local/share/pecdesk/pecdesk.log"))
        .expect("the log file");
    assert!(log.contains("reminder campaign queued"), "{log}");
    assert!(!log.contains(PASSWORD), "the password is in the log");
    for needle in ["Gentile", "migrazionepec.infocert.it", "La nuova password"] {
        assert!(
            !log.contains(needle),
            "a message body is in the log: {needle}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_erased_before_their_turn_gets_nothing_and_the_campaign_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 3);
    let pace = pace(0, 1);
    let job_id = queued(&path, &ids, pace);
    Store::open(&path)
        .unwrap()
        .forget(ids[1], "anna", Utc::now())
        .unwrap();
    let outbox = dir.path().join("outbox");
    let transport =
        Transport::outbox(&outbox, "Ordine <ordine@pec.fofi.it>", "ordine@pec.fofi.it").unwrap();
    let outcome = run(&path, &transport, job_id, pace).await;
    assert_eq!((outcome.sent, outcome.total), (2, 2));
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 2);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.job(job_id).unwrap().unwrap().status, JobStatus::Done);
    assert!(store.unfinished_jobs().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_cap_holds_the_rest_for_a_later_run() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 3);
    let mut capped = pace(0, 1);
    capped.daily_cap = 2;
    let job_id = queued(&path, &ids, capped);
    let outbox = dir.path().join("outbox");
    let transport =
        Transport::outbox(&outbox, "Ordine <ordine@pec.fofi.it>", "ordine@pec.fofi.it").unwrap();
    let outcome = run(&path, &transport, job_id, capped).await;
    assert_eq!((outcome.sent, outcome.pending), (2, 1));
    assert_eq!(outcome.stopped, Some(campaign::Stop::DailyCap { cap: 2 }));
    let store = Store::open(&path).unwrap();
    assert_eq!(store.unfinished_jobs().unwrap().len(), 1, "resumed later");
    // The preview of another campaign says none may go today.
    let preview = campaign::prepare(
        &store,
        &request(TemplateName::Credenziali, &ids),
        &env(capped),
        Utc::now(),
    )
    .unwrap();
    assert_eq!(preview.allowed_today, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_stops_the_run_with_nothing_in_doubt() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ids) = store_with(dir.path(), 4);
    let pace = pace(0, 1);
    let job_id = queued(&path, &ids, pace);
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let transport = Transport::smtp(&settings(port)).unwrap();
    let outcome = run(&path, &transport, job_id, pace).await;
    assert!(
        matches!(outcome.stopped, Some(campaign::Stop::Unreachable { .. })),
        "{outcome:?}"
    );
    assert_eq!((outcome.sent, outcome.in_doubt, outcome.pending), (0, 0, 4));
    let items = Store::open(&path).unwrap().campaign_items(job_id).unwrap();
    assert!(
        items
            .iter()
            .all(|i| matches!(i.state, ReminderState::Deferred | ReminderState::Pending))
    );
}

/// Reminders through a server that speaks TLS, implicit (`security = "tls"`)
/// and by STARTTLS, run by the real `pecdesk remind`: with the server's
/// certificate not trusted nothing is sent and the run stops; trusted (its CA
/// in `SSL_CERT_FILE`, which the platform verifier reads on Linux), the
/// resumed run sends each member's message once.
#[test]
fn reminders_go_over_tls_and_starttls_only_to_a_trusted_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let Some((ca, cert, key)) = smtp::localhost_certificate(certs.path()) else {
        return;
    };
    let files = format!("{}:{}", cert.display(), key.display());
    for (security, option) in [("tls", "smtps"), ("starttls", "starttls")] {
        let Some(server) = SmtpServer::start(&[format!("{option}={files}")]) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (path, members, _) = store_with(dir.path(), 5);
        let config = pec_config(
            dir.path(),
            &format!(
                "host = \"localhost\"\nport = {}\nsecurity = \"{security}\"\nconnections = 1\n",
                server.port
            ),
        );
        let pecdesk = |args: &[&str], trusted: bool| {
            let mut command = cron_pecdesk(&path, &config, dir.path());
            command.args(args).env_remove("SSL_CERT_DIR");
            if trusted {
                command.env("SSL_CERT_FILE", &ca);
            } else {
                command.env_remove("SSL_CERT_FILE");
            }
            command.output().unwrap()
        };
        let campaign = [
            "remind",
            "--state",
            "no_mailbox",
            "--template",
            "migrazione",
            "--channel",
            "pec",
            "--yes",
        ];
        let untrusted = pecdesk(&campaign, false);
        assert!(
            !untrusted.status.success(),
            "{security}: sent to an untrusted certificate"
        );
        assert!(server.accepted().is_empty(), "{security}");

        let resumed = pecdesk(&["queue", "resume", "--yes"], true);
        assert!(
            resumed.status.success(),
            "{security}: {}{}",
            String::from_utf8_lossy(&resumed.stdout),
            String::from_utf8_lossy(&resumed.stderr)
        );
        let accepted = server.accepted();
        assert_eq!(accepted.len(), 5, "{security}");
        assert_eq!(accepted.iter().collect::<HashSet<_>>().len(), 5);
        let received = server.received();
        for m in &members {
            assert!(
                received
                    .iter()
                    .any(|raw| header(raw, "To").is_some_and(|to| to.contains(&m.pec))),
                "{security}: nothing for {}",
                m.pec
            );
        }
    }
}
