//! The room worker's logic, written without any runtime: no tokio, no axum, no clock, no
//! randomness source. It is the "addressable worker" of the design: exactly one [`Room`]
//! instance exists per room id, and every socket and HTTP call of that room reaches it,
//! so the room's order is total.
//!
//! The adapter (mock-server today, a Durable Object later) feeds it events (a connection
//! opened with a fresh challenge, a text frame, a disconnect, a clock tick, an HTTP call)
//! together with the current time. Handling an event stages KV_local writes and outgoing
//! frames in [`Effects`]; [`Room::finish_batch`] then commits the writes atomically
//! through [`KvStore`] and only after the commit hands frames to [`Sockets`]. That is how
//! "ack after commit" holds by construction, and why several events can share one commit
//! (group commit) without ever acknowledging anything early.
//!
//! - [`storage`]: the KV_local interface (get, prefix listing, atomic batches) and an
//!   in-memory implementation for tests.
//! - [`schema`]: the keys this crate stores under and the records stored there.
//! - [`connection`]: per-connection state (join challenge, proven key, rate bucket).
//! - [`inbound`]: the state-independent checks of a frame (shape, size, signature),
//!   runnable outside the room, with a pluggable signature [`inbound::Verifier`].
//! - [`verified`]: inputs whose signatures the host checked its own way (signed requests,
//!   join answers), and what each check covers.
//! - [`time`]: [`UnixMicros`], the time the host passes with every event.
//! - [`transfer`]: backups out and in, and the bounds an imported backup must respect.
//! - [`effects`]: what a batch of events produces, and the socket interface.
//! - [`funding`]: paying with a storage token (spend, do, give back on failure) as steps
//!   the host performs.
//! - [`room`]: the state machine itself: connections, messages, history, the commit;
//!   with admission and access changes (`access.rs`), signed requests (`signed.rs`), the
//!   owner's calls (`owner.rs`), backups (`transfer.rs`) and dropping a deleted message's
//!   content (`erase.rs`) as further `impl Room` blocks.

mod access;
pub mod connection;
pub mod effects;
mod erase;
pub mod funding;
pub mod inbound;
mod owner;
pub mod paged_restore;
pub mod room;
pub mod schema;
mod signed;
pub mod storage;
pub mod time;
pub mod transfer;
pub mod verified;

pub use effects::{ConnId, Effects, Sockets};
pub use room::{Reader, Room, RoomConfig};
pub use storage::{KvStore, ListQuery, MemoryKv, StorageError, WriteBatch};
pub use time::UnixMicros;
