//! The rooms this browser knows, with unread counts, the newest unread message's first
//! words and last activity (kept current while shown, see [`crate::unread`]), local
//! renaming and forgetting.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use protocol::ids::MessageKey;

use crate::clock::{self, Now};
use crate::contacts::use_contacts;
use crate::notify;
use crate::rooms;
use crate::store::{self, RoomRecord};
use crate::unread::{self, Summary};

/// How often the list asks the server what is new while it is shown.
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Keeps the list current while it is shown: now, then every [`REFRESH_EVERY`] and
/// whenever the tab becomes visible, each room's newest key and unread summary; the tab
/// title counts unread messages over every room.
fn keep_fresh(rooms: RwSignal<Vec<RoomRecord>>, summaries: RwSignal<BTreeMap<String, Summary>>) {
    let refresh = move || {
        spawn_local(async move {
            let Some(previous) = summaries.try_get_untracked() else { return };
            let fresh = unread::refresh_all(&previous).await;
            if rooms.try_set(store::list_rooms()).is_some() {
                return;
            }
            notify::set_unread_total(fresh.values().map(|s| s.count as u32).sum());
            summaries.set(fresh);
        })
    };
    refresh();
    spawn_local(async move {
        loop {
            gloo_timers::future::sleep(REFRESH_EVERY).await;
            if rooms.try_get_untracked().is_none() {
                break;
            }
            refresh();
        }
    });
}

#[component]
pub fn RoomList(#[prop(default = false)] manage: bool) -> impl IntoView {
    let now = expect_context::<Now>().0;
    let rooms = RwSignal::new(store::list_rooms());
    let summaries = RwSignal::new(BTreeMap::<String, Summary>::new());
    keep_fresh(rooms, summaries);
    let contacts = use_contacts();
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
                        let (room_key, preview_key) = (r.room.clone(), r.room.clone());
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
                                    {move || {
                                        let count = summaries.with(|s| s.get(&room_key).map(Summary::count_label));
                                        match count {
                                            Some(label) if unread => {
                                                let described = format!("{label} unread");
                                                view! { <span class="unread-count" aria-label=described>{label}</span> }.into_any()
                                            }
                                            _ if unread => view! { <span class="unread-dot" aria-label="unread messages">"●"</span> }.into_any(),
                                            _ => ().into_any(),
                                        }
                                    }}
                                    <span class="room-name">{display}</span>
                                </A>
                                {move || unread.then(|| summaries.with(|s| s.get(&preview_key).and_then(|s| s.preview.clone()))).flatten().map(|p| {
                                    let name = contacts.name(&p.sender, &p.alias);
                                    view! { <span class="room-preview">{format!("{name}: {}", p.text)}</span> }
                                })}
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
