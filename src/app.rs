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
use crate::desk::link::DeskLink;
use crate::desk::{Desk, DeskClosed};
use crate::market::{Pair, Side};
use crate::output::{desk_writer, plain, OutputMode};
use crate::rfq::event::{EndReason, Ended, EventKind, FailureKind, Outcome, RfqEvent};
use crate::rfq::{ClientId, QuoteRequest, RequestParams, RfqSpec, StreamCommand};
use crate::scenario::SCENARIOS;
use crate::signals::{self, Interrupts};

/// Runs the command line's command.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    let console = cli.wants_console();
    let desk_url = cli.desk_url();
    if let Some(flag) = cli.server_owned_flag() {
        return Ok(usage_error(format!(
            "{flag} is the desk server's setting; it is ignored with --desk (give it to `lp-rfq serve`)"
        )));
    }
    let output = cli.output();
    let mode = if output.json {
        OutputMode::Json
    } else {
        OutputMode::Plain
    };
    let mut serving = None;
    let spec = match cli.command {
        Some(Command::Report {
            since,
            until,
            pair,
            lp,
            client,
            last,
            operator,
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
            )
            .and_then(|filter| filter.for_client(client.as_deref()))
            .and_then(|filter| filter.with_operator(operator.as_deref()))
            {
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
        Some(Command::Orders {
            unresolved,
            last,
            json,
            ..
        }) => {
            let last = match last.as_deref().map(str::parse::<usize>) {
                None => 20,
                Some(Ok(n)) if n > 0 => n,
                Some(_) => {
                    return Ok(usage_error(format!(
                        "invalid --last '{}': must be a whole number of orders, at least 1",
                        last.as_deref().unwrap_or_default()
                    )))
                }
            };
            let listed = if unresolved { None } else { Some(last) };
            return run_orders(&settings, listed, json);
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
                report = crate::bench::measure(&options, &settings, blotter) => report?,
                Some(_) = interrupts.recv() => {
                    eprintln!("lp-rfq: bench interrupted");
                    return Ok(ExitCode::from(130));
                }
            };
            println!("{}", report.json_line()?);
            eprint!("{}", report.text());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Lps {
            check,
            pair,
            amount,
            ..
        }) => return run_lps(&settings, check, &pair, &amount).await,
        Some(Command::Serve {
            listen,
            operators,
            insecure,
            client_ws,
            client_fix,
            fix_comp_id,
            ..
        }) => {
            let flags = crate::server::ServeFlags {
                listen: &listen,
                operators: &operators,
                insecure,
                client_ws: client_ws.as_deref(),
                client_fix: client_fix.as_deref(),
                fix_comp_id: &fix_comp_id,
                tls: settings.tls.as_ref(),
            };
            match crate::server::plan(flags) {
                Ok(plan) => serving = Some(plan),
                Err(error) => return Ok(usage_error(error)),
            }
            None
        }
        Some(Command::Scenarios { .. }) => {
            print!("{}", scenario_list());
            return Ok(ExitCode::SUCCESS);
        }
        Some(Command::Clients { action, .. }) => {
            return run_clients(desk_url.as_deref(), action).await;
        }
        Some(Command::Quote {
            side,
            amount,
            pair,
            accept_after,
            accept_side,
            confirm_notional,
            client,
            currency,
            ..
        }) => {
            let two_way = crate::rfq::request::is_two_way(&side);
            // A two-way request is priced on both sides; its spec's side
            // is not used.
            let spec = match parse_request(
                if two_way { "buy" } else { &side },
                &amount,
                &pair,
                currency.as_deref(),
            ) {
                Ok(spec) => spec,
                Err(error) => return Ok(usage_error(error)),
            };
            let params = match client.as_deref().map(|name| ClientId::new(name.trim())) {
                None => RequestParams::default(),
                Some(Ok(client)) => RequestParams::default().with_client(client),
                Some(Err(error)) => return Ok(usage_error(format!("invalid --client: {error}"))),
            };
            let params = if two_way {
                params.with_two_way()
            } else {
                params
            };
            let accept_side = match accept_side_of(
                two_way,
                spec.side,
                accept_after.is_some(),
                accept_side.as_deref(),
            ) {
                Ok(side) => side,
                Err(error) => return Ok(usage_error(error)),
            };
            // A pair no LP quotes is not asked of every LP only for them
            // all to decline (a desk server's LPs are known once attached).
            if desk_url.is_none() {
                if let Some(why) = crate::desk::quotable_pairs(&settings).refusal(spec.pair) {
                    return Ok(usage_error(why));
                }
            }
            // Dust is refused outright: no confirmation makes it a trade.
            if let Err(below) = settings
                .minimum_size()
                .check(spec.pair, spec.fixed, spec.amount)
            {
                return Ok(usage_error(below));
            }
            // Headless, nobody can be asked: a fat finger is refused unless
            // the command line confirms it.
            let notional = settings
                .notional_limits()
                .check(spec.pair, spec.fixed, spec.amount);
            if let Some(warning) = notional.warning().filter(|_| !confirm_notional) {
                return Ok(usage_error(format!(
                    "{warning}: add --confirm-notional to ask for quotes"
                )));
            }
            let accept_after = match accept_after.as_deref().map(parse_stream_duration) {
                None => None,
                // A desk server's streams run for its own duration:
                // checked against it once attached.
                Some(Ok(ms)) if ms >= settings.duration_ms && desk_url.is_none() => {
                    return Ok(usage_error(format!(
                        "invalid --accept-after '{}': the stream ends after {} ms (--duration), so nothing could be accepted",
                        accept_after.as_deref().unwrap_or_default(),
                        settings.duration_ms
                    )))
                }
                Some(Ok(ms)) => Some(Accepting {
                    at_ms: ms,
                    side: accept_side,
                }),
                Some(Err(error)) => return Ok(usage_error(error)),
            };
            Some((
                QuoteRequest { spec, params },
                accept_after,
                confirm_notional,
            ))
        }
        None => None,
    };
    if let Some(url) = desk_url {
        return run_on_server(&url, &settings, spec, console, mode).await;
    }
    let spec = spec.map(|(spec, accept_after, _)| (spec, accept_after));
    // The blotter opens before any stream starts: a desk must not trade on
    // a run it cannot record.
    // A desk server's streams keep snapshots: operators attach to them.
    let opened = match serving {
        Some(_) => Desk::open_shared(settings),
        None => Desk::open(settings),
    };
    let desk = match opened {
        Ok(desk) => desk,
        Err(error) => {
            eprintln!("lp-rfq: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(merged) = desk.blotter_merged() {
        eprintln!("lp-rfq: {merged}");
    }
    for warning in desk.warnings() {
        tracing::warn!("{warning}");
        eprintln!("lp-rfq: warning: {warning}");
    }
    desk.start_lps().await;
    if let Some(reconciled) = desk.reconcile_orders().await {
        eprintln!("lp-rfq: {reconciled}");
    }
    let interrupts = signals::listen();
    // A second listener for closing: a signal while the blotter retries
    // held events makes it give up (and count them) instead of hanging.
    let mut closing = signals::listen();
    let (result, desk) = match serving {
        Some(plan) => {
            let shared = Arc::new(desk);
            let result = crate::server::serve(shared.clone(), plan, interrupts).await;
            // Every connection has ended: the desk is this one's again.
            let Ok(desk) = Arc::try_unwrap(shared) else {
                anyhow::bail!("the desk server stopped with a connection still open: its blotter cannot be closed cleanly");
            };
            (result, desk)
        }
        None => {
            let link = DeskLink::Local(&desk);
            let result = run_consumer(&link, spec, console, mode, interrupts).await;
            (result, desk)
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

/// The consumer the command line asks for, on `desk`: headless `quote`,
/// the console or the prompt.
async fn run_consumer(
    desk: &DeskLink<'_>,
    spec: Option<(QuoteRequest, Option<Accepting>)>,
    console: bool,
    mode: OutputMode,
    interrupts: Interrupts,
) -> anyhow::Result<ExitCode> {
    match spec {
        Some((request, accept_after)) => {
            run_quote(desk, request, accept_after, mode, interrupts).await
        }
        None if console => crate::ui::run(desk, interrupts).await,
        None => {
            let input = crate::prompt::LineInput::stdin();
            crate::prompt::run(desk, mode, interrupts, input).await
        }
    }
}

/// `lp-rfq clients pause|resume NAME`, `clients kill-switch on|off`: one
/// change to the desk server's client pauses, as the operator whose token
/// is in LP_RFQ_TOKEN. Exit 0 when the desk did it (or it already was
/// so), 2 when it refused (an unknown client) or the words are wrong, 1
/// when the desk cannot be reached.
async fn run_clients(
    url: Option<&str>,
    action: crate::cli::ClientsAction,
) -> anyhow::Result<ExitCode> {
    use crate::cli::ClientsAction;
    use crate::desk::protocol::TOKEN_ENV;
    use crate::desk::remote::{RemoteDesk, RemoteError};
    use crate::desk::PauseControl;
    use crate::secret::{Secret, SecretError};
    let Some(url) = url else {
        return Ok(usage_error(
            "`lp-rfq clients` needs --desk ws://HOST:PORT: pauses and the kill switch live on the desk server (lp-rfq serve)",
        ));
    };
    let control = match action {
        ClientsAction::Pause { name, .. } => PauseControl::Pause(name),
        ClientsAction::Resume { name, .. } => PauseControl::Resume(name),
        ClientsAction::KillSwitch { state, .. } => match state.trim().to_ascii_lowercase().as_str()
        {
            "on" => PauseControl::KillSwitch(true),
            "off" => PauseControl::KillSwitch(false),
            _ => {
                return Ok(usage_error(format!(
                    "invalid kill-switch state '{state}': expected on or off"
                )))
            }
        },
    };
    let token = match Secret::from_env(TOKEN_ENV) {
        Ok(token) => Some(token),
        Err(SecretError::Missing(_)) => None,
        Err(error) => return Ok(usage_error(error)),
    };
    let remote = match RemoteDesk::connect(url, token).await {
        Ok(remote) => remote,
        Err(error @ RemoteError::Refused { .. }) => return Ok(usage_error(error)),
        Err(error) => {
            eprintln!("lp-rfq: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let change = match remote.control(control.clone()).await {
        Ok(change) => change,
        Err(reason) => return Ok(usage_error(reason)),
    };
    let said = control.outcome(&change, remote.operator());
    println!("{said}");
    Ok(ExitCode::SUCCESS)
}

/// `--desk URL`: the same consumers on a desk server. The token comes
/// from LP_RFQ_TOKEN only; the server refuses a missing or wrong one by
/// name. Nothing is recorded here: the server keeps the blotter.
async fn run_on_server(
    url: &str,
    settings: &Settings,
    spec: Option<(QuoteRequest, Option<Accepting>, bool)>,
    console: bool,
    mode: OutputMode,
) -> anyhow::Result<ExitCode> {
    use crate::desk::protocol::TOKEN_ENV;
    use crate::desk::remote::{RemoteDesk, RemoteError};
    use crate::secret::{Secret, SecretError};
    let token = match Secret::from_env(TOKEN_ENV) {
        Ok(token) => Some(token),
        // The desk says what is missing, by name.
        Err(SecretError::Missing(_)) => None,
        Err(error) => return Ok(usage_error(error)),
    };
    let trust = match crate::tls::DeskTrust::load(settings.desk_ca.as_deref()) {
        Ok(trust) => trust,
        Err(error) => return Ok(usage_error(error)),
    };
    let remote = match RemoteDesk::connect_with(url, token, &trust).await {
        Ok(remote) => remote,
        Err(error @ RemoteError::Refused { .. }) => return Ok(usage_error(error)),
        Err(error) => {
            eprintln!("lp-rfq: {error}");
            return Ok(ExitCode::FAILURE);
        }
    };
    tracing::info!(url, operator = remote.operator(), "attached to the desk");
    for ended in remote.ended_while_away() {
        eprintln!("lp-rfq: {ended}");
    }
    if let Some((request, accept_after, _)) = &spec {
        if let Some(why) = remote.facts().quotable().refusal(request.spec.pair) {
            return Ok(usage_error(why));
        }
        let duration_ms = remote.facts().duration_ms;
        if let Some(ms) = accept_after
            .map(|accepting| accepting.at_ms)
            .filter(|ms| *ms >= duration_ms)
        {
            return Ok(usage_error(format!(
                "invalid --accept-after '{ms}ms': the desk's streams end after {duration_ms} ms, so nothing could be accepted"
            )));
        }
    }
    let confirm_notional = spec.as_ref().is_some_and(|(_, _, confirmed)| *confirmed);
    let spec = spec.map(|(spec, accept_after, _)| (spec, accept_after));
    let link = DeskLink::Remote {
        desk: remote,
        settings,
        confirm_notional,
    };
    let interrupts = signals::listen();
    run_consumer(&link, spec, console, mode, interrupts).await
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
    options.check_rfq_secs()?;
    let over_a_server = options.through_server || options.client_api;
    if !over_a_server && options.connections.is_some() {
        return Err(
            "--connections is for a bench over a desk server: add --through-server or --client-api"
                .into(),
        );
    }
    if over_a_server && !(1..=options.sessions).contains(&options.connections()) {
        return Err(format!(
            "invalid --connections '{}': must be from 1 to --sessions ({})",
            options.connections(),
            options.sessions
        ));
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
        let references = match crate::desk::list_references(settings) {
            Ok(references) => references,
            Err(error) => return Ok(usage_error(error)),
        };
        if !references.is_empty() {
            text.push_str(&format!(
                "{} reference source{} (a price within MAX_DEVIATION_BPS of theirs is corroborated):\n",
                references.len(),
                if references.len() == 1 { "" } else { "s" }
            ));
            for source in &references {
                text.push_str(&format!("  {}\n", source.describe()));
            }
        }
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    let spec = match parse_request("buy", amount, pair, None) {
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

/// `lp-rfq orders`: the last `last` orders, or (`None`) every order still
/// without an outcome, read-only like `report`.
fn run_orders(settings: &Settings, last: Option<usize>, json: bool) -> anyhow::Result<ExitCode> {
    use crate::blotter::orders;
    use crate::blotter::postgres::PgOrders;
    use crate::blotter::sqlite_orders::SqliteOrders;
    use crate::blotter::store::OrderRecords;
    use crate::blotter::BlotterAt;
    let Some(path) = &settings.blotter else {
        return Ok(usage_error(
            "no orders to list: the blotter is off (--no-blotter or NO_BLOTTER)",
        ));
    };
    let opened: Result<Box<dyn OrderRecords>, String> = match path {
        BlotterAt::File(file) => SqliteOrders::open_read_only(file)
            .map(|records| Box::new(records) as Box<dyn OrderRecords>)
            .map_err(|error| error.to_string()),
        BlotterAt::Postgres(url) => PgOrders::open(url)
            .map(|records| Box::new(records) as Box<dyn OrderRecords>)
            .map_err(|error| error.to_string()),
    };
    let mut records = match opened {
        Ok(records) => records,
        Err(error) => return Ok(usage_error(error)),
    };
    let listed = match last {
        Some(last) => records.recent(last),
        None => records.unresolved(),
    }
    .with_context(|| format!("cannot read the orders in '{path}'"))?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let text = if json {
        listed
            .iter()
            .map(|order| format!("{}\n", orders::json(order, now_ms)))
            .collect()
    } else if listed.is_empty() {
        match last {
            Some(_) => "no orders on record\n".to_string(),
            None => "no orders without an outcome\n".to_string(),
        }
    } else {
        orders::table(&listed, now_ms)
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(error).context("cannot write the orders")
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

/// When and on which side `quote --accept-after` accepts: `side` is the
/// one a two-way request's client takes (`None`: the request's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepting {
    pub(crate) at_ms: u64,
    pub(crate) side: Option<Side>,
}

/// `--accept-side`: required with a two-way request that accepts, refused
/// with a one-sided one (its side is the request's) and without
/// `--accept-after` (nothing would be accepted).
pub(crate) fn accept_side_of(
    two_way: bool,
    side: Side,
    accepts: bool,
    accept_side: Option<&str>,
) -> Result<Option<Side>, String> {
    match (two_way, accept_side) {
        (true, None) if accepts => Err(
            "a two-way request needs --accept-side with --accept-after: buy (the client takes the offer) or sell (the client takes the bid)"
                .to_string(),
        ),
        (_, None) => Ok(None),
        (false, Some(given)) => Err(format!(
            "invalid --accept-side '{given}': the request is one-sided ({side}); --accept-side is only for a two-way request"
        )),
        (true, Some(given)) if !accepts => Err(format!(
            "invalid --accept-side '{given}': it needs --accept-after (when the client accepts)"
        )),
        (true, Some(given)) => match given.trim().to_ascii_lowercase().as_str() {
            "b" | "buy" => Ok(Some(Side::Buy)),
            "s" | "sell" => Ok(Some(Side::Sell)),
            _ => Err(format!(
                "invalid --accept-side '{given}': must be buy or sell (the client's side)"
            )),
        },
    }
}

/// Parses a request given as arguments; `currency` (`--in`) names the
/// leg the amount is in (the base without it).
pub(crate) fn parse_request(
    side: &str,
    amount: &str,
    pair: &str,
    currency: Option<&str>,
) -> anyhow::Result<RfqSpec> {
    let side: Side = side.parse()?;
    let pair: Pair = pair.parse()?;
    let fixed = match currency {
        Some(currency) => pair.leg_of(currency)?,
        None => crate::market::Leg::Base,
    };
    let amount = pair.parse_amount_in(fixed, amount)?;
    Ok(RfqSpec {
        side,
        amount,
        pair,
        fixed,
    })
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
    desk: &DeskLink<'_>,
    request: QuoteRequest,
    accept_after: Option<Accepting>,
    mode: OutputMode,
    mut interrupts: Interrupts,
) -> anyhow::Result<ExitCode> {
    // A request its client may not make is refused before anything is
    // shown or asked, like any other request that cannot be used.
    if let Err(refusal) = desk.admit(&request) {
        return Ok(usage_error(refusal));
    }
    if mode == OutputMode::Plain {
        print!("{}", plain::banner(desk.simulated()));
    }
    let spec = request.spec;
    let client = request.params.client();
    let handle = match desk.try_start(request).await {
        Ok(handle) => handle,
        Err(error) => {
            eprintln!("lp-rfq: {error:#}");
            let request_error = error
                .downcast_ref::<crate::desk::remote::StartRefused>()
                .is_some_and(|refused| refused.request_error);
            return Ok(ExitCode::from(if request_error { 2 } else { 1 }));
        }
    };
    let commands = handle.commands.clone();
    let stopper = handle.stopper();
    let clock = handle.clock;
    let answers = RefCell::new(LpAnswers::default());
    let mut write = desk_writer(desk, mode, client);
    let streamed = handle.drive(|event| {
        answers.borrow_mut().note(event);
        write(event)
    });
    tokio::pin!(streamed);
    let accept = async {
        match accept_after {
            Some(accepting) => clock.sleep_until(accepting.at_ms).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(accept);
    let mut accepted = false;
    let ended = loop {
        tokio::select! {
            ended = &mut streamed => match ended {
                Ok(ended) => break ended,
                // The desk server went away: say what was last known; an
                // order out is unknown here (exit 3), anything else 1.
                Err(error) => match error.downcast_ref::<crate::desk::remote::DeskLost>() {
                    Some(lost) => {
                        eprintln!("lp-rfq: {lost}");
                        return Ok(ExitCode::from(lost.exit_code()));
                    }
                    None => return Err(error),
                },
            },
            _ = &mut accept, if !accepted => {
                accepted = true;
                let command = match accept_after.and_then(|accepting| accepting.side) {
                    Some(side) => StreamCommand::AcceptSide { side, quote_id: None },
                    None => StreamCommand::Accept { quote_id: None },
                };
                let _ = commands.send(command).await;
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
