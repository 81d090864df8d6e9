//! A [`KvStore`] on SQLite: one table of `(key TEXT PRIMARY KEY, value BLOB)`.
//!
//! Used for each room's KV_local (one database file per room, like one Durable Object's
//! storage) and for the KV_global namespaces (tables in `global.sqlite`).
//!
//! Durability: every database runs in WAL mode. KV_local uses `synchronous=FULL`, so a
//! commit is on stable storage before it returns: an acknowledged message survives
//! `kill -9` of the server and also a power cut or kernel crash. The cost (one fsync per
//! commit) is amortised by the room worker's group commit. KV_global uses
//! `synchronous=NORMAL`: it is an asynchronous copy the design allows to lag.

use std::path::Path;

use room_core::storage::{KvStore, ListQuery, StorageError, WriteBatch, WriteOp, check_value_size};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

pub use crate::db_schema::{Database, Durability};

/// A key-value table in a SQLite database.
pub struct SqliteKv {
    conn: Connection,
    table: &'static str,
}

fn backend(e: rusqlite::Error) -> StorageError {
    StorageError::Backend(e.to_string())
}

impl SqliteKv {
    /// Opens (creating if `create`) the database at `path` as `db` (see
    /// [`crate::db_schema`]); the store is that database's key-value table.
    pub fn open(path: &Path, db: Database, durability: Durability, create: bool) -> Result<Self, StorageError> {
        let conn = crate::db_schema::open(path, db, durability, create).map_err(backend)?;
        let table = match db {
            Database::Room => crate::db_schema::ROOM_TABLE,
            Database::Global => crate::db_schema::MESSAGES_TABLE,
        };
        Ok(Self { conn, table })
    }

    /// Copies the write-ahead log into the database and empties it: page versions that
    /// held content since replaced (an erased message's ciphertext) leave the disk.
    pub fn purge_superseded(&self) -> Result<(), StorageError> {
        self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").map_err(backend)
    }
}

impl KvStore for SqliteKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let sql = format!("SELECT value FROM {} WHERE key = ?1", self.table);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(backend)?;
        stmt.query_row(params![key], |row| row.get::<_, Vec<u8>>(0)).optional().map_err(backend)
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let (order, cursor_op) = if query.reverse { ("DESC", "<") } else { ("ASC", ">") };
        let mut sql = format!("SELECT key, value FROM {} WHERE key >= ?1", self.table);
        let mut values: Vec<Value> = vec![Value::Text(query.prefix.clone())];
        if let Some(upper) = room_core::storage::prefix_upper_bound(&query.prefix) {
            values.push(Value::Text(upper));
            sql.push_str(&format!(" AND key < ?{}", values.len()));
        }
        if let Some(cursor) = &query.cursor {
            values.push(Value::Text(cursor.clone()));
            sql.push_str(&format!(" AND key {cursor_op} ?{}", values.len()));
        }
        values.push(Value::Integer(i64::try_from(query.limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY key {order} LIMIT ?{}", values.len()));
        let mut stmt = self.conn.prepare_cached(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(backend)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(backend)
    }

    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        for op in batch.ops() {
            if let WriteOp::Put(k, v) = op {
                check_value_size(k, v.len())?;
            }
        }
        let tx = self.conn.transaction().map_err(backend)?;
        {
            let put = format!("INSERT OR REPLACE INTO {} (key, value) VALUES (?1, ?2)", self.table);
            let del = format!("DELETE FROM {} WHERE key = ?1", self.table);
            let mut put = tx.prepare_cached(&put).map_err(backend)?;
            let mut del = tx.prepare_cached(&del).map_err(backend)?;
            for op in batch.into_ops() {
                match op {
                    WriteOp::Put(k, v) => put.execute(params![k, v]).map(|_| ()),
                    WriteOp::Delete(k) => del.execute(params![k]).map(|_| ()),
                }
                .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_store_conforms_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.sqlite");
        {
            let mut kv = SqliteKv::open(&path, Database::Room, Durability::Full, true).unwrap();
            room_core::storage::conformance::check_store(&mut kv);
        }
        let kv = SqliteKv::open(&path, Database::Room, Durability::Full, false).unwrap();
        assert_eq!(kv.get("b/1").unwrap(), Some(b"b/1".to_vec()));
        assert!(SqliteKv::open(&dir.path().join("missing.sqlite"), Database::Room, Durability::Full, false).is_err());
    }
}
