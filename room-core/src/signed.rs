//! Signed HTTP requests inside the room: freshness and single-use nonces (the signature
//! was checked before: [`crate::verified::VerifiedRequest`]).
//!
//! A used nonce is kept in KV_local until its request could no longer be fresh
//! (`timestamp + MAX_CLOCK_SKEW_MS`, with a second index ordered by expiry so old
//! nonces are purged a few at a time by later requests).

use protocol::error::{ErrorBody, ErrorCode};
use protocol::signed_request::{MAX_CLOCK_SKEW_MS, RequestAuth};

use crate::room::{Room, storage_error};
use crate::schema;
use crate::storage::{KvStore, ListQuery};
use crate::time::UnixMicros;

/// Expired nonces removed per signed request.
const PURGE_PER_REQUEST: usize = 16;

impl Room {
    /// Checks that a (verified) request is fresh at `now` (µs).
    pub(crate) fn check_fresh(&self, auth: &RequestAuth, now: UnixMicros) -> Result<(), ErrorBody> {
        auth.check_freshness(now.as_millis())?;
        Ok(())
    }

    /// Refuses a nonce that was already used (committed or earlier in this batch).
    pub(crate) fn check_nonce(&self, auth: &RequestAuth, store: &dyn KvStore) -> Result<(), ErrorBody> {
        let key = schema::nonce_key(&auth.nonce);
        if self.pending.nonces.contains(&key) || store.get(&key).map_err(storage_error)?.is_some() {
            return Err(ErrorBody::new(ErrorCode::ReplayedRequest, "this request was already received"));
        }
        Ok(())
    }

    /// Records the nonce as used and purges a few expired ones.
    pub(crate) fn consume_nonce(
        &mut self,
        auth: &RequestAuth,
        now: UnixMicros,
        store: &dyn KvStore,
    ) -> Result<(), ErrorBody> {
        let expiry = auth.timestamp_ms.saturating_add(MAX_CLOCK_SKEW_MS);
        let key = schema::nonce_key(&auth.nonce);
        self.fx.writes.put(key.clone(), expiry.to_string().into_bytes()).map_err(storage_error)?;
        self.fx.writes.put(schema::nonce_expiry_key(expiry, &auth.nonce), Vec::new()).map_err(storage_error)?;
        self.pending.nonces.insert(key);
        let now_ms = now.as_millis();
        let old =
            store.list(&ListQuery::forwards(schema::NONCE_EXPIRY_PREFIX, PURGE_PER_REQUEST)).map_err(storage_error)?;
        for (index_key, _) in old {
            let rest = &index_key[schema::NONCE_EXPIRY_PREFIX.len()..];
            let Some((expiry_hex, nonce)) = rest.split_once('/') else { continue };
            match u64::from_str_radix(expiry_hex, 16) {
                Ok(expiry) if expiry < now_ms => {
                    self.fx.writes.delete(index_key.clone());
                    self.fx.writes.delete(schema::nonce_key(nonce));
                }
                _ => break,
            }
        }
        Ok(())
    }
}
