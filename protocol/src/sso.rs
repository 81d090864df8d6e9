//! SSO room authorisations: anonymous, one-use tokens that an organisation's single
//! sign-on ("the SSO") signs blind, and a worker accepts in place of the admin secret or a
//! storage token when a room is created (`docs/SSO.md`).
//!
//! * The **token** is an RSA blind signature (RFC 9474, RSABSSA-SHA384-PSS-Randomized,
//!   the `blind-rsa-signatures` crate) over
//!   `"cloakroom/v1/sso-token\0" ‖ key_id (32 bytes) ‖ nonce (32 bytes)`. The browser picks
//!   the nonce and blinds it; the SSO signs without seeing it; the worker checks an ordinary
//!   RSA-PSS signature. Nobody can link the signing to the spending.
//! * The **key set** lists the issuance keys an offline root key (P-256, the CLI's) vouches
//!   for, each with a validity window, a denomination and a cap on redemptions. The browser
//!   blinds only to keys in a set signed by the root key the worker names, and the worker
//!   accepts only those, so an SSO cannot tag a person with a key of their own.
//! * A token is **spent** by its [`SsoToken::spent_id`] (SHA-256 of the signed input), in
//!   the same ledger as storage tokens, exactly once.

use blind_rsa_signatures::{
    BlindSignature, BlindingResult, DefaultRng, MessageRandomizer, PublicKeySha384PSSRandomized, Secret,
    SecretKeySha384PSSRandomized, Signature as RsaSignature,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{b64, unb64, unb64_array};
use crate::error::{ErrorBody, ErrorCode};
use crate::identity::{IdentityKey, PublicKey, Signature};
use crate::storage_token::MIN_ROOM_FUNDING_BYTES;

/// Prefix of every token's signed input.
pub const TOKEN_LABEL: &[u8] = b"cloakroom/v1/sso-token\0";
/// Prefix of the root key's signature transcript over a key set.
pub const KEYSET_SIGNATURE_LABEL: &[u8] = b"cloakroom/v1/sso-keyset\0";
/// The `format` of a key set document.
pub const KEYSET_FORMAT: &str = "cloakroom-sso-keyset";
/// The one signature scheme issuance keys use.
pub const TOKEN_ALG: &str = "RSABSSA-SHA384-PSS-Randomized";
/// Issuance keys are RSA keys of exactly this many bits.
pub const ISSUANCE_KEY_BITS: usize = 2048;
/// Bytes of an issuance signature (and of a blinded message).
pub const SIGNATURE_BYTES: usize = ISSUANCE_KEY_BITS / 8;
/// Most keys one key set may list.
pub const MAX_KEYSET_KEYS: usize = 32;
/// Most tokens one issuance request may ask for.
pub const MAX_TOKENS_PER_ISSUE: usize = 50;
/// Largest key set document a worker or browser reads.
pub const MAX_KEYSET_BYTES: usize = 64 * 1024;

type IssuerPublic = PublicKeySha384PSSRandomized;
type IssuerSecret = SecretKeySha384PSSRandomized;

/// Why a key set, a token or an issuance step is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsoError {
    #[error("the key set is malformed: {0}")]
    BadKeyset(String),
    #[error("the key set is not signed by this server's SSO root key")]
    KeysetSignature,
    #[error("the issuance key is malformed: {0}")]
    BadKey(String),
    #[error("the SSO's signature does not verify: it was not made with the key the set lists")]
    BadIssuance,
    #[error("malformed token: {0}")]
    Malformed(String),
}

impl From<SsoError> for ErrorBody {
    fn from(e: SsoError) -> Self {
        let code = match e {
            SsoError::Malformed(_) => ErrorCode::MalformedRequest,
            SsoError::BadIssuance => ErrorCode::BadSignature,
            _ => ErrorCode::BadState,
        };
        ErrorBody::new(code, e.to_string())
    }
}

/// What a token pays for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenominationKind {
    /// A new room with this many bytes of storage budget.
    Room,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denomination {
    pub kind: DenominationKind,
    pub bytes: u64,
}

/// One issuance key the root key vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoKey {
    /// base64url SHA-256 of `spki`.
    pub key_id: String,
    /// base64url DER SubjectPublicKeyInfo of the RSA issuance key.
    pub spki: String,
    /// Always [`TOKEN_ALG`].
    pub alg: String,
    pub denomination: Denomination,
    /// Validity window, ms since the Unix epoch: `not_before ≤ now < not_after`.
    pub not_before: u64,
    pub not_after: u64,
    /// Most rooms tokens of this key may pay for, over its whole life.
    pub max_redemptions: u64,
}

impl SsoKey {
    fn public(&self) -> Result<IssuerPublic, SsoError> {
        let spki = unb64(&self.spki).map_err(|e| SsoError::BadKey(e.to_string()))?;
        let key = IssuerPublic::from_spki(&spki).map_err(|e| SsoError::BadKey(e.to_string()))?;
        if key.components().n().len() != SIGNATURE_BYTES {
            return Err(SsoError::BadKey(format!("issuance keys are RSA-{ISSUANCE_KEY_BITS}")));
        }
        Ok(key)
    }

    fn key_id_bytes(&self) -> Result<[u8; 32], SsoError> {
        unb64_array::<32>(&self.key_id).map_err(|e| SsoError::BadKey(format!("key_id: {e}")))
    }

    /// Whether `now_ms` is inside the key's validity window.
    pub fn is_valid_at(&self, now_ms: u64) -> bool {
        self.not_before <= now_ms && now_ms < self.not_after
    }

    fn check(&self) -> Result<(), SsoError> {
        if self.alg != TOKEN_ALG {
            return Err(SsoError::BadKey(format!("unknown algorithm {:?}", self.alg)));
        }
        let spki = unb64(&self.spki).map_err(|e| SsoError::BadKey(e.to_string()))?;
        if self.key_id_bytes()? != <[u8; 32]>::from(Sha256::digest(&spki)) {
            return Err(SsoError::BadKey("key_id is not the SHA-256 of the key".into()));
        }
        self.public()?;
        if self.not_before >= self.not_after {
            return Err(SsoError::BadKey("the validity window is empty".into()));
        }
        if self.denomination.bytes < MIN_ROOM_FUNDING_BYTES {
            return Err(SsoError::BadKey(format!(
                "a room token must be worth at least {MIN_ROOM_FUNDING_BYTES} bytes"
            )));
        }
        Ok(())
    }
}

/// The key set: every issuance key currently vouched for, signed by the offline root key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoKeyset {
    /// Always [`KEYSET_FORMAT`].
    pub format: String,
    /// Always 1.
    pub v: u32,
    pub keys: Vec<SsoKey>,
    /// ms since the Unix epoch.
    pub issued_at: u64,
    /// base64url P-256 ECDSA signature by the root key over [`SsoKeyset::transcript`].
    pub sig: String,
}

#[derive(Serialize)]
struct KeysetBody<'a> {
    format: &'a str,
    v: u32,
    keys: &'a [SsoKey],
    issued_at: u64,
}

impl SsoKeyset {
    /// A key set of `keys`, signed by `root`.
    pub fn sign(root: &IdentityKey, keys: Vec<SsoKey>, issued_at: u64) -> Self {
        let mut set = SsoKeyset { format: KEYSET_FORMAT.into(), v: 1, keys, issued_at, sig: String::new() };
        set.sig = root.sign(&set.transcript()).to_b64();
        set
    }

    /// `KEYSET_SIGNATURE_LABEL ‖ SHA-256(JSON of every field but sig, in declaration order)`.
    pub fn transcript(&self) -> Vec<u8> {
        let body = KeysetBody { format: &self.format, v: self.v, keys: &self.keys, issued_at: self.issued_at };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        [KEYSET_SIGNATURE_LABEL, Sha256::digest(&json).as_slice()].concat()
    }

    /// Parses a key set document and checks it against `root`: the format, every key
    /// well formed (its id is the hash of its key, RSA-2048, a window, a denomination),
    /// and the root's signature.
    pub fn parse_verified(bytes: &[u8], root: &PublicKey) -> Result<Self, SsoError> {
        if bytes.len() > MAX_KEYSET_BYTES {
            return Err(SsoError::BadKeyset(format!("larger than {MAX_KEYSET_BYTES} bytes")));
        }
        let set: SsoKeyset = serde_json::from_slice(bytes).map_err(|e| SsoError::BadKeyset(e.to_string()))?;
        set.verify(root)?;
        Ok(set)
    }

    /// See [`SsoKeyset::parse_verified`].
    pub fn verify(&self, root: &PublicKey) -> Result<(), SsoError> {
        if self.format != KEYSET_FORMAT || self.v != 1 {
            return Err(SsoError::BadKeyset(format!("not a {KEYSET_FORMAT} v1 document")));
        }
        if self.keys.len() > MAX_KEYSET_KEYS {
            return Err(SsoError::BadKeyset(format!("more than {MAX_KEYSET_KEYS} keys")));
        }
        let sig = Signature::parse(&self.sig).map_err(|_| SsoError::KeysetSignature)?;
        root.verify(&self.transcript(), &sig).map_err(|_| SsoError::KeysetSignature)?;
        for (i, key) in self.keys.iter().enumerate() {
            key.check().map_err(|e| SsoError::BadKeyset(format!("key {i}: {e}")))?;
            if self.keys[..i].iter().any(|k| k.key_id == key.key_id) {
                return Err(SsoError::BadKeyset(format!("key {i} is listed twice")));
            }
        }
        Ok(())
    }

    /// The key a token names, if it may be spent at `now_ms`: `token_unknown` for a key
    /// the set does not list, `token_expired` outside its window.
    pub fn usable_key(&self, key_id: &str, now_ms: u64) -> Result<&SsoKey, ErrorBody> {
        let key = self.keys.iter().find(|k| k.key_id == key_id).ok_or_else(unknown_token)?;
        if !key.is_valid_at(now_ms) {
            return Err(ErrorBody::new(
                ErrorCode::TokenExpired,
                "this SSO token's key has expired or is not valid yet; sign in again for new ones",
            ));
        }
        Ok(key)
    }

    /// The key to blind new room tokens to at `now_ms`: of the valid room keys, the one
    /// that became valid last (a new period's key takes over as soon as it starts).
    pub fn current_key(&self, now_ms: u64) -> Option<&SsoKey> {
        self.keys
            .iter()
            .filter(|k| k.denomination.kind == DenominationKind::Room && k.is_valid_at(now_ms))
            .max_by_key(|k| k.not_before)
    }
}

fn unknown_token() -> ErrorBody {
    ErrorBody::new(ErrorCode::TokenUnknown, "this is not an SSO token this server accepts")
}

/// A finished token, as the browser keeps it and spends it (`CreateAuthorization::SsoToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoToken {
    pub key_id: String,
    /// base64url, 32 bytes the browser drew.
    pub nonce: String,
    /// base64url, 32 bytes: RFC 9474's message randomizer.
    pub randomizer: String,
    /// base64url RSA-PSS signature, [`SIGNATURE_BYTES`] long.
    pub sig: String,
}

/// A token as the browser keeps it (and as the keys export file carries it): with the
/// end of its key's window, so expired ones can be dropped without the key set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptToken {
    pub token: SsoToken,
    /// ms since the Unix epoch.
    pub not_after: u64,
}

/// The signed input of a token.
pub fn token_input(key_id: &[u8; 32], nonce: &[u8; 32]) -> Vec<u8> {
    [TOKEN_LABEL, key_id.as_slice(), nonce.as_slice()].concat()
}

impl SsoToken {
    fn input(&self) -> Result<Vec<u8>, SsoError> {
        let key_id = unb64_array::<32>(&self.key_id).map_err(|e| SsoError::Malformed(format!("key_id: {e}")))?;
        let nonce = unb64_array::<32>(&self.nonce).map_err(|e| SsoError::Malformed(format!("nonce: {e}")))?;
        Ok(token_input(&key_id, &nonce))
    }

    /// The id the ledger spends it under: base64url SHA-256 of the signed input.
    pub fn spent_id(&self) -> Result<String, SsoError> {
        Ok(b64(&Sha256::digest(self.input()?)))
    }

    /// Checks the token against `keyset` at `now_ms` and returns its key: well formed
    /// (`malformed_request`), a listed key (`token_unknown`), inside its window
    /// (`token_expired`) and a valid signature (`token_unknown`, as for an unknown key: a
    /// forger learns nothing from the difference).
    pub fn verify<'a>(&self, keyset: &'a SsoKeyset, now_ms: u64) -> Result<&'a SsoKey, ErrorBody> {
        let input = self.input()?;
        let randomizer =
            unb64_array::<32>(&self.randomizer).map_err(|e| SsoError::Malformed(format!("randomizer: {e}")))?;
        let sig = unb64(&self.sig).map_err(|e| SsoError::Malformed(format!("sig: {e}")))?;
        if sig.len() != SIGNATURE_BYTES {
            return Err(SsoError::Malformed(format!("sig must be {SIGNATURE_BYTES} bytes")).into());
        }
        let key = keyset.usable_key(&self.key_id, now_ms)?;
        let public = key.public().map_err(|_| unknown_token())?;
        public.verify(&RsaSignature(sig), Some(MessageRandomizer(randomizer)), &input).map_err(|_| unknown_token())?;
        Ok(key)
    }
}

/// A token being issued: what the browser keeps between blinding and finishing.
#[derive(Debug, Clone)]
pub struct PendingToken {
    key_id: [u8; 32],
    nonce: [u8; 32],
    blinding: BlindingResult,
}

impl PendingToken {
    /// Blinds a new token to `key` with the browser's `nonce` (32 random bytes).
    pub fn blind(key: &SsoKey, nonce: [u8; 32]) -> Result<Self, SsoError> {
        let public = key.public()?;
        let key_id = key.key_id_bytes()?;
        let blinding =
            public.blind(&mut DefaultRng, token_input(&key_id, &nonce)).map_err(|e| SsoError::BadKey(e.to_string()))?;
        Ok(PendingToken { key_id, nonce, blinding })
    }

    /// What goes to the SSO (base64url): all it ever sees of the token.
    pub fn blinded(&self) -> String {
        b64(&self.blinding.blind_message)
    }

    /// Unblinds the SSO's answer into a token, checking it against `key`
    /// (`BadIssuance` when the SSO signed with anything else).
    pub fn finish(&self, key: &SsoKey, blind_sig: &str) -> Result<SsoToken, SsoError> {
        let public = key.public()?;
        if key.key_id_bytes()? != self.key_id {
            return Err(SsoError::BadIssuance);
        }
        let blind_sig = unb64(blind_sig).map_err(|e| SsoError::Malformed(format!("blind signature: {e}")))?;
        let sig = public
            .finalize(&BlindSignature(blind_sig), &self.blinding, token_input(&self.key_id, &self.nonce))
            .map_err(|_| SsoError::BadIssuance)?;
        let randomizer = self.blinding.msg_randomizer.ok_or(SsoError::BadIssuance)?;
        Ok(SsoToken {
            key_id: b64(&self.key_id),
            nonce: b64(&self.nonce),
            randomizer: b64(&randomizer.0),
            sig: b64(&sig),
        })
    }

    /// The blinding secret, for tests that check it never leaves the browser.
    pub fn secret(&self) -> &Secret {
        &self.blinding.secret
    }

    /// The form the browser keeps while the person signs in at the SSO (session storage
    /// of this tab: the blinding secret never leaves the browser).
    pub fn save(&self) -> SavedPending {
        SavedPending {
            key_id: b64(&self.key_id),
            nonce: b64(&self.nonce),
            secret: b64(&self.blinding.secret),
            randomizer: self.blinding.msg_randomizer.map(|r| b64(&r.0)).unwrap_or_default(),
            blinded: self.blinded(),
        }
    }

    pub fn restore(saved: &SavedPending) -> Result<Self, SsoError> {
        let bad = |what: &str| SsoError::Malformed(format!("saved token: {what}"));
        Ok(PendingToken {
            key_id: unb64_array::<32>(&saved.key_id).map_err(|_| bad("key_id"))?,
            nonce: unb64_array::<32>(&saved.nonce).map_err(|_| bad("nonce"))?,
            blinding: BlindingResult {
                blind_message: blind_rsa_signatures::BlindMessage(unb64(&saved.blinded).map_err(|_| bad("blinded"))?),
                secret: Secret(unb64(&saved.secret).map_err(|_| bad("secret"))?),
                msg_randomizer: Some(MessageRandomizer(
                    unb64_array::<32>(&saved.randomizer).map_err(|_| bad("randomizer"))?,
                )),
            },
        })
    }
}

/// [`PendingToken::save`]'s form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPending {
    pub key_id: String,
    pub nonce: String,
    pub secret: String,
    pub randomizer: String,
    pub blinded: String,
}

/// An issuance key's private half (the SSO holds it; the CLI makes it).
#[derive(Debug, Clone)]
pub struct IssuerKey {
    secret: IssuerSecret,
    public: IssuerPublic,
}

impl IssuerKey {
    /// A new RSA-2048 issuance key (slow: seconds; the offline CLI does it).
    pub fn generate() -> Result<Self, SsoError> {
        let pair = blind_rsa_signatures::KeyPairSha384PSSRandomized::generate(&mut DefaultRng, ISSUANCE_KEY_BITS)
            .map_err(|e| SsoError::BadKey(e.to_string()))?;
        Ok(IssuerKey { secret: pair.sk, public: pair.pk })
    }

    pub fn from_pem(pem: &str) -> Result<Self, SsoError> {
        let secret = IssuerSecret::from_pem(pem).map_err(|e| SsoError::BadKey(e.to_string()))?;
        let public = secret.public_key().map_err(|e| SsoError::BadKey(e.to_string()))?;
        if public.components().n().len() != SIGNATURE_BYTES {
            return Err(SsoError::BadKey(format!("issuance keys are RSA-{ISSUANCE_KEY_BITS}")));
        }
        Ok(IssuerKey { secret, public })
    }

    pub fn to_pem(&self) -> Result<String, SsoError> {
        self.secret.to_pem().map_err(|e| SsoError::BadKey(e.to_string()))
    }

    /// The key set entry for this key.
    pub fn describe(
        &self,
        denomination: Denomination,
        not_before: u64,
        not_after: u64,
        max_redemptions: u64,
    ) -> Result<SsoKey, SsoError> {
        let spki = self.public.to_spki().map_err(|e| SsoError::BadKey(e.to_string()))?;
        Ok(SsoKey {
            key_id: b64(&Sha256::digest(&spki)),
            spki: b64(&spki),
            alg: TOKEN_ALG.into(),
            denomination,
            not_before,
            not_after,
            max_redemptions,
        })
    }

    /// base64url SHA-256 of the public key's SPKI.
    pub fn key_id(&self) -> Result<String, SsoError> {
        let spki = self.public.to_spki().map_err(|e| SsoError::BadKey(e.to_string()))?;
        Ok(b64(&Sha256::digest(&spki)))
    }

    /// Signs one blinded message (base64url in and out).
    pub fn blind_sign(&self, blinded: &str) -> Result<String, SsoError> {
        let blinded = unb64(blinded).map_err(|e| SsoError::Malformed(format!("blinded: {e}")))?;
        if blinded.len() != SIGNATURE_BYTES {
            return Err(SsoError::Malformed(format!("a blinded message is {SIGNATURE_BYTES} bytes")));
        }
        self.secret.blind_sign(&blinded).map(|s| b64(&s)).map_err(|e| SsoError::Malformed(e.to_string()))
    }
}

/// `POST <sso>/issue` (with `Authorization: Bearer <grant>`): blinded token messages for
/// the key `key_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    pub key_id: String,
    pub blinded: Vec<String>,
}

/// The SSO's answer: one blind signature per blinded message, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueResponse {
    pub sigs: Vec<String>,
}

/// What `/api/info` says about the SSO a worker accepts tokens from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoInfo {
    /// The SSO's origin (`https://sso.example.org`): where "Sign in" goes.
    pub origin: String,
    /// What the sign-in button calls it ("Example Corp").
    pub name: String,
    /// The root key the key set must be signed by.
    pub root_key: PublicKey,
}

#[cfg(test)]
mod tests;
