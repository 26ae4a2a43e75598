//! The desk's registry of live streams: who may attach to which RFQ. Any
//! number of subscribers attach to a live stream at any time; each first
//! gets a [`Snapshot`] of the stream so far, then every later event in
//! order, numbered per stream from 1 with no gap ([`Sequenced`]); any of
//! them can command the stream. Desk-wide facts (an LP's health, blotter
//! trouble, streams starting and ending) are pushed to whoever listens
//! ([`DeskEvent`]).
//!
//! The session stays the only owner of the RFQ's state. The registry sits
//! in its outlet (`Fanout`), inside the session's own task: each event is
//! numbered, folded into the snapshot and offered to every subscriber
//! without waiting, then handed to the primary consumer (console, prompt,
//! headless output) exactly as before. A subscriber whose bounded buffer
//! is full is dropped, with [`Detached::TooSlow`] as its reason, so no
//! subscriber can hold the stream, its primary consumer or the desk back.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{broadcast, mpsc};

use crate::blotter::BlotterSink;
use crate::clock::StreamClock;
use crate::lp::guarded::RecordedChange;
use crate::lp::health::HealthChange;
use crate::rfq::client_id::Channel;
use crate::rfq::event::LpErrorEvent;
use crate::rfq::inbox::CommandSender;
use crate::rfq::outlet::Outlet;
use crate::rfq::reference::References;
use crate::rfq::{ClientId, EventKind, RfqEvent, StreamCommand};

mod live_rfq;
mod pauses;

pub use live_rfq::{DeskView, LiveRfq, LpHealthRow, OrderState, RfqState};
pub use pauses::{ClientPauses, PauseMark, PausedClient, CLIENT_PAUSED};

/// Events a subscriber may fall behind by before it is dropped: a console
/// drains its channel every frame, and a 30 s stream polling every 100 ms
/// with 10 LPs makes about 3,000 events in all.
pub(crate) const SUBSCRIBER_BUFFER: usize = 1024;
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

/// The snapshot as a stream keeps it between attaches: one slot per thing
/// a screen shows, found by the event's kind (and LP) and overwritten in
/// place, so that folding an event in is one lookup and, once the slot is
/// filled, no allocation. A [`Snapshot`] is assembled from it only when
/// someone attaches.
#[derive(Default)]
struct Kept {
    /// The last event folded in.
    seq: u64,
    /// The latest of each kind the stream has one of, by [`StreamSlot`].
    stream: [Option<Box<Sequenced>>; StreamSlot::COUNT],
    /// Each LP's latest quote, error, health and unverified, by [`LpSlot`].
    lps: HashMap<Arc<str>, [Option<Box<Sequenced>>; LpSlot::COUNT]>,
    /// Every execution event, in order (one order per attempt: as many as
    /// there are LPs at most).
    executions: Vec<Sequenced>,
}

/// The slots of [`Kept::stream`].
#[derive(Clone, Copy)]
enum StreamSlot {
    Started,
    ClientQuote,
    Locked,
    LockExpired,
    NotFilled,
    BlotterError,
    Released,
    Ended,
}

impl StreamSlot {
    const COUNT: usize = 8;
}

/// The slots of each LP in [`Kept::lps`].
#[derive(Clone, Copy)]
enum LpSlot {
    Quote,
    Error,
    Health,
    Unverified,
}

impl LpSlot {
    const COUNT: usize = 4;
}

impl Kept {
    /// Folds event number `seq` in, replacing the one it makes obsolete.
    fn keep(&mut self, seq: u64, event: &RfqEvent) {
        self.seq = seq;
        let slot = match &event.kind {
            EventKind::LpQuote(quote) => {
                // An LP's new quote is judged afresh: its earlier
                // `unverified` no longer says anything about it.
                self.forget_unverified(&quote.lp);
                self.lp_slot(&quote.lp, LpSlot::Quote)
            }
            EventKind::LpError(error) => self.lp_slot(&error.lp, LpSlot::Error),
            EventKind::LpHealth(health) => self.lp_slot(&health.lp, LpSlot::Health),
            EventKind::Unverified(unverified) => self.lp_slot(&unverified.lp, LpSlot::Unverified),
            EventKind::OrderSent(_)
            | EventKind::OrderRejected(_)
            | EventKind::Filled(_)
            | EventKind::ExecutionUnknown(_) => {
                self.executions.push(Sequenced {
                    seq,
                    event: event.clone(),
                });
                return;
            }
            EventKind::Started(_) => &mut self.stream[StreamSlot::Started as usize],
            EventKind::ClientQuote(quote) => {
                // Offered: something has corroborated the LP's price since
                // its `unverified`, which a late screen must not show.
                self.forget_unverified(&quote.lp);
                &mut self.stream[StreamSlot::ClientQuote as usize]
            }
            EventKind::Locked(_) => &mut self.stream[StreamSlot::Locked as usize],
            EventKind::LockExpired(_) => &mut self.stream[StreamSlot::LockExpired as usize],
            EventKind::NotFilled(_) => &mut self.stream[StreamSlot::NotFilled as usize],
            EventKind::BlotterError(_) => &mut self.stream[StreamSlot::BlotterError as usize],
            EventKind::Released(released) => {
                self.forget_unverified(&released.lp);
                &mut self.stream[StreamSlot::Released as usize]
            }
            EventKind::Ended(_) => &mut self.stream[StreamSlot::Ended as usize],
        };
        match slot {
            Some(kept) => refill(kept, seq, event),
            None => {
                *slot = Some(Box::new(Sequenced {
                    seq,
                    event: event.clone(),
                }))
            }
        }
    }

    fn forget_unverified(&mut self, lp: &str) {
        if let Some(slots) = self.lps.get_mut(lp) {
            slots[LpSlot::Unverified as usize] = None;
        }
    }

    fn lp_slot(&mut self, lp: &Arc<str>, slot: LpSlot) -> &mut Option<Box<Sequenced>> {
        // The key is cloned only the first time an LP is seen.
        if !self.lps.contains_key(lp) {
            self.lps.insert(lp.clone(), Default::default());
        }
        let slots = self.lps.get_mut(lp).expect("inserted above");
        &mut slots[slot as usize]
    }

    /// The snapshot of the stream so far, in stream order.
    fn snapshot(&self, rfq_id: &Arc<str>) -> Snapshot {
        let mut events: Vec<Sequenced> = self
            .stream
            .iter()
            .chain(self.lps.values().flatten())
            .flatten()
            .map(|kept| Sequenced::clone(kept))
            .chain(self.executions.iter().cloned())
            .collect();
        events.sort_unstable_by_key(|sequenced| sequenced.seq);
        Snapshot {
            rfq_id: rfq_id.clone(),
            seq: self.seq,
            events,
        }
    }
}

/// Overwrites `kept` with event number `seq`, reusing what it holds where
/// that saves an allocation: the client quote's box, an error's reason.
fn refill(kept: &mut Sequenced, seq: u64, event: &RfqEvent) {
    kept.seq = seq;
    kept.event.t_ms = event.t_ms;
    kept.event.rfq_id.clone_from(&event.rfq_id);
    match (&mut kept.event.kind, &event.kind) {
        // `Box::clone_from` copies into the box it has.
        (EventKind::ClientQuote(kept), EventKind::ClientQuote(new)) => kept.clone_from(new),
        (EventKind::LpError(kept), EventKind::LpError(new)) => {
            let LpErrorEvent {
                lp,
                kind,
                reason,
                latency_ms,
                poll,
            } = new;
            kept.lp.clone_from(lp);
            kept.kind = *kind;
            kept.reason.clone_from(reason);
            kept.latency_ms = *latency_ms;
            kept.poll = *poll;
        }
        (kept, new) => kept.clone_from(new),
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
    /// A live RFQ's row in the desk view changed (its first with the
    /// stream's `started`; its last says `ended`, before `stream_ended`).
    Rfq(LiveRfq),
    /// The whole desk view now, replacing what the listener had: sent to
    /// a desk server's operator on `subscribe_desk` and again after the
    /// connection fell behind the desk's events. A desk in this process
    /// never pushes it: its listeners read [`StreamRegistry::desk_view`].
    Resync(DeskView),
    /// The desk's client pauses changed (a client paused or resumed, the
    /// kill switch turned on or off): all of them now.
    ClientPauses(ClientPauses),
}

/// An LP's health changed, desk-wide: the change as the LP's health
/// made it, with the LP and the moment. On the wire the change's fields
/// sit beside `lp` and `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LpHealthChanged {
    pub lp: Arc<str>,
    /// Wall-clock time, UTC ISO-8601 with milliseconds.
    pub at: String,
    #[serde(flatten)]
    pub change: HealthChange,
}

impl From<&RecordedChange> for LpHealthChanged {
    fn from(recorded: &RecordedChange) -> LpHealthChanged {
        LpHealthChanged {
            lp: recorded.lp.clone(),
            at: crate::clock::iso_millis(recorded.at),
            change: recorded.change.clone(),
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
    /// Whether each stream keeps a snapshot for late subscribers. A
    /// process whose only consumer is its own console (local mode, the
    /// load bench) keeps none: about 2.4 KB a stream at 10 LPs that no one
    /// would read. A desk that others attach to keeps them.
    keeps_snapshots: bool,
    live: Mutex<HashMap<Arc<str>, Arc<LiveStream>>>,
    desk_events: broadcast::Sender<DeskEvent>,
    /// The blotter trouble (failed commits + lost events) already pushed.
    trouble_told: AtomicU64,
    /// The desk's reference prices, each stream's corroborated locks
    /// noted as they pass.
    references: References,
}

impl Default for StreamRegistry {
    /// A registry whose streams keep snapshots: any subscriber may attach
    /// at any time.
    fn default() -> StreamRegistry {
        StreamRegistry::new(true)
    }
}

impl StreamRegistry {
    /// A registry whose streams keep no snapshot: a subscriber may attach
    /// only before a stream's first event (see [`StreamRegistry::attach`]).
    /// For a process with no late subscriber to serve.
    pub(crate) fn without_snapshots() -> StreamRegistry {
        StreamRegistry::new(false)
    }

    fn new(keeps_snapshots: bool) -> StreamRegistry {
        StreamRegistry {
            inner: Arc::new(Registry {
                keeps_snapshots,
                live: Mutex::new(HashMap::new()),
                desk_events: broadcast::channel(DESK_EVENT_BUFFER).0,
                trouble_told: AtomicU64::new(0),
                references: References::default(),
            }),
        }
    }

    /// The RFQ ids of the streams running now, in the order of their ids
    /// (the order they started in).
    pub(crate) fn live_streams(&self) -> Vec<Arc<str>> {
        let mut ids: Vec<Arc<str>> = self.inner.live().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The desk view's row of every live stream, in the order of their ids.
    pub(crate) fn live_rfqs(&self) -> Vec<LiveRfq> {
        let live: Vec<Arc<LiveStream>> = self.inner.live().values().cloned().collect();
        let mut rows: Vec<LiveRfq> = live.iter().filter_map(|stream| stream.row()).collect();
        rows.sort_by(|a, b| a.rfq_id.cmp(&b.rfq_id));
        rows
    }

    /// Stops every live stream whose request `held` says to (its client,
    /// the channel it came in by): each ends `interrupted`, an order
    /// already out waited for first. The ids stopped, in order.
    pub(crate) fn stop_where(&self, held: impl Fn(&ClientId, Channel) -> bool) -> Vec<Arc<str>> {
        let live: Vec<Arc<LiveStream>> = self.inner.live().values().cloned().collect();
        let mut stopped: Vec<Arc<str>> = live
            .iter()
            .filter(|stream| match stream.requester.get() {
                Some((client, channel)) => held(client, *channel),
                None => {
                    let channel = stream.channel.get().copied().unwrap_or_default();
                    stream
                        .fan()
                        .row
                        .as_ref()
                        .is_some_and(|row| held(&row.client, channel))
                }
            })
            .map(|stream| {
                stream.stopper.stop();
                stream.rfq_id.clone()
            })
            .collect();
        stopped.sort();
        stopped
    }

    /// Attaches to stream `rfq_id` with a buffer of [`SUBSCRIBER_BUFFER`]
    /// events; `None` when no such stream is running, or when this
    /// registry keeps no snapshots and the stream has already sent an
    /// event.
    pub(crate) fn attach(&self, rfq_id: &str) -> Option<Subscription> {
        self.attach_with_buffer(rfq_id, SUBSCRIBER_BUFFER)
    }

    /// `StreamRegistry::attach` with a buffer of `buffer` events (at
    /// least one): a subscriber that falls further behind is dropped.
    pub fn attach_with_buffer(&self, rfq_id: &str, buffer: usize) -> Option<Subscription> {
        let buffer = buffer.max(1);
        let live = self.inner.live().get(rfq_id).cloned()?;
        let (sender, events) = mpsc::channel(buffer);
        let detached = Arc::new(OnceLock::new());
        // Under the stream's lock: no event can pass between the snapshot
        // and the subscription, so nothing is missed or seen twice.
        let mut fan = live.fan();
        // Without a snapshot, a subscriber that missed events would see a
        // stream with a hole at its start: it is refused instead.
        if fan.closed || (!self.inner.keeps_snapshots && fan.kept.seq > 0) {
            return None;
        }
        fan.subscribers.push(Subscriber {
            events: sender,
            buffer,
            detached: detached.clone(),
        });
        Some(Subscription {
            snapshot: fan.kept.snapshot(&live.rfq_id),
            clock: live.clock,
            events,
            stopper: live.stopper.clone(),
            budget: Mutex::new(CommandBudget::full(tokio::time::Instant::now())),
            detached,
            channel: live.channel.clone(),
        })
    }

    /// The desk's reference prices, which every stream's corroborated
    /// locks keep up to date.
    pub(crate) fn references(&self) -> &References {
        &self.inner.references
    }

    /// Every desk event from now on.
    pub(crate) fn subscribe_desk(&self) -> broadcast::Receiver<DeskEvent> {
        self.inner.desk_events.subscribe()
    }

    /// Pushes `event` to every desk listener (none listening is fine).
    pub(crate) fn announce(&self, event: DeskEvent) {
        self.inner.announce(event);
    }

    /// Pushes the blotter's trouble if it has grown since last told (the
    /// streams' events look after each one; a stream that was refused has
    /// none).
    pub(crate) fn watch_blotter(&self, sink: &BlotterSink) {
        self.inner.watch_blotter(sink);
    }

    /// Registers stream `rfq_id` (commanded through `commands`, its
    /// record kept by `blotter`, if any) and gives the outlet that fans
    /// its events out before handing them to `next`. The stream leaves the
    /// registry with its `ended` event, or when the outlet is dropped.
    /// Refused while another stream of that id is live: each id names one
    /// stream, and the first keeps it.
    pub(crate) fn register<O: Outlet>(
        &self,
        rfq_id: Arc<str>,
        clock: StreamClock,
        commands: CommandSender<StreamCommand>,
        blotter: Option<BlotterSink>,
        next: O,
    ) -> Result<Fanout<O>, AlreadyLive> {
        let live = {
            let mut live = self.inner.live();
            let std::collections::hash_map::Entry::Vacant(entry) = live.entry(rfq_id.clone())
            else {
                return Err(AlreadyLive { rfq_id });
            };
            entry
                .insert(Arc::new(LiveStream {
                    rfq_id: rfq_id.clone(),
                    clock,
                    stopper: StreamStopper::new(commands),
                    blotter,
                    registry: self.inner.clone(),
                    channel: Arc::default(),
                    requester: OnceLock::new(),
                    fan: Mutex::new(Fan {
                        kept: Kept::default(),
                        subscribers: Vec::new(),
                        closed: false,
                        trust: Trust::default(),
                        row: None,
                    }),
                }))
                .clone()
        };
        self.announce(DeskEvent::StreamStarted { rfq_id });
        Ok(Fanout { live, next })
    }
}

/// A stream of this id is already live: [`StreamRegistry::register`]
/// refused a second.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream '{rfq_id}' is already live")]
pub(crate) struct AlreadyLive {
    pub rfq_id: Arc<str>,
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
        let (failed_commits, lost) = sink.trouble();
        let trouble = failed_commits + lost;
        if trouble > 0 && self.trouble_told.fetch_max(trouble, Ordering::Relaxed) < trouble {
            self.announce(DeskEvent::BlotterTrouble(BlotterTrouble {
                failed_commits,
                lost,
                problem: sink.problem(),
            }));
        }
    }
}

/// One live stream as the registry keeps it.
struct LiveStream {
    rfq_id: Arc<str>,
    clock: StreamClock,
    /// Its inbox, and the stop that no full inbox can lose.
    stopper: StreamStopper,
    /// The stream's blotter, watched for trouble after each event.
    blotter: Option<BlotterSink>,
    registry: Arc<Registry>,
    fan: Mutex<Fan>,
    /// How the request came in (from `started`): a subscriber may not
    /// accept or release a client's own RFQ.
    channel: Arc<OnceLock<Channel>>,
    /// Whom the request is for and how it came in, noted by the desk as
    /// it registers the stream (before its `started` makes a row): a
    /// pause stops it even before its first event.
    requester: OnceLock<(ClientId, Channel)>,
}

/// What changes with each event, under the stream's lock (held for the
/// event's fan-out only, never across an await).
struct Fan {
    kept: Kept,
    subscribers: Vec<Subscriber>,
    /// Ended or dropped: nobody attaches any more.
    closed: bool,
    trust: Trust,
    /// The stream's row in the desk view (from its `started` on).
    row: Option<LiveRfq>,
}

/// What a stream's locks may teach the desk's reference prices.
#[derive(Default)]
struct Trust {
    /// The stream's pair (from `started`).
    pair: Option<String>,
    /// The operator released a price in this stream: its locks may rest on
    /// the operator's word alone, and vouch for nothing on the desk.
    released: bool,
}

struct Subscriber {
    /// Shared: one copy of each event however many subscribers there are.
    events: mpsc::Sender<Arc<Sequenced>>,
    buffer: usize,
    detached: Arc<OnceLock<Detached>>,
}

impl LiveStream {
    fn fan(&self) -> MutexGuard<'_, Fan> {
        self.fan.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stream's desk view row with its time left now.
    fn row(&self) -> Option<LiveRfq> {
        let mut row = self.fan().row.clone()?;
        row.left_ms = row.left_at(self.clock.now_ms());
        Some(row)
    }

    /// Numbers `event`, keeps it for the snapshot and offers it to every
    /// subscriber without waiting.
    fn publish(&self, event: &RfqEvent) {
        let ended = matches!(event.kind, EventKind::Ended(_));
        let changed_row = {
            let mut fan = self.fan();
            let seq = fan.kept.seq + 1;
            // Most streams have no subscriber: they pay for nothing here.
            if !fan.subscribers.is_empty() {
                let shared = Arc::new(Sequenced {
                    seq,
                    event: event.clone(),
                });
                fan.subscribers.retain(|subscriber| {
                    match subscriber.events.try_send(shared.clone()) {
                        Ok(()) => true,
                        Err(TrySendError::Full(_)) => {
                            let _ = subscriber.detached.set(Detached::TooSlow {
                                buffer: subscriber.buffer,
                                missed: seq,
                            });
                            false
                        }
                        Err(TrySendError::Closed(_)) => false,
                    }
                });
            }
            if self.registry.keeps_snapshots {
                fan.kept.keep(seq, event);
            } else {
                fan.kept.seq = seq;
            }
            self.learn(&mut fan.trust, event);
            let changed = match &mut fan.row {
                Some(row) => row.fold(seq, event),
                None => {
                    fan.row = LiveRfq::open(event, seq, self.clock.speed_per_mille());
                    fan.row.is_some()
                }
            };
            // Cloned only for a desk view someone is watching.
            changed
                .then(|| fan.row.clone())
                .flatten()
                .filter(|_| self.registry.desk_events.receiver_count() > 0)
        };
        if let Some(row) = changed_row {
            self.registry.announce(DeskEvent::Rfq(row));
        }
        if let Some(sink) = &self.blotter {
            self.registry.watch_blotter(sink);
        }
        if ended {
            self.close(Detached::Ended);
        }
    }

    /// Notes a lock of a real LP that something independent corroborated
    /// (never only a reference: a lone LP would renew its own) as the
    /// desk's reference for the stream's pair.
    fn learn(&self, trust: &mut Trust, event: &RfqEvent) {
        match &event.kind {
            EventKind::Started(started) => {
                trust.pair = Some(started.pair.symbol());
                let _ = self.channel.set(started.channel);
            }
            EventKind::Released(_) => trust.released = true,
            EventKind::Locked(locked)
                if !locked.simulated
                    && !trust.released
                    && locked
                        .corroborated_by
                        .is_some_and(crate::rfq::sanity::Corroboration::is_independent) =>
            {
                if let Some(pair) = &trust.pair {
                    let seen_ms = self.clock.wall_at(event.t_ms).timestamp_millis();
                    self.registry
                        .references
                        .note_desk(pair, locked.price, seen_ms);
                }
            }
            _ => {}
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
        // Only this stream's own entry: the id names no other while this
        // one is live, but the map is not the place to trust that.
        let removed = {
            let mut live = self.registry.live();
            let ours = live
                .get(&self.rfq_id)
                .is_some_and(|entry| std::ptr::eq(Arc::as_ptr(entry), self));
            ours && live.remove(&self.rfq_id).is_some()
        };
        if removed {
            self.registry.announce(DeskEvent::StreamEnded {
                rfq_id: self.rfq_id.clone(),
            });
        }
    }
}

/// A stream's outlet that fans its events out to the registry's
/// subscribers before handing them to `next`; see the module docs.
pub(crate) struct Fanout<O> {
    live: Arc<LiveStream>,
    next: O,
}

impl<O> Fanout<O> {
    /// What stops the stream from outside (its primary consumer's Stop).
    pub(crate) fn stopper(&self) -> StreamStopper {
        self.live.stopper.clone()
    }

    /// Notes whom the stream's request is for and how it came in, for
    /// [`StreamRegistry::stop_where`] before the stream's first event.
    pub(crate) fn note_requester(&self, client: ClientId, channel: Channel) {
        let _ = self.live.requester.set((client, channel));
    }
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
        self.live.stopper.asked() || self.next.stop_requested()
    }

    fn unrecordable(&self) -> Option<String> {
        self.next.unrecordable()
    }

    fn take_unrecorded_order(&mut self) -> Option<String> {
        self.next.take_unrecorded_order()
    }
}

impl<O> Drop for Fanout<O> {
    /// A stream whose task stops without `ended` (a panic, an abort) still
    /// leaves the registry.
    fn drop(&mut self) {
        self.live.close(Detached::Failed);
    }
}

/// Stops a stream, whatever its inbox holds. The stop is a flag the
/// session reads (through its [`Fanout`]) every time it wakes, so a full
/// inbox cannot lose it; the `Stop` also put into the inbox when there is
/// room only wakes the session sooner. Cloning it shares it.
#[derive(Clone)]
pub(crate) struct StreamStopper {
    asked: Arc<AtomicBool>,
    commands: CommandSender<StreamCommand>,
}

impl StreamStopper {
    /// A stopper for the stream whose inbox `commands` feeds.
    pub(crate) fn new(commands: CommandSender<StreamCommand>) -> StreamStopper {
        StreamStopper {
            asked: Arc::new(AtomicBool::new(false)),
            commands,
        }
    }

    /// Ends the stream (its `ended` says `interrupted`; an order already
    /// out is waited for first).
    pub(crate) fn stop(&self) {
        self.asked.store(true, Ordering::Relaxed);
        // A full inbox wakes the session anyway, and it then reads the flag.
        let _ = self.commands.try_send(StreamCommand::Stop);
    }

    fn asked(&self) -> bool {
        self.asked.load(Ordering::Relaxed)
    }

    fn inbox(&self) -> &CommandSender<StreamCommand> {
        &self.commands
    }
}

/// A subscriber's commands other than Stop: this many at once...
pub(crate) const SUBSCRIBER_COMMAND_BURST: u32 = 4;
/// ...then one more every this many ms.
pub(crate) const SUBSCRIBER_COMMAND_EVERY_MS: u64 = 250;

/// One subscriber's allowance of commands (a token bucket on the stream's
/// clock), so that no subscriber can keep the session busy with commands
/// while its LPs' answers wait.
struct CommandBudget {
    left: u32,
    /// When `left` last earned (or, full, when it was last full).
    since: tokio::time::Instant,
}

impl CommandBudget {
    fn full(now: tokio::time::Instant) -> CommandBudget {
        CommandBudget {
            left: SUBSCRIBER_COMMAND_BURST,
            since: now,
        }
    }

    /// Takes one command's allowance at `now`; `Err` with the ms until
    /// there is one.
    fn take(&mut self, now: tokio::time::Instant) -> Result<(), u64> {
        let every = std::time::Duration::from_millis(SUBSCRIBER_COMMAND_EVERY_MS);
        if self.left == SUBSCRIBER_COMMAND_BURST {
            // A full allowance earns nothing while it waits.
            self.since = now;
        }
        let elapsed = now.saturating_duration_since(self.since);
        let earned = (elapsed.as_millis() / every.as_millis()) as u32;
        if earned > 0 {
            self.left = self
                .left
                .saturating_add(earned)
                .min(SUBSCRIBER_COMMAND_BURST);
            self.since += every * earned;
        }
        if self.left == 0 {
            let waited = now.saturating_duration_since(self.since);
            return Err((every - waited).as_millis() as u64);
        }
        self.left -= 1;
        Ok(())
    }
}

/// A subscriber's command that the stream did not take, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command:?} refused: {why}")]
pub struct CommandRefused {
    pub command: StreamCommand,
    pub why: Refusal,
}

/// Why a subscriber's command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum Refusal {
    /// The stream has ended.
    Ended,
    /// The subscriber used its allowance
    /// (`SUBSCRIBER_COMMAND_BURST`, one more every
    /// `SUBSCRIBER_COMMAND_EVERY_MS`); the next is allowed in
    /// `retry_in_ms`.
    TooFast { retry_in_ms: u64 },
    /// The stream's inbox is half full: the rest is kept for its primary
    /// consumer.
    Busy,
    /// An accept or a release of a client's own RFQ (it came in over
    /// `channel`, `ws` or `fix`): only the client accepts it, and nothing
    /// unverified is offered to a client on an operator's word. A stop is
    /// taken.
    ClientRfq { channel: Channel },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Ended => f.write_str("the stream has ended"),
            Refusal::TooFast { retry_in_ms } => write!(
                f,
                "more than {SUBSCRIBER_COMMAND_BURST} commands in a row (one more every {SUBSCRIBER_COMMAND_EVERY_MS} ms); retry in {retry_in_ms} ms"
            ),
            Refusal::Busy => f.write_str("the stream's inbox is busy; retry"),
            Refusal::ClientRfq { channel } => write!(
                f,
                "a client's own RFQ (over {}): only the client accepts it and nothing of it is released; an operator may stop it",
                channel.as_str()
            ),
        }
    }
}

/// One subscriber's view of a live stream: the snapshot it attached with,
/// then every later event in order, and commands to the stream.
pub struct Subscription {
    /// The stream up to the moment of attaching.
    pub snapshot: Snapshot,
    /// The stream's clock (countdowns between events).
    pub clock: StreamClock,
    events: mpsc::Receiver<Arc<Sequenced>>,
    stopper: StreamStopper,
    budget: Mutex<CommandBudget>,
    detached: Arc<OnceLock<Detached>>,
    channel: Arc<OnceLock<Channel>>,
}

impl Subscription {
    /// The next event after the snapshot (`seq` one more than the last),
    /// or why there will be none.
    pub async fn next(&mut self) -> Result<Sequenced, Detached> {
        match self.events.recv().await {
            // Copied only while another subscriber still holds it.
            Some(shared) => Ok(Arc::unwrap_or_clone(shared)),
            None => Err(self.detached.get().cloned().unwrap_or(Detached::Failed)),
        }
    }

    /// Hands `command` to the stream, as if its own operator had given
    /// it, without waiting. A Stop is always taken while the stream runs.
    /// Other commands take at most half the stream's inbox (the rest is
    /// its primary consumer's) and come within an allowance
    /// (`SUBSCRIBER_COMMAND_BURST` at once, one more every
    /// `SUBSCRIBER_COMMAND_EVERY_MS`), so no subscriber can push the
    /// primary consumer's commands or the LPs' answers back; a command
    /// beyond them is refused and handed back with the reason. On a
    /// client's own RFQ (channel `ws` or `fix`) only a Stop is taken.
    pub async fn send(&self, command: StreamCommand) -> Result<(), CommandRefused> {
        let inbox = self.stopper.inbox();
        let refuse = |command, why| Err(CommandRefused { command, why });
        if inbox.is_closed() {
            return refuse(command, Refusal::Ended);
        }
        if command == StreamCommand::Stop {
            self.stopper.stop();
            return Ok(());
        }
        if let Some(&channel) = self.channel.get().filter(|c| **c != Channel::Operator) {
            return refuse(command, Refusal::ClientRfq { channel });
        }
        if inbox.capacity() <= inbox.max_capacity() / 2 {
            return refuse(command, Refusal::Busy);
        }
        let allowed = self
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(tokio::time::Instant::now());
        if let Err(retry_in_ms) = allowed {
            return refuse(command, Refusal::TooFast { retry_in_ms });
        }
        match inbox.try_send(command) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(command)) => refuse(command, Refusal::Busy),
            Err(TrySendError::Closed(command)) => refuse(command, Refusal::Ended),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blotter::Blotter;
    use crate::recorder::Recorder;
    use crate::rfq::Session;

    /// The fan-out adds one pointer to every stream's future (thousands
    /// of them run at once): the same bound as a stream recorded without
    /// it, plus that pointer (see `a_recorded_stream_future_stays_small`).
    #[tokio::test]
    async fn a_recorded_fanned_out_stream_future_stays_small() {
        let scratch = tempfile::tempdir().unwrap();
        let blotter = Blotter::open(&scratch.path().join("blotter.db")).unwrap();
        let session = Session::sized_for_tests();
        let registry = StreamRegistry::default();
        let (events, _receiver) = mpsc::channel(16);
        let (commands, inbox) = crate::rfq::inbox::channel(1);
        let fanout = registry
            .register(
                session.rfq_id.clone(),
                session.clock,
                commands,
                Some(blotter.sink()),
                events,
            )
            .unwrap();
        let outlet = Recorder::new(blotter.sink(), fanout);
        let stream = session.run_into(outlet, Some(inbox));
        let size = std::mem::size_of_val(&stream);
        assert!(size <= 1_712 + 8, "a stream's future is {size} bytes");
        drop(stream);
        assert!(
            registry.live_streams().is_empty(),
            "a dropped stream leaves"
        );
        blotter.close().await;
    }

    fn event(kind: EventKind) -> RfqEvent {
        RfqEvent {
            kind,
            rfq_id: Arc::from("R-twice"),
            t_ms: 0,
            two_way_side: None,
        }
    }

    /// An id names one live stream: a second is refused, and the first
    /// one's end never takes a later stream of the same id with it.
    #[tokio::test]
    async fn a_live_id_is_not_registered_twice_and_an_end_removes_only_its_own() {
        let registry = StreamRegistry::default();
        let register = || {
            let (commands, _inbox) = crate::rfq::inbox::channel(1);
            let (events, _receiver) = mpsc::channel::<RfqEvent>(8);
            registry.register(
                Arc::from("R-twice"),
                StreamClock::start(),
                commands,
                None,
                events,
            )
        };
        let mut first = register().unwrap();
        assert_eq!(
            register().err(),
            Some(AlreadyLive {
                rfq_id: Arc::from("R-twice")
            })
        );
        let ended = crate::rfq::event::Ended {
            simulated: false,
            reason: crate::rfq::event::EndReason::Duration,
            outcome: crate::rfq::event::Outcome::NotAccepted,
            improvements: 0,
            quote_id: None,
            lp: None,
            client_price: None,
        };
        first.send(event(EventKind::Ended(ended))).await;
        assert!(registry.live_streams().is_empty());
        let second = register().expect("the id is free once its stream ended");
        drop(first);
        assert_eq!(registry.live_streams(), [Arc::from("R-twice")]);
        drop(second);
        assert!(registry.live_streams().is_empty());
    }

    /// Without snapshots a subscriber can join only a stream that has sent
    /// nothing yet (it then sees every event); later, when it would have
    /// missed the start, it is refused, and the stream keeps nothing.
    #[tokio::test]
    async fn without_snapshots_only_a_subscriber_from_the_start_may_attach() {
        let registry = StreamRegistry::without_snapshots();
        let (commands, _inbox) = crate::rfq::inbox::channel(1);
        let (events, _receiver) = mpsc::channel::<RfqEvent>(8);
        let mut fanout = registry
            .register(
                Arc::from("R-bare"),
                StreamClock::start(),
                commands,
                None,
                events,
            )
            .unwrap();
        let mut early = registry.attach("R-bare").expect("nothing sent yet");
        assert_eq!(early.snapshot.seq, 0);
        assert!(early.snapshot.events.is_empty());
        let expired = EventKind::LockExpired(crate::rfq::event::LockExpired {
            lp: Arc::from("LP1"),
        });
        fanout.send(event(expired.clone())).await;
        assert!(registry.attach("R-bare").is_none());
        let first = early.events.recv().await.expect("the first event");
        assert_eq!((first.seq, &first.event.kind), (1, &expired));
        let live = registry.inner.live()["R-bare"].clone();
        let fan = live.fan();
        assert_eq!(fan.kept.seq, 1);
        assert!(fan.kept.stream.iter().all(Option::is_none));
    }

    /// A subscriber sending a command every millisecond gets 4 at once,
    /// then one every 250 ms: 15 in 3 s, so however it floods, the session
    /// spends next to nothing on it and its LPs' answers go first.
    #[test]
    fn a_flood_of_commands_is_held_to_the_allowance() {
        let start = tokio::time::Instant::now();
        let mut budget = CommandBudget::full(start);
        let taken: Vec<u64> = (0..3_000)
            .filter(|ms| {
                budget
                    .take(start + std::time::Duration::from_millis(*ms))
                    .is_ok()
            })
            .collect();
        assert_eq!(
            taken,
            [0, 1, 2, 3, 250, 500, 750, 1_000, 1_250, 1_500, 1_750, 2_000, 2_250, 2_500, 2_750]
        );
        // Left alone, it fills again to 4 and no further.
        let later = start + std::time::Duration::from_secs(60);
        let again = (0..6).filter(|_| budget.take(later).is_ok()).count();
        assert_eq!(again, 4);
        assert_eq!(budget.take(later), Err(250));
    }
}
