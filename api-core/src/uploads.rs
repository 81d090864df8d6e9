//! The document store's rules, the same in every host: what an upload's record holds, who
//! may pay for it and send its chunks, when a chunk is accepted, and who may read it.
//!
//! Hosts keep the records and the chunk bytes where they like (mock-server: two tables of
//! `global.sqlite`; the edge: upload records in sharded Durable Objects, chunks in R2)
//! and call these functions with the record they read inside one transaction (or one
//! event of the object that owns it), then write back what the rule hands them.
//!
//! Opening an upload needs its `read_check`, which must name the file id (so only someone
//! who has the content, or a handle, learns anything about it). An upload is paid by a
//! storage token when it is opened, and the payer registers `put_check`, the hash of a put
//! secret only its browser holds; every chunk PUT must carry a payer's secret (compared in
//! constant time), or it is refused before anything is looked at. Chunks arrive in any
//! order, each checked against the id it claims (the SHA-256 of the bytes received) and
//! against the size its index must have. Re-sending a stored chunk is free, so uploads
//! resume; a chunk stored for one file is shared with any other file that has it.
//!
//! Another browser with the content may pay again to become a later payer: each chunk
//! records which payer sent it, and a payer may replace a chunk only if an *earlier*
//! payer sent it (never its own, never a later payer's). That is how an honest uploader
//! repairs an upload that someone filled with junk (see `docs/SECURITY.md`).
//!
//! Reads present the read proof, which is checked by recomputing the file id; files stored
//! under v1 ids keep their random verification token and stay readable with it. A wrong
//! proof and a missing file get the same answer.

use protocol::encoding::{b64, unb64_array};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::object_proofs::{self, PutSecret, ReadProof};
use protocol::objects::{self, CHUNK_BYTES, Manifest, TAG_BYTES, UploadState, UploadStatus, chunk_count, chunk_len};
use serde::{Deserialize, Serialize};

/// Largest stored chunk: one chunk's ciphertext and its tag (KV_global's value limit, and
/// the largest chunk PUT body).
pub const MAX_OBJECT_BYTES: u64 = CHUNK_BYTES + TAG_BYTES;

/// One payer of an upload, in the order they paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerRecord {
    /// base64url of `SHA-256(put secret)`.
    pub put_check: String,
    /// The hash of the token it paid with.
    pub paid_by: String,
}

/// One upload, as stored (JSON).
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
    /// Decodes a stored record.
    pub fn decode(bytes: &[u8]) -> Result<Self, ErrorBody> {
        serde_json::from_slice(bytes).map_err(internal)
    }

    /// The stored form.
    pub fn encode(&self) -> Result<Vec<u8>, ErrorBody> {
        serde_json::to_vec(self).map_err(internal)
    }

    /// What a client is told about this upload; `payer` when `put_check` pays for it.
    pub fn state(&self, file: &str, put_check: Option<&[u8; 32]>) -> UploadState {
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

    /// Whether every chunk is stored.
    pub fn complete(&self) -> bool {
        self.chunk_ids.iter().all(Option::is_some)
    }

    /// Never completed, and started before `older_than` (µs since the Unix epoch): what
    /// garbage collection removes (mock-server's `gc`, the edge's scheduled collection).
    pub fn abandoned(&self, older_than: u64) -> bool {
        !self.complete() && self.created < older_than
    }

    /// The chunk ids this upload keeps alive (what garbage collection must not remove).
    pub fn referenced_chunks(&self) -> impl Iterator<Item = &String> {
        self.chunk_ids.iter().flatten()
    }
}

/// How a reader proves it may read a file.
pub enum ReadProofGiven<'a> {
    /// v2: base64url of `read` (the `x-cloakroom-read` header).
    Read(&'a str),
    /// v1: the verification token (`?v=`).
    Verification(&'a str),
}

/// A read proof as a request carries it, owned (so a host can move it into a blocking
/// task or across an await): the `x-cloakroom-read` header when present, else `?v=`.
#[derive(Debug, Clone)]
pub struct ReadProofText {
    header: bool,
    text: String,
}

impl ReadProofText {
    /// From the request's `x-cloakroom-read` header and `v` query parameter.
    pub fn from_request(read_header: Option<String>, verification: Option<String>) -> Self {
        match read_header {
            Some(text) => ReadProofText { header: true, text },
            None => ReadProofText { header: false, text: verification.unwrap_or_default() },
        }
    }

    /// The proof as the rules take it.
    pub fn given(&self) -> ReadProofGiven<'_> {
        if self.header { ReadProofGiven::Read(&self.text) } else { ReadProofGiven::Verification(&self.text) }
    }
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

/// The ways an upload can be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// It exists (complete or open): nothing was paid.
    Existing(UploadState),
    /// It must be paid for with a token worth at least this many bytes.
    NeedsPayment(u64),
}

/// What to do with a chunk a payer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkAccepted {
    /// It is stored already under this id: nothing to write.
    AlreadyStored(UploadState),
    /// Store the bytes under their id, then the updated record.
    Store { record: UploadRecord, state: UploadState },
}

fn internal(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("document store failure: {e}"))
}

fn bad_manifest(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::BadManifest, message)
}

fn other_size() -> ErrorBody {
    bad_manifest("this file is already stored with another size")
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
/// it), or what a new one must be paid. The caller checked the request ([`check_request`]).
pub fn find(
    record: Option<&UploadRecord>,
    file: &str,
    size: u64,
    put_check: Option<&[u8; 32]>,
) -> Result<Opened, ErrorBody> {
    match record {
        Some(r) if r.size != size => Err(other_size()),
        Some(r) => Ok(Opened::Existing(r.state(file, put_check))),
        None => Ok(Opened::NeedsPayment(objects::stored_size(size))),
    }
}

/// Registers `put_check` as a payer of `file` (a token for the stored size was spent):
/// creates the upload, or joins it as its latest payer. Returns the record to write (none
/// when `put_check` already pays for it: a retried request, a race, and the caller
/// refunds).
pub fn pay(
    record: Option<UploadRecord>,
    file: &str,
    size: u64,
    put_check: &[u8; 32],
    paid_by: &str,
    now: u64,
) -> Result<(Option<UploadRecord>, UploadState, Paid), ErrorBody> {
    let payer = PayerRecord { put_check: b64(put_check), paid_by: paid_by.to_owned() };
    let (record, paid) = match record {
        Some(r) if r.size != size => return Err(other_size()),
        Some(r) if r.payer_index(put_check).is_some() => {
            return Ok((None, r.state(file, Some(put_check)), Paid::AlreadyPayer));
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
    let state = record.state(file, Some(put_check));
    Ok((Some(record), state, paid))
}

/// The put check of the secret a chunk PUT presents (`x-cloakroom-put`), or `not_a_payer`.
pub fn put_check_of(put_secret: Option<&str>) -> Result<[u8; 32], ErrorBody> {
    Ok(put_secret.and_then(PutSecret::parse).ok_or_else(not_a_payer)?.check())
}

/// Decides on chunk `index` of `file`, claimed to have id `id`, sent by the holder of
/// `check` ([`put_check_of`]): `len` bytes whose SHA-256 id `id_of_bytes` computes (only
/// once the sender is known to be a payer and the length is right).
pub fn accept_chunk(
    record: Option<UploadRecord>,
    file: &str,
    index: u32,
    id: &str,
    check: &[u8; 32],
    len: u64,
    id_of_bytes: impl FnOnce() -> String,
) -> Result<ChunkAccepted, ErrorBody> {
    let mut record = record.ok_or_else(not_a_payer)?;
    let me = record.payer_index(check).ok_or_else(not_a_payer)?;
    let count = record.chunk_ids.len() as u32;
    if index >= count {
        return Err(bad_manifest(format!("this file has {count} chunks")).with_limit(u64::from(count)));
    }
    let expected = chunk_len(record.size, index) + TAG_BYTES;
    if len != expected {
        return Err(
            ErrorBody::new(ErrorCode::BadChunk, format!("chunk {index} must be {expected} bytes")).with_limit(expected)
        );
    }
    if id_of_bytes() != id {
        return Err(ErrorBody::new(ErrorCode::HashMismatch, "the chunk's SHA-256 is not the id it was sent under"));
    }
    let slot = index as usize;
    if record.sent_by.len() != record.chunk_ids.len() {
        record.sent_by = vec![None; record.chunk_ids.len()];
    }
    match &record.chunk_ids[slot] {
        Some(stored) if stored == id => return Ok(ChunkAccepted::AlreadyStored(record.state(file, Some(check)))),
        // Replacing what an earlier payer sent: how an honest uploader repairs junk.
        Some(_) if record.sent_by[slot].is_some_and(|sender| sender < me) => {}
        Some(_) => return Err(bad_manifest(format!("chunk {index} of this file is already stored with other bytes"))),
        None => {}
    }
    record.chunk_ids[slot] = Some(id.to_owned());
    record.sent_by[slot] = Some(me);
    let state = record.state(file, Some(check));
    Ok(ChunkAccepted::Store { record, state })
}

/// Whether a v2 read proof names `file`: checked before the store is touched, so a wrong
/// proof costs no lookup. v1 proofs are checked against the record ([`manifest`]).
pub fn proof_names_file(file: &str, proof: &ReadProofGiven<'_>) -> Result<(), ErrorBody> {
    match proof {
        ReadProofGiven::Read(read) if !ReadProof::parse(read).is_some_and(|r| r.reads(file)) => Err(no_such_file()),
        _ => Ok(()),
    }
}

/// The manifest of a complete file, if the proof reads it: a v2 read proof that names
/// the file id, or a v1 record's verification (compared in constant time).
pub fn manifest(record: Option<UploadRecord>, file: &str, proof: &ReadProofGiven<'_>) -> Result<Manifest, ErrorBody> {
    proof_names_file(file, proof)?;
    let record = record.ok_or_else(no_such_file)?;
    let allowed = match proof {
        ReadProofGiven::Read(_) => record.verification.is_none(),
        ReadProofGiven::Verification(given) => {
            record.verification.as_deref().is_some_and(|v| crate::secret::secrets_match(v, given))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_header_wins_over_the_verification_and_no_proof_reads_nothing() {
        let given = |h: Option<&str>, v: Option<&str>| match ReadProofText::from_request(
            h.map(String::from),
            v.map(String::from),
        )
        .given()
        {
            ReadProofGiven::Read(t) => format!("read:{t}"),
            ReadProofGiven::Verification(t) => format!("v:{t}"),
        };
        assert_eq!(given(Some("r"), Some("x")), "read:r");
        assert_eq!(given(None, Some("x")), "v:x");
        assert_eq!(given(None, None), "v:");
    }

    #[test]
    fn uploads_of_every_bucket_are_accepted() {
        // Regression: the bucket of files of 2 GiB − 7 to 2 GiB was refused.
        let read = ReadProof::derive(&[1; 32]);
        let (file, check) = (read.file_id(), b64(&read.check()));
        for len in [0, 5_000_000, objects::MAX_FILE_BYTES] {
            let size = objects::padded_size(len).unwrap();
            assert!(check_request(&file, size, Some(&check)).is_ok(), "{len} → {size}");
        }
        for size in [0, 8, 4095, objects::padded_size(objects::MAX_FILE_BYTES).unwrap() + 1, u64::MAX] {
            assert!(check_request(&file, size, Some(&check)).is_err(), "{size}");
        }
    }

    #[test]
    fn only_payers_store_chunks_and_only_over_earlier_payers() {
        let file = ReadProof::derive(&[2; 32]).file_id();
        let size = objects::padded_size(10).unwrap();
        let len = chunk_len(size, 0) + TAG_BYTES;
        let (first, second, stranger) = ([1; 32], [2; 32], [3; 32]);
        let (record, _, paid) = pay(None, &file, size, &first, "t1", 1).unwrap();
        assert_eq!(paid, Paid::Created);
        let mut record = record.unwrap();
        let again = pay(Some(record.clone()), &file, size, &first, "t2", 2).unwrap();
        assert_eq!((again.0, again.2), (None, Paid::AlreadyPayer), "a retried payment writes nothing");
        let never = || -> String { panic!("a stranger's bytes are never hashed") };
        let refused = accept_chunk(Some(record.clone()), &file, 0, "a", &stranger, len, never).unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        let short = accept_chunk(Some(record.clone()), &file, 0, "a", &first, len - 1, || "a".into()).unwrap_err();
        assert_eq!((short.code, short.limit), (ErrorCode::BadChunk, Some(len)));
        let past = accept_chunk(Some(record.clone()), &file, 1, "a", &first, len, || "a".into()).unwrap_err();
        assert_eq!((past.code, past.limit), (ErrorCode::BadManifest, Some(1)));
        let lie = accept_chunk(Some(record.clone()), &file, 0, "a", &first, len, || "b".into()).unwrap_err();
        assert_eq!(lie.code, ErrorCode::HashMismatch);
        let ChunkAccepted::Store { record: stored, state } =
            accept_chunk(Some(record.clone()), &file, 0, "junk", &first, len, || "junk".into()).unwrap()
        else {
            panic!("a new chunk is stored")
        };
        assert_eq!(state.status, UploadStatus::Complete);
        record = stored;
        let same = accept_chunk(Some(record.clone()), &file, 0, "junk", &first, len, || "junk".into()).unwrap();
        assert!(matches!(same, ChunkAccepted::AlreadyStored(_)));
        let own = accept_chunk(Some(record.clone()), &file, 0, "good", &first, len, || "good".into()).unwrap_err();
        assert_eq!(own.code, ErrorCode::BadManifest, "a payer never replaces its own chunk");
        let (joined, _, paid) = pay(Some(record.clone()), &file, size, &second, "t3", 3).unwrap();
        assert_eq!(paid, Paid::Joined);
        let repaired = accept_chunk(joined, &file, 0, "good", &second, len, || "good".into()).unwrap();
        assert!(matches!(repaired, ChunkAccepted::Store { .. }), "a later payer replaces an earlier one's chunk");
        assert_eq!(pay(Some(record), &file, size + 1, &second, "t4", 4).unwrap_err().code, ErrorCode::BadManifest);
    }

    #[test]
    fn reads_need_a_proof_of_the_content_or_the_v1_token() {
        let read = ReadProof::derive(&[4; 32]);
        let file = read.file_id();
        let size = objects::padded_size(10).unwrap();
        let (record, _, _) = pay(None, &file, size, &[1; 32], "t", 1).unwrap();
        let mut record = record.unwrap();
        let proof = read.to_b64();
        let open = manifest(Some(record.clone()), &file, &ReadProofGiven::Read(&proof)).unwrap_err();
        assert_eq!(open.code, ErrorCode::NotFound, "an incomplete file is not readable");
        record.chunk_ids[0] = Some("c".into());
        assert_eq!(manifest(Some(record.clone()), &file, &ReadProofGiven::Read(&proof)).unwrap().chunks, ["c"]);
        let other = ReadProof::derive(&[5; 32]).to_b64();
        assert_eq!(proof_names_file(&file, &ReadProofGiven::Read(&other)).unwrap_err(), no_such_file());
        assert_eq!(manifest(None, &file, &ReadProofGiven::Read(&proof)).unwrap_err(), no_such_file());
        let v1 = ReadProofGiven::Verification("token");
        assert_eq!(manifest(Some(record.clone()), &file, &v1).unwrap_err(), no_such_file());
        record.verification = Some("token".into());
        assert!(manifest(Some(record.clone()), &file, &v1).is_ok());
        assert!(manifest(Some(record), &file, &ReadProofGiven::Read(&proof)).is_err(), "v1 files need their token");
    }
}
