//! Invite links: `…/r/<room id>#[<epoch>.]<content key>[&name=…][&owner=…][&from=…]`.
//!
//! The fragment never reaches a server. The key of epoch 0 is written without its epoch;
//! a later epoch's (a room unlocked after a re-key) as `<epoch>.<key>`.
//!
//! The optional **invite card** after the key (the room's shared name, the owner's alias
//! and the alias of the member who made the link) lets the join screen say which room this is and who sent it
//! before the newcomer joins, without asking the server anything: a stranger who knows
//! only the room id learns nothing, and the sender of the link, who holds the key anyway,
//! vouches for all of it. Once joined, the owner-signed state's name replaces the card's. The
//! local name a member gave the room never goes into a link.

use protocol::content_key::ContentKey;
use protocol::room_state::MAX_ROOM_NAME_CHARS;

use crate::net;
use crate::rooms::MAX_ALIAS_CHARS;
use crate::store::RoomRecord;

/// What the link says about the room, shown on the join screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InviteCard {
    /// The room's shared name when the link was made.
    pub name: Option<String>,
    /// The owner's alias, as the member who made the link knew it.
    pub owner: Option<String>,
    /// The alias of whoever made the link.
    pub from: Option<String>,
}

/// A parsed fragment: the key of `epoch` and the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFragment {
    pub epoch: u32,
    pub key: ContentKey,
    pub card: InviteCard,
}

/// The fragment (without `#`) for the key `key` (base64url) of `epoch`, with `card`.
pub fn fragment(epoch: u32, key: &str, card: &InviteCard) -> String {
    let mut text = if epoch == 0 { key.to_owned() } else { format!("{epoch}.{key}") };
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    if let Some(name) = card.name.as_deref().and_then(|n| shown(n, MAX_ROOM_NAME_CHARS)) {
        pairs.append_pair("name", &name);
    }
    if let Some(owner) = card.owner.as_deref().and_then(|n| shown(n, MAX_ALIAS_CHARS)) {
        pairs.append_pair("owner", &owner);
    }
    if let Some(from) = card.from.as_deref().and_then(|n| shown(n, MAX_ALIAS_CHARS)) {
        pairs.append_pair("from", &from);
    }
    let pairs = pairs.finish();
    if !pairs.is_empty() {
        text.push('&');
        text.push_str(&pairs);
    }
    text
}

/// Reads a fragment (with or without `#`). A card field that is empty, too long or made
/// only of invisible characters is dropped (cut to its limit when too long); unknown
/// fields are ignored, so later versions can add some.
pub fn parse(fragment: &str) -> Option<LinkFragment> {
    let text = fragment.trim_start_matches('#');
    let (key_part, card_part) = text.split_once('&').unwrap_or((text, ""));
    let (epoch, key) = match key_part.split_once('.') {
        Some((e, k)) => (e.parse().ok()?, k),
        None => (0, key_part),
    };
    let key = ContentKey::parse(key).ok()?;
    let mut card = InviteCard::default();
    for (field, value) in form_urlencoded::parse(card_part.as_bytes()) {
        match field.as_ref() {
            "name" => card.name = shown(&value, MAX_ROOM_NAME_CHARS),
            "owner" => card.owner = shown(&value, MAX_ALIAS_CHARS),
            "from" => card.from = shown(&value, MAX_ALIAS_CHARS),
            _ => {}
        }
    }
    Some(LinkFragment { epoch, key, card })
}

/// The text of a card field as it may be shown: no control or format characters (bidi
/// overrides, zero-width ones: a link must not reorder the words around it), at most
/// `max` characters,
/// `None` when nothing visible is left.
fn shown(text: &str, max: usize) -> Option<String> {
    let kept: String =
        text.chars().filter(|c| !c.is_control() && !protocol::names::is_format_char(*c)).take(max).collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
}

/// The invite link of a room: the key of the owner-signed invite epoch (newcomers prove
/// they hold it), or, before the state is known, the newest key this browser holds; the
/// card names the room's shared name, its owner (`owner_alias`, or this member's alias
/// when this browser owns the room) and this member's alias.
pub fn invite_link(record: &RoomRecord, owner_alias: Option<String>) -> Option<String> {
    let (epoch, key) = match record.invite_epoch {
        Some(epoch) => (epoch, record.keys.get(&epoch)?),
        None => record.keys.iter().next_back().map(|(e, k)| (*e, k))?,
    };
    let owner = if record.owner { record.alias.clone() } else { owner_alias };
    let card = InviteCard { name: record.shared_name.clone(), owner, from: record.alias.clone() };
    Some(format!("{}/r/{}#{}", net::origin(), record.room, fragment(epoch, key, &card)))
}
