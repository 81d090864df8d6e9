//! The decrypted-message cache in IndexedDB (via rexie), so a room opens instantly, can be
//! read offline, and can be searched locally.
//!
//! Database `cloakroom-cache`, object store `messages`, key path `key` (the server's
//! message key). Message keys start with the room id and sort by time, so a room's
//! messages are one key range, newest last: no index needed.

use std::cell::RefCell;
use std::rc::Rc;

use rexie::{Direction, KeyRange, ObjectStore, Rexie, TransactionMode};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use crate::session::timeline::ChatMessage;

const DB_NAME: &str = "cloakroom-cache";
const DB_VERSION: u32 = 1;
const STORE: &str = "messages";

/// One cached message.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CachedMessage {
    key: String,
    message: ChatMessage,
}

thread_local! {
    static DB: RefCell<Option<Rc<Rexie>>> = const { RefCell::new(None) };
}

/// A cache failure (IndexedDB unavailable, quota, …): the app keeps working without it.
#[derive(Debug, Clone)]
pub struct CacheError(pub String);

impl std::fmt::Display for CacheError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message cache: {}", self.0)
    }
}

fn err(e: impl std::fmt::Debug) -> CacheError {
    CacheError(format!("{e:?}"))
}

async fn db() -> Result<Rc<Rexie>, CacheError> {
    if let Some(db) = DB.with(|d| d.borrow().clone()) {
        return Ok(db);
    }
    let db = Rexie::builder(DB_NAME)
        .version(DB_VERSION)
        .add_object_store(ObjectStore::new(STORE).key_path("key"))
        .build()
        .await
        .map_err(err)?;
    let db = Rc::new(db);
    DB.with(|d| *d.borrow_mut() = Some(db.clone()));
    Ok(db)
}

fn to_js(m: &CachedMessage) -> Result<JsValue, CacheError> {
    let text = serde_json::to_string(m).map_err(err)?;
    js_sys::JSON::parse(&text).map_err(err)
}

fn from_js(v: JsValue) -> Option<ChatMessage> {
    let text: String = js_sys::JSON::stringify(&v).ok()?.into();
    serde_json::from_str::<CachedMessage>(&text).ok().map(|c| c.message)
}

/// The key range of one room's messages.
fn room_range(room: &str, before: Option<&str>) -> Result<KeyRange, CacheError> {
    let lower = JsValue::from_str(room);
    match before {
        Some(b) => KeyRange::bound(&lower, &JsValue::from_str(b), Some(false), Some(true)).map_err(err),
        None => KeyRange::bound(&lower, &JsValue::from_str(&format!("{room}~")), Some(false), Some(true)).map_err(err),
    }
}

/// Stores committed messages (those with a key); others are ignored.
pub async fn put_all(messages: &[ChatMessage]) -> Result<(), CacheError> {
    let items: Vec<CachedMessage> =
        messages.iter().filter_map(|m| m.key.clone().map(|key| CachedMessage { key, message: m.clone() })).collect();
    if items.is_empty() {
        return Ok(());
    }
    let db = db().await?;
    let tx = db.transaction(&[STORE], TransactionMode::ReadWrite).map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    for item in &items {
        store.put(&to_js(item)?, None).await.map_err(err)?;
    }
    tx.done().await.map_err(err)?;
    Ok(())
}

/// Up to `limit` messages of `room` older than `before` (or the newest), oldest first.
pub async fn page(room: &str, before: Option<&str>, limit: u32) -> Result<Vec<ChatMessage>, CacheError> {
    let db = db().await?;
    let tx = db.transaction(&[STORE], TransactionMode::ReadOnly).map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let rows =
        store.scan(Some(room_range(room, before)?), Some(limit), None, Some(Direction::Prev)).await.map_err(err)?;
    let mut out: Vec<ChatMessage> = rows.into_iter().filter_map(|(_, v)| from_js(v)).collect();
    out.reverse();
    Ok(out)
}

/// Messages of `room` whose text contains `query` (case-insensitive), newest first.
pub async fn search(room: &str, query: &str, limit: usize) -> Result<Vec<ChatMessage>, CacheError> {
    let needle = query.trim().to_lowercase();
    if needle.is_empty() {
        return Ok(Vec::new());
    }
    let db = db().await?;
    let tx = db.transaction(&[STORE], TransactionMode::ReadOnly).map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let rows = store.scan(Some(room_range(room, None)?), None, None, Some(Direction::Prev)).await.map_err(err)?;
    Ok(rows
        .into_iter()
        .filter_map(|(_, v)| from_js(v))
        // Edits, deletes and reactions are not messages of their own.
        .filter(|m| m.action.is_none())
        .filter(|m| m.summary().to_lowercase().contains(&needle) || m.alias.to_lowercase().contains(&needle))
        .take(limit)
        .collect())
}

/// Deletes a room's cached messages.
pub async fn forget(room: &str) -> Result<(), CacheError> {
    let db = db().await?;
    let tx = db.transaction(&[STORE], TransactionMode::ReadWrite).map_err(err)?;
    let store = tx.store(STORE).map_err(err)?;
    let keys = store.get_all_keys(Some(room_range(room, None)?), None).await.map_err(err)?;
    for key in keys {
        store.delete(key).await.map_err(err)?;
    }
    tx.done().await.map_err(err)?;
    Ok(())
}

/// Deletes every cached message of every room ("Remove this device's data").
pub async fn clear_all() -> Result<(), CacheError> {
    let db = db().await?;
    let tx = db.transaction(&[STORE], TransactionMode::ReadWrite).map_err(err)?;
    tx.store(STORE).map_err(err)?.clear().await.map_err(err)?;
    tx.done().await.map_err(err)?;
    Ok(())
}
