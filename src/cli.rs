//! The command line: subcommands and output flags. Settings flags come
//! from [`crate::config::SettingsArgs`] and apply to every subcommand.

use clap::{Parser, Subcommand};

use crate::config::SettingsArgs;

/// lp-rfq: ask every liquidity provider for a firm quote at once, show the
/// client the best price plus the desk's markup, and stream improvements.
#[derive(Debug, Parser)]
#[command(name = "lp-rfq", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Readable lines instead of the full-screen console
    #[arg(long, global = true, conflicts_with = "json")]
    pub plain: bool,

    /// One JSON object per event per line on stdout
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub settings: SettingsArgs,

    /// Settings typed on this command line (not from the environment).
    #[arg(skip)]
    pub typed: Typed,
}

/// Which settings were typed as flags. `lp-rfq bench` honours `--duration`
/// and `--blotter` only then: a desk's `.env` (DEFAULT_STREAM_DURATION_SECONDS,
/// BLOTTER_PATH) is for its real streams, and a load test must never fill
/// the desk's blotter with synthetic RFQs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Typed {
    pub duration: bool,
    pub blotter: bool,
    /// `--lps` typed: for `bench`, the number of in-process LPs.
    pub lps: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream quotes for one request, then exit
    Quote {
        /// b, buy, s or sell (the client's side)
        side: String,
        /// Amount of the base asset, e.g. 1.5
        amount: String,
        /// Pair such as BTCUSDT, BTC/USDT or btc-usdt
        pair: String,
        /// Accept whatever client quote is live this long into the stream
        /// (stream time, e.g. 3s, 500ms, 1.5s) and execute it with the LP
        #[arg(long, value_name = "DURATION")]
        accept_after: Option<String>,
        /// Ask for quotes even when the notional is above MAX_NOTIONAL or
        /// cannot be checked (a pair without a reference price)
        #[arg(long)]
        confirm_notional: bool,
    },
    /// List the replayable LP scenarios (use one with --scenario NAME)
    Scenarios,
    /// List the configured LPs (--lps / LPS_FILE); --check asks each for a
    /// probe quote and shows reachability, authentication and latency
    Lps {
        /// Reach every LP: authentication and a probe quote
        #[arg(long)]
        check: bool,
        /// The pair the probe quote asks for
        #[arg(long, default_value = "BTCUSDT", value_name = "PAIR")]
        pair: String,
        /// The base amount the probe quote asks for
        #[arg(long, default_value = "0.01", value_name = "AMOUNT")]
        amount: String,
    },
    /// Load-test the engine: many concurrent streams against in-process LPs
    /// (--lps N of them per stream, default 10; 10 s and a scratch blotter
    /// unless --duration / --blotter are typed)
    Bench(crate::bench::BenchOptions),
    /// LP performance and the RFQ list from the blotter (--blotter PATH)
    Report {
        /// Only RFQs started at or after this UTC date or time (2026-11-22, 2026-11-22T14:30:00)
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only RFQs started up to this UTC date (the whole day) or time
        #[arg(long, value_name = "WHEN")]
        until: Option<String>,
        /// Only RFQs for this pair
        #[arg(long)]
        pair: Option<String>,
        /// Only this LP's figures, over the RFQs that asked it
        #[arg(long)]
        lp: Option<String>,
        /// Only the N most recent RFQs
        #[arg(long, value_name = "N")]
        last: Option<String>,
        /// One section as CSV (the JSON field names and values) instead of the tables
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// The section --csv prints: lps, rfqs, pairs or health
        #[arg(long, value_name = "SECTION", default_value = "lps", requires = "csv")]
        section: String,
    },
}

impl Cli {
    /// Parses the process's arguments (exiting with clap's message on a
    /// usage error) and notes which settings were typed as flags.
    pub fn parse_args() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
        let typed = |id: &str| {
            let on_command_line = |m: &clap::ArgMatches| {
                m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
            };
            on_command_line(&matches)
                || matches
                    .subcommand()
                    .is_some_and(|(_, sub)| on_command_line(sub))
        };
        cli.typed = Typed {
            duration: typed("duration"),
            blotter: typed("blotter"),
            lps: typed("lps_file"),
        };
        cli
    }

    /// The settings this command reads, so that one it does not use (a
    /// bad MARKUP_BPS for `report`) cannot stop it.
    pub fn settings_in_use(&self) -> crate::config::SettingsArgs {
        match &self.command {
            Some(Command::Report { .. }) => self.settings.for_report(),
            Some(Command::Scenarios) => self.settings.for_listing(),
            Some(Command::Lps { .. }) => self.settings.for_lps(),
            _ => self.settings.clone(),
        }
    }

    /// The full-screen console runs: no subcommand, neither `--plain` nor
    /// `--json`, and a terminal on both stdin and stdout.
    pub fn wants_console(&self) -> bool {
        use std::io::IsTerminal;
        self.command.is_none()
            && !self.plain
            && !self.json
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal()
    }
}
