//! WebCrypto (SubtleCrypto) where it is much faster than Rust compiled to wasm: ECDSA
//! P-256 verification of messages (with imported keys cached per sender), AES-GCM for
//! message bodies and file chunks, SHA-256 for file chunks, and the export file's PBKDF2
//! (figures in docs/BENCHMARKS.md). All produce exactly what `protocol` computes natively
//! (checked by the shared test vectors in the browser tests).
//!
//! It takes `crypto.subtle` from the JS global, so the same code runs in the SPA (a
//! window), in a worker, and in the edge's Durable Objects (workerd), where the room
//! verifies every incoming message with it.
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Array, Object, Reflect, Uint8Array};
use protocol::envelope::{self, Envelope, MessageBody, OpenError};
use protocol::identity::PublicKey;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// WebCrypto failed (unavailable, or an unexpected error).
#[derive(Debug, Clone)]
pub struct WebCryptoError(pub String);

impl std::fmt::Display for WebCryptoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebCrypto: {}", self.0)
    }
}

fn js_err(e: JsValue) -> WebCryptoError {
    WebCryptoError(e.as_string().or_else(|| js_sys::JSON::stringify(&e).ok().map(String::from)).unwrap_or_default())
}

/// `crypto.subtle` of whichever global this runs in (window, worker or workerd).
fn subtle() -> Result<SubtleCrypto, WebCryptoError> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto")).map_err(js_err)?;
    if crypto.is_undefined() {
        return Err(WebCryptoError("this runtime has no crypto object".into()));
    }
    Ok(crypto.unchecked_into::<web_sys::Crypto>().subtle())
}

fn object(pairs: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

fn bytes(data: &[u8]) -> Uint8Array {
    Uint8Array::from(data)
}

thread_local! {
    /// Imported verification keys by sender (importing costs more than verifying).
    static VERIFY_KEYS: RefCell<HashMap<String, CryptoKey>> = RefCell::new(HashMap::new());
}

async fn verify_key(subtle: &SubtleCrypto, key: &PublicKey) -> Result<CryptoKey, WebCryptoError> {
    let id = key.to_b64();
    if let Some(k) = VERIFY_KEYS.with(|m| m.borrow().get(&id).cloned()) {
        return Ok(k);
    }
    let algorithm = object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())]);
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = subtle
        .import_key_with_object("raw", &bytes(&key.to_sec1_uncompressed()), &algorithm, false, &usages)
        .map_err(js_err)?;
    let imported: CryptoKey = JsFuture::from(promise).await.map_err(js_err)?.unchecked_into();
    VERIFY_KEYS.with(|m| m.borrow_mut().insert(id, imported.clone()));
    Ok(imported)
}

/// Verifies an ECDSA P-256 / SHA-256 signature (64-byte `r ‖ s`, WebCrypto's format).
/// A high-S signature is refused here, before WebCrypto (which accepts both forms) sees
/// it, like every other verifier of the protocol.
pub async fn verify(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> Result<bool, WebCryptoError> {
    if !protocol::identity::Signature(*signature).is_low_s() {
        return Ok(false);
    }
    let subtle = subtle()?;
    let crypto_key = verify_key(&subtle, key).await?;
    let algorithm = object(&[("name", "ECDSA".into()), ("hash", "SHA-256".into())]);
    let promise = subtle
        .verify_with_object_and_buffer_source_and_buffer_source(
            &algorithm,
            &crypto_key,
            &bytes(signature),
            &bytes(message),
        )
        .map_err(js_err)?;
    Ok(JsFuture::from(promise).await.map_err(js_err)?.as_bool().unwrap_or(false))
}

/// Verifies a message's sender signature.
pub async fn verify_envelope(env: &Envelope) -> Result<bool, WebCryptoError> {
    verify(&env.sender, &env.signature_transcript(), &env.sig.0).await
}

/// PBKDF2-HMAC-SHA256 → 32 bytes (the keys file's key derivation).
pub async fn pbkdf2(passphrase: &str, salt: &[u8], iterations: u32) -> Result<[u8; 32], WebCryptoError> {
    let subtle = subtle()?;
    let usages = Array::of1(&JsValue::from_str("deriveBits"));
    let promise =
        subtle.import_key_with_str("raw", &bytes(passphrase.as_bytes()), "PBKDF2", false, &usages).map_err(js_err)?;
    let base: CryptoKey = JsFuture::from(promise).await.map_err(js_err)?.unchecked_into();
    let params = object(&[
        ("name", "PBKDF2".into()),
        ("hash", "SHA-256".into()),
        ("salt", bytes(salt).into()),
        ("iterations", JsValue::from(iterations)),
    ]);
    let promise = subtle.derive_bits_with_object(&params, &base, 256).map_err(js_err)?;
    let buffer = JsFuture::from(promise).await.map_err(js_err)?;
    let out = Uint8Array::new(&buffer).to_vec();
    out.try_into().map_err(|_| WebCryptoError("PBKDF2 returned the wrong length".into()))
}

/// Imports a 32-byte AES-GCM key (not extractable) for encrypting and decrypting chunks.
pub async fn aes_key(key: &[u8; 32]) -> Result<CryptoKey, WebCryptoError> {
    let subtle = subtle()?;
    let usages = Array::of2(&JsValue::from_str("encrypt"), &JsValue::from_str("decrypt"));
    let promise = subtle.import_key_with_str("raw", &bytes(key), "AES-GCM", false, &usages).map_err(js_err)?;
    Ok(JsFuture::from(promise).await.map_err(js_err)?.unchecked_into())
}

fn gcm_params(iv: &[u8; 12], aad: &[u8]) -> Object {
    object(&[("name", "AES-GCM".into()), ("iv", bytes(iv).into()), ("additionalData", bytes(aad).into())])
}

/// AES-256-GCM encryption (ciphertext ‖ 16-byte tag, like `aes-gcm`).
pub async fn aes_gcm_encrypt(
    key: &CryptoKey,
    iv: &[u8; 12],
    aad: &[u8],
    data: &Uint8Array,
) -> Result<Uint8Array, WebCryptoError> {
    let promise = subtle()?.encrypt_with_object_and_buffer_source(&gcm_params(iv, aad), key, data).map_err(js_err)?;
    Ok(Uint8Array::new(&JsFuture::from(promise).await.map_err(js_err)?))
}

/// AES-256-GCM decryption; `Ok(None)` when the tag does not verify (damaged data: the
/// `OperationError` WebCrypto rejects with), `Err` when WebCrypto failed otherwise.
pub async fn aes_gcm_decrypt(
    key: &CryptoKey,
    iv: &[u8; 12],
    aad: &[u8],
    data: &Uint8Array,
) -> Result<Option<Uint8Array>, WebCryptoError> {
    let promise = subtle()?.decrypt_with_object_and_buffer_source(&gcm_params(iv, aad), key, data).map_err(js_err)?;
    match JsFuture::from(promise).await {
        Ok(buffer) => Ok(Some(Uint8Array::new(&buffer))),
        Err(e) if e.dyn_ref::<web_sys::DomException>().is_some_and(|d| d.name() == "OperationError") => Ok(None),
        Err(e) => Err(js_err(e)),
    }
}

/// Decrypts a message body with WebCrypto AES-GCM under `key` (an [`aes_key`]) and parses
/// it; the inner `Err` when the envelope does not open (damaged, wrong key, bad body).
pub async fn decrypt_envelope(
    key: &CryptoKey,
    env: &Envelope,
) -> Result<Result<MessageBody, OpenError>, WebCryptoError> {
    let iv = match envelope::nonce_of(env) {
        Ok(iv) => iv,
        Err(e) => return Ok(Err(e)),
    };
    Ok(match aes_gcm_decrypt(key, &iv, &env.aad(), &bytes(&env.ct.0)).await? {
        Some(plain) => envelope::body_of(&plain.to_vec()),
        None => Err(OpenError::DecryptFailed),
    })
}

/// SHA-256 of a buffer.
pub async fn sha256(data: &Uint8Array) -> Result<[u8; 32], WebCryptoError> {
    let promise = subtle()?.digest_with_str_and_buffer_source("SHA-256", data).map_err(js_err)?;
    let out = Uint8Array::new(&JsFuture::from(promise).await.map_err(js_err)?).to_vec();
    out.try_into().map_err(|_| WebCryptoError("SHA-256 returned the wrong length".into()))
}
