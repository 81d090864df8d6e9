//! Cloakroom's web client: a Leptos (CSR) single-page app compiled to WebAssembly.
//!
//! State lives in one place per concern:
//! - [`crypto`]: randomness, keys, sealing and opening messages (calls into `protocol`;
//!   WebCrypto where it is much faster); views never touch keys or envelopes;
//! - [`store`]: what the browser keeps (localStorage layout with migrations, the IndexedDB
//!   message cache, the encrypted export file);
//! - [`net`]: HTTP calls (signed where needed) and the room WebSocket;
//! - [`session`]: one open room as reactive state, and the owner's admin actions;
//! - [`rooms`] and [`invite_link`], [`contacts`], [`notify`], [`clock`]: room lifecycle, local names,
//!   notifications, human times; [`format`]: links and a little formatting in message text;
//! - [`sso`]: room authorisations from the organisation's SSO (blind-signed tokens);
//! - [`unread`]: unread counts and previews of rooms that are not open;
//! - [`pages`] and [`components`]: the views; [`lazy_part`]: the parts of the app fetched
//!   on first use (the owner's tools, the settings, the SSO sign-in, QR codes);
//! - [`bench`]: in-page benchmarks (run by the `file-bench` binary).
//!
//! Everything here only exists on wasm32; on the host this crate is empty so native
//! `cargo test` at the workspace root does not build browser code.
#![cfg(target_arch = "wasm32")]

pub mod app;
pub mod bench;
pub mod call;
pub mod clock;
pub mod components;
pub mod contacts;
pub mod crypto;
pub mod files;
pub mod format;
pub mod invite_link;
pub mod lazy_part;
pub mod net;
pub mod notify;
pub mod pages;
pub mod rooms;
pub mod session;
pub mod sso;
pub mod store;
pub mod unread;

/// Mounts the app on `<body>` and registers the service worker that keeps the app
/// available offline (`assets/sw.js`). A browser that refuses to store anything gets a
/// page saying so and what to do ([`components::storage_refused`]), never a blank one.
pub fn start() {
    console_error_panic_hook::set_once();
    if let Err(why) = store::check_usable() {
        use components::storage_refused::StorageRefusedPage;
        use leptos::prelude::*;
        leptos::mount::mount_to_body(move || view! { <StorageRefusedPage why=why /> });
        return;
    }
    register_service_worker();
    leptos::mount::mount_to_body(app::App);
}

/// Registers `assets/sw.js` where the browser has service workers (not every private
/// window does: there the app works online only).
fn register_service_worker() {
    let Some(window) = web_sys::window() else { return };
    let navigator = window.navigator();
    if js_sys::Reflect::get(&navigator, &"serviceWorker".into()).is_ok_and(|v| !v.is_undefined() && !v.is_null()) {
        let _ = navigator.service_worker().register("/sw.js");
    }
}
