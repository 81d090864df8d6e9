//! A membership line in the timeline ("Nina joined the room", "Olga let Nina in"): centred
//! and quiet, no bubble, no actions. Who it names follows what this browser learns later
//! (a member's alias from their messages, a local contact name).

use leptos::prelude::*;

use crate::clock::{self, Now};
use crate::components::message_row::DayLine;
use crate::contacts::use_contacts;
use crate::session::RoomSession;
use crate::session::timeline::{ChatMessage, MemberEvent};

#[component]
pub fn SystemLine(message: ChatMessage, event: MemberEvent, session: RoomSession) -> impl IntoView {
    let contacts = use_contacts();
    let now = expect_context::<Now>().0;
    let m = message;
    let (sender, alias) = (m.sender.clone(), m.alias.clone());
    let kind = match &event {
        MemberEvent::Joined => "joined",
        MemberEvent::Left => "left",
        MemberEvent::Accepted { .. } => "accepted",
        MemberEvent::Removed { .. } => "removed",
    };
    let me = session.me();
    let line = move || {
        let who = if m.mine { "You".to_owned() } else { contacts.name(&sender, &alias) };
        // Someone this browser knows by no name yet (accepted before they wrote anything).
        let name_of = |key: &str| {
            if key == me {
                return "you".to_owned();
            }
            let alias = session.timeline.with(|t| t.alias_of(key).unwrap_or_default().to_owned());
            let name = contacts.name(key, &alias);
            if alias.is_empty() && name == "Anonymous" { "a newcomer".to_owned() } else { name }
        };
        event.line(&who, name_of)
    };
    let time = m.time_ms;
    view! {
        {m.shown.day_starts.map(|ms| view! { <DayLine ms=ms /> })}
        <li class="system-line" data-event=kind data-id=m.id.clone() data-key=m.key.clone().unwrap_or_default()
            data-sender=m.sender.clone() tabindex="-1">
            <span class="system-text">{line}</span>
            <time class="message-time" title=time.map(clock::full).unwrap_or_default()>
                {move || time.map(|t| clock::relative(t, now.get())).unwrap_or_default()}
            </time>
        </li>
    }
}
