//! Who may see what: admission on `hello`, member statuses, wrapped keys, and bringing
//! every connection in line after the owner changes the room.
//!
//! In an open room every key that proves itself is a member (up to the capacity). In a
//! locked room only the owner and accepted keys read and write; anyone else who proves a
//! key is recorded as pending and gets a `welcome` with access `pending` and nothing else:
//! no backlog, no live messages, no history.

use protocol::PROTOCOL_VERSION;
use protocol::backup::MemberStatus;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::frames::{Access, RoomState, ServerFrame};
use protocol::identity::{PublicKey, Signature};
use protocol::key_wrap::WrappedKey;
use protocol::transcript;

use crate::connection::{ConnState, TokenBucket};
use crate::effects::ConnId;
use crate::room::{Room, storage_error};
use crate::schema::{self, MemberRecord};
use crate::storage::{KvStore, StorageError, list_all};

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

    /// Keys counted against the capacity: every known key but the owner and denied ones.
    fn occupied_seats(&self) -> usize {
        self.members.iter().filter(|(k, m)| **k != self.meta.owner && m.status != MemberStatus::Denied).count()
    }

    /// The "verified guest": the first key besides the owner's that joined (not denied).
    fn guest(&self) -> Option<PublicKey> {
        self.members
            .iter()
            .filter(|(k, m)| **k != self.meta.owner && m.status != MemberStatus::Denied)
            .min_by(|a, b| a.1.first_joined.cmp(&b.1.first_joined).then_with(|| a.0.to_b64().cmp(&b.0.to_b64())))
            .map(|(k, _)| *k)
    }

    /// The room as a connection with `access` sees it.
    pub(crate) fn room_state(&self, access: Access) -> RoomState {
        RoomState {
            room: self.id.clone(),
            owner: self.meta.owner,
            motd: self.meta.motd.clone(),
            locked: self.meta.locked,
            capacity: self.meta.capacity,
            epoch: self.meta.epoch,
            guest: self.guest(),
            latest: if access == Access::Pending { None } else { self.latest_key() },
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
    pub(crate) fn set_status(&mut self, key: PublicKey, status: MemberStatus, now: u64) -> Result<(), ErrorBody> {
        let record = self.members.get(&key).cloned().unwrap_or(MemberRecord { status, first_joined: now });
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

    pub(crate) fn hello(
        &mut self,
        conn: ConnId,
        v: u32,
        key: PublicKey,
        sig: Signature,
        now: u64,
        store: &dyn KvStore,
    ) {
        let challenge = match self.conns.get(&conn) {
            Some(ConnState::AwaitingHello { challenge, .. }) => *challenge,
            Some(ConnState::Joined { .. } | ConnState::Waiting { .. }) => {
                let e = ErrorBody::new(ErrorCode::AlreadyJoined, "this connection has already joined");
                return self.refuse(conn, e, None);
            }
            _ => return,
        };
        if v != PROTOCOL_VERSION {
            let e = ErrorBody::new(
                ErrorCode::BadChallengeResponse,
                format!("protocol version {v} is not supported; this server speaks {PROTOCOL_VERSION}"),
            );
            return self.refuse(conn, e, None);
        }
        if !self.config.verifier.verify(&key, &transcript::join(&self.id, &challenge), &sig) {
            let e = ErrorBody::new(
                ErrorCode::BadChallengeResponse,
                "the signature does not answer this connection's challenge",
            );
            return self.refuse(conn, e, None);
        }
        let access = match self.access_of(&key) {
            Ok(a) => a,
            Err(e) => return self.refuse(conn, e, None),
        };
        let known = self.members.contains_key(&key);
        if access != Access::Owner && !known {
            let capacity = self.meta.capacity;
            if self.occupied_seats() >= capacity as usize {
                let e = ErrorBody::new(ErrorCode::RoomFull, format!("the room is full ({capacity} members)"))
                    .with_limit(u64::from(capacity));
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
    fn enter(&mut self, conn: ConnId, key: PublicKey, access: Access, now: u64, store: &dyn KvStore) {
        if access == Access::Pending {
            self.conns.insert(conn, ConnState::Waiting { key });
            return;
        }
        let limits = self.limits();
        let bucket = TokenBucket::new(limits.rate_per_second, limits.rate_burst, now);
        self.conns.insert(conn, ConnState::Joined { key, bucket });
        match self.backlog(store) {
            Ok((messages, more)) => self.send(conn, &ServerFrame::Backlog { messages, more }),
            Err(e) => self.refuse(conn, storage_error(e), None),
        }
    }

    /// After the owner changed the room: tells proven connections the new state and
    /// their keys, lets newly accepted ones read (with a backlog), stops newly pending
    /// ones, and closes turned-away ones. Waiting connections hear only of changes to
    /// themselves or to the room's settings (`settings_changed`), not of other members.
    pub(crate) fn refresh_connections(&mut self, now: u64, store: &dyn KvStore, settings_changed: bool) {
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
