//! The addressable worker: one tokio task per live room (on the rooms' own runtime,
//! [`crate::room_runtime`]), owning that room's [`Room`] state and its KV_local database.
//! Every socket and HTTP call of the room reaches it through one channel, so the room sees
//! a single, totally ordered stream of events. An idle room holds no thread: its batches
//! run on the room runtime's fixed worker threads, and the heavy ones (loading, creating
//! or restoring the room) on its bounded blocking lane, so a long restore holds one lane
//! thread and never a worker. A room that has been quiet for a while
//! (`--room-quiet-secs`) also closes its database (file, WAL and shm) while its sockets
//! stay joined, and reopens it with the next command.
//!
//! The loop takes whatever commands are waiting (up to [`MAX_BATCH`]), applies them to the
//! room, and calls [`Room::finish_batch`]: one SQLite transaction for the whole batch,
//! then acks and broadcasts. Under load this is a group commit; when idle a batch is one
//! command. Between batches it sleeps until the next command, the room's
//! [`Room::next_deadline`] (a join timeout), the moment its database has been quiet long
//! enough to close, or (with no sockets left) the moment it may unload: there is no
//! periodic tick.

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
use crate::open_rooms::{OpenRoom, OpenRooms};
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
    /// An SSO room token (checked by the HTTP layer), spent under its id when the room is
    /// created (boxed: every idle room's command channel holds 32 commands).
    Sso(Box<crate::ledger::SsoPayment>),
}

/// Everything that reaches a room. Kept small (big payloads boxed): every room's command
/// channel holds a block of 32 of them even while idle.
pub enum RoomCommand {
    Connect {
        conn: ConnId,
        outbox: ConnOutbox,
    },
    /// A frame already through `room_core::inbound::prepare` (done in the connection task).
    Frame {
        conn: ConnId,
        frame: Box<Inbound>,
    },
    Binary {
        conn: ConnId,
    },
    Disconnect {
        conn: ConnId,
    },
    /// The actor's own wake-up: a deadline of the room, its quiet time or its idle time
    /// may have passed.
    Wake,
    /// The actor's own: a room waiting for a database slot asked this one, the least
    /// recently used, to close its database.
    Release,
    History {
        before: Option<String>,
        limit: Option<usize>,
        signed: Option<Box<VerifiedRequest>>,
        reply: oneshot::Sender<Result<HistoryPage, ErrorBody>>,
    },
    Create {
        owner: Box<PublicKey>,
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
        call: Box<OwnerCall>,
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
    /// How long a room's database stays open without a command.
    pub quiet: Duration,
    /// The bound on room databases open at once.
    pub open_rooms: Arc<OpenRooms>,
    /// How long a room waits for a database slot while every open one is busy.
    pub open_wait: Duration,
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

/// The store to read from: the open database, or [`ClosedStore`].
fn kv(store: &Option<SqliteKv>) -> &dyn KvStore {
    match store {
        Some(s) => s,
        None => &ClosedStore,
    }
}

/// Whether `batch` creates or restores the room.
fn makes_the_room(batch: &[RoomCommand]) -> bool {
    batch.iter().any(|c| matches!(c, RoomCommand::Create { .. } | RoomCommand::Restore { .. }))
}

/// Whether `batch` holds only the actor's own wake-ups (which need no database).
fn only_own_wake_ups(batch: &[RoomCommand]) -> bool {
    batch.iter().all(|c| matches!(c, RoomCommand::Wake | RoomCommand::Release))
}

fn unknown_room() -> ErrorBody {
    ErrorBody::new(ErrorCode::UnknownRoom, "no room with this id exists on this server")
}

/// The room's loaded state: its logic, and its store while the room is busy.
struct Loaded {
    /// Closed (`None`) after [`ActorContext::quiet`] without a command, with its slot.
    store: Option<SqliteKv>,
    slot: Option<OpenRoom>,
    room: Room,
}

/// The store of a room whose database is closed: only a batch of timeouts runs against
/// it, which reads and writes nothing; anything else is a storage failure.
struct ClosedStore;

impl KvStore for ClosedStore {
    fn get(&self, _: &str) -> Result<Option<Vec<u8>>, room_core::StorageError> {
        Err(room_core::StorageError::Backend("the room's database is closed".into()))
    }
    fn list(&self, _: &room_core::ListQuery) -> Result<Vec<(String, Vec<u8>)>, room_core::StorageError> {
        Err(room_core::StorageError::Backend("the room's database is closed".into()))
    }
    fn commit(&mut self, _: room_core::WriteBatch) -> Result<(), room_core::StorageError> {
        Err(room_core::StorageError::Backend("the room's database is closed".into()))
    }
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
    /// The last command of any kind (the database closes `quiet` after it).
    last_command: Instant,
    /// Reopens of a closed database (for the log).
    reopens: u64,
    /// Whether the first batch tried to load the room.
    tried_load: bool,
    /// The room could not open its database (see [`RoomActor::refuse_all`]).
    unavailable: bool,
    /// A database slot taken (waiting, at the bound) before a batch that needs one.
    spare_slot: Option<OpenRoom>,
    replies: HashMap<ReplyId, oneshot::Sender<Reply>>,
    next_reply: ReplyId,
}

impl RoomActor {
    /// An actor for room `id`; it loads the room (on the blocking lane) when it runs.
    pub fn new(id: RoomId, ctx: ActorContext) -> Self {
        Self {
            id,
            ctx,
            loaded: None,
            sockets: ActorSockets::default(),
            last_activity: Instant::now(),
            last_command: Instant::now(),
            reopens: 0,
            tried_load: false,
            unavailable: false,
            spare_slot: None,
            replies: HashMap::new(),
            next_reply: 0,
        }
    }

    /// Opens the room's database if it exists and loads the room.
    fn load(&mut self) {
        let path = self.ctx.room_path(&self.id);
        if !path.exists() {
            return;
        }
        let Some(slot) = self.take_slot() else {
            self.unavailable = true;
            return;
        };
        let result = SqliteKv::open(&path, Database::Room, Durability::Full, false).and_then(|store| {
            Room::load(self.id.clone(), &store, self.ctx.config.clone())
                .map(|room| room.map(|room| Loaded { store: Some(store), slot: Some(slot), room }))
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
            let rows = match loaded.room.messages_after(kv(&loaded.store), cursor.as_deref(), 1000) {
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
        let close = self.loaded.as_ref().and_then(|l| l.store.as_ref()).map(|_| self.last_command + self.ctx.quiet);
        room.into_iter().chain(unload).chain(close).min()
    }

    /// Opens the room's database again if it was closed for being quiet; at the bound of
    /// open databases (or if it cannot be opened) the room is unavailable for now.
    fn open_store(&mut self) {
        self.last_command = Instant::now();
        if self.loaded.as_ref().is_none_or(|l| l.store.is_some()) {
            return;
        }
        let Some(slot) = self.take_slot() else {
            self.unavailable = true;
            return;
        };
        let path = self.ctx.room_path(&self.id);
        let Some(l) = &mut self.loaded else { return };
        match SqliteKv::open(&path, Database::Room, Durability::Full, false) {
            Ok(store) => {
                (l.store, l.slot) = (Some(store), Some(slot));
                self.reopens += 1;
                tracing::debug!(room = %self.id, reopens = self.reopens, "reopened the room's database");
            }
            Err(e) => {
                tracing::error!(room = %self.id, "cannot reopen the room's database: {e}");
                self.unavailable = true;
            }
        }
    }

    /// The slot waited for before this batch, or a free one.
    fn take_slot(&mut self) -> Option<OpenRoom> {
        self.spare_slot.take().or_else(|| self.ctx.open_rooms.try_open())
    }

    /// The slot of the open database, if it is open.
    fn open_slot(&self) -> Option<&OpenRoom> {
        self.loaded.as_ref().and_then(|l| l.slot.as_ref())
    }

    /// Whether `batch` may take long: loading the room (which also repairs KV_global's
    /// copy), creating or restoring it. Such a batch runs on the blocking lane; every
    /// other batch (a few reads and one commit) runs on the room runtime's own worker
    /// threads, without a hop between threads.
    fn is_heavy(&self, batch: &[RoomCommand]) -> bool {
        !self.tried_load || makes_the_room(batch)
    }

    /// Whether `batch` needs the room's database and it is not open: the actor then waits
    /// for a slot before running it.
    fn needs_slot(&self, batch: &[RoomCommand]) -> bool {
        let absent = match &self.loaded {
            Some(l) => l.store.is_none(),
            None => !self.tried_load || makes_the_room(batch),
        };
        !only_own_wake_ups(batch) && absent
    }

    /// Closes the database now (its slot is free for other rooms).
    fn close_store(&mut self) {
        if let Some(l) = &mut self.loaded
            && l.store.take().is_some()
        {
            l.slot = None;
            tracing::debug!(room = %self.id, "closed the room's database");
            crate::memory::release_freed();
        }
    }

    /// The room cannot open its database now (the bound of open databases, or a failure):
    /// answers everything in `batch` and everything waiting with `unavailable`, closes
    /// its sockets with 1012 (clients reconnect and resend), and ends the actor; nothing
    /// is lost (all state is in the room's database) and the next command starts afresh.
    fn refuse_all(&mut self, batch: Vec<RoomCommand>) {
        let busy = || {
            ErrorBody::new(ErrorCode::Unavailable, "the server has too many rooms open at once; try again in a moment")
        };
        tracing::warn!(room = %self.id, open = self.ctx.open_rooms.count(), "room unavailable: too many open databases");
        for cmd in batch {
            match cmd {
                RoomCommand::Connect { conn, outbox } => {
                    self.sockets.conns.insert(conn, outbox);
                }
                RoomCommand::History { reply, .. } => {
                    let _ = reply.send(Err(busy()));
                }
                RoomCommand::Create { reply, .. } | RoomCommand::Restore { reply, .. } => {
                    let _ = reply.send(Err(busy()));
                }
                RoomCommand::Owner { reply, .. } | RoomCommand::MemberToken { reply, .. } => {
                    let _ = reply.send(Err(busy()));
                }
                RoomCommand::Frame { .. } | RoomCommand::Binary { .. } | RoomCommand::Disconnect { .. } => {}
                RoomCommand::Wake | RoomCommand::Release => {}
            }
        }
        for (_, reply) in self.replies.drain() {
            let _ = reply.send(Err(busy()));
        }
        let conns: Vec<ConnId> = self.sockets.conns.keys().copied().collect();
        for conn in conns {
            let refusal = Refusal::closing(busy(), 1012);
            let _ = self.sockets.send(conn, refusal.frame);
            if let Some((code, reason)) = refusal.close {
                self.sockets.close(conn, code, reason);
            }
        }
        self.sockets.conns.clear();
        self.loaded = None;
    }

    /// Closes the room's database (file, WAL, shm) if no command came for `quiet`.
    fn close_store_if_quiet(&mut self) {
        if self.last_command.elapsed() >= self.ctx.quiet {
            self.close_store();
        }
    }

    /// Applies a batch of commands and commits it (see [`RoomActor::is_heavy`] for where). False
    /// when the room was unavailable and the actor must end.
    fn process(&mut self, batch: Vec<RoomCommand>) -> bool {
        if self.loaded.is_none() && !self.tried_load {
            self.tried_load = true;
            self.load();
        }
        let only_timeouts = only_own_wake_ups(&batch);
        let released = batch.iter().any(|c| matches!(c, RoomCommand::Release));
        if !only_timeouts {
            self.open_store();
        }
        if self.unavailable {
            self.refuse_all(batch);
            return false;
        }
        for cmd in batch {
            self.handle(cmd);
        }
        self.finish();
        // A slot waited for but not needed after all (e.g. the room does not exist).
        self.spare_slot = None;
        if released {
            self.close_store();
        } else if only_timeouts {
            self.close_store_if_quiet();
        }
        true
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
                    l.room.frame(conn, *frame, now, kv(&l.store));
                }
            }
            RoomCommand::Binary { conn } => {
                if let Some(l) = &mut self.loaded {
                    l.room.binary_frame(conn);
                }
            }
            RoomCommand::Wake => self.on_timeout(),
            RoomCommand::Release => {}
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
                    Some(l) => l.room.history(kv(&l.store), before.as_deref(), limit, reader, now),
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
                    l.room.owner_call(id, &request, *call, now, random_bytes::<32>(), kv(&l.store));
                }
            }
            RoomCommand::MemberToken { request, size, reply } => {
                if let Some((id, l)) = self.park_reply(reply) {
                    l.room.member_token(id, &request, size, now, random_bytes::<32>(), kv(&l.store));
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
            Funding::Sso(sso) => Payment::room(&self.id, sso.spent_id.clone()),
        };
        let ledger = self.ctx.ledger.clone();
        let (made, refund_failed) = match funding {
            Funding::Sso(sso) => funding::run_sync(
                payment,
                |_, _, purpose| ledger.spend_sso(sso, purpose, now_micros()),
                |budget| make(self, budget).map(|made| (made, Used::Yes)),
                |_| ledger.refund_sso(sso),
            ),
            _ => funding::run_sync(
                payment,
                |hash, min, purpose| ledger.spend(hash, min, purpose, now_micros()),
                |budget| make(self, budget).map(|made| (made, Used::Yes)),
                |hash| ledger.refund(hash),
            ),
        };
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
        let slot = self.take_slot().ok_or_else(|| {
            ErrorBody::new(ErrorCode::Unavailable, "the server has too many rooms open at once; try again in a moment")
        })?;
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
        self.loaded = Some(Loaded { store: Some(store), slot: Some(slot), room });
        tracing::info!(room = %self.id, "room {what}");
        Ok(created)
    }

    /// Commits the batch and delivers its frames (see [`Room::finish_batch`]).
    pub fn finish(&mut self) {
        let Some(l) = &mut self.loaded else { return };
        let mut closed = ClosedStore;
        let store: &mut dyn KvStore = match &mut l.store {
            Some(s) => s,
            None => &mut closed,
        };
        match l.room.finish_batch(store, &mut self.sockets) {
            Ok(mut committed) => {
                for conn in &committed.dropped {
                    tracing::info!(room = %self.id, conn, "dropped a slow reader");
                    self.sockets.conns.remove(conn);
                }
                self.ctx.global.replicate(std::mem::take(&mut committed.replicate));
                if committed.erased {
                    self.ctx.global.purge();
                    if let Some(Err(e)) = l.store.as_ref().map(SqliteKv::purge_superseded) {
                        tracing::error!(room = %self.id, "could not purge superseded pages: {e}");
                    }
                }
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

    /// Runs the actor as a task until `rx` closes or `retire` agrees to unload: it sleeps
    /// until a command or its next wake-up, takes the waiting commands (up to
    /// [`MAX_BATCH`]) and processes them.
    pub async fn run(
        mut self,
        mut rx: mpsc::Receiver<RoomCommand>,
        retire: impl Fn(&mpsc::Receiver<RoomCommand>) -> bool,
    ) {
        loop {
            let first = match self.wake_at() {
                Some(at) if self.tried_load => {
                    let eviction = self.open_slot().map(OpenRoom::eviction);
                    let evicted = async move {
                        match eviction {
                            Some(asked) => asked.notified().await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        cmd = rx.recv() => cmd,
                        _ = tokio::time::sleep_until(at.into()) => Some(RoomCommand::Wake),
                        () = evicted => Some(RoomCommand::Release),
                    }
                }
                _ => rx.recv().await,
            };
            let Some(first) = first else { break };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            if self.needs_slot(&batch) {
                // At the bound this asks the least recently used idle room to close its
                // database and waits (up to `open_wait`) for the slot.
                self.spare_slot = self.ctx.open_rooms.acquire(self.ctx.open_wait).await;
            }
            if let Some(slot) = self.open_slot() {
                slot.set_busy();
            }
            let id = self.id.clone();
            let go_on;
            let ran = if self.is_heavy(&batch) {
                tokio::task::spawn_blocking(move || {
                    let go_on = self.process(batch);
                    (self, go_on)
                })
                .await
                .map_err(|e| e.to_string())
            } else {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                    let go_on = self.process(batch);
                    (self, go_on)
                }))
                .map_err(|_| "panicked".to_owned())
            };
            (self, go_on) = match ran {
                Ok(done) => done,
                Err(e) => {
                    // The room's state is gone with the panic: the next command starts a
                    // fresh actor, which reloads it from its database.
                    tracing::error!(room = %id, "the room worker failed: {e}");
                    return;
                }
            };
            if let Some(slot) = self.open_slot() {
                slot.set_idle();
            }
            if !go_on {
                // Refuse what still waits, unregister (the next command starts a fresh
                // actor) and end.
                loop {
                    let rest: Vec<RoomCommand> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
                    if !rest.is_empty() {
                        self.refuse_all(rest);
                    }
                    if retire(&rx) {
                        break;
                    }
                }
                break;
            }
            if self.is_idle() && retire(&rx) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every idle room's command channel holds a block of 32 commands: keep them small.
    #[test]
    fn a_room_command_stays_small() {
        assert!(std::mem::size_of::<super::RoomCommand>() <= 64, "{}", std::mem::size_of::<super::RoomCommand>());
    }
}
