//! Storage tokens: one-use bearer tokens worth a number of bytes, issued out of a room's
//! budget (or minted offline) and spent to store objects or to fund a new room.
//!
//! Sizes are rounded *up* to buckets: at least [`MIN_TOKEN_BYTES`], then 8 steps per power
//! of two (3 significant bits), at most [`MAX_TOKEN_BYTES`]. All arithmetic is `u64`
//! (the original overflowed 32-bit shifts at 2 GiB). A token is 32 random bytes; the
//! ledger only ever stores its SHA-256 ([`token_hash`]).

use sha2::{Digest, Sha256};

use crate::encoding::{b64, unb64_array};
use crate::error::{ErrorBody, ErrorCode};

/// Smallest token.
pub const MIN_TOKEN_BYTES: u64 = 32 * 1024;
/// Largest token.
pub const MAX_TOKEN_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// Smallest token that can fund a new room.
pub const MIN_ROOM_FUNDING_BYTES: u64 = 32 * 1024 * 1024;

/// What a token may pay for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Anything: uploads, or a new room (tokens the owner issues, tokens minted offline).
    #[default]
    Any,
    /// File uploads only (tokens a room issues to its members): never a new room, so a
    /// member cannot carry the room's budget off into a room of its own.
    Uploads,
}

/// The ledger purpose of a token spent to fund a room (`room:<id>`).
pub const ROOM_PURPOSE_PREFIX: &str = "room:";

/// Rounds a requested size up to its bucket, or refuses it.
pub fn round_size(requested: u64) -> Result<u64, ErrorBody> {
    if requested == 0 || requested > MAX_TOKEN_BYTES {
        return Err(ErrorBody::new(ErrorCode::BadTokenSize, format!("a token is worth 1 to {MAX_TOKEN_BYTES} bytes"))
            .with_limit(MAX_TOKEN_BYTES));
    }
    let size = requested.max(MIN_TOKEN_BYTES);
    // 8 steps per power of two: in [2^k, 2^(k+1)) the step is 2^(k-3).
    let bits = 64 - size.leading_zeros();
    let step = 1u64 << (bits.saturating_sub(4));
    Ok(size.div_ceil(step) * step)
}

/// The ledger key of a token: base64url of its SHA-256.
pub fn token_hash(token: &[u8; 32]) -> String {
    b64(&Sha256::digest(token))
}

/// Parses a token as given by a client (base64url of 32 bytes).
pub fn parse_token(text: &str) -> Result<[u8; 32], ErrorBody> {
    unb64_array::<32>(text).map_err(|_| ErrorBody::new(ErrorCode::MalformedRequest, "a token is base64url of 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_up_with_three_significant_bits() {
        assert_eq!(round_size(1).unwrap(), MIN_TOKEN_BYTES);
        assert_eq!(round_size(MIN_TOKEN_BYTES).unwrap(), MIN_TOKEN_BYTES);
        assert_eq!(round_size(MIN_TOKEN_BYTES + 1).unwrap(), 36 * 1024);
        assert_eq!(round_size(1_000_000).unwrap(), 1_048_576);
        assert_eq!(round_size(1_048_577).unwrap(), 1_179_648);
        assert_eq!(round_size(MAX_TOKEN_BYTES).unwrap(), MAX_TOKEN_BYTES);
        assert_eq!(round_size(MAX_TOKEN_BYTES + 1).unwrap_err().code, ErrorCode::BadTokenSize);
        assert_eq!(round_size(0).unwrap_err().code, ErrorCode::BadTokenSize);
        for n in [5_000_u64, 70_000, 3_000_000, 999_999_999] {
            let r = round_size(n).unwrap();
            assert!(r >= n && r < n + n / 4 + MIN_TOKEN_BYTES, "{n} → {r}");
            assert_eq!(round_size(r).unwrap(), r, "buckets are fixed points");
        }
    }

    #[test]
    fn tokens_hash_and_parse() {
        let t = [7u8; 32];
        assert_eq!(parse_token(&b64(&t)).unwrap(), t);
        assert_eq!(token_hash(&t).len(), 43);
        assert!(parse_token("short").is_err());
    }
}
