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

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Every directive but `script-src`.
const FIXED_DIRECTIVES: &str = "default-src 'none'; style-src 'self'; img-src 'self' blob: data:; \
     media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Checks a `--csp-report-uri`: an `http(s)://` URL or an absolute path, with nothing that
/// could end the directive or the header (`;`, `,`, whitespace, control characters).
pub fn parse_report_uri(value: &str) -> Result<String, String> {
    let shaped = value.starts_with("http://") || value.starts_with("https://") || value.starts_with('/');
    if !shaped {
        return Err("a CSP report URI is an http(s):// URL or a path starting with /".into());
    }
    if value.len() > 2048 || value.chars().any(|c| c == ';' || c == ',' || c.is_whitespace() || c.is_control()) {
        return Err("a CSP report URI has no ';', ',', spaces or control characters and is at most 2,048 bytes".into());
    }
    Ok(value.to_owned())
}

/// The policy for `index_html`: its inline scripts are allowed by hash, nothing else inline;
/// violations are reported to `report_uri` if one is given.
pub fn policy_for(index_html: &str, report_uri: Option<&str>) -> String {
    let mut script_src = String::from("script-src 'self' 'wasm-unsafe-eval'");
    for script in inline_scripts(index_html) {
        let digest = Sha256::digest(script.as_bytes());
        script_src.push_str(&format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
    }
    match report_uri {
        Some(uri) => format!("{FIXED_DIRECTIVES}; {script_src}; report-uri {uri}"),
        None => format!("{FIXED_DIRECTIVES}; {script_src}"),
    }
}

/// The text of every `<script>` element without a `src` attribute, exactly as the
/// browser hashes it (everything between the opening tag and `</script>`).
fn inline_scripts(html: &str) -> Vec<&str> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = lower[from..].find("<script").map(|i| from + i) {
        let Some(tag_end) = lower[start..].find('>').map(|i| start + i) else { break };
        let Some(close) = lower[tag_end..].find("</script").map(|i| tag_end + i) else { break };
        let tag = &lower[start..tag_end];
        if !tag.contains(" src=") {
            found.push(&html[tag_end + 1..close]);
        }
        from = close;
    }
    found
}

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
    fn inline_scripts_are_allowed_by_their_sha256_and_nothing_else_inline() {
        // The hash is the one the CSP specification's examples give for this script.
        let html = "<html><head><script>alert('Hello, world.');</script>\
                    <script type=\"module\" src=\"/app.js\"></script></head></html>";
        let policy = policy_for(html, None);
        assert!(
            policy
                .contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='")
        );
        assert_eq!(policy.matches("'sha256-").count(), 1, "the external script needs no hash: {policy}");
        assert!(!policy.contains("unsafe-inline") && !policy.contains("'unsafe-eval'"));
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("default-src 'none'"));
    }

    #[test]
    fn trunk_bootstrap_scripts_are_found_with_their_exact_whitespace() {
        let html = "<script type=\"module\">\nimport init from '/a.js';\nawait init();\n</script>";
        assert_eq!(inline_scripts(html), vec!["\nimport init from '/a.js';\nawait init();\n"]);
        assert!(inline_scripts("<script>unterminated").is_empty());
        assert!(inline_scripts("<p>no scripts</p>").is_empty());
    }

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
