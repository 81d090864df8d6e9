//! Per-connection state inside a room: waiting for the join answer, or joined with a
//! proven key and a rate-limit bucket.

use protocol::identity::PublicKey;

/// A token bucket in micro-tokens, driven by the caller's clock (µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBucket {
    micro_tokens: u64,
    last_refill: u64,
    rate_per_second: u64,
    burst: u64,
}

const MICRO: u64 = 1_000_000;

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_second: u32, burst: u32, now: u64) -> Self {
        let burst = u64::from(burst.max(1));
        Self { micro_tokens: burst * MICRO, last_refill: now, rate_per_second: u64::from(rate_per_second), burst }
    }

    /// Takes one token if available.
    pub fn try_take(&mut self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last_refill);
        self.last_refill = self.last_refill.max(now);
        let refill = elapsed.saturating_mul(self.rate_per_second);
        self.micro_tokens = self.micro_tokens.saturating_add(refill).min(self.burst * MICRO);
        if self.micro_tokens >= MICRO {
            self.micro_tokens -= MICRO;
            true
        } else {
            false
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone)]
pub enum ConnState {
    /// Sent the challenge; waiting for `hello` until `deadline` (µs).
    AwaitingHello { challenge: [u8; 32], deadline: u64 },
    /// Proved possession of `key` and may read and write.
    Joined { key: PublicKey, bucket: TokenBucket },
    /// Proved possession of `key` but waits for the owner (locked room): gets nothing.
    Waiting { key: PublicKey },
    /// A fatal error was sent; further frames are ignored until the adapter closes it.
    Closing,
}

impl ConnState {
    /// The key this connection proved, if it did.
    pub fn key(&self) -> Option<&PublicKey> {
        match self {
            ConnState::Joined { key, .. } | ConnState::Waiting { key } => Some(key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let mut b = TokenBucket::new(10, 3, 0);
        assert!(b.try_take(0) && b.try_take(0) && b.try_take(0));
        assert!(!b.try_take(0));
        assert!(!b.try_take(50_000)); // half a token after 50 ms at 10/s
        assert!(b.try_take(100_000));
        assert!(!b.try_take(100_000));
        // Refill never exceeds the burst.
        assert!(b.try_take(100_000_000) && b.try_take(100_000_000) && b.try_take(100_000_000));
        assert!(!b.try_take(100_000_000));
    }
}
