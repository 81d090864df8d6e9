//! The invite link: copy it, or scan it as a QR code.

use leptos::prelude::*;
use qrcode::QrCode;
use qrcode::render::svg;

use crate::lazy_part::{PartUnavailable, lazy_part};

/// An SVG QR code of `text`, or nothing if it is too long for one. Fetched on first use
/// (most visits never show a QR code).
#[lazy_part(qr_code, wasm_split_path = ::leptos::wasm_split, fallible)]
fn qr_svg(text: String) -> Result<String, PartUnavailable> {
    let Ok(code) = QrCode::new(text.as_bytes()) else { return Ok(String::new()) };
    Ok(code.render::<svg::Color>().min_dimensions(180, 180).quiet_zone(true).build())
}

#[component]
pub fn ShareDialog(link: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let open = RwSignal::new(false);
    // Drawn the first time the person opens the invite (its code is fetched then).
    let qr = RwSignal::new(String::new());
    // Its code could not be fetched (offline before the service worker cached it): said
    // so, and tried again the next time the invite is opened. The link is still there.
    let qr_unavailable = RwSignal::new(false);
    let for_qr = link.clone();
    let toggle = move |_| {
        open.update(|o| *o = !*o);
        if open.get_untracked() && qr.with_untracked(String::is_empty) {
            let text = for_qr.clone();
            qr_unavailable.set(false);
            leptos::task::spawn_local(async move {
                match qr_svg(text).await {
                    Ok(svg) => _ = qr.try_set(svg),
                    Err(_) => _ = qr_unavailable.try_set(true),
                }
            });
        }
    };
    let for_copy = link.clone();
    let copy = move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&for_copy);
            copied.set(true);
        }
    };
    view! {
        <section class="share" aria-labelledby="share-heading">
            <div class="share-head">
                <h2 id="share-heading">"Invite"</h2>
                <button type="button" class="link-button" aria-expanded=move || open.get().to_string()
                    aria-controls="share-body" on:click=toggle>
                    {move || if open.get() { "Hide" } else { "Show link and QR code" }}
                </button>
            </div>
            <div id="share-body" class="share-body" hidden=move || !open.get()>
                <label for="invite-link">"Invite link: anyone with it can read this room"</label>
                <div class="invite-row">
                    <input id="invite-link" type="text" readonly prop:value=link.clone() on:focus=|ev| {
                        use wasm_bindgen::JsCast;
                        if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                            input.select();
                        }
                    } />
                    <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
                </div>
                <Show when=move || qr_unavailable.get()>
                    <p id="qr-unavailable" class="hint" role="status">
                        "The QR code could not be loaded (no connection). Copy the link instead, or open the invite again later."
                    </p>
                </Show>
                <figure class="qr" role="img" aria-label="QR code of the invite link" hidden=move || qr_unavailable.get()
                    inner_html=move || qr.get()></figure>
            </div>
        </section>
    }
}
