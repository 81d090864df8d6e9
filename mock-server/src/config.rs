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
    /// Origins allowed to open WebSockets besides the server's own origin.
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// Budget of rooms created with the admin secret, in bytes.
    pub initial_budget: u64,
    /// Seconds a room with no connections stays loaded.
    pub room_idle_secs: u64,
    /// Seconds an API request may take to arrive and be answered (408 after).
    pub request_timeout_secs: u64,
    /// The same for requests that carry a file chunk or a room backup: long enough for a
    /// 4 MiB chunk over a slow uplink (10 minutes by default: ~7 KB/s).
    pub upload_timeout_secs: u64,
}

impl ServerConfig {
    pub fn rooms_dir(&self) -> PathBuf {
        self.data_dir.join("rooms")
    }

    pub fn global_db(&self) -> PathBuf {
        self.data_dir.join("global.sqlite")
    }
}
