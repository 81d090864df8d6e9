//! The "join by link" form: paste an invite link, go to the room.

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::hooks::use_navigate;

use crate::rooms;

#[component]
pub fn JoinForm() -> impl IntoView {
    let link = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match rooms::path_from_link(&link.get_untracked()) {
            Some(path) => {
                // A full navigation, so the `#key` reaches the room page as typed.
                navigate(&path, NavigateOptions::default());
            }
            None => error.set(Some("That is not a Cloakroom room link.".into())),
        }
    };
    view! {
        <form class="card" on:submit=submit aria-labelledby="join-heading">
            <h2 id="join-heading">"Join a room"</h2>
            <p class="hint">"Paste the invite link someone shared with you."</p>
            <label for="join-link">"Invite link"</label>
            <input id="join-link" type="text" required placeholder="https://…/r/…#…"
                prop:value=move || link.get()
                on:input=move |ev| link.set(event_target_value(&ev)) />
            <p class="error" role="alert">{move || error.get()}</p>
            <button id="join-room" type="submit">"Open room"</button>
        </form>
    }
}
