//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use room_core::inbound::Verifier;

use crate::config::ServerConfig;
use crate::global_store::GlobalStore;
use crate::rooms::Rooms;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub rooms: Arc<Rooms>,
    pub global: GlobalStore,
    pub verifier: Arc<dyn Verifier>,
    conn_ids: Arc<AtomicU64>,
}

impl AppState {
    pub fn new(config: ServerConfig, rooms: Arc<Rooms>, global: GlobalStore, verifier: Arc<dyn Verifier>) -> Self {
        Self { config: Arc::new(config), rooms, global, verifier, conn_ids: Arc::new(AtomicU64::new(1)) }
    }

    /// A process-unique connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.conn_ids.fetch_add(1, Ordering::Relaxed)
    }
}
