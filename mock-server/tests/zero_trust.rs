//! Issue 10 against a real server process: budget theft (token scopes, member allowances),
//! strangers and waiting keys that try to fill a room, too many connections of one key,
//! messages that outrun the budget, sends before the join, replayed signed reads, and
//! what a waiting key may learn. Each attack is refused with its documented code and
//! changes nothing.

mod support;

use protocol::api::OwnerCall;
use std::time::Duration;

use protocol::api::CreateAuthorization;
use protocol::error::ErrorCode;
use protocol::frames::{Access, ClientFrame, ServerFrame};
use protocol::key_wrap;
use protocol::room_state::SealedMotd;
use serde_json::json;
use support::{SECRET, kv_rows, message_rows, room_files, server};
use testkit::client::{
    self, Member, TestRoom, create_room, member_token, new_content_key, new_identity, now_ms, open_socket, owner,
    owner_call, read_until_close, seal_text, send_signed, sign_request,
};

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_carry_the_budget_off() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &["--initial-budget", &(400 * MIB).to_string()]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let member = new_identity();
    let _m = Member::join(&srv.ws_base(), &room.id, member.clone()).await.unwrap();

    // The default allowance is a quarter of the budget: 100 MiB.
    let settings = owner(&http, &room.id, &room.owner, &OwnerCall::Settings).await.unwrap();
    assert_eq!(settings["allowance"], 100 * MIB);
    let rows = kv_rows(data.path(), &room.id);
    let (status, err) = member_token(&http, &room.id, &member, 101 * MIB).await.unwrap_err();
    assert_eq!((status, err.error.code), (507, ErrorCode::AllowanceExhausted));
    assert_eq!(err.error.limit, Some(100 * MIB), "the bytes left to the member");
    assert_eq!(kv_rows(data.path(), &room.id), rows, "a refused token changes nothing");

    // Within the allowance: granted, and it pays for uploads only.
    let token = member_token(&http, &room.id, &member, 40 * MIB).await.unwrap();
    let (status, err) = member_token(&http, &room.id, &member, 64 * MIB).await.unwrap_err();
    assert_eq!((status, err.error.code, err.error.limit), (507, ErrorCode::AllowanceExhausted, Some(60 * MIB)));
    let files = room_files(data.path());
    let stolen = TestRoom::fresh()
        .register(&http, CreateAuthorization::StorageToken { token: token["token"].as_str().unwrap().into() })
        .await;
    let (status, err) = stolen.unwrap_err();
    assert_eq!((status, err.error.code), (403, ErrorCode::TokenWrongScope));
    assert_eq!(room_files(data.path()), files, "no room was created with the member's token");
    // Member tokens still pay for uploads (within what is left of the allowance).
    let (_, done) = testkit::client::upload_file(&http, &room.id, &member, &vec![5u8; 200_000], true).await;
    assert!(done.is_some(), "a member's token paid for its upload");

    // The owner sees who drew what, and can change the allowance; the owner has none.
    let members = owner(&http, &room.id, &room.owner, &OwnerCall::Members).await.unwrap();
    let row = members["members"].as_array().unwrap().iter().find(|m| m["key"] == member.public_key().to_b64()).cloned();
    assert!(row.unwrap()["spent"].as_u64().unwrap() >= 40 * MIB);
    owner(&http, &room.id, &room.owner, &OwnerCall::SetAllowance { allowance: 0 }).await.unwrap();
    let (_, err) = member_token(&http, &room.id, &member, 32 * 1024).await.unwrap_err();
    assert_eq!(err.error.code, ErrorCode::AllowanceExhausted);
    member_token(&http, &room.id, &room.owner, 200 * MIB).await.expect("the owner has no allowance");
    // Tokens the owner issues still fund rooms.
    let owners = owner(&http, &room.id, &room.owner, &OwnerCall::IssueToken { size: 32 * MIB }).await;
    let owners = owners.unwrap();
    TestRoom::fresh()
        .register(&http, CreateAuthorization::StorageToken { token: owners["token"].as_str().unwrap().into() })
        .await
        .expect("an owner's token funds a new room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_keys_cannot_fill_a_room_and_learn_nothing() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &["--default-capacity", "2"]);
    let (http, ws) = (srv.http_base(), srv.ws_base());
    let room = create_room(&http, SECRET).await;
    let first = new_identity();
    let _a = Member::join(&ws, &room.id, first.clone()).await.unwrap();
    // A sealed message of the day: members can open it, the server cannot.
    let motd = SealedMotd::seal(&room.id, 0, &room.key, "MOTD-only-members-read-7c1e", testkit::random_bytes());
    let state = room.next_state(|f| f.motd = Some(motd));
    owner(&http, &room.id, &room.owner, &OwnerCall::PutState { state: state.clone() }).await.unwrap();
    let k1 = new_content_key();
    let wraps = json!([
        key_wrap::wrap(&room.owner, &room.owner.public_key(), &room.id, 1, &k1, testkit::random_bytes()),
        key_wrap::wrap(&room.owner, &first.public_key(), &room.id, 1, &k1, testkit::random_bytes()),
    ]);
    let state = room.next_state(|f| {
        f.epoch = 1;
        f.locked = true;
        f.motd = None;
    });
    owner_call(&http, &room.id, &room.owner, "POST", "lock", Some(json!({"epoch": 1, "keys": wraps, "state": state})))
        .await
        .unwrap();

    // Three keys with the link ask to join a room of capacity 2 that holds one member:
    // waiting keys take no seat, so all three may wait.
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let w = Member::join(&ws, &room.id, new_identity()).await.expect("a waiting key is let in to wait");
        assert_eq!(w.access, Access::Pending);
        // A waiting key learns nothing but that the room is locked and whose it is.
        assert!(w.state.signed.is_none() && w.state.guest.is_none() && w.state.latest.is_none());
        assert!(w.keys.is_empty() && w.backlog.is_empty());
        waiting.push(w);
    }
    // The verified guest is the first admitted key, never a key that only asked.
    let owner_view = Member::join(&ws, &room.id, room.owner.clone()).await.unwrap();
    assert_eq!(owner_view.state.guest, Some(first.public_key()));
    assert!(
        testkit::scan::files_containing(data.path(), b"MOTD-only-members-read-7c1e").is_empty(),
        "the motd is sealed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_cannot_open_unbounded_connections() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let room = create_room(&srv.http_base(), SECRET).await;
    let me = new_identity();
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(Member::join(&srv.ws_base(), &room.id, me.clone()).await.expect("within the limit"));
    }
    let refused = Member::join(&srv.ws_base(), &room.id, me.clone()).await.err().expect("the 9th is refused");
    assert!(matches!(
        refused.frames.first(),
        Some(ServerFrame::Error { error, .. }) if error.code == ErrorCode::TooManyConnections && error.limit == Some(8)
    ));
    assert_eq!(refused.close, Some(4429));
    // Closing one makes room again.
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    Member::join(&srv.ws_base(), &room.id, me).await.expect("a slot came free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_messages_are_paid_for_out_of_the_budget() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &["--initial-budget", "3000", "--rate-burst", "100"]);
    let room = create_room(&srv.http_base(), SECRET).await;
    let mut m = Member::join(&srv.ws_base(), &room.id, room.owner.clone()).await.unwrap();
    let mut stored = 0;
    let refused = loop {
        let env = m.say(&room.key, &format!("m-{stored}"), "a message that costs its stored size").await;
        match m.next().await {
            Some(ServerFrame::Ack { .. }) => stored += 1,
            Some(ServerFrame::Error { error, cid }) => break (error, cid, env),
            other => panic!("{other:?}"),
        }
        assert!(stored < 20, "a 3,000-byte budget holds only a few messages");
    };
    let (error, cid, env) = refused;
    assert_eq!(error.code, ErrorCode::BudgetExhausted);
    assert_eq!(cid, Some(env.cid), "the refusal names the message");
    assert!(stored >= 2, "messages were stored until the budget ran out ({stored})");
    assert_eq!(message_rows(data.path(), &room.id), stored, "nothing stored past the budget");
    let budget = owner(&srv.http_base(), &room.id, &room.owner, &OwnerCall::Budget).await.unwrap();
    assert!(budget["remaining"].as_u64().unwrap() < 1000);
    assert!(budget["message_bytes"].as_u64().unwrap() > 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_before_hello_is_refused_unverified_and_signed_reads_are_single_use() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    // A send with a broken signature before any hello: `not_joined`, not `bad_signature`
    // (the server did not spend a verification on it).
    let mut ws = open_socket(&srv.ws_base(), room.id.as_str()).await;
    let _challenge = client::next_frame(&mut ws, Duration::from_secs(5)).await;
    let mut env = seal_text(&room.id, &new_identity(), &room.key, "early", "x", "y");
    env.sig.0[5] ^= 1;
    use futures_util::SinkExt;
    let frame = serde_json::to_string(&ClientFrame::Send { env }).unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::Text(frame.into())).await.unwrap();
    let (frames, close) = read_until_close(&mut ws, Duration::from_secs(5)).await;
    assert!(matches!(frames.first(), Some(ServerFrame::Error { error, .. }) if error.code == ErrorCode::NotJoined));
    assert_eq!(close, Some(4400));

    // Every refusal of one message names it: here a bad signature from a joined member.
    let mut member = Member::join(&srv.ws_base(), &room.id, new_identity()).await.unwrap();
    let mut forged = seal_text(&room.id, &member.identity, &room.key, "forged-1", "x", "y");
    forged.sig.0[7] ^= 1;
    member.send_envelope(forged).await;
    match member.next().await {
        Some(ServerFrame::Error { error, cid }) => {
            assert_eq!(error.code, ErrorCode::BadSignature);
            assert_eq!(cid.as_ref().map(|c| c.as_str()), Some("forged-1"), "the refusal carries the message's cid");
        }
        other => panic!("{other:?}"),
    }

    // In a locked room, a signed history read works once; its replay is refused.
    let wraps = json!([key_wrap::wrap(
        &room.owner,
        &room.owner.public_key(),
        &room.id,
        1,
        &new_content_key(),
        testkit::random_bytes()
    )]);
    let state = room.next_state(|f| {
        f.epoch = 1;
        f.locked = true;
    });
    owner_call(&http, &room.id, &room.owner, "POST", "lock", Some(json!({"epoch": 1, "keys": wraps, "state": state})))
        .await
        .unwrap();
    let path = format!("/api/rooms/{}/history", room.id);
    let auth = sign_request(&room.owner, "GET", &path, b"", now_ms());
    send_signed(&http, "GET", &path, b"", &auth).await.expect("the first read");
    let (status, err) = send_signed(&http, "GET", &path, b"", &auth).await.unwrap_err();
    assert_eq!((status, err.error.code), (409, ErrorCode::ReplayedRequest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_calls_are_authenticated_before_their_body_is_read() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let rows = kv_rows(data.path(), &room.id);
    // 4 MiB of junk signed by a stranger: refused as forbidden (the signer does not own
    // the room), never parsed (a parse would answer malformed_request).
    let junk = vec![b'['; 4 * 1024 * 1024 - 1];
    let path = format!("/api/rooms/{}/owner/state", room.id);
    let stranger = new_identity();
    let auth = sign_request(&stranger, "PUT", &path, &junk, now_ms());
    let started = std::time::Instant::now();
    let (status, err) = send_signed(&http, "PUT", &path, &junk, &auth).await.unwrap_err();
    assert_eq!((status, err.error.code), (403, ErrorCode::Forbidden));
    // The same junk "signed" with a bad signature by the owner key: unauthorized, unparsed.
    let mut auth = sign_request(&room.owner, "PUT", &path, b"other body", now_ms());
    auth.nonce = "AAAAAAAAAAAAAAAAAAAAAA".into();
    let (status, err) = send_signed(&http, "PUT", &path, &junk, &auth).await.unwrap_err();
    assert_eq!((status, err.error.code), (401, ErrorCode::Unauthorized));
    eprintln!("two refused 4 MiB owner calls took {:?}", started.elapsed());
    assert_eq!(kv_rows(data.path(), &room.id), rows);
}
