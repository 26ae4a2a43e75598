//! SQLite's orders on record ([`OrderRecords`] over a blotter file): the
//! orders without an outcome and the recent ones, read through the same
//! shape as the `orders` view, and an outcome learned from the venue
//! appended in one transaction that first checks the order is still open
//! (another process may have resolved it meanwhile).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;

use super::orders::{self, Learned, OrderOnRecord};
use super::read::ReadError;
use super::schema;
use super::store::{OrderRecords, Retry, StoreError};
use super::BlotterError;

/// A blotter file's orders, through a connection of their own (the
/// writer's stays on its thread).
pub struct SqliteOrders {
    conn: Connection,
}

impl SqliteOrders {
    /// The blotter at `path`, to read orders and append outcomes (start-up
    /// reconciliation). The file must exist.
    pub fn open(path: &Path) -> Result<SqliteOrders, BlotterError> {
        let conn = schema::open(path, false, schema::BUSY_TIMEOUT)?;
        Ok(SqliteOrders { conn })
    }

    /// The blotter at `path`, to read orders only (`lp-rfq orders`), as
    /// `report` reads it.
    pub fn open_read_only(path: &Path) -> Result<SqliteOrders, ReadError> {
        let conn = super::report::open(path)?;
        Ok(SqliteOrders { conn })
    }
}

/// A failed read or append: whatever it was, asking again later may work
/// (the order stays open and is asked about at the next start).
fn failed(error: rusqlite::Error) -> StoreError {
    StoreError::new(Retry::Later, error)
}

impl OrderRecords for SqliteOrders {
    fn unresolved(&mut self) -> Result<Vec<OrderOnRecord>, StoreError> {
        unresolved(&self.conn).map_err(failed)
    }

    fn recent(&mut self, limit: usize) -> Result<Vec<OrderOnRecord>, StoreError> {
        recent(&self.conn, limit).map_err(failed)
    }

    fn append_outcome(
        &mut self,
        order: &OrderOnRecord,
        learned: &Learned,
        how: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        append_outcome(&mut self.conn, order, learned, how, at_ms).map_err(failed)
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
           a.venue_order_id, a.reconciled_by, r.end_seq IS NOT NULL AS rfq_ended,
           r.operator,
           coalesce((SELECT d.operator FROM desk_actions d
                     WHERE d.rfq_id = r.rfq_id AND d.action = 'accept'
                       AND (d.quote_id IS NULL OR d.quote_id = o.quote_id)
                     ORDER BY d.quote_id IS NULL, d.id DESC LIMIT 1),
                    r.operator) AS accepted_by
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
        operator: row.get("operator")?,
        accepted_by: row.get("accepted_by")?,
    })
}

/// Every order still without an outcome, oldest first.
fn unresolved(conn: &Connection) -> rusqlite::Result<Vec<OrderOnRecord>> {
    let sql = format!(
        "SELECT * FROM ({ORDERS}) WHERE outcome IS NULL OR outcome = 'unknown' ORDER BY at_ms, order_id"
    );
    let mut select = conn.prepare(&sql)?;
    let orders = select.query_map([], order_of)?.collect();
    orders
}

/// The last `limit` orders sent, newest first.
fn recent(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<OrderOnRecord>> {
    let sql = format!("SELECT * FROM ({ORDERS}) ORDER BY at_ms DESC, order_id DESC LIMIT ?1");
    let mut select = conn.prepare(&sql)?;
    let orders = select
        .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], order_of)?
        .collect();
    orders
}

/// Appends what the venue said of `order` as a new row of its RFQ (after
/// every row it has), tagged `reconciled_by = how` and `reconciled_at`
/// (`at_ms`, UTC). A fill carries the client's side of the trade from the
/// accepted client quote and the desk's P&L at the venue's price. Returns
/// false, writing nothing, when the order already has an outcome (another
/// process resolved it meanwhile).
fn append_outcome(
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
            let accepted = client.as_ref().and_then(|c| orders::accepted_of(order, c));
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
    // A stream that died with its order out never wrote `ended`: the
    // outcome learned now is how its acceptance ended, so it is marked
    // ended (after the outcome's row) and no longer shows as unfinished.
    // An RFQ that did end keeps the outcome it recorded then.
    tx.execute(
        "UPDATE rfqs SET end_seq = ?2 + 1, end_t_ms = ?3, ended_at = ?4, ended_ms = ?5,
         end_reason = 'accepted', outcome = ?6, final_quote_id = ?7, final_lp = ?8,
         final_client_price = (SELECT client_price FROM client_quotes
                                WHERE rfq = ?1 AND quote_id = ?7 ORDER BY seq DESC LIMIT 1),
         improvements = (SELECT count(*) FROM lock_events
                         WHERE rfq = ?1 AND event = 'locked' AND reason = 'improvement'),
         answers_to = coalesce((SELECT max(id) FROM answers WHERE rfq = ?1), answers_from - 1)
         WHERE id = ?1 AND end_seq IS NULL",
        params![
            order.rfq_row,
            seq,
            t_ms,
            at,
            at_ms,
            match learned {
                Learned::Filled { .. } => "filled",
                Learned::NotExecuted { .. } => "not_filled",
            },
            order.quote_id,
            order.lp
        ],
    )?;
    tx.commit()?;
    Ok(true)
}
