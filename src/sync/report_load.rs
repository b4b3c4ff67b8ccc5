//! A report file loaded the way the console does it: read and checked, shown
//! as a preview (the report's date, what would change, the rejects), then
//! stored on confirmation. The preview is the store's own dry run, so it
//! counts exactly what storing would do.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{ReportSync, SyncError, store_report};
use crate::import::{self, ImportError, ParsedReport, ReportOptions, ReportReject};
use crate::store::{Store, StoreError, SyncOutcome};

/// Rejected rows a preview keeps to show (the count covers all of them).
const REJECTS_KEPT: usize = 8;

/// What to load, as `:sync report FILE [--as-of DATE] [--partial] [--sheet S]` asks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRequest {
    pub path: PathBuf,
    /// Only update the mailboxes it lists.
    pub partial: bool,
    /// The report's date when no column gives it.
    pub as_of: Option<DateTime<Utc>>,
    /// The Ordine's PEC domain.
    pub domain: Option<String>,
    /// The sheet of a workbook; the first one when None.
    pub sheet: Option<String>,
}

/// Where the report's date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOfSource {
    /// A date column of the file.
    Column,
    /// `--as-of`.
    Given,
    /// The file's modification time.
    FileTime,
}

/// What loading the report would do, before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPreview {
    /// The file's name, as change events name it.
    pub file: String,
    pub as_of: Option<DateTime<Utc>>,
    pub as_of_source: AsOfSource,
    /// The store's dry run of it.
    pub outcome: SyncOutcome,
    pub partial: bool,
    pub rejected: usize,
    /// The first rejected rows, with line, column and value.
    pub first_rejects: Vec<ReportReject>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportLoadError {
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Reads the report and works out what storing it would change; stores nothing.
pub fn preview_report(
    store: &mut Store,
    request: &ReportRequest,
    operator: &str,
) -> Result<ReportPreview, ReportLoadError> {
    let (parsed, file) = read(request)?;
    let outcome = store_report(store, sync_of(&parsed, &file, request, true), operator)?;
    let as_of_source = if parsed.as_of_from_file {
        AsOfSource::Column
    } else if request.as_of.is_some() {
        AsOfSource::Given
    } else {
        AsOfSource::FileTime
    };
    Ok(ReportPreview {
        as_of: parsed.as_of,
        as_of_source,
        outcome,
        partial: request.partial,
        rejected: parsed.rejects.len(),
        first_rejects: parsed.rejects.into_iter().take(REJECTS_KEPT).collect(),
        file,
    })
}

/// Reads the report again and stores it, in one transaction.
pub fn load_report(
    store: &mut Store,
    request: &ReportRequest,
    operator: &str,
) -> Result<(SyncOutcome, usize), ReportLoadError> {
    let (parsed, file) = read(request)?;
    let outcome = store_report(store, sync_of(&parsed, &file, request, false), operator)?;
    Ok((outcome, parsed.rejects.len()))
}

fn read(request: &ReportRequest) -> Result<(ParsedReport, String), ReportLoadError> {
    let options = ReportOptions {
        domain: request.domain.clone(),
        as_of: request.as_of,
        sheet: request.sheet.clone(),
    };
    let parsed = import::read_report_path(&request.path, &options)?;
    let file = file_name(&request.path);
    parsed.ensure_usable(&file)?;
    Ok((parsed, file))
}

fn sync_of<'a>(
    parsed: &'a ParsedReport,
    file: &'a str,
    request: &'a ReportRequest,
    dry_run: bool,
) -> ReportSync<'a> {
    ReportSync {
        report: parsed,
        file,
        partial: request.partial,
        domain: request.domain.as_deref(),
        dry_run,
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
