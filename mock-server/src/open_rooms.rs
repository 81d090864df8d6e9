//! The bound on room databases open at once, so a burst across many rooms cannot exhaust
//! file descriptors (each open room database holds three: file, WAL, shm), kept as a
//! least-recently-used set.
//!
//! A room holds an [`OpenRoom`] while its database is open, marked busy while a batch runs.
//! A room that needs a slot at the bound asks the least recently used room that is not
//! busy to close its database ([`OpenRoom::eviction`] wakes it) and waits for the slot, up
//! to the configured wait; only when every open database stays busy for that long does it
//! answer `unavailable` (clients retry). Below the bound a room keeps its database until
//! it has been quiet for its quiet time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How many room databases are open, which ones, and how recently each was used.
#[derive(Debug)]
pub struct OpenRooms {
    max: usize,
    slots: Mutex<HashMap<u64, Slot>>,
    next_id: AtomicU64,
    /// A slot was freed.
    freed: Notify,
}

#[derive(Debug)]
struct Slot {
    last_used: Instant,
    busy: bool,
    /// Already asked to close (a waiter asks each room once).
    asked: bool,
    evict: Arc<Notify>,
}

/// One open room database's slot; dropping it frees the slot.
#[derive(Debug)]
pub struct OpenRoom {
    rooms: Arc<OpenRooms>,
    id: u64,
    evict: Arc<Notify>,
}

impl OpenRooms {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(OpenRooms {
            max: max.max(1),
            slots: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            freed: Notify::new(),
        })
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<u64, Slot>> {
        // A panic while holding this lock leaves the map consistent (every update is a
        // single insert, remove or field write), so a poisoned lock is still usable.
        self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for one more open database (busy, as its batch is about to run), or `None`
    /// at the bound.
    pub fn try_open(self: &Arc<Self>) -> Option<OpenRoom> {
        let mut slots = self.slots();
        if slots.len() >= self.max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        slots.insert(id, Slot { last_used: Instant::now(), busy: true, asked: false, evict: Arc::clone(&evict) });
        Some(OpenRoom { rooms: Arc::clone(self), id, evict })
    }

    /// A slot, asking least recently used idle rooms to close their database while at
    /// the bound, and waiting up to `wait` for one to free; `None` if none did.
    pub async fn acquire(self: &Arc<Self>, wait: Duration) -> Option<OpenRoom> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.try_open() {
                return Some(slot);
            }
            self.evict_least_recently_used();
            // A freed slot wakes one waiter; the short poll covers a wake-up that went to
            // a waiter which had already given up.
            let poll = tokio::time::Instant::now() + Duration::from_millis(50);
            if tokio::time::timeout_at(deadline.min(poll), freed).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return self.try_open();
            }
        }
    }

    /// Asks the least recently used room that is neither busy nor already asked to close
    /// its database.
    fn evict_least_recently_used(&self) {
        let mut slots = self.slots();
        if let Some(victim) = slots.values_mut().filter(|s| !s.busy && !s.asked).min_by_key(|s| s.last_used) {
            victim.asked = true;
            victim.evict.notify_one();
        }
    }

    pub fn count(&self) -> usize {
        self.slots().len()
    }

    pub fn max(&self) -> usize {
        self.max
    }
}

impl OpenRoom {
    /// The room's batch starts (its database will not be taken from it meanwhile).
    pub fn set_busy(&self) {
        if let Some(slot) = self.rooms.slots().get_mut(&self.id) {
            slot.busy = true;
        }
    }

    /// The room's batch is done: it was used now and may be asked to close.
    pub fn set_idle(&self) {
        if let Some(slot) = self.rooms.slots().get_mut(&self.id) {
            (slot.busy, slot.last_used) = (false, Instant::now());
        }
    }

    /// Notified when a room waiting for a slot asks this one to close its database (a
    /// request made before anyone waits is kept for the next wait).
    pub fn eviction(&self) -> Arc<Notify> {
        Arc::clone(&self.evict)
    }
}

impl Drop for OpenRoom {
    fn drop(&mut self) {
        self.rooms.slots().remove(&self.id);
        self.rooms.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_freed_on_drop() {
        let rooms = OpenRooms::new(4);
        let held: Vec<OpenRoom> = (0..3).map(|_| rooms.try_open().unwrap()).collect();
        let last = rooms.try_open().unwrap();
        assert!(rooms.try_open().is_none(), "at the bound");
        drop(last);
        assert_eq!(rooms.count(), 3);
        assert!(rooms.try_open().is_some());
        drop(held);
        assert_eq!(rooms.count(), 0);
    }

    #[tokio::test]
    async fn at_the_bound_the_least_recently_used_idle_room_is_asked_to_close() {
        let rooms = OpenRooms::new(3);
        let slots: Vec<OpenRoom> = (0..3).map(|_| rooms.try_open().unwrap()).collect();
        // Used in the order 1, 0; slot 2 stays busy (mid-batch).
        slots[1].set_idle();
        std::thread::sleep(Duration::from_millis(2));
        slots[0].set_idle();
        let waiter = {
            let rooms = Arc::clone(&rooms);
            tokio::spawn(async move { rooms.acquire(Duration::from_secs(5)).await })
        };
        // Slot 1 (least recently used, idle) is asked, not 0 or the busy 2.
        tokio::time::timeout(Duration::from_secs(1), slots[1].eviction().notified())
            .await
            .expect("slot 1 asked to close");
        let mut slots = slots;
        drop(slots.remove(1));
        let got = waiter.await.unwrap();
        assert!(got.is_some(), "the waiter got the freed slot");
        assert_eq!(rooms.count(), 3);
    }

    #[tokio::test]
    async fn when_every_open_database_stays_busy_the_waiter_gives_up_after_its_wait() {
        let rooms = OpenRooms::new(2);
        let _busy: Vec<OpenRoom> = (0..2).map(|_| rooms.try_open().unwrap()).collect();
        let start = tokio::time::Instant::now();
        assert!(rooms.acquire(Duration::from_millis(200)).await.is_none());
        assert!(start.elapsed() >= Duration::from_millis(200));
    }
}
