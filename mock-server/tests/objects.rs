//! The document store over real HTTP: uploads paid by room-issued tokens, chunks checked
//! against their hashes, deduplication, resumable uploads, reads gated by read proofs
//! derived from the content, chunk PUTs bound to the payer's put secret, junk repaired by
//! a later honest payer, v1 files still readable, and every bad input or attack refused
//! with its code while nothing changes.

mod support;

use protocol::api::OwnerCall;
use std::time::{Duration, Instant};

use protocol::encoding::b64;
use protocol::error::{ErrorCode, HttpError};
use protocol::object_proofs::{PUT_HEADER, PutSecret, READ_HEADER, ReadProof};
use protocol::objects::{self, CHUNK_BYTES, Manifest, ObjectKeys, UploadState, UploadStatus};
use serde_json::{Value, json};
use support::{SECRET, server};
use testkit::client::{
    ApiResult, Member, TestRoom, create_room, new_identity, now_ms, owner, send_signed, sign_request,
};

/// A test file: its keys, read proof, padded size and encrypted chunks.
struct Encrypted {
    keys: ObjectKeys,
    read: ReadProof,
    padded: u64,
    chunks: Vec<Vec<u8>>,
    plain: Vec<u8>,
}

impl Encrypted {
    fn read_check(&self) -> String {
        b64(&self.read.check())
    }

    fn ids(&self) -> Vec<Option<String>> {
        self.chunks.iter().map(|c| Some(objects::chunk_id(c))).collect()
    }
}

fn encrypt(len: usize, seed: u8) -> Encrypted {
    let plain: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
    let (keys, padded, chunks) = objects::encrypt_file(&plain).unwrap();
    let read = objects::read_proof_of(&plain).unwrap();
    Encrypted { keys, read, padded, chunks, plain }
}

fn put_secret(n: u8) -> PutSecret {
    PutSecret::from_bytes([n; 32])
}

async fn post_json(http: &str, path: &str, body: &Value) -> ApiResult {
    let resp = reqwest::Client::new().post(format!("{http}{path}")).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    if resp.status().is_success() { Ok(resp.json().await.unwrap()) } else { Err((status, resp.json().await.unwrap())) }
}

/// Opens (finds, or pays for with `token`) the upload of `f` with its read check, as the
/// holder of `put`.
async fn open_upload(http: &str, f: &Encrypted, put: &PutSecret, token: Option<&str>) -> ApiResult {
    let body = json!({"file": f.keys.file_id, "size": f.padded, "token": token,
        "read_check": f.read_check(), "put_check": b64(&put.check())});
    post_json(http, "/api/uploads", &body).await
}

fn state_of(r: ApiResult) -> UploadState {
    serde_json::from_value(r.expect("accepted")).unwrap()
}

async fn put_chunk(http: &str, file: &str, index: u32, id: &str, bytes: Vec<u8>, put: Option<&str>) -> ApiResult {
    let mut req = reqwest::Client::new().put(format!("{http}/api/uploads/{file}/chunks/{index}/{id}")).body(bytes);
    if let Some(secret) = put {
        req = req.header(PUT_HEADER, secret);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    if resp.status().is_success() { Ok(resp.json().await.unwrap()) } else { Err((status, resp.json().await.unwrap())) }
}

/// Sends chunk `index` of `f` as the holder of `put`.
async fn put_own(http: &str, f: &Encrypted, index: u32, put: &PutSecret) -> ApiResult {
    let c = &f.chunks[index as usize];
    put_chunk(http, &f.keys.file_id, index, &objects::chunk_id(c), c.clone(), Some(&put.to_b64())).await
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

/// `GET path` presenting `read` (base64url) in the read-proof header.
async fn get_read(http: &str, path: &str, read: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::Client::new().get(format!("{http}{path}")).header(READ_HEADER, read).send().await.unwrap();
    (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
}

/// Reads `f` back with its read proof: the manifest and every chunk, decrypted and checked
/// end to end; `Err` if the stored file is damaged.
async fn read_back(http: &str, f: &Encrypted) -> Result<Vec<u8>, objects::DamagedChunk> {
    let read = f.read.to_b64();
    let (status, body) = get_read(http, &format!("/api/files/{}", f.keys.file_id), &read).await;
    assert_eq!(status, 200, "the read proof reads the file");
    let manifest: Manifest = serde_json::from_slice(&body).unwrap();
    let mut chunks = Vec::new();
    for (i, id) in manifest.chunks.iter().enumerate() {
        let (status, bytes) = get_read(http, &format!("/api/files/{}/chunks/{i}", f.keys.file_id), &read).await;
        assert_eq!(status, 200);
        assert_eq!(&objects::chunk_id(&bytes), id);
        chunks.push(bytes);
    }
    objects::decrypt_file(&f.keys, manifest.size, &chunks)
}

/// Everything the document store and the ledger hold, to show that a refused request
/// changed nothing.
fn snapshot(data: &std::path::Path) -> Vec<(String, String, Vec<u8>)> {
    testkit::scan::document_store_snapshot(data)
}

async fn remaining(http: &str, room: &TestRoom) -> u64 {
    owner(http, &room.id, &room.owner, &OwnerCall::Budget).await.unwrap()["remaining"].as_u64().unwrap()
}

/// A room with one joined member, and a token issuer for it.
async fn token_for(http: &str, room: &TestRoom, member: &protocol::identity::IdentityKey, size: u64) -> String {
    member_token(http, room, member, size).await.unwrap()["token"].as_str().unwrap().to_owned()
}

fn code(r: ApiResult) -> ErrorCode {
    r.expect_err("refused").1.error.code
}

fn stored_bytes(data: &std::path::Path) -> i64 {
    testkit::scan::object_store_totals(data).0
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

    let put = put_secret(1);
    // Without a token: told what it costs. Then paid with a member's token.
    let (status, err) = open_upload(&http, &f, &put, None).await.unwrap_err();
    assert_eq!((status, err.error.code), (402, ErrorCode::TokenRequired));
    let cost = err.error.limit.unwrap();
    assert_eq!(cost, objects::stored_size(f.padded));
    let budget_before =
        owner(&http, &room.id, &room.owner, &OwnerCall::Budget).await.unwrap()["remaining"].as_u64().unwrap();
    let token = member_token(&http, &room, &member, cost).await.unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let state: UploadState = serde_json::from_value(open_upload(&http, &f, &put, Some(&token)).await.unwrap()).unwrap();
    assert_eq!((state.status, state.missing.clone(), state.payer), (UploadStatus::Open, vec![0, 1, 2], true));
    // Retrying the paid request (same put check) spends nothing more.
    let retried = state_of(open_upload(&http, &f, &put, Some(&token)).await);
    assert!(retried.payer);
    let budget_after =
        owner(&http, &room.id, &room.owner, &OwnerCall::Budget).await.unwrap()["remaining"].as_u64().unwrap();
    assert!(budget_before - budget_after >= cost, "the budget is debited by what is stored");

    // Chunks in any order; a resend is free and changes nothing.
    for i in [2u32, 0] {
        put_own(&http, &f, i, &put).await.unwrap();
    }
    let before = stored_bytes(data.path());
    let again = state_of(put_own(&http, &f, 0, &put).await);
    assert_eq!(again.missing, vec![1]);
    assert_eq!(stored_bytes(data.path()), before);
    // Resuming later: opening again needs no token, says what is missing and what is
    // stored, and the put secret still pays.
    let resumed = state_of(open_upload(&http, &f, &put, None).await);
    assert_eq!((resumed.missing.clone(), resumed.payer), (vec![1], true));
    assert_eq!(resumed.stored, vec![f.ids()[0].clone(), None, f.ids()[2].clone()]);
    let done = state_of(put_own(&http, &f, 1, &put).await);
    assert_eq!(done.status, UploadStatus::Complete);

    // Reading back with the read proof: manifest and chunks, decrypted and checked end to end.
    assert_eq!(read_back(&http, &f).await.unwrap(), f.plain);

    // The same file again, from another browser: complete at once, its stored ids are the
    // uploader's own (so it trusts them), nothing stored, nothing paid, no PUT right.
    let stored = stored_bytes(data.path());
    let budget = remaining(&http, &room).await;
    let dedup = state_of(open_upload(&http, &f, &put_secret(2), None).await);
    assert_eq!((dedup.status, dedup.payer), (UploadStatus::Complete, false));
    assert_eq!(dedup.stored, f.ids());
    assert_eq!(stored_bytes(data.path()), stored);
    assert_eq!(remaining(&http, &room).await, budget);

    // No proof, a wrong proof and a missing file: the same answer, no faster.
    let started = Instant::now();
    let wrong = get_read(&http, &format!("/api/files/{}", f.keys.file_id), &encrypt(10, 9).read.to_b64()).await;
    let missing =
        get_read(&http, &format!("/api/files/{}", encrypt(10, 9).keys.file_id), &encrypt(10, 9).read.to_b64()).await;
    assert_eq!(wrong, missing);
    assert_eq!(wrong.0, 404);
    assert!(started.elapsed().as_millis() >= 50);
    let chunk_wrong = get_read(&http, &format!("/api/files/{}/chunks/0", f.keys.file_id), "nope").await;
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

    let put = put_secret(3);
    let rc = f.read_check();
    // The upload's declared shape.
    assert_eq!(
        code(post_json(&http, "/api/uploads", &json!({"file": "short", "size": 16384, "read_check": rc})).await),
        ErrorCode::BadManifest
    );
    assert_eq!(
        code(post_json(&http, "/api/uploads", &json!({"file": f.keys.file_id, "size": 5000, "read_check": rc})).await),
        ErrorCode::BadManifest
    );
    assert_eq!(
        code(post_json(&http, "/api/uploads", &json!({"file": f.keys.file_id})).await),
        ErrorCode::MalformedRequest
    );
    // Tokens: too small, malformed, unknown, spent.
    let small = token(32 * 1024).await;
    assert_eq!(code(open_upload(&http, &encrypt(100_000, 3), &put, Some(&small)).await), ErrorCode::TokenTooSmall);
    assert_eq!(code(open_upload(&http, &f, &put, Some("not-a-token")).await), ErrorCode::MalformedRequest);
    assert_eq!(code(open_upload(&http, &f, &put, Some(&b64(&[1; 32]))).await), ErrorCode::TokenUnknown);
    // Paying needs a put check (else nobody could send the chunks).
    let t = token(64 * 1024).await;
    assert_eq!(
        code(
            post_json(
                &http,
                "/api/uploads",
                &json!({"file": f.keys.file_id, "size": f.padded, "read_check": rc, "token": t})
            )
            .await
        ),
        ErrorCode::MalformedRequest
    );
    open_upload(&http, &f, &put, Some(&t)).await.unwrap();
    assert_eq!(code(open_upload(&http, &encrypt(20_000, 4), &put, Some(&t)).await), ErrorCode::TokenSpent);
    // Reopening the same upload (with its read check) with a wrong size contradicts what is stored.
    assert_eq!(
        code(post_json(&http, "/api/uploads", &json!({"file": f.keys.file_id, "size": 32768, "read_check": rc})).await),
        ErrorCode::BadManifest
    );

    let before = stored_bytes(data.path());
    let c = f.chunks[0].clone();
    let id = objects::chunk_id(&c);
    let p = Some(put.to_b64());
    let p = p.as_deref();
    // Chunks: wrong hash, wrong size, index out of range, unopened upload, too large a body.
    let mut flipped = c.clone();
    flipped[7] ^= 1;
    assert_eq!(code(put_chunk(&http, &f.keys.file_id, 0, &id, flipped, p).await), ErrorCode::HashMismatch);
    assert_eq!(
        code(put_chunk(&http, &f.keys.file_id, 0, &id, c[..c.len() - 1].to_vec(), p).await),
        ErrorCode::BadChunk
    );
    assert_eq!(code(put_chunk(&http, &f.keys.file_id, 5, &id, c.clone(), p).await), ErrorCode::BadManifest);
    // An upload never opened: refused like any PUT without a payer's secret.
    let other = encrypt(300, 5);
    let (oid, obytes) = (objects::chunk_id(&other.chunks[0]), other.chunks[0].clone());
    let (status, err) = put_chunk(&http, &other.keys.file_id, 0, &oid, obytes, p).await.unwrap_err();
    assert_eq!((status, err.error.code), (403, ErrorCode::Forbidden));
    let (status, err) = put_chunk(&http, &f.keys.file_id, 0, &id, vec![0; 5 * 1024 * 1024], p).await.unwrap_err();
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
    let put = put_secret(4);
    open_upload(&http, &f, &put, Some(&token)).await.unwrap();
    assert_eq!(state_of(put_own(&http, &f, 0, &put).await).status, UploadStatus::Complete);
    srv.stop();
    testkit::scan::flip_object_byte(data.path(), &f.keys.file_id, 0);
    srv.restart();
    let http = srv.http_base();
    let read = f.read.to_b64();
    let (_, manifest) = get_read(&http, &format!("/api/files/{}", f.keys.file_id), &read).await;
    let manifest: Manifest = serde_json::from_slice(&manifest).unwrap();
    let (_, chunk) = get_read(&http, &format!("/api/files/{}/chunks/0", f.keys.file_id), &read).await;
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
    assert_eq!(trickle(s.addr(), "POST", "/api/uploads", json, Duration::from_millis(2500)).await, 408);
    // A chunk taking as long is within the upload limit: it gets its real answer (there
    // is no such upload), not a timeout.
    let status = trickle(s.addr(), "PUT", &chunk_path, &body, Duration::from_millis(2500)).await;
    assert!(status != 408 && (400..500).contains(&status), "a typed refusal, not a timeout: {status}");
    // Past the 4 s upload limit, the chunk times out too.
    assert_eq!(trickle(s.addr(), "PUT", &chunk_path, &body, Duration::from_secs(6)).await, 408);
    assert_eq!(scan_uploads(data.path()), 0, "nothing was stored");
}

fn scan_uploads(data: &std::path::Path) -> i64 {
    testkit::scan::object_store_totals(data).1
}

/// A server with a room, a joined member, a complete stored file `f` and a file `g` the
/// server has never seen.
struct Stage {
    data: tempfile::TempDir,
    _srv: testkit::backend::TestServer,
    http: String,
    room: TestRoom,
    member: protocol::identity::IdentityKey,
    _m: Member,
}

async fn stage() -> Stage {
    let data = tempfile::tempdir().unwrap();
    let srv = server(data.path(), &[]);
    let http = srv.http_base();
    let room = create_room(&http, SECRET).await;
    let member = new_identity();
    let m = Member::join(&srv.ws_base(), &room.id, member.clone()).await.unwrap();
    Stage { data, _srv: srv, http, room, member, _m: m }
}

async fn store_complete(s: &Stage, f: &Encrypted, put: &PutSecret) {
    let token = token_for(&s.http, &s.room, &s.member, objects::stored_size(f.padded)).await;
    open_upload(&s.http, f, put, Some(&token)).await.unwrap();
    for i in 0..f.chunks.len() as u32 {
        put_own(&s.http, f, i, put).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_an_upload_needs_its_read_check_and_tells_a_stranger_nothing() {
    let s = stage().await;
    let (f, g) = (encrypt(10_000, 20), encrypt(10_000, 21));
    store_complete(&s, &f, &put_secret(5)).await;
    let token = token_for(&s.http, &s.room, &s.member, objects::stored_size(f.padded)).await;
    let before = (snapshot(s.data.path()), remaining(&s.http, &s.room).await);

    // Whoever knows only a file id: no read check, the file id itself, the read proof
    // instead of its hash, another file's read check, garbage. With or without a token,
    // with the right or a wrong size (the old size oracle), for the stored file and for
    // an unknown one: always the same refusal.
    let mut answers = Vec::new();
    for (file, other) in [(&f, &g), (&g, &f)] {
        let wrong_checks: Vec<Option<String>> = vec![
            None,
            Some(file.keys.file_id.clone()),
            Some(file.read.to_b64()),
            Some(other.read_check()),
            Some("AAAA".into()),
        ];
        for check in &wrong_checks {
            for size in [file.padded, 32768, 5000] {
                for token in [None, Some(token.as_str())] {
                    let body = json!({"file": file.keys.file_id, "size": size, "read_check": check,
                        "put_check": b64(&put_secret(6).check()), "token": token});
                    let (status, err) = post_json(&s.http, "/api/uploads", &body).await.unwrap_err();
                    answers.push((status, serde_json::to_string(&err).unwrap()));
                }
            }
        }
    }
    let first = answers[0].clone();
    assert_eq!(first.0, 403);
    assert!(first.1.contains("bad_read_proof"), "{}", first.1);
    assert!(answers.iter().all(|a| *a == first), "one answer whatever is stored: {answers:?}");
    assert_eq!((snapshot(s.data.path()), remaining(&s.http, &s.room).await), before, "nothing changed");
    // The token was not spent: it still pays for an upload of g.
    let paid = state_of(open_upload(&s.http, &g, &put_secret(6), Some(&token)).await);
    assert!(paid.payer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_need_the_read_proof() {
    let s = stage().await;
    let (f, g) = (encrypt(10_000, 30), encrypt(10_000, 31));
    store_complete(&s, &f, &put_secret(7)).await;
    let before = snapshot(s.data.path());
    let missing = get_read(&s.http, &format!("/api/files/{}", g.keys.file_id), &g.read.to_b64()).await;
    assert_eq!(missing.0, 404);
    let file = &f.keys.file_id;
    for path in [format!("/api/files/{file}"), format!("/api/files/{file}/chunks/0")] {
        // No proof at all, an empty v1 token, a guessed one.
        for query in ["", "?v=", "?v=nope"] {
            let started = Instant::now();
            assert_eq!(get(&s.http, &format!("{path}{query}")).await, missing, "{path}{query}");
            assert!(started.elapsed() >= Duration::from_millis(25));
        }
        // A wrong proof: another file's, the read check, the file id, garbage.
        for wrong in [g.read.to_b64(), f.read_check(), file.clone(), "x".into()] {
            let started = Instant::now();
            assert_eq!(get_read(&s.http, &path, &wrong).await, missing, "{path} with {wrong}");
            assert!(started.elapsed() >= Duration::from_millis(25));
        }
    }
    // An open (incomplete) upload is not readable either, even with its proof.
    let h = encrypt(2 * CHUNK_BYTES as usize, 32);
    let put = put_secret(8);
    let token = token_for(&s.http, &s.room, &s.member, objects::stored_size(h.padded)).await;
    open_upload(&s.http, &h, &put, Some(&token)).await.unwrap();
    put_own(&s.http, &h, 0, &put).await.unwrap();
    assert_eq!(get_read(&s.http, &format!("/api/files/{}", h.keys.file_id), &h.read.to_b64()).await.0, 404);
    assert_eq!(read_back(&s.http, &f).await.unwrap(), f.plain, "the right proof reads");
    let after: Vec<_> = snapshot(s.data.path()).into_iter().filter(|r| before.contains(r)).collect();
    assert_eq!(after, before, "reads changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_payer_may_put_chunks() {
    let s = stage().await;
    let f = encrypt(2 * CHUNK_BYTES as usize - 1000, 40);
    let payer = put_secret(9);
    let token = token_for(&s.http, &s.room, &s.member, objects::stored_size(f.padded)).await;
    open_upload(&s.http, &f, &payer, Some(&token)).await.unwrap();
    put_own(&s.http, &f, 0, &payer).await.unwrap();

    // A stranger with the content (so the read check) opens without paying: it sees the
    // state, and gets no right to PUT.
    let stranger = put_secret(10);
    let seen = state_of(open_upload(&s.http, &f, &stranger, None).await);
    assert_eq!((seen.status, seen.missing.clone(), seen.payer), (UploadStatus::Open, vec![1], false));
    let before = (snapshot(s.data.path()), remaining(&s.http, &s.room).await);
    let junk = vec![0x55u8; f.chunks[1].len()];
    let (good, bad) = (f.chunks[1].clone(), junk.clone());
    let (good_id, bad_id) = (objects::chunk_id(&good), objects::chunk_id(&bad));
    let file = f.keys.file_id.clone();
    for secret in [None, Some(stranger.to_b64()), Some(b64(&payer.check())), Some("short".to_owned())] {
        for (id, bytes) in [(&good_id, &good), (&bad_id, &bad)] {
            let (status, err) = put_chunk(&s.http, &file, 1, id, bytes.clone(), secret.as_deref()).await.unwrap_err();
            assert_eq!((status, err.error.code), (403, ErrorCode::Forbidden), "secret {secret:?}");
        }
        // Over a stored chunk too.
        let (status, _) = put_chunk(&s.http, &file, 0, &bad_id, bad.clone(), secret.as_deref()).await.unwrap_err();
        assert_eq!(status, 403);
    }
    assert_eq!((snapshot(s.data.path()), remaining(&s.http, &s.room).await), before, "nothing stored, nothing paid");
    // The payer finishes.
    assert_eq!(state_of(put_own(&s.http, &f, 1, &payer).await).status, UploadStatus::Complete);
    assert_eq!(read_back(&s.http, &f).await.unwrap(), f.plain);
}

/// Chunks of the right lengths that are not `f`'s (each matches its own hash, fails GCM).
fn junk_chunks(f: &Encrypted) -> Vec<Vec<u8>> {
    f.chunks.iter().enumerate().map(|(i, c)| vec![0xa0 ^ i as u8; c.len()]).collect()
}

async fn put_bytes(s: &Stage, f: &Encrypted, index: u32, bytes: &[u8], put: &PutSecret) -> ApiResult {
    let id = objects::chunk_id(bytes);
    put_chunk(&s.http, &f.keys.file_id, index, &id, bytes.to_vec(), Some(&put.to_b64())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_junk_completing_payer_is_repaired_by_the_next_honest_upload() {
    let s = stage().await;
    let f = encrypt(2 * CHUNK_BYTES as usize + 500, 50);
    let cost = objects::stored_size(f.padded);
    // A rogue that has the content pays first and completes the upload with junk.
    let rogue = put_secret(11);
    let token = token_for(&s.http, &s.room, &s.member, cost).await;
    open_upload(&s.http, &f, &rogue, Some(&token)).await.unwrap();
    let junk = junk_chunks(&f);
    for (i, c) in junk.iter().enumerate() {
        put_bytes(&s, &f, i as u32, c, &rogue).await.unwrap();
    }
    assert!(read_back(&s.http, &f).await.is_err(), "readers see a damaged file, never wrong content");
    // A payer cannot overwrite its own chunks with other bytes.
    let before = snapshot(s.data.path());
    assert_eq!(code(put_own(&s.http, &f, 0, &rogue).await), ErrorCode::BadManifest);
    assert_eq!(snapshot(s.data.path()), before);

    // The honest uploader finds it complete, compares the stored ids with its own, sees
    // they differ, pays to become the latest payer and sends its chunks over the junk.
    let honest = put_secret(12);
    let found = state_of(open_upload(&s.http, &f, &honest, None).await);
    assert_eq!((found.status, found.payer), (UploadStatus::Complete, false));
    let differ: Vec<u32> =
        (0..f.chunks.len() as u32).filter(|i| found.stored[*i as usize] != f.ids()[*i as usize]).collect();
    assert_eq!(differ, vec![0, 1, 2]);
    let budget = remaining(&s.http, &s.room).await;
    let token = token_for(&s.http, &s.room, &s.member, cost).await;
    assert!(budget - remaining(&s.http, &s.room).await >= cost, "repairing costs a token for the stored size");
    let joined = state_of(open_upload(&s.http, &f, &honest, Some(&token)).await);
    assert!(joined.payer);
    for i in differ {
        put_own(&s.http, &f, i, &honest).await.unwrap();
    }
    assert_eq!(read_back(&s.http, &f).await.unwrap(), f.plain, "after the repair, reads verify");

    // The rogue, an earlier payer, cannot put its junk back over the honest chunks.
    let before = snapshot(s.data.path());
    for (i, c) in junk.iter().enumerate() {
        assert_eq!(code(put_bytes(&s, &f, i as u32, c, &rogue).await), ErrorCode::BadManifest);
    }
    assert_eq!(snapshot(s.data.path()), before, "nothing changed");
    assert_eq!(read_back(&s.http, &f).await.unwrap(), f.plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_files_stay_readable_with_their_verification_token() {
    let data = tempfile::tempdir().unwrap();
    let mut srv = server(data.path(), &[]);
    srv.stop();
    // A file stored by a v1 server: v1 id and key, a random verification token.
    let plain: Vec<u8> = (0..70_000u32).map(|i| (i % 253) as u8).collect();
    let (keys, padded, chunks) = objects::encrypt_file_v1(&plain).unwrap();
    let verification = b64(&[0x3c; 32]);
    let ids: Vec<String> = chunks.iter().map(|c| objects::chunk_id(c)).collect();
    {
        let conn = rusqlite::Connection::open(data.path().join("global.sqlite")).unwrap();
        for (id, c) in ids.iter().zip(&chunks) {
            conn.execute("INSERT INTO objects (key, value) VALUES (?1, ?2)", rusqlite::params![id, c]).unwrap();
        }
        let record = json!({"size": padded, "chunk_ids": ids, "verification": verification,
            "created": 1, "paid_by": b64(&[1; 32])});
        conn.execute(
            "INSERT INTO uploads (key, value) VALUES (?1, ?2)",
            rusqlite::params![keys.file_id, serde_json::to_vec(&record).unwrap()],
        )
        .unwrap();
    }
    srv.restart();
    let http = srv.http_base();
    let file = &keys.file_id;
    let (status, body) = get(&http, &format!("/api/files/{file}?v={verification}")).await;
    assert_eq!(status, 200);
    let manifest: Manifest = serde_json::from_slice(&body).unwrap();
    assert_eq!(manifest.chunks, ids);
    let mut got = Vec::new();
    for i in 0..ids.len() {
        got.push(get(&http, &format!("/api/files/{file}/chunks/{i}?v={verification}")).await.1);
    }
    assert_eq!(objects::decrypt_file(&keys, padded, &got).unwrap(), plain, "v1 keys still check end to end");
    // A wrong token, or a v2-style proof, reads nothing: the answer for a missing file.
    let missing = get(&http, &format!("/api/files/{}?v={verification}", encrypt(10, 60).keys.file_id)).await;
    assert_eq!(missing.0, 404);
    assert_eq!(get(&http, &format!("/api/files/{file}?v={}", b64(&[0x3d; 32]))).await, missing);
    assert_eq!(get_read(&http, &format!("/api/files/{file}"), &verification).await, missing);
    // Nobody can reopen a v1 upload (its id is not named by any read check).
    let body = json!({"file": file, "size": padded, "read_check": verification});
    assert_eq!(code(post_json(&http, "/api/uploads", &body).await), ErrorCode::BadReadProof);
}
