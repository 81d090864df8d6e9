//! The rooms' own async runtime: a fixed pool of worker threads (`2 × cores`) that
//! multiplexes every room actor's task, apart from the runtime that drives sockets and
//! HTTP calls, plus a bounded blocking lane for the rare heavy batch (loading a room,
//! creating or restoring one).
//!
//! An ordinary batch (a few reads and one commit) runs right on a worker thread: handing
//! each batch to the blocking lane and back cost up to 17 % of throughput for one sender
//! with 100 receivers (docs/BENCHMARKS.md "Idle rooms"). Rooms compete only with rooms
//! here, a worker blocked in a commit's fsync leaves its queued rooms to the others
//! (work stealing), and the thread count does not grow with the number of rooms.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};

/// The runtime; shut down without waiting when dropped (also from async code).
pub struct RoomRuntime {
    runtime: Option<Runtime>,
}

impl RoomRuntime {
    /// `workers` threads for the actors' tasks, at most `lane` for their batches.
    pub fn start(workers: usize, lane: usize) -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .max_blocking_threads(lane.max(1))
            .thread_name("room")
            .enable_all()
            .build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(task);
        }
    }
}

impl Drop for RoomRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
