//! Reconnect delays: capped exponential backoff with full jitter, so a server that comes
//! back is not hit by every client at the same instant.

use std::time::Duration;

/// The first retry delay; it doubles per failed attempt up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The delay before attempt `failures + 1`: a point in `[d/2, d]` chosen by `jitter`
/// (in `[0, 1]`, from the driver's random source), `d = BASE·2^(failures−1)`, capped.
pub fn delay(failures: u32, jitter: f64) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << failures.saturating_sub(1).min(10));
    let capped = exp.min(MAX_BACKOFF);
    capped.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_cap_and_jitter_stays_in_its_half() {
        assert_eq!(delay(1, 1.0), BASE_BACKOFF);
        assert_eq!(delay(2, 1.0), BASE_BACKOFF * 2);
        assert_eq!(delay(1, 0.0), BASE_BACKOFF / 2);
        assert_eq!(delay(40, 1.0), MAX_BACKOFF);
        assert_eq!(delay(40, 7.0), MAX_BACKOFF, "jitter is clamped");
        assert!(delay(3, 0.5) > delay(3, 0.0) && delay(3, 0.5) < delay(3, 1.0));
    }
}
