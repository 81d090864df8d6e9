//! Socket frames reach the room one at a time, in the order the object received them,
//! although each is verified across an await (WebCrypto), during which the object may
//! take its next event: a frame takes a [`Turn`] before its first await and works only
//! once every earlier turn is over.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
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
    waiting: RefCell<Vec<Waker>>,
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
        for waker in self.waiting.borrow_mut().drain(..) {
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
                self.line.waiting.borrow_mut().push(cx.waker().clone());
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
