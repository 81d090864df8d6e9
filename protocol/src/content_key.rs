//! The room content key: 32 random bytes created in the owner's browser.
//!
//! It reaches members only out of band, in the invite link's `#fragment` (which browsers
//! never send to servers), or wrapped to a member's public key. The server never sees it.

use std::fmt;

use crate::encoding::{b64, unb64_array};

/// An AES-256-GCM key shared by the members of a room (for one key epoch).
#[derive(Clone, PartialEq, Eq)]
pub struct ContentKey([u8; 32]);

/// A content key string that is not base64url of 32 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a content key (base64url of 32 bytes)")]
pub struct BadContentKey;

impl ContentKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The form used in invite links and local storage (43 characters).
    pub fn to_b64(&self) -> String {
        b64(&self.0)
    }

    pub fn parse(text: &str) -> Result<Self, BadContentKey> {
        unb64_array::<32>(text).map(Self).map_err(|_| BadContentKey)
    }
}

impl fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContentKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip_and_redaction() {
        let key = ContentKey::from_bytes([9; 32]);
        assert_eq!(ContentKey::parse(&key.to_b64()).unwrap(), key);
        assert_eq!(ContentKey::parse("abc"), Err(BadContentKey));
        assert!(!format!("{key:?}").contains(&key.to_b64()));
    }
}
