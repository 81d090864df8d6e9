//! Reusable view pieces. They read session state and call session, room or store
//! functions; none of them touches keys, envelopes or the network directly.

pub mod admin_panel;
pub mod alias_prompt;
pub mod attachment_view;
pub mod call_view;
pub mod composer;
pub mod connection_badge;
pub mod create_room_form;
pub mod draft_field;
pub mod gallery;
pub mod image_viewer;
pub mod import_keys;
pub mod join_form;
pub mod leave_room;
pub mod member_list;
pub mod message_list;
pub mod message_row;
pub mod name_dialog;
pub mod presence_line;
pub mod room_list;
pub mod row_actions;
pub mod search_panel;
pub mod security_warnings;
pub mod share_dialog;
pub mod shortcuts;
pub mod storage_refused;
pub mod system_line;
pub mod transfer_list;
pub mod verification_warning;
