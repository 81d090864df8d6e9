//! `mock-server room-info`: a room's metadata, never its content (no message, no alias,
//! not even the message of the day: only its length).

use std::path::Path;

use protocol::backup::MemberStatus;
use protocol::ids::{MessageKey, RoomId};
use room_core::schema::{self, BudgetRecord, MemberRecord, RoomMeta};
use room_core::storage::{KvStore, ListQuery, list_all};
use serde::Serialize;

use crate::cli::{CliError, open_data_dir};
use crate::sqlite_kv::{Database, Durability, SqliteKv};

/// What `room-info` prints.
#[derive(Debug, Serialize)]
pub struct RoomInfo {
    pub room: String,
    pub owner: String,
    pub created_us: u64,
    pub locked: bool,
    pub capacity: u32,
    pub epoch: u32,
    /// Bytes of the sealed message of the day (the server cannot read it); for a room
    /// created before protocol v2, the length of its plaintext one.
    pub motd_sealed_bytes: usize,
    /// Version of the owner-signed state (0: a room from before protocol v2, unsigned).
    pub state_version: u64,
    pub members: usize,
    pub accepted: usize,
    pub pending: usize,
    pub denied: usize,
    pub messages: usize,
    pub first_message_us: Option<u64>,
    pub last_message_us: Option<u64>,
    pub budget_total: u64,
    pub budget_remaining: u64,
    pub tokens_issued: u64,
    pub database_bytes: u64,
}

fn corrupt(e: impl std::fmt::Display) -> CliError {
    CliError::invalid(format!("the room's database is damaged: {e}"))
}

/// Reads the metadata of `room`.
pub fn read(data_dir: &Path, room: &str) -> Result<RoomInfo, CliError> {
    let room = RoomId::parse(room).map_err(|e| CliError::invalid(e.to_string()))?;
    let _lock = open_data_dir(data_dir)?;
    let path = data_dir.join("rooms").join(format!("{room}.sqlite"));
    if !path.is_file() {
        return Err(CliError::not_found(format!("no room {room} in {}", data_dir.display())));
    }
    let store = SqliteKv::open(&path, Database::Room, Durability::Full, false).map_err(corrupt)?;
    let meta: RoomMeta =
        schema::decode("meta", &store.get(schema::META_KEY).map_err(corrupt)?.ok_or_else(|| corrupt("no meta"))?)
            .map_err(corrupt)?;
    let budget: BudgetRecord = match store.get(schema::BUDGET_KEY).map_err(corrupt)? {
        Some(b) => schema::decode("budget", &b).map_err(corrupt)?,
        None => BudgetRecord::default(),
    };
    let members: Vec<MemberRecord> = list_all(&store, schema::MEMBER_PREFIX)
        .map_err(corrupt)?
        .iter()
        .map(|(_, v)| schema::decode("member", v))
        .collect::<Result<_, _>>()
        .map_err(corrupt)?;
    let count = |s: MemberStatus| members.iter().filter(|m| m.status == s).count();
    let messages = list_all(&store, room.as_str()).map_err(corrupt)?.len();
    let edge = |reverse: bool| -> Result<Option<u64>, CliError> {
        let q = ListQuery { prefix: room.to_string(), cursor: None, reverse, limit: 1 };
        Ok(store
            .list(&q)
            .map_err(corrupt)?
            .first()
            .and_then(|(k, _)| MessageKey::parse(k).ok())
            .map(|k| k.timestamp().0))
    };
    let database_bytes = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    Ok(RoomInfo {
        room: room.to_string(),
        owner: meta.owner.to_b64(),
        created_us: meta.created,
        locked: meta.locked,
        capacity: meta.capacity,
        epoch: meta.epoch,
        motd_sealed_bytes: match meta.state.as_ref().and_then(|s| s.motd.as_ref()) {
            Some(sealed) => sealed.ct.0.len(),
            None => meta.motd.len(),
        },
        state_version: meta.state.as_ref().map_or(0, |s| s.version),
        members: members.len(),
        accepted: count(MemberStatus::Accepted),
        pending: count(MemberStatus::Pending),
        denied: count(MemberStatus::Denied),
        messages,
        first_message_us: edge(false)?,
        last_message_us: edge(true)?,
        budget_total: budget.total,
        budget_remaining: budget.remaining,
        tokens_issued: budget.tokens_issued,
        database_bytes,
    })
}
