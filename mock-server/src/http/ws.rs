//! The WebSocket half of the worker API: `GET /ws/{room}`.
//!
//! The upgrade is refused (HTTP 403, `origin_not_allowed`) unless the browser's Origin is
//! one of the configured origins: the server's own (from the address it is bound to and
//! `--public-origin`) or an `--allow-origin`. The request's `Host` header is never used:
//! a page on a hostile site can reach this server under any host name it controls (DNS
//! rebinding), so Host proves nothing. It is also refused (HTTP 429,
//! `too_many_connections`) when the client's IP address already holds
//! `--max-connections-per-ip` sockets. After the upgrade, each connection is a task
//! that forwards frames to the room actor and writes what the actor queues for it. The
//! task owns the transport concerns: WebSocket pings every `idle_timeout / 3` and a close
//! after `idle_timeout` of silence; a frame above the transport cap closes with 1009.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::ids::RoomId;
use tokio::sync::{mpsc, watch};

use crate::http::error::ApiError;
use crate::room_actor::{ConnOutbox, Outbound, RoomCommand};
use crate::state::AppState;
use room_core::effects::Refusal;
use room_core::inbound;

/// Frames written before one flush, when several are queued.
const WRITE_BATCH: usize = 64;

/// Bytes buffered before tungstenite writes to the socket even without a flush.
const WRITE_BUFFER: usize = 64 * 1024;

/// Frames above this size are cut off by the transport itself (the room logic refuses
/// anything above `max_frame_bytes` with a typed error first).
const TRANSPORT_MAX_MESSAGE: usize = 1024 * 1024;

/// True when a browser page at the request's Origin may open sockets here
/// ([`api_core::origin::origin_allowed`] over the configured origins).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    api_core::origin::origin_allowed(headers.get_all("origin").iter().map(|v| v.to_str().ok()), allowed)
}

/// `GET /ws/{room}`
pub async fn upgrade(
    State(st): State<AppState>,
    Path(room): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &st.origins) {
        return ApiError::new(ErrorCode::OriginNotAllowed, "WebSockets from this origin are not allowed")
            .into_response();
    }
    // Held for the connection's lifetime (moved into the task below); dropping it frees
    // the address's slot, also when the upgrade never completes.
    let Some(slot) = st.connections.acquire(peer.ip()) else {
        let cap = st.connections.cap();
        return ApiError(
            ErrorBody::new(
                ErrorCode::TooManyConnections,
                format!("this address already holds {cap} WebSocket connections to this server"),
            )
            .with_limit(cap as u64),
        )
        .into_response();
    };
    let room = RoomId::parse(&room).map_err(|e| ErrorBody::new(ErrorCode::UnknownRoom, e.to_string()));
    ws.max_message_size(TRANSPORT_MAX_MESSAGE)
        .max_frame_size(TRANSPORT_MAX_MESSAGE)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| async move {
            run_connection(socket, st, room).await;
            drop(slot);
        })
}

fn close_message(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(reason) }))
}

/// How long a connection waits for the peer's half of the closing handshake after it
/// sent a close, so the peer reliably reads the error frame and the close code.
const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// Reads (and discards) until the peer answers our close, or [`CLOSE_LINGER`] passes.
async fn linger<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Sends an error frame and the close code that goes with it ([`Refusal`]).
async fn refuse(mut socket: WebSocket, error: ErrorBody) {
    let refusal = Refusal::closing(error, 4400);
    let (code, reason) = refusal.close.unwrap_or((4400, "refused"));
    let _ = socket.send(Message::Text(refusal.frame.as_ref().into())).await;
    let _ = socket.send(close_message(code, reason)).await;
    linger(&mut socket).await;
}

/// Serves one connection until either side closes it.
async fn run_connection(socket: WebSocket, st: AppState, room: Result<RoomId, ErrorBody>) {
    let room = match room {
        Ok(room) => room,
        Err(e) => return refuse(socket, e).await,
    };
    let limits = &st.config.limits;
    let conn = st.next_conn_id();
    let (frames, mut queued) = mpsc::unbounded_channel::<Outbound>();
    let (close, mut close_signal) = watch::channel::<Option<(u16, String)>>(None);
    let pending_bytes = Arc::new(AtomicUsize::new(0));
    let limit = usize::try_from(limits.send_queue_bytes).unwrap_or(usize::MAX);
    let outbox = ConnOutbox { frames, queued: pending_bytes.clone(), limit, close };
    let actor = match st.rooms.send(&room, RoomCommand::Connect { conn, outbox }, false).await {
        Ok(actor) => actor,
        Err(e) => return refuse(socket, e).await,
    };
    let idle = Duration::from_secs(u64::from(limits.idle_timeout_secs.max(3)));
    let mut ping = tokio::time::interval(idle / 3);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let (mut sink, mut stream) = socket.split();
    // Set when we sent a close frame (then we wait for the peer's answer before leaving).
    let mut we_closed = true;
    let mut watching_close = true;
    // Until the client has sent its `hello`, a `send` is refused without verifying it.
    let mut hello_sent = false;
    loop {
        tokio::select! {
            biased;
            _ = close_signal.changed(), if watching_close => {
                // The room drops this connection now (queued frames are abandoned).
                // Without a value the room let go of us: finish the queue, then leave.
                let Some((code, reason)) = close_signal.borrow().clone() else {
                    watching_close = false;
                    continue;
                };
                let _ = sink.send(close_message(code, &reason)).await;
                break;
            }
            incoming = stream.next() => {
                let cmd = match incoming {
                    Some(Ok(Message::Text(text))) => {
                        // Shape, size and signature checks run here, on the connection's
                        // task, so they use every core, not just the room's lane step.
                        let frame = inbound::prepare(text.as_str(), limits, st.verifier.as_ref(), hello_sent);
                        hello_sent |= matches!(frame, inbound::Inbound::Hello { .. });
                        RoomCommand::Frame { conn, frame: Box::new(frame) }
                    }
                    Some(Ok(Message::Binary(_))) => RoomCommand::Binary { conn },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        last_heard = Instant::now();
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => {
                        we_closed = false;
                        break;
                    }
                    Some(Err(e)) => {
                        if matches!(e.into_inner().downcast_ref::<tungstenite_error::Error>(), Some(tungstenite_error::Error::Capacity(_))) {
                            let error = ErrorBody::new(ErrorCode::FrameTooLarge, "frame exceeds the transport limit")
                                .with_limit(limits.max_frame_bytes);
                            // The transport's own cap closes with 1009 (message too big).
                            let refusal = Refusal::closing(error, 1009);
                            let _ = sink.send(Message::Text(refusal.frame.as_ref().into())).await;
                            let _ = sink.send(close_message(1009, ErrorCode::FrameTooLarge.as_str())).await;
                        } else {
                            we_closed = false;
                        }
                        break;
                    }
                };
                last_heard = Instant::now();
                if actor.send(cmd).await.is_err() {
                    let _ = sink.send(close_message(1012, ErrorCode::Unavailable.as_str())).await;
                    break;
                }
            }
            out = queued.recv() => match out {
                Some(Outbound::Text(text)) => {
                    // Write everything already queued (up to a bound) with one flush: under
                    // load a connection gets bursts, and one syscall per frame is the cost.
                    let mut frames = vec![text];
                    let mut then_close = None;
                    while frames.len() < WRITE_BATCH {
                        match queued.try_recv() {
                            Ok(Outbound::Text(more)) => frames.push(more),
                            Ok(Outbound::Close(code, reason)) => {
                                then_close = Some((code, reason));
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let bytes: usize = frames.iter().map(|f| f.len()).sum();
                    let mut written = Ok(());
                    for frame in frames {
                        if let Ok(text) = Utf8Bytes::try_from(Bytes::from_owner(ArcText(frame))) {
                            written = sink.feed(Message::Text(text)).await;
                            if written.is_err() {
                                break;
                            }
                        }
                    }
                    if written.is_ok() {
                        written = sink.flush().await;
                    }
                    pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
                    if written.is_err() {
                        we_closed = false;
                        break;
                    }
                    if let Some((code, reason)) = then_close {
                        let _ = sink.send(close_message(code, &reason)).await;
                        break;
                    }
                }
                Some(Outbound::Close(code, reason)) => {
                    let _ = sink.send(close_message(code, &reason)).await;
                    break;
                }
                None => {
                    // The room worker went away (restarting): tell the client to come back.
                    let _ = sink.send(close_message(1012, ErrorCode::Unavailable.as_str())).await;
                    break;
                }
            },
            _ = ping.tick() => {
                if last_heard.elapsed() >= idle {
                    let error = ErrorBody::new(ErrorCode::IdleTimeout, "no frames or pongs for too long");
                    let refusal = Refusal::closing(error, 4408);
                    let (code, reason) = refusal.close.unwrap_or((4408, "idle_timeout"));
                    let _ = sink.send(Message::Text(refusal.frame.as_ref().into())).await;
                    let _ = sink.send(close_message(code, reason)).await;
                    break;
                }
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    we_closed = false;
                    break;
                }
            }
        }
    }
    let _ = actor.send(RoomCommand::Disconnect { conn }).await;
    if we_closed {
        linger(&mut stream).await;
    }
}

/// Lets a frame shared by many connections become a `Bytes` without copying.
struct ArcText(Arc<str>);

impl AsRef<[u8]> for ArcText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// axum reports transport errors as boxed tungstenite errors.
mod tungstenite_error {
    pub use tungstenite::Error;
}
