//! The HTTP and WebSocket layer: the non-addressable worker's handlers in front of the
//! room actors and the KV_global stores.
//!
//! Dependencies point one way: [`router`] → the handlers ([`api`], [`owner`],
//! [`objects`], [`ws`], and [`assets`] for the SPA's files) → [`extract`] (what they read from a request) → [`error`] (the
//! typed refusal). No handler module uses another.

pub mod api;
pub mod assets;
pub mod error;
pub mod extract;
pub mod objects;
pub mod owner;
pub mod router;
pub mod ws;
