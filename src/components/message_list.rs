//! The room's messages, oldest first, kept scrolled to the newest.

use leptos::html;
use leptos::prelude::*;

use crate::session::RoomSession;
use crate::session::timeline::{ChatMessage, Delivery, Trust};

fn format_time(ms: u64) -> (String, String) {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    let short = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
    let full: String = date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED).into();
    (short, full)
}

#[component]
fn MessageRow(message: ChatMessage) -> impl IntoView {
    let mut classes = vec!["message"];
    if message.mine {
        classes.push("mine");
    }
    if message.from_owner {
        classes.push("from-owner");
    }
    let tampered = matches!(message.trust, Trust::Tampered(_));
    if tampered {
        classes.push("tampered");
    }
    let status = match &message.delivery {
        Delivery::Pending => "pending",
        Delivery::Sent => "sent",
        Delivery::Failed(_) => "failed",
    };
    let (time, full_time) = message.time_ms.map(format_time).unwrap_or_default();
    let body = match &message.trust {
        Trust::Verified => view! { <p class="message-text">{message.text.clone()}</p> }.into_any(),
        Trust::Tampered(reason) => view! {
            <p class="message-text tampered-text" role="alert">
                {format!("⚠ This message failed verification and is not shown ({reason}).")}
            </p>
        }
        .into_any(),
    };
    let alias = if tampered { "Unverified sender".to_owned() } else { message.alias.clone() };
    let delivery_note = match &message.delivery {
        Delivery::Pending => Some("Sending…".to_owned()),
        Delivery::Failed(reason) => Some(format!("Not sent: {reason}")),
        Delivery::Sent => None,
    };
    view! {
        <li class=classes.join(" ") data-status=status data-key=message.key.clone().unwrap_or_default()>
            <div class="message-meta">
                <span class="message-alias">{alias}</span>
                {message.from_owner.then(|| view! { <span class="tag owner-tag">"owner"</span> })}
                <time class="message-time" title=full_time>{time}</time>
            </div>
            {body}
            {delivery_note.map(|n| view! { <p class="delivery-note">{n}</p> })}
        </li>
    }
}

#[component]
pub fn MessageList(session: RoomSession) -> impl IntoView {
    let list_ref = NodeRef::<html::Ol>::new();
    let rows = move || session.timeline.with(|t| t.iter().cloned().collect::<Vec<_>>());
    // Keep the newest message in view as messages arrive.
    Effect::new(move |_| {
        session.timeline.track();
        if let Some(list) = list_ref.get() {
            list.set_scroll_top(list.scroll_height());
        }
    });
    view! {
        <ol class="messages" node_ref=list_ref aria-label="Messages" aria-live="polite">
            <For
                each=rows
                key=|m| (m.id.clone(), m.key.clone(), m.delivery.clone(), m.trust.clone())
                children=|m| view! { <MessageRow message=m /> }
            />
        </ol>
    }
}
