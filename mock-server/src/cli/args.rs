//! The command line: `mock-server serve` and the offline commands, as clap definitions.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use protocol::limits::Limits;

#[derive(Parser)]
#[command(name = "mock-server", version, about = "Cloakroom worker API with embedded SQLite storage")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API (and the built SPA) until Ctrl-C or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Prepare a data directory: admin secret and ledger key pair (private half to --ledger-key, keep it offline).
    Init {
        /// The data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Where to write the ledger's private key (must not exist yet).
        #[arg(long, default_value = "ledger.key")]
        ledger_key: PathBuf,
        /// Use this admin secret instead of a random one.
        #[arg(long, allow_hyphen_values = true)]
        admin_secret: Option<String>,
    },
    /// Mint storage tokens offline; prints one token per line.
    MintTokens {
        /// The data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// How many tokens.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Bytes each token is worth (rounded up to its bucket).
        #[arg(long)]
        size: u64,
    },
    /// Print a room's metadata (never its content).
    RoomInfo {
        /// The data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The room id (base64url: it may start with `-`).
        #[arg(allow_hyphen_values = true)]
        room: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Audit the ledger with the offline key: tokens issued, spent, unspent, per room.
    Audit {
        /// The data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The ledger's private key (default: <data-dir>/ledger.key).
        #[arg(long)]
        ledger_key: Option<PathBuf>,
        /// Audit a ledger exported by the edge (`GET /api/ledger/export` with the admin
        /// secret, saved to this file) instead of the data directory's.
        #[arg(long)]
        ledger_export: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Garbage-collect the document store: abandoned uploads and unreferenced chunks.
    Gc {
        /// The data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Remove unfinished uploads started more than this many days ago.
        #[arg(long, default_value_t = 7)]
        older_than_days: u64,
        /// Only report what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy the whole data directory consistently into a new directory.
    Backup {
        /// The data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// The new directory (must not exist or be empty).
        #[arg(long)]
        to: PathBuf,
    },
    /// The SSO's offline keys: the root key, issuance keys, revocation.
    #[command(subcommand)]
    Sso(SsoCommand),
    /// Check a backup and copy it into a new (empty) data directory.
    Restore {
        /// The backup directory.
        #[arg(long)]
        from: PathBuf,
        /// The data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Use port 0 to pick a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory holding the rooms' databases, KV_global and the admin secret.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Directory of the built SPA (Trunk's dist/) to serve at `/`.
    #[arg(long)]
    pub static_dir: Option<PathBuf>,
    /// Admin secret authorising room creation. Default: <data-dir>/admin-secret, created on first start.
    #[arg(long, env = "CLOAKROOM_ADMIN_SECRET", hide_env_values = true, allow_hyphen_values = true)]
    pub admin_secret: Option<String>,
    /// Extra origin allowed to open WebSockets (repeatable), e.g. http://127.0.0.1:8081 for `trunk serve`.
    #[arg(long = "allow-origin")]
    pub allow_origins: Vec<String>,
    /// This server's public origin (repeatable), e.g. https://chat.example behind a TLS proxy. The listen
    /// address's own origins are always allowed; the Host header never is.
    #[arg(long = "public-origin")]
    pub public_origins: Vec<String>,
    /// Where browsers report Content-Security-Policy violations (the policy's `report-uri`): an
    /// http(s) URL or a path on this server's origin. Reports name the page (no fragment, so no key)
    /// and what was blocked. Default: no reports.
    #[arg(long, value_parser = crate::csp::parse_report_uri)]
    pub csp_report_uri: Option<String>,
    /// Heavy requests (room restores) running at once; more get `busy` (503, Retry-After).
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_HEAVY_REQUESTS)]
    pub max_heavy_requests: usize,
    /// Concurrent WebSocket connections per client IP address; more get `too_many_connections` (429).
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,
    /// Sustained messages per second per connection.
    #[arg(long, default_value_t = Limits::default().rate_per_second)]
    pub rate_per_second: u32,
    /// Burst of messages per connection.
    #[arg(long, default_value_t = Limits::default().rate_burst)]
    pub rate_burst: u32,
    /// Member keys a new room accepts.
    #[arg(long, default_value_t = Limits::default().default_room_capacity)]
    pub default_capacity: u32,
    /// Seconds without a frame or pong before a connection is closed.
    #[arg(long, default_value_t = Limits::default().idle_timeout_secs)]
    pub idle_timeout_secs: u32,
    /// Seconds a new connection has to answer the join challenge.
    #[arg(long, default_value_t = Limits::default().join_timeout_secs)]
    pub join_timeout_secs: u32,
    /// Bytes of frames that may wait for a slow reader before it is dropped.
    #[arg(long, default_value_t = Limits::default().send_queue_bytes)]
    pub send_queue_bytes: u64,
    /// Storage budget of rooms created with the admin secret, in bytes.
    #[arg(long, default_value_t = 4 << 30)]
    pub initial_budget: u64,
    /// Seconds a room with no connections stays loaded.
    #[arg(long, default_value_t = 30)]
    pub room_idle_secs: u64,
    /// Seconds a room's database stays open without a command; then its file, WAL and shm
    /// are closed (joined sockets stay) and reopened with the next command.
    #[arg(long, default_value_t = 30)]
    pub room_quiet_secs: u64,
    /// Room databases open at once (three file descriptors each); at the bound the least
    /// recently used idle room closes its database for a room that needs one.
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_OPEN_ROOMS)]
    pub max_open_rooms: usize,
    /// Milliseconds a room waits for a database slot at the bound (while every open
    /// database is busy) before it answers `unavailable` and its clients retry.
    #[arg(long, default_value_t = crate::config::DEFAULT_OPEN_ROOM_WAIT_MS)]
    pub open_room_wait_ms: u64,
    /// Seconds an API request may take to arrive and be answered (then 408).
    #[arg(long, default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Seconds a request carrying a file chunk or a room backup may take (then 408).
    #[arg(long, default_value_t = 600)]
    pub upload_timeout_secs: u64,
    /// The SSO's origin (e.g. https://sso.example.org): rooms may then be created with its tokens.
    /// Needs --sso-root-key and --sso-keyset.
    #[arg(long, requires_all = ["sso_root_key", "sso_keyset"])]
    pub sso_origin: Option<String>,
    /// What the sign-in button calls the SSO ("Example Corp").
    #[arg(long, default_value = "your organisation")]
    pub sso_name: String,
    /// The SSO root public key (`mock-server sso init` printed it); the key set must be signed by it.
    #[arg(long, requires = "sso_origin", allow_hyphen_values = true)]
    pub sso_root_key: Option<String>,
    /// The key set file (`mock-server sso mint-keys` wrote it). Read at start: restart after installing a new one.
    #[arg(long, requires = "sso_origin")]
    pub sso_keyset: Option<PathBuf>,
    /// A STUN or TURN server calls use (`stun:host:port`, `turn:host:port?transport=udp`); repeat for more.
    /// None by default (calls between browsers that reach each other directly).
    #[arg(long = "ice-server")]
    pub ice_servers: Vec<String>,
    /// The username and credential of the TURN servers.
    #[arg(long, requires = "ice_servers", allow_hyphen_values = true)]
    pub ice_username: Option<String>,
    #[arg(long, requires = "ice_servers", allow_hyphen_values = true)]
    pub ice_credential: Option<String>,
    /// Calls only through the TURN relay (hides each person's address from the others).
    #[arg(long, requires = "ice_servers")]
    pub ice_relay_only: bool,
}

/// `mock-server sso …`: the SSO's offline key material.
#[derive(Subcommand)]
pub enum SsoCommand {
    /// Make the SSO root key pair: the private half to --root-key (must not exist), the public half printed.
    Init {
        #[arg(long)]
        root_key: PathBuf,
    },
    /// Make a new issuance key and write DIR/issuer-<key id>.pem (install on the SSO) and DIR/keyset.json
    /// (install on the SSO and every worker), signed by the root key. Keys of --keyset that are still
    /// valid stay in the new set.
    MintKeys {
        #[arg(long)]
        root_key: PathBuf,
        /// Where to write the issuer key and the new key set.
        #[arg(long)]
        out: PathBuf,
        /// The current key set, whose still-valid keys the new set keeps.
        #[arg(long)]
        keyset: Option<PathBuf>,
        /// First day of validity, YYYY-MM-DD (UTC). Default: today.
        #[arg(long)]
        from: Option<String>,
        /// Days of validity.
        #[arg(long, default_value_t = 31)]
        days: u64,
        /// Storage budget each token's room gets, in bytes.
        #[arg(long, default_value_t = 1 << 30)]
        room_bytes: u64,
        /// Most rooms this key's tokens may pay for: a stolen key is worth at most this.
        #[arg(long, default_value_t = 500)]
        max_redemptions: u64,
    },
    /// Write a key set without one key (it stops being accepted once installed).
    Revoke {
        #[arg(long)]
        root_key: PathBuf,
        #[arg(long)]
        keyset: PathBuf,
        #[arg(long, allow_hyphen_values = true)]
        key_id: String,
        /// The new key set's path.
        #[arg(long)]
        out: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// base64url values start with `-` one time in 64: they are values, never flags.
    #[test]
    fn values_starting_with_a_hyphen_are_values() {
        let cli = Cli::try_parse_from(["mock-server", "room-info", "-abcDEF_12", "--json"]).expect("room id");
        assert!(matches!(cli.command, Command::RoomInfo { room, json: true, .. } if room == "-abcDEF_12"));

        let cli = Cli::try_parse_from([
            "mock-server",
            "serve",
            "--admin-secret",
            "-secret",
            "--sso-origin",
            "https://sso.example",
            "--sso-root-key",
            "-rootkey",
            "--sso-keyset",
            "keyset.json",
        ])
        .expect("serve");
        let Command::Serve(args) = cli.command else { panic!("not serve") };
        assert_eq!(args.admin_secret.as_deref(), Some("-secret"));
        assert_eq!(args.sso_root_key.as_deref(), Some("-rootkey"));

        let cli = Cli::try_parse_from(["mock-server", "init", "--admin-secret", "-s3cret"]).expect("init");
        assert!(matches!(cli.command, Command::Init { admin_secret: Some(s), .. } if s == "-s3cret"));
    }
}
