//! The owner's API: settings, locking and key epochs, membership decisions, the budget
//! and storage tokens, and backups.
//!
//! Every call is a signed request by the owner key, fresh and with an unused nonce. A call
//! either succeeds completely (its writes and the nonce are committed together, and the
//! answer leaves after the commit) or changes nothing.

use protocol::api::{
    BudgetView, DEFAULT_ALLOWANCE_DIVISOR, IssuedToken, MemberView, MembersView, OwnerCall, Rekey, RoomSettings,
};
use protocol::backup::MemberStatus;
use protocol::encoding::b64;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::identity::PublicKey;
use protocol::key_wrap::WrappedKey;
use protocol::room_state::SignedState;
use protocol::signed_request::RequestAuth;
use protocol::storage_token;
use protocol::storage_token::TokenScope;
use serde::Serialize;

use crate::connection::ConnState;
use crate::effects::{ReplyId, TokenIssued};
use crate::room::{Room, storage_error};
use crate::schema;
use crate::storage::KvStore;
use crate::time::UnixMicros;
use crate::verified::VerifiedRequest;

/// What an owner call changed, for the connections.
enum Change {
    Nothing,
    /// Some keys' access: only their connections (and readers) hear of it.
    Members,
    /// The room's settings or epoch: every connection hears of it.
    Settings,
}

fn json(value: impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).expect("answers serialise")
}

fn bad(message: impl Into<String>) -> ErrorBody {
    ErrorBody::new(ErrorCode::MalformedRequest, message)
}

impl Room {
    /// A signed owner call. `random` must be fresh random bytes (used for tokens).
    #[allow(clippy::too_many_arguments)]
    pub fn owner_call(
        &mut self,
        reply: ReplyId,
        request: &VerifiedRequest,
        call: OwnerCall,
        now: UnixMicros,
        random: [u8; 32],
        store: &dyn KvStore,
    ) {
        let auth = request.auth();
        let answer = self.authorize_owner(auth, now, store).and_then(|()| {
            // A failed call must leave nothing behind: it runs on top of the staged state,
            // which is put back as it was if anything fails.
            let (value, change) = self.transaction(|room| {
                let outcome = room.run_owner_call(reply, call, now, random, store)?;
                room.consume_nonce(auth, now, store)?;
                Ok(outcome)
            })?;
            match change {
                Change::Nothing => {}
                Change::Members => self.refresh_connections(now, store, false),
                Change::Settings => self.refresh_connections(now, store, true),
            }
            Ok(value)
        });
        self.fx.replies.push((reply, answer));
    }

    fn authorize_owner(&self, auth: &RequestAuth, now: UnixMicros, store: &dyn KvStore) -> Result<(), ErrorBody> {
        self.check_fresh(auth, now)?;
        if auth.key != self.meta.owner {
            return Err(ErrorBody::new(ErrorCode::Forbidden, "only the room's owner may do this"));
        }
        self.check_nonce(auth, store)
    }

    fn settings(&self) -> RoomSettings {
        RoomSettings {
            locked: self.meta.locked,
            capacity: self.meta.capacity,
            epoch: self.meta.epoch,
            signed: self.meta.state.clone(),
            allowance: self.allowance(),
            keep_deleted: self.meta.keep_deleted,
        }
    }

    /// The most storage one member may draw from the budget.
    pub(crate) fn allowance(&self) -> u64 {
        self.meta.allowance.unwrap_or(self.budget.total / DEFAULT_ALLOWANCE_DIVISOR)
    }

    /// Adopts a new owner-signed state after a call changed the room: it must be signed by
    /// the owner, newer than the one in force, and describe the room as the call left it
    /// (epoch and lock); its capacity, sealed message of the day and invite key take effect.
    fn adopt_state(&mut self, state: SignedState) -> Result<(), ErrorBody> {
        crate::room::check_signed_state(&self.id, &self.meta.owner, &state, self.config.verifier.as_ref())?;
        if let Some(current) = &self.meta.state
            && state.version <= current.version
        {
            return Err(ErrorBody::new(
                ErrorCode::BadState,
                format!("the room state must be newer than version {}", current.version),
            )
            .with_limit(current.version + 1));
        }
        if state.epoch != self.meta.epoch || state.locked != self.meta.locked {
            return Err(ErrorBody::new(
                ErrorCode::BadState,
                format!(
                    "the signed state must say epoch {} and locked = {}, as the room is after this call",
                    self.meta.epoch, self.meta.locked
                ),
            ));
        }
        self.meta.capacity = state.capacity;
        self.meta.motd = String::new();
        self.meta.state = Some(state);
        self.stage_meta()
    }

    fn stage_meta(&mut self) -> Result<(), ErrorBody> {
        self.fx.writes.put(schema::META_KEY, schema::encode(&self.meta)).map_err(storage_error)
    }

    /// Runs a call; answers its result and what connections must learn of.
    fn run_owner_call(
        &mut self,
        reply: ReplyId,
        call: OwnerCall,
        now: UnixMicros,
        random: [u8; 32],
        store: &dyn KvStore,
    ) -> Result<(serde_json::Value, Change), ErrorBody> {
        match call {
            OwnerCall::Settings => Ok((json(self.settings()), Change::Nothing)),
            OwnerCall::PutState { state } => {
                self.adopt_state(state)?;
                Ok((json(self.settings()), Change::Settings))
            }
            OwnerCall::SetAllowance { allowance } => {
                self.meta.allowance = Some(allowance);
                self.stage_meta()?;
                Ok((json(self.settings()), Change::Nothing))
            }
            OwnerCall::SetKeepDeleted { keep } => {
                self.meta.keep_deleted = keep;
                self.stage_meta()?;
                // Members' browsers learn whether to ask for erasure with the room state.
                Ok((json(self.settings()), Change::Settings))
            }
            OwnerCall::Members => Ok((json(self.members_view()), Change::Nothing)),
            OwnerCall::Lock { epoch, keys, state } => {
                if self.meta.locked {
                    return Err(bad("the room is already locked"));
                }
                self.start_epoch(epoch, keys, now)?;
                self.meta.locked = true;
                self.adopt_state(state)?;
                Ok((json(self.settings()), Change::Settings))
            }
            OwnerCall::Unlock { state } => {
                if !self.meta.locked {
                    return Err(bad("the room is not locked"));
                }
                self.meta.locked = false;
                let waiting: Vec<PublicKey> = self.keys_with(MemberStatus::Pending);
                for key in waiting {
                    self.set_status(key, MemberStatus::Member, now)?;
                }
                self.adopt_state(state)?;
                Ok((json(self.settings()), Change::Settings))
            }
            OwnerCall::Accept { key, wrapped } => {
                if key == self.meta.owner {
                    return Err(bad("the owner needs no acceptance"));
                }
                if !self.members.contains_key(&key) {
                    return Err(bad("this key never asked to join"));
                }
                self.check_wrapped(&wrapped, self.meta.epoch)?;
                if wrapped.to != key {
                    return Err(bad("the wrapped key is for another member"));
                }
                self.stage_wrapped(wrapped)?;
                self.set_status(key, MemberStatus::Accepted, now)?;
                Ok((json(self.member_view(&key)), Change::Members))
            }
            OwnerCall::Deny { key } | OwnerCall::Remove { key, rekey: None } => {
                self.turn_away(key, now)?;
                Ok((json(self.member_view(&key)), Change::Members))
            }
            OwnerCall::Remove { key, rekey: Some(rekey) } => {
                self.turn_away(key, now)?;
                if rekey.keys.iter().any(|w| w.to == key) {
                    return Err(bad("the new epoch's keys include the removed member"));
                }
                self.start_epoch(rekey.epoch, rekey.keys, now)?;
                self.adopt_state(rekey.state)?;
                Ok((json(self.member_view(&key)), Change::Settings))
            }
            OwnerCall::Rekey(Rekey { epoch, keys, state }) => {
                self.start_epoch(epoch, keys, now)?;
                self.adopt_state(state)?;
                Ok((json(self.settings()), Change::Settings))
            }
            OwnerCall::Budget => Ok((json(self.budget_view()), Change::Nothing)),
            OwnerCall::IssueToken { size } => {
                Ok((json(self.issue_token(reply, size, TokenScope::Any, random)?), Change::Nothing))
            }
            OwnerCall::Backup => Ok((json(self.export(store, now)?), Change::Nothing)),
        }
    }

    /// Debits the budget and stages a token worth `size` (rounded up to its bucket) that
    /// may pay for `scope`.
    fn issue_token(
        &mut self,
        reply: ReplyId,
        size: u64,
        scope: TokenScope,
        random: [u8; 32],
    ) -> Result<IssuedToken, ErrorBody> {
        let size = storage_token::round_size(size)?;
        if size > self.budget.remaining {
            return Err(ErrorBody::new(
                ErrorCode::BudgetExhausted,
                format!("the room has {} bytes of budget left; the token needs {size}", self.budget.remaining),
            )
            .with_limit(self.budget.remaining));
        }
        self.budget.remaining -= size;
        self.budget.tokens_issued += 1;
        self.fx.writes.put(schema::BUDGET_KEY, schema::encode(&self.budget)).map_err(storage_error)?;
        self.fx.tokens.push(TokenIssued { hash: storage_token::token_hash(&random), size, scope, reply });
        Ok(IssuedToken { token: b64(&random), size, remaining: self.budget.remaining })
    }

    /// A storage token asked for by any member who may write (to pay for a file upload):
    /// a signed request by a key with access, fresh, with an unused nonce. It pays for
    /// uploads only, and each member draws at most its allowance (the owner has none).
    #[allow(clippy::too_many_arguments)]
    pub fn member_token(
        &mut self,
        reply: ReplyId,
        request: &VerifiedRequest,
        size: u64,
        now: UnixMicros,
        random: [u8; 32],
        store: &dyn KvStore,
    ) {
        let auth = request.auth();
        let answer = (|| {
            self.check_fresh(auth, now)?;
            match self.access_of(&auth.key)? {
                protocol::frames::Access::Pending => {
                    return Err(ErrorBody::new(ErrorCode::NotAccepted, "the owner has not accepted this key"));
                }
                _ if !self.members.contains_key(&auth.key) && auth.key != self.meta.owner => {
                    return Err(ErrorBody::new(ErrorCode::Forbidden, "only members of the room may ask for storage"));
                }
                _ => {}
            }
            self.check_nonce(auth, store)?;
            // The budget first (if the room cannot pay, that is the answer), then the
            // member's share of it; a refusal changes nothing.
            self.transaction(|room| {
                let token = room.issue_token(reply, size, TokenScope::Uploads, random)?;
                room.charge_allowance(&auth.key, size)?;
                room.consume_nonce(auth, now, store)?;
                Ok(token)
            })
        })();
        self.fx.replies.push((reply, answer.map(json)));
    }

    /// Counts a member's token against its allowance (refusing it past the allowance).
    fn charge_allowance(&mut self, key: &PublicKey, size: u64) -> Result<(), ErrorBody> {
        if *key == self.meta.owner {
            return Ok(());
        }
        let size = storage_token::round_size(size)?;
        let allowance = self.allowance();
        let Some(record) = self.members.get_mut(key) else { return Ok(()) };
        let left = allowance.saturating_sub(record.spent);
        if size > left {
            return Err(ErrorBody::new(
                ErrorCode::AllowanceExhausted,
                format!("each member may draw {allowance} bytes of storage from this room; {left} are left to you"),
            )
            .with_limit(left));
        }
        record.spent += size;
        let record = record.clone();
        self.fx.writes.put(schema::member_key(key), schema::encode(&record)).map_err(storage_error)
    }

    fn keys_with(&self, status: MemberStatus) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> =
            self.members.iter().filter(|(_, m)| m.status == status).map(|(k, _)| *k).collect();
        // The member map is only looked up; what is iterated is put in a fixed order.
        keys.sort_by_cached_key(PublicKey::to_b64);
        keys
    }

    fn turn_away(&mut self, key: PublicKey, now: UnixMicros) -> Result<(), ErrorBody> {
        if key == self.meta.owner {
            return Err(bad("the owner cannot turn itself away"));
        }
        if !self.members.contains_key(&key) {
            return Err(bad("this key is not known to the room"));
        }
        self.set_status(key, MemberStatus::Denied, now)
    }

    /// A wrapped key the owner made for `epoch`.
    fn check_wrapped(&self, w: &WrappedKey, epoch: u32) -> Result<(), ErrorBody> {
        if w.from != self.meta.owner {
            return Err(bad("wrapped keys must come from the owner"));
        }
        if w.epoch != epoch {
            return Err(bad(format!("wrapped keys must be for epoch {epoch}")));
        }
        if w.iv.0.len() != 12 || w.ct.0.len() != 48 {
            return Err(bad("a wrapped key is a 12-byte iv and 48 bytes of ciphertext"));
        }
        Ok(())
    }

    /// Moves the room to key epoch `epoch` (exactly the next one): the keys' recipients
    /// (besides the owner) become accepted, every other reader waits for acceptance.
    fn start_epoch(&mut self, epoch: u32, keys: Vec<WrappedKey>, now: UnixMicros) -> Result<(), ErrorBody> {
        let next = self.meta.epoch + 1;
        if epoch != next {
            return Err(bad(format!("the next key epoch is {next}")).with_limit(u64::from(next)));
        }
        let mut recipients = std::collections::HashSet::new();
        for w in &keys {
            self.check_wrapped(w, epoch)?;
            if !recipients.insert(w.to) {
                return Err(bad("one wrapped key per member"));
            }
            if w.to != self.meta.owner && !self.members.get(&w.to).is_some_and(|m| m.status != MemberStatus::Denied) {
                return Err(bad("a wrapped key is for a key the room does not admit"));
            }
        }
        for w in keys {
            let to = w.to;
            self.stage_wrapped(w)?;
            if to != self.meta.owner {
                self.set_status(to, MemberStatus::Accepted, now)?;
            }
        }
        let readers: Vec<PublicKey> = self
            .members
            .iter()
            .filter(|(k, m)| {
                **k != self.meta.owner
                    && matches!(m.status, MemberStatus::Member | MemberStatus::Accepted)
                    && !recipients.contains(*k)
            })
            .map(|(k, _)| *k)
            .collect();
        for key in readers {
            self.set_status(key, MemberStatus::Pending, now)?;
        }
        self.meta.epoch = epoch;
        Ok(())
    }

    fn member_view(&self, key: &PublicKey) -> MemberView {
        let record = self.members.get(key);
        MemberView {
            key: *key,
            status: record.map(|m| m.status).unwrap_or(MemberStatus::Member),
            first_joined: record.map(|m| m.first_joined).unwrap_or(0),
            online: self.conns.values().any(|c| c.key() == Some(key) && !matches!(c, ConnState::Closing)),
            invite: record.and_then(|m| m.invite.clone()),
            spent: record.map_or(0, |m| m.spent),
        }
    }

    fn members_view(&self) -> MembersView {
        let mut members: Vec<MemberView> = self.members.keys().map(|k| self.member_view(k)).collect();
        members.sort_by_cached_key(|m| (m.first_joined, m.key.to_b64()));
        MembersView { members }
    }

    fn budget_view(&self) -> BudgetView {
        BudgetView {
            total: self.budget.total,
            remaining: self.budget.remaining,
            tokens_issued: self.budget.tokens_issued,
            message_bytes: self.budget.message_bytes,
        }
    }
}
