//! Talking to the worker API: [`api`] for HTTP calls (with [`retry`] for the idempotent
//! ones file transfers make, and [`chunk_sender`] sending file chunks where no service
//! worker sees them), [`socket`] for a room's WebSocket, [`explain`] for what a refusal
//! means in words.

pub mod api;
pub mod chunk_sender;
pub mod explain;
pub mod retry;
pub mod socket;

/// The page's origin, e.g. `http://127.0.0.1:8080` (the API is served from it, or
/// proxied to it by `trunk serve`).
pub fn origin() -> String {
    web_sys::window().and_then(|w| w.location().origin().ok()).unwrap_or_default()
}

/// The WebSocket URL of a room on this origin.
pub fn room_socket_url(room: &str) -> String {
    let origin = origin();
    let ws = if let Some(rest) = origin.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = origin.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        origin
    };
    format!("{ws}/ws/{room}")
}
