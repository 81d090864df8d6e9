//! Where the browsers in tests report Content-Security-Policy violations.
//!
//! Every server testkit starts names this collector in its policy (`--csp-report-uri`),
//! so Chromium, Firefox and WebKit all POST a report (`application/csp-report`) for each
//! thing the policy blocks, from the very first byte of a page, without any DevTools hook.
//! The collector is one loopback listener per test process on its own thread (tests have
//! a runtime each; this one outlives them). Reports are kept by the page's origin: each
//! test's server has its own port, so tests running side by side never see each other's.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// One reported violation.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The page's origin (`http://127.0.0.1:port`).
    pub origin: String,
    /// As the tests print it: "<directive> blocked <what> in <file>:<line>".
    pub text: String,
}

struct Collector {
    url: String,
    seen: Mutex<Vec<Violation>>,
}

/// The largest report body accepted (a report is well under 4 KiB).
const MAX_REPORT_BYTES: usize = 64 * 1024;

fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the CSP report collector");
        let url = format!("http://{}/csp", listener.local_addr().expect("collector address"));
        std::thread::Builder::new()
            .name("csp-reports".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    std::thread::spawn(move || {
                        let _ = receive(stream);
                    });
                }
            })
            .expect("start the CSP report collector");
        Collector { url, seen: Mutex::new(Vec::new()) }
    })
}

/// The URL servers put in their `report-uri`.
pub fn report_uri() -> String {
    collector().url.clone()
}

/// Reads one report request (HTTP/1.1, `Content-Length`), keeps it, answers 204.
fn receive(stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut length = 0usize;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length.min(MAX_REPORT_BYTES)];
    reader.read_exact(&mut body)?;
    let mut stream = stream;
    // Reports come from the page's origin: allow it, so no engine logs a CORS error.
    stream.write_all(b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n")?;
    if request_line.starts_with("POST ")
        && let Some(v) = parse(&body)
    {
        collector().seen.lock().unwrap().push(v);
    }
    Ok(())
}

/// A `report-uri` body: `{"csp-report": {...}}` (field names as the CSP spec gives them).
fn parse(body: &[u8]) -> Option<Violation> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let report = json.get("csp-report")?;
    let field = |name: &str| report.get(name).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
    let document = field("document-uri")?;
    let origin = url::Url::parse(&document).ok()?.origin().ascii_serialization();
    let directive = field("effective-directive").or_else(|| field("violated-directive")).unwrap_or_default();
    // The directive's name only ("script-src-elem", not the whole violated directive).
    let directive = directive.split_whitespace().next().unwrap_or_default().to_owned();
    let blocked = match field("blocked-uri").unwrap_or_default().as_str() {
        "" | "inline" => "inline code".to_owned(),
        other => other.to_owned(),
    };
    let source = field("source-file").unwrap_or_default();
    let line = field("line-number").unwrap_or_default();
    Some(Violation { origin, text: format!("{directive} blocked {blocked} in {source}:{line}") })
}

/// The violations pages of `origin` reported so far.
pub fn seen(origin: &str) -> Vec<String> {
    collector().seen.lock().unwrap().iter().filter(|v| v.origin == origin).map(|v| v.text.clone()).collect()
}

/// Forgets what pages of `origin` reported (a test that provoked violations on purpose).
pub fn forget(origin: &str) {
    collector().seen.lock().unwrap().retain(|v| v.origin != origin);
}
