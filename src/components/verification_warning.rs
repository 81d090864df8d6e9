//! The prominent warning that someone in this room uses the name of a member whose
//! safety number you verified, with another key: a new device, or someone else.

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::contacts::use_contacts;
use crate::session::RoomSession;

#[component]
pub fn VerificationWarning(session: RoomSession) -> impl IntoView {
    let contacts = use_contacts();
    let room = session.room_id().to_string();
    let me = session.me();
    // Each unverified key writing (in a message that verified) under a verified member's
    // name: (their key, that name).
    let clashes = Memo::new(move |_| {
        let senders: BTreeMap<String, String> = session.timeline.with(|t| {
            t.senders().filter(|(sender, _)| *sender != me).map(|(s, a)| (s.to_owned(), a.to_owned())).collect()
        });
        senders
            .into_iter()
            .filter_map(|(key, alias)| contacts.impostor_of(&room, &key, &alias).map(|name| (key, name)))
            .collect::<Vec<_>>()
    });
    move || {
        let clashes = clashes.get();
        (!clashes.is_empty()).then(|| {
            view! {
                <div id="verification-warning" class="notice security-warning" role="alert">
                    {clashes.into_iter().map(|(key, name)| view! {
                        <p data-key=key.clone()>
                            <strong>{format!("⚠ Someone is writing as “{name}” with a key you have not verified. ")}</strong>
                            {format!("You verified {name}'s safety number with another key. This may be a new device, or someone else: \
                              compare safety numbers (click their name) before you trust these messages.")}
                        </p>
                    }).collect_view()}
                </div>
            }
        })
    }
}
