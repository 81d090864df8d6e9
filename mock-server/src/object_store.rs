//! The document store, in KV_global (`global.sqlite`): ciphertext chunks under their
//! SHA-256 (table `objects`) and one record per file upload (table `uploads`). Every rule
//! (who pays, which chunk is accepted, who reads) is [`api_core::uploads`]'s, the same as
//! on the edge; this is the SQLite around it: each call reads the record and writes what
//! the rule hands back inside one `IMMEDIATE` transaction.

use std::path::Path;
use std::sync::Mutex;

use crate::db_schema::{Database, Durability};
use api_core::uploads::{self, ChunkAccepted};
pub use api_core::uploads::{MAX_OBJECT_BYTES, Opened, Paid, ReadProofGiven, ReadProofText, UploadRecord};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::objects::{Manifest, UploadState};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

fn internal(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("document store failure: {e}"))
}

/// The document store.
pub struct ObjectStore {
    conn: Mutex<Connection>,
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
        raw.map(|v| UploadRecord::decode(&v)).transpose()
    }

    fn save(conn: &Connection, file: &str, record: &UploadRecord) -> Result<(), ErrorBody> {
        conn.execute("INSERT OR REPLACE INTO uploads (key, value) VALUES (?1, ?2)", params![file, record.encode()?])
            .map_err(internal)?;
        Ok(())
    }

    /// Checks an upload's declared shape and its read check (before anything is looked up).
    pub fn check_request(file: &str, size: u64, read_check: Option<&str>) -> Result<(), ErrorBody> {
        uploads::check_request(file, size, read_check)
    }

    /// The existing upload of `file` (its state; `payer` tells whether `put_check` pays for
    /// it), or what a new one must be paid. The caller checked the request
    /// ([`Self::check_request`]).
    pub fn find(&self, file: &str, size: u64, put_check: Option<&[u8; 32]>) -> Result<Opened, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        uploads::find(Self::record(&conn, file)?.as_ref(), file, size, put_check)
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
        let (record, state, paid) = uploads::pay(Self::record(&tx, file)?, file, size, put_check, paid_by, now)?;
        if let Some(record) = record {
            Self::save(&tx, file, &record)?;
            tx.commit().map_err(internal)?;
        }
        Ok((state, paid))
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
        let check = uploads::put_check_of(put_secret)?;
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        let record = Self::record(&tx, file)?;
        let id_of_bytes = || protocol::objects::chunk_id(bytes);
        match uploads::accept_chunk(record, file, index, id, &check, bytes.len() as u64, id_of_bytes)? {
            ChunkAccepted::AlreadyStored(state) => Ok(state),
            ChunkAccepted::Store { record, state } => {
                tx.execute("INSERT OR IGNORE INTO objects (key, value) VALUES (?1, ?2)", params![id, bytes])
                    .map_err(internal)?;
                Self::save(&tx, file, &record)?;
                tx.commit().map_err(internal)?;
                Ok(state)
            }
        }
    }

    /// The manifest of a complete file, if the proof reads it: a v2 read proof that names
    /// the file id (checked before the store is touched), or a v1 record's verification.
    pub fn manifest(&self, file: &str, proof: &ReadProofGiven<'_>) -> Result<Manifest, ErrorBody> {
        uploads::proof_names_file(file, proof)?;
        let conn = self.conn.lock().map_err(internal)?;
        uploads::manifest(Self::record(&conn, file)?, file, proof)
    }

    /// Chunk `index` of a complete file, if the proof reads it.
    pub fn chunk(&self, file: &str, index: u32, proof: &ReadProofGiven<'_>) -> Result<Vec<u8>, ErrorBody> {
        let manifest = self.manifest(file, proof)?;
        let id = manifest.chunks.get(index as usize).ok_or_else(uploads::no_such_file)?;
        let conn = self.conn.lock().map_err(internal)?;
        conn.query_row("SELECT value FROM objects WHERE key = ?1", params![id], |r| r.get(0))
            .optional()
            .map_err(internal)?
            .ok_or_else(uploads::no_such_file)
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
            rows.into_iter().map(|(k, v)| Ok((k, UploadRecord::decode(&v)?))).collect::<Result<_, ErrorBody>>()?
        };
        let mut keep = std::collections::HashSet::new();
        let mut abandoned = 0;
        for (file, record) in &uploads {
            if record.abandoned(older_than) {
                abandoned += 1;
                if !dry_run {
                    tx.execute("DELETE FROM uploads WHERE key = ?1", params![file]).map_err(internal)?;
                }
                continue;
            }
            keep.extend(record.referenced_chunks().cloned());
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
