//! What the handlers and room actors need from the non-addressable stores, as traits:
//! the app state and the actors' context hold `Arc<dyn …>` (axum's dependency-injection
//! style), so no handler names a concrete store and another host can plug in its own
//! (a Durable Object ledger, Workers KV, R2). mock-server's implementations are
//! [`crate::ledger::Ledger`], [`crate::global_store::GlobalStore`] and
//! [`crate::object_store::ObjectStore`], all over `global.sqlite` ([`crate::db_schema`]).

use protocol::error::ErrorBody;
use protocol::ids::{MessageKey, RoomId};
use protocol::objects::{Manifest, UploadState};
use protocol::storage_token::TokenScope;
use room_core::StorageError;

use crate::ledger::LedgerEntry;
use crate::object_store::{Opened, Paid, ReadProofGiven};

/// Storage tokens: issued by rooms (or minted offline), spent exactly once.
pub trait TokenLedger: Send + Sync {
    /// Records a new token worth `size` bytes, issued by `issuer`, paying for `scope`.
    fn record_issue(&self, hash: &str, size: u64, issuer: &str, scope: TokenScope, now: u64) -> Result<(), ErrorBody>;
    /// The entry of an unspent token worth at least `min`, without spending it.
    fn check(&self, hash: &str, min: u64) -> Result<LedgerEntry, ErrorBody>;
    /// Spends the token (compare-and-set: exactly once) for `purpose`; its value.
    fn spend(&self, hash: &str, min: u64, purpose: &str, now: u64) -> Result<u64, ErrorBody>;
    /// Gives a spent token back (its payment did not happen).
    fn refund(&self, hash: &str) -> Result<(), ErrorBody>;
    /// Whether an SSO token (by spent id) is spent.
    fn sso_spent(&self, spent_id: &str) -> Result<bool, ErrorBody>;
    /// Spends an SSO token exactly once within its key's cap; returns its denomination.
    fn spend_sso(&self, sso: &crate::ledger::SsoPayment, purpose: &str, now: u64) -> Result<u64, ErrorBody>;
    /// Gives an SSO token back.
    fn refund_sso(&self, sso: &crate::ledger::SsoPayment) -> Result<(), ErrorBody>;
}

/// KV_global's copy of committed messages (it may lag).
pub trait MessageIndex: Send + Sync {
    /// Queues committed messages for the copy.
    fn replicate(&self, items: Vec<(String, Vec<u8>)>);
    /// The newest message key of `room` in the copy.
    fn latest_message_key(&self, room: &RoomId) -> Result<Option<MessageKey>, StorageError>;
    /// Purges superseded copies from disk once everything queued is written.
    fn purge(&self);
    /// Waits until everything queued is written.
    fn flush(&self);
}

/// The document store: uploads, their payers and encrypted chunks.
pub trait DocumentStore: Send + Sync {
    fn find(&self, file: &str, size: u64, put_check: Option<&[u8; 32]>) -> Result<Opened, ErrorBody>;
    fn pay(
        &self,
        file: &str,
        size: u64,
        put_check: &[u8; 32],
        paid_by: &str,
        now: u64,
    ) -> Result<(UploadState, Paid), ErrorBody>;
    fn put_chunk(
        &self,
        file: &str,
        index: u32,
        id: &str,
        put_secret: Option<&str>,
        bytes: &[u8],
    ) -> Result<UploadState, ErrorBody>;
    fn manifest(&self, file: &str, proof: &ReadProofGiven<'_>) -> Result<Manifest, ErrorBody>;
    fn chunk(&self, file: &str, index: u32, proof: &ReadProofGiven<'_>) -> Result<Vec<u8>, ErrorBody>;
}

impl TokenLedger for crate::ledger::Ledger {
    fn record_issue(&self, hash: &str, size: u64, issuer: &str, scope: TokenScope, now: u64) -> Result<(), ErrorBody> {
        crate::ledger::Ledger::record_issue(self, hash, size, issuer, scope, now)
    }
    fn check(&self, hash: &str, min: u64) -> Result<LedgerEntry, ErrorBody> {
        crate::ledger::Ledger::check(self, hash, min)
    }
    fn spend(&self, hash: &str, min: u64, purpose: &str, now: u64) -> Result<u64, ErrorBody> {
        crate::ledger::Ledger::spend(self, hash, min, purpose, now)
    }
    fn refund(&self, hash: &str) -> Result<(), ErrorBody> {
        crate::ledger::Ledger::refund(self, hash)
    }
    fn sso_spent(&self, spent_id: &str) -> Result<bool, ErrorBody> {
        crate::ledger::Ledger::sso_spent(self, spent_id)
    }
    fn spend_sso(&self, sso: &crate::ledger::SsoPayment, purpose: &str, now: u64) -> Result<u64, ErrorBody> {
        crate::ledger::Ledger::spend_sso(self, sso, purpose, now)
    }
    fn refund_sso(&self, sso: &crate::ledger::SsoPayment) -> Result<(), ErrorBody> {
        crate::ledger::Ledger::refund_sso(self, sso)
    }
}

impl MessageIndex for crate::global_store::GlobalStore {
    fn replicate(&self, items: Vec<(String, Vec<u8>)>) {
        crate::global_store::GlobalStore::replicate(self, items)
    }
    fn latest_message_key(&self, room: &RoomId) -> Result<Option<MessageKey>, StorageError> {
        crate::global_store::GlobalStore::latest_message_key(self, room)
    }
    fn purge(&self) {
        crate::global_store::GlobalStore::purge(self)
    }
    fn flush(&self) {
        crate::global_store::GlobalStore::flush(self)
    }
}

impl DocumentStore for crate::object_store::ObjectStore {
    fn find(&self, file: &str, size: u64, put_check: Option<&[u8; 32]>) -> Result<Opened, ErrorBody> {
        crate::object_store::ObjectStore::find(self, file, size, put_check)
    }
    fn pay(
        &self,
        file: &str,
        size: u64,
        put_check: &[u8; 32],
        paid_by: &str,
        now: u64,
    ) -> Result<(UploadState, Paid), ErrorBody> {
        crate::object_store::ObjectStore::pay(self, file, size, put_check, paid_by, now)
    }
    fn put_chunk(
        &self,
        file: &str,
        index: u32,
        id: &str,
        put_secret: Option<&str>,
        bytes: &[u8],
    ) -> Result<UploadState, ErrorBody> {
        crate::object_store::ObjectStore::put_chunk(self, file, index, id, put_secret, bytes)
    }
    fn manifest(&self, file: &str, proof: &ReadProofGiven<'_>) -> Result<Manifest, ErrorBody> {
        crate::object_store::ObjectStore::manifest(self, file, proof)
    }
    fn chunk(&self, file: &str, index: u32, proof: &ReadProofGiven<'_>) -> Result<Vec<u8>, ErrorBody> {
        crate::object_store::ObjectStore::chunk(self, file, index, proof)
    }
}
