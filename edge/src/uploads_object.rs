//! The document store on the edge: upload records in SQLite-backed Durable Objects, the
//! encrypted chunks in R2 (binding `CHUNKS`, strongly consistent) under their SHA-256 id.
//! Every rule is [`api_core::uploads`]'s, the same as mock-server's.
//!
//! Records are sharded by the first character of the file id (`uploads-<c>`, 64 objects),
//! so no object carries every upload and the offline audit can enumerate them. One
//! object runs one event at a time; a rule's read and the write it hands back run in one
//! `transactionSync` with no await between, so two requests for one upload never both
//! win. Across an await (the ledger's spend, an R2 write) other events may run, so the
//! record is read again and the rule run again after it:
//!
//! - paying: the ledger spends the token, then [`uploads::pay`] runs on the record as it is
//!   now (a payer that won meanwhile makes this payment unneeded, and it is refunded:
//!   `room_core::funding`'s rule);
//! - a chunk: [`uploads::accept_chunk`] decides, the bytes go to R2 under their id (the
//!   same bytes for any file that has them), then the rule runs again and the record is
//!   written. A chunk in R2 whose record write lost the race is only unreferenced bytes.
//!
//! The Worker ([`crate::front`]) forwards the store's calls here unchanged, and reads
//! chunk bytes from R2 itself once this object has answered with the file's manifest.

use api_core::uploads::{self, ChunkAccepted, Opened, Paid, ReadProofText, UploadRecord};
use protocol::encoding::unb64_array;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::object_proofs::{PUT_HEADER, READ_HEADER};
use protocol::objects::{self, Manifest, UploadRequest, UploadState};
use protocol::storage_token;
use room_core::funding::{Funded, Payment, Step, Used};
use worker::{DurableObject, Env, Method, Request, Response, Result, SqlStorageValue, State, durable_object};

use crate::answer::{MAX_API_BODY, json, read_body, refusal};
use crate::ledger_object;
use crate::runtime::now;

/// The R2 binding holding the chunks.
pub const CHUNKS: &str = "CHUNKS";

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS uploads (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID";

/// The first characters of file ids that have a shard of their own (base64url); anything
/// else shares the shard `.`.
const SHARD_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

/// Every shard's name, for what must see all upload records (garbage collection).
pub fn all_shards() -> impl Iterator<Item = String> {
    SHARD_CHARS.chars().map(|c| format!("uploads-{c}"))
}

/// The shard of file `file`'s record.
pub fn shard(file: &str) -> String {
    let c = file.chars().next().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').unwrap_or('.');
    format!("uploads-{c}")
}

/// The object holding file `file`'s record.
pub fn stub(env: &Env, file: &str) -> Result<worker::Stub> {
    shard_stub(env, &shard(file))
}

/// The object of shard `name`.
pub fn shard_stub(env: &Env, name: &str) -> Result<worker::Stub> {
    env.durable_object("UPLOADS")?.id_from_name(name)?.get_stub()
}

/// What one shard's collection did: the abandoned records it removed (or would remove),
/// and the chunk ids its remaining records keep alive.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ShardCollected {
    pub abandoned: u64,
    pub referenced: Vec<String>,
}

/// The internal path of a shard's collection (never routed from outside: the Worker
/// forwards only the store's API paths).
pub const COLLECT_PATH: &str = "/~collect";

fn internal(what: &str, e: impl std::fmt::Display) -> ErrorBody {
    worker::console_error!("{what}: {e}");
    ErrorBody::new(ErrorCode::Internal, format!("{what}; nothing was changed"))
}

/// The proof a read presents: the `x-cloakroom-read` header (v2), else `?v=` (v1), else
/// an empty proof that reads nothing.
pub fn read_proof(req: &Request) -> Result<ReadProofText> {
    let v = req.url()?.query_pairs().find(|(k, _)| k == "v").map(|(_, v)| v.into_owned());
    Ok(ReadProofText::from_request(req.headers().get(READ_HEADER)?, v))
}

#[durable_object]
pub struct UploadsObject {
    state: State,
    env: Env,
}

impl UploadsObject {
    fn record(&self, file: &str) -> std::result::Result<Option<UploadRecord>, ErrorBody> {
        let sql = self.state.storage().sql();
        sql.exec(CREATE_TABLE, None).map_err(|e| internal("cannot open the upload records", e))?;
        let cursor = sql
            .exec("SELECT value FROM uploads WHERE key = ?", vec![SqlStorageValue::String(file.into())])
            .map_err(|e| internal("cannot read an upload record", e))?;
        for row in cursor.raw() {
            if let Some(SqlStorageValue::Blob(v)) =
                row.map_err(|e| internal("cannot read an upload record", e))?.into_iter().next()
            {
                return UploadRecord::decode(&v).map(Some);
            }
        }
        Ok(None)
    }

    fn save(&self, file: &str, record: &UploadRecord) -> std::result::Result<(), ErrorBody> {
        let value = record.encode()?;
        self.state
            .storage()
            .sql()
            .exec(
                "INSERT OR REPLACE INTO uploads (key, value) VALUES (?, ?)",
                vec![SqlStorageValue::String(file.into()), SqlStorageValue::Blob(value)],
            )
            .map_err(|e| internal("cannot store an upload record", e))?;
        Ok(())
    }

    /// Removes the records abandoned before `older_than` (µs; none in a dry run) in one
    /// transaction, and lists the chunks the others reference.
    fn collect(&self, older_than: u64, dry_run: bool) -> std::result::Result<ShardCollected, ErrorBody> {
        crate::sql_kv::in_transaction(&self.state.storage(), || {
            let sql = self.state.storage().sql();
            sql.exec(CREATE_TABLE, None).map_err(|e| internal("cannot open the upload records", e))?;
            let cursor = sql
                .exec("SELECT key, value FROM uploads", None)
                .map_err(|e| internal("cannot read the upload records", e))?;
            let mut records = Vec::new();
            for row in cursor.raw() {
                let row = row.map_err(|e| internal("cannot read an upload record", e))?;
                if let [SqlStorageValue::String(file), SqlStorageValue::Blob(value)] = row.as_slice() {
                    records.push((file.clone(), UploadRecord::decode(value)?));
                }
            }
            let mut collected = ShardCollected { abandoned: 0, referenced: Vec::new() };
            for (file, record) in records {
                if record.abandoned(older_than) {
                    collected.abandoned += 1;
                    if !dry_run {
                        sql.exec("DELETE FROM uploads WHERE key = ?", vec![SqlStorageValue::String(file)])
                            .map_err(|e| internal("cannot remove an abandoned upload", e))?;
                    }
                } else {
                    collected.referenced.extend(record.referenced_chunks().cloned());
                }
            }
            Ok(collected)
        })
    }

    /// `POST /api/uploads`: find the upload, or pay to be its (next) payer.
    async fn open(&self, mut req: Request) -> std::result::Result<UploadState, ErrorBody> {
        let body = read_body(&mut req, MAX_API_BODY).await.map_err(|e| internal("cannot read the request", e))??;
        let req: UploadRequest = serde_json::from_slice(&body)
            .map_err(|e| ErrorBody::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")))?;
        // The read check first: without it nothing is looked up, so nothing is learnt.
        uploads::check_request(&req.file, req.size, req.read_check.as_deref())?;
        let put_check =
            match &req.put_check {
                Some(c) => Some(unb64_array::<32>(c).map_err(|_| {
                    ErrorBody::new(ErrorCode::MalformedRequest, "put_check must be base64url of 32 bytes")
                })?),
                None => None,
            };
        if req.token.is_some() && put_check.is_none() {
            return Err(ErrorBody::new(ErrorCode::MalformedRequest, "paying for an upload needs a put_check"));
        }
        let (file, size) = (req.file.as_str(), req.size);
        let needed = match uploads::find(self.record(file)?.as_ref(), file, size, put_check.as_ref())? {
            // Already a payer, or only looking: nothing to pay.
            Opened::Existing(state) if state.payer || req.token.is_none() => return Ok(state),
            Opened::Existing(state) => objects::stored_size(state.size),
            Opened::NeedsPayment(needed) => needed,
        };
        let (Some(token), Some(put_check)) = (req.token.as_deref(), put_check) else {
            return Err(ErrorBody::new(
                ErrorCode::TokenRequired,
                format!("storing this file needs a storage token worth {needed} bytes"),
            )
            .with_limit(needed));
        };
        let hash = storage_token::token_hash(&storage_token::parse_token(token)?);
        // Spend, pay, and give the token back if paying failed or was not needed.
        let mut funded = Funded::new(Payment::object(file, hash.clone(), needed));
        loop {
            match funded.step() {
                Step::Spend { hash, min_bytes, purpose } => {
                    let (hash, purpose) = (hash.to_owned(), purpose.to_owned());
                    funded.spent(ledger_object::spend_token(&self.env, &hash, min_bytes, &purpose).await);
                }
                Step::Run { .. } => {
                    let paid = crate::sql_kv::in_transaction(&self.state.storage(), || {
                        let (record, state, paid) =
                            uploads::pay(self.record(file)?, file, size, &put_check, &hash, now().0)?;
                        if let Some(record) = record {
                            self.save(file, &record)?;
                        }
                        Ok((state, if paid == Paid::AlreadyPayer { Used::NotNeeded } else { Used::Yes }))
                    });
                    funded.ran(paid);
                }
                Step::Refund { hash } => {
                    let hash = hash.to_owned();
                    let refunded = ledger_object::refund_token(&self.env, &hash).await;
                    if let Err(e) = &refunded {
                        worker::console_error!(
                            "could not refund a token after a failed or unneeded upload payment: {e}"
                        );
                    }
                    funded.refunded(refunded);
                }
                Step::Done => return funded.finish(),
            }
        }
    }

    /// `PUT /api/uploads/{file}/chunks/{index}/{id}`: one encrypted chunk from a payer.
    async fn put_chunk(
        &self,
        mut req: Request,
        file: &str,
        index: u32,
        id: &str,
    ) -> std::result::Result<UploadState, ErrorBody> {
        let secret = req.headers().get(PUT_HEADER).ok().flatten();
        // Not a payer: refused before the body is read or anything is looked at.
        let check = uploads::put_check_of(secret.as_deref())?;
        let body = read_body(&mut req, uploads::MAX_OBJECT_BYTES as usize)
            .await
            .map_err(|e| internal("cannot read the chunk", e))??;
        let len = body.len() as u64;
        let decided =
            uploads::accept_chunk(self.record(file)?, file, index, id, &check, len, || objects::chunk_id(&body))?;
        if let ChunkAccepted::AlreadyStored(state) = decided {
            return Ok(state);
        }
        let bucket = self.env.bucket(CHUNKS).map_err(|e| internal("no chunk store", e))?;
        bucket.put(id, body).execute().await.map_err(|e| internal("cannot store the chunk", e))?;
        // Other events may have run during the write: decide again on the record as it is.
        crate::sql_kv::in_transaction(&self.state.storage(), || {
            match uploads::accept_chunk(self.record(file)?, file, index, id, &check, len, || id.to_owned())? {
                ChunkAccepted::AlreadyStored(state) => Ok(state),
                ChunkAccepted::Store { record, state } => {
                    self.save(file, &record)?;
                    Ok(state)
                }
            }
        })
    }

    /// `GET /api/files/{file}`: the manifest of a complete file, for the right proof.
    fn manifest(&self, req: &Request, file: &str) -> std::result::Result<Manifest, ErrorBody> {
        let proof = read_proof(req).map_err(|e| internal("cannot read the request", e))?;
        uploads::proof_names_file(file, &proof.given())?;
        uploads::manifest(self.record(file)?, file, &proof.given())
    }
}

impl DurableObject for UploadsObject {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let answer = match (req.method(), parts.as_slice()) {
            (Method::Post, ["api", "uploads"]) => self.open(req).await.map(|s| json(&s)),
            (Method::Put, ["api", "uploads", file, "chunks", index, id]) => match index.parse::<u32>() {
                Ok(index) => {
                    let (file, id) = (file.to_string(), id.to_string());
                    self.put_chunk(req, &file, index, &id).await.map(|s| json(&s))
                }
                Err(_) => Err(ErrorBody::new(ErrorCode::MalformedRequest, "the chunk index must be a number")),
            },
            (Method::Get, ["api", "files", file, ..]) => self.manifest(&req, file).map(|m| json(&m)),
            (Method::Post, ["~collect"]) => {
                let url = req.url()?;
                let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
                match query("older_than").and_then(|v| v.parse::<u64>().ok()) {
                    Some(older_than) => self.collect(older_than, query("dry_run").is_some()).map(|c| json(&c)),
                    None => Err(ErrorBody::new(ErrorCode::MalformedRequest, "older_than (µs) is needed")),
                }
            }
            _ => Err(ErrorBody::new(ErrorCode::NotFound, "no such API endpoint")),
        };
        match answer {
            Ok(response) => response,
            Err(e) => refusal(e),
        }
    }
}
