//! Identifiers for RFQs, client quotes and orders in the desk's familiar
//! form: `R20250119-143025-123-k7m2` is an RFQ started at that local date,
//! time and millisecond by the process tagged `k7m2`; its client quotes
//! are `Q20250119-143025-123-k7m2-1`, `-2`, ... and the orders sent for a
//! quote `O…-1-1`, `O…-1-2` (quote 1, attempts 1 and 2). The tag makes ids
//! unique across processes that share a blotter; the per-stream sequence
//! makes them unique within an RFQ without any process-global counter.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Local, TimeZone, Utc};

static LAST_RFQ_MS: AtomicI64 = AtomicI64::new(i64::MIN);
static PROCESS_TAG: OnceLock<String> = OnceLock::new();

/// Letters of the process tag: lowercase base32 without look-alikes.
const TAG_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";

/// Four characters that tell this process apart from any other writing the
/// same blotter (20 random bits, drawn once per process).
pub fn process_tag() -> &'static str {
    PROCESS_TAG.get_or_init(|| {
        let mut bits: u32 = rand::random();
        (0..4)
            .map(|_| {
                let letter = TAG_ALPHABET[(bits & 31) as usize] as char;
                bits >>= 5;
                letter
            })
            .collect()
    })
}

/// A new RFQ id for the moment `at`, e.g. `R20250119-143025-123-k7m2`.
/// Ids keep the documented shape, so uniqueness within the process cannot
/// come from a suffix: when two RFQs would start in the same millisecond
/// the later one takes the next free millisecond instead.
pub fn next_rfq_id(at: DateTime<Utc>) -> Arc<str> {
    let wanted = at.timestamp_millis();
    let previous = LAST_RFQ_MS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |prev| {
            Some(wanted.max(prev.saturating_add(1)))
        })
        .unwrap_or(wanted);
    let ms = wanted.max(previous.saturating_add(1));
    let local = Local
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| at.with_timezone(&Local));
    Arc::from(format!(
        "R{}-{}",
        local.format("%Y%m%d-%H%M%S-%3f"),
        process_tag()
    ))
}

/// The `seq`-th client quote (from 1) of RFQ `rfq_id`: the RFQ's id with a
/// `Q` and the sequence number.
pub fn quote_id(rfq_id: &str, seq: u32) -> Arc<str> {
    let stem = rfq_id.strip_prefix('R').unwrap_or(rfq_id);
    Arc::from(format!("Q{stem}-{seq}"))
}

/// The `attempt`-th order (from 1) sent for the accepted client quote
/// `quote_id`.
pub fn order_id(quote_id: &str, attempt: u32) -> Arc<str> {
    let stem = quote_id.strip_prefix('Q').unwrap_or(quote_id);
    Arc::from(format!("O{stem}-{attempt}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_have_the_desk_shape() {
        let rfq = next_rfq_id(Utc::now());
        let bytes = rfq.as_bytes();
        assert_eq!(rfq.len(), 25, "{rfq}");
        assert_eq!(bytes[0], b'R');
        assert_eq!((bytes[9], bytes[16], bytes[20]), (b'-', b'-', b'-'));
        assert!(rfq[1..9].bytes().all(|b| b.is_ascii_digit()));
        assert!(rfq[10..16].bytes().all(|b| b.is_ascii_digit()));
        assert!(rfq[17..20].bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(&rfq[21..], process_tag());
        assert_eq!(
            &*quote_id("R20250119-143025-123-k7m2", 3),
            "Q20250119-143025-123-k7m2-3"
        );
        assert_eq!(
            &*order_id("Q20250119-143025-123-k7m2-3", 2),
            "O20250119-143025-123-k7m2-3-2"
        );
    }

    #[test]
    fn rfq_ids_in_the_same_millisecond_stay_unique() {
        let at = Utc::now();
        let ids: HashSet<_> = (0..1000).map(|_| next_rfq_id(at)).collect();
        assert_eq!(ids.len(), 1000);
    }
}
