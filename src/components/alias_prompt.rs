//! First visit of a room: says which room the link opens and who sent it (from the link's
//! card, see [`crate::invite_link`]), then asks for the name others will see.

use leptos::prelude::*;

use crate::invite_link::InviteCard;
use crate::rooms;
use crate::store::RoomRecord;

/// Who sent the link, and whose room it is, in one sentence (as the link says).
fn invited_by(card: &InviteCard) -> Option<String> {
    match (&card.from, &card.owner) {
        (Some(from), Some(owner)) if from == owner => {
            Some(format!("{from}, the room's owner, sent you this invitation."))
        }
        (Some(from), Some(owner)) => Some(format!("{from} sent you this invitation to {owner}'s room.")),
        (Some(from), None) => Some(format!("{from} sent you this invitation.")),
        (None, Some(owner)) => Some(format!("{owner}'s room.")),
        (None, None) => None,
    }
}

#[component]
pub fn AliasPrompt(record: RoomRecord, card: InviteCard, on_done: Callback<RoomRecord>) -> impl IntoView {
    let alias = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let record = StoredValue::new(record);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match rooms::choose_alias(record.get_value(), &alias.get_untracked()) {
            Ok(r) => on_done.run(r),
            Err(e) => error.set(Some(e)),
        }
    };
    let heading = match &card.name {
        Some(name) => format!("Join “{name}”"),
        None => "Join this room".to_owned(),
    };
    view! {
        <form class="card narrow" on:submit=submit aria-labelledby="alias-heading">
            <h1 id="alias-heading">{heading}</h1>
            {invited_by(&card).map(|line| view! { <p id="invited-by" class="invited-by">{line}</p> })}
            <p class="hint">"Pick a name for this room. A new key pair is made in this browser; it never leaves it."</p>
            <p class="hint">"Been here before on another device? "<a href="/settings">"Import your keys file"</a>" instead."</p>
            <label for="alias-input">"Your name"</label>
            <input id="alias-input" type="text" autocomplete="nickname" maxlength="40" required autofocus
                prop:value=move || alias.get()
                on:input=move |ev| alias.set(event_target_value(&ev)) />
            <p class="error" role="alert">{move || error.get()}</p>
            <button id="alias-submit" type="submit" class="primary">"Enter room"</button>
        </form>
    }
}
