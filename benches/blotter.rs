//! Criterion benches for the blotter's writer: LP answers from many
//! concurrent streams written through the writer thread (channel, batching,
//! encoding, inserts, commit), reported in rows/s, against the same rows
//! inserted by a bare rusqlite loop on the same schema in the same run.
//! Run with `cargo bench --bench blotter`.

use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lp_rfq::blotter::{schema, Blotter};
use lp_rfq::market::{Bps, Side};
use lp_rfq::rfq::event::{EventKind, LpQuoteEvent, Started};
use lp_rfq::rfq::RfqEvent;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// Concurrent streams, as `lp-rfq bench --sessions 1000` runs them.
const RFQS: usize = 1000;
/// Answers per stream: 200k rows in all, enough for the per-row cost to
/// dominate the fixed cost of a commit.
const ANSWERS_PER_RFQ: usize = 200;

fn started(rfq_id: &Arc<str>, lps: &[Arc<str>]) -> RfqEvent {
    RfqEvent {
        kind: EventKind::Started(Box::new(Started {
            simulated_lps: Vec::new(),
            operator: None,
            channel: lp_rfq::rfq::Channel::Operator,
            side: Side::Buy,
            amount: dec!(1.5),
            pair: "BTCUSDT".parse().unwrap(),
            client: lp_rfq::rfq::ClientId::house(),
            lps: lps.to_vec(),
            markup_bps: Bps::new(dec!(5)).unwrap(),
            threshold_bps: Bps::new(dec!(1)).unwrap(),
            validity_buffer_ms: 2_000,
            poll_interval_ms: 500,
            lp_timeout_ms: 1_000,
            duration_ms: 30_000,
            speed: dec!(1),
            started_at: "2026-11-22T10:00:00.000Z".into(),
            simulated: true,
            two_way: false,
            fixed: lp_rfq::market::Leg::Base,
        })),
        rfq_id: rfq_id.clone(),
        t_ms: 0,
        two_way_side: None,
    }
}

fn answer(rfq_id: &Arc<str>, lps: &[Arc<str>], i: usize) -> RfqEvent {
    RfqEvent {
        kind: EventKind::LpQuote(LpQuoteEvent {
            simulated: false,
            lp: lps[i % lps.len()].clone(),
            price: Decimal::new(10_000_000 + (i % 997) as i64, 2),
            quantity: dec!(1.5),
            latency_ms: (i % 500) as u64,
            valid_for_ms: 10_000,
            poll: (i / 10) as u32,
        }),
        rfq_id: rfq_id.clone(),
        t_ms: i as u64,
        two_way_side: None,
    }
}

/// `RFQS` streams' worth of answers, interleaved as concurrent streams
/// deliver them.
fn workload() -> (Vec<RfqEvent>, Vec<RfqEvent>) {
    let lps: Vec<Arc<str>> = (1..=10).map(|i| Arc::from(format!("LP{i}"))).collect();
    let ids: Vec<Arc<str>> = (0..RFQS)
        .map(|r| Arc::from(format!("R-bench-{r}")))
        .collect();
    let starts = ids.iter().map(|id| started(id, &lps)).collect();
    let mut answers = Vec::with_capacity(RFQS * ANSWERS_PER_RFQ);
    for i in 1..=ANSWERS_PER_RFQ {
        for id in &ids {
            answers.push(answer(id, &lps, i));
        }
    }
    (starts, answers)
}

fn insert(c: &mut Criterion) {
    let (starts, answers) = workload();
    let mut group = c.benchmark_group("blotter_insert");
    group.sample_size(10);
    group.throughput(Throughput::Elements(answers.len() as u64));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    group.bench_function("writer", |b| {
        b.iter_custom(|iterations| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iterations {
                let dir = tempfile::tempdir().unwrap();
                let blotter = Blotter::open(&dir.path().join("b.db")).unwrap();
                let sink = blotter.sink();
                runtime.block_on(async {
                    for event in &starts {
                        sink.record(event.clone()).await;
                    }
                    sink.flush().await;
                });
                let events = answers.clone();
                // Timed until every row is committed, as the bare loop is.
                let began = Instant::now();
                runtime.block_on(async {
                    for event in events {
                        sink.record(event).await;
                    }
                    sink.flush().await;
                });
                total += began.elapsed();
                drop(sink);
                runtime.block_on(blotter.close());
            }
            total
        })
    });

    group.bench_function("bare_rusqlite", |b| {
        b.iter_custom(|iterations| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iterations {
                let dir = tempfile::tempdir().unwrap();
                let mut conn = schema::open(&dir.path().join("b.db"), true, schema::BUSY_TIMEOUT).unwrap();
                // The writer checkpoints on another thread; so that both sides
                // time the same work, the bare loop does not checkpoint either.
                conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
                let rfq_rows: Vec<i64> = {
                    let tx = conn.transaction().unwrap();
                    let rows = (0..RFQS)
                        .map(|r| {
                            tx.execute(
                                "INSERT INTO rfqs (rfq_id, side, amount, pair, base, quote, lps, markup_bps,
                                 threshold_bps, validity_buffer_ms, poll_interval_ms, lp_timeout_ms,
                                 duration_ms, started_at, started_ms, answers_from)
                                 VALUES (?1, 'buy', '1.5', 'BTCUSDT', 'BTC', 'USDT', '[]', '5', '1',
                                 2000, 500, 1000, 30000, '2026-11-22T10:00:00.000Z', 0, 1)",
                                [format!("R-bench-{r}")],
                            )
                            .unwrap();
                            tx.last_insert_rowid()
                        })
                        .collect();
                    for lp in 1..=10 {
                        tx.execute("INSERT INTO lps (name) VALUES (?1)", [format!("LP{lp}")])
                            .unwrap();
                    }
                    tx.commit().unwrap();
                    rows
                };
                let began = Instant::now();
                let tx = conn.transaction().unwrap();
                {
                    // The same row the writer stores: integer keys, packed
                    // decimals (units * 32 + scale), no wall time.
                    let mut insert = tx
                        .prepare(
                            "INSERT INTO answers (rfq, seq, t_ms, lp, poll, latency_ms, price,
                             quantity, valid_for_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        )
                        .unwrap();
                    for (n, event) in answers.iter().enumerate() {
                        let EventKind::LpQuote(q) = &event.kind else { unreachable!() };
                        let packed = |d: Decimal| ((d.mantissa() as i64) << 5) | i64::from(d.scale());
                        insert
                            .execute(rusqlite::params![
                                rfq_rows[n % RFQS],
                                n / RFQS + 1,
                                event.t_ms,
                                (n % 10) as i64 + 1,
                                q.poll,
                                q.latency_ms,
                                packed(q.price),
                                packed(q.quantity),
                                q.valid_for_ms,
                            ])
                            .unwrap();
                    }
                }
                tx.commit().unwrap();
                total += began.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, insert);
criterion_main!(benches);
