//! Performs the app's effects: store reads and writes on blocking threads,
//! provider calls on tokio tasks. Each result goes back as an action.

use std::path::PathBuf;

use chrono::Utc;
use tokio::sync::mpsc::UnboundedSender;

use crate::app::{Action, Effect, Snapshot};
use crate::provider::{ProviderClient, client::new_idempotency_key};
use crate::store::Store;

/// What the effects need: where the store is, how to reach the provider, and
/// who is at the keyboard.
#[derive(Clone)]
pub struct Services {
    pub store_path: PathBuf,
    pub client: Option<ProviderClient>,
    pub operator: String,
}

impl Services {
    pub fn can_sync(&self) -> bool {
        self.client.is_some()
    }

    pub fn perform(&self, effect: Effect, tx: &UnboundedSender<Action>) {
        let tx = tx.clone();
        let store_path = self.store_path.clone();
        match effect {
            Effect::Load => {
                tokio::task::spawn_blocking(move || {
                    let result = load_snapshot(&store_path).map_err(|e| e.to_string());
                    let _ = tx.send(Action::Loaded(result));
                });
            }
            Effect::LoadTimeline {
                entry,
                member_id,
                address,
            } => {
                tokio::task::spawn_blocking(move || {
                    let events = Store::open(&store_path)
                        .and_then(|s| s.timeline(member_id, Some(&address)))
                        .unwrap_or_else(|e| {
                            tracing::error!(error = %e, "timeline");
                            Vec::new()
                        });
                    let _ = tx.send(Action::TimelineLoaded { entry, events });
                });
            }
            Effect::Sync => {
                let Some(client) = self.client.clone() else {
                    return;
                };
                let operator = self.operator.clone();
                tokio::spawn(async move {
                    let result = crate::sync::run(&store_path, &client, &operator)
                        .await
                        .map(|o| o.describe())
                        .map_err(|e| e.to_string());
                    let _ = tx.send(Action::SyncFinished(result));
                });
            }
            Effect::Resend { member_id, address } => {
                let Some(client) = self.client.clone() else {
                    return;
                };
                let operator = self.operator.clone();
                tokio::spawn(async move {
                    let key = new_idempotency_key();
                    let result = client.resend_recovery_email(&address, &key).await;
                    let answer = result.as_ref().map_err(|e| e.message_it()).cloned();
                    let recorded = {
                        let address = address.clone();
                        let answer = answer.clone();
                        tokio::task::spawn_blocking(move || {
                            Store::open(&store_path)?.record_resend(
                                &address,
                                member_id,
                                &operator,
                                Utc::now(),
                                answer.as_ref().map_err(String::as_str),
                            )
                        })
                        .await
                    };
                    match recorded {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(error = %e, "recording the resend"),
                        Err(e) => tracing::error!(error = %e, "recording the resend"),
                    }
                    let _ = tx.send(Action::ResendFinished {
                        address,
                        result: answer,
                    });
                });
            }
        }
    }
}

fn load_snapshot(path: &std::path::Path) -> crate::store::Result<Snapshot> {
    let store = Store::open(path)?;
    Ok(Snapshot {
        entries: store.roster_entries()?,
        last_sync: store.last_sync()?,
    })
}
