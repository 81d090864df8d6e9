//! Messages written but not yet acknowledged by the room: the one owner of that state.
//! The browser's stored copy (which survives a reload) and the timeline's "sending…" rows
//! mirror it through the client's events; nothing else decides when a message is done.

use protocol::envelope::Envelope;
use protocol::ids::ClientMessageId;

/// Unacknowledged envelopes, in the order they were written, each with what the
/// application keeps alongside it (`T`: the text and attachment for the browser).
#[derive(Debug, Clone)]
pub struct Outbox<T> {
    entries: Vec<(Envelope, T)>,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox { entries: Vec::new() }
    }
}

impl<T> Outbox<T> {
    /// Adds a message; a client id already waiting is not added twice (false).
    pub fn push(&mut self, env: Envelope, extra: T) -> bool {
        if self.contains(&env.cid) {
            return false;
        }
        self.entries.push((env, extra));
        true
    }

    pub fn contains(&self, cid: &ClientMessageId) -> bool {
        self.entries.iter().any(|(e, _)| e.cid == *cid)
    }

    /// Takes a message out (acknowledged, refused for good, or discarded), if it waits.
    pub fn remove(&mut self, cid: &ClientMessageId) -> Option<(Envelope, T)> {
        let at = self.entries.iter().position(|(e, _)| e.cid == *cid)?;
        Some(self.entries.remove(at))
    }

    /// The waiting envelopes, oldest first.
    pub fn envelopes(&self) -> impl Iterator<Item = &Envelope> {
        self.entries.iter().map(|(e, _)| e)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(Envelope, T)> {
        self.entries.iter()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
