//! The answer tallies a store keeps for its live RFQs until each one's
//! `ended` writes them as `answer_summaries` rows: found by the RFQ's row
//! id, forgotten for the RFQs a failed batch touched, and given up for an
//! RFQ whose `ended` never came (its task panicked, its end went to the
//! fallback journal). Losing a tally only loses that RFQ's summary: the
//! report then counts it from its answers, as exactly.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::figures::RfqTallies;

/// How long after an RFQ's expected end (its start plus its duration at
/// its speed, plus its LP timeout) its `ended` is still waited for: an
/// order sent at the last moment, a slow consumer, a clock step.
pub(crate) const END_SLACK_MS: i64 = 60_000;

/// How often, in the wall time the records carry, overdue tallies are
/// looked for (a walk over every live RFQ's entry).
pub(crate) const SWEEP_EVERY_MS: i64 = 10_000;

/// Every live RFQ's tallies, by its row id (one store's row ids are
/// unique, and an integer hashes for much less than the RFQ's id text on
/// the hot path: one lookup per answer).
#[derive(Default)]
pub(crate) struct LiveTallies {
    by_row: HashMap<i64, LiveTally, BuildHasherDefault<RowHasher>>,
    /// The latest wall ms the records showed (an RFQ's start): the store's
    /// "now", so that time comes from the records, as their rows' does.
    latest_ms: i64,
    next_sweep_ms: i64,
}

struct LiveTally {
    tallies: RfqTallies,
    /// Wall ms past which its `ended` is no longer expected.
    overdue_ms: i64,
}

/// When an RFQ started at wall ms `started_ms` should have ended, at the
/// latest: its duration and LP timeout are stream ms, `speed_per_mille`
/// stream ms per 1000 wall ms.
pub(crate) fn overdue_at(
    started_ms: i64,
    duration_ms: u64,
    lp_timeout_ms: u64,
    speed_per_mille: i64,
) -> i64 {
    let stream_ms = i64::try_from(duration_ms.saturating_add(lp_timeout_ms)).unwrap_or(i64::MAX);
    let wall_ms = stream_ms.saturating_mul(1000) / speed_per_mille.max(1);
    started_ms
        .saturating_add(wall_ms)
        .saturating_add(END_SLACK_MS)
}

impl LiveTallies {
    /// The RFQ with row id `row` started at wall ms `started_ms`; its
    /// answers are counted from now until `overdue_ms` (see [`overdue_at`]).
    pub(crate) fn start(
        &mut self,
        row: i64,
        tallies: RfqTallies,
        started_ms: i64,
        overdue_ms: i64,
    ) {
        self.latest_ms = self.latest_ms.max(started_ms);
        self.by_row.insert(
            row,
            LiveTally {
                tallies,
                overdue_ms,
            },
        );
    }

    pub(crate) fn get_mut(&mut self, row: i64) -> Option<&mut RfqTallies> {
        self.by_row.get_mut(&row).map(|live| &mut live.tallies)
    }

    /// The RFQ ended: its tallies, if it still has them.
    pub(crate) fn end(&mut self, row: i64) -> Option<RfqTallies> {
        self.by_row.remove(&row).map(|live| live.tallies)
    }

    /// A failed batch touched the RFQ: its tallies may count answers
    /// that were rolled back (and rebuilding them as they were before the
    /// batch would cost an undo log per answer).
    pub(crate) fn forget(&mut self, row: i64) {
        self.by_row.remove(&row);
    }

    /// Gives up the tallies of the RFQs overdue by the latest wall time
    /// seen, at most once every [`SWEEP_EVERY_MS`] of it.
    pub(crate) fn sweep(&mut self) {
        if self.latest_ms < self.next_sweep_ms {
            return;
        }
        let now = self.latest_ms;
        self.by_row.retain(|_, live| live.overdue_ms > now);
        self.next_sweep_ms = now.saturating_add(SWEEP_EVERY_MS);
    }

    /// Whether the RFQ with row id `row` is being counted.
    #[cfg(test)]
    pub(crate) fn counts(&self, row: i64) -> bool {
        self.by_row.contains_key(&row)
    }
}

/// A row id's hash: the id times an odd constant (Fibonacci hashing), so
/// consecutive ids spread over the table's groups and tags.
#[derive(Default)]
pub(crate) struct RowHasher(u64);

impl Hasher for RowHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_i64(&mut self, id: i64) {
        self.0 = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Side;

    fn tallies() -> RfqTallies {
        RfqTallies::new(Side::Buy, false, 1_000)
    }

    #[test]
    fn an_rfq_is_given_up_a_minute_after_its_duration_and_lp_timeout_at_its_speed() {
        // 30 s at speed 1, LP timeout 1 s: due by 31 s, given up after 91 s.
        assert_eq!(overdue_at(1_000_000, 30_000, 1_000, 1000), 1_091_000);
        // At speed 10 its 31 stream seconds are 3.1 wall seconds.
        assert_eq!(overdue_at(1_000_000, 30_000, 1_000, 10_000), 1_063_100);
        assert_eq!(overdue_at(i64::MAX - 5, u64::MAX, 1, 1), i64::MAX);

        let mut live = LiveTallies::default();
        live.start(1, tallies(), 1_000_000, 1_091_000);
        live.start(2, tallies(), 1_050_000, 1_141_000);
        live.sweep();
        assert!(live.counts(1) && live.counts(2));
        // RFQ 1 is overdue at 1,091,001, but sweeps are 10 s apart: the
        // last one was at 1,050,000.
        live.start(3, tallies(), 1_059_999, i64::MAX);
        live.sweep();
        live.start(4, tallies(), 1_091_001, i64::MAX);
        live.sweep();
        assert!(!live.counts(1), "overdue");
        assert!(live.counts(2) && live.counts(3) && live.counts(4));
        assert!(live.end(2).is_some());
        assert!(live.end(2).is_none());
        live.forget(3);
        assert!(!live.counts(3) && live.counts(4));
    }
}
