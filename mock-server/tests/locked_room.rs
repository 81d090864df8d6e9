//! A locked room gives a key that was not accepted nothing: no backlog, no live messages,
//! no calls, no history over HTTP. Once accepted, the key unwraps the new epoch's room key and
//! reads what follows.

mod support;

use std::time::Duration;

use protocol::call::Signal;
use protocol::envelope::{self, Content, Envelope, MessageBody, SealInput};
use protocol::error::ErrorCode;
use protocol::frames::{Access, ClientFrame, ServerFrame};
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ids::{ClientMessageId, RoomId};
use protocol::{key_wrap, whisper};
use serde_json::json;
use support::{SECRET, server};
use testkit::client::{
    self, Member, create_room, new_content_key, new_identity, now_ms, open_text, owner_call, seal_text_at, send_signed,
    sign_request,
};

/// A call offer from `from` to `to` at key epoch 1, sealed with their pair key as a
/// browser seals it.
fn call_offer(room: &RoomId, from: &IdentityKey, to: &PublicKey, cid: &str) -> Envelope {
    let fp = "sha-256 8A:1E:33:0C:9F:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA";
    let sdp = format!("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:{fp}\r\n");
    let signal = Signal::Offer { sdp, fingerprint: fp.into(), video: false, people: Vec::new() };
    let body = MessageBody {
        alias: "caller".into(),
        content: Content::CallSignal { call: "Q2xvYWtyb29tQ2FsbElkMQ".into(), signal },
    };
    let cid = ClientMessageId::parse(cid).expect("valid cid");
    let pair = whisper::pair_key(from, to, room);
    envelope::seal(
        &SealInput { room, epoch: 1, cid: &cid, to: Some(to), body: &body },
        &pair,
        from,
        testkit::random_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_was_not_accepted_gets_no_content_by_any_path() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let (http, ws) = (srv.http_base(), srv.ws_base());
    let room = create_room(&http, SECRET).await;
    let mut owner = Member::join(&ws, &room.id, room.owner.clone()).await.unwrap();
    let mut early = Member::join(&ws, &room.id, new_identity()).await.unwrap();
    owner.say(&room.key, "before-lock", "said while open").await;
    assert!(matches!(owner.next().await, Some(ServerFrame::Ack { .. })));
    assert!(matches!(early.next().await, Some(ServerFrame::Msg { .. })));

    // Lock with a fresh epoch-1 key that only the owner holds.
    let k1 = new_content_key();
    let self_wrap = key_wrap::wrap(&room.owner, &room.owner.public_key(), &room.id, 1, &k1, testkit::random_bytes());
    let state = room.next_state(|f| {
        f.epoch = 1;
        f.locked = true;
    });
    owner_call(
        &http,
        &room.id,
        &room.owner,
        "POST",
        "lock",
        Some(json!({"epoch": 1, "keys": [self_wrap], "state": state})),
    )
    .await
    .unwrap();
    // The early member is told it now waits, and gets nothing more.
    let (state, access, keys) = early.next_room(|s, _| s.locked).await.expect("the lock reaches the early member");
    assert_eq!(access, Access::Pending);
    assert_eq!(state.latest, None);
    assert!(keys.is_empty());

    // A newcomer: welcome says pending, no backlog, no keys, no hint of activity.
    let newcomer = new_identity();
    let mut waiting = Member::join(&ws, &room.id, newcomer.clone()).await.unwrap();
    assert_eq!(waiting.access, Access::Pending);
    assert!(waiting.backlog.is_empty() && waiting.keys.is_empty());
    assert_eq!(waiting.state.latest, None);
    // The owner hears of the request.
    match owner.next().await {
        Some(ServerFrame::JoinRequest { key }) => assert_eq!(key, newcomer.public_key()),
        other => panic!("expected a join request, got {other:?}"),
    }

    // The owner speaks under epoch 1: the waiting keys receive nothing.
    let locked_msg = seal_text_at(&room.id, &room.owner, &k1, 1, "after-lock", "owner", "secret plans");
    owner.send_envelope(locked_msg).await;
    assert!(matches!(owner.next().await, Some(ServerFrame::Ack { .. })));
    assert!(waiting.next_within(Duration::from_millis(700)).await.is_none(), "live message leaked to a waiting key");
    assert!(early.next_within(Duration::from_millis(300)).await.is_none(), "live message leaked to a demoted key");

    // A waiting key cannot post either.
    let attempt = seal_text_at(&room.id, &newcomer, &k1, 1, "sneak", "n", "hi");
    waiting.send_envelope(attempt).await;
    match waiting.next().await {
        Some(ServerFrame::Error { error, .. }) => assert_eq!(error.code, ErrorCode::NotAccepted),
        other => panic!("{other:?}"),
    }

    // Calls neither: a call offer the owner addresses to a waiting key is not relayed to
    // it, and a waiting key cannot ring anyone (a locked room calls only among accepted
    // members).
    let offer = call_offer(&room.id, &room.owner, &newcomer.public_key(), "ring-waiting");
    owner.send_frame(&ClientFrame::Ephemeral { env: offer }).await;
    assert!(waiting.next_within(Duration::from_millis(700)).await.is_none(), "a call reached a waiting key");
    let offer = call_offer(&room.id, &newcomer, &room.owner.public_key(), "ring-owner");
    waiting.send_frame(&ClientFrame::Ephemeral { env: offer }).await;
    match waiting.next().await {
        Some(ServerFrame::Error { error, .. }) => assert_eq!(error.code, ErrorCode::NotAccepted),
        other => panic!("{other:?}"),
    }
    assert!(owner.next_within(Duration::from_millis(300)).await.is_none(), "a waiting key's call reached the owner");

    // HTTP history: unsigned → unauthorized; signed by the waiting key → not accepted.
    let unsigned = client::history(&http, &room.id, None, None).await.unwrap_err();
    assert_eq!(unsigned.error.code, ErrorCode::Unauthorized);
    let path = format!("/api/rooms/{}/history", room.id);
    let auth = sign_request(&newcomer, "GET", &path, b"", now_ms());
    let (status, err) = send_signed(&http, "GET", &path, b"", &auth).await.unwrap_err();
    assert_eq!((status, err.error.code), (403, ErrorCode::NotAccepted));
    let auth = sign_request(&room.owner, "GET", &path, b"", now_ms());
    let page = send_signed(&http, "GET", &path, b"", &auth).await.expect("the owner reads");
    assert_eq!(page["messages"].as_array().unwrap().len(), 2);

    // The owner accepts the newcomer with epoch 1's key wrapped to it.
    let wrapped = key_wrap::wrap(&room.owner, &newcomer.public_key(), &room.id, 1, &k1, testkit::random_bytes());
    owner_call(
        &http,
        &room.id,
        &room.owner,
        "POST",
        "accept",
        Some(json!({"key": newcomer.public_key(), "wrapped": wrapped})),
    )
    .await
    .unwrap();
    let (_, _, granted) = waiting.next_room(|_, a| a == Access::Accepted).await.expect("acceptance");
    let key = key_wrap::unwrap(&newcomer, &granted[0], &room.id).expect("the newcomer unwraps epoch 1's key");
    assert_eq!(key, k1);
    let backlog = match waiting.next().await {
        Some(ServerFrame::Backlog { messages, .. }) => messages,
        other => panic!("expected the backlog, got {other:?}"),
    };
    assert_eq!(open_text(&backlog.last().unwrap().env, &key).unwrap(), "secret plans");
    // New messages arrive live and decrypt.
    let next = seal_text_at(&room.id, &room.owner, &k1, 1, "after-accept", "owner", "welcome aboard");
    owner.send_envelope(next).await;
    match waiting.next().await {
        Some(ServerFrame::Msg { m }) => assert_eq!(open_text(&m.env, &key).unwrap(), "welcome aboard"),
        other => panic!("{other:?}"),
    }
    // The demoted early member still gets nothing; a message under the old epoch is refused.
    assert!(early.next_within(Duration::from_millis(300)).await.is_none());
    waiting.send_envelope(seal_text_at(&room.id, &newcomer, &room.key, 0, "old-epoch", "n", "x")).await;
    match waiting.next().await {
        Some(ServerFrame::Error { error, .. }) => assert_eq!(error.code, ErrorCode::StaleEpoch),
        other => panic!("{other:?}"),
    }
    // Signed history now works for the accepted key.
    let auth = sign_request(&newcomer, "GET", &path, b"", now_ms());
    assert!(send_signed(&http, "GET", &path, b"", &auth).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_is_cut_off_and_the_room_rekeys() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let (http, ws) = (srv.http_base(), srv.ws_base());
    let room = create_room(&http, SECRET).await;
    let (stay, leave) = (new_identity(), new_identity());
    let mut staying = Member::join(&ws, &room.id, stay.clone()).await.unwrap();
    let mut leaving = Member::join(&ws, &room.id, leave.clone()).await.unwrap();
    let k1 = new_content_key();
    let wrap = |to: &protocol::identity::IdentityKey, epoch, key| {
        key_wrap::wrap(&room.owner, &to.public_key(), &room.id, epoch, key, testkit::random_bytes())
    };
    let keys = json!([wrap(&stay, 1, &k1), wrap(&leave, 1, &k1)]);
    let state = room.next_state(|f| {
        f.epoch = 1;
        f.locked = true;
    });
    owner_call(&http, &room.id, &room.owner, "POST", "lock", Some(json!({"epoch": 1, "keys": keys, "state": state})))
        .await
        .unwrap();
    assert!(staying.next_room(|s, a| s.locked && a == Access::Accepted).await.is_some());
    assert!(leaving.next_room(|s, a| s.locked && a == Access::Accepted).await.is_some());
    let k2 = new_content_key();
    // The re-key also rotates the invite: the old link admits no new key.
    let state = room.next_state(|f| {
        f.epoch = 2;
        f.invite = protocol::invite::invite_key(&room.id, &k2).public_key();
        f.invite_epoch = 2;
    });
    let removal =
        json!({"key": leave.public_key(), "rekey": {"epoch": 2, "keys": [wrap(&stay, 2, &k2)], "state": state}});
    owner_call(&http, &room.id, &room.owner, "POST", "remove", Some(removal)).await.unwrap();
    let (frames, close) = client::read_until_close(&mut leaving.ws, Duration::from_secs(10)).await;
    assert!(frames.iter().any(|f| matches!(f, ServerFrame::Error { error, .. } if error.code == ErrorCode::Forbidden)));
    assert_eq!(close, Some(4403));
    let (_, _, keys) = staying.next_room(|s, _| s.epoch == 2).await.expect("the re-key reaches the member who stays");
    assert_eq!(key_wrap::unwrap(&stay, keys.last().unwrap(), &room.id).unwrap(), k2);
    // The removed key cannot come back, nor can its owner with a fresh key and the old link.
    let refused = Member::join(&ws, &room.id, leave).await.err().expect("refused");
    assert_eq!(refused.close, Some(4403));
    let fresh = new_identity();
    let old_link = Some(protocol::invite::InviteProof::make(&room.id, &room.key, &fresh.public_key()));
    let refused = Member::join_with(&ws, &room.id, fresh, old_link).await.err().expect("the old link is dead");
    assert!(matches!(
        refused.frames.first(),
        Some(ServerFrame::Error { error, .. }) if error.code == ErrorCode::InviteRequired
    ));
    assert_eq!(refused.close, Some(4403));
    // Whoever holds the new link (the member who stayed can share it) still gets in.
    let invited = new_identity();
    let new_link = Some(protocol::invite::InviteProof::make(&room.id, &k2, &invited.public_key()));
    let joined = Member::join_with(&ws, &room.id, invited, new_link).await.expect("the new link admits");
    assert_eq!(joined.access, Access::Pending, "the room is still locked: it waits for the owner");
}
