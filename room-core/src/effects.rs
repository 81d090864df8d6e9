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

/// "An error frame, then (for fatal codes) the close code that goes with it": the one
/// encoding every host uses to turn a connection away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `error` frame's text.
    pub frame: Arc<str>,
    /// The close code and reason to send after it, if the error ends the connection.
    pub close: Option<(u16, &'static str)>,
}

impl Refusal {
    pub fn new(error: ErrorBody, cid: Option<protocol::ids::ClientMessageId>) -> Self {
        let close = error.code.close_code().map(|code| (code, error.code.as_str()));
        let frame = crate::room::frame_text(&protocol::frames::ServerFrame::Error { error, cid });
        Refusal { frame, close }
    }

    /// A refusal that always closes: fatal codes keep their close code, others close
    /// with `fallback` (a connection the host cannot hand to any room).
    pub fn closing(error: ErrorBody, fallback: u16) -> Self {
        let code = error.code.close_code().unwrap_or(fallback);
        let reason = error.code.as_str();
        let mut refusal = Refusal::new(error, None);
        refusal.close = Some((code, reason));
        refusal
    }
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
    /// A message's content was dropped in this batch (see [`Committed::erased`]).
    pub(crate) erased: bool,
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
    /// A message's content was dropped (`erase`): a host whose storage keeps superseded
    /// pages (SQLite's write-ahead log) purges them now, and KV_global's copy, so the
    /// ciphertext is gone from disk and not only from the room's answers.
    pub erased: bool,
}

impl Committed {
    /// The answers to send, once the host tried to record every token of
    /// [`Committed::tokens`] in the ledger; `unrecorded` are the answers whose token it
    /// could not record. Those are refused (`internal`): a token the ledger does not know
    /// could never be spent, so it must not leave.
    pub fn answers(&mut self, unrecorded: &std::collections::BTreeSet<ReplyId>) -> Vec<(ReplyId, Reply)> {
        std::mem::take(&mut self.replies)
            .into_iter()
            .map(|(id, answer)| {
                if unrecorded.contains(&id) {
                    let e = protocol::error::ErrorCode::Internal;
                    (id, Err(ErrorBody::new(e, "the token could not be recorded in the ledger; try again")))
                } else {
                    (id, answer)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::error::ErrorCode;

    #[test]
    fn an_answer_whose_token_was_not_recorded_is_refused_and_the_others_leave() {
        let mut committed = Committed {
            replies: vec![(1, Ok(serde_json::json!({"token": "a"}))), (2, Ok(serde_json::json!({"token": "b"})))],
            ..Committed::default()
        };
        let answers = committed.answers(&std::collections::BTreeSet::from([2]));
        assert_eq!(answers[0], (1, Ok(serde_json::json!({"token": "a"}))));
        assert!(matches!(&answers[1], (2, Err(e)) if e.code == ErrorCode::Internal));
        assert!(committed.answers(&Default::default()).is_empty(), "answers are taken once");
    }

    #[test]
    fn a_refusal_is_the_error_frame_then_its_close_code() {
        let fatal = Refusal::new(ErrorBody::new(ErrorCode::JoinTimeout, "late"), None);
        assert!(fatal.frame.contains(r#""code":"join_timeout""#), "{}", fatal.frame);
        assert_eq!(fatal.close, Some((4408, "join_timeout")));
        let per_message = ErrorBody::new(ErrorCode::RateLimited, "slow down");
        assert_eq!(Refusal::new(per_message.clone(), None).close, None, "a per-message refusal keeps the socket");
        assert_eq!(Refusal::closing(per_message, 4400).close, Some((4400, "rate_limited")));
    }
}
