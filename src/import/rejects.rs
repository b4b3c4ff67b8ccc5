//! The rejects file: the rejected rows exactly as they were, with the original
//! header, delimiter and encoding, plus a last column saying why, so that staff
//! can fix them in Excel and import the file again.

use std::path::Path;

use encoding_rs::{Encoding, WINDOWS_1252};

use super::columns::INIPEC_COLUMNS;
use super::{ImportError, ParsedRoster, REASON_COLUMN, Reject, SourceKind};

/// The reason as written in the rejects file: the field and what is wrong,
/// without the line (which is a line of the original file, not of this one).
/// It quotes the file's own header and values, so it is guarded against
/// running as a spreadsheet formula like every cell pecdesk writes.
fn reason_cell(reject: &Reject) -> String {
    let reason = match &reject.field {
        Some(field) => format!("{field}: {}", reject.reason),
        None => reject.reason.clone(),
    };
    crate::export::escape_formula(&reason).into_owned()
}

/// The rejects file's bytes.
pub fn rejects_csv(parsed: &ParsedRoster) -> Result<Vec<u8>, csv::Error> {
    let layout = &parsed.layout;
    let mut writer = csv::WriterBuilder::new()
        .delimiter(layout.delimiter)
        .terminator(if layout.crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .flexible(true)
        .from_writer(Vec::new());
    // Pad short (ragged) rows so that the reason always lands in its own column.
    let width = match (&layout.kind, &layout.header) {
        (SourceKind::IniPec, _) => INIPEC_COLUMNS.len(),
        (_, Some(header)) => header.len(),
        (_, None) => 0,
    };
    if let Some(header) = &layout.header {
        let header = header.iter().map(String::as_str);
        if layout.rejects_file {
            // Already a rejects file: replace its reason column, not add another.
            writer.write_record(header.take(width.saturating_sub(1)).chain([REASON_COLUMN]))?;
        } else {
            writer.write_record(header.chain([REASON_COLUMN]))?;
        }
    }
    let width = if layout.rejects_file {
        width.saturating_sub(1)
    } else {
        width
    };
    for reject in &parsed.rejects {
        let mut row: Vec<&str> = reject.record.iter().map(String::as_str).collect();
        if layout.rejects_file {
            row.truncate(width);
        }
        row.resize(row.len().max(width), "");
        let reason = reason_cell(reject);
        row.push(&reason);
        writer.write_record(&row)?;
    }
    let bytes = writer.into_inner().map_err(|e| e.into_error())?;
    Ok(encode_like_source(parsed.layout.encoding, bytes))
}

/// Windows-1252 sources get a Windows-1252 file back (Excel opens it as it
/// opened the original); everything else UTF-8 with a BOM, which Excel needs
/// to recognise UTF-8.
pub(super) fn encode_like_source(encoding: &'static Encoding, utf8: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(utf8).expect("the csv writer was given only str");
    if encoding == WINDOWS_1252 {
        return WINDOWS_1252.encode(&text).0.into_owned();
    }
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// Writes the rejects file to `path` and returns how many rows it holds.
pub fn write_rejects(parsed: &ParsedRoster, path: &Path) -> Result<usize, ImportError> {
    let file = path.display().to_string();
    let bytes = rejects_csv(parsed).map_err(|e| ImportError::Io {
        file: file.clone(),
        source: std::io::Error::other(e),
    })?;
    write_private(path, &bytes)?;
    Ok(parsed.rejects.len())
}

/// Writes a rejects file's bytes.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    let file = path.display().to_string();
    // Rejected rows are personal data too: owner-only, written atomically.
    crate::export::write_atomically(path, |out| out.write_all(bytes)).map_err(|e| ImportError::Io {
        file,
        source: std::io::Error::other(e.to_string()),
    })
}
