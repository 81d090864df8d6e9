//! What a room keeps in KV_local, and under which keys.
//!
//! | key | value |
//! |---|---|
//! | `<room id><16 hex µs>` | a [`protocol::envelope::StoredMessage`] as JSON (≤ 32 KiB) |
//! | `~meta` | [`RoomMeta`] as JSON |
//! | `~member/<public key>` | [`MemberRecord`] as JSON: a key that joined (counts toward capacity) |
//! | `~cid/<public key>/<client id>` | the message key the sender's client id was committed under |
//!
//! Message keys start with the room id, so the same key works in KV_global (where every
//! room shares one namespace), and a prefix listing of the room id is exactly the room's
//! messages in time order. Bookkeeping keys start with `~`, which sorts after every
//! base64url character.

use protocol::identity::PublicKey;
use protocol::ids::ClientMessageId;
use serde::{Deserialize, Serialize};

/// Key of the room's metadata record.
pub const META_KEY: &str = "~meta";
/// Prefix of member records.
pub const MEMBER_PREFIX: &str = "~member/";
/// Prefix of the client-id deduplication index.
pub const CID_PREFIX: &str = "~cid/";

/// Key of a member record.
pub fn member_key(key: &PublicKey) -> String {
    format!("{MEMBER_PREFIX}{key}")
}

/// Key under which a (sender, client id) pair remembers its message key.
pub fn cid_key(sender: &PublicKey, cid: &ClientMessageId) -> String {
    format!("{CID_PREFIX}{sender}/{cid}")
}

/// The room's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMeta {
    /// Record version, for future migrations.
    pub v: u32,
    pub owner: PublicKey,
    pub motd: String,
    pub locked: bool,
    pub capacity: u32,
    /// Creation time, µs since the Unix epoch.
    pub created: u64,
}

/// A key that has joined the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// First successful join, µs since the Unix epoch.
    pub first_joined: u64,
}
