//! The warning shown when the server (or a link) handed this browser something it refused
//! to use: a forged owner key, an unsigned or rolled-back room state, a room key the owner
//! did not wrap. The room keeps working under the keys this browser trusts.

use leptos::prelude::*;

use crate::session::RoomSession;

#[component]
pub fn SecurityWarnings(session: RoomSession) -> impl IntoView {
    move || {
        let warnings = session.warnings.get();
        (!warnings.is_empty()).then(|| {
            view! {
                <div id="security-warning" class="notice security-warning" role="alert">
                    <p><strong>"Security warning: "</strong>
                        "the server sent something this browser refused to trust. Your messages stay encrypted under the room's real keys."</p>
                    <ul>{warnings.into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}</ul>
                </div>
            }
        })
    }
}
