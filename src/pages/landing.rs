//! `/`: what Cloakroom is, create a room, join by link, import keys, the rooms this
//! browser knows (first, for a returning user).

use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::create_room_form::CreateRoomForm;
use crate::components::join_form::JoinForm;
use crate::components::room_list::RoomList;

#[component]
pub fn LandingPage() -> impl IntoView {
    // A returning user comes back for their rooms: those come first, above the forms.
    let returning = !crate::store::list_rooms().is_empty();
    view! {
        {returning.then(|| view! { <RoomList /> })}
        <section class="intro">
            <h1>"Private rooms for messages and documents"</h1>
            <p>
                "Cloakroom encrypts everything in your browser before it leaves: the server stores and relays "
                "ciphertext it cannot read. Create a room, share its link, and only people holding the link can read along."
            </p>
        </section>
        <div class="landing-grid">
            <CreateRoomForm />
            <JoinForm />
        </div>
        <p class="hint">"Coming from another browser? "<A href="/settings">"Import your keys file"</A>"."</p>
        {(!returning).then(|| view! { <RoomList /> })}
    }
}
