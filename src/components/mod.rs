//! Reusable view pieces. They read session state and call session or room functions;
//! none of them touches keys, envelopes or the network directly.

pub mod alias_prompt;
pub mod composer;
pub mod connection_badge;
pub mod create_room_form;
pub mod invite_panel;
pub mod join_form;
pub mod message_list;
pub mod room_list;
