//! Single-flight: concurrent identical requests share one upstream call. The call is a shared
//! future that every waiter polls, so a waiter that gives up (its deadline passed, its client
//! went away) does not cancel it for the others; when the last waiter leaves, the call is
//! dropped (cancelled). It runs in the waiters' own tasks: no task is spawned per call, and no
//! hand-over to another worker thread lies on the path of an uncached verdict (BENCHMARKS.md).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use tokio::time::Instant;
use tracing::Instrument as _;

/// The flights in progress, by key.
#[derive(Debug)]
pub struct SingleFlight<K, V> {
    map: Mutex<HashMap<K, Entry<V>>>,
    next_id: AtomicU64,
}

struct Entry<V> {
    id: u64,
    deadline: Instant,
    future: Shared<BoxFuture<'static, Option<V>>>,
    waiters: usize,
}

impl<V> std::fmt::Debug for Entry<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("id", &self.id)
            .field("waiters", &self.waiters)
            .finish_non_exhaustive()
    }
}

/// What a waiter got.
#[derive(Debug)]
pub struct Joined<V> {
    /// The flight's result; `None` if the call panicked.
    pub value: Option<V>,
    /// Whether this waiter started the flight.
    pub leader: bool,
    /// The deadline the flight ran under (the leader's).
    pub deadline: Instant,
}

impl<K, V> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }
}

impl<K, V> SingleFlight<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn lock(&self) -> MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the flight for `key`, or starts one with `make(deadline)` if none is in progress.
    pub async fn join<F, Fut>(self: &Arc<Self>, key: K, deadline: Instant, make: F) -> Joined<V>
    where
        F: FnOnce(Instant) -> Fut,
        Fut: Future<Output = V> + Send + 'static,
    {
        let (future, id, flight_deadline, leader) = {
            let mut map = self.lock();
            if let Some(entry) = map.get_mut(&key) {
                entry.waiters += 1;
                (entry.future.clone(), entry.id, entry.deadline, false)
            } else {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                let this = Arc::clone(self);
                let done_key = key.clone();
                // Boxed first: the call's future is large (≈ 11 KB with the transport's), and
                // every wrapper below would otherwise copy it (callgrind: 22k instructions per
                // uncached call in `memcpy`); wrapping the box copies a pointer.
                let work = Box::pin(make(deadline));
                // The call runs in the leader's span, so its upstream spans are children of the
                // leader's RPC span, whichever waiter polls it. A panic in it is the waiters'
                // `None`, not a panic in every waiter.
                let future = async move {
                    let value = std::panic::AssertUnwindSafe(work).catch_unwind().await.ok();
                    this.finish(&done_key, id);
                    value
                }
                .instrument(tracing::Span::current())
                .boxed()
                .shared();
                map.insert(
                    key.clone(),
                    Entry {
                        id,
                        deadline,
                        future: future.clone(),
                        waiters: 1,
                    },
                );
                (future, id, deadline, true)
            }
        };
        let _guard = Waiter {
            flights: self,
            key,
            id,
        };
        let value = future.await;
        Joined {
            value,
            leader,
            deadline: flight_deadline,
        }
    }

    fn finish(&self, key: &K, id: u64) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|e| e.id == id) {
            map.remove(key);
        }
    }

    /// Flights in progress.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }
}

/// Leaves the flight on drop; the last waiter to leave an unfinished flight removes it, which
/// drops the call (the waiter's own clone of the future goes right after).
struct Waiter<'a, K: Hash + Eq + Clone + Send + Sync + 'static, V: Clone + Send + Sync + 'static> {
    flights: &'a Arc<SingleFlight<K, V>>,
    key: K,
    id: u64,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static, V: Clone + Send + Sync + 'static> Drop
    for Waiter<'_, K, V>
{
    fn drop(&mut self) {
        let mut map = self.flights.lock();
        let last = match map.get_mut(&self.key) {
            Some(entry) if entry.id == self.id => {
                entry.waiters -= 1;
                entry.waiters == 0
            }
            _ => false,
        };
        if last {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_waiters_share_one_call() {
        let flights = Arc::new(SingleFlight::<&str, u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let deadline = Instant::now() + Duration::from_secs(5);
        let (release, released) = tokio::sync::watch::channel(false);
        let mut handles = Vec::new();
        for _ in 0..16 {
            let flights = Arc::clone(&flights);
            let calls = Arc::clone(&calls);
            let mut released = released.clone();
            handles.push(tokio::spawn(async move {
                flights
                    .join("k", deadline, |_| async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        released.wait_for(|r| *r).await.ok();
                        7
                    })
                    .await
            }));
        }
        until_waiters(&flights, 16).await;
        release.send(true).unwrap();
        let mut leaders = 0;
        for h in handles {
            let joined = h.await.unwrap();
            assert_eq!(joined.value, Some(7));
            leaders += usize::from(joined.leader);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
        assert_eq!(flights.in_flight(), 0);
    }

    async fn until_waiters(flights: &SingleFlight<&'static str, u32>, n: usize) {
        while flights.lock().get("k").map_or(0, |e| e.waiters) != n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_waiter_giving_up_does_not_cancel_the_others() {
        let flights = Arc::new(SingleFlight::<&str, u32>::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let impatient = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                flights
                    .join("k", deadline, |_| async move {
                        released.await.ok();
                        1
                    })
                    .await
            })
        };
        until_waiters(&flights, 1).await;
        let patient = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move { flights.join("k", deadline, |_| async { 2 }).await })
        };
        until_waiters(&flights, 2).await;
        impatient.abort();
        until_waiters(&flights, 1).await;
        release.send(()).unwrap();
        let patient = patient.await.unwrap();
        assert_eq!(patient.value, Some(1));
        assert!(!patient.leader);
    }

    #[tokio::test]
    async fn the_last_waiter_leaving_aborts_the_call() {
        let flights = Arc::new(SingleFlight::<&str, u32>::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        let (dropped_tx, dropped_rx) = tokio::sync::oneshot::channel::<()>();
        // Dropped (with the aborted task's future) or sent on completion: either way we learn.
        struct OnDrop(Option<tokio::sync::oneshot::Sender<()>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                if let Some(tx) = self.0.take() {
                    tx.send(()).ok();
                }
            }
        }
        let waiter = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                flights
                    .join("k", deadline, move |_| async move {
                        let _guard = OnDrop(Some(dropped_tx));
                        std::future::pending::<()>().await;
                        1
                    })
                    .await
            })
        };
        until_waiters(&flights, 1).await;
        waiter.abort();
        // The call's future is dropped: it was aborted, not left running.
        dropped_rx.await.unwrap();
        assert_eq!(flights.in_flight(), 0);
    }

    #[tokio::test]
    async fn a_panicking_call_is_none_for_every_waiter_and_leaves_no_flight() {
        let flights = Arc::new(SingleFlight::<&str, u32>::default());
        let deadline = Instant::now() + Duration::from_secs(5);
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let leader = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                flights
                    .join("k", deadline, |_| async move {
                        released.await.ok();
                        panic!("the call panicked");
                    })
                    .await
            })
        };
        until_waiters(&flights, 1).await;
        let follower = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move { flights.join("k", deadline, |_| async { 2 }).await })
        };
        until_waiters(&flights, 2).await;
        release.send(()).unwrap();
        assert_eq!(leader.await.unwrap().value, None);
        assert_eq!(follower.await.unwrap().value, None);
        assert_eq!(flights.in_flight(), 0);
    }
}
