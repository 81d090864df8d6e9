//! What can be done with one message: reply, react, edit (own text messages), delete
//! for everyone (own messages, or any as the room's owner, after a confirmation in place)
//! and copy its text, with the exact time. Shown over the row's corner (taking no room,
//! so nothing moves when it appears) on hover and while the row holds the focus; they are
//! tab stops only while their row has the focus (`data-roving`, see message_list.rs), so
//! from a focused row Tab reaches them and the timeline stays one tab stop.
//!
//! An open reaction picker or delete confirmation belongs to the list ([`OpenAction`]),
//! not to the row: a row is rebuilt whenever its message changes (an ack, a reaction, an
//! edit of the message it quotes), and a confirmation kept in the row closed under the
//! user's pointer when that happened.

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

/// What a row's actions opened beyond the toolbar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    ReactionPicker,
    DeleteConfirmation,
}

/// Which message has its reaction picker or delete confirmation open (one at a time),
/// provided by the message list so that it outlives a rebuilt row.
#[derive(Clone, Copy)]
pub struct OpenAction(RwSignal<Option<(String, Opened)>>);

impl OpenAction {
    pub fn new() -> Self {
        Self(RwSignal::new(None))
    }

    fn is(&self, id: &str, what: Opened) -> bool {
        self.0.with(|o| o.as_ref().is_some_and(|(i, w)| i == id && *w == what))
    }

    fn open(&self, id: &str, what: Opened) {
        self.0.set(Some((id.to_owned(), what)));
    }

    /// Closes what `id` has open (leaves another message's alone).
    fn close(&self, id: &str) {
        if self.0.with_untracked(|o| o.as_ref().is_some_and(|(i, _)| i == id)) {
            self.0.set(None);
        }
    }
}

impl Default for OpenAction {
    fn default() -> Self {
        Self::new()
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
    let opened = use_context::<OpenAction>().unwrap_or_default();
    let picking = {
        let id = id.clone();
        move || opened.is(&id, Opened::ReactionPicker)
    };
    let confirming = {
        let id = id.clone();
        move || opened.is(&id, Opened::DeleteConfirmation)
    };
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
            opened.close(&id);
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
                        opened.close(&id);
                        report(session.toggle_reaction(&id, emoji));
                    };
                    view! { <button type="button" class="react-choice" aria-label=label on:click=pick>{*emoji}</button> }
                })
                .collect_view()
        }
    };
    let toggle_picker = {
        let (id, picking) = (id.clone(), picking.clone());
        move |_| if picking() { opened.close(&id) } else { opened.open(&id, Opened::ReactionPicker) }
    };
    let ask_to_delete = {
        let id = id.clone();
        move |_| opened.open(&id, Opened::DeleteConfirmation)
    };
    let cancel_delete = {
        let id = id.clone();
        move |_| opened.close(&id)
    };
    let has_text = !text.is_empty();
    view! {
        <div class="row-actions" role="toolbar" aria-label="Message actions">
            <button type="button" class="action-reply" tabindex="-1" data-roving="" on:click=reply>"Reply"</button>
            <button type="button" class="action-react" tabindex="-1" data-roving="" aria-expanded={
                let picking = picking.clone();
                move || picking().to_string()
            }
                on:click=toggle_picker>"React"</button>
            {(mine && has_text).then(|| view! { <button type="button" class="action-edit" tabindex="-1" data-roving="" on:click=edit>"Edit"</button> })}
            <Show when=can_delete>
                <button type="button" class="action-delete" tabindex="-1" data-roving="" on:click=ask_to_delete.clone()>"Delete"</button>
            </Show>
            {has_text.then(|| view! { <button type="button" class="action-copy" tabindex="-1" data-roving="" on:click=copy.clone()>"Copy"</button> })}
            // The exact time (the row's own time is relative; its title is for the mouse).
            {time.map(|t| view! { <span class="message-time-full">{crate::clock::full(t)}</span> })}
        </div>
        <Show when=picking>
            <div class="react-picker" role="group" aria-label="Pick a reaction">{choices.clone()}</div>
        </Show>
        <Show when=confirming>
            <div class="confirm-delete" role="alertdialog" aria-label="Delete this message for everyone?">
                <span>"Delete this message for everyone? This cannot be undone."</span>
                <button type="button" class="danger confirm-delete-yes" on:click=delete.clone()>"Delete"</button>
                <button type="button" class="confirm-delete-no" on:click=cancel_delete.clone()>"Cancel"</button>
            </div>
        </Show>
    }
}
