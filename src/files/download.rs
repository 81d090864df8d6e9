//! Downloading a shared file: fetch each chunk (two at a time, [`lanes`]), check it
//! against the manifest, decrypt it (WebCrypto AES-GCM: a flipped byte, a swapped or
//! missing chunk fails), then check the whole file against its key (the key is derived
//! from the content) and its size. Reads present the handle's read proof in a header (v1
//! handles: their verification token). Decrypted chunks go straight into the [`spool`] (a
//! file on disk where the browser can write one, per-chunk Blobs otherwise), so the JS heap
//! holds only the chunks in flight, never the whole file; only a file that passes every
//! check becomes the Blob that is saved. A damaged one is reported, thrown away and never
//! saved.
//!
//! [`lanes`]: crate::files::lanes
//! [`spool`]: crate::files::spool

use std::cell::{Cell, RefCell};

use js_sys::Uint8Array;
use protocol::encoding::b64;
use protocol::objects::{self, CHUNK_BYTES, FileHandle};
use wasm_bindgen::JsCast;

use crate::crypto::webcrypto;
use crate::files::lanes::{self, Queue};
use crate::files::spool::Spool;
use crate::files::transfers::TransferHandle;
use crate::net::{api, explain, retry};

/// The message for anything that does not check out.
pub const DAMAGED: &str = "This file is damaged or was tampered with; it was not saved.";

/// Checks chunk `index` of `count` against the id the manifest lists and decrypts it;
/// `Err(DAMAGED)` for anything that does not check out.
pub async fn open_chunk(
    key: &web_sys::CryptoKey,
    file_id: &str,
    index: u32,
    count: u32,
    expected_id: &str,
    sealed: &Uint8Array,
) -> Result<Uint8Array, String> {
    if b64(&webcrypto::sha256(sealed).await.map_err(|e| e.to_string())?) != expected_id {
        return Err(DAMAGED.into());
    }
    let aad = objects::chunk_aad(file_id, index, count);
    webcrypto::aes_gcm_decrypt(key, &objects::chunk_nonce(index), &aad, sealed)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| DAMAGED.into())
}

/// What a download is for: where its chunks wait until the file checks out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Shown in the page (an image): kept in memory.
    Show,
    /// Saved as a file: spooled to disk where the browser can, deleted there once the
    /// browser has had time to copy it ([`crate::files::spool::KEEP_SAVED`]).
    Save,
}

/// Fetches, checks and decrypts the file of `handle`.
pub async fn fetch(handle: &FileHandle, t: &TransferHandle, purpose: Purpose) -> Result<web_sys::Blob, String> {
    let keys = handle.keys().ok_or(DAMAGED)?;
    // The read proof (v2), or the verification token of a v1 file.
    let access = handle.access().ok_or(DAMAGED)?;
    let access = &access;
    let manifest =
        retry::with_retries(&|| t.cancelled(), || api::manifest(&handle.file_id, access)).await.map_err(|e| {
            match retry::is_transient(&e) {
                true => retry::GAVE_UP.to_owned(),
                false => "This file is not available on this server (or the link to it is wrong).".to_owned(),
            }
        })?;
    let count = objects::chunk_count(handle.padded);
    if manifest.size != handle.padded || manifest.chunks.len() != count as usize || handle.size >= handle.padded {
        return Err(DAMAGED.into());
    }
    let key = webcrypto::aes_key(keys.key.as_bytes()).await.map_err(|e| e.to_string())?;
    let spool = match purpose {
        Purpose::Show => Spool::memory(count),
        Purpose::Save => Spool::for_saving(handle.size, count).await,
    };
    match fetch_into(handle, t, &keys, access, &manifest, &key, &spool).await {
        Ok(()) => spool.finish(&handle.mime).await,
        Err(e) => {
            spool.discard().await;
            Err(e)
        }
    }
}

/// Fetches, checks and decrypts every chunk into `spool`, then checks the whole file.
async fn fetch_into(
    handle: &FileHandle,
    t: &TransferHandle,
    keys: &objects::ObjectKeys,
    access: &objects::ReadAccess,
    manifest: &objects::Manifest,
    key: &web_sys::CryptoKey,
    spool: &Spool,
) -> Result<(), String> {
    let count = objects::chunk_count(handle.padded);
    let queue = Queue::new((0..count).collect());
    let hashes = RefCell::new(vec![[0u8; 32]; count as usize]);
    let tail = RefCell::new(Vec::new());
    let opened = Cell::new(0u32);
    let done = Cell::new(0u64);
    lanes::run(|| {
        let (queue, hashes, tail, opened, done) = (&queue, &hashes, &tail, &opened, &done);
        async move {
            while let Some(index) = queue.take() {
                if t.cancelled() {
                    return Err("cancelled".to_owned());
                }
                let fetch = || api::chunk(&handle.file_id, index, access);
                let sealed = retry::with_retries(&|| t.cancelled(), fetch).await.map_err(|e| {
                    if t.cancelled() {
                        "cancelled".to_owned()
                    } else if retry::is_transient(&e) {
                        format!("{} Try the download again.", retry::GAVE_UP)
                    } else {
                        explain::describe(&e)
                    }
                })?;
                let expected = &manifest.chunks[index as usize];
                let plain = open_chunk(key, &handle.file_id, index, count, expected, &sealed).await?;
                hashes.borrow_mut()[index as usize] = webcrypto::sha256(&plain).await.map_err(|e| e.to_string())?;
                if index + 1 == count {
                    *tail.borrow_mut() = plain.subarray(plain.length().saturating_sub(8), plain.length()).to_vec();
                }
                // Padding is checked (hashed) but not kept.
                let start = u64::from(index) * CHUNK_BYTES;
                let keep = handle.size.saturating_sub(start).min(u64::from(plain.length())) as u32;
                if keep > 0 {
                    spool.write(index, start, &plain.subarray(0, keep)).await?;
                }
                opened.set(opened.get() + 1);
                done.set(done.get() + u64::from(plain.length()));
                t.progress(done.get().min(handle.size));
            }
            Ok(())
        }
    })
    .await?;
    // The whole file must give back the key it was shared with, and its own length.
    if opened.get() != count
        || !keys.derived_from(&objects::content_hash(&hashes.into_inner()))
        || objects::unpadded_len(&tail.into_inner(), handle.padded) != Some(handle.size)
    {
        return Err(DAMAGED.into());
    }
    Ok(())
}

/// A name safe to save under: no bidi or other format characters, control characters or
/// path separators, bounded (`protocol::names::safe_file_name`).
pub fn safe_name(name: &str) -> String {
    protocol::names::safe_file_name(name)
}

/// Offers `blob` as a download named `name`.
pub fn save(blob: &web_sys::Blob, name: &str) -> Result<(), String> {
    let url = web_sys::Url::create_object_url_with_blob(blob).map_err(|_| "cannot save the file")?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(|_| "no anchor")?.dyn_into().map_err(|_| "no anchor")?;
    a.set_href(&url);
    a.set_download(&safe_name(name));
    a.click();
    // Revoke later: the download reads the URL asynchronously.
    let url_later = url.clone();
    leptos::task::spawn_local(async move {
        gloo_timers::future::sleep(std::time::Duration::from_secs(60)).await;
        let _ = web_sys::Url::revoke_object_url(&url_later);
    });
    Ok(())
}

/// An object URL to show an image blob (the caller revokes it).
pub fn object_url(blob: &web_sys::Blob) -> Option<String> {
    web_sys::Url::create_object_url_with_blob(blob).ok()
}
