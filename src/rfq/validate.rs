//! Validation of an LP's answer against the request it answers. A quote
//! that fails here is reported as an `invalid` LP error and never selected.

use rust_decimal::Decimal;

use crate::clock::StreamMs;
use crate::lp::LpQuote;
use crate::market::{Leg, Pair, Side};

/// No firm RFQ quote is good for more than an hour; a longer claim is a
/// broken or lying LP.
pub(crate) const MAX_VALIDITY_MS: u64 = 3_600_000;

/// What the engine expects of an answer to one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expected<'a> {
    pub lp: &'a str,
    pub(crate) request_id: u64,
    pub side: Side,
    pub(crate) pair: &'a Pair,
    pub(crate) amount: Decimal,
    /// The leg `amount` is in: a quote-currency request is answered with
    /// the base quantity the LP's price gives, not the amount itself.
    pub(crate) fixed: Leg,
    pub(crate) validity_buffer_ms: u64,
}

/// What is wrong with an LP's answer; the text is the reason shown to the
/// operator and stored in the blotter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QuoteDefect {
    #[error("quote signed by '{0}', not by the LP asked")]
    WrongLp(String),
    #[error("answers request {got}, not request {asked}")]
    WrongRequest { got: u64, asked: u64 },
    #[error("quotes {got}, not {asked}")]
    WrongPair { got: Pair, asked: Pair },
    #[error("wrong side: quoted for a client {}, asked for a client {}", .got.label(), .asked.label())]
    WrongSide { got: Side, asked: Side },
    #[error("non-positive price {0}")]
    NonPositivePrice(Decimal),
    #[error("price {0} is out of range")]
    PriceOutOfRange(Decimal),
    #[error("quantity {got} is less than the {asked} asked")]
    ShortQuantity { got: Decimal, asked: Decimal },
    #[error("quantity {0} is not a base quantity for the amount asked")]
    NoQuantity(Decimal),
    #[error("expired on arrival ({0} ms ago)")]
    Expired(u64),
    #[error("valid for {0} ms, longer than the {MAX_VALIDITY_MS} ms any firm quote may claim")]
    ValidTooLong(u64),
    #[error("valid for {valid_for_ms} ms, not longer than the {buffer_ms} ms safety buffer")]
    ValidityWithinBuffer { valid_for_ms: u64, buffer_ms: u64 },
}

/// Checks a quote on arrival at `now_ms`. Cheap checks come first and the
/// happy path allocates nothing.
pub(crate) fn validate_quote(
    quote: &LpQuote,
    expected: &Expected<'_>,
    now_ms: StreamMs,
) -> Result<(), QuoteDefect> {
    if &*quote.lp != expected.lp {
        return Err(QuoteDefect::WrongLp(quote.lp.to_string()));
    }
    if quote.request_id != expected.request_id {
        return Err(QuoteDefect::WrongRequest {
            got: quote.request_id,
            asked: expected.request_id,
        });
    }
    if quote.pair != *expected.pair {
        return Err(QuoteDefect::WrongPair {
            got: quote.pair,
            asked: *expected.pair,
        });
    }
    if quote.side != expected.side {
        return Err(QuoteDefect::WrongSide {
            got: quote.side,
            asked: expected.side,
        });
    }
    if quote.price <= Decimal::ZERO {
        return Err(QuoteDefect::NonPositivePrice(quote.price));
    }
    // Markup at most doubles a price; pricing this quote for the client
    // must stay within Decimal's range.
    let headroom = Decimal::TWO * expected.amount.max(Decimal::ONE);
    if quote.price.checked_mul(headroom).is_none() {
        return Err(QuoteDefect::PriceOutOfRange(quote.price));
    }
    match expected.fixed {
        Leg::Base if quote.quantity < expected.amount => {
            return Err(QuoteDefect::ShortQuantity {
                got: quote.quantity,
                asked: expected.amount,
            });
        }
        // The LP derives the base from its own price and rounds it its
        // own way; the client's base leg is the desk's to derive, so only
        // a quote that names no quantity at all is refused.
        Leg::Quote if quote.quantity <= Decimal::ZERO => {
            return Err(QuoteDefect::NoQuantity(quote.quantity));
        }
        _ => {}
    }
    if quote.valid_until_ms <= now_ms {
        return Err(QuoteDefect::Expired(now_ms - quote.valid_until_ms));
    }
    let valid_for = quote.valid_until_ms - now_ms;
    if valid_for > MAX_VALIDITY_MS {
        return Err(QuoteDefect::ValidTooLong(valid_for));
    }
    if valid_for <= expected.validity_buffer_ms {
        return Err(QuoteDefect::ValidityWithinBuffer {
            valid_for_ms: valid_for,
            buffer_ms: expected.validity_buffer_ms,
        });
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
            fixed: Leg::Base,
            validity_buffer_ms: 2_000,
        };
        validate_quote(&quote, &expected, 1_000).map_err(|defect| defect.to_string())
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
