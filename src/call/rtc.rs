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
    DisplayMediaStreamConstraints, MediaDeviceInfo, MediaDeviceKind, MediaDevices, MediaStream, MediaStreamConstraints,
    MediaStreamTrack, RtcConfiguration, RtcIceGatheringState, RtcIceServer, RtcIceTransportPolicy, RtcOfferOptions,
    RtcPeerConnection, RtcPeerConnectionState, RtcRtpSender, RtcSdpType, RtcSessionDescriptionInit, RtcSignalingState,
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

fn media_devices() -> Result<MediaDevices, String> {
    web_sys::window()
        .ok_or("no window")?
        .navigator()
        .media_devices()
        .map_err(|_| "This browser cannot use a microphone or camera here.".to_owned())
}

/// What the person sees when the browser refused or failed to open a device.
fn device_error(e: JsValue) -> String {
    let name = e.dyn_ref::<web_sys::DomException>().map(|d| d.name()).unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" => "The browser was not allowed to use the microphone or camera.".to_owned(),
        "NotFoundError" | "OverconstrainedError" => "No microphone or camera was found.".to_owned(),
        _ => format!("The microphone or camera could not be opened: {}", text(e)),
    }
}

/// The microphone (and the camera, for `video`), after the browser asked the person.
pub async fn local_media(video: bool) -> Result<MediaStream, String> {
    let constraints = MediaStreamConstraints::new();
    constraints.set_audio(&JsValue::TRUE);
    constraints.set_video(&JsValue::from_bool(video));
    let asked = media_devices()?.get_user_media_with_constraints(&constraints).map_err(text)?;
    let stream = JsFuture::from(asked).await.map_err(device_error)?;
    Ok(stream.unchecked_into())
}

/// One microphone or camera the browser offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// A camera (else a microphone).
    pub video: bool,
    pub id: String,
    pub label: String,
}

/// The microphones and cameras (named once the person allowed one of them).
pub async fn devices() -> Vec<Device> {
    let Ok(listed) = media_devices().and_then(|d| d.enumerate_devices().map_err(text)) else { return Vec::new() };
    let Ok(listed) = JsFuture::from(listed).await else { return Vec::new() };
    js_sys::Array::from(&listed)
        .iter()
        .filter_map(|d| d.dyn_into::<MediaDeviceInfo>().ok())
        .filter_map(|d| {
            let video = match d.kind() {
                MediaDeviceKind::Audioinput => false,
                MediaDeviceKind::Videoinput => true,
                _ => return None,
            };
            Some(Device { video, id: d.device_id(), label: d.label() })
        })
        .collect()
}

/// The device id `track` captures from.
pub fn device_of(track: &MediaStreamTrack) -> String {
    track.get_settings().get_device_id().unwrap_or_default()
}

/// A new track from the camera (`video`) or microphone with id `id`.
pub async fn device_track(video: bool, id: &str) -> Result<MediaStreamTrack, String> {
    let exact = js_sys::Object::new();
    let wanted = js_sys::Object::new();
    js_sys::Reflect::set(&exact, &"exact".into(), &id.into()).map_err(text)?;
    js_sys::Reflect::set(&wanted, &"deviceId".into(), &exact).map_err(text)?;
    let constraints = MediaStreamConstraints::new();
    if video {
        constraints.set_video(&wanted);
    } else {
        constraints.set_audio(&wanted);
    }
    let asked = media_devices()?.get_user_media_with_constraints(&constraints).map_err(text)?;
    let stream: MediaStream = JsFuture::from(asked).await.map_err(device_error)?.unchecked_into();
    stream.get_tracks().get(0).dyn_into::<MediaStreamTrack>().map_err(|_| "The device gave nothing.".to_owned())
}

/// Whether this browser can share a screen (desktop browsers; not phones).
pub fn can_share_screen() -> bool {
    media_devices().is_ok_and(|d| js_sys::Reflect::has(&d, &"getDisplayMedia".into()).unwrap_or(false))
}

/// The screen, window or tab the person picks, as a video track; `Ok(None)` when they
/// cancel the browser's picker.
pub async fn screen() -> Result<Option<MediaStreamTrack>, String> {
    let constraints = DisplayMediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    let asked = media_devices()?.get_display_media_with_constraints(&constraints).map_err(text)?;
    let stream: MediaStream = match JsFuture::from(asked).await {
        Ok(s) => s.unchecked_into(),
        Err(e) if e.dyn_ref::<web_sys::DomException>().is_some_and(|d| d.name() == "NotAllowedError") => {
            return Ok(None);
        }
        Err(e) => return Err(format!("The screen could not be shared: {}", text(e))),
    };
    let track = stream.get_video_tracks().get(0).dyn_into::<MediaStreamTrack>().ok();
    // Text on a screen must stay legible: the encoder keeps the resolution and gives up
    // frame rate when the bandwidth is short.
    // (`contentHint` is not in web-sys.)
    if let Some(track) = &track {
        let _ = js_sys::Reflect::set(track, &"contentHint".into(), &"detail".into());
    }
    Ok(track)
}

/// Calls `f` when `track` ends on its own (the person stopped sharing from the browser's
/// own control); keep the closure.
pub fn on_ended(track: &MediaStreamTrack, f: impl Fn() + 'static) -> Closure<dyn FnMut()> {
    let closure = Closure::<dyn FnMut()>::new(f);
    track.set_onended(Some(closure.as_ref().unchecked_ref()));
    closure
}

/// Sends `track` instead of what `pc` sends now of its kind (no renegotiation: the
/// other side's picture or sound switches over).
pub async fn replace_outgoing(pc: &RtcPeerConnection, track: &MediaStreamTrack) -> Result<(), String> {
    let kind = track.kind();
    for sender in pc.get_senders().iter() {
        let sender: RtcRtpSender = sender.unchecked_into();
        if sender.track().is_some_and(|t| t.kind() == kind) {
            JsFuture::from(sender.replace_track(Some(track))).await.map_err(text)?;
        }
    }
    Ok(())
}

/// A stream of `stream`'s tracks with `track` in place of those of its kind (a new
/// object, so the preview re-attaches).
pub fn with_track(stream: &MediaStream, track: &MediaStreamTrack) -> MediaStream {
    let tracks = js_sys::Array::new();
    for t in stream.get_tracks().iter() {
        let t: MediaStreamTrack = t.unchecked_into();
        if t.kind() != track.kind() {
            tracks.push(&t);
        }
    }
    tracks.push(track);
    MediaStream::new_with_tracks(&tracks).unwrap_or_else(|_| stream.clone())
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

/// Sends every track of `stream` on `pc`, the `screen` instead of the camera if shared.
pub fn send_stream(pc: &RtcPeerConnection, stream: &MediaStream, screen: Option<&MediaStreamTrack>) {
    for track in stream.get_tracks().iter() {
        let track: MediaStreamTrack = track.unchecked_into();
        let sent = match screen {
            Some(screen) if track.kind() == "video" => screen,
            _ => &track,
        };
        pc.add_track_0(sent, stream);
    }
}

/// Whether `pc`'s local description names a candidate (an ICE restart's new
/// description names none until the new gathering finds some).
fn has_candidates(pc: &RtcPeerConnection) -> bool {
    pc.local_description().is_some_and(|d| d.sdp().lines().any(|l| l.starts_with("a=candidate:")))
}

/// `pc` has gathered the candidates of its current description: gathering is complete
/// and found some. Right after an ICE restart the state still says complete (for the old
/// credentials) while the new description has none yet.
fn gathering_done(pc: &RtcPeerConnection) -> bool {
    pc.ice_gathering_state() == RtcIceGatheringState::Complete && has_candidates(pc)
}

/// Resolves when `pc` has gathered its ICE candidates (or after the timeout: a
/// description with what was found, possibly nothing when no relay answers).
async fn gathered(pc: &RtcPeerConnection) {
    if gathering_done(pc) {
        return;
    }
    let done = Rc::new(Cell::new(false));
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let timer_resolve = resolve.clone();
        let on_change = {
            let pc = pc.clone();
            let done = done.clone();
            Closure::<dyn FnMut()>::new(move || {
                if gathering_done(&pc) && !done.replace(true) {
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
    settle_local(pc, made).await
}

/// A new offer on a connection whose network path broke: fresh ICE credentials, so both
/// sides gather candidates again (an ICE restart), with the same media and certificates.
pub async fn restart_offer(pc: &RtcPeerConnection) -> Result<String, String> {
    let options = RtcOfferOptions::new();
    options.set_ice_restart(true);
    let made = JsFuture::from(pc.create_offer_with_rtc_offer_options(&options)).await.map_err(text)?;
    settle_local(pc, made).await
}

/// Applies a description this side `made`, waits for ICE gathering and returns the
/// complete description.
async fn settle_local(pc: &RtcPeerConnection, made: JsValue) -> Result<String, String> {
    let init: RtcSessionDescriptionInit = made.unchecked_into();
    JsFuture::from(pc.set_local_description(&init)).await.map_err(text)?;
    gathered(pc).await;
    pc.local_description().map(|d| d.sdp()).ok_or_else(|| "no local description".to_owned())
}

/// `pc` sent an offer the other side has not answered yet.
pub fn awaits_answer(pc: &RtcPeerConnection) -> bool {
    pc.signaling_state() == RtcSignalingState::HaveLocalOffer
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
