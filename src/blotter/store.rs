//! What the blotter's writer needs from a database: the [`BlotterStore`]
//! trait, fed [`Record`]s (the streams' events and the LPs' health
//! changes), with failures classified so that one policy (batching, holding,
//! retrying, failing closed: `writer`) serves every store: SQLite's
//! (`sqlite_store`) and PostgreSQL's (`postgres::store`).

use super::orders::{Learned, OrderOnRecord};
use crate::lp::guarded::RecordedChange;
use crate::rfq::RfqEvent;

/// One thing the writer holds and hands to its store: a stream's event, or
/// a desk-wide change of an LP's health (its own row, not tied to an RFQ).
/// Both go through the same batches, so they are held, retried and, when
/// they cannot be written, counted as lost alike.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Event(RfqEvent),
    /// Rare (a breaker opening, a pause): boxed, so that the events, which
    /// are nearly every record, are not made bigger by it.
    Health(Box<RecordedChange>),
}

/// A database the blotter's records go into. The writer owns its store on
/// its own thread and calls it with batches of records in the order they
/// reached the writer.
pub trait BlotterStore: Send + 'static {
    /// Writes `records` (oldest first) in one transaction: all of them, or
    /// on error none of them, and then whatever the store learnt while
    /// writing them (new LP ids, where an RFQ's rows are) is forgotten
    /// too, so the same records can be written again later. An event for
    /// an RFQ whose `started` this store never wrote cannot be attached
    /// to anything: it is skipped and counted in [`Written::orphans`].
    fn write_batch<'r>(
        &mut self,
        records: impl Iterator<Item = &'r Record>,
    ) -> Result<Written, StoreError>;

    /// The largest size the store's write-ahead log reached, in bytes
    /// (0 for a store without one). Sampled by the store; the writer
    /// copies it into [`super::BlotterStats::wal_peak_bytes`].
    fn log_peak_bytes(&self) -> u64 {
        0
    }

    /// Whether the store can still take writes, as far as can be seen
    /// without writing: the writer asks at least once a second (every
    /// [`super::CHECK_EVERY`]) and before each retry. An error fails
    /// writing as a failed batch does (events held, streams stop offering):
    /// for SQLite, its file removed, replaced by another, or damaged, none
    /// of which a write to the open file would notice.
    fn check(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Leaves the store complete after the last batch; nothing is written
    /// after it.
    fn close(&mut self);
}

/// The orders a store holds, for start-up reconciliation and `lp-rfq
/// orders`: read apart from the writer (on a connection of their own),
/// and an outcome learned later from a venue appended as a new row, never
/// a change to an earlier one. SQLite's is `sqlite_orders::SqliteOrders`.
pub trait OrderRecords: Send {
    /// Every order still without an outcome (its latest answer unknown,
    /// or none at all), oldest first.
    fn unresolved(&mut self) -> Result<Vec<OrderOnRecord>, StoreError>;

    /// The last `limit` orders sent, newest first.
    fn recent(&mut self, limit: usize) -> Result<Vec<OrderOnRecord>, StoreError>;

    /// Appends what the venue said of `order` after every row of its RFQ,
    /// tagged `reconciled_by = how` and `reconciled_at = at_ms` (UTC ms),
    /// in one transaction: a fill with the client's side of the trade
    /// from the accepted client quote and the desk's P&L at the venue's
    /// price. An RFQ that never ended (its process died with the order
    /// out) is marked ended by the same transaction, with the outcome
    /// learned (`filled` or `not_filled`). Returns false, writing
    /// nothing, when the order already has an outcome (another process
    /// resolved it meanwhile).
    fn append_outcome(
        &mut self,
        order: &OrderOnRecord,
        learned: &Learned,
        how: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// What one batch wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows written, one per event (`ended` updates its RFQ's row and
    /// counts as one). Health rows are not counted: the blotter's `rows`
    /// counts the streams' events.
    pub rows: u64,
    /// Events skipped because their RFQ's `started` never reached this
    /// store.
    pub(crate) orphans: u64,
}

/// Whether trying the same batch again can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// The failure may pass (another writer holds the lock, the disk is
    /// full or failing), or the store itself is broken (its file removed
    /// or damaged): hold the records, fail closed, and try again later.
    Later,
    /// The same records would fail again (a constraint, a value the store
    /// cannot hold): find the record that fails and drop it.
    Never,
}

/// A batch that could not be written, and whether retrying may help. Its
/// text is the store's own message (what the operator is shown).
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct StoreError {
    pub(crate) retry: Retry,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    pub(crate) fn new(
        retry: Retry,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError {
            retry,
            source: source.into(),
        }
    }

    pub(crate) fn is_transient(&self) -> bool {
        self.retry == Retry::Later
    }
}
