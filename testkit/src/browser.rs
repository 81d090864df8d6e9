//! Driving browsers over WebDriver (fantoccini): the same helpers for Chromium, Firefox
//! and WebKit ([`crate::engine`] starts them). Where Chromium's DevTools do a job more
//! directly (clearing site data, saving downloads), the other engines get the same result
//! another way; a slow or dropped network is a [`crate::link::Link`] in every engine.
//!
//! [`with_browsers`] closes every WebDriver session on every path before the panic (if
//! any) continues, and fails a test whose pages broke their Content-Security-Policy.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use futures_util::FutureExt;

pub use crate::engine::{Browser, Driver, Engine, SessionOptions, engine_of};

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

/// Runs `test` with `n` fresh browsers and closes every session afterwards, also when
/// `test` panics (the panic then continues); returns what `test` returns. A test that passes still fails if a page
/// broke the Content-Security-Policy (see [`csp_violations`]).
pub async fn with_browsers<F, Fut, T>(driver: &Driver, n: usize, test: F) -> T
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: Future<Output = T>,
{
    let mut browsers = Vec::new();
    for _ in 0..n {
        browsers.push(driver.session().await);
    }
    with_sessions(browsers, test).await
}

/// [`with_browsers`] for sessions already started (several engines in one test).
pub async fn with_sessions<F, Fut, T>(browsers: Vec<Browser>, test: F) -> T
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: Future<Output = T>,
{
    let clients: Vec<Client> = browsers.iter().map(|b| b.client.clone()).collect();
    let outcome = AssertUnwindSafe(test(clients)).catch_unwind().await;
    if outcome.is_err() {
        for (i, b) in browsers.iter().enumerate() {
            eprintln!("browser {i} when the test failed: {}", page_summary(&b.client).await);
        }
    }
    let mut violations = Vec::new();
    if outcome.is_ok() {
        // Reports travel on their own request: give the last ones a moment to arrive.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for b in &browsers {
            match csp_violations(&b.client).await {
                Ok(seen) => violations.extend(seen),
                Err(why) => violations.push(why),
            }
        }
    }
    for b in browsers {
        b.close().await;
    }
    let result = outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert!(violations.is_empty(), "the pages broke their Content-Security-Policy: {violations:?}");
    result
}

/// What a page shows, for a failing test's output: its address, its connection state and
/// the start of its visible text (a CI log must say why a wait never ended).
pub async fn page_summary(client: &Client) -> String {
    let script = "const s = document.getElementById('connection-status'); \
        return [location.href, s ? (s.dataset.status || '') + ' ' + s.textContent : 'no status', \
        (document.body ? document.body.innerText : '').slice(0, 1200)]";
    match client.execute(script, vec![]).await.map(serde_json::from_value::<(String, String, String)>) {
        Ok(Ok((url, status, text))) => format!("{url}\n  status: {status}\n  text: {}", text.replace('\n', " | ")),
        Ok(Err(e)) => format!("unreadable page summary: {e}"),
        Err(e) => format!("the page could not be read: {e}"),
    }
}

/// The Content-Security-Policy violations pages of the origin `client` is on reported
/// (every test server names [`crate::csp_reports`] in its policy), or why that origin
/// cannot be told (a lost session): a check that cannot look must not pass.
pub async fn csp_violations(client: &Client) -> Result<Vec<String>, String> {
    let origin = page_origin(client).await?;
    Ok(crate::csp_reports::seen(&origin))
}

/// The origin of the page `client` shows (`http://127.0.0.1:port`).
pub async fn page_origin(client: &Client) -> Result<String, String> {
    let url = client.current_url().await.map_err(|e| format!("cannot read the page's address: {e}"))?;
    Ok(url.origin().ascii_serialization())
}

/// Presses Shift+Enter in the focused element (a new line in the composer). Through
/// WebDriver actions, which every engine's driver handles the same way; modifier keys
/// inside a typed string (Shift, then NULL to let go) are not handled alike.
pub async fn shift_enter(client: &Client) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    use fantoccini::key::Key;
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: Key::Shift.into() })
        .then(KeyAction::Down { value: Key::Enter.into() })
        .then(KeyAction::Up { value: Key::Enter.into() })
        .then(KeyAction::Up { value: Key::Shift.into() });
    client.perform_actions(keys).await.expect("press Shift+Enter");
    client.release_actions().await.expect("release the keys");
}

/// Reloads the page the way a person does (F5, the reload button): through the service
/// worker, so an offline reload gets the cached app. (WebDriver's Refresh does not do this
/// in every engine: Firefox's skips the service worker, which no person's reload does.)
/// Returns once the new page has loaded.
pub async fn reload(client: &Client) {
    client
        .execute("window.cloakroomTestBeforeReload = true; setTimeout(() => location.reload(), 0);", vec![])
        .await
        .expect("ask the page to reload");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let fresh = client
            .execute("return !window.cloakroomTestBeforeReload && document.readyState === 'complete'", vec![])
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if fresh {
            return;
        }
        assert!(Instant::now() < deadline, "the page did not reload within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `css` matches an element. Any failed lookup is tried again until the
/// deadline, not only "no such element": WebKitWebDriver answers "stale element" when the
/// matching node is replaced while it is being found (a re-render), which is as transient.
pub async fn wait_for(client: &Client, css: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match client.find(Locator::Css(css)).await {
            Ok(element) => return element,
            Err(e) if Instant::now() >= deadline => panic!("no element matches {css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Waits until some element matching `css` has text containing `needle`; returns its text.
pub async fn wait_for_text(client: &Client, css: &str, needle: &str) -> String {
    wait_for_text_within(client, css, needle, Duration::from_secs(30)).await
}

/// [`wait_for_text`] with its own deadline, for what is meant to take longer (a timeout).
pub async fn wait_for_text_within(client: &Client, css: &str, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
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
        let mut seen = None;
        if let Ok(el) = client.find(Locator::Css(css)).await {
            seen = el.attr(attribute).await.ok().flatten();
            if seen.as_deref() == Some(value) {
                return;
            }
        }
        if Instant::now() > deadline {
            panic!("{css} never had {attribute}={value:?} (last seen: {seen:?})");
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

/// Clicks the element matching `css`, after scrolling it into the middle of its
/// scrolling boxes as a person would (WebKit's driver scrolls only the page itself, so a
/// button inside a scrolled panel would be out of reach), and after it has stopped
/// moving: a person does not click a button while the page is still settling, and
/// WebKit sends a click whose target moved between mouse down and up to the common
/// ancestor instead (the scroll can make the timeline re-window its rows).
pub async fn click(client: &Client, css: &str) {
    let el = wait_for(client, css).await;
    if let Ok(arg) = serde_json::to_value(&el) {
        let _ = client
            .execute("arguments[0].scrollIntoView({ block: 'center', inline: 'nearest' })", vec![arg.clone()])
            .await;
        let _ = client.execute_async(SETTLED, vec![arg]).await;
    }
    el.click().await.unwrap_or_else(|e| panic!("click {css}: {e:?}"));
}

/// Resolves once the element's box has been the same for three animation frames in a
/// row (or after a second, whichever is first).
const SETTLED: &str = r#"
const [el, done] = arguments;
let last = '', same = 0;
const step = () => {
  const r = el.getBoundingClientRect();
  const now = `${r.x},${r.y},${r.width},${r.height}`;
  same = now === last ? same + 1 : 0;
  last = now;
  if (same >= 3 || !el.isConnected) { done(); } else { requestAnimationFrame(step); }
};
requestAnimationFrame(step);
setTimeout(done, 1000); // a window that paints no frames (hidden) still goes on
"#;

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
/// Chromium only: any other engine stops the test here, saying so.
pub async fn cdp(client: &Client, cmd: &str, params: serde_json::Value) -> serde_json::Value {
    let engine = engine_of(client).await;
    assert!(engine.has_devtools(), "the DevTools command {cmd} needs Chromium, and {} has no DevTools", engine.name());
    client.issue_cmd(Cdp { cmd: cmd.into(), params }).await.unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
}

/// Clears everything the browser keeps for `origin`: storage, IndexedDB, caches, service
/// workers, cookies — like "Clear site data". Chromium does it through DevTools; Firefox
/// and WebKit from a document of the origin that does not run the app (its icon), with
/// the web's own APIs, and check that nothing is left.
pub async fn clear_site_data(client: &Client, origin: &str) {
    if engine_of(client).await.has_devtools() {
        cdp(client, "Storage.clearDataForOrigin", serde_json::json!({ "origin": origin, "storageTypes": "all" })).await;
        return;
    }
    // A text or JSON page would do, but WebKit styles its viewer inline, which the policy
    // blocks (and reports); the app's icon is an image document with nothing inline.
    let index = reqwest::get(format!("{origin}/")).await.expect("GET /").text().await.expect("index.html");
    let icon =
        index.split('"').find(|s| s.starts_with("/favicon") && s.ends_with(".svg")).expect("index.html names its icon");
    let script = "const done = arguments[arguments.length - 1];
        (async () => {
            localStorage.clear();
            sessionStorage.clear();
            for (const c of document.cookie.split(';')) {
                const name = c.split('=')[0].trim();
                if (name) document.cookie = name + '=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
            }
            for (const r of await navigator.serviceWorker.getRegistrations()) await r.unregister();
            for (const name of await caches.keys()) await caches.delete(name);
            for (const db of await indexedDB.databases()) {
                await new Promise((ok, fail) => {
                    const rq = indexedDB.deleteDatabase(db.name);
                    rq.onsuccess = ok;
                    rq.onerror = () => fail(rq.error);
                    rq.onblocked = () => fail(new Error('database ' + db.name + ' is still open'));
                });
            }
            const left = (await indexedDB.databases()).length + (await caches.keys()).length
                + localStorage.length + (await navigator.serviceWorker.getRegistrations()).length;
            return left === 0 ? 'cleared' : 'left ' + left + ' things';
        })().then(done, (e) => done('failed: ' + e));";
    // A service worker that was still installing when it was unregistered may write its
    // cache after the clearing (and it still controls the page it was unregistered from):
    // open the icon again, no longer controlled, and clear once more, until nothing is left.
    let mut outcome = serde_json::Value::Null;
    for _ in 0..4 {
        client.goto(&format!("{origin}{icon}")).await.expect("open a document of the origin without the app");
        outcome = client.execute_async(script, vec![]).await.expect("clear site data");
        if outcome.as_str() == Some("cleared") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(outcome.as_str(), Some("cleared"), "clearing {origin}'s data");
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

/// Saves this browser's downloads into `dir` (without asking). Chromium is told through
/// DevTools; Firefox and WebKit save into a folder set when they started, which is a link
/// that now points at `dir`.
pub async fn allow_downloads(client: &Client, dir: &std::path::Path) {
    match crate::engine::downloads_link(client).await {
        None => {
            let params = serde_json::json!({ "behavior": "allow", "downloadPath": dir.display().to_string() });
            cdp(client, "Page.setDownloadBehavior", params).await;
        }
        Some(link) => {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(dir, &link).expect("point the downloads folder at the test's");
        }
    }
}

/// Whether `path` is an engine's file for a download still under way.
fn partial_download(path: &std::path::Path) -> bool {
    // Chromium: .crdownload; Firefox: .part; WebKit: .wkdownload (and a "name.download" folder).
    path.extension().is_some_and(|e| e == "crdownload" || e == "part" || e == "wkdownload" || e == "download")
}

/// Waits (up to `timeout`) until `dir/name` is completely downloaded; returns its bytes.
pub async fn wait_for_download(dir: &std::path::Path, name: &str, timeout: Duration) -> Vec<u8> {
    let deadline = Instant::now() + timeout;
    let path = dir.join(name);
    // WebKit writes under the final name as it goes: complete also means the size has
    // stayed the same for a second (the app hands over a finished Blob, so saving it
    // never pauses that long).
    let mut last: Option<(u64, Instant)> = None;
    loop {
        let partial = crate::scan::files_under(dir).iter().any(|p| partial_download(p));
        let size = std::fs::metadata(&path).ok().filter(|m| m.is_file()).map(|m| m.len());
        match (size, last) {
            (Some(now), Some((before, since))) if now == before => {
                if !partial && since.elapsed() >= Duration::from_secs(1) {
                    return std::fs::read(&path).expect("read the download");
                }
            }
            (Some(now), _) => last = Some((now, Instant::now())),
            (None, _) => last = None,
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
