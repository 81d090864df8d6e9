//! Shared test vectors: fixed inputs and the exact bytes they must produce.
//!
//! `vectors/v1.json` is checked by the native tests of this crate and, in headless
//! Chromium, by the SPA's wasm-bindgen tests, so both builds provably produce and accept
//! the same bytes. `cargo run -p cloakroom-protocol --example gen_vectors` rewrites the file
//! (only needed when the format changes on purpose, together with a version bump).

use serde::{Deserialize, Serialize};

use crate::content_key::ContentKey;
use crate::envelope::{self, Content, Envelope, MessageBody, SealInput};
use crate::identity::{IdentityKey, PublicKey, Signature};
use crate::ids::{ClientMessageId, RoomId};
use crate::key_wrap::{self, WrappedKey};
use crate::keys_file::{self, KeysBundle, KeysFile};
use crate::objects;
use crate::transcript;
use crate::whisper;

/// The committed vector file.
pub const V1_JSON: &str = include_str!("../vectors/v1.json");

/// One sealed-message vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageVector {
    pub name: String,
    /// Sender's identity secret, base64url.
    pub sender_secret: String,
    /// Owner's identity secret (the room id derives from its public key), base64url.
    pub owner_secret: String,
    pub content_key: String,
    pub epoch: u32,
    pub cid: String,
    /// Whisper recipient's public key, if any.
    pub to: Option<String>,
    /// AES-GCM nonce, base64url.
    pub iv: String,
    pub body: MessageBody,
    /// The exact envelope `seal` must produce.
    pub envelope: Envelope,
}

/// One join-answer vector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinVector {
    pub secret: String,
    pub room: RoomId,
    pub challenge: String,
    pub public_key: PublicKey,
    pub signature: Signature,
}

/// A passphrase-derived file key (PBKDF2-HMAC-SHA256), as WebCrypto must compute it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KdfVector {
    pub passphrase: String,
    pub salt: String,
    pub iterations: u32,
    /// The 32-byte key, base64url.
    pub key: String,
    /// A keys file sealed with that key (fixed iv), and what it holds.
    pub file: KeysFile,
    pub bundle: KeysBundle,
}

/// A room key wrapped by the owner to a member.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WrapVector {
    pub owner_secret: String,
    pub member_secret: String,
    pub epoch: u32,
    pub content_key: String,
    pub wrapped: WrappedKey,
}

/// A whisper pair key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WhisperVector {
    pub a_secret: String,
    pub b_secret: String,
    pub room: RoomId,
    pub key: String,
}

/// A shared file: its plaintext is `len` bytes of the pattern [`ObjectVector::plaintext`]
/// (kept out of the file, which would otherwise hold megabytes); the rest is what padding,
/// convergent derivation and chunk encryption must produce from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectVector {
    pub len: u64,
    pub padded: u64,
    pub file_id: String,
    pub key: String,
    /// SHA-256 (base64url) of each encrypted chunk, in order.
    pub chunk_ids: Vec<String>,
}

impl ObjectVector {
    /// Byte `i` of the plaintext is `(i * 31 + 7) mod 251`.
    pub fn plaintext(&self) -> Vec<u8> {
        (0..self.len).map(|i| ((i * 31 + 7) % 251) as u8).collect()
    }

    fn of(len: u64) -> ObjectVector {
        let mut v = ObjectVector { len, padded: 0, file_id: String::new(), key: String::new(), chunk_ids: Vec::new() };
        let (keys, padded, chunks) = objects::encrypt_file_v1(&v.plaintext()).expect("a small file");
        v.padded = padded;
        v.file_id = keys.file_id.clone();
        v.key = keys.key.to_b64();
        v.chunk_ids = chunks.iter().map(|c| objects::chunk_id(c)).collect();
        v
    }
}

/// The vector file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Vectors {
    pub version: u32,
    pub messages: Vec<MessageVector>,
    pub joins: Vec<JoinVector>,
    pub kdfs: Vec<KdfVector>,
    pub wraps: Vec<WrapVector>,
    pub whispers: Vec<WhisperVector>,
    pub objects: Vec<ObjectVector>,
}

/// Loads the committed vectors.
pub fn load() -> Vectors {
    serde_json::from_str(V1_JSON).expect("vectors/v1.json parses")
}

fn identity(secret: &str) -> Result<IdentityKey, String> {
    IdentityKey::from_secret_b64(secret).map_err(|e| format!("bad secret in vector: {e}"))
}

impl MessageVector {
    /// Seals the vector's inputs with this build's code.
    pub fn seal(&self) -> Result<Envelope, String> {
        let sender = identity(&self.sender_secret)?;
        let room = RoomId::from_owner_key(&identity(&self.owner_secret)?.public_key());
        let key = ContentKey::parse(&self.content_key).map_err(|e| e.to_string())?;
        let cid = ClientMessageId::parse(&self.cid).map_err(|e| e.to_string())?;
        let to = self.to.as_deref().map(PublicKey::parse).transpose().map_err(|e| e.to_string())?;
        let iv: [u8; 12] = crate::encoding::unb64_array(&self.iv).map_err(|e| e.to_string())?;
        let input = SealInput { room: &room, epoch: self.epoch, cid: &cid, to: to.as_ref(), body: &self.body };
        Ok(envelope::seal(&input, &key, &sender, iv))
    }

    /// Opens the vector's expected envelope with this build's code.
    pub fn open(&self) -> Result<MessageBody, String> {
        let key = ContentKey::parse(&self.content_key).map_err(|e| e.to_string())?;
        envelope::open(&self.envelope, &key).map_err(|e| e.to_string())
    }
}

impl JoinVector {
    pub fn sign(&self) -> Result<Signature, String> {
        let challenge = crate::encoding::unb64(&self.challenge).map_err(|e| e.to_string())?;
        Ok(identity(&self.secret)?.sign(&transcript::join(&self.room, &challenge)))
    }

    pub fn verify(&self) -> Result<(), String> {
        let challenge = crate::encoding::unb64(&self.challenge).map_err(|e| e.to_string())?;
        self.public_key.verify(&transcript::join(&self.room, &challenge), &self.signature).map_err(|e| e.to_string())
    }
}

/// Checks every vector against this build: sealing reproduces the exact envelope, opening
/// the stored envelope gives the body, join signatures match and verify. Returns the
/// number of checks that passed, or a description of the first mismatch.
pub fn check_all(vectors: &Vectors) -> Result<usize, String> {
    let mut checks = 0;
    for v in &vectors.messages {
        let sealed = v.seal()?;
        if sealed != v.envelope {
            return Err(format!("vector {}: sealed envelope differs from the committed one", v.name));
        }
        if v.open()? != v.body {
            return Err(format!("vector {}: opened body differs", v.name));
        }
        checks += 2;
    }
    for j in &vectors.joins {
        if j.sign()? != j.signature {
            return Err("join vector: signature differs".into());
        }
        j.verify()?;
        checks += 2;
    }
    for k in &vectors.kdfs {
        let salt = crate::encoding::unb64(&k.salt).map_err(|e| e.to_string())?;
        let key = keys_file::derive_file_key(&k.passphrase, &salt, k.iterations);
        if crate::encoding::b64(&key) != k.key {
            return Err("kdf vector: derived key differs".into());
        }
        let parsed =
            keys_file::parse(&serde_json::to_string(&k.file).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        if keys_file::open(&parsed, &key).map_err(|e| e.to_string())? != k.bundle {
            return Err("kdf vector: the file does not open to its bundle".into());
        }
        checks += 2;
    }
    for w in &vectors.wraps {
        let owner = identity(&w.owner_secret)?;
        let member = identity(&w.member_secret)?;
        let room = RoomId::from_owner_key(&owner.public_key());
        let key = key_wrap::unwrap(&member, &w.wrapped, &room).map_err(|e| e.to_string())?;
        if key.to_b64() != w.content_key {
            return Err("wrap vector: unwrapped key differs".into());
        }
        let iv: [u8; 12] = w.wrapped.iv.0.as_slice().try_into().map_err(|_| "wrap vector iv")?;
        if key_wrap::wrap(&owner, &member.public_key(), &room, w.epoch, &key, iv) != w.wrapped {
            return Err("wrap vector: wrapping differs".into());
        }
        checks += 2;
    }
    for v in &vectors.whispers {
        let (a, b) = (identity(&v.a_secret)?, identity(&v.b_secret)?);
        if whisper::pair_key(&a, &b.public_key(), &v.room).to_b64() != v.key
            || whisper::pair_key(&b, &a.public_key(), &v.room).to_b64() != v.key
        {
            return Err("whisper vector: pair key differs".into());
        }
        checks += 1;
    }
    for v in &vectors.objects {
        let plain = v.plaintext();
        let (keys, padded, chunks) = objects::encrypt_file_v1(&plain).ok_or("object vector: too large")?;
        let ids: Vec<String> = chunks.iter().map(|c| objects::chunk_id(c)).collect();
        if padded != v.padded || keys.file_id != v.file_id || keys.key.to_b64() != v.key || ids != v.chunk_ids {
            return Err(format!("object vector of {} bytes: encryption differs", v.len));
        }
        if objects::decrypt_file(&keys, padded, &chunks).map_err(|e| e.to_string())? != plain {
            return Err(format!("object vector of {} bytes: decryption differs", v.len));
        }
        checks += 2;
    }
    Ok(checks)
}

/// Builds the vector set from fixed inputs (used by the `gen_vectors` example).
pub fn generate() -> Vectors {
    let owner_secret = [0x11u8; 32];
    let guest_secret = [0x22u8; 32];
    let owner = IdentityKey::from_secret_bytes(&owner_secret).expect("fixed key");
    let guest = IdentityKey::from_secret_bytes(&guest_secret).expect("fixed key");
    let b64 = crate::encoding::b64;
    let text = |alias: &str, text: &str| MessageBody { alias: alias.into(), content: Content::text(text) };
    let mut messages = vec![
        MessageVector {
            name: "owner-text".into(),
            sender_secret: b64(&owner_secret),
            owner_secret: b64(&owner_secret),
            content_key: b64(&[0x33; 32]),
            epoch: 0,
            cid: "owner-msg-1".into(),
            to: None,
            iv: b64(&[0x44; 12]),
            body: text("Alice", "Hello from the owner 👋"),
            envelope: placeholder_envelope(),
        },
        MessageVector {
            name: "guest-text-multiblock".into(),
            sender_secret: b64(&guest_secret),
            owner_secret: b64(&owner_secret),
            content_key: b64(&[0x33; 32]),
            epoch: 0,
            cid: "guest-msg-1".into(),
            to: None,
            iv: b64(&[0x55; 12]),
            body: text("Bob", &"a longer line that spans several pad blocks. ".repeat(12)),
            envelope: placeholder_envelope(),
        },
        MessageVector {
            name: "guest-whisper-epoch-3".into(),
            sender_secret: b64(&guest_secret),
            owner_secret: b64(&owner_secret),
            content_key: b64(&[0x66; 32]),
            epoch: 3,
            cid: "guest-msg-2".into(),
            to: Some(owner.public_key().to_b64()),
            iv: b64(&[0x77; 12]),
            body: text("Bob", "just for you"),
            envelope: placeholder_envelope(),
        },
    ];
    for v in &mut messages {
        v.envelope = v.seal().expect("fixed inputs seal");
    }
    let room = RoomId::from_owner_key(&owner.public_key());
    let challenge = [0x88u8; 32];
    let joins = vec![JoinVector {
        secret: b64(&guest_secret),
        room: room.clone(),
        challenge: b64(&challenge),
        public_key: guest.public_key(),
        signature: guest.sign(&transcript::join(&room, &challenge)),
    }];
    let salt = [0x99u8; 16];
    let file_key = keys_file::derive_file_key("correct horse battery staple", &salt, keys_file::MIN_ITERATIONS);
    let bundle = KeysBundle {
        rooms: vec![keys_file::RoomEntry {
            room: room.to_string(),
            identity: Some(b64(&owner_secret)),
            keys: std::collections::BTreeMap::from([(0, b64(&[0x33; 32]))]),
            alias: Some("Alice".into()),
            name: Some("Book club".into()),
            owner: true,
            last_seen: None,
        }],
        contacts: std::collections::BTreeMap::from([(guest.public_key().to_b64(), "Bob".to_owned())]),
        verified: std::collections::BTreeMap::new(),
        exported_at: 1_700_000_000_000,
        sso_tokens: vec![],
    };
    let kdfs = vec![KdfVector {
        passphrase: "correct horse battery staple".into(),
        salt: b64(&salt),
        iterations: keys_file::MIN_ITERATIONS,
        key: b64(&file_key),
        file: keys_file::seal(&bundle, &file_key, salt, keys_file::MIN_ITERATIONS, [0xaa; 12]),
        bundle,
    }];
    let wraps = vec![WrapVector {
        owner_secret: b64(&owner_secret),
        member_secret: b64(&guest_secret),
        epoch: 2,
        content_key: b64(&[0x66; 32]),
        wrapped: key_wrap::wrap(&owner, &guest.public_key(), &room, 2, &ContentKey::from_bytes([0x66; 32]), [0xbb; 12]),
    }];
    let whispers = vec![WhisperVector {
        a_secret: b64(&owner_secret),
        b_secret: b64(&guest_secret),
        room: room.clone(),
        key: whisper::pair_key(&owner, &guest.public_key(), &room).to_b64(),
    }];
    // One chunk, and a file just over one chunk (two chunks, the last one short).
    let objects = vec![ObjectVector::of(5_000), ObjectVector::of(objects::CHUNK_BYTES + 1_000)];
    Vectors { version: 1, messages, joins, kdfs, wraps, whispers, objects }
}

fn placeholder_envelope() -> Envelope {
    let key = IdentityKey::from_secret_bytes(&[1; 32]).expect("fixed key");
    let room = RoomId::from_owner_key(&key.public_key());
    let cid = ClientMessageId::parse("x").expect("fixed id");
    let body = MessageBody { alias: String::new(), content: Content::Unsupported };
    envelope::seal(
        &SealInput { room: &room, epoch: 0, cid: &cid, to: None, body: &body },
        &ContentKey::from_bytes([0; 32]),
        &key,
        [0; 12],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_vectors_hold_natively() {
        let vectors = load();
        assert_eq!(vectors.version, 1, "v1.json pins the formats protocol v2 kept from v1");
        let expected = vectors.messages.len() * 2
            + vectors.joins.len() * 2
            + vectors.kdfs.len() * 2
            + vectors.wraps.len() * 2
            + vectors.whispers.len()
            + vectors.objects.len() * 2;
        assert_eq!(check_all(&vectors), Ok(expected));
    }

    #[test]
    fn generation_is_deterministic_and_matches_the_file() {
        let fresh = serde_json::to_value(generate()).unwrap();
        let committed: serde_json::Value = serde_json::from_str(V1_JSON).unwrap();
        assert_eq!(fresh, committed, "vectors/v1.json is stale: the format changed without a version bump");
    }

    #[test]
    fn a_corrupted_vector_is_caught() {
        let mut vectors = load();
        vectors.messages[0].envelope.ct.0[3] ^= 0x80;
        assert!(check_all(&vectors).is_err());
    }
}
