//! Paying with a storage token: "spend it, do the paid thing, give it back if that did
//! not happen", as a small state machine. The calls out (the ledger's spend and refund,
//! exactly once by compare-and-set wherever the ledger lives) are steps the host performs
//! and feeds back, so every host runs the same rule, synchronously ([`run_sync`]) or
//! across awaits (driving [`Funded`] by hand).
//!
//! Used for room creation and restore (the token's value becomes the room's budget) and
//! for paying an upload in the document store.

use protocol::error::{ErrorBody, ErrorCode};
use protocol::ids::RoomId;
use protocol::storage_token::{MIN_ROOM_FUNDING_BYTES, ROOM_PURPOSE_PREFIX};

/// How something is paid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payment {
    /// Authorised by the host (the admin secret): this many bytes, nothing to spend.
    Granted { bytes: u64 },
    /// A storage token (by hash) worth at least `min_bytes`, spent for `purpose` (the
    /// ledger records it).
    Token { hash: String, min_bytes: u64, purpose: String },
}

impl Payment {
    /// A token paying for room `room` (at least [`MIN_ROOM_FUNDING_BYTES`]).
    pub fn room(room: &RoomId, hash: String) -> Self {
        Payment::Token { hash, min_bytes: MIN_ROOM_FUNDING_BYTES, purpose: format!("{ROOM_PURPOSE_PREFIX}{room}") }
    }

    /// A token paying `bytes` of storage for the file `file`.
    pub fn object(file: &str, hash: String, bytes: u64) -> Self {
        Payment::Token { hash, min_bytes: bytes, purpose: format!("object:{file}") }
    }
}

/// Whether the paid thing used the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    /// It did: the token stays spent.
    Yes,
    /// It was paid for already (a retried request): the token is given back.
    NotNeeded,
}

/// What the host must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// Spend the token, then call [`Funded::spent`] with its value.
    Spend { hash: &'a str, min_bytes: u64, purpose: &'a str },
    /// Do the paid thing with this many bytes, then call [`Funded::ran`].
    Run { budget: u64 },
    /// Give the token back, then call [`Funded::refunded`].
    Refund { hash: &'a str },
    /// Finished: take the answer with [`Funded::finish`].
    Done,
}

#[derive(Debug)]
enum State<T> {
    Spend,
    Run { budget: u64 },
    Refund(Result<T, ErrorBody>),
    Done(Result<T, ErrorBody>),
    Taken,
}

/// One payment in progress.
#[derive(Debug)]
pub struct Funded<T> {
    payment: Payment,
    state: State<T>,
    refund_failed: bool,
}

impl<T> Funded<T> {
    pub fn new(payment: Payment) -> Self {
        let state = match &payment {
            Payment::Granted { bytes } => State::Run { budget: *bytes },
            Payment::Token { .. } => State::Spend,
        };
        Funded { payment, state, refund_failed: false }
    }

    fn hash(&self) -> &str {
        match &self.payment {
            Payment::Token { hash, .. } => hash,
            Payment::Granted { .. } => "",
        }
    }

    pub fn step(&self) -> Step<'_> {
        match (&self.state, &self.payment) {
            (State::Spend, Payment::Token { hash, min_bytes, purpose }) => {
                Step::Spend { hash, min_bytes: *min_bytes, purpose }
            }
            (State::Run { budget }, _) => Step::Run { budget: *budget },
            (State::Refund(_), _) => Step::Refund { hash: self.hash() },
            _ => Step::Done,
        }
    }

    /// The ledger's answer to [`Step::Spend`]: the token's value, or why it cannot pay.
    pub fn spent(&mut self, value: Result<u64, ErrorBody>) {
        if matches!(self.state, State::Spend) {
            self.state = match value {
                Ok(budget) => State::Run { budget },
                Err(e) => State::Done(Err(e)),
            };
        }
    }

    /// The paid thing's result. A failure (or a payment it did not need) gives a spent
    /// token back.
    pub fn ran(&mut self, result: Result<(T, Used), ErrorBody>) {
        if !matches!(self.state, State::Run { .. }) {
            return;
        }
        let by_token = matches!(self.payment, Payment::Token { .. });
        self.state = match result {
            Ok((value, Used::NotNeeded)) if by_token => State::Refund(Ok(value)),
            Ok((value, _)) => State::Done(Ok(value)),
            Err(e) if by_token => State::Refund(Err(e)),
            Err(e) => State::Done(Err(e)),
        };
    }

    /// The ledger's answer to [`Step::Refund`]. The answer stays what the paid thing
    /// said; a failed refund only says so in the error (the token stays spent, the
    /// ledger's audit shows it) and in [`Funded::refund_failed`].
    pub fn refunded(&mut self, result: Result<(), ErrorBody>) {
        if !matches!(self.state, State::Refund(_)) {
            return;
        }
        let State::Refund(answer) = std::mem::replace(&mut self.state, State::Taken) else { return };
        self.refund_failed = result.is_err();
        self.state = State::Done(match (answer, result) {
            (Err(e), Err(_)) => Err(ErrorBody::new(
                e.code,
                format!("{}; the token could not be given back, ask the server's operator", e.message),
            )),
            (answer, _) => answer,
        });
    }

    /// Whether giving the token back failed (for the host's log).
    pub fn refund_failed(&self) -> bool {
        self.refund_failed
    }

    /// The answer, once [`Step::Done`].
    pub fn finish(&mut self) -> Result<T, ErrorBody> {
        match std::mem::replace(&mut self.state, State::Taken) {
            State::Done(answer) => answer,
            other => {
                self.state = other;
                Err(ErrorBody::new(ErrorCode::Internal, "the payment is not finished"))
            }
        }
    }
}

/// Drives a payment with synchronous calls out. `run` gets the budget and says whether
/// it used the payment.
pub fn run_sync<T>(
    payment: Payment,
    spend: impl FnOnce(&str, u64, &str) -> Result<u64, ErrorBody>,
    run: impl FnOnce(u64) -> Result<(T, Used), ErrorBody>,
    refund: impl FnOnce(&str) -> Result<(), ErrorBody>,
) -> (Result<T, ErrorBody>, bool) {
    let mut funded = Funded::new(payment);
    let (mut spend, mut run, mut refund) = (Some(spend), Some(run), Some(refund));
    loop {
        match funded.step() {
            Step::Spend { hash, min_bytes, purpose } => {
                let (hash, purpose) = (hash.to_owned(), purpose.to_owned());
                let value = spend.take().map_or_else(|| Err(again()), |f| f(&hash, min_bytes, &purpose));
                funded.spent(value);
            }
            Step::Run { budget } => {
                let result = run.take().map_or_else(|| Err(again()), |f| f(budget));
                funded.ran(result);
            }
            Step::Refund { hash } => {
                let hash = hash.to_owned();
                let result = refund.take().map_or_else(|| Err(again()), |f| f(&hash));
                funded.refunded(result);
            }
            Step::Done => return (funded.finish(), funded.refund_failed()),
        }
    }
}

fn again() -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, "a payment step ran twice")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn token() -> Payment {
        Payment::Token { hash: "h".into(), min_bytes: 10, purpose: "p".into() }
    }

    fn no(code: ErrorCode) -> ErrorBody {
        ErrorBody::new(code, "no")
    }

    /// Runs a payment and records the calls out.
    fn drive(
        payment: Payment,
        spend: Result<u64, ErrorBody>,
        run: Result<Used, ErrorBody>,
        refund: Result<(), ErrorBody>,
    ) -> (Result<u64, ErrorBody>, Vec<String>, bool) {
        let calls = RefCell::new(Vec::new());
        let (answer, refund_failed) = run_sync(
            payment,
            |h, min, p| {
                calls.borrow_mut().push(format!("spend {h} {min} {p}"));
                spend
            },
            |budget| {
                calls.borrow_mut().push(format!("run {budget}"));
                run.map(|u| (budget, u))
            },
            |h| {
                calls.borrow_mut().push(format!("refund {h}"));
                refund
            },
        );
        (answer, calls.into_inner(), refund_failed)
    }

    #[test]
    fn a_granted_payment_spends_nothing_and_never_refunds() {
        let (answer, calls, _) = drive(Payment::Granted { bytes: 7 }, Ok(0), Err(no(ErrorCode::BadState)), Ok(()));
        assert_eq!(answer.unwrap_err().code, ErrorCode::BadState);
        assert_eq!(calls, vec!["run 7"]);
    }

    #[test]
    fn a_token_that_cannot_pay_runs_nothing() {
        let (answer, calls, _) = drive(token(), Err(no(ErrorCode::TokenSpent)), Ok(Used::Yes), Ok(()));
        assert_eq!(answer.unwrap_err().code, ErrorCode::TokenSpent);
        assert_eq!(calls, vec!["spend h 10 p"]);
    }

    #[test]
    fn the_token_value_is_the_budget_and_stays_spent_on_success() {
        let (answer, calls, _) = drive(token(), Ok(64), Ok(Used::Yes), Ok(()));
        assert_eq!(answer, Ok(64));
        assert_eq!(calls, vec!["spend h 10 p", "run 64"]);
    }

    #[test]
    fn a_failure_or_an_unneeded_payment_gives_the_token_back() {
        let (answer, calls, failed) = drive(token(), Ok(64), Err(no(ErrorCode::BadState)), Ok(()));
        assert_eq!(answer.unwrap_err().code, ErrorCode::BadState);
        assert_eq!(calls, vec!["spend h 10 p", "run 64", "refund h"]);
        assert!(!failed);
        let (answer, calls, _) = drive(token(), Ok(64), Ok(Used::NotNeeded), Ok(()));
        assert_eq!(answer, Ok(64));
        assert_eq!(calls.last().map(String::as_str), Some("refund h"));
    }

    #[test]
    fn a_failed_refund_keeps_the_answer_and_says_so() {
        let (answer, _, failed) = drive(token(), Ok(64), Err(no(ErrorCode::BadState)), Err(no(ErrorCode::Internal)));
        let e = answer.unwrap_err();
        assert_eq!(e.code, ErrorCode::BadState);
        assert!(e.message.contains("could not be given back"), "{}", e.message);
        assert!(failed);
        let (answer, _, failed) = drive(token(), Ok(64), Ok(Used::NotNeeded), Err(no(ErrorCode::Internal)));
        assert_eq!(answer, Ok(64));
        assert!(failed);
    }

    #[test]
    fn steps_out_of_order_are_ignored() {
        let mut f: Funded<u64> = Funded::new(token());
        f.ran(Ok((1, Used::Yes)));
        f.refunded(Ok(()));
        assert!(matches!(f.step(), Step::Spend { .. }));
        assert_eq!(f.finish().unwrap_err().code, ErrorCode::Internal);
        assert!(matches!(f.step(), Step::Spend { .. }), "finish before done changes nothing");
    }
}
