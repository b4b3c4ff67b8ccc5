//! `m` and `:remind`: a reminder campaign from the console. The members are
//! the marked ones, else what the table shows (a "to chase" list, a filter,
//! a search); staff choose the template and the channel, then see the first
//! message exactly as the member will read it, how many will get it, who is
//! left out and why, and the time the pace implies; confirming writes the
//! campaign into the queue and opens the bulk actions' progress window.
//! Reminders in doubt (their data went out without the server's reply) are
//! listed for the operator to decide: send again, or mark as sent.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Action, Effect, Level, Modal, State};
use crate::campaign::{CampaignPreview, CampaignRequest, InDoubtList};
use crate::domain::template::TemplateName;
use crate::i18n::T;
use crate::mail::Channel;
use crate::store::InDoubtReminder;

/// A prepared campaign, shared between the state and the effect that
/// enqueues it (it holds every recipient's message).
#[derive(Clone)]
pub struct Prepared(pub Arc<CampaignPreview>);

impl std::fmt::Debug for Prepared {
    /// Bodies are personal: only the counts.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("template", &self.0.template)
            .field("channel", &self.0.channel)
            .field("recipients", &self.0.recipients.len())
            .field("left_out", &self.0.left_out.len())
            .finish()
    }
}

impl PartialEq for Prepared {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Prepared {}

/// Where the remind window is.
#[derive(Debug, Clone)]
pub enum RemindStep {
    /// Template (cursor over `TemplateName::ALL`) and channel.
    Choose {
        members: Vec<i64>,
        cursor: usize,
        channel: Channel,
    },
    /// Waiting for the preview.
    Preparing { members: Vec<i64>, channel: Channel },
    /// The first message, the counts, who is left out; `scroll` for the body.
    Preview { prepared: Prepared, scroll: u16 },
    /// The campaign could not be prepared (template, settings).
    Failed { message: String },
    /// Reminders in doubt, for the operator's decision.
    InDoubt {
        items: Vec<InDoubtReminder>,
        cursor: usize,
        chosen: BTreeSet<i64>,
        /// Settled by their receipts when the list was made.
        settled: usize,
    },
}

/// The template suggested for what the table shows.
fn suggested(state: &State) -> usize {
    use crate::domain::Category as C;
    let by_list = [
        (C::FailedCredentials, TemplateName::Credenziali),
        (C::Failed2fa, TemplateName::DoppioFattore),
        (C::LinkExpired, TemplateName::LinkScaduto),
        (C::NoRecoveryContact, TemplateName::NessunContatto),
    ];
    let template = by_list
        .iter()
        .find(|(c, _)| state.filter.len() == 1 && state.filter.contains(c))
        .map(|(_, t)| *t)
        .unwrap_or(if state.after_cutover() {
            TemplateName::DopoPassaggio
        } else {
            TemplateName::Migrazione
        });
    TemplateName::ALL
        .iter()
        .position(|&t| t == template)
        .unwrap_or(0)
}

/// `m`: the members to remind, and the window to choose template and channel.
pub(super) fn open(state: &mut State) -> Vec<Effect> {
    let from_marks = !state.marked.is_empty();
    let narrowed = !state.filter.is_empty()
        || !state.search.value().trim().is_empty()
        || state.outreach.not_reminded_for.is_some();
    let members: Vec<i64> = if from_marks {
        // Marked rows the filter hides are marked all the same.
        state
            .entries
            .iter()
            .filter(|e| state.marked.contains(e.address()))
            .filter_map(|e| e.member_id())
            .collect()
    } else if narrowed {
        state
            .visible
            .iter()
            .filter_map(|&i| state.entries.row(i).member_id())
            .collect()
    } else {
        state.status(Level::Error, state.t(T::RemindNarrowFirst));
        return vec![];
    };
    if members.is_empty() {
        state.status(Level::Error, state.t(T::RemindNobody));
        return vec![];
    }
    let channel = Channel::Pec;
    state.modal = Some(Modal::Remind(RemindStep::Choose {
        members,
        cursor: suggested(state),
        channel,
    }));
    vec![]
}

/// `:indoubt`: reminders in doubt, settled by receipts where possible.
pub(super) fn open_in_doubt(_state: &mut State) -> Vec<Effect> {
    vec![Effect::LoadInDoubt]
}

/// Keys while the remind window is open; `None` when another modal is.
pub(super) fn update_modal(state: &mut State, action: &Action) -> Option<Vec<Effect>> {
    let Some(Modal::Remind(step)) = &mut state.modal else {
        return None;
    };
    let cancel = matches!(
        action,
        Action::Cancel | Action::Command(super::Command::Back)
    );
    let effects = match step {
        RemindStep::Choose {
            members,
            cursor,
            channel,
        } => match action {
            Action::ModalMove(delta) => {
                let last = TemplateName::ALL.len() as isize - 1;
                *cursor = (*cursor as isize + delta).clamp(0, last) as usize;
                vec![]
            }
            Action::ModalToggle | Action::FormNextField => {
                *channel = match channel {
                    Channel::Pec => Channel::Email,
                    Channel::Email => Channel::Pec,
                };
                vec![]
            }
            Action::Confirm => {
                let request = CampaignRequest {
                    template: TemplateName::ALL[*cursor],
                    channel: *channel,
                    members: std::mem::take(members),
                    not_reminded_for: state
                        .outreach
                        .not_reminded_for
                        .map(|d| chrono::TimeDelta::days(i64::from(d))),
                };
                *step = RemindStep::Preparing {
                    members: request.members.clone(),
                    channel: request.channel,
                };
                vec![Effect::PrepareCampaign(request)]
            }
            _ if cancel => {
                state.modal = None;
                vec![]
            }
            _ => vec![],
        },
        RemindStep::Preparing { .. } | RemindStep::Failed { .. } => {
            if cancel || matches!(action, Action::Confirm) {
                state.modal = None;
            }
            vec![]
        }
        RemindStep::Preview { prepared, scroll } => match action {
            Action::ModalMove(delta) => {
                *scroll = (*scroll as isize + delta).clamp(0, u16::MAX as isize) as u16;
                vec![]
            }
            Action::Confirm if !prepared.0.recipients.is_empty() => {
                let prepared = prepared.clone();
                state.modal = None;
                state.marked.clear();
                state.status(Level::Info, state.t(T::RemindQueued));
                vec![Effect::StartCampaign(prepared)]
            }
            _ if cancel || matches!(action, Action::Confirm) => {
                state.modal = None;
                vec![]
            }
            _ => vec![],
        },
        RemindStep::InDoubt {
            items,
            cursor,
            chosen,
            ..
        } => match action {
            Action::ModalMove(delta) => {
                let last = items.len() as isize - 1;
                *cursor = (*cursor as isize + delta).clamp(0, last.max(0)) as usize;
                vec![]
            }
            Action::ModalToggle => {
                if let Some(item) = items.get(*cursor) {
                    let id = item.reminder_id;
                    if !chosen.remove(&id) {
                        chosen.insert(id);
                    }
                }
                vec![]
            }
            Action::DoubtDecide(decision) => {
                // The chosen ones, else the one under the cursor.
                let ids: Vec<i64> = if chosen.is_empty() {
                    items
                        .get(*cursor)
                        .map(|i| i.reminder_id)
                        .into_iter()
                        .collect()
                } else {
                    chosen.iter().copied().collect()
                };
                state.modal = None;
                if ids.is_empty() {
                    vec![]
                } else {
                    vec![Effect::ResolveInDoubt {
                        reminder_ids: ids,
                        decision: *decision,
                    }]
                }
            }
            _ if cancel || matches!(action, Action::Confirm) => {
                state.modal = None;
                vec![]
            }
            _ => vec![],
        },
    };
    Some(effects)
}

/// Results of the remind effects.
pub(super) fn on_result(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::CampaignPrepared(result) => {
            // Only if the operator is still waiting for it.
            if let Some(Modal::Remind(step @ RemindStep::Preparing { .. })) = &mut state.modal {
                *step = match result {
                    Ok(prepared) => RemindStep::Preview {
                        prepared,
                        scroll: 0,
                    },
                    Err(message) => RemindStep::Failed { message },
                };
            }
            vec![]
        }
        Action::InDoubtLoaded(result) => {
            match result {
                Ok(list) if list.open.is_empty() => {
                    let text = format!(
                        "{} ({} {})",
                        state.t(T::InDoubtNone),
                        list.settled.len(),
                        state.t(T::InDoubtSettled)
                    );
                    state.status(Level::Info, text);
                }
                Ok(InDoubtList { settled, open }) if state.modal.is_none() => {
                    state.modal = Some(Modal::Remind(RemindStep::InDoubt {
                        items: open,
                        cursor: 0,
                        chosen: BTreeSet::new(),
                        settled: settled.len(),
                    }));
                }
                Ok(_) => {}
                Err(e) => state.status(Level::Error, format!("{}: {e}", state.t(T::ErrorPrefix))),
            }
            vec![]
        }
        Action::InDoubtResolved(result) => {
            match result {
                Ok(text) => state.status(Level::Info, text),
                Err(e) => state.status(Level::Error, format!("{}: {e}", state.t(T::ErrorPrefix))),
            }
            vec![Effect::Load]
        }
        _ => vec![],
    }
}
