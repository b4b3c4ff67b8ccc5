//! The member table. Only the rows that fit on screen are built and drawn, so
//! scrolling costs the same with 100 or 100,000 members.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState};

use nucleo_matcher::Matcher;
use nucleo_matcher::pattern::Pattern;
use ratatui::style::Style;

use super::labels;
use super::theme::Theme;
use crate::app::{SortColumn, State, search};
use crate::i18n::T;
use crate::store::RosterRow;

/// The first row to show so that `selected` stays in a window of `height` rows,
/// moving the previous offset as little as possible.
pub fn scroll_offset(previous: usize, selected: usize, height: usize, total: usize) -> usize {
    if height == 0 {
        return 0;
    }
    let mut offset = previous.min(total.saturating_sub(height));
    if selected < offset {
        offset = selected;
    } else if selected >= offset + height {
        offset = selected + 1 - height;
    }
    offset
}

/// Matches of the search in the visible cells, for highlighting.
struct Highlighter {
    pattern: Pattern,
    matcher: Matcher,
}

impl Highlighter {
    fn new(query: &str) -> Option<Self> {
        let query = query.trim();
        (!query.is_empty()).then(|| Self {
            pattern: search::pattern(query),
            matcher: Matcher::new(nucleo_matcher::Config::DEFAULT),
        })
    }

    /// `text` as spans, with the matched characters in `mark`.
    fn spans(&mut self, text: String, base: Style, mark: Style) -> Line<'static> {
        let hits = search::highlights(&self.pattern, &mut self.matcher, &text);
        if hits.is_empty() {
            return Line::from(Span::styled(text, base));
        }
        // One span per run of matched or unmatched characters.
        let mut spans: Vec<Span> = Vec::new();
        let mut run = String::new();
        let mut run_marked = false;
        for (i, c) in text.chars().enumerate() {
            let marked = hits.binary_search(&(i as u32)).is_ok();
            if marked != run_marked && !run.is_empty() {
                spans.push(Span::styled(
                    std::mem::take(&mut run),
                    if run_marked { mark } else { base },
                ));
            }
            run_marked = marked;
            run.push(c);
        }
        if !run.is_empty() {
            spans.push(Span::styled(run, if run_marked { mark } else { base }));
        }
        Line::from(spans)
    }
}

fn entry_cells<'a>(
    state: &'a State,
    entry: RosterRow<'a>,
    theme: &Theme,
    highlighter: &mut Option<Highlighter>,
) -> Vec<Cell<'a>> {
    let (name, cf) = match entry.full_name() {
        Some(name) => (name, entry.codice_fiscale().to_string()),
        None => (format!("({})", state.t(T::NotInRoster)), String::new()),
    };
    // Marked rows carry a dot, so a bulk action's scope is visible.
    let name = if state.marked.contains(entry.address()) {
        format!("● {name}")
    } else {
        name
    };
    let name_style = if entry.has_member() && !entry.in_roster() {
        theme.dim()
    } else {
        Style::new()
    };
    let mut text = |value: String, style: Style| match highlighter {
        Some(h) => Cell::from(h.spans(value, style, theme.matched())),
        None => Cell::from(Span::styled(value, style)),
    };
    let mut cells = vec![
        text(name, name_style),
        text(cf, Style::new()),
        text(entry.address().to_string(), Style::new()),
    ];
    if state.aruba_mode() {
        cells.extend(aruba_cells(state, entry, theme));
        return cells;
    }
    match entry.mailbox() {
        Some(mailbox) => {
            let recovery = if mailbox.recovery_email {
                Span::styled(state.t(T::ShortRecEmail), theme.good())
            } else if mailbox.recovery_mobile {
                Span::styled(state.t(T::ShortRecMobile), theme.warn())
            } else {
                Span::styled(state.t(T::ShortRecNone), theme.bad())
            };
            cells.push(Cell::from(
                state.t(labels::migration_short(mailbox.migration)),
            ));
            cells.push(Cell::from(
                state.t(labels::password(mailbox.password_at(state.now))),
            ));
            cells.push(Cell::from(recovery));
        }
        None => cells.push(Cell::from(Span::styled(state.t(T::NoMailbox), theme.dim()))),
    }
    cells
}

/// On an Aruba list the last columns are Aruba's: status, the owner's
/// contact e-mail and mobile there (in full: staff compare them with the
/// roster's to decide which is right).
fn aruba_cells<'a>(state: &'a State, entry: RosterRow<'a>, theme: &Theme) -> Vec<Cell<'a>> {
    let Some(aruba) = entry.aruba().mailbox() else {
        return vec![Cell::from(Span::styled(
            state.t(T::SkipNotAtAruba),
            theme.dim(),
        ))];
    };
    let status = aruba.status();
    let status_style = if status.blocks_migration() {
        theme.bad()
    } else {
        Style::new()
    };
    let or_none = |value: Option<&'a str>| match value {
        Some(v) => Span::raw(v),
        None => Span::styled("—", theme.bad()),
    };
    vec![
        Cell::from(Span::styled(status.label_it(), status_style)),
        Cell::from(or_none(aruba.contact_email())),
        Cell::from(or_none(aruba.contact_mobile())),
    ]
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let (table_area, search_area) = if state.searching || !state.search.value().is_empty() {
        let [t, s] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
        (t, Some(s))
    } else {
        (area, None)
    };
    // Borders and the header take three lines.
    let height = table_area.height.saturating_sub(3) as usize;
    state.page_rows.set(height.max(1));
    let offset = scroll_offset(
        state.table_offset.get(),
        state.selected,
        height,
        state.visible.len(),
    );
    state.table_offset.set(offset);
    let end = (offset + height).min(state.visible.len());
    let mut highlighter = Highlighter::new(state.search.value());
    let rows: Vec<Row> = state.visible[offset..end]
        .iter()
        .map(|&i| {
            Row::new(entry_cells(
                state,
                state.entries.row(i),
                theme,
                &mut highlighter,
            ))
        })
        .collect();
    let aruba = state.aruba_mode();
    let titles = [
        (SortColumn::Name, T::ColName),
        (SortColumn::CodiceFiscale, T::ColCf),
        (SortColumn::Pec, T::ColPec),
        (
            SortColumn::Migration,
            if aruba {
                T::ColArubaStatus
            } else {
                T::ColMigration
            },
        ),
        (
            SortColumn::Password,
            if aruba {
                T::ColArubaEmail
            } else {
                T::ColPassword
            },
        ),
        (
            SortColumn::Recovery,
            if aruba {
                T::ColArubaMobile
            } else {
                T::ColRecovery
            },
        ),
    ];
    let header = Row::new(titles.map(|(column, text)| {
        // While searching, rows are ranked by match, not by the sort column;
        // Aruba's columns are not sort keys (the order stays the one chosen).
        let aruba_column = aruba
            && matches!(
                column,
                SortColumn::Migration | SortColumn::Password | SortColumn::Recovery
            );
        // The order shown: a new one is made off the UI thread.
        let sort = state.shown_sort();
        let sorted_here =
            sort.column == column && state.search.value().trim().is_empty() && !aruba_column;
        let arrow = match (sorted_here, sort.descending) {
            (false, _) => "",
            (true, false) => " ▲",
            (true, true) => " ▼",
        };
        format!("{}{arrow}", state.t(text))
    }))
    .style(theme.header());
    // Aruba's e-mail column needs the room the PEC gives up.
    let (pec_width, second_width) = if aruba { (3, 4) } else { (4, 2) };
    let widths = [
        Constraint::Fill(3),
        Constraint::Length(16),
        Constraint::Fill(pec_width),
        Constraint::Fill(2),
        Constraint::Fill(second_width),
        Constraint::Fill(2),
    ];
    let mut title = format!(
        "{} · {} {} {} {}",
        state.t(T::TabMembers),
        state.visible.len(),
        state.t(T::Shown),
        state.t(T::Of),
        state.entries.len()
    );
    if state.indexing() {
        title.push_str(&format!(" · {}", state.t(T::Indexing)));
    }
    if !state.marked.is_empty() {
        title.push_str(&format!(" · {} {}", state.marked.len(), state.t(T::Marked)));
    }
    if !state.filter.is_empty() {
        let names: Vec<&str> = state
            .filter
            .iter()
            .map(|&c| state.t(labels::category(c)))
            .collect();
        title.push_str(&format!(
            " · {}: {}",
            state.t(T::Filtered),
            names.join(", ")
        ));
    }
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(theme.selected())
        .column_spacing(1);
    let mut table_state = TableState::default();
    if !state.visible.is_empty() {
        table_state.select(Some(state.selected - offset));
    }
    frame.render_stateful_widget(table, table_area, &mut table_state);
    if let Some(search_area) = search_area {
        let prompt = state.t(T::SearchPrompt);
        let mut line = Line::from(vec![
            Span::styled(prompt, theme.key()),
            Span::raw(state.search.value()),
        ]);
        // The table still lists the previous query's matches.
        if state.search_under_way() {
            line.push_span(Span::raw(" …"));
        }
        frame.render_widget(Paragraph::new(line), search_area);
        if state.searching {
            let x = search_area.x + (prompt.chars().count() + state.search.visual_cursor()) as u16;
            frame
                .set_cursor_position((x.min(search_area.right().saturating_sub(1)), search_area.y));
        }
    }
}

/// The visible-list position of a click at terminal row `y`, if it hit a row.
pub fn row_at(state: &State, area: Rect, y: u16) -> Option<usize> {
    // Border and header above the first row.
    let first = area.y + 2;
    if y < first || y >= area.bottom().saturating_sub(1) {
        return None;
    }
    let position = state.table_offset.get() + (y - first) as usize;
    (position < state.visible.len()).then_some(position)
}

#[cfg(test)]
mod tests {
    use super::scroll_offset;

    #[test]
    fn offset_moves_only_when_the_selection_leaves_the_window() {
        assert_eq!(scroll_offset(0, 5, 10, 100), 0);
        assert_eq!(scroll_offset(0, 10, 10, 100), 1);
        assert_eq!(scroll_offset(20, 15, 10, 100), 15);
        assert_eq!(scroll_offset(50, 55, 10, 100), 50);
        assert_eq!(scroll_offset(95, 99, 10, 100), 90);
        assert_eq!(scroll_offset(3, 0, 0, 100), 0);
    }
}
