//! Tables of named cases, one test per kind of input: every bad input gets its documented
//! error code (and close code when fatal) and changes nothing on disk. Real server
//! process, real sockets, row counts read from the SQLite files.

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use protocol::envelope::{B64Bytes, Envelope};
use protocol::error::{ErrorCode, HttpError};
use protocol::frames::{ClientFrame, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::{MessageKey, RoomId, Timestamp};
use protocol::transcript;
use support::{SECRET, kv_rows, room_files, server};
use testkit::client::{
    Member, TestRoom, create_room, new_identity, next_frame, now_ms, open_socket, read_until_close, seal_text,
};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Builds the frame a joining client sends, given the server's challenge nonce.
type AnswerToChallenge<'a> = Box<dyn Fn(&[u8]) -> String + 'a>;

/// What a case sends on a joined connection.
enum Input {
    Text(String),
    Binary(Vec<u8>),
}

fn frame(f: &ClientFrame) -> Input {
    Input::Text(serde_json::to_string(f).unwrap())
}

fn send_env(env: Envelope) -> Input {
    frame(&ClientFrame::Send { env })
}

/// Replaces one field of an envelope's JSON.
fn env_with(env: &Envelope, field: &str, value: serde_json::Value) -> Input {
    let mut v = serde_json::to_value(ClientFrame::Send { env: env.clone() }).unwrap();
    v["env"][field] = value;
    Input::Text(v.to_string())
}

fn resign(env: &mut Envelope, by: &IdentityKey) {
    let header = transcript::MessageHeader {
        room: &env.room,
        sender: &env.sender,
        epoch: env.epoch,
        cid: &env.cid,
        to: env.to.as_ref(),
    };
    env.sig = by.sign(&transcript::message_signature(&header, &env.iv.0, &env.ct.0));
}

/// Reads until an error frame arrives; returns its code and, if the server then closes,
/// the close code.
async fn expect_error(member: &mut Member, name: &str) -> (ErrorCode, Option<u16>) {
    let code = loop {
        match next_frame(&mut member.ws, Duration::from_secs(10)).await {
            Some(ServerFrame::Error { error, .. }) => break error.code,
            Some(_) => continue,
            None => panic!("{name}: no error frame"),
        }
    };
    let close = if code.close_code().is_some() {
        read_until_close(&mut member.ws, Duration::from_secs(10)).await.1
    } else {
        // The connection stays usable.
        member.ws.send(Message::Ping(Vec::new().into())).await.expect("still open");
        None
    };
    (code, close)
}

fn joined_cases(room: &TestRoom, me: &IdentityKey) -> Vec<(&'static str, Input, ErrorCode)> {
    let other = new_identity();
    let good = seal_text(&room.id, me, &room.key, "ok-1", "me", "fine");
    let mut tampered = good.clone();
    tampered.ct.0[0] ^= 1;
    let mut signed_by_other = good.clone();
    resign(&mut signed_by_other, &other);
    let forged = seal_text(&room.id, &other, &room.key, "forge", "x", "not me");
    let other_room = RoomId::from_owner_key(&other.public_key());
    let mut wrong_room = good.clone();
    wrong_room.room = other_room;
    resign(&mut wrong_room, me);
    let mut v2 = good.clone();
    v2.v = 2;
    let mut short_iv = good.clone();
    short_iv.iv = B64Bytes(vec![1; 8]);
    resign(&mut short_iv, me);
    let big = seal_text(&room.id, me, &room.key, "big-1", "me", &"y".repeat(30_000));
    let hello = ClientFrame::Hello { v: 2, key: me.public_key(), sig: me.sign(b"whatever"), invite: None };
    vec![
        ("not JSON", Input::Text("not json".into()), ErrorCode::MalformedFrame),
        ("JSON array", Input::Text("[1,2,3]".into()), ErrorCode::MalformedFrame),
        ("unknown frame type", Input::Text(r#"{"t":"dance"}"#.into()), ErrorCode::MalformedFrame),
        ("send without envelope", Input::Text(r#"{"t":"send"}"#.into()), ErrorCode::MalformedFrame),
        ("epoch of the wrong type", env_with(&good, "epoch", "zero".into()), ErrorCode::MalformedFrame),
        ("ciphertext not base64url", env_with(&good, "ct", "!!!".into()), ErrorCode::MalformedFrame),
        ("client id with spaces", env_with(&good, "cid", "a b".into()), ErrorCode::MalformedFrame),
        ("sender not a P-256 key", env_with(&good, "sender", "AAAA".into()), ErrorCode::MalformedFrame),
        ("8-byte nonce", send_env(short_iv), ErrorCode::MalformedFrame),
        ("binary frame", Input::Binary(vec![1, 2, 3]), ErrorCode::MalformedFrame),
        ("frame just over 64 KiB", Input::Text("x".repeat(64 * 1024 + 1)), ErrorCode::FrameTooLarge),
        ("512 KiB frame", Input::Text("x".repeat(512 * 1024)), ErrorCode::FrameTooLarge),
        ("message over 32 KiB in a small frame", send_env(big), ErrorCode::MessageTooLarge),
        ("tampered ciphertext", send_env(tampered), ErrorCode::BadSignature),
        ("signed by someone else", send_env(signed_by_other), ErrorCode::BadSignature),
        ("someone else's message", send_env(forged), ErrorCode::SenderMismatch),
        ("envelope for another room", send_env(wrong_room), ErrorCode::WrongRoom),
        ("envelope version 2", send_env(v2), ErrorCode::UnsupportedVersion),
        ("second hello", frame(&hello), ErrorCode::AlreadyJoined),
    ]
}

/// A server (rate limit 1/s, burst 5) with one room.
async fn setup() -> (tempfile::TempDir, testkit::backend::TestServer, TestRoom) {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &["--rate-per-second", "1", "--rate-burst", "5"]);
    let room = create_room(&srv.http_base(), SECRET).await;
    (data, srv, room)
}

/// On a joined connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_frame_on_a_joined_connection_gets_its_code_and_changes_nothing() {
    let (data, srv, room) = setup().await;
    let ws = srv.ws_base();
    let mut checked = 0;
    let names: Vec<(&str, ErrorCode)> =
        joined_cases(&room, &new_identity()).into_iter().map(|(n, _, e)| (n, e)).collect();
    for (name, expected) in names {
        // Each case gets a fresh member; its inputs are sealed for that member's key.
        let me = new_identity();
        let (_, input_for_me, _) = joined_cases(&room, &me).into_iter().find(|(n, _, _)| *n == name).unwrap();
        let mut member = Member::join(&ws, &room.id, me).await.unwrap();
        let before = kv_rows(data.path(), &room.id);
        match input_for_me {
            Input::Text(t) => member.send_raw(t).await,
            Input::Binary(b) => member.ws.send(Message::Binary(b.into())).await.unwrap(),
        }
        let (code, close) = expect_error(&mut member, name).await;
        assert_eq!(code, expected, "{name}");
        assert_eq!(close, expected.close_code(), "{name}: close code");
        assert_eq!(kv_rows(data.path(), &room.id), before, "{name}: something was stored");
        checked += 1;
    }
    assert_eq!(checked, 19, "every case of the table ran");
}

/// A frame above the transport's 1 MiB cap: the connection is cut, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_above_the_transport_cap_cuts_the_connection_and_stores_nothing() {
    let (data, srv, room) = setup().await;
    let ws = srv.ws_base();
    let mut member = Member::join(&ws, &room.id, new_identity()).await.unwrap();
    let before = kv_rows(data.path(), &room.id);
    let _ = member.ws.send(Message::Text("x".repeat(2 * 1024 * 1024).into())).await;
    // Until the cut: at most the error, or a room update sent before the frame arrived
    // (the first member becomes the room's verified guest).
    let (frames, _) = read_until_close(&mut member.ws, Duration::from_secs(10)).await;
    assert!(frames.iter().all(|f| matches!(f, ServerFrame::Error { .. } | ServerFrame::Room { .. })), "{frames:?}");
    assert_eq!(kv_rows(data.path(), &room.id), before);
}

/// Rate limit: the burst is accepted, the excess refused and not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_accepts_the_burst_and_refuses_the_excess_by_its_cid() {
    let (data, srv, room) = setup().await;
    let ws = srv.ws_base();
    let mut member = Member::join(&ws, &room.id, new_identity()).await.unwrap();
    let before = kv_rows(data.path(), &room.id);
    for i in 0..6 {
        member.say(&room.key, &format!("rate-{i}"), "quick").await;
    }
    let mut acks = 0;
    let mut refused = None;
    for _ in 0..6 {
        match member.next().await {
            Some(ServerFrame::Ack { .. }) => acks += 1,
            Some(ServerFrame::Error { error, cid }) => refused = Some((error, cid)),
            other => panic!("{other:?}"),
        }
    }
    let (error, cid) = refused.expect("the sixth message is refused");
    assert_eq!(error.code, ErrorCode::RateLimited);
    assert_eq!(error.limit, Some(1));
    assert_eq!(cid.unwrap().as_str(), "rate-5");
    assert_eq!(acks, 5);
    assert_eq!(kv_rows(data.path(), &room.id), before + 5 * 2, "5 messages and their dedup entries, nothing more");
}

/// During the join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_join_answer_gets_its_code_and_changes_nothing() {
    let (data, srv, room) = setup().await;
    let ws = srv.ws_base();
    let mut checked = 0;
    let join_cases: Vec<(&str, AnswerToChallenge, ErrorCode)> = vec![
        (
            "send before answering the challenge",
            Box::new(|_| {
                let me = new_identity();
                serde_json::to_string(&ClientFrame::Send {
                    env: seal_text(&room.id, &me, &room.key, "early", "x", "y"),
                })
                .unwrap()
            }),
            ErrorCode::NotJoined,
        ),
        (
            "answer to another connection's challenge (replay)",
            Box::new(|_| {
                let me = new_identity();
                let sig = me.sign(&transcript::join(&room.id, &[7; 32]));
                serde_json::to_string(&ClientFrame::Hello { v: 2, key: me.public_key(), sig, invite: None }).unwrap()
            }),
            ErrorCode::BadChallengeResponse,
        ),
        (
            "answer signed by a different key than claimed",
            Box::new(|nonce| {
                let (claimed, signer) = (new_identity(), new_identity());
                let sig = signer.sign(&transcript::join(&room.id, nonce));
                serde_json::to_string(&ClientFrame::Hello { v: 2, key: claimed.public_key(), sig, invite: None })
                    .unwrap()
            }),
            ErrorCode::BadChallengeResponse,
        ),
        (
            "answer for another room",
            Box::new(|nonce| {
                let me = new_identity();
                let elsewhere = RoomId::from_owner_key(&me.public_key());
                let sig = me.sign(&transcript::join(&elsewhere, nonce));
                serde_json::to_string(&ClientFrame::Hello { v: 2, key: me.public_key(), sig, invite: None }).unwrap()
            }),
            ErrorCode::BadChallengeResponse,
        ),
        (
            "a new key without the invite link's proof",
            Box::new(|nonce| {
                let me = new_identity();
                let sig = me.sign(&transcript::join(&room.id, nonce));
                serde_json::to_string(&ClientFrame::Hello { v: 2, key: me.public_key(), sig, invite: None }).unwrap()
            }),
            ErrorCode::InviteRequired,
        ),
        (
            "a new key with an invite proof made for another key",
            Box::new(|nonce| {
                let (me, other) = (new_identity(), new_identity());
                let sig = me.sign(&transcript::join(&room.id, nonce));
                let invite = Some(protocol::invite::InviteProof::make(&room.id, &room.key, &other.public_key()));
                serde_json::to_string(&ClientFrame::Hello { v: 2, key: me.public_key(), sig, invite }).unwrap()
            }),
            ErrorCode::InviteRequired,
        ),
        (
            "a new key with a proof from another link (a guessed key)",
            Box::new(|nonce| {
                let me = new_identity();
                let sig = me.sign(&transcript::join(&room.id, nonce));
                let guessed = testkit::client::new_content_key();
                let invite = Some(protocol::invite::InviteProof::make(&room.id, &guessed, &me.public_key()));
                serde_json::to_string(&ClientFrame::Hello { v: 2, key: me.public_key(), sig, invite }).unwrap()
            }),
            ErrorCode::InviteRequired,
        ),
        (
            "hello with protocol version 9",
            Box::new(|nonce| {
                let me = new_identity();
                let sig = me.sign(&transcript::join(&room.id, nonce));
                serde_json::to_string(&ClientFrame::Hello { v: 9, key: me.public_key(), sig, invite: None }).unwrap()
            }),
            ErrorCode::BadChallengeResponse,
        ),
        (
            "hello with a key that is not on the curve",
            Box::new(|_| {
                let mut bytes = vec![4u8];
                bytes.extend([1u8; 64]);
                serde_json::json!({"t": "hello", "v": 1, "key": protocol::encoding::b64(&bytes), "sig": protocol::encoding::b64(&[0; 64])})
                    .to_string()
            }),
            ErrorCode::MalformedFrame,
        ),
    ];
    for (name, make, expected) in join_cases {
        let before = kv_rows(data.path(), &room.id);
        let mut sock = open_socket(&ws, room.id.as_str()).await;
        let nonce = match next_frame(&mut sock, Duration::from_secs(5)).await {
            Some(ServerFrame::Challenge { nonce, .. }) => nonce.0,
            other => panic!("{other:?}"),
        };
        sock.send(Message::Text(make(&nonce).into())).await.unwrap();
        let (frames, close) = read_until_close(&mut sock, Duration::from_secs(10)).await;
        let code = frames.iter().find_map(|f| match f {
            ServerFrame::Error { error, .. } => Some(error.code),
            _ => None,
        });
        assert_eq!(code, Some(expected), "{name}");
        assert_eq!(close, expected.close_code(), "{name}: close code");
        assert_eq!(kv_rows(data.path(), &room.id), before, "{name}: something was stored");
        checked += 1;
    }
    assert_eq!(checked, 9, "every case of the table ran");
}

/// Unknown rooms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_to_unknown_rooms_are_refused_without_creating_a_file() {
    let (data, srv, _room) = setup().await;
    let ws = srv.ws_base();
    let mut checked = 0;
    let files = room_files(data.path());
    for (name, path) in [
        ("a room that does not exist", RoomId::from_owner_key(&new_identity().public_key()).to_string()),
        ("not a room id", "not-a-room".to_owned()),
    ] {
        let mut sock = open_socket(&ws, &path).await;
        let (frames, close) = read_until_close(&mut sock, Duration::from_secs(10)).await;
        assert!(
            matches!(frames.first(), Some(ServerFrame::Error { error, .. }) if error.code == ErrorCode::UnknownRoom),
            "{name}: {frames:?}"
        );
        assert_eq!(close, Some(4404), "{name}");
        assert_eq!(room_files(data.path()), files, "{name}: a room file appeared");
        checked += 1;
    }
    assert_eq!(checked, 2, "every case of the table ran");
}

/// A WebSocket from a foreign origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_from_a_foreign_origin_is_refused() {
    let (_data, srv, room) = setup().await;
    let ws = srv.ws_base();
    let mut request = format!("{ws}/ws/{}", room.id).into_client_request().unwrap();
    request.headers_mut().insert("Origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 403);
            // The handshake keeps only the body bytes that came with the head (workerd
            // may send them later): read the refusal again as plain HTTP for its code.
            let body = match resp.body().as_deref().filter(|b| !b.is_empty()) {
                Some(body) => body.to_vec(),
                None => reqwest::Client::new()
                    .get(format!("{}/ws/{}", srv.http_base(), room.id))
                    .header("Origin", "https://evil.example")
                    .header("Upgrade", "websocket")
                    .header("Connection", "Upgrade")
                    .header("Sec-WebSocket-Version", "13")
                    .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
                    .to_vec(),
            };
            let body: HttpError = serde_json::from_slice(&body).unwrap();
            assert_eq!(body.error.code, ErrorCode::OriginNotAllowed);
        }
        other => panic!("a foreign origin must be refused, got {:?}", other.map(|_| ())),
    }
}

/// HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_http_request_gets_its_code_and_changes_nothing() {
    let (data, srv, room) = setup().await;
    let http = srv.http_base();
    let mut checked = 0;
    let other = create_room(&http, SECRET).await;
    let foreign_cursor = MessageKey::new(&other.id, Timestamp(1)).to_string();
    let files = room_files(data.path());
    let rows = kv_rows(data.path(), &room.id);
    let owner = new_identity();
    let owner_room = RoomId::from_owner_key(&owner.public_key());
    // Creation bodies, each signed (as a signed request) by the key named with it.
    let signers: std::cell::RefCell<Vec<(String, IdentityKey)>> = Default::default();
    let create_signed_by = |room: &RoomId, owner: &IdentityKey, secret: &str, signer: &IdentityKey| {
        let fields = testkit::client::first_state_fields(room, &testkit::client::new_content_key());
        let state = protocol::room_state::SignedState::sign(owner, room, fields);
        let body = serde_json::json!({"room": room, "owner": owner.public_key(),
            "auth": {"kind": "admin_secret", "secret": secret}, "state": state})
        .to_string();
        signers.borrow_mut().push((body.clone(), signer.clone()));
        body
    };
    let create = |room: &RoomId, owner: &IdentityKey, secret: &str| create_signed_by(room, owner, secret, owner);
    let unsigned_create = {
        let fields = testkit::client::first_state_fields(&owner_room, &testkit::client::new_content_key());
        let state = protocol::room_state::SignedState::sign(&owner, &owner_room, fields);
        serde_json::json!({"room": owner_room, "owner": owner.public_key(),
            "auth": {"kind": "admin_secret", "secret": SECRET}, "state": state})
        .to_string()
    };
    let too_many: Vec<RoomId> = (0..201).map(|_| RoomId::from_owner_key(&new_identity().public_key())).collect();
    let r = &room.id;
    let http_cases: Vec<(&str, &str, String, Option<String>, ErrorCode)> = vec![
        ("cursor that is not a key", "GET", format!("/api/rooms/{r}/history?before=zzz"), None, ErrorCode::BadCursor),
        (
            "cursor of another room",
            "GET",
            format!("/api/rooms/{r}/history?before={foreign_cursor}"),
            None,
            ErrorCode::BadCursor,
        ),
        ("limit 0", "GET", format!("/api/rooms/{r}/history?limit=0"), None, ErrorCode::BadLimit),
        ("limit above the maximum", "GET", format!("/api/rooms/{r}/history?limit=501"), None, ErrorCode::BadLimit),
        ("limit not a number", "GET", format!("/api/rooms/{r}/history?limit=ten"), None, ErrorCode::BadLimit),
        (
            "history of an unknown room",
            "GET",
            format!("/api/rooms/{}/history", RoomId::from_owner_key(&new_identity().public_key())),
            None,
            ErrorCode::UnknownRoom,
        ),
        ("history of a malformed room id", "GET", "/api/rooms/nope/history".into(), None, ErrorCode::UnknownRoom),
        ("create with a non-JSON body", "POST", "/api/rooms".into(), Some("{".into()), ErrorCode::MalformedRequest),
        (
            "create with the wrong secret",
            "POST",
            "/api/rooms".into(),
            Some(create(&owner_room, &owner, "wrong")),
            ErrorCode::Unauthorized,
        ),
        (
            "create a room id not derived from the owner key",
            "POST",
            "/api/rooms".into(),
            Some(create(&owner_room, &new_identity(), SECRET)),
            ErrorCode::RoomIdMismatch,
        ),
        (
            "create without the owner key's signature",
            "POST",
            "/api/rooms".into(),
            Some(unsigned_create.clone()),
            ErrorCode::Unauthorized,
        ),
        (
            "create signed by another key than the owner's (squatting)",
            "POST",
            "/api/rooms".into(),
            Some(create_signed_by(&owner_room, &owner, SECRET, &new_identity())),
            ErrorCode::Forbidden,
        ),
        (
            "create with a first state signed by another key",
            "POST",
            "/api/rooms".into(),
            Some({
                let fields = testkit::client::first_state_fields(&owner_room, &testkit::client::new_content_key());
                let state = protocol::room_state::SignedState::sign(&new_identity(), &owner_room, fields);
                let body = serde_json::json!({"room": owner_room, "owner": owner.public_key(),
                    "auth": {"kind": "admin_secret", "secret": SECRET}, "state": state})
                .to_string();
                signers.borrow_mut().push((body.clone(), owner.clone()));
                body
            }),
            ErrorCode::BadState,
        ),
        (
            "create an existing room",
            "POST",
            "/api/rooms".into(),
            Some(create(&room.id, &room.owner, SECRET)),
            ErrorCode::RoomExists,
        ),
        (
            "create with a 100 KiB body",
            "POST",
            "/api/rooms".into(),
            Some("x".repeat(100 * 1024)),
            ErrorCode::BodyTooLarge,
        ),
        (
            "last-message-times for 201 rooms",
            "POST",
            "/api/last-message-times".into(),
            Some(serde_json::json!({ "rooms": too_many }).to_string()),
            ErrorCode::BadLimit,
        ),
        (
            "last-message-times with a bad room id",
            "POST",
            "/api/last-message-times".into(),
            Some(r#"{"rooms":["x"]}"#.into()),
            ErrorCode::MalformedRequest,
        ),
        ("an endpoint that does not exist", "GET", "/api/nothing-here".into(), None, ErrorCode::NotFound),
    ];
    let http_client = reqwest::Client::new();
    let signers = signers.into_inner();
    for (name, method, path, body, expected) in http_cases {
        let url = format!("{http}{path}");
        let signer = signers.iter().find(|(b, _)| Some(b) == body.as_ref()).map(|(_, k)| k.clone());
        let mut req = match method {
            "GET" => http_client.get(url),
            _ => {
                http_client.post(url).header("content-type", "application/json").body(body.clone().unwrap_or_default())
            }
        };
        if let Some(signer) = signer {
            let auth =
                testkit::client::sign_request(&signer, method, &path, body.unwrap_or_default().as_bytes(), now_ms());
            for (h, v) in auth.headers() {
                req = req.header(h, v);
            }
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let err: HttpError = resp.json().await.unwrap_or_else(|e| panic!("{name}: the body is not a typed error: {e}"));
        assert_eq!(err.error.code, expected, "{name}");
        assert_eq!(status, expected.http_status(), "{name}: status");
        assert!(!err.error.message.is_empty(), "{name}: a human sentence");
        assert_eq!(room_files(data.path()), files, "{name}: a room file appeared");
        assert_eq!(kv_rows(data.path(), &room.id), rows, "{name}: the room changed");
        checked += 1;
    }
    assert_eq!(checked, 18, "every case of the table ran");
}

#[tokio::test]
async fn a_full_room_refuses_new_keys_and_stores_nothing() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &["--default-capacity", "2"]);
    let room = create_room(&srv.http_base(), SECRET).await;
    let first = new_identity();
    let _a = Member::join(&srv.ws_base(), &room.id, first.clone()).await.unwrap();
    let _b = Member::join(&srv.ws_base(), &room.id, new_identity()).await.unwrap();
    let rows = kv_rows(data.path(), &room.id);
    let refused = Member::join(&srv.ws_base(), &room.id, new_identity()).await.err().expect("the third key is refused");
    assert!(matches!(
        refused.frames.first(),
        Some(ServerFrame::Error { error, .. }) if error.code == ErrorCode::RoomFull && error.limit == Some(2)
    ));
    assert_eq!(refused.close, Some(4409));
    assert_eq!(kv_rows(data.path(), &room.id), rows);
    // Known keys and the owner still get in.
    Member::join(&srv.ws_base(), &room.id, first).await.expect("a known key returns");
    Member::join(&srv.ws_base(), &room.id, room.owner.clone()).await.expect("the owner always gets in");
}
