//! End to end, what people do with a message: reply with a quote, react, edit, delete
//! for everyone (their own, or any as the owner), between two browsers and a native
//! member, and what receivers refuse: an edit or delete forged by another member. After
//! a reload everything shows the same; nothing of it is readable on the server.
#![cfg(not(target_arch = "wasm32"))]

use std::time::{Duration, Instant};

use fantoccini::Client;
use protocol::actions::MessageRef;
use protocol::envelope::Content;
use testkit::app::{
    SECRET, create_room, focus_row, message_action, native_member, parse_link, room_of_two, say, start_server,
};
use testkit::browser::{Driver, click, fill, reload, texts, wait_for, wait_for_attr, wait_for_text, with_browsers};
use testkit::scan;

/// The timeline ids (`sender/cid`) of the room's messages the server holds erased (30 s
/// until `wanted` are all among them).
async fn wait_erased(base: &str, room: &protocol::ids::RoomId, wanted: &[String]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let erased: Vec<String> = testkit::client::full_history(base, room, 200)
            .await
            .into_iter()
            .filter(|m| m.erased)
            .map(|m| format!("{}/{}", m.env.sender, m.env.cid.as_str()))
            .collect();
        if wanted.iter().all(|id| erased.contains(id)) || Instant::now() > deadline {
            return erased;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `check` holds for the texts of `css` (30 s), showing them if it never does.
async fn wait_texts(client: &Client, css: &str, what: &str, check: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = texts(client, css).await;
        if check(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "{what}: never held for {css} (seen: {seen:?})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of the row whose id is `id`.
async fn row_text(client: &Client, id: &str) -> String {
    wait_for(client, &format!("li.message[data-id=\"{id}\"]")).await.text().await.unwrap_or_default()
}

async fn react(client: &Client, needle: &str, emoji: &str) {
    message_action(client, needle, ".action-react").await;
    click(client, &format!("li[data-action-row] .react-choice[aria-label=\"React with {emoji}\"]")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_react_edit_and_delete_reach_everyone_and_forgeries_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &[]);
    let (base, ws_base) = (server.http_base(), server.ws_base());
    let driver = Driver::start().await;
    let question = "Lunch at noon-act-4d1?";
    let fixed = "Lunch at one-act-4d1?";
    let answer = "Yes, see you there-act-9b2";
    let native_text = "native says hi-act-77e";

    let link = with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let link = room_of_two(a, b, &base, "Alice-act", "Bob-act").await;
        let room = parse_link(&link).0;

        say(a, question).await;
        wait_for_text(b, ".message .message-text", question).await;

        // Reply: the composer says what it answers; the reply quotes it on both sides.
        message_action(b, question, ".action-reply").await;
        wait_for_text(b, ".compose-mode", "Replying to Alice-act").await;
        say(b, answer).await;
        for c in [a, b] {
            let row = wait_for_text(c, ".message", answer).await;
            assert!(row.contains("Alice-act") && row.contains(question), "the reply quotes the question: {row}");
        }
        assert!(texts(b, ".compose-mode").await.is_empty(), "back to writing after the reply");

        // Reactions: Bob's 👍 shows on Alice's screen; Alice adds hers (2, pressed), then
        // takes it back (1).
        let question_id = focus_row(a, question).await;
        react(b, question, "👍").await;
        let chip = format!("li.message[data-id=\"{question_id}\"] .reaction");
        wait_texts(a, &chip, "Bob's reaction", |t| t == ["👍 1"]).await;
        react(a, question, "👍").await;
        wait_texts(b, &chip, "two reactions", |t| t == ["👍 2"]).await;
        wait_for_attr(a, &chip, "aria-pressed", "true").await;
        click(a, &chip).await;
        wait_texts(b, &chip, "Alice took hers back", |t| t == ["👍 1"]).await;

        // Edit: only Alice's own message offers it; the new text replaces the old one
        // everywhere, marked edited, and the reply's quote follows.
        message_action(a, question, ".action-edit").await;
        wait_for_text(a, ".compose-mode", "Editing your message").await;
        let prefilled = wait_for(a, "#composer").await.prop("value").await.unwrap().unwrap_or_default();
        assert_eq!(prefilled, question, "editing starts from the current text");
        say(a, fixed).await;
        for c in [a, b] {
            let row = wait_for_text(c, &format!("li.message[data-id=\"{question_id}\"]"), fixed).await;
            assert!(row.contains("(edited)"), "marked edited: {row}");
            let all = texts(c, ".message .message-text").await;
            assert!(!all.iter().any(|t| t.contains(question)), "the old text is gone: {all:?}");
            wait_for_text(c, ".reply-quote", fixed).await;
        }
        let bobs = texts(b, &format!("li.message[data-id=\"{question_id}\"] .action-edit")).await;
        assert!(bobs.is_empty(), "Bob is not offered an edit of Alice's message");

        // A member forging an edit and a delete of Alice's message: receivers refuse both,
        // show why, and her text stays.
        let (mut native, key) = native_member(&ws_base, &link).await;
        native.say(&key, "n-1", native_text).await;
        wait_for_text(b, ".message .message-text", native_text).await;
        let target = MessageRef::from_id(&question_id).expect("row ids are message refs");
        native.send_content(&key, "n-2", Content::Edit { target: target.clone(), text: "forged-act".into() }).await;
        native.send_content(&key, "n-3", Content::Delete { target }).await;
        // And a membership line only the owner may post.
        let member = native.identity.public_key();
        native.send_content(&key, "n-4", Content::Removed { member }).await;
        for c in [a, b] {
            wait_for_text(c, ".message.tampered", "only the sender of a message may edit it").await;
            wait_for_text(c, ".message.tampered", "only the sender of a message or the room's owner may delete it")
                .await;
            wait_for_text(c, ".message.tampered", "only the room's owner accepts or removes members").await;
            assert!(texts(c, ".system-line[data-event=removed]").await.is_empty(), "no forged removal line");
            let row = row_text(c, &question_id).await;
            assert!(row.contains(fixed) && !row.contains("deleted"), "the forgeries changed nothing: {row}");
        }

        // Delete: Bob his own reply (after confirming); Alice, the owner, the native's.
        let answer_id = message_action(b, answer, ".action-delete").await;
        wait_for_text(b, ".confirm-delete", "Delete this message for everyone?").await;
        // Alice reacts to it meanwhile: Bob's row is rebuilt with her reaction, and the
        // confirmation he has open stays open.
        react(a, answer, "🎉").await;
        let answer_row = format!("li.message[data-id=\"{answer_id}\"]");
        wait_texts(b, &format!("{answer_row} .reaction"), "Alice's reaction", |t| t == ["🎉 1"]).await;
        let asking = texts(b, &format!("{answer_row} .confirm-delete")).await;
        assert!(
            asking.iter().any(|t| t.contains("Delete this message for everyone?")),
            "the confirmation survives the row's update: {asking:?}"
        );
        click(b, &format!("{answer_row} .confirm-delete-yes")).await;
        message_action(a, native_text, ".action-delete").await;
        click(a, "li[data-action-row] .confirm-delete-yes").await;
        for c in [a, b] {
            wait_for_text(c, ".message .deleted-text", "This message was deleted.").await;
            wait_for_text(c, ".message .deleted-text", "deleted by the room's owner").await;
            let all = texts(c, ".message .message-text").await;
            assert!(!all.iter().any(|t| t.contains(answer) || t.contains(native_text)), "deleted text gone: {all:?}");
        }
        // Each deleting browser had the server drop what it deleted (the owner keeps
        // nothing by default): the server holds the two messages without content.
        let gone = [answer_id.clone(), format!("{}/n-1", native.identity.public_key())];
        let erased = wait_erased(&base, &room, &gone).await;
        assert!(gone.iter().all(|id| erased.contains(id)), "erased on the server: {erased:?}, wanted {gone:?}");
        assert!(!erased.contains(&question_id), "nothing else is erased");

        // After a reload (cache and server history), Bob sees the same room, and his own
        // search on this device no longer finds the deleted reply.
        reload(b).await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;
        let row = wait_for_text(b, &format!("li.message[data-id=\"{question_id}\"]"), fixed).await;
        assert!(row.contains("(edited)") && row.contains("👍 1"), "edit and reaction after reload: {row}");
        wait_for_text(b, ".message .deleted-text", "This message was deleted.").await;
        let all = texts(b, ".message .message-text").await;
        assert!(!all.iter().any(|t| t.contains(answer) || t.contains(question)), "after reload: {all:?}");
        click(b, "#search-toggle").await;
        fill(b, "#search-input", "see you there").await;
        wait_for(b, "#search-input").await.send_keys("\u{E007}").await.expect("search");
        wait_for_text(b, ".search .hint, .hint[role=status]", "No cached message matches.").await;

        // An owner who keeps deleted messages: Alice's delete hides her question from
        // everyone, and the server keeps its (unreadable) content.
        click(a, "#admin-toggle").await;
        click(a, "#admin-keep-deleted").await;
        wait_for_text(a, ".admin .status-line", "Deleted messages: done").await;
        message_action(a, fixed, ".action-delete").await;
        click(a, "li[data-action-row] .confirm-delete-yes").await;
        let question_row = format!("li.message[data-id=\"{question_id}\"] .deleted-text");
        for c in [a, b] {
            wait_for_text(c, &question_row, "This message was deleted.").await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let erased = wait_erased(&base, &room, &[]).await;
        assert!(!erased.contains(&question_id), "kept on the server while the owner keeps deleted messages");
        assert_eq!(erased.len(), 2, "{erased:?}");
        link
    })
    .await;

    // Nothing of it is readable on the server.
    let (room, key) = parse_link(&link);
    server.stop();
    let plaintexts = [question, fixed, answer, native_text, "forged-act", "👍"];
    scan::assert_only_ciphertext(data.path(), &plaintexts, key.as_bytes(), room.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_in_an_empty_composer_edits_the_last_message_escape_cancels_and_question_mark_lists_shortcuts() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 1, |browsers| async move {
        let a = &browsers[0];
        create_room(a, &base, "Alice-up", SECRET).await;
        say(a, "first-up-1").await;
        say(a, "second-up-2").await;
        wait_texts(a, ".message.mine[data-status=\"sent\"] .message-text", "both sent", |t| t.len() == 2).await;
        let field = wait_for(a, "#composer").await;
        field.send_keys("\u{E013}").await.expect("press Up");
        wait_for_text(a, ".compose-mode", "Editing your message").await;
        assert_eq!(field.prop("value").await.unwrap().unwrap_or_default(), "second-up-2");
        // Escape goes back to writing with an empty field.
        field.send_keys("\u{E00C}").await.expect("press Escape");
        wait_texts(a, ".compose-mode", "Escape cancels", |t| t.is_empty()).await;
        assert_eq!(field.prop("value").await.unwrap().unwrap_or_default(), "");
        // Up again, then a new text: the newest message is edited, not the first.
        field.send_keys("\u{E013}").await.expect("press Up");
        wait_for_text(a, ".compose-mode", "Editing your message").await;
        say(a, "second-up-fixed").await;
        let rows =
            wait_texts(a, ".message .message-text", "the edit", |t| t.iter().any(|x| x == "second-up-fixed")).await;
        assert_eq!(rows, vec!["first-up-1".to_owned(), "second-up-fixed".to_owned()]);

        // `?` (outside a text field) lists the shortcuts; Escape closes the list, then an
        // open panel. Typed into the composer, `?` is just a character.
        field.send_keys("?").await.unwrap();
        assert!(texts(a, "#shortcuts").await.is_empty(), "? in the composer is text");
        assert_eq!(field.prop("value").await.unwrap().unwrap_or_default(), "?");
        click(a, "#people-toggle").await;
        let timeline = wait_for(a, "#timeline").await;
        a.execute("document.getElementById('timeline').focus()", vec![]).await.unwrap();
        timeline.send_keys("?").await.unwrap();
        wait_for_text(a, "#shortcuts", "edit your last message").await;
        timeline.send_keys("\u{E00C}").await.unwrap();
        wait_texts(a, "#shortcuts", "Escape closes the list", |t| t.is_empty()).await;
        assert!(!texts(a, ".member-list").await.is_empty(), "one Escape closes one thing");
        timeline.send_keys("\u{E00C}").await.unwrap();
        wait_texts(a, ".member-list", "Escape closes the panel", |t| t.is_empty()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_formatting_day_lines_and_runs_read_as_in_other_messengers() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        room_of_two(a, b, &base, "Alice-fmt", "Bob-fmt").await;
        say(a, "read https://example.org/guide. **now** and `cargo test`, <b>not markup</b>").await;
        say(a, "second in a row-fmt").await;
        wait_for_text(b, ".message .message-text", "second in a row-fmt").await;

        // The link is a link that opens apart from the app; marks are elements; markup
        // typed by a member is text.
        let anchor = wait_for(b, ".message-text a").await;
        assert_eq!(anchor.attr("href").await.unwrap().as_deref(), Some("https://example.org/guide"));
        assert_eq!(anchor.attr("rel").await.unwrap().as_deref(), Some("noopener noreferrer"));
        assert_eq!(anchor.attr("target").await.unwrap().as_deref(), Some("_blank"));
        assert_eq!(texts(b, ".message-text strong").await, vec!["now".to_owned()]);
        assert_eq!(texts(b, ".message-text code").await, vec!["cargo test".to_owned()]);
        assert!(texts(b, ".message-text b").await.is_empty(), "typed markup stays text");
        wait_for_text(b, ".message-text", "<b>not markup</b>").await;

        // One day line ("Today") above the first message; Alice's second message
        // continues her first: her name shows once.
        assert_eq!(texts(b, ".day-line").await, vec!["Today".to_owned()]);
        let names: Vec<String> =
            texts(b, ".message .message-alias").await.into_iter().filter(|n| !n.is_empty()).collect();
        assert_eq!(names, vec!["Alice-fmt".to_owned()], "the name shows once for the run");
        let continued = texts(b, ".message.continued .message-text").await;
        assert_eq!(continued, vec!["second in a row-fmt".to_owned()]);
        // Focused, a row shows its exact time.
        focus_row(b, "second in a row-fmt").await;
        let full = wait_for(b, "li[data-action-row] .message-time-full").await;
        assert!(full.is_displayed().await.unwrap(), "the exact time shows on focus");
        assert!(full.text().await.unwrap().chars().any(|c| c.is_ascii_digit()));
        // From a focused row, Tab reaches its actions (and only that row's).
        wait_for(b, "li[data-action-row]").await.send_keys("\u{E004}").await.expect("press Tab");
        let active = "const a = document.activeElement; \
            return [a.className, !!a.closest('li[data-action-row]')]";
        let (class, in_row): (String, bool) = serde_json::from_value(b.execute(active, vec![]).await.unwrap()).unwrap();
        assert!(class.contains("action-reply") && in_row, "Tab from the row: {class} {in_row}");
    })
    .await;
}
