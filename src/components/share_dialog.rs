//! The invite link: copy it, or scan it as a QR code.

use leptos::prelude::*;
use qrcode::QrCode;
use qrcode::render::svg;

/// An SVG QR code of `text`.
fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(code.render::<svg::Color>().min_dimensions(180, 180).quiet_zone(true).build())
}

#[component]
pub fn ShareDialog(link: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let open = RwSignal::new(false);
    let qr = qr_svg(&link).unwrap_or_default();
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
                    aria-controls="share-body" on:click=move |_| open.update(|o| *o = !*o)>
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
                <figure class="qr" role="img" aria-label="QR code of the invite link" inner_html=qr></figure>
            </div>
        </section>
    }
}
