//! HTTP request and response bodies of the worker API (see `docs/PROTOCOL.md`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::envelope::StoredMessage;
use crate::identity::PublicKey;
use crate::ids::{MessageKey, RoomId};
use crate::limits::Limits;

/// `GET /api/info`: what this server is and the limits it enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    pub name: String,
    pub version: String,
    pub protocol: u32,
    pub limits: Limits,
}

/// How a room creation is authorised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CreateAuthorization {
    /// The server's admin secret (from its data directory or configuration).
    AdminSecret { secret: String },
}

/// `POST /api/rooms`: register a new room for an owner key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoomRequest {
    /// Must equal `RoomId::from_owner_key(owner)`.
    pub room: RoomId,
    pub owner: PublicKey,
    pub auth: CreateAuthorization,
}

/// Answer to a successful room creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoomResponse {
    pub room: RoomId,
    pub capacity: u32,
}

/// `GET /api/rooms/{room}/history?before=<key>&limit=<n>`: one page, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub messages: Vec<StoredMessage>,
    /// True when messages older than the first one of this page exist.
    pub more: bool,
}

/// `POST /api/last-message-times`: the newest message key of each listed room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessageTimesRequest {
    pub rooms: Vec<RoomId>,
}

/// Rooms without messages (or unknown to the server) map to `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessageTimesResponse {
    pub rooms: BTreeMap<RoomId, Option<MessageKey>>,
}
