//! The desk's reference prices: per pair, the latest price that something
//! independent of any one LP vouched for — this desk's own corroborated
//! locks (kept across restarts through the blotter) and the reference
//! sources of the venues file — each with the wall time it was seen and
//! how long it may vouch. Shared by every stream of the desk: a stream
//! takes its pair's reference when it starts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rust_decimal::Decimal;

/// Where a reference price came from: each pair keeps the latest of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceSource {
    /// A price this desk locked, corroborated (never an operator's
    /// release, never a simulation's).
    Desk,
    /// A reference source of the venues file (`[[reference]]`).
    Feed,
}

impl ReferenceSource {
    const COUNT: usize = 2;
}

/// One reference price and how long it may vouch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Kept {
    price: Decimal,
    /// Unix ms at which it was seen.
    seen_ms: i64,
    /// It vouches until `seen_ms + max_age_ms`.
    max_age_ms: i64,
}

type ByPair = HashMap<String, [Option<Kept>; ReferenceSource::COUNT]>;

/// The desk's reference prices; cloning shares them.
#[derive(Debug, Clone)]
pub struct References {
    by_pair: Arc<Mutex<ByPair>>,
    /// How long a price the desk locked vouches (REFERENCE_MAX_AGE_SECS).
    desk_max_age_ms: Arc<AtomicU64>,
}

impl Default for References {
    /// No prices, and the desk's own locks vouch for
    /// [`DEFAULT_DESK_MAX_AGE_MS`] (the setting's default).
    fn default() -> References {
        References {
            by_pair: Arc::default(),
            desk_max_age_ms: Arc::new(AtomicU64::new(DEFAULT_DESK_MAX_AGE_MS)),
        }
    }
}

/// REFERENCE_MAX_AGE_SECS's default, in ms.
pub const DEFAULT_DESK_MAX_AGE_MS: u64 = 300_000;

impl References {
    fn by_pair(&self) -> MutexGuard<'_, ByPair> {
        // Each change is one slot's assignment: a panic elsewhere cannot
        // leave it half-made.
        self.by_pair.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a price the desk locks vouches from now on (0: never).
    pub fn set_desk_max_age_ms(&self, max_age_ms: u64) {
        self.desk_max_age_ms.store(max_age_ms, Ordering::Relaxed);
    }

    /// Notes a corroborated `price` the desk locked for pair `symbol` at
    /// unix ms `seen_ms`.
    pub fn note_desk(&self, symbol: &str, price: Decimal, seen_ms: i64) {
        let max_age_ms = self.desk_max_age_ms.load(Ordering::Relaxed);
        self.note(symbol, ReferenceSource::Desk, price, seen_ms, max_age_ms);
    }

    /// Notes `price` for pair `symbol` from `source`, seen at unix ms
    /// `seen_ms`, vouching for `max_age_ms` after that. An older sighting
    /// than the one kept is ignored (a slow poll answering late).
    pub fn note(
        &self,
        symbol: &str,
        source: ReferenceSource,
        price: Decimal,
        seen_ms: i64,
        max_age_ms: u64,
    ) {
        if max_age_ms == 0 || price <= Decimal::ZERO {
            return;
        }
        let kept = Kept {
            price,
            seen_ms,
            max_age_ms: i64::try_from(max_age_ms).unwrap_or(i64::MAX),
        };
        let mut by_pair = self.by_pair();
        let slot = &mut by_pair.entry(symbol.to_string()).or_default()[source as usize];
        if slot.is_none_or(|earlier| earlier.seen_ms <= seen_ms) {
            *slot = Some(kept);
        }
    }

    /// The reference for pair `symbol` at unix ms `now_ms`: the most
    /// recently seen price still within its age limit, if any.
    pub fn current(&self, symbol: &str, now_ms: i64) -> Option<Decimal> {
        let by_pair = self.by_pair();
        by_pair
            .get(symbol)?
            .iter()
            .flatten()
            .filter(|kept| now_ms.saturating_sub(kept.seen_ms) <= kept.max_age_ms)
            .max_by_key(|kept| kept.seen_ms)
            .map(|kept| kept.price)
    }
}

/// One pair's reference as a stream reads it: afresh at every poll, so a
/// source's price that arrives mid-stream vouches from then on, and one
/// that grows too old stops vouching.
#[derive(Debug, Clone)]
pub struct PairReference {
    references: References,
    symbol: String,
}

impl PairReference {
    /// Pair `symbol`'s reference among the desk's `references`.
    pub fn new(references: References, symbol: String) -> PairReference {
        PairReference { references, symbol }
    }

    /// The pair's reference at unix ms `now_ms` ([`References::current`]).
    pub fn current(&self, now_ms: i64) -> Option<Decimal> {
        self.references.current(&self.symbol, now_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn the_freshest_reference_within_its_age_vouches() {
        let references = References::default();
        assert_eq!(references.current("BTCUSDT", 0), None);
        references.note(
            "BTCUSDT",
            ReferenceSource::Desk,
            dec!(100000),
            1_000,
            300_000,
        );
        references.note(
            "BTCUSDT",
            ReferenceSource::Feed,
            dec!(100100),
            2_000,
            10_000,
        );
        // The feed's is newer while it is young enough...
        assert_eq!(references.current("BTCUSDT", 12_000), Some(dec!(100100)));
        // ...then the desk's own, until it is too old as well.
        assert_eq!(references.current("BTCUSDT", 12_001), Some(dec!(100000)));
        assert_eq!(references.current("BTCUSDT", 301_000), Some(dec!(100000)));
        assert_eq!(references.current("BTCUSDT", 301_001), None);
        // Another pair has none.
        assert_eq!(references.current("BTCUSD", 2_000), None);
    }

    #[test]
    fn a_late_older_sighting_does_not_replace_a_newer_one() {
        let references = References::default();
        references.note(
            "BTCUSDT",
            ReferenceSource::Desk,
            dec!(100000),
            5_000,
            300_000,
        );
        references.note(
            "BTCUSDT",
            ReferenceSource::Desk,
            dec!(90000),
            4_000,
            300_000,
        );
        assert_eq!(references.current("BTCUSDT", 6_000), Some(dec!(100000)));
        // An age limit of 0 keeps nothing.
        references.note("ETHUSDT", ReferenceSource::Desk, dec!(3000), 5_000, 0);
        assert_eq!(references.current("ETHUSDT", 5_000), None);
    }
}
