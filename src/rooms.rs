//! Room lifecycle on this device: creating a room, reading an invite link, choosing an
//! alias (which creates this browser's identity for the room).

use protocol::content_key::ContentKey;
use protocol::identity::IdentityKey;
use protocol::ids::RoomId;

use crate::crypto;
use crate::net::{self, api};
use crate::store::{self, RoomRecord};

/// Longest alias, in characters.
pub const MAX_ALIAS_CHARS: usize = 40;

/// The invite link of a room: the content key rides in the `#fragment`, which browsers
/// never send to servers.
pub fn invite_link(record: &RoomRecord) -> String {
    format!("{}/r/{}#{}", net::origin(), record.room, record.content_key)
}

/// Validates an alias typed by the user.
pub fn clean_alias(alias: &str) -> Result<String, String> {
    let alias = alias.trim();
    if alias.is_empty() {
        return Err("Choose a name others will see.".into());
    }
    if alias.chars().count() > MAX_ALIAS_CHARS {
        return Err(format!("Keep the name under {MAX_ALIAS_CHARS} characters."));
    }
    Ok(alias.to_owned())
}

/// Creates a room owned by a fresh identity made in this browser, registers it with the
/// server (authorised by the admin secret) and remembers it locally.
pub async fn create_room(alias: &str, admin_secret: &str) -> Result<RoomRecord, String> {
    let alias = clean_alias(alias)?;
    if admin_secret.trim().is_empty() {
        return Err("Enter the server's admin secret.".into());
    }
    let owner = crypto::new_identity();
    let room = RoomId::from_owner_key(&owner.public_key());
    let key = crypto::new_content_key();
    api::create_room(&room, &owner.public_key(), admin_secret.trim()).await.map_err(|e| e.message)?;
    let record = RoomRecord {
        room: room.to_string(),
        content_key: key.to_b64(),
        identity: Some(owner.to_secret_b64()),
        alias: Some(alias),
        owner: true,
    };
    store::save_room(&record).map_err(|e| e.to_string())?;
    Ok(record)
}

/// Where a visit to `/r/<room>#<key>` stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomAccess {
    /// The path is not a room id.
    NotARoom,
    /// Neither the link nor this browser has the room's key.
    MissingKey,
    /// First visit: an alias is needed before joining.
    NeedsAlias(RoomRecord),
    /// Everything needed to join.
    Ready(RoomRecord),
}

/// Combines the link (room id, `#key`) with what this browser remembers. A key in the
/// link is saved; a different key than the stored one replaces it (the link is newer).
pub fn resolve_access(room: &str, fragment: &str) -> RoomAccess {
    let Ok(room) = RoomId::parse(room) else { return RoomAccess::NotARoom };
    let link_key = ContentKey::parse(fragment.trim_start_matches('#')).ok().map(|k| k.to_b64());
    let stored = store::load_room(room.as_str());
    let record = match (stored, link_key) {
        (Some(mut record), Some(key)) => {
            if record.content_key != key {
                record.content_key = key;
                let _ = store::save_room(&record);
            }
            record
        }
        (Some(record), None) => record,
        (None, Some(key)) => {
            let record =
                RoomRecord { room: room.to_string(), content_key: key, identity: None, alias: None, owner: false };
            let _ = store::save_room(&record);
            record
        }
        (None, None) => return RoomAccess::MissingKey,
    };
    if record.identity.is_some() && record.alias.is_some() {
        RoomAccess::Ready(record)
    } else {
        RoomAccess::NeedsAlias(record)
    }
}

/// Sets the alias of a first visit and creates this browser's identity for the room.
pub fn choose_alias(mut record: RoomRecord, alias: &str) -> Result<RoomRecord, String> {
    record.alias = Some(clean_alias(alias)?);
    if record.identity.is_none() {
        record.identity = Some(crypto::new_identity().to_secret_b64());
    }
    store::save_room(&record).map_err(|e| e.to_string())?;
    Ok(record)
}

/// The keys a ready record holds.
pub fn keys_of(record: &RoomRecord) -> Result<(RoomId, IdentityKey, ContentKey, String), String> {
    let room = RoomId::parse(&record.room).map_err(|e| e.to_string())?;
    let identity = IdentityKey::from_secret_b64(record.identity.as_deref().unwrap_or_default())
        .map_err(|e| format!("stored identity: {e}"))?;
    let key = ContentKey::parse(&record.content_key).map_err(|e| format!("stored key: {e}"))?;
    Ok((room, identity, key, record.alias.clone().unwrap_or_default()))
}

/// Parses a pasted invite link (or bare `room#key`) into the app path to open.
pub fn path_from_link(text: &str) -> Option<String> {
    let text = text.trim();
    let after = text.rsplit_once("/r/").map(|(_, rest)| rest).unwrap_or(text);
    let (room, key) = after.split_once('#').unwrap_or((after, ""));
    let room = RoomId::parse(room.trim_end_matches('/')).ok()?;
    Some(if key.is_empty() { format!("/r/{room}") } else { format!("/r/{room}#{key}") })
}
