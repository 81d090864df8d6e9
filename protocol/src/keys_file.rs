//! The keys export file: everything a browser knows (identities, room keys, aliases,
//! contacts, room list), encrypted with a passphrase, so it can be moved to another
//! browser or survive a wiped one.
//!
//! ```json
//! {"format": "cloakroom-keys", "v": 1,
//!  "kdf": {"alg": "PBKDF2-HMAC-SHA256", "iterations": 600000, "salt": "<16 bytes>"},
//!  "cipher": {"alg": "AES-256-GCM", "iv": "<12 bytes>"},
//!  "ct": "<encrypted bundle JSON>", "check": "<SHA-256 of the header and ct>"}
//! ```
//!
//! The header (format, v, kdf, cipher) is the AES-GCM associated data, so it cannot be
//! changed without detection. `check` is a plain checksum over header and ciphertext: a
//! file damaged in transit is reported as corrupt, distinct from a wrong passphrase
//! (which only the failing decryption reveals). Browsers derive the key with WebCrypto's
//! PBKDF2; [`derive_file_key`] is the same function in pure Rust (shared test vectors).

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::b64;
use crate::envelope::B64Bytes;

/// Value of [`KeysFile::format`].
pub const FORMAT: &str = "cloakroom-keys";
/// Current version.
pub const VERSION: u32 = 1;
/// PBKDF2 iterations for new files (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Files asking for fewer iterations are refused as unsafe (or forged to be fast to attack).
pub const MIN_ITERATIONS: u32 = 1_000;
/// Files asking for more are refused (a hostile file could freeze the importer).
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// How the file key is derived from the passphrase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    pub alg: String,
    pub iterations: u32,
    pub salt: B64Bytes,
}

/// How the bundle is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CipherParams {
    pub alg: String,
    pub iv: B64Bytes,
}

/// The file as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysFile {
    pub format: String,
    pub v: u32,
    pub kdf: KdfParams,
    pub cipher: CipherParams,
    pub ct: B64Bytes,
    pub check: String,
}

/// One room as the browser keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomEntry {
    pub room: String,
    /// This browser's identity secret for the room (base64url), if it joined.
    pub identity: Option<String>,
    /// Content keys by epoch (base64url).
    pub keys: BTreeMap<u32, String>,
    pub alias: Option<String>,
    /// The local name of the room.
    pub name: Option<String>,
    pub owner: bool,
    /// Newest message key seen.
    pub last_seen: Option<String>,
}

/// What the file protects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysBundle {
    pub rooms: Vec<RoomEntry>,
    /// Local names of other members, by public key.
    pub contacts: BTreeMap<String, String>,
    /// Members whose safety number this browser's user compared, by public key. Absent
    /// in files made before safety numbers existed (and when nobody was verified).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub verified: BTreeMap<String, VerifiedContact>,
    /// When it was exported, ms since the Unix epoch.
    pub exported_at: u64,
    /// Unspent room authorisations from the SSO (absent when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sso_tokens: Vec<crate::sso::KeptToken>,
}

/// A member whose safety number was compared and found equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedContact {
    /// The room the key belongs to (identities are per room).
    pub room: String,
    /// The alias the member used when verified: another key using it in that room is
    /// flagged as not the verified person.
    pub alias: String,
    /// When it was verified, ms since the Unix epoch.
    pub at: u64,
}

/// Why a file cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysFileError {
    #[error("this is not a Cloakroom keys file, or it is damaged: {0}")]
    Corrupt(String),
    #[error("this keys file was made by a newer version (format {0})")]
    UnsupportedVersion(u64),
    #[error("the passphrase is wrong")]
    WrongPassphrase,
}

/// PBKDF2-HMAC-SHA256 of the passphrase: the 32-byte file key.
pub fn derive_file_key(passphrase: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(passphrase.as_bytes(), salt, iterations)
}

fn header_bytes(kdf: &KdfParams, cipher: &CipherParams) -> Vec<u8> {
    serde_json::to_vec(&(FORMAT, VERSION, kdf, cipher)).expect("header serialises")
}

fn checksum(header: &[u8], ct: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(header);
    h.update(ct);
    b64(&h.finalize())
}

/// Encrypts `bundle` with a key from [`derive_file_key`] (or WebCrypto's equivalent).
pub fn seal(bundle: &KeysBundle, file_key: &[u8; 32], salt: [u8; 16], iterations: u32, iv: [u8; 12]) -> KeysFile {
    let kdf = KdfParams { alg: "PBKDF2-HMAC-SHA256".into(), iterations, salt: B64Bytes(salt.to_vec()) };
    let cipher = CipherParams { alg: "AES-256-GCM".into(), iv: B64Bytes(iv.to_vec()) };
    let header = header_bytes(&kdf, &cipher);
    let plaintext = serde_json::to_vec(bundle).expect("bundle serialises");
    let ct = Aes256Gcm::new_from_slice(file_key)
        .expect("32-byte key")
        .encrypt(&Nonce::from(iv), Payload { msg: &plaintext, aad: &header })
        .expect("AES-GCM encryption");
    let check = checksum(&header, &ct);
    KeysFile { format: FORMAT.into(), v: VERSION, kdf, cipher, ct: B64Bytes(ct), check }
}

/// Reads and checks a file's structure and checksum (no passphrase needed yet).
pub fn parse(text: &str) -> Result<KeysFile, KeysFileError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| KeysFileError::Corrupt("it is not JSON".into()))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(KeysFileError::Corrupt("it has no cloakroom-keys header".into()));
    }
    match value.get("v").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => return Err(KeysFileError::UnsupportedVersion(v)),
        None => return Err(KeysFileError::Corrupt("it has no version".into())),
    }
    let file: KeysFile = serde_json::from_value(value).map_err(|e| KeysFileError::Corrupt(e.to_string()))?;
    if file.kdf.alg != "PBKDF2-HMAC-SHA256" || file.cipher.alg != "AES-256-GCM" {
        return Err(KeysFileError::Corrupt("unknown algorithms".into()));
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&file.kdf.iterations)
        || file.kdf.salt.0.len() < 16
        || file.cipher.iv.0.len() != 12
    {
        return Err(KeysFileError::Corrupt("unsafe or malformed parameters".into()));
    }
    if checksum(&header_bytes(&file.kdf, &file.cipher), &file.ct.0) != file.check {
        return Err(KeysFileError::Corrupt("its checksum does not match (the file was altered or cut)".into()));
    }
    Ok(file)
}

/// Decrypts a parsed file with the derived file key.
pub fn open(file: &KeysFile, file_key: &[u8; 32]) -> Result<KeysBundle, KeysFileError> {
    let iv: [u8; 12] = file.cipher.iv.0.as_slice().try_into().map_err(|_| KeysFileError::Corrupt("bad iv".into()))?;
    let header = header_bytes(&file.kdf, &file.cipher);
    let plaintext = Aes256Gcm::new_from_slice(file_key)
        .expect("32-byte key")
        .decrypt(&Nonce::from(iv), Payload { msg: &file.ct.0, aad: &header })
        .map_err(|_| KeysFileError::WrongPassphrase)?;
    serde_json::from_slice(&plaintext).map_err(|e| KeysFileError::Corrupt(format!("the decrypted content: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> KeysBundle {
        let mut keys = BTreeMap::new();
        keys.insert(0, b64(&[1; 32]));
        KeysBundle {
            rooms: vec![RoomEntry {
                room: "r".into(),
                identity: Some(b64(&[2; 32])),
                keys,
                alias: Some("Ann".into()),
                name: None,
                owner: true,
                last_seen: None,
            }],
            contacts: BTreeMap::from([("pk".to_owned(), "Bob".to_owned())]),
            verified: BTreeMap::from([(
                "pk".to_owned(),
                VerifiedContact { room: "r".into(), alias: "Bob".into(), at: 4 },
            )]),
            exported_at: 5,
            sso_tokens: vec![],
        }
    }

    #[test]
    fn round_trip_wrong_passphrase_and_corruption_are_told_apart() {
        let key = derive_file_key("correct horse", &[7; 16], MIN_ITERATIONS);
        let file = seal(&bundle(), &key, [7; 16], MIN_ITERATIONS, [8; 12]);
        let text = serde_json::to_string(&file).unwrap();
        let parsed = parse(&text).unwrap();
        assert_eq!(open(&parsed, &key).unwrap(), bundle());
        let wrong = derive_file_key("wrong horse", &[7; 16], MIN_ITERATIONS);
        assert_eq!(open(&parsed, &wrong), Err(KeysFileError::WrongPassphrase));
        // A flipped byte anywhere in the ciphertext or header is corruption, not a wrong passphrase.
        let mut damaged = file.clone();
        damaged.ct.0[10] ^= 1;
        assert!(matches!(parse(&serde_json::to_string(&damaged).unwrap()), Err(KeysFileError::Corrupt(_))));
        let mut weakened = file.clone();
        weakened.kdf.iterations = 1;
        assert!(matches!(parse(&serde_json::to_string(&weakened).unwrap()), Err(KeysFileError::Corrupt(_))));
        assert!(matches!(parse("not json"), Err(KeysFileError::Corrupt(_))));
        assert!(matches!(parse(&text[..text.len() / 2]), Err(KeysFileError::Corrupt(_))));
        let newer = text.replace("\"v\":1", "\"v\":2");
        assert_eq!(parse(&newer), Err(KeysFileError::UnsupportedVersion(2)));
        // A version past u32 is reported as itself, not truncated to a supported one.
        let huge = text.replace("\"v\":1", "\"v\":4294967297");
        assert_eq!(parse(&huge), Err(KeysFileError::UnsupportedVersion(4_294_967_297)));
    }
}
