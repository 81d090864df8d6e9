//! Room keys wrapped to one member: how a locked room's new content key reaches exactly
//! the members the owner accepted, through the server, without the server reading it.
//!
//! `KEK = HKDF-SHA256(salt = "cloakroom/v1/key-wrap", ikm = ECDH(owner, member).x,
//! info = key-wrap transcript(room, owner, member, epoch))`, then
//! `ct = AES-256-GCM(KEK, iv, content key, aad = the same transcript)`. The member
//! computes the same ECDH with its own secret and the owner's public key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::content_key::ContentKey;
use crate::envelope::B64Bytes;
use crate::identity::{IdentityKey, PublicKey};
use crate::ids::RoomId;
use crate::transcript;

const SALT: &[u8] = b"cloakroom/v1/key-wrap";

/// A room content key for one epoch, encrypted to one member by the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    pub epoch: u32,
    /// The owner who wrapped it.
    pub from: PublicKey,
    /// The member it is for.
    pub to: PublicKey,
    pub iv: B64Bytes,
    pub ct: B64Bytes,
}

/// A wrapped key that does not open for this member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the wrapped room key does not open with this identity")]
pub struct UnwrapError;

fn kek(shared: &[u8; 32], info: &[u8]) -> Aes256Gcm {
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(SALT), shared).expand(info, &mut key).expect("32 bytes is a valid HKDF length");
    Aes256Gcm::new_from_slice(&key).expect("32-byte key")
}

/// Wraps `key` (epoch `epoch` of `room`) from `owner` to `member`. `iv` must be fresh.
pub fn wrap(
    owner: &IdentityKey,
    member: &PublicKey,
    room: &RoomId,
    epoch: u32,
    key: &ContentKey,
    iv: [u8; 12],
) -> WrappedKey {
    let from = owner.public_key();
    let info = transcript::key_wrap(room, &from, member, epoch);
    let ct = kek(&owner.shared_secret(member), &info)
        .encrypt(&Nonce::from(iv), Payload { msg: key.as_bytes(), aad: &info })
        .expect("AES-GCM of 32 bytes");
    WrappedKey { epoch, from, to: *member, iv: B64Bytes(iv.to_vec()), ct: B64Bytes(ct) }
}

/// Opens a key wrapped to `me`.
pub fn unwrap(me: &IdentityKey, wrapped: &WrappedKey, room: &RoomId) -> Result<ContentKey, UnwrapError> {
    if wrapped.to != me.public_key() {
        return Err(UnwrapError);
    }
    let iv: [u8; 12] = wrapped.iv.0.as_slice().try_into().map_err(|_| UnwrapError)?;
    let info = transcript::key_wrap(room, &wrapped.from, &wrapped.to, wrapped.epoch);
    let bytes = kek(&me.shared_secret(&wrapped.from), &info)
        .decrypt(&Nonce::from(iv), Payload { msg: &wrapped.ct.0, aad: &info })
        .map_err(|_| UnwrapError)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| UnwrapError)?;
    Ok(ContentKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_member_opens_it_and_the_context_is_bound() {
        let owner = IdentityKey::from_secret_bytes(&[1; 32]).unwrap();
        let member = IdentityKey::from_secret_bytes(&[2; 32]).unwrap();
        let stranger = IdentityKey::from_secret_bytes(&[3; 32]).unwrap();
        let room = RoomId::from_owner_key(&owner.public_key());
        let key = ContentKey::from_bytes([9; 32]);
        let w = wrap(&owner, &member.public_key(), &room, 4, &key, [7; 12]);
        assert_eq!(unwrap(&member, &w, &room).unwrap(), key);
        // The owner can wrap to itself, too.
        let own = wrap(&owner, &owner.public_key(), &room, 4, &key, [8; 12]);
        assert_eq!(unwrap(&owner, &own, &room).unwrap(), key);
        assert_eq!(unwrap(&stranger, &w, &room), Err(UnwrapError));
        let mut redirected = w.clone();
        redirected.to = stranger.public_key();
        assert_eq!(unwrap(&stranger, &redirected, &room), Err(UnwrapError));
        let mut other_epoch = w.clone();
        other_epoch.epoch = 5;
        assert_eq!(unwrap(&member, &other_epoch, &room), Err(UnwrapError));
        let other_room = RoomId::from_owner_key(&member.public_key());
        assert_eq!(unwrap(&member, &w, &other_room), Err(UnwrapError));
    }
}
