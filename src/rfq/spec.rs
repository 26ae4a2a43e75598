//! What the client asked for: the one value every part of an RFQ (the
//! engine, its client offer, the outputs) is built from, so it sits below
//! all of them.

use rust_decimal::Decimal;

use crate::market::{Pair, Side};

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfqSpec {
    pub side: Side,
    pub amount: Decimal,
    pub pair: Pair,
}
