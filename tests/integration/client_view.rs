//! The client view of whole streams (a fill after a last-look reject and
//! a fallback, an unknown outcome, an expiry, LP errors): nothing the desk
//! keeps to itself (an LP's name, price or words, a venue's reference, an
//! order id, the desk's P&L or markup) survives the projection.

use std::collections::BTreeSet;
use std::sync::Arc;

use lp_rfq::lp::scripted::{OrderReply, OrderStep, Reply, ScriptedLp, Step};
use lp_rfq::lp::{LpError, SharedLp};
use lp_rfq::market::Side;
use lp_rfq::rfq::client_view::client_view;
use lp_rfq::rfq::event::EventKind;
use lp_rfq::rfq::{RfqEvent, StreamCommand};
use rust_decimal_macros::dec;
use serde_json::Value;

use crate::support::{params, run_stream_with_commands, spec, with_reference};

fn accept_at(t_ms: u64) -> Vec<(u64, StreamCommand)> {
    vec![(t_ms, StreamCommand::Accept { quote_id: None })]
}

/// Fader quotes best and rejects on last look; Solid fills the fallback;
/// Flaky never quotes.
async fn rejected_then_filled() -> Vec<RfqEvent> {
    let fader = ScriptedLp::steps("Fader", 10_000, vec![Step::price(100, dec!(99990.00))])
        .with_orders(|_, _| OrderStep::reject(200, "last look: Fader moved to 99993.21"));
    let solid = ScriptedLp::steps("Solid", 10_000, vec![Step::price(150, dec!(99995.00))])
        .with_orders(|_, _| OrderStep::fill(60));
    let flaky = ScriptedLp::steps(
        "Flaky",
        10_000,
        vec![Step::fail(
            80,
            LpError::Unavailable("Flaky gateway 10.0.0.7 down".into()),
        )],
    );
    let lps = vec![
        Arc::new(fader) as SharedLp,
        Arc::new(solid) as SharedLp,
        Arc::new(flaky) as SharedLp,
    ];
    run_stream_with_commands(spec(Side::Buy), lps, params(), 30_000, accept_at(1_000)).await
}

/// Ghost's order is never answered: its outcome is unknown.
async fn unknown_outcome() -> Vec<RfqEvent> {
    let ghost = ScriptedLp::steps("Ghost", 10_000, vec![Step::price(90, dec!(100011.11))])
        .with_orders(|_, _| OrderStep {
            hold_ms: 100,
            reply: OrderReply::Unknown("Ghost socket reset after 99999.99".into()),
        });
    run_stream_with_commands(
        spec(Side::Sell),
        vec![Arc::new(ghost) as SharedLp],
        // A lone LP: the desk's reference corroborates it.
        with_reference(params()),
        30_000,
        accept_at(1_000),
    )
    .await
}

/// Brief's quote is firm for 2.5 s and then it declines: the client's
/// quote expires and is withdrawn.
async fn expired() -> Vec<RfqEvent> {
    let brief = ScriptedLp::steps(
        "Brief",
        10_000,
        vec![
            Step {
                delay_ms: 70,
                reply: Reply::PriceValidFor {
                    price: dec!(100022.22),
                    valid_for_ms: 2_500,
                },
            },
            Step::fail(70, LpError::Declined("Brief has no BTC left".into())),
        ],
    );
    run_stream_with_commands(
        spec(Side::Buy),
        vec![Arc::new(brief) as SharedLp],
        // A lone LP: the desk's reference corroborates it.
        with_reference(params()),
        5_000,
        Vec::new(),
    )
    .await
}

/// Every string of the desk's events that only the desk may know.
fn desk_private(events: &[RfqEvent]) -> BTreeSet<String> {
    let mut private = BTreeSet::new();
    let mut add = |text: &dyn ToString| {
        private.insert(text.to_string());
    };
    for event in events {
        match &event.kind {
            EventKind::Started(s) => s.lps.iter().for_each(|lp| add(lp)),
            EventKind::LpQuote(q) => {
                add(&q.lp);
                add(&q.price);
            }
            EventKind::LpError(e) => {
                add(&e.lp);
                add(&e.reason);
            }
            EventKind::ClientQuote(q) => {
                add(&q.lp);
                add(&q.lp_price);
            }
            EventKind::Locked(l) => {
                add(&l.lp);
                add(&l.price);
            }
            EventKind::LockExpired(x) => add(&x.lp),
            EventKind::Unverified(u) => {
                add(&u.lp);
                add(&u.price);
            }
            EventKind::Released(r) => {
                add(&r.lp);
                add(&r.price);
            }
            EventKind::OrderSent(o) => {
                add(&o.lp);
                add(&o.order_id);
                add(&o.lp_price);
                o.venue_ref.iter().for_each(|venue| add(venue));
            }
            EventKind::OrderRejected(r) => {
                add(&r.lp);
                add(&r.order_id);
                add(&r.reason);
            }
            EventKind::Filled(f) => {
                add(&f.lp);
                add(&f.order_id);
                add(&f.lp_price);
                add(&f.desk_pnl);
                f.venue_order_id.iter().for_each(|venue| add(venue));
            }
            EventKind::ExecutionUnknown(u) => {
                add(&u.lp);
                add(&u.order_id);
                add(&u.reason);
            }
            EventKind::NotFilled(n) => add(&n.reason),
            EventKind::LpHealth(h) => add(&h.lp),
            EventKind::BlotterError(e) => add(&e.reason),
            EventKind::Ended(e) => e.lp.iter().for_each(|lp| add(lp)),
        }
    }
    private
}

/// Every key of a JSON object, nested ones too.
fn keys(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                into.insert(key.clone());
                keys(inner, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| keys(item, into)),
        _ => {}
    }
}

/// The projection of `events` as JSON lines, checked against everything
/// desk-private in them; returns the lines' `event` names.
fn assert_nothing_private_survives(events: &[RfqEvent]) -> Vec<String> {
    let private = desk_private(events);
    let mut seen_keys = BTreeSet::new();
    let mut names = Vec::new();
    for event in client_view(events) {
        let line = serde_json::to_string(&event).unwrap();
        for secret in &private {
            assert!(!line.contains(secret.as_str()), "{secret:?} in {line}");
        }
        let value: Value = serde_json::from_str(&line).unwrap();
        keys(&value, &mut seen_keys);
        names.push(value["event"].as_str().unwrap().to_string());
    }
    let allowed = [
        "event",
        "rfq_id",
        "seq",
        "t_ms",
        "client",
        "side",
        "pair",
        "amount",
        "quote_id",
        "price",
        "client_pays",
        "pays_asset",
        "client_receives",
        "receives_asset",
        "valid_for_ms",
        "reason",
        "outcome",
        // A simulated price or fill says so, to the client too.
        "simulated",
        // A two-way request says so when it opens.
        "two_way",
    ];
    let unexpected: Vec<_> = seen_keys
        .iter()
        .filter(|key| !allowed.contains(&key.as_str()))
        .collect();
    assert!(unexpected.is_empty(), "keys {unexpected:?}");
    names
}

#[tokio::test(start_paused = true)]
async fn a_fill_after_a_last_look_reject_shows_the_client_no_lp() {
    let events = rejected_then_filled().await;
    let private = desk_private(&events);
    // The desk saw every LP, their prices, the reject, the fallback and
    // its P&L: the checks below look for all of them.
    for expected in [
        "Fader",
        "Solid",
        "Flaky",
        "99990.00",
        "99995.00",
        "last look: Fader moved to 99993.21",
        "Flaky gateway 10.0.0.7 down",
    ] {
        assert!(private.contains(expected), "{expected} in {private:?}");
    }
    assert!(events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Filled(f) if &*f.lp == "Solid")));

    let names = assert_nothing_private_survives(&events);
    assert_eq!(
        names,
        ["opened", "quote", "order_pending", "order_filled", "ended"]
    );
    let view = client_view(&events);
    let filled = serde_json::to_value(&view[3]).unwrap();
    // The client pays Fader's quote plus 10 bps (99990.00 × 1.001 =
    // 100089.99), though Solid filled the desk at 99995.00.
    assert_eq!(filled["price"], "100089.99");
    assert_eq!(filled["client_pays"], "150134.99");
    assert_eq!(view[4].seq, 5);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_outcome_shows_the_client_no_lp() {
    let events = unknown_outcome().await;
    assert!(desk_private(&events).contains("Ghost socket reset after 99999.99"));
    let names = assert_nothing_private_survives(&events);
    assert_eq!(
        names,
        ["opened", "quote", "order_pending", "order_unknown", "ended"]
    );
}

#[tokio::test(start_paused = true)]
async fn an_expired_quote_is_withdrawn_without_its_lp() {
    let events = expired().await;
    assert!(desk_private(&events).contains("Brief has no BTC left"));
    let names = assert_nothing_private_survives(&events);
    assert_eq!(names, ["opened", "quote", "quote_withdrawn", "ended"]);
}

#[tokio::test(start_paused = true)]
async fn a_two_way_stream_shows_the_client_both_sides_prices_and_no_lp() {
    let two_sided = |name: &str, offer, bid| {
        Arc::new(ScriptedLp::new(name, 10_000, move |call| {
            match call.side() {
                Side::Buy => Step::price(100, offer),
                Side::Sell => Step::price(150, bid),
            }
        })) as SharedLp
    };
    let lps = vec![
        two_sided("Alpha", dec!(100012.34), dec!(99987.65)),
        two_sided("Beta", dec!(100023.45), dec!(99976.54)),
    ];
    let accept = StreamCommand::AcceptSide {
        side: Side::Buy,
        quote_id: None,
    };
    let events = crate::support::run_two_way_with_commands(
        spec(Side::Buy),
        lps,
        with_reference(params()),
        5_000,
        vec![(1_000, accept)],
    )
    .await;
    let names = assert_nothing_private_survives(&events);
    assert_eq!(
        names,
        [
            "opened",
            "quote",
            "quote",
            "order_pending",
            "order_filled",
            "ended"
        ]
    );
    let view = client_view(&events);
    let opened = serde_json::to_value(&view[0]).unwrap();
    assert_eq!(opened["two_way"], true);
    let quote = |i: usize| serde_json::to_value(&view[i]).unwrap();
    // The offer (the client buys) and the bid (the client sells), each at
    // its LP price and 10 bps: 100012.34 × 1.001 = 100112.35234 → up;
    // 99987.65 × 0.999 = 99887.66235 → down.
    assert_eq!(
        (quote(1)["side"].clone(), quote(1)["price"].clone()),
        ("buy".into(), "100112.36".into())
    );
    assert_eq!(
        (quote(2)["side"].clone(), quote(2)["price"].clone()),
        ("sell".into(), "99887.66".into())
    );
    assert_eq!(quote(4)["price"], "100112.36");
}
