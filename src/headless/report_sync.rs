//! `pecdesk sync --report FILE`: the mailboxes' states from a provider's
//! report, stored as a sync stores the API's. The report's date is shown
//! before anything is stored.

use std::path::{Path, PathBuf};

use crate::i18n::format_datetime;
use crate::import::{self, ReportOptions};
use crate::store::{Store, SyncOutcome};
use crate::sync::{ReportSync, store_report};

/// How many rejected rows are listed on stderr.
const REJECTS_SHOWN: usize = 50;

/// What `sync --report` was asked.
#[derive(Debug, Clone, Default)]
pub struct ReportSyncArgs {
    pub file: PathBuf,
    pub partial: bool,
    /// The report's date when no column gives it, as typed.
    pub as_of: Option<String>,
    pub dry_run: bool,
    pub rejects: Option<PathBuf>,
    /// The Ordine's PEC domain.
    pub domain: Option<String>,
    /// The sheet of a workbook.
    pub sheet: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("--as-of: data non riconosciuta \"{0}\" (gg/mm/aaaa [hh:mm] o aaaa-mm-gg)")]
pub struct BadAsOf(String);

/// Reads, shows the date, writes the rejects, stores (or rolls back a dry run).
pub fn sync_report(
    store_path: &Path,
    args: &ReportSyncArgs,
    operator: &str,
) -> anyhow::Result<SyncOutcome> {
    let as_of = match &args.as_of {
        Some(text) => Some(import::parse_instant(text).ok_or_else(|| BadAsOf(text.clone()))?),
        None => None,
    };
    let options = ReportOptions {
        domain: args.domain.clone(),
        as_of,
        sheet: args.sheet.clone(),
    };
    let parsed = import::read_report_path(&args.file, &options)?;
    let name = args.file.file_name().map_or_else(
        || args.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if let Some(at) = parsed.as_of {
        let from = if parsed.as_of_from_file {
            "dalla colonna del report"
        } else if as_of.is_some() {
            "da --as-of"
        } else {
            "dalla data di modifica del file"
        };
        println!("Report {name}: stati al {} ({from})", format_datetime(at));
    }
    for reject in parsed.rejects.iter().take(REJECTS_SHOWN) {
        eprintln!("{name}, {reject}");
    }
    if parsed.rejects.len() > REJECTS_SHOWN {
        eprintln!(
            "{name}: altre {} righe scartate",
            parsed.rejects.len() - REJECTS_SHOWN
        );
    }
    if let Some(out) = &args.rejects {
        let count = import::write_report_rejects(&parsed, out)?;
        println!("  {count} righe scartate scritte in {}", out.display());
    }
    parsed.ensure_usable(&name)?;
    let mut store = Store::open(store_path)?;
    let outcome = store_report(
        &mut store,
        ReportSync {
            report: &parsed,
            file: &name,
            partial: args.partial,
            domain: args.domain.as_deref(),
            dry_run: args.dry_run,
        },
        operator,
    )?;
    let rejected = if parsed.rejects.is_empty() {
        String::new()
    } else {
        format!(", {} righe scartate", parsed.rejects.len())
    };
    if args.dry_run {
        println!(
            "Simulazione (nulla è stato salvato): {}{rejected}",
            outcome.describe()
        );
    } else {
        println!("Report caricato: {}{rejected}", outcome.describe());
    }
    Ok(outcome)
}
