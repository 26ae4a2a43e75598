//! One live RFQ as the desk view lists it (operator or the client's own
//! channel, client, request, the LP behind the client price (on a
//! two-way RFQ, each side's), time left, state, order outcome), folded
//! from the stream's events inside its outlet, and each LP's desk-wide
//! health as the view shows it. A row changes on a handful of events per
//! stream (a new client price, an expiry, an order and its outcome, the
//! end), never on an LP's quote, so pushing each change to the desk's
//! listeners costs the busy path nothing.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::lp::health::HealthState;
use crate::market::{Pair, Side};
use crate::rfq::client_id::{Channel, ClientId};
use crate::rfq::event::Outcome;
use crate::rfq::{EventKind, RfqEvent};

wire_enum! {
    /// Where a live RFQ stands.
    pub enum RfqState {
        /// No LP price offered yet.
        Waiting = "waiting",
        /// Only an unverified LP price: nothing is offered until something
        /// corroborates it or the operator releases it.
        Unverified = "unverified",
        /// A client quote is live.
        Quoting = "quoting",
        /// The client quote expired and none has replaced it yet.
        Expired = "expired",
        /// The client accepted: execution is under way or done.
        Accepted = "accepted",
        /// The stream has ended.
        Ended = "ended",
    }
}

wire_enum! {
    /// What became of the client's acceptance so far.
    pub enum OrderState {
        /// An order is out with the LP: its answer has not come.
        Out = "out",
        /// The LP rejected on last look: the next best is being tried.
        Rejected = "rejected",
        Filled = "filled",
        NotFilled = "not_filled",
        /// Whether it traded is not known: resolve it with the LP.
        Unknown = "unknown",
    }
}

/// One RFQ's row in the desk view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveRfq {
    pub rfq_id: Arc<str>,
    /// The event that last changed the row: a row with a lower `seq` than
    /// one already shown is older and is ignored.
    pub seq: u64,
    /// The desk server's operator who asked; absent in a single process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Arc<str>>,
    pub client: ClientId,
    /// How the request came in: `ws` or `fix` for a client's own session;
    /// absent, an operator's.
    #[serde(default, skip_serializing_if = "Channel::is_operator")]
    pub channel: Channel,
    /// The client's side; `buy` on a two-way RFQ (`two_way`).
    pub side: Side,
    /// The client asked for a bid and an offer: `lp` and `client_price`
    /// are the offer's (at which the client buys), `bid_lp` and
    /// `bid_price` the bid's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub two_way: bool,
    pub amount: Decimal,
    pub pair: Pair,
    /// The LP behind the client price (or the order's LP once accepted);
    /// on a two-way RFQ, the offer's.
    pub lp: Option<Arc<str>>,
    pub client_price: Option<Decimal>,
    /// A two-way RFQ's bid: the LP behind it (or the order's LP once the
    /// client sold) and its client price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_lp: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_price: Option<Decimal>,
    /// Stream time left when the row was sent, in ms; the viewer counts it
    /// down at `speed_per_mille` thousandths of its own time.
    pub left_ms: u64,
    pub speed_per_mille: u64,
    pub state: RfqState,
    pub order: Option<OrderState>,
    /// Every LP is a simulation: no price in the row is real.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
    #[serde(skip)]
    duration_ms: u64,
    /// The side of a two-way RFQ the client took: the stream's `ended`
    /// names its LP and price without saying which side they are.
    #[serde(skip)]
    taken: Option<Side>,
}

impl LiveRfq {
    /// The row a stream's `started` event opens.
    pub(crate) fn open(event: &RfqEvent, seq: u64, speed_per_mille: u64) -> Option<LiveRfq> {
        let EventKind::Started(started) = &event.kind else {
            return None;
        };
        Some(LiveRfq {
            rfq_id: event.rfq_id.clone(),
            seq,
            operator: started.operator.clone(),
            client: started.client.clone(),
            channel: started.channel,
            side: started.side,
            two_way: started.two_way,
            amount: started.amount,
            pair: started.pair,
            lp: None,
            client_price: None,
            bid_lp: None,
            bid_price: None,
            left_ms: started.duration_ms.saturating_sub(event.t_ms),
            speed_per_mille,
            state: RfqState::Waiting,
            order: None,
            simulated: started.simulated,
            duration_ms: started.duration_ms,
            taken: None,
        })
    }

    /// Folds event number `seq` in; true when the row changed in anything
    /// the view shows (time left apart: the viewer counts that down).
    pub(crate) fn fold(&mut self, seq: u64, event: &RfqEvent) -> bool {
        let shown = |row: &LiveRfq| {
            (
                row.lp.clone(),
                row.client_price,
                row.bid_lp.clone(),
                row.bid_price,
                row.state,
                row.order,
            )
        };
        let before = shown(self);
        let accepted = self.state == RfqState::Accepted;
        match &event.kind {
            EventKind::ClientQuote(quote) if !accepted => {
                let (lp, price) = self.side_mut(event.two_way_side);
                *lp = Some(quote.lp.clone());
                *price = Some(quote.client_price);
                self.state = RfqState::Quoting;
            }
            EventKind::Unverified(_) if self.state == RfqState::Waiting => {
                self.state = RfqState::Unverified;
            }
            EventKind::LockExpired(_) if !accepted => self.state = RfqState::Expired,
            EventKind::OrderSent(order) => {
                self.state = RfqState::Accepted;
                self.taken = event.two_way_side;
                *self.side_mut(event.two_way_side).0 = Some(order.lp.clone());
                self.order = Some(OrderState::Out);
            }
            EventKind::OrderRejected(_) => self.order = Some(OrderState::Rejected),
            EventKind::Filled(filled) => {
                let (lp, price) = self.side_mut(event.two_way_side);
                *lp = Some(filled.lp.clone());
                *price = Some(filled.client_price);
                self.order = Some(OrderState::Filled);
            }
            EventKind::ExecutionUnknown(_) => self.order = Some(OrderState::Unknown),
            EventKind::NotFilled(_) => {
                self.state = RfqState::Accepted;
                self.order = Some(OrderState::NotFilled);
            }
            EventKind::Ended(ended) => {
                self.state = RfqState::Ended;
                self.order = match ended.outcome {
                    Outcome::Filled => Some(OrderState::Filled),
                    Outcome::NotFilled => Some(OrderState::NotFilled),
                    Outcome::Unknown => Some(OrderState::Unknown),
                    Outcome::NotAccepted => None,
                };
                if let (Some(lp), Some(price)) = (&ended.lp, ended.client_price) {
                    let (shown_lp, shown_price) = self.side_mut(self.taken);
                    *shown_lp = Some(lp.clone());
                    *shown_price = Some(price);
                }
            }
            _ => return false,
        }
        let changed = before != shown(self);
        if changed {
            self.seq = seq;
            self.left_ms = self.left_at(event.t_ms);
        }
        changed
    }

    /// The LP and client price of a two-way RFQ's side `side` (the bid's
    /// for `sell`); a one-sided RFQ's events name no side.
    fn side_mut(&mut self, side: Option<Side>) -> (&mut Option<Arc<str>>, &mut Option<Decimal>) {
        match side {
            Some(Side::Sell) => (&mut self.bid_lp, &mut self.bid_price),
            _ => (&mut self.lp, &mut self.client_price),
        }
    }

    /// Stream time left at stream time `now_ms`.
    pub(crate) fn left_at(&self, now_ms: u64) -> u64 {
        if self.state == RfqState::Ended {
            return 0;
        }
        self.duration_ms.saturating_sub(now_ms)
    }
}

/// One LP's desk-wide health as the desk view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LpHealthRow {
    pub lp: Arc<str>,
    /// `None` for an LP the desk keeps no health of (a simulation).
    pub state: Option<HealthState>,
    /// Until the LP is asked again (`rate_limited`, `down`), in ms.
    pub retry_in_ms: Option<u64>,
    /// Smoothed last-look reject rate, percent.
    pub reject_rate: Option<Decimal>,
    pub reason: Option<Arc<str>>,
}

/// The whole desk view at one moment: what a new listener starts from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeskView {
    /// Every live RFQ, in the order of their ids (the order they started).
    pub rfqs: Vec<LiveRfq>,
    /// Every LP of the desk, in the desk's order.
    pub lps: Vec<LpHealthRow>,
    /// The clients the desk has paused, and its kill switch.
    #[serde(default)]
    pub pauses: super::ClientPauses,
}
