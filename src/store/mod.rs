//! What the browser keeps, in localStorage, under a versioned layout.
//!
//! Layout version 1 (documented in `docs/ARCHITECTURE.md`):
//! - `cloakroom.v1.room.<room id>` → [`RoomRecord`] as JSON: the content key, this
//!   browser's identity secret for the room, the alias, whether we own it;
//! - `cloakroom.layout` → `1`, the layout version, for future migrations.
//!
//! One key per room, so two tabs writing different rooms never overwrite each other.

use gloo_storage::{LocalStorage, Storage};
use serde::{Deserialize, Serialize};

/// Current layout version.
pub const LAYOUT_VERSION: u32 = 1;
const LAYOUT_KEY: &str = "cloakroom.layout";
const ROOM_PREFIX: &str = "cloakroom.v1.room.";

/// Everything this browser knows about one room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRecord {
    pub room: String,
    /// The room content key, base64url.
    pub content_key: String,
    /// This browser's identity secret for the room, base64url (`None` until the first visit's alias prompt).
    #[serde(default)]
    pub identity: Option<String>,
    #[serde(default)]
    pub alias: Option<String>,
    #[serde(default)]
    pub owner: bool,
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

/// Records the layout version (call once at start).
pub fn ensure_layout() {
    if LocalStorage::get::<u32>(LAYOUT_KEY).is_err() {
        let _ = LocalStorage::set(LAYOUT_KEY, LAYOUT_VERSION);
    }
}

pub fn load_room(room: &str) -> Option<RoomRecord> {
    LocalStorage::get(room_key(room)).ok()
}

pub fn save_room(record: &RoomRecord) -> Result<(), StoreError> {
    LocalStorage::set(room_key(&record.room), record).map_err(|e| StoreError(e.to_string()))
}

/// Every room this browser knows, sorted by id.
pub fn list_rooms() -> Vec<RoomRecord> {
    let storage = LocalStorage::raw();
    let count = storage.length().unwrap_or(0);
    let mut rooms: Vec<RoomRecord> = (0..count)
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter_map(|k| k.strip_prefix(ROOM_PREFIX).map(str::to_owned))
        .filter_map(|room| load_room(&room))
        .collect();
    rooms.sort_by(|a, b| a.room.cmp(&b.room));
    rooms
}
