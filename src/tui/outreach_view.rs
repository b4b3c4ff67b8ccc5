//! Reminders and PEC receipts on screen: the dashboard's non-delivery list
//! and last week's figures, the timeline's reminder lines, the help's
//! commands.

use chrono::{DateTime, Utc};
use ratatui::text::{Line, Span};
use ratatui::widgets::ListItem;

use super::labels;
use super::theme::Theme;
use crate::app::State;
use crate::domain::Category;
use crate::i18n::{T, format_datetime, italian_time};
use crate::store::{OUTREACH_DAYS, ReminderTrail};

/// Lines the dashboard's "to chase" panel gains: none until a reminder was
/// sent or receipts are read (a small terminal keeps its other panels).
pub fn dashboard_height(state: &State) -> u16 {
    let o = &state.outreach;
    if o.data.members.is_empty() && o.receipts_every.is_none() {
        0
    } else {
        3
    }
}

/// The non-delivery list (key `u`) and the reminders of the last week.
pub fn dashboard_lines<'a>(state: &'a State, theme: &Theme) -> Vec<Line<'a>> {
    let count = state.count(Category::PecUndelivered);
    let style = if count == 0 { theme.dim() } else { theme.bad() };
    if dashboard_height(state) == 0 {
        return Vec::new();
    }
    let week = state.outreach.data.week;
    let sent = format!(
        "{} {OUTREACH_DAYS} {}: {} {} · {}/{} {}",
        state.t(T::RemindersLast),
        state.t(T::Days),
        week.sent,
        state.t(T::RemindersSent),
        week.migrated_since,
        week.reminded,
        state.t(T::RemindersMigratedSince),
    );
    let mut receipts = format!(
        "PEC: {} {} · {} {}",
        week.delivered,
        state.t(T::RemindersDelivered),
        week.not_delivered,
        state.t(T::RemindersNotDelivered),
    );
    if state.outreach.receipts_running {
        receipts.push_str(&format!(" · {}", state.t(T::ReceiptsReading)));
    }
    vec![
        Line::from(vec![
            Span::styled(" u ", theme.key()),
            Span::styled(format!("{count:>7}"), style),
            Span::raw(format!(
                "  {}",
                state.t(labels::category(Category::PecUndelivered))
            )),
        ]),
        Line::from(Span::styled(format!("   {sent}"), theme.dim())),
        Line::from(Span::styled(format!("   {receipts}"), theme.dim())),
    ]
}

/// The time of day, Italian time.
fn clock(at: DateTime<Utc>) -> String {
    italian_time(at).format("%H:%M").to_string()
}

/// What a receipt's type is called on the timeline.
fn receipt_word(kind: &str) -> T {
    match kind {
        "accettazione" => T::TrailAccepted,
        "avvenuta-consegna" => T::TrailDelivered,
        "presa-in-carico" => T::TrailTakenOver,
        "non-accettazione" => T::TrailNotAccepted,
        "preavviso-errore-consegna" => T::TrailDeliveryWarning,
        "rilevazione-virus" => T::TrailVirus,
        _ => T::TrailNotDelivered,
    }
}

/// One reminder on one line: "sollecito «migrazione» via PEC · accettato
/// 10:25 · consegnato 10:26".
pub fn trail_line<'a>(state: &State, reminder: &'a ReminderTrail, theme: &Theme) -> Line<'a> {
    let channel = match reminder.channel.as_str() {
        "pec" => "PEC",
        _ => state.t(T::TrailEmail),
    };
    let mut spans = vec![Span::raw(format!(
        "{} «{}» {} {channel}",
        state.t(T::TrailReminder),
        reminder.template,
        state.t(T::TrailVia)
    ))];
    let (state_word, style) = match reminder.state.as_str() {
        "pending" => (Some(T::TrailPending), theme.warn()),
        "in_doubt" => (Some(T::TrailInDoubt), theme.warn()),
        "failed" => (Some(T::TrailRefused), theme.bad()),
        // Sent: a PEC says more with its receipts.
        _ if reminder.channel == "pec" && !reminder.receipts.is_empty() => (None, theme.good()),
        _ => (Some(T::TrailSent), theme.good()),
    };
    if let Some(word) = state_word {
        let mut text = format!(" · {}", state.t(word));
        if reminder.state == "sent"
            && let Some(at) = reminder.sent_at
        {
            text.push_str(&format!(" {}", clock(at)));
        }
        if let (Some(reply), "failed") = (&reminder.smtp_reply, reminder.state.as_str()) {
            text.push_str(&format!(": {reply}"));
        }
        spans.push(Span::styled(text, style));
    }
    for receipt in &reminder.receipts {
        let failure = !matches!(
            receipt.kind.as_str(),
            "accettazione" | "avvenuta-consegna" | "presa-in-carico"
        );
        let mut text = format!(" · {}", state.t(receipt_word(&receipt.kind)));
        if let Some(at) = receipt.at {
            text.push_str(&format!(" {}", clock(at)));
        }
        if failure && let Some(error) = &receipt.error {
            text.push_str(&format!(" ({error})"));
        }
        spans.push(Span::styled(
            text,
            if failure { theme.bad() } else { theme.good() },
        ));
    }
    Line::from(spans)
}

/// The entry's reminders as timeline rows, each with its time for merging
/// with the events (newest first).
pub fn trail_items<'a>(
    state: &'a State,
    index: usize,
    theme: &Theme,
) -> Vec<(DateTime<Utc>, ListItem<'a>)> {
    crate::app::outreach::trail_of(state, index)
        .iter()
        .map(|reminder| {
            let mut line = trail_line(state, reminder, theme);
            line.spans.insert(
                0,
                Span::styled(
                    format!("{} {:<10} ", format_datetime(reminder.at()), ""),
                    theme.dim(),
                ),
            );
            (reminder.at(), ListItem::new(line))
        })
        .collect()
}
