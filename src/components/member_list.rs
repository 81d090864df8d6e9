//! The people of the room as every member can see them: the owner, everyone who has a
//! message here and everyone seen reading or typing, each under the name they chose
//! (or the local name this browser gave them), with the owner, "you", verified and
//! typing cues. A name opens the member's card (local name, safety number). A member
//! who is not the owner can leave the room from here.

use std::collections::BTreeMap;

use leptos::prelude::*;

use protocol::frames::Access;

use crate::call::CallView;
use crate::components::leave_room::LeaveRoom;
use crate::contacts::use_contacts;
use crate::session::RoomSession;

/// One line of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Person {
    key: String,
    alias: String,
    owner: bool,
    me: bool,
}

#[component]
pub fn MemberList(session: RoomSession, on_name: Callback<(String, String)>) -> impl IntoView {
    let contacts = use_contacts();
    let people = move || {
        let me = session.me();
        let owner = session.state.with(|s| s.as_ref().map(|s| s.owner.to_b64()));
        let mut by_key: BTreeMap<String, String> = BTreeMap::new();
        session.timeline.with(|t| {
            for (key, alias) in t.senders() {
                by_key.insert(key.to_owned(), alias.to_owned());
            }
        });
        session.presence.with(|p| {
            for m in p.readers_of("").into_iter().chain(p.typists(js_sys::Date::now())) {
                by_key.entry(m.key).or_insert(m.alias);
            }
        });
        if let Some(owner) = &owner {
            by_key.entry(owner.clone()).or_default();
        }
        by_key.insert(me.clone(), session.alias());
        let mut list: Vec<Person> = by_key
            .into_iter()
            .map(|(key, alias)| Person { owner: owner.as_deref() == Some(key.as_str()), me: key == me, key, alias })
            .collect();
        // The owner first, then by name.
        list.sort_by_key(|p| (!p.owner, contacts.name(&p.key, &p.alias).to_lowercase()));
        list
    };
    let typing =
        move |key: &str| session.presence.with(|p| p.typists(js_sys::Date::now()).iter().any(|m| m.key == key));
    view! {
        <section class="member-list" aria-labelledby="member-list-title">
            <h2 id="member-list-title" class="panel-title">"People in this room"</h2>
            <ul>
                <For each=people key=|p| (p.key.clone(), p.alias.clone()) children=move |p| {
                    let (key, alias) = (p.key.clone(), p.alias.clone());
                    let shown = {
                        let (key, alias) = (key.clone(), alias.clone());
                        move || {
                            let name = contacts.name(&key, &alias);
                            if name.is_empty() { "(no name yet)".to_owned() } else { name }
                        }
                    };
                    let verified = {
                        let key = key.clone();
                        move || !p.me && contacts.is_verified(&key)
                    };
                    let is_typing = {
                        let key = key.clone();
                        move || typing(&key)
                    };
                    let call_buttons = (!p.me).then(|| {
                        let (voice_key, voice_alias) = (key.clone(), alias.clone());
                        let (video_key, video_alias) = (key.clone(), alias.clone());
                        let idle = move || matches!(session.call.get(), CallView::Idle | CallView::Ended { .. });
                        let in_call = move || matches!(session.call.get(), CallView::Active(_));
                        let (add_key, add_alias) = (key.clone(), alias.clone());
                        let can_add = {
                            let key = key.clone();
                            move || session.can_add_to_call(&key)
                        };
                        view! {
                            <span class="member-calls">
                                {move || in_call().then(|| {
                                    let (key, alias) = (add_key.clone(), add_alias.clone());
                                    view! {
                                        <button type="button" class="link-button call-add" disabled={let can_add = can_add.clone(); move || !can_add()}
                                            aria-label=format!("Add {} to the call", alias)
                                            on:click=move |_| session.add_to_call(key.clone(), alias.clone())>"Add to call"</button>
                                    }
                                })}
                                <button type="button" class="link-button call-voice" disabled=move || !idle()
                                    aria-label=format!("Call {}", alias)
                                    on:click=move |_| session.start_call(voice_key.clone(), voice_alias.clone(), false)>"Call"</button>
                                <button type="button" class="link-button call-video" disabled=move || !idle()
                                    aria-label=format!("Video call {}", alias)
                                    on:click=move |_| session.start_call(video_key.clone(), video_alias.clone(), true)>"Video"</button>
                            </span>
                        }
                    });
                    let open = move |_| on_name.run((key.clone(), alias.clone()));
                    view! {
                        <li class="member" data-key=p.key.clone()>
                            <button type="button" class="link-button member-name" on:click=open disabled=p.me>{shown}</button>
                            {p.owner.then(|| view! { <span class="tag owner-tag">"owner"</span> })}
                            {p.me.then(|| view! { <span class="tag">"you"</span> })}
                            {move || verified().then(|| view! { <span class="tag verified-tag">"✓ verified"</span> })}
                            {move || is_typing().then(|| view! { <span class="tag typing-tag">"typing…"</span> })}
                            {call_buttons}
                        </li>
                    }
                } />
            </ul>
            {move || matches!(session.access.get(), Some(Access::Member | Access::Accepted)).then(|| view! { <LeaveRoom session=session /> })}
        </section>
    }
}
