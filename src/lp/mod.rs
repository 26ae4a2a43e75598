//! Liquidity providers: the trait every LP implements, what it is asked and
//! what it may answer. One file per kind of provider lives beside this one.
//!
//! A real LP (HTTP, FIX, websocket) drops in as another implementation: it
//! turns an [`LpRequest`] into its own wire request, maps its answer to an
//! [`LpQuote`] (converting its expiry into stream time with `request.clock`)
//! or to an [`LpError`], and leaves timeouts to the engine.

pub mod mock;
pub mod scripted;

use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::clock::{StreamClock, StreamMs};
use crate::market::{Pair, Side};

/// One request for a firm quote, as sent to one LP in one poll.
#[derive(Debug, Clone)]
pub struct LpRequest {
    /// Unique per request within an RFQ; a quote must echo it.
    pub request_id: u64,
    pub rfq_id: Arc<str>,
    /// The client's side: a BUY asks the LP for its offer, a SELL for its bid.
    pub side: Side,
    pub pair: Pair,
    /// Amount of the base asset the client wants to trade.
    pub amount: Decimal,
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
    /// The LP asks us to slow down; it is not polled again before
    /// `retry_after_ms` of stream time has passed.
    #[error("rate limited{}", retry_after_ms.map(|ms| format!(", retry after {ms} ms")).unwrap_or_default())]
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

    /// Asks for a firm quote. The engine runs every call in its own task and
    /// aborts it at its own deadline, so an implementation may simply await
    /// its network call; a panic is contained and reported.
    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError>;
}

/// How LPs are held by the engine.
pub type SharedLp = Arc<dyn LiquidityProvider>;
