//! Telling the user about new messages while the tab is hidden: an unread count in the
//! tab title and, if they allowed it (asked on a click), a Web Notification per room,
//! at most one per [`NOTIFY_EVERY_MS`]. Notifications name the room and the sender, never
//! the text: the system may show them on a lock screen.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use web_sys::{Notification, NotificationOptions, NotificationPermission, VisibilityState};

/// Shortest time between two notifications of one room.
pub const NOTIFY_EVERY_MS: f64 = 30_000.0;
const TITLE: &str = "Cloakroom";

thread_local! {
    static UNREAD: Cell<u32> = const { Cell::new(0) };
    static LAST_NOTIFIED: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

/// True when the page is in the foreground.
pub fn page_visible() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .map(|d| d.visibility_state() == VisibilityState::Visible)
        .unwrap_or(true)
}

fn set_title(unread: u32) {
    if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
        doc.set_title(&if unread == 0 { TITLE.to_owned() } else { format!("({unread}) {TITLE}") });
    }
}

/// Clears the unread count (the user is looking).
pub fn reset_unread() {
    UNREAD.with(|u| u.set(0));
    set_title(0);
}

/// Whether notifications may be shown.
pub fn permission() -> NotificationPermission {
    Notification::permission()
}

/// Asks for permission (call from a click handler: browsers require a user gesture).
pub fn request_permission() {
    if let Ok(promise) = Notification::request_permission() {
        leptos::task::spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        });
    }
}

/// A message from someone else arrived in `room_name`.
pub fn incoming(room_name: &str, sender: &str) {
    if page_visible() {
        return;
    }
    let unread = UNREAD.with(|u| {
        u.set(u.get() + 1);
        u.get()
    });
    set_title(unread);
    if permission() != NotificationPermission::Granted {
        return;
    }
    let now = js_sys::Date::now();
    let due = LAST_NOTIFIED.with(|m| {
        let mut m = m.borrow_mut();
        let last = m.get(room_name).copied().unwrap_or(0.0);
        if now - last < NOTIFY_EVERY_MS {
            return false;
        }
        m.insert(room_name.to_owned(), now);
        true
    });
    if due {
        let options = NotificationOptions::new();
        options.set_body(&format!("{sender} wrote in {room_name}"));
        options.set_tag(room_name);
        let _ = Notification::new_with_options("New message", &options);
    }
}
