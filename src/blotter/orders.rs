//! Orders on record and their outcomes, as any store gives them: an order
//! with its latest answer ([`OrderOnRecord`]), what a venue said of one
//! later ([`Learned`]), and how `lp-rfq orders` shows them. A store reads
//! them and appends learned outcomes through
//! [`super::store::OrderRecords`] (SQLite's is `sqlite_orders`): a new
//! `filled` or `order_rejected` row tagged with how and when it was
//! learned (`reconciled_by`, `reconciled_at`). The earlier rows are never
//! changed: the record keeps what was known at the time.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::market::{Pair, Side};
use crate::rfq::execution::Accepted;

/// An order as the blotter holds it, with its latest answer.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderOnRecord {
    /// The RFQ's row in `rfqs` (RFQ ids may repeat across processes).
    pub(crate) rfq_row: i64,
    pub rfq_id: String,
    pub lp: String,
    pub pair: String,
    pub side: String,
    pub amount: Decimal,
    /// The LP price the order named.
    pub price: Decimal,
    pub order_id: String,
    pub quote_id: String,
    /// The venue's quote reference the order named.
    pub venue_ref: Option<String>,
    /// The id the venue saw for the order, if it takes one.
    pub client_order_id: Option<String>,
    /// The venue's own id for the order, from its latest answer.
    pub venue_order_id: Option<String>,
    /// When it was sent (UTC, ISO 8601) and in epoch ms.
    pub sent_at: String,
    pub sent_ms: i64,
    /// `filled`, `rejected`, `unknown`, or `None`: never answered.
    pub outcome: Option<String>,
    /// The latest answer's reason (a reject's, an unknown's).
    pub reason: Option<String>,
    pub fill_price: Option<Decimal>,
    /// How the outcome was learned after the stream, if it was.
    pub reconciled_by: Option<String>,
    /// Whether its RFQ has ended (a running one's order may still be
    /// answered by the process that sent it).
    pub(crate) rfq_ended: bool,
    /// The desk server operator whose RFQ it is, if any.
    pub operator: Option<String>,
    /// The desk server operator whose accept sent it, when recorded
    /// (a head of desk attached to another's RFQ); else the RFQ's.
    pub accepted_by: Option<String>,
}

impl OrderOnRecord {
    /// Still without an outcome: unknown, or never answered.
    pub fn unresolved(&self) -> bool {
        matches!(self.outcome.as_deref(), None | Some("unknown"))
    }
}

/// What the venue said became of an order.
#[derive(Debug, Clone, PartialEq)]
pub enum Learned {
    /// It traded at `price` (the venue's id for it, if given).
    Filled {
        price: Decimal,
        venue_order_id: Option<Arc<str>>,
    },
    /// It never traded (rejected, cancelled, or the venue never saw it).
    NotExecuted { reason: String },
}

/// The accepted client quote behind `order`, to price the desk's side of
/// a fill learned later; `None` when its row cannot be read back.
pub(crate) fn accepted_of(
    order: &OrderOnRecord,
    (client_price, client_pays, pays_asset, client_receives, receives_asset): &(
        String,
        String,
        String,
        String,
        String,
    ),
) -> Option<Accepted> {
    let pair: Pair = order.pair.parse().ok()?;
    let side: Side = order.side.parse().ok()?;
    let asset = |code: &str| {
        if code == pair.base.as_str() {
            Some(pair.base)
        } else if code == pair.quote.as_str() {
            Some(pair.quote)
        } else {
            None
        }
    };
    Some(Accepted {
        quote_id: Arc::from(order.quote_id.as_str()),
        side,
        amount: order.amount,
        client_price: client_price.parse().ok()?,
        client_pays: client_pays.parse().ok()?,
        pays_asset: asset(pays_asset)?,
        client_receives: client_receives.parse().ok()?,
        receives_asset: asset(receives_asset)?,
        price_dp: pair.price_dp,
        // An outcome learned later carries the LP's price only, so its
        // margin is figured as for a base amount.
        fixed: crate::market::Leg::Base,
    })
}

/// How long ago `sent_ms` was, at `now_ms`: `45s`, `12m 5s`, `3h 20m`,
/// `2d 4h`.
pub fn age(sent_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - sent_ms).max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The orders as a table (`lp-rfq orders`), ages at `now_ms`.
pub fn table(orders: &[OrderOnRecord], now_ms: i64) -> String {
    let headings = [
        "RFQ",
        "LP",
        "PAIR",
        "SIDE",
        "AMOUNT",
        "PRICE",
        "CLIENT ORDER ID",
        "VENUE ORDER ID",
        "AGE",
        "OUTCOME",
    ];
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|order| {
            vec![
                order.rfq_id.clone(),
                order.lp.clone(),
                order.pair.clone(),
                order.side.clone(),
                order.amount.to_string(),
                order.price.to_string(),
                order.client_order_id.clone().unwrap_or_else(|| "-".into()),
                order.venue_order_id.clone().unwrap_or_else(|| "-".into()),
                age(order.sent_ms, now_ms),
                outcome_text(order),
            ]
        })
        .collect();
    super::report::table(&headings, &rows, &[0, 1, 2, 3, 6, 7, 9])
}

/// `filled at 100010.00`, `rejected`, `unknown`, `no answer`, with
/// `(reconciled)` when the venue was asked later.
fn outcome_text(order: &OrderOnRecord) -> String {
    let mut text = match (order.outcome.as_deref(), order.fill_price) {
        (Some("filled"), Some(price)) => format!("filled at {price}"),
        (Some(outcome), _) => outcome.to_string(),
        (None, _) => "no answer".to_string(),
    };
    if order.reconciled_by.is_some() {
        text.push_str(" (reconciled)");
    }
    text
}

/// One order as a JSON object (`lp-rfq orders --json`): decimals as
/// strings, ages in whole seconds at `now_ms`.
pub fn json(order: &OrderOnRecord, now_ms: i64) -> serde_json::Value {
    let mut object = serde_json::json!({
        "rfq_id": order.rfq_id,
        "lp": order.lp,
        "pair": order.pair,
        "side": order.side,
        "amount": order.amount.to_string(),
        "price": order.price.to_string(),
        "order_id": order.order_id,
        "quote_id": order.quote_id,
        "venue_ref": order.venue_ref,
        "client_order_id": order.client_order_id,
        "venue_order_id": order.venue_order_id,
        "sent_at": order.sent_at,
        "age_s": (now_ms - order.sent_ms).max(0) / 1000,
        "outcome": order.outcome,
        "reason": order.reason,
        "fill_price": order.fill_price.map(|p| p.to_string()),
        "reconciled_by": order.reconciled_by,
    });
    // A desk server's order names its operator; a local one has none.
    if let Some(operator) = &order.operator {
        object["operator"] = serde_json::Value::from(operator.as_str());
    }
    if let Some(accepted_by) = &order.accepted_by {
        object["accepted_by"] = serde_json::Value::from(accepted_by.as_str());
    }
    object
}
