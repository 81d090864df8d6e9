//! Headless Chromium over WebDriver (chromedriver + fantoccini).
//!
//! chromedriver runs in its own process group; dropping [`ChromeDriver`] kills the whole
//! group, Chromium included, so no browser outlives a test even when it panics.
//! [`with_browsers`] closes every WebDriver session on every path before the panic (if
//! any) continues.

use std::future::Future;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::panic::AssertUnwindSafe;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use hyper_util::client::legacy::connect::HttpConnector;
use tempfile::TempDir;

/// The Chromium binary (Debian's package).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A chromedriver process.
pub struct ChromeDriver {
    child: Child,
    port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl ChromeDriver {
    /// Starts chromedriver on a free loopback port and waits until it answers.
    pub async fn start() -> Self {
        let port = free_port();
        let child = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver is installed (scripts/setup)");
        let driver = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/status")).await
                && r.status().is_success()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }

    /// A new browser with its own empty profile (independent storage).
    pub async fn session(&self) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1200,900".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": CHROMIUM, "args": args }));
        let mut last_error = None;
        for _ in 0..3 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{}", self.port))
                .await
            {
                Ok(client) => {
                    record_csp_violations(&client).await;
                    return Browser { client, _profile: profile };
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("cannot start a Chromium session: {last_error:?}");
    }
}

impl ChromeDriver {
    /// The process group of chromedriver and every browser it starts.
    pub fn process_group(&self) -> u32 {
        self.child.id()
    }
}

/// What the processes of `group` hold in RAM, in bytes: the sum of their proportional set
/// sizes (a page shared by n processes counts 1/n in each), so the browsers' real memory.
pub fn group_memory_bytes(group: u32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else { continue };
        // SAFETY: getpgid(2) only reads the process table.
        if unsafe { libc::getpgid(pid) } != group as libc::pid_t {
            continue;
        }
        let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
        let pss_kib = rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        total += pss_kib.unwrap_or(0) * 1024;
    }
    total
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created for chromedriver.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// One browser session and its profile directory.
pub struct Browser {
    pub client: Client,
    _profile: TempDir,
}

/// Runs `test` with `n` fresh browsers and closes every session afterwards, also when
/// `test` panics (the panic then continues); returns what `test` returns. A test that passes still fails if a page
/// broke the Content-Security-Policy (see [`csp_violations`]).
pub async fn with_browsers<F, Fut, T>(driver: &ChromeDriver, n: usize, test: F) -> T
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: Future<Output = T>,
{
    let mut browsers = Vec::new();
    for _ in 0..n {
        browsers.push(driver.session().await);
    }
    let clients: Vec<Client> = browsers.iter().map(|b| b.client.clone()).collect();
    let outcome = AssertUnwindSafe(test(clients)).catch_unwind().await;
    let mut violations = Vec::new();
    if outcome.is_ok() {
        for b in &browsers {
            match csp_violations(&b.client).await {
                Ok(seen) => violations.extend(seen),
                Err(why) => violations.push(why),
            }
        }
    }
    for b in browsers {
        let _ = b.client.close().await;
    }
    let result = outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert!(violations.is_empty(), "the pages broke their Content-Security-Policy: {violations:?}");
    result
}

/// Where [`record_csp_violations`] keeps what it saw (per tab and origin).
const CSP_LOG: &str = "cloakroomTestCspViolations";

/// From now on, every page this tab opens records its Content-Security-Policy violations
/// in sessionStorage, so they survive reloads and navigations within the app.
pub async fn record_csp_violations(client: &Client) {
    let source = format!(
        "document.addEventListener('securitypolicyviolation', (e) => {{
             try {{
                 const seen = JSON.parse(sessionStorage.getItem('{CSP_LOG}') || '[]');
                 seen.push(`${{e.effectiveDirective}} blocked ${{e.blockedURI || 'inline code'}} in ${{e.sourceFile}}:${{e.lineNumber}}`);
                 sessionStorage.setItem('{CSP_LOG}', JSON.stringify(seen));
             }} catch (_) {{}}
         }});"
    );
    cdp(client, "Page.addScriptToEvaluateOnNewDocument", serde_json::json!({ "source": source })).await;
}

/// The Content-Security-Policy violations the current origin's pages in this tab recorded,
/// or why the record cannot be read (a page without storage, a lost session): a check that
/// cannot look must not pass.
pub async fn csp_violations(client: &Client) -> Result<Vec<String>, String> {
    let script = format!(
        "try {{ return JSON.parse(sessionStorage.getItem('{CSP_LOG}') || '[]'); }}
         catch (e) {{ return {{ unreadable: location.href + ': ' + e }}; }}"
    );
    let seen = client.execute(&script, vec![]).await.map_err(|e| format!("cannot read the CSP record: {e}"))?;
    if let Some(why) = seen.get("unreadable") {
        return Err(format!("cannot read the CSP record: {why}"));
    }
    Ok(seen.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect())
}

/// Waits until `css` matches an element.
pub async fn wait_for(client: &Client, css: &str) -> Element {
    client
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element matches {css}: {e}"))
}

/// Waits until some element matching `css` has text containing `needle`; returns its text.
pub async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for el in client.find_all(Locator::Css(css)).await.unwrap_or_default() {
            if let Ok(text) = el.text().await
                && text.contains(needle)
            {
                return text;
            }
        }
        if Instant::now() > deadline {
            let seen = texts(client, css).await;
            panic!("no {css} contains {needle:?} (seen: {seen:?})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The texts of every element matching `css`.
pub async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for el in client.find_all(Locator::Css(css)).await.unwrap_or_default() {
        out.push(el.text().await.unwrap_or_default());
    }
    out
}

/// Waits until an element matching `css` has `attribute` equal to `value`.
pub async fn wait_for_attr(client: &Client, css: &str, attribute: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(el) = client.find(Locator::Css(css)).await
            && el.attr(attribute).await.ok().flatten().as_deref() == Some(value)
        {
            return;
        }
        if Instant::now() > deadline {
            panic!("{css} never had {attribute}={value:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types into the element matching `css` (clearing it first).
pub async fn fill(client: &Client, css: &str, text: &str) {
    let el = wait_for(client, css).await;
    el.clear().await.expect("clear input");
    el.send_keys(text).await.expect("type into input");
}

/// Clicks the element matching `css`.
pub async fn click(client: &Client, css: &str) {
    wait_for(client, css).await.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// A Chrome DevTools Protocol command sent through chromedriver.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Runs a DevTools command (e.g. `Storage.clearDataForOrigin`).
pub async fn cdp(client: &Client, cmd: &str, params: serde_json::Value) -> serde_json::Value {
    client.issue_cmd(Cdp { cmd: cmd.into(), params }).await.unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
}

/// Cuts this browser off the network (every request fails, as with a dropped Wi-Fi) or
/// reconnects it.
pub async fn set_offline(client: &Client, offline: bool) {
    cdp(client, "Network.enable", serde_json::json!({})).await;
    let conditions = serde_json::json!({
        "offline": offline, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1,
    });
    cdp(client, "Network.emulateNetworkConditions", conditions).await;
}

/// Clears everything the browser keeps for `origin`: storage, IndexedDB, caches, service
/// workers, cookies — like "Clear site data".
pub async fn clear_site_data(client: &Client, origin: &str) {
    cdp(client, "Storage.clearDataForOrigin", serde_json::json!({ "origin": origin, "storageTypes": "all" })).await;
}

/// Runs axe-core on the current page and returns the serious and critical violations
/// (as "rule: description (n nodes)").
pub async fn accessibility_violations(client: &Client) -> Vec<String> {
    let axe = crate::workspace_root().join(".tools/node_modules/axe-core/axe.min.js");
    let source =
        std::fs::read_to_string(&axe).unwrap_or_else(|_| panic!("{} is missing: run scripts/setup", axe.display()));
    client.execute(&source, vec![]).await.expect("inject axe-core");
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations.map(v =>
                 ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))));",
            vec![],
        )
        .await
        .expect("run axe-core");
    result
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| format!("{}: {} ({} nodes, e.g. {})", v["id"], v["help"], v["nodes"], v["targets"]))
        .collect()
}

/// Whether the first element matching `css` is shown to the user: rendered (not
/// `display: none` or `visibility: hidden`), with some area, and inside the viewport.
pub async fn in_viewport(client: &Client, css: &str) -> bool {
    let script = "const el = document.querySelector(arguments[0]);
        if (!el) return false;
        const style = getComputedStyle(el);
        if (style.display === 'none' || style.visibility === 'hidden') return false;
        const r = el.getBoundingClientRect();
        return r.width > 0 && r.height > 0 && r.bottom > 0 && r.right > 0
            && r.top < window.innerHeight && r.left < window.innerWidth;";
    client.execute(script, vec![serde_json::json!(css)]).await.ok().and_then(|v| v.as_bool()).unwrap_or(false)
}

/// Waits (up to `timeout`) until at least `n` elements match `css`.
pub async fn wait_for_count(client: &Client, css: &str, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let found = client.find_all(Locator::Css(css)).await.map(|v| v.len()).unwrap_or(0);
        if found >= n {
            return;
        }
        if Instant::now() > deadline {
            panic!("{css} matched {found} elements, not {n}, within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Saves this browser's downloads into `dir` (without asking).
pub async fn allow_downloads(client: &Client, dir: &std::path::Path) {
    let params = serde_json::json!({ "behavior": "allow", "downloadPath": dir.display().to_string() });
    cdp(client, "Page.setDownloadBehavior", params).await;
}

/// Waits (up to `timeout`) until `dir/name` is completely downloaded; returns its bytes.
pub async fn wait_for_download(dir: &std::path::Path, name: &str, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let path = dir.join(name);
    loop {
        let partial = crate::scan::files_under(dir).iter().any(|p| p.extension().is_some_and(|e| e == "crdownload"));
        if path.is_file() && !partial {
            return std::fs::read(&path).expect("read the download");
        }
        if Instant::now() > deadline {
            panic!(
                "{} was not downloaded within {timeout:?} (dir has {:?})",
                path.display(),
                crate::scan::files_under(dir)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where the message list stands, measured after two animation frames (so the app's own
/// scroll corrections, which run before a paint, are done).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TimelineView {
    /// px from the bottom of the scrolled content.
    pub from_bottom: f64,
    /// The newest rendered message is wholly inside the visible part of the timeline.
    pub newest_in_view: bool,
    /// `data-id` of the top visible message and its distance (px) from the timeline's top.
    pub anchor: Option<(String, f64)>,
    /// `data-id` of the first rendered message.
    pub first: Option<String>,
    /// Message rows in the DOM.
    pub rows: usize,
    /// The text of the "jump to latest" button, if it shows.
    pub jump: Option<String>,
    /// The rows' server keys are strictly increasing (the order the server gave).
    pub ordered: bool,
}

/// Measures the message list (see [`TimelineView`]); `id` names a row whose offset from
/// the timeline's top is reported as the anchor instead of the top visible one.
pub async fn timeline_view(client: &Client, id: Option<&str>) -> TimelineView {
    let script = "const done = arguments[arguments.length - 1];
        const pin = arguments[0];
        requestAnimationFrame(() => requestAnimationFrame(() => {
            const t = document.getElementById('timeline');
            if (!t) { done(null); return; }
            const box = t.getBoundingClientRect();
            const rows = [...t.querySelectorAll('#messages > li[data-id]')];
            const last = rows[rows.length - 1];
            const lr = last && last.getBoundingClientRect();
            const top = pin ? rows.find(r => r.dataset.id === pin) : rows.find(r => r.getBoundingClientRect().bottom > box.top);
            const keys = rows.map(r => r.dataset.key).filter(k => k);
            const jump = document.getElementById('jump-to-latest');
            done({
                from_bottom: t.scrollHeight - t.scrollTop - t.clientHeight,
                newest_in_view: !!last && lr.top >= box.top - 1 && lr.bottom <= box.bottom + 1
                    && box.bottom <= window.innerHeight + 1 && box.height > 0,
                anchor: top ? [top.dataset.id, top.getBoundingClientRect().top - box.top] : null,
                first: rows.length ? rows[0].dataset.id : null,
                rows: rows.length,
                jump: jump ? jump.textContent : null,
                ordered: keys.every((k, i) => i === 0 || keys[i - 1] < k),
            });
        }));";
    let value = client.execute_async(script, vec![serde_json::json!(id)]).await.expect("measure the timeline");
    serde_json::from_value(value).expect("a timeline to measure")
}

/// What a reader sees right after scrolling, before the app reacts: the top visible
/// row (`data-id`, px from the timeline's top) and the first rendered row.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Scrolled {
    pub anchor: (String, f64),
    pub first: String,
}

/// Scrolls the message list by `dy` px (to the top when `None`), as a reader would, and
/// measures at once (in the same task, so no scroll handler has run yet).
pub async fn scroll_timeline(client: &Client, dy: Option<i64>) -> Scrolled {
    let script = "const t = document.getElementById('timeline');
        if (arguments[0] === null) { t.scrollTop = 0; } else { t.scrollTop += arguments[0]; }
        const box = t.getBoundingClientRect();
        const rows = [...t.querySelectorAll('#messages > li[data-id]')];
        const top = rows.find(r => r.getBoundingClientRect().bottom > box.top);
        return { anchor: [top.dataset.id, top.getBoundingClientRect().top - box.top], first: rows[0].dataset.id };";
    let value = client.execute(script, vec![serde_json::json!(dy)]).await.expect("scroll the timeline");
    serde_json::from_value(value).expect("rows to scroll")
}

/// Waits (up to 1 s: the app puts it there before the next paint) until the newest
/// message is in view; panics with what was seen.
pub async fn wait_newest_in_view(client: &Client, context: &str) {
    let mut seen = None;
    for _ in 0..10 {
        let view = timeline_view(client, None).await;
        if view.newest_in_view {
            return;
        }
        seen = Some(view);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{context}: the newest message is not in view: {seen:?}");
}
