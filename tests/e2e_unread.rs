//! End to end, unread rooms: while a member looks at "Your rooms", messages written in a
//! room show there without a reload, as a count and the newest message's first words
//! (decrypted in the browser), and the tab title totals them; reading the room clears it.
#![cfg(not(target_arch = "wasm32"))]

use std::time::{Duration, Instant};

use fantoccini::Client;
use testkit::app::{room_of_two, say, start_server};
use testkit::browser::{Driver, click, texts, wait_for_attr, wait_for_text, with_browsers};

/// Waits (up to 30 s) until the room list's text satisfies `check`.
async fn wait_list(client: &Client, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = texts(client, ".room-list").await.concat();
        if check(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "{what}: the room list says {list:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_list_counts_and_previews_new_messages_live() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        room_of_two(a, b, &base, "Alice-un", "Bob-un").await;
        say(a, "before Bob left-un").await;
        wait_for_text(b, ".message-text", "before Bob left-un").await;

        // Bob looks at his rooms; nothing is unread.
        b.goto(&format!("{base}/")).await.unwrap();
        wait_list(b, "read", |l| l.contains("Room ") && !l.contains('●')).await;
        assert!(texts(b, ".unread-count").await.is_empty());

        // Alice writes three messages: Bob's list shows them without a reload.
        for text in ["one-un", "two-un", "the third one-un"] {
            say(a, text).await;
        }
        wait_for_attr(a, ".message.mine:last-child", "data-status", "sent").await;
        let list = wait_list(b, "three unread", |l| l.contains("Alice-un: the third one-un")).await;
        assert_eq!(texts(b, ".unread-count").await, vec!["3".to_owned()], "{list}");
        let title = b.title().await.unwrap();
        assert!(title.starts_with("(3)"), "the tab title totals unread messages: {title}");

        // Reading the room clears it.
        click(b, ".room-link").await;
        wait_for_text(b, ".message-text", "the third one-un").await;
        b.goto(&format!("{base}/")).await.unwrap();
        wait_list(b, "read again", |l| !l.contains("the third one-un")).await;
        assert!(texts(b, ".unread-count").await.is_empty());
    })
    .await;
}
