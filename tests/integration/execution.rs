//! Accepting a client quote under paused time: the order to the LP behind
//! it, last-look rejects falling back to the next best quote that honours
//! the client's price, fills, unknown outcomes and refused acceptances,
//! as exact event sequences.

use std::sync::Arc;

use lp_rfq::lp::scripted::{OrderReply, OrderStep, ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::market::Side;
use lp_rfq::rfq::StreamCommand;
use rust_decimal_macros::dec;

use crate::support::{params, run_stream_with_commands, spec, trace, with_reference};

fn lp(
    name: &str,
    price: rust_decimal::Decimal,
    delay_ms: u64,
    orders: OrderStep,
) -> Arc<ScriptedLp> {
    Arc::new(
        ScriptedLp::steps(name, 10_000, vec![Step::price(delay_ms, price)])
            .with_orders(move |_, _| orders.clone()),
    )
}

fn shared(lps: &[&Arc<ScriptedLp>]) -> Vec<SharedLp> {
    lps.iter().map(|lp| (*lp).clone() as SharedLp).collect()
}

fn accept_at(t_ms: u64) -> (u64, StreamCommand) {
    (t_ms, StreamCommand::Accept { quote_id: None })
}

/// The lines from the acceptance on.
fn from_order(lines: Vec<String>) -> Vec<String> {
    let first = lines
        .iter()
        .position(|line| line.contains(" order ") || line.contains("not_filled"))
        .expect("an order or a refusal");
    lines[first..]
        .iter()
        .filter(|line| line.split(' ').nth(1) != Some("quote"))
        .cloned()
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_accepted_quote_fills_at_the_accepted_price() {
    let a = lp("A", dec!(100000.00), 100, OrderStep::fill(150));
    let b = lp("B", dec!(100010.00), 200, OrderStep::fill(0));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a, &b]),
        params(),
        30_000,
        vec![accept_at(1_000)],
    )
    .await;
    assert_eq!(
        from_order(trace(&events)),
        [
            "1000 order A 100000.00 attempt 1 for Q-test-1",
            // 10 bps markup: 100000 × 1.001 = 100100.00; the desk keeps
            // 1.5 × 100 = 150.00 USDT.
            "1150 filled A 100000.00 client 100100.00 pays 150150.00 USDT receives 1.50000000 BTC pnl 150.00 USDT hold 150",
            "1150 ended accepted filled improvements=0 lp=A price=100100.00",
        ]
    );
    assert_eq!((a.orders(), b.orders()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_last_look_reject_falls_back_to_the_next_best_quote() {
    let a = lp(
        "A",
        dec!(100000.00),
        100,
        OrderStep::reject(200, "last look: price moved"),
    );
    let b = lp("B", dec!(100050.00), 150, OrderStep::fill(50));
    let c = lp("C", dec!(100020.00), 120, OrderStep::fill(30));
    let events = run_stream_with_commands(
        spec(Side::Sell),
        shared(&[&a, &b, &c]),
        params(),
        30_000,
        vec![accept_at(1_000)],
    )
    .await;
    // A client SELL: the highest bid (B) is locked, and B fills; the
    // desk keeps 1.5 × 100050 − 149924.92 = 150.08 USDT. (A's lone first
    // answer is unverified until C's agrees with it; C, the better of the
    // two, is then the first offer, Q-test-1, and B's the second.)
    assert_eq!(
        from_order(trace(&events)),
        [
            "1000 order B 100050.00 attempt 1 for Q-test-2",
            "1050 filled B 100050.00 client 99949.95 pays 1.50000000 BTC receives 149924.92 USDT pnl 150.08 USDT hold 50",
            "1050 ended accepted filled improvements=0 lp=B price=99949.95",
        ]
    );
    let _ = (a, c);
}

#[tokio::test(start_paused = true)]
async fn a_reject_falls_back_and_the_client_price_never_changes() {
    // BUY: A is best and rejects; B is next and still under the client
    // price (100100.00); it fills, and the desk keeps less.
    let a = lp(
        "A",
        dec!(100000.00),
        100,
        OrderStep::reject(200, "last look: price moved"),
    );
    let b = lp("B", dec!(100060.00), 150, OrderStep::fill(40));
    let c = lp("C", dec!(100150.00), 120, OrderStep::fill(0));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a, &b, &c]),
        params(),
        30_000,
        vec![accept_at(1_000)],
    )
    .await;
    assert_eq!(
        from_order(trace(&events)),
        [
            "1000 order A 100000.00 attempt 1 for Q-test-1",
            "1200 rejected A hold 200: last look: price moved",
            "1200 order B 100060.00 attempt 2 for Q-test-1",
            "1240 filled B 100060.00 client 100100.00 pays 150150.00 USDT receives 1.50000000 BTC pnl 60.00 USDT hold 40",
            "1240 ended accepted filled improvements=0 lp=B price=100100.00",
        ]
    );
    // C is above the client's price: an order there would lose money.
    assert_eq!((a.orders(), b.orders(), c.orders()), (1, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn when_every_lp_that_could_fill_rejects_the_quote_is_not_filled() {
    let a = lp(
        "A",
        dec!(100000.00),
        100,
        OrderStep::reject(100, "last look"),
    );
    let b = lp(
        "B",
        dec!(100050.00),
        150,
        OrderStep::reject(80, "size gone"),
    );
    let c = lp("C", dec!(100200.00), 120, OrderStep::fill(0));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a, &b, &c]),
        params(),
        30_000,
        vec![accept_at(2_000)],
    )
    .await;
    assert_eq!(
        from_order(trace(&events)),
        [
            "2000 order A 100000.00 attempt 1 for Q-test-1",
            "2100 rejected A hold 100: last look",
            "2100 order B 100050.00 attempt 2 for Q-test-1",
            "2180 rejected B hold 80: size gone",
            "2180 not_filled: rejected by A (last look), B (size gone); no other firm LP quote honours the client price 100100.00",
            "2180 ended accepted not_filled improvements=0 lp=- price=100100.00",
        ]
    );
    assert_eq!(c.orders(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_outcome_is_never_followed_by_another_order() {
    let a = lp("A", dec!(100000.00), 100, OrderStep::never());
    let b = lp("B", dec!(100010.00), 150, OrderStep::fill(0));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a, &b]),
        params(),
        30_000,
        vec![accept_at(1_000)],
    )
    .await;
    assert_eq!(
        from_order(trace(&events)),
        [
            "1000 order A 100000.00 attempt 1 for Q-test-1",
            "6000 unknown A: no answer within 5000 ms",
            "6000 ended accepted unknown improvements=0 lp=- price=100100.00",
        ]
    );
    assert_eq!(b.orders(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_adapter_that_says_unknown_or_panics_ends_unknown() {
    let unknown = OrderStep {
        hold_ms: 30,
        reply: OrderReply::Unknown("connection lost".into()),
    };
    let a = lp("A", dec!(100000.00), 100, unknown);
    let b = lp("B", dec!(100010.00), 150, OrderStep::fill(0));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a, &b]),
        params(),
        30_000,
        vec![accept_at(1_000)],
    )
    .await;
    assert_eq!(
        from_order(trace(&events))[1],
        "1030 unknown A: connection lost"
    );
    let panics = OrderStep {
        hold_ms: 10,
        reply: OrderReply::Panic("boom".into()),
    };
    let a = lp("A", dec!(100000.00), 100, panics);
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a, &b]),
        params(),
        30_000,
        vec![accept_at(1_000)],
    )
    .await;
    assert_eq!(
        from_order(trace(&events))[1],
        "1010 unknown A: lp panicked: boom"
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_fallback_is_not_sent_and_nothing_live_is_not_filled() {
    // A holds the order 11 s: by then B's latest quote (asked at 1000,
    // answered at 1150, valid 10 s) has expired, so no second order goes out.
    let a = lp(
        "A",
        dec!(100000.00),
        100,
        OrderStep::reject(11_000, "too slow"),
    );
    let b = lp("B", dec!(100010.00), 150, OrderStep::fill(0));
    let mut slow = params();
    slow.order_timeout_ms = 20_000;
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a, &b]),
        slow,
        30_000,
        vec![accept_at(1_000)],
    )
    .await;
    let lines = from_order(trace(&events));
    assert_eq!(lines[1], "12000 rejected A hold 11000: too slow");
    assert!(
        lines[2].starts_with("12000 not_filled: rejected by A (too slow)"),
        "{lines:?}"
    );
    assert_eq!(b.orders(), 0);

    // Accepting before any quote is live: not filled, with the reason.
    let a = lp("A", dec!(100000.00), 500, OrderStep::fill(0));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a]),
        params(),
        30_000,
        vec![accept_at(200)],
    )
    .await;
    assert_eq!(
        from_order(trace(&events)),
        [
            "200 not_filled: no client quote was live when the client accepted",
            "200 ended accepted not_filled improvements=0 lp=- price=-",
        ]
    );
    assert_eq!(a.orders(), 0);
}

#[tokio::test(start_paused = true)]
async fn accepting_twice_sends_one_order() {
    let a = lp("A", dec!(100000.00), 100, OrderStep::fill(300));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a]),
        // Alone at first: the desk's reference corroborates it.
        with_reference(params()),
        30_000,
        vec![accept_at(1_000), accept_at(1_100)],
    )
    .await;
    assert_eq!(
        from_order(trace(&events)),
        [
            "1000 order A 100000.00 attempt 1 for Q-test-1",
            "1300 filled A 100000.00 client 100100.00 pays 150150.00 USDT receives 1.50000000 BTC pnl 150.00 USDT hold 300",
            "1300 ended accepted filled improvements=0 lp=A price=100100.00",
        ]
    );
    assert_eq!(a.orders(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stop_or_the_end_of_the_stream_waits_for_the_order_in_flight() {
    let a = lp("A", dec!(100000.00), 100, OrderStep::fill(400));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a]),
        // Alone at first: the desk's reference corroborates it.
        with_reference(params()),
        30_000,
        vec![accept_at(1_000), (1_100, StreamCommand::Stop)],
    )
    .await;
    assert_eq!(
        trace(&events).last().unwrap(),
        // The stop is why it ended; the fill is how the acceptance ended.
        "1400 ended interrupted filled improvements=0 lp=A price=100100.00"
    );
    // Accepted 100 ms before the stream's end: the fill lands after it.
    let a = lp("A", dec!(100000.00), 100, OrderStep::fill(400));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a]),
        // Alone at first: the desk's reference corroborates it.
        with_reference(params()),
        2_000,
        vec![accept_at(1_900)],
    )
    .await;
    assert_eq!(
        trace(&events).last().unwrap(),
        "2300 ended duration filled improvements=0 lp=A price=100100.00"
    );
}

#[tokio::test(start_paused = true)]
async fn after_acceptance_nothing_more_is_locked_or_offered() {
    // Accepted during the first poll: A's quote is live, B answers later
    // with a better price and completes the poll. No lock, no new client
    // quote may follow the acceptance.
    let a = lp("A", dec!(100000.00), 100, OrderStep::fill(1_000));
    let b = lp("B", dec!(99990.00), 400, OrderStep::fill(0));
    let events = run_stream_with_commands(
        spec(Side::Buy),
        shared(&[&a, &b]),
        // Alone at first: the desk's reference corroborates it.
        with_reference(params()),
        30_000,
        vec![accept_at(150)],
    )
    .await;
    let lines = trace(&events);
    let order = lines.iter().position(|l| l.contains(" order ")).unwrap();
    let kinds: Vec<&str> = lines[order..]
        .iter()
        .filter_map(|l| l.split(' ').nth(1))
        .collect();
    assert_eq!(kinds, ["order", "quote", "filled", "ended"], "{lines:#?}");
    assert_eq!(
        lines.last().unwrap(),
        "1150 ended accepted filled improvements=0 lp=A price=100100.00"
    );
}
