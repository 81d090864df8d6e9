//! The message composer: Enter sends, Shift+Enter adds a line.

use leptos::prelude::*;

use crate::session::RoomSession;

#[component]
pub fn Composer(session: RoomSession) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let send = move || {
        let value = text.get_untracked();
        if !value.trim().is_empty() {
            session.send_text(&value);
            text.set(String::new());
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    view! {
        <form class="composer" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); send(); }>
            <label for="composer" class="visually-hidden">"Message"</label>
            <textarea id="composer" rows="2" placeholder="Write a message — Enter sends, Shift+Enter for a new line"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                on:keydown=on_keydown></textarea>
            <button id="send-button" type="submit" class="primary">"Send"</button>
        </form>
    }
}
