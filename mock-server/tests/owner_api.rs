//! The signed owner API over real HTTP: for every call, a valid request succeeds once;
//! a wrong key, a stale timestamp, a replayed nonce and a tampered body are refused with
//! their codes and change nothing.

mod support;

use protocol::api::OwnerCall;
use protocol::api::RoomSettings;
use protocol::envelope::B64Bytes;
use protocol::error::ErrorCode;
use protocol::frames::Access;
use protocol::identity::IdentityKey;
use protocol::key_wrap;
use protocol::room_state::{MAX_SEALED_MOTD_BYTES, SealedMotd, SignedState, StateFields};
use protocol::signed_request::MAX_CLOCK_SKEW_MS;
use serde_json::{Value, json};
use support::{SECRET, kv_rows, server};
use testkit::client::{
    ApiResult, Member, TestRoom, create_room, new_content_key, new_identity, now_ms, send_signed, sign_request,
};

fn wrap_json(room: &TestRoom, to: &IdentityKey, epoch: u32) -> Value {
    let w = key_wrap::wrap(&room.owner, &to.public_key(), &room.id, epoch, &new_content_key(), testkit::random_bytes());
    serde_json::to_value(w).unwrap()
}

/// A message of the day sealed under the room's epoch-`epoch` key (the link's for 0).
fn sealed(room: &TestRoom, epoch: u32, text: &str) -> SealedMotd {
    SealedMotd::seal(&room.id, epoch, &room.key, text, testkit::random_bytes())
}

/// The message of the day of a signed state, opened with the link's key.
fn motd_of(room: &TestRoom, state: &SignedState, epoch: u32) -> String {
    state.verify(&room.id, &room.owner.public_key()).expect("owner-signed");
    state.motd.as_ref().map(|m| m.open(&room.id, epoch, &room.key).expect("opens")).unwrap_or_default()
}

/// Runs one owner call through the five variants; returns the valid call's answer.
async fn check_call(
    http: &str,
    data: &std::path::Path,
    room: &TestRoom,
    method: &str,
    name: &str,
    body: Option<Value>,
) -> Value {
    let path = format!("/api/rooms/{}/owner/{name}", room.id);
    let bytes = body.as_ref().map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
    let code = |r: ApiResult| r.err().map(|(_, e)| e.error.code);

    // Wrong key: a valid signature by someone else.
    let rows = kv_rows(data, &room.id);
    let stranger = new_identity();
    let auth = sign_request(&stranger, method, &path, &bytes, now_ms());
    assert_eq!(
        code(send_signed(http, method, &path, &bytes, &auth).await),
        Some(ErrorCode::Forbidden),
        "{name}: wrong key"
    );
    // Stale: the owner's signature, but from more than a minute ago.
    let auth = sign_request(&room.owner, method, &path, &bytes, now_ms() - MAX_CLOCK_SKEW_MS - 5_000);
    assert_eq!(
        code(send_signed(http, method, &path, &bytes, &auth).await),
        Some(ErrorCode::StaleRequest),
        "{name}: stale"
    );
    // Tampered body: signed for one body, sent with another.
    if !bytes.is_empty() {
        let auth = sign_request(&room.owner, method, &path, &bytes, now_ms());
        let mut other = bytes.clone();
        other.extend_from_slice(b" ");
        let got = code(send_signed(http, method, &path, &other, &auth).await);
        assert_eq!(got, Some(ErrorCode::Unauthorized), "{name}: tampered body");
    }
    // Not signed at all.
    let resp = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{http}{path}"))
        .header("content-type", "application/json")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "{name}: unsigned");
    assert_eq!(kv_rows(data, &room.id), rows, "{name}: a refused call changed the room");

    // The valid call, then the very same request again.
    let auth = sign_request(&room.owner, method, &path, &bytes, now_ms());
    let answer = send_signed(http, method, &path, &bytes, &auth).await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let rows = kv_rows(data, &room.id);
    let replay = send_signed(http, method, &path, &bytes, &auth).await;
    assert_eq!(code(replay), Some(ErrorCode::ReplayedRequest), "{name}: replay");
    assert_eq!(kv_rows(data, &room.id), rows, "{name}: a replay changed the room");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_owner_call_accepts_only_fresh_owner_signatures() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let (guest, newcomer, intruder) = (new_identity(), new_identity(), new_identity());
    let _g = Member::join(&srv.ws_base(), &room.id, guest.clone()).await.unwrap();
    let _i = Member::join(&srv.ws_base(), &room.id, intruder.clone()).await.unwrap();
    let d = data.path();

    let settings: RoomSettings =
        serde_json::from_value(check_call(&http, d, &room, "GET", "settings", None).await).unwrap();
    assert_eq!(settings.epoch, 0);
    let state = room.next_state(|f| f.motd = Some(sealed(&room, 0, "Welcome!")));
    let s: RoomSettings =
        serde_json::from_value(check_call(&http, d, &room, "PUT", "state", Some(json!({ "state": state }))).await)
            .unwrap();
    assert_eq!(motd_of(&room, &s.signed.unwrap(), 0), "Welcome!");
    let state = room.next_state(|f| f.capacity = 7);
    let s: RoomSettings =
        serde_json::from_value(check_call(&http, d, &room, "PUT", "state", Some(json!({ "state": state }))).await)
            .unwrap();
    assert_eq!(s.capacity, 7);
    let members = check_call(&http, d, &room, "GET", "members", None).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
    let budget = check_call(&http, d, &room, "GET", "budget", None).await;
    assert_eq!(budget["total"], 4u64 << 30, "the default budget of an admin-created room");
    let token = check_call(&http, d, &room, "POST", "tokens", Some(json!({"size": 100_000}))).await;
    assert_eq!(token["size"], 106_496, "rounded up to its bucket (8 steps per power of two)");
    let backup = check_call(&http, d, &room, "GET", "backup", None).await;
    assert_eq!(backup["room"], room.id.as_str());

    let state = room.next_state(|f| {
        f.epoch = 1;
        f.locked = true;
        f.motd = None;
    });
    let lock =
        json!({"epoch": 1, "keys": [wrap_json(&room, &room.owner, 1), wrap_json(&room, &guest, 1)], "state": state});
    let s: RoomSettings =
        serde_json::from_value(check_call(&http, d, &room, "POST", "lock", Some(lock)).await).unwrap();
    assert!(s.locked);
    assert_eq!(s.epoch, 1);
    let _n = Member::join(&srv.ws_base(), &room.id, newcomer.clone()).await.unwrap();
    let accepted = check_call(
        &http,
        d,
        &room,
        "POST",
        "accept",
        Some(json!({"key": newcomer.public_key(), "wrapped": wrap_json(&room, &newcomer, 1)})),
    )
    .await;
    assert_eq!(accepted["status"], "accepted");
    let state = room.next_state(|f| f.epoch = 2);
    let rekey =
        json!({"epoch": 2, "keys": [wrap_json(&room, &guest, 2), wrap_json(&room, &newcomer, 2)], "state": state});
    check_call(&http, d, &room, "POST", "rekey", Some(rekey)).await;
    let denied = check_call(&http, d, &room, "POST", "deny", Some(json!({"key": intruder.public_key()}))).await;
    assert_eq!(denied["status"], "denied");
    let state = room.next_state(|f| f.epoch = 3);
    let removal = json!({"key": newcomer.public_key(),
        "rekey": {"epoch": 3, "keys": [wrap_json(&room, &guest, 3)], "state": state}});
    let removed = check_call(&http, d, &room, "POST", "remove", Some(removal)).await;
    assert_eq!(removed["status"], "denied");
    let state = room.next_state(|f| f.locked = false);
    let s: RoomSettings =
        serde_json::from_value(check_call(&http, d, &room, "POST", "unlock", Some(json!({ "state": state }))).await)
            .unwrap();
    assert!(!s.locked);
    assert_eq!(s.epoch, 3);
}

#[tokio::test]
async fn bad_owner_calls_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let call = |method: &'static str, name: &'static str, body: Option<Value>| {
        let (http, room) = (http.clone(), &room);
        async move { testkit::client::owner_call(&http, &room.id, &room.owner, method, name, body).await }
    };
    let rows = kv_rows(data.path(), &room.id);
    // Each bad state is built from the current one (version 1) without recording it.
    let owner_signed = |change: &dyn Fn(&mut StateFields)| {
        let mut fields = room.fields();
        fields.version += 1;
        change(&mut fields);
        SignedState::sign(&room.owner, &room.id, fields)
    };
    let too_long = SealedMotd { iv: B64Bytes(vec![1; 12]), ct: B64Bytes(vec![0; MAX_SEALED_MOTD_BYTES + 1]) };
    let mut not_a_number = serde_json::to_value(owner_signed(&|_| {})).unwrap();
    not_a_number["capacity"] = json!("ten");
    let cases: Vec<(&str, ApiResult, ErrorCode)> = vec![
        ("unknown call", call("GET", "teleport", None).await, ErrorCode::NotFound),
        ("wrong method", call("GET", "state", None).await, ErrorCode::NotFound),
        (
            "sealed motd too long",
            call("PUT", "state", Some(json!({"state": owner_signed(&|f| f.motd = Some(too_long.clone()))}))).await,
            ErrorCode::BadState,
        ),
        ("capacity 0", call("PUT", "state", Some(json!({"state": owner_signed(&|f| f.capacity = 0)}))).await, ErrorCode::BadState),
        (
            "capacity above 10,000",
            call("PUT", "state", Some(json!({"state": owner_signed(&|f| f.capacity = 10_001)}))).await,
            ErrorCode::BadState,
        ),
        ("capacity not a number", call("PUT", "state", Some(json!({ "state": not_a_number }))).await, ErrorCode::MalformedRequest),
        (
            "state signed by someone else",
            call(
                "PUT",
                "state",
                Some(json!({"state": SignedState::sign(&new_identity(), &room.id, { let mut f = room.fields(); f.version += 1; f })})),
            )
            .await,
            ErrorCode::BadState,
        ),
        (
            "a state no newer than the current one",
            call("PUT", "state", Some(json!({"state": room.first_state()}))).await,
            ErrorCode::BadState,
        ),
        (
            "a state that moves the epoch without a re-key",
            call("PUT", "state", Some(json!({"state": owner_signed(&|f| f.epoch = 1)}))).await,
            ErrorCode::BadState,
        ),
        (
            "a state that locks without a lock",
            call("PUT", "state", Some(json!({"state": owner_signed(&|f| f.locked = true)}))).await,
            ErrorCode::BadState,
        ),
        (
            "a lock whose signed state says the room is open",
            call(
                "POST",
                "lock",
                Some(json!({"epoch": 1, "keys": [wrap_json(&room, &room.owner, 1)], "state": owner_signed(&|f| f.epoch = 1)})),
            )
            .await,
            ErrorCode::BadState,
        ),
        (
            "lock skipping an epoch",
            call("POST", "lock", Some(json!({"epoch": 5, "keys": [], "state": owner_signed(&|f| { f.epoch = 5; f.locked = true; })}))).await,
            ErrorCode::MalformedRequest,
        ),
        (
            "unlock an open room",
            call("POST", "unlock", Some(json!({"state": owner_signed(&|_| {})}))).await,
            ErrorCode::MalformedRequest,
        ),
        (
            "accept a stranger",
            call(
                "POST",
                "accept",
                Some(json!({"key": new_identity().public_key(), "wrapped": wrap_json(&room, &new_identity(), 0)})),
            )
            .await,
            ErrorCode::MalformedRequest,
        ),
        ("token of 0 bytes", call("POST", "tokens", Some(json!({"size": 0}))).await, ErrorCode::BadTokenSize),
        (
            "token above 4 GiB",
            call("POST", "tokens", Some(json!({"size": (4u64 << 30) + 1}))).await,
            ErrorCode::BadTokenSize,
        ),
        (
            "body not JSON",
            {
                let path = format!("/api/rooms/{}/owner/state", room.id);
                let auth = sign_request(&room.owner, "PUT", &path, b"{", now_ms());
                send_signed(&http, "PUT", &path, b"{", &auth).await
            },
            ErrorCode::MalformedRequest,
        ),
    ];
    for (name, result, expected) in cases {
        let (status, err) = result.expect_err(name);
        assert_eq!(err.error.code, expected, "{name}");
        assert_eq!(status, expected.http_status(), "{name}");
        assert_eq!(kv_rows(data.path(), &room.id), rows, "{name} changed the room");
    }
    // A refused call does not burn its nonce... but a later valid call still works.
    let state = room.next_state(|f| f.motd = Some(sealed(&room, 0, "ok")));
    testkit::client::owner(&http, &room.id, &room.owner, &OwnerCall::PutState { state: state.clone() }).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motd_and_capacity_changes_reach_connected_members() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let room = create_room(&srv.http_base(), SECRET).await;
    let mut guest = Member::join(&srv.ws_base(), &room.id, new_identity()).await.unwrap();
    let state = room.next_state(|f| {
        f.motd = Some(sealed(&room, 0, "Be nice"));
        f.capacity = 12;
    });
    testkit::client::owner_call(
        &srv.http_base(),
        &room.id,
        &room.owner,
        "PUT",
        "state",
        Some(json!({ "state": state })),
    )
    .await
    .unwrap();
    let says = |s: &protocol::frames::RoomState| s.signed.as_ref().is_some_and(|st| motd_of(&room, st, 0) == "Be nice");
    let (state, access, _) = guest.next_room(|s, _| says(s)).await.expect("the new motd reaches members");
    assert_eq!(access, Access::Member);
    assert_eq!(state.capacity, 12);
    // New joiners see it in the welcome.
    let late = Member::join(&srv.ws_base(), &room.id, new_identity()).await.unwrap();
    assert!(says(&late.state));
}
