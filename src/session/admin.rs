//! The owner's side of the admin panel: every call goes through the signed owner API; the
//! key work (new epoch keys, wrapping them to members) happens here, not in the views.

use leptos::prelude::*;
use protocol::api::{BudgetView, IssuedToken, MAX_MOTD_CHARS, MemberView, MembersView, OwnerCall, Rekey, RoomSettings};
use protocol::backup::MemberStatus;
use protocol::content_key::ContentKey;
use protocol::envelope::Content;
use protocol::error::ErrorBody;
use protocol::identity::PublicKey;
use protocol::invite;
use protocol::key_wrap::{self, WrappedKey};
use protocol::room_state::{MAX_ROOM_NAME_CHARS, SealedMotd, SignedState, StateFields};

use crate::crypto::{new_content_key, random_bytes};
use crate::net::api;
use crate::session::RoomSession;

/// The app's own sentence for a refused owner call (never the server's words).
fn readable(e: ErrorBody) -> String {
    crate::net::explain::describe(&e)
}

impl RoomSession {
    /// Sends an owner call signed by this browser's identity.
    async fn owner<T: serde::de::DeserializeOwned>(&self, call: &OwnerCall) -> Result<T, String> {
        api::owner_call(&self.room_id(), &self.identity(), call).await.map_err(readable)
    }

    pub async fn admin_settings(&self) -> Result<RoomSettings, String> {
        self.owner(&OwnerCall::Settings).await
    }

    pub async fn admin_members(&self) -> Result<MembersView, String> {
        self.owner(&OwnerCall::Members).await
    }

    pub async fn admin_budget(&self) -> Result<BudgetView, String> {
        self.owner(&OwnerCall::Budget).await
    }

    /// A one-use storage token worth `size` bytes (rounded up to its bucket) out of the
    /// room's budget: it funds a new room or pays for stored files.
    pub async fn admin_issue_token(&self, size: u64) -> Result<IssuedToken, String> {
        self.owner(&OwnerCall::IssueToken { size }).await
    }

    /// The next owner-signed state: the one in force with `change` applied and the
    /// version one higher.
    fn next_state(&self, change: impl FnOnce(&mut StateFields)) -> Result<SignedState, String> {
        let current = self.signed_state().ok_or("the room's signed settings have not arrived yet; try again")?;
        let mut fields = current.fields();
        fields.version += 1;
        change(&mut fields);
        Ok(SignedState::sign(&self.identity(), &self.room_id(), fields))
    }

    /// The message of the day (as shown now) sealed for `epoch` under `key`.
    fn reseal_motd(&self, epoch: u32, key: &ContentKey) -> Option<SealedMotd> {
        let text = self.motd.get_untracked()?;
        Some(SealedMotd::seal(&self.room_id(), epoch, key, &text, random_bytes::<12>()))
    }

    /// The room's shared name (as shown now) sealed for `epoch` under `key`.
    fn reseal_name(&self, epoch: u32, key: &ContentKey) -> Option<SealedMotd> {
        let name = self.room_name.get_untracked()?;
        Some(SealedMotd::seal_room_name(&self.room_id(), epoch, key, &name, random_bytes::<12>()))
    }

    async fn put_state(&self, state: SignedState) -> Result<RoomSettings, String> {
        self.owner(&OwnerCall::PutState { state }).await
    }

    /// A room created before protocol v2 has no owner-signed state: its owner's browser
    /// signs the first one (the settings as they are, the newest key as the invite).
    pub async fn admin_sign_first_state(&self) -> Result<(), String> {
        let settings = self.admin_settings().await?;
        if settings.signed.is_some() {
            return Ok(());
        }
        let (invite_epoch, key) = self
            .inner()
            .ring
            .keys
            .borrow()
            .range(..=settings.epoch)
            .next_back()
            .map(|(e, k)| (*e, k.clone()))
            .ok_or("this browser holds none of the room's keys")?;
        let fields = StateFields {
            version: 1,
            epoch: settings.epoch,
            locked: settings.locked,
            capacity: settings.capacity,
            invite: invite::invite_key(&self.room_id(), &key).public_key(),
            invite_epoch,
            motd: None,
            name: None,
        };
        self.put_state(SignedState::sign(&self.identity(), &self.room_id(), fields)).await.map(|_| ())
    }

    pub async fn admin_set_motd(&self, motd: &str) -> Result<RoomSettings, String> {
        let text = motd.trim();
        if text.chars().count() > MAX_MOTD_CHARS {
            return Err(format!("Keep the message of the day under {MAX_MOTD_CHARS} characters."));
        }
        let (epoch, key) = self.current_key().ok_or("this browser does not hold the room's current key")?;
        let sealed =
            (!text.is_empty()).then(|| SealedMotd::seal(&self.room_id(), epoch, &key, text, random_bytes::<12>()));
        self.put_state(self.next_state(|f| f.motd = sealed)?).await
    }

    /// Gives the room a shared name everyone in it sees (empty: none), sealed under the
    /// current key and signed with the state.
    pub async fn admin_set_room_name(&self, name: &str) -> Result<RoomSettings, String> {
        let name = name.trim();
        if name.chars().count() > MAX_ROOM_NAME_CHARS {
            return Err(format!("Keep the room's name under {MAX_ROOM_NAME_CHARS} characters."));
        }
        let (epoch, key) = self.current_key().ok_or("this browser does not hold the room's current key")?;
        let sealed = (!name.is_empty())
            .then(|| SealedMotd::seal_room_name(&self.room_id(), epoch, &key, name, random_bytes::<12>()));
        self.put_state(self.next_state(|f| f.name = sealed)?).await
    }

    pub async fn admin_set_capacity(&self, capacity: u32) -> Result<RoomSettings, String> {
        self.put_state(self.next_state(|f| f.capacity = capacity)?).await
    }

    /// Whether the server keeps the content of messages deleted for everyone (`keep`), or
    /// drops it when their sender or the owner asks (the default).
    pub async fn admin_set_keep_deleted(&self, keep: bool) -> Result<RoomSettings, String> {
        self.owner(&OwnerCall::SetKeepDeleted { keep }).await
    }

    pub async fn admin_set_allowance(&self, allowance: u64) -> Result<RoomSettings, String> {
        self.owner(&OwnerCall::SetAllowance { allowance }).await
    }

    /// The members of `members` this browser has reason to give a room key: those whose
    /// invite proof verifies against an invite key derived from a content key this browser
    /// holds (a key the server added to the list has no such proof). The rest is returned
    /// as the second list.
    pub fn vouched(&self, members: &[MemberView]) -> (Vec<PublicKey>, Vec<PublicKey>) {
        let room = self.room_id();
        let me = self.identity().public_key();
        let invites: Vec<PublicKey> =
            self.inner().ring.keys.borrow().values().map(|k| invite::invite_key(&room, k).public_key()).collect();
        members.iter().filter(|m| m.key != me).map(|m| m.key).partition(|key| {
            members
                .iter()
                .find(|m| m.key == *key)
                .and_then(|m| m.invite.as_ref())
                .is_some_and(|proof| invites.contains(&proof.invite) && proof.verifies(&room, key))
        })
    }

    /// A new epoch key wrapped to the owner and to each of `keep`.
    fn new_epoch(&self, keep: &[PublicKey]) -> (u32, ContentKey, Vec<WrappedKey>) {
        let epoch = self.signed_state().map(|s| s.epoch).unwrap_or(0) + 1;
        let key = new_content_key();
        let identity = self.identity();
        let room = self.room_id();
        let mut recipients = vec![identity.public_key()];
        recipients.extend(keep.iter().copied().filter(|k| *k != identity.public_key()));
        let wrapped = recipients
            .iter()
            .map(|to| key_wrap::wrap(&identity, to, &room, epoch, &key, random_bytes::<12>()))
            .collect();
        (epoch, key, wrapped)
    }

    /// Locks the room. Everyone in it right now (as the server lists them at this moment, not
    /// as a panel loaded earlier showed them) keeps reading; newcomers wait. Only members with
    /// a valid invite proof get the new key. The invite link stays valid, so people with it
    /// can still ask to join.
    pub async fn admin_lock(&self) -> Result<RoomSettings, String> {
        let members = self.admin_members().await?.members;
        let keep: Vec<MemberView> =
            members.into_iter().filter(|m| matches!(m.status, MemberStatus::Member | MemberStatus::Accepted)).collect();
        let (keep, _) = self.vouched(&keep);
        let (epoch, key, keys) = self.new_epoch(&keep);
        let motd = self.reseal_motd(epoch, &key);
        let name = self.reseal_name(epoch, &key);
        let state = self.next_state(|f| {
            f.epoch = epoch;
            f.locked = true;
            f.motd = motd;
            f.name = name;
        })?;
        let settings = self.owner(&OwnerCall::Lock { epoch, keys, state }).await?;
        self.trust_own_key(epoch, key);
        Ok(settings)
    }

    pub async fn admin_unlock(&self) -> Result<RoomSettings, String> {
        let state = self.next_state(|f| f.locked = false)?;
        self.owner(&OwnerCall::Unlock { state }).await
    }

    /// Lets a waiting key in, with the current epoch's key wrapped to it.
    pub async fn admin_accept(&self, member: PublicKey) -> Result<(), String> {
        let (epoch, key) = self.current_key().ok_or("this browser does not hold the room's current key")?;
        let wrapped = key_wrap::wrap(&self.identity(), &member, &self.room_id(), epoch, &key, random_bytes::<12>());
        self.owner::<serde_json::Value>(&OwnerCall::Accept { key: member, wrapped }).await?;
        self.announce(Content::Accepted { member });
        Ok(())
    }

    pub async fn admin_deny(&self, member: PublicKey) -> Result<(), String> {
        self.owner::<serde_json::Value>(&OwnerCall::Deny { key: member }).await.map(|_| ())
    }

    /// Removes a member, re-keys the room for everyone who stays (with a valid invite
    /// proof) and rotates the invite link: the removed member's copy of the old link no
    /// longer admits a fresh key.
    pub async fn admin_remove(&self, member: PublicKey) -> Result<(), String> {
        let members = self.admin_members().await?;
        let staying: Vec<MemberView> = members
            .members
            .into_iter()
            .filter(|m| m.key != member && matches!(m.status, MemberStatus::Accepted | MemberStatus::Member))
            .collect();
        let (keep, _) = self.vouched(&staying);
        let (epoch, key, keys) = self.new_epoch(&keep);
        let motd = self.reseal_motd(epoch, &key);
        let name = self.reseal_name(epoch, &key);
        let state = self.next_state(|f| {
            f.epoch = epoch;
            f.invite = invite::invite_key(&self.room_id(), &key).public_key();
            f.invite_epoch = epoch;
            f.motd = motd;
            f.name = name;
        })?;
        let rekey = Some(Rekey { epoch, keys, state });
        self.owner::<serde_json::Value>(&OwnerCall::Remove { key: member, rekey }).await?;
        self.trust_own_key(epoch, key);
        self.drop_removed_member(&member);
        // Under the new key: the removed member does not read it.
        self.announce(Content::Removed { member });
        Ok(())
    }
}
