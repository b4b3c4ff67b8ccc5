//! Roster import: CSV files into validated members plus a list of rejected rows,
//! then into the store in one transaction.

mod columns;

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::codice_fiscale::CodiceFiscale;
use crate::domain::{Member, contact};
use crate::store::{MemberUpsert, Store, StoreError};
pub use columns::Field;

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
    #[error("{file}: il file non è testo UTF-8 (riga {line}); salvarlo come \"CSV UTF-8\"")]
    NotUtf8 { file: String, line: u64 },
    #[error("{file}: mancano le colonne obbligatorie: {}", missing.join(", "))]
    MissingColumns { file: String, missing: Vec<String> },
    #[error("{file}, riga {line}: {message}")]
    Csv {
        file: String,
        line: u64,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 1-based line of the file where the row starts.
    pub line: u64,
    /// The column at fault, as the file names it, when one is.
    pub field: Option<String>,
    pub reason: String,
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

/// A roster file read and validated, not yet stored.
#[derive(Debug, Clone, Default)]
pub struct ParsedRoster {
    /// The file's name, for messages.
    pub source: String,
    pub rows_read: usize,
    pub members: Vec<Member>,
    pub rejects: Vec<Reject>,
    /// Columns that map to no roster field: ignored, listed in the summary.
    pub unknown_columns: Vec<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportSummary {
    pub source: String,
    pub rows_read: usize,
    pub stored: MemberUpsert,
    pub rejects: Vec<Reject>,
    pub unknown_columns: Vec<String>,
}

/// Reads and validates a roster CSV file.
pub fn read_file(path: &Path) -> Result<ParsedRoster, ImportError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        file: file.clone(),
        source,
    })?;
    parse_csv(&bytes, &file)
}

/// Picks the delimiter that splits the header line into the most columns.
fn sniff_delimiter(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    [b';', b',', b'\t']
        .into_iter()
        .max_by_key(|d| header.bytes().filter(|b| b == d).count())
        .unwrap_or(b';')
}

/// Parses and validates a roster CSV (UTF-8, with or without BOM, header row).
pub fn parse_csv(bytes: &[u8], source: &str) -> Result<ParsedRoster, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::NotUtf8 {
        file: source.to_string(),
        line: 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64,
    })?;
    if text.trim().is_empty() {
        return Err(ImportError::Empty {
            file: source.to_string(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sniff_delimiter(text))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_error = |e: csv::Error| ImportError::Csv {
        file: source.to_string(),
        line: e.position().map(|p| p.line()).unwrap_or(1),
        message: e.to_string(),
    };
    let headers = reader.headers().map_err(csv_error)?.clone();
    let mapping = columns::map_headers(headers.iter());
    if !mapping.missing.is_empty() {
        return Err(ImportError::MissingColumns {
            file: source.to_string(),
            missing: mapping
                .missing
                .iter()
                .map(|f| f.label().to_string())
                .collect(),
        });
    }
    let mut parsed = ParsedRoster {
        source: source.to_string(),
        unknown_columns: mapping.unknown.clone(),
        ..ParsedRoster::default()
    };
    // Line numbers from byte offsets: the csv crate's own count is off by one on
    // CRLF files (a record there starts at the '\n' of the previous line's
    // terminator), and staff find rows in Excel by line.
    let newlines: Vec<usize> = memchr_newlines(text.as_bytes());
    let line_of = |byte: u64| 1 + newlines.partition_point(|&n| (n as u64) <= byte) as u64;
    let mut seen_cf: HashMap<String, u64> = HashMap::new();
    let mut seen_pec: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken record (e.g. unterminated quote) rejects that row only.
                let line = e.position().map(|p| line_of(p.byte())).unwrap_or(0);
                parsed.rows_read += 1;
                parsed.rejects.push(Reject {
                    line,
                    field: None,
                    reason: format!("riga CSV non leggibile: {e}"),
                });
                continue;
            }
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        parsed.rows_read += 1;
        let line = record.position().map(|p| line_of(p.byte())).unwrap_or(0);
        let get = |field: Field| {
            mapping
                .index
                .get(&field)
                .and_then(|&i| record.get(i))
                .unwrap_or_default()
        };
        let header_of = |field: Field| {
            mapping
                .index
                .get(&field)
                .and_then(|&i| headers.get(i))
                .unwrap_or(field.label())
                .to_string()
        };
        match validate_row(&get) {
            Ok(member) => {
                if let Some(first) = seen_cf.get(&member.codice_fiscale) {
                    parsed.rejects.push(Reject {
                        line,
                        field: Some(header_of(Field::CodiceFiscale)),
                        reason: format!("codice fiscale già presente alla riga {first}"),
                    });
                } else if let Some(first) = seen_pec.get(&member.pec) {
                    parsed.rejects.push(Reject {
                        line,
                        field: Some(header_of(Field::Pec)),
                        reason: format!("indirizzo PEC già presente alla riga {first}"),
                    });
                } else {
                    seen_cf.insert(member.codice_fiscale.clone(), line);
                    seen_pec.insert(member.pec.clone(), line);
                    parsed.members.push(member);
                }
            }
            Err((field, reason)) => parsed.rejects.push(Reject {
                line,
                field: Some(header_of(field)),
                reason,
            }),
        }
    }
    Ok(parsed)
}

fn memchr_newlines(bytes: &[u8]) -> Vec<usize> {
    bytes
        .iter()
        .enumerate()
        .filter_map(|(i, &b)| (b == b'\n').then_some(i))
        .collect()
}

/// Accepts `dd/mm/yyyy`, `d/m/yyyy` and `yyyy-mm-dd`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    ["%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(text, f).ok())
}

type RowError = (Field, String);

fn validate_row<'a>(get: &dyn Fn(Field) -> &'a str) -> Result<Member, RowError> {
    let required = |field: Field| -> Result<String, RowError> {
        let value = get(field);
        if value.is_empty() {
            Err((field, "valore obbligatorio mancante".to_string()))
        } else {
            Ok(value.to_string())
        }
    };
    let optional = |field: Field| Some(get(field)).filter(|v| !v.is_empty());
    let date = |field: Field| -> Result<Option<NaiveDate>, RowError> {
        optional(field)
            .map(|v| {
                parse_date(v).ok_or_else(|| {
                    (
                        field,
                        format!("data non valida \"{v}\" (atteso gg/mm/aaaa)"),
                    )
                })
            })
            .transpose()
    };
    let cognome = required(Field::Cognome)?;
    let nome = required(Field::Nome)?;
    let codice_fiscale = CodiceFiscale::parse(&required(Field::CodiceFiscale)?)
        .map_err(|e| (Field::CodiceFiscale, e.to_string()))?
        .to_string();
    let pec = contact::normalize_email(&required(Field::Pec)?)
        .map_err(|e| (Field::Pec, e.to_string()))?;
    let email_servizio = optional(Field::EmailServizio)
        .map(contact::normalize_email)
        .transpose()
        .map_err(|e| (Field::EmailServizio, e.to_string()))?;
    let cellulare = optional(Field::Cellulare)
        .map(contact::normalize_mobile)
        .transpose()
        .map_err(|e| (Field::Cellulare, e.to_string()))?;
    Ok(Member {
        numero_iscrizione: get(Field::NumeroIscrizione).to_string(),
        cognome,
        nome,
        codice_fiscale,
        data_nascita: date(Field::DataNascita)?,
        data_iscrizione: date(Field::DataIscrizione)?,
        pec,
        email_servizio,
        cellulare,
        provincia: optional(Field::Provincia).map(str::to_uppercase),
    })
}

/// Stores a parsed roster (one transaction) and returns the summary.
pub fn store_roster(
    store: &mut Store,
    parsed: ParsedRoster,
    operator: &str,
    at: DateTime<Utc>,
) -> Result<ImportSummary, ImportError> {
    let source_name = Path::new(&parsed.source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| parsed.source.clone());
    let stored = store.upsert_members(&parsed.members, operator, &source_name, at)?;
    Ok(ImportSummary {
        source: parsed.source,
        rows_read: parsed.rows_read,
        stored,
        rejects: parsed.rejects,
        unknown_columns: parsed.unknown_columns,
    })
}

#[cfg(test)]
mod tests;
