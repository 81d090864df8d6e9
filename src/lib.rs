//! Cloakroom's web client: a Leptos (CSR) single-page app compiled to WebAssembly.
//!
//! State lives in one place per concern:
//! - [`crypto`]: randomness, key generation, sealing and opening messages (calls into
//!   the shared `protocol` crate; views never touch keys or envelopes);
//! - [`store`]: what the browser keeps (localStorage layout, versioned);
//! - [`net`]: HTTP calls and the room WebSocket (join, send, resend, reconnect);
//! - [`session`]: one open room as reactive state the views read;
//! - [`pages`] and [`components`]: the views.
//!
//! Everything here only exists on wasm32; on the host this crate is empty so native
//! `cargo test` at the workspace root does not build browser code.
#![cfg(target_arch = "wasm32")]

pub mod app;
pub mod components;
pub mod crypto;
pub mod net;
pub mod pages;
pub mod rooms;
pub mod session;
pub mod store;

/// Mounts the app on `<body>`.
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
