//! `mock-server init`: prepares a data directory: the admin secret, and the ledger key
//! pair whose private half goes to a file the operator then keeps offline.

use std::path::Path;

use crate::cli::{CliError, open_data_dir};
use crate::{admin_secret, ledger_key};

/// Initialises `data_dir`; returns the report to print.
pub fn run(data_dir: &Path, ledger_key_out: &Path, admin_secret: Option<&str>) -> Result<String, CliError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| CliError::failed(format!("cannot create {}: {e}", data_dir.display())))?;
    let _lock = open_data_dir(data_dir)?;
    if ledger_key::public_path(data_dir).exists() {
        return Err(CliError::failed(format!("{} is already initialised (it has a ledger.pub)", data_dir.display())));
    }
    if ledger_key_out.exists() {
        return Err(CliError::failed(format!("{} already exists; choose another path", ledger_key_out.display())));
    }
    let secret = match admin_secret {
        Some(secret) => {
            let path = data_dir.join("admin-secret");
            if path.exists() {
                return Err(CliError::failed(format!("{} already exists", path.display())));
            }
            ledger_key::write_private(&path, secret.trim())
                .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
            secret.trim().to_owned()
        }
        None => admin_secret::load_or_create(data_dir).map_err(|e| CliError::failed(format!("admin secret: {e}")))?,
    };
    let pair = ledger_key::generate();
    ledger_key::write_private(ledger_key_out, &pair.to_secret_b64())
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", ledger_key_out.display())))?;
    std::fs::write(ledger_key::public_path(data_dir), format!("{}\n", pair.public_key()))
        .map_err(|e| CliError::failed(format!("cannot write ledger.pub: {e}")))?;
    Ok(format!(
        "initialised {dir}\n  admin secret: {dir}/admin-secret ({len} characters)\n  ledger public key: {dir}/ledger.pub\n  ledger PRIVATE key: {key} -- move it offline; audits and gc need it\n",
        dir = data_dir.display(),
        len = secret.len(),
        key = ledger_key_out.display(),
    ))
}
