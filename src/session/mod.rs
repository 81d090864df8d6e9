//! One open room as reactive state the views read: the timeline, the connection status,
//! the room's settings and this key's access. It is fed by the cache (first, so the room
//! opens instantly and offline), the room socket, and history pages; it persists the
//! outbox, the cache, the keys it receives and the read marker.

pub mod admin;
mod call_devices;
mod calls;
pub mod decode;
mod erasure;
mod membership;
pub mod presence;
pub mod timeline;
pub mod window;

use std::collections::BTreeMap;
use std::rc::Rc;

use leptos::prelude::*;
use protocol::content_key::ContentKey;
use protocol::envelope::{Content, StoredMessage};
use protocol::frames::{Access, RoomState};
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ids::RoomId;
use protocol::invite::InviteProof;
use protocol::key_wrap::WrappedKey;
use protocol::room_guard::{RoomGuard, Threat};
use protocol::room_state::SignedState;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::crypto::{self, Outgoing};
use crate::net::api;
use crate::net::socket::{self, ConnectionStatus, SocketEvent, SocketHandle};
use crate::notify;
use crate::store::{self, OutboxEntry, cache};
use decode::{Keyring, Roles, message_id};
use protocol::actions::MessageRef;
use timeline::{BodyParts, ChatMessage, Delivery, Timeline, Trust, Whisper};

/// Messages loaded per page (from the cache or the server).
pub const PAGE: usize = 100;

/// What a room view needs to show and to act.
#[derive(Clone, Copy)]
pub struct RoomSession {
    pub timeline: RwSignal<Timeline>,
    pub status: RwSignal<ConnectionStatus>,
    pub state: RwSignal<Option<RoomState>>,
    pub access: RwSignal<Option<Access>>,
    /// Older messages may exist beyond the oldest loaded one.
    pub more_history: RwSignal<bool>,
    pub loading_older: RwSignal<bool>,
    /// A problem to show (a refused message, a failed history load).
    pub notice: RwSignal<Option<String>>,
    /// (Owner) join requests received while the room is open here.
    pub join_requests: RwSignal<u32>,
    /// What the server (or a link) handed over that this browser refused to use, as
    /// sentences to show prominently (see [`protocol::room_guard`]).
    pub warnings: RwSignal<Vec<String>>,
    /// The message of the day, opened from the owner-signed state.
    pub motd: RwSignal<Option<String>>,
    /// The room's shared name, opened from the owner-signed state.
    pub room_name: RwSignal<Option<String>>,
    /// Counts the messages this browser wrote here (the list jumps to the newest on each).
    pub sent: RwSignal<u64>,
    /// What the composer is doing: writing, replying to a message or editing one.
    pub compose: RwSignal<Compose>,
    /// Who is typing and how far each member has read (ephemeral, never stored).
    pub presence: RwSignal<presence::Presence>,
    /// The call part of the room (see `calls.rs`).
    pub call: RwSignal<crate::call::CallView>,
    /// Changes whenever a call's streams change (video elements re-attach).
    pub media: RwSignal<u64>,
    /// The STUN/TURN servers the server advertises for calls.
    pub call_settings: RwSignal<protocol::api::CallSettings>,
    inner: StoredValue<Rc<Inner>, LocalStorage>,
}

/// What the composer's next send does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Compose {
    #[default]
    Write,
    /// A reply to the message with this timeline id.
    Reply(String),
    /// New text for our own message with this timeline id.
    Edit(String),
}

/// A DOM event listener kept alive while the room is open: ("target:event", callback).
type Listener = (String, Closure<dyn FnMut()>);

struct Inner {
    ring: Keyring,
    /// What this browser trusts about the room (owner, signed state, trusted keys).
    guard: std::cell::RefCell<RoomGuard>,
    alias: String,
    name: String,
    socket: std::cell::OnceCell<SocketHandle>,
    /// When this browser last said it is typing (ms), and the newest key it said it read.
    typing_sent: std::cell::Cell<Option<f64>>,
    seen_sent: std::cell::RefCell<Option<String>>,
    /// Keys this connection already asked the room to erase (see `erasure.rs`).
    erase_asked: std::cell::RefCell<std::collections::HashSet<String>>,
    /// Keeps the `online` / `visibilitychange` listeners alive while the room is open.
    listeners: std::cell::RefCell<Vec<Listener>>,
    /// The current call's streams and peer connections.
    calls: std::cell::RefCell<calls::CallMedia>,
}

/// What this browser verified about the room on earlier visits (see [`RoomGuard::restore`]).
pub struct Trusted {
    pub seen_version: u64,
    pub state: Option<SignedState>,
    pub epochs: std::collections::BTreeSet<u32>,
}

fn roles(state: &Option<RoomState>) -> Roles {
    Roles { owner: state.as_ref().map(|s| s.owner), guest: state.as_ref().and_then(|s| s.guest) }
}

impl RoomSession {
    /// Opens the room: cached messages and queued sends first, then the socket.
    pub fn start(
        room: RoomId,
        identity: IdentityKey,
        keys: BTreeMap<u32, ContentKey>,
        alias: String,
        name: String,
        trusted: Trusted,
    ) -> Self {
        // The proof that this browser holds the invite link (a newcomer's key needs it).
        let invite = keys.iter().next_back().map(|(_, k)| InviteProof::make(&room, k, &identity.public_key()));
        let session = RoomSession {
            timeline: RwSignal::new(Timeline::default()),
            status: RwSignal::new(ConnectionStatus::Connecting),
            state: RwSignal::new(None),
            access: RwSignal::new(None),
            more_history: RwSignal::new(true),
            loading_older: RwSignal::new(false),
            notice: RwSignal::new(None),
            join_requests: RwSignal::new(0),
            warnings: RwSignal::new(Vec::new()),
            motd: RwSignal::new(None),
            room_name: RwSignal::new(None),
            sent: RwSignal::new(0),
            compose: RwSignal::new(Compose::Write),
            presence: RwSignal::new(presence::Presence::default()),
            call: RwSignal::new(crate::call::CallView::Idle),
            media: RwSignal::new(0),
            call_settings: RwSignal::new(protocol::api::CallSettings::default()),
            inner: StoredValue::new_local(Rc::new(Inner {
                guard: std::cell::RefCell::new(RoomGuard::restore(
                    room.clone(),
                    trusted.seen_version,
                    trusted.state,
                    trusted.epochs,
                )),
                ring: Keyring::new(room.clone(), identity.clone(), keys),
                alias,
                name,
                socket: std::cell::OnceCell::new(),
                typing_sent: std::cell::Cell::new(None),
                seen_sent: std::cell::RefCell::new(None),
                erase_asked: std::cell::RefCell::default(),
                listeners: std::cell::RefCell::new(Vec::new()),
                calls: std::cell::RefCell::new(calls::CallMedia::default()),
            })),
        };
        leptos::task::spawn_local(async move {
            if let Ok(info) = crate::net::api::info().await {
                let _ = session.call_settings.try_set(info.calls);
            }
        });
        // Messages written earlier and not yet acknowledged (e.g. typed while offline).
        let outbox = store::outbox(room.as_str());
        let me = identity.public_key();
        session.timeline.update(|t| {
            for entry in &outbox {
                t.upsert(session.pending_message(&me, entry));
            }
        });
        // The cache shows the room before the socket is up.
        let room_id = room.to_string();
        leptos::task::spawn_local(async move {
            match cache::page(&room_id, None, PAGE as u32).await {
                Ok(cached) => session.timeline.update(|t| {
                    for m in cached {
                        t.upsert(m);
                    }
                }),
                Err(e) => leptos::logging::warn!("{e}"),
            }
        });
        let handle = socket::spawn(
            room,
            identity,
            invite,
            outbox.into_iter().map(|e| e.env).collect(),
            Rc::new(move |event| session.on_event(event)),
        );
        let inner = session.inner.get_value();
        let _ = inner.socket.set(handle);
        session.listen_for_network();
        session
    }

    fn inner(&self) -> Rc<Inner> {
        self.inner.get_value()
    }

    fn room(&self) -> String {
        self.inner().ring.room.to_string()
    }

    /// The alias `sender` used in its latest message shown here.
    pub fn alias_of(&self, sender: &str) -> String {
        self.timeline.with_untracked(|t| t.alias_of(sender).unwrap_or_default().to_owned())
    }

    /// The name this browser chose in this room.
    pub fn alias(&self) -> String {
        self.inner().alias.clone()
    }

    /// Our own public key in this room.
    pub fn me(&self) -> String {
        self.inner().ring.me.to_b64()
    }

    pub fn identity(&self) -> IdentityKey {
        self.inner().ring.identity.clone()
    }

    pub fn room_id(&self) -> RoomId {
        self.inner().ring.room.clone()
    }

    /// The safety number of this browser's identity and `member` (a base64url key) in
    /// this room, to compare out of band; `None` if `member` is not a valid key.
    pub fn safety_number_with(&self, member: &str) -> Option<protocol::safety_number::SafetyNumber> {
        let theirs = PublicKey::parse(member).ok()?;
        let inner = self.inner();
        Some(protocol::safety_number::SafetyNumber::of(&inner.ring.room, &inner.ring.me, &theirs))
    }

    /// The content key of the owner-signed current epoch, if this browser holds it and
    /// knows it comes from the owner (never a key the server or a crafted link slipped in).
    pub fn current_key(&self) -> Option<(u32, ContentKey)> {
        let inner = self.inner();
        let guard = inner.guard.borrow();
        let epoch = guard.epoch();
        if !guard.is_trusted(epoch) {
            return None;
        }
        inner.ring.keys.borrow().get(&epoch).cloned().map(|k| (epoch, k))
    }

    /// The owner-signed state in force, if one was received and verified.
    pub fn signed_state(&self) -> Option<SignedState> {
        self.inner().guard.borrow().state().cloned()
    }

    /// Remembers a content key this browser made (as the owner) or received wrapped by the
    /// owner. A key already held for that epoch is never replaced.
    pub fn remember_key(&self, epoch: u32, key: ContentKey) {
        let inner = self.inner();
        if inner.ring.keys.borrow().contains_key(&epoch) {
            return;
        }
        inner.ring.keys.borrow_mut().insert(epoch, key.clone());
        let _ = store::update_room(inner.ring.room.as_str(), |r| {
            r.keys.entry(epoch).or_insert_with(|| key.to_b64());
        });
    }

    /// Marks a key this browser made itself (the owner's new epochs) as trusted.
    pub fn trust_own_key(&self, epoch: u32, key: ContentKey) {
        self.remember_key(epoch, key);
        self.prove_membership(epoch);
        let inner = self.inner();
        inner.guard.borrow_mut().trust(epoch);
        let _ = store::update_room(inner.ring.room.as_str(), |r| {
            r.trusted_epochs.insert(epoch);
        });
    }

    fn warn(&self, message: String) {
        self.warnings.update(|w| {
            if !w.contains(&message) {
                w.push(message);
            }
        });
    }

    fn pending_message(&self, me: &PublicKey, entry: &OutboxEntry) -> ChatMessage {
        let state = self.state.get_untracked();
        let env = &entry.env;
        let parts = entry.content.as_ref().map(BodyParts::of);
        // What a body other than text says (a call's line) shows while it is pending too.
        let text = match &parts {
            Some(p) if entry.text.is_empty() => p.text.clone(),
            _ => entry.text.clone(),
        };
        let BodyParts { reply_to, action, event, .. } = parts.unwrap_or_default();
        ChatMessage {
            id: message_id(me, env.cid.as_str()),
            key: None,
            sender: me.to_b64(),
            alias: self.inner().alias.clone(),
            text,
            time_ms: None,
            mine: true,
            from_owner: state.as_ref().is_some_and(|s| s.owner == *me),
            from_guest: state.as_ref().and_then(|s| s.guest).is_some_and(|g| g == *me),
            whisper: env.to.map(|to| Whisper { to: to.to_b64(), mine: true }),
            attachment: entry.content.as_ref().and_then(timeline::Attachment::of),
            delivery: Delivery::Pending,
            trust: Trust::Verified,
            reply_to,
            action,
            event,
            shown: Default::default(),
        }
    }

    fn on_event(&self, event: SocketEvent) {
        match event {
            SocketEvent::Status(s) => {
                if let ConnectionStatus::Failed(code) = &s {
                    self.on_refused(*code);
                }
                let connected = s == ConnectionStatus::Connected;
                self.status.set(s);
                if connected {
                    self.forget_erasure_requests();
                    self.ask_erasure();
                }
            }
            SocketEvent::Access { state, access, keys } => self.on_access(*state, access, keys),
            SocketEvent::Messages { messages, backlog, more } => {
                if backlog {
                    self.more_history.set(more);
                    self.timeline.update(|t| t.set_history_complete(!more));
                }
                self.receive(messages, !backlog);
            }
            SocketEvent::Acked { cid, key } => {
                let inner = self.inner();
                let id = message_id(&inner.ring.me, cid.as_str());
                self.timeline.update(|t| t.acknowledge(&id, key.as_str(), key.timestamp().as_millis()));
                let room = self.room();
                let mut outbox = store::outbox(&room);
                outbox.retain(|e| e.env.cid != cid);
                let _ = store::save_outbox(&room, &outbox);
                let writes =
                    self.timeline.with_untracked(|t| t.get(&id).map(|m| t.cache_writes(std::slice::from_ref(m))));
                if let Some(writes) = writes {
                    leptos::task::spawn_local(async move {
                        let _ = cache::put_all(&writes).await;
                    });
                }
                self.mark_seen();
                self.ask_erasure();
            }
            SocketEvent::Ephemeral(env) => self.on_ephemeral(*env),
            SocketEvent::Erased(key) => self.on_erased(key),
            SocketEvent::JoinRequest => {
                self.join_requests.update(|n| *n += 1);
                notify::incoming(&self.inner().name, "Someone asking to join");
            }
            SocketEvent::Refused { cid, error } => {
                let id = message_id(&self.inner().ring.me, cid.as_str());
                // In the app's words: the server's own text is not shown (net/explain.rs).
                let why = crate::net::explain::sentence(error.code).to_owned();
                self.timeline.update(|t| t.fail(&id, why));
                let room = self.room();
                let mut outbox = store::outbox(&room);
                outbox.retain(|e| e.env.cid != cid);
                let _ = store::save_outbox(&room, &outbox);
            }
        }
    }

    /// The room refused this browser for good: what is waiting to be sent says why (it
    /// can be retried or discarded), and the link of a room that does not exist is not
    /// kept among "Your rooms" unless the room was ever joined from here.
    fn on_refused(&self, code: Option<protocol::error::ErrorCode>) {
        if code == Some(protocol::error::ErrorCode::Forbidden) {
            self.end_call_on_removal();
        }
        let why = crate::net::explain::join_refused(code);
        self.timeline.update(|t| {
            let pending: Vec<String> =
                t.iter().filter(|m| m.delivery == Delivery::Pending).map(|m| m.id.clone()).collect();
            for id in pending {
                t.fail(&id, why.clone());
            }
        });
        let room = self.room();
        if code == Some(protocol::error::ErrorCode::UnknownRoom)
            && store::load_room(&room).is_some_and(|r| r.never_joined())
        {
            store::forget_room(&room);
        }
    }

    /// New settings or access: checks them against the room id and the owner's signature
    /// (see [`RoomGuard`]), keeps the keys the owner wrapped to this identity, and shows
    /// what was refused. The views only ever see the owner-signed epoch and lock.
    fn on_access(&self, mut state: RoomState, access: Access, keys: Vec<WrappedKey>) {
        let inner = self.inner();
        let held = inner.ring.keys.borrow().clone();
        let checked = inner.guard.borrow_mut().check(&inner.ring.identity, &state, &keys, &held);
        let forged_owner = checked.threats.contains(&Threat::OwnerMismatch);
        for threat in &checked.threats {
            self.warn(threat.to_string());
        }
        if forged_owner {
            // Nothing from this server is used: stop talking to it.
            if let Some(s) = inner.socket.get() {
                s.stop();
            }
            return;
        }
        for (epoch, key) in checked.new_keys {
            self.remember_key(epoch, key);
        }
        let signed = inner.guard.borrow().state().cloned();
        if let Some(signed) = &signed {
            state.epoch = signed.epoch;
            state.locked = signed.locked;
            state.capacity = signed.capacity;
            let motd = signed.motd.as_ref().and_then(|m| {
                let key = inner.ring.keys.borrow().get(&signed.epoch).cloned()?;
                m.open(&inner.ring.room, signed.epoch, &key).ok()
            });
            self.motd.set(motd.filter(|m| !m.is_empty()));
            let name = signed.name.as_ref().and_then(|n| {
                let key = inner.ring.keys.borrow().get(&signed.epoch).cloned()?;
                n.open_room_name(&inner.ring.room, signed.epoch, &key).ok()
            });
            self.room_name.set(name.filter(|n| !n.trim().is_empty()));
        }
        let seen = inner.guard.borrow().seen_version();
        let trusted = inner.guard.borrow().trusted_epochs().clone();
        let _ = store::update_room(inner.ring.room.as_str(), |r| {
            r.owner = state.owner == inner.ring.me;
            r.state_version = r.state_version.max(seen);
            r.trusted_epochs.extend(trusted.iter().copied());
            if let Some(signed) = &signed {
                r.invite_epoch = Some(signed.invite_epoch);
                r.signed_state = Some(signed.clone());
                r.shared_name = self.room_name.get_untracked();
            }
            if let Some(latest) = &state.latest {
                r.last_activity = Some(latest.to_string());
            }
        });
        let legacy_owner = access == Access::Owner && state.signed.is_none() && seen == 0;
        self.state.set(Some(state));
        self.access.set(Some(access));
        if let Some(signed) = &signed {
            self.prove_membership(signed.epoch);
        }
        if matches!(access, Access::Member | Access::Accepted) {
            self.announce_join();
        }
        if legacy_owner {
            // A room from before protocol v2: its owner signs its first state now.
            let session = *self;
            leptos::task::spawn_local(async move {
                if let Err(e) = session.admin_sign_first_state().await {
                    session.notice.set(Some(format!("Could not sign the room's settings: {e}")));
                }
            });
        }
    }

    /// Decodes committed messages and shows them; `live` ones may notify.
    fn receive(&self, messages: Vec<StoredMessage>, live: bool) {
        if messages.is_empty() {
            return;
        }
        let session = *self;
        leptos::task::spawn_local(async move {
            let inner = session.inner();
            let roles = roles(&session.state.get_untracked());
            let decoded = inner.ring.decode_all(&messages, &roles).await;
            session.timeline.update(|t| {
                for m in decoded.iter().cloned() {
                    t.upsert(m);
                }
            });
            if live {
                for m in decoded.iter().filter(|m| !m.mine) {
                    session.presence.update(|p| p.spoke(&m.sender));
                    if m.is_conversation() {
                        notify::incoming(&inner.name, &m.alias);
                    }
                }
            }
            let newest = decoded.iter().filter_map(|m| m.key.clone()).max();
            let _ = store::update_room(inner.ring.room.as_str(), |r| {
                if newest > r.last_activity {
                    r.last_activity = newest.clone();
                }
            });
            session.mark_seen();
            session.ask_erasure();
            let writes = session.timeline.with_untracked(|t| t.cache_writes(&decoded));
            if let Err(e) = cache::put_all(&writes).await {
                leptos::logging::warn!("{e}");
            }
        });
    }

    /// Moves the read marker to the newest message while the room is visible.
    pub fn mark_seen(&self) {
        if !notify::page_visible() {
            return;
        }
        let newest = self.timeline.with_untracked(|t| t.newest_key().map(str::to_owned));
        let _ = store::update_room(&self.room(), |r| {
            if newest > r.last_seen {
                r.last_seen = newest.clone();
            }
        });
        // Tell the others (once per newer message), unless the person turned that off.
        let inner = self.inner();
        if store::sends_read_markers()
            && let Some(newest) = newest
            && inner.seen_sent.borrow().as_ref().is_none_or(|sent| *sent < newest)
            && let Ok(up_to) = protocol::ids::MessageKey::parse(&newest)
            && self.send_presence(Content::Seen { up_to })
        {
            *inner.seen_sent.borrow_mut() = Some(newest);
        }
    }

    /// `content` sealed and signed as this browser's member of the room, under `key` (of
    /// `epoch`, or a whisper's pair key).
    fn seal(
        &self,
        content: &Content,
        epoch: u32,
        key: &ContentKey,
        to: Option<&PublicKey>,
        cid: &protocol::ids::ClientMessageId,
    ) -> protocol::envelope::Envelope {
        let inner = self.inner();
        let out = Outgoing {
            room: &inner.ring.room,
            identity: &inner.ring.identity,
            alias: &inner.alias,
            content,
            epoch,
            to,
        };
        crypto::seal(&out, key, cid)
    }

    /// Seals presence under the current key and sends it if the room is joined now;
    /// false when it could not go (no key yet, or not connected).
    fn send_presence(&self, content: Content) -> bool {
        if self.status.get_untracked() != ConnectionStatus::Connected {
            return false;
        }
        let Some((epoch, key)) = self.current_key() else { return false };
        let env = self.seal(&content, epoch, &key, None, &crypto::new_client_id());
        match self.inner().socket.get() {
            Some(s) => {
                s.send_ephemeral(env);
                true
            }
            None => false,
        }
    }

    /// The person is typing (`true`, from the composer's input) or stopped (sent or
    /// cleared the text). The others hear at most every few seconds while it lasts.
    pub fn typing(&self, active: bool) {
        let inner = self.inner();
        let now = js_sys::Date::now();
        match (active, inner.typing_sent.get()) {
            (true, Some(at)) if now - at < presence::TYPING_REFRESH_MS => {}
            (false, None) => {}
            (true, _) => {
                if self.send_presence(Content::Typing { on: true }) {
                    inner.typing_sent.set(Some(now));
                }
            }
            (false, Some(_)) => {
                inner.typing_sent.set(None);
                self.send_presence(Content::Typing { on: false });
            }
        }
    }

    /// Another member's presence: verified and opened like a message, then shown until
    /// it lapses (typing) or for as long as the room is open (read markers).
    fn on_ephemeral(&self, env: protocol::envelope::Envelope) {
        let session = *self;
        leptos::task::spawn_local(async move {
            let inner = session.inner();
            let private = env.to == Some(inner.ring.me);
            let Some(body) = inner.ring.open_ephemeral(&env).await else {
                // A private signal (a call's) that fails its checks is refused, and said.
                if private && env.sender != inner.ring.me {
                    let name = session.alias_of(&env.sender.to_b64());
                    let who = if name.is_empty() { "someone".to_owned() } else { name };
                    let _ = session.warnings.try_update(|w| {
                        w.push(format!(
                            "A private signal from {who} (such as a call) failed its seal or signature check and was refused: it was altered on the way."
                        ))
                    });
                }
                return;
            };
            let sender = env.sender.to_b64();
            let now = js_sys::Date::now();
            match body.content {
                Content::Typing { on } => {
                    session.presence.update(|p| p.typing(&sender, &body.alias, on, now));
                    if on {
                        let lapse = std::time::Duration::from_millis(presence::TYPING_SHOWN_MS as u64 + 100);
                        set_timeout(
                            move || {
                                let _ = session.presence.try_update(|p| p.expire(js_sys::Date::now()));
                            },
                            lapse,
                        );
                    }
                }
                Content::Seen { up_to } => session.presence.update(|p| p.seen(&sender, &body.alias, up_to.as_str())),
                Content::CallSignal { call, signal } if private => {
                    session.on_call_signal(env.sender, body.alias, call, signal)
                }
                _ => {}
            }
        });
    }

    /// Seals `text` and queues it: to the room, or as a whisper to `to`.
    pub fn send(&self, text: &str, to: Option<PublicKey>) -> Result<(), String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        self.send_content(Content::text(text.to_owned()), to)
    }

    /// Seals any message body (a text, or a file/image already uploaded) and queues it.
    pub fn send_content(&self, content: Content, to: Option<PublicKey>) -> Result<(), String> {
        self.queue_content(content, to).map(|_| ())
    }

    /// [`RoomSession::send_content`], returning the queued message's timeline id.
    fn queue_content(&self, content: Content, to: Option<PublicKey>) -> Result<String, String> {
        let inner = self.inner();
        let (epoch, key) = match &to {
            Some(peer) => (self.current_key().map(|(e, _)| e).unwrap_or(0), inner.ring.pair_key(peer)),
            None => self
                .current_key()
                .ok_or("This browser does not hold the room's current key yet: wait for the owner to accept you.")?,
        };
        let env = self.seal(&content, epoch, &key, to.as_ref(), &crypto::new_client_id());
        let limit = protocol::limits::MAX_MESSAGE_BYTES;
        if env.stored_len() > limit {
            return Err(format!(
                "This message is too long ({} bytes once encrypted; the limit is {limit}).",
                env.stored_len()
            ));
        }
        // A plain text is kept as text; anything else (a reply, an action, a file) also
        // as the body it is, so that its pending copy shows what it is.
        let (text, shared) = match content {
            Content::Text { text, reply_to: None } => (text, None),
            Content::Text { ref text, .. } | Content::Edit { ref text, .. } => (text.clone(), Some(content)),
            other => (String::new(), Some(other)),
        };
        let room = self.room();
        let mut outbox = store::outbox(&room);
        let entry = OutboxEntry { env: env.clone(), text, content: shared };
        outbox.push(entry.clone());
        store::save_outbox(&room, &outbox).map_err(|e| e.to_string())?;
        let pending = self.pending_message(&inner.ring.me, &entry);
        let id = pending.id.clone();
        // A new row jumps the list to the newest; an action changes a row in place.
        let new_row = pending.action.is_none();
        self.timeline.update(|t| t.upsert(pending));
        if new_row {
            self.sent.update(|n| *n += 1);
        }
        if let Some(s) = inner.socket.get() {
            s.send(env);
        }
        Ok(id)
    }

    /// Sends `text` as a reply to the message `to_id` (to the room).
    pub fn reply(&self, text: &str, to_id: &str) -> Result<(), String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let target = MessageRef::from_id(to_id).ok_or("That message cannot be replied to.")?;
        self.send_content(Content::Text { text: text.to_owned(), reply_to: Some(target) }, None)
    }

    /// Replaces the text of our own message `id` for everyone.
    pub fn edit(&self, id: &str, text: &str) -> Result<(), String> {
        let text = text.trim();
        let target = MessageRef::from_id(id).ok_or("That message cannot be edited.")?;
        let content = Content::Edit { target, text: text.to_owned() };
        protocol::actions::check(&self.inner().ring.me, None, false, &content).map_err(|e| e.to_string())?;
        self.send_content(content, None)
    }

    /// Deletes message `id` for everyone (ours, or any as the room's owner).
    pub fn delete(&self, id: &str) -> Result<(), String> {
        let target = MessageRef::from_id(id).ok_or("That message cannot be deleted.")?;
        let owner = self.state.with_untracked(|s| s.as_ref().map(|s| s.owner));
        let content = Content::Delete { target };
        protocol::actions::check(&self.inner().ring.me, owner.as_ref(), false, &content).map_err(|e| e.to_string())?;
        self.send_content(content, None)
    }

    /// Adds our `emoji` reaction to message `id`, or takes it back if we gave it.
    pub fn toggle_reaction(&self, id: &str, emoji: &str) -> Result<(), String> {
        let target = MessageRef::from_id(id).ok_or("That message cannot be reacted to.")?;
        let given = self.timeline.with_untracked(|t| {
            t.get(id).is_some_and(|m| t.shown(m).shown.reactions.iter().any(|r| r.emoji == emoji && r.mine))
        });
        let content = Content::Reaction { target, emoji: emoji.to_owned(), on: !given };
        protocol::actions::check(&self.inner().ring.me, None, false, &content).map_err(|e| e.to_string())?;
        self.send_content(content, None)
    }

    /// Sends a failed message again (sealed anew, under the current key).
    pub fn retry(&self, id: &str) {
        let Some(failed) = self.timeline.with_untracked(|t| t.get(id).cloned()) else { return };
        let to = failed.whisper.as_ref().and_then(|w| PublicKey::parse(&w.to).ok());
        self.discard(id);
        let content = match failed.attachment.clone() {
            Some(a) => a.into_content(),
            None => Content::Text {
                text: failed.text.clone(),
                reply_to: failed.reply_to.as_deref().and_then(MessageRef::from_id),
            },
        };
        if let Err(e) = self.send_content(content, to) {
            self.notice.set(Some(e));
        }
    }

    /// Forgets a failed or waiting message.
    pub fn discard(&self, id: &str) {
        let Some(m) = self.timeline.try_update(|t| t.remove(id)).flatten() else { return };
        let cid = m.id.rsplit('/').next().unwrap_or_default().to_owned();
        let room = self.room();
        let mut outbox = store::outbox(&room);
        outbox.retain(|e| e.env.cid.as_str() != cid);
        let _ = store::save_outbox(&room, &outbox);
        if let (Some(s), Ok(cid)) = (self.inner().socket.get(), protocol::ids::ClientMessageId::parse(&cid)) {
            s.discard(cid);
        }
    }

    /// Loads the page before the oldest loaded message: from the cache, else the server.
    pub fn load_older(&self) {
        if self.loading_older.get_untracked() {
            return;
        }
        self.loading_older.set(true);
        let session = *self;
        leptos::task::spawn_local(async move {
            let inner = session.inner();
            let room = inner.ring.room.to_string();
            let before = session.timeline.with_untracked(|t| t.oldest_key().map(str::to_owned));
            let cached = cache::page(&room, before.as_deref(), PAGE as u32).await.unwrap_or_default();
            let result = if cached.len() == PAGE {
                session.timeline.update(|t| cached.into_iter().for_each(|m| t.upsert(m)));
                Ok(Vec::new())
            } else {
                let locked = session.state.with_untracked(|s| s.as_ref().is_some_and(|s| s.locked));
                let reader = locked.then_some(&inner.ring.identity);
                match api::history(&inner.ring.room, before.as_deref(), PAGE, reader).await {
                    Ok(page) => {
                        let roles = roles(&session.state.get_untracked());
                        let decoded = inner.ring.decode_all(&page.messages, &roles).await;
                        session.timeline.update(|t| {
                            decoded.iter().cloned().for_each(|m| t.upsert(m));
                            t.set_history_complete(!page.more);
                        });
                        session.more_history.set(page.more);
                        Ok(decoded)
                    }
                    Err(e) => Err(crate::net::explain::describe(&e)),
                }
            };
            // The page shows now; the cache keeps it afterwards (nobody waits for that).
            session.loading_older.set(false);
            match result {
                Ok(fetched) if !fetched.is_empty() => {
                    let writes = session.timeline.with_untracked(|t| t.cache_writes(&fetched));
                    if let Err(e) = cache::put_all(&writes).await {
                        leptos::logging::warn!("{e}");
                    }
                }
                Ok(_) => {}
                Err(e) => session.notice.set(Some(format!("Could not load older messages: {e}"))),
            }
        });
    }

    /// Retries the connection at once when the browser reports the network back or the
    /// tab visible again; marks messages seen when the tab becomes visible.
    fn listen_for_network(&self) {
        let Some(window) = web_sys::window() else { return };
        let session = *self;
        let wake = move || {
            if let Some(socket) = session.inner.try_get_value().as_ref().and_then(|i| i.socket.get()) {
                socket.wake();
            }
            if notify::page_visible() {
                session.mark_seen();
                notify::reset_unread();
            }
        };
        let mut listeners = Vec::new();
        for (target, event) in [("window", "online"), ("document", "visibilitychange")] {
            let closure = Closure::<dyn FnMut()>::new(wake);
            let added = match target {
                "window" => window.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref()),
                _ => window
                    .document()
                    .map(|d| d.add_event_listener_with_callback(event, closure.as_ref().unchecked_ref()))
                    .unwrap_or(Ok(())),
            };
            if added.is_ok() {
                listeners.push((format!("{target}:{event}"), closure));
            }
        }
        *self.inner().listeners.borrow_mut() = listeners;
    }

    /// Closes the socket and the listeners (when leaving the room view).
    pub fn stop(&self) {
        let Some(inner) = self.inner.try_get_value() else { return };
        if let Some(s) = inner.socket.get() {
            s.stop();
        }
        if let Some(window) = web_sys::window() {
            for (name, closure) in inner.listeners.borrow_mut().drain(..) {
                let f = closure.as_ref().unchecked_ref();
                let _ = match name.as_str() {
                    "window:online" => window.remove_event_listener_with_callback("online", f),
                    _ => window
                        .document()
                        .map(|d| d.remove_event_listener_with_callback("visibilitychange", f))
                        .unwrap_or(Ok(())),
                };
            }
        }
    }
}
