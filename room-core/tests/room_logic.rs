//! Unit-level tests of the room state machine over the in-memory store: join proof,
//! ack-after-commit, dedup, ordering, limits and history paging.

use std::sync::Arc;

use cloakroom_room_core::{ConnId, KvStore, Reader, Room, RoomConfig, UnixMicros};
use protocol::error::ErrorCode;
use protocol::frames::{ClientFrame, ServerFrame};
use protocol::identity::IdentityKey;
use protocol::ids::MessageKey;
use protocol::invite::InviteProof;
use protocol::limits::Limits;
use protocol::transcript;

mod support;

use support::*;

#[test]
fn join_with_proof_gets_welcome_and_backlog() {
    let mut w = world(RoomConfig::default());
    let owner = w.owner.clone();
    let frames = w.join(1, &owner);
    assert!(matches!(&frames[0], ServerFrame::Welcome { is_owner: true, .. }));
    assert!(matches!(&frames[1], ServerFrame::Backlog { messages, more: false } if messages.is_empty()));
}

#[test]
fn a_signature_over_another_challenge_is_refused() {
    let mut w = world(RoomConfig::default());
    let guest = identity(2);
    w.room.connect(7, [7; 32], UnixMicros(w.now));
    w.flush();
    w.sockets.take(7);
    // Answer computed for a different (replayed) challenge.
    let sig = guest.sign(&transcript::join(w.room.id(), &[8; 32]));
    let invite = Some(InviteProof::make(w.room.id(), &w.key, &guest.public_key()));
    w.frame(7, &ClientFrame::Hello { v: protocol::PROTOCOL_VERSION, key: guest.public_key(), sig, invite });
    w.flush();
    assert_eq!(error_code(&w.sockets.take(7)), Some(ErrorCode::BadChallengeResponse));
    assert_eq!(w.sockets.closed.get(&7), Some(&4401));
    assert_eq!(w.room.member_count(), 0);
    assert!(w.store.get(&format!("~member/{}", guest.public_key())).unwrap().is_none());
}

#[test]
fn ack_and_broadcast_only_after_commit_and_never_on_failed_commit() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &guest);
    let env = w.envelope(&owner, "m1", "hello");
    w.frame(1, &ClientFrame::Send { env: env.clone() });
    let before_commit =
        |w: &World| w.sockets.frames.values().flatten().filter(|f| !matches!(f, ServerFrame::Room { .. })).count();
    assert_eq!(before_commit(&w), 0, "nothing leaves before the commit");
    w.store.fail_next_commit = true;
    assert!(w.room.finish_batch(&mut w.store, &mut w.sockets).is_err());
    assert_eq!(before_commit(&w), 0, "no ack and no broadcast for a failed commit");
    assert_eq!(w.sockets.closed.get(&1), Some(&1011));
    assert!(w.stored_messages().is_empty());

    // The adapter reloads the room; the client reconnects and resends the same cid.
    let id = w.room.id().clone();
    w.room = Room::load(id, &w.store, RoomConfig::default()).unwrap().unwrap();
    w.sockets = TestSockets::default();
    w.join(1, &owner);
    w.join(2, &guest);
    w.frame(1, &ClientFrame::Send { env });
    w.flush();
    let acked = match &w.sockets.take(1)[..] {
        [ServerFrame::Ack { key, .. }] => key.clone(),
        other => panic!("expected an ack, got {other:?}"),
    };
    assert!(matches!(&w.sockets.take(2)[..], [ServerFrame::Msg { m }] if m.key == acked));
    assert_eq!(w.stored_messages(), vec![acked.to_string()]);
}

#[test]
fn resends_are_deduplicated_within_and_across_batches() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &guest);
    let env = w.envelope(&owner, "same", "once");
    w.frame(1, &ClientFrame::Send { env: env.clone() });
    w.frame(1, &ClientFrame::Send { env: env.clone() });
    w.flush();
    w.frame(1, &ClientFrame::Send { env });
    w.flush();
    let acks: Vec<MessageKey> = w
        .sockets
        .take(1)
        .into_iter()
        .map(|f| match f {
            ServerFrame::Ack { key, .. } => key,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(acks.len(), 3);
    assert!(acks.iter().all(|k| *k == acks[0]));
    assert_eq!(w.sockets.take(2).len(), 1, "broadcast once");
    assert_eq!(w.stored_messages().len(), 1);
}

#[test]
fn timestamps_strictly_increase_even_when_the_clock_stalls_or_goes_back() {
    let mut w = world(RoomConfig::default());
    let owner = w.owner.clone();
    w.join(1, &owner);
    for i in 0..20 {
        w.now = if i == 10 { 5 } else { 2_000_000 };
        let env = w.envelope(&owner, &format!("c{i}"), "t");
        w.frame(1, &ClientFrame::Send { env });
    }
    w.flush();
    let keys = w.stored_messages();
    assert_eq!(keys.len(), 20);
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, keys);
}

#[test]
fn a_new_joiner_in_the_same_batch_sees_staged_messages_exactly_once() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.room.connect(2, [2; 32], UnixMicros(w.now));
    w.flush();
    let challenge = match &w.sockets.take(2)[..] {
        [ServerFrame::Challenge { nonce, .. }] => nonce.0.clone(),
        _ => unreachable!(),
    };
    // In one batch: a message, then the guest's hello, then another message.
    let e1 = w.envelope(&owner, "a", "1");
    w.frame(1, &ClientFrame::Send { env: e1 });
    let hello = w.hello(&guest, &challenge);
    w.frame(2, &hello);
    let e2 = w.envelope(&owner, "b", "2");
    w.frame(1, &ClientFrame::Send { env: e2 });
    w.flush();
    let frames = w.sockets.take(2);
    let mut seen = Vec::new();
    for f in frames {
        match f {
            ServerFrame::Backlog { messages, .. } => seen.extend(messages.into_iter().map(|m| m.env.cid.to_string())),
            ServerFrame::Msg { m } => seen.push(m.env.cid.to_string()),
            _ => {}
        }
    }
    assert_eq!(seen, ["a", "b"]);
}

#[test]
fn capacity_counts_distinct_keys_and_spares_the_owner() {
    let mut config = RoomConfig::default();
    config.limits.default_room_capacity = 2;
    let mut w = world(config);
    let owner = w.owner.clone();
    assert!(matches!(w.join(1, &identity(2))[0], ServerFrame::Welcome { .. }));
    assert!(matches!(w.join(2, &identity(3))[0], ServerFrame::Welcome { .. }));
    let refused = w.join(3, &identity(4));
    assert_eq!(error_code(&refused), Some(ErrorCode::RoomFull));
    assert_eq!(w.sockets.closed.get(&3), Some(&4409));
    // A known key may come back, and the owner always gets in.
    assert!(matches!(w.join(4, &identity(2))[0], ServerFrame::Welcome { .. }));
    assert!(matches!(w.join(5, &owner)[0], ServerFrame::Welcome { .. }));
    assert_eq!(w.room.member_count(), 3);
}

#[test]
fn rate_limit_refuses_and_stores_nothing_extra() {
    let mut config = RoomConfig::default();
    config.limits.rate_per_second = 1;
    config.limits.rate_burst = 2;
    let mut w = world(config);
    let owner = w.owner.clone();
    w.join(1, &owner);
    for i in 0..3 {
        let env = w.envelope(&owner, &format!("r{i}"), "x");
        w.frame(1, &ClientFrame::Send { env });
    }
    w.flush();
    let frames = w.sockets.take(1);
    assert_eq!(error_code(&frames), Some(ErrorCode::RateLimited));
    assert!(w.sockets.closed.is_empty(), "rate limiting does not close the connection");
    assert_eq!(w.stored_messages().len(), 2);
    w.now += 1_000_000;
    let env = w.envelope(&owner, "r2", "x");
    w.frame(1, &ClientFrame::Send { env });
    w.flush();
    assert!(matches!(&w.sockets.take(1)[..], [ServerFrame::Ack { .. }]));
}

#[test]
fn history_pages_backwards_exactly_once() {
    let mut config = RoomConfig::default();
    config.limits.rate_burst = 10_000;
    let mut w = world(config);
    let owner = w.owner.clone();
    w.join(1, &owner);
    for i in 0..1234 {
        let env = w.envelope(&owner, &format!("h{i}"), "x");
        w.frame(1, &ClientFrame::Send { env });
    }
    w.flush();
    let mut seen: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page =
            w.room.history(&w.store, before.as_deref(), Some(100), Reader::Anonymous, UnixMicros(w.now)).unwrap();
        let mut keys: Vec<String> = page.messages.iter().map(|m| m.key.to_string()).collect();
        before = keys.first().cloned();
        keys.extend(seen);
        seen = keys;
        if !page.more {
            break;
        }
    }
    assert_eq!(seen, w.stored_messages());
    assert_eq!(seen.len(), 1234);
    assert_eq!(
        w.room.history(&w.store, None, Some(0), Reader::Anonymous, UnixMicros(w.now)).unwrap_err().code,
        ErrorCode::BadLimit
    );
    assert_eq!(
        w.room.history(&w.store, Some("nope"), None, Reader::Anonymous, UnixMicros(w.now)).unwrap_err().code,
        ErrorCode::BadCursor
    );
}

#[test]
fn bad_frames_get_typed_errors_and_change_nothing() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    let good = w.envelope(&owner, "ok", "fine");
    let mut tampered = good.clone();
    tampered.ct.0[0] ^= 1;
    let mut wrong_version = good.clone();
    wrong_version.v = 9;
    let forged = w.envelope(&guest, "forge", "x");
    let mut huge = w.envelope(&owner, "big", &"x".repeat(40_000));
    huge.sig = owner.sign(b"irrelevant");
    let cases: Vec<(String, ErrorCode)> = vec![
        ("not json".into(), ErrorCode::MalformedFrame),
        (r#"{"t":"send"}"#.into(), ErrorCode::MalformedFrame),
        (serde_json::to_string(&ClientFrame::Send { env: tampered }).unwrap(), ErrorCode::BadSignature),
        (serde_json::to_string(&ClientFrame::Send { env: wrong_version }).unwrap(), ErrorCode::UnsupportedVersion),
        (serde_json::to_string(&ClientFrame::Send { env: forged }).unwrap(), ErrorCode::SenderMismatch),
        (serde_json::to_string(&ClientFrame::Send { env: huge }).unwrap(), ErrorCode::MessageTooLarge),
        ("x".repeat(70_000), ErrorCode::FrameTooLarge),
    ];
    let before = w.store.len();
    for (i, (text, code)) in cases.into_iter().enumerate() {
        let conn = 100 + i as u64;
        w.join(conn, &owner);
        let members_before = w.store.len();
        w.room.text_frame(conn, &text, UnixMicros(w.now), &w.store);
        w.flush();
        assert_eq!(error_code(&w.sockets.take(conn)), Some(code), "case {i}");
        assert_eq!(w.store.len(), members_before, "case {i} stored something");
    }
    assert_eq!(w.store.len(), before);
}

#[test]
fn a_slow_reader_is_dropped_without_holding_up_the_room() {
    let mut config = RoomConfig::default();
    config.limits.rate_burst = 1000;
    let mut w = world(config);
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &guest);
    w.sockets.slow = Some((2, 5));
    for i in 0..10 {
        let env = w.envelope(&owner, &format!("s{i}"), "x");
        w.frame(1, &ClientFrame::Send { env });
    }
    w.flush();
    assert_eq!(w.sockets.closed.get(&2), Some(&4429));
    assert_eq!(w.stored_messages().len(), 10, "every message is still committed");
    assert_eq!(w.room.connection_count(), 1);
}

#[test]
fn unanswered_challenges_time_out() {
    let mut w = world(RoomConfig::default());
    w.room.connect(1, [1; 32], UnixMicros(w.now));
    assert_eq!(
        w.room.next_deadline(),
        Some(UnixMicros(w.now + 10_000_000)),
        "the join deadline is the room's next deadline"
    );
    w.room.handle_timeout(UnixMicros(w.now + 9_000_000));
    w.flush();
    assert!(w.sockets.closed.is_empty());
    w.room.handle_timeout(UnixMicros(w.now + 10_000_000));
    w.flush();
    assert_eq!(w.sockets.closed.get(&1), Some(&4408));
    w.room.disconnect(1);
    assert_eq!(w.room.next_deadline(), None, "nothing is due without connections");
}

#[test]
fn a_room_rebuilt_from_storage_and_snapshots_continues_without_loss_duplication_or_reordering() {
    use cloakroom_room_core::connection::{ConnSnapshot, MAX_SNAPSHOT_BYTES, SnapshotError};
    let mut w = world(RoomConfig::default());
    let (owner, guest, late) = (w.owner.clone(), identity(2), identity(3));
    w.join(1, &owner);
    w.join(2, &guest);
    // A third socket got its challenge but has not answered when the host is evicted.
    w.room.connect(3, [3; 32], UnixMicros(w.now));
    w.flush();
    let challenge = match &w.sockets.take(3)[..] {
        [ServerFrame::Challenge { nonce, .. }] => nonce.0.clone(),
        other => panic!("expected a challenge, got {other:?}"),
    };
    let mut acked = Vec::new();
    for i in 0..5 {
        for (conn, who, cid) in [(1, &owner, format!("a{i}")), (2, &guest, format!("b{i}"))] {
            let env = w.envelope(who, &cid, "before");
            w.frame(conn, &ClientFrame::Send { env });
        }
        w.now += 1_000;
    }
    w.flush();
    for conn in [1, 2] {
        for f in w.sockets.take(conn) {
            if let ServerFrame::Ack { cid, key } = f {
                acked.push((cid.to_string(), key));
            }
        }
    }
    assert_eq!(acked.len(), 10);
    // What the host keeps with each socket: every connection changed, each snapshot small.
    let snapshots = w.room.take_changed_snapshots();
    assert_eq!(snapshots.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(snapshots.iter().all(|(_, s)| s.0.len() <= MAX_SNAPSHOT_BYTES), "{snapshots:?}");
    assert!(w.room.take_changed_snapshots().is_empty(), "taken once");

    // Eviction: the Room is dropped; the host rebuilds it from KV_local and the snapshots.
    let id = w.room.id().clone();
    w.room = Room::load(id, &w.store, RoomConfig::default()).unwrap().unwrap();
    w.sockets = TestSockets::default();
    for (conn, snapshot) in &snapshots {
        w.room.resume_connection(*conn, snapshot).unwrap();
    }
    assert_eq!(w.room.connection_count(), 3);
    assert_eq!(w.room.resume_connection(1, &snapshots[0].1), Err(SnapshotError::AlreadyConnected(1)));
    assert!(w.room.next_deadline().is_some(), "the unanswered challenge still has its deadline");

    // The guest never saw its last ack and resends: the original key, nothing stored twice.
    let resend = w.envelope(&guest, "b4", "before");
    w.frame(2, &ClientFrame::Send { env: resend });
    // The owner goes on: the new message is ordered after everything before the eviction
    // and reaches the guest.
    let env = w.envelope(&owner, "after-1", "after");
    w.frame(1, &ClientFrame::Send { env });
    // The third socket answers the challenge it got before the eviction.
    let hello = w.hello(&late, &challenge);
    w.frame(3, &hello);
    w.flush();
    let to_guest = w.sockets.take(2);
    let original = acked.iter().find(|(c, _)| c == "b4").map(|(_, k)| k.clone()).unwrap();
    assert!(
        to_guest.iter().any(|f| matches!(f, ServerFrame::Ack { cid, key } if cid.as_str() == "b4" && *key == original))
    );
    let after_key = w.sockets.take(1).into_iter().find_map(|f| match f {
        ServerFrame::Ack { cid, key } if cid.as_str() == "after-1" => Some(key),
        _ => None,
    });
    let after_key = after_key.expect("the owner's new message is acknowledged");
    assert!(acked.iter().all(|(_, k)| k.as_str() < after_key.as_str()), "ordered after the messages before");
    assert!(to_guest.iter().any(|f| matches!(f, ServerFrame::Msg { m } if m.key == after_key)));
    let late_frames = w.sockets.take(3);
    assert!(matches!(&late_frames[0], ServerFrame::Welcome { .. }), "{late_frames:?}");
    match &late_frames[1] {
        ServerFrame::Backlog { messages, .. } => {
            let cids: Vec<&str> = messages.iter().map(|m| m.env.cid.as_str()).collect();
            assert_eq!(cids.len(), 11, "every message once: {cids:?}");
            assert_eq!(cids.last(), Some(&"after-1"));
        }
        other => panic!("expected the backlog, got {other:?}"),
    }
    assert_eq!(w.room.next_deadline(), None);
    let stored = w.stored_messages();
    assert_eq!(stored.len(), 11, "nothing lost, nothing twice");
    assert!(stored.windows(2).all(|p| p[0] < p[1]));

    // A snapshot of a key the room turned away (or a damaged one) is refused.
    let mut fresh = Room::load(w.room.id().clone(), &w.store, RoomConfig::default()).unwrap().unwrap();
    let stranger = format!(r#"{{"v":1,"state":{{"s":"waiting","key":"{}"}}}}"#, identity(40).public_key());
    assert_eq!(fresh.resume_connection(9, &ConnSnapshot(stranger.into_bytes())), Err(SnapshotError::NotAdmitted));
    assert!(matches!(fresh.resume_connection(9, &ConnSnapshot(b"[]".to_vec())), Err(SnapshotError::Malformed(_))));
    assert_eq!(fresh.connection_count(), 0);
}

/// A verifier that accepts nothing: whatever the room still verifies itself fails.
struct RefuseAll;

impl cloakroom_room_core::inbound::Verifier for RefuseAll {
    fn verify(&self, _: &protocol::identity::PublicKey, _: &[u8], _: &protocol::identity::Signature) -> bool {
        false
    }
}

#[test]
fn a_host_verifies_join_answers_its_own_way_and_the_room_verifies_what_it_did_not() {
    use cloakroom_room_core::inbound::{self, Inbound, PortableVerifier};
    use cloakroom_room_core::verified::{self, VerifiedHello};
    // The room's own verifier refuses everything, so only host-verified answers get in.
    let mut w = world(RoomConfig::default());
    let refuse_all = RoomConfig { verifier: Arc::new(RefuseAll), ..RoomConfig::default() };
    w.room = Room::load(w.room.id().clone(), &w.store, refuse_all).unwrap().unwrap();
    let (owner, guest) = (w.owner.clone(), identity(2));
    for conn in [1, 2, 3] {
        w.room.connect(conn, [conn as u8; 32], UnixMicros(w.now));
    }
    w.flush();
    for conn in [1, 2, 3] {
        w.sockets.take(conn);
    }
    let answer = |w: &mut World, conn: ConnId, who: &IdentityKey| {
        let challenge = w.room.challenge(conn).expect("awaiting its answer");
        let text = serde_json::to_string(&w.hello(who, &challenge)).unwrap();
        (challenge, inbound::prepare(&text, &Limits::default(), &PortableVerifier, false))
    };
    // 1: left to the room, whose verifier refuses it.
    let (_, hello) = answer(&mut w, 1, &owner);
    w.room.frame(1, hello, UnixMicros(w.now), &w.store);
    // 2: verified by the host (as an async host would, from the transcripts it is given).
    let (challenge, hello) = answer(&mut w, 2, &guest);
    let Inbound::Hello { v, key, sig, invite } = hello else { panic!("a hello") };
    let [join, proof] = verified::hello_checks(w.room.id(), &challenge, &key, &sig, invite.as_deref());
    let ok = |c: Option<(&protocol::identity::PublicKey, Vec<u8>, &protocol::identity::Signature)>| {
        c.is_some_and(|(k, m, s)| k.verify(&m, s).is_ok())
    };
    let (join_ok, proof_ok) = (ok(join), ok(proof));
    let verified = VerifiedHello::from_host_check(v, key, invite.map(|i| *i), join_ok, proof_ok).unwrap();
    w.room.frame(2, Inbound::VerifiedHello(Box::new(verified)), UnixMicros(w.now), &w.store);
    // 3: a host that found the signature wrong.
    let refused = VerifiedHello::from_host_check(2, identity(3).public_key(), None, false, false);
    assert_eq!(refused.unwrap_err().code, ErrorCode::BadChallengeResponse);
    w.flush();
    assert_eq!(error_code(&w.sockets.take(1)), Some(ErrorCode::BadChallengeResponse));
    assert!(matches!(&w.sockets.take(2)[0], ServerFrame::Welcome { .. }));
    assert_eq!(w.room.challenge(2), None, "joined: no challenge left to answer");
    assert!(w.room.challenge(3).is_some());
    // A signed request whose host check failed never becomes a verified one.
    let target = protocol::signed_request::RequestTarget::new("GET", "/x", "", b"");
    let auth = protocol::signed_request::RequestAuth::sign(&owner, &target, 1, [0; 16]);
    let refused = cloakroom_room_core::verified::VerifiedRequest::from_host_check(auth, target, false);
    assert_eq!(refused.unwrap_err().code, ErrorCode::Unauthorized);
}

#[test]
fn a_host_verifies_message_signatures_its_own_way_and_the_room_takes_only_what_it_found() {
    use cloakroom_room_core::inbound::{Inbound, Prepared};
    use protocol::envelope::Content;
    let mut w = world(RoomConfig::default());
    let (owner, bea) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &bea);
    let prepared = |w: &World, conn: ConnId, frame: &ClientFrame| {
        w.room.prepare_frame(conn, &serde_json::to_string(frame).unwrap())
    };
    let pending = |p: Prepared| match p {
        Prepared::Signature(p) => p,
        Prepared::Ready(i) => panic!("expected a signature to verify, got {i:?}"),
    };

    // A message: the host is handed exactly what the sender signed.
    let env = w.envelope(&bea, "m1", "hello");
    let p = pending(prepared(&w, 2, &ClientFrame::Send { env: env.clone() }));
    assert_eq!((p.key(), p.transcript(), p.signature()), (&env.sender, env.signature_transcript(), &env.sig));
    assert!(p.key().verify(&p.transcript(), p.signature()).is_ok());

    // The host found it invalid: a typed refusal naming the cid; nothing stored or relayed.
    let before = w.store_dump();
    w.room.frame(2, p.clone().finish(false), UnixMicros(w.now), &w.store);
    w.flush();
    let refused = w.sockets.take(2);
    assert_eq!(error_code(&refused), Some(ErrorCode::BadSignature));
    assert!(matches!(&refused[0], ServerFrame::Error { cid: Some(c), .. } if c.as_str() == "m1"));
    assert!(w.sockets.take(1).is_empty());
    assert_eq!(w.store_dump(), before);

    // Valid: stored, acknowledged and delivered like any message.
    w.room.frame(2, p.finish(true), UnixMicros(w.now), &w.store);
    w.flush();
    assert!(w.sockets.take(2).iter().any(|f| matches!(f, ServerFrame::Ack { cid, .. } if cid.as_str() == "m1")));
    assert!(w.sockets.take(1).iter().any(|f| matches!(f, ServerFrame::Msg { .. })));
    assert_eq!(w.stored_messages().len(), 1);

    // An ephemeral frame finishes as one (relayed, never stored).
    let typing = w.sealed(&bea, "t1", Content::Typing { on: true }, None);
    let p = pending(prepared(&w, 2, &ClientFrame::Ephemeral { env: typing.clone() }));
    assert!(matches!(p.finish(true), Inbound::Ephemeral(e) if *e == typing));

    // What needs no signature check is ready at once: refusals, and a send before the join
    // (refused without looking at its signature).
    w.room.connect(3, [3; 32], UnixMicros(w.now));
    let early = w.envelope(&identity(3), "m2", "too early");
    assert!(matches!(
        prepared(&w, 3, &ClientFrame::Send { env: early }),
        Prepared::Ready(Inbound::Refused(e)) if e.code == ErrorCode::NotJoined
    ));
    assert!(matches!(
        w.room.prepare_frame(2, "{not json"),
        Prepared::Ready(Inbound::Refused(e)) if e.code == ErrorCode::MalformedFrame
    ));
}

#[test]
fn ephemeral_frames_are_relayed_to_readers_and_never_stored_or_acknowledged() {
    use protocol::envelope::Content;
    let mut w = world(RoomConfig::default());
    let (owner, bea, cy) = (w.owner.clone(), identity(2), identity(3));
    w.join(1, &owner);
    w.join(2, &bea);
    w.join(3, &cy);
    let before = w.store_dump();

    // To the room: every other reader gets it as sent; the sender gets nothing back.
    let typing = w.sealed(&bea, "t1", Content::Typing { on: true }, None);
    w.frame(2, &ClientFrame::Ephemeral { env: typing.clone() });
    w.flush();
    for conn in [1, 3] {
        assert_eq!(w.sockets.take(conn), vec![ServerFrame::Ephemeral { env: typing.clone() }], "conn {conn}");
    }
    assert!(w.sockets.take(2).is_empty(), "no ack, no echo");

    // To one member: only that member's connection.
    let to_cy = w.sealed(&owner, "t2", Content::Typing { on: false }, Some(&cy.public_key()));
    w.frame(1, &ClientFrame::Ephemeral { env: to_cy.clone() });
    w.flush();
    assert_eq!(w.sockets.take(3), vec![ServerFrame::Ephemeral { env: to_cy }]);
    assert!(w.sockets.take(2).is_empty());
    assert_eq!(w.store_dump(), before, "nothing is written");

    // Refused with a typed error naming its cid, and not relayed: another member's
    // envelope, a bad signature, before the join.
    let as_cy = w.sealed(&cy, "t3", Content::Typing { on: true }, None);
    w.frame(2, &ClientFrame::Ephemeral { env: as_cy });
    w.flush();
    let refused = w.sockets.take(2);
    assert_eq!(error_code(&refused), Some(ErrorCode::SenderMismatch));
    assert!(matches!(&refused[0], ServerFrame::Error { cid: Some(c), .. } if c.as_str() == "t3"));
    let mut forged = w.sealed(&bea, "t4", Content::Typing { on: true }, None);
    forged.ct.0[0] ^= 1;
    w.frame(2, &ClientFrame::Ephemeral { env: forged });
    w.flush();
    assert_eq!(error_code(&w.sockets.take(2)), Some(ErrorCode::BadSignature));
    w.room.connect(4, [4; 32], UnixMicros(w.now));
    w.flush();
    w.sockets.take(4);
    let early = w.sealed(&identity(5), "t5", Content::Typing { on: true }, None);
    w.frame(4, &ClientFrame::Ephemeral { env: early });
    w.flush();
    assert_eq!(error_code(&w.sockets.take(4)), Some(ErrorCode::NotJoined));
    for conn in [1, 3] {
        assert!(w.sockets.take(conn).is_empty(), "refused frames are not relayed (conn {conn})");
    }
    assert_eq!(w.store_dump(), before, "still nothing written");
}

#[test]
fn ephemeral_frames_share_the_rate_limit_with_messages() {
    use protocol::envelope::Content;
    let limits = Limits { rate_per_second: 1, rate_burst: 2, ..Limits::default() };
    let mut w = world(RoomConfig { limits, ..RoomConfig::default() });
    let (owner, bea) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &bea);
    for i in 0..3 {
        let env = w.sealed(&bea, &format!("r{i}"), Content::Typing { on: true }, None);
        w.frame(2, &ClientFrame::Ephemeral { env });
    }
    w.flush();
    assert_eq!(w.sockets.take(1).len(), 2, "the burst is relayed");
    assert_eq!(error_code(&w.sockets.take(2)), Some(ErrorCode::RateLimited));
}
