//! `/r/:room`: resolves the link and the local keys, asks for an alias on a first visit,
//! then shows the room: messages, composer, invite, search, gallery, transfers (files can
//! be dropped on the room), and the owner's panel.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use protocol::frames::Access;

use crate::components::admin_panel::admin_panel_part;
use crate::components::alias_prompt::AliasPrompt;
use crate::components::call_view::CallPanel;
use crate::components::composer::{Composer, share_files};
use crate::components::connection_badge::ConnectionBadge;
use crate::components::gallery::Gallery;
use crate::components::image_viewer::{self, ImageViewer};
use crate::components::member_list::MemberList;
use crate::components::message_list::MessageList;
use crate::components::name_dialog::NameDialog;
use crate::components::presence_line::PresenceLine;
use crate::components::search_panel::SearchPanel;
use crate::components::security_warnings::SecurityWarnings;
use crate::components::share_dialog::ShareDialog;
use crate::components::shortcuts::ShortcutsDialog;
use crate::components::transfer_list::TransferList;
use crate::components::verification_warning::VerificationWarning;
use crate::invite_link;
use crate::lazy_part::LazyView;
use crate::net::explain;
use crate::net::socket::ConnectionStatus;
use crate::rooms::{self, RoomAccess};
use crate::session::{RoomSession, Trusted};
use crate::store::{self, RoomRecord};

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
            RoomAccess::NeedsAlias(record, card) => view! {
                <AliasPrompt record=record card=card on_done=Callback::new(move |r: RoomRecord| access.set(RoomAccess::Ready(r))) />
            }.into_any(),
            RoomAccess::Ready(record) => view! { <ChatRoom record=record /> }.into_any(),
        }}
    }
}

#[component]
fn ChatRoom(record: RoomRecord) -> impl IntoView {
    let keys = match rooms::keys_of(&record) {
        Ok(keys) => keys,
        Err(e) => {
            return view! { <p class="notice error">{format!("This room's saved keys are damaged: {e}")}</p> }
                .into_any();
        }
    };
    let trusted = Trusted {
        seen_version: record.state_version,
        state: record.signed_state.clone(),
        epochs: record.trusted_epochs.clone(),
    };
    let session = RoomSession::start(keys.room, keys.identity, keys.keys, keys.alias, record.display_name(), trusted);
    let link_conflict = RwSignal::new(record.link_conflict.clone());
    let conflict_room = record.room.clone();
    on_cleanup(move || session.stop());
    let renaming = RwSignal::new(None::<(String, String)>);
    let show_admin = RwSignal::new(false);
    let show_search = RwSignal::new(false);
    let show_gallery = RwSignal::new(false);
    let show_people = RwSignal::new(false);
    let show_shortcuts = RwSignal::new(false);
    let dragging = RwSignal::new(false);
    image_viewer::provide();
    let transfers = crate::files::transfers::use_transfers();
    let room_id = record.room.clone();
    // The room's word once joined; before that (offline, or still connecting) what this
    // browser recorded, so a reload without a network keeps the owner's tools.
    let owner_here = record.owner;
    let is_owner = move || match session.access.get() {
        Some(access) => access == Access::Owner,
        None => owner_here,
    };
    let waiting = move || session.access.get() == Some(Access::Pending);
    // The invite link follows the newest key this browser holds (after a re-key too).
    let invite = {
        let room_id = room_id.clone();
        move || {
            let owner = session.state.with(|s| s.as_ref().map(|s| s.owner.to_b64()));
            let owner_alias = owner.map(|o| session.alias_of(&o)).filter(|a| !a.trim().is_empty());
            store::load_room(&room_id).and_then(|r| invite_link::invite_link(&r, owner_alias))
        }
    };
    let motd = move || session.motd.get();
    // A local name wins; else the room's shared name; else the short id.
    let title = {
        let record = record.clone();
        move || {
            let mut shown = record.clone();
            shown.shared_name = session.room_name.get().or(shown.shared_name);
            shown.display_name()
        }
    };
    let locked = move || session.state.with(|s| s.as_ref().is_some_and(|s| s.locked));
    // Files dropped anywhere on the room are shared with everyone in it.
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if waiting() {
            return;
        }
        if let Some(list) = ev.data_transfer().and_then(|d| d.files()) {
            share_files(session, transfers, list, None);
        }
    };
    // `?` lists the shortcuts (outside text fields); Escape closes what is on top: the
    // list, a member's card, then any open panel.
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let typing = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        match ev.key().as_str() {
            "?" if !typing => {
                ev.prevent_default();
                show_shortcuts.update(|v| *v = !*v);
            }
            "Escape" if show_shortcuts.get_untracked() => show_shortcuts.set(false),
            "Escape" if renaming.with_untracked(Option::is_some) => renaming.set(None),
            "Escape" if !typing => {
                for panel in [show_admin, show_search, show_gallery, show_people] {
                    panel.set(false);
                }
            }
            _ => {}
        }
    };
    let on_dragover = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(true);
    };
    view! {
        <section class="room" class:dragging=move || dragging.get() aria-labelledby="room-title"
            on:dragover=on_dragover on:dragleave=move |_| dragging.set(false) on:drop=on_drop on:keydown=on_keydown>
            <div class="room-bar">
                <h1 class="room-title" id="room-title">
                    {title}
                    {move || locked().then(|| view! { <span class="tag lock-tag" title="Locked: members are accepted by the owner">"🔒 locked"</span> })}
                </h1>
                <div class="room-tools">
                    <ConnectionBadge status=session.status />
                    <button type="button" id="search-toggle" class="link-button" aria-pressed=move || show_search.get().to_string()
                        on:click=move |_| show_search.update(|v| *v = !*v)>"Search"</button>
                    <button id="shortcuts-toggle" type="button" class="link-button" title="Keyboard shortcuts (?)"
                        aria-pressed=move || show_shortcuts.get().to_string() on:click=move |_| show_shortcuts.update(|v| *v = !*v)>"Shortcuts"</button>
                    <button id="people-toggle" type="button" class="link-button" aria-pressed=move || show_people.get().to_string()
                        on:click=move |_| show_people.update(|v| *v = !*v)>"People"</button>
                    <button id="gallery-toggle" type="button" class="link-button" aria-pressed=move || show_gallery.get().to_string()
                        on:click=move |_| show_gallery.update(|v| *v = !*v)>"Gallery"</button>
                    <Show when=is_owner>
                        <button id="admin-toggle" type="button" class="link-button" aria-pressed=move || show_admin.get().to_string()
                            on:click=move |_| show_admin.update(|v| *v = !*v)>"Administer"</button>
                    </Show>
                </div>
            </div>
            {move || (!waiting()).then(|| invite().map(|link| view! { <ShareDialog link=link /> }))}
            <Show when=move || is_owner() && !show_admin.get() && session.join_requests.get() != 0>
                <p id="join-request-notice" class="notice" role="status">
                    "Someone asks to join this locked room. "
                    <button type="button" class="link-button" on:click=move |_| show_admin.set(true)>"Review requests"</button>
                </p>
            </Show>
            <Show when=move || show_admin.get() && is_owner()>
                <LazyView load=move || admin_panel_part(session) what="the owner's tools" />
            </Show>
            <Show when=move || show_search.get()>
                <SearchPanel room=room_id.clone() />
            </Show>
            <ShortcutsDialog open=show_shortcuts />
            <Show when=move || show_people.get()>
                <MemberList session=session on_name=Callback::new(move |target| renaming.set(Some(target))) />
            </Show>
            <Show when=move || show_gallery.get()>
                <Gallery session=session />
            </Show>
            {move || motd().map(|m| view! { <p class="motd" role="note"><strong>"Message of the day: "</strong>{m}</p> })}
            {move || match session.status.get() {
                ConnectionStatus::Failed(code) => Some(view! {
                    <p id="join-refused" class="notice error" role="alert">{explain::join_refused(code)}</p>
                }),
                _ => None,
            }}
            <Show when=waiting>
                <p id="waiting-notice" class="notice" role="status">
                    "This room is locked. The owner has been told you asked to join; you will see the conversation once they accept you."
                </p>
            </Show>
            <SecurityWarnings session=session />
            <VerificationWarning session=session />
            <CallPanel session=session />
            {move || link_conflict.get().map(|(epoch, _)| {
                let keep_room = conflict_room.clone();
                let adopt_room = conflict_room.clone();
                view! {
                    <div id="link-conflict" class="notice warning" role="alert">
                        <p>{format!("The link you opened carries a different key for key epoch {epoch} than the one this browser holds. The key you had is kept and in use.")}</p>
                        <button type="button" on:click=move |_| { rooms::use_link_key(&keep_room, false); link_conflict.set(None); }>"Keep my key"</button>
                        <button type="button" class="link-button" on:click=move |_| {
                            rooms::use_link_key(&adopt_room, true);
                            link_conflict.set(None);
                            let _ = web_sys::window().map(|w| w.location().reload());
                        }>"Use the link's key"</button>
                    </div>
                }
            })}
            {move || session.notice.get().map(|n| view! { <p class="notice error" role="alert">{n}</p> })}
            <MessageList session=session on_name=Callback::new(move |target| renaming.set(Some(target)))
                unread_from=record.last_seen.clone() />
            <NameDialog target=renaming session=session />
            <TransferList />
            <PresenceLine session=session />
            <Composer session=session />
            <ImageViewer />
        </section>
    }
    .into_any()
}
