//! One sync: fetch the mailboxes' states from the provider and store them,
//! recording what changed. Used by `pecdesk sync` and by the console.
//!
//! The first run lists every mailbox. Later runs ask only for what changed
//! (`updated_since`) from a watermark taken on the provider's own clock, so a
//! client with a wrong clock misses nothing. An incremental run never decides
//! that a mailbox is gone: only a complete run can, and one runs at least
//! every [`FULL_SYNC_EVERY`].

pub mod report_load;

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use crate::provider::api::MailboxFilter;
use crate::provider::{ProviderClient, ProviderError};
use crate::store::{Store, StoreError, SyncBatch, SyncCheckpoint, SyncOutcome};

/// How far before the provider's clock at the start of a run the next run
/// starts again: covers changes the provider stamps a little in the past
/// (replicas, slow transactions). Seeing a change twice costs nothing.
pub const WATERMARK_MARGIN: TimeDelta = TimeDelta::minutes(5);
/// A complete run at least this often, to notice mailboxes that disappeared.
pub const FULL_SYNC_EVERY: TimeDelta = TimeDelta::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{}", .0.message_it())]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sincronizzazione interrotta: {0}")]
    Interrupted(String),
    /// A complete listing with nothing in it, against a store with mailboxes:
    /// more likely a fault at the provider than every mailbox gone.
    #[error(
        "il gestore ha restituito un elenco vuoto, ma l'archivio ha {stored} caselle: nessuna casella rimossa; verificare il gestore prima di sincronizzare di nuovo"
    )]
    EmptyListing { stored: usize },
}

/// How much a run fetches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// Only changes when the store has a watermark and a complete run
    /// finished within [`FULL_SYNC_EVERY`]; every mailbox otherwise.
    #[default]
    Auto,
    /// Every mailbox, noticing the ones gone.
    Full,
    /// Only changes when the store has a watermark; every mailbox otherwise.
    Incremental,
}

/// How far a run is: sent after each page received (and once at the start,
/// with nothing fetched and no total yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncProgress {
    /// Mailboxes received so far.
    pub fetched: usize,
    /// Mailboxes this run will receive, once the first page says so.
    pub total: Option<u64>,
}

/// A run in [`SyncMode::Auto`] without progress reports.
pub async fn run(
    store_path: &Path,
    client: &ProviderClient,
    operator: &str,
) -> Result<SyncOutcome, SyncError> {
    run_with(store_path, client, operator, SyncMode::Auto, |_| {}).await
}

/// A run in [`SyncMode::Auto`] that reports its progress.
pub async fn run_with_progress(
    store_path: &Path,
    client: &ProviderClient,
    operator: &str,
    progress: impl Fn(SyncProgress) + Send + Sync,
) -> Result<SyncOutcome, SyncError> {
    run_with(store_path, client, operator, SyncMode::Auto, progress).await
}

/// Where an incremental run starts, or None for a complete run.
fn since(
    mode: SyncMode,
    checkpoint: Option<SyncCheckpoint>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let checkpoint = checkpoint?;
    match mode {
        SyncMode::Full => None,
        SyncMode::Incremental => Some(checkpoint.watermark),
        SyncMode::Auto => checkpoint
            .last_complete_at
            .filter(|at| now - *at < FULL_SYNC_EVERY)
            .map(|_| checkpoint.watermark),
    }
}

/// Fetches and stores; a failure is itself recorded so the dashboard can show it.
pub async fn run_with(
    store_path: &Path,
    client: &ProviderClient,
    operator: &str,
    mode: SyncMode,
    progress: impl Fn(SyncProgress) + Send + Sync,
) -> Result<SyncOutcome, SyncError> {
    let started_at = Utc::now();
    let path = store_path.to_path_buf();
    let checkpoint = blocking(move || Ok(Store::open(&path)?.sync_checkpoint()?)).await?;
    let since = since(mode, checkpoint, started_at);
    let filter = since.map(MailboxFilter::changed_since).unwrap_or_default();
    tracing::info!(incremental = since.is_some(), "sync started");
    progress(SyncProgress {
        fetched: 0,
        total: None,
    });
    let fetched = client
        .fetch_mailboxes(&filter, |fetched, total| {
            progress(SyncProgress {
                fetched,
                total: Some(total),
            })
        })
        .await;
    let path = store_path.to_path_buf();
    let operator = operator.to_string();
    let stored = blocking(move || {
        let mut store = Store::open(&path)?;
        match fetched {
            Ok(listing) => {
                let stored = match (since, listing.mailboxes.is_empty()) {
                    (None, true) => store.mailbox_count()?,
                    _ => 0,
                };
                if stored > 0 {
                    let error = SyncError::EmptyListing { stored };
                    store.record_sync_failure(
                        &operator,
                        started_at,
                        Utc::now(),
                        &error.to_string(),
                    )?;
                    return Err(error);
                }
                let batch = SyncBatch {
                    states: &listing.mailboxes,
                    complete: since.is_none(),
                    watermark: Some(listing.server_time - WATERMARK_MARGIN),
                };
                Ok(store.apply_sync_batch(batch, &operator, started_at, Utc::now())?)
            }
            Err(error) => {
                store.record_sync_failure(
                    &operator,
                    started_at,
                    Utc::now(),
                    &error.message_it(),
                )?;
                Err(error.into())
            }
        }
    })
    .await;
    match &stored {
        Ok(outcome) => tracing::info!(?outcome, "sync done"),
        Err(error) => tracing::warn!(%error, "sync failed"),
    }
    stored
}

/// What a report file holds and whether it is complete.
#[derive(Debug, Clone, Copy)]
pub struct ReportSync<'a> {
    pub report: &'a crate::import::ParsedReport,
    /// The report's file name, named in each change event.
    pub file: &'a str,
    /// Only update what it lists: absent mailboxes stay.
    pub partial: bool,
    /// The Ordine's PEC domain: only its mailboxes can be gone from a
    /// complete report.
    pub domain: Option<&'a str>,
    pub dry_run: bool,
}

/// Stores the states read from a report exactly as a sync stores the API's
/// (one transaction; an older state never replaces a newer one). A report
/// sets no watermark: the API's incremental sync is not moved by it.
pub fn store_report(
    store: &mut Store,
    report: ReportSync<'_>,
    operator: &str,
) -> Result<SyncOutcome, SyncError> {
    let started_at = Utc::now();
    let batch = SyncBatch {
        states: &report.report.states,
        complete: !report.partial,
        watermark: None,
    };
    let source = crate::store::BatchSource {
        file: report.file,
        domain: report.domain,
        dry_run: report.dry_run,
        as_of: report.report.as_of,
    };
    let outcome = store.apply_report_batch(batch, source, operator, started_at, Utc::now())?;
    tracing::info!(?outcome, dry_run = report.dry_run, "report stored");
    Ok(outcome)
}

/// Runs store work on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SyncError::Interrupted(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_and_the_checkpoint_decide_where_to_start() {
        let now = Utc::now();
        let watermark = now - TimeDelta::hours(1);
        let recent = SyncCheckpoint {
            watermark,
            last_complete_at: Some(now - TimeDelta::hours(2)),
        };
        let stale = SyncCheckpoint {
            watermark,
            last_complete_at: Some(now - TimeDelta::hours(25)),
        };
        assert_eq!(since(SyncMode::Auto, None, now), None);
        assert_eq!(since(SyncMode::Incremental, None, now), None);
        assert_eq!(since(SyncMode::Auto, Some(recent), now), Some(watermark));
        assert_eq!(since(SyncMode::Auto, Some(stale), now), None);
        assert_eq!(since(SyncMode::Full, Some(recent), now), None);
        assert_eq!(
            since(SyncMode::Incremental, Some(stale), now),
            Some(watermark)
        );
    }
}
