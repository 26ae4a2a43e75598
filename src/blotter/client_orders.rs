//! Client orders on the record (`client_orders`, SQLite's schema 13,
//! PostgreSQL's 6): each state an order a client sent on its own session
//! reached, by the client's own order id, so that a restarted desk still
//! answers its status and never executes a repeated id again. Each state
//! is a new row; the latest wins. The client API writes through its own
//! connection, one short transaction per state, before the client is told
//! of it, to whichever store the desk's blotter is
//! ([`ClientOrderRecords`]: SQLite's here, PostgreSQL's in
//! `postgres::client_orders`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::{schema, BlotterError};

/// One state of a client's order, as recorded. Decimals are kept as the
/// text the client was shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOrderRow {
    pub client: String,
    pub client_order_id: String,
    /// `ws` or `fix`.
    pub channel: String,
    pub quote_id: Option<String>,
    /// `pending`, `filled`, `rejected` or `unknown`.
    pub status: String,
    pub price: Option<String>,
    pub amount: Option<String>,
    pub reason: Option<String>,
}

/// A store's `client_orders`, shared by every client session of the desk
/// (each call is one short statement, made on the client API's record
/// thread, `client_api::order_record`: it may block, never a worker).
pub trait ClientOrderRecords: Send + Sync {
    /// Appends `row` as its order's latest state.
    fn record(&self, row: &ClientOrderRow) -> Result<(), BlotterError>;

    /// The latest state of `client`'s order `client_order_id`, if it was
    /// ever recorded (by this desk or any other writing the same store).
    fn latest(
        &self,
        client: &str,
        client_order_id: &str,
    ) -> Result<Option<ClientOrderRow>, BlotterError>;
}

/// The `client_orders` table of one blotter file.
pub struct SqliteClientOrders {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteClientOrders {
    /// Opens the blotter at `path` (which the desk has already created and
    /// brought to the current schema).
    pub fn open(path: &Path) -> Result<SqliteClientOrders, BlotterError> {
        let conn = schema::open(path, false, schema::BUSY_TIMEOUT)?;
        Ok(SqliteClientOrders {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }
}

impl ClientOrderRecords for SqliteClientOrders {
    fn record(&self, row: &ClientOrderRow) -> Result<(), BlotterError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT INTO client_orders
                 (client, client_order_id, channel, quote_id, status, price, amount, reason, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            params![
                row.client,
                row.client_order_id,
                row.channel,
                row.quote_id,
                row.status,
                row.price,
                row.amount,
                row.reason
            ],
        )
        .map_err(|source| BlotterError::NotWritable {
            path: self.path.clone(),
            source,
        })?;
        Ok(())
    }

    fn latest(
        &self,
        client: &str,
        client_order_id: &str,
    ) -> Result<Option<ClientOrderRow>, BlotterError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.query_row(
            "SELECT client, client_order_id, channel, quote_id, status, price, amount, reason
             FROM client_orders WHERE client = ?1 AND client_order_id = ?2
             ORDER BY id DESC LIMIT 1",
            params![client, client_order_id],
            |row| {
                Ok(ClientOrderRow {
                    client: row.get(0)?,
                    client_order_id: row.get(1)?,
                    channel: row.get(2)?,
                    quote_id: row.get(3)?,
                    status: row.get(4)?,
                    price: row.get(5)?,
                    amount: row.get(6)?,
                    reason: row.get(7)?,
                })
            },
        )
        .optional()
        .map_err(|source| BlotterError::Read {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, price: Option<&str>) -> ClientOrderRow {
        ClientOrderRow {
            client: "acme".into(),
            client_order_id: "o-1".into(),
            channel: "fix".into(),
            quote_id: Some("q-1".into()),
            status: status.into(),
            price: price.map(str::to_string),
            amount: price.map(|_| "1.5".to_string()),
            reason: None,
        }
    }

    #[test]
    fn the_latest_state_is_answered_after_reopening_and_earlier_rows_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blotter.db");
        drop(schema::open(&path, true, schema::BUSY_TIMEOUT).unwrap());
        let orders = SqliteClientOrders::open(&path).unwrap();
        orders.record(&row("pending", None)).unwrap();
        orders.record(&row("filled", Some("50025.01"))).unwrap();
        drop(orders);
        let reopened = SqliteClientOrders::open(&path).unwrap();
        assert_eq!(
            reopened.latest("acme", "o-1").unwrap(),
            Some(row("filled", Some("50025.01")))
        );
        assert_eq!(reopened.latest("other", "o-1").unwrap(), None);
        let conn = reopened.conn.lock().unwrap();
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM client_orders", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
    }
}
