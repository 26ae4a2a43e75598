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
use tokio::time::Instant;

use crate::clock::StreamClock;
use crate::clock::StreamMs;
use crate::lp::LpOrder;
use crate::lp::{LpRequest, SharedLp};
use crate::rfq::engine::{Answer, Dispatch, Engine, EngineParams, OrderResult, RfqSpec};
use crate::rfq::event::{EndReason, Ended, EventKind, RfqEvent};
use crate::rfq::execution::OrderPlan;
use crate::rfq::outlet::Outlet;
use crate::rfq::probe::{take_ready_mark, EngineProbe};

tokio::task_local! {
    /// Set while an LP adapter's code runs (see [`in_lp_task`]).
    static LP_TASK: ();
}

/// Runs `future` marked as LP adapter code (see [`in_lp_task`]).
pub(crate) fn lp_scope<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    LP_TASK.scope((), future)
}

/// True while an LP adapter's request is being polled on this thread: a
/// panic there is contained and reported as an `lp_error`, not a program
/// bug.
pub fn in_lp_task() -> bool {
    LP_TASK.try_with(|_| ()).is_ok()
}

/// What the operator (or an integration) can tell a running stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamCommand {
    /// End the stream now; its `ended` event says `interrupted`. An order
    /// already out is waited for (its outcome must be recorded) first.
    Stop,
    /// The client accepts client quote `quote_id` (`None`: whichever is
    /// live at that moment): the desk executes it with the LP behind it.
    Accept { quote_id: Option<Arc<str>> },
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
    pub band: Option<crate::rfq::sanity::PriceBand>,
}

impl Session {
    /// Runs the stream to its end and returns the `ended` summary. Ends at
    /// the duration, on a [`StreamCommand::Stop`] from `commands`
    /// (interrupted), or when every LP declines. Events go to `events` in
    /// order; a closed receiver only means nobody is listening any more,
    /// and a closed inbox that nobody will command it again.
    pub async fn run(
        self,
        events: mpsc::Sender<RfqEvent>,
        commands: mpsc::Receiver<StreamCommand>,
    ) -> Ended {
        self.run_probed(events, Some(commands), None).await
    }

    /// [`Session::run`] that stops when `shutdown` completes, for callers
    /// with a future rather than an inbox (tests, the benchmark).
    pub async fn run_until(
        self,
        events: mpsc::Sender<RfqEvent>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Ended {
        let (commands, inbox) = mpsc::channel(1);
        let stopper = tokio::spawn(async move {
            shutdown.await;
            let _ = commands.send(StreamCommand::Stop).await;
        });
        let ended = self.run(events, inbox).await;
        stopper.abort();
        ended
    }

    /// [`Session::run`] into any [`Outlet`], with an optional inbox (a
    /// stream nobody commands needs none), recording into `probe` how long
    /// each LP answer spends in the engine, from its arrival to its events
    /// being handed on (the benchmark's "added latency"), apart from that
    /// any wait for the outlet to take them, and for in-process LPs that
    /// mark it ([`crate::rfq::probe::answer_ready_at`]) the time from the answer being
    /// ready to the engine having acted on it.
    pub async fn run_probed(
        self,
        mut outlet: impl Outlet,
        commands: Option<mpsc::Receiver<StreamCommand>>,
        probe: Option<&EngineProbe>,
    ) -> Ended {
        let Session {
            rfq_id,
            spec,
            lps,
            params,
            duration_ms,
            clock,
            band,
        } = self;
        let names = lps.iter().map(|lp| lp.shared_name()).collect();
        let mut engine = Engine::new(rfq_id.clone(), spec, names, params, clock);
        let timeouts: Vec<_> = lps
            .iter()
            .map(|lp| (lp.timeout_ms(), lp.order_timeout_ms()))
            .collect();
        engine.set_lp_timeouts(&timeouts);
        engine.set_band(band);
        // Small: an answer rarely yields more than a quote, a lock and a price.
        let mut out = Vec::with_capacity(4);
        let mut dispatch: Vec<Dispatch> = Vec::with_capacity(lps.len());
        // The LP requests in flight, polled right here in the session's
        // task (no task of their own: see `ask`).
        let mut in_flight = FuturesUnordered::new();
        // Per LP: the request in flight and how to drop it at its deadline.
        let mut aborts: Vec<Option<(u64, AbortHandle)>> = vec![None; lps.len()];
        let mut timed_out: Vec<(usize, u64)> = Vec::new();
        // The order out for an accepted quote (at most one at a time).
        let mut orders = FuturesUnordered::new();
        let mut order_abort: Option<tokio::task::AbortHandle> = None;
        // Asked to end (stop, or the duration) while an order was out: the
        // stream ends as soon as the order's outcome is known.
        let mut ending: Option<EndReason> = None;
        let send_order = |plan: &OrderPlan| {
            let lp = lps[plan.lp].clone();
            let order = LpOrder {
                order_id: plan.order_id.clone(),
                rfq_id: rfq_id.clone(),
                side: spec.side,
                pair: spec.pair,
                amount: spec.amount,
                price: plan.price,
                venue_ref: plan.venue_ref.clone(),
                valid_until_ms: plan.valid_until_ms,
                clock,
            };
            // Its own task: an order is rare, must run to its answer even
            // while the session waits on its outlet, and a panic in it is
            // reported as an unknown outcome.
            let task = tokio::spawn(LP_TASK.scope((), async move { lp.execute(&order).await }));
            let abort = task.abort_handle();
            let order_id = plan.order_id.clone();
            (abort, async move { (order_id, task.await) })
        };

        let simulated = lps.iter().all(|lp| lp.simulated());
        outlet.send(engine.started(duration_ms, simulated)).await;
        let mut inbox = commands;
        let wake = tokio::time::sleep_until(clock.instant_at(0));
        tokio::pin!(wake);
        let mut wake_at = 0;
        let mut next_poll_at = 0;

        let reason = if engine.has_no_lps() {
            EndReason::NoQuotes
        } else {
            'stream: loop {
                let now = clock.now_ms();
                if engine.outcome().is_some() {
                    // Stopped (or out of time) while the order was out: that
                    // is still why the stream ended; the outcome says how.
                    break ending.unwrap_or(EndReason::Accepted);
                }
                if outlet.stop_requested() && ending.is_none() {
                    if !engine.order_pending() {
                        break EndReason::Interrupted;
                    }
                    ending = Some(EndReason::Interrupted);
                }
                if now >= duration_ms && ending.is_none() {
                    if !engine.order_pending() {
                        break EndReason::Duration;
                    }
                    ending = Some(EndReason::Duration);
                }
                if let Some(order_id) = engine.order_timed_out(now) {
                    if let Some(abort) = order_abort.take() {
                        abort.abort();
                    }
                    engine.on_order_answer(now, &order_id, OrderResult::TimedOut, &mut out);
                    continue;
                }
                engine.on_time(now, &mut out);
                // Every request has its own deadline, kept by the engine and
                // watched by this one timer: no timer per request.
                if engine
                    .next_timeout()
                    .is_some_and(|deadline| deadline <= now)
                {
                    // Answers already in (they came while the session
                    // waited for its outlet) are taken first: only a
                    // request with no answer times out, so a slow consumer
                    // slows the stream without blaming its LPs.
                    let mut drained = false;
                    while let Some(Some(arrived)) = in_flight.next().now_or_never() {
                        drained = true;
                        let ready = take_ready_mark();
                        let end =
                            take_answer(&mut engine, &lps, &mut aborts, now, arrived, &mut out);
                        note_acted(probe, ready, None);
                        if let Some(end) = end {
                            break 'stream end;
                        }
                        // Handed on answer by answer, so that `out` stays
                        // a few events long (it keeps its capacity, in
                        // each of thousands of sessions).
                        for event in out.drain(..) {
                            outlet.send(event).await;
                        }
                    }
                    if drained {
                        // Handing those on took time: judge again at the
                        // time it is now.
                        continue;
                    }
                    engine.timed_out(now, &mut timed_out);
                    let mut end = None;
                    for &(lp, request_id) in &timed_out {
                        // Dropped, not left to finish: an LP that never
                        // answers must not hold memory past its deadline.
                        if let Some((_, abort)) = aborts[lp].take_if(|(id, _)| *id == request_id) {
                            abort.abort();
                        }
                        end = end.or(engine.on_answer(
                            now,
                            lp,
                            request_id,
                            Answer::TimedOut,
                            &mut out,
                        ));
                    }
                    if let Some(end) = end {
                        break end;
                    }
                }
                let interval = params.poll_interval_ms;
                let polling = !engine.accepted() && ending.is_none();
                // This turn sent a poll whose every answer was in at once.
                let mut answered_at_once = false;
                if polling && now >= next_poll_at && (interval > 0 || engine.all_polls_complete()) {
                    // New work only once the outlet can take it: a slow
                    // consumer slows the polls instead of leaving answers
                    // (and their memory) waiting in the session. After a
                    // wait, everything is judged again at the new time.
                    let mut ready = std::pin::pin!(outlet.ready());
                    if futures::poll!(ready.as_mut()).is_pending() {
                        ready.await;
                        continue;
                    }
                    // A poll is stamped with its tick, not with the moment
                    // the task got round to it: a replay then sends the same
                    // requests at the same stream times, however loaded the
                    // machine (a tick missed entirely is stamped now).
                    let poll_at = if interval > 0 && now - next_poll_at < interval {
                        next_poll_at
                    } else {
                        now
                    };
                    // The LPs' shared health first (another stream may have
                    // opened a breaker or learned of a fade): shown on change.
                    note_all_health(&mut engine, &lps, now, &mut out);
                    let poll = engine.begin_poll(poll_at, &mut dispatch, &mut out);
                    for request in &dispatch {
                        let lp_request = LpRequest {
                            request_id: request.request_id,
                            rfq_id: rfq_id.clone(),
                            side: spec.side,
                            pair: spec.pair,
                            amount: spec.amount,
                            sent_ms: poll_at,
                            clock,
                        };
                        let (abort, registration) = AbortHandle::new_pair();
                        aborts[request.lp] = Some((request.request_id, abort));
                        in_flight.push(ask(
                            lps[request.lp].clone(),
                            request.lp,
                            lp_request,
                            registration,
                        ));
                    }
                    tracing::trace!(rfq = %rfq_id, poll, asked = dispatch.len(), "poll started");
                    answered_at_once = !dispatch.is_empty();
                    // A request is only sent when its future is first
                    // polled: poll every new one now, so that none waits
                    // unsent (its deadline running) behind a slow outlet.
                    // Answers ready at once are taken here.
                    while let Some(Some(arrived)) = in_flight.next().now_or_never() {
                        let ready = take_ready_mark();
                        let taken = probe.map(|_| Instant::now());
                        let end =
                            take_answer(&mut engine, &lps, &mut aborts, now, arrived, &mut out);
                        note_acted(probe, ready, taken);
                        if let Some(end) = end {
                            break 'stream end;
                        }
                    }
                    answered_at_once &= in_flight.is_empty();
                    // Keep the cadence, skipping ticks missed while busy;
                    // with no interval, poll again once this poll is done.
                    next_poll_at = match (now - next_poll_at).checked_div(interval) {
                        Some(behind) => next_poll_at + (behind + 1) * interval,
                        None => now,
                    };
                }
                for event in out.drain(..) {
                    outlet.send(event).await;
                }
                if answered_at_once && interval == 0 {
                    // Poll again at once (no interval); the task still
                    // yields to others whenever its budget is spent.
                    tokio::task::consume_budget().await;
                    continue;
                }

                // Past the duration only an order's deadline matters.
                let mut next_wake = if ending.is_some() {
                    StreamMs::MAX
                } else {
                    duration_ms
                };
                if let Some(deadline) = engine.next_order_deadline() {
                    next_wake = next_wake.min(deadline);
                }
                if let Some(deadline) = engine.next_timeout() {
                    next_wake = next_wake.min(deadline);
                }
                if let Some(deadline) = engine.next_deadline() {
                    next_wake = next_wake.min(deadline);
                }
                if interval > 0 && polling {
                    next_wake = next_wake.min(next_poll_at);
                }
                if next_wake != wake_at {
                    wake.as_mut().reset(clock.instant_at(next_wake));
                    wake_at = next_wake;
                }

                tokio::select! {
                    biased;
                    command = next_command(&mut inbox), if inbox.is_some() => match command {
                        Some(StreamCommand::Stop) => {
                            if !engine.order_pending() {
                                break EndReason::Interrupted;
                            }
                            ending.get_or_insert(EndReason::Interrupted);
                        }
                        Some(StreamCommand::Accept { quote_id }) => {
                            let now = clock.now_ms();
                            // Expiry first: an expired quote cannot be accepted.
                            engine.on_time(now, &mut out);
                            let plan = engine.accept(now, quote_id.as_deref(), &mut out);
                            // `order_sent` is handed on (and so recorded)
                            // before the order leaves.
                            for event in out.drain(..) {
                                outlet.send(event).await;
                            }
                            if let Some(plan) = plan {
                                let (abort, order) = send_order(&plan);
                                order_abort = Some(abort);
                                orders.push(order);
                            }
                        }
                        None => inbox = None,
                    },
                    Some((order_id, joined)) = orders.next(), if !orders.is_empty() => {
                        let now = clock.now_ms();
                        order_abort = None;
                        let result = match joined {
                            Ok(answer) => OrderResult::Answered(answer),
                            Err(error) if error.is_panic() => {
                                OrderResult::Panicked(panic_message(error.into_panic()))
                            }
                            // Aborted at its deadline: already answered.
                            Err(_) => continue,
                        };
                        // The answer has already moved its LP's fade
                        // estimate: seen before a fallback is chosen.
                        note_all_health(&mut engine, &lps, now, &mut out);
                        let plan = engine.on_order_answer(now, &order_id, result, &mut out);
                        for event in out.drain(..) {
                            outlet.send(event).await;
                        }
                        if let Some(plan) = plan {
                            let (abort, order) = send_order(&plan);
                            order_abort = Some(abort);
                            orders.push(order);
                        }
                    }
                    Some((lp, request_id, answer)) = in_flight.next(), if !in_flight.is_empty() => {
                        // Read at once: the mark belongs to this answer.
                        let ready = take_ready_mark();
                        let now = clock.now_ms();
                        if now >= duration_ms && !engine.order_pending() {
                            break EndReason::Duration;
                        }
                        let arrived = probe.map(|_| Instant::now());
                        // Expiry first: an answer is judged against the
                        // lock as it stands at this very instant.
                        engine.on_time(now, &mut out);
                        let end = take_answer(
                            &mut engine,
                            &lps,
                            &mut aborts,
                            now,
                            (lp, request_id, answer),
                            &mut out,
                        );
                        note_acted(probe, ready, None);
                        if let Some(end) = end {
                            break end;
                        }
                        // Hand the answer's events on before anything else
                        // (such as starting the next poll) delays them. An
                        // outlet that cannot take them is the consumers'
                        // back-pressure: that wait is timed apart from the
                        // engine's work.
                        let mut waited = Duration::ZERO;
                        for event in out.drain(..) {
                            let mut send = std::pin::pin!(outlet.send(event));
                            if futures::poll!(send.as_mut()).is_pending() {
                                let blocked = Instant::now();
                                send.await;
                                waited += blocked.elapsed();
                            }
                        }
                        if let (Some(probe), Some(arrived)) = (probe, arrived) {
                            probe.added.record(arrived.elapsed().saturating_sub(waited));
                            probe.output_wait.record(waited);
                        }
                    }
                    _ = &mut wake => {}
                }
            }
        };

        for (_, abort) in aborts.iter().flatten() {
            abort.abort();
        }
        drop(in_flight);
        if let Some(abort) = order_abort {
            abort.abort();
        }
        // Waiting for an order may run past the duration; otherwise the
        // stream ends at its duration at the latest.
        let now = if engine.accepted() {
            clock.now_ms()
        } else {
            clock.now_ms().min(duration_ms)
        };
        let summary = engine.finish(now, reason);
        for event in out.drain(..) {
            outlet.send(event).await;
        }
        outlet
            .send(engine.event(now, EventKind::Ended(summary.clone())))
            .await;
        summary
    }
}

/// Records into `probe` (if any) how long ago an answer was `ready` (its
/// LP's mark) and, for an answer `taken` at that moment whose events are
/// handed on with the rest of its poll's, the engine's time on it.
/// Every LP's shared health as it is now, into the engine (shown on change).
fn note_all_health(engine: &mut Engine, lps: &[SharedLp], now: StreamMs, out: &mut Vec<RfqEvent>) {
    for (index, lp) in lps.iter().enumerate() {
        if let Some(view) = lp.health() {
            engine.note_health(now, index, &view, out);
        }
    }
}

/// One LP's answer into the engine. Its request is no longer in flight
/// (a timed-out request's late result must not forget the abort handle of
/// the request that replaced it, so only a matching id is taken). An
/// answer that reached the LP (not held back by its health) may have
/// changed that LP's shared health (a breaker opened, a pause asked for):
/// that shows at once.
fn take_answer(
    engine: &mut Engine,
    lps: &[SharedLp],
    aborts: &mut [Option<(u64, AbortHandle)>],
    now: StreamMs,
    (lp, request_id, answer): (usize, u64, Answer),
    out: &mut Vec<RfqEvent>,
) -> Option<EndReason> {
    aborts[lp].take_if(|(id, _)| *id == request_id);
    let sent = !matches!(answer, Answer::Failed(crate::lp::LpError::NotSent(_)));
    let end = engine.on_answer(now, lp, request_id, answer, out);
    if let Some(view) = lps[lp].health().filter(|_| sent) {
        engine.note_health(now, lp, &view, out);
    }
    end
}

fn note_acted(
    probe: Option<&EngineProbe>,
    ready: Option<std::time::Instant>,
    taken: Option<Instant>,
) {
    let Some(probe) = probe else {
        return;
    };
    if let Some(ready) = ready {
        probe.ready_to_acted.record(ready.elapsed());
    }
    if let Some(taken) = taken {
        probe.added.record(taken.elapsed());
    }
}

/// The next command, or `None` once the inbox is closed.
async fn next_command(inbox: &mut Option<mpsc::Receiver<StreamCommand>>) -> Option<StreamCommand> {
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
) -> impl Future<Output = (usize, u64, Answer)> + Send {
    let request_id = request.request_id;
    let call = AssertUnwindSafe(async move { lp.quote(&request).await }).catch_unwind();
    let call = Abortable::new(LP_TASK.scope((), call), registration);
    async move {
        let answer = match call.await {
            Ok(Ok(Ok(quote))) => Answer::Quote(quote),
            Ok(Ok(Err(error))) => Answer::Failed(error),
            Ok(Err(panic)) => Answer::Panicked(panic_message(panic)),
            // Only a timeout drops a call, and the engine has already
            // answered that request as timed out: this result is ignored.
            Err(Aborted) => Answer::TimedOut,
        };
        (index, request_id, answer)
    }
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
