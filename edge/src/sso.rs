//! The SSO this deployment accepts room tokens from (docs/SSO.md), from its settings:
//! `SSO_ORIGIN`, `SSO_NAME`, `SSO_ROOT_KEY` (the root public key) and `SSO_KEYSET` (the
//! key set's JSON, checked against the root key). Without all of them, or with a key set
//! the root key did not sign, the deployment names no SSO and takes no SSO tokens.

use protocol::identity::PublicKey;
use protocol::sso::{SsoInfo, SsoKeyset};
use worker::Env;

use crate::runtime::setting;

/// The SSO and its key set, if this deployment accepts one.
pub fn configured(env: &Env) -> Option<(SsoInfo, SsoKeyset)> {
    let origin = setting(env, "SSO_ORIGIN").filter(|o| !o.is_empty())?;
    let root = PublicKey::parse(setting(env, "SSO_ROOT_KEY")?.trim()).ok()?;
    let keyset = match SsoKeyset::parse_verified(setting(env, "SSO_KEYSET")?.as_bytes(), &root) {
        Ok(set) => set,
        Err(e) => {
            worker::console_error!("SSO_KEYSET is refused: {e}");
            return None;
        }
    };
    let name = setting(env, "SSO_NAME").filter(|n| !n.trim().is_empty()).unwrap_or_else(|| "your organisation".into());
    let info = SsoInfo {
        origin: origin.trim_end_matches('/').to_owned(),
        name: name.trim().chars().take(60).collect(),
        root_key: root,
    };
    Some((info, keyset))
}
