//! Cloakroom's worker API on Cloudflare Workers + Durable Objects, hosting the same room
//! engine (`room-core`) as mock-server. Built for wasm32 with `worker-build` (`./dev
//! edge-build`) and served on local workerd by `./dev edge`; natively only [`in_order`] builds.
//!
//! - [`front`]: the non-addressable Worker: routing, `/api/info`, the Origin check, static
//!   assets with the security headers, and forwarding each room's calls to its object.
//! - [`room_object`]: the addressable worker, one SQLite-backed Durable Object per room,
//!   with hibernating WebSockets.
//! - [`sql_kv`]: KV_local over the object's synchronous SQL storage.
//! - [`latest_index`]: KV_global on Workers KV: each room's newest message key, written
//!   on [`latest_schedule`]'s terms (one write at a time, at most one a second; plain
//!   Rust, tested natively).
//! - [`ledger_object`]: the token ledger, sharded Durable Objects (exactly-once spends).
//! - [`uploads_object`]: the document store: upload records in sharded Durable Objects,
//!   chunks in R2; [`collect_garbage`]: its daily clean-up (a Cron Trigger).
//! - [`sso`]: the SSO this deployment accepts room tokens from.
//! - [`runtime`]: the clock, randomness and settings.
//! - [`answer`]: JSON answers and typed refusals with the headers every response carries.
//! - [`in_order`]: socket frames reach the room in arrival order across WebCrypto's awaits
//!   (plain Rust: its tests run natively).
//!
//! docs/ARCHITECTURE.md ("Edge") maps the design's workers and stores to Cloudflare's.

pub mod in_order;
pub mod latest_schedule;

#[cfg(target_arch = "wasm32")]
pub mod answer;
#[cfg(target_arch = "wasm32")]
pub mod collect_garbage;
#[cfg(target_arch = "wasm32")]
pub mod front;
#[cfg(target_arch = "wasm32")]
pub mod latest_index;
#[cfg(target_arch = "wasm32")]
pub mod ledger_object;
#[cfg(target_arch = "wasm32")]
pub mod room_object;
#[cfg(target_arch = "wasm32")]
pub mod runtime;
#[cfg(target_arch = "wasm32")]
pub mod sql_kv;
#[cfg(target_arch = "wasm32")]
pub mod sso;
#[cfg(target_arch = "wasm32")]
pub mod uploads_object;
