//! Giving a sender a local name (a "contact"), shown everywhere instead of their alias.

use leptos::prelude::*;

use crate::contacts::use_contacts;

#[component]
pub fn NameDialog(target: RwSignal<Option<(String, String)>>) -> impl IntoView {
    let contacts = use_contacts();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some((key, alias)) = target.get() {
            name.set(contacts.local_name(&key).unwrap_or(alias));
            error.set(None);
        }
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some((key, _)) = target.get_untracked() {
            match contacts.rename(&key, &name.get_untracked()) {
                Ok(()) => target.set(None),
                Err(e) => error.set(Some(e)),
            }
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
                <p class="error" role="alert">{move || error.get()}</p>
                <div class="row">
                    <button id="contact-save" type="submit" class="primary">"Save"</button>
                    <button type="button" on:click=move |_| target.set(None)>"Cancel"</button>
                </div>
            </form>
        </Show>
    }
}
