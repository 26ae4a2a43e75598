//! Blotter write throughput: 1000 concurrent sessions push synthetic events
//! into one writer. `cargo run --release --example blotter_bench [SESSIONS]
//! [EVENTS_PER_SESSION]` prints rows/s and the back-pressure waits.

use std::sync::Arc;
use std::time::Instant;

use lp_rfq::blotter::Blotter;
use lp_rfq::market::{Bps, Side};
use lp_rfq::rfq::event::{EventKind, LpQuoteEvent, Started};
use lp_rfq::rfq::RfqEvent;
use rust_decimal::Decimal;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let sessions: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let per_session: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("bench.db");
    let blotter = Blotter::open(&path).expect("a blotter");
    let lps: Vec<Arc<str>> = (1..=10).map(|i| Arc::from(format!("LP{i}"))).collect();
    let began = Instant::now();
    let mut tasks = Vec::new();
    for session in 0..sessions {
        let sink = blotter.sink();
        let lps = lps.clone();
        tasks.push(tokio::spawn(async move {
            let rfq_id: Arc<str> = Arc::from(format!("R-bench-{session}"));
            let started = Started {
                side: Side::Buy,
                amount: Decimal::new(15, 1),
                pair: "BTCUSDT".parse().expect("a pair"),
                lps: lps.clone(),
                markup_bps: Bps::new(Decimal::from(5)).expect("bps"),
                threshold_bps: Bps::new(Decimal::ONE).expect("bps"),
                validity_buffer_ms: 2_000,
                poll_interval_ms: 500,
                lp_timeout_ms: 1_000,
                duration_ms: 30_000,
                started_at: "2026-11-22T10:00:00.000Z".into(),
            };
            sink.record(RfqEvent {
                kind: EventKind::Started(Box::new(started)),
                rfq_id: rfq_id.clone(),
                t_ms: 0,
            })
            .await;
            for i in 1..per_session {
                let quote = LpQuoteEvent {
                    lp: lps[(i % 10) as usize].clone(),
                    price: Decimal::new(10_000_000 + (i % 997) as i64, 2),
                    quantity: Decimal::new(150_000_000, 8),
                    latency_ms: i % 500,
                    valid_for_ms: 10_000,
                    poll: (i / 10) as u32,
                };
                sink.record(RfqEvent {
                    kind: EventKind::LpQuote(quote),
                    rfq_id: rfq_id.clone(),
                    t_ms: i,
                })
                .await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("a session");
    }
    let sent = began.elapsed();
    let stats = blotter.close().await;
    let elapsed = began.elapsed();
    println!(
        "{} rows from {sessions} sessions in {:.2} s ({:.0} rows/s; sending took {:.2} s); commits {}, back-pressure waits {}, lost {}",
        stats.rows,
        elapsed.as_secs_f64(),
        stats.rows as f64 / elapsed.as_secs_f64(),
        sent.as_secs_f64(),
        stats.commits,
        stats.backpressure_waits,
        stats.lost
    );
}
