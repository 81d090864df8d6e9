//! The "create a room" form.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use crate::rooms;

#[component]
pub fn CreateRoomForm() -> impl IntoView {
    let alias = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match rooms::create_room(&alias.get_untracked(), &secret.get_untracked(), &name.get_untracked()).await {
                Ok(record) => {
                    let link = rooms::invite_link(&record).unwrap_or_default();
                    let path = link.split_once("/r/").map(|(_, p)| format!("/r/{p}")).unwrap_or_default();
                    navigate(&path, NavigateOptions::default());
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <form class="card" on:submit=submit aria-labelledby="create-heading">
            <h2 id="create-heading">"Create a room"</h2>
            <p class="hint">"Your keys are made here, in this browser. The server only learns the room's public id."</p>
            <label for="create-alias">"Your name in the room"</label>
            <input id="create-alias" type="text" autocomplete="nickname" maxlength="40" required
                prop:value=move || alias.get()
                on:input=move |ev| alias.set(event_target_value(&ev)) />
            <label for="create-name">"Room name (only on this device, optional)"</label>
            <input id="create-name" type="text" maxlength="60"
                prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev)) />
            <label for="create-secret">"Server admin secret"</label>
            <input id="create-secret" type="password" autocomplete="off" required
                prop:value=move || secret.get()
                on:input=move |ev| secret.set(event_target_value(&ev)) />
            <p class="error" role="alert">{move || error.get()}</p>
            <button id="create-room" type="submit" class="primary" disabled=move || busy.get()>
                {move || if busy.get() { "Creating…" } else { "Create room" }}
            </button>
        </form>
    }
}
