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
use crate::output::{desk_writer, plain, OutputMode};
use crate::rfq::event::{EndReason, Outcome};
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
            // `--lps` names a venues file elsewhere; a bench only ever runs
            // in-process LPs, so here it is their number (LPS_FILE and .env
            // are ignored, as for --duration).
            if cli.typed.lps {
                let text = cli.settings.lps_file.as_deref().unwrap_or_default();
                match text.trim().parse::<usize>() {
                    Ok(count) => options.lps = count,
                    Err(_) => {
                        return Ok(usage_error(format!(
                            "invalid --lps '{text}' for bench: must be the number of in-process LPs per stream"
                        )))
                    }
                }
            }
            let blotter = match (&settings.blotter, cli.typed.blotter) {
                (None, _) => crate::bench::BenchBlotter::Off,
                (Some(path), true) => crate::bench::BenchBlotter::At(path.clone()),
                (Some(_), false) => crate::bench::BenchBlotter::Scratch,
            };
            // An interrupted bench drops its run, and with it the scratch
            // blotter's temporary directory (it may hold gigabytes).
            let mut interrupts = signals::listen();
            let report = tokio::select! {
                report = crate::bench::run(&options, &settings, blotter) => report?,
                Some(_) = interrupts.recv() => {
                    eprintln!("lp-rfq: bench interrupted");
                    return Ok(ExitCode::from(130));
                }
            };
            println!("{}", serde_json::to_string(&report)?);
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Lps {
            check,
            pair,
            amount,
        }) => return run_lps(&settings, check, &pair, &amount).await,
        Some(Command::Scenarios) => {
            print!("{}", scenario_list());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Quote {
            side,
            amount,
            pair,
            accept_after,
        }) => {
            let spec = match parse_request(&side, &amount, &pair) {
                Ok(spec) => spec,
                Err(error) => return Ok(usage_error(error)),
            };
            let accept_after = match accept_after.as_deref().map(parse_stream_duration) {
                None => None,
                Some(Ok(ms)) => Some(ms),
                Some(Err(error)) => return Ok(usage_error(error)),
            };
            Some((spec, accept_after))
        }
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
    // A second listener for closing: a signal while the blotter retries
    // held events makes it give up (and count them) instead of hanging.
    let mut closing = signals::listen();
    let result = match spec {
        Some((spec, accept_after)) => run_quote(&desk, spec, accept_after, mode, interrupts).await,
        None if console => crate::ui::run(&desk, interrupts).await,
        None => {
            let input = crate::prompt::LineInput::stdin();
            crate::prompt::run(&desk, mode, interrupts, input).await
        }
    };
    // Signals that the consumer already handled are not for closing.
    while closing.try_recv().is_ok() {}
    let abandon = desk.blotter_abandoner();
    let shutdown = desk.shutdown();
    tokio::pin!(shutdown);
    let closed = tokio::select! {
        closed = &mut shutdown => closed,
        Some(_) = closing.recv() => {
            if let Some(abandon) = abandon {
                abandon.abandon();
            }
            shutdown.await
        }
    };
    let lost = report_closed(closed);
    match result {
        // A desk keeps a record of every client quote: a run that lost
        // any event did not do its job, whatever the stream's outcome.
        Ok(_) if lost => Ok(ExitCode::FAILURE),
        other => other,
    }
}

/// Says on stderr when the blotter lost events; `true` if it did.
fn report_closed(closed: DeskClosed) -> bool {
    if let Some((path, stats)) = closed.blotter {
        if stats.lost > 0 {
            eprintln!(
                "lp-rfq: blotter '{}': {} events could not be written",
                path.display(),
                stats.lost
            );
            return true;
        }
    }
    false
}

/// `lp-rfq lps [--check]`: the configured LPs, and with `--check` a probe
/// quote from each. Exit code 1 when any LP fails its check.
async fn run_lps(
    settings: &Settings,
    check: bool,
    pair: &str,
    amount: &str,
) -> anyhow::Result<ExitCode> {
    let registry = match crate::desk::open_registry(settings) {
        Ok(registry) => registry,
        Err(error) => return Ok(usage_error(error)),
    };
    let listing = registry.listing();
    let source = match &settings.lps_file {
        Some(path) => format!("venues file '{}'", path.display()),
        None if settings.scenario.is_some() => "a scenario (simulated)".to_string(),
        None => "the built-in mocks (simulated; --lps PATH names real LPs)".to_string(),
    };
    if !check {
        let width = listing
            .iter()
            .map(|l| l.lp.name().len())
            .max()
            .unwrap_or(2)
            .max(2);
        let mut text = format!("{} LPs from {source}:\n", listing.len());
        for listed in &listing {
            text.push_str(&format!(
                "  {:<width$}  {:<16} {}\n",
                listed.lp.name(),
                listed.kind,
                listed.location
            ));
        }
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let spec = match parse_request("buy", amount, pair) {
        Ok(spec) => spec,
        Err(error) => return Ok(usage_error(error)),
    };
    registry.start().await;
    let lps: Vec<_> = listing
        .iter()
        .map(|listed| (listed.lp.clone(), listed.kind.clone()))
        .collect();
    let rows = crate::lp::check::check(&lps, spec, settings.engine.lp_timeout_ms).await;
    registry.shutdown().await;
    print!("{}", crate::lp::check::render(&rows, &spec));
    Ok(if rows.iter().all(|row| row.ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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

/// `--accept-after`: a stream time such as `3s`, `500ms` or `1.5s`, in ms.
pub fn parse_stream_duration(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("invalid --accept-after '{text}': must be a stream time such as 3s, 500ms or 1.5s, at most 86400s")
    };
    let trimmed = text.trim();
    let (number, scale) = if let Some(ms) = trimmed.strip_suffix("ms") {
        (ms, rust_decimal::Decimal::ONE)
    } else if let Some(s) = trimmed.strip_suffix('s') {
        (s, rust_decimal::Decimal::from(1000))
    } else {
        return Err(bad());
    };
    let value: rust_decimal::Decimal = number.trim().parse().map_err(|_| bad())?;
    let ms = value.checked_mul(scale).ok_or_else(bad)?;
    if ms.is_sign_negative()
        || ms > rust_decimal::Decimal::from(86_400_000)
        || ms.fract() != rust_decimal::Decimal::ZERO
    {
        return Err(bad());
    }
    u64::try_from(ms).map_err(|_| bad())
}

/// `lp-rfq quote SIDE AMOUNT PAIR`: one stream, then exit. Ctrl+C or
/// SIGTERM stops it (with its `ended` event). With `accept_after`, the
/// client accepts whatever quote is live at that stream time.
///
/// Exit codes: 0 filled or nothing accepted, 1 no LP quotes or not filled,
/// 3 an order's outcome is unknown.
async fn run_quote(
    desk: &Desk,
    spec: RfqSpec,
    accept_after: Option<u64>,
    mode: OutputMode,
    mut interrupts: Interrupts,
) -> anyhow::Result<ExitCode> {
    if mode == OutputMode::Plain {
        print!("{}", plain::banner(desk.registry().simulated()));
    }
    let handle = match desk.try_start(spec) {
        Ok(handle) => handle,
        Err(error) => {
            eprintln!("lp-rfq: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let commands = handle.commands.clone();
    let clock = handle.clock;
    let streamed = handle.drive(desk_writer(desk, mode));
    tokio::pin!(streamed);
    let accept = async {
        match accept_after {
            Some(at_ms) => clock.sleep_until(at_ms).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(accept);
    let mut accepted = false;
    let ended = loop {
        tokio::select! {
            ended = &mut streamed => break ended?,
            _ = &mut accept, if !accepted => {
                accepted = true;
                let _ = commands.send(StreamCommand::Accept { quote_id: None }).await;
            }
            Some(_) = interrupts.recv() => {
                let _ = commands.try_send(StreamCommand::Stop);
            }
        }
    };
    if ended.reason == EndReason::NoQuotes {
        eprintln!("lp-rfq: no LP quotes {}", spec.pair.symbol());
        return Ok(ExitCode::FAILURE);
    }
    Ok(exit_code(ended.outcome))
}

/// The exit code an execution's outcome gives: 0 filled (or nothing was
/// accepted), 1 not filled, 3 unknown (resolve it with the LP).
pub fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Filled | Outcome::NotAccepted => ExitCode::SUCCESS,
        Outcome::NotFilled => ExitCode::FAILURE,
        Outcome::Unknown => ExitCode::from(3),
    }
}
