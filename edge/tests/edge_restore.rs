//! Restores on the edge come in pages: a Cloudflare request carries at most 100 MB and a
//! Durable Object has 128 MB of memory, so a backup of up to 256 MiB is staged a page at a
//! time (`room_core::paged_restore`) and checked whole at the end. Here a backup larger
//! than one request may be (about 105 MB) moves onto real workerd and reads back the same.
#![cfg(not(target_arch = "wasm32"))]

use protocol::api::CreateAuthorization;
use protocol::backup::{BACKUP_FORMAT, BACKUP_VERSION, BackupBudget, BackupSettings, RoomBackup};
use protocol::envelope::StoredMessage;
use protocol::error::ErrorCode;
use protocol::ids::{MessageKey, RoomId, Timestamp};
use testkit::client::{self, new_content_key, new_identity, seal_text};
use testkit::edge::{EdgeOptions, EdgeProcess};

const SECRET: &str = "edge-restore-secret";
/// Cloudflare's request body limit (Free and Pro plans).
const REQUEST_LIMIT_BYTES: usize = 100 * 1000 * 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_larger_than_one_request_restores_in_pages_and_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = EdgeOptions::new(dir.path());
    options.admin_secret = SECRET.into();
    let srv = EdgeProcess::start(options);
    let http = srv.http_base();

    // A room that only ever existed in its backup: 3,800 messages of ~28 KB each (a stored
    // message is at most 32 KiB).
    let owner = new_identity();
    let room = RoomId::from_owner_key(&owner.public_key());
    let key = new_content_key();
    let start = client::now_ms() * 1000 - 10_000_000;
    let filler = "x".repeat(20_000);
    let messages: Vec<StoredMessage> = (0..3_800u64)
        .map(|i| {
            StoredMessage::new(
                MessageKey::new(&room, Timestamp(start + i)),
                seal_text(&room, &owner, &key, &format!("m{i}"), "owner", &format!("{i} {filler}")),
            )
        })
        .collect();
    let backup = RoomBackup {
        format: BACKUP_FORMAT.into(),
        v: BACKUP_VERSION,
        room: room.clone(),
        owner: owner.public_key(),
        settings: BackupSettings {
            motd: String::new(),
            locked: false,
            capacity: 50,
            epoch: 0,
            created: start,
            signed: None,
            keep_deleted: false,
        },
        members: vec![],
        wrapped_keys: vec![],
        messages,
        budget: BackupBudget { total: 1 << 30, remaining: 1 << 30 },
        exported_at: start,
    };
    let signed = backup.sign(&owner);
    let whole = serde_json::to_vec(&signed).unwrap().len();
    assert!(whole > REQUEST_LIMIT_BYTES, "the backup ({whole} bytes) is larger than one request may be");

    let auth = CreateAuthorization::AdminSecret { secret: SECRET.into() };
    // In one request the edge says to use pages, and makes nothing.
    let small = RoomBackup { messages: vec![], ..signed.backup.clone() }.sign(&owner);
    let refused = client::restore_whole(&http, &small, auth.clone()).await.unwrap_err();
    assert_eq!(refused.1.error.code, ErrorCode::Unavailable);
    assert!(refused.1.error.message.contains("restore/begin"), "{}", refused.1.error.message);

    let started = std::time::Instant::now();
    let created = client::restore_paged(&http, &signed, auth.clone(), 500).await.expect("the paged restore");
    println!("paged restore of {whole} bytes, 3,800 messages: {:?}", started.elapsed());
    assert_eq!(created["room"], room.as_str());
    let again = client::restore_paged(&http, &signed, auth, 500).await.unwrap_err();
    assert_eq!(again.1.error.code, ErrorCode::RoomExists);

    let history = client::full_history(&http, &room, 500).await;
    assert_eq!(history.len(), 3_800);
    assert!(history == signed.backup.messages, "the same messages, byte for byte, in order");
    let last = history.last().unwrap();
    assert_eq!(client::open_text(&last.env, &key).unwrap(), format!("3799 {filler}"));
}
