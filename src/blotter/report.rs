//! `lp-rfq report`: LP performance and an RFQ list computed from the
//! blotter, as an aligned table, CSV or one JSON object. Figures are
//! computed here from the stored rows; the definitions are in docs/blotter.md
//! ("Blotter and report") and on the fields below.

use std::fmt::Write as _;
use std::path::Path;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use rusqlite::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use super::figures::Split;
use super::health::HealthFigures;
use super::read::ReadError;
use super::report_rows::ReportRows;
use super::sqlite_rows::SqliteRows;
use super::BlotterError;

/// A report option that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid {option} '{value}': {problem}")]
    Invalid {
        option: &'static str,
        value: String,
        problem: &'static str,
    },
    /// Options that are each valid but together select nothing.
    #[error("--since {since} is after --until {until}: nothing can match")]
    Inverted { since: String, until: String },
}

/// Which RFQs (and LPs) a report covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// RFQs started at or after this epoch ms.
    pub since_ms: Option<i64>,
    /// RFQs started before this epoch ms.
    pub until_ms: Option<i64>,
    /// Pair symbol as stored, e.g. `BTCUSDT`.
    pub pair: Option<String>,
    /// Only this LP's row, and only RFQs that asked it.
    pub lp: Option<String>,
    /// Only the N most recent RFQs (after the other filters).
    pub last: Option<u32>,
}

impl Filter {
    /// Parses the report's options. Dates and times are UTC: `--since` a
    /// date starts at its midnight; `--until` a date includes that whole
    /// day, a date-time includes that millisecond.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        pair: Option<&str>,
        lp: Option<&str>,
        last: Option<&str>,
    ) -> Result<Filter, FilterError> {
        const WHEN: &str = "must be a date like 2026-11-22 or a UTC time like 2026-11-22T14:30:00";
        let since_ms = since
            .map(|text| {
                parse_time(text, false).ok_or_else(|| FilterError::Invalid {
                    option: "--since",
                    value: text.to_string(),
                    problem: WHEN,
                })
            })
            .transpose()?;
        let until_ms = until
            .map(|text| {
                parse_time(text, true).ok_or_else(|| FilterError::Invalid {
                    option: "--until",
                    value: text.to_string(),
                    problem: WHEN,
                })
            })
            .transpose()?;
        let pair = pair
            .map(|text| {
                text.parse::<crate::market::Pair>()
                    .map(|pair| pair.symbol())
                    .map_err(|_| FilterError::Invalid {
                        option: "--pair",
                        value: text.to_string(),
                        problem: "is not a pair: write it like BTCUSDT, BTC/USDT or btc-usdt",
                    })
            })
            .transpose()?;
        let last = last
            .map(|text| {
                text.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| FilterError::Invalid {
                        option: "--last",
                        value: text.to_string(),
                        problem: "must be a whole number above 0",
                    })
            })
            .transpose()?;
        if let (Some(from), Some(to)) = (since_ms, until_ms) {
            if from >= to {
                return Err(FilterError::Inverted {
                    since: since.unwrap_or_default().trim().to_string(),
                    until: until.unwrap_or_default().trim().to_string(),
                });
            }
        }
        Ok(Filter {
            since_ms,
            until_ms,
            pair,
            lp: lp.map(|lp| lp.trim().to_string()),
            last,
        })
    }

    fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
}

/// Epoch ms of a UTC date or date-time; `end` turns it into the exclusive
/// end of the period it names.
fn parse_time(text: &str, end: bool) -> Option<i64> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let date = if end { date.succ_opt()? } else { date };
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    let at = chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| at.naive_utc())
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M",
            ]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        })?;
    let at = if end {
        at + TimeDelta::milliseconds(1)
    } else {
        at
    };
    Some(at.and_utc().timestamp_millis())
}

/// One LP's figures over the selected RFQs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LpFigures {
    pub lp: String,
    /// answers + errors: every request that ended in an `lp_quote` or an
    /// `lp_error` (requests cut off by the stream's end are not counted).
    pub requests: u64,
    /// Valid quotes (`lp_quote` events).
    pub answers: u64,
    /// answers / requests, 4 decimals; null without requests.
    pub answer_rate: Option<Decimal>,
    pub timeouts: u64,
    pub declines: u64,
    pub unavailable: u64,
    pub malformed: u64,
    pub rate_limited: u64,
    pub invalid: u64,
    pub auth: u64,
    /// Nearest-rank percentiles of the valid answers' latency.
    pub latency_p50_ms: Option<u64>,
    pub latency_p95_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
    /// `locked` events that went to this LP (any reason).
    pub locks_won: u64,
    /// Stream time holding the lock / duration of the RFQs that asked the
    /// LP, 4 decimals.
    pub lock_time_share: Option<Decimal>,
    /// Mean distance of its valid quotes from the best valid quote of the
    /// same poll, side-aware, in bps, 2 decimals.
    pub avg_distance_bps: Option<Decimal>,
    /// `locked` events with reason `improvement` that went to this LP.
    pub improvements: u64,
    /// `order_sent` events to this LP (every attempt, fallbacks included).
    pub orders: u64,
    /// `filled` events from this LP.
    pub fills: u64,
    /// fills / orders, 4 decimals; null without orders.
    pub fill_rate: Option<Decimal>,
    /// `order_rejected` events from this LP.
    pub last_look_rejects: u64,
    /// Nearest-rank percentiles of `hold_ms` over the LP's answered orders
    /// (rejected and filled; an unknown outcome has no hold time).
    pub hold_p50_ms: Option<u64>,
    pub hold_p99_ms: Option<u64>,
}

/// One RFQ's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfqLine {
    pub rfq_id: String,
    pub started_at: String,
    pub side: String,
    pub amount: String,
    pub pair: String,
    /// Stream ms from start to `ended` (to the last stored event when the
    /// process died before `ended`).
    pub duration_ms: u64,
    pub final_lp: Option<String>,
    pub final_client_price: Option<String>,
    pub improvements: u64,
    /// null when the stream never ended (the process was killed).
    pub end_reason: Option<String>,
    /// `filled`, `not_filled`, `unknown`, `not_accepted`; null when the
    /// stream never ended.
    pub outcome: Option<String>,
    /// The LP that filled, and its price, as stored; null without a fill.
    pub filled_lp: Option<String>,
    pub filled_price: Option<String>,
    /// What the desk kept on the fill, in the quote currency, as stored.
    pub desk_pnl: Option<String>,
}

/// One pair's volume over the listed RFQs. Sums are in the pair's quote
/// currency (`asset`) and keep every digit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairFigures {
    pub pair: String,
    /// The quote currency the sums are in.
    pub asset: String,
    /// RFQs of this pair.
    pub rfqs: u64,
    /// Sum of amount × final client price over the RFQs that ended with a
    /// live quote.
    pub notional_quoted: Decimal,
    /// Sum of LP price × amount over the fills.
    pub filled_notional: Decimal,
    /// Sum of the fills' `desk_pnl`: what the markup earned.
    pub markup_earned: Decimal,
    pub fills: u64,
}

/// The whole report: `{"lps":[...],"rfqs":[...],"pairs":[...],"totals":[...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub lps: Vec<LpFigures>,
    pub rfqs: Vec<RfqLine>,
    /// One entry per pair of the listed RFQs, in order of first appearance.
    pub pairs: Vec<PairFigures>,
    /// The pairs summed per quote currency (one entry when every pair is
    /// quoted in the same currency), `pair` being `TOTAL`.
    pub totals: Vec<PairFigures>,
    /// Per LP with recorded health changes in the period (`--since`,
    /// `--until`, `--lp`; health is per LP, not per pair or RFQ): left out
    /// when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<LpHealthLine>,
}

/// One LP's health line: its recorded health figures and its last-look
/// reject rate over the listed RFQs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LpHealthLine {
    #[serde(flatten)]
    pub figures: super::health::HealthFigures,
    /// last_look_rejects / orders over the listed RFQs, 4 decimals; null
    /// without orders.
    pub reject_rate: Option<Decimal>,
}

/// Which table `--csv` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    #[default]
    Lps,
    Rfqs,
    Pairs,
    Health,
}

impl FromStr for Section {
    type Err = FilterError;
    fn from_str(text: &str) -> Result<Section, FilterError> {
        match text.trim() {
            "lps" => Ok(Section::Lps),
            "rfqs" => Ok(Section::Rfqs),
            "pairs" => Ok(Section::Pairs),
            "health" => Ok(Section::Health),
            _ => Err(FilterError::Invalid {
                option: "--section",
                value: text.to_string(),
                problem: "must be lps, rfqs, pairs or health",
            }),
        }
    }
}

/// Opens the blotter for reading; never creates or changes a file (see
/// [`read::open_read_only`](super::read::open_read_only)).
pub fn open(path: &Path) -> Result<Connection, ReadError> {
    super::read::open_read_only(path)
}

/// Reads the blotter at `path` and computes the report. An `--lp` that
/// no stored RFQ asked is an error naming the LPs that were.
pub fn load(path: &Path, filter: &Filter) -> Result<Report, ReadError> {
    load_split(path, filter, None)
}

/// [`load`] with the answers pass split among exactly `workers` threads
/// (when the file can be opened more than once): the same report as one
/// thread gives, which the tests check. `None`: one per core.
pub fn load_split(
    path: &Path,
    filter: &Filter,
    workers: Option<usize>,
) -> Result<Report, ReadError> {
    let (conn, reads) = super::read::open_for_reading(path)?;
    let read = |source| BlotterError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut rows = match reads {
        super::read::Reads::TheFile => SqliteRows::of_file(&conn, path),
        super::read::Reads::AnUpgradedCopy => SqliteRows::alone(&conn),
    };
    if let Some(lp) = &filter.lp {
        let seen = rows.lps_asked().map_err(read)?;
        if !seen.contains(lp) {
            return Err(ReadError::UnknownLp {
                lp: lp.clone(),
                path: path.to_path_buf(),
                seen,
            });
        }
    }
    // The store allows as many readers as it can open (the file, not a
    // private upgraded copy).
    let split = match workers {
        None => Split::PerCore,
        Some(workers) => Split::Exactly(workers),
    };
    Ok(super::figures::build(&mut rows, filter, split).map_err(read)?)
}

/// Computes the report from an open blotter (one pass over each table:
/// see [`super::figures`]), on this connection alone.
pub fn build(conn: &Connection, filter: &Filter) -> rusqlite::Result<Report> {
    super::figures::build(&mut SqliteRows::alone(conn), filter, Split::Alone)
}

/// The health section: recorded health per LP, with each LP's reject rate
/// from `lps`.
pub(super) fn health_lines(figures: Vec<HealthFigures>, lps: &[LpFigures]) -> Vec<LpHealthLine> {
    figures
        .into_iter()
        .map(|figures| {
            let reject_rate = lps
                .iter()
                .find(|lp| lp.lp == figures.lp)
                .and_then(|lp| ratio(lp.last_look_rejects, lp.orders, 4));
            LpHealthLine {
                figures,
                reject_rate,
            }
        })
        .collect()
}

/// `part / whole` rounded half away from zero to `dp` decimals, trailing zeros dropped; `None` when `whole` is 0.
pub(super) fn ratio(part: u64, whole: u64, dp: u32) -> Option<Decimal> {
    (whole > 0).then(|| {
        (Decimal::from(part) / Decimal::from(whole))
            .round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            .normalize()
    })
}

/// The nearest-rank percentile: the smallest value with at least `p` % of
/// the values at or below it, i.e. `sorted[ceil(p/100 × n) − 1]`. Always
/// an observed latency, never an interpolation.
pub fn nearest_rank(sorted: &[u64], p: u64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (p * n).div_ceil(100).max(1);
    Some(sorted[(rank - 1) as usize])
}

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Every section as an aligned table, rates in percent.
    Table,
    /// One section as CSV, with the JSON field names and values.
    Csv(Section),
    /// One object with every section.
    Json,
}

/// The report as text in `format`. `source` names the blotter for the
/// empty-report message.
pub fn render(report: &Report, format: Format, source: &Path, filtered: &Filter) -> String {
    match format {
        Format::Json => serde_json::to_string(report).unwrap_or_default() + "\n",
        Format::Csv(section) => {
            let (columns, rows): (&[&str], Vec<Vec<String>>) = match section {
                Section::Lps => (&LP_COLUMNS, report.lps.iter().map(lp_values).collect()),
                Section::Rfqs => (&RFQ_COLUMNS, report.rfqs.iter().map(rfq_cells).collect()),
                Section::Health => (
                    &HEALTH_COLUMNS,
                    report.health.iter().map(|h| health_row(h, false)).collect(),
                ),
                Section::Pairs => (
                    &PAIR_COLUMNS,
                    report
                        .pairs
                        .iter()
                        .chain(&report.totals)
                        .map(pair_cells)
                        .collect(),
                ),
            };
            csv_table(columns, &rows)
        }
        Format::Table => {
            if report.rfqs.is_empty() {
                let what = if filtered.is_empty() {
                    "no RFQs recorded"
                } else {
                    "no RFQs match the filters"
                };
                return format!("{what} in blotter '{}'\n", source.display());
            }
            let lp_rows: Vec<Vec<String>> = report.lps.iter().map(lp_cells).collect();
            let rfq_rows: Vec<Vec<String>> = report.rfqs.iter().map(rfq_cells).collect();
            let pair_rows: Vec<Vec<String>> = report
                .pairs
                .iter()
                .chain(&report.totals)
                .map(pair_cells)
                .collect();
            let mut out = String::from("LPs\n");
            out += &table(&LP_HEADINGS, &lp_rows, LP_LEFT);
            out += "\nRFQs\n";
            out += &table(&RFQ_HEADINGS, &rfq_rows, RFQ_LEFT);
            out += "\nPairs (sums in the quote currency, CCY)\n";
            out += &table(&PAIR_HEADINGS, &pair_rows, PAIR_LEFT);
            if !report.health.is_empty() {
                let rows: Vec<Vec<String>> =
                    report.health.iter().map(|h| health_row(h, true)).collect();
                out += "\nLP health (recorded changes in the period)\n";
                out += &table(&HEALTH_HEADINGS, &rows, &[0]);
            }
            out
        }
    }
}

/// The health section's CSV headers (JSON field names) and table headings.
const HEALTH_COLUMNS: [&str; 7] = [
    "lp",
    "throttled",
    "breaker_openings",
    "down_ms",
    "auth_failures",
    "latest_reject_rate",
    "reject_rate",
];
const HEALTH_HEADINGS: [&str; 7] = [
    "LP",
    "THROTTLED",
    "BREAKER OPEN",
    "DOWN s",
    "AUTH FAIL",
    "FADE %",
    "REJECT %",
];

/// One LP's health row: for the table (reject rate in percent, time down
/// in seconds) or for CSV (a fraction, ms).
fn health_row(line: &LpHealthLine, table: bool) -> Vec<String> {
    let f = &line.figures;
    let rate: fn(&Option<Decimal>) -> String = if table { percent } else { opt };
    vec![
        f.lp.clone(),
        f.throttled.to_string(),
        f.breaker_openings.to_string(),
        if table {
            Decimal::new(i64::try_from(f.down_ms).unwrap_or(i64::MAX), 3).to_string()
        } else {
            f.down_ms.to_string()
        },
        f.auth_failures.to_string(),
        opt(&f.latest_reject_rate),
        rate(&line.reject_rate),
    ]
}

/// CSV headers: the JSON field names.
const LP_COLUMNS: [&str; 24] = [
    "lp",
    "requests",
    "answers",
    "answer_rate",
    "timeouts",
    "declines",
    "unavailable",
    "malformed",
    "rate_limited",
    "invalid",
    "auth",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "locks_won",
    "lock_time_share",
    "avg_distance_bps",
    "improvements",
    "orders",
    "fills",
    "fill_rate",
    "last_look_rejects",
    "hold_p50_ms",
    "hold_p99_ms",
];
/// Table headings: units where a column has one; rates in percent.
const LP_HEADINGS: [&str; 24] = [
    "LP",
    "REQ",
    "ANS",
    "ANS %",
    "TIMEOUT",
    "DECLINE",
    "UNAVAIL",
    "MALFORM",
    "RATELIM",
    "INVALID",
    "AUTH",
    "P50 ms",
    "P95 ms",
    "P99 ms",
    "LOCKS",
    "LOCK TIME %",
    "DIST bps",
    "IMPROV",
    "ORDERS",
    "FILLS",
    "FILL %",
    "LL REJ",
    "HOLD P50 ms",
    "HOLD P99 ms",
];
/// Columns aligned left (text); the rest are numbers, aligned right.
const LP_LEFT: &[usize] = &[0];
const RFQ_COLUMNS: [&str; 14] = [
    "rfq_id",
    "started_at",
    "side",
    "amount",
    "pair",
    "duration_ms",
    "final_lp",
    "final_client_price",
    "improvements",
    "end_reason",
    "outcome",
    "filled_lp",
    "filled_price",
    "desk_pnl",
];
const RFQ_HEADINGS: [&str; 14] = [
    "RFQ",
    "STARTED (UTC)",
    "SIDE",
    "AMOUNT",
    "PAIR",
    "DURATION ms",
    "FINAL LP",
    "CLIENT PRICE",
    "IMPROV",
    "END",
    "OUTCOME",
    "FILLED LP",
    "FILL PRICE",
    "DESK PNL",
];
const RFQ_LEFT: &[usize] = &[0, 1, 2, 4, 6, 9, 10, 11];
const PAIR_COLUMNS: [&str; 7] = [
    "pair",
    "asset",
    "rfqs",
    "notional_quoted",
    "filled_notional",
    "markup_earned",
    "fills",
];
const PAIR_HEADINGS: [&str; 7] = [
    "PAIR",
    "CCY",
    "RFQS",
    "NOTIONAL QUOTED",
    "FILLED NOTIONAL",
    "MARKUP EARNED",
    "FILLS",
];
const PAIR_LEFT: &[usize] = &[0, 1];

/// A rate (a fraction with 4 decimals) as a percentage with 2 decimals.
fn percent(rate: &Option<Decimal>) -> String {
    rate.map(|rate| format!("{:.2}", rate * Decimal::ONE_HUNDRED))
        .unwrap_or_default()
}

fn opt<T: ToString>(value: &Option<T>) -> String {
    value.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The LP's figures as the JSON has them (CSV).
fn lp_values(lp: &LpFigures) -> Vec<String> {
    lp_row(lp, opt)
}

/// The LP's figures for the table: rates in percent.
fn lp_cells(lp: &LpFigures) -> Vec<String> {
    lp_row(lp, percent)
}

/// One LP's row, its three rates written by `rate` (as fractions for CSV,
/// in percent for the table); everything else is the same in both.
fn lp_row(lp: &LpFigures, rate: fn(&Option<Decimal>) -> String) -> Vec<String> {
    vec![
        lp.lp.clone(),
        lp.requests.to_string(),
        lp.answers.to_string(),
        rate(&lp.answer_rate),
        lp.timeouts.to_string(),
        lp.declines.to_string(),
        lp.unavailable.to_string(),
        lp.malformed.to_string(),
        lp.rate_limited.to_string(),
        lp.invalid.to_string(),
        lp.auth.to_string(),
        opt(&lp.latency_p50_ms),
        opt(&lp.latency_p95_ms),
        opt(&lp.latency_p99_ms),
        lp.locks_won.to_string(),
        rate(&lp.lock_time_share),
        opt(&lp.avg_distance_bps),
        lp.improvements.to_string(),
        lp.orders.to_string(),
        lp.fills.to_string(),
        rate(&lp.fill_rate),
        lp.last_look_rejects.to_string(),
        opt(&lp.hold_p50_ms),
        opt(&lp.hold_p99_ms),
    ]
}

fn rfq_cells(rfq: &RfqLine) -> Vec<String> {
    vec![
        rfq.rfq_id.clone(),
        rfq.started_at.clone(),
        rfq.side.clone(),
        rfq.amount.clone(),
        rfq.pair.clone(),
        rfq.duration_ms.to_string(),
        opt(&rfq.final_lp),
        opt(&rfq.final_client_price),
        rfq.improvements.to_string(),
        rfq.end_reason
            .clone()
            .unwrap_or_else(|| "unfinished".into()),
        opt(&rfq.outcome),
        opt(&rfq.filled_lp),
        opt(&rfq.filled_price),
        opt(&rfq.desk_pnl),
    ]
}

fn pair_cells(pair: &PairFigures) -> Vec<String> {
    vec![
        pair.pair.clone(),
        pair.asset.clone(),
        pair.rfqs.to_string(),
        pair.notional_quoted.to_string(),
        pair.filled_notional.to_string(),
        pair.markup_earned.to_string(),
        pair.fills.to_string(),
    ]
}

/// One well-formed CSV table: a header and the rows, fields quoted by the
/// `csv` crate where they need it.
fn csv_table(columns: &[&str], rows: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(columns);
    for row in rows {
        let _ = writer.write_record(row);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

fn table(headings: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
    let mut widths: Vec<usize> = headings.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            if left.contains(&i) {
                let _ = write!(text, "{cell:<width$}", width = widths[i]);
            } else {
                let _ = write!(text, "{cell:>width$}", width = widths[i]);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut headings.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_takes_an_observed_value() {
        let values: Vec<u64> = (1..=20).map(|v| v * 10).collect();
        // n = 20: p50 → rank 10, p95 → rank 19, p99 → rank ceil(19.8) = 20.
        assert_eq!(nearest_rank(&values, 50), Some(100));
        assert_eq!(nearest_rank(&values, 95), Some(190));
        assert_eq!(nearest_rank(&values, 99), Some(200));
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[test]
    fn dates_and_times_are_utc_and_until_includes_its_day() {
        assert_eq!(parse_time("2026-11-22", false), Some(1_795_305_600_000));
        assert_eq!(
            parse_time("2026-11-22", true),
            Some(1_795_305_600_000 + 86_400_000)
        );
        assert_eq!(
            parse_time("2026-11-22T01:00:00", false),
            Some(1_795_305_600_000 + 3_600_000)
        );
        assert_eq!(
            parse_time("2026-11-22 01:00", true),
            Some(1_795_305_600_000 + 3_600_001)
        );
        assert_eq!(
            parse_time("2026-11-22T02:00:00+01:00", false),
            Some(1_795_305_600_000 + 3_600_000)
        );
        assert_eq!(parse_time("22/11/2026", false), None);
    }

    #[test]
    fn a_bad_filter_names_the_option_and_the_value() {
        let error = Filter::parse(Some("yesterday"), None, None, None, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid --since 'yesterday': must be a date like 2026-11-22 or a UTC time like 2026-11-22T14:30:00"
        );
        let error = Filter::parse(None, None, None, None, Some("0")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid --last '0': must be a whole number above 0"
        );
        let error =
            Filter::parse(Some("2026-11-23"), Some("2026-11-22"), None, None, None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--since 2026-11-23 is after --until 2026-11-22: nothing can match"
        );
        // The same day is that whole day.
        assert!(Filter::parse(Some("2026-11-22"), Some("2026-11-22"), None, None, None).is_ok());
        let filter = Filter::parse(None, None, Some("btc/usdt"), Some("LP2"), Some("5")).unwrap();
        assert_eq!(filter.pair.as_deref(), Some("BTCUSDT"));
        assert_eq!(filter.last, Some(5));
    }
}
