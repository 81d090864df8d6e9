//! Calls in this room ([`protocol::call`]): the signalling state machine of this browser,
//! over the room's ephemeral frames, each addressed to one person (sealed with the pair
//! key, signed by the room identity, never stored). The view reads [`CallView`]; the
//! media objects (streams, peer connections) stay in the session's [`CallMedia`].
//!
//! - Calling: the microphone (and camera) open, one peer connection per person called,
//!   each gets an offer (with every ICE candidate); it rings for
//!   [`protocol::call::RING_TIMEOUT_MS`] at most.
//! - A full mesh of up to [`protocol::call::MAX_CALL_PEOPLE`]: anyone in a call may add
//!   one more person at a time; the offer names the others in the call (`people`), and
//!   whoever accepts also offers to each of them, who take it without ringing (the call
//!   id, only ever sent sealed, is what admits them). Two who offer each other at once:
//!   the offer of the smaller key stands.
//! - A connection whose network path breaks is restarted (ICE restart, offered by the
//!   side with the smaller key) and dropped if it is not back within
//!   [`RECONNECT_TIMEOUT_MS`].
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
use web_sys::{MediaStream, MediaStreamTrack, RtcPeerConnection, RtcPeerConnectionState, RtcTrackEvent};

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
    /// A ringing call's offer until it is accepted or declined.
    offer: Option<Ringing>,
    /// Offers of the ringing call from others already in it (a call that grows into a
    /// mesh): answered on accepting, declined with it.
    mesh_offers: Vec<(PublicKey, String)>,
    /// The newest key epoch everyone in the current call is known to hold (the epoch
    /// when it began, then each one proven since).
    proven_epoch: u32,
    /// The newest membership proof each person in the call sent: (epoch, proof).
    proofs: BTreeMap<String, (u32, Vec<u8>)>,
    /// The shared screen, sent instead of the camera, and its end handler.
    pub(super) screen: Option<MediaStreamTrack>,
    pub(super) screen_ended: Option<Closure<dyn FnMut()>>,
}

/// The offer of a ringing call.
struct Ringing {
    call: String,
    caller: PublicKey,
    sdp: String,
    /// The others in the call, to connect to on accepting.
    people: Vec<PublicKey>,
}

/// How much longer than the caller the callee lets a call ring (the caller's hang-up
/// after its own timeout normally arrives first).
const CALLEE_RING_GRACE_MS: u64 = 5_000;
/// How long a connection stays broken before this side restarts ICE (the side with
/// the smaller key does; it tries again at this pace while the connection is down).
const RESTART_ICE_AFTER_MS: u32 = 2_000;
/// How long a broken connection to one person may take to come back before that
/// person is dropped from the call.
pub const RECONNECT_TIMEOUT_MS: u32 = 30_000;

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

    /// The peer connections of the current call.
    pub(super) fn peer_connections(&self) -> Vec<RtcPeerConnection> {
        self.inner().calls.borrow().peers.values().map(|p| p.pc.clone()).collect()
    }

    /// Replaces the local stream (a device changed).
    pub(super) fn set_local_stream(&self, stream: MediaStream) {
        self.inner().calls.borrow_mut().local = Some(stream);
        self.media.update(|n| *n += 1);
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
        rtc::send_stream(&pc, stream, self.inner().calls.borrow().screen.as_ref());
        let session = *self;
        let who = key.to_owned();
        let track = rtc::on_remote_stream(&pc, move |remote| {
            session.inner().calls.borrow_mut().remote.insert(who.clone(), remote);
            session.media.update(|n| *n += 1);
        });
        let who = key.to_owned();
        let state = rtc::on_state(&pc, move |s| match s {
            RtcPeerConnectionState::Connected => session.set_peer(&who, PeerState::Connected),
            RtcPeerConnectionState::Disconnected => session.reconnect(&who, false),
            RtcPeerConnectionState::Failed => session.reconnect(&who, true),
            _ => {}
        });
        let replaced = self
            .inner()
            .calls
            .borrow_mut()
            .peers
            .insert(key.to_owned(), Peer { pc: pc.clone(), _track: track, _state: state });
        if let Some(old) = replaced {
            rtc::close(&old.pc);
        }
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
        let ringing = vec![PeerView { key: key.clone(), alias: alias.clone(), state: PeerState::Ringing }];
        self.call.set(CallView::Active(ActiveCall::new(call.clone(), video, true, ringing)));
        let session = *self;
        leptos::task::spawn_local(async move {
            if let Err(why) = session.offer_to(&call, &to, video, Vec::new()).await {
                session.end_call(Some(why));
                return;
            }
            session.ring_until_timeout(&call, &to).await;
        });
    }

    /// Whether `key` can be added to the current call now: a call is on, it has room for
    /// one more, nobody in it is still ringing (one invitation at a time), and `key` is
    /// not in it yet.
    pub fn can_add_to_call(&self, key: &str) -> bool {
        self.call.with(|v| match v {
            CallView::Active(a) => {
                a.peers.len() + 1 < call::MAX_CALL_PEOPLE
                    && a.peers.iter().all(|p| p.key != key && p.state != PeerState::Ringing)
            }
            _ => false,
        })
    }

    /// Adds `key` (known here as `alias`) to the current call: it rings there, and the
    /// offer names everyone already in the call, so that person connects to each of them.
    pub fn add_to_call(&self, key: String, alias: String) {
        if !self.can_add_to_call(&key) {
            return;
        }
        let CallView::Active(active) = self.call.get_untracked() else { return };
        let Ok(to) = PublicKey::parse(&key) else { return };
        let people = active.peers.iter().filter_map(|p| PublicKey::parse(&p.key).ok()).collect();
        self.call.update(|v| {
            if let CallView::Active(a) = v {
                a.peers.push(PeerView { key: key.clone(), alias, state: PeerState::Ringing });
            }
        });
        let session = *self;
        leptos::task::spawn_local(async move {
            if let Err(why) = session.offer_to(&active.call, &to, active.video, people).await {
                session.drop_peer(&key, &why);
                return;
            }
            session.ring_until_timeout(&active.call, &to).await;
        });
    }

    /// Waits out the ring timeout; if `to` still has not answered `call`, it stops
    /// ringing there and leaves the call.
    async fn ring_until_timeout(&self, call: &str, to: &PublicKey) {
        gloo_timers::future::TimeoutFuture::new(call::RING_TIMEOUT_MS as u32).await;
        let key = to.to_b64();
        let unanswered = self.call.with_untracked(|v| {
            matches!(v, CallView::Active(a) if a.call == call
                && a.peers.iter().any(|p| p.key == key && p.state == PeerState::Ringing))
        });
        if unanswered {
            self.send_signal(to, call, Signal::HangUp);
            self.drop_peer(&key, "no answer");
        }
    }

    /// Opens the local media if needed and sends `to` an offer for `call` naming `people`.
    /// Nothing is sent if, meanwhile, this side took the other's call instead (two people
    /// who called each other at once) or left the call.
    async fn offer_to(&self, call: &str, to: &PublicKey, video: bool, people: Vec<PublicKey>) -> Result<(), String> {
        let stream = self.local_media(video).await?;
        if !self.in_call(call) {
            return Ok(());
        }
        let pc = self.connect(&to.to_b64(), &stream)?;
        let made = rtc::local_description(&pc, true).await;
        let current = self.inner().calls.borrow().peers.get(&to.to_b64()).is_some_and(|p| p.pc == pc);
        if !current || !self.in_call(call) {
            return Ok(()); // superseded: this connection was closed or replaced
        }
        let sdp = made?;
        let fingerprint = call::fingerprint(&sdp).ok_or("the browser's offer names no DTLS fingerprint")?;
        if !self.send_signal(to, call, Signal::Offer { sdp, fingerprint, video, people }) {
            return Err("The room is not connected.".into());
        }
        Ok(())
    }

    /// The connection to `key` broke (the network went away, an address changed): it
    /// shows as reconnecting; the side with the smaller key offers an ICE restart until it
    /// is back, and the person is dropped if it is not back within [`RECONNECT_TIMEOUT_MS`].
    /// A connection that `failed` before it ever connected is dropped at once.
    fn reconnect(&self, key: &str, failed: bool) {
        let CallView::Active(active) = self.call.get_untracked() else { return };
        let Some(state) = active.peers.iter().find(|p| p.key == key).map(|p| p.state) else { return };
        match state {
            PeerState::Connected => {}
            PeerState::Connecting if failed => return self.drop_peer(key, "the connection failed"),
            _ => return, // not connected yet, or a reconnect is already under way
        }
        self.set_peer(key, PeerState::Reconnecting);
        let Ok(to) = PublicKey::parse(key) else { return };
        let restarts = self.inner().ring.me.to_b64().as_str() < key;
        let (session, key) = (*self, key.to_owned());
        let deadline = js_sys::Date::now() + f64::from(RECONNECT_TIMEOUT_MS);
        leptos::task::spawn_local(async move {
            while js_sys::Date::now() < deadline {
                gloo_timers::future::TimeoutFuture::new(RESTART_ICE_AFTER_MS).await;
                let still_down = session.call.with_untracked(|v| {
                    matches!(v, CallView::Active(a) if a.call == active.call
                        && a.peers.iter().any(|p| p.key == key && p.state == PeerState::Reconnecting))
                });
                if !still_down {
                    return;
                }
                let pc = session.inner().calls.borrow().peers.get(&key).map(|p| p.pc.clone());
                let Some(pc) = pc else { return };
                if restarts && !rtc::awaits_answer(&pc) {
                    match rtc::restart_offer(&pc).await {
                        Ok(sdp) => {
                            if let Some(fingerprint) = call::fingerprint(&sdp) {
                                let offer = Signal::Offer { sdp, fingerprint, video: active.video, people: Vec::new() };
                                session.send_signal(&to, &active.call, offer);
                            }
                        }
                        Err(why) => return session.drop_peer(&key, &why),
                    }
                }
            }
            session.drop_peer(&key, "the connection was lost");
        });
    }

    /// Whether this browser is in call `call` (placing it or in it).
    fn in_call(&self, call: &str) -> bool {
        self.call.with_untracked(|v| matches!(v, CallView::Active(a) if a.call == call))
    }

    async fn local_media(&self, video: bool) -> Result<MediaStream, String> {
        if let Some(stream) = self.local_stream() {
            return Ok(stream);
        }
        let stream = rtc::local_media(video).await?;
        // Opened twice at once (two people who called each other): keep the first.
        if let Some(first) = self.local_stream() {
            rtc::stop(&stream);
            return Ok(first);
        }
        self.set_local_stream(stream.clone());
        self.refresh_devices().await;
        Ok(stream)
    }

    /// Takes the ringing call.
    pub fn accept_call(&self) {
        let CallView::Ringing { call, from, alias, video } = self.call.get_untracked() else { return };
        let offer = self.inner().calls.borrow_mut().offer.take();
        let Some(Ringing { caller, sdp, people, .. }) = offer.filter(|o| o.call == call) else { return };
        let mesh_offers = std::mem::take(&mut self.inner().calls.borrow_mut().mesh_offers);
        self.begin_membership(&call);
        // Everyone else in the call: those who already offered are answered, the rest
        // get an offer from here.
        let me = self.inner().ring.me;
        let mut others: Vec<PublicKey> = Vec::new();
        for p in people.iter().chain(mesh_offers.iter().map(|(k, _)| k)) {
            if *p != me && *p != caller && !others.contains(p) && others.len() + 2 < call::MAX_CALL_PEOPLE {
                others.push(*p);
            }
        }
        let mut peers = vec![PeerView { key: from.clone(), alias, state: PeerState::Connecting }];
        peers.extend(others.iter().map(|p| {
            let key = p.to_b64();
            PeerView { alias: self.alias_of(&key), key, state: PeerState::Connecting }
        }));
        self.call.set(CallView::Active(ActiveCall::new(call.clone(), video, false, peers)));
        let session = *self;
        leptos::task::spawn_local(async move {
            if let Err(why) = session.answer(&call, &caller, &sdp, video).await {
                session.send_signal(&caller, &call, Signal::HangUp);
                session.end_call(Some(why));
                return;
            }
            for other in others {
                let offered = mesh_offers.iter().find(|(k, _)| *k == other).map(|(_, sdp)| sdp.clone());
                let done = match offered {
                    Some(sdp) => session.answer(&call, &other, &sdp, video).await,
                    None => session.offer_to(&call, &other, video, Vec::new()).await,
                };
                if let Err(why) = done {
                    session.drop_peer(&other.to_b64(), &why);
                }
            }
        });
    }

    /// Answers `caller`'s offer of `call` on a new peer connection.
    async fn answer(&self, call: &str, caller: &PublicKey, sdp: &str, video: bool) -> Result<(), String> {
        let stream = self.local_media(video).await?;
        let pc = self.connect(&caller.to_b64(), &stream)?;
        self.answer_on(&pc, call, caller, sdp).await
    }

    /// Applies `caller`'s offer on `pc` and sends the answer.
    async fn answer_on(&self, pc: &RtcPeerConnection, call: &str, caller: &PublicKey, sdp: &str) -> Result<(), String> {
        rtc::remote_description(pc, sdp, true).await?;
        let answer = rtc::local_description(pc, false).await?;
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
            let mesh_offers = std::mem::take(&mut self.inner().calls.borrow_mut().mesh_offers);
            for to in offer.map(|o| o.caller).into_iter().chain(mesh_offers.into_iter().map(|(k, _)| k)) {
                self.send_signal(&to, &call, Signal::Decline);
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
                session.forget_ringing();
                session.call.set(CallView::Ended { why: format!("Missed call from {alias}.") });
            }
        });
    }

    /// Someone in call `call` known here by no name yet (joined through a mesh, never
    /// wrote in the room) takes the name their signals carry.
    fn name_peer(&self, call: &str, key: &str, alias: &str) {
        let unnamed = self.call.with_untracked(|v| {
            matches!(v, CallView::Active(a) if a.call == call
                && a.peers.iter().any(|p| p.key == key && p.alias.is_empty()))
        });
        if unnamed && !alias.is_empty() {
            self.call.update(|v| {
                if let CallView::Active(a) = v
                    && let Some(p) = a.peers.iter_mut().find(|p| p.key == key)
                {
                    p.alias = alias.to_owned();
                }
            });
        }
    }

    /// Forgets the ringing call's offers.
    fn forget_ringing(&self) {
        let inner = self.inner();
        let mut media = inner.calls.borrow_mut();
        media.offer = None;
        media.mesh_offers.clear();
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
                self.forget_ringing();
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
            media.mesh_offers.clear();
            if let Some(stream) = media.local.take() {
                rtc::stop(&stream);
            }
            if let Some(screen) = media.screen.take() {
                screen.stop();
            }
            media.screen_ended = None;
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
        self.name_peer(&call_id, &key, &alias);
        let current = self.call.get_untracked();
        match signal {
            Signal::Offer { sdp, video, people, .. } => match current {
                CallView::Idle | CallView::Ended { .. } => {
                    let ringing = Ringing { call: call_id.clone(), caller: sender, sdp, people };
                    self.inner().calls.borrow_mut().offer = Some(ringing);
                    let room = self.room_name.get_untracked().unwrap_or_else(|| "a room".to_owned());
                    crate::notify::incoming_call(&room, &alias);
                    self.call.set(CallView::Ringing { call: call_id.clone(), from: key, alias: alias.clone(), video });
                    self.stop_ringing_after_timeout(call_id, alias);
                }
                // Someone else who joins the call that rings here: answered on accepting.
                CallView::Ringing { call, from, .. } if call == call_id && from != key => {
                    let inner = self.inner();
                    let mut media = inner.calls.borrow_mut();
                    media.mesh_offers.retain(|(k, _)| *k != sender);
                    media.mesh_offers.push((sender, sdp));
                }
                CallView::Active(a) if a.call == call_id => self.offer_within_call(&a, sender, alias, sdp),
                // Both called each other at once: the smaller call id wins.
                CallView::Active(a)
                    if a.outgoing && a.connected_at.is_none() && a.peers.iter().any(|p| p.key == key) =>
                {
                    if call_id < a.call {
                        if let Some(peer) = self.inner().calls.borrow_mut().peers.remove(&key) {
                            rtc::close(&peer.pc);
                        }
                        let ringing = Ringing { call: call_id.clone(), caller: sender, sdp, people };
                        self.inner().calls.borrow_mut().offer = Some(ringing);
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
                    // An answer to an ICE restart leaves the state to the connection.
                    let ringing = matches!(&current, CallView::Active(a)
                        if a.peers.iter().any(|p| p.key == key && p.state == PeerState::Ringing));
                    if ringing {
                        self.set_peer(&key, PeerState::Connecting);
                    }
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
                CallView::Ringing { call, from, .. } if call == call_id && from == key => {
                    self.forget_ringing();
                    self.call.set(CallView::Ended { why: format!("Missed call from {alias}.") });
                }
                CallView::Ringing { call, .. } if call == call_id => {
                    self.inner().calls.borrow_mut().mesh_offers.retain(|(k, _)| *k != sender);
                }
                _ => {}
            },
        }
    }

    /// An offer of the call this browser is in, from `sender`:
    /// - from someone in it whose connection is up or recovering: a renegotiation (an
    ///   ICE restart), applied to that connection and answered;
    /// - from someone this side offered to at the same moment: the offer of the smaller
    ///   key stands (the other side drops its own the same way);
    /// - from someone new (they accepted an invitation that named this browser): taken
    ///   without ringing while the call has room, declined otherwise.
    fn offer_within_call(&self, active: &ActiveCall, sender: PublicKey, alias: String, sdp: String) {
        let key = sender.to_b64();
        let pc = self.inner().calls.borrow().peers.get(&key).map(|p| p.pc.clone());
        let session = *self;
        let call = active.call.clone();
        let video = active.video;
        if let Some(pc) = pc {
            if rtc::awaits_answer(&pc) {
                if self.inner().ring.me.to_b64() < key {
                    return; // ours stands: they answer it
                }
                self.set_peer(&key, PeerState::Connecting);
                leptos::task::spawn_local(async move {
                    if let Err(why) = session.answer(&call, &sender, &sdp, video).await {
                        session.drop_peer(&key, &why);
                    }
                });
            } else {
                leptos::task::spawn_local(async move {
                    if let Err(why) = session.answer_on(&pc, &call, &sender, &sdp).await {
                        session.drop_peer(&key, &why);
                    }
                });
            }
            return;
        }
        if active.peers.len() + 1 >= call::MAX_CALL_PEOPLE {
            self.send_signal(&sender, &call, Signal::Decline);
            return;
        }
        self.call.update(|v| {
            if let CallView::Active(a) = v {
                a.peers.push(PeerView { key: key.clone(), alias, state: PeerState::Connecting });
            }
        });
        leptos::task::spawn_local(async move {
            if let Err(why) = session.answer(&call, &sender, &sdp, video).await {
                session.drop_peer(&key, &why);
            }
        });
    }
}
