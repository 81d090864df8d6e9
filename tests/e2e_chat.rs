//! End to end: a real mock-server process serving the real built SPA, two independent
//! headless Chromium sessions, and a native client, all talking over loopback.
#![cfg(not(target_arch = "wasm32"))]

use std::time::Duration;

use fantoccini::Client;
use protocol::ids::RoomId;
use testkit::app::{self, SECRET, parse_link, say, start_server};
use testkit::browser::{
    Driver, click, csp_violations, fill, in_viewport, texts, wait_for, wait_for_attr, wait_for_text, with_browsers,
};
use testkit::client::{self, Member};
use testkit::scan;

async fn create_room(a: &Client, base: &str, alias: &str) -> String {
    app::create_room(a, base, alias, SECRET).await
}

async fn join_room(b: &Client, link: &str, alias: &str) {
    app::join_room(b, link, alias).await;
    wait_for_attr(b, "#connection-status", "data-status", "connected").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_chat_both_ways_and_the_server_never_sees_plaintext() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let from_alice = "Hello Bob, this is Alice-e2e-7f3a";
    let from_bob = "Hi Alice! Bob-e2e-91c2 here";
    let from_native = "A native client says hello-e2e-55d0";

    let link = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let link_out = link.clone();
    let ws_base = server.ws_base();
    with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let invite = create_room(a, &base, "Alice-e2e").await;
        *link_out.lock().unwrap() = invite.clone();
        join_room(b, &invite, "Bob-e2e").await;

        say(a, from_alice).await;
        wait_for_text(b, ".message .message-text", from_alice).await;
        let row = wait_for_text(b, ".message", from_alice).await;
        assert!(row.contains("Alice-e2e"), "B shows A's alias: {row}");
        // A's own copy is acknowledged (committed) — not just shown.
        wait_for_attr(a, ".message.mine", "data-status", "sent").await;

        say(b, from_bob).await;
        let row = wait_for_text(a, ".message", from_bob).await;
        assert!(row.contains("Bob-e2e"), "A shows B's alias: {row}");

        // Colour cues: the owner's messages and the verified guest's (the first member).
        let owner_rows = texts(b, ".message.from-owner .message-text").await;
        assert!(owner_rows.iter().any(|t| t.contains(from_alice)), "owner cue on A's message: {owner_rows:?}");
        let guest_rows = texts(a, ".message.from-guest .message-text").await;
        assert!(guest_rows.iter().any(|t| t.contains(from_bob)), "verified-guest cue on B's message: {guest_rows:?}");

        // A native client (protocol crate compiled for the host) joins and speaks;
        // the browsers decrypt and verify what it sealed.
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

    // What the browsers stored decrypts and verifies natively (wasm seal → native open).
    let invite = link.lock().unwrap().clone();
    let (room, key) = parse_link(&invite);
    let opened = client::opened_texts(&server.http_base(), &room, &key).await;
    assert_eq!(opened, vec![from_alice.to_owned(), from_bob.to_owned(), from_native.to_owned()]);

    // Stop the server (flushes KV_global), then scan every byte it wrote.
    server.stop();
    let files = scan::files_under(data.path());
    assert!(
        files.iter().any(|f| f.extension().is_some_and(|e| e == "sqlite")),
        "the data dir holds the databases: {files:?}"
    );
    let plaintexts = [from_alice, from_bob, from_native, "Alice-e2e", "Bob-e2e"];
    // (The room id is stored, so a working scan finds it.)
    scan::assert_only_ciphertext(data.path(), &plaintexts, key.as_bytes(), room.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_without_a_key_and_a_wrong_admin_secret_get_clear_errors() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |browsers| async move {
        let a = &browsers[0];
        a.goto(&format!("{base}/")).await.unwrap();
        fill(a, "#create-alias", "Mallory").await;
        fill(a, "#create-secret", "not-the-secret").await;
        click(a, "#create-room").await;
        wait_for_text(a, "form .error", "authorisation was not accepted").await;

        let room = RoomId::from_owner_key(&client::new_identity().public_key());
        a.goto(&format!("{base}/r/{room}")).await.unwrap();
        wait_for_text(a, ".notice", "no room key").await;
    })
    .await;
    // Nothing was created.
    assert!(std::fs::read_dir(data.path().join("rooms")).map(|d| d.count()).unwrap_or(0) == 0);
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_runs_its_own_code_and_nothing_injected() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |browsers| async move {
        let a = &browsers[0];
        // The app starts under its policy: Trunk's inline bootstrap is allowed by its hash.
        a.goto(&format!("{base}/")).await.unwrap();
        wait_for(a, "#create-room").await;
        let policy = a
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch('/r/some-room').then(r => done(r.headers.get('content-security-policy')));",
                vec![],
            )
            .await
            .unwrap();
        let policy = policy.as_str().expect("the SPA is served with a Content-Security-Policy");
        let script_src = policy.split(';').map(str::trim).find(|d| d.starts_with("script-src")).expect("script-src");
        assert!(script_src.contains("'sha256-") && script_src.contains("'wasm-unsafe-eval'"), "{script_src}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("'unsafe-eval'"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("connect-src 'self'"), "{policy}");

        // Injected code — inline, from another origin, or a string to evaluate — never runs.
        // (WebDriver's own scripts bypass the policy, so each attempt goes through the page.)
        a.execute(
            "const inline = document.createElement('script');
             inline.textContent = 'window.injected = \"inline\";';
             document.head.append(inline);
             const foreign = document.createElement('script');
             foreign.src = 'http://127.0.0.1:9/steal.js';
             document.head.append(foreign);
             setTimeout('window.injected = \"timer\";', 0);",
            vec![],
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(a.execute("return window.injected ?? null", vec![]).await.unwrap(), serde_json::Value::Null);
        // Each attempt is reported (reports travel on their own requests: wait for them).
        let expected = [
            "script-src-elem blocked inline",
            "script-src-elem blocked http://127.0.0.1:9/steal.js",
            "script-src blocked eval",
        ];
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let seen = loop {
            let seen = csp_violations(a).await.unwrap();
            let all = expected.iter().all(|d| seen.iter().any(|v| v.starts_with(d)));
            if all || std::time::Instant::now() > deadline {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for directive in expected {
            assert!(seen.iter().any(|v| v.starts_with(directive)), "{directive:?} not among {seen:?}");
        }
        // Those were this test's own attempts; the app itself must not have caused any.
        assert_eq!(seen.len(), 3, "{seen:?}");
        testkit::csp_reports::forget(&testkit::browser::page_origin(a).await.unwrap());
    })
    .await;
}

/// The digits of a safety number as shown (`#safety-number`), without separators.
async fn shown_safety_number(c: &Client) -> String {
    let shown = wait_for(c, "#safety-number").await.text().await.unwrap();
    shown.chars().filter(char::is_ascii_digit).collect()
}

/// Opens the member card of whoever wrote the message containing `needle`; returns
/// their key (the row's `data-sender`).
async fn open_member_card(c: &Client, needle: &str) -> String {
    wait_for_text(c, ".message", needle).await;
    for row in c.find_all(fantoccini::Locator::Css(".message")).await.unwrap() {
        if row.text().await.unwrap().contains(needle) {
            let key = row.attr("data-sender").await.unwrap().expect("rows name their sender");
            row.find(fantoccini::Locator::Css(".message-alias")).await.unwrap().click().await.unwrap();
            wait_for(c, "#safety-number").await;
            return key;
        }
    }
    unreachable!("wait_for_text found the row")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn safety_numbers_match_on_both_screens_and_a_new_key_under_a_verified_name_is_flagged() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &[]);
    let base = server.http_base();
    let ws_base = server.ws_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let invite = create_room(a, &base, "Alice-sn").await;
        join_room(b, &invite, "Carol").await;
        say(a, "hello from alice-sn").await;
        say(b, "hello from carol-sn").await;

        // Each opens the other's card: both see the same 60 digits, and they are the
        // number the protocol crate computes for the two keys the rows name.
        let carol_key = open_member_card(a, "hello from carol-sn").await;
        let alice_key = open_member_card(b, "hello from alice-sn").await;
        let on_a = shown_safety_number(a).await;
        let on_b = shown_safety_number(b).await;
        assert_eq!(on_a.len(), protocol::safety_number::SAFETY_NUMBER_DIGITS, "{on_a}");
        assert_eq!(on_a, on_b, "both screens show the same number");
        let (room, _) = parse_link(&invite);
        let expected = protocol::safety_number::SafetyNumber::of(
            &room,
            &protocol::identity::PublicKey::parse(&alice_key).unwrap(),
            &protocol::identity::PublicKey::parse(&carol_key).unwrap(),
        );
        assert_eq!(on_a, expected.digits(), "the browser computes the documented number");

        // A number read out wrong says so and cannot be marked verified; the right one
        // (as Carol's screen shows it, with its spaces) matches.
        let mut wrong = on_b.clone();
        wrong.replace_range(0..1, if wrong.starts_with('9') { "8" } else { "9" });
        fill(a, "#safety-compare", &wrong).await;
        wait_for_text(a, "#safety-compare-result", "differ").await;
        assert!(
            !wait_for(a, "#toggle-verified").await.is_enabled().await.unwrap(),
            "a mismatch cannot be marked verified"
        );
        fill(a, "#safety-compare", &expected.to_string()).await;
        wait_for_text(a, "#safety-compare-result", "match").await;
        click(a, "#toggle-verified").await;
        wait_for(a, "#verified-badge").await;
        click(a, "#contact-save").await;
        wait_for_text(a, ".message .verified-tag", "verified").await;

        // Someone else (a new key: another device, or a key the server slipped in) now
        // writes as "carol" in the room: Alice is warned, on screen, and that message
        // carries no verified tag.
        let mut stranger = Member::join(&ws_base, &room, client::new_identity()).await.expect("second key joins");
        let (_, key) = parse_link(&invite);
        stranger
            .send_envelope(client::seal_text(&room, &stranger.identity, &key, "imp-1", " carol ", "it's me, new phone"))
            .await;
        wait_for_text(a, ".message", "it's me, new phone").await;
        let warning = wait_for_text(a, "#verification-warning", "Carol").await;
        assert!(warning.contains("not verified"), "{warning}");
        assert!(in_viewport(a, "#verification-warning").await, "the warning is on screen");
        let impostor_row = wait_for_text(a, ".message", "it's me, new phone").await;
        assert!(impostor_row.contains("not the Carol you verified"), "{impostor_row}");
        assert!(!impostor_row.contains("✓ verified"), "{impostor_row}");

        // The verification survives a reload; the warning comes back with the history.
        testkit::browser::reload(a).await;
        wait_for_attr(a, "#connection-status", "data-status", "connected").await;
        wait_for_text(a, "#verification-warning", "Carol").await;
        wait_for_text(a, ".message .verified-tag", "verified").await;
        assert!(csp_violations(a).await.unwrap().is_empty());
    })
    .await;
    server.stop();
}
