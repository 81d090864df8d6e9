//! The devices of the current call: which microphone and camera this side sends, and
//! sharing the screen instead of the camera. A change replaces the outgoing track on
//! every peer connection (`replaceTrack`: no renegotiation, so no new signal; the others
//! hear the other microphone or see the screen at once), and the preview follows. Mute
//! and camera-off carry over to a new device.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MediaStream, MediaStreamTrack};

use super::RoomSession;
use crate::call::{CallView, rtc};

/// The first track of `stream` of the kind `video` names.
fn track_of(stream: &MediaStream, video: bool) -> Option<MediaStreamTrack> {
    let tracks = if video { stream.get_video_tracks() } else { stream.get_audio_tracks() };
    tracks.get(0).dyn_into::<MediaStreamTrack>().ok()
}

impl RoomSession {
    /// Lists the microphones and cameras (named now that the browser opened one) and
    /// which of them the call uses.
    pub(super) async fn refresh_devices(&self) {
        let devices = rtc::devices().await;
        let in_use = |video| self.local_stream().and_then(|s| track_of(&s, video)).map(|t| rtc::device_of(&t));
        let (microphone, camera) = (in_use(false).unwrap_or_default(), in_use(true).unwrap_or_default());
        self.call.update(|v| {
            if let CallView::Active(a) = v {
                a.devices = devices;
                a.microphone = microphone;
                a.camera = camera;
            }
        });
    }

    /// Sends the camera (`video`) or microphone with id `device` from now on.
    pub fn use_device(&self, video: bool, device: String) {
        let session = *self;
        leptos::task::spawn_local(async move {
            match rtc::device_track(video, &device).await {
                Ok(track) => session.swap_local_track(track).await,
                Err(why) => session.notice.set(Some(why)),
            }
        });
    }

    /// Puts `track` in place of the local one of its kind, on every connection too
    /// (except a camera while the screen is shared: it is sent when sharing stops).
    async fn swap_local_track(&self, track: MediaStreamTrack) {
        let video = track.kind() == "video";
        let Some(stream) = self.local_stream() else {
            track.stop(); // the call ended meanwhile
            return;
        };
        let (muted, camera_off, sharing) = match self.call.get_untracked() {
            CallView::Active(a) => (a.muted, a.camera_off, a.sharing),
            _ => (false, false, false),
        };
        track.set_enabled(if video { !camera_off } else { !muted });
        let old = track_of(&stream, video);
        self.set_local_stream(rtc::with_track(&stream, &track));
        if !(video && sharing) {
            self.send_everywhere(&track).await;
        }
        if let Some(old) = old {
            old.stop();
        }
        self.refresh_devices().await;
    }

    /// Sends `track` on every connection of the call.
    async fn send_everywhere(&self, track: &MediaStreamTrack) {
        for pc in self.peer_connections() {
            if let Err(why) = rtc::replace_outgoing(&pc, track).await {
                self.notice.set(Some(format!("The call could not switch devices: {why}")));
            }
        }
    }

    /// Starts sharing the screen (the person picks what in the browser's own dialog), or
    /// stops and sends the camera again.
    pub fn toggle_screen(&self) {
        let sharing = matches!(self.call.get_untracked(), CallView::Active(a) if a.sharing);
        let session = *self;
        if sharing {
            leptos::task::spawn_local(async move { session.stop_sharing().await });
            return;
        }
        leptos::task::spawn_local(async move {
            let screen = match rtc::screen().await {
                Ok(Some(screen)) => screen,
                Ok(None) => return, // the person cancelled the picker
                Err(why) => return session.notice.set(Some(why)),
            };
            if !matches!(session.call.get_untracked(), CallView::Active(_)) {
                screen.stop();
                return;
            }
            let ended = rtc::on_ended(&screen, move || {
                leptos::task::spawn_local(async move { session.stop_sharing().await });
            });
            {
                let inner = session.inner();
                let mut media = inner.calls.borrow_mut();
                media.screen = Some(screen.clone());
                media.screen_ended = Some(ended);
            }
            session.set_sharing(true);
            session.send_everywhere(&screen).await;
        });
    }

    /// Stops sharing the screen: the camera goes out again.
    async fn stop_sharing(&self) {
        let screen = {
            let inner = self.inner();
            let mut media = inner.calls.borrow_mut();
            media.screen_ended = None;
            media.screen.take()
        };
        let Some(screen) = screen else { return };
        screen.stop();
        self.set_sharing(false);
        if let Some(camera) = self.local_stream().and_then(|s| track_of(&s, true)) {
            self.send_everywhere(&camera).await;
        }
    }

    fn set_sharing(&self, on: bool) {
        self.call.update(|v| {
            if let CallView::Active(a) = v {
                a.sharing = on;
            }
        });
    }
}
