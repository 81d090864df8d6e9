//! The `World` harness shared by room-core's tests: one room over the in-memory store,
//! recording sockets, fixed identities and a controlled clock.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use cloakroom_room_core::effects::{QueueFull, Reply};
use cloakroom_room_core::inbound::PortableVerifier;
use cloakroom_room_core::verified::VerifiedRequest;
use cloakroom_room_core::{ConnId, KvStore, ListQuery, MemoryKv, Room, RoomConfig, Sockets, UnixMicros};
use protocol::api::OwnerCall;
use protocol::content_key::ContentKey;
use protocol::envelope::{self, Content, MessageBody, SealInput};
use protocol::error::ErrorCode;
use protocol::frames::{ClientFrame, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::{ClientMessageId, RoomId};
use protocol::invite::InviteProof;
use protocol::room_state::{SignedState, StateFields};
use protocol::signed_request::{RequestAuth, RequestTarget};
use protocol::transcript;

#[derive(Default)]
pub struct TestSockets {
    pub frames: HashMap<ConnId, Vec<ServerFrame>>,
    pub closed: HashMap<ConnId, u16>,
    /// A connection whose queue holds at most this many frames.
    pub slow: Option<(ConnId, usize)>,
}

impl Sockets for TestSockets {
    fn send(&mut self, conn: ConnId, text: Arc<str>) -> Result<(), QueueFull> {
        let q = self.frames.entry(conn).or_default();
        if self.slow.is_some_and(|(c, cap)| c == conn && q.len() >= cap) {
            return Err(QueueFull);
        }
        q.push(serde_json::from_str(&text).unwrap());
        Ok(())
    }
    fn close(&mut self, conn: ConnId, code: u16, _reason: &str) {
        self.closed.insert(conn, code);
    }
    fn drop_now(&mut self, conn: ConnId, code: u16, reason: &str) {
        self.close(conn, code, reason);
    }
}

impl TestSockets {
    /// The frames sent to `conn`, without `room` updates (which may come at any time,
    /// e.g. when the room gets its verified guest).
    pub fn take(&mut self, conn: ConnId) -> Vec<ServerFrame> {
        let frames = self.frames.remove(&conn).unwrap_or_default();
        frames.into_iter().filter(|f| !matches!(f, ServerFrame::Room { .. })).collect()
    }
}

pub struct World {
    pub room: Room,
    pub store: MemoryKv,
    pub sockets: TestSockets,
    pub owner: IdentityKey,
    pub key: ContentKey,
    /// The controlled clock (µs).
    pub now: u64,
}

pub fn identity(seed: u8) -> IdentityKey {
    IdentityKey::from_secret_bytes(&[seed; 32]).unwrap()
}

pub fn world(config: RoomConfig) -> World {
    let owner = identity(1);
    let id = RoomId::from_owner_key(&owner.public_key());
    let mut store = MemoryKv::default();
    let key = ContentKey::from_bytes([9; 32]);
    let state = first_state(&owner, &id, &key, config.limits.default_room_capacity);
    store
        .commit(Room::creation_batch(&id, &owner.public_key(), 1 << 30, &state, UnixMicros(1), &config).unwrap())
        .unwrap();
    let room = Room::load(id, &store, config).unwrap().unwrap();
    World { room, store, sockets: TestSockets::default(), owner, key, now: 1_000_000 }
}

/// The owner-signed first state of a room whose invite link carries `key`.
pub fn first_state(owner: &IdentityKey, room: &RoomId, key: &ContentKey, capacity: u32) -> SignedState {
    let fields = StateFields {
        version: 1,
        epoch: 0,
        locked: false,
        capacity,
        invite: protocol::invite::invite_key(room, key).public_key(),
        invite_epoch: 0,
        motd: None,
        name: None,
    };
    SignedState::sign(owner, room, fields)
}

impl World {
    /// The hello of `who` answering `challenge`, with the invite link's proof.
    pub fn hello(&self, who: &IdentityKey, challenge: &[u8]) -> ClientFrame {
        let sig = who.sign(&transcript::join(self.room.id(), challenge));
        let invite = Some(InviteProof::make(self.room.id(), &self.key, &who.public_key()));
        ClientFrame::Hello { v: protocol::PROTOCOL_VERSION, key: who.public_key(), sig, invite }
    }
}

impl World {
    pub fn flush(&mut self) {
        self.room.finish_batch(&mut self.store, &mut self.sockets).unwrap();
    }

    pub fn frame(&mut self, conn: ConnId, frame: &ClientFrame) {
        let text = serde_json::to_string(frame).unwrap();
        self.room.text_frame(conn, &text, UnixMicros(self.now), &self.store);
    }

    /// Connects and joins `who` on `conn`; returns the frames after the challenge.
    pub fn join(&mut self, conn: ConnId, who: &IdentityKey) -> Vec<ServerFrame> {
        self.room.connect(conn, [conn as u8; 32], UnixMicros(self.now));
        self.flush();
        let challenge = match &self.sockets.take(conn)[..] {
            [ServerFrame::Challenge { nonce, .. }] => nonce.0.clone(),
            other => panic!("expected a challenge, got {other:?}"),
        };
        let hello = self.hello(who, &challenge);
        self.frame(conn, &hello);
        self.flush();
        self.sockets.take(conn)
    }

    pub fn envelope(&self, who: &IdentityKey, cid: &str, text: &str) -> protocol::envelope::Envelope {
        let body = MessageBody { alias: "x".into(), content: Content::text(text) };
        let cid = ClientMessageId::parse(cid).unwrap();
        envelope::seal(
            &SealInput { room: self.room.id(), epoch: 0, cid: &cid, to: None, body: &body },
            &self.key,
            who,
            [3; 12],
        )
    }

    /// An envelope of any content, to the room or (`to`) one member.
    pub fn sealed(
        &self,
        who: &IdentityKey,
        cid: &str,
        content: Content,
        to: Option<&protocol::identity::PublicKey>,
    ) -> protocol::envelope::Envelope {
        let body = MessageBody { alias: "x".into(), content };
        let cid = ClientMessageId::parse(cid).unwrap();
        envelope::seal(
            &SealInput { room: self.room.id(), epoch: 0, cid: &cid, to, body: &body },
            &self.key,
            who,
            [4; 12],
        )
    }

    /// Every key and value in the store (to show a batch wrote nothing).
    pub fn store_dump(&self) -> Vec<(String, Vec<u8>)> {
        self.store.list(&ListQuery::forwards("", 1_000_000)).unwrap()
    }

    pub fn stored_messages(&self) -> Vec<String> {
        self.store
            .list(&ListQuery::forwards(self.room.id().as_str(), 100_000))
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }
}

pub fn error_code(frames: &[ServerFrame]) -> Option<ErrorCode> {
    frames.iter().find_map(|f| match f {
        ServerFrame::Error { error, .. } => Some(error.code),
        _ => None,
    })
}

impl World {
    /// A signed request by `who` for `method path` with `body`, at `at_ms`, with `nonce`.
    pub fn request(
        &self,
        who: &IdentityKey,
        method: &str,
        path: &str,
        body: &[u8],
        at_ms: u64,
        nonce: u8,
    ) -> VerifiedRequest {
        let target = RequestTarget::new(method, path, "", body);
        let auth = RequestAuth::sign(who, &target, at_ms, [nonce; 16]);
        VerifiedRequest::check(auth, target, &PortableVerifier).expect("a request signed here verifies")
    }

    /// Runs `call` signed by `who` now (nonce `nonce`), commits, and returns its answer.
    pub fn call(&mut self, who: &IdentityKey, call: OwnerCall, nonce: u8) -> Reply {
        let at = self.now / 1000;
        self.call_at(who, call, at, nonce)
    }

    /// Like [`World::call`] with the request signed at `at_ms`.
    pub fn call_at(&mut self, who: &IdentityKey, call: OwnerCall, at_ms: u64, nonce: u8) -> Reply {
        let request = self.request(who, call.method(), &call.path(self.room.id()), &call.body(), at_ms, nonce);
        self.room.owner_call(7, &request, call, UnixMicros(self.now), [nonce; 32], &self.store);
        self.answer(7)
    }

    /// Commits and returns the answer with id `reply`.
    pub fn answer(&mut self, reply: u64) -> Reply {
        let mut committed = self.room.finish_batch(&mut self.store, &mut self.sockets).unwrap();
        let mut answers = committed.answers(&Default::default());
        let at = answers.iter().position(|(id, _)| *id == reply).expect("the call was answered");
        answers.remove(at).1
    }

    /// The owner-signed state in force, with `change` applied and the version one higher.
    pub fn next_state(&self, change: impl FnOnce(&mut StateFields)) -> SignedState {
        let mut fields = self.room.meta().state.clone().expect("a v2 room").fields();
        fields.version += 1;
        change(&mut fields);
        SignedState::sign(&self.owner, self.room.id(), fields)
    }
}
