//! Canonical byte strings that are signed or bound as AES-GCM associated data.
//!
//! Each transcript starts with a NUL-terminated domain label, so a signature made for one
//! purpose can never be replayed for another, followed by length-prefixed fields
//! (`u32` big-endian length, then the bytes) so field boundaries are unambiguous.

use crate::identity::PublicKey;
use crate::ids::{ClientMessageId, RoomId};

const MESSAGE_SIG: &[u8] = b"cloakroom/v1/message-signature\0";
const MESSAGE_AAD: &[u8] = b"cloakroom/v1/message-aad\0";
const JOIN: &[u8] = b"cloakroom/v1/join\0";
const SIGNED_REQUEST: &[u8] = b"cloakroom/v1/signed-request\0";
const KEY_WRAP: &[u8] = b"cloakroom/v1/key-wrap\0";
const BACKUP: &[u8] = b"cloakroom/v1/backup\0";
const LEDGER_LINK: &[u8] = b"cloakroom/v1/ledger-link\0";
const INVITE: &[u8] = b"cloakroom/v2/invite\0";
const ROOM_STATE: &[u8] = b"cloakroom/v2/room-state\0";
const MOTD: &[u8] = b"cloakroom/v2/motd\0";
const ROOM_NAME: &[u8] = b"cloakroom/v2/room-name\0";
const SAFETY_NUMBER: &[u8] = b"cloakroom/v2/safety-number\0";

/// Accumulates a transcript.
struct Transcript(Vec<u8>);

impl Transcript {
    fn new(domain: &[u8]) -> Self {
        Transcript(domain.to_vec())
    }

    fn field(mut self, bytes: &[u8]) -> Self {
        let len = u32::try_from(bytes.len()).expect("transcript fields are far below 4 GiB");
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    fn number(mut self, n: u32) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }

    /// A `u64`, as 8 bytes big-endian without a length prefix.
    fn number64(mut self, n: u64) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }
}

/// The header fields every message transcript starts with.
pub struct MessageHeader<'a> {
    pub room: &'a RoomId,
    pub sender: &'a PublicKey,
    pub epoch: u32,
    pub cid: &'a ClientMessageId,
    pub to: Option<&'a PublicKey>,
}

impl MessageHeader<'_> {
    fn write(&self, t: Transcript) -> Transcript {
        let to = self.to.map(|k| k.to_sec1_uncompressed()).unwrap_or_default();
        t.field(self.room.as_str().as_bytes())
            .field(&self.sender.to_sec1_uncompressed())
            .number(self.epoch)
            .field(self.cid.as_str().as_bytes())
            .field(&to)
    }
}

/// Associated data of a message's AES-GCM encryption: binds the ciphertext to its room,
/// sender, key epoch, client id and whisper recipient.
pub fn message_aad(header: &MessageHeader<'_>) -> Vec<u8> {
    header.write(Transcript::new(MESSAGE_AAD)).0
}

/// What the sender signs: the header, the nonce and the ciphertext.
pub fn message_signature(header: &MessageHeader<'_>, iv: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    header.write(Transcript::new(MESSAGE_SIG)).field(iv).field(ciphertext).0
}

/// What a signed HTTP request signs: method, path, query, SHA-256 of the body, the
/// timestamp (ms) and a nonce.
pub fn signed_request(
    method: &str,
    path: &str,
    query: &str,
    body_sha256: &[u8; 32],
    timestamp_ms: u64,
    nonce: &str,
) -> Vec<u8> {
    Transcript::new(SIGNED_REQUEST)
        .field(method.as_bytes())
        .field(path.as_bytes())
        .field(query.as_bytes())
        .field(body_sha256)
        .field(&timestamp_ms.to_be_bytes())
        .field(nonce.as_bytes())
        .0
}

/// HKDF `info` (and AES-GCM associated data) of a wrapped room key.
pub fn key_wrap(room: &RoomId, from: &PublicKey, to: &PublicKey, epoch: u32) -> Vec<u8> {
    Transcript::new(KEY_WRAP)
        .field(room.as_str().as_bytes())
        .field(&from.to_sec1_uncompressed())
        .field(&to.to_sec1_uncompressed())
        .number(epoch)
        .0
}

/// What the owner signs to vouch for a room backup: the SHA-256 of its canonical JSON.
pub fn backup(room: &RoomId, backup_sha256: &[u8; 32]) -> Vec<u8> {
    Transcript::new(BACKUP).field(room.as_str().as_bytes()).field(backup_sha256).0
}

/// HKDF `info` of a ledger link (a token's room, sealed to the offline ledger key).
pub fn ledger_link(ephemeral: &PublicKey, ledger: &PublicKey) -> Vec<u8> {
    Transcript::new(LEDGER_LINK).field(&ephemeral.to_sec1_uncompressed()).field(&ledger.to_sec1_uncompressed()).0
}

/// What a joining client signs to prove it holds the key it claims.
pub fn join(room: &RoomId, challenge: &[u8]) -> Vec<u8> {
    Transcript::new(JOIN).field(room.as_str().as_bytes()).field(challenge).0
}

/// What an invite key signs to admit `member` to `room`.
pub fn invite(room: &RoomId, member: &PublicKey) -> Vec<u8> {
    Transcript::new(INVITE).field(room.as_str().as_bytes()).field(&member.to_sec1_uncompressed()).0
}

/// What a member's safety-number fingerprint hashes: the room and the member's key.
pub fn safety_number(room: &RoomId, key: &PublicKey) -> Vec<u8> {
    Transcript::new(SAFETY_NUMBER).field(room.as_str().as_bytes()).field(&key.to_sec1_uncompressed()).0
}

/// Associated data of the sealed message of the day of `epoch`.
pub fn motd(room: &RoomId, epoch: u32) -> Vec<u8> {
    Transcript::new(MOTD).field(room.as_str().as_bytes()).number(epoch).0
}

/// Associated data of the sealed room name of `epoch`.
pub fn room_name(room: &RoomId, epoch: u32) -> Vec<u8> {
    Transcript::new(ROOM_NAME).field(room.as_str().as_bytes()).number(epoch).0
}

/// What the owner signs to vouch for the room's state: room, version (8 bytes, no
/// prefix), epoch, locked (0/1), capacity, invite key SEC1, invite epoch, the sealed
/// message of the day's iv and ciphertext (both empty when there is none) and, only when
/// the room has a shared name, the sealed name's iv and ciphertext (so states without a
/// name sign exactly what they did before names existed).
pub fn room_state(state: &crate::room_state::SignedState) -> Vec<u8> {
    let (iv, ct) = match &state.motd {
        Some(m) => (m.iv.0.as_slice(), m.ct.0.as_slice()),
        None => (&[][..], &[][..]),
    };
    let signed = Transcript::new(ROOM_STATE)
        .field(state.room.as_str().as_bytes())
        .number64(state.version)
        .number(state.epoch)
        .number(u32::from(state.locked))
        .number(state.capacity)
        .field(&state.invite.to_sec1_uncompressed())
        .number(state.invite_epoch)
        .field(iv)
        .field(ct);
    match &state.name {
        Some(name) => signed.field(&name.iv.0).field(&name.ct.0).0,
        None => signed.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKey;

    #[test]
    fn fields_are_unambiguous_and_domains_differ() {
        let key = IdentityKey::from_secret_bytes(&[1; 32]).unwrap().public_key();
        let room = RoomId::from_owner_key(&key);
        let cid = ClientMessageId::parse("abc").unwrap();
        let h = MessageHeader { room: &room, sender: &key, epoch: 0, cid: &cid, to: None };
        assert_ne!(message_signature(&h, b"ab", b"c"), message_signature(&h, b"a", b"bc"));
        assert!(!message_aad(&h).starts_with(MESSAGE_SIG));
        assert_ne!(join(&room, b"x"), join(&room, b"y"));
    }
}
