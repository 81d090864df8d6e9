//! One open room as reactive state: the timeline, the connection status and the room
//! settings, fed by the room socket and read by the views.

pub mod timeline;

use std::rc::Rc;

use leptos::prelude::*;
use protocol::content_key::ContentKey;
use protocol::envelope::{Content, StoredMessage};
use protocol::frames::RoomState;
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ids::{MessageKey, RoomId};

use crate::crypto;
use crate::net::socket::{self, ConnectionStatus, SocketEvent, SocketHandle};
use timeline::{ChatMessage, Delivery, Timeline, Trust};

/// What a room view needs to show and to act.
#[derive(Clone, Copy)]
pub struct RoomSession {
    pub timeline: RwSignal<Timeline>,
    pub status: RwSignal<ConnectionStatus>,
    pub state: RwSignal<Option<RoomState>>,
    socket: StoredValue<SocketHandle, LocalStorage>,
    context: StoredValue<Rc<SessionContext>, LocalStorage>,
}

/// The keys a session works with.
struct SessionContext {
    room: RoomId,
    identity: IdentityKey,
    me: PublicKey,
    key: ContentKey,
    alias: String,
}

fn message_id(sender: &PublicKey, cid: &str) -> String {
    format!("{sender}/{cid}")
}

impl SessionContext {
    /// Verifies and decrypts a committed message into its display form.
    fn decode(&self, stored: &StoredMessage, owner: Option<&PublicKey>) -> ChatMessage {
        let env = &stored.env;
        let (alias, text, trust) = match crypto::open(env, &self.key) {
            Ok(body) => {
                let text = match body.content {
                    Content::Text { text } => text,
                    Content::Unsupported => "(a message type this version cannot show)".to_owned(),
                };
                (body.alias, text, Trust::Verified)
            }
            Err(e) => (String::new(), String::new(), Trust::Tampered(e.to_string())),
        };
        ChatMessage {
            id: message_id(&env.sender, env.cid.as_str()),
            key: Some(stored.key.to_string()),
            sender: env.sender.to_b64(),
            alias,
            text,
            time_ms: Some(stored.key.timestamp().as_millis()),
            mine: env.sender == self.me,
            from_owner: owner == Some(&env.sender),
            delivery: Delivery::Sent,
            trust,
        }
    }
}

impl RoomSession {
    /// Opens the room's socket and starts tracking its state.
    pub fn start(room: RoomId, identity: IdentityKey, key: ContentKey, alias: String) -> Self {
        let me = identity.public_key();
        let context = Rc::new(SessionContext { room: room.clone(), identity: identity.clone(), me, key, alias });
        let timeline = RwSignal::new(Timeline::default());
        let status = RwSignal::new(ConnectionStatus::Connecting);
        let state = RwSignal::new(None::<RoomState>);
        let ctx = Rc::clone(&context);
        let on_event = move |event: SocketEvent| match event {
            SocketEvent::Status(s) => status.set(s),
            SocketEvent::Welcome(room_state) => state.set(Some(room_state)),
            SocketEvent::Messages(batch) => {
                let owner = state.with_untracked(|s| s.as_ref().map(|s| s.owner));
                timeline.update(|t| {
                    for stored in &batch {
                        t.upsert(ctx.decode(stored, owner.as_ref()));
                    }
                });
            }
            SocketEvent::Acked { cid, key } => {
                let id = message_id(&ctx.me, cid.as_str());
                timeline.update(|t| t.acknowledge(&id, key.as_str(), key.timestamp().as_millis()));
            }
            SocketEvent::Refused { cid, error } => {
                let id = message_id(&ctx.me, cid.as_str());
                timeline.update(|t| t.fail(&id, error.message));
            }
        };
        let socket = socket::spawn(room, identity, Rc::new(on_event));
        Self {
            timeline,
            status,
            state,
            socket: StoredValue::new_local(socket),
            context: StoredValue::new_local(context),
        }
    }

    /// Seals `text`, shows it as pending, and hands it to the socket (which keeps it
    /// until the room acknowledges it, across reconnects).
    pub fn send_text(&self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let ctx = self.context.get_value();
        let cid = crypto::new_client_id();
        let env = crypto::seal_text(&ctx.room, &ctx.identity, &ctx.key, &cid, &ctx.alias, text);
        let owner = self.state.with_untracked(|s| s.as_ref().map(|s| s.owner));
        self.timeline.update(|t| {
            t.upsert(ChatMessage {
                id: message_id(&ctx.me, cid.as_str()),
                key: None,
                sender: ctx.me.to_b64(),
                alias: ctx.alias.clone(),
                text: text.to_owned(),
                time_ms: None,
                mine: true,
                from_owner: owner == Some(ctx.me),
                delivery: Delivery::Pending,
                trust: Trust::Verified,
            })
        });
        self.socket.with_value(|s| s.send(env));
    }

    /// Our own public key in this room.
    pub fn me(&self) -> String {
        self.context.with_value(|c| c.me.to_b64())
    }

    /// Closes the socket (when leaving the room view).
    pub fn stop(&self) {
        self.socket.with_value(|s| s.stop());
    }
}

/// The display time of a committed key.
pub fn key_time_ms(key: &MessageKey) -> u64 {
    key.timestamp().as_millis()
}
