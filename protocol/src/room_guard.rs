//! The client's defence against a hostile server: what a browser checks before it trusts
//! anything a room's server hands it.
//!
//! A [`RoomGuard`] is fed every room state and wrapped key the server sends and decides,
//! without IO, what is used and what is refused (with a [`Threat`] the app shows as a
//! warning):
//! - the owner key must derive the room id from the link (else nothing is used at all);
//! - the room state must be signed by that owner, for this room, and never older than a
//!   version this browser already saw (a rollback);
//! - an epoch the server claims but the owner did not sign is ignored;
//! - a wrapped key is used only if the owner wrapped it to this browser's key (the server
//!   cannot forge that: it is sealed with ECDH between the two), and a held key is never
//!   replaced;
//! - a key from an invite link is trusted only when it derives the owner-signed invite key.
//!
//! Messages are sent only under a *trusted* key of the owner-signed epoch.

use std::collections::{BTreeMap, BTreeSet};

use crate::content_key::ContentKey;
use crate::frames::RoomState;
use crate::identity::{IdentityKey, PublicKey};
use crate::ids::RoomId;
use crate::invite::invite_key;
use crate::key_wrap::{self, WrappedKey};
use crate::room_state::{SignedState, StateError};

/// Something the server (or a link) handed over that this browser refused to use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Threat {
    #[error("The server named an owner key that is not this room's: nothing it sent is used.")]
    OwnerMismatch,
    #[error("The room's settings are not signed by its owner ({0}): they were ignored.")]
    BadState(StateError),
    #[error("The server sent older room settings (version {got}) than this browser has seen ({seen}): ignored.")]
    Rollback { seen: u64, got: u64 },
    #[error("The server withheld the owner's signature on the room settings: they were ignored.")]
    StateStripped,
    #[error("The server claimed key epoch {claimed}, but the owner signed epoch {signed}: ignored.")]
    UnsignedEpoch { claimed: u32, signed: u32 },
    #[error("The server offered a room key for epoch {epoch} that the owner did not wrap: refused.")]
    ForeignWrap { epoch: u32 },
    #[error("A room key for epoch {epoch} does not open with this browser's key: refused.")]
    WrapDoesNotOpen { epoch: u32 },
    #[error("A different room key for epoch {epoch} was offered than the one this browser holds: kept the held one.")]
    KeyConflict { epoch: u32 },
    #[error("The invite link's key is not the one the owner registered for this room.")]
    LinkKeyMismatch { epoch: u32 },
}

/// What a browser trusts about one room.
#[derive(Debug, Clone)]
pub struct RoomGuard {
    room: RoomId,
    /// The owner key, once checked against the room id.
    owner: Option<PublicKey>,
    /// The newest owner-signed state seen.
    state: Option<SignedState>,
    /// The highest state version this browser has ever seen (kept across sessions).
    seen_version: u64,
    /// Epochs whose held key is known to come from the owner (wrapped by it, made by it,
    /// or from a link that derives the owner-signed invite key).
    trusted: BTreeSet<u32>,
}

/// The outcome of a state frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// Keys to remember (epoch, key): new ones only.
    pub new_keys: Vec<(u32, ContentKey)>,
    /// What was refused.
    pub threats: Vec<Threat>,
}

impl RoomGuard {
    /// A guard for `room`; `seen_version` is the highest state version stored locally.
    pub fn new(room: RoomId, seen_version: u64) -> Self {
        RoomGuard { room, owner: None, state: None, seen_version, trusted: BTreeSet::new() }
    }

    /// A guard that starts from what this browser verified before (kept in its own
    /// storage), so the room keeps working offline after a reload: the last trusted
    /// state and the epochs whose keys it trusts.
    pub fn restore(room: RoomId, seen_version: u64, state: Option<SignedState>, trusted: BTreeSet<u32>) -> Self {
        let state = state.filter(|s| s.room == room);
        let seen_version = seen_version.max(state.as_ref().map_or(0, |s| s.version));
        RoomGuard { room, owner: None, state, seen_version, trusted }
    }

    /// The epochs whose held keys are trusted (to store).
    pub fn trusted_epochs(&self) -> &BTreeSet<u32> {
        &self.trusted
    }

    /// The owner key, once verified against the room id.
    pub fn owner(&self) -> Option<&PublicKey> {
        self.owner.as_ref()
    }

    /// The newest owner-signed state.
    pub fn state(&self) -> Option<&SignedState> {
        self.state.as_ref()
    }

    /// The highest state version seen (to store).
    pub fn seen_version(&self) -> u64 {
        self.seen_version
    }

    /// The key epoch to send under: the owner-signed one (0 for a room that has no signed
    /// state yet, i.e. created before protocol v2).
    pub fn epoch(&self) -> u32 {
        self.state.as_ref().map_or(0, |s| s.epoch)
    }

    /// Whether the held key of `epoch` is known to come from the owner.
    pub fn is_trusted(&self, epoch: u32) -> bool {
        self.trusted.contains(&epoch) || (self.state.is_none() && self.seen_version == 0 && epoch == 0)
    }

    /// Marks `epoch`'s key as trusted (the owner made it in this browser).
    pub fn trust(&mut self, epoch: u32) {
        self.trusted.insert(epoch);
    }

    /// Checks a `welcome`/`room` frame's state and keys. `held` are the keys this browser
    /// holds (from links, earlier wraps and its own making).
    pub fn check(
        &mut self,
        me: &IdentityKey,
        state: &RoomState,
        keys: &[WrappedKey],
        held: &BTreeMap<u32, ContentKey>,
    ) -> Checked {
        let mut out = Checked::default();
        if state.room != self.room || !self.room.is_owned_by(&state.owner) {
            out.threats.push(Threat::OwnerMismatch);
            return out;
        }
        self.owner = Some(state.owner);
        match &state.signed {
            Some(signed) => match signed.verify(&self.room, &state.owner) {
                Err(e) => out.threats.push(Threat::BadState(e)),
                Ok(()) if signed.version < self.seen_version => {
                    out.threats.push(Threat::Rollback { seen: self.seen_version, got: signed.version })
                }
                Ok(()) => {
                    self.seen_version = signed.version;
                    self.state = Some(signed.clone());
                }
            },
            None if self.seen_version > 0 && state.access_reads() => out.threats.push(Threat::StateStripped),
            None => {}
        }
        if let Some(signed) = &self.state
            && state.epoch != signed.epoch
        {
            out.threats.push(Threat::UnsignedEpoch { claimed: state.epoch, signed: signed.epoch });
        }
        let mut merged = held.clone();
        for w in keys {
            if w.to != me.public_key() {
                continue;
            }
            if w.from != state.owner {
                out.threats.push(Threat::ForeignWrap { epoch: w.epoch });
                continue;
            }
            match key_wrap::unwrap(me, w, &self.room) {
                Err(_) => out.threats.push(Threat::WrapDoesNotOpen { epoch: w.epoch }),
                Ok(key) => match merged.get(&w.epoch) {
                    Some(existing) if *existing != key => out.threats.push(Threat::KeyConflict { epoch: w.epoch }),
                    Some(_) => {
                        self.trusted.insert(w.epoch);
                    }
                    None => {
                        self.trusted.insert(w.epoch);
                        merged.insert(w.epoch, key.clone());
                        out.new_keys.push((w.epoch, key));
                    }
                },
            }
        }
        if let Some(signed) = &self.state
            && let Some(link_key) = merged.get(&signed.invite_epoch)
        {
            if invite_key(&self.room, link_key).public_key() == signed.invite {
                self.trusted.insert(signed.invite_epoch);
            } else if !self.trusted.contains(&signed.invite_epoch) {
                out.threats.push(Threat::LinkKeyMismatch { epoch: signed.invite_epoch });
            }
        }
        out
    }
}

impl RoomState {
    /// True unless the frame is for a key that waits for the owner.
    fn access_reads(&self) -> bool {
        self.latest.is_some() || self.signed.is_some() || !self.locked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invite::InviteProof;
    use crate::room_state::StateFields;

    struct Fixture {
        owner: IdentityKey,
        me: IdentityKey,
        room: RoomId,
        link: ContentKey,
    }

    fn fixture() -> Fixture {
        let owner = IdentityKey::from_secret_bytes(&[1; 32]).unwrap();
        let me = IdentityKey::from_secret_bytes(&[2; 32]).unwrap();
        let room = RoomId::from_owner_key(&owner.public_key());
        Fixture { owner, me, room, link: ContentKey::from_bytes([7; 32]) }
    }

    impl Fixture {
        fn signed(&self, version: u64, epoch: u32) -> SignedState {
            SignedState::sign(
                &self.owner,
                &self.room,
                StateFields {
                    version,
                    epoch,
                    locked: epoch > 0,
                    capacity: 50,
                    invite: invite_key(&self.room, &self.link).public_key(),
                    invite_epoch: 0,
                    motd: None,
                    name: None,
                },
            )
        }

        fn frame(&self, signed: Option<SignedState>) -> RoomState {
            let epoch = signed.as_ref().map_or(0, |s| s.epoch);
            RoomState {
                room: self.room.clone(),
                owner: self.owner.public_key(),
                locked: false,
                capacity: 50,
                epoch,
                guest: None,
                latest: None,
                signed,
                keep_deleted: false,
            }
        }

        fn held(&self) -> BTreeMap<u32, ContentKey> {
            BTreeMap::from([(0, self.link.clone())])
        }
    }

    #[test]
    fn a_genuine_room_is_trusted() {
        let f = fixture();
        let mut g = RoomGuard::new(f.room.clone(), 0);
        let new_key = ContentKey::from_bytes([9; 32]);
        let wrap = key_wrap::wrap(&f.owner, &f.me.public_key(), &f.room, 1, &new_key, [1; 12]);
        let out = g.check(&f.me, &f.frame(Some(f.signed(2, 1))), &[wrap], &f.held());
        assert_eq!(out.threats, vec![]);
        assert_eq!(out.new_keys, vec![(1, new_key)]);
        assert_eq!(g.epoch(), 1);
        assert!(g.is_trusted(0) && g.is_trusted(1));
        assert_eq!(g.seen_version(), 2);
        let _ = InviteProof::make(&f.room, &f.link, &f.me.public_key());
    }

    #[test]
    fn a_fake_owner_key_is_refused_outright() {
        let f = fixture();
        let mut g = RoomGuard::new(f.room.clone(), 0);
        let fake = IdentityKey::from_secret_bytes(&[6; 32]).unwrap();
        let mut frame = f.frame(None);
        frame.owner = fake.public_key();
        let wrap = key_wrap::wrap(&fake, &f.me.public_key(), &f.room, 1, &ContentKey::from_bytes([3; 32]), [1; 12]);
        let out = g.check(&f.me, &frame, &[wrap], &f.held());
        assert_eq!(out.threats, vec![Threat::OwnerMismatch]);
        assert!(out.new_keys.is_empty());
        assert!(g.owner().is_none());
    }

    #[test]
    fn a_wrap_from_someone_else_is_refused() {
        let f = fixture();
        let mut g = RoomGuard::new(f.room.clone(), 0);
        let server_key = IdentityKey::from_secret_bytes(&[5; 32]).unwrap();
        let evil =
            key_wrap::wrap(&server_key, &f.me.public_key(), &f.room, 1, &ContentKey::from_bytes([3; 32]), [1; 12]);
        let out = g.check(&f.me, &f.frame(Some(f.signed(2, 1))), &[evil], &f.held());
        assert_eq!(out.threats, vec![Threat::ForeignWrap { epoch: 1 }]);
        assert!(out.new_keys.is_empty());
        assert!(!g.is_trusted(1), "no key for epoch 1: nothing is sent until the owner's arrives");
    }

    #[test]
    fn unsigned_epochs_rollbacks_and_stripped_states_are_refused() {
        let f = fixture();
        let mut g = RoomGuard::new(f.room.clone(), 0);
        assert!(g.check(&f.me, &f.frame(Some(f.signed(3, 0))), &[], &f.held()).threats.is_empty());
        let mut bumped = f.frame(Some(f.signed(3, 0)));
        bumped.epoch = 1;
        assert_eq!(
            g.check(&f.me, &bumped, &[], &f.held()).threats,
            vec![Threat::UnsignedEpoch { claimed: 1, signed: 0 }]
        );
        assert_eq!(g.epoch(), 0);
        let mut tampered = f.signed(4, 1);
        tampered.epoch = 2;
        assert_eq!(
            g.check(&f.me, &f.frame(Some(tampered)), &[], &f.held()).threats[0],
            Threat::BadState(StateError::BadSignature)
        );
        assert_eq!(g.epoch(), 0);
        assert_eq!(
            g.check(&f.me, &f.frame(Some(f.signed(2, 0))), &[], &f.held()).threats,
            vec![Threat::Rollback { seen: 3, got: 2 }]
        );
        let mut fresh = RoomGuard::new(f.room.clone(), 3);
        assert_eq!(fresh.check(&f.me, &f.frame(None), &[], &f.held()).threats, vec![Threat::StateStripped]);
    }

    #[test]
    fn a_restored_guard_trusts_what_was_verified_before() {
        let f = fixture();
        let mut g = RoomGuard::new(f.room.clone(), 0);
        g.check(&f.me, &f.frame(Some(f.signed(2, 0))), &[], &f.held());
        let offline =
            RoomGuard::restore(f.room.clone(), g.seen_version(), g.state().cloned(), g.trusted_epochs().clone());
        assert_eq!((offline.epoch(), offline.is_trusted(0), offline.seen_version()), (0, true, 2));
        // A rollback is still refused after the restore.
        let mut offline = offline;
        let out = offline.check(&f.me, &f.frame(Some(f.signed(1, 0))), &[], &f.held());
        assert_eq!(out.threats, vec![Threat::Rollback { seen: 2, got: 1 }]);
    }

    #[test]
    fn held_keys_are_never_replaced_and_links_are_checked() {
        let f = fixture();
        let mut g = RoomGuard::new(f.room.clone(), 0);
        let other = ContentKey::from_bytes([8; 32]);
        let wrap = key_wrap::wrap(&f.owner, &f.me.public_key(), &f.room, 0, &other, [1; 12]);
        let out = g.check(&f.me, &f.frame(Some(f.signed(1, 0))), &[wrap], &f.held());
        assert_eq!(out.threats, vec![Threat::KeyConflict { epoch: 0 }]);
        assert!(out.new_keys.is_empty());
        // A crafted link's key does not derive the registered invite key.
        let mut g = RoomGuard::new(f.room.clone(), 0);
        let crafted = BTreeMap::from([(0, other)]);
        let out = g.check(&f.me, &f.frame(Some(f.signed(1, 0))), &[], &crafted);
        assert_eq!(out.threats, vec![Threat::LinkKeyMismatch { epoch: 0 }]);
        assert!(!g.is_trusted(0));
    }
}
