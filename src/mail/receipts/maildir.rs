//! Receipts from a local Maildir (the demo's, or a mailbox fetched by other
//! means). The messages in `new/` and `cur/` not read before are read, and
//! nothing is moved, renamed or deleted: the store remembers each file read
//! (by the unique part of its name, which a change of flags keeps), so a
//! round costs what arrived since, and the receipts' keys keep what was
//! stored from repeating.

use std::path::Path;

use super::{Fetched, Ingest, ReadError, ReadSummary};
use crate::store::{ReadProgress, Store};

/// Messages stored per transaction.
const BATCH: usize = 500;

pub fn read(store_path: &Path, dir: &Path) -> Result<ReadSummary, ReadError> {
    let mut store = Store::open(store_path)?;
    let source = format!("maildir:{}", dir.display());
    let seen = store.maildir_seen(&source)?;
    let mut ingest = Ingest::new(&mut store, source.clone());
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
            if !name.starts_with('.')
                && !seen.contains(unique_part(&name))
                && entry.file_type().is_ok_and(|t| t.is_file())
            {
                names.push((sub, name));
            }
        }
    }
    // Oldest first: Maildir names begin with the delivery time.
    names.sort_by(|a, b| a.1.cmp(&b.1));
    for chunk in names.chunks(BATCH) {
        let mut batch = Vec::with_capacity(chunk.len());
        let mut read = Vec::with_capacity(chunk.len());
        for (sub, name) in chunk {
            let path = dir.join(sub).join(name);
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let unique = unique_part(name).to_string();
                    batch.push(Fetched {
                        location: format!("maildir:{unique}"),
                        bytes,
                    });
                    read.push(unique);
                }
                // Moved from new/ to cur/ by someone else meanwhile: read next time.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ReadError::Maildir { path, source }),
            }
        }
        ingest.batch(batch, Some(ReadProgress::Files(&source, &read)))?;
    }
    Ok(ingest.summary)
}

/// The part of a Maildir name that stays when its flags (after `:`) change.
fn unique_part(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}
