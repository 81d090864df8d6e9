//! `client-bench`: the room view with a long history, in headless Chromium, against the
//! real release build and a real mock-server holding `--messages` messages (10,000 by
//! default). What it measures is what a reader waits for:
//!
//! - **open**: from navigation (a reload of the room, cache warm) until the newest
//!   message is inside the timeline's visible box (median of `--rounds`);
//! - **older pages**: from scrolling to the top until the rows above are rendered and the
//!   view corrected (the next frame), for every page up to the first message, reported
//!   near the newest and at the deepest 1,000 rows;
//! - **main-thread tasks** over 100 ms (Long Tasks API) while scrolling through all of it
//!   and while receiving 50 messages/s for 10 s at the bottom;
//! - **tab memory** after scrolling through everything: the JS heap (DevTools
//!   `Performance.getMetrics`) plus the wasm linear memory, and the DOM's nodes.
//!
//! `--pause-ms` waits between pages as a reader would (the app fetches a page ahead).
//! `--dist DIR` measures another build of the SPA (e.g. an older commit's) the same way.
//!
//! ```text
//! trunk build --release
//! cargo build --release -p cloakroom-mock-server -p cloakroom-bench
//! target/release/client-bench                    # --messages 10000 --rounds 3
//! ```

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use fantoccini::Client;
use testkit::app::{dist_dir, join_room};
use testkit::browser::{Driver, cdp, wait_for_text};
use testkit::client::{self, Member};
use testkit::server::{ServerOptions, ServerProcess};

#[derive(Parser)]
#[command(about = "Opening, paging through and receiving in a long room, in headless Chromium")]
struct Args {
    /// Messages in the room.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// Reloads timed for "open" (the median counts).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// A reader's pause between pages (0: fling through as fast as rows appear).
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// The SPA build to serve (default: dist/).
    #[arg(long)]
    dist: Option<PathBuf>,
}

/// Keeps every main-thread task over 50 ms (the Long Tasks API's threshold).
const RECORD_LONG_TASKS: &str = "window.__longTasks = [];
    new PerformanceObserver(list => list.getEntries().forEach(e => window.__longTasks.push(e.duration)))
        .observe({ type: 'longtask', buffered: true });";

/// The scroller: `#timeline` in this build, `#messages` in builds before it.
const SCROLLER: &str = "const t = document.getElementById('timeline') || document.getElementById('messages');";

/// Resolves with `performance.now()` at the first frame where the row showing
/// `arguments[0]` is wholly inside the timeline's visible box.
const WHEN_VISIBLE: &str = "const done = arguments[arguments.length - 1];
    const want = arguments[0];
    const check = () => {
        const t = document.getElementById('timeline') || document.getElementById('messages');
        if (t) {
            const box = t.getBoundingClientRect();
            // The newest message row (the bench's own \"joined\" line comes after it).
            const texts = t.querySelectorAll('li[data-key] .message-text');
            const text = texts[texts.length - 1];
            const last = text && text.closest('li[data-key]');
            if (text && text.textContent.trim() === want) {
                const r = last.getBoundingClientRect();
                if (r.top >= box.top - 1 && r.bottom <= box.bottom + 1) { done(performance.now()); return; }
            }
        }
        requestAnimationFrame(check);
    };
    check();";

/// Scrolls to the top; resolves with the ms until the first frame after older rows were
/// rendered above, the rows then in the DOM, and the first rendered message's text.
fn page_up_script() -> String {
    format!(
        "const done = arguments[arguments.length - 1];
        {SCROLLER}
        const firstKey = () => {{ const r = t.querySelector('li[data-key]'); return r ? r.dataset.key : null; }};
        const before = firstKey();
        const t0 = performance.now();
        t.scrollTop = 0;
        const check = () => {{
            if (firstKey() !== before) {{
                requestAnimationFrame(() => {{
                    const first = t.querySelector('li[data-key] .message-text');
                    done([performance.now() - t0, t.querySelectorAll('li[data-key]').length,
                        first ? first.textContent.trim() : '']);
                }});
                return;
            }}
            if (performance.now() - t0 > 60000) {{ done(null); return; }}
            requestAnimationFrame(check);
        }};
        requestAnimationFrame(check);"
    )
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

async fn long_tasks(c: &Client, clear: bool) -> Vec<f64> {
    let script = if clear {
        "const t = window.__longTasks || []; window.__longTasks = []; return t;"
    } else {
        "return window.__longTasks || [];"
    };
    let v = c.execute(script, vec![]).await.expect("long tasks");
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default()
}

async fn tab_memory(c: &Client) -> (f64, f64, f64) {
    cdp(c, "Performance.enable", serde_json::json!({})).await;
    cdp(c, "HeapProfiler.collectGarbage", serde_json::json!({})).await;
    let metrics = cdp(c, "Performance.getMetrics", serde_json::json!({})).await;
    let metric = |name: &str| {
        metrics["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|x| x["name"] == name))
            .and_then(|x| x["value"].as_f64())
            .unwrap_or(0.0)
    };
    let wasm = c
        .execute("return window.wasmBindings.wasmMemoryBytes ? window.wasmBindings.wasmMemoryBytes() : 0", vec![])
        .await
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    (metric("JSHeapUsedSize"), wasm, metric("Nodes"))
}

fn summary(tasks: &[f64]) -> String {
    let max = tasks.iter().copied().fold(0.0, f64::max);
    let over = tasks.iter().filter(|&&t| t > 100.0).count();
    format!("{} tasks > 50 ms, {over} > 100 ms, longest {max:.0} ms", tasks.len())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let n = args.messages;
    let data = tempfile::tempdir().expect("data dir");
    let mut options =
        ServerOptions::new(data.path()).arg("--rate-per-second").arg("1000000").arg("--rate-burst").arg("1000000");
    options.static_dir = Some(args.dist.clone().unwrap_or_else(dist_dir));
    let server = ServerProcess::start(options);
    let base = server.http_base();
    let room = client::create_room(&base, &server.options.admin_secret).await;
    let mut owner = Member::join(&server.ws_base(), &room.id, room.owner.clone()).await.expect("owner joins");
    owner.send_burst(&room.key, "p", n, 256).await;
    let link = format!("{base}/r/{}#{}", room.id, room.key.to_b64());
    let newest = format!("message {} of p", n - 1);

    let driver = Driver::chromium().await;
    let browser = driver.session().await;
    let c = browser.client.clone();
    let outcome = tokio::spawn(async move {
        cdp(&c, "Page.addScriptToEvaluateOnNewDocument", serde_json::json!({ "source": RECORD_LONG_TASKS })).await;
        join_room(&c, &link, "Bench").await;
        wait_for_text(&c, ".message-text", &newest).await;
        // The recorder sees a 120 ms task (else its zeros below would mean nothing).
        long_tasks(&c, true).await;
        let busy = "setTimeout(() => { const end = performance.now() + 120; while (performance.now() < end) {} }, 0);";
        c.execute(busy, vec![]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let probe = long_tasks(&c, true).await;
        assert!(probe.iter().any(|&t| t >= 100.0), "the Long Tasks recorder saw no 120 ms task: {probe:?}");

        let mut opens = Vec::new();
        for _ in 0..args.rounds.max(1) {
            c.refresh().await.expect("reload the room");
            let at = c.execute_async(WHEN_VISIBLE, vec![newest.clone().into()]).await.expect("newest visible");
            opens.push(at.as_f64().unwrap_or(f64::NAN));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        long_tasks(&c, true).await;

        // Scroll up through everything, a page at a time.
        let script = page_up_script();
        let mut pages: Vec<(usize, f64)> = Vec::new();
        let mut most_rows = 0;
        let mut depth = 0;
        loop {
            let r = c.execute_async(&script, vec![]).await.expect("page up");
            let Some(r) = r.as_array() else { panic!("no older rows appeared after {depth} rows") };
            let (ms, rows) = (r[0].as_f64().unwrap(), r[1].as_u64().unwrap() as usize);
            // "message K of p": K messages are older than the first one shown.
            let first: usize = r[2].as_str().and_then(|t| t.split(' ').nth(1)?.parse().ok()).unwrap_or(0);
            depth = n - first;
            pages.push((depth, ms));
            most_rows = most_rows.max(rows);
            if first == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
        }
        let scroll_tasks = long_tasks(&c, true).await;
        let (heap, wasm, nodes) = tab_memory(&c).await;

        // Back at the bottom, 50 messages/s for 10 s.
        c.execute(&format!("{SCROLLER} t.scrollTop = t.scrollHeight;"), vec![]).await.expect("to the bottom");
        if let Ok(button) = c.find(fantoccini::Locator::Css("#jump-to-latest")).await {
            let _ = button.click().await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        long_tasks(&c, true).await;
        for batch in 0..50 {
            owner.send_burst(&room.key, &format!("live{batch}"), 10, 10).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let last = "message 9 of live49".to_owned();
        let followed = c.execute_async(WHEN_VISIBLE, vec![last.into()]).await.is_ok();
        let live_tasks = long_tasks(&c, false).await;
        (opens, pages, most_rows, scroll_tasks, heap, wasm, nodes, followed, live_tasks)
    })
    .await;
    browser.close().await;
    let (opens, pages, most_rows, scroll_tasks, heap, wasm, nodes, followed, live_tasks) =
        outcome.expect("the bench ran");

    let near: Vec<f64> = pages.iter().filter(|(d, _)| *d <= 1000).map(|p| p.1).collect();
    let deep: Vec<f64> = pages.iter().filter(|(d, _)| *d + 1000 > n).map(|p| p.1).collect();
    let all: Vec<f64> = pages.iter().map(|p| p.1).collect();
    let mib = |b: f64| b / 1024.0 / 1024.0;
    println!("client-bench: {n} messages, {} older pages, {} ms between pages", pages.len(), args.pause_ms);
    println!("| measure | result |");
    println!("|---|---:|");
    println!(
        "| open (reload) → newest message visible, median of {} | {:.0} ms |",
        opens.len(),
        percentile(&opens, 0.5)
    );
    println!(
        "| older page, first 1,000 rows: median / max | {:.0} / {:.0} ms |",
        percentile(&near, 0.5),
        percentile(&near, 1.0)
    );
    println!(
        "| older page, deepest 1,000 rows: median / max | {:.0} / {:.0} ms |",
        percentile(&deep, 0.5),
        percentile(&deep, 1.0)
    );
    println!("| older page, all: p95 | {:.0} ms |", percentile(&all, 0.95));
    println!("| rows in the DOM at most | {most_rows} |");
    println!("| main thread while scrolling through all | {} |", summary(&scroll_tasks));
    println!(
        "| main thread while receiving 50 msgs/s for 10 s | {} (view followed: {followed}) |",
        summary(&live_tasks)
    );
    println!(
        "| tab memory after scrolling through all: JS heap + wasm | {:.1} + {:.1} = {:.1} MiB ({nodes:.0} DOM nodes) |",
        mib(heap),
        mib(wasm),
        mib(heap + wasm)
    );
}
