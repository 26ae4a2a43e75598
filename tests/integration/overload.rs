//! Overload under paused time: a consumer slower than the LPs slows the
//! stream (fewer polls), never turns answers already in into timeouts, and
//! the stream still ends on time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_rfq::clock::StreamClock;
use lp_rfq::lp::scripted::{ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::market::Side;
use lp_rfq::rfq::event::{EventKind, FailureKind};
use lp_rfq::rfq::outlet::Outlet;
use lp_rfq::rfq::{RfqEvent, Session};
use rust_decimal_macros::dec;

use crate::support::{only, params, spec, trace};

/// A consumer that needs `per_event` to take each event.
struct Slow {
    per_event: Duration,
    events: Arc<Mutex<Vec<RfqEvent>>>,
}

impl Outlet for Slow {
    async fn send(&mut self, event: RfqEvent) {
        tokio::time::sleep(self.per_event).await;
        self.events.lock().unwrap().push(event);
    }
}

async fn run_slow(per_event_ms: u64) -> Vec<RfqEvent> {
    let lps: Vec<SharedLp> = ["A", "B", "C"]
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let price = dec!(100000.00) + rust_decimal::Decimal::from(index as u64);
            Arc::new(ScriptedLp::steps(
                name,
                10_000,
                vec![Step::price(10, price)],
            )) as SharedLp
        })
        .collect();
    let session = Session {
        rfq_id: Arc::from("R-slow"),
        spec: spec(Side::Buy),
        lps,
        params: params(),
        duration_ms: 6_000,
        clock: StreamClock::start(),
        band: None,
        // The desk's reference vouches for the first answer, so the
        // consumer's pace alone sets the polls' (an `unverified` would be
        // one more slow event to hand on).
        reference: Some(crate::support::DESK_REFERENCE),
        desk_reference: None,
        client: lp_rfq::rfq::ClientId::house(),
        operator: None,
        channel: lp_rfq::rfq::Channel::Operator,
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let outlet = Slow {
        per_event: Duration::from_millis(per_event_ms),
        events: events.clone(),
    };
    session.run_into(outlet, None).await;
    let events = events.lock().unwrap().clone();
    events
}

fn polls_answered(events: &[RfqEvent]) -> Vec<u32> {
    let mut polls: Vec<u32> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::LpQuote(quote) => Some(quote.poll),
            _ => None,
        })
        .collect();
    polls.dedup();
    polls
}

#[tokio::test(start_paused = true)]
async fn a_consumer_slower_than_the_lp_timeout_slows_polls_without_timeouts() {
    // Each event takes the consumer 700 ms: a poll's three answers and
    // what they cause take longer than the 1 s LP timeout to hand on.
    let events = run_slow(700).await;
    let lines = trace(&events);
    let timeouts = events
        .iter()
        .filter(|event| {
            matches!(&event.kind, EventKind::LpError(error) if error.kind == FailureKind::Timeout)
        })
        .count();
    assert_eq!(timeouts, 0, "{lines:#?}");
    // Three polls instead of the twelve a 500 ms cadence starts in 6 s:
    // every answer is taken (those that came while the consumer was busy
    // included), each as late as the consumer allows.
    assert_eq!(polls_answered(&events), [1, 2, 3], "{lines:#?}");
    assert_eq!(
        only(&lines, "quote"),
        [
            "710 quote A 100000.00",
            "2110 quote B 100001.00",
            "2110 quote C 100002.00",
            "4220 quote B 100001.00",
            "4920 quote C 100002.00",
            "5620 quote B 100001.00",
        ]
    );
    let ended = events.last().unwrap();
    assert!(matches!(ended.kind, EventKind::Ended(_)));
    assert_eq!(ended.t_ms, 6_000);
}

#[tokio::test(start_paused = true)]
async fn a_prompt_consumer_gets_every_poll() {
    // The same stream with a consumer that keeps up: one poll per 500 ms.
    let events = run_slow(0).await;
    assert_eq!(polls_answered(&events), (1..=12).collect::<Vec<u32>>());
}

/// An LP that answers at once and notes the stream time of every request
/// it is sent.
struct AtOnce {
    name: &'static str,
    price: rust_decimal::Decimal,
    asked_at: Arc<Mutex<Vec<(&'static str, u64)>>>,
}

#[async_trait::async_trait]
impl lp_rfq::lp::LiquidityProvider for AtOnce {
    fn name(&self) -> &str {
        self.name
    }

    fn simulated(&self) -> bool {
        true
    }

    async fn quote(
        &self,
        request: &lp_rfq::lp::LpRequest,
    ) -> Result<lp_rfq::lp::LpQuote, lp_rfq::lp::LpError> {
        let now = request.clock.now_ms();
        self.asked_at.lock().unwrap().push((self.name, now));
        Ok(lp_rfq::lp::LpQuote {
            lp: Arc::from(self.name),
            request_id: request.request_id,
            side: request.side,
            pair: request.pair,
            price: self.price,
            quantity: request.amount,
            valid_until_ms: now + 10_000,
            venue_ref: None,
        })
    }

    async fn execute(&self, _: &lp_rfq::lp::LpOrder) -> lp_rfq::lp::OrderAnswer {
        lp_rfq::lp::OrderAnswer::Unknown {
            reason: "not traded here".into(),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn answers_ready_at_once_reach_a_slow_consumer_one_by_one_and_no_request_waits_unsent() {
    // The session hands a poll's answers on one by one as they come; when
    // the consumer makes it wait (700 ms per event), the requests not yet
    // polled are still sent at once, not after the wait.
    let asked_at = Arc::new(Mutex::new(Vec::new()));
    let lps: Vec<SharedLp> = [
        ("A", dec!(100000.00)),
        ("B", dec!(100001.00)),
        ("C", dec!(100002.00)),
    ]
    .into_iter()
    .map(|(name, price)| {
        Arc::new(AtOnce {
            name,
            price,
            asked_at: asked_at.clone(),
        }) as SharedLp
    })
    .collect();
    let session = Session {
        rfq_id: Arc::from("R-instant"),
        spec: spec(Side::Buy),
        lps,
        params: params(),
        duration_ms: 1_000,
        clock: StreamClock::start(),
        band: None,
        reference: None,
        desk_reference: None,
        client: lp_rfq::rfq::ClientId::house(),
        operator: None,
        channel: lp_rfq::rfq::Channel::Operator,
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let outlet = Slow {
        per_event: Duration::from_millis(700),
        events: events.clone(),
    };
    session.run_into(outlet, None).await;
    let events = events.lock().unwrap().clone();
    let lines = trace(&events);
    // The first poll starts once `started` is taken (700 ms). All three
    // are asked then, although A's answer came at once and its first
    // event kept the session waiting until 1400 ms.
    assert_eq!(
        asked_at.lock().unwrap().clone(),
        [("A", 700), ("B", 700), ("C", 700)],
        "{lines:#?}"
    );
    // Every answer is taken as of the moment it came, none timed out.
    assert_eq!(
        only(&lines, "quote"),
        [
            "700 quote A 100000.00",
            "700 quote B 100001.00",
            "700 quote C 100002.00",
        ],
        "{lines:#?}"
    );
    assert!(events.iter().all(|event| !matches!(
        &event.kind,
        EventKind::LpError(error) if error.kind == FailureKind::Timeout
    )));
}
