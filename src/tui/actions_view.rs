//! The windows of staff actions: bulk confirmation and progress, the recovery
//! contact form, the password reset with its checklist, the password shown once.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Gauge, Paragraph, Wrap};
use tui_input::Input;

use super::labels;
use super::popup::centered;
use super::theme::Theme;
use crate::app::actions::{PasswordForm, RecoveryForm};
use crate::app::import_flow::{ImportKind, ImportStep};
use crate::app::{Secret, State};
use crate::domain::Category;
use crate::domain::password::PasswordRule;
use crate::i18n::T;
use crate::store::{Job, JobKind};

pub(super) fn window(frame: &mut Frame, title: &str, width: u16, height: u16) -> Rect {
    let area = centered(frame.area(), width, height);
    frame.render_widget(Clear, area);
    let block = Block::bordered().title(title.to_string());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    inner
}

fn kind_title(state: &State, kind: JobKind) -> &'static str {
    state.t(match kind {
        JobKind::Resend => T::JobResend,
        JobKind::SetRecovery => T::JobSetRecovery,
        JobKind::ArubaContacts => T::JobArubaContacts,
        JobKind::Reminder => T::JobReminder,
    })
}

fn who(state: &State, entry: usize) -> String {
    let e = state.entries.row(entry);
    let name = e.full_name().unwrap_or_default();
    format!("{name} <{}>", e.address())
}

pub fn render_confirm_bulk(
    frame: &mut Frame,
    state: &State,
    theme: &Theme,
    kind: JobKind,
    targets: &[usize],
    skipped: &[(usize, T)],
) {
    let mut lines = Vec::new();
    if targets.is_empty() {
        lines.push(Line::styled(state.t(T::BulkNothing), theme.bad()));
    } else {
        lines.push(Line::from(vec![
            Span::raw(format!("{} ", state.t(T::BulkConfirm))),
            Span::styled(
                format!("{} {}", targets.len(), state.t(T::Members_)),
                theme.title(),
            ),
        ]));
        // Which states they are in, so staff see what they are about to touch.
        let mut by_state: std::collections::BTreeMap<&str, usize> = Default::default();
        if kind == JobKind::ArubaContacts {
            // By Aruba list: no contact there, or another one than the roster's.
            for &i in targets {
                let list = [Category::ArubaNoContact, Category::ArubaContactDiffers]
                    .into_iter()
                    .find(|&c| state.is_in(i, c))
                    .unwrap_or(Category::ArubaContactDiffers);
                *by_state.entry(state.t(labels::category(list))).or_default() += 1;
            }
            for (label, n) in by_state {
                lines.push(Line::raw(format!("  {n:>6}  {label}")));
            }
            lines.push(Line::styled(state.t(T::ArubaConfirmNote), theme.dim()));
        } else {
            for &i in targets {
                let label = match state.entries.row(i).mailbox() {
                    Some(m) => state.t(labels::password(m.password_at(state.now))),
                    None => state.t(T::NoMailbox),
                };
                *by_state.entry(label).or_default() += 1;
            }
            for (label, n) in by_state {
                lines.push(Line::raw(format!(
                    "  {n:>6}  {} {label}",
                    state.t(T::Password).to_lowercase()
                )));
            }
        }
    }
    if !skipped.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("{} ({}):", state.t(T::BulkSkipped), skipped.len()),
            theme.warn(),
        ));
        for (i, reason) in skipped.iter().take(8) {
            lines.push(Line::raw(format!(
                "  {} — {}",
                who(state, *i),
                state.t(*reason)
            )));
        }
        if skipped.len() > 8 {
            lines.push(Line::raw(format!("  … +{}", skipped.len() - 8)));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(state.t(T::ConfirmKeys), theme.key()));
    let inner = window(frame, kind_title(state, kind), 80, lines.len() as u16 + 2);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

pub fn render_job(frame: &mut Frame, state: &State, theme: &Theme) {
    let Some(job) = &state.job else {
        return;
    };
    let failures = if job.finished {
        job.failures.len().min(10)
    } else {
        0
    };
    let inner = window(
        frame,
        kind_title(state, job.kind),
        80,
        9 + failures as u16 + (failures > 0) as u16,
    );
    let [gauge, text, list, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let counts = job.counts;
    let ratio = if counts.total == 0 {
        1.0
    } else {
        job.processed() as f64 / counts.total as f64
    };
    frame.render_widget(
        Gauge::default()
            .gauge_style(theme.gauge())
            .ratio(ratio)
            .label(format!("{} / {}", job.processed(), counts.total)),
        gauge,
    );
    let status = if job.finished {
        Span::styled(state.t(T::JobFinished), theme.good())
    } else if job.paused {
        Span::styled(state.t(T::JobPaused), theme.warn())
    } else {
        match job.eta_seconds(state.now) {
            Some(secs) => Span::raw(format!(
                "{} {}:{:02}",
                state.t(T::JobEta),
                secs / 60,
                secs % 60
            )),
            None => Span::raw(""),
        }
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(vec![
                Span::styled(
                    format!("{} {}", counts.done, state.t(T::JobDone)),
                    theme.good(),
                ),
                Span::raw(" · "),
                Span::styled(
                    format!("{} {}", counts.failed, state.t(T::JobFailed)),
                    if counts.failed > 0 {
                        theme.bad()
                    } else {
                        theme.dim()
                    },
                ),
                Span::raw(" · "),
                Span::raw(format!("{} {}", counts.pending, state.t(T::JobRemaining))),
            ]),
            Line::from(status),
        ]),
        text,
    );
    if failures > 0 {
        let mut lines = vec![Line::styled(
            format!("{}:", state.t(T::JobFailures)),
            theme.bad(),
        )];
        lines.extend(
            job.failures
                .iter()
                .take(10)
                .map(|(address, reason)| Line::raw(format!("  {address}: {reason}"))),
        );
        frame.render_widget(Paragraph::new(lines), list);
    }
    let hint = if job.finished {
        T::JobKeysDone
    } else {
        T::JobKeys
    };
    frame.render_widget(
        Paragraph::new(Line::styled(state.t(hint), theme.key())),
        keys,
    );
}

pub fn render_resume(frame: &mut Frame, state: &State, theme: &Theme, jobs: &[Job]) {
    let job = &jobs[0];
    let lines = vec![
        Line::raw(state.t(T::ResumeText)),
        Line::raw(""),
        Line::styled(
            format!(
                "{} · {} · {}: {} {}, {} {}",
                kind_title(state, job.kind),
                crate::i18n::format_datetime(job.created_at),
                job.operator,
                job.counts.pending,
                state.t(T::JobRemaining),
                job.counts.done,
                state.t(T::JobDone)
            ),
            theme.title(),
        ),
        Line::raw(""),
        Line::styled(state.t(T::ConfirmKeys), theme.key()),
    ];
    let inner = window(frame, state.t(T::ResumeTitle), 80, 9);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn field_line<'a>(
    label: &'a str,
    input: &'a Input,
    focused: bool,
    theme: &Theme,
    shown: String,
) -> Line<'a> {
    let style = if focused {
        theme.selected()
    } else {
        Style::new().add_modifier(Modifier::UNDERLINED)
    };
    let _ = input;
    Line::from(vec![
        Span::styled(format!("{label:<20}"), theme.dim()),
        Span::styled(format!("{shown:<40}"), style),
    ])
}

pub fn render_recovery_form(frame: &mut Frame, state: &State, theme: &Theme, form: &RecoveryForm) {
    // The contacts on file come with the entry in full.
    let old = match state.full_entry(form.entry) {
        None => state.t(T::Loading).to_string(),
        Some(full) => full
            .mailbox
            .as_ref()
            .map(|m| {
                [
                    m.recovery.email_masked.clone(),
                    m.recovery.mobile_masked.clone(),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| state.t(T::RecNone).to_string()),
    };
    let mut lines = vec![
        Line::styled(who(state, form.entry), theme.title()),
        Line::raw(format!("{}: {old}", state.t(T::RecoveryOld))),
        Line::raw(""),
        field_line(
            state.t(T::FieldServiceEmail),
            &form.email,
            form.focus == 0,
            theme,
            form.email.value().to_string(),
        ),
        field_line(
            state.t(T::FieldMobile),
            &form.mobile,
            form.focus == 1,
            theme,
            form.mobile.value().to_string(),
        ),
        Line::raw(""),
    ];
    if let Some(error) = &form.error {
        lines.push(Line::styled(error.clone(), theme.bad()));
    }
    lines.push(Line::styled(state.t(T::RecoveryKeys), theme.key()));
    let inner = window(
        frame,
        state.t(T::RecoveryFormTitle),
        72,
        lines.len() as u16 + 2,
    );
    frame.render_widget(Paragraph::new(lines), inner);
    let input = if form.focus == 0 {
        &form.email
    } else {
        &form.mobile
    };
    let x = inner.x + 20 + input.visual_cursor() as u16;
    frame.set_cursor_position((
        x.min(inner.right().saturating_sub(1)),
        inner.y + 3 + form.focus as u16,
    ));
}

pub fn render_password_form(frame: &mut Frame, state: &State, theme: &Theme, form: &PasswordForm) {
    let broken = form.broken_rules(state);
    let value = form.input.0.value();
    let mut lines = vec![
        Line::styled(who(state, form.entry), theme.title()),
        Line::raw(""),
        Line::from(vec![
            Span::styled(
                format!("{:<22}", state.t(T::PasswordTemporary)),
                theme.dim(),
            ),
            Span::styled(format!("{value:<30}"), theme.selected()),
        ]),
        Line::raw(""),
    ];
    // The live checklist, as on the provider's own page.
    for rule in PasswordRule::ALL {
        let ok = !value.is_empty() && !broken.contains(&rule);
        let (mark, style) = if ok {
            ("✔", theme.good())
        } else {
            ("✘", theme.bad())
        };
        let mut text = rule.description_it().to_string();
        if rule == PasswordRule::NoUserId {
            text = format!("{text} ({})", form.user_id(state));
        }
        lines.push(Line::from(vec![
            Span::styled(format!(" {mark} "), style),
            Span::raw(text),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(state.t(T::PasswordFormKeys), theme.key()));
    let inner = window(
        frame,
        state.t(T::PasswordFormTitle),
        72,
        lines.len() as u16 + 2,
    );
    frame.render_widget(Paragraph::new(lines), inner);
    let x = inner.x + 22 + form.input.0.visual_cursor() as u16;
    frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y + 2));
}

pub fn render_confirm_recovery(
    frame: &mut Frame,
    state: &State,
    theme: &Theme,
    entry: usize,
    email: Option<&str>,
    mobile: Option<&str>,
) {
    let dash = "—";
    let lines = vec![
        Line::raw(format!("{}:", state.t(T::ConfirmRecoveryText))),
        Line::styled(who(state, entry), theme.title()),
        Line::raw(""),
        Line::raw(format!(
            "{}: {}",
            state.t(T::FieldServiceEmail),
            email.unwrap_or(dash)
        )),
        Line::raw(format!(
            "{}: {}",
            state.t(T::FieldMobile),
            mobile.unwrap_or(dash)
        )),
        Line::raw(""),
        Line::styled(state.t(T::ConfirmKeys), theme.key()),
    ];
    let inner = window(frame, state.t(T::ConfirmTitle), 72, lines.len() as u16 + 2);
    frame.render_widget(Paragraph::new(lines), inner);
}

pub fn render_confirm_reset(frame: &mut Frame, state: &State, theme: &Theme, entry: usize) {
    let lines = vec![
        Line::raw(format!("{}:", state.t(T::ConfirmResetText))),
        Line::styled(who(state, entry), theme.title()),
        Line::raw(""),
        Line::raw(state.t(T::ConfirmResetNote)),
        Line::raw(""),
        Line::styled(state.t(T::ConfirmKeys), theme.key()),
    ];
    let inner = window(frame, state.t(T::ConfirmTitle), 72, lines.len() as u16 + 2);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The password spaced out and in capitals-aware groups, to read on the phone.
pub fn render_password_shown(
    frame: &mut Frame,
    state: &State,
    theme: &Theme,
    address: &str,
    password: &Secret,
) {
    let spaced: String = password.0.chars().map(|c| format!("{c} ")).collect();
    let spelled: Vec<String> = password
        .0
        .chars()
        .map(|c| match c {
            'A'..='Z' => format!("{c} maiuscola"),
            'a'..='z' => format!("{c} minuscola"),
            '0'..='9' => format!("{c} numero"),
            other => format!("{other} simbolo"),
        })
        .collect();
    let lines = vec![
        Line::styled(address.to_string(), theme.title()),
        Line::raw(""),
        Line::styled(
            format!("   {}", spaced.trim_end()),
            theme
                .title()
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Line::raw(""),
        Line::styled(spelled.join(" · "), theme.dim()),
        Line::raw(""),
        Line::raw(state.t(T::ConfirmResetNote)),
        Line::styled(state.t(T::PasswordShownKeys), theme.key()),
    ];
    let inner = window(
        frame,
        state.t(T::PasswordShownTitle),
        90,
        lines.len() as u16 + 4,
    );
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The import: the path, the reading, the preview to confirm, the writing.
pub fn render_import(frame: &mut Frame, state: &State, theme: &Theme, step: &ImportStep) {
    let mut lines: Vec<Line> = Vec::new();
    let mut cursor = None;
    match step {
        ImportStep::Path { input, error, kind } => {
            let prompt = state.t(match kind {
                ImportKind::Roster { .. } => T::ImportPathPrompt,
                ImportKind::Report { .. } => T::ReportPathPrompt,
            });
            lines.push(Line::from(vec![
                Span::styled(prompt, theme.key()),
                Span::raw(input.value().to_string()),
            ]));
            cursor = Some(prompt.chars().count() + input.visual_cursor());
            if let Some(error) = error {
                lines.push(Line::styled(error.clone(), theme.bad()));
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(state.t(T::ImportPathKeys), theme.key()));
        }
        ImportStep::Reading { path, rows, kind } => {
            lines.push(Line::styled(path.display().to_string(), theme.title()));
            lines.push(Line::raw(match kind {
                ImportKind::Roster { .. } => format!(
                    "{} {rows} {}",
                    state.t(T::ImportReading),
                    state.t(T::ImportRowsRead)
                ),
                ImportKind::Report { .. } => state.t(T::ImportReading).to_string(),
            }));
        }
        ImportStep::ReportPreview { preview, .. } => {
            super::report_view::preview_lines(&mut lines, state, theme, preview)
        }
        ImportStep::Importing { path, .. } => {
            lines.push(Line::styled(path.display().to_string(), theme.title()));
            lines.push(Line::raw(state.t(T::ImportWriting)));
        }
        ImportStep::Preview {
            request,
            plan,
            source,
        } => {
            lines.push(Line::styled(source.clone(), theme.title()));
            let c = plan.counts;
            lines.push(Line::from(vec![
                Span::styled(format!("{} {}", c.new, state.t(T::ImportNew)), theme.good()),
                Span::raw(format!(
                    " · {} {} · {} {} · ",
                    c.updated,
                    state.t(T::ImportUpdated),
                    c.unchanged,
                    state.t(T::ImportUnchanged)
                )),
                Span::styled(
                    format!("{} {}", c.removed, state.t(T::ImportRemoved)),
                    if c.removed > 0 {
                        theme.warn()
                    } else {
                        theme.dim()
                    },
                ),
                Span::raw(" · "),
                Span::styled(
                    format!("{} {}", plan.rejected, state.t(T::ImportRejected)),
                    if plan.rejected > 0 {
                        theme.bad()
                    } else {
                        theme.dim()
                    },
                ),
            ]));
            lines.push(Line::styled(
                state.t(if request.partial {
                    T::ImportPartial
                } else {
                    T::ImportFull
                }),
                theme.dim(),
            ));
            let changes: Vec<_> = plan
                .changes
                .iter()
                .filter(|c| c.kind != crate::store::ChangeKind::New)
                .take(8)
                .collect();
            if !changes.is_empty() {
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    format!("{}:", state.t(T::ImportChanges)),
                    theme.header(),
                ));
                for change in changes {
                    let what = match change.kind {
                        crate::store::ChangeKind::Removed => state.t(T::ImportRemoved).to_string(),
                        _ => change.fields.join(", "),
                    };
                    lines.push(Line::raw(format!(
                        "  {} ({}): {what}",
                        change.name, change.codice_fiscale
                    )));
                }
            }
            if !plan.first_rejects.is_empty() {
                lines.push(Line::raw(""));
                lines.push(Line::styled(
                    format!("{}:", state.t(T::ImportRejects)),
                    theme.bad(),
                ));
                for reject in plan.first_rejects.iter().take(8) {
                    lines.push(Line::raw(format!("  {reject}")));
                }
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(state.t(T::ImportPreviewKeys), theme.key()));
        }
    }
    let title = match step.kind() {
        ImportKind::Roster { .. } => T::ImportTitle,
        ImportKind::Report { .. } => T::ReportTitle,
    };
    // Long lines (a reject with its value) wrap: the window grows with them.
    let text_width = frame.area().width.min(96).saturating_sub(2).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| l.width().div_ceil(text_width).max(1))
        .sum();
    let inner = window(frame, state.t(title), 96, rows as u16 + 2);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    if let Some(x) = cursor {
        frame.set_cursor_position((
            (inner.x + x as u16).min(inner.right().saturating_sub(1)),
            inner.y,
        ));
    }
}
