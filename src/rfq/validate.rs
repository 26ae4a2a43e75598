//! Validation of an LP's answer against the request it answers. A quote
//! that fails here is reported as an `invalid` LP error and never selected.

use rust_decimal::Decimal;

use crate::clock::StreamMs;
use crate::lp::LpQuote;
use crate::market::{Pair, Side};

/// No firm RFQ quote is good for more than an hour; a longer claim is a
/// broken or lying LP.
pub const MAX_VALIDITY_MS: u64 = 3_600_000;

/// What the engine expects of an answer to one request.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub lp: &'a str,
    pub request_id: u64,
    pub side: Side,
    pub pair: &'a Pair,
    pub amount: Decimal,
    pub validity_buffer_ms: u64,
}

/// Checks a quote on arrival at `now_ms`; the error is the reason shown to
/// the operator and stored in the blotter. Cheap checks come first and the
/// happy path allocates nothing.
pub fn validate_quote(
    quote: &LpQuote,
    expected: &Expected<'_>,
    now_ms: StreamMs,
) -> Result<(), String> {
    if &*quote.lp != expected.lp {
        return Err(format!(
            "quote signed by '{}', not by the LP asked",
            quote.lp
        ));
    }
    if quote.request_id != expected.request_id {
        return Err(format!(
            "answers request {}, not request {}",
            quote.request_id, expected.request_id
        ));
    }
    if quote.pair != *expected.pair {
        return Err(format!("quotes {}, not {}", quote.pair, expected.pair));
    }
    if quote.side != expected.side {
        return Err(format!(
            "wrong side: quoted for a client {}, asked for a client {}",
            quote.side.label(),
            expected.side.label()
        ));
    }
    if quote.price <= Decimal::ZERO {
        return Err(format!("non-positive price {}", quote.price));
    }
    // Markup at most doubles a price; pricing this quote for the client
    // must stay within Decimal's range.
    let headroom = Decimal::TWO * expected.amount.max(Decimal::ONE);
    if quote.price.checked_mul(headroom).is_none() {
        return Err(format!("price {} is out of range", quote.price));
    }
    if quote.quantity < expected.amount {
        return Err(format!(
            "quantity {} is less than the {} asked",
            quote.quantity, expected.amount
        ));
    }
    if quote.valid_until_ms <= now_ms {
        return Err(format!(
            "expired on arrival ({} ms ago)",
            now_ms - quote.valid_until_ms
        ));
    }
    let valid_for = quote.valid_until_ms - now_ms;
    if valid_for > MAX_VALIDITY_MS {
        return Err(format!(
            "valid for {valid_for} ms, longer than the {MAX_VALIDITY_MS} ms any firm quote may claim"
        ));
    }
    if valid_for <= expected.validity_buffer_ms {
        return Err(format!(
            "valid for {valid_for} ms, not longer than the {} ms safety buffer",
            expected.validity_buffer_ms
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use std::sync::Arc;

    fn pair() -> Pair {
        "BTCUSDT".parse().unwrap()
    }

    fn good_quote() -> LpQuote {
        LpQuote {
            lp: Arc::from("LP1"),
            request_id: 7,
            side: Side::Buy,
            pair: pair(),
            price: dec!(100000),
            quantity: dec!(1.5),
            valid_until_ms: 11_000,
            venue_ref: None,
        }
    }

    fn check(quote: LpQuote) -> Result<(), String> {
        let pair = pair();
        let expected = Expected {
            lp: "LP1",
            request_id: 7,
            side: Side::Buy,
            pair: &pair,
            amount: dec!(1.5),
            validity_buffer_ms: 2_000,
        };
        validate_quote(&quote, &expected, 1_000)
    }

    #[test]
    fn a_good_quote_passes() {
        assert_eq!(check(good_quote()), Ok(()));
    }

    #[test]
    fn each_defect_has_its_reason() {
        let cases: Vec<(LpQuote, &str)> = vec![
            (
                LpQuote {
                    lp: Arc::from("LP9"),
                    ..good_quote()
                },
                "quote signed by 'LP9', not by the LP asked",
            ),
            (
                LpQuote {
                    request_id: 6,
                    ..good_quote()
                },
                "answers request 6, not request 7",
            ),
            (
                LpQuote {
                    pair: "ETHUSDT".parse().unwrap(),
                    ..good_quote()
                },
                "quotes ETH/USDT, not BTC/USDT",
            ),
            (
                LpQuote {
                    side: Side::Sell,
                    ..good_quote()
                },
                "wrong side: quoted for a client SELL, asked for a client BUY",
            ),
            (
                LpQuote {
                    price: dec!(0),
                    ..good_quote()
                },
                "non-positive price 0",
            ),
            (
                LpQuote {
                    price: dec!(-5),
                    ..good_quote()
                },
                "non-positive price -5",
            ),
            (
                LpQuote {
                    quantity: dec!(1.49),
                    ..good_quote()
                },
                "quantity 1.49 is less than the 1.5 asked",
            ),
            (
                LpQuote {
                    valid_until_ms: 400,
                    ..good_quote()
                },
                "expired on arrival (600 ms ago)",
            ),
            (
                LpQuote {
                    valid_until_ms: 1_000,
                    ..good_quote()
                },
                "expired on arrival (0 ms ago)",
            ),
            (
                LpQuote {
                    valid_until_ms: 3_000,
                    ..good_quote()
                },
                "valid for 2000 ms, not longer than the 2000 ms safety buffer",
            ),
        ];
        for (quote, reason) in cases {
            assert_eq!(check(quote), Err(reason.to_string()));
        }
    }
}
