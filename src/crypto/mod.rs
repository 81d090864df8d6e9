//! The client's cryptography glue: fresh randomness from the browser's CSPRNG
//! (`crypto.getRandomValues` via getrandom) fed into the pure functions of `protocol`.

use protocol::content_key::ContentKey;
use protocol::envelope::{self, Content, Envelope, MessageBody, OpenError, SealInput};
use protocol::identity::{IdentityKey, Signature};
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

/// Encrypts and signs a text message.
pub fn seal_text(
    room: &RoomId,
    identity: &IdentityKey,
    key: &ContentKey,
    cid: &ClientMessageId,
    alias: &str,
    text: &str,
) -> Envelope {
    let body = MessageBody { alias: alias.to_owned(), content: Content::Text { text: text.to_owned() } };
    let input = SealInput { room, epoch: 0, cid, to: None, body: &body };
    envelope::seal(&input, key, identity, random_bytes::<12>())
}

/// Verifies and decrypts a message.
pub fn open(env: &Envelope, key: &ContentKey) -> Result<MessageBody, OpenError> {
    envelope::open(env, key)
}

/// Signs the server's join challenge.
pub fn answer_challenge(identity: &IdentityKey, room: &RoomId, nonce: &[u8]) -> Signature {
    identity.sign(&transcript::join(room, nonce))
}
