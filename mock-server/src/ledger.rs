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

/// How many rooms one SSO issuance key has paid for, and its cap when it last did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoKeyCount {
    pub redeemed: u64,
    pub cap: u64,
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

    /// Spends an SSO room token exactly once: in one transaction, refuses a token whose
    /// id is already in the ledger (`token_spent`) and a key that has paid for `cap`
    /// rooms (`issuer_cap_reached`); otherwise records the token as issued by
    /// "sso:<key_id>" and spent for `purpose`, and counts it against the key. Returns
    /// `bytes` (the key's denomination). The ledger never saw the token before: the SSO
    /// signed it blind.
    pub fn spend_sso(
        &self,
        spent_id: &str,
        key_id: &str,
        bytes: u64,
        cap: u64,
        purpose: &str,
        now: u64,
    ) -> Result<u64, ErrorBody> {
        let entry = LedgerEntry {
            size: bytes,
            issued_at: now,
            issued_by: seal_link(&self.key, &format!("sso:{key_id}")),
            spent: Some(Spend { at: now, paid_for: seal_link(&self.key, purpose) }),
            scope: TokenScope::Any,
        };
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        if Self::get(&tx, spent_id)?.is_some() {
            return Err(ErrorBody::new(ErrorCode::TokenSpent, "this SSO token was already spent"));
        }
        let mut count = Self::sso_count(&tx, key_id)?;
        if count.redeemed >= cap {
            return Err(ErrorBody::new(
                ErrorCode::IssuerCapReached,
                "the SSO key behind this token has paid for as many rooms as it may; sign in again later for tokens of its successor",
            )
            .with_limit(cap));
        }
        count.redeemed += 1;
        count.cap = cap;
        tx.execute(
            "INSERT INTO ledger (key, value) VALUES (?1, ?2)",
            params![spent_id, serde_json::to_vec(&entry).map_err(internal)?],
        )
        .map_err(internal)?;
        Self::put_sso_count(&tx, key_id, &count)?;
        tx.commit().map_err(internal)?;
        Ok(bytes)
    }

    /// Gives an SSO token back (the room it paid for could not be made): forgets it and
    /// takes it off its key's count, in one transaction.
    pub fn refund_sso(&self, spent_id: &str, key_id: &str) -> Result<(), ErrorBody> {
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        if tx.execute("DELETE FROM ledger WHERE key = ?1", params![spent_id]).map_err(internal)? == 1 {
            let mut count = Self::sso_count(&tx, key_id)?;
            count.redeemed = count.redeemed.saturating_sub(1);
            Self::put_sso_count(&tx, key_id, &count)?;
        }
        tx.commit().map_err(internal)
    }

    /// Whether an SSO token (by its spent id) is already spent.
    pub fn sso_spent(&self, spent_id: &str) -> Result<bool, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        Ok(Self::get(&conn, spent_id)?.is_some())
    }

    /// Rooms paid for per SSO issuance key, with the cap it had (for the audit).
    pub fn sso_counts(&self) -> Result<Vec<(String, SsoKeyCount)>, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        let mut stmt = conn.prepare("SELECT key, value FROM sso_keys ORDER BY key").map_err(internal)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(internal)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        rows.into_iter().map(|(k, v)| Ok((k, serde_json::from_slice(&v).map_err(internal)?))).collect()
    }

    fn sso_count(conn: &Connection, key_id: &str) -> Result<SsoKeyCount, ErrorBody> {
        let raw: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM sso_keys WHERE key = ?1", params![key_id], |r| r.get(0))
            .optional()
            .map_err(internal)?;
        Ok(raw.map(|v| serde_json::from_slice(&v).map_err(internal)).transpose()?.unwrap_or_default())
    }

    fn put_sso_count(conn: &Connection, key_id: &str, count: &SsoKeyCount) -> Result<(), ErrorBody> {
        conn.execute(
            "INSERT INTO sso_keys (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key_id, serde_json::to_vec(count).map_err(internal)?],
        )
        .map_err(internal)?;
        Ok(())
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

    #[test]
    fn an_sso_token_is_spent_once_and_its_key_pays_for_at_most_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let key = IdentityKey::from_secret_bytes(&[5; 32]).unwrap();
        let ledger = Ledger::open(&dir.path().join("g.sqlite"), key.public_key()).unwrap();
        assert_eq!(ledger.spend_sso("t1", "k", 1 << 30, 2, "room:a", 1).unwrap(), 1 << 30);
        assert!(ledger.sso_spent("t1").unwrap());
        assert_eq!(ledger.spend_sso("t1", "k", 1 << 30, 2, "room:b", 2).unwrap_err().code, ErrorCode::TokenSpent);
        // A refund frees the token and the count.
        ledger.refund_sso("t1", "k").unwrap();
        assert!(!ledger.sso_spent("t1").unwrap());
        assert_eq!(ledger.spend_sso("t1", "k", 1 << 30, 2, "room:c", 3).unwrap(), 1 << 30);
        assert_eq!(ledger.spend_sso("t2", "k", 1 << 30, 2, "room:d", 4).unwrap(), 1 << 30);
        // At the cap: the next token of this key is refused, and nothing is recorded for it.
        let refused = ledger.spend_sso("t3", "k", 1 << 30, 2, "room:e", 5).unwrap_err();
        assert_eq!((refused.code, refused.limit), (ErrorCode::IssuerCapReached, Some(2)));
        assert!(!ledger.sso_spent("t3").unwrap());
        // Another key has its own count.
        assert_eq!(ledger.spend_sso("t3", "k2", 1 << 30, 2, "room:e", 5).unwrap(), 1 << 30);
        assert_eq!(
            ledger.sso_counts().unwrap(),
            vec![("k".into(), SsoKeyCount { redeemed: 2, cap: 2 }), ("k2".into(), SsoKeyCount { redeemed: 1, cap: 2 }),]
        );
        // The audit opens who issued it: the key, never a person.
        let issued: Vec<_> = ledger
            .entries()
            .unwrap()
            .into_iter()
            .map(|(_, e)| ledger_link::open(&key, &e.issued_by).unwrap())
            .collect();
        assert!(issued.iter().all(|i| i.starts_with(b"sso:k")));
    }
}
