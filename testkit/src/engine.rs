//! The browsers tests drive: Chromium, Firefox or WebKit, over WebDriver.
//!
//! `CLOAKROOM_BROWSER=chromium|firefox|webkit` picks the engine ([`Engine::from_env`],
//! Chromium by default); a test that mixes engines starts a [`Driver`] for each.
//!
//! - Chromium: Debian's `chromium` through one `chromedriver` for all of a test's sessions.
//! - Firefox: Debian's `firefox-esr`, headless, through `geckodriver` (one per session:
//!   geckodriver drives one browser at a time).
//! - WebKit: WebKitGTK's MiniBrowser through `WebKitWebDriver` (one per session), in an
//!   Xvfb display the driver starts (MiniBrowser has no headless mode).
//!
//! Every process a [`Driver`] starts (drivers, browsers, Xvfb) is in one process group,
//! led by a placeholder process; dropping the driver kills the whole group, so no browser
//! outlives a test even when it panics, and [`Driver::process_group`] measures them all.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use tempfile::TempDir;

/// The Chromium binary (Debian's package).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The Firefox binary (Debian's `firefox-esr`).
pub const FIREFOX: &str = "/usr/bin/firefox-esr";
/// WebKitGTK's MiniBrowser (Debian's `libwebkit2gtk-4.1-0`), which `WebKitWebDriver` drives.
pub const MINIBROWSER: &str = "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
/// The window every session gets, in CSS pixels.
pub const WINDOW: (u32, u32) = (1200, 900);

/// A browser engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    Chromium,
    Firefox,
    WebKit,
}

impl Engine {
    /// The engine `CLOAKROOM_BROWSER` names (`chromium` when unset); any other value is a
    /// mistake worth stopping for, not a reason to fall back silently.
    pub fn from_env() -> Engine {
        match std::env::var("CLOAKROOM_BROWSER").as_deref() {
            Err(_) | Ok("") | Ok("chromium") => Engine::Chromium,
            Ok("firefox") => Engine::Firefox,
            Ok("webkit") => Engine::WebKit,
            Ok(other) => panic!("CLOAKROOM_BROWSER={other:?}: use chromium, firefox or webkit"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
            Engine::WebKit => "webkit",
        }
    }

    /// Whether the engine has the Chrome DevTools Protocol (network emulation, clearing
    /// site data, performance metrics): only Chromium does.
    pub fn has_devtools(self) -> bool {
        self == Engine::Chromium
    }
}

/// How a session's browser is set up, beyond a fresh profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOptions {
    /// Cookies and site data blocked for every site, as a person can choose in the
    /// browser's settings (`localStorage` then throws).
    pub block_site_data: bool,
}

/// What testkit knows about a live session, by WebDriver session id.
#[derive(Debug, Clone)]
struct SessionInfo {
    engine: Engine,
    /// Where the browser saves downloads (a symlink [`crate::browser::allow_downloads`]
    /// points at the test's directory), for engines configured at start.
    downloads: Option<PathBuf>,
}

static SESSIONS: Mutex<BTreeMap<String, SessionInfo>> = Mutex::new(BTreeMap::new());

async fn session_id(client: &Client) -> String {
    client.session_id().await.ok().flatten().expect("a live WebDriver session")
}

async fn info(client: &Client) -> SessionInfo {
    let id = session_id(client).await;
    SESSIONS.lock().unwrap().get(&id).cloned().expect("a session testkit started")
}

/// The engine behind `client`.
pub async fn engine_of(client: &Client) -> Engine {
    info(client).await.engine
}

/// Where `client`'s browser saves downloads, for engines that are told at start.
pub(crate) async fn downloads_link(client: &Client) -> Option<PathBuf> {
    info(client).await.downloads
}

/// Waits until a WebDriver server on `port` answers `/status`.
async fn wait_ready(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/status")).await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not start");
}

/// Starts the browsers of one engine for a test.
pub struct Driver {
    engine: Engine,
    /// Leads the process group every process below joins.
    leader: Child,
    chromedriver_port: Option<u16>,
    /// The Xvfb display (`:N`) WebKit's windows open on.
    display: Option<String>,
    children: Mutex<Vec<Child>>,
}

impl Driver {
    /// The engine `CLOAKROOM_BROWSER` names.
    pub async fn start() -> Self {
        Self::start_engine(Engine::from_env()).await
    }

    /// Chromium, whatever `CLOAKROOM_BROWSER` says (benches that read DevTools metrics).
    pub async fn chromium() -> Self {
        Self::start_engine(Engine::Chromium).await
    }

    pub async fn start_engine(engine: Engine) -> Self {
        let leader = Command::new("sleep")
            .arg("infinity")
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the process group's leader");
        let mut driver =
            Self { engine, leader, chromedriver_port: None, display: None, children: Mutex::new(Vec::new()) };
        match engine {
            Engine::Chromium => {
                let port = crate::free_port();
                let child = driver.spawn(
                    Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                        .arg(format!("--port={port}"))
                        .arg("--allowed-ips=127.0.0.1"),
                    "chromedriver",
                );
                driver.children.get_mut().unwrap().push(child);
                wait_ready(port, "chromedriver").await;
                driver.chromedriver_port = Some(port);
            }
            Engine::Firefox => {}
            Engine::WebKit => driver.display = Some(driver.start_xvfb()),
        }
        driver
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The process group of every driver and browser this driver started.
    pub fn process_group(&self) -> u32 {
        self.leader.id()
    }

    fn spawn(&self, cmd: &mut Command, what: &str) -> Child {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(self.leader.id() as i32)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what} (scripts/setup installs it): {e}"))
    }

    /// An X display of its own (Xvfb picks a free number and prints it when ready).
    fn start_xvfb(&mut self) -> String {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(self.leader.id() as i32)
            .spawn()
            .expect("Xvfb is installed (scripts/setup)");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("Xvfb prints its display");
        let number: u32 = line.trim().parse().unwrap_or_else(|_| panic!("Xvfb did not start ({line:?})"));
        self.children.get_mut().unwrap().push(child);
        format!(":{number}")
    }

    /// A new browser with its own empty profile (independent storage).
    pub async fn session(&self) -> Browser {
        self.session_with(SessionOptions::default()).await
    }

    /// Whether this engine can start a session with `options` (WebKit's MiniBrowser has
    /// no setting that blocks site data).
    pub fn supports(&self, options: SessionOptions) -> bool {
        !(options.block_site_data && self.engine == Engine::WebKit)
    }

    /// [`Driver::session`] with the browser set up as `options` say.
    pub async fn session_with(&self, options: SessionOptions) -> Browser {
        assert!(self.supports(options), "{} cannot start a session with {options:?}", self.engine.name());
        let profile = tempfile::tempdir().expect("profile dir");
        let downloads = profile.path().join("downloads");
        let default_downloads = profile.path().join("saved");
        std::fs::create_dir_all(&default_downloads).expect("downloads dir");
        std::os::unix::fs::symlink(&default_downloads, &downloads).expect("downloads link");
        let (port, own_driver, caps) = match self.engine {
            Engine::Chromium => {
                (self.chromedriver_port.expect("chromedriver"), None, chromium_caps(profile.path(), options))
            }
            Engine::Firefox => {
                let port = crate::free_port();
                let child = self.spawn(
                    Command::new(std::env::var("GECKODRIVER").unwrap_or_else(|_| "geckodriver".into()))
                        .args(["--port", &port.to_string(), "--host", "127.0.0.1"])
                        .env("TMPDIR", profile.path()),
                    "geckodriver",
                );
                wait_ready(port, "geckodriver").await;
                (port, Some(child), firefox_caps(&downloads, options))
            }
            Engine::WebKit => {
                let port = crate::free_port();
                let config = profile.path().join("config");
                std::fs::create_dir_all(&config).expect("config dir");
                std::fs::write(
                    config.join("user-dirs.dirs"),
                    format!("XDG_DOWNLOAD_DIR=\"{}\"\n", downloads.display()),
                )
                .expect("user-dirs.dirs");
                let child = self.spawn(
                    Command::new(std::env::var("WEBKIT_WEBDRIVER").unwrap_or_else(|_| "WebKitWebDriver".into()))
                        .arg(format!("--port={port}"))
                        .env("DISPLAY", self.display.as_deref().expect("Xvfb"))
                        .env("HOME", profile.path())
                        .env("XDG_CONFIG_HOME", &config)
                        .env("XDG_DATA_HOME", profile.path().join("data"))
                        .env("XDG_CACHE_HOME", profile.path().join("cache"))
                        .env("GTK_A11Y", "none")
                        .env("NO_AT_BRIDGE", "1"),
                    "WebKitWebDriver",
                );
                wait_ready(port, "WebKitWebDriver").await;
                (port, Some(child), webkit_caps())
            }
        };
        let mut last_error = None;
        for _ in 0..3 {
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    if self.engine != Engine::Chromium {
                        let _ = client.set_window_size(WINDOW.0, WINDOW.1).await;
                    }
                    self.check_user_agent(&client).await;
                    let id = session_id(&client).await;
                    let configured = (self.engine != Engine::Chromium).then(|| downloads.clone());
                    SESSIONS.lock().unwrap().insert(id, SessionInfo { engine: self.engine, downloads: configured });
                    return Browser { client, driver: own_driver, _profile: profile };
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("cannot start a {} session: {last_error:?}", self.engine.name());
    }
}

impl Driver {
    /// The session really runs this engine (not a driver found first on the PATH).
    async fn check_user_agent(&self, client: &Client) {
        let agent = client.execute("return navigator.userAgent", vec![]).await.expect("read the user agent");
        let agent = agent.as_str().unwrap_or_default();
        let matches = match self.engine {
            Engine::Chromium => agent.contains("Chrome/"),
            Engine::Firefox => agent.contains("Firefox/"),
            Engine::WebKit => agent.contains("AppleWebKit/") && !agent.contains("Chrome/"),
        };
        assert!(matches, "a {} session reports the user agent {agent:?}", self.engine.name());
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created.
        unsafe {
            libc::kill(-(self.leader.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.leader.wait();
        for mut child in self.children.get_mut().unwrap().drain(..) {
            let _ = child.wait();
        }
    }
}

fn chromium_caps(profile: &Path, options: SessionOptions) -> serde_json::Map<String, serde_json::Value> {
    let args = vec![
        "--headless=new".to_owned(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--disable-dev-shm-usage".into(),
        // Fake cameras and microphones (three each) and a fake screen to share, granted
        // without asking (calls). The second fake camera is a depth camera (16-bit
        // grey) that WebRTC does not send; the first and third are ordinary.
        "--use-fake-device-for-media-stream=device-count=3".into(),
        "--use-fake-ui-for-media-stream".into(),
        format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    let mut chrome = serde_json::json!({ "binary": CHROMIUM, "args": args });
    if options.block_site_data {
        chrome["prefs"] = serde_json::json!({ "profile.default_content_setting_values.cookies": 2 });
    }
    caps.insert("goog:chromeOptions".into(), chrome);
    caps
}

/// Firefox's preferences for tests: downloads saved without asking into `downloads`, no
/// JSON viewer (so a JSON page is a plain document of the origin), and nothing that calls
/// home (geckodriver's own defaults already turn off updates and telemetry).
fn firefox_caps(downloads: &Path, options: SessionOptions) -> serde_json::Map<String, serde_json::Value> {
    let mut prefs = serde_json::json!({
        "browser.download.folderList": 2,
        "browser.download.dir": downloads.display().to_string(),
        "browser.download.useDownloadDir": true,
        "browser.download.always_ask_before_handling_new_types": false,
        "browser.download.manager.showWhenStarting": false,
        "browser.download.alwaysOpenPanel": false,
        "browser.download.start_downloads_in_tmp_dir": false,
        "devtools.jsonview.enabled": false,
        "browser.safebrowsing.malware.enabled": false,
        "browser.safebrowsing.phishing.enabled": false,
        "browser.safebrowsing.downloads.enabled": false,
        "browser.safebrowsing.downloads.remote.enabled": false,
        "browser.safebrowsing.blockedURIs.enabled": false,
        "network.captive-portal-service.enabled": false,
        "network.connectivity-service.enabled": false,
        "network.dns.disablePrefetch": true,
        "network.prefetch-next": false,
        "browser.newtabpage.enabled": false,
        "extensions.getAddons.cache.enabled": false,
        "app.normandy.enabled": false,
        "services.settings.server": "http://127.0.0.1:9/",
        "browser.region.network.url": "",
        "media.navigator.streams.fake": true,
        "media.navigator.permission.disabled": true,
        // The tests' TURN relay listens on 127.0.0.1, which Firefox refuses as an ICE
        // server unless told (a real relay is never on loopback).
        "media.peerconnection.ice.loopback": true,
    });
    if options.block_site_data {
        prefs["network.cookie.cookieBehavior"] = 2.into();
    }
    // For investigations: `CLOAKROOM_FIREFOX_PREFS='{"dom.serviceWorkers.enabled": false}'`.
    if let Ok(extra) = std::env::var("CLOAKROOM_FIREFOX_PREFS") {
        let extra: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&extra).expect("CLOAKROOM_FIREFOX_PREFS is a JSON object");
        for (name, value) in extra {
            prefs[name] = value;
        }
    }
    let options = serde_json::json!({
        "binary": FIREFOX,
        "args": ["-headless", "--width", WINDOW.0.to_string(), "--height", WINDOW.1.to_string()],
        "prefs": prefs,
    });
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), "firefox".into());
    caps.insert("moz:firefoxOptions".into(), options);
    caps
}

fn webkit_caps() -> serde_json::Map<String, serde_json::Value> {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "webkitgtk:browserOptions".into(),
        serde_json::json!({ "binary": MINIBROWSER, "args": ["--automation"] }),
    );
    caps
}

/// One browser session, its own driver process (Firefox, WebKit) and its profile directory.
pub struct Browser {
    pub client: Client,
    driver: Option<Child>,
    _profile: TempDir,
}

impl Browser {
    /// Ends the session (the browser quits) and stops its driver.
    pub async fn close(mut self) {
        if let Ok(Some(id)) = self.client.session_id().await {
            SESSIONS.lock().unwrap().remove(&id);
        }
        let _ = self.client.clone().close().await;
        if let Some(mut child) = self.driver.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(mut child) = self.driver.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
