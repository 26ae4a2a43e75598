//! Price sanity: the checks that keep an absurd LP price from ever becoming
//! the client's price. A price must sit on the pair's tick, inside the
//! pair's band when the venues file gives one, and — once at least three
//! LPs have live quotes — within `MAX_DEVIATION_BPS` of their median (a
//! robust centre: one or two wild quotes cannot move it). A sane price is
//! still only offered to a client once something independent
//! corroborates it ([`corroborate`]). Pure functions; the engine applies
//! them.

use rust_decimal::Decimal;

use crate::market::Bps;
/// Kept here too: the band is the market's, the check of it is this module's.
pub use crate::market::PriceBand;

/// The fewest live quotes (the new one included) for the median to judge:
/// with two, nobody can tell which one is wrong.
pub(crate) const MIN_QUOTES_FOR_MEDIAN: usize = 3;

/// Why a price is not sane.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceDefect {
    #[error("price {price} is off the pair's tick of {tick}")]
    OffTick { price: Decimal, tick: Decimal },
    #[error("price {price} is outside the pair's band {min} to {max}")]
    OutsideBand {
        price: Decimal,
        min: Decimal,
        max: Decimal,
    },
    #[error("price {price} is {deviation} bps from the median {median} of the LPs' live quotes (MAX_DEVIATION_BPS {limit})")]
    FarFromMedian {
        price: Decimal,
        deviation: Decimal,
        median: Decimal,
        limit: Bps,
    },
}

wire_enum! {
    /// What independent of the quoting LP vouches for its price.
    pub enum Corroboration {
        /// The venues file's band for the pair (the price is inside it).
        Band = "band",
        /// The stream's reference price for the pair (the desk's recent
        /// corroborated prices, or an operator's release), within
        /// MAX_DEVIATION_BPS.
        Reference = "reference",
        /// Another LP's live quote within MAX_DEVIATION_BPS.
        SecondLp = "second_lp",
        /// The median of three or more live quotes accepted it.
        Median = "median",
    }
}

/// Why a sane `price` may be offered to a client, cheapest test first:
/// a band for the pair (the price already passed it), a `reference`
/// within `limit`, a quote of another LP in `peers` within `limit`, or
/// the median's verdict (`median_accepts`). `None`: nothing independent
/// vouches for it, and it stays unverified.
pub fn corroborate(
    price: Decimal,
    band: Option<PriceBand>,
    reference: Option<Decimal>,
    peers: impl IntoIterator<Item = Decimal>,
    median_accepts: bool,
    limit: Bps,
) -> Option<Corroboration> {
    let near = |other: Decimal| deviation_bps(price, other) <= limit.value();
    if band.is_some() {
        Some(Corroboration::Band)
    } else if reference.is_some_and(near) {
        Some(Corroboration::Reference)
    } else if peers.into_iter().any(near) {
        Some(Corroboration::SecondLp)
    } else if median_accepts {
        Some(Corroboration::Median)
    } else {
        None
    }
}

/// The tick and band checks, for one price on its own.
pub(crate) fn check_price(
    price: Decimal,
    price_dp: u32,
    band: Option<PriceBand>,
) -> Result<(), PriceDefect> {
    if price.normalize().scale() > price_dp {
        return Err(PriceDefect::OffTick {
            price,
            tick: Decimal::new(1, price_dp),
        });
    }
    if let Some(band) = band {
        if price < band.min || price > band.max {
            return Err(PriceDefect::OutsideBand {
                price,
                min: band.min,
                max: band.max,
            });
        }
    }
    Ok(())
}

/// The median of `prices` (the mean of the middle two for an even count);
/// `None` when empty.
pub fn median(prices: &mut [Decimal]) -> Option<Decimal> {
    if prices.is_empty() {
        return None;
    }
    prices.sort();
    let middle = prices.len() / 2;
    Some(if prices.len() % 2 == 1 {
        prices[middle]
    } else {
        (prices[middle - 1] + prices[middle]) / Decimal::TWO
    })
}

/// How far `price` is from `centre`, in bps (always ≥ 0), to 2 decimals;
/// saturates instead of overflowing for absurd prices.
pub(crate) fn deviation_bps(price: Decimal, centre: Decimal) -> Decimal {
    if centre <= Decimal::ZERO {
        return Decimal::MAX;
    }
    (price - centre)
        .abs()
        .checked_div(centre)
        .and_then(|share| share.checked_mul(Decimal::from(10_000)))
        .map_or(Decimal::MAX, |bps| bps.round_dp(2))
}

/// The quotes among `quotes` (LP, price) that are more than `limit` from
/// the median of all of them, when there are enough to judge.
pub fn outliers(
    quotes: &[(usize, Decimal)],
    limit: Bps,
    price_dp: u32,
) -> Vec<(usize, PriceDefect)> {
    let mut scratch = Vec::new();
    let mut found = Vec::new();
    let Some(centre) = outliers_into(quotes, limit, price_dp, &mut scratch, &mut found) else {
        return Vec::new();
    };
    found
        .into_iter()
        .map(|(lp, price)| (lp, far_from(price, centre, limit)))
        .collect()
}

/// The hot-path form of [`outliers`]: fills `found` with the outlying
/// (LP, price) pairs and returns the median, reusing `scratch`. Prices on
/// the pair's tick are whole numbers of ticks, so the median and the band
/// are exact integer arithmetic: one Decimal product per call, none per
/// quote. `None` when there are too few quotes to judge.
pub(crate) fn outliers_into(
    quotes: &[(usize, Decimal)],
    limit: Bps,
    price_dp: u32,
    scratch: &mut Vec<i128>,
    found: &mut Vec<(usize, Decimal)>,
) -> Option<Decimal> {
    found.clear();
    if quotes.len() < MIN_QUOTES_FOR_MEDIAN {
        return None;
    }
    // The quotes' ticks, then (in the second half) the same sorted.
    scratch.clear();
    for (_, price) in quotes {
        scratch.push(ticks(*price, price_dp)?);
    }
    let count = quotes.len();
    scratch.extend_from_within(..count);
    let sorted = &mut scratch[count..];
    sorted.sort_unstable();
    let middle = sorted.len() / 2;
    // Twice the median, so that an even count stays a whole number.
    let median2 = if sorted.len() % 2 == 1 {
        sorted[middle].checked_mul(2)?
    } else {
        sorted[middle - 1].checked_add(sorted[middle])?
    };
    if median2 <= 0 {
        return None;
    }
    // |2·price − 2·median| > 2·median × limit, with the band floored: for
    // whole numbers x > b ⇔ x > ⌊b⌋.
    let band2: i128 = Decimal::from_i128_with_scale(median2, 0)
        .checked_mul(limit.fraction())?
        .floor()
        .try_into()
        .ok()?;
    for (&(lp, price), &ticks) in quotes.iter().zip(&scratch[..count]) {
        let doubled = ticks.checked_mul(2)?;
        if doubled.checked_sub(median2)?.abs() > band2 {
            found.push((lp, price));
        }
    }
    let mut centre = Decimal::from_i128_with_scale(median2, price_dp) / Decimal::TWO;
    centre.rescale(price_dp);
    Some(centre)
}

/// `price` as a whole number of ticks of `price_dp` decimals; `None` for a
/// price off the tick or too large (the tick check refuses those first).
fn ticks(price: Decimal, price_dp: u32) -> Option<i128> {
    let scale = price.scale();
    let mantissa = price.mantissa();
    if scale == price_dp {
        return Some(mantissa);
    }
    if scale < price_dp {
        mantissa.checked_mul(*POW10.get((price_dp - scale) as usize)?)
    } else {
        let divisor = *POW10.get((scale - price_dp) as usize)?;
        (mantissa % divisor == 0).then(|| mantissa / divisor)
    }
}

/// 10^0 ..= 10^28: every scale a Decimal can have.
const POW10: [i128; 29] = {
    let mut table = [1i128; 29];
    let mut i = 1;
    while i < 29 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// The defect of `price`, an outlier from `centre`, with its distance.
pub(crate) fn far_from(price: Decimal, centre: Decimal, limit: Bps) -> PriceDefect {
    PriceDefect::FarFromMedian {
        price,
        deviation: deviation_bps(price, centre),
        median: centre,
        limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    const MARKET: Decimal = dec!(100000.00);

    #[rstest]
    #[case::alone(dec!(100000.00), None, None, &[], false, None)]
    #[case::a_band(dec!(100000.00), Some((dec!(50000), dec!(200000))), None, &[], false, Some(Corroboration::Band))]
    #[case::near_the_reference(dec!(100400.00), None, Some(MARKET), &[], false, Some(Corroboration::Reference))]
    #[case::far_from_the_reference(dec!(100600.00), None, Some(MARKET), &[], false, None)]
    #[case::absurd_beside_the_reference(dec!(100000000000000000000.00), None, Some(MARKET), &[], false, None)]
    #[case::a_second_lp_near(dec!(100000.00), None, None, &[dec!(100499.99)], false, Some(Corroboration::SecondLp))]
    #[case::only_absurd_peers(dec!(100000.00), None, None, &[dec!(100000000000000000000.00), dec!(1.00)], false, None)]
    #[case::absurd_beside_one_sane(dec!(100000000000000000000.00), None, None, &[MARKET], false, None)]
    #[case::tiny_beside_one_sane(dec!(1.00), None, None, &[MARKET], false, None)]
    #[case::the_median(dec!(100000.00), None, None, &[], true, Some(Corroboration::Median))]
    #[case::exactly_the_limit(dec!(100500.00), None, Some(MARKET), &[], false, Some(Corroboration::Reference))]
    fn a_price_is_offered_only_when_something_independent_vouches_for_it(
        #[case] price: Decimal,
        #[case] band: Option<(Decimal, Decimal)>,
        #[case] reference: Option<Decimal>,
        #[case] peers: &[Decimal],
        #[case] median_accepts: bool,
        #[case] expected: Option<Corroboration>,
    ) {
        let band = band.map(|(min, max)| PriceBand { min, max });
        let limit = Bps::new(dec!(50)).unwrap();
        assert_eq!(
            corroborate(
                price,
                band,
                reference,
                peers.iter().copied(),
                median_accepts,
                limit
            ),
            expected
        );
    }

    #[test]
    fn a_price_must_sit_on_the_tick_and_in_the_band() {
        assert_eq!(check_price(dec!(100000.10), 2, None), Ok(()));
        // Trailing zeros are not extra precision.
        assert_eq!(check_price(dec!(100000.1000), 2, None), Ok(()));
        assert_eq!(
            check_price(dec!(0.00000001), 2, None)
                .unwrap_err()
                .to_string(),
            "price 0.00000001 is off the pair's tick of 0.01"
        );
        let band = Some(PriceBand {
            min: dec!(50000),
            max: dec!(200000),
        });
        assert_eq!(
            check_price(dec!(1000000.00), 2, band)
                .unwrap_err()
                .to_string(),
            "price 1000000.00 is outside the pair's band 50000 to 200000"
        );
    }

    #[test]
    fn the_median_judges_once_three_lps_quote() {
        let limit = Bps::new(dec!(500)).unwrap();
        let sane = [(0, dec!(100000)), (1, dec!(100010))];
        assert!(outliers(&sane, limit, 2).is_empty(), "two cannot be judged");
        let quotes = [
            (0, dec!(100000)),
            (1, dec!(100010)),
            (2, dec!(100000000000000000000)),
            (3, dec!(0.01)),
            (4, dec!(100020)),
        ];
        let found = outliers(&quotes, limit, 2);
        assert_eq!(found.iter().map(|(lp, _)| *lp).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(
            found[1].1.to_string(),
            "price 0.01 is 10000.00 bps from the median 100010.00 of the LPs' live quotes (MAX_DEVIATION_BPS 500)"
        );
        assert_eq!(median(&mut [dec!(1), dec!(3)]), Some(dec!(2)));
        assert_eq!(deviation_bps(dec!(1), Decimal::ZERO), Decimal::MAX);
    }
}
