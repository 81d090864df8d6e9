//! Dropping a deleted message's content (`erase`): who may, the owner's policy, what the
//! room stores and tells, and that a refusal changes nothing.

use cloakroom_room_core::{KvStore, Reader, RoomConfig, UnixMicros};
use protocol::api::{OwnerCall, RoomSettings};
use protocol::envelope::StoredMessage;
use protocol::error::ErrorCode;
use protocol::frames::{ClientFrame, ServerFrame};
use protocol::ids::{MessageKey, Timestamp};

mod support;

use support::*;

/// A world with the owner on connection 1 and a guest on 2; the guest said one thing.
fn said_by_guest(w: &mut World, text: &str) -> MessageKey {
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &guest);
    let env = w.envelope(&guest, "g1", text);
    w.frame(2, &ClientFrame::Send { env });
    w.flush();
    w.sockets.take(1);
    match &w.sockets.take(2)[..] {
        [ServerFrame::Ack { key, .. }] => key.clone(),
        other => panic!("expected an ack, got {other:?}"),
    }
}

fn stored(w: &World, key: &MessageKey) -> StoredMessage {
    serde_json::from_slice(&w.store.get(key.as_str()).unwrap().unwrap()).unwrap()
}

#[test]
fn the_sender_erases_its_message_and_every_reader_is_told() {
    let mut w = world(RoomConfig::default());
    let key = said_by_guest(&mut w, "a secret");
    let ct = stored(&w, &key).env.ct.0;
    let budget_before = w.room.budget().remaining;
    w.frame(2, &ClientFrame::Erase { key: key.clone() });
    w.flush();
    for conn in [1, 2] {
        assert!(matches!(&w.sockets.take(conn)[..], [ServerFrame::Erased { key: k }] if *k == key), "conn {conn}");
    }
    let after = stored(&w, &key);
    assert!(after.erased);
    assert!(after.env.ct.0.is_empty() && after.env.iv.0.is_empty());
    assert_eq!(after.env.cid.as_str(), "g1", "the header every reader saw stays");
    let dump = w.store_dump();
    assert!(!dump.iter().any(|(_, v)| v.windows(ct.len()).any(|win| win == ct)), "the ciphertext is gone");
    assert!(w.room.budget().remaining > budget_before, "the dropped bytes go back to the budget");
    // History serves it erased.
    let page = w.room.history(&w.store, None, None, Reader::Anonymous, UnixMicros(w.now)).unwrap();
    assert!(page.messages.iter().any(|m| m.key == key && m.erased));
    // Asking again answers the same and writes nothing.
    let before = w.store_dump();
    w.frame(2, &ClientFrame::Erase { key: key.clone() });
    w.flush();
    assert!(matches!(&w.sockets.take(2)[..], [ServerFrame::Erased { .. }]));
    assert!(w.sockets.take(1).is_empty(), "the others are not told twice");
    assert_eq!(w.store_dump(), before);
}

#[test]
fn the_owner_may_erase_any_message_and_another_member_none() {
    let mut w = world(RoomConfig::default());
    let key = said_by_guest(&mut w, "the guest's words");
    let stranger = identity(3);
    w.join(3, &stranger);
    let before = w.store_dump();
    w.frame(3, &ClientFrame::Erase { key: key.clone() });
    w.flush();
    assert_eq!(error_code(&w.sockets.take(3)), Some(ErrorCode::EraseRefused));
    assert!(!w.sockets.closed.contains_key(&3), "the refusal concerns the one frame");
    assert_eq!(w.store_dump(), before, "a refusal changes nothing");
    assert!(w.sockets.take(1).is_empty());

    w.frame(1, &ClientFrame::Erase { key: key.clone() });
    w.flush();
    assert!(matches!(&w.sockets.take(1)[..], [ServerFrame::Erased { .. }]));
    assert!(stored(&w, &key).erased);
}

#[test]
fn while_the_owner_keeps_deleted_messages_nothing_is_erased() {
    let mut w = world(RoomConfig::default());
    let key = said_by_guest(&mut w, "kept");
    let owner = w.owner.clone();
    let RoomSettings { keep_deleted, .. } = serde_json::from_value(
        w.call(&owner, OwnerCall::SetKeepDeleted { keep: true }, 1).expect("the owner may set the policy"),
    )
    .unwrap();
    assert!(keep_deleted);
    // Every reader learns the policy with the room's state.
    let told = w.sockets.frames.remove(&2).unwrap_or_default();
    assert!(told.iter().any(|f| matches!(f, ServerFrame::Room { state, .. } if state.keep_deleted)));
    let before = w.store_dump();
    w.frame(2, &ClientFrame::Erase { key: key.clone() });
    w.flush();
    assert_eq!(error_code(&w.sockets.take(2)), Some(ErrorCode::EraseRefused));
    assert_eq!(w.store_dump(), before);
    // Turned off again, the same request works.
    w.call(&owner, OwnerCall::SetKeepDeleted { keep: false }, 2).unwrap();
    w.frame(2, &ClientFrame::Erase { key: key.clone() });
    w.flush();
    assert!(w.sockets.take(2).iter().any(|f| matches!(f, ServerFrame::Erased { .. })));
    // A member may not set the policy.
    let guest = identity(2);
    let refused = w.call(&guest, OwnerCall::SetKeepDeleted { keep: true }, 3).unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden);
}

#[test]
fn unknown_keys_and_other_rooms_messages_are_refused_and_unjoined_sockets_first() {
    let mut w = world(RoomConfig::default());
    let key = said_by_guest(&mut w, "here");
    let missing = MessageKey::new(w.room.id(), Timestamp(key.timestamp().0 + 1));
    let elsewhere = MessageKey::new(&protocol::ids::RoomId::from_owner_key(&identity(9).public_key()), key.timestamp());
    for wrong in [missing, elsewhere] {
        w.frame(2, &ClientFrame::Erase { key: wrong });
        w.flush();
        assert_eq!(error_code(&w.sockets.take(2)), Some(ErrorCode::UnknownMessage));
    }
    // A socket that has not joined is refused before anything is looked up.
    w.room.connect(5, [5; 32], UnixMicros(w.now));
    w.flush();
    w.sockets.take(5);
    w.frame(5, &ClientFrame::Erase { key: key.clone() });
    w.flush();
    assert_eq!(error_code(&w.sockets.take(5)), Some(ErrorCode::NotJoined));
    assert!(!stored(&w, &key).erased);
}

#[test]
fn a_message_sent_and_erased_in_one_batch_is_stored_erased() {
    let mut w = world(RoomConfig::default());
    let (owner, guest) = (w.owner.clone(), identity(2));
    w.join(1, &owner);
    w.join(2, &guest);
    let env = w.envelope(&guest, "g2", "gone at once");
    w.frame(2, &ClientFrame::Send { env });
    let key = MessageKey::new(w.room.id(), Timestamp(w.now));
    w.frame(2, &ClientFrame::Erase { key: key.clone() });
    w.flush();
    let frames = w.sockets.take(2);
    assert!(
        matches!(&frames[..], [ServerFrame::Ack { key: k, .. }, ServerFrame::Erased { key: e }] if *k == key && *e == key),
        "{frames:?}"
    );
    assert!(stored(&w, &key).erased);
}
