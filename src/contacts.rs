//! Local names for other members ("contacts"), per public key, shared by every view.
//! They live only in this browser (and in its export file).

use std::collections::BTreeMap;

use leptos::prelude::*;

use crate::store;

/// The contact book, provided once by the app.
#[derive(Clone, Copy)]
pub struct Contacts(pub RwSignal<BTreeMap<String, String>>);

/// Creates the contact book from storage and provides it to every view.
pub fn provide() {
    provide_context(Contacts(RwSignal::new(store::contacts())));
}

pub fn use_contacts() -> Contacts {
    expect_context::<Contacts>()
}

impl Contacts {
    /// The name to show for `key`: its local name, else the alias it chose.
    pub fn name(&self, key: &str, alias: &str) -> String {
        self.0.with(|c| c.get(key).cloned()).unwrap_or_else(|| {
            let alias = alias.trim();
            if alias.is_empty() { "Anonymous".to_owned() } else { alias.to_owned() }
        })
    }

    /// The local name of `key`, if any.
    pub fn local_name(&self, key: &str) -> Option<String> {
        self.0.with(|c| c.get(key).cloned())
    }

    /// Sets (or, with an empty name, removes) the local name of `key`.
    pub fn rename(&self, key: &str, name: &str) -> Result<(), String> {
        let name = name.trim();
        if name.chars().count() > crate::rooms::MAX_ALIAS_CHARS {
            return Err(format!("Keep names under {} characters.", crate::rooms::MAX_ALIAS_CHARS));
        }
        self.0.update(|c| {
            if name.is_empty() {
                c.remove(key);
            } else {
                c.insert(key.to_owned(), name.to_owned());
            }
        });
        store::save_contacts(&self.0.get_untracked()).map_err(|e| e.to_string())
    }

    /// Reloads from storage (after an import).
    pub fn reload(&self) {
        self.0.set(store::contacts());
    }
}
