//! One message: who (local name or alias, with owner / verified-guest tags), when, what,
//! its delivery state, and the cues: whisper, failed verification. A shared file or image
//! shows as its card or thumbnail.

use leptos::prelude::*;

use crate::clock::{self, Now};
use crate::components::attachment_view::AttachmentView;
use crate::contacts::use_contacts;
use crate::session::RoomSession;
use crate::session::timeline::{ChatMessage, Delivery, Trust};

#[component]
pub fn MessageRow(
    message: ChatMessage,
    session: RoomSession,
    on_name: Callback<(String, String)>,
    /// The first unread message's id: that row carries the "New messages" line.
    first_unread: Memo<Option<String>>,
) -> impl IntoView {
    let contacts = use_contacts();
    let now = expect_context::<Now>().0;
    let m = message;
    // Owner and verified-guest cues follow the room's current state (the guest may join
    // after a message was first shown).
    let role = |pick: fn(&protocol::frames::RoomState) -> Option<String>, sender: String| {
        Memo::new(move |_| session.state.with(|s| s.as_ref().and_then(pick)) == Some(sender.clone()))
    };
    let from_owner = role(|s| Some(s.owner.to_b64()), m.sender.clone());
    let from_guest = role(|s| s.guest.map(|g| g.to_b64()), m.sender.clone());
    let mut classes = vec!["message"];
    if m.mine {
        classes.push("mine");
    }
    if m.whisper.is_some() {
        classes.push("whisper");
    }
    if matches!(m.trust, Trust::Tampered(_)) {
        classes.push("tampered");
    }
    if matches!(m.trust, Trust::Sealed(_)) {
        classes.push("sealed");
    }
    let status = match &m.delivery {
        Delivery::Pending => "pending",
        Delivery::Sent => "sent",
        Delivery::Failed(_) => "failed",
    };
    let sender = m.sender.clone();
    let alias = m.alias.clone();
    let tampered = matches!(m.trust, Trust::Tampered(_));
    let mine = m.mine;
    let verified = {
        let sender = sender.clone();
        move || !mine && !tampered && contacts.is_verified(&sender)
    };
    let impostor = {
        let (sender, alias, room) = (sender.clone(), alias.clone(), session.room_id().to_string());
        move || if mine || tampered { None } else { contacts.impostor_of(&room, &sender, &alias) }
    };
    let name = {
        let (sender, alias) = (sender.clone(), alias.clone());
        move || if tampered { "Unverified sender".to_owned() } else { contacts.name(&sender, &alias) }
    };
    let whisper_note = m.whisper.as_ref().map(|w| {
        let to = w.to.clone();
        let mine = w.mine;
        let outgoing = m.mine;
        move || {
            let other = contacts.name(&to, "");
            if !mine {
                format!("whispered to {other}")
            } else if outgoing {
                format!("whisper to {other}")
            } else {
                "whispered to you".to_owned()
            }
        }
    });
    let time = m.time_ms;
    let body = match &m.trust {
        Trust::Verified => {
            let text = (!m.text.is_empty()).then(|| view! { <p class="message-text">{m.text.clone()}</p> });
            let attachment = m.attachment.clone().map(|a| view! { <AttachmentView attachment=a /> });
            view! { {text} {attachment} }.into_any()
        }
        Trust::Tampered(reason) => view! {
            <p class="message-text tampered-text" role="alert">
                {format!("⚠ This message failed verification and is not shown ({reason}).")}
            </p>
        }
        .into_any(),
        Trust::Sealed(reason) => {
            let text = if m.whisper.is_some() {
                "(whispered)".to_owned()
            } else {
                format!("🔒 Cannot be read here: {reason}.")
            };
            view! { <p class="message-text sealed-text">{text}</p> }.into_any()
        }
    };
    let id = m.id.clone();
    let unread_line = {
        let id = id.clone();
        move || {
            first_unread.with(|f| f.as_deref() == Some(id.as_str())).then(|| {
                view! { <li class="unread-line" role="separator" aria-label="New messages"><span>"New messages"</span></li> }
            })
        }
    };
    let failed = match &m.delivery {
        Delivery::Failed(reason) => Some(reason.clone()),
        _ => None,
    };
    let rename = {
        let (sender, alias) = (sender.clone(), alias.clone());
        move |_| on_name.run((sender.clone(), alias.clone()))
    };
    view! {
        {unread_line}
        <li class=classes.join(" ") class:from-owner=from_owner class:from-guest=from_guest data-status=status data-key=m.key.clone().unwrap_or_default() data-sender=sender.clone() data-id=id.clone() tabindex="-1">
            <div class="message-meta">
                // Not a tab stop of its own: the timeline is one, arrow keys move between
                // rows, Enter on a row opens this (see message_list.rs).
                <button type="button" class="message-alias link-button" title="Give this sender a local name" tabindex="-1"
                    on:click=rename disabled=m.mine || tampered>{name}</button>
                {move || from_owner.get().then(|| view! { <span class="tag owner-tag">"owner"</span> })}
                {move || (from_guest.get() && !from_owner.get()).then(|| view! { <span class="tag guest-tag">"verified guest"</span> })}
                {move || verified().then(|| view! { <span class="tag verified-tag" title="You compared this member's safety number">"✓ verified"</span> })}
                {move || impostor().map(|name| view! { <span class="tag impostor-tag" role="note">{format!("⚠ not the {name} you verified")}</span> })}
                {whisper_note.map(|note| view! { <span class="tag whisper-tag">{note}</span> })}
                <time class="message-time" title=time.map(clock::full).unwrap_or_default()>
                    {move || time.map(|t| clock::relative(t, now.get())).unwrap_or_default()}
                </time>
            </div>
            {body}
            {matches!(m.delivery, Delivery::Pending).then(|| view! { <p class="delivery-note">"Sending… (kept until delivered)"</p> })}
            {failed.map(|reason| {
                let (retry_id, discard_id) = (id.clone(), id.clone());
                view! {
                    <p class="delivery-note" role="alert">{format!("Not sent: {reason}")}</p>
                    <div class="message-actions">
                        <button type="button" on:click=move |_| session.retry(&retry_id)>"Retry"</button>
                        <button type="button" on:click=move |_| session.discard(&discard_id)>"Discard"</button>
                    </div>
                }
            })}
        </li>
    }
}
