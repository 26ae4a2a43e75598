//! The quote blotter: every RFQ event on disk, in an SQLite file or a
//! PostgreSQL database ([`BlotterAt`]). One writer thread owns the store
//! (`store::BlotterStore`: [`SqliteStore`], [`postgres::PostgresStore`])
//! and applies one policy to it (`writer`); streams hand it
//! owned events through a bounded channel ([`BlotterSink`]), the LPs their
//! desk-wide health changes (`HealthSink`), and [`Blotter::close`]
//! commits everything before the program exits.
//! [`schema`] says how rows are stored (LP answers compactly, see
//! `compact`), [`read`] replays stored streams, [`report`] judges the LPs
//! from the rows a store yields (`report_rows`, SQLite's in
//! `sqlite_rows`, PostgreSQL's in `postgres`; computed in `figures`).

mod answer_summary;
pub mod client_orders;
mod compact;
pub mod desk_actions;
mod figures;
pub mod health;
pub mod journal;
mod live_tallies;
pub mod orders;
pub mod postgres;
pub mod read;
pub(crate) mod recent;
pub mod report;
mod report_model;
pub(crate) mod report_rows;
pub mod schema;
pub mod sqlite_orders;
mod sqlite_rows;
mod sqlite_store;
pub(crate) mod store;
mod writer;

pub use sqlite_store::{SqliteStore, WAL_TRUNCATE_AT};
pub use writer::{CHECK_EVERY, CLOSE_WITHIN, MAX_HELD};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::lp::guarded::{RecordHealth, RecordedChange};
use crate::rfq::RfqEvent;
use store::BlotterStore;

/// Why the blotter could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BlotterError {
    #[error("cannot open blotter '{}': {}", .path.display(), cause(.source, .path))]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("blotter '{}' has schema version {found}, newer than this lp-rfq understands ({supported}): upgrade lp-rfq or use another --blotter", path.display())]
    TooNew {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("blotter '{}' does not exist: nothing recorded yet", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read blotter '{}': {source}", path.display())]
    Read {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("blotter '{}' cannot be written: {}: fix its permissions or use another --blotter", .path.display(), cause(.source, .path))]
    NotWritable {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("blotter '{}' is damaged (integrity check: {detail}): restore it from a copy or use another --blotter", path.display())]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot start the blotter writer thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot open blotter '{url}': {detail}")]
    Database { url: String, detail: String },
    #[error("cannot merge the fallback journal '{}' into the blotter: {detail}: fix or move it aside, then start again", path.display())]
    Journal { path: PathBuf, detail: String },
}

/// Where the blotter is: an SQLite file (the embedded default) or a
/// PostgreSQL database (for desks on several machines).
#[derive(Debug, Clone, PartialEq)]
pub enum BlotterAt {
    File(PathBuf),
    Postgres(postgres::PgUrl),
}

impl std::fmt::Display for BlotterAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlotterAt::File(path) => write!(f, "{}", path.display()),
            BlotterAt::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl BlotterAt {
    /// How messages name it (the URL without its password, for a database).
    pub fn name(&self) -> PathBuf {
        match self {
            BlotterAt::File(path) => path.clone(),
            BlotterAt::Postgres(url) => PathBuf::from(url.to_string()),
        }
    }
}

/// SQLite's message without the path it sometimes repeats at the end
/// (the message already names it once).
fn cause(error: &rusqlite::Error, path: &Path) -> String {
    let text = error.to_string();
    let suffix = format!(": {}", path.display());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// Events waiting between the streams and the writer. Big enough to absorb
/// a burst from many sessions while a batch commits; when it is full the
/// sender waits (counted in [`BlotterStats::backpressure_waits`]).
pub(crate) const CHANNEL_CAPACITY: usize = 16 * 1024;

/// The room a stream waits for before it asks its LPs again: about one
/// poll's events (an answer per LP, a lock, a client quote), so that a
/// poll it starts can usually be handed on whole.
const ROOM_FOR_A_POLL: usize = 32;

/// What the writer thread receives.
enum Msg {
    Event(RfqEvent),
    /// Commit everything received before, then answer whether all of it
    /// is on disk.
    Flush(oneshot::Sender<bool>),
    /// A health change waits in the writer's health queue (see
    /// [`HealthSink`]): wakes an idle writer to take it.
    HealthWaiting,
    /// Time to check the store ([`CHECK_EVERY`]): wakes an idle writer.
    Check,
}

/// Counters shared by the sinks and the writer, for the console, the exit
/// warning and benchmarks.
#[derive(Debug, Default)]
struct Counters {
    rows: AtomicU64,
    commits: AtomicU64,
    backpressure_waits: AtomicU64,
    failed_commits: AtomicU64,
    lost: AtomicU64,
    /// Set once the first write problem is recorded in `problem`.
    troubled: AtomicBool,
    /// The first write problem, for the caller to show (the writer never
    /// writes to the terminal itself).
    problem: Mutex<Option<String>>,
    /// Set while writes fail (events are held); its text says why.
    failing: AtomicBool,
    failure: Mutex<Option<String>>,
    /// Set once the held buffer was full and an event was lost: streams
    /// must stop offering client quotes (a desk records every offer).
    overflowed: AtomicBool,
    /// Events held for writing right now.
    held: AtomicU64,
    /// Largest `-wal` file seen by the checkpointer.
    wal_peak_bytes: AtomicU64,
    /// Events in the fallback journal now (see [`journal`]).
    journalled: AtomicU64,
    /// Closing gives up retrying (a signal while closing).
    abandon: AtomicBool,
    /// Streams waiting for room in the channel ([`BlotterSink::wait_for_room`]),
    /// woken by the writer as it makes room.
    room: tokio::sync::Notify,
}

/// A snapshot of the blotter's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlotterStats {
    /// Rows committed (one per event; `ended` updates its RFQ row and
    /// counts as one).
    pub rows: u64,
    /// Transactions committed.
    pub(crate) commits: u64,
    /// Times a stream found the channel full and had to wait.
    pub(crate) backpressure_waits: u64,
    /// Batches whose commit failed (they are retried).
    pub failed_commits: u64,
    /// Events that could not be written at all.
    pub lost: u64,
    /// Largest size the WAL file reached, in bytes (sampled).
    pub(crate) wal_peak_bytes: u64,
    /// Events in the fallback journal, not in the blotter: merged at the
    /// next start (see [`journal`]).
    pub journalled: u64,
}

impl Counters {
    /// The writer took `received` events out of the channel: wakes as many
    /// streams waiting for room as that room serves (a poll each), or all
    /// of them once the channel is empty (so none is left waiting on a
    /// channel nobody fills).
    fn room_made(&self, received: usize, emptied: bool) {
        if emptied {
            self.room.notify_waiters();
        } else {
            for _ in 0..received.div_ceil(ROOM_FOR_A_POLL) {
                self.room.notify_one();
            }
        }
    }

    /// Remembers the first write problem; later ones are only logged.
    fn note_problem(&self, text: impl FnOnce() -> String) {
        if self.troubled.load(Ordering::Relaxed) {
            return;
        }
        let mut problem = self.problem.lock().unwrap_or_else(|p| p.into_inner());
        if problem.is_none() {
            *problem = Some(text());
            self.troubled.store(true, Ordering::Release);
        }
    }

    fn problem(&self) -> Option<String> {
        if !self.troubled.load(Ordering::Acquire) {
            return None;
        }
        self.problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn snapshot(&self) -> BlotterStats {
        BlotterStats {
            rows: self.rows.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            backpressure_waits: self.backpressure_waits.load(Ordering::Relaxed),
            failed_commits: self.failed_commits.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            wal_peak_bytes: self.wal_peak_bytes.load(Ordering::Relaxed),
            journalled: self.journalled.load(Ordering::Relaxed),
        }
    }

    /// Records whether writing fails now, and why.
    fn set_failing(&self, failure: Option<String>) {
        let failing = failure.is_some();
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = failure;
        self.failing.store(failing, Ordering::Release);
    }

    fn failure(&self) -> Option<String> {
        if !self.failing.load(Ordering::Acquire) {
            return None;
        }
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The sending side: cheap to clone, one per stream.
#[derive(Clone)]
pub struct BlotterSink {
    sender: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

impl BlotterSink {
    /// Hands `event` to the writer. Returns at once unless the channel is
    /// full; then it waits for room (never drops) and counts the wait.
    pub async fn record(&self, event: RfqEvent) {
        if let Some(event) = self.try_record(event) {
            self.record_when_room(event).await;
        }
    }

    /// Records `event` if the channel has room now; hands it back when
    /// it is full (then [`Self::record_when_room`] waits). Lets a caller
    /// keep the wait, which is rare, out of its own future.
    pub(crate) fn try_record(&self, event: RfqEvent) -> Option<RfqEvent> {
        match self.sender.try_send(Msg::Event(event)) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(Msg::Event(event))) => Some(event),
            Err(mpsc::error::TrySendError::Full(_)) => None,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Records `event`, waiting for room in the writer's channel (counted
    /// as back-pressure).
    pub(crate) async fn record_when_room(&self, event: RfqEvent) {
        let event = Msg::Event(event);
        let waits = self
            .counters
            .backpressure_waits
            .fetch_add(1, Ordering::Relaxed);
        // Log the 1st, 10th, 100th… wait, not every one: under overload
        // thousands of streams wait here, and the count says how often.
        let nth = waits + 1;
        if nth == 10u64.pow(nth.ilog10()) {
            tracing::warn!(
                waits = nth,
                "blotter channel full: the stream waits for the disk"
            );
        }
        // Boxed: this wait is the slow path, and its future (the event
        // and the channel's permit) would otherwise be part of every
        // stream's own future, thousands of them, all the time.
        if Box::pin(self.sender.send(event)).await.is_err() {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until the writer's channel has room for a poll's events (a
    /// stream calls it before asking its LPs, so that a full channel holds
    /// back new work rather than answers already in hand).
    pub(crate) async fn wait_for_room(&self) {
        // Not by taking a channel permit and giving it back: thousands of
        // streams queued on the channel's semaphore pass each freed slot
        // along the whole queue (each woken to give it back), under the
        // semaphore's lock, which the writer takes for every event it
        // receives (18 % of the CPU at 10,000 streams). Here a stream is
        // woken only when the writer has made room for its poll.
        let has_room = || self.sender.capacity() >= ROOM_FOR_A_POLL || self.sender.is_closed();
        loop {
            if has_room() {
                return;
            }
            let mut woken = std::pin::pin!(self.counters.room.notified());
            // Registered before looking again: room made in between
            // still wakes it.
            woken.as_mut().enable();
            if has_room() {
                return;
            }
            woken.await;
        }
    }

    /// Records `event` and waits until it and everything recorded before
    /// it is committed to disk. For events that must be durable before
    /// anyone sees them (a `filled`: no output may show FILLED for a trade
    /// the blotter could lose). Returns `false` when the commit failed, the
    /// event had to be dropped, or the writer is gone; [`Self::problem`]
    /// then says why. The cost is one commit round trip (the writer commits
    /// as soon as its channel runs dry).
    pub async fn record_and_commit(&self, event: RfqEvent) -> bool {
        self.record(event).await;
        self.commit().await
    }

    /// Waits until everything recorded before is committed (or has failed).
    pub async fn flush(&self) {
        self.commit().await;
    }

    /// [`Self::flush`], telling whether everything reached the disk.
    async fn commit(&self) -> bool {
        let (done, committed) = oneshot::channel();
        if self.sender.send(Msg::Flush(done)).await.is_err() {
            return false;
        }
        committed.await.unwrap_or(false)
    }

    pub fn stats(&self) -> BlotterStats {
        self.counters.snapshot()
    }

    /// Failed commits and lost events so far: the two counters that say
    /// the record is in trouble, read without the others (streams ask on
    /// every event).
    pub fn trouble(&self) -> (u64, u64) {
        (
            self.counters.failed_commits.load(Ordering::Relaxed),
            self.counters.lost.load(Ordering::Relaxed),
        )
    }

    /// Why writing fails right now (events are held and retried), e.g.
    /// `blotter 'b.db' cannot be written: database or disk is full`;
    /// `None` while writes go through. A desk starts no new RFQ meanwhile.
    pub fn failure(&self) -> Option<String> {
        self.counters.failure()
    }

    /// The held buffer was full and events were lost: a stream must stop
    /// offering client quotes, since they could no longer be recorded.
    pub fn overflowed(&self) -> bool {
        self.counters.overflowed.load(Ordering::Acquire)
    }

    /// Counts events a stream withheld because they could not be recorded.
    pub(crate) fn count_lost(&self, events: u64) {
        self.counters.lost.fetch_add(events, Ordering::Relaxed);
    }

    /// Events held for writing now.
    pub fn held(&self) -> u64 {
        self.counters.held.load(Ordering::Relaxed)
    }

    /// The first write problem, e.g. `blotter 'b.db': cannot write 12
    /// events (will retry): disk I/O error`; `None` while all is well.
    /// Cheap enough to ask after every event.
    pub fn problem(&self) -> Option<String> {
        self.counters.problem()
    }
}

/// Where the LPs' desk-wide health changes enter the blotter: into the
/// same writer, batches and policy as the events (held and retried while
/// the store fails, counted as lost when they cannot be written), as
/// `lp_health` rows. A change is reported from inside whichever stream
/// saw it, without an `.await`, so it cannot wait for room in the bounded
/// event channel: it goes into an unbounded queue of its own (changes are
/// rare) and a wake-up is offered on the channel. When the channel is
/// full the wake-up is not needed: the writer is busy taking what is
/// there and takes the health queue with it.
#[derive(Clone)]
pub(crate) struct HealthSink {
    changes: std::sync::mpsc::Sender<RecordedChange>,
    /// Weak: the writer ends once every stream's sink is gone, whoever
    /// still holds a health sink (the LPs keep theirs for the process).
    wake: mpsc::WeakSender<Msg>,
    counters: Arc<Counters>,
}

impl HealthSink {
    /// Hands `change` to the writer; never waits. After the writer has
    /// ended the change is counted as lost.
    pub fn record(&self, change: RecordedChange) {
        if self.changes.send(change).is_err() {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Some(wake) = self.wake.upgrade() {
            let _ = wake.try_send(Msg::HealthWaiting);
        }
    }
}

impl RecordHealth for HealthSink {
    fn record(&self, change: RecordedChange) {
        HealthSink::record(self, change);
    }
}

/// Wakes the writer every [`CHECK_EVERY`] so that an idle one still checks
/// its store (a file removed while nothing is written is noticed at once,
/// not at the next event). Weak: it ends with the writer's channel. A full
/// channel needs no wake-up (the writer is busy and checks as it commits).
fn wake_for_checks(wake: mpsc::WeakSender<Msg>) -> Result<(), BlotterError> {
    std::thread::Builder::new()
        .name("blotter-watch".into())
        .spawn(move || loop {
            std::thread::sleep(CHECK_EVERY);
            let Some(writer) = wake.upgrade() else {
                return;
            };
            let _ = writer.try_send(Msg::Check);
        })
        .map(drop)
        .map_err(BlotterError::Thread)
}

/// See [`Blotter::abandoner`].
#[derive(Clone)]
pub struct Abandon(Arc<Counters>);

impl Abandon {
    pub fn abandon(&self) {
        self.0.abandon.store(true, Ordering::Relaxed);
    }
}

/// The open blotter: owns the writer thread.
pub struct Blotter {
    path: PathBuf,
    /// The database, for a PostgreSQL blotter (`path` is then its name):
    /// its orders are read on a connection of their own.
    database: Option<postgres::PgUrl>,
    sink: BlotterSink,
    health: HealthSink,
    writer: JoinHandle<()>,
    journal: Option<PathBuf>,
    merged: Option<String>,
}

/// Writes what an earlier run left in the fallback journal at `journal`
/// into `store`, in one transaction, and removes the journal; says what it
/// merged. Events whose RFQ the store does not hold are kept aside in
/// `<journal>.unmerged` (and said), never dropped unseen.
fn merge_journal(
    store: &mut impl BlotterStore,
    journal: &Path,
) -> Result<Option<String>, BlotterError> {
    let failed = |detail: String| BlotterError::Journal {
        path: journal.to_path_buf(),
        detail,
    };
    let events = journal::read(journal).map_err(|error| failed(error.to_string()))?;
    if events.is_empty() {
        return Ok(None);
    }
    let records: Vec<store::Record> = events.into_iter().map(store::Record::Event).collect();
    let written = store
        .write_batch(records.iter())
        .map_err(|error| failed(error.to_string()))?;
    let mut said = format!(
        "merged {} events from the fallback journal '{}' into the blotter",
        records.len() as u64 - written.orphans,
        journal.display()
    );
    if written.orphans > 0 {
        let aside = unused_aside(journal);
        std::fs::rename(journal, &aside).map_err(|error| failed(error.to_string()))?;
        said.push_str(&format!(
            "; {} belong to no RFQ in it and are kept in '{}'",
            written.orphans,
            aside.display()
        ));
    } else {
        journal::rewrite(journal, []).map_err(|error| failed(error.to_string()))?;
    }
    tracing::warn!("{said}");
    Ok(Some(said))
}

/// `name` with anything but letters, digits, '-', '_' and '.' made '_', so
/// it can be part of a file name.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Where a journal's events that belong to no stored RFQ are kept:
/// `<journal>.unmerged`, or `.unmerged.2`, `.3`, ... when an earlier run
/// already kept some there, so one run's leftovers never replace
/// another's.
fn unused_aside(journal: &Path) -> PathBuf {
    let named = |suffix: String| {
        let mut aside = journal.as_os_str().to_owned();
        aside.push(suffix);
        PathBuf::from(aside)
    };
    let first = named(".unmerged".to_string());
    if !first.exists() {
        return first;
    }
    (2u32..)
        .map(|n| named(format!(".unmerged.{n}")))
        .find(|aside| !aside.exists())
        .expect("some numbered name is free")
}

#[cfg(test)]
mod aside_tests {
    use super::unused_aside;

    #[test]
    fn an_earlier_runs_unmerged_events_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("b.db.journal");
        assert_eq!(
            unused_aside(&journal),
            dir.path().join("b.db.journal.unmerged")
        );
        std::fs::write(dir.path().join("b.db.journal.unmerged"), "first run").unwrap();
        assert_eq!(
            unused_aside(&journal),
            dir.path().join("b.db.journal.unmerged.2")
        );
        std::fs::write(dir.path().join("b.db.journal.unmerged.2"), "second run").unwrap();
        assert_eq!(
            unused_aside(&journal),
            dir.path().join("b.db.journal.unmerged.3")
        );
    }
}

impl Blotter {
    /// Opens (creating if needed) and upgrades the blotter at `path` and
    /// starts its writer thread. Fails, naming the path and the cause, when
    /// the file cannot be used.
    pub fn open(path: &Path) -> Result<Blotter, BlotterError> {
        Blotter::open_with_timeout(path, schema::BUSY_TIMEOUT)
    }

    /// Opens the blotter `at` and starts its writer thread; `desk` names
    /// this desk in a shared database's rows. A PostgreSQL blotter keeps
    /// its fallback journal in the working directory
    /// (`<database>-<desk>.journal`): the journal is this desk's own.
    pub fn open_at(at: &BlotterAt, desk: &str) -> Result<Blotter, BlotterError> {
        match at {
            BlotterAt::File(path) => {
                let conn = schema::open(path, true, schema::BUSY_TIMEOUT)?;
                let store = SqliteStore::new(conn, path).for_desk(desk);
                Blotter::with_journal(store, path, journal::beside(path))
            }
            BlotterAt::Postgres(url) => postgres::off_runtime(|| {
                let store = postgres::PostgresStore::open(url, desk)?;
                let journal = PathBuf::from(format!(
                    "{}-{}.journal",
                    file_safe(url.dbname()),
                    file_safe(desk)
                ));
                let mut blotter = Blotter::with_journal(store, &at.name(), journal)?;
                blotter.database = Some(url.clone());
                Ok(blotter)
            }),
        }
    }

    /// [`Blotter::open`] with its own busy timeout (tests use a short one).
    ///
    /// A fallback journal left beside it (see [`journal`]) is merged first;
    /// [`Blotter::merged`] says what was.
    pub fn open_with_timeout(path: &Path, busy: Duration) -> Result<Blotter, BlotterError> {
        let conn = schema::open(path, true, busy)?;
        let store = SqliteStore::new(conn, path);
        Blotter::with_journal(store, path, journal::beside(path))
    }

    /// Starts the writer thread over `store`, an open store that `path`
    /// names in messages: the same policy (batching, holding, retrying,
    /// failing closed) whatever the store. It keeps no fallback journal.
    pub fn with_store(store: impl BlotterStore, path: &Path) -> Result<Blotter, BlotterError> {
        Blotter::start(store, path, None, None)
    }

    /// [`Blotter::with_store`] keeping the fallback journal at `journal`:
    /// what an earlier run left there is merged into `store` first.
    pub(crate) fn with_journal(
        mut store: impl BlotterStore,
        path: &Path,
        journal: PathBuf,
    ) -> Result<Blotter, BlotterError> {
        let merged = merge_journal(&mut store, &journal)?;
        Blotter::start(store, path, Some(journal), merged)
    }

    fn start(
        store: impl BlotterStore,
        path: &Path,
        journal: Option<PathBuf>,
        merged: Option<String>,
    ) -> Result<Blotter, BlotterError> {
        let counters = Arc::new(Counters::default());
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        let (changes, health_changes) = std::sync::mpsc::channel();
        let name = path.display().to_string();
        let mut writer =
            writer::Writer::new(store, name, receiver, health_changes, counters.clone());
        if let Some(journal) = &journal {
            writer = writer.with_journal(journal.clone());
        }
        let writer = std::thread::Builder::new()
            .name("blotter-writer".into())
            .spawn(move || writer.run())
            .map_err(BlotterError::Thread)?;
        let health = HealthSink {
            changes,
            wake: sender.downgrade(),
            counters: counters.clone(),
        };
        wake_for_checks(sender.downgrade())?;
        Ok(Blotter {
            path: path.to_path_buf(),
            database: None,
            sink: BlotterSink { sender, counters },
            health,
            writer,
            journal,
            merged,
        })
    }

    /// The fallback journal's path, if this blotter keeps one.
    pub fn journal(&self) -> Option<&Path> {
        self.journal.as_deref()
    }

    /// What opening merged from a fallback journal an earlier run left,
    /// e.g. `merged 2 events from the fallback journal 'b.db.journal' into
    /// the blotter`, for the caller to show; `None` when there was none.
    pub fn merged(&self) -> Option<&str> {
        self.merged.as_deref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The orders this blotter holds, through a connection of their own
    /// (start-up reconciliation reads and appends there while the writer
    /// keeps its own).
    pub(crate) fn order_records(&self) -> Result<Box<dyn store::OrderRecords>, BlotterError> {
        match &self.database {
            Some(url) => Ok(Box::new(postgres::PgOrders::open(url)?)),
            None => Ok(Box::new(sqlite_orders::SqliteOrders::open(&self.path)?)),
        }
    }

    /// The record of the client API's orders in this blotter's store,
    /// through a connection of its own.
    pub(crate) fn client_order_records(
        &self,
    ) -> Result<Box<dyn client_orders::ClientOrderRecords>, BlotterError> {
        match &self.database {
            Some(url) => Ok(Box::new(postgres::PgClientOrders::open(url)?)),
            None => Ok(Box::new(client_orders::SqliteClientOrders::open(
                &self.path,
            )?)),
        }
    }

    /// The record of the desk server's operators' actions in this
    /// blotter's store, as desk `desk` writes them, through a connection
    /// of its own.
    pub(crate) fn desk_action_records(
        &self,
        desk: &str,
    ) -> Result<Box<dyn desk_actions::DeskActionRecords>, BlotterError> {
        match &self.database {
            Some(url) => Ok(Box::new(postgres::PgDeskActions::open(url, desk)?)),
            None => Ok(Box::new(desk_actions::SqliteDeskActions::open(
                &self.path, desk,
            )?)),
        }
    }

    /// A sender for one stream (or many).
    pub fn sink(&self) -> BlotterSink {
        self.sink.clone()
    }

    /// Where the LPs' health changes go (`lp_health` rows).
    pub(crate) fn health_sink(&self) -> HealthSink {
        self.health.clone()
    }

    pub fn stats(&self) -> BlotterStats {
        self.sink.stats()
    }

    /// See [`BlotterSink::problem`].
    pub fn problem(&self) -> Option<String> {
        self.sink.problem()
    }

    /// See [`BlotterSink::failure`].
    pub fn failure(&self) -> Option<String> {
        self.sink.failure()
    }

    /// A handle that makes a running [`Blotter::close`] give up retrying
    /// held events (a signal while closing): they are counted as lost.
    pub fn abandoner(&self) -> Abandon {
        Abandon(self.sink.counters.clone())
    }

    /// Commits every event recorded so far and stops the writer. The writer
    /// ends once every sink is dropped, so streams still running are
    /// written to their `ended` event first; stop them before closing.
    /// Held events are retried for at most [`writer::CLOSE_WITHIN`] (or
    /// until [`Abandon::abandon`]); the rest count as lost.
    pub async fn close(self) -> BlotterStats {
        let Blotter { sink, writer, .. } = self;
        // Health changes sent before this are taken by the writer as it
        // ends; later ones count as lost.
        let counters = sink.counters.clone();
        drop(sink);
        // Joining blocks; keep it off the async workers.
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        counters.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A sink over a channel no writer drains: the test plays the writer.
    fn full_sink() -> (BlotterSink, mpsc::Receiver<Msg>) {
        let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
        while sender.try_send(Msg::Flush(oneshot::channel().0)).is_ok() {}
        let counters = Arc::new(Counters::default());
        (BlotterSink { sender, counters }, receiver)
    }

    #[tokio::test]
    #[cfg(unix)]
    async fn a_new_blotter_and_its_wal_and_shm_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blotter.db");
        let blotter = Blotter::open(&path).unwrap();
        let with = |suffix: &str| PathBuf::from(format!("{}{suffix}", path.display()));
        assert_eq!(
            (mode(&path), mode(&with("-wal")), mode(&with("-shm"))),
            (0o600, 0o600, 0o600)
        );
        blotter.close().await;
    }

    async fn still_waiting(task: &tokio::task::JoinHandle<()>) -> bool {
        // Let the woken tasks run before looking.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        !task.is_finished()
    }

    #[tokio::test]
    async fn a_stream_waits_until_the_writer_has_made_room_for_a_poll() {
        let (sink, mut receiver) = full_sink();
        let waiting = tokio::spawn({
            let sink = sink.clone();
            async move { sink.wait_for_room().await }
        });
        assert!(still_waiting(&waiting).await);
        // Room for less than a poll: not yet.
        for _ in 0..ROOM_FOR_A_POLL - 1 {
            receiver.try_recv().unwrap();
        }
        sink.counters.room_made(ROOM_FOR_A_POLL - 1, false);
        assert!(still_waiting(&waiting).await);
        receiver.try_recv().unwrap();
        sink.counters.room_made(1, false);
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("woken once there is room for a poll")
            .unwrap();
    }

    #[tokio::test]
    async fn an_emptied_channel_wakes_every_waiting_stream_and_a_closed_one_waits_for_nothing() {
        let (sink, mut receiver) = full_sink();
        let waiting: Vec<_> = (0..3)
            .map(|_| {
                let sink = sink.clone();
                tokio::spawn(async move { sink.wait_for_room().await })
            })
            .collect();
        for task in &waiting {
            assert!(still_waiting(task).await);
        }
        let mut received = 0;
        while receiver.try_recv().is_ok() {
            received += 1;
        }
        sink.counters.room_made(received, true);
        for task in waiting {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("woken when the channel is empty")
                .unwrap();
        }
        // A full channel whose writer is gone holds nobody back.
        let (sink, receiver) = full_sink();
        drop(receiver);
        tokio::time::timeout(Duration::from_secs(10), sink.wait_for_room())
            .await
            .expect("no wait on a closed channel");
    }
}
