//! The room engine on Cloudflare's runtime: the built Worker and its Durable Objects on
//! real workerd (`wrangler dev --local`), native protocol clients over real sockets, and
//! a byte scan of workerd's state. The same assertions as mock-server's room tests.
#![cfg(not(target_arch = "wasm32"))]

use std::time::Duration;

use protocol::api::{CreateAuthorization, InfoResponse};
use protocol::error::{ErrorCode, HttpError};
use protocol::frames::ServerFrame;
use protocol::ids::RoomId;
use testkit::client::{self, Member, create_room, new_identity, read_until_close};
use testkit::edge::{EdgeOptions, EdgeProcess};
use testkit::scan;

const SECRET: &str = "edge-test-secret";

fn edge(state: &std::path::Path) -> EdgeProcess {
    let mut options = EdgeOptions::new(state);
    options.admin_secret = SECRET.into();
    EdgeProcess::start(options)
}

#[tokio::test]
async fn rooms_chat_persist_across_a_crash_and_leak_nothing_on_the_edge() {
    let dir = tempfile::tempdir().unwrap();
    let mut srv = edge(dir.path());

    let info: InfoResponse = reqwest::get(format!("{}/api/info", srv.http_base())).await.unwrap().json().await.unwrap();
    assert_eq!(info.name, "cloakroom edge");
    assert_eq!(info.protocol, protocol::PROTOCOL_VERSION);

    // A wrong admin secret creates nothing.
    let stranger = client::TestRoom::fresh();
    let refused =
        stranger.register(&srv.http_base(), CreateAuthorization::AdminSecret { secret: "wrong".into() }).await;
    assert!(matches!(&refused, Err((401, e)) if e.error.code == ErrorCode::Unauthorized), "{refused:?}");

    let room = create_room(&srv.http_base(), SECRET).await;
    let again = room.register(&srv.http_base(), CreateAuthorization::AdminSecret { secret: SECRET.into() }).await;
    assert!(matches!(&again, Err((409, e)) if e.error.code == ErrorCode::RoomExists), "{again:?}");

    let mut owner = Member::join(&srv.ws_base(), &room.id, room.owner.clone()).await.unwrap();
    let mut guest = Member::join(&srv.ws_base(), &room.id, new_identity()).await.unwrap();
    let words = "edge-plaintext-canary-4f1d";
    let env = owner.say(&room.key, "first", words).await;
    let key = match owner.next().await {
        Some(ServerFrame::Ack { cid, key }) => {
            assert_eq!(cid.as_str(), "first");
            key
        }
        other => panic!("expected an ack, got {other:?}"),
    };
    match guest.next().await {
        Some(ServerFrame::Msg { m }) => {
            assert_eq!(m.key, key);
            assert_eq!(client::open_text(&m.env, &room.key).unwrap(), words);
            assert_eq!(m.env, env);
        }
        other => panic!("expected the broadcast, got {other:?}"),
    }

    // Presence is relayed to the other readers as it came, unacknowledged and unstored
    // (the history below still holds one message).
    let typing = owner.send_ephemeral(&room.key, "typing-1", protocol::envelope::Content::Typing { on: true }).await;
    assert_eq!(guest.next_ephemeral().await, Some(typing), "the relayed presence");
    assert!(owner.next_within(Duration::from_millis(300)).await.is_none(), "no ack for presence");

    // Acknowledged means durable: a SIGKILL of wrangler and workerd loses nothing.
    srv.restart();
    let page = client::history(&srv.http_base(), &room.id, None, None).await.unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].key, key);
    let late = Member::join(&srv.ws_base(), &room.id, new_identity()).await.unwrap();
    assert_eq!(late.backlog.len(), 1);
    assert_eq!(late.state.latest, Some(key.clone()));

    let times = client::last_message_times(&srv.http_base(), &[room.id.clone(), stranger.id.clone()]).await;
    assert_eq!(times.rooms.get(&room.id), Some(&Some(key)));
    assert_eq!(times.rooms.get(&stranger.id), Some(&None), "a room that does not exist has no messages");

    // The server holds only ciphertext: no plaintext or key in workerd's state.
    drop(late);
    srv.kill9();
    let state = dir.path().join("state");
    let files = scan::files_under(&state);
    assert!(files.iter().any(|p| p.extension().is_some_and(|e| e == "sqlite")), "the rooms' SQLite files: {files:?}");
    scan::assert_only_ciphertext(&state, &[words], room.key.as_bytes(), room.id.as_str());
}

#[tokio::test]
async fn strangers_unknown_rooms_and_foreign_pages_are_refused_with_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let srv = edge(dir.path());

    // A room that does not exist: an error frame, then a close, and no room is made.
    let missing = RoomId::from_owner_key(&new_identity().public_key());
    let mut ws = client::open_socket(&srv.ws_base(), missing.as_str()).await;
    let (frames, close) = read_until_close(&mut ws, Duration::from_secs(10)).await;
    assert!(
        frames.iter().any(|f| matches!(f, ServerFrame::Error { error, .. } if error.code == ErrorCode::UnknownRoom)),
        "{frames:?}"
    );
    assert_eq!(close, Some(4404), "unknown_room closes with 4404, as on mock-server");
    // A malformed room id is refused by the Worker itself, the same way.
    let mut ws = client::open_socket(&srv.ws_base(), "not-a-room").await;
    let (frames, close) = read_until_close(&mut ws, Duration::from_secs(10)).await;
    assert!(
        frames.iter().any(|f| matches!(f, ServerFrame::Error { error, .. } if error.code == ErrorCode::UnknownRoom)),
        "{frames:?}"
    );
    assert_eq!(close, Some(4404), "unknown_room closes with 4404, as on mock-server");
    let history = client::history(&srv.http_base(), &missing, None, None).await;
    assert!(matches!(&history, Err(HttpError { error }) if error.code == ErrorCode::UnknownRoom), "{history:?}");

    // A malformed room id never reaches a room object.
    let bad = reqwest::get(format!("{}/api/rooms/not-a-room/history", srv.http_base())).await.unwrap();
    assert_eq!(bad.status(), 404);
    let bad: HttpError = bad.json().await.unwrap();
    assert_eq!(bad.error.code, ErrorCode::UnknownRoom);

    // A page on another origin may not open sockets.
    let room = create_room(&srv.http_base(), SECRET).await;
    let url = format!("{}/ws/{}", srv.ws_base(), room.id);
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).unwrap();
    request.headers_mut().insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign origin must be refused, got {:?}", other.map(|_| ())),
    }

    // A plain GET of a socket address, and a body past the limit (refused by its declared
    // length, before it is read), get typed refusals too.
    let plain = reqwest::get(format!("{}/ws/{}", srv.http_base(), room.id)).await.unwrap();
    assert_eq!(plain.status(), 400);
    assert_eq!(plain.json::<HttpError>().await.unwrap().error.code, ErrorCode::MalformedRequest);
    let huge = reqwest::Client::new()
        .post(format!("{}/api/rooms", srv.http_base()))
        .body(vec![b' '; 64 * 1024 + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    let huge: HttpError = huge.json().await.unwrap();
    assert_eq!((huge.error.code, huge.error.limit), (ErrorCode::BodyTooLarge, Some(64 * 1024)));
    let at_limit = reqwest::Client::new()
        .post(format!("{}/api/rooms", srv.http_base()))
        .body(vec![b' '; 64 * 1024])
        .send()
        .await
        .unwrap();
    let at_limit: HttpError = at_limit.json().await.unwrap();
    assert_eq!(at_limit.error.code, ErrorCode::MalformedRequest, "at the limit the body is read (and is not JSON)");

    // Unknown API paths get a typed 404 with the security headers.
    let none = reqwest::get(format!("{}/api/nope", srv.http_base())).await.unwrap();
    assert_eq!(none.status(), 404);
    assert!(none.headers().get("content-security-policy").is_some());
    assert_eq!(none.headers().get("cache-control").unwrap(), "no-store");
}

/// KV_global on Workers KV: `last-message-times` reads each room's newest key from KV,
/// written at most once a second per room (Workers KV's per-key limit), and the newest
/// key of a burst still lands after every socket has gone (the object's alarm alone).
#[tokio::test]
async fn the_newest_message_key_reaches_kv_at_most_once_a_second_and_after_everyone_left() {
    let dir = tempfile::tempdir().unwrap();
    let srv = edge(dir.path());
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let mut owner = Member::join(&srv.ws_base(), &room.id, room.owner.clone()).await.unwrap();
    let latest = |http: String, room: RoomId| async move {
        client::last_message_times(&http, std::slice::from_ref(&room)).await.rooms.get(&room).cloned().flatten()
    };
    assert_eq!(latest(http.clone(), room.id.clone()).await, None, "no message, no key");

    // 30 messages over ~1.5 s while a reader polls every 25 ms: the value it sees changes
    // at most once per second of the burst (plus the first write), never per message.
    let poller = {
        let (http, id) = (http.clone(), room.id.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let until = std::time::Instant::now() + Duration::from_millis(1_600);
            while std::time::Instant::now() < until {
                let now = latest(http.clone(), id.clone()).await;
                if seen.last() != Some(&now) {
                    seen.push(now);
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            seen
        })
    };
    let mut keys = Vec::new();
    for i in 0..30 {
        owner.say(&room.key, &format!("m{i}"), "burst").await;
        loop {
            if let Some(ServerFrame::Ack { key, .. }) = owner.next().await {
                keys.push(key);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = poller.await.unwrap();
    let changes = seen.iter().filter(|v| v.is_some()).count();
    println!("KV_global: {changes} distinct newest keys seen during a burst of {} messages", keys.len());
    assert!((1..=3).contains(&changes), "KV took {changes} writes in ~1.6 s: {seen:?}");
    assert!(seen.iter().flatten().all(|k| keys.contains(k)), "only this room's keys");

    // Everyone leaves at once; the newest key still lands (the alarm writes it).
    drop(owner);
    let newest = keys.last().cloned();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while latest(http.clone(), room.id.clone()).await != newest {
        assert!(std::time::Instant::now() < deadline, "the newest key never reached KV");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
