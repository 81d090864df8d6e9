//! The client state machine driven by hand: joins, resends, acks, refusals and closes.

use cloakroom_room_client::{ClientEvent, Closed, Phase, RoomClient};
use protocol::content_key::ContentKey;
use protocol::envelope::{self, B64Bytes, Content, Envelope, MessageBody, SealInput, StoredMessage};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::{Access, ClientFrame, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::{ClientMessageId, MessageKey, RoomId, Timestamp};
use protocol::transcript;

fn identity(seed: u8) -> IdentityKey {
    IdentityKey::from_secret_bytes(&[seed; 32]).unwrap()
}

fn room() -> RoomId {
    RoomId::from_owner_key(&identity(1).public_key())
}

fn env(who: &IdentityKey, cid: &str) -> Envelope {
    let body = MessageBody { alias: "a".into(), content: Content::text(cid) };
    let cid = ClientMessageId::parse(cid).unwrap();
    let key = ContentKey::from_bytes([5; 32]);
    envelope::seal(&SealInput { room: &room(), epoch: 0, cid: &cid, to: None, body: &body }, &key, who, [1; 12])
}

fn text(frame: &ServerFrame) -> String {
    serde_json::to_string(frame).unwrap()
}

fn key_at(ts: u64) -> MessageKey {
    MessageKey::new(&room(), Timestamp(ts))
}

/// The welcome a member (or, with `Access::Pending`, a waiting key) gets.
fn welcome(me: &IdentityKey, access: Access) -> ServerFrame {
    let state = protocol::frames::RoomState {
        room: room(),
        owner: identity(1).public_key(),
        locked: access == Access::Pending,
        capacity: 50,
        epoch: 0,
        guest: None,
        latest: None,
        signed: None,
        keep_deleted: false,
    };
    ServerFrame::Welcome {
        state,
        you: me.public_key(),
        is_owner: false,
        access,
        keys: vec![],
        limits: protocol::limits::Limits::default(),
    }
}

/// Writes out everything queued, as client frames.
fn drain(c: &mut RoomClient<()>) -> Vec<ClientFrame> {
    std::iter::from_fn(|| c.poll_transmit()).map(|t| serde_json::from_str(&t).unwrap()).collect()
}

fn events(c: &mut RoomClient<()>) -> Vec<ClientEvent> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn sent_cids(frames: &[ClientFrame]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| match f {
            ClientFrame::Send { env } => Some(env.cid.to_string()),
            _ => None,
        })
        .collect()
}

/// Opens, answers the challenge, and gets welcome + backlog: returns the frames sent after
/// the hello.
fn join(c: &mut RoomClient<()>, me: &IdentityKey) -> Vec<ClientFrame> {
    c.opened();
    let challenge = ServerFrame::Challenge { v: 2, room: room(), nonce: B64Bytes(vec![7; 32]) };
    assert_eq!(c.handle_frame(&text(&challenge), 0), None);
    match &drain(c)[..] {
        [ClientFrame::Hello { key, sig, .. }] => {
            assert_eq!(*key, me.public_key());
            assert!(key.verify(&transcript::join(&room(), &[7; 32]), sig).is_ok(), "the hello answers the challenge");
        }
        other => panic!("expected a hello, got {other:?}"),
    }
    c.handle_frame(&text(&welcome(me, Access::Member)), 0);
    c.handle_frame(&text(&ServerFrame::Backlog { messages: vec![], more: false }), 0);
    assert_eq!(c.phase(), Phase::Reading);
    drain(c)
}

#[test]
fn queued_messages_go_out_after_the_backlog_in_order_and_new_ones_at_once() {
    let me = identity(2);
    let queued = vec![(env(&me, "q1"), ()), (env(&me, "q2"), ())];
    let mut c = RoomClient::new(room(), me.clone(), None, queued);
    c.send(env(&me, "early"), ()); // before joining: waits
    assert!(c.poll_transmit().is_none());
    assert_eq!(sent_cids(&join(&mut c, &me)), ["q1", "q2", "early"]);
    assert!(events(&mut c).contains(&ClientEvent::Connected));
    c.send(env(&me, "now"), ());
    assert_eq!(sent_cids(&drain(&mut c)), ["now"]);
    c.send(env(&me, "now"), ()); // the same client id again: not queued twice
    assert!(drain(&mut c).is_empty());
    assert_eq!(c.outbox().len(), 4);
}

#[test]
fn a_reconnect_in_the_middle_of_a_resend_resends_what_is_still_unacknowledged() {
    let me = identity(2);
    let queued = (0..4).map(|i| (env(&me, &format!("m{i}")), ())).collect();
    let mut c = RoomClient::new(room(), me.clone(), None, queued);
    assert_eq!(sent_cids(&join(&mut c, &me)), ["m0", "m1", "m2", "m3"]);
    // Two acks arrive, then the connection drops before the rest are acknowledged.
    c.handle_frame(&text(&ServerFrame::Ack { cid: ClientMessageId::parse("m0").unwrap(), key: key_at(1) }), 0);
    c.handle_frame(&text(&ServerFrame::Ack { cid: ClientMessageId::parse("m1").unwrap(), key: key_at(2) }), 0);
    let closed = c.closed(Some(1006), "", 1.0);
    assert!(matches!(closed, Closed::Reconnect { after, .. } if after.as_millis() == 500), "{closed:?}");
    assert_eq!(c.phase(), Phase::Closed);
    // A message written while disconnected joins the queue; the rejoin resends the rest.
    c.send(env(&me, "offline"), ());
    assert_eq!(sent_cids(&join(&mut c, &me)), ["m2", "m3", "offline"]);
    // The room had stored m2 before the drop: it acks the resend with the same key, and
    // m2's ack that arrives twice (old and new connection) is reported once.
    for _ in 0..2 {
        c.handle_frame(&text(&ServerFrame::Ack { cid: ClientMessageId::parse("m2").unwrap(), key: key_at(3) }), 0);
    }
    let acked: Vec<_> = events(&mut c).into_iter().filter(|e| matches!(e, ClientEvent::Acked { .. })).collect();
    assert_eq!(acked.len(), 3, "m0, m1 and m2 once each: {acked:?}");
    assert_eq!(c.outbox().envelopes().map(|e| e.cid.to_string()).collect::<Vec<_>>(), ["m3", "offline"]);
}

#[test]
fn final_closes_stop_and_others_back_off_longer_each_time() {
    let me = identity(2);
    let mut c: RoomClient<()> = RoomClient::new(room(), me.clone(), None, vec![]);
    c.opened();
    let first = c.closed(Some(1012), "restarting", 1.0);
    let second = c.closed(None, "", 1.0);
    match (first, second) {
        (Closed::Reconnect { after: a, reason }, Closed::Reconnect { after: b, reason: why }) => {
            assert!(b > a, "{a:?} then {b:?}");
            assert_eq!(reason, "restarting");
            assert_eq!(why, "the connection ended");
        }
        other => panic!("{other:?}"),
    }
    // A join resets the backoff.
    join(&mut c, &me);
    assert!(matches!(c.closed(Some(1006), "", 1.0), Closed::Reconnect { after, .. } if after.as_millis() == 500));
    // Refused proof, no invite, unknown or full room: final, with the room's reason.
    for code in [4401, 4403, 4404, 4409] {
        c.opened();
        let error = ErrorBody::new(ErrorCode::InviteRequired, "ask the owner for a new link");
        c.handle_frame(&text(&ServerFrame::Error { error, cid: None }), 0);
        assert_eq!(
            c.closed(Some(code), "invite_required", 0.5),
            Closed::Final { code: Some(ErrorCode::InviteRequired), reason: "ask the owner for a new link".into() }
        );
    }
    // Without an error frame the close's reason (a code) or its number says why.
    c.opened();
    assert_eq!(
        c.closed(Some(4404), "unknown_room", 0.5),
        Closed::Final { code: Some(ErrorCode::UnknownRoom), reason: "unknown_room".into() }
    );
    c.opened();
    assert!(matches!(c.closed(Some(4409), "", 0.5), Closed::Final { code: Some(ErrorCode::RoomFull), .. }));
    c.opened();
    assert!(matches!(
        c.closed(Some(4403), "no such words", 0.5),
        Closed::Final { code: Some(ErrorCode::Forbidden), .. }
    ));
    // A refusal for good that came as an error frame decides even when the close was
    // lost (no close frame) or carried another code; a passing one does not.
    for close in [None, Some(1006), Some(1011)] {
        c.opened();
        let error = ErrorBody::new(ErrorCode::RoomFull, "the room is full");
        c.handle_frame(&text(&ServerFrame::Error { error, cid: None }), 0);
        assert!(matches!(c.closed(close, "", 0.5), Closed::Final { code: Some(ErrorCode::RoomFull), .. }), "{close:?}");
    }
    c.opened();
    let error = ErrorBody::new(ErrorCode::Unavailable, "restarting");
    c.handle_frame(&text(&ServerFrame::Error { error, cid: None }), 0);
    assert!(matches!(c.closed(None, "", 0.5), Closed::Reconnect { .. }));
}

#[test]
fn passing_refusals_wait_and_resend_while_final_ones_leave_the_outbox() {
    let me = identity(2);
    let mut c = RoomClient::new(room(), me.clone(), None, vec![(env(&me, "slow"), ()), (env(&me, "bad"), ())]);
    join(&mut c, &me);
    events(&mut c);
    let refuse = |c: &mut RoomClient<()>, cid: &str, code: ErrorCode, now: u64| {
        let cid = Some(ClientMessageId::parse(cid).unwrap());
        c.handle_frame(&text(&ServerFrame::Error { error: ErrorBody::new(code, "no"), cid }), now);
    };
    refuse(&mut c, "slow", ErrorCode::RateLimited, 10_000);
    refuse(&mut c, "bad", ErrorCode::MessageTooLarge, 10_000);
    let refused: Vec<_> = events(&mut c);
    assert!(
        matches!(&refused[..], [ClientEvent::Refused { cid, error }] if cid.as_str() == "bad" && error.code == ErrorCode::MessageTooLarge)
    );
    assert_eq!(c.poll_timeout(), Some(11_500));
    c.handle_timeout(11_000);
    assert!(drain(&mut c).is_empty(), "not before the pause is over");
    c.handle_timeout(11_500);
    assert_eq!(sent_cids(&drain(&mut c)), ["slow"], "only what still waits");
    assert_eq!(c.poll_timeout(), None);
    // A refusal for a message that no longer waits changes nothing.
    refuse(&mut c, "bad", ErrorCode::MessageTooLarge, 12_000);
    assert!(events(&mut c).is_empty());
}

#[test]
fn a_waiting_key_sends_nothing_until_accepted_and_a_wrong_room_is_final() {
    let me = identity(2);
    let mut c = RoomClient::new(room(), me.clone(), None, vec![(env(&me, "hi"), ())]);
    c.opened();
    c.handle_frame(&text(&ServerFrame::Challenge { v: 2, room: room(), nonce: B64Bytes(vec![1; 32]) }), 0);
    drain(&mut c);
    c.handle_frame(&text(&welcome(&me, Access::Pending)), 0);
    assert_eq!(c.phase(), Phase::Waiting);
    assert!(events(&mut c).contains(&ClientEvent::Waiting));
    c.send(env(&me, "while-waiting"), ());
    assert!(drain(&mut c).is_empty(), "nothing is sent while waiting");
    // Accepted: the room sends the backlog, and the queue goes out.
    let m = StoredMessage::new(key_at(5), env(&identity(1), "theirs"));
    c.handle_frame(&text(&ServerFrame::Backlog { messages: vec![m], more: true }), 0);
    assert_eq!(sent_cids(&drain(&mut c)), ["hi", "while-waiting"]);
    assert!(
        events(&mut c)
            .iter()
            .any(|e| matches!(e, ClientEvent::Messages { backlog: true, more: true, messages } if messages.len() == 1))
    );
    // Another client: the server claims another room.
    let mut other: RoomClient<()> = RoomClient::new(room(), me, None, vec![]);
    other.opened();
    let elsewhere = RoomId::from_owner_key(&identity(9).public_key());
    let challenge = ServerFrame::Challenge { v: 2, room: elsewhere, nonce: B64Bytes(vec![1; 32]) };
    assert!(matches!(
        other.handle_frame(&text(&challenge), 0),
        Some(Closed::Final { code: Some(ErrorCode::WrongRoom), .. })
    ));
    assert!(other.poll_transmit().is_none(), "no answer to another room's challenge");
}

#[test]
fn an_erase_goes_out_only_while_reading_and_erased_is_reported() {
    let me = identity(2);
    let mut c = RoomClient::new(room(), me.clone(), None, vec![]);
    assert!(!c.erase(key_at(5)), "not joined: nothing is sent (the session asks again after the join)");
    assert!(c.poll_transmit().is_none());
    join(&mut c, &me);
    events(&mut c);
    assert!(c.erase(key_at(5)));
    assert!(matches!(&drain(&mut c)[..], [ClientFrame::Erase { key }] if *key == key_at(5)));
    c.handle_frame(&text(&ServerFrame::Erased { key: key_at(5) }), 0);
    assert_eq!(events(&mut c), [ClientEvent::Erased { key: key_at(5) }]);
    // A refusal of an erase concerns no message: the outbox and the connection are untouched.
    let refused = ServerFrame::Error {
        error: protocol::error::ErrorBody::new(protocol::error::ErrorCode::EraseRefused, "no"),
        cid: None,
    };
    assert_eq!(c.handle_frame(&text(&refused), 0), None);
    assert_eq!(c.phase(), Phase::Reading);
}
