//! The document store, in KV_global (`global.sqlite`): ciphertext chunks under their
//! SHA-256 (table `objects`) and one record per file upload (table `uploads`).
//!
//! Opening an upload needs its `read_check`, which must name the file id (so only someone
//! who has the content, or a handle, learns anything about it). An upload is paid by a
//! storage token when it is opened, and the payer registers `put_check`, the hash of a put
//! secret only its browser holds; every chunk PUT must carry a payer's secret (compared in
//! constant time), or it is refused before anything is looked at. Chunks arrive in any
//! order, each checked against the id it claims (the SHA-256 of the bytes received: the
//! check actually runs, before anything is stored) and against the size its index must
//! have. Re-sending a stored chunk is free, so uploads resume; a chunk stored for one file
//! is shared with any other file that has it.
//!
//! Another browser with the content may pay again to become a later payer: each chunk
//! records which payer sent it, and a payer may replace a chunk only if an *earlier*
//! payer sent it (never its own, never a later payer's). That is how an honest uploader
//! repairs an upload that someone filled with junk (see `docs/SECURITY.md`).
//!
//! Reads present the read proof, which the store checks by recomputing the file id; files
//! stored under v1 ids keep their random verification token and stay readable with it. A
//! wrong proof and a missing file get the same answer.

use std::path::Path;
use std::sync::Mutex;

use crate::db_schema::{Database, Durability};
use protocol::encoding::{b64, unb64_array};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::object_proofs::{self, PutSecret, ReadProof};
use protocol::objects::{self, CHUNK_BYTES, Manifest, TAG_BYTES, UploadState, UploadStatus, chunk_count, chunk_len};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

/// Largest value in the `objects` table: one chunk's ciphertext (KV_global's value limit).
pub const MAX_OBJECT_BYTES: u64 = CHUNK_BYTES + TAG_BYTES;

/// One payer of an upload, in the order they paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerRecord {
    /// base64url of `SHA-256(put secret)`.
    pub put_check: String,
    /// The hash of the token it paid with.
    pub paid_by: String,
}

/// One upload, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub size: u64,
    pub chunk_ids: Vec<Option<String>>,
    /// v1 uploads only: the random token that reads it (v2 reads prove the content).
    pub verification: Option<String>,
    /// µs since the Unix epoch.
    pub created: u64,
    /// The token that paid for it first (its hash).
    pub paid_by: String,
    /// v2: who may PUT chunks, in the order they paid (empty for v1 uploads).
    #[serde(default)]
    pub payers: Vec<PayerRecord>,
    /// v2: per chunk, the index in `payers` of the payer that sent it.
    #[serde(default)]
    pub sent_by: Vec<Option<u32>>,
}

impl UploadRecord {
    fn state(&self, file: &str, put_check: Option<&[u8; 32]>) -> UploadState {
        let missing: Vec<u32> =
            self.chunk_ids.iter().enumerate().filter(|(_, c)| c.is_none()).map(|(i, _)| i as u32).collect();
        UploadState {
            file: file.to_owned(),
            size: self.size,
            chunks: self.chunk_ids.len() as u32,
            status: if missing.is_empty() { UploadStatus::Complete } else { UploadStatus::Open },
            missing,
            stored: self.chunk_ids.clone(),
            payer: put_check.is_some_and(|c| self.payer_index(c).is_some()),
        }
    }

    /// The index of the payer whose `put_check` is `check`; every payer is compared, in
    /// constant time each.
    fn payer_index(&self, check: &[u8; 32]) -> Option<u32> {
        let mut found = None;
        for (i, p) in self.payers.iter().enumerate() {
            let stored = unb64_array::<32>(&p.put_check).unwrap_or([0; 32]);
            if object_proofs::same_32(&stored, check) && found.is_none() {
                found = Some(i as u32);
            }
        }
        found
    }

    fn complete(&self) -> bool {
        self.chunk_ids.iter().all(Option::is_some)
    }
}

/// How a reader proves it may read a file.
pub enum ReadProofGiven<'a> {
    /// v2: base64url of `read` (the `x-cloakroom-read` header).
    Read(&'a str),
    /// v1: the verification token (`?v=`).
    Verification(&'a str),
}

/// What paying for an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paid {
    /// The upload is new; the payer is its first.
    Created,
    /// The payer joined an existing upload (it may replace chunks earlier payers sent).
    Joined,
    /// This put check already pays for the upload: the token was not needed.
    AlreadyPayer,
}

fn internal(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("document store failure: {e}"))
}

fn bad_manifest(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadManifest, message)
}

/// The answer to reads of missing files and wrong read proofs alike.
pub fn no_such_file() -> ErrorBody {
    ErrorBody::new(ErrorCode::NotFound, "no such file, or the read proof does not match")
}

/// The answer to chunk PUTs without a payer's put secret (whether or not the upload exists).
pub fn not_a_payer() -> ErrorBody {
    ErrorBody::new(ErrorCode::Forbidden, "only a payer of this upload may send its chunks (x-cloakroom-put)")
}

/// The answer to opening an upload without a `read_check` that names its file id.
pub fn bad_read_proof() -> ErrorBody {
    ErrorBody::new(ErrorCode::BadReadProof, "read_check does not name this file id")
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
        let conn =
            crate::db_schema::open(path, Database::Global, Durability::Normal, true).map_err(|e| e.to_string())?;
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

    /// Checks an upload's declared shape and its read check (before anything is looked up).
    pub fn check_request(file: &str, size: u64, read_check: Option<&str>) -> Result<(), ErrorBody> {
        if !objects::valid_file_id(file) {
            return Err(bad_manifest("the file id must be base64url of 32 bytes"));
        }
        if !read_check.is_some_and(|c| object_proofs::read_check_opens(file, c)) {
            return Err(bad_read_proof());
        }
        if !objects::is_padded_size(size) {
            return Err(bad_manifest(format!("{size} is not a padded size (see the size buckets)")));
        }
        Ok(())
    }

    /// The existing upload of `file` (its state; `payer` tells whether `put_check` pays for
    /// it), or what a new one must be paid. The caller checked the request
    /// ([`Self::check_request`]).
    pub fn find(&self, file: &str, size: u64, put_check: Option<&[u8; 32]>) -> Result<Opened, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        match Self::record(&conn, file)? {
            Some(r) if r.size != size => Err(bad_manifest("this file is already stored with another size")),
            Some(r) => Ok(Opened::Existing(r.state(file, put_check))),
            None => Ok(Opened::NeedsPayment(objects::stored_size(size))),
        }
    }

    /// Registers `put_check` as a payer of `file` (a token for the stored size was spent):
    /// creates the upload, or joins it as its latest payer. When `put_check` already pays
    /// for it (a retried request, a race), nothing changes and the caller refunds.
    pub fn pay(
        &self,
        file: &str,
        size: u64,
        put_check: &[u8; 32],
        paid_by: &str,
        now: u64,
    ) -> Result<(UploadState, Paid), ErrorBody> {
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        let payer = PayerRecord { put_check: b64(put_check), paid_by: paid_by.to_owned() };
        let (record, paid) = match Self::record(&tx, file)? {
            Some(r) if r.size != size => return Err(bad_manifest("this file is already stored with another size")),
            Some(r) if r.payer_index(put_check).is_some() => {
                return Ok((r.state(file, Some(put_check)), Paid::AlreadyPayer));
            }
            Some(mut r) => {
                if r.sent_by.len() != r.chunk_ids.len() {
                    r.sent_by = vec![None; r.chunk_ids.len()];
                }
                r.payers.push(payer);
                (r, Paid::Joined)
            }
            None => {
                let count = chunk_count(size) as usize;
                let record = UploadRecord {
                    size,
                    chunk_ids: vec![None; count],
                    verification: None,
                    created: now,
                    paid_by: paid_by.to_owned(),
                    payers: vec![payer],
                    sent_by: vec![None; count],
                };
                (record, Paid::Created)
            }
        };
        Self::save(&tx, file, &record)?;
        tx.commit().map_err(internal)?;
        Ok((record.state(file, Some(put_check)), paid))
    }

    /// Stores chunk `index` of `file`, claimed to have id `id`, sent with `put_secret`
    /// (base64url, from the `x-cloakroom-put` header).
    pub fn put_chunk(
        &self,
        file: &str,
        index: u32,
        id: &str,
        put_secret: Option<&str>,
        bytes: &[u8],
    ) -> Result<UploadState, ErrorBody> {
        let check = put_secret.and_then(PutSecret::parse).ok_or_else(not_a_payer)?.check();
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        let mut record = Self::record(&tx, file)?.ok_or_else(not_a_payer)?;
        let me = record.payer_index(&check).ok_or_else(not_a_payer)?;
        let count = record.chunk_ids.len() as u32;
        if index >= count {
            return Err(bad_manifest(format!("this file has {count} chunks")).with_limit(u64::from(count)));
        }
        let expected = chunk_len(record.size, index) + TAG_BYTES;
        if bytes.len() as u64 != expected {
            return Err(ErrorBody::new(ErrorCode::BadChunk, format!("chunk {index} must be {expected} bytes"))
                .with_limit(expected));
        }
        if objects::chunk_id(bytes) != id {
            return Err(ErrorBody::new(ErrorCode::HashMismatch, "the chunk's SHA-256 is not the id it was sent under"));
        }
        let slot = index as usize;
        if record.sent_by.len() != record.chunk_ids.len() {
            record.sent_by = vec![None; record.chunk_ids.len()];
        }
        match &record.chunk_ids[slot] {
            Some(stored) if stored == id => return Ok(record.state(file, Some(&check))),
            // Replacing what an earlier payer sent: how an honest uploader repairs junk.
            Some(_) if record.sent_by[slot].is_some_and(|sender| sender < me) => {}
            Some(_) => {
                return Err(bad_manifest(format!("chunk {index} of this file is already stored with other bytes")));
            }
            None => {}
        }
        tx.execute("INSERT OR IGNORE INTO objects (key, value) VALUES (?1, ?2)", params![id, bytes])
            .map_err(internal)?;
        record.chunk_ids[slot] = Some(id.to_owned());
        record.sent_by[slot] = Some(me);
        Self::save(&tx, file, &record)?;
        tx.commit().map_err(internal)?;
        Ok(record.state(file, Some(&check)))
    }

    /// The manifest of a complete file, if the proof reads it: a v2 read proof that names
    /// the file id (checked before the store is touched), or a v1 record's verification.
    pub fn manifest(&self, file: &str, proof: &ReadProofGiven<'_>) -> Result<Manifest, ErrorBody> {
        if let ReadProofGiven::Read(read) = proof
            && !ReadProof::parse(read).is_some_and(|r| r.reads(file))
        {
            return Err(no_such_file());
        }
        let conn = self.conn.lock().map_err(internal)?;
        let record = Self::record(&conn, file)?.ok_or_else(no_such_file)?;
        let allowed = match proof {
            ReadProofGiven::Read(_) => record.verification.is_none(),
            ReadProofGiven::Verification(given) => {
                record.verification.as_deref().is_some_and(|v| crate::admin_secret::secrets_match(v, given))
            }
        };
        if !allowed || !record.complete() {
            return Err(no_such_file());
        }
        Ok(Manifest {
            file: file.to_owned(),
            size: record.size,
            chunks: record.chunk_ids.into_iter().map(Option::unwrap_or_default).collect(),
        })
    }

    /// Chunk `index` of a complete file, if the proof reads it.
    pub fn chunk(&self, file: &str, index: u32, proof: &ReadProofGiven<'_>) -> Result<Vec<u8>, ErrorBody> {
        let manifest = self.manifest(file, proof)?;
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
            if !record.complete() && record.created < older_than {
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
        let read = ReadProof::derive(&[1; 32]);
        let (file, check) = (read.file_id(), protocol::encoding::b64(&read.check()));
        for len in [0, 5_000_000, objects::MAX_FILE_BYTES] {
            let size = objects::padded_size(len).unwrap();
            assert!(ObjectStore::check_request(&file, size, Some(&check)).is_ok(), "{len} → {size}");
        }
        for size in [0, 8, 4095, objects::padded_size(objects::MAX_FILE_BYTES).unwrap() + 1, u64::MAX] {
            assert!(ObjectStore::check_request(&file, size, Some(&check)).is_err(), "{size}");
        }
    }
}
