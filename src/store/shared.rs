//! Who may read the store: its owner only, or a Unix group of colleagues
//! each working under their own account. A store that anyone else on the
//! machine can read is refused.
//!
//! SQLite creates the `-wal` and `-shm` files with the database file's mode
//! (it sets it explicitly, past the umask) and, run by root, its owner; their
//! group is the creating process's, unless the directory is set-group-id, so
//! a group store lives in a directory owned by the group with mode 2770.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What is wrong with the store's permissions, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(
        "{path} è leggibile da tutti gli utenti (permessi {mode:o}): contiene dati personali. \
         Per correggere: chmod o-rwx {fix}"
    )]
    ReadableByOthers {
        path: PathBuf,
        mode: u32,
        fix: String,
    },
    #[error("il gruppo \"{0}\" non esiste (crearlo con: groupadd {0})")]
    NoSuchGroup(String),
    #[error("impossibile assegnare {path} al gruppo {group}: {source}")]
    Chown {
        path: PathBuf,
        group: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How a store is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreMode {
    /// 0600: one account.
    Private,
    /// 0660 for the group with this name.
    Group(String),
}

/// The store's own files: the database, its WAL and its shared memory.
pub(crate) fn store_files(path: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with("-wal"), with("-shm")]
}

/// Refuses a store whose files others (not owner, not group) can read or write.
pub fn check_store_mode(path: &Path) -> Result<(), AccessError> {
    let files = store_files(path);
    let mut loose = Vec::new();
    let mut first_mode = 0;
    for file in &files {
        match std::fs::metadata(file) {
            Ok(meta) if meta.mode() & 0o007 != 0 => {
                if loose.is_empty() {
                    first_mode = meta.mode() & 0o777;
                }
                loose.push(file.display().to_string());
            }
            _ => {}
        }
    }
    if loose.is_empty() {
        return Ok(());
    }
    Err(AccessError::ReadableByOthers {
        path: path.to_path_buf(),
        mode: first_mode,
        fix: loose.join(" "),
    })
}

/// The mode and group a new file beside the store gets (a backup, a restored
/// store): the store's own.
pub(crate) fn copy_mode(from: &Path, to: &Path) -> Result<(), AccessError> {
    let io = |source| AccessError::Io {
        path: to.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(from).map_err(io)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o770))
        .map_err(io)?;
    if meta.gid() != std::fs::metadata(to).map_err(io)?.gid() {
        // Best effort: only a member of the group (or root) may do it.
        let _ = std::os::unix::fs::chown(to, None, Some(meta.gid()));
    }
    Ok(())
}

/// Creates a store shared by the Unix group `group`: its directory (when
/// pecdesk creates it) owned by the group, mode 2770, so that the WAL and
/// shared-memory files SQLite creates inherit the group; the database file
/// 0660, owned by the group. Then opens and migrates it.
pub fn create_group_store(path: &Path, group: &str) -> super::Result<super::Store> {
    let gid = crate::identity::group_id(group)
        .ok_or_else(|| AccessError::NoSuchGroup(group.to_string()))?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AccessError::Io {
            path: path.clone(),
            source,
        }
    };
    let chown = |file: &Path| {
        std::os::unix::fs::chown(file, None, Some(gid)).map_err(|source| AccessError::Chown {
            path: file.to_path_buf(),
            group: group.to_string(),
            source,
        })
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        chown(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o2770)).map_err(io(dir))?;
    }
    for file in store_files(path) {
        if file.exists() {
            chown(&file)?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o660))
                .map_err(io(&file))?;
        }
    }
    if !path.exists() {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o660);
        options.open(path).map_err(io(path))?;
        // The umask may have taken the group's bits away.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io(path))?;
        chown(path)?;
    }
    super::Store::open(path)
}

impl super::Store {
    /// How the store's file is shared.
    pub fn mode(&self) -> StoreMode {
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.mode() & 0o060 != 0 => StoreMode::Group(
                crate::identity::group_name(meta.gid()).unwrap_or_else(|| meta.gid().to_string()),
            ),
            _ => StoreMode::Private,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_readable_by_others_is_refused_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        drop(super::super::Store::open(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = super::super::Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("chmod o-rwx"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        super::super::Store::open(&path).unwrap();
    }
}
