//! Taking a room elsewhere: exporting it as a [`RoomBackup`] and importing a validated
//! one into a new, empty KV_local.

use protocol::backup::{BACKUP_FORMAT, BACKUP_VERSION, BackupBudget, BackupMember, BackupSettings, RoomBackup};
use protocol::envelope::StoredMessage;
use protocol::error::{ErrorBody, ErrorCode};
use protocol::key_wrap::WrappedKey;

use crate::room::{Room, RoomConfig, storage_error};
use crate::schema::{self, BudgetRecord, MemberRecord, RoomMeta};
use crate::storage::{KvStore, WriteBatch, list_all};

impl Room {
    /// The whole room as committed: settings, members, wrapped keys, every message.
    pub(crate) fn export(&self, store: &dyn KvStore, now: u64) -> Result<RoomBackup, ErrorBody> {
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
            },
            members,
            wrapped_keys,
            messages,
            budget: BackupBudget { total: self.budget.total, remaining: self.budget.remaining },
            exported_at: now,
        })
    }

    /// The writes that recreate a room from a backup the caller has already checked with
    /// `SignedBackup::validate`. The new room is funded with `budget` bytes (the source's
    /// budget record is history, not money on this server).
    pub fn import_batch(backup: &RoomBackup, budget: u64, config: &RoomConfig) -> Result<WriteBatch, ErrorBody> {
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
