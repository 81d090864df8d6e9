//! What the browser keeps in localStorage, under a versioned layout with migrations.
//!
//! Layout version 2 (documented in `docs/ARCHITECTURE.md`):
//! - `cloakroom.layout` → `2`;
//! - `cloakroom.v2.room.<room id>` → [`RoomRecord`]: content keys by epoch, this browser's
//!   identity secret for the room, alias, local name, owner flag, read marker;
//! - `cloakroom.v2.contacts` → `{public key: local name}`;
//! - `cloakroom.v2.verified` → `{public key: VerifiedContact}`: members whose safety
//!   number the user compared (room, the alias they used then, when);
//! - `cloakroom.v2.outbox.<room id>` → [`OutboxEntry`] list: messages written but not yet
//!   acknowledged (they survive a reload while offline and are resent).
//!
//! One key per room, so two tabs writing different rooms never overwrite each other.
//! [`migrate`] upgrades older layouts in place (version 1 kept a single `content_key`).
//! The decrypted message cache lives in IndexedDB ([`cache`]).

pub mod cache;
pub mod export;

use std::collections::BTreeMap;

use gloo_storage::{LocalStorage, Storage};
use protocol::envelope::Envelope;
use serde::{Deserialize, Serialize};

/// Current layout version.
pub const LAYOUT_VERSION: u32 = 2;
const LAYOUT_KEY: &str = "cloakroom.layout";
const ROOM_PREFIX: &str = "cloakroom.v2.room.";
const CONTACTS_KEY: &str = "cloakroom.v2.contacts";
const VERIFIED_KEY: &str = "cloakroom.v2.verified";
const OUTBOX_PREFIX: &str = "cloakroom.v2.outbox.";
const READ_MARKERS_KEY: &str = "cloakroom.v2.send-read-markers";
const V1_ROOM_PREFIX: &str = "cloakroom.v1.room.";

/// Everything this browser knows about one room.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub room: String,
    /// Content keys by key epoch (base64url). Epoch 0's comes from the invite link.
    #[serde(default)]
    pub keys: BTreeMap<u32, String>,
    /// This browser's identity secret for the room (base64url); `None` before the first
    /// visit's alias prompt.
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    /// A local name for the room (only here): shown instead of the shared name.
    #[serde(default)]
    pub name: Option<String>,
    /// The room's shared name, from the owner-signed state (opened with the room's key).
    #[serde(default)]
    pub shared_name: Option<String>,
    #[serde(default)]
    pub owner: bool,
    /// Newest message key the user has seen (the read marker).
    #[serde(default)]
    pub last_seen: Option<String>,
    /// Newest message key known to exist (from the room or the last-message-times API).
    #[serde(default)]
    pub last_activity: Option<String>,
    /// Highest version of the owner-signed room state this browser has seen: an older one
    /// from the server is a rollback.
    #[serde(default)]
    pub state_version: u64,
    /// The epoch whose key the invite link carries (from the owner-signed state).
    #[serde(default)]
    pub invite_epoch: Option<u32>,
    /// The last owner-signed state this browser verified, and the epochs whose keys it
    /// knows come from the owner: the room opens with them offline.
    #[serde(default)]
    pub signed_state: Option<protocol::room_state::SignedState>,
    #[serde(default)]
    pub trusted_epochs: std::collections::BTreeSet<u32>,
    /// A link opened here carried another key for an epoch than the one held: (epoch, the
    /// link's key). The held key stays in use until the user decides.
    #[serde(default)]
    pub link_conflict: Option<(u32, String)>,
    /// This browser's key is new to the room: once the room lets it read, it posts a
    /// "joined" line and clears this.
    #[serde(default)]
    pub announce_join: bool,
}

impl RoomRecord {
    /// The name to show: the local name, else the room's shared name, else a short form
    /// of the id.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| self.shared_name.clone().filter(|n| !n.trim().is_empty()))
            .unwrap_or_else(|| format!("Room {}…", &self.room[..8.min(self.room.len())]))
    }

    /// Saved by opening a link, and never confirmed by the room since (no state, no
    /// message, not created here): what an unknown room's link leaves behind.
    pub fn never_joined(&self) -> bool {
        !self.owner && self.state_version == 0 && self.signed_state.is_none() && self.last_activity.is_none()
    }

    /// True when messages arrived after the read marker.
    pub fn unread(&self) -> bool {
        match (&self.last_activity, &self.last_seen) {
            (Some(activity), Some(seen)) => activity > seen,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// A message written but not acknowledged yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub env: Envelope,
    /// The plaintext, to show it while it waits.
    pub text: String,
    /// What it shares, when it is a file or image (absent in entries written before files).
    #[serde(default)]
    pub content: Option<protocol::envelope::Content>,
}

/// A storage failure the UI should show (e.g. storage disabled or full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "browser storage failed: {}", self.0)
    }
}

fn room_key(room: &str) -> String {
    format!("{ROOM_PREFIX}{room}")
}

/// Why this browser cannot keep Cloakroom's keys at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageRefused {
    /// `localStorage` is missing or throws (site data blocked, some private modes,
    /// a sandboxed frame).
    Blocked,
    /// It exists but refuses a tiny write (full, or a private mode with no quota).
    NoRoom,
}

/// Checks, before anything else runs, that this browser lets the app keep its keys:
/// every other part of the client assumes `localStorage` works, so a browser that refuses
/// it gets one clear page instead of a blank one.
pub fn check_usable() -> Result<(), StorageRefused> {
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten()).ok_or(StorageRefused::Blocked)?;
    const PROBE: &str = "cloakroom.probe";
    storage.set_item(PROBE, "1").map_err(|_| StorageRefused::NoRoom)?;
    let _ = storage.remove_item(PROBE);
    Ok(())
}

/// The layout this browser's storage is in (0 when nothing was ever stored).
pub fn layout_version() -> u32 {
    LocalStorage::get::<u32>(LAYOUT_KEY).unwrap_or(0)
}

/// Keys of every localStorage entry whose name starts with `prefix`.
fn keys_with_prefix(prefix: &str) -> Vec<String> {
    let storage = LocalStorage::raw();
    let count = storage.length().unwrap_or(0);
    (0..count).filter_map(|i| storage.key(i).ok().flatten()).filter(|k| k.starts_with(prefix)).collect()
}

/// The room record of layout version 1.
#[derive(Deserialize)]
struct RoomRecordV1 {
    room: String,
    content_key: String,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    alias: Option<String>,
    #[serde(default)]
    owner: bool,
}

/// Upgrades stored data to [`LAYOUT_VERSION`]; returns the number of records migrated.
/// Safe to call on every start.
pub fn migrate() -> Result<usize, StoreError> {
    let mut migrated = 0;
    if layout_version() < 2 {
        for old_key in keys_with_prefix(V1_ROOM_PREFIX) {
            let Ok(old) = LocalStorage::get::<RoomRecordV1>(&old_key) else { continue };
            let record = RoomRecord {
                room: old.room,
                keys: BTreeMap::from([(0, old.content_key)]),
                identity: old.identity,
                alias: old.alias,
                owner: old.owner,
                ..RoomRecord::default()
            };
            save_room(&record)?;
            LocalStorage::delete(&old_key);
            migrated += 1;
        }
        LocalStorage::set(LAYOUT_KEY, LAYOUT_VERSION).map_err(|e| StoreError(e.to_string()))?;
    }
    Ok(migrated)
}

pub fn load_room(room: &str) -> Option<RoomRecord> {
    LocalStorage::get(room_key(room)).ok()
}

pub fn save_room(record: &RoomRecord) -> Result<(), StoreError> {
    LocalStorage::set(room_key(&record.room), record).map_err(|e| StoreError(e.to_string()))
}

/// Changes a stored room record in place (no-op if the room is unknown).
pub fn update_room(room: &str, change: impl FnOnce(&mut RoomRecord)) -> Result<Option<RoomRecord>, StoreError> {
    let Some(mut record) = load_room(room) else { return Ok(None) };
    change(&mut record);
    save_room(&record)?;
    Ok(Some(record))
}

/// Forgets a room on this device (its keys, its outbox).
pub fn forget_room(room: &str) {
    LocalStorage::delete(room_key(room));
    LocalStorage::delete(format!("{OUTBOX_PREFIX}{room}"));
}

/// Every room this browser knows, most recently active first.
pub fn list_rooms() -> Vec<RoomRecord> {
    let mut rooms: Vec<RoomRecord> = keys_with_prefix(ROOM_PREFIX)
        .iter()
        .filter_map(|k| k.strip_prefix(ROOM_PREFIX))
        .filter_map(load_room)
        .collect();
    rooms.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then_with(|| a.room.cmp(&b.room)));
    rooms
}

/// Local names of other members, by public key (base64url).
/// Whether this browser tells the others in a room how far it has read (on unless the
/// person turned it off in settings).
pub fn sends_read_markers() -> bool {
    LocalStorage::get::<bool>(READ_MARKERS_KEY).unwrap_or(true)
}

pub fn set_sends_read_markers(on: bool) -> Result<(), StoreError> {
    LocalStorage::set(READ_MARKERS_KEY, on).map_err(|e| StoreError(e.to_string()))
}

pub fn contacts() -> BTreeMap<String, String> {
    LocalStorage::get(CONTACTS_KEY).unwrap_or_default()
}

pub fn save_contacts(contacts: &BTreeMap<String, String>) -> Result<(), StoreError> {
    LocalStorage::set(CONTACTS_KEY, contacts).map_err(|e| StoreError(e.to_string()))
}

/// Members whose safety number was compared, by public key.
pub fn verified() -> BTreeMap<String, protocol::keys_file::VerifiedContact> {
    LocalStorage::get(VERIFIED_KEY).unwrap_or_default()
}

pub fn save_verified(verified: &BTreeMap<String, protocol::keys_file::VerifiedContact>) -> Result<(), StoreError> {
    LocalStorage::set(VERIFIED_KEY, verified).map_err(|e| StoreError(e.to_string()))
}

/// Messages of `room` waiting for their acknowledgement.
pub fn outbox(room: &str) -> Vec<OutboxEntry> {
    LocalStorage::get(format!("{OUTBOX_PREFIX}{room}")).unwrap_or_default()
}

pub fn save_outbox(room: &str, entries: &[OutboxEntry]) -> Result<(), StoreError> {
    let key = format!("{OUTBOX_PREFIX}{room}");
    if entries.is_empty() {
        LocalStorage::delete(key);
        return Ok(());
    }
    LocalStorage::set(key, entries).map_err(|e| StoreError(e.to_string()))
}

/// Removes everything Cloakroom keeps in localStorage (used by tests and "forget all").
pub fn clear_all() {
    for key in keys_with_prefix("cloakroom.") {
        LocalStorage::delete(key);
    }
}
