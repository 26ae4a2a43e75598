//! The report's figures computed in one sequential pass over each table:
//! LP answers are read once in id order (never through a per-RFQ index,
//! whose random page reads made a report of millions of answers take
//! seconds), latencies and hold times go into per-LP histograms of whole
//! milliseconds, and each poll's answers are kept only until the poll can
//! no longer change. Memory depends on the RFQs and LPs selected and on how
//! many polls run at once, not on how many answers are stored. The answers
//! pass runs on every core: each worker counts a run of whole RFQs with
//! its own reader ([`Split`], `scan_answers`). An ended RFQ whose writer
//! counted its answers as it wrote them ([`RfqAnswers`], with this same
//! code) is read from its `answer_summaries` rows instead, and only the
//! other RFQs are scanned ([`Answers`]). The rows come from the store's
//! [`ReportRows`]: nothing here knows which database it reads.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::str::FromStr;

use rust_decimal::Decimal;

use super::answer_summary::AnswerSummary;
use super::report_model::{
    ClientFigures, Filter, LpFigures, OperatorFigures, PairFigures, Report, RfqLine,
};
use super::report_rows::{AnswerRange, AnswerRow, AnswerRows, Answered, ReportRows, RfqRow};
use crate::market::Side;
use crate::rfq::event::FailureKind;

/// Counts of whole-millisecond values: exact nearest-rank percentiles in
/// memory that depends on the spread of the values, not their number.
#[derive(Debug, Default, Clone)]
pub(crate) struct Histogram {
    /// Counts of 0..DENSE ms, grown only as far as the largest value seen.
    dense: Vec<u64>,
    /// Counts of larger values (rare: answers slower than a minute).
    sparse: BTreeMap<u64, u64>,
    count: u64,
}

/// Values below this are counted in a vector (8 bytes per ms up to the
/// largest one seen: 8 KB for LPs answering within a second).
const DENSE: u64 = 1 << 16;

impl Histogram {
    pub(crate) fn add(&mut self, value: u64) {
        self.add_count(value, 1);
    }

    /// Counts `value` `count` times.
    pub(crate) fn add_count(&mut self, value: u64, count: u64) {
        self.count += count;
        if value < DENSE {
            let at = value as usize;
            if self.dense.len() <= at {
                self.dense.resize(at + 1, 0);
            }
            self.dense[at] += count;
        } else {
            *self.sparse.entry(value).or_default() += count;
        }
    }

    /// Adds another histogram's counts to this one.
    pub(crate) fn absorb(&mut self, other: Histogram) {
        if self.dense.len() < other.dense.len() {
            self.dense.resize(other.dense.len(), 0);
        }
        for (mine, theirs) in self.dense.iter_mut().zip(other.dense) {
            *mine += theirs;
        }
        for (value, count) in other.sparse {
            *self.sparse.entry(value).or_default() += count;
        }
        self.count += other.count;
    }

    /// Adds a summary row's latencies, (ms, count) pairs.
    fn add_counts(&mut self, counts: &[(u64, u64)]) {
        for &(value, count) in counts {
            self.add_count(value, count);
        }
    }

    /// The nearest-rank percentile, as [`super::report_model::nearest_rank`]
    /// takes it from the sorted values: the value at rank
    /// `ceil(p/100 × n)` (at least 1).
    pub fn nearest_rank(&self, p: u64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = (p * self.count).div_ceil(100).max(1);
        let mut seen = 0;
        let dense = self.dense.iter().enumerate().map(|(v, n)| (v as u64, *n));
        let sparse = self.sparse.iter().map(|(v, n)| (*v, *n));
        for (value, count) in dense.chain(sparse) {
            seen += count;
            if seen >= rank {
                return Some(value);
            }
        }
        None
    }
}

/// Where the answers pass counts an LP's whole-ms latencies: the report's
/// dense [`Histogram`], or a writer's [`SparseLatencies`] for one RFQ.
pub(crate) trait LatencyCounts: Default + Clone {
    fn add(&mut self, ms: u64);
}

impl LatencyCounts for Histogram {
    fn add(&mut self, ms: u64) {
        Histogram::add(self, ms);
    }
}

/// One RFQ-LP pair's latencies as a writer counts them while the RFQ
/// runs: (ms, count), ms ascending, exactly an `answer_summaries` row's.
/// A pair sees a few dozen answers, so a few distinct values: a dense
/// [`Histogram`] would instead size itself (zeroed) to 8 bytes per ms of
/// the slowest answer, 240 KB for one 30 s answer, for every live pair.
#[derive(Debug, Default, Clone)]
pub(crate) struct SparseLatencies(Vec<(u64, u64)>);

impl LatencyCounts for SparseLatencies {
    fn add(&mut self, ms: u64) {
        // An LP answering at a steady latency repeats its last value.
        if let Some((last, count)) = self.0.last_mut() {
            if *last == ms {
                *count += 1;
                return;
            }
        }
        match self.0.binary_search_by_key(&ms, |&(value, _)| value) {
            Ok(at) => self.0[at].1 += 1,
            Err(at) => self.0.insert(at, (ms, 1)),
        }
    }
}

/// What an LP's answers add to its figures: all the answers pass
/// counts, per RFQ (a writer's, with [`SparseLatencies`]) or summed over
/// many (the report's, with a [`Histogram`]).
#[derive(Debug, Default, Clone)]
pub(crate) struct AnswerTotals<L = Histogram> {
    answers: u64,
    errors: [u64; FailureKind::ALL.len()],
    latencies: L,
    distance_sum: DistanceSum,
    distances: u64,
}

impl AnswerTotals {
    /// Adds what another pass (or RFQ) counted for the same LP.
    fn absorb(&mut self, other: AnswerTotals) {
        self.answers += other.answers;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
        self.latencies.absorb(other.latencies);
        self.distance_sum.absorb(other.distance_sum);
        self.distances += other.distances;
    }

    /// Adds what a summary row holds, its latencies straight into this
    /// histogram (no histogram of its own to build and absorb).
    fn add_summary(&mut self, summary: &AnswerSummary) {
        self.answers += summary.answers;
        for (mine, theirs) in self.errors.iter_mut().zip(summary.errors) {
            *mine += theirs;
        }
        self.latencies.add_counts(&summary.latencies);
        self.distance_sum.absorb(DistanceSum {
            exact: summary.distance_units,
            spilled: summary.distance_spilled,
        });
        self.distances += summary.distances;
    }
}

impl AnswerTotals<SparseLatencies> {
    /// The summary row of these totals.
    fn summary(self, rfq: i64, side: Side, lp: i64, first_answer: i64) -> AnswerSummary {
        AnswerSummary {
            rfq,
            side,
            lp,
            first_answer,
            answers: self.answers,
            errors: self.errors,
            latencies: self.latencies.0,
            distance_units: self.distance_sum.exact,
            distance_spilled: self.distance_sum.spilled,
            distances: self.distances,
        }
    }
}

/// Per-LP running totals.
#[derive(Default)]
struct Totals {
    answered: AnswerTotals,
    locks_won: u64,
    improvements: u64,
    hold_ms: u64,
    asked_ms: u64,
    orders: u64,
    fills: u64,
    rejects: u64,
    /// Reconciled `order_rejected`: the venue never executed the order.
    not_executed: u64,
    /// Orders whose latest answer is unknown, or that were never answered.
    unknown: u64,
    order_holds: Histogram,
}

/// A sum of distances in bps, kept exact: each distance (a `Decimal` of at
/// most 28 decimals) is added as an integer count of 1e-28 bps, with room
/// for 1.7e10 bps before it spills into a saturating `Decimal`. Adding
/// `Decimal`s one by one instead rounds every addition once the sum has
/// more than 28 significant digits (after the second distance, in practice)
/// and costs more than the distance itself; and an exact sum does not
/// depend on the order the workers' parts are added in.
#[derive(Debug, Default, Clone)]
struct DistanceSum {
    /// In units of 1e-28 bps.
    exact: i128,
    /// What did not fit `exact` (absurd prices: an LP bidding 1e20).
    spilled: Decimal,
}

impl DistanceSum {
    fn add(&mut self, bps: Decimal) {
        let units = 10i128
            .checked_pow(28 - bps.scale())
            .and_then(|scale| bps.mantissa().checked_mul(scale))
            .and_then(|units| self.exact.checked_add(units));
        match units {
            Some(sum) => self.exact = sum,
            None => self.spilled = self.spilled.saturating_add(bps),
        }
    }

    fn absorb(&mut self, other: DistanceSum) {
        match self.exact.checked_add(other.exact) {
            Some(sum) => self.exact = sum,
            None => self.spilled = self.spilled.saturating_add(Self::decimal(other.exact)),
        }
        self.spilled = self.spilled.saturating_add(other.spilled);
    }

    /// The sum, rounded to a `Decimal` once.
    fn total(&self) -> Decimal {
        self.spilled.saturating_add(Self::decimal(self.exact))
    }

    /// An integer count of 1e-28 bps as a `Decimal`: whole bps plus the
    /// fraction, each of which fits.
    fn decimal(units: i128) -> Decimal {
        const ONE: i128 = 10i128.pow(28);
        Decimal::from_i128_with_scale(units / ONE, 0)
            .saturating_add(Decimal::from_i128_with_scale(units % ONE, 28))
    }
}

/// Totals per LP, in order of first appearance (the order RFQs list them).
#[derive(Default)]
struct Book {
    names: Vec<String>,
    totals: Vec<Totals>,
    index: HashMap<String, usize>,
}

impl Book {
    fn index_of(&mut self, lp: &str) -> usize {
        if let Some(&at) = self.index.get(lp) {
            return at;
        }
        self.names.push(lp.to_string());
        self.totals.push(Totals::default());
        self.index.insert(lp.to_string(), self.totals.len() - 1);
        self.totals.len() - 1
    }
}

/// How long after a poll began its answers keep arriving, beyond the
/// longest LP timeout the RFQ knows of (the stored `LP_TIMEOUT_MS`, or a
/// slower answer seen): the engine notices a deadline a little after it.
const POLL_SLACK_MS: u64 = 500;

/// A valid answer waiting for its poll to be settled.
#[derive(Clone, Copy)]
struct Pending {
    poll: u32,
    lp: u32,
    /// Stream ms its poll began (the answer's time minus its latency).
    began_ms: u64,
    price: Decimal,
}

/// What the answers pass touches per row of an RFQ, kept apart from the
/// RFQ's line: a thousand interleaved RFQs then stay in the CPU's cache.
struct Live {
    side: Side,
    lp_timeout_ms: u64,
    /// The slowest answer seen: an LP with its own, longer timeout.
    slowest_ms: u64,
    /// The latest stream ms of any of its rows (its duration when it never
    /// ended).
    last_t_ms: u64,
    /// The valid answers of its open polls, grouped by poll in poll order
    /// (polls begin in order; an answer to an older poll than the last one
    /// seen is put with its poll).
    pending: VecDeque<Pending>,
    /// The first open poll cannot be over before this stream ms.
    next_close_ms: u64,
    /// Its last answer's id, once it ended: there its polls are settled
    /// and their memory given back.
    answers_to: Option<i64>,
}

impl Live {
    /// Longest an answer may come after its poll began.
    fn answer_window(&self) -> u64 {
        self.lp_timeout_ms.max(self.slowest_ms) + POLL_SLACK_MS
    }

    fn add(&mut self, answer: Pending) {
        let at = match self.pending.back() {
            Some(last) if answer.poll < last.poll => self
                .pending
                .iter()
                .rposition(|p| p.poll <= answer.poll)
                .map_or(0, |at| at + 1),
            _ => self.pending.len(),
        };
        if at == self.pending.len() {
            // The usual case, without `insert`'s shifting logic.
            self.pending.push_back(answer);
        } else {
            self.pending.insert(at, answer);
        }
        let closes = answer.began_ms.saturating_add(self.answer_window());
        self.next_close_ms = self.next_close_ms.min(closes);
    }

    /// Settles every poll over by stream ms `now`: no answer to it can
    /// come after its LPs' deadlines, so its best is final and each
    /// answer's distance from it goes to its LP. `u64::MAX` settles all.
    fn settle<L>(&mut self, now: u64, totals: &mut [AnswerTotals<L>]) {
        let window = self.answer_window();
        self.next_close_ms = u64::MAX;
        while let Some(first) = self.pending.front() {
            let closes = first.began_ms.saturating_add(window);
            if closes > now {
                self.next_close_ms = closes;
                break;
            }
            let poll = first.poll;
            let count = self
                .pending
                .iter()
                .position(|p| p.poll != poll)
                .unwrap_or(self.pending.len());
            let answers = self.pending.range(..count);
            let scale = first.price.scale();
            if answers.clone().all(|answer| answer.price.scale() == scale) {
                // The usual poll, every price with the same decimals:
                // compared and subtracted as integers, the exact values
                // (and scale) `Decimal`'s own operations give.
                let units = |answer: &Pending| answer.price.mantissa();
                let better = |a: i128, b: i128| match self.side {
                    Side::Buy => a < b,
                    Side::Sell => a > b,
                };
                let best = answers.clone().map(units).fold(units(first), |best, p| {
                    if better(p, best) {
                        p
                    } else {
                        best
                    }
                });
                if best != 0 {
                    let best_price = Decimal::from_i128_with_scale(best, scale);
                    for answer in answers {
                        let gap = match self.side {
                            Side::Buy => units(answer) - best,
                            Side::Sell => best - units(answer),
                        };
                        // A gap too wide for a Decimal (prices of opposite
                        // signs, stored as text) saturates like an absurd
                        // distance.
                        let bps = match Decimal::try_from_i128_with_scale(gap, scale) {
                            _ if gap == 0 => Decimal::ZERO,
                            Ok(gap) => distance_bps(gap, best_price),
                            Err(_) => Decimal::MAX,
                        };
                        let totals = &mut totals[answer.lp as usize];
                        totals.distance_sum.add(bps);
                        totals.distances += 1;
                    }
                }
                self.pending.drain(..count);
                continue;
            }
            let mut best = first.price;
            for answer in answers.clone() {
                if self.side.is_better(answer.price, best) {
                    best = answer.price;
                }
            }
            if !best.is_zero() {
                for answer in answers {
                    let worse_by = match self.side {
                        Side::Buy => answer.price - best,
                        Side::Sell => best - answer.price,
                    };
                    // Saturating: an absurd stored price (an LP bidding
                    // 1e20) must not overflow the report.
                    let bps = if worse_by.is_zero() {
                        Decimal::ZERO
                    } else {
                        distance_bps(worse_by, best)
                    };
                    let totals = &mut totals[answer.lp as usize];
                    totals.distance_sum.add(bps);
                    totals.distances += 1;
                }
            }
            self.pending.drain(..count);
        }
    }
}

/// `worse_by / best × 10000` in bps, saturating: an absurd stored price
/// (an LP bidding 1e20) must not overflow the report. The quotient is
/// `Decimal`'s own; multiplying it by 10^4 is exact, so it is done by
/// moving the decimal point (a 96-bit multiplication and rescale cost as
/// much as the division): the same value, at most with 4 fewer trailing
/// zeros than `checked_mul` would keep.
fn distance_bps(worse_by: Decimal, best: Decimal) -> Decimal {
    let Some(share) = worse_by.checked_div(best) else {
        return Decimal::MAX;
    };
    match share.scale().checked_sub(4) {
        Some(scale) => Decimal::from_i128_with_scale(share.mantissa(), scale),
        None => share
            .checked_mul(Decimal::from(10_000))
            .unwrap_or(Decimal::MAX),
    }
}

/// `name`'s figures in `asset` among `operators`, added when new.
fn operator_at(operators: &mut Vec<OperatorFigures>, name: &str, asset: &str) -> usize {
    if let Some(at) = operators
        .iter()
        .position(|o| o.operator == name && o.asset == asset)
    {
        return at;
    }
    operators.push(OperatorFigures {
        operator: name.to_string(),
        asset: asset.to_string(),
        rfqs: 0,
        fills: 0,
        not_filled: 0,
        unknown: 0,
        accepted: 0,
        notional_quoted: Decimal::ZERO,
        filled_notional: Decimal::ZERO,
        markup_earned: Decimal::ZERO,
    });
    operators.len() - 1
}

/// What the pass keeps per selected RFQ.
struct Selected {
    line: RfqLine,
    lps: Vec<String>,
    quote_asset: String,
    end_t_ms: Option<u64>,
    answers_from: i64,
    /// None while the RFQ has not ended.
    answers_to: Option<i64>,
    /// The LP holding the lock and since when.
    holder: Option<(usize, u64)>,
    fill: Option<Fill>,
    /// The LP of its order still without an outcome, if one is (at most
    /// one: no order follows an unknown outcome).
    open_order: Option<usize>,
    /// The outcome its latest order answer says (`filled`, `not_filled`,
    /// `unknown`), appended reconciliations included: every section
    /// counts an ended RFQ by this, not by the outcome recorded at its
    /// end (which a later reconciliation leaves as it was).
    latest_answer: Option<&'static str>,
    /// The operator whose accept sent its order, when recorded.
    accepted_by: Option<String>,
}

/// An RFQ's fill as the pairs section sums it.
struct Fill {
    price: Option<String>,
    amount: Option<String>,
    pnl: Option<String>,
}

/// How the answers pass may share its work among threads, each with its
/// own reader (as many as the store allows: [`ReportRows::readers`]).
#[derive(Debug, Clone, Copy)]
pub enum Split {
    /// All on the caller's reader.
    Alone,
    /// One worker per core (at most [`MAX_WORKERS`]), none with fewer
    /// than [`ANSWERS_PER_WORKER`] estimated answers.
    PerCore,
    /// This many workers, or one per selected RFQ if there are fewer.
    Exactly(usize),
}

/// Where the answers pass takes an ended RFQ's answers from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answers {
    /// Its `answer_summaries` rows when it has them (the writer saw every
    /// answer of it), else its answers.
    Summaries,
    /// Every selected RFQ's answers, summaries or not: the same report,
    /// which the tests check.
    Scan,
}

/// Computes the report from a store's rows: the RFQs the filter selects,
/// then one pass over their answers, lock events and executions.
pub(crate) fn build<R: ReportRows>(
    rows: &mut R,
    filter: &Filter,
    split: Split,
    from: Answers,
) -> Result<Report, R::Error>
where
    R::Error: Send,
{
    rows.begin()?;
    let report = build_in_snapshot(rows, filter, split, from);
    // Only read: ending the snapshot cannot lose anything, and the
    // report's own error (if any) is the one worth telling.
    let ended = rows.end();
    let report = report?;
    ended?;
    Ok(report)
}

fn build_in_snapshot<R: ReportRows>(
    rows: &mut R,
    filter: &Filter,
    split: Split,
    from: Answers,
) -> Result<Report, R::Error>
where
    R::Error: Send,
{
    let (mut rfqs, mut live) = select_rfqs(rows.rfqs(filter)?);
    let last_answer = rows.last_answer_id()?;
    let mut book = Book::default();
    // LPs in order of first appearance: the order the RFQs list them.
    for (_, rfq) in &rfqs {
        for lp in &rfq.lps {
            book.index_of(lp);
        }
    }
    // RFQ row id → position in `rfqs`: a vector over the selected id span.
    let first_row = rfqs.iter().map(|r| r.0).min().unwrap_or(0);
    let last_row = rfqs.iter().map(|r| r.0).max().unwrap_or(-1);
    let mut position = vec![u32::MAX; (last_row - first_row + 1).max(0) as usize];
    for (at, (row, _)) in rfqs.iter().enumerate() {
        position[(row - first_row) as usize] = at as u32;
    }
    let at_of = |row: i64| -> Option<usize> {
        let offset = usize::try_from(row.checked_sub(first_row)?).ok()?;
        match position.get(offset) {
            Some(&at) if at != u32::MAX => Some(at as usize),
            _ => None,
        }
    };
    if !rfqs.is_empty() {
        let span = (first_row, last_row);
        scan_answers(
            rows,
            split,
            from,
            filter,
            &rfqs,
            &at_of,
            &mut live,
            &mut book,
            last_answer,
        )?;
        scan_locks(rows, &mut rfqs, &mut live, span, &at_of, &mut book)?;
        scan_executions(rows, &mut rfqs, &mut live, span, &at_of, &mut book)?;
    }
    // Counted once every row is read: a later row (an outcome learned
    // from the venue) resolves an order that looked unknown.
    for (_, rfq) in &rfqs {
        if let Some(lp) = rfq.open_order {
            book.totals[lp].unknown += 1;
        }
    }
    let mut pairs: Vec<PairFigures> = Vec::new();
    let mut clients: Vec<ClientFigures> = Vec::new();
    let mut operators: Vec<OperatorFigures> = Vec::new();
    let mut lines = Vec::with_capacity(rfqs.len());
    for ((row, mut rfq), live) in rfqs.into_iter().zip(live) {
        if let (Some(_), Some(latest)) = (&rfq.line.outcome, rfq.latest_answer) {
            rfq.line.outcome = Some(latest.to_string());
        }
        let duration = match rfq.end_t_ms {
            Some(t) => t,
            None => {
                let quoted = rows.last_client_quote_ms(row)?;
                live.last_t_ms.max(quoted.unwrap_or(0))
            }
        };
        rfq.line.duration_ms = duration;
        for lp in &rfq.lps {
            let at = book.index_of(lp);
            book.totals[at].asked_ms += duration;
        }
        if let Some((held, since)) = rfq.holder {
            book.totals[held].hold_ms += duration.saturating_sub(since);
        }
        let at = match pairs.iter().position(|p| p.pair == rfq.line.pair) {
            Some(at) => at,
            None => {
                pairs.push(PairFigures {
                    pair: rfq.line.pair.clone(),
                    asset: rfq.quote_asset.clone(),
                    rfqs: 0,
                    notional_quoted: Decimal::ZERO,
                    filled_notional: Decimal::ZERO,
                    markup_earned: Decimal::ZERO,
                    fills: 0,
                });
                pairs.len() - 1
            }
        };
        let pair = &mut pairs[at];
        pair.rfqs += 1;
        let quoted = rfq.line.final_client_price.as_deref().map(|price| {
            let amount = Decimal::from_str(&rfq.line.amount).unwrap_or_default();
            let price = Decimal::from_str(price).unwrap_or_default();
            amount.saturating_mul(price)
        });
        if let Some(quoted) = quoted {
            pair.notional_quoted = pair.notional_quoted.saturating_add(quoted);
        }
        let filled = rfq.fill.as_ref().map(|fill| {
            let number = |text: &Option<String>| {
                text.as_deref()
                    .and_then(|t| Decimal::from_str(t).ok())
                    .unwrap_or_default()
            };
            (
                number(&fill.price).saturating_mul(number(&fill.amount)),
                number(&fill.pnl),
            )
        });
        if let Some((notional, pnl)) = filled {
            pair.fills += 1;
            pair.filled_notional = pair.filled_notional.saturating_add(notional);
            pair.markup_earned = pair.markup_earned.saturating_add(pnl);
        }
        // An order went out for it: someone accepted it.
        let ordered = rfq.latest_answer.is_some()
            || rfq.open_order.is_some()
            || matches!(
                rfq.line.outcome.as_deref(),
                Some("filled" | "not_filled" | "unknown")
            );
        let accepter = rfq
            .accepted_by
            .as_ref()
            .or(rfq.line.operator.as_ref())
            .filter(|_| ordered);
        if let Some(name) = accepter {
            let at = operator_at(&mut operators, name, &rfq.quote_asset);
            operators[at].accepted += 1;
        }
        if let Some(name) = &rfq.line.operator {
            let at = operator_at(&mut operators, name, &rfq.quote_asset);
            let figures = &mut operators[at];
            figures.rfqs += 1;
            match rfq.line.outcome.as_deref() {
                Some("not_filled") => figures.not_filled += 1,
                Some("unknown") => figures.unknown += 1,
                _ => {}
            }
            if let Some(quoted) = quoted {
                figures.notional_quoted = figures.notional_quoted.saturating_add(quoted);
            }
            if let Some((notional, pnl)) = filled {
                figures.fills += 1;
                figures.filled_notional = figures.filled_notional.saturating_add(notional);
                figures.markup_earned = figures.markup_earned.saturating_add(pnl);
            }
        }
        tally_client(&mut clients, &rfq);
        lines.push(rfq.line);
    }
    // `--operator` lists the RFQs the operator asked or accepted: only
    // their own figures are theirs.
    if let Some(only) = &filter.operator {
        operators.retain(|figures| figures.operator == *only);
    }
    operators.sort_by(|a, b| (&a.operator, &a.asset).cmp(&(&b.operator, &b.asset)));
    let lps = lp_figures(book, filter);
    let health = super::health::figures_of(|each| rows.health(filter, each))?;
    let health = super::report_model::health_lines(health, &lps);
    // Only those the report shows: a filter that selects no RFQ names none.
    let shown = |name: &String| {
        lps.iter().any(|lp| lp.lp == *name)
            || lines.iter().any(|line: &RfqLine| {
                line.final_lp.as_ref() == Some(name) || line.filled_lp.as_ref() == Some(name)
            })
    };
    let simulated_lps: Vec<String> = rows.simulated_lps()?.into_iter().filter(shown).collect();
    Ok(Report {
        lps,
        simulated_lps,
        rfqs: lines,
        totals: totals_of(&mut pairs),
        pairs,
        clients: clients_of(clients),
        health,
        operators,
    })
}

/// Counts one RFQ into its client's figures in its quote currency.
fn tally_client(clients: &mut Vec<ClientFigures>, rfq: &Selected) {
    let line = &rfq.line;
    let at = match clients
        .iter()
        .position(|c| c.client == line.client && c.asset == rfq.quote_asset)
    {
        Some(at) => at,
        None => {
            clients.push(ClientFigures {
                client: line.client.clone(),
                asset: rfq.quote_asset.clone(),
                rfqs: 0,
                accepted: 0,
                fills: 0,
                fill_ratio: None,
                filled_notional: Decimal::ZERO,
                markup_earned: Decimal::ZERO,
            });
            clients.len() - 1
        }
    };
    let figures = &mut clients[at];
    figures.rfqs += 1;
    let outcome = line.outcome.as_deref();
    if matches!(outcome, Some("filled" | "not_filled" | "unknown")) {
        figures.accepted += 1;
    }
    if outcome == Some("filled") {
        let number = |text: Option<&str>| {
            text.and_then(|t| Decimal::from_str(t).ok())
                .unwrap_or_default()
        };
        figures.fills += 1;
        // The accepted client price: what the client's leg was dealt at.
        let notional =
            number(line.final_client_price.as_deref()).saturating_mul(number(Some(&line.amount)));
        figures.filled_notional = figures.filled_notional.saturating_add(notional);
        figures.markup_earned = figures
            .markup_earned
            .saturating_add(number(line.desk_pnl.as_deref()));
    }
}

/// The clients' figures, by client then currency, sums normalised.
fn clients_of(mut clients: Vec<ClientFigures>) -> Vec<ClientFigures> {
    clients.sort_by(|a, b| a.client.cmp(&b.client).then(a.asset.cmp(&b.asset)));
    for figures in &mut clients {
        figures.fill_ratio = super::report_model::ratio(figures.fills, figures.accepted, 4);
        figures.filled_notional = figures.filled_notional.normalize();
        figures.markup_earned = figures.markup_earned.normalize();
    }
    clients
}

/// The selected RFQs (oldest first) with their row ids, and the state
/// the answers pass keeps for each.
fn select_rfqs(stored: Vec<RfqRow>) -> (Vec<(i64, Selected)>, Vec<Live>) {
    let mut selected = Vec::with_capacity(stored.len());
    let mut live = Vec::with_capacity(stored.len());
    for row in stored {
        // A two-way RFQ counts once, by one side's answers and locks: the
        // side the client took, else its offer side (its recorded side).
        let counted_side = match (&row.accepted_side, row.two_way) {
            (Some(accepted), true) => accepted,
            _ => &row.side,
        };
        let side = match (&row.accepted_side, row.two_way) {
            (Some(accepted), true) => format!("two-way {accepted}"),
            (None, true) => "two-way".to_string(),
            _ => row.side.clone(),
        };
        live.push(Live {
            side: counted_side.parse().unwrap_or(Side::Buy),
            lp_timeout_ms: row.lp_timeout_ms,
            slowest_ms: 0,
            last_t_ms: 0,
            pending: VecDeque::new(),
            next_close_ms: u64::MAX,
            answers_to: row.answers_to,
        });
        selected.push((
            row.row,
            Selected {
                lps: row.lps,
                quote_asset: row.quote,
                end_t_ms: row.end_t_ms,
                answers_from: row.answers_from,
                answers_to: row.answers_to,
                holder: None,
                fill: None,
                open_order: None,
                latest_answer: None,
                accepted_by: row.accepted_by,
                line: RfqLine {
                    rfq_id: row.rfq_id,
                    started_at: row.started_at,
                    side,
                    amount: row.amount,
                    pair: row.pair,
                    duration_ms: 0,
                    final_lp: row.final_lp,
                    final_client_price: row.final_client_price,
                    improvements: row.improvements.unwrap_or(0),
                    end_reason: row.end_reason,
                    outcome: row.outcome,
                    filled_lp: None,
                    filled_price: None,
                    desk_pnl: None,
                    client: row.client,
                    order_id: None,
                    client_order_id: None,
                    venue_order_id: None,
                    venue_ref: None,
                    reconciled_by: None,
                    operator: row.operator,
                },
            },
        ));
    }
    (selected, live)
}

/// Where each LP's answers are counted during the answers pass: the
/// book's LPs keep their index (the order RFQs list them), and every other
/// name of the `lps` table gets a slot after them, so a row's LP is one
/// array lookup and no worker ever touches a string or the shared book.
struct LpSlots {
    /// Slot → LP name.
    names: Vec<String>,
    /// Slots below this are the book's own indexes.
    known: usize,
    /// `lps.id` → slot, for the small dense ids the writer assigns.
    dense: Vec<u32>,
    /// `lps.id` → slot for any id too large for `dense`.
    sparse: HashMap<i64, u32>,
    /// The slot of an id missing from `lps` (counted under an empty name,
    /// as before).
    unnamed: u32,
}

/// `lps.id`s below this are looked up in a vector.
const DENSE_LP_IDS: i64 = 1 << 16;

impl LpSlots {
    fn new(book: &Book, stored: HashMap<i64, std::sync::Arc<str>>) -> LpSlots {
        let mut names = book.names.clone();
        let mut index: HashMap<String, u32> = book
            .index
            .iter()
            .map(|(n, &i)| (n.clone(), i as u32))
            .collect();
        let mut slot_of = |name: &str| -> u32 {
            if let Some(&slot) = index.get(name) {
                return slot;
            }
            names.push(name.to_string());
            index.insert(name.to_string(), names.len() as u32 - 1);
            names.len() as u32 - 1
        };
        let mut stored: Vec<(i64, std::sync::Arc<str>)> = stored.into_iter().collect();
        stored.sort_unstable();
        let unnamed = slot_of("");
        let mut dense = Vec::new();
        let mut sparse = HashMap::new();
        for (id, name) in stored {
            let slot = slot_of(&name);
            match usize::try_from(id) {
                Ok(at) if id < DENSE_LP_IDS => {
                    if dense.len() <= at {
                        dense.resize(at + 1, unnamed);
                    }
                    dense[at] = slot;
                }
                _ => {
                    sparse.insert(id, slot);
                }
            }
        }
        LpSlots {
            names,
            known: book.names.len(),
            dense,
            sparse,
            unnamed,
        }
    }

    fn slot(&self, lp_id: i64) -> usize {
        let slot = match usize::try_from(lp_id) {
            Ok(at) if at < self.dense.len() => self.dense[at],
            _ => self.sparse.get(&lp_id).copied().unwrap_or(self.unnamed),
        };
        slot as usize
    }
}

/// What one worker of the answers pass counted: totals per LP slot, and
/// the id of the first row each slot was seen in (LPs that no RFQ lists
/// join the report in that order).
struct Tally<L = Histogram> {
    totals: Vec<AnswerTotals<L>>,
    first_seen: Vec<i64>,
}

impl<L: LatencyCounts> Tally<L> {
    fn new(slots: usize) -> Tally<L> {
        Tally {
            totals: vec![AnswerTotals::default(); slots],
            first_seen: vec![i64::MAX; slots],
        }
    }
}

/// One worker's part of the answers pass: a run of RFQs consecutive in
/// row id, with their per-RFQ state, and the answers' id span they cover.
struct Share {
    /// Positions in the selected RFQs, and each one's state.
    positions: Vec<usize>,
    live: Vec<Live>,
    /// The RFQs' row ids: first, last, and row id - first → index in
    /// `live` (`u32::MAX`: not selected).
    first_row: i64,
    last_row: i64,
    local: Vec<u32>,
    /// The answers' ids that can belong to them.
    first_id: i64,
    last_id: i64,
}

impl Share {
    #[cfg(test)]
    fn local_of(&self, rfq_row: i64) -> Option<usize> {
        Share::local_in(&self.local, self.first_row, rfq_row)
    }

    /// Where the RFQ with row id `rfq_row` is in a share's `live`, from its
    /// `local` and `first_row`.
    fn local_in(local: &[u32], first_row: i64, rfq_row: i64) -> Option<usize> {
        let offset = usize::try_from(rfq_row.checked_sub(first_row)?).ok()?;
        match local.get(offset) {
            Some(&at) if at != u32::MAX => Some(at as usize),
            _ => None,
        }
    }
}

/// Fewer estimated answers than this per worker and another thread (and
/// its connection, ~1 ms to open) costs more than it saves: 50,000
/// answers are ~15 ms of counting.
pub(crate) const ANSWERS_PER_WORKER: u64 = 50_000;
/// More workers than this would each step through the same interleaved
/// rows for little gain.
pub(crate) const MAX_WORKERS: usize = 4;

/// One pass over the answers table within the selected RFQs' id ranges:
/// counts, latency histograms and each poll's distances.
///
/// When the store allows more readers and there are enough answers, the
/// selected RFQs are split into runs of consecutive rows, one per core,
/// each counted by its own thread with its own reader. An RFQ's
/// answers are all counted by one worker, in id order, so each poll
/// settles exactly as in one pass; the workers' totals then add up.
/// Interleaved RFQs make the workers' id spans overlap: each steps over
/// the other's rows there, skipped by the reader before they are decoded.
#[allow(clippy::too_many_arguments)]
fn scan_answers<R: ReportRows>(
    rows: &mut R,
    split: Split,
    from: Answers,
    filter: &Filter,
    rfqs: &[(i64, Selected)],
    at_of: &impl Fn(i64) -> Option<usize>,
    live: &mut Vec<Live>,
    book: &mut Book,
    last_answer: i64,
) -> Result<(), R::Error>
where
    R::Error: Send,
{
    // With --lp only that LP's errors count; every valid answer still
    // does (it may be a poll's best). An LP that never answered has an id
    // no answer has.
    let only_lp: Option<i64> = match &filter.lp {
        Some(name) => Some(rows.lp_id(name)?.unwrap_or(-1)),
        None => None,
    };
    let slots = LpSlots::new(book, rows.lp_names()?);
    // The ended RFQs' summaries first; only the RFQs without one (still
    // running, their process gone, ended before summaries were kept) are
    // scanned. `--lp` leaves the other LPs' failures out of the polls'
    // windows, which a summary counted with them: it scans.
    let mut tallies: Vec<Tally> = Vec::new();
    let mut summed = vec![false; rfqs.len()];
    if from == Answers::Summaries && only_lp.is_none() {
        let first_row = rfqs.iter().map(|r| r.0).min().unwrap_or(0);
        let last_row = rfqs.iter().map(|r| r.0).max().unwrap_or(-1);
        let mut tally = Tally::new(slots.names.len());
        let selected = |rfq: i64| at_of(rfq).is_some();
        rows.answer_summaries((first_row, last_row), selected, |summary| {
            let Some(at) = at_of(summary.rfq) else {
                return;
            };
            // A writer sums every side of an RFQ it saw whole, and each
            // answer counts for at least one side: an RFQ with rows has
            // them all, and the side counted may have none (no answers).
            summed[at] = true;
            if summary.side != live[at].side {
                return;
            }
            let slot = slots.slot(summary.lp);
            tally.first_seen[slot] = tally.first_seen[slot].min(summary.first_answer);
            tally.totals[slot].add_summary(&summary);
        })?;
        tallies.push(tally);
    }
    let scanned: Vec<usize> = (0..rfqs.len()).filter(|&at| !summed[at]).collect();
    let spans: Vec<(i64, i64)> = scanned
        .iter()
        .map(|&at| {
            let r = &rfqs[at].1;
            (
                r.answers_from,
                r.answers_to.unwrap_or(i64::MAX).min(last_answer),
            )
        })
        .collect();
    // Every stored RFQ's range counts in the estimate: the selected ones
    // share theirs with the others' rows interleaved there (10 RFQs among
    // a thousand hold a hundredth of their range, not all of it).
    let estimates = if scanned.is_empty() {
        Vec::new()
    } else {
        let stored = rows.answer_spans(last_answer)?;
        let (rows, ranges): (Vec<i64>, Vec<(i64, i64)>) = stored.into_iter().unzip();
        let shares = estimated_answers(&ranges);
        let of_row: HashMap<i64, u64> = rows.into_iter().zip(shares).collect();
        scanned
            .iter()
            .map(|&at| of_row.get(&rfqs[at].0).copied().unwrap_or(0))
            .collect::<Vec<u64>>()
    };
    let total: u64 = estimates.iter().sum();
    let workers = match split {
        Split::Alone => 1,
        Split::PerCore => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let enough = usize::try_from(total / ANSWERS_PER_WORKER).unwrap_or(usize::MAX);
            cores.min(MAX_WORKERS).min(enough).max(1)
        }
        Split::Exactly(workers) => workers.max(1),
    }
    .min(rows.readers());
    let rfq_rows: Vec<i64> = scanned.iter().map(|&at| rfqs[at].0).collect();
    let mut states: Vec<Option<Live>> = std::mem::take(live).into_iter().map(Some).collect();
    let scanned_live: Vec<Live> = scanned
        .iter()
        .map(|&at| states[at].take().expect("each RFQ once"))
        .collect();
    let mut shares = shares_of(&rfq_rows, &spans, &estimates, scanned_live, workers);
    let counted: Vec<Tally> = match shares.as_mut_slice() {
        [mine, others @ ..] if !others.is_empty() => {
            let readers = others
                .iter()
                .map(|_| rows.reader())
                .collect::<Result<Vec<_>, _>>()?;
            std::thread::scope(|scope| {
                let handles: Vec<_> = others
                    .iter_mut()
                    .zip(readers)
                    .map(|(share, mut reader)| {
                        let slots = &slots;
                        scope.spawn(move || count_share(&mut reader, share, only_lp, slots))
                    })
                    .collect();
                let mut tallies = vec![count_share(rows, mine, only_lp, &slots)?];
                for handle in handles {
                    match handle.join() {
                        Ok(tally) => tallies.push(tally?),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                Ok::<_, R::Error>(tallies)
            })?
        }
        shares => shares
            .iter_mut()
            .map(|share| count_share(rows, share, only_lp, &slots))
            .collect::<Result<_, _>>()?,
    };
    tallies.extend(counted);
    // The RFQs' state back in their order, and the totals into the book:
    // LPs no RFQ lists first appear in the order of their first answer.
    for share in shares {
        for (at, state) in share.positions.into_iter().zip(share.live) {
            states[scanned[at]] = Some(state);
        }
    }
    *live = states
        .into_iter()
        .map(|state| state.expect("every RFQ's state back"))
        .collect();
    let mut newcomers: Vec<(i64, usize)> = (slots.known..slots.names.len())
        .filter_map(|slot| {
            let first = tallies.iter().map(|t| t.first_seen[slot]).min()?;
            (first != i64::MAX).then_some((first, slot))
        })
        .collect();
    newcomers.sort_unstable();
    let mut into_book = vec![usize::MAX; slots.names.len()];
    into_book[..slots.known]
        .iter_mut()
        .enumerate()
        .for_each(|(at, to)| *to = at);
    for (_, slot) in newcomers {
        into_book[slot] = book.index_of(&slots.names[slot]);
    }
    for tally in tallies {
        for (slot, totals) in tally.totals.into_iter().enumerate() {
            if let Some(&at) = into_book.get(slot).filter(|&&at| at != usize::MAX) {
                book.totals[at].answered.absorb(totals);
            }
        }
    }
    Ok(())
}

/// How many answers each RFQ probably has, from the id spans alone: where
/// several RFQs' spans overlap their rows are interleaved, so each span's
/// length is shared evenly among the RFQs running over it. Only used to
/// give workers equal work.
fn estimated_answers(spans: &[(i64, i64)]) -> Vec<u64> {
    const UNIT: u128 = 1 << 16;
    let mut edges: Vec<(i64, bool, usize)> = Vec::with_capacity(spans.len() * 2);
    for (at, &(from, to)) in spans.iter().enumerate() {
        if to >= from {
            edges.push((from, true, at));
            edges.push((to.saturating_add(1), false, at));
        }
    }
    // Ends before starts at the same id: a span ending there covers none
    // of the next one's rows.
    edges.sort_unstable_by_key(|&(id, starts, _)| (id, starts));
    let mut shared = 0u128;
    let mut running = 0u128;
    let mut previous = i64::MIN;
    let mut began = vec![0u128; spans.len()];
    let mut estimates = vec![0u64; spans.len()];
    for (id, starts, at) in edges {
        if let Some(each) = (u128::from(id.abs_diff(previous)) * UNIT).checked_div(running) {
            shared += each;
        }
        previous = id;
        if starts {
            running += 1;
            began[at] = shared;
        } else {
            running -= 1;
            estimates[at] = u64::try_from((shared - began[at]) / UNIT).unwrap_or(u64::MAX);
        }
    }
    estimates
}

/// What a run of RFQs costs its worker, in units of one stepped-over row.
#[derive(Default, Clone, Copy)]
struct RunCost {
    /// The run's answers' id span (none while its RFQs have no answers).
    span: Option<(i64, i64)>,
    own: u64,
}

impl RunCost {
    fn with(self, (from, to): (i64, i64), answers: u64) -> RunCost {
        let span = match (self.span, to >= from) {
            (span, false) => span,
            (None, true) => Some((from, to)),
            (Some((first, last)), true) => Some((first.min(from), last.max(to))),
        };
        RunCost {
            span,
            own: self.own + answers,
        }
    }

    fn cost(&self) -> u128 {
        let span = self
            .span
            .map_or(0, |(first, last)| u128::from(last.abs_diff(first)) + 1);
        let own = u128::from(self.own);
        own * OWN_ROW_COST + span.saturating_sub(own)
    }
}

/// Stepping over a row of another worker's RFQs (SQLite rejects it on
/// its `rfq` column) costs about a fifth of counting one: ~60 against
/// ~300 ns, measured on 9.7 M answers.
const OWN_ROW_COST: u128 = 5;

/// The selected RFQs in at most `workers` runs of consecutive row ids,
/// cut where the busiest worker has the least to do: its own answers,
/// plus the other RFQs' rows it steps over within its id span (where runs
/// of interleaved RFQs overlap).
fn shares_of(
    rows: &[i64],
    spans: &[(i64, i64)],
    estimates: &[u64],
    live: Vec<Live>,
    workers: usize,
) -> Vec<Share> {
    let mut by_row: Vec<usize> = (0..rows.len()).collect();
    by_row.sort_unstable_by_key(|&at| rows[at]);
    // Runs as long as `limit` allows, in row order.
    let runs_within = |limit: u128| -> Vec<Vec<usize>> {
        let mut runs: Vec<Vec<usize>> = Vec::new();
        let mut run = RunCost::default();
        for &at in &by_row {
            let grown = run.with(spans[at], estimates[at]);
            if runs.is_empty() || grown.cost() > limit {
                runs.push(Vec::new());
                run = RunCost::default().with(spans[at], estimates[at]);
            } else {
                run = grown;
            }
            runs.last_mut().expect("a run").push(at);
        }
        runs
    };
    // The least limit that needs no more runs than workers.
    let mut low = by_row
        .iter()
        .map(|&at| RunCost::default().with(spans[at], estimates[at]).cost())
        .max()
        .unwrap_or(0);
    let mut high = by_row
        .iter()
        .fold(RunCost::default(), |run, &at| {
            run.with(spans[at], estimates[at])
        })
        .cost();
    while low < high {
        let middle = low + (high - low) / 2;
        if runs_within(middle).len() <= workers {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let groups = runs_within(low);
    let mut live: Vec<Option<Live>> = live.into_iter().map(Some).collect();
    groups
        .into_iter()
        .filter(|group| !group.is_empty())
        .map(|positions| {
            let first_row = rows[positions[0]];
            let last_row = rows[positions[positions.len() - 1]];
            let mut local = vec![u32::MAX; (last_row - first_row + 1) as usize];
            for (index, &at) in positions.iter().enumerate() {
                local[(rows[at] - first_row) as usize] = index as u32;
            }
            // An RFQ without answers (its span empty: `answers_from` is
            // past `answers_to`) must not stretch the run's span over rows
            // that are none of its RFQs'.
            let (first_id, last_id) = positions
                .iter()
                .filter(|&&at| spans[at].1 >= spans[at].0)
                .fold((i64::MAX, i64::MIN), |(first, last), &at| {
                    (first.min(spans[at].0), last.max(spans[at].1))
                });
            Share {
                live: positions
                    .iter()
                    .map(|&at| live[at].take().expect("each RFQ in one share"))
                    .collect(),
                positions,
                first_row,
                last_row,
                local,
                first_id,
                last_id,
            }
        })
        .collect()
}

/// Counts one share's answers with `reader`, in id order.
fn count_share<A: AnswerRows>(
    reader: &mut A,
    share: &mut Share,
    only_lp: Option<i64>,
    slots: &LpSlots,
) -> Result<Tally, A::Error> {
    let mut tally = Tally::new(slots.names.len());
    let range = AnswerRange {
        first_id: share.first_id,
        last_id: share.last_id,
        first_rfq: share.first_row,
        last_rfq: share.last_row,
        only_lp,
    };
    let (live, local) = (&mut share.live, &share.local);
    let local_of = |rfq_row: i64| Share::local_in(local, share.first_row, rfq_row);
    if share.first_id <= share.last_id {
        reader.answers(
            &range,
            |rfq_row| local_of(rfq_row).is_some(),
            |row| {
                if let Some(at) = local_of(row.rfq) {
                    count_answer(&row, slots.slot(row.lp), &mut live[at], &mut tally);
                }
            },
        )?;
    }
    // What is still open (RFQs that never ended, or whose last answer the
    // filter skipped) settles at the end of its stream.
    for rfq in &mut share.live {
        rfq.settle(u64::MAX, &mut tally.totals);
        rfq.pending = VecDeque::new();
    }
    Ok(tally)
}

/// Counts one answer: its LP's totals, and its RFQ's open polls.
fn count_answer<L: LatencyCounts>(
    row: &AnswerRow,
    lp: usize,
    rfq: &mut Live,
    tally: &mut Tally<L>,
) {
    if row.side.is_none_or(|side| side == rfq.side) {
        count_answer_of_side(row, lp, rfq, tally);
    }
    if rfq.answers_to == Some(row.id) {
        rfq.settle(u64::MAX, &mut tally.totals);
        rfq.pending = VecDeque::new();
    }
}

/// Counts one answer of the side its RFQ is counted by.
fn count_answer_of_side<L: LatencyCounts>(
    row: &AnswerRow,
    lp: usize,
    rfq: &mut Live,
    tally: &mut Tally<L>,
) {
    tally.first_seen[lp] = tally.first_seen[lp].min(row.id);
    rfq.last_t_ms = rfq.last_t_ms.max(row.t_ms);
    rfq.slowest_ms = rfq.slowest_ms.max(row.latency_ms);
    if row.t_ms >= rfq.next_close_ms {
        rfq.settle(row.t_ms, &mut tally.totals);
    }
    match row.answered {
        Answered::Quote(price) => {
            let totals = &mut tally.totals[lp];
            totals.answers += 1;
            totals.latencies.add(row.latency_ms);
            rfq.add(Pending {
                poll: row.poll,
                lp: lp as u32,
                began_ms: row.t_ms.saturating_sub(row.latency_ms),
                price,
            });
        }
        Answered::Failed(Some(kind)) => tally.totals[lp].errors[kind as usize] += 1,
        Answered::Failed(None) => {}
    }
}

/// One live RFQ's answers counted as a store writes them, to be stored
/// as its `answer_summaries` rows when it ends: the answers pass's own
/// state and counting ([`count_answer`], [`Live::settle`]) fed the same
/// rows in the same (id) order, so the rows hold exactly what a scan of
/// its answers would add. One per side the report may count it by.
pub(crate) struct RfqAnswers {
    live: Live,
    /// Slot → `lps.id` (an RFQ asks a handful of LPs: a short search).
    lps: Vec<i64>,
    tally: Tally<SparseLatencies>,
}

impl RfqAnswers {
    /// An RFQ counted by `side`'s answers (and those of no side), its LPs
    /// asked with `lp_timeout_ms`.
    pub(crate) fn new(side: Side, lp_timeout_ms: u64) -> RfqAnswers {
        RfqAnswers {
            live: Live {
                side,
                lp_timeout_ms,
                slowest_ms: 0,
                last_t_ms: 0,
                pending: VecDeque::new(),
                next_close_ms: u64::MAX,
                answers_to: None,
            },
            lps: Vec::new(),
            tally: Tally::new(0),
        }
    }

    /// Counts the RFQ's next answer (ids only grow).
    pub(crate) fn add(&mut self, row: &AnswerRow) {
        let slot = match self.lps.iter().position(|&lp| lp == row.lp) {
            Some(slot) => slot,
            None => {
                self.lps.push(row.lp);
                self.tally.totals.push(AnswerTotals::default());
                self.tally.first_seen.push(i64::MAX);
                self.lps.len() - 1
            }
        };
        count_answer(row, slot, &mut self.live, &mut self.tally);
    }

    /// Bytes its latency counts hold (allocated, not only used).
    #[cfg(test)]
    fn latency_bytes(&self) -> usize {
        self.tally
            .totals
            .iter()
            .map(|totals| totals.latencies.0.capacity() * std::mem::size_of::<(u64, u64)>())
            .sum()
    }

    /// The RFQ ended: its open polls settle, and each LP it counted an
    /// answer of gets its row.
    pub(crate) fn summaries(mut self, rfq: i64) -> Vec<AnswerSummary> {
        self.live.settle(u64::MAX, &mut self.tally.totals);
        let side = self.live.side;
        self.lps
            .into_iter()
            .zip(self.tally.totals)
            .zip(self.tally.first_seen)
            .filter(|(_, first)| *first != i64::MAX)
            .map(|((lp, totals), first)| totals.summary(rfq, side, lp, first))
            .collect()
    }
}

/// A live RFQ's [`RfqAnswers`] as a store keeps them: one for a one-way
/// RFQ (its side), one per side for a two-way RFQ (the report counts it
/// by the side the client takes, unknown until it ends).
pub(crate) struct RfqTallies(Vec<RfqAnswers>);

impl RfqTallies {
    pub(crate) fn new(side: Side, two_way: bool, lp_timeout_ms: u64) -> RfqTallies {
        let sides = if two_way {
            vec![Side::Buy, Side::Sell]
        } else {
            vec![side]
        };
        RfqTallies(
            sides
                .into_iter()
                .map(|side| RfqAnswers::new(side, lp_timeout_ms))
                .collect(),
        )
    }

    /// Counts the RFQ's next answer on each side it is for.
    pub(crate) fn add(&mut self, row: &AnswerRow) {
        for tally in &mut self.0 {
            tally.add(row);
        }
    }

    /// Every side's rows, once the RFQ (store id `rfq`) ended.
    pub(crate) fn summaries(self, rfq: i64) -> Vec<AnswerSummary> {
        self.0
            .into_iter()
            .flat_map(|tally| tally.summaries(rfq))
            .collect()
    }
}

/// Lock holding, per RFQ in stream order: from a `locked` to the next
/// `locked`, its own `lock_expired`, or the end of the stream.
fn scan_locks<R: ReportRows>(
    rows: &mut R,
    rfqs: &mut [(i64, Selected)],
    live: &mut [Live],
    span: (i64, i64),
    at_of: &impl Fn(i64) -> Option<usize>,
    book: &mut Book,
) -> Result<(), R::Error> {
    rows.locks(span, |row| {
        let Some(at) = at_of(row.rfq) else {
            return;
        };
        if row.side.is_some_and(|side| side != live[at].side.as_str()) {
            return;
        }
        let rfq = &mut rfqs[at].1;
        let t = row.t_ms;
        live[at].last_t_ms = live[at].last_t_ms.max(t);
        let lp = book.index_of(row.lp);
        if row.locked {
            if let Some((held, since)) = rfq.holder.take() {
                book.totals[held].hold_ms += t.saturating_sub(since);
            }
            let totals = &mut book.totals[lp];
            totals.locks_won += 1;
            if row.reason == Some("improvement") {
                totals.improvements += 1;
            }
            rfq.holder = Some((lp, t));
        } else if let Some((held, since)) = rfq.holder.filter(|(held, _)| *held == lp) {
            book.totals[held].hold_ms += t.saturating_sub(since);
            rfq.holder = None;
        }
    })
}

/// Orders and their answers; the RFQ's fill (at most one: no order
/// follows a fill) feeds its line and its pair's totals.
fn scan_executions<R: ReportRows>(
    rows: &mut R,
    rfqs: &mut [(i64, Selected)],
    live: &mut [Live],
    span: (i64, i64),
    at_of: &impl Fn(i64) -> Option<usize>,
    book: &mut Book,
) -> Result<(), R::Error> {
    rows.executions(span, |row| {
        let Some(at) = at_of(row.rfq) else {
            return;
        };
        let rfq = &mut rfqs[at].1;
        let t = row.t_ms;
        live[at].last_t_ms = live[at].last_t_ms.max(t);
        let Some(lp) = row.lp else {
            return; // not_filled names no LP
        };
        let lp = book.index_of(lp);
        let totals = &mut book.totals[lp];
        let line = &mut rfq.line;
        match row.event {
            "order_sent" => {
                line.order_id = row.order_id.map(str::to_string);
                line.client_order_id = row.client_order_id.map(str::to_string);
                line.venue_ref = row.venue_ref.map(str::to_string);
                line.venue_order_id = None;
                line.reconciled_by = None;
            }
            "order_rejected" | "filled" | "execution_unknown" => {
                if row.venue_order_id.is_some() {
                    line.venue_order_id = row.venue_order_id.map(str::to_string);
                }
                line.reconciled_by = row.reconciled_by.map(str::to_string);
            }
            _ => {}
        }
        rfq.latest_answer = match row.event {
            "order_sent" => None,
            "filled" => Some("filled"),
            "execution_unknown" => Some("unknown"),
            "order_rejected" => Some("not_filled"),
            _ => rfq.latest_answer,
        };
        match row.event {
            "order_sent" => {
                totals.orders += 1;
                rfq.open_order = Some(lp);
            }
            // The venue, asked after the stream, says it never executed
            // the order: no last look was taken.
            "order_rejected" if row.reconciled_by.is_some() => {
                rfq.open_order = None;
                totals.not_executed += 1;
            }
            "order_rejected" => {
                rfq.open_order = None;
                totals.rejects += 1;
                if let Some(hold) = row.hold_ms {
                    totals.order_holds.add(hold);
                }
            }
            "filled" => {
                rfq.open_order = None;
                totals.fills += 1;
                if let Some(hold) = row.hold_ms {
                    totals.order_holds.add(hold);
                }
                let price = row.lp_price.map(str::to_string);
                let pnl = row.desk_pnl.map(str::to_string);
                rfq.line.filled_lp = Some(book.names[lp].clone());
                rfq.line.filled_price = price.clone();
                rfq.line.desk_pnl = pnl.clone();
                rfq.fill = Some(Fill {
                    price,
                    amount: row.amount.map(str::to_string),
                    pnl,
                });
            }
            _ => {}
        }
    })
}

/// The pairs summed per quote currency; sums keep every digit, trailing
/// zeros of the products go.
fn totals_of(pairs: &mut [PairFigures]) -> Vec<PairFigures> {
    let mut totals: Vec<PairFigures> = Vec::new();
    for pair in pairs.iter_mut() {
        pair.notional_quoted = pair.notional_quoted.normalize();
        pair.filled_notional = pair.filled_notional.normalize();
        pair.markup_earned = pair.markup_earned.normalize();
        let at = match totals.iter().position(|t| t.asset == pair.asset) {
            Some(at) => at,
            None => {
                totals.push(PairFigures {
                    pair: "TOTAL".into(),
                    asset: pair.asset.clone(),
                    rfqs: 0,
                    notional_quoted: Decimal::ZERO,
                    filled_notional: Decimal::ZERO,
                    markup_earned: Decimal::ZERO,
                    fills: 0,
                });
                totals.len() - 1
            }
        };
        let total = &mut totals[at];
        total.rfqs += pair.rfqs;
        total.fills += pair.fills;
        total.notional_quoted = total.notional_quoted.saturating_add(pair.notional_quoted);
        total.filled_notional = total.filled_notional.saturating_add(pair.filled_notional);
        total.markup_earned = total.markup_earned.saturating_add(pair.markup_earned);
    }
    for total in &mut totals {
        total.notional_quoted = total.notional_quoted.normalize();
        total.filled_notional = total.filled_notional.normalize();
        total.markup_earned = total.markup_earned.normalize();
    }
    totals
}

/// Each LP's row (only `--lp`'s when given).
fn lp_figures(book: Book, filter: &Filter) -> Vec<LpFigures> {
    book.names
        .into_iter()
        .zip(book.totals)
        .filter(|(lp, _)| filter.lp.as_ref().is_none_or(|only| only == lp))
        .map(|(lp, t)| {
            let answered = &t.answered;
            let error = |kind: FailureKind| answered.errors[kind as usize];
            let errors: u64 = answered.errors.iter().sum();
            let requests = answered.answers + errors;
            LpFigures {
                lp,
                requests,
                answers: answered.answers,
                answer_rate: super::report_model::ratio(answered.answers, requests, 4),
                timeouts: error(FailureKind::Timeout),
                declines: error(FailureKind::Declined),
                unavailable: error(FailureKind::Unavailable),
                malformed: error(FailureKind::Malformed),
                rate_limited: error(FailureKind::RateLimited),
                invalid: error(FailureKind::Invalid),
                auth: error(FailureKind::Auth),
                latency_p50_ms: answered.latencies.nearest_rank(50),
                latency_p95_ms: answered.latencies.nearest_rank(95),
                latency_p99_ms: answered.latencies.nearest_rank(99),
                locks_won: t.locks_won,
                lock_time_share: super::report_model::ratio(t.hold_ms, t.asked_ms, 4),
                avg_distance_bps: (answered.distances > 0).then(|| {
                    (answered.distance_sum.total() / Decimal::from(answered.distances))
                        .round_dp(2)
                        .normalize()
                }),
                improvements: t.improvements,
                orders: t.orders,
                fills: t.fills,
                fill_rate: super::report_model::ratio(t.fills, t.orders, 4),
                last_look_rejects: t.rejects,
                not_executed: t.not_executed,
                unknown: t.unknown,
                hold_p50_ms: t.order_holds.nearest_rank(50),
                hold_p99_ms: t.order_holds.nearest_rank(99),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blotter::report_model::nearest_rank;

    fn live(side: Side) -> Live {
        Live {
            side,
            lp_timeout_ms: 1_000,
            slowest_ms: 0,
            last_t_ms: 0,
            pending: VecDeque::new(),
            next_close_ms: u64::MAX,
            answers_to: None,
        }
    }

    fn pending(poll: u32, lp: u32, began_ms: u64, price: Decimal) -> Pending {
        Pending {
            poll,
            lp,
            began_ms,
            price,
        }
    }

    #[test]
    fn a_late_answer_joins_its_own_poll_and_polls_settle_after_their_window() {
        use rust_decimal_macros::dec;
        let mut totals = vec![AnswerTotals::<Histogram>::default(); 3];
        let mut rfq = live(Side::Buy);
        rfq.add(pending(1, 0, 100, dec!(100)));
        rfq.add(pending(2, 1, 600, dec!(101)));
        // C's answer to poll 1 comes after poll 2's and is poll 1's best.
        rfq.add(pending(1, 2, 100, dec!(80)));
        assert_eq!(
            rfq.pending.iter().map(|p| p.poll).collect::<Vec<_>>(),
            [1, 1, 2]
        );
        // Poll 1 began at 100 ms: its answers may come until 100 + 1000 +
        // 500 ms; nothing is settled before.
        assert_eq!(rfq.next_close_ms, 1_600);
        rfq.settle(1_599, &mut totals);
        assert_eq!(rfq.pending.len(), 3);
        rfq.settle(1_600, &mut totals);
        assert_eq!(rfq.pending.len(), 1);
        assert_eq!(rfq.next_close_ms, 2_100);
        // A is 20 from poll 1's best of 80: 2500 bps; C is the best.
        assert_eq!(totals[0].distance_sum.total(), dec!(2500));
        assert_eq!(
            (totals[2].distance_sum.total(), totals[2].distances),
            (dec!(0), 1)
        );
        rfq.settle(u64::MAX, &mut totals);
        assert!(rfq.pending.is_empty());
        assert_eq!(
            (totals[1].distance_sum.total(), totals[1].distances),
            (dec!(0), 1)
        );
    }

    #[test]
    fn interleaved_spans_share_their_rows_and_workers_get_equal_runs() {
        // Two RFQs interleaved over ids 1..=100, then one alone over
        // 101..=300, and one without answers (an empty range).
        let spans = [(1, 100), (1, 100), (101, 300), (301, 300)];
        assert_eq!(estimated_answers(&spans), [50, 50, 200, 0]);
        // Half-open overlap: 1..=100 and 51..=150 share 51..=100.
        assert_eq!(estimated_answers(&[(1, 100), (51, 150)]), [75, 75]);

        let rows = [10, 11, 12, 13];
        let states = || (0..rows.len()).map(|_| live(Side::Buy)).collect::<Vec<_>>();
        let estimates = estimated_answers(&spans);
        let shares = shares_of(&rows, &spans, &estimates, states(), 2);
        let runs: Vec<_> = shares
            .iter()
            .map(|s| {
                (
                    s.positions.clone(),
                    s.first_row,
                    s.last_row,
                    s.first_id,
                    s.last_id,
                )
            })
            .collect();
        assert_eq!(
            runs,
            [(vec![0, 1], 10, 11, 1, 100), (vec![2, 3], 12, 13, 101, 300)]
        );
        assert_eq!(shares[1].local_of(13), Some(1));
        assert_eq!(shares[1].local_of(11), None);
        // One worker takes everything. More workers than help are not
        // used: the RFQ alone over 101..=300 is the busiest run already.
        assert_eq!(shares_of(&rows, &spans, &estimates, states(), 1).len(), 1);
        assert_eq!(shares_of(&rows, &spans, &estimates, states(), 9).len(), 2);
        // An RFQ without answers, its empty span far past the other's (it
        // started as the run ended), adds no rows to step over.
        let late = shares_of(
            &rows[..2],
            &[(1, 100), (50_001, 50_000)],
            &[100, 0],
            states().split_off(2),
            1,
        );
        assert_eq!((late[0].first_id, late[0].last_id), (1, 100));
        // Interleaved over one span, runs split it: each steps over the
        // other's 50 rows (cost 4 × 50 + 100 each, against 500 for one).
        let one_span = [(1, 100), (1, 100)];
        let shares = shares_of(&rows[..2], &one_span, &[50, 50], states().split_off(2), 2);
        assert_eq!(
            shares
                .iter()
                .map(|s| (s.first_id, s.last_id))
                .collect::<Vec<_>>(),
            [(1, 100), (1, 100)]
        );
    }

    #[test]
    fn polls_with_one_scale_or_mixed_scales_give_the_same_distances() {
        use rust_decimal_macros::dec;
        let distances = |side: Side, prices: [Decimal; 3]| {
            let mut totals = vec![AnswerTotals::<Histogram>::default(); 3];
            let mut rfq = live(side);
            for (lp, price) in prices.into_iter().enumerate() {
                rfq.add(pending(1, lp as u32, 0, price));
            }
            rfq.settle(u64::MAX, &mut totals);
            totals
                .iter()
                .map(|t| (t.distance_sum.total(), t.distances))
                .collect::<Vec<_>>()
        };
        for side in [Side::Buy, Side::Sell] {
            // Integers (one scale) against Decimal operations (mixed).
            let one_scale = distances(side, [dec!(100.00), dec!(100.50), dec!(99.50)]);
            let mixed = distances(side, [dec!(100.0), dec!(100.50), dec!(99.5)]);
            assert_eq!(one_scale, mixed, "{side:?}");
        }
        // Buy: the best is 99.50; 100.00 is 0.50 / 99.50 worse.
        assert_eq!(
            distances(Side::Buy, [dec!(100.00), dec!(100.50), dec!(99.50)])[0],
            (dec!(0.50) / dec!(99.50) * dec!(10000), 1)
        );
    }

    #[test]
    fn distances_are_the_decimal_quotient_times_ten_thousand() {
        use rust_decimal_macros::dec;
        for (worse_by, best) in [
            (dec!(1.75), dec!(3501.75)),
            (dec!(10.00), dec!(100000.00)),
            (dec!(20), dec!(80)),
            (dec!(0.01), dec!(99999.99)),
            (dec!(5), dec!(3)),
            (dec!(100000000000000000000), dec!(0.00000001)),
        ] {
            let by_multiplying = worse_by
                .checked_div(best)
                .and_then(|share| share.checked_mul(Decimal::from(10_000)))
                .unwrap_or(Decimal::MAX);
            assert_eq!(
                distance_bps(worse_by, best),
                by_multiplying,
                "{worse_by} / {best}"
            );
        }
        // A quotient of fewer than 4 decimals is multiplied as before.
        assert_eq!(distance_bps(dec!(20), dec!(80)).to_string(), "2500.00");
    }

    #[test]
    fn distance_sums_are_exact_in_any_order_and_saturate() {
        use rust_decimal_macros::dec;
        let third = dec!(3.3333333333333333333333333333);
        let mut sum = DistanceSum::default();
        for _ in 0..3 {
            sum.add(third);
        }
        // 9.999…9 with 28 decimals, kept exactly, rounded once at the end
        // (29 significant digits do not fit a Decimal).
        assert_eq!(sum.exact, 99_999_999_999_999_999_999_999_999_999);
        assert_eq!(sum.total(), dec!(10));
        let parts = |values: &[Decimal]| {
            let mut sum = DistanceSum::default();
            values.iter().for_each(|v| sum.add(*v));
            sum
        };
        let (a, b) = (
            [dec!(1.75), dec!(0.0000000000000000000000000001)],
            [dec!(4.9975)],
        );
        let mut ab = parts(&a);
        ab.absorb(parts(&b));
        let mut ba = parts(&b);
        ba.absorb(parts(&a));
        assert_eq!(ab.total(), dec!(6.7475000000000000000000000001));
        assert_eq!(ba.total(), ab.total());
        // An absurd distance saturates instead of overflowing.
        let mut absurd = parts(&[dec!(1), Decimal::MAX]);
        absurd.add(Decimal::MAX);
        assert_eq!(absurd.total(), Decimal::MAX);
    }

    #[test]
    fn a_writer_counts_a_slow_answer_in_a_few_bytes_and_its_row_reads_as_a_scan_would() {
        use rust_decimal_macros::dec;
        let answer = |id: i64, lp: i64, latency_ms: u64, price| AnswerRow {
            id,
            rfq: 7,
            t_ms: 60_000 + id as u64,
            lp,
            poll: 1,
            latency_ms,
            answered: Answered::Quote(price),
            side: None,
        };
        let rows = [
            answer(1, 10, 60_000, dec!(100)),
            answer(2, 11, 12, dec!(101)),
            answer(3, 10, 60_000, dec!(99)),
            answer(4, 11, 3, dec!(101)),
            answer(5, 11, 12, dec!(102)),
        ];
        let mut writer = RfqAnswers::new(Side::Buy, 1_000);
        rows.iter().for_each(|row| writer.add(row));
        // Two distinct values per LP, not a vector of 60,001 counts.
        assert!(
            writer.latency_bytes() <= 8 * 16,
            "{}",
            writer.latency_bytes()
        );
        let summaries = writer.summaries(7);
        let latencies: Vec<_> = summaries.iter().map(|s| s.latencies.clone()).collect();
        assert_eq!(latencies, [vec![(60_000, 2)], vec![(3, 1), (12, 2)]]);

        // The report adds the rows' counts into its slots as the answers
        // pass would have counted each answer.
        let mut from_rows = AnswerTotals::<Histogram>::default();
        summaries.iter().for_each(|s| from_rows.add_summary(s));
        let mut scanned = AnswerTotals::<Histogram>::default();
        rows.iter()
            .for_each(|row| scanned.latencies.add(row.latency_ms));
        for p in [1, 50, 95, 99, 100] {
            assert_eq!(
                from_rows.latencies.nearest_rank(p),
                scanned.latencies.nearest_rank(p),
                "p{p}"
            );
        }
        assert_eq!(from_rows.latencies.nearest_rank(50), Some(12));
        assert_eq!(from_rows.latencies.nearest_rank(95), Some(60_000));
        assert_eq!(from_rows.answers, 5);
        // Poll 1's best is 99: 100 is 1/99 worse, 101 2/99, 102 3/99.
        assert_eq!(from_rows.distances, 5);
        assert_eq!(
            from_rows.distance_sum.total(),
            (dec!(1) / dec!(99) + dec!(2) / dec!(99) * dec!(2) + dec!(3) / dec!(99)) * dec!(10000)
        );
    }

    #[test]
    fn histogram_percentiles_are_the_sorted_values_nearest_ranks() {
        let cases: [&[u64]; 5] = [
            &[],
            &[7],
            &[
                10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180,
                190, 200,
            ],
            &[0, 0, 0, 1, 999, 1000, 70_000, 70_000, 1 << 40],
            &[
                5, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
                9,
            ],
        ];
        for values in cases {
            let mut histogram = Histogram::default();
            values.iter().for_each(|v| histogram.add(*v));
            let mut sorted = values.to_vec();
            sorted.sort_unstable();
            for p in [1, 50, 95, 99, 100] {
                assert_eq!(
                    histogram.nearest_rank(p),
                    nearest_rank(&sorted, p),
                    "p{p} of {values:?}"
                );
            }
        }
    }
}
