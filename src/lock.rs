//! Exclusive locks next to the store, so that two processes never run the same
//! kind of work at once (two cron runs, or cron and the console).

use std::fs::File;
use std::path::{Path, PathBuf};

/// Another run holds the lock.
#[derive(Debug, thiserror::Error)]
#[error(
    "un'altra esecuzione di \"{job}\" è in corso su questo archivio ({lock}); riprovare più tardi"
)]
pub struct AlreadyRunning {
    pub job: String,
    pub lock: PathBuf,
}

/// An exclusive lock on `<store>.<job>.lock`, held until dropped. The OS
/// releases it if the process dies, so a crash never leaves it stuck.
#[derive(Debug)]
pub struct JobLock {
    _file: File,
}

pub fn lock(store_path: &Path, job: &str) -> anyhow::Result<JobLock> {
    try_lock(store_path, job).map_err(|e| match e {
        LockError::Busy(busy) => busy.into(),
        LockError::Io(io) => io.into(),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    Busy(#[from] AlreadyRunning),
    #[error("impossibile creare il file di blocco: {0}")]
    Io(#[from] std::io::Error),
}

pub fn try_lock(store_path: &Path, job: &str) -> Result<JobLock, LockError> {
    let lock = store_path.with_extension(format!("{job}.lock"));
    // A store shared by a group shares its locks: the lock gets the store's
    // mode (0660 or 0600), past the umask, or a colleague could not take it.
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(store_path).map_or(0o600, |m| m.permissions().mode() & 0o660)
    };
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let file = options.open(&lock)?;
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        if let Ok(meta) = file.metadata()
            // SAFETY: geteuid cannot fail.
            && meta.uid() == unsafe { libc::geteuid() }
            && meta.mode() & 0o777 != mode
        {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
        }
    }
    match file.try_lock() {
        Ok(()) => Ok(JobLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(AlreadyRunning {
            job: job.to_string(),
            lock,
        }
        .into()),
        Err(std::fs::TryLockError::Error(e)) => Err(e.into()),
    }
}
