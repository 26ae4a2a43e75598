//! `lp-rfq bench`: a load harness that runs many concurrent RFQ streams
//! against in-process LPs through the same session engine and locking rules
//! as a real stream, and reports throughput, added latency and memory as
//! one JSON line.

mod arrival;
mod histogram;
mod probe;
mod through_client_api;
mod through_server;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::blotter::{Blotter, BlotterAt, BlotterSink};
use crate::clock::StreamClock;
use crate::config::Settings;
use crate::desk::COMMAND_BUFFER;
use crate::lp::{LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, SharedLp};
use crate::market::{Pair, Side};
use crate::recorder::Recorder;
use crate::rfq::event::{EventKind, FailureKind};
use crate::rfq::outlet::Outlet;
use crate::rfq::{EngineParams, RfqEvent, RfqSpec, Session};
use crate::streams::StreamRegistry;
use async_trait::async_trait;
use histogram::LatencyHistogram;
use probe::{answer_ready_at, SessionTimings, StreamTimer};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Serialize;
use through_client_api::{ClientApiBenchReport, FirstAnswers};
use through_server::{ReadyLog, ServerBenchReport};
use wire::{Wire, WireEnd};

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Concurrent RFQ streams
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub(crate) sessions: usize,
    /// In-process LPs per stream (a bench never asks real venues)
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub lps: usize,
    /// Seconds to run
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub(crate) duration: u64,
    /// Milliseconds between polls; 0 = ask again as soon as a poll completes
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub(crate) poll_ms: u64,
    /// LP answer delay in ms; 0 = answer at once
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub(crate) lp_delay_ms: u64,
    /// Spread the LPs' delays evenly from --lp-delay-ms up to this (ms)
    #[arg(long, value_name = "MS")]
    pub(crate) lp_delay_max_ms: Option<u64>,
    /// Milliseconds an LP has to answer before it counts as a timeout (not a valid answer) [default: 1000]
    #[arg(long, value_name = "MS")]
    pub(crate) lp_timeout_ms: Option<u64>,
    /// Record into this blotter (kept); without it a scratch blotter in
    /// the temp directory, removed at the end (BLOTTER_PATH is not read:
    /// a load test never fills the desk's blotter)
    #[arg(long, value_name = "PATH", conflicts_with = "no_blotter")]
    pub blotter: Option<PathBuf>,
    /// Record nothing: measure the engine without a blotter
    #[arg(long)]
    pub(crate) no_blotter: bool,
    /// Start every stream at the same instant, so that with --poll-ms
    /// every stream polls, and every LP answers, on the same tick (the
    /// worst burst), instead of spreading their starts evenly over one
    /// --poll-ms interval (steady arrivals, as operators start RFQs at
    /// different moments)
    #[arg(long)]
    pub(crate) lockstep: bool,
    /// Seconds each RFQ streams before its stream's slot starts the next
    /// one, as a desk's RFQs come and go, so that first quotes are also
    /// measured for RFQs that start among running streams, not only in
    /// the ramp-up [default: --duration: one RFQ per stream]. With
    /// --client-api: each client RFQ streams this long and requests go out
    /// steadily, --sessions every this many seconds for the whole
    /// --duration (which must be longer), so that --sessions are live once
    /// the first RFQs' seconds have passed; the headline figures are those
    /// RFQs', the ramp's are reported apart
    #[arg(long, value_name = "SECS")]
    pub(crate) rfq_secs: Option<u64>,
    /// Keep each stream's snapshot for late subscribers, as a desk that
    /// others attach to does (local mode keeps none): measures what that
    /// costs
    #[arg(long)]
    pub(crate) keep_snapshots: bool,
    /// Run the streams through a desk server in this process (`serve`'s
    /// code, on a loopback port), each started and read by one of
    /// --connections operator WebSocket connections: measures an LP
    /// answer's ready moment to its event arriving at the operator's
    /// socket (and read by its thread), and memory per attached stream (the server keeps every stream's
    /// snapshot, as `serve` does)
    #[arg(long, conflicts_with_all = ["rfq_secs", "keep_snapshots"])]
    pub(crate) through_server: bool,
    /// Run --sessions client RFQs through the client WebSocket API of a
    /// desk server in this process (`serve --client-ws`'s code, on a
    /// loopback port), sent by --connections API clients over one
    /// --poll-ms interval (or, with --rfq-secs, steadily for the whole
    /// run): measures a client's quote_request to its first quote arriving
    /// at its socket (and read by its thread), less the fastest LP's
    /// answer time, quotes pushed per second, and memory per live client
    /// RFQ
    #[arg(
        long,
        conflicts_with_all = ["keep_snapshots", "through_server"]
    )]
    pub(crate) client_api: bool,
    /// Operator connections (with --through-server), or API clients
    /// (with --client-api), the streams are shared over [default: 10]
    #[arg(long, value_name = "N")]
    pub(crate) connections: Option<usize>,
}

impl BenchOptions {
    /// The connections a bench over a desk server shares its streams over.
    pub(crate) fn connections(&self) -> usize {
        self.connections.unwrap_or(10)
    }

    /// Whether `--rfq-secs` can run: never 0, and with `--client-api`,
    /// where it sends the requests steadily over the whole run, shorter
    /// than the run (else no RFQ would start with --sessions live) and
    /// not with `--lockstep` (every request at once is the burst).
    pub(crate) fn check_rfq_secs(&self) -> Result<(), String> {
        let Some(secs) = self.rfq_secs else {
            return Ok(());
        };
        if secs == 0 {
            return Err("invalid --rfq-secs '0': must be at least 1".into());
        }
        if self.client_api && secs >= self.duration {
            return Err(format!(
                "invalid --rfq-secs '{secs}': must be less than --duration ({})",
                self.duration
            ));
        }
        if self.client_api && self.lockstep {
            return Err(
                "--lockstep sends every request at once and --rfq-secs sends them steadily: with --client-api give one of them"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What a bench run found: the in-process bench's figures, or those
/// through a desk server.
pub(crate) enum Figures {
    InProcess(BenchReport),
    ThroughServer(ServerBenchReport),
    /// Boxed: the client API's report, with its hops and the steady
    /// load's figures, is twice the others' size.
    ThroughClientApi(Box<ClientApiBenchReport>),
}

impl Figures {
    /// The one JSON line, for tools.
    pub(crate) fn json_line(&self) -> serde_json::Result<String> {
        match self {
            Figures::InProcess(report) => serde_json::to_string(report),
            Figures::ThroughServer(report) => serde_json::to_string(report),
            Figures::ThroughClientApi(report) => serde_json::to_string(report),
        }
    }

    /// A few lines for a person.
    pub(crate) fn text(&self) -> String {
        match self {
            Figures::InProcess(report) => report.text(),
            Figures::ThroughServer(report) => report.text(),
            Figures::ThroughClientApi(report) => report.text(),
        }
    }
}

/// Runs the bench `options` ask for: in process, or through a desk
/// server (`--through-server`).
pub(crate) async fn measure(
    options: &BenchOptions,
    settings: &Settings,
    blotter: BenchBlotter,
) -> anyhow::Result<Figures> {
    if options.through_server {
        let report = through_server::run(options, settings, blotter).await?;
        Ok(Figures::ThroughServer(report))
    } else if options.client_api {
        let report = through_client_api::run(options, settings, blotter).await?;
        Ok(Figures::ThroughClientApi(Box::new(report)))
    } else {
        Ok(Figures::InProcess(run(options, settings, blotter).await?))
    }
}

/// The one JSON line the bench prints.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct BenchReport {
    pub(crate) sessions: usize,
    pub lps: usize,
    /// How the streams started: `spread` evenly over one poll interval,
    /// or `together` (`--lockstep`, or no interval to spread over).
    pub(crate) starts: &'static str,
    pub(crate) duration_s: f64,
    /// RFQs run: one per stream, or more with `--rfq-secs`.
    pub(crate) rfqs: u64,
    /// Every LP answer the engine handled: valid quotes, timeouts and
    /// other errors (each is one blotter row).
    pub(crate) responses: u64,
    /// Valid LP quotes: the throughput counts only these.
    pub(crate) valid_answers: u64,
    /// Valid LP quotes per second of the run (until all are on disk).
    pub(crate) per_sec: u64,
    /// Requests with no answer within the LP timeout (not throughput).
    pub(crate) timeouts: u64,
    /// Other LP errors: declined, unavailable, invalid… (not throughput).
    pub(crate) lp_errors: u64,
    pub(crate) locks: u64,
    pub(crate) client_quotes: u64,
    pub(crate) added_latency_p50_us: f64,
    pub(crate) added_latency_p99_us: f64,
    /// Waits for room in a full output channel (consumers' back-pressure,
    /// e.g. the blotter at its insert limit), apart from the added latency.
    pub(crate) output_wait_p99_us: f64,
    /// From an LP's answer being ready (reaching the host) to the session
    /// having acted on it (the wake-up, scheduling delay and the engine's
    /// work), nearest rank.
    pub(crate) ready_to_acted_p50_us: f64,
    pub(crate) ready_to_acted_p99_us: f64,
    /// Per stream, from its fastest LP's answer reaching the host (its
    /// due moment on the simulated network) to its first client quote
    /// (only with delays).
    pub(crate) first_quote_over_fastest_p50_us: Option<f64>,
    pub(crate) first_quote_over_fastest_p99_us: Option<f64>,
    /// How late the bench's simulated network handed the LPs' answers to
    /// their sessions past their due moment (only with delays): the
    /// machine's timer interrupt and a worker's wake-up, as a socket's
    /// answer has them. Part of both figures above; shown apart so that a
    /// slow machine shows as such.
    pub(crate) lp_answer_late_p50_us: Option<f64>,
    pub(crate) lp_answer_late_p99_us: Option<f64>,
    pub(crate) peak_rss_mb: f64,
    /// Rows the blotter wrote for LP answers (null with no blotter).
    pub(crate) blotter_rows: Option<u64>,
    /// Largest size the blotter's `-wal` file reached, in MB, sampled by
    /// its checkpointer every 250 ms (null with no blotter).
    pub(crate) wal_peak_mb: Option<f64>,
}

impl BenchReport {
    /// The report for a person, a few lines (the JSON line is for tools).
    pub fn text(&self) -> String {
        let mut text = format!(
            "bench: {} streams x {} LPs (started {}), {} RFQs, {:.1} s: {} valid LP answers ({}/s); not counted: {} timeouts, {} other LP errors\n",
            self.sessions,
            self.lps,
            self.starts,
            self.rfqs,
            self.duration_s,
            self.valid_answers,
            self.per_sec,
            self.timeouts,
            self.lp_errors,
        );
        text += &format!(
            "  answer ready -> session acted: p50 {} us, p99 {} us; engine added p50 {} us, p99 {} us; output wait p99 {} us\n",
            self.ready_to_acted_p50_us,
            self.ready_to_acted_p99_us,
            self.added_latency_p50_us,
            self.added_latency_p99_us,
            self.output_wait_p99_us,
        );
        if let (Some(p50), Some(p99)) = (
            self.first_quote_over_fastest_p50_us,
            self.first_quote_over_fastest_p99_us,
        ) {
            text += &format!(
                "  first client quote after the fastest LP's answer: p50 {p50} us, p99 {p99} us\n"
            );
        }
        if let (Some(p50), Some(p99)) = (self.lp_answer_late_p50_us, self.lp_answer_late_p99_us) {
            text += &format!(
                "  of which the machine handing LP answers to their sessions (timer, wake-up): p50 {p50} us, p99 {p99} us\n"
            );
        }
        text += &format!(
            "  {} locks, {} client quotes, peak RSS {} MB",
            self.locks, self.client_quotes, self.peak_rss_mb
        );
        if let (Some(rows), Some(wal)) = (self.blotter_rows, self.wal_peak_mb) {
            text += &format!(", blotter rows {rows}, WAL peak {wal} MB");
        }
        text + "\n"
    }
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
    /// Delivers its answers after `delay` (unused when it has none).
    wire: WireEnd,
    /// Where the answer's ready moment is noted.
    marks: AnswerMarks,
}

/// Where the bench's LPs note their answers' moments.
#[derive(Clone)]
enum AnswerMarks {
    /// The in-process bench: the session's probe.
    Probe,
    /// `--through-server`, whose sessions carry no probe: every answer's
    /// ready moment, matched to its event at the operator's socket.
    Server(Arc<ReadyLog>),
    /// `--client-api`: each RFQ's first request and fastest answer,
    /// matched to its first quote at the client's socket.
    ClientApi(Arc<FirstAnswers>),
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
        if let AnswerMarks::ClientApi(first) = &self.marks {
            first.asked(&request.rfq_id, Instant::now());
        }
        let ready = if self.delay.is_zero() {
            Instant::now()
        } else {
            // Ready when it reaches the host: everything after that (the
            // timer's interrupt, a worker waking, the session's turn) is
            // the desk's latency, as it is a socket's.
            let due = Instant::now() + self.delay;
            self.wire.arrival(due).await;
            due
        };
        match &self.marks {
            AnswerMarks::Probe => answer_ready_at(ready),
            AnswerMarks::Server(log) => log.ready(&request.rfq_id, self.index, ready),
            AnswerMarks::ClientApi(first) => first.answered(&request.rfq_id, ready),
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

/// The desk's LPs: like real providers, one set serves every session.
fn bench_lps(options: &BenchOptions, wire: &Wire, marks: AnswerMarks) -> Vec<SharedLp> {
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
                wire: wire.end(),
                marks: marks.clone(),
            }) as SharedLp
        })
        .collect()
}

/// What the bench counts of a run's events. Only valid quotes are
/// throughput: a timeout or an error is an answer the desk could not use.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    /// LP quotes that passed validation (`lp_quote` events).
    pub(crate) valid_answers: u64,
    /// Requests with no answer within the LP timeout.
    pub(crate) timeouts: u64,
    /// Every other `lp_error`: declined, unavailable, malformed, invalid…
    pub(crate) lp_errors: u64,
    pub(crate) locks: u64,
    pub(crate) client_quotes: u64,
}

impl Counts {
    pub(crate) fn count(&mut self, kind: &EventKind) {
        match kind {
            EventKind::LpQuote(_) => self.valid_answers += 1,
            EventKind::LpError(error) if error.kind == FailureKind::Timeout => self.timeouts += 1,
            EventKind::LpError(_) => self.lp_errors += 1,
            EventKind::Locked(_) => self.locks += 1,
            EventKind::ClientQuote(_) => self.client_quotes += 1,
            _ => {}
        }
    }

    fn add(&mut self, other: &Counts) {
        self.valid_answers += other.valid_answers;
        self.timeouts += other.timeouts;
        self.lp_errors += other.lp_errors;
        self.locks += other.locks;
        self.client_quotes += other.client_quotes;
    }

    /// Every LP answer the engine handled, valid or not.
    pub(crate) fn responses(&self) -> u64 {
        self.valid_answers + self.timeouts + self.lp_errors
    }
}

/// The run's totals, added to by each session as it ends.
#[derive(Default)]
struct Totals {
    counts: std::sync::Mutex<Counts>,
}

/// One session's consumer: counts its events in the session's own task
/// (no channel, no relay task) and adds them to the run's totals at its
/// `ended`.
struct SessionTally {
    counts: Counts,
    totals: Arc<Totals>,
}

impl Outlet for SessionTally {
    async fn send(&mut self, event: RfqEvent) {
        self.counts.count(&event.kind);
        if let EventKind::Ended(_) = event.kind {
            let mut totals = self.totals.counts.lock().unwrap_or_else(|p| p.into_inner());
            totals.add(&self.counts);
        }
    }
}

/// How the bench's operators and API clients read their WebSocket: with
/// a small read buffer. tungstenite zero-fills the free part of its read
/// buffer (128 KiB by default) before every read from the socket, so each
/// read of a few frames cost a 128 KiB `memset` and the buffer's regrowth;
/// the desk's frames are a few hundred bytes, read a few at a time.
pub(crate) fn reading_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(16 * 1024)
}

/// Connects a bench client's TCP stream to a `ws://HOST:PORT` URL, with
/// the kernel stamping what arrives on it ([`arrival`]).
pub(crate) async fn connect_stamped(
    url: &str,
) -> anyhow::Result<(arrival::StampedStream, std::sync::Arc<arrival::LastArrival>)> {
    let address = url
        .strip_prefix("ws://")
        .ok_or_else(|| anyhow::anyhow!("the bench's URL is not ws://: {url}"))?;
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    Ok(arrival::StampedStream::new(stream))
}

/// Peak resident memory of this process so far, in MB (Linux).
pub(crate) fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

/// A memory figure of this process's `/proc/self/status` (`VmRSS:`,
/// `VmHWM:`), in MB; 0 where there is none (not Linux).
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
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

/// How long before its slot's next RFQ is due an RFQ stops streaming, so
/// that the next one starts at its own moment on the wire's timer rather
/// than whenever the last one's end came round on tokio's millisecond
/// ticks (where ten other streams' polls fall too).
const RFQ_GAP_MS: u64 = 5;

/// What every slot of a run shares (one copy, not one per slot: at 10,000
/// slots a copy each cost ~6 MB of peak RSS).
struct Run {
    /// The run's RFQ id prefix.
    rfq_ids: String,
    pair: Pair,
    lps: Vec<SharedLp>,
    params: EngineParams,
    rfq_ms: u64,
    duration_ms: u64,
    totals: Arc<Totals>,
    timings: Arc<SessionTimings>,
    sink: Option<BlotterSink>,
    starts: WireEnd,
    /// Every stream is listed here while it runs and fans its events out
    /// through it, as a desk's are: the bench measures the product's path.
    streams: StreamRegistry,
}

/// One of the bench's concurrent streams: RFQs one after another, each
/// due `rfq_ms` after the last, until `duration_ms` has passed, so that
/// the load stays at one stream per slot while RFQs come and go.
struct Slot {
    index: usize,
    run: Arc<Run>,
}

impl Slot {
    /// Runs the slot's RFQs, the first at once (at `first`); returns how
    /// many it ran.
    async fn run(self, first: Instant) -> u64 {
        let run = &*self.run;
        let mut rfqs = 0;
        let mut streamed = 0;
        while streamed < run.duration_ms {
            let left = run.duration_ms - streamed;
            let length = match left > run.rfq_ms {
                true => run.rfq_ms - RFQ_GAP_MS.min(run.rfq_ms / 2),
                false => left,
            };
            if rfqs > 0 {
                run.starts.at(first + Duration::from_millis(streamed)).await;
            }
            // The first RFQ of each slot keeps the plain index as its id.
            let rfq_id = match rfqs {
                0 => format!("{}{}", run.rfq_ids, self.index),
                round => format!("{}{}.{round}", run.rfq_ids, self.index),
            };
            self.rfq(rfq_id, length).await;
            streamed += run.rfq_ms.min(left);
            rfqs += 1;
        }
        rfqs
    }

    async fn rfq(&self, rfq_id: String, duration_ms: u64) {
        let run = &*self.run;
        let session = Session {
            rfq_id: Arc::from(rfq_id),
            spec: RfqSpec {
                side: if self.index.is_multiple_of(2) {
                    Side::Buy
                } else {
                    Side::Sell
                },
                amount: dec!(1.5),
                pair: run.pair,
                fixed: crate::market::Leg::Base,
            },
            lps: run.lps.clone(),
            params: run.params,
            duration_ms,
            clock: StreamClock::start(),
            band: None,
            reference: None,
            desk_reference: None,
            client: crate::rfq::ClientId::house(),
            operator: None,
            channel: crate::rfq::Channel::Operator,
        };
        let tally = SessionTally {
            counts: Counts::default(),
            totals: run.totals.clone(),
        };
        let timer = StreamTimer::new(&run.timings);
        // The desk's path (`desk::start_session_in`): recorder, then the
        // registry's fan-out, then the consumer; an inbox nobody writes to.
        let (commands, inbox) = crate::rfq::inbox::channel(COMMAND_BUFFER);
        let fanout = match run.streams.register(
            session.rfq_id.clone(),
            session.clock,
            commands,
            run.sink.clone(),
            tally,
        ) {
            Ok(fanout) => fanout,
            Err(live) => unreachable!("the bench's RFQ ids are unique: {live}"),
        };
        match &run.sink {
            Some(sink) => {
                let outlet = Recorder::new(sink.clone(), fanout);
                session.run_probed(outlet, Some(inbox), timer).await;
            }
            None => {
                session.run_probed(fanout, Some(inbox), timer).await;
            }
        }
    }
}

/// Where the bench writes its blotter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BenchBlotter {
    /// `--no-blotter`.
    Off,
    /// `--blotter PATH`: an existing blotter gains this run's RFQs.
    At(PathBuf),
    /// `--blotter postgres://…`: the database gains this run's RFQs.
    Postgres(crate::blotter::postgres::PgUrl),
    /// Neither: a throw-away file in the temp directory, so that a bench
    /// never fills the desk's own blotter with synthetic RFQs.
    Scratch,
}

/// Rows in the blotter's compact `answers` table (what the `lp_quotes` and
/// `lp_errors` views show) for the RFQs whose id starts with `prefix`:
/// counted on the table itself, since decoding millions of rows through
/// the views only to count them takes seconds.
fn answer_rows(at: &BlotterAt, prefix: &str) -> anyhow::Result<u64> {
    let path = match at {
        BlotterAt::File(path) => path,
        BlotterAt::Postgres(url) => {
            return crate::blotter::postgres::off_runtime(|| {
                let mut client = url.connect()?;
                let rows: i64 = client
                    .query_one(
                        "SELECT count(*) FROM answers JOIN rfqs ON rfqs.id = answers.rfq
                         WHERE rfqs.rfq_id LIKE $1",
                        &[&format!("{prefix}%")],
                    )?
                    .get(0);
                Ok(rows as u64)
            })
        }
    };
    // Read-write, so that closing it can tidy the WAL files away.
    let conn = rusqlite::Connection::open(path)?;
    let pattern = format!("{prefix}%");
    let rows: i64 = conn.query_row(
        "SELECT count(*) FROM answers JOIN rfqs ON rfqs.id = answers.rfq WHERE rfqs.rfq_id LIKE ?1",
        [&pattern],
        |row| row.get(0),
    )?;
    Ok(rows as u64)
}

/// When the next stream starts, `spacing` after one due at `due` that
/// began at `began`. After a hiccup (a start held up by more than one
/// spacing) the rest keep their spacing from then on, rather than all
/// starting at once to catch up: operators do not start their RFQs in a
/// bunch because this process was held up for a moment, and a bunch of
/// streams whose answers all fall due together is `--lockstep`'s load,
/// not this one's.
fn next_start(due: Instant, began: Instant, spacing: Duration) -> Instant {
    if began > due + spacing {
        began + spacing
    } else {
        due + spacing
    }
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
    anyhow::ensure!(
        options.lp_timeout_ms != Some(0),
        "invalid --lp-timeout-ms '0': must be at least 1"
    );
    let params = EngineParams {
        poll_interval_ms: options.poll_ms,
        lp_timeout_ms: options
            .lp_timeout_ms
            .unwrap_or(settings.engine.lp_timeout_ms),
        ..settings.engine
    };
    let duration_ms = options.duration * 1000;
    anyhow::ensure!(
        options.rfq_secs != Some(0),
        "invalid --rfq-secs '0': must be at least 1"
    );
    let rfq_ms = options.rfq_secs.map_or(duration_ms, |secs| secs * 1000);
    let timings = Arc::new(SessionTimings::default());
    let totals = Arc::new(Totals::default());
    let wire = Wire::start();
    let lps = bench_lps(options, &wire, AnswerMarks::Probe);
    let scratch = tempfile::Builder::new().prefix("lp-rfq-bench-").tempdir()?;
    let blotter_path = match blotter {
        BenchBlotter::Off => None,
        BenchBlotter::At(path) => Some(BlotterAt::File(path)),
        BenchBlotter::Postgres(url) => Some(BlotterAt::Postgres(url)),
        BenchBlotter::Scratch => Some(BlotterAt::File(scratch.path().join("blotter.db"))),
    };
    let blotter = match &blotter_path {
        Some(at) => Some(Blotter::open_at(at, &settings.desk())?),
        None => None,
    };
    let sink = blotter.as_ref().map(Blotter::sink);
    // This run's RFQ ids, unique across runs into one blotter.
    let prefix = format!("B{}-", chrono::Utc::now().format("%Y%m%d%H%M%S%3f"));

    let started = Instant::now();
    let mut sessions = Vec::with_capacity(options.sessions);
    let spread = !options.lockstep && options.poll_ms > 0;
    let spacing = Duration::from_millis(options.poll_ms) / options.sessions.max(1) as u32;
    let starts = wire.end();
    let run = Arc::new(Run {
        rfq_ids: prefix.clone(),
        pair,
        lps: lps.clone(),
        params,
        rfq_ms,
        duration_ms,
        totals: totals.clone(),
        timings: timings.clone(),
        sink: sink.clone(),
        starts: starts.clone(),
        streams: if options.keep_snapshots {
            StreamRegistry::default()
        } else {
            StreamRegistry::without_snapshots()
        },
    });
    let mut start_at = started;
    for index in 0..options.sessions {
        if spread {
            // Started here, at its moment, rather than by a task that
            // sleeps first and then builds its stream: that task's future
            // held the stream's makings beside the stream (~0.8 KB each);
            // the task below holds only its slot and the stream.
            // The moment comes from the wire's timer: tokio's would start
            // them in bunches on its millisecond ticks, and their answers
            // would all fall due together.
            starts.at(start_at).await;
            start_at = next_start(start_at, Instant::now(), spacing);
        }
        // Each stream counts its own events and, with a blotter, records
        // them straight into the writer's channel, as a desk's stream does
        // ([`Recorder`]): nothing sits between the streams and the writer.
        let slot = Slot {
            index,
            run: run.clone(),
        };
        sessions.push(tokio::spawn(slot.run(Instant::now())));
    }
    drop(run);
    let mut rfqs = 0;
    for session in sessions {
        rfqs += session.await?;
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

    let counts = *totals.counts.lock().unwrap_or_else(|p| p.into_inner());
    // Only LPs that wait make a network to be late on, or a fastest one.
    let delayed = |histogram: &LatencyHistogram| match options.lp_delay_ms {
        0 => (None, None),
        _ => (
            Some(micros(histogram.percentile(50))),
            Some(micros(histogram.percentile(99))),
        ),
    };
    let (first_p50, first_p99) = delayed(&timings.first_quote);
    let (late_p50, late_p99) = delayed(wire.late());
    Ok(BenchReport {
        sessions: options.sessions,
        lps: options.lps,
        starts: if options.lockstep || options.poll_ms == 0 {
            "together"
        } else {
            "spread"
        },
        duration_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        rfqs,
        responses: counts.responses(),
        valid_answers: counts.valid_answers,
        per_sec: (counts.valid_answers as f64 / elapsed.as_secs_f64()) as u64,
        timeouts: counts.timeouts,
        lp_errors: counts.lp_errors,
        locks: counts.locks,
        client_quotes: counts.client_quotes,
        added_latency_p50_us: micros(timings.added.percentile(50)),
        added_latency_p99_us: micros(timings.added.percentile(99)),
        output_wait_p99_us: micros(timings.output_wait.percentile(99)),
        ready_to_acted_p50_us: micros(timings.ready_to_acted.percentile(50)),
        ready_to_acted_p99_us: micros(timings.ready_to_acted.percentile(99)),
        first_quote_over_fastest_p50_us: first_p50,
        first_quote_over_fastest_p99_us: first_p99,
        lp_answer_late_p50_us: late_p50,
        lp_answer_late_p99_us: late_p99,
        peak_rss_mb: (peak_rss_mb() * 10.0).round() / 10.0,
        blotter_rows,
        wal_peak_mb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rfq::event::{LpErrorEvent, LpQuoteEvent};

    fn error(kind: FailureKind) -> EventKind {
        EventKind::LpError(LpErrorEvent {
            lp: Arc::from("LP1"),
            kind,
            reason: "why".into(),
            latency_ms: 1_000,
            poll: 1,
        })
    }

    #[test]
    fn spread_starts_keep_their_spacing_and_are_not_bunched_after_a_hiccup() {
        let t0 = Instant::now();
        let spacing = Duration::from_micros(100);
        let us = Duration::from_micros;
        // On time, or late by less than a spacing: the plan holds.
        assert_eq!(next_start(t0, t0, spacing), t0 + us(100));
        assert_eq!(next_start(t0, t0 + us(60), spacing), t0 + us(100));
        assert_eq!(next_start(t0, t0 + us(100), spacing), t0 + us(100));
        // Held up for 3 ms: the next one starts a spacing after this one,
        // not at once with the 29 others that were due meanwhile.
        assert_eq!(next_start(t0, t0 + us(3_000), spacing), t0 + us(3_100));
    }

    #[test]
    fn only_valid_quotes_count_as_answers_and_failures_are_counted_apart() {
        let quote = EventKind::LpQuote(LpQuoteEvent {
            simulated: false,
            lp: Arc::from("LP1"),
            price: dec!(100000.00),
            quantity: dec!(1.5),
            latency_ms: 3,
            valid_for_ms: 10_000,
            poll: 1,
        });
        let mut counts = Counts::default();
        for kind in [
            quote.clone(),
            quote,
            error(FailureKind::Timeout),
            error(FailureKind::Timeout),
            error(FailureKind::Timeout),
            error(FailureKind::Invalid),
            error(FailureKind::Unavailable),
        ] {
            counts.count(&kind);
        }
        assert_eq!(
            counts,
            Counts {
                valid_answers: 2,
                timeouts: 3,
                lp_errors: 2,
                locks: 0,
                client_quotes: 0,
            }
        );
        assert_eq!(counts.responses(), 7);
    }
}
