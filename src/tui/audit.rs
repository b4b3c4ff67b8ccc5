//! The audit trail: who did what to which mailbox, when, with what result.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use super::members::scroll_offset;
use super::theme::Theme;
use crate::app::State;
use crate::i18n::{T, format_datetime};
use crate::store::Outcome;

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let [table_area, filter_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    let height = table_area.height.saturating_sub(3) as usize;
    state.page_rows.set(height.max(1));
    let offset = scroll_offset(
        state.table_offset.get(),
        state.audit_selected,
        height,
        state.audit.len(),
    );
    let end = (offset + height).min(state.audit.len());
    let rows: Vec<Row> = state.audit[offset..end]
        .iter()
        .map(|e| {
            let outcome = match e.outcome {
                Some(Outcome::Ok) => Span::styled(state.t(T::OutcomeOk), theme.good()),
                Some(Outcome::Failed) => Span::styled(state.t(T::OutcomeFailed), theme.bad()),
                None => Span::raw(""),
            };
            Row::new(vec![
                Cell::from(format_datetime(e.at)),
                Cell::from(e.signed_by()),
                Cell::from(e.kind.code()),
                Cell::from(e.mailbox.clone().unwrap_or_default()),
                Cell::from(outcome),
                Cell::from(e.detail.clone()),
            ])
        })
        .collect();
    let header = Row::new([
        state.t(T::ColWhen),
        state.t(T::ColOperator),
        state.t(T::ColKind),
        state.t(T::ColMailbox),
        state.t(T::ColOutcome),
        state.t(T::ColDetail),
    ])
    .style(theme.header());
    let widths = [
        Constraint::Length(16),
        Constraint::Length(22),
        Constraint::Length(14),
        Constraint::Fill(2),
        Constraint::Length(12),
        Constraint::Fill(5),
    ];
    let title = format!("{} · {}", state.t(T::AuditTitle), state.audit.len());
    let mut table_state = TableState::default();
    if !state.audit.is_empty() {
        table_state.select(Some(state.audit_selected - offset));
    }
    frame.render_stateful_widget(
        Table::new(rows, widths)
            .header(header)
            .block(Block::bordered().title(title))
            .row_highlight_style(theme.selected()),
        table_area,
        &mut table_state,
    );
    let prompt = state.t(T::AuditFilterPrompt);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(prompt, theme.key()),
            Span::raw(state.audit_filter.value()),
        ])),
        filter_area,
    );
    if state.searching {
        let x =
            filter_area.x + (prompt.chars().count() + state.audit_filter.visual_cursor()) as u16;
        frame.set_cursor_position((x.min(filter_area.right().saturating_sub(1)), filter_area.y));
    }
}
