//! `mock-server sso …`: the SSO's offline key material (`docs/SSO.md`).
//!
//! * `init`: the root key pair (P-256). Its private half stays offline; its public half
//!   goes to every worker (`--sso-root-key`) and, through `/api/info`, to every browser.
//! * `mint-keys`: a new RSA-2048 issuance key for one period, written for the SSO, and a
//!   new key set (the still-valid keys of the current one plus the new key) signed by the
//!   root key, for the SSO and the workers.
//! * `revoke`: a key set without one key.

use std::path::Path;

use protocol::identity::IdentityKey;
use protocol::sso::{Denomination, DenominationKind, IssuerKey, SsoKeyset};

use crate::cli::CliError;
use crate::clock::now_micros;
use crate::ledger_key;

const DAY_MS: u64 = 86_400_000;

/// Makes the root key pair; returns the public key (base64url).
pub fn init(root_key: &Path) -> Result<String, CliError> {
    if root_key.exists() {
        return Err(CliError::invalid(format!(
            "{} exists already: refusing to replace a root key",
            root_key.display()
        )));
    }
    let pair = ledger_key::generate();
    ledger_key::write_private(root_key, &pair.to_secret_b64())
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", root_key.display())))?;
    Ok(pair.public_key().to_b64())
}

fn load_root(path: &Path) -> Result<IdentityKey, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::not_found(format!("cannot read the root key {}: {e}", path.display())))?;
    IdentityKey::from_secret_b64(text.trim()).map_err(|e| CliError::invalid(format!("{}: {e}", path.display())))
}

fn load_keyset(path: &Path, root: &IdentityKey) -> Result<SsoKeyset, CliError> {
    let bytes = std::fs::read(path).map_err(|e| CliError::not_found(format!("cannot read {}: {e}", path.display())))?;
    SsoKeyset::parse_verified(&bytes, &root.public_key())
        .map_err(|e| CliError::invalid(format!("{}: {e}", path.display())))
}

fn write_keyset(path: &Path, set: &SsoKeyset) -> Result<(), CliError> {
    let json = serde_json::to_string_pretty(set).map_err(|e| CliError::failed(e.to_string()))?;
    std::fs::write(path, json + "\n").map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` (UTC midnight) in ms since the Unix epoch.
pub fn parse_day(text: &str) -> Result<u64, CliError> {
    let bad = || CliError::invalid(format!("{text:?} is not a date: use YYYY-MM-DD"));
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) =
        (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    Ok(days_from_civil(y, m, d) as u64 * DAY_MS)
}

/// What `mint-keys` made.
pub struct Minted {
    pub key_id: String,
    pub issuer_pem: std::path::PathBuf,
    pub keyset: std::path::PathBuf,
    pub keys_in_set: usize,
}

/// The `mint-keys` arguments.
pub struct MintOptions<'a> {
    pub root_key: &'a Path,
    pub out: &'a Path,
    pub keyset: Option<&'a Path>,
    pub from: Option<&'a str>,
    pub days: u64,
    pub room_bytes: u64,
    pub max_redemptions: u64,
}

pub fn mint_keys(o: MintOptions<'_>) -> Result<Minted, CliError> {
    let root = load_root(o.root_key)?;
    let now_ms = now_micros() / 1000;
    let not_before = match o.from {
        Some(day) => parse_day(day)?,
        None => now_ms - now_ms % DAY_MS,
    };
    if o.days == 0 || o.days > 366 {
        return Err(CliError::invalid("--days is 1 to 366: keys are rotated, not kept for years"));
    }
    if o.max_redemptions == 0 {
        return Err(CliError::invalid("--max-redemptions must be at least 1"));
    }
    let mut keys = match o.keyset {
        Some(path) => load_keyset(path, &root)?.keys.into_iter().filter(|k| k.not_after > now_ms).collect(),
        None => Vec::new(),
    };
    let issuer = IssuerKey::generate().map_err(|e| CliError::failed(e.to_string()))?;
    let key = issuer
        .describe(
            Denomination { kind: DenominationKind::Room, bytes: o.room_bytes },
            not_before,
            not_before + o.days * DAY_MS,
            o.max_redemptions,
        )
        .map_err(|e| CliError::invalid(e.to_string()))?;
    let key_id = key.key_id.clone();
    keys.push(key);
    let set = SsoKeyset::sign(&root, keys, now_ms);
    set.verify(&root.public_key()).map_err(|e| CliError::invalid(e.to_string()))?;
    std::fs::create_dir_all(o.out).map_err(|e| CliError::failed(format!("cannot create {}: {e}", o.out.display())))?;
    let issuer_pem = o.out.join(format!("issuer-{key_id}.pem"));
    let pem = issuer.to_pem().map_err(|e| CliError::failed(e.to_string()))?;
    ledger_key::write_private(&issuer_pem, pem.trim_end())
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", issuer_pem.display())))?;
    let keyset = o.out.join("keyset.json");
    write_keyset(&keyset, &set)?;
    Ok(Minted { key_id, issuer_pem, keyset, keys_in_set: set.keys.len() })
}

/// Writes `out`: the key set of `keyset` without `key_id`, signed again.
pub fn revoke(root_key: &Path, keyset: &Path, key_id: &str, out: &Path) -> Result<usize, CliError> {
    let root = load_root(root_key)?;
    let mut set = load_keyset(keyset, &root)?;
    let before = set.keys.len();
    set.keys.retain(|k| k.key_id != key_id);
    if set.keys.len() == before {
        return Err(CliError::not_found(format!("{key_id} is not in {}", keyset.display())));
    }
    let set = SsoKeyset::sign(&root, set.keys, now_micros() / 1000);
    write_keyset(out, &set)?;
    Ok(set.keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_midnights() {
        assert_eq!(parse_day("1970-01-01").unwrap(), 0);
        assert_eq!(parse_day("2027-01-01").unwrap(), 1_798_761_600_000);
        assert_eq!(parse_day("2024-03-01").unwrap() - parse_day("2024-02-28").unwrap(), 2 * DAY_MS);
        for bad in ["2027-13-01", "2027-1", "x-01-01", "1969-12-31", "2027-01-01-01", "2027-01-32"] {
            assert_eq!(parse_day(bad).unwrap_err().code, 5, "{bad}");
        }
    }
}
