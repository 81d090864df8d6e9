//! End to end across engines: one person on Firefox and one on WebKit (Safari's engine),
//! and one on Chromium with one on Firefox, in the same room. Each side decrypts and
//! verifies what the other engine's WebCrypto and IndexedDB produced, both ways, and
//! after a reload. These tests name their engines, whatever `CLOAKROOM_BROWSER` says.
#![cfg(not(target_arch = "wasm32"))]

use testkit::app::{SECRET, create_room, join_room, say, start_server};
use testkit::browser::{Driver, Engine, texts, wait_for_attr, wait_for_text, with_sessions};

async fn chat_across(first: Engine, second: Engine) {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let (one, two) = (Driver::start_engine(first).await, Driver::start_engine(second).await);
    let sessions = vec![one.session().await, two.session().await];
    let from_a = format!("Hello from {} to {}", first.name(), second.name());
    let from_b = format!("And back from {} to {}", second.name(), first.name());
    with_sessions(sessions, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let invite = create_room(a, &base, "Ada", SECRET).await;
        join_room(b, &invite, "Bea").await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;

        say(a, &from_a).await;
        let row = wait_for_text(b, ".message", &from_a).await;
        assert!(row.contains("Ada"), "{} shows the sender's alias: {row}", second.name());
        wait_for_attr(a, ".message.mine", "data-status", "sent").await;
        say(b, &from_b).await;
        let row = wait_for_text(a, ".message", &from_b).await;
        assert!(row.contains("Bea"), "{} shows the sender's alias: {row}", first.name());

        // Each reloads and finds both messages once, none of them tampered.
        for (c, engine) in [(a, first), (b, second)] {
            testkit::browser::reload(c).await;
            wait_for_attr(c, "#connection-status", "data-status", "connected").await;
            wait_for_text(c, ".message .message-text", &from_b).await;
            let shown = texts(c, ".message .message-text").await;
            for needle in [&from_a, &from_b] {
                let times = shown.iter().filter(|t| t.contains(needle.as_str())).count();
                assert_eq!(times, 1, "{}: {needle} once after reload: {shown:?}", engine.name());
            }
            assert!(texts(c, ".message.tampered").await.is_empty(), "{}: nothing tampered", engine.name());
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_and_webkit_chat_both_ways_in_one_room() {
    chat_across(Engine::Firefox, Engine::WebKit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_firefox_chat_both_ways_in_one_room() {
    chat_across(Engine::Chromium, Engine::Firefox).await;
}
