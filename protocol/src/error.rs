//! Typed errors shared by every surface of the protocol.
//!
//! A refusal is always an [`ErrorBody`]: `{"code": "...", "message": "..."}` plus an
//! optional `limit` when a numeric limit was exceeded. Over HTTP it is wrapped as
//! `{"error": {...}}` with the status from [`ErrorCode::http_status`]; over a WebSocket it
//! is an `error` frame, followed by a close with [`ErrorCode::close_code`] when the code is
//! fatal for the connection. Codes are stable strings; `docs/PROTOCOL.md` lists them all.

use serde::{Deserialize, Serialize};

/// Every reason the server (or a client-side check) can refuse something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The HTTP body or query is not valid JSON or has wrong or missing fields.
    MalformedRequest,
    /// The HTTP body is larger than the endpoint accepts.
    BodyTooLarge,
    /// A WebSocket frame is not valid JSON, is binary, or has wrong or missing fields.
    MalformedFrame,
    /// The frame or envelope names a protocol version this server does not speak.
    UnsupportedVersion,
    /// A WebSocket frame is larger than `limits.max_frame_bytes`.
    FrameTooLarge,
    /// A message envelope is larger than `limits.max_message_bytes`.
    MessageTooLarge,
    /// A signature does not verify against the claimed key.
    BadSignature,
    /// A public key is not a valid P-256 point in the expected encoding.
    BadKey,
    /// The answer to the join challenge is wrong, late or replayed.
    BadChallengeResponse,
    /// The client did not answer the join challenge in time.
    JoinTimeout,
    /// A frame other than `hello` arrived before the join completed.
    NotJoined,
    /// A second `hello` arrived on a joined connection.
    AlreadyJoined,
    /// The envelope's sender is not the key this connection proved.
    SenderMismatch,
    /// The envelope names a different room than the connection's.
    WrongRoom,
    /// No room with this id exists on this server.
    UnknownRoom,
    /// A room with this id already exists.
    RoomExists,
    /// The room id is not the one derived from the owner key.
    RoomIdMismatch,
    /// The room already holds `capacity` distinct keys and this key is new.
    RoomFull,
    /// The per-connection or per-client rate limit was exceeded.
    RateLimited,
    /// The WebSocket upgrade came from an Origin that is not allowed.
    OriginNotAllowed,
    /// A history cursor is not a message key of this room.
    BadCursor,
    /// A `limit` parameter is zero or above the documented maximum.
    BadLimit,
    /// The request needs an authorisation it does not carry or that is wrong.
    Unauthorized,
    /// The connection could not keep up with the room and was dropped; resync from history.
    SlowConsumer,
    /// The connection sent nothing (not even a pong) for too long.
    IdleTimeout,
    /// The path or method does not exist.
    NotFound,
    /// A signed request's timestamp is too far from the server's clock.
    StaleRequest,
    /// A signed request's nonce was already used.
    ReplayedRequest,
    /// The request is authenticated, but this key may not do this.
    Forbidden,
    /// The key waits for the owner's acceptance in a locked room.
    NotAccepted,
    /// A message is encrypted under an older key epoch than the room's current one.
    StaleEpoch,
    /// The room's storage budget cannot cover the request.
    BudgetExhausted,
    /// A token size outside the documented range.
    BadTokenSize,
    /// The storage token was already spent.
    TokenSpent,
    /// No such storage token exists.
    TokenUnknown,
    /// The storage token is worth less than the operation needs.
    TokenTooSmall,
    /// A room backup is malformed, tampered with, or not signed by the owner.
    BadBackup,
    /// An upload must be paid with a storage token worth at least `limit` bytes.
    TokenRequired,
    /// A chunk's SHA-256 is not the id it was sent under.
    HashMismatch,
    /// A chunk of the wrong size for its index.
    BadChunk,
    /// An upload whose declared shape is invalid or contradicts what is stored.
    BadManifest,
    /// A new key joined without a valid proof that it holds the invite link (or with the
    /// proof of an invite the owner has rotated away).
    InviteRequired,
    /// An owner-signed room state that is malformed, not signed by the owner, older than
    /// the current one, or that does not describe the room as the call leaves it.
    BadState,
    /// A storage token issued to a member pays only for uploads; it cannot fund a room.
    TokenWrongScope,
    /// An SSO token's issuance key is outside its validity window (or was revoked).
    TokenExpired,
    /// The SSO token's issuance key has paid for as many rooms as its cap allows.
    IssuerCapReached,
    /// The SSO: this person has used up their quota of room authorisations this period.
    QuotaExhausted,
    /// The member has drawn its whole storage allowance (`limit` = bytes left to it).
    AllowanceExhausted,
    /// Too many connections at once (`limit`): of one key to a room (the room closes the
    /// new one with 4429), or of one client address (refused before the upgrade).
    TooManyConnections,
    /// Opening an upload without the proof that derives its file id (`read_check`).
    BadReadProof,
    /// The server is shutting down or overloaded; retry later.
    Unavailable,
    /// Too many heavy requests (room restores) are running; retry after the HTTP
    /// `Retry-After` seconds.
    Busy,
    /// No stored message of this room has this key.
    UnknownMessage,
    /// This key may not have that message's content dropped (it is neither its sender
    /// nor the owner), or the owner's policy keeps deleted messages.
    EraseRefused,
    /// An unexpected server-side failure; nothing was changed.
    Internal,
}

impl ErrorCode {
    /// The stable string form used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedRequest => "malformed_request",
            Self::BodyTooLarge => "body_too_large",
            Self::MalformedFrame => "malformed_frame",
            Self::UnsupportedVersion => "unsupported_version",
            Self::FrameTooLarge => "frame_too_large",
            Self::MessageTooLarge => "message_too_large",
            Self::BadSignature => "bad_signature",
            Self::BadKey => "bad_key",
            Self::BadChallengeResponse => "bad_challenge_response",
            Self::JoinTimeout => "join_timeout",
            Self::NotJoined => "not_joined",
            Self::AlreadyJoined => "already_joined",
            Self::SenderMismatch => "sender_mismatch",
            Self::WrongRoom => "wrong_room",
            Self::UnknownRoom => "unknown_room",
            Self::RoomExists => "room_exists",
            Self::RoomIdMismatch => "room_id_mismatch",
            Self::RoomFull => "room_full",
            Self::RateLimited => "rate_limited",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::BadCursor => "bad_cursor",
            Self::BadLimit => "bad_limit",
            Self::Unauthorized => "unauthorized",
            Self::SlowConsumer => "slow_consumer",
            Self::IdleTimeout => "idle_timeout",
            Self::NotFound => "not_found",
            Self::StaleRequest => "stale_request",
            Self::ReplayedRequest => "replayed_request",
            Self::Forbidden => "forbidden",
            Self::NotAccepted => "not_accepted",
            Self::StaleEpoch => "stale_epoch",
            Self::BudgetExhausted => "budget_exhausted",
            Self::BadTokenSize => "bad_token_size",
            Self::TokenSpent => "token_spent",
            Self::TokenUnknown => "token_unknown",
            Self::TokenTooSmall => "token_too_small",
            Self::BadBackup => "bad_backup",
            Self::TokenRequired => "token_required",
            Self::HashMismatch => "hash_mismatch",
            Self::BadChunk => "bad_chunk",
            Self::BadManifest => "bad_manifest",
            Self::InviteRequired => "invite_required",
            Self::BadState => "bad_state",
            Self::TokenWrongScope => "token_wrong_scope",
            Self::TokenExpired => "token_expired",
            Self::IssuerCapReached => "issuer_cap_reached",
            Self::QuotaExhausted => "quota_exhausted",
            Self::AllowanceExhausted => "allowance_exhausted",
            Self::TooManyConnections => "too_many_connections",
            Self::BadReadProof => "bad_read_proof",
            Self::Unavailable => "unavailable",
            Self::Busy => "busy",
            Self::UnknownMessage => "unknown_message",
            Self::EraseRefused => "erase_refused",
            Self::Internal => "internal",
        }
    }

    /// HTTP status used when this code answers an HTTP request.
    pub fn http_status(self) -> u16 {
        match self {
            Self::MalformedRequest
            | Self::MalformedFrame
            | Self::UnsupportedVersion
            | Self::BadSignature
            | Self::BadKey
            | Self::BadChallengeResponse
            | Self::NotJoined
            | Self::AlreadyJoined
            | Self::SenderMismatch
            | Self::WrongRoom
            | Self::RoomIdMismatch
            | Self::BadCursor
            | Self::BadLimit
            | Self::BadTokenSize
            | Self::BadBackup
            | Self::HashMismatch
            | Self::BadChunk
            | Self::BadManifest
            | Self::BadState => 400,
            Self::Unauthorized | Self::StaleRequest => 401,
            Self::TokenTooSmall | Self::TokenRequired => 402,
            Self::OriginNotAllowed
            | Self::Forbidden
            | Self::NotAccepted
            | Self::InviteRequired
            | Self::TokenWrongScope
            | Self::TokenExpired
            | Self::BadReadProof
            | Self::EraseRefused => 403,
            Self::IssuerCapReached | Self::QuotaExhausted => 429,
            Self::TokenUnknown => 404,
            Self::ReplayedRequest | Self::TokenSpent | Self::StaleEpoch => 409,
            Self::BudgetExhausted | Self::AllowanceExhausted => 507,
            Self::UnknownRoom | Self::NotFound | Self::UnknownMessage => 404,
            Self::JoinTimeout | Self::IdleTimeout => 408,
            Self::RoomExists | Self::RoomFull => 409,
            Self::FrameTooLarge | Self::MessageTooLarge | Self::BodyTooLarge => 413,
            Self::RateLimited | Self::SlowConsumer | Self::TooManyConnections => 429,
            Self::Internal => 500,
            Self::Unavailable | Self::Busy => 503,
        }
    }

    /// WebSocket close code sent after the error frame when this code ends the
    /// connection, or `None` when the connection stays open (the refusal only concerns
    /// the one frame, e.g. a message that is too large or a rate-limited send).
    pub fn close_code(self) -> Option<u16> {
        match self {
            // Refusals of one frame: the connection continues.
            Self::MessageTooLarge
            | Self::BadSignature
            | Self::SenderMismatch
            | Self::WrongRoom
            | Self::RateLimited
            | Self::AlreadyJoined
            | Self::BadCursor
            | Self::BadLimit
            | Self::UnsupportedVersion
            | Self::NotAccepted
            | Self::StaleEpoch
            | Self::StaleRequest
            | Self::ReplayedRequest
            | Self::BudgetExhausted
            | Self::BadTokenSize
            | Self::TokenSpent
            | Self::TokenUnknown
            | Self::TokenTooSmall
            | Self::BadBackup
            | Self::TokenRequired
            | Self::HashMismatch
            | Self::BadChunk
            | Self::BadManifest
            | Self::BadState
            | Self::TokenWrongScope
            | Self::TokenExpired
            | Self::IssuerCapReached
            | Self::QuotaExhausted
            | Self::AllowanceExhausted
            | Self::BadReadProof
            | Self::UnknownMessage
            | Self::EraseRefused
            // HTTP-only refusals (before any upgrade).
            | Self::Busy => None,
            Self::MalformedFrame | Self::MalformedRequest | Self::NotJoined => Some(4400),
            Self::BodyTooLarge => Some(1009),
            Self::BadChallengeResponse | Self::BadKey | Self::Unauthorized => Some(4401),
            Self::OriginNotAllowed | Self::Forbidden | Self::InviteRequired => Some(4403),
            Self::UnknownRoom | Self::NotFound => Some(4404),
            Self::JoinTimeout | Self::IdleTimeout => Some(4408),
            Self::RoomFull | Self::RoomExists | Self::RoomIdMismatch => Some(4409),
            Self::FrameTooLarge => Some(1009),
            Self::SlowConsumer | Self::TooManyConnections => Some(4429),
            Self::Internal => Some(1011),
            Self::Unavailable => Some(1012),
        }
    }
}

impl ErrorCode {
    /// Whether the refusal may go away by itself, so the same request (or message) can be
    /// retried unchanged after a pause: the server is restarting or busy, or asked to slow
    /// down. Everything else is final for that request.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Unavailable | Self::RateLimited | Self::Busy)
    }
}

/// Whether a WebSocket closed with `code` must not be reconnected: the proof was refused
/// (4401), the key was turned away or lacks the invite (4403), the room does not exist
/// (4404) or is full (4409). Any other close (a restart, a lost network, a slow reader,
/// an idle or join timeout) is retried with backoff.
pub fn is_final_close(code: u16) -> bool {
    matches!(code, 4401 | 4403 | 4404 | 4409)
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every refusal: a stable code, a human sentence and, when a numeric limit
/// was exceeded, that limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), limit: None }
    }

    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}

/// The JSON shape of an HTTP error answer: `{"error": {"code", "message", "limit"?}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    pub error: ErrorBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_match_serde() {
        for code in [
            ErrorCode::MalformedFrame,
            ErrorCode::RoomFull,
            ErrorCode::BadChallengeResponse,
            ErrorCode::Busy,
            ErrorCode::TooManyConnections,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn hardening_codes_have_their_statuses() {
        assert_eq!(ErrorCode::Busy.http_status(), 503);
        assert_eq!(ErrorCode::TooManyConnections.http_status(), 429);
        assert_eq!(ErrorCode::Busy.close_code(), None);
        assert_eq!(ErrorCode::TooManyConnections.close_code(), Some(4429), "a key's extra connection is closed");
    }

    #[test]
    fn http_error_shape() {
        let e = HttpError { error: ErrorBody::new(ErrorCode::MessageTooLarge, "too big").with_limit(32768) };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"error": {"code": "message_too_large", "message": "too big", "limit": 32768}})
        );
    }
}
