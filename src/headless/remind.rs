//! `pecdesk remind`: a reminder campaign from cron or a shell, through the
//! same queue, pace and exactly-once rules as the console; and the
//! operator's decisions on reminders in doubt.

use std::io::IsTerminal;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde::Serialize;
use tokio::sync::watch;

use super::{DoneWithFailures, lock};
use crate::campaign::{
    self, CampaignEnv, CampaignOutcome, CampaignPreview, CampaignRequest, LeftOut, Stop,
};
use crate::config::Config;
use crate::domain::Category;
use crate::domain::template::TemplateName;
use crate::mail::Channel;
use crate::queue::Control;
use crate::store::{DoubtDecision, InDoubtReminder, JobCounts, Store};

/// The mail server could not be reached: exit code 3, like an unreachable provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MailUnreachable(pub String);

/// Options of `pecdesk remind`.
#[derive(Debug, Clone, Default)]
pub struct RemindOptions {
    pub states: Vec<Category>,
    pub template: Option<String>,
    pub channel: Option<String>,
    pub not_reminded_for: Option<TimeDelta>,
    pub dry_run: bool,
    pub yes: bool,
    pub json: bool,
    /// List the reminders in doubt (after settling what receipts prove).
    pub in_doubt: bool,
    pub send_again: Vec<i64>,
    pub mark_sent: Vec<i64>,
    pub pec_domain: String,
}

/// A duration as staff read it: "45 s", "12 min", "3 h 20 min".
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

#[derive(Serialize)]
struct PreviewReport<'a> {
    dry_run: bool,
    template: &'a str,
    channel: &'a str,
    recipients: usize,
    first_to: Option<&'a str>,
    first_subject: Option<&'a str>,
    left_out: &'a [LeftOut],
    estimated_seconds: u64,
    rate_per_minute: u32,
    allowed_today: Option<usize>,
}

fn print_preview(preview: &CampaignPreview, dry_run: bool) {
    let channel = channel_label(preview.channel);
    println!(
        "Sollecito «{}» via {channel}: {} destinatari, {} esclusi",
        preview.template.code(),
        preview.recipients.len(),
        preview.left_out.len()
    );
    if let Some(first) = preview.first() {
        // The subject only: message bodies are not shown outside the console.
        println!("  primo messaggio: a {} — «{}»", first.to, first.subject);
    }
    let rate = match preview.pace.rate_per_minute {
        0 => "senza limite di velocità".to_string(),
        n => format!("{n} messaggi al minuto"),
    };
    println!(
        "  tempo stimato: {} ({rate})",
        format_duration(preview.estimated)
    );
    if let Some(allowed) = preview.allowed_today
        && allowed < preview.recipients.len()
    {
        println!(
            "  limite giornaliero: oggi ne partono {allowed}, il resto con le prossime riprese (pecdesk queue resume)"
        );
    }
    for l in &preview.left_out {
        println!(
            "  escluso {} (id {}): {}",
            l.name,
            l.member_id,
            l.reason.describe()
        );
    }
    if dry_run {
        println!("Nulla è stato inviato: aggiungere --yes per inviare.");
    }
}

fn channel_label(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "e-mail",
        Channel::Pec => "PEC",
    }
}

fn print_in_doubt(list: &[InDoubtReminder]) {
    if list.is_empty() {
        println!("Nessun sollecito in stato incerto.");
        return;
    }
    println!(
        "Solleciti in stato incerto (inviati senza risposta del server): {}",
        list.len()
    );
    for r in list {
        println!(
            "  {}  {}  «{}» via {}  dal {}  <{}>",
            r.reminder_id,
            r.recipient,
            r.template,
            if r.channel == "pec" { "PEC" } else { "e-mail" },
            crate::i18n::format_datetime(r.since),
            r.message_id
        );
    }
    println!(
        "Decidere: pecdesk remind --in-doubt --mark-sent ID... (l'iscritto l'ha ricevuto) oppure --send-again ID..."
    );
}

fn print_outcome(o: &CampaignOutcome) {
    println!(
        "Campagna {}: {} inviati, {} non inviati, {} incerti, {} da inviare su {}",
        o.job_id, o.sent, o.failed, o.in_doubt, o.pending, o.total
    );
    if o.recovered_in_doubt > 0 {
        println!(
            "  {} solleciti interrotti da un'esecuzione precedente sono in stato incerto: pecdesk remind --in-doubt",
            o.recovered_in_doubt
        );
    }
    if let Some(stop) = &o.stopped {
        println!("  fermata: {}", stop.describe());
    }
    if o.cancelled {
        println!("  annullata dall'operatore");
    }
}

/// Runs one campaign, with progress on stderr when it is a terminal; the
/// outcome turned into the command's result (exit codes 0, 1, 2, 3).
pub async fn run_and_report(
    store_path: &Path,
    config: &Config,
    job_id: i64,
    operator: &str,
    json: bool,
    preview: Option<&CampaignPreview>,
) -> anyhow::Result<()> {
    let channel = campaign::campaign_channel(&Store::open(store_path)?, job_id)?;
    let (transport, pace) = campaign::smtp_transport(config, channel)?;
    let on_terminal = std::io::stderr().is_terminal();
    let (_control, control_rx) = watch::channel(Control::Run);
    let progress = move |c: JobCounts| {
        if on_terminal {
            eprint!(
                "\r{} / {} ({} non inviati o incerti)   ",
                c.done + c.failed,
                c.total,
                c.failed
            );
            let _ = std::io::stderr().flush();
        }
    };
    let outcome = campaign::run_campaign(
        store_path, &transport, job_id, operator, pace, control_rx, progress,
    )
    .await?;
    if on_terminal {
        eprintln!();
    }
    let in_doubt = Store::open(store_path)?.in_doubt_reminders(Some(job_id))?;
    if json {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(flatten)]
            outcome: &'a CampaignOutcome,
            in_doubt_list: &'a [InDoubtReminder],
            #[serde(skip_serializing_if = "Option::is_none")]
            recipients: Option<usize>,
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&Out {
                outcome: &outcome,
                in_doubt_list: &in_doubt,
                recipients: preview.map(|p| p.recipients.len()),
            })?
        );
    } else {
        print_outcome(&outcome);
        if !in_doubt.is_empty() {
            print_in_doubt(&in_doubt);
        }
    }
    match &outcome.stopped {
        Some(Stop::Unreachable { error }) => {
            return Err(
                MailUnreachable(format!("server di posta non raggiungibile: {error}")).into(),
            );
        }
        Some(Stop::LoginRefused { error }) => {
            anyhow::bail!("accesso al server di posta rifiutato: {error}")
        }
        _ => {}
    }
    let refused_for_now = if matches!(outcome.stopped, Some(Stop::DailyCap { .. })) {
        0
    } else {
        outcome.pending
    };
    let failed = outcome.failed + outcome.in_doubt + refused_for_now;
    if failed > 0 && !outcome.cancelled {
        return Err(DoneWithFailures {
            failed,
            total: outcome.total,
        }
        .into());
    }
    Ok(())
}

/// `pecdesk remind`.
pub async fn remind(
    store_path: &Path,
    config: &Config,
    config_dir: Option<&Path>,
    operator: &str,
    options: &RemindOptions,
) -> anyhow::Result<()> {
    if options.in_doubt || !options.send_again.is_empty() || !options.mark_sent.is_empty() {
        return in_doubt(store_path, config, operator, options).await;
    }
    let template = options
        .template
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("indicare --template (migrazione, credenziali, ...)"))?;
    let template = TemplateName::from_code(template).ok_or_else(|| {
        anyhow::anyhow!(crate::mail::TemplatesError::UnknownName(
            template.to_string()
        ))
    })?;
    let channel = options
        .channel
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("indicare --channel email|pec"))?;
    let channel = Channel::from_code(channel)
        .ok_or_else(|| anyhow::anyhow!("canale sconosciuto «{channel}»: email oppure pec"))?;
    if options.states.is_empty() {
        anyhow::bail!(
            "indicare almeno uno stato con --state: chi sollecitare (pecdesk remind --help elenca gli stati)"
        );
    }
    let env = CampaignEnv::from_config(config, config_dir, channel)?;
    let now = Utc::now();
    let store = Store::open(store_path)?;
    let members: Vec<i64> = store
        .roster_entries()?
        .iter()
        .filter(|e| {
            options
                .states
                .iter()
                .any(|&c| crate::report::entry_is_in(e, c, &options.pec_domain, now))
        })
        .filter_map(|e| e.member_id)
        .collect();
    let request = CampaignRequest {
        template,
        channel,
        members,
        not_reminded_for: options.not_reminded_for,
    };
    let preview = campaign::prepare(&store, &request, &env, now)?;
    drop(store);
    let report = |dry_run| PreviewReport {
        dry_run,
        template: preview.template.code(),
        channel: preview.channel.code(),
        recipients: preview.recipients.len(),
        first_to: preview.first().map(|r| r.to.as_str()),
        first_subject: preview.first().map(|r| r.subject.as_str()),
        left_out: &preview.left_out,
        estimated_seconds: preview.estimated.as_secs(),
        rate_per_minute: preview.pace.rate_per_minute,
        allowed_today: preview.allowed_today,
    };
    if options.dry_run || !options.yes {
        if options.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report(options.dry_run || !options.yes))?
            );
        } else {
            print_preview(&preview, true);
        }
        return Ok(());
    }
    if preview.recipients.is_empty() {
        if options.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report(options.dry_run || !options.yes))?
            );
        } else {
            print_preview(&preview, false);
            println!("Nessun sollecito da inviare.");
        }
        return Ok(());
    }
    let _lock = lock(store_path, "remind")?;
    if !options.json {
        print_preview(&preview, false);
    }
    // No new campaign while another process runs the queue (as the bulk
    // actions); the lock is let go just before the campaign runs.
    let queue = lock(store_path, "queue")?;
    let job_id = campaign::enqueue(&mut Store::open(store_path)?, &preview, operator, now)?;
    drop(queue);
    tracing::info!(
        job_id,
        recipients = preview.recipients.len(),
        template = preview.template.code(),
        channel = preview.channel.code(),
        "reminder campaign queued"
    );
    run_and_report(
        store_path,
        config,
        job_id,
        operator,
        options.json,
        Some(&preview),
    )
    .await
}

/// `--in-doubt`, `--send-again`, `--mark-sent`.
async fn in_doubt(
    store_path: &Path,
    config: &Config,
    operator: &str,
    options: &RemindOptions,
) -> anyhow::Result<()> {
    let _lock = lock(store_path, "remind")?;
    let now = Utc::now();
    let mut store = Store::open(store_path)?;
    let list = campaign::settle_in_doubt(&mut store, operator, now)?;
    if !list.settled.is_empty() && !options.json {
        println!(
            "{} solleciti incerti confermati dalle ricevute PEC",
            list.settled.len()
        );
    }
    if !options.mark_sent.is_empty() {
        campaign::resolve_in_doubt(
            &mut store,
            &options.mark_sent,
            DoubtDecision::MarkSent,
            operator,
            now,
        )?;
        if !options.json {
            println!("{} solleciti segnati come inviati", options.mark_sent.len());
        }
    }
    let jobs = if options.send_again.is_empty() {
        Vec::new()
    } else {
        campaign::resolve_in_doubt(
            &mut store,
            &options.send_again,
            DoubtDecision::SendAgain,
            operator,
            now,
        )?
    };
    drop(store);
    for job_id in jobs {
        run_and_report(store_path, config, job_id, operator, options.json, None).await?;
    }
    let open = Store::open(store_path)?.in_doubt_reminders(None)?;
    if options.json {
        #[derive(Serialize)]
        struct Out<'a> {
            settled: &'a [InDoubtReminder],
            in_doubt: &'a [InDoubtReminder],
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&Out {
                settled: &list.settled,
                in_doubt: &open,
            })?
        );
    } else {
        print_in_doubt(&open);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_secs(45)), "45 s");
        assert_eq!(format_duration(Duration::from_secs(61)), "2 min");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 3600 + 20 * 60)),
            "3 h 20 min"
        );
    }
}
