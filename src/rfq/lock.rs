//! The lock rules of one RFQ as a pure state machine: the race of the first
//! poll, the lock and its threshold, the refresh of an expiring lock, and a
//! new race after an expiry. It says what should happen ([`Decision`]s);
//! the engine turns decisions into events and client quotes.

use std::sync::Arc;

use rust_decimal::Decimal;

use crate::clock::StreamMs;
use crate::market::{Bps, Side};
use crate::rfq::event::{LockReason, QuoteReason};
use crate::rfq::pricing::{beats_lock, client_valid_until};

/// A valid LP answer that may be offered or locked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub lp: usize,
    pub price: Decimal,
    pub(crate) valid_until_ms: StreamMs,
    /// The venue's reference for this quote, for an order against it.
    pub(crate) venue_ref: Option<Arc<str>>,
}

/// What the lock rules decided, in the order it must be applied.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// Lock `candidate`, taking over from `previous`.
    Lock {
        candidate: Candidate,
        previous: Option<usize>,
        reason: LockReason,
    },
    /// Offer `candidate` to the client.
    Offer {
        candidate: Candidate,
        reason: QuoteReason,
    },
}

#[derive(Debug)]
enum Phase {
    /// No lock: the best answer so far is offered. The race is settled when
    /// poll `settle_on` completes (`None`: the next poll to start).
    Racing {
        best: Option<Candidate>,
        settle_on: Option<u32>,
    },
    Locked {
        lock: Candidate,
        /// A refresh in progress: poll `poll` also asked the locked LP.
        refresh: Option<Refresh>,
    },
}

#[derive(Debug)]
struct Refresh {
    poll: u32,
    best: Option<Candidate>,
}

/// What a poll does about the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PollPlan {
    /// The LP not to ask: the locked LP, unless its quote is refreshed.
    pub(crate) skip: Option<usize>,
}

/// The lock state of one RFQ; see the module docs.
#[derive(Debug)]
pub(crate) struct LockRules {
    side: Side,
    threshold: Bps,
    validity_buffer_ms: u64,
    phase: Phase,
    /// Reason the next racing client quote carries.
    race_reason: QuoteReason,
    /// The LP that held the lock last, for `previous_lp`.
    last_lock_lp: Option<usize>,
    improvements: u32,
}

impl LockRules {
    pub(crate) fn new(side: Side, threshold: Bps, validity_buffer_ms: u64) -> LockRules {
        LockRules {
            side,
            threshold,
            validity_buffer_ms,
            phase: Phase::Racing {
                best: None,
                settle_on: None,
            },
            race_reason: QuoteReason::First,
            last_lock_lp: None,
            improvements: 0,
        }
    }

    /// Improvements so far: locks taken from another LP by the threshold.
    pub(crate) fn improvements(&self) -> u32 {
        self.improvements
    }

    /// LP `lp` holds the lock, the race's lead or a refresh's best.
    pub(crate) fn holds(&self, lp: usize) -> bool {
        match &self.phase {
            Phase::Racing { best, .. } => best.as_ref().is_some_and(|b| b.lp == lp),
            Phase::Locked { lock, refresh } => {
                lock.lp == lp
                    || refresh
                        .as_ref()
                        .and_then(|r| r.best.as_ref())
                        .is_some_and(|b| b.lp == lp)
            }
        }
    }

    /// What the client was offered is gone (an expelled price): a new race
    /// starts, settled by the polls still out (`oldest_out`), led by
    /// `replacement` (the best sane quote left) if there is one.
    pub(crate) fn restart(
        &mut self,
        now: StreamMs,
        oldest_out: Option<u32>,
        replacement: Option<Candidate>,
        decisions: &mut Vec<Decision>,
    ) {
        self.phase = Phase::Racing {
            best: None,
            settle_on: oldest_out,
        };
        self.race_reason = QuoteReason::Refresh;
        if let Some(candidate) = replacement {
            self.consider(now, candidate, decisions);
        }
    }

    /// A poll starts at `now`. A race settles on the first poll to start;
    /// a lock whose client validity (`live_until`) would end before this
    /// poll could answer (`poll start + interval + LP timeout`) is
    /// refreshed by asking the locked LP too, if it `can_ask_lock`.
    pub(crate) fn begin_poll(
        &mut self,
        poll: u32,
        live_until: Option<StreamMs>,
        refresh_due_by: StreamMs,
        can_ask_lock: impl Fn(usize) -> bool,
    ) -> PollPlan {
        match &mut self.phase {
            Phase::Racing { settle_on, .. } => {
                settle_on.get_or_insert(poll);
                PollPlan { skip: None }
            }
            Phase::Locked { lock, refresh } => {
                let expiring = live_until.is_some_and(|until| until <= refresh_due_by);
                if refresh.is_none() && expiring && can_ask_lock(lock.lp) {
                    *refresh = Some(Refresh { poll, best: None });
                }
                PollPlan {
                    skip: refresh.is_none().then_some(lock.lp),
                }
            }
        }
    }

    fn offerable(&self, now: StreamMs, candidate: &Candidate) -> bool {
        client_valid_until(now, candidate.valid_until_ms, self.validity_buffer_ms).is_some()
    }

    /// The selection and lock decision for one valid answer at `now`.
    pub(crate) fn consider(
        &mut self,
        now: StreamMs,
        candidate: Candidate,
        decisions: &mut Vec<Decision>,
    ) {
        let side = self.side;
        let offerable = self.offerable(now, &candidate);
        match &mut self.phase {
            Phase::Racing { best, .. } => {
                let better = best
                    .as_ref()
                    .is_none_or(|best| side.is_better(candidate.price, best.price));
                if better && offerable {
                    *best = Some(candidate.clone());
                    decisions.push(Decision::Offer {
                        candidate,
                        reason: self.race_reason,
                    });
                    self.race_reason = QuoteReason::BestSoFar;
                }
            }
            Phase::Locked { lock, refresh } => {
                if let Some(refresh) = refresh {
                    if refresh
                        .best
                        .as_ref()
                        .is_none_or(|best| side.is_better(candidate.price, best.price))
                    {
                        refresh.best = Some(candidate.clone());
                    }
                }
                // The locked LP's quote is frozen: its own answers only
                // count as fresh candidates of a refresh.
                if candidate.lp == lock.lp
                    || !beats_lock(side, candidate.price, lock.price, self.threshold)
                {
                    return;
                }
                let previous = lock.lp;
                // (An arriving answer has passed validation at this very
                // instant, so its client validity is longer than zero.)
                // A fresh lock needs no refresh any more.
                self.phase = Phase::Locked {
                    lock: candidate.clone(),
                    refresh: None,
                };
                self.improvements += 1;
                self.last_lock_lp = Some(candidate.lp);
                decisions.push(Decision::Lock {
                    candidate: candidate.clone(),
                    previous: Some(previous),
                    reason: LockReason::Improvement,
                });
                decisions.push(Decision::Offer {
                    candidate,
                    reason: QuoteReason::Improvement,
                });
            }
        }
    }

    /// Poll `poll` is complete at `now` (every request answered or timed
    /// out). Settles a race on its winner, or completes a refresh with the
    /// best fresh answer. Returns true when a race found nothing and
    /// should settle on `oldest_out` instead.
    pub(crate) fn poll_completed(
        &mut self,
        now: StreamMs,
        poll: u32,
        oldest_out: Option<u32>,
        decisions: &mut Vec<Decision>,
    ) -> bool {
        match &mut self.phase {
            Phase::Racing { best, settle_on } if *settle_on == Some(poll) => match best.take() {
                Some(winner) => {
                    let previous = self.last_lock_lp;
                    self.last_lock_lp = Some(winner.lp);
                    self.phase = Phase::Locked {
                        lock: winner.clone(),
                        refresh: None,
                    };
                    decisions.push(Decision::Lock {
                        candidate: winner,
                        previous,
                        reason: LockReason::BestOfPoll,
                    });
                    false
                }
                None => {
                    // Settle on the oldest poll still out, else the next.
                    *settle_on = oldest_out;
                    true
                }
            },
            Phase::Locked { lock, refresh } if refresh.as_ref().is_some_and(|r| r.poll == poll) => {
                let previous = lock.lp;
                // Only answers that arrived during this refresh are fresh;
                // the old lock's own quote is never among them.
                let fresh = refresh.take().and_then(|r| r.best);
                if let Some(fresh) = fresh {
                    if self.offerable(now, &fresh) {
                        self.last_lock_lp = Some(fresh.lp);
                        self.phase = Phase::Locked {
                            lock: fresh.clone(),
                            refresh: None,
                        };
                        decisions.push(Decision::Lock {
                            candidate: fresh.clone(),
                            previous: Some(previous),
                            reason: LockReason::Refresh,
                        });
                        decisions.push(Decision::Offer {
                            candidate: fresh,
                            reason: QuoteReason::Refresh,
                        });
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// The live client quote expired at `now`: a new race starts, settled
    /// by the polls still out (`oldest_out`), and any fresh answer a
    /// refresh already holds is considered at once.
    pub(crate) fn expired(
        &mut self,
        now: StreamMs,
        oldest_out: Option<u32>,
        decisions: &mut Vec<Decision>,
    ) {
        let previous = std::mem::replace(
            &mut self.phase,
            Phase::Racing {
                best: None,
                settle_on: oldest_out,
            },
        );
        self.race_reason = QuoteReason::Refresh;
        if let Phase::Locked {
            refresh: Some(Refresh {
                best: Some(fresh), ..
            }),
            ..
        } = previous
        {
            self.consider(now, fresh, decisions);
        }
    }
}
