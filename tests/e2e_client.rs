//! End to end, the web client as people use it: offline reading and queued sends,
//! reconnects across a server crash, key export and import after clearing site data,
//! whispers, tampered messages, locked rooms, a full room, long histories, the message size limit,
//! rooms funded by storage tokens, accessibility. Real
//! mock-server processes, the real built SPA, headless Chromium.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, Locator};
use testkit::app::{NO_RATE_LIMIT, SECRET, create_room, join_room, native_member, parse_link, say, start_server};
use testkit::browser::{
    Driver, SessionOptions, accessibility_violations, clear_site_data, click, fill, in_viewport, texts, wait_for,
    wait_for_attr, wait_for_text, wait_newest_in_view, with_browsers,
};
use testkit::client::{self, Member};
use testkit::scan;

/// How many `.message` rows show exactly `text`.
async fn count_text(client: &Client, text: &str) -> usize {
    texts(client, ".message .message-text").await.iter().filter(|t| t.trim() == text).count()
}

/// Waits until `text` shows exactly once with the delivery state `status`.
async fn wait_delivered_once(client: &Client, text: &str) {
    for _ in 0..300 {
        let rows = client.find_all(Locator::Css(".message")).await.unwrap_or_default();
        let mut matching = Vec::new();
        for row in rows {
            let body = row.find(Locator::Css(".message-text")).await.ok();
            let shown = match body {
                Some(b) => b.text().await.unwrap_or_default(),
                None => String::new(),
            };
            if shown.trim() == text {
                matching.push(row.attr("data-status").await.ok().flatten().unwrap_or_default());
            }
        }
        if matching == ["sent"] {
            return;
        }
        assert!(matching.len() <= 1, "{text:?} shows {} times", matching.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{text:?} was never shown once as sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_the_room_stays_readable_and_queued_messages_go_out_once_back_online() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let server_ref = &mut server;
    with_browsers(&driver, 2, |b| async move {
        let (a, g) = (&b[0], &b[1]);
        let link = create_room(a, &base, "Ada", SECRET).await;
        join_room(g, &link, "Gus").await;
        say(a, "before the outage").await;
        wait_for_text(g, ".message-text", "before the outage").await;
        // Let the service worker finish caching the app.
        tokio::time::sleep(Duration::from_secs(2)).await;

        server_ref.stop();
        wait_for_attr(g, "#connection-status", "data-status", "reconnecting").await;
        // With the server gone, a reload still opens the room from the offline cache.
        testkit::browser::reload(g).await;
        wait_for_text(g, ".message-text", "before the outage").await;
        assert_ne!(
            wait_for(g, "#connection-status").await.attr("data-status").await.unwrap().as_deref(),
            Some("connected")
        );
        // The invite's QR code is a part of the app fetched on first use. Offline, with the
        // service worker's cache emptied, the guest sees the code (if the browser's own
        // HTTP cache still has the part: Chromium and Firefox against mock-server) or a
        // sentence saying it could not be loaded (WebKit, and against workerd), never an
        // empty box;
        // the link stays. It shows once the server is back (below).
        let emptied = "const done = arguments[arguments.length - 1];
            caches.keys().then((names) => Promise.all(names.map((n) => caches.delete(n)))).then(() => done(true));";
        assert_eq!(g.execute_async(emptied, vec![]).await.unwrap(), true);
        click(g, ".share-head .link-button").await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let offline_qr = loop {
            if let Ok(svg) = g.find(Locator::Css(".qr svg")).await
                && svg.is_displayed().await.unwrap_or(false)
            {
                break "the code (from the HTTP cache)";
            }
            if let Ok(line) = g.find(Locator::Css("#qr-unavailable")).await
                && line.text().await.unwrap_or_default().contains("could not be loaded")
            {
                break "the failure line";
            }
            assert!(std::time::Instant::now() < deadline, "offline, the invite shows its QR code or says why not");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        eprintln!("offline, the invite showed {offline_qr}");
        assert!(wait_for(g, "#invite-link").await.is_displayed().await.unwrap(), "the link is still there");
        // A message written offline waits, visibly, and survives in the outbox.
        say(g, "written while offline").await;
        wait_for_attr(g, ".message.mine", "data-status", "pending").await;
        wait_for_text(g, ".delivery-note", "Sending").await;
        // The owner reloading offline keeps the owner's tools (from what this browser
        // recorded), as well as the history.
        testkit::browser::reload(a).await;
        wait_for_text(a, ".message-text", "before the outage").await;
        wait_for(a, "#admin-toggle").await;
        // Those tools, and the invite's QR code, are parts of the app fetched on first use:
        // opened for the first time offline, they come from the service worker's cache.
        click(a, "#admin-toggle").await;
        assert!(wait_for(a, "#admin-room-name").await.is_displayed().await.unwrap(), "the owner's tools show offline");
        click(a, ".share-head .link-button").await;
        assert!(wait_for(a, ".qr svg").await.is_displayed().await.unwrap(), "the QR code shows offline");
        click(a, "a[href='/settings']").await;
        assert!(wait_for(a, "#export-passphrase").await.is_displayed().await.unwrap(), "the settings show offline");
        a.back().await.unwrap();
        wait_for_text(a, ".message-text", "before the outage").await;

        server_ref.restart();
        wait_for_attr(g, "#connection-status", "data-status", "connected").await;
        wait_for_attr(a, "#connection-status", "data-status", "connected").await;
        wait_delivered_once(g, "written while offline").await;
        // Opened (again) with the server back, the invite shows its QR code.
        let toggle = wait_for(g, ".share-head .link-button").await;
        if toggle.attr("aria-expanded").await.unwrap().as_deref() == Some("true") {
            click(g, ".share-head .link-button").await;
        }
        click(g, ".share-head .link-button").await;
        assert!(wait_for(g, ".qr svg").await.is_displayed().await.unwrap(), "the QR code shows once back online");
        assert!(g.find(Locator::Css("#qr-unavailable")).await.is_err(), "the failure line is gone");
        wait_for_text(a, ".message-text", "written while offline").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(count_text(a, "written while offline").await, 1, "delivered exactly once");
        assert_eq!(count_text(g, "before the outage").await, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_crash_mid_conversation_loses_and_duplicates_nothing() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &["--rate-per-second", "100", "--rate-burst", "100"]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let server_ref = &mut server;
    let room = with_browsers(&driver, 2, |b| async move {
        let (a, g) = (&b[0], &b[1]);
        let link = create_room(a, &base, "Ada", SECRET).await;
        join_room(g, &link, "Gus").await;
        wait_for_attr(g, "#connection-status", "data-status", "connected").await;
        let mut sent = Vec::new();
        for i in 0..12 {
            let (who, name) = if i % 2 == 0 { (a, "ada") } else { (g, "gus") };
            let text = format!("{name} line {i}");
            say(who, &text).await;
            sent.push(text);
            if i == 5 {
                server_ref.kill9();
            }
            if i == 8 {
                server_ref.restart();
            }
        }
        for client in [a, g] {
            wait_for_attr(client, "#connection-status", "data-status", "connected").await;
        }
        for text in &sent {
            for client in [a, g] {
                wait_for_text(client, ".message-text", text).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        for text in &sent {
            for client in [a, g] {
                assert_eq!(count_text(client, text).await, 1, "{text:?} once on each screen");
            }
        }
        assert!(texts(a, ".message[data-status=pending], .message[data-status=failed]").await.is_empty());
        testkit::app::parse_link(&link).0
    })
    .await;
    // And the server holds each exactly once too (with Gus's joined line).
    let history = client::full_history(&server.http_base(), &room, 100).await;
    assert_eq!(history.len(), 13);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_clear_site_data_import_restores_the_same_identity() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &NO_RATE_LIMIT);
    let base = server.http_base();
    let ws_base = server.ws_base();
    let files = tempfile::tempdir().unwrap();
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |b| async move {
        let a = &b[0];
        let link = create_room(a, &base, "Ada", SECRET).await;
        let (room, _) = parse_link(&link);
        let (mut filler, key) = native_member(&ws_base, &link).await;
        filler.send_burst(&key, "p", 120, 64).await;
        say(a, "said before the export").await;
        wait_for_attr(a, ".message.mine", "data-status", "sent").await;

        a.goto(&format!("{base}/settings")).await.unwrap();
        fill(a, "#export-passphrase", "a long passphrase").await;
        fill(a, "#export-again", "a long passphrase").await;
        click(a, "#export-button").await;
        let mut file = String::new();
        for _ in 0..100 {
            file = a
                .find(Locator::Css("#export-output"))
                .await
                .unwrap()
                .prop("textContent")
                .await
                .unwrap()
                .unwrap_or_default();
            if !file.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(file.contains("cloakroom-keys") && !file.contains("said before the export"));
        let good = files.path().join("keys.json");
        std::fs::write(&good, &file).unwrap();
        let mut damaged_file = file.clone().into_bytes();
        let at = file.find("\"ct\"").unwrap() + 20;
        damaged_file[at] = if damaged_file[at] == b'A' { b'B' } else { b'A' };
        let damaged = files.path().join("damaged.json");
        std::fs::write(&damaged, damaged_file).unwrap();

        // Clear all site data: storage, IndexedDB, caches, service worker.
        clear_site_data(a, &base).await;
        a.goto(&format!("{base}/")).await.unwrap();
        assert!(texts(a, ".room-item").await.is_empty(), "the browser forgot the room");
        let stored_rooms = "return Object.keys(localStorage).filter(k => k.startsWith('cloakroom.v2.room.')).length";

        a.goto(&format!("{base}/settings")).await.unwrap();
        let import = |path: PathBuf, pass: &'static str| async move {
            wait_for(a, "#import-file").await.send_keys(path.to_str().unwrap()).await.unwrap();
            fill(a, "#import-passphrase", pass).await;
            click(a, "#import-check").await;
        };
        import(good.clone(), "not the passphrase").await;
        wait_for_text(a, "#import-message", "Wrong passphrase").await;
        assert_eq!(a.execute(stored_rooms, vec![]).await.unwrap(), 0);
        import(damaged, "a long passphrase").await;
        wait_for_text(a, "#import-message", "damaged").await;
        assert_eq!(a.execute(stored_rooms, vec![]).await.unwrap(), 0);
        import(good, "a long passphrase").await;
        wait_for_text(a, ".merge-plan", "Add 1 room").await;
        click(a, "#import-apply").await;
        wait_for_text(a, "#import-message", "1 room(s) added").await;

        // A returning user finds their rooms first, above the forms.
        a.goto(&format!("{base}/")).await.unwrap();
        wait_for(a, ".room-item").await;
        let order = "return document.querySelector('.room-list').getBoundingClientRect().top
            < document.getElementById('create-room').getBoundingClientRect().top";
        assert_eq!(a.execute(order, vec![]).await.unwrap(), true, "Your rooms come first");
        assert!(in_viewport(a, ".room-item").await, "the room is on screen without scrolling");

        // Back in the room without the link's key: same identity, still the owner.
        a.goto(&format!("{base}/r/{room}")).await.unwrap();
        wait_for_attr(a, "#connection-status", "data-status", "connected").await;
        wait_for(a, "#admin-toggle").await;
        wait_for_text(a, ".message.mine .message-text", "said before the export").await;
        wait_newest_in_view(a, "after importing the keys").await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whispers_reach_only_their_two_ends_and_contacts_rename_everywhere() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 3, |b| async move {
        let (owner, bea, cy) = (&b[0], &b[1], &b[2]);
        let link = create_room(owner, &base, "Olga", SECRET).await;
        join_room(bea, &link, "Bea").await;
        join_room(cy, &link, "Cy").await;
        wait_for_attr(cy, "#connection-status", "data-status", "connected").await;
        say(owner, "hello everyone").await;
        wait_for_text(bea, ".message-text", "hello everyone").await;
        // Bea whispers to the owner.
        let to_owner = wait_for(bea, "#whisper-to option:nth-child(2)").await;
        to_owner.click().await.unwrap();
        say(bea, "a secret for Olga").await;
        let row = wait_for_text(owner, ".message.whisper", "a secret for Olga").await;
        assert!(row.contains("whispered to you"), "{row}");
        // Cy sees that a whisper happened, not what it says.
        wait_for_text(cy, ".message.whisper", "(whispered)").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(count_text(cy, "a secret for Olga").await, 0);
        let body = cy.find(Locator::Css("body")).await.unwrap().text().await.unwrap();
        assert!(!body.contains("a secret for Olga"));

        // Cy gives Bea a local name: it shows on all of Bea's messages.
        wait_for(bea, "#whisper-to option:nth-child(1)").await.click().await.unwrap();
        say(bea, "from Bea again").await;
        wait_for_text(cy, ".message", "from Bea again").await;
        let rows = cy.find_all(Locator::Css(".message")).await.unwrap();
        for row in rows {
            if row.text().await.unwrap().contains("from Bea again") {
                row.find(Locator::Css(".message-alias")).await.unwrap().click().await.unwrap();
                break;
            }
        }
        fill(cy, "#contact-name", "Beatrice (school)").await;
        click(cy, "#contact-save").await;
        let names = texts(cy, ".message .message-alias").await;
        assert!(names.iter().filter(|n| n.contains("Beatrice (school)")).count() >= 2, "{names:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_altered_on_the_server_is_shown_as_tampered_and_the_rest_renders() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &[]);
    let base = server.http_base();
    let room = client::create_room(&base, SECRET).await;
    let mut owner = Member::join(&server.ws_base(), &room.id, room.owner.clone()).await.unwrap();
    for (i, text) in ["first, intact", "second, to be altered", "third, intact"].iter().enumerate() {
        owner.say(&room.key, &format!("t{i}"), text).await;
        assert!(matches!(owner.next().await, Some(protocol::frames::ServerFrame::Ack { .. })));
    }
    drop(owner);
    server.stop();
    scan::alter_stored_message(&server.stored_dir(), &room.id, 1);
    server.restart();
    let link = format!("{}/r/{}#{}", server.http_base(), room.id, room.key.to_b64());
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |b| async move {
        let c = &b[0];
        join_room(c, &link, "Checker").await;
        wait_for_text(c, ".message-text", "first, intact").await;
        wait_for_text(c, ".message-text", "third, intact").await;
        let tampered = wait_for_text(c, ".message.tampered", "failed verification").await;
        assert!(!tampered.contains("second, to be altered"));
        assert_eq!(texts(c, ".message.tampered").await.len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_locked_room_a_newcomer_waits_until_the_owner_accepts() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &NO_RATE_LIMIT);
    let base = server.http_base();
    let ws_base = server.ws_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 2, |b| async move {
        let (owner, newcomer) = (&b[0], &b[1]);
        let link = create_room(owner, &base, "Olga", SECRET).await;
        // Enough history that landing anywhere but the newest message would show.
        let (mut filler, key) = native_member(&ws_base, &link).await;
        filler.send_burst(&key, "p", 120, 64).await;
        say(owner, "said while open").await;
        click(owner, "#admin-toggle").await;
        click(owner, "#admin-lock").await;
        wait_for_text(owner, ".room-title", "locked").await;
        // Locking right after opening the panel (before its member list has loaded) keeps
        // everyone already in: the member who was writing is still a reader.
        wait_for(owner, ".member[data-status=accepted]").await;
        assert!(texts(owner, ".member[data-status=pending]").await.is_empty(), "locking demoted nobody");
        say(owner, "said after locking").await;
        wait_for_attr(owner, ".message.mine:last-child", "data-status", "sent").await;
        // A half-typed message of the day survives the panel's refresh on a join request.
        fill(owner, "#admin-motd", "Half-typed").await;

        join_room(newcomer, &link, "Nina").await;
        wait_for(newcomer, "#waiting-notice").await;
        wait_for_attr(newcomer, "#connection-status", "data-status", "waiting").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(texts(newcomer, ".message").await.is_empty(), "a waiting key sees no messages");
        wait_for(owner, ".member[data-status=pending] .accept").await;
        let draft = wait_for(owner, "#admin-motd").await.prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(draft, "Half-typed", "the panel's refresh kept what the owner was typing");

        // The owner's panel lists the request; accepting lets the newcomer read.
        click(owner, ".member[data-status=pending] .accept").await;
        wait_for_attr(newcomer, "#connection-status", "data-status", "connected").await;
        say(owner, "welcome in, Nina").await;
        wait_for_text(newcomer, ".message-text", "welcome in, Nina").await;
        wait_newest_in_view(newcomer, "after the owner accepted the newcomer").await;
        wait_for_text(newcomer, ".message-text", "said after locking").await;
        say(newcomer, "thanks!").await;
        wait_for_text(owner, ".message-text", "thanks!").await;
        // Both see who let whom in, and that the newcomer joined, as system lines.
        wait_for_text(owner, ".system-line[data-event=accepted]", "You let Nina in").await;
        wait_for_text(owner, ".system-line[data-event=joined]", "Nina joined the room").await;
        wait_for_text(newcomer, ".system-line[data-event=accepted]", "Olga let you in").await;
        wait_for_text(newcomer, ".system-line[data-event=joined]", "You joined the room").await;

        // Removing Nina asks once more, in place; Cancel leaves everything as it was.
        let thanks = wait_for_text(owner, ".message", "thanks!").await;
        let rows = owner.find_all(Locator::Css(".message")).await.unwrap();
        let mut nina = None;
        for row in rows {
            if row.text().await.unwrap_or_default().contains("thanks!") {
                nina = row.attr("data-sender").await.unwrap();
            }
        }
        let nina = nina.unwrap_or_else(|| panic!("Nina's row names its sender: {thanks}"));
        let remove = format!(".admin .member[data-key=\"{nina}\"] .remove");
        click(owner, &remove).await;
        wait_for_text(owner, ".confirm-remove", "They lose access and everyone gets a new room key").await;
        click(owner, ".remove-cancel").await;
        wait_for(owner, &remove).await;
        assert!(!texts(owner, ".admin .status-line").await.iter().any(|t| t.contains("Remove")), "nothing was removed");
        click(owner, &remove).await;
        click(owner, ".remove-confirm").await;
        wait_for_text(owner, ".admin .status-line", "Remove: done").await;
        wait_for_text(owner, ".system-line[data-event=removed]", "You removed Nina").await;
        // One "joined" line per newcomer, however often it reconnected.
        assert_eq!(texts(owner, ".system-line[data-event=joined]").await.len(), 1);
    })
    .await;
}

/// Puts `text` in the composer at once (typing 40,000 keys over WebDriver takes minutes)
/// and sends it with Enter.
async fn paste_and_send(client: &Client, text: &str) {
    let composer = wait_for(client, "#composer").await;
    client
        .execute(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', { bubbles: true }));",
            vec![serde_json::to_value(&composer).unwrap(), text.into()],
        )
        .await
        .unwrap();
    composer.send_keys("\u{E007}").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_past_the_size_limit_is_refused_in_the_composer_and_one_within_it_goes_through() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let room = with_browsers(&driver, 2, |b| async move {
        let (a, reader) = (&b[0], &b[1]);
        let link = create_room(a, &base, "Ada", SECRET).await;
        join_room(reader, &link, "Bob").await;
        // 20,000 characters fit the 32 KiB limit once encrypted and encoded; they arrive whole.
        let long: String = (0..20_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        paste_and_send(a, &long).await;
        wait_delivered_once(a, &long).await;
        wait_for_text(reader, ".message .message-text", &long[..64]).await;
        assert!(texts(reader, ".message .message-text").await.iter().any(|t| t.trim() == long), "received whole");

        // 40,000 do not: a clear error, the text stays in the composer, nothing is sent.
        let too_long = "z".repeat(40_000);
        paste_and_send(a, &too_long).await;
        let error = wait_for_text(a, ".composer .error", "too long").await;
        assert!(error.contains("the limit is 32768"), "the limit is named: {error}");
        let kept = wait_for(a, "#composer").await.prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(kept.len(), too_long.len(), "the text is kept for editing");
        assert_eq!(texts(a, ".message").await.len(), 1, "no row for the refused message");
        parse_link(&link)
    })
    .await;
    // The server holds the one message that was sent (and Bob's joined line).
    let (room, key) = room;
    let http = server.http_base();
    assert_eq!(client::opened_texts(&http, &room, &key).await.iter().map(String::len).collect::<Vec<_>>(), [20_000]);
    assert_eq!(client::full_history(&http, &room, 100).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_this_devices_data_asks_first_then_leaves_nothing_behind() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |b| async move {
        let a = &b[0];
        create_room(a, &base, "Ada", SECRET).await;
        say(a, "kept in the cache").await;
        wait_for_attr(a, ".message.mine", "data-status", "sent").await;
        let stored = "return Object.keys(localStorage).filter(k => k.startsWith('cloakroom.')).length";
        let cached = "const done = arguments[arguments.length - 1];
            const open = indexedDB.open('cloakroom-cache');
            open.onsuccess = () => {
                const count = open.result.transaction('messages').objectStore('messages').count();
                count.onsuccess = () => { open.result.close(); done(count.result); };
            };
            open.onerror = () => done(-1);";
        assert!(a.execute(stored, vec![]).await.unwrap().as_u64().unwrap() > 0);
        assert!(a.execute_async(cached, vec![]).await.unwrap().as_i64().unwrap() > 0, "the message is cached");
        // A file saved moments ago waits in the download spool (src/files/spool.rs), where
        // the browser has an origin private file system (-1: it has none).
        let spooled = "const done = arguments[arguments.length - 1];
            const put = arguments[0];
            if (!navigator.storage || !navigator.storage.getDirectory) { done(-1); return; }
            navigator.storage.getDirectory()
                .then((root) => root.getDirectoryHandle('downloads', { create: put }))
                .then(async (dir) => {
                    if (put) await dir.getFileHandle('1-saved', { create: true });
                    let n = 0;
                    for await (const _ of dir.keys()) n += 1;
                    done(n);
                })
                .catch((e) => done(e.name === 'NotFoundError' ? 0 : String(e)));";
        let saved = a.execute_async(spooled, vec![true.into()]).await.unwrap();
        assert!(saved == 1 || saved == -1, "a spooled file to remove: {saved}");

        a.goto(&format!("{base}/settings")).await.unwrap();
        click(a, "#forget-device").await;
        wait_for_text(a, ".confirm-remove", "This cannot be undone").await;
        assert!(a.execute(stored, vec![]).await.unwrap().as_u64().unwrap() > 0, "nothing removed before confirming");
        click(a, "#forget-device-confirm").await;
        wait_for(a, "#create-room").await;
        assert!(texts(a, ".room-item").await.is_empty(), "no rooms are left");
        // Only the storage layout's version, which the app writes again as it starts.
        let personal =
            "return Object.keys(localStorage).filter(k => k.startsWith('cloakroom.') && k !== 'cloakroom.layout')";
        assert_eq!(
            a.execute(personal, vec![]).await.unwrap(),
            serde_json::json!([]),
            "no keys are left in localStorage"
        );
        assert_eq!(a.execute_async(cached, vec![]).await.unwrap(), 0, "no messages are left in the cache");
        if saved == 1 {
            assert_eq!(a.execute_async(spooled, vec![false.into()]).await.unwrap(), 0, "no saved file is left");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_room_that_does_not_exist_says_so_and_is_not_kept() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    // A well-formed link whose room was never created on this server.
    let room = client::TestRoom::fresh();
    let link = format!("{base}/r/{}#{}", room.id, room.key.to_b64());
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |b| async move {
        let a = &b[0];
        join_room(a, &link, "Uma").await;
        wait_for_text(a, "#join-refused", "This room does not exist on this server").await;
        wait_for_attr(a, "#connection-status", "data-status", "failed").await;
        let badge = wait_for(a, "#connection-status").await.text().await.unwrap();
        assert!(!badge.contains("unknown_room"), "no raw code on screen: {badge}");
        assert_eq!(wait_for(a, "#composer").await.attr("disabled").await.unwrap().as_deref(), Some("true"));
        let kept = "return Object.keys(localStorage).filter(k => k.startsWith('cloakroom.v2.room.')).length";
        assert_eq!(a.execute(kept, vec![]).await.unwrap(), 0, "the unknown room is not saved");
        a.goto(&format!("{base}/")).await.unwrap();
        wait_for(a, "#create-room").await;
        assert!(texts(a, ".room-item").await.is_empty(), "not among your rooms");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_turns_a_newcomer_away_with_a_clear_reason() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 3, |b| async move {
        let (owner, first, late) = (&b[0], &b[1], &b[2]);
        let link = create_room(owner, &base, "Olga", SECRET).await;
        click(owner, "#admin-toggle").await;
        let field = wait_for(owner, "#admin-capacity").await;
        for _ in 0..100 {
            if !field.prop("value").await.unwrap().unwrap_or_default().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The owner clears the field; before they type, Pia joins and the panel reloads
        // the room's settings. What they then type is what is saved (the reload once put
        // "50" back under the cursor, and typing "1" saved 501).
        field.clear().await.unwrap();
        join_room(first, &link, "Pia").await;
        wait_for_attr(first, "#connection-status", "data-status", "connected").await;
        wait_for(owner, ".members li.member").await;
        field.send_keys("1\u{E007}").await.unwrap();
        wait_for_text(owner, ".admin .status-line", "Capacity: done").await;
        assert_eq!(field.prop("value").await.unwrap().as_deref(), Some("1"));

        join_room(late, &link, "Quinn").await;
        wait_for_attr(late, "#connection-status", "data-status", "failed").await;
        let shown = wait_for_text(late, "#join-refused", "This room is full").await;
        assert!(shown.contains("Ask the owner"), "the reason says what to do: {shown}");
        assert_eq!(wait_for(late, "#composer").await.attr("disabled").await.unwrap().as_deref(), Some("true"));
        assert!(texts(late, ".message").await.is_empty());
        // The members already in are not disturbed.
        say(first, "still here").await;
        wait_for_text(owner, ".message-text", "still here").await;
    })
    .await;
}

/// Rooms whose database the server holds.
async fn remaining_budget(owner: &Client) -> u64 {
    let line = wait_for(owner, "#budget-line[data-remaining]").await;
    line.attr("data-remaining").await.unwrap().unwrap().parse().unwrap()
}

/// Fills the landing page's create form with a storage token and submits it.
async fn create_with_token(client: &Client, base: &str, alias: &str, token: &str) {
    client.goto(&format!("{base}/")).await.unwrap();
    fill(client, "#create-alias", alias).await;
    click(client, "#fund-token").await;
    fill(client, "#create-secret", token).await;
    click(client, "#create-room").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_funds_a_new_room_with_a_storage_token_that_works_once() {
    const FUNDING: u64 = 32 * 1024 * 1024;
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let stored = server.stored_dir();
    with_browsers(&driver, 2, |b| async move {
        let (owner, friend) = (&b[0], &b[1]);
        create_room(owner, &base, "Olga", SECRET).await;
        click(owner, "#admin-toggle").await;
        let before = remaining_budget(owner).await;
        // The smallest size on offer is the smallest that funds a room.
        click(owner, "#issue-token").await;
        let token = wait_for(owner, "#issued-token").await.prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(token.len(), 43, "a token is base64url of 32 bytes: {token:?}");
        wait_for_attr(owner, "#budget-line", "data-remaining", &(before - FUNDING).to_string()).await;

        // A friend without the admin secret creates a room with it; its budget is the token's.
        create_with_token(friend, &base, "Pia", &token).await;
        wait_for(friend, "#invite-link").await;
        wait_for_attr(friend, "#connection-status", "data-status", "connected").await;
        click(friend, "#admin-toggle").await;
        wait_for_attr(friend, "#budget-line", "data-remaining", &FUNDING.to_string()).await;
        assert_eq!(scan::stored_rooms(&stored), 2);

        // The token works once; something that is not a token is caught before any request.
        create_with_token(friend, &base, "Pia", &token).await;
        wait_for_text(friend, "form .error", "already been spent").await;
        create_with_token(friend, &base, "Pia", "not-a-token").await;
        wait_for_text(friend, "form .error", "not a storage token").await;
        assert_eq!(scan::stored_rooms(&stored), 2, "no room was created by a spent or malformed token");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_room_and_admin_views_have_no_serious_accessibility_violations() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |b| async move {
        let a = &b[0];
        a.goto(&format!("{base}/")).await.unwrap();
        wait_for(a, "#create-room").await;
        let landing = accessibility_violations(a).await;
        create_room(a, &base, "Ada", SECRET).await;
        say(a, "an accessible message").await;
        wait_for_attr(a, ".message.mine", "data-status", "sent").await;
        // With what a room shows besides messages: a reply's quote, a reaction, a row's
        // actions and reaction picker, a day line, the people list.
        testkit::app::message_action(a, "an accessible message", ".action-reply").await;
        say(a, "an accessible reply").await;
        wait_for(a, ".reply-quote").await;
        testkit::app::message_action(a, "an accessible message", ".action-react").await;
        click(a, "li[data-action-row] .react-choice").await;
        wait_for(a, ".reaction").await;
        testkit::app::message_action(a, "an accessible reply", ".action-react").await;
        wait_for(a, ".react-picker").await;
        click(a, "#people-toggle").await;
        wait_for(a, ".member-list .member").await;
        let room = accessibility_violations(a).await;
        click(a, "#admin-toggle").await;
        wait_for(a, "#admin-motd").await;
        let admin = accessibility_violations(a).await;
        a.goto(&format!("{base}/settings")).await.unwrap();
        wait_for(a, "#export-button").await;
        let settings = accessibility_violations(a).await;
        a.goto(&format!("{base}/")).await.unwrap();
        wait_for(a, ".room-list .room-item").await;
        let rooms = accessibility_violations(a).await;
        assert!(
            landing.is_empty() && room.is_empty() && admin.is_empty() && settings.is_empty() && rooms.is_empty(),
            "landing: {landing:?}\nroom: {room:?}\nadmin: {admin:?}\nsettings: {settings:?}\nrooms: {rooms:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_refuses_site_data_gets_a_clear_page_not_a_blank_one() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let blocked = SessionOptions { block_site_data: true };
    if !driver.supports(blocked) {
        eprintln!("skipped in {}: its driver has no setting that blocks site data", driver.engine().name());
        return;
    }
    let session = driver.session_with(blocked).await;
    testkit::browser::with_sessions(vec![session], |b| async move {
        let c = &b[0];
        for page in ["/", "/r/some-room-id#some-key", "/settings"] {
            c.goto(&format!("{base}{page}")).await.unwrap();
            let heading = wait_for(c, "#storage-refused-heading").await.text().await.unwrap();
            assert_eq!(heading, "Cloakroom cannot store anything in this browser", "{page}");
            assert!(in_viewport(c, "#storage-refused-why").await, "{page}: the reason is on screen");
            let why = wait_for(c, "#storage-refused-why").await.text().await.unwrap();
            assert!(why.contains("cookies and site data are blocked"), "{page}: {why}");
            assert!(texts(c, "#create-room, #alias-input, #composer").await.is_empty(), "{page}: no app to fail later");
        }
    })
    .await;
}
