//! HTTP request and response bodies of the worker API (see `docs/PROTOCOL.md`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::backup::{MemberStatus, SignedBackup};
use crate::envelope::StoredMessage;
use crate::error::{ErrorBody, ErrorCode};
use crate::identity::PublicKey;
use crate::ids::{MessageKey, RoomId};
use crate::invite::InviteProof;
use crate::key_wrap::WrappedKey;
use crate::limits::Limits;
use crate::room_state::SignedState;

/// `GET /api/info`: what this server is and the limits it enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    pub name: String,
    pub version: String,
    pub protocol: u32,
    pub limits: Limits,
    /// The SSO whose room tokens this server accepts, if any (`docs/SSO.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sso: Option<crate::sso::SsoInfo>,
    /// How calls reach each other: STUN/TURN servers (none by default).
    #[serde(default)]
    pub calls: CallSettings,
}

/// The STUN/TURN servers calls use, as the server's operator configured them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSettings {
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
    /// Calls go through a TURN relay only (each person's address stays hidden from the
    /// others; the relay sees only DTLS-SRTP ciphertext).
    #[serde(default)]
    pub relay_only: bool,
}

/// One STUN or TURN server (`stun:host:port`, `turn:host:port?transport=udp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// How a room creation (or a restore) is authorised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CreateAuthorization {
    /// The server's admin secret (from its data directory or configuration).
    AdminSecret { secret: String },
    /// An unspent storage token worth at least `MIN_ROOM_FUNDING_BYTES`; its value
    /// becomes the new room's budget.
    StorageToken { token: String },
    /// A one-use room token the SSO signed blind (`docs/SSO.md`); its key's denomination
    /// becomes the new room's budget.
    SsoToken { token: crate::sso::SsoToken },
}

/// `POST /api/rooms`: register a new room for an owner key. The request is a signed
/// request by `owner` (which proves the caller holds the owner key), and `state` is the
/// room's first owner-signed state (version 1, epoch 0, unlocked, with its invite key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoomRequest {
    /// Must equal `RoomId::from_owner_key(owner)`.
    pub room: RoomId,
    pub owner: PublicKey,
    pub auth: CreateAuthorization,
    pub state: SignedState,
}

/// Answer to a successful room creation (or restore).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRoomResponse {
    pub room: RoomId,
    pub capacity: u32,
    /// The new room's storage budget in bytes.
    pub budget: u64,
}

/// `POST /api/rooms/{room}/restore`: a signed backup from another server. `auth` must be
/// the body's first member (serde writes fields in this order): the server checks it
/// before reading the rest of the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub auth: CreateAuthorization,
    pub backup: SignedBackup,
}

/// Header carrying a paged restore's stage secret (base64url of 32 bytes).
pub const STAGE_HEADER: &str = "x-cloakroom-stage";
/// Largest body of one page of a paged restore (its messages' JSON).
pub const MAX_RESTORE_PAGE_BYTES: u64 = 8 * 1024 * 1024;
/// Most messages in one page of a paged restore (each signature is checked while the
/// request runs: this bounds its CPU time).
pub const MAX_RESTORE_PAGE_MESSAGES: usize = 1_000;
/// Largest total of a paged restore's messages (their canonical JSON): the single-request
/// restore's body limit.
pub const MAX_RESTORE_BYTES: u64 = 256 * 1024 * 1024;

/// `POST /api/rooms/{room}/restore/begin`: starts a paged restore (for backups too large
/// for one request, such as on the edge). `head` is the backup without its messages
/// (`messages: []`); `sig` is the owner's signature over the whole backup; `messages` is
/// how many follow in pages. Authorised like a creation; nothing is spent yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreBegin {
    pub auth: CreateAuthorization,
    pub head: crate::backup::RoomBackup,
    pub sig: crate::identity::Signature,
    pub messages: u64,
}

/// The answer to [`RestoreBegin`]: the stage secret every page and the finish must carry
/// (in [`STAGE_HEADER`]), and the largest page body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreStarted {
    pub stage: String,
    pub max_page_bytes: u64,
    pub max_page_messages: u64,
}

/// `POST /api/rooms/{room}/restore/pages`: the backup's messages from index `from` on,
/// oldest first. A page already staged (a retry) changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestorePage {
    pub from: u64,
    pub messages: Vec<crate::envelope::StoredMessage>,
}

/// How far a paged restore is: messages staged of those announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreProgress {
    pub staged: u64,
    pub messages: u64,
}

/// `POST /api/rooms/{room}/restore/finish`: checks the owner's signature over the whole
/// staged backup, pays (`auth` again: nothing was spent before) and creates the room.
/// Answers [`CreateRoomResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreFinish {
    pub auth: CreateAuthorization,
}

pub use crate::room_state::MAX_MOTD_CHARS;
/// Largest room capacity an owner may set.
pub const MAX_ROOM_CAPACITY: u32 = 10_000;

/// The owner's calls, each `… /api/rooms/{room}/owner/<name>` with a signed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum OwnerCall {
    /// `GET settings`
    Settings,
    /// `PUT state`: a new owner-signed state that keeps the epoch and the lock (a new
    /// capacity, message of the day or invite key; also signs the first state of a room
    /// created before protocol v2).
    PutState { state: SignedState },
    /// `GET members`
    Members,
    /// `POST lock`: starts key epoch `epoch` (current + 1) with `keys` wrapped to the
    /// members who stay (the owner included); everyone else waits for acceptance.
    Lock { epoch: u32, keys: Vec<WrappedKey>, state: SignedState },
    /// `POST unlock`: anyone with the link may join again.
    Unlock { state: SignedState },
    /// `PUT allowance`: the most storage (bytes) each member may draw from the budget.
    SetAllowance { allowance: u64 },
    /// `PUT deleted`: whether the server keeps the content of messages deleted for
    /// everyone (`keep`), or drops it when their sender or the owner asks (`erase`).
    SetKeepDeleted { keep: bool },
    /// `POST accept`: lets a key in, with the current epoch's key wrapped to it.
    Accept { key: PublicKey, wrapped: WrappedKey },
    /// `POST deny`: turns a waiting key away.
    Deny { key: PublicKey },
    /// `POST remove`: removes a member (closing its connections) and, optionally,
    /// re-keys the room so it cannot read what follows.
    Remove { key: PublicKey, rekey: Option<Rekey> },
    /// `POST rekey`: a new key epoch for the current members.
    Rekey(Rekey),
    /// `GET budget`
    Budget,
    /// `POST tokens`: issues a one-use storage token out of the budget.
    IssueToken { size: u64 },
    /// `GET backup`: the whole room, still encrypted.
    Backup,
}

/// Every owner call as `(name in the path, HTTP method, serde tag of [`OwnerCall`])`: the
/// one table the server's router, the clients and the tests use.
pub const OWNER_CALLS: [(&str, &str, &str); 14] = [
    ("settings", "GET", "settings"),
    ("members", "GET", "members"),
    ("budget", "GET", "budget"),
    ("backup", "GET", "backup"),
    ("state", "PUT", "put_state"),
    ("allowance", "PUT", "set_allowance"),
    ("deleted", "PUT", "set_keep_deleted"),
    ("lock", "POST", "lock"),
    ("unlock", "POST", "unlock"),
    ("accept", "POST", "accept"),
    ("deny", "POST", "deny"),
    ("remove", "POST", "remove"),
    ("rekey", "POST", "rekey"),
    ("tokens", "POST", "issue_token"),
];

/// The method and serde tag of the owner call named `name` in the path.
pub fn owner_call_route(name: &str) -> Option<(&'static str, &'static str)> {
    OWNER_CALLS.iter().find(|(n, _, _)| *n == name).map(|(_, method, tag)| (*method, *tag))
}

impl OwnerCall {
    fn tagged(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("owner calls serialise")
    }

    /// The row of [`OWNER_CALLS`] this call is.
    fn route(&self) -> (&'static str, &'static str) {
        let tagged = self.tagged();
        let tag = tagged["call"].as_str().expect("owner calls carry their tag");
        OWNER_CALLS
            .iter()
            .find(|(_, _, t)| *t == tag)
            .map(|(name, method, _)| (*name, *method))
            .expect("every owner call is in OWNER_CALLS")
    }

    /// The call's name in the path (`…/owner/<name>`).
    pub fn name(&self) -> &'static str {
        self.route().0
    }

    /// The HTTP method.
    pub fn method(&self) -> &'static str {
        self.route().1
    }

    /// The request path for `room`.
    pub fn path(&self, room: &RoomId) -> String {
        format!("/api/rooms/{room}/owner/{}", self.name())
    }

    /// The request body: the call's fields as compact JSON (no tag: the path names the
    /// call), or nothing for a `GET`.
    pub fn body(&self) -> Vec<u8> {
        if self.method() == "GET" {
            return Vec::new();
        }
        let mut tagged = self.tagged();
        if let Some(object) = tagged.as_object_mut() {
            object.remove("call");
        }
        serde_json::to_vec(&tagged).expect("JSON serialises")
    }

    /// Reads the call a server received: `name` from the path, `method`, and the body
    /// (a JSON object of the call's fields; empty for a `GET`).
    pub fn from_request(method: &str, name: &str, body: &[u8]) -> Result<OwnerCall, ErrorBody> {
        let Some((expected, tag)) = owner_call_route(name) else {
            return Err(ErrorBody::new(ErrorCode::NotFound, format!("no owner call named {name:?}")));
        };
        if method != expected {
            return Err(ErrorBody::new(ErrorCode::NotFound, format!("the owner call {name} takes {expected}")));
        }
        let mut value: serde_json::Value = if body.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|e| ErrorBody::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")))?
        };
        let Some(object) = value.as_object_mut() else {
            return Err(ErrorBody::new(ErrorCode::MalformedRequest, "the body must be a JSON object"));
        };
        object.insert("call".into(), tag.into());
        serde_json::from_value(value)
            .map_err(|e| ErrorBody::new(ErrorCode::MalformedRequest, format!("invalid {name} call: {e}")))
    }
}

/// A new key epoch, its key wrapped to each member that keeps access, and the owner-signed
/// state that names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rekey {
    pub epoch: u32,
    pub keys: Vec<WrappedKey>,
    pub state: SignedState,
}

/// The room's settings as the owner sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub locked: bool,
    pub capacity: u32,
    pub epoch: u32,
    /// The owner-signed state in force (absent for a room created before protocol v2
    /// until its owner signs one).
    pub signed: Option<SignedState>,
    /// The most storage each member may draw from the budget, in bytes.
    pub allowance: u64,
    /// The server keeps the content of messages deleted for everyone (see
    /// [`OwnerCall::SetKeepDeleted`]).
    #[serde(default)]
    pub keep_deleted: bool,
}

/// Default share of the room's total budget that one member may draw: a quarter.
pub const DEFAULT_ALLOWANCE_DIVISOR: u64 = 4;

/// One key known to the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub key: PublicKey,
    pub status: MemberStatus,
    pub first_joined: u64,
    /// Connected right now.
    pub online: bool,
    /// The invite proof the key joined with (the owner's browser checks it before it
    /// wraps a key to this member); absent for keys admitted before protocol v2.
    #[serde(default)]
    pub invite: Option<InviteProof>,
    /// Storage this member has drawn from the budget (bytes of tokens issued to it).
    #[serde(default)]
    pub spent: u64,
}

/// `GET members`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersView {
    pub members: Vec<MemberView>,
}

/// `GET budget`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetView {
    /// Bytes the room was funded with.
    pub total: u64,
    /// Bytes not yet handed out as tokens.
    pub remaining: u64,
    /// Tokens issued so far.
    pub tokens_issued: u64,
    /// Bytes of stored messages charged to the budget so far.
    #[serde(default)]
    pub message_bytes: u64,
}

/// `POST tokens`: the token itself (shown once; the server keeps only its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedToken {
    pub token: String,
    /// Bytes it is worth (the requested size rounded up to its bucket).
    pub size: u64,
    /// The budget left after issuing it.
    pub remaining: u64,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_owner_call_knows_its_route_and_reads_back_from_its_request() {
        let owner = crate::identity::IdentityKey::from_secret_bytes(&[1; 32]).unwrap();
        let room = RoomId::from_owner_key(&owner.public_key());
        let key = owner.public_key();
        let state = crate::vectors_v2::load().states[0].state.clone();
        let wrapped = crate::vectors_v2::load().wraps[0].wrapped.clone();
        let rekey = Rekey { epoch: 1, keys: vec![wrapped.clone()], state: state.clone() };
        let calls = vec![
            OwnerCall::Settings,
            OwnerCall::PutState { state: state.clone() },
            OwnerCall::Members,
            OwnerCall::Lock { epoch: 1, keys: vec![wrapped.clone()], state: state.clone() },
            OwnerCall::Unlock { state: state.clone() },
            OwnerCall::SetAllowance { allowance: 5 },
            OwnerCall::SetKeepDeleted { keep: true },
            OwnerCall::Accept { key, wrapped: wrapped.clone() },
            OwnerCall::Deny { key },
            OwnerCall::Remove { key, rekey: Some(rekey.clone()) },
            OwnerCall::Rekey(rekey),
            OwnerCall::Budget,
            OwnerCall::IssueToken { size: 7 },
            OwnerCall::Backup,
        ];
        let names: std::collections::BTreeSet<&str> = calls.iter().map(OwnerCall::name).collect();
        assert_eq!(names.len(), OWNER_CALLS.len(), "one call per row of the table");
        for call in calls {
            let (name, method) = (call.name(), call.method());
            assert!(call.path(&room).ends_with(&format!("/owner/{name}")));
            assert_eq!(method == "GET", call.body().is_empty(), "{name}");
            assert_eq!(OwnerCall::from_request(method, name, &call.body()), Ok(call.clone()), "{name}");
            let wrong = if method == "GET" { "POST" } else { "GET" };
            assert_eq!(OwnerCall::from_request(wrong, name, &call.body()).unwrap_err().code, ErrorCode::NotFound);
        }
        assert_eq!(OwnerCall::from_request("GET", "nope", b"").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(OwnerCall::from_request("PUT", "allowance", b"[]").unwrap_err().code, ErrorCode::MalformedRequest);
    }
}
