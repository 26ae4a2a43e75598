//! Identifiers for RFQs and client quotes in the desk's familiar form,
//! `Q20250119-143025-123` (local date, time, milliseconds).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Local, TimeZone, Utc};

static LAST_QUOTE_MS: AtomicI64 = AtomicI64::new(i64::MIN);
static LAST_RFQ_MS: AtomicI64 = AtomicI64::new(i64::MIN);

/// A new client quote id for the moment `at`, e.g. `Q20250119-143025-123`.
pub fn next_quote_id(at: DateTime<Utc>) -> Arc<str> {
    next_id('Q', &LAST_QUOTE_MS, at)
}

/// A new RFQ id for the moment `at`, e.g. `R20250119-143025-123`.
pub fn next_rfq_id(at: DateTime<Utc>) -> Arc<str> {
    next_id('R', &LAST_RFQ_MS, at)
}

/// Ids keep the exact documented shape, so uniqueness cannot come from a
/// suffix: when two ids would fall in the same millisecond the later one
/// takes the next free millisecond instead. The stamp therefore never runs
/// backwards and is never repeated within the process.
fn next_id(prefix: char, last: &AtomicI64, at: DateTime<Utc>) -> Arc<str> {
    let wanted = at.timestamp_millis();
    let previous = last
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |prev| {
            Some(wanted.max(prev.saturating_add(1)))
        })
        .unwrap_or(wanted);
    let ms = wanted.max(previous.saturating_add(1));
    let local = Local
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| at.with_timezone(&Local));
    Arc::from(format!("{prefix}{}", local.format("%Y%m%d-%H%M%S-%3f")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn quote_ids_have_the_desk_shape() {
        let id = next_quote_id(Utc::now());
        let bytes = id.as_bytes();
        assert_eq!(id.len(), 20, "{id}");
        assert_eq!(bytes[0], b'Q');
        assert_eq!(bytes[9], b'-');
        assert_eq!(bytes[16], b'-');
        assert!(id[1..9].bytes().all(|b| b.is_ascii_digit()));
        assert!(id[10..16].bytes().all(|b| b.is_ascii_digit()));
        assert!(id[17..].bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn ids_in_the_same_millisecond_stay_unique() {
        let at = Utc::now();
        let ids: HashSet<_> = (0..1000).map(|_| next_rfq_id(at)).collect();
        assert_eq!(ids.len(), 1000);
    }
}
