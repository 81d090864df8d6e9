//! Room lifecycle on this device: creating a room, reading an invite link, choosing an
//! alias (which creates this browser's identity for the room), forgetting a room.
//!
//! Invite links (their format is in [`crate::invite_link`]) are read here.

use std::collections::BTreeMap;

use protocol::api::CreateAuthorization;
use protocol::content_key::ContentKey;
use protocol::error::ErrorCode;
use protocol::identity::IdentityKey;
use protocol::ids::RoomId;
use protocol::invite;
use protocol::room_state::{MAX_ROOM_NAME_CHARS, SealedMotd, SignedState, StateFields};
use protocol::storage_token;

use crate::crypto;
use crate::invite_link::{self, InviteCard};
use crate::net::{api, explain, retry};
use crate::store::{self, RoomRecord, cache};

/// Longest alias, in characters.
pub const MAX_ALIAS_CHARS: usize = 40;

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

/// What authorises a new room: the server's admin secret, or a storage token (issued out
/// of another room's budget, or minted by the server's operator) whose value becomes the
/// new room's budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funding {
    AdminSecret,
    StorageToken,
    /// A room authorisation from the organisation's SSO, kept on this device.
    Sso,
}

/// Checks what the user typed for `funding` and makes the server's authorisation of it.
pub fn authorization(funding: Funding, text: &str) -> Result<CreateAuthorization, String> {
    let text = text.trim();
    match funding {
        Funding::AdminSecret if text.is_empty() => Err("Enter the server's admin secret.".into()),
        Funding::AdminSecret => Ok(CreateAuthorization::AdminSecret { secret: text.to_owned() }),
        Funding::StorageToken => match storage_token::parse_token(text) {
            Ok(_) => Ok(CreateAuthorization::StorageToken { token: text.to_owned() }),
            Err(_) => Err("That is not a storage token: paste the 43 characters a room owner gave you.".into()),
        },
        Funding::Sso => crate::sso::next_authorization()
            .ok_or_else(|| "No room authorisation on this device: sign in with your organisation first.".into()),
    }
}

/// The first owner-signed state of a room whose invite link carries `key`, with the
/// room's shared `name` (sealed under `key`) when one was given.
pub fn first_state(owner: &IdentityKey, room: &RoomId, key: &ContentKey, capacity: u32, name: &str) -> SignedState {
    let name = name.trim();
    let fields = StateFields {
        version: 1,
        epoch: 0,
        locked: false,
        capacity,
        invite: invite::invite_key(room, key).public_key(),
        invite_epoch: 0,
        motd: None,
        name: (!name.is_empty()).then(|| SealedMotd::seal_room_name(room, 0, key, name, crypto::random_bytes::<12>())),
    };
    SignedState::sign(owner, room, fields)
}

/// Creates a room owned by a fresh identity made in this browser, registers it with the
/// server (authorised by `auth`, signed by the owner key, with the room's first signed
/// state) and remembers it locally.
pub async fn create_room(alias: &str, auth: CreateAuthorization, name: &str) -> Result<RoomRecord, String> {
    let alias = clean_alias(alias)?;
    if name.trim().chars().count() > MAX_ROOM_NAME_CHARS {
        return Err(format!("Keep the room's name under {MAX_ROOM_NAME_CHARS} characters."));
    }
    let owner = crypto::new_identity();
    let room = RoomId::from_owner_key(&owner.public_key());
    let key = crypto::new_content_key();
    // The capacity the server offers new rooms (the owner can change it later).
    let limits = retry::with_retries(&|| false, api::info).await.map_err(|e| explain::describe(&e))?.limits;
    let state = first_state(&owner, &room, &key, limits.default_room_capacity, name);
    // Retried through a dropped connection with the same key. The id comes from this
    // fresh key, so "exists" can only mean an earlier attempt went through (and a token
    // is never spent twice: the server checks for the room first).
    let register = || api::create_room(&room, &owner, &state, auth.clone());
    let registered = match retry::with_retries(&|| false, register).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == ErrorCode::RoomExists => Ok(()),
        Err(e) => Err(e),
    };
    crate::sso::settle(&auth, registered.as_ref().map(|_| ()).map_err(|e| e.code));
    if let Err(e) = registered {
        return Err(match auth {
            CreateAuthorization::SsoToken { .. } => crate::sso::explain(e.code.as_str()),
            _ => explain::describe(&e),
        });
    }
    let record = RoomRecord {
        room: room.to_string(),
        keys: BTreeMap::from([(0, key.to_b64())]),
        identity: Some(owner.to_secret_b64()),
        alias: Some(alias),
        shared_name: Some(name.trim().to_owned()).filter(|n| !n.is_empty()),
        owner: true,
        state_version: 1,
        invite_epoch: Some(0),
        signed_state: Some(state.clone()),
        trusted_epochs: [0].into(),
        ..RoomRecord::default()
    };
    store::save_room(&record).map_err(|e| e.to_string())?;
    Ok(record)
}

/// Where a visit to `/r/<room>#<key>` stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomAccess {
    /// The path is not a room id.
    NotARoom,
    /// Neither the link nor this browser has a key of the room.
    MissingKey,
    /// First visit: an alias is needed before joining; the link's card says which room
    /// it is and who sent the link.
    NeedsAlias(RoomRecord, InviteCard),
    /// Everything needed to join.
    Ready(RoomRecord),
}

/// Combines the link (room id, `#key`) with what this browser remembers. A key from the
/// link for an epoch this browser has no key of is added; a link that carries a
/// *different* key for an epoch it holds never replaces it: the held key stays in use and
/// the conflict is kept for the user to decide ([`use_link_key`]).
pub fn resolve_access(room: &str, fragment_text: &str) -> RoomAccess {
    let Ok(room) = RoomId::parse(room) else { return RoomAccess::NotARoom };
    let from_link = invite_link::parse(fragment_text);
    let card = from_link.as_ref().map(|f| f.card.clone()).unwrap_or_default();
    let from_link = from_link.map(|f| (f.epoch, f.key));
    let record = match (store::load_room(room.as_str()), from_link) {
        (Some(mut record), Some((epoch, key))) => {
            let link_key = key.to_b64();
            match record.keys.get(&epoch) {
                None => {
                    record.keys.insert(epoch, link_key);
                    let _ = store::save_room(&record);
                }
                Some(held) if *held != link_key => {
                    record.link_conflict = Some((epoch, link_key));
                    let _ = store::save_room(&record);
                }
                Some(_) => {}
            }
            record
        }
        (Some(record), None) => record,
        (None, Some((epoch, key))) => {
            let record = RoomRecord {
                room: room.to_string(),
                keys: BTreeMap::from([(epoch, key.to_b64())]),
                ..RoomRecord::default()
            };
            let _ = store::save_room(&record);
            record
        }
        (None, None) => return RoomAccess::MissingKey,
    };
    if record.identity.is_some() && record.alias.is_some() {
        RoomAccess::Ready(record)
    } else {
        RoomAccess::NeedsAlias(record, card)
    }
}

/// Resolves a link conflict: `adopt` replaces the held key of that epoch with the link's
/// (the user trusts the new link), otherwise the link's key is forgotten.
pub fn use_link_key(room: &str, adopt: bool) -> Option<RoomRecord> {
    let mut record = store::load_room(room)?;
    let (epoch, key) = record.link_conflict.take()?;
    if adopt {
        record.keys.insert(epoch, key);
    }
    store::save_room(&record).ok()?;
    Some(record)
}

/// Sets the alias of a first visit and creates this browser's identity for the room.
pub fn choose_alias(mut record: RoomRecord, alias: &str) -> Result<RoomRecord, String> {
    record.alias = Some(clean_alias(alias)?);
    if record.identity.is_none() {
        record.identity = Some(crypto::new_identity().to_secret_b64());
        // A key new to the room says so once the room lets it read.
        record.announce_join = true;
    }
    store::save_room(&record).map_err(|e| e.to_string())?;
    Ok(record)
}

/// What a ready record holds, decoded.
pub struct RoomKeys {
    pub room: RoomId,
    pub identity: IdentityKey,
    pub keys: BTreeMap<u32, ContentKey>,
    pub alias: String,
}

/// Decodes a ready record's keys.
pub fn keys_of(record: &RoomRecord) -> Result<RoomKeys, String> {
    let room = RoomId::parse(&record.room).map_err(|e| e.to_string())?;
    let identity = IdentityKey::from_secret_b64(record.identity.as_deref().unwrap_or_default())
        .map_err(|e| format!("stored identity: {e}"))?;
    let keys = record
        .keys
        .iter()
        .map(|(e, k)| ContentKey::parse(k).map(|k| (*e, k)).map_err(|e| format!("stored key: {e}")))
        .collect::<Result<_, _>>()?;
    Ok(RoomKeys { room, identity, keys, alias: record.alias.clone().unwrap_or_default() })
}

/// Parses a pasted invite link (or bare `room#key`) into the app path to open.
pub fn path_from_link(text: &str) -> Option<String> {
    let text = text.trim();
    let after = text.rsplit_once("/r/").map(|(_, rest)| rest).unwrap_or(text);
    let (room, key) = after.split_once('#').unwrap_or((after, ""));
    let room = RoomId::parse(room.trim_end_matches('/')).ok()?;
    Some(if key.is_empty() { format!("/r/{room}") } else { format!("/r/{room}#{key}") })
}

/// Forgets a room on this device: keys, outbox and cached messages.
pub async fn forget(room: &str) {
    store::forget_room(room);
    let _ = cache::forget(room).await;
}
