//! KV_local: the room's strongly consistent, transactional key-value store.
//!
//! The only query besides get is a prefix listing (ordered by key bytes, forwards or
//! backwards, with an exclusive cursor and a limit). Writes go in atomic batches. No value
//! may exceed [`protocol::limits::KV_LOCAL_MAX_VALUE_BYTES`] (32 KiB, the design's floor):
//! [`WriteBatch::put`] refuses larger values, and implementations check again.

use protocol::limits::KV_LOCAL_MAX_VALUE_BYTES;
use std::collections::BTreeMap;
use std::ops::Bound;

/// A storage failure. Nothing of the failed operation is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("value of {size} bytes under key {key:?} exceeds the {limit}-byte limit")]
    ValueTooLarge { key: String, size: usize, limit: usize },
    #[error("storage backend failed: {0}")]
    Backend(String),
}

/// A prefix listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub prefix: String,
    /// Exclusive cursor: forwards lists keys after it, backwards keys before it.
    pub cursor: Option<String>,
    pub reverse: bool,
    pub limit: usize,
}

impl ListQuery {
    /// Oldest-first listing of `prefix`.
    pub fn forwards(prefix: impl Into<String>, limit: usize) -> Self {
        Self { prefix: prefix.into(), cursor: None, reverse: false, limit }
    }

    /// Newest-first listing of `prefix`.
    pub fn backwards(prefix: impl Into<String>, limit: usize) -> Self {
        Self { prefix: prefix.into(), cursor: None, reverse: true, limit }
    }

    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One write of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    Put(String, Vec<u8>),
    Delete(String),
}

/// Writes applied together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// Stages a put, refusing values above the 32 KiB floor.
    pub fn put(&mut self, key: impl Into<String>, value: Vec<u8>) -> Result<(), StorageError> {
        let key = key.into();
        check_value_size(&key, value.len())?;
        self.ops.push(WriteOp::Put(key, value));
        Ok(())
    }

    pub fn delete(&mut self, key: impl Into<String>) {
        self.ops.push(WriteOp::Delete(key.into()));
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }

    pub fn into_ops(self) -> Vec<WriteOp> {
        self.ops
    }

    /// Drops the writes staged after the first `len` (undoing a failed operation).
    pub fn truncate(&mut self, len: usize) {
        self.ops.truncate(len);
    }

    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }
}

/// Refuses values larger than KV_local allows.
pub fn check_value_size(key: &str, size: usize) -> Result<(), StorageError> {
    if size > KV_LOCAL_MAX_VALUE_BYTES {
        return Err(StorageError::ValueTooLarge { key: key.to_owned(), size, limit: KV_LOCAL_MAX_VALUE_BYTES });
    }
    Ok(())
}

/// The smallest string greater than every string starting with `prefix`, if any: the
/// exclusive upper bound an SQL adapter puts on a prefix listing (`key >= prefix AND key
/// < bound`), so the listing uses the key index. Keys are ASCII (see [`crate::schema`]).
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0x7f {
            bytes.push(last + 1);
            return String::from_utf8(bytes).ok();
        }
    }
    None
}

/// The KV_local interface a room runs on.
pub trait KvStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    fn list(&self, query: &ListQuery) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// Applies every write of `batch` atomically and durably, or none of them.
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError>;
}

/// Every entry under `prefix`, oldest key first, read in pages.
pub fn list_all(store: &dyn KvStore, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
    const PAGE: usize = 1000;
    let mut out = Vec::new();
    loop {
        let mut query = ListQuery::forwards(prefix, PAGE);
        query.cursor = out.last().map(|(k, _): &(String, Vec<u8>)| k.clone());
        let page = store.list(&query)?;
        let full = page.len() == PAGE;
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// An in-memory [`KvStore`] for unit tests of the room logic.
#[derive(Debug, Default, Clone)]
pub struct MemoryKv {
    map: BTreeMap<String, Vec<u8>>,
    /// When set, the next commit fails (to test failure handling).
    pub fail_next_commit: bool,
}

impl MemoryKv {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }
}

impl KvStore for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map.get(key).cloned())
    }

    fn list(&self, query: &ListQuery) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let prefix = query.prefix.clone();
        let in_prefix = |(k, _): &(&String, &Vec<u8>)| k.starts_with(&prefix);
        let pair = |(k, v): (&String, &Vec<u8>)| (k.clone(), v.clone());
        Ok(if query.reverse {
            let upper = match &query.cursor {
                Some(c) if *c <= prefix => return Ok(Vec::new()),
                Some(c) => Bound::Excluded(c.clone()),
                None => Bound::Unbounded,
            };
            self.map
                .range((Bound::Included(prefix.clone()), upper))
                .rev()
                .filter(in_prefix)
                .take(query.limit)
                .map(pair)
                .collect()
        } else {
            let lower = match &query.cursor {
                Some(c) if *c >= prefix => Bound::Excluded(c.clone()),
                _ => Bound::Included(prefix.clone()),
            };
            self.map
                .range((lower, Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(&prefix))
                .take(query.limit)
                .map(pair)
                .collect()
        })
    }

    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        if std::mem::take(&mut self.fail_next_commit) {
            return Err(StorageError::Backend("injected failure".into()));
        }
        for op in batch.ops.iter() {
            if let WriteOp::Put(k, v) = op {
                check_value_size(k, v.len())?;
            }
        }
        for op in batch.into_ops() {
            match op {
                WriteOp::Put(k, v) => {
                    self.map.insert(k, v);
                }
                WriteOp::Delete(k) => {
                    self.map.remove(&k);
                }
            }
        }
        Ok(())
    }
}

/// Behaviour every [`KvStore`] must show; the SQLite store's tests run it too.
pub mod conformance {
    use super::*;

    /// Runs the shared KV_local checks against a fresh, empty store.
    pub fn check_store(store: &mut dyn KvStore) {
        let mut b = WriteBatch::default();
        for k in ["a/1", "a/2", "a/3", "b/1", "a", "a/20"] {
            b.put(k, k.as_bytes().to_vec()).unwrap();
        }
        store.commit(b).unwrap();
        let keys = |q: ListQuery, s: &dyn KvStore| s.list(&q).unwrap().into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keys(ListQuery::forwards("a/", 10), store), ["a/1", "a/2", "a/20", "a/3"]);
        assert_eq!(keys(ListQuery::backwards("a/", 2), store), ["a/3", "a/20"]);
        assert_eq!(keys(ListQuery::backwards("a/", 10).after("a/20"), store), ["a/2", "a/1"]);
        assert_eq!(keys(ListQuery::forwards("a/", 10).after("a/2"), store), ["a/20", "a/3"]);
        assert_eq!(keys(ListQuery::forwards("a/", 10).after("a/3"), store), Vec::<String>::new());
        assert_eq!(keys(ListQuery::forwards("c", 10), store), Vec::<String>::new());
        assert_eq!(keys(ListQuery::backwards("b/", 10).after("a/9"), store), Vec::<String>::new());
        assert_eq!(keys(ListQuery::forwards("b/", 10).after("a/9"), store), ["b/1"]);
        assert_eq!(store.get("b/1").unwrap(), Some(b"b/1".to_vec()));
        assert_eq!(store.get("zz").unwrap(), None);
        // A batch with one oversize value is refused and applies nothing.
        let mut bad = WriteBatch::default();
        bad.put("c/1", vec![1]).unwrap();
        assert!(matches!(
            bad.put("c/2", vec![0; KV_LOCAL_MAX_VALUE_BYTES + 1]),
            Err(StorageError::ValueTooLarge { .. })
        ));
        let mut at_limit = WriteBatch::default();
        at_limit.put("c/3", vec![7; KV_LOCAL_MAX_VALUE_BYTES]).unwrap();
        at_limit.delete("a");
        store.commit(at_limit).unwrap();
        assert_eq!(store.get("c/3").unwrap().map(|v| v.len()), Some(KV_LOCAL_MAX_VALUE_BYTES));
        assert_eq!(store.get("a").unwrap(), None);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_upper_bounds() {
        use super::prefix_upper_bound;
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a~").as_deref(), Some("a\u{7f}"));
        assert_eq!(prefix_upper_bound(""), None);
    }

    use super::*;

    #[test]
    fn memory_store_conforms() {
        conformance::check_store(&mut MemoryKv::default());
    }
}
