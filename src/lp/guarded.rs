//! An LP wrapped in its [`Health`], shared by every stream that asks it:
//! each request is admitted (or not sent: throttled, paused, down, auth
//! failed) before it reaches the LP, and its outcome (an answer, a failure,
//! a timeout, a 429, an order's fill or last-look reject) updates the
//! health. A change of the LP's state is logged once and handed once to
//! the [`HealthFeed`] (the blotter's writer records it), however many
//! streams see it.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::lp::health::{
    Admission, Health, HealthChange, HealthPolicy, HealthState, HealthView, Outcome,
};
use crate::lp::{
    LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer, OrderRefusal, SharedLp,
    TwoWayAnswer,
};

/// One desk-wide health change, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedChange {
    pub lp: Arc<str>,
    pub at: DateTime<Utc>,
    pub change: HealthChange,
}

/// Where health changes go: the blotter's recorder (set once the blotter
/// is open) and whoever announces them beyond it (the desk's subscribers).
/// Until one is set, and without either, they are only logged.
pub type HealthFeed = Arc<HealthFeeds>;

/// Announces one health change (the desk pushes it to its subscribers).
pub(crate) type Announce = Box<dyn Fn(&RecordedChange) + Send + Sync>;

/// Where desk-wide health changes are recorded: the blotter's writer (a
/// trait here, since `lp` knows nothing of the blotter), or a plain
/// channel. Called from whichever stream's task saw the change, so it
/// must not block.
pub trait RecordHealth: Send + Sync + 'static {
    fn record(&self, change: RecordedChange);
}

impl RecordHealth for std::sync::mpsc::Sender<RecordedChange> {
    fn record(&self, change: RecordedChange) {
        let _ = self.send(change);
    }
}

/// See [`HealthFeed`]; each destination is set once.
#[derive(Default)]
pub struct HealthFeeds {
    recorder: OnceLock<Box<dyn RecordHealth>>,
    announce: OnceLock<Announce>,
}

impl HealthFeeds {
    /// Sends every later change to `recorder` (the blotter); only the
    /// first call counts, a later one gets its recorder back.
    pub fn set<R: RecordHealth>(&self, recorder: R) -> Result<(), R> {
        let mut offered = Some(recorder);
        self.recorder
            .get_or_init(|| Box::new(offered.take().expect("taken only by the first call")));
        match offered {
            None => Ok(()),
            Some(recorder) => Err(recorder),
        }
    }

    /// Hands every later change to `announce` too; only the first call
    /// counts.
    pub(crate) fn announce_to(&self, announce: Announce) {
        let _ = self.announce.set(announce);
    }

    fn send(&self, change: RecordedChange) {
        if let Some(announce) = self.announce.get() {
            announce(&change);
        }
        if let Some(recorder) = self.recorder.get() {
            recorder.record(change);
        }
    }
}

/// An LP and its health; see the module docs.
pub struct Guarded {
    inner: SharedLp,
    name: Arc<str>,
    health: Mutex<Health>,
    /// The health's clock: `now` is the time since this instant.
    origin: Instant,
    wall_origin: DateTime<Utc>,
    /// The desk's LP_TIMEOUT_MS, for an LP without its own timeout.
    default_timeout_ms: u64,
    feed: HealthFeed,
}

impl Guarded {
    pub fn new(
        inner: SharedLp,
        policy: HealthPolicy,
        default_timeout_ms: u64,
        feed: HealthFeed,
    ) -> Guarded {
        Guarded {
            name: inner.shared_name(),
            inner,
            health: Mutex::new(Health::new(policy)),
            origin: Instant::now(),
            wall_origin: Utc::now(),
            default_timeout_ms,
            feed,
        }
    }

    pub fn policy(&self) -> HealthPolicy {
        *self.lock().policy()
    }

    /// What the LP's health says now (the desk view's LP rows).
    pub(crate) fn health_now(&self) -> HealthView {
        let now = self.now();
        self.lock().view(now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Health> {
        // A panic elsewhere cannot leave the health half-updated (every
        // change is a plain assignment), so a poisoned lock is still good.
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Runs `decide` on the health at `now`, then reports any change of
    /// the LP's state (once, whichever stream caused it).
    fn with_health<T>(&self, decide: impl FnOnce(&mut Health, Duration) -> T) -> T {
        let now = self.now();
        let (result, change) = {
            let mut health = self.lock();
            let result = decide(&mut health, now);
            (result, health.take_change(now))
        };
        if let Some(change) = change {
            self.report(now, change);
        }
        result
    }

    fn report(&self, now: Duration, change: HealthChange) {
        let retry = change
            .retry_in_ms
            .map(|ms| format!(" for {ms} ms"))
            .unwrap_or_default();
        let reason = change.reason.as_deref().unwrap_or("");
        match change.state {
            HealthState::Down | HealthState::AuthFailed | HealthState::RateLimited => {
                tracing::warn!(lp = %self.name, state = change.state.as_str(), previous = change.previous.as_str(), throttled = change.throttled, "LP health: {}{retry} {reason}", change.state.as_str())
            }
            _ => {
                tracing::info!(lp = %self.name, state = change.state.as_str(), previous = change.previous.as_str(), throttled = change.throttled, reject_rate = %change.reject_rate, "LP health: {}{retry} {reason}", change.state.as_str())
            }
        }
        let at = self.wall_origin + chrono::Duration::from_std(now).unwrap_or_default();
        self.feed.send(RecordedChange {
            lp: self.name.clone(),
            at,
            change,
        });
    }

    fn outcome_of(result: &Result<LpQuote, LpError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Answered,
            Err(LpError::Unavailable(reason)) => Outcome::Failed(reason.clone()),
            Err(LpError::RateLimited { retry_after_ms }) => {
                Outcome::RateLimited(retry_after_ms.map(Duration::from_millis))
            }
            Err(LpError::Auth(reason)) => Outcome::Auth(format!("authentication failed: {reason}")),
            Err(LpError::Declined(_) | LpError::Malformed(_)) => Outcome::Answered,
            Err(LpError::NotSent(_)) => Outcome::Cancelled,
        }
    }
}

/// A request on its way: dropped before it finishes, it was either given
/// up at its deadline (a timeout, the LP's failure) or by a stopping
/// stream (nothing).
struct Outstanding<'a> {
    lp: &'a Guarded,
    deadline: Instant,
    probe: bool,
    done: bool,
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // A panic unwinding through the request (re-raised from the
        // adapter's thread) is the LP's failure, like a timeout.
        let outcome = if std::thread::panicking() {
            Outcome::Failed("the adapter panicked".to_string())
        } else if Instant::now() >= self.deadline {
            Outcome::Failed("no answer in time".to_string())
        } else {
            Outcome::Cancelled
        };
        let probe = self.probe;
        self.lp
            .with_health(|health, now| health.on_outcome(now, probe, outcome));
    }
}

#[async_trait]
impl LiquidityProvider for Guarded {
    fn name(&self) -> &str {
        &self.name
    }

    fn shared_name(&self) -> Arc<str> {
        self.name.clone()
    }

    fn simulated(&self) -> bool {
        self.inner.simulated()
    }

    fn timeout_ms(&self) -> Option<u64> {
        self.inner.timeout_ms()
    }

    fn order_timeout_ms(&self) -> Option<u64> {
        self.inner.order_timeout_ms()
    }

    fn client_order_ids(&self) -> crate::lp::ClientOrderIds {
        self.inner.client_order_ids()
    }

    fn order_lookup(&self) -> Option<&'static str> {
        self.inner.order_lookup()
    }

    /// Not held back by the health: a look-up trades nothing, and an
    /// order's outcome matters most when the venue has been in trouble.
    async fn order_status(&self, order: &crate::lp::OrderLookup) -> OrderAnswer {
        self.inner.order_status(order).await
    }

    fn health(&self) -> Option<HealthView> {
        let now = self.now();
        Some(self.lock().view(now))
    }

    async fn quote(&self, request: &LpRequest) -> Result<LpQuote, LpError> {
        let probe = match self.with_health(|health, now| health.admit(now)) {
            Admission::Send => false,
            Admission::Probe => true,
            Admission::NotSent(why) => return Err(LpError::NotSent(why)),
        };
        // The LP's whole timeout from the moment the request is really
        // sent: a drop at or after it is the engine giving up on the LP. A
        // poll the desk itself started late (stamped with its tick, so
        // less time is left before the engine's deadline) is not held
        // against the LP's health.
        let timeout = self.inner.timeout_ms().unwrap_or(self.default_timeout_ms);
        let sent_ms = request.sent_ms.max(request.clock.now_ms());
        let mut outstanding = Outstanding {
            lp: self,
            deadline: request.clock.instant_at(sent_ms.saturating_add(timeout)),
            probe,
            done: false,
        };
        let result = self.inner.quote(request).await;
        outstanding.done = true;
        let outcome = Guarded::outcome_of(&result);
        self.with_health(|health, now| health.on_outcome(now, probe, outcome));
        result
    }

    fn quotes_two_way(&self) -> bool {
        self.inner.quotes_two_way()
    }

    /// One admission for the pair of sides, as the venue sees one request
    /// (or, without a two-way form, its two requests at once); the health
    /// learns the worse of the two answers.
    async fn quote_two_way(&self, offer: &LpRequest, bid: &LpRequest) -> TwoWayAnswer {
        let probe = match self.with_health(|health, now| health.admit(now)) {
            Admission::Send => false,
            Admission::Probe => true,
            Admission::NotSent(why) => return TwoWayAnswer::both(LpError::NotSent(why)),
        };
        let timeout = self.inner.timeout_ms().unwrap_or(self.default_timeout_ms);
        let sent_ms = offer.sent_ms.max(offer.clock.now_ms());
        let mut outstanding = Outstanding {
            lp: self,
            deadline: offer.clock.instant_at(sent_ms.saturating_add(timeout)),
            probe,
            done: false,
        };
        let answer = self.inner.quote_two_way(offer, bid).await;
        outstanding.done = true;
        let outcome = match Guarded::outcome_of(&answer.offer) {
            Outcome::Answered => Guarded::outcome_of(&answer.bid),
            failed => failed,
        };
        self.with_health(|health, now| health.on_outcome(now, probe, outcome));
        answer
    }

    /// Orders are never held back (the client has accepted); their
    /// answers feed the fade estimate.
    async fn execute(&self, order: &LpOrder) -> OrderAnswer {
        let answer = self.inner.execute(order).await;
        match &answer {
            OrderAnswer::Filled { .. } => self.with_health(|health, _| health.on_order(false)),
            OrderAnswer::Rejected { .. } => self.with_health(|health, _| health.on_order(true)),
            // Not the LP's last look: no fade. Refused credentials and a
            // rate limit tell its health what a quote's would.
            OrderAnswer::Refused { refusal, reason } => match refusal {
                OrderRefusal::NotSent => {}
                OrderRefusal::Auth => self.with_health(|health, now| {
                    health.on_outcome(now, false, Outcome::Auth(reason.clone()))
                }),
                OrderRefusal::RateLimited { retry_after_ms } => self.with_health(|health, now| {
                    health.on_outcome(
                        now,
                        false,
                        Outcome::RateLimited(retry_after_ms.map(Duration::from_millis)),
                    )
                }),
            },
            OrderAnswer::Unknown { .. } => {}
        }
        answer
    }

    async fn start(&self) {
        self.inner.start().await;
    }

    /// Hands on the counts not yet reported (requests held back during a
    /// throttling spell still going on), then shuts the LP down.
    async fn shutdown(&self) {
        let now = self.now();
        let counts = self.lock().take_counts(now);
        if let Some(counts) = counts {
            self.report(now, counts);
        }
        self.inner.shutdown().await;
    }
}
