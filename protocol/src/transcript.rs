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

/// What a joining client signs to prove it holds the key it claims.
pub fn join(room: &RoomId, challenge: &[u8]) -> Vec<u8> {
    Transcript::new(JOIN).field(room.as_str().as_bytes()).field(challenge).0
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
