//! What the bench measures of each LP answer as it goes through a
//! session, through the session's [`StreamProbe`] hooks: the engine's own
//! time on it, waits for room in the outlet, and, for the bench's LPs that
//! mark when their answer was ready (reached the host), the time from
//! then to the session having acted on it and, per stream, to its first
//! client quote. The product runs its sessions with no probe, so none of
//! this (clock reads, the ready mark's thread-local) is in a desk's
//! streams.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::rfq::probe::StreamProbe;
use crate::rfq::{EventKind, RfqEvent};

use super::histogram::LatencyHistogram;

/// What the bench records for every LP answer, shared by every session
/// of a run.
#[derive(Default)]
pub(crate) struct SessionTimings {
    /// From the answer's arrival to its events being handed on, not
    /// counting any wait for room in the output channel.
    pub(crate) added: LatencyHistogram,
    /// Time spent waiting for room in a full output channel: the
    /// consumers' back-pressure, not the engine's work.
    pub(crate) output_wait: LatencyHistogram,
    /// From an answer being ready (as its LP marked it with
    /// [`answer_ready_at`]) to the engine having acted on it: the
    /// scheduling delay plus the engine's work.
    pub(crate) ready_to_acted: LatencyHistogram,
    /// Per stream: from its first LP answer being ready (its fastest LP's,
    /// as marked) to its first client quote being handed on.
    pub(crate) first_quote: LatencyHistogram,
}

thread_local! {
    /// When the answer an in-process LP just returned became ready.
    static READY_AT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Marks the answer the calling LP is about to return as ready since `at`.
/// The session polls its LP requests on its own thread and its probe reads
/// the mark in the same poll that yields the answer
/// ([`StreamProbe::answer_yielded`]), so a thread-local carries it from the
/// LP to the probe without the session knowing of it.
pub(crate) fn answer_ready_at(at: Instant) {
    READY_AT.with(|ready| ready.set(Some(at)));
}

/// Takes the mark left by [`answer_ready_at`], if any.
fn take_ready_mark() -> Option<Instant> {
    READY_AT.with(Cell::take)
}

/// One stream's probe: records into the run's [`SessionTimings`], and
/// keeps where the stream is on the way to its first client quote.
pub(crate) struct StreamTimer<'a> {
    timings: &'a SessionTimings,
    first_quote: FirstQuote,
}

/// Where a stream is on the way to its first client quote.
#[derive(Clone, Copy)]
enum FirstQuote {
    NoAnswerYet,
    /// Its first LP answer (its fastest LP's) was ready then.
    AnswerReadyAt(Instant),
    Quoted,
}

impl<'a> StreamTimer<'a> {
    pub(crate) fn new(timings: &'a SessionTimings) -> StreamTimer<'a> {
        StreamTimer {
            timings,
            first_quote: FirstQuote::NoAnswerYet,
        }
    }
}

impl StreamProbe for StreamTimer<'_> {
    type Moment = Instant;
    type Ready = Option<Instant>;

    fn moment(&self) -> Instant {
        Instant::now()
    }

    fn since(&self, since: Instant) -> Duration {
        since.elapsed()
    }

    fn answer_yielded(&self) -> Option<Instant> {
        take_ready_mark()
    }

    fn answer_acted(&mut self, ready: Option<Instant>) {
        let Some(ready) = ready else {
            return;
        };
        self.timings.ready_to_acted.record(ready.elapsed());
        if let FirstQuote::NoAnswerYet = self.first_quote {
            self.first_quote = FirstQuote::AnswerReadyAt(ready);
        }
    }

    fn engine_worked(&mut self, started: Instant, output_wait: Duration) {
        (self.timings.added).record(started.elapsed().saturating_sub(output_wait));
    }

    fn output_waited(&mut self, waited: Duration) {
        self.timings.output_wait.record(waited);
    }

    fn handing_on(&mut self, events: &[RfqEvent]) {
        if let FirstQuote::AnswerReadyAt(ready) = self.first_quote {
            let quoted =
                (events.iter()).any(|event| matches!(event.kind, EventKind::ClientQuote(_)));
            if quoted {
                self.timings.first_quote.record(ready.elapsed());
                self.first_quote = FirstQuote::Quoted;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use async_trait::async_trait;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    use crate::bench::Counts;
    use crate::clock::StreamClock;
    use crate::config::Settings;
    use crate::lp::{
        LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, SharedLp,
    };
    use crate::market::Side;
    use crate::rfq::{EngineParams, RfqSpec, Session};

    /// Answers at once, marked ready, with a price that moves by poll (so
    /// locks change hands) and depends on nothing else.
    struct MarkingLp {
        name: Arc<str>,
        index: i64,
    }

    #[async_trait]
    impl LiquidityProvider for MarkingLp {
        fn name(&self) -> &str {
            &self.name
        }

        async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
            answer_ready_at(Instant::now());
            let poll = (request.sent_ms / 100) as i64;
            let cents = ((self.index * 7 + poll * 5) % 16) * 600 - 4_500 - poll * 250;
            Ok(LpQuote {
                lp: self.name.clone(),
                request_id: request.request_id,
                side: request.side,
                pair: request.pair,
                price: dec!(100000) + Decimal::new(cents, 2),
                quantity: request.amount,
                valid_until_ms: request.clock.now_ms() + 10_000,
                venue_ref: None,
            })
        }

        async fn execute(&self, _: &LpOrder) -> OrderAnswer {
            OrderAnswer::Rejected {
                reason: "not in this test".into(),
            }
        }
    }

    /// One 1 s stream polling three marking LPs every 100 ms, into a
    /// channel, with the bench's timer or with none: its events, in order.
    async fn one_stream(timings: Option<&SessionTimings>) -> Vec<RfqEvent> {
        let lps = (0..3)
            .map(|index| {
                Arc::new(MarkingLp {
                    name: Arc::from(format!("LP{}", index + 1)),
                    index,
                }) as SharedLp
            })
            .collect();
        let session = Session {
            rfq_id: Arc::from("B-probe"),
            spec: RfqSpec {
                side: Side::Buy,
                amount: dec!(1.5),
                pair: "BTCUSDT".parse().unwrap(),
                fixed: crate::market::Leg::Base,
            },
            lps,
            params: EngineParams {
                poll_interval_ms: 100,
                ..Settings::default().engine
            },
            duration_ms: 1_000,
            clock: StreamClock::start(),
            band: None,
            reference: None,
            desk_reference: None,
            client: crate::rfq::ClientId::house(),
            operator: None,
            channel: crate::rfq::Channel::Operator,
        };
        let (events, mut received) = tokio::sync::mpsc::channel(1_024);
        match timings {
            Some(timings) => (session.run_probed(events, None, StreamTimer::new(timings))).await,
            None => session.run_into(events, None).await,
        };
        let mut seen = Vec::new();
        while let Some(event) = received.recv().await {
            seen.push(event);
        }
        seen
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_times_every_answer_and_the_first_quote_once_and_changes_nothing() {
        let unprobed = one_stream(None).await;
        let timings = SessionTimings::default();
        let probed = one_stream(Some(&timings)).await;
        // The timer only watches: the same stream, event for event (after
        // `started`, whose wall-clock stamp is the run's own).
        assert!(matches!(probed[0].kind, EventKind::Started(_)));
        assert_eq!(probed[1..], unprobed[1..]);
        let mut counts = Counts::default();
        for event in &probed {
            counts.count(&event.kind);
        }
        // Ten polls; the LP holding the lock is not asked again while its
        // quote stands: 3 + 9 x 2 answers.
        assert_eq!(counts.responses(), 21);
        // Every answer is marked ready by its LP and taken with its poll.
        assert_eq!(timings.ready_to_acted.count(), 21);
        assert_eq!(timings.added.count(), 21);
        // Only answers that come in on their own wait for the outlet.
        assert_eq!(timings.output_wait.count(), 0);
        // One stream, one first client quote.
        assert_eq!(timings.first_quote.count(), 1);
    }
}
