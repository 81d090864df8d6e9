//! The Content-Security-Policy text every host sends (mock-server and the Cloudflare
//! Worker): scripts from this origin plus the inline bootstrap `<script>`s of the built
//! `index.html`, allowed by SHA-256; the rest is fixed. Why each directive is there:
//! docs/ARCHITECTURE.md ("Hardening").

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
pub fn inline_scripts(html: &str) -> Vec<&str> {
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
}
