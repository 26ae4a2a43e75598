//! The one clock of a stream. Engine timing runs on `tokio::time::Instant`
//! (so paused-time tests are exact), measured in *stream time*, which runs
//! `speed` times faster than real time for scenario replays. Wall-clock
//! timestamps for ids, display and the blotter are derived from the same
//! origin rather than read separately.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Stream time in milliseconds since the stream started.
pub(crate) type StreamMs = u64;

/// A stream's clock: where it started, in engine and wall time, and how fast
/// stream time runs.
#[derive(Debug, Clone, Copy)]
pub struct StreamClock {
    origin: Instant,
    wall_origin: DateTime<Utc>,
    /// Stream milliseconds per 1000 real milliseconds (1000 = real time).
    /// An integer keeps every conversion exact under paused time.
    speed_per_mille: u64,
}

impl StreamClock {
    /// A clock starting now, running at real speed.
    pub fn start() -> StreamClock {
        StreamClock::start_with_speed(1000)
    }

    /// A clock starting now whose stream time runs `speed_per_mille / 1000`
    /// times faster than real time (2000 = twice as fast).
    pub fn start_with_speed(speed_per_mille: u64) -> StreamClock {
        StreamClock {
            origin: Instant::now(),
            wall_origin: Utc::now(),
            speed_per_mille: speed_per_mille.max(1),
        }
    }

    /// Milliseconds of stream time since the start.
    pub fn now_ms(&self) -> StreamMs {
        let real_nanos = self.origin.elapsed().as_nanos();
        let stream_nanos = real_nanos * u128::from(self.speed_per_mille) / 1000;
        (stream_nanos / 1_000_000) as StreamMs
    }

    /// The real duration that `stream` lasts at this clock's speed, rounded
    /// up so that waiting it never ends a hair early.
    pub(crate) fn real_duration(&self, stream: Duration) -> Duration {
        let nanos = stream.as_nanos() * 1000;
        let speed = u128::from(self.speed_per_mille);
        Duration::from_nanos(nanos.div_ceil(speed) as u64)
    }

    /// The engine instant at which stream time reaches `at_ms`.
    pub(crate) fn instant_at(&self, at_ms: StreamMs) -> Instant {
        self.origin + self.real_duration(Duration::from_millis(at_ms))
    }

    /// Sleeps for `stream` of stream time.
    pub async fn sleep(&self, stream: Duration) {
        tokio::time::sleep(self.real_duration(stream)).await;
    }

    /// Sleeps until stream time reaches `at_ms`.
    pub async fn sleep_until(&self, at_ms: StreamMs) {
        tokio::time::sleep_until(self.instant_at(at_ms)).await;
    }

    /// The wall-clock time at stream time `at_ms`.
    pub fn wall_at(&self, at_ms: StreamMs) -> DateTime<Utc> {
        let real = self.real_duration(Duration::from_millis(at_ms));
        self.wall_origin + chrono::Duration::from_std(real).unwrap_or_default()
    }

    /// How fast stream time runs: 1 for real time, 20 for 20 times faster.
    pub fn speed(&self) -> rust_decimal::Decimal {
        rust_decimal::Decimal::new(self.speed_per_mille as i64, 3).normalize()
    }

    /// Stream milliseconds per 1000 real milliseconds.
    pub fn speed_per_mille(&self) -> u64 {
        self.speed_per_mille
    }

    /// The wall-clock time the stream started.
    pub fn wall_origin(&self) -> DateTime<Utc> {
        self.wall_origin
    }

    /// The wall-clock time now, on this clock.
    pub(crate) fn wall_now(&self) -> DateTime<Utc> {
        self.wall_at(self.now_ms())
    }

    /// The stream time at which the wall clock reads `wall` (a venue's
    /// expiry), rounded down so that an expiry is never stretched; 0 for a
    /// time before the stream started. Real venues run on real time
    /// (speed 1); the conversion still scales by the speed so that it
    /// stays right for a sped-up simulated venue.
    pub(crate) fn stream_ms_at(&self, wall: DateTime<Utc>) -> StreamMs {
        let real_ms = (wall - self.wall_origin).num_milliseconds();
        if real_ms <= 0 {
            return 0;
        }
        self.stream_ms_for(Duration::from_millis(real_ms as u64))
    }

    /// A real duration (a venue's `Retry-After`) in stream milliseconds.
    pub(crate) fn stream_ms_for(&self, real: Duration) -> u64 {
        let stream = real.as_millis() * u128::from(self.speed_per_mille) / 1000;
        u64::try_from(stream).unwrap_or(u64::MAX)
    }
}

/// A UTC time as ISO-8601 with milliseconds, e.g. `2025-01-19T14:30:25.123Z`:
/// the one format used in events and the blotter.
pub(crate) fn iso_millis(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stream_time_is_exact_under_paused_time() {
        let clock = StreamClock::start();
        clock.sleep(Duration::from_millis(500)).await;
        assert_eq!(clock.now_ms(), 500);
        clock.sleep_until(1234).await;
        assert_eq!(clock.now_ms(), 1234);
    }

    #[tokio::test(start_paused = true)]
    async fn a_faster_clock_runs_stream_time_ahead() {
        let clock = StreamClock::start_with_speed(20_000);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(clock.now_ms(), 1000);
        assert_eq!(
            clock.real_duration(Duration::from_secs(30)),
            Duration::from_millis(1500)
        );
        clock.sleep_until(30_000).await;
        assert_eq!(clock.now_ms(), 30_000);
    }

    #[tokio::test(start_paused = true)]
    async fn wall_times_become_stream_times() {
        let clock = StreamClock::start();
        let origin = clock.wall_origin();
        assert_eq!(
            clock.stream_ms_at(origin + chrono::Duration::milliseconds(1500)),
            1500
        );
        assert_eq!(
            clock.stream_ms_at(origin - chrono::Duration::milliseconds(1)),
            0
        );
        // A sped-up stream: 1.5 real seconds are 3 stream seconds.
        let fast = StreamClock::start_with_speed(2000);
        assert_eq!(
            fast.stream_ms_at(fast.wall_origin() + chrono::Duration::milliseconds(1500)),
            3000
        );
        assert_eq!(fast.stream_ms_for(Duration::from_secs(2)), 4000);
    }
}
