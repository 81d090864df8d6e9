//! The first load over the wire: the real release build of the SPA (with the brotli and
//! gzip copies `scripts/precompress` writes) served by a real mock-server. Every asset
//! index.html names comes in the smallest encoding the browser accepts, decodes to the
//! very bytes of the uncompressed file, is cached for a year when its name carries its
//! content hash, and index.html itself is revalidated (304) instead of refetched.
#![cfg(not(target_arch = "wasm32"))]

use std::io::Read;

use reqwest::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, IF_MODIFIED_SINCE, LAST_MODIFIED, VARY};
use testkit::app::start_server;

async fn get(client: &reqwest::Client, url: &str, encoding: &str) -> reqwest::Response {
    let response = client.get(url).header(ACCEPT_ENCODING, encoding).send().await.expect("GET");
    assert!(response.status().is_success(), "{url}: {}", response.status());
    response
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_asset_comes_compressed_cached_by_its_hash_and_index_html_revalidates() {
    let data = tempfile::tempdir().unwrap();
    let server = start_server(data.path(), &[]);
    let base = server.http_base();
    // No automatic decoding: what is checked is what travels.
    let client = reqwest::Client::builder().build().unwrap();

    let index = get(&client, &format!("{base}/"), "identity").await;
    assert_eq!(header(&index, CACHE_CONTROL), "no-cache", "index.html is revalidated on every load");
    let modified = header(&index, LAST_MODIFIED);
    assert!(!modified.is_empty(), "index.html has a Last-Modified to revalidate against");
    let html = index.text().await.unwrap();
    let again = client.get(format!("{base}/")).header(IF_MODIFIED_SINCE, &modified).send().await.unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::NOT_MODIFIED, "an unchanged index.html is not sent again");
    // A client-side route is the same page, with the same policy.
    let route = get(&client, &format!("{base}/r/some-room"), "br, gzip").await;
    assert_eq!(header(&route, CACHE_CONTROL), "no-cache");

    let assets: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with('/') && (s.ends_with(".js") || s.ends_with(".wasm") || s.ends_with(".css")))
        .map(str::to_owned)
        .collect();
    assert!(assets.iter().any(|a| a.ends_with("_bg.wasm")), "index.html names the wasm: {assets:?}");
    let (mut raw_total, mut wire_total) = (0, 0);
    for asset in &assets {
        let url = format!("{base}{asset}");
        let raw = get(&client, &url, "identity").await;
        assert_eq!(header(&raw, CONTENT_ENCODING), "", "{asset}: identity asked, identity sent");
        let raw = raw.bytes().await.unwrap();

        let br = get(&client, &url, "gzip, deflate, br, zstd").await;
        assert_eq!(header(&br, CONTENT_ENCODING), "br", "{asset}: brotli when the browser accepts it");
        assert!(header(&br, VARY).to_ascii_lowercase().contains("accept-encoding"), "{asset}: Vary");
        assert_eq!(header(&br, CACHE_CONTROL), "public, max-age=31536000, immutable", "{asset}: hashed name");
        let br = br.bytes().await.unwrap();
        let mut decoded = Vec::new();
        brotli_decompressor::Decompressor::new(&br[..], 4096).read_to_end(&mut decoded).unwrap();
        assert!(decoded == raw, "{asset}: the brotli copy is the same file");

        let gz = get(&client, &url, "gzip").await;
        assert_eq!(header(&gz, CONTENT_ENCODING), "gzip", "{asset}: gzip for a browser without brotli");
        let gz = gz.bytes().await.unwrap();
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut decoded).unwrap();
        assert!(decoded == raw, "{asset}: the gzip copy is the same file");

        assert!(br.len() < gz.len() && gz.len() < raw.len(), "{asset}: {} < {} < {}", br.len(), gz.len(), raw.len());
        (raw_total, wire_total) = (raw_total + raw.len(), wire_total + br.len());
    }
    // The figure itself (and the target) is in docs/BENCHMARKS.md ("First load"); this
    // only checks that compression is not lost, whatever the bundle's size.
    assert!(wire_total * 2 < raw_total, "brotli at least halves the first load: {wire_total} of {raw_total} bytes");
}
