//! Roster import: CSV files as Italian offices produce them, the INI-PEC
//! layout, and SQLite databases, into validated members plus rejected rows;
//! then a reconcile with the stored roster in one transaction, or a preview of
//! it that writes nothing.

mod columns;
mod mailbox_report;
mod rejects;
mod report;
mod roster_csv;
mod sqlite;
mod stream;
mod text;
mod validate;
mod workbook;

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use encoding_rs::Encoding;

use crate::domain::Member;
use crate::store::digest::KeySet;
use crate::store::{
    IncomingRoster, MemberUpsert, PlannedChange, ProvidedFields, RosterEnd, RosterFeed, Store,
    StoreError, preview_roster,
};
pub use columns::Field;
pub use mailbox_report::{
    ParsedReport, ReportField, ReportOptions, ReportReject, RowReader, parse_instant,
    read_report_bytes, read_report_path, report_rejects_csv, write_report_rejects,
};
pub use rejects::{RejectsWriter, rejects_csv};
pub use roster_csv::{CsvStyle, ROSTER_HEADER, roster_csv};
pub use validate::{MAX_FIELD_CHARS, has_left_albo, parse_date};
pub use workbook::{column_letter, is_workbook};

/// The last column of a rejects file: why the row was rejected.
pub const REASON_COLUMN: &str = "Motivo dello scarto";
/// How many rejects a preview carries.
pub const PREVIEW_REJECTS: usize = 20;
/// How many rejects a roster read keeps in memory, for the screen and the
/// summary; the rejects file has them all, written as they are found.
pub const REJECTS_KEPT: usize = 1000;

/// Why nothing could be imported from a file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("impossibile leggere {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: il file è vuoto")]
    Empty { file: String },
    #[error("{file}: non è un file di testo (CSV) né un database SQLite")]
    Binary { file: String },
    #[error("{file}: mancano le colonne obbligatorie: {}", missing.join(", "))]
    MissingColumns { file: String, missing: Vec<String> },
    #[error(
        "{file}: la prima riga contiene già i dati di un iscritto, non i nomi delle colonne: aggiungere la riga di intestazione (o, per il tracciato INI-PEC, usare --format inipec)"
    )]
    NoHeader { file: String },
    #[error("{file}, riga {line}: {message}")]
    Csv {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: nessuna riga valida da importare ({rejected} scartate)")]
    NothingToImport { file: String, rejected: usize },
    #[error("{file}: database SQLite non leggibile: {source}")]
    Sqlite {
        file: String,
        source: rusqlite::Error,
    },
    #[error(
        "{file}: il database ha più tabelle, indicare quale con --table: {}",
        list(tables)
    )]
    TableRequired { file: String, tables: Vec<String> },
    #[error(
        "{file}: nessuna tabella \"{table}\"; tabelle presenti: {}",
        list(tables)
    )]
    NoSuchTable {
        file: String,
        table: String,
        tables: Vec<String>,
    },
    #[error("{file}: --table vale solo per i database SQLite, e questo è un file di testo")]
    TableOnTextFile { file: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{file}: cartella di lavoro non leggibile: {message}")]
    Workbook { file: String, message: String },
    #[error("{file}: nessun foglio \"{sheet}\"; fogli presenti: {}", list(sheets))]
    NoSuchSheet {
        file: String,
        sheet: String,
        sheets: Vec<String>,
    },
    #[error("{file}: --sheet vale solo per le cartelle di lavoro (.xlsx, .xls, .ods)")]
    SheetOnNonWorkbook { file: String },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "nessuna".to_string()
    } else {
        names.join(", ")
    }
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line of the file where the row starts (for a SQLite table, the
    /// row's position in it).
    pub line: u64,
    /// The column at fault, as the file names it, when one is.
    pub field: Option<String>,
    pub reason: String,
    /// The row's fields exactly as read, for the rejects file.
    pub record: Vec<String>,
    /// The row's codice fiscale (upper case) and PEC (lower case) as written,
    /// so a full import does not take the member for absent from the albo.
    pub keys: Vec<String>,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(
                f,
                "riga {}, campo \"{}\": {}",
                self.line, field, self.reason
            ),
            None => write!(f, "riga {}: {}", self.line, self.reason),
        }
    }
}

/// Which reader a text file goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// INI-PEC when the first row is a member with PEC first and codice fiscale
    /// fifth, CSV with a header row otherwise.
    #[default]
    Auto,
    Csv,
    IniPec,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Format::Auto),
            "csv" => Ok(Format::Csv),
            "inipec" | "ini-pec" => Ok(Format::IniPec),
            _ => Err(format!("formato sconosciuto \"{s}\": auto, csv o inipec")),
        }
    }
}

/// How to read a file and how to reconcile it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// For text files; SQLite databases are recognised by content.
    pub format: Format,
    /// The table of a SQLite database; needed when it has more than one.
    pub table: Option<String>,
    /// Only add and update: members absent from the file stay as they are.
    /// Otherwise the file is the whole albo and absent members are marked removed.
    pub partial: bool,
    /// The sheet of a workbook; the first one when None.
    pub sheet: Option<String>,
    /// Where to write the rejected rows, as they are found (owner-only,
    /// put in place once the file is read).
    pub rejects_file: Option<std::path::PathBuf>,
}

/// What kind of source a roster came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SourceKind {
    #[default]
    Csv,
    IniPec,
    Sqlite {
        table: String,
    },
    /// A sheet of an `.xlsx`, `.xls` or `.ods` workbook.
    Workbook {
        sheet: String,
    },
}

/// How a source was read: enough to describe it and to write rejected rows
/// back in the same shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLayout {
    pub kind: SourceKind,
    pub encoding: &'static Encoding,
    pub delimiter: u8,
    /// Lines ended with CRLF (Excel on Windows).
    pub crlf: bool,
    /// The header row as written; None for INI-PEC, which has none.
    pub header: Option<Vec<String>>,
    /// The file is a rejects file written by pecdesk (its last column is
    /// [`REASON_COLUMN`]): a few corrected rows, so never a full roster.
    pub rejects_file: bool,
}

impl Default for SourceLayout {
    fn default() -> Self {
        Self {
            kind: SourceKind::Csv,
            encoding: encoding_rs::UTF_8,
            delimiter: b';',
            crlf: true,
            header: None,
            rejects_file: false,
        }
    }
}

impl std::fmt::Display for SourceLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let delimiter = match self.delimiter {
            b'\t' => "tabulazione".to_string(),
            d => format!("\"{}\"", d as char),
        };
        match &self.kind {
            SourceKind::Csv => write!(f, "CSV, separatore {delimiter}, {}", self.encoding.name()),
            SourceKind::IniPec => write!(f, "tracciato INI-PEC, {}", self.encoding.name()),
            SourceKind::Sqlite { table } => write!(f, "database SQLite, tabella {table}"),
            SourceKind::Workbook { sheet } => write!(f, "cartella di lavoro, foglio {sheet}"),
        }
    }
}

/// A roster file read and validated, not yet stored.
#[derive(Debug, Clone, Default)]
pub struct ParsedRoster {
    /// The file's name, for messages.
    pub source: String,
    pub layout: SourceLayout,
    /// Non-blank rows read: members, members who left and rejects.
    pub rows_read: usize,
    /// Members in the albo.
    pub members: Vec<Member>,
    /// Members the file lists as having left the albo (Stato "cancellato" or a
    /// Data Cancellazione): stored as removed.
    pub left_albo: Vec<Member>,
    /// The first [`REJECTS_KEPT`] rejected rows (every one goes to the
    /// rejects file as it is read: [`ImportOptions::rejects_file`]).
    pub rejects: Vec<Reject>,
    /// How many rows were rejected.
    pub rejected: usize,
    /// The codici fiscali and PEC addresses of every rejected row (see
    /// [`IncomingRoster::rejected_keys`]), as digests.
    pub rejected_keys: KeySet,
    /// Columns that map to no roster field: ignored, listed in the summary.
    pub unknown_columns: Vec<String>,
    /// The optional fields the file has columns for; the others keep their
    /// stored values when a member is updated.
    pub provided: ProvidedFields,
}

impl ParsedRoster {
    /// Whether the file replaces the whole albo: not with `--partial`, never
    /// for a rejects file being imported back, and never for an INI-PEC file
    /// (an update: its `3` rows say who left, absence says nothing).
    pub fn is_full_roster(&self, options: &ImportOptions) -> bool {
        !options.partial && !self.layout.rejects_file && self.layout.kind != SourceKind::IniPec
    }

    /// Refuses a file with no valid row: as a full roster it would mark every
    /// member removed, and it is what staff mean by "nothing could be imported".
    pub fn ensure_importable(&self) -> Result<(), ImportError> {
        // A roster read by [`import_path`] keeps no members (they went to the
        // store as they were read): its valid rows are the rows read that
        // were not rejected.
        let streamed = self.rows_read > self.rejected;
        if self.members.is_empty() && self.left_albo.is_empty() && !streamed {
            return Err(ImportError::NothingToImport {
                file: self.source.clone(),
                rejected: self.rejected,
            });
        }
        Ok(())
    }

    /// The file's name without its directory, as events name it.
    fn file_name(&self) -> String {
        file_name(&self.source)
    }

    /// How an import of this roster ends once it is read.
    fn end(&self, options: &ImportOptions) -> RosterEnd {
        RosterEnd {
            full_roster: self.is_full_roster(options),
            rejected_keys: self.rejected_keys.clone(),
        }
    }
}

/// A source's name without its directory, as events name it.
fn file_name(source: &str) -> String {
    Path::new(source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.to_string())
}

/// What an import would do: the preview staff confirm or cancel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    pub counts: MemberUpsert,
    pub full_roster: bool,
    /// New, updated and removed members: file order, then members absent from
    /// a full roster.
    pub changes: Vec<PlannedChange>,
    /// The first [`PREVIEW_REJECTS`] rejects.
    pub first_rejects: Vec<Reject>,
    pub rejected: usize,
}

/// What an import did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub source: String,
    pub layout: SourceLayout,
    pub rows_read: usize,
    pub stored: MemberUpsert,
    /// The first [`REJECTS_KEPT`] rejects.
    pub rejects: Vec<Reject>,
    /// How many rows were rejected.
    pub rejected: usize,
    pub unknown_columns: Vec<String>,
    pub full_roster: bool,
    pub dry_run: bool,
    /// For a dry run, the changes it would make (updates and removals; new
    /// members are only counted).
    pub changes: Vec<PlannedChange>,
}

/// Reads a roster file: a SQLite database (recognised by its header), or a
/// text file as `options.format` says.
pub fn read_path(path: &Path, options: &ImportOptions) -> Result<ParsedRoster, ImportError> {
    read_path_with_progress(path, options, |_| {})
}

/// [`read_path`], telling `progress` how many rows have been read so far
/// (every thousand rows and at the end).
pub fn read_path_with_progress(
    path: &Path,
    options: &ImportOptions,
    mut progress: impl FnMut(usize),
) -> Result<ParsedRoster, ImportError> {
    read_source(path, options, &mut progress, None)
}

/// [`read_path_with_progress`], handing the accepted rows to `sink`, if any,
/// instead of keeping them, and writing the rejects file as the rejects are
/// found when `options` names one: owner-only, put in place once the file
/// is read (a file that cannot be read leaves it as it was).
fn read_source(
    path: &Path,
    options: &ImportOptions,
    progress: &mut dyn FnMut(usize),
    sink: Option<validate::RowSink<'_>>,
) -> Result<ParsedRoster, ImportError> {
    let Some(rejects_path) = &options.rejects_file else {
        let sinks = validate::Sinks {
            rows: sink,
            rejects: None,
        };
        return read_into(path, options, progress, sinks);
    };
    let mut parsed = None;
    let written = crate::export::write_atomically(rejects_path, |out| {
        let mut out = KeepError { out, error: None };
        let sinks = validate::Sinks {
            rows: sink,
            rejects: Some(&mut out),
        };
        let read = read_into(path, options, progress, sinks);
        let read_ok = read.is_ok();
        parsed = Some(read);
        match out.error {
            Some(error) => Err(error),
            // Not put in place: the file could not be read.
            None if !read_ok => Err(std::io::Error::other("lettura non riuscita")),
            None => Ok(()),
        }
    });
    let parsed = parsed.expect("the rejects file is opened before the read")?;
    written.map_err(|e| ImportError::Io {
        file: rejects_path.display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(parsed)
}

/// A writer that keeps its first error, for the caller to report.
struct KeepError<'w> {
    out: &'w mut dyn std::io::Write,
    error: Option<std::io::Error>,
}

impl std::io::Write for KeepError<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.write(buf).inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush().inspect_err(|e| {
            self.error
                .get_or_insert_with(|| std::io::Error::new(e.kind(), e.to_string()));
        })
    }
}

fn read_into(
    path: &Path,
    options: &ImportOptions,
    progress: &mut dyn FnMut(usize),
    sink: validate::Sinks<'_, '_>,
) -> Result<ParsedRoster, ImportError> {
    let source = path.display().to_string();
    let io_err = |source_err| ImportError::Io {
        file: source.clone(),
        source: source_err,
    };
    let mut file = std::fs::File::open(path).map_err(io_err)?;
    let mut bytes = Vec::new();
    file.by_ref()
        .take(sqlite::MAGIC.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes == sqlite::MAGIC {
        drop(file);
        return sqlite::read_sqlite(path, &source, options.table.as_deref(), progress, sink);
    }
    if options.table.is_some() {
        return Err(ImportError::TableOnTextFile { file: source });
    }
    if workbook::is_workbook(path, &bytes) {
        drop(file);
        let sheet = options.sheet.as_deref();
        return workbook::read_roster(path, &source, sheet, progress, sink);
    }
    if options.sheet.is_some() {
        return Err(ImportError::SheetOnNonWorkbook { file: source });
    }
    let size = file.metadata().ok().map(|m| m.len());
    // The bytes sniffed above come first, then the rest of the file as read.
    let stream = std::io::Cursor::new(bytes).chain(file);
    let decoded = stream::DecodingReader::new(stream, &source)?;
    text::read_text(decoded, size, &source, options.format, progress, sink)
}

/// Reads and validates a text roster (CSV or INI-PEC) held in memory.
pub fn read_bytes(
    bytes: &[u8],
    source: &str,
    options: &ImportOptions,
) -> Result<ParsedRoster, ImportError> {
    if bytes.starts_with(sqlite::MAGIC) {
        // A database must be opened as a file, not parsed as text.
        return Err(ImportError::Binary {
            file: source.to_string(),
        });
    }
    let decoded = stream::DecodingReader::new(bytes, source)?;
    let size = Some(bytes.len() as u64);
    let sinks = validate::Sinks::default();
    text::read_text(decoded, size, source, options.format, &mut |_| {}, sinks)
}

/// Reads a roster file with the default options.
pub fn read_file(path: &Path) -> Result<ParsedRoster, ImportError> {
    read_path(path, &ImportOptions::default())
}

/// Reads a roster CSV (header row) held in memory.
pub fn parse_csv(bytes: &[u8], source: &str) -> Result<ParsedRoster, ImportError> {
    read_bytes(
        bytes,
        source,
        &ImportOptions {
            format: Format::Csv,
            ..ImportOptions::default()
        },
    )
}

fn incoming<'a>(parsed: &'a ParsedRoster, options: &ImportOptions) -> IncomingRoster<'a> {
    IncomingRoster {
        members: &parsed.members,
        left_albo: &parsed.left_albo,
        rejected_keys: Some(&parsed.rejected_keys),
        full_roster: parsed.is_full_roster(options),
        provided: parsed.provided,
    }
}

/// What importing `parsed` would do to the store, without writing.
pub fn preview(
    store: &Store,
    parsed: &ParsedRoster,
    options: &ImportOptions,
) -> Result<ImportPlan, ImportError> {
    Ok(preview_against(&store.all_members()?, parsed, options))
}

/// What importing `parsed` would do to a store holding `existing` (as
/// [`Store::all_members`] returns it; empty for a store not yet created).
pub fn preview_against(
    existing: &[(i64, Member, bool)],
    parsed: &ParsedRoster,
    options: &ImportOptions,
) -> ImportPlan {
    let preview = preview_roster(existing, &incoming(parsed, options));
    plan_of(preview, parsed, options)
}

/// The plan a preview makes, with the roster's first rejects.
fn plan_of(
    preview: crate::store::RosterPreview,
    parsed: &ParsedRoster,
    options: &ImportOptions,
) -> ImportPlan {
    ImportPlan {
        counts: preview.counts,
        full_roster: parsed.is_full_roster(options),
        changes: preview.changes,
        first_rejects: parsed
            .rejects
            .iter()
            .take(PREVIEW_REJECTS)
            .cloned()
            .collect(),
        rejected: parsed.rejected,
    }
}

/// The summary of an import that is only simulated (`--dry-run`), for a
/// roster read whole (see [`dry_run_path`] for a file read as a stream).
pub fn dry_run(
    existing: &[(i64, Member, bool)],
    parsed: ParsedRoster,
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    parsed.ensure_importable()?;
    let plan = preview_against(existing, &parsed, options);
    Ok(dry_run_summary(plan, parsed, options))
}

fn summary_of(parsed: ParsedRoster, options: &ImportOptions) -> ImportSummary {
    ImportSummary {
        full_roster: parsed.is_full_roster(options),
        source: parsed.source,
        layout: parsed.layout,
        rows_read: parsed.rows_read,
        rejects: parsed.rejects,
        rejected: parsed.rejected,
        unknown_columns: parsed.unknown_columns,
        ..ImportSummary::default()
    }
}

/// Reconciles the store with `parsed` in one transaction and returns the summary.
pub fn import(
    store: &mut Store,
    parsed: ParsedRoster,
    options: &ImportOptions,
    operator: &str,
    at: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    parsed.ensure_importable()?;
    let stored = store.upsert_members(
        &incoming(&parsed, options),
        operator,
        &parsed.file_name(),
        at,
    )?;
    Ok(ImportSummary {
        stored,
        ..summary_of(parsed, options)
    })
}

/// Reads `path` and imports it into the store at `store_path` at the same
/// time, in one transaction: what `pecdesk import` does. The store's writer,
/// on its own thread, begins the transaction while the file is decoded, then
/// plans and writes each batch of validated rows, against the stored roster
/// walked in id order beside them (see [`Store::import_members`]), as
/// the reader hands it over; once the file is read, `after_read` sees the
/// roster (its members already handed over, so not in it), and the writer
/// marks absent members, logs the run and commits. A file that cannot be
/// read, has no valid row, or for which `after_read` fails leaves the store as
/// it was; a store that does not exist is created only once a valid row has
/// been read.
pub fn import_path(
    store_path: &Path,
    path: &Path,
    options: &ImportOptions,
    operator: &str,
    at: DateTime<Utc>,
    progress: impl FnMut(usize),
    after_read: impl FnOnce(&ParsedRoster) -> Result<(), ImportError>,
) -> Result<ImportSummary, ImportError> {
    let source = file_name(&path.display().to_string());
    let (parsed, stored) = read_streaming(path, options, progress, after_read, |mut rows| {
        // A store that does not exist yet is created only for rows to store.
        if !store_path.exists() && !rows.any() {
            return Ok(None);
        }
        let mut store = Store::open(store_path)?;
        store.import_members(operator, &source, at, |writer| {
            // The reader rejects a codice fiscale it has seen (`duplicate_of`).
            writer.rows_have_unique_codici();
            rows.into(writer)
        })
    })?;
    Ok(ImportSummary {
        stored,
        ..summary_of(parsed, options)
    })
}

/// What importing `path` into the store at `store_path` would do, read as
/// a stream as [`import_path`] reads it and planned against the stored
/// roster as an import plans it, without writing (nor creating a store that does not
/// exist): the console's preview and `pecdesk import --dry-run`, in bounded
/// memory whatever the file's size. The plan lists the first
/// [`crate::store::PREVIEW_CHANGES_KEPT`] changes of each sort; its counts
/// cover them all.
pub fn preview_path(
    store_path: &Path,
    path: &Path,
    options: &ImportOptions,
    progress: impl FnMut(usize),
    after_read: impl FnOnce(&ParsedRoster) -> Result<(), ImportError>,
) -> Result<(ImportPlan, ParsedRoster), ImportError> {
    let (parsed, preview) = read_streaming(path, options, progress, after_read, |rows| {
        if !store_path.exists() {
            return crate::store::plan_import(None, |planner| rows.into(planner));
        }
        let store = Store::open(store_path)?;
        crate::store::plan_import(Some(&store), |planner| rows.into(planner))
    })?;
    Ok((plan_of(preview, &parsed, options), parsed))
}

/// `pecdesk import --dry-run`: [`preview_path`] as a summary, whose
/// changes are the updates and removals (new members are only counted).
pub fn dry_run_path(
    store_path: &Path,
    path: &Path,
    options: &ImportOptions,
    after_read: impl FnOnce(&ParsedRoster) -> Result<(), ImportError>,
) -> Result<ImportSummary, ImportError> {
    let (plan, parsed) = preview_path(store_path, path, options, |_| {}, after_read)?;
    Ok(dry_run_summary(plan, parsed, options))
}

fn dry_run_summary(
    plan: ImportPlan,
    parsed: ParsedRoster,
    options: &ImportOptions,
) -> ImportSummary {
    let changes = plan
        .changes
        .into_iter()
        .filter(|c| c.kind != crate::store::ChangeKind::New)
        .collect();
    ImportSummary {
        stored: plan.counts,
        dry_run: true,
        changes,
        ..summary_of(parsed, options)
    }
}

/// Batches of validated rows the reader may get ahead of the store by.
const QUEUED_BATCHES: usize = 4;

/// What the reader tells the store's side.
enum Feed {
    Rows(ProvidedFields, Vec<(Member, bool)>),
    /// The file is read and importable.
    End(RosterEnd),
}

/// The validated rows of a file being read, as the store's side receives
/// them (see [`read_streaming`]).
struct Rows {
    feed: std::iter::Peekable<std::sync::mpsc::IntoIter<Feed>>,
    /// Batches done with go back to the reader, to be emptied and filled
    /// again there.
    done: std::sync::mpsc::Sender<Vec<(Member, bool)>>,
}

impl Rows {
    /// Whether any row comes (waits for the first batch, or the end).
    fn any(&mut self) -> bool {
        self.feed.peek().is_some()
    }

    /// Hands every batch to `into` as it comes; returns how the file ends,
    /// or None when it turned out unimportable.
    fn into(self, into: &mut dyn RosterFeed) -> Result<Option<RosterEnd>, ImportError> {
        for message in self.feed {
            match message {
                Feed::Rows(provided, rows) => {
                    into.feed(provided, &rows)?;
                    drop(self.done.send(rows));
                }
                Feed::End(end) => return Ok(Some(end)),
            }
        }
        Ok(None)
    }
}

/// Reads `path` while `consume`, on a thread of its own, takes its valid
/// rows a batch at a time (see [`import_path`]); returns the roster read
/// (without the rows handed over) and what `consume` made of them. A file
/// that cannot be read, has no valid row, or for which `after_read` fails
/// ends the rows with no end, and is reported as such.
fn read_streaming<T: Send>(
    path: &Path,
    options: &ImportOptions,
    mut progress: impl FnMut(usize),
    after_read: impl FnOnce(&ParsedRoster) -> Result<(), ImportError>,
    consume: impl FnOnce(Rows) -> Result<Option<T>, ImportError> + Send,
) -> Result<(ParsedRoster, T), ImportError> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUED_BATCHES);
    let (done_sender, done) = std::sync::mpsc::channel::<Vec<(Member, bool)>>();
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || {
            consume(Rows {
                feed: receiver.into_iter().peekable(),
                done: done_sender,
            })
        });
        // A consumer that failed has dropped its end of the channel: the
        // file is still read to the end, and its error reported then.
        let mut sink = |provided, rows| {
            drop(sender.send(Feed::Rows(provided, rows)));
            let mut spare = done.try_recv().unwrap_or_default();
            spare.clear();
            spare
        };
        let parsed =
            read_source(path, options, &mut progress, Some(&mut sink)).and_then(|parsed| {
                after_read(&parsed)?;
                parsed.ensure_importable()?;
                Ok(parsed)
            });
        if let Ok(parsed) = &parsed {
            drop(sender.send(Feed::End(parsed.end(options))));
        }
        drop(sender);
        // What came back is freed here while the consumer finishes.
        drop(done);
        let consumed = consumer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        let parsed = parsed?;
        let consumed = consumed?.ok_or_else(|| ImportError::NothingToImport {
            file: parsed.source.clone(),
            rejected: parsed.rejected,
        })?;
        Ok((parsed, consumed))
    })
}

/// Stores a parsed roster as the full albo (one transaction) and returns the summary.
pub fn store_roster(
    store: &mut Store,
    parsed: ParsedRoster,
    operator: &str,
    at: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    import(store, parsed, &ImportOptions::default(), operator, at)
}

#[cfg(test)]
mod tests;
