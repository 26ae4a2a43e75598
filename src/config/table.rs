//! Every setting, defined once: its variable, flag, default, accepted range
//! and help. The flags ([`crate::flags`]), the checks and error messages in
//! [`super::Settings::from_args`] and the names list are derived from this
//! table; tests hold `.env.example`, `--help` and docs/configuration.md to
//! it, so a setting cannot drift between them.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{ConfigError, SettingsArgs};

/// The flag group a setting belongs to: a subcommand takes only the groups
/// it reads, and each group is one heading of `--help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// What the desk charges, what moves the lock and how a stream runs.
    Desk,
    /// The client's validity buffer (read by streams and `lps`).
    Buffer,
    /// Which LPs are asked and how.
    Lps,
    /// Where events are recorded.
    Blotter,
    /// Where logs go.
    Log,
    /// TLS at the desk server's edges: its certificate and key (`serve`),
    /// and the CA a console trusts it by (`--desk wss://…`).
    Tls,
}

impl Group {
    /// The `--help` heading the group's flags are listed under.
    pub(crate) fn heading(self) -> &'static str {
        match self {
            Group::Desk | Group::Buffer => "Pricing and stream",
            Group::Lps => "LPs",
            Group::Blotter => "Blotter",
            Group::Log => "Logging",
            Group::Tls => "TLS",
        }
    }
}

/// What an unset (or empty) setting means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// This value is used: `--help` shows it as the default and
    /// `.env.example` sets it.
    Value(&'static str),
    /// No value, which the program takes to mean `means` (docs say so;
    /// `--help` too when `in_help`); `.env.example` leaves it empty.
    Absent { means: &'static str, in_help: bool },
}

/// The values a setting accepts. The message after "must be" and the range
/// in `--help` and the docs are written from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepts {
    /// A decimal from `min` to `max`, both included: "`what` from 0 to 500".
    Decimal {
        what: &'static str,
        min: Decimal,
        max: Decimal,
    },
    /// A decimal above `min`: "`what` above 0".
    Above { what: &'static str, min: Decimal },
    /// A decimal `min` or more: "`what`, 0 or more".
    AtLeast { what: &'static str, min: Decimal },
    /// A whole number from `min` to `max`: "`what` from 1 to 60000".
    Whole {
        what: &'static str,
        min: u64,
        max: u64,
    },
    /// Any whole number `min` or more: "`what` 0 or more".
    WholeAtLeast { what: &'static str, min: u64 },
    /// The name of a scenario (checked against the scenario list).
    Scenario,
    /// true or false (1/0, yes/no, on/off); a bare flag means true.
    Bool,
    /// `PAIR=AMOUNT` entries separated by commas.
    PairLimits,
    /// A file or directory path.
    Path,
}

impl Accepts {
    /// The accepted range in words, for `--help` ("0 to 500"), if it has both
    /// ends.
    pub(crate) fn range(self) -> Option<String> {
        match self {
            Accepts::Decimal { min, max, .. } => Some(format!("{min} to {max}")),
            Accepts::Whole { min, max, .. } => Some(format!("{min} to {max}")),
            _ => None,
        }
    }

    /// The accepted range as docs/configuration.md writes it ("0–500").
    pub fn docs_range(self) -> Option<String> {
        match self {
            Accepts::Decimal { min, max, .. } => Some(format!("{min}–{max}")),
            Accepts::Whole { min, max, .. } => Some(format!("{min}–{max}")),
            _ => None,
        }
    }

    /// What a valid value is, for "must be …" (none for the kinds whose
    /// errors explain themselves).
    pub(crate) fn expected(self) -> Option<String> {
        match self {
            Accepts::Decimal { what, min, max } => Some(format!("{what} from {min} to {max}")),
            Accepts::Whole { what, min, max } => Some(format!("{what} from {min} to {max}")),
            Accepts::Above { what, min } => Some(format!("{what} above {min}")),
            Accepts::AtLeast { what, min } => Some(format!("{what}, {min} or more")),
            Accepts::WholeAtLeast { what, min } => Some(format!("{what} {min} or more")),
            Accepts::Scenario | Accepts::Bool | Accepts::PairLimits | Accepts::Path => None,
        }
    }
}

/// One setting.
#[derive(Clone, Copy)]
pub(crate) struct SettingDef {
    /// The environment variable (and `.env` key), e.g. `MARKUP_BPS`.
    pub(crate) env: &'static str,
    /// The long flag with its dashes, e.g. `--markup-bps`.
    pub(crate) flag: &'static str,
    /// The value's placeholder in `--help`, e.g. `BPS`.
    pub(crate) value_name: &'static str,
    pub(crate) group: Group,
    pub(crate) fallback: Fallback,
    pub(crate) accepts: Accepts,
    /// The `--help` line before its default; `{range}` stands for the
    /// accepted range ("0 to 500").
    pub(crate) help: &'static str,
    /// Where the raw value lives in [`SettingsArgs`].
    pub(crate) slot: fn(&mut SettingsArgs) -> &mut Option<String>,
}

impl std::fmt::Debug for SettingDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingDef")
            .field("env", &self.env)
            .field("flag", &self.flag)
            .finish_non_exhaustive()
    }
}

impl SettingDef {
    /// The flag's name without its dashes, as clap wants it.
    pub(crate) fn long(&self) -> &'static str {
        self.flag.trim_start_matches('-')
    }

    /// The whole `--help` line: the help with its range, then the default.
    pub(crate) fn help_line(&self) -> String {
        let help = match self.accepts.range() {
            Some(range) => self.help.replace("{range}", &range),
            None => self.help.to_string(),
        };
        match self.fallback {
            Fallback::Value(value) => format!("{help} [default: {value}]"),
            Fallback::Absent {
                means,
                in_help: true,
            } => format!("{help} [default: {means}]"),
            Fallback::Absent { in_help: false, .. } => help,
        }
    }

    /// The value used when the setting is unset or empty, if any.
    pub(crate) fn default_value(&self) -> Option<&'static str> {
        match self.fallback {
            Fallback::Value(value) => Some(value),
            Fallback::Absent { .. } => None,
        }
    }

    pub(crate) fn error(&self, value: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            env: self.env,
            flag: self.flag,
            value: Some(value.to_string()),
            problem: problem.into(),
        }
    }

    /// [`SettingDef::error`] for a setting whose value must never be
    /// repeated (a key).
    pub(crate) fn error_unquoted(&self, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            env: self.env,
            flag: self.flag,
            value: None,
            problem: problem.into(),
        }
    }

    /// The text to read: `raw` trimmed, or the default when it is unset or
    /// empty (`MARKUP_BPS=` in .env means "use the default").
    fn text<'a>(&self, raw: &'a Option<String>) -> &'a str {
        raw.as_deref()
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .or(self.default_value())
            .unwrap_or("")
    }

    fn refuse(&self, text: &str) -> ConfigError {
        let expected = self.accepts.expected().unwrap_or_default();
        self.error(text, format!("must be {expected}"))
    }

    /// Reads a decimal setting, returning the value and the text it was read
    /// from (for messages that name it).
    pub(crate) fn decimal(&self, raw: &Option<String>) -> Result<(Decimal, String), ConfigError> {
        let text = self.text(raw);
        if crate::market::written_with_exponent(text) {
            return Err(self.error(text, "must be written out in full, without an exponent"));
        }
        let parsed = text.parse::<Decimal>().ok();
        let value = match self.accepts {
            Accepts::Decimal { min, max, .. } => parsed.filter(|v| (min..=max).contains(v)),
            Accepts::Above { min, .. } => parsed.filter(|v| *v > min),
            Accepts::AtLeast { min, .. } => parsed.filter(|v| *v >= min),
            _ => unreachable!("{} is not a decimal setting", self.env),
        };
        value
            .map(|value| (value, text.to_string()))
            .ok_or_else(|| self.refuse(text))
    }

    /// Reads a whole-number setting, returning the value and its text.
    pub(crate) fn whole(&self, raw: &Option<String>) -> Result<(u64, String), ConfigError> {
        let text = self.text(raw);
        let parsed = text.parse::<u64>().ok();
        let value = match self.accepts {
            Accepts::Whole { min, max, .. } => parsed.filter(|v| (min..=max).contains(v)),
            Accepts::WholeAtLeast { min, .. } => parsed.filter(|v| *v >= min),
            _ => unreachable!("{} is not a whole-number setting", self.env),
        };
        value
            .map(|value| (value, text.to_string()))
            .ok_or_else(|| self.refuse(text))
    }

    /// Reads a text setting: its trimmed value or default, `None` when both
    /// are empty.
    pub(crate) fn text_value(&self, raw: &Option<String>) -> Option<String> {
        Some(self.text(raw))
            .filter(|text| !text.is_empty())
            .map(str::to_string)
    }
}

/// Largest markup: 5 %. Above it a typo (50 for 5) is likelier than a price.
pub(crate) const MAX_MARKUP_BPS: Decimal = dec!(500);
/// Largest improvement threshold: 10 %.
pub(crate) const MAX_THRESHOLD_BPS: Decimal = dec!(1000);
/// Longest poll interval, LP or order timeout, or mock last look, in ms: a
/// minute.
const MAX_INTERVAL_MS: u64 = 60_000;
/// Longest stream, in seconds: a day.
const MAX_DURATION_SECS: Decimal = dec!(86400);
/// Longest validity or buffer, in seconds: an hour (no firm RFQ quote lives
/// longer).
const MAX_VALIDITY_SECS: Decimal = dec!(3600);
/// Longest mock answer delay, in seconds: a minute.
const MAX_DELAY_SECS: Decimal = dec!(60);
/// Most mock LPs one stream may run.
const MAX_MOCK_LPS: u64 = 1000;

const BPS: &str = "a number of bps";
const SECONDS: &str = "a number of seconds";
const MILLISECONDS: &str = "a whole number of milliseconds";
const SHARE: &str = "a share";

pub(crate) const MARKUP_BPS: SettingDef = SettingDef {
    env: "MARKUP_BPS",
    flag: "--markup-bps",
    value_name: "BPS",
    group: Group::Desk,
    fallback: Fallback::Value("5.0"),
    accepts: Accepts::Decimal {
        what: BPS,
        min: Decimal::ZERO,
        max: MAX_MARKUP_BPS,
    },
    help: "Desk markup added to the LP price, in bps, {range}",
    slot: |args| &mut args.markup_bps,
};

pub(crate) const IMPROVEMENT_THRESHOLD_BPS: SettingDef = SettingDef {
    env: "IMPROVEMENT_THRESHOLD_BPS",
    flag: "--threshold-bps",
    value_name: "BPS",
    group: Group::Desk,
    fallback: Fallback::Value("1.0"),
    accepts: Accepts::Decimal {
        what: BPS,
        min: Decimal::ZERO,
        max: MAX_THRESHOLD_BPS,
    },
    help: "How much a competitor must beat the locked price by to take the lock, in bps, {range}",
    slot: |args| &mut args.threshold_bps,
};

pub(crate) const POLL_INTERVAL_MS: SettingDef = SettingDef {
    env: "POLL_INTERVAL_MS",
    flag: "--poll-interval-ms",
    value_name: "MS",
    group: Group::Desk,
    fallback: Fallback::Value("500"),
    accepts: Accepts::Whole {
        what: MILLISECONDS,
        min: 1,
        max: MAX_INTERVAL_MS,
    },
    help: "Milliseconds between polls",
    slot: |args| &mut args.poll_interval_ms,
};

pub(crate) const DEFAULT_STREAM_DURATION_SECONDS: SettingDef = SettingDef {
    env: "DEFAULT_STREAM_DURATION_SECONDS",
    flag: "--duration",
    value_name: "SECS",
    group: Group::Desk,
    fallback: Fallback::Value("30"),
    accepts: Accepts::Decimal {
        what: SECONDS,
        min: dec!(0.001),
        max: MAX_DURATION_SECS,
    },
    help: "Stream duration in seconds",
    slot: |args| &mut args.duration,
};

pub(crate) const ORDER_TIMEOUT_MS: SettingDef = SettingDef {
    env: "ORDER_TIMEOUT_MS",
    flag: "--order-timeout-ms",
    value_name: "MS",
    group: Group::Desk,
    fallback: Fallback::Value("10000"),
    accepts: Accepts::Whole {
        what: MILLISECONDS,
        min: 1,
        max: MAX_INTERVAL_MS,
    },
    help: "Milliseconds an LP has to answer an order before its outcome is unknown",
    slot: |args| &mut args.order_timeout_ms,
};

pub(crate) const MAX_DEVIATION_BPS: SettingDef = SettingDef {
    env: "MAX_DEVIATION_BPS",
    flag: "--max-deviation-bps",
    value_name: "BPS",
    group: Group::Desk,
    fallback: Fallback::Value("200"),
    accepts: Accepts::Decimal {
        what: BPS,
        min: Decimal::ONE,
        max: dec!(10000),
    },
    help: "How far a quote may be from the median of the LPs' live quotes, in bps, before it is rejected",
    slot: |args| &mut args.max_deviation_bps,
};

pub(crate) const REFERENCE_MAX_AGE_SECS: SettingDef = SettingDef {
    env: "REFERENCE_MAX_AGE_SECS",
    flag: "--reference-max-age-secs",
    value_name: "SECS",
    group: Group::Desk,
    fallback: Fallback::Value("300"),
    accepts: Accepts::Whole {
        what: "a whole number of seconds",
        min: 0,
        max: 86_400,
    },
    help: "How old, in seconds ({range}), the desk's last corroborated price for a pair may be and still vouch for a lone LP's quote near it (0: never)",
    slot: |args| &mut args.reference_max_age_secs,
};

pub(crate) const FADE_LIMIT_PCT: SettingDef = SettingDef {
    env: "FADE_LIMIT_PCT",
    flag: "--fade-limit-pct",
    value_name: "PCT",
    group: Group::Desk,
    fallback: Fallback::Value("25"),
    accepts: Accepts::Decimal {
        what: "a percentage",
        min: Decimal::ONE,
        max: dec!(100),
    },
    help: "Above this smoothed last-look reject rate, in percent ({range}), an LP is fading: execution prefers a clean LP",
    slot: |args| &mut args.fade_limit_pct,
};

pub(crate) const FADE_TOLERANCE_BPS: SettingDef = SettingDef {
    env: "FADE_TOLERANCE_BPS",
    flag: "--fade-tolerance-bps",
    value_name: "BPS",
    group: Group::Desk,
    fallback: Fallback::Value("2"),
    accepts: Accepts::Decimal {
        what: BPS,
        min: Decimal::ZERO,
        max: dec!(100),
    },
    help: "How much worse, in bps ({range}), a clean LP's price may be than a fading LP's for the order to go to the clean one",
    slot: |args| &mut args.fade_tolerance_bps,
};

pub(crate) const MAX_NOTIONAL: SettingDef = SettingDef {
    env: "MAX_NOTIONAL",
    flag: "--max-notional",
    value_name: "AMOUNT",
    group: Group::Desk,
    fallback: Fallback::Value("1000000"),
    accepts: Accepts::Above {
        what: "an amount of quote currency",
        min: Decimal::ZERO,
    },
    help: "Largest notional (amount × the pair's reference price, in the pair's quote currency) asked for without an explicit confirmation",
    slot: |args| &mut args.max_notional,
};

pub(crate) const MAX_NOTIONAL_PAIRS: SettingDef = SettingDef {
    env: "MAX_NOTIONAL_PAIRS",
    flag: "--max-notional-pairs",
    value_name: "PAIR=AMOUNT,..",
    group: Group::Desk,
    fallback: Fallback::Absent {
        means: "none: MAX_NOTIONAL for every pair",
        in_help: true,
    },
    accepts: Accepts::PairLimits,
    help: "Per-pair notional limits where one limit does not fit every pair, e.g. BTCUSDT=5000000,DOGEUSDT=50000 (each in the pair's quote currency)",
    slot: |args| &mut args.max_notional_pairs,
};

pub(crate) const MIN_NOTIONAL: SettingDef = SettingDef {
    env: "MIN_NOTIONAL",
    flag: "--min-notional",
    value_name: "AMOUNT",
    group: Group::Desk,
    fallback: Fallback::Value("10"),
    accepts: Accepts::AtLeast {
        what: "an amount of quote currency",
        min: Decimal::ZERO,
    },
    help: "Smallest notional (amount × the pair's reference price, in the pair's quote currency) asked for at all; a smaller request is refused (0: only the pair's lot and tick)",
    slot: |args| &mut args.min_notional,
};

pub(crate) const MIN_NOTIONAL_PAIRS: SettingDef = SettingDef {
    env: "MIN_NOTIONAL_PAIRS",
    flag: "--min-notional-pairs",
    value_name: "PAIR=AMOUNT,..",
    group: Group::Desk,
    fallback: Fallback::Value("ETHBTC=0.0001"),
    accepts: Accepts::PairLimits,
    help: "Per-pair minimum notionals where one does not fit every pair, e.g. ETHBTC=0.0001,BTCUSDT=100 (each in the pair's quote currency; setting it replaces the default list)",
    slot: |args| &mut args.min_notional_pairs,
};

pub(crate) const VALIDITY_BUFFER_SECONDS: SettingDef = SettingDef {
    env: "VALIDITY_BUFFER_SECONDS",
    flag: "--validity-buffer-secs",
    value_name: "SECS",
    group: Group::Buffer,
    fallback: Fallback::Value("2.0"),
    accepts: Accepts::Decimal {
        what: SECONDS,
        min: Decimal::ZERO,
        max: MAX_VALIDITY_SECS,
    },
    help: "Client validity = LP validity minus this many seconds",
    slot: |args| &mut args.validity_buffer_secs,
};

pub(crate) const LPS_FILE: SettingDef = SettingDef {
    env: "LPS_FILE",
    flag: "--lps",
    value_name: "PATH",
    group: Group::Lps,
    fallback: Fallback::Absent {
        means: "none (built-in mocks)",
        in_help: false,
    },
    accepts: Accepts::Path,
    help: "Venues file (TOML) listing the desk's real LPs; none = built-in mock LPs (for `bench`: the number of in-process LPs per stream, default 10)",
    slot: |args| &mut args.lps_file,
};

pub(crate) const CLIENTS_FILE: SettingDef = SettingDef {
    env: "CLIENTS_FILE",
    flag: "--clients",
    value_name: "PATH",
    group: Group::Desk,
    fallback: Fallback::Absent {
        means: "none (the house client at the desk's settings)",
        in_help: false,
    },
    accepts: Accepts::Path,
    help: "Clients file (TOML) with each client's markup and limits; none = one client, house, at the desk's settings",
    slot: |args| &mut args.clients_file,
};

pub(crate) const ALLOW_SIMULATED_WITH_REAL: SettingDef = SettingDef {
    env: "ALLOW_SIMULATED_WITH_REAL",
    flag: "--allow-simulated-with-real",
    value_name: "BOOL",
    group: Group::Lps,
    fallback: Fallback::Absent {
        means: "off",
        in_help: false,
    },
    accepts: Accepts::Bool,
    help: "Let a venues file mix simulated (mock) LPs with real ones; every screen then says MIXED and marks each simulated price and fill",
    slot: |args| &mut args.allow_simulated_with_real,
};

pub(crate) const LP_TIMEOUT_MS: SettingDef = SettingDef {
    env: "LP_TIMEOUT_MS",
    flag: "--lp-timeout-ms",
    value_name: "MS",
    group: Group::Lps,
    fallback: Fallback::Value("1000"),
    accepts: Accepts::Whole {
        what: MILLISECONDS,
        min: 1,
        max: MAX_INTERVAL_MS,
    },
    help: "Milliseconds an LP has to answer before it counts as a timeout",
    slot: |args| &mut args.lp_timeout_ms,
};

pub(crate) const SCENARIO: SettingDef = SettingDef {
    env: "SCENARIO",
    flag: "--scenario",
    value_name: "NAME",
    group: Group::Lps,
    fallback: Fallback::Absent {
        means: "none (mock LPs)",
        in_help: false,
    },
    accepts: Accepts::Scenario,
    help: "Replay a scenario's scripted LPs instead of the mock LPs (see `lp-rfq scenarios`)",
    slot: |args| &mut args.scenario,
};

pub(crate) const SEED: SettingDef = SettingDef {
    env: "SEED",
    flag: "--seed",
    value_name: "N",
    group: Group::Lps,
    fallback: Fallback::Absent {
        means: "random",
        in_help: true,
    },
    accepts: Accepts::WholeAtLeast {
        what: "a whole number",
        min: 0,
    },
    help: "Seed for every random choice, for repeatable runs",
    slot: |args| &mut args.seed,
};

pub(crate) const SPEED: SettingDef = SettingDef {
    env: "SPEED",
    flag: "--speed",
    value_name: "X",
    group: Group::Lps,
    fallback: Fallback::Value("1"),
    accepts: Accepts::Decimal {
        what: "a number",
        min: dec!(0.001),
        max: dec!(1000),
    },
    help: "Run stream time this many times faster than real time",
    slot: |args| &mut args.speed,
};

pub(crate) const MOCK_LP_COUNT: SettingDef = SettingDef {
    env: "MOCK_LP_COUNT",
    flag: "--mock-lps",
    value_name: "N",
    group: Group::Lps,
    fallback: Fallback::Value("3"),
    accepts: Accepts::Whole {
        what: "a whole number",
        min: 1,
        max: MAX_MOCK_LPS,
    },
    help: "Number of built-in mock LPs",
    slot: |args| &mut args.mock_lps,
};

pub(crate) const MOCK_BASE_PRICE: SettingDef = SettingDef {
    env: "MOCK_BASE_PRICE",
    flag: "--mock-base-price",
    value_name: "PRICE",
    group: Group::Lps,
    fallback: Fallback::Value("100000.0"),
    accepts: Accepts::Above {
        what: "a price",
        min: Decimal::ZERO,
    },
    help: "Mock LPs' reference mid price for BTCUSDT",
    slot: |args| &mut args.mock_base_price,
};

pub(crate) const MOCK_SPREAD_BPS: SettingDef = SettingDef {
    env: "MOCK_SPREAD_BPS",
    flag: "--mock-spread-bps",
    value_name: "BPS",
    group: Group::Lps,
    fallback: Fallback::Value("5.0"),
    accepts: Accepts::AtLeast {
        what: BPS,
        min: Decimal::ZERO,
    },
    help: "Mock LPs' bid/offer spread, in bps",
    slot: |args| &mut args.mock_spread_bps,
};

pub(crate) const MOCK_MIN_DELAY: SettingDef = SettingDef {
    env: "MOCK_MIN_DELAY",
    flag: "--mock-min-delay",
    value_name: "SECS",
    group: Group::Lps,
    fallback: Fallback::Value("0.1"),
    accepts: Accepts::Decimal {
        what: SECONDS,
        min: Decimal::ZERO,
        max: MAX_DELAY_SECS,
    },
    help: "Mock LPs' fastest answer, in seconds",
    slot: |args| &mut args.mock_min_delay,
};

pub(crate) const MOCK_MAX_DELAY: SettingDef = SettingDef {
    env: "MOCK_MAX_DELAY",
    flag: "--mock-max-delay",
    value_name: "SECS",
    group: Group::Lps,
    fallback: Fallback::Value("0.5"),
    accepts: Accepts::Decimal {
        what: SECONDS,
        min: Decimal::ZERO,
        max: MAX_DELAY_SECS,
    },
    help: "Mock LPs' slowest answer, in seconds",
    slot: |args| &mut args.mock_max_delay,
};

pub(crate) const MOCK_FAILURE_RATE: SettingDef = SettingDef {
    env: "MOCK_FAILURE_RATE",
    flag: "--mock-failure-rate",
    value_name: "RATE",
    group: Group::Lps,
    fallback: Fallback::Value("0.0"),
    accepts: Accepts::Decimal {
        what: SHARE,
        min: Decimal::ZERO,
        max: Decimal::ONE,
    },
    help: "Share of mock requests that fail, {range}",
    slot: |args| &mut args.mock_failure_rate,
};

pub(crate) const MOCK_REJECT_RATE: SettingDef = SettingDef {
    env: "MOCK_REJECT_RATE",
    flag: "--mock-reject-rate",
    value_name: "RATE",
    group: Group::Lps,
    fallback: Fallback::Value("0.0"),
    accepts: Accepts::Decimal {
        what: SHARE,
        min: Decimal::ZERO,
        max: Decimal::ONE,
    },
    help: "Share of orders a mock LP rejects on last look, {range}",
    slot: |args| &mut args.mock_reject_rate,
};

pub(crate) const MOCK_LAST_LOOK_MS: SettingDef = SettingDef {
    env: "MOCK_LAST_LOOK_MS",
    flag: "--mock-last-look-ms",
    value_name: "MS",
    group: Group::Lps,
    fallback: Fallback::Value("100"),
    accepts: Accepts::Whole {
        what: MILLISECONDS,
        min: 0,
        max: MAX_INTERVAL_MS,
    },
    help: "How long a mock LP holds an order before answering (last look), in ms",
    slot: |args| &mut args.mock_last_look_ms,
};

pub(crate) const MOCK_VALIDITY_SECONDS: SettingDef = SettingDef {
    env: "MOCK_VALIDITY_SECONDS",
    flag: "--mock-validity-secs",
    value_name: "SECS",
    group: Group::Lps,
    fallback: Fallback::Value("10"),
    accepts: Accepts::Decimal {
        what: SECONDS,
        min: dec!(0.001),
        max: MAX_VALIDITY_SECS,
    },
    help: "How long a mock quote is firm, in seconds",
    slot: |args| &mut args.mock_validity_secs,
};

pub(crate) const FIX_LOG_DIR: SettingDef = SettingDef {
    env: "FIX_LOG_DIR",
    flag: "--fix-log-dir",
    value_name: "DIR",
    group: Group::Lps,
    fallback: Fallback::Value("fix-logs"),
    accepts: Accepts::Path,
    help: "Directory of the FIX venues' audit logs (<dir>/<venue>.fix.log)",
    slot: |args| &mut args.fix_log_dir,
};

pub(crate) const BLOTTER_PATH: SettingDef = SettingDef {
    env: "BLOTTER_PATH",
    flag: "--blotter",
    value_name: "PATH",
    group: Group::Blotter,
    fallback: Fallback::Value("./blotter.db"),
    accepts: Accepts::Path,
    help: "Blotter that records every event: an SQLite file, or postgres://USER@HOST[:PORT]/DB (password from PGPASSWORD)",
    slot: |args| &mut args.blotter,
};

pub(crate) const DESK_NAME: SettingDef = SettingDef {
    env: "DESK_NAME",
    flag: "--desk-name",
    value_name: "NAME",
    group: Group::Blotter,
    fallback: Fallback::Absent {
        means: "the host name",
        in_help: true,
    },
    accepts: Accepts::Path,
    help: "This desk's name on its blotter rows; `report` shows only its RFQs",
    slot: |args| &mut args.desk_name,
};

pub(crate) const NO_BLOTTER: SettingDef = SettingDef {
    env: "NO_BLOTTER",
    flag: "--no-blotter",
    value_name: "BOOL",
    group: Group::Blotter,
    fallback: Fallback::Absent {
        means: "off",
        in_help: false,
    },
    accepts: Accepts::Bool,
    help: "Record nothing: open and write no blotter (wins over --blotter)",
    slot: |args| &mut args.no_blotter,
};

pub(crate) const LOG_FILE: SettingDef = SettingDef {
    env: "LOG_FILE",
    flag: "--log-file",
    value_name: "PATH",
    group: Group::Log,
    fallback: Fallback::Absent {
        means: "stderr",
        in_help: true,
    },
    accepts: Accepts::Path,
    help: "Write logs to this file instead of stderr",
    slot: |args| &mut args.log_file,
};

pub(crate) const DESK_TLS_CERT: SettingDef = SettingDef {
    env: "DESK_TLS_CERT",
    flag: "--tls-cert",
    value_name: "PATH",
    group: Group::Tls,
    fallback: Fallback::Absent {
        means: "none (no TLS: loopback only, unless --insecure)",
        in_help: false,
    },
    accepts: Accepts::Path,
    help: "`serve`: the desk's TLS certificate chain (PEM, its own certificate first); with --tls-key every listener serves TLS (wss://) and may listen beyond loopback",
    slot: |args| &mut args.tls_cert,
};

pub(crate) const DESK_TLS_KEY: SettingDef = SettingDef {
    env: "DESK_TLS_KEY",
    flag: "--tls-key",
    value_name: "PATH",
    group: Group::Tls,
    fallback: Fallback::Absent {
        means: "none",
        in_help: false,
    },
    accepts: Accepts::Path,
    help: "`serve`: the private key (PEM: PKCS#8, RSA or EC) of the --tls-cert certificate",
    slot: |args| &mut args.tls_key,
};

pub(crate) const DESK_CA_FILE: SettingDef = SettingDef {
    env: "DESK_CA_FILE",
    flag: "--desk-ca",
    value_name: "PATH",
    group: Group::Tls,
    fallback: Fallback::Absent {
        means: "none (the public web roots only)",
        in_help: false,
    },
    accepts: Accepts::Path,
    help: "With --desk wss://…: the desk's own CA certificate(s) (PEM), trusted besides the public web roots",
    slot: |args| &mut args.desk_ca,
};

/// Every setting, in the order `--help` lists them within their group.
pub(crate) const SETTINGS: &[SettingDef] = &[
    MARKUP_BPS,
    IMPROVEMENT_THRESHOLD_BPS,
    POLL_INTERVAL_MS,
    DEFAULT_STREAM_DURATION_SECONDS,
    ORDER_TIMEOUT_MS,
    MAX_DEVIATION_BPS,
    REFERENCE_MAX_AGE_SECS,
    FADE_LIMIT_PCT,
    FADE_TOLERANCE_BPS,
    MAX_NOTIONAL,
    MAX_NOTIONAL_PAIRS,
    MIN_NOTIONAL,
    MIN_NOTIONAL_PAIRS,
    VALIDITY_BUFFER_SECONDS,
    CLIENTS_FILE,
    LPS_FILE,
    ALLOW_SIMULATED_WITH_REAL,
    LP_TIMEOUT_MS,
    SCENARIO,
    SEED,
    SPEED,
    MOCK_LP_COUNT,
    MOCK_BASE_PRICE,
    MOCK_SPREAD_BPS,
    MOCK_MIN_DELAY,
    MOCK_MAX_DELAY,
    MOCK_FAILURE_RATE,
    MOCK_REJECT_RATE,
    MOCK_LAST_LOOK_MS,
    MOCK_VALIDITY_SECONDS,
    FIX_LOG_DIR,
    BLOTTER_PATH,
    DESK_NAME,
    NO_BLOTTER,
    LOG_FILE,
    DESK_TLS_CERT,
    DESK_TLS_KEY,
    DESK_CA_FILE,
];

/// Every variable a user may set.
pub const SETTING_NAMES: [&str; SETTINGS.len()] = {
    let mut names = [""; SETTINGS.len()];
    let mut index = 0;
    while index < SETTINGS.len() {
        names[index] = SETTINGS[index].env;
        index += 1;
    }
    names
};

/// The settings of one group, in `--help` order.
pub(crate) fn in_group(group: Group) -> impl Iterator<Item = &'static SettingDef> {
    SETTINGS.iter().filter(move |def| def.group == group)
}
