//! The addressable worker: one thread per live room, owning that room's [`Room`] state
//! and its KV_local database. Every socket and HTTP call of the room reaches it through
//! one channel, so the room sees a single, totally ordered stream of events.
//!
//! The loop takes whatever commands are waiting (up to [`MAX_BATCH`]), applies them to the
//! room, and calls [`Room::finish_batch`]: one SQLite transaction for the whole batch,
//! then acks and broadcasts. Under load this is a group commit; when idle a batch is one
//! command. Between batches it sleeps until the next command or the room's
//! [`Room::next_deadline`] (a join timeout), or, with no sockets left, until the room has
//! been idle long enough to unload: there is no periodic tick.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use protocol::api::{CreateRoomResponse, HistoryPage, OwnerCall};
use protocol::backup::RoomBackup;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::PublicKey;
use protocol::ids::RoomId;
use room_core::effects::{QueueFull, Refusal, Reply, ReplyId};
use room_core::funding::{self, Payment, Used};
use room_core::inbound::Inbound;
use room_core::storage::KvStore;
use room_core::verified::VerifiedRequest;
use room_core::{ConnId, Reader, Room, RoomConfig, Sockets};
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::{self, now_micros, random_bytes};
use crate::services::{MessageIndex, TokenLedger};
use crate::sqlite_kv::{Database, Durability, SqliteKv};

/// Most commands folded into one commit.
pub const MAX_BATCH: usize = 512;

/// What a connection task receives from the room, in order.
#[derive(Debug, Clone)]
pub enum Outbound {
    Text(Arc<str>),
    Close(u16, String),
}

/// The room's handle on one connection: a frame queue bounded in bytes (`queued` counts
/// what the connection task has not written yet), and a close signal that gets through
/// even when the queue is full.
pub struct ConnOutbox {
    pub frames: mpsc::UnboundedSender<Outbound>,
    pub queued: Arc<AtomicUsize>,
    pub limit: usize,
    pub close: watch::Sender<Option<(u16, String)>>,
}

/// How a new room is paid for.
#[derive(Debug, Clone)]
pub enum Funding {
    /// The admin secret (checked by the HTTP layer): the server's default budget.
    AdminSecret,
    /// A storage token (by hash), spent when the room is created; its value is the budget.
    Token { hash: String },
}

/// Everything that reaches a room.
pub enum RoomCommand {
    Connect {
        conn: ConnId,
        outbox: ConnOutbox,
    },
    /// A frame already through `room_core::inbound::prepare` (done in the connection task).
    Frame {
        conn: ConnId,
        frame: Inbound,
    },
    Binary {
        conn: ConnId,
    },
    Disconnect {
        conn: ConnId,
    },
    /// The actor's alarm: a deadline of the room (or its idle time) may have passed.
    Wake,
    History {
        before: Option<String>,
        limit: Option<usize>,
        signed: Option<Box<VerifiedRequest>>,
        reply: oneshot::Sender<Result<HistoryPage, ErrorBody>>,
    },
    Create {
        owner: PublicKey,
        state: Box<protocol::room_state::SignedState>,
        funding: Funding,
        reply: oneshot::Sender<Result<CreateRoomResponse, ErrorBody>>,
    },
    /// A backup already checked with `SignedBackup::validate`.
    Restore {
        backup: Box<RoomBackup>,
        funding: Funding,
        reply: oneshot::Sender<Result<CreateRoomResponse, ErrorBody>>,
    },
    Owner {
        request: Box<VerifiedRequest>,
        call: OwnerCall,
        reply: oneshot::Sender<Reply>,
    },
    MemberToken {
        request: Box<VerifiedRequest>,
        size: u64,
        reply: oneshot::Sender<Reply>,
    },
}

/// The sockets of one room.
#[derive(Default)]
struct ActorSockets {
    conns: HashMap<ConnId, ConnOutbox>,
}

impl Sockets for ActorSockets {
    fn send(&mut self, conn: ConnId, text: Arc<str>) -> Result<(), QueueFull> {
        let Some(outbox) = self.conns.get(&conn) else { return Ok(()) };
        let queued = outbox.queued.load(Ordering::Acquire);
        if queued + text.len() > outbox.limit {
            return Err(QueueFull);
        }
        outbox.queued.fetch_add(text.len(), Ordering::AcqRel);
        outbox.frames.send(Outbound::Text(text)).map_err(|_| QueueFull)
    }

    fn close(&mut self, conn: ConnId, code: u16, reason: &str) {
        if let Some(outbox) = self.conns.get(&conn) {
            let _ = outbox.frames.send(Outbound::Close(code, reason.to_owned()));
        }
    }

    fn drop_now(&mut self, conn: ConnId, code: u16, reason: &str) {
        if let Some(outbox) = self.conns.get(&conn) {
            let _ = outbox.close.send(Some((code, reason.to_owned())));
        }
    }
}

/// Settings and shared services a room actor needs.
#[derive(Clone)]
pub struct ActorContext {
    pub rooms_dir: PathBuf,
    pub config: RoomConfig,
    pub global: Arc<dyn MessageIndex>,
    pub ledger: Arc<dyn TokenLedger>,
    /// Budget of rooms created with the admin secret, in bytes.
    pub initial_budget: u64,
    /// How long a room with no sockets and no calls stays loaded.
    pub idle: Duration,
}

impl ActorContext {
    pub fn room_path(&self, room: &RoomId) -> PathBuf {
        self.rooms_dir.join(format!("{room}.sqlite"))
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> ErrorBody {
    tracing::error!("{what}: {e}");
    ErrorBody::new(ErrorCode::Internal, format!("{what}; nothing was changed"))
}

fn unknown_room() -> ErrorBody {
    ErrorBody::new(ErrorCode::UnknownRoom, "no room with this id exists on this server")
}

/// The room's loaded state: its store and logic, or nothing if it does not exist (yet).
struct Loaded {
    store: SqliteKv,
    room: Room,
}

/// One room's actor. `retire` is called (with the registry lock held by the callee) when
/// the room has been idle long enough; it returns true if the actor may exit.
pub struct RoomActor {
    id: RoomId,
    ctx: ActorContext,
    loaded: Option<Loaded>,
    sockets: ActorSockets,
    /// The last command that was not a socket's frame or close (those need sockets,
    /// which keep the room loaded anyway).
    last_activity: Instant,
    replies: HashMap<ReplyId, oneshot::Sender<Reply>>,
    next_reply: ReplyId,
}

impl RoomActor {
    pub fn new(id: RoomId, ctx: ActorContext) -> Self {
        let mut actor = Self {
            id,
            ctx,
            loaded: None,
            sockets: ActorSockets::default(),
            last_activity: Instant::now(),
            replies: HashMap::new(),
            next_reply: 0,
        };
        actor.load();
        actor
    }

    /// Opens the room's database if it exists and loads the room.
    fn load(&mut self) {
        let path = self.ctx.room_path(&self.id);
        if !path.exists() {
            return;
        }
        let result = SqliteKv::open(&path, Database::Room, Durability::Full, false).and_then(|store| {
            Room::load(self.id.clone(), &store, self.ctx.config.clone())
                .map(|room| room.map(|room| Loaded { store, room }))
        });
        match result {
            Ok(loaded) => {
                self.loaded = loaded;
                self.repair_global_copy();
            }
            Err(e) => tracing::error!(room = %self.id, "cannot load room: {e}"),
        }
    }

    /// Re-copies to KV_global the messages its asynchronous copy may have lost in a crash
    /// (what to copy is the room's rule: [`Room::messages_after`]).
    fn repair_global_copy(&self) {
        let Some(loaded) = &self.loaded else { return };
        let since = match self.ctx.global.latest_message_key(&self.id) {
            Ok(k) => k,
            Err(e) => return tracing::warn!("cannot read KV_global: {e}"),
        };
        let mut cursor = since.map(|k| k.to_string());
        loop {
            let rows = match loaded.room.messages_after(&loaded.store, cursor.as_deref(), 1000) {
                Ok(rows) => rows,
                Err(e) => return tracing::warn!("cannot list room for KV_global repair: {e}"),
            };
            let done = rows.len() < 1000;
            cursor = rows.last().map(|(k, _)| k.clone());
            if !rows.is_empty() {
                tracing::info!(room = %self.id, count = rows.len(), "re-copying messages to KV_global");
            }
            self.ctx.global.replicate(rows);
            if done {
                break;
            }
        }
    }

    /// True when the room has no connections and has been idle for long enough.
    pub fn is_idle(&self) -> bool {
        self.sockets.conns.is_empty() && self.last_activity.elapsed() >= self.ctx.idle
    }

    /// When the actor must wake without a command: the room's next deadline, or (with no
    /// sockets) the moment it becomes idle enough to unload.
    fn wake_at(&self) -> Option<Instant> {
        let room = self.loaded.as_ref().and_then(|l| l.room.next_deadline());
        let room = room.map(|deadline| Instant::now() + deadline.since(clock::now()));
        let unload = self.sockets.conns.is_empty().then(|| self.last_activity + self.ctx.idle);
        room.into_iter().chain(unload).min()
    }

    /// The room's deadline (or the idle time) passed.
    fn on_timeout(&mut self) {
        if let Some(l) = &mut self.loaded {
            l.room.handle_timeout(clock::now());
        }
    }

    /// Applies one command (its effects wait for [`RoomActor::finish`]).
    pub fn handle(&mut self, cmd: RoomCommand) {
        let now = clock::now();
        match cmd {
            RoomCommand::Connect { conn, outbox } => {
                self.last_activity = Instant::now();
                self.sockets.conns.insert(conn, outbox);
                match &mut self.loaded {
                    Some(l) => l.room.connect(conn, random_bytes::<32>(), now),
                    None => self.refuse_socket(conn, unknown_room()),
                }
            }
            RoomCommand::Frame { conn, frame } => {
                if let Some(l) = &mut self.loaded {
                    l.room.frame(conn, frame, now, &l.store);
                }
            }
            RoomCommand::Binary { conn } => {
                if let Some(l) = &mut self.loaded {
                    l.room.binary_frame(conn);
                }
            }
            RoomCommand::Wake => self.on_timeout(),
            RoomCommand::Disconnect { conn } => {
                self.sockets.conns.remove(&conn);
                if let Some(l) = &mut self.loaded {
                    l.room.disconnect(conn);
                }
            }
            RoomCommand::History { before, limit, signed, reply } => {
                self.last_activity = Instant::now();
                let reader = match &signed {
                    Some(s) => Reader::Signed(s),
                    None => Reader::Anonymous,
                };
                let answer = match &mut self.loaded {
                    Some(l) => l.room.history(&l.store, before.as_deref(), limit, reader, now),
                    None => Err(unknown_room()),
                };
                let _ = reply.send(answer);
            }
            RoomCommand::Create { owner, state, funding, reply } => {
                self.last_activity = Instant::now();
                let created = self.fund(&funding, |actor, budget| {
                    let batch = Room::creation_batch(&actor.id, &owner, budget, &state, now, &actor.ctx.config)?;
                    actor.install(batch, "created")
                });
                let _ = reply.send(created);
            }
            RoomCommand::Restore { backup, funding, reply } => {
                self.last_activity = Instant::now();
                let restored = self.fund(&funding, |actor, budget| {
                    let batch = Room::import_batch(&backup, budget, now, &actor.ctx.config)?;
                    let created = actor.install(batch, "restored from a backup")?;
                    actor.repair_global_copy();
                    Ok(created)
                });
                let _ = reply.send(restored);
            }
            RoomCommand::Owner { request, call, reply } => {
                if let Some((id, l)) = self.park_reply(reply) {
                    l.room.owner_call(id, &request, call, now, random_bytes::<32>(), &l.store);
                }
            }
            RoomCommand::MemberToken { request, size, reply } => {
                if let Some((id, l)) = self.park_reply(reply) {
                    l.room.member_token(id, &request, size, now, random_bytes::<32>(), &l.store);
                }
            }
        }
    }

    fn refuse_socket(&mut self, conn: ConnId, error: ErrorBody) {
        let refusal = Refusal::closing(error, 4400);
        let _ = self.sockets.send(conn, refusal.frame);
        if let Some((code, reason)) = refusal.close {
            self.sockets.close(conn, code, reason);
        }
    }

    /// Keeps `reply` until the room answers the call it belongs to, and hands out the
    /// loaded room with the reply's id; with no room loaded, answers `unknown_room` now.
    fn park_reply(&mut self, reply: oneshot::Sender<Reply>) -> Option<(ReplyId, &mut Loaded)> {
        self.last_activity = Instant::now();
        if self.loaded.is_none() {
            let _ = reply.send(Err(unknown_room()));
            return None;
        }
        let id = self.next_reply;
        self.next_reply += 1;
        self.replies.insert(id, reply);
        self.loaded.as_mut().map(|l| (id, l))
    }

    /// Pays for a new room (refusing first if it exists) and runs `make` with its budget;
    /// the rule (spend, make, give a spent token back if making failed) is
    /// [`room_core::funding`]'s.
    fn fund(
        &mut self,
        funding: &Funding,
        make: impl FnOnce(&mut Self, u64) -> Result<CreateRoomResponse, ErrorBody>,
    ) -> Result<CreateRoomResponse, ErrorBody> {
        if self.loaded.is_some() {
            return Err(ErrorBody::new(ErrorCode::RoomExists, "a room with this id already exists"));
        }
        let payment = match funding {
            Funding::AdminSecret => Payment::Granted { bytes: self.ctx.initial_budget },
            Funding::Token { hash } => Payment::room(&self.id, hash.clone()),
        };
        let ledger = self.ctx.ledger.clone();
        let (made, refund_failed) = funding::run_sync(
            payment,
            |hash, min, purpose| ledger.spend(hash, min, purpose, now_micros()),
            |budget| make(self, budget).map(|made| (made, Used::Yes)),
            |hash| ledger.refund(hash),
        );
        if refund_failed {
            tracing::error!(room = %self.id, "could not refund a token after a failed creation");
        }
        made
    }

    /// Writes a new room's first batch into a fresh database and loads it.
    fn install(&mut self, batch: room_core::WriteBatch, what: &str) -> Result<CreateRoomResponse, ErrorBody> {
        let path = self.ctx.room_path(&self.id);
        if path.exists() {
            // A file without a valid room (e.g. a crash during creation): start over.
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        let mut store = SqliteKv::open(&path, Database::Room, Durability::Full, true)
            .map_err(|e| internal("cannot create the room", e))?;
        if let Err(e) = store.commit(batch) {
            drop(store);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            return Err(internal("cannot store the room", e));
        }
        let room = Room::load(self.id.clone(), &store, self.ctx.config.clone())
            .map_err(|e| internal("cannot load the new room", e))?
            .ok_or_else(|| internal("the new room vanished", "no meta"))?;
        let created =
            CreateRoomResponse { room: self.id.clone(), capacity: room.meta().capacity, budget: room.budget().total };
        self.loaded = Some(Loaded { store, room });
        tracing::info!(room = %self.id, "room {what}");
        Ok(created)
    }

    /// Commits the batch and delivers its frames (see [`Room::finish_batch`]).
    pub fn finish(&mut self) {
        let Some(l) = &mut self.loaded else { return };
        match l.room.finish_batch(&mut l.store, &mut self.sockets) {
            Ok(mut committed) => {
                for conn in &committed.dropped {
                    tracing::info!(room = %self.id, conn, "dropped a slow reader");
                    self.sockets.conns.remove(conn);
                }
                self.ctx.global.replicate(std::mem::take(&mut committed.replicate));
                let mut unrecorded = std::collections::BTreeSet::new();
                let issuer = format!("room:{}", self.id);
                for token in &committed.tokens {
                    if let Err(e) =
                        self.ctx.ledger.record_issue(&token.hash, token.size, &issuer, token.scope, now_micros())
                    {
                        tracing::error!(room = %self.id, "a token was debited but not recorded: {e:?}");
                        unrecorded.insert(token.reply);
                    }
                }
                for (id, answer) in committed.answers(&unrecorded) {
                    if let Some(reply) = self.replies.remove(&id) {
                        let _ = reply.send(answer);
                    }
                }
            }
            Err(e) => {
                tracing::error!(room = %self.id, "commit failed, reloading the room: {e}");
                self.sockets.conns.clear();
                // Pending answers are dropped: their callers see an internal error.
                self.replies.clear();
                self.loaded = None;
                self.load();
            }
        }
    }

    /// Runs the actor on the current thread until `rx` closes or `retire` agrees to unload.
    /// `alarm` wakes it (through `rx`) at its next deadline, on the runtime's timer.
    pub fn run(
        mut self,
        mut rx: mpsc::Receiver<RoomCommand>,
        mut alarm: Alarm,
        retire: impl Fn(&mpsc::Receiver<RoomCommand>) -> bool,
    ) {
        while let Some(first) = rx.blocking_recv() {
            if matches!(first, RoomCommand::Wake) {
                alarm.rang();
            }
            self.handle(first);
            let mut taken = 1;
            while taken < MAX_BATCH {
                match rx.try_recv() {
                    Ok(cmd) => {
                        self.handle(cmd);
                        taken += 1;
                    }
                    Err(_) => break,
                }
            }
            self.finish();
            if self.is_idle() && retire(&rx) {
                break;
            }
            alarm.set(self.wake_at());
        }
        alarm.set(None);
    }
}

/// One pending wake-up of a room actor: a task on the runtime that sends
/// [`RoomCommand::Wake`] at the set time. Setting a later time keeps the earlier alarm (a
/// wake-up with nothing due is harmless), so a busy room does not re-arm every batch.
pub struct Alarm {
    runtime: tokio::runtime::Handle,
    room: mpsc::WeakSender<RoomCommand>,
    armed: Option<(Instant, tokio::task::AbortHandle)>,
}

impl Alarm {
    pub fn new(runtime: tokio::runtime::Handle, room: mpsc::WeakSender<RoomCommand>) -> Self {
        Self { runtime, room, armed: None }
    }

    /// The alarm went off.
    fn rang(&mut self) {
        self.armed = None;
    }

    /// Wakes the actor at `at` (or never).
    fn set(&mut self, at: Option<Instant>) {
        let Some(at) = at else {
            if let Some((_, task)) = self.armed.take() {
                task.abort();
            }
            return;
        };
        if self.armed.as_ref().is_some_and(|(armed, _)| *armed <= at) {
            return;
        }
        if let Some((_, task)) = self.armed.take() {
            task.abort();
        }
        let room = self.room.clone();
        let task = self.runtime.spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            if let Some(tx) = room.upgrade() {
                let _ = tx.try_send(RoomCommand::Wake);
            }
        });
        self.armed = Some((at, task.abort_handle()));
    }
}
