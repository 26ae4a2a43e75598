//! Pure pricing and selection rules: the desk's markup, rounding in the
//! desk's favour, the improvement threshold and the client's validity.
//! No I/O, no runtime: every rule here is a function of its inputs.

use rust_decimal::Decimal;

use crate::market::{round_for_desk, Asset, Bps, Leg, Pair, Side};

/// The client's side of a priced quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPrice {
    /// LP price plus markup, rounded to the pair's tick in the desk's favour.
    pub price: Decimal,
    pub(crate) pays: Decimal,
    pub(crate) pays_asset: Asset,
    pub(crate) receives: Decimal,
    pub(crate) receives_asset: Asset,
    /// The base leg, at the lot's precision: the amount asked, or the one
    /// a quote-currency amount buys or needs at `price`.
    pub(crate) base: Decimal,
}

/// Adds the desk's markup: a client BUY pays `lp × (1 + markup)`, a client
/// SELL receives `lp × (1 − markup)`, rounded to the tick against the client.
///
/// ```
/// use lp_rfq::market::{Bps, Side};
/// use lp_rfq::rfq::pricing::client_price;
/// use rust_decimal_macros::dec;
///
/// let five = Bps::new(dec!(5)).unwrap();
/// // 99995.00 × 1.0005 = 100044.9975, rounded up for a buying client.
/// assert_eq!(client_price(Side::Buy, dec!(99995.00), five, 2).to_string(), "100045.00");
/// // 99995.00 × 0.9995 = 99945.0025, rounded down for a selling client.
/// assert_eq!(client_price(Side::Sell, dec!(99995.00), five, 2).to_string(), "99945.00");
/// ```
pub fn client_price(side: Side, lp_price: Decimal, markup: Bps, price_dp: u32) -> Decimal {
    let factor = match side {
        Side::Buy => Decimal::ONE + markup.fraction(),
        Side::Sell => Decimal::ONE - markup.fraction(),
    };
    round_for_desk(side, lp_price * factor, price_dp)
}

/// Prices a client quote for `amount` of the pair's base asset. The
/// quote-currency leg is rounded to the tick in the desk's favour too: a
/// buying client pays the rounded-up notional, a selling client receives
/// the rounded-down one. The base leg is the amount itself.
pub fn price_client(
    side: Side,
    pair: &Pair,
    amount: Decimal,
    lp_price: Decimal,
    markup: Bps,
) -> ClientPrice {
    price_client_in(side, pair, Leg::Base, amount, lp_price, markup)
}

/// Prices a client quote for `amount` of the `fixed` leg. A base amount
/// is priced as [`price_client`] does. A quote-currency amount is what the
/// client pays (BUY) or receives (SELL), exactly; its base leg is derived
/// from the client price and rounded to the lot in the desk's favour
/// ([`Pair::base_for_quote`]): a buying client gets no more base than it
/// paid for, a selling client gives at least what it is paid for. The
/// client price stays per unit of base either way.
pub fn price_client_in(
    side: Side,
    pair: &Pair,
    fixed: Leg,
    amount: Decimal,
    lp_price: Decimal,
    markup: Bps,
) -> ClientPrice {
    let price = client_price(side, lp_price, markup, pair.price_dp);
    let (base, notional) = match fixed {
        Leg::Base => (
            pair.format_amount(amount),
            round_for_desk(side, price * amount, pair.price_dp),
        ),
        Leg::Quote => {
            let mut exact = amount;
            exact.rescale(pair.price_dp);
            (pair.base_for_quote(side, amount, price), exact)
        }
    };
    match side {
        Side::Buy => ClientPrice {
            price,
            pays: notional,
            pays_asset: pair.quote,
            receives: base,
            receives_asset: pair.base,
            base,
        },
        Side::Sell => ClientPrice {
            price,
            pays: base,
            pays_asset: pair.base,
            receives: notional,
            receives_asset: pair.quote,
            base,
        },
    }
}

/// Whether `candidate` beats the `locked` LP price by at least `threshold`:
/// BUY `candidate ≤ locked × (1 − t)`, SELL `candidate ≥ locked × (1 + t)`.
/// Exactly at the threshold counts; an equal price never does (ties stay
/// with the earlier answer, even at a zero threshold).
///
/// ```
/// use lp_rfq::market::{Bps, Side};
/// use lp_rfq::rfq::pricing::beats_lock;
/// use rust_decimal_macros::dec;
///
/// let one = Bps::new(dec!(1)).unwrap();
/// assert!(beats_lock(Side::Buy, dec!(99990.00), dec!(100000.00), one));
/// assert!(!beats_lock(Side::Buy, dec!(99990.01), dec!(100000.00), one));
/// ```
pub fn beats_lock(side: Side, candidate: Decimal, locked: Decimal, threshold: Bps) -> bool {
    if !side.is_better(candidate, locked) {
        return false;
    }
    match side {
        Side::Buy => candidate <= locked * (Decimal::ONE - threshold.fraction()),
        Side::Sell => candidate >= locked * (Decimal::ONE + threshold.fraction()),
    }
}

/// The client's validity for an LP quote valid until `lp_valid_until_ms`:
/// the buffer earlier, so the LP still stands behind any price the client
/// accepts. `None` when the LP's remaining validity is not longer than the
/// buffer: such a quote is never offered.
pub(crate) fn client_valid_until(
    now_ms: u64,
    lp_valid_until_ms: u64,
    buffer_ms: u64,
) -> Option<u64> {
    let lp_remaining = lp_valid_until_ms.checked_sub(now_ms)?;
    (lp_remaining > buffer_ms).then(|| lp_valid_until_ms - buffer_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn bps(value: Decimal) -> Bps {
        Bps::new(value).unwrap()
    }

    fn btcusdt() -> Pair {
        "BTCUSDT".parse().unwrap()
    }

    #[rstest]
    // 100000.00 × 1.0005 = 100050.00 exactly.
    #[case(Side::Buy, dec!(100000.00), dec!(5), "100050.00")]
    // 100000.00 × 0.9995 = 99950.00 exactly.
    #[case(Side::Sell, dec!(100000.00), dec!(5), "99950.00")]
    // 100003.37 × 1.0005 = 100053.3716850 → rounded up.
    #[case(Side::Buy, dec!(100003.37), dec!(5), "100053.38")]
    // 100003.37 × 0.9995 = 99953.3683150 → rounded down.
    #[case(Side::Sell, dec!(100003.37), dec!(5), "99953.36")]
    // 99999.99 × 1.00025 = 100024.9899975 → up.
    #[case(Side::Buy, dec!(99999.99), dec!(2.5), "100024.99")]
    #[case(Side::Buy, dec!(100000.01), dec!(0), "100000.01")]
    fn markup_is_rounded_in_the_desks_favour(
        #[case] side: Side,
        #[case] lp: Decimal,
        #[case] markup: Decimal,
        #[case] expected: &str,
    ) {
        assert_eq!(client_price(side, lp, bps(markup), 2).to_string(), expected);
    }

    #[test]
    fn a_quote_currency_amount_is_paid_or_received_exactly_and_its_base_rounds_for_the_desk() {
        // 100020.00 × 1.0005 = 100070.01; 1000000 / 100070.01 = 9.993003897…
        let buy = price_client_in(
            Side::Buy,
            &btcusdt(),
            Leg::Quote,
            dec!(1000000),
            dec!(100020.00),
            bps(dec!(5)),
        );
        assert_eq!(
            (
                buy.price.to_string(),
                buy.pays.to_string(),
                buy.receives.to_string()
            ),
            ("100070.01".into(), "1000000.00".into(), "9.99300389".into())
        );
        assert_eq!(
            (buy.pays_asset.as_str(), buy.base),
            ("USDT", dec!(9.99300389))
        );
        // 99970.00 × 0.9995 = 99920.015 → 99920.01; 1000000 / 99920.01 = 10.008005403…
        let sell = price_client_in(
            Side::Sell,
            &btcusdt(),
            Leg::Quote,
            dec!(1000000),
            dec!(99970.00),
            bps(dec!(5)),
        );
        assert_eq!(
            (
                sell.price.to_string(),
                sell.pays.to_string(),
                sell.receives.to_string()
            ),
            ("99920.01".into(), "10.00800541".into(), "1000000.00".into())
        );
        assert_eq!(sell.receives_asset.as_str(), "USDT");
    }

    #[test]
    fn a_buying_client_pays_the_rounded_up_notional() {
        let priced = price_client(
            Side::Buy,
            &btcusdt(),
            dec!(1.5),
            dec!(100003.37),
            bps(dec!(5)),
        );
        assert_eq!(priced.price.to_string(), "100053.38");
        // 100053.38 × 1.5 = 150080.07 exactly.
        assert_eq!(priced.pays.to_string(), "150080.07");
        assert_eq!(priced.pays_asset.as_str(), "USDT");
        assert_eq!(priced.receives.to_string(), "1.50000000");
        assert_eq!(priced.receives_asset.as_str(), "BTC");
    }

    #[test]
    fn a_selling_client_receives_the_rounded_down_notional() {
        let priced = price_client(
            Side::Sell,
            &btcusdt(),
            dec!(0.33333333),
            dec!(100000),
            bps(dec!(5)),
        );
        assert_eq!(priced.price.to_string(), "99950.00");
        // 99950.00 × 0.33333333 = 33316.6664 → 33316.66 (down).
        assert_eq!(priced.receives.to_string(), "33316.66");
        assert_eq!(priced.pays.to_string(), "0.33333333");
        assert_eq!(priced.pays_asset.as_str(), "BTC");
    }

    #[rstest]
    // 1 bp below 100000 is 99990 exactly: at the threshold counts.
    #[case(Side::Buy, dec!(99990.00), true)]
    #[case(Side::Buy, dec!(99990.01), false)]
    #[case(Side::Buy, dec!(100000.00), false)]
    #[case(Side::Sell, dec!(100010.00), true)]
    #[case(Side::Sell, dec!(100009.99), false)]
    #[case(Side::Sell, dec!(99000), false)]
    fn the_threshold_is_inclusive_at_one_bp(
        #[case] side: Side,
        #[case] candidate: Decimal,
        #[case] beats: bool,
    ) {
        assert_eq!(
            beats_lock(side, candidate, dec!(100000.00), bps(dec!(1))),
            beats
        );
    }

    #[test]
    fn a_zero_threshold_still_needs_a_better_price() {
        assert!(!beats_lock(Side::Buy, dec!(100), dec!(100), Bps::ZERO));
        assert!(beats_lock(Side::Buy, dec!(99.99), dec!(100), Bps::ZERO));
    }

    #[test]
    fn the_client_sees_the_lp_validity_minus_the_buffer() {
        assert_eq!(client_valid_until(1_000, 11_000, 2_000), Some(9_000));
    }

    #[test]
    fn an_lp_validity_within_the_buffer_is_never_offered() {
        assert_eq!(client_valid_until(1_000, 3_000, 2_000), None);
        assert_eq!(client_valid_until(1_000, 2_500, 2_000), None);
        assert_eq!(client_valid_until(1_000, 900, 2_000), None);
        assert_eq!(client_valid_until(1_000, 3_001, 2_000), Some(1_001));
    }
}
