//! What a room keeps in KV_local, and under which keys.
//!
//! | key | value |
//! |---|---|
//! | `<room id><16 hex µs>` | a [`protocol::envelope::StoredMessage`] as JSON (≤ 32 KiB) |
//! | `~meta` | [`RoomMeta`] |
//! | `~budget` | [`BudgetRecord`] |
//! | `~member/<public key>` | [`MemberRecord`]: a key the room knows (counts toward capacity unless denied) |
//! | `~cid/<public key>/<client id>` | the message key the sender's client id was committed under |
//! | `~wrapped/<member key>/<epoch, 8 hex>` | a [`protocol::key_wrap::WrappedKey`] for that member and epoch |
//! | `~nonce/<nonce>` | expiry (ms) of a used signed-request nonce |
//! | `~nonce-exp/<expiry, 16 hex>/<nonce>` | the same nonce, ordered by expiry for purging |
//!
//! Message keys start with the room id, so the same key works in KV_global (where every
//! room shares one namespace), and a prefix listing of the room id is exactly the room's
//! messages in time order. Bookkeeping keys start with `~`, which sorts after every
//! base64url character. Every record is JSON.

use protocol::backup::MemberStatus;
use protocol::identity::PublicKey;
use protocol::ids::ClientMessageId;
use protocol::invite::InviteProof;
use protocol::room_state::SignedState;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::storage::StorageError;

/// Key of the room's settings.
pub const META_KEY: &str = "~meta";
/// Key of the room's budget.
pub const BUDGET_KEY: &str = "~budget";
/// Prefix of member records.
pub const MEMBER_PREFIX: &str = "~member/";
/// Prefix of the client-id deduplication index.
pub const CID_PREFIX: &str = "~cid/";
/// Prefix of wrapped room keys.
pub const WRAPPED_PREFIX: &str = "~wrapped/";
/// Prefix of used nonces.
pub const NONCE_PREFIX: &str = "~nonce/";
/// Prefix of used nonces ordered by expiry.
pub const NONCE_EXPIRY_PREFIX: &str = "~nonce-exp/";

pub fn member_key(key: &PublicKey) -> String {
    format!("{MEMBER_PREFIX}{key}")
}

/// Key under which a (sender, client id) pair remembers its message key.
pub fn cid_key(sender: &PublicKey, cid: &ClientMessageId) -> String {
    format!("{CID_PREFIX}{sender}/{cid}")
}

/// Prefix of every wrapped key of one member.
pub fn wrapped_prefix(member: &PublicKey) -> String {
    format!("{WRAPPED_PREFIX}{member}/")
}

pub fn wrapped_key(member: &PublicKey, epoch: u32) -> String {
    format!("{WRAPPED_PREFIX}{member}/{epoch:08x}")
}

pub fn nonce_key(nonce: &str) -> String {
    format!("{NONCE_PREFIX}{nonce}")
}

pub fn nonce_expiry_key(expiry_ms: u64, nonce: &str) -> String {
    format!("{NONCE_EXPIRY_PREFIX}{expiry_ms:016x}/{nonce}")
}

/// The room's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMeta {
    /// Record version, for future migrations.
    pub v: u32,
    pub owner: PublicKey,
    /// The plaintext message of the day of a room created before protocol v2 (kept as
    /// stored, never sent; the owner's first signed state replaces it with a sealed one).
    #[serde(default)]
    pub motd: String,
    pub locked: bool,
    pub capacity: u32,
    /// Creation time, µs since the Unix epoch.
    pub created: u64,
    /// Current key epoch (0 until the room is first locked or re-keyed).
    #[serde(default)]
    pub epoch: u32,
    /// The owner-signed state in force; `epoch`, `locked` and `capacity` above always
    /// equal its fields. Absent only for rooms created before protocol v2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SignedState>,
    /// Most storage one member may draw from the budget (bytes); `None`: the default, a
    /// quarter of the total budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowance: Option<u64>,
    /// The owner's policy: keep the content of messages deleted for everyone (refuse
    /// `erase`). Off unless the owner turned it on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_deleted: bool,
}

/// A key the room knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    #[serde(default = "default_status")]
    pub status: MemberStatus,
    /// First successful join, µs since the Unix epoch.
    pub first_joined: u64,
    /// The invite proof the key was admitted with (absent before protocol v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite: Option<InviteProof>,
    /// Bytes of storage tokens issued to this key.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spent: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn default_status() -> MemberStatus {
    MemberStatus::Member
}

/// The room's storage budget.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetRecord {
    pub total: u64,
    pub remaining: u64,
    pub tokens_issued: u64,
    /// Bytes of stored messages charged to the budget.
    #[serde(default)]
    pub message_bytes: u64,
}

/// A record as stored.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("records serialise")
}

/// A stored record, or a storage error naming what is corrupt.
pub fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Backend(format!("corrupt {what}: {e}")))
}
