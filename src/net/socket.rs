//! The room WebSocket: join with proof of possession, send, resend, reconnect.
//!
//! One driver task per open room. It answers the server's challenge with the identity
//! key, reports the room's state and this key's access, the backlog and live messages, and
//! forwards our envelopes. Every envelope stays in `unacked` until the room acknowledges
//! it; after a reconnect all of them are resent with their original client ids (the room
//! deduplicates), so nothing is lost or doubled. Lost connections are retried with capped
//! exponential backoff and full jitter, at once when the browser says the network is back;
//! refusals that retrying cannot fix (unknown or full room, refused proof, turned away)
//! stop the driver.

use std::rc::Rc;
use std::time::Duration;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::future::FusedFuture;
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, WebSocketError};
use gloo_timers::future::sleep;
use protocol::PROTOCOL_VERSION;
use protocol::envelope::{Envelope, StoredMessage};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::{Access, ClientFrame, RoomState, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::{ClientMessageId, MessageKey, RoomId};
use protocol::invite::InviteProof;
use protocol::key_wrap::WrappedKey;

use crate::crypto;

/// First retry delay; doubles per failed attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Delay before resending messages the room refused as rate-limited.
const RATE_LIMIT_RETRY: Duration = Duration::from_millis(1500);

/// What the connection is doing, for the status indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    Connecting,
    Connected,
    /// Joined a locked room; waits for the owner to accept this key.
    Waiting,
    /// Lost; the next attempt is in `retry_in_ms`.
    Reconnecting {
        retry_in_ms: u64,
    },
    /// Refused for good (e.g. unknown or full room); the reason is shown.
    Failed(String),
    Closed,
}

/// What the driver reports to the session.
#[derive(Debug, Clone)]
pub enum SocketEvent {
    Status(ConnectionStatus),
    /// The room and this connection's access (from `welcome` or `room` frames), with the
    /// room keys wrapped to this identity.
    Access {
        state: Box<RoomState>,
        access: Access,
        keys: Vec<WrappedKey>,
    },
    /// Committed messages: the backlog after a join (`more`: older ones exist), or one
    /// live message.
    Messages {
        messages: Vec<StoredMessage>,
        backlog: bool,
        more: bool,
    },
    Acked {
        cid: ClientMessageId,
        key: MessageKey,
    },
    Refused {
        cid: ClientMessageId,
        error: ErrorBody,
    },
    /// (Owner only) a key asks to join the locked room.
    JoinRequest,
}

enum Command {
    Send(Box<Envelope>),
    /// Forget an unacknowledged envelope (the user discarded a failed message).
    Discard(ClientMessageId),
    /// The network may be back (`online`, tab visible): retry now instead of waiting.
    Wake,
    Stop,
}

/// Handle to a running driver.
pub struct SocketHandle {
    commands: UnboundedSender<Command>,
}

impl SocketHandle {
    /// Queues an envelope; it is sent now or after the next reconnect.
    pub fn send(&self, env: Envelope) {
        let _ = self.commands.unbounded_send(Command::Send(Box::new(env)));
    }

    /// Drops an envelope that is still waiting (no resend).
    pub fn discard(&self, cid: ClientMessageId) {
        let _ = self.commands.unbounded_send(Command::Discard(cid));
    }

    /// Retries at once if the connection is waiting to reconnect.
    pub fn wake(&self) {
        let _ = self.commands.unbounded_send(Command::Wake);
    }

    /// Closes the socket and ends the driver.
    pub fn stop(&self) {
        let _ = self.commands.unbounded_send(Command::Stop);
    }
}

/// Starts the driver for `room`; `queued` are envelopes from an earlier visit that still
/// wait for their acknowledgement (they are sent first).
/// `invite` proves this browser holds the invite link (needed the first time a key joins).
pub fn spawn(
    room: RoomId,
    identity: IdentityKey,
    invite: Option<InviteProof>,
    queued: Vec<Envelope>,
    on_event: Rc<dyn Fn(SocketEvent)>,
) -> SocketHandle {
    let (commands, rx) = unbounded();
    let driver = Driver { room, identity, invite, on_event, unacked: queued, last_error: None };
    leptos::task::spawn_local(drive(driver, rx));
    SocketHandle { commands }
}

/// How one connection ended.
enum Ended {
    Stopped,
    Lost(String),
    Fatal(String),
}

struct Driver {
    room: RoomId,
    identity: IdentityKey,
    invite: Option<InviteProof>,
    on_event: Rc<dyn Fn(SocketEvent)>,
    unacked: Vec<Envelope>,
    /// The last refusal that concerned the connection, to explain a final close.
    last_error: Option<String>,
}

async fn drive(mut driver: Driver, mut rx: UnboundedReceiver<Command>) {
    let mut failures: u32 = 0;
    loop {
        driver.report(SocketEvent::Status(ConnectionStatus::Connecting));
        match driver.connect_and_serve(&mut rx, &mut failures).await {
            Ended::Stopped => {
                driver.report(SocketEvent::Status(ConnectionStatus::Closed));
                return;
            }
            Ended::Fatal(reason) => {
                driver.report(SocketEvent::Status(ConnectionStatus::Failed(reason)));
                return;
            }
            Ended::Lost(reason) => {
                leptos::logging::warn!("room connection lost: {reason}");
                failures = failures.saturating_add(1);
                let delay = backoff(failures);
                let retry_in_ms = delay.as_millis() as u64;
                driver.report(SocketEvent::Status(ConnectionStatus::Reconnecting { retry_in_ms }));
                if !driver.wait(&mut rx, delay).await {
                    driver.report(SocketEvent::Status(ConnectionStatus::Closed));
                    return;
                }
            }
        }
    }
}

/// Full-jitter exponential backoff: a random delay in [d/2, d] with d = base·2^(n-1), capped.
fn backoff(failures: u32) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << failures.saturating_sub(1).min(10));
    let capped = exp.min(MAX_BACKOFF);
    let jitter = f64::from(u16::from_le_bytes(crypto::random_bytes::<2>())) / f64::from(u16::MAX);
    capped.mul_f64(0.5 + 0.5 * jitter)
}

fn is_fatal(code: u16) -> bool {
    // Refused proof, turned away, unknown room, full room: retrying cannot help.
    matches!(code, 4401 | 4403 | 4404 | 4409)
}

fn encode(frame: &ClientFrame) -> Message {
    Message::Text(serde_json::to_string(frame).expect("client frames serialise"))
}

impl Driver {
    fn report(&self, event: SocketEvent) {
        (self.on_event)(event);
    }

    /// Waits `delay` while still accepting commands; false if told to stop.
    async fn wait(&mut self, rx: &mut UnboundedReceiver<Command>, delay: Duration) -> bool {
        let mut timer = sleep(delay).fuse();
        loop {
            futures::select! {
                _ = timer => return true,
                cmd = rx.next() => match cmd {
                    Some(Command::Send(env)) => self.unacked.push(*env),
                    Some(Command::Discard(cid)) => self.unacked.retain(|e| e.cid != cid),
                    Some(Command::Wake) => return true,
                    Some(Command::Stop) | None => return false,
                },
            }
        }
    }

    async fn connect_and_serve(&mut self, rx: &mut UnboundedReceiver<Command>, failures: &mut u32) -> Ended {
        let url = super::room_socket_url(self.room.as_str());
        let socket = match WebSocket::open(&url) {
            Ok(s) => s,
            Err(e) => return Ended::Lost(format!("cannot open the socket: {e}")),
        };
        let (mut sink, mut stream) = socket.split();
        // True once this connection may read and write (after the backlog).
        let mut reading = false;
        // Set when the room refused a send as temporary: resend the unacknowledged
        // envelopes when it fires.
        let mut retry = futures::future::Fuse::terminated();
        loop {
            futures::select! {
                _ = retry => {
                    if reading && !self.send_all(&mut sink).await {
                        return Ended::Lost("send failed".into());
                    }
                }
                incoming = stream.next().fuse() => {
                    let text = match incoming {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Bytes(_))) => continue,
                        Some(Err(WebSocketError::ConnectionClose(close))) => {
                            let reason = match self.last_error.take() {
                                Some(message) => message,
                                None if close.reason.is_empty() => format!("closed ({})", close.code),
                                None => close.reason.clone(),
                            };
                            return if is_fatal(close.code) { Ended::Fatal(reason) } else { Ended::Lost(reason) };
                        }
                        Some(Err(e)) => return Ended::Lost(e.to_string()),
                        None => return Ended::Lost("the connection ended".into()),
                    };
                    let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else { continue };
                    match frame {
                        ServerFrame::Challenge { room, nonce, .. } => {
                            if room != self.room {
                                return Ended::Fatal("the server answered for another room".into());
                            }
                            let sig = crypto::answer_challenge(&self.identity, &self.room, &nonce.0);
                            let hello = ClientFrame::Hello {
                                v: PROTOCOL_VERSION,
                                key: self.identity.public_key(),
                                sig,
                                invite: self.invite.clone(),
                            };
                            if sink.send(encode(&hello)).await.is_err() {
                                return Ended::Lost("send failed".into());
                            }
                        }
                        ServerFrame::Welcome { state, access, keys, .. } | ServerFrame::Room { state, access, keys } => {
                            *failures = 0;
                            if access == Access::Pending {
                                reading = false;
                                self.report(SocketEvent::Status(ConnectionStatus::Waiting));
                            }
                            self.report(SocketEvent::Access { state: Box::new(state), access, keys });
                        }
                        ServerFrame::Backlog { messages, more } => {
                            self.report(SocketEvent::Messages { messages, backlog: true, more });
                            reading = true;
                            if !self.send_all(&mut sink).await {
                                return Ended::Lost("send failed".into());
                            }
                            self.report(SocketEvent::Status(ConnectionStatus::Connected));
                        }
                        ServerFrame::Msg { m } => {
                            self.report(SocketEvent::Messages { messages: vec![m], backlog: false, more: false });
                        }
                        ServerFrame::JoinRequest { .. } => self.report(SocketEvent::JoinRequest),
                        ServerFrame::Ack { cid, key } => {
                            self.unacked.retain(|e| e.cid != cid);
                            self.report(SocketEvent::Acked { cid, key });
                        }
                        ServerFrame::Error { error, cid } => {
                            if cid.is_none() {
                                self.last_error = Some(error.message.clone());
                            }
                            if self.refused(error, cid) && retry.is_terminated() {
                                retry = sleep(RATE_LIMIT_RETRY).fuse();
                            }
                        }
                    }
                }
                cmd = rx.next() => match cmd {
                    Some(Command::Send(env)) => {
                        self.unacked.push((*env).clone());
                        if reading && sink.send(encode(&ClientFrame::Send { env: *env })).await.is_err() {
                            return Ended::Lost("send failed".into());
                        }
                    }
                    Some(Command::Discard(cid)) => self.unacked.retain(|e| e.cid != cid),
                    Some(Command::Wake) => {}
                    Some(Command::Stop) | None => {
                        let _ = sink.close().await;
                        return Ended::Stopped;
                    }
                },
            }
        }
    }

    /// Sends every unacknowledged envelope, in order; false if the socket failed.
    async fn send_all<S>(&self, sink: &mut S) -> bool
    where
        S: futures::Sink<Message> + Unpin,
    {
        for env in self.unacked.clone() {
            if sink.send(encode(&ClientFrame::Send { env })).await.is_err() {
                return false;
            }
        }
        true
    }

    /// A refusal of one message: keep it for a retry if the refusal is temporary
    /// (returns true), otherwise report it as failed.
    fn refused(&mut self, error: ErrorBody, cid: Option<ClientMessageId>) -> bool {
        let Some(cid) = cid else { return false };
        if matches!(
            error.code,
            ErrorCode::RateLimited | ErrorCode::Unavailable | ErrorCode::Internal | ErrorCode::NotAccepted
        ) {
            return true;
        }
        self.unacked.retain(|e| e.cid != cid);
        self.report(SocketEvent::Refused { cid, error });
        false
    }
}
