//! Membership lines (see PROTOCOL.md, "Membership lines"): this browser's "joined" line,
//! the owner's "accepted" and "removed" lines, and leaving a room with a "left" line.

use std::time::Duration;

use leptos::prelude::*;
use protocol::envelope::Content;

use crate::net::socket::ConnectionStatus;
use crate::rooms;
use crate::session::RoomSession;
use crate::session::timeline::Delivery;
use crate::store;

/// How long leaving waits for the room to store the "left" line.
const LEAVE_WAIT: Duration = Duration::from_secs(10);

impl RoomSession {
    /// Posts this browser's "joined" line, once: the first time the room lets a key made
    /// here read it (right away in an open room, on acceptance in a locked one).
    pub(crate) fn announce_join(&self) {
        let room = self.room();
        if !store::load_room(&room).is_some_and(|r| r.announce_join) {
            return;
        }
        if self.send_content(Content::Joined, None).is_ok() {
            let _ = store::update_room(&room, |r| r.announce_join = false);
        }
    }

    /// Posts a membership line (best effort: the change itself is already done, and the
    /// line waits in the outbox like any message).
    pub(crate) fn announce(&self, line: Content) {
        if let Err(e) = self.send_content(line, None) {
            leptos::logging::warn!("membership line not sent: {e}");
        }
    }

    /// Leaves the room: posts a "left" line, waits until the room has stored it, then
    /// forgets the room on this device (keys, outbox, cached messages). Nothing is
    /// forgotten unless the others can learn that this member left.
    pub async fn leave(&self) -> Result<(), String> {
        if self.status.get_untracked() != ConnectionStatus::Connected {
            return Err("Leaving needs a connection, so that the others see you left. Try again once connected.".into());
        }
        let id = self.queue_content(Content::Left, None)?;
        let step = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        loop {
            let delivery = self.timeline.with_untracked(|t| t.get(&id).map(|m| m.delivery.clone()));
            match delivery {
                Some(Delivery::Sent) => break,
                Some(Delivery::Failed(reason)) => {
                    self.discard(&id);
                    return Err(format!("The room did not take your leaving: {reason}. You are still in it."));
                }
                _ if waited >= LEAVE_WAIT => {
                    self.discard(&id);
                    return Err("The room did not confirm in time. You are still in it; try again.".into());
                }
                _ => {}
            }
            gloo_timers::future::sleep(step).await;
            waited += step;
        }
        self.stop();
        rooms::forget(&self.room()).await;
        Ok(())
    }
}
