//! The command line: subcommands and output flags. Settings flags come in
//! groups (`crate::flags`); each subcommand takes only the groups it
//! reads, so its `--help` lists only the flags it uses.

use clap::{Parser, Subcommand};

use crate::config::SettingsArgs;
use crate::flags::{LogFlags, LpFlags, StreamFlags};

/// lp-rfq: ask every liquidity provider for a firm quote at once, show the
/// client the best price plus the desk's markup, and stream improvements.
/// With no subcommand: the full-screen console in a terminal, otherwise
/// the line prompt.
#[derive(Debug, Parser)]
#[command(
    name = "lp-rfq",
    version,
    about,
    long_about = None,
    // Settings before a subcommand are moved after it before parsing
    // (`subcommand_first`); one left there would be read for no command.
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub output: OutputFlags,

    #[command(flatten)]
    pub desk: DeskFlags,

    #[command(flatten)]
    pub settings: StreamFlags,
}

/// Which desk the operator works on: this process's own, or a desk
/// server's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DeskFlags {
    /// Work on the desk server at this address (ws://HOST:PORT, or
    /// wss://HOST:PORT for one serving TLS, from `lp-rfq serve`) instead
    /// of a desk in this process; the token is read from LP_RFQ_TOKEN
    #[arg(long, value_name = "URL")]
    pub(crate) desk: Option<String>,

    #[command(flatten)]
    pub(crate) ca: crate::flags::DeskCaFlags,
}

/// How a stream is shown when it is not the console.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OutputFlags {
    /// Readable lines, never the full-screen console
    #[arg(long, conflicts_with = "json")]
    pub(crate) plain: bool,

    /// One JSON object per event per line on stdout instead of readable lines (the line prompt asks on stderr)
    #[arg(long)]
    pub(crate) json: bool,
}

// Parsed once per process: the size of `quote`'s settings costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stream quotes for one request, then exit
    Quote {
        /// b, buy, s or sell (the client's side), or two-way (2w) for both
        /// sides: a bid and an offer
        side: String,
        /// Amount of the base asset, e.g. 1.5 (of the quote asset with --in)
        amount: String,
        /// Pair such as BTCUSDT, BTC/USDT or btc-usdt
        pair: String,
        /// The currency the amount is in: the pair's base (the default) or
        /// its quote (`--in USDT`: the client pays, or receives, exactly
        /// the amount; the base leg follows from the price)
        #[arg(long = "in", value_name = "CURRENCY")]
        currency: Option<String>,
        /// Accept whatever client quote is live this long into the stream
        /// (stream time, e.g. 3s, 500ms, 1.5s) and execute it with the LP
        #[arg(long, value_name = "DURATION")]
        accept_after: Option<String>,
        /// The side the client takes at --accept-after: buy (the desk's
        /// offer) or sell (its bid); required with a two-way request, and
        /// only with one
        #[arg(long, value_name = "SIDE")]
        accept_side: Option<String>,
        /// Ask for quotes even when the notional is above MAX_NOTIONAL or
        /// cannot be checked (a pair without a reference price)
        #[arg(long)]
        confirm_notional: bool,
        /// The client the request is for, priced at its markup and held to
        /// its limits (--clients); default house
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        #[command(flatten)]
        output: OutputFlags,
        #[command(flatten)]
        desk: DeskFlags,
        #[command(flatten)]
        settings: StreamFlags,
    },
    /// Run the desk server: the LPs, their limits and the blotter in one
    /// process, shared by every operator who attaches with --desk
    /// ws://HOST:PORT, until SIGINT, SIGTERM or SIGHUP
    Serve {
        /// The address to listen on; one that is not loopback needs TLS
        /// (--tls-cert and --tls-key) or --insecure
        #[arg(long, value_name = "ADDR", default_value = crate::desk::protocol::DEFAULT_LISTEN)]
        listen: String,
        /// The operators file: [[operator]] name = "…" token_env = "…"
        /// (each token read from the variable it names)
        #[arg(long, value_name = "PATH")]
        operators: std::path::PathBuf,
        /// Listen on a non-loopback address without TLS: tokens and
        /// trades cross the network in the clear (announced at start)
        #[arg(long)]
        insecure: bool,
        /// Also take clients' own RFQ sessions over a WebSocket at this
        /// address (each authenticated by the clients file's token_env;
        /// docs/client-api.md)
        #[arg(long, value_name = "ADDR")]
        client_ws: Option<String>,
        /// Also take clients' own RFQ sessions over FIX 4.4 at this
        /// address, as the acceptor (each client known by the clients
        /// file's fix_comp_id; docs/client-api.md)
        #[arg(long, value_name = "ADDR")]
        client_fix: Option<String>,
        /// The desk's CompID on the clients' FIX sessions (their
        /// TargetCompID, our SenderCompID)
        #[arg(long, value_name = "ID", default_value = crate::client_api::fix::DEFAULT_COMP_ID)]
        fix_comp_id: String,
        #[command(flatten)]
        tls: crate::flags::ServeTlsFlags,
        #[command(flatten)]
        settings: StreamFlags,
    },
    /// Pause or resume a client, or turn the kill switch on or off, on a
    /// desk server (--desk ws://HOST:PORT, as the operator whose token is
    /// in LP_RFQ_TOKEN)
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
        #[command(flatten)]
        log: LogFlags,
    },
    /// List the replayable LP scenarios (use one with --scenario NAME)
    Scenarios {
        #[command(flatten)]
        log: LogFlags,
    },
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
        #[command(flatten)]
        lps: LpFlags,
        #[command(flatten)]
        buffer: crate::flags::BufferFlags,
        #[command(flatten)]
        log: LogFlags,
    },
    /// Load-test the engine: many concurrent streams against in-process LPs,
    /// the engine settings at their defaults (the desk's environment and
    /// .env are not read), one JSON line of figures
    Bench {
        #[command(flatten)]
        options: crate::bench::BenchOptions,
        #[command(flatten)]
        log: LogFlags,
    },
    /// LP performance, per-pair and per-client volume and the RFQ list from the blotter
    /// (read-only)
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
        /// Only the RFQs for this client
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// Only RFQs this desk server operator asked
        #[arg(long, value_name = "NAME")]
        operator: Option<String>,
        /// Only the N most recent RFQs
        // A negative count must reach the filter, to be refused there by name.
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        last: Option<String>,
        /// The whole report as one JSON object instead of the tables
        #[arg(long)]
        json: bool,
        /// One section as CSV (the JSON field names and values) instead of the tables
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// The section printed as CSV: lps, rfqs, pairs, clients, health or operators (implies --csv) [default: lps]
        #[arg(long, value_name = "SECTION", conflicts_with = "json")]
        section: Option<String>,
        #[command(flatten)]
        blotter: crate::flags::ReadBlotterFlags,
        #[command(flatten)]
        log: LogFlags,
    },
    /// Recent orders and their outcomes from the blotter (read-only);
    /// --unresolved: only those still without an outcome
    Orders {
        /// Only orders still without an outcome (unknown, or never
        /// answered), oldest first, however many
        #[arg(long)]
        unresolved: bool,
        /// How many recent orders to list [default: 20]
        #[arg(
            long,
            value_name = "N",
            allow_hyphen_values = true,
            conflicts_with = "unresolved"
        )]
        last: Option<String>,
        /// One JSON object per order instead of the table
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        blotter: crate::flags::ReadBlotterFlags,
        #[command(flatten)]
        log: LogFlags,
    },
}

/// What `lp-rfq clients` does on the desk server.
#[derive(Debug, Clone, Subcommand)]
pub enum ClientsAction {
    /// Pause a client desk-wide: its new requests (its own sessions' and
    /// operators' for it) are refused, its live RFQs stopped
    Pause {
        /// The client's name in the desk's clients file
        name: String,
        #[command(flatten)]
        desk: DeskFlags,
    },
    /// Resume a paused client
    Resume {
        /// The client's name in the desk's clients file
        name: String,
        #[command(flatten)]
        desk: DeskFlags,
    },
    /// Every client at once: `on` pauses them all (the house's own
    /// requests go on) until `off`
    KillSwitch {
        /// on or off
        state: String,
        #[command(flatten)]
        desk: DeskFlags,
    },
}

impl ClientsAction {
    /// The desk server it is asked of (`--desk`).
    pub fn desk_url(&self) -> Option<String> {
        match self {
            ClientsAction::Pause { desk, .. }
            | ClientsAction::Resume { desk, .. }
            | ClientsAction::KillSwitch { desk, .. } => desk.desk.clone(),
        }
    }
}

impl Cli {
    /// Parses the process's arguments, exiting with clap's message on a
    /// usage error. Settings typed before the subcommand are read as the
    /// subcommand's (`subcommand_first`).
    pub fn parse_args() -> Cli {
        Cli::parse_from(subcommand_first(std::env::args_os().collect()))
    }

    /// The settings this command reads, so that one it does not use (a
    /// bad MARKUP_BPS for `report`) cannot stop it: only its own flag
    /// groups are filled, the rest stay at their defaults.
    pub fn settings_in_use(&self) -> SettingsArgs {
        let mut args = SettingsArgs::default();
        match &self.command {
            None => {
                let mut args = self.settings.settings_args();
                self.desk.ca.fill(&mut args);
                return args;
            }
            Some(Command::Quote { settings, desk, .. }) => {
                let mut args = settings.settings_args();
                desk.ca.fill(&mut args);
                return args;
            }
            Some(Command::Serve { settings, tls, .. }) => {
                let mut args = settings.settings_args();
                tls.fill(&mut args);
                return args;
            }
            Some(Command::Report { blotter, log, .. })
            | Some(Command::Orders { blotter, log, .. }) => {
                blotter.fill(&mut args);
                log.fill(&mut args);
            }
            Some(Command::Scenarios { log })
            | Some(Command::Bench { log, .. })
            | Some(Command::Clients { log, .. }) => log.fill(&mut args),
            Some(Command::Lps {
                lps, buffer, log, ..
            }) => {
                lps.fill(&mut args);
                buffer.fill(&mut args);
                log.fill(&mut args);
            }
        }
        args
    }

    /// The desk server the operator works on (`--desk`), if any.
    pub fn desk_url(&self) -> Option<String> {
        match &self.command {
            None => self.desk.desk.clone(),
            Some(Command::Quote { desk, .. }) => desk.desk.clone(),
            Some(Command::Clients { action, .. }) => action.desk_url(),
            _ => None,
        }
    }

    /// With `--desk`, the first settings flag typed that only the desk
    /// server reads (`--lps`, `--markup-bps`, `--blotter`, …).
    pub fn server_owned_flag(&self) -> Option<&'static str> {
        self.desk_url()?;
        match &self.command {
            None => self.settings.server_owned_flag(),
            Some(Command::Quote { settings, .. }) => settings.server_owned_flag(),
            _ => None,
        }
    }

    /// How streams are shown: the top level's flags, or `quote`'s.
    pub fn output(&self) -> OutputFlags {
        match &self.command {
            None => self.output,
            Some(Command::Quote { output, .. }) => *output,
            _ => OutputFlags::default(),
        }
    }

    /// The full-screen console runs: no subcommand, neither `--plain` nor
    /// `--json`, and a terminal on both stdin and stdout.
    pub fn wants_console(&self) -> bool {
        use std::io::IsTerminal;
        self.command.is_none()
            && !self.output.plain
            && !self.output.json
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal()
    }
}

/// The arguments with the subcommand moved in front of the flags typed
/// before it: `lp-rfq --duration 1 quote buy 1 BTCUSDT` is read as
/// `lp-rfq quote --duration 1 buy 1 BTCUSDT`, so a setting typed before the
/// subcommand is that subcommand's, and one the subcommand does not read
/// (`lp-rfq --markup-bps 7 report`) is refused by it as unknown rather
/// than ignored. Which flags take a value comes from the command's own
/// definition.
pub(crate) fn subcommand_first(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    use clap::CommandFactory;
    let command = Cli::command();
    let takes_value = |flag: &str| {
        command.get_arguments().any(|arg| {
            arg.get_long() == Some(flag)
                && arg.get_action().takes_values()
                && !arg.is_require_equals_set()
        })
    };
    let is_subcommand = |word: &str| {
        command
            .get_subcommands()
            .any(|sub| sub.get_name() == word || sub.get_all_aliases().any(|a| a == word))
    };
    let mut index = 1;
    while index < args.len() {
        let Some(word) = args[index].to_str() else {
            return args;
        };
        if word == "--" {
            return args;
        }
        match word.strip_prefix("--") {
            Some(flag) if !flag.contains('=') && takes_value(flag) => index += 2,
            Some(_) => index += 1,
            None if word.starts_with('-') => index += 1,
            None if is_subcommand(word) => {
                let mut moved = args;
                // [bin, flags.., sub, rest..] → [bin, sub, flags.., rest..]
                moved[1..=index].rotate_right(1);
                return moved;
            }
            None => return args,
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lp-rfq").chain(args.iter().copied()))
    }

    #[test]
    fn each_command_takes_and_validates_only_the_settings_it_reads() {
        let report = parse(&["report", "--blotter", "/tmp/desk.db"]).unwrap();
        let args = report.settings_in_use();
        assert_eq!(args.blotter.as_deref(), Some("/tmp/desk.db"));
        assert_eq!(args.markup_bps, None);
        assert!(Settings::from_args(&args).is_ok());
        // Flags a command does not read are not its flags at all.
        for args in [
            &["report", "--markup-bps", "7"][..],
            &["scenarios", "--markup-bps", "7"][..],
            &["lps", "--threshold-bps", "1"][..],
            &["lps", "--blotter", "x.db"][..],
            &["bench", "--markup-bps", "7"][..],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::UnknownArgument,
                "{args:?}"
            );
        }
        let lps = parse(&["lps", "--lp-timeout-ms", "0"]).unwrap();
        assert_eq!(
            Settings::from_args(&lps.settings_in_use()).unwrap_err().to_string(),
            "invalid LP_TIMEOUT_MS '0' (--lp-timeout-ms): must be a whole number of milliseconds from 1 to 60000"
        );
    }

    fn moved(args: &[&str]) -> Vec<String> {
        let args = std::iter::once("lp-rfq")
            .chain(args.iter().copied())
            .map(std::ffi::OsString::from)
            .collect();
        subcommand_first(args)
            .into_iter()
            .skip(1)
            .map(|arg| arg.into_string().unwrap())
            .collect()
    }

    #[test]
    fn settings_before_a_subcommand_are_read_as_the_subcommands() {
        assert_eq!(
            moved(&[
                "--duration",
                "1",
                "--no-blotter",
                "--json",
                "quote",
                "buy",
                "1",
                "X"
            ]),
            [
                "quote",
                "--duration",
                "1",
                "--no-blotter",
                "--json",
                "buy",
                "1",
                "X"
            ]
        );
        // A flag's value that spells a subcommand is still its value.
        assert_eq!(
            moved(&["--scenario", "report", "--lps=bench", "lps", "--check"]),
            ["lps", "--scenario", "report", "--lps=bench", "--check"]
        );
        assert_eq!(
            moved(&["--plain", "--markup-bps", "7"]),
            ["--plain", "--markup-bps", "7"]
        );
        assert_eq!(moved(&["--", "quote"]), ["--", "quote"]);

        let quote = parse(&[
            "quote",
            "--markup-bps",
            "7",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
        ])
        .unwrap();
        assert_eq!(quote.settings_in_use().markup_bps.as_deref(), Some("7"));
        assert!(quote.output().json);
        // Left before a subcommand (not moved), a flag is refused.
        let error = parse(&["--markup-bps", "7", "quote", "buy", "1", "BTCUSDT"]).unwrap_err();
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn with_desk_a_flag_only_the_server_reads_is_named() {
        let remote = |args: &[&str]| parse(args).unwrap().server_owned_flag();
        assert_eq!(
            remote(&["--desk", "ws://127.0.0.1:7411", "--lps", "lps.toml"]),
            Some("--lps")
        );
        assert_eq!(
            remote(&[
                "quote",
                "buy",
                "1",
                "BTCUSDT",
                "--desk",
                "ws://h:1",
                "--blotter",
                "x.db"
            ]),
            Some("--blotter")
        );
        assert_eq!(
            remote(&[
                "quote",
                "buy",
                "1",
                "BTCUSDT",
                "--desk",
                "ws://h:1",
                "--max-notional",
                "5"
            ]),
            None,
            "the operator's own entry check"
        );
        assert_eq!(
            remote(&["quote", "buy", "1", "BTCUSDT", "--markup-bps", "7"]),
            None,
            "without --desk every flag is this process's"
        );
    }
}

#[cfg(test)]
mod drift_tests;
