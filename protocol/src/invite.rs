//! Invite keys: how a room admits only people who hold its invite link, without the
//! server ever learning the link's secret.
//!
//! The invite key pair is derived from a content key (the one in the link's `#fragment`):
//! `seed = HKDF-SHA256(salt "cloakroom/v2/invite", ikm content key, info room id ‖ counter
//! u8)`, taking the first counter (from 0) whose seed is a valid P-256 scalar. The owner
//! registers the public half in the owner-signed room state ([`crate::room_state`]). A
//! newcomer proves it holds the link by signing the invite transcript (room id, its own
//! identity key) with the invite key; the room checks the proof against the registered
//! invite key, and the owner's browser re-checks every member's proof before it wraps a
//! new key to it. The proof is bound to the member key, so it is useless to anyone else.
//!
//! Rotating the invite (a re-key whose new state names a new epoch's invite key) stops
//! old links from admitting new keys; members already admitted stay.

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::content_key::ContentKey;
use crate::identity::{IdentityKey, PublicKey, Signature};
use crate::ids::RoomId;
use crate::transcript;

const SALT: &[u8] = b"cloakroom/v2/invite";

/// The invite key pair a content key gives for a room.
pub fn invite_key(room: &RoomId, content_key: &ContentKey) -> IdentityKey {
    let hk = Hkdf::<Sha256>::new(Some(SALT), content_key.as_bytes());
    for counter in 0u8..=255 {
        let mut info = room.as_str().as_bytes().to_vec();
        info.push(counter);
        let mut seed = [0u8; 32];
        hk.expand(&info, &mut seed).expect("32 bytes is a valid HKDF length");
        if let Ok(key) = IdentityKey::from_secret_bytes(&seed) {
            return key;
        }
    }
    unreachable!("256 HKDF outputs in a row outside the P-256 scalar range")
}

/// A newcomer's proof that it holds the invite link: the invite key's signature over the
/// invite transcript of (room, member key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteProof {
    /// The invite public key that signed.
    pub invite: PublicKey,
    pub sig: Signature,
}

impl InviteProof {
    /// Makes the proof for `member` from the link's content key.
    pub fn make(room: &RoomId, content_key: &ContentKey, member: &PublicKey) -> Self {
        let key = invite_key(room, content_key);
        InviteProof { invite: key.public_key(), sig: key.sign(&transcript::invite(room, member)) }
    }

    /// True when the proof is a valid signature by `self.invite` for `member` in `room`.
    pub fn verifies(&self, room: &RoomId, member: &PublicKey) -> bool {
        self.invite.verify(&transcript::invite(room, member), &self.sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proof_binds_room_member_and_link() {
        let owner = IdentityKey::from_secret_bytes(&[1; 32]).unwrap();
        let room = RoomId::from_owner_key(&owner.public_key());
        let other_room = RoomId::from_owner_key(&IdentityKey::from_secret_bytes(&[4; 32]).unwrap().public_key());
        let link = ContentKey::from_bytes([7; 32]);
        let member = IdentityKey::from_secret_bytes(&[2; 32]).unwrap().public_key();
        let stranger = IdentityKey::from_secret_bytes(&[3; 32]).unwrap().public_key();
        // Deterministic: owner and member derive the same invite key from the same link.
        assert_eq!(invite_key(&room, &link).public_key(), invite_key(&room, &link).public_key());
        assert_ne!(invite_key(&room, &link).public_key(), invite_key(&other_room, &link).public_key());
        let proof = InviteProof::make(&room, &link, &member);
        assert_eq!(proof.invite, invite_key(&room, &link).public_key());
        assert!(proof.verifies(&room, &member));
        assert!(!proof.verifies(&room, &stranger), "a proof is useless for another key");
        assert!(!proof.verifies(&other_room, &member));
        let wrong_link = InviteProof::make(&room, &ContentKey::from_bytes([8; 32]), &member);
        assert_ne!(wrong_link.invite, proof.invite);
    }
}
