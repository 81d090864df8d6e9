//! The storage-token ledger, in KV_global (`global.sqlite`, table `ledger`).
//!
//! Keys are token hashes (base64url SHA-256 of the token: hash-friendly, and useless to
//! anyone without the token). Values are [`LedgerEntry`] JSON. Which room issued a token,
//! and what it paid for, are [`SealedLink`]s only the offline ledger key opens.
//!
//! Spending is a compare-and-set in one SQLite `IMMEDIATE` transaction, so a token is
//! spent exactly once even when many requests race (on Cloudflare this would be a
//! Durable Object per token hash: KV alone is not strongly consistent).

use std::path::Path;
use std::sync::Mutex;

use crate::db_schema::{Database, Durability};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ledger_link::{self, SealedLink};
use protocol::storage_token::{ROOM_PURPOSE_PREFIX, TokenScope};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::clock::random_bytes;

/// One token's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub size: u64,
    /// µs since the Unix epoch.
    pub issued_at: u64,
    /// Who issued it ("room:<id>" or "minted"), sealed to the ledger key.
    pub issued_by: SealedLink,
    pub spent: Option<Spend>,
    /// What the token may pay for (tokens recorded before scopes existed: anything).
    #[serde(default)]
    pub scope: TokenScope,
}

/// How a token was spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spend {
    pub at: u64,
    /// What it paid for ("room:<id>" or "object:<id>"), sealed to the ledger key.
    pub paid_for: SealedLink,
}

/// The ledger: a table of KV_global plus the ledger public key to seal links to.
pub struct Ledger {
    conn: Mutex<Connection>,
    key: PublicKey,
}

fn internal(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("ledger failure: {e}"))
}

/// Seals `payload` to the ledger key with a fresh ephemeral key.
pub fn seal_link(ledger: &PublicKey, payload: &str) -> SealedLink {
    let ephemeral = loop {
        if let Ok(k) = IdentityKey::from_secret_bytes(&random_bytes::<32>()) {
            break k;
        }
    };
    ledger_link::seal(ledger, payload.as_bytes(), &ephemeral, random_bytes::<12>())
}

impl Ledger {
    /// Opens the ledger table in the KV_global database at `path`.
    pub fn open(path: &Path, key: PublicKey) -> Result<Self, String> {
        let conn = crate::db_schema::open(path, Database::Global, Durability::Full, true).map_err(|e| e.to_string())?;
        Ok(Self { conn: Mutex::new(conn), key })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// Records a new token worth `size` bytes, issued by `issuer` ("room:<id>", "minted"),
    /// that may pay for `scope`.
    pub fn record_issue(
        &self,
        hash: &str,
        size: u64,
        issuer: &str,
        scope: TokenScope,
        now: u64,
    ) -> Result<(), ErrorBody> {
        let entry = LedgerEntry { size, issued_at: now, issued_by: seal_link(&self.key, issuer), spent: None, scope };
        let conn = self.conn.lock().map_err(internal)?;
        conn.execute(
            "INSERT INTO ledger (key, value) VALUES (?1, ?2)",
            params![hash, serde_json::to_vec(&entry).map_err(internal)?],
        )
        .map_err(internal)?;
        Ok(())
    }

    /// The entry of an unspent token worth at least `min` bytes, without spending it.
    pub fn check(&self, hash: &str, min: u64) -> Result<LedgerEntry, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        let entry = Self::get(&conn, hash)?;
        Self::usable(entry, min)
    }

    fn get(conn: &Connection, hash: &str) -> Result<Option<LedgerEntry>, ErrorBody> {
        let raw: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM ledger WHERE key = ?1", params![hash], |r| r.get(0))
            .optional()
            .map_err(internal)?;
        raw.map(|v| serde_json::from_slice(&v).map_err(internal)).transpose()
    }

    fn usable(entry: Option<LedgerEntry>, min: u64) -> Result<LedgerEntry, ErrorBody> {
        let entry = entry.ok_or_else(|| ErrorBody::new(ErrorCode::TokenUnknown, "no such storage token"))?;
        if entry.spent.is_some() {
            return Err(ErrorBody::new(ErrorCode::TokenSpent, "this storage token was already spent"));
        }
        if entry.size < min {
            return Err(ErrorBody::new(
                ErrorCode::TokenTooSmall,
                format!("the token is worth {} bytes; this needs {min}", entry.size),
            )
            .with_limit(min));
        }
        Ok(entry)
    }

    /// Spends a token worth at least `min` bytes for `purpose` ("room:<id>", …), exactly
    /// once; returns its size.
    pub fn spend(&self, hash: &str, min: u64, purpose: &str, now: u64) -> Result<u64, ErrorBody> {
        let paid_for = seal_link(&self.key, purpose);
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        let mut entry = Self::usable(Self::get(&tx, hash)?, min)?;
        if purpose.starts_with(ROOM_PURPOSE_PREFIX) && entry.scope == TokenScope::Uploads {
            return Err(ErrorBody::new(
                ErrorCode::TokenWrongScope,
                "this token was issued to a member for uploads: it cannot fund a room",
            ));
        }
        entry.spent = Some(Spend { at: now, paid_for });
        tx.execute(
            "UPDATE ledger SET value = ?2 WHERE key = ?1",
            params![hash, serde_json::to_vec(&entry).map_err(internal)?],
        )
        .map_err(internal)?;
        tx.commit().map_err(internal)?;
        Ok(entry.size)
    }

    /// Gives a spent token back (the operation it paid for failed afterwards).
    pub fn refund(&self, hash: &str) -> Result<(), ErrorBody> {
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        if let Some(mut entry) = Self::get(&tx, hash)? {
            entry.spent = None;
            tx.execute(
                "UPDATE ledger SET value = ?2 WHERE key = ?1",
                params![hash, serde_json::to_vec(&entry).map_err(internal)?],
            )
            .map_err(internal)?;
        }
        tx.commit().map_err(internal)
    }

    /// Every entry (for the offline audit).
    pub fn entries(&self) -> Result<Vec<(String, LedgerEntry)>, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        let mut stmt = conn.prepare("SELECT key, value FROM ledger ORDER BY key").map_err(internal)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(internal)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        rows.into_iter().map(|(k, v)| Ok((k, serde_json::from_slice(&v).map_err(internal)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_spent_once_and_links_open_only_offline() {
        let dir = tempfile::tempdir().unwrap();
        let key = IdentityKey::from_secret_bytes(&[5; 32]).unwrap();
        let ledger = Ledger::open(&dir.path().join("g.sqlite"), key.public_key()).unwrap();
        ledger.record_issue("h1", 1 << 20, "room:abc", TokenScope::Any, 1).unwrap();
        assert_eq!(ledger.check("h1", 1).unwrap().size, 1 << 20);
        assert_eq!(ledger.spend("h1", 2 << 20, "room:x", 2).unwrap_err().code, ErrorCode::TokenTooSmall);
        assert_eq!(ledger.spend("h1", 1, "room:x", 2).unwrap(), 1 << 20);
        assert_eq!(ledger.spend("h1", 1, "room:y", 3).unwrap_err().code, ErrorCode::TokenSpent);
        assert_eq!(ledger.spend("nope", 1, "room:y", 3).unwrap_err().code, ErrorCode::TokenUnknown);
        let entry = &ledger.entries().unwrap()[0].1;
        assert_eq!(ledger_link::open(&key, &entry.issued_by).unwrap(), b"room:abc");
        assert_eq!(ledger_link::open(&key, &entry.spent.as_ref().unwrap().paid_for).unwrap(), b"room:x");
        ledger.refund("h1").unwrap();
        assert_eq!(ledger.spend("h1", 1, "room:z", 4).unwrap(), 1 << 20);
    }
}
