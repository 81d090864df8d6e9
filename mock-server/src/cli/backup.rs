//! `mock-server backup` and `mock-server restore`: the whole data directory, copied
//! consistently (every SQLite database through `VACUUM INTO`, so the copy includes what
//! sat in its WAL), with a manifest of SHA-256 sums that `restore` checks before it copies
//! anything back.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cli::{CliError, open_data_dir};

const MANIFEST: &str = "backup-manifest.json";

/// One file of a backup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path relative to the data directory.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// What a backup directory holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created_us: u64,
    pub files: Vec<ManifestFile>,
}

fn hash_file(path: &Path) -> Result<(u64, String), CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::failed(format!("cannot read {}: {e}", path.display())))?;
    Ok((bytes.len() as u64, protocol::encoding::b64(&Sha256::digest(&bytes))))
}

/// Files of a data directory worth keeping (databases and keys; not locks or WAL files).
fn data_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for name in ["admin-secret", "ledger.pub", "ledger.key", "global.sqlite"] {
        if data_dir.join(name).is_file() {
            out.push(PathBuf::from(name));
        }
    }
    for entry in std::fs::read_dir(data_dir.join("rooms")).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".sqlite") {
            out.push(Path::new("rooms").join(name));
        }
    }
    out.sort();
    out
}

fn empty_or_missing(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true)
}

/// Copies `data_dir` into the new directory `to`.
pub fn backup(data_dir: &Path, to: &Path) -> Result<Manifest, CliError> {
    let _lock = open_data_dir(data_dir)?;
    if !empty_or_missing(to) {
        return Err(CliError::failed(format!("{} exists and is not empty", to.display())));
    }
    std::fs::create_dir_all(to.join("rooms"))
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", to.display())))?;
    let mut files = Vec::new();
    for rel in data_files(data_dir) {
        let (src, dst) = (data_dir.join(&rel), to.join(&rel));
        if rel.extension().is_some_and(|x| x == "sqlite") {
            let conn = Connection::open(&src).map_err(|e| CliError::invalid(format!("{}: {e}", src.display())))?;
            conn.execute("VACUUM INTO ?1", [dst.to_string_lossy().as_ref()])
                .map_err(|e| CliError::failed(format!("cannot copy {}: {e}", src.display())))?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| CliError::failed(format!("cannot copy {}: {e}", src.display())))?;
        }
        let (bytes, sha256) = hash_file(&dst)?;
        files.push(ManifestFile { path: rel.to_string_lossy().into_owned(), bytes, sha256 });
    }
    let manifest = Manifest { format: "cloakroom-data-backup/1".into(), created_us: crate::clock::now_micros(), files };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| CliError::failed(e.to_string()))?;
    std::fs::write(to.join(MANIFEST), json).map_err(|e| CliError::failed(format!("cannot write the manifest: {e}")))?;
    Ok(manifest)
}

/// Checks the backup in `from` and copies it into the empty (or new) `data_dir`.
pub fn restore(from: &Path, data_dir: &Path) -> Result<Manifest, CliError> {
    let raw = std::fs::read(from.join(MANIFEST))
        .map_err(|_| CliError::not_found(format!("{} is not a backup (no {MANIFEST})", from.display())))?;
    let manifest: Manifest =
        serde_json::from_slice(&raw).map_err(|e| CliError::invalid(format!("bad manifest: {e}")))?;
    for f in &manifest.files {
        if f.path.contains("..") || Path::new(&f.path).is_absolute() {
            return Err(CliError::invalid(format!("the manifest names a path outside the backup: {}", f.path)));
        }
        let (bytes, sha256) = hash_file(&from.join(&f.path))?;
        if bytes != f.bytes || sha256 != f.sha256 {
            return Err(CliError::invalid(format!("{} does not match the manifest: the backup is damaged", f.path)));
        }
    }
    if !empty_or_missing(data_dir) {
        return Err(CliError::failed(format!("{} is not empty: restore into a new directory", data_dir.display())));
    }
    std::fs::create_dir_all(data_dir.join("rooms"))
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", data_dir.display())))?;
    let _lock = open_data_dir(data_dir)?;
    for f in &manifest.files {
        let dst = data_dir.join(&f.path);
        std::fs::copy(from.join(&f.path), &dst)
            .map_err(|e| CliError::failed(format!("cannot copy {}: {e}", f.path)))?;
        if f.path.ends_with(".sqlite") {
            let ok: String = Connection::open(&dst)
                .and_then(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
                .map_err(|e| CliError::invalid(format!("{}: {e}", f.path)))?;
            if ok != "ok" {
                return Err(CliError::invalid(format!("{} fails SQLite's integrity check: {ok}", f.path)));
            }
        }
    }
    Ok(manifest)
}
