//! The RFQ state machine: the book of answers, the lock and the live client
//! quote, changed only by the events fed to it (a poll starts, an answer
//! arrives, time passes). It performs no I/O and never reads a clock of its
//! own: the session task passes `now` in, so every decision is a pure
//! function of state + input and is tested without a runtime.
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

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::clock::{StreamClock, StreamMs};
use crate::ids;
use crate::lp::{LpError, LpQuote};
use crate::market::{Bps, Pair, Side};
use crate::rfq::event::*;
use crate::rfq::pricing::{beats_lock, client_valid_until, price_client};
use crate::rfq::validate::{validate_quote, Expected};

/// The longest a rate-limited LP is left out of the polls.
const MAX_REST_MS: u64 = 60_000;

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
}

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfqSpec {
    pub side: Side,
    pub amount: Decimal,
    pub pair: Pair,
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

/// A valid LP answer that may be offered.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    lp: usize,
    price: Decimal,
    valid_until_ms: StreamMs,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    request_id: u64,
    poll: u32,
    sent_ms: StreamMs,
}

#[derive(Debug)]
struct LpSlot {
    name: Arc<str>,
    in_flight: Option<InFlight>,
    /// The LP's latest answer was a decline.
    declined: bool,
    /// Rate-limited: not asked again before this stream time.
    resting_until_ms: StreamMs,
}

/// The quote currently shown to the client.
#[derive(Debug, Clone)]
struct Live {
    quote_id: Arc<str>,
    candidate: Candidate,
    client_price: Decimal,
    client_valid_until_ms: StreamMs,
}

#[derive(Debug)]
enum Phase {
    /// No lock: the best answer so far is offered. The race is settled when
    /// poll `settle_on` completes (`None`: the next poll to start).
    Racing {
        best: Option<Candidate>,
        settle_on: Option<u32>,
    },
    Locked {
        lock: Candidate,
        refresh: Option<Refresh>,
    },
}

/// A refresh in progress: poll `poll` also asked the locked LP.
#[derive(Debug)]
struct Refresh {
    poll: u32,
    best: Option<Candidate>,
}

/// The RFQ state machine; see the module docs.
#[derive(Debug)]
pub struct Engine {
    rfq_id: Arc<str>,
    spec: RfqSpec,
    params: EngineParams,
    clock: StreamClock,
    lps: Vec<LpSlot>,
    phase: Phase,
    live: Option<Live>,
    /// Reason the next racing client quote carries.
    race_reason: QuoteReason,
    /// The LP that held the lock last, for `previous_lp`.
    last_lock_lp: Option<usize>,
    /// Polls with requests still out: (poll, requests outstanding, stream
    /// time the poll's requests were sent).
    outstanding: Vec<(u32, u32, StreamMs)>,
    polls_started: u32,
    /// Client quotes offered so far: the sequence in their ids.
    quotes_offered: u32,
    improvements: u32,
}

impl Engine {
    pub fn new(
        rfq_id: Arc<str>,
        spec: RfqSpec,
        lp_names: Vec<Arc<str>>,
        params: EngineParams,
        clock: StreamClock,
    ) -> Engine {
        let lps = lp_names
            .into_iter()
            .map(|name| LpSlot {
                name,
                in_flight: None,
                declined: false,
                resting_until_ms: 0,
            })
            .collect();
        Engine {
            rfq_id,
            spec,
            params,
            clock,
            lps,
            phase: Phase::Racing {
                best: None,
                settle_on: None,
            },
            live: None,
            race_reason: QuoteReason::First,
            last_lock_lp: None,
            outstanding: Vec::new(),
            polls_started: 0,
            quotes_offered: 0,
            improvements: 0,
        }
    }

    pub fn rfq_id(&self) -> &Arc<str> {
        &self.rfq_id
    }

    pub fn spec(&self) -> &RfqSpec {
        &self.spec
    }

    pub fn lp_count(&self) -> usize {
        self.lps.len()
    }

    /// Stamps `kind` as an event of this RFQ at stream time `now`.
    pub fn event(&self, now: StreamMs, kind: EventKind) -> RfqEvent {
        RfqEvent {
            kind,
            rfq_id: self.rfq_id.clone(),
            t_ms: now,
        }
    }

    /// The `started` event, stamped at stream time 0.
    pub fn started(&self, duration_ms: u64) -> RfqEvent {
        let started = Started {
            side: self.spec.side,
            amount: self.spec.amount,
            pair: self.spec.pair,
            lps: self.lps.iter().map(|lp| lp.name.clone()).collect(),
            markup_bps: self.params.markup,
            threshold_bps: self.params.threshold,
            validity_buffer_ms: self.params.validity_buffer_ms,
            poll_interval_ms: self.params.poll_interval_ms,
            lp_timeout_ms: self.params.lp_timeout_ms,
            duration_ms,
            speed: self.clock.speed(),
            started_at: crate::clock::iso_millis(self.clock.wall_origin()),
        };
        self.event(0, EventKind::Started(Box::new(started)))
    }

    /// True when every request sent so far has been answered or timed out.
    pub fn all_polls_complete(&self) -> bool {
        self.outstanding.is_empty()
    }

    /// When the oldest request in flight runs out of time, if any is out.
    pub fn next_timeout(&self) -> Option<StreamMs> {
        self.outstanding
            .iter()
            .map(|(_, _, sent_ms)| sent_ms + self.params.lp_timeout_ms)
            .min()
    }

    /// The requests whose LP timeout is over at `now`: (LP, request id).
    /// Each is then answered with [`Answer::TimedOut`].
    pub fn timed_out(&self, now: StreamMs, expired: &mut Vec<(usize, u64)>) {
        expired.clear();
        for (lp, slot) in self.lps.iter().enumerate() {
            if let Some(in_flight) = slot.in_flight {
                if in_flight.sent_ms + self.params.lp_timeout_ms <= now {
                    expired.push((lp, in_flight.request_id));
                }
            }
        }
    }

    /// When the live client quote's validity runs out, if one is live.
    pub fn next_deadline(&self) -> Option<StreamMs> {
        self.live.as_ref().map(|live| live.client_valid_until_ms)
    }

    /// A stream with no LP at all can never quote.
    pub fn has_no_lps(&self) -> bool {
        self.lps.is_empty()
    }

    /// Starts a poll at `now`: fills `dispatch` with the requests to send
    /// and returns the poll number. Competitors only once locked, plus the
    /// locked LP when its quote needs refreshing; never an LP that still
    /// has a request in flight or asked us to rest.
    pub fn begin_poll(
        &mut self,
        now: StreamMs,
        dispatch: &mut Vec<Dispatch>,
        out: &mut Vec<RfqEvent>,
    ) -> u32 {
        dispatch.clear();
        self.polls_started += 1;
        let poll = self.polls_started;
        let refresh_due_by = now + self.params.poll_interval_ms + self.params.lp_timeout_ms;
        let locked_lp = match &mut self.phase {
            Phase::Racing { settle_on, .. } => {
                settle_on.get_or_insert(poll);
                None
            }
            Phase::Locked { lock, refresh } => {
                let lock_lp = lock.lp;
                let expiring = self
                    .live
                    .as_ref()
                    .is_some_and(|live| live.client_valid_until_ms <= refresh_due_by);
                let slot = &self.lps[lock_lp];
                if refresh.is_none()
                    && expiring
                    && slot.in_flight.is_none()
                    && slot.resting_until_ms <= now
                {
                    *refresh = Some(Refresh { poll, best: None });
                }
                refresh.is_none().then_some(lock_lp)
            }
        };
        for (index, slot) in self.lps.iter_mut().enumerate() {
            if Some(index) == locked_lp || slot.in_flight.is_some() || slot.resting_until_ms > now {
                continue;
            }
            let request_id = crate::lp::next_request_id();
            slot.in_flight = Some(InFlight {
                request_id,
                poll,
                sent_ms: now,
            });
            dispatch.push(Dispatch {
                lp: index,
                poll,
                request_id,
            });
        }
        if dispatch.is_empty() {
            self.poll_completed(now, poll, out);
        } else {
            self.outstanding.push((poll, dispatch.len() as u32, now));
        }
        poll
    }

    /// Handles LP `lp`'s answer to its request in flight, arriving at `now`.
    /// Returns `Some(NoQuotes)` when the stream should end because every LP
    /// declined.
    pub fn on_answer(
        &mut self,
        now: StreamMs,
        lp: usize,
        request_id: u64,
        answer: Answer,
        out: &mut Vec<RfqEvent>,
    ) -> Option<EndReason> {
        // Only the answer to the request in flight counts: a late result
        // of a request already timed out is dropped.
        let slot = self.lps.get_mut(lp)?;
        if slot.in_flight?.request_id != request_id {
            return None;
        }
        let in_flight = slot.in_flight.take()?;
        let latency_ms = now.saturating_sub(in_flight.sent_ms);
        let poll = in_flight.poll;
        match answer {
            Answer::Quote(quote) => self.on_quote(now, lp, in_flight, quote, out),
            Answer::Failed(error) => {
                let slot = &mut self.lps[lp];
                let kind = match &error {
                    LpError::Declined(_) => FailureKind::Declined,
                    LpError::Unavailable(_) => FailureKind::Unavailable,
                    LpError::Malformed(_) => FailureKind::Malformed,
                    LpError::Auth(_) => FailureKind::Auth,
                    LpError::RateLimited { retry_after_ms } => {
                        // An LP's word is capped: a broken header must not
                        // bench it for the rest of the stream.
                        let rest = retry_after_ms
                            .unwrap_or(self.params.poll_interval_ms)
                            .min(MAX_REST_MS);
                        slot.resting_until_ms = now.saturating_add(rest);
                        FailureKind::RateLimited
                    }
                };
                slot.declined = kind == FailureKind::Declined;
                self.emit_error(now, lp, kind, error.to_string(), latency_ms, poll, out);
            }
            Answer::TimedOut => {
                self.lps[lp].declined = false;
                let reason = format!("no answer within {} ms", self.params.lp_timeout_ms);
                self.emit_error(now, lp, FailureKind::Timeout, reason, latency_ms, poll, out);
            }
            Answer::Panicked(message) => {
                self.lps[lp].declined = false;
                let reason = format!("lp panicked: {message}");
                self.emit_error(
                    now,
                    lp,
                    FailureKind::Unavailable,
                    reason,
                    latency_ms,
                    poll,
                    out,
                );
            }
        }
        self.request_done(now, poll, out)
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
            lp: self.lps[lp].name.clone(),
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
        out: &mut Vec<RfqEvent>,
    ) {
        let latency_ms = now.saturating_sub(in_flight.sent_ms);
        self.lps[lp].declined = false;
        let expected = Expected {
            lp: &self.lps[lp].name,
            request_id: in_flight.request_id,
            side: self.spec.side,
            pair: &self.spec.pair,
            amount: self.spec.amount,
            validity_buffer_ms: self.params.validity_buffer_ms,
        };
        if let Err(reason) = validate_quote(&quote, &expected, now) {
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
        let answer = LpQuoteEvent {
            lp: self.lps[lp].name.clone(),
            price: quote.price,
            quantity: quote.quantity,
            latency_ms,
            valid_for_ms: quote.valid_until_ms - now,
            poll: in_flight.poll,
        };
        out.push(self.event(now, EventKind::LpQuote(answer)));
        let candidate = Candidate {
            lp,
            price: quote.price,
            valid_until_ms: quote.valid_until_ms,
        };
        self.consider(now, candidate, out);
    }

    /// The selection and lock decision for one valid answer.
    fn consider(&mut self, now: StreamMs, candidate: Candidate, out: &mut Vec<RfqEvent>) {
        let side = self.spec.side;
        match &mut self.phase {
            Phase::Racing { best, .. } => {
                let better = best.is_none_or(|best| side.is_better(candidate.price, best.price));
                let offerable = client_valid_until(
                    now,
                    candidate.valid_until_ms,
                    self.params.validity_buffer_ms,
                )
                .is_some();
                if better && offerable {
                    *best = Some(candidate);
                    let reason = self.race_reason;
                    self.offer(now, candidate, reason, out);
                    self.race_reason = QuoteReason::BestSoFar;
                }
            }
            Phase::Locked { lock, refresh } => {
                if let Some(refresh) = refresh {
                    if refresh
                        .best
                        .is_none_or(|best| side.is_better(candidate.price, best.price))
                    {
                        refresh.best = Some(candidate);
                    }
                }
                // The locked LP's quote is frozen: its own answers only
                // count as fresh candidates of a refresh.
                if candidate.lp == lock.lp
                    || !beats_lock(side, candidate.price, lock.price, self.params.threshold)
                {
                    return;
                }
                let previous = lock.lp;
                // (An arriving answer has passed validation at this very
                // instant, so its client validity is longer than zero.)
                // A fresh lock needs no refresh any more.
                self.phase = Phase::Locked {
                    lock: candidate,
                    refresh: None,
                };
                self.improvements += 1;
                self.emit_locked(now, candidate, Some(previous), LockReason::Improvement, out);
                self.offer(now, candidate, QuoteReason::Improvement, out);
            }
        }
    }

    fn emit_locked(
        &mut self,
        now: StreamMs,
        candidate: Candidate,
        previous: Option<usize>,
        reason: LockReason,
        out: &mut Vec<RfqEvent>,
    ) {
        self.last_lock_lp = Some(candidate.lp);
        let locked = Locked {
            lp: self.lps[candidate.lp].name.clone(),
            price: candidate.price,
            previous_lp: previous.map(|lp| self.lps[lp].name.clone()),
            reason,
        };
        out.push(self.event(now, EventKind::Locked(locked)));
    }

    /// Makes `candidate` the live client quote. Callers offer only
    /// candidates whose client validity is still open; one that is not is
    /// never shown.
    fn offer(
        &mut self,
        now: StreamMs,
        candidate: Candidate,
        reason: QuoteReason,
        out: &mut Vec<RfqEvent>,
    ) {
        let Some(client_valid_until_ms) = client_valid_until(
            now,
            candidate.valid_until_ms,
            self.params.validity_buffer_ms,
        ) else {
            return;
        };
        let priced = price_client(
            self.spec.side,
            &self.spec.pair,
            self.spec.amount,
            candidate.price,
            self.params.markup,
        );
        self.quotes_offered += 1;
        let quote_id = ids::quote_id(&self.rfq_id, self.quotes_offered);
        let quote = ClientQuote {
            quote_id: quote_id.clone(),
            lp: self.lps[candidate.lp].name.clone(),
            side: self.spec.side,
            lp_price: candidate.price,
            client_price: priced.price,
            markup_bps: self.params.markup,
            amount: priced_amount(&self.spec),
            client_pays: priced.pays,
            pays_asset: priced.pays_asset,
            client_receives: priced.receives,
            receives_asset: priced.receives_asset,
            client_valid_for_ms: client_valid_until_ms - now,
            reason,
        };
        self.live = Some(Live {
            quote_id,
            candidate,
            client_price: priced.price,
            client_valid_until_ms,
        });
        out.push(self.event(now, EventKind::ClientQuote(Box::new(quote))));
    }

    fn request_done(
        &mut self,
        now: StreamMs,
        poll: u32,
        out: &mut Vec<RfqEvent>,
    ) -> Option<EndReason> {
        let position = self.outstanding.iter().position(|(p, _, _)| *p == poll)?;
        let remaining = &mut self.outstanding[position].1;
        *remaining -= 1;
        if *remaining > 0 {
            return None;
        }
        self.outstanding.remove(position);
        self.poll_completed(now, poll, out)
    }

    fn poll_completed(
        &mut self,
        now: StreamMs,
        poll: u32,
        out: &mut Vec<RfqEvent>,
    ) -> Option<EndReason> {
        match &mut self.phase {
            Phase::Racing { best, settle_on } if *settle_on == Some(poll) => match *best {
                Some(winner) => {
                    self.phase = Phase::Locked {
                        lock: winner,
                        refresh: None,
                    };
                    let previous = self.last_lock_lp;
                    self.emit_locked(now, winner, previous, LockReason::BestOfPoll, out);
                }
                None => {
                    // Settle on the oldest poll still out, else the next.
                    *settle_on = self.outstanding.iter().map(|(p, _, _)| *p).min();
                    if self.lps.iter().all(|lp| lp.declined) {
                        return Some(EndReason::NoQuotes);
                    }
                }
            },
            Phase::Locked { lock, refresh } if refresh.as_ref().is_some_and(|r| r.poll == poll) => {
                let lock = *lock;
                // Only answers that arrived during this refresh are fresh;
                // the old lock's own quote is never among them.
                let fresh = refresh.take().and_then(|r| r.best);
                if let Some(fresh) = fresh {
                    if client_valid_until(now, fresh.valid_until_ms, self.params.validity_buffer_ms)
                        .is_some()
                    {
                        self.phase = Phase::Locked {
                            lock: fresh,
                            refresh: None,
                        };
                        self.emit_locked(now, fresh, Some(lock.lp), LockReason::Refresh, out);
                        self.offer(now, fresh, QuoteReason::Refresh, out);
                    }
                }
            }
            _ => {}
        }
        None
    }

    /// Lets time pass to `now`: expires the live client quote once its
    /// validity is over, and starts a new race with any fresh answer a
    /// refresh already holds.
    pub fn on_time(&mut self, now: StreamMs, out: &mut Vec<RfqEvent>) {
        let Some(live) = self.live.as_ref() else {
            return;
        };
        if live.client_valid_until_ms > now {
            return;
        }
        let expired_lp = live.candidate.lp;
        self.live = None;
        out.push(self.event(
            now,
            EventKind::LockExpired(LockExpired {
                lp: self.lps[expired_lp].name.clone(),
            }),
        ));
        let fresh = match std::mem::replace(
            &mut self.phase,
            Phase::Racing {
                best: None,
                settle_on: None,
            },
        ) {
            Phase::Locked { refresh, .. } => refresh.and_then(|r| r.best),
            Phase::Racing { .. } => None,
        };
        // Fresh answers from polls still out settle the new race.
        let settle_on = self.outstanding.iter().map(|(p, _, _)| *p).min();
        self.phase = Phase::Racing {
            best: None,
            settle_on,
        };
        self.race_reason = QuoteReason::Refresh;
        if let Some(fresh) = fresh {
            self.consider(now, fresh, out);
        }
    }

    /// The summary for the `ended` event, with the client quote live at
    /// `now` (if any).
    pub fn finish(&self, now: StreamMs, reason: EndReason) -> Ended {
        let live = self
            .live
            .as_ref()
            .filter(|live| live.client_valid_until_ms > now);
        Ended {
            reason,
            improvements: self.improvements,
            quote_id: live.map(|live| live.quote_id.clone()),
            lp: live.map(|live| self.lps[live.candidate.lp].name.clone()),
            client_price: live.map(|live| live.client_price),
        }
    }
}

fn priced_amount(spec: &RfqSpec) -> Decimal {
    spec.pair.format_amount(spec.amount)
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
        };
        let spec = RfqSpec {
            side: Side::Buy,
            amount: dec!(1),
            pair: "BTCUSDT".parse().unwrap(),
        };
        Engine::new(Arc::from("R-1"), spec, names, params, StreamClock::start())
    }

    #[test]
    fn each_request_times_out_at_its_own_deadline_and_a_late_answer_is_dropped() {
        let mut engine = engine(2);
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
        engine.on_answer(1_000, 0, first.request_id, Answer::TimedOut, &mut out);
        engine.on_answer(1_000, 1, dispatch[1].request_id, Answer::TimedOut, &mut out);
        assert!(engine.all_polls_complete());
        // Asked again; the first request's late result must not count.
        engine.begin_poll(1_000, &mut dispatch, &mut out);
        out.clear();
        let late = Answer::Failed(LpError::Unavailable("late".into()));
        assert_eq!(
            engine.on_answer(1_100, 0, first.request_id, late, &mut out),
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
            lp: engine.lps[dispatch.lp].name.clone(),
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
        let (mut dispatch, mut out) = (Vec::new(), Vec::new());
        engine.begin_poll(0, &mut dispatch, &mut out);
        let [a, b, c] = [dispatch[0], dispatch[1], dispatch[2]];
        engine.on_answer(
            100,
            1,
            b.request_id,
            quote(&engine, &b, dec!(100010), 10_100),
            &mut out,
        );
        engine.on_answer(
            150,
            0,
            a.request_id,
            quote(&engine, &a, dec!(100000), 10_150),
            &mut out,
        );
        engine.on_answer(
            200,
            2,
            c.request_id,
            quote(&engine, &c, dec!(100000), 10_200),
            &mut out,
        );
        assert_eq!(
            kinds(&out),
            [
                "lp_quote",
                "client LP2 first",
                "lp_quote",
                "client LP1 best_so_far",
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
        let (mut dispatch, mut out) = (Vec::new(), Vec::new());
        engine.begin_poll(0, &mut dispatch, &mut out);
        let [a, b] = [dispatch[0], dispatch[1]];
        engine.on_answer(
            100,
            0,
            a.request_id,
            quote(&engine, &a, dec!(100000), 5_100),
            &mut out,
        );
        engine.on_answer(
            100,
            1,
            b.request_id,
            quote(&engine, &b, dec!(100005), 10_100),
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
            &mut out,
        );
        engine.on_answer(
            1_750,
            1,
            b.request_id,
            quote(&engine, &b, dec!(99995), 11_750),
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
    fn an_unrefreshed_lock_expires_and_the_next_fresh_answer_is_offered() {
        let mut engine = engine(1);
        let (mut dispatch, mut out) = (Vec::new(), Vec::new());
        engine.begin_poll(0, &mut dispatch, &mut out);
        let a = dispatch[0];
        engine.on_answer(
            100,
            0,
            a.request_id,
            quote(&engine, &a, dec!(100000), 3_100),
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
            &mut out,
        );
        assert_eq!(
            kinds(&out),
            ["lp_quote", "client LP1 refresh", "locked LP1 BestOfPoll"]
        );
    }
}
