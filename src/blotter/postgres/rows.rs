//! The report's rows from a PostgreSQL blotter: [`PgRows`] implements
//! [`ReportRows`] with the same selections as SQLite's reader, read in one
//! REPEATABLE READ snapshot that the answers pass's other readers share
//! (`pg_export_snapshot`), each on a connection of its own. Text is
//! compared and sorted byte-wise (`COLLATE "C"`), as SQLite does, so both
//! stores give the same report.

use std::collections::HashMap;
use std::sync::Arc;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::Client;
use rust_decimal::Decimal;

use super::super::answer_summary::{self, AnswerSummary};
use super::super::compact::unpack;
use super::super::report_model::Filter;
use super::super::report_rows::{
    AnswerRange, AnswerRow, AnswerRows, AnswerSpan, Answered, ClientFill, ExecutionRow, HealthRow,
    LockRow, RecentLock, ReportRows, RfqRow,
};
use super::PgUrl;
use crate::market::{Pair, Side};
use crate::rfq::event::FailureKind;
use crate::rfq::ClientId;

/// Why the report could not read the database.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PgReadError {
    #[error("{}", super::describe(.0))]
    Sql(#[from] postgres::Error),
    #[error("an LP answer's stored price is not a decimal: '{0}'")]
    Price(String),
    /// The answers' COPY broke off or is not what was asked for.
    #[error("reading the answers: {0}")]
    Copy(String),
    #[error("{column} '{value}' is not valid")]
    Value { column: &'static str, value: String },
}

fn bad(column: &'static str, value: &str) -> PgReadError {
    PgReadError::Value {
        column,
        value: value.to_string(),
    }
}

/// The rows of the blotter at `url`, on one connection.
pub(crate) struct PgRows {
    client: Client,
    url: PgUrl,
    /// The snapshot the other readers join.
    snapshot: Option<String>,
    stored: (Option<i64>, Option<i64>),
    /// Only this desk's RFQs and health rows.
    desk: Option<String>,
    /// The answers have packed prices (schema 6 on): the report reads a
    /// database as it is, an older one too.
    packed: bool,
    /// It keeps `answer_summaries` (schema 9 on).
    summaries: bool,
}

/// Another connection in the same snapshot, for one worker of the
/// answers pass.
pub(crate) struct PgReader {
    client: Client,
    stored: (Option<i64>, Option<i64>),
    packed: bool,
}

impl PgRows {
    pub(crate) fn new(client: Client, url: &PgUrl, desk: Option<String>) -> PgRows {
        PgRows {
            client,
            url: url.clone(),
            snapshot: None,
            stored: (None, None),
            desk,
            packed: true,
            summaries: true,
        }
    }
}

impl AnswerRows for PgRows {
    type Error = PgReadError;

    fn answers(
        &mut self,
        range: &AnswerRange,
        wanted: impl Fn(i64) -> bool,
        each: impl FnMut(AnswerRow),
    ) -> Result<(), PgReadError> {
        read_answers(
            &mut self.client,
            self.stored,
            self.packed,
            range,
            wanted,
            each,
        )
    }
}

impl AnswerRows for PgReader {
    type Error = PgReadError;

    fn answers(
        &mut self,
        range: &AnswerRange,
        wanted: impl Fn(i64) -> bool,
        each: impl FnMut(AnswerRow),
    ) -> Result<(), PgReadError> {
        read_answers(
            &mut self.client,
            self.stored,
            self.packed,
            range,
            wanted,
            each,
        )
    }
}

impl ReportRows for PgRows {
    type Reader = PgReader;

    fn begin(&mut self) -> Result<(), PgReadError> {
        self.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        self.snapshot = Some(
            self.client
                .query_one("SELECT pg_export_snapshot()", &[])?
                .get(0),
        );
        let row = self
            .client
            .query_one("SELECT MIN(id), MAX(id) FROM rfqs", &[])?;
        self.stored = (row.get(0), row.get(1));
        let version = super::schema::version(&mut self.client)?;
        self.packed = version >= super::schema::packed_answers();
        self.summaries = version >= super::schema::answer_summaries();
        Ok(())
    }

    fn end(&mut self) -> Result<(), PgReadError> {
        self.client.batch_execute("COMMIT")?;
        Ok(())
    }

    fn readers(&self) -> usize {
        if self.snapshot.is_some() {
            usize::MAX
        } else {
            1
        }
    }

    fn reader(&self) -> Result<PgReader, PgReadError> {
        let mut client = self.url.connect()?;
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        if let Some(snapshot) = &self.snapshot {
            // A snapshot id is digits, hex and dashes: safe to inline (SET
            // TRANSACTION SNAPSHOT takes no parameters).
            let snapshot: String = snapshot
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            client.batch_execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))?;
        }
        Ok(PgReader {
            client,
            stored: self.stored,
            packed: self.packed,
        })
    }

    fn lps_asked(&mut self) -> Result<Vec<String>, PgReadError> {
        let rows = self.client.query(
            "SELECT e.value FROM rfqs r,
                    json_array_elements_text(r.lps::json) WITH ORDINALITY AS e(value, key)
             WHERE ($1::text IS NULL OR r.desk = $1)
             GROUP BY e.value ORDER BY MIN(r.id), MIN(e.key)",
            &[&self.desk],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn simulated_lps(&mut self) -> Result<Vec<String>, PgReadError> {
        let rows = self.client.query(
            "SELECT DISTINCT e.value COLLATE \"C\" AS value
             FROM rfqs r, json_array_elements_text(r.simulated_lps::json) AS e(value)
             WHERE ($1::text IS NULL OR r.desk = $1)
             ORDER BY 1",
            &[&self.desk],
        )?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn rfqs(&mut self, filter: &Filter) -> Result<Vec<RfqRow>, PgReadError> {
        let limit = filter.last.map(i64::from);
        let rows = self.client.query(
            "SELECT id, rfq_id, started_at, side, amount, pair, quote, lps, end_t_ms, end_reason,
                    improvements, final_lp, final_client_price, outcome, answers_from,
                    answers_to, lp_timeout_ms, client, operator, two_way,
                    CASE WHEN two_way = 1 THEN
                        (SELECT c.side FROM client_quotes c
                          WHERE c.rfq = r.id AND c.quote_id = r.final_quote_id)
                    END AS accepted_side,
                    (SELECT d.operator FROM desk_actions d
                      WHERE d.rfq_id = r.rfq_id AND d.action = 'accept'
                      ORDER BY d.id DESC LIMIT 1) AS accepted_by
             FROM rfqs r
             WHERE ($1::bigint IS NULL OR started_ms >= $1)
               AND ($2::bigint IS NULL OR started_ms < $2)
               AND ($3::text IS NULL OR pair = $3)
               AND ($4::text IS NULL OR EXISTS (
                    SELECT 1 FROM json_array_elements_text(r.lps::json) AS e(value)
                    WHERE e.value = $4))
               AND ($6::text IS NULL OR client = $6)
               AND ($7::text IS NULL OR operator = $7
                    OR EXISTS (SELECT 1 FROM desk_actions d
                               WHERE d.rfq_id = r.rfq_id AND d.action = 'accept'
                                 AND d.operator = $7))
               AND ($8::text IS NULL OR desk = $8)
             ORDER BY started_ms DESC, id DESC
             LIMIT $5",
            &[
                &filter.since_ms,
                &filter.until_ms,
                &filter.pair,
                &filter.lp,
                &limit,
                &filter.client,
                &filter.operator,
                &self.desk,
            ],
        )?;
        let unsigned = |value: Option<i64>| value.map(|v| v.max(0) as u64);
        let mut selected: Vec<RfqRow> = rows
            .iter()
            .map(|row| RfqRow {
                row: row.get("id"),
                rfq_id: row.get("rfq_id"),
                started_at: row.get("started_at"),
                side: row.get("side"),
                amount: row.get("amount"),
                pair: row.get("pair"),
                quote: row.get("quote"),
                lps: serde_json::from_str(row.get("lps")).unwrap_or_default(),
                end_t_ms: unsigned(row.get("end_t_ms")),
                end_reason: row.get("end_reason"),
                improvements: unsigned(row.get("improvements")),
                final_lp: row.get("final_lp"),
                final_client_price: row.get("final_client_price"),
                outcome: row.get("outcome"),
                answers_from: row.get::<_, Option<i64>>("answers_from").unwrap_or(0),
                answers_to: row.get("answers_to"),
                lp_timeout_ms: row.get::<_, i64>("lp_timeout_ms").max(0) as u64,
                client: row.get("client"),
                operator: row.get("operator"),
                two_way: row.get::<_, i32>("two_way") == 1,
                accepted_side: row.get("accepted_side"),
                accepted_by: row.get("accepted_by"),
            })
            .collect();
        selected.reverse();
        Ok(selected)
    }

    fn last_answer_id(&mut self) -> Result<i64, PgReadError> {
        Ok(self
            .client
            .query_one("SELECT coalesce(MAX(id), 0)::bigint FROM answers", &[])?
            .get(0))
    }

    fn answer_spans(&mut self, last_answer: i64) -> Result<Vec<AnswerSpan>, PgReadError> {
        let rows = self.client.query(
            "SELECT id, answers_from, coalesce(answers_to, $1) FROM rfqs
             WHERE answers_from IS NOT NULL",
            &[&last_answer],
        )?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get::<_, i64>(2).min(last_answer))))
            .collect())
    }

    fn lp_names(&mut self) -> Result<HashMap<i64, Arc<str>>, PgReadError> {
        let rows = self.client.query("SELECT id, name FROM lps", &[])?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), Arc::from(row.get::<_, &str>(1))))
            .collect())
    }

    fn lp_id(&mut self, name: &str) -> Result<Option<i64>, PgReadError> {
        Ok(self
            .client
            .query_opt("SELECT id FROM lps WHERE name = $1", &[&name])?
            .map(|row| row.get(0)))
    }

    fn answer_summaries(
        &mut self,
        (first, last): (i64, i64),
        selected: impl Fn(i64) -> bool,
        mut each: impl FnMut(AnswerSummary),
    ) -> Result<(), PgReadError> {
        if !self.summaries {
            return Ok(());
        }
        // Streamed: a selection of millions of RFQs holds no Vec of their
        // rows, and the unselected RFQs' rows in the span are dropped as
        // they arrive, undecoded.
        let mut rows = self.client.query_raw(
            "SELECT rfq, side, lp, first_answer, answers, errors, latencies, distance_units,
             distance_spilled, distances FROM answer_summaries
             WHERE rfq >= $1 AND rfq <= $2 ORDER BY rfq, side COLLATE \"C\", lp",
            [&first as &(dyn ToSql + Sync), &last],
        )?;
        while let Some(row) = rows.next()? {
            let rfq: i64 = row.get(0);
            if !selected(rfq) {
                continue;
            }
            let text = |column: usize| -> &str { row.get(column) };
            let count = |column: usize| row.get::<_, i64>(column).max(0) as u64;
            each(AnswerSummary {
                rfq,
                side: text(1)
                    .parse()
                    .map_err(|_| bad("answer_summaries.side", text(1)))?,
                lp: row.get(2),
                first_answer: row.get(3),
                answers: count(4),
                errors: answer_summary::errors_of(text(5))
                    .ok_or_else(|| bad("answer_summaries.errors", text(5)))?,
                latencies: answer_summary::latencies_of(text(6))
                    .ok_or_else(|| bad("answer_summaries.latencies", text(6)))?,
                distance_units: text(7)
                    .parse()
                    .map_err(|_| bad("answer_summaries.distance_units", text(7)))?,
                distance_spilled: match row.get::<_, Option<&str>>(8) {
                    Some(spilled) => spilled
                        .parse()
                        .map_err(|_| bad("answer_summaries.distance_spilled", spilled))?,
                    None => Decimal::ZERO,
                },
                distances: count(9),
            });
        }
        Ok(())
    }

    fn locks(
        &mut self,
        (first, last): (i64, i64),
        mut each: impl FnMut(LockRow<'_>),
    ) -> Result<(), PgReadError> {
        let rows = self.client.query(
            "SELECT rfq, t_ms, event, lp, reason, side FROM lock_events
             WHERE rfq >= $1 AND rfq <= $2 ORDER BY rfq, seq",
            &[&first, &last],
        )?;
        for row in &rows {
            each(LockRow {
                rfq: row.get(0),
                t_ms: row.get::<_, i64>(1).max(0) as u64,
                locked: row.get::<_, &str>(2) == "locked",
                lp: row.get(3),
                reason: row.get(4),
                side: row.get(5),
            });
        }
        Ok(())
    }

    fn executions(
        &mut self,
        (first, last): (i64, i64),
        mut each: impl FnMut(ExecutionRow<'_>),
    ) -> Result<(), PgReadError> {
        let rows = self.client.query(
            "SELECT rfq, t_ms, event, lp, lp_price, amount, hold_ms, desk_pnl, order_id,
             client_order_id, venue_order_id, venue_ref, reconciled_by FROM executions
             WHERE rfq >= $1 AND rfq <= $2 ORDER BY rfq, seq",
            &[&first, &last],
        )?;
        for row in &rows {
            each(ExecutionRow {
                rfq: row.get(0),
                t_ms: row.get::<_, i64>(1).max(0) as u64,
                event: row.get(2),
                lp: row.get(3),
                lp_price: row.get(4),
                amount: row.get(5),
                hold_ms: row.get::<_, Option<i64>>(6).map(|v| v.max(0) as u64),
                desk_pnl: row.get(7),
                order_id: row.get(8),
                client_order_id: row.get(9),
                venue_order_id: row.get(10),
                venue_ref: row.get(11),
                reconciled_by: row.get(12),
            });
        }
        Ok(())
    }

    fn last_client_quote_ms(&mut self, rfq: i64) -> Result<Option<u64>, PgReadError> {
        let ms: Option<i64> = self
            .client
            .query_one(
                "SELECT MAX(t_ms) FROM client_quotes WHERE rfq = $1",
                &[&rfq],
            )?
            .get(0);
        Ok(ms.map(|ms| ms.max(0) as u64))
    }

    fn health(
        &mut self,
        filter: &Filter,
        mut each: impl FnMut(HealthRow<'_>),
    ) -> Result<(), PgReadError> {
        let rows = self.client.query(
            "SELECT lp, at_ms, state, retry_in_ms, reject_rate, throttled FROM lp_health
             WHERE ($1::bigint IS NULL OR at_ms >= $1) AND ($2::bigint IS NULL OR at_ms < $2)
               AND ($3::text IS NULL OR lp = $3) AND ($4::text IS NULL OR desk = $4)
             ORDER BY id",
            &[&filter.since_ms, &filter.until_ms, &filter.lp, &self.desk],
        )?;
        for row in &rows {
            each(HealthRow {
                lp: row.get(0),
                at_ms: row.get(1),
                state: row.get(2),
                retry_in_ms: row.get(3),
                reject_rate: row.get(4),
                throttled: row.get(5),
            });
        }
        Ok(())
    }

    fn recent_locks(&mut self, since_ms: i64) -> Result<Vec<RecentLock>, PgReadError> {
        let rows = self.client.query(
            "SELECT r.pair, l.price, l.at_ms, l.lp, r.simulated_lps
               FROM lock_events l JOIN rfqs r ON r.id = l.rfq
              WHERE l.event = 'locked' AND l.at_ms >= $1 AND l.price IS NOT NULL
                AND l.corroborated_by IN ('band', 'second_lp', 'median', 'feed')
                AND NOT EXISTS (SELECT 1 FROM lock_events x
                                 WHERE x.rfq = l.rfq AND x.event = 'released')
              ORDER BY l.at_ms, l.id",
            &[&since_ms],
        )?;
        let mut locks = Vec::new();
        for row in &rows {
            let lp: &str = row.get(3);
            let simulated: Vec<String> =
                serde_json::from_str(row.get::<_, &str>(4)).unwrap_or_default();
            if simulated.iter().any(|name| name == lp) {
                continue;
            }
            let Ok(price) = row.get::<_, &str>(1).parse::<Decimal>() else {
                continue;
            };
            locks.push(RecentLock {
                pair: row.get(0),
                price,
                at_ms: row.get(2),
            });
        }
        Ok(locks)
    }

    fn client_fills(&mut self, since_ms: i64) -> Result<Vec<ClientFill>, PgReadError> {
        let rows = self.client.query(
            "SELECT client, pair, quote,
                    CASE WHEN pays_asset = quote THEN client_pays ELSE client_receives END
                        AS notional
             FROM fills WHERE at_ms >= $1 ORDER BY at_ms, rfq, seq",
            &[&since_ms],
        )?;
        rows.iter()
            .map(|row| {
                let client: &str = row.get(0);
                let pair_text: &str = row.get(1);
                let quote: &str = row.get(2);
                let notional: &str = row.get(3);
                let pair: Pair = pair_text.parse().map_err(|_| bad("pair", pair_text))?;
                Ok(ClientFill {
                    client: ClientId::new(client).map_err(|_| bad("client", client))?,
                    asset: [pair.base, pair.quote]
                        .into_iter()
                        .find(|asset| asset.as_str() == quote)
                        .ok_or_else(|| bad("quote", quote))?,
                    notional: notional.parse().map_err(|_| bad("notional", notional))?,
                })
            })
            .collect()
    }
}

/// The answers in `range`, streamed in id order (never held all at once)
/// by one `COPY … TO STDOUT (FORMAT binary)`: no row objects, integers as
/// big-endian words, text as its bytes, which the row protocol's per-row
/// decoding made the report's main cost. A price is read packed (schema 6
/// on) and only parsed from text when an older row or one too large to
/// pack has it so.
fn read_answers(
    client: &mut Client,
    (stored_first, stored_last): (Option<i64>, Option<i64>),
    packed: bool,
    range: &AnswerRange,
    wanted: impl Fn(i64) -> bool,
    mut each: impl FnMut(AnswerRow),
) -> Result<(), PgReadError> {
    // COPY takes no parameters: the bounds are integers, written in.
    let packed_price = if packed {
        "price_packed"
    } else {
        "NULL::bigint"
    };
    let mut sql = format!(
        "COPY (SELECT id, rfq, t_ms, lp, poll, latency_ms, {packed_price}, price, failure, side
         FROM answers WHERE id >= {} AND id <= {}",
        range.first_id, range.last_id
    );
    if (Some(range.first_rfq), Some(range.last_rfq)) != (stored_first, stored_last) {
        sql += &format!(
            " AND rfq >= {} AND rfq <= {}",
            range.first_rfq, range.last_rfq
        );
    }
    if let Some(lp) = range.only_lp {
        sql += &format!(" AND (failure IS NULL OR lp = {lp})");
    }
    sql += " ORDER BY id) TO STDOUT (FORMAT binary)";
    let mut copy = BinaryCopy::new(client.copy_out(&sql)?)?;
    let mut text = Vec::with_capacity(64);
    while copy.row(10)? {
        let id = copy.int()?;
        let rfq = copy.int()?;
        let t_ms = copy.int()?;
        let lp = copy.int()?;
        let poll = copy.int()?;
        let latency_ms = copy.int()?;
        let packed = copy.opt_int()?;
        let price = copy.text(&mut text)?;
        if !wanted(rfq) {
            copy.text(&mut text)?;
            copy.text(&mut text)?;
            continue;
        }
        let answered = if let Some(packed) = packed {
            copy.text(&mut text)?;
            Answered::Quote(unpack(packed).ok_or_else(|| PgReadError::Price(packed.to_string()))?)
        } else if price {
            let price = std::str::from_utf8(&text).unwrap_or_default();
            let parsed = price
                .parse::<Decimal>()
                .map_err(|_| PgReadError::Price(price.to_string()))?;
            copy.text(&mut text)?;
            Answered::Quote(parsed)
        } else {
            let failure = copy.text(&mut text)?;
            Answered::Failed(
                failure
                    .then(|| std::str::from_utf8(&text).ok())
                    .flatten()
                    .and_then(FailureKind::from_wire),
            )
        };
        let side = match copy.text(&mut text)? {
            true if text == b"buy" => Some(Side::Buy),
            true if text == b"sell" => Some(Side::Sell),
            _ => None,
        };
        each(AnswerRow {
            id,
            rfq,
            t_ms: t_ms.max(0) as u64,
            lp,
            poll: poll as u32,
            latency_ms: latency_ms.max(0) as u64,
            answered,
            side,
        });
    }
    Ok(())
}

/// PostgreSQL's binary COPY format, read field by field: a signature and
/// header, then per row a field count and per field its length (-1:
/// NULL) and bytes, ended by a count of -1.
struct BinaryCopy<R> {
    input: std::io::BufReader<R>,
}

const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

impl<R: std::io::Read> BinaryCopy<R> {
    fn new(input: R) -> Result<BinaryCopy<R>, PgReadError> {
        let mut copy = BinaryCopy {
            input: std::io::BufReader::with_capacity(1 << 18, input),
        };
        let mut signature = [0u8; 11];
        copy.bytes(&mut signature)?;
        if &signature != COPY_SIGNATURE {
            return Err(PgReadError::Copy("not PostgreSQL's binary COPY".into()));
        }
        let _flags = copy.word()?;
        let extension = copy.word()?;
        let mut skipped = vec![0u8; usize::try_from(extension).unwrap_or(0)];
        copy.bytes(&mut skipped)?;
        Ok(copy)
    }

    fn bytes(&mut self, into: &mut [u8]) -> Result<(), PgReadError> {
        std::io::Read::read_exact(&mut self.input, into)
            .map_err(|error| PgReadError::Copy(error.to_string()))
    }

    fn word(&mut self) -> Result<i32, PgReadError> {
        let mut word = [0u8; 4];
        self.bytes(&mut word)?;
        Ok(i32::from_be_bytes(word))
    }

    /// The next row's start: false after the last one. A row of another
    /// width than `fields` is refused.
    fn row(&mut self, fields: i16) -> Result<bool, PgReadError> {
        let mut count = [0u8; 2];
        self.bytes(&mut count)?;
        match i16::from_be_bytes(count) {
            -1 => Ok(false),
            found if found == fields => Ok(true),
            found => Err(PgReadError::Copy(format!(
                "a row of {found} fields where {fields} were asked for"
            ))),
        }
    }

    /// A non-NULL BIGINT.
    fn int(&mut self) -> Result<i64, PgReadError> {
        self.opt_int()?
            .ok_or_else(|| PgReadError::Copy("a BIGINT that is NULL".into()))
    }

    /// A BIGINT or NULL.
    fn opt_int(&mut self) -> Result<Option<i64>, PgReadError> {
        match self.word()? {
            8 => {
                let mut value = [0u8; 8];
                self.bytes(&mut value)?;
                Ok(Some(i64::from_be_bytes(value)))
            }
            -1 => Ok(None),
            length => Err(PgReadError::Copy(format!("a BIGINT of {length} bytes"))),
        }
    }

    /// A TEXT field's bytes into `into`; false (and `into` empty) for NULL.
    fn text(&mut self, into: &mut Vec<u8>) -> Result<bool, PgReadError> {
        into.clear();
        let length = self.word()?;
        let Ok(length) = usize::try_from(length) else {
            return Ok(false);
        };
        into.resize(length, 0);
        self.bytes(into)?;
        Ok(true)
    }
}
