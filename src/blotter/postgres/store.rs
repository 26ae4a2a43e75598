//! [`PostgresStore`]: the writer's records into PostgreSQL, each batch in
//! one transaction of a few statements whatever its size: ids reserved for
//! it in one round trip, then one COPY per table and one UPDATE for every
//! stream that ended. A lost connection fails the batch as a full disk
//! does on SQLite (the writer holds it, stops new quotes, journals
//! outcomes); the next write or check connects again.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DateTime;
use postgres::{Client, Transaction};

use super::super::answer_summary;
use super::super::compact::pack;
use super::super::figures::RfqTallies;
use super::super::live_tallies::{overdue_at, LiveTallies};
use super::super::report_rows::Answered;
use super::super::sqlite_store::{answer_row, int, iso_at_into, ExecutionRow};
use super::super::store::{BlotterStore, Record, Retry, StoreError, Written};
use super::super::BlotterError;
use super::binary_copy::BinaryRows;
use super::{describe, schema, PgUrl};
use crate::clock::iso_millis;
use crate::lp::guarded::RecordedChange;
use crate::rfq::event::EventKind;

/// What the store remembers about an RFQ whose `started` it stored.
#[derive(Debug, Clone)]
struct Rfq {
    row: i64,
    started_ms: i64,
    speed_per_mille: i64,
    next_seq: i64,
    last_answer: Option<i64>,
    transaction: u64,
    /// Carried on from rows an earlier run wrote (a merged journal): an
    /// execution row it already holds is not written twice.
    adopted: bool,
    /// The LPs that are simulations (an execution row with one of them is
    /// simulated, as SQLite's insert judges from `rfqs.simulated_lps`).
    simulated_lps: Arc<[String]>,
}

/// The blotter in a PostgreSQL database, written by the writer thread that
/// owns it (and so its connection).
pub struct PostgresStore {
    url: PgUrl,
    /// Written into every RFQ and health row (`--desk-name`).
    desk: String,
    /// `None` once the connection is lost: the next write or check
    /// connects again.
    client: Option<Client>,
    rfqs: HashMap<Arc<str>, Rfq>,
    /// LP names and their `lps.id` known to be committed or in the open
    /// transaction.
    lps: Vec<(Arc<str>, i64)>,
    transaction: u64,
    /// Each RFQ as it was before the open transaction first changed it.
    undo: Vec<(Arc<str>, Option<Rfq>)>,
    second: (i64, String),
    at_text: String,
    copy: Copies,
    /// Answer ids reserved by this store and not yet used: the rest of its
    /// last block (see [`ANSWER_ID_BLOCK`]).
    spare_answer_ids: std::ops::Range<i64>,
    /// Where a decimal that does not pack is formatted (reused).
    decimal_text: String,
    /// Each live RFQ's answers summed for its `answer_summaries`, as
    /// SQLite's store keeps them (dropped for the RFQs a failed batch
    /// touched).
    tallies: LiveTallies,
}

/// How many answer ids one `nextval('answers_id_seq')` reserves (the
/// sequence's increment since schema 6): a batch of 20,000 answers takes
/// 20 calls, not 20,000.
const ANSWER_ID_BLOCK: i64 = 1024;

/// One batch's rows as COPY text (tab-separated, `\N` for NULL), reused
/// from batch to batch; the answers, nearly every row, in the binary
/// format.
#[derive(Default)]
struct Copies {
    rfqs: String,
    answers: BinaryRows,
    client_quotes: String,
    lock_events: String,
    executions: String,
    lp_health: String,
    answer_summaries: String,
    ended: Ended,
}

/// The `ended` updates of one batch, column by column (bound as arrays).
#[derive(Default)]
struct Ended {
    row: Vec<i64>,
    end_seq: Vec<i64>,
    end_t_ms: Vec<i64>,
    ended_at: Vec<String>,
    ended_ms: Vec<i64>,
    end_reason: Vec<String>,
    improvements: Vec<i64>,
    final_quote_id: Vec<Option<String>>,
    final_lp: Vec<Option<String>>,
    final_client_price: Vec<Option<String>>,
    outcome: Vec<String>,
    answers_to: Vec<Option<i64>>,
}

impl Copies {
    fn clear(&mut self) {
        self.answers.clear();
        for text in [
            &mut self.rfqs,
            &mut self.client_quotes,
            &mut self.lock_events,
            &mut self.executions,
            &mut self.lp_health,
            &mut self.answer_summaries,
        ] {
            text.clear();
        }
        self.ended = Ended::default();
    }
}

/// Appends COPY text fields to a row.
struct Line<'b>(&'b mut String, bool);

impl<'b> Line<'b> {
    fn of(buffer: &'b mut String) -> Line<'b> {
        Line(buffer, true)
    }

    fn sep(&mut self) {
        if !std::mem::replace(&mut self.1, false) {
            self.0.push('\t');
        }
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.sep();
        let _ = write!(self.0, "{value}");
        self
    }

    fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(value) => self.int(value),
            None => self.null(),
        }
    }

    fn null(&mut self) -> &mut Self {
        self.sep();
        self.0.push_str("\\N");
        self
    }

    fn text(&mut self, value: &str) -> &mut Self {
        self.sep();
        // COPY's text format: a backslash, tab, newline or carriage return
        // inside a value is escaped; everything else goes as it is.
        for c in value.chars() {
            match c {
                '\\' => self.0.push_str("\\\\"),
                '\t' => self.0.push_str("\\t"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                c => self.0.push(c),
            }
        }
        self
    }

    fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    fn display(&mut self, value: impl std::fmt::Display) -> &mut Self {
        self.sep();
        // Decimals and numbers: nothing in them needs escaping.
        let _ = write!(self.0, "{value}");
        self
    }

    fn end(&mut self) {
        self.0.push('\n');
    }
}

impl PostgresStore {
    /// Connects to `url`, brings its schema up to date (refusing one a
    /// newer lp-rfq wrote) and writes as desk `desk`.
    pub fn open(url: &PgUrl, desk: &str) -> Result<PostgresStore, BlotterError> {
        let cannot = |detail: String| BlotterError::Database {
            url: url.to_string(),
            detail,
        };
        let mut client = url.connect().map_err(|error| cannot(describe(&error)))?;
        schema::migrate(&mut client, schema::LATEST).map_err(|error| match error {
            schema::MigrateError::Sql(error) => cannot(describe(&error)),
            schema::MigrateError::TooNew(found) => BlotterError::TooNew {
                path: url.to_string().into(),
                found,
                supported: schema::LATEST,
            },
        })?;
        Ok(PostgresStore {
            url: url.clone(),
            desk: desk.to_string(),
            client: Some(client),
            rfqs: HashMap::new(),
            lps: Vec::new(),
            transaction: 0,
            undo: Vec::new(),
            second: (i64::MIN, String::new()),
            at_text: String::with_capacity(32),
            copy: Copies::default(),
            spare_answer_ids: 0..0,
            decimal_text: String::new(),
            tallies: LiveTallies::default(),
        })
    }

    /// The connection, connecting again if it was lost.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let client = self.url.connect().map_err(|error| {
                StoreError::new(
                    Retry::Later,
                    format!("cannot reach the database: {}", describe(&error)),
                )
            })?;
            tracing::info!(url = %self.url, "postgres blotter connected again");
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }
}

impl BlotterStore for PostgresStore {
    fn write_batch<'r>(
        &mut self,
        records: impl Iterator<Item = &'r Record>,
    ) -> Result<Written, StoreError> {
        let records: Vec<&Record> = records.collect();
        let lps_known = self.lps.len();
        self.transaction += 1;
        self.undo.clear();
        self.copy.clear();
        let written = self.write_transaction(&records);
        if let Err(error) = &written {
            // Ids are never handed back: the failed batch's are gaps.
            self.spare_answer_ids = 0..0;
            // `undo` names every RFQ the transaction touched: the others'
            // tallies hold only committed answers and stay.
            for (rfq_id, before) in &self.undo {
                let rows = [
                    before.as_ref().map(|rfq| rfq.row),
                    self.rfqs.get(rfq_id).map(|rfq| rfq.row),
                ];
                rows.into_iter()
                    .flatten()
                    .for_each(|row| self.tallies.forget(row));
            }
            self.lps.truncate(lps_known);
            while let Some((rfq_id, before)) = self.undo.pop() {
                match before {
                    Some(rfq) => self.rfqs.insert(rfq_id, rfq),
                    None => self.rfqs.remove(&rfq_id),
                };
            }
            if error.retry == Retry::Later
                && self.client.as_ref().is_none_or(|client| client.is_closed())
            {
                self.client = None;
            }
        }
        self.tallies.sweep(Instant::now());
        written
    }

    /// A round trip to the server (at most once a second): a server gone
    /// while nothing is written is noticed now, not at the next event.
    fn check(&mut self) -> Result<(), StoreError> {
        let client = self.client()?;
        if let Err(error) = client.is_valid(Duration::from_secs(2)) {
            self.client = None;
            return Err(StoreError::new(
                Retry::Later,
                format!("lost the database: {}", describe(&error)),
            ));
        }
        Ok(())
    }

    fn close(&mut self) {
        self.client = None;
    }
}

/// Whether a failed statement would fail again with the same records (a
/// value or a constraint the database refuses) or may pass (the server
/// gone, restarting, out of space, the schema changed under us).
fn retry_of(error: &postgres::Error) -> Retry {
    retry_of_code(error.code().map(|code| code.code()))
}

/// [`retry_of`] by SQLSTATE: data exceptions (22) and integrity
/// violations (23) are the record's; anything else, or no code at all (the
/// connection), the database's.
fn retry_of_code(code: Option<&str>) -> Retry {
    match code {
        Some(code) if code.starts_with("22") || code.starts_with("23") => Retry::Never,
        _ => Retry::Later,
    }
}

fn failed(error: postgres::Error) -> StoreError {
    StoreError::new(retry_of(&error), describe(&error))
}

impl PostgresStore {
    fn write_transaction(&mut self, records: &[&Record]) -> Result<Written, StoreError> {
        let (mut starts, mut answers) = (0i64, 0i64);
        for record in records {
            if let Record::Event(event) = record {
                match event.kind {
                    EventKind::Started(_) => starts += 1,
                    EventKind::LpQuote(_) | EventKind::LpError(_) => answers += 1,
                    _ => {}
                }
            }
        }
        let transaction = self.transaction;
        // Split borrows: the connection's transaction and the store's
        // bookkeeping are used side by side.
        let PostgresStore {
            url,
            desk,
            client,
            rfqs,
            lps,
            undo,
            second,
            at_text,
            copy,
            spare_answer_ids,
            decimal_text,
            tallies,
            ..
        } = self;
        if client.as_ref().is_none_or(Client::is_closed) {
            *client = Some(url.connect().map_err(|error| {
                StoreError::new(
                    Retry::Later,
                    format!("cannot reach the database: {}", describe(&error)),
                )
            })?);
        }
        let client = client.as_mut().expect("connected above");
        // Where a batch's time goes (RUST_LOG=lp_rfq::blotter=debug): the
        // round trips, the formatting, the COPYs, the commit's WAL flush.
        let began = Instant::now();
        let mut tx = client.transaction().map_err(failed)?;
        // Ids for this batch's RFQs and answers, taken from the shared
        // sequences (so desks writing one database never collide) in one
        // round trip; rows then go in by COPY with their ids. Answers take
        // what is left of this store's last block first, then new blocks.
        let spare = spare_answer_ids.end - spare_answer_ids.start;
        let blocks = (answers - spare.min(answers) + ANSWER_ID_BLOCK - 1) / ANSWER_ID_BLOCK;
        let (rfq_ids, block_starts): (Vec<i64>, Vec<i64>) = if starts + blocks > 0 {
            let row = tx
                .query_one(
                    "SELECT ARRAY(SELECT nextval('rfqs_id_seq') FROM generate_series(1, $1::bigint)),
                            ARRAY(SELECT nextval('answers_id_seq') FROM generate_series(1, $2::bigint))",
                    &[&starts, &blocks],
                )
                .map_err(failed)?;
            let mut rfq_ids: Vec<i64> = row.get(0);
            rfq_ids.sort_unstable();
            (rfq_ids, row.get(1))
        } else {
            (Vec::new(), Vec::new())
        };
        let reserved = began.elapsed();
        let mut next_rfq = rfq_ids.into_iter();
        let mut next_answer = AnswerIds::new(spare_answer_ids.clone(), block_starts);
        // The first answer id any later batch can take (read once, when an
        // RFQ starts after this batch's last answer).
        let mut next_free: Option<i64> = None;
        let (mut rows, mut orphans) = (0, 0);
        for record in records {
            let event = match record {
                Record::Event(event) => event,
                Record::Health(change) => {
                    health_line(&mut copy.lp_health, change, desk);
                    continue;
                }
            };
            if matches!(event.kind, EventKind::BlotterError(_)) {
                continue;
            }
            if let EventKind::Started(s) = &event.kind {
                let started_ms = DateTime::parse_from_rfc3339(&s.started_at)
                    .map(|at| at.timestamp_millis())
                    .unwrap_or(0);
                let lps_json = serde_json::to_string(&s.lps).unwrap_or_default();
                let simulated: Vec<String> = if s.simulated {
                    s.lps.iter().map(|lp| lp.to_string()).collect()
                } else {
                    s.simulated_lps.iter().map(|lp| lp.to_string()).collect()
                };
                let simulated_json = serde_json::to_string(&simulated).unwrap_or_default();
                let speed_per_mille = (s.speed * rust_decimal::Decimal::from(1000))
                    .round()
                    .try_into()
                    .unwrap_or(1000i64)
                    .max(1);
                let row = next_rfq.next().expect("an id was reserved per started");
                // Every answer of this RFQ gets an id at or above this one.
                let answers_from = match next_answer.peek() {
                    Some(id) => id,
                    None => match next_free {
                        Some(id) => id,
                        None => {
                            let id: i64 = tx
                                .query_one(
                                    "SELECT CASE WHEN is_called THEN last_value + 1
                                            ELSE last_value END FROM answers_id_seq",
                                    &[],
                                )
                                .map_err(failed)?
                                .get(0);
                            *next_free.insert(id)
                        }
                    },
                };
                Line::of(&mut copy.rfqs)
                    .int(row)
                    .text(&event.rfq_id)
                    .text(s.side.as_str())
                    .display(s.amount)
                    .text(&s.pair.symbol())
                    .text(s.pair.base.as_str())
                    .text(s.pair.quote.as_str())
                    .text(&lps_json)
                    .display(s.markup_bps)
                    .display(s.threshold_bps)
                    .int(int(s.validity_buffer_ms))
                    .int(int(s.poll_interval_ms))
                    .int(int(s.lp_timeout_ms))
                    .int(int(s.duration_ms))
                    .text(&s.started_at)
                    .int(started_ms)
                    .display(s.speed)
                    .int(i64::from(s.simulated))
                    .int(speed_per_mille)
                    .text(s.client.as_str())
                    .text(&simulated_json)
                    .int(answers_from)
                    .text(desk)
                    .opt_text(s.operator.as_deref())
                    .text(s.channel.as_str())
                    .text(s.fixed.as_str())
                    .int(i64::from(s.two_way))
                    .end();
                tallies.start(
                    row,
                    RfqTallies::new(s.side, s.two_way, s.lp_timeout_ms),
                    overdue_at(
                        Instant::now(),
                        s.duration_ms,
                        s.lp_timeout_ms,
                        speed_per_mille,
                    ),
                );
                let before = rfqs.insert(
                    event.rfq_id.clone(),
                    Rfq {
                        row,
                        started_ms,
                        speed_per_mille,
                        next_seq: 1,
                        last_answer: None,
                        transaction,
                        adopted: false,
                        simulated_lps: simulated.into(),
                    },
                );
                undo.push((event.rfq_id.clone(), before));
                rows += 1;
                continue;
            }
            if !rfqs.contains_key(&event.rfq_id) {
                if let Some(rfq) = adopt(&mut tx, &event.rfq_id, transaction).map_err(failed)? {
                    rfqs.insert(event.rfq_id.clone(), rfq);
                    undo.push((event.rfq_id.clone(), None));
                }
            }
            let Some(rfq) = rfqs.get_mut(&event.rfq_id) else {
                orphans += 1;
                tracing::warn!(rfq = %event.rfq_id, event = event.kind.name(), "blotter event for an unknown rfq");
                continue;
            };
            if rfq.transaction != transaction {
                undo.push((event.rfq_id.clone(), Some(rfq.clone())));
                rfq.transaction = transaction;
            }
            let seq = rfq.next_seq;
            rfq.next_seq += 1;
            let row = rfq.row;
            let t_ms = event.t_ms as i64;
            // A two-way RFQ's side of the row; NULL: the RFQ's own.
            let side = event.two_way_side.map(|side| side.as_str());
            match &event.kind {
                EventKind::LpQuote(q) => {
                    let id = next_answer.next().expect("an id was reserved per answer");
                    let lp = lp_id(&mut tx, lps, &q.lp).map_err(failed)?;
                    let answer = copy.answers.row(ANSWER_COLUMNS);
                    answer
                        .int(id)
                        .int(row)
                        .int(seq)
                        .int(t_ms)
                        .int(lp)
                        .int(i64::from(q.poll))
                        .int(int(q.latency_ms));
                    decimal_fields(answer, q.price, decimal_text);
                    decimal_fields(answer, q.quantity, decimal_text);
                    answer.int(int(q.valid_for_ms)).null().null();
                    match side {
                        Some(side) => answer.text(side),
                        None => answer.null(),
                    };
                    if let Some(tallies) = tallies.get_mut(row) {
                        tallies.add(&answer_row(
                            id,
                            row,
                            event,
                            lp,
                            q.poll,
                            q.latency_ms,
                            Answered::Quote(q.price),
                        ));
                    }
                    rfq.last_answer = Some(id);
                    rows += 1;
                    continue;
                }
                EventKind::LpError(e) => {
                    let id = next_answer.next().expect("an id was reserved per answer");
                    let lp = lp_id(&mut tx, lps, &e.lp).map_err(failed)?;
                    let answers = copy.answers.row(ANSWER_COLUMNS);
                    answers
                        .int(id)
                        .int(row)
                        .int(seq)
                        .int(t_ms)
                        .int(lp)
                        .int(i64::from(e.poll))
                        .int(int(e.latency_ms))
                        .null()
                        .null()
                        .null()
                        .null()
                        .null()
                        .text(e.kind.as_str())
                        .text(&e.reason);
                    match side {
                        Some(side) => answers.text(side),
                        None => answers.null(),
                    };
                    if let Some(tallies) = tallies.get_mut(row) {
                        tallies.add(&answer_row(
                            id,
                            row,
                            event,
                            lp,
                            e.poll,
                            e.latency_ms,
                            Answered::Failed(Some(e.kind)),
                        ));
                    }
                    rfq.last_answer = Some(id);
                    rows += 1;
                    continue;
                }
                _ => {}
            }
            let at_ms = rfq.started_ms + t_ms * 1000 / rfq.speed_per_mille;
            iso_at_into(second, at_ms, at_text);
            let at = at_text.as_str();
            match &event.kind {
                EventKind::Started(_)
                | EventKind::BlotterError(_)
                | EventKind::LpQuote(_)
                | EventKind::LpError(_) => unreachable!("handled above"),
                EventKind::LpHealth(_) => continue,
                EventKind::ClientQuote(c) => Line::of(&mut copy.client_quotes)
                    .int(row)
                    .int(seq)
                    .int(t_ms)
                    .text(at)
                    .int(at_ms)
                    .text(&c.quote_id)
                    .text(&c.lp)
                    .text(c.side.as_str())
                    .display(c.lp_price)
                    .display(c.client_price)
                    .display(c.markup_bps)
                    .display(c.amount)
                    .display(c.client_pays)
                    .text(c.pays_asset.as_str())
                    .display(c.client_receives)
                    .text(c.receives_asset.as_str())
                    .int(int(c.client_valid_for_ms))
                    .text(c.reason.as_str())
                    .int(i64::from(c.simulated))
                    .end(),
                EventKind::Locked(l) => Line::of(&mut copy.lock_events)
                    .int(row)
                    .int(seq)
                    .int(t_ms)
                    .text(at)
                    .int(at_ms)
                    .text("locked")
                    .text(&l.lp)
                    .display(l.price)
                    .opt_text(l.previous_lp.as_deref())
                    .text(l.reason.as_str())
                    .opt_text(l.corroborated_by.map(|by| by.as_str()))
                    .opt_text(side)
                    .end(),
                // The trust decisions ride with the lock's: the price held
                // back or released, and by whom it was not.
                EventKind::Unverified(u) => Line::of(&mut copy.lock_events)
                    .int(row)
                    .int(seq)
                    .int(t_ms)
                    .text(at)
                    .int(at_ms)
                    .text("unverified")
                    .text(&u.lp)
                    .display(u.price)
                    .null()
                    .null()
                    .null()
                    .opt_text(side)
                    .end(),
                EventKind::Released(r) => Line::of(&mut copy.lock_events)
                    .int(row)
                    .int(seq)
                    .int(t_ms)
                    .text(at)
                    .int(at_ms)
                    .text("released")
                    .text(&r.lp)
                    .display(r.price)
                    .null()
                    .null()
                    .null()
                    .opt_text(side)
                    .end(),
                EventKind::LockExpired(x) => Line::of(&mut copy.lock_events)
                    .int(row)
                    .int(seq)
                    .int(t_ms)
                    .text(at)
                    .int(at_ms)
                    .text("lock_expired")
                    .text(&x.lp)
                    .null()
                    .null()
                    .null()
                    .null()
                    .opt_text(side)
                    .end(),
                EventKind::OrderSent(_)
                | EventKind::OrderRejected(_)
                | EventKind::Filled(_)
                | EventKind::ExecutionUnknown(_)
                | EventKind::NotFilled(_) => {
                    let x = ExecutionRow::of(&event.kind);
                    if rfq.adopted
                        && execution_stored(&mut tx, row, event.kind.name(), &x).map_err(failed)?
                    {
                        tracing::warn!(rfq = %event.rfq_id, event = event.kind.name(), "journal event already in the blotter: not written twice");
                        continue;
                    }
                    let simulated = x.simulated
                        || x.lp
                            .is_some_and(|lp| rfq.simulated_lps.iter().any(|s| s == lp));
                    Line::of(&mut copy.executions)
                        .int(row)
                        .int(seq)
                        .int(t_ms)
                        .text(at)
                        .int(at_ms)
                        .text(event.kind.name())
                        .opt_text(x.order_id)
                        .opt_text(x.quote_id)
                        .opt_text(x.lp)
                        .opt_text(x.venue_ref)
                        .opt_text(x.lp_price.as_deref())
                        .opt_text(x.client_price.as_deref())
                        .opt_text(x.amount.as_deref())
                        .opt_int(x.attempt.map(i64::from))
                        .opt_text(x.reason.as_deref())
                        .opt_int(x.hold_ms)
                        .opt_text(x.client_pays.as_deref())
                        .opt_text(x.pays_asset)
                        .opt_text(x.client_receives.as_deref())
                        .opt_text(x.receives_asset)
                        .opt_text(x.desk_pnl.as_deref())
                        .opt_text(x.pnl_asset)
                        .opt_text(x.venue_order_id)
                        .int(i64::from(simulated))
                        .opt_text(x.client_order_id)
                        .end();
                }
                EventKind::Ended(e) => {
                    let ended = &mut copy.ended;
                    ended.row.push(row);
                    ended.end_seq.push(seq);
                    ended.end_t_ms.push(t_ms);
                    ended.ended_at.push(at.to_string());
                    ended.ended_ms.push(at_ms);
                    ended.end_reason.push(e.reason.as_str().to_string());
                    ended.improvements.push(i64::from(e.improvements));
                    ended
                        .final_quote_id
                        .push(e.quote_id.as_deref().map(str::to_string));
                    ended.final_lp.push(e.lp.as_deref().map(str::to_string));
                    ended
                        .final_client_price
                        .push(e.client_price.map(|p| p.to_string()));
                    ended.outcome.push(e.outcome.as_str().to_string());
                    ended.answers_to.push(rfq.last_answer);
                    if let Some(ended) = tallies.end(row) {
                        for sums in ended.summaries(row) {
                            Line::of(&mut copy.answer_summaries)
                                .int(sums.rfq)
                                .text(sums.side.as_str())
                                .int(sums.lp)
                                .int(sums.first_answer)
                                .int(int(sums.answers))
                                .text(&answer_summary::errors_text(&sums.errors))
                                .text(&answer_summary::latencies_text(&sums.latencies))
                                .display(sums.distance_units)
                                .opt_text(sums.spilled_text().as_deref())
                                .int(int(sums.distances))
                                .end();
                        }
                    }
                    let before = rfqs.remove(&event.rfq_id);
                    undo.push((event.rfq_id.clone(), before));
                }
            }
            rows += 1;
        }
        let formatted = began.elapsed();
        copy_in(
            &mut tx,
            "COPY rfqs (id, rfq_id, side, amount, pair, base, quote, lps, markup_bps,
             threshold_bps, validity_buffer_ms, poll_interval_ms, lp_timeout_ms, duration_ms,
             started_at, started_ms, speed, simulated, speed_per_mille, client, simulated_lps,
             answers_from, desk, operator, channel, fixed, two_way) FROM STDIN",
            copy.rfqs.as_bytes(),
        )?;
        copy_in(
            &mut tx,
            "COPY answers (id, rfq, seq, t_ms, lp, poll, latency_ms, price_packed, price,
             quantity_packed, quantity, valid_for_ms, failure, reason, side)
             FROM STDIN (FORMAT binary)",
            copy.answers.finished(),
        )?;
        copy_in(
            &mut tx,
            "COPY client_quotes (rfq, seq, t_ms, at, at_ms, quote_id, lp, side, lp_price,
             client_price, markup_bps, amount, client_pays, pays_asset, client_receives,
             receives_asset, client_valid_for_ms, reason, simulated) FROM STDIN",
            copy.client_quotes.as_bytes(),
        )?;
        copy_in(
            &mut tx,
            "COPY lock_events (rfq, seq, t_ms, at, at_ms, event, lp, price, previous_lp, reason,
             corroborated_by, side) FROM STDIN",
            copy.lock_events.as_bytes(),
        )?;
        copy_in(
            &mut tx,
            "COPY executions (rfq, seq, t_ms, at, at_ms, event, order_id, quote_id, lp,
             venue_ref, lp_price, client_price, amount, attempt, reason, hold_ms, client_pays,
             pays_asset, client_receives, receives_asset, desk_pnl, pnl_asset, venue_order_id,
             simulated, client_order_id) FROM STDIN",
            copy.executions.as_bytes(),
        )?;
        copy_in(
            &mut tx,
            "COPY lp_health (lp, at, at_ms, state, previous, retry_in_ms, reject_rate, reason,
             throttled, desk) FROM STDIN",
            copy.lp_health.as_bytes(),
        )?;
        let copied = began.elapsed();
        let e = &copy.ended;
        if !e.row.is_empty() {
            tx.execute(
                "UPDATE rfqs r SET end_seq = v.end_seq, end_t_ms = v.end_t_ms,
                 ended_at = v.ended_at, ended_ms = v.ended_ms, end_reason = v.end_reason,
                 improvements = v.improvements, final_quote_id = v.final_quote_id,
                 final_lp = v.final_lp, final_client_price = v.final_client_price,
                 outcome = v.outcome, answers_to = coalesce(v.answers_to, r.answers_from - 1)
                 FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[],
                             $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[],
                             $11::text[], $12::bigint[])
                      AS v(id, end_seq, end_t_ms, ended_at, ended_ms, end_reason, improvements,
                           final_quote_id, final_lp, final_client_price, outcome, answers_to)
                 WHERE r.id = v.id",
                &[
                    &e.row,
                    &e.end_seq,
                    &e.end_t_ms,
                    &e.ended_at,
                    &e.ended_ms,
                    &e.end_reason,
                    &e.improvements,
                    &e.final_quote_id,
                    &e.final_lp,
                    &e.final_client_price,
                    &e.outcome,
                    &e.answers_to,
                ],
            )
            .map_err(failed)?;
        }
        // After the RFQs' rows they refer to.
        copy_in(
            &mut tx,
            "COPY answer_summaries (rfq, side, lp, first_answer, answers, errors, latencies,
             distance_units, distance_spilled, distances) FROM STDIN",
            copy.answer_summaries.as_bytes(),
        )?;
        let updated = began.elapsed();
        tx.commit().map_err(failed)?;
        tracing::debug!(
            answers,
            rows,
            reserve_us = reserved.as_micros() as u64,
            format_us = (formatted - reserved).as_micros() as u64,
            copy_us = (copied - formatted).as_micros() as u64,
            update_us = (updated - copied).as_micros() as u64,
            commit_us = (began.elapsed() - updated).as_micros() as u64,
            "postgres blotter batch"
        );
        *spare_answer_ids = next_answer.spare();
        Ok(Written { rows, orphans })
    }
}

/// The columns of an `answers` row as the writer copies them.
const ANSWER_COLUMNS: i16 = 15;

/// A decimal as two `answers` fields: packed (as SQLite packs it), or, when
/// it does not pack, NULL and its text.
fn decimal_fields(row: &mut BinaryRows, value: rust_decimal::Decimal, text: &mut String) {
    match pack(value) {
        Some(packed) => {
            row.int(packed).null();
        }
        None => {
            text.clear();
            let _ = write!(text, "{value}");
            row.null().text(text);
        }
    }
}

/// The answer ids a batch hands out, in order: what was left of the
/// store's last block, then each new block's.
struct AnswerIds {
    ranges: std::collections::VecDeque<std::ops::Range<i64>>,
}

impl AnswerIds {
    /// `spare` came from an earlier `nextval` than every block, so it goes
    /// first: a desk's answer ids only grow.
    fn new(spare: std::ops::Range<i64>, mut block_starts: Vec<i64>) -> AnswerIds {
        block_starts.sort_unstable();
        let mut ranges: std::collections::VecDeque<_> = std::iter::once(spare)
            .chain(
                block_starts
                    .into_iter()
                    .map(|start| start..start.saturating_add(ANSWER_ID_BLOCK)),
            )
            .collect();
        ranges.retain(|range| !range.is_empty());
        AnswerIds { ranges }
    }

    fn peek(&self) -> Option<i64> {
        self.ranges.front().map(|range| range.start)
    }

    fn next(&mut self) -> Option<i64> {
        let range = self.ranges.front_mut()?;
        let id = range.next()?;
        if range.is_empty() {
            self.ranges.pop_front();
        }
        Some(id)
    }

    /// What is left for the next batch: the rest of the last block (the
    /// batch took as many blocks as it needed, so only the last has any).
    fn spare(self) -> std::ops::Range<i64> {
        self.ranges.into_iter().last().unwrap_or(0..0)
    }
}

/// One COPY of `data` (rows already formatted, text or binary as
/// `statement` says) into a table; nothing for an empty batch.
fn copy_in(tx: &mut Transaction, statement: &str, data: &[u8]) -> Result<(), StoreError> {
    if data.is_empty() {
        return Ok(());
    }
    let mut writer = tx.copy_in(statement).map_err(failed)?;
    if let Err(error) = writer.write_all(data) {
        // The connection broke mid-copy: the server will say why at finish
        // if it can; otherwise it is the I/O error.
        return Err(StoreError::new(Retry::Later, error.to_string()));
    }
    writer.finish().map_err(failed)?;
    Ok(())
}

/// `name`'s `lps.id`, adding it the first time (another desk may have
/// added it already: the row is shared). Looked up before inserting, so
/// a known name takes no id from the sequence.
fn lp_id(
    tx: &mut Transaction,
    known: &mut Vec<(Arc<str>, i64)>,
    name: &Arc<str>,
) -> Result<i64, postgres::Error> {
    if let Some((_, id)) = known
        .iter()
        .find(|(known, _)| Arc::ptr_eq(known, name))
        .or_else(|| known.iter().find(|(known, _)| **known == **name))
    {
        return Ok(*id);
    }
    let select = "SELECT id FROM lps WHERE name = $1";
    let id = match tx.query_opt(select, &[&&**name])? {
        Some(row) => row.get(0),
        None => match tx.query_opt(
            "INSERT INTO lps (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id",
            &[&&**name],
        )? {
            Some(row) => row.get(0),
            None => tx.query_one(select, &[&&**name])?.get(0),
        },
    };
    known.push((name.clone(), id));
    Ok(id)
}

/// The unfinished RFQ `rfq_id` as an earlier run left it (see SQLite's
/// `adopt`).
fn adopt(
    tx: &mut Transaction,
    rfq_id: &str,
    transaction: u64,
) -> Result<Option<Rfq>, postgres::Error> {
    let row = tx.query_opt(
        "SELECT r.id, r.started_ms, r.speed_per_mille,
         greatest(coalesce((SELECT max(seq) FROM answers WHERE rfq = r.id), 0),
                  coalesce((SELECT max(seq) FROM client_quotes WHERE rfq = r.id), 0),
                  coalesce((SELECT max(seq) FROM lock_events WHERE rfq = r.id), 0),
                  coalesce((SELECT max(seq) FROM executions WHERE rfq = r.id), 0)),
         (SELECT max(id) FROM answers WHERE rfq = r.id), r.simulated_lps
         FROM rfqs r WHERE r.rfq_id = $1 AND r.end_seq IS NULL ORDER BY r.id DESC LIMIT 1",
        &[&rfq_id],
    )?;
    Ok(row.map(|row| {
        let simulated: String = row.get(5);
        Rfq {
            row: row.get(0),
            started_ms: row.get(1),
            speed_per_mille: row.get::<_, i64>(2).max(1),
            next_seq: row.get::<_, i64>(3) + 1,
            last_answer: row.get(4),
            transaction,
            adopted: true,
            simulated_lps: serde_json::from_str::<Vec<String>>(&simulated)
                .unwrap_or_default()
                .into(),
        }
    }))
}

/// Whether RFQ row `rfq` already holds this execution event.
fn execution_stored(
    tx: &mut Transaction,
    rfq: i64,
    event: &str,
    row: &ExecutionRow,
) -> Result<bool, postgres::Error> {
    Ok(tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM executions WHERE rfq = $1 AND event = $2
             AND order_id IS NOT DISTINCT FROM $3 AND quote_id IS NOT DISTINCT FROM $4)",
            &[&rfq, &event, &row.order_id, &row.quote_id],
        )?
        .get(0))
}

/// One desk-wide change of an LP's health as its `lp_health` COPY line.
fn health_line(buffer: &mut String, recorded: &RecordedChange, desk: &str) {
    let change = &recorded.change;
    Line::of(buffer)
        .text(&recorded.lp)
        .text(&iso_millis(recorded.at))
        .int(recorded.at.timestamp_millis())
        .text(change.state.as_str())
        .text(change.previous.as_str())
        .opt_int(change.retry_in_ms.map(int))
        .display(change.reject_rate)
        .opt_text(change.reason.as_deref())
        .int(int(change.throttled))
        .text(desk)
        .end();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_end_a_field_or_a_row() {
        let mut buffer = String::new();
        Line::of(&mut buffer)
            .text("a\tb\nc\\d\re")
            .null()
            .int(-7)
            .opt_text(None)
            .end();
        assert_eq!(buffer, "a\\tb\\nc\\\\d\\re\t\\N\t-7\t\\N\n");
    }

    #[test]
    fn answer_ids_use_the_spare_ids_first_then_each_block_and_keep_the_rest() {
        let mut ids = AnswerIds::new(5000..5002, vec![9216, 7168]);
        assert_eq!(ids.peek(), Some(5000));
        let taken: Vec<i64> = (0..4).map_while(|_| ids.next()).collect();
        assert_eq!(taken, [5000, 5001, 7168, 7169]);
        assert_eq!(ids.peek(), Some(7170));
        for _ in 7170..7168 + ANSWER_ID_BLOCK {
            ids.next();
        }
        assert_eq!(ids.peek(), Some(9216), "the next block once one is used up");
        ids.next();
        assert_eq!(ids.spare(), 9217..9216 + ANSWER_ID_BLOCK);
        let none = AnswerIds::new(0..0, Vec::new());
        assert_eq!(none.peek(), None);
        assert_eq!(none.spare(), 0..0);
    }

    #[test]
    fn decimals_go_packed_and_only_what_does_not_pack_as_text() {
        let mut rows = BinaryRows::default();
        let mut text = String::new();
        rows.row(4);
        decimal_fields(&mut rows, rust_decimal_macros::dec!(100000.00), &mut text);
        decimal_fields(&mut rows, rust_decimal_macros::dec!(-1.5), &mut text);
        let mut expected = BinaryRows::default();
        expected
            .row(4)
            .int(10_000_000 * 32 + 2)
            .null()
            .null()
            .text("-1.5");
        assert_eq!(rows.finished(), expected.finished());
    }

    #[test]
    fn refused_values_are_dropped_and_everything_else_is_held() {
        // No server needed: the classes are SQLSTATE's.
        assert_eq!(
            retry_of_code(None),
            Retry::Later,
            "a lost connection passes"
        );
        assert_eq!(
            retry_of_code(Some("23505")),
            Retry::Never,
            "a unique violation is the record's"
        );
        assert_eq!(
            retry_of_code(Some("22021")),
            Retry::Never,
            "bad bytes are the record's"
        );
        assert_eq!(
            retry_of_code(Some("53100")),
            Retry::Later,
            "disk full passes"
        );
        assert_eq!(
            retry_of_code(Some("57P01")),
            Retry::Later,
            "admin shutdown passes"
        );
        assert_eq!(
            retry_of_code(Some("42P01")),
            Retry::Later,
            "a table gone fails closed"
        );
    }
}
