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

/// Which part of the call panel shows; a call in progress is one phase whatever changes
/// inside it, so its pictures are not rebuilt when someone mutes or connects.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Idle,
    Ringing { alias: String, video: bool },
    Active { call: String, video: bool },
    Ended { why: String },
}

#[component]
pub fn CallPanel(session: RoomSession) -> impl IntoView {
    let phase = Memo::new(move |_| match session.call.get() {
        CallView::Idle => Phase::Idle,
        CallView::Ringing { alias, video, .. } => Phase::Ringing { alias, video },
        CallView::Active(a) => Phase::Active { call: a.call, video: a.video },
        CallView::Ended { why } => Phase::Ended { why },
    });
    move || {
        match phase.get() {
        Phase::Idle => None,
        Phase::Ringing { alias, video } => Some(
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
        Phase::Ended { why } => Some(
            view! {
                <p id="call-ended" class="notice" role="status">
                    {format!("Call ended. {why}")}" "
                    <button type="button" class="link-button" on:click=move |_| session.call.set(CallView::Idle)>"Dismiss"</button>
                </p>
            }
            .into_any(),
        ),
        Phase::Active { video, .. } => Some(view! { <ActiveCallView session=session video=video /> }.into_any()),
    }
    }
}

/// The call in progress: one picture per person (kept while their state changes), this
/// side's picture, the controls and the device lists.
#[component]
fn ActiveCallView(session: RoomSession, video: bool) -> impl IntoView {
    let active = move || session.call.with(|v| if let CallView::Active(a) = v { Some(a.clone()) } else { None });
    let peers = Memo::new(move |_| active().map(|a| a.peers).unwrap_or_default());
    let flags = Memo::new(move |_| active().map(|a| (a.muted, a.camera_off, a.sharing)).unwrap_or_default());
    let devices = Memo::new(move |_| active().map(|a| (a.devices, a.microphone, a.camera)).unwrap_or_default());
    let muted = move || flags.get().0;
    let camera_off = move || flags.get().1;
    let sharing = move || flags.get().2;
    let keys = move || peers.get().into_iter().map(|p| p.key).collect::<Vec<_>>();
    view! {
        <section id="call" class="call" aria-label="Call">
            <div class="call-grid">
                <For each=keys key=|k| k.clone() children=move |key: String| {
                    let person = {
                        let key = key.clone();
                        move || peers.get().into_iter().find(|p: &PeerView| p.key == key)
                    };
                    let label = format!("{}'s picture", person().map(|p| p.alias).unwrap_or_default());
                    let caption = move || person().map(|p| format!("{} · {}", p.alias, p.state.words())).unwrap_or_default();
                    let stream_key = key.clone();
                    view! {
                        <figure class="call-peer" data-peer=key>
                            <StreamVideo session=session class="remote" muted=false label=label
                                stream=move || session.remote_stream(&stream_key) />
                            <figcaption>{caption}</figcaption>
                        </figure>
                    }
                } />
                <figure class="call-self">
                    <StreamVideo session=session class="local" muted=true label="Your picture"
                        stream=move || session.local_stream() />
                    <figcaption>{move || if sharing() { "You · sharing your screen" } else { "You" }}</figcaption>
                </figure>
            </div>
            <div class="call-controls">
                <button id="call-mute" type="button" aria-pressed=move || muted().to_string()
                    on:click=move |_| session.toggle_mute()>{move || if muted() { "Unmute" } else { "Mute" }}</button>
                {video.then(|| view! {
                    <button id="call-camera" type="button" aria-pressed=move || camera_off().to_string()
                        on:click=move |_| session.toggle_camera()>{move || if camera_off() { "Camera on" } else { "Camera off" }}</button>
                })}
                {(video && rtc::can_share_screen()).then(|| view! {
                    <button id="call-screen" type="button" aria-pressed=move || sharing().to_string()
                        on:click=move |_| session.toggle_screen()>{move || if sharing() { "Stop sharing" } else { "Share screen" }}</button>
                })}
                <button id="hang-up" type="button" class="danger" on:click=move |_| session.hang_up()>"Hang up"</button>
            </div>
            {move || {
                let (all, microphone, camera) = devices.get();
                let microphones: Vec<rtc::Device> = all.iter().filter(|d| !d.video).cloned().collect();
                let cameras: Vec<rtc::Device> = all.into_iter().filter(|d| d.video).collect();
                (microphones.len() > 1 || (video && cameras.len() > 1)).then(|| view! {
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
                })
            }}
        </section>
    }
}
