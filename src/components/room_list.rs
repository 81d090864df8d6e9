//! The rooms this browser knows.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::store;

#[component]
pub fn RoomList() -> impl IntoView {
    let rooms = store::list_rooms();
    (!rooms.is_empty()).then(|| view! {
        <section class="card room-list" aria-labelledby="rooms-heading">
            <h2 id="rooms-heading">"Your rooms"</h2>
            <ul>
                {rooms
                    .into_iter()
                    .map(|r| {
                        let href = format!("/r/{}", r.room);
                        let label = format!("{} · {}…", r.alias.clone().unwrap_or_else(|| "(no name yet)".into()), &r.room[..8]);
                        view! {
                            <li>
                                <A href=href>{label}</A>
                                {r.owner.then(|| view! { <span class="tag owner-tag">"owner"</span> })}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    })
}
