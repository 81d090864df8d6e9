//! A native Cloakroom client over real sockets: HTTP calls with reqwest, the room
//! WebSocket with tokio-tungstenite, sealing with the shared `protocol` crate.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use std::sync::Mutex;

use protocol::api::{CreateAuthorization, CreateRoomRequest, CreateRoomResponse, HistoryPage};
use protocol::content_key::ContentKey;
use protocol::envelope::{self, Content, Envelope, MessageBody, SealInput, StoredMessage};
use protocol::error::HttpError;
use protocol::frames::{Access, ClientFrame, RoomState, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::{ClientMessageId, MessageKey, RoomId};
use protocol::invite::InviteProof;
use protocol::key_wrap::WrappedKey;
use protocol::limits::Limits;
use protocol::room_state::{SignedState, StateFields};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::random_bytes;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A fresh random identity.
pub fn new_identity() -> IdentityKey {
    loop {
        if let Ok(k) = IdentityKey::from_secret_bytes(&random_bytes::<32>()) {
            return k;
        }
    }
}

/// A fresh random content key.
pub fn new_content_key() -> ContentKey {
    ContentKey::from_bytes(random_bytes::<32>())
}

/// Seals a text message (key epoch 0).
pub fn seal_text(room: &RoomId, who: &IdentityKey, key: &ContentKey, cid: &str, alias: &str, text: &str) -> Envelope {
    seal_text_at(room, who, key, 0, cid, alias, text)
}

/// Seals a text message under the content key of `epoch`.
pub fn seal_text_at(
    room: &RoomId,
    who: &IdentityKey,
    key: &ContentKey,
    epoch: u32,
    cid: &str,
    alias: &str,
    text: &str,
) -> Envelope {
    let body = MessageBody { alias: alias.into(), content: Content::text(text) };
    let cid = ClientMessageId::parse(cid).expect("valid test cid");
    envelope::seal(&SealInput { room, epoch, cid: &cid, to: None, body: &body }, key, who, random_bytes::<12>())
}

/// The text of a message, or why it does not open with `key`.
pub fn open_text(env: &Envelope, key: &ContentKey) -> Result<String, String> {
    match envelope::open(env, key).map_err(|e| e.to_string())?.content {
        Content::Text { text, .. } => Ok(text),
        other => Err(format!("not a text message: {other:?}")),
    }
}

/// A room made for a test: its owner identity, content key (the invite link's) and the
/// owner-signed state the test has signed last.
pub struct TestRoom {
    pub id: RoomId,
    pub owner: IdentityKey,
    pub key: ContentKey,
    first: StateFields,
    state: Mutex<StateFields>,
}

/// The invite link key of each room this process created: [`Member::join`] proves it
/// holds the link, like a browser that opened it.
static INVITES: Mutex<Vec<(RoomId, ContentKey)>> = Mutex::new(Vec::new());

/// Remembers `key` as the invite link key of `room` for [`Member::join`].
pub fn remember_invite(room: &RoomId, key: &ContentKey) {
    INVITES.lock().unwrap().push((room.clone(), key.clone()));
}

fn invite_of(room: &RoomId) -> Option<ContentKey> {
    INVITES.lock().unwrap().iter().rev().find(|(r, _)| r == room).map(|(_, k)| k.clone())
}

/// The first state of a new room whose link carries `key` (with the default capacity;
/// [`create_room`] uses the one the server advertises instead, as the web client does).
pub fn first_state_fields(room: &RoomId, key: &ContentKey) -> StateFields {
    StateFields {
        version: 1,
        epoch: 0,
        locked: false,
        capacity: Limits::default().default_room_capacity,
        invite: protocol::invite::invite_key(room, key).public_key(),
        invite_epoch: 0,
        motd: None,
        name: None,
    }
}

impl TestRoom {
    /// A room (not yet on any server) with fresh keys.
    pub fn fresh() -> TestRoom {
        Self::with_capacity(Limits::default().default_room_capacity)
    }

    /// A fresh room whose first state says `capacity`.
    pub fn with_capacity(capacity: u32) -> TestRoom {
        let owner = new_identity();
        let id = RoomId::from_owner_key(&owner.public_key());
        let key = new_content_key();
        remember_invite(&id, &key);
        let first = StateFields { capacity, ..first_state_fields(&id, &key) };
        let state = Mutex::new(first.clone());
        TestRoom { id, owner, key, first, state }
    }

    /// The room's first signed state (version 1).
    pub fn first_state(&self) -> SignedState {
        SignedState::sign(&self.owner, &self.id, self.first.clone())
    }

    /// The next owner-signed state: the last one with `change` applied and a higher
    /// version (what the owner's browser signs with every change).
    pub fn next_state(&self, change: impl FnOnce(&mut StateFields)) -> SignedState {
        let mut fields = self.state.lock().unwrap();
        fields.version += 1;
        change(&mut fields);
        SignedState::sign(&self.owner, &self.id, fields.clone())
    }

    /// The fields of the last signed state.
    pub fn fields(&self) -> StateFields {
        self.state.lock().unwrap().clone()
    }

    /// The body of `POST /api/rooms` for this room.
    pub fn creation_body(&self, auth: CreateAuthorization) -> Vec<u8> {
        let req = CreateRoomRequest {
            room: self.id.clone(),
            owner: self.owner.public_key(),
            auth,
            state: self.first_state(),
        };
        serde_json::to_vec(&req).expect("JSON")
    }

    /// Registers the room on a server (a signed request by the owner key).
    pub async fn register(&self, http_base: &str, auth: CreateAuthorization) -> ApiResult {
        let body = self.creation_body(auth);
        let auth = sign_request(&self.owner, "POST", "/api/rooms", &body, now_ms());
        send_signed(http_base, "POST", "/api/rooms", &body, &auth).await
    }
}

/// Creates a fresh room (new owner key) authorised by `auth`: the answer or the typed error.
pub async fn create_fresh(http_base: &str, auth: CreateAuthorization) -> Result<CreateRoomResponse, HttpError> {
    match TestRoom::fresh().register(http_base, auth).await {
        Ok(created) => Ok(serde_json::from_value(created).expect("a creation answer")),
        Err((_, e)) => Err(e),
    }
}

/// `n` creations of fresh rooms at once, all authorised by the same `auth` (a token spent
/// at most once): the rooms made and the codes of the refusals.
pub async fn race_creations(
    http_base: &str,
    auth: &CreateAuthorization,
    n: usize,
) -> (Vec<CreateRoomResponse>, Vec<protocol::error::ErrorCode>) {
    let attempts: Vec<_> = (0..n)
        .map(|_| {
            let (http, auth) = (http_base.to_owned(), auth.clone());
            tokio::spawn(async move { create_fresh(&http, auth).await })
        })
        .collect();
    let (mut won, mut refused) = (Vec::new(), Vec::new());
    for attempt in attempts {
        match attempt.await.expect("a creation task") {
            Ok(created) => won.push(created),
            Err(e) => refused.push(e.error.code),
        }
    }
    (won, refused)
}

/// The limits a server advertises in `GET /api/info`.
pub async fn server_limits(http_base: &str) -> Limits {
    let info: protocol::api::InfoResponse =
        reqwest::get(format!("{http_base}/api/info")).await.expect("info").json().await.expect("info JSON");
    info.limits
}

/// Creates a room on the server at `http_base` with the admin secret, with the capacity
/// the server offers new rooms.
pub async fn create_room(http_base: &str, admin_secret: &str) -> TestRoom {
    let room = TestRoom::with_capacity(server_limits(http_base).await.default_room_capacity);
    let created = room.register(http_base, CreateAuthorization::AdminSecret { secret: admin_secret.into() }).await;
    let created = created.unwrap_or_else(|e| panic!("room creation failed: {e:?}"));
    let _: CreateRoomResponse = serde_json::from_value(created).expect("creation answer");
    room
}

/// Reads one history page over HTTP (`Err` holds the typed error).
pub async fn history(
    http_base: &str,
    room: &RoomId,
    before: Option<&str>,
    limit: Option<usize>,
) -> Result<HistoryPage, HttpError> {
    let mut url = format!("{http_base}/api/rooms/{room}/history?");
    if let Some(b) = before {
        url.push_str(&format!("before={b}&"));
    }
    if let Some(l) = limit {
        url.push_str(&format!("limit={l}"));
    }
    let resp = reqwest::get(url).await.expect("history request");
    if resp.status().is_success() {
        Ok(resp.json().await.expect("history page"))
    } else {
        Err(resp.json().await.expect("typed error"))
    }
}

/// Reads the whole history, oldest first, by paging backwards.
/// `POST /api/last-message-times` for `rooms`: each room's newest message key.
pub async fn last_message_times(http_base: &str, rooms: &[RoomId]) -> protocol::api::LastMessageTimesResponse {
    reqwest::Client::new()
        .post(format!("{http_base}/api/last-message-times"))
        .json(&serde_json::json!({ "rooms": rooms }))
        .send()
        .await
        .expect("last-message-times request")
        .json()
        .await
        .expect("last-message-times answer")
}

/// The texts of every message of a room, read over HTTP and opened (decrypted and
/// verified) natively, in order: proof of what a browser sealed. Membership lines are
/// left out; any other kind of message fails the test.
pub async fn opened_texts(http_base: &str, room: &RoomId, key: &ContentKey) -> Vec<String> {
    full_history(http_base, room, 100)
        .await
        .iter()
        .filter_map(|m| match envelope::open(&m.env, key).expect("the stored message opens natively").content {
            Content::Text { text, .. } => Some(text),
            line if line.is_membership() => None,
            other => panic!("unexpected content {other:?}"),
        })
        .collect()
}

pub async fn full_history(http_base: &str, room: &RoomId, page: usize) -> Vec<StoredMessage> {
    let mut all: Vec<StoredMessage> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let p = history(http_base, room, before.as_deref(), Some(page)).await.expect("history page");
        before = p.messages.first().map(|m| m.key.to_string());
        let more = p.more;
        let mut older = p.messages;
        older.extend(all);
        all = older;
        if !more {
            return all;
        }
    }
}

/// Opens a raw WebSocket to a room (no join).
pub async fn open_socket(ws_base: &str, room: &str) -> Ws {
    try_open_socket(ws_base, room).await.expect("websocket connects")
}

/// Opens a raw WebSocket to a room, or says why it could not.
pub async fn try_open_socket(ws_base: &str, room: &str) -> Result<Ws, String> {
    tokio_tungstenite::connect_async(format!("{ws_base}/ws/{room}")).await.map(|(ws, _)| ws).map_err(|e| e.to_string())
}

/// The next frame from the server, or `None` on close/timeout (pings do not extend it).
pub async fn next_frame(ws: &mut Ws, timeout: Duration) -> Option<ServerFrame> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).expect("server frames parse")),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// Reads frames until the server closes; returns the error frames seen and the close code.
pub async fn read_until_close(ws: &mut Ws, timeout: Duration) -> (Vec<ServerFrame>, Option<u16>) {
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => frames.push(serde_json::from_str(&t).expect("server frames parse")),
            Ok(Some(Ok(Message::Close(frame)))) => return (frames, frame.map(|f: CloseFrame| u16::from(f.code))),
            Ok(Some(Ok(_))) => continue,
            other => {
                eprintln!("read_until_close ended without a close frame: {other:?}");
                return (frames, None);
            }
        }
    }
}

/// A joined member of a room.
pub struct Member {
    pub ws: Ws,
    pub identity: IdentityKey,
    pub room: RoomId,
    pub state: RoomState,
    pub limits: Limits,
    pub access: Access,
    /// Room keys wrapped to this member.
    pub keys: Vec<WrappedKey>,
    pub backlog: Vec<StoredMessage>,
}

/// Why a join did not succeed: the frames and close code the server answered with.
#[derive(Debug)]
pub struct JoinRefused {
    pub frames: Vec<ServerFrame>,
    pub close: Option<u16>,
}

impl Member {
    /// Connects, answers the challenge with `identity` (proving it holds the room's invite
    /// link, when this process created the room) and reads welcome and backlog.
    pub async fn join(ws_base: &str, room: &RoomId, identity: IdentityKey) -> Result<Member, JoinRefused> {
        let invite = invite_of(room).map(|key| InviteProof::make(room, &key, &identity.public_key()));
        Self::join_with(ws_base, room, identity, invite).await
    }

    /// Like [`Member::join`], with the given invite proof (or none).
    pub async fn join_with(
        ws_base: &str,
        room: &RoomId,
        identity: IdentityKey,
        invite: Option<InviteProof>,
    ) -> Result<Member, JoinRefused> {
        let mut ws = try_open_socket(ws_base, room.as_str())
            .await
            .map_err(|_| JoinRefused { frames: Vec::new(), close: None })?;
        let t = Duration::from_secs(10);
        // The join answer is the client core's (as in the browser).
        let mut core: room_client::RoomClient<()> =
            room_client::RoomClient::new(room.clone(), identity.clone(), invite, vec![]);
        core.opened();
        match next_frame(&mut ws, t).await {
            Some(challenge @ ServerFrame::Challenge { .. }) => {
                if core.handle_frame(&serde_json::to_string(&challenge).unwrap(), now_ms()).is_some() {
                    return Err(JoinRefused { frames: vec![challenge], close: None });
                }
            }
            other => {
                let (mut frames, close) = read_until_close(&mut ws, t).await;
                frames.extend(other);
                return Err(JoinRefused { frames, close });
            }
        }
        let hello = core.poll_transmit().expect("the core answers a challenge");
        if ws.send(Message::Text(hello.into())).await.is_err() {
            return Err(JoinRefused { frames: Vec::new(), close: None });
        }
        let (state, limits, access, keys) = match next_frame(&mut ws, t).await {
            Some(ServerFrame::Welcome { state, limits, access, keys, .. }) => (state, limits, access, keys),
            other => {
                let (mut frames, close) = read_until_close(&mut ws, t).await;
                frames.insert(0, other.expect("a frame or close"));
                return Err(JoinRefused { frames, close });
            }
        };
        // A key waiting for acceptance in a locked room gets no backlog.
        let backlog = if access == Access::Pending {
            Vec::new()
        } else {
            match next_frame(&mut ws, t).await {
                Some(ServerFrame::Backlog { messages, .. }) => messages,
                other => return Err(JoinRefused { frames: other.into_iter().collect(), close: None }),
            }
        };
        Ok(Member { ws, identity, room: room.clone(), state, limits, access, keys, backlog })
    }

    pub async fn send_frame(&mut self, frame: &ClientFrame) {
        self.send_raw(serde_json::to_string(frame).unwrap()).await;
    }

    pub async fn send_raw(&mut self, text: String) {
        self.try_send_raw(text).await.expect("send frame");
    }

    /// Sends a text frame; `Err` when the connection is gone.
    pub async fn try_send_raw(&mut self, text: String) -> Result<(), String> {
        self.ws.send(Message::Text(text.into())).await.map_err(|e| e.to_string())
    }

    pub async fn send_envelope(&mut self, env: Envelope) {
        self.send_frame(&ClientFrame::Send { env }).await;
    }

    /// Seals and sends a text message.
    pub async fn say(&mut self, key: &ContentKey, cid: &str, text: &str) -> Envelope {
        let env = seal_text(&self.room, &self.identity, key, cid, "native", text);
        self.send_envelope(env.clone()).await;
        env
    }

    /// Seals any body (an action, a reply, presence) as alias "native" (key epoch 0).
    pub fn seal(&self, key: &ContentKey, cid: &str, content: Content) -> Envelope {
        let body = MessageBody { alias: "native".into(), content };
        let cid = ClientMessageId::parse(cid).expect("valid test cid");
        let input = SealInput { room: &self.room, epoch: 0, cid: &cid, to: None, body: &body };
        envelope::seal(&input, key, &self.identity, random_bytes::<12>())
    }

    /// Seals any message body (an action, a reply) and sends it to be stored.
    pub async fn send_content(&mut self, key: &ContentKey, cid: &str, content: Content) -> Envelope {
        let env = self.seal(key, cid, content);
        self.send_envelope(env.clone()).await;
        env
    }

    /// Seals presence and sends it as an ephemeral frame (relayed, never stored).
    pub async fn send_ephemeral(&mut self, key: &ContentKey, cid: &str, content: Content) -> Envelope {
        let env = self.seal(key, cid, content);
        self.send_frame(&ClientFrame::Ephemeral { env: env.clone() }).await;
        env
    }

    /// Sends `count` sealed messages with cids `<prefix>-<i>`, keeping up to `window`
    /// unacknowledged; returns `(cid, key)` of every ack in order of arrival. Frames from
    /// other members are skipped; an error frame panics.
    pub async fn send_burst(
        &mut self,
        key: &ContentKey,
        prefix: &str,
        count: usize,
        window: usize,
    ) -> Vec<(String, MessageKey)> {
        let mut acked = Vec::with_capacity(count);
        let mut sent = 0;
        while acked.len() < count {
            while sent < count && sent - acked.len() < window {
                self.say(key, &format!("{prefix}-{sent}"), &format!("message {sent} of {prefix}")).await;
                sent += 1;
            }
            match self.next().await {
                Some(ServerFrame::Ack { cid, key }) => acked.push((cid.to_string(), key)),
                Some(ServerFrame::Msg { .. }) => {}
                other => panic!("unexpected frame while sending: {other:?}"),
            }
        }
        acked
    }

    /// The next frame other than `room` and `ephemeral` (room-state updates and other
    /// members' presence may come at any time; use [`Member::next_room`] and
    /// [`Member::next_ephemeral`] to wait for those).
    pub async fn next(&mut self) -> Option<ServerFrame> {
        self.next_within(Duration::from_secs(10)).await
    }

    /// Like [`Member::next`], within `timeout`.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<ServerFrame> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match next_frame(&mut self.ws, left).await? {
                ServerFrame::Room { .. } | ServerFrame::Ephemeral { .. } => continue,
                other => return Some(other),
            }
        }
    }

    /// The next ephemeral envelope another member sent (within 10 s), skipping
    /// everything else.
    pub async fn next_ephemeral(&mut self) -> Option<Envelope> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let ServerFrame::Ephemeral { env } = next_frame(&mut self.ws, left).await? {
                return Some(env);
            }
        }
    }

    /// Waits for a `room` frame satisfying `wanted`, skipping every other frame.
    pub async fn next_room(
        &mut self,
        wanted: impl Fn(&RoomState, Access) -> bool,
    ) -> Option<(RoomState, Access, Vec<WrappedKey>)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let ServerFrame::Room { state, access, keys } = next_frame(&mut self.ws, left).await?
                && wanted(&state, access)
            {
                return Some((state, access, keys));
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

/// Signs a request as `who` at `timestamp_ms` (for tests of stale or replayed requests).
pub fn sign_request(
    who: &IdentityKey,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    timestamp_ms: u64,
) -> protocol::signed_request::RequestAuth {
    use protocol::signed_request::{RequestAuth, RequestTarget};
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    RequestAuth::sign(who, &RequestTarget::new(method, path, query, body), timestamp_ms, random_bytes::<16>())
}

/// The answer to an API call: JSON, or the HTTP status and typed error.
pub type ApiResult = Result<serde_json::Value, (u16, HttpError)>;

/// Sends a request with the given signature headers and body.
pub async fn send_signed(
    http_base: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    auth: &protocol::signed_request::RequestAuth,
) -> ApiResult {
    let mut req =
        reqwest::Client::new().request(method.parse().expect("method"), format!("{http_base}{path_and_query}"));
    for (name, value) in auth.headers() {
        req = req.header(name, value);
    }
    if !body.is_empty() {
        req = req.header("content-type", "application/json").body(body.to_vec());
    }
    let resp = req.send().await.expect("signed request");
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        Ok(resp.json().await.expect("JSON answer"))
    } else {
        Err((status, resp.json().await.expect("typed error")))
    }
}

/// An owner call, signed by `owner` now: method, path and body come from the call.
pub async fn owner(http_base: &str, room: &RoomId, owner: &IdentityKey, call: &protocol::api::OwnerCall) -> ApiResult {
    let (path, bytes) = (call.path(room), call.body());
    let auth = sign_request(owner, call.method(), &path, &bytes, now_ms());
    send_signed(http_base, call.method(), &path, &bytes, &auth).await
}

/// A raw owner call (`/api/rooms/{room}/owner/{name}`) with any method and body, signed
/// by `owner` now: for the tests of malformed or misrouted calls (others use [`owner`]).
pub async fn owner_call(
    http_base: &str,
    room: &RoomId,
    owner: &IdentityKey,
    method: &str,
    name: &str,
    body: Option<serde_json::Value>,
) -> ApiResult {
    let path = format!("/api/rooms/{room}/owner/{name}");
    let bytes = body.map(|b| serde_json::to_vec(&b).expect("JSON")).unwrap_or_default();
    let auth = sign_request(owner, method, &path, &bytes, now_ms());
    send_signed(http_base, method, &path, &bytes, &auth).await
}

/// Asks `room` for a storage token as `member` (a signed member request).
pub async fn member_token(http_base: &str, room: &RoomId, member: &IdentityKey, size: u64) -> ApiResult {
    let path = format!("/api/rooms/{room}/tokens");
    let body = serde_json::to_vec(&serde_json::json!({ "size": size })).expect("JSON");
    let auth = sign_request(member, "POST", &path, &body, now_ms());
    send_signed(http_base, "POST", &path, &body, &auth).await
}

/// Encrypts `plain` and stores it through the document API (v2: the read check opens the
/// upload, a fresh put secret binds its chunk PUTs), paid by a token `member` asks `room`
/// for; with `complete = false` only the first chunk is sent (an abandoned upload).
/// Returns the file's keys and, when complete, the read proof that reads it.
pub async fn upload_file(
    http_base: &str,
    room: &RoomId,
    member: &IdentityKey,
    plain: &[u8],
    complete: bool,
) -> (protocol::objects::ObjectKeys, Option<protocol::object_proofs::ReadProof>) {
    use protocol::object_proofs::{PUT_HEADER, PutSecret};
    use protocol::objects;
    let (keys, padded, chunks) = objects::encrypt_file(plain).expect("a small file");
    let read = objects::read_proof_of(plain).expect("a small file");
    let put = PutSecret::from_bytes(random_bytes::<32>());
    let client = reqwest::Client::new();
    let cost = objects::stored_size(padded);
    let token = member_token(http_base, room, member, cost).await.expect("a storage token");
    let body = serde_json::json!({
        "file": keys.file_id, "size": padded, "token": token["token"],
        "read_check": protocol::encoding::b64(&read.check()), "put_check": protocol::encoding::b64(&put.check()),
    });
    let resp = client.post(format!("{http_base}/api/uploads")).json(&body).send().await.expect("open upload");
    assert!(resp.status().is_success(), "open upload: {}", resp.text().await.unwrap_or_default());
    let mut status = objects::UploadStatus::Open;
    let send = if complete { chunks.len() } else { 1 };
    for (i, c) in chunks.iter().enumerate().take(send) {
        let url = format!("{http_base}/api/uploads/{}/chunks/{i}/{}", keys.file_id, objects::chunk_id(c));
        let resp = client.put(url).header(PUT_HEADER, put.to_b64()).body(c.clone()).send().await.expect("chunk");
        assert!(resp.status().is_success(), "chunk {i}: {}", resp.status());
        let state: objects::UploadState = resp.json().await.expect("state");
        status = state.status;
    }
    (keys, (status == objects::UploadStatus::Complete).then_some(read))
}

/// POSTs `body` as JSON (with `headers`) and reads the answer.
async fn post_json_with(http: &str, path: &str, headers: &[(&str, &str)], body: &impl serde::Serialize) -> ApiResult {
    let mut request = reqwest::Client::new().post(format!("{http}{path}")).json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let resp = request.send().await.expect("restore request");
    let status = resp.status().as_u16();
    if resp.status().is_success() {
        Ok(resp.json().await.expect("a JSON answer"))
    } else {
        Err((status, resp.json().await.expect("a typed refusal")))
    }
}

/// Restores `backup` in one request (`POST …/restore`): how mock-server takes a backup of
/// up to 256 MiB.
pub async fn restore_whole(
    http: &str,
    backup: &protocol::backup::SignedBackup,
    auth: CreateAuthorization,
) -> ApiResult {
    let body = protocol::api::RestoreRequest { auth, backup: backup.clone() };
    post_json_with(http, &format!("/api/rooms/{}/restore", backup.backup.room), &[], &body).await
}

/// Restores `backup` in pages of at most `per_page` messages (`…/restore/begin`, `…/pages`,
/// `…/finish`): how the edge takes a backup, since a request there is limited to 100 MB.
pub async fn restore_paged(
    http: &str,
    backup: &protocol::backup::SignedBackup,
    auth: CreateAuthorization,
    per_page: usize,
) -> ApiResult {
    use protocol::api::{RestoreBegin, RestoreFinish, RestorePage, RestoreStarted, STAGE_HEADER};
    let base = format!("/api/rooms/{}/restore", backup.backup.room);
    let begin = RestoreBegin {
        auth: auth.clone(),
        head: backup.backup.head(),
        sig: backup.sig,
        messages: backup.backup.messages.len() as u64,
    };
    let started: RestoreStarted =
        serde_json::from_value(post_json_with(http, &format!("{base}/begin"), &[], &begin).await?).expect("a stage");
    let stage = [(STAGE_HEADER, started.stage.as_str())];
    // Pages within both limits the server named (a little room for the JSON around them).
    let per_page = per_page.min(started.max_page_messages as usize).max(1);
    let max_bytes = started.max_page_bytes as usize - 1024;
    let mut from = 0;
    while from < backup.backup.messages.len() {
        let (mut end, mut bytes) = (from, 0);
        while end < backup.backup.messages.len() && end - from < per_page {
            let size = serde_json::to_vec(&backup.backup.messages[end]).expect("serialise").len() + 1;
            if end > from && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            end += 1;
        }
        let page = RestorePage { from: from as u64, messages: backup.backup.messages[from..end].to_vec() };
        post_json_with(http, &format!("{base}/pages"), &stage, &page).await?;
        from = end;
    }
    post_json_with(http, &format!("{base}/finish"), &stage, &RestoreFinish { auth }).await
}

/// Restores `backup` the way the backend of [`crate::backend::Backend::from_env`] takes
/// it: whole on mock-server, in pages of 1,000 messages on the edge.
pub async fn restore_backup(
    http: &str,
    backup: &protocol::backup::SignedBackup,
    auth: CreateAuthorization,
) -> ApiResult {
    match crate::backend::Backend::from_env() {
        crate::backend::Backend::Mock => restore_whole(http, backup, auth).await,
        crate::backend::Backend::Edge => {
            restore_paged(http, backup, auth, protocol::api::MAX_RESTORE_PAGE_MESSAGES).await
        }
    }
}
