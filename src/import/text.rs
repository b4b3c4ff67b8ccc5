//! Text rosters: decoding (UTF-8 with or without BOM, UTF-16 with BOM,
//! Windows-1252), delimiter sniffing, INI-PEC recognition, and the CSV reader
//! with exact line numbers.

use std::borrow::Cow;

use csv::StringRecord;
use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use super::columns::{self, HeaderMapping};
use super::stream::DecodingReader;
use super::validate::{RowCollector, Sinks};
use super::{Format, ImportError, ParsedRoster, SourceKind, SourceLayout};
use crate::domain::contact;

/// How much of the start of a file is examined to tell text from binary and
/// to sniff the delimiter.
pub(super) const SNIFF_BYTES: usize = 64 * 1024;
/// Lines compared when sniffing the delimiter.
const SNIFF_LINES: usize = 20;
/// How often, in rows, the progress callback is told.
pub const PROGRESS_EVERY: usize = 1000;

/// A file's text and the encoding it was read with.
pub struct Decoded<'b> {
    pub text: Cow<'b, str>,
    pub encoding: &'static Encoding,
}

/// Decodes a text roster. A BOM decides; without one, valid UTF-8 is UTF-8 and
/// anything else is Windows-1252, which is what Excel writes in an Italian
/// locale ("CSV (delimitato da separatore)"). Binary files are refused.
pub fn decode<'b>(bytes: &'b [u8], source: &str) -> Result<Decoded<'b>, ImportError> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let body = &bytes[bom_len..];
        let (text, had_errors) = encoding.decode_without_bom_handling(body);
        if !had_errors {
            return Ok(Decoded { text, encoding });
        }
        if encoding != UTF_8 {
            return Err(ImportError::Binary {
                file: source.to_string(),
            });
        }
        // A UTF-8 BOM over Windows-1252 text: an editor added the BOM.
        return Ok(windows_1252(body));
    }
    if looks_binary(&bytes[..bytes.len().min(SNIFF_BYTES)]) {
        return Err(ImportError::Binary {
            file: source.to_string(),
        });
    }
    Ok(match std::str::from_utf8(bytes) {
        Ok(text) => Decoded {
            text: Cow::Borrowed(text),
            encoding: UTF_8,
        },
        Err(_) => windows_1252(bytes),
    })
}

fn windows_1252(bytes: &[u8]) -> Decoded<'_> {
    Decoded {
        text: WINDOWS_1252.decode_without_bom_handling(bytes).0,
        encoding: WINDOWS_1252,
    }
}

/// NUL bytes, or many control characters, do not occur in a CSV file.
pub(super) fn looks_binary(start: &[u8]) -> bool {
    let control = start
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c))
        .count();
    start.contains(&0) || control * 10 > start.len()
}

/// Counts of each candidate delimiter outside quotes, per line, for the first lines.
fn delimiter_counts(text: &str, candidates: &[u8]) -> Vec<Vec<usize>> {
    let mut lines = Vec::new();
    let mut counts = vec![0; candidates.len()];
    let mut in_quotes = false;
    let mut blank = true;
    for &b in text.as_bytes().iter().take(SNIFF_BYTES) {
        match b {
            b'"' => in_quotes = !in_quotes,
            b'\n' if !in_quotes => {
                if !blank {
                    lines.push(std::mem::replace(&mut counts, vec![0; candidates.len()]));
                    if lines.len() == SNIFF_LINES {
                        return lines;
                    }
                }
                blank = true;
                continue;
            }
            _ if !in_quotes => {
                if let Some(i) = candidates.iter().position(|&c| c == b) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
        if !b.is_ascii_whitespace() {
            blank = false;
        }
    }
    if !blank {
        lines.push(counts);
    }
    lines
}

/// The delimiter among `;`, `,` and tab that splits the first line and splits
/// most of the following lines into the same number of fields; on a tie, the
/// one splitting the first line more, then `;` (the Italian Excel default).
pub fn sniff_delimiter(text: &str) -> u8 {
    const CANDIDATES: [u8; 3] = [b';', b',', b'\t'];
    let lines = delimiter_counts(text, &CANDIDATES);
    let Some(first) = lines.first() else {
        return b';';
    };
    let score = |i: usize| {
        let consistent = lines.iter().filter(|l| l[i] == first[i]).count();
        (first[i] > 0, consistent, first[i])
    };
    // max_by_key keeps the last of equal keys: iterate in reverse preference.
    (0..CANDIDATES.len())
        .rev()
        .max_by_key(|&i| score(i))
        .map_or(b';', |i| CANDIDATES[i])
}

/// The INI-PEC layout has no header: its first row already is a member, with
/// a PEC address first and a codice fiscale fifth.
fn looks_like_inipec(first: &StringRecord) -> bool {
    let cf_like = |s: &str| s.len() == 16 && s.bytes().all(|b| b.is_ascii_alphanumeric());
    first.len() >= 5 && contact::normalize_email(&first[0]).is_ok() && cf_like(first[4].trim())
}

/// Whether any cell of a would-be header is an e-mail address: then the file
/// has no header row, and saying so is clearer than listing missing columns.
fn has_data_instead_of_header(first: &StringRecord) -> bool {
    first
        .iter()
        .any(|cell| contact::normalize_email(cell).is_ok())
}

/// Record positions are monotonic, so line numbers come from one forward scan.
/// The csv crate's own line count is wrong on CRLF files, and the position it
/// gives is where it started looking for the record: the '\n' of the previous
/// CRLF, or before blank lines it skipped. Staff find rows by line, so the
/// line is that of the record's first character.
pub(super) struct LineCounter<'t> {
    bytes: &'t [u8],
    scanned: usize,
    newlines: u64,
}

impl<'t> LineCounter<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Self {
            bytes: text.as_bytes(),
            scanned: 0,
            newlines: 0,
        }
    }

    /// The 1-based line of the record the reader reports at `byte`.
    pub(super) fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        while self
            .bytes
            .get(start)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            start += 1;
        }
        if start < self.scanned {
            self.scanned = 0;
            self.newlines = 0;
        }
        let newlines = self.bytes[self.scanned..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.newlines += newlines as u64;
        self.scanned = start;
        1 + self.newlines
    }
}

pub(super) fn is_blank(record: &StringRecord) -> bool {
    record.iter().all(|f| f.trim().is_empty())
}

/// The shortest line that can hold a valid row (a codice fiscale alone is
/// 16 bytes): bounds the rows expected from a file's size, so that a file of
/// blank lines does not reserve room for millions of members.
const MIN_ROW_BYTES: usize = 32;

pub(super) fn csv_reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// The first non-blank record, or None at the end of the text.
pub(super) fn first_record<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    record: &mut StringRecord,
) -> Result<bool, csv::Error> {
    while reader.read_record(record)? {
        if !is_blank(record) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the text is in the INI-PEC layout, as `format` says or as its
/// first row shows.
fn is_inipec(text: &str, format: Format) -> bool {
    match format {
        Format::IniPec => true,
        Format::Csv => false,
        Format::Auto => {
            let mut record = StringRecord::new();
            // A first row that cannot be read is not INI-PEC; the CSV reader
            // will report it.
            first_record(&mut csv_reader(text, b';'), &mut record).unwrap_or(false)
                && looks_like_inipec(&record)
        }
    }
}

/// Reads the header row and maps it; refuses a file without the required columns.
fn read_header<R: std::io::Read>(
    reader: &mut csv::Reader<DecodingReader<R>>,
    source: &str,
) -> Result<(HeaderMapping, Vec<String>), ImportError> {
    let mut header = StringRecord::new();
    match first_record(reader, &mut header) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ImportError::Empty {
                file: source.to_string(),
            });
        }
        Err(e) => {
            return Err(ImportError::Csv {
                file: source.to_string(),
                line: e
                    .position()
                    .map_or(1, |p| reader.get_mut().line_at(p.byte())),
                message: e.to_string(),
            });
        }
    }
    let mapping = columns::map_headers(header.iter());
    if mapping.missing.is_empty() {
        return Ok((mapping, header.iter().map(str::to_string).collect()));
    }
    Err(if has_data_instead_of_header(&header) {
        ImportError::NoHeader {
            file: source.to_string(),
        }
    } else {
        ImportError::MissingColumns {
            file: source.to_string(),
            missing: mapping
                .missing
                .iter()
                .map(|f| f.label().to_string())
                .collect(),
        }
    })
}

/// Reads a text roster (CSV with a header row, or INI-PEC) as a stream:
/// decoded, parsed and validated a batch at a time, never held whole.
/// `size` (the file's length, when known) sizes the duplicate maps once.
pub fn read_text<R: std::io::Read>(
    decoded: DecodingReader<R>,
    size: Option<u64>,
    source: &str,
    format: Format,
    progress: &mut dyn FnMut(usize),
    sinks: Sinks<'_, '_>,
) -> Result<ParsedRoster, ImportError> {
    let prefix = decoded.prefix();
    if decoded.prefix_is_all() && prefix.trim().is_empty() {
        return Err(ImportError::Empty {
            file: source.to_string(),
        });
    }
    let inipec = is_inipec(prefix, format);
    let delimiter = if inipec {
        b';'
    } else {
        sniff_delimiter(prefix)
    };
    let crlf = prefix.contains("\r\n");
    // Rows to expect: the file's size over the prefix's bytes per line.
    let prefix_lines = prefix.bytes().filter(|&b| b == b'\n').count().max(1);
    let expected_rows = size.map_or(0, |size| {
        let per_line = (prefix.len() / prefix_lines).max(MIN_ROW_BYTES) as u64;
        usize::try_from(size / per_line).unwrap_or(usize::MAX)
    });
    let encoding = decoded.encoding();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(decoded);
    let (mapping, header) = if inipec {
        (columns::inipec_mapping(), None)
    } else {
        let (mapping, header) = read_header(&mut reader, source)?;
        (mapping, Some(header))
    };
    let rejects_file = header
        .as_ref()
        .and_then(|h| h.last())
        .is_some_and(|last| last.trim() == super::REASON_COLUMN);
    let layout = SourceLayout {
        kind: if inipec {
            SourceKind::IniPec
        } else {
            SourceKind::Csv
        },
        encoding,
        delimiter,
        crlf,
        header,
        rejects_file,
    };
    let mut rows = RowCollector::new(&mapping, source, layout, expected_rows, sinks);
    loop {
        let record = rows.slot();
        match reader.read_record(record) {
            Ok(false) => break,
            Ok(true) if is_blank(record) => continue,
            Ok(true) => {
                let line = record
                    .position()
                    .map_or(0, |p| reader.get_mut().line_at(p.byte()));
                rows.keep(line);
            }
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(ImportError::Io {
                        file: source.to_string(),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
                let line = e
                    .position()
                    .map_or(0, |p| reader.get_mut().line_at(p.byte()));
                rows.keep_unreadable(line, format!("riga CSV non leggibile: {e}"));
            }
        }
        if rows.rows().is_multiple_of(PROGRESS_EVERY) {
            progress(rows.rows());
        }
    }
    let mut parsed = rows.finish();
    // A UTF-8 start may have turned out to be Windows-1252 further on.
    parsed.layout.encoding = reader.get_ref().encoding();
    progress(parsed.rows_read);
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_delimiter_that_splits_lines_consistently() {
        assert_eq!(sniff_delimiter("a;b;c\n1;2;3\n"), b';');
        assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter("a\tb\tc\n1\t2\t3\n"), b'\t');
        // Commas inside quoted addresses do not count.
        assert_eq!(
            sniff_delimiter("a;b;c\n\"Via Roma, 1, scala A\";2;3\n\"x,y,z,w\";2;3\n"),
            b';'
        );
        // A header with one stray comma: ';' splits every line the same way.
        assert_eq!(
            sniff_delimiter(
                "Cognome;Nome;Indirizzo, civico\nRossi;Mario;Via Po, 3\nBruno;Anna;Via Oslavia 1\n"
            ),
            b';'
        );
        assert_eq!(sniff_delimiter("solo una colonna\n"), b';');
        assert_eq!(sniff_delimiter(""), b';');
    }

    #[test]
    fn line_counter_handles_crlf_positions_and_restarts() {
        let mut lines = LineCounter::new("a\r\nb\r\n\r\n\nc\r\n");
        assert_eq!(lines.line_at(0), 1);
        assert_eq!(lines.line_at(2), 2, "at the \\n of the CRLF before");
        assert_eq!(lines.line_at(3), 2);
        assert_eq!(lines.line_at(5), 5, "after blank lines");
        assert_eq!(lines.line_at(0), 1);
        assert_eq!(lines.line_at(u64::MAX), 6);
    }

    #[test]
    fn tells_text_from_binary() {
        assert!(looks_binary(b"SQLite format 3\0"));
        assert!(looks_binary(&[1, 2, 3, 4, 5, 6, 7, 8, b'a']));
        assert!(!looks_binary("Niccolò;D'Angelo\r\n\tx".as_bytes()));
    }
}
