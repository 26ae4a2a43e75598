//! The desk's registry of live streams: who may attach to which RFQ. Any
//! number of subscribers attach to a live stream at any time; each first
//! gets a [`Snapshot`] of the stream so far, then every later event in
//! order, numbered per stream from 1 with no gap ([`Sequenced`]); any of
//! them can command the stream. Desk-wide facts (an LP's health, blotter
//! trouble, streams starting and ending) are pushed to whoever listens
//! ([`DeskEvent`]).
//!
//! The session stays the only owner of the RFQ's state. The registry sits
//! in its outlet ([`Fanout`]), inside the session's own task: each event is
//! numbered, folded into the snapshot and offered to every subscriber
//! without waiting, then handed to the primary consumer (console, prompt,
//! headless output) exactly as before. A subscriber whose bounded buffer
//! is full is dropped, with [`Detached::TooSlow`] as its reason, so no
//! subscriber can hold the stream, its primary consumer or the desk back.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{broadcast, mpsc};

use crate::blotter::BlotterSink;
use crate::clock::StreamClock;
use crate::lp::guarded::RecordedChange;
use crate::rfq::event::HealthState;
use crate::rfq::outlet::Outlet;
use crate::rfq::{EventKind, RfqEvent, StreamCommand};

/// Events a subscriber may fall behind by before it is dropped: a console
/// drains its channel every frame, and a 30 s stream polling every 100 ms
/// with 10 LPs makes about 3,000 events in all.
pub const SUBSCRIBER_BUFFER: usize = 1024;
/// Desk events a listener may fall behind by before it misses some (it is
/// told how many; the blotter's figures are cumulative, so the next one
/// still says everything).
const DESK_EVENT_BUFFER: usize = 256;

/// One event of a stream with its place in that stream: `seq` counts from 1
/// with no gap, the same for every subscriber. On the wire the event's own
/// fields sit beside `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequenced {
    pub seq: u64,
    #[serde(flatten)]
    pub event: RfqEvent,
}

/// What a late subscriber needs to draw a stream: for each thing a screen
/// shows, the latest event that set it (the request, each LP's last quote,
/// error and health, the client quote, the lock and its expiry, the
/// blotter's last trouble), and every execution event (one order per
/// attempt, so as many as there are LPs at most), in stream order. Replayed
/// into a view's reducer, it gives the view of the whole stream, except
/// for the history of what was replaced; its size depends on the number of
/// LPs, not on the length of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub rfq_id: Arc<str>,
    /// The last event the snapshot covers: the subscriber's first live
    /// event is `seq + 1`.
    pub seq: u64,
    /// Ascending by `seq`; numbers of replaced events are skipped.
    pub events: Vec<Sequenced>,
}

impl Snapshot {
    fn new(rfq_id: Arc<str>) -> Snapshot {
        Snapshot {
            rfq_id,
            seq: 0,
            events: Vec::new(),
        }
    }

    /// Takes `sequenced` in, dropping the event it replaces.
    fn keep(&mut self, sequenced: Sequenced) {
        self.seq = sequenced.seq;
        let slot = Slot::of(&sequenced.event.kind);
        if slot != Slot::Each {
            self.events
                .retain(|kept| Slot::of(&kept.event.kind) != slot);
        }
        self.events.push(sequenced);
    }
}

/// Which earlier event a new one makes obsolete in a [`Snapshot`].
#[derive(PartialEq)]
enum Slot<'a> {
    /// One per stream: the latest of this kind.
    Stream(&'static str),
    /// One per LP: the latest of this kind from this LP.
    Lp(&'static str, &'a str),
    /// Every one is kept (the execution's record).
    Each,
}

impl Slot<'_> {
    fn of(kind: &EventKind) -> Slot<'_> {
        match kind {
            EventKind::LpQuote(quote) => Slot::Lp("lp_quote", &quote.lp),
            EventKind::LpError(error) => Slot::Lp("lp_error", &error.lp),
            EventKind::LpHealth(health) => Slot::Lp("lp_health", &health.lp),
            EventKind::Unverified(unverified) => Slot::Lp("unverified", &unverified.lp),
            EventKind::Released(_)
            | EventKind::OrderSent(_)
            | EventKind::OrderRejected(_)
            | EventKind::Filled(_)
            | EventKind::ExecutionUnknown(_) => Slot::Each,
            EventKind::Started(_)
            | EventKind::ClientQuote(_)
            | EventKind::Locked(_)
            | EventKind::LockExpired(_)
            | EventKind::NotFilled(_)
            | EventKind::BlotterError(_)
            | EventKind::Ended(_) => Slot::Stream(kind.name()),
        }
    }
}

/// Why a subscription receives nothing more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "detached", rename_all = "snake_case")]
pub enum Detached {
    /// The stream ended: its `ended` event was the last one.
    Ended,
    /// The subscriber fell `buffer` events behind and was dropped at event
    /// `missed` (the first it did not get; everything before it was
    /// delivered).
    TooSlow { buffer: usize, missed: u64 },
    /// The stream's task stopped without an `ended` event (it failed).
    Failed,
}

impl std::fmt::Display for Detached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detached::Ended => f.write_str("the stream ended"),
            Detached::TooSlow { buffer, missed } => write!(
                f,
                "dropped for falling {buffer} events behind (first missed event: {missed})"
            ),
            Detached::Failed => f.write_str("the stream failed before it ended"),
        }
    }
}

/// A desk-wide fact, pushed to every listener as it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "desk_event", rename_all = "snake_case")]
pub enum DeskEvent {
    /// A stream started: it can be attached to.
    StreamStarted { rfq_id: Arc<str> },
    /// A stream left the registry (it ended, or its task failed).
    StreamEnded { rfq_id: Arc<str> },
    /// An LP's desk-wide health changed (once, whichever stream saw it).
    LpHealth(LpHealthChanged),
    /// The blotter failed more writes or lost more events: the record is
    /// incomplete.
    BlotterTrouble(BlotterTrouble),
}

/// An LP's health changed, desk-wide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LpHealthChanged {
    pub lp: Arc<str>,
    /// Wall-clock time, UTC ISO-8601 with milliseconds.
    pub at: String,
    pub state: HealthState,
    pub previous: HealthState,
    /// Until the LP is asked again (`rate_limited`, `down`), in ms.
    pub retry_in_ms: Option<u64>,
    /// The LP's smoothed last-look reject rate, percent.
    pub reject_rate: Decimal,
    pub reason: Option<Arc<str>>,
    /// Requests not sent for a rate limit since the previous change.
    pub throttled: u64,
}

impl From<&RecordedChange> for LpHealthChanged {
    fn from(recorded: &RecordedChange) -> LpHealthChanged {
        let change = &recorded.change;
        LpHealthChanged {
            lp: recorded.lp.clone(),
            at: crate::clock::iso_millis(recorded.at),
            state: change.state,
            previous: change.previous,
            retry_in_ms: change.retry_in_ms,
            reject_rate: change.reject_rate,
            reason: change.reason.clone(),
            throttled: change.throttled,
        }
    }
}

/// The blotter's trouble so far (cumulative since the desk opened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlotterTrouble {
    /// Commits that failed (their events are held and retried).
    pub failed_commits: u64,
    /// Events that will never be written.
    pub lost: u64,
    /// The first write problem, if the blotter named one.
    pub problem: Option<String>,
}

/// The registry; see the module docs. Cloning it shares it.
#[derive(Clone)]
pub struct StreamRegistry {
    inner: Arc<Registry>,
}

struct Registry {
    live: Mutex<HashMap<Arc<str>, Arc<LiveStream>>>,
    desk_events: broadcast::Sender<DeskEvent>,
    /// The blotter trouble (failed commits + lost events) already pushed.
    trouble_told: AtomicU64,
}

impl Default for StreamRegistry {
    fn default() -> StreamRegistry {
        StreamRegistry {
            inner: Arc::new(Registry {
                live: Mutex::new(HashMap::new()),
                desk_events: broadcast::channel(DESK_EVENT_BUFFER).0,
                trouble_told: AtomicU64::new(0),
            }),
        }
    }
}

impl StreamRegistry {
    /// The RFQ ids of the streams running now, in the order of their ids
    /// (the order they started in).
    pub fn live_streams(&self) -> Vec<Arc<str>> {
        let mut ids: Vec<Arc<str>> = self.inner.live().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Attaches to stream `rfq_id` with a buffer of [`SUBSCRIBER_BUFFER`]
    /// events; `None` when no such stream is running.
    pub fn attach(&self, rfq_id: &str) -> Option<Subscription> {
        self.attach_with_buffer(rfq_id, SUBSCRIBER_BUFFER)
    }

    /// [`StreamRegistry::attach`] with a buffer of `buffer` events (at
    /// least one): a subscriber that falls further behind is dropped.
    pub fn attach_with_buffer(&self, rfq_id: &str, buffer: usize) -> Option<Subscription> {
        let buffer = buffer.max(1);
        let live = self.inner.live().get(rfq_id).cloned()?;
        let (sender, events) = mpsc::channel(buffer);
        let detached = Arc::new(OnceLock::new());
        // Under the stream's lock: no event can pass between the snapshot
        // and the subscription, so nothing is missed or seen twice.
        let mut fan = live.fan();
        if fan.closed {
            return None;
        }
        fan.subscribers.push(Subscriber {
            events: sender,
            buffer,
            detached: detached.clone(),
        });
        Some(Subscription {
            snapshot: fan.snapshot.clone(),
            clock: live.clock,
            events,
            commands: live.commands.clone(),
            detached,
        })
    }

    /// Every desk event from now on.
    pub fn subscribe_desk(&self) -> broadcast::Receiver<DeskEvent> {
        self.inner.desk_events.subscribe()
    }

    /// Pushes `event` to every desk listener (none listening is fine).
    pub fn announce(&self, event: DeskEvent) {
        self.inner.announce(event);
    }

    /// Pushes the blotter's trouble if it has grown since last told (the
    /// streams' events look after each one; a stream that was refused has
    /// none).
    pub fn watch_blotter(&self, sink: &BlotterSink) {
        self.inner.watch_blotter(sink);
    }

    /// Registers stream `rfq_id` (commanded through `commands`, its
    /// record kept by `blotter`, if any) and gives the outlet that fans
    /// its events out before handing them to `next`. The stream leaves the
    /// registry with its `ended` event, or when the outlet is dropped.
    pub fn register<O: Outlet>(
        &self,
        rfq_id: Arc<str>,
        clock: StreamClock,
        commands: mpsc::Sender<StreamCommand>,
        blotter: Option<BlotterSink>,
        next: O,
    ) -> Fanout<O> {
        let live = Arc::new(LiveStream {
            rfq_id: rfq_id.clone(),
            clock,
            commands,
            blotter,
            registry: self.inner.clone(),
            fan: Mutex::new(Fan {
                snapshot: Snapshot::new(rfq_id.clone()),
                subscribers: Vec::new(),
                closed: false,
            }),
        });
        self.inner.live().insert(rfq_id.clone(), live.clone());
        self.announce(DeskEvent::StreamStarted { rfq_id });
        Fanout { live, next }
    }
}

impl Registry {
    fn live(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<LiveStream>>> {
        // Every change to the map is a single insert or remove: a panic
        // elsewhere cannot leave it half-made.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn announce(&self, event: DeskEvent) {
        let _ = self.desk_events.send(event);
    }

    /// Pushes the blotter's trouble once it has grown since last told.
    fn watch_blotter(&self, sink: &BlotterSink) {
        let stats = sink.stats();
        let trouble = stats.failed_commits + stats.lost;
        if trouble > 0 && self.trouble_told.fetch_max(trouble, Ordering::Relaxed) < trouble {
            self.announce(DeskEvent::BlotterTrouble(BlotterTrouble {
                failed_commits: stats.failed_commits,
                lost: stats.lost,
                problem: sink.problem(),
            }));
        }
    }
}

/// One live stream as the registry keeps it.
struct LiveStream {
    rfq_id: Arc<str>,
    clock: StreamClock,
    commands: mpsc::Sender<StreamCommand>,
    /// The stream's blotter, watched for trouble after each event.
    blotter: Option<BlotterSink>,
    registry: Arc<Registry>,
    fan: Mutex<Fan>,
}

/// What changes with each event, under the stream's lock (held for the
/// event's fan-out only, never across an await).
struct Fan {
    snapshot: Snapshot,
    subscribers: Vec<Subscriber>,
    /// Ended or dropped: nobody attaches any more.
    closed: bool,
}

struct Subscriber {
    events: mpsc::Sender<Sequenced>,
    buffer: usize,
    detached: Arc<OnceLock<Detached>>,
}

impl LiveStream {
    fn fan(&self) -> MutexGuard<'_, Fan> {
        self.fan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers `event`, keeps it for the snapshot and offers it to every
    /// subscriber without waiting.
    fn publish(&self, event: &RfqEvent) {
        let ended = matches!(event.kind, EventKind::Ended(_));
        {
            let mut fan = self.fan();
            let sequenced = Sequenced {
                seq: fan.snapshot.seq + 1,
                event: event.clone(),
            };
            fan.subscribers.retain(|subscriber| {
                match subscriber.events.try_send(sequenced.clone()) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        let _ = subscriber.detached.set(Detached::TooSlow {
                            buffer: subscriber.buffer,
                            missed: sequenced.seq,
                        });
                        false
                    }
                    Err(TrySendError::Closed(_)) => false,
                }
            });
            fan.snapshot.keep(sequenced);
        }
        if let Some(sink) = &self.blotter {
            self.registry.watch_blotter(sink);
        }
        if ended {
            self.close(Detached::Ended);
        }
    }

    /// Takes the stream out of the registry and lets its subscribers go,
    /// telling them `why` (once: the first reason stands).
    fn close(&self, why: Detached) {
        {
            let mut fan = self.fan();
            if fan.closed {
                return;
            }
            fan.closed = true;
            for subscriber in fan.subscribers.drain(..) {
                let _ = subscriber.detached.set(why.clone());
            }
        }
        self.registry.live().remove(&self.rfq_id);
        self.registry.announce(DeskEvent::StreamEnded {
            rfq_id: self.rfq_id.clone(),
        });
    }
}

/// A stream's outlet that fans its events out to the registry's
/// subscribers before handing them to `next`; see the module docs.
pub struct Fanout<O> {
    live: Arc<LiveStream>,
    next: O,
}

impl<O: Outlet> Outlet for Fanout<O> {
    fn send(&mut self, event: RfqEvent) -> impl Future<Output = ()> + Send {
        self.live.publish(&event);
        self.next.send(event)
    }

    fn ready(&mut self) -> impl Future<Output = ()> + Send {
        self.next.ready()
    }

    fn stop_requested(&self) -> bool {
        self.next.stop_requested()
    }
}

impl<O> Drop for Fanout<O> {
    /// A stream whose task stops without `ended` (a panic, an abort) still
    /// leaves the registry.
    fn drop(&mut self) {
        self.live.close(Detached::Failed);
    }
}

/// One subscriber's view of a live stream: the snapshot it attached with,
/// then every later event in order, and the stream's command inbox.
pub struct Subscription {
    /// The stream up to the moment of attaching.
    pub snapshot: Snapshot,
    /// The stream's clock (countdowns between events).
    pub clock: StreamClock,
    events: mpsc::Receiver<Sequenced>,
    commands: mpsc::Sender<StreamCommand>,
    detached: Arc<OnceLock<Detached>>,
}

impl Subscription {
    /// The next event after the snapshot (`seq` one more than the last),
    /// or why there will be none.
    pub async fn next(&mut self) -> Result<Sequenced, Detached> {
        match self.events.recv().await {
            Some(sequenced) => Ok(sequenced),
            None => Err(self.detached.get().cloned().unwrap_or(Detached::Failed)),
        }
    }

    /// Hands `command` to the stream, as if its own operator had given
    /// it; `Err` once the stream has ended.
    pub async fn send(&self, command: StreamCommand) -> Result<(), StreamCommand> {
        self.commands
            .send(command)
            .await
            .map_err(|refused| refused.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blotter::Blotter;
    use crate::market::{Bps, Side};
    use crate::recorder::Recorder;
    use crate::rfq::{EngineParams, RfqSpec, Session};
    use rust_decimal_macros::dec;

    /// The fan-out adds one pointer to every stream's future (thousands
    /// of them run at once): the same bound as a stream recorded without
    /// it, plus that pointer (see `a_recorded_stream_future_stays_small`).
    #[tokio::test]
    async fn a_recorded_fanned_out_stream_future_stays_small() {
        let scratch = tempfile::tempdir().unwrap();
        let blotter = Blotter::open(&scratch.path().join("blotter.db")).unwrap();
        let session = Session {
            rfq_id: Arc::from("R-size"),
            spec: RfqSpec {
                side: Side::Buy,
                amount: dec!(1),
                pair: "BTCUSDT".parse().unwrap(),
            },
            lps: Vec::new(),
            params: EngineParams {
                markup: Bps::new(dec!(5)).unwrap(),
                threshold: Bps::new(dec!(1)).unwrap(),
                validity_buffer_ms: 2_000,
                poll_interval_ms: 500,
                lp_timeout_ms: 1_000,
                order_timeout_ms: 5_000,
                max_deviation: Bps::new(dec!(200)).unwrap(),
                fade_tolerance: Bps::new(dec!(2)).unwrap(),
            },
            duration_ms: 1_000,
            clock: StreamClock::start(),
            band: None,
            client: crate::rfq::ClientId::house(),
        };
        let registry = StreamRegistry::default();
        let (events, _receiver) = mpsc::channel(16);
        let (commands, inbox) = mpsc::channel(1);
        let fanout = registry.register(
            session.rfq_id.clone(),
            session.clock,
            commands,
            Some(blotter.sink()),
            events,
        );
        let outlet = Recorder::new(blotter.sink(), fanout);
        let stream = session.run_into(outlet, Some(inbox));
        let size = std::mem::size_of_val(&stream);
        assert!(size <= 1_664 + 8, "a stream's future is {size} bytes");
        drop(stream);
        assert!(
            registry.live_streams().is_empty(),
            "a dropped stream leaves"
        );
        blotter.close().await;
    }
}
