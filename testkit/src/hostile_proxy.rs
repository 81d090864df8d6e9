//! A hostile server for end-to-end tests: a proxy between a real browser and a real
//! mock-server that records what the browser sends and rewrites what the server answers,
//! the way a compromised server (or anyone on its path) could.
//!
//! Room WebSockets (`/ws/...`) are relayed frame by frame: client frames are recorded, and
//! server text frames go through [`FrameRewrite`]. Every other request is relayed as one
//! HTTP/1.1 exchange (`connection: close`): requests are recorded, and response bodies go
//! through [`BodyRewrite`]. The proxy listens on 127.0.0.1 only and relays only to the
//! upstream it was given.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Rewrites one server → client text frame; `None` keeps it as it is.
pub type FrameRewrite = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;
/// Rewrites one HTTP response body for `(method, path)`; `None` keeps it.
pub type BodyRewrite = Box<dyn Fn(&str, &str, &[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// An HTTP request the browser sent through the proxy.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Shared {
    upstream: Option<String>,
    frames: Option<FrameRewrite>,
    bodies: Option<BodyRewrite>,
    client_frames: Vec<String>,
    requests: Vec<RecordedRequest>,
    rewritten: usize,
}

/// The running proxy (stopped when dropped).
pub struct HostileProxy {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl Drop for HostileProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileProxy {
    /// Listens on a free 127.0.0.1 port (so the server can be told to allow its origin);
    /// relays once [`HostileProxy::relay_to`] names the upstream.
    pub async fn bind() -> HostileProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let Some(upstream) = state.lock().unwrap().upstream.clone() else { return };
                    if let Err(e) = relay(stream, &upstream, state).await {
                        eprintln!("hostile proxy: {e}");
                    }
                });
            }
        });
        HostileProxy { addr, shared, task }
    }

    /// Relays to `upstream` (`127.0.0.1:port`, loopback only).
    pub fn relay_to(&self, upstream: &str) {
        assert!(upstream.starts_with("127.0.0.1:"), "the proxy relays to loopback only");
        self.shared.lock().unwrap().upstream = Some(upstream.to_owned());
    }

    /// `http://127.0.0.1:<port>`: open the app here instead of at the server.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the rewrite of server → client frames.
    pub fn rewrite_frames(&self, rewrite: impl Fn(&str) -> Option<String> + Send + Sync + 'static) {
        self.shared.lock().unwrap().frames = Some(Box::new(rewrite));
    }

    /// Replaces the rewrite of HTTP response bodies.
    pub fn rewrite_bodies(&self, rewrite: impl Fn(&str, &str, &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static) {
        self.shared.lock().unwrap().bodies = Some(Box::new(rewrite));
    }

    /// Relays everything unchanged from now on.
    pub fn stop_rewriting(&self) {
        let mut s = self.shared.lock().unwrap();
        s.frames = None;
        s.bodies = None;
    }

    /// Every text frame browsers sent on room sockets, in order.
    pub fn client_frames(&self) -> Vec<String> {
        self.shared.lock().unwrap().client_frames.clone()
    }

    /// Every HTTP request browsers sent, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// How many frames or bodies were actually rewritten.
    pub fn rewritten(&self) -> usize {
        self.shared.lock().unwrap().rewritten
    }
}

/// Reads the request head without consuming it.
async fn peek_head(stream: &TcpStream) -> std::io::Result<String> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before a request"));
        }
        if let Some(end) = buf[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(String::from_utf8_lossy(&buf[..end + 4]).into_owned());
        }
        if n == buf.len() {
            return Err(std::io::Error::other("request head above 64 KiB"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn relay(stream: TcpStream, upstream: &str, state: Arc<Mutex<Shared>>) -> Result<(), String> {
    let head = peek_head(&stream).await.map_err(|e| e.to_string())?;
    let websocket = header(&head, "upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if websocket {
        relay_socket(stream, upstream, &head, state).await
    } else {
        relay_http(stream, upstream, state).await
    }
}

async fn relay_socket(stream: TcpStream, upstream: &str, head: &str, state: Arc<Mutex<Shared>>) -> Result<(), String> {
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let origin = header(head, "origin").map(str::to_owned);
    let browser = tokio_tungstenite::accept_async(stream).await.map_err(|e| format!("browser handshake: {e}"))?;
    let mut request = format!("ws://{upstream}{path}").into_client_request().map_err(|e| e.to_string())?;
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().map_err(|_| "bad origin")?);
    }
    let (server, _) = tokio_tungstenite::connect_async(request).await.map_err(|e| format!("upstream: {e}"))?;
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_server, mut from_server) = server.split();
    let up_state = state.clone();
    let upward = async move {
        while let Some(Ok(msg)) = from_browser.next().await {
            if let Message::Text(text) = &msg {
                up_state.lock().unwrap().client_frames.push(text.to_string());
            }
            let close = matches!(msg, Message::Close(_));
            if to_server.send(msg).await.is_err() || close {
                break;
            }
        }
        let _ = to_server.close().await;
    };
    let downward = async move {
        while let Some(Ok(msg)) = from_server.next().await {
            let msg = match msg {
                Message::Text(text) => {
                    let mut s = state.lock().unwrap();
                    match s.frames.as_ref().and_then(|f| f(text.as_str())) {
                        Some(changed) => {
                            s.rewritten += 1;
                            Message::Text(changed.into())
                        }
                        None => Message::Text(text),
                    }
                }
                other => other,
            };
            let close = matches!(msg, Message::Close(_));
            if to_browser.send(msg).await.is_err() || close {
                break;
            }
        }
        let _ = to_browser.close().await;
    };
    tokio::join!(upward, downward);
    Ok(())
}

async fn relay_http(mut stream: TcpStream, upstream: &str, state: Arc<Mutex<Shared>>) -> Result<(), String> {
    let head = peek_head(&stream).await.map_err(|e| e.to_string())?;
    let mut consumed = vec![0u8; head.len()];
    stream.read_exact(&mut consumed).await.map_err(|e| e.to_string())?;
    let length: usize = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    let mut first = head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (first.next().unwrap_or("GET").to_owned(), first.next().unwrap_or("/").to_owned());
    state.lock().unwrap().requests.push(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
    });

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let mut req = client.request(method.parse().map_err(|_| "bad method")?, format!("http://{upstream}{path}"));
    for line in head.lines().skip(1) {
        let Some((k, v)) = line.split_once(':') else { continue };
        let k = k.trim().to_ascii_lowercase();
        // Without `accept-encoding` the upstream answers uncompressed (workerd compresses
        // JSON otherwise), so the proxy can read and rewrite every body.
        let hop = matches!(k.as_str(), "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive");
        if !hop && k != "accept-encoding" {
            req = req.header(k, v.trim());
        }
    }
    let resp = req.body(body).send().await.map_err(|e| format!("upstream: {e}"))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut bytes = resp.bytes().await.map_err(|e| e.to_string())?.to_vec();
    {
        let mut s = state.lock().unwrap();
        if let Some(changed) = s.bodies.as_ref().and_then(|f| f(&method, &path, &bytes)) {
            s.rewritten += 1;
            bytes = changed;
        }
    }
    let mut out = format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or(""));
    for (k, v) in &headers {
        if matches!(k.as_str(), "content-length" | "transfer-encoding" | "connection" | "keep-alive") {
            continue;
        }
        out.push_str(&format!("{}: {}\r\n", k, v.to_str().unwrap_or_default()));
    }
    out.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", bytes.len()));
    stream.write_all(out.as_bytes()).await.map_err(|e| e.to_string())?;
    stream.write_all(&bytes).await.map_err(|e| e.to_string())?;
    let _ = stream.shutdown().await;
    Ok(())
}
