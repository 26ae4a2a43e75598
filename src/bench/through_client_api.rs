//! `lp-rfq bench --client-api`: what the desk adds between a client's
//! `quote_request` on the client WebSocket API and the first firm quote
//! on that client's socket. A desk with the bench's LPs serves the client
//! API (`client_api::ws::connection`, `serve --client-ws`'s code, on a
//! loopback port of its own), N API clients send the RFQs so that C are
//! live at once, and the bench times each RFQ from its request leaving
//! the client to its first quote arriving at the client's socket (the
//! kernel's receive stamp, [`super::arrival`]; its read by the client's
//! thread is reported beside it), less its fastest LP's answer time (from
//! the LP being asked to its answer reaching the host): the rest is the
//! desk's.
//!
//! By default the C requests go out spread over one poll interval: every
//! first quote is then timed during the ramp from no RFQ to C, at C
//! requests per interval — a start-up burst. With `--rfq-secs S` the
//! desk's streams last S seconds and the requests go out steadily, C
//! every S seconds (one S/C after another) for the whole `--duration D`:
//! live RFQs ramp up to C over the first S seconds and then stay there,
//! one ending as the next starts, so the headline figures (first quote,
//! its way in and out, its hops, memory per live RFQ) are those of the
//! RFQs sent from then on, which start among C live ones — a desk
//! carrying C client RFQs — and the ramp's first quotes are reported
//! apart ([`Schedule`]).
//!
//! Both ends run in this one process so that every moment comes from one
//! monotonic clock; the clients run on a thread and a single-threaded
//! runtime of their own, as a separate process would (a scheduler of its
//! own, the same two cores).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::blotter::Blotter;
use crate::client_api::ws::ClientTokens;
use crate::client_api::{ClientApi, HopWatcher, Outbound};
use crate::config::Settings;
use crate::desk::registry::LpRegistry;
use crate::desk::Desk;
use crate::rfq::{ClientId, EngineParams};
use crate::secret::Secret;
use crate::tls::Opening;

use super::arrival::{ArrivalClock, LastArrival, StampedStream};
use super::histogram::{LatenciesWithMax, LatencyHistogram};
use super::wire::Wire;
use super::{micros, next_start, status_mb, AnswerMarks, BenchBlotter, BenchOptions};

/// When each desk RFQ first asked an LP and when its fastest answer was
/// ready (reached the host), noted by the bench's LPs.
#[derive(Default)]
pub(crate) struct FirstAnswers {
    by_rfq: Mutex<HashMap<Arc<str>, Firsts>>,
}

#[derive(Clone, Copy)]
struct Firsts {
    asked: Instant,
    fastest_ready: Option<Instant>,
}

impl FirstAnswers {
    /// An LP of `rfq_id` was asked at `at`: only the RFQ's first request
    /// counts.
    pub(crate) fn asked(&self, rfq_id: &Arc<str>, at: Instant) {
        let mut by_rfq = self.by_rfq.lock().unwrap_or_else(|p| p.into_inner());
        if !by_rfq.contains_key(rfq_id) {
            by_rfq.insert(
                rfq_id.clone(),
                Firsts {
                    asked: at,
                    fastest_ready: None,
                },
            );
        }
    }

    /// An LP's answer to `rfq_id` was ready at `at`: the earliest counts.
    pub(crate) fn answered(&self, rfq_id: &str, at: Instant) {
        let mut by_rfq = self.by_rfq.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(firsts) = by_rfq.get_mut(rfq_id) {
            firsts.fastest_ready = Some(firsts.fastest_ready.map_or(at, |ready| ready.min(at)));
        }
    }

    /// When `rfq_id` first asked an LP and when its fastest answer was
    /// ready, once an answer has been.
    fn of(&self, rfq_id: &str) -> Option<(Instant, Instant)> {
        let by_rfq = self.by_rfq.lock().unwrap_or_else(|p| p.into_inner());
        let firsts = by_rfq.get(rfq_id)?;
        Some((firsts.asked, firsts.fastest_ready?))
    }

    /// `rfq_id` has ended: its LPs are asked no more, and with
    /// `--rfq-secs` the RFQs that ended must not count in the memory per
    /// live RFQ.
    fn forget(&self, rfq_id: &str) {
        let mut by_rfq = self.by_rfq.lock().unwrap_or_else(|p| p.into_inner());
        by_rfq.remove(rfq_id);
    }
}

/// When each client RFQ passed the desk's hops, as the client API
/// noted them ([`HopWatcher`]): only each RFQ's first quote is kept
/// (quote ids count from 1), and only until it is read, so the bench's
/// bookkeeping grows neither with every quote nor, with `--rfq-secs`,
/// with every RFQ sent.
#[derive(Default)]
struct Hops {
    starting: Mutex<HashMap<Box<str>, Instant>>,
    offered: Mutex<HashMap<Arc<str>, Instant>>,
    writing: Mutex<HashMap<Arc<str>, Instant>>,
}

fn is_first_quote(quote_id: &str) -> bool {
    quote_id.ends_with("-1")
}

impl HopWatcher for Hops {
    fn starting(&self, client_rfq_id: &str) {
        let now = Instant::now();
        let mut starting = self.starting.lock().unwrap_or_else(|p| p.into_inner());
        starting.insert(client_rfq_id.into(), now);
    }

    fn quote_offered(&self, quote_id: &Arc<str>) {
        if is_first_quote(quote_id) {
            let now = Instant::now();
            let mut offered = self.offered.lock().unwrap_or_else(|p| p.into_inner());
            offered.insert(quote_id.clone(), now);
        }
    }

    fn quote_writing(&self, quote_id: &Arc<str>) {
        if is_first_quote(quote_id) {
            let now = Instant::now();
            let mut writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
            writing.insert(quote_id.clone(), now);
        }
    }
}

impl Hops {
    /// RFQ `index`'s moments, starting, its first quote `quote_id` offered
    /// and taken by the writer, once that quote is read: each noted
    /// moment is dropped, whether all three were noted or not.
    fn take(&self, index: usize, quote_id: &str) -> Option<[Instant; 3]> {
        let taken = |map: &Mutex<HashMap<Arc<str>, Instant>>| {
            map.lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(quote_id)
        };
        let starting = (self.starting.lock())
            .unwrap_or_else(|p| p.into_inner())
            .remove(format!("b{index}").as_str());
        let (offered, writing) = (taken(&self.offered), taken(&self.writing));
        Some([starting?, offered?, writing?])
    }
}

/// The one JSON line `bench --client-api` prints.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ClientApiBenchReport {
    /// Always `true`: tells this line from the other benches'.
    pub(crate) client_api: bool,
    /// Client RFQs live at once (one per stream).
    pub(crate) sessions: usize,
    /// API clients (WebSocket connections) the RFQs were shared over.
    pub(crate) clients: usize,
    pub(crate) lps: usize,
    /// How the requests went out: `spread` over one poll interval,
    /// `together` (`--lockstep`, or no interval to spread over), or
    /// `steady` (`--rfq-secs`: C every `rfq_secs` for the whole run).
    pub(crate) starts: &'static str,
    pub(crate) duration_s: f64,
    /// From the first request sent to the last: one poll interval for the
    /// burst, `--duration` for the steady load. Longer means the sender
    /// fell behind its schedule (each request goes a spacing after the
    /// one before, not at a fixed moment), and fewer than C were live
    /// for a while.
    pub(crate) requests_span_s: f64,
    /// With `--rfq-secs`: how long each RFQ streamed (null without: each
    /// streamed the run's `--duration`).
    pub(crate) rfq_secs: Option<u64>,
    /// `quote_request`s the clients sent.
    pub(crate) rfqs_sent: u64,
    /// With `--rfq-secs`: the RFQs sent once C were live, which the
    /// headline figures below are taken from (null without: every RFQ).
    pub(crate) steady_rfqs: Option<u64>,
    /// RFQs that got at least one quote.
    pub(crate) rfqs_quoted: u64,
    /// RFQs answered with a `quote_request_reject` (reasons below).
    pub(crate) rfqs_rejected: u64,
    /// RFQs whose end the client never read (0 unless a connection was
    /// lost or the desk stalled past the run's end).
    pub(crate) rfqs_unfinished: u64,
    /// Every `quote` message the clients read, and per second of the run
    /// (the first request sent to the last RFQ's end read).
    pub(crate) quotes_read: u64,
    pub(crate) quotes_per_sec: u64,
    /// `quote_cancel`s read: quotes withdrawn before their RFQ's end, and
    /// the last quote of each RFQ at its end.
    pub(crate) cancels_read: u64,
    /// Per RFQ: its `quote_request` leaving the client to its first quote
    /// arriving at the client's socket (the kernel's receive stamp; see
    /// `bench::arrival`), less its fastest LP's answer time (that LP
    /// asked → its answer reaching the host): the desk's part, what issue
    /// 28 times. With `--rfq-secs` this and every figure down to
    /// `hops_us` are the steady RFQs' only.
    pub(crate) first_quote_over_fastest_p50_us: f64,
    pub(crate) first_quote_over_fastest_p99_us: f64,
    pub(crate) first_quote_over_fastest_max_us: f64,
    /// The same to the quote being read by the client's thread: also that
    /// thread's own wait for a core on the desk's machine.
    pub(crate) first_quote_read_over_fastest_p50_us: f64,
    pub(crate) first_quote_read_over_fastest_p99_us: f64,
    /// With `--rfq-secs`: the same for the ramp's RFQs, sent before C
    /// were live (null without: the headline is all ramp).
    pub(crate) ramp_first_quote_over_fastest_p50_us: Option<f64>,
    pub(crate) ramp_first_quote_over_fastest_p99_us: Option<f64>,
    /// Of it, the way in: the request leaving the client to the RFQ's
    /// first LP being asked (socket, parse, checks, desk start, session's
    /// first poll).
    pub(crate) request_to_lp_asked_p50_us: f64,
    pub(crate) request_to_lp_asked_p99_us: f64,
    /// And the way out: the fastest answer reaching the host to the first
    /// quote read (session, corroboration, client view, outbox, writer,
    /// socket).
    pub(crate) fastest_answer_to_quote_read_p50_us: f64,
    pub(crate) fastest_answer_to_quote_read_p99_us: f64,
    /// The hops, each RFQ's first quote, p50 / p99 µs: the request
    /// leaving the client → read and checked by its session, the desk
    /// starting it (`starting`) → its first LP asked; the fastest answer
    /// ready → its quote made by the request's task from the client view
    /// (`offered`) → taken by the connection's writer (`writing`) → read
    /// by the client.
    pub(crate) hops_us: HopFigures,
    /// How late the bench's simulated network handed answers to their
    /// sessions (only with delays): part of the way out.
    pub(crate) lp_answer_late_p50_us: Option<f64>,
    pub(crate) lp_answer_late_p99_us: Option<f64>,
    /// A quote message to its JSON frame, the server's call (timed on the
    /// clients' side on every 16th quote); a frame parsed at the client.
    pub(crate) quote_serialize_p50_us: f64,
    pub(crate) quote_serialize_p99_us: f64,
    pub(crate) client_parse_p50_us: f64,
    pub(crate) client_parse_p99_us: f64,
    /// Resident memory with the desk up and every client connected,
    /// before any RFQ; its largest while C RFQs are live (from the C-th
    /// request until an RFQ ends after the last one: with `--rfq-secs`
    /// the whole steady load).
    pub(crate) idle_rss_mb: f64,
    pub(crate) running_rss_mb: f64,
    /// (running − idle) ÷ C: the desk's stream (session, snapshot,
    /// registry entry, blotter share), its client-view task and its
    /// share of the connection's queue, and the bench's bookkeeping.
    pub(crate) rss_per_rfq_kb: f64,
    pub(crate) peak_rss_mb: f64,
    /// First quotes whose RFQ had no LP moments to match (0 unless the
    /// bench's own bookkeeping is wrong).
    pub(crate) unmatched_quotes: u64,
    /// What the desk refused or complained of, and connections it
    /// closed: each reason once.
    pub(crate) rejects: Vec<String>,
    pub(crate) errors: Vec<String>,
    pub(crate) connections_closed: Vec<String>,
}

impl ClientApiBenchReport {
    /// The report for a person, a few lines.
    pub fn text(&self) -> String {
        let mut text = format!(
            "bench through the client API: {} client RFQs x {} LPs over {} API clients (started {}), {:.1} s: {} quoted, {} rejected, {} unfinished; {} quotes read ({}/s)\n",
            self.sessions,
            self.lps,
            self.clients,
            self.starts,
            self.duration_s,
            self.rfqs_quoted,
            self.rfqs_rejected,
            self.rfqs_unfinished,
            self.quotes_read,
            self.quotes_per_sec,
        );
        if let (Some(secs), Some(steady), Some(ramp_p50), Some(ramp_p99)) = (
            self.rfq_secs,
            self.steady_rfqs,
            self.ramp_first_quote_over_fastest_p50_us,
            self.ramp_first_quote_over_fastest_p99_us,
        ) {
            text += &format!(
                "  steady: each RFQ streamed {secs} s, {} sent; the {steady} sent with {} live are below; the ramp's {} (sent before): request -> first quote at the client's socket, less the fastest LP's answer time: p50 {ramp_p50} us, p99 {ramp_p99} us\n",
                self.rfqs_sent,
                self.sessions,
                self.rfqs_sent.saturating_sub(steady),
            );
        }
        text += &format!(
            "  request -> first quote arrived at the client's socket, less the fastest LP's answer time: p50 {} us, p99 {} us, max {} us\n",
            self.first_quote_over_fastest_p50_us,
            self.first_quote_over_fastest_p99_us,
            self.first_quote_over_fastest_max_us,
        );
        text += &format!(
            "  request -> first quote read by the client's thread, less the same: p50 {} us, p99 {} us\n",
            self.first_quote_read_over_fastest_p50_us,
            self.first_quote_read_over_fastest_p99_us,
        );
        text += &format!(
            "  of which request -> first LP asked: p50 {} us, p99 {} us; fastest answer -> quote read: p50 {} us, p99 {} us\n",
            self.request_to_lp_asked_p50_us,
            self.request_to_lp_asked_p99_us,
            self.fastest_answer_to_quote_read_p50_us,
            self.fastest_answer_to_quote_read_p99_us,
        );
        let hops = &self.hops_us;
        text += &format!(
            "  hops of the first quote, p50 / p99 us: request sent -> read and checked {} / {}, -> first LP asked {} / {}; fastest answer ready -> quote made from the client view {} / {}, -> writer takes it {} / {}, -> client reads it {} / {}\n",
            hops.sent_to_starting[0],
            hops.sent_to_starting[1],
            hops.starting_to_lp_asked[0],
            hops.starting_to_lp_asked[1],
            hops.ready_to_offered[0],
            hops.ready_to_offered[1],
            hops.offered_to_writing[0],
            hops.offered_to_writing[1],
            hops.writing_to_read[0],
            hops.writing_to_read[1],
        );
        if let (Some(p50), Some(p99)) = (self.lp_answer_late_p50_us, self.lp_answer_late_p99_us) {
            text += &format!(
                "  of which the machine handing LP answers to their sessions (timer, wake-up): p50 {p50} us, p99 {p99} us\n"
            );
        }
        text += &format!(
            "  a quote to its JSON frame: p50 {} us, p99 {} us; a frame parsed at the client: p50 {} us, p99 {} us\n",
            self.quote_serialize_p50_us,
            self.quote_serialize_p99_us,
            self.client_parse_p50_us,
            self.client_parse_p99_us,
        );
        text += &format!(
            "  RSS idle {} MB, RFQs live {} MB: {} KB per live client RFQ; peak {} MB\n",
            self.idle_rss_mb, self.running_rss_mb, self.rss_per_rfq_kb, self.peak_rss_mb,
        );
        if self.unmatched_quotes > 0 {
            text += &format!(
                "  {} first quotes with no LP moments to match\n",
                self.unmatched_quotes
            );
        }
        for reason in &self.rejects {
            text += &format!("  a request was rejected: {reason}\n");
        }
        for reason in &self.errors {
            text += &format!("  the desk answered an error: {reason}\n");
        }
        for reason in &self.connections_closed {
            text += &format!("  the desk closed a connection: {reason}\n");
        }
        text
    }
}

/// The first quote's hops, p50 and p99 each (µs).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HopFigures {
    pub(crate) sent_to_starting: [f64; 2],
    pub(crate) starting_to_lp_asked: [f64; 2],
    pub(crate) ready_to_offered: [f64; 2],
    pub(crate) offered_to_writing: [f64; 2],
    pub(crate) writing_to_read: [f64; 2],
}

/// The first quote's hops, as recorded.
#[derive(Default)]
struct HopHistograms {
    sent_to_starting: LatencyHistogram,
    starting_to_lp_asked: LatencyHistogram,
    ready_to_offered: LatencyHistogram,
    offered_to_writing: LatencyHistogram,
    writing_to_read: LatencyHistogram,
}

impl HopHistograms {
    fn figures(&self) -> HopFigures {
        let both = |histogram: &LatencyHistogram| {
            [
                micros(histogram.percentile(50)),
                micros(histogram.percentile(99)),
            ]
        };
        HopFigures {
            sent_to_starting: both(&self.sent_to_starting),
            starting_to_lp_asked: both(&self.starting_to_lp_asked),
            ready_to_offered: both(&self.ready_to_offered),
            offered_to_writing: both(&self.offered_to_writing),
            writing_to_read: both(&self.writing_to_read),
        }
    }
}

/// When the clients send their requests, and which RFQs the headline
/// figures are taken from: the burst (C requests over one poll interval,
/// or together) or, with `--rfq-secs`, the steady load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    /// RFQs live at once after the ramp: C (`--sessions`).
    live: usize,
    /// Requests to send: C, or C for every S seconds of the run.
    rfqs: usize,
    /// Between two requests; zero sends them together.
    spacing: Duration,
    /// How long each RFQ streams (the desk's stream duration).
    stream: Duration,
    /// The time the requests are sent over.
    sending: Duration,
    /// `--rfq-secs`: the RFQs sent once C are live (from RFQ C on, one
    /// stream's length after the first) are the steady ones, which the
    /// headline figures count; those before them are the ramp. The burst
    /// has no steady RFQs: every RFQ counts in the headline, as it always
    /// has.
    steady: bool,
}

impl Schedule {
    /// The schedule `options` ask for, refusing an `--rfq-secs` that
    /// cannot run.
    fn of(options: &BenchOptions) -> anyhow::Result<Schedule> {
        options.check_rfq_secs().map_err(anyhow::Error::msg)?;
        let live = options.sessions;
        let run = Duration::from_secs(options.duration);
        Ok(match options.rfq_secs {
            None => {
                let spread = !options.lockstep && options.poll_ms > 0;
                let sending = Duration::from_millis(options.poll_ms);
                Schedule {
                    live,
                    rfqs: live,
                    spacing: match spread {
                        true => sending / live as u32,
                        false => Duration::ZERO,
                    },
                    stream: run,
                    sending,
                    steady: false,
                }
            }
            Some(secs) => {
                let stream = Duration::from_secs(secs);
                // C every S seconds; a part of one left at the run's end
                // (when S does not divide C x D) is not sent.
                let rfqs = (live as u64).saturating_mul(options.duration) / secs;
                Schedule {
                    live,
                    rfqs: usize::try_from(rfqs).unwrap_or(usize::MAX),
                    spacing: stream / live as u32,
                    stream,
                    sending: run,
                    steady: true,
                }
            }
        })
    }

    /// When the request after one due at `due`, sent at `sent`, is due:
    /// on time, its spacing later; after a hiccup, its spacing after the
    /// late one ([`next_start`]).
    fn next_send(&self, due: Instant, sent: Instant) -> Instant {
        next_start(due, sent, self.spacing)
    }

    /// RFQ `index` was sent before C were live (only with `--rfq-secs`).
    fn in_ramp(&self, index: usize) -> bool {
        self.steady && index < self.live
    }

    /// The RFQs sent once C were live (only with `--rfq-secs`).
    fn steady_rfqs(&self) -> Option<u64> {
        let steady = self.rfqs.saturating_sub(self.live) as u64;
        self.steady.then_some(steady)
    }

    /// How long after the first request the last RFQ's end is waited
    /// for: the last request, its stream, and room for a slow desk.
    fn patience(&self) -> Duration {
        self.sending + self.stream + Duration::from_secs(5)
    }

    /// How the requests went out, as the report names it.
    fn starts(&self) -> &'static str {
        match (self.steady, self.spacing.is_zero()) {
            (true, _) => "steady",
            (false, true) => "together",
            (false, false) => "spread",
        }
    }
}

/// What the clients' side is to do.
struct ClientPlan {
    url: String,
    tokens: Vec<Secret>,
    schedule: Schedule,
    /// When each RFQ's request left its client (by its index).
    sent: Vec<OnceLock<Instant>>,
    firsts: Arc<FirstAnswers>,
    hops: Arc<Hops>,
}

/// What the clients saw, added up over every connection.
#[derive(Default)]
struct ClientFigures {
    /// The RFQs the headline counts: every one, or with `--rfq-secs` those
    /// sent once C were live.
    over_fastest: LatenciesWithMax,
    /// The same RFQs to their first quote's read by the client's thread.
    read_over_fastest: LatenciesWithMax,
    /// With `--rfq-secs`, the RFQs sent before C were live.
    ramp_over_fastest: LatenciesWithMax,
    way_in: LatencyHistogram,
    way_out: LatencyHistogram,
    hops: HopHistograms,
    serialize: LatencyHistogram,
    parse: LatencyHistogram,
    quotes: AtomicU64,
    cancels: AtomicU64,
    quoted: AtomicU64,
    rejected: AtomicU64,
    finished: AtomicU64,
    unmatched: AtomicU64,
    /// C RFQs are live (C requests have been sent): RSS is sampled from
    /// then until `winding_down`.
    all_live: AtomicBool,
    /// Every request has been sent.
    all_sent: AtomicBool,
    /// An RFQ has ended since the last request was sent: fewer than C are
    /// live from then on. (The burst's first end; the steady load's ends
    /// before that were each one's room for the next.)
    winding_down: AtomicBool,
    idle_rss_mb: Mutex<f64>,
    running_rss_mb: Mutex<f64>,
    /// From the first request sent to the last.
    sending: Mutex<Duration>,
    rejects: Mutex<Vec<String>>,
    errors: Mutex<Vec<String>>,
    closed: Mutex<Vec<String>>,
    /// From the first request sent to the last RFQ's end read.
    run: Mutex<Duration>,
}

fn note_once(list: &Mutex<Vec<String>>, reason: String) {
    let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
    if !list.contains(&reason) {
        list.push(reason);
    }
}

/// What a client reads: the fields of [`Outbound`]'s messages the bench
/// looks at.
#[derive(Deserialize)]
struct Received {
    #[serde(rename = "type")]
    kind: String,
    client_rfq_id: Option<String>,
    quote_id: Option<Arc<str>>,
    bid: Option<Decimal>,
    offer: Option<Decimal>,
    amount: Option<Decimal>,
    bid_size: Option<Decimal>,
    offer_size: Option<Decimal>,
    valid_until: Option<String>,
    #[serde(default)]
    simulated: bool,
    reason: Option<String>,
    text: Option<String>,
}

type Socket = WebSocketStream<StampedStream>;

/// Runs the bench through the client API; see the module docs.
pub(crate) async fn run(
    options: &BenchOptions,
    settings: &Settings,
    blotter: BenchBlotter,
) -> anyhow::Result<ClientApiBenchReport> {
    let clients = options.connections();
    anyhow::ensure!(
        (1..=options.sessions).contains(&clients),
        "invalid --connections '{clients}': must be from 1 to --sessions ({})",
        options.sessions
    );
    let schedule = Schedule::of(options)?;
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
    // The bench's LPs, clients and load, not the desk's environment.
    let mut desk_settings = settings.clone();
    desk_settings.engine = params;
    desk_settings.duration_ms = u64::try_from(schedule.stream.as_millis()).unwrap_or(u64::MAX);
    desk_settings.blotter = blotter_at;
    desk_settings.speed_per_mille = 1000;
    desk_settings.scenario = None;
    desk_settings.lps_file = None;
    desk_settings.clients_file = None;

    let wire = Wire::start();
    let firsts = Arc::new(FirstAnswers::default());
    let lps = super::bench_lps(options, &wire, AnswerMarks::ClientApi(firsts.clone()));
    // Each client may ask as fast as a client file allows, so that the
    // rate limit never refuses the bench's load.
    let clients_file: String = (0..clients)
        .map(|n| {
            format!(
                "[[client]]\nname = \"bench-{}\"\ntoken_env = \"BENCH_CLIENT_TOKEN_{n}\"\nmax_rfqs_per_sec = 1000\n",
                n + 1
            )
        })
        .collect();
    let client_terms = crate::clients::parse("(the bench's clients)", &clients_file)?;
    let tokens: Vec<Secret> = (0..clients)
        .map(|_| Secret::new(format!("bench-{:032x}", rand::random::<u128>())))
        .collect();
    let named_tokens = (0..clients)
        .map(|n| {
            let id = ClientId::new(&format!("bench-{}", n + 1))
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            Ok((id, tokens[n].clone()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let desk = Arc::new(
        Desk::with_parts(desk_settings, LpRegistry::fixed(lps), blotter).with_clients(client_terms),
    );
    let hops = Arc::new(Hops::default());
    let api = ClientApi::watched(desk.clone(), hops.clone())?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("ws://{}", listener.local_addr()?);
    let (stopping, stop_seen) = watch::channel(false);
    let server = tokio::spawn(serve_clients(
        listener,
        clients,
        api,
        Arc::new(ClientTokens::given(named_tokens)),
        stop_seen,
    ));

    let plan = ClientPlan {
        url,
        tokens,
        schedule,
        sent: (0..schedule.rfqs).map(|_| OnceLock::new()).collect(),
        firsts,
        hops,
    };
    let figures = Arc::new(ClientFigures::default());
    let started = Instant::now();
    let (done, asked) = tokio::sync::oneshot::channel();
    let client_figures = figures.clone();
    std::thread::Builder::new()
        .name("bench-clients".into())
        .spawn(move || {
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(ask(plan, client_figures)));
            let _ = done.send(result);
        })?;
    let asked = asked
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the bench's clients' thread failed")));
    let elapsed = started.elapsed();
    // The desk stops whatever happened to the clients.
    let _ = stopping.send(true);
    server.await?;
    asked?;
    let Ok(desk) = Arc::try_unwrap(desk) else {
        anyhow::bail!("the bench's desk stopped with a client connection still open");
    };
    desk.shutdown().await;

    let (late_p50, late_p99) = match options.lp_delay_ms {
        0 => (None, None),
        _ => (
            Some(micros(wire.late().percentile(50))),
            Some(micros(wire.late().percentile(99))),
        ),
    };
    let read = |value: &Mutex<f64>| *value.lock().unwrap_or_else(|p| p.into_inner());
    let (idle, running) = (read(&figures.idle_rss_mb), read(&figures.running_rss_mb));
    let per_rfq_kb = (running - idle).max(0.0) * 1024.0 / options.sessions as f64;
    let taken = |list: &Mutex<Vec<String>>| list.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let over_fastest = &figures.over_fastest;
    let ramp = |percentile| {
        schedule
            .steady
            .then(|| micros(figures.ramp_over_fastest.percentile(percentile)))
    };
    let run = *figures.run.lock().unwrap_or_else(|p| p.into_inner());
    let quotes = figures.quotes.load(Ordering::Relaxed);
    let sent = schedule.rfqs as u64;
    let finished = figures.finished.load(Ordering::Relaxed);
    Ok(ClientApiBenchReport {
        client_api: true,
        sessions: options.sessions,
        clients,
        lps: options.lps,
        starts: schedule.starts(),
        duration_s: (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        requests_span_s: {
            let span = *figures.sending.lock().unwrap_or_else(|p| p.into_inner());
            (span.as_secs_f64() * 1000.0).round() / 1000.0
        },
        rfq_secs: options.rfq_secs,
        rfqs_sent: sent,
        steady_rfqs: schedule.steady_rfqs(),
        rfqs_quoted: figures.quoted.load(Ordering::Relaxed),
        rfqs_rejected: figures.rejected.load(Ordering::Relaxed),
        rfqs_unfinished: sent.saturating_sub(finished),
        quotes_read: quotes,
        quotes_per_sec: match run.as_secs_f64() {
            secs if secs > 0.0 => (quotes as f64 / secs) as u64,
            _ => 0,
        },
        cancels_read: figures.cancels.load(Ordering::Relaxed),
        first_quote_over_fastest_p50_us: micros(over_fastest.percentile(50)),
        first_quote_over_fastest_p99_us: micros(over_fastest.percentile(99)),
        first_quote_over_fastest_max_us: micros(over_fastest.max()),
        first_quote_read_over_fastest_p50_us: micros(figures.read_over_fastest.percentile(50)),
        first_quote_read_over_fastest_p99_us: micros(figures.read_over_fastest.percentile(99)),
        ramp_first_quote_over_fastest_p50_us: ramp(50),
        ramp_first_quote_over_fastest_p99_us: ramp(99),
        request_to_lp_asked_p50_us: micros(figures.way_in.percentile(50)),
        request_to_lp_asked_p99_us: micros(figures.way_in.percentile(99)),
        fastest_answer_to_quote_read_p50_us: micros(figures.way_out.percentile(50)),
        fastest_answer_to_quote_read_p99_us: micros(figures.way_out.percentile(99)),
        hops_us: figures.hops.figures(),
        lp_answer_late_p50_us: late_p50,
        lp_answer_late_p99_us: late_p99,
        quote_serialize_p50_us: micros(figures.serialize.percentile(50)),
        quote_serialize_p99_us: micros(figures.serialize.percentile(99)),
        client_parse_p50_us: micros(figures.parse.percentile(50)),
        client_parse_p99_us: micros(figures.parse.percentile(99)),
        idle_rss_mb: (idle * 10.0).round() / 10.0,
        running_rss_mb: (running * 10.0).round() / 10.0,
        rss_per_rfq_kb: (per_rfq_kb * 100.0).round() / 100.0,
        // The kernel updates the high-water mark lazily: never below a
        // sample taken during the run.
        peak_rss_mb: (super::peak_rss_mb().max(running) * 10.0).round() / 10.0,
        unmatched_quotes: figures.unmatched.load(Ordering::Relaxed),
        rejects: taken(&figures.rejects),
        errors: taken(&figures.errors),
        connections_closed: taken(&figures.closed),
    })
}

/// The desk's side: takes the bench's `clients` connections on
/// `listener`, each served by the client API's own connection code (as
/// `serve --client-ws` does, without its connection cap, which the
/// bench's few clients never reach), until each has closed.
async fn serve_clients(
    listener: TcpListener,
    clients: usize,
    api: Arc<ClientApi>,
    tokens: Arc<ClientTokens>,
    stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut stopped = stop.clone();
    for _ in 0..clients {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stopping| *stopping) => break,
        };
        let Ok((socket, peer)) = accepted else {
            continue;
        };
        connections.spawn(crate::client_api::ws::connection(
            socket,
            Opening::Plain,
            peer,
            api.clone(),
            tokens.clone(),
            stop.clone(),
        ));
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// The clients' side, on its own runtime: connects every client, notes
/// the idle RSS, sends the requests at their moments ([`Schedule`]; RFQ i
/// from client i mod N) and reads every connection until its RFQs have
/// ended.
async fn ask(plan: ClientPlan, figures: Arc<ClientFigures>) -> anyhow::Result<()> {
    let clients = plan.tokens.len();
    let mut sinks = Vec::with_capacity(clients);
    let mut sources = Vec::with_capacity(clients);
    for token in &plan.tokens {
        let (socket, arrivals) = connect(&plan.url, token).await?;
        let (sink, source) = socket.split();
        sinks.push(sink);
        sources.push((source, arrivals));
    }
    *figures
        .idle_rss_mb
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = status_mb("VmRSS:");
    let plan = Arc::new(plan);
    let first_sent = Instant::now();
    let schedule = plan.schedule;
    let give_up_at = tokio::time::Instant::from_std(first_sent + schedule.patience());
    let mut readers = tokio::task::JoinSet::new();
    for (index, (source, arrivals)) in sources.into_iter().enumerate() {
        // RFQ i is client i mod N's.
        let rfqs = (schedule.rfqs - index).div_ceil(clients);
        readers.spawn(read_client(
            source,
            arrivals,
            rfqs,
            give_up_at,
            plan.clone(),
            figures.clone(),
        ));
    }
    let sampler = tokio::spawn(sample_live_rss(figures.clone()));

    // Sent at their own moments on the wire's timer, as the other benches
    // start their streams: tokio's would bunch them on its ticks.
    let wire = Wire::start();
    let starts = wire.end();
    let mut send_at = first_sent;
    for index in 0..schedule.rfqs {
        if !schedule.spacing.is_zero() {
            starts.at(send_at).await;
            send_at = schedule.next_send(send_at, Instant::now());
        }
        let side = if index.is_multiple_of(2) {
            "buy"
        } else {
            "sell"
        };
        let request = serde_json::json!({
            "type": "quote_request",
            "client_rfq_id": format!("b{index}"),
            "pair": "BTCUSDT",
            "side": side,
            "amount": "1.5",
        });
        let frame = Message::text(request.to_string());
        let _ = plan.sent[index].set(Instant::now());
        // A connection the desk closed takes no more requests; its reader
        // has said why.
        let _ = sinks[index % clients].send(frame).await;
        if index + 1 == schedule.live {
            figures.all_live.store(true, Ordering::Relaxed);
        }
    }
    figures.all_sent.store(true, Ordering::Relaxed);
    *figures.sending.lock().unwrap_or_else(|p| p.into_inner()) = first_sent.elapsed();
    while let Some(read) = readers.join_next().await {
        read??;
    }
    *figures.run.lock().unwrap_or_else(|p| p.into_inner()) = first_sent.elapsed();
    figures.winding_down.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    for mut sink in sinks {
        let _ = sink.close().await;
    }
    Ok(())
}

/// Connects one client with its bearer token.
async fn connect(url: &str, token: &Secret) -> anyhow::Result<(Socket, Arc<LastArrival>)> {
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {}", token.expose()))?,
    );
    let (stream, arrivals) = super::connect_stamped(url).await?;
    let (socket, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(super::reading_config()))
            .await?;
    Ok((socket, arrivals))
}

/// Samples resident memory every 50 ms from the moment C RFQs are live
/// until fewer are, keeping the largest.
async fn sample_live_rss(figures: Arc<ClientFigures>) {
    let mut every = tokio::time::interval(Duration::from_millis(50));
    loop {
        every.tick().await;
        if figures.winding_down.load(Ordering::Relaxed) {
            return;
        }
        if figures.all_live.load(Ordering::Relaxed) {
            let rss = status_mb("VmRSS:");
            let mut running = (figures.running_rss_mb.lock()).unwrap_or_else(|p| p.into_inner());
            *running = running.max(rss);
        }
    }
}

/// Where one RFQ is, as its client has read it.
#[derive(Default, Clone, Copy)]
struct Seen {
    quoted: bool,
    finished: bool,
}

/// Reads one client's connection until its `rfqs` have ended (or the
/// desk closes it, or `give_up_at`), timing each RFQ's first quote.
async fn read_client(
    mut source: SplitStream<Socket>,
    arrivals: Arc<LastArrival>,
    rfqs: usize,
    give_up_at: tokio::time::Instant,
    plan: Arc<ClientPlan>,
    figures: Arc<ClientFigures>,
) -> anyhow::Result<()> {
    let mut seen: HashMap<usize, Seen> = HashMap::with_capacity(rfqs);
    let mut finished = 0;
    let mut quotes = 0u64;
    let mut clock = ArrivalClock::new();
    while finished < rfqs {
        let Ok(frame) = tokio::time::timeout_at(give_up_at, source.next()).await else {
            break;
        };
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            Some(Ok(_)) => continue,
        };
        let read_at = Instant::now();
        let received = serde_json::from_str::<Received>(text.as_str())?;
        figures.parse.record(read_at.elapsed());
        let index = received
            .client_rfq_id
            .as_deref()
            .and_then(|id| id.strip_prefix('b'))
            .and_then(|n| n.parse::<usize>().ok());
        match (received.kind.as_str(), index) {
            ("quote", Some(index)) => {
                figures.quotes.fetch_add(1, Ordering::Relaxed);
                quotes += 1;
                let rfq = seen.entry(index).or_default();
                if !rfq.quoted {
                    rfq.quoted = true;
                    figures.quoted.fetch_add(1, Ordering::Relaxed);
                    let arrived = clock.arrived(&arrivals, read_at);
                    time_first_quote(&plan, &figures, index, &received, [arrived, read_at]);
                }
                if quotes % 16 == 1 {
                    time_serialize(&figures, &received);
                }
            }
            ("quote_cancel", Some(index)) => {
                figures.cancels.fetch_add(1, Ordering::Relaxed);
                // An expired quote may be followed by a fresh one; any
                // other cancel is the RFQ's last word.
                if received.reason.as_deref() != Some("expired") {
                    finished += finish(&mut seen, index, &figures);
                    let rfq_id =
                        (received.quote_id.as_deref()).and_then(crate::ids::rfq_id_of_quote);
                    if let Some(rfq_id) = rfq_id {
                        plan.firsts.forget(&rfq_id);
                    }
                }
            }
            ("quote_request_reject", Some(index)) => {
                figures.rejected.fetch_add(1, Ordering::Relaxed);
                note_once(&figures.rejects, received.text.unwrap_or_default());
                finished += finish(&mut seen, index, &figures);
            }
            ("error", _) => {
                let reason = received.reason.unwrap_or_default();
                if reason.contains("behind the desk") {
                    note_once(&figures.closed, reason);
                } else {
                    note_once(&figures.errors, reason);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Marks RFQ `index` ended: 1 the first time, 0 after.
fn finish(seen: &mut HashMap<usize, Seen>, index: usize, figures: &ClientFigures) -> usize {
    let rfq = seen.entry(index).or_default();
    if rfq.finished {
        return 0;
    }
    rfq.finished = true;
    if figures.all_sent.load(Ordering::Relaxed) {
        figures.winding_down.store(true, Ordering::Relaxed);
    }
    figures.finished.fetch_add(1, Ordering::Relaxed);
    1
}

/// RFQ `index`'s first quote arrived at the client's socket and was read
/// at `[arrived, read_at]`: the desk's part of the wait is all of it (to
/// its arrival) less its fastest LP's answer time.
fn time_first_quote(
    plan: &ClientPlan,
    figures: &ClientFigures,
    index: usize,
    quote: &Received,
    [arrived, read_at]: [Instant; 2],
) {
    // Taken for every first quote, timed or not, so that the bench keeps
    // moments only for RFQs whose first quote is still to come.
    let hop_moments = (quote.quote_id.as_deref()).and_then(|id| plan.hops.take(index, id));
    let sent = plan.sent.get(index).and_then(OnceLock::get);
    let firsts = (quote.quote_id.as_deref())
        .and_then(crate::ids::rfq_id_of_quote)
        .and_then(|rfq_id| plan.firsts.of(&rfq_id));
    let (Some(&sent), Some((asked, ready))) = (sent, firsts) else {
        figures.unmatched.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let way_in = asked.saturating_duration_since(sent);
    let way_out = read_at.saturating_duration_since(ready);
    let over_fastest = way_in + arrived.saturating_duration_since(ready);
    if plan.schedule.in_ramp(index) {
        figures.ramp_over_fastest.record(over_fastest);
        return;
    }
    figures.read_over_fastest.record(way_in + way_out);
    figures.way_in.record(way_in);
    figures.way_out.record(way_out);
    if let Some(hop_moments) = hop_moments {
        time_hops(figures, hop_moments, [sent, asked, ready, read_at]);
    }
    figures.over_fastest.record(over_fastest);
}

/// The first quote's hops between the moments the client API noted,
/// `[starting, offered, writing]`, and `[sent, asked, ready, read]`.
fn time_hops(
    figures: &ClientFigures,
    [starting, offered, writing]: [Instant; 3],
    [sent, asked, ready, read]: [Instant; 4],
) {
    let hops = &figures.hops;
    let between = |from: Instant, to: Instant| to.saturating_duration_since(from);
    hops.sent_to_starting.record(between(sent, starting));
    hops.starting_to_lp_asked.record(between(starting, asked));
    hops.ready_to_offered.record(between(ready, offered));
    hops.offered_to_writing.record(between(offered, writing));
    hops.writing_to_read.record(between(writing, read));
}

/// The server's own step for a quote: the same message through the same
/// serializer.
fn time_serialize(figures: &ClientFigures, quote: &Received) {
    let (Some(client_rfq_id), Some(quote_id), Some(amount), Some(valid_until)) = (
        quote.client_rfq_id.as_deref(),
        quote.quote_id.clone(),
        quote.amount,
        quote.valid_until.clone(),
    ) else {
        return;
    };
    let message = Outbound::Quote {
        client_rfq_id: Arc::from(client_rfq_id),
        quote_id,
        bid: quote.bid,
        offer: quote.offer,
        amount,
        // The bench asks for base amounts.
        amount_currency: None,
        bid_size: quote.bid_size,
        offer_size: quote.offer_size,
        valid_until,
        simulated: quote.simulated,
    };
    let began = Instant::now();
    let frame = serde_json::to_string(&message);
    figures.serialize.record(began.elapsed());
    drop(frame);
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Bench {
        #[command(flatten)]
        options: BenchOptions,
    }

    /// The schedule `bench --client-api ARGS` runs.
    fn schedule(args: &str) -> anyhow::Result<Schedule> {
        let args = ["bench", "--client-api"].into_iter().chain(args.split(' '));
        Schedule::of(&Bench::try_parse_from(args)?.options)
    }

    /// When each request is due after the first, none held up.
    fn moments(schedule: &Schedule) -> Vec<Duration> {
        let first = Instant::now();
        let mut due = first;
        (0..schedule.rfqs)
            .map(|_| {
                let moment = due - first;
                due = schedule.next_send(due, due);
                moment
            })
            .collect()
    }

    #[test]
    fn the_steady_load_sends_c_every_rfq_secs_for_the_whole_run() {
        let ms = Duration::from_millis;
        // 20 live, each streaming 1 s, for 3 s: one request every 50 ms.
        let steady = schedule("--sessions 20 --rfq-secs 1 --duration 3 --poll-ms 100").unwrap();
        assert_eq!(
            steady,
            Schedule {
                live: 20,
                rfqs: 60,
                spacing: ms(50),
                stream: ms(1_000),
                sending: ms(3_000),
                steady: true,
            }
        );
        let sent = moments(&steady);
        assert_eq!(sent.len(), 60);
        assert_eq!(sent[0], ms(0));
        assert_eq!(sent[1], ms(50));
        assert_eq!(sent[19], ms(950));
        // RFQ 20 goes out as RFQ 0's second ends: the first steady one.
        assert_eq!(sent[20], ms(1_000));
        assert_eq!(sent[59], ms(2_950));
        assert!((0..20).all(|index| steady.in_ramp(index)));
        assert!((20..60).all(|index| !steady.in_ramp(index)));
        assert_eq!(steady.steady_rfqs(), Some(40));
        assert_eq!(steady.starts(), "steady");
        // The last request, its stream, and 5 s of room.
        assert_eq!(steady.patience(), ms(9_000));

        // The issue's load: 1000 live, a request every 5 ms for 15 s.
        let issue = schedule("--sessions 1000 --rfq-secs 5 --duration 15").unwrap();
        assert_eq!((issue.rfqs, issue.spacing), (3_000, ms(5)));
        assert_eq!(moments(&issue)[1_000], ms(5_000));
        assert_eq!(issue.steady_rfqs(), Some(2_000));
        assert_eq!(issue.patience(), ms(25_000));

        // S not dividing C x D: the part of a request left is not sent.
        let uneven = schedule("--sessions 3 --rfq-secs 2 --duration 5").unwrap();
        assert_eq!((uneven.rfqs, uneven.steady_rfqs()), (7, Some(4)));
    }

    #[test]
    fn the_burst_sends_c_over_one_poll_interval_and_counts_every_rfq() {
        let us = Duration::from_micros;
        let burst = schedule("--sessions 1000 --duration 10 --poll-ms 100").unwrap();
        assert_eq!(
            burst,
            Schedule {
                live: 1_000,
                rfqs: 1_000,
                spacing: us(100),
                stream: us(10_000_000),
                sending: us(100_000),
                steady: false,
            }
        );
        let sent = moments(&burst);
        assert_eq!((sent[1], sent[999]), (us(100), us(99_900)));
        assert!((0..1_000).all(|index| !burst.in_ramp(index)));
        assert_eq!(burst.steady_rfqs(), None);
        assert_eq!(burst.starts(), "spread");
        assert_eq!(burst.patience(), us(15_100_000));
        let together = schedule("--sessions 4 --poll-ms 100 --lockstep").unwrap();
        assert_eq!(
            (together.spacing, together.starts()),
            (Duration::ZERO, "together")
        );
        let unpolled = schedule("--sessions 4").unwrap();
        assert_eq!(unpolled.starts(), "together");
    }

    #[test]
    fn a_steady_load_needs_an_rfq_shorter_than_the_run() {
        let refused = |args| schedule(args).unwrap_err().to_string();
        assert_eq!(
            refused("--rfq-secs 10 --duration 10"),
            "invalid --rfq-secs '10': must be less than --duration (10)"
        );
        assert_eq!(
            refused("--rfq-secs 0"),
            "invalid --rfq-secs '0': must be at least 1"
        );
        assert!(refused("--rfq-secs 1 --lockstep").contains("--lockstep"));
    }

    #[test]
    fn an_rfq_keeps_its_first_request_and_its_fastest_answer() {
        let firsts = FirstAnswers::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let rfq: Arc<str> = Arc::from("R1");
        // An answer to an RFQ never asked is not noted.
        firsts.answered("R1", t0);
        assert_eq!(firsts.of("R1"), None);
        firsts.asked(&rfq, t0 + ms(1));
        firsts.asked(&rfq, t0 + ms(2));
        assert_eq!(firsts.of("R1"), None, "asked, not yet answered");
        firsts.answered("R1", t0 + ms(9));
        firsts.answered("R1", t0 + ms(6));
        firsts.answered("R1", t0 + ms(8));
        assert_eq!(firsts.of("R1"), Some((t0 + ms(1), t0 + ms(6))));
        assert_eq!(firsts.of("R2"), None);
        // Ended: kept no longer, and a late answer does not bring it back.
        firsts.forget("R1");
        firsts.answered("R1", t0 + ms(10));
        assert_eq!(firsts.of("R1"), None);
        assert!(firsts.by_rfq.lock().unwrap().is_empty());
    }

    #[test]
    fn an_rfqs_hop_moments_are_dropped_once_its_first_quote_is_read() {
        let hops = Hops::default();
        let quote_id: Arc<str> = Arc::from("Q7-1");
        hops.starting("b3");
        hops.quote_offered(&quote_id);
        // Later quotes are not noted.
        hops.quote_offered(&Arc::from("Q7-2"));
        assert_eq!(hops.offered.lock().unwrap().len(), 1);
        // Not yet taken by the writer: nothing to time, and nothing kept.
        assert_eq!(hops.take(3, "Q7-1"), None);
        hops.starting("b3");
        hops.quote_offered(&quote_id);
        hops.quote_writing(&quote_id);
        let [starting, offered, writing] = hops.take(3, "Q7-1").unwrap();
        assert!(starting <= offered && offered <= writing);
        assert!(hops.starting.lock().unwrap().is_empty());
        assert!(hops.offered.lock().unwrap().is_empty());
        assert!(hops.writing.lock().unwrap().is_empty());
    }
}
