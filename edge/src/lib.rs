//! Cloakroom's worker API on Cloudflare Workers + Durable Objects, hosting the same room
//! engine (`room-core`) as mock-server. Built for wasm32 with `worker-build` (`./dev
//! edge-build`) and served on local workerd by `./dev edge`; natively this crate is empty.
//!
//! - [`front`]: the non-addressable Worker: routing, `/api/info`, the Origin check, static
//!   assets with the security headers, and forwarding each room's calls to its object.
//! - [`room_object`]: the addressable worker, one SQLite-backed Durable Object per room,
//!   with hibernating WebSockets.
//! - [`sql_kv`]: KV_local over the object's synchronous SQL storage.
//! - [`latest_index`]: KV_global on Workers KV: each room's newest message key.
//! - [`ledger_object`]: the token ledger, sharded Durable Objects (exactly-once spends).
//! - [`uploads_object`]: the document store: upload records in sharded Durable Objects,
//!   chunks in R2.
//! - [`sso`]: the SSO this deployment accepts room tokens from.
//! - [`runtime`]: the clock, randomness and settings.
//! - [`answer`]: JSON answers and typed refusals with the headers every response carries.
//!
//! docs/ARCHITECTURE.md ("Edge") maps the design's workers and stores to Cloudflare's.

#![cfg(target_arch = "wasm32")]

pub mod answer;
pub mod front;
pub mod latest_index;
pub mod ledger_object;
pub mod room_object;
pub mod runtime;
pub mod sql_kv;
pub mod sso;
pub mod uploads_object;
