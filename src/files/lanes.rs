//! Two lanes of work over a file's chunks: while one lane waits for a read, a WebCrypto
//! operation or the network, the other keeps going, and two chunks are in flight to the
//! server. More lanes would not help: Chromium runs a page's WebCrypto operations on one
//! background thread, one after the other (measured in `file-bench`: AES-GCM and SHA-256
//! started together take the sum of their times). Hashing part of the chunks in wasm on
//! the page's thread instead was measured too, and gained nothing: the page's thread is
//! busy copying buffers in and out of WebCrypto.

use std::cell::Cell;
use std::future::Future;

/// The chunk indexes still to do, handed out in order to whichever lane asks.
pub struct Queue {
    items: Vec<u32>,
    next: Cell<usize>,
}

impl Queue {
    pub fn new(items: Vec<u32>) -> Self {
        Self { items, next: Cell::new(0) }
    }

    pub fn take(&self) -> Option<u32> {
        let at = self.next.get();
        self.next.set(at + 1);
        self.items.get(at).copied()
    }
}

/// Runs two copies of `lane` concurrently; the first error stops both.
pub async fn run<F, Fut, E>(lane: F) -> Result<(), E>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    futures::future::try_join(lane(), lane()).await.map(|_| ())
}
