//! What the console shows of the reminders sent and their PEC receipts: per
//! member, when they were last reminded and whether their last PEC reminder
//! came back undelivered (compact: it is held for every member); the last
//! week's figures for the dashboard; and one member's reminders with their
//! receipts for the timeline.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use rusqlite::params;

use super::{Result, Store, parse_opt_ts, parse_ts, ts};

/// A reminder's state that means it may have reached the member: sent, or
/// in doubt (its data went out without a reply).
const REACHED: &str = "'sent', 'in_doubt'";

/// Days of reminders the dashboard sums.
pub const OUTREACH_DAYS: i64 = 7;

/// What one member's reminders say, in 8 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemberOutreach {
    /// The day of the last reminder that went out, as days from 1 January of
    /// year 1 (`NaiveDate::num_days_from_ce`); 0: never reminded.
    pub last_reminded: i32,
    /// The last PEC reminder came back undelivered (and was not delivered).
    pub undelivered: bool,
}

/// The dashboard's reminder figures over the last [`OUTREACH_DAYS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutreachWeek {
    /// Reminders that went out (or are in doubt), e-mail and PEC.
    pub sent: usize,
    /// Of the PEC ones, delivered (a delivery receipt).
    pub delivered: usize,
    /// Of the PEC ones, not delivered (a non-delivery receipt, no delivery).
    pub not_delivered: usize,
    /// Members reminded in the period.
    pub reminded: usize,
    /// Of those, how many completed the migration after their reminder.
    pub migrated_since: usize,
}

/// Everything the console holds about reminders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outreach {
    pub members: HashMap<i64, MemberOutreach>,
    pub week: OutreachWeek,
}

/// A receipt of a reminder, as the timeline shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailReceipt {
    /// daticert's `tipo`.
    pub kind: String,
    pub at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// One reminder to a member and its receipts, oldest receipt first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderTrail {
    pub template: String,
    /// `email` | `pec`.
    pub channel: String,
    /// `pending` | `in_doubt` | `sent` | `failed`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The server's words when it refused.
    pub smtp_reply: Option<String>,
    pub receipts: Vec<TrailReceipt>,
}

impl ReminderTrail {
    /// When it happened: sent, else written.
    pub fn at(&self) -> DateTime<Utc> {
        self.sent_at.unwrap_or(self.created_at)
    }
}

impl Store {
    /// Per member, the last reminder and the last PEC one's fate; and the
    /// last week's figures as of `now`.
    pub fn outreach(&self, now: DateTime<Utc>) -> Result<Outreach> {
        let mut members: HashMap<i64, MemberOutreach> = HashMap::new();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT member_id, max(COALESCE(sent_at, created_at)) FROM reminders
                 WHERE member_id IS NOT NULL AND state IN ({REACHED}) GROUP BY member_id"
            ))
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        for (member, at) in rows {
            let day = crate::i18n::italian_time(parse_ts(&at)?)
                .date()
                .num_days_from_ce();
            members.entry(member).or_default().last_reminded = day;
        }
        for undelivered in self.undelivered_reminders()? {
            members
                .entry(undelivered.member_id)
                .or_default()
                .undelivered = true;
        }
        let since = ts(now - TimeDelta::days(OUTREACH_DAYS));
        let week = self
            .conn
            .query_row(
                &format!(
                    "WITH recent AS (
                         SELECT id, member_id, channel, COALESCE(sent_at, created_at) AS at
                         FROM reminders WHERE state IN ({REACHED})
                           AND COALESCE(sent_at, created_at) >= ?1),
                     delivered AS (
                         SELECT DISTINCT reminder_id FROM receipts
                         WHERE kind = 'avvenuta-consegna' AND reminder_id IN (SELECT id FROM recent)),
                     failed AS (
                         SELECT DISTINCT reminder_id FROM receipts
                         WHERE kind IN ('non-accettazione', 'errore-consegna',
                                        'preavviso-errore-consegna', 'rilevazione-virus')
                           AND reminder_id IN (SELECT id FROM recent)
                           AND reminder_id NOT IN (SELECT reminder_id FROM delivered)),
                     first AS (
                         SELECT member_id, min(at) AS at FROM recent
                         WHERE member_id IS NOT NULL GROUP BY member_id)
                     SELECT
                         (SELECT count(*) FROM recent),
                         (SELECT count(*) FROM delivered),
                         (SELECT count(*) FROM failed),
                         (SELECT count(*) FROM first),
                         (SELECT count(*) FROM first f
                          JOIN members m ON m.id = f.member_id
                          JOIN mailboxes b ON b.address = lower(m.pec)
                          WHERE b.migration_state = 'completed' AND b.migration_at > f.at)"
                ),
                params![since],
                |row| {
                    Ok(OutreachWeek {
                        sent: row.get::<_, i64>(0)? as usize,
                        delivered: row.get::<_, i64>(1)? as usize,
                        not_delivered: row.get::<_, i64>(2)? as usize,
                        reminded: row.get::<_, i64>(3)? as usize,
                        migrated_since: row.get::<_, i64>(4)? as usize,
                    })
                },
            )
            .map_err(self.err())?;
        Ok(Outreach { members, week })
    }

    /// A member's reminders, newest first, each with its receipts.
    pub fn reminder_trail(&self, member_id: i64) -> Result<Vec<ReminderTrail>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, template, channel, state, created_at, sent_at, smtp_reply
                 FROM reminders WHERE member_id = ?1 ORDER BY created_at DESC, id DESC",
            )
            .map_err(self.err())?;
        type Row = (
            i64,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = stmt
            .query_map([member_id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                ))
            })
            .map_err(self.err())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.err())?;
        let mut receipts = self
            .conn
            .prepare_cached(
                "SELECT kind, at, error FROM receipts WHERE reminder_id = ?1
                 ORDER BY COALESCE(at, received_at), id",
            )
            .map_err(self.err())?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, template, channel, state, created_at, sent_at, smtp_reply) in rows {
            let raw = receipts
                .query_map([id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, Option<String>>(2)?,
                    ))
                })
                .map_err(self.err())?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.err())?;
            let receipts = raw
                .into_iter()
                .map(|(kind, at, error)| {
                    Ok(TrailReceipt {
                        kind,
                        at: parse_opt_ts(at)?,
                        error,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            out.push(ReminderTrail {
                template,
                channel,
                state,
                created_at: parse_ts(&created_at)?,
                sent_at: parse_opt_ts(sent_at)?,
                smtp_reply,
                receipts,
            });
        }
        Ok(out)
    }
}
