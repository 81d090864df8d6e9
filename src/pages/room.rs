//! `/r/:room`: resolves the link and the local keys, asks for an alias on a first visit,
//! then shows the chat.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::components::alias_prompt::AliasPrompt;
use crate::components::composer::Composer;
use crate::components::connection_badge::ConnectionBadge;
use crate::components::invite_panel::InvitePanel;
use crate::components::message_list::MessageList;
use crate::rooms::{self, RoomAccess};
use crate::session::RoomSession;
use crate::store::RoomRecord;

fn current_fragment() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

#[component]
pub fn RoomPage() -> impl IntoView {
    let params = use_params_map();
    let room = move || params.with(|p| p.get("room").unwrap_or_default());
    let access = RwSignal::new(rooms::resolve_access(&room(), &current_fragment()));
    view! {
        {move || match access.get() {
            RoomAccess::NotARoom => view! { <p class="notice">"This is not a room link."</p> }.into_any(),
            RoomAccess::MissingKey => view! {
                <p class="notice">"This link has no room key. Ask for the full invite link (the part after # is the key)."</p>
            }.into_any(),
            RoomAccess::NeedsAlias(record) => view! {
                <AliasPrompt record=record on_done=Callback::new(move |r: RoomRecord| access.set(RoomAccess::Ready(r))) />
            }.into_any(),
            RoomAccess::Ready(record) => view! { <ChatRoom record=record /> }.into_any(),
        }}
    }
}

#[component]
fn ChatRoom(record: RoomRecord) -> impl IntoView {
    let (room, identity, key, alias) = match rooms::keys_of(&record) {
        Ok(keys) => keys,
        Err(e) => {
            return view! { <p class="notice error">{format!("This room's saved keys are damaged: {e}")}</p> }
                .into_any();
        }
    };
    let session = RoomSession::start(room, identity, key, alias);
    on_cleanup(move || session.stop());
    let invite = rooms::invite_link(&record);
    let motd = move || session.state.with(|s| s.as_ref().map(|s| s.motd.clone()).filter(|m| !m.is_empty()));
    view! {
        <section class="room" aria-label="Room">
            <div class="room-bar">
                <h1 class="room-title">{format!("Room {}…", &record.room[..8])}</h1>
                <ConnectionBadge status=session.status />
            </div>
            {record.owner.then(|| view! { <InvitePanel link=invite.clone() /> })}
            {move || motd().map(|m| view! { <p class="motd" role="note">{m}</p> })}
            <MessageList session=session />
            <Composer session=session />
        </section>
    }
    .into_any()
}
