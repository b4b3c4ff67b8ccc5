//! Performs the app's effects: store reads and writes on blocking threads,
//! provider calls and bulk jobs on tokio tasks. Each result goes back as an
//! action; the render loop never waits on any of it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use crate::app::inipec_flow::{IniPecAction, IniPecEffect};
use crate::app::{Action, Effect, Snapshot};
use crate::provider::api::RecoveryContactsRequest;
use crate::provider::aruba::ArubaClient;
use crate::provider::{ProviderClient, client::new_idempotency_key};
use crate::queue::{self, Control};
use crate::store::{ActionResult, Store};

/// What the effects need: where the store is, how to reach the provider, and
/// who is at the keyboard.
#[derive(Clone)]
pub struct Services {
    pub store_path: PathBuf,
    pub client: Option<ProviderClient>,
    pub operator: String,
    /// Requests a bulk job keeps in flight.
    pub max_in_flight: usize,
    /// Whether `Effect::Clipboard` may write OSC 52 to the terminal.
    pub terminal_clipboard: bool,
    /// The control of the running job, if any.
    job_control: Arc<Mutex<Option<watch::Sender<Control>>>>,
    /// Aruba's partner API and the domain to list there, when `[aruba]` is
    /// configured and the passage has not happened yet.
    pub aruba: Option<(ArubaClient, String)>,
    /// Where PEC receipts are read from (`[pec]` IMAP or Maildir), if set.
    pub receipts: Option<crate::mail::receipts::ReceiptSource>,
    /// How reminders leave, per channel.
    pub campaigns: CampaignChannels,
    /// `provider = "report"`: no background sync; each load also reads the
    /// last report's date for the header.
    pub report_mode: bool,
}

/// Events the audit screen shows at most (newest first; the filter narrows).
const AUDIT_ROWS: usize = 5000;

/// How often a running job reports progress to the console at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

impl Services {
    pub fn new(store_path: PathBuf, client: Option<ProviderClient>, operator: String) -> Self {
        Self {
            store_path,
            client,
            operator,
            max_in_flight: 8,
            terminal_clipboard: false,
            job_control: Arc::default(),
            aruba: None,
            receipts: None,
            campaigns: CampaignChannels::default(),
            report_mode: false,
        }
    }

    /// Whether the console syncs (at start and in the background): never
    /// in report mode, where nothing calls out.
    pub fn can_sync(&self) -> bool {
        !self.report_mode && (self.client.is_some() || self.aruba.is_some())
    }

    /// Runs `work` with a store on a blocking thread and sends its action.
    fn blocking(
        &self,
        tx: &UnboundedSender<Action>,
        work: impl FnOnce(&mut Store) -> Action + Send + 'static,
        on_error: impl FnOnce(String) -> Action + Send + 'static,
    ) {
        let tx = tx.clone();
        let path = self.store_path.clone();
        tokio::task::spawn_blocking(move || {
            let action = match Store::open(&path) {
                Ok(mut store) => work(&mut store),
                Err(e) => on_error(e.to_string()),
            };
            let _ = tx.send(action);
        });
    }

    /// Plans the INI-PEC update, or writes and records it.
    fn inipec(&self, effect: IniPecEffect, tx: &UnboundedSender<Action>) {
        use crate::export::inipec::{plan_file_recovering, write_locked};
        match effect {
            IniPecEffect::Plan { all } => {
                let operator = self.operator.clone();
                self.blocking(
                    tx,
                    move |store| {
                        let planned = plan_file_recovering(store, all, &operator).map(
                            |(planned, recovered)| {
                                for recovered in recovered {
                                    tracing::warn!("{recovered}");
                                }
                                Box::new(planned)
                            },
                        );
                        Action::IniPec(IniPecAction::Planned(planned.map_err(|e| e.to_string())))
                    },
                    |e| Action::IniPec(IniPecAction::Planned(Err(e))),
                )
            }
            IniPecEffect::Write { path, planned } => {
                let operator = self.operator.clone();
                self.blocking(
                    tx,
                    move |store| {
                        let written = write_locked(store, &path, &planned, &operator, Utc::now())
                            .map(|id| {
                                format!(
                                    "file INI-PEC scritto in {} ({} righe), registrato (n. {id})",
                                    path.display(),
                                    planned.plan.rows.len()
                                )
                            });
                        Action::IniPec(IniPecAction::Written(written.map_err(|e| e.to_string())))
                    },
                    |e| Action::IniPec(IniPecAction::Written(Err(e))),
                )
            }
        }
    }

    pub fn perform(&self, effect: Effect, tx: &UnboundedSender<Action>) {
        match effect {
            Effect::Load => {
                // Reminders first: the load's lists include the non-deliveries.
                let outreach_tx = tx.clone();
                self.blocking(
                    tx,
                    move |store| {
                        send_outreach(store, &outreach_tx);
                        Action::Loaded(load_snapshot(store).map_err(|e| e.to_string()))
                    },
                    |e| Action::Loaded(Err(e)),
                );
                if self.report_mode {
                    self.blocking(
                        tx,
                        |store| Action::LastReport(store.last_report().unwrap_or_default()),
                        |_| Action::LastReport(None),
                    );
                }
            }
            Effect::LoadOutreach => {
                let (tx, path) = (tx.clone(), self.store_path.clone());
                tokio::task::spawn_blocking(move || match Store::open(&path) {
                    Ok(store) => send_outreach(&store, &tx),
                    Err(e) => tracing::error!(error = %e, "reminders and receipts"),
                });
            }
            Effect::ReadReceipts => self.read_receipts(tx),
            Effect::PrepareCampaign(request) => {
                let channel = self.campaigns.get(request.channel);
                self.blocking(
                    tx,
                    move |store| {
                        let result = channel.and_then(|(env, _)| {
                            crate::campaign::prepare(store, &request, &env, Utc::now())
                                .map(|p| crate::app::remind::Prepared(Arc::new(p)))
                                .map_err(|e| e.to_string())
                        });
                        Action::CampaignPrepared(result)
                    },
                    |e| Action::CampaignPrepared(Err(e)),
                )
            }
            Effect::StartCampaign(prepared) => {
                let (operator, services, tx2) = (self.operator.clone(), self.clone(), tx.clone());
                self.blocking(
                    tx,
                    move |store| {
                        let job =
                            crate::campaign::enqueue(store, &prepared.0, &operator, Utc::now())
                                .map_err(|e| e.to_string())
                                .and_then(|id| store.job(id).map_err(|e| e.to_string()));
                        match job {
                            Ok(job) => job_started(services, tx2, Ok(job)),
                            Err(e) => Action::JobStarted(Err(e)),
                        }
                    },
                    |e| Action::JobStarted(Err(e)),
                )
            }
            Effect::LoadInDoubt => {
                let operator = self.operator.clone();
                self.blocking(
                    tx,
                    move |store| {
                        Action::InDoubtLoaded(
                            crate::campaign::settle_in_doubt(store, &operator, Utc::now())
                                .map_err(|e| e.to_string()),
                        )
                    },
                    |e| Action::InDoubtLoaded(Err(e)),
                )
            }
            Effect::ResolveInDoubt {
                reminder_ids,
                decision,
            } => {
                let (operator, services, tx2) = (self.operator.clone(), self.clone(), tx.clone());
                self.blocking(
                    tx,
                    move |store| {
                        let resolved = crate::campaign::resolve_in_doubt(
                            store,
                            &reminder_ids,
                            decision,
                            &operator,
                            Utc::now(),
                        );
                        Action::InDoubtResolved(match resolved {
                            Ok(jobs) => {
                                // Sent again by their campaign, one at a time.
                                if let Some(&job_id) = jobs.first() {
                                    let _ = tx2.send(job_started(
                                        services,
                                        tx2.clone(),
                                        store.job(job_id),
                                    ));
                                }
                                Ok(format!(
                                    "{} solleciti: {}",
                                    reminder_ids.len(),
                                    match decision {
                                        crate::store::DoubtDecision::SendAgain =>
                                            "di nuovo in coda",
                                        crate::store::DoubtDecision::MarkSent =>
                                            "segnati come inviati",
                                    }
                                ))
                            }
                            Err(e) => Err(e.to_string()),
                        })
                    },
                    |e| Action::InDoubtResolved(Err(e)),
                )
            }
            Effect::PreviewReport(request) => {
                let operator = self.operator.clone();
                let unopened = request.clone();
                self.blocking(
                    tx,
                    move |store| {
                        let result =
                            crate::sync::report_load::preview_report(store, &request, &operator)
                                .map(Box::new)
                                .map_err(|e| e.to_string());
                        Action::ReportPreviewed { request, result }
                    },
                    |e| Action::ReportPreviewed {
                        request: unopened,
                        result: Err(e),
                    },
                );
            }
            Effect::RunReport(request) => {
                // A report is a sync: never at the same time as another one.
                let lock = match crate::lock::try_lock(&self.store_path, "sync") {
                    Ok(lock) => lock,
                    Err(e) => {
                        let _ = tx.send(Action::ReportDone(Err(e.to_string())));
                        return;
                    }
                };
                let operator = self.operator.clone();
                self.blocking(
                    tx,
                    move |store| {
                        let _lock = lock;
                        Action::ReportDone(
                            crate::sync::report_load::load_report(store, &request, &operator)
                                .map(|(outcome, rejected)| {
                                    format!(
                                        "{}: {}, {rejected} righe scartate",
                                        request.path.display(),
                                        outcome.describe()
                                    )
                                })
                                .map_err(|e| e.to_string()),
                        )
                    },
                    |e| Action::ReportDone(Err(e)),
                );
            }
            Effect::LoadCounts { pec_domain, now } => {
                let earlier_tx = tx.clone();
                self.blocking(
                    tx,
                    move |store| {
                        let counted = match store.kept_dashboard_counts(&pec_domain, now) {
                            // Current: no need to look again.
                            Ok(Some(kept)) => Ok(kept),
                            _ => {
                                // Something was written since the store's counts
                                // were kept: those first, saying so, while it
                                // counts again.
                                if let Ok(Some((counts, at))) =
                                    store.earlier_dashboard_counts(&pec_domain, now)
                                {
                                    let last_sync = store.last_sync().ok().flatten();
                                    let _ = earlier_tx.send(Action::CountedEarlier(Box::new((
                                        counts, last_sync, at,
                                    ))));
                                }
                                store.dashboard_counts(&pec_domain, now)
                            }
                        };
                        let counted = counted.and_then(|counts| Ok((counts, store.last_sync()?)));
                        Action::Counted(counted.map(Box::new).map_err(|e| e.to_string()))
                    },
                    |e| Action::Counted(Err(e)),
                )
            }
            Effect::Search(request) => {
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || {
                    // Its best first when they are many, then all ranked.
                    request.run_staged(&mut |result| {
                        let _ = tx.send(Action::Searched(Box::new(result)));
                    });
                });
            }
            Effect::BuildIndex(request) => {
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || {
                    let index = crate::app::TableIndex::build(&request);
                    let _ = tx.send(Action::Indexed(Box::new(index)));
                });
            }
            Effect::Sort(request) => {
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(Action::Sorted(Box::new(request.run())));
                });
            }
            Effect::LoadEntry {
                entry,
                member_id,
                address,
            } => self.blocking(
                tx,
                move |store| Action::EntryLoaded {
                    entry,
                    result: store
                        .roster_entry(member_id, &address)
                        .map(Box::new)
                        .map_err(|e| e.to_string()),
                },
                move |e| Action::EntryLoaded {
                    entry,
                    result: Err(e),
                },
            ),
            Effect::LoadTimeline {
                entry,
                member_id,
                address,
            } => {
                self.load_trail(tx, entry, member_id);
                self.blocking(
                    tx,
                    move |store| Action::TimelineLoaded {
                        entry,
                        events: store
                            .timeline(member_id, Some(&address))
                            .unwrap_or_else(|e| {
                                tracing::error!(error = %e, "timeline");
                                Vec::new()
                            }),
                    },
                    move |_| Action::TimelineLoaded {
                        entry,
                        events: Vec::new(),
                    },
                )
            }
            Effect::LoadAudit { filter } => self.blocking(
                tx,
                move |store| {
                    Action::AuditLoaded(store.audit(&filter, AUDIT_ROWS).unwrap_or_default())
                },
                |_| Action::AuditLoaded(Vec::new()),
            ),
            Effect::Export {
                path,
                format,
                states,
                pec_domain,
            } => self.blocking(
                tx,
                move |store| {
                    let options = crate::export::ExportOptions {
                        format,
                        states,
                        pec_domain,
                        now: Utc::now(),
                    };
                    Action::Exported(
                        crate::export::export_store(store, &path, &options)
                            .map(|n| format!("{n} voci esportate in {}", path.display()))
                            .map_err(|e| e.to_string()),
                    )
                },
                |e| Action::Exported(Err(e)),
            ),
            Effect::IniPec(effect) => self.inipec(effect, tx),
            Effect::PreviewImport(request) => {
                let progress_tx = tx.clone();
                let tx = tx.clone();
                let store_path = self.store_path.clone();
                tokio::task::spawn_blocking(move || {
                    let options = request.options();
                    let mut last = Instant::now();
                    let progress = |rows| {
                        if last.elapsed() >= PROGRESS_EVERY {
                            last = Instant::now();
                            let _ = progress_tx.send(Action::ImportProgress { rows });
                        }
                    };
                    // Read as a stream and planned against the store as
                    // digests: bounded memory whatever the file's size.
                    let result = crate::import::preview_path(
                        &store_path,
                        &request.path,
                        &options,
                        progress,
                        |_| Ok(()),
                    )
                    .map(|(plan, parsed)| {
                        (
                            Box::new(plan),
                            format!("{} ({})", parsed.source, parsed.layout),
                        )
                    })
                    .map_err(|e| e.to_string());
                    let _ = tx.send(Action::ImportPreviewed { request, result });
                });
            }
            Effect::RunImport(request) => {
                // One import at a time per store, as `pecdesk import` does.
                let lock = match crate::lock::try_lock(&self.store_path, "import") {
                    Ok(lock) => lock,
                    Err(e) => {
                        let _ = tx.send(Action::ImportDone(Err(e.to_string())));
                        return;
                    }
                };
                let operator = self.operator.clone();
                let store_path = self.store_path.clone();
                self.blocking(
                    tx,
                    move |_store| {
                        let _lock = lock;
                        let options = request.options();
                        let path = &request.path;
                        // Stored while the file is read, as `pecdesk import` does.
                        let result = crate::import::import_path(
                            &store_path,
                            path,
                            &options,
                            &operator,
                            Utc::now(),
                            |_| {},
                            |_| Ok(()),
                        )
                        .map(|summary| {
                            let n = summary.stored;
                            format!(
                                "{}: {} nuovi, {} aggiornati, {} usciti dall'albo, {} scartati",
                                path.display(),
                                n.new,
                                n.updated,
                                n.removed,
                                summary.rejected
                            )
                        })
                        .map_err(|e| e.to_string());
                        Action::ImportDone(result)
                    },
                    |e| Action::ImportDone(Err(e)),
                );
            }
            Effect::CheckUnfinished => self.blocking(
                tx,
                |store| Action::Unfinished(store.unfinished_jobs().unwrap_or_default()),
                |_| Action::Unfinished(Vec::new()),
            ),
            Effect::Sync => {
                if !self.can_sync() {
                    return;
                }
                // A headless `pecdesk sync` (cron) holds the job's lock: this
                // round is skipped, and the status line says why.
                let lock = match crate::lock::try_lock(&self.store_path, "sync") {
                    Ok(lock) => Some(lock),
                    Err(crate::lock::LockError::Busy(busy)) => {
                        tracing::info!("sincronizzazione della console saltata: {busy}");
                        let _ = tx.send(Action::SyncSkipped(busy.to_string()));
                        return;
                    }
                    Err(crate::lock::LockError::Io(e)) => {
                        tracing::warn!("sync lock unavailable, syncing without it: {e}");
                        None
                    }
                };
                let client = self.client.clone();
                let aruba = self.aruba.clone();
                let (tx, path, operator) =
                    (tx.clone(), self.store_path.clone(), self.operator.clone());
                tokio::spawn(async move {
                    let _lock = lock;
                    let progress = |tx: &UnboundedSender<Action>| {
                        let tx = tx.clone();
                        move |p: crate::sync::SyncProgress| {
                            let _ = tx.send(Action::SyncProgress {
                                fetched: p.fetched,
                                total: p.total,
                            });
                        }
                    };
                    let mut result = match &client {
                        Some(client) => {
                            crate::sync::run_with_progress(&path, client, &operator, progress(&tx))
                                .await
                                .map(|o| o.describe())
                                .map_err(|e| e.to_string())
                        }
                        None => Ok(String::new()),
                    };
                    // The old provider's side after the new one's, in the same run.
                    if let Some((aruba, domain)) = &aruba {
                        let synced =
                            crate::aruba::sync(&path, aruba, domain, &operator, progress(&tx))
                                .await;
                        result = match (result, synced) {
                            (Ok(done), Ok(o)) if done.is_empty() => Ok(o.describe()),
                            (Ok(done), Ok(o)) => Ok(format!("{done}; {}", o.describe())),
                            (Ok(_), Err(e)) => Err(e.to_string()),
                            (Err(e), _) => Err(e),
                        };
                    }
                    let _ = tx.send(Action::SyncFinished(result));
                });
            }
            Effect::Resend { member_id, address } => {
                self.single_action(tx, move |client, operator| async move {
                    let result = client
                        .resend_recovery_email(&address, &new_idempotency_key())
                        .await;
                    let record =
                        queue::resend_result(&address, member_id, &operator, result.as_ref());
                    let answer = result.map_err(|e| e.message_it());
                    (
                        record,
                        Action::ResendFinished {
                            address,
                            result: answer,
                        },
                    )
                });
            }
            Effect::SetRecovery {
                member_id,
                address,
                email,
                mobile,
            } => {
                self.single_action(tx, move |client, operator| async move {
                    let request = RecoveryContactsRequest { email, mobile };
                    let result = client
                        .set_recovery_contacts(&address, &request, &new_idempotency_key())
                        .await
                        .map(|dto| dto.updated_at);
                    let record = queue::recovery_result(
                        &address,
                        member_id,
                        &operator,
                        &request,
                        result.as_ref().copied(),
                    );
                    let answer = match &result {
                        Ok(_) => Ok(record.detail.clone()),
                        Err(e) => Err(e.message_it()),
                    };
                    (
                        record,
                        Action::ActionFinished {
                            address,
                            result: answer,
                        },
                    )
                });
            }
            Effect::ResetPassword {
                member_id,
                address,
                password,
            } => {
                self.single_action(tx, move |client, operator| async move {
                    let result = client
                        .reset_password(&address, &password.0, &new_idempotency_key())
                        .await;
                    // The log says that a reset happened, never the password.
                    let record = queue::reset_result(
                        &address,
                        member_id,
                        &operator,
                        result.as_ref().map(|dto| dto.updated_at),
                    );
                    let answer = result.map(|_| password).map_err(|e| e.message_it());
                    (
                        record,
                        Action::PasswordResetFinished {
                            address,
                            result: answer,
                        },
                    )
                });
            }
            Effect::StartJob { kind, items } => {
                let operator = self.operator.clone();
                let services = self.clone();
                let tx2 = tx.clone();
                self.blocking(
                    tx,
                    move |store| {
                        let created = store
                            .create_job(kind, &operator, &items, Utc::now())
                            .and_then(|id| store.job(id));
                        job_started(services, tx2, created)
                    },
                    |e| Action::JobStarted(Err(e)),
                );
            }
            Effect::ResumeJob { job_id } => {
                let (services, tx2) = (self.clone(), tx.clone());
                self.blocking(
                    tx,
                    move |store| job_started(services, tx2, store.job(job_id)),
                    |e| Action::JobStarted(Err(e)),
                );
            }
            Effect::RetryFailed { job_id } => {
                let (services, tx2) = (self.clone(), tx.clone());
                self.blocking(
                    tx,
                    move |store| {
                        let job = store
                            .retry_failed(job_id, Utc::now())
                            .and_then(|_| store.job(job_id));
                        job_started(services, tx2, job)
                    },
                    |e| Action::JobStarted(Err(e)),
                );
            }
            Effect::ControlJob(control) => {
                if let Some(sender) = self.job_control.lock().expect("not poisoned").as_ref() {
                    let _ = sender.send(control);
                }
            }
            Effect::Clipboard(secret) => {
                if self.terminal_clipboard {
                    copy_to_clipboard(&secret.0);
                }
            }
        }
    }

    /// Calls the provider for one action, stores its record, reports back.
    fn single_action<F, Fut>(&self, tx: &UnboundedSender<Action>, call: F)
    where
        F: FnOnce(ProviderClient, String) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = (ActionResult, Action)> + Send,
    {
        let Some(client) = self.client.clone() else {
            return;
        };
        let (tx, path, operator) = (tx.clone(), self.store_path.clone(), self.operator.clone());
        tokio::spawn(async move {
            let (record, action) = call(client, operator).await;
            let stored =
                tokio::task::spawn_blocking(move || Store::open(&path)?.record_action(&record))
                    .await;
            match stored {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "recording an action"),
                Err(e) => tracing::error!(error = %e, "recording an action"),
            }
            let _ = tx.send(action);
        });
    }

    /// Runs a job in the background, reporting progress (throttled) and the end.
    /// Aruba's jobs go to Aruba, the others to the provider.
    fn run_job(&self, job_id: i64, tx: UnboundedSender<Action>) {
        let kind = Store::open(&self.store_path)
            .ok()
            .and_then(|s| s.job(job_id).ok().flatten())
            .map(|j| j.kind);
        let runner = match kind {
            Some(crate::store::JobKind::ArubaContacts) => {
                self.aruba.as_ref().map(|(c, _)| Runner::Aruba(c.clone()))
            }
            Some(crate::store::JobKind::Reminder) => Store::open(&self.store_path)
                .ok()
                .and_then(|s| crate::campaign::campaign_channel(&s, job_id).ok())
                .and_then(|channel| self.campaigns.get(channel).ok())
                .map(|(env, transport)| Runner::Campaign(transport, env.pace)),
            _ => self.client.clone().map(Runner::Provider),
        };
        let Some(runner) = runner else {
            let _ = tx.send(Action::JobFinished {
                job_id,
                result: Err(if kind == Some(crate::store::JobKind::ArubaContacts) {
                    "Aruba non configurato o passaggio già avvenuto".into()
                } else {
                    "nessun gestore configurato".into()
                }),
                failures: Vec::new(),
            });
            return;
        };
        let (control_tx, control_rx) = watch::channel(Control::Run);
        *self.job_control.lock().expect("not poisoned") = Some(control_tx);
        let (path, operator, max_in_flight) = (
            self.store_path.clone(),
            self.operator.clone(),
            self.max_in_flight,
        );
        tokio::spawn(async move {
            let progress_tx = tx.clone();
            let last = Mutex::new(Instant::now() - PROGRESS_EVERY);
            let progress = move |counts: crate::store::JobCounts| {
                let mut last = last.lock().expect("not poisoned");
                if last.elapsed() >= PROGRESS_EVERY || counts.pending == 0 {
                    *last = Instant::now();
                    let _ = progress_tx.send(Action::JobProgress { job_id, counts });
                }
            };
            let result = match &runner {
                Runner::Provider(client) => queue::run_job(
                    &path,
                    client,
                    job_id,
                    &operator,
                    max_in_flight,
                    control_rx,
                    progress,
                )
                .await
                .map_err(|e| e.to_string()),
                Runner::Aruba(client) => queue::run_aruba_job(
                    &path,
                    client,
                    job_id,
                    &operator,
                    max_in_flight,
                    control_rx,
                    progress,
                )
                .await
                .map_err(|e| e.to_string()),
                Runner::Campaign(transport, pace) => {
                    let outcome = crate::campaign::run_campaign(
                        &path, transport, job_id, &operator, *pace, control_rx, progress,
                    )
                    .await;
                    match outcome {
                        Ok(o) => {
                            if let Some(stop) = &o.stopped {
                                tracing::warn!("campagna {job_id} fermata: {}", stop.describe());
                            }
                            Ok(o.counts)
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
            };
            let failures = tokio::task::spawn_blocking(move || failures_of(&path, job_id))
                .await
                .unwrap_or_default();
            let _ = tx.send(Action::JobFinished {
                job_id,
                result,
                failures,
            });
        });
    }
}

impl Services {
    /// A member's reminders with their receipts, for the detail.
    fn load_trail(&self, tx: &UnboundedSender<Action>, entry: usize, member_id: Option<i64>) {
        self.blocking(
            tx,
            move |store| Action::TrailLoaded {
                entry,
                trail: member_id
                    .map(|id| store.reminder_trail(id))
                    .transpose()
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "reminders of a member");
                        None
                    })
                    .unwrap_or_default(),
            },
            move |_| Action::TrailLoaded {
                entry,
                trail: Vec::new(),
            },
        );
    }

    /// Reads the PEC receipts in the background, as `pecdesk receipts` does
    /// and under the same lock: while a headless run holds it, this round
    /// reads nothing.
    fn read_receipts(&self, tx: &UnboundedSender<Action>) {
        let Some(source) = self.receipts.clone() else {
            let _ = tx.send(Action::ReceiptsRead(Err(
                crate::mail::receipts::SettingsError::NotConfigured.to_string(),
            )));
            return;
        };
        let lock = match crate::lock::try_lock(&self.store_path, "receipts") {
            Ok(lock) => Some(lock),
            Err(crate::lock::LockError::Busy(busy)) => {
                tracing::info!("lettura delle ricevute della console saltata: {busy}");
                let _ = tx.send(Action::ReceiptsRead(Ok(
                    crate::app::outreach::ReceiptsRead {
                        at: Utc::now(),
                        ..Default::default()
                    },
                )));
                return;
            }
            Err(crate::lock::LockError::Io(e)) => {
                tracing::warn!("receipts lock unavailable, reading without it: {e}");
                None
            }
        };
        let (tx, path) = (tx.clone(), self.store_path.clone());
        tokio::spawn(async move {
            let _lock = lock;
            let result = crate::mail::receipts::read(&path, &source).await;
            let result = match result {
                Ok(summary) => {
                    tracing::info!("{}: {}", summary.source, summary.describe());
                    Ok(crate::app::outreach::ReceiptsRead::of(&summary, Utc::now()))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lettura delle ricevute PEC");
                    Err(e.to_string())
                }
            };
            let _ = tx.send(Action::ReceiptsRead(result));
        });
    }
}

/// Sends what the store says of reminders; a failure is logged and leaves
/// the console's figures as they were.
fn send_outreach(store: &Store, tx: &UnboundedSender<Action>) {
    match store.outreach(Utc::now()) {
        Ok(data) => {
            let _ = tx.send(Action::OutreachLoaded(Box::new(data)));
        }
        Err(e) => tracing::error!(error = %e, "reminders and receipts"),
    }
}

/// Who carries out a job's items.
enum Runner {
    Provider(ProviderClient),
    Aruba(ArubaClient),
    /// A reminder campaign: its channel's way out and pace.
    Campaign(crate::campaign::Transport, crate::campaign::Pace),
}

/// How reminders leave, per channel: the campaign's environment (sender,
/// pace, the templates' values) and its transport; or why the channel
/// cannot be used (said when a campaign is prepared, never at start).
#[derive(Clone, Default)]
pub struct CampaignChannels {
    pub email: Option<Result<(crate::campaign::CampaignEnv, crate::campaign::Transport), String>>,
    pub pec: Option<Result<(crate::campaign::CampaignEnv, crate::campaign::Transport), String>>,
}

impl CampaignChannels {
    /// From `[mail]` and `[pec]`: SMTP for each channel set.
    pub fn from_config(config: &crate::config::Config, config_dir: Option<&Path>) -> Self {
        use crate::mail::Channel;
        let channel = |channel: Channel| {
            Some(
                crate::campaign::CampaignEnv::from_config(config, config_dir, channel)
                    .and_then(|env| {
                        crate::campaign::smtp_transport(config, channel).map(|(t, _)| (env, t))
                    })
                    .map_err(|e| e.to_string()),
            )
        };
        Self {
            email: channel(Channel::Email),
            pec: channel(Channel::Pec),
        }
    }

    /// The demo's: both channels into the local outbox, at a pace that shows
    /// progress (PEC 120 a minute, e-mail unlimited).
    pub fn demo(outbox: &Path, ordine: &str, cutover: Option<chrono::NaiveDate>) -> Self {
        use crate::campaign::{CampaignEnv, Pace, Transport};
        use crate::mail::demo::{EMAIL_FROM, PEC_FROM};
        let channel = |from: &str, rate_per_minute: u32| {
            let env = CampaignEnv {
                ordine: ordine.to_string(),
                cutover,
                config_dir: None,
                from: from.to_string(),
                pace: Pace {
                    rate_per_minute,
                    daily_cap: 0,
                    connections: 2,
                    retry_after: Duration::from_secs(5),
                    tries_per_run: 3,
                },
            };
            Some(
                Transport::outbox(outbox, from, from)
                    .map(|t| (env, t))
                    .map_err(|e| e.to_string()),
            )
        };
        Self {
            email: channel(EMAIL_FROM, 0),
            pec: channel(PEC_FROM, 120),
        }
    }

    fn get(
        &self,
        channel: crate::mail::Channel,
    ) -> Result<(crate::campaign::CampaignEnv, crate::campaign::Transport), String> {
        let set = match channel {
            crate::mail::Channel::Email => &self.email,
            crate::mail::Channel::Pec => &self.pec,
        };
        match set {
            Some(result) => result.clone(),
            None => Err(format!("canale {} non configurato", channel.code())),
        }
    }
}

fn job_started(
    services: Services,
    tx: UnboundedSender<Action>,
    job: crate::store::Result<Option<crate::store::Job>>,
) -> Action {
    match job {
        Ok(Some(job)) => {
            services.run_job(job.id, tx);
            Action::JobStarted(Ok(job))
        }
        Ok(None) => Action::JobStarted(Err("lavoro inesistente".into())),
        Err(e) => Action::JobStarted(Err(e.to_string())),
    }
}

fn failures_of(path: &Path, job_id: i64) -> Vec<(String, String)> {
    Store::open(path)
        .and_then(|s| s.failed_items(job_id))
        .map(|items| {
            items
                .into_iter()
                .map(|i| (i.address, i.result.unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

/// OSC 52: the terminal (also over SSH) puts the text on the local clipboard.
fn copy_to_clipboard(text: &str) {
    use std::io::Write;
    let encoded = base64_encode(text.as_bytes());
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{encoded}\x07");
    let _ = out.flush();
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn load_snapshot(store: &Store) -> crate::store::Result<Snapshot> {
    Ok(Snapshot {
        entries: store.roster_rows()?,
        last_sync: store.last_sync()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{Command, Level, Settings, State, update};
    use crate::provider::ClientConfig;

    /// The console's import waits for no one: while `pecdesk import` holds
    /// the lock it is refused with the lock's message, and nothing is read.
    #[tokio::test]
    async fn the_console_import_is_refused_while_a_headless_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("c.db");
        Store::open(&store).unwrap();
        let services = Services::new(store.clone(), None, "op".into());
        let _headless = crate::lock::lock(&store, "import").unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        services.perform(
            Effect::RunImport(crate::app::import_flow::RosterRequest {
                path: dir.path().join("albo.csv"),
                ..Default::default()
            }),
            &tx,
        );
        match rx.recv().await.unwrap() {
            Action::ImportDone(Err(why)) => assert!(why.contains("\"import\""), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    /// While a headless `pecdesk sync` holds the lock, the console's round is
    /// skipped (no request, no second writer) and the status line says so.
    #[tokio::test]
    async fn the_background_sync_skips_its_round_while_a_headless_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("c.db");
        Store::open(&store).unwrap();
        // Nothing listens there: a request would fail, not skip.
        let mut config = ClientConfig::new("http://127.0.0.1:9", "t");
        config.max_attempts = 1;
        let client = ProviderClient::new(config).unwrap();
        let services = Services::new(store.clone(), Some(client), "op".into());
        let headless = crate::lock::lock(&store, "sync").unwrap();
        let mut state = State::new(
            Settings {
                lang: crate::i18n::Lang::It,
                pec_domain: "pec.fofi.it".into(),
                ordine: "Ordine".into(),
                cutover: None,
            },
            chrono::Utc::now(),
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for effect in update(&mut state, Action::Command(Command::Sync)) {
            services.perform(effect, &tx);
        }
        assert!(state.sync_running);
        let action = rx.recv().await.unwrap();
        assert!(
            matches!(&action, Action::SyncSkipped(why) if why.contains("\"sync\"")),
            "{action:?}"
        );
        update(&mut state, action);
        assert!(!state.sync_running);
        match &state.status {
            Some((Level::Info, text)) => {
                assert!(text.starts_with("sincronizzazione saltata"), "{text}")
            }
            other => panic!("{other:?}"),
        }
        // Once the headless sync is over, the round runs (and here fails to connect).
        drop(headless);
        for effect in update(&mut state, Action::Command(Command::Sync)) {
            services.perform(effect, &tx);
        }
        loop {
            match rx.recv().await.unwrap() {
                Action::SyncFinished(result) => {
                    assert!(result.is_err());
                    break;
                }
                Action::SyncProgress { .. } => {}
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64_encode(b""), "");
        assert_eq!(super::base64_encode(b"f"), "Zg==");
        assert_eq!(super::base64_encode(b"fo"), "Zm8=");
        assert_eq!(super::base64_encode(b"foo"), "Zm9v");
        assert_eq!(
            super::base64_encode(b"Farm4cia!2025"),
            "RmFybTRjaWEhMjAyNQ=="
        );
    }
}
