//! Workbooks (`.xlsx`, `.xls`, `.ods`, read with calamine): one sheet's
//! rows turned into the same text cells a CSV gives, so that rosters and
//! mailbox reports go through their usual readers. Typed cells are read as a
//! secretary's workbook holds them: dates as dates, whole numbers without
//! `.0` (a numero iscrizione `1234.0`, a mobile `3471234567`), never in
//! scientific notation; formulas as their cached values. Rows are numbered
//! as Excel numbers them and columns named by letter.

use std::path::Path;

use calamine::{Data, Reader, open_workbook_auto};

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

/// One sheet's rows as text.
pub struct SheetRows {
    /// "file, foglio NAME", for messages.
    pub source: String,
    pub sheet: String,
    pub header: Vec<String>,
    /// Each non-empty row after the header: Excel row number and cells, or
    /// the first cell holding an error value (`#N/A`, ...).
    pub rows: Vec<(u64, Result<Vec<String>, CellError>)>,
}

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

/// Reads the sheet named `sheet` (any case), or the first one.
pub fn read_sheet(path: &Path, file: &str, sheet: Option<&str>) -> Result<SheetRows, ImportError> {
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
    let range = workbook
        .worksheet_range(&name)
        .map_err(|e| unreadable(e.to_string()))?;
    let source = format!("{file}, foglio {name}");
    // Row numbers as Excel shows them: the range starts at its first used cell.
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    let lead = first_col as usize;
    let mut rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| (u64::from(first_row) + i as u64 + 1, cells))
        .filter(|(_, cells)| cells.iter().any(|c| !cell_text(c).trim().is_empty()));
    let Some((_, header_cells)) = rows.next() else {
        return Err(ImportError::Empty { file: source });
    };
    // Columns left of the used range are empty: keep them, so that letters
    // and positions stay those of the sheet.
    let pad = |cells: &[Data]| -> Vec<String> {
        std::iter::repeat_n(String::new(), lead)
            .chain(cells.iter().map(cell_text))
            .collect()
    };
    let header = pad(header_cells);
    let rows = rows
        .map(|(number, cells)| {
            let error = cells.iter().position(|c| matches!(c, Data::Error(_)));
            let row = match error {
                Some(i) => Err(CellError {
                    column: lead + i,
                    value: cell_text(&cells[i]),
                }),
                None => Ok(pad(cells)),
            };
            (number, row)
        })
        .collect();
    Ok(SheetRows {
        source,
        sheet: name,
        header,
        rows,
    })
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
    let sheet_rows = read_sheet(path, file, sheet)?;
    let mapping = columns::map_headers(sheet_rows.header.iter().map(String::as_str));
    mapping.require(&sheet_rows.source)?;
    let layout = SourceLayout {
        kind: SourceKind::Workbook {
            sheet: sheet_rows.sheet.clone(),
        },
        header: Some(sheet_rows.header.clone()),
        ..SourceLayout::default()
    };
    let expected = sheet_rows.rows.len();
    let mut rows = RowCollector::new(&mapping, &sheet_rows.source, layout, expected, sinks);
    for (number, row) in &sheet_rows.rows {
        match row {
            Ok(cells) => {
                let record = rows.slot();
                record.clear();
                for cell in cells {
                    record.push_field(cell);
                }
                rows.keep(*number);
            }
            Err(error) => rows.keep_unreadable(
                *number,
                format!(
                    "{}: valore di errore {}",
                    column_name(&sheet_rows.header, error.column),
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
