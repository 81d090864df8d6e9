//! Browser tests (wasm-bindgen-test in headless Chromium) for the code that needs a
//! browser: the crypto glue and WebCrypto against the shared vectors, localStorage and its
//! migration, the export file and the import merge, the IndexedDB cache, the timeline,
//! retries of file transfers.
#![cfg(target_arch = "wasm32")]

use std::collections::{BTreeMap, BTreeSet};

use cloakroom::crypto::{self, Outgoing, webcrypto};
use cloakroom::invite_link::{self, InviteCard};
use cloakroom::rooms;
use cloakroom::session::decode::{Keyring, Roles};
use cloakroom::session::timeline::{Action, ChatMessage, DeletedBy, Delivery, MemberEvent, Quote, Timeline, Trust};
use cloakroom::store::{self, RoomRecord, cache, export};
use gloo_storage::{LocalStorage, Storage};
use protocol::content_key::ContentKey;
use protocol::envelope::{Content, StoredMessage};
use protocol::identity::IdentityKey;
use protocol::ids::{MessageKey, RoomId, Timestamp};
use protocol::keys_file::{self, KeysFileError};
use protocol::vectors;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn shared_vectors_hold_in_the_browser() {
    let v = vectors::load();
    let checks = vectors::check_all(&v).expect("every vector reproduces byte for byte in wasm");
    assert!(checks >= 10);
    for j in &v.joins {
        let identity = IdentityKey::from_secret_b64(&j.secret).unwrap();
        let challenge = protocol::encoding::unb64(&j.challenge).unwrap();
        assert_eq!(crypto::answer_challenge(&identity, &j.room, &challenge), j.signature);
    }
}

#[wasm_bindgen_test]
fn protocol_v2_vectors_hold_in_the_browser() {
    let v = protocol::vectors_v2::load();
    let checks = protocol::vectors_v2::check_all(&v).expect("every v2 vector reproduces byte for byte in wasm");
    assert_eq!(checks, 19);
    // The client's guard accepts the genuine signed state and refuses a tampered one.
    let state = &v.states[1].state;
    let owner = IdentityKey::from_secret_b64(&v.states[1].owner_secret).unwrap().public_key();
    assert!(state.verify(&state.room, &owner).is_ok());
    let mut bumped = state.clone();
    bumped.epoch += 1;
    assert!(bumped.verify(&state.room, &owner).is_err());
}

#[wasm_bindgen_test]
async fn webcrypto_path_refuses_high_s_twins() {
    // WebCrypto itself accepts (r, n − s); the browser's verify path must not.
    for m in &vectors::load().messages {
        assert!(m.envelope.sig.is_low_s(), "{}", m.name);
        let mut twin = m.envelope.clone();
        twin.sig = twin.sig.s_twin();
        assert!(!webcrypto::verify_envelope(&twin).await.unwrap(), "{}: the high-S twin verified", m.name);
        assert!(webcrypto::verify_envelope(&m.envelope).await.unwrap(), "{}", m.name);
    }
}

#[wasm_bindgen_test]
async fn webcrypto_agrees_with_the_vectors() {
    let v = vectors::load();
    // ECDSA: WebCrypto accepts the natively made signatures and refuses a tampered one.
    for m in &v.messages {
        assert!(webcrypto::verify_envelope(&m.envelope).await.unwrap(), "{}", m.name);
        let mut bad = m.envelope.clone();
        bad.ct.0[2] ^= 1;
        assert!(!webcrypto::verify_envelope(&bad).await.unwrap(), "{}", m.name);
        // WebCrypto AES-GCM opens the natively sealed body (and the pure-Rust fallback
        // agrees); a flipped ciphertext byte or the wrong key does not open.
        let key = ContentKey::parse(&m.content_key).unwrap();
        if m.envelope.to.is_none() {
            let web_key = webcrypto::aes_key(key.as_bytes()).await.unwrap();
            assert_eq!(webcrypto::decrypt_envelope(&web_key, &m.envelope).await.unwrap().unwrap(), m.body);
            assert_eq!(crypto::decrypt(&m.envelope, &key).unwrap(), m.body);
            assert!(webcrypto::decrypt_envelope(&web_key, &bad).await.unwrap().is_err(), "{}", m.name);
            let wrong = webcrypto::aes_key(&[9; 32]).await.unwrap();
            assert!(webcrypto::decrypt_envelope(&wrong, &m.envelope).await.unwrap().is_err(), "{}", m.name);
        }
    }
    // PBKDF2: WebCrypto derives exactly the native file key, which opens the vector file.
    for k in &v.kdfs {
        let salt = protocol::encoding::unb64(&k.salt).unwrap();
        let key = webcrypto::pbkdf2(&k.passphrase, &salt, k.iterations).await.unwrap();
        assert_eq!(protocol::encoding::b64(&key), k.key);
        let text = serde_json::to_string(&k.file).unwrap();
        let bundle = keys_file::open(&keys_file::parse(&text).unwrap(), &key).unwrap();
        assert_eq!(bundle, k.bundle);
    }
}

#[wasm_bindgen_test]
fn browser_sealed_messages_open_and_tampering_is_caught() {
    let owner = crypto::new_identity();
    let room = RoomId::from_owner_key(&owner.public_key());
    let key = crypto::new_content_key();
    let cid = crypto::new_client_id();
    let content = Content::text("hello from wasm");
    let out = Outgoing { room: &room, identity: &owner, alias: "Ann", content: &content, epoch: 0, to: None };
    let env = crypto::seal(&out, &key, &cid);
    assert!(env.verify_signature().is_ok());
    assert_eq!(crypto::open(&env, &key).unwrap().alias, "Ann");
    let mut bad = env.clone();
    bad.ct.0[5] ^= 4;
    assert!(crypto::open(&bad, &key).is_err());
    assert_ne!(crypto::new_client_id(), cid);
}

#[wasm_bindgen_test]
async fn decoding_marks_whispers_sealed_and_tampered_messages() {
    let (owner, guest, other) = (crypto::new_identity(), crypto::new_identity(), crypto::new_identity());
    let room = RoomId::from_owner_key(&owner.public_key());
    let k0 = crypto::new_content_key();
    let stored = |env, n| StoredMessage::new(MessageKey::new(&room, Timestamp(n)), env);
    let seal = |who: &IdentityKey, text: &str, to: Option<&protocol::identity::PublicKey>, key: &ContentKey, epoch| {
        let content = Content::text(text.to_owned());
        let out = Outgoing { room: &room, identity: who, alias: "x", content: &content, epoch, to };
        crypto::seal(&out, key, &crypto::new_client_id())
    };
    let guest_ring = Keyring::new(room.clone(), guest.clone(), BTreeMap::from([(0, k0.clone())]));
    let other_ring = Keyring::new(room.clone(), other.clone(), BTreeMap::from([(0, k0.clone())]));
    let owner_pair = guest_ring.pair_key(&owner.public_key());
    let whisper = seal(&guest, "for the owner only", Some(&owner.public_key()), &owner_pair, 0);
    let plain = seal(&owner, "to everyone", None, &k0, 0);
    let epoch1 = seal(&owner, "after the lock", None, &crypto::new_content_key(), 1);
    let mut forged = seal(&owner, "original", None, &k0, 0);
    forged.ct.0[0] ^= 1;
    let batch = vec![stored(whisper, 1), stored(plain, 2), stored(epoch1, 3), stored(forged, 4)];
    let roles = Roles { owner: Some(owner.public_key()), guest: Some(guest.public_key()) };
    let seen_by_guest = guest_ring.decode_all(&batch, &roles).await;
    assert_eq!(seen_by_guest[0].text, "for the owner only");
    assert!(seen_by_guest[0].whisper.as_ref().unwrap().mine && seen_by_guest[0].from_guest);
    assert_eq!(seen_by_guest[1].text, "to everyone");
    assert!(seen_by_guest[1].from_owner);
    assert!(matches!(seen_by_guest[2].trust, Trust::Sealed(_)));
    assert!(matches!(seen_by_guest[3].trust, Trust::Tampered(_)));
    let seen_by_other = other_ring.decode_all(&batch, &roles).await;
    assert!(matches!(seen_by_other[0].trust, Trust::Sealed(_)), "a third member cannot read the whisper");
    assert!(seen_by_other[0].text.is_empty());
    assert!(!seen_by_other[0].whisper.as_ref().unwrap().mine);
}

#[wasm_bindgen_test]
fn the_v1_layout_migrates_to_v2() {
    store::clear_all();
    LocalStorage::set("cloakroom.layout", 1u32).unwrap();
    let v1 = serde_json::json!({"room": "R1", "content_key": "K0", "identity": "ID", "alias": "Al", "owner": true});
    LocalStorage::set("cloakroom.v1.room.R1", &v1).unwrap();
    assert_eq!(store::migrate().unwrap(), 1);
    assert_eq!(store::layout_version(), store::LAYOUT_VERSION);
    let r = store::load_room("R1").unwrap();
    assert_eq!(r.keys, BTreeMap::from([(0, "K0".to_owned())]));
    assert_eq!((r.identity.as_deref(), r.alias.as_deref(), r.owner), (Some("ID"), Some("Al"), true));
    assert!(LocalStorage::raw().get_item("cloakroom.v1.room.R1").unwrap().is_none());
    // Running it again changes nothing.
    assert_eq!(store::migrate().unwrap(), 0);
    store::clear_all();
}

#[wasm_bindgen_test]
fn room_records_round_trip_through_local_storage() {
    store::clear_all();
    store::migrate().unwrap();
    let owner = crypto::new_identity();
    let room = RoomId::from_owner_key(&owner.public_key()).to_string();
    let key = crypto::new_content_key().to_b64();
    assert_eq!(rooms::resolve_access(&room, ""), rooms::RoomAccess::MissingKey);
    let record = match rooms::resolve_access(&room, &format!("#{key}")) {
        rooms::RoomAccess::NeedsAlias(r, card) => {
            assert_eq!(card, InviteCard::default(), "a link without a card");
            r
        }
        other => panic!("expected an alias prompt, got {other:?}"),
    };
    assert_eq!(record.keys.get(&0), Some(&key));
    assert!(rooms::choose_alias(record.clone(), "   ").is_err());
    let ready = rooms::choose_alias(record, "Zed").unwrap();
    match rooms::resolve_access(&room, "") {
        rooms::RoomAccess::Ready(r) => assert_eq!(r, ready),
        other => panic!("expected ready, got {other:?}"),
    }
    // A later epoch's key from a link is added, not swapped in for epoch 0.
    let k3 = crypto::new_content_key().to_b64();
    match rooms::resolve_access(&room, &format!("#3.{k3}")) {
        rooms::RoomAccess::Ready(r) => assert_eq!(r.keys.len(), 2),
        other => panic!("{other:?}"),
    }
    // The link carries the newest key and a card with this member's alias (no shared name yet).
    let link = invite_link::invite_link(&store::load_room(&room).unwrap(), None).unwrap();
    assert!(link.ends_with(&format!("#3.{k3}&from=Zed")), "{link}");
    assert_eq!(rooms::resolve_access("not-a-room", "#x"), rooms::RoomAccess::NotARoom);
    assert_eq!(rooms::path_from_link(&format!("http://x/r/{room}#{key}")), Some(format!("/r/{room}#{key}")));
    store::clear_all();
}

#[wasm_bindgen_test]
fn invite_cards_name_the_room_and_sender_and_show_nothing_a_link_should_not() {
    let key = crypto::new_content_key();
    let k = key.to_b64();
    let card = InviteCard {
        name: Some("Book club & friends #1".into()),
        owner: Some("Olga".into()),
        from: Some("Ana María".into()),
    };
    let text = invite_link::fragment(2, &k, &card);
    assert!(text.starts_with(&format!("2.{k}&")), "{text}");
    assert!(!text[k.len() + 2..].contains('#') && !text.contains(' '), "the card is encoded: {text}");
    let parsed = invite_link::parse(&format!("#{text}")).unwrap();
    assert_eq!((parsed.epoch, parsed.key.to_b64(), parsed.card), (2, k.clone(), card));
    // A link without a card (every link made before cards) still opens.
    let plain = invite_link::parse(&k).unwrap();
    assert_eq!((plain.epoch, plain.card), (0, InviteCard::default()));
    // Direction overrides and control characters are dropped, over-long fields are cut to
    // their limit, blank and unknown fields are ignored, and a bad key is no link at all.
    let hostile = format!("{k}&name=%E2%80%AEevil%0Aname&from=%20%20&colour=red");
    let parsed = invite_link::parse(&hostile).unwrap();
    assert_eq!(parsed.card, InviteCard { name: Some("evilname".into()), owner: None, from: None });
    let long = format!("{k}&name={}&from={}", "n".repeat(500), "f".repeat(500));
    let parsed = invite_link::parse(&long).unwrap();
    assert_eq!(parsed.card.name.map(|n| n.chars().count()), Some(protocol::room_state::MAX_ROOM_NAME_CHARS));
    assert_eq!(parsed.card.from.map(|n| n.chars().count()), Some(rooms::MAX_ALIAS_CHARS));
    assert!(invite_link::parse("not-a-key&name=x").is_none());
    // What a member named the room only for themselves never goes into a link.
    let record = RoomRecord {
        room: RoomId::from_owner_key(&crypto::new_identity().public_key()).to_string(),
        keys: BTreeMap::from([(0, k.clone())]),
        alias: Some("Zed".into()),
        name: Some("my secret nickname for it".into()),
        shared_name: Some("Team".into()),
        ..RoomRecord::default()
    };
    let link = invite_link::invite_link(&record, Some("Olga".into())).unwrap();
    assert!(link.ends_with(&format!("#{k}&name=Team&owner=Olga&from=Zed")), "{link}");
}

fn record(room: &str, identity: &str) -> RoomRecord {
    RoomRecord {
        room: room.into(),
        keys: BTreeMap::from([(0, "k".to_owned())]),
        identity: Some(identity.into()),
        alias: Some("me".into()),
        ..RoomRecord::default()
    }
}

#[wasm_bindgen_test]
async fn export_then_import_merges_without_silent_overwrites() {
    store::clear_all();
    store::migrate().unwrap();
    store::save_room(&record("A", "id-a")).unwrap();
    store::save_room(&record("B", "id-b")).unwrap();
    store::save_contacts(&BTreeMap::from([("pk1".to_owned(), "Bob".to_owned())])).unwrap();
    let file = export::export_file("long passphrase", keys_file::MIN_ITERATIONS).await.unwrap();
    assert!(export::export_file("short", keys_file::MIN_ITERATIONS).await.is_err());
    assert!(matches!(export::read_file(&file, "wrong passphrase").await, Err(KeysFileError::WrongPassphrase)));
    let mut damaged: serde_json::Value = serde_json::from_str(&file).unwrap();
    // One character of the ciphertext changed (to another one: a random first character
    // is "A" one time in 64).
    let ct = damaged["ct"].as_str().unwrap().to_owned();
    let other = if ct.starts_with('A') { 'B' } else { 'A' };
    damaged["ct"] = serde_json::Value::String(format!("{other}{}", &ct[1..]));
    assert!(matches!(export::read_file(&damaged.to_string(), "long passphrase").await, Err(KeysFileError::Corrupt(_))));

    // Wipe, then change the world: B now has another identity here, C is new here.
    store::clear_all();
    store::migrate().unwrap();
    store::save_room(&record("B", "id-other")).unwrap();
    store::save_contacts(&BTreeMap::from([("pk1".to_owned(), "Robert".to_owned())])).unwrap();
    let bundle = export::read_file(&file, "long passphrase").await.unwrap();
    let plan = export::plan(&bundle);
    assert_eq!(plan.add.iter().map(|r| r.room.as_str()).collect::<Vec<_>>(), ["A"]);
    assert_eq!(plan.conflicts.iter().map(|r| r.room.as_str()).collect::<Vec<_>>(), ["B"]);
    assert_eq!(plan.renamed_contacts, vec![("pk1".to_owned(), "Robert".to_owned(), "Bob".to_owned())]);
    // Not ticking B keeps the identity here; the contact keeps its local name.
    let summary = export::apply(&plan, &BTreeSet::new(), false).unwrap();
    assert_eq!((summary.added, summary.replaced), (1, 0));
    assert_eq!(store::load_room("B").unwrap().identity.as_deref(), Some("id-other"));
    assert_eq!(store::contacts().get("pk1").map(String::as_str), Some("Robert"));
    // Ticking it replaces it.
    let plan = export::plan(&bundle);
    export::apply(&plan, &BTreeSet::from(["B".to_owned()]), true).unwrap();
    assert_eq!(store::load_room("B").unwrap().identity.as_deref(), Some("id-b"));
    assert_eq!(store::contacts().get("pk1").map(String::as_str), Some("Bob"));
    store::clear_all();
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
        from_guest: false,
        whisper: None,
        attachment: None,
        delivery,
        trust: Trust::Verified,
        reply_to: None,
        action: None,
        event: None,
        shown: Default::default(),
    }
}

/// An action message from `sender` (`key` committed, else pending).
fn action(id: &str, sender: &str, key: Option<&str>, action: Action) -> ChatMessage {
    let mut m = message(id, key, sender == "me", if key.is_some() { Delivery::Sent } else { Delivery::Pending });
    m.sender = sender.into();
    m.action = Some(action);
    m
}

#[wasm_bindgen_test]
fn actions_change_their_target_in_order_and_are_never_rows() {
    let mut t = Timeline::default();
    let mut original = message("s/1", Some("k1"), false, Delivery::Sent);
    original.text = "helo".into();
    t.upsert(original);
    let mut reply = message("me/2", Some("k5"), true, Delivery::Sent);
    reply.sender = "me".into();
    reply.reply_to = Some("s/1".into());
    t.upsert(reply);
    // Arriving newest first (as older pages do): the second edit, then the first.
    t.upsert(action("s/e2", "s", Some("k4"), Action::Edit { target: "s/1".into(), text: "hello!".into() }));
    t.upsert(action("s/e1", "s", Some("k3"), Action::Edit { target: "s/1".into(), text: "hello".into() }));
    // Reactions: two members, one takes theirs back; a pending one of ours.
    let react = |emoji: &str, on| Action::React { target: "s/1".into(), emoji: emoji.into(), on };
    t.upsert(action("x/r1", "x", Some("k2"), react("👍", true)));
    t.upsert(action("y/r1", "y", Some("k2a"), react("👍", true)));
    t.upsert(action("y/r2", "y", Some("k2b"), react("👍", false)));
    t.upsert(action("me/r1", "me", None, react("🎉", true)));
    // An edit by someone else never applies (a forged one is refused when opened; the
    // timeline holds to the sender rule as well).
    t.upsert(action("z/e", "z", Some("k6"), Action::Edit { target: "s/1".into(), text: "forged".into() }));

    assert_eq!(t.len(), 2, "actions are not rows");
    assert_eq!(t.newest_key(), Some("k6"), "the read marker moves past actions");
    assert_eq!(t.oldest_key(), Some("k1"));
    let rows = t.newest(10);
    let shown = &rows[0].shown;
    assert_eq!(rows[0].text, "hello!", "the newest edit by key wins, whatever the arrival order");
    assert!(shown.edited);
    let counts: Vec<(String, usize, bool)> =
        shown.reactions.iter().map(|r| (r.emoji.clone(), r.count, r.mine)).collect();
    assert_eq!(counts, vec![("👍".to_owned(), 1, false), ("🎉".to_owned(), 1, true)]);
    match &rows[1].shown.quote {
        Some(Quote::Found { id, excerpt, .. }) => assert_eq!((id.as_str(), excerpt.as_str()), ("s/1", "hello!")),
        other => panic!("the reply quotes the edited text: {other:?}"),
    }

    // Our reaction refused by the server is taken back.
    t.fail("me/r1", "no".into());
    assert_eq!(t.newest(10)[0].shown.reactions.len(), 1);

    // Deleted (by the owner here): no text, no reactions, and the reply says so; an
    // edit after the delete changes nothing.
    t.upsert(action("o/d", "o", Some("k7"), Action::Delete { target: "s/1".into() }));
    t.upsert(action("s/e3", "s", Some("k8"), Action::Edit { target: "s/1".into(), text: "back".into() }));
    let rows = t.newest(10);
    assert_eq!(rows[0].shown.deleted, Some(DeletedBy::Owner));
    assert_eq!(rows[0].text, "");
    assert!(rows[0].shown.reactions.is_empty());
    assert_eq!(rows[1].shown.quote, Some(Quote::Deleted));
    // A reply to a message not loaded here.
    let mut lone = message("me/3", Some("k9"), true, Delivery::Sent);
    lone.reply_to = Some("q/404".into());
    t.upsert(lone);
    assert_eq!(t.newest(1)[0].shown.quote, Some(Quote::Missing));
}

#[wasm_bindgen_test]
fn our_committed_deletes_are_asked_to_be_erased_until_the_server_has() {
    let mut t = Timeline::default();
    for (id, key) in [("me/1", "k1"), ("s/2", "k2"), ("s/3", "k3"), ("me/4", "k4")] {
        let mut m = message(id, Some(key), id.starts_with("me"), Delivery::Sent);
        m.sender = id[..id.find('/').unwrap()].into();
        t.upsert(m);
    }
    // Ours, committed: wanted. Ours, still pending: not yet. Someone else's: not ours to ask.
    t.upsert(action("me/d1", "me", Some("k5"), Action::Delete { target: "me/1".into() }));
    t.upsert(action("me/d2", "me", None, Action::Delete { target: "me/4".into() }));
    t.upsert(action("s/d3", "s", Some("k6"), Action::Delete { target: "s/2".into() }));
    // As the owner, a delete of another's message is ours to ask too.
    t.upsert(action("me/d4", "me", Some("k7"), Action::Delete { target: "s/3".into() }));
    assert_eq!(t.to_erase("me"), ["k1", "k3"]);
    // The server erased one: it keeps its place without content and is not asked again.
    let erased = t.erase("k1").expect("a row with that key");
    assert_eq!((erased.trust.clone(), erased.text.as_str()), (Trust::Erased, ""));
    assert_eq!(t.to_erase("me"), ["k3"]);
    let rows = t.newest(10);
    let row = rows.iter().find(|m| m.id == "me/1").unwrap();
    assert_eq!(row.shown.deleted, Some(DeletedBy::Sender), "shown deleted: a delete from its sender is here");
    assert!(t.erase("k404").is_none());
}

#[wasm_bindgen_test]
fn the_timeline_shows_each_message_once_in_server_order() {
    let mut t = Timeline::default();
    t.upsert(message("me/1", None, true, Delivery::Pending));
    t.upsert(message("x/1", Some("k2"), false, Delivery::Sent));
    t.upsert(message("x/0", Some("k1"), false, Delivery::Sent));
    t.upsert(message("x/1", Some("k2"), false, Delivery::Sent));
    let order: Vec<&str> = t.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(order, ["x/0", "x/1", "me/1"]);
    t.acknowledge("me/1", "k3", 3);
    t.upsert(message("me/1", Some("k3"), true, Delivery::Sent));
    assert_eq!(t.len(), 3);
    assert_eq!(t.get("me/1").unwrap().delivery, Delivery::Sent);
    assert_eq!((t.oldest_key(), t.newest_key()), (Some("k1"), Some("k3")));
    t.fail("me/1", "nope".into());
    assert!(matches!(t.get("me/1").unwrap().delivery, Delivery::Failed(_)));
    assert!(t.remove("me/1").is_some());
    assert_eq!(t.len(), 2);
}

/// A timeline of `n` committed messages "x/0" … "x/{n-1}" from someone else.
fn long_timeline(n: u32) -> Timeline {
    let mut t = Timeline::default();
    for i in 0..n {
        t.upsert(message(&format!("x/{i}"), Some(&format!("k{i:06}")), false, Delivery::Sent));
    }
    t
}

fn ids(rows: &[ChatMessage]) -> (String, String, usize) {
    (rows.first().unwrap().id.clone(), rows.last().unwrap().id.clone(), rows.len())
}

#[wasm_bindgen_test]
fn the_window_follows_the_newest_then_pages_up_and_down_within_its_bound() {
    use cloakroom::session::window::{FOLLOW_ROWS, MAX_ROWS, STEP, TimelineWindow};
    let mut t = long_timeline(1000);
    let mut w = TimelineWindow::Newest;
    assert_eq!(ids(&w.rows(&t)), ("x/940".into(), "x/999".into(), FOLLOW_ROWS));
    assert!(w.reaches_newest(&t) && !w.reaches_oldest(&t));
    // Following: an arrival moves the window.
    t.upsert(message("x/1000", Some("k001000"), false, Delivery::Sent));
    assert_eq!(ids(&w.rows(&t)).1, "x/1000");

    // Frozen, arrivals join below while the start stays.
    w.freeze(&t);
    t.upsert(message("x/1001", Some("k001001"), false, Delivery::Sent));
    assert_eq!(ids(&w.rows(&t)), ("x/941".into(), "x/1001".into(), FOLLOW_ROWS + 1));
    assert!(w.reaches_newest(&t));

    // Up: a step at a time, never more than MAX_ROWS; the bottom is dropped.
    assert!(w.extend_up(&t));
    assert_eq!(ids(&w.rows(&t)), (format!("x/{}", 941 - STEP), "x/1001".into(), FOLLOW_ROWS + 1 + STEP));
    for _ in 0..40 {
        w.extend_up(&t);
        assert!(w.rows(&t).len() <= MAX_ROWS);
    }
    assert!(w.reaches_oldest(&t) && !w.reaches_newest(&t));
    assert_eq!(ids(&w.rows(&t)), ("x/0".into(), format!("x/{}", MAX_ROWS - 1), MAX_ROWS));
    assert!(!w.extend_up(&t), "nothing older in memory");
    // An older page arrives: the window can go on up.
    for i in 0..10 {
        t.upsert(message(&format!("a/{i}"), Some(&format!("j{i:06}")), false, Delivery::Sent));
    }
    assert!(w.extend_up(&t));
    assert_eq!(ids(&w.rows(&t)).0, "a/0");

    // Down again, to the newest: the top is dropped, and the window ends "through the newest".
    while w.extend_down(&t) {
        assert!(w.rows(&t).len() <= MAX_ROWS);
    }
    assert!(w.reaches_newest(&t));
    assert_eq!(ids(&w.rows(&t)), (format!("x/{}", 1002 - MAX_ROWS), "x/1001".into(), MAX_ROWS));
    // Full, it takes no more rows: an arrival waits below (the list offers to jump).
    t.upsert(message("x/1002", Some("k001002"), false, Delivery::Sent));
    assert_eq!(ids(&w.rows(&t)).1, "x/1001");
    assert!(!w.reaches_newest(&t));
    assert!(w.extend_down(&t));
    assert_eq!(ids(&w.rows(&t)), (format!("x/{}", 1003 - MAX_ROWS), "x/1002".into(), MAX_ROWS));
}

#[wasm_bindgen_test]
fn unread_and_new_counts_skip_our_own_messages() {
    let mut t = long_timeline(10);
    t.upsert(message("me/1", Some("k000010"), true, Delivery::Sent));
    t.upsert(message("x/11", Some("k000011"), false, Delivery::Sent));
    t.upsert(message("me/2", None, true, Delivery::Pending));
    assert_eq!(t.first_unread_after("k000007"), Some("x/8"));
    assert_eq!(t.first_unread_after("k000009"), Some("x/11"));
    assert_eq!(t.count_from_others_after("k000007"), 3);
    assert_eq!(t.first_unread_after("k000011"), None);
    // The member index keeps each sender's newest alias without walking the history.
    let mut renamed = message("x/12", Some("k000012"), false, Delivery::Sent);
    renamed.sender = "x".into();
    renamed.alias = "Xena".into();
    t.upsert(renamed);
    assert_eq!(t.alias_of("x"), Some("Xena"));
    // A membership line is a row, but neither unread nor "new", and never grouped with
    // the sender's messages around it.
    let mut joined = message("y/1", Some("k000013"), false, Delivery::Sent);
    joined.sender = "y".into();
    joined.event = Some(MemberEvent::Joined);
    t.upsert(joined);
    let mut said = message("y/2", Some("k000014"), false, Delivery::Sent);
    said.sender = "y".into();
    t.upsert(said);
    assert_eq!(t.first_unread_after("k000012"), Some("y/2"));
    assert_eq!(t.count_from_others_after("k000012"), 1);
    // (Our pending "me/2" stays the newest row.)
    let newest = t.newest(3);
    assert_eq!(newest.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), ["y/1", "y/2", "me/2"]);
    assert!(!newest[1].shown.continued, "a message after a membership line shows its sender");
    assert!(!newest[0].is_conversation() && newest[1].is_conversation());
    let named = |k: &str| if k == "z" { "Zoe".to_owned() } else { "a newcomer".to_owned() };
    assert_eq!(MemberEvent::Accepted { member: "z".into() }.line("Olga", named), "Olga let Zoe in");
    assert_eq!(MemberEvent::Removed { member: "q".into() }.line("You", named), "You removed a newcomer");
}

#[wasm_bindgen_test]
async fn the_cache_pages_and_searches_one_room() {
    let room = RoomId::from_owner_key(&crypto::new_identity().public_key()).to_string();
    let other = RoomId::from_owner_key(&crypto::new_identity().public_key()).to_string();
    let msg = |room: &str, n: u64, text: &str| {
        let mut m = message(&format!("s/{n}"), Some(&format!("{room}{n:016x}")), false, Delivery::Sent);
        m.text = text.into();
        m
    };
    let mut batch: Vec<ChatMessage> = (1..=250).map(|n| msg(&room, n, &format!("note {n}"))).collect();
    batch.push(msg(&other, 7, "note elsewhere"));
    let mut shared = msg(&room, 251, "");
    shared.attachment = Some(cloakroom::session::timeline::Attachment::File(protocol::objects::FileHandle {
        file_id: "f".into(),
        key: "k".into(),
        read: Some("r".into()),
        verification: None,
        size: 10,
        padded: 4096,
        name: "Quarterly-Budget.xlsx".into(),
        mime: "application/octet-stream".into(),
    }));
    batch.push(shared);
    cache::put_all(&batch).await.unwrap();
    // A shared file is found by its name.
    let by_name = cache::search(&room, "quarterly-budget", 10).await.unwrap();
    assert_eq!(by_name.iter().map(|m| m.summary()).collect::<Vec<_>>(), ["📎 Quarterly-Budget.xlsx"]);
    let newest = cache::page(&room, None, 100).await.unwrap();
    assert_eq!(newest.len(), 100);
    assert_eq!(newest.first().unwrap().text, "note 152");
    assert_eq!(newest.last().unwrap().summary(), "📎 Quarterly-Budget.xlsx");
    let older = cache::page(&room, newest.first().unwrap().key.as_deref(), 100).await.unwrap();
    assert_eq!(older.last().unwrap().text, "note 151");
    let found = cache::search(&room, "NOTE 24", 10).await.unwrap();
    assert_eq!(
        found.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
        [
            "note 249", "note 248", "note 247", "note 246", "note 245", "note 244", "note 243", "note 242", "note 241",
            "note 240"
        ]
    );
    cache::forget(&room).await.unwrap();
    assert!(cache::page(&room, None, 10).await.unwrap().is_empty());
    assert_eq!(cache::page(&other, None, 10).await.unwrap().len(), 1);
}

#[wasm_bindgen_test]
async fn browser_file_chunks_match_the_protocol_vectors_and_damage_is_caught() {
    use cloakroom::files::download;
    use cloakroom::files::source::Source;
    use cloakroom::files::upload::{self, Watch};
    use protocol::objects;
    for v in protocol::vectors::load().objects {
        let plain = v.plaintext();
        assert_eq!(objects::padded_size(v.len), Some(v.padded));
        let source = Source::buffer(js_sys::Uint8Array::from(plain.as_slice()));
        // v1 files: the same content hash, the v1 derivation (files stored before v2).
        let hash = upload::content_hash(&source, v.padded, &Watch::NONE).await.unwrap();
        let keys = objects::derive_v1(&hash);
        assert_eq!((keys.file_id.as_str(), keys.key.to_b64()), (v.file_id.as_str(), v.key.clone()));
        let key = webcrypto::aes_key(keys.key.as_bytes()).await.unwrap();
        let count = objects::chunk_count(v.padded);
        assert_eq!(count as usize, v.chunk_ids.len());
        for index in 0..count {
            let part = source.padded_chunk(v.padded, index).await.unwrap();
            let (id, sealed) = upload::seal_chunk(&key, &keys.file_id, index, count, &part).await.unwrap();
            assert_eq!(id, v.chunk_ids[index as usize], "WebCrypto encrypts chunk {index} like the protocol");
            let opened = download::open_chunk(&key, &keys.file_id, index, count, &id, &sealed).await.unwrap();
            assert_eq!(opened.to_vec(), part.to_vec());
            // A flipped byte, or the chunk presented at another index, is refused.
            let bad = js_sys::Uint8Array::from(sealed.to_vec().as_slice());
            bad.set_index(3, bad.get_index(3) ^ 1);
            let bad_id = protocol::encoding::b64(&webcrypto::sha256(&bad).await.unwrap());
            let refused = |r: Result<js_sys::Uint8Array, String>| r.err();
            let damaged = Some(download::DAMAGED.to_owned());
            assert_eq!(refused(download::open_chunk(&key, &keys.file_id, index, count, &id, &bad).await), damaged);
            assert_eq!(refused(download::open_chunk(&key, &keys.file_id, index, count, &bad_id, &bad).await), damaged);
            if count > 1 {
                let other = (index + 1) % count;
                assert!(download::open_chunk(&key, &keys.file_id, other, count, &id, &sealed).await.is_err());
            }
        }
    }
}

#[wasm_bindgen_test]
async fn transfers_retry_what_passes_and_stop_at_what_does_not() {
    use cloakroom::net::retry;
    use protocol::error::{ErrorBody, ErrorCode};
    use std::cell::Cell;

    let calls = Cell::new(0);
    let answer = |code: ErrorCode, succeed_at: u32| {
        let calls = &calls;
        move || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { if n >= succeed_at { Ok(n) } else { Err(ErrorBody::new(code, "no")) } }
        }
    };
    // A dropped connection (twice) is retried until the call goes through.
    assert_eq!(retry::with_retries(&|| false, answer(ErrorCode::Unavailable, 3)).await.unwrap(), 3);
    // A refusal is final at once.
    calls.set(0);
    let refused = retry::with_retries(&|| false, answer(ErrorCode::TokenSpent, u32::MAX)).await.unwrap_err();
    assert_eq!((refused.code, calls.get()), (ErrorCode::TokenSpent, 1));
    // A cancelled transfer stops retrying.
    calls.set(0);
    let stopped = retry::with_retries(&|| true, answer(ErrorCode::Unavailable, u32::MAX)).await.unwrap_err();
    assert_eq!((stopped.code, calls.get()), (ErrorCode::Unavailable, 1));
}

#[wasm_bindgen_test]
async fn browser_v2_objects_match_their_vectors_with_inputs() {
    use cloakroom::files::download;
    use cloakroom::files::source::Source;
    use cloakroom::files::upload::{self, Watch};
    use protocol::encoding::b64;
    use protocol::object_proofs::{PutSecret, ReadProof};
    use protocol::objects;
    let vectors = protocol::object_vectors::load();
    assert_eq!(
        protocol::object_vectors::check_all(&vectors).unwrap(),
        vectors.objects.len() * 2 + vectors.put_checks.len()
    );
    for v in &vectors.objects {
        let plain = v.plain();
        assert_eq!(objects::padded_size(v.len), Some(v.padded), "{}", v.name);
        // The browser's own pipeline: WebCrypto chunk hashes → h → read, read_check, id, key.
        let source = Source::buffer(js_sys::Uint8Array::from(plain.as_slice()));
        let hash = upload::content_hash(&source, v.padded, &Watch::NONE).await.unwrap();
        assert_eq!(b64(&hash), v.content_hash, "{}", v.name);
        let read = ReadProof::derive(&hash);
        assert_eq!((read.to_b64(), b64(&read.check())), (v.read.clone(), v.read_check.clone()), "{}", v.name);
        let keys = upload::content_keys(&source, v.padded, &Watch::NONE).await.unwrap();
        assert_eq!((keys.file_id.as_str(), keys.key.to_b64()), (v.file_id.as_str(), v.file_key.clone()), "{}", v.name);
        assert_eq!(read.file_id(), v.file_id);
        let key = webcrypto::aes_key(keys.key.as_bytes()).await.unwrap();
        let count = objects::chunk_count(v.padded);
        assert_eq!(b64(&objects::chunk_aad(&keys.file_id, 0, count)), v.chunk0_aad);
        for index in 0..count {
            let part = source.padded_chunk(v.padded, index).await.unwrap();
            let (id, sealed) = upload::seal_chunk(&key, &keys.file_id, index, count, &part).await.unwrap();
            assert_eq!(
                id, v.chunk_ids[index as usize],
                "{} chunk {index}: WebCrypto encrypts like the protocol",
                v.name
            );
            if let Some(full) = v.chunks.get(index as usize) {
                assert_eq!(&b64(&sealed.to_vec()), full, "{} chunk {index}: the ciphertext itself", v.name);
            }
            let opened = download::open_chunk(&key, &keys.file_id, index, count, &id, &sealed).await.unwrap();
            assert_eq!(opened.to_vec(), part.to_vec());
        }
    }
    for p in &vectors.put_checks {
        assert_eq!(b64(&PutSecret::parse(&p.put_secret).unwrap().check()), p.put_check);
    }
}

#[wasm_bindgen_test]
fn message_text_formats_links_and_marks_without_markup() {
    use cloakroom::format::{Line, Span, lines, spans};
    let t = |s: &str| Span::Text(s.into());
    assert_eq!(
        spans("see https://example.org/a?b=1. or http://x.test, **now** and *soon* with `code` _too_"),
        vec![
            t("see "),
            Span::Link("https://example.org/a?b=1".into()),
            t(". or "),
            Span::Link("http://x.test".into()),
            t(", "),
            Span::Bold("now".into()),
            t(" and "),
            Span::Italic("soon".into()),
            t(" with "),
            Span::Code("code".into()),
            t(" "),
            Span::Italic("too".into()),
        ]
    );
    // Left as typed: other schemes, marks inside words or around spaces, unclosed marks,
    // and anything that looks like markup (it is text, never parsed as HTML).
    for plain in [
        "javascript:alert(1)",
        "snake_case_name",
        "2 * 3 * 4",
        "** not bold **",
        "*unclosed",
        "<b>x</b>",
        "https://",
        "a_b_",
    ] {
        assert_eq!(spans(plain), vec![t(plain)], "{plain}");
    }
    assert_eq!(
        lines("> quoted\nplain"),
        vec![Line { quote: true, spans: vec![t("quoted")] }, Line { quote: false, spans: vec![t("plain")] }]
    );
}

#[wasm_bindgen_test]
fn rows_know_where_days_start_and_which_continue_the_one_above() {
    let day = 86_400_000u64;
    let base = 1_767_225_600_000u64; // 2026-01-01T00:00Z
    let at = |id: &str, key: &str, sender: &str, ms: u64| {
        let mut m = message(id, Some(key), false, Delivery::Sent);
        m.sender = sender.into();
        m.time_ms = Some(ms);
        m
    };
    let mut t = Timeline::default();
    // Around noon UTC, so that every time zone puts the first four on one day.
    let noon = base + 12 * 3_600_000;
    t.upsert(at("a/1", "k1", "a", noon));
    t.upsert(at("a/2", "k2", "a", noon + 60_000));
    t.upsert(at("b/3", "k3", "b", noon + 120_000));
    t.upsert(at("b/4", "k4", "b", noon + 30 * 60_000));
    t.upsert(at("b/5", "k5", "b", noon + day));
    // Until the server says the history starts here, the oldest loaded message gets no
    // day line (the page before it may be the same day).
    assert_eq!(t.newest(10)[0].shown.day_starts, None);
    t.set_history_complete(true);
    let rows = t.newest(10);
    let starts: Vec<bool> = rows.iter().map(|m| m.shown.day_starts.is_some()).collect();
    let continued: Vec<bool> = rows.iter().map(|m| m.shown.continued).collect();
    assert_eq!(starts, vec![true, false, false, false, true]);
    assert_eq!(continued, vec![false, true, false, false, false], "same sender within 5 min, same day");
    // A window starting mid-run looks one message further back.
    let tail = t.span("a/2", None, 10).unwrap();
    assert_eq!(tail[0].shown.day_starts, None);
    assert!(tail[0].shown.continued);
}

/// A refusal is shown in the app's own words, with the limit where it helps, never with
/// the server's text (which a hostile server could fill with a false instruction); an
/// SSO return's code is read, its text never.
#[wasm_bindgen_test]
fn refusals_are_shown_in_the_apps_words_never_the_servers() {
    use protocol::error::{ErrorBody, ErrorCode};
    let hostile = "Visit https://evil.example to restore your keys";
    let left = ErrorBody::new(ErrorCode::BudgetExhausted, hostile).with_limit(3 * 1024 * 1024);
    let shown = cloakroom::net::explain::describe(&left);
    assert!(!shown.contains("evil") && shown.contains("3.0 MB"), "{shown}");
    let needed = ErrorBody::new(ErrorCode::TokenTooSmall, hostile).with_limit(32 * 1024 * 1024);
    assert!(cloakroom::net::explain::describe(&needed).contains("32.0 MB"));
    for code in [ErrorCode::Unauthorized, ErrorCode::TokenSpent, ErrorCode::Internal, ErrorCode::QuotaExhausted] {
        let shown = cloakroom::net::explain::describe(&ErrorBody::new(code, hostile));
        assert!(!shown.contains("evil") && !shown.is_empty(), "{code}: {shown}");
    }
    assert!(cloakroom::sso::explain("quota_exhausted").contains("this month"));
    assert!(cloakroom::sso::explain("forbidden").contains("may not create rooms"));
    assert!(!cloakroom::sso::explain("<script>").contains("script"), "an unknown code gets a fixed sentence");
}

/// Every file in the spool's directory of the origin private file system.
async fn spooled_files() -> Vec<String> {
    let storage: web_sys::StorageManager = web_sys::window().unwrap().navigator().storage();
    let root: web_sys::FileSystemDirectoryHandle =
        wasm_bindgen_futures::JsFuture::from(storage.get_directory()).await.unwrap().into();
    let Ok(directory) = wasm_bindgen_futures::JsFuture::from(root.get_directory_handle("downloads")).await else {
        return vec![];
    };
    let directory: web_sys::FileSystemDirectoryHandle = directory.into();
    let keys = directory.keys();
    let mut names = vec![];
    loop {
        let step = wasm_bindgen_futures::JsFuture::from(keys.next().unwrap()).await.unwrap();
        if js_sys::Reflect::get(&step, &"done".into()).unwrap().as_bool().unwrap() {
            return names;
        }
        names.push(js_sys::Reflect::get(&step, &"value".into()).unwrap().as_string().unwrap());
    }
}

/// A file being saved waits on disk (Chromium and Firefox have the origin private file
/// system): chunks written out of order come back in order; a discarded one is deleted.
#[wasm_bindgen_test]
async fn a_download_spools_to_disk_and_a_discarded_one_is_deleted() {
    use cloakroom::files::spool::Spool;
    let before = spooled_files().await;
    let spool = Spool::for_saving(7, 2).await;
    assert!(spool.on_disk(), "this browser writes downloads to disk");
    let name = spool.file_name().unwrap();
    spool.write(1, 4, &js_sys::Uint8Array::from(&[5u8, 6, 7][..])).await.unwrap();
    spool.write(0, 0, &js_sys::Uint8Array::from(&[1u8, 2, 3, 4][..])).await.unwrap();
    let blob = spool.finish("application/x-test").await.unwrap();
    assert_eq!(blob.type_(), "application/x-test");
    let bytes = wasm_bindgen_futures::JsFuture::from(blob.array_buffer()).await.unwrap();
    assert_eq!(js_sys::Uint8Array::new(&bytes).to_vec(), vec![1, 2, 3, 4, 5, 6, 7]);
    assert!(spooled_files().await.contains(&name), "a saved file stays for the browser to copy");

    let damaged = Spool::for_saving(3, 1).await;
    let damaged_name = damaged.file_name().unwrap();
    damaged.write(0, 0, &js_sys::Uint8Array::from(&[9u8, 9, 9][..])).await.unwrap();
    damaged.discard().await;
    let after = spooled_files().await;
    assert!(!after.contains(&damaged_name), "a discarded download leaves nothing: {after:?}");
    assert_eq!(after.len(), before.len() + 1);
}

/// A spool in memory (images, and browsers without OPFS writes) gives the same file.
#[wasm_bindgen_test]
async fn a_memory_spool_assembles_the_chunks_in_order() {
    use cloakroom::files::spool::Spool;
    let spool = Spool::memory(2);
    assert!(!spool.on_disk() && spool.file_name().is_none());
    spool.write(1, 2, &js_sys::Uint8Array::from(&[3u8][..])).await.unwrap();
    spool.write(0, 0, &js_sys::Uint8Array::from(&[1u8, 2][..])).await.unwrap();
    let blob = spool.finish("image/png").await.unwrap();
    let bytes = wasm_bindgen_futures::JsFuture::from(blob.array_buffer()).await.unwrap();
    assert_eq!(js_sys::Uint8Array::new(&bytes).to_vec(), vec![1, 2, 3]);
}
