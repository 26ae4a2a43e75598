//! Start-up reconciliation: every order the blotter holds without an
//! outcome (timed out unknown, or sent by a process that died) is looked
//! up with its venue once the venues are connected, and what the venue
//! says is appended to the blotter (`blotter::orders`). An order its
//! venue cannot settle now stays open, listed by `lp-rfq orders
//! --unresolved`, and is asked about again at the next start.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::blotter::orders::{self, Learned, OrderOnRecord};
use crate::blotter::schema;
use crate::desk::registry::LpRegistry;
use crate::lp::{OrderAnswer, OrderLookup};

/// An order of an RFQ that has not ended is left to the process running
/// it until it is this old: no order waits for its outcome this long (an
/// adapter's order time is seconds), so an older one's process has died.
pub const UNENDED_ORDER_AGE: Duration = Duration::from_secs(60);

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
/// what is learned. `None` when there was nothing to look up.
pub(crate) async fn reconcile(
    blotter: &Path,
    registry: &LpRegistry,
) -> Result<Option<Reconciled>, String> {
    let cannot = |error: &dyn std::fmt::Display| {
        format!(
            "cannot reconcile orders in the blotter '{}': {error}",
            blotter.display()
        )
    };
    let mut conn = schema::open(blotter, false, schema::BUSY_TIMEOUT).map_err(|e| cannot(&e))?;
    let open = orders::unresolved(&conn).map_err(|e| cannot(&e))?;
    if open.is_empty() {
        return Ok(None);
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut done = Reconciled {
        found: open.len(),
        ..Reconciled::default()
    };
    for order in &open {
        if !order.rfq_ended && now_ms - order.sent_ms < UNENDED_ORDER_AGE.as_millis() as i64 {
            done.still_open.push((
                order.order_id.clone(),
                "its RFQ is still running".to_string(),
            ));
            continue;
        }
        let Some(lp) = registry.venue_named(&order.lp) else {
            done.still_open.push((
                order.order_id.clone(),
                format!("no venue named '{}' is configured to ask", order.lp),
            ));
            continue;
        };
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
        match orders::append_outcome(&mut conn, order, &learned, &reconciled_by, at_ms) {
            Ok(true) => {
                match learned {
                    Learned::Filled { .. } => done.filled += 1,
                    Learned::NotExecuted { .. } => done.not_executed += 1,
                }
                done.asked.insert(order.lp.clone(), how.to_string());
            }
            Ok(false) => done.found -= 1,
            Err(error) => return Err(cannot(&error)),
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
