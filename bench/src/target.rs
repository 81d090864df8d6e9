//! What a scenario runs against: the real worker (a release `mock-server` on a fresh data
//! dir), the edge (the release Worker bundle on local workerd, `wrangler dev --local`, a
//! fresh state dir) or the bare baseline (this binary with `--baseline-server`). All are
//! separate processes on loopback, so mock-server's and the baseline's RSS can be read
//! from /proc.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use protocol::frames::ClientFrame;
use protocol::identity::IdentityKey;
use testkit::client::{Member, TestRoom, Ws, create_room, new_identity, open_socket, seal_text};
use testkit::edge::{EdgeOptions, EdgeProcess};
use testkit::server::{ServerOptions, ServerProcess};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Worker,
    /// Another build of the worker (`room-bench --against BIN`), run the same way.
    WorkerAt(&'static Path),
    /// The same room engine in a Durable Object on workerd (signature checks on), through
    /// wrangler's dev proxy (a second workerd relaying every frame).
    Edge,
    /// The same, with the sockets on the Worker's own workerd (no dev proxy: as deployed).
    EdgeDirect,
    Baseline,
}

enum Process {
    /// The server and its data dir (deleted when the target is dropped).
    Worker(ServerProcess, #[allow(dead_code)] tempfile::TempDir),
    Edge(EdgeProcess, #[allow(dead_code)] tempfile::TempDir),
    Baseline(Child),
}

/// A running server and its rooms.
pub struct Target {
    pub kind: Kind,
    process: Process,
    pub ws_base: String,
    rooms: Vec<TestRoom>,
}

/// Worker limits for benchmarking: no rate limit, big rooms, deep send queues.
const WORKER_ARGS: &[&str] = &[
    "--rate-per-second",
    "10000000",
    "--rate-burst",
    "10000000",
    "--default-capacity",
    "10000",
    "--send-queue-bytes",
    "268435456",
    "--idle-timeout-secs",
    "3600",
    // Every bench client connects from 127.0.0.1.
    "--max-connections-per-ip",
    "1000000",
];

impl Target {
    /// Starts a server with `rooms` rooms.
    pub async fn start(kind: Kind, rooms: usize) -> Target {
        Self::start_with(kind, rooms, &[]).await
    }

    /// Starts a server with `rooms` rooms and `extra` worker arguments.
    pub async fn start_with(kind: Kind, rooms: usize, extra: &[&str]) -> Target {
        match kind {
            Kind::Worker | Kind::WorkerAt(_) => {
                let data = tempfile::tempdir().expect("temp dir");
                let mut options = ServerOptions::new(data.path());
                for a in WORKER_ARGS.iter().chain(extra) {
                    options = options.arg(*a);
                }
                let server = match kind {
                    Kind::WorkerAt(bin) => ServerProcess::start_with(bin, options.clone()),
                    _ => ServerProcess::start(options.clone()),
                };
                let mut made = Vec::new();
                for _ in 0..rooms {
                    made.push(create_room(&server.http_base(), &options.admin_secret).await);
                }
                let ws_base = server.ws_base();
                Target { kind, process: Process::Worker(server, data), ws_base, rooms: made }
            }
            Kind::Edge | Kind::EdgeDirect => {
                let state = tempfile::tempdir().expect("temp dir");
                let mut options = EdgeOptions::new(state.path());
                // The edge's equivalents of WORKER_ARGS (it has no send queue, idle close or
                // per-address cap to lift).
                for (name, value) in
                    [("RATE_PER_SECOND", "1000000000"), ("RATE_BURST", "1000000000"), ("DEFAULT_CAPACITY", "10000")]
                {
                    options.vars.push((name.into(), value.into()));
                }
                let admin = options.admin_secret.clone();
                let server = EdgeProcess::start(options);
                let mut made = Vec::new();
                for _ in 0..rooms {
                    made.push(create_room(&server.http_base(), &admin).await);
                }
                let ws_base = match kind {
                    Kind::EdgeDirect => {
                        let addr = server.runtime_addr().await.expect("the Worker's own workerd socket");
                        format!("ws://{addr}")
                    }
                    _ => server.ws_base(),
                };
                Target { kind, process: Process::Edge(server, state), ws_base, rooms: made }
            }
            Kind::Baseline => {
                let mut child = Command::new(std::env::current_exe().expect("exe"))
                    .args(["--baseline-server", "127.0.0.1:0"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start the baseline");
                let mut line = String::new();
                BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("baseline line");
                let addr = line.rsplit("http://").next().expect("address").trim().to_owned();
                // Fake rooms: the baseline only uses the name.
                let made = (0..rooms).map(|_| TestRoom::fresh()).collect();
                Target { kind, process: Process::Baseline(child), ws_base: format!("ws://{addr}"), rooms: made }
            }
        }
    }

    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    pub fn pid(&self) -> u32 {
        match &self.process {
            Process::Worker(s, _) => s.pid().expect("running"),
            Process::Edge(..) => panic!("the edge's process (workerd under wrangler) is not measured here"),
            Process::Baseline(c) => c.id(),
        }
    }

    /// Opens a connection to room `room` (joined, for the worker), with a fresh identity.
    pub async fn connect(&self, room: usize) -> (Ws, IdentityKey) {
        let identity = new_identity();
        let r = &self.rooms[room];
        match self.kind {
            Kind::Worker | Kind::WorkerAt(_) | Kind::Edge | Kind::EdgeDirect => {
                let member = Member::join(&self.ws_base, &r.id, identity.clone()).await.expect("join");
                (member.ws, identity)
            }
            Kind::Baseline => (open_socket(&self.ws_base, r.id.as_str()).await, identity),
        }
    }

    /// The `send` frame for message number `index` (its cid is `b<index>`).
    pub fn frame(&self, room: usize, sender: &IdentityKey, index: usize) -> String {
        let r = &self.rooms[room];
        let env = seal_text(&r.id, sender, &r.key, &format!("b{index}"), "bench", &format!("bench message {index:08}"));
        serde_json::to_string(&ClientFrame::Send { env }).expect("frame")
    }

    /// Resident memory of the server process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        if let Process::Edge(edge, _) = &self.process {
            return edge.workerd_rss_kib();
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// A field of the server's `/proc/<pid>/status` (`Threads`, `VmRSS` in KiB).
    pub fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field).and_then(|r| r.strip_prefix(':')))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Open file descriptors of the server.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }

    pub fn stop(&mut self) {
        match &mut self.process {
            Process::Worker(s, _) => s.kill9(),
            Process::Edge(s, _) => s.kill9(),
            Process::Baseline(c) => {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}
