//! The server's configuration: where it listens, where its data lives, who may connect,
//! and the limits it enforces.

use std::net::SocketAddr;
use std::path::PathBuf;

use protocol::limits::Limits;

/// Everything `mock-server serve` runs with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The built SPA (Trunk's `dist/`); `None` serves only the API.
    pub static_dir: Option<PathBuf>,
    /// Authorises room creation (until storage tokens and SSO exist).
    pub admin_secret: String,
    /// The server's own public origins (`--public-origin`, e.g. `https://chat.example`
    /// behind a TLS proxy). The origins of the listen address are added at start
    /// ([`ServerConfig::own_origins`]); the request's `Host` header never counts.
    pub public_origins: Vec<String>,
    /// Origins allowed to open WebSockets besides the server's own origins.
    pub allowed_origins: Vec<String>,
    /// Heavy requests (room restores: up to 256 MiB parsed and every signature checked)
    /// that may run at once; more are refused with `busy` (503, `Retry-After`).
    pub max_heavy_requests: usize,
    /// Concurrent WebSocket connections one client IP address may hold; more are refused
    /// before the upgrade with `too_many_connections` (429).
    pub max_connections_per_ip: usize,
    pub limits: Limits,
    /// Budget of rooms created with the admin secret, in bytes.
    pub initial_budget: u64,
    /// Seconds a room with no connections stays loaded.
    pub room_idle_secs: u64,
    /// Seconds a room's database stays open without a command (its sockets stay joined).
    pub room_quiet_secs: u64,
    /// Room databases open at once (three file descriptors each), least recently used
    /// closed first.
    pub max_open_rooms: usize,
    /// How long a room waits for a database slot while every open one is busy before it
    /// answers `unavailable`, in milliseconds.
    pub open_room_wait_ms: u64,
    /// Seconds an API request may take to arrive and be answered (408 after).
    pub request_timeout_secs: u64,
    /// The same for requests that carry a file chunk or a room backup: long enough for a
    /// 4 MiB chunk over a slow uplink (10 minutes by default: ~7 KB/s).
    pub upload_timeout_secs: u64,
    /// Where browsers report Content-Security-Policy violations (`report-uri`), if
    /// anywhere: checked by [`crate::csp::parse_report_uri`].
    pub csp_report_uri: Option<String>,
    /// The SSO whose room tokens this server accepts (`--sso-*`), if any.
    pub sso: Option<SsoConfig>,
    /// The STUN/TURN servers calls use (`--ice-*`).
    pub calls: protocol::api::CallSettings,
}

/// The SSO this server accepts room tokens from: what `/api/info` says about it, and the
/// root-signed key set (checked against the root key when the server starts).
#[derive(Debug, Clone)]
pub struct SsoConfig {
    pub info: protocol::sso::SsoInfo,
    pub keyset: protocol::sso::SsoKeyset,
}

/// Default of [`ServerConfig::max_heavy_requests`].
pub const DEFAULT_MAX_HEAVY_REQUESTS: usize = 2;
/// Default of [`ServerConfig::max_connections_per_ip`]: generous for a NAT'd office and
/// for tests that open many sockets from 127.0.0.1.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
/// Seconds a `busy` answer asks the client to wait (`Retry-After`).
pub const BUSY_RETRY_AFTER_SECS: u64 = 5;

impl ServerConfig {
    /// The origins a page served by this server has, given the address it is bound to:
    /// `http://<addr>`, plus `http://localhost:<port>` when bound to loopback (or to every
    /// address), plus the configured public origins.
    pub fn own_origins(&self, bound: SocketAddr) -> Vec<String> {
        let port = bound.port();
        let ip = bound.ip();
        let mut out = Vec::new();
        if ip.is_unspecified() {
            out.push(format!("http://127.0.0.1:{port}"));
            out.push(format!("http://[::1]:{port}"));
        } else {
            out.push(format!("http://{bound}"));
        }
        if ip.is_loopback() || ip.is_unspecified() {
            out.push(format!("http://localhost:{port}"));
        }
        out.extend(self.public_origins.iter().map(|o| o.trim_end_matches('/').to_owned()));
        out
    }

    pub fn rooms_dir(&self) -> PathBuf {
        self.data_dir.join("rooms")
    }

    pub fn global_db(&self) -> PathBuf {
        self.data_dir.join("global.sqlite")
    }
}

/// Threads of a blocking lane (the rooms' batches; separately, document-store calls) for `cores` cores:
/// `4 × cores + 8`, so a few slow rooms never starve the rest and the count does not grow
/// with the number of rooms.
pub fn blocking_lane_threads(cores: usize) -> usize {
    4 * cores + 8
}

/// Default bound on room databases open at once: 3,072 file descriptors.
pub const DEFAULT_MAX_OPEN_ROOMS: usize = 1024;

/// Default of [`ServerConfig::open_room_wait_ms`]: a burst waits a moment for a slot
/// rather than failing at once.
pub const DEFAULT_OPEN_ROOM_WAIT_MS: u64 = 1000;
