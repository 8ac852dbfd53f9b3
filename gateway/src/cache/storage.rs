//! A bounded in-memory [`Storage`]: complete responses only (a fill that
//! does not finish is dropped, so a body cut short is never stored or
//! served), every entry weighed with its headers, key and a fixed
//! overhead, and evictions chosen by Pingora's LRU manager.

use super::metrics::CACHE_METRICS;
use bytes::{Bytes, BytesMut};
use pingora::cache::eviction::{CacheEntryKey, EvictionManager};
use pingora::cache::key::{CacheHashKey, CompactCacheKey, HashBinary};
use pingora::cache::storage::{
    HandleHit, HandleMiss, MissFinishType, PurgeOutcome, PurgeTarget, PurgeType,
};
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheKey, CacheMeta, HitHandler, MissHandler, Storage};
use pingora::{Error, ErrorType, Result};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Bytes counted per entry beyond its body, headers and key: the map slot,
/// the 16-byte key hash, the `Arc` and the LRU node (measured sizes rounded
/// up; see CACHING.md).
pub(crate) const ENTRY_OVERHEAD: usize = 256;

/// One stored response.
struct Entry {
    meta: (Vec<u8>, Vec<u8>),
    body: Bytes,
    /// The primary key bytes (host and path are read back for purges).
    primary: Vec<u8>,
    compact: CompactCacheKey,
    weight: usize,
}

/// The gateway's response store.
pub(crate) struct MemoryStorage {
    entries: RwLock<HashMap<HashBinary, Arc<Entry>>>,
    max_object_bytes: usize,
}

impl MemoryStorage {
    /// An empty store refusing bodies over `max_object_bytes`.
    pub(crate) fn new(max_object_bytes: usize) -> Self {
        MemoryStorage {
            entries: RwLock::new(HashMap::new()),
            max_object_bytes,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<HashBinary, Arc<Entry>>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<HashBinary, Arc<Entry>>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Stored entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether nothing is stored.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes accounted to stored entries.
    #[cfg(test)]
    pub(crate) fn weight(&self) -> usize {
        self.read().values().map(|e| e.weight).sum()
    }

    fn insert(&self, hash: HashBinary, entry: Entry) {
        let added = entry.weight;
        let old = self.write().insert(hash, Arc::new(entry));
        CACHE_METRICS.bytes.add(added as i64);
        if let Some(old) = old {
            CACHE_METRICS.bytes.sub(old.weight as i64);
        }
    }

    fn remove(&self, hash: &HashBinary) -> Option<Arc<Entry>> {
        let removed = self.write().remove(hash);
        if let Some(e) = &removed {
            CACHE_METRICS.bytes.sub(e.weight as i64);
        }
        removed
    }

    /// Removes every entry (all variants) whose host and path-and-query
    /// satisfy `select`, and forgets them in `eviction`. Returns how many.
    pub(crate) fn purge_matching(
        &self,
        eviction: &(dyn EvictionManager + Sync),
        select: impl Fn(&[u8], &[u8]) -> bool,
    ) -> usize {
        let removed: Vec<Arc<Entry>> = {
            let mut map = self.write();
            let keys: Vec<HashBinary> = map
                .iter()
                .filter(|(_, e)| {
                    super::key::decode_location(&e.primary).is_some_and(|(h, p)| select(h, p))
                })
                .map(|(k, _)| *k)
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        for e in &removed {
            CACHE_METRICS.bytes.sub(e.weight as i64);
            let entry = CacheEntryKey::key_only(e.compact.clone());
            eviction.remove((&entry).into());
        }
        removed.len()
    }
}

/// Reads a stored body, whole or a range of it.
struct Hit {
    body: Bytes,
    start: usize,
    end: usize,
    done: bool,
}

#[async_trait::async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        self.done = true;
        Ok(Some(self.body.slice(self.start..self.end)))
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        let len = self.body.len();
        let end = end.unwrap_or(len).min(len);
        if start >= len || start > end {
            return Error::e_explain(ErrorType::InternalError, "seek beyond the stored body");
        }
        self.start = start;
        self.end = end;
        self.done = false;
        Ok(())
    }

    fn get_eviction_weight(&self) -> usize {
        self.body.len()
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// Collects a response body; only [`HandleMiss::finish`] stores it.
struct Fill {
    storage: &'static MemoryStorage,
    hash: HashBinary,
    primary: Vec<u8>,
    compact: CompactCacheKey,
    meta: (Vec<u8>, Vec<u8>),
    body: BytesMut,
}

#[async_trait::async_trait]
impl HandleMiss for Fill {
    async fn write_body(&mut self, data: Bytes, eof: bool) -> Result<()> {
        if self.body.len() + data.len() > self.storage.max_object_bytes {
            return Error::e_explain(
                ErrorType::InternalError,
                "response body exceeds max_object_bytes",
            );
        }
        let _ = eof;
        self.body.extend_from_slice(&data);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        let fill = *self;
        let weight = ENTRY_OVERHEAD
            + fill.body.len()
            + fill.meta.0.len()
            + fill.meta.1.len()
            + fill.primary.len();
        let entry = Entry {
            meta: fill.meta,
            body: fill.body.freeze(),
            primary: fill.primary,
            compact: fill.compact,
            weight,
        };
        fill.storage.insert(fill.hash, entry);
        Ok(MissFinishType::Created(weight))
    }
}

fn hit(entry: &Entry) -> Result<(CacheMeta, HitHandler)> {
    let meta = CacheMeta::deserialize(&entry.meta.0, &entry.meta.1)?;
    let len = entry.body.len();
    let hit = Hit {
        body: entry.body.clone(),
        start: 0,
        end: len,
        done: false,
    };
    Ok((meta, Box::new(hit)))
}

#[async_trait::async_trait]
impl Storage for MemoryStorage {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let entry = self.read().get(&key.combined_bin()).cloned();
        entry.map(|e| hit(&e)).transpose()
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        Ok(Box::new(Fill {
            storage: self,
            hash: key.combined_bin(),
            primary: key.primary_key().to_vec(),
            compact: key.to_compact(),
            meta: meta.serialize()?,
            body: BytesMut::new(),
        }))
    }

    async fn purge(
        &'static self,
        target: PurgeTarget<'_>,
        purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        if matches!(target, PurgeTarget::Exact(CacheEntryKey::Identified { .. })) {
            // Entries here are identified by key only.
            return Ok(PurgeOutcome::NotFound);
        }
        match self.remove(&target.key().combined_bin()) {
            Some(_) => {
                if matches!(purge_type, PurgeType::Eviction) {
                    CACHE_METRICS.evictions.inc();
                }
                Ok(PurgeOutcome::Purged(None))
            }
            None => Ok(PurgeOutcome::NotFound),
        }
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let hash = key.combined_bin();
        let serialized = meta.serialize()?;
        let mut map = self.write();
        let Some(old) = map.get(&hash).cloned() else {
            return Ok(false);
        };
        let weight = old.weight - old.meta.0.len() - old.meta.1.len()
            + serialized.0.len()
            + serialized.1.len();
        let entry = Entry {
            meta: serialized,
            body: old.body.clone(),
            primary: old.primary.clone(),
            compact: old.compact.clone(),
            weight,
        };
        map.insert(hash, Arc::new(entry));
        drop(map);
        CACHE_METRICS.bytes.add(weight as i64 - old.weight as i64);
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::ResponseHeader;
    use std::time::{Duration, SystemTime};

    fn leaked(max_object: usize) -> &'static MemoryStorage {
        Box::leak(Box::new(MemoryStorage::new(max_object)))
    }

    fn meta() -> CacheMeta {
        let now = SystemTime::now();
        let header = ResponseHeader::build(200, None).unwrap();
        CacheMeta::new(now + Duration::from_secs(60), now, 0, 0, header)
    }

    fn key(path: &str) -> CacheKey {
        let req = pingora::http::RequestHeader::build("GET", path.as_bytes(), None).unwrap();
        super::super::key::cache_key(super::super::key::primary("http", "h", path, &req, &[]))
    }

    async fn read_all(mut h: HitHandler) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(b) = h.read_body().await.unwrap() {
            out.extend_from_slice(&b);
        }
        out
    }

    #[tokio::test]
    async fn a_fill_dropped_before_finish_stores_nothing() {
        let storage = leaked(1024);
        let span = pingora::cache::trace::Span::inactive().handle();
        let k = key("/a");
        let mut fill = storage.get_miss_handler(&k, &meta(), &span).await.unwrap();
        fill.write_body(Bytes::from_static(b"part"), false)
            .await
            .unwrap();
        drop(fill);
        assert!(storage.lookup(&k, &span).await.unwrap().is_none());
        assert!(storage.is_empty());
    }

    #[tokio::test]
    async fn a_finished_fill_is_served_whole_and_weighed() {
        let storage = leaked(1024);
        let span = pingora::cache::trace::Span::inactive().handle();
        let k = key("/a");
        let mut fill = storage.get_miss_handler(&k, &meta(), &span).await.unwrap();
        fill.write_body(Bytes::from_static(b"hello "), false)
            .await
            .unwrap();
        fill.write_body(Bytes::from_static(b"world"), true)
            .await
            .unwrap();
        let MissFinishType::Created(weight) = fill.finish().await.unwrap() else {
            panic!("expected a created entry");
        };
        assert!(weight >= ENTRY_OVERHEAD + 11);
        assert_eq!(storage.weight(), weight);
        let (_, h) = storage.lookup(&k, &span).await.unwrap().unwrap();
        assert_eq!(read_all(h).await, b"hello world");
    }

    #[tokio::test]
    async fn bodies_over_the_object_limit_are_refused() {
        let storage = leaked(4);
        let span = pingora::cache::trace::Span::inactive().handle();
        let mut fill = storage
            .get_miss_handler(&key("/big"), &meta(), &span)
            .await
            .unwrap();
        assert!(fill
            .write_body(Bytes::from_static(b"12345"), true)
            .await
            .is_err());
    }

    #[tokio::test]
    async fn purge_by_location_removes_every_matching_entry() {
        let storage = leaked(1024);
        let eviction = pingora::cache::eviction::lru::Manager::<1>::with_capacity(1 << 20, 16);
        let span = pingora::cache::trace::Span::inactive().handle();
        for p in ["/a/1", "/a/2", "/b"] {
            let fill = storage
                .get_miss_handler(&key(p), &meta(), &span)
                .await
                .unwrap();
            fill.finish().await.unwrap();
        }
        let n = storage.purge_matching(&eviction, |_, p| p.starts_with(b"/a/"));
        assert_eq!(n, 2);
        assert_eq!(storage.len(), 1);
    }
}
