//! Draws the whole console from the state: a pure function, no I/O.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use super::{Ui, actions_view, audit, dashboard, detail, members, phone, popup};
use crate::app::{Level, Modal, Screen, State};
use crate::i18n::{T, format_datetime};

/// The areas of the screen, shared by drawing and mouse hit-testing.
pub struct Areas {
    pub header: Rect,
    pub body: Rect,
    pub footer: Rect,
}

pub fn areas(area: Rect) -> Areas {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        body,
        footer,
    }
}

pub fn draw(frame: &mut Frame, state: &State, ui: &Ui) {
    let theme = &ui.theme;
    let areas = areas(frame.area());
    render_header(frame, areas.header, state, theme);
    // The dashboard shows from the store's counts; the rest waits for the entries.
    let ready = state.loaded || (state.screen == Screen::Dashboard && state.dashboard_ready());
    if !ready {
        frame.render_widget(Paragraph::new(state.t(T::Loading)), areas.body);
    } else {
        match state.screen {
            Screen::Dashboard => dashboard::render(frame, areas.body, state, theme),
            Screen::Members => members::render(frame, areas.body, state, theme),
            Screen::Detail => detail::render(frame, areas.body, state, theme, &ui.keymap),
            Screen::Audit => audit::render(frame, areas.body, state, theme),
        }
    }
    render_footer(frame, areas.footer, state, theme);
    if let Some(input) = &state.palette {
        popup::render_palette(frame, state, theme, input, areas.footer);
    }
    match &state.modal {
        Some(Modal::Help) => popup::render_help(frame, state, theme, &ui.keymap),
        Some(Modal::ConfirmResend { entry }) => {
            popup::render_confirm_resend(frame, state, theme, *entry)
        }
        Some(Modal::Filter { cursor, chosen }) => {
            popup::render_filter(frame, state, theme, *cursor, chosen)
        }
        Some(Modal::ConfirmBulk {
            kind,
            targets,
            skipped,
        }) => actions_view::render_confirm_bulk(frame, state, theme, *kind, targets, skipped),
        Some(Modal::Job) => actions_view::render_job(frame, state, theme),
        Some(Modal::Resume { jobs }) => actions_view::render_resume(frame, state, theme, jobs),
        Some(Modal::RecoveryForm(form)) => {
            actions_view::render_recovery_form(frame, state, theme, form)
        }
        Some(Modal::PasswordForm(form)) => {
            actions_view::render_password_form(frame, state, theme, form)
        }
        Some(Modal::ConfirmRecovery {
            entry,
            email,
            mobile,
        }) => actions_view::render_confirm_recovery(
            frame,
            state,
            theme,
            *entry,
            email.as_deref(),
            mobile.as_deref(),
        ),
        Some(Modal::ConfirmReset { entry, .. }) => {
            actions_view::render_confirm_reset(frame, state, theme, *entry)
        }
        Some(Modal::Import(step)) => actions_view::render_import(frame, state, theme, step),
        Some(Modal::IniPec(step)) => super::inipec_view::render(frame, state, theme, step),
        Some(Modal::PasswordShown { address, password }) => {
            actions_view::render_password_shown(frame, state, theme, address, password)
        }
        Some(Modal::CallScript { entry, scroll }) => {
            phone::render_call_script(frame, state, theme, *entry, *scroll)
        }
        Some(Modal::Remind(step)) => super::remind_view::render(frame, state, theme, step),
        None => {}
    }
}

fn render_header(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let tab = |screen: Screen, text: T| {
        let style = if state.screen == screen {
            theme.selected()
        } else {
            theme.dim()
        };
        Span::styled(format!(" {} ", state.t(text)), style)
    };
    let sync = if state.report_mode {
        super::report_view::header_span(state, theme)
    } else if state.sync_running {
        let progress = match state.sync_progress {
            Some((fetched, Some(total))) => format!(" {fetched}/{total}"),
            Some((fetched, None)) => format!(" {fetched}"),
            None => String::new(),
        };
        Span::styled(
            format!("{}{progress}", state.t(T::SyncRunning)),
            theme.warn(),
        )
    } else {
        match &state.last_sync {
            Some(run) if run.ok => Span::styled(
                format!(
                    "{}: {}",
                    state.t(T::LastSync),
                    format_datetime(run.finished_at)
                ),
                theme.dim(),
            ),
            Some(run) => Span::styled(
                format!(
                    "{} ({})",
                    state.t(T::SyncFailed),
                    format_datetime(run.finished_at)
                ),
                theme.bad(),
            ),
            None => Span::styled(
                format!("{}: {}", state.t(T::LastSync), state.t(T::NeverSynced)),
                theme.dim(),
            ),
        }
    };
    // Tabs first, the Ordine's name last: on a narrow terminal the name is what
    // gets cut, and the sync time keeps its place on the right.
    let mut spans = vec![
        Span::styled("pecdesk ", theme.title()),
        tab(Screen::Dashboard, T::TabDashboard),
        tab(Screen::Members, T::TabMembers),
    ];
    match state.screen {
        Screen::Detail => spans.push(tab(Screen::Detail, T::TabDetail)),
        Screen::Audit => spans.push(tab(Screen::Audit, T::TabAudit)),
        _ => {}
    }
    spans.push(Span::raw(format!("  {}", state.ordine)));
    let sync_width = sync.width() as u16 + 1;
    let [left, right] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(sync_width)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(spans)), left);
    frame.render_widget(Paragraph::new(Line::from(sync)).right_aligned(), right);
}

fn render_footer(frame: &mut Frame, area: Rect, state: &State, theme: &Theme) {
    let line = match &state.status {
        Some((Level::Error, text)) => Line::from(Span::styled(text.clone(), theme.bad())),
        Some((Level::Info, text)) => Line::from(Span::raw(text.clone())),
        None => {
            let hint = match state.screen {
                Screen::Dashboard if state.aruba_known() && !state.after_cutover() => {
                    T::HintDashboardAruba
                }
                Screen::Dashboard => T::HintDashboard,
                Screen::Members => T::HintMembers,
                Screen::Detail => T::HintDetail,
                Screen::Audit => T::HintAudit,
            };
            let hint = crate::app::report_mode::footer_hint(state, hint);
            Line::from(Span::styled(state.t(hint), theme.dim()))
        }
    };
    frame.render_widget(Paragraph::new(line), area);
}
