//! The SSO's configuration: its OpenID provider, the issuance keys it signs with, the key
//! set they must appear in, where people may be sent back to, and the quota policy
//! (provider group → room tokens per calendar month, UTC). No list of people: who may
//! create rooms is decided in the provider, where people are managed anyway.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use protocol::identity::PublicKey;
use protocol::sso::{IssuerKey, SsoKeyset};

#[derive(clap::Parser)]
#[command(
    name = "sso-server",
    version,
    about = "Cloakroom SSO: anonymous room tokens for people your OpenID provider vouches for"
)]
pub enum Cli {
    /// Serve /login and /callback until Ctrl-C or SIGTERM.
    Serve(Box<Args>),
}

#[derive(clap::Args)]
pub struct Args {
    /// Address to listen on (port 0: a free port, printed on the first line).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// This SSO's public origin (e.g. https://sso.example.org); the provider sends people back to
    /// <origin>/callback. Default: http://<listen address>.
    #[arg(long)]
    pub public_origin: Option<String>,
    /// Where the SSO keeps login records, per-person monthly counts and its account key.
    #[arg(long, default_value = "sso-data")]
    pub data_dir: PathBuf,
    /// The OpenID provider's issuer URL (discovery at <issuer>/.well-known/openid-configuration).
    #[arg(long)]
    pub oidc_issuer: String,
    #[arg(long, allow_hyphen_values = true)]
    pub client_id: String,
    #[arg(long, env = "CLOAKROOM_SSO_CLIENT_SECRET", hide_env_values = true, allow_hyphen_values = true)]
    pub client_secret: String,
    /// The ID token claim that lists a person's groups.
    #[arg(long, default_value = "groups")]
    pub groups_claim: String,
    /// GROUP=N: members of GROUP get N room tokens per month (repeatable; the largest applies).
    #[arg(long = "quota", value_parser = parse_quota, required = true)]
    pub quotas: Vec<(String, u64)>,
    /// The SSO root public key the key set must be signed by (base64url: it may start with `-`).
    #[arg(long, allow_hyphen_values = true)]
    pub root_key: String,
    /// The key set (from `mock-server sso mint-keys`).
    #[arg(long)]
    pub keyset: PathBuf,
    /// An issuance key PEM (repeatable): the SSO signs with the one the key set lists as current.
    #[arg(long = "issuer-key", required = true)]
    pub issuer_keys: Vec<PathBuf>,
    /// A page people may be sent back to with their tokens, exactly (repeatable), e.g.
    /// https://chat.example.org/sso-return.
    #[arg(long = "allow-return", required = true)]
    pub allow_returns: Vec<String>,
}

fn parse_quota(text: &str) -> Result<(String, u64), String> {
    let (group, n) = text.split_once('=').ok_or("a quota is GROUP=N")?;
    let n: u64 = n.parse().map_err(|_| format!("{n:?} is not a number"))?;
    if group.is_empty() || n > 1000 {
        return Err("a quota is GROUP=N with N at most 1000".into());
    }
    Ok((group.to_owned(), n))
}

/// Everything the server runs with, checked.
pub struct SsoConfig {
    pub listen: SocketAddr,
    pub public_origin: Option<String>,
    pub data_dir: PathBuf,
    pub oidc_issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub groups_claim: String,
    pub quotas: BTreeMap<String, u64>,
    pub keyset: SsoKeyset,
    /// Issuance keys by key id.
    pub issuers: BTreeMap<String, IssuerKey>,
    pub allow_returns: Vec<String>,
}

impl SsoConfig {
    pub fn from_args(args: Args) -> Result<Self, String> {
        let root = PublicKey::parse(args.root_key.trim()).map_err(|e| format!("--root-key: {e}"))?;
        let bytes = std::fs::read(&args.keyset).map_err(|e| format!("cannot read {}: {e}", args.keyset.display()))?;
        let keyset = SsoKeyset::parse_verified(&bytes, &root).map_err(|e| format!("{}: {e}", args.keyset.display()))?;
        let mut issuers = BTreeMap::new();
        for path in &args.issuer_keys {
            let pem = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let key = IssuerKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
            let id = key.key_id().map_err(|e| e.to_string())?;
            if !keyset.keys.iter().any(|k| k.key_id == id) {
                return Err(format!("{} is not in the key set: browsers would refuse its signatures", path.display()));
            }
            issuers.insert(id, key);
        }
        for url in &args.allow_returns {
            let parsed = url::Url::parse(url).map_err(|e| format!("--allow-return {url}: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.fragment().is_some() {
                return Err(format!("--allow-return {url}: an http(s) URL without a fragment"));
            }
        }
        Ok(SsoConfig {
            listen: args.listen,
            public_origin: args.public_origin.map(|o| o.trim_end_matches('/').to_owned()),
            data_dir: args.data_dir,
            oidc_issuer: args.oidc_issuer,
            client_id: args.client_id,
            client_secret: args.client_secret,
            groups_claim: args.groups_claim,
            quotas: args.quotas.into_iter().collect(),
            keyset,
            issuers,
            allow_returns: args.allow_returns,
        })
    }

    /// Room tokens per month for someone in `groups`: the largest quota of their groups.
    pub fn quota_for(&self, groups: &[String]) -> u64 {
        groups.iter().filter_map(|g| self.quotas.get(g)).copied().max().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Cli;

    /// A base64url root key starts with `-` one time in 64: a value, never a flag.
    #[test]
    fn a_root_key_starting_with_a_hyphen_is_a_value() {
        let Cli::Serve(args) = Cli::try_parse_from([
            "sso-server",
            "serve",
            "--oidc-issuer",
            "http://127.0.0.1:9",
            "--client-id",
            "-client",
            "--client-secret",
            "-secret",
            "--quota",
            "staff=3",
            "--root-key",
            "-rootkey",
            "--keyset",
            "keyset.json",
            "--issuer-key",
            "issuer.pem",
            "--allow-return",
            "http://127.0.0.1:8080/sso-return",
        ])
        .expect("parses");
        assert_eq!((args.client_id.as_str(), args.client_secret.as_str()), ("-client", "-secret"));
        assert_eq!(args.root_key, "-rootkey");
    }
}
