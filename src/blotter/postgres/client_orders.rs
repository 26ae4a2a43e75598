//! Client orders on the record in PostgreSQL ([`PgClientOrders`], the
//! `client_orders` table of its schema 6): the same rows as SQLite's
//! (`blotter::client_orders`), on a connection of their own that is made
//! again when the server was lost, whose every wait is bounded
//! ([`bounded`]). Every desk writing the database shares the table, so a
//! client's order id is known to all of them.

use std::sync::Mutex;
use std::time::Duration;

use postgres::Client;

use super::super::client_orders::{ClientOrderRecords, ClientOrderRow};
use super::super::BlotterError;
use super::{describe, off_runtime, PgUrl};

/// The longest a client order's statement, or the connection under it,
/// may keep its caller: a client's order waits on it, and is refused
/// rather than held (the client API waits 5 s at most, connecting again
/// included).
const WAIT_AT_MOST: Duration = Duration::from_secs(2);

/// `url`'s connection with every wait bounded: connecting, each statement
/// (`statement_timeout`), and a server gone silent (TCP keepalives, and
/// unacknowledged writes by `tcp_user_timeout`), so that a database that
/// is down or half-open fails a call instead of holding it.
pub(super) fn bounded(url: &PgUrl) -> postgres::Config {
    let mut config = (*url.config).clone();
    let statement_timeout = format!("-c statement_timeout={}", WAIT_AT_MOST.as_millis());
    let options = match config.get_options() {
        Some(given) if !given.trim().is_empty() => format!("{given} {statement_timeout}"),
        _ => statement_timeout,
    };
    config
        .options(&options)
        .connect_timeout(WAIT_AT_MOST)
        .tcp_user_timeout(WAIT_AT_MOST)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(1))
        .keepalives_interval(Duration::from_millis(500))
        .keepalives_retries(2);
    config
}

/// The `client_orders` of the database at a URL. Each call runs off the
/// desk's runtime (the synchronous client blocks on a runtime of its own),
/// on the client API's record thread (`client_api::order_record`).
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
        let client = off_runtime(|| bounded(url).connect(postgres::NoTls)).map_err(|error| {
            BlotterError::Database {
                url: url.to_string(),
                detail: describe(&error),
            }
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
                *slot = Some(bounded(url).connect(postgres::NoTls)?);
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
