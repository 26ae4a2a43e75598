//! Execution of an accepted client quote, as a pure state machine: the
//! order to the LP behind the quote, last-look rejects falling back to the
//! next best LP quote that still honours the accepted client price, a fill,
//! or an unknown outcome that is never followed by another order. The
//! client's price never changes after acceptance; only the desk's margin
//! does.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::clock::StreamMs;
use crate::ids;
use crate::market::{round_for_desk, Asset, Leg, Side};
use crate::rfq::event::{ClientQuote, Outcome};

/// What the client accepted, kept unchanged for every attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub quote_id: Arc<str>,
    pub side: Side,
    pub amount: Decimal,
    pub client_price: Decimal,
    pub client_pays: Decimal,
    pub pays_asset: Asset,
    pub client_receives: Decimal,
    pub receives_asset: Asset,
    /// Decimals of the quote currency, for the desk's P&L.
    pub(crate) price_dp: u32,
    /// The leg the client fixed: a quote-currency request is ordered from
    /// the LP in the quote currency too, so the desk's margin is left in
    /// the base.
    pub(crate) fixed: Leg,
}

impl Accepted {
    pub(crate) fn from_quote(quote: &ClientQuote, price_dp: u32, fixed: Leg) -> Accepted {
        Accepted {
            quote_id: quote.quote_id.clone(),
            side: quote.side,
            amount: quote.amount,
            client_price: quote.client_price,
            client_pays: quote.client_pays,
            pays_asset: quote.pays_asset,
            client_receives: quote.client_receives,
            receives_asset: quote.receives_asset,
            price_dp,
            fixed,
        }
    }

    /// Whether an LP's fill of `quantity` (base) lets the desk deliver
    /// what the client was promised: the ordered base amount exactly; for
    /// a quote-currency order (the LP derives the base from its price), at
    /// least the client's base leg for a client BUY, at most it for a SELL.
    pub(crate) fn covered_by(&self, quantity: Decimal) -> bool {
        match (self.fixed, self.side) {
            (Leg::Base, _) => quantity == self.amount,
            (Leg::Quote, Side::Buy) => quantity >= self.amount,
            (Leg::Quote, Side::Sell) => quantity <= self.amount,
        }
    }

    /// What the desk keeps when the LP fills `quantity` at `lp_price`, and
    /// in which asset: the quote currency for a base amount
    /// ([`Accepted::desk_pnl`]); for a quote-currency amount, the desk
    /// pays (or is paid) the client's exact amount to the LP, and keeps the
    /// base between the LP's fill and the client's base leg.
    pub(crate) fn desk_pnl_of_fill(
        &self,
        lp_price: Decimal,
        quantity: Decimal,
    ) -> (Decimal, Asset) {
        match (self.fixed, self.side) {
            (Leg::Base, _) => (self.desk_pnl(lp_price), self.quote_asset()),
            (Leg::Quote, Side::Buy) => (quantity - self.client_receives, self.receives_asset),
            (Leg::Quote, Side::Sell) => (self.client_pays - quantity, self.pays_asset),
        }
    }

    /// The quote-currency asset.
    pub(crate) fn quote_asset(&self) -> Asset {
        match self.side {
            Side::Buy => self.pays_asset,
            Side::Sell => self.receives_asset,
        }
    }

    /// Whether an LP price still lets the desk honour the client's price:
    /// a client BUY needs LP ≤ client, a SELL LP ≥ client.
    pub fn honoured_by(&self, lp_price: Decimal) -> bool {
        !self.side.is_better(self.client_price, lp_price)
    }

    /// What the desk keeps when the LP fills at `lp_price`, in the quote
    /// currency: a client BUY pays the desk `client_pays` and the desk pays
    /// the LP `lp_price × amount`; a SELL the other way round. The LP leg is
    /// rounded against the desk, so the figure is never flattering.
    pub fn desk_pnl(&self, lp_price: Decimal) -> Decimal {
        let lp_leg = lp_price * self.amount;
        match self.side {
            // The desk pays the LP: rounded up.
            Side::Buy => self.client_pays - round_for_desk(Side::Buy, lp_leg, self.price_dp),
            // The desk is paid by the LP: rounded down.
            Side::Sell => round_for_desk(Side::Sell, lp_leg, self.price_dp) - self.client_receives,
        }
    }
}

/// An order the session must send.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    pub lp: usize,
    pub(crate) order_id: Arc<str>,
    pub price: Decimal,
    pub(crate) venue_ref: Option<Arc<str>>,
    pub(crate) valid_until_ms: StreamMs,
    pub(crate) attempt: u32,
}

/// The order out now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pending {
    pub(crate) plan: OrderPlan,
    pub(crate) sent_ms: StreamMs,
}

/// One accepted quote's execution; see the module docs.
#[derive(Debug)]
pub struct Execution {
    pub(crate) accepted: Accepted,
    /// LPs already sent an order (never asked twice).
    tried: Vec<usize>,
    pending: Option<Pending>,
    outcome: Option<Outcome>,
    /// Rejects so far: (LP name, reason), for the `not_filled` reason.
    pub(crate) rejects: Vec<(Arc<str>, String)>,
}

impl Execution {
    pub(crate) fn new(accepted: Accepted) -> Execution {
        Execution {
            accepted,
            tried: Vec::new(),
            pending: None,
            outcome: None,
            rejects: Vec::new(),
        }
    }

    /// An execution that could not start: it is over before any order.
    pub fn not_filled(accepted: Accepted) -> Execution {
        Execution {
            outcome: Some(Outcome::NotFilled),
            ..Execution::new(accepted)
        }
    }

    pub(crate) fn tried(&self) -> &[usize] {
        &self.tried
    }

    pub(crate) fn pending(&self) -> Option<&Pending> {
        self.pending.as_ref()
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome
    }

    /// Plans the next order (attempt n+1) against LP `lp`'s quote and
    /// marks it sent at `now`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        &mut self,
        now: StreamMs,
        lp: usize,
        price: Decimal,
        venue_ref: Option<Arc<str>>,
        valid_until_ms: StreamMs,
    ) -> OrderPlan {
        self.tried.push(lp);
        let attempt = self.tried.len() as u32;
        let plan = OrderPlan {
            lp,
            order_id: ids::order_id(&self.accepted.quote_id, attempt),
            price,
            venue_ref,
            valid_until_ms,
            attempt,
        };
        self.pending = Some(Pending {
            plan: plan.clone(),
            sent_ms: now,
        });
        plan
    }

    /// The pending order's answer has come: take it out.
    pub(crate) fn take_pending(&mut self, order_id: &str) -> Option<Pending> {
        if self.pending.as_ref()?.plan.order_id.as_ref() != order_id {
            return None;
        }
        self.pending.take()
    }

    pub(crate) fn resolve(&mut self, outcome: Outcome) {
        self.pending = None;
        self.outcome = Some(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn accepted(side: Side) -> Accepted {
        let pair: crate::market::Pair = "BTCUSDT".parse().unwrap();
        let (usdt, btc) = (pair.quote, pair.base);
        let (pays, pays_asset, receives, receives_asset) = match side {
            Side::Buy => (dec!(150075.00), usdt, dec!(1.5), btc),
            Side::Sell => (dec!(1.5), btc, dec!(149925.00), usdt),
        };
        Accepted {
            quote_id: Arc::from("Q1"),
            side,
            amount: dec!(1.5),
            client_price: match side {
                Side::Buy => dec!(100050.00),
                Side::Sell => dec!(99950.00),
            },
            client_pays: pays,
            pays_asset,
            fixed: Leg::Base,
            client_receives: receives,
            receives_asset,
            price_dp: 2,
        }
    }

    #[test]
    fn the_desk_keeps_the_markup_and_less_on_a_worse_fill() {
        let buy = accepted(Side::Buy);
        assert_eq!(buy.desk_pnl(dec!(100000.00)), dec!(75.00));
        assert_eq!(buy.desk_pnl(dec!(100010.00)), dec!(60.00));
        // An LP leg finer than a cent is rounded against the desk.
        assert_eq!(buy.desk_pnl(dec!(100000.001)), dec!(74.99));
        let sell = accepted(Side::Sell);
        assert_eq!(sell.desk_pnl(dec!(100000.00)), dec!(75.00));
        assert_eq!(sell.desk_pnl(dec!(99999.999)), dec!(74.99));
    }

    #[test]
    fn a_fallback_must_honour_the_client_price() {
        let buy = accepted(Side::Buy);
        assert!(buy.honoured_by(dec!(100050.00)));
        assert!(!buy.honoured_by(dec!(100050.01)));
        let sell = accepted(Side::Sell);
        assert!(sell.honoured_by(dec!(99950.00)));
        assert!(!sell.honoured_by(dec!(99949.99)));
    }
}
