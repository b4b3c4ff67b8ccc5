//! Receipts from a local Maildir (the demo's, or a mailbox fetched by other
//! means). Every message in `new/` and `cur/` is read and nothing is moved,
//! renamed or deleted: the receipts' keys keep what was stored from
//! repeating.

use std::path::Path;

use super::{Fetched, Ingest, ReadError, ReadSummary};
use crate::store::Store;

/// Messages stored per transaction.
const BATCH: usize = 500;

pub fn read(store_path: &Path, dir: &Path) -> Result<ReadSummary, ReadError> {
    let mut store = Store::open(store_path)?;
    let mut ingest = Ingest::new(&mut store, format!("maildir:{}", dir.display()));
    let mut names = Vec::new();
    for sub in ["new", "cur"] {
        let folder = dir.join(sub);
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(ReadError::Maildir {
                    path: folder,
                    source,
                });
            }
        };
        for entry in entries {
            let entry = entry.map_err(|source| ReadError::Maildir {
                path: folder.clone(),
                source,
            })?;
            let name = entry.file_name().to_string_lossy().to_string();
            // Dot files are a delivery agent's work in progress.
            if !name.starts_with('.') && entry.file_type().is_ok_and(|t| t.is_file()) {
                names.push((sub, name));
            }
        }
    }
    // Oldest first: Maildir names begin with the delivery time.
    names.sort_by(|a, b| a.1.cmp(&b.1));
    for chunk in names.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        for (sub, name) in chunk {
            let path = dir.join(sub).join(name);
            match std::fs::read(&path) {
                Ok(bytes) => batch.push(Fetched {
                    // The unique part of the name: flags after ':' change.
                    location: format!("maildir:{}", name.split(':').next().unwrap_or(name)),
                    bytes,
                }),
                // Moved from new/ to cur/ by someone else meanwhile: read next time.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ReadError::Maildir { path, source }),
            }
        }
        ingest.batch(batch, None)?;
    }
    Ok(ingest.summary)
}
