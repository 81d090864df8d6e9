//! The client side of the room protocol, written without any IO, clock or randomness
//! source (like `room-core` on the server side): the browser's socket driver and
//! testkit's native client are thin drivers of it.
//!
//! A driver opens a WebSocket and feeds [`RoomClient`] what happens: [`RoomClient::opened`],
//! each text frame ([`RoomClient::handle_frame`]), the close ([`RoomClient::closed`], which
//! says whether and when to reconnect), the user's messages ([`RoomClient::send`],
//! [`RoomClient::discard`]) and time ([`RoomClient::handle_timeout`] at
//! [`RoomClient::poll_timeout`]). It writes out what [`RoomClient::poll_transmit`] hands
//! it and reports what [`RoomClient::poll_event`] says.
//!
//! - [`outbox`]: the one owner of messages not yet acknowledged; resent after every join.
//! - [`client`]: the connection state machine (challenge, welcome, backlog, acks,
//!   refusals, closes).
//! - [`backoff`]: reconnect delays.

pub mod backoff;
pub mod client;
pub mod outbox;

pub use client::{ClientEvent, Closed, Phase, RoomClient};
pub use outbox::Outbox;
