//! The room's messages, oldest first. Older pages load when the list is scrolled to the
//! top (or with the button); the view stays at the newest message as messages arrive,
//! and keeps its place when older ones are added above. Rows use `content-visibility:
//! auto`, so long histories stay smooth: off-screen rows are not laid out or painted.

use leptos::html;
use leptos::prelude::*;

use crate::components::message_row::MessageRow;
use crate::session::RoomSession;

/// Distance from the top (px) at which older messages start loading.
const LOAD_OLDER_AT: i32 = 80;

#[component]
pub fn MessageList(session: RoomSession, on_name: Callback<(String, String)>) -> impl IntoView {
    let list_ref = NodeRef::<html::Ol>::new();
    let rows = move || session.timeline.with(|t| t.iter().cloned().collect::<Vec<_>>());
    // Where the view was before an update: (scroll height, scroll top, near the bottom).
    let before = StoredValue::new((0, 0, true));
    Effect::new(move |_| {
        session.timeline.track();
        let Some(list) = list_ref.get() else { return };
        let (old_height, old_top, was_at_bottom) = before.get_value();
        let height = list.scroll_height();
        if was_at_bottom {
            list.set_scroll_top(height);
        } else if old_top < LOAD_OLDER_AT && height > old_height {
            // Older messages were added above: keep the same message in view.
            list.set_scroll_top(old_top + height - old_height);
        }
    });
    let on_scroll = move |_| {
        let Some(list) = list_ref.get() else { return };
        let at_bottom = list.scroll_height() - list.scroll_top() - list.client_height() < 40;
        before.set_value((list.scroll_height(), list.scroll_top(), at_bottom));
        if list.scroll_top() < LOAD_OLDER_AT && session.more_history.get_untracked() {
            session.load_older();
        }
        if at_bottom {
            session.mark_seen();
        }
    };
    view! {
        <div class="history-controls">
            <Show when=move || session.more_history.get()>
                <button id="load-older" type="button" class="link-button" on:click=move |_| session.load_older()
                    disabled=move || session.loading_older.get()>
                    {move || if session.loading_older.get() { "Loading…" } else { "Load older messages" }}
                </button>
            </Show>
        </div>
        <ol id="messages" class="messages" node_ref=list_ref aria-label="Messages" aria-live="polite" tabindex="0"
            on:scroll=on_scroll>
            <For
                each=rows
                key=|m| (m.id.clone(), m.key.clone(), m.delivery.clone(), m.trust.clone())
                children=move |m| view! { <MessageRow message=m session=session on_name=on_name /> }
            />
        </ol>
    }
}
