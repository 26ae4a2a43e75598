//! What a report is made of: the filter that selects its RFQs, the
//! figures it holds, and the few rules both sides use (ratios, nearest-rank
//! percentiles, the health section). `figures` computes these and
//! `report` loads and prints them; neither needs to import the other's
//! half.

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use rust_decimal::Decimal;
use serde::Serialize;

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
    pub(crate) since_ms: Option<i64>,
    /// RFQs started before this epoch ms.
    pub(crate) until_ms: Option<i64>,
    /// Pair symbol as stored, e.g. `BTCUSDT`.
    pub pair: Option<String>,
    /// Only this LP's row, and only RFQs that asked it.
    pub lp: Option<String>,
    /// Only the N most recent RFQs (after the other filters).
    pub last: Option<u32>,
    /// Only this client's RFQs (`--client`).
    pub client: Option<String>,
    /// Only RFQs this desk server operator asked (`--operator`).
    pub operator: Option<String>,
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
            client: None,
            operator: None,
        })
    }

    /// Only the RFQs of `client` (`--client NAME`), when given.
    pub fn for_client(self, client: Option<&str>) -> Result<Filter, FilterError> {
        let client = client
            .map(|text| {
                crate::rfq::ClientId::new(text.trim())
                    .map(|id| id.to_string())
                    .map_err(|_| FilterError::Invalid {
                        option: "--client",
                        value: text.to_string(),
                        problem: "must be a client id: 1 to 64 letters, digits, '-', '_' or '.'",
                    })
            })
            .transpose()?;
        Ok(Filter { client, ..self })
    }

    /// Only RFQs `operator` asked on a desk server (`--operator`); an
    /// empty name is refused by name.
    pub fn with_operator(mut self, operator: Option<&str>) -> Result<Filter, FilterError> {
        if let Some(text) = operator {
            let name = text.trim();
            if name.is_empty() {
                return Err(FilterError::Invalid {
                    option: "--operator",
                    value: text.to_string(),
                    problem: "must name an operator of the desk server's operators file",
                });
            }
            self.operator = Some(name.to_string());
        }
        Ok(self)
    }

    pub(super) fn is_empty(&self) -> bool {
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
    pub(crate) answer_rate: Option<Decimal>,
    pub(crate) timeouts: u64,
    pub(crate) declines: u64,
    pub(crate) unavailable: u64,
    pub(crate) malformed: u64,
    pub(crate) rate_limited: u64,
    pub(crate) invalid: u64,
    pub(crate) auth: u64,
    /// Nearest-rank percentiles of the valid answers' latency.
    pub(crate) latency_p50_ms: Option<u64>,
    pub(crate) latency_p95_ms: Option<u64>,
    pub(crate) latency_p99_ms: Option<u64>,
    /// `locked` events that went to this LP (any reason).
    pub(crate) locks_won: u64,
    /// Stream time holding the lock / duration of the RFQs that asked the
    /// LP, 4 decimals.
    pub(crate) lock_time_share: Option<Decimal>,
    /// Mean distance of its valid quotes from the best valid quote of the
    /// same poll, side-aware, in bps, 2 decimals.
    pub avg_distance_bps: Option<Decimal>,
    /// `locked` events with reason `improvement` that went to this LP.
    pub(crate) improvements: u64,
    /// `order_sent` events to this LP (every attempt, fallbacks included).
    pub(crate) orders: u64,
    /// `filled` events from this LP.
    pub(crate) fills: u64,
    /// fills / orders, 4 decimals; null without orders.
    pub(crate) fill_rate: Option<Decimal>,
    /// `order_rejected` events from this LP in a stream: its last look
    /// said no.
    pub(crate) last_look_rejects: u64,
    /// Orders the venue said later (asked at a start) it never executed:
    /// reconciled `order_rejected` rows. Not a last-look decision: the
    /// venue may never have seen the order.
    pub(crate) not_executed: u64,
    /// Orders to this LP still without an outcome (unknown, or never
    /// answered) until one is learned from the venue.
    pub(crate) unknown: u64,
    /// Nearest-rank percentiles of `hold_ms` over the LP's answered orders
    /// (rejected and filled; an unknown outcome has no hold time).
    pub(crate) hold_p50_ms: Option<u64>,
    pub(crate) hold_p99_ms: Option<u64>,
}

/// One RFQ's line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfqLine {
    pub rfq_id: String,
    pub(crate) started_at: String,
    pub side: String,
    pub(crate) amount: String,
    pub(crate) pair: String,
    /// Stream ms from start to `ended` (to the last stored event when the
    /// process died before `ended`).
    pub duration_ms: u64,
    pub(crate) final_lp: Option<String>,
    pub(crate) final_client_price: Option<String>,
    pub(crate) improvements: u64,
    /// null when the stream never ended (the process was killed).
    pub(crate) end_reason: Option<String>,
    /// `filled`, `not_filled`, `unknown`, `not_accepted`; null when the
    /// stream never ended.
    pub outcome: Option<String>,
    /// The LP that filled, and its price, as stored; null without a fill.
    pub(crate) filled_lp: Option<String>,
    pub(crate) filled_price: Option<String>,
    /// What the desk kept on the fill, in the quote currency, as stored.
    pub(crate) desk_pnl: Option<String>,
    /// Whom the request was for.
    pub client: String,
    /// Its last order's ids (null without an order): ours, the one the
    /// venue saw, the venue's own (from its latest answer), and the
    /// venue's quote reference it named.
    pub(crate) order_id: Option<String>,
    pub(crate) client_order_id: Option<String>,
    pub(crate) venue_order_id: Option<String>,
    pub(crate) venue_ref: Option<String>,
    /// How that order's outcome was learned from the venue after its
    /// stream (start-up reconciliation); null when the stream learned it.
    pub(crate) reconciled_by: Option<String>,
    /// The desk server operator who asked; left out for an RFQ of a
    /// desk in its operator's own process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) operator: Option<String>,
}

/// One client's figures in one quote currency: how often it asked, how
/// often it accepted and was filled, and what it traded and earned the
/// desk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientFigures {
    pub client: String,
    /// The quote currency of the pairs these RFQs were for.
    pub asset: String,
    pub rfqs: u64,
    /// RFQs whose client accepted a quote (an order went out).
    pub accepted: u64,
    pub fills: u64,
    /// Fills per accepted quote (`None` without any accepted).
    pub fill_ratio: Option<Decimal>,
    /// The client's leg of its fills (amount × accepted client price).
    pub filled_notional: Decimal,
    /// The desk's P&L on those fills: the markup it kept.
    pub markup_earned: Decimal,
}

/// One desk server operator's RFQs, per quote currency (sums in it, every
/// digit kept). Orders and fills are the operator's through their RFQ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorFigures {
    pub operator: String,
    /// The quote currency the sums are in.
    pub(crate) asset: String,
    pub rfqs: u64,
    /// RFQs that ended filled, not filled, and with an outcome still
    /// unknown (an order out that no answer settled).
    pub fills: u64,
    pub(crate) not_filled: u64,
    pub(crate) unknown: u64,
    /// Orders this operator accepted: an RFQ's order counts for whoever
    /// accepted it (an attached head of desk's accept of another's RFQ
    /// counts for them), not for the RFQ's operator.
    pub(crate) accepted: u64,
    /// Sum of amount × final client price over the RFQs that ended with a
    /// live quote.
    pub(crate) notional_quoted: Decimal,
    /// Sum of LP price × amount over the fills.
    pub(crate) filled_notional: Decimal,
    /// Sum of the fills' `desk_pnl`.
    pub(crate) markup_earned: Decimal,
}

/// One pair's volume over the listed RFQs. Sums are in the pair's quote
/// currency (`asset`) and keep every digit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairFigures {
    pub(crate) pair: String,
    /// The quote currency the sums are in.
    pub(crate) asset: String,
    /// RFQs of this pair.
    pub(crate) rfqs: u64,
    /// Sum of amount × final client price over the RFQs that ended with a
    /// live quote.
    pub(crate) notional_quoted: Decimal,
    /// Sum of LP price × amount over the fills.
    pub(crate) filled_notional: Decimal,
    /// Sum of the fills' `desk_pnl`: what the markup earned.
    pub(crate) markup_earned: Decimal,
    pub(crate) fills: u64,
}

/// The whole report: `{"lps":[...],"rfqs":[...],"pairs":[...],"totals":[...]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub lps: Vec<LpFigures>,
    /// The LPs that were simulations (mocks, scenarios) in some stored
    /// RFQ: their figures and fills are not real. Left out when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub simulated_lps: Vec<String>,
    pub rfqs: Vec<RfqLine>,
    /// One entry per pair of the listed RFQs, in order of first appearance.
    pub pairs: Vec<PairFigures>,
    /// The pairs summed per quote currency (one entry when every pair is
    /// quoted in the same currency), `pair` being `TOTAL`.
    pub totals: Vec<PairFigures>,
    /// Per client and quote currency, by client then currency.
    pub clients: Vec<ClientFigures>,
    /// Per LP with recorded health changes in the period (`--since`,
    /// `--until`, `--lp`; health is per LP, not per pair or RFQ): left out
    /// when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<LpHealthLine>,
    /// Per desk server operator and quote currency, by name: left out
    /// when no listed RFQ names an operator.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<OperatorFigures>,
}

/// One LP's health line: its recorded health figures and its last-look
/// reject rate over the listed RFQs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LpHealthLine {
    #[serde(flatten)]
    pub(crate) figures: super::health::HealthFigures,
    /// last_look_rejects / orders over the listed RFQs, 4 decimals; null
    /// without orders.
    pub(crate) reject_rate: Option<Decimal>,
}

/// The health section: recorded health per LP, with each LP's reject rate
/// from `lps`.
pub(super) fn health_lines(
    figures: Vec<super::health::HealthFigures>,
    lps: &[LpFigures],
) -> Vec<LpHealthLine> {
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
        let by = |name| Filter::default().with_operator(Some(name));
        assert_eq!(by(" alice ").unwrap().operator.as_deref(), Some("alice"));
        assert_eq!(
            by(" ").unwrap_err().to_string(),
            "invalid --operator ' ': must name an operator of the desk server's operators file"
        );
    }
}
