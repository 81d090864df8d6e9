//! Which worker API a test talks to: `CLOAKROOM_BACKEND=mock` (default: mock-server) or
//! `edge` (the Cloudflare build on local workerd). [`TestServer`] is either, with the same
//! calls, so one test file runs against both.
//!
//! mock-server flags a test passes are translated into the edge's settings where the edge
//! has them (rates, budget, origins); a flag without an edge equivalent stops the test
//! with a message naming it, never silently.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::edge::{EdgeOptions, EdgeProcess};
use crate::server::{ServerOptions, ServerProcess};

/// A worker API implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Mock,
    Edge,
}

impl Backend {
    /// `CLOAKROOM_BACKEND`: `mock` (or unset) or `edge`; anything else is an error.
    pub fn from_env() -> Backend {
        match std::env::var("CLOAKROOM_BACKEND").as_deref() {
            Err(_) | Ok("") | Ok("mock") => Backend::Mock,
            Ok("edge") => Backend::Edge,
            Ok(other) => panic!("CLOAKROOM_BACKEND={other:?}: use mock or edge"),
        }
    }
}

/// A running worker API of either kind.
pub enum TestServer {
    Mock(ServerProcess),
    Edge(EdgeProcess),
}

/// The edge setting a mock-server flag maps to, if any.
fn edge_var(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "--rate-per-second" => "RATE_PER_SECOND",
        "--rate-burst" => "RATE_BURST",
        "--initial-budget" => "INITIAL_BUDGET",
        "--allow-origin" => "ALLOW_ORIGINS",
        "--public-origin" => "PUBLIC_ORIGINS",
        "--default-capacity" => "DEFAULT_CAPACITY",
        "--join-timeout-secs" => "JOIN_TIMEOUT_SECS",
        "--sso-origin" => "SSO_ORIGIN",
        "--sso-name" => "SSO_NAME",
        "--sso-root-key" => "SSO_ROOT_KEY",
        // A path for mock-server; the edge takes the key set's JSON itself.
        "--sso-keyset" => "SSO_KEYSET",
        "--ice-server" => "ICE_SERVERS",
        "--ice-username" => "ICE_USERNAME",
        "--ice-credential" => "ICE_CREDENTIAL",
        // A switch: no value follows.
        "--ice-relay-only" => "ICE_RELAY_ONLY",
        _ => return None,
    })
}

impl TestServer {
    /// Starts the backend of [`Backend::from_env`] on `options` (its data dir becomes the
    /// edge's state dir; a `listen` address, its port).
    pub fn start(options: ServerOptions) -> TestServer {
        match Backend::from_env() {
            Backend::Mock => TestServer::Mock(ServerProcess::start(options)),
            Backend::Edge => {
                let mut edge = EdgeOptions::new(&options.data_dir);
                edge.admin_secret = options.admin_secret.clone();
                let mut args = options.extra_args.iter();
                while let Some(flag) = args.next() {
                    let Some(var) = edge_var(flag) else {
                        panic!("{flag} has no equivalent on the edge: this test runs on mock-server only");
                    };
                    let mut value = if var == "ICE_RELAY_ONLY" {
                        "true".to_owned()
                    } else {
                        args.next().unwrap_or_else(|| panic!("{flag} needs a value")).clone()
                    };
                    if var == "SSO_KEYSET" {
                        let text = std::fs::read_to_string(&value).expect("read the SSO key set");
                        let json: serde_json::Value = serde_json::from_str(&text).expect("a key set is JSON");
                        value = json.to_string();
                    }
                    match edge.vars.iter_mut().find(|(name, _)| name == var) {
                        Some((_, list)) => *list = format!("{list},{value}"),
                        None => edge.vars.push((var.to_owned(), value)),
                    }
                }
                match options.listen {
                    Some(addr) => TestServer::Edge(EdgeProcess::start_on(edge, addr.port())),
                    None => TestServer::Edge(EdgeProcess::start(edge)),
                }
            }
        }
    }

    /// Stops the server and audits its ledger offline with the ledger key, as an operator
    /// would (`mock-server audit … --json`): mock-server's data dir; the edge's export
    /// (`GET /api/ledger/export`, taken before it stops). The report, as JSON.
    pub async fn audit_ledger(self) -> serde_json::Value {
        let mut cmd = std::process::Command::new(crate::server::mock_server_bin());
        cmd.arg("audit").arg("--json");
        match &self {
            TestServer::Mock(s) => {
                cmd.arg("--data-dir").arg(&s.options.data_dir);
            }
            TestServer::Edge(s) => {
                let resp = reqwest::Client::new()
                    .get(format!("{}/api/ledger/export", s.http_base()))
                    .header(api_core::ledger::ADMIN_HEADER, &s.options.admin_secret)
                    .send()
                    .await
                    .expect("the export answers");
                assert!(resp.status().is_success(), "the admin secret exports the ledger: {}", resp.status());
                let (export, key) =
                    (s.options.state_dir.join("ledger-export.json"), s.options.state_dir.join("ledger.key"));
                std::fs::write(&export, resp.bytes().await.expect("the export")).expect("write the export");
                std::fs::write(&key, format!("{}\n", s.options.ledger_secret)).expect("write the ledger key");
                cmd.arg("--ledger-export").arg(export).arg("--ledger-key").arg(key);
            }
        }
        drop(self);
        let out = cmd.output().expect("run mock-server audit");
        assert!(out.status.success(), "the audit ran: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("the audit's JSON")
    }

    pub fn backend(&self) -> Backend {
        match self {
            TestServer::Mock(_) => Backend::Mock,
            TestServer::Edge(_) => Backend::Edge,
        }
    }

    pub fn http_base(&self) -> String {
        match self {
            TestServer::Mock(s) => s.http_base(),
            TestServer::Edge(s) => s.http_base(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            TestServer::Mock(s) => s.addr,
            TestServer::Edge(s) => s.addr,
        }
    }

    pub fn ws_base(&self) -> String {
        match self {
            TestServer::Mock(s) => s.ws_base(),
            TestServer::Edge(s) => s.ws_base(),
        }
    }

    /// Where the backend keeps what it stores (for byte scans): mock-server's data dir, or
    /// workerd's state dir (Durable Object SQLite files).
    pub fn stored_dir(&self) -> PathBuf {
        match self {
            TestServer::Mock(s) => s.options.data_dir.clone(),
            TestServer::Edge(s) => s.options.state_dir.join("state"),
        }
    }

    /// Stops the server (mock-server: SIGTERM and wait; the edge: SIGKILL, after which
    /// workerd's SQLite files hold every acknowledged write).
    pub fn stop(&mut self) {
        match self {
            TestServer::Mock(s) => s.stop(),
            TestServer::Edge(s) => s.kill9(),
        }
    }

    pub fn kill9(&mut self) {
        match self {
            TestServer::Mock(s) => s.kill9(),
            TestServer::Edge(s) => s.kill9(),
        }
    }

    /// A crash and a start on the same port and state.
    pub fn restart(&mut self) {
        match self {
            TestServer::Mock(s) => s.restart(),
            TestServer::Edge(s) => s.restart(),
        }
    }

    /// The server process's id (mock-server only: its memory and threads are measured).
    pub fn pid(&self) -> Option<u32> {
        match self {
            TestServer::Mock(s) => s.pid(),
            TestServer::Edge(_) => panic!("this test measures mock-server's process: it runs on mock-server only"),
        }
    }

    /// The mock-server process, for tests that need its specifics (its data layout, its
    /// PID); on the edge the test stops with a message saying so.
    pub fn mock(&mut self) -> &mut ServerProcess {
        match self {
            TestServer::Mock(s) => s,
            TestServer::Edge(_) => panic!("this test needs mock-server's internals: it runs on mock-server only"),
        }
    }
}
