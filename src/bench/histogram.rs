//! A lock-free log-linear histogram of durations, recorded from many
//! tasks at once: how the bench keeps its latency figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two: values are kept to within 1/16 (6 %).
const SUB_BUCKETS: usize = 16;
const SUB_BITS: u32 = 4;
/// Powers of two of nanoseconds covered (2^40 ns ≈ 18 minutes).
const EXPONENTS: usize = 40;

/// A histogram of durations, recorded from many tasks at once.
pub(crate) struct LatencyHistogram {
    buckets: Vec<AtomicU64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    pub(crate) fn new() -> LatencyHistogram {
        LatencyHistogram {
            buckets: (0..EXPONENTS * SUB_BUCKETS)
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn bucket_of(nanos: u64) -> usize {
        if nanos < SUB_BUCKETS as u64 {
            return nanos as usize;
        }
        let exponent = 63 - nanos.leading_zeros();
        let sub = (nanos >> (exponent - SUB_BITS)) as usize & (SUB_BUCKETS - 1);
        let index = (exponent - SUB_BITS + 1) as usize * SUB_BUCKETS + sub;
        index.min(EXPONENTS * SUB_BUCKETS - 1)
    }

    /// The largest value that falls in bucket `index`.
    fn upper_bound(index: usize) -> u64 {
        if index < SUB_BUCKETS {
            return index as u64;
        }
        let exponent = (index / SUB_BUCKETS) as u32 + SUB_BITS - 1;
        let sub = (index % SUB_BUCKETS) as u64;
        ((SUB_BUCKETS as u64 + sub + 1) << (exponent - SUB_BITS)) - 1
    }

    pub fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The `percentile` (0–100) by nearest rank, as the upper bound of its
    /// bucket; zero when nothing was recorded.
    pub(crate) fn percentile(&self, percentile: u32) -> Duration {
        let total = self.count();
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = (u64::from(percentile) * total).div_ceil(100).max(1);
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return Duration::from_nanos(Self::upper_bound(index));
            }
        }
        Duration::from_nanos(Self::upper_bound(self.buckets.len() - 1))
    }
}

/// A [`LatencyHistogram`] that also keeps the largest value, so that a
/// percentile (its bucket's upper bound, within 6 %) is never reported
/// above the largest value seen.
#[derive(Default)]
pub(crate) struct LatenciesWithMax {
    histogram: LatencyHistogram,
    max_ns: AtomicU64,
}

impl LatenciesWithMax {
    pub(crate) fn record(&self, latency: Duration) {
        self.histogram.record(latency);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.max_ns.fetch_max(nanos, Ordering::Relaxed);
    }

    pub(crate) fn max(&self) -> Duration {
        Duration::from_nanos(self.max_ns.load(Ordering::Relaxed))
    }

    pub(crate) fn percentile(&self, percentile: u32) -> Duration {
        self.histogram.percentile(percentile).min(self.max())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_sixteenth() {
        let histogram = LatencyHistogram::new();
        for micros in 1..=100u64 {
            histogram.record(Duration::from_micros(micros));
        }
        assert_eq!(histogram.count(), 100);
        for (p, exact) in [(50, 50_000u64), (99, 99_000), (100, 100_000)] {
            let got = histogram.percentile(p).as_nanos() as u64;
            assert!(
                got >= exact && got <= exact + exact / 16,
                "p{p}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn small_values_are_exact_and_empty_is_zero() {
        let histogram = LatencyHistogram::new();
        assert_eq!(histogram.percentile(50), Duration::ZERO);
        histogram.record(Duration::from_nanos(7));
        assert_eq!(histogram.percentile(50), Duration::from_nanos(7));
    }
}
