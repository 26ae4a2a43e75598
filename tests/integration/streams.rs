//! Whole streams under tokio's paused time with scripted LPs: the exact
//! event sequence for each rule of selection, locking, refresh and expiry,
//! and for LPs that misbehave.

use std::sync::Arc;
use std::time::Duration;

use lp_rfq::lp::scripted::{Lie, Reply, ScriptedLp, Step};
use lp_rfq::lp::{LpError, SharedLp};
use lp_rfq::market::Side;
use lp_rfq::rfq::event::EventKind;
use rust_decimal_macros::dec;

use crate::support::{only, params, run_stream, run_stream_until, spec, trace, with_reference};

fn lp(name: &str, validity_ms: u64, steps: Vec<Step>) -> Arc<ScriptedLp> {
    Arc::new(ScriptedLp::steps(name, validity_ms, steps))
}

fn shared(lps: &[&Arc<ScriptedLp>]) -> Vec<SharedLp> {
    lps.iter().map(|lp| (*lp).clone() as SharedLp).collect()
}

#[tokio::test(start_paused = true)]
async fn the_client_quote_follows_the_best_answer_until_the_first_poll_completes_then_locks() {
    let a = lp("A", 10_000, vec![Step::price(100, dec!(100050.00))]);
    let b = lp("B", 10_000, vec![Step::price(200, dec!(100020.00))]);
    let c = lp("C", 10_000, vec![Step::price(300, dec!(100030.00))]);
    let events = run_stream(
        spec(Side::Buy),
        shared(&[&a, &b, &c]),
        with_reference(params()),
        1_000,
    )
    .await;
    assert_eq!(
        trace(&events),
        [
            "0 started 3 lps",
            "100 quote A 100050.00",
            "100 client A 100050.00->100150.05 first valid 8000",
            "200 quote B 100020.00",
            "200 client B 100020.00->100120.02 best_so_far valid 8000",
            "300 quote C 100030.00",
            "300 locked B 100020.00 BestOfPoll",
            // Poll 2 asks only the competitors; the locked B is frozen.
            "600 quote A 100050.00",
            "800 quote C 100030.00",
            "1000 ended duration improvements=0 lp=B price=100120.02",
        ]
    );
    assert_eq!((a.calls(), b.calls(), c.calls()), (2, 1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_sell_takes_the_highest_bid_and_rounds_down() {
    let a = lp("A", 10_000, vec![Step::price(100, dec!(99990.00))]);
    let b = lp("B", 10_000, vec![Step::price(150, dec!(99995.55))]);
    let events = run_stream(
        spec(Side::Sell),
        shared(&[&a, &b]),
        with_reference(params()),
        400,
    )
    .await;
    assert_eq!(
        trace(&events),
        [
            "0 started 2 lps",
            "100 quote A 99990.00",
            // 99990.00 × 0.999 = 99890.01
            "100 client A 99990.00->99890.01 first valid 8000",
            "150 quote B 99995.55",
            // 99995.55 × 0.999 = 99895.55445 → down to 99895.55
            "150 client B 99995.55->99895.55 best_so_far valid 8000",
            "150 locked B 99995.55 BestOfPoll",
            "400 ended duration improvements=0 lp=B price=99895.55",
        ]
    );
    let EventKind::ClientQuote(quote) = &events[4].kind else {
        panic!("client quote expected")
    };
    // The selling client receives 99895.55 × 1.5 = 149843.325 → 149843.32.
    assert_eq!(quote.client_receives.to_string(), "149843.32");
    assert_eq!(quote.client_pays.to_string(), "1.50000000");
}

#[tokio::test(start_paused = true)]
async fn the_lock_moves_only_at_the_threshold_and_the_displaced_lp_competes_again() {
    let a = lp(
        "A",
        10_000,
        vec![
            Step::price(100, dec!(100000.00)),
            Step::price(100, dec!(99980.00)),
        ],
    );
    let b = lp(
        "B",
        10_000,
        vec![
            Step::price(200, dec!(100010.00)),
            // 0.999 bp better than A: not enough.
            Step::price(100, dec!(99990.01)),
            // Exactly 1 bp better: 100000 × (1 − 0.0001) = 99990.
            Step::price(100, dec!(99990.00)),
        ],
    );
    let events = run_stream(
        spec(Side::Buy),
        shared(&[&a, &b]),
        with_reference(params()),
        2_200,
    )
    .await;
    assert_eq!(
        trace(&events),
        [
            "0 started 2 lps",
            "100 quote A 100000.00",
            "100 client A 100000.00->100100.00 first valid 8000",
            "200 quote B 100010.00",
            "200 locked A 100000.00 BestOfPoll",
            "600 quote B 99990.01",
            "1100 quote B 99990.00",
            "1100 locked B 99990.00 Improvement",
            "1100 client B 99990.00->100089.99 improvement valid 8000",
            // A was displaced, so poll 4 asks it again; 99990 × 0.9999 =
            // 99980.001 and A's 99980.00 is below that.
            "1600 quote A 99980.00",
            "1600 locked A 99980.00 Improvement",
            "1600 client A 99980.00->100079.98 improvement valid 8000",
            "2100 quote B 99990.00",
            "2200 ended duration improvements=2 lp=A price=100079.98",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_expiring_lock_is_refreshed_with_the_best_fresh_answer_without_the_threshold() {
    // LP quotes valid 4 s, buffer 2 s: the client gets 2 s. A refresh starts
    // at the first poll whose answers could come after the client validity
    // (poll start + 500 ms interval + 1 s timeout).
    let a = lp("A", 4_000, vec![Step::price(100, dec!(100000.00))]);
    let b = lp(
        "B",
        4_000,
        vec![
            Step::price(200, dec!(100010.00)),
            Step::price(200, dec!(100010.00)),
            // Only 0.5 bp better than A, yet it wins the refresh.
            Step::price(200, dec!(99995.00)),
        ],
    );
    let events = run_stream(
        spec(Side::Buy),
        shared(&[&a, &b]),
        with_reference(params()),
        2_300,
    )
    .await;
    assert_eq!(
        trace(&events),
        [
            "0 started 2 lps",
            "100 quote A 100000.00",
            "100 client A 100000.00->100100.00 first valid 2000",
            "200 quote B 100010.00",
            "200 locked A 100000.00 BestOfPoll",
            "700 quote B 100010.00",
            // Poll 3 at 1000: A's client validity ends at 2100 ≤ 2500, so
            // the locked LP is asked again with its competitor.
            "1100 quote A 100000.00",
            "1200 quote B 99995.00",
            "1200 locked B 99995.00 Refresh",
            // 99995 × 1.001 = 100094.995 → up to 100095.00
            "1200 client B 99995.00->100095.00 refresh valid 2000",
            "1600 quote A 100000.00",
            // Poll 5 at 2000 refreshes B (valid to 3200 ≤ 3500).
            "2100 quote A 100000.00",
            "2200 quote B 99995.00",
            "2200 locked B 99995.00 Refresh",
            "2200 client B 99995.00->100095.00 refresh valid 2000",
            "2300 ended duration improvements=0 lp=B price=100095.00",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_lock_that_cannot_be_refreshed_expires_until_a_fresh_quote_arrives() {
    let down = || Step::fail(100, LpError::Unavailable("maintenance".into()));
    let a = lp(
        "A",
        3_000,
        vec![
            Step::price(100, dec!(100000.00)),
            down(),
            down(),
            Step::price(300, dec!(100005.00)),
        ],
    );
    let b = lp(
        "B",
        3_000,
        vec![Step::fail(150, LpError::Declined("not today".into()))],
    );
    let mut params = params();
    params.validity_buffer_ms = 1_000;
    let events = run_stream(
        spec(Side::Buy),
        shared(&[&a, &b]),
        with_reference(params),
        2_600,
    )
    .await;
    assert_eq!(
        trace(&events),
        [
            "0 started 2 lps",
            "100 quote A 100000.00",
            "100 client A 100000.00->100100.00 first valid 2000",
            "150 error B declined: not today",
            "150 locked A 100000.00 BestOfPoll",
            "650 error B declined: not today",
            "1100 error A unavailable: maintenance",
            "1150 error B declined: not today",
            "1600 error A unavailable: maintenance",
            "1650 error B declined: not today",
            // The client validity ends at 2100 with no fresh quote in hand.
            "2100 expired A",
            "2150 error B declined: not today",
            // 100005 × 1.001 = 100105.005 → up to 100105.01
            "2300 quote A 100005.00",
            "2300 client A 100005.00->100105.01 refresh valid 2000",
            "2300 locked A 100005.00 BestOfPoll",
            // B, asked again at 2500, would answer after the end.
            "2600 ended duration improvements=0 lp=A price=100105.01",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn slow_failing_panicking_and_lying_lps_never_stall_the_stream() {
    let slow = lp("Slow", 10_000, vec![Step::price(5_000, dec!(90000.00))]);
    let failing = lp(
        "Failing",
        10_000,
        vec![Step::fail(
            50,
            LpError::Unavailable("connection refused".into()),
        )],
    );
    let panicking = lp(
        "Panicky",
        10_000,
        vec![Step {
            delay_ms: 60,
            reply: Reply::Panic("adapter bug".into()),
        }],
    );
    let lie = |lie| Step {
        delay_ms: 70,
        reply: Reply::Lie {
            price: dec!(1.00),
            lie,
        },
    };
    let liar = lp(
        "Liar",
        10_000,
        vec![
            lie(Lie::WrongSide),
            lie(Lie::ShortQuantity),
            lie(Lie::Expired),
            lie(Lie::WrongRequest),
            Step::fail(70, LpError::Malformed("price field missing".into())),
            Step {
                delay_ms: 70,
                reply: Reply::Price(dec!(-3)),
            },
        ],
    );
    let honest = lp("Honest", 10_000, vec![Step::price(120, dec!(100000.00))]);
    // A timeout off the poll ticks (the default, on a tick, has its own
    // test below) makes the slow LP's schedule easy to read.
    let mut params = params();
    params.lp_timeout_ms = 800;
    let events = run_stream(
        spec(Side::Buy),
        shared(&[&slow, &failing, &panicking, &liar, &honest]),
        // Honest is the only LP that answers: the desk's reference
        // corroborates it.
        with_reference(params),
        3_000,
    )
    .await;
    let lines = trace(&events);
    assert_eq!(
        lines[..8],
        [
            "0 started 5 lps",
            "50 error Failing unavailable: connection refused",
            "60 error Panicky unavailable: lp panicked: adapter bug",
            "70 error Liar invalid: wrong side: quoted for a client SELL, asked for a client BUY",
            // The honest LP's answer is offered the moment it arrives.
            "120 quote Honest 100000.00",
            "120 client Honest 100000.00->100100.00 first valid 8000",
            // Poll 2 at 500 does not wait for the slow LP.
            "550 error Failing unavailable: connection refused",
            "560 error Panicky unavailable: lp panicked: adapter bug",
        ]
    );
    // The first poll completes when the slow LP times out; the honest LP
    // is locked then, and keeps the lock: no bogus price ever wins.
    assert!(lines.contains(&"800 error Slow timeout: no answer within 800 ms".to_string()));
    assert_eq!(
        only(&lines, "locked"),
        ["800 locked Honest 100000.00 BestOfPoll"]
    );
    assert_eq!(
        only(&lines, "client"),
        ["120 client Honest 100000.00->100100.00 first valid 8000"]
    );
    for reason in [
        "Liar invalid: quantity 0.750 is less than the 1.5 asked",
        "Liar invalid: expired on arrival (1 ms ago)",
        "Liar invalid: answers request",
        "Liar malformed: price field missing",
        "Liar invalid: non-positive price -3",
    ] {
        assert!(
            lines.iter().any(|line| line.contains(reason)),
            "missing {reason}"
        );
    }
    assert_eq!(
        lines.last().unwrap(),
        "3000 ended duration improvements=0 lp=Honest price=100100.00"
    );
    // At most one request in flight per LP: the slow one is asked again
    // only after each timeout (asked at 0, 1000 and 2000), never every 500 ms.
    assert_eq!(slow.calls(), 3);
    assert_eq!(failing.calls(), 6);
}

#[tokio::test(start_paused = true)]
async fn the_first_client_quote_arrives_at_the_fastest_lps_delay() {
    let lps = [("Fast", 50), ("Mid", 120), ("Late", 500)]
        .into_iter()
        .map(|(name, delay)| lp(name, 10_000, vec![Step::price(delay, dec!(100000.00))]))
        .collect::<Vec<_>>();
    let first_quote_at = |events: Vec<lp_rfq::rfq::RfqEvent>| {
        events
            .iter()
            .find(|event| matches!(event.kind, EventKind::ClientQuote(_)))
            .unwrap()
            .t_ms
    };
    let shared_lps = || shared(&lps.iter().collect::<Vec<_>>());
    // The desk's reference corroborates the fastest answer on arrival.
    let events = run_stream(
        spec(Side::Buy),
        shared_lps(),
        with_reference(params()),
        1_000,
    )
    .await;
    assert_eq!(first_quote_at(events), 50);
    // Without one, the fastest waits for a second LP to agree: the first
    // client quote costs the second-fastest LP's delay.
    let events = run_stream(spec(Side::Buy), shared_lps(), params(), 1_000).await;
    assert_eq!(first_quote_at(events), 120);
}

#[tokio::test(start_paused = true)]
async fn a_request_every_lp_declines_ends_with_no_quotes() {
    let decline = || {
        vec![Step::fail(
            80,
            LpError::Declined("no quote for DOGE/USDT".into()),
        )]
    };
    let a = lp("A", 10_000, decline());
    let b = lp("B", 10_000, decline());
    let events = run_stream(spec(Side::Buy), shared(&[&a, &b]), params(), 30_000).await;
    assert_eq!(
        trace(&events),
        [
            "0 started 2 lps",
            "80 error A declined: no quote for DOGE/USDT",
            "80 error B declined: no quote for DOGE/USDT",
            "80 ended no_quotes improvements=0 lp=- price=-",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_with_no_lps_ends_at_once() {
    let events = run_stream(spec(Side::Buy), Vec::new(), params(), 30_000).await;
    assert_eq!(
        trace(&events),
        [
            "0 started 0 lps",
            "0 ended no_quotes improvements=0 lp=- price=-"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_stream_ends_with_its_live_quote() {
    let a = lp("A", 10_000, vec![Step::price(100, dec!(100000.00))]);
    let stop = tokio::time::sleep(Duration::from_millis(1_234));
    let events = run_stream_until(
        spec(Side::Buy),
        shared(&[&a]),
        with_reference(params()),
        30_000,
        stop,
    )
    .await;
    assert_eq!(
        trace(&events).last().unwrap(),
        "1234 ended interrupted improvements=0 lp=A price=100100.00"
    );
}

#[tokio::test(start_paused = true)]
async fn a_thirty_second_stream_runs_in_paused_time() {
    let a = lp("A", 10_000, vec![Step::price(100, dec!(100000.00))]);
    let b = lp("B", 10_000, vec![Step::price(300, dec!(100001.00))]);
    // Paused time: the 30 s are stream time, reached without waiting.
    let events = run_stream(spec(Side::Buy), shared(&[&a, &b]), params(), 30_000).await;
    let lines = trace(&events);
    assert_eq!(
        lines.last().unwrap(),
        "30000 ended duration improvements=0 lp=A price=100100.00"
    );
    // With 10 s LP validity and a 2 s buffer, A's client validity ends 8 s
    // after its answer (8100 first). The first poll starting within 1.5 s
    // of that (7000) refreshes it, and completes when B answers (7300).
    assert_eq!(
        only(&lines, "locked"),
        [
            "300 locked A 100000.00 BestOfPoll",
            "7300 locked A 100000.00 Refresh",
            "14300 locked A 100000.00 Refresh",
            "21300 locked A 100000.00 Refresh",
            "28300 locked A 100000.00 Refresh",
        ]
    );
    assert!(only(&lines, "expired").is_empty());
}

/// The worked example of docs/concepts.md, run for real.
#[tokio::test(start_paused = true)]
async fn the_readme_worked_example_holds() {
    let lp1 = lp("LP1", 10_000, vec![Step::price(300, dec!(99995.00))]);
    let lp2 = lp(
        "LP2",
        10_000,
        vec![
            Step::price(120, dec!(100000.00)),
            Step::price(100, dec!(100000.00)),
            Step::price(100, dec!(99986.00)),
            Step::price(100, dec!(99985.00)),
        ],
    );
    let lp3 = lp("LP3", 10_000, vec![Step::price(450, dec!(100010.00))]);
    let mut params = params();
    params.markup = lp_rfq::market::Bps::new(dec!(5)).unwrap();
    let events = run_stream(
        spec(Side::Buy),
        shared(&[&lp1, &lp2, &lp3]),
        with_reference(params),
        1_700,
    )
    .await;
    let lines = trace(&events);
    assert_eq!(
        only(&lines, "client"),
        [
            "120 client LP2 100000.00->100050.00 first valid 8000",
            "300 client LP1 99995.00->100045.00 best_so_far valid 8000",
            "1600 client LP2 99985.00->100035.00 improvement valid 8000",
        ]
    );
    assert_eq!(
        only(&lines, "locked"),
        [
            "450 locked LP1 99995.00 BestOfPoll",
            "1600 locked LP2 99985.00 Improvement",
        ]
    );
    assert!(lines.contains(&"1100 quote LP2 99986.00".to_string()));
    let EventKind::ClientQuote(first) = &events[2].kind else {
        panic!("client quote expected")
    };
    assert_eq!(first.client_pays.to_string(), "150075.00");
}

/// An LP that never answers and counts how many of its calls are alive
/// (a call ends when its task is aborted and the future dropped).
struct Hanging {
    alive: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
    calls: std::sync::atomic::AtomicUsize,
}

struct Alive<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl lp_rfq::lp::LiquidityProvider for Hanging {
    fn name(&self) -> &str {
        "Hanging"
    }

    async fn quote(&self, _: &lp_rfq::lp::LpRequest) -> Result<lp_rfq::lp::LpQuote, LpError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.calls.fetch_add(1, SeqCst);
        let now = self.alive.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        let _alive = Alive(&self.alive);
        std::future::pending().await
    }

    async fn execute(&self, _: &lp_rfq::lp::LpOrder) -> lp_rfq::lp::OrderAnswer {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_hanging_lp_has_one_request_at_a_time_and_none_left_after_the_stream() {
    use std::sync::atomic::Ordering::SeqCst;
    let hanging = Arc::new(Hanging {
        alive: 0.into(),
        peak: 0.into(),
        calls: 0.into(),
    });
    let honest = lp("Honest", 10_000, vec![Step::price(100, dec!(100000.00))]);
    // The default settings: the 1000 ms timeout falls on every other poll
    // tick, so a new request goes out at the instant the old one times out.
    let lps = vec![hanging.clone() as SharedLp, honest.clone() as SharedLp];
    let events = run_stream(spec(Side::Buy), lps, params(), 10_000).await;
    // Let the aborted tasks be dropped.
    tokio::task::yield_now().await;
    let timeouts = only(&trace(&events), "error");
    assert_eq!(timeouts.len(), 9, "{timeouts:?}");
    assert_eq!(
        timeouts[0],
        "1000 error Hanging timeout: no answer within 1000 ms"
    );
    // Asked at 0, 1000, ..., 9000; each request aborted at its timeout.
    assert_eq!(hanging.calls.load(SeqCst), 10);
    assert_eq!(hanging.peak.load(SeqCst), 1);
    assert_eq!(hanging.alive.load(SeqCst), 0);
}
