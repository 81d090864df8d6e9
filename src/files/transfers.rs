//! The running uploads and downloads, as one reactive list the views show: bytes done,
//! speed, time left, and a cancel flag the pipelines check between chunks.

use std::cell::RefCell;
use std::collections::HashSet;

use leptos::prelude::*;

/// How a transfer ended (or that it has not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferStatus {
    /// Reading the file to derive its keys.
    Preparing,
    Running,
    Done,
    Failed(String),
    Cancelled,
}

/// One transfer, for the views.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub id: u64,
    pub name: String,
    pub upload: bool,
    pub total: u64,
    pub done: u64,
    pub started_ms: f64,
    pub status: TransferStatus,
}

impl Transfer {
    /// Bytes per second so far.
    pub fn speed(&self) -> f64 {
        let secs = ((js_sys::Date::now() - self.started_ms) / 1000.0).max(0.001);
        self.done as f64 / secs
    }

    /// Seconds left at the current speed.
    pub fn remaining_secs(&self) -> Option<f64> {
        let speed = self.speed();
        (speed > 0.0 && self.done > 0).then(|| (self.total.saturating_sub(self.done)) as f64 / speed)
    }
}

/// How long a finished transfer stays in the list, in ms.
pub const FADE_MS: u64 = 5_000;

/// Every transfer of this tab, and how many have completed (ever, in this tab).
#[derive(Clone, Copy)]
pub struct Transfers(pub RwSignal<Vec<Transfer>>, pub RwSignal<u32>);

thread_local! {
    static CANCELLED: RefCell<HashSet<u64>> = RefCell::new(HashSet::new());
    static NEXT: RefCell<u64> = const { RefCell::new(1) };
}

/// Provides the list to every view.
pub fn provide() {
    provide_context(Transfers(RwSignal::new(Vec::new()), RwSignal::new(0)));
}

pub fn use_transfers() -> Transfers {
    expect_context::<Transfers>()
}

/// A pipeline's handle on its own entry.
#[derive(Clone, Copy)]
pub struct TransferHandle {
    id: u64,
    list: Transfers,
}

impl Transfers {
    /// Adds a transfer of `total` bytes (`name` is shown as `safe_file_name` makes it).
    pub fn start(&self, name: &str, upload: bool, total: u64) -> TransferHandle {
        let name = protocol::names::safe_file_name(name);
        let id = NEXT.with(|n| {
            let mut n = n.borrow_mut();
            *n += 1;
            *n
        });
        let status = if upload { TransferStatus::Preparing } else { TransferStatus::Running };
        let t = Transfer { id, name, upload, total, done: 0, started_ms: js_sys::Date::now(), status };
        self.0.update(|l| l.push(t));
        TransferHandle { id, list: *self }
    }

    /// Asks a transfer to stop after its current chunk.
    pub fn cancel(&self, id: u64) {
        CANCELLED.with(|c| c.borrow_mut().insert(id));
    }

    /// Removes finished transfers from the list.
    pub fn clear_finished(&self) {
        self.0.update(|l| l.retain(|t| matches!(t.status, TransferStatus::Preparing | TransferStatus::Running)));
    }
}

fn status_done(list: &Transfers, id: u64) -> bool {
    list.0.with_untracked(|l| l.iter().any(|t| t.id == id && t.status == TransferStatus::Done))
}

impl TransferHandle {
    fn update(&self, change: impl FnOnce(&mut Transfer)) {
        self.list.0.update(|l| {
            if let Some(t) = l.iter_mut().find(|t| t.id == self.id) {
                change(t);
            }
        });
    }

    /// The bytes done so far (and that the work is under way).
    pub fn progress(&self, done: u64) {
        self.update(|t| {
            if t.status == TransferStatus::Preparing {
                t.started_ms = js_sys::Date::now();
            }
            t.status = TransferStatus::Running;
            t.done = done;
        });
    }

    /// Bytes read while preparing (hashing) the file.
    pub fn preparing(&self, done: u64) {
        self.update(|t| t.done = done);
    }

    /// Ends the transfer. Finished and cancelled ones leave the list after a few seconds;
    /// failed ones stay (with their reason) until cleared.
    pub fn finish(&self, status: TransferStatus) {
        CANCELLED.with(|c| c.borrow_mut().remove(&self.id));
        let fades = matches!(status, TransferStatus::Done | TransferStatus::Cancelled);
        self.update(|t| {
            if status == TransferStatus::Done {
                t.done = t.total;
            }
            t.status = status;
        });
        if status_done(&self.list, self.id) {
            self.list.1.update(|n| *n += 1);
        }
        if fades {
            let (id, list) = (self.id, self.list);
            leptos::task::spawn_local(async move {
                gloo_timers::future::sleep(std::time::Duration::from_millis(FADE_MS)).await;
                let _ = list.0.try_update(|l| l.retain(|t| t.id != id));
            });
        }
    }

    /// True once the user cancelled it.
    pub fn cancelled(&self) -> bool {
        CANCELLED.with(|c| c.borrow().contains(&self.id))
    }
}
