//! `mock-server gc`: removes uploads abandoned before completion (older than a cut-off) and
//! every stored chunk no remaining upload references.

use std::path::Path;

use crate::cli::{CliError, open_data_dir};
use crate::clock::now_micros;
use crate::object_store::ObjectStore;

/// What a collection removed (or would remove, in a dry run).
#[derive(Debug, serde::Serialize)]
pub struct Collected {
    pub abandoned_uploads: u64,
    pub chunks: u64,
    pub bytes: u64,
    pub dry_run: bool,
}

pub fn run(data_dir: &Path, older_than_days: u64, dry_run: bool) -> Result<Collected, CliError> {
    let _lock = open_data_dir(data_dir)?;
    let store = ObjectStore::open(&data_dir.join("global.sqlite"))?;
    let cutoff = now_micros().saturating_sub(older_than_days * 86_400 * 1_000_000);
    let (abandoned_uploads, chunks, bytes) =
        store.collect_garbage(cutoff, dry_run).map_err(|e| CliError::failed(e.message))?;
    Ok(Collected { abandoned_uploads, chunks, bytes, dry_run })
}
