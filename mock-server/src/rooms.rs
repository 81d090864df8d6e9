//! The room registry: finds the one live actor of a room id, starting it on demand and
//! letting it unload when idle. Unknown room ids never start an actor (or create a file)
//! unless the command creates the room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use protocol::error::{ErrorBody, ErrorCode};
use protocol::ids::RoomId;
use tokio::sync::{mpsc, oneshot};

use crate::room_actor::{ActorContext, RoomActor, RoomCommand};
use crate::room_runtime::RoomRuntime;

/// Commands that may wait for a busy room before senders are slowed down.
const ROOM_QUEUE: usize = 4096;

struct Entry {
    generation: u64,
    tx: mpsc::Sender<RoomCommand>,
}

/// All live rooms of this server.
pub struct Rooms {
    ctx: ActorContext,
    runtime: RoomRuntime,
    live: Mutex<HashMap<RoomId, Entry>>,
    generations: std::sync::atomic::AtomicU64,
}

fn unknown_room() -> ErrorBody {
    ErrorBody::new(ErrorCode::UnknownRoom, "no room with this id exists on this server")
}

impl Rooms {
    /// The registry, with the rooms' own runtime (see [`RoomRuntime`]).
    pub fn new(ctx: ActorContext, runtime: RoomRuntime) -> Arc<Self> {
        Arc::new(Self { ctx, runtime, live: Mutex::new(HashMap::new()), generations: Default::default() })
    }

    /// True when the room is loaded or has a database (without starting an actor).
    pub fn exists(&self, id: &RoomId) -> bool {
        self.live.lock().map(|m| m.contains_key(id)).unwrap_or(false) || self.ctx.room_path(id).exists()
    }

    /// Rooms currently loaded.
    pub fn live_count(&self) -> usize {
        self.live.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn actor(self: &Arc<Self>, id: &RoomId, may_create: bool) -> Result<(u64, mpsc::Sender<RoomCommand>), ErrorBody> {
        let mut live = self.live.lock().map_err(|_| ErrorBody::new(ErrorCode::Internal, "room registry poisoned"))?;
        if let Some(entry) = live.get(id) {
            return Ok((entry.generation, entry.tx.clone()));
        }
        if !may_create && !self.ctx.room_path(id).exists() {
            return Err(unknown_room());
        }
        let generation = self.generations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        let actor = RoomActor::new(id.clone(), self.ctx.clone());
        let registry = Arc::clone(self);
        let room = id.clone();
        // A task, not a thread: an idle room holds none (its batches run on the blocking
        // lane, see room_actor), on the rooms' own runtime.
        self.runtime.spawn(actor.run(rx, move |rx| registry.retire(&room, generation, rx)));
        live.insert(id.clone(), Entry { generation, tx: tx.clone() });
        Ok((generation, tx))
    }

    /// Called by an idle actor: unregisters it if nothing is waiting for it.
    fn retire(&self, id: &RoomId, generation: u64, rx: &mpsc::Receiver<RoomCommand>) -> bool {
        let Ok(mut live) = self.live.lock() else { return false };
        if !rx.is_empty() {
            return false;
        }
        if live.get(id).is_some_and(|e| e.generation == generation) {
            live.remove(id);
        }
        true
    }

    fn forget(&self, id: &RoomId, generation: u64) {
        if let Ok(mut live) = self.live.lock()
            && live.get(id).is_some_and(|e| e.generation == generation)
        {
            live.remove(id);
        }
    }

    /// Sends the command `make` builds around a reply channel and waits for the room's
    /// answer; a room worker that stopped before answering is an `internal` error.
    pub async fn call<T>(
        self: &Arc<Self>,
        id: &RoomId,
        may_create: bool,
        make: impl FnOnce(oneshot::Sender<Result<T, ErrorBody>>) -> RoomCommand,
    ) -> Result<T, ErrorBody> {
        let (reply, answer) = oneshot::channel();
        self.send(id, make(reply), may_create).await?;
        answer.await.map_err(|_| ErrorBody::new(ErrorCode::Internal, "the room worker stopped"))?
    }

    /// Delivers `cmd` to the room's actor (starting it if the room exists, or if
    /// `may_create`), and returns the channel used so the caller can keep talking to the
    /// same actor.
    pub async fn send(
        self: &Arc<Self>,
        id: &RoomId,
        mut cmd: RoomCommand,
        may_create: bool,
    ) -> Result<mpsc::Sender<RoomCommand>, ErrorBody> {
        for _ in 0..3 {
            let (generation, tx) = self.actor(id, may_create)?;
            match tx.send(cmd).await {
                Ok(()) => return Ok(tx),
                Err(mpsc::error::SendError(back)) => {
                    // The actor unloaded between lookup and send; start a fresh one.
                    cmd = back;
                    self.forget(id, generation);
                }
            }
        }
        Err(ErrorBody::new(ErrorCode::Unavailable, "the room worker is restarting; retry"))
    }
}
