//! The room WebSocket's driver: one task per open room that pumps the socket, the
//! session's commands and timers into [`RoomClient`] (`room-client`, the sans-IO protocol
//! core) and reports its events. Every rule (the join answer, the outbox and its resend
//! after each join with the original client ids, which refusals wait, which closes are
//! final, the reconnect backoff) is the core's; this file only does IO. A lost connection
//! is retried after the core's delay, at once when the browser says the network is back.

use std::rc::Rc;
use std::time::Duration;

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, WebSocketError};
use gloo_timers::future::sleep;
use protocol::envelope::{Envelope, StoredMessage};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::{Access, RoomState};
use protocol::identity::IdentityKey;
use protocol::ids::{ClientMessageId, MessageKey, RoomId};
use protocol::invite::InviteProof;
use protocol::key_wrap::WrappedKey;
use room_client::{ClientEvent, Closed, RoomClient};

use crate::crypto;

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
    /// Refused for good (e.g. an unknown or full room), for the reason `code` names
    /// (worded by [`crate::net::explain`]).
    Failed(Option<ErrorCode>),
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
    /// Another member's ephemeral envelope (presence), not yet verified or opened.
    Ephemeral(Box<Envelope>),
    /// The content of the stored message `key` was dropped (see `ClientEvent::Erased`).
    Erased(MessageKey),
}

enum Command {
    Send(Box<Envelope>),
    /// Send now if connected, else drop (presence).
    Ephemeral(Box<Envelope>),
    /// Forget an unacknowledged envelope (the user discarded a failed message).
    Discard(ClientMessageId),
    /// Ask the room to drop a deleted message's content, if connected (else dropped:
    /// the session asks again after the next join).
    Erase(MessageKey),
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

    /// Sends an ephemeral envelope if the room is joined now; dropped otherwise.
    pub fn send_ephemeral(&self, env: Envelope) {
        let _ = self.commands.unbounded_send(Command::Ephemeral(Box::new(env)));
    }

    /// Asks the room to drop the content of message `key` if the room is joined now.
    pub fn erase(&self, key: MessageKey) {
        let _ = self.commands.unbounded_send(Command::Erase(key));
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
    let client = RoomClient::new(room.clone(), identity, invite, queued.into_iter().map(|e| (e, ())).collect());
    leptos::task::spawn_local(drive(Driver { room, client, on_event }, rx));
    SocketHandle { commands }
}

/// How one connection ended.
enum Ended {
    Stopped,
    Closed(Closed),
}

struct Driver {
    room: RoomId,
    client: RoomClient<()>,
    on_event: Rc<dyn Fn(SocketEvent)>,
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A number in [0, 1] for the reconnect jitter.
fn jitter() -> f64 {
    f64::from(u16::from_le_bytes(crypto::random_bytes::<2>())) / f64::from(u16::MAX)
}

async fn drive(mut driver: Driver, mut rx: UnboundedReceiver<Command>) {
    loop {
        driver.report(SocketEvent::Status(ConnectionStatus::Connecting));
        match driver.connect_and_serve(&mut rx).await {
            Ended::Stopped => {
                driver.report(SocketEvent::Status(ConnectionStatus::Closed));
                return;
            }
            Ended::Closed(Closed::Final { code, reason }) => {
                leptos::logging::warn!("the room refused this connection: {reason}");
                driver.report(SocketEvent::Status(ConnectionStatus::Failed(code)));
                return;
            }
            Ended::Closed(Closed::Reconnect { after, reason }) => {
                leptos::logging::warn!("room connection lost: {reason}");
                let retry_in_ms = after.as_millis() as u64;
                driver.report(SocketEvent::Status(ConnectionStatus::Reconnecting { retry_in_ms }));
                if !driver.wait(&mut rx, after).await {
                    driver.report(SocketEvent::Status(ConnectionStatus::Closed));
                    return;
                }
            }
        }
    }
}

impl Driver {
    fn report(&self, event: SocketEvent) {
        (self.on_event)(event);
    }

    /// Reports the core's events.
    fn report_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            let event = match event {
                ClientEvent::Access { state, access, keys } => SocketEvent::Access { state, access, keys },
                ClientEvent::Messages { messages, backlog, more } => SocketEvent::Messages { messages, backlog, more },
                ClientEvent::Acked { cid, key } => SocketEvent::Acked { cid, key },
                ClientEvent::Refused { cid, error } => SocketEvent::Refused { cid, error },
                ClientEvent::JoinRequest => SocketEvent::JoinRequest,
                ClientEvent::Ephemeral { env } => SocketEvent::Ephemeral(env),
                ClientEvent::Erased { key } => SocketEvent::Erased(key),
                ClientEvent::Connected => SocketEvent::Status(ConnectionStatus::Connected),
                ClientEvent::Waiting => SocketEvent::Status(ConnectionStatus::Waiting),
            };
            self.report(event);
        }
    }

    fn command(&mut self, cmd: Option<Command>) -> Option<Ended> {
        match cmd {
            Some(Command::Send(env)) => self.client.send(*env, ()),
            Some(Command::Ephemeral(env)) => {
                self.client.send_ephemeral(*env);
            }
            Some(Command::Discard(cid)) => {
                self.client.discard(&cid);
            }
            Some(Command::Erase(key)) => {
                self.client.erase(key);
            }
            Some(Command::Wake) => {}
            Some(Command::Stop) | None => return Some(Ended::Stopped),
        }
        None
    }

    /// Waits `delay` while still accepting commands; false if told to stop.
    async fn wait(&mut self, rx: &mut UnboundedReceiver<Command>, delay: Duration) -> bool {
        let mut timer = sleep(delay).fuse();
        loop {
            futures::select! {
                _ = timer => return true,
                cmd = rx.next() => {
                    if matches!(cmd, Some(Command::Wake)) {
                        return true;
                    }
                    if self.command(cmd).is_some() {
                        return false;
                    }
                }
            }
        }
    }

    async fn connect_and_serve(&mut self, rx: &mut UnboundedReceiver<Command>) -> Ended {
        let url = super::room_socket_url(self.room.as_str());
        let socket = match WebSocket::open(&url) {
            Ok(s) => s,
            Err(e) => {
                return Ended::Closed(self.client.closed(None, &format!("cannot open the socket: {e}"), jitter()));
            }
        };
        let (mut sink, mut stream) = socket.split();
        self.client.opened();
        loop {
            // Whatever the core wants written goes out first, then its events.
            while let Some(text) = self.client.poll_transmit() {
                if sink.send(Message::Text(text)).await.is_err() {
                    return Ended::Closed(self.client.closed(None, "send failed", jitter()));
                }
            }
            self.report_events();
            let mut timer = match self.client.poll_timeout() {
                Some(at) => sleep(Duration::from_millis(at.saturating_sub(now_ms()))).fuse(),
                None => futures::future::Fuse::terminated(),
            };
            futures::select! {
                _ = timer => self.client.handle_timeout(now_ms()),
                incoming = stream.next().fuse() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(closed) = self.client.handle_frame(&text, now_ms()) {
                            let _ = sink.close().await;
                            return Ended::Closed(closed);
                        }
                    }
                    Some(Ok(Message::Bytes(_))) => {}
                    Some(Err(WebSocketError::ConnectionClose(close))) => {
                        self.report_events();
                        return Ended::Closed(self.client.closed(Some(close.code), &close.reason, jitter()));
                    }
                    Some(Err(e)) => return Ended::Closed(self.client.closed(None, &e.to_string(), jitter())),
                    None => return Ended::Closed(self.client.closed(None, "", jitter())),
                },
                cmd = rx.next() => {
                    if let Some(ended) = self.command(cmd) {
                        let _ = sink.close().await;
                        return ended;
                    }
                }
            }
        }
    }
}
