//! SSO room tokens at the worker: keys made by the real offline CLI, tokens issued blind
//! natively, a real mock-server. A token creates one room, exactly once (also under 50
//! concurrent spends); a key pays for at most its cap; keys outside the root-signed set,
//! revoked or outside their window are refused with typed errors, and nothing changes.

mod support;

use protocol::api::{CreateAuthorization, CreateRoomResponse, InfoResponse};
use protocol::error::{ErrorCode, HttpError};
use protocol::sso::{SsoKeyset, SsoToken};
use support::{room_files, server};
use testkit::client::{create_fresh, race_creations};
use testkit::sso::SsoKeys;

const GIB: u64 = 1 << 30;

async fn create_with(http: &str, token: &SsoToken) -> Result<CreateRoomResponse, HttpError> {
    create_fresh(http, CreateAuthorization::SsoToken { token: token.clone() }).await
}

fn args(keys: &SsoKeys) -> Vec<String> {
    keys.server_args("http://127.0.0.1:9")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sso_token_creates_one_room_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = SsoKeys::new(dir.path(), &["--room-bytes", &(2 * GIB).to_string(), "--max-redemptions", "100"]);
    let key_id = keys.issuers[0].0.clone();
    let data = tempfile::tempdir().unwrap();
    let a = args(&keys);
    let srv = server(data.path(), &a.iter().map(String::as_str).collect::<Vec<_>>());
    let http = srv.http_base();

    // What the browser reads: the SSO in /api/info, the key set it checks against its root.
    let info: InfoResponse = reqwest::get(format!("{http}/api/info")).await.unwrap().json().await.unwrap();
    let sso = info.sso.expect("the server names its SSO");
    assert_eq!((sso.origin.as_str(), sso.name.as_str()), ("http://127.0.0.1:9", "Test Org"));
    let set: SsoKeyset = reqwest::get(format!("{http}/api/sso/keys")).await.unwrap().json().await.unwrap();
    set.verify(&sso.root_key).expect("the served key set is the root's");
    assert_eq!(set.keys[0].key_id, key_id);

    let token = keys.token(&key_id);
    let created = create_with(&http, &token).await.expect("a fresh token creates a room");
    assert_eq!(created.budget, 2 * GIB, "the key's denomination becomes the room's budget");
    let err = create_with(&http, &token).await.unwrap_err();
    assert_eq!(err.error.code, ErrorCode::TokenSpent);

    // 50 concurrent creations with one fresh token: exactly one room.
    let before = room_files(data.path());
    let token = keys.token(&key_id);
    let (won, refused) = race_creations(&http, &CreateAuthorization::SsoToken { token }, 50).await;
    assert_eq!(won.len(), 1, "exactly one spend succeeds");
    assert!(refused.iter().all(|c| *c == ErrorCode::TokenSpent), "{refused:?}");
    assert_eq!(room_files(data.path()), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_outside_the_set_revoked_expired_or_capped_pay_for_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut keys = SsoKeys::new(dir.path(), &["--max-redemptions", "2"]);
    let capped = keys.issuers[0].0.clone();
    let later = keys.mint(&["--from", "2099-01-01"]);
    let revoked = keys.mint(&[]);
    keys.revoke(&revoked);
    // A key the root never signed: minted into another root's set.
    let other_dir = tempfile::tempdir().unwrap();
    let stranger = SsoKeys::new(other_dir.path(), &[]);
    let stranger_id = stranger.issuers[0].0.clone();

    let data = tempfile::tempdir().unwrap();
    let a = args(&keys);
    let srv = server(data.path(), &a.iter().map(String::as_str).collect::<Vec<_>>());
    let http = srv.http_base();
    let before = room_files(data.path());

    let code = |r: Result<CreateRoomResponse, HttpError>| r.map(|_| ()).unwrap_err().error.code;
    assert_eq!(code(create_with(&http, &stranger.token(&stranger_id)).await), ErrorCode::TokenUnknown);
    assert_eq!(code(create_with(&http, &keys.token(&revoked)).await), ErrorCode::TokenUnknown);
    assert_eq!(code(create_with(&http, &keys.token(&later)).await), ErrorCode::TokenExpired);
    let mut forged = keys.token(&capped);
    forged.nonce = protocol::encoding::b64(&[1; 32]);
    assert_eq!(code(create_with(&http, &forged).await), ErrorCode::TokenUnknown);
    assert_eq!(room_files(data.path()), before, "no refused token made a room");

    // The cap: two rooms, then `issuer_cap_reached` with the cap, and nothing made.
    create_with(&http, &keys.token(&capped)).await.unwrap();
    create_with(&http, &keys.token(&capped)).await.unwrap();
    let err = create_with(&http, &keys.token(&capped)).await.unwrap_err();
    assert_eq!((err.error.code, err.error.limit), (ErrorCode::IssuerCapReached, Some(2)));
    assert_eq!(room_files(data.path()), before + 2);
    // The offline audit shows the key at its cap (on the edge, from its ledger export).
    let audit = srv.audit_ledger().await;
    assert_eq!(audit["sso_keys"][&capped], serde_json::json!({"redeemed": 2, "cap": 2}));
    assert_eq!(audit["issuers"][format!("sso:{capped}")]["spent_tokens"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_an_sso_or_with_a_forged_key_set_refuses_clearly() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let http = srv.http_base();
    let info: serde_json::Value = reqwest::get(format!("{http}/api/info")).await.unwrap().json().await.unwrap();
    assert!(info.get("sso").is_none(), "no SSO, no field: {info}");
    let res = reqwest::get(format!("{http}/api/sso/keys")).await.unwrap();
    assert_eq!(res.status(), 404);
    let dir = tempfile::tempdir().unwrap();
    let keys = SsoKeys::new(dir.path(), &[]);
    let err = create_with(&http, &keys.token(&keys.issuers[0].0)).await.unwrap_err();
    assert_eq!(err.error.code, ErrorCode::TokenUnknown);
    drop(srv);

    // A key set with one byte changed: the server will not start on it.
    let mut set: serde_json::Value = serde_json::from_slice(&std::fs::read(&keys.keyset).unwrap()).unwrap();
    set["keys"][0]["max_redemptions"] = 1_000_000.into();
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, serde_json::to_vec(&set).unwrap()).unwrap();
    let out = std::process::Command::new(testkit::server::mock_server_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.path().to_str().unwrap()])
        .args(["--sso-origin", "http://127.0.0.1:9", "--sso-root-key", &keys.root_public])
        .args(["--sso-keyset", forged.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not signed by"), "{}", String::from_utf8_lossy(&out.stderr));
}
