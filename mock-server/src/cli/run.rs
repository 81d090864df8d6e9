//! What each command does and prints (`main.rs` only parses and dispatches here).

use protocol::limits::Limits;

use crate::cli::args::{Command, ServeArgs, SsoCommand};
use crate::cli::{self, CliError};
use crate::config::ServerConfig;

/// Runs `command`.
pub fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(args) => serve(*args),
        other => offline(other),
    }
}

fn json_out(value: &impl serde::Serialize) -> Result<(), CliError> {
    println!("{}", serde_json::to_string_pretty(value).map_err(|e| CliError::failed(e.to_string()))?);
    Ok(())
}

/// The offline commands.
fn offline(command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(_) => unreachable!("handled by run"),
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
        Command::Audit { data_dir, ledger_key, ledger_export, json } => {
            let key = ledger_key.unwrap_or_else(|| data_dir.join("ledger.key"));
            let audit = match ledger_export {
                Some(file) => cli::audit::run_export(&file, &key)?,
                None => cli::audit::run(&data_dir, &key)?,
            };
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
                for (key_id, count) in &audit.sso_keys {
                    println!("  SSO key {key_id}: {} of {} rooms paid for", count.redeemed, count.cap);
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
        Command::Sso(command) => sso(command)?,
        Command::Restore { from, data_dir } => {
            let manifest = cli::backup::restore(&from, &data_dir)?;
            println!("restored {} file(s) into {}", manifest.files.len(), data_dir.display());
        }
    }
    Ok(())
}

/// `mock-server sso …`.
fn sso(command: SsoCommand) -> Result<(), CliError> {
    match command {
        SsoCommand::Init { root_key } => {
            let public = cli::sso::init(&root_key)?;
            println!("{public}");
            eprintln!(
                "SSO root key written to {} (keep it offline). Give every worker --sso-root-key {public}",
                root_key.display()
            );
        }
        SsoCommand::MintKeys { root_key, out, keyset, from, days, room_bytes, max_redemptions } => {
            let minted = cli::sso::mint_keys(cli::sso::MintOptions {
                root_key: &root_key,
                out: &out,
                keyset: keyset.as_deref(),
                from: from.as_deref(),
                days,
                room_bytes,
                max_redemptions,
            })?;
            println!("{}", minted.key_id);
            eprintln!(
                "issuance key {} written to {} (install on the SSO, then delete here); key set with {} key(s) in {} (install on the SSO and every worker)",
                minted.key_id,
                minted.issuer_pem.display(),
                minted.keys_in_set,
                minted.keyset.display()
            );
        }
        SsoCommand::Revoke { root_key, keyset, key_id, out } => {
            let left = cli::sso::revoke(&root_key, &keyset, &key_id, &out)?;
            eprintln!("key set without {key_id} ({left} key(s) left) written to {}", out.display());
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

/// The SSO settings, checked: an http(s) origin, a root key, a key set it signed.
fn sso_config(
    origin: Option<String>,
    name: String,
    root_key: Option<String>,
    keyset: Option<&std::path::Path>,
) -> Result<Option<crate::config::SsoConfig>, CliError> {
    let (Some(origin), Some(root_key), Some(keyset)) = (origin, root_key, keyset) else { return Ok(None) };
    let origin = origin.trim_end_matches('/').to_owned();
    let shaped = (origin.starts_with("https://") || origin.starts_with("http://"))
        && !origin[origin.find("//").map_or(0, |i| i + 2)..].contains(['/', ' ', ';', ',', '\'']);
    if !shaped {
        return Err(CliError::invalid(format!("--sso-origin {origin:?} is not an origin (https://host[:port])")));
    }
    let root_key = protocol::identity::PublicKey::parse(root_key.trim())
        .map_err(|e| CliError::invalid(format!("--sso-root-key: {e}")))?;
    let bytes =
        std::fs::read(keyset).map_err(|e| CliError::not_found(format!("cannot read {}: {e}", keyset.display())))?;
    let keyset = protocol::sso::SsoKeyset::parse_verified(&bytes, &root_key)
        .map_err(|e| CliError::invalid(format!("{}: {e}", keyset.display())))?;
    Ok(Some(crate::config::SsoConfig {
        info: protocol::sso::SsoInfo { origin, name: name.trim().chars().take(60).collect(), root_key },
        keyset,
    }))
}

/// Runs the server until a shutdown signal.
fn serve(args: ServeArgs) -> Result<(), CliError> {
    raise_open_files_limit();
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", args.data_dir.display()))?;
    // Held until the process ends: keeps the offline CLI (and a second server) away.
    let _lock = cli::open_data_dir(&args.data_dir)?;
    let admin_secret = match args.admin_secret {
        Some(secret) if !secret.trim().is_empty() => secret.trim().to_owned(),
        _ => crate::admin_secret::load_or_create(&args.data_dir)
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
        room_quiet_secs: args.room_quiet_secs,
        max_open_rooms: args.max_open_rooms.max(1),
        open_room_wait_ms: args.open_room_wait_ms,
        request_timeout_secs: args.request_timeout_secs.max(1),
        upload_timeout_secs: args.upload_timeout_secs.max(1),
        csp_report_uri: args.csp_report_uri,
        sso: sso_config(args.sso_origin, args.sso_name, args.sso_root_key, args.sso_keyset.as_deref())?,
        calls: call_settings(args.ice_servers, args.ice_username, args.ice_credential, args.ice_relay_only)?,
    };
    // This runtime's blocking lane runs the document store's calls (rooms' batches have
    // their own, `room_runtime`): bounded, so threads do not grow with the load.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    crate::memory::limit_arenas(cores);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(crate::config::blocking_lane_threads(cores))
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    println!("Admin secret (needed to create rooms): {}", config.admin_secret);
    runtime.block_on(crate::server::serve(config)).map_err(CliError::from)
}

/// `--ice-server` and its credentials, checked: each a `stun:`, `stuns:`, `turn:` or
/// `turns:` URL of at most 512 bytes.
fn call_settings(
    urls: Vec<String>,
    username: Option<String>,
    credential: Option<String>,
    relay_only: bool,
) -> Result<protocol::api::CallSettings, String> {
    for url in &urls {
        let scheme_ok = ["stun:", "stuns:", "turn:", "turns:"].iter().any(|s| url.starts_with(s));
        if !scheme_ok || url.len() > 512 || url.chars().any(char::is_whitespace) {
            return Err(format!("--ice-server {url:?} is not a stun:, stuns:, turn: or turns: URL"));
        }
    }
    let ice_servers =
        if urls.is_empty() { Vec::new() } else { vec![protocol::api::IceServer { urls, username, credential }] };
    Ok(protocol::api::CallSettings { ice_servers, relay_only })
}
