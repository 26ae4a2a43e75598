//! One ended RFQ's answers summed per LP (`answer_summaries` rows): what
//! the report's answers pass would add to each LP's figures for it,
//! written by a store in the transaction that ends the RFQ, and how those
//! sums are kept as text columns both stores read back exactly. The
//! report then reads ~10 rows per ended RFQ instead of its thousands of
//! answers; the counting itself is `figures`' (`RfqAnswers`).

use std::fmt::Write as _;

use rust_decimal::Decimal;

use crate::market::Side;
use crate::rfq::event::FailureKind;

/// One LP's part of one side of one ended RFQ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AnswerSummary {
    /// The store id of the RFQ.
    pub(crate) rfq: i64,
    /// The side the answers were counted for: a two-way RFQ has a summary
    /// per side (the report counts it by the side the client took).
    pub(crate) side: Side,
    /// The store id of the LP (`lps.id`).
    pub(crate) lp: i64,
    /// Its lowest answer id counted: LPs that no RFQ lists join the
    /// report in the order of their first answer.
    pub(crate) first_answer: i64,
    pub(crate) answers: u64,
    /// Failures by [`FailureKind`], indexed as `FailureKind::ALL`.
    pub(crate) errors: [u64; FailureKind::ALL.len()],
    /// Whole-ms latencies of its quotes: (ms, count), ms ascending.
    pub(crate) latencies: Vec<(u64, u64)>,
    /// The sum of its distances from each poll's best, in 1e-28 bps.
    pub(crate) distance_units: i128,
    /// What of that sum did not fit `distance_units` (absurd prices).
    pub(crate) distance_spilled: Decimal,
    pub(crate) distances: u64,
}

impl AnswerSummary {
    /// `distance_spilled` as stored: NULL when nothing spilled.
    pub(crate) fn spilled_text(&self) -> Option<String> {
        (!self.distance_spilled.is_zero()).then(|| self.distance_spilled.to_string())
    }
}

/// Failure counts as text, `kind:count` by wire name (`timeout:3,auth:1`;
/// empty: none): a kind a later version adds reads as unknown, as its
/// answers do.
pub(crate) fn errors_text(errors: &[u64; FailureKind::ALL.len()]) -> String {
    let mut text = String::new();
    for (kind, count) in FailureKind::ALL.iter().zip(errors) {
        if *count > 0 {
            if !text.is_empty() {
                text.push(',');
            }
            let _ = write!(text, "{}:{count}", kind.as_str());
        }
    }
    text
}

/// [`errors_text`] read back; `None`: not text this build wrote.
pub(crate) fn errors_of(text: &str) -> Option<[u64; FailureKind::ALL.len()]> {
    let mut errors = [0; FailureKind::ALL.len()];
    for (kind, count) in pairs(text)? {
        if let Some(at) = FailureKind::ALL.iter().position(|k| k.as_str() == kind) {
            errors[at] += count.parse::<u64>().ok()?;
        }
    }
    Some(errors)
}

/// Latency counts as text, `ms:count` ascending (`12:40,13:2`).
pub(crate) fn latencies_text(latencies: &[(u64, u64)]) -> String {
    let mut text = String::with_capacity(latencies.len() * 8);
    for (ms, count) in latencies {
        if !text.is_empty() {
            text.push(',');
        }
        let _ = write!(text, "{ms}:{count}");
    }
    text
}

/// [`latencies_text`] read back; `None`: not text this build wrote.
pub(crate) fn latencies_of(text: &str) -> Option<Vec<(u64, u64)>> {
    pairs(text)?
        .map(|(ms, count)| Some((ms.parse().ok()?, count.parse().ok()?)))
        .collect()
}

/// `a:b,c:d` as its pairs; `None` when a part has no colon.
fn pairs(text: &str) -> Option<impl Iterator<Item = (&str, &str)>> {
    let parts: Vec<(&str, &str)> = text
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| part.split_once(':'))
        .collect::<Option<_>>()?;
    Some(parts.into_iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_back_as_written_and_unknown_kinds_are_left_out() {
        let mut errors = [0; FailureKind::ALL.len()];
        errors[FailureKind::Timeout as usize] = 3;
        errors[FailureKind::Auth as usize] = 1;
        assert_eq!(errors_text(&errors), "timeout:3,auth:1");
        assert_eq!(errors_of("timeout:3,auth:1"), Some(errors));
        assert_eq!(errors_of(""), Some([0; FailureKind::ALL.len()]));
        assert_eq!(
            errors_of("timeout:3,auth:1,melted:9"),
            Some(errors),
            "a kind a later version adds"
        );
        assert_eq!(errors_of("timeout"), None);
        let latencies = vec![(0, 2), (12, 40), (70_000, 1)];
        assert_eq!(latencies_text(&latencies), "0:2,12:40,70000:1");
        assert_eq!(latencies_of("0:2,12:40,70000:1"), Some(latencies));
        assert_eq!(latencies_of(""), Some(vec![]));
        assert_eq!(latencies_of("12:x"), None);
    }
}
