//! Excel workbooks out (rust_xlsxwriter): the export as one sheet, the
//! report as a summary sheet plus a sheet per "to chase" list.
//!
//! Every text value is written as a string cell: a name such as
//! `=HYPERLINK(...)` is text, never a formula, and a mobile `+393471234567`,
//! a codice fiscale or a numero iscrizione `0012` keeps its exact characters
//! (no 3,47E+11, no lost zeros). Instants are real Excel dates (Italian
//! time) shown `dd/mm/yyyy`, so staff can sort and filter on them.

use std::io;
use std::path::Path;

use chrono::{DateTime, Utc};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::{CSV_HEADER, ExportError, ExportFormat, ExportOptions, Row, select, write_atomically};
use crate::domain::Category;
use crate::domain::Settings;
use crate::i18n::italian_time;
use crate::report::{Report, describe_state};
use crate::store::{RosterEntry, Store};

/// Column widths, in characters: at least the header's, at most this.
const MAX_WIDTH: usize = 50;

/// Columns of [`CSV_HEADER`] that hold instants.
const DATE_COLUMNS: [usize; 2] = [10, 12];

fn xlsx_error(error: XlsxError) -> io::Error {
    io::Error::other(error.to_string())
}

/// Formats shared by every sheet.
struct Formats {
    header: Format,
    date: Format,
}

impl Formats {
    fn new() -> Self {
        Formats {
            header: Format::new().set_bold(),
            date: Format::new().set_num_format("dd/mm/yyyy"),
        }
    }
}

/// Writes the export rows on `sheet`: bold frozen header, autofilter,
/// widths from the content.
fn write_rows(sheet: &mut Worksheet, rows: &[Row<'_>], formats: &Formats) -> Result<(), XlsxError> {
    let mut widths: Vec<usize> = CSV_HEADER.iter().map(|h| h.chars().count() + 2).collect();
    for (col, header) in CSV_HEADER.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, *header, &formats.header)?;
    }
    for (i, row) in rows.iter().enumerate() {
        let line = i as u32 + 1;
        let mailbox = row.mailbox();
        let instants: [Option<DateTime<Utc>>; 2] = [
            mailbox.and_then(|m| m.link_expires_at),
            mailbox.and_then(|m| m.last_login_at),
        ];
        // The text cells come from the CSV export's cells, so both exports
        // say the same; the instants are replaced by real dates.
        let cells = row.csv_cells(super::DateStyle::Iso);
        for (col, cell) in cells.iter().enumerate() {
            if let Some(k) = DATE_COLUMNS.iter().position(|&c| c == col) {
                if let Some(at) = instants[k] {
                    sheet.write_datetime_with_format(
                        line,
                        col as u16,
                        italian_time(at),
                        &formats.date,
                    )?;
                    widths[col] = widths[col].max(12);
                }
                continue;
            }
            if cell.is_empty() {
                continue;
            }
            sheet.write_string(line, col as u16, cell)?;
            widths[col] = widths[col].max(cell.chars().count() + 2);
        }
    }
    for (col, width) in widths.iter().enumerate() {
        sheet.set_column_width(col as u16, (*width).min(MAX_WIDTH) as f64)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, rows.len() as u32, CSV_HEADER.len() as u16 - 1)?;
    Ok(())
}

/// The export's rows as an `.xlsx` file's bytes.
pub(super) fn export_workbook(rows: &[Row<'_>]) -> io::Result<Vec<u8>> {
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("Esportazione").map_err(xlsx_error)?;
    write_rows(sheet, rows, &formats).map_err(xlsx_error)?;
    workbook.save_to_buffer().map_err(xlsx_error)
}

/// The sheet of a "to chase" list: Excel takes at most 31 characters and
/// none of `[]:*?/\`, so the dashboard's short names, not the descriptions.
fn sheet_name(state: Category) -> &'static str {
    match state {
        Category::NotMigrated => "Non avviata",
        Category::Migrated => "Migrate",
        Category::FailedCredentials => "Credenziali non valide",
        Category::Failed2fa => "Doppio fattore",
        Category::LinkPending => "Link valido",
        Category::LinkExpired => "Link scaduto",
        Category::NoRecoveryContact => "Senza contatti di recupero",
        Category::Removed => "Usciti dall'albo",
        Category::ExternalPec => "Altro gestore",
        Category::NoMailbox => "Senza casella",
        Category::NoMember => "Casella senza iscritto",
        Category::PecUndelivered => "PEC non consegnata",
        Category::ArubaNoContact => "Aruba senza contatto",
        Category::ArubaContactDiffers => "Aruba contatto diverso",
        Category::ArubaSuspended => "Aruba sospese o in disdetta",
        Category::ArubaNoMailbox => "Aruba senza casella",
    }
}

/// The report as an `.xlsx` file's bytes: a "Riepilogo" sheet with the
/// figures (state, description, count), then one sheet per "to chase" list
/// with the entries in it, in the export's columns.
pub fn report_workbook(
    report: &Report,
    entries: &[RosterEntry],
    options: &ExportOptions,
) -> io::Result<Vec<u8>> {
    let formats = Formats::new();
    let mut workbook = Workbook::new();
    let build = |workbook: &mut Workbook| -> Result<(), XlsxError> {
        let summary = workbook.add_worksheet();
        summary.set_name("Riepilogo")?;
        let mut line = 0u32;
        let mut put = |sheet: &mut Worksheet, label: &str, value: &str| -> Result<(), XlsxError> {
            sheet.write_string_with_format(line, 0, label, &formats.header)?;
            sheet.write_string(line, 1, value)?;
            line += 1;
            Ok(())
        };
        put(summary, "Ordine", &report.ordine)?;
        put(summary, "Dominio PEC", &report.pec_domain)?;
        put(
            summary,
            "Iscritti nell'albo",
            &report.members_in_roster.to_string(),
        )?;
        put(summary, "Caselle", &report.mailboxes.to_string())?;
        put(
            summary,
            "Migrate",
            &format!("{} ({:.1}%)", report.migrated, report.migrated_percent),
        )?;
        put(
            summary,
            "Data di passaggio",
            &report
                .cutover
                .map(crate::i18n::format_date)
                .unwrap_or_else(|| "non impostata".into()),
        )?;
        line += 1;
        for (col, header) in ["Stato", "Descrizione", "Voci"].iter().enumerate() {
            summary.write_string_with_format(line, col as u16, *header, &formats.header)?;
        }
        for (state, count) in &report.states.0 {
            line += 1;
            let (label, description) = describe_state(*state);
            summary.write_string(line, 0, label)?;
            summary.write_string(line, 1, description)?;
            summary.write_number(line, 2, *count as f64)?;
        }
        summary.set_column_width(0, 28)?;
        summary.set_column_width(1, 60)?;
        summary.set_column_width(2, 10)?;
        for (state, _) in &report.to_chase.0 {
            let list = ExportOptions {
                states: vec![*state],
                ..options.clone()
            };
            let rows = select(entries, &list);
            let sheet = workbook.add_worksheet();
            sheet.set_name(sheet_name(*state))?;
            write_rows(sheet, &rows, &formats)?;
        }
        Ok(())
    };
    build(&mut workbook).map_err(xlsx_error)?;
    workbook.save_to_buffer().map_err(xlsx_error)
}

/// `pecdesk report --format xlsx`: the report of what `store` holds, written
/// to `path` atomically with mode 0600.
pub fn write_report(
    store: &Store,
    settings: &Settings,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<(), ExportError> {
    let entries = store.roster_entries()?;
    let report = Report::compute(
        &entries,
        store.undelivered_reminders()?.len(),
        settings,
        store.last_sync()?.as_ref(),
        now,
    );
    let options = ExportOptions {
        format: ExportFormat::Xlsx,
        states: Vec::new(),
        pec_domain: settings.pec_domain.clone(),
        now,
    };
    write_atomically(path, |out| {
        out.write_all(&report_workbook(&report, &entries, &options)?)
    })
}
