//! Socket frames reach the room one at a time, in the order the object received them,
//! although each is verified across an await (WebCrypto), during which the object may
//! take its next event: a frame takes a [`Turn`] before its first await and works only
//! once every earlier turn is over.
//!
//! Only the turn whose time has come is woken (a busy room has hundreds of frames
//! waiting: waking them all at each step made every message cost a poll of each).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// The line of frames of one object.
#[derive(Default)]
pub struct InOrder {
    issued: Cell<u64>,
    /// The number whose turn it is.
    serving: Cell<u64>,
    /// Turns given up before they were served (skipped when reached).
    abandoned: RefCell<BTreeSet<u64>>,
    /// The waker of each turn waiting for its time, by number.
    waiting: RefCell<BTreeMap<u64, Waker>>,
}

impl InOrder {
    /// A place in the line, behind every turn taken before.
    pub fn take(&self) -> Turn<'_> {
        let number = self.issued.get();
        self.issued.set(number + 1);
        Turn { line: self, number }
    }

    fn advance(&self) {
        let mut next = self.serving.get() + 1;
        let mut abandoned = self.abandoned.borrow_mut();
        while abandoned.remove(&next) {
            next += 1;
        }
        self.serving.set(next);
        let waker = self.waiting.borrow_mut().remove(&next);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// One frame's place in the line; dropping it ends the turn (or gives it up).
pub struct Turn<'a> {
    line: &'a InOrder,
    number: u64,
}

impl Turn<'_> {
    /// Resolves when every earlier turn is over.
    pub async fn ready(&self) {
        poll_fn(|cx| {
            if self.line.serving.get() == self.number {
                Poll::Ready(())
            } else {
                self.line.waiting.borrow_mut().insert(self.number, cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if self.line.serving.get() == self.number {
            self.line.advance();
        } else {
            self.line.waiting.borrow_mut().remove(&self.number);
            self.line.abandoned.borrow_mut().insert(self.number);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::task::Context;

    fn is_ready(turn: &Turn<'_>) -> bool {
        let mut fut = pin!(turn.ready());
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready()
    }

    /// A waker that counts its wakes.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn a_finished_turn_wakes_only_the_next_one() {
        let line = InOrder::default();
        let first = line.take();
        let waiting: Vec<_> = (0..100).map(|_| line.take()).collect();
        let counters: Vec<_> =
            (0..100).map(|_| std::sync::Arc::new(Counting(std::sync::atomic::AtomicUsize::new(0)))).collect();
        let mut futures: Vec<_> = waiting.iter().map(|t| Box::pin(t.ready())).collect();
        for (fut, counter) in futures.iter_mut().zip(&counters) {
            let waker = Waker::from(counter.clone());
            assert!(fut.as_mut().poll(&mut Context::from_waker(&waker)).is_pending());
        }
        drop(first);
        let woken: Vec<usize> = counters.iter().map(|c| c.0.load(std::sync::atomic::Ordering::SeqCst)).collect();
        assert_eq!(woken[0], 1, "the next turn is woken");
        assert!(woken[1..].iter().all(|w| *w == 0), "no other turn is woken: {woken:?}");
    }

    #[test]
    fn turns_come_in_the_order_taken_and_given_up_ones_are_skipped() {
        let line = InOrder::default();
        let first = line.take();
        let second = line.take();
        let third = line.take();
        assert!(is_ready(&first));
        assert!(!is_ready(&second) && !is_ready(&third));
        drop(second); // given up while waiting
        assert!(!is_ready(&third));
        drop(first);
        assert!(is_ready(&third), "the given-up turn is skipped");
        drop(third);
        assert!(is_ready(&line.take()));
    }
}
