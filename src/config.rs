//! Settings: defaults → `.env` → real environment → CLI flags, turned once
//! into a validated [`Settings`]. The rest of the program only sees
//! `Settings`; a bad value stops the start with the setting's name, its
//! flag and the value in quotes.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::blotter::postgres::PgUrl;
use crate::blotter::BlotterAt;
use crate::lp::mock::MockSettings;
use crate::market::Bps;
use crate::rfq::EngineParams;
use crate::scenario::{self, Scenario};

pub(crate) mod table;
pub use table::*;

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {env}{} ({flag}): {problem}", quoted(value))]
pub struct ConfigError {
    pub(crate) env: &'static str,
    pub(crate) flag: &'static str,
    /// The bad value as given, or `None` for a setting whose value must
    /// never be repeated (`DESK_TLS_KEY`: a deployment may have put the
    /// key itself there).
    pub(crate) value: Option<String>,
    pub problem: String,
}

/// ` 'value'`, or nothing for a value that is never repeated.
fn quoted(value: &Option<String>) -> String {
    value
        .as_deref()
        .map(|value| format!(" '{value}'"))
        .unwrap_or_default()
}

/// The raw settings as given by flags or the environment (clap fills both
/// from the flag groups in `crate::flags`; a flag wins over its variable,
/// which wins over `.env`). `None` means "use the default" (or, for a
/// command that does not read a setting, that it was not read at all).
/// What each one means, its default and range are in its `SettingDef`.
#[derive(Debug, Clone, Default)]
pub struct SettingsArgs {
    /// `MARKUP_BPS`
    pub markup_bps: Option<String>,
    /// `IMPROVEMENT_THRESHOLD_BPS`
    pub threshold_bps: Option<String>,
    /// `VALIDITY_BUFFER_SECONDS`
    pub validity_buffer_secs: Option<String>,
    /// `POLL_INTERVAL_MS`
    pub poll_interval_ms: Option<String>,
    /// `DEFAULT_STREAM_DURATION_SECONDS`
    pub duration: Option<String>,
    /// `LP_TIMEOUT_MS`
    pub lp_timeout_ms: Option<String>,
    /// `MOCK_LP_COUNT`
    pub mock_lps: Option<String>,
    /// `MOCK_BASE_PRICE`
    pub mock_base_price: Option<String>,
    /// `MOCK_SPREAD_BPS`
    pub mock_spread_bps: Option<String>,
    /// `MOCK_MIN_DELAY`
    pub mock_min_delay: Option<String>,
    /// `MOCK_MAX_DELAY`
    pub mock_max_delay: Option<String>,
    /// `MOCK_FAILURE_RATE`
    pub mock_failure_rate: Option<String>,
    /// `MOCK_REJECT_RATE`
    pub mock_reject_rate: Option<String>,
    /// `MOCK_LAST_LOOK_MS`
    pub mock_last_look_ms: Option<String>,
    /// `MAX_DEVIATION_BPS`
    pub max_deviation_bps: Option<String>,
    /// `FADE_LIMIT_PCT`
    pub fade_limit_pct: Option<String>,
    /// `REFERENCE_MAX_AGE_SECS`
    pub reference_max_age_secs: Option<String>,
    /// `FADE_TOLERANCE_BPS`
    pub fade_tolerance_bps: Option<String>,
    /// `ORDER_TIMEOUT_MS`
    pub order_timeout_ms: Option<String>,
    /// `MOCK_VALIDITY_SECONDS`
    pub mock_validity_secs: Option<String>,
    /// `SEED`
    pub seed: Option<String>,
    /// `SCENARIO`
    pub scenario: Option<String>,
    /// `SPEED`
    pub speed: Option<String>,
    /// `LPS_FILE`
    pub lps_file: Option<String>,
    /// `CLIENTS_FILE`
    pub clients_file: Option<String>,
    /// `ALLOW_SIMULATED_WITH_REAL`
    pub allow_simulated_with_real: Option<String>,
    /// `FIX_LOG_DIR`
    pub fix_log_dir: Option<String>,
    /// `LOG_FILE`
    pub log_file: Option<String>,
    /// `BLOTTER_PATH`
    pub blotter: Option<String>,
    /// `MAX_NOTIONAL`
    pub max_notional: Option<String>,
    /// `MAX_NOTIONAL_PAIRS`
    pub max_notional_pairs: Option<String>,
    /// `MIN_NOTIONAL`
    pub min_notional: Option<String>,
    /// `MIN_NOTIONAL_PAIRS`
    pub min_notional_pairs: Option<String>,
    /// `NO_BLOTTER`
    pub no_blotter: Option<String>,
    /// `DESK_NAME`
    pub desk_name: Option<String>,
    /// `DESK_TLS_CERT`
    pub tls_cert: Option<String>,
    /// `DESK_TLS_KEY`
    pub tls_key: Option<String>,
    /// `DESK_CA_FILE`
    pub desk_ca: Option<String>,
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
    /// The clients file, if the desk names its clients (read when the
    /// desk opens); without it every request is the house's.
    pub clients_file: Option<PathBuf>,
    /// A venues file may mix simulated LPs with real ones (every screen
    /// then says so); otherwise such a file is refused.
    pub allow_simulated_with_real: bool,
    /// Where FIX venues append their audit logs.
    pub fix_log_dir: PathBuf,
    pub log_file: Option<PathBuf>,
    /// Where events are recorded (a file, or a PostgreSQL database);
    /// `None` with `--no-blotter`.
    pub blotter: Option<BlotterAt>,
    /// This desk's name in the records as given (`--desk-name`; unset:
    /// [`Settings::desk`] is the host name). Several desks can share one
    /// PostgreSQL blotter; `report --desk-name` takes one of them.
    pub desk_name: Option<String>,
    /// Notional (quote currency) above which a request needs the
    /// operator's explicit confirmation.
    pub max_notional: Decimal,
    /// Per pair symbol, its own notional limit (MAX_NOTIONAL_PAIRS).
    pub max_notional_pairs: std::collections::BTreeMap<String, Decimal>,
    /// Notional (quote currency) below which a request is refused
    /// (MIN_NOTIONAL; 0: only the pair's lot and tick).
    pub min_notional: Decimal,
    /// Per pair symbol, its own minimum notional (MIN_NOTIONAL_PAIRS).
    pub min_notional_pairs: std::collections::BTreeMap<String, Decimal>,
    /// Above this smoothed last-look reject rate (percent) an LP is
    /// fading (FADE_LIMIT_PCT).
    pub fade_limit_pct: Decimal,
    /// How old the desk's last corroborated price for a pair may be and
    /// still corroborate a quote near it, in seconds
    /// (REFERENCE_MAX_AGE_SECS; 0: never).
    pub reference_max_age_secs: u64,
    /// `serve`'s TLS certificate chain and its key (PEM files, read when
    /// the server starts): both or neither.
    pub tls: Option<TlsFiles>,
    /// The desk's own CA a console trusts with `--desk wss://…`, besides
    /// the public roots (read when it connects).
    pub desk_ca: Option<PathBuf>,
}

/// `DESK_TLS_CERT` and `DESK_TLS_KEY`, given together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Settings {
    /// The fat-finger limits: MAX_NOTIONAL, and MAX_NOTIONAL_PAIRS where a
    /// pair has its own.
    pub(crate) fn notional_limits(&self) -> crate::market::NotionalLimits {
        crate::market::NotionalLimits {
            default: self.max_notional,
            per_pair: self.max_notional_pairs.clone(),
        }
    }

    /// The smallest request per pair: its lot and tick, MIN_NOTIONAL, and
    /// MIN_NOTIONAL_PAIRS where a pair has its own.
    pub(crate) fn minimum_size(&self) -> crate::market::MinimumSize {
        crate::market::MinimumSize {
            default: self.min_notional,
            per_pair: self.min_notional_pairs.clone(),
        }
    }
}

/// Where the blotter lives unless BLOTTER_PATH says otherwise.
pub const DEFAULT_BLOTTER: &str = match BLOTTER_PATH.fallback {
    table::Fallback::Value(path) => path,
    table::Fallback::Absent { .. } => panic!("BLOTTER_PATH has a default path"),
};

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
pub(crate) fn likely_setting(key: &str) -> Option<&'static str> {
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
    lines_of_key(contents, key).next()
}

/// Every 1-based line of `contents` where `key` is set.
fn lines_of_key<'a>(contents: &'a str, key: &'a str) -> impl Iterator<Item = usize> + 'a {
    contents
        .lines()
        .enumerate()
        .filter(move |(_, line)| {
            let line = line.trim_start();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            line.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|(index, _)| index + 1)
}

/// Why a `.env` file that sets a key twice cannot be used: dotenvy keeps
/// the first and drops the second without a word, so an operator who
/// appended a new value would run on the old one. `keys` are the file's
/// keys in order, as dotenvy read them. Names the key and both lines,
/// never a value.
pub fn dot_env_duplicate<'a>(
    contents: &str,
    keys: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    let key = keys.into_iter().find(|key| !seen.insert(*key))?;
    let lines: Vec<usize> = lines_of_key(contents, key).take(2).collect();
    Some(match lines[..] {
        [first, second] => {
            format!("cannot read .env: {key} is set twice, on lines {first} and {second}: keep one")
        }
        _ => format!("cannot read .env: {key} is set twice: keep one"),
    })
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

/// MAX_NOTIONAL_PAIRS or MIN_NOTIONAL_PAIRS (`setting`): `PAIR=AMOUNT`
/// entries separated by commas, each pair in any spelling (`BTCUSDT`,
/// `btc/usdt`) at most once, each amount in the pair's quote currency
/// above 0 (a maximum), or 0 or more (a minimum: 0 leaves the pair only its
/// lot and tick). Empty: no pair has its own.
fn notional_pairs(
    setting: &SettingDef,
    raw: &Option<String>,
) -> Result<std::collections::BTreeMap<String, Decimal>, ConfigError> {
    let mut limits = std::collections::BTreeMap::new();
    let text = setting.text_value(raw).unwrap_or_default();
    if text.is_empty() {
        return Ok(limits);
    }
    let zero_allowed = setting.env == MIN_NOTIONAL_PAIRS.env;
    let refuse = |problem: String| setting.error(&text, problem);
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
        if crate::market::written_with_exponent(amount_text) {
            return Err(refuse(format!(
                "'{entry}': the limit must be written out in full, without an exponent"
            )));
        }
        let amount = Decimal::from_str(amount_text.trim()).ok();
        let limit = match amount {
            Some(value) if value > Decimal::ZERO || (zero_allowed && value.is_zero()) => value,
            _ => {
                let bound = if zero_allowed {
                    ", 0 or more"
                } else {
                    " above 0"
                };
                return Err(refuse(format!(
                    "'{entry}': the limit must be an amount of {}{bound}",
                    pair.quote
                )));
            }
        };
        if limits.insert(pair.symbol(), limit).is_some() {
            return Err(refuse(format!("{} is given twice", pair.symbol())));
        }
    }
    Ok(limits)
}

/// A file setting (the blotter, the log file) must name a file in a
/// directory that exists: a directory is never created for it, so that a
/// typo in the path is refused rather than quietly given a new tree.
fn in_existing_directory(def: &SettingDef, path: &std::path::Path) -> Result<(), ConfigError> {
    let refuse = |problem: String| Err(def.error(&path.display().to_string(), problem));
    match path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) if !dir.exists() => {
            refuse(format!("directory '{}' does not exist", dir.display()))
        }
        Some(dir) if !dir.is_dir() => refuse(format!("'{}' is not a directory", dir.display())),
        _ => Ok(()),
    }
}

/// The certificate and key, given both or neither: one alone names the
/// other as missing.
fn tls_files(cert: &Option<String>, key: &Option<String>) -> Result<Option<TlsFiles>, ConfigError> {
    match (DESK_TLS_CERT.text_value(cert), DESK_TLS_KEY.text_value(key)) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: tls_key_path(&key)?,
        })),
        (Some(cert), None) => Err(DESK_TLS_CERT.error(
            &cert,
            format!("needs its key: give {} too", DESK_TLS_KEY.flag),
        )),
        (None, Some(key)) => {
            tls_key_path(&key)?;
            Err(DESK_TLS_KEY.error_unquoted(format!(
                "needs its certificate: give {} too",
                DESK_TLS_CERT.flag
            )))
        }
    }
}

/// The key file `key` names, refused when it holds a key rather than a
/// path (whatever it holds is never repeated: it may be the key).
fn tls_key_path(key: &str) -> Result<PathBuf, ConfigError> {
    if key.contains("-----BEGIN") || key.contains('\n') {
        return Err(DESK_TLS_KEY.error_unquoted(
            "it holds a PEM key, not a path: give a file path, not the key itself",
        ));
    }
    Ok(key.into())
}

/// The blotter `text` names: a `postgres://` or `postgresql://` URL (its
/// password, if any, from `PGPASSWORD`; one written into the URL is
/// refused and never repeated), else an SQLite file in a directory that
/// exists.
fn blotter_at(text: &str) -> Result<BlotterAt, ConfigError> {
    if !crate::blotter::postgres::is_postgres_url(text) {
        let path = PathBuf::from(text);
        in_existing_directory(&BLOTTER_PATH, &path)?;
        return Ok(BlotterAt::File(path));
    }
    let password = std::env::var("PGPASSWORD").ok();
    PgUrl::parse(text, password)
        .map(BlotterAt::Postgres)
        .map_err(|problem| BLOTTER_PATH.error(&redacted_url(text), problem))
}

/// `text` with a password it carries replaced by `***`, so that an error
/// about it can quote it.
fn redacted_url(text: &str) -> String {
    let (scheme, rest) = text.split_once("://").unwrap_or(("", text));
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail: Vec<String> = tail
        .split('&')
        .map(|part| match part.find("password=") {
            Some(at) if at == 0 || part[..at].ends_with('?') => {
                format!("{}password=***", &part[..at])
            }
            _ => part.to_string(),
        })
        .collect();
    format!("{scheme}://{authority}{}", tail.join("&"))
}

/// The host name as a desk name (`desk` when it cannot be read).
fn host_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    if host.is_empty() {
        "desk".into()
    } else {
        host
    }
}

/// `--desk-name` as given: 1 to 64 letters, digits, '-', '_' or '.'.
fn desk_name(value: &Option<String>) -> Result<Option<String>, ConfigError> {
    let given = value.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let Some(name) = given else {
        return Ok(None);
    };
    let valid = name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(DESK_NAME.error(name, "must be 1 to 64 letters, digits, '-', '_' or '.'"));
    }
    Ok(Some(name.to_string()))
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
        let (markup, _) = MARKUP_BPS.decimal(&args.markup_bps)?;
        let (threshold, _) = IMPROVEMENT_THRESHOLD_BPS.decimal(&args.threshold_bps)?;
        let (buffer, buffer_text) = VALIDITY_BUFFER_SECONDS.decimal(&args.validity_buffer_secs)?;
        let (poll_interval_ms, _) = POLL_INTERVAL_MS.whole(&args.poll_interval_ms)?;
        let (duration, _) = DEFAULT_STREAM_DURATION_SECONDS.decimal(&args.duration)?;
        let (lp_timeout_ms, timeout_text) = LP_TIMEOUT_MS.whole(&args.lp_timeout_ms)?;
        let (count, _) = MOCK_LP_COUNT.whole(&args.mock_lps)?;
        let (base_price, _) = MOCK_BASE_PRICE.decimal(&args.mock_base_price)?;
        let (spread, _) = MOCK_SPREAD_BPS.decimal(&args.mock_spread_bps)?;
        let (min_delay, min_text) = MOCK_MIN_DELAY.decimal(&args.mock_min_delay)?;
        let (max_delay, max_text) = MOCK_MAX_DELAY.decimal(&args.mock_max_delay)?;
        if min_delay > max_delay {
            return Err(MOCK_MIN_DELAY.error(
                &min_text,
                format!("must not be above {} '{max_text}'", MOCK_MAX_DELAY.env),
            ));
        }
        let (failure_rate, _) = MOCK_FAILURE_RATE.decimal(&args.mock_failure_rate)?;
        let (reject_rate, _) = MOCK_REJECT_RATE.decimal(&args.mock_reject_rate)?;
        let (last_look_ms, _) = MOCK_LAST_LOOK_MS.whole(&args.mock_last_look_ms)?;
        let (max_deviation, _) = MAX_DEVIATION_BPS.decimal(&args.max_deviation_bps)?;
        let (fade_limit_pct, _) = FADE_LIMIT_PCT.decimal(&args.fade_limit_pct)?;
        let (reference_max_age_secs, _) =
            REFERENCE_MAX_AGE_SECS.whole(&args.reference_max_age_secs)?;
        let (fade_tolerance, _) = FADE_TOLERANCE_BPS.decimal(&args.fade_tolerance_bps)?;
        let (order_timeout_ms, _) = ORDER_TIMEOUT_MS.whole(&args.order_timeout_ms)?;
        let (validity, validity_text) = MOCK_VALIDITY_SECONDS.decimal(&args.mock_validity_secs)?;
        if validity - buffer < MIN_CLIENT_VALIDITY_SECS {
            return Err(MOCK_VALIDITY_SECONDS.error(
                &validity_text,
                format!(
                    "must be at least 1 second longer than {} '{buffer_text}', or the client would have under a second to accept",
                    VALIDITY_BUFFER_SECONDS.env
                ),
            ));
        }
        // Only the built-in mocks answer after MOCK_MAX_DELAY.
        let mocks = args.scenario.as_deref().is_none_or(|t| t.trim().is_empty())
            && args.lps_file.as_deref().is_none_or(|t| t.trim().is_empty());
        if mocks && max_delay * dec!(1000) > Decimal::from(lp_timeout_ms) {
            return Err(MOCK_MAX_DELAY.error(
                &max_text,
                format!(
                    "must not be longer than {} '{timeout_text}', or the slowest mock answers would all time out",
                    LP_TIMEOUT_MS.env
                ),
            ));
        }
        let seed = match SEED.text_value(&args.seed) {
            None => None,
            Some(_) => Some(SEED.whole(&args.seed)?.0),
        };
        let scenario = match SCENARIO.text_value(&args.scenario) {
            None => None,
            Some(name) => Some(scenario::find(&name).ok_or_else(|| {
                SCENARIO.error(&name, format!("must be one of {}", scenario::names()))
            })?),
        };
        let (speed, _) = SPEED.decimal(&args.speed)?;
        // Strict, so that a typo cannot silently stop the recording.
        let no_blotter = match NO_BLOTTER.text_value(&args.no_blotter) {
            None => false,
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                _ => {
                    return Err(
                        NO_BLOTTER.error(&text, "must be true or false (1/0, yes/no, on/off)")
                    )
                }
            },
        };
        let allow_simulated_with_real =
            match ALLOW_SIMULATED_WITH_REAL.text_value(&args.allow_simulated_with_real) {
                None => false,
                Some(text) => match text.to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "on" => true,
                    "false" | "0" | "no" | "off" => false,
                    _ => {
                        return Err(ALLOW_SIMULATED_WITH_REAL
                            .error(&text, "must be true or false (1/0, yes/no, on/off)"))
                    }
                },
            };
        let (max_notional, _) = MAX_NOTIONAL.decimal(&args.max_notional)?;
        let max_notional_pairs = notional_pairs(&MAX_NOTIONAL_PAIRS, &args.max_notional_pairs)?;
        let (min_notional, min_text) = MIN_NOTIONAL.decimal(&args.min_notional)?;
        if min_notional > max_notional {
            return Err(MIN_NOTIONAL.error(
                &min_text,
                format!(
                    "must not be above {} '{}', or every request would be refused",
                    MAX_NOTIONAL.env,
                    max_notional.normalize()
                ),
            ));
        }
        let min_notional_pairs = notional_pairs(&MIN_NOTIONAL_PAIRS, &args.min_notional_pairs)?;
        let log_file = args
            .log_file
            .as_ref()
            .filter(|p| !p.trim().is_empty())
            .map(PathBuf::from);
        if let Some(path) = &log_file {
            in_existing_directory(&LOG_FILE, path)?;
        }
        // An empty BLOTTER_PATH means the default, like every setting;
        // only --no-blotter / NO_BLOTTER turns recording off.
        let blotter = match no_blotter {
            true => None,
            false => Some(blotter_at(
                &BLOTTER_PATH
                    .text_value(&args.blotter)
                    .expect("BLOTTER_PATH has a default"),
            )?),
        };
        let desk_name = desk_name(&args.desk_name)?;
        let tls = tls_files(&args.tls_cert, &args.tls_key)?;
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
                count: usize::try_from(count).expect("at most MAX_MOCK_LPS"),
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
            clients_file: args
                .clients_file
                .as_ref()
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from),
            allow_simulated_with_real,
            fix_log_dir: PathBuf::from(
                FIX_LOG_DIR
                    .text_value(&args.fix_log_dir)
                    .expect("FIX_LOG_DIR has a default"),
            ),
            log_file,
            blotter,
            desk_name,
            max_notional,
            max_notional_pairs,
            min_notional,
            min_notional_pairs,
            fade_limit_pct,
            reference_max_age_secs,
            tls,
            desk_ca: DESK_CA_FILE.text_value(&args.desk_ca).map(PathBuf::from),
        })
    }
}

impl Settings {
    /// This desk's name on its records: `--desk-name`, else the host name.
    pub fn desk(&self) -> String {
        self.desk_name.clone().unwrap_or_else(host_name)
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
        assert_eq!(
            settings.blotter,
            Some(BlotterAt::File(PathBuf::from("./blotter.db")))
        );
        assert_eq!(settings.max_notional, dec!(1000000));
        assert!(settings.max_notional_pairs.is_empty());
        assert_eq!(settings.min_notional, dec!(10));
        assert_eq!(
            settings.min_notional_pairs.into_iter().collect::<Vec<_>>(),
            [("ETHBTC".to_string(), dec!(0.0001))]
        );
    }

    #[test]
    fn per_pair_minimums_replace_the_default_list_and_may_be_zero() {
        let settings = Settings::from_args(&SettingsArgs {
            min_notional: some("25"),
            min_notional_pairs: some("btc/usdt=100, XRPUSDT=0"),
            ..Default::default()
        })
        .unwrap();
        let minimum = settings.minimum_size();
        let pair = |text: &str| text.parse::<crate::market::Pair>().unwrap();
        assert_eq!(minimum.for_pair(pair("BTCUSDT")), (dec!(100), true));
        assert_eq!(minimum.for_pair(pair("XRPUSDT")), (dec!(0), true));
        assert_eq!(minimum.for_pair(pair("ETHBTC")), (dec!(25), false));
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
        assert!(!limits
            .check(pair("BTCUSDT"), crate::market::Leg::Base, dec!(40))
            .needs_confirmation());
        assert_eq!(
            limits
                .check(pair("BTCUSDT"), crate::market::Leg::Base, dec!(60))
                .warning()
                .unwrap(),
            "notional 6,000,000.00 USDT is above the BTCUSDT limit 5,000,000 (MAX_NOTIONAL_PAIRS)"
        );
        assert_eq!(
            limits.check(pair("DOGEUSDT"), crate::market::Leg::Base, dec!(1)).warning().unwrap(),
            "notional of DOGE/USDT cannot be checked against the DOGEUSDT limit 50,000.5 (MAX_NOTIONAL_PAIRS) (no reference price for DOGE/USDT)"
        );
        assert_eq!(
            limits
                .check(pair("ETHUSDT"), crate::market::Leg::Base, dec!(1000))
                .warning()
                .unwrap(), // 3,500 a coin
            "notional 3,500,000.00 USDT is above MAX_NOTIONAL 2,000,000"
        );
    }

    #[rstest]
    #[case("BTCUSDT", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT' (--max-notional-pairs): 'BTCUSDT' must be PAIR=AMOUNT, e.g. BTCUSDT=5000000")]
    #[case("BTCUSDT=0", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT=0' (--max-notional-pairs): 'BTCUSDT=0': the limit must be an amount of USDT above 0")]
    #[case("BTCUSDT=5m", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT=5m' (--max-notional-pairs): 'BTCUSDT=5m': the limit must be an amount of USDT above 0")]
    #[case("BTCUSDT=1,btc/usdt=2", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT=1,btc/usdt=2' (--max-notional-pairs): BTCUSDT is given twice")]
    #[case("BTCUSDT=5e6", "invalid MAX_NOTIONAL_PAIRS 'BTCUSDT=5e6' (--max-notional-pairs): 'BTCUSDT=5e6': the limit must be written out in full, without an exponent")]
    fn a_bad_per_pair_limit_is_named(#[case] value: &str, #[case] message: &str) {
        assert_eq!(
            error_for(SettingsArgs {
                max_notional_pairs: some(value),
                ..Default::default()
            }),
            message
        );
    }

    #[rstest]
    #[case(SettingsArgs { markup_bps: some("1e2"), ..Default::default() },
        "invalid MARKUP_BPS '1e2' (--markup-bps): must be written out in full, without an exponent")]
    #[case(SettingsArgs { max_notional: some("1.5E6"), ..Default::default() },
        "invalid MAX_NOTIONAL '1.5E6' (--max-notional): must be written out in full, without an exponent")]
    #[case(SettingsArgs { mock_min_delay: some("1e-1"), ..Default::default() },
        "invalid MOCK_MIN_DELAY '1e-1' (--mock-min-delay): must be written out in full, without an exponent")]
    fn a_decimal_setting_in_exponent_notation_is_refused(
        #[case] args: SettingsArgs,
        #[case] message: &str,
    ) {
        assert_eq!(error_for(args), message);
    }

    #[test]
    fn a_key_set_twice_in_dot_env_names_both_lines() {
        let contents = "MARKUP_BPS=5\n# desk\nSEED=1\nexport MARKUP_BPS = 8\n";
        assert_eq!(
            dot_env_duplicate(contents, ["MARKUP_BPS", "SEED", "MARKUP_BPS"]),
            Some(
                "cannot read .env: MARKUP_BPS is set twice, on lines 1 and 4: keep one".to_string()
            )
        );
        assert_eq!(dot_env_duplicate(contents, ["MARKUP_BPS", "SEED"]), None);
    }

    #[rstest]
    #[case(SettingsArgs { min_notional: some("-1"), ..Default::default() },
        "invalid MIN_NOTIONAL '-1' (--min-notional): must be an amount of quote currency, 0 or more")]
    #[case(SettingsArgs { min_notional: some("2000"), max_notional: some("1000.0"), ..Default::default() },
        "invalid MIN_NOTIONAL '2000' (--min-notional): must not be above MAX_NOTIONAL '1000', or every request would be refused")]
    #[case(SettingsArgs { min_notional_pairs: some("BTCUSDT=-1"), ..Default::default() },
        "invalid MIN_NOTIONAL_PAIRS 'BTCUSDT=-1' (--min-notional-pairs): 'BTCUSDT=-1': the limit must be an amount of USDT, 0 or more")]
    #[case(SettingsArgs { min_notional_pairs: some("ETHBTC"), ..Default::default() },
        "invalid MIN_NOTIONAL_PAIRS 'ETHBTC' (--min-notional-pairs): 'ETHBTC' must be PAIR=AMOUNT, e.g. BTCUSDT=5000000")]
    fn a_bad_minimum_is_named(#[case] args: SettingsArgs, #[case] message: &str) {
        assert_eq!(error_for(args), message);
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
            .map(|at| at.to_string())
        };
        let some_text = |text: &str| Some(text.to_string());
        assert_eq!(with(some("/tmp/desk.db"), None), some_text("/tmp/desk.db"));
        assert_eq!(with(some("  "), Some("")), some_text("./blotter.db"));
        assert_eq!(with(some("/tmp/desk.db"), Some("true")), None);
        assert_eq!(with(None, Some("YES")), None);
        assert_eq!(with(None, Some("off")), some_text("./blotter.db"));
        assert_eq!(
            with(some("postgresql://desk@%2Frun%2Fpg/blotter"), None),
            some_text("postgres://desk@/run/pg/blotter")
        );
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
    #[case(SettingsArgs { tls_cert: some("desk.pem"), ..Default::default() },
        "invalid DESK_TLS_CERT 'desk.pem' (--tls-cert): needs its key: give --tls-key too")]
    #[case(SettingsArgs { tls_key: some("desk.key"), tls_cert: some(" "), ..Default::default() },
        "invalid DESK_TLS_KEY (--tls-key): needs its certificate: give --tls-cert too")]
    #[case(SettingsArgs { tls_key: some("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG-secret\n-----END PRIVATE KEY-----\n"), tls_cert: some("desk.pem"), ..Default::default() },
        "invalid DESK_TLS_KEY (--tls-key): it holds a PEM key, not a path: give a file path, not the key itself")]
    #[case(SettingsArgs { no_blotter: some("flase"), ..Default::default() },
        "invalid NO_BLOTTER 'flase' (--no-blotter): must be true or false (1/0, yes/no, on/off)")]
    #[case(SettingsArgs { blotter: some("postgres://desk:hunter2@db/blotter"), ..Default::default() },
        "invalid BLOTTER_PATH 'postgres://desk:***@db/blotter' (--blotter): has a password in it: leave it out of the URL and set PGPASSWORD instead")]
    #[case(SettingsArgs { blotter: some("postgres://desk@db/blotter?password=hunter2"), ..Default::default() },
        "invalid BLOTTER_PATH 'postgres://desk@db/blotter?password=***' (--blotter): has a password in it: leave it out of the URL and set PGPASSWORD instead")]
    #[case(SettingsArgs { blotter: some("postgres://db/blotter"), ..Default::default() },
        "invalid BLOTTER_PATH 'postgres://db/blotter' (--blotter): names no user: postgres://USER@HOST/DB")]
    #[case(SettingsArgs { desk_name: some("desk one"), ..Default::default() },
        "invalid DESK_NAME 'desk one' (--desk-name): must be 1 to 64 letters, digits, '-', '_' or '.'")]
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
}
