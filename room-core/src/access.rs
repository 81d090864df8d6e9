//! Who may see what: admission on `hello`, member statuses, wrapped keys, and bringing
//! every connection in line after the owner changes the room.
//!
//! A key the room does not know must prove it holds the invite link (an [`InviteProof`]
//! against the invite key of the owner-signed state) besides proving its own key. In an
//! open room such a key becomes a member (up to the capacity). In a locked room only the
//! owner and accepted keys read and write; a newcomer with a valid proof is recorded as
//! pending (up to `max_pending_keys`, not counted against the capacity) and gets a
//! `welcome` with access `pending` and nothing else: no signed state, no backlog, no live
//! messages, no history.

use protocol::PROTOCOL_VERSION;
use protocol::backup::MemberStatus;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::{Access, RoomState, ServerFrame};
use protocol::identity::PublicKey;
use protocol::invite::InviteProof;
use protocol::key_wrap::WrappedKey;

use crate::connection::{ConnState, TokenBucket};
use crate::effects::ConnId;
use crate::room::{Room, storage_error};
use crate::schema::{self, MemberRecord};
use crate::storage::{KvStore, StorageError, list_all};
use crate::time::UnixMicros;
use crate::verified::VerifiedHello;

/// Statuses that read the room (and hold a seat).
fn reads(status: MemberStatus) -> bool {
    matches!(status, MemberStatus::Member | MemberStatus::Accepted)
}

fn forbidden() -> ErrorBody {
    ErrorBody::new(ErrorCode::Forbidden, "the owner has turned this key away")
}

impl Room {
    /// What `key` may do in the room as it is now.
    pub(crate) fn access_of(&self, key: &PublicKey) -> Result<Access, ErrorBody> {
        if *key == self.meta.owner {
            return Ok(Access::Owner);
        }
        match (self.meta.locked, self.members.get(key).map(|m| m.status)) {
            (_, Some(MemberStatus::Denied)) => Err(forbidden()),
            (_, Some(MemberStatus::Accepted)) => Ok(Access::Accepted),
            (false, _) => Ok(Access::Member),
            (true, _) => Ok(Access::Pending),
        }
    }

    /// Keys counted against the capacity: members and accepted keys besides the owner.
    fn occupied_seats(&self) -> usize {
        self.members.iter().filter(|(k, m)| **k != self.meta.owner && reads(m.status)).count()
    }

    /// Keys waiting for the owner.
    fn waiting_keys(&self) -> usize {
        self.members.values().filter(|m| m.status == MemberStatus::Pending).count()
    }

    /// The "verified guest": the first key besides the owner's that was let in (a member
    /// or accepted; never a key that only asked).
    fn guest(&self) -> Option<PublicKey> {
        self.members
            .iter()
            .filter(|(k, m)| **k != self.meta.owner && reads(m.status))
            .min_by(|a, b| a.1.first_joined.cmp(&b.1.first_joined).then_with(|| a.0.to_b64().cmp(&b.0.to_b64())))
            .map(|(k, _)| *k)
    }

    /// The room as a connection with `access` sees it: a waiting key learns only that
    /// the room is locked and whose it is.
    pub(crate) fn room_state(&self, access: Access) -> RoomState {
        let reader = access != Access::Pending;
        RoomState {
            room: self.id.clone(),
            owner: self.meta.owner,
            locked: self.meta.locked,
            capacity: self.meta.capacity,
            epoch: self.meta.epoch,
            guest: if reader { self.guest() } else { None },
            latest: if reader { self.latest_key() } else { None },
            signed: if reader { self.meta.state.clone() } else { None },
            keep_deleted: self.meta.keep_deleted,
        }
    }

    /// Every room key wrapped to `member`, committed or staged, oldest epoch first.
    pub(crate) fn keys_for(&self, member: &PublicKey, store: &dyn KvStore) -> Result<Vec<WrappedKey>, StorageError> {
        let prefix = schema::wrapped_prefix(member);
        let mut keys: Vec<(String, WrappedKey)> = list_all(store, &prefix)?
            .into_iter()
            .map(|(k, v)| Ok((k, schema::decode("wrapped key", &v)?)))
            .collect::<Result<_, StorageError>>()?;
        for (k, w) in &self.pending.wrapped {
            if k.starts_with(&prefix) {
                keys.retain(|(existing, _)| existing != k);
                keys.push((k.clone(), w.clone()));
            }
        }
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(keys.into_iter().map(|(_, w)| w).collect())
    }

    /// Records a member status (in memory and staged for the commit).
    pub(crate) fn set_status(
        &mut self,
        key: PublicKey,
        status: MemberStatus,
        now: UnixMicros,
    ) -> Result<(), ErrorBody> {
        let record = self.members.get(&key).cloned().unwrap_or(MemberRecord {
            status,
            first_joined: now.as_micros(),
            invite: None,
            spent: 0,
        });
        let record = MemberRecord { status, ..record };
        self.fx.writes.put(schema::member_key(&key), schema::encode(&record)).map_err(storage_error)?;
        self.members.insert(key, record);
        Ok(())
    }

    /// Stages a wrapped key.
    pub(crate) fn stage_wrapped(&mut self, wrapped: WrappedKey) -> Result<(), ErrorBody> {
        let key = schema::wrapped_key(&wrapped.to, wrapped.epoch);
        self.fx.writes.put(key.clone(), schema::encode(&wrapped)).map_err(storage_error)?;
        self.pending.wrapped.insert(key, wrapped);
        Ok(())
    }

    /// A join answer whose signatures verified (see [`crate::verified`]).
    pub(crate) fn hello(&mut self, conn: ConnId, hello: VerifiedHello, now: UnixMicros, store: &dyn KvStore) {
        if !self.awaits_hello(conn) {
            return;
        }
        let VerifiedHello { v, key, invite } = hello;
        if v != PROTOCOL_VERSION {
            let e = ErrorBody::new(
                ErrorCode::BadChallengeResponse,
                format!("protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}"),
            );
            return self.refuse(conn, e, None);
        }
        let access = match self.access_of(&key) {
            Ok(a) => a,
            Err(e) => return self.refuse(conn, e, None),
        };
        let per_key = self.limits().max_connections_per_key;
        let open = self.conns.values().filter(|c| c.key() == Some(&key)).count();
        if open >= per_key as usize {
            let e = ErrorBody::new(
                ErrorCode::TooManyConnections,
                format!("this key already has {open} connections to the room (at most {per_key})"),
            )
            .with_limit(u64::from(per_key));
            return self.refuse(conn, e, None);
        }
        let known = self.members.contains_key(&key);
        if access != Access::Owner && !known {
            if let Err(e) = self.check_invite(invite.as_ref()) {
                return self.refuse(conn, e, None);
            }
            if let Err(e) = self.check_room_for(access) {
                return self.refuse(conn, e, None);
            }
        }
        let status = match access {
            Access::Pending => Some(MemberStatus::Pending),
            Access::Member if !known => Some(MemberStatus::Member),
            Access::Owner if !known => Some(MemberStatus::Member),
            _ => None,
        };
        let guest_before = self.guest();
        if let Some(status) = status
            && self.members.get(&key).map(|m| m.status) != Some(status)
        {
            if let Err(e) = self.set_status(key, status, now) {
                return self.refuse(conn, e, None);
            }
            if !known && let Err(e) = self.record_invite(key, invite) {
                return self.refuse(conn, e, None);
            }
            if status == MemberStatus::Pending {
                self.tell_owner(&ServerFrame::JoinRequest { key });
            }
        }
        let keys = match self.keys_for(&key, store) {
            Ok(k) => k,
            Err(e) => return self.refuse(conn, storage_error(e), None),
        };
        let limits = self.limits().clone();
        let welcome = ServerFrame::Welcome {
            state: self.room_state(access),
            you: key,
            is_owner: access == Access::Owner,
            access,
            keys,
            limits,
        };
        self.send(conn, &welcome);
        self.enter(conn, key, access, now, store);
        if self.guest() != guest_before {
            // The room has its verified guest now: everyone's cues follow.
            self.refresh_connections(now, store, true);
        }
    }

    /// A newcomer must hold the invite link: its proof must verify for its key against the
    /// invite key of the owner-signed state. (Rooms created before protocol v2 have no
    /// signed state until their owner's browser signs one; until then they admit any key,
    /// as they did.)
    fn check_invite(&self, proof: Option<&InviteProof>) -> Result<(), ErrorBody> {
        let Some(state) = &self.meta.state else { return Ok(()) };
        let Some(proof) = proof else {
            return Err(ErrorBody::new(
                ErrorCode::InviteRequired,
                "a new key must prove it holds the room's invite link",
            ));
        };
        // The proof's signature was verified with the join answer; it must be by the
        // invite key the owner signed.
        if proof.invite != state.invite {
            return Err(ErrorBody::new(
                ErrorCode::InviteRequired,
                "this invite link does not admit new members any more: ask the owner for a new one",
            ));
        }
        Ok(())
    }

    /// Room for one more key with `access`: a seat (members), or a place in the queue of
    /// keys waiting for the owner (locked rooms).
    fn check_room_for(&self, access: Access) -> Result<(), ErrorBody> {
        if access == Access::Pending {
            let max = self.limits().max_pending_keys;
            if self.waiting_keys() >= max as usize {
                return Err(ErrorBody::new(
                    ErrorCode::RoomFull,
                    format!("{max} keys are already waiting for the owner; try again later"),
                )
                .with_limit(u64::from(max)));
            }
            return Ok(());
        }
        let capacity = self.meta.capacity;
        if self.occupied_seats() >= capacity as usize {
            return Err(ErrorBody::new(ErrorCode::RoomFull, format!("the room is full ({capacity} members)"))
                .with_limit(u64::from(capacity)));
        }
        Ok(())
    }

    /// Keeps a newcomer's invite proof (the owner's browser checks it before wrapping).
    fn record_invite(&mut self, key: PublicKey, invite: Option<InviteProof>) -> Result<(), ErrorBody> {
        let Some(record) = self.members.get_mut(&key) else { return Ok(()) };
        if invite.is_none() {
            return Ok(());
        }
        record.invite = invite;
        let record = record.clone();
        self.fx.writes.put(schema::member_key(&key), schema::encode(&record)).map_err(storage_error)
    }

    /// Sends `frame` to every connection of the owner.
    fn tell_owner(&mut self, frame: &ServerFrame) {
        let owner = self.meta.owner;
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, s)| matches!(s, ConnState::Joined { key, .. } if *key == owner))
            .map(|(c, _)| *c)
            .collect();
        for conn in conns {
            self.send(conn, frame);
        }
    }

    /// Puts a proven connection into the state its access allows; a reader gets the backlog.
    fn enter(&mut self, conn: ConnId, key: PublicKey, access: Access, now: UnixMicros, store: &dyn KvStore) {
        if access == Access::Pending {
            self.set_conn(conn, ConnState::Waiting { key });
            return;
        }
        let limits = self.limits();
        let bucket = TokenBucket::new(limits.rate_per_second, limits.rate_burst, now);
        self.set_conn(conn, ConnState::Joined { key, bucket });
        match self.backlog(store) {
            Ok((messages, more)) => self.send(conn, &ServerFrame::Backlog { messages, more }),
            Err(e) => self.refuse(conn, storage_error(e), None),
        }
    }

    /// After the owner changed the room: tells proven connections the new state and
    /// their keys, lets newly accepted ones read (with a backlog), stops newly pending
    /// ones, and closes turned-away ones. Waiting connections hear only of changes to
    /// themselves or to the room's settings (`settings_changed`), not of other members.
    pub(crate) fn refresh_connections(&mut self, now: UnixMicros, store: &dyn KvStore, settings_changed: bool) {
        let proven: Vec<(ConnId, PublicKey, bool)> = self
            .conns
            .iter()
            .filter_map(|(c, s)| s.key().map(|k| (*c, *k, matches!(s, ConnState::Joined { .. }))))
            .collect();
        for (conn, key, was_reading) in proven {
            let access = match self.access_of(&key) {
                Ok(a) => a,
                Err(e) => {
                    self.refuse(conn, e, None);
                    continue;
                }
            };
            let reads = access != Access::Pending;
            if !reads && !was_reading && !settings_changed {
                continue;
            }
            let keys = match self.keys_for(&key, store) {
                Ok(k) => k,
                Err(e) => {
                    self.refuse(conn, storage_error(e), None);
                    continue;
                }
            };
            self.send(conn, &ServerFrame::Room { state: self.room_state(access), access, keys });
            if reads != was_reading {
                self.enter(conn, key, access, now, store);
            }
        }
    }
}
