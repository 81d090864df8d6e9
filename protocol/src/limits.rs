//! Every limit the server enforces. The server reports the values it runs with in
//! `GET /api/info` and in the `welcome` frame, so clients check before sending.

use serde::{Deserialize, Serialize};

/// Largest WebSocket frame a client may send (64 KiB). Larger frames close the
/// connection with `frame_too_large` (close code 1009).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The storage floor of the design: no value stored in KV_local may exceed 32 KiB.
pub const KV_LOCAL_MAX_VALUE_BYTES: usize = 32 * 1024;

/// Largest message envelope, measured as the JSON the server stores (32 KiB, so a stored
/// message always fits one KV_local value).
pub const MAX_MESSAGE_BYTES: usize = KV_LOCAL_MAX_VALUE_BYTES;

/// Messages sent in the backlog after a join.
pub const BACKLOG_MESSAGES: usize = 100;

/// Largest page of `GET /api/rooms/{id}/history`.
pub const MAX_HISTORY_PAGE: usize = 500;

/// Default page of `GET /api/rooms/{id}/history` when no `limit` is given.
pub const DEFAULT_HISTORY_PAGE: usize = 100;

/// Largest number of room ids in one `last-message-times` query.
pub const MAX_ROOMS_PER_QUERY: usize = 200;

/// Longest client message id, in characters (base64url alphabet only).
pub const MAX_CLIENT_ID_CHARS: usize = 64;

/// The limits a server runs with; sent to clients so they can check before sending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest WebSocket frame accepted from a client, in bytes.
    pub max_frame_bytes: u64,
    /// Largest stored message envelope, in bytes of JSON.
    pub max_message_bytes: u64,
    /// Token bucket per connection: sustained messages per second.
    pub rate_per_second: u32,
    /// Token bucket per connection: burst size.
    pub rate_burst: u32,
    /// Default number of distinct member keys a new room accepts.
    pub default_room_capacity: u32,
    /// Messages in the backlog sent after a join.
    pub backlog_messages: u32,
    /// Largest history page over HTTP.
    pub max_history_page: u32,
    /// Seconds a new connection has to answer the join challenge.
    pub join_timeout_secs: u32,
    /// Seconds of silence (no frame, no pong) after which a connection is closed.
    pub idle_timeout_secs: u32,
    /// Bytes of frames that may wait for a slow reader before it is dropped.
    pub send_queue_bytes: u64,
    /// Plaintext bytes per stored file chunk (each is stored with a 16-byte tag).
    #[serde(default = "default_chunk_bytes")]
    pub chunk_bytes: u64,
    /// Largest file that can be shared, in bytes (before padding).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Connections one key may hold open to a room at once (tabs and devices).
    #[serde(default = "default_connections_per_key")]
    pub max_connections_per_key: u32,
    /// Keys that may wait for the owner's acceptance in a locked room at once (they do
    /// not count against the capacity).
    #[serde(default = "default_pending_keys")]
    pub max_pending_keys: u32,
}

fn default_connections_per_key() -> u32 {
    8
}

fn default_pending_keys() -> u32 {
    100
}

fn default_chunk_bytes() -> u64 {
    crate::objects::CHUNK_BYTES
}

fn default_max_file_bytes() -> u64 {
    crate::objects::MAX_FILE_BYTES
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: MAX_FRAME_BYTES as u64,
            max_message_bytes: MAX_MESSAGE_BYTES as u64,
            rate_per_second: 10,
            rate_burst: 30,
            default_room_capacity: 50,
            backlog_messages: BACKLOG_MESSAGES as u32,
            max_history_page: MAX_HISTORY_PAGE as u32,
            join_timeout_secs: 10,
            idle_timeout_secs: 60,
            send_queue_bytes: 1024 * 1024,
            chunk_bytes: default_chunk_bytes(),
            max_file_bytes: default_max_file_bytes(),
            max_connections_per_key: default_connections_per_key(),
            max_pending_keys: default_pending_keys(),
        }
    }
}
