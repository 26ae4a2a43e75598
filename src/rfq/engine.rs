//! The RFQ state machine, composed of its parts: `Requests` (what is in
//! flight and when it times out), the `Book` (each LP's latest valid
//! quote), the `LockRules` (race, lock, threshold, refresh, expiry) and
//! the `Offers` (the live client quote). It is changed only by the
//! inputs fed to it (a poll starts, an answer arrives, time passes), does
//! no I/O and never reads a clock of its own: the session task passes
//! `now` in, so every decision is a pure function of state + input and is
//! tested without a runtime.
//!
//! Life of a stream:
//! 1. **Race.** The first poll asks every LP. The client quote follows the
//!    best valid answer so far (`first`, then `best_so_far`) until that
//!    poll is complete (every LP answered or timed out); then its winner is
//!    locked.
//! 2. **Lock.** Later polls ask only the competitors; the locked quote is
//!    frozen. A competitor takes the lock only when it beats the locked
//!    price by the threshold (`improvement`).
//! 3. **Refresh.** When the locked quote's client validity would run out
//!    before the next poll could answer, the poll also asks the locked LP,
//!    and the best fresh answer of that poll is locked (`refresh`) without
//!    the threshold's protection.
//! 4. **Expiry.** If the client validity runs out anyway, `lock_expired` is
//!    emitted, nothing is offered, and a new race starts with the next fresh
//!    answers.
//!
//! Trust: a valid, sane quote is only offered (and only executed) once
//! something independent of its LP corroborates its price
//! ([`sanity::corroborate`]: a band for the pair, the stream's reference,
//! another LP within MAX_DEVIATION_BPS, the median of three or more).
//! Until then it is in the book but not a candidate: an `unverified`
//! event follows its `lp_quote`, and when a later quote corroborates it,
//! it becomes a candidate like a fresh answer. The operator can release
//! the best unverified quote ([`Engine::release_unverified`]), recorded
//! as `released`.
//!
//! The engine holds no thread-local or global state: what it needs to
//! judge a price by the median it borrows from its caller
//! ([`MedianScratch`]), as it borrows the buffers it fills.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::clock::{StreamClock, StreamMs};
use crate::lp::health::HealthView;
use crate::lp::{ClientOrderIds, OrderAnswer};
use crate::lp::{LpError, LpQuote};
use crate::market::{Bps, Leg, PriceBand, Side};
use crate::rfq::book::{Book, BookEntry};
use crate::rfq::client_id::ClientId;
use crate::rfq::event::*;
use crate::rfq::execution::{Accepted, Execution, OrderPlan};
use crate::rfq::lock::{Candidate, Decision, LockRules};
use crate::rfq::offer::Offers;
use crate::rfq::requests::{InFlight, Requests};
use crate::rfq::sanity::{self, PriceDefect};
use crate::rfq::spec::RfqSpec;
use crate::rfq::validate::{validate_quote, Expected};

/// The settings the engine decides by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineParams {
    /// Desk markup added to the LP price.
    pub markup: Bps,
    /// How much a competitor must beat the locked price by to take the lock.
    pub threshold: Bps,
    /// The client's validity is the LP's minus this, in stream ms.
    pub validity_buffer_ms: u64,
    /// Stream ms between poll starts; 0 = start the next poll as soon as
    /// the previous one is complete.
    pub poll_interval_ms: u64,
    /// Stream ms an LP has to answer before the request counts as a timeout.
    pub lp_timeout_ms: u64,
    /// Stream ms an LP has to answer an order before its outcome is unknown.
    pub order_timeout_ms: u64,
    /// How far a quote may be from the median of the LPs' live quotes
    /// before it is rejected as invalid (judged once three LPs quote).
    pub max_deviation: Bps,
    /// An order goes to a clean LP rather than a fading one whose price
    /// is better by no more than this (FADE_TOLERANCE_BPS).
    pub fade_tolerance: Bps,
}

/// What came back from one LP request.
#[derive(Debug, Clone)]
pub enum Answer {
    Quote(LpQuote),
    Failed(LpError),
    /// No answer within the LP timeout.
    TimedOut,
    /// The LP's task panicked; the message is kept for the record.
    Panicked(String),
}

/// A request the session must send: to LP `lp`, for poll `poll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dispatch {
    pub lp: usize,
    pub poll: u32,
    pub request_id: u64,
}

/// The RFQ state machine; see the module docs.
#[derive(Debug)]
pub struct Engine {
    rfq_id: Arc<str>,
    spec: RfqSpec,
    params: EngineParams,
    clock: StreamClock,
    /// Per LP (indexed like the session's LPs): its name, order timeout,
    /// health as last shown and fade. One Vec rather than one per field:
    /// thousands of streams each keep one.
    per_lp: Vec<LpSeen>,
    requests: Requests,
    book: Book,
    lock: LockRules,
    offers: Offers,
    polls_started: u32,
    /// The client's acceptance, once there is one (boxed: most streams
    /// never have one, and each keeps an engine).
    execution: Option<Box<Execution>>,
    /// How the acceptance ended, once it has.
    outcome: Option<Outcome>,
    /// The pair's price band from the venues file, if any.
    band: Option<PriceBand>,
    /// A price known good for the pair (the desk's recent corroborated
    /// prices, or what the operator released): a quote within
    /// MAX_DEVIATION_BPS of it is corroborated.
    reference: Option<Decimal>,
    /// The desk's reference for the pair as of the latest poll (its recent
    /// locks, the venues file's reference sources, each within its age
    /// limit): a quote within MAX_DEVIATION_BPS of it is corroborated.
    desk_reference: Option<Decimal>,
    /// Who the request is for; only `started` says it.
    client: ClientId,
    /// The desk server's operator who asked, if any.
    operator: Option<Arc<str>>,
    /// How the request came in; only `started` says it.
    channel: crate::rfq::client_id::Channel,
    /// The stream's record cannot be kept (the blotter fails): it offers
    /// no client quote and refuses accepts until the blotter writes again.
    withheld: bool,
}

/// What one stream knows of one LP beside its requests and its quote.
#[derive(Debug, Clone)]
struct LpSeen {
    name: Arc<str>,
    /// A simulation: every price and fill it is behind says so.
    simulated: bool,
    /// How the venue names our orders: the id it saw is recorded with
    /// each order sent.
    client_order_ids: ClientOrderIds,
    order_timeout_ms: u64,
    /// Its health as last shown to this stream, and when a pause or
    /// cool-off ends (stream ms).
    shown_state: HealthState,
    shown_until: Option<u64>,
    /// Its smoothed last-look reject rate (percent) and whether that makes
    /// it fading, as its health last said.
    reject_rate: Decimal,
    fading: bool,
    /// The price its last `unverified` event named, until something
    /// corroborates it: the same price quoted again on every poll is not
    /// news, and says nothing new to the operator or the blotter.
    unverified_shown: Option<Decimal>,
}

/// Buffers for judging prices by their median, lent by the caller for
/// one [`Engine::on_answer`]: an engine keeps none, so thousands of
/// streams hold none between answers, and one set, once grown to the most
/// quotes judged at once, serves every answer without allocating (the
/// session lends one per thread). Every use clears what it reads first:
/// what an earlier call, or another stream, left in them never counts.
#[derive(Debug, Default)]
pub struct MedianScratch {
    quotes: Vec<(usize, Decimal)>,
    ticks: Vec<i128>,
    found: Vec<(usize, Decimal)>,
}

impl MedianScratch {
    /// Empty buffers (they allocate on first use); `const` so that a
    /// thread-local holding them needs no lazy initialisation.
    pub const fn new() -> MedianScratch {
        MedianScratch {
            quotes: Vec::new(),
            ticks: Vec::new(),
            found: Vec::new(),
        }
    }
}

/// The median of the live quotes, if enough to judge, and the outliers.
type MedianView = (Option<Decimal>, Vec<(usize, Decimal)>);

/// What the median said of an arriving price that it did not refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MedianVerdict {
    /// Worse than the price offered now: never offered, so not judged
    /// (it counts as judged, but corroborates nothing by itself).
    WorseThanOffered,
    /// Three or more live quotes, and it is near their median.
    Accepted,
    /// Too few live quotes for the median to judge.
    TooFew,
}

/// How an order ended, as the session saw it.
#[derive(Debug, Clone)]
pub(crate) enum OrderResult {
    Answered(OrderAnswer),
    /// No answer within the order timeout.
    TimedOut,
    /// The LP's execute task panicked.
    Panicked(String),
}

impl Engine {
    pub fn new(
        rfq_id: Arc<str>,
        spec: RfqSpec,
        lp_names: Vec<Arc<str>>,
        params: EngineParams,
        clock: StreamClock,
    ) -> Engine {
        let lps = lp_names.len();
        Engine {
            offers: Offers::new(
                rfq_id.clone(),
                spec,
                params.markup,
                params.validity_buffer_ms,
            ),
            rfq_id,
            spec,
            params,
            clock,
            per_lp: lp_names
                .into_iter()
                .map(|name| LpSeen {
                    name,
                    simulated: false,
                    client_order_ids: ClientOrderIds::None,
                    order_timeout_ms: params.order_timeout_ms,
                    shown_state: HealthState::Ok,
                    shown_until: None,
                    reject_rate: Decimal::ZERO,
                    fading: false,
                    unverified_shown: None,
                })
                .collect(),
            requests: Requests::new(lps, params.lp_timeout_ms),
            book: Book::new(spec.side, lps),
            lock: LockRules::new(spec.side, params.threshold, params.validity_buffer_ms),
            polls_started: 0,
            execution: None,
            outcome: None,
            band: None,
            reference: None,
            desk_reference: None,
            client: ClientId::house(),
            operator: None,
            channel: crate::rfq::client_id::Channel::Operator,
            withheld: false,
        }
    }

    pub fn rfq_id(&self) -> &Arc<str> {
        &self.rfq_id
    }

    pub fn spec(&self) -> &RfqSpec {
        &self.spec
    }

    /// The stream's clock.
    pub fn clock(&self) -> StreamClock {
        self.clock
    }

    /// Stream ms between poll starts (0: poll again once a poll is done).
    pub fn poll_interval_ms(&self) -> u64 {
        self.params.poll_interval_ms
    }

    pub fn lp_count(&self) -> usize {
        self.per_lp.len()
    }

    /// LP `lp`'s name.
    pub fn lp_name(&self, lp: usize) -> &Arc<str> {
        &self.per_lp[lp].name
    }

    /// Stamps `kind` as an event of this RFQ at stream time `now`.
    pub fn event(&self, now: StreamMs, kind: EventKind) -> RfqEvent {
        RfqEvent {
            kind,
            rfq_id: self.rfq_id.clone(),
            t_ms: now,
            two_way_side: None,
        }
    }

    /// Which LPs (indexed like the session's) are simulations.
    pub fn set_simulated(&mut self, simulated: &[bool]) {
        for (seen, simulated) in self.per_lp.iter_mut().zip(simulated) {
            seen.simulated = *simulated;
        }
    }

    /// How each LP (indexed like the session's) names our orders.
    pub fn set_client_order_ids(&mut self, ids: &[ClientOrderIds]) {
        for (seen, ids) in self.per_lp.iter_mut().zip(ids) {
            seen.client_order_ids = *ids;
        }
    }

    /// LP `lp` is a simulation.
    pub fn lp_simulated(&self, lp: usize) -> bool {
        self.per_lp[lp].simulated
    }

    /// The `started` event, stamped at stream time 0: `simulated` when
    /// every LP is a simulation, `simulated_lps` naming them when only
    /// some are.
    pub fn started(&self, duration_ms: u64) -> RfqEvent {
        let simulated = self.per_lp.iter().all(|lp| lp.simulated);
        let simulated_lps = if simulated {
            Vec::new()
        } else {
            self.per_lp
                .iter()
                .filter(|lp| lp.simulated)
                .map(|lp| lp.name.clone())
                .collect()
        };
        let started = Started {
            side: self.spec.side,
            amount: self.spec.amount,
            pair: self.spec.pair,
            client: self.client.clone(),
            operator: self.operator.clone(),
            channel: self.channel,
            lps: self.per_lp.iter().map(|lp| lp.name.clone()).collect(),
            markup_bps: self.params.markup,
            threshold_bps: self.params.threshold,
            validity_buffer_ms: self.params.validity_buffer_ms,
            poll_interval_ms: self.params.poll_interval_ms,
            lp_timeout_ms: self.params.lp_timeout_ms,
            duration_ms,
            speed: self.clock.speed(),
            started_at: crate::clock::iso_millis(self.clock.wall_origin()),
            simulated,
            simulated_lps,
            two_way: false,
            fixed: self.spec.fixed,
        };
        self.event(0, EventKind::Started(Box::new(started)))
    }

    /// True when every request sent so far has been answered or timed out.
    pub(crate) fn all_polls_complete(&self) -> bool {
        self.requests.all_complete()
    }

    /// When the oldest request in flight runs out of time, if any is out.
    pub(crate) fn next_timeout(&self) -> Option<StreamMs> {
        self.requests.next_timeout()
    }

    /// The requests whose LP timeout is over at `now`: (LP, request id).
    /// Each is then answered with [`Answer::TimedOut`].
    pub(crate) fn timed_out(&self, now: StreamMs, expired: &mut Vec<(usize, u64)>) {
        self.requests.timed_out(now, expired);
    }

    /// When the live client quote's validity runs out, if one is live.
    pub(crate) fn next_deadline(&self) -> Option<StreamMs> {
        self.offers.deadline()
    }

    /// A stream with no LP at all can never quote.
    pub(crate) fn has_no_lps(&self) -> bool {
        self.per_lp.is_empty()
    }

    /// Starts a poll at `now`: fills `dispatch` with the requests to send
    /// and returns the poll number. Competitors only once locked, plus the
    /// locked LP when its quote needs refreshing; never an LP that still
    /// has a request in flight.
    pub fn begin_poll(
        &mut self,
        now: StreamMs,
        dispatch: &mut Vec<Dispatch>,
        out: &mut Vec<RfqEvent>,
    ) -> u32 {
        dispatch.clear();
        self.polls_started += 1;
        let poll = self.polls_started;
        if self.accepted() {
            // Nothing more is offered once the client has accepted.
            return poll;
        }
        let refresh_due_by = now + self.params.poll_interval_ms + self.params.lp_timeout_ms;
        let requests = &self.requests;
        let plan = self
            .lock
            .begin_poll(poll, self.offers.deadline(), refresh_due_by, |lp| {
                requests.can_ask(lp)
            });
        for lp in 0..self.per_lp.len() {
            if Some(lp) == plan.skip || !self.requests.can_ask(lp) {
                continue;
            }
            let request_id = self.requests.send(lp, poll, now);
            dispatch.push(Dispatch {
                lp,
                poll,
                request_id,
            });
        }
        if dispatch.is_empty() {
            self.poll_completed(now, poll, out);
        } else {
            self.requests.poll_sent(poll, dispatch.len() as u32);
        }
        poll
    }

    /// Handles LP `lp`'s answer to its request in flight, arriving at `now`,
    /// judging a quote by the median in `median`'s buffers. Returns
    /// `Some(NoQuotes)` when the stream should end because every LP
    /// declined.
    pub fn on_answer(
        &mut self,
        now: StreamMs,
        lp: usize,
        request_id: u64,
        answer: Answer,
        median: &mut MedianScratch,
        out: &mut Vec<RfqEvent>,
    ) -> Option<EndReason> {
        // Only the answer to the request in flight counts: a late result
        // of a request already timed out is dropped.
        let in_flight = self.requests.take_answered(lp, request_id)?;
        let latency_ms = now.saturating_sub(in_flight.sent_ms);
        let poll = in_flight.poll;
        let failure = match answer {
            Answer::Quote(quote) => {
                self.on_quote(now, lp, in_flight, quote, median, out);
                None
            }
            Answer::Failed(error) => {
                let kind = match &error {
                    LpError::Declined(_) => FailureKind::Declined,
                    LpError::Unavailable(_) => FailureKind::Unavailable,
                    LpError::Malformed(_) => FailureKind::Malformed,
                    LpError::Auth(_) => FailureKind::Auth,
                    // The LP's shared health pauses it for every stream.
                    LpError::RateLimited { .. } => FailureKind::RateLimited,
                    LpError::NotSent(why) => {
                        // Held back by the LP's health, never sent: not its
                        // failure, and its last quote stands.
                        let view = HealthView {
                            state: why.state(),
                            retry_in_ms: why.retry_in_ms(),
                            reject_rate: self.per_lp[lp].reject_rate,
                            fading: self.per_lp[lp].fading,
                            reason: None,
                        };
                        self.note_health(now, lp, &view, out);
                        if self.requests.request_done(poll) {
                            return self.poll_completed(now, poll, out);
                        }
                        return None;
                    }
                };
                Some((kind, error.to_string()))
            }
            Answer::TimedOut => Some((
                FailureKind::Timeout,
                format!("no answer within {} ms", self.requests.timeout_of(lp)),
            )),
            Answer::Panicked(message) => {
                Some((FailureKind::Unavailable, format!("lp panicked: {message}")))
            }
        };
        if let Some((kind, reason)) = failure {
            self.requests
                .set_declined(lp, kind == FailureKind::Declined);
            self.book.remove(lp);
            self.emit_error(now, lp, kind, reason, latency_ms, poll, out);
        }
        if self.requests.request_done(poll) {
            return self.poll_completed(now, poll, out);
        }
        None
    }

    /// LP `lp`'s shared health as seen at `now`: an `lp_health` event
    /// when it differs from what this stream showed last (a countdown
    /// alone is no change), and its fade for execution.
    pub(crate) fn note_health(
        &mut self,
        now: StreamMs,
        lp: usize,
        view: &HealthView,
        out: &mut Vec<RfqEvent>,
    ) {
        let seen = &mut self.per_lp[lp];
        seen.reject_rate = view.reject_rate;
        seen.fading = view.fading;
        // A pause seen by another stream ends at the same moment give or
        // take the milliseconds between the two views: the same pause.
        // When the pause or cool-off ends, in this stream's time.
        let ends = view.retry_in_ms.map(|ms| now + ms);
        let (state, until) = (seen.shown_state, seen.shown_until);
        let same_end = match (until, ends) {
            (Some(a), Some(b)) => a.abs_diff(b) <= 1_000,
            (None, None) => true,
            _ => false,
        };
        if state == view.state && same_end {
            return;
        }
        seen.shown_state = view.state;
        seen.shown_until = ends;
        let event = LpHealthEvent {
            lp: self.per_lp[lp].name.clone(),
            state: view.state,
            retry_in_ms: view.retry_in_ms,
            reject_rate: view.reject_rate,
            fading: view.fading,
            reason: view.reason.clone(),
        };
        out.push(self.event(now, EventKind::LpHealth(event)));
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_error(
        &self,
        now: StreamMs,
        lp: usize,
        kind: FailureKind,
        reason: String,
        latency_ms: u64,
        poll: u32,
        out: &mut Vec<RfqEvent>,
    ) {
        let error = LpErrorEvent {
            lp: self.per_lp[lp].name.clone(),
            kind,
            reason,
            latency_ms,
            poll,
        };
        out.push(self.event(now, EventKind::LpError(error)));
    }

    fn on_quote(
        &mut self,
        now: StreamMs,
        lp: usize,
        in_flight: InFlight,
        quote: LpQuote,
        median: &mut MedianScratch,
        out: &mut Vec<RfqEvent>,
    ) {
        let latency_ms = now.saturating_sub(in_flight.sent_ms);
        self.requests.set_declined(lp, false);
        let expected = Expected {
            lp: &self.per_lp[lp].name,
            request_id: in_flight.request_id,
            side: self.spec.side,
            pair: &self.spec.pair,
            amount: self.spec.amount,
            fixed: self.spec.fixed,
            validity_buffer_ms: self.params.validity_buffer_ms,
        };
        let sane = validate_quote(&quote, &expected, now)
            .map_err(|defect| defect.to_string())
            .and_then(|()| {
                sanity::check_price(quote.price, self.spec.pair.price_dp, self.band)
                    .map_err(|defect| defect.to_string())
            })
            .and_then(|()| self.judge_by_median(now, lp, quote.price, median));
        let verdict = match sane {
            Ok(verdict) => verdict,
            Err(reason) => {
                self.book.remove(lp);
                self.emit_error(
                    now,
                    lp,
                    FailureKind::Invalid,
                    reason,
                    latency_ms,
                    in_flight.poll,
                    out,
                );
                return;
            }
        };
        let answer = LpQuoteEvent {
            lp: self.per_lp[lp].name.clone(),
            price: quote.price,
            quantity: quote.quantity,
            latency_ms,
            valid_for_ms: quote.valid_until_ms - now,
            poll: in_flight.poll,
            simulated: self.per_lp[lp].simulated,
        };
        out.push(self.event(now, EventKind::LpQuote(answer)));
        self.book.insert(
            lp,
            quote.price,
            quote.valid_until_ms,
            quote.venue_ref.clone(),
        );
        if verdict != MedianVerdict::TooFew {
            self.book.mark_judged(lp);
        }
        // An earlier quote that the median now shows to be absurd (it came
        // first, before there were peers to judge it) is expelled.
        self.expel_outliers(now, in_flight.poll, median, out);
        let mut decisions = Vec::new();
        let arriving = (lp, verdict == MedianVerdict::Accepted);
        self.corroborate(now, Some(arriving), median, &mut decisions, out);
        if self.accepted() {
            // Still a fallback for an order, never a new client quote.
            return;
        }
        self.apply(now, &mut decisions, out);
    }

    /// Marks every live quote that something independent now vouches for
    /// as corroborated and returns the lock rules' decisions on them (best
    /// first, so a race offers only the best). `arriving` is the quote
    /// just booked and whether the median accepted it: if nothing vouches
    /// for it, `unverified` is emitted. An earlier unverified quote that
    /// the arrival (or a release) corroborates becomes a candidate now.
    fn corroborate(
        &mut self,
        now: StreamMs,
        arriving: Option<(usize, bool)>,
        median: &mut MedianScratch,
        decisions: &mut Vec<Decision>,
        out: &mut Vec<RfqEvent>,
    ) {
        if !self.book.has_uncorroborated(now) {
            return;
        }
        let mut live = Vec::new();
        self.book.live_prices(now, &mut live);
        // The median's verdict on the others, computed only if needed.
        let mut median_centre: Option<MedianView> = None;
        let mut vouched = Vec::new();
        for &(lp, price) in &live {
            if self.book.get(lp).is_none_or(|entry| entry.corroborated) {
                continue;
            }
            let peers = live
                .iter()
                .filter(|(other, _)| *other != lp)
                .map(|(_, price)| *price);
            let by_median = match arriving {
                Some((arriving_lp, accepted)) if arriving_lp == lp => accepted,
                _ => false,
            };
            let mut found = sanity::corroborate(
                price,
                self.band,
                self.nearest_reference(price),
                peers,
                by_median,
                self.params.max_deviation,
            );
            if found.is_none() && live.len() >= sanity::MIN_QUOTES_FOR_MEDIAN {
                let (centre, outliers) =
                    median_centre.get_or_insert_with(|| self.outliers(now, None, median));
                if centre.is_some() && !outliers.iter().any(|(outlier, _)| *outlier == lp) {
                    found = Some(sanity::Corroboration::Median);
                }
            }
            if found.is_some() {
                vouched.push(lp);
            } else if arriving.is_some_and(|(arriving_lp, _)| arriving_lp == lp)
                && self.per_lp[lp].unverified_shown != Some(price)
            {
                self.per_lp[lp].unverified_shown = Some(price);
                out.push(self.event(
                    now,
                    EventKind::Unverified(Unverified {
                        lp: self.per_lp[lp].name.clone(),
                        price,
                    }),
                ));
            }
        }
        if vouched.is_empty() {
            return;
        }
        for &lp in &vouched {
            self.book.mark_corroborated(lp);
            // Unverified again later (a new price) is news again.
            self.per_lp[lp].unverified_shown = None;
        }
        if self.accepted() {
            return;
        }
        // Best first: in a race, a worse one considered first would be
        // offered and at once replaced.
        let ranked = self.book.ranked(now);
        for lp in ranked.into_iter().filter(|lp| vouched.contains(lp)) {
            if let Some(entry) = self.book.get(lp) {
                let candidate = Candidate {
                    lp,
                    price: entry.price,
                    valid_until_ms: entry.valid_until_ms,
                    venue_ref: entry.venue_ref.clone(),
                };
                self.lock.consider(now, candidate, decisions);
            }
        }
    }

    /// The median's verdict on the book's live quotes at `now` (`lp` at
    /// `price` in place of its own, if given): the centre, if there are
    /// enough quotes to judge, and the outliers, each with its price.
    fn outliers(
        &self,
        now: StreamMs,
        with: Option<(usize, Decimal)>,
        median: &mut MedianScratch,
    ) -> (Option<Decimal>, Vec<(usize, Decimal)>) {
        let MedianScratch {
            quotes,
            ticks,
            found,
        } = median;
        quotes.clear();
        self.book.live_prices(now, quotes);
        if let Some((lp, price)) = with {
            quotes.retain(|(other, _)| *other != lp);
            quotes.push((lp, price));
        }
        let centre = sanity::outliers_into(
            quotes,
            self.params.max_deviation,
            self.spec.pair.price_dp,
            ticks,
            found,
        );
        // Outliers are rare: an empty Vec allocates nothing.
        let outliers = if found.is_empty() {
            Vec::new()
        } else {
            found.clone()
        };
        (centre, outliers)
    }

    /// An arriving price too far from the median of the LPs' live quotes
    /// (itself included) is invalid.
    fn judge_by_median(
        &self,
        now: StreamMs,
        lp: usize,
        price: Decimal,
        median: &mut MedianScratch,
    ) -> Result<MedianVerdict, String> {
        // Only a price at least as good as the one offered now can become
        // the client's; a worse one is never offered, nor used for a
        // fallback beyond the client's price, so judging it is not needed
        // (it counts as judged). One comparison keeps the median off most
        // answers.
        if let Some(live) = self.offers.live() {
            if live.candidate.lp != lp && self.spec.side.is_better(live.candidate.price, price) {
                return Ok(MedianVerdict::WorseThanOffered);
            }
        }
        match self.outliers(now, Some((lp, price)), median) {
            (Some(centre), found) if found.iter().any(|(outlier, _)| *outlier == lp) => {
                Err(sanity::far_from(price, centre, self.params.max_deviation).to_string())
            }
            (Some(_), _) => Ok(MedianVerdict::Accepted),
            (None, _) => Ok(MedianVerdict::TooFew),
        }
    }

    /// Expels every live quote now far from the median: out of the book,
    /// reported `invalid`, and never offered; a client quote or lock
    /// resting on one is replaced by the best sane quote left.
    fn expel_outliers(
        &mut self,
        now: StreamMs,
        poll: u32,
        median: &mut MedianScratch,
        out: &mut Vec<RfqEvent>,
    ) {
        // Every live quote passed the median on arrival: nothing to expel
        // (the common case, and the cheap one).
        if !self.book.has_unjudged(now) {
            return;
        }
        let expelled: Vec<(usize, PriceDefect)> = match self.outliers(now, None, median) {
            (Some(centre), found) => found
                .iter()
                .map(|&(lp, price)| {
                    (
                        lp,
                        sanity::far_from(price, centre, self.params.max_deviation),
                    )
                })
                .collect(),
            (None, _) => Vec::new(),
        };
        if expelled.is_empty() {
            return;
        }
        for (lp, defect) in &expelled {
            self.book.remove(*lp);
            self.emit_error(
                now,
                *lp,
                FailureKind::Invalid,
                format!("expelled: {defect}"),
                0,
                poll,
                out,
            );
        }
        if self.accepted() {
            return;
        }
        let offered_lp = self.offers.live().map(|live| live.candidate.lp);
        let touched = expelled
            .iter()
            .any(|(lp, _)| Some(*lp) == offered_lp || self.lock.holds(*lp));
        if !touched {
            return;
        }
        // What the client sees rested on an absurd price: it goes, and
        // the best sane quote left (if any) takes its place.
        if let Some(live) = self.offers.withdraw() {
            out.push(self.event(
                now,
                EventKind::LockExpired(LockExpired {
                    lp: self.per_lp[live.candidate.lp].name.clone(),
                }),
            ));
        }
        let replacement = self.book.ranked(now).into_iter().find_map(|lp| {
            self.book
                .get(lp)
                .filter(|entry| entry.corroborated)
                .map(|entry| Candidate {
                    lp,
                    price: entry.price,
                    valid_until_ms: entry.valid_until_ms,
                    venue_ref: entry.venue_ref.clone(),
                })
        });
        let mut decisions = Vec::new();
        self.lock.restart(
            now,
            self.requests.oldest_outstanding(),
            replacement,
            &mut decisions,
        );
        self.apply(now, &mut decisions, out);
    }

    /// Turns the lock rules' decisions into events and client quotes.
    fn apply(&mut self, now: StreamMs, decisions: &mut Vec<Decision>, out: &mut Vec<RfqEvent>) {
        for decision in decisions.drain(..) {
            match decision {
                Decision::Lock {
                    candidate,
                    previous,
                    reason,
                } => {
                    let locked = Locked {
                        lp: self.per_lp[candidate.lp].name.clone(),
                        price: candidate.price,
                        previous_lp: previous.map(|lp| self.per_lp[lp].name.clone()),
                        reason,
                        simulated: self.per_lp[candidate.lp].simulated,
                    };
                    out.push(self.event(now, EventKind::Locked(locked)));
                    // Only a corroborated price is ever locked: it is this
                    // desk's most recent good price for the pair, and
                    // vouches for a lone fresh quote near it (an outage
                    // that leaves one LP quoting needs no new release).
                    self.reference = Some(candidate.price);
                }
                // A quote the desk cannot record is never offered.
                Decision::Offer { .. } if self.withheld => {}
                Decision::Offer { candidate, reason } => {
                    let seen = &self.per_lp[candidate.lp];
                    let behind = (seen.name.clone(), seen.simulated);
                    if let Some(quote) = self.offers.offer(now, candidate, behind, reason) {
                        out.push(self.event(now, EventKind::ClientQuote(Box::new(quote))));
                    }
                }
            }
        }
    }

    fn poll_completed(
        &mut self,
        now: StreamMs,
        poll: u32,
        out: &mut Vec<RfqEvent>,
    ) -> Option<EndReason> {
        if self.accepted() {
            // Once the client has accepted, a completing poll is only
            // bookkeeping: nothing is locked or offered any more.
            return None;
        }
        let mut decisions = Vec::new();
        let oldest_out = self.requests.oldest_outstanding();
        let found_nothing = self
            .lock
            .poll_completed(now, poll, oldest_out, &mut decisions);
        self.apply(now, &mut decisions, out);
        (found_nothing && self.requests.all_declined()).then_some(EndReason::NoQuotes)
    }

    /// Lets time pass to `now`: expires the live client quote once its
    /// validity is over, and starts a new race with any fresh answer a
    /// refresh already holds.
    pub(crate) fn on_time(&mut self, now: StreamMs, out: &mut Vec<RfqEvent>) {
        if self.accepted() {
            return;
        }
        let Some(expired) = self.offers.expire(now) else {
            return;
        };
        out.push(self.event(
            now,
            EventKind::LockExpired(LockExpired {
                lp: self.per_lp[expired.candidate.lp].name.clone(),
            }),
        ));
        let mut decisions = Vec::new();
        self.lock
            .expired(now, self.requests.oldest_outstanding(), &mut decisions);
        self.apply(now, &mut decisions, out);
    }

    /// True once the client has accepted (or tried to): no more polls,
    /// no more client quotes.
    pub(crate) fn accepted(&self) -> bool {
        self.execution.is_some() || self.outcome.is_some()
    }

    /// How the acceptance ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// An order is out and its outcome not known yet.
    pub(crate) fn order_pending(&self) -> bool {
        self.execution
            .as_ref()
            .is_some_and(|execution| execution.pending().is_some())
    }

    /// The stream is for `client` (the house's until set).
    pub(crate) fn set_channel(&mut self, channel: crate::rfq::client_id::Channel) {
        self.channel = channel;
    }

    pub(crate) fn set_operator(&mut self, operator: Option<Arc<str>>) {
        self.operator = operator;
    }

    pub(crate) fn set_client(&mut self, client: ClientId) {
        self.client = client;
    }

    /// Client quote ids are stemmed from `stem` instead of the RFQ id
    /// (each side of a two-way request has its own).
    pub(crate) fn set_quote_stem(&mut self, stem: Arc<str>) {
        self.offers.set_stem(stem);
    }

    /// Every quote must fall in `band` (the venues file's band for the
    /// pair).
    pub(crate) fn set_band(&mut self, band: Option<PriceBand>) {
        self.band = band;
    }

    /// A quote within MAX_DEVIATION_BPS of `reference` (the desk's recent
    /// corroborated price for the pair) is corroborated.
    pub fn set_reference(&mut self, reference: Option<Decimal>) {
        self.reference = reference;
    }

    /// The desk's reference for the pair as it stands now (`None`: none
    /// within its age limit).
    pub(crate) fn set_desk_reference(&mut self, reference: Option<Decimal>) {
        self.desk_reference = reference;
    }

    /// Of the stream's own reference and the desk's, the one nearer
    /// `price`: either may vouch for it.
    fn nearest_reference(&self, price: Decimal) -> Option<Decimal> {
        match (self.reference, self.desk_reference) {
            (Some(own), Some(desk)) => Some(
                if sanity::deviation_bps(price, desk) < sanity::deviation_bps(price, own) {
                    desk
                } else {
                    own
                },
            ),
            (own, desk) => own.or(desk),
        }
    }

    /// The operator releases the best live unverified quote: its price
    /// becomes the stream's reference (so the LP's later prices near it
    /// need no new release), `released` is emitted and it is offered like
    /// a fresh answer. Nothing happens when no unverified quote is live
    /// or the client has accepted.
    pub fn release_unverified(
        &mut self,
        now: StreamMs,
        median: &mut MedianScratch,
        out: &mut Vec<RfqEvent>,
    ) {
        if self.accepted() {
            return;
        }
        let best = self
            .book
            .ranked(now)
            .into_iter()
            .find(|&lp| self.book.get(lp).is_some_and(|entry| !entry.corroborated));
        let Some((lp, price)) = best.and_then(|lp| self.book.get(lp).map(|e| (lp, e.price))) else {
            tracing::info!(rfq = %self.rfq_id, "nothing unverified to release");
            return;
        };
        self.reference = Some(price);
        out.push(self.event(
            now,
            EventKind::Released(Released {
                lp: self.per_lp[lp].name.clone(),
                price,
            }),
        ));
        let mut decisions = Vec::new();
        self.corroborate(now, None, median, &mut decisions, out);
        self.apply(now, &mut decisions, out);
    }

    /// Gives each LP its own request and order timeouts (`None`: the
    /// desk's LP_TIMEOUT_MS / ORDER_TIMEOUT_MS).
    pub(crate) fn set_lp_timeouts(&mut self, timeouts: &[(Option<u64>, Option<u64>)]) {
        for (lp, (quote, order)) in timeouts.iter().enumerate().take(self.per_lp.len()) {
            if let Some(quote) = quote {
                self.requests.set_timeout(lp, *quote);
            }
            self.per_lp[lp].order_timeout_ms = order.unwrap_or(self.params.order_timeout_ms);
        }
    }

    /// When the pending order's time runs out, if one is out.
    pub(crate) fn next_order_deadline(&self) -> Option<StreamMs> {
        let pending = self.execution.as_ref()?.pending()?;
        Some(pending.sent_ms + self.per_lp[pending.plan.lp].order_timeout_ms)
    }

    /// The pending order's id if its time is over at `now`.
    pub(crate) fn order_timed_out(&self, now: StreamMs) -> Option<Arc<str>> {
        let deadline = self.next_order_deadline()?;
        let pending = self.execution.as_ref()?.pending()?;
        (deadline <= now).then(|| pending.plan.order_id.clone())
    }

    /// The client accepts client quote `quote_id` (`None`: whichever is
    /// live) at `now`. Returns the order to send to the LP behind it; a
    /// quote that is not live any more is not filled, with the reason. A
    /// second acceptance does nothing.
    pub fn accept(
        &mut self,
        now: StreamMs,
        quote_id: Option<&str>,
        out: &mut Vec<RfqEvent>,
    ) -> Option<OrderPlan> {
        if self.accepted() {
            tracing::info!(rfq = %self.rfq_id, "a second acceptance is ignored");
            return None;
        }
        let live = self.offers.live_at(now);
        let refusal = match (live, quote_id) {
            (None, Some(id)) => Some(format!(
                "quote {id} is no longer live: it expired or was replaced before it was accepted"
            )),
            (None, None) => Some("no client quote was live when the client accepted".to_string()),
            (Some(live), Some(id)) if &*live.quote_id != id => Some(format!(
                "quote {id} was replaced by {} before it was accepted",
                live.quote_id
            )),
            (Some(live), _) if live.candidate.valid_until_ms <= now => {
                Some(format!("the LP quote behind {} has expired", live.quote_id))
            }
            _ => None,
        };
        if let Some(reason) = refusal {
            self.refuse(now, quote_id, reason, out);
            return None;
        }
        let live = self.offers.withdraw()?;
        let accepted = Accepted::from_quote(&live.shown, self.spec.pair.price_dp, self.spec.fixed);
        let limit = accepted.client_price;
        let mut execution = Execution::new(accepted);
        let candidate = live.candidate;
        let (plan, preferred_over) =
            match self.prefer_clean(now, candidate.lp, candidate.price, &[], limit) {
                Some((clean, entry, preferred_over)) => (
                    execution.send(
                        now,
                        clean,
                        entry.price,
                        entry.venue_ref,
                        entry.valid_until_ms,
                    ),
                    Some(preferred_over),
                ),
                None => (
                    execution.send(
                        now,
                        candidate.lp,
                        candidate.price,
                        candidate.venue_ref,
                        candidate.valid_until_ms,
                    ),
                    None,
                ),
            };
        self.execution = Some(Box::new(execution));
        self.emit_order_sent(now, &plan, preferred_over, out);
        Some(plan)
    }

    /// The client's acceptance of `quote_id` (`None`: whichever is live)
    /// is refused at `now` for `reason`: nothing is sent, the stream's
    /// outcome is `not_filled`. A second acceptance does nothing.
    pub(crate) fn refuse(
        &mut self,
        now: StreamMs,
        quote_id: Option<&str>,
        reason: String,
        out: &mut Vec<RfqEvent>,
    ) {
        if self.accepted() {
            return;
        }
        self.outcome = Some(Outcome::NotFilled);
        let quote_id = quote_id
            .map(Arc::from)
            .or_else(|| self.offers.live().map(|live| live.quote_id.clone()));
        out.push(self.event(now, EventKind::NotFilled(NotFilled { quote_id, reason })));
    }

    /// The stream's record can no longer be kept (`failure` says why):
    /// the operator is told, the live client quote is withdrawn (a
    /// `lock_expired`) and none is offered until [`Engine::resume`]. Once
    /// the client has accepted only the telling is left: an order out is
    /// still awaited (its outcome goes to the blotter's fallback journal).
    pub(crate) fn withhold(&mut self, now: StreamMs, failure: &str, out: &mut Vec<RfqEvent>) {
        if self.withheld {
            return;
        }
        self.withheld = true;
        let reason = if self.order_pending() {
            format!("{failure}: the order out is awaited; its outcome goes to the fallback journal")
        } else if self.accepted() {
            failure.to_string()
        } else {
            format!("{failure}: no client quote is offered and accepts are refused until it records again")
        };
        out.push(self.event(now, EventKind::BlotterError(BlotterErrorEvent { reason })));
        if self.accepted() {
            return;
        }
        if let Some(live) = self.offers.withdraw() {
            out.push(self.event(
                now,
                EventKind::LockExpired(LockExpired {
                    lp: self.per_lp[live.candidate.lp].name.clone(),
                }),
            ));
        }
    }

    /// The record can be kept again: a fresh race starts, and its winner
    /// is offered.
    pub(crate) fn resume(&mut self, now: StreamMs) {
        if !std::mem::take(&mut self.withheld) || self.accepted() {
            return;
        }
        let mut decisions = Vec::new();
        self.lock.restart(
            now,
            self.requests.oldest_outstanding(),
            None,
            &mut decisions,
        );
        debug_assert!(
            decisions.is_empty(),
            "a race with no candidate decides nothing"
        );
    }

    /// True while the stream offers nothing because its record cannot be
    /// kept.
    pub(crate) fn withheld(&self) -> bool {
        self.withheld
    }

    /// When `best` (at `price`) is fading: the best clean LP's firm quote
    /// that still honours `limit` and is worse than `price` by no more
    /// than the fade tolerance, with why it is preferred. `None`: send to
    /// `best` (it is clean, or no clean quote is close enough).
    fn prefer_clean(
        &self,
        now: StreamMs,
        best: usize,
        price: Decimal,
        tried: &[usize],
        limit: Decimal,
    ) -> Option<(usize, BookEntry, PreferredOver)> {
        let LpSeen {
            reject_rate,
            fading,
            ..
        } = self.per_lp[best];
        if !fading {
            return None;
        }
        let mut exclude: Vec<usize> = (0..self.per_lp.len())
            .filter(|&lp| self.per_lp[lp].fading)
            .collect();
        exclude.extend_from_slice(tried);
        let clean = self.book.best_within(now, 0, &exclude, limit)?;
        let entry = self.book.get(clean)?.clone();
        // How far the clean price may be from the fading one: BUY pays up
        // to price × (1 + t), SELL takes down to price × (1 − t).
        let tolerance = price * self.params.fade_tolerance.fraction();
        let bound = match self.spec.side {
            Side::Buy => price + tolerance,
            Side::Sell => price - tolerance,
        };
        if self.spec.side.is_better(bound, entry.price) {
            return None;
        }
        let preferred_over = PreferredOver {
            lp: self.per_lp[best].name.clone(),
            lp_price: price,
            reject_rate,
        };
        Some((clean, entry, preferred_over))
    }

    fn emit_order_sent(
        &self,
        now: StreamMs,
        plan: &OrderPlan,
        preferred_over: Option<PreferredOver>,
        out: &mut Vec<RfqEvent>,
    ) {
        let Some(execution) = &self.execution else {
            return;
        };
        let sent = OrderSent {
            lp: self.per_lp[plan.lp].name.clone(),
            order_id: plan.order_id.clone(),
            quote_id: execution.accepted.quote_id.clone(),
            venue_ref: plan.venue_ref.clone(),
            client_order_id: self.per_lp[plan.lp]
                .client_order_ids
                .of(&plan.order_id)
                .map(Arc::from),
            lp_price: plan.price,
            amount: execution.accepted.amount,
            attempt: plan.attempt,
            preferred_over,
            simulated: self.per_lp[plan.lp].simulated,
        };
        out.push(self.event(now, EventKind::OrderSent(Box::new(sent))));
    }

    /// Order `order_id` ended at `now`. A fill or an unknown outcome ends
    /// the execution; a reject falls back to the next best LP quote that
    /// is still firm and still honours the accepted client price, and
    /// returns that order to send. A late answer to an order already
    /// resolved is dropped.
    pub(crate) fn on_order_answer(
        &mut self,
        now: StreamMs,
        order_id: &str,
        result: OrderResult,
        out: &mut Vec<RfqEvent>,
    ) -> Option<OrderPlan> {
        let execution = self.execution.as_mut()?;
        let pending = execution.take_pending(order_id)?;
        let plan = pending.plan;
        let lp = self.per_lp[plan.lp].name.clone();
        let simulated = self.per_lp[plan.lp].simulated;
        let hold_ms = now.saturating_sub(pending.sent_ms);
        let unknown = |reason: String| ExecutionUnknown {
            lp: lp.clone(),
            order_id: plan.order_id.clone(),
            reason,
        };
        match result {
            OrderResult::Answered(OrderAnswer::Filled {
                price,
                quantity,
                venue_order_id,
            }) => {
                let accepted = &execution.accepted;
                if !accepted.covered_by(quantity) {
                    // A fill-or-kill order filled for another quantity: the
                    // desk's position is not what the client was promised.
                    // Nobody may assume it filled: unknown, for the operator.
                    let reason = match accepted.fixed {
                        Leg::Base => format!(
                            "the LP reported a fill of {quantity} at {price}, not the {} ordered",
                            accepted.amount
                        ),
                        Leg::Quote => format!(
                            "the LP reported a fill of {quantity} at {price}, which does not cover the client's {}",
                            accepted.amount
                        ),
                    };
                    self.resolve_unknown(now, unknown(reason), out);
                    return None;
                }
                let (desk_pnl, pnl_asset) = accepted.desk_pnl_of_fill(price, quantity);
                let filled = Filled {
                    lp: lp.clone(),
                    order_id: plan.order_id.clone(),
                    quote_id: accepted.quote_id.clone(),
                    lp_price: price,
                    client_price: accepted.client_price,
                    amount: accepted.amount,
                    client_pays: accepted.client_pays,
                    pays_asset: accepted.pays_asset,
                    client_receives: accepted.client_receives,
                    receives_asset: accepted.receives_asset,
                    desk_pnl,
                    pnl_asset,
                    hold_ms,
                    venue_order_id,
                    simulated,
                };
                execution.resolve(Outcome::Filled);
                self.outcome = Some(Outcome::Filled);
                out.push(self.event(now, EventKind::Filled(Box::new(filled))));
                None
            }
            OrderResult::Answered(OrderAnswer::Unknown { reason }) => {
                self.resolve_unknown(now, unknown(reason), out);
                None
            }
            OrderResult::TimedOut => {
                let reason = format!(
                    "no answer within {} ms",
                    self.per_lp[plan.lp].order_timeout_ms
                );
                self.resolve_unknown(now, unknown(reason), out);
                None
            }
            OrderResult::Panicked(message) => {
                self.resolve_unknown(now, unknown(format!("lp panicked: {message}")), out);
                None
            }
            OrderResult::Answered(
                OrderAnswer::Rejected { reason } | OrderAnswer::Refused { reason, .. },
            ) => {
                execution.rejects.push((lp.clone(), reason.clone()));
                let rejected = OrderRejected {
                    lp,
                    order_id: plan.order_id.clone(),
                    reason,
                    hold_ms,
                };
                out.push(self.event(now, EventKind::OrderRejected(rejected)));
                self.fall_back(now, out)
            }
        }
    }

    fn resolve_unknown(
        &mut self,
        now: StreamMs,
        unknown: ExecutionUnknown,
        out: &mut Vec<RfqEvent>,
    ) {
        if let Some(execution) = self.execution.as_mut() {
            execution.resolve(Outcome::Unknown);
        }
        self.outcome = Some(Outcome::Unknown);
        out.push(self.event(now, EventKind::ExecutionUnknown(unknown)));
    }

    /// After a reject: the next order, or `not_filled` when no LP quote is
    /// left that could fill at the accepted price.
    fn fall_back(&mut self, now: StreamMs, out: &mut Vec<RfqEvent>) -> Option<OrderPlan> {
        let execution = self.execution.as_mut()?;
        let limit = execution.accepted.client_price;
        let next = self.book.best_within(now, 0, execution.tried(), limit);
        if let Some((lp, entry)) =
            next.and_then(|lp| self.book.get(lp).map(|entry| (lp, entry.clone())))
        {
            let tried = execution.tried().to_vec();
            let (lp, entry, preferred_over) =
                match self.prefer_clean(now, lp, entry.price, &tried, limit) {
                    Some((clean, clean_entry, why)) => (clean, clean_entry, Some(why)),
                    None => (lp, entry, None),
                };
            let execution = self.execution.as_mut()?;
            let plan = execution.send(now, lp, entry.price, entry.venue_ref, entry.valid_until_ms);
            self.emit_order_sent(now, &plan, preferred_over, out);
            return Some(plan);
        }
        let tried: Vec<String> = execution
            .rejects
            .iter()
            .map(|(lp, reason)| format!("{lp} ({reason})"))
            .collect();
        let reason = format!(
            "rejected by {}; no other firm LP quote honours the client price {}",
            tried.join(", "),
            limit
        );
        let quote_id = Some(execution.accepted.quote_id.clone());
        execution.resolve(Outcome::NotFilled);
        self.outcome = Some(Outcome::NotFilled);
        out.push(self.event(now, EventKind::NotFilled(NotFilled { quote_id, reason })));
        None
    }

    /// The summary for the `ended` event: the client quote live at `now`
    /// (if any), or, once the client accepted, the accepted quote and the
    /// LP that filled it.
    pub fn finish(&self, now: StreamMs, reason: EndReason) -> Ended {
        let outcome = self.outcome.unwrap_or(match self.execution {
            // An order still out when the stream had to end.
            Some(_) => Outcome::Unknown,
            None => Outcome::NotAccepted,
        });
        if let Some(execution) = &self.execution {
            let filled_lp = match (outcome, execution.tried().last()) {
                (Outcome::Filled, Some(&lp)) => Some(&self.per_lp[lp]),
                _ => None,
            };
            return Ended {
                reason,
                outcome,
                improvements: self.lock.improvements(),
                quote_id: Some(execution.accepted.quote_id.clone()),
                lp: filled_lp.map(|seen| seen.name.clone()),
                client_price: Some(execution.accepted.client_price),
                simulated: filled_lp.is_some_and(|seen| seen.simulated),
            };
        }
        let live = self.offers.live_at(now);
        Ended {
            reason,
            outcome,
            improvements: self.lock.improvements(),
            quote_id: live.map(|live| live.quote_id.clone()),
            lp: live.map(|live| self.per_lp[live.candidate.lp].name.clone()),
            client_price: live.map(|live| live.client_price),
            simulated: live.is_some_and(|live| self.per_lp[live.candidate.lp].simulated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn engine(lps: usize) -> Engine {
        let names = (1..=lps).map(|i| Arc::from(format!("LP{i}"))).collect();
        let params = EngineParams {
            markup: Bps::new(dec!(5)).unwrap(),
            threshold: Bps::new(dec!(1)).unwrap(),
            validity_buffer_ms: 2_000,
            poll_interval_ms: 500,
            lp_timeout_ms: 1_000,
            order_timeout_ms: 5_000,
            max_deviation: Bps::new(rust_decimal_macros::dec!(200)).unwrap(),
            fade_tolerance: Bps::new(rust_decimal_macros::dec!(2)).unwrap(),
        };
        let spec = RfqSpec {
            side: Side::Buy,
            amount: dec!(1),
            pair: "BTCUSDT".parse().unwrap(),
            fixed: crate::market::Leg::Base,
        };
        Engine::new(Arc::from("R-1"), spec, names, params, StreamClock::start())
    }

    #[test]
    fn each_request_times_out_at_its_own_deadline_and_a_late_answer_is_dropped() {
        let mut engine = engine(2);
        let mut median = MedianScratch::new();
        let (mut dispatch, mut out, mut expired) = (Vec::new(), Vec::new(), Vec::new());
        engine.begin_poll(0, &mut dispatch, &mut out);
        let first = dispatch[0];
        assert_eq!(engine.next_timeout(), Some(1_000));
        engine.timed_out(999, &mut expired);
        assert!(expired.is_empty());
        engine.timed_out(1_000, &mut expired);
        assert_eq!(
            expired,
            [(0, first.request_id), (1, dispatch[1].request_id)]
        );
        engine.on_answer(
            1_000,
            0,
            first.request_id,
            Answer::TimedOut,
            &mut median,
            &mut out,
        );
        engine.on_answer(
            1_000,
            1,
            dispatch[1].request_id,
            Answer::TimedOut,
            &mut median,
            &mut out,
        );
        assert!(engine.all_polls_complete());
        // Asked again; the first request's late result must not count.
        engine.begin_poll(1_000, &mut dispatch, &mut out);
        out.clear();
        let late = Answer::Failed(LpError::Unavailable("late".into()));
        assert_eq!(
            engine.on_answer(1_100, 0, first.request_id, late, &mut median, &mut out),
            None
        );
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(engine.next_timeout(), Some(2_000));
    }

    fn quote(
        engine: &Engine,
        dispatch: &Dispatch,
        price: Decimal,
        valid_until_ms: StreamMs,
    ) -> Answer {
        Answer::Quote(LpQuote {
            lp: engine.lp_name(dispatch.lp).clone(),
            request_id: dispatch.request_id,
            side: Side::Buy,
            pair: engine.spec.pair,
            price,
            quantity: dec!(1),
            valid_until_ms,
            venue_ref: None,
        })
    }

    /// The kinds of events, with the LP of `locked` events, for short asserts.
    fn kinds(out: &[RfqEvent]) -> Vec<String> {
        out.iter()
            .map(|event| match &event.kind {
                EventKind::Locked(locked) => format!("locked {} {:?}", locked.lp, locked.reason),
                EventKind::ClientQuote(quote) => {
                    format!("client {} {}", quote.lp, quote.reason.as_str())
                }
                kind => kind.name().to_string(),
            })
            .collect()
    }

    #[test]
    fn the_race_follows_the_best_and_locks_when_the_first_poll_completes() {
        let mut engine = engine(3);
        let mut median = MedianScratch::new();
        let (mut dispatch, mut out) = (Vec::new(), Vec::new());
        engine.begin_poll(0, &mut dispatch, &mut out);
        let [a, b, c] = [dispatch[0], dispatch[1], dispatch[2]];
        engine.on_answer(
            100,
            1,
            b.request_id,
            quote(&engine, &b, dec!(100010), 10_100),
            &mut median,
            &mut out,
        );
        engine.on_answer(
            150,
            0,
            a.request_id,
            quote(&engine, &a, dec!(100000), 10_150),
            &mut median,
            &mut out,
        );
        engine.on_answer(
            200,
            2,
            c.request_id,
            quote(&engine, &c, dec!(100000), 10_200),
            &mut median,
            &mut out,
        );
        assert_eq!(
            kinds(&out),
            [
                // Alone, nothing vouches for LP2's price.
                "lp_quote",
                "unverified",
                // LP1 is within MAX_DEVIATION_BPS of LP2: each vouches for
                // the other, and only the better is offered.
                "lp_quote",
                "client LP1 first",
                // LP3 ties LP1: the earlier answer keeps the lead.
                "lp_quote",
                "locked LP1 BestOfPoll",
            ]
        );
        // Later polls ask only the competitors.
        engine.begin_poll(500, &mut dispatch, &mut out);
        assert_eq!(dispatch.iter().map(|d| d.lp).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn a_competitor_needs_the_full_threshold_and_an_expiring_lock_is_refreshed() {
        let mut engine = engine(2);
        let mut median = MedianScratch::new();
        let (mut dispatch, mut out) = (Vec::new(), Vec::new());
        engine.begin_poll(0, &mut dispatch, &mut out);
        let [a, b] = [dispatch[0], dispatch[1]];
        engine.on_answer(
            100,
            0,
            a.request_id,
            quote(&engine, &a, dec!(100000), 5_100),
            &mut median,
            &mut out,
        );
        engine.on_answer(
            100,
            1,
            b.request_id,
            quote(&engine, &b, dec!(100005), 10_100),
            &mut median,
            &mut out,
        );
        out.clear();
        // 0.99 bp better: not enough.
        engine.begin_poll(500, &mut dispatch, &mut out);
        let b = dispatch[0];
        engine.on_answer(
            600,
            1,
            b.request_id,
            quote(&engine, &b, dec!(99990.01), 10_600),
            &mut median,
            &mut out,
        );
        assert_eq!(kinds(&out), ["lp_quote"]);
        out.clear();
        // LP1's client validity ends at 3100 (5100 − 2000 buffer): the poll
        // at 1600 (1600 + 500 + 1000 ≥ 3100) asks it again, and the best
        // fresh answer wins although it beats LP1 by less than 1 bp.
        engine.begin_poll(1_600, &mut dispatch, &mut out);
        assert_eq!(dispatch.iter().map(|d| d.lp).collect::<Vec<_>>(), [0, 1]);
        let [a, b] = [dispatch[0], dispatch[1]];
        engine.on_answer(
            1_700,
            0,
            a.request_id,
            quote(&engine, &a, dec!(100000), 11_700),
            &mut median,
            &mut out,
        );
        engine.on_answer(
            1_750,
            1,
            b.request_id,
            quote(&engine, &b, dec!(99995), 11_750),
            &mut median,
            &mut out,
        );
        assert_eq!(
            kinds(&out),
            [
                "lp_quote",
                "lp_quote",
                "locked LP2 Refresh",
                "client LP2 refresh"
            ]
        );
    }

    #[test]
    fn a_lone_lp_is_unverified_once_per_price_and_the_desk_reference_vouches_as_it_stands() {
        let mut engine = engine(1);
        let mut median = MedianScratch::new();
        let mut dispatch = Vec::new();
        let mut answer = |engine: &mut Engine, at: u64, price: Decimal| {
            let mut out = Vec::new();
            engine.begin_poll(at, &mut dispatch, &mut out);
            let a = dispatch[0];
            let quoted = quote(engine, &a, price, at + 10_000);
            engine.on_answer(at + 50, 0, a.request_id, quoted, &mut median, &mut out);
            kinds(&out)
        };
        assert_eq!(
            answer(&mut engine, 0, dec!(100000)),
            ["lp_quote", "unverified"]
        );
        // The same price again: not news.
        assert_eq!(answer(&mut engine, 500, dec!(100000)), ["lp_quote"]);
        assert_eq!(answer(&mut engine, 1_000, dec!(100000)), ["lp_quote"]);
        // A new price is.
        assert_eq!(
            answer(&mut engine, 1_500, dec!(100100)),
            ["lp_quote", "unverified"]
        );
        // A desk reference too far from it vouches for nothing...
        engine.set_desk_reference(Some(dec!(90000)));
        assert_eq!(answer(&mut engine, 2_000, dec!(100100)), ["lp_quote"]);
        // ...one within MAX_DEVIATION_BPS does.
        engine.set_desk_reference(Some(dec!(100000)));
        assert_eq!(
            answer(&mut engine, 2_500, dec!(100100)),
            ["lp_quote", "client LP1 first", "locked LP1 BestOfPoll"]
        );
    }

    #[test]
    fn an_unrefreshed_lock_expires_and_the_next_fresh_answer_is_offered() {
        let mut engine = engine(1);
        // A single LP: the desk's reference for the pair vouches for it.
        engine.set_reference(Some(dec!(100000)));
        let mut median = MedianScratch::new();
        let (mut dispatch, mut out) = (Vec::new(), Vec::new());
        engine.begin_poll(0, &mut dispatch, &mut out);
        let a = dispatch[0];
        engine.on_answer(
            100,
            0,
            a.request_id,
            quote(&engine, &a, dec!(100000), 3_100),
            &mut median,
            &mut out,
        );
        assert_eq!(engine.next_deadline(), Some(1_100));
        out.clear();
        engine.on_time(1_099, &mut out);
        assert!(out.is_empty());
        engine.on_time(1_100, &mut out);
        assert_eq!(kinds(&out), ["lock_expired"]);
        assert_eq!(engine.finish(1_100, EndReason::Duration).client_price, None);
        out.clear();
        engine.begin_poll(1_500, &mut dispatch, &mut out);
        let a = dispatch[0];
        engine.on_answer(
            1_600,
            0,
            a.request_id,
            quote(&engine, &a, dec!(100001), 4_600),
            &mut median,
            &mut out,
        );
        assert_eq!(
            kinds(&out),
            ["lp_quote", "client LP1 refresh", "locked LP1 BestOfPoll"]
        );
    }

    /// A stream in which the median decides twice: LP1's too good first
    /// quote (no peers to judge it yet) is expelled once three LPs quote,
    /// and LP4's too good one is rejected on arrival. Each answer is judged
    /// in `reused` if given, else in a fresh scratch of its own.
    fn judged_by_the_median(mut reused: Option<&mut MedianScratch>) -> Vec<RfqEvent> {
        let mut engine = engine(4);
        let (mut dispatch, mut out) = (Vec::new(), Vec::new());
        engine.begin_poll(0, &mut dispatch, &mut out);
        let prices = [dec!(50000), dec!(100000), dec!(100010), dec!(40000)];
        for (k, (request, price)) in dispatch.iter().zip(prices).enumerate() {
            let at = 100 + 10 * k as u64;
            let answer = quote(&engine, request, price, at + 10_000);
            let mut fresh = MedianScratch::new();
            let median = match reused.as_deref_mut() {
                Some(reused) => reused,
                None => &mut fresh,
            };
            engine.on_answer(at, request.lp, request.request_id, answer, median, &mut out);
        }
        out
    }

    #[test]
    fn the_median_decides_the_same_with_a_fresh_scratch_and_a_reused_dirty_one() {
        let fresh = judged_by_the_median(None);
        assert_eq!(
            kinds(&fresh),
            [
                // LP1's 50000 alone, then LP2's 100000 beside it: neither
                // vouches for the other, so neither is offered.
                "lp_quote",
                "unverified",
                "lp_quote",
                "unverified",
                "lp_quote",
                // The median of three (100000) exposes LP1's 50000, and
                // LP3 vouches for LP2, the better.
                "lp_error",
                "client LP2 first",
                // LP4's 40000, judged on arrival; its poll is complete.
                "lp_error",
                "locked LP2 BestOfPoll",
            ]
        );
        let rejected: Vec<_> = fresh
            .iter()
            .filter_map(|event| match &event.kind {
                EventKind::LpError(error) => Some((error.lp.to_string(), error.kind)),
                _ => None,
            })
            .collect();
        assert_eq!(
            rejected,
            [
                ("LP1".to_string(), FailureKind::Invalid),
                ("LP4".to_string(), FailureKind::Invalid)
            ]
        );
        // One set for every answer, as a session lends it: left over from
        // another stream's judgement, then filled with quotes and verdicts
        // (every LP an outlier) that would change the decision if read.
        let mut dirty = MedianScratch::new();
        judged_by_the_median(Some(&mut dirty));
        dirty
            .quotes
            .extend([(0, dec!(1)), (1, dec!(2)), (2, dec!(3)), (3, dec!(4))]);
        dirty.ticks.extend([1, 2, 3, 4, 1, 2, 3, 4]);
        dirty
            .found
            .extend([(0, dec!(1)), (1, dec!(2)), (2, dec!(3)), (3, dec!(4))]);
        assert_eq!(judged_by_the_median(Some(&mut dirty)), fresh);
    }
}
