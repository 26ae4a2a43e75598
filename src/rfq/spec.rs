//! What the client asked for: the one value every part of an RFQ (the
//! engine, its client offer, the outputs) is built from, so it sits below
//! all of them.

use rust_decimal::Decimal;

use crate::market::{Leg, Pair, Side};

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfqSpec {
    pub side: Side,
    /// In the currency of the `fixed` leg.
    pub amount: Decimal,
    pub pair: Pair,
    /// The leg whose amount the client named; the other is derived from
    /// the price.
    pub fixed: Leg,
}

impl RfqSpec {
    /// The operator's answer to a fat-finger confirmation confirms this
    /// request: `yes`, or the amount typed again (any spelling of the same
    /// number). An empty answer never does: the key that submitted the form
    /// must not be able to confirm what it submitted.
    pub(crate) fn confirmed_by(&self, answer: &str) -> bool {
        let answer = answer.trim();
        answer.eq_ignore_ascii_case("yes")
            || self.pair.parse_amount_in(self.fixed, answer).ok() == Some(self.amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[rstest::rstest]
    #[case("yes", true)]
    #[case(" YES ", true)]
    #[case("20", true)]
    #[case("20.00", true)]
    #[case("", false)]
    #[case("y", false)]
    #[case("2", false)]
    #[case("200", false)]
    fn a_fat_finger_is_confirmed_only_by_yes_or_the_amount_again(
        #[case] answer: &str,
        #[case] confirms: bool,
    ) {
        let spec = RfqSpec {
            side: Side::Buy,
            amount: dec!(20),
            pair: "BTCUSDT".parse().unwrap(),
            fixed: crate::market::Leg::Base,
        };
        assert_eq!(spec.confirmed_by(answer), confirms, "{answer:?}");
    }
}
