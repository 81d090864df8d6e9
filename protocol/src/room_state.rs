//! The owner-signed room state: what every member trusts about a room (its key epoch,
//! lock, capacity, invite key and message of the day) comes signed by the owner key that
//! the room id is derived from, never from the server's word.
//!
//! The owner's browser signs a new [`SignedState`] with every change (and at creation,
//! which also proves it holds the owner key). The server checks it, stores it and hands it
//! to members in `welcome` and `room` frames; clients verify it against the owner key
//! they checked against the room id, and refuse a `version` lower than one they have seen
//! (a rollback). The message of the day is sealed under the content key of `epoch`
//! ([`SealedMotd`]), so the server, and keys without that epoch's key, cannot read it.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::{Deserialize, Serialize};

use crate::content_key::ContentKey;
use crate::envelope::B64Bytes;
use crate::identity::{IdentityKey, PublicKey, Signature};
use crate::ids::RoomId;
use crate::transcript;

/// Longest message of the day, in characters.
pub const MAX_MOTD_CHARS: usize = 1000;
/// The message of the day is padded to a multiple of this many bytes before sealing.
pub const MOTD_PAD: usize = 64;
/// Largest sealed message of the day: 1,000 characters of up to 4 UTF-8 bytes, padded,
/// plus the 16-byte tag.
pub const MAX_SEALED_MOTD_BYTES: usize = (MAX_MOTD_CHARS * 4).div_ceil(MOTD_PAD) * MOTD_PAD + 16;

/// Longest shared room name, in characters.
pub const MAX_ROOM_NAME_CHARS: usize = 100;
/// The room name is padded to a multiple of this many bytes before sealing.
pub const ROOM_NAME_PAD: usize = 32;
/// Largest sealed room name: 100 characters of up to 4 UTF-8 bytes, padded, plus the tag.
pub const MAX_SEALED_ROOM_NAME_BYTES: usize = (MAX_ROOM_NAME_CHARS * 4).div_ceil(ROOM_NAME_PAD) * ROOM_NAME_PAD + 16;

/// A message of the day (or, with [`SealedMotd::seal_room_name`], the room's shared
/// name) encrypted under one epoch's content key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedMotd {
    pub iv: B64Bytes,
    pub ct: B64Bytes,
}

/// A sealed message of the day that does not open with the key given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the message of the day does not open with this key")]
pub struct MotdError;

impl SealedMotd {
    /// Seals `text` (at most [`MAX_MOTD_CHARS`]) for `epoch` of `room`. `iv` must be fresh.
    pub fn seal(room: &RoomId, epoch: u32, key: &ContentKey, text: &str, iv: [u8; 12]) -> Self {
        Self::seal_with(&transcript::motd(room, epoch), MOTD_PAD, key, text, iv)
    }

    /// Seals the room's shared name (at most [`MAX_ROOM_NAME_CHARS`]) for `epoch` of
    /// `room`, bound to its own purpose (a sealed name never opens as a message of the day,
    /// nor the reverse). `iv` must be fresh.
    pub fn seal_room_name(room: &RoomId, epoch: u32, key: &ContentKey, name: &str, iv: [u8; 12]) -> Self {
        Self::seal_with(&transcript::room_name(room, epoch), ROOM_NAME_PAD, key, name, iv)
    }

    fn seal_with(aad: &[u8], pad: usize, key: &ContentKey, text: &str, iv: [u8; 12]) -> Self {
        let mut plain = text.as_bytes().to_vec();
        plain.resize(plain.len().div_ceil(pad).max(1) * pad, 0);
        let ct = Aes256Gcm::new_from_slice(key.as_bytes())
            .expect("32-byte key")
            .encrypt(&Nonce::from(iv), Payload { msg: &plain, aad })
            .expect("AES-GCM of a short text");
        SealedMotd { iv: B64Bytes(iv.to_vec()), ct: B64Bytes(ct) }
    }

    /// Opens it with the content key of `epoch`.
    pub fn open(&self, room: &RoomId, epoch: u32, key: &ContentKey) -> Result<String, MotdError> {
        self.open_with(&transcript::motd(room, epoch), key)
    }

    /// Opens a sealed room name with the content key of `epoch`.
    pub fn open_room_name(&self, room: &RoomId, epoch: u32, key: &ContentKey) -> Result<String, MotdError> {
        self.open_with(&transcript::room_name(room, epoch), key)
    }

    fn open_with(&self, aad: &[u8], key: &ContentKey) -> Result<String, MotdError> {
        let iv: [u8; 12] = self.iv.0.as_slice().try_into().map_err(|_| MotdError)?;
        let plain = Aes256Gcm::new_from_slice(key.as_bytes())
            .expect("32-byte key")
            .decrypt(&Nonce::from(iv), Payload { msg: &self.ct.0, aad })
            .map_err(|_| MotdError)?;
        let end = plain.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        String::from_utf8(plain[..end].to_vec()).map_err(|_| MotdError)
    }

    /// Its shape is one a server stores: a 12-byte iv and a bounded ciphertext.
    pub fn well_formed(&self) -> bool {
        self.iv.0.len() == 12 && self.ct.0.len() >= 16 + MOTD_PAD && self.ct.0.len() <= MAX_SEALED_MOTD_BYTES
    }

    /// The same for a sealed room name.
    pub fn well_formed_name(&self) -> bool {
        self.iv.0.len() == 12 && self.ct.0.len() >= 16 + ROOM_NAME_PAD && self.ct.0.len() <= MAX_SEALED_ROOM_NAME_BYTES
    }
}

/// The room's state as its owner signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedState {
    pub room: RoomId,
    /// Strictly increases with every change the owner signs (1 at creation).
    pub version: u64,
    /// The current key epoch: new messages must use it.
    pub epoch: u32,
    pub locked: bool,
    /// Distinct member keys the room accepts (the owner is not counted).
    pub capacity: u32,
    /// The invite public key ([`crate::invite::invite_key`] of the content key of
    /// `invite_epoch`): newcomers must prove they hold it.
    pub invite: PublicKey,
    /// The epoch whose content key the invite link carries.
    pub invite_epoch: u32,
    /// The message of the day, sealed under the content key of `epoch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motd: Option<SealedMotd>,
    /// The room's shared name, sealed under the content key of `epoch`
    /// ([`SealedMotd::seal_room_name`]); members may override it with a local name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<SealedMotd>,
    /// The owner's signature over [`SignedState::transcript`].
    pub sig: Signature,
}

/// The fields of a state before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateFields {
    pub version: u64,
    pub epoch: u32,
    pub locked: bool,
    pub capacity: u32,
    pub invite: PublicKey,
    pub invite_epoch: u32,
    pub motd: Option<SealedMotd>,
    pub name: Option<SealedMotd>,
}

/// Why a signed state is not to be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the room state is for another room")]
    WrongRoom,
    #[error("the room state is not signed by the room's owner")]
    BadSignature,
    #[error("the invite epoch is later than the key epoch")]
    InviteFromTheFuture,
    #[error("the sealed message of the day is malformed")]
    BadMotd,
    #[error("the sealed room name is malformed")]
    BadName,
}

impl SignedState {
    /// Signs `fields` for `room` with the owner key.
    pub fn sign(owner: &IdentityKey, room: &RoomId, fields: StateFields) -> Self {
        let mut state = SignedState {
            room: room.clone(),
            version: fields.version,
            epoch: fields.epoch,
            locked: fields.locked,
            capacity: fields.capacity,
            invite: fields.invite,
            invite_epoch: fields.invite_epoch,
            motd: fields.motd,
            name: fields.name,
            sig: Signature([0; 64]),
        };
        state.sig = owner.sign(&state.transcript());
        state
    }

    /// The fields, to change some and sign again.
    pub fn fields(&self) -> StateFields {
        StateFields {
            version: self.version,
            epoch: self.epoch,
            locked: self.locked,
            capacity: self.capacity,
            invite: self.invite,
            invite_epoch: self.invite_epoch,
            motd: self.motd.clone(),
            name: self.name.clone(),
        }
    }

    /// What the owner signs.
    pub fn transcript(&self) -> Vec<u8> {
        transcript::room_state(self)
    }

    /// Checks that this state is for `room`, well formed and signed by `owner`. Callers
    /// must have checked that `owner` derives `room` ([`RoomId::is_owned_by`]).
    pub fn verify(&self, room: &RoomId, owner: &PublicKey) -> Result<(), StateError> {
        self.check_shape(room)?;
        owner.verify(&self.transcript(), &self.sig).map_err(|_| StateError::BadSignature)
    }

    /// The checks that need no signature verification.
    pub fn check_shape(&self, room: &RoomId) -> Result<(), StateError> {
        if self.room != *room {
            return Err(StateError::WrongRoom);
        }
        if self.invite_epoch > self.epoch {
            return Err(StateError::InviteFromTheFuture);
        }
        if self.motd.as_ref().is_some_and(|m| !m.well_formed()) {
            return Err(StateError::BadMotd);
        }
        if self.name.as_ref().is_some_and(|n| !n.well_formed_name()) {
            return Err(StateError::BadName);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invite::invite_key;

    fn owner() -> (IdentityKey, RoomId) {
        let owner = IdentityKey::from_secret_bytes(&[1; 32]).unwrap();
        let room = RoomId::from_owner_key(&owner.public_key());
        (owner, room)
    }

    #[test]
    fn signed_state_verifies_only_unchanged_and_from_the_owner() {
        let (owner, room) = owner();
        let key = ContentKey::from_bytes([5; 32]);
        let fields = StateFields {
            version: 1,
            epoch: 0,
            locked: false,
            capacity: 50,
            invite: invite_key(&room, &key).public_key(),
            invite_epoch: 0,
            motd: Some(SealedMotd::seal(&room, 0, &key, "Welcome!", [3; 12])),
            name: None,
        };
        let state = SignedState::sign(&owner, &room, fields);
        assert_eq!(state.verify(&room, &owner.public_key()), Ok(()));
        let json = serde_json::to_string(&state).unwrap();
        let back: SignedState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.verify(&room, &owner.public_key()), Ok(()));

        let stranger = IdentityKey::from_secret_bytes(&[2; 32]).unwrap();
        assert_eq!(state.verify(&room, &stranger.public_key()), Err(StateError::BadSignature));
        for tamper in [
            |s: &mut SignedState| s.epoch += 1,
            |s: &mut SignedState| s.locked = true,
            |s: &mut SignedState| s.capacity = 10_000,
            |s: &mut SignedState| s.version = 9,
            |s: &mut SignedState| s.motd = None,
        ] {
            let mut bad = state.clone();
            tamper(&mut bad);
            assert_eq!(bad.verify(&room, &owner.public_key()), Err(StateError::BadSignature));
        }
        let forged = SignedState::sign(&stranger, &room, state.fields());
        assert_eq!(forged.verify(&room, &owner.public_key()), Err(StateError::BadSignature));
        let mut other_room = state.clone();
        other_room.room = RoomId::from_owner_key(&stranger.public_key());
        assert_eq!(other_room.verify(&room, &owner.public_key()), Err(StateError::WrongRoom));
    }

    #[test]
    fn motd_opens_only_with_its_epoch_key_and_hides_its_length() {
        let (_, room) = owner();
        let key = ContentKey::from_bytes([5; 32]);
        let sealed = SealedMotd::seal(&room, 2, &key, "héllo", [1; 12]);
        assert!(sealed.well_formed());
        assert_eq!(sealed.ct.0.len(), MOTD_PAD + 16);
        assert_eq!(sealed.open(&room, 2, &key).unwrap(), "héllo");
        assert_eq!(sealed.open(&room, 1, &key), Err(MotdError));
        assert_eq!(sealed.open(&room, 2, &ContentKey::from_bytes([6; 32])), Err(MotdError));
        let longest = "€".repeat(MAX_MOTD_CHARS);
        let big = SealedMotd::seal(&room, 0, &key, &longest, [1; 12]);
        assert!(big.well_formed(), "{} bytes", big.ct.0.len());
        assert_eq!(big.open(&room, 0, &key).unwrap(), longest);
        assert_eq!(SealedMotd::seal(&room, 0, &key, "", [1; 12]).open(&room, 0, &key).unwrap(), "");
    }
}

#[cfg(test)]
mod name_tests {
    use super::*;
    use crate::invite::invite_key;

    #[test]
    fn a_shared_name_is_sealed_signed_and_bound_to_its_purpose() {
        let owner = IdentityKey::from_secret_bytes(&[1; 32]).unwrap();
        let room = RoomId::from_owner_key(&owner.public_key());
        let key = ContentKey::from_bytes([5; 32]);
        let fields = |name: Option<SealedMotd>| StateFields {
            version: 2,
            epoch: 0,
            locked: false,
            capacity: 50,
            invite: invite_key(&room, &key).public_key(),
            invite_epoch: 0,
            motd: None,
            name,
        };
        let sealed = SealedMotd::seal_room_name(&room, 0, &key, "Book club 📚", [7; 12]);
        assert!(sealed.well_formed_name());
        let named = SignedState::sign(&owner, &room, fields(Some(sealed.clone())));
        assert_eq!(named.verify(&room, &owner.public_key()), Ok(()));
        assert_eq!(sealed.open_room_name(&room, 0, &key).as_deref(), Ok("Book club 📚"));
        // Not a message of the day, not another epoch's, not another room's.
        assert!(sealed.open(&room, 0, &key).is_err());
        assert!(sealed.open_room_name(&room, 1, &key).is_err());
        // The server cannot drop, swap or alter it: the signature covers it.
        let mut dropped = named.clone();
        dropped.name = None;
        assert_eq!(dropped.verify(&room, &owner.public_key()), Err(StateError::BadSignature));
        let mut swapped = named.clone();
        swapped.name = Some(SealedMotd::seal_room_name(&room, 0, &key, "Other", [8; 12]));
        assert_eq!(swapped.verify(&room, &owner.public_key()), Err(StateError::BadSignature));
        // A state without a name signs what it did before names existed.
        let plain = SignedState::sign(&owner, &room, fields(None));
        assert!(!serde_json::to_string(&plain).unwrap().contains("\"name\""));
        // Shape limits, at and past the edge.
        let longest = "é".repeat(MAX_ROOM_NAME_CHARS);
        assert!(SealedMotd::seal_room_name(&room, 0, &key, &longest, [9; 12]).well_formed_name());
        let mut too_big = sealed.clone();
        too_big.ct.0 = vec![0; MAX_SEALED_ROOM_NAME_BYTES + 1];
        let mut bad = named.clone();
        bad.name = Some(too_big);
        assert_eq!(bad.check_shape(&room), Err(StateError::BadName));
    }
}
