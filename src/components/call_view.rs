//! The call part of a room: an incoming call to accept or decline, the call itself (this
//! side's picture, each other person's, mute, camera, screen sharing, hang up, and the
//! choice of microphone and camera; it fits a phone-width screen), and why the last call
//! ended.

use leptos::html::Video;
use leptos::prelude::*;

use crate::call::{CallView, PeerView, rtc};
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

/// A labelled choice of microphone or camera (`video`); choosing one sends it.
#[component]
fn DevicePicker(
    session: RoomSession,
    id: &'static str,
    label: &'static str,
    video: bool,
    devices: Vec<rtc::Device>,
    in_use: String,
) -> impl IntoView {
    view! {
        <label class="call-device">
            {label}
            <select id=id on:change=move |ev| session.use_device(video, event_target_value(&ev))>
                {devices.into_iter().enumerate().map(|(i, d)| {
                    let name = if d.label.is_empty() { format!("{label} {}", i + 1) } else { d.label };
                    let selected = d.id == in_use;
                    view! { <option value=d.id selected=selected>{name}</option> }
                }).collect_view()}
            </select>
        </label>
    }
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
            let (muted, camera_off, video, sharing) = (active.muted, active.camera_off, active.video, active.sharing);
            let microphones: Vec<rtc::Device> = active.devices.iter().filter(|d| !d.video).cloned().collect();
            let cameras: Vec<rtc::Device> = active.devices.iter().filter(|d| d.video).cloned().collect();
            let (microphone, camera) = (active.microphone.clone(), active.camera.clone());
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
                                <figcaption>{if sharing { "You · sharing your screen" } else { "You" }}</figcaption>
                            </figure>
                        </div>
                        <div class="call-controls">
                            <button id="call-mute" type="button" aria-pressed=muted.to_string()
                                on:click=move |_| session.toggle_mute()>{if muted { "Unmute" } else { "Mute" }}</button>
                            {video.then(|| view! {
                                <button id="call-camera" type="button" aria-pressed=camera_off.to_string()
                                    on:click=move |_| session.toggle_camera()>{if camera_off { "Camera on" } else { "Camera off" }}</button>
                            })}
                            {(video && rtc::can_share_screen()).then(|| view! {
                                <button id="call-screen" type="button" aria-pressed=sharing.to_string()
                                    on:click=move |_| session.toggle_screen()>{if sharing { "Stop sharing" } else { "Share screen" }}</button>
                            })}
                            <button id="hang-up" type="button" class="danger" on:click=move |_| session.hang_up()>"Hang up"</button>
                        </div>
                        {(microphones.len() > 1 || (video && cameras.len() > 1)).then(|| view! {
                            <div class="call-devices">
                                {(microphones.len() > 1).then(|| view! {
                                    <DevicePicker session=session id="call-microphone" label="Microphone" video=false
                                        devices=microphones in_use=microphone />
                                })}
                                {(video && cameras.len() > 1).then(|| view! {
                                    <DevicePicker session=session id="call-camera-device" label="Camera" video=true
                                        devices=cameras in_use=camera />
                                })}
                            </div>
                        })}
                    </section>
                }
                .into_any(),
            )
        }
    }
    }
}
