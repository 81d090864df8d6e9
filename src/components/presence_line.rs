//! Under the timeline: who is typing now, and who has read this browser's newest message
//! ("Seen by Bea"), as Signal and Element show them. Both come from the session's
//! presence (ephemeral frames, never stored).

use leptos::prelude::*;

use crate::clock::Now;
use crate::contacts::use_contacts;
use crate::session::RoomSession;
use crate::session::presence::typing_sentence;

#[component]
pub fn PresenceLine(session: RoomSession) -> impl IntoView {
    let contacts = use_contacts();
    let now = expect_context::<Now>().0;
    let typing = move || {
        // (The clock ticks slowly; presence changes wake this up when indicators lapse.)
        now.track();
        let names: Vec<String> = session
            .presence
            .with(|p| p.typists(js_sys::Date::now()))
            .into_iter()
            .map(|m| contacts.name(&m.key, &m.alias))
            .collect();
        typing_sentence(&names)
    };
    // Our newest committed message, and who has read it.
    let seen_by = move || {
        let newest_own = session.timeline.with(|t| t.own_newest_key().map(str::to_owned))?;
        let readers = session.presence.with(|p| p.readers_of(&newest_own));
        if readers.is_empty() {
            return None;
        }
        let names: Vec<String> = readers.iter().map(|m| contacts.name(&m.key, &m.alias)).collect();
        Some(format!("Seen by {}", names.join(", ")))
    };
    view! {
        <div class="presence-line">
            <p id="seen-by" class="seen-by">{seen_by}</p>
            <p id="typing" class="typing" role="status" aria-live="polite">{typing}</p>
        </div>
    }
}
