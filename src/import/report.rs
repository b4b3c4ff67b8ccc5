//! The import summary as staff read it (Italian text) and as scripts read it (JSON).

use std::fmt::Write;

use serde_json::{Value, json};

use super::{ImportSummary, SourceKind};

impl ImportSummary {
    /// One JSON object: counts, rejects with line, field and reason, ignored
    /// columns, and for a dry run the changes it would make.
    pub fn to_json(&self) -> Value {
        let format = match &self.layout.kind {
            SourceKind::Csv => "csv",
            SourceKind::IniPec => "inipec",
            SourceKind::Sqlite { .. } => "sqlite",
            SourceKind::Workbook { .. } => "workbook",
        };
        // A database has a table, a text file a delimiter.
        let (table, delimiter) = match &self.layout.kind {
            SourceKind::Sqlite { table } => (Some(table.as_str()), None),
            _ => (None, Some((self.layout.delimiter as char).to_string())),
        };
        json!({
            "file": self.source,
            "format": format,
            "table": table,
            "encoding": self.layout.encoding.name(),
            "delimiter": delimiter,
            "dry_run": self.dry_run,
            "full_roster": self.full_roster,
            "read": self.rows_read,
            "new": self.stored.new,
            "updated": self.stored.updated,
            "unchanged": self.stored.unchanged,
            "removed": self.stored.removed,
            "rejected": self.rejected,
            // The first REJECTS_KEPT; --rejects FILE.csv has them all.
            "rejects": self.rejects.iter().map(|r| json!({
                "line": r.line,
                "field": r.field,
                "reason": r.reason,
            })).collect::<Vec<_>>(),
            "unknown_columns": self.unknown_columns,
            "changes": self.changes,
        })
    }

    /// The summary in Italian, listing at most `max_rejects` rejects and
    /// `max_rejects` changes.
    pub fn render(&self, max_rejects: usize) -> String {
        let mut out = String::new();
        let s = &self.stored;
        let _ = writeln!(out, "Importazione di {} ({})", self.source, self.layout);
        if self.dry_run {
            let _ = writeln!(
                out,
                "  SIMULAZIONE (--dry-run): l'archivio non è stato modificato"
            );
        }
        if !self.full_roster {
            let why = if self.layout.rejects_file {
                "file di righe scartate"
            } else {
                "--partial"
            };
            let _ = writeln!(
                out,
                "  import parziale ({why}): chi manca dal file resta com'è"
            );
        }
        let _ = writeln!(out, "  righe lette:  {}", self.rows_read);
        let _ = writeln!(out, "  nuovi:        {}", s.new);
        let _ = writeln!(out, "  aggiornati:   {}", s.updated);
        let _ = writeln!(out, "  invariati:    {}", s.unchanged);
        let _ = writeln!(out, "  rimossi:      {}", s.removed);
        let _ = writeln!(out, "  scartate:     {}", self.rejected);
        for reject in self.rejects.iter().take(max_rejects) {
            let _ = writeln!(out, "    {}, {reject}", self.source);
        }
        if self.rejected > max_rejects {
            let _ = writeln!(
                out,
                "    ... e altre {} (--rejects FILE.csv le scrive tutte)",
                self.rejected - max_rejects
            );
        }
        if !self.unknown_columns.is_empty() {
            let _ = writeln!(
                out,
                "  colonne ignorate: {}",
                self.unknown_columns.join(", ")
            );
        }
        if !self.changes.is_empty() {
            let _ = writeln!(out, "  modifiche:");
            for change in self.changes.iter().take(max_rejects) {
                let _ = writeln!(
                    out,
                    "    {} ({}): {}",
                    change.name,
                    change.codice_fiscale,
                    change.fields.join(", ")
                );
            }
            // A streamed dry run keeps the first changes; the counts have them all.
            let total = self.changes.len().max(s.updated + s.removed);
            if total > max_rejects {
                let listed = if total > self.changes.len() {
                    format!("--json elenca le prime {}", self.changes.len())
                } else {
                    "--json le elenca tutte".to_string()
                };
                let _ = writeln!(out, "    ... e altre {} ({listed})", total - max_rejects);
            }
        }
        out
    }
}
