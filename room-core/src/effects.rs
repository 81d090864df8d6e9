//! What handling events produces, and the interface to the room's sockets.
//!
//! Handlers never touch sockets or storage directly: they stage KV_local writes and
//! outgoing frames in [`Effects`]. [`crate::Room::finish_batch`] commits the writes first
//! and hands the frames to [`Sockets`] only once the commit succeeded.

use protocol::error::ErrorBody;
use std::sync::Arc;

use crate::storage::WriteBatch;

/// The adapter's id for one WebSocket connection.
pub type ConnId = u64;

/// The adapter's id for one pending HTTP call answered after the commit.
pub type ReplyId = u64;

/// The answer to an HTTP call that went through the room: JSON or a typed refusal.
pub type Reply = Result<serde_json::Value, ErrorBody>;

/// The socket's send queue is full: the reader is too slow and will be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// The room's view of its WebSocket connections.
pub trait Sockets {
    /// Queues a text frame. Must not block: a full queue answers [`QueueFull`].
    fn send(&mut self, conn: ConnId, text: Arc<str>) -> Result<(), QueueFull>;
    /// Closes the connection with a close code and reason, after the frames already
    /// queued for it.
    fn close(&mut self, conn: ConnId, code: u16, reason: &str);
    /// Closes the connection at once, dropping what is still queued (a reader that cannot
    /// keep up). Must get through even when the queue is full.
    fn drop_now(&mut self, conn: ConnId, code: u16, reason: &str);
}

/// One outgoing socket action, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    Send { conn: ConnId, text: Arc<str> },
    Close { conn: ConnId, code: u16, reason: String },
}

/// Everything a batch of events produced, waiting for the commit.
#[derive(Debug, Default)]
pub struct Effects {
    pub(crate) writes: WriteBatch,
    pub(crate) outgoing: Vec<Outgoing>,
    pub(crate) replicate: Vec<(String, Vec<u8>)>,
    pub(crate) replies: Vec<(ReplyId, Reply)>,
    pub(crate) tokens: Vec<TokenIssued>,
}

/// A storage token the room issued: the adapter records it in the ledger (KV_global)
/// before the answer carrying the token leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIssued {
    /// base64url SHA-256 of the token.
    pub hash: String,
    pub size: u64,
    /// What it may pay for (a member's token: uploads only).
    pub scope: protocol::storage_token::TokenScope,
    /// The answer that carries the token (to refuse it if the ledger write fails).
    pub reply: ReplyId,
}

/// What a successful batch hands back to the adapter, after frames went to the sockets.
#[derive(Debug, Default)]
pub struct Committed {
    /// Committed messages to copy to KV_global (asynchronously; it may lag).
    pub replicate: Vec<(String, Vec<u8>)>,
    /// Answers to HTTP calls, now that their writes are durable.
    pub replies: Vec<(ReplyId, Reply)>,
    /// Tokens to record in the ledger before `replies` are sent.
    pub tokens: Vec<TokenIssued>,
    /// Connections dropped because their send queue was full.
    pub dropped: Vec<ConnId>,
    /// Number of KV_local writes committed.
    pub writes: usize,
}
