//! In-page benchmarks the `file-bench` binary runs in headless Chromium: the file
//! pipeline (both passes of an upload, without the network) against raw WebCrypto AES-GCM
//! over the same buffer. Exposed to JavaScript as `window.wasmBindings.benchFilePipeline`.

use wasm_bindgen::prelude::*;

use crate::crypto::webcrypto;
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
