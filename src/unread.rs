//! What the room list says about rooms that are not open: how many messages from others
//! arrived since this browser last read the room, and the newest one's first words. The
//! newest page is fetched (signed where the room is locked), verified and decrypted here
//! like any message, so the preview is as trustworthy as the room view and the server
//! learns nothing it did not already know (which rooms this browser reads).

use std::collections::BTreeMap;

use protocol::ids::RoomId;

use crate::net::api;
use crate::rooms;
use crate::session::decode::{Keyring, Roles};
use crate::session::timeline::{Trust, excerpt};
use crate::store::{self, RoomRecord};

/// Messages looked at per room: past this many the count shows as "N+".
pub const COUNT_PAGE: usize = 50;
/// Longest preview, in characters.
pub const PREVIEW_CHARS: usize = 80;

/// A room's unread summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The read marker and newest key it was worked out for (unchanged: still right).
    pub basis: (Option<String>, Option<String>),
    pub count: usize,
    /// More unread messages than [`COUNT_PAGE`].
    pub more: bool,
    /// The newest unread message.
    pub preview: Option<Preview>,
}

/// Who wrote the newest unread message, and its first words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub sender: String,
    pub alias: String,
    pub text: String,
}

impl Summary {
    /// "3", "50+".
    pub fn count_label(&self) -> String {
        if self.more { format!("{}+", self.count) } else { self.count.to_string() }
    }
}

/// Works out `record`'s summary from the server's newest page (none when nothing is
/// unread, or the room cannot be read from here).
pub async fn summarize(record: &RoomRecord) -> Option<Summary> {
    if !record.unread() {
        return None;
    }
    let keys = rooms::keys_of(record).ok()?;
    let locked = record.signed_state.as_ref().is_some_and(|s| s.locked);
    let reader = locked.then_some(&keys.identity);
    let page = api::history(&keys.room, None, COUNT_PAGE, reader).await.ok()?;
    let ring = Keyring::new(keys.room.clone(), keys.identity.clone(), keys.keys.clone());
    let decoded = ring.decode_all(&page.messages, &Roles::default()).await;
    let after = record.last_seen.clone().unwrap_or_default();
    let unread: Vec<_> = decoded
        .iter()
        .filter(|m| !m.mine && m.is_conversation() && m.trust == Trust::Verified)
        .filter(|m| m.key.as_deref().is_some_and(|k| k > after.as_str()))
        .collect();
    let oldest_on_page = page.messages.first().map(|m| m.key.to_string()).unwrap_or_default();
    let more = page.more && oldest_on_page.as_str() > after.as_str();
    let preview = unread.last().map(|m| Preview {
        sender: m.sender.clone(),
        alias: m.alias.clone(),
        text: excerpt(&m.summary(), PREVIEW_CHARS),
    });
    let basis = (record.last_seen.clone(), record.last_activity.clone());
    Some(Summary { basis, count: unread.len(), more, preview })
}

/// Refreshes every known room's newest message key, then the summaries of the unread
/// ones (fetching a page only for rooms where something changed since `previous`);
/// returns the summaries by room id.
pub async fn refresh_all(previous: &BTreeMap<String, Summary>) -> BTreeMap<String, Summary> {
    let records = store::list_rooms();
    let ids: Vec<RoomId> = records.iter().filter_map(|r| RoomId::parse(&r.room).ok()).collect();
    if !ids.is_empty()
        && let Ok(times) = api::last_message_times(ids).await
    {
        for (room, latest) in times.rooms {
            if let Some(latest) = latest {
                let _ = store::update_room(room.as_str(), |r| {
                    if Some(latest.to_string()) > r.last_activity {
                        r.last_activity = Some(latest.to_string());
                    }
                });
            }
        }
    }
    let mut out = BTreeMap::new();
    for record in store::list_rooms() {
        let basis = (record.last_seen.clone(), record.last_activity.clone());
        let known = previous.get(&record.room).filter(|s| s.basis == basis && record.unread());
        let summary = match known {
            Some(same) => Some(same.clone()),
            None => summarize(&record).await,
        };
        if let Some(summary) = summary {
            out.insert(record.room.clone(), summary);
        }
    }
    out
}
