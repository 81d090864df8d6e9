//! `load-bench`: the SPA's first load over a slow network, in headless Chromium, against
//! the real release build served by a real mock-server: the same build served with its
//! precompressed copies (brotli / gzip, chosen by content negotiation) and without them
//! (the files as built), side by side in one run.
//!
//! The network is Chromium's emulation (DevTools `Network.emulateNetworkConditions`):
//! 10 Mbit/s down, 5 Mbit/s up, 40 ms latency. Each cold load uses a fresh profile (no
//! cache, no service worker); "first paint" is when the app's landing form is in the
//! page (before that the page is blank: the UI is the wasm's). The repeat load reloads
//! the same page, with the browser's cache and the service worker.
//!
//! ```text
//! trunk build --release
//! cargo build --release -p cloakroom-mock-server -p cloakroom-bench
//! target/release/load-bench            # --rounds 3, --against OTHER/dist
//! ```

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use fantoccini::Client;
use testkit::app::dist_dir;
use testkit::browser::{Driver, cdp, wait_for};
use testkit::server::{ServerOptions, ServerProcess};

#[derive(Parser)]
#[command(about = "First load of the SPA at 10 Mbit/s + 40 ms, with and without precompressed assets")]
struct Args {
    /// Cold loads per variant (the median counts).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Also another release build (its `dist/`, precompressed), in the same run: e.g. an
    /// older commit's, to compare side by side.
    #[arg(long, value_name = "DIR")]
    against: Option<std::path::PathBuf>,
}

/// Records when the landing form appears (the first paint of the app itself).
const MARK_FIRST_PAINT: &str = "new MutationObserver((_, observer) => {
    if (document.getElementById('create-alias')) {
        window.__appPaintMs = performance.now();
        observer.disconnect();
    }
}).observe(document, { childList: true, subtree: true });";

/// Bytes that came over the network for the page and everything it loaded.
const TRANSFERRED: &str = "return performance.getEntriesByType('navigation')
    .concat(performance.getEntriesByType('resource'))
    .reduce((sum, e) => sum + (e.transferSize || 0), 0);";

struct Load {
    paint_ms: f64,
    bytes: f64,
}

async fn throttle(client: &Client) {
    cdp(client, "Network.enable", serde_json::json!({})).await;
    let conditions = serde_json::json!({
        "offline": false, "latency": 40, "downloadThroughput": 10_000_000 / 8, "uploadThroughput": 5_000_000 / 8,
    });
    cdp(client, "Network.emulateNetworkConditions", conditions).await;
    cdp(client, "Page.addScriptToEvaluateOnNewDocument", serde_json::json!({ "source": MARK_FIRST_PAINT })).await;
}

async fn measure(client: &Client, url: &str, reload: bool) -> Load {
    if reload {
        client.refresh().await.expect("reload");
    } else {
        client.goto(url).await.expect("open the app");
    }
    wait_for(client, "#create-alias").await;
    let paint = client.execute("return window.__appPaintMs || 0", vec![]).await.expect("paint mark");
    // Resource timing entries of the last assets may land just after the paint.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bytes = client.execute(TRANSFERRED, vec![]).await.expect("transfer sizes");
    Load { paint_ms: paint.as_f64().unwrap_or(0.0), bytes: bytes.as_f64().unwrap_or(0.0) }
}

/// A copy of the build without its precompressed files: the server sends them as built.
fn uncompressed_copy(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dist") {
        let entry = entry.expect("dist entry");
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.path().is_file() && !name.ends_with(".br") && !name.ends_with(".gz") {
            std::fs::copy(entry.path(), to.join(&*name)).expect("copy an asset");
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let dist = dist_dir();
    assert!(
        std::fs::read_dir(&dist)
            .expect("dist")
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".br"))),
        "dist/ has no precompressed copies: build it with `trunk build --release` (scripts/precompress)"
    );
    let plain = tempfile::tempdir().expect("plain dist");
    uncompressed_copy(&dist, plain.path());
    let driver = Driver::chromium().await;
    let mut lines = vec![
        "| served | cold: over the wire | cold: app painted (median) | repeat load: over the wire | repeat: painted |"
            .into(),
        "|---|---:|---:|---:|---:|".to_owned(),
    ];
    let mut variants = vec![
        ("as built (no compression)".to_owned(), plain.path().to_path_buf()),
        ("precompressed (brotli)".to_owned(), dist.clone()),
    ];
    if let Some(other) = &args.against {
        variants.push((format!("precompressed, other build ({})", other.display()), other.clone()));
    }
    for (label, dir) in variants {
        let data = tempfile::tempdir().expect("data dir");
        let mut options = ServerOptions::new(data.path());
        options.static_dir = Some(dir.clone());
        let server = ServerProcess::start(options);
        let url = format!("{}/", server.http_base());
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds.max(1) {
            let browser = driver.session().await;
            let client = browser.client.clone();
            let url = url.clone();
            let outcome = tokio::spawn(async move {
                throttle(&client).await;
                let first = measure(&client, &url, false).await;
                let again = measure(&client, &url, true).await;
                (first, again)
            })
            .await;
            browser.close().await;
            let (first, again) = outcome.expect("a load");
            cold.push(first);
            warm.push(again);
        }
        let kib = |v: &[Load]| median(v.iter().map(|l| l.bytes / 1024.0).collect());
        let ms = |v: &[Load]| median(v.iter().map(|l| l.paint_ms).collect());
        lines.push(format!(
            "| {label} | {:.0} KiB | {:.0} ms | {:.1} KiB | {:.0} ms |",
            kib(&cold),
            ms(&cold),
            kib(&warm),
            ms(&warm)
        ));
    }
    println!("{}", lines.join("\n"));
}
