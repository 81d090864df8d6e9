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
    /// The server dropped its content on an `erase` (nothing is left to check or open):
    /// shown as deleted when a delete from its sender or the owner is here, otherwise as
    /// removed by the server.
    Erased,
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

/// What an action message does to the message it points at (by timeline id). Actions
/// are messages (sealed, signed, stored and cached like any), but never rows of their
/// own: the timeline applies them to their target (see [`Timeline::shown`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    Edit { target: String, text: String },
    Delete { target: String },
    React { target: String, emoji: String, on: bool },
}

impl Action {
    /// The action a message body carries, if any.
    pub fn of(content: &Content) -> Option<Action> {
        match content {
            Content::Edit { target, text } => Some(Action::Edit { target: target.id(), text: text.clone() }),
            Content::Delete { target } => Some(Action::Delete { target: target.id() }),
            Content::Reaction { target, emoji, on } => {
                Some(Action::React { target: target.id(), emoji: emoji.clone(), on: *on })
            }
            _ => None,
        }
    }

    pub fn target(&self) -> &str {
        match self {
            Action::Edit { target, .. } | Action::Delete { target } | Action::React { target, .. } => target,
        }
    }
}

/// A change of membership, shown as a system line instead of a message bubble. Who it
/// names is worked out when the line is shown (see `MessageRow`), so a name learnt later
/// (or a local contact name) shows.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberEvent {
    Joined,
    Left,
    /// The owner let this key (base64url) in.
    Accepted {
        member: String,
    },
    /// The owner removed this key.
    Removed {
        member: String,
    },
}

impl MemberEvent {
    pub fn of(content: &Content) -> Option<MemberEvent> {
        match content {
            Content::Joined => Some(MemberEvent::Joined),
            Content::Left => Some(MemberEvent::Left),
            Content::Accepted { member } => Some(MemberEvent::Accepted { member: member.to_b64() }),
            Content::Removed { member } => Some(MemberEvent::Removed { member: member.to_b64() }),
            _ => None,
        }
    }

    /// The line, given the sender's name and a way to name the member it is about.
    pub fn line(&self, sender: &str, name_of: impl Fn(&str) -> String) -> String {
        match self {
            MemberEvent::Joined => format!("{sender} joined the room"),
            MemberEvent::Left => format!("{sender} left the room"),
            MemberEvent::Accepted { member } => format!("{sender} let {} in", name_of(member)),
            MemberEvent::Removed { member } => format!("{sender} removed {}", name_of(member)),
        }
    }
}

/// A message body taken apart for the timeline: its text, what it shares, what it answers,
/// what it does to another message, and the membership change it announces.
#[derive(Default)]
pub struct BodyParts {
    pub text: String,
    pub attachment: Option<Attachment>,
    pub reply_to: Option<String>,
    pub action: Option<Action>,
    pub event: Option<MemberEvent>,
}

impl BodyParts {
    pub fn of(content: &Content) -> BodyParts {
        let text = match content {
            Content::Text { text, .. } | Content::Edit { text, .. } => text.clone(),
            Content::Unsupported => "(a message type this version cannot show)".to_owned(),
            Content::CallEnded { seconds, video } => {
                format!("📞 {} · {}", if *video { "Video call" } else { "Call" }, crate::call::duration(*seconds))
            }
            _ => String::new(),
        };
        let reply_to = match content {
            Content::Text { reply_to: Some(r), .. } => Some(r.id()),
            _ => None,
        };
        BodyParts {
            text,
            attachment: Attachment::of(content),
            reply_to,
            action: Action::of(content),
            event: MemberEvent::of(content),
        }
    }
}

/// Who deleted a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeletedBy {
    Sender,
    Owner,
}

/// One reaction under a message: the label, how many members gave it, and whether this
/// browser is one of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReactionCount {
    pub emoji: String,
    pub count: usize,
    pub mine: bool,
}

/// The message a reply answers, as the reply shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Quote {
    /// The quoted message's sender and alias and the start of its (current) text.
    Found { id: String, sender: String, alias: String, excerpt: String },
    /// Deleted since.
    Deleted,
    /// Not loaded here (older than the loaded history, or unreadable).
    Missing,
}

/// Longest excerpt a reply shows of the message it answers, in characters.
pub const QUOTE_CHARS: usize = 140;

/// What the actions pointing at a message change about it, worked out by the timeline
/// each time rows are taken for display (never cached: actions may arrive in any order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Shown {
    /// The text was replaced by its sender (the row's `text` is the newest edit).
    pub edited: bool,
    pub deleted: Option<DeletedBy>,
    pub reactions: Vec<ReactionCount>,
    pub quote: Option<Quote>,
    /// A new local day starts with this message (its time, or now while it is pending):
    /// the list shows a day separator above it.
    pub day_starts: Option<u64>,
    /// Sent by the same member shortly after the message above (shown without repeating
    /// the name, as Signal and Element group messages).
    pub continued: bool,
}

/// Messages from one sender at most this far apart (ms) are grouped.
pub const GROUP_GAP_MS: u64 = 5 * 60 * 1000;

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
    /// The message this one answers (timeline id).
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Set when this message is an edit, delete or reaction (never a row then).
    #[serde(default)]
    pub action: Option<Action>,
    /// Set when this message announces a membership change (a system line then).
    #[serde(default)]
    pub event: Option<MemberEvent>,
    /// Derived for display by [`Timeline::shown`]; empty in the cache.
    #[serde(skip)]
    pub shown: Shown,
}

impl ChatMessage {
    /// A message people wrote (not an action on another one, not a membership line):
    /// what unread counts, notifications and "N new" count.
    pub fn is_conversation(&self) -> bool {
        self.action.is_none() && self.event.is_none()
    }

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
    /// Action messages by id, with their position (a committed key or a pending number).
    actions: HashMap<String, (String, ChatMessage)>,
    /// Per target id, the ids of the actions pointing at it, in position order.
    by_target: HashMap<String, BTreeMap<String, String>>,
    /// The oldest and newest committed keys among actions (history paging and the read
    /// marker must move past a page of reactions as past a page of messages).
    action_keys: Option<(String, String)>,
    /// The newest committed key of a message this browser wrote (for "Seen by").
    own_newest: Option<String>,
    /// The server said no older messages exist: the oldest loaded one is the room's first.
    history_complete: bool,
}

/// The first `max` characters of `text` on one line, with an ellipsis when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max).collect();
    cut.push('…');
    cut
}

fn committed_position(key: &str) -> String {
    format!("k/{key}")
}

impl Timeline {
    fn next_pending_position(&mut self) -> String {
        self.pending_seq += 1;
        format!("p/{:012}", self.pending_seq)
    }

    /// Records an action (or moves it, pending → committed), keyed by its target.
    fn upsert_action(&mut self, mut message: ChatMessage) {
        let Some(action) = message.action.clone() else { return };
        if let Some((old_pos, existing)) = self.actions.remove(&message.id) {
            if message.key.is_none() && existing.key.is_some() {
                message.key = existing.key.clone();
                message.time_ms = existing.time_ms;
                message.delivery = Delivery::Sent;
            }
            if let Some(list) = self.by_target.get_mut(action.target()) {
                list.remove(&old_pos);
            }
        }
        let pos = match &message.key {
            Some(key) => {
                let (oldest, newest) = self.action_keys.get_or_insert_with(|| (key.clone(), key.clone()));
                if key < oldest {
                    *oldest = key.clone();
                }
                if key > newest {
                    *newest = key.clone();
                }
                committed_position(key)
            }
            None => self.next_pending_position(),
        };
        self.by_target.entry(action.target().to_owned()).or_default().insert(pos.clone(), message.id.clone());
        self.actions.insert(message.id.clone(), (pos, message));
    }

    /// Adds a message, or updates the entry with the same id. A committed copy always
    /// wins over a pending one; a later copy never downgrades `Sent` to `Pending`.
    /// Actions (edits, deletes, reactions) are kept apart and applied to their targets.
    pub fn upsert(&mut self, mut message: ChatMessage) {
        if message.action.is_some() {
            self.upsert_action(message);
            return;
        }
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
            None => self.next_pending_position(),
        };
        self.position.insert(message.id.clone(), pos.clone());
        if message.mine && message.key > self.own_newest {
            self.own_newest = message.key.clone();
        }
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

    /// Removes a message (a failed one the user discards, or a refused action).
    pub fn remove(&mut self, id: &str) -> Option<ChatMessage> {
        if let Some((pos, action)) = self.actions.remove(id) {
            if let Some(list) = action.action.as_ref().and_then(|a| self.by_target.get_mut(a.target())) {
                list.remove(&pos);
            }
            return Some(action);
        }
        let pos = self.position.remove(id)?;
        self.order.remove(&pos)
    }

    /// The server dropped the content of the message stored under `key`: it keeps its
    /// place, with nothing left to show but who sent it and when.
    pub fn erase(&mut self, key: &str) -> Option<ChatMessage> {
        let message = self.order.get_mut(&committed_position(key))?;
        message.text.clear();
        message.attachment = None;
        message.reply_to = None;
        message.trust = Trust::Erased;
        Some(message.clone())
    }

    /// The keys of messages deleted here by `me` (committed deletes, by their sender or
    /// the owner) whose content the server still holds: what to ask it to erase.
    pub fn to_erase(&self, me: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .actions
            .values()
            .filter(|(_, a)| a.sender == me && a.key.is_some())
            .filter_map(|(_, a)| match &a.action {
                Some(Action::Delete { target }) => self.position.get(target).and_then(|p| self.order.get(p)),
                _ => None,
            })
            .filter(|target| target.trust != Trust::Erased)
            .filter_map(|target| target.key.clone())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Whether the oldest loaded message is the room's first (the server said so).
    pub fn set_history_complete(&mut self, complete: bool) {
        self.history_complete = complete;
    }

    /// The newest committed key of a message (not an action) this browser wrote.
    pub fn own_newest_key(&self) -> Option<&str> {
        self.own_newest.as_deref()
    }

    /// The newest committed key (of a message or an action).
    pub fn newest_key(&self) -> Option<&str> {
        let row = self.order.values().rev().find_map(|m| m.key.as_deref());
        let action = self.action_keys.as_ref().map(|(_, newest)| newest.as_str());
        row.max(action)
    }

    /// Marks our message `id` as refused (an action is taken back: it changes nothing).
    pub fn fail(&mut self, id: &str, reason: String) {
        if self.actions.contains_key(id) {
            self.remove(id);
            return;
        }
        if let Some(pos) = self.position.get(id)
            && let Some(message) = self.order.get_mut(pos)
        {
            message.delivery = Delivery::Failed(reason);
        }
    }

    /// A message or an action by id, as received (see [`Timeline::shown`] for display).
    pub fn get(&self, id: &str) -> Option<&ChatMessage> {
        self.position.get(id).and_then(|pos| self.order.get(pos)).or_else(|| self.actions.get(id).map(|(_, m)| m))
    }

    /// `message` as it is to be shown: the newest edit's text, deleted, its reactions and,
    /// for a reply, what it quotes. Actions apply in order (server key, then pending);
    /// an edit after a delete changes nothing. Who may act was checked when each action
    /// was opened ([`protocol::actions::check`]); a delete by anyone other than the
    /// sender can only be the owner's.
    pub fn shown(&self, message: &ChatMessage) -> ChatMessage {
        let mut m = message.clone();
        let mut reactions: Vec<(String, Vec<(String, bool)>)> = Vec::new();
        for id in self.by_target.get(&m.id).into_iter().flat_map(|list| list.values()) {
            let Some((_, action)) = self.actions.get(id) else { continue };
            match action.action.as_ref() {
                Some(Action::Delete { .. }) if m.shown.deleted.is_none() => {
                    m.shown.deleted =
                        Some(if action.sender == m.sender { DeletedBy::Sender } else { DeletedBy::Owner });
                }
                Some(Action::Edit { text, .. }) if m.shown.deleted.is_none() && action.sender == m.sender => {
                    m.text = text.clone();
                    m.shown.edited = true;
                }
                Some(Action::React { emoji, on, .. }) => {
                    let givers = match reactions.iter_mut().find(|(e, _)| e == emoji) {
                        Some((_, givers)) => givers,
                        None => {
                            reactions.push((emoji.clone(), Vec::new()));
                            &mut reactions.last_mut().expect("just pushed").1
                        }
                    };
                    givers.retain(|(sender, _)| *sender != action.sender);
                    if *on {
                        givers.push((action.sender.clone(), action.mine));
                    }
                }
                _ => {}
            }
        }
        if m.shown.deleted.is_some() {
            m.text.clear();
            m.attachment = None;
        } else {
            m.shown.reactions = reactions
                .into_iter()
                .filter(|(_, givers)| !givers.is_empty())
                .map(|(emoji, givers)| ReactionCount {
                    count: givers.len(),
                    mine: givers.iter().any(|(_, mine)| *mine),
                    emoji,
                })
                .collect();
        }
        m.shown.quote =
            m.reply_to.as_ref().map(|target| match self.position.get(target).and_then(|p| self.order.get(p)) {
                None => Quote::Missing,
                Some(quoted) => {
                    let quoted = self.shown_without_quote(quoted);
                    if quoted.shown.deleted.is_some() {
                        Quote::Deleted
                    } else {
                        let text = if quoted.text.is_empty() {
                            quoted.attachment.as_ref().map(Attachment::label).unwrap_or_default()
                        } else {
                            quoted.text.clone()
                        };
                        Quote::Found {
                            id: quoted.id.clone(),
                            sender: quoted.sender.clone(),
                            alias: quoted.alias.clone(),
                            excerpt: excerpt(&text, QUOTE_CHARS),
                        }
                    }
                }
            });
        m
    }

    /// `message` as this device may keep it: a message deleted for everyone loses its
    /// text and attachment before it is cached (the timeline already hides them).
    pub fn for_cache(&self, message: &ChatMessage) -> ChatMessage {
        let mut m = message.clone();
        let deleted = |id: &str| {
            self.position.get(id).and_then(|p| self.order.get(p)).is_some_and(|t| self.shown(t).shown.deleted.is_some())
        };
        let gone = match &m.action {
            None => deleted(&m.id),
            // An edit of a deleted message holds its text too.
            Some(Action::Edit { target, .. }) => deleted(target),
            Some(_) => false,
        };
        if gone {
            m.text.clear();
            m.attachment = None;
            if let Some(Action::Edit { text, .. }) = &mut m.action {
                text.clear();
            }
        }
        m
    }

    /// What to write to the cache after `batch` arrived: the batch (deleted messages
    /// scrubbed) and the earlier messages its deletes remove.
    pub fn cache_writes(&self, batch: &[ChatMessage]) -> Vec<ChatMessage> {
        let mut out: Vec<ChatMessage> = batch.iter().map(|m| self.for_cache(m)).collect();
        for m in batch {
            if let Some(Action::Delete { target }) = &m.action {
                if let Some(deleted) = self.position.get(target).and_then(|p| self.order.get(p)) {
                    out.push(self.for_cache(deleted));
                }
                let edits = self.by_target.get(target).into_iter().flat_map(|list| list.values());
                out.extend(edits.filter_map(|id| self.actions.get(id)).map(|(_, edit)| self.for_cache(edit)));
            }
        }
        out
    }

    /// [`Timeline::shown`] for a quoted message (whose own quote is not shown).
    fn shown_without_quote(&self, message: &ChatMessage) -> ChatMessage {
        let mut plain = message.clone();
        plain.reply_to = None;
        self.shown(&plain)
    }

    /// The newest own text message that is still shown (what Up in an empty composer
    /// edits).
    pub fn last_own_text(&self) -> Option<ChatMessage> {
        self.order
            .values()
            .rev()
            .filter(|m| m.mine && m.attachment.is_none() && m.whisper.is_none() && m.trust == Trust::Verified)
            .map(|m| self.shown(m))
            .find(|m| m.shown.deleted.is_none())
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

    /// The oldest committed key of a message or an action (the cursor for loading older
    /// history).
    pub fn oldest_key(&self) -> Option<&str> {
        let row = self.order.values().find_map(|m| m.key.as_deref());
        let action = self.action_keys.as_ref().map(|(oldest, _)| oldest.as_str());
        match (row, action) {
            (Some(r), Some(a)) => Some(r.min(a)),
            (r, a) => r.or(a),
        }
    }

    /// The oldest message's id.
    pub fn first_id(&self) -> Option<&str> {
        self.order.values().next().map(|m| m.id.as_str())
    }

    /// The newest message's id (a pending one of ours, if any).
    pub fn last_id(&self) -> Option<&str> {
        self.order.values().next_back().map(|m| m.id.as_str())
    }

    /// The newest `n` messages, oldest first, as shown.
    pub fn newest(&self, n: usize) -> Vec<ChatMessage> {
        let mut raw: Vec<(&String, &ChatMessage)> = self.order.iter().rev().take(n).collect();
        raw.reverse();
        self.shown_run(raw)
    }

    /// Consecutive messages as shown, with where days start and which rows continue the
    /// one above (looking one message further back than the run for its first row).
    fn shown_run(&self, run: Vec<(&String, &ChatMessage)>) -> Vec<ChatMessage> {
        let now = js_sys::Date::now() as u64;
        let time = |m: &ChatMessage| m.time_ms.unwrap_or(now);
        let mut previous =
            run.first().and_then(|(pos, _)| self.order.range(..(*pos).clone()).next_back()).map(|(_, m)| m);
        let mut rows = Vec::with_capacity(run.len());
        for (_, raw) in run {
            let mut m = self.shown(raw);
            // Above the oldest loaded message the day is unknown until the page before it
            // arrives (unless it is the room's first): no line there, so that loading it
            // does not move the rows being read.
            let new_day = match previous {
                None => self.history_complete,
                Some(p) => crate::clock::local_day(time(p)) != crate::clock::local_day(time(raw)),
            };
            if new_day {
                m.shown.day_starts = Some(time(raw));
            }
            m.shown.continued = !new_day
                && previous.is_some_and(|p| {
                    p.sender == raw.sender
                        && p.trust == Trust::Verified
                        && raw.trust == Trust::Verified
                        && p.whisper.is_none()
                        && raw.whisper.is_none()
                        && p.event.is_none()
                        && raw.event.is_none()
                        && time(raw).saturating_sub(time(p)) <= GROUP_GAP_MS
                });
            previous = Some(raw);
            rows.push(m);
        }
        rows
    }

    /// The messages from `from` through `to` (through the newest when `None`), at most
    /// `max` of them; `None` when `from` is not in the timeline.
    pub fn span(&self, from: &str, to: Option<&str>, max: usize) -> Option<Vec<ChatMessage>> {
        let start = self.position.get(from)?;
        let mut run = Vec::new();
        for (pos, m) in self.order.range(start.clone()..).take(max) {
            run.push((pos, m));
            if Some(m.id.as_str()) == to {
                break;
            }
        }
        Some(self.shown_run(run))
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
            .find(|m| !m.mine && m.key.is_some() && m.event.is_none())
            .map(|m| m.id.as_str())
    }

    /// How many messages from others were committed after `key`.
    pub fn count_from_others_after(&self, key: &str) -> usize {
        let after = committed_position(key);
        self.order
            .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .filter(|(_, m)| !m.mine && m.key.is_some() && m.event.is_none())
            .count()
    }
}
