//! Workbooks (`.xlsx`, `.xls`, `.ods`, read with calamine): one sheet's
//! rows turned into the same text cells a CSV gives, so that rosters and
//! mailbox reports go through their usual readers. Typed cells are read as a
//! secretary's workbook holds them: dates as dates, whole numbers without
//! `.0` (a numero iscrizione `1234.0`, a mobile `3471234567`), never in
//! scientific notation; formulas as their cached values. Rows are numbered
//! as Excel numbers them and columns named by letter.

use std::path::Path;

use calamine::{Data, Reader, Sheets, open_workbook_auto};

use super::columns::{self, display_name};
use super::text::PROGRESS_EVERY;
use super::validate::{RowCollector, Sinks};
use super::{ImportError, ParsedRoster, SourceKind, SourceLayout};

/// The start of a zip archive (`.xlsx`, `.ods`) and of an OLE compound
/// file (`.xls`).
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Whether a file is a workbook, by its first bytes or its name.
pub fn is_workbook(path: &Path, start: &[u8]) -> bool {
    let by_name = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["xlsx", "xlsm", "xls", "ods"]
            .iter()
            .any(|w| e.eq_ignore_ascii_case(w))
    });
    by_name || start.starts_with(ZIP_MAGIC) || start.starts_with(OLE_MAGIC)
}

/// One sheet's name and header.
pub struct SheetHead {
    /// "file, foglio NAME", for messages.
    pub source: String,
    pub sheet: String,
    pub header: Vec<String>,
    /// How many rows the sheet says it has (a hint for capacities).
    pub expected_rows: usize,
}

/// A non-empty row after the header: Excel's row number and its cells, or
/// the first cell holding an error value (`#N/A`, ...).
pub type SheetRow = (u64, Result<Vec<String>, CellError>);

/// The rows of a sheet after its header, as they are read.
pub type SheetRows<'r> = dyn Iterator<Item = Result<SheetRow, ImportError>> + 'r;

/// A cell holding an error value instead of data.
#[derive(Debug, Clone)]
pub struct CellError {
    pub column: usize,
    pub value: String,
}

/// `A`, `B`, ... `Z`, `AA`, ...: the column's letters (0-based index).
pub fn column_letter(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).expect("ASCII letters")
}

/// A column as messages name it: its header and its letter.
pub fn column_name(header: &[String], index: usize) -> String {
    let letter = column_letter(index);
    match header.get(index).map(|h| display_name(h)) {
        Some(name) if !name.is_empty() => format!("{name} (colonna {letter})"),
        _ => format!("colonna {letter}"),
    }
}

/// Reads the sheet named `sheet` (any case), or the first one: `read` gets
/// its header, then the rows after it as they are read. An `.xlsx` sheet is
/// read as a stream, cell by cell, so only the workbook's shared strings are
/// held whole; an `.xls` or `.ods` sheet is read whole by calamine first.
pub fn read_sheet<T>(
    path: &Path,
    file: &str,
    sheet: Option<&str>,
    read: impl FnOnce(&SheetHead, &mut SheetRows<'_>) -> Result<T, ImportError>,
) -> Result<T, ImportError> {
    let unreadable = |message: String| ImportError::Workbook {
        file: file.to_string(),
        message,
    };
    let mut workbook = open_workbook_auto(path).map_err(|e| unreadable(e.to_string()))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(wanted) => names
            .iter()
            .find(|n| n.eq_ignore_ascii_case(wanted.trim()))
            .cloned()
            .ok_or_else(|| ImportError::NoSuchSheet {
                file: file.to_string(),
                sheet: wanted.to_string(),
                sheets: names.clone(),
            })?,
        None => names.first().cloned().ok_or_else(|| ImportError::Empty {
            file: file.to_string(),
        })?,
    };
    let source = format!("{file}, foglio {name}");
    let (mut rows, expected_rows): (Box<dyn Iterator<Item = _>>, usize) = match &mut workbook {
        Sheets::Xlsx(xlsx) => {
            let cells = xlsx
                .worksheet_cells_reader(&name)
                .map_err(|e| unreadable(e.to_string()))?;
            let declared = cells.dimensions();
            let source = source.clone();
            let rows = StreamedRows {
                cells,
                next: None,
                done: false,
            }
            .map(move |row| {
                row.map_err(|message| ImportError::Workbook {
                    file: source.clone(),
                    message,
                })
            });
            (Box::new(rows), (declared.end.0 - declared.start.0) as usize)
        }
        other => {
            let range = other
                .worksheet_range(&name)
                .map_err(|e| unreadable(e.to_string()))?;
            // Positions as in the sheet: the range starts at its first used cell.
            let (first_row, first_col) = range.start().unwrap_or((0, 0));
            let (height, width) = range.get_size();
            let rows = (0..height).filter_map(move |i| {
                let mut row = RowBuilder::default();
                for j in 0..width {
                    if let Some(cell) = range.get((i, j)) {
                        row.push(first_col as usize + j, cell);
                    }
                }
                row.finish(first_row + i as u32).map(Ok)
            });
            (Box::new(rows), height)
        }
    };
    let header = match rows.next().transpose()? {
        Some(header) => header.cells,
        None => return Err(ImportError::Empty { file: source }),
    };
    let head = SheetHead {
        source,
        sheet: name,
        header,
        expected_rows,
    };
    let width = head.header.len();
    let mut data_rows = rows.map(|row| row.map(|row| row.padded_to(width)));
    read(&head, &mut data_rows)
}

/// An `.xlsx` sheet's rows, built from its cells as calamine streams them.
struct StreamedRows<'a, RS: std::io::Read + std::io::Seek> {
    cells: calamine::XlsxCellReader<'a, RS>,
    /// The first cell of the next row, read with the last one.
    next: Option<(u32, u32, Data)>,
    done: bool,
}

impl<RS: std::io::Read + std::io::Seek> Iterator for StreamedRows<'_, RS> {
    type Item = Result<BuiltRow, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut row = RowBuilder::default();
        let mut at = None;
        while !self.done {
            let cell = match self.next.take() {
                Some(cell) => cell,
                None => match self.cells.next_cell() {
                    Ok(Some(cell)) => {
                        let (r, column) = cell.get_position();
                        (r, column, Data::from(cell.get_value().clone()))
                    }
                    Ok(None) => {
                        self.done = true;
                        break;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e.to_string()));
                    }
                },
            };
            match at {
                Some(r) if r != cell.0 => {
                    self.next = Some(cell);
                    if let Some(built) = std::mem::take(&mut row).finish(r) {
                        return Some(Ok(built));
                    }
                    at = None;
                }
                _ => {
                    at = Some(cell.0);
                    row.push(cell.1 as usize, &cell.2);
                }
            }
        }
        at.and_then(|r| row.finish(r)).map(Ok)
    }
}

/// One row's cells as text, at their columns, and its first error value.
#[derive(Default)]
struct RowBuilder {
    cells: Vec<String>,
    error: Option<CellError>,
    filled: bool,
}

impl RowBuilder {
    fn push(&mut self, column: usize, cell: &Data) {
        let text = cell_text(cell);
        self.filled |= !text.trim().is_empty();
        if matches!(cell, Data::Error(_)) && self.error.is_none() {
            self.error = Some(CellError {
                column,
                value: text.clone(),
            });
        }
        if self.cells.len() < column {
            self.cells.resize(column, String::new());
        }
        self.cells.push(text);
    }

    /// The row numbered as Excel numbers it (`row` is 0-based), unless blank.
    fn finish(self, row: u32) -> Option<BuiltRow> {
        self.filled.then(|| BuiltRow {
            number: u64::from(row) + 1,
            cells: self.cells,
            error: self.error,
        })
    }
}

/// A non-blank row: its cells (the header's are taken as they are) and its
/// first error value.
struct BuiltRow {
    number: u64,
    cells: Vec<String>,
    error: Option<CellError>,
}

impl BuiltRow {
    /// As a data row: at least as wide as the header, as Excel writes a CSV.
    fn padded_to(mut self, width: usize) -> SheetRow {
        match self.error {
            Some(error) => (self.number, Err(error)),
            None => {
                if self.cells.len() < width {
                    self.cells.resize(width, String::new());
                }
                (self.number, Ok(self.cells))
            }
        }
    }
}

/// A cell as the text a person would type for it.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) | Data::DateTimeIso(text) | Data::DurationIso(text) => text.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(x) => number_text(*x),
        Data::Bool(true) => "VERO".to_string(),
        Data::Bool(false) => "FALSO".to_string(),
        Data::DateTime(at) => match at.as_datetime() {
            Some(at) if at.time() == chrono::NaiveTime::MIN => at.format("%d/%m/%Y").to_string(),
            Some(at) if at.time().format("%S").to_string() == "00" => {
                at.format("%d/%m/%Y %H:%M").to_string()
            }
            Some(at) => at.format("%d/%m/%Y %H:%M:%S").to_string(),
            None => number_text(at.as_f64()),
        },
        Data::Error(error) => format!("#{error:?}"),
    }
}

/// A number as typed: `1234.0` is `1234`; never scientific notation (Rust's
/// `Display` for floats has none).
pub fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        x.to_string()
    }
}

/// Reads a roster from a workbook: the same validation as a CSV, with rows
/// numbered as in Excel and columns named by header and letter.
pub fn read_roster(
    path: &Path,
    file: &str,
    sheet: Option<&str>,
    progress: &mut dyn FnMut(usize),
    sinks: Sinks<'_, '_>,
) -> Result<ParsedRoster, ImportError> {
    read_sheet(path, file, sheet, |head, sheet_rows| {
        let mapping = columns::map_headers(head.header.iter().map(String::as_str));
        mapping.require(&head.source)?;
        let layout = SourceLayout {
            kind: SourceKind::Workbook {
                sheet: head.sheet.clone(),
            },
            header: Some(head.header.clone()),
            ..SourceLayout::default()
        };
        let expected = head.expected_rows;
        let mut rows = RowCollector::new(&mapping, &head.source, layout, expected, sinks);
        for row in sheet_rows {
            let (number, row) = row?;
            match row {
                Ok(cells) => {
                    let record = rows.slot();
                    record.clear();
                    for cell in &cells {
                        record.push_field(cell);
                    }
                    rows.keep(number);
                }
                Err(error) => rows.keep_unreadable(
                    number,
                    format!(
                        "{}: valore di errore {}",
                        column_name(&head.header, error.column),
                        error.value
                    ),
                ),
            }
            if rows.rows().is_multiple_of(PROGRESS_EVERY) {
                progress(rows.rows());
            }
        }
        let parsed = rows.finish();
        progress(parsed.rows_read);
        Ok(parsed)
    })
}

/// A column as a reject names it, with its letter too, as Excel shows it.
pub(super) fn name_column(header: &[String], field: &str) -> Option<String> {
    let i = header
        .iter()
        .position(|h| h == field || display_name(h) == *field)?;
    Some(column_name(header, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_as_excel_names_them() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn numbers_read_as_typed() {
        assert_eq!(number_text(1234.0), "1234");
        assert_eq!(number_text(393_471_234_567.0), "393471234567");
        assert_eq!(number_text(12.5), "12.5");
        assert_eq!(number_text(1e20), "100000000000000000000");
    }
}
