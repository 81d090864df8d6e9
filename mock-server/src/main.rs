//! `mock-server`: the Cloakroom worker API with embedded storage.
//!
//! `mock-server serve` runs the server; further subcommands (the offline CLI) work on the
//! data directory while the server is stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloakroom_mock_server::cli::{self, CliError};
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
    /// Prepare a data directory: admin secret and ledger key pair (private half to --ledger-key, keep it offline).
    Init {
        /// The data directory.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Where to write the ledger's private key (must not exist yet).
        #[arg(long, default_value = "ledger.key")]
        ledger_key: PathBuf,
        /// Use this admin secret instead of a random one.
        #[arg(long)]
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
        /// The room id.
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
    /// This server's public origin (repeatable), e.g. https://chat.example behind a TLS proxy. The listen
    /// address's own origins are always allowed; the Host header never is.
    #[arg(long = "public-origin")]
    public_origins: Vec<String>,
    /// Heavy requests (room restores) running at once; more get `busy` (503, Retry-After).
    #[arg(long, default_value_t = cloakroom_mock_server::config::DEFAULT_MAX_HEAVY_REQUESTS)]
    max_heavy_requests: usize,
    /// Concurrent WebSocket connections per client IP address; more get `too_many_connections` (429).
    #[arg(long, default_value_t = cloakroom_mock_server::config::DEFAULT_MAX_CONNECTIONS_PER_IP)]
    max_connections_per_ip: usize,
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
    #[arg(long, default_value_t = 4 << 30)]
    initial_budget: u64,
    /// Seconds a room with no connections stays loaded.
    #[arg(long, default_value_t = 30)]
    room_idle_secs: u64,
    /// Seconds an API request may take to arrive and be answered (then 408).
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// Seconds a request carrying a file chunk or a room backup may take (then 408).
    #[arg(long, default_value_t = 600)]
    upload_timeout_secs: u64,
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
        other => offline(other),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-server: {}", e.message);
            e.exit_code()
        }
    }
}

fn json_out(value: &impl serde::Serialize) -> Result<(), CliError> {
    println!("{}", serde_json::to_string_pretty(value).map_err(|e| CliError::failed(e.to_string()))?);
    Ok(())
}

/// The offline commands.
fn offline(command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(_) => unreachable!("handled by main"),
        Command::Init { data_dir, ledger_key, admin_secret } => {
            print!("{}", cli::init::run(&data_dir, &ledger_key, admin_secret.as_deref())?);
        }
        Command::MintTokens { data_dir, count, size } => {
            let (tokens, size) = cli::tokens::mint(&data_dir, count, size)?;
            for t in &tokens {
                println!("{t}");
            }
            eprintln!("minted {} token(s) of {size} bytes", tokens.len());
        }
        Command::RoomInfo { data_dir, room, json } => {
            let info = cli::room_info::read(&data_dir, &room)?;
            if json {
                json_out(&info)?;
            } else {
                let v = serde_json::to_value(&info).map_err(|e| CliError::failed(e.to_string()))?;
                for (k, v) in v.as_object().into_iter().flatten() {
                    println!("{k}: {v}");
                }
            }
        }
        Command::Audit { data_dir, ledger_key, json } => {
            let key = ledger_key.unwrap_or_else(|| data_dir.join("ledger.key"));
            let audit = cli::audit::run(&data_dir, &key)?;
            if json {
                json_out(&audit)?;
            } else {
                println!(
                    "{} tokens: {} bytes issued, {} spent, {} unspent; {} chunks ({} bytes) stored",
                    audit.tokens,
                    audit.bytes_issued,
                    audit.bytes_spent,
                    audit.bytes_unspent,
                    audit.stored_chunks,
                    audit.stored_bytes
                );
                for (kind, bytes) in &audit.spent_on {
                    println!("  spent on {kind}: {bytes} bytes");
                }
                for (issuer, line) in &audit.issuers {
                    println!("  {issuer}: {} tokens, {} bytes, {} spent", line.tokens, line.bytes, line.spent_tokens);
                }
            }
            if !audit.mismatches.is_empty() {
                return Err(CliError::invalid(format!(
                    "the ledger disagrees with the rooms:\n{}",
                    audit.mismatches.join("\n")
                )));
            }
        }
        Command::Gc { data_dir, older_than_days, dry_run } => {
            let c = cli::gc::run(&data_dir, older_than_days, dry_run)?;
            let verb = if c.dry_run { "would remove" } else { "removed" };
            println!("{verb} {} abandoned upload(s), {} chunk(s), {} bytes", c.abandoned_uploads, c.chunks, c.bytes);
        }
        Command::Backup { data_dir, to } => {
            let manifest = cli::backup::backup(&data_dir, &to)?;
            println!("backed up {} file(s) to {}", manifest.files.len(), to.display());
        }
        Command::Restore { from, data_dir } => {
            let manifest = cli::backup::restore(&from, &data_dir)?;
            println!("restored {} file(s) into {}", manifest.files.len(), data_dir.display());
        }
    }
    Ok(())
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

fn serve(args: ServeArgs) -> Result<(), CliError> {
    raise_open_files_limit();
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", args.data_dir.display()))?;
    // Held until the process ends: keeps the offline CLI (and a second server) away.
    let _lock = cli::open_data_dir(&args.data_dir)?;
    let admin_secret = match args.admin_secret {
        Some(secret) if !secret.trim().is_empty() => secret.trim().to_owned(),
        _ => cloakroom_mock_server::admin_secret::load_or_create(&args.data_dir)
            .map_err(|e| format!("cannot read or create the admin secret: {e}"))?,
    };
    if let Some(dir) = &args.static_dir
        && !dir.join("index.html").is_file()
    {
        return Err(CliError::not_found(format!(
            "{} has no index.html: build the SPA first (trunk build --release)",
            dir.display()
        )));
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
        public_origins: args.public_origins,
        allowed_origins: args.allow_origins,
        max_heavy_requests: args.max_heavy_requests.max(1),
        max_connections_per_ip: args.max_connections_per_ip.max(1),
        limits,
        initial_budget: args.initial_budget,
        room_idle_secs: args.room_idle_secs,
        request_timeout_secs: args.request_timeout_secs.max(1),
        upload_timeout_secs: args.upload_timeout_secs.max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    println!("Admin secret (needed to create rooms): {}", config.admin_secret);
    runtime.block_on(cloakroom_mock_server::server::serve(config)).map_err(CliError::from)
}
