//! Runs a campaign stored in the queue: one message per reminder still to
//! send, at the channel's pace, each outcome stored as it arrives.
//!
//! Exactly once: a reminder is committed `sending` before its message goes
//! out. A run that dies leaves it so; the next run finds it and makes it in
//! doubt, never sending it on its own again. A reply settles it: accepted
//! (sent), refused for now (deferred: tried later, more slowly), refused for
//! good (failed, with the server's words).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{CampaignError, Pace, Transport};
use crate::mail::{Outgoing, SendError};
use crate::queue::Control;
use crate::store::{
    CampaignItem, JobCounts, JobKind, JobStatus, ReminderOutcome, ReminderState, Store,
};

/// Why a run stopped before every reminder was settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "stop", rename_all = "snake_case")]
pub enum Stop {
    /// The daily cap of the channel is reached: the rest go in a later run.
    DailyCap { cap: u32 },
    /// The server could not be reached several times in a row.
    Unreachable { error: String },
    /// The server refused the sender's login: fix the settings, then resume.
    LoginRefused { error: String },
}

impl Stop {
    pub fn describe(&self) -> String {
        match self {
            Stop::DailyCap { cap } => format!(
                "raggiunto il limite giornaliero ({cap} messaggi in 24 ore): il resto partirà con la prossima ripresa"
            ),
            Stop::Unreachable { error } => format!("server di posta non raggiungibile: {error}"),
            Stop::LoginRefused { error } => {
                format!("accesso al server di posta rifiutato: {error}")
            }
        }
    }
}

/// What a run did, and where the campaign stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignOutcome {
    pub job_id: i64,
    /// The queue's counts (in doubt counts as failed: it needs the operator).
    #[serde(skip)]
    pub counts: JobCounts,
    pub total: usize,
    pub sent: usize,
    pub failed: usize,
    pub in_doubt: usize,
    /// Still to send: never tried, or refused for now (deferred).
    pub pending: usize,
    /// Found `sending` from a run that died: now in doubt.
    pub recovered_in_doubt: usize,
    pub cancelled: bool,
    pub stopped: Option<Stop>,
}

/// Connection failures in a row (with no success between) that stop a run.
const UNREACHABLE_AFTER: u32 = 3;
/// Outcomes stored in one transaction at most.
const WRITE_BATCH: usize = 256;
/// The slowest a campaign goes after temporary refusals.
const SLOWEST: Duration = Duration::from_secs(60);

enum Write {
    /// Commit `sending` for this item, then answer.
    Sending {
        job_id: i64,
        position: i64,
        done: oneshot::Sender<()>,
    },
    Outcome(ReminderOutcome),
}

/// Runs campaign `job_id` until nothing is left to send now, until
/// cancelled, or until a [`Stop`]. Progress (the queue's counts) is reported
/// after each batch of stored outcomes, as the bulk actions do; `control`
/// pauses and cancels. Holds the queue's lock while it runs.
pub async fn run_campaign(
    store_path: &Path,
    transport: &Transport,
    job_id: i64,
    operator: &str,
    pace: Pace,
    mut control: watch::Receiver<Control>,
    progress: impl Fn(JobCounts) + Send + 'static,
) -> Result<CampaignOutcome, CampaignError> {
    let _lock = crate::lock::try_lock(store_path, "queue")?;
    let path = store_path.to_path_buf();
    let operator = operator.to_string();
    let (items, recovered, allowance) = blocking({
        let (path, operator) = (path.clone(), operator.clone());
        move || -> Result<_, CampaignError> {
            let mut store = Store::open(&path)?;
            let job = store
                .job(job_id)?
                .filter(|j| j.kind == JobKind::Reminder)
                .ok_or(CampaignError::NotACampaign(job_id))?;
            store.set_job_status(job.id, JobStatus::Pending, Utc::now())?;
            let now = Utc::now();
            let recovered = store.recover_interrupted(job_id, &operator, now)?;
            store.settle_in_doubt_by_receipts(&operator, now)?;
            let items = store.campaign_items(job_id)?;
            let channel = items.first().map(|i| i.channel.clone()).unwrap_or_default();
            let allowance = if pace.daily_cap > 0 {
                let used = store.reminders_sent_since(&channel, now - TimeDelta::days(1))?;
                Some((pace.daily_cap as usize).saturating_sub(used))
            } else {
                None
            };
            Ok((items, recovered, allowance))
        }
    })
    .await?;
    let queued_positions: std::collections::HashSet<i64> = blocking({
        let path = path.clone();
        move || -> Result<_, CampaignError> {
            Ok(Store::open(&path)?
                .pending_items(job_id)?
                .into_iter()
                .map(|i| i.position)
                .collect())
        }
    })
    .await?;
    // A queued item whose reminder is gone was erased with its member
    // (`pecdesk forget`): it is settled as not sent, never left pending.
    let known: std::collections::HashSet<i64> = items.iter().map(|i| i.position).collect();
    let erased: Vec<ReminderOutcome> = queued_positions
        .iter()
        .filter(|p| !known.contains(p))
        .map(|&position| ReminderOutcome {
            job_id,
            position,
            state: ReminderState::Failed,
            reply: Some("dati dell'iscritto cancellati: sollecito non inviato".into()),
            at: Utc::now(),
        })
        .collect();
    if !erased.is_empty() {
        blocking({
            let (path, operator) = (path.clone(), operator.clone());
            move || Ok(Store::open(&path)?.finish_reminders(&erased, &operator)?)
        })
        .await?;
    }
    // What this run sends: queued items not yet settled. A failed reminder
    // whose item is queued again was put back by "retry the failed".
    let queue: VecDeque<(CampaignItem, Instant)> = items
        .into_iter()
        .filter(|i| queued_positions.contains(&i.position))
        .filter(|i| {
            matches!(
                i.state,
                ReminderState::Pending
                    | ReminderState::Deferred
                    | ReminderState::Failed
                    | ReminderState::Cancelled
            )
        })
        .map(|i| (i, Instant::now()))
        .collect();

    // One writer thread owns a store connection: `sending` marks are
    // committed before the message goes; outcomes arriving together share a
    // transaction.
    let (write_tx, write_rx) = std::sync::mpsc::channel::<Write>();
    let writer = spawn_writer(path.clone(), job_id, operator.clone(), write_rx, progress);

    let (result_tx, mut result_rx) = mpsc::unbounded_channel::<(CampaignItem, SendResult)>();
    let mut d = Dispatch {
        job_id,
        pace,
        interval: pace.interval(),
        queue,
        in_flight: 0,
        tries: HashMap::new(),
        connect_failures: 0,
        stopped: None,
        store_failed: None,
        write_tx,
    };
    let mut next_slot = Instant::now();
    let mut dispatched = 0usize;
    let mut cancelled = false;
    loop {
        while let Ok((item, result)) = result_rx.try_recv() {
            d.settle(item, result);
        }
        if d.stopped.is_some() || d.store_failed.is_some() {
            break;
        }
        let current = *control.borrow_and_update();
        match current {
            Control::Cancel => {
                cancelled = true;
                break;
            }
            Control::Pause => {
                tokio::select! {
                    changed = control.changed() => if changed.is_err() { cancelled = true; break; },
                    Some((item, result)) = result_rx.recv(), if d.in_flight > 0 => d.settle(item, result),
                }
                continue;
            }
            Control::Run => {}
        }
        let now = Instant::now();
        let ready = d
            .queue
            .iter()
            .position(|(_, not_before)| *not_before <= now);
        let wake = match ready {
            None if d.queue.is_empty() && d.in_flight == 0 => break,
            None => d.queue.iter().map(|(_, t)| *t).min(),
            Some(_) if allowance.is_some_and(|a| dispatched >= a) => {
                d.stopped = Some(Stop::DailyCap {
                    cap: pace.daily_cap,
                });
                break;
            }
            Some(_) if d.in_flight >= pace.connections => None,
            Some(_) if now < next_slot => Some(next_slot),
            Some(index) => {
                let (item, _) = d.queue.remove(index).expect("index in range");
                next_slot = next_slot.max(now) + d.interval;
                d.in_flight += 1;
                dispatched += 1;
                let (transport, write_tx, result_tx) =
                    (transport.clone(), d.write_tx.clone(), result_tx.clone());
                tokio::spawn(async move {
                    let result = send_one(&transport, &write_tx, &item).await;
                    let _ = result_tx.send((item, result));
                });
                continue;
            }
        };
        let sleep = tokio::time::sleep_until(wake.unwrap_or_else(|| now + SLOWEST));
        tokio::select! {
            _ = sleep => {}
            changed = control.changed() => if changed.is_err() { cancelled = true; break; },
            Some((item, result)) = result_rx.recv(), if d.in_flight > 0 => d.settle(item, result),
        }
    }
    // Messages already out are waited for: their outcome must be stored.
    while d.in_flight > 0 {
        let Some((item, result)) = result_rx.recv().await else {
            break;
        };
        d.settle(item, result);
    }
    let Dispatch {
        stopped,
        store_failed,
        write_tx,
        ..
    } = d;
    drop(write_tx);
    let written = blocking(move || {
        writer
            .join()
            .map_err(|_| CampaignError::Interrupted("scrittura degli esiti".into()))
    })
    .await?;
    written?;
    if let Some(error) = store_failed {
        return Err(CampaignError::Interrupted(error));
    }
    blocking(move || -> Result<CampaignOutcome, CampaignError> {
        let mut store = Store::open(&path)?;
        let now = Utc::now();
        if cancelled {
            store.cancel_campaign(job_id, &operator, now)?;
        }
        let counts = store.job_counts(job_id)?;
        if !cancelled {
            let status = if counts.pending == 0 {
                JobStatus::Done
            } else {
                JobStatus::Pending
            };
            store.set_job_status(job_id, status, now)?;
        }
        let items = store.campaign_items(job_id)?;
        let count = |state: ReminderState| items.iter().filter(|i| i.state == state).count();
        Ok(CampaignOutcome {
            job_id,
            counts,
            total: items.len(),
            sent: count(ReminderState::Sent),
            failed: count(ReminderState::Failed),
            in_doubt: count(ReminderState::InDoubt),
            pending: count(ReminderState::Pending) + count(ReminderState::Deferred),
            recovered_in_doubt: recovered,
            cancelled,
            stopped,
        })
    })
    .await
}

/// The dispatcher's state between messages: what is left, the current
/// pace, and what stopped it.
struct Dispatch {
    job_id: i64,
    pace: Pace,
    /// The gap between messages now: the set one, longer after refusals.
    interval: Duration,
    /// Reminders to send, each not before its time.
    queue: VecDeque<(CampaignItem, Instant)>,
    in_flight: usize,
    /// Temporary refusals per item in this run.
    tries: HashMap<i64, u32>,
    connect_failures: u32,
    stopped: Option<Stop>,
    store_failed: Option<String>,
    write_tx: std::sync::mpsc::Sender<Write>,
}

impl Dispatch {
    /// One message's result: stored, and the pace adjusted.
    fn settle(&mut self, item: CampaignItem, result: SendResult) {
        self.in_flight -= 1;
        let outcome = |state, reply: Option<String>| {
            Write::Outcome(ReminderOutcome {
                job_id: self.job_id,
                position: item.position,
                state,
                reply,
                at: Utc::now(),
            })
        };
        let write = match result {
            SendResult::NotMarked => {
                self.store_failed = Some("registrazione dell'invio non riuscita".into());
                return;
            }
            SendResult::Sent => {
                self.connect_failures = 0;
                // Back to the set pace step by step after a slow-down.
                let base = self.pace.interval();
                self.interval = (self.interval * 3 / 4).max(base);
                if self.interval < Duration::from_millis(5) {
                    self.interval = base;
                }
                outcome(ReminderState::Sent, Some("accettato dal server".into()))
            }
            SendResult::Error(e) if e.is_login_refused() => {
                self.stopped = Some(Stop::LoginRefused {
                    error: e.to_string(),
                });
                // Refused at login: nothing went out.
                outcome(ReminderState::Pending, Some(e.to_string()))
            }
            SendResult::Error(e) if e.is_temporary() => {
                if matches!(e, SendError::Connect(_)) {
                    self.connect_failures += 1;
                    if self.connect_failures >= UNREACHABLE_AFTER {
                        self.stopped = Some(Stop::Unreachable {
                            error: e.to_string(),
                        });
                    }
                }
                // Slow down, and try this member later.
                self.interval = (self.interval * 2).clamp(Duration::from_secs(1), SLOWEST);
                let tries = self.tries.entry(item.position).or_default();
                *tries += 1;
                if *tries < self.pace.tries_per_run && self.stopped.is_none() {
                    let wait = self.pace.retry_after * 2u32.saturating_pow(*tries - 1);
                    let mut again = item.clone();
                    again.state = ReminderState::Deferred;
                    self.queue.push_back((again, Instant::now() + wait));
                }
                outcome(ReminderState::Deferred, Some(e.to_string()))
            }
            SendResult::Error(SendError::InDoubt(words)) => {
                outcome(ReminderState::InDoubt, Some(words))
            }
            SendResult::Error(SendError::Permanent { code, text }) => {
                outcome(ReminderState::Failed, Some(format!("{code} {text}")))
            }
            SendResult::Error(e) => outcome(ReminderState::Failed, Some(e.to_string())),
            SendResult::NoBody => outcome(
                ReminderState::Failed,
                Some("dati dell'iscritto cancellati: sollecito non inviato".into()),
            ),
        };
        let _ = self.write_tx.send(write);
    }
}

enum SendResult {
    Sent,
    Error(SendError),
    /// The member's data was erased: nothing to send.
    NoBody,
    /// `sending` could not be committed: not sent.
    NotMarked,
}

/// Asks for `sending` to be committed and sends; the message's data waits
/// for the commit (connecting, MAIL, RCPT and DATA do not). Never sends what
/// was not committed.
async fn send_one(
    transport: &Transport,
    write_tx: &std::sync::mpsc::Sender<Write>,
    item: &CampaignItem,
) -> SendResult {
    let Some(body) = item.body.clone() else {
        return SendResult::NoBody;
    };
    let (done, marked) = oneshot::channel();
    if write_tx
        .send(Write::Sending {
            job_id: item.job_id,
            position: item.position,
            done,
        })
        .is_err()
    {
        return SendResult::NotMarked;
    }
    let out = Outgoing {
        to: item.recipient.clone(),
        subject: item.subject.clone(),
        body,
        message_id: format!("<{}>", item.message_id),
    };
    match transport
        .send_after(&out, async move { marked.await.is_ok() })
        .await
    {
        Ok(()) => SendResult::Sent,
        Err(SendError::NotRecorded) => SendResult::NotMarked,
        Err(e) => SendResult::Error(e),
    }
}

fn spawn_writer(
    path: PathBuf,
    job_id: i64,
    operator: String,
    rx: std::sync::mpsc::Receiver<Write>,
    progress: impl Fn(JobCounts) + Send + 'static,
) -> std::thread::JoinHandle<Result<(), CampaignError>> {
    std::thread::spawn(move || -> Result<(), CampaignError> {
        let mut store = Store::open(&path)?;
        progress(store.job_counts(job_id)?);
        while let Ok(first) = rx.recv() {
            let mut sending = Vec::new();
            let mut acks = Vec::new();
            let mut outcomes = Vec::new();
            for write in std::iter::once(first).chain(rx.try_iter().take(WRITE_BATCH - 1)) {
                match write {
                    Write::Sending {
                        job_id,
                        position,
                        done,
                    } => {
                        sending.push((job_id, position));
                        acks.push(done);
                    }
                    Write::Outcome(o) => outcomes.push(o),
                }
            }
            // The marks first: messages wait for them.
            if !sending.is_empty() {
                // On failure the acks are dropped: those messages are not sent.
                store.mark_sending(&sending, Utc::now())?;
                for ack in acks {
                    let _ = ack.send(());
                }
            }
            if !outcomes.is_empty() {
                store.finish_reminders(&outcomes, &operator)?;
            }
            if !outcomes.is_empty() {
                progress(store.job_counts(job_id)?);
            }
        }
        Ok(())
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CampaignError> + Send + 'static,
) -> Result<T, CampaignError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CampaignError::Interrupted(e.to_string()))?
}
