//! The room state machine: loading, connections, messages, history and the commit.
//!
//! One [`Room`] per room id. The adapter calls the event methods ([`Room::connect`],
//! [`Room::text_frame`] / [`Room::frame`], [`Room::binary_frame`], [`Room::disconnect`],
//! [`Room::handle_timeout`], [`Room::owner_call`]) with the current time in µs, as many
//! as it likes, then [`Room::finish_batch`] once: that commits the staged writes in one
//! transaction and only then delivers frames and answers. [`Room::next_deadline`] says
//! when to call back without an event; [`Room::take_changed_snapshots`] and
//! [`Room::resume_connection`] carry connections across a host's eviction.
//!
//! Admission and access changes live in `access.rs`, signed requests in `signed.rs`,
//! owner calls in `owner.rs`, backups in `transfer.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use protocol::PROTOCOL_VERSION;
use protocol::api::{HistoryPage, MAX_ROOM_CAPACITY};
use protocol::backup::MemberStatus;
use protocol::envelope::{B64Bytes, Envelope, StoredMessage};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::{Access, ServerFrame};
use protocol::identity::PublicKey;
use protocol::ids::{ClientMessageId, MessageKey, RoomId, Timestamp};
use protocol::key_wrap::WrappedKey;
use protocol::limits::Limits;
use protocol::room_state::SignedState;

use crate::connection::{ConnSnapshot, ConnState, SnapshotError};
use crate::effects::{Committed, ConnId, Effects, Outgoing, Refusal, Sockets};
use crate::inbound::{self, Inbound, PortableVerifier, Verifier};
use crate::schema::{self, BudgetRecord, MemberRecord, RoomMeta};
use crate::storage::{KvStore, ListQuery, StorageError, WriteBatch, list_all};
use crate::time::UnixMicros;
use crate::verified::{self, VerifiedRequest};

/// Settings the adapter runs rooms with.
#[derive(Clone)]
pub struct RoomConfig {
    pub limits: Limits,
    /// Checks join answers and signed requests (and messages, in [`Room::text_frame`]).
    pub verifier: Arc<dyn Verifier>,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self { limits: Limits::default(), verifier: Arc::new(PortableVerifier) }
    }
}

impl std::fmt::Debug for RoomConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomConfig").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// What the current batch staged and later events of the same batch must see. The hash
/// maps here are only looked up, never iterated; what is iterated is ordered.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) messages: Vec<StoredMessage>,
    pub(crate) cids: HashMap<String, MessageKey>,
    pub(crate) nonces: HashSet<String>,
    pub(crate) wrapped: BTreeMap<String, WrappedKey>,
    /// Messages of this batch were charged to the budget: store it with the commit.
    pub(crate) budget_charged: bool,
}

/// One live room. Members and connections are ordered maps, so the order of broadcasts,
/// timeouts and member lists is the same in every run and on every host.
#[derive(Debug)]
pub struct Room {
    pub(crate) id: RoomId,
    pub(crate) meta: RoomMeta,
    pub(crate) budget: BudgetRecord,
    pub(crate) last_ts: Option<Timestamp>,
    pub(crate) members: HashMap<PublicKey, MemberRecord>,
    pub(crate) conns: BTreeMap<ConnId, ConnState>,
    /// Connections whose state changed since the host last took their snapshots.
    pub(crate) changed: BTreeSet<ConnId>,
    pub(crate) config: RoomConfig,
    pub(crate) pending: Pending,
    pub(crate) fx: Effects,
}

pub(crate) fn frame_text(frame: &ServerFrame) -> Arc<str> {
    Arc::from(serde_json::to_string(frame).expect("server frames always serialise"))
}

pub(crate) fn storage_error(e: StorageError) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("storage failure: {e}"))
}

/// An owner-signed state for `room`: well formed, signed by `owner`, with a capacity in
/// range. (Whether it fits the room's history is the caller's check.)
pub(crate) fn check_signed_state(
    room: &RoomId,
    owner: &PublicKey,
    state: &SignedState,
    verifier: &dyn Verifier,
) -> Result<(), ErrorBody> {
    if let Err(e) = state.check_shape(room) {
        return Err(ErrorBody::new(ErrorCode::BadState, format!("the room state is refused: {e}")));
    }
    if !verifier.verify(owner, &state.transcript(), &state.sig) {
        return Err(ErrorBody::new(ErrorCode::BadState, "the room state is not signed by the room's owner"));
    }
    if state.capacity == 0 || state.capacity > MAX_ROOM_CAPACITY {
        return Err(ErrorBody::new(ErrorCode::BadState, format!("capacity must be between 1 and {MAX_ROOM_CAPACITY}"))
            .with_limit(u64::from(MAX_ROOM_CAPACITY)));
    }
    Ok(())
}

/// Who reads history over HTTP: anyone (open rooms), or a signed request (locked rooms).
#[derive(Debug, Clone, Copy)]
pub enum Reader<'a> {
    Anonymous,
    Signed(&'a VerifiedRequest),
}

impl Room {
    /// The writes that create a room funded with `budget` bytes, after checking that `id`
    /// is bound to `owner` and that `state` is the owner-signed first state (version 1 or
    /// later, epoch 0, unlocked, a capacity in range). The adapter checks that no room with
    /// this id exists and that the request was signed by `owner`, commits the batch, then
    /// [`Room::load`]s it.
    pub fn creation_batch(
        id: &RoomId,
        owner: &PublicKey,
        budget: u64,
        state: &SignedState,
        now: UnixMicros,
        config: &RoomConfig,
    ) -> Result<WriteBatch, ErrorBody> {
        if !id.is_owned_by(owner) {
            return Err(ErrorBody::new(ErrorCode::RoomIdMismatch, "the room id is not derived from this owner key"));
        }
        check_signed_state(id, owner, state, config.verifier.as_ref())?;
        if state.epoch != 0 || state.locked || state.invite_epoch != 0 {
            return Err(ErrorBody::new(ErrorCode::BadState, "a new room starts open, at key epoch 0"));
        }
        let meta = RoomMeta {
            v: 2,
            owner: *owner,
            motd: String::new(),
            locked: false,
            capacity: state.capacity,
            created: now.as_micros(),
            epoch: 0,
            state: Some(state.clone()),
            allowance: None,
            keep_deleted: false,
        };
        let budget = BudgetRecord { total: budget, remaining: budget, ..BudgetRecord::default() };
        let mut batch = WriteBatch::default();
        batch.put(schema::META_KEY, schema::encode(&meta)).map_err(storage_error)?;
        batch.put(schema::BUDGET_KEY, schema::encode(&budget)).map_err(storage_error)?;
        Ok(batch)
    }

    /// Loads the room from its KV_local, or `None` if it was never created.
    pub fn load(id: RoomId, store: &dyn KvStore, config: RoomConfig) -> Result<Option<Room>, StorageError> {
        let Some(meta) = store.get(schema::META_KEY)? else {
            return Ok(None);
        };
        let meta: RoomMeta = schema::decode("room meta", &meta)?;
        let budget = match store.get(schema::BUDGET_KEY)? {
            Some(b) => schema::decode("budget", &b)?,
            None => BudgetRecord::default(),
        };
        let last_ts = store
            .list(&ListQuery::backwards(id.as_str(), 1))?
            .first()
            .and_then(|(k, _)| MessageKey::parse(k).ok())
            .map(|k| k.timestamp());
        let mut members = HashMap::new();
        for (k, v) in list_all(store, schema::MEMBER_PREFIX)? {
            if let Ok(key) = PublicKey::parse(&k[schema::MEMBER_PREFIX.len()..]) {
                members.insert(key, schema::decode("member record", &v)?);
            }
        }
        Ok(Some(Room {
            id,
            meta,
            budget,
            last_ts,
            members,
            conns: BTreeMap::new(),
            changed: BTreeSet::new(),
            config,
            pending: Pending::default(),
            fx: Effects::default(),
        }))
    }

    pub fn id(&self) -> &RoomId {
        &self.id
    }

    pub fn meta(&self) -> &RoomMeta {
        &self.meta
    }

    pub fn budget(&self) -> &BudgetRecord {
        &self.budget
    }

    /// Open connections (joined or not).
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Distinct keys the room knows (any status).
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The newest message key, committed or staged.
    pub fn latest_key(&self) -> Option<MessageKey> {
        self.last_ts.map(|ts| MessageKey::new(&self.id, ts))
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.config.limits
    }

    /// Puts `conn` in `state` (and remembers that its snapshot changed).
    pub(crate) fn set_conn(&mut self, conn: ConnId, state: ConnState) {
        self.conns.insert(conn, state);
        self.changed.insert(conn);
    }

    pub(crate) fn send(&mut self, conn: ConnId, frame: &ServerFrame) {
        self.fx.outgoing.push(Outgoing::Send { conn, text: frame_text(frame) });
    }

    /// Sends an error frame; fatal codes also close the connection.
    pub(crate) fn refuse(&mut self, conn: ConnId, error: ErrorBody, cid: Option<ClientMessageId>) {
        let refusal = Refusal::new(error, cid);
        self.fx.outgoing.push(Outgoing::Send { conn, text: refusal.frame });
        if let Some((code, reason)) = refusal.close {
            self.fx.outgoing.push(Outgoing::Close { conn, code, reason: reason.to_owned() });
            self.set_conn(conn, ConnState::Closing);
        }
    }

    /// Runs `change` so that it either succeeds completely or leaves the room as it was:
    /// on an error, the room's records and everything staged since (writes, frames,
    /// tokens, answers, wrapped keys, nonces) are put back.
    pub(crate) fn transaction<T>(
        &mut self,
        change: impl FnOnce(&mut Room) -> Result<T, ErrorBody>,
    ) -> Result<T, ErrorBody> {
        let marks = (self.fx.writes.len(), self.fx.outgoing.len(), self.fx.tokens.len(), self.fx.replies.len());
        let records = (self.meta.clone(), self.budget.clone(), self.members.clone());
        let staged = (self.pending.wrapped.clone(), self.pending.nonces.clone(), self.pending.budget_charged);
        let result = change(self);
        if result.is_err() {
            self.fx.writes.truncate(marks.0);
            self.fx.outgoing.truncate(marks.1);
            self.fx.tokens.truncate(marks.2);
            self.fx.replies.truncate(marks.3);
            (self.meta, self.budget, self.members) = records;
            (self.pending.wrapped, self.pending.nonces, self.pending.budget_charged) = staged;
        }
        result
    }

    // ----- events -----

    /// A socket opened. `challenge` must be fresh random bytes.
    pub fn connect(&mut self, conn: ConnId, challenge: [u8; 32], now: UnixMicros) {
        let deadline = now.plus(std::time::Duration::from_secs(u64::from(self.limits().join_timeout_secs)));
        self.set_conn(conn, ConnState::AwaitingHello { challenge, deadline });
        let frame =
            ServerFrame::Challenge { v: PROTOCOL_VERSION, room: self.id.clone(), nonce: B64Bytes(challenge.to_vec()) };
        self.send(conn, &frame);
    }

    /// A socket closed (by the peer, the network or the adapter).
    pub fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
        self.changed.remove(&conn);
    }

    /// The challenge connection `conn` was sent, while it has not answered: what a host
    /// that verifies join answers itself checks the signature against.
    pub fn challenge(&self, conn: ConnId) -> Option<[u8; 32]> {
        match self.conns.get(&conn) {
            Some(ConnState::AwaitingHello { challenge, .. }) => Some(*challenge),
            _ => None,
        }
    }

    /// Whether `conn` may answer a challenge now; refuses a second `hello`.
    pub(crate) fn awaits_hello(&mut self, conn: ConnId) -> bool {
        if self.challenge(conn).is_some() {
            return true;
        }
        self.hello_out_of_turn(conn);
        false
    }

    fn hello_out_of_turn(&mut self, conn: ConnId) {
        if matches!(self.conns.get(&conn), Some(ConnState::Joined { .. } | ConnState::Waiting { .. })) {
            let e = ErrorBody::new(ErrorCode::AlreadyJoined, "this connection has already joined");
            self.refuse(conn, e, None);
        }
    }

    // ----- hibernation -----

    /// The state of `conn` for the host to keep with its socket, if the room knows it.
    pub fn connection_snapshot(&self, conn: ConnId) -> Option<ConnSnapshot> {
        self.conns.get(&conn).map(ConnSnapshot::of)
    }

    /// The connections whose state changed since the last call, with their new
    /// snapshots, in connection order. A host that may be evicted stores each with its
    /// socket after every [`Room::finish_batch`] (a joined connection's rate bucket
    /// changes with every message it sends).
    pub fn take_changed_snapshots(&mut self) -> Vec<(ConnId, ConnSnapshot)> {
        let changed = std::mem::take(&mut self.changed);
        changed.into_iter().filter_map(|c| self.connection_snapshot(c).map(|s| (c, s))).collect()
    }

    /// Rebuilds a connection of a room that was just [`Room::load`]ed, from the snapshot
    /// the host kept with its socket; nothing is sent. Resume every surviving socket
    /// before feeding the room any event. A connection whose key the room no longer
    /// admits, or a damaged snapshot, is refused: the host closes that socket (the client
    /// reconnects and joins again).
    pub fn resume_connection(&mut self, conn: ConnId, snapshot: &ConnSnapshot) -> Result<(), SnapshotError> {
        if self.conns.contains_key(&conn) {
            return Err(SnapshotError::AlreadyConnected(conn));
        }
        let state = snapshot.state()?;
        if let Some(key) = state.key() {
            let admitted =
                *key == self.meta.owner || self.members.get(key).is_some_and(|m| m.status != MemberStatus::Denied);
            if !admitted {
                return Err(SnapshotError::NotAdmitted);
            }
        }
        self.conns.insert(conn, state);
        Ok(())
    }

    // ----- time -----

    /// When the host must call [`Room::handle_timeout`] next,
    /// or `None` if nothing is due without an event. Ask after every batch: mock-server
    /// sleeps until then, a Durable Object sets its one alarm to it.
    pub fn next_deadline(&self) -> Option<UnixMicros> {
        self.conns.values().filter_map(ConnState::deadline).min()
    }

    /// A binary frame arrived: not part of the protocol.
    pub fn binary_frame(&mut self, conn: ConnId) {
        if matches!(self.conns.get(&conn), Some(ConnState::Closing) | None) {
            return;
        }
        let e = ErrorBody::new(ErrorCode::MalformedFrame, "binary frames are not part of the protocol");
        self.refuse(conn, e, None);
    }

    /// A text frame arrived: runs [`inbound::prepare`] here, then [`Room::frame`].
    pub fn text_frame(&mut self, conn: ConnId, text: &str, now: UnixMicros, store: &dyn KvStore) {
        let prepared =
            inbound::prepare(text, &self.config.limits, self.config.verifier.as_ref(), self.hello_sent(conn));
        self.frame(conn, prepared, now, store);
    }

    /// A text frame's state-independent checks but the signature, for a host that
    /// verifies signatures asynchronously ([`inbound::PendingSignature`]); the result goes
    /// to [`Room::frame`].
    pub fn prepare_frame(&self, conn: ConnId, text: &str) -> inbound::Prepared {
        inbound::prepare_deferred(text, &self.config.limits, self.hello_sent(conn))
    }

    fn hello_sent(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.key().is_some())
    }

    /// A frame that went through [`inbound::prepare`]. `store` serves the reads the
    /// frame needs (backlog, dedup, wrapped keys).
    pub fn frame(&mut self, conn: ConnId, frame: Inbound, now: UnixMicros, store: &dyn KvStore) {
        if matches!(self.conns.get(&conn), Some(ConnState::Closing) | None) {
            return;
        }
        match frame {
            Inbound::Refused(e) => self.refuse(conn, e, None),
            Inbound::RefusedMessage(e, cid) => self.refuse(conn, e, Some(cid)),
            Inbound::Hello { .. } => {
                // Not verified by the host: the room verifies it against the challenge
                // (after checking this connection awaits one, so nothing else costs a check).
                let Some(challenge) = self.challenge(conn) else { return self.hello_out_of_turn(conn) };
                let verified = verified::verify_hello(&self.id, &challenge, frame, self.config.verifier.as_ref());
                self.frame(conn, verified, now, store)
            }
            Inbound::VerifiedHello(hello) => self.hello(conn, *hello, now, store),
            Inbound::Send(env) => self.submit(conn, *env, now, store),
            Inbound::Ephemeral(env) => self.relay(conn, *env, now),
            Inbound::Erase(key) => self.erase(conn, key, now, store),
        }
    }

    /// The deadline passed (call at or after [`Room::next_deadline`]; calling early or
    /// twice is harmless): closes connections that did not answer the challenge in time.
    pub fn handle_timeout(&mut self, now: UnixMicros) {
        let late: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, s)| matches!(s, ConnState::AwaitingHello { deadline, .. } if *deadline <= now))
            .map(|(c, _)| *c)
            .collect();
        for conn in late {
            let e = ErrorBody::new(ErrorCode::JoinTimeout, "the join challenge was not answered in time");
            self.refuse(conn, e, None);
        }
    }

    // ----- messages -----

    /// The newest `backlog_messages`, oldest first, including messages staged in this
    /// batch (they are committed before the frame leaves).
    pub(crate) fn backlog(&self, store: &dyn KvStore) -> Result<(Vec<StoredMessage>, bool), StorageError> {
        let want = self.limits().backlog_messages as usize;
        let staged = self.pending.messages.len().min(want);
        let from_store = want - staged;
        let rows = store.list(&ListQuery::backwards(self.id.as_str(), from_store + 1))?;
        let more = rows.len() > from_store || self.pending.messages.len() > want;
        let mut messages: Vec<StoredMessage> =
            rows.into_iter().take(from_store).map(|(_, v)| schema::decode("message", &v)).collect::<Result<_, _>>()?;
        messages.reverse();
        messages.extend(self.pending.messages[self.pending.messages.len() - staged..].iter().cloned());
        Ok((messages, more))
    }

    /// The key of a joined connection that may write now (taking one token of its rate
    /// bucket), or the refusal already sent.
    pub(crate) fn writer(&mut self, conn: ConnId, cid: Option<&ClientMessageId>, now: UnixMicros) -> Option<PublicKey> {
        let cid = cid.cloned();
        match self.conns.get_mut(&conn) {
            Some(ConnState::Joined { key, bucket }) => {
                let allowed = bucket.try_take(now);
                let key = *key;
                self.changed.insert(conn);
                if !allowed {
                    let limits = &self.config.limits;
                    let e = ErrorBody::new(
                        ErrorCode::RateLimited,
                        format!("at most {} messages per second (burst {})", limits.rate_per_second, limits.rate_burst),
                    )
                    .with_limit(u64::from(limits.rate_per_second));
                    self.refuse(conn, e, cid);
                    return None;
                }
                Some(key)
            }
            Some(ConnState::Waiting { .. }) => {
                let e = ErrorBody::new(ErrorCode::NotAccepted, "the owner has not accepted this key yet");
                self.refuse(conn, e, cid);
                None
            }
            Some(ConnState::AwaitingHello { .. }) => {
                let e = ErrorBody::new(ErrorCode::NotJoined, "answer the challenge before sending");
                self.refuse(conn, e, cid);
                None
            }
            _ => None,
        }
    }

    /// An ephemeral envelope: checked like a message (rate, room, sender, epoch), then
    /// passed to the other readers (only `env.to`'s connections when it names one) and
    /// forgotten. Nothing is written, acknowledged or kept for later joiners.
    fn relay(&mut self, conn: ConnId, env: Envelope, now: UnixMicros) {
        let Some(key) = self.writer(conn, Some(&env.cid), now) else { return };
        if let Err(e) = self.check_envelope(&env, &key) {
            return self.refuse(conn, e, Some(env.cid));
        }
        if env.epoch != self.meta.epoch {
            let e = ErrorBody::new(
                ErrorCode::StaleEpoch,
                format!("the room is at key epoch {}; this frame uses epoch {}", self.meta.epoch, env.epoch),
            )
            .with_limit(u64::from(self.meta.epoch));
            return self.refuse(conn, e, Some(env.cid));
        }
        let to = env.to;
        let text = frame_text(&ServerFrame::Ephemeral { env });
        for (other, state) in &self.conns {
            let ConnState::Joined { key: reader, .. } = state else { continue };
            if *other != conn && to.is_none_or(|to| to == *reader) {
                self.fx.outgoing.push(Outgoing::Send { conn: *other, text: text.clone() });
            }
        }
    }

    fn submit(&mut self, conn: ConnId, env: Envelope, now: UnixMicros, store: &dyn KvStore) {
        let cid = Some(env.cid.clone());
        let Some(key) = self.writer(conn, Some(&env.cid), now) else { return };
        if let Err(e) = self.check_envelope(&env, &key) {
            return self.refuse(conn, e, cid);
        }
        let dedup_key = schema::cid_key(&env.sender, &env.cid);
        let earlier = match self.pending.cids.get(&dedup_key) {
            Some(k) => Some(k.clone()),
            None => match store.get(&dedup_key) {
                Ok(found) => found.and_then(|v| String::from_utf8(v).ok()).and_then(|k| MessageKey::parse(&k).ok()),
                Err(e) => return self.refuse(conn, storage_error(e), cid),
            },
        };
        if let Some(original) = earlier {
            // A resend: answer with the original key; store and broadcast nothing.
            return self.send(conn, &ServerFrame::Ack { cid: env.cid, key: original });
        }
        if env.epoch != self.meta.epoch {
            let e = ErrorBody::new(
                ErrorCode::StaleEpoch,
                format!("the room is at key epoch {}; this message uses epoch {}", self.meta.epoch, env.epoch),
            )
            .with_limit(u64::from(self.meta.epoch));
            return self.refuse(conn, e, cid);
        }
        let ts = Timestamp::next_after(self.last_ts, now.as_micros());
        let msg_key = MessageKey::new(&self.id, ts);
        let stored = StoredMessage::new(msg_key.clone(), env);
        let bytes = schema::encode(&stored);
        // Stored messages are paid for out of the room's budget, like files.
        let cost = bytes.len() as u64;
        if cost > self.budget.remaining {
            let e = ErrorBody::new(
                ErrorCode::BudgetExhausted,
                "the room's storage budget is used up: no more messages can be stored",
            )
            .with_limit(self.budget.remaining);
            return self.refuse(conn, e, cid);
        }
        let mut writes = WriteBatch::default();
        let staged = writes
            .put(msg_key.as_str(), bytes.clone())
            .and_then(|()| writes.put(dedup_key.clone(), msg_key.as_str().as_bytes().to_vec()));
        if let Err(e) = staged {
            return self.refuse(conn, storage_error(e), cid);
        }
        self.fx.writes.extend(writes);
        self.budget.remaining -= cost;
        self.budget.message_bytes += cost;
        self.pending.budget_charged = true;
        self.last_ts = Some(ts);
        self.pending.cids.insert(dedup_key, msg_key.clone());
        self.send(conn, &ServerFrame::Ack { cid: stored.env.cid.clone(), key: msg_key.clone() });
        // The `msg` frame wraps the stored JSON as is (one serialisation per message).
        let text: Arc<str> = Arc::from(format!(r#"{{"t":"msg","m":{}}}"#, String::from_utf8_lossy(&bytes)));
        self.fx.replicate.push((msg_key.as_str().to_owned(), bytes));
        for (other, state) in &self.conns {
            if *other != conn && matches!(state, ConnState::Joined { .. }) {
                self.fx.outgoing.push(Outgoing::Send { conn: *other, text: text.clone() });
            }
        }
        self.pending.messages.push(stored);
    }

    /// What a (signature-checked) message must satisfy in this room and connection.
    fn check_envelope(&self, env: &Envelope, joined_as: &PublicKey) -> Result<(), ErrorBody> {
        if env.room != self.id {
            return Err(ErrorBody::new(ErrorCode::WrongRoom, "the envelope names another room"));
        }
        if env.sender != *joined_as {
            return Err(ErrorBody::new(
                ErrorCode::SenderMismatch,
                "the envelope's sender is not the key this connection proved",
            ));
        }
        Ok(())
    }

    // ----- HTTP reads -----

    /// One page of committed history, oldest first, ending just before `before` (or at
    /// the newest message). In a locked room only the owner and accepted members may read,
    /// with a signed request whose nonce is then used up (committed with the batch; the
    /// page itself may leave before the commit, since a read changes nothing else).
    pub fn history(
        &mut self,
        store: &dyn KvStore,
        before: Option<&str>,
        limit: Option<usize>,
        reader: Reader<'_>,
        now: UnixMicros,
    ) -> Result<HistoryPage, ErrorBody> {
        if self.meta.locked {
            let Reader::Signed(request) = reader else {
                return Err(ErrorBody::new(ErrorCode::Unauthorized, "this room is locked: sign the request"));
            };
            let auth = request.auth();
            self.check_fresh(auth, now)?;
            match self.access_of(&auth.key) {
                Ok(Access::Owner | Access::Accepted) => {}
                Ok(_) => return Err(ErrorBody::new(ErrorCode::NotAccepted, "the owner has not accepted this key")),
                Err(e) => return Err(e),
            }
            // A signed read is answered once: its nonce is kept like an owner call's.
            self.check_nonce(auth, store)?;
            self.consume_nonce(auth, now, store)?;
        }
        let max = self.limits().max_history_page as usize;
        let limit = limit.unwrap_or(protocol::limits::DEFAULT_HISTORY_PAGE.min(max));
        if limit == 0 || limit > max {
            return Err(ErrorBody::new(ErrorCode::BadLimit, format!("limit must be between 1 and {max}"))
                .with_limit(max as u64));
        }
        let mut query = ListQuery::backwards(self.id.as_str(), limit + 1);
        if let Some(cursor) = before {
            let key =
                MessageKey::parse(cursor).map_err(|e| ErrorBody::new(ErrorCode::BadCursor, format!("before: {e}")))?;
            if key.room() != self.id {
                return Err(ErrorBody::new(ErrorCode::BadCursor, "before: the cursor belongs to another room"));
            }
            query.cursor = Some(key.as_str().to_owned());
        }
        let rows = store.list(&query).map_err(storage_error)?;
        let more = rows.len() > limit;
        let mut messages = rows
            .into_iter()
            .take(limit)
            .map(|(_, v)| schema::decode::<StoredMessage>("message", &v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage_error)?;
        messages.reverse();
        Ok(HistoryPage { messages, more })
    }

    /// Up to `page` committed messages after the key `since` (oldest first; from the start
    /// without one), as `(key, stored JSON)`. After a load the host copies, page by page,
    /// what KV_global lacks after the newest key it holds: an asynchronous copy lost in a
    /// crash is repaired (copying a message twice is harmless; it is keyed).
    pub fn messages_after(
        &self,
        store: &dyn KvStore,
        since: Option<&str>,
        page: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let mut query = ListQuery::forwards(self.id.as_str(), page);
        query.cursor = since.map(str::to_owned);
        store.list(&query)
    }

    /// The status the room records for `key`, if it knows the key.
    pub fn member_status(&self, key: &PublicKey) -> Option<MemberStatus> {
        self.members.get(key).map(|m| m.status)
    }

    // ----- commit -----

    /// Commits everything staged since the last call, then delivers frames.
    ///
    /// On a storage failure nothing is delivered, every connection is closed with
    /// `internal`, pending answers are refused, and the error is returned: the adapter
    /// must drop this `Room` and [`Room::load`] it again (its memory ran ahead of storage).
    pub fn finish_batch(
        &mut self,
        store: &mut dyn KvStore,
        sockets: &mut dyn Sockets,
    ) -> Result<Committed, StorageError> {
        let mut fx = std::mem::take(&mut self.fx);
        if self.pending.budget_charged {
            fx.writes
                .put(schema::BUDGET_KEY, schema::encode(&self.budget))
                .expect("a budget record is far below the value limit");
        }
        self.pending = Pending::default();
        let writes = fx.writes.len();
        if !fx.writes.is_empty()
            && let Err(e) = store.commit(fx.writes)
        {
            for conn in self.conns.keys() {
                sockets.drop_now(*conn, ErrorCode::Internal.close_code().unwrap_or(1011), "internal");
            }
            self.conns.clear();
            self.changed.clear();
            return Err(e);
        }
        let mut dropped = Vec::new();
        for out in fx.outgoing {
            match out {
                Outgoing::Send { conn, text } => {
                    if dropped.contains(&conn) {
                        continue;
                    }
                    if sockets.send(conn, text).is_err() {
                        let code = ErrorCode::SlowConsumer.close_code().unwrap_or(4429);
                        sockets.drop_now(conn, code, ErrorCode::SlowConsumer.as_str());
                        dropped.push(conn);
                    }
                }
                Outgoing::Close { conn, code, reason } => {
                    if !dropped.contains(&conn) {
                        sockets.close(conn, code, &reason);
                    }
                }
            }
        }
        for conn in &dropped {
            self.conns.remove(conn);
            self.changed.remove(conn);
        }
        Ok(Committed {
            replicate: fx.replicate,
            replies: fx.replies,
            tokens: fx.tokens,
            dropped,
            writes,
            erased: fx.erased,
        })
    }
}
