//! Headless actions for scripts and cron: the same queue, idempotency keys and
//! audit trail as the console, with progress on stderr, an optional JSON
//! result on stdout, and exit codes (0 done, 1 done with failures, 2 usage or
//! configuration, 3 provider unreachable).

use std::io::{IsTerminal, Write};
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::domain::Category;
pub use crate::lock::{AlreadyRunning, JobLock, lock};
use crate::provider::aruba::ArubaClient;
use crate::provider::{ProviderClient, ProviderError};
use crate::queue::{self, Control};
use crate::store::{Event, JobCounts, JobKind, NewJobItem, RosterEntry, Store};

mod report_sync;
pub use report_sync::{ReportSyncArgs, sync_report};
mod inipec;
pub use inipec::{IniPecRun, export_inipec};

mod remind;
pub use remind::{MailUnreachable, RemindOptions, format_duration, remind};

/// A run that finished but with items that failed: exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{failed} voci non riuscite su {total}")]
pub struct DoneWithFailures {
    pub failed: usize,
    pub total: usize,
}

/// The process exit code for the outcome of a command.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<DoneWithFailures>().is_some()
        || error
            .downcast_ref::<crate::privacy::ChainBroken>()
            .is_some()
        || error.downcast_ref::<crate::who::NoMatch>().is_some()
    {
        return 1;
    }
    let unreachable = error.chain().any(|cause| {
        cause.downcast_ref::<ProviderError>().is_some_and(|e| {
            matches!(
                e.root(),
                ProviderError::Unreachable(_) | ProviderError::Timeout
            )
        }) || cause
            .downcast_ref::<crate::provider::aruba::ArubaError>()
            .is_some_and(crate::provider::aruba::ArubaError::is_unreachable)
    });
    let mail_unreachable = error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<crate::mail::receipts::ReadError>(),
            Some(crate::mail::receipts::ReadError::Connect { .. })
        ) || cause.downcast_ref::<MailUnreachable>().is_some()
    });
    if unreachable || mail_unreachable {
        3
    } else {
        2
    }
}

/// The message for an error that ends a command: each cause once. Many of
/// the library's errors already say their cause in their own text, and
/// repeating it after a colon would print it twice.
pub fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// Parses durations such as `2d`, `12h`, `30m`.
pub fn parse_age(text: &str) -> Result<TimeDelta, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: i64 = number
        .parse()
        .map_err(|_| format!("durata non valida: \"{text}\" (es. 2d, 12h, 30m)"))?;
    match unit {
        "d" => Ok(TimeDelta::days(n)),
        "h" => Ok(TimeDelta::hours(n)),
        "m" => Ok(TimeDelta::minutes(n)),
        _ => Err(format!("durata non valida: \"{text}\" (es. 2d, 12h, 30m)")),
    }
}

/// Which entries a headless resend would touch, and which it leaves out.
pub fn resend_targets<'a>(
    entries: &'a [RosterEntry],
    states: &[Category],
    older_than: Option<TimeDelta>,
    pec_domain: &str,
    now: DateTime<Utc>,
) -> Vec<&'a RosterEntry> {
    entries
        .iter()
        .filter(|e| {
            states.is_empty()
                || states.iter().any(|&c| {
                    crate::domain::category::is_in(
                        c,
                        e.member.as_ref(),
                        e.in_roster,
                        e.mailbox.as_ref(),
                        pec_domain,
                        now,
                    )
                })
        })
        .filter(|e| {
            e.mailbox
                .as_ref()
                .is_some_and(|m| m.can_receive_recovery_email())
        })
        .filter(|e| match older_than {
            None => true,
            // The last link was sent longer ago than that (or never).
            Some(age) => e
                .mailbox
                .as_ref()
                .and_then(|m| m.link_sent_at)
                .is_none_or(|sent| now - sent >= age),
        })
        .collect()
}

#[derive(Debug, Serialize)]
struct JobReport {
    job_id: Option<i64>,
    dry_run: bool,
    total: usize,
    done: usize,
    failed: usize,
    pending: usize,
    mailboxes: Vec<String>,
    failures: Vec<Failure>,
}

#[derive(Debug, Serialize)]
struct Failure {
    address: String,
    reason: String,
}

fn print_report(report: &JobReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    if report.dry_run {
        println!(
            "Da fare ({} caselle; nulla è stato inviato, aggiungere --yes per eseguire):",
            report.total
        );
        for address in &report.mailboxes {
            println!("  {address}");
        }
        return Ok(());
    }
    println!(
        "Lavoro {}: {} fatti, {} falliti, {} rimanenti su {}",
        report.job_id.unwrap_or_default(),
        report.done,
        report.failed,
        report.pending,
        report.total
    );
    for f in &report.failures {
        println!("  {}: {}", f.address, f.reason);
    }
    Ok(())
}

/// Who carries out a job's items: the provider, or Aruba.
#[derive(Clone, Copy)]
enum Runner<'a> {
    Provider(&'a ProviderClient),
    Aruba(&'a ArubaClient),
}

/// Runs one stored job to the end, with progress on stderr when it is a terminal.
async fn run_stored_job(
    store_path: &Path,
    client: Runner<'_>,
    job_id: i64,
    operator: &str,
    max_in_flight: usize,
    json: bool,
) -> anyhow::Result<()> {
    let on_terminal = std::io::stderr().is_terminal();
    let (_control, control_rx) = watch::channel(Control::Run);
    let progress = move |c: JobCounts| {
        if on_terminal {
            eprint!(
                "\r{} / {} ({} falliti)   ",
                c.done + c.failed,
                c.total,
                c.failed
            );
            let _ = std::io::stderr().flush();
        }
    };
    let counts = match client {
        Runner::Provider(client) => {
            queue::run_job(
                store_path,
                client,
                job_id,
                operator,
                max_in_flight,
                control_rx,
                progress,
            )
            .await?
        }
        Runner::Aruba(client) => {
            queue::run_aruba_job(
                store_path,
                client,
                job_id,
                operator,
                max_in_flight,
                control_rx,
                progress,
            )
            .await?
        }
    };
    if on_terminal {
        eprintln!();
    }
    let store = Store::open(store_path)?;
    let failures = store
        .failed_items(job_id)?
        .into_iter()
        .map(|i| Failure {
            address: i.address,
            reason: i.result.unwrap_or_default(),
        })
        .collect();
    print_report(
        &JobReport {
            job_id: Some(job_id),
            dry_run: false,
            total: counts.total,
            done: counts.done,
            failed: counts.failed,
            pending: counts.pending,
            mailboxes: Vec::new(),
            failures,
        },
        json,
    )?;
    if counts.failed > 0 {
        return Err(DoneWithFailures {
            failed: counts.failed,
            total: counts.total,
        }
        .into());
    }
    Ok(())
}

/// Options of `pecdesk resend`.
pub struct ResendOptions {
    pub states: Vec<Category>,
    pub older_than: Option<TimeDelta>,
    pub dry_run: bool,
    pub yes: bool,
    pub json: bool,
    pub pec_domain: String,
    pub max_in_flight: usize,
}

/// `pecdesk resend`: without `--yes` (or with `--dry-run`) only lists.
pub async fn resend(
    store_path: &Path,
    client: Option<&ProviderClient>,
    operator: &str,
    options: &ResendOptions,
) -> anyhow::Result<()> {
    let entries = Store::open(store_path)?.roster_entries()?;
    let targets = resend_targets(
        &entries,
        &options.states,
        options.older_than,
        &options.pec_domain,
        Utc::now(),
    );
    if options.dry_run || !options.yes {
        return print_report(
            &JobReport {
                job_id: None,
                dry_run: true,
                total: targets.len(),
                done: 0,
                failed: 0,
                pending: targets.len(),
                mailboxes: targets.iter().map(|e| e.address().to_string()).collect(),
                failures: Vec::new(),
            },
            options.json,
        );
    }
    let client = client
        .ok_or_else(|| anyhow::anyhow!("nessun gestore configurato: indicare provider_url"))?;
    let _lock = lock(store_path, "resend")?;
    let items: Vec<NewJobItem> = targets
        .iter()
        .map(|e| NewJobItem {
            address: e.address().to_string(),
            member_id: e.member_id,
            payload: None,
        })
        .collect();
    // No new job while another process runs the queue: it would stay queued
    // and go out with the next `queue resume`, long after this refusal. The
    // lock is let go just before the job runs, which takes it again.
    let queue = lock(store_path, "queue")?;
    let job_id =
        Store::open(store_path)?.create_job(JobKind::Resend, operator, &items, Utc::now())?;
    drop(queue);
    run_stored_job(
        store_path,
        Runner::Provider(client),
        job_id,
        operator,
        options.max_in_flight,
        options.json,
    )
    .await
}

/// `pecdesk queue resume`: finishes every job an earlier run left unfinished.
/// Reminder campaigns go through the mail settings of `config`.
#[allow(clippy::too_many_arguments)]
pub async fn queue_resume(
    store_path: &Path,
    client: Option<&ProviderClient>,
    aruba: Option<&ArubaClient>,
    operator: &str,
    yes: bool,
    json: bool,
    max_in_flight: usize,
    config: Option<&crate::config::Config>,
) -> anyhow::Result<()> {
    let jobs = Store::open(store_path)?.unfinished_jobs()?;
    if jobs.is_empty() {
        println!("Nessun lavoro da riprendere.");
        return Ok(());
    }
    if !yes {
        println!("Lavori da riprendere (aggiungere --yes per eseguirli):");
        for job in &jobs {
            println!(
                "  {} {} di {} del {}: {} rimanenti su {}",
                job.id,
                job.kind.code(),
                job.operator,
                crate::i18n::format_datetime(job.created_at),
                job.counts.pending,
                job.counts.total
            );
        }
        return Ok(());
    }
    // `queue::run_job` holds the queue's lock while it runs each job.
    let mut failed = 0;
    let mut total = 0;
    for job in jobs {
        let result = if job.kind == JobKind::Reminder {
            let config =
                config.ok_or_else(|| anyhow::anyhow!("configurazione della posta mancante"))?;
            remind::run_and_report(store_path, config, job.id, operator, json, None).await
        } else {
            let runner = match job.kind {
                JobKind::ArubaContacts => Runner::Aruba(aruba.ok_or_else(|| {
                    anyhow::anyhow!("lavoro {} presso Aruba: [aruba] non configurato", job.id)
                })?),
                _ => Runner::Provider(client.ok_or_else(|| {
                    anyhow::anyhow!("nessun gestore configurato: indicare provider_url")
                })?),
            };
            run_stored_job(store_path, runner, job.id, operator, max_in_flight, json).await
        };
        match result {
            Ok(()) => {}
            Err(e) => match e.downcast::<DoneWithFailures>() {
                Ok(f) => {
                    failed += f.failed;
                    total += f.total;
                }
                Err(e) => return Err(e),
            },
        }
    }
    if failed > 0 {
        return Err(DoneWithFailures { failed, total }.into());
    }
    Ok(())
}

/// Options of `pecdesk aruba fix-contacts`.
pub struct ArubaFixOptions {
    /// Only members in these Aruba lists; empty: the lists a fix applies to
    /// (no contact, contact different from the roster).
    pub states: Vec<Category>,
    pub dry_run: bool,
    pub yes: bool,
    pub json: bool,
    pub pec_domain: String,
    pub max_in_flight: usize,
    /// After the passage Aruba is history: nothing is changed there.
    pub after_cutover: bool,
}

/// `pecdesk aruba fix-contacts`: sets owners' contact e-mail and mobile at
/// Aruba from the roster, through the queue; without `--yes` only lists.
pub async fn aruba_fix_contacts(
    store_path: &Path,
    client: Option<&ArubaClient>,
    operator: &str,
    options: &ArubaFixOptions,
) -> anyhow::Result<()> {
    if options.after_cutover {
        anyhow::bail!(
            "il passaggio al nuovo gestore è avvenuto: i dati di Aruba sono solo storici e \
             pecdesk non cambia più nulla presso Aruba"
        );
    }
    let states = if options.states.is_empty() {
        vec![Category::ArubaNoContact, Category::ArubaContactDiffers]
    } else {
        options.states.clone()
    };
    let now = Utc::now();
    let entries = Store::open(store_path)?.roster_entries()?;
    let items: Vec<NewJobItem> = entries
        .iter()
        .filter(|e| {
            states
                .iter()
                .any(|&c| crate::report::entry_is_in(e, c, &options.pec_domain, now))
        })
        .filter_map(|e| crate::aruba::fix_item(e).ok())
        .collect();
    if options.dry_run || !options.yes {
        return print_report(
            &JobReport {
                job_id: None,
                dry_run: true,
                total: items.len(),
                done: 0,
                failed: 0,
                pending: items.len(),
                mailboxes: items.iter().map(|i| i.address.clone()).collect(),
                failures: Vec::new(),
            },
            options.json,
        );
    }
    let client = client.ok_or_else(|| {
        anyhow::anyhow!("Aruba non configurato: [aruba] url e username, PECDESK_ARUBA_PASSWORD")
    })?;
    let _lock = lock(store_path, "aruba-fix")?;
    let queue = lock(store_path, "queue")?;
    let job_id =
        Store::open(store_path)?.create_job(JobKind::ArubaContacts, operator, &items, now)?;
    drop(queue);
    run_stored_job(
        store_path,
        Runner::Aruba(client),
        job_id,
        operator,
        options.max_in_flight,
        options.json,
    )
    .await
}

/// `pecdesk audit export`: the event log as CSV for the Ordine's records.
pub fn audit_export(
    store_path: &Path,
    out: &Path,
    since: Option<DateTime<Utc>>,
) -> anyhow::Result<usize> {
    let store = Store::open(store_path)?;
    let events = store.events_since(since)?;
    let count = events.len();
    crate::export::write_atomically(out, |w| write_audit_csv(w, &events))?;
    println!("{}", store.chain_head()?);
    Ok(count)
}

fn write_audit_csv(out: &mut dyn Write, events: &[Event]) -> std::io::Result<()> {
    use crate::export::escape_formula;
    // Excel in Italian locale: BOM, `;`, CRLF.
    out.write_all("\u{feff}".as_bytes())?;
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    writer.write_record([
        "id",
        "data e ora",
        "operatore",
        "tipo",
        "iscritto",
        "casella",
        "descrizione",
        "esito",
        "account",
    ])?;
    for e in events {
        let outcome = match e.outcome {
            Some(crate::store::Outcome::Ok) => "ok",
            Some(crate::store::Outcome::Failed) => "non riuscito",
            None => "",
        };
        writer.write_record([
            e.id.to_string().as_str(),
            &crate::i18n::format_datetime(e.at),
            &escape_formula(&e.operator),
            e.kind.code(),
            &e.member_id.map(|id| id.to_string()).unwrap_or_default(),
            &escape_formula(e.mailbox.as_deref().unwrap_or_default()),
            &escape_formula(&e.detail),
            outcome,
            &escape_formula(&e.account),
        ])?;
    }
    writer.flush()
}

/// `pecdesk receipts`: reads the PEC receipts that arrived since the last
/// run, stores them on the reminders they answer, and lists the members whose
/// reminder was not delivered. Malformed receipts make exit code 1.
pub async fn receipts(
    store_path: &Path,
    source: &crate::mail::receipts::ReceiptSource,
    json: bool,
) -> anyhow::Result<()> {
    let _lock = lock(store_path, "receipts")?;
    let summary = crate::mail::receipts::read(store_path, source).await?;
    let undelivered = Store::open(store_path)?.undelivered_reminders()?;
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            summary: &'a crate::mail::receipts::ReadSummary,
            to_chase: &'a [crate::store::Undelivered],
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&Out {
                summary: &summary,
                to_chase: &undelivered,
            })?
        );
    } else {
        println!("Ricevute PEC da {}: {}", summary.source, summary.describe());
        for bad in &summary.malformed {
            eprintln!("  ricevuta non valida ({}): {}", bad.location, bad.error);
        }
        if !undelivered.is_empty() {
            println!(
                "Da sollecitare (sollecito PEC non consegnato): {}",
                undelivered.len()
            );
            for u in &undelivered {
                println!(
                    "  {} {} <{}>: {}{}",
                    u.cognome,
                    u.nome,
                    u.pec,
                    u.kind,
                    u.error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    if summary.malformed.is_empty() {
        Ok(())
    } else {
        Err(DoneWithFailures {
            failed: summary.malformed.len(),
            total: summary.read,
        }
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_message_says_each_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("impossibile leggere albo.csv: {source}")]
        struct Read {
            source: std::io::Error,
        }
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "file non trovato");
        let error = anyhow::Error::new(Read { source: io() }).context("importazione");
        assert_eq!(
            error_message(&error),
            "importazione: impossibile leggere albo.csv: file non trovato"
        );
        let plain = anyhow::Error::new(io()).context("importazione");
        assert_eq!(error_message(&plain), "importazione: file non trovato");
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("2d"), Ok(TimeDelta::days(2)));
        assert_eq!(parse_age("12h"), Ok(TimeDelta::hours(12)));
        assert!(parse_age("2 weeks").is_err());
        assert!(parse_age("d").is_err());
    }

    #[test]
    fn a_second_lock_on_the_same_job_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        let first = lock(&store, "resend").unwrap();
        let err = lock(&store, "resend").err().unwrap();
        assert!(err.downcast_ref::<AlreadyRunning>().is_some());
        assert_eq!(exit_code(&err), 2);
        // Another job is not blocked.
        let _other = lock(&store, "queue").unwrap();
        drop(first);
        lock(&store, "resend").unwrap();
    }

    #[test]
    fn exit_codes() {
        let failures: anyhow::Error = DoneWithFailures {
            failed: 1,
            total: 2,
        }
        .into();
        assert_eq!(exit_code(&failures), 1);
        let unreachable =
            anyhow::Error::from(ProviderError::Unreachable("x".into())).context("sync");
        assert_eq!(exit_code(&unreachable), 3);
        assert_eq!(exit_code(&anyhow::anyhow!("config")), 2);
    }
}
