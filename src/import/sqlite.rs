//! SQLite databases of other programs: one table's rows, mapped by column name
//! like a CSV header. Opened read-only; never written.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::columns;
use super::text::PROGRESS_EVERY;
use super::validate::{RowCollector, Sinks};
use super::{ImportError, ParsedRoster, SourceKind, SourceLayout};

/// The first 16 bytes of every SQLite 3 database file.
pub const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Reads the rows of `table` (or of the only table) of the database at `path`.
pub fn read_sqlite(
    path: &Path,
    source: &str,
    table: Option<&str>,
    progress: &mut dyn FnMut(usize),
    sinks: Sinks<'_, '_>,
) -> Result<ParsedRoster, ImportError> {
    let sql_err = |e: rusqlite::Error| ImportError::Sqlite {
        file: source.to_string(),
        source: e,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err)?;
    let (tables, views) = table_names(&conn).map_err(sql_err)?;
    let table = match (table, tables.as_slice()) {
        (Some(wanted), _) => tables
            .iter()
            .chain(&views)
            .find(|t| t.eq_ignore_ascii_case(wanted))
            .cloned()
            .ok_or_else(|| ImportError::NoSuchTable {
                file: source.to_string(),
                table: wanted.to_string(),
                tables: tables.iter().chain(&views).cloned().collect(),
            })?,
        // Views are only read when named: they are often reports, not the albo.
        (None, [only]) => only.clone(),
        (None, _) => {
            return Err(ImportError::TableRequired {
                file: source.to_string(),
                tables: tables.iter().chain(&views).cloned().collect(),
            });
        }
    };
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM \"{}\"", table.replace('"', "\"\"")))
        .map_err(sql_err)?;
    let header: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let mapping = columns::map_headers(header.iter().map(String::as_str));
    mapping.require(&format!("{source}, tabella {table}"))?;
    let layout = SourceLayout {
        kind: SourceKind::Sqlite {
            table: table.clone(),
        },
        header: Some(header),
        ..SourceLayout::default()
    };
    let mut rows = RowCollector::new(&mapping, source, layout, 0, sinks);
    let columns = stmt.column_count();
    let mut cursor = stmt.query([]).map_err(sql_err)?;
    // "Line" of a table row: its position, 1 for the first row.
    let mut position = 0u64;
    while let Some(row) = cursor.next().map_err(sql_err)? {
        position += 1;
        let record = rows.slot();
        record.clear();
        let mut unreadable = None;
        for i in 0..columns {
            match row.get_ref(i).map_err(sql_err)? {
                ValueRef::Null => record.push_field(""),
                ValueRef::Integer(n) => record.push_field(&n.to_string()),
                ValueRef::Real(x) => record.push_field(&real_text(x)),
                ValueRef::Text(bytes) | ValueRef::Blob(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => record.push_field(text),
                    Err(_) => {
                        unreadable.get_or_insert(i);
                        record.push_field("");
                    }
                },
            }
        }
        match unreadable {
            None if record.iter().all(|f| f.trim().is_empty()) => continue,
            None => rows.keep(position),
            Some(i) => rows.keep_unreadable(
                position,
                format!(
                    "colonna \"{}\": valore non testuale",
                    columns::display_name(&mapping.names[i])
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

/// The database's tables, then its views, by name.
fn table_names(conn: &Connection) -> rusqlite::Result<(Vec<String>, Vec<String>)> {
    let names = |kind: &str| -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_schema
             WHERE type = ?1 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
             ORDER BY name",
        )?;
        let rows = stmt.query_map([kind], |r| r.get(0))?;
        rows.collect()
    };
    Ok((names("table")?, names("view")?))
}

/// A number stored as REAL, as a person would type it: 1234.0 is "1234".
fn real_text(x: f64) -> String {
    super::workbook::number_text(x)
}
