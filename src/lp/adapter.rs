//! What every venue adapter shares, whatever its wire (HTTP or FIX): the
//! errors that stop one being built, how long it waits for a venue, and
//! the grace the engine adds to an adapter's own order timeout. The layer
//! above (the venues file, the registry) fills these in; nothing here
//! knows where they came from.

use std::time::Duration;

/// How long an adapter waits for a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdapterTimeouts {
    /// For a quote request (and for connecting); the engine also enforces
    /// its own deadline and drops the call at it.
    pub quote: Duration,
    /// For an order's outcome, including any status polling.
    pub order: Duration,
}

/// How much longer than an adapter's own order timeout the engine waits,
/// so that the adapter's answer (with its reason) arrives first.
pub(crate) const ORDER_GRACE_MS: u64 = 1_000;

/// How long an order's outcome is awaited unless the venues file says.
pub(crate) const DEFAULT_ORDER_TIMEOUT: Duration = Duration::from_secs(5);

impl AdapterTimeouts {
    /// A venue's own `timeout_ms` or the desk's `default_quote_ms`
    /// (LP_TIMEOUT_MS), and its own `order_timeout_ms` or
    /// [`DEFAULT_ORDER_TIMEOUT`].
    pub(crate) fn from_ms(
        timeout_ms: Option<u64>,
        order_timeout_ms: Option<u64>,
        default_quote_ms: u64,
    ) -> AdapterTimeouts {
        AdapterTimeouts {
            quote: Duration::from_millis(timeout_ms.unwrap_or(default_quote_ms)),
            order: order_timeout_ms
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_ORDER_TIMEOUT),
        }
    }

    /// The quote timeout the engine enforces, in ms.
    pub fn quote_ms(&self) -> u64 {
        self.quote.as_millis() as u64
    }

    /// How long the engine waits for an order: the adapter settles the
    /// order itself within `order`, and the engine waits a little longer
    /// ([`ORDER_GRACE_MS`]) so that the adapter's answer wins.
    pub(crate) fn engine_order_wait_ms(&self) -> u64 {
        self.order.as_millis() as u64 + ORDER_GRACE_MS
    }
}

/// Why an adapter could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("lp '{lp}': url '{url}' must be an http:// or https:// address with a host")]
    BadUrl { lp: String, url: String },
    #[error("lp '{lp}': symbol '{symbol}' must contain {{base}} and {{quote}}")]
    BadSymbol { lp: String, symbol: String },
    #[error("lp '{lp}': the {what} holds characters an HTTP header cannot carry")]
    BadHeader { lp: String, what: &'static str },
    #[error("lp '{lp}': cannot build its HTTP client: {reason}")]
    Client { lp: String, reason: String },
}
