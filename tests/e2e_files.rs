//! End to end, sharing documents and images between two real browsers: a 50 MB file and
//! an image cross intact (thumbnail at once, preview, full image, download with the same
//! SHA-256), the same file twice costs nothing more, a byte flipped on the server's disk
//! is reported and never saved, an exhausted budget and a file past the size limit are
//! clear errors that leave nothing behind, a cancelled upload posts nothing and resumes for free, the server's data
//! never holds a file's plaintext, name or key, uploads and downloads ride out a dropped
//! connection, and a 1 GiB file goes through intact without either browser ever holding
//! it twice.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fantoccini::{Client, Locator};
use protocol::objects::{self, ObjectKeys};
use sha2::{Digest, Sha256};
use testkit::app::{create_room, join_room, start_server};
use testkit::browser::{
    Driver, allow_downloads, click, group_memory_bytes, wait_for, wait_for_attr, wait_for_count, wait_for_download,
    wait_for_text, with_browsers,
};
use testkit::files::{attach, bmp, pseudo_random, wait_transfer_progress, wait_transfers_done};
use testkit::link::Link;
use testkit::scan;

const BIG_BYTES: usize = 50 * 1024 * 1024;
const BIG_NAME: &str = "q3-ledger-confidential-7d1e.bin";
const IMAGE_NAME: &str = "beach-holiday-2026-4c9b.bmp";
const IMAGE_SIZE: (u32, u32) = (1800, 1200);
/// Long enough for 50 MB through hashing, encryption and loopback on a slow CI machine.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(240);
/// The same for 1 GiB (about 20 s each way on this machine).
const BIG_TRANSFER_TIMEOUT: Duration = Duration::from_secs(900);

/// The keys the browser derives for `plain` (convergent: from its padded content).
fn keys_of(plain: &[u8]) -> (ObjectKeys, u64) {
    let size = plain.len() as u64;
    let padded = objects::padded_size(size).expect("within the size limit");
    let mut padded_bytes = plain.to_vec();
    padded_bytes.extend(objects::padding(size, padded));
    (objects::derive(&objects::content_hash_of(&padded_bytes)), padded)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a test file");
    path
}

/// The owner's view of the room's budget as far as files go, freshly loaded: (bytes not
/// paid out in storage tokens, tokens issued). Stored messages are charged to the budget
/// too (the message that shares a file among them), so what they used is added back.
async fn budget(owner: &Client) -> (u64, u64) {
    click(owner, "#admin-toggle").await;
    let line = wait_for(owner, "#budget-line[data-issued]").await;
    let read = |name: &'static str| {
        let line = line.clone();
        async move { line.attr(name).await.unwrap().unwrap().parse::<u64>().unwrap() }
    };
    let out = (read("data-remaining").await + read("data-message-bytes").await, read("data-issued").await);
    click(owner, "#admin-toggle").await;
    out
}

/// The natural width of the viewer's image once it has loaded (an engine may still be
/// decoding the new source when the app has switched to it: WebKit often is).
async fn image_width(client: &Client) -> u64 {
    let script = "const done = arguments[arguments.length - 1];
        const img = document.querySelector('.viewer-image');
        if (!img) { done(0); return; }
        const report = () => done(img.naturalWidth);
        if (img.complete && img.naturalWidth > 0) { report(); return; }
        img.addEventListener('load', report, { once: true });
        img.addEventListener('error', () => done(0), { once: true });
        setTimeout(report, 10000);";
    let v = client.execute_async(script, vec![]).await.unwrap();
    v.as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_and_images_cross_intact_deduplicate_and_damage_is_reported() {
    let data = tempfile::tempdir().unwrap();
    let mut server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let files = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let big = pseudo_random(BIG_BYTES, 7);
    let image = bmp(IMAGE_SIZE.0, IMAGE_SIZE.1);
    let big_path = write(files.path(), BIG_NAME, &big);
    let image_path = write(files.path(), IMAGE_NAME, &image);
    let (big_keys, _) = keys_of(&big);
    let (image_keys, _) = keys_of(&image);

    let server_ref = &mut server;
    let data_dir = data.path().to_path_buf();
    let (big_ref, dl) = (&big, downloads.path().to_path_buf());
    let big_file_id = big_keys.file_id.clone();
    with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let link = create_room(a, &base, "Ada", testkit::app::SECRET).await;
        join_room(b, &link, "Bob").await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;

        // A shares a 50 MB file and an image in one pick: the file, the image's preview,
        // and the image itself are three uploads.
        attach(a, &[&big_path, &image_path]).await;
        wait_transfers_done(a, 3, TRANSFER_TIMEOUT).await;

        // B sees the file card and, at once, the thumbnail carried inside the message.
        let card = wait_for_text(b, ".message .file-card", BIG_NAME).await;
        assert!(card.contains("50.0 MB"), "the card shows the size: {card}");
        let thumb = wait_for(b, ".message img.thumbnail").await;
        let src = thumb.attr("src").await.unwrap().unwrap_or_default();
        assert!(src.starts_with("data:image/jpeg;base64,"), "the thumbnail is inline JPEG");
        assert!(src.len() <= 16 * 1024, "the thumbnail is small ({} chars)", src.len());

        // The thumbnail opens the preview (downscaled), then the full original.
        click(b, ".message .thumbnail-button").await;
        wait_for_attr(b, ".viewer-image", "data-source", "preview").await;
        assert_eq!(image_width(b).await, 1600, "the preview is downscaled to 1600 px");
        click(b, "#viewer-full").await;
        wait_for_attr(b, ".viewer-image", "data-source", "full").await;
        assert_eq!(image_width(b).await, u64::from(IMAGE_SIZE.0), "the full image is the original");
        click(b, ".viewer-actions button:last-child").await;

        // The gallery lists the image.
        click(b, "#gallery-toggle").await;
        wait_for_count(b, ".gallery-grid img.thumbnail", 1, Duration::from_secs(10)).await;

        // B downloads the file: same bytes, same name.
        allow_downloads(b, &dl).await;
        click(b, ".message .file-download").await;
        let got = wait_for_download(&dl, BIG_NAME, TRANSFER_TIMEOUT).await;
        assert_eq!(got.len(), big_ref.len());
        assert_eq!(Sha256::digest(&got), Sha256::digest(big_ref), "the download has the original's SHA-256");
        std::fs::remove_file(dl.join(BIG_NAME)).unwrap();

        // The same file again: nothing more is stored and nothing more is paid.
        let before = scan::object_store_totals(&data_dir);
        let budget_before = budget(a).await;
        attach(a, &[&big_path]).await;
        wait_transfers_done(a, 4, TRANSFER_TIMEOUT).await;
        wait_for_count(b, ".message .file-card", 2, Duration::from_secs(30)).await;
        assert_eq!(scan::object_store_totals(&data_dir), before, "stored bytes and uploads do not grow");
        assert_eq!(budget(a).await, budget_before, "the budget is not charged twice");

        // A byte flipped on the server's disk: B's download reports it and saves nothing.
        server_ref.stop();
        scan::flip_object_byte(&data_dir, &big_file_id, 3);
        server_ref.restart();
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;
        click(b, ".message .file-download").await;
        let error = wait_for_text(b, ".file-error", "damaged").await;
        assert!(error.contains("not saved"), "the error says nothing was saved: {error}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(scan::files_under(&dl).is_empty(), "nothing was downloaded: {:?}", scan::files_under(&dl));
    })
    .await;

    // Neither the plaintext, nor the names, nor the keys are anywhere on the server's disk.
    server.stop();
    let mut needles: Vec<Vec<u8>> = vec![BIG_NAME.into(), IMAGE_NAME.into()];
    for keys in [&big_keys, &image_keys] {
        needles.extend(scan::secret_encodings(keys.key.as_bytes()));
    }
    for at in [0, 1 << 20, BIG_BYTES / 2, BIG_BYTES - 48] {
        needles.push(big[at..at + 48].to_vec());
    }
    for at in [54, image.len() / 2, image.len() - 48] {
        needles.push(image[at..at + 48].to_vec());
    }
    for needle in &needles {
        let found = scan::files_containing(data.path(), needle);
        assert!(found.is_empty(), "{:?}… found in {found:?}", &needle[..needle.len().min(16)]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_budget_is_a_clear_error_and_leaves_nothing_behind() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &["--initial-budget", "100000"]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let files = tempfile::tempdir().unwrap();
    let path = write(files.path(), "too-big-for-the-budget.bin", &pseudo_random(3 * 1024 * 1024, 3));
    let data_dir = data.path().to_path_buf();
    with_browsers(&driver, 1, |browsers| async move {
        let a = &browsers[0];
        create_room(a, &base, "Ada", testkit::app::SECRET).await;
        attach(a, &[&path]).await;
        let failure = wait_for_text(a, ".transfer[data-status=\"failed\"]", "budget").await;
        assert!(failure.contains("storage budget is used up"), "a clear reason: {failure}");
        assert_eq!(client_cards(a).await, 0, "no message shares a file that was not stored");
        assert_eq!(scan::object_store_totals(&data_dir), (0, 0), "no chunk and no upload record was stored");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_past_the_size_limit_is_refused_before_anything_is_read_or_paid() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let files = tempfile::tempdir().unwrap();
    // One byte past the limit; sparse, so it costs no disk (and the browser must not read it).
    let path = files.path().join("disk-image-2gib-plus-one.img");
    std::fs::File::create(&path).unwrap().set_len(objects::MAX_FILE_BYTES + 1).unwrap();
    let data_dir = data.path().to_path_buf();
    with_browsers(&driver, 1, |browsers| async move {
        let a = &browsers[0];
        create_room(a, &base, "Ada", testkit::app::SECRET).await;
        let budget_before = budget(a).await;
        attach(a, &[&path]).await;
        let failure = wait_for_text(a, ".transfer[data-status=\"failed\"]", "limited to").await;
        assert!(failure.contains("files are limited to 2.00 GB"), "the limit is named: {failure}");
        assert_eq!(client_cards(a).await, 0);
        assert_eq!(budget(a).await, budget_before, "nothing was paid");
        assert_eq!(scan::object_store_totals(&data_dir), (0, 0), "nothing was stored");
    })
    .await;
}

/// A server the browsers reach through a [`Link`] the test can slow down or cut.
async fn start_behind_link(data: &Path) -> (testkit::backend::TestServer, Link) {
    let link = Link::bind().await;
    let server = start_server(data, &["--public-origin", &link.http_base()]);
    link.relay_to(server.addr());
    (server, link)
}

async fn client_cards(client: &Client) -> usize {
    client.find_all(Locator::Css(".message .file-card")).await.map(|v| v.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_posts_nothing_and_resumes_without_paying_again() {
    let data = tempfile::tempdir().unwrap();
    let (server, link) = start_behind_link(data.path()).await;
    let base = link.http_base();
    let driver = Driver::start().await;
    let files = tempfile::tempdir().unwrap();
    let name = "resumable-archive-e41c.bin";
    let path = files.path().join(name);
    std::fs::write(&path, pseudo_random(120 * 1024 * 1024, 11)).unwrap();
    let data_dir = data.path().to_path_buf();
    let link = &link;
    with_browsers(&driver, 1, |browsers| async move {
        let a = &browsers[0];
        create_room(a, &base, "Ada", testkit::app::SECRET).await;
        // A slow uplink (16 Mbit/s), so that Cancel lands mid-upload.
        link.limit_uplink(Some(2_000_000));
        attach(a, &[&path]).await;
        wait_for(a, ".transfer[data-status=\"running\"]").await;
        // Some chunks are stored, then Cancel.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while scan::object_store_totals(&data_dir).0 == 0 {
            assert!(std::time::Instant::now() < deadline, "no chunk arrived");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        click(a, ".transfer-cancel").await;
        wait_for(a, ".transfer[data-status=\"cancelled\"]").await;
        let (partial, uploads) = scan::object_store_totals(&data_dir);
        assert_eq!(uploads, 1, "the paid upload stays open, to resume");
        assert!(partial > 0 && partial < 120 * 1024 * 1024, "only part of the file was stored ({partial} bytes)");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(client_cards(a).await, 0, "a cancelled upload posts no message");
        let budget_before = budget(a).await;

        // Sharing the same file again resumes: the stored chunks are not sent again and
        // nothing more is paid.
        link.limit_uplink(None);
        attach(a, &[&path]).await;
        wait_transfers_done(a, 1, TRANSFER_TIMEOUT).await;
        wait_for_text(a, ".message .file-card", name).await;
        assert_eq!(budget(a).await, budget_before, "resuming is free");
        let (stored, uploads) = scan::object_store_totals(&data_dir);
        assert_eq!(uploads, 1);
        let padded = objects::padded_size(120 * 1024 * 1024).unwrap();
        assert_eq!(stored as u64, objects::stored_size(padded), "every chunk stored once");
    })
    .await;
    drop(server);
}

/// The network went away while the transfer was still under way (else the test proves nothing).
async fn assert_still_running(client: &Client) {
    let running = client.find_all(Locator::Css(".transfer[data-status=\"running\"]")).await.unwrap();
    assert!(!running.is_empty(), "the transfer finished before the network was cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_downloads_ride_out_a_dropped_connection() {
    let data = tempfile::tempdir().unwrap();
    let (_server, link) = start_behind_link(data.path()).await;
    let base = link.http_base();
    let driver = Driver::start().await;
    let files = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let name = "field-recordings-2026.bin";
    let bytes = pseudo_random(256 * 1024 * 1024, 23);
    let path = write(files.path(), name, &bytes);
    let (dl, bytes, link) = (downloads.path().to_path_buf(), &bytes, &link);
    with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let invite = create_room(a, &base, "Ada", testkit::app::SECRET).await;
        join_room(b, &invite, "Bob").await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;

        // The network drops for three seconds in the middle of A's upload (B's link too:
        // both browsers reach the server through it).
        attach(a, &[&path]).await;
        wait_transfer_progress(a, 0.1, TRANSFER_TIMEOUT).await;
        link.set_cut(true);
        assert_still_running(a).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        link.set_cut(false);
        wait_transfers_done(a, 1, TRANSFER_TIMEOUT).await;
        wait_for_text(b, ".message .file-card", name).await;

        // And in the middle of B's download.
        allow_downloads(b, &dl).await;
        click(b, ".message .file-download").await;
        wait_transfer_progress(b, 0.1, TRANSFER_TIMEOUT).await;
        link.set_cut(true);
        assert_still_running(b).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        link.set_cut(false);
        let got = wait_for_download(&dl, name, TRANSFER_TIMEOUT).await;
        assert_eq!(Sha256::digest(&got), Sha256::digest(bytes), "the download has the original's SHA-256");
        let failed = b.find_all(Locator::Css(".transfer[data-status=\"failed\"]")).await.unwrap();
        assert!(failed.is_empty(), "no transfer failed");
    })
    .await;
    // Every chunk was stored once, however often it was sent.
    let padded = objects::padded_size(bytes.len() as u64).unwrap();
    let (stored, uploads) = scan::object_store_totals(data.path());
    assert_eq!((stored as u64, uploads), (padded + objects::chunk_count(padded) as u64 * objects::TAG_BYTES, 1));
}

/// The size the brief asks every browser to handle at least.
const GIB: usize = 1 << 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_gib_file_streams_through_intact_and_is_never_held_whole_in_memory() {
    let engine = testkit::engine::Engine::from_env();
    if engine == testkit::engine::Engine::WebKit {
        eprintln!(
            "skipped in {engine:?}: WebKitGTK has no origin private file system (no navigator.storage), so a \
             download is assembled in memory (docs/BROWSERS.md, \"Large uploads and downloads\")"
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let files = tempfile::tempdir().unwrap();
    let downloads = tempfile::tempdir().unwrap();
    let name = "site-archive-2026-1gib.bin";
    let (path, digest) = {
        let big = pseudo_random(GIB, 11);
        (write(files.path(), name, &big), Sha256::digest(&big))
    };
    // The memory of both browsers (every process), sampled four times a second.
    let group = driver.process_group();
    let peak = Arc::new(AtomicU64::new(0));
    let dl = downloads.path().to_path_buf();
    let memory = with_browsers(&driver, 2, |browsers| async move {
        let (a, b) = (&browsers[0], &browsers[1]);
        let link = create_room(a, &base, "Ada", testkit::app::SECRET).await;
        join_room(b, &link, "Bob").await;
        wait_for_attr(b, "#connection-status", "data-status", "connected").await;
        let idle = group_memory_bytes(group);
        assert!(idle > 100 << 20, "the browsers' memory is measured ({idle} bytes idle)");
        let peak_in = peak.clone();
        let sampler = tokio::spawn(async move {
            loop {
                peak_in.fetch_max(group_memory_bytes(group), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });

        attach(a, &[&path]).await;
        wait_transfers_done(a, 1, BIG_TRANSFER_TIMEOUT).await;
        let upload_peak = peak.swap(0, Ordering::Relaxed);
        let card = wait_for_text(b, ".message .file-card", name).await;
        assert!(card.contains("1.00 GB"), "the card shows the size: {card}");
        allow_downloads(b, &dl).await;
        click(b, ".message .file-download").await;
        let got = wait_for_download(&dl, name, BIG_TRANSFER_TIMEOUT).await;
        sampler.abort();
        assert_eq!(got.len(), GIB);
        assert_eq!(Sha256::digest(&got), digest, "the download has the original's SHA-256");
        (idle, upload_peak, peak.load(Ordering::Relaxed))
    })
    .await;
    let (idle, upload, download) = memory;
    let mib = |bytes: u64| bytes >> 20;
    eprintln!(
        "browsers' memory: {} MiB idle; peaks {} MiB uploading, {} MiB downloading",
        mib(idle),
        mib(upload),
        mib(download)
    );
    // Uploading reads a few chunks at a time and sends them from a worker no service worker
    // sees (src/net/chunk_sender.rs): not even half the file is ever in memory.
    assert!(upload.saturating_sub(idle) < GIB as u64 / 2, "uploading 1 GiB took {} MiB more", mib(upload - idle));
    // Downloading writes each checked chunk to disk (the origin private file system) and
    // saves that file: not even half the file is ever in memory either.
    assert!(download.saturating_sub(idle) < GIB as u64 / 2, "downloading 1 GiB took {} MiB more", mib(download - idle));
}
