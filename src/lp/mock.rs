//! The built-in mock LPs: simulated providers with random latency, an
//! occasional outage, a spread around a mid price that walks a little on
//! every quote (so rankings change during a stream), and a fixed validity.
//! Seeded, they are repeatable.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::lp::{
    LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, SharedLp, TwoWayAnswer,
};
use crate::market::{round_for_desk, Bps, Side};

/// How the mock LPs behave (MOCK_* settings).
#[derive(Debug, Clone, PartialEq)]
pub struct MockSettings {
    /// How many mock LPs to run.
    pub(crate) count: usize,
    /// Reference mid price for BTCUSDT; other known pairs use their own.
    pub base_price: Decimal,
    /// Full bid/offer spread around each LP's mid.
    pub(crate) spread: Bps,
    /// Fastest answer (stream time).
    pub(crate) min_delay: Duration,
    /// Slowest answer (stream time).
    pub(crate) max_delay: Duration,
    /// Share of requests, 0 to 1, answered with an outage.
    pub(crate) failure_rate: Decimal,
    /// Share of orders, 0 to 1, rejected on last look.
    pub(crate) reject_rate: Decimal,
    /// How long an order is held before the LP answers it (stream time).
    pub(crate) last_look: Duration,
    /// How long each quote is firm.
    pub(crate) validity: Duration,
}

/// Largest step of an LP's mid walk per quote, in hundredths of a bp.
const WALK_STEP_CENTI_BPS: i64 = 60;
/// Initial spread of the LPs' mids around the reference, in hundredths of a bp.
const INITIAL_OFFSET_CENTI_BPS: i64 = 300;
/// Failure rates are drawn in millionths.
const RATE_SCALE: u32 = 1_000_000;

/// One simulated LP.
pub(crate) struct MockLp {
    name: Arc<str>,
    settings: Arc<MockSettings>,
    state: Mutex<WalkState>,
}

struct WalkState {
    rng: SmallRng,
    /// This LP's mid, as an offset from the reference in hundredths of a bp.
    offset_centi_bps: i64,
}

impl MockLp {
    pub(crate) fn new(name: impl Into<String>, settings: Arc<MockSettings>, seed: u64) -> MockLp {
        let mut rng = SmallRng::seed_from_u64(seed);
        let offset_centi_bps =
            rng.random_range(-INITIAL_OFFSET_CENTI_BPS..=INITIAL_OFFSET_CENTI_BPS);
        MockLp {
            name: Arc::from(name.into()),
            settings,
            state: Mutex::new(WalkState {
                rng,
                offset_centi_bps,
            }),
        }
    }
}

impl MockLp {
    /// One quote's random draws, in the order the seed gives them.
    fn draw(&self) -> Draw {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let min = self.settings.min_delay.as_millis() as u64;
        let max = self.settings.max_delay.as_millis() as u64;
        let delay = Duration::from_millis(state.rng.random_range(min..=max.max(min)));
        let failure_millionths = (self.settings.failure_rate * Decimal::from(RATE_SCALE))
            .trunc()
            .try_into()
            .unwrap_or(0u32);
        let fails = state.rng.random_range(0..RATE_SCALE) < failure_millionths;
        // Walk the mid, pulled gently back towards the reference so the
        // LPs stay within a few bps of each other.
        let step = state
            .rng
            .random_range(-WALK_STEP_CENTI_BPS..=WALK_STEP_CENTI_BPS);
        state.offset_centi_bps = state.offset_centi_bps * 19 / 20 + step;
        Draw {
            delay,
            fails,
            offset_centi_bps: state.offset_centi_bps,
        }
    }

    /// Waits the draw's latency.
    async fn answer(&self, draw: &Draw, request: &LpRequest) {
        // A zero delay answers at once: even a zero sleep would wait for the
        // timer driver's next tick.
        if !draw.delay.is_zero() {
            request.clock.sleep(draw.delay).await;
        }
    }

    /// The quote for `request`'s side from `draw`.
    fn quote_from(&self, draw: &Draw, request: &LpRequest) -> Result<LpQuote, LpError> {
        if draw.fails {
            return Err(LpError::Unavailable("simulated outage".to_string()));
        }
        let pair = request.pair;
        let reference = if pair.base.as_str() == "BTC" && pair.quote.as_str() == "USDT" {
            Some(self.settings.base_price)
        } else {
            pair.reference_price()
        };
        let Some(reference) = reference else {
            return Err(LpError::Declined(format!("no quote for {pair}")));
        };
        let offset = Decimal::new(draw.offset_centi_bps, 2);
        let mid = reference * (Decimal::ONE + offset / Decimal::from(10_000));
        let half_spread = self.settings.spread.fraction() / Decimal::TWO;
        // The LP sells to a buying client at its offer, buys from a selling
        // client at its bid, on its tick, rounded in its own favour.
        let price = match request.side {
            Side::Buy => {
                round_for_desk(Side::Buy, mid * (Decimal::ONE + half_spread), pair.price_dp)
            }
            Side::Sell => round_for_desk(
                Side::Sell,
                mid * (Decimal::ONE - half_spread),
                pair.price_dp,
            ),
        };
        Ok(LpQuote {
            lp: self.name.clone(),
            request_id: request.request_id,
            side: request.side,
            pair,
            price,
            quantity: request.base_at(price),
            valid_until_ms: request.clock.now_ms() + self.settings.validity.as_millis() as u64,
            venue_ref: None,
        })
    }
}

/// Builds `settings.count` mock LPs named LP1, LP2, ... A `seed` makes
/// every delay, failure and price walk repeatable.
pub fn mock_lps(settings: &MockSettings, seed: Option<u64>) -> Vec<SharedLp> {
    let settings = Arc::new(settings.clone());
    let base_seed = seed.unwrap_or_else(rand::random);
    (0..settings.count)
        .map(|index| {
            let lp_seed = base_seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            Arc::new(MockLp::new(
                format!("LP{}", index + 1),
                settings.clone(),
                lp_seed,
            )) as SharedLp
        })
        .collect()
}

/// One quote's worth of random draws, taken under the lock and used after.
struct Draw {
    delay: Duration,
    fails: bool,
    offset_centi_bps: i64,
}

#[async_trait]
impl LiquidityProvider for MockLp {
    fn name(&self) -> &str {
        &self.name
    }

    fn simulated(&self) -> bool {
        true
    }

    fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let draw = self.draw();
        self.answer(&draw, request).await;
        self.quote_from(&draw, request)
    }

    /// The mock quotes both sides from one draw (one latency, one outage,
    /// one step of its mid), as a venue with a two-way form does.
    fn quotes_two_way(&self) -> bool {
        true
    }

    async fn quote_two_way(&self, offer: &LpRequest, bid: &LpRequest) -> TwoWayAnswer {
        let draw = self.draw();
        self.answer(&draw, offer).await;
        TwoWayAnswer {
            offer: self.quote_from(&draw, offer),
            bid: self.quote_from(&draw, bid),
        }
    }

    /// Last look: holds the order for MOCK_LAST_LOOK_MS, then rejects a
    /// MOCK_REJECT_RATE share of orders (and any whose quote ran out while
    /// held); the rest fill at the quoted price.
    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        let rejects = {
            let mut state = self
                .state
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let reject_millionths = (self.settings.reject_rate * Decimal::from(RATE_SCALE))
                .trunc()
                .try_into()
                .unwrap_or(0u32);
            state.rng.random_range(0..RATE_SCALE) < reject_millionths
        };
        if !self.settings.last_look.is_zero() {
            order.clock.sleep(self.settings.last_look).await;
        }
        if order.clock.now_ms() >= order.valid_until_ms {
            return OrderAnswer::Rejected {
                reason: "quote expired during last look".to_string(),
            };
        }
        if rejects {
            return OrderAnswer::Rejected {
                reason: "last look: price moved".to_string(),
            };
        }
        OrderAnswer::Filled {
            price: order.price,
            quantity: order.base_quantity(),
            venue_order_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::clock::StreamClock;

    fn settings() -> MockSettings {
        MockSettings {
            count: 1,
            base_price: dec!(100000),
            spread: Bps::new(dec!(4)).unwrap(),
            min_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(20),
            failure_rate: Decimal::ZERO,
            reject_rate: Decimal::ZERO,
            last_look: Duration::ZERO,
            validity: Duration::from_secs(10),
        }
    }

    fn request(side: Side, request_id: u64, clock: StreamClock) -> LpRequest {
        LpRequest {
            request_id,
            rfq_id: Arc::from("R-mock"),
            side,
            pair: "BTCUSDT".parse().unwrap(),
            amount: dec!(2),
            fixed: crate::market::Leg::Base,
            sent_ms: 0,
            clock,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_two_way_answer_is_one_draw_quoted_on_both_sides_of_one_mid() {
        let clock = StreamClock::start();
        let paired = MockLp::new("LP1", Arc::new(settings()), 7);
        let answer = paired
            .quote_two_way(
                &request(Side::Buy, 1, clock),
                &request(Side::Sell, 2, clock),
            )
            .await;
        let (offer, bid) = (answer.offer.unwrap(), answer.bid.unwrap());
        assert_eq!((offer.request_id, offer.side), (1, Side::Buy));
        assert_eq!((bid.request_id, bid.side), (2, Side::Sell));
        // One latency for both.
        assert_eq!(clock.now_ms(), 20);
        // The same seed asked one side at a time quotes the same offer and
        // bid only for its first draw: a two-way answer is that draw.
        let one_sided = MockLp::new("LP1", Arc::new(settings()), 7);
        let first = one_sided
            .quote(&request(Side::Buy, 3, clock))
            .await
            .unwrap();
        assert_eq!(first.price, offer.price);
        let same_mid = MockLp::new("LP1", Arc::new(settings()), 7);
        let first_bid = same_mid
            .quote(&request(Side::Sell, 4, clock))
            .await
            .unwrap();
        assert_eq!(first_bid.price, bid.price);
        assert!(offer.price > bid.price);
    }
}
