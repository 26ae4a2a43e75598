//! One stream's view and its pure reducer: engine events (and the stream
//! clock's `now`) in, everything the stream and summary screens show out —
//! the ranking, the lock marker, arrows, the client quote's expiry state,
//! the execution, the event log and the best-price history. No I/O and no
//! pricing: every price comes from an event; distances in bps are
//! presentation, computed in `Decimal`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::clock::StreamMs;
use crate::market::{Bps, Pair, Side};
use crate::output::group_thousands;
use crate::rfq::event::*;
use crate::rfq::{RfqEvent, RfqSpec};
use crate::ui::words;

/// The client quote's validity turns to a warning this close to its end.
pub(crate) const WARN_MS: u64 = 3_000;
/// How long the row that just took the lock stays highlighted.
pub(crate) const LOCK_FLASH_MS: u64 = 1_500;
/// How long the PRICE IMPROVEMENT banner stays up.
pub const BANNER_MS: u64 = 2_500;
/// Event log lines kept (the screen shows the latest that fit).
pub(crate) const LOG_CAP: usize = 200;
/// Time buckets of the best-price history over the whole stream: bounded
/// memory however many LPs answer.
pub(crate) const HISTORY_BUCKETS: usize = 240;

/// Where an LP moved in the ranking since the previous poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    Same,
    Up,
    Down,
}

/// The outcome of an LP's latest request.
#[derive(Debug, Clone, PartialEq)]
pub enum LpStatus {
    /// Asked, no answer yet.
    Waiting,
    /// Its latest answer was a valid quote.
    Ok,
    /// Its latest request failed.
    Failed { kind: FailureKind, reason: String },
    /// Its latest quote is valid but nothing corroborates it: not offered.
    Unverified,
}

/// One LP's line on the leaderboard.
#[derive(Debug, Clone)]
pub struct LpRow {
    pub name: Arc<str>,
    /// Its latest valid quote, cleared when a later request fails. The
    /// locked LP is shown (and ranked) at its frozen lock price instead.
    pub price: Option<Decimal>,
    /// Stream time of that quote (earlier wins a tie, as in the engine).
    pub(crate) quoted_at_ms: StreamMs,
    pub latency_ms: Option<u64>,
    pub answers: u32,
    pub errors: u32,
    pub status: LpStatus,
    pub movement: Movement,
    /// The LP's shared health as last reported to this stream, and when
    /// (`None`: not tracked, as for simulated LPs).
    pub health: Option<(LpHealthEvent, StreamMs)>,
    /// An order went to a clean LP instead of this fading one.
    pub(crate) passed_over: bool,
}

/// The orders of an accepted quote, as far as they have come.
#[derive(Debug, Clone, Default)]
pub struct ExecutionView {
    /// On a two-way stream, the side the client took (its orders say
    /// so): the ticket's verb is that side's, not the request's.
    pub(crate) side: Option<Side>,
    pub(crate) orders: Vec<OrderSent>,
    pub(crate) rejects: Vec<OrderRejected>,
    /// How it ended, once it has.
    pub(crate) ticket: Option<Ticket>,
}

impl ExecutionView {
    /// An order is out and no outcome is known yet.
    pub fn in_flight(&self) -> bool {
        self.ticket.is_none() && self.orders.len() > self.rejects.len()
    }

    /// The client accepted (an order went out, or the acceptance ended).
    pub(crate) fn accepted(&self) -> bool {
        !self.orders.is_empty() || self.ticket.is_some()
    }
}

/// The outcome of an accepted quote.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ticket {
    Filled(Filled),
    NotFilled(NotFilled),
    Unknown(ExecutionUnknown),
}

/// The request and settings of the stream, from `started`.
#[derive(Debug, Clone)]
pub struct Request {
    pub side: Side,
    /// In the `fixed` leg's currency.
    pub(crate) amount: Decimal,
    pub(crate) pair: Pair,
    /// The leg whose amount the client named.
    pub(crate) fixed: crate::market::Leg,
    pub(crate) markup_bps: Bps,
    pub(crate) threshold_bps: Bps,
    pub duration_ms: u64,
    /// Local wall time the stream started, `HH:MM:SS`.
    pub(crate) started_local: String,
    /// Every LP is simulated: nothing on screen is a real price.
    pub(crate) simulated: bool,
    /// The simulated LPs of a stream that mixes them with real ones.
    pub(crate) simulated_lps: Vec<std::sync::Arc<str>>,
    /// Whom the request is for.
    pub(crate) client: crate::rfq::ClientId,
    /// The client asked for both sides: `side` is the offer's, and the
    /// stream's [`ConsoleState::bid`] holds the bid.
    pub(crate) two_way: bool,
}

impl Request {
    /// The client, when it is not the house: screens name a client's
    /// request, and the house's read as they did before clients.
    pub(crate) fn named_client(&self) -> Option<&crate::rfq::ClientId> {
        (self.client != crate::rfq::ClientId::house()).then_some(&self.client)
    }

    /// "BUY", "SELL", or "TWO-WAY" for a request of both sides.
    pub(crate) fn side_label(&self) -> &'static str {
        if self.two_way {
            "TWO-WAY"
        } else {
            self.side.label()
        }
    }

    pub(crate) fn spec(&self) -> RfqSpec {
        RfqSpec {
            side: self.side,
            amount: self.amount,
            pair: self.pair,
            fixed: self.fixed,
        }
    }
}

/// The current lock.
#[derive(Debug, Clone, PartialEq)]
pub struct LockView {
    /// Index into [`ConsoleState::lps`].
    pub lp: usize,
    /// The frozen LP price.
    pub price: Decimal,
    pub(crate) at_ms: StreamMs,
    pub(crate) reason: LockReason,
}

/// The client quote on offer, with the stream time it was made.
#[derive(Debug, Clone)]
pub struct LiveQuote {
    pub quote: Box<ClientQuote>,
    pub(crate) at_ms: StreamMs,
}

/// How the client quote's validity stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Live {
        remaining_ms: u64,
    },
    /// In its last `WARN_MS`.
    Ending {
        remaining_ms: u64,
    },
    Expired,
}

/// What an event-log line is about (its colour).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Info,
    Lock,
    Improvement,
    Refresh,
    Error,
    Expired,
    End,
}

#[derive(Debug, Clone)]
pub struct LogLine {
    pub t_ms: StreamMs,
    pub kind: LogKind,
    pub text: String,
}

/// Everything the live stream and summary screens show for one stream.
#[derive(Debug, Clone)]
pub struct ConsoleState {
    pub rfq_id: Arc<str>,
    /// The client's acceptance and what came of it.
    pub execution: ExecutionView,
    /// The blotter cannot write this stream's record (a banner says so).
    pub(crate) blotter_error: Option<String>,
    pub request: Option<Request>,
    pub lps: Vec<LpRow>,
    /// LP indices, best first for the side; LPs without a price last.
    pub ranking: Vec<usize>,
    /// Rank position of each LP now, and at the start of the current poll.
    position: Vec<usize>,
    baseline: Vec<usize>,
    by_name: HashMap<Arc<str>, usize>,
    /// The highest poll number seen.
    pub poll: u32,
    pub lock: Option<LockView>,
    pub quote: Option<LiveQuote>,
    /// `lock_expired` came and no fresh quote since.
    pub lock_expired: bool,
    /// Competitors that beat the locked price by the threshold.
    pub improvements: u32,
    /// Times the lock went to another LP without an improvement: a renewal
    /// of an expiring (or expired) quote, at whatever price was best.
    pub renewal_moves: u32,
    pub(crate) last_improvement_ms: Option<StreamMs>,
    /// Best LP price per time bucket of the stream ([`HISTORY_BUCKETS`]).
    pub(crate) best_history: Vec<Option<Decimal>>,
    pub log: VecDeque<LogLine>,
    pub ended: Option<Ended>,
    pub(crate) ended_at_ms: Option<StreamMs>,
    /// Stream time the screen is drawn for.
    pub now_ms: StreamMs,
    /// Colours on (false under `NO_COLOR`).
    pub(crate) color: bool,
    /// A two-way stream's bid (the client sells at it): its own board,
    /// lock, client quote and validity, reduced from the events tagged
    /// `sell`. `self` then holds the offer's, and what the two share:
    /// the request, the execution, the event log, the end.
    pub bid: Option<Box<ConsoleState>>,
}

impl Default for ConsoleState {
    fn default() -> Self {
        ConsoleState::new(true)
    }
}

impl ConsoleState {
    /// The LP whose unverified price a release of `side` would offer (on
    /// a one-sided stream, its own side): the best of those shown
    /// unverified on that side's board, with its price.
    pub fn best_unverified(&self, side: Side) -> Option<(Arc<str>, Decimal)> {
        self.side_view(side).best_unverified_here()
    }

    fn best_unverified_here(&self) -> Option<(Arc<str>, Decimal)> {
        let side = self.request.as_ref()?.side;
        self.lps
            .iter()
            .filter(|row| row.status == LpStatus::Unverified)
            .filter_map(|row| row.price.map(|price| (row.name.clone(), price)))
            .reduce(|best, next| {
                if side.is_better(next.1, best.1) {
                    next
                } else {
                    best
                }
            })
    }

    pub fn new(color: bool) -> ConsoleState {
        ConsoleState {
            rfq_id: Arc::from(""),
            execution: ExecutionView::default(),
            blotter_error: None,
            request: None,
            lps: Vec::new(),
            ranking: Vec::new(),
            position: Vec::new(),
            baseline: Vec::new(),
            by_name: HashMap::new(),
            poll: 0,
            lock: None,
            quote: None,
            lock_expired: false,
            improvements: 0,
            renewal_moves: 0,
            last_improvement_ms: None,
            best_history: vec![None; HISTORY_BUCKETS],
            log: VecDeque::with_capacity(LOG_CAP),
            ended: None,
            ended_at_ms: None,
            now_ms: 0,
            color,
            bid: None,
        }
    }

    /// A state built from a whole event sequence, drawn at `now_ms` (for
    /// tests and benchmarks).
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a RfqEvent>,
        now_ms: StreamMs,
    ) -> ConsoleState {
        let mut state = ConsoleState::default();
        for event in events {
            state.apply(event, event.t_ms);
        }
        state.tick(now_ms);
        state
    }

    /// Moves the screen's time forward (countdowns between events).
    pub fn tick(&mut self, now_ms: StreamMs) {
        self.now_ms = self.now_ms.max(now_ms);
        if let Some(bid) = self.bid.as_mut() {
            bid.tick(now_ms);
        }
    }

    /// A two-way stream (its bid in [`ConsoleState::bid`]).
    pub fn two_way(&self) -> bool {
        self.bid.is_some()
    }

    /// The view of one side's board, lock and client quote: on a two-way
    /// stream the bid's for `Sell`, the offer's (this one) for `Buy`; a
    /// one-sided stream has only its own.
    pub fn side_view(&self, side: Side) -> &ConsoleState {
        match (&self.bid, side) {
            (Some(bid), Side::Sell) => bid,
            _ => self,
        }
    }

    /// The highest poll of either side.
    pub fn polls(&self) -> u32 {
        self.bid
            .as_ref()
            .map_or(self.poll, |bid| bid.poll.max(self.poll))
    }

    /// Reduces one event into the view; `now_ms` is the stream clock when
    /// it is applied (never earlier than the event's own time). A two-way
    /// stream's event goes to its side's board, and its log line says
    /// which side.
    pub fn apply(&mut self, event: &RfqEvent, now_ms: StreamMs) {
        self.tick(now_ms.max(event.t_ms));
        let Some(side) = event.two_way_side.filter(|_| self.two_way()) else {
            return self.reduce(event);
        };
        if matches!(event.kind, EventKind::OrderSent(_)) {
            self.execution.side = Some(side);
        }
        // What one side learns of its LPs, lock and quote is its own; the
        // execution and the log are the stream's.
        let of_the_board = matches!(
            event.kind,
            EventKind::LpQuote(_)
                | EventKind::LpError(_)
                | EventKind::Unverified(_)
                | EventKind::Released(_)
                | EventKind::ClientQuote(_)
                | EventKind::Locked(_)
                | EventKind::LockExpired(_)
                | EventKind::LpHealth(_)
        );
        let lines = match (side, self.bid.as_mut()) {
            (Side::Sell, Some(bid)) if of_the_board => {
                bid.reduce(event);
                std::mem::take(&mut bid.log)
            }
            _ => {
                let kept = std::mem::take(&mut self.log);
                self.reduce(event);
                std::mem::replace(&mut self.log, kept)
            }
        };
        let name = match side {
            Side::Buy => "offer",
            Side::Sell => "bid",
        };
        for line in lines {
            self.log(line.t_ms, line.kind, format!("{name} · {}", line.text));
        }
    }

    fn reduce(&mut self, event: &RfqEvent) {
        let t = event.t_ms;
        match &event.kind {
            EventKind::Started(started) => self.start(event.rfq_id.clone(), started),
            EventKind::LpQuote(quote) => {
                let Some(index) = self.lp_index(&quote.lp) else {
                    return;
                };
                self.see_poll(quote.poll);
                let row = &mut self.lps[index];
                // `unverified` is said once per price: the same price quoted
                // again is still unverified.
                let still_unverified =
                    row.status == LpStatus::Unverified && row.price == Some(quote.price);
                row.price = Some(quote.price);
                row.quoted_at_ms = t;
                row.latency_ms = Some(quote.latency_ms);
                row.answers += 1;
                if !still_unverified {
                    row.status = LpStatus::Ok;
                }
                self.rerank(t);
            }
            EventKind::Unverified(unverified) => {
                let Some(index) = self.lp_index(&unverified.lp) else {
                    return;
                };
                self.lps[index].status = LpStatus::Unverified;
                let text = format!(
                    "{} unverified at {}: not offered until corroborated or released",
                    unverified.lp,
                    group_thousands(unverified.price)
                );
                self.log(t, LogKind::Error, text);
            }
            EventKind::Released(released) => {
                if let Some(index) = self.lp_index(&released.lp) {
                    self.lps[index].status = LpStatus::Ok;
                }
                let text = format!(
                    "released by the operator: {} at {}",
                    released.lp,
                    group_thousands(released.price)
                );
                self.log(t, LogKind::Info, text);
            }
            EventKind::LpError(error) => {
                let Some(index) = self.lp_index(&error.lp) else {
                    return;
                };
                self.see_poll(error.poll);
                let row = &mut self.lps[index];
                row.price = None;
                row.latency_ms = Some(error.latency_ms);
                row.errors += 1;
                row.status = LpStatus::Failed {
                    kind: error.kind,
                    reason: error.reason.clone(),
                };
                let text = format!(
                    "{} {} after {} ms: {}",
                    error.lp,
                    words::failure(error.kind),
                    error.latency_ms,
                    error.reason
                );
                self.log(t, LogKind::Error, text);
                self.rerank(t);
            }
            EventKind::ClientQuote(quote) => {
                // Offered: something has corroborated its price since.
                if let Some(index) = self.lp_index(&quote.lp) {
                    if self.lps[index].status == LpStatus::Unverified {
                        self.lps[index].status = LpStatus::Ok;
                    }
                }
                let (kind, what) = match quote.reason {
                    QuoteReason::First => (LogKind::Info, "first client quote"),
                    QuoteReason::BestSoFar => (LogKind::Info, "best so far"),
                    QuoteReason::Improvement => (LogKind::Improvement, "PRICE IMPROVEMENT"),
                    QuoteReason::Refresh => (LogKind::Refresh, "refreshed quote"),
                };
                if quote.reason == QuoteReason::Improvement {
                    self.improvements += 1;
                    self.last_improvement_ms = Some(t);
                }
                let text = format!(
                    "{what}: {} client {} (LP {})",
                    quote.lp,
                    group_thousands(quote.client_price),
                    group_thousands(quote.lp_price)
                );
                self.log(t, kind, text);
                self.quote = Some(LiveQuote {
                    quote: quote.clone(),
                    at_ms: t,
                });
                self.lock_expired = false;
            }
            EventKind::Locked(locked) => {
                let Some(index) = self.lp_index(&locked.lp) else {
                    return;
                };
                self.lock = Some(LockView {
                    lp: index,
                    price: locked.price,
                    at_ms: t,
                    reason: locked.reason,
                });
                let moved_from = locked
                    .previous_lp
                    .as_ref()
                    .filter(|previous| **previous != locked.lp);
                if moved_from.is_some() && locked.reason != LockReason::Improvement {
                    self.renewal_moves += 1;
                }
                let from = match (moved_from, locked.reason) {
                    (Some(previous), LockReason::Improvement) => format!(" (from {previous})"),
                    (Some(previous), _) => {
                        format!(" (from {previous}, on renewal: not an improvement)")
                    }
                    (None, _) => String::new(),
                };
                let kind = match locked.reason {
                    LockReason::BestOfPoll => LogKind::Lock,
                    LockReason::Improvement => LogKind::Improvement,
                    LockReason::Refresh => LogKind::Refresh,
                };
                let text = format!(
                    "{}LOCKED {}, LP price {}{from}",
                    if locked.simulated { "SIMULATED " } else { "" },
                    locked.lp,
                    group_thousands(locked.price)
                );
                self.log(t, kind, text);
                self.rerank(t);
            }
            EventKind::LockExpired(expired) => {
                self.lock = None;
                self.lock_expired = true;
                let text = format!(
                    "EXPIRED: {}'s quote is no longer offered; waiting for a fresh quote",
                    expired.lp
                );
                self.log(t, LogKind::Expired, text);
                self.rerank(t);
            }
            EventKind::OrderSent(order) => {
                let text = format!(
                    "ORDER {} to {}, LP price {} (attempt {})",
                    order.order_id,
                    order.lp,
                    group_thousands(order.lp_price),
                    order.attempt
                );
                self.log(t, LogKind::Lock, text);
                if let Some(why) = &order.preferred_over {
                    if let Some(index) = self.lp_index(&why.lp) {
                        self.lps[index].passed_over = true;
                    }
                    self.log(
                        t,
                        LogKind::Info,
                        format!("  to {}: {}", order.lp, why.describe()),
                    );
                }
                self.execution.orders.push(OrderSent::clone(order));
            }
            EventKind::LpHealth(health) => {
                let Some(index) = self.lp_index(&health.lp) else {
                    return;
                };
                // Every change is in the leaderboard; only the serious ones
                // (and the way back from them) in the event log.
                let was = self.lps[index].health.as_ref().map(|(h, _)| h.state);
                let serious = |state| {
                    matches!(
                        state,
                        HealthState::Down
                            | HealthState::AuthFailed
                            | HealthState::RateLimited
                            | HealthState::Fading
                    )
                };
                if serious(health.state) || was.is_some_and(serious) {
                    let why = health
                        .reason
                        .as_deref()
                        .map(|reason| format!(": {reason}"))
                        .unwrap_or_default();
                    let kind = if serious(health.state) {
                        LogKind::Error
                    } else {
                        LogKind::Info
                    };
                    self.log(t, kind, format!("{} {}{why}", health.lp, health.label(0)));
                }
                self.lps[index].health = Some((health.clone(), t));
            }
            EventKind::OrderRejected(rejected) => {
                let text = format!(
                    "REJECTED by {} after {} ms (last look): {}",
                    rejected.lp, rejected.hold_ms, rejected.reason
                );
                self.log(t, LogKind::Error, text);
                self.execution.rejects.push(rejected.clone());
            }
            EventKind::Filled(filled) => {
                let text = format!(
                    "{} by {}, LP price {}: client price {}, desk P&L {} {}",
                    if filled.simulated {
                        "SIMULATED FILL"
                    } else {
                        "FILLED"
                    },
                    filled.lp,
                    group_thousands(filled.lp_price),
                    group_thousands(filled.client_price),
                    group_thousands(filled.desk_pnl),
                    filled.pnl_asset
                );
                self.log(t, LogKind::Improvement, text);
                self.execution.ticket = Some(Ticket::Filled(filled.as_ref().clone()));
            }
            EventKind::ExecutionUnknown(unknown) => {
                let text = format!(
                    "UNKNOWN: order {} with {}: {}",
                    unknown.order_id, unknown.lp, unknown.reason
                );
                self.log(t, LogKind::Expired, text);
                self.execution.ticket = Some(Ticket::Unknown(unknown.clone()));
            }
            EventKind::BlotterError(error) => {
                self.blotter_error = Some(error.reason.clone());
                self.log(
                    t,
                    LogKind::Error,
                    format!("BLOTTER ERROR: {}", error.reason),
                );
            }
            EventKind::NotFilled(not_filled) => {
                self.log(
                    t,
                    LogKind::Expired,
                    format!("NOT FILLED: {}", not_filled.reason),
                );
                self.execution.ticket = Some(Ticket::NotFilled(not_filled.clone()));
            }
            EventKind::Ended(ended) => {
                let text = format!(
                    "ended, {}: {}",
                    words::end_reason(ended.reason),
                    words::improvements_and_moves(ended.improvements, self.renewal_moves)
                );
                self.log(t, LogKind::End, text);
                self.improvements = ended.improvements;
                self.ended = Some(ended.clone());
                self.ended_at_ms = Some(t);
            }
        }
    }

    fn start(&mut self, rfq_id: Arc<str>, started: &Started) {
        let color = self.color;
        *self = ConsoleState::new(color);
        self.rfq_id = rfq_id;
        let started_local = chrono::DateTime::parse_from_rfc3339(&started.started_at)
            .map(|at| {
                at.with_timezone(&chrono::Local)
                    .format("%H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default();
        self.request = Some(Request {
            side: started.side,
            amount: started.amount,
            pair: started.pair,
            fixed: started.fixed,
            markup_bps: started.markup_bps,
            threshold_bps: started.threshold_bps,
            duration_ms: started.duration_ms,
            started_local,
            simulated: started.simulated,
            simulated_lps: started.simulated_lps.clone(),
            client: started.client.clone(),
            two_way: started.two_way,
        });
        self.lps = started
            .lps
            .iter()
            .map(|name| LpRow {
                name: name.clone(),
                price: None,
                quoted_at_ms: 0,
                latency_ms: None,
                answers: 0,
                errors: 0,
                status: LpStatus::Waiting,
                movement: Movement::Same,
                health: None,
                passed_over: false,
            })
            .collect();
        self.by_name = started
            .lps
            .iter()
            .enumerate()
            .map(|(index, name)| (name.clone(), index))
            .collect();
        self.ranking = (0..self.lps.len()).collect();
        self.position = (0..self.lps.len()).collect();
        self.baseline = self.position.clone();
        let in_quote = match started.fixed {
            crate::market::Leg::Base => String::new(),
            crate::market::Leg::Quote => format!(" in {} (fixed)", started.pair.quote),
        };
        let text = format!(
            "started: {} {} {}{in_quote} with {} LPs",
            self.request
                .as_ref()
                .map_or("", |request| request.side_label()),
            started.amount.normalize(),
            started.pair,
            started.lps.len()
        );
        self.log(0, LogKind::Info, text);
        if started.two_way {
            let mut bid = ConsoleState::new(color);
            bid.start(
                self.rfq_id.clone(),
                &Started {
                    side: Side::Sell,
                    two_way: false,
                    ..started.clone()
                },
            );
            bid.log.clear();
            self.bid = Some(Box::new(bid));
        }
    }

    fn lp_index(&self, name: &Arc<str>) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// A new poll: arrows from now on compare with the ranking as it is.
    fn see_poll(&mut self, poll: u32) {
        if poll > self.poll {
            self.poll = poll;
            self.baseline.clone_from(&self.position);
        }
    }

    pub fn log(&mut self, t_ms: StreamMs, kind: LogKind, text: String) {
        if self.log.len() == LOG_CAP {
            self.log.pop_front();
        }
        self.log.push_back(LogLine { t_ms, kind, text });
    }

    /// The price an LP is shown and ranked at: the frozen lock price for
    /// the locked LP, its latest quote otherwise.
    pub fn shown_price(&self, index: usize) -> Option<Decimal> {
        match &self.lock {
            Some(lock) if lock.lp == index => Some(lock.price),
            _ => self.lps[index].price,
        }
    }

    /// The best price on the board.
    pub fn best_price(&self) -> Option<Decimal> {
        self.ranking
            .first()
            .and_then(|&index| self.shown_price(index))
    }

    fn rerank(&mut self, t_ms: StreamMs) {
        let Some(side) = self.request.as_ref().map(|r| r.side) else {
            return;
        };
        let mut ranking = std::mem::take(&mut self.ranking);
        // The engine's book rule, so the board ranks as an order would.
        ranking.sort_by(|&a, &b| {
            match (self.shown_price(a), self.shown_price(b)) {
                (Some(pa), Some(pb)) => crate::rfq::book::rank_order(
                    side,
                    (pa, self.lps[a].quoted_at_ms),
                    (pb, self.lps[b].quoted_at_ms),
                ),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
            .then(a.cmp(&b))
        });
        self.ranking = ranking;
        for (place, &index) in self.ranking.iter().enumerate() {
            self.position[index] = place;
        }
        // Arrows need a previous poll to compare with.
        let compare = self.poll >= 2;
        for (index, row) in self.lps.iter_mut().enumerate() {
            row.movement = if !compare {
                Movement::Same
            } else {
                match self.position[index].cmp(&self.baseline[index]) {
                    std::cmp::Ordering::Less => Movement::Up,
                    std::cmp::Ordering::Greater => Movement::Down,
                    std::cmp::Ordering::Equal => Movement::Same,
                }
            };
        }
        if let (Some(best), Some(request)) = (self.best_price(), &self.request) {
            let duration = request.duration_ms.max(1);
            let bucket = (t_ms.min(duration) * (HISTORY_BUCKETS as u64 - 1) / duration) as usize;
            self.best_history[bucket] = Some(best);
        }
    }

    /// Where LP `index` stands: 0 is the best.
    pub fn position(&self, index: usize) -> usize {
        self.position[index]
    }

    /// Distance of `price` from the best on the board: (bps, quote
    /// currency for the request's whole amount), both as "how much worse",
    /// never negative. The second is what taking this LP instead of the
    /// best would cost on the trade, not per unit.
    pub fn distance(&self, price: Decimal) -> Option<(Decimal, Decimal)> {
        let best = self.best_price()?;
        let request = self.request.as_ref()?;
        // Saturating: an absurd LP price must not take the console down.
        let bps = crate::rfq::sanity::deviation_bps(price, best);
        // A quote-currency amount buys about `amount / best` of the base.
        let base = match request.fixed {
            crate::market::Leg::Base => request.amount,
            crate::market::Leg::Quote => request.amount.checked_div(best).unwrap_or_default(),
        };
        let mut total = price
            .saturating_sub(best)
            .abs()
            .saturating_mul(base)
            .round_dp(request.pair.price_dp);
        total.rescale(request.pair.price_dp);
        Some((bps, total))
    }

    /// The client quote's validity at `now_ms`; `None` before the first.
    pub fn validity(&self) -> Option<Validity> {
        let live = self.quote.as_ref()?;
        if self.lock_expired {
            return Some(Validity::Expired);
        }
        let elapsed = self.now_ms.saturating_sub(live.at_ms);
        let valid_for = live.quote.client_valid_for_ms;
        if elapsed >= valid_for {
            return Some(Validity::Expired);
        }
        let remaining_ms = valid_for - elapsed;
        Some(if remaining_ms <= WARN_MS {
            Validity::Ending { remaining_ms }
        } else {
            Validity::Live { remaining_ms }
        })
    }

    /// How long the final client quote was still valid when the stream
    /// ended (`Some(0)`: it had expired); `None` without an end or a quote.
    pub fn validity_left_at_end(&self) -> Option<u64> {
        self.validity_left_at(self.ended_at_ms?)
    }

    /// How long the client quote was still valid at stream time `end`
    /// (`Some(0)`: it had expired); `None` without a quote.
    pub fn validity_left_at(&self, end: StreamMs) -> Option<u64> {
        let live = self.quote.as_ref()?;
        if self.lock_expired {
            return Some(0);
        }
        let until = live.at_ms.saturating_add(live.quote.client_valid_for_ms);
        Some(until.saturating_sub(end))
    }

    /// Stream time left, 0 once ended.
    pub fn stream_left_ms(&self) -> u64 {
        if self.ended.is_some() {
            return 0;
        }
        self.request
            .as_ref()
            .map_or(0, |r| r.duration_ms.saturating_sub(self.now_ms))
    }

    /// The lock was taken within `LOCK_FLASH_MS`: its row is highlighted.
    pub fn lock_flash(&self) -> bool {
        self.lock
            .as_ref()
            .is_some_and(|lock| self.now_ms.saturating_sub(lock.at_ms) < LOCK_FLASH_MS)
    }

    /// The PRICE IMPROVEMENT banner is up.
    pub fn banner(&self) -> bool {
        self.last_improvement_ms
            .is_some_and(|at| self.now_ms.saturating_sub(at) < BANNER_MS)
            || self.bid.as_ref().is_some_and(|bid| bid.banner())
    }

    /// Something on screen changes with time alone (countdowns, flashes).
    pub(crate) fn animating(&self) -> bool {
        self.ended.is_none()
            || self.banner()
            || self.lock_flash()
            || self.bid.as_ref().is_some_and(|bid| bid.lock_flash())
    }
}
