//! End to end, the room's shared name: given at creation it shows on the join screen (from
//! the invite link's card) and for everyone who joins (not "Room 1X_LO1AR…"), the owner
//! renames it and every open screen follows, "Your
//! rooms" lists it, and the server holds only its ciphertext.
#![cfg(not(target_arch = "wasm32"))]

use testkit::app::{SECRET, join_room, parse_link, start_server};
use testkit::browser::{Driver, click, fill, texts, wait_for, wait_for_attr, wait_for_text, with_browsers};
use testkit::scan;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_name_set_by_the_owner_shows_for_everyone_and_never_reaches_the_server() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let (first, second) = ("Book club-rn-3c1", "Reading circle-rn-8d2");
    let link = with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        a.goto(&format!("{base}/")).await.unwrap();
        fill(a, "#create-alias", "Alice-rn").await;
        fill(a, "#create-name", first).await;
        fill(a, "#create-secret", SECRET).await;
        click(a, "#create-room").await;
        let link = wait_for(a, "#invite-link").await.prop("value").await.unwrap().unwrap();
        wait_for_attr(a, "#connection-status", "data-status", "connected").await;
        wait_for_text(a, "#room-title", first).await;
        // An empty room says how to bring people in.
        wait_for_text(a, "#empty-room", "Invite people").await;
        // The invite's QR code (drawn by a part of the app loaded on first use).
        click(a, ".share-head .link-button").await;
        let qr = wait_for(a, ".qr svg").await;
        assert!(qr.is_displayed().await.unwrap(), "the QR code of the invite is shown");

        // Before joining, the link itself says which room this is and who sent it (the
        // server is asked nothing: the card rides in the fragment).
        b.goto(&link).await.unwrap();
        wait_for_text(b, "#alias-heading", &format!("Join “{first}”")).await;
        wait_for_text(b, "#invited-by", "Alice-rn, the room's owner, sent you this invitation").await;
        // Once in, the name comes from the owner-signed state.
        join_room(b, &link, "Bob-rn").await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;
        wait_for_text(b, "#room-title", first).await;

        // The owner renames the room: Bob's open room follows at once.
        click(a, "#admin-toggle").await;
        fill(a, "#admin-room-name", second).await;
        wait_for(a, "#admin-room-name").await.send_keys("\u{E007}").await.unwrap();
        wait_for_text(a, "#room-title", second).await;
        wait_for_text(b, "#room-title", second).await;

        // And Bob's list of rooms says so.
        b.goto(&format!("{base}/")).await.unwrap();
        wait_for_text(b, ".room-list", second).await;
        assert!(!texts(b, ".room-list").await.concat().contains("Room "), "no bare id in the list");
        link
    })
    .await;

    let (room, key) = parse_link(&link);
    server.stop();
    scan::assert_only_ciphertext(data.path(), &[first, second], key.as_bytes(), room.as_str());
}
