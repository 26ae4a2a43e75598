//! The time from the client's acceptance to the `order_sent` event: the
//! Accept command through the stream's inbox, the engine's decision, the
//! order task spawned and the event handed to the consumer, on the
//! multi-threaded runtime the binary uses. Prints p50/p99 over many
//! accepts. Run with `cargo bench --bench accept`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lp_rfq::clock::StreamClock;
use lp_rfq::desk::start_session;
use lp_rfq::lp::scripted::{OrderStep, ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::market::{Bps, Side};
use lp_rfq::rfq::engine::EngineParams;
use lp_rfq::rfq::event::EventKind;
use lp_rfq::rfq::RfqSpec;
use lp_rfq::rfq::{Session, StreamCommand};
use rust_decimal_macros::dec;

const ACCEPTS: usize = 2_000;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it once.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let runs = if quick { 20 } else { ACCEPTS };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut took: Vec<Duration> = runtime.block_on(async {
        let mut took = Vec::with_capacity(runs);
        for _ in 0..runs {
            took.push(one_accept().await);
        }
        took
    });
    took.sort();
    let at = |p: usize| took[(p * took.len()).div_ceil(100).max(1) - 1];
    println!(
        "accept -> order_sent over {runs} accepts: p50 {:.1} us, p99 {:.1} us",
        at(50).as_nanos() as f64 / 1000.0,
        at(99).as_nanos() as f64 / 1000.0
    );
}

/// One stream with an LP that answers at once; accepts its first quote.
async fn one_accept() -> Duration {
    let lp = ScriptedLp::steps("LP1", 10_000, vec![Step::price(0, dec!(100000.00))])
        .with_orders(|_, _| OrderStep::fill(0));
    let session = Session {
        rfq_id: Arc::from("R-bench"),
        spec: RfqSpec {
            side: Side::Buy,
            amount: dec!(1.5),
            pair: "BTCUSDT".parse().unwrap(),
            fixed: lp_rfq::market::Leg::Base,
        },
        lps: vec![Arc::new(lp) as SharedLp],
        params: EngineParams {
            markup: Bps::new(dec!(5)).unwrap(),
            threshold: Bps::new(dec!(1)).unwrap(),
            validity_buffer_ms: 2_000,
            poll_interval_ms: 500,
            lp_timeout_ms: 1_000,
            order_timeout_ms: 5_000,
            max_deviation: Bps::new(rust_decimal_macros::dec!(200)).unwrap(),
            fade_tolerance: Bps::new(rust_decimal_macros::dec!(2)).unwrap(),
        },
        duration_ms: 30_000,
        clock: StreamClock::start(),
        band: None,
        reference: None,
        desk_reference: None,
        client: lp_rfq::rfq::ClientId::house(),
        operator: None,
        channel: lp_rfq::rfq::Channel::Operator,
    };
    let mut handle = start_session(session, None);
    let mut accepted_at = None;
    let mut took = Duration::ZERO;
    while let Some(event) = handle.events.recv().await {
        match event.kind {
            EventKind::Locked(_) if accepted_at.is_none() => {
                accepted_at = Some(Instant::now());
                handle.send(StreamCommand::Accept { quote_id: None });
            }
            EventKind::OrderSent(_) => {
                took = accepted_at.map(|at| at.elapsed()).unwrap_or_default();
            }
            _ => {}
        }
    }
    took
}
