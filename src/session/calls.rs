//! Calls in this room ([`protocol::call`]): the signalling state machine of this browser,
//! over the room's ephemeral frames, each addressed to one person (sealed with the pair
//! key, signed by the room identity, never stored). The view reads [`CallView`]; the
//! media objects (streams, peer connections) stay in the session's [`CallMedia`].
//!
//! - Calling: the microphone (and camera) open, one peer connection per person called,
//!   each gets an offer (with every ICE candidate); it rings for
//!   [`protocol::call::RING_TIMEOUT_MS`] at most.
//! - Being called: the offer waits in [`CallMedia`] while the person decides; accepting
//!   answers it, declining says so. It stops ringing when the caller gives up, or on its
//!   own shortly after the caller's timeout (a caller that vanished says nothing).
//! - Two people calling each other at once end in one call: the call with the smaller id
//!   wins, and the other side takes it as if it had accepted.
//! - Anything that fails its checks (seal, signature, the SDP's DTLS fingerprint against
//!   the signed one) is refused with a warning, never applied.

use std::collections::BTreeMap;

use leptos::prelude::*;
use protocol::call::{self, Signal};
use protocol::envelope::Content;
use protocol::identity::PublicKey;
use wasm_bindgen::closure::Closure;
use web_sys::{MediaStream, RtcPeerConnection, RtcPeerConnectionState, RtcTrackEvent};

use super::RoomSession;
use crate::call::{ActiveCall, CallView, PeerState, PeerView, rtc};

/// One peer connection of the current call, with the handlers that must live as long.
struct Peer {
    pc: RtcPeerConnection,
    _track: Closure<dyn FnMut(RtcTrackEvent)>,
    _state: Closure<dyn FnMut()>,
}

/// The JS objects of the current call (kept out of signals: not comparable, not `Send`).
#[derive(Default)]
pub struct CallMedia {
    local: Option<MediaStream>,
    remote: BTreeMap<String, MediaStream>,
    peers: BTreeMap<String, Peer>,
    /// A ringing call's offer until it is accepted: (call id, caller, SDP).
    offer: Option<(String, PublicKey, String)>,
    /// The newest key epoch everyone in the current call is known to hold (the epoch
    /// when it began, then each one proven since).
    proven_epoch: u32,
    /// The newest membership proof each person in the call sent: (epoch, proof).
    proofs: BTreeMap<String, (u32, Vec<u8>)>,
}

/// How much longer than the caller the callee lets a call ring (the caller's hang-up
/// after its own timeout normally arrives first).
const CALLEE_RING_GRACE_MS: u64 = 5_000;

fn new_call_id() -> String {
    let bytes: [u8; 16] = crate::crypto::random_bytes();
    protocol::encoding::b64(&bytes)
}

impl RoomSession {
    /// The local camera and microphone of the current call.
    pub fn local_stream(&self) -> Option<MediaStream> {
        self.inner().calls.borrow().local.clone()
    }

    /// What arrives from `key` in the current call.
    pub fn remote_stream(&self, key: &str) -> Option<MediaStream> {
        self.inner().calls.borrow().remote.get(key).cloned()
    }

    fn send_signal(&self, to: &PublicKey, call: &str, signal: Signal) -> bool {
        let inner = self.inner();
        let epoch = self.current_key().map(|(e, _)| e).unwrap_or(0);
        let content = Content::CallSignal { call: call.to_owned(), signal };
        let env = self.seal(&content, epoch, &inner.ring.pair_key(to), Some(to), &crate::crypto::new_client_id());
        match inner.socket.get() {
            Some(s) => {
                s.send_ephemeral(env);
                true
            }
            None => false,
        }
    }

    fn set_peer(&self, key: &str, state: PeerState) {
        self.call.update(|v| {
            if let CallView::Active(active) = v {
                if let Some(p) = active.peers.iter_mut().find(|p| p.key == key) {
                    p.state = state;
                }
                if state == PeerState::Connected && active.connected_at.is_none() {
                    active.connected_at = Some(js_sys::Date::now());
                }
            }
        });
    }

    /// A peer connection to `key` sending `stream`, its events wired to this session.
    fn connect(&self, key: &str, stream: &MediaStream) -> Result<RtcPeerConnection, String> {
        let settings = self.call_settings.get_untracked();
        let pc = rtc::peer(&settings.ice_servers, settings.relay_only)?;
        rtc::send_stream(&pc, stream);
        let session = *self;
        let who = key.to_owned();
        let track = rtc::on_remote_stream(&pc, move |remote| {
            session.inner().calls.borrow_mut().remote.insert(who.clone(), remote);
            session.media.update(|n| *n += 1);
        });
        let who = key.to_owned();
        let state = rtc::on_state(&pc, move |s| match s {
            RtcPeerConnectionState::Connected => session.set_peer(&who, PeerState::Connected),
            RtcPeerConnectionState::Disconnected => session.set_peer(&who, PeerState::Reconnecting),
            RtcPeerConnectionState::Failed => session.drop_peer(&who, "the connection failed"),
            _ => {}
        });
        self.inner()
            .calls
            .borrow_mut()
            .peers
            .insert(key.to_owned(), Peer { pc: pc.clone(), _track: track, _state: state });
        Ok(pc)
    }

    /// Calls `key` (known here as `alias`), with video or voice only.
    pub fn start_call(&self, key: String, alias: String, video: bool) {
        if !matches!(self.call.get_untracked(), CallView::Idle | CallView::Ended { .. }) {
            return;
        }
        let Ok(to) = PublicKey::parse(&key) else { return };
        let call = new_call_id();
        self.begin_membership(&call);
        self.call.set(CallView::Active(ActiveCall {
            call: call.clone(),
            video,
            muted: false,
            camera_off: !video,
            outgoing: true,
            peers: vec![PeerView { key: key.clone(), alias: alias.clone(), state: PeerState::Ringing }],
            connected_at: None,
        }));
        let session = *self;
        leptos::task::spawn_local(async move {
            if let Err(why) = session.offer_to(&call, &to, video).await {
                session.end_call(Some(why));
                return;
            }
            gloo_timers::future::TimeoutFuture::new(call::RING_TIMEOUT_MS as u32).await;
            let unanswered = session.call.with_untracked(|v| match v {
                CallView::Active(a) if a.call == call => {
                    a.peers.iter().filter(|p| p.state == PeerState::Ringing).map(|p| p.key.clone()).collect()
                }
                _ => Vec::new(),
            });
            for key in unanswered {
                if let Ok(peer) = PublicKey::parse(&key) {
                    session.send_signal(&peer, &call, Signal::HangUp);
                }
                session.drop_peer(&key, "no answer");
            }
        });
    }

    /// Opens the local media if needed and sends `to` an offer for `call`.
    async fn offer_to(&self, call: &str, to: &PublicKey, video: bool) -> Result<(), String> {
        let stream = self.local_media(video).await?;
        let pc = self.connect(&to.to_b64(), &stream)?;
        let sdp = rtc::local_description(&pc, true).await?;
        let fingerprint = call::fingerprint(&sdp).ok_or("the browser's offer names no DTLS fingerprint")?;
        if !self.send_signal(to, call, Signal::Offer { sdp, fingerprint, video }) {
            return Err("The room is not connected.".into());
        }
        Ok(())
    }

    async fn local_media(&self, video: bool) -> Result<MediaStream, String> {
        if let Some(stream) = self.local_stream() {
            return Ok(stream);
        }
        let stream = rtc::local_media(video).await?;
        self.inner().calls.borrow_mut().local = Some(stream.clone());
        self.media.update(|n| *n += 1);
        Ok(stream)
    }

    /// Takes the ringing call.
    pub fn accept_call(&self) {
        let CallView::Ringing { call, from, alias, video } = self.call.get_untracked() else { return };
        let offer = self.inner().calls.borrow_mut().offer.take();
        let Some((_, caller, sdp)) = offer.filter(|(id, _, _)| *id == call) else { return };
        self.begin_membership(&call);
        self.call.set(CallView::Active(ActiveCall {
            call: call.clone(),
            video,
            muted: false,
            camera_off: !video,
            outgoing: false,
            peers: vec![PeerView { key: from.clone(), alias, state: PeerState::Connecting }],
            connected_at: None,
        }));
        let session = *self;
        leptos::task::spawn_local(async move {
            if let Err(why) = session.answer(&call, &caller, &sdp, video).await {
                session.send_signal(&caller, &call, Signal::HangUp);
                session.end_call(Some(why));
            }
        });
    }

    async fn answer(&self, call: &str, caller: &PublicKey, sdp: &str, video: bool) -> Result<(), String> {
        let stream = self.local_media(video).await?;
        let pc = self.connect(&caller.to_b64(), &stream)?;
        rtc::remote_description(&pc, sdp, true).await?;
        let answer = rtc::local_description(&pc, false).await?;
        let fingerprint = call::fingerprint(&answer).ok_or("the browser's answer names no DTLS fingerprint")?;
        if !self.send_signal(caller, call, Signal::Answer { sdp: answer, fingerprint }) {
            return Err("The room is not connected.".into());
        }
        Ok(())
    }

    /// Turns the ringing call down.
    pub fn decline_call(&self) {
        if let CallView::Ringing { call, .. } = self.call.get_untracked() {
            let offer = self.inner().calls.borrow_mut().offer.take();
            if let Some((_, caller, _)) = offer {
                self.send_signal(&caller, &call, Signal::Decline);
            }
            self.call.set(CallView::Idle);
        }
    }

    /// Leaves the current call: every peer is told, every connection closed.
    pub fn hang_up(&self) {
        let call = match self.call.get_untracked() {
            CallView::Active(a) => a,
            _ => return,
        };
        for p in &call.peers {
            if let Ok(peer) = PublicKey::parse(&p.key) {
                self.send_signal(&peer, &call.call, Signal::HangUp);
            }
        }
        self.end_call(None);
    }

    /// Mutes or unmutes this side's microphone.
    pub fn toggle_mute(&self) {
        self.call.update(|v| {
            if let CallView::Active(a) = v {
                a.muted = !a.muted;
                if let Some(stream) = self.inner().calls.borrow().local.as_ref() {
                    rtc::set_enabled(stream, "audio", !a.muted);
                }
            }
        });
    }

    /// Turns this side's camera off or on.
    pub fn toggle_camera(&self) {
        self.call.update(|v| {
            if let CallView::Active(a) = v {
                a.camera_off = !a.camera_off;
                if let Some(stream) = self.inner().calls.borrow().local.as_ref() {
                    rtc::set_enabled(stream, "video", !a.camera_off);
                }
            }
        });
    }

    /// A caller that vanished (tab closed, network gone) never sends its hang-up: the
    /// call stops ringing here on its own, a little after the caller would have given up.
    fn stop_ringing_after_timeout(&self, call_id: String, alias: String) {
        let session = *self;
        leptos::task::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new((call::RING_TIMEOUT_MS + CALLEE_RING_GRACE_MS) as u32).await;
            if matches!(session.call.get_untracked(), CallView::Ringing { call, .. } if call == call_id) {
                session.inner().calls.borrow_mut().offer = None;
                session.call.set(CallView::Ended { why: format!("Missed call from {alias}.") });
            }
        });
    }

    /// Closes the connection to `key`; the call ends when nobody is left (`why` shown).
    fn drop_peer(&self, key: &str, why: &str) {
        if let Some(peer) = self.inner().calls.borrow_mut().peers.remove(key) {
            rtc::close(&peer.pc);
        }
        self.inner().calls.borrow_mut().remote.remove(key);
        let mut empty = false;
        let mut alias = String::new();
        self.call.update(|v| {
            if let CallView::Active(a) = v {
                if let Some(p) = a.peers.iter().find(|p| p.key == key) {
                    alias = p.alias.clone();
                }
                a.peers.retain(|p| p.key != key);
                empty = a.peers.is_empty();
            }
        });
        self.media.update(|n| *n += 1);
        if empty {
            let name = if alias.is_empty() { "The other side".to_owned() } else { alias };
            self.end_call(Some(format!("{name}: {why}.")));
        }
    }

    /// This browser was turned away from the room (removed by the owner): whatever call
    /// rings or runs here ends at once, and nothing is posted (the room no longer takes
    /// this key's messages).
    pub(super) fn end_call_on_removal(&self) {
        if matches!(self.call.get_untracked(), CallView::Idle | CallView::Ended { .. }) {
            return;
        }
        self.call.update(|v| {
            if let CallView::Active(a) = v {
                a.connected_at = None;
            }
        });
        self.end_call(Some("You are no longer in this room, so the call ended.".to_owned()));
    }

    /// A call begins at the room's current key epoch: everyone in it holds that key.
    fn begin_membership(&self, _call: &str) {
        let epoch = self.current_key().map(|(e, _)| e).unwrap_or(0);
        let inner = self.inner();
        let mut media = inner.calls.borrow_mut();
        media.proven_epoch = epoch;
        media.proofs.clear();
    }

    /// The room moved to key epoch `epoch` (the owner re-keyed it, as it does when it
    /// removes someone): this side proves to everyone in the call that it holds the new
    /// key, and whoever has not proven the same to this side within
    /// [`call::MEMBER_PROOF_TIMEOUT_MS`] is dropped from the call. A removed member never
    /// gets the key, so a browser that does not leave on its own is cut off anyway.
    pub(super) fn prove_membership(&self, epoch: u32) {
        let CallView::Active(active) = self.call.get_untracked() else { return };
        // Not yet holding the key (the owner learns its own new key when its call returns):
        // the round starts when it arrives (`trust_own_key` and `on_access` call again).
        let Some(key) = self.inner().ring.keys.borrow().get(&epoch).cloned() else { return };
        {
            let inner = self.inner();
            let mut media = inner.calls.borrow_mut();
            if epoch <= media.proven_epoch {
                return;
            }
            media.proven_epoch = epoch;
        }
        let (room, me) = (self.room_id(), self.inner().ring.me);
        for peer in &active.peers {
            if let Ok(to) = PublicKey::parse(&peer.key) {
                let proof = call::member_proof(&key, &room, &active.call, &me, &to);
                let signal = Signal::Member { epoch, proof: protocol::envelope::B64Bytes(proof.to_vec()) };
                self.send_signal(&to, &active.call, signal);
            }
        }
        let session = *self;
        leptos::task::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(call::MEMBER_PROOF_TIMEOUT_MS as u32).await;
            let CallView::Active(now) = session.call.get_untracked() else { return };
            if now.call != active.call {
                return;
            }
            let unproven: Vec<String> = {
                let inner = session.inner();
                let media = inner.calls.borrow();
                now.peers
                    .iter()
                    .filter(|p| {
                        let Ok(from) = PublicKey::parse(&p.key) else { return true };
                        let expected = call::member_proof(&key, &room, &now.call, &from, &me);
                        // A proof of a newer epoch is checked when that epoch's round ends.
                        !media.proofs.get(&p.key).is_some_and(|(e, proof)| {
                            *e > epoch || (*e == epoch && proof.as_slice() == expected.as_slice())
                        })
                    })
                    .map(|p| p.key.clone())
                    .collect()
            };
            for key in unproven {
                session.drop_peer(&key, "no longer in the room");
            }
        });
    }

    /// The owner removed `key` from the room: the call with it ends here at once.
    pub(super) fn drop_removed_member(&self, key: &PublicKey) {
        let key = key.to_b64();
        match self.call.get_untracked() {
            CallView::Active(a) if a.peers.iter().any(|p| p.key == key) => {
                self.drop_peer(&key, "removed from the room")
            }
            CallView::Ringing { from, .. } if from == key => {
                self.inner().calls.borrow_mut().offer = None;
                self.call.set(CallView::Idle);
            }
            _ => {}
        }
    }

    /// Ends the call here: connections closed, camera and microphone released, and the
    /// call's line posted to the room when this side placed a call that connected.
    fn end_call(&self, why: Option<String>) {
        let ended = self.call.get_untracked();
        {
            let inner = self.inner();
            let mut media = inner.calls.borrow_mut();
            for (_, peer) in std::mem::take(&mut media.peers) {
                rtc::close(&peer.pc);
            }
            media.remote.clear();
            media.offer = None;
            if let Some(stream) = media.local.take() {
                rtc::stop(&stream);
            }
        }
        self.media.update(|n| *n += 1);
        if let CallView::Active(a) = &ended
            && a.outgoing
            && let Some(at) = a.connected_at
        {
            let seconds = ((js_sys::Date::now() - at) / 1000.0).round().max(0.0) as u32;
            let _ = self.send_content(Content::CallEnded { seconds, video: a.video }, None);
        }
        self.call.set(match why {
            Some(why) => CallView::Ended { why },
            None => CallView::Idle,
        });
    }

    /// A call signal from `sender` (its seal and signature already verified).
    pub(super) fn on_call_signal(&self, sender: PublicKey, alias: String, call_id: String, signal: Signal) {
        if let Err(e) = call::check(&call_id, &signal) {
            let name = if alias.is_empty() { "someone".to_owned() } else { alias };
            self.warnings.update(|w| w.push(format!("A call from {name} was refused: {e}.")));
            return;
        }
        let key = sender.to_b64();
        let current = self.call.get_untracked();
        match signal {
            Signal::Offer { sdp, video, .. } => match current {
                CallView::Idle | CallView::Ended { .. } => {
                    self.inner().calls.borrow_mut().offer = Some((call_id.clone(), sender, sdp));
                    let room = self.room_name.get_untracked().unwrap_or_else(|| "a room".to_owned());
                    crate::notify::incoming_call(&room, &alias);
                    self.call.set(CallView::Ringing { call: call_id.clone(), from: key, alias: alias.clone(), video });
                    self.stop_ringing_after_timeout(call_id, alias);
                }
                // Both called each other at once: the smaller call id wins.
                CallView::Active(a)
                    if a.outgoing && a.connected_at.is_none() && a.peers.iter().any(|p| p.key == key) =>
                {
                    if call_id < a.call {
                        if let Some(peer) = self.inner().calls.borrow_mut().peers.remove(&key) {
                            rtc::close(&peer.pc);
                        }
                        self.inner().calls.borrow_mut().offer = Some((call_id.clone(), sender, sdp));
                        self.call.set(CallView::Ringing { call: call_id, from: key, alias, video: a.video });
                        self.accept_call();
                    }
                }
                // Busy in another call.
                _ => {
                    self.send_signal(&sender, &call_id, Signal::Decline);
                }
            },
            Signal::Answer { sdp, .. } => {
                let ours = matches!(&current, CallView::Active(a) if a.call == call_id);
                let pc = self.inner().calls.borrow().peers.get(&key).map(|p| p.pc.clone());
                if let (true, Some(pc)) = (ours, pc) {
                    self.set_peer(&key, PeerState::Connecting);
                    let session = *self;
                    leptos::task::spawn_local(async move {
                        if let Err(why) = rtc::remote_description(&pc, &sdp, false).await {
                            session.drop_peer(&key, &why);
                        }
                    });
                }
            }
            Signal::Member { epoch, proof } => {
                if matches!(&current, CallView::Active(a) if a.call == call_id) {
                    self.inner().calls.borrow_mut().proofs.insert(key, (epoch, proof.0));
                }
            }
            Signal::Decline => {
                if matches!(&current, CallView::Active(a) if a.call == call_id) {
                    self.drop_peer(&key, "declined");
                }
            }
            Signal::HangUp => match current {
                CallView::Active(a) if a.call == call_id => self.drop_peer(&key, "hung up"),
                CallView::Ringing { call, .. } if call == call_id => {
                    self.inner().calls.borrow_mut().offer = None;
                    self.call.set(CallView::Ended { why: format!("Missed call from {alias}.") });
                }
                _ => {}
            },
        }
    }
}
