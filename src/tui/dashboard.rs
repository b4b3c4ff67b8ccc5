//! The dashboard: counts per migration, password and recovery state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge, Paragraph};

use super::labels;
use super::theme::Theme;
use crate::app::State;
use crate::domain::{MigrationState, PasswordState};
use crate::i18n::T;

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

pub fn render(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let s = &state.summary;
    let [gauge_area, top, bottom, chase_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Fill(1),
    ])
    .areas(area);
    let ratio = if s.mailboxes == 0 {
        0.0
    } else {
        s.migrated() as f64 / s.mailboxes as f64
    };
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(state.t(T::MigratedGauge)))
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
}

/// Who needs the Ordine's attention, most urgent first.
fn render_to_chase(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let s = &state.summary;
    let items = [
        (T::ChaseNoContact, s.recovery_none),
        (
            T::ChaseLinkExpired,
            s.password[crate::app::password_index(PasswordState::LinkExpired)],
        ),
        (
            T::ChaseFailed2fa,
            s.migration[crate::app::migration_index(MigrationState::FailedTwoFactor)],
        ),
        (
            T::ChaseFailedCredentials,
            s.migration[crate::app::migration_index(MigrationState::FailedCredentials)],
        ),
        (
            T::ChaseNotMigrated,
            s.migration[crate::app::migration_index(MigrationState::NotStarted)],
        ),
        (T::RosterNoMailbox, s.no_mailbox),
        (T::RosterNoMember, s.no_member),
    ];
    let lines: Vec<Line> = items
        .iter()
        .map(|&(text, count)| {
            let style = if count == 0 {
                theme.dim()
            } else {
                theme.warn()
            };
            Line::from(vec![
                Span::styled(format!("{count:>7}"), style),
                Span::raw(format!("  {}", state.t(text))),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(state.t(T::ToChase))),
        area,
    );
}
