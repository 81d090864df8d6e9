//! The offline CLI: batch, scriptable commands on a data directory while the server is
//! stopped (they take the data directory's lock and refuse to run next to a live server).
//!
//! Exit codes (also in docs/CLI.md): 0 success, 1 failure, 2 usage error (clap),
//! 3 the data directory is in use, 4 something named does not exist, 5 the data is
//! invalid or a check failed.

pub mod args;
pub mod audit;
pub mod backup;
pub mod gc;
pub mod init;
pub mod room_info;
pub mod run;
pub mod sso;
pub mod tokens;

use std::path::Path;
use std::process::ExitCode;

use crate::data_lock::{self, DataLock, LockError};

/// A CLI failure: a sentence for the operator and the exit code that classifies it.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

impl CliError {
    pub fn failed(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 1 }
    }
    pub fn in_use(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 3 }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 4 }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 5 }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        Self::failed(message)
    }
}

/// Checks that `data_dir` is a Cloakroom data directory and locks it.
pub fn open_data_dir(data_dir: &Path) -> Result<DataLock, CliError> {
    if !data_dir.is_dir() {
        return Err(CliError::not_found(format!("{} is not a directory", data_dir.display())));
    }
    data_lock::lock(data_dir).map_err(|e| match e {
        LockError::Busy => CliError::in_use(e.to_string()),
        LockError::Io(_) => CliError::failed(e.to_string()),
    })
}
