//! What the binary does: turns the parsed command line into streams and
//! wires each session's event channel to the chosen output. `main.rs` only
//! loads `.env`, parses flags, starts logging and calls [`run`].

use std::future::Future;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::cli::{Cli, Command};
use crate::clock::StreamClock;
use crate::config::Settings;
use crate::ids;
use crate::lp::mock::mock_lps;
use crate::lp::SharedLp;
use crate::market::{Pair, Side};
use crate::output::{json, plain};
use crate::prompt;
use crate::rfq::event::{EndReason, Ended};
use crate::rfq::{RfqEvent, RfqSpec, Session};

/// How headless streams are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Plain,
    Json,
}

/// Events buffered between a session and its output.
const EVENT_BUFFER: usize = 1024;

/// Runs the command line's command.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    let console = cli.wants_console();
    let mode = if cli.json {
        OutputMode::Json
    } else {
        OutputMode::Plain
    };
    match cli.command {
        Some(Command::Quote { side, amount, pair }) => {
            let spec = parse_request(&side, &amount, &pair)?;
            run_quote(spec, mode, &settings).await
        }
        None if console => crate::ui::run(&settings).await,
        None => run_prompt(mode, &settings).await,
    }
}

/// Parses a request given as arguments.
pub fn parse_request(side: &str, amount: &str, pair: &str) -> anyhow::Result<RfqSpec> {
    let side: Side = side.parse()?;
    let pair: Pair = pair.parse()?;
    let amount = pair.parse_amount(amount)?;
    Ok(RfqSpec { side, amount, pair })
}

/// The LPs a stream asks: the built-in mocks, seeded per stream so that a
/// seeded session is repeatable request by request.
pub fn lps_for(settings: &Settings, stream_index: u64) -> Vec<SharedLp> {
    mock_lps(
        &settings.mock,
        settings.seed.map(|seed| seed.wrapping_add(stream_index)),
    )
}

/// Completes on Ctrl+C or SIGTERM: the operator wants the stream to stop.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A running stream: its events arrive on `events`, in order, ending with
/// `ended`; `stop` asks it to end early (as an interrupt).
pub struct StreamHandle {
    pub rfq_id: Arc<str>,
    /// The stream's clock: `clock.now_ms()` is the stream time that event
    /// `t_ms` values count in (for countdowns between events).
    pub clock: StreamClock,
    pub events: mpsc::Receiver<RfqEvent>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Ended>,
}

impl StreamHandle {
    /// Ends the stream early; its `ended` event says `interrupted`.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for the session to finish and returns its summary.
    pub async fn finish(self) -> anyhow::Result<Ended> {
        self.task.await.context("the RFQ session failed")
    }
}

/// Starts one stream as its own task. Every consumer — headless output,
/// console — reads the same events from the returned handle.
pub fn start_stream(
    spec: RfqSpec,
    settings: &Settings,
    lps: Vec<SharedLp>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> StreamHandle {
    let clock = StreamClock::start();
    let rfq_id = ids::next_rfq_id(clock.wall_origin());
    let session = Session {
        rfq_id: rfq_id.clone(),
        spec,
        lps,
        params: settings.engine,
        duration_ms: settings.duration_ms,
        clock,
    };
    let (sender, events) = mpsc::channel(EVENT_BUFFER);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(session.run(sender, async move {
        tokio::select! {
            _ = shutdown => {}
            _ = stopped => {}
        }
    }));
    StreamHandle {
        rfq_id,
        clock,
        events,
        stop: Some(stop),
        task,
    }
}

/// Runs one stream and hands every event, in order, to `on_event`. An
/// output that fails (a closed pipe) stops the stream early.
pub async fn stream(
    spec: RfqSpec,
    settings: &Settings,
    lps: Vec<SharedLp>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut on_event: impl FnMut(&RfqEvent) -> io::Result<()>,
) -> anyhow::Result<Ended> {
    let mut handle = start_stream(spec, settings, lps, shutdown);
    while let Some(event) = handle.events.recv().await {
        if let Err(error) = on_event(&event) {
            handle.stop();
            if error.kind() != io::ErrorKind::BrokenPipe {
                return Err(error).context("cannot write the stream's output");
            }
        }
    }
    handle.finish().await
}

/// Writes events to stdout in the chosen mode, flushing each so that a
/// pipe sees every line at once.
fn stdout_writer(mode: OutputMode) -> impl FnMut(&RfqEvent) -> io::Result<()> {
    let mut printer = plain::PlainPrinter::new();
    move |event| {
        let mut out = io::stdout().lock();
        match mode {
            OutputMode::Json => json::write_event(&mut out, event)?,
            OutputMode::Plain => out.write_all(printer.render(event).as_bytes())?,
        }
        out.flush()
    }
}

/// `lp-rfq quote SIDE AMOUNT PAIR`: one stream, then exit.
async fn run_quote(
    spec: RfqSpec,
    mode: OutputMode,
    settings: &Settings,
) -> anyhow::Result<ExitCode> {
    if mode == OutputMode::Plain {
        print!("{}", plain::banner());
    }
    let ended = stream(
        spec,
        settings,
        lps_for(settings, 0),
        interrupted(),
        stdout_writer(mode),
    )
    .await?;
    if ended.reason == EndReason::NoQuotes {
        eprintln!("lp-rfq: no LP quotes {}", spec.pair.symbol());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// No subcommand: ask for a request, stream it, ask for the next. Ctrl+C
/// stops a stream and returns to the prompt; at the prompt it quits. With
/// `--json` the questions go to stderr so stdout stays pure JSON.
async fn run_prompt(mode: OutputMode, settings: &Settings) -> anyhow::Result<ExitCode> {
    if mode == OutputMode::Plain {
        print!("{}", plain::banner());
        println!("Enter a client request (q to quit).");
    }
    let mut stream_index = 0;
    loop {
        let asked = tokio::task::spawn_blocking(move || {
            let mut input = io::stdin().lock();
            match mode {
                OutputMode::Plain => prompt::read_request(&mut input, &mut io::stdout()),
                OutputMode::Json => prompt::read_request(&mut input, &mut io::stderr()),
            }
        });
        let spec = tokio::select! {
            answer = asked => answer.context("the prompt failed")?.context("cannot read the request")?,
            _ = interrupted() => None,
        };
        let Some(spec) = spec else {
            if mode == OutputMode::Plain {
                println!();
            }
            return Ok(ExitCode::SUCCESS);
        };
        let lps = lps_for(settings, stream_index);
        stream_index += 1;
        stream(spec, settings, lps, interrupted(), stdout_writer(mode)).await?;
    }
}
