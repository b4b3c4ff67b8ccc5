//! Mailbox-state reports: the spreadsheets a provider or the federation sends
//! an Ordine without an API (one row per mailbox, its migration state and,
//! when present, password state, last access and recovery contacts). A new
//! source of the importer: the same decoding, delimiter sniffing, tolerant
//! headers and exact line numbers as a roster; the states it yields are
//! stored by the sync's own store path (`crate::sync::store_report`).

use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};
use csv::StringRecord;

use super::columns::{display_name, normalize};
use super::text::{self, LineCounter};
use super::{ImportError, REASON_COLUMN};
use crate::domain::{MailboxState, MigrationState, PasswordState, RecoveryContacts, contact};

/// A column a report may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportField {
    Mailbox,
    Migration,
    MigrationAt,
    Password,
    LinkSentAt,
    LastLogin,
    RecoveryEmail,
    RecoveryMobile,
    Confirmed,
    /// The date the report's states refer to.
    ReportDate,
}

impl ReportField {
    const ALL: [ReportField; 10] = [
        ReportField::Mailbox,
        ReportField::Migration,
        ReportField::MigrationAt,
        ReportField::Password,
        ReportField::LinkSentAt,
        ReportField::LastLogin,
        ReportField::RecoveryEmail,
        ReportField::RecoveryMobile,
        ReportField::Confirmed,
        ReportField::ReportDate,
    ];

    /// The field's name in messages.
    pub fn label(self) -> &'static str {
        match self {
            ReportField::Mailbox => "casella",
            ReportField::Migration => "stato migrazione",
            ReportField::MigrationAt => "data migrazione",
            ReportField::Password => "stato password",
            ReportField::LinkSentAt => "invio link di recupero",
            ReportField::LastLogin => "ultimo accesso",
            ReportField::RecoveryEmail => "e-mail di recupero",
            ReportField::RecoveryMobile => "cellulare di recupero",
            ReportField::Confirmed => "contatti confermati",
            ReportField::ReportDate => "data del report",
        }
    }

    /// Header spellings, in [`normalize`]d form (tested).
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            ReportField::Mailbox => &[
                "casella",
                "casellapec",
                "nomecasella",
                "indirizzopec",
                "indirizzo",
                "pec",
                "account",
                "userid",
                "user",
                "utente",
                "username",
                "mailbox",
                "emailaddress",
                "address",
            ],
            ReportField::Migration => &[
                "statomigrazione",
                "migrazione",
                "esitomigrazione",
                "statodellamigrazione",
                "migrata",
                "migrationstatus",
                "migrationstate",
                "migration",
                "migrated",
            ],
            ReportField::MigrationAt => &[
                "datamigrazione",
                "migratail",
                "migratoil",
                "dataesitomigrazione",
                "migrationdate",
                "migratedat",
                "migratedon",
            ],
            ReportField::Password => &[
                "statopassword",
                "password",
                "passwordstatus",
                "passwordstate",
            ],
            ReportField::LinkSentAt => &[
                "linkinviatoil",
                "datainviolink",
                "inviolink",
                "linkdirecuperoinviatoil",
                "linksentat",
                "resetlinksent",
                "resetsentat",
            ],
            ReportField::LastLogin => &[
                "ultimoaccesso",
                "dataultimoaccesso",
                "ultimologin",
                "lastlogin",
                "lastaccess",
                "lastlogon",
            ],
            ReportField::RecoveryEmail => &[
                "emaildirecupero",
                "emailrecupero",
                "mailrecupero",
                "emaildiservizio",
                "emailservizio",
                "caselladiservizio",
                "recoveryemail",
                "recoverymail",
                "serviceemail",
            ],
            ReportField::RecoveryMobile => &[
                "cellularedirecupero",
                "cellularerecupero",
                "cellulare",
                "numerodicellulare",
                "telefono",
                "recoverymobile",
                "recoveryphone",
                "mobile",
                "phone",
            ],
            ReportField::Confirmed => &[
                "contaticonfermati",
                "contatticonfermati",
                "opzionidirecuperoconfermate",
                "recuperoconfermato",
                "confermati",
                "confermato",
                "confermatialprimoaccesso",
                "recoveryconfirmed",
                "confirmed",
            ],
            ReportField::ReportDate => &[
                "datareport",
                "datadelreport",
                "aggiornatoal",
                "datarilevazione",
                "dataaggiornamento",
                "statoal",
                "reportdate",
                "asof",
                "updatedat",
            ],
        }
    }
}

/// Which column holds each field, by position.
#[derive(Debug, Clone, Default)]
pub struct ReportMapping {
    columns: Vec<(ReportField, usize)>,
}

impl ReportMapping {
    fn column(&self, field: ReportField) -> Option<usize> {
        self.columns
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, i)| *i)
    }
}

/// Maps a header row; the first column matching a field wins.
pub fn map_report_headers<'a>(headers: impl Iterator<Item = &'a str>) -> ReportMapping {
    let mut mapping = ReportMapping::default();
    for (i, header) in headers.enumerate() {
        let key = normalize(header);
        let field = ReportField::ALL
            .into_iter()
            .find(|f| f.synonyms().contains(&key.as_str()));
        if let Some(field) = field
            && mapping.column(field).is_none()
        {
            mapping.columns.push((field, i));
        }
    }
    mapping
}

/// How to read a report.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The Ordine's PEC domain: a mailbox given by name alone gets it.
    pub domain: Option<String>,
    /// The report's date when no column gives one (`--as-of`, or the file's
    /// modification time).
    pub as_of: Option<DateTime<Utc>>,
    /// The sheet of a workbook; the first when None.
    pub sheet: Option<String>,
}

/// A row that could not be mapped: where, which column, the value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportReject {
    pub line: u64,
    /// The column's header as the file has it, when the fault is one cell.
    pub column: Option<String>,
    pub value: String,
    pub reason: String,
    /// The row as it was, for the rejects file.
    pub record: Vec<String>,
}

impl std::fmt::Display for ReportReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(column) => write!(
                f,
                "riga {}, colonna \"{column}\", valore \"{}\": {}",
                self.line, self.value, self.reason
            ),
            None => write!(f, "riga {}: {}", self.line, self.reason),
        }
    }
}

/// A report read: the states of its valid rows and its rejects.
#[derive(Debug, Clone)]
pub struct ParsedReport {
    pub states: Vec<MailboxState>,
    pub rejects: Vec<ReportReject>,
    /// The date the states refer to (the latest, when a column gives one per row).
    pub as_of: Option<DateTime<Utc>>,
    /// Whether that date came from a column of the file.
    pub as_of_from_file: bool,
    pub header: Vec<String>,
    pub delimiter: u8,
    pub crlf: bool,
    /// The file's encoding, which its rejects file keeps.
    pub encoding: &'static encoding_rs::Encoding,
}

impl Default for ParsedReport {
    fn default() -> Self {
        Self {
            states: Vec::new(),
            rejects: Vec::new(),
            as_of: None,
            as_of_from_file: false,
            header: Vec::new(),
            delimiter: b';',
            crlf: true,
            encoding: encoding_rs::UTF_8,
        }
    }
}

/// Reads a report file; its modification time is the report's date when
/// neither a column nor `options.as_of` gives one.
pub fn read_report_path(path: &Path, options: &ReportOptions) -> Result<ParsedReport, ImportError> {
    let source = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let io = |source_err: std::io::Error| ImportError::Io {
        file: path.display().to_string(),
        source: source_err,
    };
    let bytes = std::fs::read(path).map_err(io)?;
    let mut options = options.clone();
    if options.as_of.is_none() {
        let modified = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(io)?;
        options.as_of = Some(DateTime::<Utc>::from(modified));
    }
    if super::workbook::is_workbook(path, &bytes) {
        return read_report_workbook(path, &source, &options);
    }
    if options.sheet.is_some() {
        return Err(ImportError::SheetOnNonWorkbook { file: source });
    }
    read_report_bytes(&bytes, &source, &options)
}

/// Reads a report from a sheet of a workbook; rows are numbered as in Excel.
fn read_report_workbook(
    path: &Path,
    file: &str,
    options: &ReportOptions,
) -> Result<ParsedReport, ImportError> {
    super::workbook::read_sheet(path, file, options.sheet.as_deref(), |head, sheet_rows| {
        let mut rows = RowReader::new(&head.header, &head.source, options)?;
        rows.letters = true;
        for row in sheet_rows {
            match row? {
                (number, Ok(cells)) => rows.row(number, cells.iter().map(String::as_str)),
                (number, Err(error)) => rows.parsed.rejects.push(ReportReject {
                    line: number,
                    column: Some(super::workbook::column_name(&head.header, error.column)),
                    value: error.value,
                    reason: "valore di errore".to_string(),
                    record: Vec::new(),
                }),
            }
        }
        Ok(rows.finish())
    })
}

/// Reads a report held in memory.
pub fn read_report_bytes(
    bytes: &[u8],
    source: &str,
    options: &ReportOptions,
) -> Result<ParsedReport, ImportError> {
    let decoded = text::decode(bytes, source)?;
    let text: &str = &decoded.text;
    if text.trim().is_empty() {
        return Err(ImportError::Empty {
            file: source.to_string(),
        });
    }
    let delimiter = text::sniff_delimiter(text);
    let mut reader = text::csv_reader(text, delimiter);
    let mut lines = LineCounter::new(text);
    let mut header = StringRecord::new();
    let csv_error = |lines: &mut LineCounter<'_>, e: csv::Error| ImportError::Csv {
        file: source.to_string(),
        line: e.position().map_or(1, |p| lines.line_at(p.byte())),
        message: e.to_string(),
    };
    match text::first_record(&mut reader, &mut header) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ImportError::Empty {
                file: source.to_string(),
            });
        }
        Err(e) => return Err(csv_error(&mut lines, e)),
    }
    let header: Vec<String> = header.iter().map(str::to_string).collect();
    let mut rows = RowReader::new(&header, source, options)?;
    let mut record = StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) if text::is_blank(&record) => continue,
            Ok(true) => {
                let line = record.position().map_or(0, |p| lines.line_at(p.byte()));
                rows.row(line, record.iter());
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                rows.reject_row(line, Vec::new(), format!("riga CSV non leggibile: {e}"));
            }
        }
    }
    let mut parsed = rows.finish();
    parsed.delimiter = delimiter;
    parsed.crlf = text.contains("\r\n");
    parsed.encoding = decoded.encoding;
    Ok(parsed)
}

/// Turns rows of cells into states; shared by every container of a report.
pub struct RowReader<'o> {
    mapping: ReportMapping,
    header: Vec<String>,
    options: &'o ReportOptions,
    parsed: ParsedReport,
    seen: foldhash::HashMap<String, u64>,
    /// Name columns by letter too (workbooks).
    letters: bool,
    /// Mapped values: a report repeats a handful of words 100k times.
    migrations: ValueCache<MigrationState>,
    passwords: ValueCache<PasswordState>,
    answers: ValueCache<bool>,
}

/// Values already mapped, by their text as written.
type ValueCache<T> = std::cell::RefCell<std::collections::HashMap<String, Option<T>>>;

/// `map(value)`, remembered for the first thousand distinct values.
fn cached<T: Copy>(cache: &ValueCache<T>, value: &str, map: fn(&str) -> Option<T>) -> Option<T> {
    if let Some(known) = cache.borrow().get(value) {
        return *known;
    }
    let mapped = map(value);
    let mut cache = cache.borrow_mut();
    if cache.len() < 1000 {
        cache.insert(value.to_string(), mapped);
    }
    mapped
}

impl<'o> RowReader<'o> {
    /// Maps the header; refuses a report without a mailbox or migration column.
    pub fn new(
        header: &[String],
        source: &str,
        options: &'o ReportOptions,
    ) -> Result<Self, ImportError> {
        let mapping = map_report_headers(header.iter().map(String::as_str));
        let missing: Vec<String> = [ReportField::Mailbox, ReportField::Migration]
            .into_iter()
            .filter(|f| mapping.column(*f).is_none())
            .map(|f| f.label().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(ImportError::MissingColumns {
                file: source.to_string(),
                missing,
            });
        }
        Ok(Self {
            mapping,
            header: header.to_vec(),
            options,
            parsed: ParsedReport {
                header: header.to_vec(),
                delimiter: b';',
                ..ParsedReport::default()
            },
            seen: foldhash::HashMap::default(),
            letters: false,
            migrations: ValueCache::default(),
            passwords: ValueCache::default(),
            answers: ValueCache::default(),
        })
    }

    fn reject_row(&mut self, line: u64, record: Vec<String>, reason: String) {
        self.parsed.rejects.push(ReportReject {
            line,
            column: None,
            value: String::new(),
            reason,
            record,
        });
    }

    /// Reads one non-blank row found at `line`.
    pub fn row<'c>(&mut self, line: u64, cells: impl Iterator<Item = &'c str>) {
        // Cells are copied only for a rejected row (the rejects file).
        let record: Vec<&str> = cells.collect();
        let owned = |record: &[&str]| record.iter().map(|c| c.to_string()).collect();
        match self.state(&record) {
            Ok(state) => {
                if let Some(first) = self.seen.insert(state.address.clone(), line) {
                    self.reject_row(
                        line,
                        owned(&record),
                        format!("casella {} già presente alla riga {first}", state.address),
                    );
                    return;
                }
                self.parsed.states.push(state);
            }
            Err((field, value, reason)) => {
                let column = match self.mapping.column(field) {
                    Some(i) if self.letters => super::workbook::column_name(&self.header, i),
                    Some(i) => display_name(&self.header[i]),
                    None => field.label().to_string(),
                };
                self.parsed.rejects.push(ReportReject {
                    line,
                    column: Some(column),
                    value,
                    reason,
                    record: owned(&record),
                });
            }
        }
    }

    fn state(&self, record: &[&str]) -> Result<MailboxState, (ReportField, String, String)> {
        let cell = |field: ReportField| -> &str {
            self.mapping
                .column(field)
                .and_then(|i| record.get(i))
                .map_or("", |v| v.trim())
        };
        let fail = |field: ReportField, reason: &str| {
            Err((field, cell(field).to_string(), reason.to_string()))
        };
        let instant = |field: ReportField| match cell(field) {
            "" => Ok(None),
            value => parse_instant(value).map(Some).ok_or_else(|| {
                (
                    field,
                    value.to_string(),
                    "data non riconosciuta".to_string(),
                )
            }),
        };
        let address =
            match mailbox_address(cell(ReportField::Mailbox), self.options.domain.as_deref()) {
                Some(address) => address,
                None if cell(ReportField::Mailbox).is_empty() => {
                    return fail(ReportField::Mailbox, "casella mancante");
                }
                None => return fail(ReportField::Mailbox, "non è un indirizzo PEC"),
            };
        let Some(migration) = cached(
            &self.migrations,
            cell(ReportField::Migration),
            migration_state,
        ) else {
            return fail(
                ReportField::Migration,
                "stato di migrazione non riconosciuto",
            );
        };
        let password = match cell(ReportField::Password) {
            // The member sets the password when the migration succeeds
            // (migrazione-e-password.txt): an empty cell says no more.
            "" if migration == MigrationState::Completed => PasswordState::Set,
            "" => PasswordState::NotSet,
            value => match cached(&self.passwords, value, password_state) {
                Some(state) => state,
                None => {
                    return fail(
                        ReportField::Password,
                        "stato della password non riconosciuto",
                    );
                }
            },
        };
        let confirmed = match cached(&self.answers, cell(ReportField::Confirmed), yes_no) {
            Some(confirmed) => confirmed,
            None => return fail(ReportField::Confirmed, "né sì né no"),
        };
        let email_masked = match cell(ReportField::RecoveryEmail) {
            "" => None,
            value if value.contains('*') => Some(value.to_lowercase()),
            value => match contact::normalize_email(value) {
                Ok(email) => Some(contact::mask_email(&email)),
                Err(_) => return fail(ReportField::RecoveryEmail, "indirizzo e-mail non valido"),
            },
        };
        let mobile_masked = match cell(ReportField::RecoveryMobile) {
            "" => None,
            value if value.contains('*') => Some(value.replace(' ', "")),
            value => match contact::normalize_mobile(value) {
                Ok(mobile) => Some(contact::mask_mobile(&mobile)),
                Err(_) => {
                    return fail(
                        ReportField::RecoveryMobile,
                        "numero di cellulare non valido",
                    );
                }
            },
        };
        let updated_at = match instant(ReportField::ReportDate)? {
            Some(at) => at,
            None => match self.options.as_of {
                Some(at) => at,
                None => return fail(ReportField::ReportDate, "data del report mancante"),
            },
        };
        let link_sent_at = instant(ReportField::LinkSentAt)?;
        Ok(MailboxState {
            address,
            migration,
            migration_at: instant(ReportField::MigrationAt)?,
            password,
            link_sent_at,
            link_expires_at: link_sent_at.map(|at| at + TimeDelta::hours(24)),
            recovery: RecoveryContacts {
                email_masked,
                mobile_masked,
                confirmed,
            },
            last_login_at: instant(ReportField::LastLogin)?,
            // Reports carry no such column: only the API knows it.
            must_change_password: false,
            updated_at,
        })
    }

    /// The report read, usable or not (see [`ParsedReport::ensure_usable`]).
    pub fn finish(mut self) -> ParsedReport {
        let from_rows = self
            .mapping
            .column(ReportField::ReportDate)
            .and_then(|_| self.parsed.states.iter().map(|s| s.updated_at).max());
        self.parsed.as_of_from_file = from_rows.is_some();
        self.parsed.as_of = from_rows.or(self.options.as_of);
        self.parsed
    }
}

impl ParsedReport {
    /// A report without one valid row stores nothing.
    pub fn ensure_usable(&self, file: &str) -> Result<(), ImportError> {
        if self.states.is_empty() {
            return Err(ImportError::NothingToImport {
                file: file.to_string(),
                rejected: self.rejects.len(),
            });
        }
        Ok(())
    }
}

/// A mailbox cell as a PEC address: a full address, or a name alone in the
/// Ordine's domain.
fn mailbox_address(value: &str, domain: Option<&str>) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if value.contains('@') {
        return contact::normalize_email(value).ok();
    }
    let domain = domain?;
    contact::normalize_email(&format!("{value}@{domain}")).ok()
}

/// The words providers' reports use, in [`normalize`]d form.
fn migration_state(value: &str) -> Option<MigrationState> {
    let key = normalize(value);
    let is = |words: &[&str]| words.contains(&key.as_str());
    if is(&[
        "migrata",
        "migrato",
        "completata",
        "completato",
        "completed",
        "migrated",
        "ok",
        "si",
        "sì",
        "yes",
        "eseguita",
        "riuscita",
        "successo",
        "success",
        "done",
    ]) {
        Some(MigrationState::Completed)
    } else if is(&[
        "nonavviata",
        "nonavviato",
        "damigrare",
        "nonmigrata",
        "nonmigrato",
        "no",
        "inattesa",
        "notstarted",
        "pending",
        "todo",
        "notmigrated",
    ]) {
        Some(MigrationState::NotStarted)
    } else if is(&[
        "credenzialinonvalide",
        "errorecredenziali",
        "credenzialierrate",
        "passworderrata",
        "fallitacredenzialinonvalide",
        "wrongcredentials",
        "invalidcredentials",
        "failedcredentials",
        "erroreautenticazione",
    ]) {
        Some(MigrationState::FailedCredentials)
    } else if is(&[
        "verificainduepassaggiattiva",
        "verificainduepassaggi",
        "2fa",
        "2faattiva",
        "2faattivo",
        "doppiofattore",
        "doppiofattoreattivo",
        "fallitadoppiofattoreattivo",
        "autenticazioneaduefattori",
        "autenticazioneaduefattoriattiva",
        "twofactor",
        "twofactorenabled",
        "failed2fa",
        "mfa",
    ]) {
        Some(MigrationState::FailedTwoFactor)
    } else {
        None
    }
}

fn password_state(value: &str) -> Option<PasswordState> {
    let key = normalize(value);
    let is = |words: &[&str]| words.contains(&key.as_str());
    if is(&[
        "impostata",
        "impostato",
        "set",
        "ok",
        "si",
        "sì",
        "yes",
        "attiva",
    ]) {
        Some(PasswordState::Set)
    } else if is(&[
        "nonimpostata",
        "nonimpostato",
        "daimpostare",
        "notset",
        "no",
        "none",
    ]) {
        Some(PasswordState::NotSet)
    } else if is(&[
        "linkdirecuperoinviato",
        "linkinviato",
        "recuperoincorso",
        "resetinviato",
        "resetincorso",
        "resetpending",
        "linksent",
        "pending",
    ]) {
        Some(PasswordState::ResetPending)
    } else if is(&[
        "linkdirecuperoscaduto",
        "linkscaduto",
        "scaduto",
        "expired",
        "linkexpired",
    ]) {
        Some(PasswordState::LinkExpired)
    } else {
        None
    }
}

/// An empty cell is no; anything else must say yes or no.
fn yes_no(value: &str) -> Option<bool> {
    let key = normalize(value);
    match key.as_str() {
        "" | "no" | "n" | "false" | "falso" | "0" | "nonconfermati" | "nonconfermato" => {
            Some(false)
        }
        "si" | "sì" | "s" | "yes" | "y" | "true" | "vero" | "1" | "x" | "ok" | "confermati"
        | "confermato" | "confermate" => Some(true),
        _ => None,
    }
}

/// The first day of Excel's serial dates (serial 1 is 1900-01-01; Excel
/// counts a 29 February 1900 that never was, so from serial 61 on the day
/// 1899-12-30 plus the serial is right, which is what every date a report
/// can hold is).
fn excel_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(1899, 12, 30)
        .expect("valid date")
        .and_time(NaiveTime::MIN)
}

/// A date or instant as reports write it: `dd/mm/yyyy [hh:mm[:ss]]`, ISO
/// 8601 (with or without time and offset), or an Excel serial number. A
/// time without an offset is Italian civil time, wherever the server runs.
pub fn parse_instant(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(at.to_utc());
    }
    // A serial number never holds a '/': spares the copy below.
    let serial = match value.contains('/') {
        true => None,
        false => value.replace(',', ".").parse::<f64>().ok(),
    };
    let naive = if let Some(serial) = serial {
        // 61 is 1 March 1900; 2958465 is 31 December 9999.
        if !(61.0..=2_958_465.0).contains(&serial) {
            return None;
        }
        let seconds = (serial * 86_400.0).round() as i64;
        excel_epoch() + TimeDelta::seconds(seconds)
    } else {
        let date = super::parse_date(value)?;
        let time = value
            .split_once([' ', 'T'])
            .map(|(_, time)| time.trim())
            .filter(|t| !t.is_empty());
        let time = match time {
            None => NaiveTime::MIN,
            Some(t) => clock_time(t)
                .or_else(|| NaiveTime::parse_from_str(t, "%H:%M:%S").ok())
                .or_else(|| NaiveTime::parse_from_str(t, "%H:%M").ok())
                .or_else(|| NaiveTime::parse_from_str(t, "%H.%M").ok())?,
        };
        date.and_time(time)
    };
    Some(from_italian_time(naive))
}

/// `hh:mm` or `hh:mm:ss` with every digit written and valid, read by
/// hand: what the format strings of [`parse_instant`] make of them, without
/// them (a report holds several times per row). None for anything else,
/// read through the format strings.
fn clock_time(time: &str) -> Option<NaiveTime> {
    let b = time.as_bytes();
    let digits = |from: usize| -> Option<u32> {
        b.get(from..from + 2)?.iter().try_fold(0, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let (hour, minute, second) = match b {
        [_, _, b':', _, _] => (digits(0)?, digits(3)?, 0),
        [_, _, b':', _, _, b':', _, _] => (digits(0)?, digits(3)?, digits(6)?),
        _ => return None,
    };
    // A leap second (60) is left to the format strings.
    (second < 60)
        .then(|| NaiveTime::from_hms_opt(hour, minute, second))
        .flatten()
}

/// The instant of an Italian civil time (the inverse of
/// [`crate::i18n::italian_time`]); in the hour repeated in October, the first.
pub fn from_italian_time(naive: NaiveDateTime) -> DateTime<Utc> {
    let summer = (naive - TimeDelta::hours(2)).and_utc();
    if crate::i18n::italian_time(summer) == naive {
        summer
    } else {
        (naive - TimeDelta::hours(1)).and_utc()
    }
}

/// The rejects file: the rejected rows as they were, with the header and a
/// last column saying which column and value were wrong and why.
pub fn report_rejects_csv(parsed: &ParsedReport) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(parsed.delimiter)
        .terminator(if parsed.crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .flexible(true)
        .from_writer(Vec::new());
    let width = parsed.header.len();
    writer.write_record(
        parsed
            .header
            .iter()
            .map(String::as_str)
            .chain([REASON_COLUMN]),
    )?;
    for reject in &parsed.rejects {
        let mut row: Vec<&str> = reject.record.iter().map(String::as_str).collect();
        row.resize(width.max(row.len()), "");
        let reason = match &reject.column {
            Some(column) => format!("{column} \"{}\": {}", reject.value, reject.reason),
            None => reject.reason.clone(),
        };
        let reason = crate::export::escape_formula(&reason).into_owned();
        writer.write_record(row.into_iter().chain([reason.as_str()]))?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(super::rejects::encode_like_source(parsed.encoding, bytes))
}

/// Writes the rejects file of a report and returns how many rows it holds.
pub fn write_report_rejects(parsed: &ParsedReport, path: &Path) -> Result<usize, ImportError> {
    let bytes = report_rejects_csv(parsed).map_err(|e| ImportError::Io {
        file: path.display().to_string(),
        source: std::io::Error::other(e),
    })?;
    super::rejects::write_private(path, &bytes)?;
    Ok(parsed.rejects.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn synonyms_are_already_normalized() {
        for field in ReportField::ALL {
            for s in field.synonyms() {
                assert_eq!(normalize(s), *s);
            }
        }
        let mapping = map_report_headers(
            [
                "Nome casella",
                "ESITO_MIGRAZIONE",
                "Ultimo accesso",
                "E-mail di recupero",
            ]
            .into_iter(),
        );
        assert_eq!(mapping.column(ReportField::Mailbox), Some(0));
        assert_eq!(mapping.column(ReportField::Migration), Some(1));
        assert_eq!(mapping.column(ReportField::LastLogin), Some(2));
        assert_eq!(mapping.column(ReportField::RecoveryEmail), Some(3));
    }

    #[test]
    fn dates_in_every_form_reports_use() {
        // March 2026 is winter time in Italy: UTC+1.
        let local = |y, m, d, h: u32, mi| {
            Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap() - TimeDelta::hours(1)
        };
        assert_eq!(parse_instant("05/03/2026"), Some(local(2026, 3, 5, 0, 0)));
        assert_eq!(
            parse_instant("05/03/2026 14:30"),
            Some(local(2026, 3, 5, 14, 30))
        );
        assert_eq!(parse_instant("2026-03-05"), Some(local(2026, 3, 5, 0, 0)));
        assert_eq!(
            parse_instant("2026-03-05T14:30:00"),
            Some(local(2026, 3, 5, 14, 30))
        );
        assert_eq!(
            parse_instant("2026-03-05T14:30:00Z"),
            Some(Utc.with_ymd_and_hms(2026, 3, 5, 14, 30, 0).unwrap())
        );
        // 46086 is 5 March 2026 in Excel; .5 is noon.
        assert_eq!(parse_instant("46086"), Some(local(2026, 3, 5, 0, 0)));
        assert_eq!(parse_instant("46086.5"), Some(local(2026, 3, 5, 12, 0)));
        assert_eq!(parse_instant("46086,5"), Some(local(2026, 3, 5, 12, 0)));
        assert_eq!(parse_instant("ieri"), None);
        assert_eq!(parse_instant("12"), None);
        assert_eq!(parse_instant("05/03/2026 25:00"), None);
        // July: summer time, UTC+2.
        assert_eq!(
            parse_instant("15/07/2026 14:00"),
            Some(Utc.with_ymd_and_hms(2026, 7, 15, 12, 0, 0).unwrap())
        );
        // The hand reading of `hh:mm[:ss]` agrees with the format strings,
        // and leaves them what it does not read.
        for value in [
            "05/03/2026 14:30:59",
            "31/12/1999 23:59",
            "29/02/2024",
            "5/3/2026 9:30",
            "05/03/2026 9:30",
            "05/03/2026 14.30",
            "05/03/2026T14:30",
            "05/03/2026 14:30:60",
            "30/02/2026",
            "05/13/2026",
            "05/03/2026 24:00",
            "05/03/2026 14:60",
        ] {
            let general = crate::import::parse_date(value).and_then(|date| {
                let time = match value.split_once([' ', 'T']).map(|(_, t)| t.trim()) {
                    None => NaiveTime::MIN,
                    Some(t) => NaiveTime::parse_from_str(t, "%H:%M:%S")
                        .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
                        .or_else(|_| NaiveTime::parse_from_str(t, "%H.%M"))
                        .ok()?,
                };
                Some(from_italian_time(date.and_time(time)))
            });
            assert_eq!(parse_instant(value), general, "{value}");
            let time = value.split_once([' ', 'T']).map(|(_, t)| t.trim());
            if let Some(read) = time.and_then(clock_time) {
                let date = crate::import::parse_date(value).unwrap();
                assert_eq!(
                    Some(from_italian_time(date.and_time(read))),
                    general,
                    "{value}"
                );
            }
        }
        assert!(clock_time("14:30:60").is_none());
        assert!(clock_time("9:30").is_none());
        assert!(clock_time("14:30").is_some());
    }

    #[test]
    fn values_map_or_are_refused() {
        assert_eq!(migration_state("Migrata"), Some(MigrationState::Completed));
        assert_eq!(
            migration_state(" COMPLETATA "),
            Some(MigrationState::Completed)
        );
        assert_eq!(migration_state("Sì"), Some(MigrationState::Completed));
        assert_eq!(
            migration_state("Da migrare"),
            Some(MigrationState::NotStarted)
        );
        assert_eq!(
            migration_state("Non avviata"),
            Some(MigrationState::NotStarted)
        );
        assert_eq!(
            migration_state("Errore credenziali"),
            Some(MigrationState::FailedCredentials)
        );
        assert_eq!(
            migration_state("Verifica in due passaggi attiva"),
            Some(MigrationState::FailedTwoFactor)
        );
        assert_eq!(
            migration_state("2FA"),
            Some(MigrationState::FailedTwoFactor)
        );
        assert_eq!(
            migration_state("Doppio fattore"),
            Some(MigrationState::FailedTwoFactor)
        );
        assert_eq!(migration_state("forse"), None);
        assert_eq!(migration_state(""), None);
        assert_eq!(
            password_state("Link scaduto"),
            Some(PasswordState::LinkExpired)
        );
        assert_eq!(yes_no(""), Some(false));
        assert_eq!(yes_no("Sì"), Some(true));
        assert_eq!(yes_no("boh"), None);
    }
}
