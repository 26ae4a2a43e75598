//! Start-up reconciliation: every order the blotter holds without an
//! outcome (timed out unknown, or sent by a process that died) is looked
//! up with its venue once the venues are connected, and what the venue
//! says is appended to the blotter through its store
//! (`blotter::store::OrderRecords`). An order its venue cannot settle now
//! stays open, listed by `lp-rfq orders --unresolved`, and is asked about
//! again at the next start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::blotter::orders::{Learned, OrderOnRecord};
use crate::blotter::store::OrderRecords;
use crate::desk::registry::LpRegistry;
use crate::lp::{OrderAnswer, OrderLookup};

/// How long after an order's own wait (its LP's order timeout, as the
/// engine waits for it) the process that sent it may still take to
/// commit the `execution_unknown` it then records: the writer commits
/// every 100 ms, but may be retrying a busy file.
pub const RECORD_MARGIN: Duration = Duration::from_secs(5);

/// Whether `order` may be asked about now, at `now_ms` (UTC): its RFQ
/// ended, or the process that sent it gave up on it (`unknown`), or it
/// never got an answer and is older than its wait (`order_wait_ms`) plus
/// [`RECORD_MARGIN`], so whatever sent it is gone (killed, crashed). A
/// younger order of a running RFQ is still that process's to settle.
pub fn may_ask(order: &OrderOnRecord, order_wait_ms: u64, now_ms: i64) -> bool {
    let settled_by = order
        .sent_ms
        .saturating_add(order_wait_ms.saturating_add(RECORD_MARGIN.as_millis() as u64) as i64);
    order.rfq_ended || order.outcome.as_deref() == Some("unknown") || now_ms >= settled_by
}

/// How long one venue may take to answer one look-up, whatever its
/// adapter's own limits.
const LOOKUP_LIMIT: Duration = Duration::from_secs(15);

/// What start-up reconciliation found and did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reconciled {
    pub found: usize,
    pub filled: usize,
    pub not_executed: usize,
    /// Orders still without an outcome, with why (by order id).
    pub still_open: Vec<(String, String)>,
    /// How each venue was asked that settled an order, by LP name.
    pub asked: BTreeMap<String, String>,
}

impl Reconciled {
    /// The one line start-up prints.
    pub fn line(&self) -> String {
        let mut line = format!(
            "{} order{} without an outcome on record: {} filled, {} not executed, {} still open",
            self.found,
            if self.found == 1 { "" } else { "s" },
            self.filled,
            self.not_executed,
            self.still_open.len()
        );
        if !self.asked.is_empty() {
            let asked: Vec<String> = self
                .asked
                .iter()
                .map(|(lp, how)| format!("{lp} by {how}"))
                .collect();
            line.push_str(&format!(" (asked {})", asked.join(", ")));
        }
        if !self.still_open.is_empty() {
            let open: Vec<String> = self
                .still_open
                .iter()
                .map(|(order, why)| format!("{order}: {why}"))
                .collect();
            line.push_str(&format!(
                "; still open: {} (lp-rfq orders --unresolved lists them)",
                open.join("; ")
            ));
        }
        line
    }
}

/// Looks every order without an outcome up with its venue and appends
/// what is learned to `records`. An order without an LP wait of its own
/// waits `default_order_wait_ms` (ORDER_TIMEOUT_MS). `None` when there
/// was nothing to look up; the error says why the records could not be
/// read or written.
pub(crate) async fn reconcile(
    records: &mut dyn OrderRecords,
    registry: &LpRegistry,
    default_order_wait_ms: u64,
) -> Result<Option<Reconciled>, String> {
    let open = records.unresolved().map_err(|e| e.to_string())?;
    if open.is_empty() {
        return Ok(None);
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut done = Reconciled {
        found: open.len(),
        ..Reconciled::default()
    };
    for order in &open {
        let Some(lp) = registry.venue_named(&order.lp) else {
            done.still_open.push((
                order.order_id.clone(),
                format!("no venue named '{}' is configured to ask", order.lp),
            ));
            continue;
        };
        let order_wait_ms = lp.order_timeout_ms().unwrap_or(default_order_wait_ms);
        if !may_ask(order, order_wait_ms, now_ms) {
            done.still_open.push((
                order.order_id.clone(),
                "its RFQ is still running".to_string(),
            ));
            continue;
        }
        let Some(how) = lp.order_lookup() else {
            done.still_open.push((
                order.order_id.clone(),
                format!("{} cannot be asked for an order's status", order.lp),
            ));
            continue;
        };
        let Some(lookup) = lookup_of(order) else {
            done.still_open.push((
                order.order_id.clone(),
                format!(
                    "its pair '{}' or side '{}' cannot be read",
                    order.pair, order.side
                ),
            ));
            continue;
        };
        let answer = match tokio::time::timeout(LOOKUP_LIMIT, lp.order_status(&lookup)).await {
            Ok(answer) => answer,
            Err(_) => OrderAnswer::Unknown {
                reason: format!("no answer within {} s", LOOKUP_LIMIT.as_secs()),
            },
        };
        let learned = match answer {
            OrderAnswer::Filled {
                price,
                venue_order_id,
                ..
            } => Learned::Filled {
                price,
                venue_order_id,
            },
            OrderAnswer::Rejected { reason } => Learned::NotExecuted { reason },
            OrderAnswer::Unknown { reason } | OrderAnswer::Refused { reason, .. } => {
                done.still_open
                    .push((order.order_id.clone(), format!("{}: {reason}", order.lp)));
                continue;
            }
        };
        let reconciled_by = format!("{} {how} at start-up", order.lp);
        let at_ms = chrono::Utc::now().timestamp_millis();
        match records.append_outcome(order, &learned, &reconciled_by, at_ms) {
            Ok(true) => {
                match learned {
                    Learned::Filled { .. } => done.filled += 1,
                    Learned::NotExecuted { .. } => done.not_executed += 1,
                }
                done.asked.insert(order.lp.clone(), how.to_string());
            }
            Ok(false) => done.found -= 1,
            Err(error) => return Err(error.to_string()),
        }
        tracing::info!(order = %order.order_id, lp = %order.lp, ?learned, "order reconciled with its venue");
    }
    Ok(Some(done))
}

/// The order as its venue can be asked about it.
fn lookup_of(order: &OrderOnRecord) -> Option<OrderLookup> {
    let shared = |text: &Option<String>| text.as_deref().map(Arc::from);
    Some(OrderLookup {
        order_id: Arc::from(order.order_id.as_str()),
        client_order_id: shared(&order.client_order_id),
        venue_order_id: shared(&order.venue_order_id),
        venue_ref: shared(&order.venue_ref),
        side: order.side.parse().ok()?,
        pair: order.pair.parse().ok()?,
        amount: order.amount,
        price: order.price,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn order(outcome: Option<&str>, rfq_ended: bool) -> OrderOnRecord {
        OrderOnRecord {
            rfq_row: 1,
            rfq_id: "R1".into(),
            lp: "B2C2".into(),
            pair: "BTCUSDT".into(),
            side: "buy".into(),
            amount: dec!(1),
            price: dec!(100010.00),
            order_id: "O1".into(),
            quote_id: "Q1".into(),
            venue_ref: None,
            client_order_id: None,
            venue_order_id: None,
            sent_at: "2026-01-19T14:30:25.123Z".into(),
            sent_ms: 1_000_000,
            outcome: outcome.map(String::from),
            reason: None,
            fill_price: None,
            reconciled_by: None,
            rfq_ended,
            operator: None,
            accepted_by: None,
        }
    }

    #[test]
    fn an_unanswered_order_of_a_running_rfq_is_asked_about_once_its_wait_and_margin_are_past() {
        // Sent at 1 000 000 with a 1 500 ms wait: its process may still
        // record its outcome until 1 006 500 (5 s margin).
        let out = order(None, false);
        assert!(!may_ask(&out, 1_500, 1_006_499));
        assert!(may_ask(&out, 1_500, 1_006_500));
        // An order its process gave up on, or whose RFQ ended, at once.
        assert!(may_ask(&order(Some("unknown"), false), 1_500, 1_000_001));
        assert!(may_ask(&order(None, true), 1_500, 1_000_001));
    }
}
