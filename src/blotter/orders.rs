//! Orders on record and their outcomes, read from and appended to the
//! blotter: the orders still without an outcome (`execution_unknown`, or
//! no answer at all after a crash), the recent orders `lp-rfq orders`
//! lists, and an outcome learned later from the venue, appended as a new
//! `filled` or `order_rejected` row tagged with how and when it was
//! learned (`reconciled_by`, `reconciled_at`). The earlier rows are never
//! changed: the record keeps what was known at the time.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension, Row};
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
}

impl OrderOnRecord {
    /// Still without an outcome: unknown, or never answered.
    pub fn unresolved(&self) -> bool {
        matches!(self.outcome.as_deref(), None | Some("unknown"))
    }
}

/// Every order with its latest answer: the `orders` view's shape, kept
/// here so that a file opened read-only needs no view of this version.
const ORDERS: &str = "
    SELECT r.id AS rfq_row, r.rfq_id, r.pair, r.side, o.order_id, o.quote_id, o.lp, o.venue_ref,
           o.client_order_id, o.lp_price, o.amount, o.at, o.at_ms,
           CASE a.event WHEN 'order_rejected' THEN 'rejected' WHEN 'filled' THEN 'filled'
                        WHEN 'execution_unknown' THEN 'unknown' END AS outcome,
           a.reason, CASE a.event WHEN 'filled' THEN a.lp_price END AS fill_price,
           a.venue_order_id, a.reconciled_by, r.end_seq IS NOT NULL AS rfq_ended
    FROM executions o
    JOIN rfqs r ON r.id = o.rfq
    LEFT JOIN executions a ON a.id = (
        SELECT x.id FROM executions x
        WHERE x.rfq = o.rfq AND x.order_id = o.order_id
          AND x.event IN ('order_rejected', 'filled', 'execution_unknown')
        ORDER BY x.seq DESC LIMIT 1)
    WHERE o.event = 'order_sent'";

fn decimal(row: &Row, column: &str) -> rusqlite::Result<Decimal> {
    let text: String = row.get(column)?;
    text.parse().map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, column.to_string(), rusqlite::types::Type::Text)
    })
}

fn order_of(row: &Row) -> rusqlite::Result<OrderOnRecord> {
    Ok(OrderOnRecord {
        rfq_row: row.get("rfq_row")?,
        rfq_id: row.get("rfq_id")?,
        lp: row.get("lp")?,
        pair: row.get("pair")?,
        side: row.get("side")?,
        amount: decimal(row, "amount")?,
        price: decimal(row, "lp_price")?,
        order_id: row.get("order_id")?,
        quote_id: row.get("quote_id")?,
        venue_ref: row.get("venue_ref")?,
        client_order_id: row.get("client_order_id")?,
        venue_order_id: row.get("venue_order_id")?,
        sent_at: row.get("at")?,
        sent_ms: row.get("at_ms")?,
        outcome: row.get("outcome")?,
        reason: row.get("reason")?,
        fill_price: match row.get::<_, Option<String>>("fill_price")? {
            Some(_) => Some(decimal(row, "fill_price")?),
            None => None,
        },
        reconciled_by: row.get("reconciled_by")?,
        rfq_ended: row.get("rfq_ended")?,
    })
}

/// Every order still without an outcome, oldest first.
pub fn unresolved(conn: &Connection) -> rusqlite::Result<Vec<OrderOnRecord>> {
    let sql = format!(
        "SELECT * FROM ({ORDERS}) WHERE outcome IS NULL OR outcome = 'unknown' ORDER BY at_ms, order_id"
    );
    let mut select = conn.prepare(&sql)?;
    let orders = select.query_map([], order_of)?.collect();
    orders
}

/// The last `limit` orders sent, newest first.
pub fn recent(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<OrderOnRecord>> {
    let sql = format!("SELECT * FROM ({ORDERS}) ORDER BY at_ms DESC, order_id DESC LIMIT ?1");
    let mut select = conn.prepare(&sql)?;
    let orders = select
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], order_of)?
        .collect();
    orders
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

/// Appends what the venue said of `order` as a new row of its RFQ (after
/// every row it has), tagged `reconciled_by = how` and `reconciled_at`
/// (`at_ms`, UTC). A fill carries the client's side of the trade from the
/// accepted client quote and the desk's P&L at the venue's price. Returns
/// false, writing nothing, when the order already has an outcome (another
/// process resolved it meanwhile).
pub fn append_outcome(
    conn: &mut Connection,
    order: &OrderOnRecord,
    learned: &Learned,
    how: &str,
    at_ms: i64,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let still_open: bool = tx.query_row(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM ({ORDERS}) WHERE rfq_row = ?1 AND order_id = ?2
             AND (outcome IS NULL OR outcome = 'unknown'))"
        ),
        params![order.rfq_row, order.order_id],
        |row| row.get(0),
    )?;
    if !still_open {
        return Ok(false);
    }
    // After every row of the RFQ, at its last stream time: the outcome is
    // not an event of the stream, which had ended (or died) by then.
    let (seq, t_ms): (i64, i64) = tx.query_row(
        "SELECT max(coalesce((SELECT max(seq) FROM answers WHERE rfq = r.id), 0),
                    coalesce((SELECT max(seq) FROM client_quotes WHERE rfq = r.id), 0),
                    coalesce((SELECT max(seq) FROM lock_events WHERE rfq = r.id), 0),
                    coalesce((SELECT max(seq) FROM executions WHERE rfq = r.id), 0),
                    coalesce(r.end_seq, 0)) + 1,
                max(coalesce((SELECT max(t_ms) FROM executions WHERE rfq = r.id), 0),
                    coalesce(r.end_t_ms, 0))
         FROM rfqs r WHERE r.id = ?1",
        [order.rfq_row],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let at = crate::clock::iso_millis(
        chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
    );
    match learned {
        Learned::NotExecuted { reason } => {
            tx.execute(
                "INSERT INTO executions (rfq, seq, t_ms, at, at_ms, event, order_id, lp, reason,
                 simulated, reconciled_by, reconciled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'order_rejected', ?6, ?7, ?8, 0, ?9, ?4)",
                params![
                    order.rfq_row,
                    seq,
                    t_ms,
                    at,
                    at_ms,
                    order.order_id,
                    order.lp,
                    reason,
                    how
                ],
            )?;
        }
        Learned::Filled {
            price,
            venue_order_id,
        } => {
            let client = tx
                .query_row(
                    "SELECT client_price, client_pays, pays_asset, client_receives, receives_asset
                     FROM client_quotes WHERE rfq = ?1 AND quote_id = ?2 ORDER BY seq DESC LIMIT 1",
                    params![order.rfq_row, order.quote_id],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, String>(4)?,
                        ))
                    },
                )
                .optional()?;
            let accepted = client.as_ref().and_then(|c| accepted_of(order, c));
            let pnl = accepted.as_ref().map(|a| {
                (
                    a.desk_pnl(*price).to_string(),
                    a.quote_asset().as_str().to_string(),
                )
            });
            tx.execute(
                "INSERT INTO executions (rfq, seq, t_ms, at, at_ms, event, order_id, quote_id, lp,
                 venue_ref, lp_price, client_price, amount, client_pays, pays_asset,
                 client_receives, receives_asset, desk_pnl, pnl_asset, venue_order_id,
                 simulated, reconciled_by, reconciled_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'filled', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
                 ?15, ?16, ?17, ?18, ?19, 0, ?20, ?4)",
                params![
                    order.rfq_row,
                    seq,
                    t_ms,
                    at,
                    at_ms,
                    order.order_id,
                    order.quote_id,
                    order.lp,
                    order.venue_ref,
                    price.to_string(),
                    client.as_ref().map(|c| &c.0),
                    order.amount.to_string(),
                    client.as_ref().map(|c| &c.1),
                    client.as_ref().map(|c| &c.2),
                    client.as_ref().map(|c| &c.3),
                    client.as_ref().map(|c| &c.4),
                    pnl.as_ref().map(|p| &p.0),
                    pnl.as_ref().map(|p| &p.1),
                    venue_order_id.as_deref(),
                    how
                ],
            )?;
        }
    }
    tx.commit()?;
    Ok(true)
}

/// The accepted client quote behind `order`, to price the desk's side of
/// a fill learned later; `None` when its row cannot be read back.
fn accepted_of(
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

/// Opens the blotter at `path` to read orders only (`lp-rfq orders`).
pub fn open_read_only(path: &Path) -> Result<Connection, super::read::ReadError> {
    super::report::open(path)
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
    serde_json::json!({
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
    })
}
