//! The edge build of the worker API (`edge/`, prebuilt by `./dev edge-build`) on Cloudflare's
//! own runtime, workerd, through `wrangler dev --local`: a real process group on a free
//! loopback port with its state (Durable Object SQLite files) under a temporary directory,
//! killed with SIGKILL like a crash, always reaped on drop.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How to start the edge server.
#[derive(Debug, Clone)]
pub struct EdgeOptions {
    /// Where workerd keeps its state (`--persist-to`) and wrangler its config.
    pub state_dir: PathBuf,
    pub admin_secret: String,
    /// Extra `--var NAME:value` settings (see edge/wrangler.toml).
    pub vars: Vec<(String, String)>,
    /// The ledger key's private half (base64url), which the deployment never sees: what
    /// the operator keeps offline for `mock-server audit`.
    pub ledger_secret: String,
}

impl EdgeOptions {
    /// With a fresh ledger key (its public half as `LEDGER_PUBLIC_KEY`), so tokens work.
    pub fn new(state_dir: &Path) -> Self {
        let ledger = loop {
            if let Ok(key) = protocol::identity::IdentityKey::from_secret_bytes(&crate::random_bytes::<32>()) {
                break key;
            }
        };
        Self {
            state_dir: state_dir.to_path_buf(),
            admin_secret: "test-admin-secret".into(),
            vars: vec![("LEDGER_PUBLIC_KEY".into(), ledger.public_key().to_b64())],
            ledger_secret: ledger.to_secret_b64(),
        }
    }
}

/// A running `wrangler dev --local` (wrangler and its workerd, one process group).
pub struct EdgeProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub options: EdgeOptions,
}

/// The edge crate's directory, checked to hold a built Worker and wrangler.
fn edge_dir() -> PathBuf {
    let dir = crate::workspace_root().join("edge");
    for (path, fix) in [
        ("build/index.js", "build it first: ./dev edge-build"),
        ("node_modules/.bin/wrangler", "install it first: ./scripts/setup"),
    ] {
        assert!(dir.join(path).is_file(), "edge/{path} is missing: {fix}");
    }
    dir
}

impl EdgeProcess {
    /// Starts wrangler on a free port and waits until it is ready.
    pub fn start(options: EdgeOptions) -> Self {
        // A port found free can be taken by another process before wrangler binds it
        // (tests run in parallel): then wrangler exits at once, and a fresh port is tried.
        for _ in 0..4 {
            if let Some(server) = Self::try_start_on(options.clone(), crate::free_port()) {
                return server;
            }
        }
        Self::start_on(options, crate::free_port())
    }

    /// Starts wrangler on exactly `port` (a test that must know its address before the
    /// server starts, e.g. to give it to an SSO as the page to return to).
    pub fn start_on(options: EdgeOptions, port: u16) -> Self {
        Self::try_start_on(options, port).unwrap_or_else(|| panic!("wrangler dev exited before it was ready"))
    }

    /// `None` when wrangler exited before it was ready (its port was taken).
    fn try_start_on(options: EdgeOptions, port: u16) -> Option<Self> {
        let dir = edge_dir();
        let origin = format!("http://127.0.0.1:{port}");
        let mut cmd = Command::new(dir.join("node_modules/.bin/wrangler"));
        cmd.current_dir(&dir)
            .args(["dev", "--local", "--ip", "127.0.0.1", "--show-interactive-dev-session=false"])
            // `/__scheduled` fires the Cron Trigger (garbage collection) on demand.
            .arg("--test-scheduled")
            .arg("--port")
            .arg(port.to_string())
            .arg("--inspector-port")
            .arg(crate::free_port().to_string())
            .arg("--persist-to")
            .arg(options.state_dir.join("state"))
            .arg("--var")
            .arg(format!("ADMIN_SECRET:{}", options.admin_secret))
            .arg("--var")
            .arg(format!("PUBLIC_ORIGINS:{origin}"))
            // Pages report what their policy blocks, so every browser test can fail on it.
            .arg("--var")
            .arg(format!("CSP_REPORT_URI:{}", crate::csp_reports::report_uri()));
        for (name, value) in &options.vars {
            cmd.arg("--var").arg(format!("{name}:{value}"));
        }
        cmd.env("WRANGLER_SEND_METRICS", "false")
            .env("XDG_CONFIG_HOME", options.state_dir.join("config"))
            .env_remove("CLOUDFLARE_API_TOKEN")
            .env_remove("CLOUDFLARE_ACCOUNT_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group, so a SIGKILL reaches workerd too.
            .process_group(0);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start wrangler: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // `CLOAKROOM_EDGE_LOG=1` passes wrangler's log on (to see what a bench's Worker
            // reported); otherwise it is only read for the line saying it is ready.
            let forward = std::env::var_os("CLOAKROOM_EDGE_LOG").is_some();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if forward {
                    eprintln!("[wrangler] {line}");
                }
                if line.contains("Ready on http://")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = Self { child: Some(child), addr, options };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(()) => Some(server),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                server.kill9();
                None
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                server.kill9();
                panic!("wrangler dev did not become ready within 60 s");
            }
        }
    }

    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_base(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The Worker's own socket on workerd, behind the dev proxy: wrangler serves the public
    /// port from a second workerd that relays every request and WebSocket frame to the
    /// Worker's. A deployed Worker has no such hop, so `room-bench --target edge` measures
    /// both. Found as the listening socket of a workerd of this group, other than the
    /// public port, that answers `/api/info` as the edge; `None` if none does.
    pub async fn runtime_addr(&self) -> Option<SocketAddr> {
        let group = self.child.as_ref()?.id();
        let client = reqwest::Client::new();
        for port in listening_ports_of_group(group, "workerd") {
            if port == self.addr.port() {
                continue;
            }
            let url = format!("http://127.0.0.1:{port}/api/info");
            let Ok(answer) = client.get(&url).timeout(Duration::from_secs(2)).send().await else { continue };
            if answer.status().is_success() && answer.text().await.is_ok_and(|t| t.contains("cloakroom edge")) {
                return Some(SocketAddr::from(([127, 0, 0, 1], port)));
            }
        }
        None
    }

    /// The resident memory of every workerd of this server (the dev proxy's and the
    /// Worker's), in KiB.
    pub fn workerd_rss_kib(&self) -> u64 {
        let Some(group) = self.child.as_ref().map(|c| c.id()) else { return 0 };
        group_processes(group, "workerd")
            .into_iter()
            .map(|pid| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// SIGKILL to the whole group (wrangler and workerd): no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the process group this child leads.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// Kills the server like a crash and starts it again on the same port and state.
    pub fn restart(&mut self) {
        self.kill9();
        let port = self.addr.port();
        let options = self.options.clone();
        // The port may take a moment to be free again: the old workerd can still hold it
        // after a test bind succeeded (then wrangler says "Address already in use" and
        // exits), so starting is tried again for a while.
        for _ in 0..10 {
            for _ in 0..50 {
                if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Some(server) = Self::try_start_on(options.clone(), port) {
                *self = server;
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("wrangler dev could not listen on 127.0.0.1:{port} again within about 10 s");
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The processes of group `group` named `name` (their pids).
fn group_processes(group: u32, name: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces, so split at the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or_default();
        let pgrp = rest.split_whitespace().nth(2).and_then(|g| g.parse::<u32>().ok());
        if comm == name && pgrp == Some(group) {
            pids.push(pid);
        }
    }
    pids
}

/// The loopback TCP ports on which processes named `name` in process group `group` listen
/// (from /proc: each process's socket inodes, matched against /proc/net/tcp).
fn listening_ports_of_group(group: u32, name: &str) -> Vec<u16> {
    let mut inodes = std::collections::HashSet::new();
    for pid in group_processes(group, name) {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else { continue };
            let link = link.to_string_lossy().into_owned();
            if let Some(inode) = link.strip_prefix("socket:[").and_then(|l| l.strip_suffix(']')) {
                inodes.insert(inode.to_owned());
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let mut ports: Vec<u16> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is "IP:PORT" in hex; state 0A is LISTEN; the inode is field 9.
            let listening = f.get(3) == Some(&"0A") && f.get(9).is_some_and(|i| inodes.contains(*i));
            let port = f.get(1)?.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok())?;
            listening.then_some(port)
        })
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}
