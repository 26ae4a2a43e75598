//! Identifiers for RFQs, client quotes, orders and venue requests.
//!
//! RFQ, quote and order ids keep the desk's familiar form, in UTC:
//! `R20250119-143025-123-k7m2` is an RFQ started at that UTC date, time and
//! millisecond by the process tagged `k7m2`; its client quotes are
//! `Q20250119-143025-123-k7m2-1`, `-2`, ... and the orders sent for a quote
//! `O…-1-1`, `O…-1-2` (quote 1, attempts 1 and 2). UTC, because local time
//! repeats an hour at the autumn clock change, and order ids reach venues
//! (FIX ClOrdID, B2C2 `client_order_id`): an id repeated there could be
//! taken for the earlier order. The millisecond makes ids unique across
//! restarts; the tag across processes that share a blotter; the per-stream
//! sequence within an RFQ, without any process-global counter.
//!
//! Venue request keys (FIX QuoteReqID, B2C2 `client_rfq_id`) are
//! [`process_key`] plus the process's request counter, which restarts at 1:
//! the key carries the process's start instant and 40 random bits, so no
//! restart resends a key an earlier run used.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, TimeZone, Utc};

static LAST_RFQ_MS: AtomicI64 = AtomicI64::new(i64::MIN);
static PROCESS_TAG: OnceLock<String> = OnceLock::new();
static PROCESS_KEY: OnceLock<String> = OnceLock::new();

/// Letters of the process tag: lowercase base32 without look-alikes.
const TAG_ALPHABET: &[u8; 32] = b"abcdefghjkmnpqrstuvwxyz023456789";

/// `count` base32 letters of `bits`, most significant first.
fn base32(mut bits: u64, count: usize) -> String {
    let mut letters = vec![b'a'; count];
    for letter in letters.iter_mut().rev() {
        *letter = TAG_ALPHABET[(bits & 31) as usize];
        bits >>= 5;
    }
    String::from_utf8(letters).expect("the alphabet is ASCII")
}

/// Four characters that tell this process apart from any other writing the
/// same blotter (20 random bits, drawn once per process). Ids also carry
/// their millisecond, so two processes' ids collide only if both start an
/// RFQ in the same millisecond with the same tag.
pub(crate) fn process_tag() -> &'static str {
    PROCESS_TAG.get_or_init(|| base32(rand::random::<u64>(), 4))
}

/// This run's part of every venue request key: its start in UTC
/// milliseconds and 40 random bits, e.g. `bxkhfpnca8kkrqqb2` (17
/// characters, letters and digits only, so any venue's id field takes it).
pub(crate) fn process_key() -> &'static str {
    PROCESS_KEY.get_or_init(|| key_for_run(Utc::now().timestamp_millis(), rand::random()))
}

/// The key of a run that started at UTC millisecond `start_ms` and drew
/// `random` (its low 40 bits are used).
fn key_for_run(start_ms: i64, random: u64) -> String {
    // 45 bits of milliseconds last until the year 3084.
    let ms = u64::try_from(start_ms).unwrap_or(0);
    format!("{}{}", base32(ms, 9), base32(random, 8))
}

/// The `n`-th venue request key of the run whose [`process_key`] is `run`.
pub(crate) fn request_key(run: &str, n: u64) -> String {
    format!("{run}-{n}")
}

/// The RFQ id for UTC millisecond `ms` of the process tagged `tag`.
fn format_rfq_id(ms: i64, tag: &str) -> String {
    let at = Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    format!("R{}-{tag}", at.format("%Y%m%d-%H%M%S-%3f"))
}

/// A new RFQ id for the moment `at`, e.g. `R20250119-143025-123-k7m2`.
/// Ids keep the documented shape, so uniqueness within the process cannot
/// come from a suffix: when two RFQs would start in the same millisecond
/// the later one takes the next free millisecond instead.
pub(crate) fn next_rfq_id(at: DateTime<Utc>) -> Arc<str> {
    let wanted = at.timestamp_millis();
    let previous = LAST_RFQ_MS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |prev| {
            Some(wanted.max(prev.saturating_add(1)))
        })
        .unwrap_or(wanted);
    let ms = wanted.max(previous.saturating_add(1));
    Arc::from(format_rfq_id(ms, process_tag()))
}

/// The `seq`-th client quote (from 1) of RFQ `rfq_id`: the RFQ's id with a
/// `Q` and the sequence number.
pub(crate) fn quote_id(rfq_id: &str, seq: u32) -> Arc<str> {
    let stem = rfq_id.strip_prefix('R').unwrap_or(rfq_id);
    Arc::from(format!("Q{stem}-{seq}"))
}

/// The RFQ a client quote id of [`quote_id`] belongs to.
pub(crate) fn rfq_id_of_quote(quote_id: &str) -> Option<String> {
    let stem = quote_id.strip_prefix('Q')?;
    let (stem, seq) = stem.rsplit_once('-')?;
    seq.parse::<u32>().ok()?;
    Some(format!("R{stem}"))
}

/// The `attempt`-th order (from 1) sent for the accepted client quote
/// `quote_id`.
pub(crate) fn order_id(quote_id: &str, attempt: u32) -> Arc<str> {
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
    fn a_quote_id_names_its_rfq() {
        let rfq = "R20250119-143025-123-k7m2";
        assert_eq!(rfq_id_of_quote(&quote_id(rfq, 12)).as_deref(), Some(rfq));
        assert_eq!(rfq_id_of_quote("R20250119-143025-123-k7m2"), None);
        assert_eq!(rfq_id_of_quote("Q20250119-143025-123-k7m2"), None);
    }

    #[test]
    fn rfq_ids_in_the_same_millisecond_stay_unique() {
        let at = Utc::now();
        let ids: HashSet<_> = (0..1000).map(|_| next_rfq_id(at)).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn ids_are_utc_so_the_repeated_autumn_hour_gives_new_ids() {
        // 2024-11-03 05:30 and 06:30 UTC are both 01:30 in New York (EDT,
        // then EST after the fall-back): local time would repeat the id.
        let first = Utc.with_ymd_and_hms(2024, 11, 3, 5, 30, 0).unwrap();
        let an_hour_later = first + chrono::Duration::hours(1);
        assert_eq!(
            format_rfq_id(first.timestamp_millis(), "k7m2"),
            "R20241103-053000-000-k7m2"
        );
        assert_eq!(
            format_rfq_id(an_hour_later.timestamp_millis(), "k7m2"),
            "R20241103-063000-000-k7m2"
        );
        let rfq = format_rfq_id(an_hour_later.timestamp_millis(), "k7m2");
        assert_eq!(
            &*order_id(&quote_id(&rfq, 1), 1),
            "O20241103-063000-000-k7m2-1-1"
        );
    }

    #[test]
    fn rfq_ids_follow_the_utc_clock_whatever_the_local_zone() {
        let at = Utc.with_ymd_and_hms(2025, 1, 19, 14, 30, 25).unwrap()
            + chrono::Duration::milliseconds(123);
        assert_eq!(
            format_rfq_id(at.timestamp_millis(), "k7m2"),
            "R20250119-143025-123-k7m2"
        );
    }

    #[test]
    fn request_keys_of_two_runs_differ_even_with_the_same_random_draw() {
        let start = Utc
            .with_ymd_and_hms(2025, 1, 19, 14, 30, 25)
            .unwrap()
            .timestamp_millis();
        let run = key_for_run(start, 0x12_3456_789a);
        let restart = key_for_run(start + 1, 0x12_3456_789a);
        assert_eq!(run.len(), 17);
        assert!(run.bytes().all(|b| b.is_ascii_alphanumeric()), "{run}");
        assert_ne!(run, restart);
        // Counters restart at 1: the run part keeps the keys apart.
        assert_ne!(request_key(&run, 1), request_key(&restart, 1));
        assert_eq!(request_key(&run, 1042), format!("{run}-1042"));
        // Two runs started in the same millisecond differ by their draw.
        assert_ne!(run, key_for_run(start, 0x12_3456_789b));
        assert_eq!(process_key().len(), 17);
    }
}
