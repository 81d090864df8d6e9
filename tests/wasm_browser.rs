//! Browser tests (wasm-bindgen-test in headless Chromium) for the code that needs a
//! browser: the crypto glue on wasm32 against the shared vectors, localStorage, and the
//! timeline's merge rules.
#![cfg(target_arch = "wasm32")]

use cloakroom::session::timeline::{ChatMessage, Delivery, Timeline, Trust};
use cloakroom::{crypto, rooms, store};
use protocol::content_key::ContentKey;
use protocol::identity::IdentityKey;
use protocol::ids::RoomId;
use protocol::vectors;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn shared_vectors_hold_in_the_browser() {
    let v = vectors::load();
    let checks = vectors::check_all(&v).expect("every vector reproduces byte for byte in wasm");
    assert_eq!(checks, v.messages.len() * 2 + v.joins.len() * 2);
    // The SPA's own glue opens the committed (natively made) envelopes...
    for m in &v.messages {
        let key = ContentKey::parse(&m.content_key).unwrap();
        assert_eq!(crypto::open(&m.envelope, &key).unwrap(), m.body);
    }
    // ...and answers challenges exactly like the native code.
    for j in &v.joins {
        let identity = IdentityKey::from_secret_b64(&j.secret).unwrap();
        let challenge = protocol::encoding::unb64(&j.challenge).unwrap();
        assert_eq!(crypto::answer_challenge(&identity, &j.room, &challenge), j.signature);
    }
}

#[wasm_bindgen_test]
fn browser_sealed_messages_open_and_tampering_is_caught() {
    let owner = crypto::new_identity();
    let room = RoomId::from_owner_key(&owner.public_key());
    let key = crypto::new_content_key();
    let cid = crypto::new_client_id();
    let env = crypto::seal_text(&room, &owner, &key, &cid, "Ann", "hello from wasm");
    assert!(env.verify_signature().is_ok());
    let body = crypto::open(&env, &key).unwrap();
    assert_eq!(body.alias, "Ann");
    let mut bad = env.clone();
    bad.ct.0[5] ^= 4;
    assert!(crypto::open(&bad, &key).is_err());
    // Fresh randomness every time.
    assert_ne!(crypto::new_client_id(), cid);
    assert_ne!(crypto::new_content_key(), key);
}

#[wasm_bindgen_test]
fn room_records_round_trip_through_local_storage() {
    store::ensure_layout();
    let owner = crypto::new_identity();
    let room = RoomId::from_owner_key(&owner.public_key()).to_string();
    let key = crypto::new_content_key().to_b64();
    assert_eq!(rooms::resolve_access(&room, ""), rooms::RoomAccess::MissingKey);
    // First visit through a link: the key is kept, an alias is needed.
    let record = match rooms::resolve_access(&room, &format!("#{key}")) {
        rooms::RoomAccess::NeedsAlias(r) => r,
        other => panic!("expected an alias prompt, got {other:?}"),
    };
    assert_eq!(record.content_key, key);
    assert!(rooms::choose_alias(record.clone(), "   ").is_err());
    let ready = rooms::choose_alias(record, "Zed").unwrap();
    assert!(ready.identity.is_some());
    // Returning visitor, even without the fragment: straight in with the same identity.
    match rooms::resolve_access(&room, "") {
        rooms::RoomAccess::Ready(r) => assert_eq!(r, ready),
        other => panic!("expected ready, got {other:?}"),
    }
    assert!(store::list_rooms().iter().any(|r| r.room == room));
    assert_eq!(rooms::resolve_access("not-a-room", "#x"), rooms::RoomAccess::NotARoom);
    assert_eq!(rooms::path_from_link(&format!("http://x/r/{room}#{key}")), Some(format!("/r/{room}#{key}")));
    assert_eq!(rooms::path_from_link("garbage"), None);
}

fn message(id: &str, key: Option<&str>, mine: bool, delivery: Delivery) -> ChatMessage {
    ChatMessage {
        id: id.into(),
        key: key.map(str::to_owned),
        sender: "s".into(),
        alias: "a".into(),
        text: id.into(),
        time_ms: None,
        mine,
        from_owner: false,
        delivery,
        trust: Trust::Verified,
    }
}

#[wasm_bindgen_test]
fn the_timeline_shows_each_message_once_in_server_order() {
    let mut t = Timeline::default();
    t.upsert(message("me/1", None, true, Delivery::Pending));
    t.upsert(message("x/1", Some("k2"), false, Delivery::Sent));
    t.upsert(message("x/0", Some("k1"), false, Delivery::Sent));
    // The backlog after a reconnect repeats a message: still one entry.
    t.upsert(message("x/1", Some("k2"), false, Delivery::Sent));
    let order: Vec<&str> = t.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(order, ["x/0", "x/1", "me/1"]);
    // Our pending message is acknowledged, then arrives again in a backlog.
    t.acknowledge("me/1", "k3", 3);
    t.upsert(message("me/1", Some("k3"), true, Delivery::Sent));
    assert_eq!(t.len(), 3);
    assert_eq!(t.get("me/1").unwrap().delivery, Delivery::Sent);
    assert_eq!(t.oldest_key(), Some("k1"));
    t.fail("me/1", "nope".into());
    assert!(matches!(t.get("me/1").unwrap().delivery, Delivery::Failed(_)));
}
