//! Per-connection state inside a room: waiting for the join answer, or joined with a
//! proven key and a rate-limit bucket.
//!
//! The state is serialisable so a host that is evicted while its sockets stay open (a
//! Durable Object with hibernated WebSockets) can keep each connection's state with the
//! socket and rebuild the room from KV_local and those snapshots
//! ([`crate::Room::connection_snapshot`], [`crate::Room::resume_connection`]).

use crate::time::UnixMicros;
use protocol::identity::PublicKey;
use serde::{Deserialize, Serialize};

/// The most bytes a connection snapshot may take (a Durable Object keeps at most 16 KiB
/// per socket; real snapshots are about 250 bytes).
pub const MAX_SNAPSHOT_BYTES: usize = 2048;

/// Format version of [`ConnSnapshot`].
pub const SNAPSHOT_VERSION: u32 = 1;

/// A connection's state as a host keeps it with the socket: JSON
/// `{"v":1,"state":{…}}`, at most [`MAX_SNAPSHOT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnSnapshot(pub Vec<u8>);

/// Why a snapshot cannot be resumed (the host closes that socket).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("the snapshot is {0} bytes; at most {MAX_SNAPSHOT_BYTES} are accepted")]
    TooLarge(usize),
    #[error("the snapshot is not a connection state: {0}")]
    Malformed(String),
    #[error("snapshot format {0} is not supported")]
    UnsupportedVersion(u32),
    #[error("the snapshot's key is no longer admitted to the room")]
    NotAdmitted,
    #[error("connection {0} already exists in the room")]
    AlreadyConnected(u64),
}

#[derive(Serialize, Deserialize)]
struct SnapshotJson {
    v: u32,
    state: ConnState,
}

impl ConnSnapshot {
    pub(crate) fn of(state: &ConnState) -> Self {
        let json = SnapshotJson { v: SNAPSHOT_VERSION, state: state.clone() };
        ConnSnapshot(serde_json::to_vec(&json).expect("connection states serialise"))
    }

    pub(crate) fn state(&self) -> Result<ConnState, SnapshotError> {
        if self.0.len() > MAX_SNAPSHOT_BYTES {
            return Err(SnapshotError::TooLarge(self.0.len()));
        }
        let json: SnapshotJson =
            serde_json::from_slice(&self.0).map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        if json.v != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(json.v));
        }
        Ok(json.state)
    }
}

/// A token bucket in micro-tokens, driven by the caller's clock (µs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenBucket {
    micro_tokens: u64,
    last_refill: u64,
    rate_per_second: u64,
    burst: u64,
}

const MICRO: u64 = 1_000_000;

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_second: u32, burst: u32, now: UnixMicros) -> Self {
        let burst = u64::from(burst.max(1));
        Self {
            micro_tokens: burst * MICRO,
            last_refill: now.as_micros(),
            rate_per_second: u64::from(rate_per_second),
            burst,
        }
    }

    /// Takes one token if available.
    pub fn try_take(&mut self, now: UnixMicros) -> bool {
        let now = now.as_micros();
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "s", rename_all = "snake_case")]
pub enum ConnState {
    /// Sent the challenge; waiting for `hello` until `deadline`.
    AwaitingHello { challenge: [u8; 32], deadline: UnixMicros },
    /// Proved possession of `key` and may read and write.
    Joined { key: PublicKey, bucket: TokenBucket },
    /// Proved possession of `key` but waits for the owner (locked room): gets nothing.
    Waiting { key: PublicKey },
    /// A fatal error was sent; further frames are ignored until the adapter closes it.
    Closing,
}

impl ConnState {
    /// When the room must act on this connection without an event (the join deadline).
    pub fn deadline(&self) -> Option<UnixMicros> {
        match self {
            ConnState::AwaitingHello { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }

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
        let mut b = TokenBucket::new(10, 3, UnixMicros(0));
        assert!(b.try_take(UnixMicros(0)) && b.try_take(UnixMicros(0)) && b.try_take(UnixMicros(0)));
        assert!(!b.try_take(UnixMicros(0)));
        assert!(!b.try_take(UnixMicros(50_000))); // half a token after 50 ms at 10/s
        assert!(b.try_take(UnixMicros(100_000)));
        assert!(!b.try_take(UnixMicros(100_000)));
        // Refill never exceeds the burst.
        assert!(
            b.try_take(UnixMicros(100_000_000))
                && b.try_take(UnixMicros(100_000_000))
                && b.try_take(UnixMicros(100_000_000))
        );
        assert!(!b.try_take(UnixMicros(100_000_000)));
    }

    #[test]
    fn every_state_survives_a_snapshot_and_stays_small() {
        let key = protocol::identity::IdentityKey::from_secret_bytes(&[3; 32]).unwrap().public_key();
        let mut bucket = TokenBucket::new(10, 20, UnixMicros(5));
        bucket.try_take(UnixMicros(7));
        for state in [
            ConnState::AwaitingHello { challenge: [255; 32], deadline: UnixMicros(u64::MAX) },
            ConnState::Joined { key, bucket },
            ConnState::Waiting { key },
            ConnState::Closing,
        ] {
            let snap = ConnSnapshot::of(&state);
            assert!(snap.0.len() <= 400, "{} bytes", snap.0.len());
            assert_eq!(snap.state(), Ok(state));
        }
    }

    #[test]
    fn a_bad_snapshot_is_refused_with_its_reason() {
        assert!(matches!(ConnSnapshot(b"{".to_vec()).state(), Err(SnapshotError::Malformed(_))));
        let other = br#"{"v":2,"state":{"s":"closing"}}"#.to_vec();
        assert_eq!(ConnSnapshot(other).state(), Err(SnapshotError::UnsupportedVersion(2)));
        let big = vec![b' '; MAX_SNAPSHOT_BYTES + 1];
        assert_eq!(ConnSnapshot(big).state(), Err(SnapshotError::TooLarge(MAX_SNAPSHOT_BYTES + 1)));
        let unknown = br#"{"v":1,"state":{"s":"admin"}}"#.to_vec();
        assert!(matches!(ConnSnapshot(unknown).state(), Err(SnapshotError::Malformed(_))));
    }
}
