//! Starts the server: opens the stores, binds the socket, serves until Ctrl-C/SIGTERM.

use std::io::Write;

use std::sync::Arc;

use room_core::RoomConfig;
use room_core::inbound::Verifier;
use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::global_store::GlobalStore;
use crate::ledger::Ledger;
use crate::object_store::ObjectStore;
use crate::room_actor::ActorContext;
use crate::rooms::Rooms;
use crate::services::{DocumentStore, MessageIndex, TokenLedger};
use crate::state::{AppState, Stores};
use crate::verifier::RingVerifier;

/// Runs the server with `config` until a shutdown signal arrives.
pub async fn serve(config: ServerConfig) -> Result<(), String> {
    std::fs::create_dir_all(config.rooms_dir())
        .map_err(|e| format!("cannot create the data directory {}: {e}", config.rooms_dir().display()))?;
    let global: Arc<dyn MessageIndex> =
        Arc::new(GlobalStore::open(&config.global_db()).map_err(|e| format!("cannot open KV_global: {e}"))?);
    let ledger_key = crate::ledger_key::load_or_create(&config.data_dir)?;
    let ledger: Arc<dyn TokenLedger> =
        Arc::new(Ledger::open(&config.global_db(), ledger_key).map_err(|e| format!("cannot open the ledger: {e}"))?);
    let objects: Arc<dyn DocumentStore> =
        Arc::new(ObjectStore::open(&config.global_db()).map_err(|e| format!("cannot open the document store: {e}"))?);
    let verifier: Arc<dyn Verifier> = Arc::new(RingVerifier);
    let ctx = ActorContext {
        rooms_dir: config.rooms_dir(),
        config: RoomConfig { limits: config.limits.clone(), verifier: verifier.clone() },
        global: global.clone(),
        ledger: ledger.clone(),
        initial_budget: config.initial_budget,
        idle: std::time::Duration::from_secs(config.room_idle_secs),
        quiet: std::time::Duration::from_secs(config.room_quiet_secs),
        open_rooms: crate::open_rooms::OpenRooms::new(config.max_open_rooms),
        open_wait: std::time::Duration::from_millis(config.open_room_wait_ms),
    };
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = crate::room_runtime::RoomRuntime::start(2 * cores, crate::config::blocking_lane_threads(cores))
        .map_err(|e| format!("cannot start the rooms' runtime: {e}"))?;
    let rooms = Rooms::new(ctx, runtime);
    let listener =
        TcpListener::bind(config.listen).await.map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let serves_app = config.static_dir.is_some();
    let stores = Stores { global: global.clone(), ledger, objects };
    let mut origins = config.own_origins(addr);
    origins.extend(config.allowed_origins.iter().map(|o| o.trim_end_matches('/').to_owned()));
    let app = crate::http::router::router(AppState::new(config, rooms, stores, verifier, origins));
    // Tests and scripts read this first line to find the port.
    println!("Cloakroom mock-server listening on http://{addr}");
    if !serves_app {
        println!("(API only: no --static-dir given)");
    }
    let _ = std::io::stdout().flush();
    // The peer address feeds the per-address WebSocket cap (`ws.rs`).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.map_err(|e| e.to_string())?;
    global.flush();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
