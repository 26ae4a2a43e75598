//! How the blotter stores an LP answer's decimals compactly: a packed
//! INTEGER `units * 32 + scale` (the decimal's mantissa and its number of
//! decimals) when the units fit, else the decimal's text. Either way the
//! exact decimal comes back, trailing zeros included ("1.50000000" stays
//! eight decimals), and the `lp_answers` view turns the integer back into
//! that text for people reading the file with sqlite3.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rust_decimal::Decimal;

/// Low bits holding the scale (0..=28 needs five).
const SCALE_BITS: u32 = 5;
const SCALE_MASK: i64 = (1 << SCALE_BITS) - 1;
/// Largest units that still pack into SQLite's signed 64-bit integer.
const MAX_UNITS: i128 = (1 << (63 - SCALE_BITS)) - 1;

/// `value` packed, or `None` when it must be stored as text (negative, or
/// more units than fit: an LP bidding 1e20 with 2 decimals).
pub(crate) fn pack(value: Decimal) -> Option<i64> {
    let units = value.mantissa();
    if value.is_sign_negative() || !(0..=MAX_UNITS).contains(&units) {
        return None;
    }
    Some(((units as i64) << SCALE_BITS) | i64::from(value.scale()))
}

/// The decimal a packed integer stands for; `None` for an integer that
/// no [`pack`] produced (a negative one, or a scale above 28).
pub(crate) fn unpack(packed: i64) -> Option<Decimal> {
    if packed < 0 {
        return None;
    }
    Decimal::try_from_i128_with_scale(
        i128::from(packed >> SCALE_BITS),
        (packed & SCALE_MASK) as u32,
    )
    .ok()
}

/// A stored decimal column: packed integer or text.
pub(crate) fn decode(value: ValueRef<'_>) -> Option<Decimal> {
    match value {
        ValueRef::Integer(packed) => unpack(packed),
        ValueRef::Text(text) => std::str::from_utf8(text).ok()?.parse().ok(),
        _ => None,
    }
}

/// `value` ready to bind: packed when it fits, else its text written into
/// `buffer` (reused, so the common case allocates nothing).
pub(crate) fn encode(value: Decimal, buffer: &mut String) -> ToSqlOutput<'_> {
    match pack(value) {
        Some(packed) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(packed)),
        None => {
            use std::fmt::Write as _;
            buffer.clear();
            let _ = write!(buffer, "{value}");
            ToSqlOutput::Borrowed(ValueRef::Text(buffer.as_bytes()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn packing_keeps_every_digit_and_the_scale() {
        for value in [
            dec!(100000.00),
            dec!(1.50000000),
            dec!(0),
            dec!(0.00),
            dec!(150),
            dec!(0.00000001),
            dec!(99999.99),
            Decimal::new(i64::MAX >> 6, 28),
            Decimal::new((1 << 58) - 1, 3),
        ] {
            let packed = pack(value).unwrap_or_else(|| panic!("{value} packs"));
            let back = unpack(packed).unwrap();
            assert_eq!(back.to_string(), value.to_string());
            assert_eq!(back.scale(), value.scale());
        }
        assert_eq!(pack(dec!(100000.00)), Some(10_000_000 * 32 + 2));
    }

    #[test]
    fn what_does_not_fit_is_stored_as_text() {
        for value in [
            dec!(-1.5),
            dec!(100000000000000000000.00),
            Decimal::new(1 << 58, 0),
            Decimal::MAX,
        ] {
            assert_eq!(pack(value), None, "{value}");
            let mut buffer = String::new();
            let ToSqlOutput::Borrowed(ValueRef::Text(text)) = encode(value, &mut buffer) else {
                panic!("{value} as text")
            };
            let text = text.to_vec();
            assert_eq!(decode(ValueRef::Text(&text)), Some(value));
        }
        assert_eq!(unpack(-1), None);
        assert_eq!(unpack(29), None);
    }
}
