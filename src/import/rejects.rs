//! The rejects file: the rejected rows exactly as they were, with the original
//! header, delimiter and encoding, plus a last column saying why, so that staff
//! can fix them in Excel and import the file again.

use std::io::Write;
use std::path::Path;

use encoding_rs::{Encoding, WINDOWS_1252};

use super::columns::INIPEC_COLUMNS;
use super::{ImportError, ParsedRoster, REASON_COLUMN, Reject, SourceKind, SourceLayout};

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

/// Writes a rejects file as the rejects are found: the header as the
/// source has it plus the reason column, then each rejected row as it was
/// plus why, in the source's encoding (see [`encode_like_source`]).
pub struct RejectsWriter<W: Write> {
    /// Formats one row at a time; its bytes are then encoded into `out`.
    rows: csv::WriterBuilder,
    out: W,
    encoding: &'static Encoding,
    /// Columns each row is padded to (short, ragged rows), or cut to when
    /// the source is itself a rejects file (its reason column is replaced).
    width: usize,
    rejects_file: bool,
}

impl<W: Write> RejectsWriter<W> {
    pub fn new(layout: &SourceLayout, mut out: W) -> std::io::Result<Self> {
        if layout.encoding != WINDOWS_1252 {
            // Excel needs the BOM to recognise UTF-8.
            out.write_all(b"\xEF\xBB\xBF")?;
        }
        let mut rows = csv::WriterBuilder::new();
        rows.delimiter(layout.delimiter)
            .terminator(if layout.crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .flexible(true);
        // Pad short (ragged) rows so that the reason always lands in its own column.
        let width = match (&layout.kind, &layout.header) {
            (SourceKind::IniPec, _) => INIPEC_COLUMNS.len(),
            (_, Some(header)) => header.len(),
            (_, None) => 0,
        };
        let mut writer = Self {
            rows,
            out,
            encoding: layout.encoding,
            width: if layout.rejects_file {
                width.saturating_sub(1)
            } else {
                width
            },
            rejects_file: layout.rejects_file,
        };
        if let Some(header) = &layout.header {
            let header = header.iter().map(String::as_str);
            // Already a rejects file: replace its reason column, not add another.
            let header: Vec<&str> = header.take(writer.width).chain([REASON_COLUMN]).collect();
            writer.emit(&header)?;
        }
        Ok(writer)
    }

    pub fn write(&mut self, reject: &Reject) -> std::io::Result<()> {
        let mut row: Vec<&str> = reject.record.iter().map(String::as_str).collect();
        if self.rejects_file {
            row.truncate(self.width);
        }
        row.resize(row.len().max(self.width), "");
        let reason = reason_cell(reject);
        row.push(&reason);
        self.emit(&row)
    }

    /// Writes one row to `out`, encoded.
    fn emit(&mut self, row: &[&str]) -> std::io::Result<()> {
        let mut formatted = self.rows.from_writer(Vec::new());
        formatted.write_record(row)?;
        let utf8 = formatted.into_inner().map_err(|e| e.into_error())?;
        let text = String::from_utf8(utf8).expect("the csv writer was given only str");
        if self.encoding == WINDOWS_1252 {
            self.out.write_all(&WINDOWS_1252.encode(&text).0)
        } else {
            self.out.write_all(text.as_bytes())
        }
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The rejects file's bytes, for a roster whose rejects are all in memory
/// (fewer than [`super::REJECTS_KEPT`]; a larger file's are written as it
/// is read, see [`super::ImportOptions::rejects_file`]).
pub fn rejects_csv(parsed: &ParsedRoster) -> Result<Vec<u8>, csv::Error> {
    let mut writer = RejectsWriter::new(&parsed.layout, Vec::new())?;
    for reject in &parsed.rejects {
        writer.write(reject)?;
    }
    Ok(writer.finish()?)
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

/// Writes a rejects file's bytes.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    let file = path.display().to_string();
    // Rejected rows are personal data too: owner-only, written atomically.
    crate::export::write_atomically(path, |out| out.write_all(bytes)).map_err(|e| ImportError::Io {
        file,
        source: std::io::Error::other(e.to_string()),
    })
}
