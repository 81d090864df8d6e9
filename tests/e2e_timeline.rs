//! End to end, where the message list puts the reader: at the newest message on open and
//! while messages stream in (also when a banner appears above), at the same row when
//! older pages load above, and a "N new ↓" button when scrolled up. Long histories stay
//! windowed: the DOM never holds more than a few pages, each message shows once, in
//! order. Real mock-server, the real built SPA, headless Chromium; what is asserted is
//! what a reader sees (row rectangles inside the timeline's visible box).
#![cfg(not(target_arch = "wasm32"))]

use std::time::Duration;

use fantoccini::Client;
use testkit::app::{NO_RATE_LIMIT, SECRET, create_room, join_room, native_member, start_server};
use testkit::browser::{
    Driver, TimelineView, click, fill, scroll_timeline, timeline_view, wait_for, wait_for_text, wait_newest_in_view,
    with_browsers,
};
use testkit::client::{self, Member};

/// The most message rows the app keeps in the DOM (`session::window::MAX_ROWS`).
const MAX_ROWS: usize = 160;
/// How far (px) a row may move when older rows are added above it.
const STEADY_PX: f64 = 3.0;

/// Scrolls to the top and waits until older rows are rendered above; returns the view
/// then, asserting that the row that was at the top did not move.
async fn page_up(c: &Client) -> TimelineView {
    let before = scroll_timeline(c, None).await;
    let (anchor, offset) = before.anchor.clone();
    for _ in 0..100 {
        let now = timeline_view(c, Some(&anchor)).await;
        if now.first.as_deref() != Some(before.first.as_str()) {
            // The rows changed between two frames at most a frame ago: measure again,
            // now that a whole frame (with the app's correction) has run since.
            let now = timeline_view(c, Some(&anchor)).await;
            let moved = now.anchor.as_ref().map(|(_, at)| at - offset);
            assert!(
                moved.is_some_and(|m| m.abs() <= STEADY_PX),
                "the row at the top moved by {moved:?} px when older rows loaded ({before:?} → {now:?})"
            );
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no older rows appeared above {before:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_room_opens_at_the_newest_message_and_a_motd_does_not_push_it_away() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &NO_RATE_LIMIT);
    let (base, ws) = (server.http_base(), server.ws_base());
    let driver = Driver::start().await;
    with_browsers(&driver, 2, |b| async move {
        let (owner, reader) = (&b[0], &b[1]);
        let link = create_room(owner, &base, "Olga", SECRET).await;
        let (mut member, key) = native_member(&ws, &link).await;
        member.send_burst(&key, "p", 300, 64).await;

        join_room(reader, &link, "Rea").await;
        wait_for_text(reader, ".message-text", "message 299 of p").await;
        wait_newest_in_view(reader, "after opening a room with 300 messages").await;
        let view = timeline_view(reader, None).await;
        assert!(view.rows <= MAX_ROWS && view.ordered && view.jump.is_none(), "{view:?}");

        // Reopened (the cache first, then the server): still at the newest.
        testkit::browser::reload(reader).await;
        wait_for_text(reader, ".message-text", "message 299 of p").await;
        wait_newest_in_view(reader, "after a reload").await;

        // The owner sets a message of the day: the banner appears above the list.
        click(owner, "#admin-toggle").await;
        fill(owner, "#admin-motd", "Welcome, read the pinned rules").await;
        wait_for(owner, "#admin-motd").await.send_keys("\u{E007}").await.unwrap();
        wait_for_text(reader, ".motd", "Welcome, read the pinned rules").await;
        wait_newest_in_view(reader, "after the message of the day appeared").await;
    })
    .await;
}

/// The focused element: (its `id`, its `data-id`, whether it is inside the timeline).
async fn focused(c: &Client) -> (String, String, bool) {
    let script = "const a = document.activeElement;
        return [a.id || '', (a.dataset && a.dataset.id) || '', !!a.closest('#timeline')];";
    serde_json::from_value(c.execute(script, vec![]).await.unwrap()).unwrap()
}

async fn press(c: &Client, key: &str) {
    c.active_element().await.unwrap().send_keys(key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_is_one_tab_stop_with_arrow_keys_and_the_composer_is_ready_and_grows() {
    const UP: &str = "\u{E013}";
    const TAB: &str = "\u{E004}";
    const ENTER: &str = "\u{E007}";
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &NO_RATE_LIMIT);
    let (base, ws) = (server.http_base(), server.ws_base());
    let driver = Driver::start().await;
    with_browsers(&driver, 2, |b| async move {
        let (owner, reader) = (&b[0], &b[1]);
        let link = create_room(owner, &base, "Olga", SECRET).await;
        let (mut member, key) = native_member(&ws, &link).await;
        member.send_burst(&key, "p", 120, 64).await;
        join_room(reader, &link, "Rea").await;
        wait_for_text(reader, ".message-text", "message 119 of p").await;

        // Joined: the composer has the focus, ready to write.
        let mut ready = false;
        for _ in 0..30 {
            if focused(reader).await.0 == "composer" {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "the composer is focused after joining: {:?}", focused(reader).await);

        // Nothing inside the timeline is a tab stop of its own.
        let stops = "return [...document.querySelectorAll('#timeline button, #timeline a[href], #timeline [tabindex]')]
            .filter(e => e.tabIndex >= 0 && !e.disabled).length";
        assert_eq!(reader.execute(stops, vec![]).await.unwrap(), 0, "no tab stops inside the timeline");
        reader.execute("document.getElementById('timeline').focus()", vec![]).await.unwrap();
        let newest = timeline_view(reader, None).await;
        assert!(newest.newest_in_view);
        let ids = "return [...document.querySelectorAll('#messages > li[data-id]')].slice(-2).map(r => r.dataset.id)";
        let last_two: Vec<String> = serde_json::from_value(reader.execute(ids, vec![]).await.unwrap()).unwrap();
        press(reader, UP).await;
        assert_eq!(focused(reader).await.1, last_two[1], "Up from the timeline goes to the newest message");
        press(reader, UP).await;
        assert_eq!(focused(reader).await.1, last_two[0], "Up again: the one before");
        // Enter opens the sender's card.
        press(reader, ENTER).await;
        wait_for(reader, ".name-dialog").await;
        reader.execute("document.getElementById('timeline').focus()", vec![]).await.unwrap();
        press(reader, TAB).await;
        assert!(!focused(reader).await.2, "one Tab leaves the timeline: {:?}", focused(reader).await);

        // The composer grows with its text (Shift+Enter: a new line) and shrinks back once
        // it is sent.
        let height = "return document.getElementById('composer').getBoundingClientRect().height";
        let empty = reader.execute(height, vec![]).await.unwrap().as_f64().unwrap();
        let composer = wait_for(reader, "#composer").await;
        for (i, line) in ["one", "two", "three", "four"].into_iter().enumerate() {
            if i > 0 {
                testkit::browser::shift_enter(reader).await;
            }
            composer.send_keys(line).await.unwrap();
        }
        // (The field is fitted on the next frame: give the engine up to a second.)
        let mut grown = empty;
        for _ in 0..20 {
            grown = reader.execute(height, vec![]).await.unwrap().as_f64().unwrap();
            if grown > empty + 20.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let state = reader
            .execute(
                "const c = document.getElementById('composer'); return [c.value, c.scrollHeight, c.style.height];",
                vec![],
            )
            .await
            .unwrap();
        assert!(grown > empty + 20.0, "four lines make the field taller: {empty} → {grown} ({state})");
        composer.send_keys(ENTER).await.unwrap();
        wait_for_text(reader, ".message-text", "four").await;
        let after = reader.execute(height, vec![]).await.unwrap().as_f64().unwrap();
        assert!((after - empty).abs() < 2.0, "empty again, it shrinks back: {empty} → {after}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_follows_a_stream_at_the_bottom_and_offers_a_jump_when_scrolled_up() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &NO_RATE_LIMIT);
    let (base, ws) = (server.http_base(), server.ws_base());
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |b| async move {
        let reader = &b[0];
        let link = create_room(reader, &base, "Rea", SECRET).await;
        let (mut member, key) = native_member(&ws, &link).await;
        member.send_burst(&key, "p", 60, 64).await;
        wait_for_text(reader, ".message-text", "message 59 of p").await;
        wait_newest_in_view(reader, "after the first 60").await;

        // 500 messages at about 50 per second, read at the bottom.
        let stream_key = key.clone();
        let stream = tokio::spawn(async move {
            for batch in 0..50 {
                let acked = member.send_burst(&stream_key, &format!("s{batch}"), 10, 10).await;
                assert_eq!(acked.len(), 10);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            member
        });
        let mut samples = 0;
        while !stream.is_finished() {
            // A sample fails only if the view stays off the bottom across three frames
            // pairs (a message may land between a DOM update and the correction).
            let mut at_bottom = false;
            let mut last = None;
            for _ in 0..3 {
                let view = timeline_view(reader, None).await;
                if view.from_bottom <= 40.0 && view.jump.is_none() {
                    at_bottom = true;
                    break;
                }
                last = Some(view);
            }
            assert!(at_bottom, "the view stopped following the stream: {last:?}");
            samples += 1;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let mut member = stream.await.unwrap();
        assert!(samples >= 10, "sampled the stream {samples} times");
        wait_for_text(reader, ".message-text", "message 9 of s49").await;
        wait_newest_in_view(reader, "after 500 incoming messages").await;
        let view = timeline_view(reader, None).await;
        assert!(view.rows <= MAX_ROWS && view.ordered, "{view:?}");

        // Scrolled up a little: new messages do not move the view, the button counts them.
        let (anchor, offset) = scroll_timeline(reader, Some(-400)).await.anchor;
        let before = timeline_view(reader, Some(&anchor)).await;
        assert_eq!(before.jump.as_deref(), Some("Jump to latest ↓"), "{before:?}");
        member.send_burst(&key, "late", 20, 20).await;
        let mut view = before.clone();
        for _ in 0..50 {
            view = timeline_view(reader, Some(&anchor)).await;
            if view.jump.as_deref() == Some("20 new messages ↓") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(view.jump.as_deref(), Some("20 new messages ↓"), "{view:?}");
        let moved = view.anchor.as_ref().map(|(_, at)| at - offset).unwrap();
        assert!(moved.abs() <= STEADY_PX, "the row being read moved by {moved} px");
        assert!(!view.newest_in_view);

        click(reader, "#jump-to-latest").await;
        wait_newest_in_view(reader, "after jumping to the latest").await;
        wait_for_text(reader, ".message-text", "message 19 of late").await;
        assert!(timeline_view(reader, None).await.jump.is_none());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_up_pages_through_5000_messages_each_shown_once_without_the_view_jumping() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &NO_RATE_LIMIT);
    let base = server.http_base();
    let room = client::create_room(&base, SECRET).await;
    let mut owner = Member::join(&server.ws_base(), &room.id, room.owner.clone()).await.unwrap();
    owner.send_burst(&room.key, "p", 5000, 64).await;
    drop(owner);
    let link = format!("{base}/r/{}#{}", room.id, room.key.to_b64());
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |b| async move {
        let c = &b[0];
        join_room(c, &link, "Reader").await;
        wait_for_text(c, ".message-text", "message 4999 of p").await;
        wait_newest_in_view(c, "after opening 5,000 messages").await;
        let collect = "window.seenKeys = window.seenKeys || new Set();
            document.querySelectorAll('#messages > li.message[data-key]').forEach(li => window.seenKeys.add(li.dataset.key));
            return window.seenKeys.size;";
        let mut most_rows = 0;
        let mut seen = 0;
        for _ in 0..400 {
            let view = page_up(c).await;
            assert!(view.ordered, "rows out of order: {view:?}");
            most_rows = most_rows.max(view.rows);
            seen = c.execute(collect, vec![]).await.unwrap().as_u64().unwrap();
            if texts_contain(c, "message 0 of p").await {
                break;
            }
        }
        assert!(texts_contain(c, "message 0 of p").await, "reached the first message");
        // (The reader's own "joined" line is a row too, not one of the 5,000.)
        assert_eq!(seen, 5000, "each of the 5,000 messages was shown");
        assert!(most_rows <= MAX_ROWS, "the DOM held {most_rows} rows at most");
        let keys = "const k = [...document.querySelectorAll('#messages > li.message[data-key]')].map(li => li.dataset.key);
            return k.length === new Set(k).size;";
        assert_eq!(c.execute(keys, vec![]).await.unwrap(), true, "no message is shown twice");
        // Back down: the button brings the newest back at once.
        click(c, "#jump-to-latest").await;
        wait_for_text(c, ".message-text", "message 4999 of p").await;
        wait_newest_in_view(c, "after jumping back from the first message").await;
    })
    .await;
}

async fn texts_contain(c: &Client, needle: &str) -> bool {
    let script = "return [...document.querySelectorAll('#messages .message-text')].some(p => p.textContent.trim() === arguments[0]);";
    c.execute(script, vec![needle.into()]).await.unwrap() == true
}
