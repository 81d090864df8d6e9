//! One room connection's protocol, as a state machine the driver pumps.
//!
//! ```text
//! closed ──opened──▶ awaiting challenge ──challenge/hello──▶ joining
//!    ▲                                                     │ welcome (pending) ──▶ waiting
//!    │                                                     ▼ backlog
//!    └──────────────── closed(code) ◀─────────────── reading (resends the outbox)
//! ```
//!
//! What it decides, so no driver has to: the join answer (signed over the challenge, with
//! the invite proof); that the outbox is resent after every backlog, in order, with the
//! original client ids (the room deduplicates, so nothing is doubled); that an ack for a
//! message no longer waiting changes nothing; which per-message refusals wait and resend
//! (the server is busy or restarting, asked to slow down, or the owner has not accepted
//! this key yet) and which are final; which closes end the connection for good
//! ([`protocol::error::is_final_close`]); and how long to wait before reconnecting.

use std::collections::VecDeque;
use std::time::Duration;

use protocol::PROTOCOL_VERSION;
use protocol::envelope::{Envelope, StoredMessage};
use protocol::error::{ErrorBody, ErrorCode, is_final_close};
use protocol::frames::{Access, ClientFrame, RoomState, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::{ClientMessageId, MessageKey, RoomId};
use protocol::invite::InviteProof;
use protocol::key_wrap::WrappedKey;
use protocol::transcript;

use crate::backoff;
use crate::outbox::Outbox;

/// How long messages refused for a passing reason wait before they are sent again.
pub const RESEND_AFTER: Duration = Duration::from_millis(1500);

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Closed,
    /// The socket is open; the room's challenge has not arrived.
    AwaitingChallenge,
    /// The join answer went out.
    Joining,
    /// Joined a locked room; waits for the owner to accept this key (gets nothing).
    Waiting,
    /// Reads and writes.
    Reading,
}

/// What the driver reports to the application.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The room and this key's access (`welcome` or `room`), with the room keys wrapped to
    /// this identity: to be checked by the client's guard before anything is trusted.
    Access { state: Box<RoomState>, access: Access, keys: Vec<WrappedKey> },
    /// Committed messages: the backlog after a join (`more`: older ones exist), or one
    /// live message.
    Messages { messages: Vec<StoredMessage>, backlog: bool, more: bool },
    /// A waiting message is stored under `key`; it left the outbox.
    Acked { cid: ClientMessageId, key: MessageKey },
    /// A waiting message was refused for good; it left the outbox.
    Refused { cid: ClientMessageId, error: ErrorBody },
    /// (Owner only) a key asks to join the locked room.
    JoinRequest,
    /// Another member's ephemeral envelope (presence), as the room relayed it: to be
    /// verified and opened like a message, never stored.
    Ephemeral { env: Box<Envelope> },
    /// The content of the stored message `key` was dropped (on its sender's or the
    /// owner's `erase`): it is to be shown as deleted, or as removed by the server if no
    /// delete from its sender or the owner is known.
    Erased { key: MessageKey },
    /// Joined: the backlog arrived and the outbox was sent.
    Connected,
    /// Joined a locked room, waiting for the owner.
    Waiting,
}

/// What to do after the socket closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closed {
    /// Connect again after `after`; `reason` says what happened.
    Reconnect { after: Duration, reason: String },
    /// Do not reconnect: retrying cannot help. `code` is why, when the room said so (an
    /// error frame, or the close's code or reason); `reason` is the room's own words,
    /// which a client shows only as a detail (the server is not trusted to word things).
    Final { code: Option<ErrorCode>, reason: String },
}

/// The client side of one room's connection (and of its reconnects).
pub struct RoomClient<T> {
    room: RoomId,
    identity: IdentityKey,
    invite: Option<InviteProof>,
    outbox: Outbox<T>,
    phase: Phase,
    /// Connection attempts that failed since the last join.
    failures: u32,
    /// The last refusal that concerned the connection (not a message), to explain a close.
    last_error: Option<ErrorBody>,
    /// When to resend messages refused for a passing reason (ms).
    resend_at: Option<u64>,
    transmit: VecDeque<String>,
    events: VecDeque<ClientEvent>,
}

fn frame_text(frame: &ClientFrame) -> String {
    serde_json::to_string(frame).expect("client frames serialise")
}

/// Whether a refusal of one message keeps it waiting (and resent later).
fn keeps_waiting(code: ErrorCode) -> bool {
    // Passing refusals, a storage failure on the server's side, and a key the owner has
    // not accepted yet (its messages go out once it is).
    code.is_transient() || matches!(code, ErrorCode::Internal | ErrorCode::NotAccepted)
}

impl<T> RoomClient<T> {
    /// A client for `room` as `identity`; `invite` proves this browser holds the invite
    /// link (needed the first time a key joins); `queued` are messages from an earlier
    /// visit that still wait for their acknowledgement.
    pub fn new(room: RoomId, identity: IdentityKey, invite: Option<InviteProof>, queued: Vec<(Envelope, T)>) -> Self {
        let mut outbox = Outbox::default();
        for (env, extra) in queued {
            outbox.push(env, extra);
        }
        RoomClient {
            room,
            identity,
            invite,
            outbox,
            phase: Phase::Closed,
            failures: 0,
            last_error: None,
            resend_at: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn outbox(&self) -> &Outbox<T> {
        &self.outbox
    }

    /// The socket opened.
    pub fn opened(&mut self) {
        self.phase = Phase::AwaitingChallenge;
        self.transmit.clear();
    }

    /// A text frame from the room, at `now_ms`. `Some` means: close the socket and do
    /// what it says (the server answered for another room).
    pub fn handle_frame(&mut self, text: &str, now_ms: u64) -> Option<Closed> {
        // A frame this client does not understand (a newer server) is skipped.
        let Ok(frame) = serde_json::from_str::<ServerFrame>(text) else { return None };
        match frame {
            ServerFrame::Challenge { room, nonce, .. } => {
                if room != self.room {
                    self.phase = Phase::Closed;
                    return Some(Closed::Final {
                        code: Some(ErrorCode::WrongRoom),
                        reason: "the server answered for another room".into(),
                    });
                }
                let sig = self.identity.sign(&transcript::join(&self.room, &nonce.0));
                let key = self.identity.public_key();
                let hello = ClientFrame::Hello { v: PROTOCOL_VERSION, key, sig, invite: self.invite.clone() };
                self.transmit.push_back(frame_text(&hello));
                self.phase = Phase::Joining;
            }
            ServerFrame::Welcome { state, access, keys, .. } | ServerFrame::Room { state, access, keys } => {
                self.failures = 0;
                if access == Access::Pending {
                    self.phase = Phase::Waiting;
                    self.events.push_back(ClientEvent::Waiting);
                }
                self.events.push_back(ClientEvent::Access { state: Box::new(state), access, keys });
            }
            ServerFrame::Backlog { messages, more } => {
                self.events.push_back(ClientEvent::Messages { messages, backlog: true, more });
                self.phase = Phase::Reading;
                self.resend_all();
                self.events.push_back(ClientEvent::Connected);
            }
            ServerFrame::Msg { m } => {
                self.events.push_back(ClientEvent::Messages { messages: vec![m], backlog: false, more: false });
            }
            ServerFrame::Erased { key } => self.events.push_back(ClientEvent::Erased { key }),
            ServerFrame::JoinRequest { .. } => self.events.push_back(ClientEvent::JoinRequest),
            ServerFrame::Ephemeral { env } => {
                if self.phase == Phase::Reading {
                    self.events.push_back(ClientEvent::Ephemeral { env: Box::new(env) });
                }
            }
            ServerFrame::Ack { cid, key } => {
                // A second ack (a resend the room had already stored) changes nothing.
                if self.outbox.remove(&cid).is_some() {
                    self.events.push_back(ClientEvent::Acked { cid, key });
                }
            }
            ServerFrame::Error { error, cid: None } => self.last_error = Some(error),
            ServerFrame::Error { error, cid: Some(cid) } => {
                if !self.outbox.contains(&cid) {
                    return None;
                }
                if keeps_waiting(error.code) {
                    let at = now_ms + RESEND_AFTER.as_millis() as u64;
                    self.resend_at = Some(self.resend_at.map_or(at, |t| t.min(at)));
                } else {
                    self.outbox.remove(&cid);
                    self.events.push_back(ClientEvent::Refused { cid, error });
                }
            }
        }
        None
    }

    /// Queues a message: sent now if the connection reads, else after the next join.
    pub fn send(&mut self, env: Envelope, extra: T) {
        let frame = ClientFrame::Send { env: env.clone() };
        if self.outbox.push(env, extra) && self.phase == Phase::Reading {
            self.transmit.push_back(frame_text(&frame));
        }
    }

    /// Sends an ephemeral envelope now if the connection reads; otherwise it is dropped
    /// (presence is only worth sending live). Returns whether it went out.
    pub fn send_ephemeral(&mut self, env: Envelope) -> bool {
        if self.phase != Phase::Reading {
            return false;
        }
        self.transmit.push_back(frame_text(&ClientFrame::Ephemeral { env }));
        true
    }

    /// Asks the room to drop the content of the stored message `key` (after a delete for
    /// everyone), now if the connection reads; otherwise nothing is sent and the caller
    /// asks again after the next join. Returns whether it went out.
    pub fn erase(&mut self, key: MessageKey) -> bool {
        if self.phase != Phase::Reading {
            return false;
        }
        self.transmit.push_back(frame_text(&ClientFrame::Erase { key }));
        true
    }

    /// Forgets a waiting message (the user discarded it): it is not resent.
    pub fn discard(&mut self, cid: &ClientMessageId) -> Option<(Envelope, T)> {
        self.outbox.remove(cid)
    }

    /// The socket closed with `code` (none if it failed without a close frame). `jitter`
    /// in `[0, 1]` spreads reconnects (from the driver's random source).
    pub fn closed(&mut self, code: Option<u16>, reason: &str, jitter: f64) -> Closed {
        self.phase = Phase::Closed;
        self.resend_at = None;
        self.transmit.clear();
        let last = self.last_error.take();
        // A refusal that ends the connection for good arrives as an error frame before the
        // close: it decides even when the close itself was lost (a socket that failed
        // without a close frame, under load) or came with another code.
        let refused_for_good = last.as_ref().is_some_and(|e| e.code.close_code().is_some_and(is_final_close));
        let why = last.as_ref().map(|e| e.code).or_else(|| close_reason_code(code, reason));
        let reason = match (last, code) {
            (Some(error), _) => error.message,
            (None, Some(code)) if reason.is_empty() => format!("closed ({code})"),
            (None, _) if reason.is_empty() => "the connection ended".to_owned(),
            (None, _) => reason.to_owned(),
        };
        if code.is_some_and(is_final_close) || refused_for_good {
            return Closed::Final { code: why, reason };
        }
        self.failures = self.failures.saturating_add(1);
        Closed::Reconnect { after: backoff::delay(self.failures, jitter), reason }
    }

    /// The next frame to write, if any.
    pub fn poll_transmit(&mut self) -> Option<String> {
        self.transmit.pop_front()
    }

    /// The next event to report, if any.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// When to call [`RoomClient::handle_timeout`] (ms), if anything waits for time.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.resend_at
    }

    /// Time passed: resends the waiting messages once their pause is over.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.resend_at.is_some_and(|at| at <= now_ms) {
            self.resend_at = None;
            if self.phase == Phase::Reading {
                self.resend_all();
            }
        }
    }

    fn resend_all(&mut self) {
        let frames: Vec<String> =
            self.outbox.envelopes().map(|env| frame_text(&ClientFrame::Send { env: env.clone() })).collect();
        self.transmit.extend(frames);
    }
}

/// The refusal a close stands for: its reason when that is an error code (mock-server and
/// the edge send one), else what the close code alone can mean for a join.
fn close_reason_code(code: Option<u16>, reason: &str) -> Option<ErrorCode> {
    if let Ok(parsed) = serde_json::from_value::<ErrorCode>(serde_json::Value::String(reason.to_owned())) {
        return Some(parsed);
    }
    match code? {
        4404 => Some(ErrorCode::UnknownRoom),
        4409 => Some(ErrorCode::RoomFull),
        4403 => Some(ErrorCode::Forbidden),
        4401 => Some(ErrorCode::Unauthorized),
        _ => None,
    }
}
