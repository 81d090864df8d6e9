//! Comparing a secret a request presents (the admin secret, an upload's verification
//! token) with the one the server holds, without telling a guesser anything by timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Compares secrets in time independent of where they differ and of their lengths: both
/// are hashed (SHA-256) and the fixed-size digests compared in constant time (`subtle`),
/// so neither an early exit nor a length check tells a guesser anything.
pub fn secrets_match(given: &str, expected: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(given.as_slice().ct_eq(expected.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_whole_secrets_of_any_length() {
        assert!(secrets_match("", ""));
        assert!(!secrets_match("secret", "secret2"));
        assert!(!secrets_match("secret2", "secret"));
        assert!(!secrets_match("secret", ""));
        assert!(!secrets_match("Secret", "secret"));
        let long = "s".repeat(100_000);
        assert!(secrets_match(&long, &long.clone()));
        assert!(!secrets_match(&long, &long[1..]));
    }
}
