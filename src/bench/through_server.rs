//! `lp-rfq bench --through-server`: what the desk server adds between an
//! LP's answer and the operator. A desk (`server::serve_on`, on a
//! loopback port of its own) runs every stream against the bench's LPs,
//! and N operator WebSocket connections start the streams and read their
//! events as a console would; the bench times each LP answer from the
//! moment it was ready (reached the host) to its event's frame arriving
//! at the operator's socket (the kernel's receive stamp,
//! [`super::arrival`]) and to its being read there, and the memory each
//! attached stream costs.
//!
//! Both ends run in this one process so that "ready" and "read" come from
//! one monotonic clock with no hand-off between processes; the operators
//! run on a thread and a single-threaded runtime of their own, as a
//! separate process would (a scheduler of its own, the same two cores).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::blotter::Blotter;
use crate::config::Settings;
use crate::desk::protocol::{ClientMessage, ServerMessage, PROTOCOL_VERSION};
use crate::desk::registry::LpRegistry;
use crate::desk::Desk;
use crate::market::{Pair, Side};
use crate::operators::Operators;
use crate::rfq::event::{EventKind, FailureKind};
use crate::rfq::EngineParams;
use crate::secret::Secret;
use crate::signals::Interrupt;

use super::arrival::{ArrivalClock, LastArrival, StampedStream};
use super::histogram::{LatenciesWithMax, LatencyHistogram};
use super::wire::Wire;
use super::{micros, next_start, status_mb, BenchBlotter, BenchOptions};

/// When each LP answer of a stream was ready, per LP in the order they
/// were answered, until the operator reads its event. One request per LP
/// is in flight in a stream at a time, so the n-th answer ready for
/// (stream, LP) is the n-th `lp_quote` or `lp_error` of that LP the
/// operator reads.
#[derive(Default)]
pub(crate) struct ReadyLog {
    lanes: Mutex<HashMap<Arc<str>, Vec<VecDeque<Instant>>>>,
}

impl ReadyLog {
    /// LP number `lp` (from 0) has its answer to `rfq_id` ready since `at`.
    pub(crate) fn ready(&self, rfq_id: &Arc<str>, lp: usize, at: Instant) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let lanes = lanes.entry(rfq_id.clone()).or_default();
        if lanes.len() <= lp {
            lanes.resize_with(lp + 1, VecDeque::new);
        }
        lanes[lp].push_back(at);
    }

    /// When the answer whose event was just read became ready.
    fn take(&self, rfq_id: &str, lp: usize) -> Option<Instant> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes.get_mut(rfq_id)?.get_mut(lp)?.pop_front()
    }

    /// The stream has ended: an answer ready too late to be acted on
    /// leaves nothing behind.
    fn forget(&self, rfq_id: &str) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        lanes.remove(rfq_id);
    }
}

/// The one JSON line `bench --through-server` prints.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServerBenchReport {
    /// Always `true`: tells this line from the in-process bench's.
    pub(crate) through_server: bool,
    pub(crate) sessions: usize,
    /// Operator WebSocket connections the streams were shared over.
    pub(crate) connections: usize,
    pub(crate) lps: usize,
    pub(crate) starts: &'static str,
    pub(crate) duration_s: f64,
    /// Streams the desk started (one RFQ each).
    pub(crate) rfqs: u64,
    /// Messages the operators read (events and the rest).
    pub(crate) messages_read: u64,
    /// LP answers (`lp_quote`, and `lp_error`s other than a timeout)
    /// read at an operator's socket: what the latency is taken over.
    pub(crate) answers_read: u64,
    pub(crate) client_quotes_read: u64,
    /// From an LP's answer being ready (reaching the host) to its event's
    /// frame arriving at the operator's socket (the kernel's receive
    /// stamp; see `bench::arrival`): the desk's part, what issue 27 times.
    pub(crate) ready_to_socket_p50_us: f64,
    pub(crate) ready_to_socket_p99_us: f64,
    pub(crate) ready_to_socket_max_us: f64,
    /// The same to the frame being read by the operator's thread: also
    /// that thread's own wait for a core on the desk's machine.
    pub(crate) ready_to_operator_p50_us: f64,
    pub(crate) ready_to_operator_p99_us: f64,
    pub(crate) ready_to_operator_max_us: f64,
    /// How late the bench's simulated network handed answers to their
    /// sessions (only with delays): part of the figure above.
    pub(crate) lp_answer_late_p50_us: Option<f64>,
    pub(crate) lp_answer_late_p99_us: Option<f64>,
    /// Turning one event into its JSON frame, as the server does for
    /// every event (timed on the operators' side on every 16th event, the
    /// same call on the same message).
    pub(crate) event_serialize_p50_us: f64,
    pub(crate) event_serialize_p99_us: f64,
    /// The bench's operator reading the fields it uses from one frame
    /// (after it was read; a glance, not a console's full parse, which
    /// took ~1.5 µs before 2026-12-07's evening section of
    /// docs/performance.md).
    pub(crate) operator_parse_p50_us: f64,
    pub(crate) operator_parse_p99_us: f64,
    /// Resident memory with the desk up and every connection attached,
    /// before any stream; and its largest while every stream runs.
    pub(crate) idle_rss_mb: f64,
    pub(crate) running_rss_mb: f64,
    /// (running − idle) ÷ streams: the desk's stream (session, snapshot,
    /// registry entry, blotter share) and its connection's share, plus
    /// the operators' few bytes of bookkeeping per stream.
    pub(crate) rss_per_stream_kb: f64,
    pub(crate) peak_rss_mb: f64,
    /// Answers whose event arrived with no ready moment to match (0
    /// unless the bench's own bookkeeping is wrong).
    pub(crate) unmatched_answers: u64,
    /// Starts the desk refused, and connections it closed (too slow):
    /// each reason once.
    pub(crate) start_refused: Vec<String>,
    pub(crate) connections_closed: Vec<String>,
}

impl ServerBenchReport {
    /// The report for a person, a few lines.
    pub fn text(&self) -> String {
        let mut text = format!(
            "bench through the desk server: {} streams x {} LPs over {} operator connections (started {}), {:.1} s: {} LP answers read at the operators, {} client quotes\n",
            self.sessions,
            self.lps,
            self.connections,
            self.starts,
            self.duration_s,
            self.answers_read,
            self.client_quotes_read,
        );
        text += &format!(
            "  answer ready -> event arrived at the operator's socket: p50 {} us, p99 {} us, max {} us\n",
            self.ready_to_socket_p50_us,
            self.ready_to_socket_p99_us,
            self.ready_to_socket_max_us,
        );
        text += &format!(
            "  answer ready -> event read by the operator's thread: p50 {} us, p99 {} us, max {} us\n",
            self.ready_to_operator_p50_us,
            self.ready_to_operator_p99_us,
            self.ready_to_operator_max_us,
        );
        if let (Some(p50), Some(p99)) = (self.lp_answer_late_p50_us, self.lp_answer_late_p99_us) {
            text += &format!(
                "  of which the machine handing LP answers to their sessions (timer, wake-up): p50 {p50} us, p99 {p99} us\n"
            );
        }
        text += &format!(
            "  an event to its JSON frame: p50 {} us, p99 {} us; a frame parsed at the operator: p50 {} us, p99 {} us\n",
            self.event_serialize_p50_us,
            self.event_serialize_p99_us,
            self.operator_parse_p50_us,
            self.operator_parse_p99_us,
        );
        text += &format!(
            "  RSS idle {} MB, streams running {} MB: {} KB per attached stream; peak {} MB\n",
            self.idle_rss_mb, self.running_rss_mb, self.rss_per_stream_kb, self.peak_rss_mb,
        );
        if self.unmatched_answers > 0 {
            text += &format!(
                "  {} answers read with no ready moment to match\n",
                self.unmatched_answers
            );
        }
        for reason in &self.start_refused {
            text += &format!("  a start was refused: {reason}\n");
        }
        for reason in &self.connections_closed {
            text += &format!("  the desk closed a connection: {reason}\n");
        }
        text
    }
}

/// What the operators' side is to do.
struct OperatorPlan {
    url: String,
    tokens: Vec<Secret>,
    sessions: usize,
    pair: Pair,
    /// Between two streams' starts; zero starts them together.
    spacing: Duration,
    /// Each LP's place by name, to find an answer's ready moment.
    lp_places: HashMap<Arc<str>, usize>,
    ready: Arc<ReadyLog>,
}

/// What the operators saw, added up over every connection.
#[derive(Default)]
struct OperatorFigures {
    ready_to_socket: LatenciesWithMax,
    ready_to_read: LatenciesWithMax,
    serialize: LatencyHistogram,
    parse: LatencyHistogram,
    messages: AtomicU64,
    answers: AtomicU64,
    client_quotes: AtomicU64,
    unmatched: AtomicU64,
    rfqs: AtomicU64,
    /// Every stream has started and none has ended: RSS is sampled.
    all_running: AtomicBool,
    ended: AtomicBool,
    idle_rss_mb: Mutex<f64>,
    running_rss_mb: Mutex<f64>,
    start_refused: Mutex<Vec<String>>,
    closed: Mutex<Vec<String>>,
}

impl OperatorFigures {
    fn note_once(list: &Mutex<Vec<String>>, reason: String) {
        let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
        if !list.contains(&reason) {
            list.push(reason);
        }
    }
}

type Socket = WebSocketStream<StampedStream>;

/// Runs the bench through a desk server; see the module docs.
pub(crate) async fn run(
    options: &BenchOptions,
    settings: &Settings,
    blotter: BenchBlotter,
) -> anyhow::Result<ServerBenchReport> {
    anyhow::ensure!(
        (1..=options.sessions).contains(&options.connections()),
        "invalid --connections '{}': must be from 1 to --sessions ({})",
        options.connections(),
        options.sessions
    );
    let pair: Pair = "BTCUSDT".parse()?;
    let params = EngineParams {
        poll_interval_ms: options.poll_ms,
        lp_timeout_ms: options
            .lp_timeout_ms
            .unwrap_or(settings.engine.lp_timeout_ms),
        ..settings.engine
    };
    let scratch = tempfile::Builder::new().prefix("lp-rfq-bench-").tempdir()?;
    let blotter_at = match blotter {
        BenchBlotter::Off => None,
        BenchBlotter::At(path) => Some(crate::blotter::BlotterAt::File(path)),
        BenchBlotter::Postgres(url) => Some(crate::blotter::BlotterAt::Postgres(url)),
        BenchBlotter::Scratch => Some(crate::blotter::BlotterAt::File(
            scratch.path().join("blotter.db"),
        )),
    };
    let blotter = match &blotter_at {
        Some(at) => Some(Blotter::open_at(at, &settings.desk())?),
        None => None,
    };
    // The bench's LPs and load, not the desk's environment.
    let mut desk_settings = settings.clone();
    desk_settings.engine = params;
    desk_settings.duration_ms = options.duration * 1000;
    desk_settings.blotter = blotter_at;
    desk_settings.speed_per_mille = 1000;
    desk_settings.scenario = None;
    desk_settings.lps_file = None;
    desk_settings.clients_file = None;

    let wire = Wire::start();
    let ready = Arc::new(ReadyLog::default());
    let lps = super::bench_lps(options, &wire, super::AnswerMarks::Server(ready.clone()));
    let lp_places = (lps.iter().enumerate())
        .map(|(place, lp)| (lp.shared_name(), place))
        .collect();
    let desk = Arc::new(Desk::with_parts(
        desk_settings,
        LpRegistry::fixed(lps),
        blotter,
    ));

    let tokens: Vec<Secret> = (0..options.connections())
        .map(|_| Secret::new(format!("bench-{:032x}", rand::random::<u128>())))
        .collect();
    let operators_file: String = (0..options.connections())
        .map(|n| {
            format!(
                "[[operator]]\nname = \"bench-{}\"\ntoken_env = \"T{n}\"\n",
                n + 1
            )
        })
        .collect();
    let operators = Operators::parse(&operators_file, "(the bench's operators)", |var| {
        let n: usize = var[1..].parse().map_err(|_| format!("no token {var}"))?;
        Ok(tokens[n].clone())
    })?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("ws://{}", listener.local_addr()?);
    let (interrupt, interrupts) = tokio::sync::mpsc::unbounded_channel();
    let server = tokio::spawn(crate::server::serve_on(
        desk.clone(),
        listener,
        crate::server::ServePlan::loopback(operators),
        interrupts,
    ));

    let spread = !options.lockstep && options.poll_ms > 0;
    let plan = OperatorPlan {
        url,
        tokens,
        sessions: options.sessions,
        pair,
        spacing: match spread {
            true => Duration::from_millis(options.poll_ms) / options.sessions as u32,
            false => Duration::ZERO,
        },
        lp_places,
        ready,
    };
    let figures = Arc::new(OperatorFigures::default());
    let started = Instant::now();
    let (done, operated) = tokio::sync::oneshot::channel();
    let operator_figures = figures.clone();
    std::thread::Builder::new()
        .name("bench-operators".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(operate(plan, operator_figures)));
            let _ = done.send(result);
        })?;
    let operated = operated
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the bench's operators' thread failed")));
    let elapsed = started.elapsed();
    // The desk stops whatever happened to the operators.
    let _ = interrupt.send(Interrupt::Terminate);
    server.await??;
    operated?;
    let Ok(desk) = Arc::try_unwrap(desk) else {
        anyhow::bail!("the bench's desk server stopped with a connection still open");
    };
    desk.shutdown().await;

    let delayed = |histogram: &LatencyHistogram| match options.lp_delay_ms {
        0 => (None, None),
        _ => (
            Some(micros(histogram.percentile(50))),
            Some(micros(histogram.percentile(99))),
        ),
    };
    let (late_p50, late_p99) = delayed(wire.late());
    let idle = *figures
        .idle_rss_mb
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let running = *figures
        .running_rss_mb
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let per_stream_kb = (running - idle).max(0.0) * 1024.0 / options.sessions as f64;
    let taken = |list: &Mutex<Vec<String>>| list.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (to_socket, to_read) = (&figures.ready_to_socket, &figures.ready_to_read);
    Ok(ServerBenchReport {
        through_server: true,
        sessions: options.sessions,
        connections: options.connections(),
        lps: options.lps,
        starts: if spread { "spread" } else { "together" },
        duration_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        rfqs: figures.rfqs.load(Ordering::Relaxed),
        messages_read: figures.messages.load(Ordering::Relaxed),
        answers_read: figures.answers.load(Ordering::Relaxed),
        client_quotes_read: figures.client_quotes.load(Ordering::Relaxed),
        ready_to_socket_p50_us: micros(to_socket.percentile(50)),
        ready_to_socket_p99_us: micros(to_socket.percentile(99)),
        ready_to_socket_max_us: micros(to_socket.max()),
        ready_to_operator_p50_us: micros(to_read.percentile(50)),
        ready_to_operator_p99_us: micros(to_read.percentile(99)),
        ready_to_operator_max_us: micros(to_read.max()),
        lp_answer_late_p50_us: late_p50,
        lp_answer_late_p99_us: late_p99,
        event_serialize_p50_us: micros(figures.serialize.percentile(50)),
        event_serialize_p99_us: micros(figures.serialize.percentile(99)),
        operator_parse_p50_us: micros(figures.parse.percentile(50)),
        operator_parse_p99_us: micros(figures.parse.percentile(99)),
        idle_rss_mb: (idle * 10.0).round() / 10.0,
        running_rss_mb: (running * 10.0).round() / 10.0,
        rss_per_stream_kb: (per_stream_kb * 100.0).round() / 100.0,
        // The kernel updates the high-water mark lazily: never below a
        // sample taken during the run.
        peak_rss_mb: (super::peak_rss_mb().max(running) * 10.0).round() / 10.0,
        unmatched_answers: figures.unmatched.load(Ordering::Relaxed),
        start_refused: taken(&figures.start_refused),
        connections_closed: taken(&figures.closed),
    })
}

/// The operators' side, on its own runtime: connects every operator,
/// notes the idle RSS, starts the streams at their moments (stream i on
/// connection i mod N) and reads every connection until its streams have
/// ended.
async fn operate(plan: OperatorPlan, figures: Arc<OperatorFigures>) -> anyhow::Result<()> {
    let connections = plan.tokens.len();
    let mut sinks = Vec::with_capacity(connections);
    let mut sources = Vec::with_capacity(connections);
    for token in &plan.tokens {
        let (socket, arrivals) = attach(&plan.url, token.clone()).await?;
        let (sink, source) = socket.split();
        sinks.push(sink);
        sources.push((source, arrivals));
    }
    *figures
        .idle_rss_mb
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = status_mb("VmRSS:");
    let plan = Arc::new(plan);
    let mut readers = tokio::task::JoinSet::new();
    for (index, (source, arrivals)) in sources.into_iter().enumerate() {
        // Stream i runs on connection i mod N.
        let streams = (plan.sessions - index).div_ceil(connections);
        readers.spawn(read_connection(
            source,
            arrivals,
            streams,
            plan.clone(),
            figures.clone(),
        ));
    }
    let sampler = tokio::spawn(sample_running_rss(figures.clone()));

    // Starts at their own moments on the wire's timer, as the in-process
    // bench does: tokio's would bunch them on its millisecond ticks.
    let wire = Wire::start();
    let starts = wire.end();
    let mut start_at = Instant::now();
    for index in 0..plan.sessions {
        if !plan.spacing.is_zero() {
            starts.at(start_at).await;
            start_at = next_start(start_at, Instant::now(), plan.spacing);
        }
        let start = ClientMessage::Start {
            request: index as u64,
            side: if index.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            amount: rust_decimal_macros::dec!(1.5),
            pair: plan.pair,
            // The bench's pair has no reference price to check a notional
            // against: confirmed, as an operator would.
            confirm_notional: true,
            fixed: crate::market::Leg::Base,
            terms: crate::desk::protocol::StartTerms::default(),
        };
        let frame = Message::text(serde_json::to_string(&start)?);
        // A connection the desk closed takes no more starts; its reader
        // has said why.
        let _ = sinks[index % connections].send(frame).await;
    }
    figures.all_running.store(true, Ordering::Relaxed);
    while let Some(read) = readers.join_next().await {
        read??;
    }
    figures.ended.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    for mut sink in sinks {
        let _ = sink.close().await;
    }
    Ok(())
}

/// Connects one operator and waits for the desk's welcome.
async fn attach(url: &str, token: Secret) -> anyhow::Result<(Socket, Arc<LastArrival>)> {
    let (stream, arrivals) = super::connect_stamped(url).await?;
    let (mut socket, _) =
        tokio_tungstenite::client_async_with_config(url, stream, Some(super::reading_config()))
            .await?;
    let hello = ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        token: Some(token),
    };
    socket
        .send(Message::text(serde_json::to_string(&hello)?))
        .await?;
    while let Some(frame) = socket.next().await {
        if let Message::Text(text) = frame? {
            return match serde_json::from_str::<ServerMessage>(text.as_str())? {
                ServerMessage::Welcome { .. } => Ok((socket, arrivals)),
                other => Err(anyhow::anyhow!(
                    "the bench's desk did not welcome its operator: {other:?}"
                )),
            };
        }
    }
    anyhow::bail!("the bench's desk closed an operator's connection before its welcome")
}

/// Samples resident memory every 50 ms from the moment every stream has
/// started until the first one ends, keeping the largest.
async fn sample_running_rss(figures: Arc<OperatorFigures>) {
    let mut every = tokio::time::interval(Duration::from_millis(50));
    loop {
        every.tick().await;
        if figures.ended.load(Ordering::Relaxed) {
            return;
        }
        if figures.all_running.load(Ordering::Relaxed) {
            let rss = status_mb("VmRSS:");
            let mut running = (figures.running_rss_mb.lock()).unwrap_or_else(|p| p.into_inner());
            *running = running.max(rss);
        }
    }
}

/// Reads one operator's connection until `streams` of its streams have
/// ended (or the desk closes it), timing every LP answer's event from its
/// ready moment to its frame's arrival.
async fn read_connection(
    mut source: SplitStream<Socket>,
    arrivals: Arc<LastArrival>,
    streams: usize,
    plan: Arc<OperatorPlan>,
    figures: Arc<OperatorFigures>,
) -> anyhow::Result<()> {
    let mut ended = 0;
    let mut events = 0u64;
    let mut clock = ArrivalClock::new();
    while ended < streams {
        let Some(frame) = source.next().await else {
            break;
        };
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let read_at = Instant::now();
        // The fields the bench acts on, read straight from the frame: an
        // operator's full parse (`ServerMessage`) goes through three
        // buffered layers (two internal tags and two `flatten`s) and was
        // ~1.5 µs and a fifth of the process's CPU at 1000 streams, which
        // on two cores is taken from the desk being measured. Any frame
        // the glance cannot read is parsed in full.
        let glance = match serde_json::from_str::<Glance>(text.as_str()) {
            Ok(glance) => glance,
            Err(_) => Glance::of(serde_json::from_str::<ServerMessage>(text.as_str())?),
        };
        figures.parse.record(read_at.elapsed());
        figures.messages.fetch_add(1, Ordering::Relaxed);
        match glance.message.as_ref() {
            "event" => {}
            "started" => {
                figures.rfqs.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            "start_refused" => {
                OperatorFigures::note_once(
                    &figures.start_refused,
                    glance.reason.unwrap_or_default().into_owned(),
                );
                ended += 1;
                continue;
            }
            "closing" => {
                OperatorFigures::note_once(
                    &figures.closed,
                    glance.reason.unwrap_or_default().into_owned(),
                );
                break;
            }
            _ => continue,
        }
        let (Some(rfq_id), Some(event)) = (glance.rfq_id.as_deref(), glance.event.as_deref())
        else {
            continue;
        };
        let answered_by = match event {
            "lp_quote" => glance.lp.as_deref(),
            // A timeout is no answer: nothing was ready.
            "lp_error" if glance.kind != Some(FailureKind::Timeout) => glance.lp.as_deref(),
            "client_quote" => {
                figures.client_quotes.fetch_add(1, Ordering::Relaxed);
                None
            }
            "ended" => {
                plan.ready.forget(rfq_id);
                ended += 1;
                None
            }
            _ => None,
        };
        if let Some(lp) = answered_by {
            let ready = (plan.lp_places.get(lp)).and_then(|&place| plan.ready.take(rfq_id, place));
            match ready {
                Some(ready) => {
                    let arrived = clock.arrived(&arrivals, read_at);
                    (figures.ready_to_socket).record(arrived.saturating_duration_since(ready));
                    (figures.ready_to_read).record(read_at.saturating_duration_since(ready));
                    figures.answers.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    figures.unmatched.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        events += 1;
        if events % 16 == 1 {
            // The server's own step for this event: the same message
            // through the same serializer (read in full for it).
            let message = serde_json::from_str::<ServerMessage>(text.as_str())?;
            let began = Instant::now();
            let frame = serde_json::to_string(&message)?;
            figures.serialize.record(began.elapsed());
            drop(frame);
        }
    }
    Ok(())
}

/// The few fields of a desk's frame the bench's operators act on: its
/// message type and, for an event, its kind, stream, LP and failure kind
/// (every other field is skipped unread). Borrowed where the frame allows.
#[derive(Debug, Default, PartialEq, serde::Deserialize)]
struct Glance<'a> {
    #[serde(rename = "type", borrow)]
    message: Cow<'a, str>,
    #[serde(default, borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    rfq_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    lp: Option<Cow<'a, str>>,
    #[serde(default)]
    kind: Option<FailureKind>,
    #[serde(default, borrow)]
    reason: Option<Cow<'a, str>>,
}

impl Glance<'static> {
    /// The same fields from a message parsed in full (a frame the glance
    /// could not read).
    fn of(message: ServerMessage) -> Self {
        let owned = |text: &str| Some(Cow::Owned(text.to_string()));
        match message {
            ServerMessage::Event(sequenced) => {
                let event = &sequenced.event;
                let (lp, kind) = match &event.kind {
                    EventKind::LpQuote(quote) => (owned(&quote.lp), None),
                    EventKind::LpError(error) => (owned(&error.lp), Some(error.kind)),
                    _ => (None, None),
                };
                Glance {
                    message: Cow::Borrowed("event"),
                    event: Some(Cow::Borrowed(event.kind.name())),
                    rfq_id: owned(&event.rfq_id),
                    lp,
                    kind,
                    reason: None,
                }
            }
            ServerMessage::Started { rfq_id, .. } => Glance {
                message: Cow::Borrowed("started"),
                rfq_id: owned(&rfq_id),
                ..Glance::default()
            },
            ServerMessage::StartRefused { reason, .. } => Glance {
                message: Cow::Borrowed("start_refused"),
                reason: Some(Cow::Owned(reason)),
                ..Glance::default()
            },
            ServerMessage::Closing { reason } => Glance {
                message: Cow::Borrowed("closing"),
                reason: Some(Cow::Owned(reason)),
                ..Glance::default()
            },
            _ => Glance {
                message: Cow::Borrowed("other"),
                ..Glance::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The glance reads, from the desk's own frames, exactly what a full
    /// parse gives the bench: the message, and an event's kind, stream,
    /// LP and failure kind.
    #[test]
    fn a_glance_at_a_frame_reads_what_its_full_parse_does() {
        use crate::rfq::event::{EndReason, Ended, LpErrorEvent, LpQuoteEvent, Outcome, RfqEvent};
        use crate::streams::Sequenced;
        let event = |kind| {
            ServerMessage::Event(Sequenced {
                seq: 7,
                event: RfqEvent {
                    kind,
                    rfq_id: Arc::from("R-1"),
                    t_ms: 120,
                    two_way_side: None,
                },
            })
        };
        let quote = EventKind::LpQuote(LpQuoteEvent {
            lp: Arc::from("lp-\"quoted\""),
            price: rust_decimal_macros::dec!(64000.5),
            quantity: rust_decimal_macros::dec!(1.5),
            latency_ms: 5,
            valid_for_ms: 3000,
            poll: 2,
            simulated: true,
        });
        let error = |kind| {
            EventKind::LpError(LpErrorEvent {
                lp: Arc::from("lp-b"),
                kind,
                reason: "no answer".to_string(),
                latency_ms: 9,
                poll: 3,
            })
        };
        let ended = EventKind::Ended(Ended {
            simulated: false,
            reason: EndReason::Duration,
            outcome: Outcome::NotAccepted,
            improvements: 0,
            quote_id: None,
            lp: Some(Arc::from("lp-b")),
            client_price: None,
        });
        let messages = [
            event(quote),
            event(error(FailureKind::Timeout)),
            event(error(FailureKind::Declined)),
            event(ended),
            ServerMessage::Started {
                request: 4,
                rfq_id: Arc::from("R-1"),
                speed_per_mille: 1000,
            },
            ServerMessage::StartRefused {
                request: 5,
                reason: "the blotter cannot write".to_string(),
                request_error: false,
            },
            ServerMessage::Closing {
                reason: "the desk is stopping".to_string(),
            },
        ];
        for message in messages {
            let frame = serde_json::to_string(&message).unwrap();
            let mut glance: Glance = serde_json::from_str(&frame).unwrap();
            if glance.message == "event" {
                // An event's own reason (an error's text, why it ended),
                // and the LP of anything but an answer, are not what the
                // bench reads it for.
                glance.reason = None;
                if !matches!(glance.event.as_deref(), Some("lp_quote" | "lp_error")) {
                    glance.lp = None;
                }
            }
            assert_eq!(glance, Glance::of(message), "{frame}");
        }
        // What the bench acts on, to the letter.
        let frame = serde_json::to_string(&event(error(FailureKind::Timeout))).unwrap();
        let glance: Glance = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            (
                glance.message.as_ref(),
                glance.event.as_deref(),
                glance.rfq_id.as_deref(),
                glance.lp.as_deref(),
                glance.kind
            ),
            (
                "event",
                Some("lp_error"),
                Some("R-1"),
                Some("lp-b"),
                Some(FailureKind::Timeout)
            )
        );
    }

    #[test]
    fn each_answer_read_takes_its_own_lps_earliest_ready_moment_until_the_stream_ends() {
        let log = ReadyLog::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let (r1, r2): (Arc<str>, Arc<str>) = (Arc::from("R1"), Arc::from("R2"));
        log.ready(&r1, 2, t0);
        log.ready(&r1, 0, t0 + ms(1));
        log.ready(&r1, 2, t0 + ms(2));
        log.ready(&r2, 2, t0 + ms(3));
        // Per stream and LP, in the order the answers were ready.
        assert_eq!(log.take("R1", 2), Some(t0));
        assert_eq!(log.take("R1", 2), Some(t0 + ms(2)));
        assert_eq!(log.take("R1", 2), None);
        assert_eq!(log.take("R1", 0), Some(t0 + ms(1)));
        assert_eq!(log.take("R1", 1), None);
        // A stream's end drops what was never read, and only its own.
        log.ready(&r1, 0, t0 + ms(4));
        log.forget("R1");
        assert_eq!(log.take("R1", 0), None);
        assert_eq!(log.take("R2", 2), Some(t0 + ms(3)));
    }
}
