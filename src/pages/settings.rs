//! `/settings`: export and import keys, notifications, removing this device's data.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use crate::components::import_keys::ImportKeys;
use crate::lazy_part::{LazyView, PartUnavailable, lazy_part};
use crate::notify;
use crate::store::export;

/// Offers `text` as a file download.
fn download(name: &str, text: &str) -> Result<(), String> {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/json");
    let blob =
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(|_| "cannot make the file")?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|_| "cannot make the file")?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(|_| "no anchor")?.dyn_into().map_err(|_| "no anchor")?;
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// `/settings`, fetched the first time it opens (keys export and import, notifications,
/// removing this device's data: things people do rarely).
#[component]
pub fn LazySettingsPage() -> impl IntoView {
    view! { <LazyView load=settings_page_part what="the settings" /> }
}

#[lazy_part(settings, wasm_split_path = ::leptos::wasm_split, fallible)]
fn settings_page_part() -> Result<AnyView, PartUnavailable> {
    Ok(view! { <SettingsPage /> }.into_any())
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let pass = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let message = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let export_now = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pass.get_untracked() != again.get_untracked() {
            message.set(Some("The two passphrases differ.".into()));
            return;
        }
        busy.set(true);
        message.set(Some("Encrypting (this takes a moment on purpose)…".into()));
        let p = pass.get_untracked();
        spawn_local(async move {
            match export::export_file(&p, export::default_iterations()).await {
                Ok(text) => {
                    let date = js_sys::Date::new_0();
                    let name = format!(
                        "cloakroom-keys-{:04}-{:02}-{:02}.json",
                        date.get_full_year(),
                        date.get_month() + 1,
                        date.get_date()
                    );
                    message.set(Some(match download(&name, &text) {
                        Ok(()) => format!("Saved {name}. Keep it and its passphrase safe."),
                        Err(e) => e,
                    }));
                    // Tests (and the curious) can read the file without a download.
                    if let Some(el) =
                        web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id("export-output"))
                    {
                        el.set_text_content(Some(&text));
                    }
                }
                Err(e) => message.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let notifications = RwSignal::new(notify::permission());
    let read_markers = RwSignal::new(crate::store::sends_read_markers());
    let read_markers_error = RwSignal::new(None::<String>);
    // Removing this device's data asks once more, in place, and says what is lost.
    let confirming = RwSignal::new(false);
    let forgotten = RwSignal::new(None::<String>);
    let forget_device = move |_| {
        spawn_local(async move {
            crate::store::clear_all();
            // Files saved in the last minutes wait in the download spool in plain text.
            let spool = crate::files::spool::remove_all().await;
            match crate::store::cache::clear_all().await.map_err(|e| e.to_string()).and(spool) {
                Ok(()) => {
                    if let Some(w) = web_sys::window() {
                        let _ = w.location().assign("/");
                    }
                }
                Err(e) => forgotten
                    .set(Some(format!("The keys are removed; the message cache or saved files could not be: {e}"))),
            }
        });
    };
    view! {
        <h1>"Keys & settings"</h1>
        <div class="landing-grid">
            <form class="card" on:submit=export_now aria-labelledby="export-heading">
                <h2 id="export-heading">"Export your keys"</h2>
                <p class="hint">"Everything this browser knows (identities, room keys, names) in one file, encrypted with your passphrase. Use it to move to another browser, or to come back after clearing site data."</p>
                <label for="export-passphrase">"Passphrase (at least 8 characters)"</label>
                <input id="export-passphrase" type="password" autocomplete="new-password" minlength="8" required
                    prop:value=move || pass.get() on:input=move |ev| pass.set(event_target_value(&ev)) />
                <label for="export-again">"Passphrase again"</label>
                <input id="export-again" type="password" autocomplete="new-password" minlength="8" required
                    prop:value=move || again.get() on:input=move |ev| again.set(event_target_value(&ev)) />
                <button id="export-button" type="submit" class="primary" disabled=move || busy.get()>"Export"</button>
                <p class="status-line" role="status">{move || message.get()}</p>
                <pre id="export-output" class="visually-hidden" aria-hidden="true"></pre>
            </form>
            <ImportKeys />
        </div>
        <section class="card" aria-labelledby="notify-heading">
            <h2 id="notify-heading">"Notifications"</h2>
            <p class="hint">"When this tab is in the background, show a notification for new messages (sender and room only, never the text)."</p>
            <button id="allow-notifications" type="button"
                disabled=move || matches!(notifications.get(), notify::Permission::Unavailable | notify::Permission::Granted)
                on:click=move |_| notify::request_permission(move |now| notifications.set(now))>"Allow notifications"</button>
            <p id="notify-state" role="status">{move || notifications.get().sentence()}</p>
        </section>
        <section class="card" aria-labelledby="privacy-heading">
            <h2 id="privacy-heading">"Privacy"</h2>
            <label class="check">
                <input id="send-read-markers" type="checkbox" prop:checked=move || read_markers.get()
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        match crate::store::set_sends_read_markers(on) {
                            Ok(()) => read_markers.set(on),
                            Err(e) => read_markers_error.set(Some(e.to_string())),
                        }
                    } />
                " Let others in a room see how far I have read (\u{201c}Seen by\u{201d})"
            </label>
            <p class="hint">"Typing indicators and read markers are sent encrypted and never stored; with this off, this browser sends no read markers."</p>
            <p class="status-line" role="status">{move || read_markers_error.get()}</p>
        </section>
        <section class="card" aria-labelledby="device-heading">
            <h2 id="device-heading">"This device"</h2>
            <p class="hint">"Remove every room key, identity, local name and cached message this browser keeps (on a shared or borrowed computer, say). Export your keys first if you want to come back: without that file, rooms you did not create need a new invite, and rooms you own cannot be administered again."</p>
            <Show when=move || confirming.get() fallback=move || view! {
                <button id="forget-device" type="button" on:click=move |_| confirming.set(true)>"Remove this device's data"</button>
            }>
                <p class="confirm-remove" role="group" aria-label="Confirm removing this device's data">
                    "Remove everything Cloakroom keeps in this browser? This cannot be undone."
                    <button id="forget-device-confirm" type="button" class="danger" on:click=forget_device>"Remove everything"</button>
                    <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
                </p>
            </Show>
            <p class="status-line" role="status">{move || forgotten.get()}</p>
        </section>
    }
}
