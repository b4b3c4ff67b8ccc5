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

/// Greedy word wrap to `width` columns; a word longer than a line is split.
pub(super) fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        let used = line.chars().count();
        if used > 0 && used + 1 + word.len() <= width {
            line.push(' ');
            line.extend(&word);
            continue;
        }
        if used > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            lines.push(word.drain(..width).collect());
        }
        line.extend(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// One column of the help: each key with its description wrapped beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HelpColumn {
    pub key_width: usize,
    /// Per item: the keys and the description's lines.
    pub items: Vec<(String, Vec<String>)>,
}

impl HelpColumn {
    fn new(items: &[(String, &str)], width: usize) -> Self {
        let key_width = items
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let desc_width = width.saturating_sub(key_width).max(8);
        Self {
            key_width,
            items: items
                .iter()
                .map(|(keys, what)| (keys.clone(), wrap_words(what, desc_width)))
                .collect(),
        }
    }

    pub fn rows(&self) -> usize {
        self.items.iter().map(|(_, lines)| lines.len()).sum()
    }
}

/// How the help lays out `items` in an `width` x `height` window interior:
/// one column as wide as the longest line needs, or two columns when one is
/// too tall, split where the taller half is shortest. Descriptions wrap
/// instead of being cut.
pub(super) fn help_layout(
    items: &[(String, &str)],
    width: u16,
    height: u16,
) -> (u16, Vec<HelpColumn>) {
    let (width, height) = (usize::from(width), usize::from(height));
    let natural = items
        .iter()
        .map(|(k, d)| k.chars().count() + 2 + d.chars().count())
        .max()
        .unwrap_or(0);
    let one = HelpColumn::new(items, natural.min(width));
    if one.rows() <= height || items.len() < 2 {
        return ((natural.min(width)) as u16, vec![one]);
    }
    let half = width.saturating_sub(1) / 2;
    let best = (1..items.len())
        .map(|split| {
            let left = HelpColumn::new(&items[..split], half);
            let right = HelpColumn::new(&items[split..], half);
            (left.rows().max(right.rows()), left, right)
        })
        .min_by_key(|(rows, _, _)| *rows)
        .map(|(_, left, right)| vec![left, right])
        .unwrap_or_default();
    (width as u16, best)
}

/// Every key of the current screen, from the keymap in force, with its
/// description whole (wrapped, never cut); in two columns when one does not
/// fit the terminal's height.
pub fn render_help(frame: &mut Frame, state: &State, theme: &Theme, keymap: &Keymap) {
    let items: Vec<(String, &str)> = keymap
        .help_for(state)
        .into_iter()
        .map(|(keys, command)| {
            let label = crate::app::report_mode::help_label(state, command)
                .unwrap_or_else(|| labels::command(command));
            (keys, state.t(label))
        })
        .collect();
    let screen = frame.area();
    let (inner_width, columns) = help_layout(
        &items,
        screen.width.saturating_sub(2),
        screen.height.saturating_sub(2),
    );
    let rows = columns.iter().map(HelpColumn::rows).max().unwrap_or(0) as u16;
    let area = centered(screen, inner_width + 2, rows + 2);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(state.t(T::HelpTitle))
        .title_bottom(Line::from(Span::styled(state.t(T::HelpClose), theme.dim())));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let areas = Layout::horizontal(vec![Constraint::Fill(1); columns.len()])
        .spacing(1)
        .split(inner);
    for (column, area) in columns.iter().zip(areas.iter()) {
        let mut lines: Vec<Line> = Vec::new();
        for (keys, what) in &column.items {
            for (i, part) in what.iter().enumerate() {
                let key = if i == 0 { keys.as_str() } else { "" };
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{key:<width$}", width = column.key_width),
                        theme.key(),
                    ),
                    Span::raw(part.clone()),
                ]));
            }
        }
        frame.render_widget(Paragraph::new(lines), *area);
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
        // As wide as the longest command with its arguments, borders included.
        let widest = suggestions.iter().map(Line::width).max().unwrap_or(0) as u16;
        let area = Rect::new(
            line.x,
            line.y.saturating_sub(height),
            (widest + 2).min(line.width),
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
    // The masked address comes with the entry in full.
    let masked = match state.full_entry(entry) {
        Some(full) => full
            .mailbox
            .as_ref()
            .and_then(|m| m.recovery.email_masked.clone())
            .unwrap_or_default(),
        None => state.t(T::Loading).to_string(),
    };
    let entry = state.entries.row(entry);
    let who = entry.full_name().unwrap_or_default();
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
