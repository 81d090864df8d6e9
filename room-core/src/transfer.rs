//! Taking a room elsewhere: exporting it as a [`RoomBackup`] and importing a validated
//! one into a new, empty KV_local.
//!
//! A backup comes from outside (another server, through the owner's browser), so besides
//! the signature checks of `SignedBackup::validate` its values must be ones this room
//! could have produced itself ([`check_bounds`]): no timestamp later than the importing
//! server's clock plus [`MAX_BACKUP_CLOCK_SKEW_MICROS`] (a `u64::MAX` message key would
//! leave no room for a next message), a capacity of at most `MAX_ROOM_CAPACITY` and a
//! message of the day of at most `MAX_MOTD_CHARS` characters.

use protocol::api::{MAX_MOTD_CHARS, MAX_ROOM_CAPACITY};
use protocol::backup::{BACKUP_FORMAT, BACKUP_VERSION, BackupBudget, BackupMember, BackupSettings, RoomBackup};
use protocol::envelope::StoredMessage;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::key_wrap::WrappedKey;

use crate::room::{Room, RoomConfig, storage_error};
use crate::schema::{self, BudgetRecord, MemberRecord, RoomMeta};
use crate::storage::{KvStore, WriteBatch, list_all};
use crate::time::UnixMicros;

/// How far in the future (by the importing server's clock) a backup's timestamps may
/// lie: clocks of two servers disagree a little. 5 minutes, in µs.
pub const MAX_BACKUP_CLOCK_SKEW_MICROS: u64 = 5 * 60 * 1_000_000;

/// Refuses (`bad_backup`, with the limit crossed) a backup holding a value this server
/// would never have produced: a timestamp (room creation, a member's first join, a
/// message key, the export time) after `now + MAX_BACKUP_CLOCK_SKEW_MICROS`, a capacity
/// above `MAX_ROOM_CAPACITY`, or a message of the day above `MAX_MOTD_CHARS` characters.
pub fn check_bounds(backup: &RoomBackup, now: UnixMicros) -> Result<(), ErrorBody> {
    let latest = now.as_micros().saturating_add(MAX_BACKUP_CLOCK_SKEW_MICROS);
    let late = |what: &str, ts: u64| {
        (ts > latest).then(|| {
            ErrorBody::new(
                ErrorCode::BadBackup,
                format!("{what} ({ts} µs) is later than this server's clock allows ({latest} µs)"),
            )
            .with_limit(latest)
        })
    };
    let s = &backup.settings;
    if s.capacity > MAX_ROOM_CAPACITY {
        return Err(ErrorBody::new(
            ErrorCode::BadBackup,
            format!("the backup's capacity {} is above the largest allowed, {MAX_ROOM_CAPACITY}", s.capacity),
        )
        .with_limit(u64::from(MAX_ROOM_CAPACITY)));
    }
    let motd_chars = s.motd.chars().count();
    if motd_chars > MAX_MOTD_CHARS {
        return Err(ErrorBody::new(
            ErrorCode::BadBackup,
            format!(
                "the backup's message of the day has {motd_chars} characters; at most {MAX_MOTD_CHARS} are allowed"
            ),
        )
        .with_limit(MAX_MOTD_CHARS as u64));
    }
    let stamps = [("the room's creation time", s.created), ("the export time", backup.exported_at)]
        .into_iter()
        .chain(backup.members.iter().map(|m| ("a member's first join", m.first_joined)))
        .chain(backup.messages.iter().map(|m| ("a message key's timestamp", m.key.timestamp().0)));
    for (what, ts) in stamps {
        if let Some(e) = late(what, ts) {
            return Err(e);
        }
    }
    Ok(())
}

impl Room {
    /// The whole room as committed: settings, members, wrapped keys, every message.
    pub(crate) fn export(&self, store: &dyn KvStore, now: UnixMicros) -> Result<RoomBackup, ErrorBody> {
        let messages = list_all(store, self.id.as_str())
            .map_err(storage_error)?
            .into_iter()
            .map(|(_, v)| schema::decode::<StoredMessage>("message", &v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage_error)?;
        let wrapped_keys = list_all(store, schema::WRAPPED_PREFIX)
            .map_err(storage_error)?
            .into_iter()
            .map(|(_, v)| schema::decode::<WrappedKey>("wrapped key", &v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(storage_error)?;
        let mut members: Vec<BackupMember> = self
            .members
            .iter()
            .map(|(key, m)| BackupMember {
                key: *key,
                status: m.status,
                first_joined: m.first_joined,
                invite: m.invite.clone(),
            })
            .collect();
        members.sort_by(|a, b| a.first_joined.cmp(&b.first_joined).then_with(|| a.key.to_b64().cmp(&b.key.to_b64())));
        Ok(RoomBackup {
            format: BACKUP_FORMAT.into(),
            v: BACKUP_VERSION,
            room: self.id.clone(),
            owner: self.meta.owner,
            settings: BackupSettings {
                motd: self.meta.motd.clone(),
                locked: self.meta.locked,
                capacity: self.meta.capacity,
                epoch: self.meta.epoch,
                created: self.meta.created,
                signed: self.meta.state.clone(),
                keep_deleted: self.meta.keep_deleted,
            },
            members,
            wrapped_keys,
            messages,
            budget: BackupBudget { total: self.budget.total, remaining: self.budget.remaining },
            exported_at: now.as_micros(),
        })
    }

    /// The writes that recreate a room from a backup the caller has already checked with
    /// `SignedBackup::validate`; refuses values out of bounds ([`check_bounds`] against
    /// `now`, µs). The new room is funded with `budget` bytes (the source's budget record
    /// is history, not money on this server).
    pub fn import_batch(
        backup: &RoomBackup,
        budget: u64,
        now: UnixMicros,
        config: &RoomConfig,
    ) -> Result<WriteBatch, ErrorBody> {
        check_bounds(backup, now)?;
        let invalid = |e| ErrorBody::new(ErrorCode::BadBackup, format!("cannot store the backup: {e}"));
        let s = &backup.settings;
        let meta = RoomMeta {
            v: 1,
            owner: backup.owner,
            motd: if s.signed.is_some() { String::new() } else { s.motd.clone() },
            locked: s.locked,
            capacity: if s.capacity == 0 { config.limits.default_room_capacity } else { s.capacity },
            created: s.created,
            epoch: s.epoch,
            state: s.signed.clone(),
            allowance: None,
            keep_deleted: s.keep_deleted,
        };
        let mut batch = WriteBatch::default();
        batch.put(schema::META_KEY, schema::encode(&meta)).map_err(invalid)?;
        let budget = BudgetRecord { total: budget, remaining: budget, ..BudgetRecord::default() };
        batch.put(schema::BUDGET_KEY, schema::encode(&budget)).map_err(invalid)?;
        for m in &backup.members {
            let record =
                MemberRecord { status: m.status, first_joined: m.first_joined, invite: m.invite.clone(), spent: 0 };
            batch.put(schema::member_key(&m.key), schema::encode(&record)).map_err(invalid)?;
        }
        for w in &backup.wrapped_keys {
            batch.put(schema::wrapped_key(&w.to, w.epoch), schema::encode(w)).map_err(invalid)?;
        }
        for m in &backup.messages {
            batch.put(m.key.as_str(), schema::encode(m)).map_err(invalid)?;
            batch
                .put(schema::cid_key(&m.env.sender, &m.env.cid), m.key.as_str().as_bytes().to_vec())
                .map_err(invalid)?;
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::backup::{BackupMember, MemberStatus};
    use protocol::content_key::ContentKey;
    use protocol::envelope::{self, Content, MessageBody, SealInput};
    use protocol::identity::IdentityKey;
    use protocol::ids::{ClientMessageId, MessageKey, RoomId, Timestamp};

    const NOW_US: u64 = 1_800_000_000_000_000;
    const NOW: UnixMicros = UnixMicros(NOW_US);
    const LATEST: u64 = NOW_US + MAX_BACKUP_CLOCK_SKEW_MICROS;

    fn backup() -> RoomBackup {
        let owner = IdentityKey::from_secret_bytes(&[7; 32]).unwrap();
        let room = RoomId::from_owner_key(&owner.public_key());
        let body = MessageBody { alias: "o".into(), content: Content::text("hi") };
        let cid = ClientMessageId::parse("c1").unwrap();
        let env = envelope::seal(
            &SealInput { room: &room, epoch: 0, cid: &cid, to: None, body: &body },
            &ContentKey::from_bytes([1; 32]),
            &owner,
            [2; 12],
        );
        RoomBackup {
            format: BACKUP_FORMAT.into(),
            v: BACKUP_VERSION,
            room: room.clone(),
            owner: owner.public_key(),
            settings: BackupSettings {
                motd: String::new(),
                locked: false,
                capacity: 50,
                epoch: 0,
                created: NOW_US,
                signed: None,
                keep_deleted: false,
            },
            members: vec![BackupMember {
                key: owner.public_key(),
                status: MemberStatus::Member,
                first_joined: NOW_US,
                invite: None,
            }],
            wrapped_keys: vec![],
            messages: vec![StoredMessage::new(MessageKey::new(&room, Timestamp(NOW_US)), env)],
            budget: BackupBudget { total: 1, remaining: 1 },
            exported_at: NOW_US,
        }
    }

    fn refused(b: &RoomBackup) -> Option<ErrorBody> {
        check_bounds(b, NOW).err()
    }

    #[test]
    fn timestamps_up_to_the_skew_pass_and_later_ones_are_refused() {
        assert_eq!(refused(&backup()), None);
        type Set = fn(&mut RoomBackup, u64);
        let setters: [(&str, Set); 4] = [
            ("created", |b, t| b.settings.created = t),
            ("exported_at", |b, t| b.exported_at = t),
            ("first_joined", |b, t| b.members[0].first_joined = t),
            ("message key", |b, t| b.messages[0].key = MessageKey::new(&b.room, Timestamp(t))),
        ];
        for (what, set) in setters {
            let mut at = backup();
            set(&mut at, LATEST);
            assert_eq!(refused(&at), None, "{what} at the edge");
            for past in [LATEST + 1, u64::MAX] {
                let mut b = backup();
                set(&mut b, past);
                let e = refused(&b).unwrap_or_else(|| panic!("{what} = {past} passed"));
                assert_eq!(e.code, ErrorCode::BadBackup);
                assert_eq!(e.limit, Some(LATEST));
                assert!(e.message.contains("later than"), "{}", e.message);
            }
        }
    }

    #[test]
    fn capacity_and_motd_at_and_past_their_limits() {
        let mut b = backup();
        b.settings.capacity = MAX_ROOM_CAPACITY;
        b.settings.motd = "é".repeat(MAX_MOTD_CHARS);
        assert_eq!(refused(&b), None);
        b.settings.capacity = MAX_ROOM_CAPACITY + 1;
        let e = refused(&b).unwrap();
        assert_eq!((e.code, e.limit), (ErrorCode::BadBackup, Some(u64::from(MAX_ROOM_CAPACITY))));
        assert!(e.message.contains("capacity"));
        b.settings.capacity = u32::MAX;
        assert_eq!(refused(&b).unwrap().code, ErrorCode::BadBackup);
        b.settings.capacity = MAX_ROOM_CAPACITY;
        b.settings.motd.push('x');
        let e = refused(&b).unwrap();
        assert_eq!((e.code, e.limit), (ErrorCode::BadBackup, Some(MAX_MOTD_CHARS as u64)));
        assert!(e.message.contains("message of the day"));
    }

    #[test]
    fn import_batch_applies_the_bounds() {
        let config = RoomConfig {
            limits: protocol::limits::Limits::default(),
            verifier: std::sync::Arc::new(crate::inbound::PortableVerifier),
        };
        assert!(Room::import_batch(&backup(), 1 << 20, NOW, &config).is_ok());
        let mut b = backup();
        b.exported_at = u64::MAX;
        assert_eq!(Room::import_batch(&b, 1 << 20, NOW, &config).unwrap_err().code, ErrorCode::BadBackup);
    }
}
