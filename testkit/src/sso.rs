//! SSO key material for tests, made by the real offline CLI (`mock-server sso …`), and
//! room tokens issued natively with the same `protocol::sso` code the browser and the SSO
//! run (blind, sign blind, finish).

use std::path::{Path, PathBuf};
use std::process::Command;

use protocol::sso::{IssuerKey, PendingToken, SsoKeyset, SsoToken};

use crate::server::mock_server_bin;

/// A root key and a key set with one or more issuance keys, in a directory.
pub struct SsoKeys {
    pub dir: PathBuf,
    pub root_key_file: PathBuf,
    /// The root public key (base64url), for `--sso-root-key`.
    pub root_public: String,
    /// The newest key set (`--sso-keyset`).
    pub keyset: PathBuf,
    /// Issuer key PEM files by key id, in minting order.
    pub issuers: Vec<(String, PathBuf)>,
}

fn cli(args: &[&str]) -> String {
    let out = Command::new(mock_server_bin()).args(args).output().expect("run mock-server");
    assert!(out.status.success(), "mock-server {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

impl SsoKeys {
    /// `sso init` in `dir`, then one `sso mint-keys` with `mint_args`
    /// (e.g. `["--max-redemptions", "3"]`).
    pub fn new(dir: &Path, mint_args: &[&str]) -> Self {
        let root_key_file = dir.join("sso-root.key");
        let root_public = cli(&["sso", "init", "--root-key", root_key_file.to_str().unwrap()]);
        let mut keys =
            SsoKeys { dir: dir.to_owned(), root_key_file, root_public, keyset: PathBuf::new(), issuers: vec![] };
        keys.mint(mint_args);
        keys
    }

    /// Mints another key into the set (`--keyset` the current one).
    pub fn mint(&mut self, args: &[&str]) -> String {
        let out = self.dir.join(format!("mint-{}", self.issuers.len()));
        let mut all = vec!["sso", "mint-keys", "--root-key", self.root_key_file.to_str().unwrap()];
        let out_s = out.to_str().unwrap().to_owned();
        all.extend(["--out", &out_s]);
        let current = self.keyset.to_str().unwrap().to_owned();
        if !self.issuers.is_empty() {
            all.extend(["--keyset", &current]);
        }
        all.extend(args);
        let key_id = cli(&all);
        self.issuers.push((key_id.clone(), out.join(format!("issuer-{key_id}.pem"))));
        self.keyset = out.join("keyset.json");
        key_id
    }

    /// `sso revoke` of `key_id`: the new set replaces the current one.
    pub fn revoke(&mut self, key_id: &str) {
        let out = self.dir.join(format!("revoked-{key_id}.json"));
        cli(&[
            "sso",
            "revoke",
            "--root-key",
            self.root_key_file.to_str().unwrap(),
            "--keyset",
            self.keyset.to_str().unwrap(),
            "--key-id",
            key_id,
            "--out",
            out.to_str().unwrap(),
        ]);
        self.keyset = out;
    }

    /// The current key set, checked against the root key.
    pub fn keyset(&self) -> SsoKeyset {
        let root = protocol::identity::PublicKey::parse(&self.root_public).expect("root key");
        SsoKeyset::parse_verified(&std::fs::read(&self.keyset).expect("read key set"), &root).expect("key set")
    }

    /// The mock-server flags that make it accept these keys from an SSO at `origin`.
    pub fn server_args(&self, origin: &str) -> Vec<String> {
        vec![
            "--sso-origin".into(),
            origin.into(),
            "--sso-name".into(),
            "Test Org".into(),
            "--sso-root-key".into(),
            self.root_public.clone(),
            "--sso-keyset".into(),
            self.keyset.display().to_string(),
        ]
    }

    /// The private issuance key `key_id`.
    pub fn issuer(&self, key_id: &str) -> IssuerKey {
        let (_, pem) = self.issuers.iter().find(|(id, _)| id == key_id).expect("minted here");
        IssuerKey::from_pem(&std::fs::read_to_string(pem).expect("read issuer key")).expect("issuer key")
    }

    /// A token of key `key_id`, issued blind as the browser and the SSO would, even if the
    /// key is no longer (or not yet) in the set.
    pub fn token(&self, key_id: &str) -> SsoToken {
        let issuer = self.issuer(key_id);
        let key = issuer
            .describe(
                protocol::sso::Denomination { kind: protocol::sso::DenominationKind::Room, bytes: 1 << 30 },
                0,
                1,
                1,
            )
            .expect("describe");
        let pending = PendingToken::blind(&key, crate::random_bytes::<32>()).expect("blind");
        pending.finish(&key, &issuer.blind_sign(&pending.blinded()).expect("sign")).expect("finish")
    }
}

/// A child process that printed "listening on http://…", killed (SIGKILL to its process
/// group) when dropped.
struct Listening {
    child: std::process::Child,
}

impl Drop for Listening {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the group this child leads (process_group(0)).
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn spawn_listening(mut cmd: Command, what: &str) -> Listening {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("listening on http://")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    let process = Listening { child };
    if rx.recv_timeout(std::time::Duration::from_secs(30)).is_err() {
        panic!("{what} did not start listening");
    }
    process
}

/// The test OpenID provider (`testkit/idp/idp.mjs`, npm `oidc-provider`) and the SSO in
/// front of it, both on 127.0.0.1: an organisation's sign-in, for real.
pub struct SsoStack {
    _sso: Listening,
    _idp: Listening,
    /// The SSO's origin (`http://127.0.0.1:<port>`).
    pub origin: String,
    pub idp_issuer: String,
    /// The SSO's data directory (for byte scans).
    pub data_dir: tempfile::TempDir,
}

impl SsoStack {
    /// Starts the provider and the SSO, which signs with every issuer key of `keys`, sends
    /// people back only to `return_url`, and gives members of `cloakroom-owners` `quota`
    /// room tokens a month.
    pub fn start(keys: &SsoKeys, return_url: &str, quota: u64) -> Self {
        let root = crate::workspace_root();
        let idp_dir = root.join("testkit/idp");
        assert!(
            idp_dir.join("node_modules/oidc-provider").is_dir(),
            "the test OpenID provider is not installed: run ./scripts/setup"
        );
        let (idp_port, sso_port) = (crate::free_port(), crate::free_port());
        let origin = format!("http://127.0.0.1:{sso_port}");
        let idp_issuer = format!("http://127.0.0.1:{idp_port}");
        let mut idp = Command::new("node");
        idp.current_dir(&idp_dir).args([
            "idp.mjs",
            &idp_port.to_string(),
            "cloakroom-sso",
            "test-client-secret",
            &format!("{origin}/callback"),
        ]);
        let idp = spawn_listening(idp, "the test OpenID provider (node idp.mjs)");
        let data_dir = tempfile::tempdir().expect("temp dir");
        let bin = crate::server::mock_server_bin().with_file_name("sso-server");
        assert!(bin.is_file(), "{} is missing: cargo build -p cloakroom-sso-server", bin.display());
        let mut sso = Command::new(&bin);
        sso.args(["serve", "--listen", &format!("127.0.0.1:{sso_port}")])
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--oidc-issuer", &idp_issuer, "--client-id", "cloakroom-sso"])
            .args(["--quota", &format!("cloakroom-owners={quota}"), "--root-key", &keys.root_public])
            .arg("--keyset")
            .arg(&keys.keyset)
            .args(["--allow-return", return_url])
            .env("CLOAKROOM_SSO_CLIENT_SECRET", "test-client-secret")
            .env("RUST_LOG", "warn");
        for (_, pem) in &keys.issuers {
            sso.arg("--issuer-key").arg(pem);
        }
        let sso = spawn_listening(sso, "sso-server");
        SsoStack { _sso: sso, _idp: idp, origin, idp_issuer, data_dir }
    }
}
