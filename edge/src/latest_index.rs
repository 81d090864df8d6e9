//! KV_global on the edge: each room's newest message key in Workers KV (binding `GLOBAL`,
//! key `latest:<room id>`), so `last-message-times` reads KV instead of waking every room.
//!
//! Workers KV takes at most one write per second per key, and its reads lag writes (up to
//! a minute on Cloudflare), so the room object writes at a bounded rate: the first new
//! message after a quiet second is written at once, later ones at most once a second (the
//! object's alarm brings the newest key in). The client keeps the larger of what it had
//! and what it fetched, so a lagging value never moves a room backwards.
//!
//! What was last written (and when) is kept in the object's own SQL storage (table
//! `edge_meta`), with the room id, so an object woken by its alarm alone, with no socket
//! left to say which room it is, still writes the newest key.

use serde::{Deserialize, Serialize};
use worker::{Env, SqlStorage, SqlStorageValue};

/// The Workers KV binding holding KV_global.
pub const BINDING: &str = "GLOBAL";
pub use crate::latest_schedule::MIN_WRITE_INTERVAL_US;
use crate::latest_schedule::WriteSchedule;

const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS edge_meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID";

/// The KV key of `room`'s newest message key.
pub fn kv_key(room: &str) -> String {
    format!("latest:{room}")
}

/// What was last written to KV for this room.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub room: String,
    pub key: Option<String>,
    /// µs since the Unix epoch.
    pub at: u64,
}

/// The room object's writer of its newest key.
#[derive(Debug, Default)]
pub struct LatestIndex {
    /// Loaded from the object's storage on first use.
    schedule: Option<WriteSchedule>,
}

fn stored(sql: &SqlStorage) -> Option<Written> {
    sql.exec(CREATE_TABLE, None).ok()?;
    let cursor = sql.exec("SELECT value FROM edge_meta WHERE key = 'latest'", None).ok()?;
    let row = cursor.raw().next()?.ok()?;
    match row.into_iter().next()? {
        SqlStorageValue::String(text) => serde_json::from_str(&text).ok(),
        _ => None,
    }
}

/// The room this object wrote for last, from its storage (for an alarm with no socket).
pub fn stored_room(sql: &SqlStorage) -> Option<String> {
    stored(sql).map(|w| w.room)
}

impl LatestIndex {
    fn schedule(&mut self, sql: &SqlStorage) -> &mut WriteSchedule {
        self.schedule.get_or_insert_with(|| WriteSchedule::resumed(stored(sql).and_then(|w| Some((w.key?, w.at)))))
    }

    /// Notes the room's newest key after a batch; returns when a write is due (for the
    /// alarm), if one is.
    pub fn note(&mut self, sql: &SqlStorage, latest: Option<&str>, now: u64) -> Option<u64> {
        self.schedule(sql).note(latest, now)
    }

    /// The key to write now, if a write is due and none is on its way.
    pub fn take_due(&mut self, sql: &SqlStorage, latest: Option<&str>, now: u64) -> Option<String> {
        self.schedule(sql).take_due(latest, now)
    }

    /// Records a write that succeeded (in the object's storage too); returns when the next
    /// is due, if the room moved on meanwhile.
    pub fn wrote(&mut self, sql: &SqlStorage, room: &str, key: String, latest: Option<&str>, at: u64) -> Option<u64> {
        let written = Written { room: room.to_owned(), key: Some(key.clone()), at };
        if let Ok(text) = serde_json::to_string(&written) {
            let _ = sql.exec(CREATE_TABLE, None);
            let saved = sql.exec(
                "INSERT OR REPLACE INTO edge_meta (key, value) VALUES ('latest', ?)",
                vec![SqlStorageValue::String(text)],
            );
            if let Err(e) = saved {
                worker::console_error!("cannot keep what was written to KV: {e}");
            }
        }
        self.schedule(sql).wrote(key, latest, at)
    }

    /// A write that failed: try again a second later.
    pub fn failed(&mut self, sql: &SqlStorage, now: u64) -> u64 {
        self.schedule(sql).failed(now)
    }
}

/// Writes `room`'s newest key to KV.
pub async fn write(env: &Env, room: &str, key: &str) -> worker::Result<()> {
    env.kv(BINDING)?.put(&kv_key(room), key)?.execute().await?;
    Ok(())
}

/// Reads `room`'s newest key from KV (it may lag the room).
pub async fn read(env: &Env, room: &str) -> worker::Result<Option<String>> {
    Ok(env.kv(BINDING)?.get(&kv_key(room)).text().await?)
}
