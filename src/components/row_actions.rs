//! What can be done with one message: reply, react, edit (own text messages), delete
//! for everyone (own messages, or any as the room's owner, after a confirmation in place)
//! and copy its text, with the exact time. Shown over the row's corner (taking no room,
//! so nothing moves when it appears) on hover and while the row holds the focus; they are
//! tab stops only while their row has the focus (`data-roving`, see message_list.rs), so
//! from a focused row Tab reaches them and the timeline stays one tab stop.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::session::{Compose, RoomSession};

/// The reactions offered in one click.
pub const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

/// Puts the keyboard in the composer (after choosing to reply or edit).
pub fn focus_composer() {
    let field = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("composer"))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(field) = field {
        let _ = field.focus();
    }
}

#[component]
pub fn RowActions(
    id: String,
    text: String,
    mine: bool,
    /// When the message was committed (ms): the toolbar shows the exact time.
    time: Option<u64>,
    session: RoomSession,
) -> impl IntoView {
    let picking = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let is_owner = move || session.state.with(|s| s.as_ref().is_some_and(|s| s.owner.to_b64() == session.me()));
    let can_delete = move || mine || is_owner();
    let report = move |result: Result<(), String>| {
        if let Err(e) = result {
            session.notice.set(Some(e));
        }
    };
    let reply = {
        let id = id.clone();
        move |_| {
            session.compose.set(Compose::Reply(id.clone()));
            focus_composer();
        }
    };
    let edit = {
        let id = id.clone();
        move |_| {
            session.compose.set(Compose::Edit(id.clone()));
            focus_composer();
        }
    };
    let delete = {
        let id = id.clone();
        move |_| {
            confirming.set(false);
            report(session.delete(&id));
        }
    };
    let copy = {
        let text = text.clone();
        move |_| {
            if let Some(w) = web_sys::window() {
                let _ = w.navigator().clipboard().write_text(&text);
            }
        }
    };
    let choices = {
        let id = id.clone();
        move || {
            QUICK_REACTIONS
                .iter()
                .map(|emoji| {
                    let id = id.clone();
                    let label = format!("React with {emoji}");
                    let pick = move |_| {
                        picking.set(false);
                        report(session.toggle_reaction(&id, emoji));
                    };
                    view! { <button type="button" class="react-choice" aria-label=label on:click=pick>{*emoji}</button> }
                })
                .collect_view()
        }
    };
    let has_text = !text.is_empty();
    view! {
        <div class="row-actions" role="toolbar" aria-label="Message actions">
            <button type="button" class="action-reply" tabindex="-1" data-roving="" on:click=reply>"Reply"</button>
            <button type="button" class="action-react" tabindex="-1" data-roving="" aria-expanded=move || picking.get().to_string()
                on:click=move |_| picking.update(|p| *p = !*p)>"React"</button>
            {(mine && has_text).then(|| view! { <button type="button" class="action-edit" tabindex="-1" data-roving="" on:click=edit>"Edit"</button> })}
            <Show when=can_delete>
                <button type="button" class="action-delete" tabindex="-1" data-roving="" on:click=move |_| confirming.set(true)>"Delete"</button>
            </Show>
            {has_text.then(|| view! { <button type="button" class="action-copy" tabindex="-1" data-roving="" on:click=copy.clone()>"Copy"</button> })}
            // The exact time (the row's own time is relative; its title is for the mouse).
            {time.map(|t| view! { <span class="message-time-full">{crate::clock::full(t)}</span> })}
        </div>
        <Show when=move || picking.get()>
            <div class="react-picker" role="group" aria-label="Pick a reaction">{choices.clone()}</div>
        </Show>
        <Show when=move || confirming.get()>
            <div class="confirm-delete" role="alertdialog" aria-label="Delete this message for everyone?">
                <span>"Delete this message for everyone? This cannot be undone."</span>
                <button type="button" class="danger confirm-delete-yes" on:click=delete.clone()>"Delete"</button>
                <button type="button" class="confirm-delete-no" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </div>
        </Show>
    }
}
