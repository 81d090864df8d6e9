//! Telling the user about new messages while the tab is hidden: an unread count in the
//! tab title and, if they allowed it (asked on a click), a Web Notification per room,
//! at most one per [`NOTIFY_EVERY_MS`]. Notifications name the room and the sender, never
//! the text: the system may show them on a lock screen.
//!
//! Not every browser has Web Notifications (Safari on iOS outside a home-screen app,
//! some embedded WebKit views): there the title count still works and the settings say
//! notifications are not available, instead of the page failing on a missing global.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use wasm_bindgen::JsCast;
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
/// Shows `total` unread messages (over every room, from the room list) in the tab title.
pub fn set_unread_total(total: u32) {
    set_title(total);
}

pub fn reset_unread() {
    UNREAD.with(|u| u.set(0));
    set_title(0);
}

/// Whether this browser has Web Notifications at all.
pub fn supported() -> bool {
    web_sys::window().is_some_and(|w| js_sys::Reflect::has(&w, &"Notification".into()).unwrap_or(false))
}

/// Where notifications stand, in the settings' words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// The browser has no Web Notifications.
    Unavailable,
    /// Not asked yet (or the question was dismissed).
    NotAsked,
    Granted,
    Denied,
}

impl Permission {
    pub fn sentence(self) -> &'static str {
        match self {
            Permission::Unavailable => {
                "This browser cannot show notifications; the tab title still counts new messages."
            }
            Permission::NotAsked => "Notifications are off: the browser will ask when you allow them.",
            Permission::Granted => "Notifications are on for this browser.",
            Permission::Denied => {
                "Notifications are blocked for this site: allow them in the browser's site settings to turn them on."
            }
        }
    }
}

/// Whether notifications may be shown.
pub fn permission() -> Permission {
    if !supported() {
        return Permission::Unavailable;
    }
    match Notification::permission() {
        NotificationPermission::Granted => Permission::Granted,
        NotificationPermission::Denied => Permission::Denied,
        _ => Permission::NotAsked,
    }
}

/// Asks for permission (call from a click handler: browsers require a user gesture);
/// `answered` gets the outcome once the person has chosen.
pub fn request_permission(answered: impl FnOnce(Permission) + 'static) {
    if !supported() {
        answered(Permission::Unavailable);
        return;
    }
    match Notification::request_permission() {
        // Older Safari answers through a callback and returns nothing: read the state again.
        Ok(promise) if promise.is_instance_of::<js_sys::Promise>() => {
            leptos::task::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
                answered(permission());
            });
        }
        _ => answered(permission()),
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
    if permission() != Permission::Granted {
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

/// Someone calls this browser in `room_name`: a notification when the page is hidden.
pub fn incoming_call(room_name: &str, caller: &str) {
    if page_visible() || permission() != Permission::Granted {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(&format!("{caller} is calling you in {room_name}"));
    options.set_tag(&format!("call:{room_name}"));
    let _ = Notification::new_with_options("Incoming call", &options);
}
