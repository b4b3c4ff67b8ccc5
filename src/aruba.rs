//! The work on the old provider's side, before the passage: a sync stores
//! what Aruba says of each mailbox of the Ordine's domain (status, owner's
//! contact e-mail and mobile), and the queue's Aruba jobs set owners'
//! contacts from the roster.
//!
//! Aruba's owner update has no idempotency key, so each item reads the owner
//! first and sends only what differs from the roster's values stored in the
//! job. A process killed between the change and its record reads again on
//! resume, finds the values already there and records that, without a second
//! change; the values come from the job, never from a roster read later, so a
//! resumed item cannot send a different change either.

use std::path::Path;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::domain::aruba::{
    ArubaMailbox, ArubaStatus, aruba_mobile_form, contact_diff, normalize_aruba_mobile,
};
use crate::domain::contact::{mask_email, mask_mobile};
use crate::provider::aruba::api::{Account, ContactDataUpdate};
use crate::provider::aruba::{ArubaClient, ArubaError};
use crate::store::{
    ActionResult, ArubaSyncOutcome, JobItem, JobKind, MailboxChange, NewJobItem, Outcome,
    RosterEntry, Store, StoreError,
};
use crate::sync::SyncProgress;

#[derive(Debug, thiserror::Error)]
pub enum ArubaSyncError {
    #[error("{}", .0.message_it())]
    Aruba(#[from] ArubaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sincronizzazione con Aruba interrotta: {0}")]
    Interrupted(String),
    #[error(
        "Aruba ha restituito un elenco vuoto per il dominio, ma l'archivio ha {stored} caselle: nulla è stato cambiato; verificare il dominio configurato ([aruba] domain)"
    )]
    EmptyListing { stored: usize },
}

/// A listed account as pecdesk keeps it.
pub fn mailbox_of(account: &Account) -> ArubaMailbox {
    let contacts = account.owner.contacts.as_ref();
    let text = |v: Option<&String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    ArubaMailbox {
        address: account.name.trim().to_lowercase(),
        status: ArubaStatus::from_code(&account.status),
        owner_id: account.owner.id,
        contact_email: text(contacts.and_then(|c| c.email.as_ref())).map(|e| e.to_lowercase()),
        contact_mobile: text(contacts.and_then(|c| c.mobile.as_ref()))
            .map(|m| normalize_aruba_mobile(&m)),
    }
}

/// Owners asked for at once when confirming missing contacts.
const OWNER_READS_IN_FLIGHT: usize = 8;

/// The listing is "basic information": an owner listed without contact data
/// is read in full (`ownerInfo`) before the member is put among those with
/// no contact at Aruba, the list that matters most.
async fn confirm_missing_contacts(
    client: &ArubaClient,
    mut accounts: Vec<Account>,
) -> Result<Vec<Account>, ArubaError> {
    use futures::StreamExt;
    let missing: Vec<(usize, i64)> = accounts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.owner.contacts.is_none())
        .filter_map(|(i, a)| a.owner.id.map(|id| (i, id)))
        .collect();
    let owners: Vec<(usize, Result<_, ArubaError>)> = futures::stream::iter(missing)
        .map(|(i, id)| async move { (i, client.owner(id).await) })
        .buffer_unordered(OWNER_READS_IN_FLIGHT)
        .collect()
        .await;
    for (i, owner) in owners {
        match owner {
            Ok(owner) => accounts[i].owner.contacts = owner.contacts,
            // Listed but not readable: it stays without contact.
            Err(ArubaError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(accounts)
}

/// Lists the domain at Aruba and stores every mailbox; a failure is recorded
/// too (a failed run and its event in the audit trail), and nothing stored
/// is changed by it.
pub async fn sync(
    store_path: &Path,
    client: &ArubaClient,
    domain: &str,
    operator: &str,
    progress: impl Fn(SyncProgress) + Send + Sync,
) -> Result<ArubaSyncOutcome, ArubaSyncError> {
    let started_at = Utc::now();
    tracing::info!(domain, "sincronizzazione Aruba avviata");
    progress(SyncProgress {
        fetched: 0,
        total: None,
    });
    let fetched = client
        .fetch_domain_mailboxes(domain, |fetched, total| {
            progress(SyncProgress {
                fetched,
                total: Some(total),
            })
        })
        .await;
    let fetched = match fetched {
        Ok(accounts) => confirm_missing_contacts(client, accounts).await,
        Err(error) => Err(error),
    };
    let path = store_path.to_path_buf();
    let operator = operator.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let mut store = Store::open(&path)?;
        match fetched {
            Ok(accounts) => {
                let stored = store.aruba_mailboxes()?.len();
                if accounts.is_empty() && stored > 0 {
                    let error = ArubaSyncError::EmptyListing { stored };
                    store.record_aruba_sync_failure(
                        &operator,
                        started_at,
                        Utc::now(),
                        &error.to_string(),
                    )?;
                    return Err(error);
                }
                let mailboxes: Vec<ArubaMailbox> = accounts.iter().map(mailbox_of).collect();
                Ok(store.apply_aruba_sync(&mailboxes, &operator, started_at, Utc::now())?)
            }
            Err(error) => {
                store.record_aruba_sync_failure(
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
    .map_err(|e| ArubaSyncError::Interrupted(e.to_string()))?;
    match &result {
        Ok(outcome) => tracing::info!(?outcome, "sincronizzazione Aruba completata"),
        Err(error) => tracing::warn!(%error, "sincronizzazione Aruba fallita"),
    }
    result
}

/// What a contact fix sets for one owner: the roster's values when the job
/// was made. Stored as the job item's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactFix {
    pub owner_id: i64,
    pub email: Option<String>,
    /// E.164, as the roster keeps it.
    pub mobile: Option<String>,
}

/// Why a member is left out of a contact fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixSkip {
    /// No mailbox at Aruba (or not synced, or no owner id).
    NotAtAruba,
    /// The roster has neither e-mail nor mobile.
    NoRosterContact,
    /// Aruba already has the roster's values.
    AlreadyAligned,
}

/// The job item that brings `entry`'s contacts at Aruba to the roster's, or
/// why there is none.
pub fn fix_item(entry: &RosterEntry) -> Result<NewJobItem, FixSkip> {
    let (Some(member), Some(aruba)) = (entry.member.as_ref(), entry.aruba.mailbox()) else {
        return Err(FixSkip::NotAtAruba);
    };
    contact_fix_item(
        entry.member_id,
        member.email_servizio.as_deref(),
        member.cellulare.as_deref(),
        aruba,
    )
}

/// [`fix_item`] for a member with these roster contacts and this mailbox at
/// Aruba.
pub fn contact_fix_item(
    member_id: Option<i64>,
    email: Option<&str>,
    mobile: Option<&str>,
    aruba: &ArubaMailbox,
) -> Result<NewJobItem, FixSkip> {
    let owner_id = aruba.owner_id.ok_or(FixSkip::NotAtAruba)?;
    // Aruba's contact data needs an e-mail: a mobile alone cannot create it.
    if email.is_none() && (mobile.is_none() || aruba.contact_email.is_none()) {
        return Err(FixSkip::NoRosterContact);
    }
    let diff = contact_diff(
        email,
        mobile,
        aruba.contact_email.as_deref(),
        aruba.contact_mobile.as_deref(),
    );
    if diff.is_empty() {
        return Err(FixSkip::AlreadyAligned);
    }
    let fix = ContactFix {
        owner_id,
        email: email.map(str::to_string),
        mobile: mobile.map(str::to_string),
    };
    Ok(NewJobItem {
        address: aruba.address.clone(),
        member_id,
        payload: Some(serde_json::to_string(&fix).expect("serializable")),
    })
}

fn masked(email: Option<&str>, mobile: Option<&str>) -> String {
    let parts: Vec<String> = [
        email.map(|e| format!("e-mail {}", mask_email(e))),
        mobile.map(|m| format!("cellulare {}", mask_mobile(m))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "nessun contatto".to_string()
    } else {
        parts.join(", ")
    }
}

fn record(
    item: &JobItem,
    operator: &str,
    outcome: Outcome,
    detail: String,
    change: Option<MailboxChange>,
    transient: bool,
) -> ActionResult {
    ActionResult {
        address: item.address.clone(),
        member_id: item.member_id,
        operator: operator.to_string(),
        at: Utc::now(),
        detail,
        outcome,
        change,
        transient,
    }
}

fn failed(item: &JobItem, operator: &str, what: &str, error: &ArubaError) -> ActionResult {
    record(
        item,
        operator,
        Outcome::Failed,
        format!("{what}: {}", error.message_it()),
        None,
        error.is_transient(),
    )
}

/// Read-and-change rounds of one item before it is recorded as failed.
const CHANGE_ROUNDS: u32 = 6;

/// Carries out one Aruba item: reads the owner, changes only what differs,
/// and says what to store; a change without an answer is followed by a new
/// read, never by a blind second change. Contacts in the log are masked.
pub async fn perform(
    client: &ArubaClient,
    kind: JobKind,
    item: &JobItem,
    operator: &str,
) -> ActionResult {
    let what = "contatti presso Aruba non impostati";
    let fix: Option<ContactFix> = item
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    let (JobKind::ArubaContacts, Some(fix)) = (kind, fix) else {
        let error = ArubaError::Contract("voce della coda senza i contatti da impostare".into());
        return failed(item, operator, what, &error);
    };
    let now_set = || MailboxChange::ArubaContacts {
        email: fix.email.clone(),
        mobile: fix.mobile.clone(),
        at: Utc::now(),
    };
    let mut before: Option<(Option<String>, Option<String>)> = None;
    let mut sent = false;
    for round in 1..=CHANGE_ROUNDS {
        // Read first, every time: the last change may have landed with its answer lost.
        let owner = match client.owner(fix.owner_id).await {
            Ok(owner) => owner,
            Err(error) => {
                return failed(
                    item,
                    operator,
                    "lettura del titolare presso Aruba non riuscita",
                    &error,
                );
            }
        };
        let contacts = owner.contacts.as_ref();
        let current = (
            contacts.and_then(|c| c.email.clone()),
            contacts.and_then(|c| c.mobile.clone()),
        );
        let (first_email, first_mobile) = before.get_or_insert_with(|| current.clone()).clone();
        let diff = contact_diff(
            fix.email.as_deref(),
            fix.mobile.as_deref(),
            current.0.as_deref(),
            current.1.as_deref(),
        );
        if diff.is_empty() {
            let detail = if sent {
                format!(
                    "contatti presso Aruba impostati dall'albo: {} (prima: {}; risposta persa, verificato rileggendo)",
                    masked(fix.email.as_deref(), fix.mobile.as_deref()),
                    masked(first_email.as_deref(), first_mobile.as_deref())
                )
            } else {
                format!(
                    "contatti presso Aruba già uguali all'albo ({}): nessuna modifica",
                    masked(fix.email.as_deref(), fix.mobile.as_deref())
                )
            };
            return record(item, operator, Outcome::Ok, detail, Some(now_set()), false);
        }
        let update = ContactDataUpdate {
            email: diff.email.clone(),
            mobile: diff.mobile.as_deref().map(aruba_mobile_form),
        };
        sent = true;
        match client.update_owner_contacts(fix.owner_id, &update).await {
            Ok(answer) => {
                let c = answer.contacts.as_ref();
                let after = contact_diff(
                    fix.email.as_deref(),
                    fix.mobile.as_deref(),
                    c.and_then(|c| c.email.as_deref()),
                    c.and_then(|c| c.mobile.as_deref()),
                );
                if !after.is_empty() {
                    let error = ArubaError::Contract(
                        "Aruba ha accettato la modifica ma restituisce altri contatti".into(),
                    );
                    return failed(item, operator, what, &error);
                }
                return record(
                    item,
                    operator,
                    Outcome::Ok,
                    format!(
                        "contatti presso Aruba impostati dall'albo: {} (prima: {})",
                        masked(diff.email.as_deref(), diff.mobile.as_deref()),
                        masked(first_email.as_deref(), first_mobile.as_deref())
                    ),
                    Some(now_set()),
                    false,
                );
            }
            Err(error) if error.is_transient() && round < CHANGE_ROUNDS => {
                tracing::warn!(%error, round, "modifica presso Aruba senza risposta, rileggo il titolare");
                tokio::time::sleep(std::time::Duration::from_millis(100 * u64::from(round))).await;
            }
            Err(error) => return failed(item, operator, what, &error),
        }
    }
    unreachable!("the last round returns")
}
