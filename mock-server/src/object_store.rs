//! The document store, in KV_global (`global.sqlite`): ciphertext chunks under their
//! SHA-256 (table `objects`) and one record per file upload (table `uploads`).
//!
//! An upload is paid once, by a storage token, when it is opened; then its chunks arrive in
//! any order, each checked against the id it claims (the SHA-256 of the bytes received:
//! the check actually runs, before anything is stored) and against the size its index must
//! have. Re-sending a stored chunk is free, so uploads resume; a chunk stored for one file
//! is shared with any other file that has it. When every chunk is there the upload is
//! complete and gets its verification token: reads need it, and a wrong token and a
//! missing file get the same answer.

use std::path::Path;
use std::sync::Mutex;

use protocol::encoding::b64;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::objects::{self, CHUNK_BYTES, Manifest, TAG_BYTES, UploadState, UploadStatus, chunk_count, chunk_len};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::clock::random_bytes;

/// Largest value in the `objects` table: one chunk's ciphertext (KV_global's value limit).
pub const MAX_OBJECT_BYTES: u64 = CHUNK_BYTES + TAG_BYTES;

/// One upload, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub size: u64,
    pub chunk_ids: Vec<Option<String>>,
    pub verification: Option<String>,
    /// µs since the Unix epoch.
    pub created: u64,
    /// The token that paid for it (its hash).
    pub paid_by: String,
}

impl UploadRecord {
    fn state(&self, file: &str) -> UploadState {
        let missing: Vec<u32> =
            self.chunk_ids.iter().enumerate().filter(|(_, c)| c.is_none()).map(|(i, _)| i as u32).collect();
        UploadState {
            file: file.to_owned(),
            size: self.size,
            chunks: self.chunk_ids.len() as u32,
            status: if missing.is_empty() { UploadStatus::Complete } else { UploadStatus::Open },
            missing,
            verification: self.verification.clone(),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("document store failure: {e}"))
}

fn bad_manifest(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadManifest, message)
}

/// The answer to reads of missing files and wrong verification tokens alike.
pub fn no_such_file() -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, "no such file, or the verification token does not match")
}

/// The document store.
pub struct ObjectStore {
    conn: Mutex<Connection>,
}

/// The ways an upload can be opened.
pub enum Opened {
    /// It exists (complete or open): nothing was paid.
    Existing(UploadState),
    /// It must be paid for with a token worth at least this many bytes.
    NeedsPayment(u64),
}

impl ObjectStore {
    pub fn open(path: &Path) -> Result<Self, String> {
        let conn = Connection::open(path).map_err(|e| e.to_string())?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS objects (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS uploads (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID;",
        )
        .map_err(|e| e.to_string())?;
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn record(conn: &Connection, file: &str) -> Result<Option<UploadRecord>, ErrorBody> {
        let raw: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM uploads WHERE key = ?1", params![file], |r| r.get(0))
            .optional()
            .map_err(internal)?;
        raw.map(|v| serde_json::from_slice(&v).map_err(internal)).transpose()
    }

    fn save(conn: &Connection, file: &str, record: &UploadRecord) -> Result<(), ErrorBody> {
        conn.execute(
            "INSERT OR REPLACE INTO uploads (key, value) VALUES (?1, ?2)",
            params![file, serde_json::to_vec(record).map_err(internal)?],
        )
        .map_err(internal)?;
        Ok(())
    }

    /// Checks an upload's declared shape.
    pub fn check_request(file: &str, size: u64) -> Result<(), ErrorBody> {
        if !objects::valid_file_id(file) {
            return Err(bad_manifest("the file id must be base64url of 32 bytes"));
        }
        if !objects::is_padded_size(size) {
            return Err(bad_manifest(format!("{size} is not a padded size (see the size buckets)")));
        }
        Ok(())
    }

    /// The existing upload of `file`, or what a new one must be paid.
    pub fn find(&self, file: &str, size: u64) -> Result<Opened, ErrorBody> {
        Self::check_request(file, size)?;
        let conn = self.conn.lock().map_err(internal)?;
        match Self::record(&conn, file)? {
            Some(r) if r.size != size => Err(bad_manifest("this file is already stored with another size")),
            Some(r) => Ok(Opened::Existing(r.state(file))),
            None => Ok(Opened::NeedsPayment(objects::stored_size(size))),
        }
    }

    /// Records a new, paid upload (or returns the one a concurrent request created, in
    /// which case the caller refunds its token).
    pub fn create(&self, file: &str, size: u64, paid_by: &str, now: u64) -> Result<(UploadState, bool), ErrorBody> {
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        if let Some(r) = Self::record(&tx, file)? {
            return Ok((r.state(file), false));
        }
        let record = UploadRecord {
            size,
            chunk_ids: vec![None; chunk_count(size) as usize],
            verification: None,
            created: now,
            paid_by: paid_by.to_owned(),
        };
        Self::save(&tx, file, &record)?;
        tx.commit().map_err(internal)?;
        Ok((record.state(file), true))
    }

    /// Stores chunk `index` of `file`, claimed to have id `id`.
    pub fn put_chunk(&self, file: &str, index: u32, id: &str, bytes: &[u8]) -> Result<UploadState, ErrorBody> {
        let actual = objects::chunk_id(bytes);
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        let Some(mut record) = Self::record(&tx, file)? else {
            return Err(bad_manifest("open the upload first (POST /api/uploads)"));
        };
        let count = record.chunk_ids.len() as u32;
        if index >= count {
            return Err(bad_manifest(format!("this file has {count} chunks")).with_limit(u64::from(count)));
        }
        let expected = chunk_len(record.size, index) + TAG_BYTES;
        if bytes.len() as u64 != expected {
            return Err(ErrorBody::new(ErrorCode::BadChunk, format!("chunk {index} must be {expected} bytes"))
                .with_limit(expected));
        }
        if actual != id {
            return Err(ErrorBody::new(ErrorCode::HashMismatch, "the chunk's SHA-256 is not the id it was sent under"));
        }
        match &record.chunk_ids[index as usize] {
            Some(stored) if stored == id => return Ok(record.state(file)),
            Some(_) => {
                return Err(bad_manifest(format!("chunk {index} of this file is already stored with other bytes")));
            }
            None => {}
        }
        tx.execute("INSERT OR IGNORE INTO objects (key, value) VALUES (?1, ?2)", params![id, bytes])
            .map_err(internal)?;
        record.chunk_ids[index as usize] = Some(id.to_owned());
        if record.chunk_ids.iter().all(Option::is_some) && record.verification.is_none() {
            record.verification = Some(b64(&random_bytes::<32>()));
        }
        Self::save(&tx, file, &record)?;
        tx.commit().map_err(internal)?;
        Ok(record.state(file))
    }

    /// The manifest of a complete file, if `verification` matches.
    pub fn manifest(&self, file: &str, verification: &str) -> Result<Manifest, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        let record = Self::record(&conn, file)?.ok_or_else(no_such_file)?;
        match &record.verification {
            Some(v) if crate::admin_secret::secrets_match(v, verification) => Ok(Manifest {
                file: file.to_owned(),
                size: record.size,
                chunks: record.chunk_ids.into_iter().map(Option::unwrap_or_default).collect(),
            }),
            _ => Err(no_such_file()),
        }
    }

    /// Chunk `index` of a complete file, if `verification` matches.
    pub fn chunk(&self, file: &str, index: u32, verification: &str) -> Result<Vec<u8>, ErrorBody> {
        let manifest = self.manifest(file, verification)?;
        let id = manifest.chunks.get(index as usize).ok_or_else(no_such_file)?;
        let conn = self.conn.lock().map_err(internal)?;
        conn.query_row("SELECT value FROM objects WHERE key = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(internal)?
            .ok_or_else(no_such_file)
    }

    /// Total bytes of stored chunks and their count.
    pub fn stored_bytes(&self) -> Result<(u64, u64), ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        conn.query_row("SELECT COALESCE(SUM(LENGTH(value)), 0), COUNT(*) FROM objects", [], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
        })
        .map_err(internal)
    }

    /// Deletes open uploads created before `older_than` and every chunk no upload
    /// references; returns (uploads removed, chunks removed, bytes freed).
    pub fn collect_garbage(&self, older_than: u64, dry_run: bool) -> Result<(u64, u64, u64), ErrorBody> {
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        let uploads: Vec<(String, UploadRecord)> = {
            let mut stmt = tx.prepare("SELECT key, value FROM uploads").map_err(internal)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .map_err(internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            rows.into_iter()
                .map(|(k, v)| Ok((k, serde_json::from_slice(&v).map_err(internal)?)))
                .collect::<Result<_, ErrorBody>>()?
        };
        let mut keep = std::collections::HashSet::new();
        let mut abandoned = 0;
        for (file, record) in &uploads {
            let complete = record.chunk_ids.iter().all(Option::is_some);
            if !complete && record.created < older_than {
                abandoned += 1;
                if !dry_run {
                    tx.execute("DELETE FROM uploads WHERE key = ?1", params![file]).map_err(internal)?;
                }
                continue;
            }
            keep.extend(record.chunk_ids.iter().flatten().cloned());
        }
        let chunks: Vec<(String, i64)> = {
            let mut stmt = tx.prepare("SELECT key, LENGTH(value) FROM objects").map_err(internal)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(internal)?;
            rows.collect::<Result<_, _>>().map_err(internal)?
        };
        let (mut removed, mut freed) = (0, 0);
        for (id, len) in chunks.into_iter().filter(|(id, _)| !keep.contains(id)) {
            removed += 1;
            freed += len as u64;
            if !dry_run {
                tx.execute("DELETE FROM objects WHERE key = ?1", params![id]).map_err(internal)?;
            }
        }
        tx.commit().map_err(internal)?;
        Ok((abandoned, removed, freed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_of_every_bucket_are_accepted() {
        // Regression: the bucket of files of 2 GiB − 7 to 2 GiB was refused.
        let file = protocol::encoding::b64(&[1; 32]);
        for len in [0, 5_000_000, objects::MAX_FILE_BYTES] {
            let size = objects::padded_size(len).unwrap();
            assert!(ObjectStore::check_request(&file, size).is_ok(), "{len} → {size}");
        }
        for size in [0, 8, 4095, objects::padded_size(objects::MAX_FILE_BYTES).unwrap() + 1, u64::MAX] {
            assert!(ObjectStore::check_request(&file, size).is_err(), "{size}");
        }
    }
}
