//! Exporting everything to a passphrase-protected file and importing it back, with a merge
//! that shows what it will add or replace and never overwrites silently.
//!
//! The format is `protocol::keys_file` (documented there and in docs/PROTOCOL.md); the key
//! is derived with WebCrypto's PBKDF2 (600,000 iterations by default).

use std::collections::{BTreeMap, BTreeSet};

use protocol::keys_file::{self, DEFAULT_ITERATIONS, KeysBundle, KeysFileError, RoomEntry};

use crate::crypto::{random_bytes, webcrypto};
use crate::store::{self, RoomRecord, StoreError};

/// Shortest passphrase accepted for an export.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

fn entry_of(r: &RoomRecord) -> RoomEntry {
    RoomEntry {
        room: r.room.clone(),
        identity: r.identity.clone(),
        keys: r.keys.clone(),
        alias: r.alias.clone(),
        name: r.name.clone(),
        owner: r.owner,
        last_seen: r.last_seen.clone(),
    }
}

fn record_of(e: &RoomEntry) -> RoomRecord {
    RoomRecord {
        room: e.room.clone(),
        keys: e.keys.clone(),
        identity: e.identity.clone(),
        alias: e.alias.clone(),
        name: e.name.clone(),
        owner: e.owner,
        last_seen: e.last_seen.clone(),
        last_activity: None,
        // The room's signed state is fetched again on the next visit.
        ..RoomRecord::default()
    }
}

/// Everything this browser knows, as an export bundle.
pub fn bundle_now() -> KeysBundle {
    KeysBundle {
        rooms: store::list_rooms().iter().map(entry_of).collect(),
        contacts: store::contacts(),
        verified: store::verified(),
        exported_at: js_sys::Date::now() as u64,
        sso_tokens: crate::sso::tokens(),
    }
}

/// Builds the encrypted file text for `passphrase`.
pub async fn export_file(passphrase: &str, iterations: u32) -> Result<String, String> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(format!("Use a passphrase of at least {MIN_PASSPHRASE_CHARS} characters."));
    }
    let salt = random_bytes::<16>();
    let key = webcrypto::pbkdf2(passphrase, &salt, iterations).await.map_err(|e| e.to_string())?;
    let file = keys_file::seal(&bundle_now(), &key, salt, iterations, random_bytes::<12>());
    serde_json::to_string_pretty(&file).map_err(|e| e.to_string())
}

/// The default iteration count for new files.
pub fn default_iterations() -> u32 {
    DEFAULT_ITERATIONS
}

/// Checks and decrypts a file.
pub async fn read_file(text: &str, passphrase: &str) -> Result<KeysBundle, KeysFileError> {
    let file = keys_file::parse(text)?;
    let key = webcrypto::pbkdf2(passphrase, &file.kdf.salt.0, file.kdf.iterations)
        .await
        .map_err(|e| KeysFileError::Corrupt(e.to_string()))?;
    keys_file::open(&file, &key)
}

/// What an import would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergePlan {
    /// Rooms this browser does not know.
    pub add: Vec<RoomEntry>,
    /// Known rooms with the same identity: only missing keys or names are filled in.
    pub complete: Vec<RoomEntry>,
    /// Known rooms where the file holds a *different* identity: replaced only if chosen.
    pub conflicts: Vec<RoomEntry>,
    /// Rooms already identical.
    pub unchanged: usize,
    /// Contacts this browser does not have.
    pub new_contacts: BTreeMap<String, String>,
    /// Contacts named differently here: (key, name here, name in the file).
    pub renamed_contacts: Vec<(String, String, String)>,
    /// Safety-number verifications this browser does not have (always added: each is a
    /// comparison the user made).
    pub new_verified: BTreeMap<String, protocol::keys_file::VerifiedContact>,
    /// Unspent SSO room authorisations this browser does not have (always added).
    pub new_sso_tokens: Vec<protocol::sso::KeptToken>,
}

fn completes(local: &RoomRecord, incoming: &RoomEntry) -> bool {
    incoming.keys.keys().any(|e| !local.keys.contains_key(e))
        || (local.alias.is_none() && incoming.alias.is_some())
        || (local.name.is_none() && incoming.name.is_some())
        || (local.identity.is_none() && incoming.identity.is_some())
}

/// Compares a bundle with what is stored.
pub fn plan(bundle: &KeysBundle) -> MergePlan {
    let mut plan = MergePlan::default();
    for entry in &bundle.rooms {
        match store::load_room(&entry.room) {
            None => plan.add.push(entry.clone()),
            Some(local) => {
                let different_identity =
                    local.identity.is_some() && entry.identity.is_some() && local.identity != entry.identity;
                if different_identity {
                    plan.conflicts.push(entry.clone());
                } else if completes(&local, entry) {
                    plan.complete.push(entry.clone());
                } else {
                    plan.unchanged += 1;
                }
            }
        }
    }
    let contacts = store::contacts();
    for (key, name) in &bundle.contacts {
        match contacts.get(key) {
            None => {
                plan.new_contacts.insert(key.clone(), name.clone());
            }
            Some(here) if here != name => plan.renamed_contacts.push((key.clone(), here.clone(), name.clone())),
            Some(_) => {}
        }
    }
    let verified = store::verified();
    plan.new_verified = bundle
        .verified
        .iter()
        .filter(|(key, _)| !verified.contains_key(*key))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let here = crate::sso::tokens();
    let now = js_sys::Date::now() as u64;
    plan.new_sso_tokens =
        bundle.sso_tokens.iter().filter(|t| t.not_after > now && !here.contains(t)).cloned().collect();
    plan
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeSummary {
    pub added: usize,
    pub completed: usize,
    pub replaced: usize,
    pub contacts: usize,
    pub verified: usize,
    pub sso_tokens: usize,
}

/// Applies a plan: adds and completes always; replaces only the rooms in `replace`;
/// renames contacts only if `rename_contacts`.
pub fn apply(plan: &MergePlan, replace: &BTreeSet<String>, rename_contacts: bool) -> Result<MergeSummary, StoreError> {
    let mut summary = MergeSummary::default();
    for entry in &plan.add {
        store::save_room(&record_of(entry))?;
        summary.added += 1;
    }
    for entry in &plan.complete {
        store::update_room(&entry.room, |local| {
            for (epoch, key) in &entry.keys {
                local.keys.entry(*epoch).or_insert_with(|| key.clone());
            }
            local.identity = local.identity.clone().or_else(|| entry.identity.clone());
            local.alias = local.alias.clone().or_else(|| entry.alias.clone());
            local.name = local.name.clone().or_else(|| entry.name.clone());
            local.owner |= entry.owner && local.identity == entry.identity;
        })?;
        summary.completed += 1;
    }
    for entry in plan.conflicts.iter().filter(|e| replace.contains(&e.room)) {
        store::save_room(&record_of(entry))?;
        store::save_outbox(&entry.room, &[])?;
        summary.replaced += 1;
    }
    let mut contacts = store::contacts();
    for (key, name) in &plan.new_contacts {
        contacts.insert(key.clone(), name.clone());
        summary.contacts += 1;
    }
    if rename_contacts {
        for (key, _, name) in &plan.renamed_contacts {
            contacts.insert(key.clone(), name.clone());
            summary.contacts += 1;
        }
    }
    store::save_contacts(&contacts)?;
    if !plan.new_verified.is_empty() {
        let mut verified = store::verified();
        verified.extend(plan.new_verified.iter().map(|(k, v)| (k.clone(), v.clone())));
        store::save_verified(&verified)?;
        summary.verified = plan.new_verified.len();
    }
    if !plan.new_sso_tokens.is_empty() {
        summary.sso_tokens = crate::sso::add_tokens(plan.new_sso_tokens.clone()).map_err(StoreError)?;
    }
    Ok(summary)
}
