//! `/rooms`: every room this browser knows, with unread markers, renaming and forgetting.

use leptos::prelude::*;

use crate::components::room_list::RoomList;

#[component]
pub fn RoomsPage() -> impl IntoView {
    view! {
        <h1>"Rooms"</h1>
        <RoomList manage=true />
    }
}
