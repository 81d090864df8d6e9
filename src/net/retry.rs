//! Retrying a request that failed for a reason that passes — the network dropped, the
//! server restarted, a proxy gave up, the server asked to slow down — so a file transfer
//! rides out a bad connection instead of failing at the first hiccup. Typed refusals
//! (a wrong hash, a spent token, an exhausted budget, …) are final and returned at once.
//! Only idempotent calls go through here: fetching, and storing a chunk (storing one twice
//! is free).

use std::time::Duration;

use protocol::error::ErrorBody;

/// Waits between attempts: 0.5 s doubling to 8 s, about 30 s in all before giving up.
const DELAYS_MS: [u64; 7] = [500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000];

/// What to tell the user when the connection did not come back in time.
pub const GAVE_UP: &str = "The connection dropped and did not come back within 30 seconds.";

/// Whether `e` may go away by itself ([`protocol::error::ErrorCode::is_transient`]).
pub fn is_transient(e: &ErrorBody) -> bool {
    e.code.is_transient()
}

/// How often a wait checks whether to stop.
const STOP_CHECK_MS: u64 = 250;

/// Runs `call` until it succeeds, fails for good, `stop()` says to stop (checked while
/// waiting too), or the delays run out (then the last error is returned, with
/// [`GAVE_UP`] in front of its message).
pub async fn with_retries<T, F, Fut>(stop: &dyn Fn() -> bool, call: F) -> Result<T, ErrorBody>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, ErrorBody>>,
{
    let mut delays = DELAYS_MS.iter();
    loop {
        match call().await {
            Err(e) if is_transient(&e) && !stop() => {
                let Some(&delay) = delays.next() else {
                    return Err(ErrorBody { message: format!("{GAVE_UP} ({})", e.message), ..e });
                };
                let mut waited = 0;
                while waited < delay {
                    if stop() {
                        return Err(e);
                    }
                    let step = STOP_CHECK_MS.min(delay - waited);
                    gloo_timers::future::sleep(Duration::from_millis(step)).await;
                    waited += step;
                }
            }
            outcome => return outcome,
        }
    }
}
