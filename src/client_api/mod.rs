//! The desk's clients asking for quotes themselves, whatever the
//! transport: the messages a client sends and receives ([`Inbound`],
//! [`Outbound`]), what every client session on the desk shares
//! ([`ClientApi`]: each client's RFQ rate and the outcome of every client
//! order id, so a repeated one never executes twice), and one session's
//! work ([`session`]). A client's quotes and fills are built from the
//! client view of its stream only (`rfq::client_view`), so nothing a
//! client receives can carry an LP's name or price or the desk's P&L.
//! `ws` carries it over a WebSocket (`lp-rfq serve --client-ws`), `fix`
//! over FIX 4.4 (`lp-rfq serve --client-fix`); docs/client-api.md is the
//! wire of both.

pub mod fix;
mod order_record;
pub mod session;
pub mod ws;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::blotter::client_orders::{ClientOrderRecords, ClientOrderRow};
use crate::blotter::BlotterError;
use crate::clients::ClientRefusal;
use crate::desk::{Desk, DeskError};
use crate::market::Asset;
use crate::rfq::{Channel, ClientId};
use order_record::OrderRecorder;

/// What a client sends, whatever the transport. On the WebSocket each is
/// a JSON object with a `type` field; decimals are strings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Inbound {
    /// Quote `amount` of `pair` for the client to `side`.
    QuoteRequest {
        client_rfq_id: String,
        pair: String,
        /// `buy`, `sell` or `two_way` (a bid and an offer).
        side: String,
        amount: String,
        /// The currency `amount` is in: the pair's base (the default), or
        /// its quote currency (the client pays or receives exactly that).
        #[serde(default)]
        amount_currency: Option<String>,
    },
    /// Stop quoting `client_rfq_id`.
    CancelQuoteRequest { client_rfq_id: String },
    /// Hit quote `quote_id` at `price`.
    Order {
        client_order_id: String,
        quote_id: String,
        side: String,
        amount: String,
        price: String,
        /// The currency `amount` is in; absent: the quote's own.
        #[serde(default)]
        amount_currency: Option<String>,
    },
    /// Where order `client_order_id` stands.
    OrderStatus { client_order_id: String },
}

/// What a client receives. Built only from the client view of a stream
/// and the client's own words.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outbound {
    /// A firm price the client may hit until `valid_until`; a later quote
    /// for the same request replaces it.
    Quote {
        client_rfq_id: Arc<str>,
        quote_id: Arc<str>,
        /// The desk buys at this price (the client sells).
        #[serde(skip_serializing_if = "Option::is_none")]
        bid: Option<Decimal>,
        /// The desk sells at this price (the client buys).
        #[serde(skip_serializing_if = "Option::is_none")]
        offer: Option<Decimal>,
        /// In the request's currency: the base, or the quote currency
        /// when `amount_currency` says so.
        amount: Decimal,
        /// The pair's quote currency, on a request for an amount of it;
        /// absent for the base.
        #[serde(skip_serializing_if = "Option::is_none")]
        amount_currency: Option<Asset>,
        /// The base amount hitting the bid trades (a quote-currency
        /// request only: it follows from the price).
        #[serde(skip_serializing_if = "Option::is_none")]
        bid_size: Option<Decimal>,
        /// The base amount hitting the offer trades (a quote-currency
        /// request only).
        #[serde(skip_serializing_if = "Option::is_none")]
        offer_size: Option<Decimal>,
        /// UTC, milliseconds: `2026-01-19T14:30:25.123Z`.
        valid_until: String,
        /// The price comes from a simulation: written only when true.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        simulated: bool,
    },
    /// The quote may no longer be hit.
    QuoteCancel {
        client_rfq_id: Arc<str>,
        quote_id: Arc<str>,
        reason: CancelReason,
    },
    /// The request is refused, or ended without any quote.
    QuoteRequestReject {
        client_rfq_id: Arc<str>,
        reason: RejectReason,
        text: String,
    },
    ExecutionReport(ExecutionReport),
    /// A message that could not be read: the session goes on.
    Error {
        reason: String,
    },
}

/// Why a quote was withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// Its validity ran out before a fresh price replaced it (its LP
    /// withdrew, or went quiet).
    Expired,
    /// The desk cannot record a trade right now: it offers nothing.
    RecordFailing,
    /// The request's quoting time is over.
    Ended,
    /// The client cancelled the request.
    Cancelled,
    /// The desk stopped quoting (it is shutting down).
    DeskStopped,
    /// The desk paused this client (by name, or its kill switch).
    ClientPaused,
}

/// Why a request was refused (FIX 658 QuoteRequestRejectReason: 1, 3, 4,
/// 8, 99).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// No LP of the desk quotes the pair, or it is not a pair.
    UnknownSymbol,
    /// Beyond the client's per-RFQ, daily or rate limit.
    ExceedsLimit,
    /// The request's own deadline (FIX ExpireTime 126) had passed when
    /// it arrived.
    TooLate,
    /// The client may not ask for this (unknown, disabled, pair not
    /// allowed).
    NotAuthorized,
    /// Anything else; `text` says what.
    Other,
}

impl RejectReason {
    /// FIX 658's value.
    pub fn fix_code(self) -> u32 {
        match self {
            RejectReason::UnknownSymbol => 1,
            RejectReason::ExceedsLimit => 3,
            RejectReason::TooLate => 4,
            RejectReason::NotAuthorized => 8,
            RejectReason::Other => 99,
        }
    }
}

/// An order's state as the client is told it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionReport {
    pub client_order_id: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<Arc<str>>,
    pub status: OrderStatus,
    /// The client price traded at (filled only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<Decimal>,
    /// The base amount traded (filled only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    /// The quote-currency leg traded, exactly what the client paid (a
    /// buy) or received (a sell): filled orders on a request for an
    /// amount of the quote currency only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cash_amount: Option<Decimal>,
    /// Why nothing traded, in the desk's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// True on the answer to an `order_status`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub status_request: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Filled,
    Rejected,
    /// Sent to the LP; the outcome follows.
    Pending,
    /// Whether it traded is not known yet: the desk resolves it with its
    /// counterparty.
    Unknown,
    /// No order of that id from this client.
    NotFound,
}

impl ExecutionReport {
    pub(crate) fn rejected(
        client_order_id: Arc<str>,
        quote_id: Option<Arc<str>>,
        reason: impl Into<String>,
    ) -> ExecutionReport {
        ExecutionReport {
            client_order_id,
            quote_id,
            status: OrderStatus::Rejected,
            price: None,
            amount: None,
            cash_amount: None,
            reason: Some(reason.into()),
            status_request: false,
        }
    }
}

/// Why a request refused by the desk is refused, in words a client may
/// read (the desk's own words for a blotter failure name its files).
pub(crate) fn reject_of(error: &DeskError) -> (RejectReason, String) {
    match error {
        DeskError::Client(refusal) => {
            let reason = match **refusal {
                ClientRefusal::Unknown { .. }
                | ClientRefusal::Disabled { .. }
                | ClientRefusal::PairNotAllowed { .. } => RejectReason::NotAuthorized,
                ClientRefusal::AboveMax { .. }
                | ClientRefusal::AboveDaily { .. }
                | ClientRefusal::Unpriced { .. } => RejectReason::ExceedsLimit,
            };
            (reason, refusal.to_string())
        }
        DeskError::BelowMinimum(below) => (RejectReason::Other, below.to_string()),
        // Who paused it, and how to undo it, are the desk's business.
        DeskError::ClientPaused { .. } => (
            RejectReason::Other,
            crate::streams::CLIENT_PAUSED.to_string(),
        ),
        DeskError::BlotterFailing(_) => (
            RejectReason::Other,
            "the desk cannot record trades right now: no quote is offered".into(),
        ),
        _ => (
            RejectReason::Other,
            "the desk cannot quote this request".into(),
        ),
    }
}

/// The rate window: `max_rfqs_per_sec` counts the RFQs of the last second.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// Orders one client may send per second ([`RATE_WINDOW`]): a client
/// hits quotes, it does not stream orders, and each new order id is kept
/// for [`ORDER_RETENTION`].
pub(crate) const MAX_ORDERS_PER_SEC: usize = 5;
/// How long a finished order's outcome is kept after it is known (a
/// repeated id is answered from it, `order_status` finds it): past this,
/// it is forgotten, so that the desk's memory does not grow with every
/// order of a long-running server. Pending and unknown orders are kept
/// until they resolve.
pub(crate) const ORDER_RETENTION: Duration = Duration::from_secs(60 * 60);

/// Moments a client's request and its quotes pass on their way through
/// the desk, for a watcher that times them (`lp-rfq bench --client-api`);
/// a desk serving clients has none, and pays one `None` check a quote.
pub(crate) trait HopWatcher: Send + Sync {
    /// Request `client_rfq_id` has been read and checked: the desk is
    /// starting its stream.
    fn starting(&self, client_rfq_id: &str);
    /// The request's task has turned a stream event into quote
    /// `quote_id` and is offering it to the client's queue.
    fn quote_offered(&self, quote_id: &Arc<str>);
    /// The connection's writer has taken quote `quote_id` to frame it
    /// and write it to the socket.
    fn quote_writing(&self, quote_id: &Arc<str>);
}

/// Order status requests one client may send per second
/// ([`RATE_WINDOW`]): each may be a read of the record, which is shared
/// by every client.
pub(crate) const MAX_STATUS_PER_SEC: usize = 10;

/// What every client session on one desk shares.
pub struct ClientApi {
    desk: Arc<Desk>,
    /// Who times the hops, if anyone ([`HopWatcher`]).
    pub(crate) hops: Option<Arc<dyn HopWatcher>>,
    /// Each client's RFQs within the last [`RATE_WINDOW`].
    recent_rfqs: RateWindows,
    /// Each client's new orders within the last [`RATE_WINDOW`].
    recent_orders: RateWindows,
    /// Each client's order status requests within the last
    /// [`RATE_WINDOW`].
    recent_status: RateWindows,
    /// Every client order id seen within [`ORDER_RETENTION`] of its
    /// outcome, with its latest state: a repeated id is answered from
    /// here and never executes twice. Never held across the record's
    /// I/O: an order being claimed is in it as pending meanwhile.
    orders: Mutex<Orders>,
    /// The blotter's record of client orders, which outlives the process:
    /// asked when an id is not in `orders` (after a restart, or once
    /// forgotten here), on a thread of its own.
    record: Option<OrderRecorder>,
}

/// Each client's recent moments of one kind, counted against a limit.
#[derive(Default)]
struct RateWindows(Mutex<HashMap<ClientId, VecDeque<Instant>>>);

impl RateWindows {
    /// Counts one for `client` now, or `false` when `limit` are already
    /// within the last [`RATE_WINDOW`] (a refused one does not count).
    fn take(&self, client: &ClientId, limit: usize) -> bool {
        let now = Instant::now();
        let mut windows = self.0.lock().unwrap_or_else(|p| p.into_inner());
        windows.retain(|_, window| {
            window
                .back()
                .is_some_and(|at| now.duration_since(*at) < RATE_WINDOW)
        });
        let window = windows.entry(client.clone()).or_default();
        while window
            .front()
            .is_some_and(|at| now.duration_since(*at) >= RATE_WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= limit {
            return false;
        }
        window.push_back(now);
        true
    }
}

/// The client orders the desk remembers.
#[derive(Default)]
struct Orders {
    by_id: HashMap<(ClientId, Arc<str>), KeptOrder>,
}

struct KeptOrder {
    report: ExecutionReport,
    /// When its outcome was known (filled, rejected): from then it is
    /// kept for [`ORDER_RETENTION`].
    finished_at: Option<Instant>,
}

impl Orders {
    /// Forgets the orders whose outcome is older than [`ORDER_RETENTION`].
    fn expire(&mut self, now: Instant) {
        self.by_id.retain(|_, kept| {
            kept.finished_at
                .is_none_or(|at| now.duration_since(at) < ORDER_RETENTION)
        });
    }
}

fn pending(client_order_id: &Arc<str>, quote_id: &Arc<str>) -> ExecutionReport {
    ExecutionReport {
        client_order_id: client_order_id.clone(),
        quote_id: Some(quote_id.clone()),
        status: OrderStatus::Pending,
        price: None,
        amount: None,
        cash_amount: None,
        reason: None,
        status_request: false,
    }
}

impl ClientApi {
    /// The client API of `desk`, recording client orders in its blotter
    /// when it has one.
    pub fn new(desk: Arc<Desk>) -> Result<Arc<ClientApi>, BlotterError> {
        let record = desk.client_order_records().transpose()?;
        Ok(Arc::new(ClientApi::with_record(
            desk,
            record,
            order_record::ANSWER_WITHIN,
        )))
    }

    /// A client API over `record`, waiting for it at most `answer_within`
    /// a call.
    fn with_record(
        desk: Arc<Desk>,
        record: Option<Box<dyn ClientOrderRecords>>,
        answer_within: Duration,
    ) -> ClientApi {
        ClientApi {
            desk,
            hops: None,
            recent_rfqs: RateWindows::default(),
            recent_orders: RateWindows::default(),
            recent_status: RateWindows::default(),
            orders: Mutex::new(Orders::default()),
            record: record.map(|record| OrderRecorder::start(record, answer_within)),
        }
    }

    /// [`ClientApi::new`] with `watcher` noting each request's and
    /// quote's hops.
    pub(crate) fn watched(
        desk: Arc<Desk>,
        watcher: Arc<dyn HopWatcher>,
    ) -> Result<Arc<ClientApi>, BlotterError> {
        let api = ClientApi::new(desk)?;
        let mut api = Arc::into_inner(api).expect("just made: the only reference");
        api.hops = Some(watcher);
        Ok(Arc::new(api))
    }

    pub(crate) fn desk(&self) -> &Arc<Desk> {
        &self.desk
    }

    /// Counts an RFQ of `client` now, or refuses it beyond its
    /// `max_rfqs_per_sec` (a refused one does not count).
    pub(crate) fn take_rfq_slot(&self, client: &ClientId) -> Result<(), String> {
        let limit = self
            .desk
            .clients()
            .get(client.as_str())
            .map(|terms| terms.max_rfqs_per_sec())
            .unwrap_or(crate::clients::DEFAULT_MAX_RFQS_PER_SEC);
        if !self.recent_rfqs.take(client, limit as usize) {
            return Err(format!(
                "client '{client}' is above its max_rfqs_per_sec of {limit}: ask again in a moment"
            ));
        }
        Ok(())
    }

    /// Claims `client_order_id` for a new order ([`ClientApi::begin_claim`]
    /// then [`ClientApi::finish_claim`]).
    #[cfg(test)]
    pub(crate) async fn claim_order(
        &self,
        client: &ClientId,
        channel: Channel,
        client_order_id: &Arc<str>,
        quote_id: &Arc<str>,
    ) -> Result<(), ExecutionReport> {
        self.begin_claim(client, client_order_id, quote_id)?;
        self.finish_claim(client, channel, client_order_id, quote_id)
            .await
    }

    /// The in-memory half of claiming `client_order_id` for a new order,
    /// at once and without the record: `Err` with what the first order of
    /// that id has come to when this process knows it (pending while its
    /// claim is still being recorded), or with a refusal when `client` is
    /// above [`MAX_ORDERS_PER_SEC`] (counted before the record is read).
    /// Else the id is held as pending until [`ClientApi::finish_claim`].
    pub(crate) fn begin_claim(
        &self,
        client: &ClientId,
        client_order_id: &Arc<str>,
        quote_id: &Arc<str>,
    ) -> Result<(), ExecutionReport> {
        let key = (client.clone(), client_order_id.clone());
        {
            let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
            orders.expire(Instant::now());
            if let Some(first) = orders.by_id.get(&key) {
                tracing::info!(%client, %client_order_id, "a repeated client order id answered with its first order");
                return Err(first.report.clone());
            }
        }
        if !self.recent_orders.take(client, MAX_ORDERS_PER_SEC) {
            return Err(ExecutionReport::rejected(
                client_order_id.clone(),
                Some(quote_id.clone()),
                format!(
                    "client '{client}' is above {MAX_ORDERS_PER_SEC} orders per second: send it again in a moment"
                ),
            ));
        }
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(first) = orders.by_id.get(&key) {
            // The same id claimed between the two looks.
            return Err(first.report.clone());
        }
        orders.by_id.insert(
            key,
            KeptOrder {
                report: pending(client_order_id, quote_id),
                finished_at: None,
            },
        );
        Ok(())
    }

    /// The record's half of a claim [`ClientApi::begin_claim`] made: an
    /// id an earlier process recorded is answered with its first order,
    /// and a new one is on the record as pending before it may execute.
    /// A record that cannot answer refuses the order (it never executes
    /// without its record); either way the id is released again.
    pub(crate) async fn finish_claim(
        &self,
        client: &ClientId,
        channel: Channel,
        client_order_id: &Arc<str>,
        quote_id: &Arc<str>,
    ) -> Result<(), ExecutionReport> {
        let Some(record) = &self.record else {
            return Ok(());
        };
        let refused = |why: &str| {
            ExecutionReport::rejected(client_order_id.clone(), Some(quote_id.clone()), why)
        };
        let outcome = match record.latest(client.as_str(), client_order_id).await {
            Ok(Some(row)) => {
                tracing::info!(%client, %client_order_id, "a repeated client order id answered with its recorded first order");
                Err(report_of(client_order_id, row))
            }
            Ok(None) => {
                let row = self.row(client, channel, &pending(client_order_id, quote_id));
                match record.record(row.expect("pending is recorded")).await {
                    Ok(()) => return Ok(()),
                    Err(error) => {
                        tracing::error!(%client, %client_order_id, "a client order cannot be recorded, so it is refused: {error}");
                        Err(refused(
                            "the desk cannot record orders right now: the order was not sent",
                        ))
                    }
                }
            }
            Err(error) => {
                tracing::error!(%client, %client_order_id, "cannot read a client order's record, so it is refused: {error}");
                Err(refused(
                    "the desk cannot read its order record right now: the order was not sent",
                ))
            }
        };
        self.orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .remove(&(client.clone(), client_order_id.clone()));
        outcome
    }

    /// Notes where `report`'s order now stands: at once here, and on the
    /// record in its turn (after the order's pending state).
    pub(crate) fn note_order(&self, client: &ClientId, channel: Channel, report: &ExecutionReport) {
        let report = ExecutionReport {
            status_request: false,
            ..report.clone()
        };
        if let (Some(record), Some(row)) = (&self.record, self.row(client, channel, &report)) {
            record.record_later(row);
        }
        let finished = matches!(report.status, OrderStatus::Filled | OrderStatus::Rejected);
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        orders.by_id.insert(
            (client.clone(), report.client_order_id.clone()),
            KeptOrder {
                report,
                finished_at: finished.then(Instant::now),
            },
        );
    }

    /// `report` as a row of the record; `None` for what is never recorded.
    fn row(
        &self,
        client: &ClientId,
        channel: Channel,
        report: &ExecutionReport,
    ) -> Option<ClientOrderRow> {
        let status = match report.status {
            OrderStatus::Filled => "filled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Pending => "pending",
            OrderStatus::Unknown => "unknown",
            // Never recorded: a status answer is not a state.
            OrderStatus::NotFound => return None,
        };
        Some(ClientOrderRow {
            client: client.to_string(),
            client_order_id: report.client_order_id.to_string(),
            channel: channel.as_str().to_string(),
            quote_id: report.quote_id.as_deref().map(str::to_string),
            status: status.to_string(),
            price: report.price.map(|p| p.to_string()),
            amount: report.amount.map(|a| a.to_string()),
            reason: report.reason.clone(),
        })
    }

    /// Where `client`'s order `client_order_id` stands, from this process
    /// or the record; `Err` saying why when `client` is above
    /// [`MAX_STATUS_PER_SEC`].
    pub(crate) async fn order_status(
        &self,
        client: &ClientId,
        client_order_id: &str,
    ) -> Result<ExecutionReport, String> {
        if !self.recent_status.take(client, MAX_STATUS_PER_SEC) {
            return Err(format!(
                "client '{client}' is above {MAX_STATUS_PER_SEC} order status requests per second: ask again in a moment"
            ));
        }
        let id: Arc<str> = Arc::from(client_order_id);
        let kept = {
            let orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
            orders
                .by_id
                .get(&(client.clone(), id.clone()))
                .map(|kept| kept.report.clone())
        };
        let known = match (kept, &self.record) {
            (Some(report), _) => Some(report),
            (None, None) => None,
            (None, Some(record)) => match record.latest(client.as_str(), &id).await {
                Ok(row) => row.map(|row| report_of(&id, row)),
                Err(error) => {
                    tracing::error!(%client, client_order_id = %id, "cannot read a client order's record: {error}");
                    Some(ExecutionReport {
                        client_order_id: id.clone(),
                        quote_id: None,
                        status: OrderStatus::Unknown,
                        price: None,
                        amount: None,
                        cash_amount: None,
                        reason: Some(
                            "the desk cannot read its order record right now: ask again".into(),
                        ),
                        status_request: true,
                    })
                }
            },
        };
        Ok(match known {
            Some(report) => ExecutionReport {
                status_request: true,
                ..report
            },
            None => ExecutionReport {
                client_order_id: id,
                quote_id: None,
                status: OrderStatus::NotFound,
                price: None,
                amount: None,
                cash_amount: None,
                reason: Some("no order of this client_order_id on this desk".into()),
                status_request: true,
            },
        })
    }
}

/// What an earlier process recorded of an order. An order still pending
/// on the record was out when that process stopped: its outcome is
/// resolved with the counterparty, so it is unknown.
fn report_of(client_order_id: &Arc<str>, row: ClientOrderRow) -> ExecutionReport {
    let decimal = |text: Option<String>| text.and_then(|t| t.parse::<Decimal>().ok());
    let (status, reason) = match row.status.as_str() {
        "filled" => (OrderStatus::Filled, row.reason),
        "rejected" => (OrderStatus::Rejected, row.reason),
        "pending" => (
            OrderStatus::Unknown,
            Some("the desk restarted before the order's outcome was recorded: it resolves it with its counterparty".into()),
        ),
        _ => (OrderStatus::Unknown, row.reason),
    };
    ExecutionReport {
        client_order_id: client_order_id.clone(),
        quote_id: row.quote_id.map(Arc::from),
        status,
        price: decimal(row.price),
        amount: decimal(row.amount),
        cash_amount: None,
        reason,
        status_request: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Settings, SettingsArgs};
    use crate::desk::registry::LpRegistry;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn desk() -> Arc<Desk> {
        let settings = Settings::from_args(&SettingsArgs {
            no_blotter: Some("true".into()),
            ..Default::default()
        })
        .unwrap();
        Arc::new(Desk::with_parts(
            settings,
            LpRegistry::fixed(Vec::new()),
            None,
        ))
    }

    fn api() -> Arc<ClientApi> {
        ClientApi::new(desk()).expect("no blotter to open")
    }

    /// A record that counts its reads, can be held in one (as a
    /// half-open database holds a query), and can fail its writes.
    #[derive(Default)]
    struct FakeRecord {
        reads: Arc<AtomicUsize>,
        writes: Arc<AtomicUsize>,
        /// The first read waits until this is released.
        hold: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
        fail_writes: bool,
    }

    impl ClientOrderRecords for FakeRecord {
        fn record(&self, _row: &ClientOrderRow) -> Result<(), BlotterError> {
            self.writes.fetch_add(1, Ordering::SeqCst);
            if self.fail_writes {
                return Err(BlotterError::Database {
                    url: "postgres://desk@db/blotter".into(),
                    detail: "connection refused".into(),
                });
            }
            Ok(())
        }

        fn latest(
            &self,
            _client: &str,
            _client_order_id: &str,
        ) -> Result<Option<ClientOrderRow>, BlotterError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let hold = self.hold.lock().unwrap().take();
            if let Some(hold) = hold {
                let _ = hold.recv();
            }
            Ok(None)
        }
    }

    fn recorded_api(record: FakeRecord) -> Arc<ClientApi> {
        Arc::new(ClientApi::with_record(
            desk(),
            Some(Box::new(record)),
            Duration::from_millis(300),
        ))
    }

    async fn claim(api: &ClientApi, client: &ClientId, id: &str) -> Result<(), String> {
        api.claim_order(client, Channel::Ws, &Arc::from(id), &Arc::from("Q-1"))
            .await
            .map_err(|report| format!("{:?} {}", report.status, report.reason.unwrap_or_default()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_sends_at_most_its_orders_per_second_others_are_not_held_back() {
        let api = api();
        let acme = ClientId::new("acme").unwrap();
        let other = ClientId::new("other").unwrap();
        for n in 0..MAX_ORDERS_PER_SEC {
            assert_eq!(claim(&api, &acme, &format!("o-{n}")).await, Ok(()));
        }
        assert_eq!(
            claim(&api, &acme, "o-late").await,
            Err(
                "Rejected client 'acme' is above 5 orders per second: send it again in a moment"
                    .into()
            )
        );
        assert_eq!(claim(&api, &other, "o-0").await, Ok(()));
        tokio::time::advance(RATE_WINDOW).await;
        // The refused id was never claimed: sent again, it is new.
        assert_eq!(claim(&api, &acme, "o-late").await, Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_order_is_forgotten_after_the_retention_a_pending_one_is_not() {
        let api = api();
        let acme = ClientId::new("acme").unwrap();
        claim(&api, &acme, "o-filled").await.unwrap();
        claim(&api, &acme, "o-pending").await.unwrap();
        api.note_order(
            &acme,
            Channel::Ws,
            &ExecutionReport::rejected(Arc::from("o-filled"), None, "no liquidity"),
        );
        tokio::time::advance(ORDER_RETENTION - Duration::from_millis(1)).await;
        assert_eq!(
            claim(&api, &acme, "o-filled").await,
            Err("Rejected no liquidity".into())
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(claim(&api, &acme, "o-filled").await, Ok(()));
        assert_eq!(
            claim(&api, &acme, "o-pending").await,
            Err("Pending ".into())
        );
        assert_eq!(
            api.order_status(&acme, "o-gone").await.unwrap().status,
            OrderStatus::NotFound
        );
        let kept = api.orders.lock().unwrap().by_id.len();
        assert_eq!(kept, 2, "o-filled (claimed again) and o-pending");
    }

    /// The rate is counted before the record is read: a client above it
    /// costs the shared record nothing.
    #[tokio::test]
    async fn the_order_rate_is_checked_before_the_record_is_read() {
        let reads = Arc::new(AtomicUsize::new(0));
        let api = recorded_api(FakeRecord {
            reads: reads.clone(),
            ..FakeRecord::default()
        });
        let acme = ClientId::new("acme").unwrap();
        for n in 0..MAX_ORDERS_PER_SEC {
            assert_eq!(claim(&api, &acme, &format!("o-{n}")).await, Ok(()));
        }
        assert_eq!(
            claim(&api, &acme, "o-late").await,
            Err(
                "Rejected client 'acme' is above 5 orders per second: send it again in a moment"
                    .into()
            )
        );
        assert_eq!(reads.load(Ordering::SeqCst), MAX_ORDERS_PER_SEC);
    }

    /// A record held in a read (a half-open database) holds that order
    /// only: meanwhile the same id is answered pending, never claimed
    /// twice, another client's status is answered, and the runtime goes
    /// on; past the wait the order is refused, and its id is free again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_record_that_does_not_answer_refuses_that_order_and_holds_nothing_else() {
        let (release, hold) = std::sync::mpsc::channel();
        let writes = Arc::new(AtomicUsize::new(0));
        let api = recorded_api(FakeRecord {
            hold: Mutex::new(Some(hold)),
            writes: writes.clone(),
            ..FakeRecord::default()
        });
        let acme = ClientId::new("acme").unwrap();
        let other = ClientId::new("other").unwrap();
        let claiming = tokio::spawn({
            let api = api.clone();
            let acme = acme.clone();
            async move { claim(&api, &acme, "o-1").await }
        });
        tokio::task::yield_now().await;
        while api.orders.lock().unwrap().by_id.is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            api.begin_claim(&acme, &Arc::from("o-1"), &Arc::from("Q-2"))
                .map_err(|first| first.status),
            Err(OrderStatus::Pending)
        );
        let status =
            tokio::time::timeout(Duration::from_millis(100), api.order_status(&acme, "o-1"))
                .await
                .expect("answered from memory while the record is held")
                .unwrap();
        assert_eq!(status.status, OrderStatus::Pending);
        assert_eq!(
            claiming.await.unwrap(),
            Err(
                "Rejected the desk cannot read its order record right now: the order was not sent"
                    .into()
            )
        );
        assert_eq!(
            writes.load(Ordering::SeqCst),
            0,
            "never recorded, never sent"
        );
        assert!(
            api.orders.lock().unwrap().by_id.is_empty(),
            "the id is free again"
        );
        release.send(()).unwrap();
        assert_eq!(claim(&api, &other, "o-1").await, Ok(()));
    }

    #[tokio::test]
    async fn an_order_whose_claim_cannot_be_recorded_is_refused() {
        let api = recorded_api(FakeRecord {
            fail_writes: true,
            ..FakeRecord::default()
        });
        let acme = ClientId::new("acme").unwrap();
        assert_eq!(
            claim(&api, &acme, "o-1").await,
            Err("Rejected the desk cannot record orders right now: the order was not sent".into())
        );
        assert_eq!(
            api.order_status(&acme, "o-1").await.unwrap().status,
            OrderStatus::NotFound
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_asks_at_most_its_order_statuses_per_second() {
        let api = api();
        let acme = ClientId::new("acme").unwrap();
        let other = ClientId::new("other").unwrap();
        for _ in 0..MAX_STATUS_PER_SEC {
            assert!(api.order_status(&acme, "o-1").await.is_ok());
        }
        assert_eq!(
            api.order_status(&acme, "o-1")
                .await
                .map(|report| report.status),
            Err(
                "client 'acme' is above 10 order status requests per second: ask again in a moment"
                    .into()
            )
        );
        assert!(api.order_status(&other, "o-1").await.is_ok());
        tokio::time::advance(RATE_WINDOW).await;
        assert!(api.order_status(&acme, "o-1").await.is_ok());
    }
}
