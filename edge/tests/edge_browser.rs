//! End to end on Cloudflare's runtime: the real built SPA served by the Worker's static
//! assets on workerd, two headless browsers and a native client chatting through the
//! rooms' Durable Objects, and a byte scan of everything workerd stored.
#![cfg(not(target_arch = "wasm32"))]

use testkit::app::{self, parse_link, say};
use testkit::browser::{Driver, texts, wait_for_attr, wait_for_text, with_browsers};
use testkit::client::{self, Member};
use testkit::edge::{EdgeOptions, EdgeProcess};
use testkit::scan;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_chat_through_the_edge_and_workerd_never_sees_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = EdgeProcess::start(EdgeOptions::new(dir.path()));
    let base = server.http_base();
    let secret = server.options.admin_secret.clone();
    let ws_base = server.ws_base();
    let driver = Driver::start().await;
    let from_alice = "Hello Bob, this is Alice-edge-7f3a";
    let from_bob = "Hi Alice! Bob-edge-91c2 here";
    let from_native = "A native client says hello-edge-55d0";

    let link = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let link_out = link.clone();
    with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let invite = app::create_room(a, &base, "Alice-edge", &secret).await;
        *link_out.lock().unwrap() = invite.clone();
        app::join_room(b, &invite, "Bob-edge").await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;

        say(a, from_alice).await;
        let row = wait_for_text(b, ".message", from_alice).await;
        assert!(row.contains("Alice-edge"), "B shows A's alias: {row}");
        // A's own copy is acknowledged (committed in the room's object), not just shown.
        wait_for_attr(a, ".message.mine", "data-status", "sent").await;
        say(b, from_bob).await;
        wait_for_text(a, ".message", from_bob).await;

        let (room, key) = parse_link(&invite);
        let mut native = Member::join(&ws_base, &room, client::new_identity()).await.expect("native join");
        native.say(&key, "native-1", from_native).await;
        wait_for_text(a, ".message .message-text", from_native).await;
        wait_for_text(b, ".message .message-text", from_native).await;

        // Reloading B shows the history again, each message once.
        testkit::browser::reload(b).await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;
        wait_for_text(b, ".message .message-text", from_bob).await;
        let shown = texts(b, ".message .message-text").await;
        for needle in [from_alice, from_bob, from_native] {
            assert_eq!(shown.iter().filter(|t| t.contains(needle)).count(), 1, "{needle} once after reload: {shown:?}");
        }
        assert!(texts(b, ".message.tampered").await.is_empty());
    })
    .await;

    // What the browsers stored decrypts and verifies natively.
    let invite = link.lock().unwrap().clone();
    let (room, key) = parse_link(&invite);
    let opened = client::opened_texts(&server.http_base(), &room, &key).await;
    assert_eq!(opened, vec![from_alice.to_owned(), from_bob.to_owned(), from_native.to_owned()]);

    server.kill9();
    let plaintexts = [from_alice, from_bob, from_native, "Alice-edge", "Bob-edge"];
    scan::assert_only_ciphertext(&dir.path().join("state"), &plaintexts, key.as_bytes(), room.as_str());
}
