//! The Content-Security-Policy every response carries.
//!
//! An end-to-end encrypted app is only as safe as the code the page runs, so the policy
//! allows scripts from this origin only, plus the one inline bootstrap `<script>` Trunk
//! writes into `index.html` — allowed by its SHA-256, never by `'unsafe-inline'` — and
//! WebAssembly compilation (`'wasm-unsafe-eval'`, not `'unsafe-eval'`). Network access is
//! limited to this origin (API, room WebSockets), images and media to this origin plus the
//! `blob:`/`data:` URLs the client makes for decrypted thumbnails and previews; no plugins,
//! no `<base>`, and no other site may frame the app. The policy is documented in
//! docs/ARCHITECTURE.md ("Hardening").
//!
//! The hashes come from the built `index.html` and are computed again whenever that file
//! changes on disk, so rebuilding the SPA while the server runs does not break the page;
//! responses that are not HTML pages get the same policy without them.
//!
//! With `--csp-report-uri`, the policy also names where browsers report what it blocked
//! (`report-uri`, which Chromium, Firefox and WebKit all send): a deployment hears of an
//! injection attempt or a broken build, and the end-to-end tests fail on any violation in
//! every engine from the same reports.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub use api_core::csp::{parse_report_uri, policy_for};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// When a file was last written, and how long it was then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: SystemTime,
    len: u64,
}

/// The policy headers: for the SPA's page, kept in step with its `index.html`; for every
/// other response (API answers, scripts, the service worker), the same policy without any
/// inline script.
pub struct ContentSecurityPolicy {
    index_html: Option<PathBuf>,
    report_uri: Option<String>,
    strict: HeaderValue,
    page: Mutex<Option<(Stamp, HeaderValue)>>,
}

impl ContentSecurityPolicy {
    /// `index_html` is `None` when the server serves no SPA (API only; `trunk serve` then
    /// serves the pages); `report_uri` has passed [`parse_report_uri`].
    pub fn new(index_html: Option<PathBuf>, report_uri: Option<String>) -> Self {
        let strict =
            HeaderValue::from_str(&policy_for("", report_uri.as_deref())).expect("the fixed policy is a valid header");
        Self { index_html, report_uri, strict, page: Mutex::new(None) }
    }

    /// The header for `response`: only an HTML page needs (and costs) the page's hashes.
    /// A 304 gets them too: it carries no type, and the browser replaces the cached page's
    /// headers with its own (the strict policy would then block the page's bootstrap).
    pub fn header_for(&self, response: &Response) -> HeaderValue {
        let html = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        if html || response.status() == StatusCode::NOT_MODIFIED { self.page_header() } else { self.strict.clone() }
    }

    /// The page's policy. It is cached only when it surely matches the file on disk: read
    /// whole (the length it had when stat'ed) and not written in the last second (a
    /// rewrite within the same timestamp tick would go unnoticed). Failures are not cached.
    fn page_header(&self) -> HeaderValue {
        let Some(path) = &self.index_html else { return self.strict.clone() };
        let Ok(meta) = std::fs::metadata(path) else { return self.strict.clone() };
        let Ok(modified) = meta.modified() else { return self.strict.clone() };
        let stamp = Stamp { modified, len: meta.len() };
        let mut page = self.page.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, value)) = page.as_ref()
            && *at == stamp
        {
            return value.clone();
        }
        let Ok(html) = std::fs::read_to_string(path) else { return self.strict.clone() };
        let Ok(value) = HeaderValue::from_str(&policy_for(&html, self.report_uri.as_deref())) else {
            return self.strict.clone();
        };
        let settled = modified.elapsed().is_ok_and(|age| age >= Duration::from_secs(1));
        if html.len() as u64 == stamp.len && settled {
            *page = Some((stamp, value.clone()));
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_follows_index_html_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index.html");
        std::fs::write(&index, "<script>one()</script>").unwrap();
        let settled = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options().write(true).open(&index).unwrap().set_modified(settled).unwrap();
        let csp = ContentSecurityPolicy::new(Some(index.clone()), None);
        let first = csp.page_header();
        assert_eq!(first.to_str().unwrap(), policy_for("<script>one()</script>", None));
        // A rebuild: new content, a new time.
        std::fs::write(&index, "<script>two()</script>").unwrap();
        let second = csp.page_header();
        assert_eq!(second.to_str().unwrap(), policy_for("<script>two()</script>", None));
        // Rewritten within the same timestamp and length: not cached while fresh, so seen.
        std::fs::write(&index, "<script>six()</script>").unwrap();
        let modified = std::fs::metadata(&index).unwrap().modified().unwrap();
        assert_eq!(csp.page_header().to_str().unwrap(), policy_for("<script>six()</script>", None));
        std::fs::write(&index, "<script>ten()</script>").unwrap();
        std::fs::File::options().write(true).open(&index).unwrap().set_modified(modified).unwrap();
        assert_eq!(csp.page_header().to_str().unwrap(), policy_for("<script>ten()</script>", None));
        // A missing page: the strict policy, not a stale cached one.
        std::fs::remove_file(&index).unwrap();
        assert_eq!(csp.page_header(), csp.strict);
    }

    #[test]
    fn only_html_pages_get_the_page_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index.html");
        std::fs::write(&index, "<script>boot()</script>").unwrap();
        let csp = ContentSecurityPolicy::new(Some(index), None);
        let with_type = |t: &'static str| {
            let mut r = Response::new(axum::body::Body::empty());
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(t));
            r
        };
        assert_eq!(
            csp.header_for(&with_type("text/html; charset=utf-8")).to_str().unwrap(),
            policy_for("<script>boot()</script>", None)
        );
        assert_eq!(csp.header_for(&with_type("application/json")), csp.strict);
        assert_eq!(csp.header_for(&with_type("text/javascript")), csp.strict);
        // A reload's "not modified" keeps the page's policy.
        let mut not_modified = Response::new(axum::body::Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        assert_eq!(csp.header_for(&not_modified).to_str().unwrap(), policy_for("<script>boot()</script>", None));
    }

    #[test]
    fn a_report_uri_is_named_in_every_policy_and_one_that_could_break_the_header_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("index.html");
        std::fs::write(&index, "<script>boot()</script>").unwrap();
        let uri = parse_report_uri("http://127.0.0.1:9/csp").unwrap();
        let csp = ContentSecurityPolicy::new(Some(index), Some(uri));
        assert!(csp.page_header().to_str().unwrap().ends_with("; report-uri http://127.0.0.1:9/csp"));
        assert!(csp.strict.to_str().unwrap().ends_with("; report-uri http://127.0.0.1:9/csp"));
        assert_eq!(parse_report_uri("/api/csp").unwrap(), "/api/csp");
        for bad in ["ftp://x/", "csp", "/a; script-src *", "/a b", "/a,b", "/a\n", ""] {
            assert!(parse_report_uri(bad).is_err(), "{bad:?} is refused");
        }
        assert!(parse_report_uri(&format!("/{}", "a".repeat(2048))).is_err(), "past 2,048 bytes");
        assert!(parse_report_uri(&format!("/{}", "a".repeat(2047))).is_ok(), "at 2,048 bytes");
    }
}
