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
/// A reminder that counts as "reminded" (as the campaign's own rule): all
/// but the refused and the cancelled, queued ones included.
const COUNTING: &str = "'pending', 'deferred', 'sending', 'in_doubt', 'sent'";

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

    /// This reminder as the diagnosis weighs a member's last one.
    pub fn as_last_reminder(&self) -> crate::domain::diagnosis::LastReminder<'_> {
        use crate::domain::diagnosis::{LastReminder, ReminderOutcome};
        LastReminder {
            template: &self.template,
            pec: self.channel == "pec",
            at: self.at(),
            outcome: ReminderOutcome::of(
                &self.state,
                self.receipts.iter().map(|r| r.kind.as_str()),
            ),
        }
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
                 WHERE member_id IS NOT NULL AND state IN ({COUNTING}) GROUP BY member_id"
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

    /// The members in the lists known from receipts (see
    /// [`FROM_RECEIPTS`](crate::domain::category::FROM_RECEIPTS)) among `categories`.
    pub fn members_in_receipt_lists(
        &self,
        categories: &[crate::domain::Category],
    ) -> Result<std::collections::HashSet<i64>> {
        use crate::domain::category::FROM_RECEIPTS;
        // One list today (the undelivered); a second would need its own query.
        if !categories.iter().any(|c| FROM_RECEIPTS.contains(c)) {
            return Ok(Default::default());
        }
        Ok(self
            .undelivered_reminders()?
            .into_iter()
            .map(|u| u.member_id)
            .collect())
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::store::NewReceipt;

    fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, minute, 0)
            .unwrap()
    }

    /// Three members reminded by PEC: one delivered (and migrated since),
    /// one undelivered, one reminded long ago; one by e-mail.
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = ts(at(20, 9, 0));
        for (n, pec) in ["a", "b", "c", "d"].iter().enumerate() {
            store
                .conn
                .execute(
                    "INSERT INTO members (codice_fiscale, numero_iscrizione, cognome, nome, pec, created_at, updated_at)
                     VALUES (?1, ?1, 'Cognome', 'Nome', ?2, ?3, ?3)",
                    params![format!("CF{n}"), format!("{pec}@pec.fofi.it"), now],
                )
                .unwrap();
        }
        store
            .conn
            .execute(
                "INSERT INTO mailboxes (address, migration_state, migration_at, password_state,
                     recovery_confirmed, provider_updated_at, synced_at)
                 VALUES ('a@pec.fofi.it', 'completed', ?1, 'set', 0, ?1, ?1)",
                [ts(at(27, 15, 0))],
            )
            .unwrap();
        let reminders = [
            (1, "pec", "sent", at(27, 10, 24), "m1@pecdesk"),
            (2, "pec", "sent", at(27, 10, 24), "m2@pecdesk"),
            (3, "pec", "sent", at(2, 10, 0), "m3@pecdesk"),
            (4, "email", "sent", at(28, 8, 0), "m4@pecdesk"),
            (4, "email", "failed", at(28, 9, 0), "m5@pecdesk"),
        ];
        for (member, channel, state, sent, id) in reminders {
            store
                .conn
                .execute(
                    "INSERT INTO reminders (member_id, channel, template, recipient, subject,
                         message_id, state, smtp_reply, created_at, sent_at, updated_at)
                     VALUES (?1, ?2, 'migrazione', 'x', 'Migrazione', ?3, ?4,
                             CASE ?4 WHEN 'failed' THEN '550 5.1.1 mailbox unknown' END, ?5, ?5, ?5)",
                    params![member, channel, id, state, ts(sent)],
                )
                .unwrap();
        }
        let receipt = |n: usize, id: &str, kind: &str, when: DateTime<Utc>| NewReceipt {
            source_key: format!("k{n}"),
            message_id: id.into(),
            kind: kind.into(),
            at: Some(when),
            provider_id: None,
            recipient: None,
            error: (kind == "errore-consegna").then(|| "no-dest: casella inesistente".into()),
            file: None,
        };
        store
            .record_receipts(
                &[
                    receipt(1, "m1@pecdesk", "accettazione", at(27, 10, 25)),
                    receipt(2, "m1@pecdesk", "avvenuta-consegna", at(27, 10, 26)),
                    receipt(3, "m2@pecdesk", "accettazione", at(27, 10, 25)),
                    receipt(4, "m2@pecdesk", "errore-consegna", at(27, 10, 27)),
                ],
                None,
                at(27, 11, 0),
            )
            .unwrap();
        (dir, store)
    }

    #[test]
    fn the_week_and_each_member_are_summed_from_reminders_and_receipts() {
        let (_dir, store) = store();
        let outreach = store.outreach(at(29, 12, 0)).unwrap();
        assert_eq!(
            outreach.week,
            OutreachWeek {
                sent: 3,
                delivered: 1,
                not_delivered: 1,
                reminded: 3,
                migrated_since: 1,
            }
        );
        let day = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, d)
                .unwrap()
                .num_days_from_ce()
        };
        assert_eq!(
            outreach.members[&1],
            MemberOutreach {
                last_reminded: day(27),
                undelivered: false
            }
        );
        assert!(outreach.members[&2].undelivered);
        assert_eq!(outreach.members[&3].last_reminded, day(2));
        // The refused e-mail did not reach anyone: the 28th's sent one counts.
        assert_eq!(outreach.members[&4].last_reminded, day(28));
    }

    #[test]
    fn a_member_trail_lists_reminders_with_their_receipts() {
        let (_dir, store) = store();
        let trail = store.reminder_trail(2).unwrap();
        assert_eq!(trail.len(), 1);
        let kinds: Vec<&str> = trail[0].receipts.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["accettazione", "errore-consegna"]);
        assert_eq!(
            trail[0].receipts[1].error.as_deref(),
            Some("no-dest: casella inesistente")
        );
        let trail = store.reminder_trail(4).unwrap();
        assert_eq!(trail[0].state, "failed", "newest first");
        assert_eq!(
            trail[0].smtp_reply.as_deref(),
            Some("550 5.1.1 mailbox unknown")
        );
        assert!(store.reminder_trail(99).unwrap().is_empty());
    }

    #[test]
    fn the_undelivered_list_is_known_to_the_headless_selection() {
        use crate::domain::Category;
        let (_dir, store) = store();
        let ids = store
            .members_in_receipt_lists(&[Category::NotMigrated, Category::PecUndelivered])
            .unwrap();
        assert_eq!(ids, std::collections::HashSet::from([2]));
        assert!(
            store
                .members_in_receipt_lists(&[Category::NotMigrated])
                .unwrap()
                .is_empty()
        );
    }
}
