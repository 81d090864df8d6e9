//! The keyboard shortcuts, listed when `?` is pressed in a room (outside a text field);
//! Escape closes the list.

use leptos::prelude::*;

/// Every shortcut the room view has: (keys, what they do).
pub const SHORTCUTS: [(&str, &str); 9] = [
    ("Enter", "send the message (Shift+Enter: a new line)"),
    ("↑ in an empty message field", "edit your last message"),
    ("Escape in the message field", "stop replying or editing"),
    ("↑ / ↓ in the timeline", "move between messages (Home / End: first / newest)"),
    ("Enter on a message", "open its sender's card"),
    ("Tab on a message", "reach its actions: reply, react, edit, delete, copy"),
    ("Drop files on the room", "share them with everyone in it"),
    ("?", "show this list"),
    ("Escape", "close this list, a member's card or an open panel"),
];

#[component]
pub fn ShortcutsDialog(open: RwSignal<bool>) -> impl IntoView {
    view! {
        <Show when=move || open.get()>
            <section id="shortcuts" class="card shortcuts" role="dialog" aria-modal="false" aria-labelledby="shortcuts-heading">
                <h2 id="shortcuts-heading">"Keyboard shortcuts"</h2>
                <dl>
                    {SHORTCUTS.iter().map(|(keys, what)| view! { <dt><kbd>{*keys}</kbd></dt><dd>{*what}</dd> }).collect_view()}
                </dl>
                <button type="button" id="shortcuts-close" on:click=move |_| open.set(false)>"Close"</button>
            </section>
        </Show>
    }
}
