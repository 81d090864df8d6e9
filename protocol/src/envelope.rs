//! Messages: the plaintext body, the encrypted and signed [`Envelope`] that travels and is
//! stored, and the functions that seal and open it.
//!
//! Sealing: the body is serialised as JSON, padded with spaces to a multiple of
//! [`PAD_BLOCK`] bytes (so lengths leak only in coarse steps), encrypted with AES-256-GCM
//! under the room content key with the header as associated data, and the header, nonce
//! and ciphertext are signed by the sender's identity key. Anyone (the server included)
//! can check the signature; only holders of the content key can read the body.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};

use crate::ENVELOPE_VERSION;
use crate::content_key::ContentKey;
use crate::encoding::{b64, unb64};
use crate::identity::{IdentityKey, KeyError, PublicKey, Signature};
use crate::ids::{ClientMessageId, MessageKey, RoomId};
use crate::transcript::{self, MessageHeader};

/// Plaintext is padded to a multiple of this many bytes before encryption.
pub const PAD_BLOCK: usize = 256;

/// What a message says. Unknown kinds (from newer clients) decode as [`Content::Unsupported`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// A text message; a reply when `reply_to` names the message it answers (older
    /// clients ignore the field and show the text).
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<crate::actions::MessageRef>,
    },
    /// A shared file.
    File { file: crate::objects::FileHandle },
    /// A shared image: a small thumbnail travels inside the message; the preview and the
    /// original are stored files.
    Image {
        full: crate::objects::FileHandle,
        #[serde(default)]
        preview: Option<crate::objects::FileHandle>,
        /// `data:image/jpeg;base64,…`, small enough to show at once.
        thumbnail: String,
        width: u32,
        height: u32,
    },
    /// Replaces the text of the sender's own earlier message (see [`crate::actions`]).
    Edit { target: crate::actions::MessageRef, text: String },
    /// Deletes a message for everyone: the sender's own, or any as the room's owner.
    Delete { target: crate::actions::MessageRef },
    /// Adds (`on`) or takes back one reaction to a message.
    Reaction { target: crate::actions::MessageRef, emoji: String, on: bool },
    /// (Ephemeral only) the sender is typing (`on`) or stopped.
    Typing { on: bool },
    /// (Ephemeral only) the sender has read the room up to this message key.
    Seen { up_to: crate::ids::MessageKey },
    /// (Ephemeral only, addressed to one member) a call's signalling: see [`crate::call`].
    CallSignal { call: String, signal: crate::call::Signal },
    /// A call that took place (posted by its caller when it ends): how long it lasted
    /// once connected, in seconds, and whether with video.
    CallEnded { seconds: u32, video: bool },
    /// The sender joined the room: posted once by a new member's browser when the room
    /// first lets it read (see [`crate::actions`] for the membership rules).
    Joined,
    /// The sender left the room (and forgot it on that device).
    Left,
    /// (The owner only) the owner let `member` into the locked room.
    Accepted { member: PublicKey },
    /// (The owner only) the owner removed `member` and re-keyed the room.
    Removed { member: PublicKey },
    /// A content type this client does not know.
    #[serde(other)]
    Unsupported,
}

impl Content {
    /// A plain text message (no reply).
    pub fn text(text: impl Into<String>) -> Content {
        Content::Text { text: text.into(), reply_to: None }
    }

    /// Whether this content belongs in an ephemeral frame (presence), never in a stored
    /// message. Receivers ignore presence found in stored messages and anything else
    /// found in ephemeral frames, so a server that moves one into the other changes
    /// nothing anyone sees.
    pub fn is_ephemeral(&self) -> bool {
        matches!(self, Content::Typing { .. } | Content::Seen { .. } | Content::CallSignal { .. })
    }

    /// Whether this is a membership line (joined, left, accepted, removed: see
    /// [`crate::actions`]), shown as a system line rather than as something said.
    pub fn is_membership(&self) -> bool {
        matches!(self, Content::Joined | Content::Left | Content::Accepted { .. } | Content::Removed { .. })
    }
}

/// The plaintext of a message: who the sender says they are, and what they say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageBody {
    /// The sender's chosen display name in this room.
    pub alias: String,
    pub content: Content,
}

/// Binary data carried as base64url text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct B64Bytes(pub Vec<u8>);

impl TryFrom<String> for B64Bytes {
    type Error = crate::encoding::DecodeError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        unb64(&value).map(B64Bytes)
    }
}

impl From<B64Bytes> for String {
    fn from(value: B64Bytes) -> Self {
        b64(&value.0)
    }
}

impl std::fmt::Debug for B64Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "B64Bytes({} bytes)", self.0.len())
    }
}

/// An encrypted, signed message as sent by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Protocol version ([`ENVELOPE_VERSION`]).
    pub v: u32,
    pub room: RoomId,
    pub sender: PublicKey,
    /// Key epoch of the content key used (0 until the room is re-keyed).
    pub epoch: u32,
    /// Sender-chosen id, reused on every resend of this message.
    pub cid: ClientMessageId,
    /// Whisper recipient, when the message is only for one member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<PublicKey>,
    /// AES-GCM nonce, 12 bytes.
    pub iv: B64Bytes,
    /// AES-GCM ciphertext with its 16-byte tag.
    pub ct: B64Bytes,
    pub sig: Signature,
}

/// A message as stored and delivered: the envelope and the key the room worker gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub key: MessageKey,
    pub env: Envelope,
    /// Its sender or the room's owner had the server drop its content
    /// ([`StoredMessage::erase`]): `env.iv` and `env.ct` are empty, so its signature no
    /// longer verifies and nothing is left to open. Receivers show it as deleted only if a
    /// delete from its sender or the owner came too; otherwise as removed by the server.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

impl StoredMessage {
    /// A message as the room commits it.
    pub fn new(key: MessageKey, env: Envelope) -> Self {
        Self { key, env, erased: false }
    }

    /// Drops the content (nonce and ciphertext) and keeps the header: who sent it, when,
    /// under which id and to whom, which the room already showed and which a delete names.
    pub fn erase(&mut self) {
        self.env.iv = B64Bytes(Vec::new());
        self.env.ct = B64Bytes(Vec::new());
        self.erased = true;
    }

    /// Bytes of the JSON form the server stores; must not exceed `max_message_bytes`.
    pub fn encoded_len(&self) -> usize {
        serde_json::to_vec(self).map(|v| v.len()).unwrap_or(usize::MAX)
    }
}

/// What the sender supplies to seal a message.
pub struct SealInput<'a> {
    pub room: &'a RoomId,
    pub epoch: u32,
    pub cid: &'a ClientMessageId,
    pub to: Option<&'a PublicKey>,
    pub body: &'a MessageBody,
}

/// Why a message could not be opened. Receivers show both as "tampered", never as valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("the sender's signature does not verify")]
    BadSignature,
    #[error("the message does not decrypt with this key")]
    DecryptFailed,
    #[error("the decrypted body is not a valid message")]
    BadBody,
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
}

impl Envelope {
    fn header(&self) -> MessageHeader<'_> {
        MessageHeader {
            room: &self.room,
            sender: &self.sender,
            epoch: self.epoch,
            cid: &self.cid,
            to: self.to.as_ref(),
        }
    }

    /// The associated data the ciphertext is bound to (room, sender, epoch, id, recipient).
    pub fn aad(&self) -> Vec<u8> {
        transcript::message_aad(&self.header())
    }

    /// The bytes the sender signed.
    pub fn signature_transcript(&self) -> Vec<u8> {
        transcript::message_signature(&self.header(), &self.iv.0, &self.ct.0)
    }

    /// Checks the sender's signature (what the server checks before storing).
    pub fn verify_signature(&self) -> Result<(), KeyError> {
        self.sender.verify(&self.signature_transcript(), &self.sig)
    }

    /// Size of the stored JSON form of this envelope (its key has a fixed width).
    pub fn stored_len(&self) -> usize {
        let key = MessageKey::new(&self.room, crate::ids::Timestamp(0));
        StoredMessage::new(key, self.clone()).encoded_len()
    }
}

/// JSON of the body, padded with spaces (valid JSON whitespace) to a multiple of [`PAD_BLOCK`].
fn padded_plaintext(body: &MessageBody) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(body).expect("a message body always serialises");
    let padded_len = bytes.len().div_ceil(PAD_BLOCK).max(1) * PAD_BLOCK;
    bytes.resize(padded_len, b' ');
    bytes
}

/// Encrypts and signs a message. `iv` must be fresh random bytes for every call.
pub fn seal(input: &SealInput<'_>, key: &ContentKey, identity: &IdentityKey, iv: [u8; 12]) -> Envelope {
    let sender = identity.public_key();
    let header = MessageHeader { room: input.room, sender: &sender, epoch: input.epoch, cid: input.cid, to: input.to };
    let aad = transcript::message_aad(&header);
    let plaintext = padded_plaintext(input.body);
    let cipher = Aes256Gcm::new_from_slice(key.as_bytes()).expect("32-byte key");
    let ct = cipher
        .encrypt(&Nonce::from(iv), Payload { msg: &plaintext, aad: &aad })
        .expect("AES-GCM encryption of a bounded buffer cannot fail");
    let sig = identity.sign(&transcript::message_signature(&header, &iv, &ct));
    Envelope {
        v: ENVELOPE_VERSION,
        room: input.room.clone(),
        sender,
        epoch: input.epoch,
        cid: input.cid.clone(),
        to: input.to.copied(),
        iv: B64Bytes(iv.to_vec()),
        ct: B64Bytes(ct),
        sig,
    }
}

/// Verifies the sender's signature, then decrypts and parses the body.
pub fn open(envelope: &Envelope, key: &ContentKey) -> Result<MessageBody, OpenError> {
    if envelope.v != ENVELOPE_VERSION {
        return Err(OpenError::UnsupportedVersion(envelope.v));
    }
    envelope.verify_signature().map_err(|_| OpenError::BadSignature)?;
    decrypt(envelope, key)
}

/// Decrypts and parses the body **without** checking the signature: only for callers
/// that verified it another way (the browser verifies with WebCrypto, which is faster).
pub fn decrypt(envelope: &Envelope, key: &ContentKey) -> Result<MessageBody, OpenError> {
    let iv = nonce_of(envelope)?;
    let aad = envelope.aad();
    let cipher = Aes256Gcm::new_from_slice(key.as_bytes()).expect("32-byte key");
    let plaintext = cipher
        .decrypt(&Nonce::from(iv), Payload { msg: &envelope.ct.0, aad: &aad })
        .map_err(|_| OpenError::DecryptFailed)?;
    body_of(&plaintext)
}

/// The nonce of a supported envelope, for callers that decrypt with another AES-GCM
/// implementation (the browser's WebCrypto) and then call [`body_of`].
pub fn nonce_of(envelope: &Envelope) -> Result<[u8; 12], OpenError> {
    if envelope.v != ENVELOPE_VERSION {
        return Err(OpenError::UnsupportedVersion(envelope.v));
    }
    envelope.iv.0.as_slice().try_into().map_err(|_| OpenError::DecryptFailed)
}

/// Parses a decrypted (padded) plaintext into the message body.
pub fn body_of(plaintext: &[u8]) -> Result<MessageBody, OpenError> {
    serde_json::from_slice(plaintext).map_err(|_| OpenError::BadBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (IdentityKey, RoomId, ContentKey, ClientMessageId, MessageBody) {
        let id = IdentityKey::from_secret_bytes(&[5; 32]).unwrap();
        let room = RoomId::from_owner_key(&id.public_key());
        let body = MessageBody { alias: "Ann".into(), content: Content::text("hi there") };
        (id, room, ContentKey::from_bytes([6; 32]), ClientMessageId::parse("c1").unwrap(), body)
    }

    #[test]
    fn seal_then_open() {
        let (id, room, key, cid, body) = fixture();
        let env = seal(&SealInput { room: &room, epoch: 0, cid: &cid, to: None, body: &body }, &key, &id, [1; 12]);
        assert!(env.verify_signature().is_ok());
        assert_eq!(env.ct.0.len() % PAD_BLOCK, 16);
        assert_eq!(open(&env, &key).unwrap(), body);
        let wire = serde_json::to_string(&env).unwrap();
        let back: Envelope = serde_json::from_str(&wire).unwrap();
        assert_eq!(open(&back, &key).unwrap(), body);
    }

    #[test]
    fn tampering_is_detected() {
        let (id, room, key, cid, body) = fixture();
        let env = seal(&SealInput { room: &room, epoch: 0, cid: &cid, to: None, body: &body }, &key, &id, [1; 12]);
        let mut flipped = env.clone();
        flipped.ct.0[0] ^= 1;
        assert_eq!(open(&flipped, &key), Err(OpenError::BadSignature));
        let mut other_epoch = env.clone();
        other_epoch.epoch = 1;
        assert_eq!(open(&other_epoch, &key), Err(OpenError::BadSignature));
        assert_eq!(open(&env, &ContentKey::from_bytes([7; 32])), Err(OpenError::DecryptFailed));
        // A forger re-signing someone else's ciphertext under their own key cannot make
        // it decrypt: the sender key is bound into the associated data.
        let forger = IdentityKey::from_secret_bytes(&[8; 32]).unwrap();
        let mut stolen = env.clone();
        stolen.sender = forger.public_key();
        let header = stolen.header();
        stolen.sig = forger.sign(&transcript::message_signature(&header, &stolen.iv.0, &stolen.ct.0));
        assert!(stolen.verify_signature().is_ok());
        assert_eq!(open(&stolen, &key), Err(OpenError::DecryptFailed));
    }

    #[test]
    fn unknown_content_types_are_tolerated() {
        let body: MessageBody = serde_json::from_str(r#"{"alias":"x","content":{"type":"hologram","z":1}}"#).unwrap();
        assert_eq!(body.content, Content::Unsupported);
    }
}
