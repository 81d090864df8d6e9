//! The owner's invite link with a copy button.

use leptos::prelude::*;

#[component]
pub fn InvitePanel(link: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let link_for_copy = link.clone();
    let copy = move |_| {
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(&link_for_copy);
            copied.set(true);
        }
    };
    view! {
        <div class="invite" role="group" aria-labelledby="invite-label">
            <label id="invite-label" for="invite-link">"Invite link (anyone with it can read this room)"</label>
            <div class="invite-row">
                <input id="invite-link" type="text" readonly prop:value=link on:focus=|ev| {
                    use wasm_bindgen::JsCast;
                    if let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) {
                        input.select();
                    }
                } />
                <button type="button" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
            </div>
        </div>
    }
}
