//! The addressable worker: one SQLite-backed Durable Object per room (named by the room
//! id), hosting `room-core`'s [`Room`] exactly as mock-server's room actor does. Every
//! socket and HTTP call of the room reaches this one object, so the room's order is total.
//!
//! - KV_local is the object's own SQLite ([`DoSqlKv`]); a batch commits in one
//!   transaction before any frame of it is sent ("ack after commit"). Durability: the
//!   runtime's output gate holds every frame and response sent after a write until that
//!   write is durable, and drops them if it fails, so no client sees an ack for a write
//!   that could be lost.
//! - WebSockets are hibernatable (`accept_web_socket`): an idle room is evicted from
//!   memory while its sockets stay open. Each socket's attachment keeps the room id, the
//!   connection id and the room's snapshot of that connection; a woken object loads the
//!   room from KV_local and resumes every socket from its attachment before handling the
//!   event that woke it.
//! - The room's next deadline (a join timeout) is the object's alarm.
//!
//! `RefCell` borrows never live across an `await` (events of one object may interleave
//! at awaits).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use api_core::ledger::{LedgerEntry, Spend};
use protocol::api::{
    CreateAuthorization, CreateRoomRequest, CreateRoomResponse, MAX_RESTORE_PAGE_BYTES, OwnerCall, RestoreBegin,
    RestoreFinish, RestorePage, RestoreProgress, RestoreStarted, STAGE_HEADER,
};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::{PublicKey, Signature};
use protocol::ids::RoomId;
use protocol::signed_request::{RequestAuth, RequestTarget};
use protocol::storage_token::{self, ROOM_PURPOSE_PREFIX, TokenScope};
use room_core::connection::ConnSnapshot;
use room_core::effects::TokenIssued;
use room_core::effects::{QueueFull, Refusal, Reply, ReplyId};
use room_core::funding::{Funded, Payment, Step, Used};
use room_core::inbound::{Inbound, PortableVerifier, Prepared};
use room_core::paged_restore;
use room_core::verified::{self, VerifiedHello, VerifiedRequest};
use room_core::{ConnId, KvStore, Reader, Room, RoomConfig, Sockets};
use serde::{Deserialize, Serialize};
use worker::{
    DurableObject, Env, Request, Response, Result, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
    durable_object,
};

use crate::answer::{MAX_API_BODY, MAX_OWNER_BODY, json, read_body, refusal, refuse};
use crate::in_order::InOrder;
use crate::latest_index::{self, LatestIndex};
use crate::ledger_object::{self, LedgerOp, ledger_key, seal_link, sso_shard, token_shard};
use crate::runtime::{now, random_bytes, setting};
use crate::sql_kv::DoSqlKv;

/// Delay before answering a wrong admin secret (slows down guessing).
pub const AUTH_FAILURE_DELAY_MS: u64 = 50;

/// What each socket keeps across hibernation.
#[derive(Serialize, Deserialize)]
struct Attachment {
    room: String,
    conn: u32,
    /// The room's [`ConnSnapshot`] of this connection (JSON text).
    snapshot: String,
}

/// The room's sockets, by connection id.
struct DoSockets<'a>(&'a BTreeMap<ConnId, WebSocket>);

impl Sockets for DoSockets<'_> {
    /// The runtime buffers what a socket has not written yet and does not say how much,
    /// so a slow reader is never detected here (mock-server closes it with 4429).
    fn send(&mut self, conn: ConnId, text: Arc<str>) -> std::result::Result<(), QueueFull> {
        if let Some(ws) = self.0.get(&conn) {
            let _ = ws.send_with_str(&*text);
        }
        Ok(())
    }

    fn close(&mut self, conn: ConnId, code: u16, reason: &str) {
        if let Some(ws) = self.0.get(&conn) {
            let _ = ws.close(Some(code), Some(reason));
        }
    }

    fn drop_now(&mut self, conn: ConnId, code: u16, reason: &str) {
        self.close(conn, code, reason);
    }
}

/// The room's state while the object is in memory.
#[derive(Default)]
struct Host {
    kv: Option<DoSqlKv>,
    /// Whether the room was loaded (or found absent) since the object woke.
    loaded: bool,
    room: Option<Room>,
    sockets: BTreeMap<ConnId, WebSocket>,
    next_conn: ConnId,
    /// Answers to HTTP calls, taken by the call that waits for them.
    replies: BTreeMap<ReplyId, Reply>,
    next_reply: ReplyId,
    /// The alarm as last set (µs), so it is only changed when the deadline moves.
    alarm: Option<u64>,
    /// Answers carrying a new storage token, held until the ledger has recorded it.
    held: BTreeMap<ReplyId, Reply>,
    /// The room's newest message key in KV_global (Workers KV), written at a bounded rate.
    latest: LatestIndex,
}

/// What [`RoomObject::finish`] leaves to its caller: the alarm to set (if it changed) and
/// the tokens to record in the ledger before their answers (held in [`Host::held`]) go.
#[derive(Default)]
struct Finished {
    alarm: Option<Option<u64>>,
    tokens: Vec<TokenIssued>,
}

/// What pays for a new room, its authorisation checked.
enum Paying {
    /// The admin secret: the deployment's initial budget.
    Granted(u64),
    /// A storage token, by hash.
    Token { hash: String },
    /// An SSO token: spent under its id in its key's ledger shard, within the key's cap.
    Sso { spent_id: String, key_id: String, bytes: u64, cap: u64 },
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> std::result::Result<T, ErrorBody> {
    serde_json::from_slice(body)
        .map_err(|e| ErrorBody::new(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")))
}

fn to_json<T: Serialize>(value: &T) -> std::result::Result<serde_json::Value, ErrorBody> {
    serde_json::to_value(value).map_err(|e| internal("cannot answer", e))
}

fn verify_signature(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
    key.verify(message, sig).is_ok()
}

fn unknown_room() -> ErrorBody {
    ErrorBody::new(ErrorCode::UnknownRoom, "no room with this id exists on this server")
}

fn internal(what: &str, e: impl std::fmt::Display) -> ErrorBody {
    worker::console_error!("{what}: {e}");
    ErrorBody::new(ErrorCode::Internal, format!("{what}; nothing was changed"))
}

/// The limits this deployment enforces: the defaults, with `RATE_PER_SECOND`,
/// `RATE_BURST` (messages per connection), `DEFAULT_CAPACITY` (member keys of a new room)
/// and `JOIN_TIMEOUT_SECS` when set, as mock-server's flags of those names.
pub fn limits(env: &Env) -> protocol::limits::Limits {
    let number = |name: &str| setting(env, name).and_then(|v| v.trim().parse::<u32>().ok()).filter(|n| *n > 0);
    let defaults = protocol::limits::Limits::default();
    protocol::limits::Limits {
        rate_per_second: number("RATE_PER_SECOND").unwrap_or(defaults.rate_per_second),
        rate_burst: number("RATE_BURST").unwrap_or(defaults.rate_burst),
        default_room_capacity: number("DEFAULT_CAPACITY").unwrap_or(defaults.default_room_capacity),
        join_timeout_secs: number("JOIN_TIMEOUT_SECS").unwrap_or(defaults.join_timeout_secs),
        ..defaults
    }
}

#[durable_object]
pub struct RoomObject {
    state: State,
    env: Env,
    host: RefCell<Host>,
    config: RoomConfig,
    /// Socket frames reach the room in arrival order across their signature checks.
    in_order: InOrder,
}

impl RoomObject {
    /// Loads the room (once per wake) and resumes every hibernated socket from its
    /// attachment; sockets whose state cannot be resumed are closed (clients rejoin).
    fn ensure_loaded(&self, host: &mut Host, id: &RoomId) {
        if host.loaded {
            return;
        }
        host.loaded = true;
        if host.kv.is_none() {
            match DoSqlKv::open(self.state.storage()) {
                Ok(kv) => host.kv = Some(kv),
                Err(e) => return worker::console_error!("cannot open KV_local: {e}"),
            }
        }
        let Some(kv) = &host.kv else { return };
        host.room = match Room::load(id.clone(), kv, self.config.clone()) {
            Ok(room) => room,
            Err(e) => {
                worker::console_error!("cannot load room {id}: {e}");
                None
            }
        };
        for ws in self.state.get_websockets() {
            let Ok(Some(attachment)) = ws.deserialize_attachment::<Attachment>() else {
                let _ = ws.close(Some(1011), Some("lost_state"));
                continue;
            };
            let conn = ConnId::from(attachment.conn);
            host.next_conn = host.next_conn.max(conn + 1);
            let resumed = match &mut host.room {
                Some(room) => room.resume_connection(conn, &ConnSnapshot(attachment.snapshot.into_bytes())).is_ok(),
                None => false,
            };
            if resumed {
                host.sockets.insert(conn, ws);
            } else {
                let _ = ws.close(Some(1012), Some(ErrorCode::Unavailable.as_str()));
            }
        }
    }

    /// Commits what the events since the last call staged, delivers their frames, keeps
    /// HTTP answers for their callers and every changed connection state with its socket.
    /// Answers carrying new tokens are held until [`RoomObject::release`] recorded them.
    fn finish(&self, host: &mut Host) -> Finished {
        let mut finished = Finished::default();
        let (Some(room), Some(kv)) = (host.room.as_mut(), host.kv.as_mut()) else { return finished };
        match room.finish_batch(kv, &mut DoSockets(&host.sockets)) {
            Ok(mut committed) => {
                let holding: std::collections::BTreeSet<ReplyId> = committed.tokens.iter().map(|t| t.reply).collect();
                for (id, answer) in committed.answers(&Default::default()) {
                    if holding.contains(&id) {
                        host.held.insert(id, answer);
                    } else {
                        host.replies.insert(id, answer);
                    }
                }
                finished.tokens = std::mem::take(&mut committed.tokens);
                for (conn, snapshot) in room.take_changed_snapshots() {
                    if let Some(ws) = host.sockets.get(&conn) {
                        let attachment = Attachment {
                            room: room.id().to_string(),
                            conn: u32::try_from(conn).unwrap_or(u32::MAX),
                            snapshot: String::from_utf8_lossy(&snapshot.0).into_owned(),
                        };
                        if let Err(e) = ws.serialize_attachment(attachment) {
                            worker::console_error!("cannot keep a connection's state with its socket: {e}");
                        }
                    }
                }
                for conn in committed.dropped {
                    host.sockets.remove(&conn);
                }
            }
            Err(e) => {
                worker::console_error!("commit failed, reloading the room: {e}");
                host.sockets.clear();
                host.room = None;
                host.loaded = false;
            }
        }
        let mut deadline = host.room.as_ref().and_then(Room::next_deadline).map(|d| d.0);
        if let Some(room) = &host.room {
            let latest = room.latest_key().map(|k| k.to_string());
            let now = now().0;
            // A write due now happens in `release`; a later one needs the alarm.
            let due = host.latest.note(&self.state.storage().sql(), latest.as_deref(), now);
            if let Some(due) = due.filter(|d| *d > now) {
                deadline = Some(deadline.map_or(due, |d| d.min(due)));
            }
        }
        finished.alarm = (deadline != host.alarm).then(|| {
            host.alarm = deadline;
            deadline
        });
        finished
    }

    /// Records the tokens of a finished batch in the ledger, then lets their held answers
    /// go (a token the ledger could not record is refused: it could never be spent), and
    /// sets the alarm.
    async fn release(&self, finished: Finished) -> Result<()> {
        let mut unrecorded = std::collections::BTreeSet::new();
        if !finished.tokens.is_empty() {
            let room = self.host.borrow().room.as_ref().map(|r| r.id().to_string()).unwrap_or_default();
            for token in &finished.tokens {
                let recorded = match ledger_key(&self.env) {
                    Ok(key) => {
                        let entry = LedgerEntry {
                            size: token.size,
                            issued_at: now().0,
                            issued_by: seal_link(&key, &format!("{ROOM_PURPOSE_PREFIX}{room}")),
                            spent: None,
                            scope: token.scope,
                        };
                        let op = LedgerOp::Record { hash: token.hash.clone(), entry };
                        ledger_object::call::<serde_json::Value>(&self.env, &token_shard(&token.hash), &op)
                            .await
                            .map(|_| ())
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = recorded {
                    worker::console_error!("a token was not recorded: {e}");
                    unrecorded.insert(token.reply);
                }
            }
        }
        {
            let mut host = self.host.borrow_mut();
            let held = std::mem::take(&mut host.held);
            let mut released =
                room_core::effects::Committed { replies: held.into_iter().collect(), ..Default::default() };
            for (id, answer) in released.answers(&unrecorded) {
                host.replies.insert(id, answer);
            }
        }
        self.set_alarm(finished.alarm).await?;
        self.write_latest().await
    }

    /// Writes the room's newest message key to KV_global if a write is due; a failed
    /// write is tried again a second later (by the alarm).
    async fn write_latest(&self) -> Result<()> {
        let due = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            let Some(room) = &host.room else { return Ok(()) };
            let latest = room.latest_key().map(|k| k.to_string());
            let sql = self.state.storage().sql();
            host.latest.take_due(&sql, latest.as_deref(), now().0).map(|key| (room.id().to_string(), key))
        };
        let Some((room, key)) = due else { return Ok(()) };
        let written = latest_index::write(&self.env, &room, &key).await;
        // The next write (the room moved on while this one was on its way, or this one
        // failed) comes with the alarm, unless an earlier alarm is set.
        let alarm = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            let sql = self.state.storage().sql();
            let now = now().0;
            let next = match written {
                Ok(()) => {
                    let latest = host.room.as_ref().and_then(Room::latest_key).map(|k| k.to_string());
                    host.latest.wrote(&sql, &room, key, latest.as_deref(), now)
                }
                Err(e) => {
                    worker::console_error!("cannot write the newest message key to KV: {e}");
                    Some(host.latest.failed(&sql, now))
                }
            };
            let earlier = next.filter(|next| host.alarm.is_none_or(|a| *next < a));
            earlier.map(|next| {
                host.alarm = Some(next);
                Some(next)
            })
        };
        self.set_alarm(alarm).await
    }

    async fn set_alarm(&self, alarm: Option<Option<u64>>) -> Result<()> {
        match alarm {
            None => Ok(()),
            Some(None) => self.state.storage().delete_alarm().await,
            Some(Some(at)) => {
                let wait = at.saturating_sub(now().0);
                self.state.storage().set_alarm(std::time::Duration::from_micros(wait)).await
            }
        }
    }

    /// `GET /ws/{room}` (Origin already checked by the Worker).
    async fn open_socket(&self, id: RoomId) -> Result<Response> {
        let pair = WebSocketPair::new()?;
        let finished = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            self.ensure_loaded(host, &id);
            let conn = host.next_conn;
            host.next_conn += 1;
            match &mut host.room {
                Some(room) => {
                    self.state.accept_web_socket(&pair.server);
                    host.sockets.insert(conn, pair.server.clone());
                    room.connect(conn, random_bytes::<32>(), now());
                    self.finish(host)
                }
                None => {
                    // Not kept: a refused socket never needs to wake the room.
                    pair.server.accept()?;
                    let refusal = Refusal::closing(unknown_room(), 4400);
                    let _ = pair.server.send_with_str(&*refusal.frame);
                    let (code, reason) = refusal.close.unwrap_or((4400, "unknown_room"));
                    let _ = pair.server.close(Some(code), Some(reason));
                    Finished::default()
                }
            }
        };
        self.release(finished).await?;
        Response::from_websocket(pair.client)
    }

    /// Runs `f` on the loaded room (`unknown_room` without one) and commits.
    async fn with_room(
        &self,
        id: &RoomId,
        f: impl FnOnce(&mut Room, &DoSqlKv, ReplyId) -> Option<std::result::Result<serde_json::Value, ErrorBody>>,
    ) -> Result<Response> {
        let (direct, reply, finished) = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            self.ensure_loaded(host, id);
            let reply = host.next_reply;
            host.next_reply += 1;
            let (Some(room), Some(kv)) = (host.room.as_mut(), host.kv.as_ref()) else {
                return refusal(unknown_room());
            };
            let direct = f(room, kv, reply);
            (direct, reply, self.finish(host))
        };
        self.release(finished).await?;
        let answer = direct.or_else(|| self.host.borrow_mut().replies.remove(&reply));
        match answer {
            Some(Ok(value)) => json(&value),
            Some(Err(e)) => refusal(e),
            None => refusal(internal("the room did not answer", "no reply")),
        }
    }

    async fn create(&self, mut req: Request) -> Result<Response> {
        let body = match read_body(&mut req, MAX_API_BODY).await? {
            Ok(body) => body,
            Err(e) => return refusal(e),
        };
        let create: CreateRoomRequest = match serde_json::from_slice(&body) {
            Ok(c) => c,
            Err(e) => return refuse(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")),
        };
        if !create.room.is_owned_by(&create.owner) {
            return refuse(ErrorCode::RoomIdMismatch, "the room id is not derived from this owner key");
        }
        if let Err(e) = verify_owner_request(&create.room, &req, &body) {
            return refusal(e);
        }
        let paying = match self.authorise(&create.auth).await {
            Ok(paying) => paying,
            Err(e) => return refusal(e),
        };
        let make = |host: &mut Host, budget: u64| self.install(host, &create, budget);
        match self.pay_and_create(&create.room, paying, make).await {
            Ok(created) => json(&created),
            Err(e) => refusal(e),
        }
    }

    /// Checks a creation's authorisation: the admin secret (constant time, a failure
    /// answered after a delay), a storage token's form, an SSO token against the key set
    /// (a forged or unknown one after the same delay). Tokens are spent later, only if
    /// the room can be made.
    async fn authorise(&self, auth: &CreateAuthorization) -> std::result::Result<Paying, ErrorBody> {
        let delay = || worker::Delay::from(std::time::Duration::from_millis(AUTH_FAILURE_DELAY_MS));
        match auth {
            CreateAuthorization::AdminSecret { secret } => {
                let expected = setting(&self.env, "ADMIN_SECRET").unwrap_or_default();
                if expected.is_empty() || !api_core::secret::secrets_match(secret, &expected) {
                    delay().await;
                    return Err(ErrorBody::new(ErrorCode::Unauthorized, "the admin secret is wrong"));
                }
                Ok(Paying::Granted(
                    setting(&self.env, "INITIAL_BUDGET").and_then(|b| b.parse::<u64>().ok()).unwrap_or(4 << 30),
                ))
            }
            CreateAuthorization::StorageToken { token } => {
                let token = storage_token::parse_token(token)?;
                ledger_key(&self.env)?;
                Ok(Paying::Token { hash: storage_token::token_hash(&token) })
            }
            CreateAuthorization::SsoToken { token } => {
                let Some((_, keyset)) = crate::sso::configured(&self.env) else {
                    return Err(ErrorBody::new(ErrorCode::TokenUnknown, "this server accepts no SSO tokens"));
                };
                let key = match token.verify(&keyset, now().0 / 1000) {
                    Ok(key) => key,
                    Err(e) => {
                        if e.code == ErrorCode::TokenUnknown {
                            delay().await;
                        }
                        return Err(e);
                    }
                };
                ledger_key(&self.env)?;
                Ok(Paying::Sso {
                    spent_id: token.spent_id().map_err(ErrorBody::from)?,
                    key_id: key.key_id.clone(),
                    bytes: key.denomination.bytes,
                    cap: key.max_redemptions,
                })
            }
        }
    }

    /// Pays for the new room and makes it, by [`room_core::funding`]'s rule (spend, make,
    /// give the token back if making failed), with the ledger's calls awaited.
    async fn pay_and_create(
        &self,
        room: &RoomId,
        paying: Paying,
        mut make: impl FnMut(&mut Host, u64) -> std::result::Result<CreateRoomResponse, ErrorBody>,
    ) -> std::result::Result<CreateRoomResponse, ErrorBody> {
        let exists = || ErrorBody::new(ErrorCode::RoomExists, "a room with this id already exists");
        {
            let mut host = self.host.borrow_mut();
            self.ensure_loaded(&mut host, room);
            if host.room.is_some() {
                return Err(exists());
            }
        }
        let payment = match &paying {
            Paying::Granted(bytes) => Payment::Granted { bytes: *bytes },
            Paying::Token { hash } => Payment::room(room, hash.clone()),
            Paying::Sso { spent_id, .. } => Payment::room(room, spent_id.clone()),
        };
        let mut funded = Funded::new(payment);
        loop {
            match funded.step() {
                Step::Spend { hash, min_bytes, purpose } => {
                    let (hash, purpose) = (hash.to_owned(), purpose.to_owned());
                    let spent = self.spend(&paying, &hash, min_bytes, &purpose).await;
                    funded.spent(spent);
                }
                Step::Run { budget } => {
                    // Another creation may have won while the ledger was asked.
                    let made = {
                        let mut host = self.host.borrow_mut();
                        let host = &mut *host;
                        if host.room.is_some() { Err(exists()) } else { make(host, budget) }
                    };
                    funded.ran(made.map(|m| (m, Used::Yes)));
                }
                Step::Refund { hash } => {
                    let hash = hash.to_owned();
                    let refunded = match &paying {
                        Paying::Sso { key_id, .. } => {
                            let op = LedgerOp::RefundSso { spent_id: hash, key_id: key_id.clone() };
                            ledger_object::call::<serde_json::Value>(&self.env, &sso_shard(key_id), &op).await
                        }
                        _ => ledger_object::refund_token(&self.env, &hash).await.map(|()| serde_json::Value::Null),
                    };
                    if let Err(e) = &refunded {
                        worker::console_error!("could not give a token back after a failed creation: {e}");
                    }
                    funded.refunded(refunded.map(|_| ()));
                }
                Step::Done => return funded.finish(),
            }
        }
    }

    /// The ledger's spend of a room's payment: a storage token by hash, or an SSO token.
    async fn spend(&self, paying: &Paying, hash: &str, min: u64, purpose: &str) -> std::result::Result<u64, ErrorBody> {
        match paying {
            Paying::Sso { key_id, bytes, cap, .. } => {
                let key = ledger_key(&self.env)?;
                let spend = Spend { at: now().0, paid_for: seal_link(&key, purpose) };
                let entry = LedgerEntry {
                    size: *bytes,
                    issued_at: now().0,
                    issued_by: seal_link(&key, &format!("sso:{key_id}")),
                    spent: Some(spend),
                    scope: TokenScope::Any,
                };
                let op = LedgerOp::SpendSso { spent_id: hash.to_owned(), key_id: key_id.clone(), cap: *cap, entry };
                ledger_object::call(&self.env, &sso_shard(key_id), &op).await
            }
            _ => ledger_object::spend_token(&self.env, hash, min, purpose).await,
        }
    }

    /// Commits a new room's first batch and loads it.
    fn install(
        &self,
        host: &mut Host,
        create: &CreateRoomRequest,
        budget: u64,
    ) -> std::result::Result<CreateRoomResponse, ErrorBody> {
        let batch = Room::creation_batch(&create.room, &create.owner, budget, &create.state, now(), &self.config)?;
        let kv = host.kv.as_mut().ok_or_else(|| internal("cannot create the room", "no storage"))?;
        kv.commit(batch).map_err(|e| internal("cannot store the room", e))?;
        let room = Room::load(create.room.clone(), kv, self.config.clone())
            .map_err(|e| internal("cannot load the new room", e))?
            .ok_or_else(|| internal("the new room vanished", "no meta"))?;
        let created = CreateRoomResponse {
            room: create.room.clone(),
            capacity: room.meta().capacity,
            budget: room.budget().total,
        };
        host.room = Some(room);
        Ok(created)
    }

    /// A paged restore's steps (`room_core::paged_restore`): `begin` (authorised, nothing
    /// spent), `pages`, and `finish` (authorised again, then paid by `funding`'s rule and
    /// installed).
    async fn restore(&self, id: RoomId, step: &str, mut req: Request) -> Result<Response> {
        let limit = match step {
            "begin" => MAX_OWNER_BODY,
            "pages" => MAX_RESTORE_PAGE_BYTES as usize,
            "finish" => MAX_API_BODY,
            _ => return refuse(ErrorCode::NotFound, "no such API endpoint"),
        };
        let secret = req.headers().get(STAGE_HEADER)?;
        let body = match read_body(&mut req, limit).await? {
            Ok(body) => body,
            Err(e) => return refusal(e),
        };
        let answer = match step {
            "begin" => self.restore_begin(&id, &body).await.and_then(|started| to_json(&started)),
            "pages" => self.restore_page(&id, secret.as_deref(), &body).and_then(|progress| to_json(&progress)),
            _ => self.restore_finish(&id, secret.as_deref(), &body).await.and_then(|created| to_json(&created)),
        };
        match answer {
            Ok(value) => json(&value),
            Err(e) => refusal(e),
        }
    }

    async fn restore_begin(&self, id: &RoomId, body: &[u8]) -> std::result::Result<RestoreStarted, ErrorBody> {
        let begin: RestoreBegin = parse(body)?;
        if begin.head.room != *id {
            return Err(ErrorBody::new(ErrorCode::BadBackup, "the backup is for another room id"));
        }
        // Checked before anything is kept; nothing is spent until `finish`.
        self.authorise(&begin.auth).await?;
        let secret = random_bytes::<32>();
        self.with_stage(id, |kv| paged_restore::begin(kv, &begin, &secret, now(), &verify_signature))?;
        Ok(RestoreStarted {
            stage: protocol::encoding::b64(&secret),
            max_page_bytes: MAX_RESTORE_PAGE_BYTES,
            max_page_messages: protocol::api::MAX_RESTORE_PAGE_MESSAGES as u64,
        })
    }

    fn restore_page(
        &self,
        id: &RoomId,
        secret: Option<&str>,
        body: &[u8],
    ) -> std::result::Result<RestoreProgress, ErrorBody> {
        let page: RestorePage = parse(body)?;
        self.with_stage(id, |kv| paged_restore::add_page(kv, id, secret, &page, now(), &verify_signature))
    }

    /// Runs `f` on the KV_local of room `id`, which must not exist yet (a restore stages
    /// there until it finishes).
    fn with_stage<T>(
        &self,
        id: &RoomId,
        f: impl FnOnce(&mut DoSqlKv) -> std::result::Result<T, ErrorBody>,
    ) -> std::result::Result<T, ErrorBody> {
        let mut host = self.host.borrow_mut();
        let host = &mut *host;
        self.ensure_loaded(host, id);
        if host.room.is_some() {
            return Err(ErrorBody::new(ErrorCode::RoomExists, "a room with this id already exists"));
        }
        f(host.kv.as_mut().ok_or_else(|| internal("cannot restore", "no storage"))?)
    }

    async fn restore_finish(
        &self,
        id: &RoomId,
        secret: Option<&str>,
        body: &[u8],
    ) -> std::result::Result<CreateRoomResponse, ErrorBody> {
        let finish: RestoreFinish = parse(body)?;
        let paying = self.authorise(&finish.auth).await?;
        let stage = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            self.ensure_loaded(host, id);
            let kv = host.kv.as_ref().ok_or_else(|| internal("cannot restore", "no storage"))?;
            paged_restore::verified(kv, secret, &verify_signature)?
        };
        let make = |host: &mut Host, budget: u64| {
            let kv = host.kv.as_mut().ok_or_else(|| internal("cannot restore", "no storage"))?;
            paged_restore::install(kv, &stage, budget, now(), &self.config)?;
            let room = Room::load(id.clone(), kv, self.config.clone())
                .map_err(|e| internal("cannot load the restored room", e))?
                .ok_or_else(|| internal("the restored room vanished", "no meta"))?;
            let created =
                CreateRoomResponse { room: id.clone(), capacity: room.meta().capacity, budget: room.budget().total };
            host.room = Some(room);
            Ok(created)
        };
        self.pay_and_create(id, paying, make).await
    }

    async fn history(&self, id: RoomId, req: &Request) -> Result<Response> {
        let url = req.url()?;
        let mut before = None;
        let mut limit = None;
        for (k, v) in url.query_pairs() {
            match &*k {
                "before" => before = Some(v.into_owned()),
                "limit" => match v.parse::<usize>() {
                    Ok(n) => limit = Some(n),
                    Err(_) => {
                        let max = self.config.limits.max_history_page;
                        return refuse(ErrorCode::BadLimit, format!("limit must be a number from 1 to {max}"));
                    }
                },
                _ => {}
            }
        }
        // Locked rooms answer only signed requests by the owner or accepted members.
        let signed = match request_parts(req, b"") {
            Ok(None) => None,
            Ok(Some((auth, target))) => match VerifiedRequest::check(auth, target, &PortableVerifier) {
                Ok(v) => Some(v),
                Err(e) => return refusal(e),
            },
            Err(e) => return refusal(e),
        };
        self.with_room(&id, |room, kv, _| {
            let reader = match &signed {
                Some(s) => Reader::Signed(s),
                None => Reader::Anonymous,
            };
            Some(
                room.history(kv, before.as_deref(), limit, reader, now())
                    .and_then(|page| serde_json::to_value(page).map_err(|e| internal("cannot encode", e))),
            )
        })
        .await
    }

    async fn owner(&self, id: RoomId, name: &str, mut req: Request) -> Result<Response> {
        let body = match read_body(&mut req, MAX_OWNER_BODY).await? {
            Ok(body) => body,
            Err(e) => return refusal(e),
        };
        // The signature is checked before the (up to 4 MiB) body is parsed.
        let signed = match verify_owner_request(&id, &req, &body) {
            Ok(s) => s,
            Err(e) => return refusal(e),
        };
        let call = match OwnerCall::from_request(req.method().as_ref(), name, &body) {
            Ok(c) => c,
            Err(e) => return refusal(e),
        };
        self.with_room(&id, |room, kv, reply| {
            room.owner_call(reply, &signed, call, now(), random_bytes::<32>(), kv);
            None
        })
        .await
    }

    async fn member_token(&self, id: RoomId, mut req: Request) -> Result<Response> {
        #[derive(Deserialize)]
        struct TokenRequest {
            size: u64,
        }
        let body = match read_body(&mut req, MAX_API_BODY).await? {
            Ok(body) => body,
            Err(e) => return refusal(e),
        };
        let size = match serde_json::from_slice::<TokenRequest>(&body) {
            Ok(t) => t.size,
            Err(e) => return refuse(ErrorCode::MalformedRequest, format!("invalid JSON body: {e}")),
        };
        let signed = match request_parts(&req, &body) {
            Ok(Some((auth, target))) => match VerifiedRequest::check(auth, target, &PortableVerifier) {
                Ok(v) => v,
                Err(e) => return refusal(e),
            },
            Ok(None) => return refuse(ErrorCode::Unauthorized, "storage requests must be signed by a member's key"),
            Err(e) => return refusal(e),
        };
        self.with_room(&id, |room, kv, reply| {
            room.member_token(reply, &signed, size, now(), random_bytes::<32>(), kv);
            None
        })
        .await
    }

    /// A socket closed or failed: the room forgets its connection.
    async fn socket_gone(&self, ws: &WebSocket) -> Result<()> {
        let finished = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            let Some(conn) = self.socket_event(host, ws) else { return Ok(()) };
            host.sockets.remove(&conn);
            let Some(room) = host.room.as_mut() else { return Ok(()) };
            room.disconnect(conn);
            self.finish(host)
        };
        self.release(finished).await
    }

    /// The room a socket event belongs to, loaded, and the socket's connection id.
    fn socket_event(&self, host: &mut Host, ws: &WebSocket) -> Option<ConnId> {
        let attachment = ws.deserialize_attachment::<Attachment>().ok().flatten()?;
        let id = RoomId::parse(&attachment.room).ok()?;
        self.ensure_loaded(host, &id);
        Some(ConnId::from(attachment.conn))
    }
}

/// The signed-request headers of a request and what they sign, if it carries any.
fn request_parts(req: &Request, body: &[u8]) -> std::result::Result<Option<(RequestAuth, RequestTarget)>, ErrorBody> {
    let headers = req.headers();
    let Some(auth) = RequestAuth::from_headers(|name| headers.get(name).ok().flatten())? else { return Ok(None) };
    let url = req.url().map_err(|e| ErrorBody::new(ErrorCode::MalformedRequest, e.to_string()))?;
    let target = RequestTarget::new(req.method().as_ref(), url.path(), url.query().unwrap_or(""), body);
    Ok(Some((auth, target)))
}

/// A signature checked with WebCrypto; with `protocol`'s P-256 if WebCrypto itself
/// failed (not if it found the signature invalid).
async fn verify(key: &PublicKey, message: &[u8], sig: &Signature) -> bool {
    match webcrypto::verify(key, message, &sig.0).await {
        Ok(valid) => valid,
        Err(e) => {
            worker::console_warn!("{e}; verifying in wasm instead");
            verify_signature(key, message, sig)
        }
    }
}

/// A join answer's signatures (over this connection's challenge, and the invite proof's)
/// checked with WebCrypto, as [`room_core::verified::verify_hello`] checks them.
async fn verify_hello(room: &RoomId, challenge: &[u8; 32], frame: Inbound) -> Inbound {
    let Inbound::Hello { v, key, sig, invite } = frame else { return frame };
    let [join, proof] = verified::hello_checks(room, challenge, &key, &sig, invite.as_deref());
    let join_valid = match join {
        Some((k, m, s)) => verify(k, &m, s).await,
        None => false,
    };
    let invite_valid = match proof {
        Some((k, m, s)) => verify(k, &m, s).await,
        None => false,
    };
    match VerifiedHello::from_host_check(v, key, invite.map(|i| *i), join_valid, invite_valid) {
        Ok(hello) => Inbound::VerifiedHello(Box::new(hello)),
        Err(e) => Inbound::Refused(e),
    }
}

/// A request signed by the owner key `room` names, fresh; the signature checked last.
fn verify_owner_request(room: &RoomId, req: &Request, body: &[u8]) -> std::result::Result<VerifiedRequest, ErrorBody> {
    let Some((auth, target)) = request_parts(req, body)? else {
        return Err(ErrorBody::new(ErrorCode::Unauthorized, "this call must be signed by the room's owner key"));
    };
    if !room.is_owned_by(&auth.key) {
        return Err(ErrorBody::new(ErrorCode::Forbidden, "only the room's owner may do this"));
    }
    auth.check_freshness(now().0 / 1000)?;
    VerifiedRequest::check(auth, target, &PortableVerifier)
}

impl DurableObject for RoomObject {
    fn new(state: State, env: Env) -> Self {
        let config = RoomConfig { limits: limits(&env), ..RoomConfig::default() };
        Self { state, env, host: RefCell::new(Host::default()), config, in_order: InOrder::default() }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        let path = req.path();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let room = |text: &str| RoomId::parse(text).map_err(|e| ErrorBody::new(ErrorCode::UnknownRoom, e.to_string()));
        let method = req.method();
        match (method.as_ref(), parts.as_slice()) {
            ("POST", ["api", "rooms"]) => self.create(req).await,
            (_, ["ws", id]) => match room(id) {
                Ok(id) => self.open_socket(id).await,
                Err(e) => refusal(e),
            },
            ("GET", ["api", "rooms", id, "history"]) => match room(id) {
                Ok(id) => self.history(id, &req).await,
                Err(e) => refusal(e),
            },
            (_, ["api", "rooms", id, "owner", name]) => match room(id) {
                Ok(id) => {
                    let name = name.to_string();
                    self.owner(id, &name, req).await
                }
                Err(e) => refusal(e),
            },
            ("POST", ["api", "rooms", id, "tokens"]) => match room(id) {
                Ok(id) => self.member_token(id, req).await,
                Err(e) => refusal(e),
            },
            ("POST", ["api", "rooms", id, "restore", step]) => match room(id) {
                Ok(id) => {
                    let step = step.to_string();
                    self.restore(id, &step, req).await
                }
                Err(e) => refusal(e),
            },
            _ => refuse(ErrorCode::NotFound, "no such API endpoint"),
        }
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> Result<()> {
        // The turn is taken before the first await: frames reach the room in the order
        // they arrived, each prepared against the room's state after the previous one.
        let turn = self.in_order.take();
        turn.ready().await;
        let (conn, arrived) = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            let Some(conn) = self.socket_event(host, &ws) else {
                let _ = ws.close(Some(1011), Some("lost_state"));
                return Ok(());
            };
            let Some(room) = host.room.as_ref() else { return Ok(()) };
            let arrived = match message {
                WebSocketIncomingMessage::String(text) => Some(room.prepare_frame(conn, &text)),
                WebSocketIncomingMessage::Binary(_) => None,
            };
            (conn, arrived.map(|a| (a, room.id().clone(), room.challenge(conn))))
        };
        // The expensive checks, signatures, run in WebCrypto (native code in workerd, far
        // faster than P-256 in wasm); the room gets only what they found.
        let inbound = match arrived {
            Some((Prepared::Signature(pending), _, _)) => {
                let valid = verify(pending.key(), &pending.transcript(), pending.signature()).await;
                Some(pending.finish(valid))
            }
            Some((Prepared::Ready(hello @ Inbound::Hello { .. }), room, Some(challenge))) => {
                Some(verify_hello(&room, &challenge, hello).await)
            }
            // A hello out of turn (no challenge) is the room's to refuse.
            Some((Prepared::Ready(inbound), _, _)) => Some(inbound),
            None => None,
        };
        let finished = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            let (Some(room), Some(kv)) = (host.room.as_mut(), host.kv.as_ref()) else { return Ok(()) };
            match inbound {
                Some(inbound) => room.frame(conn, inbound, now(), kv),
                None => room.binary_frame(conn),
            }
            self.finish(host)
        };
        drop(turn);
        self.release(finished).await
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _clean: bool) -> Result<()> {
        self.socket_gone(&ws).await
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.socket_gone(&ws).await
    }

    async fn alarm(&self) -> Result<Response> {
        let finished = {
            let mut host = self.host.borrow_mut();
            let host = &mut *host;
            host.alarm = None;
            if !host.loaded {
                // Woken by the alarm alone: the room id is in any socket's attachment.
                let id = self.state.get_websockets().iter().find_map(|ws| {
                    ws.deserialize_attachment::<Attachment>().ok().flatten().and_then(|a| RoomId::parse(&a.room).ok())
                });
                // No socket left: the room id kept with what was last written to KV.
                let id = id.or_else(|| {
                    latest_index::stored_room(&self.state.storage().sql()).and_then(|r| RoomId::parse(&r).ok())
                });
                if let Some(id) = id {
                    self.ensure_loaded(host, &id);
                }
            }
            match host.room.as_mut() {
                Some(room) => {
                    room.handle_timeout(now());
                    self.finish(host)
                }
                None => Finished::default(),
            }
        };
        self.release(finished).await?;
        Response::ok("")
    }
}
