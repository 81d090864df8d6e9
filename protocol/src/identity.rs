//! Per-room identities: P-256 key pairs, their public keys and ECDSA signatures.
//!
//! Every participant has one [`IdentityKey`] per room, created in the browser. Messages,
//! join answers and owner calls are signed with it (ECDSA P-256, SHA-256, deterministic
//! nonces per RFC 6979, signatures as 64-byte `r ‖ s`). Public keys travel as base64url
//! of the 65-byte uncompressed SEC1 point.
//!
//! Signatures are always **low-S** (`s ≤ n/2`, n the group order): [`IdentityKey::sign`]
//! normalises, and every verifier refuses the high-S twin `(r, n − s)` that ECDSA would
//! otherwise also accept, so a signature has exactly one valid encoding.

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature as EcdsaSignature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::encoding::{b64, unb64, unb64_array};

/// A key or signature that cannot be decoded or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a valid P-256 secret key")]
    BadSecretKey,
    #[error("not a valid P-256 public key (65-byte uncompressed SEC1, base64url)")]
    BadPublicKey,
    #[error("not a 64-byte ECDSA signature in base64url")]
    BadSignatureEncoding,
    #[error("the signature does not verify")]
    SignatureMismatch,
    #[error("the signature is not in low-S form (s above n/2)")]
    HighS,
}

/// The P-256 group order n, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa,
    0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// ⌊n / 2⌋, big-endian: the largest `s` a low-S signature may have.
const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xde, 0x73, 0x7d,
    0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

/// A participant's private identity key for one room.
#[derive(Clone)]
pub struct IdentityKey {
    signing: SigningKey,
}

impl IdentityKey {
    /// Builds a key from 32 secret bytes. Fails (rarely, for zero or values ≥ the group
    /// order) so callers retry with fresh random bytes.
    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let signing = SigningKey::from_slice(bytes).map_err(|_| KeyError::BadSecretKey)?;
        Ok(Self { signing })
    }

    /// The 32 secret bytes, for the client's local key store and export file only.
    pub fn to_secret_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.signing.to_bytes());
        out
    }

    /// The secret as base64url (the form kept in local storage).
    pub fn to_secret_b64(&self) -> String {
        b64(&self.to_secret_bytes())
    }

    pub fn from_secret_b64(text: &str) -> Result<Self, KeyError> {
        let bytes = unb64_array::<32>(text).map_err(|_| KeyError::BadSecretKey)?;
        Self::from_secret_bytes(&bytes)
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey { verifying: *self.signing.verifying_key() }
    }

    /// The ECDH shared secret with `peer` (the x-coordinate of the shared point). Used
    /// only through HKDF with a purpose-specific label (key wrapping, whispers).
    pub fn shared_secret(&self, peer: &PublicKey) -> [u8; 32] {
        let shared = p256::ecdh::diffie_hellman(self.signing.as_nonzero_scalar(), peer.verifying.as_affine());
        let mut out = [0u8; 32];
        out.copy_from_slice(shared.raw_secret_bytes());
        out
    }

    /// Signs a transcript (see [`crate::transcript`]); the signature is always low-S.
    pub fn sign(&self, transcript: &[u8]) -> Signature {
        let sig: EcdsaSignature = self.signing.sign(transcript);
        let mut out = [0u8; 64];
        out.copy_from_slice(&sig.to_bytes());
        let sig = Signature(out);
        if sig.is_low_s() { sig } else { sig.s_twin() }
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", self.public_key())
    }
}

/// A participant's public identity key.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicKey {
    verifying: VerifyingKey,
}

impl PublicKey {
    /// The 65-byte uncompressed SEC1 encoding (`0x04 ‖ x ‖ y`).
    pub fn to_sec1_uncompressed(&self) -> Vec<u8> {
        self.verifying.to_sec1_point(false).as_bytes().to_vec()
    }

    pub fn from_sec1(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 65 || bytes[0] != 0x04 {
            return Err(KeyError::BadPublicKey);
        }
        let verifying = VerifyingKey::from_sec1_bytes(bytes).map_err(|_| KeyError::BadPublicKey)?;
        Ok(Self { verifying })
    }

    /// Parses the wire form: base64url of the uncompressed SEC1 point.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bytes = unb64(text).map_err(|_| KeyError::BadPublicKey)?;
        Self::from_sec1(&bytes)
    }

    /// The wire form: base64url of the uncompressed SEC1 point (87 characters).
    pub fn to_b64(&self) -> String {
        b64(&self.to_sec1_uncompressed())
    }

    /// Verifies `signature` over `transcript`; a high-S signature is refused.
    pub fn verify(&self, transcript: &[u8], signature: &Signature) -> Result<(), KeyError> {
        if !signature.is_low_s() {
            return Err(KeyError::HighS);
        }
        let sig = EcdsaSignature::from_slice(&signature.0).map_err(|_| KeyError::BadSignatureEncoding)?;
        self.verifying.verify(transcript, &sig).map_err(|_| KeyError::SignatureMismatch)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_b64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_b64())
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_sec1_uncompressed().hash(state)
    }
}

impl TryFrom<String> for PublicKey {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PublicKey::parse(&value)
    }
}

impl From<PublicKey> for String {
    fn from(value: PublicKey) -> Self {
        value.to_b64()
    }
}

/// An ECDSA P-256 signature, 64 bytes `r ‖ s`, base64url on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        unb64_array::<64>(text).map(Signature).map_err(|_| KeyError::BadSignatureEncoding)
    }

    pub fn to_b64(&self) -> String {
        b64(&self.0)
    }

    /// The `s` half (big-endian).
    fn s(&self) -> &[u8] {
        &self.0[32..]
    }

    /// True when `s ≤ ⌊n/2⌋`, the only form this protocol accepts. Every verifier (the
    /// portable one, the server's `ring` one and the browser's WebCrypto one) checks this
    /// first, because ECDSA itself also accepts `(r, n − s)`.
    pub fn is_low_s(&self) -> bool {
        // Big-endian byte strings of equal length compare like the numbers they encode.
        self.s() <= &HALF_ORDER[..]
    }

    /// The same signature with `s` replaced by `n − s` (`s` taken as below n): the other
    /// encoding plain ECDSA accepts. Used to normalise, and by tests to build the
    /// high-S twin of a valid signature.
    pub fn s_twin(&self) -> Signature {
        let mut out = self.0;
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let mut d = i16::from(ORDER[i]) - i16::from(self.0[32 + i]) - borrow;
            borrow = i16::from(d < 0);
            if d < 0 {
                d += 256;
            }
            out[32 + i] = d as u8;
        }
        Signature(out)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_b64())
    }
}

impl TryFrom<String> for Signature {
    type Error = KeyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Signature::parse(&value)
    }
}

impl From<Signature> for String {
    fn from(value: Signature) -> Self {
        value.to_b64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_encodings() {
        let key = IdentityKey::from_secret_bytes(&[3; 32]).unwrap();
        let public = key.public_key();
        let sig = key.sign(b"hello");
        assert!(public.verify(b"hello", &sig).is_ok());
        assert_eq!(public.verify(b"hellO", &sig), Err(KeyError::SignatureMismatch));
        assert_eq!(PublicKey::parse(&public.to_b64()).unwrap(), public);
        assert_eq!(public.to_b64().len(), 87);
        assert_eq!(Signature::parse(&sig.to_b64()).unwrap(), sig);
        assert_eq!(IdentityKey::from_secret_b64(&key.to_secret_b64()).unwrap().public_key(), public);
        // RFC 6979: the same key and transcript always give the same signature.
        assert_eq!(key.sign(b"hello"), sig);
    }

    #[test]
    fn signing_is_low_s_and_the_high_s_twin_is_refused() {
        let mut high_before_normalising = 0;
        for i in 0..64u8 {
            let key = IdentityKey::from_secret_bytes(&[i.wrapping_add(1); 32]).unwrap();
            let msg = [i; 40];
            let sig = key.sign(&msg);
            assert!(sig.is_low_s(), "signature {i} is high-S");
            assert!(key.public_key().verify(&msg, &sig).is_ok());
            let twin = sig.s_twin();
            assert!(!twin.is_low_s());
            assert_eq!(twin.s_twin(), sig);
            // The twin is a valid plain-ECDSA signature (p256 alone accepts it) ...
            let ecdsa = EcdsaSignature::from_slice(&twin.0).unwrap();
            assert!(key.public_key().verifying.verify(&msg, &ecdsa).is_ok());
            // ... and this protocol refuses it.
            assert_eq!(key.public_key().verify(&msg, &twin), Err(KeyError::HighS));
            // Does p256 itself normalise? Count what it produced before `sign` fixed it.
            let raw: EcdsaSignature = key.signing.sign(&msg);
            let mut raw_bytes = [0u8; 64];
            raw_bytes.copy_from_slice(&raw.to_bytes());
            if !Signature(raw_bytes).is_low_s() {
                high_before_normalising += 1;
            }
        }
        // p256 0.14 does not normalise on its own (about half come out high-S), which is
        // why `sign` does.
        assert!(high_before_normalising > 0, "p256 now normalises: the normalisation step is redundant");
    }

    #[test]
    fn low_s_edges() {
        let with_s = |s: [u8; 32]| {
            let mut b = [1u8; 64];
            b[32..].copy_from_slice(&s);
            Signature(b)
        };
        assert!(with_s(HALF_ORDER).is_low_s());
        let mut above = HALF_ORDER;
        above[31] += 1;
        assert!(!with_s(above).is_low_s());
        assert!(with_s([0; 32]).is_low_s());
        assert!(!with_s(ORDER).is_low_s());
        // n − ⌊n/2⌋ = ⌊n/2⌋ + 1 (n is odd): the twin of the largest low s is the smallest high one.
        assert_eq!(with_s(HALF_ORDER).s_twin(), with_s(above));
    }

    #[test]
    fn ecdh_is_symmetric() {
        let a = IdentityKey::from_secret_bytes(&[3; 32]).unwrap();
        let b = IdentityKey::from_secret_bytes(&[4; 32]).unwrap();
        assert_eq!(a.shared_secret(&b.public_key()), b.shared_secret(&a.public_key()));
        assert_ne!(a.shared_secret(&b.public_key()), a.shared_secret(&a.public_key()));
    }

    #[test]
    fn rejects_bad_keys() {
        assert_eq!(IdentityKey::from_secret_bytes(&[0; 32]).unwrap_err(), KeyError::BadSecretKey);
        assert_eq!(IdentityKey::from_secret_bytes(&[0xff; 32]).unwrap_err(), KeyError::BadSecretKey);
        assert_eq!(PublicKey::parse("AAAA").unwrap_err(), KeyError::BadPublicKey);
        let mut not_on_curve = vec![4u8];
        not_on_curve.extend([1u8; 64]);
        assert_eq!(PublicKey::from_sec1(&not_on_curve).unwrap_err(), KeyError::BadPublicKey);
        let key = IdentityKey::from_secret_bytes(&[3; 32]).unwrap();
        let compressed = key.public_key().verifying.to_sec1_point(true).as_bytes().to_vec();
        assert_eq!(PublicKey::from_sec1(&compressed).unwrap_err(), KeyError::BadPublicKey);
        assert_eq!(Signature::parse("abc").unwrap_err(), KeyError::BadSignatureEncoding);
    }
}
