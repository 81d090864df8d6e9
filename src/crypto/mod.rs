//! The client's cryptography glue: fresh randomness from the browser's CSPRNG
//! (`crypto.getRandomValues` via getrandom) fed into the pure functions of `protocol`,
//! and WebCrypto ([`webcrypto`]) where it is much faster than Rust in wasm.
//!
//! Decision: messages are sealed and decrypted with `protocol`'s pure-Rust AES-GCM (they
//! are at most 32 KiB, synchronous, and must match the vectors byte for byte); their
//! signatures are *verified* with WebCrypto (about 10× faster than p256 in wasm, which
//! matters when a page of history arrives) and *made* with `protocol` (RFC 6979
//! deterministic, one per message sent). The export KDF is WebCrypto's PBKDF2.

pub use ::webcrypto;

use protocol::content_key::ContentKey;
use protocol::envelope::{self, Content, Envelope, MessageBody, OpenError, SealInput};
use protocol::identity::{IdentityKey, PublicKey, Signature};
use protocol::ids::{ClientMessageId, RoomId};
use protocol::transcript;

/// `N` bytes from the browser's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("crypto.getRandomValues is available");
    out
}

/// A new per-room identity key pair.
pub fn new_identity() -> IdentityKey {
    loop {
        // Fails only for the (astronomically rare) bytes outside the curve's scalar range.
        if let Ok(key) = IdentityKey::from_secret_bytes(&random_bytes::<32>()) {
            return key;
        }
    }
}

/// A new room content key.
pub fn new_content_key() -> ContentKey {
    ContentKey::from_bytes(random_bytes::<32>())
}

/// A new client message id.
pub fn new_client_id() -> ClientMessageId {
    ClientMessageId::from_random(random_bytes::<16>())
}

/// What to seal: a text or a shared file, to the room (under `epoch`'s key) or as a
/// whisper to one member.
pub struct Outgoing<'a> {
    pub room: &'a RoomId,
    pub identity: &'a IdentityKey,
    pub alias: &'a str,
    pub content: &'a Content,
    pub epoch: u32,
    pub to: Option<&'a PublicKey>,
}

/// Encrypts and signs a message with `key` (the epoch key, or the whisper pair key).
pub fn seal(out: &Outgoing<'_>, key: &ContentKey, cid: &ClientMessageId) -> Envelope {
    let body = MessageBody { alias: out.alias.to_owned(), content: out.content.clone() };
    let input = SealInput { room: out.room, epoch: out.epoch, cid, to: out.to, body: &body };
    envelope::seal(&input, key, out.identity, random_bytes::<12>())
}

/// Verifies (in pure Rust) and decrypts a message.
pub fn open(env: &Envelope, key: &ContentKey) -> Result<MessageBody, OpenError> {
    envelope::open(env, key)
}

/// Decrypts a message whose signature was verified with WebCrypto.
pub fn decrypt(env: &Envelope, key: &ContentKey) -> Result<MessageBody, OpenError> {
    envelope::decrypt(env, key)
}

/// Signs the server's join challenge.
pub fn answer_challenge(identity: &IdentityKey, room: &RoomId, nonce: &[u8]) -> Signature {
    identity.sign(&transcript::join(room, nonce))
}
