//! Local names for other members ("contacts") and safety-number verifications, per public
//! key, shared by every view. They live only in this browser (and in its export file).
//!
//! A verification records the room and the alias the member used when their safety
//! number was compared. Identities are per room, so a person who reappears in that room
//! under the same name with another key (a new device, or someone else, or a key the
//! server substituted) is flagged by [`Contacts::impostor_of`] until it is verified too.

use std::collections::BTreeMap;

use leptos::prelude::*;
use protocol::keys_file::VerifiedContact;

use crate::store;

/// The contact book, provided once by the app.
#[derive(Clone, Copy)]
pub struct Contacts {
    names: RwSignal<BTreeMap<String, String>>,
    verified: RwSignal<BTreeMap<String, VerifiedContact>>,
}

/// Creates the contact book from storage and provides it to every view.
pub fn provide() {
    provide_context(Contacts { names: RwSignal::new(store::contacts()), verified: RwSignal::new(store::verified()) });
}

pub fn use_contacts() -> Contacts {
    expect_context::<Contacts>()
}

/// A name as compared for look-alikes: case, spaces and invisible format characters
/// (bidi controls, zero-width joiners) do not make two names different.
fn comparable(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && !protocol::names::is_format_char(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

impl Contacts {
    /// The name to show for `key`: its local name, else the alias it chose.
    pub fn name(&self, key: &str, alias: &str) -> String {
        self.names.with(|c| c.get(key).cloned()).unwrap_or_else(|| {
            let alias = alias.trim();
            if alias.is_empty() { "Anonymous".to_owned() } else { alias.to_owned() }
        })
    }

    /// The local name of `key`, if any.
    pub fn local_name(&self, key: &str) -> Option<String> {
        self.names.with(|c| c.get(key).cloned())
    }

    /// Sets (or, with an empty name, removes) the local name of `key`.
    pub fn rename(&self, key: &str, name: &str) -> Result<(), String> {
        let name = name.trim();
        if name.chars().count() > crate::rooms::MAX_ALIAS_CHARS {
            return Err(format!("Keep names under {} characters.", crate::rooms::MAX_ALIAS_CHARS));
        }
        self.names.update(|c| {
            if name.is_empty() {
                c.remove(key);
            } else {
                c.insert(key.to_owned(), name.to_owned());
            }
        });
        store::save_contacts(&self.names.get_untracked()).map_err(|e| e.to_string())
    }

    /// Whether the user compared the safety number of `key` (tracked).
    pub fn is_verified(&self, key: &str) -> bool {
        self.verified.with(|v| v.contains_key(key))
    }

    /// Records that the safety number of `key` in `room` matched; `alias` is the name the
    /// member uses there now.
    pub fn mark_verified(&self, room: &str, key: &str, alias: &str, now_ms: u64) -> Result<(), String> {
        let entry = VerifiedContact { room: room.to_owned(), alias: alias.trim().to_owned(), at: now_ms };
        self.verified.update(|v| {
            v.insert(key.to_owned(), entry);
        });
        store::save_verified(&self.verified.get_untracked()).map_err(|e| e.to_string())
    }

    /// Forgets the verification of `key`.
    pub fn clear_verified(&self, key: &str) -> Result<(), String> {
        self.verified.update(|v| {
            v.remove(key);
        });
        store::save_verified(&self.verified.get_untracked()).map_err(|e| e.to_string())
    }

    /// If `key`, unverified, uses in `room` the name of a member verified there with
    /// another key: that member's name as shown (tracked).
    pub fn impostor_of(&self, room: &str, key: &str, alias: &str) -> Option<String> {
        if self.is_verified(key) {
            return None;
        }
        let claimed = comparable(alias);
        if claimed.is_empty() {
            return None;
        }
        self.verified.with(|verified| {
            verified.iter().filter(|(k, v)| v.room == room && k.as_str() != key).find_map(|(k, v)| {
                let local = self.local_name(k);
                let same = comparable(&v.alias) == claimed || local.as_deref().map(comparable) == Some(claimed.clone());
                same.then(|| local.unwrap_or_else(|| v.alias.clone()))
            })
        })
    }

    /// Reloads from storage (after an import).
    pub fn reload(&self) {
        self.names.set(store::contacts());
        self.verified.set(store::verified());
    }
}
