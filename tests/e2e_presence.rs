//! End to end, presence: a member typing shows on the other screens and lapses when they
//! stop, a sent message clears it, and a read message shows "Seen by" to its sender.
//! None of it is stored: the room's history holds only the messages, and the server's
//! files hold no plaintext. Joining and leaving show as system lines; a member who leaves
//! is gone from this browser.
#![cfg(not(target_arch = "wasm32"))]

use std::time::{Duration, Instant};

use fantoccini::Client;
use testkit::app::{parse_link, room_of_two, say, start_server};
use testkit::browser::{Driver, click, texts, wait_for, wait_for_attr, wait_for_text, with_browsers};
use testkit::{client, scan};

/// Waits until `#typing` says exactly `want` (empty: nobody types), for up to `within`.
async fn typing_line(client: &Client, want: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let line = texts(client, "#typing").await.concat();
        if line.trim() == want {
            return start.elapsed();
        }
        assert!(start.elapsed() < within, "#typing never said {want:?} (says {line:?})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_and_seen_markers_show_live_and_are_never_stored() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let said = "a message to be read-pr-51c";
    let link = with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let link = room_of_two(a, b, &base, "Alice-pr", "Bob-pr").await;

        // Bob types: Alice sees it (also in the room's people list); he stops without
        // sending: it lapses by itself.
        click(a, "#people-toggle").await;
        wait_for(b, "#composer").await.send_keys("half a thought").await.unwrap();
        typing_line(a, "Bob-pr is typing…", Duration::from_secs(10)).await;
        let people = texts(a, ".member-list .member").await;
        assert!(
            people.iter().any(|p| p.contains("Alice-pr") && p.contains("owner") && p.contains("you")),
            "{people:?}"
        );
        assert!(people.iter().any(|p| p.contains("Bob-pr") && p.contains("typing…")), "{people:?}");
        let lapsed = typing_line(a, "", Duration::from_secs(12)).await;
        assert!(lapsed > Duration::from_secs(3), "shown while it lasts ({lapsed:?})");

        // He types again and sends: the message replaces the indicator at once.
        say(b, said).await;
        wait_for_text(a, ".message .message-text", said).await;
        typing_line(a, "", Duration::from_secs(2)).await;

        // Alice has it on screen: Bob sees it was read.
        wait_for_attr(b, ".message.mine", "data-status", "sent").await;
        wait_for_text(b, "#seen-by", "Seen by Alice-pr").await;

        // Alice turns read markers off: Bob's next message is read, and he is not told.
        a.goto(&format!("{base}/settings")).await.unwrap();
        click(a, "#send-read-markers").await;
        let checked = a.execute("return document.getElementById('send-read-markers').checked", vec![]).await.unwrap();
        assert_eq!(checked, serde_json::Value::Bool(false), "turned off");
        a.goto(&link).await.unwrap();
        wait_for_attr(a, "#connection-status", "data-status", "connected").await;
        say(b, "read quietly-pr").await;
        wait_for_text(a, ".message .message-text", "read quietly-pr").await;
        wait_for_attr(b, ".message.mine:last-child", "data-status", "sent").await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(texts(b, "#seen-by").await.concat(), "", "no read marker was sent");
        link
    })
    .await;

    // The room holds the one message and nothing of the presence frames.
    let (room, key) = parse_link(&link);
    let stored = client::opened_texts(&server.http_base(), &room, &key).await;
    assert_eq!(stored, vec![said.to_owned(), "read quietly-pr".to_owned()], "presence is never stored");
    server.stop();
    scan::assert_only_ciphertext(
        data.path(),
        &[said, "half a thought", "Bob-pr", "Alice-pr"],
        key.as_bytes(),
        room.as_str(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_leaves_shows_as_gone_and_this_browser_forgets_the_room() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let link = room_of_two(a, b, &base, "Alice-lv", "Bob-lv").await;
        wait_for_text(a, ".system-line[data-event=joined]", "Bob-lv joined the room").await;
        say(b, "bye all-lv").await;
        wait_for_text(a, ".message-text", "bye all-lv").await;

        // The owner is not offered to leave her own room; Bob is, and is asked once more.
        click(a, "#people-toggle").await;
        wait_for(a, ".member-list").await;
        assert!(texts(a, "#leave-room").await.is_empty(), "the owner cannot leave her room");
        click(b, "#people-toggle").await;
        click(b, "#leave-room").await;
        wait_for_text(b, ".confirm-leave", "Everyone sees that you left").await;
        click(b, "#leave-cancel").await;
        wait_for(b, "#leave-room").await;
        click(b, "#leave-room").await;
        click(b, "#leave-confirm").await;

        // Bob is home, the room is not among his rooms, and Alice sees that he left.
        wait_for(b, "#create-room").await;
        assert!(
            texts(b, ".room-item").await.is_empty(),
            "the room is forgotten here: {:?}",
            texts(b, ".room-item").await
        );
        wait_for_text(a, ".system-line[data-event=left]", "Bob-lv left the room").await;
        // His keys are gone: the link asks for a name again, as for a newcomer.
        b.goto(&link).await.unwrap();
        wait_for(b, "#alias-input").await;
    })
    .await;
}
