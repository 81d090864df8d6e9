//! First visit of a room: choose the name others will see.

use leptos::prelude::*;

use crate::rooms;
use crate::store::RoomRecord;

#[component]
pub fn AliasPrompt(record: RoomRecord, on_done: Callback<RoomRecord>) -> impl IntoView {
    let alias = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let record = StoredValue::new(record);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match rooms::choose_alias(record.get_value(), &alias.get_untracked()) {
            Ok(r) => on_done.run(r),
            Err(e) => error.set(Some(e)),
        }
    };
    view! {
        <form class="card narrow" on:submit=submit aria-labelledby="alias-heading">
            <h1 id="alias-heading">"Join this room"</h1>
            <p class="hint">"Pick a name for this room. A new key pair is made in this browser; it never leaves it."</p>
            <p class="hint">"Been here before on another device? "<a href="/settings">"Import your keys file"</a>" instead."</p>
            <label for="alias-input">"Your name"</label>
            <input id="alias-input" type="text" autocomplete="nickname" maxlength="40" required autofocus
                prop:value=move || alias.get()
                on:input=move |ev| alias.set(event_target_value(&ev)) />
            <p class="error" role="alert">{move || error.get()}</p>
            <button id="alias-submit" type="submit" class="primary">"Enter room"</button>
        </form>
    }
}
