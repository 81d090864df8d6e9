//! The ledger on Cloudflare's runtime: storage tokens a room's owner issues and SSO room
//! tokens, spent exactly once through the ledger's Durable Objects on real workerd
//! (`wrangler dev --local`), with the same assertions as mock-server's token tests; and
//! the operator's offline audit of that ledger (`GET /api/ledger/export`, then
//! `mock-server audit --ledger-export`).
#![cfg(not(target_arch = "wasm32"))]

use api_core::ledger::ADMIN_HEADER;
use protocol::api::{CreateAuthorization, CreateRoomResponse, InfoResponse, OwnerCall};
use protocol::error::{ErrorCode, HttpError};
use protocol::sso::SsoKeyset;
use testkit::client::{create_fresh, create_room, owner, race_creations};
use testkit::edge::{EdgeOptions, EdgeProcess};
use testkit::sso::SsoKeys;

const SECRET: &str = "edge-ledger-secret";
const MIB: u64 = 1 << 20;

fn edge(state: &std::path::Path, sso: Option<&SsoKeys>) -> EdgeProcess {
    let mut options = EdgeOptions::new(state);
    options.admin_secret = SECRET.into();
    if let Some(keys) = sso {
        options.vars.push(("SSO_ORIGIN".into(), "http://127.0.0.1:9".into()));
        options.vars.push(("SSO_NAME".into(), "Edge Org".into()));
        options.vars.push(("SSO_ROOT_KEY".into(), keys.root_public.clone()));
        let keyset = std::fs::read_to_string(&keys.keyset).unwrap();
        let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&keyset).unwrap()).unwrap();
        options.vars.push(("SSO_KEYSET".into(), compact));
    }
    EdgeProcess::start(options)
}

async fn create_with(http: &str, auth: CreateAuthorization) -> Result<CreateRoomResponse, HttpError> {
    create_fresh(http, auth).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_token_issued_on_the_edge_funds_exactly_one_room() {
    let dir = tempfile::tempdir().unwrap();
    let srv = edge(dir.path(), None);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let issued = owner(&http, &room.id, &room.owner, &OwnerCall::IssueToken { size: 40 * MIB }).await.unwrap();
    assert_eq!(issued["size"], 40 * MIB);
    let token = issued["token"].as_str().unwrap().to_owned();

    // 20 concurrent creations with one token: exactly one room, of the token's value.
    let (won, refused) = race_creations(&http, &CreateAuthorization::StorageToken { token }, 20).await;
    assert_eq!(won.len(), 1, "exactly one spend succeeds: {refused:?}");
    assert_eq!(won[0].budget, 40 * MIB, "the token's value becomes the budget");
    assert!(refused.iter().all(|c| *c == ErrorCode::TokenSpent), "{refused:?}");

    // Too small, unknown, malformed: typed refusals.
    let small = owner(&http, &room.id, &room.owner, &OwnerCall::IssueToken { size: MIB }).await.unwrap();
    let small = CreateAuthorization::StorageToken { token: small["token"].as_str().unwrap().into() };
    let err = create_with(&http, small).await.unwrap_err();
    assert_eq!((err.error.code, err.error.limit), (ErrorCode::TokenTooSmall, Some(32 * MIB)));
    let unknown = CreateAuthorization::StorageToken { token: protocol::encoding::b64(&[9; 32]) };
    assert_eq!(create_with(&http, unknown).await.unwrap_err().error.code, ErrorCode::TokenUnknown);
    let malformed = CreateAuthorization::StorageToken { token: "nope".into() };
    assert_eq!(create_with(&http, malformed).await.unwrap_err().error.code, ErrorCode::MalformedRequest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_tokens_on_the_edge_are_spent_once_within_their_keys_cap() {
    let keys_dir = tempfile::tempdir().unwrap();
    let keys = SsoKeys::new(keys_dir.path(), &["--max-redemptions", "2"]);
    let key_id = keys.issuers[0].0.clone();
    let other_dir = tempfile::tempdir().unwrap();
    let stranger = SsoKeys::new(other_dir.path(), &[]);
    let dir = tempfile::tempdir().unwrap();
    let srv = edge(dir.path(), Some(&keys));
    let http = srv.http_base();

    let info: InfoResponse = reqwest::get(format!("{http}/api/info")).await.unwrap().json().await.unwrap();
    let sso = info.sso.expect("the edge names its SSO");
    assert_eq!(sso.name, "Edge Org");
    let set: SsoKeyset = reqwest::get(format!("{http}/api/sso/keys")).await.unwrap().json().await.unwrap();
    set.verify(&sso.root_key).unwrap();

    let sso_auth = |token| CreateAuthorization::SsoToken { token };
    let token = keys.token(&key_id);
    let created = create_with(&http, sso_auth(token.clone())).await.unwrap();
    assert_eq!(created.budget, 1 << 30);
    assert_eq!(create_with(&http, sso_auth(token)).await.unwrap_err().error.code, ErrorCode::TokenSpent);
    let foreign = stranger.token(&stranger.issuers[0].0);
    assert_eq!(create_with(&http, sso_auth(foreign)).await.unwrap_err().error.code, ErrorCode::TokenUnknown);
    create_with(&http, sso_auth(keys.token(&key_id))).await.unwrap();
    let capped = create_with(&http, sso_auth(keys.token(&key_id))).await.unwrap_err();
    assert_eq!((capped.error.code, capped.error.limit), (ErrorCode::IssuerCapReached, Some(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_exports_the_ledger_and_audits_it_offline_with_the_ledger_key() {
    let dir = tempfile::tempdir().unwrap();
    let srv = edge(dir.path(), None);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let mut tokens = Vec::new();
    for size in [40 * MIB, 36 * MIB] {
        let issued = owner(&http, &room.id, &room.owner, &OwnerCall::IssueToken { size }).await.unwrap();
        tokens.push(issued["token"].as_str().unwrap().to_owned());
    }
    let funded = create_with(&http, CreateAuthorization::StorageToken { token: tokens[0].clone() }).await.unwrap();

    // Only with the admin secret; a wrong or missing one is refused the same way.
    let export_url = format!("{http}/api/ledger/export");
    let client = reqwest::Client::new();
    for secret in [None, Some("wrong")] {
        let mut req = client.get(&export_url);
        if let Some(s) = secret {
            req = req.header(ADMIN_HEADER, s);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{secret:?}");
    }
    let resp = client.get(&export_url).header(ADMIN_HEADER, SECRET).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let export = resp.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&export);
    assert!(
        !text.contains(room.id.as_str()) && !text.contains(funded.room.as_str()),
        "who issued and what was paid stay sealed"
    );

    // Offline, the ledger key opens it: two tokens from this room, one spent on a room.
    let export_file = dir.path().join("ledger.json");
    std::fs::write(&export_file, &export).unwrap();
    let key_file = dir.path().join("ledger.key");
    std::fs::write(&key_file, format!("{}\n", srv.options.ledger_secret)).unwrap();
    let audit = |key: &std::path::Path| {
        std::process::Command::new(testkit::server::mock_server_bin())
            .args(["audit", "--ledger-export"])
            .arg(&export_file)
            .arg("--ledger-key")
            .arg(key)
            .arg("--json")
            .output()
            .unwrap()
    };
    let out = audit(&key_file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tokens"], 2);
    assert_eq!(report["bytes_issued"], 76 * MIB);
    assert_eq!(report["bytes_spent"], 40 * MIB);
    assert_eq!(report["spent_on"]["room"], 40 * MIB);
    let line = &report["issuers"][format!("room:{}", room.id)];
    assert_eq!((line["tokens"].as_u64(), line["spent_tokens"].as_u64()), (Some(2), Some(1)));

    // Another key opens nothing.
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, format!("{}\n", testkit::client::new_identity().to_secret_b64())).unwrap();
    assert_eq!(audit(&wrong).status.code(), Some(5), "a key that is not the ledger's is refused");
}
