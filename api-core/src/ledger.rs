//! The ledger's rules, the same in every host: what a token's record holds, when it can
//! pay, spending it exactly once, giving it back, and SSO tokens within their key's cap.
//!
//! A host provides [`LedgerTxn`]: reads and writes that all happen in one transaction
//! (mock-server: one SQLite `IMMEDIATE` transaction in `global.sqlite`; the edge: one
//! event of a ledger Durable Object, whose writes without an await in between commit
//! atomically and which runs one event at a time). The rules never await, so the
//! compare-and-set is exact in both.
//!
//! Keys are token hashes (base64url SHA-256 of a storage token, or of an SSO token's
//! signed input); values are [`LedgerEntry`] JSON. Which room issued a token and what it
//! paid for are [`SealedLink`]s only the offline ledger key opens: the host seals them
//! (it has the randomness) and hands them in.

use protocol::error::{ErrorBody, ErrorCode};
use protocol::ledger_link::SealedLink;
use protocol::storage_token::TokenScope;
use serde::{Deserialize, Serialize};

/// One token's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub size: u64,
    /// µs since the Unix epoch.
    pub issued_at: u64,
    /// Who issued it ("room:<id>", "minted" or "sso:<key id>"), sealed to the ledger key.
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

/// The header that carries the admin secret to the edge's `GET /api/ledger/export`.
pub const ADMIN_HEADER: &str = "x-cloakroom-admin";

/// Everything a ledger holds, for the offline audit (`mock-server audit`): every token's
/// record and every SSO issuance key's count, links still sealed to the offline key.
/// mock-server's audit reads its own database; the edge gathers one from every shard
/// (`GET /api/ledger/export`, for the admin secret) for `audit --ledger-export`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LedgerExport {
    pub tokens: Vec<(String, LedgerEntry)>,
    pub sso_keys: Vec<(String, SsoKeyCount)>,
}

/// The ledger's two tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Token hash → [`LedgerEntry`].
    Tokens,
    /// SSO key id → [`SsoKeyCount`].
    SsoKeys,
}

/// Reads and writes inside one transaction of the host's store.
pub trait LedgerTxn {
    fn read(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, ErrorBody>;
    fn write(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), ErrorBody>;
    /// Whether there was a row to delete.
    fn delete(&mut self, table: Table, key: &str) -> Result<bool, ErrorBody>;
}

fn internal(e: impl std::fmt::Display) -> ErrorBody {
    ErrorBody::new(ErrorCode::Internal, format!("ledger failure: {e}"))
}

fn get<T: serde::de::DeserializeOwned>(
    tx: &mut impl LedgerTxn,
    table: Table,
    key: &str,
) -> Result<Option<T>, ErrorBody> {
    tx.read(table, key)?.map(|v| serde_json::from_slice(&v).map_err(internal)).transpose()
}

fn put(tx: &mut impl LedgerTxn, table: Table, key: &str, value: &impl Serialize) -> Result<(), ErrorBody> {
    tx.write(table, key, &serde_json::to_vec(value).map_err(internal)?)
}

/// Records a new token.
pub fn record_issue(tx: &mut impl LedgerTxn, hash: &str, entry: &LedgerEntry) -> Result<(), ErrorBody> {
    if tx.read(Table::Tokens, hash)?.is_some() {
        return Err(internal("a token with this hash is recorded already"));
    }
    put(tx, Table::Tokens, hash, entry)
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

/// The entry of an unspent token worth at least `min` bytes, without spending it.
pub fn check(tx: &mut impl LedgerTxn, hash: &str, min: u64) -> Result<LedgerEntry, ErrorBody> {
    usable(get(tx, Table::Tokens, hash)?, min)
}

/// Spends a token worth at least `min` bytes exactly once; `for_room` when it pays for a
/// room (which a member's upload-only token cannot). Returns its size.
pub fn spend(tx: &mut impl LedgerTxn, hash: &str, min: u64, for_room: bool, spend: Spend) -> Result<u64, ErrorBody> {
    let mut entry = usable(get(tx, Table::Tokens, hash)?, min)?;
    if for_room && entry.scope == TokenScope::Uploads {
        return Err(ErrorBody::new(
            ErrorCode::TokenWrongScope,
            "this token was issued to a member for uploads: it cannot fund a room",
        ));
    }
    entry.spent = Some(spend);
    put(tx, Table::Tokens, hash, &entry)?;
    Ok(entry.size)
}

/// Gives a spent token back (the operation it paid for failed afterwards).
pub fn refund(tx: &mut impl LedgerTxn, hash: &str) -> Result<(), ErrorBody> {
    if let Some(mut entry) = get::<LedgerEntry>(tx, Table::Tokens, hash)? {
        entry.spent = None;
        put(tx, Table::Tokens, hash, &entry)?;
    }
    Ok(())
}

/// Whether an SSO token (by its spent id) is spent.
pub fn sso_spent(tx: &mut impl LedgerTxn, spent_id: &str) -> Result<bool, ErrorBody> {
    Ok(tx.read(Table::Tokens, spent_id)?.is_some())
}

/// Spends an SSO room token exactly once: refuses a token whose id is recorded already
/// (`token_spent`) and a key that has paid for `cap` rooms (`issuer_cap_reached`);
/// otherwise records `entry` (issued by "sso:<key id>", already spent) and counts it
/// against the key. Returns the entry's size.
pub fn spend_sso(
    tx: &mut impl LedgerTxn,
    spent_id: &str,
    key_id: &str,
    cap: u64,
    entry: &LedgerEntry,
) -> Result<u64, ErrorBody> {
    if tx.read(Table::Tokens, spent_id)?.is_some() {
        return Err(ErrorBody::new(ErrorCode::TokenSpent, "this SSO token was already spent"));
    }
    let mut count: SsoKeyCount = get(tx, Table::SsoKeys, key_id)?.unwrap_or_default();
    if count.redeemed >= cap {
        return Err(ErrorBody::new(
            ErrorCode::IssuerCapReached,
            "the SSO key behind this token has paid for as many rooms as it may; sign in again later for tokens of its successor",
        )
        .with_limit(cap));
    }
    count.redeemed += 1;
    count.cap = cap;
    put(tx, Table::Tokens, spent_id, entry)?;
    put(tx, Table::SsoKeys, key_id, &count)?;
    Ok(entry.size)
}

/// Gives an SSO token back: forgets it and takes it off its key's count.
pub fn refund_sso(tx: &mut impl LedgerTxn, spent_id: &str, key_id: &str) -> Result<(), ErrorBody> {
    if tx.delete(Table::Tokens, spent_id)? {
        let mut count: SsoKeyCount = get(tx, Table::SsoKeys, key_id)?.unwrap_or_default();
        count.redeemed = count.redeemed.saturating_sub(1);
        put(tx, Table::SsoKeys, key_id, &count)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Memory(BTreeMap<(u8, String), Vec<u8>>);

    fn t(table: Table) -> u8 {
        table as u8
    }

    impl LedgerTxn for Memory {
        fn read(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, ErrorBody> {
            Ok(self.0.get(&(t(table), key.to_owned())).cloned())
        }
        fn write(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), ErrorBody> {
            self.0.insert((t(table), key.to_owned()), value.to_vec());
            Ok(())
        }
        fn delete(&mut self, table: Table, key: &str) -> Result<bool, ErrorBody> {
            Ok(self.0.remove(&(t(table), key.to_owned())).is_some())
        }
    }

    fn link() -> SealedLink {
        let key = protocol::identity::IdentityKey::from_secret_bytes(&[3; 32]).unwrap();
        protocol::ledger_link::seal(&key.public_key(), b"room:x", &key, [1; 12])
    }

    fn entry(size: u64, scope: TokenScope) -> LedgerEntry {
        LedgerEntry { size, issued_at: 1, issued_by: link(), spent: None, scope }
    }

    #[test]
    fn a_token_pays_once_within_its_size_and_scope() {
        let mut tx = Memory::default();
        record_issue(&mut tx, "h", &entry(100, TokenScope::Any)).unwrap();
        assert!(record_issue(&mut tx, "h", &entry(100, TokenScope::Any)).is_err(), "never overwritten");
        assert_eq!(check(&mut tx, "h", 100).unwrap().size, 100);
        let paid = || Spend { at: 2, paid_for: link() };
        let small = spend(&mut tx, "h", 101, true, paid()).unwrap_err();
        assert_eq!((small.code, small.limit), (ErrorCode::TokenTooSmall, Some(101)));
        assert_eq!(spend(&mut tx, "h", 100, true, paid()).unwrap(), 100);
        assert_eq!(spend(&mut tx, "h", 1, true, paid()).unwrap_err().code, ErrorCode::TokenSpent);
        refund(&mut tx, "h").unwrap();
        assert_eq!(spend(&mut tx, "h", 1, false, paid()).unwrap(), 100);
        assert_eq!(spend(&mut tx, "nope", 1, true, paid()).unwrap_err().code, ErrorCode::TokenUnknown);
        record_issue(&mut tx, "u", &entry(100, TokenScope::Uploads)).unwrap();
        assert_eq!(spend(&mut tx, "u", 1, true, paid()).unwrap_err().code, ErrorCode::TokenWrongScope);
        assert_eq!(spend(&mut tx, "u", 1, false, paid()).unwrap(), 100);
    }

    #[test]
    fn sso_tokens_are_spent_once_within_their_keys_cap() {
        let mut tx = Memory::default();
        let spent = LedgerEntry { spent: Some(Spend { at: 1, paid_for: link() }), ..entry(7, TokenScope::Any) };
        assert_eq!(spend_sso(&mut tx, "a", "k", 2, &spent).unwrap(), 7);
        assert!(sso_spent(&mut tx, "a").unwrap());
        assert_eq!(spend_sso(&mut tx, "a", "k", 2, &spent).unwrap_err().code, ErrorCode::TokenSpent);
        refund_sso(&mut tx, "a", "k").unwrap();
        assert!(!sso_spent(&mut tx, "a").unwrap());
        spend_sso(&mut tx, "a", "k", 2, &spent).unwrap();
        spend_sso(&mut tx, "b", "k", 2, &spent).unwrap();
        let capped = spend_sso(&mut tx, "c", "k", 2, &spent).unwrap_err();
        assert_eq!((capped.code, capped.limit), (ErrorCode::IssuerCapReached, Some(2)));
        assert!(!sso_spent(&mut tx, "c").unwrap(), "a refused token leaves nothing behind");
        let count: SsoKeyCount = get(&mut tx, Table::SsoKeys, "k").unwrap().unwrap();
        assert_eq!(count, SsoKeyCount { redeemed: 2, cap: 2 });
    }
}
