//! WebRTC through `web-sys`: the camera and microphone, peer connections, and complete
//! session descriptions (every ICE candidate gathered before an offer or answer is sent,
//! so a call needs one signal each way). No call logic here: [`super`] decides.

use std::cell::Cell;
use std::rc::Rc;

use protocol::api::IceServer;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    MediaStream, MediaStreamConstraints, MediaStreamTrack, RtcConfiguration, RtcIceGatheringState, RtcIceServer,
    RtcIceTransportPolicy, RtcPeerConnection, RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit,
    RtcTrackEvent,
};

/// Longest wait for ICE gathering before a description is sent with what was found.
const GATHERING_TIMEOUT_MS: i32 = 5_000;

fn text(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// The microphone (and the camera, for `video`), after the browser asked the person.
pub async fn local_media(video: bool) -> Result<MediaStream, String> {
    let devices = web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|_| "This browser cannot use a microphone or camera here.".to_owned())?;
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&JsValue::TRUE);
    constraints.set_video(&JsValue::from_bool(video));
    let asked = devices.get_user_media_with_constraints(&constraints).map_err(text)?;
    let stream = JsFuture::from(asked).await.map_err(|e| {
        let name = e.dyn_ref::<web_sys::DomException>().map(|d| d.name()).unwrap_or_default();
        match name.as_str() {
            "NotAllowedError" => "The browser was not allowed to use the microphone or camera.".to_owned(),
            "NotFoundError" => "No microphone or camera was found.".to_owned(),
            _ => format!("The microphone or camera could not be opened: {}", text(e)),
        }
    })?;
    Ok(stream.unchecked_into())
}

/// A peer connection using `servers` (STUN/TURN from the server's `/api/info`); only
/// through a relay when `relay_only` (hides each person's address from the others).
pub fn peer(servers: &[IceServer], relay_only: bool) -> Result<RtcPeerConnection, String> {
    let config = RtcConfiguration::new();
    let list = js_sys::Array::new();
    for s in servers {
        let server = RtcIceServer::new();
        let urls = js_sys::Array::new();
        for u in &s.urls {
            urls.push(&JsValue::from_str(u));
        }
        server.set_urls(&urls);
        if let Some(user) = &s.username {
            server.set_username(user);
        }
        if let Some(credential) = &s.credential {
            server.set_credential(credential);
        }
        list.push(&server);
    }
    config.set_ice_servers(&list);
    if relay_only {
        config.set_ice_transport_policy(RtcIceTransportPolicy::Relay);
    }
    RtcPeerConnection::new_with_configuration(&config).map_err(text)
}

/// Sends every track of `stream` on `pc`.
pub fn send_stream(pc: &RtcPeerConnection, stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        let track: MediaStreamTrack = track.unchecked_into();
        pc.add_track_0(&track, stream);
    }
}

/// Resolves when `pc` has gathered its ICE candidates (or after the timeout).
async fn gathered(pc: &RtcPeerConnection) {
    if pc.ice_gathering_state() == RtcIceGatheringState::Complete {
        return;
    }
    let done = Rc::new(Cell::new(false));
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let timer_resolve = resolve.clone();
        let on_change = {
            let pc = pc.clone();
            let done = done.clone();
            Closure::<dyn FnMut()>::new(move || {
                if pc.ice_gathering_state() == RtcIceGatheringState::Complete && !done.replace(true) {
                    let _ = resolve.call0(&JsValue::NULL);
                }
            })
        };
        pc.set_onicegatheringstatechange(Some(on_change.as_ref().unchecked_ref()));
        on_change.forget();
        let timeout = Closure::once_into_js(move || {
            let _ = timer_resolve.call0(&JsValue::NULL);
        });
        if let Some(w) = web_sys::window() {
            let _ =
                w.set_timeout_with_callback_and_timeout_and_arguments_0(timeout.unchecked_ref(), GATHERING_TIMEOUT_MS);
        }
    });
    let _ = JsFuture::from(promise).await;
    pc.set_onicegatheringstatechange(None);
}

/// Makes this side's offer (`offer`) or answer, applies it, waits for ICE gathering and
/// returns the complete session description.
pub async fn local_description(pc: &RtcPeerConnection, offer: bool) -> Result<String, String> {
    let made = JsFuture::from(if offer { pc.create_offer() } else { pc.create_answer() }).await.map_err(text)?;
    let init: RtcSessionDescriptionInit = made.unchecked_into();
    JsFuture::from(pc.set_local_description(&init)).await.map_err(text)?;
    gathered(pc).await;
    pc.local_description().map(|d| d.sdp()).ok_or_else(|| "no local description".to_owned())
}

/// Applies the other side's offer (`offer`) or answer.
pub async fn remote_description(pc: &RtcPeerConnection, sdp: &str, offer: bool) -> Result<(), String> {
    let init = RtcSessionDescriptionInit::new(if offer { RtcSdpType::Offer } else { RtcSdpType::Answer });
    init.set_sdp(sdp);
    JsFuture::from(pc.set_remote_description(&init)).await.map_err(text)?;
    Ok(())
}

/// Calls `f` with the other side's stream when its media arrives; keep the closure.
pub fn on_remote_stream(
    pc: &RtcPeerConnection,
    f: impl Fn(MediaStream) + 'static,
) -> Closure<dyn FnMut(RtcTrackEvent)> {
    let closure = Closure::<dyn FnMut(RtcTrackEvent)>::new(move |e: RtcTrackEvent| {
        if let Ok(stream) = e.streams().get(0).dyn_into::<MediaStream>() {
            f(stream);
        }
    });
    pc.set_ontrack(Some(closure.as_ref().unchecked_ref()));
    closure
}

/// Calls `f` with each connection state; keep the closure.
pub fn on_state(pc: &RtcPeerConnection, f: impl Fn(RtcPeerConnectionState) + 'static) -> Closure<dyn FnMut()> {
    let watched = pc.clone();
    let closure = Closure::<dyn FnMut()>::new(move || f(watched.connection_state()));
    pc.set_onconnectionstatechange(Some(closure.as_ref().unchecked_ref()));
    closure
}

/// Turns `stream`'s tracks of `kind` ("audio" or "video") on or off (off sends silence
/// or black, and the other side sees it stop).
pub fn set_enabled(stream: &MediaStream, kind: &str, on: bool) {
    let tracks = if kind == "audio" { stream.get_audio_tracks() } else { stream.get_video_tracks() };
    for track in tracks.iter() {
        track.unchecked_into::<MediaStreamTrack>().set_enabled(on);
    }
}

/// Stops every track (the camera light goes off).
pub fn stop(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        track.unchecked_into::<MediaStreamTrack>().stop();
    }
}

/// Closes `pc` and forgets its handlers.
pub fn close(pc: &RtcPeerConnection) {
    pc.set_ontrack(None);
    pc.set_onconnectionstatechange(None);
    pc.set_onicegatheringstatechange(None);
    pc.close();
}
