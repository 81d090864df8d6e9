//! The bound on room databases open at once, so a burst across many rooms cannot exhaust
//! file descriptors (each open room database holds three: file, WAL, shm).
//!
//! A room holds an [`OpenRoom`] while its database is open. Past three quarters of the
//! bound ("pressure"), rooms close their database right after each batch instead of after
//! their quiet time, so the least recently used ones free their slots first; at the bound,
//! a room that needs its database answers `unavailable` (clients retry) instead of failing
//! to open it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many room databases are open, against the bound.
#[derive(Debug)]
pub struct OpenRooms {
    open: AtomicUsize,
    max: usize,
}

/// One open room database's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct OpenRoom(Arc<OpenRooms>);

impl OpenRooms {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(OpenRooms { open: AtomicUsize::new(0), max: max.max(1) })
    }

    /// A slot for one more open database, or `None` at the bound.
    pub fn try_open(self: &Arc<Self>) -> Option<OpenRoom> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max).then_some(n + 1))
            .ok()
            .map(|_| OpenRoom(Arc::clone(self)))
    }

    /// Past three quarters of the bound: rooms close their database after each batch.
    pub fn under_pressure(&self) -> bool {
        self.open.load(Ordering::Acquire) * 4 >= self.max * 3
    }

    pub fn count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

impl Drop for OpenRoom {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_freed_on_drop_and_pressure_starts_at_three_quarters() {
        let rooms = OpenRooms::new(4);
        let held: Vec<OpenRoom> = (0..3).map(|_| rooms.try_open().unwrap()).collect();
        assert!(rooms.under_pressure());
        let last = rooms.try_open().unwrap();
        assert!(rooms.try_open().is_none(), "at the bound");
        drop(last);
        assert_eq!(rooms.count(), 3);
        assert!(rooms.try_open().is_some());
        drop(held);
        assert_eq!(rooms.count(), 0);
        assert!(!rooms.under_pressure());
    }
}
