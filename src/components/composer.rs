//! The message composer: Enter sends, Shift+Enter adds a line; the recipient can be the
//! room or one member (a whisper: the owner to anyone, a guest to the owner). "Attach"
//! shares files (several at once) with the same recipient. It also replies to a message
//! or edits one of ours (chosen from the message's actions, or Up in an empty composer
//! for our last message); Escape goes back to writing.

use std::collections::BTreeMap;

use leptos::prelude::*;
use protocol::frames::Access;
use protocol::identity::PublicKey;

use crate::contacts::use_contacts;
use crate::files::share;
use crate::files::transfers::{Transfers, use_transfers};
use crate::net::socket::ConnectionStatus;
use crate::session::timeline::excerpt;
use crate::session::{Compose, RoomSession};

/// Shares every file of `list` with `to` (the room when `None`), one after the other.
pub fn share_files(session: RoomSession, transfers: Transfers, list: web_sys::FileList, to: Option<PublicKey>) {
    let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
    leptos::task::spawn_local(async move {
        for file in files {
            share::share(session, transfers, file, to).await;
        }
    });
}

#[component]
pub fn Composer(session: RoomSession) -> impl IntoView {
    let contacts = use_contacts();
    let transfers = use_transfers();
    let text = RwSignal::new(String::new());
    let field = NodeRef::<leptos::html::Textarea>::new();
    // Ready to write as soon as the room lets this browser in (once per visit).
    Effect::new(move |focused: Option<bool>| {
        if focused == Some(true) {
            return true;
        }
        let ready = session.status.get() == ConnectionStatus::Connected
            && session.access.get().is_some_and(|a| a != Access::Pending);
        if ready && let Some(el) = field.get() {
            let _ = el.focus();
        }
        ready
    });
    // The field grows with its text (up to the stylesheet's max-height), and back.
    let fit = move || {
        if let Some(el) = field.get_untracked() {
            let style = web_sys::HtmlElement::style(&el);
            let _ = style.set_property("height", "auto");
            let _ = style.set_property("height", &format!("{}px", el.scroll_height() + 2));
        }
    };
    Effect::new(move |_| {
        text.track();
        // Text set by the app (cleared after sending, an edit): after the binding has
        // put it in the field (a microtask), so in the next task — a timer, which a
        // window in the background still runs, unlike animation frames.
        set_timeout(fit, std::time::Duration::ZERO);
    });
    let to = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let refused = move || matches!(session.status.get(), ConnectionStatus::Failed(_));
    // Nothing can be written while the owner has not accepted this key, or when the room
    // refused it for good.
    let waiting = move || session.access.get() == Some(Access::Pending) || refused();
    // Whisper targets: a guest can whisper to the owner; the owner to anyone who spoke.
    let targets = move || {
        let me = session.me();
        let owner = session.state.with(|s| s.as_ref().map(|s| s.owner.to_b64()));
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        match owner {
            Some(owner) if owner == me => session.timeline.with(|t| {
                for (sender, alias) in t.senders().filter(|(sender, _)| *sender != me) {
                    out.insert(sender.to_owned(), contacts.name(sender, alias));
                }
            }),
            Some(owner) => {
                let alias = session.timeline.with(|t| t.alias_of(&owner).unwrap_or_default().to_owned());
                out.insert(owner.clone(), format!("{} (owner)", contacts.name(&owner, &alias)));
            }
            None => {}
        }
        out.into_iter().collect::<Vec<_>>()
    };
    // Editing starts from the message's current text.
    Effect::new(move |_| {
        if let Compose::Edit(id) = session.compose.get() {
            let current = session.timeline.with_untracked(|t| t.get(&id).map(|m| t.shown(m).text));
            text.set(current.unwrap_or_default());
        }
    });
    let back_to_writing = move || {
        if matches!(session.compose.get_untracked(), Compose::Edit(_)) {
            text.set(String::new());
        }
        session.compose.set(Compose::Write);
    };
    // What the bar above the field says while replying or editing.
    let mode_line = move || match session.compose.get() {
        Compose::Write => None,
        Compose::Edit(_) => Some("Editing your message".to_owned()),
        Compose::Reply(id) => {
            let quoted = session.timeline.with(|t| {
                let mut probe = t.get(&id)?.clone();
                probe.reply_to = None;
                let shown = t.shown(&probe);
                Some((shown.sender.clone(), shown.alias.clone(), shown.text.clone()))
            });
            Some(match quoted {
                Some((sender, alias, text)) => {
                    format!("Replying to {}: {}", contacts.name(&sender, &alias), excerpt(&text, 80))
                }
                None => "Replying".to_owned(),
            })
        }
    };
    let send = move || {
        let value = text.get_untracked();
        let compose = session.compose.get_untracked();
        if value.trim().is_empty() && !matches!(compose, Compose::Edit(_)) {
            return;
        }
        let recipient = to.get_untracked();
        let peer = if recipient.is_empty() { None } else { PublicKey::parse(&recipient).ok() };
        let sent = match &compose {
            Compose::Write => session.send(&value, peer),
            Compose::Reply(id) => session.reply(&value, id),
            Compose::Edit(id) => session.edit(id, &value),
        };
        match sent {
            Ok(()) => {
                text.set(String::new());
                error.set(None);
                session.compose.set(Compose::Write);
                session.typing(false);
            }
            Err(e) => error.set(Some(e)),
        }
    };
    let recipient = move || {
        let r = to.get_untracked();
        if r.is_empty() { None } else { PublicKey::parse(&r).ok() }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(list) = input.files() {
            share_files(session, transfers, list, recipient());
        }
        input.set_value("");
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.is_composing() {
            return;
        }
        match ev.key().as_str() {
            "Enter" if !ev.shift_key() => {
                ev.prevent_default();
                send();
            }
            "Escape" if session.compose.get_untracked() != Compose::Write => {
                ev.prevent_default();
                back_to_writing();
            }
            "ArrowUp" if text.get_untracked().is_empty() && session.compose.get_untracked() == Compose::Write => {
                if let Some(last) = session.timeline.with_untracked(|t| t.last_own_text()) {
                    ev.prevent_default();
                    session.compose.set(Compose::Edit(last.id));
                }
            }
            _ => {}
        }
    };
    view! {
        <form class="composer" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); send(); }>
            <div class="composer-to">
                <label for="whisper-to">"To"</label>
                <select id="whisper-to" on:change=move |ev| to.set(event_target_value(&ev)) prop:value=move || to.get()>
                    <option value="">"Everyone in the room"</option>
                    <For each=targets key=|(k, n)| (k.clone(), n.clone()) children=move |(key, name)| {
                        view! { <option value=key>{format!("Whisper to {name}")}</option> }
                    } />
                </select>
            </div>
            {move || mode_line().map(|line| view! {
                <div class="compose-mode" role="status">
                    <span class="compose-mode-text">{line}</span>
                    <button type="button" class="compose-cancel link-button" aria-label="Cancel (Escape)" on:click=move |_| back_to_writing()>"✕"</button>
                </div>
            })}
            <div class="composer-row">
                <label for="composer" class="visually-hidden">"Message"</label>
                <textarea id="composer" rows="2" node_ref=field
                    placeholder=move || if refused() { "This room cannot be joined" } else if waiting() { "You can write once the owner accepts you" } else { "Write a message — Enter sends, Shift+Enter for a new line" }
                    disabled=waiting
                    prop:value=move || text.get()
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        session.typing(!value.trim().is_empty());
                        text.set(value);
                        // Typed text is already in the field: fit now, not only on the
                        // next frame (a window in the background may get no frames).
                        fit();
                    }
                    on:keydown=on_keydown></textarea>
                <label class="attach-button button" class:disabled=waiting title="Share files or images (or drop them on the room)">
                    "Attach"
                    <input id="attach-input" type="file" multiple class="visually-hidden" disabled=waiting on:change=on_pick />
                </label>
                <button id="send-button" type="submit" class="primary" disabled=waiting>"Send"</button>
            </div>
            <p class="error" role="alert">{move || error.get()}</p>
        </form>
    }
}
