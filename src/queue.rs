//! Runs the action queue: takes a job's pending items from the store, sends
//! them to the provider (within the client's limits and `max_in_flight`),
//! and stores each result as it arrives. Used by the console and the headless
//! commands alike, so both get the same exactly-once behaviour.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{Semaphore, watch};

use crate::domain::contact;
use crate::provider::api::{RecoveryContactsRequest, ResendResponse};
use crate::provider::{ProviderClient, ProviderError};
use crate::store::{
    ActionResult, JobCounts, JobItem, JobKind, JobStatus, MailboxChange, Outcome, Store, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("lavoro {0} inesistente")]
    NoSuchJob(i64),
    #[error("lavoro interrotto: {0}")]
    Interrupted(String),
    /// Another process (the console or a cron run) is running the queue.
    #[error(transparent)]
    Busy(#[from] crate::lock::LockError),
}

/// What the operator asks of a running job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Run,
    Pause,
    Cancel,
}

/// The audit record of one action: what was done and, on failure, the
/// provider's error in Italian. A failure with no answer is `transient`.
pub fn action_result(
    address: &str,
    member_id: Option<i64>,
    operator: &str,
    result: Result<(String, Option<MailboxChange>), (String, &ProviderError)>,
) -> ActionResult {
    let (detail, outcome, change, transient) = match result {
        Ok((detail, change)) => (detail, Outcome::Ok, change, false),
        Err((what, error)) => (
            format!("{what}: {}", error.message_it()),
            Outcome::Failed,
            None,
            error.is_transient(),
        ),
    };
    ActionResult {
        address: address.to_string(),
        member_id,
        operator: operator.to_string(),
        at: Utc::now(),
        detail,
        outcome,
        change,
        transient,
    }
}

/// The audit record of a resend, single or in a job.
pub fn resend_result(
    address: &str,
    member_id: Option<i64>,
    operator: &str,
    result: Result<&ResendResponse, &ProviderError>,
) -> ActionResult {
    let result = match result {
        Ok(answer) => Ok((
            format!(
                "reinvio e-mail di recupero a {}, link valido fino a {}",
                answer.sent_to_masked,
                crate::i18n::format_datetime(answer.link_expires_at)
            ),
            Some(MailboxChange::LinkSent {
                sent_at: answer.link_sent_at,
                expires_at: answer.link_expires_at,
            }),
        )),
        Err(error) => Err(("reinvio e-mail di recupero non riuscito".to_string(), error)),
    };
    action_result(address, member_id, operator, result)
}

/// The audit record of a change of recovery contacts. Only masked values are
/// written: the log is read by many, the contacts are personal data.
pub fn recovery_result(
    address: &str,
    member_id: Option<i64>,
    operator: &str,
    request: &RecoveryContactsRequest,
    result: Result<DateTime<Utc>, &ProviderError>,
) -> ActionResult {
    let email_masked = request.email.as_deref().map(contact::mask_email);
    let mobile_masked = request.mobile.as_deref().map(contact::mask_mobile);
    let shown = [email_masked.clone(), mobile_masked.clone()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let result = match result {
        Ok(updated_at) => Ok((
            format!("contatti di recupero impostati: {shown}"),
            Some(MailboxChange::RecoveryContacts {
                email_masked,
                mobile_masked,
                updated_at,
            }),
        )),
        Err(error) => Err((
            format!("impostazione dei contatti di recupero ({shown}) non riuscita"),
            error,
        )),
    };
    action_result(address, member_id, operator, result)
}

/// The audit record of a password reset: that it happened, never the password.
pub fn reset_result(
    address: &str,
    member_id: Option<i64>,
    operator: &str,
    result: Result<DateTime<Utc>, &ProviderError>,
) -> ActionResult {
    let result = match result {
        Ok(updated_at) => Ok((
            "reset della password: temporanea comunicata all'iscritto, da cambiare al primo accesso"
                .to_string(),
            Some(MailboxChange::PasswordReset { updated_at }),
        )),
        Err(error) => Err(("reset della password non riuscito".to_string(), error)),
    };
    action_result(address, member_id, operator, result)
}

/// How long after a job was queued its items' idempotency keys are surely
/// still known to the provider (the contract keeps them 24 hours). Past it,
/// a retry could be taken for a new request, so a resend is checked first.
pub const KEYS_SURELY_KEPT: TimeDelta = TimeDelta::hours(23);

/// For a resend item of a job queued at `queued_at`: the record of an e-mail
/// the provider already sent since then (this item's earlier attempt, whose
/// answer was lost, or anyone's), so that it is not sent twice; a failure when
/// the provider cannot say; None when the e-mail is still to send.
async fn sent_since(
    client: &ProviderClient,
    queued_at: DateTime<Utc>,
    item: &JobItem,
    operator: &str,
) -> Option<ActionResult> {
    let record = |result| action_result(&item.address, item.member_id, operator, result);
    match client.get_mailbox(&item.address).await {
        Ok(mailbox) => match (mailbox.link_sent_at, mailbox.link_expires_at) {
            (Some(sent_at), Some(expires_at)) if sent_at >= queued_at => Some(record(Ok((
                format!(
                    "e-mail di recupero già inviata il {} (dopo l'accodamento): non inviata di nuovo",
                    crate::i18n::format_datetime(sent_at)
                ),
                Some(MailboxChange::LinkSent {
                    sent_at,
                    expires_at,
                }),
            )))),
            _ => None,
        },
        Err(error) => Some(record(Err((
            "verifica di un reinvio accodato da oltre 23 ore non riuscita".to_string(),
            &error,
        )))),
    }
}

/// Sends one item with its stored key and returns the record to store.
async fn perform(
    client: &ProviderClient,
    kind: JobKind,
    queued_at: DateTime<Utc>,
    item: &JobItem,
    operator: &str,
) -> ActionResult {
    match kind {
        JobKind::Resend => {
            if Utc::now() - queued_at > KEYS_SURELY_KEPT
                && let Some(done) = sent_since(client, queued_at, item, operator).await
            {
                return done;
            }
            let result = client
                .resend_recovery_email(&item.address, &item.idempotency_key)
                .await;
            resend_result(&item.address, item.member_id, operator, result.as_ref())
        }
        JobKind::ArubaContacts => {
            let wrong = ProviderError::Contract("lavoro di Aruba affidato al gestore".into());
            action_result(
                &item.address,
                item.member_id,
                operator,
                Err(("contatti presso Aruba non impostati".into(), &wrong)),
            )
        }
        JobKind::Reminder => {
            // Campaigns have their own runner (`crate::campaign::run_campaign`).
            let wrong = ProviderError::Contract("campagna di solleciti affidata al gestore".into());
            action_result(
                &item.address,
                item.member_id,
                operator,
                Err(("sollecito non inviato".into(), &wrong)),
            )
        }
        JobKind::SetRecovery => {
            let request: RecoveryContactsRequest = match item
                .payload
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
            {
                Ok(Some(request)) => request,
                Ok(None) | Err(_) => {
                    let missing =
                        ProviderError::Contract("contatti di recupero mancanti nella coda".into());
                    return action_result(
                        &item.address,
                        item.member_id,
                        operator,
                        Err((
                            "impostazione dei contatti di recupero non riuscita".into(),
                            &missing,
                        )),
                    );
                }
            };
            let result = client
                .set_recovery_contacts(&item.address, &request, &item.idempotency_key)
                .await
                .map(|dto| dto.updated_at);
            recovery_result(
                &item.address,
                item.member_id,
                operator,
                &request,
                result.as_ref().copied(),
            )
        }
    }
}

fn open(path: &Path) -> Result<Store, QueueError> {
    Ok(Store::open(path)?)
}

/// Results stored in one transaction at most.
const WRITE_BATCH: usize = 256;

/// Runs job `job_id` until no item is pending, or until cancelled. Progress
/// is reported after each stored result. Returns the final counts.
pub async fn run_job(
    store_path: &Path,
    client: &ProviderClient,
    job_id: i64,
    operator: &str,
    max_in_flight: usize,
    control: watch::Receiver<Control>,
    progress: impl Fn(JobCounts) + Send + 'static,
) -> Result<JobCounts, QueueError> {
    let client = client.clone();
    let performer = move |kind, queued_at, item: JobItem, operator: String| {
        let client = client.clone();
        async move { perform(&client, kind, queued_at, &item, &operator).await }
    };
    run_with(
        store_path,
        job_id,
        operator,
        max_in_flight,
        control,
        progress,
        performer,
    )
    .await
}

/// Runs Aruba job `job_id` (contact changes at the old provider) as
/// [`run_job`] runs the provider's: same store, lock, limits and records.
pub async fn run_aruba_job(
    store_path: &Path,
    client: &crate::provider::aruba::ArubaClient,
    job_id: i64,
    operator: &str,
    max_in_flight: usize,
    control: watch::Receiver<Control>,
    progress: impl Fn(JobCounts) + Send + 'static,
) -> Result<JobCounts, QueueError> {
    let client = client.clone();
    let performer = move |kind, _queued_at, item: JobItem, operator: String| {
        let client = client.clone();
        async move { crate::aruba::perform(&client, kind, &item, &operator).await }
    };
    run_with(
        store_path,
        job_id,
        operator,
        max_in_flight,
        control,
        progress,
        performer,
    )
    .await
}

/// The runner behind both: `performer` carries out one item and says what to store.
async fn run_with<P, F>(
    store_path: &Path,
    job_id: i64,
    operator: &str,
    max_in_flight: usize,
    mut control: watch::Receiver<Control>,
    progress: impl Fn(JobCounts) + Send + 'static,
    performer: P,
) -> Result<JobCounts, QueueError>
where
    P: Fn(JobKind, DateTime<Utc>, JobItem, String) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = ActionResult> + Send + 'static,
{
    // One runner of the queue per store: two processes resuming the same job
    // would each record its results.
    let _lock = crate::lock::try_lock(store_path, "queue")?;
    let path: PathBuf = store_path.to_path_buf();
    let (job, items) = tokio::task::spawn_blocking({
        let path = path.clone();
        move || -> Result<_, QueueError> {
            let mut store = open(&path)?;
            let job = store.job(job_id)?.ok_or(QueueError::NoSuchJob(job_id))?;
            store.set_job_status(job_id, JobStatus::Pending, Utc::now())?;
            Ok((job, store.pending_items(job_id)?))
        }
    })
    .await
    .map_err(|e| QueueError::Interrupted(e.to_string()))??;
    progress(job.counts);

    // One writer thread owns the store connection. Each result is committed as
    // soon as it arrives; results that arrive together share one transaction,
    // so thousands of answers do not mean thousands of commits.
    let (results_tx, results_rx) = std::sync::mpsc::channel::<(JobItem, ActionResult)>();
    let writer = {
        let path = path.clone();
        let mut counts = job.counts;
        std::thread::spawn(move || -> Result<JobCounts, QueueError> {
            let mut store = open(&path)?;
            while let Ok(first) = results_rx.recv() {
                let mut batch = vec![first];
                batch.extend(results_rx.try_iter().take(WRITE_BATCH - 1));
                store.finish_items(&batch)?;
                for (_, result) in &batch {
                    counts.pending -= 1;
                    match result.outcome {
                        Outcome::Ok => counts.done += 1,
                        Outcome::Failed => counts.failed += 1,
                    }
                }
                progress(counts);
            }
            Ok(counts)
        })
    };

    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut cancelled = false;
    for item in items {
        // Wait out a pause; stop dispatching on cancel (in-flight requests finish).
        loop {
            let current = *control.borrow_and_update();
            match current {
                Control::Run => break,
                Control::Cancel => {
                    cancelled = true;
                    break;
                }
                Control::Pause => {
                    if control.changed().await.is_err() {
                        cancelled = true;
                        break;
                    }
                }
            }
        }
        if cancelled {
            break;
        }
        let permit = slots.clone().acquire_owned().await.expect("semaphore open");
        let performer = performer.clone();
        let operator = operator.to_string();
        let results_tx = results_tx.clone();
        tasks.spawn(async move {
            let result = performer(job.kind, job.created_at, item.clone(), operator).await;
            let _ = results_tx.send((item, result));
            drop(permit);
        });
        // Reap finished tasks as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    drop(results_tx);
    let counts = tokio::task::spawn_blocking(move || writer.join())
        .await
        .map_err(|e| QueueError::Interrupted(e.to_string()))?
        .map_err(|_| QueueError::Interrupted("scrittura dei risultati".into()))??;
    let status = if cancelled {
        JobStatus::Cancelled
    } else if counts.pending == 0 {
        JobStatus::Done
    } else {
        JobStatus::Pending
    };
    tokio::task::spawn_blocking(move || {
        open(&path)?
            .set_job_status(job_id, status, Utc::now())
            .map_err(QueueError::from)
    })
    .await
    .map_err(|e| QueueError::Interrupted(e.to_string()))??;
    Ok(counts)
}
