//! The member on the phone: the detail's "Cosa fare" section and the call
//! script window.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::keymap::Keymap;
use super::popup::centered;
use super::theme::Theme;
use crate::app::{Command, State};
use crate::domain::diagnosis::StaffAction;
use crate::i18n::T;

/// The console command that performs a staff action.
pub fn command_of(action: StaffAction) -> Command {
    match action {
        StaffAction::Resend => Command::Resend,
        StaffAction::SetRecovery => Command::SetRecovery,
        StaffAction::ResetPassword => Command::ResetPassword,
        StaffAction::Sync => Command::Sync,
        StaffAction::ImportRoster => Command::Import,
    }
}

/// The lines of "Cosa fare" for entry `index`: the situation, what the staff
/// can do (with the key in force; first, so a short terminal still shows it),
/// why it blocks, and what the member must do.
pub fn what_to_do_lines(
    state: &State,
    index: usize,
    theme: &Theme,
    keymap: &Keymap,
) -> Vec<Line<'static>> {
    let Some(diagnosis) = state.diagnosis(index) else {
        return vec![Line::raw(state.t(T::Loading))];
    };
    let r = diagnosis.render(state.lang);
    let mut lines = vec![Line::styled(r.situation.clone(), theme.title())];
    for advice in &r.staff {
        let key = advice
            .action
            .and_then(crate::domain::diagnosis::StaffAction::from_code)
            .and_then(|a| keymap.key_for(command_of(a)))
            .map(|k| format!("[{k}] "))
            .unwrap_or_default();
        let (mark, style) = if advice.act {
            ("▸ ", theme.key())
        } else {
            ("✗ ", theme.bad())
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{mark}{key}"), style),
            Span::raw(advice.text.clone()),
        ]));
    }
    for block in &r.blocks {
        lines.push(Line::from(vec![
            Span::styled(format!("{}: ", state.t(T::DxWhy)), theme.warn()),
            Span::raw(block.clone()),
        ]));
    }
    if r.must_change_password {
        lines.push(Line::styled(
            format!("⚠ {}", state.t(T::DxMustChange)),
            theme.warn(),
        ));
    }
    if !r.steps.is_empty() {
        let script_key = keymap
            .key_for(Command::CallScript)
            .map(|k| format!(" ({k}: {})", state.t(T::DxCallScript)))
            .unwrap_or_default();
        lines.push(Line::styled(
            format!("{}:{script_key}", state.t(T::DxMemberSteps)),
            theme.dim(),
        ));
        for (i, step) in r.steps.iter().enumerate() {
            lines.push(Line::raw(format!("{}. {step}", i + 1)));
        }
    }
    lines
}

/// How many rows `lines` take when word-wrapped to `width`, so the section
/// is given the height its text needs.
pub fn wrapped_height(lines: &[Line<'_>], width: u16) -> u16 {
    let rows: usize = lines
        .iter()
        .map(|line| {
            let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
            super::popup::wrap_words(&text, usize::from(width)).len()
        })
        .sum();
    rows.min(usize::from(u16::MAX)) as u16
}

/// The call script, to read aloud; `y` copies it.
pub fn render_call_script(
    frame: &mut Frame,
    state: &State,
    theme: &Theme,
    entry: usize,
    scroll: u16,
) {
    let script = state
        .call_script(entry)
        .unwrap_or_else(|| state.t(T::Loading).to_string());
    let screen = frame.area();
    let width = screen.width.min(100);
    let area = centered(screen, width, screen.height.saturating_sub(2).max(3));
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(state.t(T::DxCallScript))
        .title_bottom(Line::from(Span::styled(
            state.t(T::DxScriptKeys),
            theme.dim(),
        )));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines: Vec<Line> = script.lines().map(|l| Line::raw(l.to_string())).collect();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        inner,
    );
}
