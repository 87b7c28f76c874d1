//! Records read on every request (tokens: every authenticated request; an organization's
//! notifications, all of them as one entry, and settings: their routes, every event emitted and
//! every batch the workers handle; events: the fan-out, then the sender once per delivery), kept
//! in memory after their first read (an event emitted on this backend: from its commit). A
//! SQLite read costs little alone, but two threads reading at once share SQLite's process-wide
//! locks and each read then costs twice as much (BENCHMARKS.md).
//!
//! Coherent with the database because this process is its only writer (the data directory's
//! lock): a write that changes or removes a record drops it from here once committed and before
//! answering, so whoever the write answered reads the new record. A read that raced with the
//! write does not put the old record back: every drop moves a generation on, and a read keeps
//! what it read only if no drop happened since it began. Only records that exist are kept
//! (creating a record needs no drop, except where an entry is a list the new record joins).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::ports::store::StoreResult;

pub(crate) struct Cache<K, V> {
    records: Mutex<HashMap<K, Arc<V>>>,
    generation: AtomicU64,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> Cache<K, V> {
    /// A cache holding at most `capacity` records (emptied when full: the hot ones come back).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            records: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            capacity,
        }
    }

    /// The record `key`, from memory or else from `read` (kept if it exists).
    pub(crate) fn get(
        &self,
        key: &K,
        read: impl FnOnce() -> StoreResult<Option<V>>,
    ) -> StoreResult<Option<Arc<V>>> {
        if let Some(hit) = self.lock().get(key) {
            return Ok(Some(hit.clone()));
        }
        let began = self.generation.load(Ordering::Acquire);
        let Some(record) = read()? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        let mut records = self.lock();
        if self.generation.load(Ordering::Acquire) == began {
            if records.len() >= self.capacity {
                records.clear();
            }
            records.insert(key.clone(), record.clone());
        }
        Ok(Some(record))
    }

    /// Keeps `record`, just created and committed under `key` (nobody can hold an older one).
    pub(crate) fn put(&self, key: K, record: V) {
        let mut records = self.lock();
        if records.len() >= self.capacity {
            records.clear();
        }
        records.insert(key, Arc::new(record));
    }

    /// Drops the record `key`: a committed write changed or removed it.
    pub(crate) fn drop_key(&self, key: &K) {
        let mut records = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        records.remove(key);
    }

    /// Drops every record (a write removed many).
    pub(crate) fn clear(&self) {
        let mut records = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        records.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Arc<V>>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn a_read_is_kept_and_served_until_a_write_drops_it() {
        let cache: Cache<u32, String> = Cache::new(10);
        let reads = Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            Ok(Some(format!("v{}", reads.get())))
        };
        assert_eq!(cache.get(&1, read), Ok(Some(Arc::new("v1".to_owned()))));
        assert_eq!(cache.get(&1, read), Ok(Some(Arc::new("v1".to_owned()))));
        assert_eq!(reads.get(), 1, "the second get is served from memory");
        cache.drop_key(&1);
        assert_eq!(cache.get(&1, read), Ok(Some(Arc::new("v2".to_owned()))));
    }

    #[test]
    fn a_record_put_at_its_creation_is_served_without_a_read() {
        let cache: Cache<u32, String> = Cache::new(10);
        cache.put(1, "created".to_owned());
        assert_eq!(
            cache.get(&1, || panic!("read from the database")),
            Ok(Some(Arc::new("created".to_owned())))
        );
    }

    #[test]
    fn a_read_that_raced_with_a_write_does_not_put_the_old_record_back() {
        let cache: Cache<u32, String> = Cache::new(10);
        // The write commits and drops the key while the read is under way with the old record.
        let stale = cache.get(&1, || {
            cache.drop_key(&1);
            Ok(Some("old".to_owned()))
        });
        assert_eq!(stale, Ok(Some(Arc::new("old".to_owned()))));
        assert_eq!(
            cache.get(&1, || Ok(Some("new".to_owned()))),
            Ok(Some(Arc::new("new".to_owned()))),
            "the next read goes to the database"
        );
    }

    #[test]
    fn a_missing_record_is_not_kept_and_a_full_cache_starts_over() {
        let cache: Cache<u32, String> = Cache::new(2);
        assert_eq!(cache.get(&1, || Ok(None)), Ok(None));
        assert_eq!(
            cache.get(&1, || Ok(Some("created".to_owned()))),
            Ok(Some(Arc::new("created".to_owned())))
        );
        for k in 2..=3 {
            assert!(cache.get(&k, || Ok(Some(k.to_string()))).is_ok());
        }
        assert_eq!(
            cache.lock().len(),
            1,
            "emptied when full, then the new one kept"
        );
    }
}
