//! What the binary does: turns the parsed command line into streams and
//! wires each session's event channel to the chosen output. `main.rs` only
//! loads `.env`, parses flags, starts logging and calls [`run`].

use std::future::Future;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::blotter::{report, Blotter, BlotterSink};
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
use crate::scenario::{ScenarioContext, SCENARIOS};

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
    let spec = match cli.command {
        Some(Command::Report {
            since,
            until,
            pair,
            lp,
            last,
            csv,
        }) => {
            let filter = match report::Filter::parse(
                since.as_deref(),
                until.as_deref(),
                pair.as_deref(),
                lp.as_deref(),
                last.as_deref(),
            ) {
                Ok(filter) => filter,
                Err(error) => return Ok(usage_error(error)),
            };
            let format = match (cli.json, csv) {
                (true, _) => report::Format::Json,
                (_, true) => report::Format::Csv,
                _ => report::Format::Table,
            };
            return run_report(&settings, &filter, format);
        }
        Some(Command::Bench(mut options)) => {
            // `--duration` is the global stream-duration flag; a bench that
            // was not given one runs for its own default of 10 s.
            if cli.typed.duration {
                options.duration = settings.duration_ms.div_ceil(1000);
            }
            let blotter = match (&settings.blotter, cli.typed.blotter) {
                (None, _) => crate::bench::BenchBlotter::Off,
                (Some(path), true) => crate::bench::BenchBlotter::At(path.clone()),
                (Some(_), false) => crate::bench::BenchBlotter::Scratch,
            };
            let report = crate::bench::run(&options, &settings, blotter).await?;
            println!("{}", serde_json::to_string(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Scenarios) => {
            print!("{}", scenario_list());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Quote { side, amount, pair }) => match parse_request(&side, &amount, &pair) {
            Ok(spec) => Some(spec),
            Err(error) => return Ok(usage_error(error)),
        },
        None => None,
    };
    // The blotter opens before any stream starts: a desk must not trade on
    // a run it cannot record.
    let blotter = match &settings.blotter {
        Some(path) => match Blotter::open(path) {
            Ok(blotter) => Some(blotter),
            Err(error) => {
                eprintln!("lp-rfq: {error}");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };
    let sink = blotter.as_ref().map(Blotter::sink);
    let result = match spec {
        Some(spec) => run_quote(spec, mode, &settings, sink).await,
        None if console => crate::ui::run(&settings, sink).await,
        None => run_prompt(mode, &settings, sink).await,
    };
    if let Some(blotter) = blotter {
        close_blotter(blotter).await;
    }
    result
}

/// Commits everything still in flight; says so when events were lost.
pub async fn close_blotter(blotter: Blotter) {
    let path = blotter.path().to_path_buf();
    let stats = blotter.close().await;
    tracing::info!(?stats, path = %path.display(), "blotter closed");
    if stats.lost > 0 {
        eprintln!(
            "lp-rfq: warning: blotter '{}': {} events could not be written",
            path.display(),
            stats.lost
        );
    }
}

/// `lp-rfq report`: reads the blotter, prints the report.
fn run_report(
    settings: &Settings,
    filter: &report::Filter,
    format: report::Format,
) -> anyhow::Result<ExitCode> {
    let Some(path) = &settings.blotter else {
        return Ok(usage_error(
            "nothing to report: the blotter is off (--no-blotter or NO_BLOTTER)",
        ));
    };
    let loaded = match report::load(path, filter) {
        Ok(loaded) => loaded,
        Err(error) => return Ok(usage_error(error)),
    };
    let text = report::render(&loaded, format, path, filter);
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write the report")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// A request, filter, setting or file the user gave that cannot be used:
/// said on one line, exit code 2 (as clap does for a malformed command).
fn usage_error(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("lp-rfq: {error}");
    ExitCode::from(2)
}

/// Parses a request given as arguments.
pub fn parse_request(side: &str, amount: &str, pair: &str) -> anyhow::Result<RfqSpec> {
    let side: Side = side.parse()?;
    let pair: Pair = pair.parse()?;
    let amount = pair.parse_amount(amount)?;
    Ok(RfqSpec { side, amount, pair })
}

/// The LPs a stream asks: the chosen scenario's scripted LPs, or else the
/// built-in mocks. Seeded per stream, so that a seeded session is
/// repeatable request by request.
pub fn lps_for(settings: &Settings, stream_index: u64) -> Vec<SharedLp> {
    let seed = settings.seed.map(|seed| seed.wrapping_add(stream_index));
    match settings.scenario {
        Some(scenario) => scenario.lps(&ScenarioContext {
            duration_ms: settings.duration_ms,
            threshold: settings.engine.threshold,
            validity_buffer_ms: settings.engine.validity_buffer_ms,
            btc_reference: settings.mock.base_price,
            seed: seed.unwrap_or_else(rand::random),
        }),
        None => mock_lps(&settings.mock, seed),
    }
}

/// `lp-rfq scenarios`: every scenario with what it shows and its outcome.
pub fn scenario_list() -> String {
    let mut text =
        String::from("Scenarios (replay with --scenario NAME; --speed X runs X times faster):\n\n");
    for scenario in &SCENARIOS {
        text.push_str(&format!(
            "  {:<16} {}\n  {:<16} outcome: {}\n\n",
            scenario.name, scenario.summary, "", scenario.outcome
        ));
    }
    text
}

/// Which signal asked lp-rfq to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupt {
    /// Ctrl+C: stop the current stream (at the prompt: quit).
    CtrlC,
    /// SIGTERM: stop the stream and exit, as a service manager expects.
    Terminate,
}

/// Completes on Ctrl+C or SIGTERM, saying which.
pub async fn interrupted() -> Interrupt {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => Interrupt::CtrlC,
                    _ = terminate.recv() => Interrupt::Terminate,
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                Interrupt::CtrlC
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        Interrupt::CtrlC
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
    /// The task that hands every event to the blotter before `events`.
    recorder: Option<JoinHandle<()>>,
}

impl StreamHandle {
    /// Ends the stream early; its `ended` event says `interrupted`.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for the session to finish and returns its summary; by then
    /// every event has been handed to the blotter.
    pub async fn finish(self) -> anyhow::Result<Ended> {
        let ended = self.task.await.context("the RFQ session failed")?;
        if let Some(recorder) = self.recorder {
            recorder.await.context("the blotter recorder failed")?;
        }
        Ok(ended)
    }
}

/// Starts one stream as its own task. Every consumer — headless output,
/// console — reads the same events from the returned handle. With a
/// `blotter`, each event is handed to it before the consumer sees it, so no
/// consumer can skip recording and the blotter never lags what was shown.
pub fn start_stream(
    spec: RfqSpec,
    settings: &Settings,
    lps: Vec<SharedLp>,
    blotter: Option<BlotterSink>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> StreamHandle {
    let clock = StreamClock::start_with_speed(settings.speed_per_mille);
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
    let (sender, events, recorder) = match blotter {
        None => (sender, events, None),
        Some(sink) => {
            let (tee, mut from_session) = mpsc::channel::<RfqEvent>(EVENT_BUFFER);
            let recorder = tokio::spawn(async move {
                while let Some(event) = from_session.recv().await {
                    sink.record(event.clone()).await;
                    // A consumer that went away (closed pipe) does not stop
                    // the recording: the session still runs to its end.
                    let _ = sender.send(event).await;
                }
            });
            (tee, events, Some(recorder))
        }
    };
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
        recorder,
    }
}

/// Runs one stream and hands every event, in order, to `on_event`. An
/// output that fails (a closed pipe) stops the stream early.
pub async fn stream(
    spec: RfqSpec,
    settings: &Settings,
    lps: Vec<SharedLp>,
    blotter: Option<BlotterSink>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    mut on_event: impl FnMut(&RfqEvent) -> io::Result<()>,
) -> anyhow::Result<Ended> {
    let mut handle = start_stream(spec, settings, lps, blotter, shutdown);
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
    blotter: Option<BlotterSink>,
) -> anyhow::Result<ExitCode> {
    if mode == OutputMode::Plain {
        print!("{}", plain::banner());
    }
    let ended = stream(
        spec,
        settings,
        lps_for(settings, 0),
        blotter,
        async {
            interrupted().await;
        },
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
async fn run_prompt(
    mode: OutputMode,
    settings: &Settings,
    blotter: Option<BlotterSink>,
) -> anyhow::Result<ExitCode> {
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
        let terminated = Arc::new(AtomicBool::new(false));
        let on_signal = {
            let terminated = terminated.clone();
            async move {
                if interrupted().await == Interrupt::Terminate {
                    terminated.store(true, Ordering::Relaxed);
                }
            }
        };
        stream(
            spec,
            settings,
            lps,
            blotter.clone(),
            on_signal,
            stdout_writer(mode),
        )
        .await?;
        // Ctrl+C only ends the stream; SIGTERM ends the program.
        if terminated.load(Ordering::Relaxed) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
