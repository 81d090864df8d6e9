//! The token ledger, in KV_global (`global.sqlite`, tables `ledger` and `sso_keys`): the
//! rules are [`api_core::ledger`]'s (the edge runs the same ones in Durable Objects); this
//! is their SQLite transaction.
//!
//! Keys are token hashes (base64url SHA-256 of the token: hash-friendly, and useless to
//! anyone without the token; for SSO tokens, of their signed input). Values are
//! [`LedgerEntry`] JSON. Which room issued a token, and what it paid for, are
//! [`SealedLink`]s only the offline ledger key opens.
//!
//! Every operation is one SQLite `IMMEDIATE` transaction, so a token is spent exactly once
//! even when many requests race.

use std::path::Path;
use std::sync::Mutex;

use api_core::ledger::{self as rules, LedgerTxn, Table};
pub use api_core::ledger::{LedgerEntry, Spend, SsoKeyCount};
use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::{IdentityKey, PublicKey};
use protocol::ledger_link::{self, SealedLink};
use protocol::storage_token::{ROOM_PURPOSE_PREFIX, TokenScope};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::clock::random_bytes;
use crate::db_schema::{Database, Durability};

/// An SSO token's payment: its spent id, its key, the key's denomination (the budget)
/// and the key's cap on rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoPayment {
    pub spent_id: String,
    pub key_id: String,
    pub bytes: u64,
    pub cap: u64,
}

/// The ledger: tables of KV_global plus the ledger public key to seal links to.
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

/// The ledger's tables inside one SQLite transaction.
struct SqliteTxn<'a>(&'a Connection);

fn table(t: Table) -> &'static str {
    match t {
        Table::Tokens => crate::db_schema::LEDGER_TABLE,
        Table::SsoKeys => crate::db_schema::SSO_KEYS_TABLE,
    }
}

impl LedgerTxn for SqliteTxn<'_> {
    fn read(&mut self, t: Table, key: &str) -> Result<Option<Vec<u8>>, ErrorBody> {
        let sql = format!("SELECT value FROM {} WHERE key = ?1", table(t));
        self.0.query_row(&sql, params![key], |r| r.get(0)).optional().map_err(internal)
    }

    fn write(&mut self, t: Table, key: &str, value: &[u8]) -> Result<(), ErrorBody> {
        let sql = format!(
            "INSERT INTO {} (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            table(t)
        );
        self.0.execute(&sql, params![key, value]).map(|_| ()).map_err(internal)
    }

    fn delete(&mut self, t: Table, key: &str) -> Result<bool, ErrorBody> {
        let sql = format!("DELETE FROM {} WHERE key = ?1", table(t));
        self.0.execute(&sql, params![key]).map(|n| n > 0).map_err(internal)
    }
}

impl Ledger {
    /// Opens the ledger tables in the KV_global database at `path`.
    pub fn open(path: &Path, key: PublicKey) -> Result<Self, String> {
        let conn = crate::db_schema::open(path, Database::Global, Durability::Full, true).map_err(|e| e.to_string())?;
        Ok(Self { conn: Mutex::new(conn), key })
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }

    /// Runs `f` in one `IMMEDIATE` transaction: committed if it succeeds, rolled back if not.
    fn in_transaction<T>(&self, f: impl FnOnce(&mut SqliteTxn<'_>) -> Result<T, ErrorBody>) -> Result<T, ErrorBody> {
        let mut conn = self.conn.lock().map_err(internal)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(internal)?;
        let value = f(&mut SqliteTxn(&tx))?;
        tx.commit().map_err(internal)?;
        Ok(value)
    }

    /// Runs `f` on the tables without a write lock (reads only).
    fn reading<T>(&self, f: impl FnOnce(&mut SqliteTxn<'_>) -> Result<T, ErrorBody>) -> Result<T, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        f(&mut SqliteTxn(&conn))
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
        self.in_transaction(|tx| rules::record_issue(tx, hash, &entry))
    }

    /// The entry of an unspent token worth at least `min` bytes, without spending it.
    pub fn check(&self, hash: &str, min: u64) -> Result<LedgerEntry, ErrorBody> {
        self.reading(|tx| rules::check(tx, hash, min))
    }

    /// Spends a token worth at least `min` bytes for `purpose` ("room:<id>", …), exactly
    /// once; returns its size.
    pub fn spend(&self, hash: &str, min: u64, purpose: &str, now: u64) -> Result<u64, ErrorBody> {
        let spend = Spend { at: now, paid_for: seal_link(&self.key, purpose) };
        self.in_transaction(|tx| rules::spend(tx, hash, min, purpose.starts_with(ROOM_PURPOSE_PREFIX), spend))
    }

    /// Gives a spent token back (the operation it paid for failed afterwards).
    pub fn refund(&self, hash: &str) -> Result<(), ErrorBody> {
        self.in_transaction(|tx| rules::refund(tx, hash))
    }

    /// Spends an SSO room token exactly once within its key's cap ([`rules::spend_sso`]),
    /// recorded as issued by "sso:<key id>" and spent for `purpose`. Returns the key's
    /// denomination.
    pub fn spend_sso(&self, sso: &SsoPayment, purpose: &str, now: u64) -> Result<u64, ErrorBody> {
        let entry = LedgerEntry {
            size: sso.bytes,
            issued_at: now,
            issued_by: seal_link(&self.key, &format!("sso:{}", sso.key_id)),
            spent: Some(Spend { at: now, paid_for: seal_link(&self.key, purpose) }),
            scope: TokenScope::Any,
        };
        self.in_transaction(|tx| rules::spend_sso(tx, &sso.spent_id, &sso.key_id, sso.cap, &entry))
    }

    /// Gives an SSO token back: forgets it and takes it off its key's count.
    pub fn refund_sso(&self, sso: &SsoPayment) -> Result<(), ErrorBody> {
        self.in_transaction(|tx| rules::refund_sso(tx, &sso.spent_id, &sso.key_id))
    }

    /// Whether an SSO token (by its spent id) is already spent.
    pub fn sso_spent(&self, spent_id: &str) -> Result<bool, ErrorBody> {
        self.reading(|tx| rules::sso_spent(tx, spent_id))
    }

    /// Rooms paid for per SSO issuance key, with the cap it had (for the audit).
    pub fn sso_counts(&self) -> Result<Vec<(String, SsoKeyCount)>, ErrorBody> {
        self.rows(crate::db_schema::SSO_KEYS_TABLE)
    }

    /// Every entry (for the offline audit).
    pub fn entries(&self) -> Result<Vec<(String, LedgerEntry)>, ErrorBody> {
        self.rows(crate::db_schema::LEDGER_TABLE)
    }

    fn rows<T: serde::de::DeserializeOwned>(&self, table: &str) -> Result<Vec<(String, T)>, ErrorBody> {
        let conn = self.conn.lock().map_err(internal)?;
        let mut stmt = conn.prepare(&format!("SELECT key, value FROM {table} ORDER BY key")).map_err(internal)?;
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
        let pay = |id: &str, key: &str| SsoPayment { spent_id: id.into(), key_id: key.into(), bytes: 1 << 30, cap: 2 };
        assert_eq!(ledger.spend_sso(&pay("t1", "k"), "room:a", 1).unwrap(), 1 << 30);
        assert!(ledger.sso_spent("t1").unwrap());
        assert_eq!(ledger.spend_sso(&pay("t1", "k"), "room:b", 2).unwrap_err().code, ErrorCode::TokenSpent);
        // A refund frees the token and the count.
        ledger.refund_sso(&pay("t1", "k")).unwrap();
        assert!(!ledger.sso_spent("t1").unwrap());
        assert_eq!(ledger.spend_sso(&pay("t1", "k"), "room:c", 3).unwrap(), 1 << 30);
        assert_eq!(ledger.spend_sso(&pay("t2", "k"), "room:d", 4).unwrap(), 1 << 30);
        // At the cap: the next token of this key is refused, and nothing is recorded for it.
        let refused = ledger.spend_sso(&pay("t3", "k"), "room:e", 5).unwrap_err();
        assert_eq!((refused.code, refused.limit), (ErrorCode::IssuerCapReached, Some(2)));
        assert!(!ledger.sso_spent("t3").unwrap());
        // Another key has its own count.
        assert_eq!(ledger.spend_sso(&pay("t3", "k2"), "room:e", 5).unwrap(), 1 << 30);
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
