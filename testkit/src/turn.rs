//! A TURN relay on loopback: Debian's coturn (`turnserver`), started per test on free
//! ports with one long-term user, in its own process group, killed when dropped. Calls
//! made with `iceTransportPolicy: "relay"` through it connect only through the relay.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The relay's user and password.
pub const USER: &str = "cloakroom";
pub const PASSWORD: &str = "relay-test-password";

/// A running coturn.
pub struct Turn {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Turn {
    /// Starts `turnserver` on 127.0.0.1 (UDP and TCP on a free port, relay ports from a
    /// small range above it); waits until it listens.
    pub fn start() -> Turn {
        let port = crate::free_port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let child = spawn(port, &log);
        Turn { child, port, log }
    }

    /// Stops the relay (every allocation through it is gone), as a relay that crashed.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the relay again on the same port, with no allocations.
    pub fn start_again(&mut self) {
        self.stop();
        self.child = spawn(self.port, &self.log);
    }

    /// The relay's URL for `/api/info` (UDP).
    pub fn url(&self) -> String {
        format!("turn:127.0.0.1:{}?transport=udp", self.port)
    }

    /// mock-server's flags that make calls use this relay only.
    pub fn server_args(&self) -> Vec<String> {
        ["--ice-server", &self.url(), "--ice-username", USER, "--ice-credential", PASSWORD, "--ice-relay-only"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// How many relay allocations the relay granted so far (over every start).
    pub fn allocations(&self) -> usize {
        self.log.lock().expect("log").iter().filter(|l| l.contains("ALLOCATE") && l.contains("success")).count()
    }
}

/// Starts `turnserver` on `port`, its log lines appended to `log`; returns once it listens.
fn spawn(port: u16, log: &Arc<Mutex<Vec<String>>>) -> Child {
    let relay_low = 49_152 + (port % 8_000);
    let mut command = Command::new("turnserver");
    command
        .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--external-ip", "127.0.0.1"])
        .args(["--listening-port", &port.to_string()])
        .args(["--min-port", &relay_low.to_string(), "--max-port", &(relay_low + 200).to_string()])
        .args(["--lt-cred-mech", "--user", &format!("{USER}:{PASSWORD}"), "--realm", "cloakroom.test"])
        .args(["--no-tls", "--no-dtls", "--no-cli", "--fingerprint", "--allow-loopback-peers"])
        .args(["--no-multicast-peers", "--log-file", "stdout", "--simple-log", "--verbose"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().expect("start turnserver (coturn: scripts/setup installs it)");
    let stdout = child.stdout.take().expect("piped stdout");
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().expect("log").push(line);
        }
    });
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "turnserver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.stop();
    }
}
