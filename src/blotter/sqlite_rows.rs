//! The report's rows from an SQLite blotter: [`SqliteRows`] implements
//! [`ReportRows`] with the SQL the figures used to hold. LP answers, millions
//! of them, are stepped through SQLite's C interface (`raw`) in id order,
//! their packed prices decoded here (`compact`), never through a per-RFQ
//! index (random page reads).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};

#[allow(unsafe_code)]
mod raw;

use super::answer_summary::{self, AnswerSummary};
use super::compact;
use super::report_model::Filter;
use super::report_rows::{
    AnswerRange, AnswerRow, AnswerRows, AnswerSpan, Answered, ClientFill, ExecutionRow, HealthRow,
    LockRow, RecentLock, ReportRows, RfqRow,
};
use crate::rfq::event::FailureKind;

/// The rows of the blotter `conn` reads. With the file's `path` (not a
/// private upgraded copy, which no other connection can open) the answers
/// pass may run readers of its own on other threads.
pub(crate) struct SqliteRows<'conn> {
    conn: &'conn Connection,
    file: Option<PathBuf>,
    /// The first and last stored RFQ ids in the snapshot: an answers range
    /// covering all of them needs no RFQ condition.
    stored: (Option<i64>, Option<i64>),
    /// Only this desk's RFQs and health rows (`report --desk-name`).
    desk: Option<String>,
}

impl<'conn> SqliteRows<'conn> {
    /// Rows read on `conn` alone.
    pub(crate) fn alone(conn: &'conn Connection) -> Self {
        SqliteRows {
            conn,
            file: None,
            stored: (None, None),
            desk: None,
        }
    }

    /// Rows of the current blotter at `file`, open on `conn`: other
    /// readers may open the file too.
    pub(crate) fn of_file(conn: &'conn Connection, file: &Path) -> Self {
        SqliteRows {
            conn,
            file: Some(file.to_path_buf()),
            stored: (None, None),
            desk: None,
        }
    }

    /// Only desk `desk`'s RFQs and health rows, if given.
    pub(crate) fn of_desk(mut self, desk: Option<&str>) -> Self {
        self.desk = desk.map(str::to_string);
        self
    }
}

/// Another read connection on the file, for one worker of the answers
/// pass.
pub(crate) struct SqliteReader {
    conn: Connection,
    stored: (Option<i64>, Option<i64>),
}

impl AnswerRows for SqliteRows<'_> {
    type Error = rusqlite::Error;

    fn answers(
        &mut self,
        range: &AnswerRange,
        wanted: impl Fn(i64) -> bool,
        each: impl FnMut(AnswerRow),
    ) -> rusqlite::Result<()> {
        read_answers(self.conn, self.stored, range, wanted, each)
    }
}

impl AnswerRows for SqliteReader {
    type Error = rusqlite::Error;

    fn answers(
        &mut self,
        range: &AnswerRange,
        wanted: impl Fn(i64) -> bool,
        each: impl FnMut(AnswerRow),
    ) -> rusqlite::Result<()> {
        read_answers(&self.conn, self.stored, range, wanted, each)
    }
}

impl ReportRows for SqliteRows<'_> {
    type Reader = SqliteReader;

    fn begin(&mut self) -> rusqlite::Result<()> {
        // Every statement of this connection reads one snapshot while a
        // writer may be appending; the other readers stop at the
        // snapshot's last answer (ids only grow).
        self.conn.execute_batch("BEGIN")?;
        self.stored = self
            .conn
            .query_row("SELECT MIN(id), MAX(id) FROM rfqs", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        Ok(())
    }

    fn end(&mut self) -> rusqlite::Result<()> {
        self.conn.execute_batch("COMMIT")
    }

    fn readers(&self) -> usize {
        if self.file.is_some() {
            usize::MAX
        } else {
            1
        }
    }

    fn reader(&self) -> rusqlite::Result<SqliteReader> {
        let file = self.file.as_deref().ok_or(rusqlite::Error::InvalidQuery)?;
        Ok(SqliteReader {
            conn: super::read::reopen(file)?,
            stored: self.stored,
        })
    }

    fn lps_asked(&mut self) -> rusqlite::Result<Vec<String>> {
        let mut select = self.conn.prepare(
            "SELECT value FROM rfqs, json_each(rfqs.lps) WHERE ?1 IS NULL OR rfqs.desk = ?1
             GROUP BY value ORDER BY MIN(rfqs.id), MIN(json_each.key)",
        )?;
        let rows = select.query_map([&self.desk], |row| row.get(0))?;
        rows.collect()
    }

    fn simulated_lps(&mut self) -> rusqlite::Result<Vec<String>> {
        let mut select = self.conn.prepare(
            "SELECT DISTINCT value FROM rfqs, json_each(rfqs.simulated_lps)
             WHERE ?1 IS NULL OR rfqs.desk = ?1 ORDER BY value",
        )?;
        let rows = select.query_map([&self.desk], |row| row.get(0))?;
        rows.collect()
    }

    fn rfqs(&mut self, filter: &Filter) -> rusqlite::Result<Vec<RfqRow>> {
        let mut select = self.conn.prepare(
            "SELECT id, rfq_id, started_at, side, amount, pair, quote, lps, end_t_ms, end_reason,
                    improvements, final_lp, final_client_price, outcome, answers_from, answers_to,
                    lp_timeout_ms, client, operator, two_way,
                    CASE WHEN two_way = 1 THEN
                        (SELECT c.side FROM client_quotes c
                          WHERE c.rfq = r.id AND c.quote_id = r.final_quote_id)
                    END AS accepted_side,
                    (SELECT d.operator FROM desk_actions d
                      WHERE d.rfq_id = r.rfq_id AND d.action = 'accept'
                      ORDER BY d.id DESC LIMIT 1) AS accepted_by
             FROM rfqs r
             WHERE (?1 IS NULL OR started_ms >= ?1) AND (?2 IS NULL OR started_ms < ?2)
               AND (?3 IS NULL OR pair = ?3)
               AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(r.lps) WHERE value = ?4))
               AND (?6 IS NULL OR client = ?6)
               AND (?7 IS NULL OR operator = ?7
                    OR EXISTS (SELECT 1 FROM desk_actions d
                               WHERE d.rfq_id = r.rfq_id AND d.action = 'accept'
                                 AND d.operator = ?7))
               AND (?8 IS NULL OR desk = ?8)
             ORDER BY started_ms DESC, id DESC
             LIMIT ?5",
        )?;
        let limit = filter.last.map(i64::from).unwrap_or(-1);
        let mut rows = select.query(params![
            filter.since_ms,
            filter.until_ms,
            filter.pair,
            filter.lp,
            limit,
            filter.client,
            filter.operator,
            self.desk,
        ])?;
        let mut selected = Vec::new();
        while let Some(row) = rows.next()? {
            let lps_text: String = row.get("lps")?;
            selected.push(RfqRow {
                row: row.get("id")?,
                rfq_id: row.get("rfq_id")?,
                started_at: row.get("started_at")?,
                side: row.get("side")?,
                amount: row.get("amount")?,
                pair: row.get("pair")?,
                quote: row.get("quote")?,
                lps: serde_json::from_str(&lps_text).unwrap_or_default(),
                end_t_ms: row.get("end_t_ms")?,
                end_reason: row.get("end_reason")?,
                improvements: row.get("improvements")?,
                final_lp: row.get("final_lp")?,
                final_client_price: row.get("final_client_price")?,
                outcome: row.get("outcome")?,
                answers_from: row.get("answers_from")?,
                answers_to: row.get("answers_to")?,
                lp_timeout_ms: row.get("lp_timeout_ms")?,
                client: row.get("client")?,
                operator: row.get("operator")?,
                two_way: row.get("two_way")?,
                accepted_side: row.get("accepted_side")?,
                accepted_by: row.get("accepted_by")?,
            });
        }
        // Oldest first.
        selected.reverse();
        Ok(selected)
    }

    fn last_answer_id(&mut self) -> rusqlite::Result<i64> {
        self.conn
            .query_row("SELECT coalesce(MAX(id), 0) FROM answers", [], |r| r.get(0))
    }

    fn answer_spans(&mut self, last_answer: i64) -> rusqlite::Result<Vec<AnswerSpan>> {
        let mut stored = self.conn.prepare(
            "SELECT id, answers_from, coalesce(answers_to, ?1) FROM rfqs
             WHERE answers_from IS NOT NULL",
        )?;
        let spans = stored
            .query_map([last_answer], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get::<_, i64>(2)?.min(last_answer))))
            })?
            .collect();
        spans
    }

    fn lp_names(&mut self) -> rusqlite::Result<HashMap<i64, Arc<str>>> {
        super::read::lp_names(self.conn)
    }

    fn lp_id(&mut self, name: &str) -> rusqlite::Result<Option<i64>> {
        self.conn
            .query_row("SELECT id FROM lps WHERE name = ?1", [name], |r| r.get(0))
            .map(Some)
            .or_else(|error| match error {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                error => Err(error),
            })
    }

    fn answer_summaries(
        &mut self,
        (first, last): (i64, i64),
        selected: impl Fn(i64) -> bool,
        mut each: impl FnMut(AnswerSummary),
    ) -> rusqlite::Result<()> {
        let mut select = self.conn.prepare(
            "SELECT rfq, side, lp, first_answer, answers, errors, latencies, distance_units,
             distance_spilled, distances FROM answer_summaries
             WHERE rfq >= ?1 AND rfq <= ?2 ORDER BY rfq, side, lp",
        )?;
        let mut rows = select.query([first, last])?;
        while let Some(row) = rows.next()? {
            let rfq: i64 = row.get(0)?;
            if !selected(rfq) {
                continue;
            }
            // Text this build did not write (a hand edit) fails the report
            // rather than count part of an RFQ.
            let unreadable = |column: usize| {
                rusqlite::Error::FromSqlConversionFailure(
                    column,
                    rusqlite::types::Type::Text,
                    format!("answer_summaries of rfq {}: not a summary", rfq).into(),
                )
            };
            let text =
                |column: usize| -> rusqlite::Result<&str> { Ok(row.get_ref(column)?.as_str()?) };
            each(AnswerSummary {
                rfq,
                side: text(1)?.parse().map_err(|_| unreadable(1))?,
                lp: row.get(2)?,
                first_answer: row.get(3)?,
                answers: row.get(4)?,
                errors: answer_summary::errors_of(text(5)?).ok_or_else(|| unreadable(5))?,
                latencies: answer_summary::latencies_of(text(6)?).ok_or_else(|| unreadable(6))?,
                distance_units: text(7)?.parse().map_err(|_| unreadable(7))?,
                distance_spilled: match row.get_ref(8)?.as_str_or_null()? {
                    Some(text) => text.parse().map_err(|_| unreadable(8))?,
                    None => rust_decimal::Decimal::ZERO,
                },
                distances: row.get(9)?,
            });
        }
        Ok(())
    }

    fn locks(
        &mut self,
        (first, last): (i64, i64),
        mut each: impl FnMut(LockRow<'_>),
    ) -> rusqlite::Result<()> {
        let mut select = self.conn.prepare(
            "SELECT rfq, t_ms, event, lp, reason, side FROM lock_events
             WHERE rfq >= ?1 AND rfq <= ?2 ORDER BY rfq, seq",
        )?;
        let mut rows = select.query([first, last])?;
        while let Some(row) = rows.next()? {
            each(LockRow {
                rfq: row.get(0)?,
                t_ms: row.get(1)?,
                locked: row.get_ref(2)?.as_str()? == "locked",
                lp: row.get_ref(3)?.as_str()?,
                reason: row.get_ref(4)?.as_str_or_null()?,
                side: row.get_ref(5)?.as_str_or_null()?,
            });
        }
        Ok(())
    }

    fn executions(
        &mut self,
        (first, last): (i64, i64),
        mut each: impl FnMut(ExecutionRow<'_>),
    ) -> rusqlite::Result<()> {
        let mut select = self.conn.prepare(
            "SELECT rfq, t_ms, event, lp, lp_price, amount, hold_ms, desk_pnl, order_id,
             client_order_id, venue_order_id, venue_ref, reconciled_by FROM executions
             WHERE rfq >= ?1 AND rfq <= ?2 ORDER BY rfq, seq",
        )?;
        let mut rows = select.query([first, last])?;
        while let Some(row) = rows.next()? {
            each(ExecutionRow {
                rfq: row.get(0)?,
                t_ms: row.get(1)?,
                event: row.get_ref(2)?.as_str()?,
                lp: row.get_ref(3)?.as_str_or_null()?,
                lp_price: row.get_ref(4)?.as_str_or_null()?,
                amount: row.get_ref(5)?.as_str_or_null()?,
                hold_ms: row.get(6)?,
                desk_pnl: row.get_ref(7)?.as_str_or_null()?,
                order_id: row.get_ref(8)?.as_str_or_null()?,
                client_order_id: row.get_ref(9)?.as_str_or_null()?,
                venue_order_id: row.get_ref(10)?.as_str_or_null()?,
                venue_ref: row.get_ref(11)?.as_str_or_null()?,
                reconciled_by: row.get_ref(12)?.as_str_or_null()?,
            });
        }
        Ok(())
    }

    fn last_client_quote_ms(&mut self, rfq: i64) -> rusqlite::Result<Option<u64>> {
        self.conn
            .prepare_cached("SELECT MAX(t_ms) FROM client_quotes WHERE rfq = ?1")?
            .query_row([rfq], |r| r.get(0))
    }

    fn health(&mut self, filter: &Filter, each: impl FnMut(HealthRow<'_>)) -> rusqlite::Result<()> {
        health_rows(
            self.conn,
            filter.since_ms,
            filter.until_ms,
            filter.lp.as_deref(),
            self.desk.as_deref(),
            each,
        )
    }

    fn recent_locks(&mut self, since_ms: i64) -> rusqlite::Result<Vec<RecentLock>> {
        let mut statement = self.conn.prepare(
            "SELECT r.pair, l.price, l.at_ms, l.lp, r.simulated_lps
               FROM lock_events l JOIN rfqs r ON r.id = l.rfq
              WHERE l.event = 'locked' AND l.at_ms >= ?1 AND l.price IS NOT NULL
                AND l.corroborated_by IN ('band', 'second_lp', 'median', 'feed')
                AND NOT EXISTS (SELECT 1 FROM lock_events x
                                 WHERE x.rfq = l.rfq AND x.event = 'released')
              ORDER BY l.at_ms",
        )?;
        let rows = statement.query_map([since_ms], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
            ))
        })?;
        let mut locks = Vec::new();
        for row in rows {
            let (pair, price, at_ms, lp, simulated_lps) = row?;
            let simulated: Vec<String> = serde_json::from_str(&simulated_lps).unwrap_or_default();
            if simulated.contains(&lp) {
                continue;
            }
            let Ok(price) = price.parse::<rust_decimal::Decimal>() else {
                continue;
            };
            locks.push(RecentLock { pair, price, at_ms });
        }
        Ok(locks)
    }

    fn client_fills(&mut self, since_ms: i64) -> rusqlite::Result<Vec<ClientFill>> {
        super::read::client_fills(self.conn, since_ms)
    }
}

/// `lp_health` rows between `since_ms` (inclusive) and `until_ms`
/// (exclusive), of `lp` only if given, in the order recorded.
pub(super) fn health_rows(
    conn: &Connection,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    lp: Option<&str>,
    desk: Option<&str>,
    mut each: impl FnMut(HealthRow<'_>),
) -> rusqlite::Result<()> {
    let mut select = conn.prepare(
        "SELECT lp, at_ms, state, retry_in_ms, reject_rate, throttled FROM lp_health
         WHERE (?1 IS NULL OR at_ms >= ?1) AND (?2 IS NULL OR at_ms < ?2)
           AND (?3 IS NULL OR lp = ?3) AND (?4 IS NULL OR desk = ?4)
         ORDER BY id",
    )?;
    let mut rows = select.query(params![since_ms, until_ms, lp, desk])?;
    while let Some(row) = rows.next()? {
        each(HealthRow {
            lp: row.get_ref(0)?.as_str()?,
            at_ms: row.get(1)?,
            state: row.get_ref(2)?.as_str()?,
            retry_in_ms: row.get(3)?,
            reject_rate: row.get_ref(4)?.as_str()?,
            throttled: row.get(5)?,
        });
    }
    Ok(())
}

/// The answers in `range` on `conn`: a single statement stepped in id
/// order, its rows decoded without building anything per row but a
/// quote's price.
fn read_answers(
    conn: &Connection,
    (stored_first, stored_last): (Option<i64>, Option<i64>),
    range: &AnswerRange,
    wanted: impl Fn(i64) -> bool,
    mut each: impl FnMut(AnswerRow),
) -> rusqlite::Result<()> {
    // Only the conditions a range needs: each costs a comparison per row.
    // A failed request's price is NULL: the one column then carries its
    // failure kind, marked so no price text is mistaken for one.
    let mut sql = String::from(
        "SELECT id, rfq, t_ms, lp, poll, latency_ms, coalesce(price, '!' || failure), side
         FROM answers WHERE id >= ?1 AND id <= ?2",
    );
    if (Some(range.first_rfq), Some(range.last_rfq)) != (stored_first, stored_last) {
        sql += " AND rfq >= ?3 AND rfq <= ?4";
    }
    if range.only_lp.is_some() {
        sql += " AND (failure IS NULL OR lp = ?5)";
    }
    let mut select = raw::RawStatement::prepare(conn, &sql)?;
    for (name, value) in [
        ("?1", range.first_id),
        ("?2", range.last_id),
        ("?3", range.first_rfq),
        ("?4", range.last_rfq),
        ("?5", range.only_lp.unwrap_or(-1)),
    ] {
        select.bind(name, value)?;
    }
    while select.step()? {
        let rfq = select.int(1);
        if !wanted(rfq) {
            continue;
        }
        let answered = match select.value(6) {
            ValueRef::Text([b'!', failure @ ..]) => Answered::Failed(
                std::str::from_utf8(failure)
                    .ok()
                    .and_then(FailureKind::from_wire),
            ),
            // An unreadable stored price stops the report with the value
            // (as replay does), never counts as a price of 0.
            price => Answered::Quote(compact::decode(price).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    6,
                    rusqlite::types::Type::Text,
                    "an LP answer's stored price is not a decimal".into(),
                )
            })?),
        };
        each(AnswerRow {
            id: select.int(0),
            rfq,
            t_ms: select.int(2).max(0) as u64,
            lp: select.int(3),
            poll: select.int(4) as u32,
            latency_ms: select.int(5).max(0) as u64,
            answered,
            side: match select.value(7) {
                ValueRef::Text(b"buy") => Some(crate::market::Side::Buy),
                ValueRef::Text(b"sell") => Some(crate::market::Side::Sell),
                _ => None,
            },
        });
    }
    Ok(())
}
