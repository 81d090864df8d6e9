//! Proofs of the document store (v2 objects): who may read a file, and who may write its
//! chunks.
//!
//! * **Read proof** ([`ReadProof`]): `read = HKDF-SHA256(salt "cloakroom/v2/object", ikm h,
//!   info "read")` from the content hash `h`, so only someone who has the file's content
//!   (an uploader) or its handle (a reader it was shared with) knows it. Its hash
//!   `read_check = SHA-256(read)` names the file: `file id = base64url(SHA-256(
//!   "cloakroom/v2/file-id\0" ‖ read_check))`. The server checks a presented `read` (reads)
//!   or `read_check` (opening an upload) by recomputing the file id: it stores nothing
//!   secret and hands nothing out. `read_check` opens an upload but does not read it (the
//!   server learns `read_check` from every upload; it never learns `read`).
//! * **Put secret** ([`PutSecret`]): 32 random bytes the paying browser keeps for the
//!   transfer; the server keeps only `put_check = SHA-256(put secret)` per payer and
//!   refuses chunk PUTs that do not carry a payer's secret.
//!
//! Both travel in headers ([`READ_HEADER`], [`PUT_HEADER`]), never in a URL, so they stay
//! out of access logs.

use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use crate::encoding::{b64, unb64_array};

/// Header carrying the read proof (base64url of `read`) on `GET /api/files/…`.
pub const READ_HEADER: &str = "x-cloakroom-read";
/// Header carrying the put secret (base64url) on chunk `PUT`s.
pub const PUT_HEADER: &str = "x-cloakroom-put";
/// HKDF salt of the v2 object derivations (`read`, the file key).
pub const SALT_V2: &[u8] = b"cloakroom/v2/object";
const FILE_ID_LABEL: &[u8] = b"cloakroom/v2/file-id\0";

/// 32 bytes, compared in constant time (no early exit on the first differing byte).
pub fn same_32(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The v2 file id named by `read_check`.
pub fn file_id_of(read_check: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(FILE_ID_LABEL);
    h.update(read_check);
    b64(&h.finalize())
}

/// Whether `read_check` (base64url, as sent) names `file_id`.
pub fn read_check_opens(file_id: &str, read_check: &str) -> bool {
    unb64_array::<32>(read_check).is_ok_and(|c| file_id_of(&c) == file_id)
}

/// What reads a v2 file: derived from its content, carried by its handle.
#[derive(Clone, PartialEq, Eq)]
pub struct ReadProof([u8; 32]);

impl std::fmt::Debug for ReadProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadProof(…)")
    }
}

impl ReadProof {
    /// `HKDF-SHA256(salt "cloakroom/v2/object", ikm h, info "read")`.
    pub fn derive(content_hash: &[u8; 32]) -> Self {
        let mut read = [0u8; 32];
        Hkdf::<Sha256>::new(Some(SALT_V2), content_hash).expand(b"read", &mut read).expect("32 bytes");
        Self(read)
    }

    pub fn parse(text: &str) -> Option<Self> {
        unb64_array::<32>(text).ok().map(Self)
    }

    pub fn to_b64(&self) -> String {
        b64(&self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `read_check = SHA-256(read)`: what opening an upload presents.
    pub fn check(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }

    /// The file id this proof reads.
    pub fn file_id(&self) -> String {
        file_id_of(&self.check())
    }

    /// Whether this proof reads `file_id`.
    pub fn reads(&self, file_id: &str) -> bool {
        self.file_id() == file_id
    }
}

/// The secret that binds chunk PUTs to the browser that paid for an upload.
#[derive(Clone, PartialEq, Eq)]
pub struct PutSecret([u8; 32]);

impl std::fmt::Debug for PutSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PutSecret(…)")
    }
}

impl PutSecret {
    /// From 32 fresh random bytes (the caller's randomness source).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn parse(text: &str) -> Option<Self> {
        unb64_array::<32>(text).ok().map(Self)
    }

    pub fn to_b64(&self) -> String {
        b64(&self.0)
    }

    /// `put_check = SHA-256(put secret)`: what the server keeps per payer.
    pub fn check(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_id_checks_the_proofs_and_nothing_else() {
        let read = ReadProof::derive(&[7; 32]);
        let id = read.file_id();
        assert!(read.reads(&id));
        assert!(read_check_opens(&id, &b64(&read.check())));
        assert!(!read_check_opens(&id, &read.to_b64()), "read itself is not read_check");
        assert!(!read_check_opens(&id, "short"));
        assert!(!ReadProof::derive(&[8; 32]).reads(&id));
        assert!(same_32(&[1; 32], &[1; 32]) && !same_32(&[1; 32], &[2; 32]));
        assert_ne!(PutSecret::from_bytes([1; 32]).check(), PutSecret::from_bytes([2; 32]).check());
    }
}
