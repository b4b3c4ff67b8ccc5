//! Reminder campaigns in the store: a campaign is a job of the queue
//! (`JobKind::Reminder`) whose items each have a row in `reminders` with the
//! Message-ID pecdesk generated. The reminder's `state` is the truth about
//! what reached the server; the job item's status mirrors it for the queue's
//! counts:
//!
//! | reminder state | job item   | meaning                                          |
//! |----------------|------------|--------------------------------------------------|
//! | `pending`      | pending    | not sent yet                                     |
//! | `deferred`     | pending    | refused for now (4xx): tried again later          |
//! | `sending`      | pending    | committed just before the message went out       |
//! | `in_doubt`     | in_doubt   | went out without a reply: never sent again alone  |
//! | `sent`         | done       | the server took it (or a receipt says so)         |
//! | `failed`       | failed     | refused for good (5xx), with the server's words   |
//! | `cancelled`    | pending    | the campaign was cancelled before it went out     |

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::events::{EventKind, NewEvent, Outcome, append};
use super::jobs::{ItemStatus, JobKind, JobStatus};
use super::{Result, Store, StoreError, parse_ts, ts};

coded_enum! {
    /// Where one reminder stands (see the module's table).
    pub ReminderState {
        Pending => "pending",
        Deferred => "deferred",
        Sending => "sending",
        InDoubt => "in_doubt",
        Sent => "sent",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

/// One member's message, rendered, to write into a new campaign.
#[derive(Clone, PartialEq, Eq)]
pub struct NewReminder {
    pub member_id: i64,
    /// The PEC address or the service e-mail, by channel.
    pub recipient: String,
    /// The member's PEC address: the key of their audit trail.
    pub pec: String,
    pub subject: String,
    pub body: String,
}

impl std::fmt::Debug for NewReminder {
    /// The body is personal: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewReminder")
            .field("member_id", &self.member_id)
            .field("recipient", &self.recipient)
            .finish_non_exhaustive()
    }
}

/// A campaign to write, before its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCampaign {
    /// Template name (`migrazione`, ...).
    pub template: String,
    /// Channel code (`email`, `pec`).
    pub channel: String,
    pub reminders: Vec<NewReminder>,
}

/// One reminder of a campaign as the runner needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct CampaignItem {
    pub job_id: i64,
    pub position: i64,
    pub reminder_id: i64,
    pub member_id: Option<i64>,
    pub recipient: String,
    /// The member's PEC address (the audit trail's key), when known.
    pub pec: Option<String>,
    pub template: String,
    pub channel: String,
    pub subject: String,
    /// None once the member's data was erased.
    pub body: Option<String>,
    /// Without angle brackets, as stored.
    pub message_id: String,
    pub state: ReminderState,
    pub attempts: i64,
}

impl std::fmt::Debug for CampaignItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignItem")
            .field("reminder_id", &self.reminder_id)
            .field("recipient", &self.recipient)
            .field("message_id", &self.message_id)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What became of one reminder, to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderOutcome {
    pub job_id: i64,
    pub position: i64,
    pub state: ReminderState,
    /// The server's words (or the reason), never the body.
    pub reply: Option<String>,
    pub at: DateTime<Utc>,
}

/// A reminder whose message went out with no reply: the operator decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InDoubtReminder {
    pub reminder_id: i64,
    pub job_id: Option<i64>,
    pub member_id: Option<i64>,
    pub recipient: String,
    pub channel: String,
    pub template: String,
    pub message_id: String,
    /// When it went out.
    pub since: DateTime<Utc>,
    pub reply: Option<String>,
}

/// The operator's decision on an in-doubt reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoubtDecision {
    /// Put it back in its campaign, to go out again with the same Message-ID.
    SendAgain,
    /// The member has it: count it as sent.
    MarkSent,
}

/// The last reminder of a member that counts as "reminded" (anything but
/// failed or cancelled), for the "not reminded for N days" rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReminder {
    pub member_id: i64,
    pub at: DateTime<Utc>,
    pub template: String,
    pub channel: String,
    pub state: ReminderState,
}

fn item_status(state: ReminderState) -> ItemStatus {
    match state {
        ReminderState::Sent => ItemStatus::Done,
        ReminderState::Failed => ItemStatus::Failed,
        ReminderState::InDoubt => ItemStatus::InDoubt,
        ReminderState::Pending
        | ReminderState::Deferred
        | ReminderState::Sending
        | ReminderState::Cancelled => ItemStatus::Pending,
    }
}

/// An event about a whole campaign (no one member).
fn campaign_event(at: DateTime<Utc>, operator: &str, detail: String) -> NewEvent {
    NewEvent {
        at,
        operator: operator.to_string(),
        kind: EventKind::Reminder,
        member_id: None,
        mailbox: None,
        detail,
        outcome: None,
    }
}

fn channel_label(channel: &str) -> &str {
    match channel {
        "pec" => "PEC",
        "email" => "e-mail",
        other => other,
    }
}

/// The audit text of a reminder's outcome: template, channel, recipient,
/// Message-ID, and the server's words when refused. Never the body.
fn outcome_detail(
    template: &str,
    channel: &str,
    recipient: &str,
    message_id: &str,
    state: ReminderState,
    reply: Option<&str>,
) -> String {
    let what = match state {
        ReminderState::Sent => "inviato",
        ReminderState::Failed => "non inviato",
        ReminderState::InDoubt => "esito incerto (inviato senza risposta del server)",
        ReminderState::Deferred => "rinviato (rifiuto temporaneo)",
        ReminderState::Pending => "di nuovo in coda",
        ReminderState::Sending => "in invio",
        ReminderState::Cancelled => "annullato",
    };
    let reply = reply.map(|r| format!(": {r}")).unwrap_or_default();
    format!(
        "sollecito «{template}» via {} a {recipient}: {what}{reply} (Message-ID <{message_id}>)",
        channel_label(channel)
    )
}

/// Reads the channel-and-template of a campaign's reminders.
const ITEM_SELECT: &str = "SELECT i.job_id, i.position, r.id, r.member_id, r.recipient,
        m.pec, r.template, r.channel, r.subject, i.payload, r.message_id, r.state, i.attempts
     FROM job_items i
     JOIN reminders r ON r.job_id = i.job_id AND r.position = i.position
     LEFT JOIN members m ON m.id = r.member_id";

fn read_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<(CampaignItem, String)> {
    let payload: Option<String> = row.get(9)?;
    let body = payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
        .and_then(|v| v.get("body").and_then(|b| b.as_str()).map(str::to_owned));
    let state: String = row.get(11)?;
    Ok((
        CampaignItem {
            job_id: row.get(0)?,
            position: row.get(1)?,
            reminder_id: row.get(2)?,
            member_id: row.get(3)?,
            recipient: row.get(4)?,
            pec: row.get::<_, Option<String>>(5)?.filter(|p| !p.is_empty()),
            template: row.get(6)?,
            channel: row.get(7)?,
            subject: row.get(8)?,
            body,
            message_id: row.get(10)?,
            state: ReminderState::Pending,
            attempts: row.get(12)?,
        },
        state,
    ))
}

fn with_state((mut item, state): (CampaignItem, String)) -> Result<CampaignItem> {
    item.state = ReminderState::from_code(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("stato di un sollecito: {state}")))?;
    Ok(item)
}

impl Store {
    /// Writes a campaign before its first message, in one transaction: the
    /// job, one item per member (its key is the Message-ID) with the body, one
    /// `reminders` row per member in state `pending`, and the campaign's
    /// event. `message_id(job_id, position)` makes each Message-ID, without
    /// angle brackets.
    pub fn create_campaign(
        &mut self,
        campaign: &NewCampaign,
        operator: &str,
        at: DateTime<Utc>,
        message_id: impl Fn(i64, i64) -> String,
    ) -> Result<i64> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        tx.execute(
            "INSERT INTO jobs (kind, operator, created_at, status) VALUES (?1, ?2, ?3, ?4)",
            params![
                JobKind::Reminder.code(),
                operator,
                ts(at),
                JobStatus::Pending.code()
            ],
        )
        .map_err(&to_err)?;
        let job_id = tx.last_insert_rowid();
        {
            let mut item = tx
                .prepare_cached(
                    "INSERT INTO job_items (job_id, position, address, member_id, idempotency_key,
                     payload, status, attempts, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7)",
                )
                .map_err(&to_err)?;
            let mut reminder = tx
                .prepare_cached(
                    "INSERT INTO reminders (job_id, position, member_id, channel, template,
                     recipient, subject, message_id, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?9)",
                )
                .map_err(&to_err)?;
            let now = ts(at);
            for (position, r) in campaign.reminders.iter().enumerate() {
                let position = position as i64;
                let id = message_id(job_id, position);
                let payload = serde_json::json!({ "body": r.body }).to_string();
                item.execute(params![
                    job_id,
                    position,
                    r.recipient,
                    r.member_id,
                    id,
                    payload,
                    now
                ])
                .map_err(&to_err)?;
                reminder
                    .execute(params![
                        job_id,
                        position,
                        r.member_id,
                        campaign.channel,
                        campaign.template,
                        r.recipient,
                        r.subject,
                        id,
                        now
                    ])
                    .map_err(&to_err)?;
            }
        }
        append(
            &tx,
            &campaign_event(
                at,
                operator,
                format!(
                    "campagna di solleciti {job_id}: «{}» via {} a {} iscritti",
                    campaign.template,
                    channel_label(&campaign.channel),
                    campaign.reminders.len()
                ),
            ),
        )
        .map_err(&to_err)?;
        tx.commit().map_err(&to_err)?;
        Ok(job_id)
    }

    /// Every reminder of campaign `job_id`, in order.
    pub fn campaign_items(&self, job_id: i64) -> Result<Vec<CampaignItem>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "{ITEM_SELECT} WHERE i.job_id = ?1 ORDER BY i.position"
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map([job_id], read_item)
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter().map(with_state).collect()
    }

    /// The channel code of campaign `job_id` (None: not a campaign, or empty).
    pub fn campaign_channel(&self, job_id: i64) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT channel FROM reminders WHERE job_id = ?1 LIMIT 1",
                [job_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// Marks reminders `sending` and commits, before their data goes out: a
    /// crash after this leaves them in doubt, never sent again on their own.
    pub fn mark_sending(&mut self, items: &[(i64, i64)], at: DateTime<Utc>) -> Result<()> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        {
            let mut update = tx
                .prepare_cached(
                    "UPDATE reminders SET state = 'sending', updated_at = ?3
                     WHERE job_id = ?1 AND position = ?2",
                )
                .map_err(&to_err)?;
            for &(job_id, position) in items {
                update
                    .execute(params![job_id, position, ts(at)])
                    .map_err(&to_err)?;
            }
        }
        tx.commit().map_err(&to_err)
    }

    /// Stores outcomes that arrived together in one transaction, each with
    /// its job item and, unless only deferred, its event in the member's trail.
    pub fn finish_reminders(&mut self, outcomes: &[ReminderOutcome], operator: &str) -> Result<()> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        for o in outcomes {
            write_outcome(&tx, o, operator, None).map_err(&to_err)?;
        }
        tx.commit().map_err(&to_err)
    }

    /// On resume: every reminder of `job_id` left `sending` by a run that died
    /// went out, or not, with no reply seen: it becomes in doubt. Returns how many.
    pub fn recover_interrupted(
        &mut self,
        job_id: i64,
        operator: &str,
        at: DateTime<Utc>,
    ) -> Result<usize> {
        let interrupted: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT position FROM reminders WHERE job_id = ?1 AND state = 'sending'",
                )
                .map_err(self.err())?;
            stmt.query_map([job_id], |r| r.get(0))
                .map_err(self.err())?
                .collect::<rusqlite::Result<_>>()
                .map_err(self.err())?
        };
        let outcomes: Vec<ReminderOutcome> = interrupted
            .iter()
            .map(|&position| ReminderOutcome {
                job_id,
                position,
                state: ReminderState::InDoubt,
                reply: Some("invio interrotto: nessuna risposta del server registrata".into()),
                at,
            })
            .collect();
        self.finish_reminders(&outcomes, operator)?;
        Ok(outcomes.len())
    }

    /// Settles in-doubt reminders by the PEC receipts stored for their
    /// Message-ID: an acceptance (or any later receipt) proves the provider
    /// took the message, so it is sent; a non-acceptance proves it did not,
    /// so it failed (and may be retried). Returns the reminders settled.
    pub fn settle_in_doubt_by_receipts(
        &mut self,
        operator: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<InDoubtReminder>> {
        let settled: Vec<(InDoubtReminder, String, Option<String>)> = {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "{IN_DOUBT_SELECT}, (SELECT c.kind FROM receipts c WHERE c.reminder_id = r.id
                        ORDER BY CASE c.kind WHEN 'non-accettazione' THEN 1 ELSE 0 END, c.id LIMIT 1),
                       (SELECT c.provider_id FROM receipts c WHERE c.reminder_id = r.id
                        ORDER BY CASE c.kind WHEN 'non-accettazione' THEN 1 ELSE 0 END, c.id LIMIT 1)
                     FROM reminders r WHERE r.state = 'in_doubt'
                       AND EXISTS (SELECT 1 FROM receipts c WHERE c.reminder_id = r.id)
                     ORDER BY r.id"
                ))
                .map_err(self.err())?;
            let rows = stmt
                .query_map([], |row| {
                    Ok((read_in_doubt(row)?, row.get(9)?, row.get(10)?))
                })
                .map_err(self.err())?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err())?;
            rows.into_iter()
                .map(|((r, since), kind, provider)| Ok((with_since(r, since)?, kind, provider)))
                .collect::<Result<_>>()?
        };
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        for (r, kind, provider) in &settled {
            let (state, words) = if kind == "non-accettazione" {
                (ReminderState::Failed, "ricevuta di non accettazione")
            } else {
                (ReminderState::Sent, "confermato dalla ricevuta")
            };
            let reply = format!(
                "{words} «{kind}»{}",
                provider
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            );
            settle_reminder(&tx, r.reminder_id, state, &reply, operator, at).map_err(&to_err)?;
        }
        tx.commit().map_err(&to_err)?;
        Ok(settled.into_iter().map(|(r, _, _)| r).collect())
    }

    /// The reminders in doubt, oldest first (of one campaign, or all).
    pub fn in_doubt_reminders(&self, job_id: Option<i64>) -> Result<Vec<InDoubtReminder>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "{IN_DOUBT_SELECT} FROM reminders r WHERE r.state = 'in_doubt'
                   AND (?1 IS NULL OR r.job_id = ?1) ORDER BY r.id"
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map([job_id], read_in_doubt)
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter().map(|(r, s)| with_since(r, s)).collect()
    }

    /// Applies the operator's decision to in-doubt reminders `ids` (others
    /// are refused by name). Send again puts them back in their campaign,
    /// which is then pending again; the caller runs it.
    pub fn resolve_in_doubt(
        &mut self,
        ids: &[i64],
        decision: DoubtDecision,
        operator: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<i64>> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        let mut jobs = Vec::new();
        for &id in ids {
            let found: Option<(String, Option<i64>)> = tx
                .query_row(
                    "SELECT state, job_id FROM reminders WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(&to_err)?;
            match found {
                Some((state, job)) if state == ReminderState::InDoubt.code() => {
                    let (state, words) = match decision {
                        DoubtDecision::SendAgain => (
                            ReminderState::Pending,
                            "l'operatore ha deciso di inviarlo di nuovo",
                        ),
                        DoubtDecision::MarkSent => {
                            (ReminderState::Sent, "segnato come inviato dall'operatore")
                        }
                    };
                    settle_reminder(&tx, id, state, words, operator, at).map_err(&to_err)?;
                    if let Some(job) = job
                        && decision == DoubtDecision::SendAgain
                    {
                        tx.execute(
                            "UPDATE jobs SET status = 'pending', updated_at = ?2 WHERE id = ?1",
                            params![job, ts(at)],
                        )
                        .map_err(&to_err)?;
                        if !jobs.contains(&job) {
                            jobs.push(job);
                        }
                    }
                }
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "il sollecito {id} non è in stato incerto"
                    )));
                }
            }
        }
        tx.commit().map_err(&to_err)?;
        Ok(jobs)
    }

    /// Puts the failed reminders of `job_id` back in the queue (same
    /// Message-ID: the server refused them, so none reached the member).
    pub fn retry_failed_reminders(&mut self, job_id: i64, at: DateTime<Utc>) -> Result<usize> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        let n = tx
            .execute(
                "UPDATE reminders SET state = 'pending', updated_at = ?2
                 WHERE job_id = ?1 AND state = 'failed'",
                params![job_id, ts(at)],
            )
            .map_err(&to_err)?;
        tx.execute(
            "UPDATE job_items SET status = 'pending', result = NULL, updated_at = ?2
             WHERE job_id = ?1 AND status = 'failed'",
            params![job_id, ts(at)],
        )
        .map_err(&to_err)?;
        tx.execute(
            "UPDATE jobs SET status = 'pending', updated_at = ?2 WHERE id = ?1",
            params![job_id, ts(at)],
        )
        .map_err(&to_err)?;
        tx.commit().map_err(&to_err)?;
        Ok(n)
    }

    /// A cancelled campaign: what did not go out is `cancelled` (it will not
    /// go out later), the job too. Returns how many reminders were cancelled.
    pub fn cancel_campaign(
        &mut self,
        job_id: i64,
        operator: &str,
        at: DateTime<Utc>,
    ) -> Result<usize> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        let n = tx
            .execute(
                "UPDATE reminders SET state = 'cancelled', updated_at = ?2
                 WHERE job_id = ?1 AND state IN ('pending', 'deferred')",
                params![job_id, ts(at)],
            )
            .map_err(&to_err)?;
        tx.execute(
            "UPDATE jobs SET status = 'cancelled', updated_at = ?2 WHERE id = ?1",
            params![job_id, ts(at)],
        )
        .map_err(&to_err)?;
        append(
            &tx,
            &campaign_event(
                at,
                operator,
                format!("campagna di solleciti {job_id} annullata: {n} solleciti non inviati"),
            ),
        )
        .map_err(&to_err)?;
        tx.commit().map_err(&to_err)?;
        Ok(n)
    }

    /// How many messages of `channel` went out (or may have) since `since`:
    /// what the daily cap counts.
    pub fn reminders_sent_since(&self, channel: &str, since: DateTime<Utc>) -> Result<usize> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM reminders WHERE channel = ?1
                   AND state IN ('sent', 'in_doubt', 'sending')
                   AND julianday(COALESCE(sent_at, updated_at)) >= julianday(?2)",
                params![channel, ts(since)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(self.err())
    }

    /// Each member's latest reminder that counts (not failed, not cancelled),
    /// by when it was sent or, if not yet, queued.
    pub fn last_reminders(&self) -> Result<Vec<LastReminder>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT member_id, COALESCE(sent_at, created_at) AS at, template, channel, state
                 FROM reminders r
                 WHERE member_id IS NOT NULL AND state NOT IN ('failed', 'cancelled')
                   AND r.id = (SELECT l.id FROM reminders l WHERE l.member_id = r.member_id
                               AND l.state NOT IN ('failed', 'cancelled')
                               ORDER BY COALESCE(l.sent_at, l.created_at) DESC, l.id DESC LIMIT 1)",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        rows.into_iter()
            .map(|(member_id, at, template, channel, state)| {
                Ok(LastReminder {
                    member_id,
                    at: parse_ts(&at)?,
                    template,
                    channel,
                    state: ReminderState::from_code(&state).ok_or_else(|| {
                        StoreError::Corrupt(format!("stato di un sollecito: {state}"))
                    })?,
                })
            })
            .collect()
    }
}

const IN_DOUBT_SELECT: &str = "SELECT r.id, r.job_id, r.member_id, r.recipient, r.channel,
        r.template, r.message_id, COALESCE(r.sent_at, r.updated_at), r.smtp_reply";

fn read_in_doubt(row: &rusqlite::Row<'_>) -> rusqlite::Result<(InDoubtReminder, String)> {
    Ok((
        InDoubtReminder {
            reminder_id: row.get(0)?,
            job_id: row.get(1)?,
            member_id: row.get(2)?,
            recipient: row.get(3)?,
            channel: row.get(4)?,
            template: row.get(5)?,
            message_id: row.get(6)?,
            since: DateTime::<Utc>::MIN_UTC,
            reply: row.get(8)?,
        },
        row.get(7)?,
    ))
}

fn with_since(mut r: InDoubtReminder, since: String) -> Result<InDoubtReminder> {
    r.since = parse_ts(&since)?;
    Ok(r)
}

/// A reminder's id, member, template, channel, recipient, Message-ID, PEC.
type TrailRow = (
    i64,
    Option<i64>,
    String,
    String,
    String,
    String,
    Option<String>,
);

/// Stores one outcome: the reminder's state and reply, the job item's status,
/// and (unless merely deferred or queued again) the event in the member's
/// trail. `words` overrides the event's text.
fn write_outcome(
    tx: &rusqlite::Connection,
    o: &ReminderOutcome,
    operator: &str,
    words: Option<&str>,
) -> rusqlite::Result<()> {
    let sent_at = matches!(o.state, ReminderState::Sent | ReminderState::InDoubt).then(|| ts(o.at));
    let row: Option<TrailRow> = tx
        .query_row(
            "UPDATE reminders SET state = ?3, smtp_reply = COALESCE(?4, smtp_reply),
                 sent_at = COALESCE(sent_at, ?5), updated_at = ?6
             WHERE job_id = ?1 AND position = ?2
             RETURNING id, member_id, template, channel, recipient, message_id,
                 (SELECT pec FROM members WHERE id = member_id)",
            params![
                o.job_id,
                o.position,
                o.state.code(),
                o.reply,
                sent_at,
                ts(o.at)
            ],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?;
    let counted = !matches!(o.state, ReminderState::Deferred | ReminderState::Pending);
    tx.execute(
        "UPDATE job_items SET status = ?3, attempts = attempts + ?4, result = ?5,
             transient = ?6, updated_at = ?7
         WHERE job_id = ?1 AND position = ?2",
        params![
            o.job_id,
            o.position,
            item_status(o.state).code(),
            i64::from(o.state != ReminderState::Pending),
            o.reply,
            o.state == ReminderState::InDoubt,
            ts(o.at)
        ],
    )?;
    let Some((_, member_id, template, channel, recipient, message_id, pec)) = row else {
        return Ok(());
    };
    if !counted && words.is_none() {
        return Ok(());
    }
    let detail = match words {
        Some(words) => format!(
            "sollecito «{template}» via {} a {recipient}: {words} (Message-ID <{message_id}>)",
            channel_label(&channel)
        ),
        None => outcome_detail(
            &template,
            &channel,
            &recipient,
            &message_id,
            o.state,
            o.reply.as_deref(),
        ),
    };
    append(
        tx,
        &NewEvent {
            at: o.at,
            operator: operator.to_string(),
            kind: EventKind::Reminder,
            member_id,
            mailbox: pec.filter(|p| !p.is_empty()),
            detail,
            outcome: match o.state {
                ReminderState::Sent => Some(Outcome::Ok),
                ReminderState::Failed | ReminderState::InDoubt => Some(Outcome::Failed),
                _ => None,
            },
        },
    )?;
    Ok(())
}

/// Settles one reminder by id (an operator's decision or a receipt).
fn settle_reminder(
    tx: &rusqlite::Connection,
    reminder_id: i64,
    state: ReminderState,
    words: &str,
    operator: &str,
    at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let (job_id, position): (Option<i64>, Option<i64>) = tx.query_row(
        "SELECT job_id, position FROM reminders WHERE id = ?1",
        [reminder_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (Some(job_id), Some(position)) = (job_id, position) else {
        tx.execute(
            "UPDATE reminders SET state = ?2, updated_at = ?3 WHERE id = ?1",
            params![reminder_id, state.code(), ts(at)],
        )?;
        return Ok(());
    };
    write_outcome(
        tx,
        &ReminderOutcome {
            job_id,
            position,
            state,
            reply: Some(words.to_string()),
            at,
        },
        operator,
        Some(words),
    )
}
