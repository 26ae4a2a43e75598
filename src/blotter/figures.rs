//! The report's figures computed in one sequential pass over each table:
//! LP answers are read once in id order (never through a per-RFQ index,
//! whose random page reads made a report of millions of answers take
//! seconds), latencies and hold times go into per-LP histograms of whole
//! milliseconds, and each poll's answers are kept only until the poll can
//! no longer change. Memory depends on the RFQs and LPs selected and on how
//! many polls run at once, not on how many answers are stored.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::str::FromStr;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};
use rust_decimal::Decimal;

use super::compact;
use super::report::{Filter, LpFigures, PairFigures, Report, RfqLine};
use crate::market::Side;
use crate::rfq::event::FailureKind;

/// Counts of whole-millisecond values: exact nearest-rank percentiles in
/// memory that depends on the spread of the values, not their number.
#[derive(Debug, Default, Clone)]
pub struct Histogram {
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
    pub fn add(&mut self, value: u64) {
        self.count += 1;
        if value < DENSE {
            let at = value as usize;
            if self.dense.len() <= at {
                self.dense.resize(at + 1, 0);
            }
            self.dense[at] += 1;
        } else {
            *self.sparse.entry(value).or_default() += 1;
        }
    }

    /// The nearest-rank percentile, as [`super::report::nearest_rank`]
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

/// Per-LP running totals.
#[derive(Default)]
struct Totals {
    answers: u64,
    errors: [u64; FailureKind::ALL.len()],
    latencies: Histogram,
    locks_won: u64,
    improvements: u64,
    hold_ms: u64,
    asked_ms: u64,
    distance_sum: Decimal,
    distances: u64,
    orders: u64,
    fills: u64,
    rejects: u64,
    order_holds: Histogram,
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
        self.pending.insert(at, answer);
        let closes = answer.began_ms.saturating_add(self.answer_window());
        self.next_close_ms = self.next_close_ms.min(closes);
    }

    /// Settles every poll over by stream ms `now`: no answer to it can
    /// come after its LPs' deadlines, so its best is final and each
    /// answer's distance from it goes to its LP. `u64::MAX` settles all.
    fn settle(&mut self, now: u64, book: &mut Book) {
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
                        worse_by
                            .checked_div(best)
                            .and_then(|share| share.checked_mul(Decimal::from(10_000)))
                            .unwrap_or(Decimal::MAX)
                    };
                    let totals = &mut book.totals[answer.lp as usize];
                    totals.distance_sum = totals.distance_sum.saturating_add(bps);
                    totals.distances += 1;
                }
            }
            self.pending.drain(..count);
        }
    }
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
}

/// An RFQ's fill as the pairs section sums it.
struct Fill {
    price: Option<String>,
    amount: Option<String>,
    pnl: Option<String>,
}

/// Computes the report from an open blotter: the RFQs the filter selects,
/// then one pass over their answers, lock events and executions.
pub fn build(conn: &Connection, filter: &Filter) -> rusqlite::Result<Report> {
    let (mut rfqs, mut live) = select_rfqs(conn, filter)?;
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
        scan_answers(conn, filter, &rfqs, &mut live, span, &at_of, &mut book)?;
        scan_locks(conn, &mut rfqs, &mut live, span, &at_of, &mut book)?;
        scan_executions(conn, &mut rfqs, &mut live, span, &at_of, &mut book)?;
    }
    let mut last_client_quote =
        conn.prepare_cached("SELECT MAX(t_ms) FROM client_quotes WHERE rfq = ?1")?;
    let mut pairs: Vec<PairFigures> = Vec::new();
    let mut lines = Vec::with_capacity(rfqs.len());
    for ((row, mut rfq), mut live) in rfqs.into_iter().zip(live) {
        let duration = match rfq.end_t_ms {
            Some(t) => t,
            None => {
                let quoted: Option<u64> = last_client_quote.query_row([row], |r| r.get(0))?;
                live.last_t_ms.max(quoted.unwrap_or(0))
            }
        };
        rfq.line.duration_ms = duration;
        for lp in &rfq.lps {
            let at = book.index_of(lp);
            book.totals[at].asked_ms += duration;
        }
        live.settle(u64::MAX, &mut book);
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
        if let Some(price) = rfq.line.final_client_price.as_deref() {
            let amount = Decimal::from_str(&rfq.line.amount).unwrap_or_default();
            let price = Decimal::from_str(price).unwrap_or_default();
            pair.notional_quoted = pair
                .notional_quoted
                .saturating_add(amount.saturating_mul(price));
        }
        if let Some(fill) = &rfq.fill {
            let number = |text: &Option<String>| {
                text.as_deref()
                    .and_then(|t| Decimal::from_str(t).ok())
                    .unwrap_or_default()
            };
            pair.fills += 1;
            pair.filled_notional = pair
                .filled_notional
                .saturating_add(number(&fill.price).saturating_mul(number(&fill.amount)));
            pair.markup_earned = pair.markup_earned.saturating_add(number(&fill.pnl));
        }
        lines.push(rfq.line);
    }
    let lps = lp_figures(book, filter);
    let health = super::report::health_lines(conn, filter, &lps)?;
    Ok(Report {
        lps,
        rfqs: lines,
        totals: totals_of(&mut pairs),
        pairs,
        health,
    })
}

/// The RFQs the filter selects, oldest first, with their row ids.
#[allow(clippy::type_complexity)]
fn select_rfqs(
    conn: &Connection,
    filter: &Filter,
) -> rusqlite::Result<(Vec<(i64, Selected)>, Vec<Live>)> {
    let mut select = conn.prepare(
        "SELECT id, rfq_id, started_at, side, amount, pair, quote, lps, end_t_ms, end_reason,
                improvements, final_lp, final_client_price, outcome, answers_from, answers_to,
                lp_timeout_ms
         FROM rfqs r
         WHERE (?1 IS NULL OR started_ms >= ?1) AND (?2 IS NULL OR started_ms < ?2)
           AND (?3 IS NULL OR pair = ?3)
           AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(r.lps) WHERE value = ?4))
         ORDER BY started_ms DESC, id DESC
         LIMIT ?5",
    )?;
    let limit = filter.last.map(i64::from).unwrap_or(-1);
    let mut rows = select.query(params![
        filter.since_ms,
        filter.until_ms,
        filter.pair,
        filter.lp,
        limit
    ])?;
    let mut selected = Vec::new();
    let mut live = Vec::new();
    while let Some(row) = rows.next()? {
        let lps_text: String = row.get("lps")?;
        let side_text: String = row.get("side")?;
        live.push(Live {
            side: side_text.parse().unwrap_or(Side::Buy),
            lp_timeout_ms: row.get("lp_timeout_ms")?,
            slowest_ms: 0,
            last_t_ms: 0,
            pending: VecDeque::new(),
            next_close_ms: u64::MAX,
            answers_to: row.get("answers_to")?,
        });
        selected.push((
            row.get("id")?,
            Selected {
                lps: serde_json::from_str(&lps_text).unwrap_or_default(),
                quote_asset: row.get("quote")?,
                end_t_ms: row.get("end_t_ms")?,
                answers_from: row.get("answers_from")?,
                answers_to: row.get("answers_to")?,
                holder: None,
                fill: None,
                line: RfqLine {
                    rfq_id: row.get("rfq_id")?,
                    started_at: row.get("started_at")?,
                    side: side_text,
                    amount: row.get("amount")?,
                    pair: row.get("pair")?,
                    duration_ms: 0,
                    final_lp: row.get("final_lp")?,
                    final_client_price: row.get("final_client_price")?,
                    improvements: row.get::<_, Option<u64>>("improvements")?.unwrap_or(0),
                    end_reason: row.get("end_reason")?,
                    outcome: row.get("outcome")?,
                    filled_lp: None,
                    filled_price: None,
                    desk_pnl: None,
                },
            },
        ));
    }
    // Oldest first from here on.
    selected.reverse();
    live.reverse();
    Ok((selected, live))
}

/// One pass over the answers table within the selected RFQs' id ranges:
/// counts, latency histograms and each poll's distances.
fn scan_answers(
    conn: &Connection,
    filter: &Filter,
    rfqs: &[(i64, Selected)],
    live: &mut [Live],
    (first_row, last_row): (i64, i64),
    at_of: &impl Fn(i64) -> Option<usize>,
    book: &mut Book,
) -> rusqlite::Result<()> {
    let from = rfqs.iter().map(|(_, r)| r.answers_from).min().unwrap_or(1);
    let to = rfqs
        .iter()
        .map(|(_, r)| r.answers_to.unwrap_or(i64::MAX))
        .max()
        .unwrap_or(i64::MAX);
    // With --lp only that LP's errors count; every valid answer still
    // does (it may be a poll's best).
    let only_lp: Option<i64> = match &filter.lp {
        Some(name) => conn
            .query_row("SELECT id FROM lps WHERE name = ?1", [name], |r| r.get(0))
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(Some(-1)),
                error => Err(error),
            })?,
        None => None,
    };
    // Only the conditions a filter needs: each costs a comparison per row.
    let mut sql = String::from(
        "SELECT rfq, t_ms, lp, poll, latency_ms, price, failure, id FROM answers
         WHERE id >= ?1 AND id <= ?2",
    );
    let (stored_first, stored_last): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT MIN(id), MAX(id) FROM rfqs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    if (Some(first_row), Some(last_row)) != (stored_first, stored_last) {
        sql += " AND rfq >= ?3 AND rfq <= ?4";
    }
    if only_lp.is_some() {
        sql += " AND (failure IS NULL OR lp = ?5)";
    }
    let mut select = conn.prepare(&sql)?;
    for (index, value) in [from, to, first_row, last_row, only_lp.unwrap_or(-1)]
        .into_iter()
        .enumerate()
    {
        if select.parameter_name(index + 1).is_some() {
            select.raw_bind_parameter(index + 1, value)?;
        }
    }
    let mut rows = select.raw_query();
    let names = super::read::lp_names(conn)?;
    // Two stages on two threads: this one steps SQLite and decodes rows,
    // the other counts them (the per-RFQ state of a thousand interleaved
    // streams costs cache misses that then overlap with SQLite's work).
    // Batches through a short bounded channel keep memory flat.
    std::thread::scope(|scope| {
        let (full, batches) = std::sync::mpsc::sync_channel::<Vec<AnswerRow>>(4);
        let (emptied, empty) = std::sync::mpsc::channel::<Vec<AnswerRow>>();
        let counter = scope.spawn(move || {
            let mut lp_index = Vec::new();
            for mut batch in batches {
                for row in &batch {
                    count_answer(row, live, book, &names, &mut lp_index);
                }
                batch.clear();
                let _ = emptied.send(batch);
            }
        });
        let mut batch = Vec::with_capacity(BATCH);
        let read = (|| -> rusqlite::Result<()> {
            while let Some(row) = rows.next()? {
                let Some(at) = at_of(row.get_ref(0)?.as_i64()?) else {
                    continue;
                };
                let kind = match row.get_ref(6)? {
                    // An unreadable stored price stops the report with the
                    // value (as replay does), never counts as a price of 0.
                    ValueRef::Null => {
                        Answered::Quote(compact::decode(row.get_ref(5)?).ok_or_else(|| {
                            rusqlite::Error::FromSqlConversionFailure(
                                5,
                                rusqlite::types::Type::Text,
                                "an LP answer's stored price is not a decimal".into(),
                            )
                        })?)
                    }
                    failure => {
                        Answered::Failed(failure.as_str().ok().and_then(FailureKind::from_wire))
                    }
                };
                batch.push(AnswerRow {
                    at: at as u32,
                    poll: row.get_ref(3)?.as_i64()? as u32,
                    lp_id: row.get_ref(2)?.as_i64()?,
                    t_ms: row.get_ref(1)?.as_i64()?.max(0) as u64,
                    latency_ms: row.get_ref(4)?.as_i64()?.max(0) as u64,
                    id: row.get_ref(7)?.as_i64()?,
                    kind,
                });
                if batch.len() == BATCH {
                    let next = empty
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                    if full.send(std::mem::replace(&mut batch, next)).is_err() {
                        break;
                    }
                }
            }
            Ok(())
        })();
        if !batch.is_empty() {
            let _ = full.send(batch);
        }
        drop(full);
        if let Err(panic) = counter.join() {
            std::panic::resume_unwind(panic);
        }
        read
    })
}

/// Rows handed from the reading thread to the counting one at a time.
const BATCH: usize = 4096;

/// One answer row, decoded.
struct AnswerRow {
    /// Its RFQ's position among the selected.
    at: u32,
    poll: u32,
    lp_id: i64,
    t_ms: u64,
    latency_ms: u64,
    id: i64,
    kind: Answered,
}

enum Answered {
    Quote(Decimal),
    /// `None`: a failure kind this version does not know (not counted).
    Failed(Option<FailureKind>),
}

/// Counts one answer: its LP's totals, and its RFQ's open polls.
fn count_answer(
    row: &AnswerRow,
    live: &mut [Live],
    book: &mut Book,
    names: &HashMap<i64, std::sync::Arc<str>>,
    lp_index: &mut Vec<usize>,
) {
    let rfq = &mut live[row.at as usize];
    // lps.id → book index, filled as LPs appear (ids are small and dense).
    let slot = usize::try_from(row.lp_id)
        .unwrap_or(usize::MAX)
        .min(1 << 20);
    if lp_index.len() <= slot {
        lp_index.resize(slot + 1, usize::MAX);
    }
    let lp = match lp_index[slot] {
        usize::MAX => {
            let name = names.get(&row.lp_id).map_or("", |name| &**name);
            let lp = book.index_of(name);
            lp_index[slot] = lp;
            lp
        }
        lp => lp,
    };
    rfq.last_t_ms = rfq.last_t_ms.max(row.t_ms);
    rfq.slowest_ms = rfq.slowest_ms.max(row.latency_ms);
    if row.t_ms >= rfq.next_close_ms {
        rfq.settle(row.t_ms, book);
    }
    match row.kind {
        Answered::Quote(price) => {
            let totals = &mut book.totals[lp];
            totals.answers += 1;
            totals.latencies.add(row.latency_ms);
            rfq.add(Pending {
                poll: row.poll,
                lp: lp as u32,
                began_ms: row.t_ms.saturating_sub(row.latency_ms),
                price,
            });
        }
        Answered::Failed(Some(kind)) => book.totals[lp].errors[kind as usize] += 1,
        Answered::Failed(None) => {}
    }
    if rfq.answers_to == Some(row.id) {
        rfq.settle(u64::MAX, book);
        rfq.pending = VecDeque::new();
    }
}

/// Lock holding, per RFQ in stream order: from a `locked` to the next
/// `locked`, its own `lock_expired`, or the end of the stream.
fn scan_locks(
    conn: &Connection,
    rfqs: &mut [(i64, Selected)],
    live: &mut [Live],
    (first_row, last_row): (i64, i64),
    at_of: &impl Fn(i64) -> Option<usize>,
    book: &mut Book,
) -> rusqlite::Result<()> {
    let mut select = conn.prepare(
        "SELECT rfq, t_ms, event, lp, reason FROM lock_events
         WHERE rfq >= ?1 AND rfq <= ?2 ORDER BY rfq, seq",
    )?;
    let mut rows = select.query([first_row, last_row])?;
    while let Some(row) = rows.next()? {
        let Some(at) = at_of(row.get(0)?) else {
            continue;
        };
        let rfq = &mut rfqs[at].1;
        let t: u64 = row.get(1)?;
        live[at].last_t_ms = live[at].last_t_ms.max(t);
        let lp = book.index_of(row.get_ref(3)?.as_str()?);
        if row.get_ref(2)?.as_str()? == "locked" {
            if let Some((held, since)) = rfq.holder.take() {
                book.totals[held].hold_ms += t.saturating_sub(since);
            }
            let totals = &mut book.totals[lp];
            totals.locks_won += 1;
            if row.get_ref(4)?.as_str_or_null()? == Some("improvement") {
                totals.improvements += 1;
            }
            rfq.holder = Some((lp, t));
        } else if let Some((held, since)) = rfq.holder.filter(|(held, _)| *held == lp) {
            book.totals[held].hold_ms += t.saturating_sub(since);
            rfq.holder = None;
        }
    }
    Ok(())
}

/// Orders and their answers; the RFQ's fill (at most one: no order
/// follows a fill) feeds its line and its pair's totals.
fn scan_executions(
    conn: &Connection,
    rfqs: &mut [(i64, Selected)],
    live: &mut [Live],
    (first_row, last_row): (i64, i64),
    at_of: &impl Fn(i64) -> Option<usize>,
    book: &mut Book,
) -> rusqlite::Result<()> {
    let mut select = conn.prepare(
        "SELECT rfq, t_ms, event, lp, lp_price, amount, hold_ms, desk_pnl FROM executions
         WHERE rfq >= ?1 AND rfq <= ?2 ORDER BY rfq, seq",
    )?;
    let mut rows = select.query([first_row, last_row])?;
    while let Some(row) = rows.next()? {
        let Some(at) = at_of(row.get(0)?) else {
            continue;
        };
        let rfq = &mut rfqs[at].1;
        let t: u64 = row.get(1)?;
        live[at].last_t_ms = live[at].last_t_ms.max(t);
        let Some(lp) = row.get_ref(3)?.as_str_or_null()? else {
            continue; // not_filled names no LP
        };
        let lp = book.index_of(lp);
        let totals = &mut book.totals[lp];
        match row.get_ref(2)?.as_str()? {
            "order_sent" => totals.orders += 1,
            "order_rejected" => {
                totals.rejects += 1;
                if let Some(hold) = row.get::<_, Option<u64>>(6)? {
                    totals.order_holds.add(hold);
                }
            }
            "filled" => {
                totals.fills += 1;
                if let Some(hold) = row.get::<_, Option<u64>>(6)? {
                    totals.order_holds.add(hold);
                }
                let price: Option<String> = row.get(4)?;
                rfq.line.filled_lp = Some(book.names[lp].clone());
                rfq.line.filled_price = price.clone();
                rfq.line.desk_pnl = row.get(7)?;
                rfq.fill = Some(Fill {
                    price,
                    amount: row.get(5)?,
                    pnl: row.get(7)?,
                });
            }
            _ => {}
        }
    }
    Ok(())
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
            let error = |kind: FailureKind| t.errors[kind as usize];
            let errors: u64 = t.errors.iter().sum();
            let requests = t.answers + errors;
            LpFigures {
                lp,
                requests,
                answers: t.answers,
                answer_rate: super::report::ratio(t.answers, requests, 4),
                timeouts: error(FailureKind::Timeout),
                declines: error(FailureKind::Declined),
                unavailable: error(FailureKind::Unavailable),
                malformed: error(FailureKind::Malformed),
                rate_limited: error(FailureKind::RateLimited),
                invalid: error(FailureKind::Invalid),
                auth: error(FailureKind::Auth),
                latency_p50_ms: t.latencies.nearest_rank(50),
                latency_p95_ms: t.latencies.nearest_rank(95),
                latency_p99_ms: t.latencies.nearest_rank(99),
                locks_won: t.locks_won,
                lock_time_share: super::report::ratio(t.hold_ms, t.asked_ms, 4),
                avg_distance_bps: (t.distances > 0).then(|| {
                    (t.distance_sum / Decimal::from(t.distances))
                        .round_dp(2)
                        .normalize()
                }),
                improvements: t.improvements,
                orders: t.orders,
                fills: t.fills,
                fill_rate: super::report::ratio(t.fills, t.orders, 4),
                last_look_rejects: t.rejects,
                hold_p50_ms: t.order_holds.nearest_rank(50),
                hold_p99_ms: t.order_holds.nearest_rank(99),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blotter::report::nearest_rank;

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
        let mut book = Book::default();
        for lp in ["A", "B", "C"] {
            book.index_of(lp);
        }
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
        rfq.settle(1_599, &mut book);
        assert_eq!(rfq.pending.len(), 3);
        rfq.settle(1_600, &mut book);
        assert_eq!(rfq.pending.len(), 1);
        assert_eq!(rfq.next_close_ms, 2_100);
        // A is 20 from poll 1's best of 80: 2500 bps; C is the best.
        assert_eq!(book.totals[0].distance_sum, dec!(2500));
        assert_eq!(
            (book.totals[2].distance_sum, book.totals[2].distances),
            (dec!(0), 1)
        );
        rfq.settle(u64::MAX, &mut book);
        assert!(rfq.pending.is_empty());
        assert_eq!(
            (book.totals[1].distance_sum, book.totals[1].distances),
            (dec!(0), 1)
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
