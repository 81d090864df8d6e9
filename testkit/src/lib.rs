//! Helpers for Cloakroom's integration tests, end-to-end tests and benches. Everything
//! here is real: server processes on loopback, WebSocket clients speaking the protocol,
//! Chromium driven over WebDriver. Nothing is mocked.
//!
//! - [`server`]: start, stop and SIGKILL a `mock-server` process on a temporary data dir.
//! - [`edge`]: the same for the edge build on workerd (`wrangler dev --local`).
//! - [`backend`]: `CLOAKROOM_BACKEND=mock|edge`: either, behind one handle.
//! - [`client`]: a native client that creates rooms, joins with proof of possession and
//!   sends sealed messages (the same `protocol` code the browser runs).
//! - [`engine`] and [`browser`]: Chromium, Firefox or WebKit sessions over WebDriver,
//!   always closed, and the helpers that drive them (the same for every engine).
//! - [`csp_reports`]: where every test page reports what its Content-Security-Policy blocked.
//! - [`app`] and [`files`]: driving the SPA like a person (rooms, messages, files).
//! - [`link`]: a link to the server a test can slow down or cut (a real TCP relay).
//! - [`sso`]: SSO key material made by the offline CLI, and tokens issued natively.
//! - [`turn`]: a TURN relay (coturn) on loopback, for calls.
//! - [`scan`]: byte scans of a data directory for secrets that must never be stored.

pub mod app;
pub mod backend;
pub mod browser;
pub mod client;
pub mod csp_reports;
pub mod edge;
pub mod engine;
pub mod files;
pub mod hostile_proxy;
pub mod link;
pub mod scan;
pub mod server;
pub mod sso;
pub mod turn;

/// The workspace root (where `dist/`, `target/` and `Cargo.toml` live).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit sits in the workspace").to_path_buf()
}

/// `N` random bytes from the OS.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("OS randomness");
    out
}

/// A free TCP port on 127.0.0.1 (another process may take it before it is bound).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}
