//! The benchmark's network: delivers each delayed in-process LP answer at
//! its due moment from a thread of its own, as a socket's readiness
//! reaches tokio from outside the workers. tokio's timer cannot stand in
//! for it: it fires on whole-millisecond ticks, rounded up, so a 5 ms
//! delay on it lands 5–7 ms later and "answer ready → session acted"
//! would measure the timer's rounding, which a network LP's answer never
//! has (measured: p50 1.2 ms with only 10 streams on an idle machine).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::task::AtomicWaker;

use crate::rfq::probe::LatencyHistogram;

/// One answer on its way: when it is due, and where its arrival lands.
struct Parcel {
    due: Instant,
    slot: Arc<Slot>,
}

impl PartialEq for Parcel {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Parcel {}
impl PartialOrd for Parcel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Parcel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.due.cmp(&other.due)
    }
}

/// Where one answer's arrival is noted and its waiting session woken.
#[derive(Default)]
struct Slot {
    arrived: OnceLock<Instant>,
    waker: AtomicWaker,
}

struct Shared {
    queue: Mutex<BinaryHeap<Reverse<Parcel>>>,
    /// Signalled when a parcel due sooner than all others is posted, or
    /// when the wire closes.
    changed: Condvar,
    closed: AtomicBool,
    /// How late each answer was delivered past its due moment.
    late: LatencyHistogram,
}

/// The wire's handle: closing it (or dropping it) stops its thread.
pub struct Wire {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What an LP posts answers through.
#[derive(Clone)]
pub struct WireEnd {
    shared: Arc<Shared>,
}

impl Wire {
    pub fn start() -> Wire {
        let shared = Arc::new(Shared {
            queue: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
            closed: AtomicBool::new(false),
            late: LatencyHistogram::new(),
        });
        let thread = std::thread::Builder::new()
            .name("bench-wire".into())
            .spawn({
                let shared = shared.clone();
                move || deliver(&shared)
            })
            .expect("the bench cannot start its wire thread");
        Wire {
            shared,
            thread: Some(thread),
        }
    }

    /// How late answers were delivered past their due moment (this
    /// thread's own scheduling on a busy machine).
    pub fn late(&self) -> &LatencyHistogram {
        &self.shared.late
    }

    pub fn end(&self) -> WireEnd {
        WireEnd {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
        // Taken under the lock so the thread cannot miss the signal
        // between its check and its wait.
        drop(self.shared.queue.lock().unwrap_or_else(|p| p.into_inner()));
        self.shared.changed.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl WireEnd {
    /// An answer that arrives at `due`: the future completes with the
    /// moment the wire delivered it (its "ready" mark). Dropped early (the
    /// request timed out), its parcel is delivered to nobody.
    pub fn arrival(&self, due: Instant) -> Arrival {
        let slot = Arc::new(Slot::default());
        let mut queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        let soonest = queue.peek().is_none_or(|Reverse(top)| due < top.due);
        queue.push(Reverse(Parcel {
            due,
            slot: slot.clone(),
        }));
        drop(queue);
        if soonest {
            self.shared.changed.notify_one();
        }
        Arrival { slot }
    }
}

/// An answer in transit (see [`WireEnd::arrival`]).
pub struct Arrival {
    slot: Arc<Slot>,
}

impl Future for Arrival {
    type Output = Instant;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Instant> {
        if let Some(at) = self.slot.arrived.get() {
            return Poll::Ready(*at);
        }
        self.slot.waker.register(cx.waker());
        // Checked again: it may have arrived while the waker was stored.
        match self.slot.arrived.get() {
            Some(at) => Poll::Ready(*at),
            None => Poll::Pending,
        }
    }
}

/// The wire's thread: sleeps until the soonest parcel is due, then
/// delivers every parcel due by then, outside the lock.
fn deliver(shared: &Shared) {
    let mut due_now = Vec::new();
    let mut queue = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if shared.closed.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        while queue.peek().is_some_and(|Reverse(top)| top.due <= now) {
            if let Some(Reverse(parcel)) = queue.pop() {
                due_now.push(parcel);
            }
        }
        if !due_now.is_empty() {
            drop(queue);
            for parcel in due_now.drain(..) {
                // The arrival is the moment the answer reached the
                // process, not the moment it was due.
                let arrived = Instant::now();
                shared
                    .late
                    .record(arrived.saturating_duration_since(parcel.due));
                let _ = parcel.slot.arrived.set(arrived);
                parcel.slot.waker.wake();
            }
            queue = shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            continue;
        }
        queue = match queue.peek() {
            Some(Reverse(top)) => {
                let wait = top.due.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(queue, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => shared
                .changed
                .wait(queue)
                .unwrap_or_else(|p| p.into_inner()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn answers_arrive_in_due_order_no_earlier_than_due() {
        let wire = Wire::start();
        let end = wire.end();
        let start = Instant::now();
        let late = end.arrival(start + Duration::from_millis(20));
        let soon = end.arrival(start + Duration::from_millis(5));
        let soon_at = soon.await;
        let late_at = late.await;
        assert!(soon_at >= start + Duration::from_millis(5));
        assert!(late_at >= start + Duration::from_millis(20));
        assert!(soon_at < late_at);
    }

    #[tokio::test]
    async fn a_dropped_arrival_is_delivered_to_nobody_and_the_wire_closes() {
        let wire = Wire::start();
        let end = wire.end();
        drop(end.arrival(Instant::now() + Duration::from_millis(1)));
        let due = Instant::now() + Duration::from_millis(2);
        let kept = end.arrival(due).await;
        assert!(kept >= due);
        // Both were delivered (the dropped one to nobody), each counted
        // with how late it was.
        assert_eq!(wire.late().count(), 2);
        // Closing stops the thread even with answers still on the way.
        drop(end.arrival(Instant::now() + Duration::from_secs(3600)));
        let (closed, is_closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(wire);
            let _ = closed.send(());
        });
        assert!(is_closed.recv_timeout(Duration::from_secs(10)).is_ok());
    }
}
