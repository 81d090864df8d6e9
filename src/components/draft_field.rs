//! A form field whose value comes from the server but belongs to the user once they type:
//! a reload (the admin panel refreshes on every join request and state change) fills the
//! field only while the user has not edited it, so what they are typing is never replaced
//! under their cursor, and what they submit is what they typed.

use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct DraftField {
    value: RwSignal<String>,
    edited: RwSignal<bool>,
}

impl DraftField {
    pub fn new() -> Self {
        Self { value: RwSignal::new(String::new()), edited: RwSignal::new(false) }
    }

    /// The value as the server has it; ignored while the user's own edit is pending.
    pub fn load(&self, from_server: String) {
        if !self.edited.get_untracked() {
            self.value.set(from_server);
        }
    }

    /// The user typed.
    pub fn input(&self, typed: String) {
        self.edited.set(true);
        self.value.set(typed);
    }

    /// The user's edit was saved: the next load shows the server's value again.
    pub fn saved(&self) {
        self.edited.set(false);
    }

    pub fn get(&self) -> String {
        self.value.get()
    }

    pub fn get_untracked(&self) -> String {
        self.value.get_untracked()
    }
}

impl Default for DraftField {
    fn default() -> Self {
        Self::new()
    }
}
