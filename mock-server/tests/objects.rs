//! The document store over real HTTP: uploads paid by room-issued tokens, chunks checked
//! against their hashes, deduplication, resumable uploads, reads gated by verification
//! tokens, and every bad input refused with its code.

mod support;

use std::time::{Duration, Instant};

use protocol::error::{ErrorCode, HttpError};
use protocol::objects::{self, CHUNK_BYTES, Manifest, ObjectKeys, UploadState, UploadStatus};
use serde_json::{Value, json};
use support::{SECRET, server};
use testkit::client::{
    ApiResult, Member, TestRoom, create_room, new_identity, now_ms, owner_call, send_signed, sign_request,
};

/// A test file: its keys, padded size and encrypted chunks.
struct Encrypted {
    keys: ObjectKeys,
    padded: u64,
    chunks: Vec<Vec<u8>>,
    plain: Vec<u8>,
}

fn encrypt(len: usize, seed: u8) -> Encrypted {
    let plain: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    let (keys, padded, chunks) = objects::encrypt_file(&plain).unwrap();
    Encrypted { keys, padded, chunks, plain }
}

async fn post_json(http: &str, path: &str, body: &Value) -> ApiResult {
    let resp = reqwest::Client::new().post(format!("{http}{path}")).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    if resp.status().is_success() { Ok(resp.json().await.unwrap()) } else { Err((status, resp.json().await.unwrap())) }
}

async fn open_upload(http: &str, f: &Encrypted, token: Option<&str>) -> ApiResult {
    post_json(http, "/api/uploads", &json!({"file": f.keys.file_id, "size": f.padded, "token": token})).await
}

async fn put_chunk(http: &str, file: &str, index: u32, id: &str, bytes: Vec<u8>) -> ApiResult {
    let resp = reqwest::Client::new()
        .put(format!("{http}/api/uploads/{file}/chunks/{index}/{id}"))
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if resp.status().is_success() { Ok(resp.json().await.unwrap()) } else { Err((status, resp.json().await.unwrap())) }
}

/// A storage token issued to `member` of `room` (signed member request).
async fn member_token(http: &str, room: &TestRoom, member: &protocol::identity::IdentityKey, size: u64) -> ApiResult {
    let path = format!("/api/rooms/{}/tokens", room.id);
    let body = serde_json::to_vec(&json!({ "size": size })).unwrap();
    let auth = sign_request(member, "POST", &path, &body, now_ms());
    send_signed(http, "POST", &path, &body, &auth).await
}

async fn get(http: &str, path: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::get(format!("{http}{path}")).await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

fn code(r: ApiResult) -> ErrorCode {
    r.expect_err("refused").1.error.code
}

fn stored_bytes(data: &std::path::Path) -> i64 {
    let conn = rusqlite::Connection::open(data.join("global.sqlite")).unwrap();
    conn.query_row("SELECT COALESCE(SUM(LENGTH(value)), 0) FROM objects", [], |r| r.get(0)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_dedup_resume_and_verified_reads() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let member = new_identity();
    let _m = Member::join(&srv.ws_base(), &room.id, member.clone()).await.unwrap();
    let f = encrypt(2 * CHUNK_BYTES as usize + 1_000, 1);
    assert_eq!(f.chunks.len(), 3);

    // Without a token: told what it costs. Then paid with a member's token.
    let (status, err) = open_upload(&http, &f, None).await.unwrap_err();
    assert_eq!((status, err.error.code), (402, ErrorCode::TokenRequired));
    let cost = err.error.limit.unwrap();
    assert_eq!(cost, objects::stored_size(f.padded));
    let budget_before =
        owner_call(&http, &room.id, &room.owner, "GET", "budget", None).await.unwrap()["remaining"].as_u64().unwrap();
    let token = member_token(&http, &room, &member, cost).await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let state: UploadState = serde_json::from_value(open_upload(&http, &f, Some(&token)).await.unwrap()).unwrap();
    assert_eq!((state.status, state.missing.clone()), (UploadStatus::Open, vec![0, 1, 2]));
    let budget_after =
        owner_call(&http, &room.id, &room.owner, "GET", "budget", None).await.unwrap()["remaining"].as_u64().unwrap();
    assert!(budget_before - budget_after >= cost, "the budget is debited by what is stored");

    // Chunks in any order; a resend is free and changes nothing.
    for i in [2u32, 0] {
        let c = &f.chunks[i as usize];
        put_chunk(&http, &f.keys.file_id, i, &objects::chunk_id(c), c.clone()).await.unwrap();
    }
    let before = stored_bytes(data.path());
    let again: UploadState = serde_json::from_value(
        put_chunk(&http, &f.keys.file_id, 0, &objects::chunk_id(&f.chunks[0]), f.chunks[0].clone()).await.unwrap(),
    )
    .unwrap();
    assert_eq!(again.missing, vec![1]);
    assert_eq!(stored_bytes(data.path()), before);
    // Resuming later: opening again needs no token and says what is missing.
    let resumed: UploadState = serde_json::from_value(open_upload(&http, &f, None).await.unwrap()).unwrap();
    assert_eq!(resumed.missing, vec![1]);
    let done: UploadState = serde_json::from_value(
        put_chunk(&http, &f.keys.file_id, 1, &objects::chunk_id(&f.chunks[1]), f.chunks[1].clone()).await.unwrap(),
    )
    .unwrap();
    assert_eq!(done.status, UploadStatus::Complete);
    let v = done.verification.clone().unwrap();

    // Reading back: manifest and chunks, decrypted and checked end to end.
    let (status, body) = get(&http, &format!("/api/files/{}?v={v}", f.keys.file_id)).await;
    assert_eq!(status, 200);
    let manifest: Manifest = serde_json::from_slice(&body).unwrap();
    let mut chunks = Vec::new();
    for (i, id) in manifest.chunks.iter().enumerate() {
        let (status, bytes) = get(&http, &format!("/api/files/{}/chunks/{i}?v={v}", f.keys.file_id)).await;
        assert_eq!(status, 200);
        assert_eq!(&objects::chunk_id(&bytes), id);
        chunks.push(bytes);
    }
    assert_eq!(objects::decrypt_file(&f.keys, manifest.size, &chunks).unwrap(), f.plain);

    // The same file again: complete at once, same verification, nothing stored, nothing paid.
    let stored = stored_bytes(data.path());
    let budget =
        owner_call(&http, &room.id, &room.owner, "GET", "budget", None).await.unwrap()["remaining"].as_u64().unwrap();
    let dedup: UploadState = serde_json::from_value(open_upload(&http, &f, None).await.unwrap()).unwrap();
    assert_eq!((dedup.status, dedup.verification), (UploadStatus::Complete, Some(v.clone())));
    assert_eq!(stored_bytes(data.path()), stored);
    assert_eq!(
        owner_call(&http, &room.id, &room.owner, "GET", "budget", None).await.unwrap()["remaining"].as_u64().unwrap(),
        budget
    );

    // A wrong verification token and a missing file: the same answer, no faster.
    let started = Instant::now();
    let wrong = get(&http, &format!("/api/files/{}?v=nope", f.keys.file_id)).await;
    let missing = get(&http, &format!("/api/files/{}?v={v}", encrypt(10, 9).keys.file_id)).await;
    assert_eq!(wrong, missing);
    assert_eq!(wrong.0, 404);
    assert!(started.elapsed().as_millis() >= 50);
    let chunk_wrong = get(&http, &format!("/api/files/{}/chunks/0?v=nope", f.keys.file_id)).await;
    assert_eq!(chunk_wrong, missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_are_refused_and_store_nothing() {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &["--initial-budget", &(64u64 << 20).to_string()]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let member = new_identity();
    let _m = Member::join(&srv.ws_base(), &room.id, member.clone()).await.unwrap();
    let f = encrypt(10_000, 2);
    let token = |size| {
        let (http, room, member) = (http.clone(), &room, member.clone());
        async move { member_token(&http, room, &member, size).await.unwrap()["token"].as_str().unwrap().to_owned() }
    };

    // The upload's declared shape.
    assert_eq!(
        code(post_json(&http, "/api/uploads", &json!({"file": "short", "size": 16384})).await),
        ErrorCode::BadManifest
    );
    assert_eq!(
        code(post_json(&http, "/api/uploads", &json!({"file": f.keys.file_id, "size": 5000})).await),
        ErrorCode::BadManifest
    );
    assert_eq!(
        code(post_json(&http, "/api/uploads", &json!({"file": f.keys.file_id})).await),
        ErrorCode::MalformedRequest
    );
    // Tokens: too small, malformed, unknown, spent.
    let small = token(32 * 1024).await;
    assert_eq!(code(open_upload(&http, &encrypt(100_000, 3), Some(&small)).await), ErrorCode::TokenTooSmall);
    assert_eq!(code(open_upload(&http, &f, Some("not-a-token")).await), ErrorCode::MalformedRequest);
    assert_eq!(code(open_upload(&http, &f, Some(&protocol::encoding::b64(&[1; 32]))).await), ErrorCode::TokenUnknown);
    let t = token(64 * 1024).await;
    open_upload(&http, &f, Some(&t)).await.unwrap();
    assert_eq!(code(open_upload(&http, &encrypt(20_000, 4), Some(&t)).await), ErrorCode::TokenSpent);
    // Reopening the same upload with a wrong size contradicts what is stored.
    assert_eq!(
        code(post_json(&http, "/api/uploads", &json!({"file": f.keys.file_id, "size": 32768})).await),
        ErrorCode::BadManifest
    );

    let before = stored_bytes(data.path());
    let c = f.chunks[0].clone();
    let id = objects::chunk_id(&c);
    // Chunks: wrong hash, wrong size, index out of range, unopened upload, too large a body.
    let mut flipped = c.clone();
    flipped[7] ^= 1;
    assert_eq!(code(put_chunk(&http, &f.keys.file_id, 0, &id, flipped).await), ErrorCode::HashMismatch);
    assert_eq!(code(put_chunk(&http, &f.keys.file_id, 0, &id, c[..c.len() - 1].to_vec()).await), ErrorCode::BadChunk);
    assert_eq!(code(put_chunk(&http, &f.keys.file_id, 5, &id, c.clone()).await), ErrorCode::BadManifest);
    let other = encrypt(300, 5);
    assert_eq!(
        code(
            put_chunk(&http, &other.keys.file_id, 0, &objects::chunk_id(&other.chunks[0]), other.chunks[0].clone())
                .await
        ),
        ErrorCode::BadManifest
    );
    let (status, err) = put_chunk(&http, &f.keys.file_id, 0, &id, vec![0; 5 * 1024 * 1024]).await.unwrap_err();
    assert_eq!((status, err.error.code), (413, ErrorCode::BodyTooLarge));
    assert_eq!(stored_bytes(data.path()), before, "nothing was stored by refused chunks");

    // Budget exhausted: a clear error, nothing debited, nothing stored.
    let (status, err) = member_token(&http, &room, &member, 100 << 20).await.unwrap_err();
    assert_eq!((status, err.error.code), (507, ErrorCode::BudgetExhausted));
    // Only members may ask for storage; signed and fresh.
    let stranger = new_identity();
    assert_eq!(code(member_token(&http, &room, &stranger, 1 << 16).await), ErrorCode::Forbidden);
    let path = format!("/api/rooms/{}/tokens", room.id);
    let unsigned = reqwest::Client::new().post(format!("{http}{path}")).json(&json!({"size": 1})).send().await.unwrap();
    let unsigned: HttpError = unsigned.json().await.unwrap();
    assert_eq!(unsigned.error.code, ErrorCode::Unauthorized);
}

#[tokio::test]
async fn a_flipped_byte_on_disk_is_caught_when_reading() {
    let data = tempfile::tempdir().unwrap();
    let mut srv = server(data.path(), &[]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let f = encrypt(50_000, 6);
    let cost = objects::stored_size(f.padded);
    let token = member_token(&http, &room, &room.owner, cost).await.unwrap()["token"].as_str().unwrap().to_owned();
    open_upload(&http, &f, Some(&token)).await.unwrap();
    let done: UploadState = serde_json::from_value(
        put_chunk(&http, &f.keys.file_id, 0, &objects::chunk_id(&f.chunks[0]), f.chunks[0].clone()).await.unwrap(),
    )
    .unwrap();
    let v = done.verification.unwrap();
    srv.stop();
    let conn = rusqlite::Connection::open(data.path().join("global.sqlite")).unwrap();
    let mut bytes: Vec<u8> = conn.query_row("SELECT value FROM objects LIMIT 1", [], |r| r.get(0)).unwrap();
    bytes[1234] ^= 0x01;
    conn.execute("UPDATE objects SET value = ?1", [bytes]).unwrap();
    drop(conn);
    srv.restart();
    let http = srv.http_base();
    let (_, manifest) = get(&http, &format!("/api/files/{}?v={v}", f.keys.file_id)).await;
    let manifest: Manifest = serde_json::from_slice(&manifest).unwrap();
    let (_, chunk) = get(&http, &format!("/api/files/{}/chunks/0?v={v}", f.keys.file_id)).await;
    assert_ne!(objects::chunk_id(&chunk), manifest.chunks[0], "the reader sees the hash no longer matches");
    assert!(objects::decrypt_file(&f.keys, manifest.size, &[chunk]).is_err(), "and decryption refuses it");
}

/// Sends `method path` with `body` trickled in ten pieces over `over`, like a slow uplink;
/// returns the answer's status code.
async fn trickle(addr: std::net::SocketAddr, method: &str, path: &str, body: &[u8], over: Duration) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for piece in body.chunks(body.len().div_ceil(10)) {
        tokio::time::sleep(over / 10).await;
        // The server may answer (and close) before the body is complete.
        if stream.write_all(piece).await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("no HTTP answer: {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_and_chunk_uploads_get_the_longer_limit() {
    let data = tempfile::tempdir().unwrap();
    let s = server(data.path(), &["--request-timeout-secs", "1", "--upload-timeout-secs", "4"]);
    let chunk_path = format!("/api/uploads/{}/chunks/0/{}", "A".repeat(43), "B".repeat(43));
    let body = vec![b'x'; 1000];
    // An API call whose body takes 2.5 s to arrive: 408 after the 1 s request limit.
    let json = br#"{"file":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","size":4096}"#;
    assert_eq!(trickle(s.addr, "POST", "/api/uploads", json, Duration::from_millis(2500)).await, 408);
    // A chunk taking as long is within the upload limit: it gets its real answer (there
    // is no such upload), not a timeout.
    let status = trickle(s.addr, "PUT", &chunk_path, &body, Duration::from_millis(2500)).await;
    assert!(status != 408 && (400..500).contains(&status), "a typed refusal, not a timeout: {status}");
    // Past the 4 s upload limit, the chunk times out too.
    assert_eq!(trickle(s.addr, "PUT", &chunk_path, &body, Duration::from_secs(6)).await, 408);
    assert_eq!(scan_uploads(data.path()), 0, "nothing was stored");
}

fn scan_uploads(data: &std::path::Path) -> i64 {
    testkit::scan::object_store_totals(data).1
}
