//! The answer tallies a store keeps for its live RFQs until each one's
//! `ended` writes them as `answer_summaries` rows: found by the RFQ's row
//! id, forgotten for the RFQs a failed batch touched, and given up for an
//! RFQ whose `ended` never came (its task panicked, its end went to the
//! fallback journal). Losing a tally only loses that RFQ's summary: the
//! report then counts it from its answers, as exactly.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use super::figures::RfqTallies;

/// How long after an RFQ's expected end (its duration and LP timeout at
/// its speed, from when its `started` was written) its `ended` is still
/// waited for: an order sent at the last moment, a slow consumer.
pub(crate) const END_SLACK: Duration = Duration::from_secs(60);

/// How often overdue tallies are looked for (a walk over every live
/// RFQ's entry).
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Every live RFQ's tallies, by its row id (one store's row ids are
/// unique, and an integer hashes for much less than the RFQ's id text on
/// the hot path: one lookup per answer).
#[derive(Default)]
pub(crate) struct LiveTallies {
    by_row: HashMap<i64, LiveTally, BuildHasherDefault<RowHasher>>,
    next_sweep: Option<Instant>,
}

struct LiveTally {
    tallies: RfqTallies,
    /// When its `ended` is no longer expected.
    overdue: Instant,
}

/// When an RFQ whose `started` was written at `written` should have
/// ended, at the latest: its duration and LP timeout are stream ms,
/// `speed_per_mille` stream ms per 1000 real ms. The writer's own clock,
/// not the records' `started_at`: a journal merged, a replay or a
/// machine's clock step would make those jump.
pub(crate) fn overdue_at(
    written: Instant,
    duration_ms: u64,
    lp_timeout_ms: u64,
    speed_per_mille: i64,
) -> Instant {
    let stream_ms = u128::from(duration_ms.saturating_add(lp_timeout_ms));
    let real_ms = stream_ms * 1000 / u128::from(speed_per_mille.max(1).unsigned_abs());
    // A year is as good as forever here, and cannot overflow an Instant.
    let real = Duration::from_millis(real_ms.min(365 * 86_400_000) as u64);
    written + real + END_SLACK
}

impl LiveTallies {
    /// The RFQ with row id `row` started; its answers are counted from
    /// now until it ends or `overdue` (see [`overdue_at`]) passes.
    pub(crate) fn start(&mut self, row: i64, tallies: RfqTallies, overdue: Instant) {
        self.by_row.insert(row, LiveTally { tallies, overdue });
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

    /// Gives up the tallies of the RFQs overdue at `now`, at most once
    /// every [`SWEEP_EVERY`].
    pub(crate) fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.by_row.retain(|_, live| live.overdue > now);
        self.next_sweep = Some(now + SWEEP_EVERY);
    }

    /// Whether the RFQ with row id `row` is being counted.
    #[cfg(test)]
    pub(crate) fn counts(&self, row: i64) -> bool {
        self.by_row.contains_key(&row)
    }
}

/// A row id's hash: the id times an odd constant, its high half folded
/// into the low one. The table picks a bucket from the low bits, which
/// of the product alone depend only on the id's low bits: ids with a
/// power-of-two stride (PostgreSQL sequences taken in blocks, several
/// desks interleaving) would share a few buckets. Folded, every bit of
/// the id reaches the bucket and the tag (the top bits).
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
        let product = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = product ^ (product >> 32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Side;

    #[test]
    fn row_ids_a_power_of_two_apart_still_fill_distinct_buckets() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<RowHasher>::default();
        // The low 10 bits pick one of 1024 buckets: ids 1024 apart (a
        // sequence taken in blocks) must not all land in one of them.
        let buckets: std::collections::HashSet<u64> = (0..1024i64)
            .map(|n| build.hash_one(n * 1024) & 1023)
            .collect();
        assert!(buckets.len() > 600, "{} buckets of 1024", buckets.len());
    }

    fn tallies() -> RfqTallies {
        RfqTallies::new(Side::Buy, false, 1_000)
    }

    #[test]
    fn an_rfq_is_given_up_a_minute_after_its_duration_and_lp_timeout_at_its_speed() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        // 30 s at speed 1, LP timeout 1 s: due by 31 s, given up after 91 s.
        assert_eq!(overdue_at(t0, 30_000, 1_000, 1000), t0 + s(91));
        // At speed 10 its 31 stream seconds are 3.1 real seconds.
        assert_eq!(
            overdue_at(t0, 30_000, 1_000, 10_000),
            t0 + Duration::from_millis(63_100)
        );
        assert_eq!(overdue_at(t0, u64::MAX, 1, 1), t0 + s(365 * 86_400) + s(60));

        let mut live = LiveTallies::default();
        live.start(1, tallies(), t0 + s(91));
        live.start(2, tallies(), t0 + s(141));
        live.sweep(t0 + s(85));
        assert!(live.counts(1) && live.counts(2));
        // RFQ 1 is overdue after 91 s, but sweeps are 10 s apart: the
        // last one was at 85 s.
        live.start(3, tallies(), t0 + s(1000));
        live.sweep(t0 + s(92));
        assert!(live.counts(1));
        live.sweep(t0 + s(95));
        assert!(!live.counts(1), "overdue");
        assert!(live.counts(2) && live.counts(3));
        assert!(live.end(2).is_some());
        assert!(live.end(2).is_none());
        live.forget(3);
        assert!(!live.counts(3));
    }
}
