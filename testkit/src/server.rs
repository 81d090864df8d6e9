//! A real `mock-server` process for tests: started on a free loopback port with its own
//! data directory, stopped gracefully or killed with SIGKILL, always reaped on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub data_dir: PathBuf,
    pub static_dir: Option<PathBuf>,
    pub admin_secret: String,
    /// `None` picks a free port.
    pub listen: Option<SocketAddr>,
    pub extra_args: Vec<String>,
}

impl ServerOptions {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            static_dir: None,
            admin_secret: "test-admin-secret".into(),
            listen: None,
            extra_args: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }
}

/// The mock-server binary: `$CLOAKROOM_SERVER_BIN`, or the one next to the running test.
pub fn mock_server_bin() -> PathBuf {
    if let Ok(path) = std::env::var("CLOAKROOM_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    // Tests run from target/<profile>/deps/, binaries from target/<profile>/.
    let dir = exe.parent().expect("exe dir");
    let candidates = [dir.join("mock-server"), dir.parent().map(|p| p.join("mock-server")).unwrap_or_default()];
    candidates.into_iter().find(|c| c.is_file()).unwrap_or_else(|| {
        panic!(
            "mock-server is missing next to {}: build it first (cargo build -p cloakroom-mock-server)",
            exe.display()
        )
    })
}

/// A running server process.
pub struct ServerProcess {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub options: ServerOptions,
}

impl ServerProcess {
    /// Starts the server and waits until it listens.
    pub fn start(options: ServerOptions) -> Self {
        Self::start_with(&mock_server_bin(), options)
    }

    pub fn start_with(bin: &Path, options: ServerOptions) -> Self {
        let listen = options.listen.map(|a| a.to_string()).unwrap_or_else(|| "127.0.0.1:0".into());
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--data-dir")
            .arg(&options.data_dir)
            .args(&options.extra_args)
            .env("CLOAKROOM_ADMIN_SECRET", &options.admin_secret)
            .env("CLOAKROOM_LOG", std::env::var("CLOAKROOM_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(dir) = &options.static_dir {
            // Pages report what their policy blocks, so every browser test can fail on it.
            cmd.arg("--static-dir").arg(dir).arg("--csp-report-uri").arg(crate::csp_reports::report_uri());
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().expect("printed address parses"),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!("mock-server did not start listening (exit: {status:?})");
            }
        };
        Self { child: Some(child), addr, options }
    }

    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_base(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no shutdown code runs, exactly like a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            for _ in 0..100 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same server again on the same address and data directory.
    pub fn restart(&mut self) {
        self.kill9();
        let mut options = self.options.clone();
        options.listen = Some(self.addr);
        let mut last = None;
        for _ in 0..50 {
            // The port may take a moment to be free again.
            match std::panic::catch_unwind(|| Self::start(options.clone())) {
                Ok(server) => {
                    *self = server;
                    return;
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        std::panic::resume_unwind(last.expect("at least one attempt"));
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
