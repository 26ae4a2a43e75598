//! Shared helpers: run a whole stream under paused time with scripted LPs
//! and reduce its events to compact, exact trace lines.

use std::future::Future;
use std::sync::Arc;

use lp_rfq::clock::StreamClock;
use lp_rfq::lp::SharedLp;
use lp_rfq::market::{Bps, Side};
use lp_rfq::rfq::event::{EventKind, Outcome};
use lp_rfq::rfq::{EngineParams, RfqEvent, RfqSpec, Session};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::sync::mpsc;

/// 10 bps markup, 1 bp threshold, 2 s buffer, 500 ms polls, 1 s timeout.
pub fn params() -> EngineParams {
    EngineParams {
        markup: Bps::new(dec!(10)).unwrap(),
        threshold: Bps::new(dec!(1)).unwrap(),
        validity_buffer_ms: 2_000,
        poll_interval_ms: 500,
        lp_timeout_ms: 1_000,
        order_timeout_ms: 5_000,
        max_deviation: Bps::new(rust_decimal_macros::dec!(200)).unwrap(),
        fade_tolerance: Bps::new(rust_decimal_macros::dec!(2)).unwrap(),
    }
}

/// The market the fixtures quote BTCUSDT around, as the desk's own recent
/// corroborated price would be: a lone LP near it is offered at once.
pub const DESK_REFERENCE: Decimal = dec!(100000.00);

/// A stream's engine parameters and what it starts out trusting: the
/// desk's reference for the pair, if it has one. `params()` alone is a
/// desk with no reference (a lone LP's price stays unverified).
#[derive(Clone, Copy)]
pub struct Setup {
    pub params: EngineParams,
    pub reference: Option<Decimal>,
}

impl From<EngineParams> for Setup {
    fn from(params: EngineParams) -> Setup {
        Setup {
            params,
            reference: None,
        }
    }
}

/// `params` on a desk whose recent corroborated price for the pair is
/// [`DESK_REFERENCE`].
pub fn with_reference(params: EngineParams) -> Setup {
    Setup {
        params,
        reference: Some(DESK_REFERENCE),
    }
}

pub fn spec(side: Side) -> RfqSpec {
    RfqSpec {
        side,
        amount: dec!(1.5),
        pair: "BTCUSDT".parse().unwrap(),
        fixed: lp_rfq::market::Leg::Base,
    }
}

/// Runs one stream to its end and returns every event.
pub async fn run_stream_until(
    spec: RfqSpec,
    lps: Vec<SharedLp>,
    params: impl Into<Setup>,
    duration_ms: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Vec<RfqEvent> {
    run_stream_at_speed(spec, lps, params, duration_ms, 1000, shutdown).await
}

/// Runs one stream whose stream time runs `speed_per_mille / 1000` times
/// faster than (paused) real time.
pub async fn run_stream_at_speed(
    spec: RfqSpec,
    lps: Vec<SharedLp>,
    params: impl Into<Setup>,
    duration_ms: u64,
    speed_per_mille: u64,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Vec<RfqEvent> {
    let clock = StreamClock::start_with_speed(speed_per_mille);
    let session = test_session(spec, lps, params.into(), duration_ms, clock);
    let (sender, receiver) = mpsc::channel(100_000);
    session.run_until(sender, shutdown).await;
    drain(receiver)
}

/// A session `R-test` with no price band.
fn test_session(
    spec: RfqSpec,
    lps: Vec<SharedLp>,
    setup: Setup,
    duration_ms: u64,
    clock: StreamClock,
) -> Session {
    let Setup { params, reference } = setup;
    Session {
        rfq_id: Arc::from("R-test"),
        spec,
        lps,
        params,
        duration_ms,
        clock,
        band: None,
        reference,
        desk_reference: None,
        client: lp_rfq::rfq::ClientId::house(),
        operator: None,
        channel: lp_rfq::rfq::Channel::Operator,
    }
}

/// Every event already sent on `receiver`.
fn drain(mut receiver: mpsc::Receiver<RfqEvent>) -> Vec<RfqEvent> {
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        events.push(event);
    }
    events
}

pub async fn run_stream(
    spec: RfqSpec,
    lps: Vec<SharedLp>,
    params: impl Into<Setup>,
    duration_ms: u64,
) -> Vec<RfqEvent> {
    run_stream_until(spec, lps, params, duration_ms, std::future::pending()).await
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_else(|| "-".to_string())
}

/// One line per event, everything but the wall-clock quote ids.
pub fn trace(events: &[RfqEvent]) -> Vec<String> {
    events
        .iter()
        .map(|event| {
            let t = event.t_ms;
            match &event.kind {
                EventKind::Started(s) => format!("{t} started {} lps", s.lps.len()),
                EventKind::LpQuote(q) => format!("{t} quote {} {}", q.lp, q.price),
                EventKind::LpError(e) => {
                    format!("{t} error {} {}: {}", e.lp, e.kind.as_str(), e.reason)
                }
                EventKind::ClientQuote(q) => format!(
                    "{t} client {} {}->{} {} valid {}",
                    q.lp,
                    q.lp_price,
                    q.client_price,
                    q.reason.as_str(),
                    q.client_valid_for_ms
                ),
                EventKind::Locked(l) => format!("{t} locked {} {} {:?}", l.lp, l.price, l.reason),
                EventKind::LockExpired(x) => format!("{t} expired {}", x.lp),
                EventKind::Unverified(u) => format!("{t} unverified {} {}", u.lp, u.price),
                EventKind::Released(r) => format!("{t} released {} {}", r.lp, r.price),
                EventKind::OrderSent(o) => format!(
                    "{t} order {} {} attempt {} for {}{}",
                    o.lp,
                    o.lp_price,
                    o.attempt,
                    o.quote_id,
                    o.preferred_over
                        .as_ref()
                        .map(|why| format!(" {}", why.describe()))
                        .unwrap_or_default()
                ),
                EventKind::LpHealth(h) => format!(
                    "{t} health {} {}{}",
                    h.lp,
                    h.label(0),
                    h.reason
                        .as_deref()
                        .map(|reason| format!(" ({reason})"))
                        .unwrap_or_default()
                ),
                EventKind::OrderRejected(r) => {
                    format!("{t} rejected {} hold {}: {}", r.lp, r.hold_ms, r.reason)
                }
                EventKind::Filled(f) => format!(
                    "{t} filled {} {} client {} pays {} {} receives {} {} pnl {} {} hold {}",
                    f.lp,
                    f.lp_price,
                    f.client_price,
                    f.client_pays,
                    f.pays_asset,
                    f.client_receives,
                    f.receives_asset,
                    f.desk_pnl,
                    f.pnl_asset,
                    f.hold_ms
                ),
                EventKind::ExecutionUnknown(u) => format!("{t} unknown {}: {}", u.lp, u.reason),
                EventKind::NotFilled(n) => format!("{t} not_filled: {}", n.reason),
                EventKind::BlotterError(e) => format!("{t} blotter_error {}", e.reason),
                EventKind::Ended(e) => format!(
                    "{t} ended {}{} improvements={} lp={} price={}",
                    e.reason.as_str(),
                    match e.outcome {
                        Outcome::NotAccepted => String::new(),
                        outcome => format!(" {}", outcome.as_str()),
                    },
                    e.improvements,
                    opt(&e.lp),
                    opt(&e.client_price)
                ),
            }
        })
        .collect()
}

/// Only the lines of one kind ("locked", "client", ...), for focused checks.
pub fn only(lines: &[String], word: &str) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.split(' ').nth(1) == Some(word))
        .cloned()
        .collect()
}

/// The built binary, run from `dir`, with none of the settings variables
/// (or RUST_LOG) of the developer's environment.
pub fn lp_rfq_in(dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lp-rfq"));
    command.current_dir(dir);
    for name in lp_rfq::config::SETTING_NAMES {
        command.env_remove(name);
    }
    command.env_remove("RUST_LOG");
    command
}

/// An empty directory under cargo's target dir for tests, so that no
/// developer `.env` is found from it and nothing is left in /tmp.
pub fn empty_dir() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// Runs one stream to its end, sending each command at its stream time,
/// and returns every event.
pub async fn run_stream_with_commands(
    spec: RfqSpec,
    lps: Vec<SharedLp>,
    params: impl Into<Setup>,
    duration_ms: u64,
    commands: Vec<(u64, lp_rfq::rfq::StreamCommand)>,
) -> Vec<RfqEvent> {
    let clock = StreamClock::start();
    let session = test_session(spec, lps, params.into(), duration_ms, clock);
    let (sender, receiver) = mpsc::channel(100_000);
    let (inbox_sender, inbox) = lp_rfq::rfq::inbox::channel(16);
    let commander = tokio::spawn(async move {
        for (at_ms, command) in commands {
            clock.sleep_until(at_ms).await;
            let _ = inbox_sender.send(command).await;
        }
        // Keep the inbox open until the stream ends.
        std::future::pending::<()>().await;
    });
    session.run(sender, inbox).await;
    commander.abort();
    drain(receiver)
}

/// [`run_stream_with_commands`] for a two-way request (`spec`'s side is
/// not used).
pub async fn run_two_way_with_commands(
    spec: RfqSpec,
    lps: Vec<SharedLp>,
    params: impl Into<Setup>,
    duration_ms: u64,
    commands: Vec<(u64, lp_rfq::rfq::StreamCommand)>,
) -> Vec<RfqEvent> {
    let clock = StreamClock::start();
    let session = test_session(spec, lps, params.into(), duration_ms, clock);
    let (sender, receiver) = mpsc::channel(100_000);
    let (inbox_sender, inbox) = lp_rfq::rfq::inbox::channel(16);
    let commander = tokio::spawn(async move {
        for (at_ms, command) in commands {
            clock.sleep_until(at_ms).await;
            let _ = inbox_sender.send(command).await;
        }
        std::future::pending::<()>().await;
    });
    lp_rfq::rfq::two_way::run(session, sender, inbox).await;
    commander.abort();
    drain(receiver)
}

/// [`trace`] with each two-way side's lines marked `bid` or `offer`.
pub fn two_way_trace(events: &[RfqEvent]) -> Vec<String> {
    events
        .iter()
        .zip(trace(events))
        .map(|(event, line)| match event.two_way_side {
            Some(Side::Sell) => format!("bid {line}"),
            Some(Side::Buy) => format!("offer {line}"),
            None => line,
        })
        .collect()
}
