//! The remind window: template and channel, then the first message exactly
//! as the member will read it with the counts, who is left out and why and
//! the time the pace implies; and the reminders in doubt.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::popup::centered;
use super::theme::Theme;
use crate::app::remind::{Prepared, RemindStep};
use crate::app::{Action, State};
use crate::domain::template::TemplateName;
use crate::i18n::{T, format_datetime};
use crate::mail::Channel;
use crate::store::DoubtDecision;

/// The window's keys.
pub fn key(step: &RemindStep, key: &KeyEvent) -> Option<Action> {
    let common = match key.code {
        KeyCode::Up | KeyCode::Char('k') => Some(Action::ModalMove(-1)),
        KeyCode::Down | KeyCode::Char('j') => Some(Action::ModalMove(1)),
        KeyCode::PageUp => Some(Action::ModalMove(-10)),
        KeyCode::PageDown => Some(Action::ModalMove(10)),
        KeyCode::Enter => Some(Action::Confirm),
        KeyCode::Esc | KeyCode::Char('q') => Some(Action::Cancel),
        _ => None,
    };
    match (step, key.code) {
        (RemindStep::Choose { .. }, KeyCode::Tab | KeyCode::BackTab | KeyCode::Char('c')) => {
            Some(Action::ModalToggle)
        }
        (RemindStep::InDoubt { .. }, KeyCode::Char(' ' | 'x')) => Some(Action::ModalToggle),
        (RemindStep::InDoubt { .. }, KeyCode::Char('s')) => {
            Some(Action::DoubtDecide(DoubtDecision::SendAgain))
        }
        (RemindStep::InDoubt { .. }, KeyCode::Char('m')) => {
            Some(Action::DoubtDecide(DoubtDecision::MarkSent))
        }
        _ => common,
    }
}

fn channel_name(state: &State, channel: Channel) -> &'static str {
    match channel {
        Channel::Pec => "PEC",
        Channel::Email => state.t(T::TrailEmail),
    }
}

/// "2 h 05 min", "45 s".
fn duration_text(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}

pub fn render(frame: &mut Frame, state: &State, theme: &Theme, step: &RemindStep) {
    let area = centered(
        frame.area(),
        frame.area().width.saturating_sub(4).min(100),
        frame.area().height.saturating_sub(2),
    );
    frame.render_widget(Clear, area);
    let title = match step {
        RemindStep::InDoubt { .. } => state.t(T::InDoubtTitle),
        _ => state.t(T::RemindTitle),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines: Vec<Line> = match step {
        RemindStep::Choose {
            members,
            cursor,
            channel,
        } => {
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(format!("{} ", members.len()), theme.title()),
                    Span::raw(state.t(T::Members_)),
                ]),
                Line::raw(""),
                Line::styled(format!("{}:", state.t(T::RemindTemplate)), theme.dim()),
            ];
            lines.extend(TemplateName::ALL.iter().enumerate().map(|(i, t)| {
                let style = if i == *cursor {
                    theme.selected()
                } else {
                    ratatui::style::Style::default()
                };
                let mark = if i == *cursor { "▸" } else { " " };
                Line::styled(format!("{mark} {} ", t.code()), style)
            }));
            lines.push(Line::raw(""));
            let option = |c: Channel| {
                let style = if c == *channel {
                    theme.selected()
                } else {
                    theme.dim()
                };
                let mark = if c == *channel { "●" } else { "○" };
                Span::styled(format!(" {mark} {} ", channel_name(state, c)), style)
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{}: ", state.t(T::RemindChannel)), theme.dim()),
                option(Channel::Pec),
                Span::raw(" "),
                option(Channel::Email),
            ]));
            lines.push(Line::raw(""));
            lines.push(Line::styled(state.t(T::RemindChooseKeys), theme.dim()));
            lines
        }
        RemindStep::Preparing { members, channel } => vec![
            Line::raw(format!(
                "{} {} · {}",
                members.len(),
                state.t(T::Members_),
                channel_name(state, *channel)
            )),
            Line::styled(state.t(T::RemindPreparing), theme.warn()),
        ],
        RemindStep::Failed { message } => vec![
            Line::styled(state.t(T::RemindFailed), theme.bad()),
            Line::raw(message.clone()),
        ],
        RemindStep::Preview { prepared, scroll } => {
            return render_preview(frame, state, theme, prepared, *scroll, inner);
        }
        RemindStep::InDoubt {
            items,
            cursor,
            chosen,
            settled,
        } => {
            let mut lines = vec![
                Line::raw(state.t(T::InDoubtExplain)),
                Line::styled(
                    format!("{settled} {}", state.t(T::InDoubtSettled)),
                    theme.dim(),
                ),
                Line::raw(""),
            ];
            lines.extend(items.iter().enumerate().map(|(i, item)| {
                let mark = if chosen.contains(&item.reminder_id) {
                    "[x]"
                } else {
                    "[ ]"
                };
                let (style, pointer) = if i == *cursor {
                    (theme.selected(), "▸")
                } else {
                    (ratatui::style::Style::default(), " ")
                };
                let channel = if item.channel == "pec" {
                    "PEC"
                } else {
                    state.t(T::TrailEmail)
                };
                Line::styled(
                    format!(
                        "{pointer}{mark} {} «{}» {channel} {} {}",
                        format_datetime(item.since),
                        item.template,
                        item.recipient,
                        item.reply.as_deref().unwrap_or("")
                    ),
                    style,
                )
            }));
            lines.push(Line::raw(""));
            lines.push(Line::styled(state.t(T::InDoubtKeys), theme.dim()));
            lines
        }
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The confirmation: counts, left out by reason, the time, then the first
/// message as the member will read it.
fn render_preview(
    frame: &mut Frame,
    state: &State,
    theme: &Theme,
    prepared: &Prepared,
    scroll: u16,
    inner: ratatui::layout::Rect,
) {
    let p = &prepared.0;
    let mut head = vec![Line::from(vec![
        Span::styled(
            format!(
                "«{}» via {} · ",
                p.template.code(),
                channel_name(state, p.channel)
            ),
            theme.title(),
        ),
        Span::styled(
            format!("{} {}", p.recipients.len(), state.t(T::RemindWillGet)),
            theme.good(),
        ),
        Span::raw(" · "),
        Span::styled(
            format!("{} {}", p.left_out.len(), state.t(T::RemindLeftOut)),
            if p.left_out.is_empty() {
                theme.dim()
            } else {
                theme.warn()
            },
        ),
    ])];
    let rate = if p.pace.rate_per_minute == 0 {
        state.t(T::RemindUnlimited).to_string()
    } else {
        format!("{} {}", p.pace.rate_per_minute, state.t(T::RemindPerMinute))
    };
    let mut time = format!(
        "{}: {} ({rate})",
        state.t(T::RemindTime),
        duration_text(p.estimated)
    );
    if let Some(today) = p.allowed_today {
        time.push_str(&format!(" · {} {today}", state.t(T::RemindToday)));
    }
    head.push(Line::raw(time));
    // Who is left out, by reason, with a few names each.
    let mut by_reason: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for left in &p.left_out {
        let reason = match &left.reason {
            // The date differs per member: grouped without it.
            crate::campaign::LeftOutReason::RemindedRecently { days, .. } => {
                format!(
                    "{} ({days} {})",
                    state.t(T::RemindedRecently),
                    state.t(T::Days)
                )
            }
            other => other.describe(),
        };
        by_reason.entry(reason).or_default().push(&left.name);
    }
    for (reason, names) in &by_reason {
        let mut shown: Vec<&str> = names.iter().take(3).copied().collect();
        if names.len() > 3 {
            shown.push("…");
        }
        head.push(Line::from(vec![
            Span::styled(format!("  {:>5}  ", names.len()), theme.warn()),
            Span::raw(format!("{reason}: {}", shown.join(", "))),
        ]));
    }
    let head_height = head.len() as u16 + 1;
    let [head_area, message_area, keys_area] = Layout::vertical([
        Constraint::Length(head_height),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(Paragraph::new(head), head_area);
    let message: Vec<Line> = match p.first() {
        Some(first) => {
            let mut lines = vec![
                Line::from(vec![
                    Span::styled(format!("{}: ", state.t(T::MessageFrom)), theme.dim()),
                    Span::raw(p.from.clone()),
                ]),
                Line::from(vec![
                    Span::styled(format!("{}: ", state.t(T::MessageTo)), theme.dim()),
                    Span::raw(format!("{} <{}>", first.name, first.to)),
                ]),
                Line::from(vec![
                    Span::styled(format!("{}: ", state.t(T::MessageSubject)), theme.dim()),
                    Span::styled(first.subject.clone(), theme.title()),
                ]),
                Line::raw(""),
            ];
            lines.extend(first.body.lines().map(|l| Line::raw(l.to_string())));
            lines
        }
        None => vec![Line::styled(state.t(T::RemindNobody), theme.bad())],
    };
    frame.render_widget(
        Paragraph::new(message)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(Block::bordered().title(state.t(T::RemindFirst))),
        message_area,
    );
    frame.render_widget(
        Paragraph::new(Line::styled(state.t(T::RemindConfirmKeys), theme.dim())),
        keys_area,
    );
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::tui::tests::snapshot;

    use crate::app::remind::{Prepared, RemindStep};
    use crate::app::{Action, Command, Effect, Level, Modal, fixtures, update};
    use crate::campaign::{CampaignPreview, LeftOut, LeftOutReason, Pace, Recipient};
    use crate::domain::Category;
    use crate::domain::template::TemplateName;
    use crate::i18n::Lang;
    use crate::mail::{Channel, TemplateSource};

    fn preview() -> CampaignPreview {
        let recipient = |n: i64, name: &str, to: &str| Recipient {
            member_id: n,
            name: name.into(),
            to: to.into(),
            pec: to.into(),
            subject: "Migrazione della casella PEC: mancano 41 giorni".into(),
            body: format!(
                "Gentile {name},\n\nla Sua casella PEC {to} deve essere migrata al nuovo gestore entro il 31/12/2026.\n\n1. Disattivi la verifica in due passaggi su Aruba.\n2. Apra https://migrazionepec.infocert.it/webapp/?ui=fofi\n\nOrdine dei Farmacisti di Prova"
            ),
        };
        CampaignPreview {
            template: TemplateName::Migrazione,
            template_source: TemplateSource::Bundled,
            channel: Channel::Pec,
            recipients: vec![
                recipient(1, "Rossi Mario", "mario.rossi@pec.fofi.it"),
                recipient(2, "Bianchi Anna", "anna.bianchi@pec.fofi.it"),
            ],
            left_out: vec![
                LeftOut {
                    member_id: 3,
                    name: "Verdi Luca".into(),
                    reason: LeftOutReason::RemindedRecently {
                        at: fixtures::now(),
                        days: 3,
                    },
                },
                LeftOut {
                    member_id: 4,
                    name: "Neri Paola".into(),
                    reason: LeftOutReason::NoPec,
                },
            ],
            pace: Pace {
                rate_per_minute: 6,
                daily_cap: 0,
                connections: 1,
                retry_after: Duration::from_secs(60),
                tries_per_run: 3,
            },
            estimated: Duration::from_secs(10),
            allowed_today: None,
            from: "segreteria@pec.ordine.it".into(),
        }
    }

    #[test]
    fn remind_needs_a_list_a_filter_or_marks() {
        let mut state = fixtures::state(Lang::It);
        update(&mut state, Action::Command(Command::Members));
        assert!(update(&mut state, Action::Command(Command::Remind)).is_empty());
        assert!(state.modal.is_none());
        assert_eq!(state.status.as_ref().unwrap().0, Level::Error);
    }

    #[test]
    fn remind_from_a_list_previews_then_starts_the_campaign() {
        let mut state = fixtures::state(Lang::It);
        update(
            &mut state,
            Action::Command(Command::Chase(Category::FailedCredentials)),
        );
        let expected: Vec<i64> = state
            .visible
            .iter()
            .filter_map(|&i| state.entries.row(i).member_id())
            .collect();
        update(&mut state, Action::Command(Command::Remind));
        // The list's own template is offered first.
        let Some(Modal::Remind(RemindStep::Choose { cursor, .. })) = &state.modal else {
            panic!("{:?}", state.modal);
        };
        assert_eq!(TemplateName::ALL[*cursor], TemplateName::Credenziali);
        insta::assert_snapshot!("remind_choose", snapshot(&state, 100, 24));
        update(&mut state, Action::ModalToggle);
        update(&mut state, Action::ModalToggle);
        let effects = update(&mut state, Action::Confirm);
        let [Effect::PrepareCampaign(request)] = &effects[..] else {
            panic!("{effects:?}");
        };
        assert_eq!(request.members, expected);
        assert_eq!(request.channel, Channel::Pec);
        assert_eq!(request.template, TemplateName::Credenziali);
        let prepared = Prepared(Arc::new(preview()));
        update(&mut state, Action::CampaignPrepared(Ok(prepared.clone())));
        let text = snapshot(&state, 100, 30);
        assert!(text.contains("2 lo riceveranno · 2 esclusi"), "{text}");
        assert!(
            text.contains("A: Rossi Mario <mario.rossi@pec.fofi.it>"),
            "{text}"
        );
        assert!(text.contains("Gentile Rossi Mario,"), "{text}");
        insta::assert_snapshot!("remind_preview", text);
        let effects = update(&mut state, Action::Confirm);
        assert_eq!(effects, vec![Effect::StartCampaign(prepared)]);
        assert!(state.modal.is_none());
    }

    #[test]
    fn a_campaign_that_cannot_be_prepared_says_why() {
        let mut state = fixtures::state(Lang::It);
        state
            .marked
            .insert(state.entries.row(0).address().to_string());
        update(&mut state, Action::Command(Command::Members));
        update(&mut state, Action::Command(Command::Remind));
        update(&mut state, Action::Confirm);
        update(
            &mut state,
            Action::CampaignPrepared(Err("canale pec non configurato".into())),
        );
        let text = snapshot(&state, 100, 24);
        assert!(text.contains("canale pec non configurato"), "{text}");
        update(&mut state, Action::Cancel);
        assert!(state.modal.is_none());
    }

    #[test]
    fn reminders_in_doubt_are_decided_by_the_operator() {
        use crate::store::{DoubtDecision, InDoubtReminder};
        let mut state = fixtures::state(Lang::It);
        assert_eq!(
            update(&mut state, Action::OpenInDoubt),
            vec![Effect::LoadInDoubt]
        );
        let item = |id: i64, to: &str| InDoubtReminder {
            reminder_id: id,
            job_id: Some(7),
            member_id: Some(id),
            recipient: to.into(),
            channel: "pec".into(),
            template: "migrazione".into(),
            message_id: format!("m{id}@pecdesk"),
            since: fixtures::now(),
            reply: None,
        };
        update(
            &mut state,
            Action::InDoubtLoaded(Ok(crate::campaign::InDoubtList {
                settled: vec![item(9, "x@pec.fofi.it")],
                open: vec![item(1, "a@pec.fofi.it"), item(2, "b@pec.fofi.it")],
            })),
        );
        insta::assert_snapshot!("remind_in_doubt", snapshot(&state, 100, 16));
        update(&mut state, Action::ModalMove(1));
        update(&mut state, Action::ModalToggle);
        let effects = update(&mut state, Action::DoubtDecide(DoubtDecision::MarkSent));
        assert_eq!(
            effects,
            vec![Effect::ResolveInDoubt {
                reminder_ids: vec![2],
                decision: DoubtDecision::MarkSent
            }]
        );
    }
}
