//! The desk's clients asking for quotes themselves, whatever the
//! transport: the messages a client sends and receives ([`Inbound`],
//! [`Outbound`]), what every client session on the desk shares
//! ([`ClientApi`]: each client's RFQ rate and the outcome of every client
//! order id, so a repeated one never executes twice), and one session's
//! work ([`session`]). A client's quotes and fills are built from the
//! client view of its stream only (`rfq::client_view`), so nothing a
//! client receives can carry an LP's name or price or the desk's P&L.
//! `ws` carries it over a WebSocket (`lp-rfq serve --client-ws`);
//! docs/client-api.md is the wire.

pub mod session;
pub mod ws;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::clients::ClientRefusal;
use crate::desk::{Desk, DeskError};
use crate::rfq::ClientId;

/// What a client sends, whatever the transport. On the WebSocket each is
/// a JSON object with a `type` field; decimals are strings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Inbound {
    /// Quote `amount` of `pair` for the client to `side`.
    QuoteRequest {
        client_rfq_id: String,
        pair: String,
        /// `buy`, `sell` (`two_way` is refused for now).
        side: String,
        amount: String,
        /// The currency `amount` is in: the pair's base (the default).
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
        amount: Decimal,
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
}

/// Why a request was refused (FIX 658 QuoteRequestRejectReason: 1, 3, 8,
/// 99).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// No LP of the desk quotes the pair, or it is not a pair.
    UnknownSymbol,
    /// Beyond the client's per-RFQ, daily or rate limit.
    ExceedsLimit,
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

/// What every client session on one desk shares.
pub struct ClientApi {
    desk: Arc<Desk>,
    /// Each client's RFQs within the last [`RATE_WINDOW`].
    recent_rfqs: Mutex<HashMap<ClientId, VecDeque<Instant>>>,
    /// Every client order id seen, with its latest state: a repeated id
    /// is answered from here and never executes twice.
    orders: Mutex<HashMap<(ClientId, Arc<str>), ExecutionReport>>,
}

impl ClientApi {
    pub fn new(desk: Arc<Desk>) -> Arc<ClientApi> {
        Arc::new(ClientApi {
            desk,
            recent_rfqs: Mutex::new(HashMap::new()),
            orders: Mutex::new(HashMap::new()),
        })
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

    /// Claims `client_order_id` for a new order; `Err` with what the
    /// first order of that id has come to when it is not new.
    pub(crate) fn claim_order(
        &self,
        client: &ClientId,
        client_order_id: &Arc<str>,
        quote_id: &Arc<str>,
    ) -> Result<(), ExecutionReport> {
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        let key = (client.clone(), client_order_id.clone());
        if let Some(first) = orders.get(&key) {
            return Err(first.clone());
        }
        orders.insert(
            key,
            ExecutionReport {
                client_order_id: client_order_id.clone(),
                quote_id: Some(quote_id.clone()),
                status: OrderStatus::Pending,
                price: None,
                amount: None,
                reason: None,
                status_request: false,
            },
        );
        Ok(())
    }

    /// Notes where `report`'s order now stands.
    pub(crate) fn note_order(&self, client: &ClientId, report: &ExecutionReport) {
        let mut orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        orders.insert(
            (client.clone(), report.client_order_id.clone()),
            ExecutionReport {
                status_request: false,
                ..report.clone()
            },
        );
    }

    /// Where `client`'s order `client_order_id` stands.
    pub(crate) fn order_status(&self, client: &ClientId, client_order_id: &str) -> ExecutionReport {
        let orders = self.orders.lock().unwrap_or_else(|p| p.into_inner());
        let known = orders.get(&(client.clone(), Arc::from(client_order_id)));
        match known {
            Some(report) => ExecutionReport {
                status_request: true,
                ..report.clone()
            },
            None => ExecutionReport {
                client_order_id: Arc::from(client_order_id),
                quote_id: None,
                status: OrderStatus::NotFound,
                price: None,
                amount: None,
                reason: Some("no order of this client_order_id on this desk".into()),
                status_request: true,
            },
        }
    }
}
