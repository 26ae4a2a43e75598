//! What the blotter's writer needs from a database: the [`BlotterStore`]
//! trait, with failures classified so that one policy (batching, holding,
//! retrying, failing closed: `writer`) serves every store. SQLite
//! implements it today (`sqlite_store`); a PostgreSQL store slots in beside
//! it without touching the policy.

use crate::rfq::RfqEvent;

/// A database the blotter's events go into. The writer owns its store on
/// its own thread and calls it with batches of events in the order the
/// streams sent them.
pub trait BlotterStore: Send + 'static {
    /// Writes `events` (oldest first) in one transaction: all of them, or
    /// on error none of them, and then whatever the store learnt while
    /// writing them (new LP ids, where an RFQ's rows are) is forgotten
    /// too, so the same events can be written again later. An event for
    /// an RFQ whose `started` this store never wrote cannot be attached
    /// to anything: it is skipped and counted in [`Written::orphans`].
    fn write_batch<'e>(
        &mut self,
        events: impl Iterator<Item = &'e RfqEvent>,
    ) -> Result<Written, StoreError>;

    /// The largest size the store's write-ahead log reached, in bytes
    /// (0 for a store without one). Sampled by the store; the writer
    /// copies it into [`super::BlotterStats::wal_peak_bytes`].
    fn log_peak_bytes(&self) -> u64 {
        0
    }

    /// Leaves the store complete after the last batch; nothing is written
    /// after it.
    fn close(&mut self);
}

/// What one batch wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows written, one per event (`ended` updates its RFQ's row and
    /// counts as one).
    pub rows: u64,
    /// Events skipped because their RFQ's `started` never reached this
    /// store.
    pub orphans: u64,
}

/// Whether trying the same batch again can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The failure may pass (another writer holds the lock, the disk is
    /// full or failing): hold the events and try again later.
    Later,
    /// The same events would fail again (a constraint, a value the store
    /// cannot hold): find the event that fails and drop it.
    Never,
}

/// A batch that could not be written, and whether retrying may help. Its
/// text is the store's own message (what the operator is shown).
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct StoreError {
    pub retry: Retry,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    pub fn new(retry: Retry, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError {
            retry,
            source: source.into(),
        }
    }

    pub fn is_transient(&self) -> bool {
        self.retry == Retry::Later
    }
}
