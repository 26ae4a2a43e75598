//! The venues file: the TOML list of the desk's LPs (`[[lp]]` tables),
//! parsed once at start into typed [`VenueSpec`]s with their secrets read
//! from the environment variables the file names. A bad file is refused
//! with the file, the line and the field named; a secret's value never
//! appears in any error.
//!
//! ```toml
//! [[lp]]
//! name = "B2C2"
//! kind = "b2c2"                 # b2c2 | binance-convert | fix44 | mock
//! url = "https://api.uat.b2c2.net"
//! token_env = "B2C2_API_TOKEN"
//! timeout_ms = 800              # optional
//! ```
//!
//! Parsing goes through toml's spanned document rather than a
//! `#[serde(tag = "kind")]` enum: serde buffers an internally tagged table
//! before it reads it, and toml then reports every error at the first
//! `[[lp]]` header, without the field. Here the kind is read first, the
//! table's keys are checked against that kind's fields (so a field that
//! belongs to another kind is an error), and serde (`deny_unknown_fields`)
//! then reads the values straight from the spanned table, so every error
//! keeps its line.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::secret::{Secret, SecretError};

mod reference;
pub use reference::{ReferenceKind, ReferenceSpec};

/// One LP from the venues file.
#[derive(Debug, Clone, PartialEq)]
pub struct VenueSpec {
    /// Shown on the leaderboard and stored in the blotter; unique in the file.
    pub name: String,
    /// How long the LP has to answer a quote request, in ms (the desk's
    /// LP_TIMEOUT_MS when absent).
    pub(crate) timeout_ms: Option<u64>,
    /// How long to wait for an order's outcome, in ms (the adapter's
    /// default when absent).
    pub(crate) order_timeout_ms: Option<u64>,
    /// The pairs the LP quotes (`pairs = ["BTCUSDT", "ETH/USDT"]`), so a
    /// request no LP quotes is refused at entry; `None`: not declared, it
    /// is asked for every pair.
    pub(crate) pairs: Option<Vec<crate::market::Pair>>,
    pub kind: VenueKind,
    /// Its rate limit and breaker, as the file sets them (each absent
    /// value takes the kind's default: [`VenueSpec::health_policy`]).
    pub(crate) health: VenueHealth,
}

/// The health settings of one `[[lp]]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct VenueHealth {
    /// `max_requests_per_sec`, exactly as written.
    pub(crate) max_requests_per_sec: Option<rust_decimal::Decimal>,
    pub(crate) burst: Option<u64>,
    pub(crate) breaker_failures: Option<u64>,
    pub(crate) breaker_window_secs: Option<u64>,
    pub(crate) breaker_cool_off_secs: Option<u64>,
}

impl VenueSpec {
    /// How long the LP's adapter waits: the file's `timeout_ms` or the
    /// desk's `default_quote_ms` (LP_TIMEOUT_MS), its `order_timeout_ms`
    /// or the adapters' default.
    pub(crate) fn timeouts(&self, default_quote_ms: u64) -> crate::lp::adapter::AdapterTimeouts {
        crate::lp::adapter::AdapterTimeouts::from_ms(
            self.timeout_ms,
            self.order_timeout_ms,
            default_quote_ms,
        )
    }

    /// The LP's health policy: the file's values, else the kind's
    /// defaults (b2c2 and fix44 5 requests/s, binance-convert 0.5/s since
    /// each getQuote spends weight 200 of its per-minute budget; mock
    /// unlimited; burst = the rate rounded up; breaker 5 failures in 30 s,
    /// 30 s cool-off), with the desk's fade limit.
    pub(crate) fn health_policy(
        &self,
        fade_limit_pct: rust_decimal::Decimal,
    ) -> crate::lp::health::HealthPolicy {
        use crate::lp::health::{BreakerPolicy, HealthPolicy, RateLimit};
        use rust_decimal::Decimal;
        use std::time::Duration;
        let default_rate = match self.kind {
            VenueKind::B2c2 { .. } | VenueKind::Fix44 { .. } => Some(Decimal::from(5)),
            VenueKind::BinanceConvert { .. } => Some(Decimal::new(5, 1)),
            VenueKind::Mock => None,
        };
        let rate = self
            .health
            .max_requests_per_sec
            .or(default_rate)
            .map(|per_sec| {
                let burst = self
                    .health
                    .burst
                    .unwrap_or_else(|| u64::try_from(per_sec.ceil()).unwrap_or(1).max(1));
                RateLimit {
                    per_sec,
                    burst: u32::try_from(burst).unwrap_or(u32::MAX),
                }
            });
        let defaults = BreakerPolicy::default();
        let breaker = BreakerPolicy {
            failures: self
                .health
                .breaker_failures
                .map_or(defaults.failures, |n| n as u32),
            window: self
                .health
                .breaker_window_secs
                .map_or(defaults.window, Duration::from_secs),
            cool_off: self
                .health
                .breaker_cool_off_secs
                .map_or(defaults.cool_off, Duration::from_secs),
        };
        HealthPolicy {
            rate,
            breaker,
            fade_limit_pct,
        }
    }
}

/// What kind of venue an LP is, with what it takes to reach it.
#[derive(Debug, Clone, PartialEq)]
pub enum VenueKind {
    /// A B2C2-style REST RFQ venue.
    B2c2 {
        /// Base URL, without a trailing slash.
        url: String,
        token: Secret,
        /// How the venue spells a pair, e.g. `{base}{quote}.SPOT`.
        symbol: String,
    },
    /// Binance Convert (REST, signed).
    BinanceConvert {
        /// Base URL, without a trailing slash.
        url: String,
        key: Secret,
        secret: Secret,
        /// Binance's `recvWindow` in ms; Binance's own default when absent.
        recv_window_ms: Option<u64>,
    },
    /// A FIX 4.4 quote-request session.
    Fix44 {
        host: String,
        port: u16,
        sender_comp_id: String,
        target_comp_id: String,
        heartbeat_secs: u64,
        /// How the venue spells a pair, e.g. `{base}/{quote}`.
        symbol: String,
        password: Option<Secret>,
    },
    /// A simulated LP beside real ones.
    Mock,
}

impl VenueKind {
    /// The kind as written in the file (`b2c2`, `binance-convert`, ...).
    pub(crate) fn label(&self) -> &'static str {
        match self {
            VenueKind::B2c2 { .. } => "b2c2",
            VenueKind::BinanceConvert { .. } => "binance-convert",
            VenueKind::Fix44 { .. } => "fix44",
            VenueKind::Mock => "mock",
        }
    }

    /// True for a venue that trades real money (anything but `mock`).
    pub(crate) fn is_real(&self) -> bool {
        !matches!(self, VenueKind::Mock)
    }
}

/// How a B2C2 venue spells a pair unless the file says otherwise.
pub(crate) const B2C2_DEFAULT_SYMBOL: &str = "{base}{quote}.SPOT";
/// How a FIX venue spells a pair unless the file says otherwise.
pub(crate) const FIX_DEFAULT_SYMBOL: &str = "{base}/{quote}";
/// FIX HeartBtInt (108) unless the file says otherwise, in seconds.
pub(crate) const FIX_DEFAULT_HEARTBEAT_SECS: u64 = 30;

/// Why the venues file was refused. Every message names the file; those
/// about one place in it name the line and the field too.
#[derive(Debug, thiserror::Error)]
pub enum VenuesError {
    #[error("venues file '{file}': band for '{pair}': {problem}")]
    Band {
        file: String,
        pair: String,
        problem: String,
    },
    /// A `[[reference]]` table (the `table`th) is wrong.
    #[error("venues file '{file}' line {line}: [[reference]] {table}: {problem}")]
    Reference {
        file: String,
        line: usize,
        table: usize,
        problem: String,
    },
    #[error("cannot read venues file '{file}': {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("venues file '{file}' line {line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("venues file '{file}' lists no LP: add at least one [[lp]] table")]
    NoLps { file: String },
    #[error(
        "venues file '{file}' line {line}: unknown key '{key}' (the file holds [[lp]] and [[reference]] tables and [bands])"
    )]
    UnknownTopLevel {
        file: String,
        line: usize,
        key: String,
    },
    #[error("venues file '{file}' line {line}: write each LP as an [[lp]] table")]
    NotTables { file: String, line: usize },
    #[error("venues file '{file}' line {line}: unknown field '{field}' in [[lp]] {lp} (expected one of {expected})")]
    UnknownField {
        file: String,
        line: usize,
        field: String,
        lp: String,
        expected: String,
    },
    #[error("venues file '{file}' line {line}: [[lp]] {lp} needs {field}")]
    MissingField {
        file: String,
        line: usize,
        field: &'static str,
        lp: String,
    },
    #[error("venues file '{file}' line {line}: unknown kind '{kind}' in [[lp]] {lp} (expected one of {KINDS})")]
    UnknownKind {
        file: String,
        line: usize,
        kind: String,
        lp: String,
    },
    #[error(
        "venues file '{file}' line {line}: {field} '{value}' in [[lp]] {lp} must be {must_be}"
    )]
    BadValue {
        file: String,
        line: usize,
        field: &'static str,
        value: String,
        lp: String,
        must_be: &'static str,
    },
    /// A value that may be a secret: named by its field, never shown.
    #[error("venues file '{file}' line {line}: {field} in [[lp]] {lp} must be {must_be} (its value is not shown: it may be a secret)")]
    SecretLike {
        file: String,
        line: usize,
        field: &'static str,
        lp: String,
        must_be: &'static str,
    },
    #[error("venues file '{file}' line {line}: lp name '{name}' is used twice (first at line {first_line})")]
    DuplicateName {
        file: String,
        line: usize,
        name: String,
        first_line: usize,
    },
    #[error("venues file '{file}': {missing}")]
    Secret {
        file: String,
        missing: MissingSecret,
    },
    /// Every secret the file names that the environment lacks, at once:
    /// one run tells the operator every variable to set.
    #[error("venues file '{file}': {} secrets are missing: {}", missing.len(), join_missing(missing))]
    Secrets {
        file: String,
        missing: Vec<MissingSecret>,
    },
}

/// A secret an LP needs that its environment variable does not hold.
#[derive(Debug, thiserror::Error)]
#[error("lp '{lp}' needs {field}: {source}")]
pub struct MissingSecret {
    pub lp: String,
    pub(crate) field: &'static str,
    pub(crate) source: SecretError,
}

fn join_missing(missing: &[MissingSecret]) -> String {
    missing
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The kinds, as the file spells them.
const KINDS: &str = "b2c2, binance-convert, fix44, mock";

/// A field an `[[lp]]` table may hold: its key, whether it must be
/// there, and what a good value is (said in the error for a bad one).
struct Field {
    key: &'static str,
    required: bool,
    must_be: &'static str,
}

const fn req(key: &'static str, must_be: &'static str) -> Field {
    Field {
        key,
        required: true,
        must_be,
    }
}

const fn opt(key: &'static str, must_be: &'static str) -> Field {
    Field {
        key,
        required: false,
        must_be,
    }
}

const MS_60S: &str = "a whole number of milliseconds from 1 to 60000";
const MS_300S: &str = "a whole number of milliseconds from 1 to 300000";
const TEXT: &str = "a non-empty string";
const URL: &str = "an http:// or https:// address with a host";
const ENV_VAR: &str =
    "the name of an environment variable: capital letters, digits and _, such as B2C2_API_TOKEN";
/// What a `url` with `user:password@` is told: secrets come from the
/// environment, never from the venues file.
const URL_WITHOUT_CREDENTIALS: &str =
    "an address without credentials (no user:password@; secrets come from the environment)";
const SYMBOL: &str = "a string containing {base} and {quote}";

/// Fields every kind has.
const COMMON: [Field; 10] = [
    req("name", TEXT),
    req("kind", KINDS),
    opt("timeout_ms", MS_60S),
    opt("order_timeout_ms", MS_300S),
    opt(
        "pairs",
        "a non-empty list of pairs such as [\"BTCUSDT\", \"ETH/USDT\"]",
    ),
    opt(
        "max_requests_per_sec",
        "a number of requests a second from 0.001 to 10000",
    ),
    opt("burst", "a whole number of requests from 1 to 10000"),
    opt(
        "breaker_failures",
        "a whole number of failures from 1 to 1000",
    ),
    opt("breaker_window_secs", SECS_3600),
    opt("breaker_cool_off_secs", SECS_3600),
];
const SECS_3600: &str = "a whole number of seconds from 1 to 3600";
const B2C2_FIELDS: [Field; 3] = [
    req("url", URL),
    req("token_env", ENV_VAR),
    opt("symbol", SYMBOL),
];
const BINANCE_FIELDS: [Field; 4] = [
    req("url", URL),
    req("key_env", ENV_VAR),
    req("secret_env", ENV_VAR),
    opt("recv_window_ms", MS_60S),
];
const FIX_FIELDS: [Field; 7] = [
    req("host", TEXT),
    req("port", "a whole number from 1 to 65535"),
    req("sender_comp_id", TEXT),
    req("target_comp_id", TEXT),
    opt("heartbeat_secs", "a whole number of seconds from 1 to 300"),
    opt("symbol", SYMBOL),
    opt("password_env", ENV_VAR),
];
const MOCK_FIELDS: [Field; 0] = [];

#[derive(Clone, Copy)]
enum Kind {
    B2c2,
    BinanceConvert,
    Fix44,
    Mock,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        match text {
            "b2c2" => Some(Kind::B2c2),
            "binance-convert" => Some(Kind::BinanceConvert),
            "fix44" => Some(Kind::Fix44),
            "mock" => Some(Kind::Mock),
            _ => None,
        }
    }

    fn fields(self) -> &'static [Field] {
        match self {
            Kind::B2c2 => &B2C2_FIELDS,
            Kind::BinanceConvert => &BINANCE_FIELDS,
            Kind::Fix44 => &FIX_FIELDS,
            Kind::Mock => &MOCK_FIELDS,
        }
    }
}

// The values of each kind, read by serde straight from the spanned table
// (common fields removed first). `deny_unknown_fields` backs up the key
// check above: a test builds a table with every listed field of every kind.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommonRaw {
    name: String,
    /// Already read (and checked) before the kind's fields were chosen.
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    timeout_ms: Option<i64>,
    order_timeout_ms: Option<i64>,
    pairs: Option<Vec<String>>,
    /// Read from its text, so that 0.5 never passes through a float.
    max_requests_per_sec: Option<serde::de::IgnoredAny>,
    burst: Option<i64>,
    breaker_failures: Option<i64>,
    breaker_window_secs: Option<i64>,
    breaker_cool_off_secs: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct B2c2Raw {
    url: String,
    token_env: String,
    symbol: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BinanceRaw {
    url: String,
    key_env: String,
    secret_env: String,
    recv_window_ms: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FixRaw {
    host: String,
    port: i64,
    sender_comp_id: String,
    target_comp_id: String,
    heartbeat_secs: Option<i64>,
    symbol: Option<String>,
    password_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MockRaw {}

/// Reads and parses the venues file at `path`, taking secrets from the
/// process environment.
pub fn load(path: &Path) -> Result<Vec<VenueSpec>, VenuesError> {
    Ok(load_file(path)?.lps)
}

/// A whole venues file: the LPs and the optional per-pair price bands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VenuesFile {
    pub lps: Vec<VenueSpec>,
    /// `[bands]`: per pair symbol (`BTCUSDT`), the range any quote must fall
    /// in — the protection left when too few LPs quote to judge by their
    /// median.
    pub(crate) bands: HashMap<String, crate::market::PriceBand>,
    /// `[[reference]]`: the price sources that vouch for a lone LP.
    pub(crate) references: Vec<ReferenceSpec>,
}

/// Quote currencies worth one US dollar, give or take: a pair quoted in
/// one of them trades at about the price of its twin in another.
const DOLLAR_LIKE: [&str; 9] = [
    "USD", "USDT", "USDC", "FDUSD", "TUSD", "BUSD", "USDP", "PYUSD", "DAI",
];

impl VenuesFile {
    /// One line per pair the file trades without a band while a dollar
    /// twin of it (same base, another dollar-like quote) has one: the
    /// band protects one and not the other, which is easy to miss. The
    /// pairs the file trades are those its bands, its LPs' `pairs` and
    /// its reference sources name (an LP that declares no `pairs` names
    /// none). `file` is the file as the operator named it.
    pub(crate) fn band_warnings(&self, file: &str) -> Vec<String> {
        let dollar_like = |pair: &crate::market::Pair| DOLLAR_LIKE.contains(&pair.quote.as_str());
        let mut traded: Vec<crate::market::Pair> = self
            .bands
            .keys()
            .filter_map(|symbol| symbol.parse().ok())
            .chain(
                self.lps
                    .iter()
                    .flat_map(|lp| lp.pairs.iter().flatten().copied()),
            )
            .chain(
                self.references
                    .iter()
                    .flat_map(|source| source.pairs.iter().copied()),
            )
            .filter(dollar_like)
            .collect();
        traded.sort_by_key(|pair| pair.symbol());
        traded.dedup_by_key(|pair| pair.symbol());
        let banded = |pair: &crate::market::Pair| self.bands.contains_key(&pair.symbol());
        traded
            .iter()
            .filter(|pair| !banded(pair))
            .filter_map(|bare| {
                let twin = traded
                    .iter()
                    .find(|pair| pair.base == bare.base && banded(pair))?;
                Some(format!(
                    "{} has a price band but {} has none; add {} to [bands] in '{file}' so that an absurd price is refused for it too",
                    twin.symbol(),
                    bare.symbol(),
                    bare.symbol()
                ))
            })
            .collect()
    }
}

/// [`load`], with the `[bands]` table too.
pub(crate) fn load_file(path: &Path) -> Result<VenuesFile, VenuesError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| VenuesError::Read {
        file: file.clone(),
        source,
    })?;
    let lps = parse(&file, &text, Secret::from_env)?;
    let bands = parse_bands(&file, &text)?;
    let references = parse_reference_tables(&file, &text)?;
    Ok(VenuesFile {
        lps,
        bands,
        references,
    })
}

/// The `[[reference]]` tables of a file [`parse`] has accepted.
fn parse_reference_tables(file: &str, text: &str) -> Result<Vec<ReferenceSpec>, VenuesError> {
    let parser = Parser { file, text };
    let root = DeTable::parse(text).map_err(|error| VenuesError::Syntax {
        file: file.to_string(),
        line: parser.line_at(error.span().map(|span| span.start).unwrap_or(0)),
        message: error.message().to_string(),
    })?;
    reference::parse_references(&parser, root.get_ref())
}

/// The `[bands]` table: `BTCUSDT = { min = "60000", max = "150000" }`
/// (decimals as strings, exactly as written).
fn parse_bands(
    file: &str,
    text: &str,
) -> Result<HashMap<String, crate::market::PriceBand>, VenuesError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Band {
        min: String,
        max: String,
    }
    #[derive(Deserialize)]
    struct Root {
        #[serde(default)]
        bands: HashMap<String, Band>,
    }
    let bad = |pair: &str, problem: String| VenuesError::Band {
        file: file.to_string(),
        pair: pair.to_string(),
        problem,
    };
    let root: Root = toml::from_str(text).map_err(|error| bad("?", error.message().to_string()))?;
    let mut bands = HashMap::new();
    for (pair_text, band) in root.bands {
        let pair: crate::market::Pair = pair_text
            .parse()
            .map_err(|error| bad(&pair_text, format!("{error}")))?;
        let decimal = |text: &str, which: &str| {
            text.trim()
                .parse::<rust_decimal::Decimal>()
                .ok()
                .filter(|v| *v > rust_decimal::Decimal::ZERO)
                .ok_or_else(|| {
                    bad(
                        &pair_text,
                        format!("{which} '{text}' must be a price above 0"),
                    )
                })
        };
        let (min, max) = (decimal(&band.min, "min")?, decimal(&band.max, "max")?);
        if min >= max {
            return Err(bad(
                &pair_text,
                format!("min '{min}' must be below max '{max}'"),
            ));
        }
        bands.insert(pair.symbol(), crate::market::PriceBand { min, max });
    }
    Ok(bands)
}

/// Parses the text of a venues file named `file` (for messages); `env`
/// reads a secret from the variable it is given ([`Secret::from_env`] in
/// production, a map in tests).
pub fn parse(
    file: &str,
    text: &str,
    env: impl Fn(&str) -> Result<Secret, SecretError>,
) -> Result<Vec<VenueSpec>, VenuesError> {
    let parser = Parser { file, text };
    let root = DeTable::parse(text).map_err(|error| VenuesError::Syntax {
        file: file.to_string(),
        line: parser.line_at(error.span().map(|span| span.start).unwrap_or(0)),
        message: error.message().to_string(),
    })?;
    let items = parser.lp_tables(root.get_ref())?;
    let mut specs = Vec::with_capacity(items.len());
    let mut first_lines: HashMap<String, usize> = HashMap::new();
    let missing = std::cell::RefCell::new(Vec::new());
    for (index, item) in items.iter().enumerate() {
        let (spec, name_line) = parser.venue(index, item, &env, &missing)?;
        if let Some(&first_line) = first_lines.get(&spec.name.to_lowercase()) {
            return Err(VenuesError::DuplicateName {
                file: file.to_string(),
                line: name_line,
                name: spec.name,
                first_line,
            });
        }
        first_lines.insert(spec.name.to_lowercase(), name_line);
        specs.push(spec);
    }
    let mut missing = missing.into_inner();
    match missing.len() {
        0 => Ok(specs),
        1 => Err(VenuesError::Secret {
            file: file.to_string(),
            missing: missing.remove(0),
        }),
        _ => Err(VenuesError::Secrets {
            file: file.to_string(),
            missing,
        }),
    }
}

/// The 1-based line of byte `offset` in `text`: what every error about a
/// place in a TOML file (venues, clients) names.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

struct Parser<'a> {
    file: &'a str,
    text: &'a str,
}

/// One `[[lp]]` table with its span (the header).
type Item<'i> = Spanned<DeTable<'i>>;

impl Parser<'_> {
    /// The 1-based line of byte `offset`.
    fn line_at(&self, offset: usize) -> usize {
        line_of(self.text, offset)
    }

    /// The `[[lp]]` tables, in file order.
    fn lp_tables<'i>(&self, root: &DeTable<'i>) -> Result<Vec<Item<'i>>, VenuesError> {
        let mut lps = None;
        let mut keys: Vec<_> = root.iter().collect();
        keys.sort_by_key(|(key, _)| key.span().start);
        for (key, value) in keys {
            // Bands and reference sources are read apart.
            if key.get_ref() == "bands" || key.get_ref() == "reference" {
                continue;
            }
            if key.get_ref() != "lp" {
                return Err(VenuesError::UnknownTopLevel {
                    file: self.file.to_string(),
                    line: self.line_at(key.span().start),
                    key: key.get_ref().to_string(),
                });
            }
            lps = Some(value);
        }
        let Some(lps) = lps else {
            return Err(VenuesError::NoLps {
                file: self.file.to_string(),
            });
        };
        let not_tables = || VenuesError::NotTables {
            file: self.file.to_string(),
            line: self.line_at(lps.span().start),
        };
        let DeValue::Array(items) = lps.get_ref() else {
            return Err(not_tables());
        };
        if items.is_empty() {
            return Err(VenuesError::NoLps {
                file: self.file.to_string(),
            });
        }
        items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::Table(table) => Ok(Spanned::new(item.span(), table.clone())),
                _ => Err(not_tables()),
            })
            .collect()
    }

    /// One LP: its kind first, then the keys that kind allows, then the
    /// values. Returns the spec and the line of its name.
    fn venue(
        &self,
        index: usize,
        item: &Item<'_>,
        env: &impl Fn(&str) -> Result<Secret, SecretError>,
        missing: &std::cell::RefCell<Vec<MissingSecret>>,
    ) -> Result<(VenueSpec, usize), VenuesError> {
        let table = item.get_ref();
        let header_line = self.line_at(item.span().start);
        // Until the name is known the LP is named by its place in the file.
        let name = table
            .get("name")
            .and_then(|value| value.get_ref().as_str())
            .filter(|name| !name.trim().is_empty());
        let lp = match name {
            Some(name) => format!("'{name}'"),
            None => format!("#{}", index + 1),
        };
        let kind_value = table.get("kind").ok_or_else(|| VenuesError::MissingField {
            file: self.file.to_string(),
            line: header_line,
            field: "kind",
            lp: lp.clone(),
        })?;
        let kind = kind_value
            .get_ref()
            .as_str()
            .and_then(Kind::parse)
            .ok_or_else(|| VenuesError::UnknownKind {
                file: self.file.to_string(),
                line: self.line_at(kind_value.span().start),
                kind: self.raw(kind_value.span()).trim_matches('"').to_string(),
                lp: lp.clone(),
            })?;
        let fields: Vec<&Field> = COMMON.iter().chain(kind.fields()).collect();

        // Keys in file order, so the first mistake a reader meets is named.
        let mut keys: Vec<_> = table.iter().collect();
        keys.sort_by_key(|(key, _)| key.span().start);
        for (key, _) in &keys {
            if !fields.iter().any(|field| field.key == key.get_ref()) {
                return Err(VenuesError::UnknownField {
                    file: self.file.to_string(),
                    line: self.line_at(key.span().start),
                    field: key.get_ref().to_string(),
                    lp,
                    expected: fields
                        .iter()
                        .map(|field| field.key)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        for field in fields.iter().filter(|field| field.required) {
            if !table.contains_key(field.key) {
                return Err(VenuesError::MissingField {
                    file: self.file.to_string(),
                    line: header_line,
                    field: field.key,
                    lp,
                });
            }
        }

        let at = At {
            parser: self,
            table,
            fields: &fields,
            lp: &lp,
        };
        let (common_table, kind_table): (DeTable<'_>, DeTable<'_>) = table
            .clone()
            .into_iter()
            .partition(|(key, _)| COMMON.iter().any(|field| field.key == key.get_ref()));
        let common: CommonRaw = at.read(item.span(), common_table)?;
        let name = at.text("name", common.name)?;
        let name_line = self.line_at(at.span_of("name").start);
        let timeout_ms = at.ranged("timeout_ms", common.timeout_ms, 1, 60_000)?;
        let order_timeout_ms =
            at.ranged("order_timeout_ms", common.order_timeout_ms, 1, 300_000)?;
        let pairs = match common.pairs {
            None => None,
            Some(list) if list.is_empty() => return Err(at.bad_value("pairs")),
            Some(list) => Some(
                list.iter()
                    .map(|text| text.parse::<crate::market::Pair>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| at.bad_value("pairs"))?,
            ),
        };
        let max_requests_per_sec = match common.max_requests_per_sec {
            None => None,
            Some(_) => {
                let text = self.raw(at.span_of("max_requests_per_sec"));
                let rate = text
                    .trim()
                    .parse::<rust_decimal::Decimal>()
                    .ok()
                    .filter(|rate| {
                        *rate >= rust_decimal::Decimal::new(1, 3)
                            && *rate <= rust_decimal::Decimal::from(10_000)
                    })
                    .ok_or_else(|| at.bad_value("max_requests_per_sec"))?;
                Some(rate.normalize())
            }
        };
        let health = VenueHealth {
            max_requests_per_sec,
            burst: at.ranged("burst", common.burst, 1, 10_000)?,
            breaker_failures: at.ranged("breaker_failures", common.breaker_failures, 1, 1_000)?,
            breaker_window_secs: at.ranged(
                "breaker_window_secs",
                common.breaker_window_secs,
                1,
                3_600,
            )?,
            breaker_cool_off_secs: at.ranged(
                "breaker_cool_off_secs",
                common.breaker_cool_off_secs,
                1,
                3_600,
            )?,
        };
        // A missing secret is collected, not returned, so that the file's
        // every missing variable is reported at once; the stand-in never
        // leaves `parse`, which fails when any was missing.
        let secret = |field: &'static str, var: &str| {
            env(var).unwrap_or_else(|source| {
                missing.borrow_mut().push(MissingSecret {
                    lp: name.clone(),
                    field,
                    source,
                });
                Secret::new(String::new())
            })
        };

        let kind = match kind {
            Kind::B2c2 => {
                let raw: B2c2Raw = at.read(item.span(), kind_table)?;
                let url = at.url(raw.url)?;
                let token_env = at.env_var("token_env", raw.token_env)?;
                let symbol = at.symbol(raw.symbol, B2C2_DEFAULT_SYMBOL)?;
                VenueKind::B2c2 {
                    url,
                    token: secret("token_env", &token_env),
                    symbol,
                }
            }
            Kind::BinanceConvert => {
                let raw: BinanceRaw = at.read(item.span(), kind_table)?;
                let url = at.url(raw.url)?;
                let key_env = at.env_var("key_env", raw.key_env)?;
                let secret_env = at.env_var("secret_env", raw.secret_env)?;
                let recv_window_ms = at.ranged("recv_window_ms", raw.recv_window_ms, 1, 60_000)?;
                VenueKind::BinanceConvert {
                    url,
                    key: secret("key_env", &key_env),
                    secret: secret("secret_env", &secret_env),
                    recv_window_ms,
                }
            }
            Kind::Fix44 => {
                let raw: FixRaw = at.read(item.span(), kind_table)?;
                let host = at.text("host", raw.host)?;
                let port = at.ranged("port", Some(raw.port), 1, 65_535)?.unwrap_or(0) as u16;
                let sender_comp_id = at.text("sender_comp_id", raw.sender_comp_id)?;
                let target_comp_id = at.text("target_comp_id", raw.target_comp_id)?;
                let heartbeat_secs = at
                    .ranged("heartbeat_secs", raw.heartbeat_secs, 1, 300)?
                    .unwrap_or(FIX_DEFAULT_HEARTBEAT_SECS);
                let symbol = at.symbol(raw.symbol, FIX_DEFAULT_SYMBOL)?;
                let password = match raw.password_env {
                    Some(var) => {
                        let var = at.env_var("password_env", var)?;
                        Some(secret("password_env", &var))
                    }
                    None => None,
                };
                VenueKind::Fix44 {
                    host,
                    port,
                    sender_comp_id,
                    target_comp_id,
                    heartbeat_secs,
                    symbol,
                    password,
                }
            }
            Kind::Mock => {
                let MockRaw {} = at.read(item.span(), kind_table)?;
                VenueKind::Mock
            }
        };
        Ok((
            VenueSpec {
                name,
                timeout_ms,
                order_timeout_ms,
                pairs,
                kind,
                health,
            },
            name_line,
        ))
    }

    /// The text of the file at `span`, as written.
    fn raw(&self, span: Range<usize>) -> &str {
        self.text.get(span).unwrap_or("")
    }
}

/// Where values are being read: one `[[lp]]` table, for error messages.
struct At<'p, 't, 'i> {
    parser: &'p Parser<'p>,
    table: &'t DeTable<'i>,
    fields: &'t [&'t Field],
    lp: &'t str,
}

impl At<'_, '_, '_> {
    fn span_of(&self, key: &str) -> Range<usize> {
        self.table
            .get(key)
            .map(|value| value.span())
            .unwrap_or(0..0)
    }

    fn bad_value(&self, key: &str) -> VenuesError {
        let field = self
            .fields
            .iter()
            .find(|field| field.key == key)
            .copied()
            .unwrap_or(&COMMON[0]);
        let span = self.span_of(key);
        VenuesError::BadValue {
            file: self.parser.file.to_string(),
            line: self.parser.line_at(span.start),
            field: field.key,
            value: self.parser.raw(span).to_string(),
            lp: self.lp.to_string(),
            must_be: field.must_be,
        }
    }

    /// Reads `table` (part of the `[[lp]]` table at `span`) with serde; a
    /// value of the wrong type is reported as that field's bad value.
    fn read<T: DeserializeOwned>(
        &self,
        span: Range<usize>,
        table: DeTable<'_>,
    ) -> Result<T, VenuesError> {
        T::deserialize(toml::de::Deserializer::from(Spanned::new(span, table))).map_err(|error| {
            let at = error.span().map(|span| span.start).unwrap_or(0);
            // The failing value is the one whose span holds the error's.
            let key = self
                .table
                .iter()
                .find(|(_, value)| value.span().contains(&at))
                .map(|(key, _)| key.get_ref().to_string());
            match key {
                Some(key) => self.bad_value(&key),
                None => VenuesError::Syntax {
                    file: self.parser.file.to_string(),
                    line: self.parser.line_at(at),
                    message: format!("[[lp]] {}: {}", self.lp, error.message()),
                },
            }
        })
    }

    fn text(&self, key: &str, value: String) -> Result<String, VenuesError> {
        if value.trim().is_empty() {
            return Err(self.bad_value(key));
        }
        Ok(value.trim().to_string())
    }

    fn ranged(
        &self,
        key: &str,
        value: Option<i64>,
        min: i64,
        max: i64,
    ) -> Result<Option<u64>, VenuesError> {
        match value {
            None => Ok(None),
            Some(value) if (min..=max).contains(&value) => Ok(Some(value as u64)),
            Some(_) => Err(self.bad_value(key)),
        }
    }

    /// The field's value refused without showing it (it may be a secret).
    fn secret_like(&self, key: &str, must_be: &'static str) -> VenuesError {
        let field = self
            .fields
            .iter()
            .find(|field| field.key == key)
            .copied()
            .unwrap_or(&COMMON[0]);
        VenuesError::SecretLike {
            file: self.parser.file.to_string(),
            line: self.parser.line_at(self.span_of(key).start),
            field: field.key,
            lp: self.lp.to_string(),
            must_be,
        }
    }

    /// A variable's name in the conventional capitals: a token pasted
    /// where its variable's name belongs (`sk_live_…`, hex, base64) is
    /// refused here, before an "is not set" could print it.
    fn env_var(&self, key: &str, value: String) -> Result<String, VenuesError> {
        let valid = !value.is_empty()
            && !value.starts_with(|c: char| c.is_ascii_digit())
            && value
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(self.secret_like(key, ENV_VAR));
        }
        Ok(value)
    }

    fn url(&self, value: String) -> Result<String, VenuesError> {
        // Checked before parsing, so that a malformed address with
        // credentials is not echoed either.
        if value.contains('@') {
            return Err(self.secret_like("url", URL_WITHOUT_CREDENTIALS));
        }
        let trimmed = value.trim().trim_end_matches('/');
        let valid = reqwest::Url::parse(trimmed).is_ok_and(|url| {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some_and(|h| !h.is_empty())
        });
        if !valid {
            return Err(self.bad_value("url"));
        }
        Ok(trimmed.to_string())
    }

    fn symbol(&self, value: Option<String>, default: &str) -> Result<String, VenuesError> {
        match value {
            None => Ok(default.to_string()),
            Some(symbol) if symbol.contains("{base}") && symbol.contains("{quote}") => Ok(symbol),
            Some(_) => Err(self.bad_value("symbol")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The environment of these tests: every variable they name is set,
    /// except `UNSET_VAR`.
    fn env(var: &str) -> Result<Secret, SecretError> {
        match var {
            "UNSET_VAR" => Err(SecretError::Missing(var.to_string())),
            "EMPTY_VAR" => Err(SecretError::Empty(var.to_string())),
            _ => Ok(Secret::new(format!("value-of-{var}"))),
        }
    }

    fn parse_ok(text: &str) -> Vec<VenueSpec> {
        parse("lps.toml", text, env).unwrap_or_else(|error| panic!("{error}"))
    }

    fn parse_err(text: &str) -> String {
        match parse("lps.toml", text, env) {
            Ok(specs) => panic!("parsed {specs:?}"),
            Err(error) => error.to_string(),
        }
    }

    const FULL: &str = r#"
[[lp]]
name = "B2C2"
kind = "b2c2"                 # b2c2 | binance-convert | fix44 | mock
url = "https://api.uat.b2c2.net/"
token_env = "B2C2_API_TOKEN"
timeout_ms = 800
symbol = "{base}{quote}.SPOT"
order_timeout_ms = 5000
pairs = ["BTCUSDT", "eth/usdt"]
[[lp]]
name = "BinanceConvert"
kind = "binance-convert"
url = "https://api.binance.com"
key_env = "BINANCE_API_KEY"
secret_env = "BINANCE_API_SECRET"
recv_window_ms = 5000
[[lp]]
name = "Wintermute"
kind = "fix44"
host = "fix.example.com"
port = 9876
sender_comp_id = "DESK"
target_comp_id = "LP"
heartbeat_secs = 30
symbol = "{base}/{quote}"
password_env = "LP_FIX_PASSWORD"
[[lp]]
name = "Sim"
kind = "mock"
timeout_ms = 300
"#;

    #[test]
    fn a_bad_pairs_list_is_named() {
        let lp = "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\n";
        for pairs in ["[]", "[\"BTC\"]", "\"BTCUSDT\""] {
            let error = parse_err(&format!("{lp}pairs = {pairs}\n"));
            assert!(
                error.contains("pairs")
                    && error
                        .contains("a non-empty list of pairs such as [\"BTCUSDT\", \"ETH/USDT\"]"),
                "{pairs}: {error}"
            );
        }
    }

    #[test]
    fn every_field_of_every_kind_is_read() {
        let specs = parse_ok(FULL);
        assert_eq!(
            specs,
            vec![
                VenueSpec {
                    name: "B2C2".into(),
                    timeout_ms: Some(800),
                    order_timeout_ms: Some(5000),
                    pairs: Some(vec![
                        "BTCUSDT".parse().unwrap(),
                        "ETH/USDT".parse().unwrap()
                    ]),
                    health: Default::default(),
                    kind: VenueKind::B2c2 {
                        url: "https://api.uat.b2c2.net".into(),
                        token: Secret::new("value-of-B2C2_API_TOKEN"),
                        symbol: "{base}{quote}.SPOT".into(),
                    },
                },
                VenueSpec {
                    name: "BinanceConvert".into(),
                    timeout_ms: None,
                    order_timeout_ms: None,
                    pairs: None,
                    health: Default::default(),
                    kind: VenueKind::BinanceConvert {
                        url: "https://api.binance.com".into(),
                        key: Secret::new("value-of-BINANCE_API_KEY"),
                        secret: Secret::new("value-of-BINANCE_API_SECRET"),
                        recv_window_ms: Some(5000),
                    },
                },
                VenueSpec {
                    name: "Wintermute".into(),
                    timeout_ms: None,
                    order_timeout_ms: None,
                    pairs: None,
                    health: Default::default(),
                    kind: VenueKind::Fix44 {
                        host: "fix.example.com".into(),
                        port: 9876,
                        sender_comp_id: "DESK".into(),
                        target_comp_id: "LP".into(),
                        heartbeat_secs: 30,
                        symbol: "{base}/{quote}".into(),
                        password: Some(Secret::new("value-of-LP_FIX_PASSWORD")),
                    },
                },
                VenueSpec {
                    name: "Sim".into(),
                    timeout_ms: Some(300),
                    order_timeout_ms: None,
                    pairs: None,
                    health: Default::default(),
                    kind: VenueKind::Mock,
                },
            ]
        );
        let labels: Vec<_> = specs.iter().map(|spec| spec.kind.label()).collect();
        assert_eq!(labels, ["b2c2", "binance-convert", "fix44", "mock"]);
    }

    #[test]
    fn optional_fields_take_their_defaults() {
        let specs = parse_ok(
            "[[lp]]\nname = \"B\"\nkind = \"b2c2\"\nurl = \"http://127.0.0.1:8080\"\ntoken_env = \"T\"\n\
             [[lp]]\nname = \"F\"\nkind = \"fix44\"\nhost = \"h\"\nport = 1\nsender_comp_id = \"S\"\ntarget_comp_id = \"T\"\n",
        );
        let VenueKind::B2c2 { symbol, .. } = &specs[0].kind else {
            panic!("{specs:?}")
        };
        assert_eq!(symbol, "{base}{quote}.SPOT");
        let VenueKind::Fix44 {
            symbol,
            heartbeat_secs,
            password,
            ..
        } = &specs[1].kind
        else {
            panic!("{specs:?}")
        };
        assert_eq!(
            (symbol.as_str(), *heartbeat_secs, password),
            ("{base}/{quote}", 30, &None)
        );
    }

    #[test]
    fn health_settings_are_read_exactly_with_per_kind_defaults() {
        use crate::lp::health::RateLimit;
        use rust_decimal_macros::dec;
        let specs = parse_ok(
            "[[lp]]\nname = \"Bin\"\nkind = \"binance-convert\"\nurl = \"http://h\"\nkey_env = \"K\"\nsecret_env = \"S\"\n\
             [[lp]]\nname = \"B\"\nkind = \"b2c2\"\nurl = \"http://h\"\ntoken_env = \"T\"\n\
             max_requests_per_sec = 0.25\nburst = 3\nbreaker_failures = 2\nbreaker_window_secs = 10\nbreaker_cool_off_secs = 60\n\
             [[lp]]\nname = \"Sim\"\nkind = \"mock\"\n",
        );
        let policies: Vec<_> = specs.iter().map(|s| s.health_policy(dec!(25))).collect();
        assert_eq!(
            policies[0].rate,
            Some(RateLimit {
                per_sec: dec!(0.5),
                burst: 1
            })
        );
        assert_eq!(
            policies[1].rate,
            Some(RateLimit {
                per_sec: dec!(0.25),
                burst: 3
            })
        );
        assert_eq!(
            policies[1].describe(),
            "0.25/s burst 1 · breaker 2 in 10 s, cool-off 60 s"
        );
        assert_eq!(
            policies[0].describe(),
            "0.5/s burst 1 · breaker 5 in 30 s, cool-off 30 s"
        );
        assert_eq!(policies[2].rate, None);
        assert_eq!(
            parse_err("[[lp]]\nname = \"Sim\"\nkind = \"mock\"\nmax_requests_per_sec = 0\n"),
            "venues file 'lps.toml' line 4: max_requests_per_sec '0' in [[lp]] 'Sim' must be a number of requests a second from 0.001 to 10000"
        );
        assert_eq!(
            parse_err("[[lp]]\nname = \"Sim\"\nkind = \"mock\"\nmax_requests_per_sec = \"2\"\n"),
            "venues file 'lps.toml' line 4: max_requests_per_sec '\"2\"' in [[lp]] 'Sim' must be a number of requests a second from 0.001 to 10000"
        );
        assert_eq!(
            parse_err("[[lp]]\nname = \"Sim\"\nkind = \"mock\"\nburst = 0\n"),
            "venues file 'lps.toml' line 4: burst '0' in [[lp]] 'Sim' must be a whole number of requests from 1 to 10000"
        );
    }

    #[test]
    fn a_spec_never_prints_a_secret() {
        let printed = format!("{:?}", parse_ok(FULL));
        assert!(!printed.contains("value-of"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[rstest::rstest]
    #[case::unknown_field(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://x\"\n\n\n tokn_env = \"T\"\n",
        "venues file 'lps.toml' line 7: unknown field 'tokn_env' in [[lp]] 'B2C2' (expected one of name, kind, timeout_ms, order_timeout_ms, pairs, max_requests_per_sec, burst, breaker_failures, breaker_window_secs, breaker_cool_off_secs, url, token_env, symbol)"
    )]
    #[case::field_of_another_kind(
        "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\nurl = \"https://x\"\n",
        "venues file 'lps.toml' line 4: unknown field 'url' in [[lp]] 'Sim' (expected one of name, kind, timeout_ms, order_timeout_ms, pairs, max_requests_per_sec, burst, breaker_failures, breaker_window_secs, breaker_cool_off_secs)"
    )]
    #[case::binance_field_on_b2c2(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://x\"\ntoken_env = \"T\"\nrecv_window_ms = 5000\n",
        "venues file 'lps.toml' line 6: unknown field 'recv_window_ms' in [[lp]] 'B2C2' (expected one of name, kind, timeout_ms, order_timeout_ms, pairs, max_requests_per_sec, burst, breaker_failures, breaker_window_secs, breaker_cool_off_secs, url, token_env, symbol)"
    )]
    #[case::missing_field(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://x\"\n",
        "venues file 'lps.toml' line 1: [[lp]] 'B2C2' needs token_env"
    )]
    #[case::missing_name(
        "[[lp]]\nname = \"A\"\nkind = \"mock\"\n\n[[lp]]\nkind = \"mock\"\n",
        "venues file 'lps.toml' line 5: [[lp]] #2 needs name"
    )]
    #[case::missing_kind(
        "[[lp]]\nname = \"B2C2\"\nurl = \"https://x\"\n",
        "venues file 'lps.toml' line 1: [[lp]] 'B2C2' needs kind"
    )]
    #[case::unknown_kind(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c3\"\n",
        "venues file 'lps.toml' line 3: unknown kind 'b2c3' in [[lp]] 'B2C2' (expected one of b2c2, binance-convert, fix44, mock)"
    )]
    #[case::kind_not_a_string(
        "[[lp]]\nname = \"B2C2\"\nkind = 2\n",
        "venues file 'lps.toml' line 3: unknown kind '2' in [[lp]] 'B2C2' (expected one of b2c2, binance-convert, fix44, mock)"
    )]
    #[case::duplicate_name(
        "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\n[[lp]]\nkind = \"mock\"\nname = \"sim\"\n",
        "venues file 'lps.toml' line 6: lp name 'sim' is used twice (first at line 2)"
    )]
    #[case::empty_file(
        "",
        "venues file 'lps.toml' lists no LP: add at least one [[lp]] table"
    )]
    #[case::only_comments(
        "# nothing yet\n\n",
        "venues file 'lps.toml' lists no LP: add at least one [[lp]] table"
    )]
    #[case::empty_list(
        "lp = []\n",
        "venues file 'lps.toml' lists no LP: add at least one [[lp]] table"
    )]
    #[case::single_table(
        "[lp]\nname = \"Sim\"\nkind = \"mock\"\n",
        "venues file 'lps.toml' line 1: write each LP as an [[lp]] table"
    )]
    #[case::other_table(
        "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\n\n[[lps]]\nname = \"x\"\n",
        "venues file 'lps.toml' line 5: unknown key 'lps' (the file holds [[lp]] and [[reference]] tables and [bands])"
    )]
    #[case::syntax(
        "[[lp]]\nname = \"Sim\"\nkind = mock\n",
        "venues file 'lps.toml' line 3: string values must be quoted, expected literal string"
    )]
    #[case::bad_scheme(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"ftp://api.b2c2.net\"\ntoken_env = \"T\"\n",
        "venues file 'lps.toml' line 4: url '\"ftp://api.b2c2.net\"' in [[lp]] 'B2C2' must be an http:// or https:// address with a host"
    )]
    #[case::url_without_scheme(
        "[[lp]]\nname = \"Bn\"\nkind = \"binance-convert\"\nurl = \"api.binance.com\"\nkey_env = \"K\"\nsecret_env = \"S\"\n",
        "venues file 'lps.toml' line 4: url '\"api.binance.com\"' in [[lp]] 'Bn' must be an http:// or https:// address with a host"
    )]
    #[case::port_zero(
        "[[lp]]\nname = \"W\"\nkind = \"fix44\"\nhost = \"h\"\nport = 0\nsender_comp_id = \"S\"\ntarget_comp_id = \"T\"\n",
        "venues file 'lps.toml' line 5: port '0' in [[lp]] 'W' must be a whole number from 1 to 65535"
    )]
    #[case::port_too_big(
        "[[lp]]\nname = \"W\"\nkind = \"fix44\"\nhost = \"h\"\nport = 70000\nsender_comp_id = \"S\"\ntarget_comp_id = \"T\"\n",
        "venues file 'lps.toml' line 5: port '70000' in [[lp]] 'W' must be a whole number from 1 to 65535"
    )]
    #[case::timeout_as_string(
        "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\ntimeout_ms = \"800\"\n",
        "venues file 'lps.toml' line 4: timeout_ms '\"800\"' in [[lp]] 'Sim' must be a whole number of milliseconds from 1 to 60000"
    )]
    #[case::timeout_zero(
        "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\ntimeout_ms = 0\n",
        "venues file 'lps.toml' line 4: timeout_ms '0' in [[lp]] 'Sim' must be a whole number of milliseconds from 1 to 60000"
    )]
    #[case::order_timeout_negative(
        "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\norder_timeout_ms = -5\n",
        "venues file 'lps.toml' line 4: order_timeout_ms '-5' in [[lp]] 'Sim' must be a whole number of milliseconds from 1 to 300000"
    )]
    #[case::recv_window_too_big(
        "[[lp]]\nname = \"Bn\"\nkind = \"binance-convert\"\nurl = \"https://x\"\nkey_env = \"K\"\nsecret_env = \"S\"\nrecv_window_ms = 60001\n",
        "venues file 'lps.toml' line 7: recv_window_ms '60001' in [[lp]] 'Bn' must be a whole number of milliseconds from 1 to 60000"
    )]
    #[case::heartbeat_float(
        "[[lp]]\nname = \"W\"\nkind = \"fix44\"\nhost = \"h\"\nport = 1\nsender_comp_id = \"S\"\ntarget_comp_id = \"T\"\nheartbeat_secs = 2.5\n",
        "venues file 'lps.toml' line 8: heartbeat_secs '2.5' in [[lp]] 'W' must be a whole number of seconds from 1 to 300"
    )]
    #[case::empty_name(
        "[[lp]]\nname = \" \"\nkind = \"mock\"\n",
        "venues file 'lps.toml' line 2: name '\" \"' in [[lp]] #1 must be a non-empty string"
    )]
    #[case::empty_host(
        "[[lp]]\nname = \"W\"\nkind = \"fix44\"\nhost = \"\"\nport = 1\nsender_comp_id = \"S\"\ntarget_comp_id = \"T\"\n",
        "venues file 'lps.toml' line 4: host '\"\"' in [[lp]] 'W' must be a non-empty string"
    )]
    #[case::bad_env_name(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://x\"\ntoken_env = \"my token\"\n",
        "venues file 'lps.toml' line 5: token_env in [[lp]] 'B2C2' must be the name of an environment variable: capital letters, digits and _, such as B2C2_API_TOKEN (its value is not shown: it may be a secret)"
    )]
    #[case::a_token_where_its_variable_belongs(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://x\"\ntoken_env = \"sk_live_abc123\"\n",
        "venues file 'lps.toml' line 5: token_env in [[lp]] 'B2C2' must be the name of an environment variable: capital letters, digits and _, such as B2C2_API_TOKEN (its value is not shown: it may be a secret)"
    )]
    #[case::a_fix_password_where_its_variable_belongs(
        "[[lp]]\nname = \"W\"\nkind = \"fix44\"\nhost = \"h\"\nport = 1\nsender_comp_id = \"S\"\ntarget_comp_id = \"T\"\npassword_env = \"hunter2\"\n",
        "venues file 'lps.toml' line 8: password_env in [[lp]] 'W' must be the name of an environment variable: capital letters, digits and _, such as B2C2_API_TOKEN (its value is not shown: it may be a secret)"
    )]
    #[case::a_url_with_credentials(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://user:pass@api.b2c2.net/\"\ntoken_env = \"T\"\n",
        "venues file 'lps.toml' line 4: url in [[lp]] 'B2C2' must be an address without credentials (no user:password@; secrets come from the environment) (its value is not shown: it may be a secret)"
    )]
    #[case::a_malformed_url_with_credentials(
        "[[lp]]\nname = \"Bn\"\nkind = \"binance-convert\"\nurl = \"https//user:pass@api binance\"\nkey_env = \"K\"\nsecret_env = \"S\"\n",
        "venues file 'lps.toml' line 4: url in [[lp]] 'Bn' must be an address without credentials (no user:password@; secrets come from the environment) (its value is not shown: it may be a secret)"
    )]
    #[case::symbol_without_quote(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://x\"\ntoken_env = \"T\"\nsymbol = \"{base}USD\"\n",
        "venues file 'lps.toml' line 6: symbol '\"{base}USD\"' in [[lp]] 'B2C2' must be a string containing {base} and {quote}"
    )]
    #[case::missing_secret(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://x\"\ntoken_env = \"UNSET_VAR\"\n",
        "venues file 'lps.toml': lp 'B2C2' needs token_env: environment variable UNSET_VAR is not set"
    )]
    #[case::empty_secret(
        "[[lp]]\nname = \"Bn\"\nkind = \"binance-convert\"\nurl = \"https://x\"\nkey_env = \"K\"\nsecret_env = \"EMPTY_VAR\"\n",
        "venues file 'lps.toml': lp 'Bn' needs secret_env: environment variable EMPTY_VAR is empty"
    )]
    #[case::missing_fix_password(
        "[[lp]]\nname = \"W\"\nkind = \"fix44\"\nhost = \"h\"\nport = 1\nsender_comp_id = \"S\"\ntarget_comp_id = \"T\"\npassword_env = \"UNSET_VAR\"\n",
        "venues file 'lps.toml': lp 'W' needs password_env: environment variable UNSET_VAR is not set"
    )]
    fn a_bad_file_names_the_line_and_the_field(#[case] text: &str, #[case] expected: &str) {
        assert_eq!(parse_err(text), expected);
    }

    #[rstest::rstest]
    #[case("token_env = \"sk_live_abc123\"", &["sk_live_abc123", "abc123"])]
    #[case("token_env = \"9f86d081884c7d659a2feaa0c55ad015\"", &["9f86d081"])]
    #[case("token_env = \"T\"\nurl = \"https://desk:s3cret@api.b2c2.net\"", &["desk", "s3cret"])]
    fn a_secret_in_the_wrong_field_is_refused_and_never_echoed(
        #[case] fields: &str,
        #[case] never_shown: &[&str],
    ) {
        let text = format!("[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\n{fields}\n");
        let text = if text.contains("url =") {
            text
        } else {
            format!("{text}url = \"https://x\"\n")
        };
        let error = parse_err(&text);
        assert!(
            error.ends_with("(its value is not shown: it may be a secret)"),
            "{error}"
        );
        for secret in never_shown {
            assert!(!error.contains(secret), "{error}");
        }
    }

    #[test]
    fn every_missing_secret_is_named_at_once() {
        let text = "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://x\"\ntoken_env = \"UNSET_VAR\"\n\
                    [[lp]]\nname = \"Bn\"\nkind = \"binance-convert\"\nurl = \"https://x\"\nkey_env = \"K\"\nsecret_env = \"EMPTY_VAR\"\n\
                    [[lp]]\nname = \"W\"\nkind = \"fix44\"\nhost = \"h\"\nport = 1\nsender_comp_id = \"S\"\ntarget_comp_id = \"T\"\npassword_env = \"UNSET_VAR\"\n";
        assert_eq!(
            parse_err(text),
            "venues file 'lps.toml': 3 secrets are missing: lp 'B2C2' needs token_env: environment variable UNSET_VAR is not set; \
             lp 'Bn' needs secret_env: environment variable EMPTY_VAR is empty; \
             lp 'W' needs password_env: environment variable UNSET_VAR is not set"
        );
    }

    #[test]
    fn the_spec_example_with_a_misspelt_field_names_line_7() {
        let text = "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"https://api.uat.b2c2.net\"\n\
                    timeout_ms = 800\n# the token\ntokn_env = \"B2C2_API_TOKEN\"\n";
        assert_eq!(
            parse_err(text),
            "venues file 'lps.toml' line 7: unknown field 'tokn_env' in [[lp]] 'B2C2' (expected one of name, kind, timeout_ms, order_timeout_ms, pairs, max_requests_per_sec, burst, breaker_failures, breaker_window_secs, breaker_cool_off_secs, url, token_env, symbol)"
        );
    }

    #[test]
    fn the_shipped_example_is_a_valid_file() {
        let specs = parse_ok(include_str!("../lps.example.toml"));
        let kinds: Vec<_> = specs
            .iter()
            .map(|spec| (spec.name.as_str(), spec.kind.label()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("B2C2", "b2c2"),
                ("BinanceConvert", "binance-convert"),
                ("Wintermute", "fix44"),
            ]
        );
        let bands = parse_bands("lps.example.toml", include_str!("../lps.example.toml")).unwrap();
        assert_eq!(
            bands.get("BTCUSDT"),
            Some(&crate::market::PriceBand {
                min: rust_decimal::Decimal::from(10_000),
                max: rust_decimal::Decimal::from(1_000_000),
            })
        );
    }

    #[test]
    fn a_bad_band_is_named() {
        let lp = "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\n";
        let error = |bands: &str| {
            parse_bands("lps.toml", &format!("{lp}[bands]\n{bands}"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error("BTCUSDT = { min = \"200\", max = \"100\" }"),
            "venues file 'lps.toml': band for 'BTCUSDT': min '200' must be below max '100'"
        );
        assert_eq!(
            error("BTCUSDT = { min = \"-1\", max = \"100\" }"),
            "venues file 'lps.toml': band for 'BTCUSDT': min '-1' must be a price above 0"
        );
        // The LP tables still parse beside a band.
        assert_eq!(
            parse(
                "lps.toml",
                &format!("{lp}[bands]\nBTCUSDT = {{ min = \"1\", max = \"2\" }}"),
                |_| { unreachable!() }
            )
            .unwrap()
            .len(),
            1
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = load(Path::new("/surely/not/here/lps.toml")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot read venues file '/surely/not/here/lps.toml': No such file or directory (os error 2)"
        );
    }
}
