//! Documents: padded, convergent-encrypted, content-addressed objects, stored in chunks.
//!
//! The pipeline (the browser runs it with WebCrypto for AES-GCM; this is the reference
//! implementation, checked against it by the shared test vectors):
//!
//! 1. **Pad** the plaintext to a size bucket ([`padded_size`]): powers of two from 4 KiB to
//!    4 MiB, then 8 steps per power of two. The padding is zeros ending with the original
//!    length as a big-endian `u64`, so the server learns only the bucket.
//! 2. **Derive** from the content hash `h` ([`content_hash`]: SHA-256 over a label, the
//!    chunk count and the SHA-256 of each padded plaintext chunk, so that the chunks can be
//!    hashed independently, in parallel, with WebCrypto's one-shot digest) ([`derive`]): the
//!    read proof `read = HKDF(h, "read")` and from it the file id (the name the server knows
//!    it by, see [`crate::object_proofs`]), and the file key `HKDF(h, "file-key")`, all
//!    with the v2 salt. v1 files (id `HKDF(h, "file-id")`, v1 salt, [`derive_v1`]) stay
//!    readable. Identical files give identical ids and keys ("convergent"
//!    encryption), which is what lets the server deduplicate without reading them; the
//!    price, inherent to deduplication, is that the server can tell two uploads of the same
//!    file apart from two different ones.
//! 3. **Encrypt** each chunk of [`CHUNK_BYTES`] with AES-256-GCM under the file key, nonce =
//!    chunk index ([`chunk_nonce`]), associated data binding file id, index and chunk count
//!    ([`chunk_aad`]): chunks cannot be reordered, swapped between files, or dropped.
//! 4. **Store** each ciphertext chunk under its SHA-256, which the server checks.
//!
//! Reading reverses it and finally checks that the decrypted padded plaintext derives the
//! same file key (end-to-end integrity of the whole file).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::content_key::ContentKey;
use crate::encoding::{b64, unb64_array};
use crate::object_proofs::{ReadProof, SALT_V2};

/// Plaintext bytes per chunk (the last chunk may be shorter).
pub const CHUNK_BYTES: u64 = 4 * 1024 * 1024;
/// AES-GCM tag bytes added to each chunk.
pub const TAG_BYTES: u64 = 16;
/// Largest file (before padding): 2 GiB. Its stored size (padding and tags included)
/// fits one storage token, so an upload is always paid at once.
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Smallest padded size.
pub const MIN_PADDED_BYTES: u64 = 4 * 1024;
/// Bytes of the length trailer at the end of the padding.
const TRAILER: u64 = 8;
const SALT_V1: &[u8] = b"cloakroom/v1/object";
const AAD_LABEL: &[u8] = b"cloakroom/v1/chunk\0";
const HASH_LABEL: &[u8] = b"cloakroom/v1/content\0";

/// The padded size of a file of `len` bytes (trailer included), or `None` when too large.
pub fn padded_size(len: u64) -> Option<u64> {
    if len > MAX_FILE_BYTES {
        return None;
    }
    let need = (len + TRAILER).max(MIN_PADDED_BYTES);
    if need <= CHUNK_BYTES {
        return Some(need.next_power_of_two());
    }
    let bits = 64 - need.leading_zeros();
    let step = 1u64 << (bits - 4);
    Some(need.div_ceil(step) * step)
}

/// True when `size` is a padded size: the [`padded_size`] of some file of at most
/// [`MAX_FILE_BYTES`]. The largest bucket (`2^31 + 2^28`) holds files of up to 2 GiB, so
/// `padded_size(size - 8)` alone, which is `None` past 2 GiB, would refuse it.
pub fn is_padded_size(size: u64) -> bool {
    size >= MIN_PADDED_BYTES && padded_size((size - TRAILER).min(MAX_FILE_BYTES)) == Some(size)
}

/// The bytes that follow the plaintext to reach `padded` bytes: zeros, then the length.
pub fn padding(len: u64, padded: u64) -> Vec<u8> {
    padding_range(len, padded, len, padded)
}

/// Bytes `from..to` of the padded stream that lie in the padding (`len <= from <= to <=
/// padded`), without building the whole padding (it can be tens of MiB of zeros).
pub fn padding_range(len: u64, padded: u64, from: u64, to: u64) -> Vec<u8> {
    let mut out = vec![0u8; (to - from) as usize];
    let trailer = len.to_be_bytes();
    for (i, b) in trailer.iter().enumerate() {
        let at = padded - TRAILER + i as u64;
        if (from..to).contains(&at) {
            out[(at - from) as usize] = *b;
        }
    }
    out
}

/// The original length written in a padded file's last 8 bytes (checked against `padded`).
pub fn unpadded_len(last8: &[u8], padded: u64) -> Option<u64> {
    let len = u64::from_be_bytes(last8.try_into().ok()?);
    // `len` comes from decrypted bytes someone else chose: no overflow on `len + 8`.
    (len.checked_add(TRAILER).is_some_and(|end| end <= padded) && padded_size(len) == Some(padded)).then_some(len)
}

/// Number of chunks of a padded file.
pub fn chunk_count(padded: u64) -> u32 {
    padded.div_ceil(CHUNK_BYTES) as u32
}

/// Plaintext bytes of chunk `index` of a padded file.
pub fn chunk_len(padded: u64, index: u32) -> u64 {
    let start = u64::from(index) * CHUNK_BYTES;
    (padded - start).min(CHUNK_BYTES)
}

/// What a file's content determines.
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectKeys {
    /// base64url of 32 bytes: the name the server stores the file under.
    pub file_id: String,
    pub key: ContentKey,
}

impl std::fmt::Debug for ObjectKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ObjectKeys({})", self.file_id)
    }
}

/// The content hash of a padded file from the SHA-256 of each of its plaintext chunks (in
/// order): `SHA-256("cloakroom/v1/content\0" ‖ count u32 BE ‖ h_0 ‖ … ‖ h_{count-1})`.
pub fn content_hash(chunk_hashes: &[[u8; 32]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(HASH_LABEL);
    h.update((chunk_hashes.len() as u32).to_be_bytes());
    for c in chunk_hashes {
        h.update(c);
    }
    h.finalize().into()
}

/// The content hash of a whole padded file in memory.
pub fn content_hash_of(padded: &[u8]) -> [u8; 32] {
    let hashes: Vec<[u8; 32]> = padded.chunks(CHUNK_BYTES as usize).map(|c| Sha256::digest(c).into()).collect();
    content_hash(&hashes)
}

/// Derives the (v2) file id and key from the content hash ([`content_hash`]): the id is
/// named by the read proof ([`ReadProof::derive`]), the key is `HKDF(salt
/// "cloakroom/v2/object", h, "file-key")`.
pub fn derive(content_hash: &[u8; 32]) -> ObjectKeys {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(SALT_V2), content_hash).expand(b"file-key", &mut key).expect("32 bytes");
    ObjectKeys { file_id: ReadProof::derive(content_hash).file_id(), key: ContentKey::from_bytes(key) }
}

/// The v1 file id and key of a content hash (files stored before v2; read-only).
pub fn derive_v1(content_hash: &[u8; 32]) -> ObjectKeys {
    let hk = Hkdf::<Sha256>::new(Some(SALT_V1), content_hash);
    let mut id = [0u8; 32];
    let mut key = [0u8; 32];
    hk.expand(b"file-id", &mut id).expect("32 bytes");
    hk.expand(b"file-key", &mut key).expect("32 bytes");
    ObjectKeys { file_id: b64(&id), key: ContentKey::from_bytes(key) }
}

impl ObjectKeys {
    /// Whether these keys are what the content hash `h` derives (v2, or v1 for old files):
    /// the end-to-end check of a whole downloaded file.
    pub fn derived_from(&self, content_hash: &[u8; 32]) -> bool {
        derive(content_hash) == *self || derive_v1(content_hash) == *self
    }
}

/// The AES-GCM nonce of chunk `index` (unique per key: each file has its own key).
pub fn chunk_nonce(index: u32) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[8..].copy_from_slice(&index.to_be_bytes());
    n
}

/// The associated data of chunk `index` of `count`.
pub fn chunk_aad(file_id: &str, index: u32, count: u32) -> Vec<u8> {
    let mut aad = AAD_LABEL.to_vec();
    aad.extend_from_slice(&(file_id.len() as u32).to_be_bytes());
    aad.extend_from_slice(file_id.as_bytes());
    aad.extend_from_slice(&index.to_be_bytes());
    aad.extend_from_slice(&count.to_be_bytes());
    aad
}

/// Encrypts one chunk.
pub fn encrypt_chunk(keys: &ObjectKeys, index: u32, count: u32, plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new_from_slice(keys.key.as_bytes())
        .expect("32-byte key")
        .encrypt(
            &Nonce::from(chunk_nonce(index)),
            Payload { msg: plaintext, aad: &chunk_aad(&keys.file_id, index, count) },
        )
        .expect("AES-GCM of a bounded chunk")
}

/// A chunk that does not decrypt: tampered, truncated, reordered, or the wrong file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chunk {0} is damaged or not part of this file")]
pub struct DamagedChunk(pub u32);

/// Decrypts one chunk.
pub fn decrypt_chunk(keys: &ObjectKeys, index: u32, count: u32, ciphertext: &[u8]) -> Result<Vec<u8>, DamagedChunk> {
    Aes256Gcm::new_from_slice(keys.key.as_bytes())
        .expect("32-byte key")
        .decrypt(
            &Nonce::from(chunk_nonce(index)),
            Payload { msg: ciphertext, aad: &chunk_aad(&keys.file_id, index, count) },
        )
        .map_err(|_| DamagedChunk(index))
}

/// The id a stored chunk has: base64url SHA-256 of its ciphertext.
pub fn chunk_id(ciphertext: &[u8]) -> String {
    b64(&Sha256::digest(ciphertext))
}

/// Parses a file id (base64url of 32 bytes).
pub fn valid_file_id(text: &str) -> bool {
    unb64_array::<32>(text).is_ok()
}

/// Encrypts a whole (small) file: the chunks' ciphertexts and the keys. Browsers stream
/// instead; this is the reference and what native tests and tools use.
pub fn encrypt_file(plaintext: &[u8]) -> Option<(ObjectKeys, u64, Vec<Vec<u8>>)> {
    encrypt_file_with(plaintext, derive)
}

/// The same under the v1 scheme (only to build v1 files in tests and tools).
pub fn encrypt_file_v1(plaintext: &[u8]) -> Option<(ObjectKeys, u64, Vec<Vec<u8>>)> {
    encrypt_file_with(plaintext, derive_v1)
}

/// The padded bytes of a (small) file in memory.
pub fn pad(plaintext: &[u8]) -> Option<Vec<u8>> {
    let len = plaintext.len() as u64;
    let mut padded = plaintext.to_vec();
    padded.extend(padding(len, padded_size(len)?));
    Some(padded)
}

/// The read proof of a (small) file in memory.
pub fn read_proof_of(plaintext: &[u8]) -> Option<ReadProof> {
    Some(ReadProof::derive(&content_hash_of(&pad(plaintext)?)))
}

fn encrypt_file_with(plaintext: &[u8], scheme: fn(&[u8; 32]) -> ObjectKeys) -> Option<(ObjectKeys, u64, Vec<Vec<u8>>)> {
    let padded = pad(plaintext)?;
    let padded_len = padded.len() as u64;
    let keys = scheme(&content_hash_of(&padded));
    let count = chunk_count(padded_len);
    let chunks = (0..count)
        .map(|i| {
            let start = (u64::from(i) * CHUNK_BYTES) as usize;
            let end = start + chunk_len(padded_len, i) as usize;
            encrypt_chunk(&keys, i, count, &padded[start..end])
        })
        .collect();
    Some((keys, padded_len, chunks))
}

/// Decrypts and checks a whole file from its chunks (in order).
pub fn decrypt_file(keys: &ObjectKeys, padded_len: u64, chunks: &[Vec<u8>]) -> Result<Vec<u8>, DamagedChunk> {
    // The size comes from a manifest (the server): anything but a bucket is refused before
    // it sizes a buffer or a chunk count.
    if !is_padded_size(padded_len) {
        return Err(DamagedChunk(0));
    }
    let count = chunk_count(padded_len);
    if chunks.len() != count as usize {
        return Err(DamagedChunk(chunks.len() as u32));
    }
    let mut padded = Vec::with_capacity(padded_len as usize);
    for (i, c) in chunks.iter().enumerate() {
        padded.extend(decrypt_chunk(keys, i as u32, count, c)?);
    }
    if padded.len() as u64 != padded_len || !keys.derived_from(&content_hash_of(&padded)) {
        return Err(DamagedChunk(count));
    }
    let len = unpadded_len(&padded[padded.len() - TRAILER as usize..], padded_len).ok_or(DamagedChunk(count))?;
    padded.truncate(len as usize);
    Ok(padded)
}

/// What a message carries about a shared file (inside the encrypted message body, so the
/// server never sees names, types or keys).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileHandle {
    pub file_id: String,
    /// The file key (base64url).
    pub key: String,
    /// v2 files: the read proof (base64url), sent as `x-cloakroom-read` to read the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<String>,
    /// v1 files: the verification token the server handed out, sent as `?v=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<String>,
    /// Original size in bytes.
    pub size: u64,
    /// Padded size in bytes (how the file is stored).
    pub padded: u64,
    pub name: String,
    /// MIME type, as the sender's browser reported it.
    pub mime: String,
}

impl FileHandle {
    /// The keys this handle carries, or `None` if the key is malformed.
    pub fn keys(&self) -> Option<ObjectKeys> {
        ContentKey::parse(&self.key).ok().map(|key| ObjectKeys { file_id: self.file_id.clone(), key })
    }

    /// What this handle presents to read the file: its read proof (v2), else its
    /// verification token (v1); `None` if it has neither or a malformed proof.
    pub fn access(&self) -> Option<ReadAccess> {
        match (&self.read, &self.verification) {
            (Some(read), _) => ReadProof::parse(read).map(ReadAccess::Proof),
            (None, Some(v)) => Some(ReadAccess::Verification(v.clone())),
            (None, None) => None,
        }
    }
}

/// How a reader proves it may read a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadAccess {
    /// v2: the read proof, in the `x-cloakroom-read` header.
    Proof(ReadProof),
    /// v1: the verification token, as the `v` query parameter.
    Verification(String),
}

/// `POST /api/uploads`: open (or find) the upload of a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRequest {
    pub file: String,
    /// Padded size (must be a bucket size).
    pub size: u64,
    /// base64url of `read_check` ([`ReadProof::check`]); it must name `file`, else the
    /// request is refused (`bad_read_proof`) before anything is looked up.
    #[serde(default)]
    pub read_check: Option<String>,
    /// base64url of `put_check = SHA-256(put secret)` ([`crate::object_proofs::PutSecret`]);
    /// required with `token`; also tells whether the sender already is a payer.
    #[serde(default)]
    pub put_check: Option<String>,
    /// A one-use storage token worth at least the stored size: spent to become a payer
    /// (the first, or another one that may replace chunks earlier payers sent). Not
    /// needed to find an existing upload, and not spent when `put_check` already pays.
    #[serde(default)]
    pub token: Option<String>,
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Paid for; chunks are missing.
    Open,
    /// Every chunk is stored; readable with the read proof.
    Complete,
}

/// The state of an upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadState {
    pub file: String,
    pub size: u64,
    pub chunks: u32,
    pub status: UploadStatus,
    /// Chunk indexes not stored yet.
    pub missing: Vec<u32>,
    /// The id of each stored chunk (`null` where missing), so that an uploader can
    /// compare them with its own before trusting them.
    pub stored: Vec<Option<String>>,
    /// Whether the request's `put_check` is one of this upload's payers (may PUT chunks).
    pub payer: bool,
}

/// `GET /api/files/{file}` (with the read proof): what a reader needs to fetch the chunks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub file: String,
    pub size: u64,
    /// Chunk ids (SHA-256 of each ciphertext chunk), in order.
    pub chunks: Vec<String>,
}

/// Bytes stored for a padded size: every chunk's ciphertext.
pub fn stored_size(padded: u64) -> u64 {
    padded + u64::from(chunk_count(padded)) * TAG_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hide_exact_sizes() {
        assert_eq!(padded_size(0), Some(4096));
        assert_eq!(padded_size(4088), Some(4096));
        assert_eq!(padded_size(4089), Some(8192));
        assert_eq!(padded_size(1_000_000), Some(1 << 20));
        assert_eq!(padded_size(CHUNK_BYTES - 8), Some(CHUNK_BYTES));
        assert_eq!(padded_size(CHUNK_BYTES), Some(CHUNK_BYTES + CHUNK_BYTES / 8));
        assert_eq!(padded_size(50_000_000), Some(50_331_648));
        assert_eq!(padded_size(MAX_FILE_BYTES + 1), None);
        // A 1 GiB file and the largest file are each paid by one storage token.
        for len in [1 << 30, MAX_FILE_BYTES] {
            let stored = stored_size(padded_size(len).unwrap());
            assert!(crate::storage_token::round_size(stored).is_ok(), "{len} bytes → {stored} stored");
        }
        for n in [0u64, 1, 4088, 4089, 70_000, 5_000_000, 123_456_789] {
            let p = padded_size(n).unwrap();
            assert!(p >= n + 8 && (p <= 2 * (n + 8) || p == MIN_PADDED_BYTES), "{n} → {p}");
            assert_eq!(unpadded_len(&padding(n, p)[(p - n) as usize - 8..], p), Some(n));
        }
    }

    #[test]
    fn every_bucket_is_a_padded_size() {
        // Regression (found by the `objects` fuzz target): the bucket of files of 2 GiB − 7
        // to 2 GiB was not recognised as a padded size, so the server refused their upload.
        let largest = padded_size(MAX_FILE_BYTES).unwrap();
        assert_eq!(largest, (1 << 31) + (1 << 28));
        assert!(is_padded_size(largest));
        assert!(!is_padded_size(largest + 1) && !is_padded_size(largest * 2) && !is_padded_size(u64::MAX));
        for n in [0, 1, 4088, 4089, CHUNK_BYTES, 50_000_000, MAX_FILE_BYTES - 8, MAX_FILE_BYTES - 7] {
            let p = padded_size(n).unwrap();
            assert!(is_padded_size(p), "{n} → {p}");
            assert!(!is_padded_size(p - 1) || padded_size(p - 9) == Some(p - 1));
        }
        assert!(!is_padded_size(0) && !is_padded_size(8) && !is_padded_size(4095) && !is_padded_size(4097));
    }

    #[test]
    fn a_trailer_near_u64_max_is_refused() {
        // Regression: `len + 8` overflowed (a panic in debug builds) for a shared file whose
        // decrypted trailer says u64::MAX - 7 or more.
        for last in [u64::MAX, u64::MAX - 7, u64::MAX - 8] {
            assert_eq!(unpadded_len(&last.to_be_bytes(), 4096), None);
            assert_eq!(unpadded_len(&last.to_be_bytes(), u64::MAX), None);
        }
        assert_eq!(unpadded_len(&100u64.to_be_bytes(), 4096), Some(100));
    }

    #[test]
    fn a_manifest_size_that_is_no_bucket_is_refused() {
        // Regression: u64::MAX (whose chunk count truncates to 0) reserved a buffer of that
        // size and panicked; 2^54 (one chunk after truncation) asked for 16 PiB.
        let (keys, padded, chunks) = encrypt_file(b"x").unwrap();
        assert_eq!(decrypt_file(&keys, u64::MAX, &[]), Err(DamagedChunk(0)));
        assert_eq!(decrypt_file(&keys, 1 << 54, &chunks), Err(DamagedChunk(0)));
        assert_eq!(decrypt_file(&keys, padded + 1, &chunks), Err(DamagedChunk(0)));
        assert_eq!(decrypt_file(&keys, padded, &chunks).unwrap(), b"x");
    }

    #[test]
    fn round_trip_convergence_and_tampering() {
        let data: Vec<u8> = (0..(CHUNK_BYTES as usize + 12345)).map(|i| (i * 7 % 251) as u8).collect();
        let (keys, padded, chunks) = encrypt_file(&data).unwrap();
        assert_eq!(chunks.len(), 2);
        assert_eq!(decrypt_file(&keys, padded, &chunks).unwrap(), data);
        // The same content gives the same id, key and chunks (deduplication).
        let (again, _, chunks2) = encrypt_file(&data).unwrap();
        assert_eq!((again.clone(), chunk_id(&chunks2[1])), (keys.clone(), chunk_id(&chunks[1])));
        // A flipped byte, swapped chunks or a missing chunk are all caught.
        let mut flipped = chunks.clone();
        flipped[1][100] ^= 1;
        assert_eq!(decrypt_file(&keys, padded, &flipped), Err(DamagedChunk(1)));
        let swapped = vec![chunks[1].clone(), chunks[0].clone()];
        assert!(decrypt_file(&keys, padded, &swapped).is_err());
        assert!(decrypt_file(&keys, padded, &chunks[..1]).is_err());
        let (other, _, _) = encrypt_file(b"another file").unwrap();
        assert_ne!(other.file_id, keys.file_id);
    }
}
