//! What the report reads from a store: the rows its figures need, named
//! without a database, and the [`ReportRows`] trait each store implements
//! to yield them (SQLite's is `sqlite_rows`). The figures (`figures`,
//! `health`) are computed from these rows alone.
//!
//! Rows carry the store's ids because the figures need their order: LP
//! answers are numbered in the order they were written (ids only grow),
//! and each RFQ knows the span of answer ids that can be its own
//! (`answers_from` when it started, `answers_to` when it ended).

use std::collections::HashMap;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::answer_summary::AnswerSummary;
use super::report_model::Filter;
use crate::market::Side;
use crate::rfq::event::FailureKind;

/// A stored RFQ as the report lists it.
#[derive(Debug, Clone)]
pub(crate) struct RfqRow {
    /// The store's id of the RFQ (RFQ ids repeat across processes).
    pub(crate) row: i64,
    pub rfq_id: String,
    pub(crate) started_at: String,
    pub side: String,
    pub(crate) amount: String,
    pub(crate) pair: String,
    /// The pair's quote asset (the pairs section's currency).
    pub quote: String,
    /// The LPs it asked, in the order it asked them.
    pub lps: Vec<String>,
    pub(crate) end_t_ms: Option<u64>,
    pub(crate) end_reason: Option<String>,
    pub(crate) improvements: Option<u64>,
    pub(crate) final_lp: Option<String>,
    pub(crate) final_client_price: Option<String>,
    pub outcome: Option<String>,
    /// The first answer id that can be its own.
    pub(crate) answers_from: i64,
    /// Its last answer's id once it ended (`answers_from - 1`: none).
    pub(crate) answers_to: Option<i64>,
    pub(crate) lp_timeout_ms: u64,
    /// Whom the request was for.
    pub(crate) client: String,
    /// The desk server operator who asked (`rfqs.operator`), if any.
    pub(crate) operator: Option<String>,
    /// Quoted on both sides (`rfqs.two_way`).
    pub(crate) two_way: bool,
    /// On a two-way RFQ, the side of the quote the client accepted, if it
    /// accepted one.
    pub(crate) accepted_side: Option<String>,
    /// The desk server operator whose accept sent its order
    /// (`desk_actions`), when it was recorded: a head of desk attached to
    /// another's RFQ. `None`: the RFQ's own operator, or no accept.
    pub(crate) accepted_by: Option<String>,
}

/// An RFQ's store id and the first and last answer ids that can be its
/// own.
pub(crate) type AnswerSpan = (i64, (i64, i64));

/// Which answers a reader yields: ids `first_id..=last_id` of RFQs with
/// store ids `first_rfq..=last_rfq`, failures only of `only_lp` if given
/// (every quote still counts: it may be a poll's best).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnswerRange {
    pub(crate) first_id: i64,
    pub(crate) last_id: i64,
    pub(crate) first_rfq: i64,
    pub(crate) last_rfq: i64,
    /// An LP's store id; an id no LP has (e.g. -1) leaves no failures.
    pub(crate) only_lp: Option<i64>,
}

/// One LP answer, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnswerRow {
    pub(crate) id: i64,
    /// The store id of its RFQ.
    pub(crate) rfq: i64,
    pub t_ms: u64,
    /// The store id of its LP (see [`ReportRows::lp_names`]).
    pub lp: i64,
    pub(crate) poll: u32,
    pub(crate) latency_ms: u64,
    pub(crate) answered: Answered,
    /// On a two-way RFQ, the side the answer was for; `None`: the RFQ's.
    pub(crate) side: Option<Side>,
}

/// What an LP answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    Quote(Decimal),
    /// `None`: a failure kind this version does not know (not counted).
    Failed(Option<FailureKind>),
}

/// A lock event of an RFQ, in its stream's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LockRow<'a> {
    pub(crate) rfq: i64,
    pub t_ms: u64,
    /// `locked` (otherwise `lock_expired`).
    pub(crate) locked: bool,
    pub lp: &'a str,
    pub(crate) reason: Option<&'a str>,
    /// On a two-way RFQ, the side whose lock it is; `None`: the RFQ's.
    pub(crate) side: Option<&'a str>,
}

/// An execution event of an RFQ, in its stream's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExecutionRow<'a> {
    pub(crate) rfq: i64,
    pub t_ms: u64,
    /// The event's wire name (`order_sent`, `filled`, …).
    pub(crate) event: &'a str,
    /// `None` for a `not_filled`, which names no LP.
    pub lp: Option<&'a str>,
    pub(crate) lp_price: Option<&'a str>,
    pub(crate) amount: Option<&'a str>,
    pub(crate) hold_ms: Option<u64>,
    pub(crate) desk_pnl: Option<&'a str>,
    pub(crate) order_id: Option<&'a str>,
    /// On an `order_sent`: the id the venue saw.
    pub(crate) client_order_id: Option<&'a str>,
    /// On an answer: the venue's own id for the order.
    pub(crate) venue_order_id: Option<&'a str>,
    pub(crate) venue_ref: Option<&'a str>,
    /// How an outcome learned after the stream was learned; `None` for
    /// the stream's own events.
    pub(crate) reconciled_by: Option<&'a str>,
}

/// One recorded change of an LP's health, in the order recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HealthRow<'a> {
    pub lp: &'a str,
    pub(crate) at_ms: i64,
    /// The state's wire name.
    pub state: &'a str,
    pub retry_in_ms: Option<i64>,
    pub(crate) reject_rate: &'a str,
    pub(crate) throttled: i64,
}

/// Yields LP answers; the report's answers pass runs one reader per
/// worker thread.
pub(crate) trait AnswerRows {
    type Error;

    /// The answers in `range` of the RFQs `wanted` takes (by store id;
    /// the others' are skipped before they are decoded), in id order.
    fn answers(
        &mut self,
        range: &AnswerRange,
        wanted: impl Fn(i64) -> bool,
        each: impl FnMut(AnswerRow),
    ) -> Result<(), Self::Error>;
}

/// The rows a store gives the report. Everything is read from one
/// snapshot between [`Self::begin`] and [`Self::end`] while a writer may
/// be appending; the extra readers stop at the snapshot's last answer id.
pub(crate) trait ReportRows: AnswerRows {
    /// A reader for another thread of the answers pass.
    type Reader: AnswerRows<Error = Self::Error> + Send;

    fn begin(&mut self) -> Result<(), Self::Error>;
    /// Ends the snapshot (nothing was written: nothing can be lost).
    fn end(&mut self) -> Result<(), Self::Error>;

    /// How many readers may count answers at once (1: only this one).
    fn readers(&self) -> usize;
    /// Another reader on the same store, for a worker thread.
    fn reader(&self) -> Result<Self::Reader, Self::Error>;

    /// Every LP any stored RFQ asked, in order of first appearance.
    fn lps_asked(&mut self) -> Result<Vec<String>, Self::Error>;
    /// Every LP that was a simulation in some stored RFQ, sorted.
    fn simulated_lps(&mut self) -> Result<Vec<String>, Self::Error>;
    /// The RFQs the filter selects (time, pair, an LP asked, the client,
    /// the operator, the last N),
    /// oldest first.
    fn rfqs(&mut self, filter: &Filter) -> Result<Vec<RfqRow>, Self::Error>;
    /// The id of the last answer in the snapshot (0: none).
    fn last_answer_id(&mut self) -> Result<i64, Self::Error>;
    /// Every stored RFQ's answer id span (`answers_to` of a running one is
    /// `last_answer`), by the RFQ's store id: the answers pass estimates
    /// from them how to share its work.
    fn answer_spans(&mut self, last_answer: i64) -> Result<Vec<AnswerSpan>, Self::Error>;
    /// The LPs' store ids and names.
    fn lp_names(&mut self) -> Result<HashMap<i64, Arc<str>>, Self::Error>;
    /// The store id of the LP named `name`, if it answered anything.
    fn lp_id(&mut self, name: &str) -> Result<Option<i64>, Self::Error>;
    /// The `answer_summaries` rows of the RFQs with store ids
    /// `first..=last` that are `selected` (none from a store older than the
    /// table): the others' rows in the span are skipped before they are
    /// decoded.
    fn answer_summaries(
        &mut self,
        rfqs: (i64, i64),
        selected: impl Fn(i64) -> bool,
        each: impl FnMut(AnswerSummary),
    ) -> Result<(), Self::Error>;
    /// Lock events of RFQs with store ids `first..=last`, by RFQ then in
    /// stream order.
    fn locks(&mut self, rfqs: (i64, i64), each: impl FnMut(LockRow<'_>))
        -> Result<(), Self::Error>;
    /// Execution events of RFQs with store ids `first..=last`, by RFQ then
    /// in stream order.
    fn executions(
        &mut self,
        rfqs: (i64, i64),
        each: impl FnMut(ExecutionRow<'_>),
    ) -> Result<(), Self::Error>;
    /// Stream time of the RFQ's last client quote (the length of a stream
    /// that never ended, with its answers).
    fn last_client_quote_ms(&mut self, rfq: i64) -> Result<Option<u64>, Self::Error>;
    /// LP health changes recorded in the filter's time window (and of its
    /// LP only, if it names one), in the order recorded.
    fn health(
        &mut self,
        filter: &Filter,
        each: impl FnMut(HealthRow<'_>),
    ) -> Result<(), Self::Error>;
    /// The desk's reference prices as the store keeps them (read when the
    /// desk opens): every `locked` event with a price at or after unix ms
    /// `since_ms`, oldest first, leaving out the locks of a simulated LP
    /// (the RFQ's `simulated_lps` names it) and every lock of an RFQ in
    /// which the operator released a price (a `released` lock event):
    /// those may rest on a simulation or on the operator's word alone.
    fn recent_locks(&mut self, since_ms: i64) -> Result<Vec<RecentLock>, Self::Error>;
    /// Every fill recorded at or after unix ms `since_ms`, oldest first,
    /// as the clients' daily limits count them (read when the desk opens,
    /// so that what a client filled today survives a restart).
    fn client_fills(&mut self, since_ms: i64) -> Result<Vec<ClientFill>, Self::Error>;
}

/// One fill as a client's daily limit counts it: the client, the pair's
/// quote currency and the notional the client paid or received in it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClientFill {
    pub(crate) client: crate::rfq::ClientId,
    pub(crate) asset: crate::market::Asset,
    pub(crate) notional: Decimal,
}

/// One corroborated lock of a real LP: pair symbol, LP price, unix ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecentLock {
    pub pair: String,
    pub price: Decimal,
    pub at_ms: i64,
}
