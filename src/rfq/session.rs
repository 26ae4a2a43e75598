//! The RFQ session: one tokio task per RFQ that drives the [`Engine`] with
//! real (or paused) time. It sends each poll's requests concurrently, all
//! polled inside this one task (no task per request), each with its own
//! deadline (kept by the engine, watched by one timer here, which drops
//! the call when it passes), hands each answer to the engine the moment it
//! arrives, and forwards the engine's events, in order, to one [`Outlet`].
//! It makes no decisions of its own.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{AbortHandle, AbortRegistration, Abortable, Aborted};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use tokio::sync::mpsc;

use tokio::task::JoinHandle;

use crate::clock::StreamClock;
use crate::clock::StreamMs;
use crate::lp::isolated::lp_scope;
use crate::lp::{LpOrder, OrderAnswer};
use crate::lp::{LpRequest, SharedLp};
use crate::rfq::engine::{Answer, Dispatch, Engine, EngineParams, MedianScratch, OrderResult};
use crate::rfq::event::{EndReason, Ended, EventKind, RfqEvent};
use crate::rfq::execution::OrderPlan;
use crate::rfq::inbox::Inbox;
use crate::rfq::outlet::Outlet;
use crate::rfq::probe::{NoProbe, StreamProbe};
use crate::rfq::spec::RfqSpec;

/// What the operator (or an integration) can tell a running stream. On
/// the wire: `{"command":"stop"}`, `{"command":"accept","quote_id":"Q…"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum StreamCommand {
    /// End the stream now; its `ended` event says `interrupted`. An order
    /// already out is waited for (its outcome must be recorded) first.
    Stop,
    /// The client accepts client quote `quote_id` (`None`: whichever is
    /// live at that moment): the desk executes it with the LP behind it.
    Accept { quote_id: Option<Arc<str>> },
    /// The client accepts the client quote of side `side` (`quote_id`, or
    /// whichever is live on that side): how a two-way request is
    /// accepted, since the operator must say which side the client took.
    /// On a one-sided stream it is [`StreamCommand::Accept`] when `side`
    /// is the request's and refused (`not_filled`) when it is not. On the
    /// wire: `{"command":"accept_side","side":"buy","quote_id":…}`.
    AcceptSide {
        side: crate::market::Side,
        #[serde(default)]
        quote_id: Option<Arc<str>>,
    },
    /// The operator vouches for the best unverified LP price (a pair with
    /// a single LP and no band or reference): it is offered, and the
    /// release is recorded (`released`). On the wire:
    /// `{"command":"release_unverified"}`. A two-way stream takes only
    /// [`StreamCommand::ReleaseUnverifiedSide`]: a release of both sides
    /// would offer a price on a side the operator never saw.
    ReleaseUnverified,
    /// The operator vouches for side `side`'s best unverified LP price
    /// (`buy`: the offer, at which the client buys; `sell`: the bid): how
    /// a two-way request's price is released, one side at a time. On a
    /// one-sided stream it is [`StreamCommand::ReleaseUnverified`] when
    /// `side` is the request's and releases nothing when it is not. On the
    /// wire: `{"command":"release_unverified_side","side":"sell"}`.
    ReleaseUnverifiedSide { side: crate::market::Side },
}

/// Everything one stream needs.
#[derive(Clone)]
pub struct Session {
    pub rfq_id: Arc<str>,
    pub spec: RfqSpec,
    pub lps: Vec<SharedLp>,
    pub params: EngineParams,
    /// How long the stream runs, in stream ms.
    pub duration_ms: u64,
    pub clock: StreamClock,
    /// The pair's price band from the venues file, if it gives one.
    pub band: Option<crate::market::PriceBand>,
    /// A recent price for the pair known good on this desk (its own
    /// corroborated locks, or a reference source), LP price units: a quote
    /// within MAX_DEVIATION_BPS of it is corroborated on arrival.
    pub reference: Option<rust_decimal::Decimal>,
    /// The desk's reference prices for the pair (its recent locks, the
    /// venues file's reference sources), read again at every poll: a
    /// quote within MAX_DEVIATION_BPS of the current one is corroborated.
    pub desk_reference: Option<crate::rfq::reference::PairReference>,
    /// Who the request is for.
    pub client: crate::rfq::client_id::ClientId,
    /// The desk server's operator who asked (`None` in a single process).
    pub operator: Option<Arc<str>>,
    /// How the request came in.
    pub channel: crate::rfq::client_id::Channel,
}

impl Session {
    /// Runs the stream to its end and returns the `ended` summary. Ends at
    /// the duration, on a [`StreamCommand::Stop`] from `commands`
    /// (interrupted), or when every LP declines. Events go to `events` in
    /// order; a closed receiver only means nobody is listening any more,
    /// and a closed inbox that nobody will command it again.
    pub fn run(
        self,
        events: mpsc::Sender<RfqEvent>,
        commands: Inbox<StreamCommand>,
    ) -> impl Future<Output = Ended> + Send + 'static {
        self.run_into(events, Some(commands))
    }

    /// [`Session::run`] that stops when `shutdown` completes, for callers
    /// with a future rather than an inbox (tests, the benchmark).
    pub async fn run_until(
        self,
        events: mpsc::Sender<RfqEvent>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Ended {
        let (commands, inbox) = crate::rfq::inbox::channel(1);
        let stopper = tokio::spawn(async move {
            shutdown.await;
            let _ = commands.send(StreamCommand::Stop).await;
        });
        let ended = self.run(events, inbox).await;
        stopper.abort();
        ended
    }

    /// [`Session::run`] into any [`Outlet`], with an optional inbox (a
    /// stream nobody commands needs none).
    pub fn run_into<'a, O: Outlet + 'a>(
        self,
        outlet: O,
        commands: Option<Inbox<StreamCommand>>,
    ) -> impl Future<Output = Ended> + Send + 'a {
        self.run_probed(outlet, commands, NoProbe)
    }

    /// [`Session::run_into`] with a measurement riding along: `probe` is
    /// told how each LP answer goes through the session (see
    /// [`StreamProbe`]; the load bench's timings). It only observes: the
    /// stream runs exactly as it would without it.
    ///
    /// Not an `async fn`: the stream's state is built here, so that the
    /// future holds it once (an `async fn` would also keep this call's
    /// arguments in it for its whole life).
    pub(crate) fn run_probed<'a, O: Outlet + 'a, P: StreamProbe + 'a>(
        self,
        outlet: O,
        commands: Option<Inbox<StreamCommand>>,
        probe: P,
    ) -> impl Future<Output = Ended> + Send + 'a {
        let mut stream = Stream::new(self, outlet, commands, probe, ask);
        // The stream is used in place: an `async fn` taking it by value
        // would hold a second copy of it.
        async move { stream.run().await }
    }

    /// Runs the stream as one side of a two-way request
    /// (`rfq::two_way`): as [`Session::run_into`], with client quote ids
    /// (and so order ids) stemmed from `quote_stem` rather than the RFQ
    /// id, so that the two sides never issue the same id.
    pub(crate) fn run_as_side<'a, O: Outlet + 'a>(
        self,
        outlet: O,
        commands: Inbox<StreamCommand>,
        quote_stem: Arc<str>,
    ) -> impl Future<Output = Ended> + Send + 'a {
        let mut stream = Stream::new(self, outlet, Some(commands), NoProbe, ask);
        stream.engine.set_quote_stem(quote_stem);
        async move { stream.run().await }
    }
}

/// What one running stream keeps between its awaits, in one place. The
/// session's future is this struct plus the one await it is at, so it stays
/// small (thousands of streams run at once, each its own task). The parts
/// that are rarely used (an order, the inbox) take little room until used.
struct Stream<O, P, A> {
    engine: Engine,
    lps: Vec<SharedLp>,
    duration_ms: StreamMs,
    outlet: O,
    /// Told how each answer goes through ([`NoProbe`] in the product).
    probe: P,
    /// The engine's events not yet handed on: one answer's at a time (a
    /// poll's are handed on answer by answer), in a buffer borrowed from
    /// the thread and given back once they are (see `SPARE_OUT`).
    out: Vec<RfqEvent>,
    /// The LP requests in flight, polled right here in the session's task
    /// (no task of their own: see [`ask`]).
    in_flight: FuturesUnordered<A>,
    /// Makes an LP request future ([`ask`]); a field so that the struct
    /// can name that future's type.
    ask: fn(SharedLp, usize, LpRequest, AbortRegistration) -> A,
    /// Per LP: the request in flight and how to drop it at its deadline.
    aborts: Vec<Option<(u64, AbortHandle)>>,
    /// The order out for an accepted quote (at most one at a time): its id
    /// and its task.
    order: Option<(Arc<str>, JoinHandle<OrderAnswer>)>,
    inbox: Option<Inbox<StreamCommand>>,
    /// Asked to end (stop, or the duration) while an order was out: the
    /// stream ends as soon as the order's outcome is known.
    ending: Option<EndReason>,
    /// When the next poll is due (with a poll interval).
    next_poll_at: StreamMs,
    /// The desk's reference for the pair, given to the engine afresh at
    /// every poll (boxed: thousands of streams each keep their future).
    desk_reference: Option<Box<crate::rfq::reference::PairReference>>,
}

/// How often a stream that cannot be recorded looks whether the blotter
/// writes again, in stream ms.
const WITHHELD_RECHECK_MS: StreamMs = 250;

/// An LP answer as its request future yields it: the LP's index, the
/// request's id and the answer. A probe learns when it was ready right
/// after the poll that yields it ([`StreamProbe::answer_yielded`]).
type Arrived = (usize, u64, Answer);

/// What to do once the stream's state has been judged at a moment.
enum Next {
    /// The stream is over, for this reason.
    End(EndReason),
    /// Something changed (an order timed out): judge again.
    Again,
    /// Carry on: answers, polls, waits.
    Run,
}

impl<O: Outlet, P: StreamProbe, A: Future<Output = Arrived> + Send> Stream<O, P, A> {
    fn new(
        session: Session,
        outlet: O,
        inbox: Option<Inbox<StreamCommand>>,
        probe: P,
        ask: fn(SharedLp, usize, LpRequest, AbortRegistration) -> A,
    ) -> Self {
        let Session {
            rfq_id,
            spec,
            lps,
            params,
            duration_ms,
            clock,
            band,
            reference,
            desk_reference,
            client,
            operator,
            channel,
        } = session;
        let names = lps.iter().map(|lp| lp.shared_name()).collect();
        let mut engine = Engine::new(rfq_id, spec, names, params, clock);
        let timeouts: Vec<_> = lps
            .iter()
            .map(|lp| (lp.timeout_ms(), lp.order_timeout_ms()))
            .collect();
        engine.set_lp_timeouts(&timeouts);
        let simulated: Vec<bool> = lps.iter().map(|lp| lp.simulated()).collect();
        engine.set_simulated(&simulated);
        let client_order_ids: Vec<_> = lps.iter().map(|lp| lp.client_order_ids()).collect();
        engine.set_client_order_ids(&client_order_ids);
        engine.set_band(band);
        engine.set_reference(reference);
        engine.set_client(client);
        engine.set_operator(operator);
        engine.set_channel(channel);
        Stream {
            engine,
            aborts: vec![None; lps.len()],
            lps,
            duration_ms,
            outlet,
            probe,
            // Borrowed from the thread when needed (`borrow_out`).
            out: Vec::new(),
            in_flight: FuturesUnordered::new(),
            ask,
            order: None,
            inbox,
            ending: None,
            next_poll_at: 0,
            desk_reference: desk_reference.map(Box::new),
        }
    }

    fn now(&self) -> StreamMs {
        self.engine.clock().now_ms()
    }

    // `loop` + `let … else` rather than `while let` where the body
    // awaits: see `poll`.
    #[allow(clippy::while_let_loop)]
    async fn run(&mut self) -> Ended {
        // Room first, as before every poll: thousands of streams starting
        // at once would otherwise each hold their `started` event (and its
        // copy for the blotter) in a wait for room.
        self.wait_for_room().await;
        let started = self.engine.started(self.duration_ms);
        self.outlet.send(started).await;
        let clock = self.engine.clock();
        let wake = tokio::time::sleep_until(clock.instant_at(0));
        tokio::pin!(wake);
        let mut wake_at = 0;

        let reason = if self.engine.has_no_lps() {
            EndReason::NoQuotes
        } else {
            'stream: loop {
                let now = self.now();
                match self.judge(now) {
                    Next::End(reason) => break reason,
                    Next::Again => continue,
                    Next::Run => {}
                }
                // Every request has its own deadline, kept by the engine and
                // watched by this one timer: no timer per request.
                if self
                    .engine
                    .next_timeout()
                    .is_some_and(|deadline| deadline <= now)
                {
                    // Answers already in (they came while the session
                    // waited for its outlet) are taken first: only a
                    // request with no answer times out, so a slow consumer
                    // slows the stream without blaming its LPs.
                    let mut drained = false;
                    loop {
                        let Some(arrived) = self.answer_in() else {
                            break;
                        };
                        drained = true;
                        let ready = self.probe.answer_yielded();
                        if let Some(end) = self.take_answer(now, arrived, ready, false) {
                            break 'stream end;
                        }
                        // Handed on answer by answer, so that `out` stays
                        // a few events long (it keeps its capacity, in
                        // each of thousands of sessions).
                        self.hand_on().await;
                    }
                    if drained {
                        // Handing those on took time: judge again at the
                        // time it is now.
                        continue;
                    }
                    if let Some(end) = self.time_out_requests(now) {
                        break end;
                    }
                }
                let interval = self.engine.poll_interval_ms();
                // A stream that cannot be recorded asks its LPs nothing:
                // it could offer none of their prices.
                let polling =
                    !self.engine.accepted() && self.ending.is_none() && !self.engine.withheld();
                // This turn sent a poll whose every answer was in at once.
                let mut answered_at_once = false;
                if polling
                    && now >= self.next_poll_at
                    && (interval > 0 || self.engine.all_polls_complete())
                {
                    // New work only once the outlet can take it: a slow
                    // consumer slows the polls instead of leaving answers
                    // (and their memory) waiting in the session. After a
                    // wait, everything is judged again at the new time.
                    if self.wait_for_room().await {
                        continue;
                    }
                    match self.poll(now).await {
                        Err(end) => break end,
                        Ok(at_once) => answered_at_once = at_once,
                    }
                }
                self.hand_on().await;
                if answered_at_once && interval == 0 {
                    // Poll again at once (no interval); the task still
                    // yields to others whenever its budget is spent.
                    tokio::task::consume_budget().await;
                    continue;
                }

                let next_wake = self.next_wake(polling);
                if next_wake != wake_at {
                    wake.as_mut().reset(clock.instant_at(next_wake));
                    wake_at = next_wake;
                }

                tokio::select! {
                    biased;
                    command = next_command(&mut self.inbox), if self.inbox.is_some() => match command {
                        Some(StreamCommand::Stop) => {
                            if !self.engine.order_pending() {
                                break EndReason::Interrupted;
                            }
                            self.ending.get_or_insert(EndReason::Interrupted);
                        }
                        Some(StreamCommand::AcceptSide { side, quote_id }) if side != self.engine.spec().side => {
                            self.borrow_out();
                            let now = self.now();
                            let asked = self.engine.spec().side;
                            let reason = format!("the request is one-sided ({asked}): it has no {side} side to accept");
                            self.engine.refuse(now, quote_id.as_deref(), reason, &mut self.out);
                            self.hand_on().await;
                        }
                        Some(StreamCommand::Accept { quote_id } | StreamCommand::AcceptSide { quote_id, .. }) => {
                            self.borrow_out();
                            let now = self.now();
                            // Expiry first: an expired quote cannot be accepted.
                            self.engine.on_time(now, &mut self.out);
                            // Asked again here: the record may have failed
                            // since the stream was last judged, and no order
                            // goes out that the desk cannot record.
                            let plan = match self.outlet.unrecordable() {
                                Some(failure) => {
                                    self.engine.withhold(now, &failure, &mut self.out);
                                    let reason = format!("the blotter cannot record: {failure}");
                                    self.engine.refuse(now, quote_id.as_deref(), reason, &mut self.out);
                                    None
                                }
                                None => self.engine.accept(now, quote_id.as_deref(), &mut self.out),
                            };
                            self.hand_on().await;
                            if let Some(plan) = plan {
                                self.send_order_if_recorded(&plan);
                            }
                        }
                        Some(StreamCommand::ReleaseUnverifiedSide { side }) if side != self.engine.spec().side => {
                            let asked = self.engine.spec().side;
                            tracing::info!(rfq = %self.engine.rfq_id(), "the request is one-sided ({asked}): no {side} side to release");
                        }
                        Some(StreamCommand::ReleaseUnverified | StreamCommand::ReleaseUnverifiedSide { .. }) => {
                            self.borrow_out();
                            let now = self.now();
                            self.engine.on_time(now, &mut self.out);
                            MEDIAN_SCRATCH.with_borrow_mut(|median| {
                                self.engine.release_unverified(now, median, &mut self.out);
                            });
                            self.hand_on().await;
                        }
                        None => self.inbox = None,
                    },
                    joined = order_done(&mut self.order), if self.order.is_some() => {
                        let Some((order_id, _)) = self.order.take() else {
                            continue;
                        };
                        self.borrow_out();
                        let now = self.now();
                        let result = match joined {
                            Ok(answer) => OrderResult::Answered(answer),
                            Err(error) if error.is_panic() => {
                                OrderResult::Panicked(panic_message(error.into_panic()))
                            }
                            // Only aborted at the end of the stream.
                            Err(_) => continue,
                        };
                        // The answer has already moved its LP's fade
                        // estimate: seen before a fallback is chosen.
                        note_all_health(&mut self.engine, &self.lps, now, &mut self.out);
                        let plan = self.engine.on_order_answer(now, &order_id, result, &mut self.out);
                        self.hand_on().await;
                        if let Some(plan) = plan {
                            self.send_order_if_recorded(&plan);
                        }
                    }
                    Some(arrived) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                        // At once: what the probe learns belongs to this answer.
                        let ready = self.probe.answer_yielded();
                        let now = self.now();
                        if now >= self.duration_ms && !self.engine.order_pending() {
                            break EndReason::Duration;
                        }
                        let taken = self.probe.moment();
                        self.borrow_out();
                        // Expiry first: an answer is judged against the
                        // lock as it stands at this very instant.
                        self.engine.on_time(now, &mut self.out);
                        if let Some(end) = self.take_answer(now, arrived, ready, false) {
                            break end;
                        }
                        // Hand the answer's events on before anything else
                        // (such as starting the next poll) delays them. An
                        // outlet that cannot take them is the consumers'
                        // back-pressure: that wait is timed apart from the
                        // engine's work.
                        let waited = self.hand_on().await;
                        self.probe.engine_worked(taken, waited);
                        self.probe.output_waited(waited);
                    }
                    _ = &mut wake => {}
                }
            }
        };
        self.finish(reason).await
    }

    /// Judges the stream at `now`: is it over (an order's outcome, a stop,
    /// the duration), has an order run out of time, has the client quote
    /// expired.
    fn judge(&mut self, now: StreamMs) -> Next {
        self.borrow_out();
        let engine = &mut self.engine;
        if engine.outcome().is_some() {
            // Stopped (or out of time) while the order was out: that is
            // still why the stream ended; the outcome says how.
            return Next::End(self.ending.unwrap_or(EndReason::Accepted));
        }
        if self.outlet.stop_requested() && self.ending.is_none() {
            if !engine.order_pending() {
                return Next::End(EndReason::Interrupted);
            }
            self.ending = Some(EndReason::Interrupted);
        }
        if now >= self.duration_ms && self.ending.is_none() {
            if !engine.order_pending() {
                return Next::End(EndReason::Duration);
            }
            self.ending = Some(EndReason::Duration);
        }
        if let Some(order_id) = engine.order_timed_out(now) {
            // Dropped: its outcome is unknown from now on, whatever it
            // says later.
            if let Some((_, task)) = self.order.take() {
                task.abort();
            }
            engine.on_order_answer(now, &order_id, OrderResult::TimedOut, &mut self.out);
            return Next::Again;
        }
        engine.on_time(now, &mut self.out);
        // Every turn, so that a stream stops offering the moment its record
        // fails (a flag read while all is well).
        match self.outlet.unrecordable() {
            Some(failure) => engine.withhold(now, &failure, &mut self.out),
            None => engine.resume(now),
        }
        Next::Run
    }

    /// Answers the requests whose deadline has passed at `now` as timed
    /// out, dropping their calls. Returns why the stream ends, if it does.
    fn time_out_requests(&mut self, now: StreamMs) -> Option<EndReason> {
        self.borrow_out();
        let mut end = None;
        // Rare (an LP that did not answer in time): a buffer of its own.
        let mut expired = Vec::new();
        self.engine.timed_out(now, &mut expired);
        for (lp, request_id) in expired {
            // Dropped, not left to finish: an LP that never answers must
            // not hold memory past its deadline.
            if let Some((_, abort)) = self.aborts[lp].take_if(|(id, _)| *id == request_id) {
                abort.abort();
            }
            let answered = MEDIAN_SCRATCH.with_borrow_mut(|median| {
                self.engine
                    .on_answer(now, lp, request_id, Answer::TimedOut, median, &mut self.out)
            });
            end = end.or(answered);
        }
        end
    }

    /// Starts a poll at `now` (its LPs' health first), sends its requests
    /// and takes the answers that are ready at once, handing each one's
    /// events on before the next. `Ok(true)` when it sent requests and
    /// every answer was in at once; `Err` when the stream ends.
    // `loop` + `let … else` rather than `while let` where the body
    // awaits: see `poll`.
    #[allow(clippy::while_let_loop)]
    async fn poll(&mut self, now: StreamMs) -> Result<bool, EndReason> {
        self.borrow_out();
        let interval = self.engine.poll_interval_ms();
        // A poll is stamped with its tick, not with the moment the task got
        // round to it: a replay then sends the same requests at the same
        // stream times, however loaded the machine (a tick missed entirely
        // is stamped now).
        let poll_at = if interval > 0 && now - self.next_poll_at < interval {
            self.next_poll_at
        } else {
            now
        };
        // The LPs' shared health first (another stream may have opened a
        // breaker or learned of a fade): shown on change.
        note_all_health(&mut self.engine, &self.lps, now, &mut self.out);
        if let Some(desk_reference) = &self.desk_reference {
            let wall_ms = self.engine.clock().wall_at(now).timestamp_millis();
            self.engine
                .set_desk_reference(desk_reference.current(wall_ms));
        }
        let asked = DISPATCH.with_borrow_mut(|dispatch| {
            let poll = self.engine.begin_poll(poll_at, dispatch, &mut self.out);
            let spec = *self.engine.spec();
            for request in dispatch.iter() {
                let lp_request = LpRequest {
                    request_id: request.request_id,
                    rfq_id: self.engine.rfq_id().clone(),
                    side: spec.side,
                    pair: spec.pair,
                    amount: spec.amount,
                    sent_ms: poll_at,
                    clock: self.engine.clock(),
                    fixed: spec.fixed,
                };
                let (abort, registration) = AbortHandle::new_pair();
                self.aborts[request.lp] = Some((request.request_id, abort));
                let lp = self.lps[request.lp].clone();
                self.in_flight
                    .push((self.ask)(lp, request.lp, lp_request, registration));
            }
            tracing::trace!(rfq = %self.engine.rfq_id(), poll, asked = dispatch.len(), "poll started");
            dispatch.len()
        });
        // A request is only sent when its future is first polled, and
        // none may wait unsent (its deadline running) behind a slow outlet.
        // Answers ready at once are taken one by one, each one's events
        // handed on before the next is taken, so that `out` holds one
        // answer's events, not the whole poll's (it keeps its capacity, in
        // each of thousands of sessions). Should the outlet make the
        // session wait, every request not yet polled is polled first, and
        // the answers that brings are kept in `early` (rare: only then).
        let mut early = Vec::new();
        // (`let … else` rather than `while let` / `for` here and below:
        // those keep the matched value's slot across the awaits inside,
        // in every stream's future.)
        loop {
            let Some(arrived) = self.answer_in() else {
                break;
            };
            let ready = self.probe.answer_yielded();
            if let Some(end) = self.take_answer(now, arrived, ready, true) {
                return Err(end);
            }
            let mut waited = false;
            self.probe.handing_on(&self.out);
            let mut events = self.out.drain(..);
            loop {
                let Some(event) = events.next() else {
                    break;
                };
                let mut send = std::pin::pin!(self.outlet.send(event));
                if futures::poll!(send.as_mut()).is_pending() {
                    if !waited {
                        waited = true;
                        while let Some(Some(arrived)) = self.in_flight.next().now_or_never() {
                            // With what the probe learns of it, at once.
                            early.push((arrived, self.probe.answer_yielded()));
                        }
                    }
                    send.await;
                }
            }
            if waited {
                break;
            }
        }
        let mut early = early.into_iter();
        loop {
            let Some((arrived, ready)) = early.next() else {
                break;
            };
            if let Some(end) = self.take_answer(now, arrived, ready, true) {
                return Err(end);
            }
            self.hand_on().await;
        }
        // Keep the cadence, skipping ticks missed while busy; with no
        // interval, poll again once this poll is done.
        self.next_poll_at = match (now - self.next_poll_at).checked_div(interval) {
            Some(behind) => self.next_poll_at + (behind + 1) * interval,
            None => now,
        };
        Ok(asked > 0 && self.in_flight.is_empty())
    }

    /// One LP's answer into the engine. Its request is no longer in flight
    /// (a timed-out request's late result must not forget the abort handle
    /// of the request that replaced it, so only a matching id is taken).
    /// An answer that reached the LP (not held back by its health) may have
    /// changed that LP's shared health (a breaker opened, a pause asked
    /// for): that shows at once. The probe is told that the answer was
    /// acted on and, for one taken with its poll's (`with_poll`, its
    /// events handed on with the rest), the engine's time on it.
    fn take_answer(
        &mut self,
        now: StreamMs,
        (lp, request_id, answer): Arrived,
        ready: P::Ready,
        with_poll: bool,
    ) -> Option<EndReason> {
        self.borrow_out();
        let taken = with_poll.then(|| self.probe.moment());
        self.aborts[lp].take_if(|(id, _)| *id == request_id);
        let sent = !matches!(answer, Answer::Failed(crate::lp::LpError::NotSent(_)));
        let end = MEDIAN_SCRATCH.with_borrow_mut(|median| {
            self.engine
                .on_answer(now, lp, request_id, answer, median, &mut self.out)
        });
        if let Some(view) = self.lps[lp].health().filter(|_| sent) {
            self.engine.note_health(now, lp, &view, &mut self.out);
        }
        self.probe.answer_acted(ready);
        if let Some(taken) = taken {
            self.probe.engine_worked(taken, Duration::ZERO);
        }
        end
    }

    /// An LP answer that is in already, if any (polling the requests in
    /// flight once, which also sends those not yet sent).
    fn answer_in(&mut self) -> Option<Arrived> {
        self.in_flight.next().now_or_never().flatten()
    }

    /// Waits until the outlet has room; true when it had to wait.
    async fn wait_for_room(&mut self) -> bool {
        let mut ready = std::pin::pin!(self.outlet.ready());
        if futures::poll!(ready.as_mut()).is_ready() {
            return false;
        }
        ready.await;
        true
    }

    /// Hands the engine's events on, in order, and returns how long the
    /// outlet kept the session waiting for room (the consumers'
    /// back-pressure), as the probe reads it (zero with none).
    // `loop` + `let … else` rather than `while let` where the body
    // awaits: see `poll`.
    #[allow(clippy::while_let_loop)]
    async fn hand_on(&mut self) -> Duration {
        let mut waited = Duration::ZERO;
        self.probe.handing_on(&self.out);
        let mut events = self.out.drain(..);
        loop {
            let Some(event) = events.next() else {
                break;
            };
            let mut send = std::pin::pin!(self.outlet.send(event));
            if futures::poll!(send.as_mut()).is_pending() {
                let blocked = self.probe.moment();
                send.await;
                waited += self.probe.since(blocked);
            }
        }
        drop(events);
        self.return_out();
        waited
    }

    /// Gives `out` room without allocating when it has none: the thread's
    /// spare buffer. Called before the engine is given `out`.
    fn borrow_out(&mut self) {
        if self.out.capacity() == 0 {
            self.out = SPARE_OUT.take();
        }
    }

    /// Gives `out`'s buffer (empty: everything was handed on) back to the
    /// thread, so that a stream between turns keeps none.
    fn return_out(&mut self) {
        debug_assert!(self.out.is_empty());
        if self.out.capacity() > 0 {
            let buffer = std::mem::take(&mut self.out);
            // A spare is already there (another stream gave one back while
            // this one held its own): one is enough.
            drop(SPARE_OUT.replace(buffer));
        }
    }

    /// When the session must look again with nothing arriving: the
    /// duration, an order's or a request's deadline, the client quote's
    /// expiry, the next poll.
    fn next_wake(&self, polling: bool) -> StreamMs {
        let engine = &self.engine;
        // Past the duration only an order's deadline matters.
        let mut next_wake = if self.ending.is_some() {
            StreamMs::MAX
        } else {
            self.duration_ms
        };
        let deadlines = [
            engine.next_order_deadline(),
            engine.next_timeout(),
            engine.next_deadline(),
        ];
        for deadline in deadlines.into_iter().flatten() {
            next_wake = next_wake.min(deadline);
        }
        if engine.poll_interval_ms() > 0 && polling {
            next_wake = next_wake.min(self.next_poll_at);
        }
        if engine.withheld() {
            // Nothing arrives while withheld: look again soon for the
            // blotter writing again.
            next_wake = next_wake.min(self.now() + WITHHELD_RECHECK_MS);
        }
        next_wake
    }

    /// Sends the order `plan` says if its `order_sent`, just handed on, is
    /// on the record (a recording outlet commits it before handing it on):
    /// an order that cannot be recorded is not sent, and the stream ends
    /// not filled saying why (handed on at its next turn, with its end).
    fn send_order_if_recorded(&mut self, plan: &OrderPlan) {
        let Some(failure) = self.outlet.take_unrecorded_order() else {
            self.send_order(plan);
            return;
        };
        tracing::error!(rfq = %self.engine.rfq_id(), order = %plan.order_id, %failure, "order not sent: its record cannot be committed");
        self.borrow_out();
        let now = self.now();
        let result = OrderResult::NotSent(failure);
        self.engine
            .on_order_answer(now, &plan.order_id, result, &mut self.out);
    }

    /// Sends the order `plan` says to its LP, in a task of its own: an
    /// order is rare, must run to its answer even while the session waits
    /// on its outlet, and a panic in it is reported as an unknown outcome.
    fn send_order(&mut self, plan: &OrderPlan) {
        let lp = self.lps[plan.lp].clone();
        let spec = self.engine.spec();
        let order = LpOrder {
            order_id: plan.order_id.clone(),
            rfq_id: self.engine.rfq_id().clone(),
            side: spec.side,
            pair: spec.pair,
            amount: spec.amount,
            price: plan.price,
            venue_ref: plan.venue_ref.clone(),
            valid_until_ms: plan.valid_until_ms,
            clock: self.engine.clock(),
            fixed: spec.fixed,
        };
        let task = tokio::spawn(lp_scope(async move { lp.execute(&order).await }));
        self.order = Some((plan.order_id.clone(), task));
    }

    /// Drops whatever is still out and hands on the stream's last events
    /// and its `ended` summary, which it returns.
    async fn finish(&mut self, reason: EndReason) -> Ended {
        for (_, abort) in self.aborts.iter().flatten() {
            abort.abort();
        }
        self.in_flight.clear();
        if let Some((_, task)) = self.order.take() {
            task.abort();
        }
        // Waiting for an order may run past the duration; otherwise the
        // stream ends at its duration at the latest.
        let now = if self.engine.accepted() {
            self.now()
        } else {
            self.now().min(self.duration_ms)
        };
        let summary = self.engine.finish(now, reason);
        self.hand_on().await;
        let ended = self.engine.event(now, EventKind::Ended(summary.clone()));
        self.outlet.send(ended).await;
        summary
    }
}

thread_local! {
    /// The event buffer a stream borrows while the engine produces events
    /// and gives back once they are handed on ([`Stream::borrow_out`]):
    /// a stream between turns (thousands of them, at any moment) then
    /// keeps no buffer of its own. One that must wait for its outlet keeps
    /// the one it has until its events are handed on.
    static SPARE_OUT: std::cell::Cell<Vec<RfqEvent>> = const { std::cell::Cell::new(Vec::new()) };

    /// The requests of the poll being started: filled and used at once,
    /// never across an await, so one buffer serves every session on this
    /// thread (instead of one kept in each of thousands).
    static DISPATCH: std::cell::RefCell<Vec<Dispatch>> = const { std::cell::RefCell::new(Vec::new()) };

    /// The buffers the engine judges a price by the median in, lent for
    /// one answer and never across an await: one set serves every
    /// session on this thread, so an answer allocates nothing and a
    /// stream keeps no buffers of its own.
    static MEDIAN_SCRATCH: std::cell::RefCell<MedianScratch> = const { std::cell::RefCell::new(MedianScratch::new()) };
}

/// The order's answer once its task is done; never, with no order out.
async fn order_done(
    order: &mut Option<(Arc<str>, JoinHandle<OrderAnswer>)>,
) -> Result<OrderAnswer, tokio::task::JoinError> {
    match order {
        Some((_, task)) => task.await,
        None => std::future::pending().await,
    }
}

/// Every LP's shared health as it is now, into the engine (shown on change).
fn note_all_health(engine: &mut Engine, lps: &[SharedLp], now: StreamMs, out: &mut Vec<RfqEvent>) {
    for (index, lp) in lps.iter().enumerate() {
        if let Some(view) = lp.health() {
            engine.note_health(now, index, &view, out);
        }
    }
}

/// The next command, or `None` once the inbox is closed.
async fn next_command(inbox: &mut Option<Inbox<StreamCommand>>) -> Option<StreamCommand> {
    match inbox {
        Some(inbox) => inbox.recv().await,
        None => std::future::pending().await,
    }
}

/// One LP request as a future the session polls itself, with no task of
/// its own (a task per request cost ~40 % of the engine's CPU under load).
/// What a task gave, this keeps: a panic in the adapter is caught here and
/// becomes that LP's `lp_error`; the engine's deadline drops the call
/// through `registration` (an LP that never answers holds nothing after
/// it); and an adapter that blocks its thread or spins is outside code the
/// registry puts on a thread of its own ([`crate::lp::isolated`]), so only
/// lp-rfq's own simulations run their code here.
fn ask(
    lp: SharedLp,
    index: usize,
    request: LpRequest,
    registration: AbortRegistration,
) -> impl Future<Output = Arrived> + Send {
    let request_id = request.request_id;
    let call = AssertUnwindSafe(async move { lp.quote(&request).await }).catch_unwind();
    let call = Abortable::new(lp_scope(call), registration);
    // A combinator, not an `async` block awaiting `call`: that would keep
    // the call twice (as the block's capture and as what it awaits), in
    // every request in flight.
    call.map(move |result| {
        let answer = match result {
            Ok(Ok(Ok(quote))) => Answer::Quote(quote),
            Ok(Ok(Err(error))) => Answer::Failed(error),
            Ok(Err(panic)) => Answer::Panicked(panic_message(panic)),
            // Only a timeout drops a call, and the engine has already
            // answered that request as timed out: this result is ignored.
            Err(Aborted) => Answer::TimedOut,
        };
        (index, request_id, answer)
    })
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "unknown panic".to_string()
    }
}

#[cfg(test)]
impl Session {
    /// A stream with no LPs at typical settings: the fixture the tests
    /// that bound a running stream's future size share (the recorder's,
    /// the fan-out's), so they measure the same stream.
    pub(crate) fn sized_for_tests() -> Session {
        use crate::market::{Bps, Side};
        use rust_decimal_macros::dec;
        Session {
            rfq_id: Arc::from("R-size"),
            spec: RfqSpec {
                side: Side::Buy,
                amount: dec!(1),
                pair: "BTCUSDT".parse().unwrap(),
                fixed: crate::market::Leg::Base,
            },
            lps: Vec::new(),
            params: EngineParams {
                markup: Bps::new(dec!(5)).unwrap(),
                threshold: Bps::new(dec!(1)).unwrap(),
                validity_buffer_ms: 2_000,
                poll_interval_ms: 500,
                lp_timeout_ms: 1_000,
                order_timeout_ms: 5_000,
                max_deviation: Bps::new(dec!(200)).unwrap(),
                fade_tolerance: Bps::new(dec!(2)).unwrap(),
            },
            duration_ms: 1_000,
            clock: StreamClock::start(),
            band: None,
            reference: None,
            desk_reference: None,
            client: crate::rfq::ClientId::house(),
            operator: None,
            channel: crate::rfq::Channel::Operator,
        }
    }
}
