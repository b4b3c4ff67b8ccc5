//! Reminders and PEC receipts in the console: what the store says of the
//! reminders sent (per member, compact), the background reading of receipts
//! (never on the render loop, never fatal), the "to chase" list of
//! non-deliveries, and the table's "not reminded for N days" filter.

use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};

use super::{Effect, Level, Screen, State};
use crate::domain::Category;
use crate::i18n::T;
use crate::store::{MemberOutreach, Outreach, ReminderTrail, RosterRows};

/// What the console knows and does about reminders and receipts.
#[derive(Debug, Default)]
pub struct OutreachState {
    pub data: Outreach,
    /// The table shows only members not reminded for this many days.
    pub not_reminded_for: Option<u16>,
    /// The reminders (with receipts) of the entry open in the detail.
    pub trail: Option<(usize, Vec<ReminderTrail>)>,
    /// How often receipts are read in the background; None: not configured.
    pub receipts_every: Option<Duration>,
    pub receipts_running: bool,
    /// When the next background read is due.
    pub receipts_due: Option<DateTime<Utc>>,
    /// The last read's outcome, for the status line and the dashboard.
    pub receipts_last: Option<Result<ReceiptsRead, String>>,
}

/// What one reading of receipts did, as the console reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReceiptsRead {
    pub at: DateTime<Utc>,
    pub stored: usize,
    pub matched: usize,
    pub unmatched: usize,
    pub not_delivered: usize,
    pub malformed: usize,
}

impl ReceiptsRead {
    pub fn of(summary: &crate::mail::receipts::ReadSummary, at: DateTime<Utc>) -> Self {
        Self {
            at,
            stored: summary.stored,
            matched: summary.matched,
            unmatched: summary.unmatched,
            not_delivered: summary.not_delivered,
            malformed: summary.malformed.len(),
        }
    }
}

/// The member's reminders, for an entry.
pub fn member_of(state: &State, index: usize) -> Option<MemberOutreach> {
    let id = state.entries.get(index)?.member_id()?;
    state.outreach.data.members.get(&id).copied()
}

/// Sets or clears, per entry, the bit of the lists that come from receipts.
pub(super) fn mark(entries: &RosterRows, data: &Outreach, categories: &mut [u16]) {
    let bit = super::category_bit(Category::PecUndelivered);
    for (entry, mask) in entries.iter().zip(categories.iter_mut()) {
        let undelivered = entry
            .member_id()
            .and_then(|id| data.members.get(&id))
            .is_some_and(|m| m.undelivered);
        if undelivered {
            *mask |= bit;
        } else {
            *mask &= !bit;
        }
    }
}

/// The "not reminded for N days" filter: reminded at least N days ago, or never.
pub(super) fn passes(state: &State, index: usize) -> bool {
    let Some(days) = state.outreach.not_reminded_for else {
        return true;
    };
    let today = crate::i18n::italian_time(state.now)
        .date()
        .num_days_from_ce();
    match member_of(state, index) {
        Some(m) if m.last_reminded > 0 => today - m.last_reminded >= i32::from(days),
        _ => true,
    }
}

/// Whether [`passes`] lets every entry through.
pub(super) fn passes_all(state: &State) -> bool {
    state.outreach.not_reminded_for.is_none()
}

/// Fresh figures from the store: keeps the table's bits in line.
pub(super) fn loaded(state: &mut State, data: Outreach) -> Vec<Effect> {
    state.outreach.data = data;
    let entries = std::sync::Arc::clone(&state.entries);
    mark(&entries, &state.outreach.data, &mut state.categories);
    if let Some(pending) = &mut state.pending {
        mark(
            &pending.entries,
            &state.outreach.data,
            &mut pending.categories,
        );
    }
    let keep = state.selected_address();
    state.refresh_visible(keep.as_deref());
    vec![]
}

/// Sets the "not reminded for N days" filter (None clears it).
pub(super) fn set_not_reminded_for(state: &mut State, days: Option<u16>) -> Vec<Effect> {
    state.outreach.not_reminded_for = days.filter(|&d| d > 0);
    state.screen = Screen::Members;
    let keep = state.selected_address();
    state.refresh_visible(keep.as_deref());
    vec![]
}

/// On the clock: a background read when one is due.
pub(super) fn on_tick(state: &mut State) -> Vec<Effect> {
    let Some(every) = state.outreach.receipts_every else {
        return vec![];
    };
    if state.outreach.receipts_running {
        return vec![];
    }
    match state.outreach.receipts_due {
        Some(due) if state.now < due => vec![],
        _ => {
            state.outreach.receipts_due = Some(
                state.now + chrono::TimeDelta::from_std(every).unwrap_or(chrono::TimeDelta::MAX),
            );
            read_now(state)
        }
    }
}

/// `:receipts`: read now.
pub(super) fn read_now(state: &mut State) -> Vec<Effect> {
    if state.outreach.receipts_running {
        return vec![];
    }
    if state.outreach.receipts_every.is_none() {
        state.status(Level::Error, state.t(T::ReceiptsNotConfigured));
        return vec![];
    }
    state.outreach.receipts_running = true;
    vec![Effect::ReadReceipts]
}

/// A reading ended: counts on the status line when there is news, the error
/// when it failed (the next round tries again).
pub(super) fn read_done(state: &mut State, result: Result<ReceiptsRead, String>) -> Vec<Effect> {
    state.outreach.receipts_running = false;
    let effects = match &result {
        Ok(read) if read.stored > 0 || read.malformed > 0 => {
            let text = format!(
                "{}: {} {} ({} {}), {} {}, {} {}",
                state.t(T::ReceiptsTitle),
                read.stored,
                state.t(T::ReceiptsNew),
                read.not_delivered,
                state.t(T::ReceiptsNotDelivered),
                read.unmatched,
                state.t(T::ReceiptsUnmatched),
                read.malformed,
                state.t(T::ReceiptsMalformed),
            );
            let level = if read.malformed > 0 {
                Level::Error
            } else {
                Level::Info
            };
            state.status(level, text);
            let mut effects = vec![Effect::LoadOutreach];
            if let (Screen::Detail, Some((index, _))) = (state.screen, state.selected_entry()) {
                effects.push(state.timeline_effect(index));
            }
            effects
        }
        Ok(_) => vec![],
        Err(e) => {
            // Said once per new error, not at every round.
            let repeated = matches!(&state.outreach.receipts_last, Some(Err(last)) if last == e);
            if !repeated {
                state.status(Level::Error, format!("{}: {e}", state.t(T::ReceiptsFailed)));
            }
            vec![]
        }
    };
    state.outreach.receipts_last = Some(result);
    effects
}

/// The trail of an entry's reminders arrived.
pub(super) fn trail_loaded(
    state: &mut State,
    entry: usize,
    trail: Vec<ReminderTrail>,
) -> Vec<Effect> {
    state.outreach.trail = Some((entry, trail));
    vec![]
}

/// The reminders of the entry open in the detail.
pub fn trail_of(state: &State, index: usize) -> &[ReminderTrail] {
    match &state.outreach.trail {
        Some((entry, trail)) if *entry == index => trail,
        _ => &[],
    }
}

/// The last reminder of entry `index`, for the diagnosis: known once the
/// entry's trail is loaded (the detail, the call script), with its receipts.
pub fn last_reminder(
    state: &State,
    index: usize,
) -> Option<crate::domain::diagnosis::LastReminder<'_>> {
    trail_of(state, index)
        .first()
        .map(ReminderTrail::as_last_reminder)
}
