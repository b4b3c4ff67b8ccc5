//! The dashboard: counts per migration, password and recovery state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph, Sparkline};

use super::labels;
use super::theme::Theme;
use crate::app::State;
use crate::domain::{MigrationState, PasswordState};
use crate::i18n::{T, format_date};

fn count_line<'a>(
    state: &State,
    label: &'a str,
    count: usize,
    style: ratatui::style::Style,
) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{count:>7}"), style),
        Span::raw(format!(" {:>5.1}%  ", state.summary.percent(count))),
        Span::raw(label),
    ])
}

/// The gauge's title, saying so while the figures are the store's earlier ones.
fn gauge_title(state: &State) -> String {
    match state.counts_as_of() {
        Some(at) => format!(
            "{} · {} {}, {}",
            state.t(T::MigratedGauge),
            state.t(T::CountsAsOf),
            crate::i18n::format_datetime(at),
            state.t(T::CountsRecounting)
        ),
        None => state.t(T::MigratedGauge).to_string(),
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let s = &state.summary;
    // Who to chase comes first: on a small terminal the breakdowns get cut, not it.
    let [gauge_area, chase_row, top, bottom] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(9 + aruba_lines(state) + super::outreach_view::dashboard_height(state)),
        Constraint::Length(6),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [chase_area, cutover_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(chase_row);
    let ratio = if s.mailboxes == 0 {
        0.0
    } else {
        s.migrated() as f64 / s.mailboxes as f64
    };
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(gauge_title(state)))
            .gauge_style(theme.gauge())
            .ratio(ratio)
            .label(format!(
                "{} / {} {} ({:.1}%)",
                s.migrated(),
                s.mailboxes,
                state.t(T::Mailboxes),
                ratio * 100.0
            )),
        gauge_area,
    );
    let [migration_area, password_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(top);
    let migration_style = |m: MigrationState| match m {
        MigrationState::Completed => theme.good(),
        MigrationState::NotStarted => theme.warn(),
        _ => theme.bad(),
    };
    let migration: Vec<Line> = MigrationState::ALL
        .iter()
        .map(|&m| {
            count_line(
                state,
                state.t(labels::migration(m)),
                s.migration[crate::app::migration_index(m)],
                migration_style(m),
            )
        })
        .collect();
    frame.render_widget(
        Paragraph::new(migration).block(Block::bordered().title(state.t(T::Migration))),
        migration_area,
    );
    let password_style = |p: PasswordState| match p {
        PasswordState::Set => theme.good(),
        PasswordState::LinkExpired => theme.bad(),
        _ => theme.warn(),
    };
    let password: Vec<Line> = PasswordState::ALL
        .iter()
        .map(|&p| {
            count_line(
                state,
                state.t(labels::password(p)),
                s.password[crate::app::password_index(p)],
                password_style(p),
            )
        })
        .collect();
    frame.render_widget(
        Paragraph::new(password).block(Block::bordered().title(state.t(T::Password))),
        password_area,
    );
    let [recovery_area, roster_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(bottom);
    let recovery = vec![
        count_line(state, state.t(T::RecEmail), s.recovery_email, theme.good()),
        count_line(
            state,
            state.t(T::RecMobileOnly),
            s.recovery_mobile_only,
            theme.warn(),
        ),
        count_line(state, state.t(T::RecNone), s.recovery_none, theme.bad()),
        count_line(
            state,
            state.t(T::RecConfirmed),
            s.recovery_confirmed,
            theme.good(),
        ),
    ];
    frame.render_widget(
        Paragraph::new(recovery).block(Block::bordered().title(state.t(T::Recovery))),
        recovery_area,
    );
    let plain = |label: T, count: usize, style| {
        Line::from(vec![
            Span::styled(format!("{count:>7}"), style),
            Span::raw(format!("  {}", state.t(label))),
        ])
    };
    let roster = vec![
        plain(T::RosterMembers, s.members_in_roster, theme.good()),
        plain(T::RosterExternal, s.external_pec, theme.dim()),
        plain(T::RosterNoMailbox, s.no_mailbox, theme.warn()),
        plain(T::RosterNoMember, s.no_member, theme.warn()),
        plain(T::RosterRemoved, s.removed, theme.dim()),
    ];
    frame.render_widget(
        Paragraph::new(roster).block(Block::bordered().title(state.t(T::Roster))),
        roster_area,
    );
    render_to_chase(frame, chase_area, state, theme);
    render_cutover(frame, cutover_area, state, theme);
}

/// Who needs the Ordine's attention, each list one key away.
fn render_to_chase(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let mut lines: Vec<Line> = crate::app::CHASE
        .iter()
        .enumerate()
        .map(|(i, &category)| {
            let count = state.count(category);
            let style = if count == 0 {
                theme.dim()
            } else {
                theme.warn()
            };
            Line::from(vec![
                Span::styled(format!(" {} ", i + 1), theme.key()),
                Span::styled(format!("{count:>7}"), style),
                Span::raw(format!("  {}", state.t(labels::category(category)))),
            ])
        })
        .collect();
    lines.extend(aruba_chase(state, theme));
    lines.extend(super::outreach_view::dashboard_lines(state, theme));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(state.t(T::ToChase))),
        area,
    );
}

/// Rows the Aruba lists take: none before an Aruba sync, one line of history
/// after the passage, the four lists before it.
fn aruba_lines(state: &State) -> u16 {
    match (state.aruba_known(), state.after_cutover()) {
        (false, _) => 0,
        (true, true) => 1,
        (true, false) => crate::app::CHASE_ARUBA.len() as u16,
    }
}

/// The Aruba lists, each with its key; after the passage, one line saying
/// the Aruba side is history.
fn aruba_chase<'a>(state: &'a State, theme: &Theme) -> Vec<Line<'a>> {
    if !state.aruba_known() {
        return Vec::new();
    }
    if state.after_cutover() {
        return vec![Line::from(Span::styled(
            format!("  {}", state.t(T::ArubaHistory)),
            theme.dim(),
        ))];
    }
    crate::app::CHASE_ARUBA
        .iter()
        .zip(crate::tui::keymap::ARUBA_CHASE_KEYS)
        .map(|(&category, key)| {
            let count = state.count(category);
            let style = if count == 0 {
                theme.dim()
            } else {
                theme.warn()
            };
            Line::from(vec![
                Span::styled(format!(" {key} "), theme.key()),
                Span::styled(format!("{count:>7}"), style),
                Span::raw(format!("  {}", state.t(labels::category(category)))),
            ])
        })
        .collect()
}

/// Days to the cutover, the pace, and migrations per day.
fn render_cutover(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let block = Block::bordered().title(state.t(T::Cutover));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text_area, chart_area] =
        Layout::vertical([Constraint::Length(3), Constraint::Fill(1)]).areas(inner);
    let lines = match state.cutover {
        None => vec![Line::from(Span::styled(
            state.t(T::CutoverNotSet),
            theme.dim(),
        ))],
        Some(cutover) => {
            let f = state.summary.forecast(cutover, state.now);
            let when = if f.days_left >= 0 {
                format!(
                    "{} · {} {}",
                    format_date(cutover),
                    f.days_left,
                    state.t(T::DaysLeft)
                )
            } else {
                format!("{} · {}", format_date(cutover), state.t(T::CutoverPast))
            };
            let verdict = if f.on_track {
                Span::styled(state.t(T::OnTrack), theme.good())
            } else {
                Span::styled(state.t(T::OffTrack), theme.bad())
            };
            vec![
                Line::from(Span::styled(when, theme.title())),
                Line::raw(format!(
                    "{}: {:.1} {} · {} {:.1}",
                    state.t(T::Pace),
                    f.pace,
                    state.t(T::PerDay),
                    state.t(T::Needed),
                    f.needed
                )),
                Line::from(verdict),
            ]
        }
    };
    frame.render_widget(Paragraph::new(lines), text_area);
    frame.render_widget(
        Sparkline::default()
            .block(Block::new().title(state.t(T::MigrationsPerDay)))
            .data(&state.summary.per_day)
            .style(theme.good()),
        chart_area,
    );
}
