//! What the binary does: turns the parsed command line into a desk and the
//! consumer that runs on it (console, prompt, headless `quote`), or into
//! the commands that need no desk (`report`, `scenarios`, `bench`). `main.rs` only
//! loads `.env`, parses flags, starts logging and calls [`run`].

use std::cell::RefCell;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::blotter::report;
use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::desk::{Desk, DeskClosed};
use crate::market::{Pair, Side};
use crate::output::{desk_writer, plain, OutputMode};
use crate::rfq::event::{EndReason, Ended, EventKind, FailureKind, Outcome, RfqEvent};
use crate::rfq::{RfqSpec, StreamCommand};
use crate::scenario::SCENARIOS;
use crate::signals::{self, Interrupts};

/// Runs the command line's command.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    let console = cli.wants_console();
    let output = cli.output();
    let mode = if output.json {
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
            json,
            csv,
            section,
            ..
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
            let format = match (json, csv) {
                (true, _) => report::Format::Json,
                // A section is only ever printed as CSV: asking for one
                // is asking for CSV.
                (_, csv) if csv || section.is_some() => {
                    match section.as_deref().unwrap_or("lps").parse() {
                        Ok(section) => report::Format::Csv(section),
                        Err(error) => return Ok(usage_error(error)),
                    }
                }
                _ => report::Format::Table,
            };
            return run_report(&settings, &filter, format);
        }
        Some(Command::Bench { options, .. }) => {
            if let Err(error) = check_bench_options(&options) {
                return Ok(usage_error(error));
            }
            let blotter = match (&options.blotter, options.no_blotter) {
                (_, true) => crate::bench::BenchBlotter::Off,
                (Some(path), false) => match path.to_str() {
                    Some(text) if crate::blotter::postgres::is_postgres_url(text) => {
                        let password = std::env::var("PGPASSWORD").ok();
                        match crate::blotter::postgres::PgUrl::parse(text, password) {
                            Ok(url) => crate::bench::BenchBlotter::Postgres(url),
                            Err(problem) => {
                                return Ok(usage_error(format!("invalid --blotter: it {problem}")))
                            }
                        }
                    }
                    _ => crate::bench::BenchBlotter::At(path.clone()),
                },
                (None, false) => crate::bench::BenchBlotter::Scratch,
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
            eprint!("{}", report.text());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Lps {
            check,
            pair,
            amount,
            ..
        }) => return run_lps(&settings, check, &pair, &amount).await,
        Some(Command::Scenarios { .. }) => {
            print!("{}", scenario_list());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Quote {
            side,
            amount,
            pair,
            accept_after,
            confirm_notional,
            ..
        }) => {
            let spec = match parse_request(&side, &amount, &pair) {
                Ok(spec) => spec,
                Err(error) => return Ok(usage_error(error)),
            };
            // A pair no LP quotes is not asked of every LP only for them
            // all to decline.
            if let Some(why) = crate::desk::quotable_pairs(&settings).refusal(spec.pair) {
                return Ok(usage_error(why));
            }
            // Dust is refused outright: no confirmation makes it a trade.
            if let Err(below) = settings.minimum_size().check(spec.pair, spec.amount) {
                return Ok(usage_error(below));
            }
            // Headless, nobody can be asked: a fat finger is refused unless
            // the command line confirms it.
            let notional = settings.notional_limits().check(spec.pair, spec.amount);
            if let Some(warning) = notional.warning().filter(|_| !confirm_notional) {
                return Ok(usage_error(format!(
                    "{warning}: add --confirm-notional to ask for quotes"
                )));
            }
            let accept_after = match accept_after.as_deref().map(parse_stream_duration) {
                None => None,
                Some(Ok(ms)) if ms >= settings.duration_ms => {
                    return Ok(usage_error(format!(
                        "invalid --accept-after '{}': the stream ends after {} ms (--duration), so nothing could be accepted",
                        accept_after.as_deref().unwrap_or_default(),
                        settings.duration_ms
                    )))
                }
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
    if let Some(merged) = desk.blotter_merged() {
        eprintln!("lp-rfq: {merged}");
    }
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

/// `bench` arguments that cannot run, refused before the bench starts so
/// that they exit 2 like every other usage error.
fn check_bench_options(options: &crate::bench::BenchOptions) -> Result<(), String> {
    if options.sessions == 0 {
        return Err("invalid --sessions '0': must be at least 1".into());
    }
    if options.lps == 0 {
        return Err("invalid --lps '0': must be at least 1".into());
    }
    if options.rfq_secs == Some(0) {
        return Err("invalid --rfq-secs '0': must be at least 1".into());
    }
    match options.lp_delay_max_ms {
        Some(max) if max < options.lp_delay_ms => Err(format!(
            "invalid --lp-delay-max-ms '{max}': must not be below --lp-delay-ms '{}'",
            options.lp_delay_ms
        )),
        _ => Ok(()),
    }
}

/// What a headless stream's LPs did, seen from its events: whether any
/// valid quote arrived, and each LP's last failure.
#[derive(Debug, Default)]
pub(crate) struct LpAnswers {
    /// LPs the stream asked.
    asked: usize,
    quotes: usize,
    last_failure: Vec<(Arc<str>, FailureKind)>,
}

impl LpAnswers {
    pub(crate) fn note(&mut self, event: &RfqEvent) {
        match &event.kind {
            EventKind::Started(started) => self.asked = started.lps.len(),
            EventKind::LpQuote(_) => self.quotes += 1,
            EventKind::LpError(error) => {
                match self.last_failure.iter_mut().find(|(lp, _)| *lp == error.lp) {
                    Some(entry) => entry.1 = error.kind,
                    None => self.last_failure.push((error.lp.clone(), error.kind)),
                }
            }
            _ => {}
        }
    }

    /// LPs per way they failed, most first: "3 timeouts, 2 unavailable".
    pub(crate) fn failure_counts(&self) -> String {
        let mut counts: Vec<(FailureKind, usize)> = Vec::new();
        for (_, kind) in &self.last_failure {
            match counts.iter_mut().find(|(k, _)| k == kind) {
                Some(entry) => entry.1 += 1,
                None => counts.push((*kind, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.as_str().cmp(b.0.as_str())));
        counts
            .iter()
            .map(|(kind, n)| format!("{n} {}", failure_words(*kind, *n)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The stream ran its course with no LP quote at all and every LP
    /// failing for some reason (declined, timed out, unavailable...). A
    /// stream too short for any answer, or stopped by the operator, is not
    /// this.
    pub(crate) fn none_quoted(&self, ended: &Ended) -> bool {
        ended.reason == EndReason::NoQuotes
            || (ended.reason == EndReason::Duration
                && self.quotes == 0
                && self.asked > 0
                && self.last_failure.len() >= self.asked)
    }
}

fn failure_words(kind: FailureKind, n: usize) -> &'static str {
    match (kind, n) {
        (FailureKind::Timeout, 1) => "timeout",
        (FailureKind::Timeout, _) => "timeouts",
        (FailureKind::Declined, _) => "declined",
        (FailureKind::Unavailable, _) => "unavailable",
        (FailureKind::Malformed, _) => "malformed",
        (FailureKind::RateLimited, _) => "rate-limited",
        (FailureKind::Invalid, _) => "invalid",
        (FailureKind::Auth, _) => "refused our credentials",
    }
}

/// The line a stream without any LP quote ends with, e.g.
/// "no LP quotes BTCUSDT (3 timeouts, 2 unavailable)".
pub(crate) fn no_quotes_line(pair: &Pair, answers: &LpAnswers) -> String {
    let counts = answers.failure_counts();
    if counts.is_empty() {
        format!("no LP quotes {}", pair.symbol())
    } else {
        format!("no LP quotes {} ({counts})", pair.symbol())
    }
}

/// Says on stderr when the blotter lost events or left some in its
/// fallback journal; `true` if it did (the run did not keep its record).
fn report_closed(closed: DeskClosed) -> bool {
    let Some((path, stats)) = closed.blotter else {
        return false;
    };
    if stats.journalled > 0 {
        eprintln!(
            "lp-rfq: blotter '{}' could not take {} events: they are in the fallback journal '{}' and are merged into the blotter at the next start",
            path.display(),
            stats.journalled,
            closed
                .journal
                .unwrap_or_else(|| crate::blotter::journal::beside(&path))
                .display()
        );
    }
    if stats.lost > 0 {
        eprintln!(
            "lp-rfq: blotter '{}': {} events could not be written",
            path.display(),
            stats.lost
        );
    }
    stats.lost > 0 || stats.journalled > 0
}

/// `lp-rfq lps [--check]`: the configured LPs, and with `--check` a probe
/// quote from each. Exit code 1 when any LP fails its check.
async fn run_lps(
    settings: &Settings,
    check: bool,
    pair: &str,
    amount: &str,
) -> anyhow::Result<ExitCode> {
    let source = match &settings.lps_file {
        Some(path) => format!("venues file '{}'", path.display()),
        None if settings.scenario.is_some() => "a scenario (simulated)".to_string(),
        None => "the built-in mocks (simulated; --lps PATH names real LPs)".to_string(),
    };
    if !check {
        // A listing reads the configuration only: it never connects.
        let listing = match crate::desk::list_lps(settings) {
            Ok(listing) => listing,
            Err(error) => return Ok(usage_error(error)),
        };
        let width = listing
            .iter()
            .map(|l| l.name.len())
            .max()
            .unwrap_or(2)
            .max(2);
        let mut text = format!("{} LPs from {source}:\n", listing.len());
        for listed in &listing {
            text.push_str(&format!(
                "  {:<width$}  {:<16} {}\n",
                listed.name, listed.kind, listed.location
            ));
            if let Some(health) = &listed.health {
                text.push_str(&format!("  {:<width$}  health: {health}\n", ""));
            }
        }
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let spec = match parse_request("buy", amount, pair) {
        Ok(spec) => spec,
        Err(error) => return Ok(usage_error(error)),
    };
    let registry = match crate::desk::open_registry(settings) {
        Ok(registry) => registry,
        Err(error) => return Ok(usage_error(error)),
    };
    registry.start().await;
    let lps: Vec<_> = registry
        .lps_for_stream(0)
        .into_iter()
        .zip(registry.listing().into_iter().map(|listed| listed.kind))
        .collect();
    let rows = crate::desk::check::check(&lps, spec, settings.engine.lp_timeout_ms).await;
    registry.shutdown().await;
    print!("{}", crate::desk::check::render(&rows, &spec));
    // Each LP's health after its probe (an auth failure stays until restart).
    for listed in registry.listing() {
        if let Some(health) = listed.health {
            println!("{}: health {health}", listed.name);
        }
    }
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
    let Some(at) = &settings.blotter else {
        return Ok(usage_error(
            "nothing to report: the blotter is off (--no-blotter or NO_BLOTTER)",
        ));
    };
    let loaded = match report::load_at(at, filter, settings.desk_name.as_deref()) {
        Ok(loaded) => loaded,
        Err(error) => return Ok(usage_error(error)),
    };
    let text = report::render(&loaded, format, &at.name(), filter);
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
pub(crate) fn parse_request(side: &str, amount: &str, pair: &str) -> anyhow::Result<RfqSpec> {
    let side: Side = side.parse()?;
    let pair: Pair = pair.parse()?;
    let amount = pair.parse_amount(amount)?;
    Ok(RfqSpec { side, amount, pair })
}

/// `lp-rfq scenarios`: every scenario with what it shows and its outcome.
pub(crate) fn scenario_list() -> String {
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
pub(crate) fn parse_stream_duration(text: &str) -> Result<u64, String> {
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
    if crate::market::written_with_exponent(number) {
        return Err(bad());
    }
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
/// Exit codes: 0 filled or nothing accepted, 1 no LP quotes (every LP
/// declined, failed or timed out) or not filled, 3 an order's outcome is
/// unknown.
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
    let stopper = handle.stopper();
    let clock = handle.clock;
    let answers = RefCell::new(LpAnswers::default());
    let mut write = desk_writer(desk, mode);
    let streamed = handle.drive(|event| {
        answers.borrow_mut().note(event);
        write(event)
    });
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
                stopper.stop();
            }
        }
    };
    // Every LP declining, failing or timing out ends the same way.
    let answers = answers.borrow();
    if answers.none_quoted(&ended) {
        eprintln!("lp-rfq: {}", no_quotes_line(&spec.pair, &answers));
        return Ok(ExitCode::FAILURE);
    }
    Ok(exit_code(ended.outcome))
}

/// The exit code an execution's outcome gives: 0 filled (or nothing was
/// accepted), 1 not filled, 3 unknown (resolve it with the LP).
pub(crate) fn exit_code(outcome: Outcome) -> ExitCode {
    ExitCode::from(outcome.exit_code())
}
