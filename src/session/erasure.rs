//! Dropping deleted messages' content from the server.
//!
//! A delete for everyone is a sealed message the server cannot read. Once this browser's
//! delete is committed, it asks the room to `erase` the target (the room checks that this
//! key sent it or owns the room), unless the owner's policy keeps deleted messages
//! (`RoomState::keep_deleted`). The rule is a convergence, not a one-shot: after every
//! batch of messages, acknowledgement and join, every committed delete of ours whose
//! target still has content is asked for once per connection, so a request lost with a
//! connection is asked again after the next join, and nothing is asked twice once the
//! room has answered `erased`.

use leptos::prelude::*;
use protocol::ids::MessageKey;

use super::RoomSession;
use crate::net::socket::ConnectionStatus;
use crate::store::cache;

impl RoomSession {
    /// Asks the room to erase what this browser deleted and the room still holds.
    pub(super) fn ask_erasure(&self) {
        if self.status.get_untracked() != ConnectionStatus::Connected {
            return;
        }
        let keeps = self.state.with_untracked(|s| s.as_ref().is_none_or(|s| s.keep_deleted));
        if keeps {
            return;
        }
        let inner = self.inner();
        let me = inner.ring.me.to_b64();
        let wanted = self.timeline.with_untracked(|t| t.to_erase(&me));
        let Some(socket) = inner.socket.get() else { return };
        let mut asked = inner.erase_asked.borrow_mut();
        for key in wanted {
            if asked.insert(key.clone())
                && let Ok(key) = MessageKey::parse(&key)
            {
                socket.erase(key);
            }
        }
    }

    /// A new connection: requests the last one carried may have been lost with it.
    pub(super) fn forget_erasure_requests(&self) {
        self.inner().erase_asked.borrow_mut().clear();
    }

    /// The room dropped the content of the message stored under `key`.
    pub(super) fn on_erased(&self, key: MessageKey) {
        let erased = self.timeline.try_update(|t| t.erase(key.as_str())).flatten();
        if let Some(message) = erased {
            leptos::task::spawn_local(async move {
                if let Err(e) = cache::put_all(&[message]).await {
                    leptos::logging::warn!("{e}");
                }
            });
        }
    }
}
