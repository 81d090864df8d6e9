//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::ServerConfig;
use crate::global_store::GlobalStore;
use crate::rooms::Rooms;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub rooms: Arc<Rooms>,
    pub global: GlobalStore,
    conn_ids: Arc<AtomicU64>,
}

impl AppState {
    pub fn new(config: ServerConfig, rooms: Arc<Rooms>, global: GlobalStore) -> Self {
        Self { config: Arc::new(config), rooms, global, conn_ids: Arc::new(AtomicU64::new(1)) }
    }

    /// A process-unique connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.conn_ids.fetch_add(1, Ordering::Relaxed)
    }
}
