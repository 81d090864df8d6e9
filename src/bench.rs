//! In-page benchmarks the `file-bench` binary runs in headless Chromium: the file
//! pipeline (both passes of an upload, without the network) against raw WebCrypto AES-GCM
//! over the same buffer, and opening a page of chat messages with the pure-Rust AES-GCM
//! the client uses against WebCrypto. Exposed to JavaScript as
//! `window.wasmBindings.benchFilePipeline` and `window.wasmBindings.benchMessageCrypto`.

use wasm_bindgen::prelude::*;

use protocol::envelope::Content;
use protocol::ids::RoomId;

use crate::crypto::{self, Outgoing, webcrypto};
use crate::files::source::Source;
use crate::files::upload::{self, Watch};

fn now() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or_else(js_sys::Date::now)
}

fn js(e: impl std::fmt::Display) -> JsValue {
    JsValue::from_str(&e.to_string())
}

/// Both passes of the pipeline over `source`: (hash pass ms, seal pass ms).
async fn pipeline(source: &Source, padded: u64) -> Result<(f64, f64), JsValue> {
    let t0 = now();
    let keys = upload::content_keys(source, padded, &Watch::NONE).await.map_err(js)?;
    let t1 = now();
    let all = (0..protocol::objects::chunk_count(padded)).collect();
    upload::seal_chunks(source, padded, &keys, all, &Watch::NONE, |_, _, _| async { Ok(()) }).await.map_err(js)?;
    Ok((t1 - t0, now() - t1))
}

/// Times, on one random `mib` MiB buffer, the best of `rounds` runs of: raw WebCrypto
/// AES-256-GCM over the whole buffer in one call; raw WebCrypto SHA-256 likewise; the
/// pipeline over the same buffer (hash pass, then per-chunk encrypt + SHA-256 naming);
/// and the pipeline over the buffer as a Blob (as a picked file is read). Returns JSON
/// text with the best time of each (ms; totals are the best whole runs).
#[wasm_bindgen(js_name = benchFilePipeline)]
pub async fn bench_file_pipeline(mib: u32, rounds: u32) -> Result<String, JsValue> {
    let len = mib * 1024 * 1024;
    let buffer = js_sys::Uint8Array::new_with_length(len);
    let crypto = web_sys::window().ok_or("no window")?.crypto()?;
    for at in (0..len).step_by(65_536) {
        crypto.get_random_values_with_array_buffer_view(&buffer.subarray(at, (at + 65_536).min(len)))?;
    }
    let blob = web_sys::Blob::new_with_u8_array_sequence(&js_sys::Array::of1(&buffer))?;
    let padded = protocol::objects::padded_size(u64::from(len)).ok_or("too large")?;
    let in_memory = Source::buffer(buffer.clone());
    let mut best = [f64::MAX; 8];
    for _ in 0..rounds.max(1) {
        let t0 = now();
        let key = webcrypto::aes_key(&[7; 32]).await.map_err(js)?;
        webcrypto::aes_gcm_encrypt(&key, &[1; 12], &[], &buffer).await.map_err(js)?;
        let t1 = now();
        webcrypto::sha256(&buffer).await.map_err(js)?;
        let t2 = now();
        let (hash, seal) = pipeline(&in_memory, padded).await?;
        // A fresh source each round, as each upload reads its file anew.
        let (blob_hash, blob_seal) = pipeline(&Source::blob(blob.clone()), padded).await?;
        let times = [t1 - t0, t2 - t1, hash, seal, hash + seal, blob_hash, blob_seal, blob_hash + blob_seal];
        for (slot, value) in best.iter_mut().zip(times) {
            *slot = slot.min(value);
        }
    }
    let [raw, sha, hash, seal, total, blob_hash, blob_seal, blob_total] = best;
    Ok(serde_json::json!({
        "mib": mib, "raw_aes_ms": raw, "raw_sha_ms": sha,
        "hash_ms": hash, "seal_ms": seal, "pipeline_ms": total,
        "blob_hash_ms": blob_hash, "blob_seal_ms": blob_seal, "blob_pipeline_ms": blob_total,
    })
    .to_string())
}

/// Times opening `count` sealed messages of `text_bytes` characters each, best of
/// `rounds`: decrypting them with the pure-Rust AES-GCM the client uses
/// (`crypto::decrypt`, body parsed), with WebCrypto one after the other and with WebCrypto
/// all at once (body parsed likewise); and, for scale, verifying their signatures with
/// WebCrypto all at once (what the client does first). Returns JSON text (ms).
#[wasm_bindgen(js_name = benchMessageCrypto)]
pub async fn bench_message_crypto(count: u32, text_bytes: u32, rounds: u32) -> Result<String, JsValue> {
    let identity = crypto::new_identity();
    let room = RoomId::from_owner_key(&identity.public_key());
    let key = crypto::new_content_key();
    let content = Content::text("x".repeat(text_bytes as usize));
    let out = Outgoing { room: &room, identity: &identity, alias: "Bench", content: &content, epoch: 0, to: None };
    let envelopes: Vec<_> = (0..count).map(|_| crypto::seal(&out, &key, &crypto::new_client_id())).collect();
    let web_key = webcrypto::aes_key(key.as_bytes()).await.map_err(js)?;
    let web_open = |env: &protocol::envelope::Envelope| {
        let (web_key, iv, aad, ct) =
            (&web_key, env.iv.0.clone(), env.aad(), js_sys::Uint8Array::from(env.ct.0.as_slice()));
        async move {
            let iv: [u8; 12] = iv.try_into().map_err(|_| js("bad iv"))?;
            let plain = webcrypto::aes_gcm_decrypt(web_key, &iv, &aad, &ct).await.map_err(js)?.ok_or("tag")?;
            serde_json::from_slice::<protocol::envelope::MessageBody>(&plain.to_vec()).map_err(js)
        }
    };
    let mut best = [f64::MAX; 4];
    for _ in 0..rounds.max(1) {
        let t0 = now();
        for env in &envelopes {
            crypto::decrypt(env, &key).map_err(js)?;
        }
        let t1 = now();
        for env in &envelopes {
            web_open(env).await?;
        }
        let t2 = now();
        for body in futures::future::join_all(envelopes.iter().map(web_open)).await {
            body?;
        }
        let t3 = now();
        for ok in futures::future::join_all(envelopes.iter().map(webcrypto::verify_envelope)).await {
            if !ok.map_err(js)? {
                return Err(js("a signature did not verify"));
            }
        }
        let t4 = now();
        for (slot, value) in best.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
            *slot = slot.min(value);
        }
    }
    let [rust, web_serial, web_parallel, verify] = best;
    Ok(serde_json::json!({
        "count": count, "text_bytes": text_bytes, "rust_ms": rust, "webcrypto_serial_ms": web_serial,
        "webcrypto_parallel_ms": web_parallel, "verify_ms": verify,
    })
    .to_string())
}

/// The wasm module's linear memory in bytes (what the heap metrics of the JS engine do
/// not count), for `client-bench`'s tab memory.
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64
}
