//! Text encodings: every binary value on the wire is unpadded base64url (RFC 4648 §5).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A base64url string that does not decode, or decodes to the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not valid unpadded base64url")]
    NotBase64,
    #[error("expected {expected} bytes, got {actual}")]
    WrongLength { expected: usize, actual: usize },
}

/// Encodes bytes as unpadded base64url.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url of any length.
pub fn unb64(text: &str) -> Result<Vec<u8>, DecodeError> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| DecodeError::NotBase64)
}

/// Decodes unpadded base64url that must hold exactly `N` bytes.
pub fn unb64_array<const N: usize>(text: &str) -> Result<[u8; N], DecodeError> {
    let bytes = unb64(text)?;
    let actual = bytes.len();
    bytes.try_into().map_err(|_| DecodeError::WrongLength { expected: N, actual })
}

/// True when `text` only uses the base64url alphabet (no padding).
pub fn is_b64url_alphabet(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_length_check() {
        let text = b64(&[1, 2, 3, 250]);
        assert_eq!(unb64(&text).unwrap(), vec![1, 2, 3, 250]);
        assert_eq!(unb64_array::<4>(&text).unwrap(), [1, 2, 3, 250]);
        assert_eq!(unb64_array::<5>(&text), Err(DecodeError::WrongLength { expected: 5, actual: 4 }));
        assert_eq!(unb64("a+b="), Err(DecodeError::NotBase64));
        assert!(is_b64url_alphabet("aZ09-_"));
        assert!(!is_b64url_alphabet("a=b"));
    }
}
