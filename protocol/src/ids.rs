//! Identifiers and the key scheme.
//!
//! - A [`RoomId`] is derived from the owner's public key, so a room name can only ever
//!   belong to the holder of that key, on any server.
//! - A [`Timestamp`] is microseconds since the Unix epoch in a `u64` (good for about
//!   584,000 years, far past 2109). The room worker makes them strictly increasing.
//! - A [`MessageKey`] is `room id ‖ 16 lowercase hex digits of the timestamp`: fixed
//!   width, so byte order is time order and history, paging and "last message" are
//!   prefix listings.
//! - A [`ClientMessageId`] is chosen by the sender and lets the worker deduplicate resends.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

use crate::encoding::{b64, is_b64url_alphabet, unb64_array};
use crate::identity::PublicKey;
use crate::limits::MAX_CLIENT_ID_CHARS;

/// Domain separation for the room id hash.
const ROOM_ID_DOMAIN: &[u8] = b"cloakroom/v1/room-id\0";

/// Characters in a room id: base64url of a 32-byte SHA-256.
pub const ROOM_ID_CHARS: usize = 43;
/// Characters of the timestamp part of a message key.
pub const TIMESTAMP_CHARS: usize = 16;
/// Characters in a message key.
pub const MESSAGE_KEY_CHARS: usize = ROOM_ID_CHARS + TIMESTAMP_CHARS;

/// An id string that does not have the required shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: {why}")]
pub struct IdError {
    pub what: &'static str,
    pub why: &'static str,
}

/// A room's id: `base64url(SHA-256("cloakroom/v1/room-id\0" ‖ SEC1-uncompressed owner key))`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RoomId(String);

impl RoomId {
    /// The id of the room owned by `owner`.
    pub fn from_owner_key(owner: &PublicKey) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(ROOM_ID_DOMAIN);
        hasher.update(owner.to_sec1_uncompressed());
        RoomId(b64(&hasher.finalize()))
    }

    /// Parses and validates a room id (43 base64url characters of 32 bytes).
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bad = |why| IdError { what: "room id", why };
        if text.len() != ROOM_ID_CHARS {
            return Err(bad("must be 43 characters"));
        }
        unb64_array::<32>(text).map_err(|_| bad("must be base64url of 32 bytes"))?;
        Ok(RoomId(text.to_owned()))
    }

    /// True when this id is the one derived from `owner`.
    pub fn is_owned_by(&self, owner: &PublicKey) -> bool {
        *self == Self::from_owner_key(owner)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RoomId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RoomId::parse(&value)
    }
}

impl From<RoomId> for String {
    fn from(value: RoomId) -> Self {
        value.0
    }
}

/// Microseconds since the Unix epoch, as assigned by a room worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp to give the next message: the clock reading, unless that would not
    /// be strictly after `last` (clock went back, or two messages in one microsecond).
    pub fn next_after(last: Option<Timestamp>, now_micros: u64) -> Timestamp {
        match last {
            Some(Timestamp(last)) if now_micros <= last => Timestamp(last.saturating_add(1)),
            _ => Timestamp(now_micros),
        }
    }

    /// Milliseconds since the Unix epoch (for display).
    pub fn as_millis(self) -> u64 {
        self.0 / 1000
    }

    /// The fixed-width, sortable text form: 16 lowercase hex digits.
    pub fn to_key_part(self) -> String {
        format!("{:016x}", self.0)
    }

    fn parse_key_part(text: &str) -> Option<Timestamp> {
        if text.len() != TIMESTAMP_CHARS || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(Timestamp)
    }
}

/// The key of a stored message: `room id ‖ timestamp` (59 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MessageKey(String);

impl MessageKey {
    pub fn new(room: &RoomId, ts: Timestamp) -> Self {
        MessageKey(format!("{}{}", room.as_str(), ts.to_key_part()))
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bad = |why| IdError { what: "message key", why };
        if text.len() != MESSAGE_KEY_CHARS || !text.is_ascii() {
            return Err(bad("must be 59 characters"));
        }
        let (room, ts) = text.split_at(ROOM_ID_CHARS);
        RoomId::parse(room).map_err(|_| bad("must start with a room id"))?;
        Timestamp::parse_key_part(ts).ok_or_else(|| bad("must end with 16 lowercase hex digits"))?;
        Ok(MessageKey(text.to_owned()))
    }

    pub fn room(&self) -> RoomId {
        RoomId(self.0[..ROOM_ID_CHARS].to_owned())
    }

    pub fn timestamp(&self) -> Timestamp {
        Timestamp::parse_key_part(&self.0[ROOM_ID_CHARS..]).expect("validated at construction")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MessageKey {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        MessageKey::parse(&value)
    }
}

impl From<MessageKey> for String {
    fn from(value: MessageKey) -> Self {
        value.0
    }
}

/// The sender's id for one message, reused verbatim on every resend.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientMessageId(String);

impl ClientMessageId {
    /// A client id from 16 random bytes (22 base64url characters).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        ClientMessageId(b64(&bytes))
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bad = |why| IdError { what: "client message id", why };
        if text.is_empty() || text.len() > MAX_CLIENT_ID_CHARS {
            return Err(bad("must be 1 to 64 characters"));
        }
        if !is_b64url_alphabet(text) {
            return Err(bad("must use only A-Z a-z 0-9 - _"));
        }
        Ok(ClientMessageId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientMessageId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ClientMessageId::parse(&value)
    }
}

impl From<ClientMessageId> for String {
    fn from(value: ClientMessageId) -> Self {
        value.0
    }
}

impl fmt::Display for ClientMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKey;

    fn room() -> RoomId {
        RoomId::from_owner_key(&IdentityKey::from_secret_bytes(&[7; 32]).unwrap().public_key())
    }

    #[test]
    fn room_id_is_bound_to_the_owner_key() {
        let owner = IdentityKey::from_secret_bytes(&[7; 32]).unwrap().public_key();
        let other = IdentityKey::from_secret_bytes(&[8; 32]).unwrap().public_key();
        let id = RoomId::from_owner_key(&owner);
        assert_eq!(id.as_str().len(), ROOM_ID_CHARS);
        assert!(id.is_owned_by(&owner));
        assert!(!id.is_owned_by(&other));
        assert_eq!(RoomId::parse(id.as_str()).unwrap(), id);
        assert!(RoomId::parse("short").is_err());
        assert!(RoomId::parse(&"=".repeat(43)).is_err());
    }

    #[test]
    fn timestamps_strictly_increase_and_sort_as_text() {
        let a = Timestamp::next_after(None, 1_000);
        let b = Timestamp::next_after(Some(a), 1_000);
        let c = Timestamp::next_after(Some(b), 900);
        let d = Timestamp::next_after(Some(c), 5_000);
        assert!(a < b && b < c && c < d);
        assert_eq!(d, Timestamp(5_000));
        let keys: Vec<String> = [a, b, c, d].iter().map(|t| MessageKey::new(&room(), *t).to_string()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn the_key_format_outlives_2109() {
        // 2109-05-15 is where 42-bit milliseconds end; 2200-01-01 in microseconds:
        let year_2200_micros: u64 = 7_258_118_400 * 1_000_000;
        let k1 = MessageKey::new(&room(), Timestamp(year_2200_micros));
        let k2 = MessageKey::new(&room(), Timestamp(year_2200_micros + 1));
        assert!(k1 < k2);
        assert_eq!(k1.as_str().len(), MESSAGE_KEY_CHARS);
        assert_eq!(MessageKey::parse(k2.as_str()).unwrap().timestamp(), Timestamp(year_2200_micros + 1));
        let max = MessageKey::new(&room(), Timestamp(u64::MAX));
        assert_eq!(max.as_str().len(), MESSAGE_KEY_CHARS);
    }

    #[test]
    fn message_key_parse_rejects_bad_shapes() {
        let good = MessageKey::new(&room(), Timestamp(42));
        assert_eq!(MessageKey::parse(good.as_str()).unwrap(), good);
        assert_eq!(good.room(), room());
        let upper = good.as_str().to_uppercase();
        assert!(MessageKey::parse(&upper).is_err());
        assert!(MessageKey::parse(&good.as_str()[..58]).is_err());
        let mut bad_hex = good.to_string();
        bad_hex.replace_range(58.., "g");
        assert!(MessageKey::parse(&bad_hex).is_err());
    }

    #[test]
    fn client_ids() {
        assert!(ClientMessageId::parse("abc-_09").is_ok());
        assert!(ClientMessageId::parse("").is_err());
        assert!(ClientMessageId::parse(&"a".repeat(65)).is_err());
        assert!(ClientMessageId::parse("a b").is_err());
        assert_eq!(ClientMessageId::from_random([0; 16]).as_str().len(), 22);
    }
}
