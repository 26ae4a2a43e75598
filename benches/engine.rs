//! Criterion benches for the per-answer path: the selection and lock
//! decision for 3, 20 and 200 LPs, client pricing, and event
//! serialisation to JSON. Run with `cargo bench --bench engine`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lp_rfq::clock::StreamClock;
use lp_rfq::lp::LpQuote;
use lp_rfq::market::{Bps, Pair, Side};
use lp_rfq::rfq::engine::{Answer, Dispatch, Engine, EngineParams, MedianScratch};
use lp_rfq::rfq::pricing::{client_price, price_client};
use lp_rfq::rfq::RfqEvent;
use lp_rfq::rfq::RfqSpec;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

fn params() -> EngineParams {
    EngineParams {
        markup: Bps::new(dec!(5)).unwrap(),
        threshold: Bps::new(dec!(1)).unwrap(),
        validity_buffer_ms: 2_000,
        poll_interval_ms: 500,
        lp_timeout_ms: 1_000,
        order_timeout_ms: 5_000,
        max_deviation: Bps::new(rust_decimal_macros::dec!(200)).unwrap(),
        fade_tolerance: Bps::new(rust_decimal_macros::dec!(2)).unwrap(),
    }
}

fn spec() -> RfqSpec {
    RfqSpec {
        side: Side::Buy,
        amount: dec!(1.5),
        pair: "BTCUSDT".parse().unwrap(),
        fixed: lp_rfq::market::Leg::Base,
    }
}

/// One whole poll: every asked LP's answer validated, compared, locked or
/// not, priced when it wins, and emitted. Prices drift so that the lock
/// moves now and then, as in a live market.
fn decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    for lps in [3usize, 20, 200] {
        let names: Vec<Arc<str>> = (0..lps).map(|i| Arc::from(format!("LP{i}"))).collect();
        let mut engine = Engine::new(
            Arc::from("R-bench"),
            spec(),
            names.clone(),
            params(),
            StreamClock::start(),
        );
        let pair: Pair = "BTCUSDT".parse().unwrap();
        let mut dispatch: Vec<Dispatch> = Vec::with_capacity(lps);
        let mut out: Vec<RfqEvent> = Vec::with_capacity(lps * 2);
        // One set for every answer, as a session lends its thread's.
        let mut median = MedianScratch::new();
        let mut round = 0i64;
        // After the first poll the locked LP is not asked: lps − 1 answers.
        group.throughput(Throughput::Elements(lps as u64 - 1));
        group.bench_with_input(BenchmarkId::from_parameter(lps), &lps, |b, _| {
            b.iter(|| {
                round += 1;
                engine.begin_poll(1_000, &mut dispatch, &mut out);
                for request in dispatch.iter() {
                    let cents = ((request.lp as i64 * 37 + round * 11) % 400) - round % 1000;
                    let quote = LpQuote {
                        lp: names[request.lp].clone(),
                        request_id: request.request_id,
                        side: Side::Buy,
                        pair,
                        price: dec!(100000) + Decimal::new(cents, 2),
                        quantity: dec!(1.5),
                        valid_until_ms: 11_000,
                        venue_ref: None,
                    };
                    engine.on_answer(
                        1_000,
                        request.lp,
                        request.request_id,
                        Answer::Quote(quote),
                        &mut median,
                        &mut out,
                    );
                }
                black_box(out.len());
                out.clear();
            })
        });
    }
    group.finish();
}

fn pricing(c: &mut Criterion) {
    let pair: Pair = "BTCUSDT".parse().unwrap();
    let markup = Bps::new(dec!(5)).unwrap();
    c.bench_function("pricing/client_price", |b| {
        b.iter(|| client_price(black_box(Side::Buy), black_box(dec!(100003.37)), markup, 2))
    });
    c.bench_function("pricing/price_client_with_notional", |b| {
        b.iter(|| {
            price_client(
                black_box(Side::Sell),
                &pair,
                black_box(dec!(1.5)),
                black_box(dec!(100003.37)),
                markup,
            )
        })
    });
}

fn serialisation(c: &mut Criterion) {
    // Real events from a real decision, so every field is realistic.
    let names: Vec<Arc<str>> = (0..3).map(|i| Arc::from(format!("LP{i}"))).collect();
    let mut engine = Engine::new(
        Arc::from("R20261122-101010-123"),
        spec(),
        names.clone(),
        params(),
        StreamClock::start(),
    );
    let mut dispatch = Vec::new();
    let mut out = Vec::new();
    let mut median = MedianScratch::new();
    engine.begin_poll(0, &mut dispatch, &mut out);
    let quote = LpQuote {
        lp: names[0].clone(),
        request_id: dispatch[0].request_id,
        side: Side::Buy,
        pair: "BTCUSDT".parse().unwrap(),
        price: dec!(100003.37),
        quantity: dec!(1.5),
        valid_until_ms: 10_120,
        venue_ref: None,
    };
    engine.on_answer(
        120,
        0,
        dispatch[0].request_id,
        Answer::Quote(quote),
        &mut median,
        &mut out,
    );
    let mut line = Vec::with_capacity(512);
    let house = lp_rfq::rfq::ClientId::house();
    for event in &out {
        c.bench_function(&format!("json/{}", event.kind.name()), |b| {
            b.iter(|| {
                line.clear();
                lp_rfq::output::json::write_event(
                    &mut line,
                    black_box(event),
                    &house,
                    lp_rfq::market::Leg::Base,
                )
                .unwrap();
                black_box(line.len())
            })
        });
    }
}

criterion_group!(benches, decision, pricing, serialisation);
criterion_main!(benches);
