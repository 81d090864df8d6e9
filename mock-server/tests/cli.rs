//! The offline CLI, run as the real binary on real data directories.

mod support;

use protocol::api::OwnerCall;
use std::path::Path;
use std::process::{Command, Output};

use protocol::api::CreateAuthorization;
use protocol::ids::RoomId;
use protocol::room_state::SealedMotd;
use serde_json::{Value, json};
use support::SECRET;
use testkit::client::{Member, TestRoom, create_room, full_history, new_identity, owner};
use testkit::server::{ServerOptions, ServerProcess, mock_server_bin};

fn cli(args: &[&str]) -> Output {
    Command::new(mock_server_bin()).args(args).output().expect("run mock-server")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn start(data: &Path) -> ServerProcess {
    let mut options = ServerOptions::new(data);
    options.admin_secret = SECRET.into();
    ServerProcess::start(options)
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["serve", "init", "mint-tokens", "room-info", "audit", "gc", "backup", "restore"] {
        let o = cli(&[sub, "--help"]);
        assert!(o.status.success(), "{sub} --help");
        assert!(stdout(&o).contains("Usage: mock-server"), "{sub} --help prints usage");
    }
    let o = cli(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2), "an unknown command is a usage error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_mint_info_audit_backup_restore_on_a_real_data_dir() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    let key = work.path().join("offline-ledger.key");
    let (data_s, key_s) = (data.to_str().unwrap(), key.to_str().unwrap());

    // init: keys in place, the private half outside the data dir, not readable by others.
    let o = cli(&["init", "--data-dir", data_s, "--ledger-key", key_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(data.join("admin-secret").is_file() && data.join("ledger.pub").is_file() && key.is_file());
    assert!(!data.join("ledger.key").exists());
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(cli(&["init", "--data-dir", data_s, "--ledger-key", key_s]).status.code(), Some(1), "no second init");

    // A running server keeps the CLI out.
    let mut server = start(&data);
    let http = server.http_base();
    let room = create_room(&http, SECRET).await;
    let o = cli(&["room-info", "--data-dir", data_s, room.id.as_str()]);
    assert_eq!(o.status.code(), Some(3), "the data dir is in use: {}", String::from_utf8_lossy(&o.stderr));

    // Some activity: messages, a motd, a token issued by the room and spent on a room.
    let mut m = Member::join(&server.ws_base(), &room.id, room.owner.clone()).await.unwrap();
    m.send_burst(&room.key, "cli", 7, 7).await;
    let motd = SealedMotd::seal(&room.id, 0, &room.key, "TOP-SECRET-MOTD", testkit::random_bytes());
    let state = room.next_state(|f| f.motd = Some(motd));
    owner(&http, &room.id, &room.owner, &OwnerCall::PutState { state: state.clone() }).await.unwrap();
    let token = owner(&http, &room.id, &room.owner, &OwnerCall::IssueToken { size: 40 << 20 }).await.unwrap();
    let funded = TestRoom::fresh()
        .register(&http, CreateAuthorization::StorageToken { token: token["token"].as_str().unwrap().into() })
        .await;
    assert!(funded.is_ok(), "{funded:?}");
    // Documents: one complete file, one upload abandoned after its first chunk.
    let (_, complete) = testkit::client::upload_file(&http, &room.id, &room.owner, &vec![7u8; 100_000], true).await;
    assert!(complete.is_some());
    testkit::client::upload_file(&http, &room.id, &room.owner, &vec![9u8; 5_000_000], false).await;
    let history_before = full_history(&http, &room.id, 100).await;
    drop(m);
    server.stop();

    // room-info: metadata only.
    let o = cli(&["room-info", "--data-dir", data_s, room.id.as_str(), "--json"]);
    assert!(o.status.success());
    let info: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(info["messages"], 7);
    assert_eq!(info["owner"], room.owner.public_key().to_b64());
    assert_eq!(info["motd_sealed_bytes"], 64 + 16, "a sealed, padded message of the day");
    assert_eq!(info["state_version"], 2);
    assert_eq!(info["tokens_issued"], 3);
    assert!(!stdout(&o).contains("TOP-SECRET-MOTD") && !stdout(&o).contains("message 3 of"), "content leaked");
    // An unknown room, whose id starts with `-` (as one in 64 do): a value, not a flag.
    let unknown = std::iter::repeat_with(|| RoomId::from_owner_key(&new_identity().public_key()).to_string())
        .find(|id| id.starts_with('-'))
        .unwrap();
    assert_eq!(cli(&["room-info", "--data-dir", data_s, &unknown]).status.code(), Some(4));
    assert_eq!(cli(&["room-info", "--data-dir", data_s, "not-a-room"]).status.code(), Some(5));

    // mint-tokens: one per line, usable once the server is back.
    let o = cli(&["mint-tokens", "--data-dir", data_s, "--count", "3", "--size", &(33 << 20).to_string()]);
    assert!(o.status.success());
    let minted: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(minted.len(), 3);
    assert_eq!(cli(&["mint-tokens", "--data-dir", data_s, "--size", "0"]).status.code(), Some(5));

    // audit: 3 tokens from the room (one funding a room, two paying uploads) + 3 minted
    // (unspent); the rooms' own counts agree with the ledger.
    let o = cli(&["audit", "--data-dir", data_s, "--ledger-key", key_s, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let audit: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(audit["tokens"], 6, "1 funding a room, 2 paying uploads, 3 minted");
    assert_eq!(audit["spent_on"]["room"], 40u64 << 20);
    let on_objects = audit["spent_on"]["object"].as_u64().unwrap();
    assert!(on_objects >= 100_000 + 5_000_000, "the uploads' tokens cover what they store");
    assert_eq!(audit["bytes_spent"], (40u64 << 20) + on_objects);
    assert_eq!(audit["issuers"]["minted"]["tokens"], 3);
    assert_eq!(audit["issuers"][format!("room:{}", room.id)]["spent_tokens"], 3);
    assert_eq!(audit["mismatches"], json!([]));
    let wrong_key = work.path().join("wrong.key");
    std::fs::write(&wrong_key, format!("{}\n", new_identity().to_secret_b64())).unwrap();
    assert_eq!(
        cli(&["audit", "--data-dir", data_s, "--ledger-key", wrong_key.to_str().unwrap()]).status.code(),
        Some(5)
    );

    // gc: the abandoned upload and its chunk go, the complete file stays.
    let o = cli(&["gc", "--data-dir", data_s, "--older-than-days", "0", "--dry-run"]);
    assert!(stdout(&o).contains("would remove 1 abandoned upload(s), 1 chunk(s)"), "{}", stdout(&o));
    let o = cli(&["gc", "--data-dir", data_s, "--older-than-days", "0"]);
    assert!(o.status.success() && stdout(&o).contains("removed 1 abandoned upload(s), 1 chunk(s)"), "{}", stdout(&o));
    let o = cli(&["audit", "--data-dir", data_s, "--ledger-key", key_s, "--json"]);
    let after_gc: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(after_gc["stored_chunks"], 1);
    assert_eq!(after_gc["spent_on"]["object"].as_u64().map(|b| b > 0), Some(true));

    // backup → restore into a new dir → a server there serves the same history.
    let copy = work.path().join("copy");
    let o = cli(&["backup", "--data-dir", data_s, "--to", copy.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        cli(&["backup", "--data-dir", data_s, "--to", copy.to_str().unwrap()]).status.code(),
        Some(1),
        "not over a backup"
    );
    let restored = work.path().join("restored");
    let o = cli(&["restore", "--from", copy.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        cli(&["restore", "--from", copy.to_str().unwrap(), "--data-dir", data_s]).status.code(),
        Some(1),
        "not over live data"
    );
    let server = start(&restored);
    assert_eq!(full_history(&server.http_base(), &room.id, 100).await, history_before);
    // A minted token funds a room there too.
    let funded = TestRoom::fresh()
        .register(&server.http_base(), CreateAuthorization::StorageToken { token: minted[0].clone() })
        .await;
    assert!(funded.is_ok(), "{funded:?}");
    drop(server);

    // A damaged backup is refused before anything is copied.
    let db = copy.join("rooms").join(format!("{}.sqlite", room.id));
    let mut bytes = std::fs::read(&db).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&db, bytes).unwrap();
    let target = work.path().join("never");
    assert_eq!(
        cli(&["restore", "--from", copy.to_str().unwrap(), "--data-dir", target.to_str().unwrap()]).status.code(),
        Some(5)
    );
    assert!(!target.join("rooms").join(format!("{}.sqlite", room.id)).exists());
}
