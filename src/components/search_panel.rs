//! Searching the room's history as cached (decrypted) in this browser: nothing is sent to
//! any server.

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::clock;
use crate::contacts::use_contacts;
use crate::session::timeline::ChatMessage;
use crate::store::cache;

#[component]
pub fn SearchPanel(room: String) -> impl IntoView {
    let contacts = use_contacts();
    let query = RwSignal::new(String::new());
    let results = RwSignal::new(None::<Vec<ChatMessage>>);
    let room = StoredValue::new(room);
    let search = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let q = query.get_untracked();
        spawn_local(async move {
            results.set(Some(cache::search(&room.get_value(), &q, 50).await.unwrap_or_default()));
        });
    };
    view! {
        <form class="search" role="search" on:submit=search>
            <label for="search-input" class="visually-hidden">"Search this room"</label>
            <input id="search-input" type="search" placeholder="Search this room (on this device)"
                prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev)) />
            <button type="submit">"Search"</button>
        </form>
        {move || results.get().map(|found| {
            if found.is_empty() {
                view! { <p class="hint" role="status">"No cached message matches."</p> }.into_any()
            } else {
                view! {
                    <ul class="search-results" aria-label="Search results">
                        {found.into_iter().map(|m| view! {
                            <li>
                                <strong>{contacts.name(&m.sender, &m.alias)}</strong>
                                " · "
                                <time>{m.time_ms.map(clock::full).unwrap_or_default()}</time>
                                <p>{m.summary()}</p>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }
        })}
    }
}
