//! The ledger key pair: its public half seals token-to-room links online; its private
//! half opens them offline (audits, garbage collection).
//!
//! `mock-server init` creates it and writes the private half where the operator says
//! (to be kept offline). If a server starts without one, it creates both halves in the
//! data directory and warns: fine for development, not for production.

use std::io::Write;
use std::path::{Path, PathBuf};

use protocol::identity::{IdentityKey, PublicKey};

use crate::clock::random_bytes;

/// Public half, in the data directory.
pub fn public_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger.pub")
}

/// Default place of the private half when the server had to create it.
pub fn default_private_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger.key")
}

/// A fresh ledger key pair.
pub fn generate() -> IdentityKey {
    loop {
        if let Ok(k) = IdentityKey::from_secret_bytes(&random_bytes::<32>()) {
            return k;
        }
    }
}

/// Writes a secret file readable only by its owner.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{text}")?;
    file.sync_all()
}

/// Reads the public half.
pub fn load_public(data_dir: &Path) -> Result<Option<PublicKey>, String> {
    match std::fs::read_to_string(public_path(data_dir)) {
        Ok(text) => PublicKey::parse(text.trim()).map(Some).map_err(|e| format!("ledger.pub: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read ledger.pub: {e}")),
    }
}

/// Reads a private half.
pub fn load_private(path: &Path) -> Result<IdentityKey, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the ledger key {}: {e}", path.display()))?;
    IdentityKey::from_secret_b64(text.trim()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The public half, creating a development key pair in the data directory if none exists.
pub fn load_or_create(data_dir: &Path) -> Result<PublicKey, String> {
    if let Some(key) = load_public(data_dir)? {
        return Ok(key);
    }
    let pair = generate();
    let private = default_private_path(data_dir);
    write_private(&private, &pair.to_secret_b64()).map_err(|e| format!("cannot write {}: {e}", private.display()))?;
    std::fs::write(public_path(data_dir), format!("{}\n", pair.public_key()))
        .map_err(|e| format!("cannot write ledger.pub: {e}"))?;
    tracing::warn!(
        "created a ledger key pair in the data directory ({}); for production run `mock-server init` and keep the private half offline",
        private.display()
    );
    Ok(pair.public_key())
}
