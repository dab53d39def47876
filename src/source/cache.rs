//! A bounded cache with a time to live, for terminal results. Entries are evicted oldest
//! first when the bound is reached and ignored once older than the TTL. Small on purpose: one
//! mutex, a hash map and an insertion-order queue; reads are O(1).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cache.
#[derive(Debug)]
pub struct TtlCache<K, V> {
    inner: Mutex<Inner<K, V>>,
    max_entries: usize,
    ttl: Duration,
}

#[derive(Debug)]
struct Inner<K, V> {
    map: HashMap<K, (Instant, u64, V)>,
    /// Insertion order: (key, generation). A key re-inserted later has a newer generation; the
    /// stale queue entry is skipped at eviction time.
    order: VecDeque<(K, u64)>,
    generation: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    /// A cache of at most `max_entries` entries, each valid for `ttl`. A zero bound disables
    /// caching.
    pub fn new(max_entries: usize, ttl: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                order: VecDeque::new(),
                generation: 0,
            }),
            max_entries,
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        // A panic while holding this lock cannot leave the map inconsistent in a way that
        // matters (worst case a stale queue entry): keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value for `key`, if present and younger than the TTL.
    pub fn get(&self, key: &K) -> Option<V> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &K, now: Instant) -> Option<V> {
        let mut inner = self.lock();
        match inner.map.get(key) {
            Some((inserted, _, value)) if now.duration_since(*inserted) < self.ttl => {
                Some(value.clone())
            }
            Some(_) => {
                inner.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Inserts or replaces `key`.
    pub fn insert(&self, key: K, value: V) {
        self.insert_at(key, value, Instant::now());
    }

    fn insert_at(&self, key: K, value: V, now: Instant) {
        if self.max_entries == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        let generation = inner.generation;
        inner.map.insert(key.clone(), (now, generation, value));
        inner.order.push_back((key, generation));
        while inner.map.len() > self.max_entries {
            let Some((old, old_generation)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .map
                .get(&old)
                .is_some_and(|(_, g, _)| *g == old_generation)
            {
                inner.map.remove(&old);
            }
        }
        // Keep the queue from growing without bound when the same keys are re-inserted.
        if inner.order.len() > self.max_entries.saturating_mul(2).max(16) {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(k, g)| map.get(k).is_some_and(|(_, current, _)| current == g));
        }
    }

    /// Removes `key`.
    pub fn remove(&self, key: &K) {
        self.lock().map.remove(key);
    }

    /// Entries currently held (including expired ones not yet read).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_oldest_first() {
        let cache = TtlCache::new(2, Duration::from_secs(60));
        cache.insert("a", 1);
        cache.insert("b", 2);
        cache.insert("c", 3);
        assert_eq!(cache.get(&"a"), None);
        assert_eq!(cache.get(&"b"), Some(2));
        assert_eq!(cache.get(&"c"), Some(3));
        // Re-inserting refreshes a key's position.
        cache.insert("b", 20);
        cache.insert("d", 4);
        assert_eq!(cache.get(&"c"), None);
        assert_eq!(cache.get(&"b"), Some(20));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn expires_after_ttl() {
        let cache = TtlCache::new(10, Duration::from_secs(5));
        let t0 = Instant::now();
        cache.insert_at("k", 1, t0);
        assert_eq!(cache.get_at(&"k", t0 + Duration::from_secs(4)), Some(1));
        assert_eq!(cache.get_at(&"k", t0 + Duration::from_secs(5)), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn zero_bound_disables() {
        let cache = TtlCache::new(0, Duration::from_secs(5));
        cache.insert("k", 1);
        assert_eq!(cache.get(&"k"), None);
    }

    #[test]
    fn queue_stays_bounded_under_reinsertion() {
        let cache = TtlCache::new(4, Duration::from_secs(60));
        for i in 0..10_000 {
            cache.insert(i % 3, i);
        }
        assert!(cache.lock().order.len() <= 16);
        assert_eq!(cache.len(), 3);
    }
}
