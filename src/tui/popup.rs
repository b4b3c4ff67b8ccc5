//! Modal windows: the key help and the confirmation of an action.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::theme::Theme;
use crate::app::State;
use crate::i18n::T;

/// Every key of the console and what it does.
pub const KEYS: &[(&str, T)] = &[
    ("↑ ↓  j k", T::KeyMove),
    ("g G  Home End", T::KeyTopBottom),
    ("PgUp PgDn", T::KeyPage),
    ("/", T::KeySearch),
    ("Invio / Enter", T::KeyOpen),
    ("r", T::KeyResend),
    ("s", T::KeySync),
    ("Tab  1 2", T::KeyTabs),
    ("?", T::KeyHelp),
    ("Esc", T::KeyBack),
    ("q  Ctrl-C", T::KeyQuit),
];

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [area] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [area] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    area
}

pub fn render_help(frame: &mut Frame, state: &State, theme: &Theme) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, text)| {
            Line::from(vec![
                Span::styled(format!("{key:<16}"), theme.key()),
                Span::raw(state.t(*text)),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(state.t(T::HelpClose), theme.dim())));
    let area = centered(frame.area(), 64, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(state.t(T::HelpTitle))),
        area,
    );
}

pub fn render_confirm_resend(frame: &mut Frame, state: &State, theme: &Theme, entry: usize) {
    let entry = &state.entries[entry];
    let who = entry
        .member
        .as_ref()
        .map(|m| m.full_name())
        .unwrap_or_default();
    let masked = entry
        .mailbox
        .as_ref()
        .and_then(|m| m.recovery.email_masked.clone())
        .unwrap_or_default();
    let lines = vec![
        Line::raw(format!("{}:", state.t(T::ConfirmResend))),
        Line::from(Span::styled(
            format!("{who} <{}>", entry.address()),
            theme.title(),
        )),
        Line::raw(""),
        Line::from(vec![
            Span::raw(format!("{} ", state.t(T::ConfirmResendWhere))),
            Span::styled(masked, theme.title()),
        ]),
        Line::raw(state.t(T::ConfirmResendExpiry)),
        Line::raw(""),
        Line::from(Span::styled(state.t(T::ConfirmKeys), theme.key())),
    ];
    let area = centered(frame.area(), 70, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(state.t(T::ConfirmTitle))),
        area,
    );
}
