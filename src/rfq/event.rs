//! The typed event stream of an RFQ: everything a consumer (console, plain
//! or JSON lines, blotter) ever learns about a stream arrives as one of
//! these, in order, stamped with stream time. Decimals serialise as strings.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::clock::StreamMs;
use crate::market::{Asset, Bps, Leg, Pair, Side};
use crate::rfq::client_id::ClientId;

/// One event of one RFQ stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfqEvent {
    #[serde(flatten)]
    pub kind: EventKind,
    pub rfq_id: Arc<str>,
    /// Milliseconds of stream time since the stream started.
    pub t_ms: StreamMs,
    /// In a two-way stream, which of its two sides the event belongs to
    /// (the client's side: `sell` for the client's bid, `buy` for its
    /// offer); absent on a one-sided stream's events and on the two-way
    /// stream's own `started` and `ended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_way_side: Option<Side>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Started(Box<Started>),
    LpQuote(LpQuoteEvent),
    LpError(LpErrorEvent),
    ClientQuote(Box<ClientQuote>),
    Locked(Locked),
    LockExpired(LockExpired),
    /// A valid LP quote that would be offered, held back: nothing
    /// independent corroborates its price yet. Shown to the operator,
    /// never to a client, never executable.
    Unverified(Unverified),
    /// The operator released an unverified price: it (and the LP's later
    /// prices near it) may now be offered. Recorded.
    Released(Released),
    // Boxed: rare, and its size (152 B) would set every event's,
    // millions of them in channels and the writer's batches.
    OrderSent(Box<OrderSent>),
    OrderRejected(OrderRejected),
    Filled(Box<Filled>),
    ExecutionUnknown(ExecutionUnknown),
    NotFilled(NotFilled),
    /// An LP's health as this stream sees it changed (throttled, down,
    /// fading, back to ok). Recorded once per desk, not per stream.
    LpHealth(LpHealthEvent),
    /// The blotter cannot record this stream (writes fail, or its buffer
    /// is full and the stream is being stopped). Not itself recorded.
    BlotterError(BlotterErrorEvent),
    Ended(Ended),
}

/// Why the blotter cannot record the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlotterErrorEvent {
    pub reason: String,
}

/// The request and the settings in force for the whole stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    /// The client's side; on a two-way request (`two_way`), `buy`, and
    /// each side's events say which side they are.
    pub side: Side,
    /// The client asked for both sides: the desk quotes a bid and an
    /// offer, each with its own lock (see `RfqEvent::two_way_side`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub two_way: bool,
    /// In the currency of the `fixed` leg.
    pub amount: Decimal,
    pub pair: Pair,
    /// The leg whose amount the client named (`base`, or `quote`: the
    /// client pays or receives exactly `amount` of the quote currency).
    #[serde(default)]
    pub fixed: Leg,
    /// Who the request is for (`house` when it names no client).
    pub client: ClientId,
    /// The desk server's operator who asked (the operators file's name);
    /// absent in a single process, where the operator is whoever runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Arc<str>>,
    /// How the request came in: written only for a client's own session
    /// (`ws`, `fix`); absent, an operator's.
    #[serde(
        default,
        skip_serializing_if = "crate::rfq::client_id::Channel::is_operator"
    )]
    pub channel: crate::rfq::client_id::Channel,
    pub lps: Vec<Arc<str>>,
    /// The request's markup and threshold (the desk's unless it gave its
    /// own).
    pub markup_bps: Bps,
    pub threshold_bps: Bps,
    pub validity_buffer_ms: u64,
    pub poll_interval_ms: u64,
    pub lp_timeout_ms: u64,
    pub duration_ms: u64,
    /// How many times faster than real time stream time runs (`--speed`);
    /// an event's wall time is `started_at + t_ms / speed`.
    pub speed: Decimal,
    /// Wall-clock start, UTC ISO-8601 with milliseconds.
    pub started_at: String,
    /// True when every LP is simulated (built-in mocks, a scenario):
    /// nothing quoted is real.
    pub simulated: bool,
    /// The simulated LPs of a stream that also asks real ones (allowed
    /// only with ALLOW_SIMULATED_WITH_REAL); empty otherwise, and then
    /// not written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub simulated_lps: Vec<Arc<str>>,
}

impl Started {
    /// Some LPs are simulated and some are real: every screen says which.
    pub(crate) fn mixed(&self) -> bool {
        !self.simulated && !self.simulated_lps.is_empty()
    }
}

/// A valid firm quote from an LP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LpQuoteEvent {
    pub lp: Arc<str>,
    pub price: Decimal,
    pub quantity: Decimal,
    pub latency_ms: u64,
    /// How long the LP stands behind the quote from its arrival.
    pub valid_for_ms: u64,
    pub poll: u32,
    /// The LP behind it is a simulation (see docs/events.md: present
    /// only when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

wire_enum! {
    /// What went wrong with one LP request.
    pub enum FailureKind {
        /// No answer within LP_TIMEOUT_MS.
        Timeout = "timeout",
        /// The LP does not quote this request.
        Declined = "declined",
        /// The LP was down, unreachable, or its adapter panicked.
        Unavailable = "unavailable",
        /// The LP answered something that is not a quote.
        Malformed = "malformed",
        /// The LP asked us to slow down.
        RateLimited = "rate_limited",
        /// A quote arrived but failed validation (wrong side, short
        /// quantity, expired, ...): it is never selected.
        Invalid = "invalid",
        /// The LP refused the desk's credentials.
        Auth = "auth",
    }
}

/// Defined with the LP it describes; re-exported so the events keep their path.
pub use crate::lp::health::HealthState;

/// An LP's health changed as this stream sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LpHealthEvent {
    pub lp: Arc<str>,
    pub state: HealthState,
    /// Until the LP is asked again (`rate_limited`, `down`), from this
    /// event's time, in ms.
    pub retry_in_ms: Option<u64>,
    /// The LP's smoothed last-look reject rate, percent.
    pub reject_rate: Decimal,
    /// Above FADE_LIMIT_PCT, whatever the state.
    pub fading: bool,
    /// Why (the failure that opened the breaker, the LP's refusal).
    pub reason: Option<Arc<str>>,
}

impl LpHealthEvent {
    /// How a screen shows it, `elapsed_ms` after the event: `ok`,
    /// `throttled`, `paused 12 s` (the LP asked), `down 12 s`, `down, probing`,
    /// `auth failed`, `fading 40.0 %` (a countdown rounds up).
    pub fn label(&self, elapsed_ms: u64) -> String {
        let left = || {
            let ms = self.retry_in_ms.unwrap_or(0).saturating_sub(elapsed_ms);
            ms.div_ceil(1000)
        };
        match self.state {
            HealthState::Ok if self.fading => format!("fading {} %", self.reject_rate),
            HealthState::Ok => "ok".to_string(),
            HealthState::Throttled => "throttled".to_string(),
            HealthState::RateLimited => format!("paused {} s", left()),
            HealthState::Down if left() == 0 => "down, probing".to_string(),
            HealthState::Down => format!("down {} s", left()),
            HealthState::Probing => "down, probing".to_string(),
            HealthState::AuthFailed => "auth failed".to_string(),
            HealthState::Fading => format!("fading {} %", self.reject_rate),
        }
    }
}

/// An LP request that produced no usable quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LpErrorEvent {
    pub lp: Arc<str>,
    pub kind: FailureKind,
    pub reason: String,
    pub latency_ms: u64,
    pub poll: u32,
}

wire_enum! {
    /// Why the client quote changed.
    pub enum QuoteReason {
        /// The first valid answer of the stream.
        First = "first",
        /// A better answer during a race (the first poll, or after an expiry).
        BestSoFar = "best_so_far",
        /// A competitor beat the locked LP by at least the threshold.
        Improvement = "improvement",
        /// The lock was renewed with a fresh quote before or after it expired.
        Refresh = "refresh",
    }
}

/// The price offered to the client, with the LP quote behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientQuote {
    pub quote_id: Arc<str>,
    pub lp: Arc<str>,
    pub side: Side,
    pub lp_price: Decimal,
    pub client_price: Decimal,
    pub markup_bps: Bps,
    pub amount: Decimal,
    pub client_pays: Decimal,
    pub pays_asset: Asset,
    pub client_receives: Decimal,
    pub receives_asset: Asset,
    /// How long the client may accept, from this event's time.
    pub client_valid_for_ms: u64,
    pub reason: QuoteReason,
    /// The LP behind it is a simulation (see docs/events.md: present
    /// only when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

wire_enum! {
    /// Why the lock was set or moved.
    pub enum LockReason {
        /// The winner of a race (first poll, or after an expiry).
        BestOfPoll = "best_of_poll",
        /// A competitor beat the lock by at least the threshold.
        Improvement = "improvement",
        /// The best fresh quote replaced an expiring lock.
        Refresh = "refresh",
    }
}

/// The lock was set or moved to `lp` at `price` (the LP price).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Locked {
    pub lp: Arc<str>,
    pub price: Decimal,
    /// The LP that held the lock before, if any.
    pub previous_lp: Option<Arc<str>>,
    pub reason: LockReason,
    /// The LP behind it is a simulation (see docs/events.md: present
    /// only when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// The client quote's validity ran out: nothing is offered until a fresh
/// quote arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockExpired {
    pub lp: Arc<str>,
}

/// LP `lp`'s valid quote at `price` beats what is offered but nothing
/// independent corroborates it (no band for the pair, no reference near
/// it, no other LP within MAX_DEVIATION_BPS, fewer than three quotes for
/// the median): it is not offered until something does, or the operator
/// releases it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unverified {
    pub lp: Arc<str>,
    pub price: Decimal,
}

/// The operator released LP `lp`'s unverified price `price`: it becomes
/// the stream's reference, so it and the LP's later prices within
/// MAX_DEVIATION_BPS of it may be offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Released {
    pub lp: Arc<str>,
    pub price: Decimal,
}

/// An order went to an LP for an accepted client quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderSent {
    pub lp: Arc<str>,
    /// Our id for the order (`O…`), unique across processes.
    pub order_id: Arc<str>,
    /// The client quote the client accepted.
    pub quote_id: Arc<str>,
    /// The venue's reference of the LP quote the order names, if any.
    pub venue_ref: Option<Arc<str>>,
    /// The id the venue saw for the order (FIX ClOrdID, B2C2's
    /// `client_order_id`), when it takes one of ours: what the order is
    /// looked up by when its outcome is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_order_id: Option<Arc<str>>,
    pub lp_price: Decimal,
    pub amount: Decimal,
    /// 1 for the LP behind the accepted quote, 2 for the first fallback...
    pub attempt: u32,
    /// A fading LP this order was sent instead of (its price was better
    /// by no more than FADE_TOLERANCE_BPS), and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_over: Option<PreferredOver>,
    /// The LP behind it is a simulation (see docs/events.md: present
    /// only when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// Why an order went to a clean LP rather than a fading one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferredOver {
    /// The fading LP passed over.
    pub lp: Arc<str>,
    /// Its price.
    pub lp_price: Decimal,
    /// Its smoothed last-look reject rate, percent.
    pub reject_rate: Decimal,
}

impl PreferredOver {
    /// `preferred over Fader (fading 29.2 %, 99,990.00)`-style text, for
    /// screens and the blotter.
    pub fn describe(&self) -> String {
        format!(
            "preferred over {} (fading {} %, its price {})",
            self.lp, self.reject_rate, self.lp_price
        )
    }
}

/// The LP declined the order (last look): nothing traded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRejected {
    pub lp: Arc<str>,
    pub order_id: Arc<str>,
    pub reason: String,
    /// How long the LP held the order before answering, stream ms.
    pub hold_ms: u64,
}

/// The trade is done: the desk traded with the LP at `lp_price`, the client
/// at the accepted `client_price`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filled {
    pub lp: Arc<str>,
    pub order_id: Arc<str>,
    /// The accepted client quote.
    pub quote_id: Arc<str>,
    /// The price the LP filled at.
    pub lp_price: Decimal,
    pub client_price: Decimal,
    pub amount: Decimal,
    pub client_pays: Decimal,
    pub pays_asset: Asset,
    pub client_receives: Decimal,
    pub receives_asset: Asset,
    /// What the desk keeps, in `pnl_asset` (the quote currency).
    pub desk_pnl: Decimal,
    pub pnl_asset: Asset,
    pub hold_ms: u64,
    /// The venue's id for the trade, if it gave one.
    pub venue_order_id: Option<Arc<str>>,
    /// The LP behind it is a simulation (see docs/events.md: present
    /// only when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// Nobody knows whether the order traded (no answer in time, connection
/// lost): no other order follows; the operator resolves it with the LP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionUnknown {
    pub lp: Arc<str>,
    pub order_id: Arc<str>,
    pub reason: String,
}

/// The accepted quote could not be traded: why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotFilled {
    /// The quote the client accepted (or tried to), if one was named or live.
    pub quote_id: Option<Arc<str>>,
    pub reason: String,
}

wire_enum! {
    /// How the client's acceptance ended.
    pub enum Outcome {
        /// The client accepted and an LP filled.
        Filled = "filled",
        /// The client accepted; no LP filled (all rejected, or nothing
        /// could be sent).
        NotFilled = "not_filled",
        /// An order's outcome is unknown: resolve it with the LP.
        Unknown = "unknown",
        /// Nobody accepted a quote during the stream.
        NotAccepted = "not_accepted",
    }
}

impl Outcome {
    /// The process exit code this outcome gives: 0 filled or nothing
    /// accepted, 1 not filled, 3 unknown (resolve it with the LP). A
    /// session of many RFQs exits with the highest.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Outcome::Filled | Outcome::NotAccepted => 0,
            Outcome::NotFilled => 1,
            Outcome::Unknown => 3,
        }
    }
}

wire_enum! {
    /// Why the stream ended.
    pub enum EndReason {
        /// The configured stream duration ran out.
        Duration = "duration",
        /// The operator stopped it (q, Ctrl+C, SIGTERM).
        Interrupted = "interrupted",
        /// Every LP declined the request: nobody quotes it.
        NoQuotes = "no_quotes",
        /// The client accepted a quote and its execution resolved.
        Accepted = "accepted",
    }
}

/// The last event of every stream, with the client quote live at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ended {
    pub reason: EndReason,
    /// How the client's acceptance ended (`not_accepted` without one).
    pub outcome: Outcome,
    pub improvements: u32,
    pub quote_id: Option<Arc<str>>,
    pub lp: Option<Arc<str>>,
    pub client_price: Option<Decimal>,
    /// The LP behind it is a simulation (see docs/events.md: present
    /// only when true).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

impl EventKind {
    /// The event's name as written in the `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Started(_) => "started",
            EventKind::LpQuote(_) => "lp_quote",
            EventKind::LpError(_) => "lp_error",
            EventKind::ClientQuote(_) => "client_quote",
            EventKind::Locked(_) => "locked",
            EventKind::LockExpired(_) => "lock_expired",
            EventKind::Unverified(_) => "unverified",
            EventKind::Released(_) => "released",
            EventKind::OrderSent(_) => "order_sent",
            EventKind::OrderRejected(_) => "order_rejected",
            EventKind::Filled(_) => "filled",
            EventKind::ExecutionUnknown(_) => "execution_unknown",
            EventKind::NotFilled(_) => "not_filled",
            EventKind::LpHealth(_) => "lp_health",
            EventKind::BlotterError(_) => "blotter_error",
            EventKind::Ended(_) => "ended",
        }
    }
}
