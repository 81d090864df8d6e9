//! KV_local over a Durable Object's SQLite storage: the same table and queries as
//! mock-server's `SqliteKv`. Reads and writes are synchronous (`sql.exec`), so the room
//! engine runs on it unchanged; a batch is one `transactionSync` (workers-rs 0.8.7 does
//! not bind it, hence the extern below), so a failed write leaves nothing partial.

use room_core::storage::{KvStore, ListQuery, StorageError, WriteBatch, WriteOp, check_value_size, prefix_upper_bound};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use worker::{SqlStorage, SqlStorageValue, Storage};

#[wasm_bindgen]
extern "C" {
    /// A `DurableObjectStorage`, seen through the one method workers-rs lacks.
    #[wasm_bindgen(extends = js_sys::Object)]
    type TxnStorage;

    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(this: &TxnStorage, f: &mut dyn FnMut() -> Result<JsValue, JsValue>)
    -> Result<JsValue, JsValue>;
}

/// Runs `f` inside one `transactionSync` of `storage`: an error from `f` rolls back every
/// write it made (the ledger's compare-and-set runs in one).
pub fn in_transaction<T>(
    storage: &Storage,
    f: impl FnOnce() -> Result<T, protocol::error::ErrorBody>,
) -> Result<T, protocol::error::ErrorBody> {
    let mut f = Some(f);
    let mut out = None;
    let txn = {
        let mut apply = || -> Result<JsValue, JsValue> {
            let result = match f.take() {
                Some(f) => f(),
                None => Err(protocol::error::ErrorBody::new(protocol::error::ErrorCode::Internal, "ran twice")),
            };
            let failed = result.is_err();
            out = Some(result);
            if failed { Err(JsValue::from(js_sys::Error::new("rolled back"))) } else { Ok(JsValue::UNDEFINED) }
        };
        let raw: &TxnStorage = storage.as_raw().unchecked_ref();
        raw.transaction_sync(&mut apply)
    };
    match (out, txn) {
        (Some(Err(e)), _) => Err(e),
        (Some(Ok(value)), Ok(_)) => Ok(value),
        (_, Err(e)) => Err(protocol::error::ErrorBody::new(
            protocol::error::ErrorCode::Internal,
            format!("the ledger transaction failed: {e:?}"),
        )),
        (None, Ok(_)) => Err(protocol::error::ErrorBody::new(protocol::error::ErrorCode::Internal, "nothing ran")),
    }
}

/// The table (the same as mock-server's room databases).
const CREATE_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID";

fn backend(e: impl std::fmt::Display) -> StorageError {
    StorageError::Backend(e.to_string())
}

/// One room's KV_local.
pub struct DoSqlKv {
    sql: SqlStorage,
    storage: Storage,
}

impl DoSqlKv {
    /// The store of the object whose storage this is (creates the table if needed).
    pub fn open(storage: Storage) -> Result<Self, StorageError> {
        let sql = storage.sql();
        sql.exec(CREATE_TABLE, None).map_err(backend)?;
        Ok(Self { sql, storage })
    }

    /// Whether the object has stored anything at all (a room that was never created has not).
    pub fn is_empty(&self) -> Result<bool, StorageError> {
        let rows = self.sql.exec("SELECT key FROM kv LIMIT 1", None).map_err(backend)?;
        Ok(rows.raw().next().is_none())
    }

    fn rows(&self, sql: &str, values: Vec<SqlStorageValue>) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let cursor = self.sql.exec(sql, values).map_err(backend)?;
        let mut out = Vec::new();
        for row in cursor.raw() {
            let mut row = row.map_err(backend)?.into_iter();
            match (row.next(), row.next()) {
                (Some(SqlStorageValue::String(k)), Some(SqlStorageValue::Blob(v))) => out.push((k, v)),
                other => return Err(backend(format!("unexpected row shape {other:?}"))),
            }
        }
        Ok(out)
    }
}

impl KvStore for DoSqlKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self.rows("SELECT key, value FROM kv WHERE key = ?", vec![SqlStorageValue::String(key.into())])?;
        Ok(rows.into_iter().next().map(|(_, v)| v))
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let (order, cursor_op) = if query.reverse { ("DESC", "<") } else { ("ASC", ">") };
        let mut sql = String::from("SELECT key, value FROM kv WHERE key >= ?");
        let mut values = vec![SqlStorageValue::String(query.prefix.clone())];
        if let Some(upper) = prefix_upper_bound(&query.prefix) {
            values.push(SqlStorageValue::String(upper));
            sql.push_str(" AND key < ?");
        }
        if let Some(cursor) = &query.cursor {
            values.push(SqlStorageValue::String(cursor.clone()));
            sql.push_str(&format!(" AND key {cursor_op} ?"));
        }
        values.push(SqlStorageValue::Integer(i64::try_from(query.limit).unwrap_or(i64::MAX).min(1 << 52)));
        sql.push_str(&format!(" ORDER BY key {order} LIMIT ?"));
        self.rows(&sql, values)
    }

    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        for op in batch.ops() {
            if let WriteOp::Put(k, v) = op {
                check_value_size(k, v.len())?;
            }
        }
        let sql = &self.sql;
        let mut ops = Some(batch.into_ops());
        let mut apply = || -> Result<JsValue, JsValue> {
            for op in ops.take().unwrap_or_default() {
                let done = match op {
                    WriteOp::Put(k, v) => sql.exec(
                        "INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                        vec![SqlStorageValue::String(k), SqlStorageValue::Blob(v)],
                    ),
                    WriteOp::Delete(k) => sql.exec("DELETE FROM kv WHERE key = ?", vec![SqlStorageValue::String(k)]),
                };
                // Throwing rolls the whole transaction back.
                done.map_err(|e| JsValue::from(js_sys::Error::new(&e.to_string())))?;
            }
            Ok(JsValue::UNDEFINED)
        };
        let raw: &TxnStorage = self.storage.as_raw().unchecked_ref();
        raw.transaction_sync(&mut apply).map(|_| ()).map_err(|e| backend(format!("{e:?}")))
    }
}
