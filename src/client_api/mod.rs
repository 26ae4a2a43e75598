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

/// What every client session on one desk shares.
pub struct ClientApi {
    desk: Arc<Desk>,
    /// Who times the hops, if anyone ([`HopWatcher`]).
    pub(crate) hops: Option<Arc<dyn HopWatcher>>,
    /// Each client's RFQs within the last [`RATE_WINDOW`].
    recent_rfqs: Mutex<HashMap<ClientId, VecDeque<Instant>>>,
    /// Every client order id seen within [`ORDER_RETENTION`] of its
    /// outcome, with its latest state: a repeated id is answered from
    /// here and never executes twice.
    orders: Mutex<Orders>,
    /// The blotter's record of client orders, which outlives the process:
    /// asked when an id is not in `orders` (after a restart, or once
    /// forgotten here).
    record: Option<Box<dyn ClientOrderRecords>>,
}

/// The client orders the desk remembers, and each client's recent ones.
#[derive(Default)]
struct Orders {
    by_id: HashMap<(ClientId, Arc<str>), KeptOrder>,
    /// Each client's new orders within the last [`RATE_WINDOW`].
    recent: HashMap<ClientId, VecDeque<Instant>>,
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
        self.recent.retain(|_, window| {
            window
                .back()
                .is_some_and(|at| now.duration_since(*at) < RATE_WINDOW)
        });
    }
}

impl ClientApi {
    /// The client API of `desk`, recording client orders in its blotter
    /// when it has one.
    pub fn new(desk: Arc<Desk>) -> Result<Arc<ClientApi>, BlotterError> {
        let record = desk.client_order_records().transpose()?;
        Ok(Arc::new(ClientApi {
            desk,
            hops: None,
            recent_rfqs: Mutex::new(HashMap::new()),
            orders: Mutex::new(Orders::default()),
            record,
        }))
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
        let now = Instant::now();
        let mut recent = self.recent_rfqs.lock().unwrap_or_else(|p| p.into_inner());
        let window = recent.entry(client.clone()).or_default();
        while window
            .front()
            .is_some_and(|at| now.duration_since(*at) >= RATE_WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return Err(format!(
                "client '{client}' is above its max_rfqs_per_sec of {limit}: ask again in a moment"
            ));
        }
        window.push_back(now);
        Ok(())
    }

    /// Claims `client_order_id` for a new order, on the record before it
    /// may execute; `Err` with what the first order of that id has come
    /// to when it is not new (in this process or an earlier one), or with
    /// a refusal when the claim cannot be recorded or `client` is above
    /// [`MAX_ORDERS_PER_SEC`].
    pub(crate) fn claim_order(
        &self,
        client: &ClientId,
        channel: Channel,
        client_order_id: &Arc<str>,
        quote_id: &Arc<str>,
    ) -> Result<(), ExecutionReport> {
        let now = Instant::now();
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        orders.expire(now);
        let key = (client.clone(), client_order_id.clone());
        if let Some(first) = orders.by_id.get(&key) {
            tracing::info!(%client, %client_order_id, "a repeated client order id answered with its first order");
            return Err(first.report.clone());
        }
        if let Some(first) = self.recorded(client, client_order_id) {
            tracing::info!(%client, %client_order_id, "a repeated client order id answered with its recorded first order");
            return Err(first);
        }
        let window = orders.recent.entry(client.clone()).or_default();
        while window
            .front()
            .is_some_and(|at| now.duration_since(*at) >= RATE_WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= MAX_ORDERS_PER_SEC {
            return Err(ExecutionReport::rejected(
                client_order_id.clone(),
                Some(quote_id.clone()),
                format!(
                    "client '{client}' is above {MAX_ORDERS_PER_SEC} orders per second: send it again in a moment"
                ),
            ));
        }
        window.push_back(now);
        let pending = ExecutionReport {
            client_order_id: client_order_id.clone(),
            quote_id: Some(quote_id.clone()),
            status: OrderStatus::Pending,
            price: None,
            amount: None,
            cash_amount: None,
            reason: None,
            status_request: false,
        };
        if let Err(error) = self.write(client, channel, &pending) {
            tracing::error!(%client, client_order_id = %client_order_id, "a client order cannot be recorded, so it is refused: {error}");
            return Err(ExecutionReport::rejected(
                client_order_id.clone(),
                Some(quote_id.clone()),
                "the desk cannot record orders right now: the order was not sent",
            ));
        }
        orders.by_id.insert(
            key,
            KeptOrder {
                report: pending,
                finished_at: None,
            },
        );
        Ok(())
    }

    /// Notes where `report`'s order now stands, on the record first.
    pub(crate) fn note_order(&self, client: &ClientId, channel: Channel, report: &ExecutionReport) {
        let report = ExecutionReport {
            status_request: false,
            ..report.clone()
        };
        if let Err(error) = self.write(client, channel, &report) {
            tracing::error!(%client, client_order_id = %report.client_order_id, "a client order's state cannot be recorded: {error}");
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

    fn write(
        &self,
        client: &ClientId,
        channel: Channel,
        report: &ExecutionReport,
    ) -> Result<(), BlotterError> {
        let Some(record) = &self.record else {
            return Ok(());
        };
        let status = match report.status {
            OrderStatus::Filled => "filled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Pending => "pending",
            OrderStatus::Unknown => "unknown",
            // Never recorded: a status answer is not a state.
            OrderStatus::NotFound => return Ok(()),
        };
        record.record(&ClientOrderRow {
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

    /// What an earlier process recorded of `client`'s order. An order
    /// still pending on the record was out when that process stopped:
    /// its outcome is resolved with the counterparty, so it is unknown.
    fn recorded(&self, client: &ClientId, client_order_id: &Arc<str>) -> Option<ExecutionReport> {
        let record = self.record.as_ref()?;
        let row = match record.latest(client.as_str(), client_order_id) {
            Ok(row) => row?,
            Err(error) => {
                tracing::error!(%client, %client_order_id, "cannot read a client order's record: {error}");
                return Some(ExecutionReport::rejected(
                    client_order_id.clone(),
                    None,
                    "the desk cannot read its order record right now: ask again",
                ));
            }
        };
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
        Some(ExecutionReport {
            client_order_id: client_order_id.clone(),
            quote_id: row.quote_id.map(Arc::from),
            status,
            price: decimal(row.price),
            amount: decimal(row.amount),
            cash_amount: None,
            reason,
            status_request: false,
        })
    }

    /// Where `client`'s order `client_order_id` stands, from this process
    /// or the record.
    pub(crate) fn order_status(&self, client: &ClientId, client_order_id: &str) -> ExecutionReport {
        let id: Arc<str> = Arc::from(client_order_id);
        let known = self
            .orders
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_id
            .get(&(client.clone(), id.clone()))
            .map(|kept| kept.report.clone())
            .or_else(|| self.recorded(client, &id));
        match known {
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Settings, SettingsArgs};
    use crate::desk::registry::LpRegistry;

    fn api() -> Arc<ClientApi> {
        let settings = Settings::from_args(&SettingsArgs {
            no_blotter: Some("true".into()),
            ..Default::default()
        })
        .unwrap();
        ClientApi::new(Arc::new(Desk::with_parts(
            settings,
            LpRegistry::fixed(Vec::new()),
            None,
        )))
        .expect("no blotter to open")
    }

    fn claim(api: &ClientApi, client: &ClientId, id: &str) -> Result<(), String> {
        api.claim_order(client, Channel::Ws, &Arc::from(id), &Arc::from("Q-1"))
            .map_err(|report| format!("{:?} {}", report.status, report.reason.unwrap_or_default()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_sends_at_most_its_orders_per_second_others_are_not_held_back() {
        let api = api();
        let acme = ClientId::new("acme").unwrap();
        let other = ClientId::new("other").unwrap();
        for n in 0..MAX_ORDERS_PER_SEC {
            assert_eq!(claim(&api, &acme, &format!("o-{n}")), Ok(()));
        }
        assert_eq!(
            claim(&api, &acme, "o-late"),
            Err(
                "Rejected client 'acme' is above 5 orders per second: send it again in a moment"
                    .into()
            )
        );
        assert_eq!(claim(&api, &other, "o-0"), Ok(()));
        tokio::time::advance(RATE_WINDOW).await;
        // The refused id was never claimed: sent again, it is new.
        assert_eq!(claim(&api, &acme, "o-late"), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_finished_order_is_forgotten_after_the_retention_a_pending_one_is_not() {
        let api = api();
        let acme = ClientId::new("acme").unwrap();
        claim(&api, &acme, "o-filled").unwrap();
        claim(&api, &acme, "o-pending").unwrap();
        api.note_order(
            &acme,
            Channel::Ws,
            &ExecutionReport::rejected(Arc::from("o-filled"), None, "no liquidity"),
        );
        tokio::time::advance(ORDER_RETENTION - Duration::from_millis(1)).await;
        assert_eq!(
            claim(&api, &acme, "o-filled"),
            Err("Rejected no liquidity".into())
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(claim(&api, &acme, "o-filled"), Ok(()));
        assert_eq!(claim(&api, &acme, "o-pending"), Err("Pending ".into()));
        assert_eq!(
            api.order_status(&acme, "o-gone").status,
            OrderStatus::NotFound
        );
        let kept = api.orders.lock().unwrap().by_id.len();
        assert_eq!(kept, 2, "o-filled (claimed again) and o-pending");
    }
}
