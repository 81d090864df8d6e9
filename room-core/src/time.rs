//! The room's clock: the host passes the current time with every event, as
//! [`UnixMicros`], and asks [`crate::Room::next_deadline`] when to call back.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A point in time: microseconds since the Unix epoch (UTC). Stored records keep the bare
/// number; this type is the host contract and the one place time is converted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMicros(pub u64);

impl UnixMicros {
    pub const fn from_millis(ms: u64) -> Self {
        UnixMicros(ms.saturating_mul(1000))
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole milliseconds (what signed requests and backups count in).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }

    /// `self + d`, saturating at the end of time.
    pub fn plus(self, d: Duration) -> Self {
        UnixMicros(self.0.saturating_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX)))
    }

    /// How long from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: UnixMicros) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_and_saturate() {
        assert_eq!(UnixMicros::from_millis(1_700_000_000_123).as_millis(), 1_700_000_000_123);
        assert_eq!(UnixMicros(1_999).as_millis(), 1);
        assert_eq!(UnixMicros(5).plus(Duration::from_secs(1)), UnixMicros(1_000_005));
        assert_eq!(UnixMicros(u64::MAX - 1).plus(Duration::from_secs(1)), UnixMicros(u64::MAX));
        assert_eq!(UnixMicros(10).since(UnixMicros(4)), Duration::from_micros(6));
        assert_eq!(UnixMicros(4).since(UnixMicros(10)), Duration::ZERO);
        assert_eq!(serde_json::to_string(&UnixMicros(7)).unwrap(), "7");
    }
}
