//! Whispers: messages only two members can read, inside a room.
//!
//! A whisper is an ordinary envelope with `to` set, encrypted under a pairwise key both
//! ends can compute: `HKDF-SHA256(salt = "cloakroom/v1/whisper", ikm = ECDH(me, peer).x,
//! info = room id)`. Everyone else sees that a whisper happened (sender, recipient, time)
//! but cannot read it; the sender's signature still proves who wrote it.

use hkdf::Hkdf;
use sha2::Sha256;

use crate::content_key::ContentKey;
use crate::identity::{IdentityKey, PublicKey};
use crate::ids::RoomId;

const SALT: &[u8] = b"cloakroom/v1/whisper";

/// The key `me` and `peer` share for whispers in `room`.
pub fn pair_key(me: &IdentityKey, peer: &PublicKey, room: &RoomId) -> ContentKey {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(SALT), &me.shared_secret(peer))
        .expand(room.as_str().as_bytes(), &mut key)
        .expect("32 bytes is a valid HKDF length");
    ContentKey::from_bytes(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{self, Content, MessageBody, SealInput};
    use crate::ids::ClientMessageId;

    #[test]
    fn both_ends_and_only_they_read_a_whisper() {
        let (a, b, c) = (
            IdentityKey::from_secret_bytes(&[1; 32]).unwrap(),
            IdentityKey::from_secret_bytes(&[2; 32]).unwrap(),
            IdentityKey::from_secret_bytes(&[3; 32]).unwrap(),
        );
        let room = RoomId::from_owner_key(&a.public_key());
        assert_eq!(pair_key(&a, &b.public_key(), &room), pair_key(&b, &a.public_key(), &room));
        let body = MessageBody { alias: "A".into(), content: Content::text("psst") };
        let cid = ClientMessageId::parse("w1").unwrap();
        let to = b.public_key();
        let env = envelope::seal(
            &SealInput { room: &room, epoch: 0, cid: &cid, to: Some(&to), body: &body },
            &pair_key(&a, &to, &room),
            &a,
            [9; 12],
        );
        assert_eq!(envelope::open(&env, &pair_key(&b, &a.public_key(), &room)).unwrap(), body);
        assert!(envelope::open(&env, &pair_key(&c, &a.public_key(), &room)).is_err());
        let other_room = RoomId::from_owner_key(&b.public_key());
        assert_ne!(pair_key(&a, &to, &room), pair_key(&a, &to, &other_room));
    }
}
