//! What every request handler shares.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use room_core::inbound::Verifier;

use crate::config::ServerConfig;
use crate::rooms::Rooms;
use crate::services::{DocumentStore, MessageIndex, TokenLedger};

/// The stores of KV_global, behind their traits ([`crate::services`]).
pub struct Stores {
    pub global: Arc<dyn MessageIndex>,
    pub ledger: Arc<dyn TokenLedger>,
    pub objects: Arc<dyn DocumentStore>,
}

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub rooms: Arc<Rooms>,
    pub global: Arc<dyn MessageIndex>,
    pub verifier: Arc<dyn Verifier>,
    pub ledger: Arc<dyn TokenLedger>,
    pub objects: Arc<dyn DocumentStore>,
    /// The origins allowed to open WebSockets: this server's own (from the bound address
    /// and `--public-origin`) and `--allow-origin`'s.
    pub origins: Arc<Vec<String>>,
    /// Permits for heavy requests (room restores), `--max-heavy-requests` of them.
    pub heavy: Arc<Semaphore>,
    /// Open WebSocket connections per client address.
    pub connections: Arc<ConnectionCounts>,
    /// Bounds the blocking-pool threads that unauthenticated ledger lookups (token checks
    /// before a room creation or restore) can occupy at once.
    pub ledger_lookups: Arc<Semaphore>,
    conn_ids: Arc<AtomicU64>,
}

/// Ledger lookups that may run at once before a room exists (each on a blocking thread).
const LEDGER_LOOKUPS: usize = 4;

/// Counts open WebSocket connections per client IP address, up to a cap.
#[derive(Debug)]
pub struct ConnectionCounts {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionSlot {
    counts: Arc<ConnectionCounts>,
    ip: IpAddr,
}

impl ConnectionCounts {
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self { cap, open: Mutex::new(HashMap::new()) })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A slot for one more connection from `ip`, or `None` when it holds `cap` already.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot { counts: Arc::clone(self), ip })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl AppState {
    /// `origins`: every origin allowed to open WebSockets (see [`AppState::origins`]).
    pub fn new(
        config: ServerConfig,
        rooms: Arc<Rooms>,
        stores: Stores,
        verifier: Arc<dyn Verifier>,
        origins: Vec<String>,
    ) -> Self {
        Self {
            heavy: Arc::new(Semaphore::new(config.max_heavy_requests.max(1))),
            connections: ConnectionCounts::new(config.max_connections_per_ip.max(1)),
            origins: Arc::new(origins),
            ledger_lookups: Arc::new(Semaphore::new(LEDGER_LOOKUPS)),
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
