//! The benchmark's network: delivers each delayed in-process LP answer at
//! its due moment, as a socket's readiness reaches tokio.
//!
//! On Linux a kernel timer (a timerfd in tokio's I/O driver) fires at the
//! soonest due moment and wakes a parked worker the way a socket's
//! readiness does; that worker hands the due answers to their sessions
//! on its own thread, as it would after reading a socket. Elsewhere a
//! thread of the wire's own sleeps until each due moment and wakes the
//! sessions from there (the design everywhere until the timerfd), which
//! adds a hop from that thread to a worker that a socket's answer does
//! not make. Either way an answer is "ready" at its due moment, when it
//! reaches the host: the timer's interrupt, a worker waking and the
//! session's turn all count in the bench's latency figures, as they would
//! for a socket; how late the hand-over itself was is kept apart too
//! ([`Wire::late`]).
//!
//! tokio's own timer cannot stand in for either: it fires on
//! whole-millisecond ticks, rounded up, so a 5 ms delay on it lands 5–7 ms
//! later and "answer ready -> session acted" would measure the timer's
//! rounding, which a network LP's answer never has.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Instant;

use futures::task::AtomicWaker;

use super::histogram::LatencyHistogram;

/// One answer (or other wake-up) on its way: when it is due, and where
/// its arrival lands.
struct Parcel {
    due: Instant,
    slot: Arc<Slot>,
    /// An LP's answer, whose lateness is counted in `late`.
    answer: bool,
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
    arrived: AtomicBool,
    waker: AtomicWaker,
}

/// The answers on their way, and the moment the alarm is set for.
struct Pending {
    parcels: BinaryHeap<Reverse<Parcel>>,
    /// The soonest parcel's due moment, once the alarm is set for it.
    armed: Option<Instant>,
    /// The wire is closing: its thread stops.
    #[cfg(not(target_os = "linux"))]
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    alarm: alarm::Alarm,
    /// How late each answer was delivered past its due moment.
    late: LatencyHistogram,
}

impl Shared {
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves every parcel due by now into `due_now` and sets the alarm
    /// for the next one.
    fn take_due(&self, pending: &mut Pending, due_now: &mut Vec<Parcel>) {
        let now = Instant::now();
        while let Some(Reverse(top)) = pending.parcels.peek() {
            if top.due > now {
                break;
            }
            if let Some(Reverse(parcel)) = pending.parcels.pop() {
                due_now.push(parcel);
            }
        }
        pending.armed = pending.parcels.peek().map(|Reverse(top)| top.due);
        if let Some(next) = pending.armed {
            self.alarm.set(next);
        }
    }

    /// Delivers the parcels taken (outside the lock).
    fn deliver(&self, due_now: &mut Vec<Parcel>) {
        for parcel in due_now.drain(..) {
            if parcel.answer {
                self.late.record(parcel.due.elapsed());
            }
            parcel.slot.arrived.store(true, Ordering::Release);
            parcel.slot.waker.wake();
        }
    }
}

/// The wire's handle: dropping it stops its delivery.
pub(crate) struct Wire {
    shared: Arc<Shared>,
    delivery: alarm::Delivery,
}

/// What an LP posts answers through.
#[derive(Clone)]
pub(crate) struct WireEnd {
    shared: Arc<Shared>,
}

impl Wire {
    /// Starts the wire (on Linux, on the current tokio runtime, which must
    /// have its I/O driver).
    pub(crate) fn start() -> Wire {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                parcels: BinaryHeap::new(),
                armed: None,
                #[cfg(not(target_os = "linux"))]
                closed: false,
            }),
            alarm: alarm::Alarm::new(),
            late: LatencyHistogram::new(),
        });
        let delivery = alarm::Delivery::start(shared.clone());
        Wire { shared, delivery }
    }

    /// How late answers were handed to their sessions past their due
    /// moment: the kernel timer's expiry reaching a worker and the
    /// delivery task running, as a socket's interrupt reaches a worker.
    /// Part of every "ready ->" figure, which starts at the due moment;
    /// reported apart to show how much of them it is.
    pub(crate) fn late(&self) -> &LatencyHistogram {
        &self.shared.late
    }

    pub(crate) fn end(&self) -> WireEnd {
        WireEnd {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Wire {
    fn drop(&mut self) {
        self.delivery.stop(&self.shared);
    }
}

impl WireEnd {
    /// An answer that reaches the host at `due` (its "ready" mark): the
    /// future completes once the wire has handed it over, which is never
    /// before `due`. Dropped early (the request timed out), its parcel is
    /// delivered to nobody.
    pub(crate) fn arrival(&self, due: Instant) -> Arrival {
        self.post(due, true)
    }

    /// Completes at `due` (never before), like an answer's arrival but
    /// not counted as one: the wire's timer for other moments the bench
    /// keeps precisely (its streams' starts).
    pub(crate) fn at(&self, due: Instant) -> Arrival {
        self.post(due, false)
    }

    fn post(&self, due: Instant, answer: bool) -> Arrival {
        let slot = Arc::new(Slot::default());
        let mut pending = self.shared.pending();
        pending.parcels.push(Reverse(Parcel {
            due,
            slot: slot.clone(),
            answer,
        }));
        // Set under the lock, so that the alarm is always set for the
        // soonest parcel.
        if pending.armed.is_none_or(|armed| due < armed) {
            pending.armed = Some(due);
            self.shared.alarm.set(due);
        }
        drop(pending);
        Arrival { slot }
    }
}

/// An answer in transit (see [`WireEnd::arrival`]).
pub(crate) struct Arrival {
    slot: Arc<Slot>,
}

impl Future for Arrival {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.slot.arrived.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.slot.waker.register(cx.waker());
        // Checked again: it may have arrived while the waker was stored.
        match self.slot.arrived.load(Ordering::Acquire) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}

/// Linux: a timerfd watched by tokio's I/O driver, and a task that
/// delivers what is due each time it fires.
#[cfg(target_os = "linux")]
mod alarm {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use rustix::fd::OwnedFd;
    use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    use super::Shared;

    pub(super) struct Alarm {
        timer: AsyncFd<OwnedFd>,
    }

    impl Alarm {
        // The crate denies `unsafe` but for the report's SQLite reader and
        // this registration, which tokio marks unsafe (see SAFETY below).
        #[allow(unsafe_code)]
        pub(super) fn new() -> Alarm {
            let timer = rustix::time::timerfd_create(
                TimerfdClockId::Monotonic,
                TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
            )
            .expect("the bench cannot create its wire's timer");
            // SAFETY: an `OwnedFd` is open, and names the same file, for
            // as long as it is owned, here by the `AsyncFd`.
            let timer = unsafe { AsyncFd::register_with_interest(timer, Interest::READABLE) }
                .map_err(std::io::Error::from)
                .expect("the bench cannot watch its wire's timer");
            Alarm { timer }
        }

        /// Fires at `due`, replacing any earlier setting (at once if `due`
        /// has passed: a zero expiry would disarm it instead).
        pub(super) fn set(&self, due: Instant) {
            let wait = due
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1));
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let at = Itimerspec {
                it_interval: zero,
                it_value: Timespec {
                    tv_sec: wait.as_secs() as _,
                    tv_nsec: wait.subsec_nanos() as _,
                },
            };
            rustix::time::timerfd_settime(self.timer.get_ref(), TimerfdTimerFlags::empty(), &at)
                .expect("a timerfd takes any relative expiry");
        }
    }

    pub(super) struct Delivery(tokio::task::JoinHandle<()>);

    impl Delivery {
        pub(super) fn start(shared: Arc<Shared>) -> Delivery {
            Delivery(tokio::spawn(deliver(shared)))
        }

        pub(super) fn stop(&mut self, _: &Shared) {
            self.0.abort();
        }
    }

    async fn deliver(shared: Arc<Shared>) {
        let mut due_now = Vec::new();
        loop {
            let Ok(mut fired) = shared.alarm.timer.readable().await else {
                return;
            };
            // Reading the expiry count resets the timer's readiness;
            // nothing to read means it was read already.
            let mut expiries = [0u8; 8];
            let _ = rustix::io::read(shared.alarm.timer.get_ref(), &mut expiries);
            fired.clear_ready();
            let mut pending = shared.pending();
            shared.take_due(&mut pending, &mut due_now);
            drop(pending);
            shared.deliver(&mut due_now);
        }
    }
}

/// Elsewhere: a thread of the wire's own that sleeps until the soonest
/// due moment.
#[cfg(not(target_os = "linux"))]
mod alarm {
    use std::sync::{Arc, Condvar};
    use std::time::Instant;

    use super::Shared;

    pub(super) struct Alarm {
        /// Signalled when a parcel due sooner than all others is posted,
        /// or when the wire closes.
        changed: Condvar,
    }

    impl Alarm {
        // The crate denies `unsafe` but for the report's SQLite reader and
        // this registration, which tokio marks unsafe (see SAFETY below).
        #[allow(unsafe_code)]
        pub(super) fn new() -> Alarm {
            Alarm {
                changed: Condvar::new(),
            }
        }

        /// Called under the pending lock, which the thread waits on.
        pub(super) fn set(&self, _due: Instant) {
            self.changed.notify_one();
        }
    }

    pub(super) struct Delivery(Option<std::thread::JoinHandle<()>>);

    impl Delivery {
        pub(super) fn start(shared: Arc<Shared>) -> Delivery {
            let thread = std::thread::Builder::new()
                .name("bench-wire".into())
                .spawn(move || deliver(&shared))
                .expect("the bench cannot start its wire thread");
            Delivery(Some(thread))
        }

        pub(super) fn stop(&mut self, shared: &Shared) {
            // Set under the lock, which the thread holds from its check
            // of `closed` until it waits: it cannot miss the signal.
            shared.pending().closed = true;
            shared.alarm.changed.notify_one();
            if let Some(thread) = self.0.take() {
                let _ = thread.join();
            }
        }
    }

    fn deliver(shared: &Shared) {
        let mut due_now = Vec::new();
        let mut pending = shared.pending();
        loop {
            if pending.closed {
                return;
            }
            shared.take_due(&mut pending, &mut due_now);
            if !due_now.is_empty() {
                drop(pending);
                shared.deliver(&mut due_now);
                pending = shared.pending();
                continue;
            }
            pending = match pending.armed {
                Some(next) => {
                    let wait = next.saturating_duration_since(Instant::now());
                    (shared.alarm.changed)
                        .wait_timeout(pending, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
                None => (shared.alarm.changed)
                    .wait(pending)
                    .unwrap_or_else(|p| p.into_inner()),
            };
        }
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
        let late_due = start + Duration::from_millis(20);
        let late = end.arrival(late_due);
        let soon_due = start + Duration::from_millis(5);
        end.arrival(soon_due).await;
        let soon_at = Instant::now();
        late.await;
        let late_at = Instant::now();
        assert!(soon_at >= soon_due);
        assert!(soon_at < late_due, "the alarm was not brought forward");
        assert!(late_at >= late_due);
        // Posted after the alarm was set for a later one, and due sooner:
        // it is handed over at its own moment, not with the later one.
        let later_due = Instant::now() + Duration::from_millis(30);
        let later = end.arrival(later_due);
        let sooner_due = Instant::now() + Duration::from_millis(3);
        end.arrival(sooner_due).await;
        let sooner_at = Instant::now();
        assert!(sooner_at >= sooner_due);
        assert!(sooner_at < later_due, "the alarm was not brought forward");
        later.await;
        assert!(Instant::now() >= later_due);
        // Four answers, each counted with how late it was.
        assert_eq!(wire.late().count(), 4);
    }

    #[tokio::test]
    async fn a_moment_kept_with_at_completes_on_time_and_is_not_counted_as_an_answer() {
        let wire = Wire::start();
        let due = Instant::now() + Duration::from_millis(2);
        wire.end().at(due).await;
        assert!(Instant::now() >= due);
        assert_eq!(wire.late().count(), 0);
    }

    #[tokio::test]
    async fn a_dropped_arrival_is_delivered_to_nobody_and_the_wire_closes() {
        let wire = Wire::start();
        let end = wire.end();
        drop(end.arrival(Instant::now() + Duration::from_millis(1)));
        let due = Instant::now() + Duration::from_millis(2);
        end.arrival(due).await;
        assert!(Instant::now() >= due);
        // Both were delivered (the dropped one to nobody), each counted
        // with how late it was.
        assert_eq!(wire.late().count(), 2);
        // Closing stops the delivery even with answers still on the way:
        // the thread (where there is one) is joined, and must not hang.
        drop(end.arrival(Instant::now() + Duration::from_secs(3600)));
        let (closed, is_closed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(wire);
            let _ = closed.send(());
        });
        assert!(is_closed.recv_timeout(Duration::from_secs(10)).is_ok());
    }
}
