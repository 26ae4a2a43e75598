//! PostgreSQL's orders on record ([`OrderRecords`] over a database): the
//! same selections as SQLite's (`sqlite_orders`), and an outcome learned
//! from the venue appended in one transaction that first locks the
//! order's RFQ row and checks the order is still open, so that two desks
//! reconciling the same order at once append it once.

use postgres::{Client, Row};
use rust_decimal::Decimal;

use super::super::orders::{self, Learned, OrderOnRecord};
use super::super::store::{OrderRecords, Retry, StoreError};
use super::super::BlotterError;
use super::{describe, off_runtime, schema, PgUrl};

/// A database's orders, through a connection of their own (the writer's
/// stays on its thread). Every call runs off the desk's runtime: the
/// synchronous client blocks on a runtime of its own.
pub struct PgOrders {
    /// Taken when dropped, so that the client's runtime is dropped off the
    /// desk's too.
    client: Option<Client>,
}

impl PgOrders {
    /// The orders of the database at `url`, which must hold this build's
    /// schema.
    pub fn open(url: &PgUrl) -> Result<PgOrders, BlotterError> {
        off_runtime(|| {
            let cannot = |detail: String| BlotterError::Database {
                url: url.to_string(),
                detail,
            };
            let mut client = url.connect().map_err(|error| cannot(describe(&error)))?;
            // Read as it is, never upgraded here (`lp-rfq orders` only
            // reads); a desk opening its blotter upgrades it first.
            schema::readable(&mut client, url)?;
            Ok(PgOrders {
                client: Some(client),
            })
        })
    }

    fn run<T: Send>(
        &mut self,
        work: impl FnOnce(&mut Client) -> Result<T, OrdersError> + Send,
    ) -> Result<T, StoreError> {
        // Whatever failed, asking again later may work (the order stays
        // open and is asked about at the next start), as on SQLite.
        let client = self.client.as_mut().expect("taken only when dropped");
        off_runtime(|| work(client)).map_err(|error| StoreError::new(Retry::Later, error))
    }
}

impl Drop for PgOrders {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            off_runtime(move || drop(client));
        }
    }
}

impl OrderRecords for PgOrders {
    fn unresolved(&mut self) -> Result<Vec<OrderOnRecord>, StoreError> {
        self.run(|client| {
            let sql = format!(
                "SELECT * FROM ({ORDERS}) o WHERE outcome IS NULL OR outcome = 'unknown'
                 ORDER BY at_ms, order_id COLLATE \"C\""
            );
            let rows = client.query(&sql, &[])?;
            rows.iter().map(order_of).collect()
        })
    }

    fn recent(&mut self, limit: usize) -> Result<Vec<OrderOnRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |client| {
            let sql = format!(
                "SELECT * FROM ({ORDERS}) o ORDER BY at_ms DESC, order_id COLLATE \"C\" DESC
                 LIMIT $1"
            );
            let rows = client.query(&sql, &[&limit])?;
            rows.iter().map(order_of).collect()
        })
    }

    fn append_outcome(
        &mut self,
        order: &OrderOnRecord,
        learned: &Learned,
        how: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        self.run(|client| append_outcome(client, order, learned, how, at_ms))
    }
}

/// Every order with its latest answer, as SQLite's `sqlite_orders` reads
/// it.
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

/// Why orders could not be read or an outcome appended.
#[derive(Debug, thiserror::Error)]
enum OrdersError {
    #[error("{}", describe(.0))]
    Sql(#[from] postgres::Error),
    #[error("an order's {column} '{value}' is not a decimal")]
    NotADecimal { column: &'static str, value: String },
}

/// A stored decimal of an order (refused, never read as zero: an order is
/// priced from it).
fn decimal(row: &Row, column: &'static str) -> Result<Decimal, OrdersError> {
    let text: &str = row.try_get(column)?;
    text.parse().map_err(|_| OrdersError::NotADecimal {
        column,
        value: text.to_string(),
    })
}

fn order_of(row: &Row) -> Result<OrderOnRecord, OrdersError> {
    Ok(OrderOnRecord {
        rfq_row: row.try_get("rfq_row")?,
        rfq_id: row.try_get("rfq_id")?,
        lp: row.try_get("lp")?,
        pair: row.try_get("pair")?,
        side: row.try_get("side")?,
        amount: decimal(row, "amount")?,
        price: decimal(row, "lp_price")?,
        order_id: row.try_get("order_id")?,
        quote_id: row.try_get("quote_id")?,
        venue_ref: row.try_get("venue_ref")?,
        client_order_id: row.try_get("client_order_id")?,
        venue_order_id: row.try_get("venue_order_id")?,
        sent_at: row.try_get("at")?,
        sent_ms: row.try_get("at_ms")?,
        outcome: row.try_get("outcome")?,
        reason: row.try_get("reason")?,
        fill_price: match row.try_get::<_, Option<&str>>("fill_price")? {
            Some(_) => Some(decimal(row, "fill_price")?),
            None => None,
        },
        reconciled_by: row.try_get("reconciled_by")?,
        rfq_ended: row.try_get("rfq_ended")?,
        operator: row.try_get("operator")?,
        accepted_by: row.try_get("accepted_by")?,
    })
}

/// SQLite's `append_outcome` on PostgreSQL: the order's RFQ row is locked
/// first (`FOR UPDATE`), so another desk appending to the same order waits
/// and then finds it resolved.
fn append_outcome(
    client: &mut Client,
    order: &OrderOnRecord,
    learned: &Learned,
    how: &str,
    at_ms: i64,
) -> Result<bool, OrdersError> {
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT id FROM rfqs WHERE id = $1 FOR UPDATE",
        &[&order.rfq_row],
    )?;
    let still_open: bool = tx
        .query_one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM ({ORDERS}) o WHERE rfq_row = $1 AND order_id = $2
                 AND (outcome IS NULL OR outcome = 'unknown'))"
            ),
            &[&order.rfq_row, &order.order_id],
        )?
        .get(0);
    if !still_open {
        return Ok(false);
    }
    // After every row of the RFQ, at its last stream time: the outcome is
    // not an event of the stream, which had ended (or died) by then.
    let position = tx.query_one(
        "SELECT greatest(coalesce((SELECT max(seq) FROM answers WHERE rfq = r.id), 0),
                         coalesce((SELECT max(seq) FROM client_quotes WHERE rfq = r.id), 0),
                         coalesce((SELECT max(seq) FROM lock_events WHERE rfq = r.id), 0),
                         coalesce((SELECT max(seq) FROM executions WHERE rfq = r.id), 0),
                         coalesce(r.end_seq, 0)) + 1,
                greatest(coalesce((SELECT max(t_ms) FROM executions WHERE rfq = r.id), 0),
                         coalesce(r.end_t_ms, 0))
         FROM rfqs r WHERE r.id = $1",
        &[&order.rfq_row],
    )?;
    let (seq, t_ms): (i64, i64) = (position.get(0), position.get(1));
    let at = crate::clock::iso_millis(
        chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
    );
    match learned {
        Learned::NotExecuted { reason } => {
            tx.execute(
                "INSERT INTO executions (rfq, seq, t_ms, at, at_ms, event, order_id, lp, reason,
                 simulated, reconciled_by, reconciled_at)
                 VALUES ($1, $2, $3, $4, $5, 'order_rejected', $6, $7, $8, 0, $9, $4)",
                &[
                    &order.rfq_row,
                    &seq,
                    &t_ms,
                    &at,
                    &at_ms,
                    &order.order_id,
                    &order.lp,
                    &reason.as_str(),
                    &how,
                ],
            )?;
        }
        Learned::Filled {
            price,
            venue_order_id,
        } => {
            let client_side = tx
                .query_opt(
                    "SELECT client_price, client_pays, pays_asset, client_receives, receives_asset
                     FROM client_quotes WHERE rfq = $1 AND quote_id = $2
                     ORDER BY seq DESC LIMIT 1",
                    &[&order.rfq_row, &order.quote_id],
                )?
                .map(|row| {
                    (
                        row.get::<_, String>(0),
                        row.get::<_, String>(1),
                        row.get::<_, String>(2),
                        row.get::<_, String>(3),
                        row.get::<_, String>(4),
                    )
                });
            let accepted = client_side
                .as_ref()
                .and_then(|c| orders::accepted_of(order, c));
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
                 VALUES ($1, $2, $3, $4, $5, 'filled', $6, $7, $8, $9, $10, $11, $12, $13, $14,
                 $15, $16, $17, $18, $19, 0, $20, $4)",
                &[
                    &order.rfq_row,
                    &seq,
                    &t_ms,
                    &at,
                    &at_ms,
                    &order.order_id,
                    &order.quote_id,
                    &order.lp,
                    &order.venue_ref,
                    &price.to_string(),
                    &client_side.as_ref().map(|c| c.0.as_str()),
                    &order.amount.to_string(),
                    &client_side.as_ref().map(|c| c.1.as_str()),
                    &client_side.as_ref().map(|c| c.2.as_str()),
                    &client_side.as_ref().map(|c| c.3.as_str()),
                    &client_side.as_ref().map(|c| c.4.as_str()),
                    &pnl.as_ref().map(|p| p.0.as_str()),
                    &pnl.as_ref().map(|p| p.1.as_str()),
                    &venue_order_id.as_deref(),
                    &how,
                ],
            )?;
        }
    }
    // A stream that died with its order out never wrote `ended`: the
    // outcome learned now is how its acceptance ended (see SQLite's).
    tx.execute(
        "UPDATE rfqs SET end_seq = $2::bigint + 1, end_t_ms = $3, ended_at = $4, ended_ms = $5,
         end_reason = 'accepted', outcome = $6, final_quote_id = $7, final_lp = $8,
         final_client_price = (SELECT client_price FROM client_quotes
                                WHERE rfq = $1 AND quote_id = $7 ORDER BY seq DESC LIMIT 1),
         improvements = (SELECT count(*) FROM lock_events
                         WHERE rfq = $1 AND event = 'locked' AND reason = 'improvement'),
         answers_to = coalesce((SELECT max(id) FROM answers WHERE rfq = $1), answers_from - 1)
         WHERE id = $1 AND end_seq IS NULL",
        &[
            &order.rfq_row,
            &seq,
            &t_ms,
            &at,
            &at_ms,
            &match learned {
                Learned::Filled { .. } => "filled",
                Learned::NotExecuted { .. } => "not_filled",
            },
            &order.quote_id,
            &order.lp,
        ],
    )?;
    tx.commit()?;
    Ok(true)
}
