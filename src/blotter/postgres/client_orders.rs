//! Client orders on the record in PostgreSQL ([`PgClientOrders`], the
//! `client_orders` table of its schema 6): the same rows as SQLite's
//! (`blotter::client_orders`), on a connection of their own that is made
//! again when the server was lost. Every desk writing the database shares
//! the table, so a client's order id is known to all of them.

use std::sync::Mutex;

use postgres::Client;

use super::super::client_orders::{ClientOrderRecords, ClientOrderRow};
use super::super::BlotterError;
use super::{describe, off_runtime, PgUrl};

/// The `client_orders` of the database at a URL. Each call runs off the
/// desk's runtime (the synchronous client blocks on a runtime of its own).
pub struct PgClientOrders {
    url: PgUrl,
    /// `None` until connected, and again once the connection is lost: the
    /// next call connects again. Taken when dropped, off the runtime.
    client: Mutex<Option<Client>>,
}

impl PgClientOrders {
    /// The client orders of the database at `url`, which the desk has
    /// already brought to the current schema.
    pub fn open(url: &PgUrl) -> Result<PgClientOrders, BlotterError> {
        let client = off_runtime(|| url.connect()).map_err(|error| BlotterError::Database {
            url: url.to_string(),
            detail: describe(&error),
        })?;
        Ok(PgClientOrders {
            url: url.clone(),
            client: Mutex::new(Some(client)),
        })
    }

    fn run<T: Send>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send,
    ) -> Result<T, BlotterError> {
        let mut guard = self.client.lock().unwrap_or_else(|p| p.into_inner());
        let slot: &mut Option<Client> = &mut guard;
        let url = &self.url;
        off_runtime(move || {
            if slot.as_ref().is_none_or(Client::is_closed) {
                *slot = Some(url.connect()?);
            }
            let client = slot.as_mut().expect("connected above");
            let done = work(client);
            if client.is_closed() {
                *slot = None;
            }
            done
        })
        .map_err(|error| BlotterError::Database {
            url: self.url.to_string(),
            detail: describe(&error),
        })
    }
}

impl Drop for PgClientOrders {
    fn drop(&mut self) {
        let client = self
            .client
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(client) = client {
            off_runtime(move || drop(client));
        }
    }
}

impl ClientOrderRecords for PgClientOrders {
    fn record(&self, row: &ClientOrderRow) -> Result<(), BlotterError> {
        self.run(|client| {
            client.execute(
                "INSERT INTO client_orders
                     (client, client_order_id, channel, quote_id, status, price, amount, reason,
                      recorded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                         to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))",
                &[
                    &row.client,
                    &row.client_order_id,
                    &row.channel,
                    &row.quote_id,
                    &row.status,
                    &row.price,
                    &row.amount,
                    &row.reason,
                ],
            )?;
            Ok(())
        })
    }

    fn latest(
        &self,
        client: &str,
        client_order_id: &str,
    ) -> Result<Option<ClientOrderRow>, BlotterError> {
        self.run(|db| {
            let row = db.query_opt(
                "SELECT client, client_order_id, channel, quote_id, status, price, amount, reason
                 FROM client_orders WHERE client = $1 AND client_order_id = $2
                 ORDER BY id DESC LIMIT 1",
                &[&client, &client_order_id],
            )?;
            Ok(row.map(|row| ClientOrderRow {
                client: row.get(0),
                client_order_id: row.get(1),
                channel: row.get(2),
                quote_id: row.get(3),
                status: row.get(4),
                price: row.get(5),
                amount: row.get(6),
                reason: row.get(7),
            }))
        })
    }
}
