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
//! changes on disk, so rebuilding the SPA while the server runs does not break the page.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use axum::http::HeaderValue;
use base64::Engine;
use sha2::{Digest, Sha256};

/// Every directive but `script-src`.
const FIXED_DIRECTIVES: &str = "default-src 'none'; style-src 'self'; img-src 'self' blob: data:; \
     media-src 'self' blob:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The policy for `index_html`: its inline scripts are allowed by hash, nothing else inline.
pub fn policy_for(index_html: &str) -> String {
    let mut script_src = String::from("script-src 'self' 'wasm-unsafe-eval'");
    for script in inline_scripts(index_html) {
        let digest = Sha256::digest(script.as_bytes());
        script_src.push_str(&format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
    }
    format!("{FIXED_DIRECTIVES}; {script_src}")
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

/// The policy header, kept in step with the SPA's `index.html`.
pub struct ContentSecurityPolicy {
    index_html: Option<PathBuf>,
    cached: Mutex<Option<(SystemTime, HeaderValue)>>,
}

impl ContentSecurityPolicy {
    /// `index_html` is `None` when the server serves no SPA (API only; `trunk serve` then
    /// serves the pages).
    pub fn new(index_html: Option<PathBuf>) -> Self {
        Self { index_html, cached: Mutex::new(None) }
    }

    /// The header value for a response.
    pub fn header(&self) -> HeaderValue {
        let Some(path) = &self.index_html else { return without_inline_scripts() };
        let Ok(modified) = std::fs::metadata(path).and_then(|m| m.modified()) else {
            return without_inline_scripts();
        };
        let mut cached = self.cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, value)) = cached.as_ref()
            && *at == modified
        {
            return value.clone();
        }
        let value = std::fs::read_to_string(path)
            .ok()
            .and_then(|html| HeaderValue::from_str(&policy_for(&html)).ok())
            .unwrap_or_else(without_inline_scripts);
        *cached = Some((modified, value.clone()));
        value
    }
}

fn without_inline_scripts() -> HeaderValue {
    HeaderValue::from_str(&policy_for("")).expect("the fixed policy is a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_allowed_by_their_sha256_and_nothing_else_inline() {
        // The hash is the one the CSP specification's examples give for this script.
        let html = "<html><head><script>alert('Hello, world.');</script>\
                    <script type=\"module\" src=\"/app.js\"></script></head></html>";
        let policy = policy_for(html);
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
        let csp = ContentSecurityPolicy::new(Some(index.clone()));
        let first = csp.header();
        // A different mtime, as a rebuild would give.
        std::fs::write(&index, "<script>two()</script>").unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options().write(true).open(&index).unwrap().set_modified(later).unwrap();
        let second = csp.header();
        assert_ne!(first, second);
        assert_eq!(second.to_str().unwrap(), policy_for("<script>two()</script>"));
    }
}
