//! One user of a data directory at a time: the server holds an exclusive `flock` on
//! `<data dir>/.lock` while it runs, and every offline CLI command takes the same lock,
//! so the CLI never works on a directory a live server is writing (and the other way
//! round). The lock dies with the process, also on `kill -9`.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Held for as long as it lives.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process (a running server, or another CLI command) holds it.
    Busy,
    Io(std::io::Error),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Busy => {
                f.write_str("another process (a running server?) is using this data directory; stop it first")
            }
            LockError::Io(e) => write!(f, "cannot lock the data directory: {e}"),
        }
    }
}

/// Takes the lock of `data_dir` without waiting.
pub fn lock(data_dir: &Path) -> Result<DataLock, LockError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(".lock"))
        .map_err(LockError::Io)?;
    // SAFETY: flock(2) on a descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        return Err(if err.raw_os_error() == Some(libc::EWOULDBLOCK) { LockError::Busy } else { LockError::Io(err) });
    }
    Ok(DataLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        assert!(matches!(lock(dir.path()), Err(LockError::Busy)));
        drop(first);
        assert!(lock(dir.path()).is_ok());
    }
}
