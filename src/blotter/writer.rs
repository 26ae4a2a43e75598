//! The writer thread's policy, the same for every store and every record:
//! it takes owned events from the channel, and the LPs' health changes
//! from their queue, and hands them to its [`BlotterStore`] in large
//! batches: woken by a quiet spell's first event, it lets the others
//! gather for [`GATHER`], then commits whenever the channel runs dry, every
//! [`COMMIT_EVERY`] while events keep flowing, or every [`MAX_BATCH`] rows;
//! while the store fails it holds the events (at most [`MAX_HELD`], then
//! fails closed) and retries them in order on a schedule.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::journal;
use super::store::{BlotterStore, Record, StoreError, Written};
use super::{Counters, Msg};
use crate::lp::guarded::RecordedChange;

/// Longest a transaction stays open while events keep arriving: a hard kill
/// loses at most this much.
pub(crate) const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// How long the writer lets events gather after the first of a quiet
/// spell wakes it, before it drains the channel into one transaction (a
/// flush that wakes it is not held; one sent during the gather waits for
/// its end, 2 ms at most). Under load events arrive every few
/// microseconds, and committing each trickle on its own rewrote the same
/// pages (the answers table's last leaf and its parents) into the WAL
/// thousands of times a second: 3–3.5 s of system CPU in a 10 s bench of
/// 1000 streams against 1.8–2 s with the gather, taken in short bursts
/// from the streams on a two-core machine (docs/performance.md). An
/// event waits at most this much longer to be on disk.
pub(crate) const GATHER: Duration = Duration::from_millis(2);

/// Most events in one transaction.
pub(crate) const MAX_BATCH: usize = 20_000;

/// Most events held while writing fails (a full disk, an I/O error, a
/// writer holding the lock past the busy timeout). About 50 MB of events:
/// beyond it an event is lost and the streams are told to stop offering
/// quotes (see [`super::BlotterSink::overflowed`]).
pub const MAX_HELD: usize = 50_000;

/// First wait before retrying a failed write; it doubles up to
/// [`RETRY_MAX`]. Retrying per new event re-wrote the whole held batch for
/// each one (quadratic) and spun a core; a schedule costs nothing.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// How long closing keeps retrying held events before counting them lost:
/// a desk that cannot write must still exit.
pub const CLOSE_WITHIN: Duration = Duration::from_secs(10);

/// How often the writer looks at its channel while it waits to retry.
const FAILING_POLL: Duration = Duration::from_millis(5);

/// How often the writer asks its store whether it can still take writes
/// (`BlotterStore::check`): a removed or replaced file is noticed
/// within this (an idle writer is woken for it), well inside a second.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Writing fails: when to try again.
struct Failing {
    next_try: Instant,
    delay: Duration,
}

/// The policy around a store `S`, run on the writer thread.
pub(super) struct Writer<S> {
    store: S,
    /// How messages name the store (its path, for SQLite).
    name: String,
    receiver: mpsc::Receiver<Msg>,
    /// Health changes ([`super::HealthSink`]), taken before each commit.
    health: std::sync::mpsc::Receiver<RecordedChange>,
    counters: Arc<Counters>,
    /// Records received and not yet committed, in order (at most
    /// [`MAX_HELD`] while writing fails).
    held: VecDeque<Record>,
    failing: Option<Failing>,
    /// The fallback journal's path, if this blotter keeps one.
    journal: Option<std::path::PathBuf>,
    /// Outcomes journalled and no longer held (the held buffer was full):
    /// the journal is their only record until it is merged.
    journal_only: Vec<crate::rfq::RfqEvent>,
    /// The journal holds events of this failing spell (cleared once every
    /// held event is written).
    journalled: bool,
    /// When the store was last checked ([`CHECK_EVERY`]); never yet, so
    /// the first commit checks.
    checked: Option<Instant>,
}

impl<S: BlotterStore> Writer<S> {
    pub(super) fn new(
        store: S,
        name: String,
        receiver: mpsc::Receiver<Msg>,
        health: std::sync::mpsc::Receiver<RecordedChange>,
        counters: Arc<Counters>,
    ) -> Writer<S> {
        Writer {
            store,
            name,
            receiver,
            health,
            counters,
            held: VecDeque::new(),
            failing: None,
            journal: None,
            journal_only: Vec::new(),
            journalled: false,
            checked: None,
        }
    }

    /// Keeps the fallback journal at `path` (see [`super::journal`]).
    pub(super) fn with_journal(mut self, path: std::path::PathBuf) -> Writer<S> {
        self.journal = Some(path);
        self
    }

    /// Journals `events` (outcomes that cannot be written now); true when
    /// they are on disk there.
    fn journal<'e>(&mut self, events: impl IntoIterator<Item = &'e crate::rfq::RfqEvent>) -> bool {
        let Some(path) = &self.journal else {
            return false;
        };
        let events: Vec<_> = events.into_iter().collect();
        if events.is_empty() {
            return true;
        }
        match journal::append(path, events.iter().copied()) {
            Ok(()) => {
                self.journalled = true;
                self.counters
                    .journalled
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
                tracing::warn!(path = %path.display(), events = events.len(), "outcomes the blotter cannot take are in the fallback journal");
                true
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot write the fallback journal");
                false
            }
        }
    }

    /// Every held event is written: the journal's outcomes are in the
    /// blotter (but for those only it holds), so it is cut back to those.
    fn journal_merged(&mut self) {
        let Some(path) = &self.journal else {
            return;
        };
        if !self.journalled || !self.held.is_empty() {
            return;
        }
        match journal::rewrite(path, &self.journal_only) {
            Ok(()) => {
                self.journalled = !self.journal_only.is_empty();
                self.counters
                    .journalled
                    .store(self.journal_only.len() as u64, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot clear the fallback journal")
            }
        }
    }

    pub(super) fn run(mut self) {
        let mut flushes = Vec::new();
        let mut open = true;
        while open {
            let lost_before = self.counters.lost.load(Ordering::Relaxed);
            match &self.failing {
                None => {
                    let Some(first) = self.receiver.blocking_recv() else {
                        break;
                    };
                    let opened = Instant::now();
                    self.take(first, &mut flushes);
                    if flushes.is_empty() {
                        std::thread::sleep(GATHER);
                    }
                    let (mut received, mut emptied) = (1, false);
                    // Drain what is already there into the same
                    // transaction; never wait with a batch open, so a
                    // quiet stream commits at once.
                    while self.held.len() < MAX_BATCH && opened.elapsed() < COMMIT_EVERY {
                        match self.receiver.try_recv() {
                            Ok(msg) => {
                                self.take(msg, &mut flushes);
                                received += 1;
                            }
                            Err(mpsc::error::TryRecvError::Empty) => {
                                emptied = true;
                                break;
                            }
                            Err(mpsc::error::TryRecvError::Disconnected) => {
                                open = false;
                                break;
                            }
                        }
                    }
                    self.counters.room_made(received, emptied);
                    self.take_health();
                    self.commit();
                }
                Some(failing) => {
                    // Keep the channel moving (streams must never stall on
                    // a broken disk) and retry only on schedule.
                    let next_try = failing.next_try;
                    loop {
                        match self.receiver.try_recv() {
                            Ok(msg) => self.take(msg, &mut flushes),
                            Err(mpsc::error::TryRecvError::Empty) => break,
                            Err(mpsc::error::TryRecvError::Disconnected) => {
                                open = false;
                                break;
                            }
                        }
                    }
                    self.take_health();
                    // Drained (held, to retry): every stream has room.
                    self.counters.room_made(0, true);
                    let now = Instant::now();
                    if open && now < next_try {
                        std::thread::sleep(FAILING_POLL.min(next_try - now));
                    } else {
                        self.commit();
                    }
                }
            }
            // Everything received so far is on disk when nothing is held
            // and nothing was dropped on the way. A drop in another stream
            // also answers `false`: cautious, never wrong the other way.
            // While writing fails a flush is answered at once (`false`):
            // a stream must not stall until the disk comes back.
            let committed =
                self.held.is_empty() && self.counters.lost.load(Ordering::Relaxed) == lost_before;
            for done in flushes.drain(..) {
                let _ = done.send(committed);
            }
        }
        // No stream may wait for room from a writer that is gone.
        self.counters.room_made(0, true);
        self.close();
        self.store.close();
        self.note_log_size();
    }

    /// Every sink is gone: writes what is held, retrying on the schedule
    /// for at most [`CLOSE_WITHIN`] or until [`super::Blotter::abandon`]
    /// (a second Ctrl+C or SIGTERM while closing); what is left is lost.
    fn close(&mut self) {
        let deadline = Instant::now() + CLOSE_WITHIN;
        loop {
            self.take_health();
            self.commit();
            if self.held.is_empty() {
                return;
            }
            let now = Instant::now();
            if now >= deadline || self.counters.abandon.load(Ordering::Relaxed) {
                break;
            }
            // A file removed, replaced or damaged does not come back by
            // waiting: what is held goes to the journal now, not after
            // CLOSE_WITHIN (a full disk passes the check and is retried).
            if self.store.check().is_err() {
                break;
            }
            let next_try = self.failing.as_ref().map_or(now, |f| f.next_try);
            // Sleep in short steps so that abandoning is honoured at once.
            while Instant::now() < next_try.min(deadline)
                && !self.counters.abandon.load(Ordering::Relaxed)
            {
                std::thread::sleep(FAILING_POLL * 4);
            }
        }
        if let Some(path) = self.journal.clone() {
            // Everything still held, in order, and the outcomes only the
            // journal holds: the next start merges them.
            let events: Vec<&crate::rfq::RfqEvent> = self
                .held
                .iter()
                .filter_map(|record| match record {
                    Record::Event(event) => Some(event),
                    Record::Health(_) => None,
                })
                .chain(&self.journal_only)
                .collect();
            match journal::rewrite(&path, events.iter().copied()) {
                Ok(()) => {
                    let journalled = events.len();
                    let health = self.held.len() + self.journal_only.len() - journalled;
                    self.counters
                        .journalled
                        .store(journalled as u64, Ordering::Relaxed);
                    self.counters
                        .lost
                        .fetch_add(health as u64, Ordering::Relaxed);
                    self.held.clear();
                    self.journal_only.clear();
                    tracing::error!(path = %path.display(), journalled, "blotter events left in the fallback journal at close");
                    return;
                }
                Err(error) => {
                    tracing::error!(path = %path.display(), %error, "cannot write the fallback journal at close")
                }
            }
        }
        let lost = (self.held.len() + self.journal_only.len()) as u64;
        self.held.clear();
        self.counters.lost.fetch_add(lost, Ordering::Relaxed);
        tracing::error!(path = %self.name, lost, "blotter events lost at close");
    }

    fn take(&mut self, msg: Msg, flushes: &mut Vec<tokio::sync::oneshot::Sender<bool>>) {
        match msg {
            Msg::Event(event) => self.hold(Record::Event(event)),
            Msg::Flush(done) => flushes.push(done),
            // Only wakes an idle writer: the check runs before each commit.
            Msg::Check => {}
            // The queue itself is taken before each commit.
            Msg::HealthWaiting => {}
        }
    }

    /// Holds the health changes sent so far, behind the events already
    /// held (one queue: the same batches, retries and limit).
    fn take_health(&mut self) {
        while let Ok(change) = self.health.try_recv() {
            self.hold(Record::Health(Box::new(change)));
        }
    }

    fn hold(&mut self, record: Record) {
        let outcome = matches!(&record, Record::Event(event) if journal::is_outcome(event));
        // While writing fails an outcome is on disk at once, in the journal.
        let journalled = outcome
            && self.failing.is_some()
            && match &record {
                Record::Event(event) => self.journal([event]),
                Record::Health(_) => false,
            };
        if self.held.len() >= MAX_HELD && journalled {
            if let Record::Event(event) = record {
                self.journal_only.push(event);
            }
            return;
        }
        if self.held.len() >= MAX_HELD {
            // Fail closed: the streams see `overflowed` and stop offering
            // quotes; this record is counted as lost.
            drop(record);
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            if !self.counters.overflowed.swap(true, Ordering::AcqRel) {
                tracing::error!(path = %self.name, held = MAX_HELD, "blotter buffer full: events are being lost; streams stop");
            }
            return;
        }
        self.held.push_back(record);
        self.counters
            .held
            .store(self.held.len() as u64, Ordering::Relaxed);
    }

    /// Writes the held events, oldest first, in transactions of at most
    /// [`MAX_BATCH`]. A transient failure keeps them (in order) for the
    /// next try on the retry schedule; an event that can never be written
    /// is dropped and counted, the rest kept.
    fn commit(&mut self) {
        if !self.store_usable() {
            return;
        }
        while !self.held.is_empty() {
            let count = self.held.len().min(MAX_BATCH);
            match self.store.write_batch(self.held.iter().take(count)) {
                Ok(written) => {
                    self.held.drain(..count);
                    self.committed(written);
                }
                Err(error) if !error.is_transient() => {
                    // Retrying would fail forever: find the rows that cannot
                    // be written, drop them, and write the rest.
                    if !self.write_one_by_one(count) {
                        break;
                    }
                }
                Err(error) => {
                    self.failed(&error);
                    break;
                }
            }
        }
        self.counters
            .held
            .store(self.held.len() as u64, Ordering::Relaxed);
        self.journal_merged();
    }

    /// Asks the store whether it can take writes, when a check is due
    /// (every [`CHECK_EVERY`], and before every retry while failing). A
    /// store that cannot fails writing as a failed batch does; one that
    /// can again, with nothing left to write, recovers here.
    fn store_usable(&mut self) -> bool {
        let recent = self.checked.is_some_and(|at| at.elapsed() < CHECK_EVERY);
        if self.failing.is_none() && recent {
            return true;
        }
        self.checked = Some(Instant::now());
        match self.store.check() {
            Ok(()) => {
                if self.held.is_empty() {
                    self.recovered();
                }
                true
            }
            Err(error) => {
                self.failed(&error);
                false
            }
        }
    }

    /// A write failed for a reason that may pass: schedule the next try
    /// and say so once per failing spell, not per attempt.
    fn failed(&mut self, error: &StoreError) {
        self.counters.failed_commits.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        match &mut self.failing {
            Some(failing) => {
                failing.delay = (failing.delay * 2).min(RETRY_MAX);
                failing.next_try = now + failing.delay;
            }
            None => {
                let held = self.held.len();
                tracing::warn!(path = %self.name, %error, held, "blotter writes fail; holding events and retrying");
                let text = format!("blotter '{}' cannot be written: {error}", self.name);
                // The first problem is kept for the caller to show once
                // (stderr, the console); the current one gates new RFQs.
                self.counters
                    .note_problem(|| format!("{text} (holding events, retrying)"));
                self.counters.set_failing(Some(text));
                self.failing = Some(Failing {
                    next_try: now + RETRY_FIRST,
                    delay: RETRY_FIRST,
                });
                // Outcomes already held go to the journal now: from here on
                // every outcome not in the blotter is on disk there.
                let outcomes: Vec<crate::rfq::RfqEvent> = self
                    .held
                    .iter()
                    .filter_map(|record| match record {
                        Record::Event(event) if journal::is_outcome(event) => Some(event.clone()),
                        _ => None,
                    })
                    .collect();
                self.journal(&outcomes);
            }
        }
    }

    /// A batch is on disk: counts it, and its events that had no RFQ to
    /// attach to (never retried: they are lost).
    fn committed(&mut self, written: Written) {
        self.counters
            .rows
            .fetch_add(written.rows, Ordering::Relaxed);
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        self.counters
            .lost
            .fetch_add(written.orphans, Ordering::Relaxed);
        self.note_log_size();
        self.recovered();
    }

    /// The store's log size as sampled so far, into the shared counters.
    fn note_log_size(&self) {
        self.counters
            .wal_peak_bytes
            .fetch_max(self.store.log_peak_bytes(), Ordering::Relaxed);
    }

    /// A write went through: if writing was failing, say once that it
    /// works again.
    fn recovered(&mut self) {
        if self.failing.take().is_some() {
            tracing::warn!(path = %self.name, held = self.held.len(), "blotter writes again; held events written in order");
            self.counters.set_failing(None);
        }
    }

    /// Writes the first `count` held events one per transaction after a
    /// batch failed for a reason retrying cannot cure: each event that
    /// still fails is lost (counted and logged), the others are written.
    /// Returns `false` when a transient failure stopped it (the rest stay
    /// held, in order).
    fn write_one_by_one(&mut self, count: usize) -> bool {
        for _ in 0..count {
            match self.store.write_batch(self.held.iter().take(1)) {
                Ok(written) => self.committed(written),
                Err(error) if error.is_transient() => {
                    self.failed(&error);
                    return false;
                }
                Err(error) => {
                    self.counters.lost.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(path = %self.name, %error, record = ?self.held[0], "blotter record cannot be written; dropped");
                    self.counters.note_problem(|| {
                        format!(
                            "blotter '{}': an event cannot be written and is dropped: {error}",
                            self.name
                        )
                    });
                }
            }
            self.held.pop_front();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, AtomicU64};
    use std::sync::Mutex;

    use rust_decimal_macros::dec;

    use super::*;
    use crate::blotter::store::Retry;
    use crate::blotter::{Blotter, BlotterStats};
    use crate::lp::health::{HealthChange, HealthState};
    use crate::rfq::event::{EventKind, FailureKind, LpErrorEvent};
    use crate::rfq::RfqEvent;

    /// A store that fails batches as told and keeps a label per record it
    /// wrote (`poll 3`, `health A down`), in order: the policy seen without
    /// a database.
    struct ScriptedStore {
        /// Failures for the next batches, first first.
        failures: VecDeque<Retry>,
        /// While set, every batch fails as a full disk would.
        outage: Arc<AtomicBool>,
        /// Batches failed by the outage.
        outage_failures: Arc<AtomicU64>,
        /// A batch holding the record with this label fails for good (a
        /// record no retry can write).
        unwritable: Option<&'static str>,
        /// While set, the store says its file is gone (a write would still
        /// go through, as to an unlinked file).
        gone: Arc<AtomicBool>,
        written: Arc<Mutex<Vec<String>>>,
        closed: Arc<Mutex<bool>>,
    }

    fn label(record: &Record) -> String {
        match record {
            Record::Event(event) => match &event.kind {
                EventKind::LpError(e) => format!("poll {}", e.poll),
                _ => unreachable!("only LP errors are sent"),
            },
            Record::Health(recorded) => {
                format!("health {} {}", recorded.lp, recorded.change.state.as_str())
            }
        }
    }

    impl BlotterStore for ScriptedStore {
        fn write_batch<'r>(
            &mut self,
            records: impl Iterator<Item = &'r Record>,
        ) -> Result<Written, StoreError> {
            let records: Vec<&Record> = records.collect();
            if let Some(retry) = self.failures.pop_front() {
                return Err(StoreError::new(retry, "scripted failure"));
            }
            if self.outage.load(Ordering::SeqCst) {
                self.outage_failures.fetch_add(1, Ordering::SeqCst);
                return Err(StoreError::new(Retry::Later, "database or disk is full"));
            }
            let labels: Vec<String> = records.iter().map(|record| label(record)).collect();
            if labels
                .iter()
                .any(|label| Some(label.as_str()) == self.unwritable)
            {
                return Err(StoreError::new(Retry::Never, "cannot hold this value"));
            }
            let rows = records
                .iter()
                .filter(|record| matches!(record, Record::Event(_)))
                .count() as u64;
            self.written.lock().unwrap().extend(labels);
            Ok(Written { rows, orphans: 0 })
        }

        fn check(&mut self) -> Result<(), StoreError> {
            if self.gone.load(Ordering::SeqCst) {
                return Err(StoreError::new(Retry::Later, "its file was removed"));
            }
            Ok(())
        }

        fn close(&mut self) {
            *self.closed.lock().unwrap() = true;
        }
    }

    fn answer(poll: u32) -> RfqEvent {
        RfqEvent {
            kind: EventKind::LpError(LpErrorEvent {
                lp: "LP1".into(),
                kind: FailureKind::Declined,
                reason: "no".into(),
                latency_ms: 1,
                poll,
            }),
            rfq_id: "R1".into(),
            t_ms: u64::from(poll),
            two_way_side: None,
        }
    }

    /// LP `lp`'s breaker opening, as the LPs report it.
    fn down(lp: &str) -> RecordedChange {
        RecordedChange {
            lp: Arc::from(lp),
            at: chrono::DateTime::from_timestamp_millis(1_000).unwrap(),
            change: HealthChange {
                state: HealthState::Down,
                previous: HealthState::Ok,
                retry_in_ms: Some(30_000),
                reject_rate: dec!(10),
                reason: None,
                throttled: 0,
            },
        }
    }

    /// Records polls 1..=5 into a blotter over `store` and closes it.
    async fn record_five(store: ScriptedStore) -> BlotterStats {
        let blotter = Blotter::with_store(store, Path::new("scripted")).unwrap();
        let sink = blotter.sink();
        for poll in 1..=5 {
            sink.record(answer(poll)).await;
        }
        drop(sink);
        blotter.close().await
    }

    fn scripted(failures: &[Retry], unwritable: Option<&'static str>) -> ScriptedStore {
        ScriptedStore {
            failures: failures.iter().copied().collect(),
            outage: Arc::default(),
            outage_failures: Arc::default(),
            unwritable,
            gone: Arc::default(),
            written: Arc::default(),
            closed: Arc::default(),
        }
    }

    #[tokio::test]
    async fn transient_failures_hold_the_events_and_retry_them_in_order() {
        let store = scripted(&[Retry::Later, Retry::Later], None);
        let (written, closed) = (store.written.clone(), store.closed.clone());
        let stats = record_five(store).await;
        assert_eq!(
            *written.lock().unwrap(),
            ["poll 1", "poll 2", "poll 3", "poll 4", "poll 5"]
        );
        assert_eq!(
            (stats.rows, stats.failed_commits, stats.lost),
            (5, 2, 0),
            "{stats:?}"
        );
        assert!(
            *closed.lock().unwrap(),
            "the store is closed after the last batch"
        );
    }

    #[tokio::test]
    async fn an_event_no_retry_can_write_is_dropped_and_the_rest_are_written() {
        let store = scripted(&[], Some("poll 3"));
        let written = store.written.clone();
        let stats = record_five(store).await;
        assert_eq!(
            *written.lock().unwrap(),
            ["poll 1", "poll 2", "poll 4", "poll 5"]
        );
        assert_eq!(
            (stats.rows, stats.failed_commits, stats.lost),
            (4, 0, 1),
            "{stats:?}"
        );
    }

    #[tokio::test]
    async fn health_changes_are_held_while_the_store_fails_and_written_in_order_once_it_works() {
        let store = scripted(&[], None);
        let (written, outage, failures) = (
            store.written.clone(),
            store.outage.clone(),
            store.outage_failures.clone(),
        );
        outage.store(true, Ordering::SeqCst);
        let blotter = Blotter::with_store(store, Path::new("scripted")).unwrap();
        let (sink, health) = (blotter.sink(), blotter.health_sink());
        sink.record(answer(1)).await;
        health.record(down("A"));
        // Everything sent before a flush is held by the time it is answered.
        assert!(!sink.commit().await, "nothing is on disk during the outage");
        assert_eq!(sink.held(), 2, "the event and the health change are held");
        assert_eq!(
            sink.failure().as_deref(),
            Some("blotter 'scripted' cannot be written: database or disk is full"),
            "a failing store gates new RFQs, whatever record met the failure"
        );
        health.record(down("B"));
        assert!(!sink.commit().await);
        assert_eq!(sink.held(), 3);
        outage.store(false, Ordering::SeqCst);
        drop(sink);
        let stats = blotter.close().await;
        assert_eq!(
            *written.lock().unwrap(),
            ["poll 1", "health A down", "health B down"]
        );
        let failed = failures.load(Ordering::SeqCst);
        // The first try, and any retry the schedule made meanwhile.
        assert!(failed >= 1);
        // Health rows are not events: `rows` counts the one event.
        assert_eq!(
            (stats.rows, stats.failed_commits, stats.lost),
            (1, failed, 0),
            "{stats:?}"
        );
    }

    #[tokio::test]
    async fn health_changes_still_held_when_closing_gives_up_are_counted_as_lost() {
        let store = scripted(&[], None);
        let (written, outage) = (store.written.clone(), store.outage.clone());
        outage.store(true, Ordering::SeqCst);
        let blotter = Blotter::with_store(store, Path::new("scripted")).unwrap();
        let (sink, health) = (blotter.sink(), blotter.health_sink());
        health.record(down("A"));
        sink.record(answer(1)).await;
        assert!(!sink.commit().await);
        drop(sink);
        blotter.abandoner().abandon();
        let stats = blotter.close().await;
        assert!(written.lock().unwrap().is_empty());
        assert_eq!((stats.rows, stats.lost), (0, 2), "{stats:?}");
        // After the writer has ended, a change has nowhere to go.
        health.record(down("B"));
        assert_eq!(health.counters.lost.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_health_change_no_retry_can_write_is_dropped_and_the_rest_are_written() {
        let store = scripted(&[], Some("health X down"));
        let written = store.written.clone();
        let blotter = Blotter::with_store(store, Path::new("scripted")).unwrap();
        let health = blotter.health_sink();
        for lp in ["A", "X", "B"] {
            health.record(down(lp));
        }
        let stats = blotter.close().await;
        assert_eq!(*written.lock().unwrap(), ["health A down", "health B down"]);
        assert_eq!(
            (stats.rows, stats.failed_commits, stats.lost),
            (0, 0, 1),
            "{stats:?}"
        );
    }

    #[tokio::test]
    async fn a_store_that_says_its_file_is_gone_fails_writing_though_a_write_would_go_through() {
        let store = scripted(&[], None);
        let (written, gone) = (store.written.clone(), store.gone.clone());
        gone.store(true, Ordering::SeqCst);
        let blotter = Blotter::with_store(store, Path::new("scripted")).unwrap();
        let sink = blotter.sink();
        sink.record(answer(1)).await;
        assert!(
            !sink.commit().await,
            "nothing is written to a file that is gone"
        );
        assert_eq!(sink.held(), 1);
        assert_eq!(
            sink.failure().as_deref(),
            Some("blotter 'scripted' cannot be written: its file was removed")
        );
        assert!(written.lock().unwrap().is_empty());
        // Back (a store that can tell): the held event is written in order.
        gone.store(false, Ordering::SeqCst);
        sink.record(answer(2)).await;
        drop(sink);
        let stats = blotter.close().await;
        assert_eq!(*written.lock().unwrap(), ["poll 1", "poll 2"]);
        assert_eq!((stats.rows, stats.lost), (2, 0), "{stats:?}");
    }

    /// A full disk may clear, so closing retries it for CLOSE_WITHIN; a
    /// file that is gone will not come back, so closing gives up on it at
    /// once and what is held is accounted for (here, with no journal, as
    /// lost) instead of the operator waiting 10 s for the exit.
    #[tokio::test]
    async fn closing_gives_up_at_once_on_a_file_that_is_gone() {
        let store = scripted(&[], None);
        let gone = store.gone.clone();
        gone.store(true, Ordering::SeqCst);
        let blotter = Blotter::with_store(store, Path::new("scripted")).unwrap();
        let sink = blotter.sink();
        sink.record(answer(1)).await;
        assert!(!sink.commit().await);
        drop(sink);
        // The writer is a thread on real time: this bounds a real wait.
        let closing = std::time::Instant::now();
        let stats = blotter.close().await;
        assert!(
            closing.elapsed() < CLOSE_WITHIN / 2,
            "closing waited {:?} for a file that is gone",
            closing.elapsed()
        );
        assert_eq!((stats.rows, stats.lost), (0, 1), "{stats:?}");
    }

    #[tokio::test]
    async fn an_idle_writer_still_checks_its_store_within_a_second() {
        let store = scripted(&[], None);
        let gone = store.gone.clone();
        let blotter = Blotter::with_store(store, Path::new("scripted")).unwrap();
        let sink = blotter.sink();
        sink.record(answer(1)).await;
        assert!(sink.commit().await);
        gone.store(true, Ordering::SeqCst);
        // Nothing is sent: only the writer's own wake-ups can notice. The
        // writer is a thread on real time, so this waits on real time.
        let noticed = std::time::Instant::now();
        while sink.failure().is_none() {
            assert!(
                noticed.elapsed() < Duration::from_secs(1),
                "not noticed within a second"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        blotter.abandoner().abandon();
        drop(sink);
        blotter.close().await;
    }
}
