//! Uploading a file: one pass to hash it (the convergent key, the read proof and the id
//! come from its content), then, for each chunk the server does not have yet, read →
//! encrypt (WebCrypto AES-GCM) → name (SHA-256) → upload with this page's put secret, two
//! chunks at a time ([`lanes`]). At most two chunks are in memory at once.
//!
//! When the server already has the upload (complete, or stopped part way), the chunks it
//! holds are not trusted blindly: a verify pass encrypts them again (without sending) and
//! compares their ids with the stored ones. If any differ (someone else filled them with
//! other bytes), this browser pays once more, with a fresh put secret, to become the
//! upload's latest payer and sends its own chunks over them. An upload that stops
//! (network, cancel) resumes in the same page: the server says which chunks are missing,
//! and the put secret that paid still pays ([`put_secrets`]). A dropped connection is
//! retried for about 30 s ([`retry`]) before the upload fails.
//!
//! [`retry`]: crate::net::retry
//! [`lanes`]: crate::files::lanes
//! [`put_secrets`]: crate::files::put_secrets

use std::cell::{Cell, RefCell};

use js_sys::Uint8Array;
use protocol::encoding::b64;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::IdentityKey;
use protocol::ids::RoomId;
use protocol::object_proofs::{PutSecret, ReadProof};
use protocol::objects::{self, FileHandle, ObjectKeys, UploadState, UploadStatus};

use crate::crypto::webcrypto;
use crate::files::lanes::{self, Queue};
use crate::files::put_secrets;
use crate::files::source::Source;
use crate::files::transfers::TransferHandle;
use crate::net::{api, explain, retry};

/// Why an upload stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadError {
    Cancelled,
    Failed(String),
}

impl std::fmt::Display for UploadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadError::Cancelled => f.write_str("cancelled"),
            UploadError::Failed(why) => f.write_str(why),
        }
    }
}

fn failed(why: impl std::fmt::Display) -> UploadError {
    UploadError::Failed(why.to_string())
}

/// Why a request of the upload `t` did not go through: the user cancelled, the connection
/// did not come back (the upload can resume), or the server refused.
fn stopped(t: &TransferHandle, e: ErrorBody) -> UploadError {
    if t.cancelled() {
        UploadError::Cancelled
    } else if retry::is_transient(&e) {
        failed(format!("{} Share the file again to resume where it stopped.", retry::GAVE_UP))
    } else {
        failed(explain::describe(&e))
    }
}

/// Encrypts chunk `index` of `count` of a file (WebCrypto AES-256-GCM, the index bound in
/// the nonce and the AAD) and names it by the SHA-256 of the result.
pub async fn seal_chunk(
    key: &web_sys::CryptoKey,
    file_id: &str,
    index: u32,
    count: u32,
    plain: &Uint8Array,
) -> Result<(String, Uint8Array), String> {
    let aad = objects::chunk_aad(file_id, index, count);
    let sealed =
        webcrypto::aes_gcm_encrypt(key, &objects::chunk_nonce(index), &aad, plain).await.map_err(|e| e.to_string())?;
    let id = b64(&webcrypto::sha256(&sealed).await.map_err(|e| e.to_string())?);
    Ok((id, sealed))
}

/// Watching a pass: cancel between chunks, report progress in file bytes.
pub struct Watch<'a> {
    pub cancelled: &'a dyn Fn() -> bool,
    pub progress: &'a dyn Fn(u64),
}

impl Watch<'_> {
    /// Nobody watches (the benchmark).
    pub const NONE: Watch<'static> = Watch { cancelled: &|| false, progress: &|_| () };
}

/// The first pass, as the file's (v2) id and key.
pub async fn content_keys(source: &Source, padded: u64, watch: &Watch<'_>) -> Result<ObjectKeys, UploadError> {
    Ok(objects::derive(&content_hash(source, padded, watch).await?))
}

/// The first pass: hashes each chunk of the padded content (two lanes) and combines the
/// chunk hashes into the content hash, from which the file's id, key and read proof derive.
pub async fn content_hash(source: &Source, padded: u64, watch: &Watch<'_>) -> Result<[u8; 32], UploadError> {
    let count = objects::chunk_count(padded);
    let queue = Queue::new((0..count).collect());
    let hashes = RefCell::new(vec![[0u8; 32]; count as usize]);
    let done = Cell::new(0u64);
    lanes::run(|| {
        let (queue, hashes, done) = (&queue, &hashes, &done);
        async move {
            while let Some(index) = queue.take() {
                if (watch.cancelled)() {
                    return Err(UploadError::Cancelled);
                }
                let chunk = source.padded_chunk(padded, index).await.map_err(failed)?;
                let hash = webcrypto::sha256(&chunk).await.map_err(failed)?;
                hashes.borrow_mut()[index as usize] = hash;
                done.set(done.get() + objects::chunk_len(padded, index));
                (watch.progress)(done.get().min(source.size()));
            }
            Ok(())
        }
    })
    .await?;
    Ok(objects::content_hash(&hashes.into_inner()))
}

/// The second pass: reads, seals and names each chunk of `indexes` (two lanes) and hands
/// it to `sink` (which uploads it, or drops it in the benchmark).
pub async fn seal_chunks<S, Fut>(
    source: &Source,
    padded: u64,
    keys: &ObjectKeys,
    indexes: Vec<u32>,
    watch: &Watch<'_>,
    sink: S,
) -> Result<(), UploadError>
where
    S: Fn(u32, String, Uint8Array) -> Fut,
    Fut: std::future::Future<Output = Result<(), UploadError>>,
{
    let count = objects::chunk_count(padded);
    let key = webcrypto::aes_key(keys.key.as_bytes()).await.map_err(failed)?;
    let queue = Queue::new(indexes);
    lanes::run(|| {
        let (queue, key, sink) = (&queue, &key, &sink);
        async move {
            while let Some(index) = queue.take() {
                if (watch.cancelled)() {
                    return Err(UploadError::Cancelled);
                }
                let plain = source.padded_chunk(padded, index).await.map_err(failed)?;
                let (id, sealed) = seal_chunk(key, &keys.file_id, index, count, &plain).await.map_err(failed)?;
                drop(plain);
                sink(index, id, sealed).await?;
            }
            Ok(())
        }
    })
    .await
}

/// Who pays, and where.
pub struct Payer<'a> {
    pub room: &'a RoomId,
    pub member: &'a IdentityKey,
}

/// What one upload works with.
struct Upload<'a> {
    keys: ObjectKeys,
    read: ReadProof,
    padded: u64,
    payer: &'a Payer<'a>,
    t: &'a TransferHandle,
}

impl Upload<'_> {
    /// Pays (a token for the stored size) to make `put` a payer of this upload.
    async fn pay(&self, put: &PutSecret, cost: u64) -> Result<UploadState, UploadError> {
        let t = self.t;
        let token = api::member_token(self.payer.room, self.payer.member, cost).await.map_err(|e| match e.code {
            ErrorCode::BudgetExhausted => failed("the room's storage budget is used up: ask its owner for more"),
            _ => failed(explain::describe(&e)),
        })?;
        // Safe to repeat: a put check that already pays is not charged again.
        let paid = || api::open_upload(&self.keys.file_id, self.padded, &self.read, put, Some(token.token.clone()));
        let state = retry::with_retries(&|| t.cancelled(), paid).await.map_err(|e| stopped(t, e))?;
        if !state.payer {
            return Err(failed("the server did not register this upload's payment; try again"));
        }
        Ok(state)
    }
}

/// Stores `file` encrypted and returns the handle to share.
pub async fn upload(
    file: &web_sys::Blob,
    name: &str,
    mime: &str,
    payer: &Payer<'_>,
    t: &TransferHandle,
) -> Result<FileHandle, UploadError> {
    let source = Source::blob(file.clone());
    let size = source.size();
    let padded = objects::padded_size(size)
        .ok_or_else(|| failed(format!("files are limited to {}", super::human_size(objects::MAX_FILE_BYTES))))?;

    // 1. The content decides the id, the key and the read proof.
    let watch = Watch { cancelled: &|| t.cancelled(), progress: &|done| t.preparing(done) };
    let hash = content_hash(&source, padded, &watch).await?;
    let up = Upload { keys: objects::derive(&hash), read: ReadProof::derive(&hash), padded, payer, t };
    let keys = &up.keys;

    // 2. Find the file (stored already, or part way) or pay for it.
    let mut put = put_secrets::current(&keys.file_id);
    let find = || api::open_upload(&keys.file_id, padded, &up.read, &put, None);
    let mut state = match retry::with_retries(&|| t.cancelled(), find).await {
        Ok(state) => state,
        Err(e) if e.code == ErrorCode::TokenRequired => {
            up.pay(&put, e.limit.unwrap_or(objects::stored_size(padded))).await?
        }
        Err(e) => return Err(stopped(t, e)),
    };

    // 3. Trust no stored chunk blindly: encrypt each again (without sending it) and
    //    compare its id with the stored one.
    let stored: Vec<u32> =
        (0..state.chunks).filter(|i| state.stored.get(*i as usize).is_some_and(Option::is_some)).collect();
    let differ = RefCell::new(Vec::new());
    let checked = Cell::new(0u64);
    let watch = Watch { cancelled: &|| t.cancelled(), progress: &|_| () };
    let expected = &state.stored;
    seal_chunks(&source, padded, keys, stored, &watch, |index, id, _sealed| {
        let (differ, checked) = (&differ, &checked);
        async move {
            if expected[index as usize].as_deref() != Some(id.as_str()) {
                differ.borrow_mut().push(index);
            } else {
                checked.set(checked.get() + objects::chunk_len(padded, index));
                t.progress(checked.get().min(size));
            }
            Ok(())
        }
    })
    .await?;
    let differ = differ.into_inner();
    let mut send: Vec<u32> = state.missing.iter().copied().chain(differ.iter().copied()).collect();
    send.sort_unstable();
    if !differ.is_empty() {
        // Other bytes under our chunks: pay again as the latest payer, which may replace
        // what every earlier payer sent.
        put = put_secrets::renew(&keys.file_id);
        state = up.pay(&put, objects::stored_size(padded)).await?;
    } else if !send.is_empty() && !state.payer {
        // Part way, but not paid by this page (another browser, or a reload): pay to send.
        state = up.pay(&put, objects::stored_size(padded)).await?;
    }

    // 4. Send what is missing or differs.
    let done = Cell::new(padded - send.iter().map(|i| objects::chunk_len(padded, *i)).sum::<u64>());
    t.progress(done.get().min(size));
    let last = RefCell::new(state);
    let put = &put;
    seal_chunks(&source, padded, keys, send, &watch, |index, id, sealed| {
        let (done, last) = (&done, &last);
        async move {
            let send = || api::put_chunk(&keys.file_id, index, &id, put, &sealed);
            let state = retry::with_retries(&|| t.cancelled(), send).await.map_err(|e| stopped(t, e))?;
            done.set(done.get() + objects::chunk_len(padded, index));
            t.progress(done.get().min(size));
            // Chunks finish out of order: keep the answer that knows the most.
            let mut last = last.borrow_mut();
            if state.missing.len() <= last.missing.len() {
                *last = state;
            }
            Ok(())
        }
    })
    .await?;
    let state = last.into_inner();
    // (Each accepted PUT means the server holds this browser's chunk at its index.)
    if state.status != UploadStatus::Complete {
        return Err(failed("the server did not confirm every chunk; try again to resume"));
    }
    Ok(FileHandle {
        file_id: keys.file_id.clone(),
        key: keys.key.to_b64(),
        read: Some(up.read.to_b64()),
        verification: None,
        size,
        padded,
        name: name.to_owned(),
        mime: mime.to_owned(),
    })
}
