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
        "pending" | "sending" => (Some(T::TrailPending), theme.warn()),
        "deferred" => (Some(T::TrailDeferred), theme.warn()),
        "cancelled" => (Some(T::TrailCancelled), theme.dim()),
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::tui::tests::snapshot;
    use chrono::{Datelike, TimeDelta};

    use crate::app::{Action, Command, Effect, Level, State, fixtures, update};
    use crate::domain::Category;
    use crate::i18n::Lang;
    use crate::store::{MemberOutreach, Outreach, OutreachWeek, ReminderTrail, TrailReceipt};

    fn today() -> i32 {
        crate::i18n::italian_time(fixtures::now())
            .date()
            .num_days_from_ce()
    }

    /// Member ids of the fixture's entries that have one, in load order.
    fn member_ids(state: &State) -> Vec<i64> {
        state.entries.iter().filter_map(|e| e.member_id()).collect()
    }

    /// The first member's PEC came back undelivered; the second was reminded
    /// yesterday; the third ten days ago.
    fn outreach(state: &State) -> Outreach {
        let ids = member_ids(state);
        let members = HashMap::from([
            (
                ids[0],
                MemberOutreach {
                    last_reminded: today() - 2,
                    undelivered: true,
                },
            ),
            (
                ids[1],
                MemberOutreach {
                    last_reminded: today() - 1,
                    undelivered: false,
                },
            ),
            (
                ids[2],
                MemberOutreach {
                    last_reminded: today() - 10,
                    undelivered: false,
                },
            ),
        ]);
        Outreach {
            members,
            week: OutreachWeek {
                sent: 120,
                delivered: 97,
                not_delivered: 3,
                reminded: 118,
                migrated_since: 41,
            },
        }
    }

    #[test]
    fn dashboard_with_reminders_of_the_week() {
        let mut state = fixtures::state(Lang::It);
        let data = outreach(&state);
        update(&mut state, Action::OutreachLoaded(Box::new(data)));
        assert_eq!(state.count(Category::PecUndelivered), 1);
        let text = snapshot(&state, 120, 40);
        assert!(text.contains("solleciti 7 giorni: 120 inviati · 41/118 poi migrati"));
        assert!(text.contains("PEC: 97 consegnate · 3 non consegnate"));
        insta::assert_snapshot!(text);
        // `u` opens the list: the one member whose PEC bounced.
        update(
            &mut state,
            Action::Command(Command::Chase(Category::PecUndelivered)),
        );
        let ids: Vec<_> = state
            .visible
            .iter()
            .map(|&i| state.entries.row(i).member_id())
            .collect();
        assert_eq!(ids, vec![Some(member_ids(&state)[0])]);
    }

    #[test]
    fn dashboard_without_reminders_keeps_its_layout() {
        let state = fixtures::state(Lang::It);
        assert!(!snapshot(&state, 120, 40).contains("solleciti 7"));
    }

    #[test]
    fn the_table_leaves_out_who_was_reminded_lately() {
        let mut state = fixtures::state(Lang::It);
        let data = outreach(&state);
        let ids = member_ids(&state);
        update(&mut state, Action::OutreachLoaded(Box::new(data)));
        let all = state.visible.len();
        update(&mut state, Action::NotRemindedFor(Some(7)));
        let shown: Vec<_> = state
            .visible
            .iter()
            .filter_map(|&i| state.entries.row(i).member_id())
            .collect();
        assert_eq!(state.visible.len(), all - 2);
        assert!(!shown.contains(&ids[0]) && !shown.contains(&ids[1]));
        assert!(shown.contains(&ids[2]), "reminded ten days ago");
        // Typed in the `:` line, and cleared.
        assert!(update(&mut state, Action::Command(Command::NotReminded)).is_empty());
        assert_eq!(state.palette.as_ref().unwrap().value(), "notreminded ");
        update(&mut state, Action::Cancel);
        update(&mut state, Action::NotRemindedFor(None));
        assert_eq!(state.visible.len(), all);
    }

    #[test]
    fn receipts_are_read_in_the_background_and_errors_are_not_fatal() {
        let mut state = fixtures::state(Lang::It);
        let tick = |state: &mut State, seconds| {
            update(
                state,
                Action::Tick(fixtures::now() + TimeDelta::seconds(seconds)),
            )
        };
        assert!(tick(&mut state, 1).is_empty(), "not configured: never read");
        state.outreach.receipts_every = Some(std::time::Duration::from_secs(60));
        assert_eq!(tick(&mut state, 2), vec![Effect::ReadReceipts]);
        assert!(tick(&mut state, 70).is_empty(), "one reading at a time");
        let read = crate::app::outreach::ReceiptsRead {
            at: fixtures::now(),
            stored: 4,
            matched: 3,
            unmatched: 1,
            not_delivered: 1,
            malformed: 0,
        };
        let effects = update(&mut state, Action::ReceiptsRead(Ok(read)));
        assert_eq!(effects, vec![Effect::LoadOutreach]);
        let (level, text) = state.status.clone().unwrap();
        assert_eq!(level, Level::Info);
        assert_eq!(
            text,
            "ricevute PEC: 4 nuove (1 mancate consegne), 1 senza sollecito, 0 non valide"
        );
        assert!(tick(&mut state, 30).is_empty(), "not due yet");
        assert_eq!(tick(&mut state, 63), vec![Effect::ReadReceipts]);
        update(
            &mut state,
            Action::ReceiptsRead(Err("server IMAP 127.0.0.1:1: connessione rifiutata".into())),
        );
        assert_eq!(state.status.as_ref().unwrap().0, Level::Error);
        assert!(!state.quit);
        // The same error again is not repeated over what the operator reads.
        state.status = None;
        assert_eq!(tick(&mut state, 130), vec![Effect::ReadReceipts]);
        update(
            &mut state,
            Action::ReceiptsRead(Err("server IMAP 127.0.0.1:1: connessione rifiutata".into())),
        );
        assert!(state.status.is_none());
    }

    #[test]
    fn detail_timeline_with_reminders_and_receipts() {
        let mut state = fixtures::state(Lang::It);
        update(&mut state, Action::Command(Command::Members));
        fixtures::act(&mut state, Command::Open);
        let (entry, _) = state.selected_entry().unwrap();
        let at = |hours: i64, minutes: i64| {
            fixtures::now() - TimeDelta::hours(hours) + TimeDelta::minutes(minutes)
        };
        let trail = vec![
            ReminderTrail {
                template: "migrazione".into(),
                channel: "pec".into(),
                state: "sent".into(),
                created_at: at(2, 0),
                sent_at: Some(at(2, 0)),
                smtp_reply: None,
                receipts: vec![
                    TrailReceipt {
                        kind: "accettazione".into(),
                        at: Some(at(2, 1)),
                        error: None,
                    },
                    TrailReceipt {
                        kind: "avvenuta-consegna".into(),
                        at: Some(at(2, 2)),
                        error: None,
                    },
                ],
            },
            ReminderTrail {
                template: "link-scaduto".into(),
                channel: "pec".into(),
                state: "sent".into(),
                created_at: at(30, 0),
                sent_at: Some(at(30, 0)),
                smtp_reply: None,
                receipts: vec![TrailReceipt {
                    kind: "errore-consegna".into(),
                    at: Some(at(30, 3)),
                    error: Some("no-dest: casella piena".into()),
                }],
            },
            ReminderTrail {
                template: "conferma-recupero".into(),
                channel: "email".into(),
                state: "failed".into(),
                created_at: at(50, 0),
                sent_at: None,
                smtp_reply: Some("550 5.1.1 mailbox unknown".into()),
                receipts: vec![],
            },
        ];
        update(&mut state, Action::TrailLoaded { entry, trail });
        let text = snapshot(&state, 120, 32);
        assert!(
            text.contains("sollecito «migrazione» via PEC · accettato 08:31 · consegnato 08:32"),
            "{text}"
        );
        insta::assert_snapshot!(text);
    }
}
