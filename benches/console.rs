//! Criterion bench for the console: one frame of a 50-LP live stream drawn
//! into ratatui's `TestBackend` (layout, widgets and the buffer diff), and
//! the reducer applying one event. Run with `cargo bench --bench console`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use lp_rfq::clock::StreamClock;
use lp_rfq::lp::LpQuote;
use lp_rfq::market::{Bps, Pair, Side};
use lp_rfq::rfq::engine::{Answer, Engine, EngineParams, MedianScratch};
use lp_rfq::rfq::RfqEvent;
use lp_rfq::rfq::RfqSpec;
use lp_rfq::ui::render::draw;
use lp_rfq::ui::state::ConsoleState;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const LPS: usize = 50;

/// Ten polls of a real 50-LP stream, decided by the real engine, so the
/// board has a lock, improvements, distances and arrows to draw.
fn live_stream() -> Vec<RfqEvent> {
    let names: Vec<Arc<str>> = (1..=LPS).map(|i| Arc::from(format!("LP{i}"))).collect();
    let spec = RfqSpec {
        side: Side::Buy,
        amount: dec!(1.5),
        pair: "BTCUSDT".parse().unwrap(),
        fixed: lp_rfq::market::Leg::Base,
    };
    let params = EngineParams {
        markup: Bps::new(dec!(5)).unwrap(),
        threshold: Bps::new(dec!(1)).unwrap(),
        validity_buffer_ms: 2_000,
        poll_interval_ms: 100,
        lp_timeout_ms: 1_000,
        order_timeout_ms: 5_000,
        max_deviation: Bps::new(rust_decimal_macros::dec!(200)).unwrap(),
        fade_tolerance: Bps::new(rust_decimal_macros::dec!(2)).unwrap(),
    };
    let mut engine = Engine::new(
        Arc::from("R-bench"),
        spec,
        names.clone(),
        params,
        StreamClock::start(),
    );
    let pair: Pair = "BTCUSDT".parse().unwrap();
    engine.set_simulated(&vec![true; names.len()]);
    let mut events = vec![engine.started(30_000)];
    let mut median = MedianScratch::new();
    let mut dispatch = Vec::new();
    for poll in 0..10u64 {
        let now = poll * 100;
        engine.begin_poll(now, &mut dispatch, &mut events);
        for (k, request) in dispatch.clone().iter().enumerate() {
            let cents = ((request.lp as i64 * 37 + poll as i64 * 11) % 900) - poll as i64 * 120;
            let quote = LpQuote {
                lp: names[request.lp].clone(),
                request_id: request.request_id,
                side: Side::Buy,
                pair,
                price: dec!(100000) + Decimal::new(cents, 2),
                quantity: dec!(1.5),
                valid_until_ms: now + 10_000,
                venue_ref: None,
            };
            engine.on_answer(
                now + 10 + k as u64,
                request.lp,
                request.request_id,
                Answer::Quote(quote),
                &mut median,
                &mut events,
            );
        }
    }
    events
}

fn frame(c: &mut Criterion) {
    let events = live_stream();
    let state = ConsoleState::from_events(&events, 1_050);
    for (width, height) in [(80u16, 24u16), (160, 50)] {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        c.bench_function(&format!("console/frame_50_lps_{width}x{height}"), |b| {
            b.iter(|| {
                terminal
                    .draw(|frame| draw(frame, black_box(&state)))
                    .unwrap();
            })
        });
    }
    let mut state = ConsoleState::from_events(&events[..events.len() - 60], 900);
    let tail = &events[events.len() - 60..];
    let mut next = 0;
    c.bench_function("console/apply_event", |b| {
        b.iter(|| {
            let event = &tail[next % tail.len()];
            next += 1;
            state.apply(black_box(event), event.t_ms);
        })
    });
}

criterion_group!(benches, frame);
criterion_main!(benches);
