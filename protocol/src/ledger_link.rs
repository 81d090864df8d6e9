//! Links sealed to the offline ledger key: which room issued (or spent) a storage token.
//!
//! The ledger in KV_global is keyed by token hashes only. The link from a token to its
//! room is sealed (ECIES: ephemeral P-256 ECDH → HKDF-SHA256 → AES-256-GCM) to the
//! ledger public key, whose private half the offline CLI keeps. Online, no one can tell
//! which room a token or a stored object belongs to; offline, the operator can audit and
//! garbage-collect.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::envelope::B64Bytes;
use crate::identity::{IdentityKey, PublicKey};
use crate::transcript;

const SALT: &[u8] = b"cloakroom/v1/ledger-link";

/// A small payload only the ledger key's holder can open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedLink {
    pub eph: PublicKey,
    pub iv: B64Bytes,
    pub ct: B64Bytes,
}

/// A sealed link that does not open with this key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ledger link does not open with this ledger key")]
pub struct OpenLinkError;

fn cipher(shared: &[u8; 32], info: &[u8]) -> Aes256Gcm {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(SALT), shared).expand(info, &mut key).expect("32 bytes is a valid HKDF length");
    Aes256Gcm::new_from_slice(&key).expect("32-byte key")
}

/// Seals `payload` to `ledger`. `ephemeral` must be a fresh key, `iv` fresh bytes.
pub fn seal(ledger: &PublicKey, payload: &[u8], ephemeral: &IdentityKey, iv: [u8; 12]) -> SealedLink {
    let eph = ephemeral.public_key();
    let info = transcript::ledger_link(&eph, ledger);
    let ct = cipher(&ephemeral.shared_secret(ledger), &info)
        .encrypt(&Nonce::from(iv), Payload { msg: payload, aad: &info })
        .expect("AES-GCM of a small payload");
    SealedLink { eph, iv: B64Bytes(iv.to_vec()), ct: B64Bytes(ct) }
}

/// Opens a link with the ledger's private key.
pub fn open(ledger: &IdentityKey, link: &SealedLink) -> Result<Vec<u8>, OpenLinkError> {
    let iv: [u8; 12] = link.iv.0.as_slice().try_into().map_err(|_| OpenLinkError)?;
    let info = transcript::ledger_link(&link.eph, &ledger.public_key());
    cipher(&ledger.shared_secret(&link.eph), &info)
        .decrypt(&Nonce::from(iv), Payload { msg: &link.ct.0, aad: &info })
        .map_err(|_| OpenLinkError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ledger_key_opens_a_link() {
        let ledger = IdentityKey::from_secret_bytes(&[1; 32]).unwrap();
        let other = IdentityKey::from_secret_bytes(&[2; 32]).unwrap();
        let eph = IdentityKey::from_secret_bytes(&[3; 32]).unwrap();
        let link = seal(&ledger.public_key(), b"room:abc", &eph, [4; 12]);
        assert_eq!(open(&ledger, &link).unwrap(), b"room:abc");
        assert_eq!(open(&other, &link), Err(OpenLinkError));
        let mut tampered = link.clone();
        tampered.ct.0[0] ^= 1;
        assert_eq!(open(&ledger, &tampered), Err(OpenLinkError));
    }
}
