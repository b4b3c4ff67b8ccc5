//! `pecdesk export`: the entries in the given states, with their contact data
//! and state, as CSV (plain or for Italian Excel), JSON, or an Excel workbook
//! ([`xlsx`], which also writes the report workbook). The INI-PEC file is the
//! update since the last one sent, kept in a ledger: see [`inipec`].
//!
//! Formula escaping: every cell of a CSV-like export (`csv`, `csv-excel`)
//! that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
//! gets a leading `'`, so a hostile name in the roster cannot run as a formula
//! on the secretary's PC. Mobile numbers get the same treatment: `+393471234567`
//! is written `'+393471234567`. Spreadsheets take a leading apostrophe as "this
//! cell is text", so the cell reads as the phone number, with its `+`, instead
//! of being computed into 393471234567 (3,93E+11); a plain-text reader sees the
//! E.164 number behind one apostrophe. JSON is not escaped: it is not opened by
//! spreadsheets, and carries the values exactly.
//!
//! Files are written atomically (a temporary file in the same directory,
//! renamed over the target) with mode 0600: they hold personal data.

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{Category, MailboxState, PasswordState, RecoveryContacts};
use crate::i18n::format_datetime;
use crate::report::states_of;
use crate::store::{RosterEntry, Store, StoreError};

pub mod inipec;
pub mod xlsx;

/// The formats `pecdesk export --format` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExportFormat {
    /// UTF-8, `,` separator, ISO dates (YYYY-MM-DD, RFC 3339 instants in UTC).
    #[default]
    Csv,
    /// For Italian Excel: UTF-8 with BOM, `;` separator, dd/mm/yyyy dates (Italian time), CRLF.
    CsvExcel,
    /// An array of objects; states as codes.
    Json,
    /// The INI-PEC update since the last file (see [`inipec`]): `;`, no header, CRLF, UTF-8.
    #[value(name = "inipec", alias = "ini-pec")]
    IniPec,
    /// An Excel workbook: bold frozen header, autofilter, real dates, text kept as text.
    Xlsx,
}

impl ExportFormat {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::CsvExcel => "csv-excel",
            ExportFormat::Json => "json",
            ExportFormat::IniPec => "inipec",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// What to export and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// Entries in any of these states; empty: every entry.
    pub states: Vec<Category>,
    /// The Ordine's PEC domain, as for the dashboard's states.
    pub pec_domain: String,
    /// The instant states are taken at (a recovery link expires with time).
    pub now: DateTime<Utc>,
}

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("impossibile scrivere l'esportazione {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The header of the CSV exports, in Italian.
pub const CSV_HEADER: [&str; 14] = [
    "Numero iscrizione",
    "Cognome",
    "Nome",
    "Codice fiscale",
    "PEC",
    "E-mail di servizio",
    "Cellulare",
    "Provincia",
    "Stato migrazione",
    "Stato password",
    "Link scade",
    "Contatti di recupero",
    "Ultimo accesso",
    "Stati",
];

/// A cell a spreadsheet would run as a formula, made inert with a leading `'`.
pub fn escape_formula(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// One exported entry: the entry and the states it is in.
struct Row<'a> {
    entry: &'a RosterEntry,
    states: Vec<Category>,
    /// The password state as of the export.
    password: Option<PasswordState>,
}

/// The entries an export lists, in the store's order: those in any of
/// `options.states` (all without states).
fn select<'a>(entries: &'a [RosterEntry], options: &ExportOptions) -> Vec<Row<'a>> {
    entries
        .iter()
        .filter_map(|entry| {
            let states = states_of(entry, &options.pec_domain, options.now);
            let wanted =
                options.states.is_empty() || options.states.iter().any(|s| states.contains(s));
            wanted.then(|| Row {
                entry,
                states,
                password: entry.mailbox.as_ref().map(|m| m.password_at(options.now)),
            })
        })
        .collect()
}

/// How instants are written in a CSV.
#[derive(Clone, Copy)]
enum DateStyle {
    /// RFC 3339 in UTC.
    Iso,
    /// dd/mm/yyyy HH:MM, Italian time.
    Italian,
}

impl DateStyle {
    fn instant(self, at: Option<DateTime<Utc>>) -> String {
        at.map(|at| match self {
            DateStyle::Iso => at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            DateStyle::Italian => format_datetime(at),
        })
        .unwrap_or_default()
    }
}

/// The recovery options in words: "e-mail *****sa@i*****.it, cellulare
/// +39*******567, confermati", or "nessuno".
fn recovery_text(recovery: &RecoveryContacts) -> String {
    let mut parts = Vec::new();
    if let Some(email) = &recovery.email_masked {
        parts.push(format!("e-mail {email}"));
    }
    if let Some(mobile) = &recovery.mobile_masked {
        parts.push(format!("cellulare {mobile}"));
    }
    if parts.is_empty() {
        return "nessuno".to_string();
    }
    if recovery.confirmed {
        parts.push("confermati".to_string());
    }
    parts.join(", ")
}

fn codes(states: &[Category]) -> Vec<&'static str> {
    states.iter().map(|s| s.code()).collect()
}

impl Row<'_> {
    fn mailbox(&self) -> Option<&MailboxState> {
        self.entry.mailbox.as_ref()
    }

    /// The cells of a CSV row, unescaped, in [`CSV_HEADER`] order.
    fn csv_cells(&self, dates: DateStyle) -> [String; 14] {
        let member = self.entry.member.as_ref();
        let text = |value: Option<&str>| value.unwrap_or_default().to_string();
        let mailbox = self.mailbox();
        [
            text(member.map(|m| m.numero_iscrizione.as_str())),
            text(member.map(|m| m.cognome.as_str())),
            text(member.map(|m| m.nome.as_str())),
            text(member.map(|m| m.codice_fiscale.as_str())),
            self.entry.address().to_string(),
            text(member.and_then(|m| m.email_servizio.as_deref())),
            text(member.and_then(|m| m.cellulare.as_deref())),
            text(member.and_then(|m| m.provincia.as_deref())),
            text(mailbox.map(|m| m.migration.label_it())),
            text(self.password.map(PasswordState::label_it)),
            dates.instant(mailbox.and_then(|m| m.link_expires_at)),
            mailbox
                .map(|m| recovery_text(&m.recovery))
                .unwrap_or_default(),
            dates.instant(mailbox.and_then(|m| m.last_login_at)),
            codes(&self.states).join(", "),
        ]
    }

    fn json(&self) -> JsonRow<'_> {
        let member = self.entry.member.as_ref();
        let mailbox = self.mailbox();
        JsonRow {
            member_id: self.entry.member_id,
            numero_iscrizione: member.map(|m| m.numero_iscrizione.as_str()),
            cognome: member.map(|m| m.cognome.as_str()),
            nome: member.map(|m| m.nome.as_str()),
            codice_fiscale: member.map(|m| m.codice_fiscale.as_str()),
            pec: self.entry.address(),
            email_servizio: member.and_then(|m| m.email_servizio.as_deref()),
            cellulare: member.and_then(|m| m.cellulare.as_deref()),
            provincia: member.and_then(|m| m.provincia.as_deref()),
            in_roster: self.entry.in_roster,
            migration: mailbox.map(|m| m.migration.code()),
            password: self.password.map(PasswordState::code),
            link_expires_at: mailbox.and_then(|m| m.link_expires_at),
            recovery: mailbox.map(|m| JsonRecovery {
                email_masked: m.recovery.email_masked.as_deref(),
                mobile_masked: m.recovery.mobile_masked.as_deref(),
                confirmed: m.recovery.confirmed,
            }),
            last_login_at: mailbox.and_then(|m| m.last_login_at),
            states: codes(&self.states),
        }
    }
}

/// One object of the JSON export.
#[derive(Serialize)]
struct JsonRow<'a> {
    member_id: Option<i64>,
    numero_iscrizione: Option<&'a str>,
    cognome: Option<&'a str>,
    nome: Option<&'a str>,
    codice_fiscale: Option<&'a str>,
    pec: &'a str,
    email_servizio: Option<&'a str>,
    cellulare: Option<&'a str>,
    provincia: Option<&'a str>,
    in_roster: bool,
    /// `MigrationState` code.
    migration: Option<&'static str>,
    /// `PasswordState` code, as of the export.
    password: Option<&'static str>,
    link_expires_at: Option<DateTime<Utc>>,
    recovery: Option<JsonRecovery<'a>>,
    last_login_at: Option<DateTime<Utc>>,
    /// `Category` codes, the `--state` vocabulary.
    states: Vec<&'static str>,
}

#[derive(Serialize)]
struct JsonRecovery<'a> {
    email_masked: Option<&'a str>,
    mobile_masked: Option<&'a str>,
    confirmed: bool,
}

fn csv_writer(out: &mut dyn Write, delimiter: u8, crlf: bool) -> csv::Writer<&mut dyn Write> {
    csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(if crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .flexible(false)
        .from_writer(out)
}

fn write_escaped<I, S>(writer: &mut csv::Writer<&mut dyn Write>, cells: I) -> io::Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let escaped: Vec<String> = cells
        .into_iter()
        .map(|c| escape_formula(c.as_ref()).into_owned())
        .collect();
    writer.write_record(&escaped).map_err(io::Error::from)
}

/// Writes the export of `entries` to `out`; returns how many entries it lists.
pub fn write_export(
    out: &mut dyn Write,
    entries: &[RosterEntry],
    options: &ExportOptions,
) -> io::Result<usize> {
    let rows = select(entries, options);
    match options.format {
        ExportFormat::Xlsx => out.write_all(&xlsx::export_workbook(&rows)?)?,
        ExportFormat::Json => {
            let objects: Vec<JsonRow<'_>> = rows.iter().map(Row::json).collect();
            serde_json::to_writer_pretty(&mut *out, &objects)?;
            out.write_all(b"\n")?;
        }
        ExportFormat::Csv | ExportFormat::CsvExcel => {
            let (delimiter, crlf, dates) = if options.format == ExportFormat::CsvExcel {
                // The BOM is how Excel knows the file is UTF-8.
                out.write_all("\u{feff}".as_bytes())?;
                (b';', true, DateStyle::Italian)
            } else {
                (b',', false, DateStyle::Iso)
            };
            let mut writer = csv_writer(out, delimiter, crlf);
            write_escaped(&mut writer, CSV_HEADER)?;
            for row in &rows {
                write_escaped(&mut writer, row.csv_cells(dates))?;
            }
            writer.flush()?;
        }
        ExportFormat::IniPec => {
            // Not a view of the entries but what changed since the last file.
            return Err(io::Error::other(
                "il file INI-PEC si scrive con il registro degli invii (export::inipec)",
            ));
        }
    }
    Ok(rows.len())
}

/// Writes `path` atomically with mode 0600: `write` fills a temporary file in
/// the same directory, which is then synced and renamed over `path`. On any
/// error `path` is left as it was.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> Result<T, ExportError> {
    let (temp, value) = write_temporary(path, write)?;
    temp.persist(path).map_err(|e| ExportError::Write {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(value)
}

/// The first half of [`write_atomically`]: the bytes written and synced to a
/// temporary file (mode 0600) beside `path`, for the caller to rename.
pub(crate) fn write_temporary<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<T>,
) -> Result<(tempfile::NamedTempFile, T), ExportError> {
    let fail = |source| ExportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".pecdesk-export-")
        .tempfile_in(dir)
        .map_err(fail)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(fail)?;
    }
    let mut out = BufWriter::new(temp);
    let value = write(&mut out).map_err(fail)?;
    let temp = out.into_inner().map_err(|e| fail(e.into_error()))?;
    temp.as_file().sync_all().map_err(fail)?;
    Ok((temp, value))
}

/// Exports `entries` to `path` (atomically, mode 0600); returns how many it lists.
pub fn export_entries(
    path: &Path,
    entries: &[RosterEntry],
    options: &ExportOptions,
) -> Result<usize, ExportError> {
    write_atomically(path, |out| write_export(out, entries, options))
}

/// Exports what `store` holds to `path`; returns how many entries it lists.
pub fn export_store(
    store: &Store,
    path: &Path,
    options: &ExportOptions,
) -> Result<usize, ExportError> {
    export_entries(path, &store.roster_entries()?, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_triggers_get_an_apostrophe() {
        for cell in ["=1+1", "+393471234567", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(escape_formula(cell), format!("'{cell}"));
        }
        for cell in ["", "Rossi", "D'Angelo", "'=già", " =x", "3471234567"] {
            assert_eq!(escape_formula(cell), cell);
        }
    }

    #[test]
    fn recovery_in_words() {
        let mut recovery = RecoveryContacts::default();
        assert_eq!(recovery_text(&recovery), "nessuno");
        recovery.mobile_masked = Some("+39*******567".into());
        recovery.confirmed = true;
        assert_eq!(
            recovery_text(&recovery),
            "cellulare +39*******567, confermati"
        );
    }

    #[test]
    fn a_failed_write_leaves_no_file_and_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing-dir").join("out.csv");
        let err = write_atomically(&target, |out| out.write_all(b"x")).unwrap_err();
        assert!(err.to_string().contains("out.csv"), "{err}");
        let err = write_atomically(&dir.path().join("a.csv"), |_| {
            Err::<(), _>(io::Error::other("disco pieno"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disco pieno"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
