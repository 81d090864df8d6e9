//! What the SSO keeps, in one SQLite file (`<data-dir>/sso.sqlite`), and nothing else:
//!
//! | table | row | kept for |
//! |---|---|---|
//! | `logins` | a sign-in in progress: OIDC `state` → nonce, PKCE verifier, the page to return to, the blinded token messages | until the provider sends the person back, at most [`LOGIN_TTL_MS`] |
//! | `usage` | (month, account) → tokens signed this month | until the month ends |
//!
//! An account is `HMAC-SHA256(account key, issuer ‖ 0 ‖ subject)`: the provider's subject
//! never reaches the disk, and the account key (`<data-dir>/account.key`, 0600) never
//! leaves it. No names, e-mail addresses, IP addresses, room ids or token messages. Rows
//! are deleted with `secure_delete` on, so their bytes do not linger in free pages.

use std::path::Path;
use std::sync::Mutex;

use hmac::{KeyInit, Mac};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

/// How long a sign-in may take at the provider.
pub const LOGIN_TTL_MS: u64 = 10 * 60 * 1000;

/// A sign-in in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRecord {
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub key_id: String,
    pub blinded: Vec<String>,
    pub expires: u64,
}

pub struct Store {
    conn: Mutex<Connection>,
    account_key: [u8; 32],
}

fn db(e: impl std::fmt::Display) -> String {
    format!("the SSO's database failed: {e}")
}

impl Store {
    pub fn open(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let conn = Connection::open(dir.join("sso.sqlite")).map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS logins (state TEXT PRIMARY KEY NOT NULL, record BLOB NOT NULL) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS usage (period TEXT NOT NULL, account TEXT NOT NULL, used INTEGER NOT NULL,
                 PRIMARY KEY (period, account)) WITHOUT ROWID;",
        )
        .map_err(db)?;
        Ok(Store { conn: Mutex::new(conn), account_key: account_key(dir)? })
    }

    /// The account id of a person: an HMAC of the provider's issuer and subject.
    pub fn account(&self, issuer: &str, subject: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.account_key).expect("any key length");
        mac.update(issuer.as_bytes());
        mac.update(&[0]);
        mac.update(subject.as_bytes());
        protocol::encoding::b64(&mac.finalize().into_bytes())
    }

    /// Keeps a sign-in until the provider answers; drops the expired ones.
    pub fn put_login(&self, state: &str, record: &LoginRecord, now: u64) -> Result<(), String> {
        let conn = self.conn.lock().map_err(db)?;
        let json = serde_json::to_vec(record).map_err(db)?;
        let mut stmt = conn.prepare("SELECT state, record FROM logins").map_err(db)?;
        let expired: Vec<String> = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(db)?
            .filter_map(Result::ok)
            .filter(|(_, v)| serde_json::from_slice::<LoginRecord>(v).map_or(true, |r| r.expires <= now))
            .map(|(k, _)| k)
            .collect();
        drop(stmt);
        for state in expired {
            conn.execute("DELETE FROM logins WHERE state = ?1", params![state]).map_err(db)?;
        }
        conn.execute("INSERT INTO logins (state, record) VALUES (?1, ?2)", params![state, json]).map_err(db)?;
        Ok(())
    }

    /// Takes (reads and deletes) the sign-in `state`, if it exists and has not expired.
    pub fn take_login(&self, state: &str, now: u64) -> Result<Option<LoginRecord>, String> {
        let conn = self.conn.lock().map_err(db)?;
        let raw: Option<Vec<u8>> = conn
            .query_row("SELECT record FROM logins WHERE state = ?1", params![state], |r| r.get(0))
            .optional()
            .map_err(db)?;
        conn.execute("DELETE FROM logins WHERE state = ?1", params![state]).map_err(db)?;
        Ok(raw.and_then(|v| serde_json::from_slice::<LoginRecord>(&v).ok()).filter(|r| r.expires > now))
    }

    /// Reserves up to `wanted` of `quota` tokens for `account` in `period`, in one
    /// transaction, before anything is signed (a crash never gives more); returns how many
    /// were granted and how many are left. Months other than `period` are forgotten.
    pub fn reserve(&self, period: &str, account: &str, quota: u64, wanted: u64) -> Result<(u64, u64), String> {
        let mut conn = self.conn.lock().map_err(db)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        tx.execute("DELETE FROM usage WHERE period <> ?1", params![period]).map_err(db)?;
        let used: u64 = tx
            .query_row("SELECT used FROM usage WHERE period = ?1 AND account = ?2", params![period, account], |r| {
                r.get::<_, i64>(0)
            })
            .optional()
            .map_err(db)?
            .unwrap_or(0) as u64;
        let granted = wanted.min(quota.saturating_sub(used));
        tx.execute(
            "INSERT INTO usage (period, account, used) VALUES (?1, ?2, ?3)
             ON CONFLICT(period, account) DO UPDATE SET used = excluded.used",
            params![period, account, (used + granted) as i64],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok((granted, quota.saturating_sub(used + granted)))
    }
}

/// Reads `<dir>/account.key`, making it (0600) on first start.
fn account_key(dir: &Path) -> Result<[u8; 32], String> {
    let path = dir.join("account.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => protocol::encoding::unb64_array::<32>(text.trim()).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| format!("no randomness: {e}"))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            use std::io::Write;
            let mut file = options.open(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            writeln!(file, "{}", protocol::encoding::b64(&key)).map_err(|e| e.to_string())?;
            file.sync_all().map_err(|e| e.to_string())?;
            Ok(key)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_holds_per_month_and_logins_are_used_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let alice = store.account("https://idp", "alice");
        assert_ne!(alice, store.account("https://idp", "bob"));
        assert_ne!(alice, store.account("https://other", "alice"));
        assert_eq!(store.reserve("2026-12", &alice, 5, 3).unwrap(), (3, 2));
        assert_eq!(store.reserve("2026-12", &alice, 5, 3).unwrap(), (2, 0));
        assert_eq!(store.reserve("2026-12", &alice, 5, 3).unwrap(), (0, 0));
        // A new month starts again (and the old one is forgotten).
        assert_eq!(store.reserve("2027-01", &alice, 5, 1).unwrap(), (1, 4));
        // The same key survives a restart: the same person is the same account.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.account("https://idp", "alice"), alice);

        let record = LoginRecord {
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "r".into(),
            key_id: "k".into(),
            blinded: vec![],
            expires: 100,
        };
        store.put_login("s1", &record, 0).unwrap();
        assert!(store.take_login("s1", 50).unwrap().is_some());
        assert!(store.take_login("s1", 50).unwrap().is_none(), "a login record is used once");
        store.put_login("s2", &record, 0).unwrap();
        assert!(store.take_login("s2", 100).unwrap().is_none(), "an expired login is refused");
    }
}
