//! The built SPA's files: each in the smallest encoding the browser accepts (the brotli
//! and gzip copies `scripts/precompress` wrote at build time; never compressed per
//! request), cached by the browser for a year when its name carries Trunk's content hash
//! (a new build has new names), and revalidated on every load otherwise (`index.html`,
//! the service worker, client-side routes), so a deploy reaches users on their next load.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::services::{ServeDir, ServeFile};

/// `Cache-Control` for a file whose name has its content hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for everything else: keep, but ask the server (`If-Modified-Since`).
pub const REVALIDATE: &str = "no-cache";

/// The SPA under `dir`; unknown paths (client-side routes such as `/r/<room>`) get its
/// `index.html`.
pub fn spa(dir: &Path) -> Router {
    let index = ServeFile::new(dir.join("index.html")).precompressed_br().precompressed_gzip();
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip().fallback(index);
    Router::new().fallback_service(files).layer(middleware::from_fn(cache_policy))
}

async fn cache_policy(request: Request, next: Next) -> Response {
    let hashed = has_content_hash(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status() == axum::http::StatusCode::NOT_MODIFIED {
        let policy = if hashed { IMMUTABLE } else { REVALIDATE };
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
        // The body depends on Accept-Encoding: caches must keep one copy per encoding.
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// Whether the path's file name is Trunk's `<stem>-<hash>` form: a dash, then 8 to 16
/// lowercase hex digits (the hash, without leading zeros), then `.` or `_bg.`
/// (`cloakroom-1a2b…_bg.wasm`, `main-1a2b….css`).
pub fn has_content_hash(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let Some((_, after_dash)) = name.rsplit_once('-') else { return false };
    let hash_len = after_dash.find(['.', '_']).unwrap_or(after_dash.len());
    let (hash, rest) = after_dash.split_at(hash_len);
    (8..=16).contains(&hash.len())
        && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && (rest.starts_with('.') || rest.starts_with("_bg."))
}

#[cfg(test)]
mod tests {
    use super::has_content_hash;

    #[test]
    fn only_trunks_hashed_names_are_immutable() {
        for hashed in ["/cloakroom-9f86d081884c7d65_bg.wasm", "/cloakroom-9f86d081884c7d65.js", "/main-3c2a1b0f.css"] {
            assert!(has_content_hash(hashed), "{hashed}");
        }
        for plain in [
            "/",
            "/index.html",
            "/sw.js",
            "/r/abc-def",
            "/x-9F86D081884C7D65.js",
            "/a-1234567.js",
            "/a-9f86d081884c7d65",
        ] {
            assert!(!has_content_hash(plain), "{plain}");
        }
    }
}
