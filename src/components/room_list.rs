//! The rooms this browser knows, with unread markers and last activity (from the
//! non-addressable last-message-times API), local renaming and forgetting.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use protocol::ids::{MessageKey, RoomId};

use crate::clock::{self, Now};
use crate::net::api;
use crate::rooms;
use crate::store::{self, RoomRecord};

/// Refreshes every room's last activity from the server.
async fn refresh_activity(rooms: RwSignal<Vec<RoomRecord>>) {
    let ids: Vec<RoomId> = rooms.get_untracked().iter().filter_map(|r| RoomId::parse(&r.room).ok()).collect();
    if ids.is_empty() {
        return;
    }
    if let Ok(times) = api::last_message_times(ids).await {
        for (room, latest) in times.rooms {
            if let Some(latest) = latest {
                let _ = store::update_room(room.as_str(), |r| r.last_activity = Some(latest.to_string()));
            }
        }
        rooms.set(store::list_rooms());
    }
}

#[component]
pub fn RoomList(#[prop(default = false)] manage: bool) -> impl IntoView {
    let now = expect_context::<Now>().0;
    let rooms = RwSignal::new(store::list_rooms());
    spawn_local(refresh_activity(rooms));
    let renaming = RwSignal::new(None::<String>);
    let new_name = RwSignal::new(String::new());
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Some(room) = renaming.get_untracked() {
            let name = new_name.get_untracked();
            let _ = store::update_room(&room, |r| r.name = Some(name.trim().to_owned()).filter(|n| !n.is_empty()));
            renaming.set(None);
            rooms.set(store::list_rooms());
        }
    };
    view! {
        <Show when=move || !rooms.with(|r| r.is_empty()) fallback=move || manage.then(|| view! {
            <p class="notice">"No rooms yet: create one or open an invite link."</p>
        })>
            <section class="card room-list" aria-labelledby="rooms-heading">
                <h2 id="rooms-heading">"Your rooms"</h2>
                <ul>
                    <For each=move || rooms.get() key=|r| (r.room.clone(), r.name.clone(), r.shared_name.clone(), r.last_activity.clone(), r.last_seen.clone()) children=move |r| {
                        let href = format!("/r/{}", r.room);
                        let unread = r.unread();
                        let activity = r.last_activity.as_deref().and_then(|k| MessageKey::parse(k).ok()).map(|k| k.timestamp().as_millis());
                        let room_for_rename = r.room.clone();
                        let room_for_forget = r.room.clone();
                        let current = r.name.clone().unwrap_or_default();
                        let display = r.display_name();
                        let owner = r.owner;
                        view! {
                            <li class="room-item" class:unread=unread>
                                <A href=href attr:class="room-link">
                                    {unread.then(|| view! { <span class="unread-dot" aria-label="unread messages">"●"</span> })}
                                    <span class="room-name">{display}</span>
                                </A>
                                {owner.then(|| view! { <span class="tag owner-tag">"owner"</span> })}
                                <span class="room-activity">{move || activity.map(|t| clock::relative(t, now.get())).unwrap_or_else(|| "no messages yet".into())}</span>
                                {manage.then(|| view! {
                                    <button type="button" class="link-button" on:click=move |_| {
                                        new_name.set(current.clone());
                                        renaming.set(Some(room_for_rename.clone()));
                                    }>"Rename"</button>
                                    <button type="button" class="link-button danger" on:click=move |_| {
                                        let confirmed = web_sys::window()
                                            .and_then(|w| w.confirm_with_message("Forget this room on this device? Its keys are deleted here (export them first if you want to come back).").ok())
                                            .unwrap_or(false);
                                        if confirmed {
                                            let room = room_for_forget.clone();
                                            spawn_local(async move {
                                                rooms::forget(&room).await;
                                                rooms.set(store::list_rooms());
                                            });
                                        }
                                    }>"Forget"</button>
                                })}
                            </li>
                        }
                    } />
                </ul>
                <Show when=move || renaming.with(|r| r.is_some())>
                    <form class="row-form" on:submit=rename>
                        <label for="room-rename">"New local name"</label>
                        <input id="room-rename" type="text" maxlength="60" autofocus
                            prop:value=move || new_name.get() on:input=move |ev| new_name.set(event_target_value(&ev)) />
                        <button type="submit" class="primary">"Save"</button>
                        <button type="button" on:click=move |_| renaming.set(None)>"Cancel"</button>
                    </form>
                </Show>
            </section>
        </Show>
    }
}
