//! The book: each LP's latest valid quote in one RFQ, and the one ranking
//! rule (best price for the client's side first; on a tie the earlier
//! answer). The engine keeps a book to pick the next best quote an order
//! can fall back to; the console ranks its leaderboard with the same rule,
//! so the screen can never disagree with what would be executed.

use std::cmp::Ordering;
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::clock::StreamMs;
use crate::market::Side;

/// One LP's latest valid quote.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BookEntry {
    /// LP price, quote currency per unit of base.
    pub price: Decimal,
    /// Stream time until which the LP stands behind it.
    pub(crate) valid_until_ms: StreamMs,
    /// The venue's own reference for the quote, for an order against it.
    pub(crate) venue_ref: Option<Arc<str>>,
    /// Arrival order within the RFQ: the earlier answer wins a tie.
    pub(crate) arrival: u64,
    /// Judged against the median of its peers on arrival (false when too
    /// few LPs quoted then to judge it).
    pub(crate) judged: bool,
    /// Something independent vouches for the price (a band, a reference,
    /// a second LP, the median): only such a quote is offered or executed.
    pub(crate) corroborated: bool,
}

/// Orders two quotes for `side`: `Less` when `a` ranks before `b`. The
/// better price first (BUY: lower offer; SELL: higher bid); at the same
/// price the earlier arrival.
pub(crate) fn rank_order(side: Side, a: (Decimal, u64), b: (Decimal, u64)) -> Ordering {
    if side.is_better(a.0, b.0) {
        Ordering::Less
    } else if side.is_better(b.0, a.0) {
        Ordering::Greater
    } else {
        a.1.cmp(&b.1)
    }
}

/// The latest valid quote per LP (indexed like the session's LPs).
#[derive(Debug, Clone)]
pub(crate) struct Book {
    side: Side,
    entries: Vec<Option<BookEntry>>,
    arrivals: u64,
}

impl Book {
    pub(crate) fn new(side: Side, lps: usize) -> Book {
        Book {
            side,
            entries: vec![None; lps],
            arrivals: 0,
        }
    }

    /// Records LP `lp`'s new valid quote, replacing its previous one.
    pub(crate) fn insert(
        &mut self,
        lp: usize,
        price: Decimal,
        valid_until_ms: StreamMs,
        venue_ref: Option<Arc<str>>,
    ) {
        self.arrivals += 1;
        self.entries[lp] = Some(BookEntry {
            price,
            valid_until_ms,
            venue_ref,
            arrival: self.arrivals,
            judged: false,
            corroborated: false,
        });
    }

    /// Marks LP `lp`'s quote as judged against its peers.
    pub(crate) fn mark_judged(&mut self, lp: usize) {
        if let Some(entry) = self.entries[lp].as_mut() {
            entry.judged = true;
        }
    }

    /// Marks LP `lp`'s quote as corroborated: it may be offered and executed.
    pub(crate) fn mark_corroborated(&mut self, lp: usize) {
        if let Some(entry) = self.entries[lp].as_mut() {
            entry.corroborated = true;
        }
    }

    /// Some quote still firm at `now` is not corroborated yet.
    pub(crate) fn has_uncorroborated(&self, now: StreamMs) -> bool {
        self.entries
            .iter()
            .flatten()
            .any(|entry| !entry.corroborated && entry.valid_until_ms > now)
    }

    /// Some quote still firm at `now` was never judged against its peers.
    pub(crate) fn has_unjudged(&self, now: StreamMs) -> bool {
        self.entries
            .iter()
            .flatten()
            .any(|entry| !entry.judged && entry.valid_until_ms > now)
    }

    /// Forgets LP `lp`'s quote: its latest request failed, so nothing it
    /// said before is trusted for an order.
    pub(crate) fn remove(&mut self, lp: usize) {
        self.entries[lp] = None;
    }

    pub(crate) fn get(&self, lp: usize) -> Option<&BookEntry> {
        self.entries.get(lp).and_then(Option::as_ref)
    }

    /// The LPs whose quote is still firm at `now`, best first.
    pub(crate) fn ranked(&self, now: StreamMs) -> Vec<usize> {
        let mut live: Vec<usize> = (0..self.entries.len())
            .filter(|&lp| self.get(lp).is_some_and(|e| e.valid_until_ms > now))
            .collect();
        live.sort_by(|&a, &b| self.compare(a, b));
        live
    }

    /// Every LP's quote still firm at `now`, as (LP, price), unordered.
    pub(crate) fn live_prices(&self, now: StreamMs, into: &mut Vec<(usize, Decimal)>) {
        into.extend(self.entries.iter().enumerate().filter_map(|(lp, entry)| {
            entry
                .as_ref()
                .filter(|entry| entry.valid_until_ms > now)
                .map(|entry| (lp, entry.price))
        }));
    }

    /// The best corroborated LP still firm at `now` for longer than
    /// `min_left_ms`, not in `exclude`, whose price is at least as good for
    /// the client's side as `limit` (BUY: price ≤ limit; SELL: price ≥
    /// limit). An unverified price is never executed.
    pub(crate) fn best_within(
        &self,
        now: StreamMs,
        min_left_ms: u64,
        exclude: &[usize],
        limit: Decimal,
    ) -> Option<usize> {
        (0..self.entries.len())
            .filter(|lp| !exclude.contains(lp))
            .filter(|&lp| {
                self.get(lp).is_some_and(|e| {
                    e.corroborated
                        && e.valid_until_ms > now.saturating_add(min_left_ms)
                        && !self.side.is_better(limit, e.price)
                })
            })
            .min_by(|&a, &b| self.compare(a, b))
    }

    fn compare(&self, a: usize, b: usize) -> Ordering {
        match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => rank_order(self.side, (x.price, x.arrival), (y.price, y.arrival)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then(a.cmp(&b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn ranks_best_first_and_breaks_ties_by_arrival() {
        let mut book = Book::new(Side::Buy, 4);
        book.insert(2, dec!(100), 5_000, None);
        book.insert(0, dec!(99), 5_000, None);
        book.insert(1, dec!(100), 5_000, None);
        book.insert(3, dec!(98), 1_000, None);
        // LP 3 is best but expired at 1000; LPs 2 and 1 tie, 2 came first.
        assert_eq!(book.ranked(999), [3, 0, 2, 1]);
        assert_eq!(book.ranked(1_000), [0, 2, 1]);
        book.remove(0);
        assert_eq!(book.ranked(1_000), [2, 1]);
    }

    #[test]
    fn the_next_best_honours_the_limit_the_exclusions_and_the_time_left() {
        let mut book = Book::new(Side::Sell, 4);
        book.insert(0, dec!(101), 10_000, None);
        book.insert(1, dec!(100), 10_000, Some(Arc::from("q-1")));
        book.insert(2, dec!(99), 10_000, None);
        // The best of all, but nothing vouches for it: never executed.
        book.insert(3, dec!(1000), 10_000, None);
        for lp in 0..3 {
            book.mark_corroborated(lp);
        }
        assert_eq!(book.best_within(0, 0, &[], dec!(99.5)), Some(0));
        assert_eq!(book.best_within(0, 0, &[0], dec!(99.5)), Some(1));
        // A SELL fallback must still pay at least the client's price.
        assert_eq!(book.best_within(0, 0, &[0, 1], dec!(99.5)), None);
        assert_eq!(book.best_within(0, 10_000, &[], dec!(90)), None);
        assert_eq!(book.get(1).unwrap().venue_ref.as_deref(), Some("q-1"));
    }
}
