//! "Leave this room", at the foot of the people list (not for the owner, whose room it
//! is): asks once more in place, posts a "left" line and forgets the room on this device
//! once the room has stored the line (see `RoomSession::leave`), then goes home.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::use_navigate;

use crate::session::RoomSession;

#[component]
pub fn LeaveRoom(session: RoomSession) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let leave = move |_| {
        busy.set(true);
        error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match session.leave().await {
                Ok(()) => navigate("/", Default::default()),
                Err(e) => {
                    error.set(Some(e));
                    busy.set(false);
                    confirming.set(false);
                }
            }
        });
    };
    view! {
        <div class="leave-room">
            <Show when=move || confirming.get() fallback=move || view! {
                <button type="button" id="leave-room" class="link-button" on:click=move |_| confirming.set(true)>"Leave this room"</button>
            }>
                <span class="confirm-leave" role="group" aria-label="Confirm leaving">
                    "Leave? Everyone sees that you left, and this browser forgets the room's keys (export them first to come back)."
                    <button type="button" id="leave-confirm" class="danger" on:click=leave.clone() disabled=move || busy.get()>
                        {move || if busy.get() { "Leaving…" } else { "Leave" }}
                    </button>
                    <button type="button" id="leave-cancel" on:click=move |_| confirming.set(false) disabled=move || busy.get()>"Cancel"</button>
                </span>
            </Show>
            <p class="error" role="alert">{move || error.get()}</p>
        </div>
    }
}
