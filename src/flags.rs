//! The settings flags, in groups: a subcommand flattens only the groups
//! it reads, so its `--help` lists only the flags it uses (`scenarios`
//! shows no markup, `report` no LP settings). Each group fills its part of
//! the flat [`SettingsArgs`] that [`crate::config::Settings::from_args`]
//! validates; a setting of a group a command does not take is never read,
//! so a bad one cannot stop that command.

use crate::config::SettingsArgs;

/// What the desk charges, what moves the lock and how a stream runs: read by the console, the prompt and `quote`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Pricing and stream")]
pub struct DeskFlags {
    /// Desk markup added to the LP price, in bps, 0 to 500 [default: 5.0]
    #[arg(
        long,
        env = "MARKUP_BPS",
        allow_hyphen_values = true,
        value_name = "BPS"
    )]
    pub markup_bps: Option<String>,
    /// How much a competitor must beat the locked price by to take the lock, in bps, 0 to 1000 [default: 1.0]
    #[arg(
        long,
        env = "IMPROVEMENT_THRESHOLD_BPS",
        allow_hyphen_values = true,
        value_name = "BPS"
    )]
    pub threshold_bps: Option<String>,
    /// Milliseconds between polls [default: 500]
    #[arg(
        long,
        env = "POLL_INTERVAL_MS",
        allow_hyphen_values = true,
        value_name = "MS"
    )]
    pub poll_interval_ms: Option<String>,
    /// Stream duration in seconds [default: 30]
    #[arg(
        long,
        env = "DEFAULT_STREAM_DURATION_SECONDS",
        allow_hyphen_values = true,
        value_name = "SECS"
    )]
    pub duration: Option<String>,
    /// Milliseconds an LP has to answer an order before its outcome is unknown [default: 10000]
    #[arg(
        long,
        env = "ORDER_TIMEOUT_MS",
        allow_hyphen_values = true,
        value_name = "MS"
    )]
    pub order_timeout_ms: Option<String>,
    /// How far a quote may be from the median of the LPs' live quotes, in bps, before it is rejected [default: 200]
    #[arg(
        long,
        env = "MAX_DEVIATION_BPS",
        allow_hyphen_values = true,
        value_name = "BPS"
    )]
    pub max_deviation_bps: Option<String>,
    /// Above this smoothed last-look reject rate, in percent (1 to 100), an LP is fading: execution prefers a clean LP [default: 25]
    #[arg(
        long,
        env = "FADE_LIMIT_PCT",
        allow_hyphen_values = true,
        value_name = "PCT"
    )]
    pub fade_limit_pct: Option<String>,
    /// How much worse, in bps (0 to 100), a clean LP's price may be than a fading LP's for the order to go to the clean one [default: 2]
    #[arg(
        long,
        env = "FADE_TOLERANCE_BPS",
        allow_hyphen_values = true,
        value_name = "BPS"
    )]
    pub fade_tolerance_bps: Option<String>,
    /// Largest notional (amount × the pair's reference price, in the pair's
    /// quote currency) asked for without an explicit confirmation [default: 1000000]
    #[arg(
        long,
        env = "MAX_NOTIONAL",
        allow_hyphen_values = true,
        value_name = "AMOUNT"
    )]
    pub max_notional: Option<String>,
    /// Per-pair notional limits where one limit does not fit every pair, e.g. BTCUSDT=5000000,DOGEUSDT=50000 (each in the pair's quote currency) [default: none: MAX_NOTIONAL for every pair]
    #[arg(
        long,
        env = "MAX_NOTIONAL_PAIRS",
        allow_hyphen_values = true,
        value_name = "PAIR=AMOUNT,.."
    )]
    pub max_notional_pairs: Option<String>,
}

impl DeskFlags {
    /// Writes this group's settings into `args`.
    pub fn fill(&self, args: &mut SettingsArgs) {
        args.markup_bps.clone_from(&self.markup_bps);
        args.threshold_bps.clone_from(&self.threshold_bps);
        args.poll_interval_ms.clone_from(&self.poll_interval_ms);
        args.duration.clone_from(&self.duration);
        args.order_timeout_ms.clone_from(&self.order_timeout_ms);
        args.max_deviation_bps.clone_from(&self.max_deviation_bps);
        args.fade_limit_pct.clone_from(&self.fade_limit_pct);
        args.fade_tolerance_bps.clone_from(&self.fade_tolerance_bps);
        args.max_notional.clone_from(&self.max_notional);
        args.max_notional_pairs.clone_from(&self.max_notional_pairs);
    }
}

/// The client's validity buffer: read wherever LP validities meet it (streams, and `lps` to check the mocks' validity against it).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Pricing and stream")]
pub struct BufferFlags {
    /// Client validity = LP validity minus this many seconds [default: 2.0]
    #[arg(
        long,
        env = "VALIDITY_BUFFER_SECONDS",
        allow_hyphen_values = true,
        value_name = "SECS"
    )]
    pub validity_buffer_secs: Option<String>,
}

impl BufferFlags {
    /// Writes this group's settings into `args`.
    pub fn fill(&self, args: &mut SettingsArgs) {
        args.validity_buffer_secs
            .clone_from(&self.validity_buffer_secs);
    }
}

/// Which LPs are asked and how: the venues file, a scenario or the built-in mocks; read by streams and `lps`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "LPs")]
pub struct LpFlags {
    /// Venues file (TOML) listing the desk's real LPs; none = built-in mock LPs (for `bench`: the number of in-process LPs per stream, default 10)
    #[arg(
        long = "lps",
        env = "LPS_FILE",
        allow_hyphen_values = true,
        value_name = "PATH"
    )]
    pub lps_file: Option<String>,
    /// Milliseconds an LP has to answer before it counts as a timeout [default: 1000]
    #[arg(
        long,
        env = "LP_TIMEOUT_MS",
        allow_hyphen_values = true,
        value_name = "MS"
    )]
    pub lp_timeout_ms: Option<String>,
    /// Replay a scenario's scripted LPs instead of the mock LPs (see `lp-rfq scenarios`)
    #[arg(long, env = "SCENARIO", value_name = "NAME")]
    pub scenario: Option<String>,
    /// Seed for every random choice, for repeatable runs [default: random]
    #[arg(long, env = "SEED", allow_hyphen_values = true, value_name = "N")]
    pub seed: Option<String>,
    /// Run stream time this many times faster than real time [default: 1]
    #[arg(long, env = "SPEED", allow_hyphen_values = true, value_name = "X")]
    pub speed: Option<String>,
    /// Number of built-in mock LPs [default: 3]
    #[arg(
        long,
        env = "MOCK_LP_COUNT",
        allow_hyphen_values = true,
        value_name = "N"
    )]
    pub mock_lps: Option<String>,
    /// Mock LPs' reference mid price for BTCUSDT [default: 100000.0]
    #[arg(
        long,
        env = "MOCK_BASE_PRICE",
        allow_hyphen_values = true,
        value_name = "PRICE"
    )]
    pub mock_base_price: Option<String>,
    /// Mock LPs' bid/offer spread, in bps [default: 5.0]
    #[arg(
        long,
        env = "MOCK_SPREAD_BPS",
        allow_hyphen_values = true,
        value_name = "BPS"
    )]
    pub mock_spread_bps: Option<String>,
    /// Mock LPs' fastest answer, in seconds [default: 0.1]
    #[arg(
        long,
        env = "MOCK_MIN_DELAY",
        allow_hyphen_values = true,
        value_name = "SECS"
    )]
    pub mock_min_delay: Option<String>,
    /// Mock LPs' slowest answer, in seconds [default: 0.5]
    #[arg(
        long,
        env = "MOCK_MAX_DELAY",
        allow_hyphen_values = true,
        value_name = "SECS"
    )]
    pub mock_max_delay: Option<String>,
    /// Share of mock requests that fail, 0 to 1 [default: 0.0]
    #[arg(
        long,
        env = "MOCK_FAILURE_RATE",
        allow_hyphen_values = true,
        value_name = "RATE"
    )]
    pub mock_failure_rate: Option<String>,
    /// Share of orders a mock LP rejects on last look, 0 to 1 [default: 0.0]
    #[arg(
        long,
        env = "MOCK_REJECT_RATE",
        allow_hyphen_values = true,
        value_name = "RATE"
    )]
    pub mock_reject_rate: Option<String>,
    /// How long a mock LP holds an order before answering (last look), in ms [default: 100]
    #[arg(
        long,
        env = "MOCK_LAST_LOOK_MS",
        allow_hyphen_values = true,
        value_name = "MS"
    )]
    pub mock_last_look_ms: Option<String>,
    /// How long a mock quote is firm, in seconds [default: 10]
    #[arg(
        long,
        env = "MOCK_VALIDITY_SECONDS",
        allow_hyphen_values = true,
        value_name = "SECS"
    )]
    pub mock_validity_secs: Option<String>,
    /// Directory of the FIX venues' audit logs (<dir>/<venue>.fix.log) [default: fix-logs]
    #[arg(
        long,
        env = "FIX_LOG_DIR",
        allow_hyphen_values = true,
        value_name = "DIR"
    )]
    pub fix_log_dir: Option<String>,
}

impl LpFlags {
    /// Writes this group's settings into `args`.
    pub fn fill(&self, args: &mut SettingsArgs) {
        args.lps_file.clone_from(&self.lps_file);
        args.lp_timeout_ms.clone_from(&self.lp_timeout_ms);
        args.scenario.clone_from(&self.scenario);
        args.seed.clone_from(&self.seed);
        args.speed.clone_from(&self.speed);
        args.mock_lps.clone_from(&self.mock_lps);
        args.mock_base_price.clone_from(&self.mock_base_price);
        args.mock_spread_bps.clone_from(&self.mock_spread_bps);
        args.mock_min_delay.clone_from(&self.mock_min_delay);
        args.mock_max_delay.clone_from(&self.mock_max_delay);
        args.mock_failure_rate.clone_from(&self.mock_failure_rate);
        args.mock_reject_rate.clone_from(&self.mock_reject_rate);
        args.mock_last_look_ms.clone_from(&self.mock_last_look_ms);
        args.mock_validity_secs.clone_from(&self.mock_validity_secs);
        args.fix_log_dir.clone_from(&self.fix_log_dir);
    }
}

/// Where events are recorded: read by streams and `report`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Blotter")]
pub struct BlotterFlags {
    /// SQLite blotter that records every event [default: ./blotter.db]
    #[arg(
        long = "blotter",
        env = "BLOTTER_PATH",
        allow_hyphen_values = true,
        value_name = "PATH"
    )]
    pub blotter: Option<String>,
    /// Record nothing: open and write no blotter (wins over --blotter)
    #[arg(long, env = "NO_BLOTTER", num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL")]
    pub no_blotter: Option<String>,
}

impl BlotterFlags {
    /// Writes this group's settings into `args`.
    pub fn fill(&self, args: &mut SettingsArgs) {
        args.blotter.clone_from(&self.blotter);
        args.no_blotter.clone_from(&self.no_blotter);
    }
}

/// Where logs go: read by every command.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Logging")]
pub struct LogFlags {
    /// Write logs to this file instead of stderr [default: stderr]
    #[arg(
        long,
        env = "LOG_FILE",
        allow_hyphen_values = true,
        value_name = "PATH"
    )]
    pub log_file: Option<String>,
}

impl LogFlags {
    /// Writes this group's settings into `args`.
    pub fn fill(&self, args: &mut SettingsArgs) {
        args.log_file.clone_from(&self.log_file);
    }
}

/// Every settings group: what a stream reads (the console, the prompt,
/// `quote`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StreamFlags {
    #[command(flatten)]
    pub desk: DeskFlags,
    #[command(flatten)]
    pub buffer: BufferFlags,
    #[command(flatten)]
    pub lps: LpFlags,
    #[command(flatten)]
    pub blotter: BlotterFlags,
    #[command(flatten)]
    pub log: LogFlags,
}

impl StreamFlags {
    /// The flat settings of every group.
    pub fn settings_args(&self) -> SettingsArgs {
        let mut args = SettingsArgs::default();
        self.desk.fill(&mut args);
        self.buffer.fill(&mut args);
        self.lps.fill(&mut args);
        self.blotter.fill(&mut args);
        self.log.fill(&mut args);
        args
    }
}
