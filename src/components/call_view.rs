//! The call part of a room: an incoming call to accept or decline, the call itself (this
//! side's picture, each other person's, mute, camera, hang up; it fits a phone-width
//! screen), and why the last call ended.

use leptos::html::Video;
use leptos::prelude::*;

use crate::call::{CallView, PeerView};
use crate::session::RoomSession;

/// A `<video>` showing `stream()` (re-attached when the session's media changes).
#[component]
fn StreamVideo(
    session: RoomSession,
    #[prop(into)] class: String,
    stream: impl Fn() -> Option<web_sys::MediaStream> + 'static,
    muted: bool,
    #[prop(into)] label: String,
) -> impl IntoView {
    let node = NodeRef::<Video>::new();
    Effect::new(move || {
        session.media.track();
        if let Some(video) = node.get() {
            let wanted = stream();
            let current = video.src_object();
            if wanted.as_ref().map(|s| s.id()) != current.as_ref().map(|s| s.id()) {
                video.set_src_object(wanted.as_ref());
            }
        }
    });
    view! { <video node_ref=node class=class autoplay=true playsinline=true muted=muted aria-label=label></video> }
}

#[component]
pub fn CallPanel(session: RoomSession) -> impl IntoView {
    move || {
        match session.call.get() {
        CallView::Idle => None,
        CallView::Ringing { alias, video, .. } => Some(
            view! {
                <div id="incoming-call" class="notice call-incoming" role="alertdialog" aria-labelledby="incoming-call-text">
                    <p id="incoming-call-text">
                        {format!("{} is calling you{}.", if alias.is_empty() { "Someone" } else { alias.as_str() },
                            if video { " with video" } else { "" })}
                    </p>
                    <button id="accept-call" type="button" on:click=move |_| session.accept_call()>"Accept"</button>
                    <button id="decline-call" type="button" class="link-button" on:click=move |_| session.decline_call()>"Decline"</button>
                </div>
            }
            .into_any(),
        ),
        CallView::Ended { why } => Some(
            view! {
                <p id="call-ended" class="notice" role="status">
                    {format!("Call ended. {why}")}" "
                    <button type="button" class="link-button" on:click=move |_| session.call.set(CallView::Idle)>"Dismiss"</button>
                </p>
            }
            .into_any(),
        ),
        CallView::Active(active) => {
            let peers = active.peers.clone();
            let (muted, camera_off, video) = (active.muted, active.camera_off, active.video);
            Some(
                view! {
                    <section id="call" class="call" aria-label="Call">
                        <div class="call-grid">
                            {peers.into_iter().map(|p: PeerView| {
                                let key = p.key.clone();
                                let label = format!("{}'s picture", p.alias);
                                view! {
                                    <figure class="call-peer" data-peer=p.key.clone()>
                                        <StreamVideo session=session class="remote" muted=false label=label
                                            stream=move || session.remote_stream(&key) />
                                        <figcaption>{format!("{} · {}", p.alias, p.state.words())}</figcaption>
                                    </figure>
                                }
                            }).collect_view()}
                            <figure class="call-self">
                                <StreamVideo session=session class="local" muted=true label="Your picture"
                                    stream=move || session.local_stream() />
                                <figcaption>"You"</figcaption>
                            </figure>
                        </div>
                        <div class="call-controls">
                            <button id="call-mute" type="button" aria-pressed=muted.to_string()
                                on:click=move |_| session.toggle_mute()>{if muted { "Unmute" } else { "Mute" }}</button>
                            {video.then(|| view! {
                                <button id="call-camera" type="button" aria-pressed=camera_off.to_string()
                                    on:click=move |_| session.toggle_camera()>{if camera_off { "Camera on" } else { "Camera off" }}</button>
                            })}
                            <button id="hang-up" type="button" class="danger" on:click=move |_| session.hang_up()>"Hang up"</button>
                        </div>
                    </section>
                }
                .into_any(),
            )
        }
    }
    }
}
