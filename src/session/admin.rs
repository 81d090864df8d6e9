//! The owner's side of the admin panel: every call goes through the signed owner API; the
//! key work (new epoch keys, wrapping them to members) happens here, not in the views.

use leptos::prelude::*;
use protocol::api::{BudgetView, IssuedToken, MembersView, Rekey, RoomSettings};
use protocol::backup::MemberStatus;
use protocol::error::ErrorBody;
use protocol::identity::PublicKey;
use protocol::key_wrap::{self, WrappedKey};
use serde_json::json;

use crate::crypto::{new_content_key, random_bytes};
use crate::net::api;
use crate::session::RoomSession;
use gloo_net::http::Method;

fn readable(e: ErrorBody) -> String {
    e.message
}

impl RoomSession {
    pub async fn admin_settings(&self) -> Result<RoomSettings, String> {
        api::owner_call(&self.room_id(), &self.identity(), Method::GET, "settings", None::<&()>).await.map_err(readable)
    }

    pub async fn admin_members(&self) -> Result<MembersView, String> {
        api::owner_call(&self.room_id(), &self.identity(), Method::GET, "members", None::<&()>).await.map_err(readable)
    }

    pub async fn admin_budget(&self) -> Result<BudgetView, String> {
        api::owner_call(&self.room_id(), &self.identity(), Method::GET, "budget", None::<&()>).await.map_err(readable)
    }

    /// A one-use storage token worth `size` bytes (rounded up to its bucket) out of the
    /// room's budget: it funds a new room or pays for stored files.
    pub async fn admin_issue_token(&self, size: u64) -> Result<IssuedToken, String> {
        let body = json!({ "size": size });
        api::owner_call(&self.room_id(), &self.identity(), Method::POST, "tokens", Some(&body)).await.map_err(readable)
    }

    pub async fn admin_set_motd(&self, motd: &str) -> Result<RoomSettings, String> {
        let body = json!({ "motd": motd });
        api::owner_call(&self.room_id(), &self.identity(), Method::PUT, "motd", Some(&body)).await.map_err(readable)
    }

    pub async fn admin_set_capacity(&self, capacity: u32) -> Result<RoomSettings, String> {
        let body = json!({ "capacity": capacity });
        api::owner_call(&self.room_id(), &self.identity(), Method::PUT, "capacity", Some(&body)).await.map_err(readable)
    }

    /// A new epoch key wrapped to the owner and to each of `keep`.
    fn new_epoch(&self, keep: &[PublicKey]) -> (u32, protocol::content_key::ContentKey, Vec<WrappedKey>) {
        let epoch = self.state.with_untracked(|s| s.as_ref().map(|s| s.epoch)).unwrap_or(0) + 1;
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

    /// Locks the room; `keep` are the members who keep reading (everyone else waits).
    pub async fn admin_lock(&self, keep: &[PublicKey]) -> Result<RoomSettings, String> {
        let (epoch, key, keys) = self.new_epoch(keep);
        let body = json!({ "epoch": epoch, "keys": keys });
        let settings = api::owner_call(&self.room_id(), &self.identity(), Method::POST, "lock", Some(&body))
            .await
            .map_err(readable)?;
        self.remember_key(epoch, key);
        Ok(settings)
    }

    pub async fn admin_unlock(&self) -> Result<RoomSettings, String> {
        api::owner_call(&self.room_id(), &self.identity(), Method::POST, "unlock", Some(&json!({})))
            .await
            .map_err(readable)
    }

    /// Lets a waiting key in, with the current epoch's key wrapped to it.
    pub async fn admin_accept(&self, member: PublicKey) -> Result<(), String> {
        let (epoch, key) = self.current_key().ok_or("this browser does not hold the room's current key")?;
        let wrapped = key_wrap::wrap(&self.identity(), &member, &self.room_id(), epoch, &key, random_bytes::<12>());
        let body = json!({ "key": member, "wrapped": wrapped });
        api::owner_call::<serde_json::Value>(&self.room_id(), &self.identity(), Method::POST, "accept", Some(&body))
            .await
            .map(|_| ())
            .map_err(readable)
    }

    pub async fn admin_deny(&self, member: PublicKey) -> Result<(), String> {
        let body = json!({ "key": member });
        api::owner_call::<serde_json::Value>(&self.room_id(), &self.identity(), Method::POST, "deny", Some(&body))
            .await
            .map(|_| ())
            .map_err(readable)
    }

    /// Removes a member and re-keys the room for everyone who stays accepted.
    pub async fn admin_remove(&self, member: PublicKey) -> Result<(), String> {
        let members = self.admin_members().await?;
        let keep: Vec<PublicKey> = members
            .members
            .iter()
            .filter(|m| m.key != member && matches!(m.status, MemberStatus::Accepted | MemberStatus::Member))
            .map(|m| m.key)
            .collect();
        let (epoch, key, keys) = self.new_epoch(&keep);
        let body = json!({ "key": member, "rekey": Rekey { epoch, keys } });
        api::owner_call::<serde_json::Value>(&self.room_id(), &self.identity(), Method::POST, "remove", Some(&body))
            .await
            .map_err(readable)?;
        self.remember_key(epoch, key);
        Ok(())
    }
}
