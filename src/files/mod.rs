//! Sharing documents and images: the client half of the document store.
//!
//! - [`upload`]: hash, derive, pay, encrypt chunk by chunk (WebCrypto) and upload, with
//!   progress, cancel and resume; the browser never holds the file (or a copy) whole.
//! - [`download`]: fetch, verify and decrypt chunk by chunk, check the whole file, save.
//! - [`spool`]: where a download's chunks wait until the file checks out (disk or memory).
//! - [`images`]: thumbnails (inside the message) and previews (a separate file) made with a
//!   canvas, re-encoded as JPEG (which also drops metadata such as location).
//! - [`source`] and [`lanes`]: the padded content chunk by chunk, and the two lanes that
//!   process chunks concurrently.
//! - [`put_secrets`]: the secrets that bind this page's chunk uploads to the payer.
//! - [`share`]: the user's two actions, share and download, end to end.
//! - [`transfers`]: the reactive list of running uploads and downloads the views show.

pub mod download;
pub mod images;
pub mod lanes;
pub mod put_secrets;
pub mod share;
pub mod source;
pub mod spool;
pub mod transfers;
pub mod upload;

/// Reads bytes `start..end` of a file or blob.
pub async fn read_slice(blob: &web_sys::Blob, start: u64, end: u64) -> Result<js_sys::Uint8Array, String> {
    let part = blob.slice_with_f64_and_f64(start as f64, end as f64).map_err(|_| "cannot read the file".to_owned())?;
    let buffer = wasm_bindgen_futures::JsFuture::from(part.array_buffer())
        .await
        .map_err(|_| "cannot read the file".to_owned())?;
    Ok(js_sys::Uint8Array::new(&buffer))
}

/// Human size: "1.2 MB".
pub fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.2} GB", b / (1024.0 * 1024.0 * 1024.0))
    }
}
