//! The action queue: a bulk job is written here before its first request, one
//! row per mailbox with its idempotency key, and each result is stored as it
//! arrives. A process killed mid-job resumes from the rows still pending and
//! re-sends them with the same keys, so the provider replays rather than
//! repeats a change that had already reached it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::events::{EventKind, NewEvent, Outcome, append};
use super::{Result, Store, StoreError, parse_ts, ts};
use crate::domain::PasswordState;

coded_enum! {
    /// What a job does to each of its mailboxes.
    pub JobKind {
        Resend => "resend",
        SetRecovery => "set_recovery",
        /// The owner's contact e-mail and mobile at Aruba, from the roster.
        ArubaContacts => "aruba_contacts",
        /// A reminder campaign: one message per member (`crate::campaign`).
        Reminder => "reminder",
    }
}

coded_enum! {
    pub JobStatus {
        /// Created or interrupted: items remain to send.
        Pending => "pending",
        Paused => "paused",
        Cancelled => "cancelled",
        Done => "done",
    }
}

coded_enum! {
    pub ItemStatus {
        Pending => "pending",
        Done => "done",
        Failed => "failed",
        /// A reminder that went out with no reply: the operator decides.
        InDoubt => "in_doubt",
    }
}

/// A mailbox to put in a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJobItem {
    pub address: String,
    pub member_id: Option<i64>,
    /// Parameters of the action for this mailbox (JSON), if any.
    pub payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobItem {
    pub job_id: i64,
    pub position: i64,
    pub address: String,
    pub member_id: Option<i64>,
    pub idempotency_key: String,
    pub payload: Option<String>,
    pub status: ItemStatus,
    pub attempts: i64,
    /// The provider's answer or the reason of the failure, in Italian.
    pub result: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub total: usize,
    pub pending: usize,
    pub done: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: i64,
    pub kind: JobKind,
    pub operator: String,
    pub created_at: DateTime<Utc>,
    pub status: JobStatus,
    pub counts: JobCounts,
}

/// How the mailbox's stored state changes when an action succeeds, so the
/// console shows it before the next sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxChange {
    LinkSent {
        sent_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    RecoveryContacts {
        email_masked: Option<String>,
        mobile_masked: Option<String>,
        /// The provider's time of the change.
        updated_at: DateTime<Utc>,
    },
    PasswordReset {
        updated_at: DateTime<Utc>,
    },
    /// The owner's contacts at Aruba (the fields changed, in full: they go to
    /// the stored copy of Aruba's data, never to the log).
    ArubaContacts {
        email: Option<String>,
        mobile: Option<String>,
        at: DateTime<Utc>,
    },
}

impl MailboxChange {
    /// When the provider made the change: a sync that listed the mailbox
    /// before it must not overwrite it.
    fn provider_time(&self) -> DateTime<Utc> {
        match self {
            MailboxChange::LinkSent { sent_at, .. } => *sent_at,
            MailboxChange::RecoveryContacts { updated_at, .. }
            | MailboxChange::PasswordReset { updated_at } => *updated_at,
            MailboxChange::ArubaContacts { at, .. } => *at,
        }
    }
}

/// The result of one action on one mailbox, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub address: String,
    pub member_id: Option<i64>,
    pub operator: String,
    pub at: DateTime<Utc>,
    /// What was done and how it went, in Italian. Never a password.
    pub detail: String,
    pub outcome: Outcome,
    pub change: Option<MailboxChange>,
    /// A failure with no answer from the provider (time-out, network): a retry
    /// keeps the idempotency key, since the request may have reached it.
    pub transient: bool,
}

/// Writes the audit event and the mailbox change of one action.
pub(crate) fn write_action(
    conn: &rusqlite::Connection,
    action: &ActionResult,
) -> rusqlite::Result<()> {
    if let (Some(MailboxChange::ArubaContacts { email, mobile, .. }), Outcome::Ok) =
        (&action.change, action.outcome)
    {
        super::aruba::write_contacts(conn, &action.address, email.as_deref(), mobile.as_deref())?;
    } else if let (Some(change), Outcome::Ok) = (&action.change, action.outcome) {
        let (sql, values): (&str, Vec<rusqlite::types::Value>) = match change {
            MailboxChange::LinkSent {
                sent_at,
                expires_at,
            } => (
                "password_state = ?3, link_sent_at = ?4, link_expires_at = ?5",
                vec![
                    PasswordState::ResetPending.code().to_string().into(),
                    ts(*sent_at).into(),
                    ts(*expires_at).into(),
                ],
            ),
            MailboxChange::RecoveryContacts {
                email_masked,
                mobile_masked,
                ..
            } => (
                "recovery_email_masked = ?3, recovery_mobile_masked = ?4",
                vec![email_masked.clone().into(), mobile_masked.clone().into()],
            ),
            MailboxChange::PasswordReset { .. } => (
                "password_state = ?3, must_change_password = 1, link_sent_at = NULL, link_expires_at = NULL",
                vec![PasswordState::Set.code().to_string().into()],
            ),
            MailboxChange::ArubaContacts { .. } => unreachable!("written to Aruba's table above"),
        };
        let mut params: Vec<rusqlite::types::Value> = vec![
            action.address.clone().into(),
            ts(change.provider_time()).into(),
        ];
        params.extend(values);
        conn.execute(
            &format!(
                "UPDATE mailboxes SET {sql},
                 provider_updated_at = CASE WHEN julianday(?2) > julianday(provider_updated_at)
                     THEN ?2 ELSE provider_updated_at END
                 WHERE address = ?1"
            ),
            rusqlite::params_from_iter(params),
        )?;
    }
    append(
        conn,
        &NewEvent {
            at: action.at,
            operator: action.operator.clone(),
            kind: EventKind::Action,
            member_id: action.member_id,
            mailbox: Some(action.address.clone()),
            detail: action.detail.clone(),
            outcome: Some(action.outcome),
        },
    )?;
    Ok(())
}

fn new_key() -> String {
    crate::provider::client::new_idempotency_key()
}

impl Store {
    /// Records a single action (not part of a job) and its result.
    pub fn record_action(&mut self, action: &ActionResult) -> Result<()> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        write_action(&tx, action).map_err(&to_err)?;
        tx.commit().map_err(&to_err)
    }

    /// Writes a job and all its items, each with a fresh idempotency key, in
    /// one transaction, before any request is sent.
    pub fn create_job(
        &mut self,
        kind: JobKind,
        operator: &str,
        items: &[NewJobItem],
        at: DateTime<Utc>,
    ) -> Result<i64> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        tx.execute(
            "INSERT INTO jobs (kind, operator, created_at, status) VALUES (?1, ?2, ?3, ?4)",
            params![kind.code(), operator, ts(at), JobStatus::Pending.code()],
        )
        .map_err(&to_err)?;
        let job_id = tx.last_insert_rowid();
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO job_items (job_id, position, address, member_id, idempotency_key,
                     payload, status, attempts, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)",
                )
                .map_err(&to_err)?;
            for (position, item) in items.iter().enumerate() {
                insert
                    .execute(params![
                        job_id,
                        position as i64,
                        item.address,
                        item.member_id,
                        new_key(),
                        item.payload,
                        ItemStatus::Pending.code(),
                        ts(at)
                    ])
                    .map_err(&to_err)?;
            }
        }
        tx.commit().map_err(&to_err)?;
        Ok(job_id)
    }

    pub fn job(&self, job_id: i64) -> Result<Option<Job>> {
        let row = self
            .conn
            .query_row(
                "SELECT id, kind, operator, created_at, status FROM jobs WHERE id = ?1",
                [job_id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err())?;
        row.map(|(id, kind, operator, created_at, status)| {
            Ok(Job {
                id,
                kind: JobKind::from_code(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("tipo di lavoro: {kind}")))?,
                operator,
                created_at: parse_ts(&created_at)?,
                status: JobStatus::from_code(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("stato del lavoro: {status}")))?,
                counts: self.job_counts(id)?,
            })
        })
        .transpose()
    }

    /// Jobs with items still to send that nobody cancelled, oldest first.
    pub fn unfinished_jobs(&self) -> Result<Vec<Job>> {
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT id FROM jobs WHERE status IN ('pending', 'paused') ORDER BY id",
                )
                .map_err(self.err())?;
            stmt.query_map([], |r| r.get(0))
                .map_err(self.err())?
                .collect::<rusqlite::Result<_>>()
                .map_err(self.err())?
        };
        let mut jobs = Vec::new();
        for id in ids {
            if let Some(job) = self.job(id)?
                && job.counts.pending > 0
            {
                jobs.push(job);
            }
        }
        Ok(jobs)
    }

    pub fn job_counts(&self, job_id: i64) -> Result<JobCounts> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT status, COUNT(*) FROM job_items WHERE job_id = ?1 GROUP BY status",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([job_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .map_err(self.err())?;
        let mut counts = JobCounts::default();
        for row in rows {
            let (status, n) = row.map_err(self.err())?;
            let n = n as usize;
            counts.total += n;
            match ItemStatus::from_code(&status) {
                Some(ItemStatus::Pending) => counts.pending += n,
                Some(ItemStatus::Done) => counts.done += n,
                // Not done, and never sent again on its own: the operator's.
                Some(ItemStatus::Failed | ItemStatus::InDoubt) => counts.failed += n,
                None => return Err(StoreError::Corrupt(format!("stato di una voce: {status}"))),
            }
        }
        Ok(counts)
    }

    fn items_where(&self, job_id: i64, status: ItemStatus) -> Result<Vec<JobItem>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT job_id, position, address, member_id, idempotency_key, payload, status,
                 attempts, result FROM job_items WHERE job_id = ?1 AND status = ?2 ORDER BY position",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![job_id, status.code()], |r| {
                Ok(JobItem {
                    job_id: r.get(0)?,
                    position: r.get(1)?,
                    address: r.get(2)?,
                    member_id: r.get(3)?,
                    idempotency_key: r.get(4)?,
                    payload: r.get(5)?,
                    status,
                    attempts: r.get(7)?,
                    result: r.get(8)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.err())
    }

    pub fn pending_items(&self, job_id: i64) -> Result<Vec<JobItem>> {
        self.items_where(job_id, ItemStatus::Pending)
    }

    pub fn failed_items(&self, job_id: i64) -> Result<Vec<JobItem>> {
        self.items_where(job_id, ItemStatus::Failed)
    }

    /// Stores one item's result, its audit event and the mailbox change in one
    /// transaction.
    pub fn finish_item(&mut self, item: &JobItem, action: &ActionResult) -> Result<()> {
        self.finish_items(&[(item.clone(), action.clone())])
    }

    /// Stores results that arrived together in one transaction: each with its
    /// audit event and mailbox change, all or none.
    pub fn finish_items(&mut self, results: &[(JobItem, ActionResult)]) -> Result<()> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE job_items SET status = ?3, attempts = attempts + 1, result = ?4,
                     transient = ?5, updated_at = ?6 WHERE job_id = ?1 AND position = ?2",
                )
                .map_err(&to_err)?;
            for (item, action) in results {
                let status = match action.outcome {
                    Outcome::Ok => ItemStatus::Done,
                    Outcome::Failed => ItemStatus::Failed,
                };
                update
                    .execute(params![
                        item.job_id,
                        item.position,
                        status.code(),
                        action.detail,
                        action.transient,
                        ts(action.at)
                    ])
                    .map_err(&to_err)?;
                write_action(&tx, action).map_err(&to_err)?;
            }
        }
        tx.commit().map_err(&to_err)
    }

    pub fn set_job_status(
        &mut self,
        job_id: i64,
        status: JobStatus,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.conn
            .execute(
                "UPDATE jobs SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![job_id, status.code(), ts(at)],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Puts the failed items back in the queue. A failure the provider answered
    /// gets a new key (the request must really be made again); one it never
    /// answered keeps its key, in case it did reach the provider.
    pub fn retry_failed(&mut self, job_id: i64, at: DateTime<Utc>) -> Result<usize> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        let positions: Vec<(i64, bool)> = {
            let mut stmt = tx
                .prepare("SELECT position, transient FROM job_items WHERE job_id = ?1 AND status = 'failed'")
                .map_err(&to_err)?;
            stmt.query_map([job_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(&to_err)?
                .collect::<rusqlite::Result<_>>()
                .map_err(&to_err)?
        };
        for &(position, transient) in &positions {
            let key = if transient { None } else { Some(new_key()) };
            tx.execute(
                "UPDATE job_items SET status = 'pending', result = NULL, updated_at = ?3,
                 idempotency_key = COALESCE(?4, idempotency_key)
                 WHERE job_id = ?1 AND position = ?2",
                params![job_id, position, ts(at), key],
            )
            .map_err(&to_err)?;
        }
        tx.execute(
            "UPDATE jobs SET status = 'pending', updated_at = ?2 WHERE id = ?1",
            params![job_id, ts(at)],
        )
        .map_err(&to_err)?;
        tx.commit().map_err(&to_err)?;
        Ok(positions.len())
    }
}

/// The schema of the queue (appended to the migrations).
pub const MIGRATION: &str = r#"
    CREATE TABLE jobs (
        id         INTEGER PRIMARY KEY,
        kind       TEXT NOT NULL,
        operator   TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT,
        status     TEXT NOT NULL
    );
    CREATE TABLE job_items (
        job_id          INTEGER NOT NULL REFERENCES jobs(id),
        position        INTEGER NOT NULL,
        address         TEXT NOT NULL,
        member_id       INTEGER REFERENCES members(id),
        idempotency_key TEXT NOT NULL UNIQUE,
        payload         TEXT,
        status          TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        result          TEXT,
        transient       INTEGER NOT NULL DEFAULT 0,
        updated_at      TEXT NOT NULL,
        PRIMARY KEY (job_id, position)
    );
    CREATE INDEX job_items_status ON job_items(job_id, status);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<NewJobItem> {
        (0..n)
            .map(|i| NewJobItem {
                address: format!("m{i}@pec.fofi.it"),
                member_id: None,
                payload: None,
            })
            .collect()
    }

    fn result(item: &JobItem, outcome: Outcome, transient: bool) -> ActionResult {
        ActionResult {
            address: item.address.clone(),
            member_id: None,
            operator: "anna".into(),
            at: Utc::now(),
            detail: "reinvio".into(),
            outcome,
            change: None,
            transient,
        }
    }

    #[test]
    fn a_job_is_stored_before_sending_and_tracks_each_result() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let id = store
            .create_job(JobKind::Resend, "anna", &items(5), Utc::now())
            .unwrap();
        let pending = store.pending_items(id).unwrap();
        assert_eq!(pending.len(), 5);
        let keys: std::collections::HashSet<_> =
            pending.iter().map(|i| &i.idempotency_key).collect();
        assert_eq!(keys.len(), 5);
        store
            .finish_item(&pending[0], &result(&pending[0], Outcome::Ok, false))
            .unwrap();
        store
            .finish_item(&pending[1], &result(&pending[1], Outcome::Failed, true))
            .unwrap();
        store
            .finish_item(&pending[2], &result(&pending[2], Outcome::Failed, false))
            .unwrap();
        let counts = store.job_counts(id).unwrap();
        assert_eq!(
            counts,
            JobCounts {
                total: 5,
                pending: 2,
                done: 1,
                failed: 2
            }
        );
        assert_eq!(store.unfinished_jobs().unwrap().len(), 1);
        // Reopening (as after a crash) sees the same queue.
        drop(store);
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(store.pending_items(id).unwrap().len(), 2);
        assert_eq!(store.retry_failed(id, Utc::now()).unwrap(), 2);
        let again = store.pending_items(id).unwrap();
        let transient = again.iter().find(|i| i.position == 1).unwrap();
        let answered = again.iter().find(|i| i.position == 2).unwrap();
        assert_eq!(transient.idempotency_key, pending[1].idempotency_key);
        assert_ne!(answered.idempotency_key, pending[2].idempotency_key);
        assert_eq!(
            store.timeline(None, Some("m0@pec.fofi.it")).unwrap().len(),
            1
        );
    }
}
