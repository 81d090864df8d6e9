//! Safety numbers: digits two members compare out of band (in person, on a call) to check
//! that the key each browser holds for the other is the key the other really has.
//!
//! Like Signal's safety numbers, but per room identity (every member has one key per
//! room, so a number belongs to a pair of members *in one room*):
//!
//! - a member's **fingerprint** in a room is 30 digits: SHA-512 of
//!   [`transcript::safety_number`] (domain label, room id, the key's 65-byte SEC1 point),
//!   whose first 30 bytes are read as six 5-byte big-endian numbers, each taken modulo
//!   100 000 and written as 5 digits with leading zeros;
//! - the **safety number** of two members is both fingerprints, the smaller (as digit
//!   text) first: 60 digits, shown as 12 groups of 5, the same on both screens.
//!
//! 30 digits are about 99 bits, so making a key whose fingerprint equals a given one
//! takes about 2^99 hashes: no key stretching is needed (Signal's 5,200 iterations
//! protect shorter identifiers). A server that substitutes a key can choose the key but
//! not its fingerprint, so a mismatch on the two screens reveals it.

use sha2::{Digest, Sha512};

use crate::identity::PublicKey;
use crate::ids::RoomId;
use crate::transcript;

/// Digits in one member's fingerprint.
pub const FINGERPRINT_DIGITS: usize = 30;
/// Digits in a safety number (two fingerprints).
pub const SAFETY_NUMBER_DIGITS: usize = 2 * FINGERPRINT_DIGITS;

/// One member's 30-digit fingerprint in a room.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of `key` in `room`.
    pub fn of(room: &RoomId, key: &PublicKey) -> Self {
        let hash = Sha512::digest(transcript::safety_number(room, key));
        let digits = hash[..30]
            .chunks(5)
            .map(|chunk| {
                let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                format!("{:05}", n % 100_000)
            })
            .collect();
        Fingerprint(digits)
    }

    /// The 30 digits, without separators.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

/// The 60 digits two members of a room compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// The safety number of `a` and `b` in `room`; symmetric in `a` and `b`.
    pub fn of(room: &RoomId, a: &PublicKey, b: &PublicKey) -> Self {
        let (x, y) = (Fingerprint::of(room, a), Fingerprint::of(room, b));
        let (first, second) = if x <= y { (x, y) } else { (y, x) };
        SafetyNumber(format!("{}{}", first.0, second.0))
    }

    /// The 60 digits, without separators.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The 12 groups of 5 digits, as shown.
    pub fn groups(&self) -> Vec<&str> {
        (0..SAFETY_NUMBER_DIGITS / 5).map(|i| &self.0[i * 5..i * 5 + 5]).collect()
    }

    /// Whether `typed` (what the other member read out or sent, with any spaces, dashes
    /// or line breaks) is this number. Anything but digits and separators never matches.
    pub fn matches(&self, typed: &str) -> bool {
        let separator = |c: char| c.is_whitespace() || c == '-' || c == '.';
        if !typed.chars().all(|c| c.is_ascii_digit() || separator(c)) {
            return false;
        }
        let digits: String = typed.chars().filter(char::is_ascii_digit).collect();
        digits == self.0
    }
}

impl std::fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.groups().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::IdentityKey;

    fn key(seed: u8) -> PublicKey {
        IdentityKey::from_secret_bytes(&[seed; 32]).unwrap().public_key()
    }

    fn room() -> RoomId {
        RoomId::from_owner_key(&key(1))
    }

    #[test]
    fn both_members_see_the_same_sixty_digits() {
        let (a, b) = (key(2), key(3));
        let n = SafetyNumber::of(&room(), &a, &b);
        assert_eq!(n, SafetyNumber::of(&room(), &b, &a));
        assert_eq!(n.digits().len(), SAFETY_NUMBER_DIGITS);
        assert!(n.digits().chars().all(|c| c.is_ascii_digit()));
        assert_eq!(n.groups().len(), 12);
        assert_eq!(n.to_string().len(), 60 + 11);
    }

    #[test]
    fn another_key_or_another_room_changes_the_number() {
        let (a, b, c) = (key(2), key(3), key(4));
        let n = SafetyNumber::of(&room(), &a, &b);
        assert_ne!(n, SafetyNumber::of(&room(), &a, &c));
        let other_room = RoomId::from_owner_key(&key(9));
        assert_ne!(n, SafetyNumber::of(&other_room, &a, &b));
        assert_ne!(Fingerprint::of(&room(), &a), Fingerprint::of(&other_room, &a));
    }

    #[test]
    fn typed_numbers_match_with_separators_only() {
        let n = SafetyNumber::of(&room(), &key(2), &key(3));
        assert!(n.matches(&n.to_string()));
        assert!(n.matches(&format!("  {}\n", n.groups().join("-"))));
        assert!(n.matches(n.digits()));
        let mut wrong = n.digits().to_owned();
        let last = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(59..60, last);
        assert!(!n.matches(&wrong));
        assert!(!n.matches(&n.digits()[..59]));
        assert!(!n.matches(&format!("{}0", n.digits())));
        assert!(!n.matches(""));
        // Other digits (Arabic-Indic) or letters never match, even if they look alike.
        assert!(!n.matches(&format!("{}x", n.digits())));
        assert!(!n.matches(&format!("١{}", &n.digits()[1..])));
    }

    #[test]
    fn each_group_is_five_digits_with_leading_zeros() {
        // Over many keys, some group starts with 0: the padding is kept.
        let padded =
            (10..60u8).any(|s| SafetyNumber::of(&room(), &key(2), &key(s)).groups().iter().any(|g| g.starts_with('0')));
        assert!(padded);
    }
}
