//! `mock-server`: the Cloakroom worker API with embedded storage.
//!
//! `mock-server serve` runs the server; further subcommands (the offline CLI) work on the
//! data directory while the server is stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloakroom_mock_server::config::ServerConfig;
use protocol::limits::Limits;

#[derive(Parser)]
#[command(name = "mock-server", version, about = "Cloakroom worker API with embedded SQLite storage")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (and the built SPA) until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on. Use port 0 to pick a free port (printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory holding the rooms' databases, KV_global and the admin secret.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// Directory of the built SPA (Trunk's dist/) to serve at `/`.
    #[arg(long)]
    static_dir: Option<PathBuf>,
    /// Admin secret authorising room creation. Default: <data-dir>/admin-secret, created on first start.
    #[arg(long, env = "CLOAKROOM_ADMIN_SECRET", hide_env_values = true)]
    admin_secret: Option<String>,
    /// Extra origin allowed to open WebSockets (repeatable), e.g. http://127.0.0.1:8081 for `trunk serve`.
    #[arg(long = "allow-origin")]
    allow_origins: Vec<String>,
    /// Sustained messages per second per connection.
    #[arg(long, default_value_t = Limits::default().rate_per_second)]
    rate_per_second: u32,
    /// Burst of messages per connection.
    #[arg(long, default_value_t = Limits::default().rate_burst)]
    rate_burst: u32,
    /// Member keys a new room accepts.
    #[arg(long, default_value_t = Limits::default().default_room_capacity)]
    default_capacity: u32,
    /// Seconds without a frame or pong before a connection is closed.
    #[arg(long, default_value_t = Limits::default().idle_timeout_secs)]
    idle_timeout_secs: u32,
    /// Seconds a new connection has to answer the join challenge.
    #[arg(long, default_value_t = Limits::default().join_timeout_secs)]
    join_timeout_secs: u32,
    /// Bytes of frames that may wait for a slow reader before it is dropped.
    #[arg(long, default_value_t = Limits::default().send_queue_bytes)]
    send_queue_bytes: u64,
    /// Storage budget of rooms created with the admin secret, in bytes.
    #[arg(long, default_value_t = 1 << 30)]
    initial_budget: u64,
    /// Seconds a room with no connections stays loaded.
    #[arg(long, default_value_t = 30)]
    room_idle_secs: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOAKROOM_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mock-server: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Lets the server hold as many sockets and room files as the system allows.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), String> {
    raise_open_files_limit();
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", args.data_dir.display()))?;
    let admin_secret = match args.admin_secret {
        Some(secret) if !secret.trim().is_empty() => secret.trim().to_owned(),
        _ => cloakroom_mock_server::admin_secret::load_or_create(&args.data_dir)
            .map_err(|e| format!("cannot read or create the admin secret: {e}"))?,
    };
    if let Some(dir) = &args.static_dir
        && !dir.join("index.html").is_file()
    {
        return Err(format!("{} has no index.html: build the SPA first (trunk build --release)", dir.display()));
    }
    let limits = Limits {
        rate_per_second: args.rate_per_second,
        rate_burst: args.rate_burst,
        default_room_capacity: args.default_capacity,
        idle_timeout_secs: args.idle_timeout_secs,
        join_timeout_secs: args.join_timeout_secs,
        send_queue_bytes: args.send_queue_bytes.max(1),
        ..Limits::default()
    };
    let config = ServerConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        static_dir: args.static_dir,
        admin_secret,
        allowed_origins: args.allow_origins,
        limits,
        initial_budget: args.initial_budget,
        room_idle_secs: args.room_idle_secs,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    println!("Admin secret (needed to create rooms): {}", config.admin_secret);
    runtime.block_on(cloakroom_mock_server::server::serve(config))
}
