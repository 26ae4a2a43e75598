//! Settings: defaults → `.env` → real environment → CLI flags, turned once
//! into a validated [`Settings`]. The rest of the program only sees
//! `Settings`; a bad value stops the start with the setting's name, its
//! flag and the value in quotes.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::lp::mock::MockSettings;
use crate::market::Bps;
use crate::rfq::EngineParams;
use crate::scenario::{self, Scenario};

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {env} '{value}' ({flag}): {problem}")]
pub struct ConfigError {
    pub env: &'static str,
    pub flag: &'static str,
    pub value: String,
    pub problem: String,
}

/// The raw settings as given by flags or the environment (clap fills both
/// from the flag groups in [`crate::flags`]; a flag wins over its variable,
/// which wins over `.env`). `None` means "use the default" (or, for a
/// command that does not read a setting, that it was not read at all).
#[derive(Debug, Clone, Default)]
pub struct SettingsArgs {
    /// Desk markup added to the LP price, in bps, 0 to 500 [default: 5.0]
    pub markup_bps: Option<String>,
    /// How much a competitor must beat the locked price by to take the lock, in bps, 0 to 1000 [default: 1.0]
    pub threshold_bps: Option<String>,
    /// Client validity = LP validity minus this many seconds [default: 2.0]
    pub validity_buffer_secs: Option<String>,
    /// Milliseconds between polls [default: 500]
    pub poll_interval_ms: Option<String>,
    /// Stream duration in seconds [default: 30]
    pub duration: Option<String>,
    /// Milliseconds an LP has to answer before it counts as a timeout [default: 1000]
    pub lp_timeout_ms: Option<String>,
    /// Number of built-in mock LPs [default: 3]
    pub mock_lps: Option<String>,
    /// Mock LPs' reference mid price for BTCUSDT [default: 100000.0]
    pub mock_base_price: Option<String>,
    /// Mock LPs' bid/offer spread, in bps [default: 5.0]
    pub mock_spread_bps: Option<String>,
    /// Mock LPs' fastest answer, in seconds [default: 0.1]
    pub mock_min_delay: Option<String>,
    /// Mock LPs' slowest answer, in seconds [default: 0.5]
    pub mock_max_delay: Option<String>,
    /// Share of mock requests that fail, 0 to 1 [default: 0.0]
    pub mock_failure_rate: Option<String>,
    /// Share of orders a mock LP rejects on last look, 0 to 1 [default: 0.0]
    pub mock_reject_rate: Option<String>,
    /// How long a mock LP holds an order before answering (last look), in ms [default: 100]
    pub mock_last_look_ms: Option<String>,
    /// How far a quote may be from the median of the LPs' live quotes, in bps, before it is rejected [default: 200]
    pub max_deviation_bps: Option<String>,
    /// Above this smoothed last-look reject rate, in percent (1 to 100), an LP is fading: execution prefers a clean LP [default: 25]
    pub fade_limit_pct: Option<String>,
    /// How much worse, in bps (0 to 100), a clean LP's price may be than a fading LP's for the order to go to the clean one [default: 2]
    pub fade_tolerance_bps: Option<String>,
    /// Milliseconds an LP has to answer an order before its outcome is unknown [default: 10000]
    pub order_timeout_ms: Option<String>,
    /// How long a mock quote is firm, in seconds [default: 10]
    pub mock_validity_secs: Option<String>,
    /// Seed for every random choice, for repeatable runs [default: random]
    pub seed: Option<String>,
    /// Replay a scenario's scripted LPs instead of the mock LPs (see `lp-rfq scenarios`)
    pub scenario: Option<String>,
    /// Run stream time this many times faster than real time [default: 1]
    pub speed: Option<String>,
    /// Venues file (TOML) listing the desk's real LPs; none = built-in mock LPs (for `bench`: the number of in-process LPs per stream, default 10)
    pub lps_file: Option<String>,
    /// Directory of the FIX venues' audit logs (<dir>/<venue>.fix.log) [default: fix-logs]
    pub fix_log_dir: Option<String>,
    /// Write logs to this file instead of stderr [default: stderr]
    pub log_file: Option<String>,
    /// SQLite blotter that records every event [default: ./blotter.db]
    pub blotter: Option<String>,
    /// Largest notional (amount × the pair's reference price, in the pair's
    /// quote currency) asked for without an explicit confirmation [default: 1000000]
    pub max_notional: Option<String>,
    /// Per-pair notional limits, `BTCUSDT=5000000,ETHUSDT=2000000` (each
    /// in its pair's quote currency); a pair not listed has MAX_NOTIONAL
    pub max_notional_pairs: Option<String>,
    /// Record nothing: open and write no blotter (wins over --blotter)
    pub no_blotter: Option<String>,
}

/// Validated settings for the whole program.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub engine: EngineParams,
    /// Stream duration in stream ms.
    pub duration_ms: u64,
    pub mock: MockSettings,
    pub seed: Option<u64>,
    /// Scripted LPs to use instead of the mocks.
    pub scenario: Option<&'static Scenario>,
    /// Stream ms per 1000 real ms (1000 = real time).
    pub speed_per_mille: u64,
    /// The venues file, if the desk has real LPs (read when the desk opens).
    pub lps_file: Option<PathBuf>,
    /// Where FIX venues append their audit logs.
    pub fix_log_dir: PathBuf,
    pub log_file: Option<PathBuf>,
    /// Where events are recorded; `None` with `--no-blotter`.
    pub blotter: Option<PathBuf>,
    /// Notional (quote currency) above which a request needs the
    /// operator's explicit confirmation.
    pub max_notional: Decimal,
    /// Per pair symbol, its own notional limit (MAX_NOTIONAL_PAIRS).
    pub max_notional_pairs: std::collections::BTreeMap<String, Decimal>,
    /// Above this smoothed last-look reject rate (percent) an LP is
    /// fading (FADE_LIMIT_PCT).
    pub fade_limit_pct: Decimal,
}

impl Settings {
    /// The fat-finger limits: MAX_NOTIONAL, and MAX_NOTIONAL_PAIRS where a
    /// pair has its own.
    pub fn notional_limits(&self) -> crate::market::NotionalLimits {
        crate::market::NotionalLimits {
            default: self.max_notional,
            per_pair: self.max_notional_pairs.clone(),
        }
    }
}

/// One setting's names, for messages.
#[derive(Clone, Copy)]
struct Key {
    env: &'static str,
    flag: &'static str,
}

const MARKUP: Key = Key {
    env: "MARKUP_BPS",
    flag: "--markup-bps",
};
const THRESHOLD: Key = Key {
    env: "IMPROVEMENT_THRESHOLD_BPS",
    flag: "--threshold-bps",
};
const BUFFER: Key = Key {
    env: "VALIDITY_BUFFER_SECONDS",
    flag: "--validity-buffer-secs",
};
const POLL: Key = Key {
    env: "POLL_INTERVAL_MS",
    flag: "--poll-interval-ms",
};
const DURATION: Key = Key {
    env: "DEFAULT_STREAM_DURATION_SECONDS",
    flag: "--duration",
};
const TIMEOUT: Key = Key {
    env: "LP_TIMEOUT_MS",
    flag: "--lp-timeout-ms",
};
const MOCK_COUNT: Key = Key {
    env: "MOCK_LP_COUNT",
    flag: "--mock-lps",
};
const MOCK_PRICE: Key = Key {
    env: "MOCK_BASE_PRICE",
    flag: "--mock-base-price",
};
const MOCK_SPREAD: Key = Key {
    env: "MOCK_SPREAD_BPS",
    flag: "--mock-spread-bps",
};
const MOCK_MIN: Key = Key {
    env: "MOCK_MIN_DELAY",
    flag: "--mock-min-delay",
};
const MOCK_MAX: Key = Key {
    env: "MOCK_MAX_DELAY",
    flag: "--mock-max-delay",
};
const MOCK_FAIL: Key = Key {
    env: "MOCK_FAILURE_RATE",
    flag: "--mock-failure-rate",
};
const MOCK_REJECT: Key = Key {
    env: "MOCK_REJECT_RATE",
    flag: "--mock-reject-rate",
};
const MOCK_LAST_LOOK: Key = Key {
    env: "MOCK_LAST_LOOK_MS",
    flag: "--mock-last-look-ms",
};
const MAX_DEVIATION: Key = Key {
    env: "MAX_DEVIATION_BPS",
    flag: "--max-deviation-bps",
};
const FADE_LIMIT: Key = Key {
    env: "FADE_LIMIT_PCT",
    flag: "--fade-limit-pct",
};
const FADE_TOLERANCE: Key = Key {
    env: "FADE_TOLERANCE_BPS",
    flag: "--fade-tolerance-bps",
};
const ORDER_TIMEOUT: Key = Key {
    env: "ORDER_TIMEOUT_MS",
    flag: "--order-timeout-ms",
};
const MOCK_VALIDITY: Key = Key {
    env: "MOCK_VALIDITY_SECONDS",
    flag: "--mock-validity-secs",
};
const SEED: Key = Key {
    env: "SEED",
    flag: "--seed",
};
const SCENARIO: Key = Key {
    env: "SCENARIO",
    flag: "--scenario",
};
const SPEED: Key = Key {
    env: "SPEED",
    flag: "--speed",
};
const MAX_NOTIONAL: Key = Key {
    env: "MAX_NOTIONAL",
    flag: "--max-notional",
};
const MAX_NOTIONAL_PAIRS: Key = Key {
    env: "MAX_NOTIONAL_PAIRS",
    flag: "--max-notional-pairs",
};
const NO_BLOTTER: Key = Key {
    env: "NO_BLOTTER",
    flag: "--no-blotter",
};

/// Where the blotter lives unless BLOTTER_PATH says otherwise.
pub const DEFAULT_BLOTTER: &str = "./blotter.db";

/// Every variable a user may set, for `.env.example` and docs/configuration.md.
pub const SETTING_NAMES: [&str; 29] = [
    MARKUP.env,
    THRESHOLD.env,
    BUFFER.env,
    POLL.env,
    DURATION.env,
    TIMEOUT.env,
    MOCK_COUNT.env,
    MOCK_PRICE.env,
    MOCK_SPREAD.env,
    MOCK_MIN.env,
    MOCK_MAX.env,
    MOCK_FAIL.env,
    MOCK_REJECT.env,
    MOCK_LAST_LOOK.env,
    ORDER_TIMEOUT.env,
    MAX_DEVIATION.env,
    FADE_LIMIT.env,
    FADE_TOLERANCE.env,
    MOCK_VALIDITY.env,
    SEED.env,
    SCENARIO.env,
    SPEED.env,
    "LPS_FILE",
    "FIX_LOG_DIR",
    "LOG_FILE",
    "BLOTTER_PATH",
    NO_BLOTTER.env,
    MAX_NOTIONAL.env,
    MAX_NOTIONAL_PAIRS.env,
];

/// Largest markup: 5 %. Above it a typo (50 for 5) is likelier than a price.
pub const MAX_MARKUP_BPS: Decimal = dec!(500);
/// Largest improvement threshold: 10 %.
pub const MAX_THRESHOLD_BPS: Decimal = dec!(1000);
/// The least time a client has to accept a quote, in seconds.
const MIN_CLIENT_VALIDITY_SECS: Decimal = Decimal::ONE;

/// Edit distance (insertions, deletions, substitutions) between two names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The setting `key` was probably meant to be: a name in [`SETTING_NAMES`]
/// at most two edits away (`MARKUP_BSP` → `MARKUP_BPS`); `None` for a name
/// of ours or one unlike any (a venue's secret, `RUST_LOG`).
pub fn likely_setting(key: &str) -> Option<&'static str> {
    if SETTING_NAMES.contains(&key) {
        return None;
    }
    let upper = key.to_ascii_uppercase();
    SETTING_NAMES
        .iter()
        .map(|name| (edit_distance(&upper, name), *name))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// The 1-based line of `contents` where `key` is set, if any.
fn line_of_key(contents: &str, key: &str) -> Option<usize> {
    contents
        .lines()
        .position(|line| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|index| index + 1)
}

/// Warnings for keys in a `.env` file's `contents` that look like a
/// misspelt setting, e.g. ".env line 2: 'MARKUP_BSP' is not a setting; did
/// you mean MARKUP_BPS?".
pub fn dot_env_warnings<'a>(
    contents: &str,
    keys: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    keys.into_iter()
        .filter_map(|key| {
            let meant = likely_setting(key)?;
            let line = line_of_key(contents, key)
                .map(|n| format!(" line {n}"))
                .unwrap_or_default();
            Some(format!(
                ".env{line}: '{key}' is not a setting; did you mean {meant}?"
            ))
        })
        .collect()
}

/// Why a `.env` line could not be read, naming the line and (when it has
/// one) its key, never the value: it may hold a secret. `bad_line` is the
/// text dotenvy stopped at.
pub fn dot_env_syntax_error(contents: &str, bad_line: &str) -> String {
    // dotenvy hands back the whole line, or only the value it stopped in.
    let first = bad_line.lines().next().unwrap_or("").trim();
    let found = contents
        .lines()
        .position(|line| line.trim() == first)
        .or_else(|| {
            (!first.is_empty())
                .then(|| contents.lines().position(|line| line.contains(first)))
                .flatten()
        });
    let Some(index) = found else {
        return "cannot read .env: a line is not KEY=value".to_string();
    };
    let line = contents.lines().nth(index).unwrap_or("").trim();
    let key = line
        .strip_prefix("export ")
        .unwrap_or(line)
        .split_once('=')
        .map(|(key, _)| key.trim())
        .filter(|key| {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        });
    let number = index + 1;
    match key {
        Some(key) => format!(
            "cannot read .env: line {number} ({key}) is not KEY=value (quote a value with spaces or #)"
        ),
        None => format!("cannot read .env: line {number} is not KEY=value"),
    }
}

/// Most mock LPs one stream may run.
const MAX_MOCK_LPS: usize = 1000;

impl Key {
    fn error(self, value: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            env: self.env,
            flag: self.flag,
            value: value.to_string(),
            problem: problem.into(),
        }
    }

    /// Parses `raw` (or `default` when unset) and checks it with `check`.
    fn read<T>(
        self,
        raw: &Option<String>,
        default: &str,
        parse: impl Fn(&str) -> Option<T>,
        what: &str,
    ) -> Result<(T, String), ConfigError> {
        // An empty value (`MARKUP_BPS=` in .env) means "use the default".
        let text = raw
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or(default);
        match parse(text) {
            Some(value) => Ok((value, text.to_string())),
            None => Err(self.error(text, format!("must be {what}"))),
        }
    }
}

/// MAX_NOTIONAL_PAIRS: `PAIR=AMOUNT` entries separated by commas, each
/// pair in any spelling (`BTCUSDT`, `btc/usdt`) at most once, each amount
/// in the pair's quote currency above 0. Empty or unset: no pair has its
/// own limit.
fn notional_pairs(
    raw: Option<&str>,
) -> Result<std::collections::BTreeMap<String, Decimal>, ConfigError> {
    let mut limits = std::collections::BTreeMap::new();
    let text = raw.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Ok(limits);
    }
    let refuse = |problem: String| MAX_NOTIONAL_PAIRS.error(text, problem);
    for entry in text.split(',').map(str::trim) {
        let Some((pair_text, amount_text)) = entry.split_once('=') else {
            return Err(refuse(format!(
                "'{entry}' must be PAIR=AMOUNT, e.g. BTCUSDT=5000000"
            )));
        };
        let pair: crate::market::Pair = pair_text
            .trim()
            .parse()
            .map_err(|error| refuse(format!("'{entry}': {error}")))?;
        let Some(limit) = positive_decimal(amount_text.trim()) else {
            return Err(refuse(format!(
                "'{entry}': the limit must be an amount of {} above 0",
                pair.quote
            )));
        };
        if limits.insert(pair.symbol(), limit).is_some() {
            return Err(refuse(format!("{} is given twice", pair.symbol())));
        }
    }
    Ok(limits)
}

fn decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str(text).ok()
}

fn non_negative(text: &str) -> Option<Decimal> {
    decimal(text).filter(|value| *value >= Decimal::ZERO)
}

fn positive_decimal(text: &str) -> Option<Decimal> {
    decimal(text).filter(|value| *value > Decimal::ZERO)
}

/// Longest poll interval or LP timeout, in ms: a minute.
const MAX_INTERVAL_MS: u64 = 60_000;
/// Longest stream: a day.
const MAX_DURATION_SECS: Decimal = dec!(86400);
/// Longest validity or buffer: an hour (no firm RFQ quote lives longer).
const MAX_VALIDITY_SECS: Decimal = dec!(3600);
/// Longest mock answer delay: a minute.
const MAX_DELAY_SECS: Decimal = dec!(60);

/// Seconds from `min` to `max`; bounded so that every time in stream ms
/// stays far from overflow.
fn seconds_within(text: &str, min: Decimal, max: Decimal) -> Option<Decimal> {
    decimal(text).filter(|value| (min..=max).contains(value))
}

fn positive_integer(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().filter(|value| *value > 0)
}

/// Seconds as a decimal, to whole milliseconds.
fn seconds_to_ms(seconds: Decimal) -> u64 {
    (seconds * Decimal::from(1000))
        .round()
        .try_into()
        .unwrap_or(u64::MAX)
}

impl Settings {
    /// Validates raw settings; the first bad one is reported.
    pub fn from_args(args: &SettingsArgs) -> Result<Settings, ConfigError> {
        let (markup, _) = MARKUP.read(
            &args.markup_bps,
            "5.0",
            |t| non_negative(t).filter(|v| *v <= MAX_MARKUP_BPS),
            "a number of bps from 0 to 500",
        )?;
        let (threshold, _) = THRESHOLD.read(
            &args.threshold_bps,
            "1.0",
            |t| non_negative(t).filter(|v| *v <= MAX_THRESHOLD_BPS),
            "a number of bps from 0 to 1000",
        )?;
        let (buffer, buffer_text) = BUFFER.read(
            &args.validity_buffer_secs,
            "2.0",
            |t| seconds_within(t, Decimal::ZERO, MAX_VALIDITY_SECS),
            "a number of seconds from 0 to 3600",
        )?;
        let (poll_interval_ms, _) = POLL.read(
            &args.poll_interval_ms,
            "500",
            |t| positive_integer(t).filter(|ms| *ms <= MAX_INTERVAL_MS),
            "a whole number of milliseconds from 1 to 60000",
        )?;
        let (duration, _) = DURATION.read(
            &args.duration,
            "30",
            |t| seconds_within(t, dec!(0.001), MAX_DURATION_SECS),
            "a number of seconds from 0.001 to 86400",
        )?;
        let (lp_timeout_ms, timeout_text) = TIMEOUT.read(
            &args.lp_timeout_ms,
            "1000",
            |t| positive_integer(t).filter(|ms| *ms <= MAX_INTERVAL_MS),
            "a whole number of milliseconds from 1 to 60000",
        )?;
        let (count, _) = MOCK_COUNT.read(
            &args.mock_lps,
            "3",
            |t| {
                t.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_MOCK_LPS).contains(n))
            },
            &format!("a whole number from 1 to {MAX_MOCK_LPS}"),
        )?;
        let (base_price, _) = MOCK_PRICE.read(
            &args.mock_base_price,
            "100000.0",
            positive_decimal,
            "a price above 0",
        )?;
        let (spread, _) = MOCK_SPREAD.read(
            &args.mock_spread_bps,
            "5.0",
            non_negative,
            "a number of bps, 0 or more",
        )?;
        let (min_delay, min_text) = MOCK_MIN.read(
            &args.mock_min_delay,
            "0.1",
            |t| seconds_within(t, Decimal::ZERO, MAX_DELAY_SECS),
            "a number of seconds from 0 to 60",
        )?;
        let (max_delay, max_text) = MOCK_MAX.read(
            &args.mock_max_delay,
            "0.5",
            |t| seconds_within(t, Decimal::ZERO, MAX_DELAY_SECS),
            "a number of seconds from 0 to 60",
        )?;
        if min_delay > max_delay {
            return Err(MOCK_MIN.error(
                &min_text,
                format!("must not be above MOCK_MAX_DELAY '{max_text}'"),
            ));
        }
        let (failure_rate, _) = MOCK_FAIL.read(
            &args.mock_failure_rate,
            "0.0",
            |t| non_negative(t).filter(|v| *v <= Decimal::ONE),
            "a share from 0 to 1",
        )?;
        let (reject_rate, _) = MOCK_REJECT.read(
            &args.mock_reject_rate,
            "0.0",
            |t| non_negative(t).filter(|v| *v <= Decimal::ONE),
            "a share from 0 to 1",
        )?;
        let (last_look_ms, _) = MOCK_LAST_LOOK.read(
            &args.mock_last_look_ms,
            "100",
            |t| t.parse::<u64>().ok().filter(|ms| *ms <= MAX_INTERVAL_MS),
            "a whole number of milliseconds from 0 to 60000",
        )?;
        let (max_deviation, _) = MAX_DEVIATION.read(
            &args.max_deviation_bps,
            "200",
            |t| non_negative(t).filter(|v| *v >= Decimal::ONE && *v <= Decimal::from(10_000)),
            "a number of bps from 1 to 10000",
        )?;
        let (fade_limit_pct, _) = FADE_LIMIT.read(
            &args.fade_limit_pct,
            "25",
            |t| non_negative(t).filter(|v| *v >= Decimal::ONE && *v <= dec!(100)),
            "a percentage from 1 to 100",
        )?;
        let (fade_tolerance, _) = FADE_TOLERANCE.read(
            &args.fade_tolerance_bps,
            "2",
            |t| non_negative(t).filter(|v| *v <= dec!(100)),
            "a number of bps from 0 to 100",
        )?;
        let (order_timeout_ms, _) = ORDER_TIMEOUT.read(
            &args.order_timeout_ms,
            "10000",
            |t| positive_integer(t).filter(|ms| *ms <= MAX_INTERVAL_MS),
            "a whole number of milliseconds from 1 to 60000",
        )?;
        let (validity, validity_text) = MOCK_VALIDITY.read(
            &args.mock_validity_secs,
            "10",
            |t| seconds_within(t, dec!(0.001), MAX_VALIDITY_SECS),
            "a number of seconds from 0.001 to 3600",
        )?;
        if validity - buffer < MIN_CLIENT_VALIDITY_SECS {
            return Err(MOCK_VALIDITY.error(
                &validity_text,
                format!("must be at least 1 second longer than VALIDITY_BUFFER_SECONDS '{buffer_text}', or the client would have under a second to accept"),
            ));
        }
        // Only the built-in mocks answer after MOCK_MAX_DELAY.
        let mocks = args.scenario.as_deref().is_none_or(|t| t.trim().is_empty())
            && args.lps_file.as_deref().is_none_or(|t| t.trim().is_empty());
        if mocks && max_delay * dec!(1000) > Decimal::from(lp_timeout_ms) {
            return Err(MOCK_MAX.error(
                &max_text,
                format!("must not be longer than LP_TIMEOUT_MS '{timeout_text}', or the slowest mock answers would all time out"),
            ));
        }
        let seed = match args.seed.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(_) => Some(
                SEED.read(
                    &args.seed,
                    "",
                    |t| t.parse::<u64>().ok(),
                    "a whole number 0 or more",
                )?
                .0,
            ),
        };
        let scenario = match args.scenario.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(scenario::find(name).ok_or_else(|| {
                SCENARIO.error(name, format!("must be one of {}", scenario::names()))
            })?),
        };
        let (speed, _) = SPEED.read(
            &args.speed,
            "1",
            |t| positive_decimal(t).filter(|v| *v >= dec!(0.001) && *v <= dec!(1000)),
            "a number from 0.001 to 1000",
        )?;
        // Strict, so that a typo cannot silently stop the recording.
        let no_blotter = match args.no_blotter.as_deref().map(str::trim) {
            None | Some("") => false,
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(
                        NO_BLOTTER.error(text, "must be true or false (1/0, yes/no, on/off)")
                    )
                }
            },
        };
        let (max_notional, _) = MAX_NOTIONAL.read(
            &args.max_notional,
            "1000000",
            positive_decimal,
            "an amount of quote currency above 0",
        )?;
        let max_notional_pairs = notional_pairs(args.max_notional_pairs.as_deref())?;
        let bps = |value| Bps::new(value).expect("checked non-negative above");
        Ok(Settings {
            engine: EngineParams {
                markup: bps(markup),
                threshold: bps(threshold),
                validity_buffer_ms: seconds_to_ms(buffer),
                poll_interval_ms,
                lp_timeout_ms,
                order_timeout_ms,
                max_deviation: bps(max_deviation),
                fade_tolerance: bps(fade_tolerance),
            },
            duration_ms: seconds_to_ms(duration),
            mock: MockSettings {
                count,
                base_price,
                spread: bps(spread),
                min_delay: Duration::from_millis(seconds_to_ms(min_delay)),
                max_delay: Duration::from_millis(seconds_to_ms(max_delay)),
                failure_rate,
                reject_rate,
                last_look: Duration::from_millis(last_look_ms),
                validity: Duration::from_millis(seconds_to_ms(validity)),
            },
            seed,
            scenario,
            speed_per_mille: (speed * dec!(1000)).round().try_into().unwrap_or(1000),
            lps_file: args
                .lps_file
                .as_ref()
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from),
            fix_log_dir: PathBuf::from(
                args.fix_log_dir
                    .as_deref()
                    .map(str::trim)
                    .filter(|dir| !dir.is_empty())
                    .unwrap_or("fix-logs"),
            ),
            log_file: args
                .log_file
                .as_ref()
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from),
            // An empty BLOTTER_PATH means the default, like every setting;
            // only --no-blotter / NO_BLOTTER turns recording off.
            blotter: (!no_blotter).then(|| {
                PathBuf::from(
                    args.blotter
                        .as_deref()
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .unwrap_or(DEFAULT_BLOTTER),
                )
            }),
            max_notional,
            max_notional_pairs,
            fade_limit_pct,
        })
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::from_args(&SettingsArgs::default()).expect("the defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    #[test]
    fn defaults_match_the_documented_values() {
        let settings = Settings::default();
        assert_eq!(settings.engine.markup.value(), dec!(5));
        assert_eq!(settings.engine.threshold.value(), dec!(1));
        assert_eq!(settings.engine.validity_buffer_ms, 2_000);
        assert_eq!(settings.engine.poll_interval_ms, 500);
        assert_eq!(settings.engine.lp_timeout_ms, 1_000);
        assert_eq!(settings.duration_ms, 30_000);
        assert_eq!(settings.mock.count, 3);
        assert_eq!(settings.mock.base_price, dec!(100000));
        assert_eq!(settings.mock.spread.value(), dec!(5));
        assert_eq!(settings.mock.min_delay, Duration::from_millis(100));
        assert_eq!(settings.mock.max_delay, Duration::from_millis(500));
        assert_eq!(settings.mock.failure_rate, dec!(0));
        assert_eq!(settings.mock.validity, Duration::from_secs(10));
        assert_eq!(settings.seed, None);
        assert_eq!(settings.scenario, None);
        assert_eq!(settings.speed_per_mille, 1000);
        assert_eq!(settings.blotter, Some(PathBuf::from("./blotter.db")));
        assert_eq!(settings.max_notional, dec!(1000000));
        assert!(settings.max_notional_pairs.is_empty());
    }

    #[test]
    fn per_pair_notional_limits_are_read_in_any_pair_spelling() {
        let settings = Settings::from_args(&SettingsArgs {
            max_notional: some("2000000"),
            max_notional_pairs: some(" btc/usdt = 5000000 , DOGEUSDT=50000.5"),
            ..Default::default()
        })
        .unwrap();
        let limits = settings.notional_limits();
        let pair = |text: &str| text.parse::<crate::market::Pair>().unwrap();
        assert_eq!(limits.for_pair(pair("BTCUSDT")), (dec!(5000000), true));
        assert_eq!(limits.for_pair(pair("DOGE-USDT")), (dec!(50000.5), true));
        assert_eq!(limits.for_pair(pair("ETHUSDT")), (dec!(2000000), false));
        // 40 BTC × the 100,000 reference: 4,000,000, within BTCUSDT's own
        // limit though above MAX_NOTIONAL; 60 BTC is above both.
        assert!(!limits.check(pair("BTCUSDT"), dec!(40)).needs_confirmation());
        assert_eq!(
            limits.check(pair("BTCUSDT"), dec!(60)).warning().unwrap(),
            "notional 6,000,000.00 USDT is above the BTCUSDT limit 5,000,000 (MAX_NOTIONAL_PAIRS)"
        );
        assert_eq!(
            limits.check(pair("DOGEUSDT"), dec!(1)).warning().unwrap(),
            "notional of DOGE/USDT cannot be checked against the DOGEUSDT limit 50,000.5 (MAX_NOTIONAL_PAIRS) (no reference price for DOGE/USDT)"
        );
        assert_eq!(
            limits.check(pair("ETHUSDT"), dec!(1000)).warning().unwrap(), // 3,500 a coin
            "notional 3,500,000.00 USDT is above MAX_NOTIONAL 2,000,000"
        );
    }

    #[rstest]
    #[case("BTCUSDT", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT' (--max-notional-pairs): 'BTCUSDT' must be PAIR=AMOUNT, e.g. BTCUSDT=5000000")]
    #[case("BTCUSDT=0", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT=0' (--max-notional-pairs): 'BTCUSDT=0': the limit must be an amount of USDT above 0")]
    #[case("BTCUSDT=5m", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT=5m' (--max-notional-pairs): 'BTCUSDT=5m': the limit must be an amount of USDT above 0")]
    #[case("BTCUSDT=1,btc/usdt=2", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT=1,btc/usdt=2' (--max-notional-pairs): BTCUSDT is given twice")]
    fn a_bad_per_pair_limit_is_named(#[case] value: &str, #[case] message: &str) {
        assert_eq!(
            error_for(SettingsArgs {
                max_notional_pairs: some(value),
                ..Default::default()
            }),
            message
        );
    }

    #[test]
    fn slow_mocks_are_fine_when_the_mocks_are_not_used() {
        let settings = Settings::from_args(&SettingsArgs {
            mock_max_delay: some("5"),
            scenario: some("competing"),
            ..Default::default()
        });
        assert!(settings.is_ok());
    }

    #[test]
    fn the_blotter_path_is_set_defaulted_when_empty_or_turned_off() {
        let with = |blotter: Option<String>, no_blotter: Option<&str>| {
            let no_blotter = no_blotter.map(str::to_string);
            Settings::from_args(&SettingsArgs {
                blotter,
                no_blotter,
                ..Default::default()
            })
            .unwrap()
            .blotter
        };
        assert_eq!(
            with(some("/tmp/desk.db"), None),
            Some(PathBuf::from("/tmp/desk.db"))
        );
        assert_eq!(
            with(some("  "), Some("")),
            Some(PathBuf::from("./blotter.db"))
        );
        assert_eq!(with(some("/tmp/desk.db"), Some("true")), None);
        assert_eq!(with(None, Some("YES")), None);
        assert_eq!(with(None, Some("off")), Some(PathBuf::from("./blotter.db")));
    }

    fn error_for(args: SettingsArgs) -> String {
        Settings::from_args(&args).unwrap_err().to_string()
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[rstest]
    #[case(SettingsArgs { markup_bps: some("-1"), ..Default::default() },
        "invalid MARKUP_BPS '-1' (--markup-bps): must be a number of bps from 0 to 500")]
    #[case(SettingsArgs { markup_bps: some("five"), ..Default::default() },
        "invalid MARKUP_BPS 'five' (--markup-bps): must be a number of bps from 0 to 500")]
    #[case(SettingsArgs { markup_bps: some("9999"), ..Default::default() },
        "invalid MARKUP_BPS '9999' (--markup-bps): must be a number of bps from 0 to 500")]
    #[case(SettingsArgs { threshold_bps: some("100000"), ..Default::default() },
        "invalid IMPROVEMENT_THRESHOLD_BPS '100000' (--threshold-bps): must be a number of bps from 0 to 1000")]
    #[case(SettingsArgs { mock_max_delay: some("1.5"), ..Default::default() },
        "invalid MOCK_MAX_DELAY '1.5' (--mock-max-delay): must not be longer than LP_TIMEOUT_MS '1000', or the slowest mock answers would all time out")]
    #[case(SettingsArgs { mock_validity_secs: some("2.5"), ..Default::default() },
        "invalid MOCK_VALIDITY_SECONDS '2.5' (--mock-validity-secs): must be at least 1 second longer than VALIDITY_BUFFER_SECONDS '2.0', or the client would have under a second to accept")]
    #[case(SettingsArgs { max_notional: some("0"), ..Default::default() },
        "invalid MAX_NOTIONAL '0' (--max-notional): must be an amount of quote currency above 0")]
    #[case(SettingsArgs { threshold_bps: some("-0.5"), ..Default::default() },
        "invalid IMPROVEMENT_THRESHOLD_BPS '-0.5' (--threshold-bps): must be a number of bps from 0 to 1000")]
    #[case(SettingsArgs { poll_interval_ms: some("0"), ..Default::default() },
        "invalid POLL_INTERVAL_MS '0' (--poll-interval-ms): must be a whole number of milliseconds from 1 to 60000")]
    #[case(SettingsArgs { duration: some("0"), ..Default::default() },
        "invalid DEFAULT_STREAM_DURATION_SECONDS '0' (--duration): must be a number of seconds from 0.001 to 86400")]
    #[case(SettingsArgs { duration: some("0.0001"), ..Default::default() },
        "invalid DEFAULT_STREAM_DURATION_SECONDS '0.0001' (--duration): must be a number of seconds from 0.001 to 86400")]
    #[case(SettingsArgs { lp_timeout_ms: some("18446744073709551615"), ..Default::default() },
        "invalid LP_TIMEOUT_MS '18446744073709551615' (--lp-timeout-ms): must be a whole number of milliseconds from 1 to 60000")]
    #[case(SettingsArgs { validity_buffer_secs: some("7200"), ..Default::default() },
        "invalid VALIDITY_BUFFER_SECONDS '7200' (--validity-buffer-secs): must be a number of seconds from 0 to 3600")]
    #[case(SettingsArgs { lp_timeout_ms: some("1.5"), ..Default::default() },
        "invalid LP_TIMEOUT_MS '1.5' (--lp-timeout-ms): must be a whole number of milliseconds from 1 to 60000")]
    #[case(SettingsArgs { mock_lps: some("0"), ..Default::default() },
        "invalid MOCK_LP_COUNT '0' (--mock-lps): must be a whole number from 1 to 1000")]
    #[case(SettingsArgs { mock_min_delay: some("0.6"), ..Default::default() },
        "invalid MOCK_MIN_DELAY '0.6' (--mock-min-delay): must not be above MOCK_MAX_DELAY '0.5'")]
    #[case(SettingsArgs { mock_failure_rate: some("1.5"), ..Default::default() },
        "invalid MOCK_FAILURE_RATE '1.5' (--mock-failure-rate): must be a share from 0 to 1")]
    #[case(SettingsArgs { mock_validity_secs: some("2"), ..Default::default() },
        "invalid MOCK_VALIDITY_SECONDS '2' (--mock-validity-secs): must be at least 1 second longer than VALIDITY_BUFFER_SECONDS '2.0', or the client would have under a second to accept")]
    #[case(SettingsArgs { scenario: some("hailmary"), ..Default::default() },
        "invalid SCENARIO 'hailmary' (--scenario): must be one of competing, non-competition, hail-mary, near-miss, flaky, expiry, last-look")]
    #[case(SettingsArgs { mock_reject_rate: some("2"), ..Default::default() },
        "invalid MOCK_REJECT_RATE '2' (--mock-reject-rate): must be a share from 0 to 1")]
    #[case(SettingsArgs { mock_last_look_ms: some("-5"), ..Default::default() },
        "invalid MOCK_LAST_LOOK_MS '-5' (--mock-last-look-ms): must be a whole number of milliseconds from 0 to 60000")]
    #[case(SettingsArgs { max_deviation_bps: some("0.5"), ..Default::default() },
        "invalid MAX_DEVIATION_BPS '0.5' (--max-deviation-bps): must be a number of bps from 1 to 10000")]
    #[case(SettingsArgs { order_timeout_ms: some("0"), ..Default::default() },
        "invalid ORDER_TIMEOUT_MS '0' (--order-timeout-ms): must be a whole number of milliseconds from 1 to 60000")]
    #[case(SettingsArgs { speed: some("0"), ..Default::default() },
        "invalid SPEED '0' (--speed): must be a number from 0.001 to 1000")]
    #[case(SettingsArgs { no_blotter: some("flase"), ..Default::default() },
        "invalid NO_BLOTTER 'flase' (--no-blotter): must be true or false (1/0, yes/no, on/off)")]
    #[case(SettingsArgs { seed: some("-3"), ..Default::default() },
        "invalid SEED '-3' (--seed): must be a whole number 0 or more")]
    fn a_bad_setting_names_itself_and_its_value(#[case] args: SettingsArgs, #[case] message: &str) {
        assert_eq!(error_for(args), message);
    }

    #[test]
    fn seconds_become_milliseconds() {
        let settings = Settings::from_args(&SettingsArgs {
            validity_buffer_secs: some("1.25"),
            duration: some("2.5"),
            mock_min_delay: some("0"),
            mock_max_delay: some("0.05"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(settings.engine.validity_buffer_ms, 1_250);
        assert_eq!(settings.duration_ms, 2_500);
        assert_eq!(settings.mock.max_delay, Duration::from_millis(50));
    }

    #[rstest]
    #[case("MARKUP_BSP", Some("MARKUP_BPS"))]
    #[case("markup_bps", Some("MARKUP_BPS"))]
    #[case("LP_TIMOUT_MS", Some("LP_TIMEOUT_MS"))]
    #[case("BLOTER_PATH", Some("BLOTTER_PATH"))]
    #[case("MARKUP_BPS", None)]
    #[case("B2C2_API_TOKEN", None)]
    #[case("RUST_LOG", None)]
    fn a_key_like_a_setting_names_the_closest(#[case] key: &str, #[case] meant: Option<&str>) {
        assert_eq!(likely_setting(key), meant);
    }

    #[test]
    fn dot_env_typos_are_warned_with_their_line() {
        let contents =
            "# desk\nMARKUP_BPS=5\nexport IMPROVMENT_THRESHOLD_BPS=2\nB2C2_API_TOKEN=x\n";
        assert_eq!(
            dot_env_warnings(
                contents,
                ["MARKUP_BPS", "IMPROVMENT_THRESHOLD_BPS", "B2C2_API_TOKEN"]
            ),
            vec![".env line 3: 'IMPROVMENT_THRESHOLD_BPS' is not a setting; did you mean IMPROVEMENT_THRESHOLD_BPS?".to_string()]
        );
    }

    #[rstest]
    #[case("A=1\nB2C2_API_TOKEN='sec ret\n", "B2C2_API_TOKEN='sec ret",
        "cannot read .env: line 2 (B2C2_API_TOKEN) is not KEY=value (quote a value with spaces or #)")]
    #[case(
        "A=1\n\nhunter2 secret\n",
        "hunter2 secret",
        "cannot read .env: line 3 is not KEY=value"
    )]
    #[case(
        "A=1\nTOKEN=abc def\n",
        "abc def",
        "cannot read .env: line 2 (TOKEN) is not KEY=value (quote a value with spaces or #)"
    )]
    fn dot_env_syntax_errors_name_the_line_not_its_value(
        #[case] contents: &str,
        #[case] bad_line: &str,
        #[case] message: &str,
    ) {
        assert_eq!(dot_env_syntax_error(contents, bad_line), message);
    }

    #[test]
    fn the_example_env_file_lists_every_setting() {
        let example = include_str!("../.env.example");
        for name in SETTING_NAMES {
            assert!(
                example.contains(&format!("{name}=")),
                "{name} missing from .env.example"
            );
        }
    }
}
