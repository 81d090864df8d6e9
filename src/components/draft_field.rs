//! A form field whose value comes from the server but belongs to the user once they touch
//! it: a reload (the admin panel refreshes on every join request and state change) fills
//! the field only while the user is neither in it nor has edited it, so what they are
//! typing is never replaced under their cursor, and what they submit is what they typed.
//!
//! Both `input` and `change` count as an edit: clearing a field by other means than
//! typing (a WebDriver clear, some autofill and assistive tools) fires only `change`, and
//! a reload arriving between that clear and the next keystroke would otherwise put the
//! old value back for the keystroke to append to ("50" + "1" saved as 501).

use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct DraftField {
    value: RwSignal<String>,
    edited: RwSignal<bool>,
    focused: RwSignal<bool>,
    /// The server's newest value, held while the user is in the field.
    held: RwSignal<Option<String>>,
}

impl DraftField {
    pub fn new() -> Self {
        Self {
            value: RwSignal::new(String::new()),
            edited: RwSignal::new(false),
            focused: RwSignal::new(false),
            held: RwSignal::new(None),
        }
    }

    /// The value as the server has it; ignored while the user's own edit is pending, and
    /// held until they leave the field while they are in it.
    pub fn load(&self, from_server: String) {
        if self.edited.get_untracked() {
            return;
        }
        if self.focused.get_untracked() {
            self.held.set(Some(from_server));
        } else {
            self.value.set(from_server);
        }
    }

    /// The user typed, or changed the value otherwise (`input` or `change`).
    pub fn input(&self, typed: String) {
        self.edited.set(true);
        self.held.set(None);
        self.value.set(typed);
    }

    /// The user entered the field.
    pub fn focus(&self) {
        self.focused.set(true);
    }

    /// The user left the field: a value the server sent meanwhile shows now, unless they
    /// edited it.
    pub fn blur(&self) {
        self.focused.set(false);
        if let Some(held) = self.held.try_update(Option::take).flatten()
            && !self.edited.get_untracked()
        {
            self.value.set(held);
        }
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
