//! One message: who (local name or alias, with owner / verified-guest tags), when, what,
//! its delivery state, and the cues: whisper, failed verification, edited, deleted. A
//! shared file or image shows as its card or thumbnail; a reply shows what it answers;
//! reactions show under it. Its actions (reply, react, edit, delete, copy) appear on
//! hover and when the row has the keyboard focus (see [`RowActions`]).

use leptos::prelude::*;

use crate::clock::{self, Now};
use crate::components::attachment_view::AttachmentView;
use crate::components::row_actions::RowActions;
use crate::contacts::use_contacts;
use crate::session::RoomSession;
use crate::session::timeline::{ChatMessage, DeletedBy, Delivery, Quote, Trust};

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
    if m.shown.continued {
        classes.push("continued");
    }
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
    if m.trust == Trust::Erased {
        classes.push("erased");
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
    let deleted = m.shown.deleted;
    let body = match (&m.trust, deleted) {
        (Trust::Verified | Trust::Erased, Some(by)) => {
            let text = match by {
                DeletedBy::Sender => "This message was deleted.",
                DeletedBy::Owner => "This message was deleted by the room's owner.",
            };
            view! { <p class="message-text deleted-text">{text}</p> }.into_any()
        }
        (Trust::Verified, None) => {
            let quote = m.shown.quote.clone().map(|q| view! { <ReplyQuote quote=q /> });
            let text = (!m.text.is_empty()).then(|| view! { <FormattedText text=m.text.clone() /> });
            let attachment = m.attachment.clone().map(|a| view! { <AttachmentView attachment=a /> });
            view! { {quote} {text} {attachment} }.into_any()
        }
        (Trust::Tampered(reason), _) => view! {
            <p class="message-text tampered-text" role="alert">
                {format!("⚠ This message failed verification and is not shown ({reason}).")}
            </p>
        }
        .into_any(),
        (Trust::Erased, None) => view! {
            <p class="message-text tampered-text" role="alert">
                "⚠ The server dropped this message's content, but no delete from its sender or the room's owner is here."
            </p>
        }
        .into_any(),
        (Trust::Sealed(reason), _) => {
            let text = if m.whisper.is_some() {
                "(whispered)".to_owned()
            } else {
                format!("🔒 Cannot be read here: {reason}.")
            };
            view! { <p class="message-text sealed-text">{text}</p> }.into_any()
        }
    };
    // Actions are for readable, committed-or-pending room messages that still exist.
    let actionable = m.trust == Trust::Verified && deleted.is_none() && m.whisper.is_none();
    let reactions = (!m.shown.reactions.is_empty()).then(|| {
        let id = m.id.clone();
        let chips = m
            .shown
            .reactions
            .iter()
            .map(|r| {
                let (id, emoji) = (id.clone(), r.emoji.clone());
                let label = format!("{} {} (reacted {} time{})", r.emoji, r.count, r.count, if r.count == 1 { "" } else { "s" });
                let toggle = move |_| {
                    if let Err(e) = session.toggle_reaction(&id, &emoji) {
                        session.notice.set(Some(e));
                    }
                };
                view! {
                    <button type="button" class="reaction" class:mine=r.mine aria-pressed=if r.mine { "true" } else { "false" }
                        tabindex="-1" aria-label=label on:click=toggle disabled=!actionable>
                        {format!("{} {}", r.emoji, r.count)}
                    </button>
                }
            })
            .collect_view();
        view! { <div class="reactions">{chips}</div> }
    });
    let edited = m.shown.edited && deleted.is_none();
    let row_actions = actionable.then(|| {
        view! { <RowActions id=m.id.clone() text=m.text.clone() mine=m.mine time=time session=session /> }
    });
    let id = m.id.clone();
    let unread_line = {
        let id = id.clone();
        move || {
            first_unread.with(|f| f.as_deref() == Some(id.as_str())).then(|| {
                view! { <li class="unread-line"><span>"New messages"</span></li> }
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
    let day_line = m.shown.day_starts.map(|ms| view! { <DayLine ms=ms /> });
    view! {
        {day_line}
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

                {edited.then(|| view! { <span class="edited-tag" title="Its sender changed this message">"(edited)"</span> })}
            </div>
            {body}
            {reactions}
            {row_actions}
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

/// The line above the first row of a day ("Today", "Monday 3 March").
#[component]
pub fn DayLine(ms: u64) -> impl IntoView {
    let now = expect_context::<Now>().0;
    view! {
        <li class="day-line">
            <span>{move || clock::day_label(ms, now.get())}</span>
        </li>
    }
}

/// What a reply answers: the quoted message's sender and the start of its text.
#[component]
fn ReplyQuote(quote: Quote) -> impl IntoView {
    let contacts = use_contacts();
    let (who, what) = match quote {
        Quote::Found { sender, alias, excerpt, .. } => (Some(contacts.name(&sender, &alias)), excerpt),
        Quote::Deleted => (None, "A deleted message".to_owned()),
        Quote::Missing => (None, "An earlier message (not loaded)".to_owned()),
    };
    view! {
        <blockquote class="reply-quote">
            {who.map(|who| view! { <span class="reply-quote-name">{who}</span> })}
            <span class="reply-quote-text">{what}</span>
        </blockquote>
    }
}

/// Message text with clickable links and a little formatting ([`crate::format`]): only
/// elements and text nodes, never markup from the message.
#[component]
fn FormattedText(text: String) -> impl IntoView {
    use crate::format::{Span, lines};
    let render = |span: Span| match span {
        Span::Text(t) => t.into_any(),
        Span::Bold(t) => view! { <strong>{t}</strong> }.into_any(),
        Span::Italic(t) => view! { <em>{t}</em> }.into_any(),
        Span::Code(t) => view! { <code>{t}</code> }.into_any(),
        Span::Link(url) => {
            let shown = url.clone();
            // Not a tab stop until its row has the focus (the timeline is one tab stop;
            // see message_list.rs).
            view! { <a href=url target="_blank" rel="noopener noreferrer" tabindex="-1" data-roving="">{shown}</a> }
                .into_any()
        }
    };
    let body = lines(&text)
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let spans = line.spans.into_iter().map(render).collect_view();
            let inner = if line.quote {
                view! { <span class="text-quote">{spans}</span> }.into_any()
            } else {
                spans.into_any()
            };
            view! { {(i > 0).then(|| view! { <br /> })} {inner} }
        })
        .collect_view();
    view! { <p class="message-text">{body}</p> }
}
