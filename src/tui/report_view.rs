//! A provider's report in the console: its preview before loading, and the
//! header of an Ordine that works from reports (`provider = "report"`).

use ratatui::text::{Line, Span};

use super::theme::Theme;
use crate::app::State;
use crate::i18n::{T, format_datetime};
use crate::sync::report_load::{AsOfSource, ReportPreview};

/// The header's place for the last sync, in report mode: the date of the
/// states of the last report stored, and its file.
pub fn header_span(state: &State, theme: &Theme) -> Span<'static> {
    let text = match &state.last_report {
        Some(report) => format!(
            "{}: {} ({})",
            state.t(T::LastReport),
            format_datetime(report.as_of.unwrap_or(report.loaded_at)),
            report.file
        ),
        None => format!("{}: {}", state.t(T::LastReport), state.t(T::NoReport)),
    };
    Span::styled(text, theme.dim())
}

/// The preview's lines: the report's date and where it came from, the
/// counts of what would change, the mode, the first rejected rows.
pub fn preview_lines(
    lines: &mut Vec<Line<'static>>,
    state: &State,
    theme: &Theme,
    preview: &ReportPreview,
) {
    lines.push(Line::styled(preview.file.clone(), theme.title()));
    let source = state.t(match preview.as_of_source {
        AsOfSource::Column => T::ReportAsOfColumn,
        AsOfSource::Given => T::ReportAsOfGiven,
        AsOfSource::FileTime => T::ReportAsOfFileTime,
    });
    let date = preview
        .as_of
        .map(format_datetime)
        .unwrap_or_else(|| "?".into());
    lines.push(Line::from(vec![
        Span::raw(format!("{} ", state.t(T::ReportStatesAt))),
        Span::styled(date, theme.header()),
        Span::styled(format!(" ({source})"), theme.dim()),
    ]));
    let o = &preview.outcome;
    let counted = |n: usize, text: T, style| Span::styled(format!("{n} {}", state.t(text)), style);
    let quiet_unless = |n: usize, style| if n > 0 { style } else { theme.dim() };
    lines.push(Line::from(vec![
        Span::raw(format!(
            "{} {} · ",
            o.mailboxes,
            state.t(T::ReportMailboxes)
        )),
        counted(
            o.new_mailboxes,
            T::ReportNewMailboxes,
            quiet_unless(o.new_mailboxes, theme.good()),
        ),
        Span::raw(" · "),
        counted(
            o.changes,
            T::ReportChanges,
            quiet_unless(o.changes, theme.good()),
        ),
        Span::raw(" · "),
        counted(o.gone, T::ReportGone, quiet_unless(o.gone, theme.warn())),
    ]));
    lines.push(Line::from(vec![
        counted(
            o.older_skipped,
            T::ReportOlderSkipped,
            quiet_unless(o.older_skipped, theme.warn()),
        ),
        Span::raw(" · "),
        counted(
            preview.rejected,
            T::ReportRejectedRows,
            quiet_unless(preview.rejected, theme.bad()),
        ),
    ]));
    lines.push(Line::styled(
        state.t(if preview.partial {
            T::ReportPartial
        } else {
            T::ReportComplete
        }),
        theme.dim(),
    ));
    if !preview.first_rejects.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!("{}:", state.t(T::ImportRejects)),
            theme.bad(),
        ));
        for reject in &preview.first_rejects {
            lines.push(Line::raw(format!("  {reject}")));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(state.t(T::ReportPreviewKeys), theme.key()));
}
