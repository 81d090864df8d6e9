//! The admin secret that authorises room creation on this server.
//!
//! Taken from the configuration if given; otherwise read from `<data dir>/admin-secret`,
//! which is created with a fresh random value (mode 0600) on first start.

use std::io::Write;
use std::path::Path;

use protocol::encoding::b64;

use crate::clock::random_bytes;

/// Loads or creates the admin secret file.
pub fn load_or_create(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("admin-secret");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let secret = b64(&random_bytes::<24>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path)?;
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    Ok(secret)
}

pub use api_core::secret::secrets_match;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        assert!(secrets_match(&a, &b));
        assert!(!secrets_match(&a, "x"));
    }
}
