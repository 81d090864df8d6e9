//! Signed HTTP requests: how the owner (and, in locked rooms, members) authenticate API
//! calls with their per-room identity key. No shared secret can forge one.
//!
//! The signature covers method, path, query string, SHA-256 of the body, a timestamp in
//! milliseconds and a random nonce ([`crate::transcript::signed_request`]). The server
//! accepts a request within ±[`MAX_CLOCK_SKEW_MS`] of its clock, and each nonce once.
//! The four values travel in headers.

use sha2::{Digest, Sha256};

use crate::encoding::{b64, is_b64url_alphabet};
use crate::error::{ErrorBody, ErrorCode};
use crate::identity::{IdentityKey, PublicKey, Signature};
use crate::transcript;

/// Header carrying the signer's public key.
pub const HEADER_KEY: &str = "x-cloakroom-key";
/// Header carrying the request time, milliseconds since the Unix epoch.
pub const HEADER_TIMESTAMP: &str = "x-cloakroom-timestamp";
/// Header carrying a fresh random nonce (base64url, 16–64 characters).
pub const HEADER_NONCE: &str = "x-cloakroom-nonce";
/// Header carrying the signature.
pub const HEADER_SIGNATURE: &str = "x-cloakroom-signature";

/// How far a request's timestamp may be from the server's clock.
pub const MAX_CLOCK_SKEW_MS: u64 = 60_000;

/// What a signed request is about (everything the signature covers but the auth itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestTarget {
    pub method: String,
    pub path: String,
    /// The raw query string without `?` (empty when none).
    pub query: String,
    pub body_sha256: [u8; 32],
}

impl RequestTarget {
    pub fn new(method: &str, path: &str, query: &str, body: &[u8]) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: query.to_owned(),
            body_sha256: Sha256::digest(body).into(),
        }
    }
}

/// The authentication part of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestAuth {
    pub key: PublicKey,
    pub timestamp_ms: u64,
    pub nonce: String,
    pub sig: Signature,
}

impl RequestAuth {
    /// Signs `target` as `identity` at `timestamp_ms` with a fresh random `nonce`.
    pub fn sign(identity: &IdentityKey, target: &RequestTarget, timestamp_ms: u64, nonce: [u8; 16]) -> Self {
        let nonce = b64(&nonce);
        let sig = identity.sign(&Self::transcript_of(target, timestamp_ms, &nonce));
        Self { key: identity.public_key(), timestamp_ms, nonce, sig }
    }

    fn transcript_of(target: &RequestTarget, timestamp_ms: u64, nonce: &str) -> Vec<u8> {
        transcript::signed_request(
            &target.method,
            &target.path,
            &target.query,
            &target.body_sha256,
            timestamp_ms,
            nonce,
        )
    }

    /// The bytes the signature must cover for `target`.
    pub fn transcript(&self, target: &RequestTarget) -> Vec<u8> {
        Self::transcript_of(target, self.timestamp_ms, &self.nonce)
    }

    /// The four headers, as (name, value).
    pub fn headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_KEY, self.key.to_b64()),
            (HEADER_TIMESTAMP, self.timestamp_ms.to_string()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.sig.to_b64()),
        ]
    }

    /// Reads the headers (`header(name)` returns a header's value); `Ok(None)` when the
    /// request carries no signature at all.
    pub fn from_headers(header: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ErrorBody> {
        let (Some(key), Some(ts), Some(nonce), Some(sig)) =
            (header(HEADER_KEY), header(HEADER_TIMESTAMP), header(HEADER_NONCE), header(HEADER_SIGNATURE))
        else {
            return if [HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE].iter().any(|h| header(h).is_some())
            {
                Err(ErrorBody::new(ErrorCode::Unauthorized, "a signed request needs all four x-cloakroom-* headers"))
            } else {
                Ok(None)
            };
        };
        let bad = |what: &str| ErrorBody::new(ErrorCode::Unauthorized, format!("invalid {what} header"));
        let key = PublicKey::parse(&key).map_err(|_| bad(HEADER_KEY))?;
        let timestamp_ms = ts.parse().map_err(|_| bad(HEADER_TIMESTAMP))?;
        if !(16..=64).contains(&nonce.len()) || !is_b64url_alphabet(&nonce) {
            return Err(bad(HEADER_NONCE));
        }
        let sig = Signature::parse(&sig).map_err(|_| bad(HEADER_SIGNATURE))?;
        Ok(Some(Self { key, timestamp_ms, nonce, sig }))
    }

    /// Checks the timestamp against the server's clock.
    pub fn check_freshness(&self, now_ms: u64) -> Result<(), ErrorBody> {
        if self.timestamp_ms.abs_diff(now_ms) > MAX_CLOCK_SKEW_MS {
            return Err(ErrorBody::new(
                ErrorCode::StaleRequest,
                format!("the request time is more than {} s from the server's clock", MAX_CLOCK_SKEW_MS / 1000),
            )
            .with_limit(MAX_CLOCK_SKEW_MS));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip_through_headers() {
        let id = IdentityKey::from_secret_bytes(&[2; 32]).unwrap();
        let target = RequestTarget::new("put", "/api/rooms/x/owner/motd", "", b"{\"motd\":\"hi\"}");
        let auth = RequestAuth::sign(&id, &target, 1_000_000, [5; 16]);
        let headers = auth.headers();
        let parsed = RequestAuth::from_headers(|h| headers.iter().find(|(n, _)| *n == h).map(|(_, v)| v.clone()))
            .unwrap()
            .unwrap();
        assert_eq!(parsed, auth);
        assert!(parsed.key.verify(&parsed.transcript(&target), &parsed.sig).is_ok());
        let tampered = RequestTarget::new("PUT", "/api/rooms/x/owner/motd", "", b"{\"motd\":\"HI\"}");
        assert!(parsed.key.verify(&parsed.transcript(&tampered), &parsed.sig).is_err());
        assert!(parsed.check_freshness(1_000_000 + MAX_CLOCK_SKEW_MS).is_ok());
        assert_eq!(
            parsed.check_freshness(1_000_000 + MAX_CLOCK_SKEW_MS + 1).unwrap_err().code,
            ErrorCode::StaleRequest
        );
        assert_eq!(RequestAuth::from_headers(|_| None).unwrap(), None);
        let partial = RequestAuth::from_headers(|h| (h == HEADER_KEY).then(|| id.public_key().to_b64()));
        assert_eq!(partial.unwrap_err().code, ErrorCode::Unauthorized);
    }
}
