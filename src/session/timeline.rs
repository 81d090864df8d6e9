//! A room's messages in display order, merged from every source (backlog, live
//! messages, acks of our own sends) so that each message appears exactly once.
//!
//! Messages are identified by `(sender, client id)`: a resend after a reconnect, the
//! backlog copy of a message we saw live, and our own pending copy all merge into one
//! entry. Committed messages are ordered by their server key; pending ones follow in the
//! order they were written.

use std::collections::{BTreeMap, HashMap};

use protocol::envelope::Content;
use protocol::objects::FileHandle;
use serde::{Deserialize, Serialize};

/// Where our own message is on its way to the server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Delivery {
    /// Written, not yet acknowledged (queued while offline, or in flight).
    Pending,
    /// Committed by the room worker.
    Sent,
    /// Refused by the server; the reason is shown.
    Failed(String),
}

/// Whether a message's signature and encryption checked out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Trust {
    Verified,
    /// The signature or decryption failed: never shown as a valid message.
    Tampered(String),
    /// Genuinely signed, but this browser has no key for it (an epoch from before it was
    /// accepted, or a whisper between two other members).
    Sealed(String),
}

/// A file or image shared in a message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Attachment {
    File(FileHandle),
    Image { full: FileHandle, preview: Option<FileHandle>, thumbnail: String, width: u32, height: u32 },
}

impl Attachment {
    /// The attachment a message body carries, if any.
    pub fn of(content: &Content) -> Option<Attachment> {
        match content {
            Content::File { file } => Some(Attachment::File(file.clone())),
            Content::Image { full, preview, thumbnail, width, height } => Some(Attachment::Image {
                full: full.clone(),
                preview: preview.clone(),
                thumbnail: thumbnail.clone(),
                width: *width,
                height: *height,
            }),
            _ => None,
        }
    }

    /// The message body that shares this attachment (to send it again).
    pub fn into_content(self) -> Content {
        match self {
            Attachment::File(file) => Content::File { file },
            Attachment::Image { full, preview, thumbnail, width, height } => {
                Content::Image { full, preview, thumbnail, width, height }
            }
        }
    }

    /// A one-line description (for the outbox, search and notifications).
    pub fn label(&self) -> String {
        match self {
            Attachment::File(f) => format!("📎 {}", f.name),
            Attachment::Image { full, .. } => format!("🖼 {}", full.name),
        }
    }
}

/// A whisper: a message only two members can read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Whisper {
    /// The recipient's public key.
    pub to: String,
    /// True when this browser is one of the two ends (and so can read it).
    pub mine: bool,
}

/// One message as the UI shows it (and as the cache keeps it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `<sender public key>/<client id>`: stable across resends and sources.
    pub id: String,
    /// The server's message key, once committed.
    pub key: Option<String>,
    pub sender: String,
    pub alias: String,
    pub text: String,
    /// Server time in ms since the epoch, once committed.
    pub time_ms: Option<u64>,
    pub mine: bool,
    pub from_owner: bool,
    /// From the room's verified guest (its first member besides the owner).
    #[serde(default)]
    pub from_guest: bool,
    #[serde(default)]
    pub whisper: Option<Whisper>,
    #[serde(default)]
    pub attachment: Option<Attachment>,
    pub delivery: Delivery,
    pub trust: Trust,
}

impl ChatMessage {
    /// What the message says in one line: its text, else what it shares (for search
    /// results, where a file is found by its name).
    pub fn summary(&self) -> String {
        match (&self.attachment, self.text.is_empty()) {
            (Some(a), true) => a.label(),
            (Some(a), false) => format!("{} {}", self.text, a.label()),
            (None, _) => self.text.clone(),
        }
    }
}

/// The ordered, de-duplicated message list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    order: BTreeMap<String, ChatMessage>,
    position: HashMap<String, String>,
    pending_seq: u64,
    /// Each sender's alias in its newest verified message here, with that message's
    /// position (kept as messages arrive, so nothing walks the whole history to list
    /// members).
    senders: BTreeMap<String, (String, String)>,
}

fn committed_position(key: &str) -> String {
    format!("k/{key}")
}

impl Timeline {
    /// Adds a message, or updates the entry with the same id. A committed copy always
    /// wins over a pending one; a later copy never downgrades `Sent` to `Pending`.
    pub fn upsert(&mut self, mut message: ChatMessage) {
        if let Some(pos) = self.position.get(&message.id).cloned() {
            let existing = self.order.remove(&pos).expect("position index is consistent");
            if message.key.is_none() && existing.key.is_some() {
                message.key = existing.key.clone();
                message.time_ms = existing.time_ms;
                message.delivery = existing.delivery.clone();
            }
            if existing.mine && message.key.is_some() {
                message.delivery = Delivery::Sent;
            }
        }
        let pos = match &message.key {
            Some(key) => committed_position(key),
            None => {
                self.pending_seq += 1;
                format!("p/{:012}", self.pending_seq)
            }
        };
        self.position.insert(message.id.clone(), pos.clone());
        if !message.alias.is_empty() && message.trust == Trust::Verified {
            let newest = self.senders.get(&message.sender).is_none_or(|(at, _)| *at <= pos);
            if newest {
                self.senders.insert(message.sender.clone(), (pos.clone(), message.alias.clone()));
            }
        }
        self.order.insert(pos, message);
    }

    /// The alias `sender` used in its newest message shown here.
    pub fn alias_of(&self, sender: &str) -> Option<&str> {
        self.senders.get(sender).map(|(_, alias)| alias.as_str())
    }

    /// Everyone who has a message here, with the alias of their newest one.
    pub fn senders(&self) -> impl Iterator<Item = (&str, &str)> {
        self.senders.iter().map(|(sender, (_, alias))| (sender.as_str(), alias.as_str()))
    }

    /// Marks our message `id` as committed under `key`.
    pub fn acknowledge(&mut self, id: &str, key: &str, time_ms: u64) {
        if let Some(mut message) = self.get(id).cloned() {
            message.key = Some(key.to_owned());
            message.time_ms = Some(time_ms);
            message.delivery = Delivery::Sent;
            self.upsert(message);
        }
    }

    /// Removes a message (a failed one the user discards).
    pub fn remove(&mut self, id: &str) -> Option<ChatMessage> {
        let pos = self.position.remove(id)?;
        self.order.remove(&pos)
    }

    /// The newest committed key.
    pub fn newest_key(&self) -> Option<&str> {
        self.order.values().rev().find_map(|m| m.key.as_deref())
    }

    /// Marks our message `id` as refused.
    pub fn fail(&mut self, id: &str, reason: String) {
        if let Some(pos) = self.position.get(id)
            && let Some(message) = self.order.get_mut(pos)
        {
            message.delivery = Delivery::Failed(reason);
        }
    }

    pub fn get(&self, id: &str) -> Option<&ChatMessage> {
        self.position.get(id).and_then(|pos| self.order.get(pos))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Messages in display order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &ChatMessage> {
        self.order.values()
    }

    /// The oldest committed key (the cursor for loading older history).
    pub fn oldest_key(&self) -> Option<&str> {
        self.order.values().find_map(|m| m.key.as_deref())
    }

    /// The oldest message's id.
    pub fn first_id(&self) -> Option<&str> {
        self.order.values().next().map(|m| m.id.as_str())
    }

    /// The newest message's id (a pending one of ours, if any).
    pub fn last_id(&self) -> Option<&str> {
        self.order.values().next_back().map(|m| m.id.as_str())
    }

    /// The newest `n` messages, oldest first.
    pub fn newest(&self, n: usize) -> Vec<ChatMessage> {
        let mut rows: Vec<ChatMessage> = self.order.values().rev().take(n).cloned().collect();
        rows.reverse();
        rows
    }

    /// The messages from `from` through `to` (through the newest when `None`), at most
    /// `max` of them; `None` when `from` is not in the timeline.
    pub fn span(&self, from: &str, to: Option<&str>, max: usize) -> Option<Vec<ChatMessage>> {
        let start = self.position.get(from)?;
        let mut rows = Vec::new();
        for m in self.order.range(start.clone()..).map(|(_, m)| m).take(max) {
            rows.push(m.clone());
            if Some(m.id.as_str()) == to {
                break;
            }
        }
        Some(rows)
    }

    /// The id `n` messages older than `id` (the oldest one if fewer exist).
    pub fn id_before(&self, id: &str, n: usize) -> Option<&str> {
        let pos = self.position.get(id)?;
        let older = self.order.range(..pos.clone()).rev().take(n).last().map(|(_, m)| m.id.as_str());
        Some(older.unwrap_or(self.get(id)?.id.as_str()))
    }

    /// The id `n` messages newer than `id` (the newest one if fewer exist).
    pub fn id_after(&self, id: &str, n: usize) -> Option<&str> {
        let pos = self.position.get(id)?;
        let newer = self.order.range(pos.clone()..).skip(1).take(n).last().map(|(_, m)| m.id.as_str());
        Some(newer.unwrap_or(self.get(id)?.id.as_str()))
    }

    /// How many messages run from `from` through `to`, counting at most `limit`.
    pub fn count_between(&self, from: &str, to: &str, limit: usize) -> usize {
        let (Some(start), Some(end)) = (self.position.get(from), self.position.get(to)) else { return 0 };
        if start > end {
            return 0;
        }
        self.order.range(start.clone()..=end.clone()).take(limit).count()
    }

    /// The first message from someone else committed after `key`: where a returning
    /// reader's unread messages begin.
    pub fn first_unread_after(&self, key: &str) -> Option<&str> {
        let after = committed_position(key);
        self.order
            .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .map(|(_, m)| m)
            .find(|m| !m.mine && m.key.is_some())
            .map(|m| m.id.as_str())
    }

    /// How many messages from others were committed after `key`.
    pub fn count_from_others_after(&self, key: &str) -> usize {
        let after = committed_position(key);
        self.order
            .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .filter(|(_, m)| !m.mine && m.key.is_some())
            .count()
    }
}
