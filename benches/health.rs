//! What an LP's shared health costs per request: the pure decisions
//! (admit + outcome, with and without a rate limit, and a stream's view of
//! it), and a whole quote through the [`Guarded`] wrapper against the same
//! instant LP unwrapped (the difference is the wrapper's cost: the mutex,
//! the clock reads, the deadline guard). Run with
//! `cargo bench --bench health`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use criterion::{criterion_group, criterion_main, Criterion};
use lp_rfq::clock::StreamClock;
use lp_rfq::lp::guarded::{Guarded, HealthFeed};
use lp_rfq::lp::health::{BreakerPolicy, Health, HealthPolicy, Outcome, RateLimit};
use lp_rfq::lp::{LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, SharedLp};
use lp_rfq::market::Side;
use rust_decimal_macros::dec;

/// An LP that answers at once.
struct Instant;

#[async_trait]
impl LiquidityProvider for Instant {
    fn name(&self) -> &str {
        "Instant"
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        Ok(LpQuote {
            lp: Arc::from("Instant"),
            request_id: request.request_id,
            side: request.side,
            pair: request.pair,
            price: dec!(100000.00),
            quantity: request.amount,
            valid_until_ms: 10_000,
            venue_ref: None,
        })
    }

    async fn execute(&self, _: &LpOrder) -> OrderAnswer {
        OrderAnswer::Rejected {
            reason: "bench".into(),
        }
    }
}

fn policy(rate: Option<RateLimit>) -> HealthPolicy {
    HealthPolicy {
        rate,
        breaker: BreakerPolicy::default(),
        fade_limit_pct: dec!(25),
    }
}

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("health");
    // A rate high enough that every request is admitted: the full path.
    let limits = [
        ("unlimited", None),
        (
            "rate_limited",
            Some(RateLimit {
                per_sec: dec!(1000000000),
                burst: 1,
            }),
        ),
    ];
    for (name, rate) in limits {
        let mut health = Health::new(policy(rate));
        let mut now = Duration::ZERO;
        group.bench_function(format!("admit_and_outcome/{name}"), |b| {
            b.iter(|| {
                now += Duration::from_micros(1);
                let admitted = health.admit(black_box(now));
                health.on_outcome(now, false, Outcome::Answered);
                black_box(health.take_change(now));
                admitted
            })
        });
    }
    let health = Health::new(policy(None));
    group.bench_function("view", |b| {
        b.iter(|| black_box(health.view(black_box(Duration::from_secs(1)))))
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bare: SharedLp = Arc::new(Instant);
    let guarded: SharedLp = Arc::new(Guarded::new(
        Arc::new(Instant),
        policy(Some(RateLimit {
            per_sec: dec!(1000000000),
            burst: 1,
        })),
        1_000,
        HealthFeed::default(),
    ));
    let request = runtime.block_on(async {
        LpRequest {
            request_id: 1,
            rfq_id: Arc::from("R"),
            side: Side::Buy,
            pair: "BTCUSDT".parse().unwrap(),
            amount: dec!(1),
            sent_ms: 0,
            clock: StreamClock::start(),
            fixed: lp_rfq::market::Leg::Base,
        }
    });
    for (name, lp) in [("bare", bare), ("guarded", guarded)] {
        group.bench_function(format!("quote/{name}"), |b| {
            b.iter(|| runtime.block_on(lp.quote(black_box(&request))).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
