//! `lp-rfq report`: LP performance and an RFQ list computed from the
//! blotter, as an aligned table, CSV or one JSON object. Figures are
//! computed by `figures` from the stored rows; the definitions are in
//! docs/blotter.md ("Blotter and report") and on the fields of the
//! report's types (`report_model`, re-exported here).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::Connection;
use rust_decimal::Decimal;

pub use super::figures::Answers;
use super::figures::Split;
use super::read::ReadError;
pub use super::report_model::{
    nearest_rank, ClientFigures, Filter, FilterError, LpFigures, LpHealthLine, OperatorFigures,
    PairFigures, Report, RfqLine,
};
use super::report_rows::ReportRows;
use super::sqlite_rows::SqliteRows;
use super::BlotterError;

/// Which table `--csv` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Section {
    #[default]
    Lps,
    Rfqs,
    Pairs,
    Health,
    Clients,
    Operators,
}

impl FromStr for Section {
    type Err = FilterError;
    fn from_str(text: &str) -> Result<Section, FilterError> {
        match text.trim() {
            "lps" => Ok(Section::Lps),
            "rfqs" => Ok(Section::Rfqs),
            "pairs" => Ok(Section::Pairs),
            "health" => Ok(Section::Health),
            "clients" => Ok(Section::Clients),
            "operators" => Ok(Section::Operators),
            _ => Err(FilterError::Invalid {
                option: "--section",
                value: text.to_string(),
                problem: "must be lps, rfqs, pairs, clients, health or operators",
            }),
        }
    }
}

/// Set to `1`, the report counts every RFQ from its answers, as before
/// `answer_summaries`: the same figures, slower; for checking a summary
/// (the tests compare both ways) or timing the scan.
pub const SCAN_ENV: &str = "LP_RFQ_REPORT_SCAN";

/// Summaries where the writer left them, unless [`SCAN_ENV`] says scan.
fn answers_from() -> Answers {
    match std::env::var_os(SCAN_ENV) {
        Some(value) if value == "1" => Answers::Scan,
        _ => Answers::Summaries,
    }
}

/// Opens the blotter for reading; never creates or changes a file (see
/// `read::open_read_only`).
pub fn open(path: &Path) -> Result<Connection, ReadError> {
    super::read::open_read_only(path)
}

/// Reads the blotter at `path` and computes the report. An `--lp` that
/// no stored RFQ asked is an error naming the LPs that were.
pub fn load(path: &Path, filter: &Filter) -> Result<Report, ReadError> {
    load_split(path, filter, None)
}

/// Reads the blotter `at` (a file or a PostgreSQL database) and computes
/// the report, of desk `desk`'s RFQs and health rows only if given.
pub fn load_at(
    at: &super::BlotterAt,
    filter: &Filter,
    desk: Option<&str>,
) -> Result<Report, ReadError> {
    match at {
        super::BlotterAt::File(path) => load_split_of(path, filter, None, desk, answers_from()),
        super::BlotterAt::Postgres(url) => {
            super::postgres::off_runtime(|| load_postgres(url, filter, desk, None))
        }
    }
}

/// The report of the PostgreSQL blotter at `url` (see [`load_at`]), its
/// answers pass split as [`load_split`]'s.
pub fn load_postgres(
    url: &super::postgres::PgUrl,
    filter: &Filter,
    desk: Option<&str>,
    workers: Option<usize>,
) -> Result<Report, ReadError> {
    load_postgres_from(url, filter, desk, workers, answers_from())
}

/// [`load_postgres`] taking the ended RFQs' answers `from` their
/// summaries or their answers (the same report, which the tests check).
pub fn load_postgres_from(
    url: &super::postgres::PgUrl,
    filter: &Filter,
    desk: Option<&str>,
    workers: Option<usize>,
    from: Answers,
) -> Result<Report, ReadError> {
    use super::postgres::{describe, schema, PgRows};
    let name = || PathBuf::from(url.to_string());
    let cannot = |detail: String| {
        ReadError::Blotter(BlotterError::Database {
            url: url.to_string(),
            detail,
        })
    };
    let mut client = url.connect().map_err(|error| cannot(describe(&error)))?;
    match schema::version(&mut client).map_err(|error| cannot(describe(&error)))? {
        0 => return Err(BlotterError::Missing { path: name() }.into()),
        found if found > schema::LATEST => {
            return Err(BlotterError::TooNew {
                path: name(),
                found,
                supported: schema::LATEST,
            }
            .into())
        }
        _ => {}
    }
    let mut rows = PgRows::new(client, url, desk.map(str::to_string));
    if let Some(lp) = &filter.lp {
        let seen = rows
            .lps_asked()
            .map_err(|error| cannot(error.to_string()))?;
        if !seen.contains(lp) {
            return Err(ReadError::UnknownLp {
                lp: lp.clone(),
                path: name(),
                seen,
            });
        }
    }
    let split = match workers {
        None => Split::PerCore,
        Some(workers) => Split::Exactly(workers),
    };
    super::figures::build(&mut rows, filter, split, from).map_err(|error| cannot(error.to_string()))
}

/// [`load`] with the answers pass split among exactly `workers` threads
/// (when the file can be opened more than once): the same report as one
/// thread gives, which the tests check. `None`: one per core.
pub fn load_split(
    path: &Path,
    filter: &Filter,
    workers: Option<usize>,
) -> Result<Report, ReadError> {
    load_split_of(path, filter, workers, None, answers_from())
}

/// [`load_split`] taking the ended RFQs' answers `from` their summaries
/// or their answers (the same report, which the tests check).
pub fn load_split_from(
    path: &Path,
    filter: &Filter,
    workers: Option<usize>,
    from: Answers,
) -> Result<Report, ReadError> {
    load_split_of(path, filter, workers, None, from)
}

/// [`load_split`] of desk `desk`'s RFQs and health rows only, if given.
fn load_split_of(
    path: &Path,
    filter: &Filter,
    workers: Option<usize>,
    desk: Option<&str>,
    from: Answers,
) -> Result<Report, ReadError> {
    let (conn, reads) = super::read::open_for_reading(path)?;
    let read = |source| BlotterError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut rows = match reads {
        super::read::Reads::TheFile => SqliteRows::of_file(&conn, path),
        super::read::Reads::AnUpgradedCopy => SqliteRows::alone(&conn),
    }
    .of_desk(desk);
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
    Ok(super::figures::build(&mut rows, filter, split, from).map_err(read)?)
}

/// Computes the report from an open blotter (one pass over each table:
/// see `super::figures`), on this connection alone.
pub fn build(conn: &Connection, filter: &Filter) -> rusqlite::Result<Report> {
    super::figures::build(
        &mut SqliteRows::alone(conn),
        filter,
        Split::Alone,
        answers_from(),
    )
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
                Section::Clients => (
                    &CLIENT_COLUMNS,
                    report
                        .clients
                        .iter()
                        .map(|c| client_cells(c, opt))
                        .collect(),
                ),
                Section::Health => (
                    &HEALTH_COLUMNS,
                    report.health.iter().map(|h| health_row(h, false)).collect(),
                ),
                Section::Operators => (
                    &OPERATOR_COLUMNS,
                    report.operators.iter().map(operator_cells).collect(),
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
            // A simulated LP's name says so wherever the table shows it.
            let mark = |name: &mut String| {
                if report.simulated_lps.contains(name) {
                    name.push_str(" (simulated)");
                }
            };
            let lp_rows: Vec<Vec<String>> = report
                .lps
                .iter()
                .map(|lp| {
                    let mut cells = lp_cells(lp);
                    mark(&mut cells[0]);
                    cells
                })
                .collect();
            let rfq_rows: Vec<Vec<String>> = report
                .rfqs
                .iter()
                .map(|rfq| {
                    let mut cells = rfq_cells(rfq);
                    for lp in [RFQ_FINAL_LP, RFQ_FILLED_LP] {
                        mark(&mut cells[lp]);
                    }
                    cells
                })
                .collect();
            let shown_dp = quote_precisions(&report.pairs);
            let pair_rows: Vec<Vec<String>> = report
                .pairs
                .iter()
                .chain(&report.totals)
                .map(|pair| shown_pair_cells(pair, &shown_dp))
                .collect();
            let mut out = String::from("LPs\n");
            out += &table(&LP_HEADINGS, &lp_rows, LP_LEFT);
            out += "\nRFQs\n";
            out += &table(&RFQ_HEADINGS, &rfq_rows, RFQ_LEFT);
            out += "\nPairs (sums in the quote currency, CCY)\n";
            out += &table(&PAIR_HEADINGS, &pair_rows, PAIR_LEFT);
            let client_rows: Vec<Vec<String>> = report
                .clients
                .iter()
                .map(|c| shown_client_cells(c, &shown_dp))
                .collect();
            out += "\nClients (sums in the quote currency, CCY)\n";
            out += &table(&CLIENT_HEADINGS, &client_rows, CLIENT_LEFT);
            if !report.health.is_empty() {
                let rows: Vec<Vec<String>> =
                    report.health.iter().map(|h| health_row(h, true)).collect();
                out += "\nLP health (recorded changes in the period)\n";
                out += &table(&HEALTH_HEADINGS, &rows, &[0]);
            }
            if !report.operators.is_empty() {
                let rows: Vec<Vec<String>> = report
                    .operators
                    .iter()
                    .map(|figures| shown_operator_cells(figures, &shown_dp))
                    .collect();
                out += "\nOperators (desk server; sums in the quote currency, CCY)\n";
                out += &table(&OPERATOR_HEADINGS, &rows, &[0, 1]);
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
const LP_COLUMNS: [&str; 26] = [
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
    "not_executed",
    "unknown",
    "hold_p50_ms",
    "hold_p99_ms",
];
/// Table headings: units where a column has one; rates in percent.
const LP_HEADINGS: [&str; 26] = [
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
    "NOT EXEC",
    "UNKNOWN",
    "HOLD P50 ms",
    "HOLD P99 ms",
];
/// Columns aligned left (text); the rest are numbers, aligned right.
const LP_LEFT: &[usize] = &[0];
const CLIENT_COLUMNS: [&str; 8] = [
    "client",
    "asset",
    "rfqs",
    "accepted",
    "fills",
    "fill_ratio",
    "filled_notional",
    "markup_earned",
];
const CLIENT_HEADINGS: [&str; 8] = [
    "CLIENT",
    "CCY",
    "RFQS",
    "ACCEPTED",
    "FILLS",
    "FILL %",
    "FILLED",
    "MARKUP EARNED",
];
const CLIENT_LEFT: &[usize] = &[0, 1];

/// A client's row; `ratio` writes its fill ratio (a fraction for CSV).
fn client_cells(
    client: &ClientFigures,
    ratio: impl Fn(&Option<rust_decimal::Decimal>) -> String,
) -> Vec<String> {
    vec![
        client.client.clone(),
        client.asset.clone(),
        client.rfqs.to_string(),
        client.accepted.to_string(),
        client.fills.to_string(),
        ratio(&client.fill_ratio),
        client.filled_notional.to_string(),
        client.markup_earned.to_string(),
    ]
}

/// A client's row in the table: the fill ratio in percent, its money at
/// its currency's precision (as the pairs section shows it).
fn shown_client_cells(
    client: &ClientFigures,
    precisions: &std::collections::HashMap<String, u32>,
) -> Vec<String> {
    let mut cells = client_cells(client, percent);
    if let Some(&dp) = precisions.get(&client.asset) {
        let money = |value: rust_decimal::Decimal| {
            let mut shown = value
                .round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            shown.rescale(dp);
            shown.to_string()
        };
        cells[6] = money(client.filled_notional);
        cells[7] = money(client.markup_earned);
    }
    cells
}

const RFQ_COLUMNS: [&str; 15] = [
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
    "client",
];
const RFQ_HEADINGS: [&str; 15] = [
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
    "CLIENT",
];
const RFQ_LEFT: &[usize] = &[0, 1, 2, 4, 6, 9, 10, 11, 14];
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
        lp.not_executed.to_string(),
        lp.unknown.to_string(),
        opt(&lp.hold_p50_ms),
        opt(&lp.hold_p99_ms),
    ]
}

/// Where `rfq_cells` puts the final quote's LP and the filling LP.
const RFQ_FINAL_LP: usize = 6;
const RFQ_FILLED_LP: usize = 11;

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
        rfq.client.clone(),
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

/// The operators section's CSV headers (JSON field names) and table
/// headings.
const OPERATOR_COLUMNS: [&str; 10] = [
    "operator",
    "asset",
    "rfqs",
    "fills",
    "not_filled",
    "unknown",
    "accepted",
    "notional_quoted",
    "filled_notional",
    "markup_earned",
];
const OPERATOR_HEADINGS: [&str; 10] = [
    "OPERATOR",
    "CCY",
    "RFQS",
    "FILLS",
    "NOT FILLED",
    "UNKNOWN",
    "ACCEPTED",
    "NOTIONAL QUOTED",
    "FILLED NOTIONAL",
    "MARKUP EARNED",
];

fn operator_cells(figures: &OperatorFigures) -> Vec<String> {
    vec![
        figures.operator.clone(),
        figures.asset.clone(),
        figures.rfqs.to_string(),
        figures.fills.to_string(),
        figures.not_filled.to_string(),
        figures.unknown.to_string(),
        figures.accepted.to_string(),
        figures.notional_quoted.to_string(),
        figures.filled_notional.to_string(),
        figures.markup_earned.to_string(),
    ]
}

/// An operator's row in the table: money at its currency's precision, as
/// the pairs section shows it.
fn shown_operator_cells(
    figures: &OperatorFigures,
    precisions: &std::collections::HashMap<String, u32>,
) -> Vec<String> {
    let mut cells = operator_cells(figures);
    if let Some(&dp) = precisions.get(&figures.asset) {
        let money = |value: Decimal| {
            let mut shown = value
                .round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            shown.rescale(dp);
            shown.to_string()
        };
        cells[7] = money(figures.notional_quoted);
        cells[8] = money(figures.filled_notional);
        cells[9] = money(figures.markup_earned);
    }
    cells
}

/// Each quote currency's precision for the table: the finest price
/// precision of its pairs (USDT's 2 for BTCUSDT), so that TOTAL rows are
/// shown like their pairs.
fn quote_precisions(pairs: &[PairFigures]) -> std::collections::HashMap<String, u32> {
    let mut precisions = std::collections::HashMap::new();
    for figures in pairs {
        if let Ok(pair) = figures.pair.parse::<crate::market::Pair>() {
            let dp = precisions.entry(figures.asset.clone()).or_insert(0);
            *dp = (*dp).max(pair.price_dp);
        }
    }
    precisions
}

/// A pair's row in the table: its money at its quote currency's precision,
/// as a person reads money (JSON and CSV keep every digit of the sums).
fn shown_pair_cells(
    pair: &PairFigures,
    precisions: &std::collections::HashMap<String, u32>,
) -> Vec<String> {
    let Some(&dp) = precisions.get(&pair.asset) else {
        return pair_cells(pair);
    };
    let money = |value: rust_decimal::Decimal| {
        let mut shown =
            value.round_dp_with_strategy(dp, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        shown.rescale(dp);
        shown.to_string()
    };
    vec![
        pair.pair.clone(),
        pair.asset.clone(),
        pair.rfqs.to_string(),
        money(pair.notional_quoted),
        money(pair.filled_notional),
        money(pair.markup_earned),
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

pub(crate) fn table(headings: &[&str], rows: &[Vec<String>], left: &[usize]) -> String {
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
