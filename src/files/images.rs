//! Images: a thumbnail small enough to travel inside the message (shown at once), and a
//! preview of a few hundred KB for viewing, made with a canvas and re-encoded as JPEG
//! (which also drops metadata such as the camera's location). The original is shared as
//! a file.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlImageElement};

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_SIDE: u32 = 240;
/// Largest thumbnail, as a `data:` URL (it rides in a 32 KiB message).
pub const THUMBNAIL_MAX_CHARS: usize = 16 * 1024;
/// Longest side of a preview, in pixels.
pub const PREVIEW_SIDE: u32 = 1600;
/// Largest preview, in bytes.
pub const PREVIEW_MAX_BYTES: usize = 1024 * 1024;

/// What an image becomes before it is shared.
pub struct PreparedImage {
    /// `data:image/jpeg;base64,…`
    pub thumbnail: String,
    /// A smaller JPEG to view, unless the original is already small.
    pub preview: Option<web_sys::Blob>,
    pub width: u32,
    pub height: u32,
}

/// Renders `img` at most `side` pixels long as JPEG, shrinking until it fits `max_chars`.
fn encode(img: &HtmlImageElement, side: u32, qualities: &[f64], max_chars: usize) -> Option<String> {
    let (w, h) = (img.natural_width().max(1), img.natural_height().max(1));
    let document = web_sys::window()?.document()?;
    let mut side = side;
    while side >= 32 {
        let scale = (f64::from(side) / f64::from(w.max(h))).min(1.0);
        let (cw, ch) = (((f64::from(w) * scale).round() as u32).max(1), ((f64::from(h) * scale).round() as u32).max(1));
        let canvas: HtmlCanvasElement = document.create_element("canvas").ok()?.dyn_into().ok()?;
        canvas.set_width(cw);
        canvas.set_height(ch);
        let ctx: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
        ctx.draw_image_with_html_image_element_and_dw_and_dh(img, 0.0, 0.0, f64::from(cw), f64::from(ch)).ok()?;
        for q in qualities {
            let url = canvas.to_data_url_with_type_and_encoder_options("image/jpeg", &JsValue::from_f64(*q)).ok()?;
            if url.len() <= max_chars {
                return Some(url);
            }
        }
        side = side * 3 / 4;
    }
    None
}

/// The bytes of a base64 `data:` URL.
fn data_url_bytes(url: &str) -> Option<Vec<u8>> {
    let b64 = url.split_once(',')?.1;
    let binary = web_sys::window()?.atob(b64).ok()?;
    Some(binary.chars().map(|c| c as u32 as u8).collect())
}

/// Makes the thumbnail (and a preview when the original is large).
pub async fn prepare(file: &web_sys::Blob) -> Result<PreparedImage, String> {
    let url = web_sys::Url::create_object_url_with_blob(file).map_err(|_| "cannot read the image")?;
    let img = HtmlImageElement::new().map_err(|_| "cannot read the image")?;
    img.set_src(&url);
    let decoded = JsFuture::from(img.decode()).await;
    let result = match decoded {
        Err(_) => Err("this browser cannot read this image".to_owned()),
        Ok(_) => {
            let (width, height) = (img.natural_width(), img.natural_height());
            let thumbnail = encode(&img, THUMBNAIL_SIDE, &[0.7, 0.5, 0.35], THUMBNAIL_MAX_CHARS)
                .ok_or("cannot make a thumbnail")?;
            let large = width.max(height) > PREVIEW_SIDE || file.size() as usize > PREVIEW_MAX_BYTES;
            let preview = if large {
                let url = encode(&img, PREVIEW_SIDE, &[0.85, 0.7, 0.5], PREVIEW_MAX_BYTES * 4 / 3)
                    .ok_or("cannot make a preview")?;
                let bytes = data_url_bytes(&url).ok_or("cannot make a preview")?;
                let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes.as_slice()));
                let options = web_sys::BlobPropertyBag::new();
                options.set_type("image/jpeg");
                Some(
                    web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options)
                        .map_err(|_| "cannot make a preview")?,
                )
            } else {
                None
            };
            Ok(PreparedImage { thumbnail, preview, width, height })
        }
    };
    let _ = web_sys::Url::revoke_object_url(&url);
    result
}
