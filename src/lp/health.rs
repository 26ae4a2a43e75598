//! One LP's health, shared by every stream that asks it: its rate limit,
//! the pause it asked for (Retry-After), its circuit breaker and its
//! last-look fade. Pure decisions: every method takes `now` (time since
//! the LP's health began, on the runtime's clock) and does no I/O, so the
//! rules are tested without a runtime. [`crate::lp::guarded`] wraps an LP
//! with one of these.
//!
//! - **Rate limit**: `max_requests_per_sec = N` never lets more than N
//!   requests start in any one-second window (a fractional N above 1
//!   rounds down; below 1, one request in any `1 / N` seconds). Two rules
//!   hold together: a sliding window of the last N starts, and a GCRA
//!   (one "theoretical arrival time") that lets at most `burst` of those
//!   N go at once and spaces the rest `1 / N` apart. A request over the
//!   limit is not sent.
//! - **Retry-After**: a 429/418 pauses the LP for the time it asks (at most
//!   `MAX_PAUSE`; `DEFAULT_PAUSE` when it names none).
//! - **Circuit breaker**: `failures` consecutive timeouts or unavailable
//!   answers within `window` open it for `cool_off`; then one probe is
//!   sent (half-open): an answer closes it, a failure opens it again. An
//!   authentication failure opens it until restart.
//! - **Fade**: a smoothed last-look reject rate, a Beta prior of
//!   `PRIOR_REJECTS` in `PRIOR_ORDERS` plus the LP's orders with older
//!   ones weighing `DECAY` less per newer order, so that one reject of
//!   one order does not brand an LP and an old streak fades out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

wire_enum! {
    /// An LP's health, shared by every stream that asks it.
    pub enum HealthState {
        /// Asked as usual.
        Ok = "ok",
        /// This request was not sent: the LP's rate limit
        /// (`max_requests_per_sec`) is used up for now.
        Throttled = "throttled",
        /// The LP asked us to wait (429/418, Retry-After): no stream asks
        /// it until `retry_in_ms` has passed.
        RateLimited = "rate_limited",
        /// The circuit breaker is open after repeated failures: no stream
        /// asks it until the cool-off is over.
        Down = "down",
        /// The cool-off is over: one probe request decides whether the LP
        /// is back.
        Probing = "probing",
        /// The LP refused the desk's credentials: never asked again until
        /// restart.
        AuthFailed = "auth_failed",
        /// Quoting normally, but rejecting too many orders on last look:
        /// execution prefers a clean LP at a price within the tolerance.
        Fading = "fading",
    }
}

/// The longest pause an LP's Retry-After can impose: its word must not
/// bench it for the rest of the day.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(60);
/// The pause after a 429 that names no time.
pub(crate) const DEFAULT_PAUSE: Duration = Duration::from_secs(1);
/// Prior pseudo-orders of the fade estimate, and how many of them were
/// rejected: a new LP is assumed to reject 1 in 10.
pub(crate) const PRIOR_ORDERS: Decimal = dec!(10);
pub(crate) const PRIOR_REJECTS: Decimal = dec!(1);
/// Each newer order makes the older ones weigh this much less.
pub(crate) const DECAY: Decimal = dec!(0.9);
/// A throttling spell ends only after this long without a throttle (or
/// two emission intervals if longer), so a steady overload is one spell,
/// not a flip per poll.
pub(crate) const QUIET: Duration = Duration::from_secs(5);

/// A request rate: at most `per_sec` requests in any one second, `burst`
/// of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_sec: Decimal,
    pub burst: u32,
}

const SECOND_NS: u64 = 1_000_000_000;

impl RateLimit {
    /// The most requests that may start within any one window, and the
    /// window in ns: `per_sec` rounded down in one second (2.5/s would
    /// otherwise let 3 start within some second), or one per `1 /
    /// per_sec` seconds below 1/s.
    pub(crate) fn per_window(&self) -> (u32, u64) {
        if self.per_sec >= Decimal::ONE {
            let cap = u32::try_from(self.per_sec.floor()).unwrap_or(u32::MAX);
            (cap, SECOND_NS)
        } else {
            let ns = (Decimal::from(SECOND_NS) / self.per_sec).round();
            (1, u64::try_from(ns).unwrap_or(u64::MAX).max(1))
        }
    }

    /// Time between two requests at the steady rate, in ns (at least 1).
    pub(crate) fn interval_ns(&self) -> u64 {
        let (cap, window_ns) = self.per_window();
        (window_ns / u64::from(cap.max(1))).max(1)
    }

    /// The burst as it applies: within the window's cap, at least 1.
    pub(crate) fn effective_burst(&self) -> u32 {
        self.burst.clamp(1, self.per_window().0.max(1))
    }
}

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open it.
    pub failures: u32,
    /// ... when they all fall within this window.
    pub window: Duration,
    /// How long it stays open before a probe.
    pub cool_off: Duration,
}

impl Default for BreakerPolicy {
    /// 5 failures within 30 s open it for 30 s.
    fn default() -> BreakerPolicy {
        BreakerPolicy {
            failures: 5,
            window: Duration::from_secs(30),
            cool_off: Duration::from_secs(30),
        }
    }
}

/// One LP's health settings (venues file, with per-kind defaults; the fade
/// limit is desk-wide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// `None`: unlimited.
    pub rate: Option<RateLimit>,
    pub breaker: BreakerPolicy,
    /// Above this smoothed reject rate (percent) the LP is fading.
    pub fade_limit_pct: Decimal,
}

impl HealthPolicy {
    /// `2/s burst 2 · breaker 5 in 30 s, cool-off 30 s`, for `lp-rfq lps`
    /// (the burst as it applies: never more than the rate allows in a
    /// window).
    pub fn describe(&self) -> String {
        let rate = match self.rate {
            Some(rate) => format!(
                "{}/s burst {}",
                rate.per_sec.normalize(),
                rate.effective_burst()
            ),
            None => "unlimited".to_string(),
        };
        let b = &self.breaker;
        format!(
            "{rate} · breaker {} in {} s, cool-off {} s",
            b.failures,
            b.window.as_secs(),
            b.cool_off.as_secs()
        )
    }
}

/// Why a request was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSent {
    #[error("not sent: over the LP's rate limit")]
    Throttled,
    #[error("not sent: the LP asked us to wait {retry_in_ms} ms more")]
    RateLimited { retry_in_ms: u64 },
    #[error("not sent: the LP is down (breaker open), retry in {retry_in_ms} ms")]
    Down { retry_in_ms: u64 },
    #[error("not sent: a probe request is out to the LP")]
    Probing,
    #[error("not sent: the LP refused our credentials (until restart)")]
    AuthFailed,
}

impl NotSent {
    /// The state a stream shows for the LP after this refusal.
    pub fn state(&self) -> HealthState {
        match self {
            NotSent::Throttled => HealthState::Throttled,
            NotSent::RateLimited { .. } => HealthState::RateLimited,
            NotSent::Down { .. } => HealthState::Down,
            NotSent::Probing => HealthState::Probing,
            NotSent::AuthFailed => HealthState::AuthFailed,
        }
    }

    pub fn retry_in_ms(&self) -> Option<u64> {
        match self {
            NotSent::RateLimited { retry_in_ms } | NotSent::Down { retry_in_ms } => {
                Some(*retry_in_ms)
            }
            _ => None,
        }
    }
}

/// Whether a request may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Send,
    /// Send it: it is the half-open breaker's one probe.
    Probe,
    NotSent(NotSent),
}

/// How a sent request ended, as the health sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The LP answered (a quote, a decline, even garbage): it is alive.
    Answered,
    /// Timed out or unavailable: counts towards the breaker.
    Failed(String),
    /// 429/418: pause for this long (`None`: `DEFAULT_PAUSE`).
    RateLimited(Option<Duration>),
    /// Credentials refused.
    Auth(String),
    /// Dropped before its deadline (the stream stopped): says nothing.
    Cancelled,
}

/// What a stream is shown about an LP.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthView {
    pub state: HealthState,
    /// Time left until the pause or cool-off ends, from the view's `now`.
    pub retry_in_ms: Option<u64>,
    /// Smoothed last-look reject rate, percent, one decimal.
    pub(crate) reject_rate: Decimal,
    pub fading: bool,
    pub(crate) reason: Option<Arc<str>>,
}

/// A change of an LP's desk-wide state, logged and recorded once (and
/// pushed to the desk's listeners as it is).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HealthChange {
    pub state: HealthState,
    pub previous: HealthState,
    /// Until the LP is asked again (`rate_limited`, `down`), in ms.
    pub retry_in_ms: Option<u64>,
    /// The LP's smoothed last-look reject rate, percent.
    pub reject_rate: Decimal,
    pub reason: Option<Arc<str>>,
    /// Requests not sent for a rate limit (ours or the LP's pause) since
    /// the previous change.
    pub throttled: u64,
}

#[derive(Debug, Clone, PartialEq)]
enum Breaker {
    Closed,
    Open { until: Duration, reason: Arc<str> },
    HalfOpen { probe_out: bool, reason: Arc<str> },
    AuthFailed { reason: Arc<str> },
}

/// One LP's health; see the module docs.
#[derive(Debug, Clone)]
pub struct Health {
    policy: HealthPolicy,
    /// GCRA: when the bucket would be full again, in ns.
    tat_ns: u64,
    paused_until: Option<Duration>,
    breaker: Breaker,
    /// Times of the current run of consecutive failures (at most N).
    failures: VecDeque<Duration>,
    /// Decayed counts of orders and of last-look rejects, and the estimate
    /// they give (percent), kept so that no request pays for a division.
    orders: Decimal,
    rejects: Decimal,
    reject_pct: Decimal,
    /// The rate limit's emission interval and burst tolerance, in ns.
    interval_ns: u64,
    tolerance_ns: u64,
    /// The sliding window: at most `window_cap` starts within any
    /// `window_ns`; `recent_starts` holds the latest ones (at most the
    /// cap, and none while the burst is 1: the GCRA alone then keeps
    /// every window within the cap).
    window_cap: usize,
    window_ns: u64,
    recent_starts: VecDeque<u64>,
    /// The last throttle of the current throttling spell.
    last_throttle: Option<Duration>,
    throttled_unreported: u64,
    /// The desk-wide state last reported, and its `until`.
    reported: (HealthState, Option<Duration>),
}

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Health {
    pub fn new(policy: HealthPolicy) -> Health {
        let (interval_ns, tolerance_ns, window_cap, window_ns) = match policy.rate {
            Some(rate) => {
                let interval = rate.interval_ns();
                let burst = rate.effective_burst();
                let (cap, window_ns) = rate.per_window();
                // With a burst of 1 the GCRA's spacing already keeps any
                // window within the cap: no log of starts to keep.
                let window_cap = if burst > 1 {
                    usize::try_from(cap).unwrap_or(usize::MAX)
                } else {
                    0
                };
                (
                    interval,
                    interval.saturating_mul(u64::from(burst - 1)),
                    window_cap,
                    window_ns,
                )
            }
            None => (0, 0, 0, 0),
        };
        Health {
            policy,
            tat_ns: 0,
            paused_until: None,
            breaker: Breaker::Closed,
            failures: VecDeque::new(),
            orders: Decimal::ZERO,
            rejects: Decimal::ZERO,
            reject_pct: PRIOR_REJECTS / PRIOR_ORDERS * dec!(100),
            interval_ns,
            tolerance_ns,
            window_cap,
            window_ns,
            recent_starts: VecDeque::new(),
            last_throttle: None,
            throttled_unreported: 0,
            reported: (HealthState::Ok, None),
        }
    }

    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// May a request go at `now`? A request refused here is never sent and
    /// is not the LP's failure.
    pub fn admit(&mut self, now: Duration) -> Admission {
        let probe = match &self.breaker {
            Breaker::AuthFailed { .. } => return Admission::NotSent(NotSent::AuthFailed),
            Breaker::Open { until, .. } if now < *until => {
                return Admission::NotSent(NotSent::Down {
                    retry_in_ms: ms(*until - now),
                })
            }
            Breaker::HalfOpen {
                probe_out: true, ..
            } => return Admission::NotSent(NotSent::Probing),
            Breaker::Open { .. } | Breaker::HalfOpen { .. } => true,
            Breaker::Closed => false,
        };
        if let Some(until) = self.paused_until.filter(|until| now < *until) {
            self.throttled_unreported += 1;
            return Admission::NotSent(NotSent::RateLimited {
                retry_in_ms: ms(until - now),
            });
        }
        if !self.take_token(now) {
            self.throttled_unreported += 1;
            self.last_throttle = Some(now);
            return Admission::NotSent(NotSent::Throttled);
        }
        if probe {
            let reason = self.breaker_reason().unwrap_or_else(|| Arc::from("probe"));
            self.breaker = Breaker::HalfOpen {
                probe_out: true,
                reason,
            };
            return Admission::Probe;
        }
        Admission::Send
    }

    /// A token is there when the GCRA's theoretical arrival time is no
    /// further ahead of `now` than the burst allows and the window ending
    /// at `now` has room (the GCRA alone would let `burst - 1` more than
    /// the rate start within one second).
    fn take_token(&mut self, now: Duration) -> bool {
        if self.policy.rate.is_none() {
            return true;
        }
        let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
        let (interval, tolerance) = (self.interval_ns, self.tolerance_ns);
        let tat = self.tat_ns.max(now_ns);
        if tat - now_ns > tolerance {
            return false;
        }
        if self.window_cap > 0 {
            let window_full = self.recent_starts.len() >= self.window_cap
                && self
                    .recent_starts
                    .front()
                    .is_some_and(|&oldest| now_ns.saturating_sub(oldest) < self.window_ns);
            if window_full {
                return false;
            }
            if self.recent_starts.len() >= self.window_cap {
                self.recent_starts.pop_front();
            }
            self.recent_starts.push_back(now_ns);
        }
        self.tat_ns = tat.saturating_add(interval);
        true
    }

    /// A sent request ended at `now` (`probe`: it was the breaker's probe).
    pub fn on_outcome(&mut self, now: Duration, probe: bool, outcome: Outcome) {
        match outcome {
            Outcome::Cancelled => {
                if probe {
                    if let Breaker::HalfOpen { probe_out, .. } = &mut self.breaker {
                        *probe_out = false;
                    }
                }
            }
            Outcome::Auth(reason) => {
                self.breaker = Breaker::AuthFailed {
                    reason: Arc::from(reason),
                };
            }
            Outcome::Answered | Outcome::RateLimited(_) => {
                // It answered: alive.
                self.failures.clear();
                if matches!(
                    self.breaker,
                    Breaker::HalfOpen { .. } | Breaker::Open { .. }
                ) && probe
                {
                    self.breaker = Breaker::Closed;
                }
                if let Outcome::RateLimited(asked) = outcome {
                    let pause = asked.unwrap_or(DEFAULT_PAUSE).min(MAX_PAUSE);
                    let until = now + pause;
                    // Another stream's 429 may already have paused it longer.
                    if self.paused_until.is_none_or(|current| current < until) {
                        self.paused_until = Some(until);
                    }
                }
            }
            Outcome::Failed(reason) => {
                if probe {
                    self.open(now, format!("probe failed: {reason}"));
                    return;
                }
                // A request sent before the breaker opened says nothing new.
                if self.breaker != Breaker::Closed {
                    return;
                }
                let breaker = self.policy.breaker;
                self.failures
                    .retain(|at| now.saturating_sub(*at) <= breaker.window);
                self.failures.push_back(now);
                if self.failures.len() >= breaker.failures as usize {
                    let count = self.failures.len();
                    self.open(
                        now,
                        format!(
                            "{count} failures in {} s, last: {reason}",
                            breaker.window.as_secs()
                        ),
                    );
                }
            }
        }
    }

    fn open(&mut self, now: Duration, reason: String) {
        self.failures.clear();
        self.breaker = Breaker::Open {
            until: now + self.policy.breaker.cool_off,
            reason: Arc::from(reason),
        };
    }

    fn breaker_reason(&self) -> Option<Arc<str>> {
        match &self.breaker {
            Breaker::Closed => None,
            Breaker::Open { reason, .. }
            | Breaker::HalfOpen { reason, .. }
            | Breaker::AuthFailed { reason } => Some(reason.clone()),
        }
    }

    /// An order to the LP ended: `rejected` on last look, or filled.
    pub(crate) fn on_order(&mut self, rejected: bool) {
        self.orders = self.orders * DECAY + Decimal::ONE;
        self.rejects = self.rejects * DECAY
            + if rejected {
                Decimal::ONE
            } else {
                Decimal::ZERO
            };
        self.reject_pct = (self.rejects + PRIOR_REJECTS) / (self.orders + PRIOR_ORDERS) * dec!(100);
    }

    /// The smoothed last-look reject rate, percent (full precision).
    pub fn reject_rate(&self) -> Decimal {
        self.reject_pct
    }

    pub fn fading(&self) -> bool {
        self.reject_rate() > self.policy.fade_limit_pct
    }

    /// The breaker's state at `now`, with its end time and reason, if it
    /// is not closed.
    fn breaker_state(&self, now: Duration) -> Option<(HealthState, Option<Duration>, Arc<str>)> {
        match &self.breaker {
            Breaker::Closed => None,
            Breaker::AuthFailed { reason } => Some((HealthState::AuthFailed, None, reason.clone())),
            Breaker::Open { until, reason } if now < *until => {
                Some((HealthState::Down, Some(*until), reason.clone()))
            }
            Breaker::Open { reason, .. } | Breaker::HalfOpen { reason, .. } => {
                Some((HealthState::Probing, None, reason.clone()))
            }
        }
    }

    /// What a stream is shown at `now` (a throttle is shown by the stream
    /// that met it, not here).
    pub fn view(&self, now: Duration) -> HealthView {
        let (state, until, reason) = self.state_at(now, false);
        let reject_rate = self.reject_rate().round_dp(1);
        HealthView {
            state,
            retry_in_ms: until.map(|until| ms(until.saturating_sub(now))),
            reject_rate,
            fading: self.fading(),
            reason,
        }
    }

    /// The state at `now`, most severe first; `spells`: count a throttling
    /// spell (the desk-wide state does, a stream's view does not).
    fn state_at(
        &self,
        now: Duration,
        spells: bool,
    ) -> (HealthState, Option<Duration>, Option<Arc<str>>) {
        if let Some((state, until, reason)) = self.breaker_state(now) {
            return (state, until, Some(reason));
        }
        if let Some(until) = self.paused_until.filter(|until| now < *until) {
            return (HealthState::RateLimited, Some(until), None);
        }
        if spells && self.in_spell(now) {
            return (HealthState::Throttled, None, None);
        }
        if self.fading() {
            return (HealthState::Fading, None, None);
        }
        (HealthState::Ok, None, None)
    }

    fn in_spell(&self, now: Duration) -> bool {
        let quiet = QUIET.max(Duration::from_nanos(self.interval_ns.saturating_mul(2)));
        self.last_throttle
            .is_some_and(|last| now.saturating_sub(last) < quiet)
    }

    /// The desk-wide state at `now` if it differs from the one reported
    /// last (then it counts as reported). Called after every decision.
    pub fn take_change(&mut self, now: Duration) -> Option<HealthChange> {
        let (state, until, reason) = self.state_at(now, true);
        let previous = self.reported;
        if previous == (state, until) {
            return None;
        }
        self.reported = (state, until);
        Some(HealthChange {
            state,
            previous: previous.0,
            retry_in_ms: until.map(|until| ms(until.saturating_sub(now))),
            reject_rate: self.reject_rate().round_dp(1),
            reason,
            throttled: std::mem::take(&mut self.throttled_unreported),
        })
    }
}

impl Health {
    /// At shutdown: the requests held back since the last reported change,
    /// as a row that repeats the current state (`previous == state`), so
    /// that no count is lost; `None` when there are none.
    pub(crate) fn take_counts(&mut self, now: Duration) -> Option<HealthChange> {
        if self.throttled_unreported == 0 {
            return None;
        }
        let (state, until) = self.reported;
        Some(HealthChange {
            state,
            previous: state,
            retry_in_ms: until.map(|until| ms(until.saturating_sub(now))),
            reject_rate: self.reject_rate().round_dp(1),
            reason: Some(Arc::from("counts at shutdown")),
            throttled: std::mem::take(&mut self.throttled_unreported),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(rate: Option<(Decimal, u32)>) -> HealthPolicy {
        HealthPolicy {
            rate: rate.map(|(per_sec, burst)| RateLimit { per_sec, burst }),
            breaker: BreakerPolicy::default(),
            fade_limit_pct: dec!(25),
        }
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn the_rate_limit_allows_the_burst_then_waits_for_the_window() {
        let mut health = Health::new(policy(Some((dec!(2), 2))));
        let sent = |health: &mut Health, t| health.admit(at(t)) == Admission::Send;
        assert!(sent(&mut health, 0));
        assert!(sent(&mut health, 0));
        assert!(!sent(&mut health, 0));
        assert!(!sent(&mut health, 500), "the GCRA alone would send it");
        assert!(!sent(&mut health, 999));
        assert!(sent(&mut health, 1_000));
        assert!(sent(&mut health, 1_000));
        assert!(!sent(&mut health, 1_000));
        // Idle for a while: the full burst again, never more.
        assert!(sent(&mut health, 10_000));
        assert!(sent(&mut health, 10_000));
        assert!(!sent(&mut health, 10_000));
        // 0.5/s: one request every two seconds, whatever the burst says.
        let mut slow = Health::new(policy(Some((dec!(0.5), 3))));
        assert!(sent(&mut slow, 0));
        assert!(!sent(&mut slow, 0));
        assert!(!sent(&mut slow, 1_999));
        assert!(sent(&mut slow, 2_000));
        // Burst 1: spaced evenly.
        let mut spaced = Health::new(policy(Some((dec!(4), 1))));
        assert!(sent(&mut spaced, 0));
        assert!(!sent(&mut spaced, 249));
        assert!(sent(&mut spaced, 250));
    }

    /// Starts of requests asked every `every_ms` (0: as fast as admitted,
    /// every millisecond until one is refused) over `run_ms`.
    fn starts(rate: (Decimal, u32), every_ms: u64, run_ms: u64) -> Vec<u64> {
        let mut health = Health::new(policy(Some(rate)));
        let mut starts = Vec::new();
        for t in (0..run_ms).step_by(every_ms.max(1) as usize) {
            while health.admit(at(t)) == Admission::Send {
                starts.push(t);
                if every_ms > 0 {
                    break;
                }
            }
        }
        starts
    }

    fn most_in_any_second(starts: &[u64]) -> usize {
        starts
            .iter()
            .map(|&from| {
                starts
                    .iter()
                    .filter(|&&t| t >= from && t < from + 1_000)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[rstest::rstest]
    #[case::two_burst_two((dec!(2), 2), 0, 2, 120)]
    #[case::two_burst_one((dec!(2), 1), 0, 2, 120)]
    #[case::four_burst_four((dec!(4), 4), 0, 4, 240)]
    #[case::four_burst_two((dec!(4), 2), 0, 4, 240)]
    #[case::four_burst_one((dec!(4), 1), 0, 4, 240)]
    #[case::four_polled_every_100_ms((dec!(4), 4), 100, 4, 240)]
    #[case::four_polled_every_300_ms((dec!(4), 4), 300, 4, 200)]
    #[case::a_burst_above_the_rate_counts_inside_it((dec!(4), 10), 0, 4, 240)]
    #[case::a_fraction_above_one_rounds_down((dec!(2.5), 3), 0, 2, 120)]
    #[case::below_one_a_second((dec!(0.5), 1), 0, 1, 30)]
    fn no_second_ever_starts_more_than_the_rate_and_the_rate_is_reached(
        #[case] rate: (Decimal, u32),
        #[case] every_ms: u64,
        #[case] most: usize,
        #[case] in_a_minute: usize,
    ) {
        let starts = starts(rate, every_ms, 60_000);
        assert_eq!(most_in_any_second(&starts), most, "{starts:?}");
        assert_eq!(starts.len(), in_a_minute);
    }

    #[test]
    fn a_retry_after_pauses_the_lp_capped_and_a_longer_pause_wins() {
        let mut health = Health::new(policy(None));
        health.on_outcome(at(100), false, Outcome::RateLimited(Some(at(3_000))));
        assert_eq!(
            health.admit(at(1_100)),
            Admission::NotSent(NotSent::RateLimited { retry_in_ms: 2_000 })
        );
        // A shorter pause from another stream does not shorten it.
        health.on_outcome(at(1_200), false, Outcome::RateLimited(Some(at(100))));
        assert_eq!(health.admit(at(3_100)), Admission::Send);
        health.on_outcome(at(4_000), false, Outcome::RateLimited(Some(at(3_600_000))));
        assert_eq!(health.view(at(4_000)).retry_in_ms, Some(60_000));
        assert_eq!(health.view(at(4_000)).state, HealthState::RateLimited);
        assert_eq!(health.admit(at(64_000)), Admission::Send);
    }

    #[test]
    fn the_breaker_opens_after_n_failures_in_the_window_probes_once_and_closes() {
        let mut health = Health::new(policy(None));
        let fail = |health: &mut Health, t, probe| {
            health.on_outcome(
                at(t),
                probe,
                Outcome::Failed("no answer within 800 ms".into()),
            )
        };
        // Four failures, an answer (resets the run), then failures spread
        // wider than the window.
        for t in [0, 1_000, 2_000, 3_000] {
            fail(&mut health, t, false);
        }
        health.on_outcome(at(3_500), false, Outcome::Answered);
        for t in [4_000, 14_000, 24_000, 34_000, 44_000] {
            fail(&mut health, t, false);
        }
        assert_eq!(health.view(at(44_000)).state, HealthState::Ok);
        // 45 s: only four of them within 30 s.
        fail(&mut health, 45_000, false);
        assert_eq!(health.view(at(45_000)).state, HealthState::Ok);
        // 46 s: five within 30 s (24 s to 46 s) open it.
        fail(&mut health, 46_000, false);
        let view = health.view(at(46_000));
        assert_eq!(view.state, HealthState::Down);
        assert_eq!(view.retry_in_ms, Some(30_000));
        assert_eq!(
            view.reason.as_deref(),
            Some("5 failures in 30 s, last: no answer within 800 ms")
        );
        assert_eq!(
            health.admit(at(64_000)),
            Admission::NotSent(NotSent::Down {
                retry_in_ms: 12_000
            })
        );
        // Cool-off over: exactly one probe; the others wait for it.
        assert_eq!(health.view(at(76_000)).state, HealthState::Probing);
        assert_eq!(health.admit(at(76_000)), Admission::Probe);
        assert_eq!(
            health.admit(at(76_001)),
            Admission::NotSent(NotSent::Probing)
        );
        // A failed probe opens it again for a full cool-off.
        fail(&mut health, 76_500, true);
        assert_eq!(health.view(at(76_500)).retry_in_ms, Some(30_000));
        assert_eq!(health.admit(at(106_500)), Admission::Probe);
        health.on_outcome(at(106_600), true, Outcome::Answered);
        assert_eq!(health.view(at(106_600)).state, HealthState::Ok);
        assert_eq!(health.admit(at(106_700)), Admission::Send);
    }

    #[test]
    fn a_cancelled_probe_lets_the_next_request_probe() {
        let mut health = Health::new(policy(None));
        for t in 0..5 {
            health.on_outcome(at(t), false, Outcome::Failed("down".into()));
        }
        assert_eq!(health.admit(at(30_004)), Admission::Probe);
        health.on_outcome(at(30_010), true, Outcome::Cancelled);
        assert_eq!(health.admit(at(30_020)), Admission::Probe);
    }

    #[test]
    fn an_auth_failure_stays_until_restart() {
        let mut health = Health::new(policy(None));
        health.on_outcome(
            at(0),
            false,
            Outcome::Auth("authentication failed: 401".into()),
        );
        for t in [1, 60_000, 3_600_000] {
            assert_eq!(health.admit(at(t)), Admission::NotSent(NotSent::AuthFailed));
        }
        // Nothing else reopens or closes it.
        health.on_outcome(at(5), false, Outcome::Failed("late".into()));
        health.on_outcome(at(6), false, Outcome::Answered);
        assert_eq!(health.view(at(7)).state, HealthState::AuthFailed);
    }

    #[test]
    fn fade_is_smoothed_not_a_ratio_of_tiny_counts() {
        let mut health = Health::new(policy(None));
        assert_eq!(health.view(at(0)).reject_rate, dec!(10.0));
        health.on_order(true);
        // One reject in one order: 2/11, not 100 %.
        assert_eq!(health.view(at(0)).reject_rate, dec!(18.2));
        assert!(!health.fading());
        health.on_order(true);
        assert_eq!(health.view(at(0)).reject_rate, dec!(24.4));
        assert!(!health.fading());
        health.on_order(true);
        // (1 + 2.71) / (10 + 2.71)
        assert_eq!(health.view(at(0)).reject_rate, dec!(29.2));
        assert!(health.fading());
        assert_eq!(health.view(at(0)).state, HealthState::Fading);
        // Fills bring it back under the limit.
        for _ in 0..3 {
            health.on_order(false);
        }
        assert!(!health.fading(), "{}", health.reject_rate());
    }

    #[test]
    fn desk_wide_changes_are_reported_once_with_the_throttled_count() {
        let mut health = Health::new(policy(Some((dec!(1), 1))));
        assert_eq!(health.admit(at(0)), Admission::Send);
        assert_eq!(health.take_change(at(0)), None);
        for t in [100, 200, 300] {
            assert_eq!(health.admit(at(t)), Admission::NotSent(NotSent::Throttled));
        }
        let change = health.take_change(at(300)).unwrap();
        assert_eq!(
            (change.previous, change.state, change.throttled),
            (HealthState::Ok, HealthState::Throttled, 3)
        );
        assert_eq!(health.take_change(at(400)), None);
        assert_eq!(health.admit(at(1_000)), Admission::Send);
        assert_eq!(
            health.take_change(at(1_000)),
            None,
            "still within the quiet time"
        );
        assert_eq!(health.admit(at(5_400)), Admission::Send);
        let change = health.take_change(at(5_400)).unwrap();
        assert_eq!((change.state, change.throttled), (HealthState::Ok, 0));
        assert_eq!(health.take_counts(at(5_400)), None);
        // Held back but not yet reported at shutdown: a row carries them.
        assert_eq!(
            health.admit(at(5_500)),
            Admission::NotSent(NotSent::Throttled)
        );
        health.take_change(at(5_500));
        assert_eq!(
            health.admit(at(5_600)),
            Admission::NotSent(NotSent::Throttled)
        );
        let counts = health.take_counts(at(5_700)).unwrap();
        assert_eq!(
            (counts.previous, counts.state, counts.throttled),
            (HealthState::Throttled, HealthState::Throttled, 1)
        );
    }
}
