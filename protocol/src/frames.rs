//! WebSocket frames. Every frame is one JSON text message with a `t` tag.
//!
//! The conversation on `GET /ws/{room}`:
//! 1. server → `challenge` (fresh random nonce);
//! 2. client → `hello` (its public key and a signature over the join transcript);
//! 3. server → `welcome` (room state and limits), then `backlog` (newest messages);
//! 4. client → `send` (envelope); server → `ack` to the sender after the message is
//!    committed, and `msg` to every member (the sender included).
//!
//! Refusals are `error` frames; fatal ones are followed by a close with a documented code.

use serde::{Deserialize, Serialize};

use crate::envelope::{B64Bytes, Envelope, StoredMessage};
use crate::error::ErrorBody;
use crate::identity::{PublicKey, Signature};
use crate::ids::{ClientMessageId, MessageKey, RoomId};
use crate::invite::InviteProof;
use crate::key_wrap::WrappedKey;
use crate::limits::Limits;
use crate::room_state::SignedState;

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ClientFrame {
    /// The answer to the join challenge. A key the room does not know yet must also
    /// prove it holds the invite link (`invite`); members and the owner need not.
    Hello {
        v: u32,
        key: PublicKey,
        sig: Signature,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite: Option<InviteProof>,
    },
    /// A message to commit and deliver.
    Send { env: Envelope },
    /// A signed, sealed envelope to relay to the room's readers now and never store:
    /// presence (typing, seen markers) and, later, call signalling. With `to` set, only
    /// that member's connections get it. No `ack` follows; a refusal names its `cid`.
    Ephemeral { env: Envelope },
    /// Asks the room to drop the content of the stored message `key` (after a delete for
    /// everyone): only its sender or the room's owner may, and only while the owner's
    /// policy does not keep deleted messages (`RoomState::keep_deleted`). Answered with
    /// `erased` to every reader, or an `error`.
    Erase { key: MessageKey },
}

/// The room as a joining member sees it. Only `signed` (checked against `owner`, which
/// must derive `room`) is to be trusted; the other fields are the server's word, for
/// display and for keys that wait for the owner (which get no `signed`, `guest` or
/// `latest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    pub room: RoomId,
    pub owner: PublicKey,
    pub locked: bool,
    /// Distinct member keys the room accepts.
    pub capacity: u32,
    /// Current key epoch: new messages must use it.
    pub epoch: u32,
    /// The "verified guest": the first key other than the owner's that joined the room
    /// (and was not turned away). Clients mark its messages.
    #[serde(default)]
    pub guest: Option<PublicKey>,
    /// Newest message key, if the room has any messages (omitted for waiting keys).
    pub latest: Option<MessageKey>,
    /// The owner-signed state (absent for rooms created before protocol v2 until their
    /// owner signs one, and for waiting keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<SignedState>,
    /// The owner's policy: the server keeps the content of messages deleted for everyone
    /// (`erase` is refused). Off by default: a delete's `erase` drops it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_deleted: bool,
}

/// What a connection may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// The room's owner.
    Owner,
    /// A member of an open room.
    Member,
    /// Accepted into a locked room.
    Accepted,
    /// Waiting for the owner in a locked room: gets no messages.
    Pending,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ServerFrame {
    /// First frame on every connection: sign this nonce to join.
    Challenge { v: u32, room: RoomId, nonce: B64Bytes },
    /// The join succeeded. `keys` are the room keys wrapped to this member (one per epoch
    /// it was granted); a `pending` connection gets no backlog and no messages.
    Welcome { state: RoomState, you: PublicKey, is_owner: bool, access: Access, keys: Vec<WrappedKey>, limits: Limits },
    /// The room's settings or this connection's access changed (lock, unlock, re-key,
    /// acceptance, new message of the day). After a change to `pending` no messages follow;
    /// after a change from `pending` a `backlog` follows.
    Room { state: RoomState, access: Access, keys: Vec<WrappedKey> },
    /// The newest messages, oldest first; `more` says older ones exist (page them over HTTP).
    Backlog { messages: Vec<StoredMessage>, more: bool },
    /// To the owner's connections: a key asks to join the locked room (accept or deny it
    /// with the owner API).
    JoinRequest { key: PublicKey },
    /// The sender's message `cid` is committed under `key`.
    Ack { cid: ClientMessageId, key: MessageKey },
    /// A committed message, delivered to every member.
    Msg { m: StoredMessage },
    /// An ephemeral envelope another member sent (relayed as it came, never stored).
    Ephemeral { env: Envelope },
    /// The content of the stored message `key` was dropped on its sender's or the
    /// owner's request (`erase`): history now holds it `erased`.
    Erased { key: MessageKey },
    /// A refusal; `cid` names the message it concerns, when it concerns one.
    Error {
        error: ErrorBody,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cid: Option<ClientMessageId>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn tags_and_shapes() {
        let f = ServerFrame::Error { error: ErrorBody::new(ErrorCode::RateLimited, "slow down"), cid: None };
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["t"], "error");
        assert_eq!(v["error"]["code"], "rate_limited");
        assert!(serde_json::from_str::<ClientFrame>(r#"{"t":"nope"}"#).is_err());
        assert!(serde_json::from_str::<ClientFrame>(r#"{"t":"hello","v":1,"key":"x","sig":"y"}"#).is_err());
    }
}
