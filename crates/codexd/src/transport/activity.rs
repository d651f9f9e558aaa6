//! What a connection is doing: when it last moved a message and how many calls and
//! subscriptions are in flight. Shared by the connection's reader (idle timeout), its
//! writer and every call in flight, so it sits below all three.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What a connection is doing, shared by its reader, writer and in-flight calls.
pub(super) struct Activity {
    /// When the connection was opened.
    epoch: Instant,
    /// Milliseconds since `epoch` of the last message in either direction.
    last_ms: AtomicU64,
    /// Calls and subscriptions in flight.
    pub(super) in_flight: AtomicUsize,
}

impl Activity {
    /// A connection opened now, with nothing in flight; shared, as the writer and every
    /// call in flight hold it too.
    pub(super) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// Records a message now.
    pub(super) fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the connection becomes idle-closable if nothing happens before.
    pub(super) fn idle_deadline(&self, idle: Duration) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }

    /// Marks a call or subscription as in flight until the guard is dropped.
    pub(super) fn busy(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(self.clone())
    }
}

/// A call or subscription in flight (see [`Activity::busy`]).
pub(super) struct Busy(Arc<Activity>);

impl Drop for Busy {
    /// Ends the mark, and counts as activity: the idle timeout runs from when the last call
    /// was answered, not from the request that started it.
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}
