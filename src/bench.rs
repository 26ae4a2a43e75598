//! `lp-rfq bench`: a load harness that runs many concurrent RFQ streams
//! against in-process LPs through the same session engine and locking rules
//! as a real stream, and reports throughput, added latency and memory as
//! one JSON line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::blotter::Blotter;
use crate::clock::StreamClock;
use crate::config::Settings;
use crate::lp::{LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, SharedLp};
use crate::market::{Pair, Side};
use crate::rfq::event::EventKind;
use crate::rfq::probe::{EngineProbe, LatencyHistogram};
use crate::rfq::{EngineParams, RfqEvent, RfqSpec, Session};

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Concurrent RFQ streams
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub sessions: usize,
    /// In-process LPs per stream (a bench never asks real venues)
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub lps: usize,
    /// Seconds to run
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub duration: u64,
    /// Milliseconds between polls; 0 = ask again as soon as a poll completes
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub poll_ms: u64,
    /// LP answer delay in ms; 0 = answer at once
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub lp_delay_ms: u64,
    /// Spread the LPs' delays evenly from --lp-delay-ms up to this (ms)
    #[arg(long, value_name = "MS")]
    pub lp_delay_max_ms: Option<u64>,
    /// Record into this blotter (kept); without it a scratch blotter in
    /// the temp directory, removed at the end (BLOTTER_PATH is not read:
    /// a load test never fills the desk's blotter)
    #[arg(long, value_name = "PATH", conflicts_with = "no_blotter")]
    pub blotter: Option<PathBuf>,
    /// Record nothing: measure the engine without a blotter
    #[arg(long)]
    pub no_blotter: bool,
}

/// The one JSON line the bench prints.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub sessions: usize,
    pub lps: usize,
    pub duration_s: f64,
    /// LP answers processed (valid quotes and errors).
    pub responses: u64,
    pub per_sec: u64,
    pub locks: u64,
    pub client_quotes: u64,
    pub added_latency_p50_us: f64,
    pub added_latency_p99_us: f64,
    /// Waits for room in a full output channel (consumers' back-pressure,
    /// e.g. the blotter at its insert limit), apart from the added latency.
    pub output_wait_p99_us: f64,
    /// Time from a stream's start to its first client quote, minus its
    /// fastest LP's delay (only with delays).
    pub first_quote_over_fastest_p50_us: Option<f64>,
    pub first_quote_over_fastest_p99_us: Option<f64>,
    pub peak_rss_mb: f64,
    /// Rows the blotter wrote for LP answers (null with no blotter).
    pub blotter_rows: Option<u64>,
    /// Largest size the blotter's `-wal` file reached, in MB, sampled by
    /// its checkpointer every 250 ms (null with no blotter).
    pub wal_peak_mb: Option<f64>,
}

/// An in-process LP that answers after a fixed delay with a cheap,
/// deterministic price path, so the per-answer cost is the engine's, not
/// the LP's. Prices wobble ±4.5 bps and improve for the client by 0.25 bp a
/// call in a 100-call saw-tooth, so competitors keep beating the frozen
/// lock and locks change hands every few polls, as in a busy market.
struct BenchLp {
    name: Arc<str>,
    index: usize,
    delay: Duration,
}

const BENCH_REFERENCE: Decimal = dec!(100000);

impl BenchLp {
    fn price(&self, side: Side, call: usize) -> Decimal {
        let wobble = ((self.index * 7 + call * 5) % 16) as i64 * 600 - 4_500;
        let improvement = (call % 100) as i64 * 250;
        let cents = wobble - improvement;
        match side {
            Side::Buy => BENCH_REFERENCE + Decimal::new(cents, 2),
            Side::Sell => BENCH_REFERENCE - Decimal::new(cents, 2),
        }
    }
}

#[async_trait]
impl LiquidityProvider for BenchLp {
    fn name(&self) -> &str {
        &self.name
    }

    fn simulated(&self) -> bool {
        true
    }

    fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        if !self.delay.is_zero() {
            // Boxed so that the timer's state is only allocated by LPs
            // that wait: 10000 sessions × 10 LPs keep their requests small.
            Box::pin(answer_after(self.delay)).await;
        }
        // The request id counts this session's requests: a per-session
        // price path with no state shared between sessions.
        let call = request.request_id as usize;
        Ok(LpQuote {
            lp: self.name.clone(),
            request_id: request.request_id,
            side: request.side,
            pair: request.pair,
            price: self.price(request.side, call),
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

/// Waits `delay` precisely. A network LP's answer wakes the engine the
/// moment its bytes arrive; tokio's timer instead fires on a whole
/// millisecond tick at or after the deadline, which alone would add up to
/// ~1 ms to every simulated answer. So the bench LP sleeps to just short of
/// the deadline and yields until it is reached.
async fn answer_after(delay: Duration) {
    let deadline = Instant::now() + delay;
    if let Some(coarse) = delay.checked_sub(TIMER_SLACK) {
        tokio::time::sleep(coarse).await;
    }
    while Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
}

/// How far before an answer's deadline the timer hands over to yielding.
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// The desk's LPs: like real providers, one set serves every session.
fn bench_lps(options: &BenchOptions) -> Vec<SharedLp> {
    (0..options.lps)
        .map(|index| {
            let delay_ms = match options.lp_delay_max_ms {
                Some(max) if options.lps > 1 => {
                    let span = max.saturating_sub(options.lp_delay_ms);
                    options.lp_delay_ms + span * index as u64 / (options.lps as u64 - 1)
                }
                _ => options.lp_delay_ms,
            };
            Arc::new(BenchLp {
                name: Arc::from(format!("LP{}", index + 1)),
                index,
                delay: Duration::from_millis(delay_ms),
            }) as SharedLp
        })
        .collect()
}

/// What the bench's consumer counts.
#[derive(Debug, Default)]
struct Tally {
    responses: u64,
    locks: u64,
    client_quotes: u64,
    /// Per session: time from its start to its first client quote.
    first_quote: Vec<Option<Duration>>,
}

impl Tally {
    fn count(&mut self, event: &RfqEvent, prefix: &str, starts: &[Instant]) {
        match &event.kind {
            EventKind::LpQuote(_) | EventKind::LpError(_) => self.responses += 1,
            EventKind::Locked(_) => self.locks += 1,
            EventKind::ClientQuote(_) => {
                self.client_quotes += 1;
                let index = event
                    .rfq_id
                    .strip_prefix(prefix)
                    .and_then(|index| index.parse::<usize>().ok());
                if let Some(index) = index {
                    if self.first_quote[index].is_none() {
                        self.first_quote[index] = Some(starts[index].elapsed());
                    }
                }
            }
            _ => {}
        }
    }
}

/// Peak resident memory of this process so far, in MB (Linux).
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn micros(duration: Duration) -> f64 {
    (duration.as_nanos() as f64 / 100.0).round() / 10.0
}

/// Where the bench writes its blotter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchBlotter {
    /// `--no-blotter`.
    Off,
    /// `--blotter PATH`: an existing blotter gains this run's RFQs.
    At(PathBuf),
    /// Neither: a throw-away file in the temp directory, so that a bench
    /// never fills the desk's own blotter with synthetic RFQs.
    Scratch,
}

/// Rows in the blotter's answer tables (`lp_quotes` + `lp_errors`) for the
/// RFQs whose id starts with `prefix`.
fn answer_rows(path: &Path, prefix: &str) -> anyhow::Result<u64> {
    // Read-write, so that closing it can tidy the WAL files away.
    let conn = rusqlite::Connection::open(path)?;
    let pattern = format!("{prefix}%");
    let rows: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM lp_quotes JOIN rfqs ON rfqs.id = lp_quotes.rfq WHERE rfqs.rfq_id LIKE ?1)
              + (SELECT count(*) FROM lp_errors JOIN rfqs ON rfqs.id = lp_errors.rfq WHERE rfqs.rfq_id LIKE ?1)",
        [&pattern],
        |row| row.get(0),
    )?;
    Ok(rows as u64)
}

/// Runs the benchmark and returns its report.
pub async fn run(
    options: &BenchOptions,
    settings: &Settings,
    blotter: BenchBlotter,
) -> anyhow::Result<BenchReport> {
    anyhow::ensure!(
        options.sessions > 0,
        "invalid --sessions '0': must be at least 1"
    );
    anyhow::ensure!(options.lps > 0, "invalid --lps '0': must be at least 1");
    anyhow::ensure!(
        options.duration > 0,
        "invalid --duration '0': must be at least 1 second"
    );
    let pair: Pair = "BTCUSDT".parse()?;
    let params = EngineParams {
        poll_interval_ms: options.poll_ms,
        ..settings.engine
    };
    let duration_ms = options.duration * 1000;
    let probe = Arc::new(EngineProbe::default());
    let (sender, mut events) = mpsc::channel::<RfqEvent>(8 * 1024);
    let lps = bench_lps(options);
    let scratch = tempfile::Builder::new().prefix("lp-rfq-bench-").tempdir()?;
    let blotter_path = match blotter {
        BenchBlotter::Off => None,
        BenchBlotter::At(path) => Some(path),
        BenchBlotter::Scratch => Some(scratch.path().join("blotter.db")),
    };
    let blotter = match &blotter_path {
        Some(path) => Some(Blotter::open(path)?),
        None => None,
    };
    let sink = blotter.as_ref().map(Blotter::sink);
    // This run's RFQ ids, unique across runs into one blotter.
    let prefix = format!("B{}-", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));

    let started = Instant::now();
    let mut sessions = Vec::with_capacity(options.sessions);
    let mut starts = Vec::with_capacity(options.sessions);
    for index in 0..options.sessions {
        let session = Session {
            rfq_id: Arc::from(format!("{prefix}{index}")),
            spec: RfqSpec {
                side: if index % 2 == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                },
                amount: dec!(1.5),
                pair,
            },
            lps: lps.clone(),
            params,
            duration_ms,
            clock: StreamClock::start(),
            band: None,
        };
        let sender = sender.clone();
        let probe = probe.clone();
        starts.push(Instant::now());
        sessions.push(tokio::spawn(async move {
            // Nobody stops a bench stream: its inbox is closed from the start.
            let (_, inbox) = mpsc::channel(1);
            session.run_probed(sender, inbox, Some(&probe)).await
        }));
    }
    drop(sender);

    // The consumer runs as a task on the runtime's workers (not on the
    // thread that blocks on `main`), like the outputs of a real stream.
    let counting = {
        let sink = sink.clone();
        let prefix = prefix.clone();
        let sessions = options.sessions;
        tokio::spawn(async move {
            let mut tally = Tally {
                first_quote: vec![None; sessions],
                ..Tally::default()
            };
            while let Some(event) = events.recv().await {
                tally.count(&event, &prefix, &starts);
                if let Some(sink) = &sink {
                    sink.record(event).await;
                }
            }
            tally
        })
    };
    let Tally {
        responses,
        locks,
        client_quotes,
        first_quote,
    } = counting.await?;
    for session in sessions {
        session.await?;
    }
    // Throughput counts until every answer is committed, not just sent
    // (closing then only tidies the WAL away).
    if let Some(sink) = sink {
        sink.flush().await;
    }
    let elapsed = started.elapsed();
    let (blotter_rows, wal_peak_mb) = match (blotter, &blotter_path) {
        (Some(blotter), Some(path)) => {
            let stats = blotter.close().await;
            tracing::info!(?stats, "bench blotter closed");
            let mb = stats.wal_peak_bytes as f64 / (1024.0 * 1024.0);
            (
                Some(answer_rows(path, &prefix)?),
                Some((mb * 10.0).round() / 10.0),
            )
        }
        _ => (None, None),
    };

    // The fastest LP of every stream answers after --lp-delay-ms.
    let (first_p50, first_p99) = if options.lp_delay_ms > 0 {
        let fastest = Duration::from_millis(options.lp_delay_ms);
        let overs = LatencyHistogram::new();
        for first in first_quote.iter().flatten() {
            overs.record(first.saturating_sub(fastest));
        }
        (
            Some(micros(overs.percentile(50))),
            Some(micros(overs.percentile(99))),
        )
    } else {
        (None, None)
    };
    Ok(BenchReport {
        sessions: options.sessions,
        lps: options.lps,
        duration_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        responses,
        per_sec: (responses as f64 / elapsed.as_secs_f64()) as u64,
        locks,
        client_quotes,
        added_latency_p50_us: micros(probe.added.percentile(50)),
        added_latency_p99_us: micros(probe.added.percentile(99)),
        output_wait_p99_us: micros(probe.output_wait.percentile(99)),
        first_quote_over_fastest_p50_us: first_p50,
        first_quote_over_fastest_p99_us: first_p99,
        peak_rss_mb: (peak_rss_mb() * 10.0).round() / 10.0,
        blotter_rows,
        wal_peak_mb,
    })
}
