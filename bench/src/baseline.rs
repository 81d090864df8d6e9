//! The bare baseline: an in-memory axum WebSocket broadcast server with no protocol, no
//! checks and no storage. Every text frame is acknowledged to its sender and broadcast to
//! the other connections of the same room name. It is what "just relaying" costs on this
//! machine, the yardstick for the real worker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::broadcast;

type Rooms = Arc<Mutex<HashMap<String, broadcast::Sender<(u64, Arc<str>)>>>>;

#[derive(Clone, Default)]
struct Baseline {
    rooms: Rooms,
    ids: Arc<AtomicU64>,
}

/// Serves until killed; prints `listening on http://<addr>` like mock-server.
pub async fn serve(listen: SocketAddr) {
    let app = Router::new().route("/ws/{room}", get(upgrade)).with_state(Baseline::default());
    let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
    println!("baseline listening on http://{}", listener.local_addr().expect("addr"));
    axum::serve(listener, app).await.expect("serve");
}

async fn upgrade(State(b): State<Baseline>, Path(room): Path<String>, ws: WebSocketUpgrade) -> Response {
    ws.read_buffer_size(4 * 1024).write_buffer_size(0).on_upgrade(move |socket| connection(socket, b, room))
}

/// The client id of a frame, found without parsing the JSON.
pub fn cid_of(text: &str) -> Option<&str> {
    let start = text.find("\"cid\":\"")? + 7;
    let end = start + text[start..].find('"')?;
    Some(&text[start..end])
}

async fn connection(socket: WebSocket, b: Baseline, room: String) {
    let me = b.ids.fetch_add(1, Ordering::Relaxed);
    let tx = b.rooms.lock().expect("rooms").entry(room).or_insert_with(|| broadcast::channel(65_536).0).clone();
    let mut rx = tx.subscribe();
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(cid) = cid_of(text.as_str()) {
                        let ack = format!("{{\"t\":\"ack\",\"cid\":\"{cid}\"}}");
                        if sink.send(Message::Text(ack.into())).await.is_err() {
                            break;
                        }
                    }
                    let _ = tx.send((me, Arc::from(text.as_str())));
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            out = rx.recv() => match out {
                Ok((from, text)) if from != me => {
                    if sink.send(Message::Text(text.as_ref().into())).await.is_err() {
                        break;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}
