//! Modal windows: the key help and the confirmation of an action.

use ratatui::Frame;
use std::collections::BTreeSet;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use tui_input::Input;

use super::keymap::Keymap;
use super::labels;
use super::theme::Theme;
use crate::app::{PALETTE_COMMANDS, State};
use crate::domain::Category;
use crate::i18n::T;

pub(super) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [area] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [area] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    area
}

/// Every key of the current screen, from the keymap in force; in two columns
/// when one does not fit the terminal's height.
pub fn render_help(frame: &mut Frame, state: &State, theme: &Theme, keymap: &Keymap) {
    let rows: Vec<Line> = keymap
        .help_for(state)
        .into_iter()
        .map(|(keys, command)| {
            Line::from(vec![
                Span::styled(format!("{keys:<16}"), theme.key()),
                Span::raw(state.t(labels::command(command))),
            ])
        })
        .collect();
    let screen = frame.area();
    let fits = rows.len() as u16 + 4 <= screen.height;
    let per_column = if fits {
        rows.len()
    } else {
        rows.len().div_ceil(2)
    };
    let width = if fits { 64 } else { screen.width };
    let area = centered(screen, width, per_column as u16 + 4);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(state.t(T::HelpTitle))
        .title_bottom(Line::from(Span::styled(state.t(T::HelpClose), theme.dim())));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let columns = Layout::horizontal(vec![
        Constraint::Fill(1);
        rows.len().div_ceil(per_column.max(1))
    ])
    .split(inner);
    for (chunk, column) in rows.chunks(per_column.max(1)).zip(columns.iter()) {
        frame.render_widget(Paragraph::new(chunk.to_vec()), *column);
    }
}

/// The state filter: every category with its count, several can be chosen.
pub fn render_filter(
    frame: &mut Frame,
    state: &State,
    theme: &Theme,
    cursor: usize,
    chosen: &BTreeSet<Category>,
) {
    let mut lines: Vec<Line> = state
        .filter_categories()
        .iter()
        .enumerate()
        .map(|(i, &category)| {
            let mark = if chosen.contains(&category) {
                "[x]"
            } else {
                "[ ]"
            };
            let style = if i == cursor {
                theme.selected()
            } else {
                Style::new()
            };
            Line::styled(
                format!(
                    "{mark} {:>7}  {}",
                    state.count(category),
                    state.t(labels::category(category))
                ),
                style,
            )
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(
        state.t(T::FilterKeys),
        theme.dim(),
    )));
    let area = centered(frame.area(), 60, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(state.t(T::FilterTitle))),
        area,
    );
}

/// The `:` line at the bottom, with the commands it could complete to above it.
pub fn render_palette(frame: &mut Frame, state: &State, theme: &Theme, input: &Input, line: Rect) {
    let typed = input.value();
    let first = typed.split_whitespace().next().unwrap_or("");
    let suggestions: Vec<Line> = PALETTE_COMMANDS
        .iter()
        .filter(|(name, _)| typed.trim().is_empty() || name.starts_with(first))
        .map(|(name, args)| {
            Line::from(vec![
                Span::styled(format!(":{name} "), theme.key()),
                Span::styled(*args, theme.dim()),
            ])
        })
        .collect();
    if !suggestions.is_empty() {
        let height = suggestions.len() as u16 + 2;
        let area = Rect::new(
            line.x,
            line.y.saturating_sub(height),
            56.min(line.width),
            height,
        );
        frame.render_widget(Clear, area);
        frame.render_widget(Paragraph::new(suggestions).block(Block::bordered()), area);
    }
    frame.render_widget(Clear, line);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(":", theme.key()),
            Span::raw(typed),
        ])),
        line,
    );
    let x = line.x + 1 + input.visual_cursor() as u16;
    frame.set_cursor_position((x.min(line.right().saturating_sub(1)), line.y));
    let _ = state;
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
