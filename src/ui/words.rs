//! The operator's words for the engine's wire names: the console never
//! shows `best_so_far` or `rate_limited` (those belong to `--json` and the
//! blotter), it says what happened.

use crate::rfq::event::{EndReason, FailureKind, Outcome, QuoteReason};

/// Why the client quote changed, e.g. "best so far".
pub(crate) fn quote_reason(reason: QuoteReason) -> &'static str {
    match reason {
        QuoteReason::First => "first quote",
        QuoteReason::BestSoFar => "best so far",
        QuoteReason::Improvement => "price improvement",
        QuoteReason::Refresh => "renewed before expiry",
    }
}

/// What went wrong with an LP request, e.g. "rate limited".
pub fn failure(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Timeout => "timeout",
        FailureKind::Declined => "declined",
        FailureKind::Unavailable => "unavailable",
        FailureKind::Malformed => "garbled answer",
        FailureKind::RateLimited => "rate limited",
        FailureKind::Invalid => "invalid quote",
        FailureKind::Auth => "credentials refused",
    }
}

/// Why the stream ended, e.g. "stopped by the operator".
pub(crate) fn end_reason(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Duration => "stream time over",
        EndReason::Interrupted => "stopped by the operator",
        EndReason::NoQuotes => "no LP quotes",
        EndReason::Accepted => "execution resolved",
    }
}

/// How an acceptance ended, e.g. "NOT FILLED".
pub fn outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Filled => "FILLED",
        Outcome::NotFilled => "NOT FILLED",
        Outcome::Unknown => "UNKNOWN",
        Outcome::NotAccepted => "not accepted",
    }
}

/// "3 improvements", "1 improvement".
pub(crate) fn improvements(count: u32) -> String {
    format!("{count} improvement{}", if count == 1 { "" } else { "s" })
}

/// What the operator calls improvements, and the lock moves that were not
/// one: "2 improvements · lock moved to another LP 1× on renewal".
///
/// An improvement is a competitor beating the locked price by the
/// threshold. A renewal (the locked quote about to expire, every LP asked
/// again) may hand the lock to another LP at any price, better or worse:
/// the operator sees the LP change, so the count says it was not an
/// improvement rather than leaving the two to be confused.
pub(crate) fn improvements_and_moves(improvements: u32, renewal_moves: u32) -> String {
    let mut text = self::improvements(improvements);
    if renewal_moves > 0 {
        text.push_str(&format!(
            " · lock moved to another LP {renewal_moves}× on renewal"
        ));
    }
    text
}
