//! Liquidity providers: the trait every LP implements, what it is asked and
//! what it may answer. One file per kind of provider lives beside this one.
//!
//! A real LP (HTTP, FIX, websocket) drops in as another implementation: it
//! turns an [`LpRequest`] into its own wire request, maps its answer to an
//! [`LpQuote`] (converting its expiry into stream time with `request.clock`)
//! or to an [`LpError`], and leaves timeouts to the engine.

pub mod adapter;
pub mod b2c2;
pub mod binance;
pub mod fix;
pub mod guarded;
pub mod health;
pub(crate) mod http;
pub(crate) mod isolated;
pub(crate) mod mock;
pub mod scripted;

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::clock::{StreamClock, StreamMs};
use crate::market::{Leg, Pair, Side};

/// One request for a firm quote, as sent to one LP in one poll.
#[derive(Debug, Clone)]
pub struct LpRequest {
    /// Unique across the process (never reused by another RFQ); a quote
    /// must echo it. [`LpRequest::key`] is its printable, cross-process
    /// form for a venue (FIX QuoteReqID, a client RFQ id).
    pub request_id: u64,
    pub rfq_id: Arc<str>,
    /// The client's side: a BUY asks the LP for its offer, a SELL for its bid.
    pub side: Side,
    pub pair: Pair,
    /// Amount the client wants to trade, in the `fixed` leg's currency.
    pub amount: Decimal,
    /// Which leg `amount` is in. An LP that can only quote a base amount
    /// declines a quote-currency request ([`LpRequest::base_only`]); the
    /// quote it answers with still carries its price per base unit and
    /// the base quantity it gives or takes for `amount`.
    pub fixed: Leg,
    /// Stream time at which the request was sent.
    pub sent_ms: StreamMs,
    /// The stream's clock: simulated LPs pace themselves on it; adapters
    /// use it to express a wall-clock expiry in stream time.
    pub clock: StreamClock,
}

/// A firm quote: the LP stands behind `price` for `quantity` until
/// `valid_until_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct LpQuote {
    /// The LP's own name for itself; must match the LP that was asked.
    pub lp: Arc<str>,
    /// Echo of [`LpRequest::request_id`].
    pub request_id: u64,
    pub side: Side,
    pub pair: Pair,
    /// Price in quote currency per unit of base.
    pub price: Decimal,
    /// Base quantity the LP will fill at `price`.
    pub quantity: Decimal,
    /// Stream time until which the quote is firm.
    pub valid_until_ms: StreamMs,
    /// The venue's own reference for this quote (B2C2 `rfq_id`, Binance
    /// `quoteId`, FIX QuoteID 117), named again by an order against it.
    /// `None` for simulated LPs.
    pub venue_ref: Option<Arc<str>>,
}

impl LpRequest {
    /// For an LP that quotes base amounts only: a quote-currency request
    /// is declined, saying so, so that the operator sees why it is not in
    /// the race.
    pub fn base_only(&self, lp: &str) -> Result<(), LpError> {
        match self.fixed {
            Leg::Base => Ok(()),
            Leg::Quote => Err(LpError::Declined(format!(
                "{lp} quotes amounts in {} only, not in {}",
                self.pair.base, self.pair.quote
            ))),
        }
    }

    /// The base quantity this request trades at `price`: the amount
    /// itself, or a quote-currency amount's base leg rounded to the lot
    /// in the LP's favour, as a simulated LP fills it.
    pub fn base_at(&self, price: Decimal) -> Decimal {
        match self.fixed {
            Leg::Base => self.amount,
            Leg::Quote => self.pair.base_for_quote(self.side, self.amount, price),
        }
    }

    /// The request's key for a venue: unique across processes and
    /// restarts (the run's `crate::ids::process_key`) and within the
    /// process (the request id), e.g. `bxkhfpnca8kkrqqb2-1042`. Usable as a
    /// FIX QuoteReqID or a client RFQ id.
    pub fn key(&self) -> String {
        crate::ids::request_key(crate::ids::process_key(), self.request_id)
    }
}

/// An LP's answer to both sides of a two-way request
/// ([`LiquidityProvider::quote_two_way`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TwoWayAnswer {
    /// The LP's offer, for a client BUY.
    pub offer: Result<LpQuote, LpError>,
    /// The LP's bid, for a client SELL.
    pub bid: Result<LpQuote, LpError>,
}

impl TwoWayAnswer {
    /// The same answer (an error the venue gave for the one request that
    /// carried both sides) for each side.
    pub fn both(error: LpError) -> TwoWayAnswer {
        TwoWayAnswer {
            offer: Err(error.clone()),
            bid: Err(error),
        }
    }

    /// The answer for the client's `side`.
    pub fn side(&self, side: Side) -> &Result<LpQuote, LpError> {
        match side {
            Side::Buy => &self.offer,
            Side::Sell => &self.bid,
        }
    }
}

/// Why an LP gave no quote, grouped by what the desk does about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpError {
    /// The LP does not quote this request (pair, size, side): try elsewhere.
    #[error("{0}")]
    Declined(String),
    /// The LP could not be reached or is down: retry later.
    #[error("{0}")]
    Unavailable(String),
    /// The LP answered something that is not a quote: an adapter bug or a
    /// protocol change to raise with the LP.
    #[error("{0}")]
    Malformed(String),
    /// The LP asks us to slow down; its health pauses it for every stream
    /// for `retry_after_ms` (see [`health`]).
    #[error("rate limited{}", retry_after_ms.map(|ms| format!(", retry after {ms} ms")).unwrap_or_default())]
    RateLimited { retry_after_ms: Option<u64> },
    /// The LP refused our credentials: nothing will work until the desk
    /// fixes its keys, so it is never retried blindly and shown loudly.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Never sent: the LP's shared health held it back (its rate limit,
    /// a pause it asked for, an open breaker). Not the LP's failure.
    #[error(transparent)]
    NotSent(health::NotSent),
}

/// An order against one LP quote: the desk takes the LP's `price` for
/// `amount`, on the same side as the client (a client BUY makes the desk
/// buy from the LP).
#[derive(Debug, Clone)]
pub struct LpOrder {
    /// Our id for the order, unique across processes (FIX ClOrdID 11, a
    /// venue's client order id).
    pub order_id: Arc<str>,
    pub rfq_id: Arc<str>,
    /// The client's side, which is the desk's side with the LP.
    pub side: Side,
    pub pair: Pair,
    /// In the `fixed` leg's currency, as the quote was asked: a
    /// quote-currency order trades exactly that much of the quote
    /// currency, and the LP fills the base quantity its price gives.
    pub amount: Decimal,
    pub fixed: Leg,
    /// The LP's quoted price the order names.
    pub price: Decimal,
    /// The venue's reference of the quote being hit, if it gave one.
    pub venue_ref: Option<Arc<str>>,
    /// Stream time until which the LP quote is firm.
    pub valid_until_ms: StreamMs,
    /// The stream's clock, as for [`LpRequest::clock`].
    pub clock: StreamClock,
}

impl LpOrder {
    /// The base quantity the order trades at its price: the amount itself,
    /// or a quote-currency amount's base leg rounded to the lot in the
    /// LP's favour, as a simulated LP fills it.
    pub fn base_quantity(&self) -> Decimal {
        self.base_quantity_at(self.price)
    }

    /// As [`LpOrder::base_quantity`], filled at `price` instead.
    pub fn base_quantity_at(&self, price: Decimal) -> Decimal {
        match self.fixed {
            Leg::Base => self.amount,
            Leg::Quote => self.pair.base_for_quote(self.side, self.amount, price),
        }
    }
}

/// How an LP answered an order. The engine adds the order timeout: an
/// order still unanswered then is [`OrderAnswer::Unknown`] too.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderAnswer {
    /// Done: the desk traded `quantity` at `price` with the LP.
    Filled {
        price: Decimal,
        quantity: Decimal,
        /// The venue's id for the trade or order, for reconciliation.
        venue_order_id: Option<Arc<str>>,
    },
    /// The LP declined to trade (last look, an expired or moved quote):
    /// nothing was done, so another LP may be tried.
    Rejected { reason: String },
    /// The order never reached the LP's dealing decision (see
    /// [`OrderRefusal`]): nothing traded, so another LP may be tried, but
    /// unlike a last-look reject it says nothing about how the LP deals,
    /// so its fade estimate does not count it.
    Refused {
        reason: String,
        refusal: OrderRefusal,
    },
    /// Nobody knows whether it traded (connection lost, no answer, a status
    /// that never settled): never followed by another order.
    Unknown { reason: String },
}

/// What the venue saw of an order, to look it up by later: how a venue
/// names our order. Pure, so the engine records the id the venue saw
/// when it sends the order, and anyone can derive it again from our
/// order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientOrderIds {
    /// The venue takes no id of ours (Binance Convert: the order is
    /// found by its quoteId or the venue's orderId).
    #[default]
    None,
    /// Our order id as it is (FIX ClOrdID 11).
    OrderId,
    /// A UUID derived from our order id (B2C2's `client_order_id` must be
    /// a UUID): the first 16 bytes of its SHA-256, as a version-4 UUID.
    UuidOfOrderId,
}

impl ClientOrderIds {
    /// The id the venue saw for our order `order_id`, if it takes one.
    pub fn of(self, order_id: &str) -> Option<String> {
        match self {
            ClientOrderIds::None => None,
            ClientOrderIds::OrderId => Some(order_id.to_string()),
            ClientOrderIds::UuidOfOrderId => Some(http::uuid_from(order_id)),
        }
    }
}

/// An order on record whose outcome is not known, as a venue can be asked
/// about it: every id it was sent with, and what it asked for.
#[derive(Debug, Clone)]
pub struct OrderLookup {
    /// Our order id (`O…`).
    pub order_id: Arc<str>,
    /// The id the venue saw ([`ClientOrderIds`]), if it takes one.
    pub client_order_id: Option<Arc<str>>,
    /// The venue's own id for the order, when an answer gave it.
    pub venue_order_id: Option<Arc<str>>,
    /// The venue's reference of the quote the order named (B2C2 `rfq_id`,
    /// Binance `quoteId`, FIX QuoteID).
    pub venue_ref: Option<Arc<str>>,
    pub side: Side,
    pub pair: Pair,
    pub amount: Decimal,
    /// The LP price the order named.
    pub price: Decimal,
}

/// Why an order never reached the LP's dealing decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRefusal {
    /// Not sent (no connection, the adapter's thread busy, nothing to trade
    /// against), or turned away before any dealing (clock, firewall,
    /// malformed message).
    NotSent,
    /// The LP refused the credentials.
    Auth,
    /// The LP's rate limit, with the pause it asked for.
    RateLimited { retry_after_ms: Option<u64> },
}

/// A liquidity provider that quotes firm prices on request.
#[async_trait]
pub trait LiquidityProvider: Send + Sync {
    /// The name shown on the leaderboard and stored in the blotter.
    fn name(&self) -> &str;

    /// The name as a shared string, for the events of every stream that
    /// asks this LP; an LP that keeps its name in an `Arc<str>` returns a
    /// clone of it and saves an allocation per stream.
    fn shared_name(&self) -> Arc<str> {
        Arc::from(self.name())
    }

    /// Asks for a firm quote. The engine polls every call inside the
    /// stream's task and drops it at its own deadline, so an implementation
    /// may simply await its network call; a panic is contained and
    /// reported. It must not block its thread: the registry runs every LP
    /// that is not one of lp-rfq's simulations on a thread of its own
    /// (`isolated`), where blocking costs only its own answers.
    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError>;

    /// True when the venue quotes both sides in one answer (a FIX Quote
    /// with BidPx and OfferPx): a two-way request then asks it once per
    /// poll through [`LiquidityProvider::quote_two_way`] rather than once
    /// per side.
    fn quotes_two_way(&self) -> bool {
        false
    }

    /// Asks for both sides of a two-way request at once: `offer` (a
    /// client BUY) and `bid` (a client SELL) are the two sides' requests
    /// of one poll, same pair and amount, each answered with its own
    /// request id. Without a two-way form, one request per side, both in
    /// flight together.
    async fn quote_two_way(&self, offer: &LpRequest, bid: &LpRequest) -> TwoWayAnswer {
        let (offer, bid) = futures::join!(self.quote(offer), self.quote(bid));
        TwoWayAnswer { offer, bid }
    }

    /// Sends an order against one of this LP's quotes and waits for the
    /// outcome (an adapter may ask the venue for the order's status until
    /// it learns it). Runs in its own task under the engine's order
    /// timeout; a panic there is reported as an unknown outcome.
    async fn execute(&self, order: &LpOrder) -> OrderAnswer;

    /// How this venue names our orders, so the id it saw is recorded when
    /// an order is sent; `None` for a venue that takes no id of ours.
    fn client_order_ids(&self) -> ClientOrderIds {
        ClientOrderIds::None
    }

    /// How this venue is asked for an order's outcome (e.g. `GET
    /// /order/<client_order_id>/`), for the operator's record; `None`:
    /// it cannot be asked, and [`LiquidityProvider::order_status`] always
    /// answers unknown.
    fn order_lookup(&self) -> Option<&'static str> {
        None
    }

    /// Asks the venue what became of an order whose outcome is not known
    /// (a restart, or an order that timed out): `Filled`, `Rejected` (the
    /// venue says it never traded, or never saw it), or `Unknown` when
    /// the venue cannot say now (unreachable, not logged on, no answer).
    /// Only ever reads: nothing is sent that could trade.
    async fn order_status(&self, order: &OrderLookup) -> OrderAnswer {
        let _ = order;
        OrderAnswer::Unknown {
            reason: format!("{} cannot be asked for an order's status", self.name()),
        }
    }

    /// This LP's own request timeout in stream ms (a venue's
    /// `timeout_ms`); `None`: the desk's LP_TIMEOUT_MS.
    fn timeout_ms(&self) -> Option<u64> {
        None
    }

    /// How long the engine waits for this LP's answer to an order before
    /// its outcome is unknown, in stream ms; `None`: ORDER_TIMEOUT_MS. An
    /// adapter that asks the venue for an order's status returns a longer
    /// time than its own polling takes, so its own answer comes first.
    fn order_timeout_ms(&self) -> Option<u64> {
        None
    }

    /// The LP's shared health (rate limit, breaker, fade), for an LP
    /// wrapped in one ([`guarded::Guarded`]); `None`: not tracked.
    fn health(&self) -> Option<health::HealthView> {
        None
    }

    /// True for a simulated LP (built-in mocks, scripted LPs): a stream
    /// whose LPs are all simulated says so on every screen.
    fn simulated(&self) -> bool {
        false
    }

    /// Connects before the first stream (a FIX logon, say). Called once by
    /// the registry; simulated LPs need nothing.
    async fn start(&self) {}

    /// Closes the connection cleanly after the last stream (a FIX logout).
    async fn shutdown(&self) {}
}

/// A new request id, unique within the process: ids are never reused
/// across RFQs, so an answer can never be mistaken for another stream's.
pub fn next_request_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// How LPs are held by the engine.
pub type SharedLp = Arc<dyn LiquidityProvider>;
