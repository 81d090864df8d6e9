//! Cloakroom's mock-server: the worker API of the design on one machine.
//!
//! - Addressable workers: one [`room_actor`] thread per live room running the pure
//!   `room-core` logic over its own SQLite database (KV_local), found via [`rooms`].
//! - Non-addressable worker: the [`http`] handlers, which read [`global_store`]
//!   (KV_global), the [`ledger`] and the [`object_store`] directly, and the WebSocket
//!   transport for room connections ([`http::ws`]); [`http::router`] also serves the
//!   built SPA.

pub mod admin_secret;
pub mod cli;
pub mod clock;
pub mod config;
pub mod csp;
pub mod data_lock;
pub mod db_schema;
pub mod global_store;
pub mod http;
pub mod ledger;
pub mod ledger_key;
pub mod memory;
pub mod object_store;
pub mod open_rooms;
pub mod room_actor;
pub mod room_runtime;
pub mod rooms;
pub mod server;
pub mod services;
pub mod sqlite_kv;
pub mod state;
pub mod verifier;
