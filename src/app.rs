//! What the binary does: turns the parsed command line into a desk and the
//! consumer that runs on it (console, prompt, headless `quote`), or into
//! the commands that need no desk (`report`, `scenarios`, `bench`). `main.rs` only
//! loads `.env`, parses flags, starts logging and calls [`run`].

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::blotter::report;
use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::desk::{Desk, DeskClosed};
use crate::market::{Pair, Side};
use crate::output::{plain, stdout_writer, OutputMode};
use crate::rfq::event::EndReason;
use crate::rfq::{RfqSpec, StreamCommand};
use crate::scenario::SCENARIOS;
use crate::signals::{self, Interrupts};

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
    let desk = match Desk::open(settings) {
        Ok(desk) => desk,
        Err(error) => {
            eprintln!("lp-rfq: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    desk.start_lps().await;
    let interrupts = signals::listen();
    let result = match spec {
        Some(spec) => run_quote(&desk, spec, mode, interrupts).await,
        None if console => crate::ui::run(&desk, interrupts).await,
        None => crate::prompt::run(&desk, mode, interrupts).await,
    };
    report_closed(desk.shutdown().await);
    result
}

/// Says on stderr when the blotter lost events.
fn report_closed(closed: DeskClosed) {
    if let Some((path, stats)) = closed.blotter {
        if stats.lost > 0 {
            eprintln!(
                "lp-rfq: warning: blotter '{}': {} events could not be written",
                path.display(),
                stats.lost
            );
        }
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

/// `lp-rfq quote SIDE AMOUNT PAIR`: one stream, then exit. Ctrl+C or
/// SIGTERM stops it (with its `ended` event).
async fn run_quote(
    desk: &Desk,
    spec: RfqSpec,
    mode: OutputMode,
    mut interrupts: Interrupts,
) -> anyhow::Result<ExitCode> {
    if mode == OutputMode::Plain {
        print!("{}", plain::banner());
    }
    let handle = desk.start(spec);
    let commands = handle.commands.clone();
    let mut write = stdout_writer(mode);
    let mut warned = false;
    let streamed = handle.drive(|event| {
        if !warned {
            if let Some(problem) = desk.blotter_problem() {
                eprintln!("lp-rfq: warning: {problem}");
                warned = true;
            }
        }
        write(event)
    });
    tokio::pin!(streamed);
    let ended = loop {
        tokio::select! {
            ended = &mut streamed => break ended?,
            Some(_) = interrupts.recv() => {
                let _ = commands.try_send(StreamCommand::Stop);
            }
        }
    };
    if ended.reason == EndReason::NoQuotes {
        eprintln!("lp-rfq: no LP quotes {}", spec.pair.symbol());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
