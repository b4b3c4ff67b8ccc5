//! The console's reminder loop on the demo's mail, through the console's own
//! effects: a campaign prepared and confirmed goes into the local outbox (one
//! `.eml` per member), the simulated PEC providers answer each message with
//! receipts in a Maildir, and the background reading files them under the
//! members, non-deliveries becoming the "to chase" list. No network.

use std::time::Duration;

use chrono::Utc;
use pecdesk::app::{Action, Effect};
use pecdesk::campaign::CampaignRequest;
use pecdesk::domain::template::TemplateName;
use pecdesk::mail::Channel;
use pecdesk::services::{CampaignChannels, Services};
use pecdesk::store::Store;
use tokio::sync::mpsc;

/// The next action that is not progress, within a minute.
async fn next(rx: &mut mpsc::UnboundedReceiver<Action>) -> Action {
    loop {
        let action = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .expect("an answer within a minute")
            .expect("the channel stays open");
        if !matches!(action, Action::JobProgress { .. }) {
            return action;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_go_to_the_outbox_and_their_receipts_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let parsed =
        pecdesk::import::parse_csv(pecdesk::cli::SAMPLE_ROSTER, "sample-roster.csv").unwrap();
    {
        let mut store = Store::open(&db).unwrap();
        pecdesk::import::store_roster(&mut store, parsed, "test", Utc::now()).unwrap();
    }
    let members: Vec<i64> = Store::open(&db)
        .unwrap()
        .roster_entries()
        .unwrap()
        .iter()
        .filter(|e| {
            e.member
                .as_ref()
                .is_some_and(|m| m.pec.ends_with("@pec.fofi.it"))
        })
        .filter_map(|e| e.member_id)
        .take(12)
        .collect();
    assert_eq!(members.len(), 12);
    let mail = pecdesk::mail::demo::start(dir.path()).unwrap();
    let mut services = Services::new(db.clone(), None, "segreteria".into());
    let cutover = Some(chrono::NaiveDate::from_ymd_opt(2099, 1, 31).unwrap());
    services.campaigns = CampaignChannels::demo(&mail.outbox, "Ordine di Prova", cutover);
    services.receipts = Some(pecdesk::mail::receipts::ReceiptSource::Maildir(
        mail.maildir.clone(),
    ));
    let (tx, mut rx) = mpsc::unbounded_channel();

    services.perform(
        Effect::PrepareCampaign(CampaignRequest {
            template: TemplateName::Migrazione,
            channel: Channel::Pec,
            members: members.clone(),
            not_reminded_for: None,
        }),
        &tx,
    );
    let prepared = match next(&mut rx).await {
        Action::CampaignPrepared(Ok(prepared)) => prepared,
        other => panic!("{other:?}"),
    };
    assert_eq!(prepared.0.recipients.len(), 12);
    let first = prepared.0.first().unwrap();
    assert!(!first.body.contains('{'), "no placeholder left");
    services.perform(Effect::StartCampaign(prepared), &tx);
    let job_id = match next(&mut rx).await {
        Action::JobStarted(Ok(job)) => job.id,
        other => panic!("{other:?}"),
    };
    match next(&mut rx).await {
        Action::JobFinished {
            job_id: finished,
            result: Ok(counts),
            ..
        } => {
            assert_eq!(finished, job_id);
            assert_eq!(counts.done, 12, "{counts:?}");
        }
        other => panic!("{other:?}"),
    }
    let sent: Vec<_> = std::fs::read_dir(&mail.outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    assert_eq!(sent.len(), 12, "one message per member");

    // The providers answer within a few seconds: acceptance, then delivery.
    let mut stored = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        services.perform(Effect::ReadReceipts, &tx);
        match next(&mut rx).await {
            Action::ReceiptsRead(Ok(read)) => {
                assert_eq!(read.unmatched, 0);
                assert_eq!(read.malformed, 0);
                stored += read.stored;
            }
            other => panic!("{other:?}"),
        }
        if stored == 24 {
            break;
        }
    }
    assert_eq!(
        stored, 24,
        "an acceptance and a delivery (or not) per member"
    );
    let store = Store::open(&db).unwrap();
    let outreach = store.outreach(Utc::now()).unwrap();
    assert_eq!(outreach.week.sent, 12);
    assert_eq!(
        outreach.week.delivered + outreach.week.not_delivered,
        12,
        "{:?}",
        outreach.week
    );
    let undelivered = store.undelivered_reminders().unwrap();
    assert_eq!(undelivered.len(), outreach.week.not_delivered);
    for member in &members {
        let trail = store.reminder_trail(*member).unwrap();
        assert_eq!(trail.len(), 1);
        assert_eq!(trail[0].receipts.len(), 2, "{:?}", trail[0]);
        assert_eq!(trail[0].receipts[0].kind, "accettazione");
    }
    // Each receipt's original is kept, owner-only.
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir.path().join("ricevute")).unwrap() {
        let mode = entry.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
