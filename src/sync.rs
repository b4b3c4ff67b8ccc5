//! One sync: fetch every mailbox's state from the provider and store it,
//! recording what changed. Used by `pecdesk sync` and by the console.

use std::path::Path;

use chrono::Utc;

use crate::provider::{ProviderClient, ProviderError};
use crate::store::{Store, StoreError, SyncOutcome};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{}", .0.message_it())]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sincronizzazione interrotta: {0}")]
    Interrupted(String),
}

/// Fetches and stores; a failure is itself recorded so the dashboard can show it.
pub async fn run(
    store_path: &Path,
    client: &ProviderClient,
    operator: &str,
) -> Result<SyncOutcome, SyncError> {
    let started_at = Utc::now();
    let fetched = client.list_all_mailboxes().await;
    let path = store_path.to_path_buf();
    let operator = operator.to_string();
    let stored = tokio::task::spawn_blocking(move || -> Result<SyncOutcome, SyncError> {
        let mut store = Store::open(&path)?;
        match fetched {
            Ok(states) => Ok(store.apply_sync(&states, &operator, started_at, Utc::now())?),
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
    .await
    .map_err(|e| SyncError::Interrupted(e.to_string()))?;
    match &stored {
        Ok(outcome) => tracing::info!(?outcome, "sync done"),
        Err(error) => tracing::warn!(%error, "sync failed"),
    }
    stored
}
