//! A two-way request's LPs, as each of its two sides sees them: one
//! [`PairedLp`] per side over the same venue, which joins the two sides'
//! requests of one poll into one [`LiquidityProvider::quote_two_way`]
//! call, so a venue with a two-way form (FIX) is asked once per poll for
//! both sides, and hands each side its half of the answer. A venue
//! without one is asked as before, once per side.
//!
//! The two sides run in one task on one clock and poll at the same
//! stream times, so the side that asks first waits one turn of the task
//! for the other side's request of the same poll; if none comes (that
//! side stopped, or still waits on an earlier answer) it asks alone.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::future::{BoxFuture, FutureExt, Shared};

use crate::clock::StreamMs;
use crate::lp::health::HealthView;
use crate::lp::{
    ClientOrderIds, LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer,
    OrderLookup, SharedLp, TwoWayAnswer,
};
use crate::market::Side;

/// One `quote_two_way` call both sides await: whichever is polled drives
/// it, so either side may stop without taking the other's answer away.
type PairedCall = Shared<BoxFuture<'static, Arc<TwoWayAnswer>>>;

/// A side's request waiting for the other side's of the same poll.
struct Waiting {
    request_id: u64,
    side: Side,
    sent_ms: StreamMs,
    request: LpRequest,
    /// Set by the other side when it joins this request to its own.
    call: Option<PairedCall>,
}

/// What the two sides of one LP share within one two-way stream.
#[derive(Default)]
struct Pairing {
    waiting: Mutex<Option<Waiting>>,
}

impl Pairing {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Waiting>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One side's view of an LP in a two-way stream; see the module docs.
pub(crate) struct PairedLp {
    inner: SharedLp,
    pairing: Arc<Pairing>,
}

/// `lps` as the offer side and the bid side of one two-way stream see
/// them: a venue with a two-way form is paired, any other as it is.
pub(crate) fn pair_sides(lps: &[SharedLp]) -> (Vec<SharedLp>, Vec<SharedLp>) {
    lps.iter()
        .map(|lp| {
            if !lp.quotes_two_way() {
                return (lp.clone(), lp.clone());
            }
            let pairing = Arc::new(Pairing::default());
            let side = || {
                Arc::new(PairedLp {
                    inner: lp.clone(),
                    pairing: pairing.clone(),
                }) as SharedLp
            };
            (side(), side())
        })
        .unzip()
}

impl PairedLp {
    /// The call for both sides, `mine` and the waiting `other`'s.
    fn call_for(&self, mine: &LpRequest, other: &LpRequest) -> PairedCall {
        let (offer, bid) = match mine.side {
            Side::Buy => (mine.clone(), other.clone()),
            Side::Sell => (other.clone(), mine.clone()),
        };
        let lp = self.inner.clone();
        async move { Arc::new(lp.quote_two_way(&offer, &bid).await) }
            .boxed()
            .shared()
    }

    /// `mine`'s half of a paired answer, as its own answer.
    async fn half(call: PairedCall, side: Side) -> Result<LpQuote, LpError> {
        call.await.side(side).clone()
    }
}

#[async_trait]
impl LiquidityProvider for PairedLp {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn shared_name(&self) -> Arc<str> {
        self.inner.shared_name()
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let joined = {
            let mut waiting = self.pairing.lock();
            match waiting.as_mut() {
                Some(other)
                    if other.side != request.side
                        && other.sent_ms == request.sent_ms
                        && other.call.is_none() =>
                {
                    let call = self.call_for(request, &other.request);
                    other.call = Some(call.clone());
                    Some(call)
                }
                // Nothing to join (or an earlier poll's request nobody
                // took): this request waits for the other side's.
                _ => {
                    *waiting = Some(Waiting {
                        request_id: request.request_id,
                        side: request.side,
                        sent_ms: request.sent_ms,
                        request: request.clone(),
                        call: None,
                    });
                    None
                }
            }
        };
        if let Some(call) = joined {
            return PairedLp::half(call, request.side).await;
        }
        // One turn of the task: the other side's poll of the same tick
        // runs in it.
        tokio::task::yield_now().await;
        let taken = {
            let mut waiting = self.pairing.lock();
            match waiting.as_ref() {
                Some(mine) if mine.request_id == request.request_id => waiting.take(),
                _ => None,
            }
        };
        match taken.and_then(|mine| mine.call) {
            Some(call) => PairedLp::half(call, request.side).await,
            None => self.inner.quote(request).await,
        }
    }

    async fn quote_two_way(&self, offer: &LpRequest, bid: &LpRequest) -> TwoWayAnswer {
        self.inner.quote_two_way(offer, bid).await
    }

    fn quotes_two_way(&self) -> bool {
        self.inner.quotes_two_way()
    }

    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        self.inner.execute(order).await
    }

    fn client_order_ids(&self) -> ClientOrderIds {
        self.inner.client_order_ids()
    }

    fn order_lookup(&self) -> Option<&'static str> {
        self.inner.order_lookup()
    }

    async fn order_status(&self, order: &OrderLookup) -> OrderAnswer {
        self.inner.order_status(order).await
    }

    fn timeout_ms(&self) -> Option<u64> {
        self.inner.timeout_ms()
    }

    fn order_timeout_ms(&self) -> Option<u64> {
        self.inner.order_timeout_ms()
    }

    fn health(&self) -> Option<HealthView> {
        self.inner.health()
    }

    fn simulated(&self) -> bool {
        self.inner.simulated()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use rust_decimal_macros::dec;

    use super::*;
    use crate::clock::StreamClock;

    /// A venue with a two-way form that counts how it is asked.
    #[derive(Default)]
    struct Counting {
        one_sided: AtomicUsize,
        two_way: AtomicUsize,
    }

    fn quote_for(request: &LpRequest) -> LpQuote {
        LpQuote {
            lp: Arc::from("V"),
            request_id: request.request_id,
            side: request.side,
            pair: request.pair,
            price: match request.side {
                Side::Buy => dec!(101),
                Side::Sell => dec!(99),
            },
            quantity: request.amount,
            valid_until_ms: 5_000,
            venue_ref: None,
        }
    }

    #[async_trait]
    impl LiquidityProvider for Counting {
        fn name(&self) -> &str {
            "V"
        }

        fn quotes_two_way(&self) -> bool {
            true
        }

        async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
            self.one_sided.fetch_add(1, Ordering::Relaxed);
            Ok(quote_for(request))
        }

        async fn quote_two_way(&self, offer: &LpRequest, bid: &LpRequest) -> TwoWayAnswer {
            self.two_way.fetch_add(1, Ordering::Relaxed);
            TwoWayAnswer {
                offer: Ok(quote_for(offer)),
                bid: Ok(quote_for(bid)),
            }
        }

        async fn execute(&self, _order: &LpOrder) -> OrderAnswer {
            OrderAnswer::Rejected {
                reason: "not in this test".into(),
            }
        }
    }

    fn request(side: Side, request_id: u64, sent_ms: StreamMs, clock: StreamClock) -> LpRequest {
        LpRequest {
            request_id,
            rfq_id: Arc::from("R-paired"),
            side,
            pair: "BTCUSDT".parse().unwrap(),
            amount: dec!(2),
            fixed: crate::market::Leg::Base,
            sent_ms,
            clock,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn both_sides_of_one_poll_are_one_call_and_a_lone_side_asks_alone() {
        let venue = Arc::new(Counting::default());
        let (offer_side, bid_side) = pair_sides(&[venue.clone() as SharedLp]);
        let clock = StreamClock::start();
        let (asked_offer, asked_bid) = (
            request(Side::Buy, 1, 0, clock),
            request(Side::Sell, 2, 0, clock),
        );
        let (offer, bid) = futures::join!(
            offer_side[0].quote(&asked_offer),
            bid_side[0].quote(&asked_bid),
        );
        let (offer, bid) = (offer.unwrap(), bid.unwrap());
        assert_eq!((offer.request_id, offer.price), (1, dec!(101)));
        assert_eq!((bid.request_id, bid.price), (2, dec!(99)));
        assert_eq!(venue.two_way.load(Ordering::Relaxed), 1);
        assert_eq!(venue.one_sided.load(Ordering::Relaxed), 0);

        // The bid side has stopped: the offer side's next poll asks alone.
        let offer = offer_side[0]
            .quote(&request(Side::Buy, 3, 500, clock))
            .await
            .unwrap();
        assert_eq!((offer.request_id, offer.price), (3, dec!(101)));
        assert_eq!(venue.two_way.load(Ordering::Relaxed), 1);
        assert_eq!(venue.one_sided.load(Ordering::Relaxed), 1);

        // Requests of different polls are never joined.
        let (asked_offer, asked_bid) = (
            request(Side::Buy, 4, 1_000, clock),
            request(Side::Sell, 5, 1_500, clock),
        );
        let (offer, bid) = futures::join!(
            offer_side[0].quote(&asked_offer),
            bid_side[0].quote(&asked_bid),
        );
        assert_eq!((offer.unwrap().request_id, bid.unwrap().request_id), (4, 5));
        assert_eq!(venue.two_way.load(Ordering::Relaxed), 1);
        assert_eq!(venue.one_sided.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_venue_without_a_two_way_form_is_not_paired() {
        let plain: SharedLp = Arc::new(crate::lp::scripted::ScriptedLp::new("S", 1_000, |_| {
            crate::lp::scripted::Step::price(0, dec!(100))
        }));
        let (offer, bid) = pair_sides(std::slice::from_ref(&plain));
        assert!(Arc::ptr_eq(&offer[0], &plain) && Arc::ptr_eq(&bid[0], &plain));
    }
}
