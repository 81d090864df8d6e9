//! KV_global: the eventually consistent store shared by all rooms (`global.sqlite`).
//!
//! Room workers hand every committed message to [`GlobalStore::replicate`], which queues it
//! for a background writer thread; the writer commits what has accumulated in one
//! transaction. The non-addressable API reads from it ("time of the last message" of many
//! rooms) without ever touching a room worker. After a crash the queue may have lost its
//! tail; each room re-copies what KV_global lacks when it next loads
//! ([`GlobalStore::latest_message_key`] tells it where to resume).

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use protocol::ids::{MessageKey, RoomId};
use room_core::storage::{KvStore, ListQuery, StorageError, WriteBatch};

use crate::sqlite_kv::{Database, Durability, SqliteKv};

pub use crate::db_schema::MESSAGES_TABLE;

enum WriterCommand {
    Put(Vec<(String, Vec<u8>)>),
    /// After the puts so far: purge superseded page versions (see
    /// [`SqliteKv::purge_superseded`]).
    Purge,
    Flush(mpsc::Sender<()>),
}

/// Handle to KV_global; cheap to clone.
#[derive(Clone)]
pub struct GlobalStore {
    reader: Arc<Mutex<SqliteKv>>,
    writer: mpsc::Sender<WriterCommand>,
}

impl GlobalStore {
    /// Opens (creating) the database and starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut writer_kv = SqliteKv::open(path, Database::Global, Durability::Normal, true)?;
        let reader = SqliteKv::open(path, Database::Global, Durability::Normal, false)?;
        let (tx, rx) = mpsc::channel::<WriterCommand>();
        std::thread::Builder::new()
            .name("kv-global-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = WriteBatch::default();
                    let mut flushes = Vec::new();
                    let mut purge = false;
                    let mut take = |cmd: WriterCommand, batch: &mut WriteBatch| match cmd {
                        WriterCommand::Put(items) => {
                            for (k, v) in items {
                                if let Err(e) = batch.put(k, v) {
                                    tracing::error!("KV_global refused a value: {e}");
                                }
                            }
                        }
                        WriterCommand::Purge => purge = true,
                        WriterCommand::Flush(done) => flushes.push(done),
                    };
                    take(first, &mut batch);
                    while let Ok(more) = rx.try_recv() {
                        take(more, &mut batch);
                        if batch.len() > 5_000 {
                            break;
                        }
                    }
                    if !batch.is_empty()
                        && let Err(e) = writer_kv.commit(batch)
                    {
                        tracing::error!("KV_global commit failed (rooms re-copy on next load): {e}");
                    }
                    if purge && let Err(e) = writer_kv.purge_superseded() {
                        tracing::error!("KV_global could not purge superseded pages: {e}");
                    }
                    for done in flushes {
                        let _ = done.send(());
                    }
                }
            })
            .map_err(|e| StorageError::Backend(format!("cannot start the KV_global writer: {e}")))?;
        Ok(Self { reader: Arc::new(Mutex::new(reader)), writer: tx })
    }

    /// Queues committed messages for copying; never blocks.
    pub fn replicate(&self, items: Vec<(String, Vec<u8>)>) {
        if !items.is_empty() {
            let _ = self.writer.send(WriterCommand::Put(items));
        }
    }

    /// Purges superseded page versions once everything queued so far is written (after
    /// an erased message's copy was replaced).
    pub fn purge(&self) {
        let _ = self.writer.send(WriterCommand::Purge);
    }

    /// Waits until everything queued so far is committed (used at shutdown and in tests).
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.writer.send(WriterCommand::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }

    /// The newest message key KV_global holds for `room` (a backwards prefix listing).
    pub fn latest_message_key(&self, room: &RoomId) -> Result<Option<MessageKey>, StorageError> {
        let reader = self.reader.lock().map_err(|_| StorageError::Backend("reader lock poisoned".into()))?;
        let rows = reader.list(&ListQuery::backwards(room.as_str(), 1))?;
        Ok(rows.first().and_then(|(k, _)| MessageKey::parse(k).ok()))
    }
}
