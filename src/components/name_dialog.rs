//! A member's card, opened from their name: the local name only this browser shows for
//! their key, and their safety number with you, to compare out of band and mark verified.

use leptos::prelude::*;

use crate::contacts::use_contacts;
use crate::session::RoomSession;

#[component]
pub fn NameDialog(target: RwSignal<Option<(String, String)>>, session: RoomSession) -> impl IntoView {
    let contacts = use_contacts();
    let name = RwSignal::new(String::new());
    let typed = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some((key, alias)) = target.get() {
            name.set(contacts.local_name(&key).unwrap_or(alias));
            typed.set(String::new());
            error.set(None);
        }
    });
    let key = move || target.with(|t| t.as_ref().map(|(k, _)| k.clone())).unwrap_or_default();
    let number = Memo::new(move |_| target.with(|t| t.as_ref().and_then(|(k, _)| session.safety_number_with(k))));
    let verified = move || contacts.is_verified(&key());
    // What the other member sent back, compared digit for digit.
    let comparison = move || {
        let typed = typed.get();
        (!typed.trim().is_empty()).then(|| number.with(|n| n.as_ref().is_some_and(|n| n.matches(&typed))))
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some((key, _)) = target.get_untracked() {
            match contacts.rename(&key, &name.get_untracked()) {
                Ok(()) => target.set(None),
                Err(e) => error.set(Some(e)),
            }
        }
    };
    let toggle_verified = move |_| {
        let Some((key, alias)) = target.get_untracked() else { return };
        let done = if contacts.is_verified(&key) {
            contacts.clear_verified(&key)
        } else {
            let alias = if alias.trim().is_empty() { session.alias_of(&key) } else { alias };
            contacts.mark_verified(session.room_id().as_str(), &key, &alias, js_sys::Date::now() as u64)
        };
        if let Err(e) = done {
            error.set(Some(e));
        }
    };
    view! {
        <Show when=move || target.with(|t| t.is_some())>
            <form class="card name-dialog" role="dialog" aria-labelledby="name-heading" on:submit=save>
                <h2 id="name-heading">"Local name"</h2>
                <p class="hint">"Only you see this name, for this sender's key, in every room."</p>
                <label for="contact-name">"Name"</label>
                <input id="contact-name" type="text" maxlength="40" autofocus
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev)) />
                <h3 id="safety-heading">
                    "Safety number "
                    {move || verified().then(|| view! { <span id="verified-badge" class="tag verified-tag">"✓ verified"</span> })}
                </h3>
                <p class="hint">"Compare these digits with this person in person or on a call: they see the same number for you. If they match, nobody (not even the server) has swapped their key."</p>
                <output id="safety-number" class="safety-number" aria-labelledby="safety-heading">
                    {move || number.get().map(|n| n.groups().chunks(4).map(|row| view! { <span class="safety-row">{row.join(" ")}</span> }).collect_view())}
                </output>
                <label for="safety-compare">"Or paste the number they sent you"</label>
                <input id="safety-compare" type="text" inputmode="numeric" autocomplete="off"
                    prop:value=move || typed.get()
                    on:input=move |ev| typed.set(event_target_value(&ev)) />
                <p id="safety-compare-result" role="status" class=move || match comparison() {
                    Some(true) => "status-line match",
                    Some(false) => "status-line error",
                    None => "status-line",
                }>{move || match comparison() {
                    Some(true) => "✓ The numbers match.",
                    Some(false) => "✗ The numbers differ: do not mark this key as verified.",
                    None => "",
                }}</p>
                <p class="error" role="alert">{move || error.get()}</p>
                <div class="row">
                    <button id="contact-save" type="submit" class="primary">"Save"</button>
                    <button id="toggle-verified" type="button" on:click=toggle_verified
                        disabled=move || comparison() == Some(false)>
                        {move || if verified() { "Clear verification" } else { "Mark as verified" }}
                    </button>
                    <button type="button" on:click=move |_| target.set(None)>"Close"</button>
                </div>
            </form>
        </Show>
    }
}
