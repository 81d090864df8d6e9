//! A network link between a browser and a server that a test can slow down or cut, the
//! same way in every engine: a TCP relay on 127.0.0.1 that the browser uses as the
//! server's address (so the server is told to allow the link's origin).
//!
//! Cutting the link closes every connection through it and refuses new ones until it is
//! restored, like a dropped Wi-Fi; limiting the uplink paces what the browser sends, like
//! a slow connection. Nothing is parsed or changed: the bytes pass as they are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

struct Shared {
    upstream: std::sync::Mutex<Option<SocketAddr>>,
    /// Bytes per second the browser may send (0: as fast as loopback goes).
    uplink: AtomicU64,
    /// `true` while the link is cut; every change also ends the connections open then.
    cut: watch::Sender<bool>,
}

/// The running link (stopped when dropped).
pub struct Link {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// Listens on a free 127.0.0.1 port; relays once [`Link::relay_to`] names the server.
    pub async fn bind() -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the link");
        let addr = listener.local_addr().expect("link address");
        let (cut, _) = watch::channel(false);
        let shared = Arc::new(Shared { upstream: std::sync::Mutex::new(None), uplink: AtomicU64::new(0), cut });
        let state = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((browser, _)) = listener.accept().await {
                let state = state.clone();
                let upstream = *state.upstream.lock().unwrap();
                let Some(upstream) = upstream else { continue };
                if *state.cut.borrow() {
                    continue; // refused: dropped at once
                }
                tokio::spawn(async move {
                    let mut cut = state.cut.subscribe();
                    tokio::select! {
                        _ = relay(browser, upstream, &state) => {}
                        _ = cut.changed() => {} // cut: both sockets are dropped
                    }
                });
            }
        });
        Link { addr, shared, task }
    }

    /// Relays to `upstream` (a loopback server).
    pub fn relay_to(&self, upstream: SocketAddr) {
        assert!(upstream.ip().is_loopback(), "the link relays to loopback only");
        *self.shared.upstream.lock().unwrap() = Some(upstream);
    }

    /// `http://127.0.0.1:port`: the address the browser uses instead of the server's, and
    /// the origin the server must allow (`--public-origin`).
    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts the link (closing what is open) or restores it.
    pub fn set_cut(&self, cut: bool) {
        self.shared.cut.send_replace(cut);
    }

    /// Paces what the browser sends to `bytes_per_second` (`None`: no limit).
    pub fn limit_uplink(&self, bytes_per_second: Option<u64>) {
        self.shared.uplink.store(bytes_per_second.unwrap_or(0), Ordering::Relaxed);
    }
}

async fn relay(browser: TcpStream, upstream: SocketAddr, state: &Shared) {
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = browser.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut from_browser, mut to_browser) = browser.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from_browser.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if to_server.write_all(&buf[..n]).await.is_err() {
                break;
            }
            let rate = state.uplink.load(Ordering::Relaxed);
            if rate > 0 {
                tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
            }
        }
        let _ = to_server.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut from_server, &mut to_browser).await;
        let _ = to_browser.shutdown().await;
    };
    tokio::join!(up, down);
}
