//! The document store's garbage collection on Cloudflare's runtime: the daily Cron Trigger
//! (fired here through `wrangler dev --test-scheduled`'s `/__scheduled`, as the platform
//! fires it) removes uploads abandoned past the cut-off and the chunks only they held,
//! and leaves complete files and uploads still in progress whole.
#![cfg(not(target_arch = "wasm32"))]

use std::time::Duration;

use protocol::object_proofs::READ_HEADER;
use protocol::objects::{self, Manifest};
use testkit::client::{create_room, upload_file};
use testkit::edge::{EdgeOptions, EdgeProcess};
use testkit::scan;

const SECRET: &str = "edge-gc-secret";
/// The cut-off the test runs with (the deployment's default is 7 days).
const ABANDONED_SECS: u64 = 3;

/// `GET path` with a read proof: (status, body).
async fn get_read(http: &str, path: &str, read: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::new().get(format!("{http}{path}")).header(READ_HEADER, read).send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_collection_removes_abandoned_uploads_and_only_their_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = EdgeOptions::new(dir.path());
    options.admin_secret = SECRET.into();
    options.vars.push(("ABANDONED_UPLOAD_SECS".into(), ABANDONED_SECS.to_string()));
    let srv = EdgeProcess::start(options);
    let http = srv.http_base();
    let stored = dir.path().join("state");
    let room = create_room(&http, SECRET).await;

    // A complete file, and an upload abandoned after its first chunk (of 3), both older
    // than the cut-off by the time the collection runs.
    let kept = vec![7u8; 100_000];
    let (kept_keys, read) = upload_file(&http, &room.id, &room.owner, &kept, true).await;
    let read = read.expect("the file is complete").to_b64();
    let (_abandoned, _) = upload_file(&http, &room.id, &room.owner, &vec![9u8; 5_000_000], false).await;
    tokio::time::sleep(Duration::from_secs(ABANDONED_SECS + 1)).await;
    // An upload just begun: within the cut-off, so it is kept with its chunk.
    let (fresh_keys, _) = upload_file(&http, &room.id, &room.owner, &vec![5u8; 5_000_000], false).await;
    let (bytes_before, uploads_before) = scan::object_store_totals(&stored);
    assert_eq!(uploads_before, 3);

    let fired = reqwest::get(format!("{http}/__scheduled?cron=17+3+*+*+*")).await.unwrap();
    assert!(fired.status().is_success(), "the scheduled event ran: {}", fired.status());

    // The abandoned upload's record and its one chunk are gone; the rest is not.
    let (bytes_after, uploads_after) = scan::object_store_totals(&stored);
    assert_eq!(uploads_after, 2);
    assert_eq!(
        upload_ids(&stored),
        sorted(vec![kept_keys.file_id.clone(), fresh_keys.file_id.clone()]),
        "only the abandoned upload's record went"
    );
    let one_chunk = (objects::CHUNK_BYTES + objects::TAG_BYTES) as i64;
    assert_eq!(bytes_before - bytes_after, one_chunk, "exactly the abandoned upload's chunk was freed");

    // The complete file reads back whole, chunk by chunk.
    let (status, body) = get_read(&http, &format!("/api/files/{}", kept_keys.file_id), &read).await;
    assert_eq!(status, 200);
    let manifest: Manifest = serde_json::from_slice(&body).unwrap();
    let mut chunks = Vec::new();
    for i in 0..manifest.chunks.len() {
        let (status, bytes) = get_read(&http, &format!("/api/files/{}/chunks/{i}", kept_keys.file_id), &read).await;
        assert_eq!(status, 200, "chunk {i} of the complete file is still stored");
        chunks.push(bytes);
    }
    assert_eq!(objects::decrypt_file(&kept_keys, manifest.size, &chunks).unwrap(), kept);

    // Running it again removes nothing more (the fresh upload keeps its chunk).
    let fired = reqwest::get(format!("{http}/__scheduled?cron=17+3+*+*+*")).await.unwrap();
    assert!(fired.status().is_success());
    assert_eq!(scan::object_store_totals(&stored), (bytes_after, 2));
}

/// The file ids with an upload record, sorted.
fn upload_ids(stored: &std::path::Path) -> Vec<String> {
    sorted(
        scan::document_store_snapshot(stored)
            .into_iter()
            .filter(|(table, _, _)| table == "uploads")
            .map(|(_, key, _)| key)
            .collect(),
    )
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
