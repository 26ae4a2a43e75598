//! LP health shared across streams, under paused time: a rate limit that
//! a burst of streams never exceeds, a Retry-After that pauses every
//! stream once, a breaker that opens and closes after a good probe, an
//! authentication failure that stays, a fading LP that loses an execution
//! tie, and healthy LPs that are not slowed by any of it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lp_rfq::lp::guarded::{Guarded, HealthFeed, RecordedChange};
use lp_rfq::lp::health::{BreakerPolicy, HealthPolicy, RateLimit};
use lp_rfq::lp::scripted::{OrderReply, OrderStep, Reply, ScriptedLp, Step};
use lp_rfq::lp::{
    LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, OrderRefusal, SharedLp,
};
use lp_rfq::market::Side;
use lp_rfq::rfq::event::HealthState;
use lp_rfq::rfq::StreamCommand;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::time::Instant;

use crate::support::{params, run_stream, run_stream_with_commands, spec, trace};

fn policy(rate: Option<(Decimal, u32)>, breaker: BreakerPolicy) -> HealthPolicy {
    HealthPolicy {
        rate: rate.map(|(per_sec, burst)| RateLimit { per_sec, burst }),
        breaker,
        fade_limit_pct: dec!(25),
    }
}

/// `lp` wrapped in a health with `policy`, and the channel its desk-wide
/// changes arrive on.
fn guarded(
    lp: SharedLp,
    policy: HealthPolicy,
) -> (SharedLp, std::sync::mpsc::Receiver<RecordedChange>) {
    let feed = HealthFeed::default();
    let (sender, changes) = std::sync::mpsc::channel();
    feed.set(sender).unwrap();
    (Arc::new(Guarded::new(lp, policy, 1_000, feed)), changes)
}

fn changes(feed: &std::sync::mpsc::Receiver<RecordedChange>) -> Vec<String> {
    feed.try_iter()
        .map(|recorded| {
            let change = recorded.change;
            format!(
                "{} {}->{} retry {:?} throttled {}",
                recorded.lp,
                change.previous.as_str(),
                change.state.as_str(),
                change.retry_in_ms,
                change.throttled
            )
        })
        .collect()
}

/// The trace lines that name `lp`.
fn of(lines: &[String], lp: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.split(' ').nth(2) == Some(lp))
        .cloned()
        .collect()
}

/// An LP that quotes a fixed price after `delay`, recording when each
/// request reached it (the venue's view of our request rate).
struct Counting {
    name: Arc<str>,
    price: Decimal,
    delay: Duration,
    origin: Instant,
    arrivals: Mutex<Vec<u64>>,
}

impl Counting {
    fn new(name: &str, price: Decimal, delay_ms: u64) -> Arc<Counting> {
        Arc::new(Counting {
            name: Arc::from(name),
            price,
            delay: Duration::from_millis(delay_ms),
            origin: Instant::now(),
            arrivals: Mutex::new(Vec::new()),
        })
    }

    fn arrivals(&self) -> Vec<u64> {
        self.arrivals.lock().unwrap().clone()
    }
}

#[async_trait]
impl LiquidityProvider for Counting {
    fn name(&self) -> &str {
        &self.name
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let at = self.origin.elapsed().as_millis() as u64;
        self.arrivals.lock().unwrap().push(at);
        tokio::time::sleep(self.delay).await;
        Ok(LpQuote {
            lp: self.name.clone(),
            request_id: request.request_id,
            side: request.side,
            pair: request.pair,
            price: self.price,
            quantity: request.amount,
            valid_until_ms: request.clock.now_ms() + 10_000,
            venue_ref: None,
        })
    }

    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        OrderAnswer::Filled {
            price: order.price,
            quantity: order.amount,
            venue_order_id: None,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_streams_never_exceeds_the_rate_limit_and_healthy_lps_are_not_slowed() {
    // The healthy LP is the best, so the limited one is asked as a
    // competitor at every poll of every stream.
    let limited = Counting::new("Limited", dec!(100001.00), 10);
    let healthy = Counting::new("Healthy", dec!(100000.00), 10);
    // 2 requests a second, 2 at once.
    let (limited_lp, feed) = guarded(
        limited.clone(),
        policy(Some((dec!(2), 2)), BreakerPolicy::default()),
    );
    let (healthy_lp, _) = guarded(healthy.clone(), policy(None, BreakerPolicy::default()));
    let streams = (0..20).map(|_| {
        run_stream(
            spec(Side::Buy),
            vec![limited_lp.clone(), healthy_lp.clone()],
            params(),
            10_000,
        )
    });
    let all = futures::future::join_all(streams).await;

    // The venue saw 2 at once at the start of every second, never more
    // than 2 in any second: 20 in all, from 20 streams polling every
    // 500 ms (400 polls).
    let arrivals = limited.arrivals();
    assert_eq!(arrivals.len(), 20, "{arrivals:?}");
    for &start in &arrivals {
        let in_window = arrivals
            .iter()
            .filter(|&&t| t >= start && t < start + 1_000)
            .count();
        assert_eq!(in_window, 2, "requests from {start} ms: {arrivals:?}");
    }
    // Throttled requests are not the LP's failures: no lp_error at all.
    for events in &all {
        let lines = trace(events);
        assert!(
            !lines.iter().any(|line| line.contains(" error ")),
            "{lines:?}"
        );
    }
    // The streams that met the limit showed it (the first stream to poll
    // at each tick takes its token, so one stream may never meet it).
    let throttled_streams = all
        .iter()
        .filter(|events| {
            trace(events)
                .iter()
                .any(|line| line.ends_with("health Limited throttled"))
        })
        .count();
    assert!(throttled_streams >= 19, "{throttled_streams}");
    // The healthy LP answered every stream in its own 10 ms, first thing.
    for events in &all {
        let lines = trace(events);
        assert!(
            lines
                .iter()
                .any(|line| line == "10 quote Healthy 100000.00"),
            "{lines:?}"
        );
    }
    let healthy_latencies: Vec<u64> = all
        .iter()
        .flatten()
        .filter_map(|event| match &event.kind {
            lp_rfq::rfq::EventKind::LpQuote(quote) if &*quote.lp == "Healthy" => {
                Some(quote.latency_ms)
            }
            _ => None,
        })
        .collect();
    assert_eq!(healthy_latencies.len(), healthy.arrivals().len());
    assert!(healthy_latencies.iter().all(|&ms| ms == 10));
    // One desk-wide spell of throttling, reported once, not per stream.
    let changes = changes(&feed);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(
        changes[0].starts_with("Limited ok->throttled"),
        "{changes:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_pauses_the_lp_for_every_stream_and_is_reported_once() {
    let healthy = Arc::new(ScriptedLp::steps(
        "A",
        10_000,
        vec![Step::price(100, dec!(100000.00))],
    ));
    let asked = Arc::new(ScriptedLp::steps(
        "B",
        10_000,
        vec![
            Step::fail(
                100,
                LpError::RateLimited {
                    retry_after_ms: Some(1_200),
                },
            ),
            Step::price(100, dec!(100050.00)),
        ],
    ));
    let (b, feed) = guarded(asked.clone(), policy(None, BreakerPolicy::default()));
    let lps = vec![healthy.clone() as SharedLp, b];
    let first = run_stream(spec(Side::Buy), lps.clone(), params(), 1_400);
    // Two more streams start at 300 ms, once the 429 is known.
    let later = || {
        let lps = lps.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            run_stream(spec(Side::Buy), lps, params(), 1_200).await
        }
    };
    let (first, second, third) = tokio::join!(first, later(), later());
    assert_eq!(
        of(&trace(&first), "B"),
        [
            "100 error B rate_limited: rate limited, retry after 1200 ms",
            "100 health B paused 2 s",
        ]
    );
    // The later streams never ask B during the pause (stream times from
    // their own start at 300 ms): the pause ends at 1300 ms.
    for stream in [&second, &third] {
        assert_eq!(
            of(&trace(stream), "B"),
            [
                "0 health B paused 1 s",
                "1000 health B ok",
                "1100 quote B 100050.00",
            ]
        );
    }
    // Asked once before the pause, then once by each later stream at 1300;
    // the six requests held back meanwhile are counted once.
    assert_eq!(asked.calls(), 3);
    // Logged and recorded once for the desk, not once per stream.
    assert_eq!(
        changes(&feed),
        [
            "B ok->rate_limited retry Some(1200) throttled 0",
            "B rate_limited->ok retry None throttled 6",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_after_n_failures_and_closes_after_a_good_probe() {
    let down = || LpError::Unavailable("connection refused".into());
    let flaky = Arc::new(ScriptedLp::steps(
        "B",
        10_000,
        vec![
            Step::fail(100, down()),
            Step::fail(100, down()),
            Step::fail(100, down()),
            Step::price(100, dec!(100050.00)),
        ],
    ));
    let breaker = BreakerPolicy {
        failures: 3,
        window: Duration::from_secs(10),
        cool_off: Duration::from_secs(2),
    };
    let (b, feed) = guarded(flaky.clone(), policy(None, breaker));
    let a = Arc::new(ScriptedLp::steps(
        "A",
        10_000,
        vec![Step::price(100, dec!(100000.00))],
    ));
    let events = run_stream(spec(Side::Buy), vec![a, b], params(), 4_000).await;
    assert_eq!(
        of(&trace(&events), "B"),
        [
            "100 error B unavailable: connection refused",
            "600 error B unavailable: connection refused",
            "1100 error B unavailable: connection refused",
            "1100 health B down 2 s (3 failures in 10 s, last: connection refused)",
            // Polls at 1500 to 3000 do not ask it; the cool-off ends at 3100.
            "3500 health B down, probing (3 failures in 10 s, last: connection refused)",
            "3600 quote B 100050.00",
            "3600 health B ok",
        ]
    );
    assert_eq!(flaky.calls(), 4);
    let changes = changes(&feed);
    assert_eq!(
        changes,
        [
            "B ok->down retry Some(2000) throttled 0",
            "B down->probing retry None throttled 0",
            "B probing->ok retry None throttled 0",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_adapter_counts_as_failures_and_opens_the_breaker() {
    let panic = || Step {
        delay_ms: 100,
        reply: Reply::Panic("unexpected field 'px'".into()),
    };
    let broken = Arc::new(ScriptedLp::steps(
        "P",
        10_000,
        vec![panic(), panic(), panic()],
    ));
    let breaker = BreakerPolicy {
        failures: 2,
        window: Duration::from_secs(10),
        cool_off: Duration::from_secs(30),
    };
    let (p, feed) = guarded(broken.clone(), policy(None, breaker));
    let a = Arc::new(ScriptedLp::steps(
        "A",
        10_000,
        vec![Step::price(100, dec!(100000.00))],
    ));
    let events = run_stream(spec(Side::Buy), vec![a, p], params(), 3_000).await;
    // Two panics open the breaker: no third request for the cool-off.
    assert_eq!(broken.calls(), 2);
    assert_eq!(changes(&feed), ["P ok->down retry Some(30000) throttled 0"]);
    let lines = of(&trace(&events), "P");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[2]
            .starts_with("600 health P down 30 s (2 failures in 10 s, last: the adapter panicked)"),
        "{lines:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_given_up_at_its_deadline_is_a_failure_and_a_stopped_one_is_not() {
    let slow = Arc::new(ScriptedLp::steps(
        "S",
        10_000,
        vec![Step::price(5_000, dec!(100000.00))],
    ));
    let breaker = BreakerPolicy {
        failures: 1,
        window: Duration::from_secs(10),
        cool_off: Duration::from_secs(30),
    };
    let (lp, _) = guarded(slow, policy(None, breaker));
    let request = |clock: lp_rfq::clock::StreamClock| LpRequest {
        request_id: lp_rfq::lp::next_request_id(),
        rfq_id: Arc::from("R"),
        side: Side::Buy,
        pair: "BTCUSDT".parse().unwrap(),
        amount: dec!(1),
        sent_ms: 0,
        clock,
        fixed: lp_rfq::market::Leg::Base,
    };
    // Dropped at 400 ms of a 1000 ms timeout: the stream stopped.
    let clock = lp_rfq::clock::StreamClock::start();
    let early = tokio::time::timeout(Duration::from_millis(400), lp.quote(&request(clock))).await;
    assert!(early.is_err());
    assert_eq!(lp.health().unwrap().state, HealthState::Ok);
    // Dropped at its 1000 ms deadline: the LP did not answer in time.
    let clock = lp_rfq::clock::StreamClock::start();
    let late = tokio::time::timeout(Duration::from_millis(1_000), lp.quote(&request(clock))).await;
    assert!(late.is_err());
    assert_eq!(lp.health().unwrap().state, HealthState::Down);
}

#[tokio::test(start_paused = true)]
async fn an_auth_failure_keeps_the_lp_out_until_restart() {
    let refused = Arc::new(ScriptedLp::steps(
        "B",
        10_000,
        vec![
            Step::fail(50, LpError::Auth("401 invalid token".into())),
            Step::price(100, dec!(100050.00)),
        ],
    ));
    let (b, feed) = guarded(refused.clone(), policy(None, BreakerPolicy::default()));
    let a = Arc::new(ScriptedLp::steps(
        "A",
        10_000,
        vec![Step::price(100, dec!(100000.00))],
    ));
    let events = run_stream(spec(Side::Buy), vec![a, b.clone()], params(), 60_000).await;
    assert_eq!(
        of(&trace(&events), "B"),
        [
            "50 error B auth: authentication failed: 401 invalid token",
            "50 health B auth failed (authentication failed: 401 invalid token)",
        ]
    );
    // A minute later, and in a new stream: still never asked.
    let a = Arc::new(ScriptedLp::steps(
        "A",
        10_000,
        vec![Step::price(100, dec!(100000.00))],
    ));
    let again = run_stream(spec(Side::Buy), vec![a, b], params(), 1_000).await;
    assert_eq!(
        of(&trace(&again), "B"),
        ["0 health B auth failed (authentication failed: 401 invalid token)"]
    );
    assert_eq!(refused.calls(), 1);
    assert_eq!(changes(&feed), ["B ok->auth_failed retry None throttled 0"]);
}

#[tokio::test(start_paused = true)]
async fn orders_turned_away_before_dealing_are_not_fades_and_a_refused_credential_is_auth() {
    let not_sent = Arc::new(
        ScriptedLp::steps("Busy", 10_000, vec![Step::price(100, dec!(100000.00))]).with_orders(
            |_, _| OrderStep {
                hold_ms: 0,
                reply: OrderReply::Refuse(
                    "order not sent: the LP's thread is busy".into(),
                    OrderRefusal::NotSent,
                ),
            },
        ),
    );
    let solid = Arc::new(ScriptedLp::steps(
        "Solid",
        10_000,
        vec![Step::price(150, dec!(100015.00))],
    ));
    let clean = policy(None, BreakerPolicy::default());
    let (busy_lp, feed) = guarded(not_sent.clone(), clean);
    let (solid_lp, _) = guarded(solid, clean);
    let accept = vec![(1_000, StreamCommand::Accept { quote_id: None })];
    // Three refusals before dealing: each falls back to Solid, none is a fade.
    for _ in 0..3 {
        let lines = trace(
            &run_stream_with_commands(
                spec(Side::Buy),
                vec![busy_lp.clone(), solid_lp.clone()],
                params(),
                3_000,
                accept.clone(),
            )
            .await,
        );
        assert!(
            lines.iter().any(|l| l.contains("filled Solid")),
            "{lines:?}"
        );
    }
    assert_eq!(not_sent.orders(), 3);
    assert_eq!(changes(&feed), Vec::<String>::new());
    let view = busy_lp.health().unwrap();
    assert_eq!((view.state, view.fading), (HealthState::Ok, false));

    // A refused credential on an order takes the LP out as a quote's would.
    let locked_out = Arc::new(
        ScriptedLp::steps("Locked", 10_000, vec![Step::price(100, dec!(100000.00))]).with_orders(
            |_, _| OrderStep {
                hold_ms: 0,
                reply: OrderReply::Refuse(
                    "authentication failed: error 1100: Invalid token.".into(),
                    OrderRefusal::Auth,
                ),
            },
        ),
    );
    let (locked_lp, feed) = guarded(locked_out, clean);
    run_stream_with_commands(
        spec(Side::Buy),
        vec![locked_lp.clone(), solid_lp.clone()],
        params(),
        3_000,
        accept.clone(),
    )
    .await;
    assert_eq!(locked_lp.health().unwrap().state, HealthState::AuthFailed);
    assert_eq!(changes(&feed).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_fading_lp_loses_an_execution_tie_to_a_clean_one() {
    let fader = Arc::new(
        ScriptedLp::steps("Fader", 10_000, vec![Step::price(100, dec!(100000.00))])
            .with_orders(|_, _| OrderStep::reject(200, "last look: price moved")),
    );
    let solid = Arc::new(ScriptedLp::steps(
        "Solid",
        10_000,
        vec![Step::price(150, dec!(100015.00))],
    ));
    let clean = policy(None, BreakerPolicy::default());
    let (fader_lp, feed) = guarded(fader.clone(), clean);
    let (solid_lp, _) = guarded(solid.clone(), clean);
    let accept = vec![(1_000, StreamCommand::Accept { quote_id: None })];
    let stream = |lps: Vec<SharedLp>| {
        run_stream_with_commands(spec(Side::Buy), lps, params(), 3_000, accept.clone())
    };
    // Three streams: Fader, the best, rejects each order and Solid fills.
    for _ in 0..3 {
        let lines = trace(&stream(vec![fader_lp.clone(), solid_lp.clone()]).await);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("order Fader 100000.00 attempt 1")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("filled Solid")),
            "{lines:?}"
        );
    }
    assert_eq!(fader.orders(), 3);
    assert_eq!(changes(&feed), ["Fader ok->fading retry None throttled 0"]);
    // Now fading (29.2 %): Solid, 1.5 bps worse (within 2 bps), gets the
    // order first; the client's price is unchanged.
    let lines = trace(&stream(vec![fader_lp.clone(), solid_lp.clone()]).await);
    assert!(
        lines.contains(&"0 health Fader fading 29.2 %".to_string()),
        "{lines:?}"
    );
    let orders: Vec<&String> = lines.iter().filter(|l| l.contains(" order ")).collect();
    assert_eq!(orders.len(), 1, "{lines:?}");
    assert!(
        orders[0].starts_with("1000 order Solid 100015.00 attempt 1 for Q")
            && orders[0].ends_with(" preferred over Fader (fading 29.2 %, its price 100000.00)"),
        "{orders:?}"
    );
    assert_eq!(fader.orders(), 3);
    // A clean LP further away than the tolerance (3 bps) does not win:
    // the fading LP still gets the order.
    let far = Arc::new(ScriptedLp::steps(
        "Far",
        10_000,
        vec![Step::price(150, dec!(100030.00))],
    ));
    let (far_lp, _) = guarded(far, clean);
    let lines = trace(&stream(vec![fader_lp, far_lp]).await);
    assert!(
        lines.iter().any(
            |l| l.starts_with("1000 order Fader 100000.00 attempt 1 for Q")
                && !l.contains("preferred")
        ),
        "{lines:?}"
    );
    assert_eq!(fader.orders(), 4);
}

#[tokio::test(start_paused = true)]
async fn plain_says_our_rate_limit_once_while_json_carries_every_flip() {
    // 1 request a second, asked as a competitor every 500 ms: every other
    // request is held back, for the whole stream (issue #25: `ok` and
    // `throttled` each poll).
    let limited = Counting::new("LP3", dec!(100001.00), 10);
    let (limited_lp, _) = guarded(
        limited,
        policy(Some((dec!(1), 1)), BreakerPolicy::default()),
    );
    let best = Counting::new("Best", dec!(100000.00), 10) as SharedLp;
    let events = run_stream(spec(Side::Buy), vec![best, limited_lp], params(), 4_000).await;

    let flips: Vec<String> = trace(&events)
        .into_iter()
        .filter(|line| line.contains(" health "))
        .collect();
    assert_eq!(
        flips,
        [
            "500 health LP3 throttled",
            "1000 health LP3 ok",
            "1500 health LP3 throttled",
            "2000 health LP3 ok",
            "2500 health LP3 throttled",
            "3000 health LP3 ok",
            "3500 health LP3 throttled",
        ]
    );
    let mut printer = lp_rfq::output::plain::PlainPrinter::new();
    let said: Vec<String> = events
        .iter()
        .map(|event| printer.render(event))
        .flat_map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|line| line.contains(" health "))
        .collect();
    assert_eq!(
        said,
        ["[  0.500s] LP3        health      throttled (our rate limit for this LP: requests held back, not sent)"]
    );
}
