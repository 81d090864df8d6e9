//! The room's messages, oldest first, as a window over the timeline (see
//! [`TimelineWindow`]): the DOM holds at most a few pages of rows however long the
//! history, so scrolling, arrivals and older pages cost the same at any depth.
//!
//! Where the view stays, as in Signal and Element:
//! - at the bottom it follows: new messages, a banner above, an image that finishes
//!   loading all keep the newest message in view;
//! - scrolled up it stays put: the top visible row is the anchor, and after rows are
//!   added or dropped above it (older pages, the window moving) the scroll offset is
//!   corrected so that row does not move; a "N new ↓" button jumps back to the newest;
//! - opened with unread messages, a "New messages" line marks where they begin.
//!
//! Older pages are fetched a step ahead of the reader (see `show_older`).
//!
//! Corrections happen before the browser paints: in a ResizeObserver callback (after
//! layout) and in an animation frame after each window change, so nothing visibly jumps.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use leptos::html;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::components::message_row::MessageRow;
use crate::components::system_line::SystemLine;
use crate::session::timeline::Trust;
use crate::session::window::TimelineWindow;
use crate::session::{PAGE, RoomSession};

/// Distance (px) from an end of the scrolled content at which more rows are brought in.
const EXTEND_AT: i32 = 600;
/// Distance (px) from the bottom within which the view counts as "at the newest".
const AT_BOTTOM: i32 = 40;

/// The DOM side of the list: the scroller, the reading anchor and the observer.
#[derive(Clone)]
struct Viewport {
    scroller: NodeRef<html::Div>,
    /// The top visible row and its distance (px) from the scroller's top.
    anchor: Rc<RefCell<Option<(String, f64)>>>,
    /// A window change is waiting to be laid out: scroll events until then describe the
    /// old layout and must not move the anchor.
    settling: Rc<Cell<bool>>,
    frame_requested: Rc<Cell<bool>>,
    /// The scroll offset this list last set itself: a scroll event that finds the view
    /// there is the echo of that correction (dispatched a frame later, perhaps after
    /// more rows arrived), not the reader moving.
    own_scroll_top: Rc<Cell<Option<i32>>>,
    /// The first and last row ids the window holds, once the DOM shows them.
    expected_ends: Rc<RefCell<Option<(String, String)>>>,
}

impl Viewport {
    fn rows(el: &web_sys::Element) -> Option<web_sys::HtmlCollection> {
        el.query_selector("#messages").ok().flatten().map(|list| list.children())
    }

    /// Remembers which row is at the top of the view and where.
    fn record_anchor(&self, el: &web_sys::Element) {
        let top = el.get_bounding_client_rect().top();
        let Some(rows) = Self::rows(el) else { return };
        for i in 0..rows.length() {
            let Some(row) = rows.item(i) else { continue };
            let rect = row.get_bounding_client_rect();
            // (The "New messages" line has no id: it is never the anchor.)
            if let Some(id) = row.get_attribute("data-id")
                && rect.bottom() > top
            {
                *self.anchor.borrow_mut() = Some((id, rect.top() - top));
                return;
            }
        }
    }

    /// Puts the view where it belongs after a layout change: the bottom when following,
    /// else the anchor row back at its recorded offset.
    fn settle(&self, following: bool) {
        self.settling.set(false);
        let Some(el) = self.scroller.try_get_untracked().flatten() else { return };
        if following {
            el.set_scroll_top(el.scroll_height());
            self.own_scroll_top.set(Some(el.scroll_top()));
            return;
        }
        let Some((id, offset)) = self.anchor.borrow().clone() else { return };
        let Some(rows) = Self::rows(&el) else { return };
        let top = el.get_bounding_client_rect().top();
        for i in 0..rows.length() {
            let Some(row) = rows.item(i) else { continue };
            if row.get_attribute("data-id").as_deref() == Some(id.as_str()) {
                let drift = row.get_bounding_client_rect().top() - top - offset;
                if drift.abs() >= 0.5 {
                    el.set_scroll_top(el.scroll_top() + drift.round() as i32);
                    self.own_scroll_top.set(Some(el.scroll_top()));
                }
                return;
            }
        }
    }

    /// Settles in the next animation frame (before it paints), once however often asked.
    /// The ids of the first and last rendered rows, as the DOM has them now.
    fn rendered_ends(&self) -> Option<(String, String)> {
        let el = self.scroller.try_get_untracked().flatten()?;
        let rows = el.query_selector_all("#messages > li[data-id]").ok()?;
        let id = |i: u32| rows.item(i)?.dyn_into::<web_sys::Element>().ok()?.get_attribute("data-id");
        Some((id(0)?, id(rows.length().checked_sub(1)?)?))
    }

    /// Settles in an animation frame (before it paints) once the DOM shows `ends` (the
    /// first and last row ids the window now has), however often asked. Leptos updates
    /// the DOM in its own task, so the frame may come first: then it waits for the next
    /// one (at most a few).
    fn settle_soon(&self, following: RwSignal<bool>, ends: Option<(String, String)>) {
        *self.expected_ends.borrow_mut() = ends;
        if self.frame_requested.replace(true) {
            return;
        }
        self.next_frame(following, 8);
    }

    fn next_frame(&self, following: RwSignal<bool>, tries: u32) {
        let this = self.clone();
        let callback = Closure::once_into_js(move || {
            // The room may have closed before the frame: then there is nothing to do.
            let Some(follow) = following.try_get_untracked() else { return };
            let expected = this.expected_ends.borrow().clone();
            if tries > 0 && expected.is_some() && this.rendered_ends() != expected {
                this.next_frame(following, tries - 1);
                return;
            }
            this.frame_requested.set(false);
            this.settle(follow);
        });
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(callback.unchecked_ref());
        }
    }
}

#[component]
pub fn MessageList(
    session: RoomSession,
    on_name: Callback<(String, String)>,
    /// The read marker when the room was opened: later messages from others are new.
    unread_from: Option<String>,
) -> impl IntoView {
    // A row's open picker or delete confirmation survives the row being rebuilt.
    provide_context(crate::components::row_actions::OpenAction::new());
    let scroller = NodeRef::<html::Div>::new();
    let window = RwSignal::new(TimelineWindow::Newest);
    let following = RwSignal::new(true);
    // The newest key the reader had below them when they left the bottom.
    let left_at = RwSignal::new(None::<String>);
    let view = StoredValue::new_local(Viewport {
        scroller,
        anchor: Rc::new(RefCell::new(None)),
        settling: Rc::new(Cell::new(false)),
        frame_requested: Rc::new(Cell::new(false)),
        own_scroll_top: Rc::new(Cell::new(None)),
        expected_ends: Rc::new(RefCell::new(None)),
    });
    let rows = Memo::new(move |_| session.timeline.with(|t| window.with(|w| w.rows(t))));
    let first_unread = Memo::new(move |_| {
        let from = unread_from.as_deref()?;
        session.timeline.with(|t| t.first_unread_after(from).map(str::to_owned))
    });
    let unseen = Memo::new(move |_| match (following.get(), left_at.get()) {
        (false, Some(key)) => session.timeline.with(|t| t.count_from_others_after(&key)),
        _ => 0,
    });

    // Any change of the rendered rows is laid out, then the view is put back in place.
    Effect::new(move |_| {
        let ends = rows.with(|r| Some((r.first()?.id.clone(), r.last()?.id.clone())));
        view.with_value(|v| v.settle_soon(following, ends));
    });
    // Size changes (a banner above, an image loading, the window resized) likewise.
    let observer = {
        let callback = Closure::<dyn FnMut()>::new(move || {
            if let Some(following) = following.try_get_untracked() {
                view.try_with_value(|v| v.settle(following));
            }
        });
        let observer = web_sys::ResizeObserver::new(callback.as_ref().unchecked_ref()).ok();
        StoredValue::new_local((observer, callback))
    };
    Effect::new(move |_| {
        let Some(el) = scroller.get() else { return };
        observer.with_value(|(observer, _)| {
            if let Some(observer) = observer {
                observer.observe(&el);
                if let Ok(Some(list)) = el.query_selector("#messages") {
                    observer.observe(&list);
                }
            }
        });
    });
    on_cleanup(move || {
        observer.with_value(|(observer, _)| {
            if let Some(observer) = observer {
                observer.disconnect();
            }
        })
    });

    let jump_to_latest = move || {
        window.set(TimelineWindow::Newest);
        following.set(true);
        left_at.set(None);
        session.mark_seen();
    };
    // Our own message: show it, as every messenger does.
    Effect::new(move |previous: Option<u64>| {
        let sent = session.sent.get();
        if previous.is_some_and(|p| p != sent) {
            jump_to_latest();
        }
        sent
    });
    // Older rows: from memory when the window does not start at the oldest loaded
    // message, else a page from the cache or the server, shown when it arrives.
    let wants_older = StoredValue::new(false);
    let show_older = move || {
        let mut w = window.get_untracked();
        if !session.timeline.with_untracked(|t| w.extend_up(t)) {
            return false;
        }
        view.with_value(|v| v.settling.set(true));
        following.set(false);
        // Keep a page loaded above the window: fetch the next one as soon as fewer rows
        // are left, so that a reader moving up at reading speed never waits for it.
        let running_out = session.timeline.with_untracked(|t| {
            let (Some(oldest), Some(first)) = (t.first_id(), w.rows(t).first().map(|m| m.id.clone())) else {
                return false;
            };
            t.count_between(oldest, &first, PAGE + 1) <= PAGE
        });
        window.set(w);
        if running_out && session.more_history.get_untracked() {
            session.load_older();
        }
        true
    };
    let older = move || {
        if !show_older() && session.more_history.get_untracked() {
            wants_older.set_value(true);
            session.load_older();
        }
    };
    Effect::new(move |_| {
        if !session.loading_older.get() && wants_older.get_value() {
            wants_older.set_value(false);
            show_older();
        }
    });
    let on_scroll = move |_| {
        let Some(el) = scroller.get_untracked() else { return };
        if view.with_value(|v| v.settling.get()) {
            return;
        }
        if view.with_value(|v| v.own_scroll_top.get()) == Some(el.scroll_top()) {
            // Our own correction echoing back: the reader did not move.
            return;
        }
        let from_bottom = el.scroll_height() - el.scroll_top() - el.client_height();
        let reaches_newest = session.timeline.with_untracked(|t| window.with_untracked(|w| w.reaches_newest(t)));
        if from_bottom < AT_BOTTOM && reaches_newest {
            if !following.get_untracked() {
                jump_to_latest();
            }
            session.mark_seen();
        } else if following.get_untracked() {
            following.set(false);
            left_at.set(session.timeline.with_untracked(|t| t.newest_key().map(str::to_owned)));
            let mut w = window.get_untracked();
            session.timeline.with_untracked(|t| w.freeze(t));
            window.set(w);
        }
        view.with_value(|v| v.record_anchor(&el));
        if el.scroll_top() < EXTEND_AT {
            older();
        } else if from_bottom < EXTEND_AT && !reaches_newest {
            let mut w = window.get_untracked();
            if session.timeline.with_untracked(|t| w.extend_down(t)) {
                view.with_value(|v| v.settling.set(true));
                window.set(w);
            }
        }
    };
    // The timeline is one tab stop: arrow keys move between rows, Home / End go to the
    // first / newest rendered row, Enter opens the focused row's sender card, Escape
    // returns to the timeline.
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        let Some(el) = scroller.get_untracked() else { return };
        let Ok(rows) = el.query_selector_all("#messages > li[data-id]") else { return };
        let row = |i: u32| rows.item(i).and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok());
        let active = web_sys::window().and_then(|w| w.document()).and_then(|d| d.active_element());
        let current = (0..rows.length()).find(|&i| row(i).is_some_and(|r| active.as_ref() == Some(r.as_ref())));
        let last = rows.length().checked_sub(1);
        let target = match (ev.key().as_str(), current) {
            ("ArrowUp", Some(i)) => i.checked_sub(1),
            ("ArrowDown", Some(i)) => Some((i + 1).min(last.unwrap_or(0))),
            // From the timeline itself, up starts at the newest row.
            ("ArrowUp", None) | ("End", _) => last,
            ("ArrowDown", None) => None,
            ("Home", _) => (rows.length() > 0).then_some(0),
            ("Enter", Some(i)) => {
                if let Ok(Some(name)) = row(i).map_or(Ok(None), |r| r.query_selector(".message-alias:not([disabled])"))
                    && let Ok(name) = name.dyn_into::<web_sys::HtmlElement>()
                {
                    ev.prevent_default();
                    name.click();
                }
                return;
            }
            ("Escape", Some(_)) => {
                ev.prevent_default();
                let _ = el.focus();
                return;
            }
            _ => return,
        };
        ev.prevent_default();
        if let Some(r) = target.and_then(row) {
            let _ = r.focus();
        }
    };
    // The focused row's action buttons and links become tab stops (roving, as in a
    // toolbar); every other row's are not, so the timeline stays one tab stop.
    let on_focusin = move |ev: leptos::ev::FocusEvent| {
        let Some(el) = scroller.get_untracked() else { return };
        let target = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let row = target.and_then(|t| t.closest("#messages > li[data-id]").ok().flatten());
        let Ok(links) = el.query_selector_all("#messages [data-roving][tabindex='0']") else { return };
        for i in 0..links.length() {
            if let Some(link) = links.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok())
                && row.as_ref().is_none_or(|r| !r.contains(Some(&link)))
            {
                let _ = link.set_attribute("tabindex", "-1");
            }
        }
        // The row is marked, not only matched by `:focus-within`: WebKit does not match
        // focus pseudo-classes in a window that is not the active one.
        if let Ok(marked) = el.query_selector_all("#messages > li.row-active") {
            for i in 0..marked.length() {
                if let Some(other) = marked.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok())
                    && row.as_ref() != Some(&other)
                {
                    let _ = other.class_list().remove_1("row-active");
                }
            }
        }
        if let Some(row) = &row {
            let _ = row.class_list().add_1("row-active");
        }
        if let Some(row) = row
            && let Ok(links) = row.query_selector_all("[data-roving]")
        {
            for i in 0..links.length() {
                if let Some(link) = links.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) {
                    let _ = link.set_attribute("tabindex", "0");
                }
            }
        }
    };
    // Focus leaving the timeline leaves no row marked.
    let on_focusout = move |ev: leptos::ev::FocusEvent| {
        let Some(el) = scroller.get_untracked() else { return };
        let into = ev.related_target().and_then(|t| t.dyn_into::<web_sys::Node>().ok());
        if into.as_ref().is_some_and(|n| el.contains(Some(n))) {
            return;
        }
        if let Ok(marked) = el.query_selector_all("#messages > li.row-active") {
            for i in 0..marked.length() {
                if let Some(row) = marked.item(i).and_then(|n| n.dyn_into::<web_sys::Element>().ok()) {
                    let _ = row.class_list().remove_1("row-active");
                }
            }
        }
    };
    let reaches_oldest = move || session.timeline.with(|t| window.with(|w| w.reaches_oldest(t)));
    view! {
        <div class="history-controls">
            <Show when=move || !reaches_oldest() || session.more_history.get()>
                <button id="load-older" type="button" class="link-button" on:click=move |_| older() disabled=move || session.loading_older.get()>
                    {move || if session.loading_older.get() { "Loading…" } else { "Show older messages" }}
                </button>
            </Show>
        </div>
        <div class="timeline-frame">
            <div id="timeline" class="timeline" node_ref=scroller role="log" tabindex="0" aria-label="Messages (arrow keys move between messages)" on:scroll=on_scroll on:keydown=on_keydown on:focusin=on_focusin on:focusout=on_focusout>
                <Show when=move || session.timeline.with(|t| t.is_empty()) && !session.more_history.get()>
                    <p id="empty-room" class="empty-room" role="note">
                        "No messages yet. Invite people with the room's link (“Show link and QR code” above); only people with the link can read what is written here."
                    </p>
                </Show>
                <ol id="messages" class="messages">
                    <For
                        each=move || rows.get()
                        key=|m| (m.id.clone(), m.key.clone(), m.delivery.clone(), m.trust.clone(), m.text.clone(), m.shown.clone())
                        children=move |m| match (m.event.clone(), &m.trust) {
                            (Some(event), Trust::Verified) => view! { <SystemLine message=m event=event session=session /> }.into_any(),
                            _ => view! { <MessageRow message=m session=session on_name=on_name first_unread=first_unread /> }.into_any(),
                        }
                    />
                </ol>
            </div>
            <Show when=move || !following.get()>
                <button id="jump-to-latest" type="button" class="jump-to-latest" on:click=move |_| jump_to_latest()>
                    {move || match unseen.get() {
                        0 => "Jump to latest ↓".to_owned(),
                        1 => "1 new message ↓".to_owned(),
                        n => format!("{n} new messages ↓"),
                    }}
                </button>
            </Show>
        </div>
    }
}
