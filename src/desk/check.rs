//! `lp-rfq lps`: the desk's configured LPs, and with `--check` a probe
//! quote from each, to tell at once whether an LP is reachable, accepts
//! the desk's credentials and how fast it answers. This is what a desk runs
//! first when it adds an LP.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::StreamClock;
use crate::lp::{LpError, LpRequest, SharedLp};
use crate::market::Side;
use crate::rfq::RfqSpec;

/// One LP's line in the `--check` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckRow {
    pub lp: String,
    pub kind: String,
    /// The venue answered at all.
    pub(crate) reachable: bool,
    /// `Some(false)` when it refused our credentials; `None` when it could
    /// not be told (unreachable).
    pub(crate) auth_ok: Option<bool>,
    pub(crate) latency_ms: u64,
    /// What went wrong, if anything (a decline counts as reachable).
    pub error: Option<String>,
}

impl CheckRow {
    /// A probe quote came back.
    pub(crate) fn ok(&self) -> bool {
        self.reachable && self.auth_ok == Some(true) && self.error.is_none()
    }
}

/// Asks each LP (with its kind label) for a firm quote for `spec`, all at
/// once, each under its own timeout (its own, else `default_timeout_ms`).
pub(crate) async fn check(
    lps: &[(SharedLp, String)],
    spec: RfqSpec,
    default_timeout_ms: u64,
) -> Vec<CheckRow> {
    let clock = StreamClock::start();
    let probes = lps.iter().map(|(lp, kind)| {
        let lp = lp.clone();
        let kind = kind.clone();
        async move {
            let request = LpRequest {
                request_id: crate::lp::next_request_id(),
                rfq_id: Arc::from("lps-check"),
                side: spec.side,
                pair: spec.pair,
                amount: spec.amount,
                sent_ms: clock.now_ms(),
                clock,
                fixed: spec.fixed,
            };
            let request_id = request.request_id;
            let timeout = lp.timeout_ms().unwrap_or(default_timeout_ms);
            let started = tokio::time::Instant::now();
            let answer = {
                let lp = lp.clone();
                // Its own task, as in a stream: a panicking adapter is a
                // failed check, not a crashed command.
                let mut task = tokio::spawn(async move { lp.quote(&request).await });
                let answer = tokio::time::timeout(Duration::from_millis(timeout), &mut task).await;
                // Given up at its deadline, as a stream does: the LP's
                // health learns of the timeout now, not whenever it ends.
                task.abort();
                answer
            };
            let latency_ms = started.elapsed().as_millis() as u64;
            let (reachable, auth_ok, error) = match answer {
                // A quote is judged as a stream would judge it: an LP that
                // answers the wrong side or off the tick fails its check.
                Ok(Ok(Ok(quote))) => {
                    let expected = crate::rfq::validate::Expected {
                        lp: lp.name(),
                        request_id,
                        side: spec.side,
                        pair: &spec.pair,
                        amount: spec.amount,
                        fixed: spec.fixed,
                        validity_buffer_ms: 0,
                    };
                    let defect =
                        crate::rfq::validate::validate_quote(&quote, &expected, clock.now_ms())
                            .map_err(|defect| defect.to_string())
                            .and_then(|()| {
                                crate::rfq::sanity::check_price(
                                    quote.price,
                                    spec.pair.price_dp,
                                    None,
                                )
                                .map_err(|defect| defect.to_string())
                            })
                            .err();
                    (
                        true,
                        Some(true),
                        defect.map(|defect| format!("invalid quote: {defect}")),
                    )
                }
                Ok(Ok(Err(error))) => match &error {
                    LpError::Auth(_) => (true, Some(false), Some(error.to_string())),
                    LpError::Unavailable(_) => (false, None, Some(error.to_string())),
                    LpError::Declined(_) | LpError::Malformed(_) | LpError::RateLimited { .. } => {
                        (true, Some(true), Some(error.to_string()))
                    }
                    // Held back by the LP's health: it was not asked.
                    LpError::NotSent(_) => (false, None, Some(error.to_string())),
                },
                Ok(Err(_)) => (false, None, Some("the adapter panicked".to_string())),
                Err(_) => (false, None, Some(format!("no answer within {timeout} ms"))),
            };
            CheckRow {
                lp: lp.name().to_string(),
                kind,
                reachable,
                auth_ok,
                latency_ms,
                error,
            }
        }
    });
    futures::future::join_all(probes).await
}

/// The check as an aligned table.
pub fn render(rows: &[CheckRow], spec: &RfqSpec) -> String {
    let mut text = format!(
        "Probe: a firm quote for a client {} of {} {}\n",
        match spec.side {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        },
        spec.amount,
        spec.pair
    );
    let width = rows.iter().map(|r| r.lp.len()).max().unwrap_or(2).max(2);
    let _ = writeln!(
        text,
        "{:<width$}  {:<16} {:<9} {:<7} {:>8}  error",
        "LP", "kind", "reachable", "auth", "latency"
    );
    for row in rows {
        let _ = writeln!(
            text,
            "{:<width$}  {:<16} {:<9} {:<7} {:>6}ms  {}",
            row.lp,
            row.kind,
            if row.reachable { "yes" } else { "no" },
            match row.auth_ok {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "?",
            },
            row.latency_ms,
            row.error.as_deref().unwrap_or("-"),
        );
    }
    text
}
