//! Top-level views, one per route.

pub mod landing;
pub mod room;
pub mod rooms;
pub mod settings;
pub mod sso_return;
