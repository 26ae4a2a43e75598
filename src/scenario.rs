//! Replayable LP scenarios: named casts of scripted LPs, each defined as
//! data (a cost path over stream time, a delay, a validity, a failure
//! schedule), that show one LP behaviour on demand (`--scenario NAME`).
//!
//! Prices are written as a *cost* in bps over the pair's reference price,
//! from the client's point of view: lower is better on both sides. A cost
//! of −3 is an offer 3 bps under the reference for a buying client and a
//! bid 3 bps over it for a selling one. Every price is rounded to the
//! pair's tick in the LP's favour, like a real LP's.

use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::{Decimal, MathematicalOps};
use rust_decimal_macros::dec;

use crate::clock::StreamMs;
use crate::lp::scripted::{Call, Lie, OrderStep, Reply, ScriptedLp, Step};
use crate::lp::{LpError, SharedLp};
use crate::market::{round_for_desk, Bps, Side};

/// What a scenario's LPs may depend on: the settings in force.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioContext {
    pub duration_ms: u64,
    pub threshold: Bps,
    pub validity_buffer_ms: u64,
    /// Reference price for BTCUSDT (MOCK_BASE_PRICE); other known pairs
    /// use their own reference.
    pub btc_reference: Decimal,
    /// Fixes every random choice (delays' jitter, failure draws).
    pub seed: u64,
}

/// A cost in bps over the reference as a function of stream time or of the
/// LP's call number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CostPath {
    Fixed(Decimal),
    /// `offset + slope × t/1000 + amplitude × sin(2π t/period + phase)`.
    Wave {
        offset: Decimal,
        slope_per_s: Decimal,
        amplitude: Decimal,
        period_ms: u64,
        phase: Decimal,
    },
    /// The cost from each start time on: `[(0, a), (t1, b), ...]`.
    Steps(Vec<(StreamMs, Decimal)>),
    /// The cost of the LP's n-th answer; the last repeats.
    ByCall(Vec<Decimal>),
}

impl CostPath {
    fn at(&self, t_ms: StreamMs, call: u64) -> Decimal {
        match self {
            CostPath::Fixed(cost) => *cost,
            CostPath::Wave {
                offset,
                slope_per_s,
                amplitude,
                period_ms,
                phase,
            } => {
                let t = Decimal::from(t_ms);
                let angle = Decimal::TWO_PI * t / Decimal::from(*period_ms) + phase;
                offset + slope_per_s * t / dec!(1000) + amplitude * angle.sin()
            }
            CostPath::Steps(steps) => steps
                .iter()
                .take_while(|(from, _)| *from <= t_ms)
                .last()
                .map(|(_, cost)| *cost)
                .unwrap_or(Decimal::ZERO),
            CostPath::ByCall(costs) => costs[(call as usize).min(costs.len() - 1)],
        }
    }
}

/// A way to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answers far too late (cut off by the LP timeout).
    Timeout,
    Decline,
    Unavailable,
    Malformed,
    WrongSide,
    ShortQuantity,
    Panic,
}

/// When an LP misbehaves: always inside `windows` (by answer time), and
/// otherwise at random with `rate_per_mille`, picking among `kinds`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct FaultPlan {
    pub(crate) rate_per_mille: u32,
    pub(crate) kinds: Vec<Fault>,
    pub(crate) windows: Vec<(StreamMs, StreamMs, Fault)>,
}

/// One scripted LP described as data.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LpPlan {
    pub name: &'static str,
    /// Answer time in stream ms, plus a seeded jitter of 0..=`jitter_ms`
    /// in steps of [`TICK_MS`].
    pub(crate) delay_ms: u64,
    pub(crate) jitter_ms: u64,
    pub(crate) validity_ms: u64,
    pub(crate) cost: CostPath,
    pub(crate) faults: FaultPlan,
    /// How it answers orders.
    pub(crate) orders: OrderHabit,
}

/// How a scenario LP answers an order, after holding it `hold_ms`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OrderHabit {
    /// Fills at the quoted price.
    Fill { hold_ms: u64 },
    /// Rejects every order on last look.
    RejectAll { hold_ms: u64 },
    /// Never answers: the order's outcome is unknown.
    Silent,
}

/// A named, documented cast of LPs.
pub struct Scenario {
    pub name: &'static str,
    /// What it shows.
    pub(crate) summary: &'static str,
    /// The outcome it always produces (and the tests assert).
    pub outcome: &'static str,
    plans: fn(&ScenarioContext) -> Vec<LpPlan>,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for Scenario {
    fn eq(&self, other: &Scenario) -> bool {
        self.name == other.name
    }
}

/// Every scenario time (delays, jitter, windows) is a multiple of this
/// much stream time, so at `--speed` 2, 4, 5, 10 or 20 each timer lands on
/// a whole real millisecond — tokio's timer resolution — and a faster
/// replay reports exactly the same stream times.
pub(crate) const TICK_MS: u64 = 20;

/// An answer far beyond any sensible LP timeout.
const HANG_MS: u64 = 3_600_000;
/// Validity of a quote in scenarios that are not about expiry.
const VALIDITY_MS: u64 = 10_000;

fn honest(name: &'static str, delay_ms: u64, cost: CostPath) -> LpPlan {
    LpPlan {
        name,
        delay_ms,
        jitter_ms: 40,
        validity_ms: VALIDITY_MS,
        cost,
        faults: FaultPlan::default(),
        orders: OrderHabit::Fill { hold_ms: 100 },
    }
}

fn wave(offset: Decimal, amplitude: Decimal, period_ms: u64, quarter_turns: u32) -> CostPath {
    CostPath::Wave {
        offset,
        slope_per_s: Decimal::ZERO,
        amplitude,
        period_ms,
        phase: Decimal::HALF_PI * Decimal::from(quarter_turns),
    }
}

fn competing(_: &ScenarioContext) -> Vec<LpPlan> {
    let descending = |quarter_turns: u32, offset: Decimal| CostPath::Wave {
        offset,
        slope_per_s: dec!(-0.1),
        amplitude: dec!(3),
        period_ms: 12_000,
        phase: Decimal::HALF_PI * Decimal::from(quarter_turns),
    };
    vec![
        honest("Alpha", 120, descending(0, dec!(2))),
        honest("Bravo", 180, descending(1, dec!(2.2))),
        honest("Charlie", 240, descending(2, dec!(2.4))),
        honest("Delta", 300, descending(3, dec!(2.6))),
    ]
}

fn non_competition(_: &ScenarioContext) -> Vec<LpPlan> {
    vec![
        honest("Anchor", 160, CostPath::Fixed(dec!(-3))),
        honest("Chaser1", 100, wave(dec!(1), dec!(1.5), 7_000, 0)),
        honest("Chaser2", 200, wave(dec!(1), dec!(1.5), 7_000, 1)),
        honest("Chaser3", 260, wave(dec!(1), dec!(1.5), 7_000, 2)),
    ]
}

fn hail_mary(ctx: &ScenarioContext) -> Vec<LpPlan> {
    let last_second = ctx.duration_ms.saturating_sub(1_000);
    vec![
        honest("Able", 100, wave(dec!(1.5), dec!(1), 9_000, 0)),
        honest("Baker", 160, wave(dec!(1.5), dec!(1), 9_000, 1)),
        honest("Castle", 220, wave(dec!(1.5), dec!(1), 9_000, 2)),
        honest("Dog", 280, wave(dec!(1.5), dec!(1), 9_000, 3)),
        LpPlan {
            jitter_ms: 0,
            ..honest(
                "HailMary",
                140,
                CostPath::Steps(vec![(0, dec!(6)), (last_second, dec!(-8))]),
            )
        },
    ]
}

fn near_miss(ctx: &ScenarioContext) -> Vec<LpPlan> {
    let threshold = ctx.threshold.value();
    let near = -threshold * dec!(0.9);
    let mut challenger = vec![dec!(2)];
    challenger.extend([near; 5]);
    challenger.push(-threshold);
    vec![
        LpPlan {
            jitter_ms: 0,
            ..honest("Incumbent", 100, CostPath::Fixed(Decimal::ZERO))
        },
        LpPlan {
            jitter_ms: 0,
            ..honest("Challenger", 200, CostPath::ByCall(challenger))
        },
        honest("Outsider", 240, CostPath::Fixed(dec!(4))),
    ]
}

fn flaky(_: &ScenarioContext) -> Vec<LpPlan> {
    let faulty = |name, delay_ms, cost, rate_per_mille, kinds: &[Fault]| LpPlan {
        faults: FaultPlan {
            rate_per_mille,
            kinds: kinds.to_vec(),
            windows: Vec::new(),
        },
        ..honest(name, delay_ms, CostPath::Fixed(cost))
    };
    vec![
        honest("Steady", 120, CostPath::Fixed(dec!(1))),
        faulty("Sleepy", 140, dec!(0.5), 400, &[Fault::Timeout]),
        faulty(
            "Grumpy",
            180,
            dec!(0.8),
            400,
            &[Fault::Decline, Fault::Unavailable],
        ),
        faulty(
            "Garbled",
            200,
            dec!(0.2),
            500,
            &[Fault::Malformed, Fault::WrongSide, Fault::ShortQuantity],
        ),
        faulty("Crashy", 220, dec!(0.6), 300, &[Fault::Panic]),
        // Quotes well and never answers an order: an accepted quote from it
        // ends `unknown`, with no second order.
        LpPlan {
            orders: OrderHabit::Silent,
            ..honest("Ghost", 160, CostPath::Fixed(dec!(-0.5)))
        },
    ]
}

fn last_look(_: &ScenarioContext) -> Vec<LpPlan> {
    vec![
        // Always the best price, and rejects every order after a 200 ms hold.
        LpPlan {
            jitter_ms: 0,
            orders: OrderHabit::RejectAll { hold_ms: 200 },
            ..honest("Fader", 100, CostPath::Fixed(dec!(-1)))
        },
        LpPlan {
            jitter_ms: 0,
            orders: OrderHabit::Fill { hold_ms: 60 },
            ..honest("Solid", 140, CostPath::Fixed(dec!(-0.5)))
        },
        honest("Wide", 180, CostPath::Fixed(dec!(3))),
    ]
}

fn expiry(ctx: &ScenarioContext) -> Vec<LpPlan> {
    // Quotes outlive the buffer by 2.5 s only, so the lock needs refreshing
    // every few seconds; from 8 s to 11 s both LPs are down and the
    // refresh cannot happen in time.
    let validity_ms = ctx.validity_buffer_ms + 2_500;
    let outage = |name, delay_ms, cost| LpPlan {
        validity_ms,
        jitter_ms: 0,
        faults: FaultPlan {
            windows: vec![(8_000, 11_000, Fault::Unavailable)],
            ..FaultPlan::default()
        },
        ..honest(name, delay_ms, CostPath::Fixed(cost))
    };
    vec![
        outage("Primary", 100, dec!(0)),
        outage("Backup", 200, dec!(1)),
    ]
}

/// Every scenario, in the order `lp-rfq scenarios` lists them.
pub const SCENARIOS: [Scenario; 7] = [
    Scenario {
        name: "competing",
        summary: "4 LPs on offset, descending sine waves: the lead changes hands",
        outcome: "the lock switches several times, each switch beating the lock by the threshold",
        plans: competing,
    },
    Scenario {
        name: "non-competition",
        summary: "1 LP steadily best at a low price; 3 others fight for places 2 to 4",
        outcome: "the lock never moves to another LP after the first poll",
        plans: non_competition,
    },
    Scenario {
        name: "hail-mary",
        summary: "4 LPs quote normally; one improves dramatically a second before the end",
        outcome: "the lock moves to HailMary within the stream's last second",
        plans: hail_mary,
    },
    Scenario {
        name: "near-miss",
        summary: "a challenger beats the lock by 0.9 × threshold five times, then by exactly the threshold",
        outcome: "only the beat at exactly the threshold moves the lock",
        plans: near_miss,
    },
    Scenario {
        name: "flaky",
        summary: "LPs that time out, decline, garble, quote the wrong side or size, and panic",
        outcome: "every failure is reported and the stream carries on with the healthy LPs",
        plans: flaky,
    },
    Scenario {
        name: "expiry",
        summary: "short LP validities and a 3 s outage of every LP",
        outcome: "the lock is refreshed before expiry, then expires in the outage until a fresh quote arrives",
        plans: expiry,
    },
    Scenario {
        name: "last-look",
        summary: "the best LP rejects every order on last look; the next best fills",
        outcome: "an accepted quote is rejected by Fader, falls back to Solid and fills at the client's price",
        plans: last_look,
    },
];

/// Finds a scenario by name (any case).
pub fn find(name: &str) -> Option<&'static Scenario> {
    SCENARIOS
        .iter()
        .find(|scenario| scenario.name.eq_ignore_ascii_case(name.trim()))
}

/// The names, for messages.
pub(crate) fn names() -> String {
    SCENARIOS.map(|s| s.name).join(", ")
}

impl Scenario {
    /// The scenario's LPs as data, for these settings.
    pub(crate) fn plans(&self, ctx: &ScenarioContext) -> Vec<LpPlan> {
        (self.plans)(ctx)
    }

    /// The scenario's scripted LPs, ready for a session.
    pub fn lps(&self, ctx: &ScenarioContext) -> Vec<SharedLp> {
        self.plans(ctx)
            .into_iter()
            .enumerate()
            .map(|(index, plan)| {
                let seed = ctx.seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                Arc::new(scripted_lp(plan, ctx.btc_reference, seed)) as SharedLp
            })
            .collect()
    }
}

/// Turns a plan into a scripted LP. Random draws come from the LP's own
/// seeded generator, one set per call, so a replay with the same seed asks
/// the same questions and gets the same answers.
fn scripted_lp(plan: LpPlan, btc_reference: Decimal, seed: u64) -> ScriptedLp {
    let rng = Mutex::new(SmallRng::seed_from_u64(seed));
    let validity_ms = plan.validity_ms;
    let habit = plan.orders.clone();
    ScriptedLp::new(plan.name, validity_ms, move |call: Call<'_>| {
        let (jitter, fault_draw, kind_draw) = {
            let mut rng = rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            (
                rng.random_range(0..=plan.jitter_ms / TICK_MS) * TICK_MS,
                rng.random_range(0..1000u32),
                rng.random_range(0..plan.faults.kinds.len().max(1)),
            )
        };
        let delay_ms = plan.delay_ms + jitter;
        // From the request's stamp, not the clock: the same answer time in
        // every replay, whatever the scheduling jitter.
        let answer_ms = call.request.sent_ms + delay_ms;
        let windowed = plan
            .faults
            .windows
            .iter()
            .find(|(from, to, _)| (*from..*to).contains(&answer_ms))
            .map(|(_, _, fault)| *fault);
        let random = (fault_draw < plan.faults.rate_per_mille)
            .then(|| plan.faults.kinds.get(kind_draw).copied())
            .flatten();

        let request = call.request;
        let reference =
            if request.pair.base.as_str() == "BTC" && request.pair.quote.as_str() == "USDT" {
                Some(btc_reference)
            } else {
                request.pair.reference_price()
            };
        let Some(reference) = reference else {
            return Step::fail(
                delay_ms,
                LpError::Declined(format!("no quote for {}", request.pair)),
            );
        };
        let cost = plan.cost.at(answer_ms, call.index);
        let direction = match request.side {
            Side::Buy => Decimal::ONE,
            Side::Sell => -Decimal::ONE,
        };
        let raw = reference * (Decimal::ONE + direction * cost / dec!(10000));
        let price = round_for_desk(request.side, raw, request.pair.price_dp);
        let reply = match windowed.or(random) {
            None => Reply::Price(price),
            Some(Fault::Timeout) => return Step::price(HANG_MS, price),
            Some(Fault::Decline) => Reply::Fail(LpError::Declined("size not available".into())),
            Some(Fault::Unavailable) => Reply::Fail(LpError::Unavailable("gateway down".into())),
            Some(Fault::Malformed) => {
                Reply::Fail(LpError::Malformed("unparseable price 'N/A'".into()))
            }
            Some(Fault::WrongSide) => Reply::Lie {
                price,
                lie: Lie::WrongSide,
            },
            Some(Fault::ShortQuantity) => Reply::Lie {
                price,
                lie: Lie::ShortQuantity,
            },
            Some(Fault::Panic) => Reply::Panic(format!("{} adapter crashed", plan.name)),
        };
        Step { delay_ms, reply }
    })
    .with_orders(move |_, _| match habit {
        OrderHabit::Fill { hold_ms } => OrderStep::fill(hold_ms),
        OrderHabit::RejectAll { hold_ms } => OrderStep::reject(hold_ms, "last look: price moved"),
        OrderHabit::Silent => OrderStep::never(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_findable_in_any_case() {
        for scenario in &SCENARIOS {
            assert_eq!(find(&scenario.name.to_uppercase()), Some(scenario));
        }
        assert_eq!(find("nope"), None);
        assert_eq!(
            names(),
            "competing, non-competition, hail-mary, near-miss, flaky, expiry, last-look"
        );
    }

    #[test]
    fn every_scenario_time_is_on_the_tick() {
        let ctx = ScenarioContext {
            duration_ms: 30_000,
            threshold: Bps::new(dec!(1)).unwrap(),
            validity_buffer_ms: 2_000,
            btc_reference: dec!(100000),
            seed: 1,
        };
        for scenario in &SCENARIOS {
            for plan in scenario.plans(&ctx) {
                assert_eq!(
                    plan.delay_ms % TICK_MS,
                    0,
                    "{} {}",
                    scenario.name,
                    plan.name
                );
                assert_eq!(
                    plan.jitter_ms % TICK_MS,
                    0,
                    "{} {}",
                    scenario.name,
                    plan.name
                );
                for (from, to, _) in &plan.faults.windows {
                    assert_eq!((from % TICK_MS, to % TICK_MS), (0, 0));
                }
            }
        }
    }

    #[test]
    fn cost_paths_follow_time_and_calls() {
        let steps = CostPath::Steps(vec![(0, dec!(6)), (29_000, dec!(-8))]);
        assert_eq!(steps.at(28_999, 0), dec!(6));
        assert_eq!(steps.at(29_000, 0), dec!(-8));
        let by_call = CostPath::ByCall(vec![dec!(2), dec!(-0.9)]);
        assert_eq!(by_call.at(0, 0), dec!(2));
        assert_eq!(by_call.at(0, 7), dec!(-0.9));
        let wave = wave(dec!(1), dec!(2), 4_000, 0);
        // A quarter period in, the sine is at its top: 1 + 2 × 1.
        assert_eq!(wave.at(1_000, 0).round_dp(6), dec!(3));
        assert_eq!(wave.at(0, 0).round_dp(6), dec!(1));
    }
}
