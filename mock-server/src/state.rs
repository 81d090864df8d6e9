//! What every request handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use room_core::inbound::Verifier;

use crate::config::ServerConfig;
use crate::global_store::GlobalStore;
use crate::ledger::Ledger;
use crate::object_store::ObjectStore;
use crate::rooms::Rooms;

/// The stores of KV_global.
pub struct Stores {
    pub global: GlobalStore,
    pub ledger: Arc<Ledger>,
    pub objects: Arc<ObjectStore>,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub rooms: Arc<Rooms>,
    pub global: GlobalStore,
    pub verifier: Arc<dyn Verifier>,
    pub ledger: Arc<Ledger>,
    pub objects: Arc<ObjectStore>,
    conn_ids: Arc<AtomicU64>,
}

impl AppState {
    pub fn new(config: ServerConfig, rooms: Arc<Rooms>, stores: Stores, verifier: Arc<dyn Verifier>) -> Self {
        Self {
            config: Arc::new(config),
            rooms,
            global: stores.global,
            ledger: stores.ledger,
            objects: stores.objects,
            verifier,
            conn_ids: Arc::new(AtomicU64::new(1)),
        }
    }

    /// A process-unique connection id.
    pub fn next_conn_id(&self) -> u64 {
        self.conn_ids.fetch_add(1, Ordering::Relaxed)
    }
}
