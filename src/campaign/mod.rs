//! Reminder campaigns: the right message to the right members, through the
//! Ordine's own mail servers, at a pace they accept, exactly once.
//!
//! 1. [`prepare`] renders every member's message and says who is left out
//!    and why, and how long the pace makes it take. Nothing is written.
//! 2. [`enqueue`] writes the campaign as a job of the queue before the first
//!    message: one item and one `reminders` row per member, with the
//!    Message-ID pecdesk generated.
//! 3. [`run_campaign`] sends it (pause, cancel, resume after a crash, like
//!    the other bulk actions); each outcome is stored as it arrives.
//! 4. A message that went out without a reply is in doubt: never sent again
//!    on its own. [`settle_in_doubt`] settles what PEC receipts prove;
//!    [`resolve_in_doubt`] applies the operator's decision on the rest.

mod run;
mod transport;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

use crate::domain::template::{Placeholder, TemplateName, Values};
use crate::mail::{Channel, ChannelSettings, SettingsError, TemplateSource, TemplatesError};
use crate::store::{
    DoubtDecision, InDoubtReminder, NewCampaign, NewReminder, ReminderState, Store, StoreError,
};

pub use run::{CampaignOutcome, Stop, run_campaign};
pub use transport::{Outbox, Transport};

#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplatesError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Send(#[from] crate::mail::SendError),
    /// Another process (the console or a cron run) is running the queue.
    #[error(transparent)]
    Busy(#[from] crate::lock::LockError),
    #[error("nessun iscritto a cui inviare il sollecito")]
    NoRecipients,
    #[error("il lavoro {0} non è una campagna di solleciti")]
    NotACampaign(i64),
    #[error("campagna interrotta: {0}")]
    Interrupted(String),
    #[error("impossibile creare la cartella della posta in uscita {path}: {source}")]
    Outbox {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The pace of one channel: how fast, how many a day, how many connections,
/// and how a temporary refusal is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Messages a minute at most; 0: no limit.
    pub rate_per_minute: u32,
    /// Messages a day at most (a rolling 24 hours, all campaigns of the
    /// channel); 0: no cap.
    pub daily_cap: u32,
    /// Messages in flight at once (SMTP connections).
    pub connections: usize,
    /// How long a member refused for now (4xx) waits before the next try;
    /// doubled at each try.
    pub retry_after: Duration,
    /// Tries of one member in one run; past them the member stays deferred
    /// for the next run.
    pub tries_per_run: u32,
}

impl Pace {
    /// The pace the channel's settings give.
    pub fn of(settings: &ChannelSettings) -> Self {
        Pace {
            rate_per_minute: settings.rate_per_minute,
            daily_cap: settings.daily_cap,
            connections: settings.connections.max(1),
            retry_after: Duration::from_secs(60),
            tries_per_run: 3,
        }
    }

    /// The gap between two messages (zero: no limit).
    pub fn interval(&self) -> Duration {
        if self.rate_per_minute == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(60.0 / self.rate_per_minute as f64)
        }
    }

    /// How long `count` messages take at this rate (the first goes at once),
    /// not counting the days a daily cap adds.
    pub fn duration_for(&self, count: usize) -> Duration {
        self.interval() * count.saturating_sub(1) as u32
    }
}

/// What a campaign needs beyond the store: who sends, how fast, the values
/// the templates use.
#[derive(Debug, Clone)]
pub struct CampaignEnv {
    /// `{ordine}`.
    pub ordine: String,
    /// `{data_passaggio}`, `{giorni_al_passaggio}`.
    pub cutover: Option<NaiveDate>,
    /// The configuration directory: templates in `<dir>/templates/` replace
    /// the bundled ones.
    pub config_dir: Option<PathBuf>,
    /// The sender (`from` of the channel): the Message-IDs' domain.
    pub from: String,
    pub pace: Pace,
}

impl CampaignEnv {
    /// The environment of `channel` as the configuration describes it.
    pub fn from_config(
        config: &crate::config::Config,
        config_dir: Option<&Path>,
        channel: Channel,
    ) -> Result<Self, CampaignError> {
        let settings = config.channel(channel)?;
        Ok(CampaignEnv {
            ordine: config.ordine.clone(),
            cutover: config.cutover,
            config_dir: config_dir.map(Path::to_path_buf),
            from: settings.from.clone(),
            pace: Pace::of(&settings),
        })
    }
}

/// What the operator asks: one template, one channel, these members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRequest {
    pub template: TemplateName,
    pub channel: Channel,
    /// Member ids (the "to chase" list, the filtered table, the marked rows),
    /// in the order they will be sent; repeats are ignored.
    pub members: Vec<i64>,
    /// Leave out members reminded (by any template or channel) more recently.
    pub not_reminded_for: Option<TimeDelta>,
}

/// Why a member gets no message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum LeftOutReason {
    /// Not in the store, erased, or no longer in the roster.
    NotInRoster,
    /// E-mail channel, and no service e-mail on file.
    NoServiceEmail,
    /// PEC channel, and no PEC address on file.
    NoPec,
    /// Reminded less than N days ago.
    RemindedRecently { at: DateTime<Utc>, days: i64 },
    /// A reminder to them is still queued or in doubt.
    AlreadyQueued { state: String },
    /// The template needs values this member does not have.
    MissingValues { placeholders: Vec<String> },
}

impl LeftOutReason {
    /// In Italian, for the screen and the command line.
    pub fn describe(&self) -> String {
        match self {
            LeftOutReason::NotInRoster => "non è nell'albo".into(),
            LeftOutReason::NoServiceEmail => "nessuna e-mail di servizio".into(),
            LeftOutReason::NoPec => "nessun indirizzo PEC".into(),
            LeftOutReason::RemindedRecently { at, days } => format!(
                "sollecitato il {} (meno di {days} giorni fa)",
                crate::i18n::format_datetime(*at)
            ),
            LeftOutReason::AlreadyQueued { state } => {
                format!("un sollecito è già in coda ({state})")
            }
            LeftOutReason::MissingValues { placeholders } => format!(
                "mancano i valori di {}",
                placeholders
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

/// A member left out, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOut {
    pub member_id: i64,
    /// "Cognome Nome", empty when unknown.
    pub name: String,
    #[serde(flatten)]
    pub reason: LeftOutReason,
}

/// One member's message, exactly as they will read it.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    pub member_id: i64,
    pub name: String,
    /// Where it goes: the PEC address or the service e-mail.
    pub to: String,
    /// The member's PEC address (their audit trail's key).
    pub pec: String,
    pub subject: String,
    #[serde(skip)]
    pub body: String,
}

impl std::fmt::Debug for Recipient {
    /// The body is personal: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("member_id", &self.member_id)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// A campaign prepared: shown for confirmation, then given to [`enqueue`].
#[derive(Debug, Clone)]
pub struct CampaignPreview {
    pub template: TemplateName,
    pub template_source: TemplateSource,
    pub channel: Channel,
    /// In the request's order; the first is the message to show.
    pub recipients: Vec<Recipient>,
    pub left_out: Vec<LeftOut>,
    pub pace: Pace,
    /// The time the rate implies for every recipient.
    pub estimated: Duration,
    /// With a daily cap: how many may still go today (rolling 24 hours);
    /// the rest wait for later runs (`pecdesk queue resume`).
    pub allowed_today: Option<usize>,
    /// The sender, for the Message-IDs.
    pub from: String,
}

impl CampaignPreview {
    /// The first message, as the member will read it.
    pub fn first(&self) -> Option<&Recipient> {
        self.recipients.first()
    }
}

/// A placeholder written out literally in a rendered text (from a value or
/// a `{{...}}` escape): such a message never leaves.
pub fn leftover_placeholder(text: &str) -> Option<Placeholder> {
    Placeholder::ALL
        .iter()
        .copied()
        .find(|p| text.contains(&format!("{{{}}}", p.code())))
}

/// Renders the campaign for the requested members and says who is left out.
/// Reads the store only. Fails on a template that does not parse (an
/// unknown placeholder), before anything is written or sent.
pub fn prepare(
    store: &Store,
    request: &CampaignRequest,
    env: &CampaignEnv,
    now: DateTime<Utc>,
) -> Result<CampaignPreview, CampaignError> {
    let (template, template_source) =
        crate::mail::load_template(request.template.code(), env.config_dir.as_deref())?;
    let entries = store.roster_entries()?;
    let by_id: HashMap<i64, &crate::store::RosterEntry> = entries
        .iter()
        .filter_map(|e| e.member_id.map(|id| (id, e)))
        .collect();
    let last: HashMap<i64, crate::store::LastReminder> = store
        .last_reminders()?
        .into_iter()
        .map(|r| (r.member_id, r))
        .collect();
    let today = crate::i18n::italian_time(now).date();
    let mut seen = std::collections::HashSet::new();
    let mut recipients = Vec::new();
    let mut left_out = Vec::new();
    for &member_id in &request.members {
        if !seen.insert(member_id) {
            continue;
        }
        let entry = by_id.get(&member_id);
        let member = entry.and_then(|e| e.member.as_ref());
        let name = member
            .map(|m| format!("{} {}", m.cognome, m.nome))
            .unwrap_or_default();
        let mut leave = |reason| {
            left_out.push(LeftOut {
                member_id,
                name: name.clone(),
                reason,
            })
        };
        let (Some(entry), Some(member)) = (entry, member) else {
            leave(LeftOutReason::NotInRoster);
            continue;
        };
        if !entry.in_roster || member.pec.is_empty() && member.cognome.is_empty() {
            leave(LeftOutReason::NotInRoster);
            continue;
        }
        let to = match request.channel {
            Channel::Email => match member.email_servizio.as_deref().filter(|e| !e.is_empty()) {
                Some(email) => email.to_string(),
                None => {
                    leave(LeftOutReason::NoServiceEmail);
                    continue;
                }
            },
            Channel::Pec => {
                if member.pec.is_empty() {
                    leave(LeftOutReason::NoPec);
                    continue;
                }
                member.pec.clone()
            }
        };
        if let Some(last) = last.get(&member_id) {
            if matches!(
                last.state,
                ReminderState::Pending
                    | ReminderState::Deferred
                    | ReminderState::Sending
                    | ReminderState::InDoubt
            ) {
                leave(LeftOutReason::AlreadyQueued {
                    state: last.state.code().to_string(),
                });
                continue;
            }
            if let Some(window) = request.not_reminded_for
                && now - last.at < window
            {
                leave(LeftOutReason::RemindedRecently {
                    at: last.at,
                    days: window.num_days(),
                });
                continue;
            }
        }
        let values = Values::for_member(
            member,
            entry.mailbox.as_ref(),
            &env.ordine,
            env.cutover,
            today,
        );
        let missing = template.missing(&values);
        if !missing.is_empty() {
            leave(LeftOutReason::MissingValues {
                placeholders: missing.iter().map(|p| p.code().to_string()).collect(),
            });
            continue;
        }
        let rendered = match template.render(&values) {
            Ok(r) => r,
            Err(p) => {
                leave(LeftOutReason::MissingValues {
                    placeholders: vec![p.code().to_string()],
                });
                continue;
            }
        };
        if let Some(p) =
            leftover_placeholder(&rendered.subject).or_else(|| leftover_placeholder(&rendered.body))
        {
            leave(LeftOutReason::MissingValues {
                placeholders: vec![p.code().to_string()],
            });
            continue;
        }
        recipients.push(Recipient {
            member_id,
            name,
            to,
            pec: member.pec.clone(),
            subject: rendered.subject,
            body: rendered.body,
        });
    }
    let pace = env.pace;
    let allowed_today = if pace.daily_cap > 0 {
        let used = store.reminders_sent_since(request.channel.code(), now - TimeDelta::days(1))?;
        Some((pace.daily_cap as usize).saturating_sub(used))
    } else {
        None
    };
    Ok(CampaignPreview {
        template: request.template,
        template_source,
        channel: request.channel,
        estimated: pace.duration_for(recipients.len()),
        recipients,
        left_out,
        pace,
        allowed_today,
        from: env.from.clone(),
    })
}

/// Writes the prepared campaign into the queue, before its first message.
/// Returns the job's id, to give to [`run_campaign`]. The caller holds the
/// queue's lock if another process may be running it (as the bulk actions do).
pub fn enqueue(
    store: &mut Store,
    preview: &CampaignPreview,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<i64, CampaignError> {
    if preview.recipients.is_empty() {
        return Err(CampaignError::NoRecipients);
    }
    let campaign = NewCampaign {
        template: preview.template.code().to_string(),
        channel: preview.channel.code().to_string(),
        reminders: preview
            .recipients
            .iter()
            .map(|r| NewReminder {
                member_id: r.member_id,
                recipient: r.to.clone(),
                pec: r.pec.clone(),
                subject: r.subject.clone(),
                body: r.body.clone(),
            })
            .collect(),
    };
    let from = preview.from.clone();
    let job_id = store.create_campaign(&campaign, operator, now, |job, position| {
        crate::mail::new_message_id(&from, job, position)
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_string()
    })?;
    Ok(job_id)
}

/// Settles the in-doubt reminders that stored PEC receipts prove (an
/// acceptance: sent; a non-acceptance: failed), then lists the rest for the
/// operator. Run `pecdesk receipts` (or let the console read them) first.
pub fn settle_in_doubt(
    store: &mut Store,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<InDoubtList, CampaignError> {
    let settled = store.settle_in_doubt_by_receipts(operator, now)?;
    let open = store.in_doubt_reminders(None)?;
    Ok(InDoubtList { settled, open })
}

/// In-doubt reminders after the receipts were looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InDoubtList {
    /// Settled now by a receipt.
    pub settled: Vec<InDoubtReminder>,
    /// Still in doubt: the operator decides.
    pub open: Vec<InDoubtReminder>,
}

/// The operator's decision on in-doubt reminders (by reminder id). With
/// [`DoubtDecision::SendAgain`] the campaigns they belong to are pending
/// again: returns their job ids, to run with [`run_campaign`].
pub fn resolve_in_doubt(
    store: &mut Store,
    reminder_ids: &[i64],
    decision: DoubtDecision,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, CampaignError> {
    Ok(store.resolve_in_doubt(reminder_ids, decision, operator, now)?)
}

/// The channel of campaign `job_id`.
pub fn campaign_channel(store: &Store, job_id: i64) -> Result<Channel, CampaignError> {
    store
        .campaign_channel(job_id)?
        .as_deref()
        .and_then(Channel::from_code)
        .ok_or(CampaignError::NotACampaign(job_id))
}

/// The SMTP way out of `channel` and its pace, as the configuration says.
pub fn smtp_transport(
    config: &crate::config::Config,
    channel: Channel,
) -> Result<(Transport, Pace), CampaignError> {
    let settings = config.channel(channel)?;
    Ok((Transport::smtp(&settings)?, Pace::of(&settings)))
}
