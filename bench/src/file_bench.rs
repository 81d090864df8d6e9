//! `file-bench`: the document pipeline in a real headless Chromium, against the real
//! built SPA and a real mock-server (release builds):
//!
//! 1. in-page encryption throughput: the file pipeline (hash pass, key derivation, then
//!    per-chunk read + AES-GCM + SHA-256 naming) vs raw WebCrypto AES-GCM over the same
//!    buffer, in the same page, best of N rounds;
//! 2. a 100 MB file uploaded through the UI (Attach), then downloaded (checked, decrypted,
//!    saved) over loopback, with the SHA-256 of the saved file checked;
//! 3. opening a page of chat messages: the pure-Rust AES-GCM the client uses for messages
//!    vs WebCrypto, serial and concurrent, with WebCrypto signature checks for scale.
//!
//! ```text
//! trunk build --release
//! cargo build --release -p cloakroom-mock-server -p cloakroom-bench
//! target/release/file-bench
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use fantoccini::wd::TimeoutConfiguration;
use sha2::{Digest, Sha256};
use testkit::app::{SECRET, create_room, start_server};
use testkit::browser::{Driver, allow_downloads, click, wait_for_download};
use testkit::files::{attach, pseudo_random, wait_transfers_done};

#[derive(Parser)]
#[command(about = "File pipeline vs raw WebCrypto, and a 100 MB upload + download, in headless Chromium")]
struct Args {
    /// Size of the in-page buffer, in MiB.
    #[arg(long, default_value_t = 64)]
    mib: u32,
    /// Rounds of the in-page measurement (the best one counts).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Size of the file uploaded and downloaded, in MB (10^6 bytes).
    #[arg(long, default_value_t = 100)]
    file_mb: usize,
    /// Messages per page in the message measurement.
    #[arg(long, default_value_t = 200)]
    messages: u32,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let data = tempfile::tempdir().expect("data dir");
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    let driver = Driver::start().await;
    let browser = driver.session().await;
    let client = browser.client.clone();
    let outcome = tokio::spawn(async move { run(&client, &base, &args).await }).await;
    browser.close().await;
    drop(server);
    match outcome {
        Ok(lines) => println!("{}", lines.join("\n")),
        Err(e) => {
            eprintln!("file-bench failed: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(client: &fantoccini::Client, base: &str, args: &Args) -> Vec<String> {
    let timeouts = TimeoutConfiguration::new(Some(Duration::from_secs(600)), None, None);
    client.update_timeouts(timeouts).await.expect("script timeout");
    let link = create_room(client, base, "Bench", SECRET).await;
    eprintln!("room ready: {link}");

    // 1. In-page throughput.
    let script = "const done = arguments[arguments.length - 1];
        window.wasmBindings.benchFilePipeline(arguments[0], arguments[1]).then(done, e => done('error: ' + e));";
    let result = client.execute_async(script, vec![args.mib.into(), args.rounds.into()]).await.expect("run the bench");
    let text = result.as_str().expect("a JSON string");
    let r: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("bench failed: {text}"));
    let mib = f64::from(args.mib);
    let ms = |name: &str| r[name].as_f64().unwrap_or_else(|| panic!("{name} missing in {text}"));
    let row = |label: &str, t: f64| format!("| {label} | {t:.0} | {:.0} |", mib / (t / 1000.0));
    let (raw, pipeline, blob_pipeline) = (ms("raw_aes_ms"), ms("pipeline_ms"), ms("blob_pipeline_ms"));
    let mut lines = vec![
        format!("In-page, {} MiB random buffer, best of {} rounds:", args.mib, args.rounds),
        String::new(),
        "| measurement | ms | MiB/s |".into(),
        "|---|---:|---:|".into(),
        row("raw WebCrypto AES-256-GCM, one call (the baseline)", raw),
        row("raw WebCrypto SHA-256, one call", ms("raw_sha_ms")),
        row("**pipeline on the same buffer** (both passes)", pipeline),
        row("— hash pass (chunk SHA-256s → content hash → keys)", ms("hash_ms")),
        row("— seal pass (AES-GCM + SHA-256 naming per chunk)", ms("seal_ms")),
        row("pipeline on the buffer as a Blob (as a picked file is read)", blob_pipeline),
        row("— hash pass", ms("blob_hash_ms")),
        row("— seal pass", ms("blob_seal_ms")),
        format!("| **pipeline / raw** | | **{:.2}×** (Blob: {:.2}×) |", raw / pipeline, raw / blob_pipeline),
        String::new(),
    ];

    // 2. A file through the UI and back.
    let files = tempfile::tempdir().expect("files dir");
    let downloads = tempfile::tempdir().expect("downloads dir");
    let name = format!("bench-{}mb.bin", args.file_mb);
    let bytes = pseudo_random(args.file_mb * 1_000_000, 42);
    let path = files.path().join(&name);
    std::fs::write(&path, &bytes).expect("write the file");
    let timeout = Duration::from_secs(900);
    let started = Instant::now();
    attach(client, &[&path]).await;
    wait_transfers_done(client, 1, timeout).await;
    let upload = started.elapsed().as_secs_f64();
    allow_downloads(client, downloads.path()).await;
    let started = Instant::now();
    click(client, ".message .file-download").await;
    let got = wait_for_download(downloads.path(), &name, timeout).await;
    let download = started.elapsed().as_secs_f64();
    assert_eq!(Sha256::digest(&got), Sha256::digest(&bytes), "the download matches the original");
    let mb = args.file_mb as f64;
    lines.extend([
        format!("{} MB file over loopback, through the UI (SHA-256 of the saved file checked):", args.file_mb),
        String::new(),
        "| step | seconds | MB/s |".into(),
        "|---|---:|---:|".into(),
        format!("| upload (hash, pay, encrypt, send) | {upload:.2} | {:.0} |", mb / upload),
        format!("| download (fetch, verify, decrypt, save) | {download:.2} | {:.0} |", mb / download),
        String::new(),
    ]);

    // 3. Opening a page of messages.
    lines.extend([
        format!("Opening {} messages, best of {} rounds (ms for the whole page):", args.messages, args.rounds),
        String::new(),
        "| text per message | pure-Rust AES-GCM | WebCrypto, one by one | WebCrypto, all at once | WebCrypto ECDSA verify, all at once |".into(),
        "|---:|---:|---:|---:|---:|".into(),
    ]);
    for text_bytes in [100u32, 2_000, 16_000] {
        let script = "const done = arguments[arguments.length - 1];
            window.wasmBindings.benchMessageCrypto(arguments[0], arguments[1], arguments[2]).then(done, e => done('error: ' + e));";
        let args_js = vec![args.messages.into(), text_bytes.into(), args.rounds.into()];
        let result = client.execute_async(script, args_js).await.expect("run the message bench");
        let text = result.as_str().expect("a JSON string");
        let r: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("bench failed: {text}"));
        let ms = |name: &str| r[name].as_f64().unwrap_or_else(|| panic!("{name} missing in {text}"));
        lines.push(format!(
            "| {text_bytes} B | {:.1} | {:.1} | {:.1} | {:.1} |",
            ms("rust_ms"),
            ms("webcrypto_serial_ms"),
            ms("webcrypto_parallel_ms"),
            ms("verify_ms")
        ));
    }
    lines
}
