//! Mailbox states as last seen at the provider, and the record of sync runs.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::events::{EventKind, NewEvent, Outcome, append};
use super::{Result, Store, parse_opt_ts, parse_ts, ts};
use crate::domain::{MailboxState, MigrationState, PasswordState, RecoveryContacts};

/// What applying a sync did to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Mailboxes received from the provider.
    pub mailboxes: usize,
    pub new_mailboxes: usize,
    /// State changes recorded as events.
    pub changes: usize,
    /// Mailboxes stored before that the provider no longer has (complete runs only).
    pub gone: usize,
    /// Only what changed since the last run was fetched.
    pub incremental: bool,
    /// Mailboxes left alone because the store already had a newer state
    /// (a report dated before it).
    pub older_skipped: usize,
}

/// Where a batch came from other than the provider's API: a report file.
#[derive(Debug, Clone, Copy)]
pub struct BatchSource<'a> {
    /// The report's file name, named in each change event.
    pub file: &'a str,
    /// Only mailboxes of this domain can be gone from a complete report.
    pub domain: Option<&'a str>,
    /// Work out the outcome, then roll everything back.
    pub dry_run: bool,
    /// The date the report's states refer to, kept with its run.
    pub as_of: Option<DateTime<Utc>>,
}

/// The run table learns which runs were reports, and of what date: the
/// console of an Ordine without an API shows the last report's date.
pub const REPORT_RUNS_MIGRATION: &str = "
    ALTER TABLE sync_runs ADD COLUMN report_file TEXT;
    ALTER TABLE sync_runs ADD COLUMN report_as_of TEXT;
";

/// The last report stored: its file, the date of its states, when it was loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRun {
    pub file: String,
    pub as_of: Option<DateTime<Utc>>,
    pub loaded_at: DateTime<Utc>,
}

/// What one sync fetched, to store.
#[derive(Debug, Clone, Copy)]
pub struct SyncBatch<'a> {
    pub states: &'a [MailboxState],
    /// Every mailbox at the provider, so the ones missing are gone. An
    /// incremental run is not complete and never removes anything.
    pub complete: bool,
    /// Where the next incremental run starts (`updated_since`).
    pub watermark: Option<DateTime<Utc>>,
}

/// Where the next sync may start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncCheckpoint {
    /// `updated_since` for the next incremental run.
    pub watermark: DateTime<Utc>,
    /// When the last complete run finished, if any did.
    pub last_complete_at: Option<DateTime<Utc>>,
}

/// One recorded sync run (as `pecdesk report --json` prints it, too).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SyncRun {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub ok: bool,
    pub mailboxes: i64,
    pub changes: i64,
    pub error: Option<String>,
}

/// The differences between two states of one mailbox, in the log's words.
pub fn describe_changes(old: &MailboxState, new: &MailboxState) -> Vec<String> {
    let mut changes = Vec::new();
    if old.migration != new.migration {
        changes.push(format!(
            "migrazione: {} → {}",
            old.migration.label_it(),
            new.migration.label_it()
        ));
    }
    if old.password != new.password {
        changes.push(format!(
            "password: {} → {}",
            old.password.label_it(),
            new.password.label_it()
        ));
    } else if old.link_sent_at != new.link_sent_at && new.link_sent_at.is_some() {
        changes.push("nuovo link di recupero inviato".to_string());
    }
    if old.recovery != new.recovery {
        let show = |r: &RecoveryContacts| {
            let parts: Vec<&str> = [r.email_masked.as_deref(), r.mobile_masked.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if parts.is_empty() {
                "nessuno".to_string()
            } else {
                parts.join(", ")
            }
        };
        if old.recovery.email_masked != new.recovery.email_masked
            || old.recovery.mobile_masked != new.recovery.mobile_masked
        {
            changes.push(format!(
                "contatti di recupero: {} → {}",
                show(&old.recovery),
                show(&new.recovery)
            ));
        }
        if !old.recovery.confirmed && new.recovery.confirmed {
            changes.push("contatti di recupero confermati al primo accesso".to_string());
        }
    }
    if old.last_login_at != new.last_login_at && new.last_login_at.is_some() {
        changes.push("nuovo accesso".to_string());
    }
    if old.must_change_password != new.must_change_password {
        changes.push(if new.must_change_password {
            "cambio password richiesto al prossimo accesso".to_string()
        } else {
            "password temporanea cambiata".to_string()
        });
    }
    changes
}

impl Store {
    /// How many mailbox states are stored.
    pub fn mailbox_count(&self) -> Result<usize> {
        let count: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM mailboxes", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(usize::try_from(count).unwrap_or_default())
    }

    /// Every stored mailbox state.
    pub fn mailbox_states(&self) -> Result<Vec<MailboxState>> {
        let mut states = Vec::with_capacity(self.mailbox_count()?);
        self.each_mailbox_state(None, |state| states.push(state))?;
        Ok(states)
    }

    /// Every stored mailbox state (or only `address`'s), one at a time: the
    /// console's load keeps a few facts of each, never the whole list.
    pub fn each_mailbox_state(
        &self,
        address: Option<&str>,
        mut each: impl FnMut(MailboxState),
    ) -> Result<()> {
        // One address through the primary key; an `OR` would scan the table.
        let mut stmt = match address {
            Some(_) => self.conn.prepare_cached(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE address = ?1"
            )),
            None => self.conn.prepare_cached(&format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE ?1 IS NULL"
            )),
        }
        .map_err(self.err())?;
        let rows = stmt
            .query_map([address], mailbox_state)
            .map_err(self.err())?;
        for row in rows {
            each(row.map_err(self.err())?);
        }
        Ok(())
    }

    /// Stores the states of a complete sync, without a watermark.
    pub fn apply_sync(
        &mut self,
        states: &[MailboxState],
        operator: &str,
        started_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<SyncOutcome> {
        let batch = SyncBatch {
            states,
            complete: true,
            watermark: None,
        };
        self.apply_sync_batch(batch, operator, started_at, at)
    }

    /// Stores the states a sync fetched, in one transaction, logging each change
    /// against the mailbox (and its member, when the roster has one). A
    /// complete batch also removes, with an event, the mailboxes the provider
    /// no longer has.
    pub fn apply_sync_batch(
        &mut self,
        batch: SyncBatch<'_>,
        operator: &str,
        started_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<SyncOutcome> {
        self.apply_batch(batch, None, operator, started_at, at)
    }

    /// Stores the states read from a report file exactly as a sync stores
    /// the API's: same tables, same events (naming the file), same rule that
    /// an older state never replaces a newer one. A complete report that
    /// would remove every stored mailbox of the domain is refused.
    pub fn apply_report_batch(
        &mut self,
        batch: SyncBatch<'_>,
        source: BatchSource<'_>,
        operator: &str,
        started_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<SyncOutcome> {
        self.apply_batch(batch, Some(source), operator, started_at, at)
    }

    fn apply_batch(
        &mut self,
        batch: SyncBatch<'_>,
        source: Option<BatchSource<'_>>,
        operator: &str,
        started_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<SyncOutcome> {
        let states = batch.states;
        let in_scope = |address: &str| {
            source
                .and_then(|s| s.domain)
                .is_none_or(|domain| address.rsplit_once('@').is_some_and(|(_, d)| d == domain))
        };
        let with_source = |detail: String| match source {
            Some(source) => format!("{detail} (report {})", source.file),
            None => detail,
        };
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        // Read within the transaction, so that what is compared below is
        // what is stored, and each row's rowid still names it when written.
        let previous = stored_mailboxes(&tx).map_err(&to_err)?;
        let mut outcome = SyncOutcome {
            mailboxes: states.len(),
            incremental: !batch.complete,
            ..SyncOutcome::default()
        };
        let now = ts(at);
        {
            let mut writes = MailboxWrites::prepare(&tx).map_err(&to_err)?;
            // In address order (the same address keeping its place): the
            // table's key and the index of the counts' facts are then
            // written page after page, not all over. A first sync of a
            // million mailboxes: 16 s as listed, 8 s sorted, with the index.
            let mut order: Vec<usize> = (0..states.len()).collect();
            order.sort_by(|&a, &b| states[a].address.cmp(&states[b].address));
            let address = |k: usize| order.get(k).map(|&i| states[i].address.as_str());
            // New mailboxes are inserted many to a statement (see
            // `insert_new`), except an address listed twice.
            let mut new: Vec<&MailboxState> = Vec::with_capacity(INSERT_ROWS);
            for (k, state) in order.iter().map(|&i| &states[i]).enumerate() {
                let old = previous.get(state.address.as_str());
                let applied = match old {
                    None => {
                        outcome.new_mailboxes += 1;
                        let once = k.checked_sub(1).and_then(address) != Some(&state.address)
                            && address(k + 1) != Some(&state.address);
                        if once {
                            new.push(state);
                            if new.len() == INSERT_ROWS {
                                writes.insert_new(&new, &now).map_err(&to_err)?;
                                new.clear();
                            }
                            continue;
                        }
                        writes.insert(state, &now)
                    }
                    // Nothing the provider reports changed: no write at all.
                    Some(old) if old.state == *state => continue,
                    Some(old) => writes.update(old, state, &now),
                }
                .map_err(&to_err)?;
                // An action stored while this sync was fetching is newer than
                // what the provider listed: the guard of the writes keeps it.
                if applied == 0 {
                    outcome.older_skipped += 1;
                    continue;
                }
                let Some(old) = old else { continue };
                let changes = describe_changes(&old.state, state);
                if changes.is_empty() {
                    continue;
                }
                let member_id = member_of(&tx, &state.address).map_err(&to_err)?;
                for detail in changes {
                    outcome.changes += 1;
                    append(
                        &tx,
                        &NewEvent {
                            at,
                            operator: operator.to_string(),
                            kind: EventKind::StateChanged,
                            member_id,
                            mailbox: Some(state.address.clone()),
                            detail: with_source(detail),
                            outcome: None,
                        },
                    )
                    .map_err(&to_err)?;
                }
            }
            writes.insert_new(&new, &now).map_err(&to_err)?;
            drop(new);
            if batch.complete {
                let fetched: foldhash::HashSet<&str> =
                    states.iter().map(|s| s.address.as_str()).collect();
                let mut gone: Vec<&String> = previous
                    .keys()
                    .filter(|a| !fetched.contains(a.as_str()))
                    .collect();
                gone.sort();
                if let Some(source) = source {
                    let stored = previous.keys().filter(|a| in_scope(a)).count();
                    gone.retain(|a| in_scope(a));
                    if stored > 0 && gone.len() == stored {
                        return Err(super::StoreError::ReportRemovesAll {
                            file: source.file.to_string(),
                            stored,
                        });
                    }
                    // A mailbox the store knows in a state newer than the
                    // report is not gone on the report's word.
                    let as_of = states.iter().map(|s| s.updated_at).max();
                    gone.retain(|a| {
                        let newer = as_of
                            .is_some_and(|as_of| previous[a.as_str()].state.updated_at > as_of);
                        if newer {
                            outcome.older_skipped += 1;
                        }
                        !newer
                    });
                }
                let mut delete = tx
                    .prepare_cached("DELETE FROM mailboxes WHERE address = ?1")
                    .map_err(&to_err)?;
                for address in gone {
                    delete.execute(params![address]).map_err(&to_err)?;
                    outcome.gone += 1;
                    append(
                        &tx,
                        &NewEvent {
                            at,
                            operator: operator.to_string(),
                            kind: EventKind::StateChanged,
                            member_id: member_of(&tx, address).map_err(&to_err)?,
                            mailbox: Some(address.clone()),
                            detail: with_source(
                                "casella non più presente presso il gestore".to_string(),
                            ),
                            outcome: None,
                        },
                    )
                    .map_err(&to_err)?;
                }
            }
            let run = RunRecord {
                started_at,
                at,
                error: None,
                outcome: &outcome,
                watermark: batch.watermark,
                report: source.map(|s| (s.file, s.as_of)),
            };
            record_run(&tx, &run, operator).map_err(&to_err)?;
        }
        if source.is_some_and(|s| s.dry_run) {
            tx.rollback().map_err(&to_err)?;
        } else {
            tx.commit().map_err(&to_err)?;
        }
        Ok(outcome)
    }

    /// Records a sync that failed, so the dashboard can say so.
    pub fn record_sync_failure(
        &mut self,
        operator: &str,
        started_at: DateTime<Utc>,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        let run = RunRecord {
            started_at,
            at,
            error: Some(error),
            outcome: &SyncOutcome::default(),
            watermark: None,
            report: None,
        };
        record_run(&tx, &run, operator).map_err(&to_err)?;
        tx.commit().map_err(&to_err)
    }

    /// The watermark of the last successful run that recorded one, and when
    /// the last complete run finished; None before any such run.
    pub fn sync_checkpoint(&self) -> Result<Option<SyncCheckpoint>> {
        let watermark: Option<String> = self
            .conn
            .query_row(
                "SELECT watermark FROM sync_runs WHERE ok = 1 AND watermark IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        let Some(watermark) = watermark else {
            return Ok(None);
        };
        let last_complete: Option<String> = self
            .conn
            .query_row(
                "SELECT finished_at FROM sync_runs WHERE ok = 1 AND complete = 1
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        Ok(Some(SyncCheckpoint {
            watermark: parse_ts(&watermark)?,
            last_complete_at: parse_opt_ts(last_complete)?,
        }))
    }

    /// The most recent report stored (a dry run stores nothing), if any.
    pub fn last_report(&self) -> Result<Option<ReportRun>> {
        let raw = self
            .conn
            .query_row(
                "SELECT report_file, report_as_of, finished_at FROM sync_runs
                 WHERE ok = 1 AND report_file IS NOT NULL ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err())?;
        raw.map(|(file, as_of, loaded_at)| {
            Ok(ReportRun {
                file,
                as_of: parse_opt_ts(as_of)?,
                loaded_at: parse_ts(&loaded_at)?,
            })
        })
        .transpose()
    }

    /// The most recent sync run, if any.
    pub fn last_sync(&self) -> Result<Option<SyncRun>> {
        let raw = self
            .conn
            .query_row(
                "SELECT started_at, finished_at, ok, mailboxes, changes, error FROM sync_runs
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err())?;
        raw.map(|(started, finished, ok, mailboxes, changes, error)| {
            Ok(SyncRun {
                started_at: parse_ts(&started)?,
                finished_at: parse_ts(&finished)?,
                ok,
                mailboxes,
                changes,
                error,
            })
        })
        .transpose()
    }
}

impl Store {
    /// Records a resend of the recovery e-mail and its result in the event log;
    /// on success also stores the new link, so the console shows it before the
    /// next sync.
    pub fn record_resend(
        &mut self,
        address: &str,
        member_id: Option<i64>,
        operator: &str,
        at: DateTime<Utc>,
        result: std::result::Result<&crate::provider::api::ResendResponse, &str>,
    ) -> Result<()> {
        let to_err = super::sql_error(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(&to_err)?;
        let (detail, outcome) = match result {
            Ok(answer) => {
                tx.execute(
                    "UPDATE mailboxes SET password_state = ?2, link_sent_at = ?3,
                     link_expires_at = ?4 WHERE address = ?1",
                    params![
                        address,
                        PasswordState::ResetPending.code(),
                        ts(answer.link_sent_at),
                        ts(answer.link_expires_at)
                    ],
                )
                .map_err(&to_err)?;
                (
                    format!(
                        "reinvio e-mail di recupero a {}, link valido fino a {}",
                        answer.sent_to_masked,
                        crate::i18n::format_datetime(answer.link_expires_at)
                    ),
                    Outcome::Ok,
                )
            }
            Err(error) => (
                format!("reinvio e-mail di recupero non riuscito: {error}"),
                Outcome::Failed,
            ),
        };
        append(
            &tx,
            &NewEvent {
                at,
                operator: operator.to_string(),
                kind: EventKind::Action,
                member_id,
                mailbox: Some(address.to_string()),
                detail,
                outcome: Some(outcome),
            },
        )
        .map_err(&to_err)?;
        tx.commit().map_err(&to_err)
    }
}

/// A stored mailbox as a sync finds it.
struct Stored {
    rowid: i64,
    state: MailboxState,
}

/// Every stored mailbox, by address.
fn stored_mailboxes(
    conn: &rusqlite::Connection,
) -> rusqlite::Result<foldhash::HashMap<String, Stored>> {
    let count: i64 = conn.query_row("SELECT COUNT(*) FROM mailboxes", [], |r| r.get(0))?;
    let mut stored = foldhash::HashMap::with_capacity_and_hasher(
        usize::try_from(count).unwrap_or_default(),
        Default::default(),
    );
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {MAILBOX_COLUMNS}, rowid FROM mailboxes"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let state = mailbox_state(row)?;
        let rowid = row.get(12)?;
        stored.insert(state.address.clone(), Stored { rowid, state });
    }
    Ok(stored)
}

/// The member an event about `address` names: the one holding it as PEC
/// (the last added, when several do).
fn member_of(conn: &rusqlite::Connection, address: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT max(id) FROM members WHERE pec = ?1")?
        .query_row([address], |r| r.get(0))
}

/// Whether two states of a mailbox differ in a column the counts' index
/// reads ([`super::summary::MAILBOX_FACTS_MIGRATION`]).
fn counted_columns_differ(old: &MailboxState, new: &MailboxState) -> bool {
    old.migration != new.migration
        || old.migration_at != new.migration_at
        || old.password != new.password
        || old.link_expires_at != new.link_expires_at
        || old.recovery != new.recovery
}

/// The statements a sync writes mailboxes with. A mailbox it knew is
/// updated through its rowid (one seek, not the address's index and then
/// the table), and, when nothing the counts' index reads changed, only in
/// the other columns: SQLite then leaves that index alone, since none of
/// the columns its expression reads is set.
struct MailboxWrites<'c> {
    conn: &'c rusqlite::Connection,
    insert_many: rusqlite::CachedStatement<'c>,
    /// The provider's last date written: a report's are all the same.
    updated_at: LastTs,
    upsert: rusqlite::CachedStatement<'c>,
    update: rusqlite::CachedStatement<'c>,
    update_uncounted: rusqlite::CachedStatement<'c>,
}

/// New mailboxes inserted by one statement.
const INSERT_ROWS: usize = 64;

/// Every column but the address set from the parameters of
/// [`bind_mailbox`] (numbered from 1).
const SET_EVERY_STATE_COLUMN: &str = "migration_state = ?2, migration_at = ?3,
    password_state = ?4, link_sent_at = ?5, link_expires_at = ?6,
    recovery_email_masked = ?7, recovery_mobile_masked = ?8,
    recovery_confirmed = ?9, last_login_at = ?10, provider_updated_at = ?11,
    synced_at = ?12, must_change_password = ?13";

/// An insert of `rows` mailboxes, their 13 columns numbered row after row.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO mailboxes (address, migration_state, migration_at, password_state,
         link_sent_at, link_expires_at, recovery_email_masked, recovery_mobile_masked,
         recovery_confirmed, last_login_at, provider_updated_at, synced_at,
         must_change_password) VALUES ",
    );
    for row in 0..rows {
        let numbers: Vec<String> = (1..=13).map(|c| format!("?{}", row * 13 + c)).collect();
        let comma = if row == 0 { "" } else { "," };
        sql.push_str(&format!("{comma}({})", numbers.join(",")));
    }
    sql
}

/// The text of the last instant written, kept for the next row.
#[derive(Default)]
struct LastTs(Option<(DateTime<Utc>, String)>);

impl LastTs {
    fn text(&mut self, at: DateTime<Utc>) -> &str {
        if self.0.as_ref().is_none_or(|(last, _)| *last != at) {
            self.0 = Some((at, ts(at)));
        }
        self.0.as_ref().map_or("", |(_, text)| text)
    }
}

/// The guard of every write: an older state never replaces a newer one.
/// `newer` is true when the new state is known to be at least as recent
/// (exact to the nanosecond; `julianday` is exact to the millisecond, so
/// it never disagrees then), sparing the two date functions.
const NOT_OLDER: &str = "julianday(?11) >= julianday(provider_updated_at)";

impl<'c> MailboxWrites<'c> {
    fn prepare(conn: &'c rusqlite::Connection) -> rusqlite::Result<Self> {
        Ok(Self {
            conn,
            insert_many: conn.prepare_cached(&insert_sql(INSERT_ROWS))?,
            updated_at: LastTs::default(),
            upsert: conn.prepare_cached(&format!(
                "{} ON CONFLICT(address) DO UPDATE SET {SET_EVERY_STATE_COLUMN}
                 WHERE julianday(excluded.provider_updated_at)
                    >= julianday(mailboxes.provider_updated_at)",
                insert_sql(1)
            ))?,
            update: conn.prepare_cached(&format!(
                "UPDATE mailboxes SET {SET_EVERY_STATE_COLUMN}
                 WHERE rowid = ?1 AND (?14 OR {NOT_OLDER})"
            ))?,
            update_uncounted: conn.prepare_cached(&format!(
                "UPDATE mailboxes SET link_sent_at = ?5, last_login_at = ?10,
                 provider_updated_at = ?11, synced_at = ?12, must_change_password = ?13
                 WHERE rowid = ?1 AND (?14 OR {NOT_OLDER})"
            ))?,
        })
    }

    /// Mailboxes the store does not have, each listed once: inserted
    /// [`INSERT_ROWS`] to a statement, whose cursors stay open from row to
    /// row. In address order, each row of the table's key and of the
    /// counts' index then goes after the last without a search from the
    /// root (SQLite's insert at the end of a b-tree), and the statement is
    /// run once, not 64 times.
    fn insert_new(&mut self, states: &[&MailboxState], now: &str) -> rusqlite::Result<()> {
        if states.is_empty() {
            return Ok(());
        }
        let mut fewer;
        let statement: &mut rusqlite::Statement<'_> = if states.len() == INSERT_ROWS {
            &mut self.insert_many
        } else {
            fewer = self.conn.prepare(&insert_sql(states.len()))?;
            &mut fewer
        };
        for (row, state) in states.iter().enumerate() {
            let first = row * 13 + 1;
            bind_mailbox(
                statement,
                first,
                &state.address,
                state,
                &mut self.updated_at,
                now,
            )?;
        }
        statement.raw_execute()?;
        Ok(())
    }

    /// A mailbox the store did not have (or had twice in one listing).
    fn insert(&mut self, state: &MailboxState, now: &str) -> rusqlite::Result<usize> {
        let statement = &mut self.upsert;
        bind_mailbox(
            statement,
            1,
            &state.address,
            state,
            &mut self.updated_at,
            now,
        )?;
        statement.raw_execute()
    }

    /// A stored mailbox whose state differs from `state`.
    fn update(&mut self, old: &Stored, state: &MailboxState, now: &str) -> rusqlite::Result<usize> {
        let newer = state.updated_at >= old.state.updated_at;
        if !counted_columns_differ(&old.state, state) {
            // Unused numbers are bound NULL and never read.
            let statement = &mut self.update_uncounted;
            statement.raw_bind_parameter(1, old.rowid)?;
            statement.raw_bind_parameter(5, state.link_sent_at.map(ts))?;
            statement.raw_bind_parameter(10, state.last_login_at.map(ts))?;
            statement.raw_bind_parameter(11, self.updated_at.text(state.updated_at))?;
            statement.raw_bind_parameter(12, now)?;
            statement.raw_bind_parameter(13, state.must_change_password)?;
            statement.raw_bind_parameter(14, newer)?;
            return statement.raw_execute();
        }
        let statement = &mut self.update;
        bind_mailbox(statement, 1, old.rowid, state, &mut self.updated_at, now)?;
        statement.raw_bind_parameter(14, newer)?;
        statement.raw_execute()
    }
}

/// Binds a mailbox's 13 columns to the parameters numbered from `first`:
/// its key (the address, or the rowid of an update), then the columns in
/// the order of the inserts above.
fn bind_mailbox(
    statement: &mut rusqlite::Statement<'_>,
    first: usize,
    key: impl rusqlite::ToSql,
    state: &MailboxState,
    updated_at: &mut LastTs,
    now: &str,
) -> rusqlite::Result<()> {
    let at = |column: usize| first + column - 1;
    statement.raw_bind_parameter(at(1), key)?;
    statement.raw_bind_parameter(at(2), state.migration.code())?;
    statement.raw_bind_parameter(at(3), state.migration_at.map(ts))?;
    statement.raw_bind_parameter(at(4), state.password.code())?;
    statement.raw_bind_parameter(at(5), state.link_sent_at.map(ts))?;
    statement.raw_bind_parameter(at(6), state.link_expires_at.map(ts))?;
    statement.raw_bind_parameter(at(7), &state.recovery.email_masked)?;
    statement.raw_bind_parameter(at(8), &state.recovery.mobile_masked)?;
    statement.raw_bind_parameter(at(9), state.recovery.confirmed)?;
    statement.raw_bind_parameter(at(10), state.last_login_at.map(ts))?;
    statement.raw_bind_parameter(at(11), updated_at.text(state.updated_at))?;
    statement.raw_bind_parameter(at(12), now)?;
    statement.raw_bind_parameter(at(13), state.must_change_password)
}

/// The columns [`mailbox_state`] reads, in its order.
const MAILBOX_COLUMNS: &str = "address, migration_state, migration_at, password_state,
    link_sent_at, link_expires_at, recovery_email_masked, recovery_mobile_masked,
    recovery_confirmed, last_login_at, provider_updated_at, must_change_password";

/// A mailbox's state from a row of [`MAILBOX_COLUMNS`] (more columns may follow).
fn mailbox_state(row: &rusqlite::Row<'_>) -> rusqlite::Result<MailboxState> {
    // Codes and instants are read in place, not copied into strings first:
    // at 100k mailboxes that is half a million allocations saved.
    let corrupt = |column: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, what.into())
    };
    let text = |i: usize| -> rusqlite::Result<Option<String>> {
        row.get_ref(i)?
            .as_str_or_null()
            .map(|v| v.map(str::to_string))
            .map_err(Into::into)
    };
    let instant = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        match row.get_ref(i)?.as_str_or_null()? {
            None => Ok(None),
            Some(v) => parse_ts(v).map(Some).map_err(|e| corrupt(i, e.to_string())),
        }
    };
    let migration = row.get_ref(1)?.as_str()?;
    let password = row.get_ref(3)?.as_str()?;
    Ok(MailboxState {
        address: row.get(0)?,
        migration: MigrationState::from_code(migration)
            .ok_or_else(|| corrupt(1, format!("stato di migrazione sconosciuto: {migration}")))?,
        migration_at: instant(2)?,
        password: PasswordState::from_code(password)
            .ok_or_else(|| corrupt(3, format!("stato della password sconosciuto: {password}")))?,
        link_sent_at: instant(4)?,
        link_expires_at: instant(5)?,
        recovery: RecoveryContacts {
            email_masked: text(6)?,
            mobile_masked: text(7)?,
            confirmed: row.get(8)?,
        },
        last_login_at: instant(9)?,
        must_change_password: row.get(11)?,
        updated_at: instant(10)?.ok_or_else(|| corrupt(10, "data mancante".into()))?,
    })
}

impl SyncOutcome {
    /// One line for the status bar and the CLI.
    pub fn describe(&self) -> String {
        let mut text = if self.incremental {
            format!("{} caselle modificate dall'ultima volta", self.mailboxes)
        } else {
            format!("{} caselle", self.mailboxes)
        };
        text.push_str(&format!(
            ", {} nuove, {} cambiamenti",
            self.new_mailboxes, self.changes
        ));
        if self.gone > 0 {
            text.push_str(&format!(", {} non più presso il gestore", self.gone));
        }
        if self.older_skipped > 0 {
            text.push_str(&format!(
                ", {} lasciate invariate perché l'archivio ha uno stato più recente",
                self.older_skipped
            ));
        }
        text
    }
}

/// One row of `sync_runs`.
struct RunRecord<'a> {
    started_at: DateTime<Utc>,
    at: DateTime<Utc>,
    error: Option<&'a str>,
    outcome: &'a SyncOutcome,
    watermark: Option<DateTime<Utc>>,
    /// A report's file name and the date of its states.
    report: Option<(&'a str, Option<DateTime<Utc>>)>,
}

/// Records a sync run and its event in the log, successful or not.
fn record_run(
    conn: &rusqlite::Connection,
    run: &RunRecord<'_>,
    operator: &str,
) -> rusqlite::Result<()> {
    let (detail, outcome) = match run.error {
        None => (
            format!("sincronizzazione: {}", run.outcome.describe()),
            Outcome::Ok,
        ),
        Some(error) => (
            format!("sincronizzazione fallita: {error}"),
            Outcome::Failed,
        ),
    };
    append(
        conn,
        &NewEvent {
            at: run.at,
            operator: operator.to_string(),
            kind: EventKind::Sync,
            member_id: None,
            mailbox: None,
            detail,
            outcome: Some(outcome),
        },
    )?;
    conn.execute(
        "INSERT INTO sync_runs (started_at, finished_at, ok, mailboxes, changes, error,
         complete, watermark, report_file, report_as_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            ts(run.started_at),
            ts(run.at),
            run.error.is_none(),
            run.outcome.mailboxes as i64,
            run.outcome.changes as i64,
            run.error,
            !run.outcome.incremental,
            run.watermark.map(ts),
            run.report.map(|(file, _)| file),
            run.report.and_then(|(_, as_of)| as_of).map(ts),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn state(address: &str, migration: MigrationState) -> MailboxState {
        MailboxState {
            address: address.into(),
            migration,
            migration_at: None,
            password: PasswordState::NotSet,
            link_sent_at: None,
            link_expires_at: None,
            recovery: RecoveryContacts::default(),
            last_login_at: None,
            must_change_password: false,
            // Sub-second precision must survive the round trip, or every sync
            // would see changes that are not there.
            updated_at: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
                + chrono::TimeDelta::nanoseconds(123_456_789),
        }
    }

    /// A new store in a temporary directory, and two mailboxes to sync.
    fn store_and_two() -> (tempfile::TempDir, Store, Vec<MailboxState>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let two = vec![
            state("a@pec.fofi.it", MigrationState::NotStarted),
            state("b@pec.fofi.it", MigrationState::NotStarted),
        ];
        (dir, store, two)
    }

    /// The stored states in address order.
    fn sorted_states(store: &Store) -> Vec<MailboxState> {
        let mut stored = store.mailbox_states().unwrap();
        stored.sort_by(|a, b| a.address.cmp(&b.address));
        stored
    }

    #[test]
    fn sync_stores_states_and_logs_changes() {
        let (_dir, mut store, first) = store_and_two();
        let now = Utc::now();
        let outcome = store.apply_sync(&first, "sync", now, now).unwrap();
        assert_eq!(outcome.new_mailboxes, 2);
        assert_eq!(outcome.changes, 0);
        let mut second = first.clone();
        second[0].migration = MigrationState::Completed;
        let outcome = store.apply_sync(&second, "sync", now, now).unwrap();
        assert_eq!(outcome.changes, 1);
        let stored = sorted_states(&store);
        assert_eq!(stored, second);
        assert_eq!(
            store.apply_sync(&second, "sync", now, now).unwrap().changes,
            0
        );
        let timeline = store.timeline(None, Some("a@pec.fofi.it")).unwrap();
        assert_eq!(timeline.len(), 1);
        assert_eq!(timeline[0].detail, "migrazione: non avviata → completata");
        assert!(store.last_sync().unwrap().unwrap().ok);
    }

    #[test]
    fn only_complete_batches_remove_and_watermarks_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = Utc::now();
        let a = state("a@pec.fofi.it", MigrationState::NotStarted);
        let b = state("b@pec.fofi.it", MigrationState::NotStarted);
        assert_eq!(store.sync_checkpoint().unwrap(), None);
        let mark = |minutes| Some(now - chrono::TimeDelta::minutes(minutes));
        let both = [a.clone(), b.clone()];
        let full = SyncBatch {
            states: &both,
            complete: true,
            watermark: mark(10),
        };
        store.apply_sync_batch(full, "sync", now, now).unwrap();
        let checkpoint = store.sync_checkpoint().unwrap().unwrap();
        assert_eq!(checkpoint.watermark, mark(10).unwrap());
        assert_eq!(checkpoint.last_complete_at, Some(now));

        // An incremental batch without `b` keeps it.
        let later = now + chrono::TimeDelta::minutes(1);
        let only_a = [a.clone()];
        let partial = SyncBatch {
            states: &only_a,
            complete: false,
            watermark: mark(5),
        };
        let outcome = store
            .apply_sync_batch(partial, "sync", later, later)
            .unwrap();
        assert!(outcome.incremental);
        assert_eq!(outcome.gone, 0);
        assert_eq!(store.mailbox_states().unwrap().len(), 2);
        let checkpoint = store.sync_checkpoint().unwrap().unwrap();
        assert_eq!(checkpoint.watermark, mark(5).unwrap());
        assert_eq!(
            checkpoint.last_complete_at,
            Some(now),
            "the last complete run"
        );
        assert!(
            outcome.describe().contains("modificate"),
            "{}",
            outcome.describe()
        );

        // A failed run leaves the checkpoint alone; a complete one removes `b`.
        store
            .record_sync_failure("sync", later, later, "giù")
            .unwrap();
        assert_eq!(
            store.sync_checkpoint().unwrap().unwrap().watermark,
            mark(5).unwrap()
        );
        let complete = SyncBatch {
            states: &only_a,
            complete: true,
            watermark: mark(1),
        };
        let outcome = store
            .apply_sync_batch(complete, "sync", later, later)
            .unwrap();
        assert_eq!(outcome.gone, 1);
        let left: Vec<String> = store
            .mailbox_states()
            .unwrap()
            .into_iter()
            .map(|m| m.address)
            .collect();
        assert_eq!(left, ["a@pec.fofi.it"]);
        let timeline = store.timeline(None, Some("b@pec.fofi.it")).unwrap();
        assert_eq!(
            timeline[0].detail,
            "casella non più presente presso il gestore"
        );
    }

    /// Rows written to `mailboxes` from now on, counted by temporary
    /// triggers on this connection.
    fn count_writes(store: &Store) {
        store
            .conn
            .execute_batch(
                "CREATE TEMP TABLE writes (address TEXT NOT NULL);
                 CREATE TEMP TRIGGER written_insert AFTER INSERT ON main.mailboxes
                     BEGIN INSERT INTO writes VALUES (new.address); END;
                 CREATE TEMP TRIGGER written_update AFTER UPDATE ON main.mailboxes
                     BEGIN INSERT INTO writes VALUES (new.address); END;",
            )
            .unwrap();
    }

    /// The rows written since the last call, by address, sorted.
    fn take_writes(store: &Store) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare("SELECT address FROM writes ORDER BY address")
            .unwrap();
        let written = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<String>>>()
            .unwrap();
        store.conn.execute("DELETE FROM writes", []).unwrap();
        written
    }

    fn integrity(store: &Store) -> String {
        store
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_unchanged_mailbox_is_not_written_and_a_changed_one_logged_once() {
        let (_dir, mut store, first) = store_and_two();
        let now = Utc::now();
        store.apply_sync(&first, "sync", now, now).unwrap();
        count_writes(&store);
        let events = |store: &Store, address: &str| store.timeline(None, Some(address)).unwrap();

        // The same listing again: nothing written, nothing logged.
        let later = now + chrono::TimeDelta::minutes(1);
        let outcome = store.apply_sync(&first, "sync", later, later).unwrap();
        assert_eq!((outcome.changes, outcome.new_mailboxes), (0, 0));
        assert_eq!(take_writes(&store), Vec::<String>::new());
        assert!(events(&store, "a@pec.fofi.it").is_empty());

        // One mailbox changed: that row alone written, one event for it.
        let mut second = first.clone();
        second[1].migration = MigrationState::Completed;
        let outcome = store.apply_sync(&second, "sync", later, later).unwrap();
        assert_eq!(outcome.changes, 1);
        assert_eq!(take_writes(&store), ["b@pec.fofi.it"]);
        assert!(events(&store, "a@pec.fofi.it").is_empty());
        assert_eq!(events(&store, "b@pec.fofi.it").len(), 1);

        // Only the provider's date moved (a new report of the same states):
        // the date is stored, so that an older report cannot come back,
        // but nothing is logged.
        let mut third = second.clone();
        for state in &mut third {
            state.updated_at += chrono::TimeDelta::days(1);
        }
        let outcome = store.apply_sync(&third, "sync", later, later).unwrap();
        assert_eq!(outcome.changes, 0);
        assert_eq!(take_writes(&store), ["a@pec.fofi.it", "b@pec.fofi.it"]);
        assert_eq!(events(&store, "b@pec.fofi.it").len(), 1);
        let stored = sorted_states(&store);
        assert_eq!(stored, third);
        // The day before is now older than what is stored: refused.
        let outcome = store.apply_sync(&first, "sync", later, later).unwrap();
        assert_eq!((outcome.older_skipped, outcome.changes), (2, 0));
        assert_eq!(take_writes(&store), Vec::<String>::new());
        assert_eq!(integrity(&store), "ok");
    }

    #[test]
    fn every_field_a_sync_changes_is_stored_and_the_counts_index_follows() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = Utc::now();
        let at = |minutes| Some(now + chrono::TimeDelta::minutes(minutes));
        let mut current = state("a@pec.fofi.it", MigrationState::NotStarted);
        let other = state("b@pec.fofi.it", MigrationState::NotStarted);
        store
            .apply_sync(&[current.clone(), other.clone()], "sync", now, now)
            .unwrap();
        // Each field alone, the counted ones and the others, then back.
        type Change = fn(&mut MailboxState);
        let changes: Vec<(&str, Change)> = vec![
            ("migration", |s| s.migration = MigrationState::Completed),
            ("migration_at", |s| s.migration_at = Some(s.updated_at)),
            ("password", |s| s.password = PasswordState::ResetPending),
            ("link_sent_at", |s| s.link_sent_at = Some(s.updated_at)),
            ("link_expires_at", |s| {
                s.link_expires_at = Some(s.updated_at + chrono::TimeDelta::hours(24))
            }),
            ("email", |s| {
                s.recovery.email_masked = Some("*****sa@i*****.it".into())
            }),
            ("mobile", |s| {
                s.recovery.mobile_masked = Some("+39*******567".into())
            }),
            ("confirmed", |s| s.recovery.confirmed = true),
            ("last_login_at", |s| s.last_login_at = Some(s.updated_at)),
            ("must_change_password", |s| s.must_change_password = true),
            ("updated_at", |s| {
                s.updated_at += chrono::TimeDelta::seconds(1)
            }),
            ("all back", |s| {
                *s = MailboxState {
                    updated_at: s.updated_at,
                    ..state("a@pec.fofi.it", MigrationState::NotStarted)
                }
            }),
        ];
        for (step, (field, change)) in changes.into_iter().enumerate() {
            change(&mut current);
            let when = at(step as i64 + 1).unwrap();
            let outcome = store
                .apply_sync(&[current.clone(), other.clone()], "sync", when, when)
                .unwrap();
            assert_eq!(outcome.older_skipped, 0, "{field}");
            let stored = sorted_states(&store);
            assert_eq!(stored, [current.clone(), other.clone()], "{field}");
            assert_eq!(integrity(&store), "ok", "{field}");
        }
    }

    #[test]
    fn a_write_of_uncounted_columns_leaves_the_counts_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let root: i64 = store
            .conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'mailboxes_counts'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let writes = MailboxWrites::prepare(&store.conn).unwrap();
        // The program of each statement opens the index for writing, or not.
        let opens_index = |sql: &str| {
            let mut explain = store.conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let rows = explain
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(3)?)))
                .unwrap();
            rows.map(|r| r.unwrap())
                .any(|(opcode, page)| opcode == "OpenWrite" && page == root)
        };
        assert!(opens_index(writes.update.expanded_sql().unwrap().as_str()));
        assert!(opens_index(writes.upsert.expanded_sql().unwrap().as_str()));
        assert!(!opens_index(
            writes.update_uncounted.expanded_sql().unwrap().as_str()
        ));
    }

    #[test]
    fn new_mailboxes_inserted_many_to_a_statement_and_an_address_listed_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("s.db")).unwrap();
        let now = Utc::now();
        // Two full statements of new rows and a shorter one, out of order,
        // and one address listed twice: the later listing wins, as before.
        let mut listing: Vec<MailboxState> = (0..150)
            .rev()
            .map(|i| state(&format!("m{i:03}@pec.fofi.it"), MigrationState::NotStarted))
            .collect();
        listing[10].recovery.email_masked = Some("*****sa@i*****.it".into());
        let mut again = listing[40].clone();
        again.migration = MigrationState::Completed;
        listing.push(again.clone());
        let outcome = store.apply_sync(&listing, "sync", now, now).unwrap();
        assert_eq!(outcome.new_mailboxes, 151);
        assert_eq!(outcome.changes, 0);
        let mut expected: Vec<MailboxState> = listing[..150].to_vec();
        expected[40] = again;
        expected.sort_by(|a, b| a.address.cmp(&b.address));
        let stored = sorted_states(&store);
        assert_eq!(stored, expected);
        assert_eq!(integrity(&store), "ok");
        // Stored as listed: the same listing again changes nothing.
        let outcome = store.apply_sync(&expected, "sync", now, now).unwrap();
        assert_eq!((outcome.new_mailboxes, outcome.changes), (0, 0));
    }
}
