//! Staff actions on mailboxes: bulk jobs over the marked members, the recovery
//! contact form, and the password reset with its live checklist.

use chrono::{DateTime, Utc};
use tui_input::{Input, InputRequest};

use super::{Action, Effect, Level, Modal, State};
use crate::aruba::FixSkip;
use crate::domain::{contact, password};
use crate::i18n::T;
use crate::queue::Control;
use crate::store::{Job, JobCounts, JobKind, NewJobItem, RosterRow};

/// A password while it exists in memory: never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A text field whose content is secret.
#[derive(Clone, Default)]
pub struct SecretInput(pub Input);

impl std::fmt::Debug for SecretInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretInput(***)")
    }
}

/// A bulk job as the console follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub id: i64,
    pub kind: JobKind,
    pub counts: JobCounts,
    /// Items already processed when this run started, for the estimate.
    pub processed_at_start: usize,
    pub started_at: DateTime<Utc>,
    pub paused: bool,
    pub finished: bool,
    /// Address and reason of each failure, once finished.
    pub failures: Vec<(String, String)>,
}

impl JobView {
    pub fn processed(&self) -> usize {
        self.counts.done + self.counts.failed
    }

    /// Seconds to the end at the pace of this run so far.
    pub fn eta_seconds(&self, now: DateTime<Utc>) -> Option<u64> {
        let done_now = self.processed().saturating_sub(self.processed_at_start);
        let elapsed = (now - self.started_at).num_milliseconds().max(0) as f64 / 1000.0;
        (done_now > 0 && elapsed > 0.0)
            .then(|| (self.counts.pending as f64 * elapsed / done_now as f64).ceil() as u64)
    }
}

/// Why an entry is left out of a bulk action.
fn unfit(kind: JobKind, entry: RosterRow<'_>) -> Option<T> {
    if kind == JobKind::ArubaContacts {
        return match aruba_fix(entry) {
            Ok(_) => None,
            Err(FixSkip::NotAtAruba) => Some(T::SkipNotAtAruba),
            Err(FixSkip::NoRosterContact) => Some(T::SkipNoRosterContact),
            Err(FixSkip::AlreadyAligned) => Some(T::SkipArubaAligned),
        };
    }
    let Some(mailbox) = entry.mailbox() else {
        return Some(T::SkipNoMailbox);
    };
    match kind {
        JobKind::Resend if !mailbox.can_receive_recovery_email() => Some(T::SkipNoRecoveryEmail),
        JobKind::SetRecovery
            if !entry.has_member()
                || (entry.email_servizio().is_none() && entry.cellulare().is_none()) =>
        {
            Some(T::SkipNoRosterContact)
        }
        _ => None,
    }
}

/// The contact fix at Aruba for an entry ([`crate::aruba::fix_item`]).
fn aruba_fix(entry: RosterRow<'_>) -> Result<NewJobItem, FixSkip> {
    match entry.aruba().mailbox() {
        Some(aruba) if entry.has_member() => crate::aruba::contact_fix_item(
            entry.member_id(),
            entry.email_servizio(),
            entry.cellulare(),
            &aruba.to_mailbox(),
        ),
        _ => Err(FixSkip::NotAtAruba),
    }
}

/// The job item for an entry (for set-recovery, the contacts from the roster).
fn job_item(kind: JobKind, entry: RosterRow<'_>) -> NewJobItem {
    if kind == JobKind::ArubaContacts
        && let Ok(item) = aruba_fix(entry)
    {
        return item;
    }
    let payload = (kind == JobKind::SetRecovery && entry.has_member()).then(|| {
        serde_json::to_string(&crate::provider::api::RecoveryContactsRequest {
            email: entry.email_servizio().map(str::to_string),
            mobile: entry.cellulare().map(str::to_string),
        })
        .expect("serialisable")
    });
    NewJobItem {
        address: entry.address().to_string(),
        member_id: entry.member_id(),
        payload,
    }
}

/// Opens the confirmation of a bulk action on the marked entries.
pub fn request_bulk(state: &mut State, kind: JobKind) {
    if state.job.as_ref().is_some_and(|j| !j.finished) {
        state.status(Level::Error, state.t(T::JobAlreadyRunning));
        return;
    }
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for (index, entry) in state.entries.iter().enumerate() {
        if !state.marked.contains(entry.address()) {
            continue;
        }
        match unfit(kind, entry) {
            None => targets.push(index),
            Some(reason) => skipped.push((index, reason)),
        }
    }
    state.modal = Some(Modal::ConfirmBulk {
        kind,
        targets,
        skipped,
    });
}

/// `c` on an Aruba list: the owners' contacts at Aruba from the roster, for
/// the marked members or else the one under the cursor, through the queue.
/// After the passage Aruba is history and nothing is changed there.
pub fn request_aruba_fix(state: &mut State) {
    if state.after_cutover() {
        state.status(Level::Info, state.t(T::ArubaAfterCutover));
        return;
    }
    if state.job.as_ref().is_some_and(|j| !j.finished) {
        state.status(Level::Error, state.t(T::JobAlreadyRunning));
        return;
    }
    let kind = JobKind::ArubaContacts;
    let chosen: Vec<usize> = if state.marked.is_empty() {
        state.selected_entry().map(|(i, _)| i).into_iter().collect()
    } else {
        (0..state.entries.len())
            .filter(|&i| state.marked.contains(state.entries.row(i).address()))
            .collect()
    };
    let (mut targets, mut skipped) = (Vec::new(), Vec::new());
    for index in chosen {
        match unfit(kind, state.entries.row(index)) {
            None => targets.push(index),
            Some(reason) => skipped.push((index, reason)),
        }
    }
    state.modal = Some(Modal::ConfirmBulk {
        kind,
        targets,
        skipped,
    });
}

/// The confirmed bulk action becomes a job in the store.
pub fn start_bulk(state: &mut State, kind: JobKind, targets: &[usize]) -> Vec<Effect> {
    if targets.is_empty() {
        return vec![];
    }
    let items = targets
        .iter()
        .map(|&i| job_item(kind, state.entries.row(i)))
        .collect();
    state.marked.clear();
    vec![Effect::StartJob { kind, items }]
}

pub fn job_started(state: &mut State, job: &Job) {
    state.job = Some(JobView {
        id: job.id,
        kind: job.kind,
        counts: job.counts,
        processed_at_start: job.counts.done + job.counts.failed,
        started_at: state.now,
        paused: false,
        finished: false,
        failures: Vec::new(),
    });
    state.modal = Some(Modal::Job);
}

/// A form to set or fix the selected member's recovery contacts.
#[derive(Debug, Clone)]
pub struct RecoveryForm {
    pub entry: usize,
    pub email: Input,
    pub mobile: Input,
    /// 0: e-mail, 1: mobile.
    pub focus: usize,
    pub error: Option<String>,
}

/// Opens the form, and reads the entry in full for the contacts on file
/// (the form shows them once they are in).
pub fn open_recovery_form(state: &mut State) -> Vec<Effect> {
    let Some((index, entry)) = state.selected_entry() else {
        return vec![];
    };
    if entry.mailbox().is_none() {
        state.status(Level::Error, state.t(T::ResendNoMailbox));
        return vec![];
    }
    // Start from the roster's values: usually what staff want to send.
    let email = entry.email_servizio().unwrap_or_default().to_string();
    let mobile = entry.cellulare().unwrap_or_default().to_string();
    state.modal = Some(Modal::RecoveryForm(RecoveryForm {
        entry: index,
        email: Input::new(email),
        mobile: Input::new(mobile),
        focus: 0,
        error: None,
    }));
    state.load_entry(index)
}

/// Validates the form as the importer validates rows.
pub fn validate_recovery(form: &RecoveryForm) -> Result<(Option<String>, Option<String>), String> {
    let email = Some(form.email.value().trim())
        .filter(|v| !v.is_empty())
        .map(contact::normalize_email)
        .transpose()
        .map_err(|e| e.to_string())?;
    let mobile = Some(form.mobile.value().trim())
        .filter(|v| !v.is_empty())
        .map(contact::normalize_mobile)
        .transpose()
        .map_err(|e| e.to_string())?;
    if email.is_none() && mobile.is_none() {
        return Err("indicare almeno un'e-mail o un cellulare".to_string());
    }
    Ok((email, mobile))
}

/// The password reset form: a typed or generated temporary password, checked
/// live against the six rules for this mailbox's user id.
#[derive(Debug, Clone)]
pub struct PasswordForm {
    pub entry: usize,
    pub input: SecretInput,
}

impl PasswordForm {
    pub fn user_id(&self, state: &State) -> String {
        password::user_id_of(state.entries.row(self.entry).address())
    }

    pub fn broken_rules(&self, state: &State) -> Vec<password::PasswordRule> {
        password::check(self.input.0.value(), &self.user_id(state))
    }
}

pub fn open_password_form(state: &mut State) {
    let Some((index, entry)) = state.selected_entry() else {
        return;
    };
    if entry.mailbox().is_none() {
        state.status(Level::Error, state.t(T::ResendNoMailbox));
        return;
    }
    state.modal = Some(Modal::PasswordForm(PasswordForm {
        entry: index,
        input: SecretInput::default(),
    }));
}

pub fn generate_into(form: &mut PasswordForm, user_id: &str) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let generated = password::generate(&mut rng, user_id, 12);
    form.input = SecretInput(Input::new(generated));
}

pub fn edit(input: &mut Input, request: InputRequest) {
    input.handle(request);
}

/// Closes the confirmation and sends a single action for `entry`.
fn send_single(
    state: &mut State,
    entry: usize,
    make: impl FnOnce(Option<i64>, String) -> Effect,
) -> Vec<Effect> {
    let e = state.entries.row(entry);
    let (member_id, address) = (e.member_id(), e.address().to_string());
    state.in_flight.insert(address.clone());
    state.modal = None;
    vec![make(member_id, address)]
}

/// Keys and results for the action modals. `None`: not this module's business.
pub fn update_modal(state: &mut State, action: &Action) -> Option<Vec<Effect>> {
    let modal = state.modal.as_mut()?;
    let confirm = matches!(action, Action::Confirm);
    let cancel = matches!(
        action,
        Action::Cancel | Action::Command(super::Command::Back)
    );
    let effects = match modal {
        Modal::ConfirmBulk { kind, targets, .. } => {
            if confirm {
                let (kind, targets) = (*kind, std::mem::take(targets));
                state.modal = None;
                start_bulk(state, kind, &targets)
            } else {
                if cancel {
                    state.modal = None;
                }
                vec![]
            }
        }
        Modal::Job => {
            let Some(job) = &mut state.job else {
                state.modal = None;
                return Some(vec![]);
            };
            match action {
                Action::JobPause if !job.finished => {
                    job.paused = !job.paused;
                    let control = if job.paused {
                        Control::Pause
                    } else {
                        Control::Run
                    };
                    vec![Effect::ControlJob(control)]
                }
                Action::JobCancel if !job.finished => vec![Effect::ControlJob(Control::Cancel)],
                Action::JobRetry if job.finished && job.counts.failed > 0 => {
                    vec![Effect::RetryFailed { job_id: job.id }]
                }
                _ if cancel || confirm => {
                    state.modal = None;
                    vec![]
                }
                _ => vec![],
            }
        }
        Modal::Resume { jobs } => {
            if confirm {
                let job_id = jobs[0].id;
                state.modal = None;
                vec![Effect::ResumeJob { job_id }]
            } else {
                if cancel {
                    state.modal = None;
                }
                vec![]
            }
        }
        Modal::RecoveryForm(form) => match action {
            Action::FormEdit(request) => {
                let input = if form.focus == 0 {
                    &mut form.email
                } else {
                    &mut form.mobile
                };
                edit(input, *request);
                form.error = None;
                vec![]
            }
            Action::FormNextField | Action::ModalMove(_) => {
                form.focus = 1 - form.focus;
                vec![]
            }
            _ if confirm => {
                match validate_recovery(form) {
                    Ok((email, mobile)) => {
                        let entry = form.entry;
                        state.modal = Some(Modal::ConfirmRecovery {
                            entry,
                            email,
                            mobile,
                        });
                    }
                    Err(error) => form.error = Some(error),
                }
                vec![]
            }
            _ if cancel => {
                state.modal = None;
                vec![]
            }
            _ => vec![],
        },
        Modal::PasswordForm(form) => match action {
            Action::FormEdit(request) => {
                edit(&mut form.input.0, *request);
                vec![]
            }
            Action::FormGenerate => {
                let user_id = password::user_id_of(state.entries.row(form.entry).address());
                generate_into(form, &user_id);
                vec![]
            }
            _ if confirm => {
                let user_id = password::user_id_of(state.entries.row(form.entry).address());
                if password::check(form.input.0.value(), &user_id).is_empty() {
                    let entry = form.entry;
                    let secret = Secret(form.input.0.value().to_string());
                    state.modal = Some(Modal::ConfirmReset {
                        entry,
                        password: secret,
                    });
                }
                vec![]
            }
            _ if cancel => {
                state.modal = None;
                vec![]
            }
            _ => vec![],
        },
        Modal::ConfirmRecovery {
            entry,
            email,
            mobile,
        } if confirm => {
            let (entry, email, mobile) = (*entry, email.clone(), mobile.clone());
            send_single(state, entry, |member_id, address| Effect::SetRecovery {
                member_id,
                address,
                email,
                mobile,
            })
        }
        Modal::ConfirmReset { entry, password } if confirm => {
            let (entry, password) = (*entry, password.clone());
            send_single(state, entry, |member_id, address| Effect::ResetPassword {
                member_id,
                address,
                password,
            })
        }
        Modal::ConfirmRecovery { .. } | Modal::ConfirmReset { .. } => {
            if cancel {
                state.modal = None;
            }
            vec![]
        }
        Modal::PasswordShown { password, .. } => match action {
            Action::Copy => vec![Effect::Clipboard(password.clone())],
            // Closing drops the only copy of the password.
            _ if cancel || confirm => {
                state.modal = None;
                vec![]
            }
            _ => vec![],
        },
        _ => return None,
    };
    Some(effects)
}
