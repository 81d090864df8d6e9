//! The v2 object vectors (`vectors/v2-objects.json`), given WITH their inputs so that an
//! independent implementation can recompute every value: each plaintext is either spelled
//! out in full (base64url) or produced by the generator named in the file (byte `i` is
//! `(i × 31 + 7) mod 251`), followed by what padding, the content hash, the read proof, the
//! file id, the file key and chunk encryption must give. Small files list their ciphertext
//! chunks in full, larger ones their ids (SHA-256 of each chunk).
//!
//! Checked by the native tests of this crate and, in headless Chromium, by the SPA's
//! wasm-bindgen tests. `cargo run -p cloakroom-protocol --example gen_object_vectors`
//! rewrites the file (only when the format changes on purpose).

use serde::{Deserialize, Serialize};

use crate::encoding::{b64, unb64};
use crate::object_proofs::{PutSecret, ReadProof};
use crate::objects;

/// The committed file.
pub const V2_OBJECTS_JSON: &str = include_str!("../vectors/v2-objects.json");

/// How the generated plaintexts are made.
pub const GENERATOR: &str = "byte i (from 0) is (i * 31 + 7) mod 251";

/// Plaintexts above this size are given by the generator, not spelled out.
const SPELLED_OUT_MAX: u64 = 8 * 1024;

/// One file and everything its content determines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVectorV2 {
    pub name: String,
    /// Original length in bytes.
    pub len: u64,
    /// The plaintext in full (base64url), or `null` when it is `len` bytes of [`GENERATOR`].
    pub plaintext: Option<String>,
    /// Padded size (the bucket).
    pub padded: u64,
    /// `h`, the content hash (base64url).
    pub content_hash: String,
    /// `HKDF-SHA256(salt "cloakroom/v2/object", h, "read")`.
    pub read: String,
    /// `SHA-256(read)`.
    pub read_check: String,
    /// `base64url(SHA-256("cloakroom/v2/file-id\0" ‖ read_check))`.
    pub file_id: String,
    /// `HKDF-SHA256(salt "cloakroom/v2/object", h, "file-key")`.
    pub file_key: String,
    /// The associated data of chunk 0 (base64url).
    pub chunk0_aad: String,
    /// Each ciphertext chunk in full (base64url), for small files; empty otherwise.
    pub chunks: Vec<String>,
    /// `base64url(SHA-256(ciphertext))` of each chunk, in order.
    pub chunk_ids: Vec<String>,
}

/// One put secret and the check the server keeps of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutCheckVector {
    pub put_secret: String,
    /// `SHA-256(put secret)`.
    pub put_check: String,
}

/// The vector file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVectorsV2 {
    pub format: String,
    pub generator: String,
    pub objects: Vec<ObjectVectorV2>,
    pub put_checks: Vec<PutCheckVector>,
}

/// `len` bytes of [`GENERATOR`].
pub fn generated(len: u64) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
}

impl ObjectVectorV2 {
    /// The plaintext this vector is about.
    pub fn plain(&self) -> Vec<u8> {
        match &self.plaintext {
            Some(text) => unb64(text).expect("a base64url plaintext"),
            None => generated(self.len),
        }
    }

    fn of(name: &str, plain: &[u8], spelled_out: bool) -> Self {
        let padded = objects::pad(plain).expect("a small file");
        let h = objects::content_hash_of(&padded);
        let read = ReadProof::derive(&h);
        let (keys, padded_len, chunks) = objects::encrypt_file(plain).expect("a small file");
        let count = objects::chunk_count(padded_len);
        ObjectVectorV2 {
            name: name.to_owned(),
            len: plain.len() as u64,
            plaintext: spelled_out.then(|| b64(plain)),
            padded: padded_len,
            content_hash: b64(&h),
            read: read.to_b64(),
            read_check: b64(&read.check()),
            file_id: keys.file_id.clone(),
            file_key: keys.key.to_b64(),
            chunk0_aad: b64(&objects::chunk_aad(&keys.file_id, 0, count)),
            chunks: if padded_len <= SPELLED_OUT_MAX { chunks.iter().map(|c| b64(c)).collect() } else { Vec::new() },
            chunk_ids: chunks.iter().map(|c| objects::chunk_id(c)).collect(),
        }
    }
}

/// Builds the vectors from fixed inputs (used by the `gen_object_vectors` example).
pub fn generate() -> ObjectVectorsV2 {
    let objects = vec![
        ObjectVectorV2::of("empty", b"", true),
        ObjectVectorV2::of("hello", b"hello, cloakroom\n", true),
        ObjectVectorV2::of("generated-5000", &generated(5_000), true),
        ObjectVectorV2::of("generated-two-chunks", &generated(objects::CHUNK_BYTES + 1_000), false),
    ];
    let put_checks = [[0x5au8; 32], std::array::from_fn(|i| i as u8)]
        .into_iter()
        .map(|bytes| {
            let secret = PutSecret::from_bytes(bytes);
            PutCheckVector { put_secret: secret.to_b64(), put_check: b64(&secret.check()) }
        })
        .collect();
    ObjectVectorsV2 { format: "cloakroom-object-vectors-v2".into(), generator: GENERATOR.into(), objects, put_checks }
}

/// Loads the committed vectors.
pub fn load() -> ObjectVectorsV2 {
    serde_json::from_str(V2_OBJECTS_JSON).expect("vectors/v2-objects.json parses")
}

/// Recomputes every value from the inputs; returns the number of checks.
pub fn check_all(vectors: &ObjectVectorsV2) -> Result<usize, String> {
    let mut checks = 0;
    for v in &vectors.objects {
        let plain = v.plain();
        if plain.len() as u64 != v.len {
            return Err(format!("{}: the plaintext is not {} bytes", v.name, v.len));
        }
        let fresh = ObjectVectorV2::of(&v.name, &plain, v.plaintext.is_some());
        if fresh != *v {
            return Err(format!("{}: derivation or encryption differs", v.name));
        }
        let (keys, padded, chunks) = objects::encrypt_file(&plain).ok_or("too large")?;
        if objects::decrypt_file(&keys, padded, &chunks).map_err(|e| e.to_string())? != plain {
            return Err(format!("{}: decryption differs", v.name));
        }
        checks += 2;
    }
    for p in &vectors.put_checks {
        let secret = PutSecret::parse(&p.put_secret).ok_or("a put secret of 32 bytes")?;
        if b64(&secret.check()) != p.put_check {
            return Err("put check differs".into());
        }
        checks += 1;
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_object_vectors_hold_natively() {
        let vectors = load();
        assert_eq!(check_all(&vectors), Ok(vectors.objects.len() * 2 + vectors.put_checks.len()));
        assert_eq!(vectors, generate(), "vectors/v2-objects.json is stale");
    }

    #[test]
    fn a_corrupted_object_vector_is_caught() {
        let mut vectors = load();
        vectors.objects[1].read = b64(&[0; 32]);
        assert!(check_all(&vectors).is_err());
        let mut vectors = load();
        vectors.put_checks[0].put_check = b64(&[0; 32]);
        assert!(check_all(&vectors).is_err());
    }
}
