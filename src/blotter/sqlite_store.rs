//! The blotter in SQLite: [`SqliteStore`] writes the records the writer
//! hands it (events and `lp_health` rows; cached statements, LP answers packed by `compact`, wall times
//! derived from each RFQ's start) and keeps the WAL small on a
//! checkpointer thread of its own. The policy around it (batching,
//! holding, retrying) is `writer`'s, the same for every store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::DateTime;
use rusqlite::{params, Connection, TransactionBehavior};

use super::answer_summary::{self, AnswerSummary};
use super::compact;
use super::figures::RfqTallies;
use super::live_tallies::{overdue_at, LiveTallies};
use super::report_rows::{AnswerRow, Answered};
use super::store::{BlotterStore, Record, Retry, StoreError, Written};
use crate::clock::iso_millis;
use crate::lp::guarded::RecordedChange;
use crate::rfq::event::EventKind;

/// What the store remembers about an RFQ whose `started` it stored.
#[derive(Debug, Clone, Copy)]
struct Rfq {
    row: i64,
    started_ms: i64,
    /// Stream ms per 1000 real ms (`--speed` × 1000).
    speed_per_mille: i64,
    next_seq: i64,
    /// The `answers.id` of its latest answer: `rfqs.answers_to` once it ends.
    last_answer: Option<i64>,
    /// The last transaction that changed it (see [`SqliteStore::undo`]).
    transaction: u64,
    /// Carried on from rows an earlier run wrote (a fallback journal
    /// merged at start): an execution row it already holds is not written
    /// twice, so a journal merged again after a crash cannot double a fill.
    adopted: bool,
}

/// LP names and their `lps.id`, as this store met them. A desk has a
/// handful of LPs and every stream shares their names (one `Arc` each), so
/// comparing pointers first and then the few names beats hashing the name
/// for every answer.
#[derive(Debug, Default)]
struct LpIds(Vec<(Arc<str>, i64)>);

impl LpIds {
    fn find(&self, name: &Arc<str>) -> Option<i64> {
        let known = &self.0;
        known
            .iter()
            .find(|(known, _)| Arc::ptr_eq(known, name))
            .or_else(|| known.iter().find(|(known, _)| **known == **name))
            .map(|(_, id)| *id)
    }

    /// `name`'s id, adding it to `lps` the first time (another process may
    /// have added it already: the row is shared).
    fn id(&mut self, tx: &rusqlite::Transaction, name: &Arc<str>) -> rusqlite::Result<i64> {
        if let Some(id) = self.find(name) {
            return Ok(id);
        }
        tx.prepare_cached("INSERT INTO lps (name) VALUES (?1) ON CONFLICT (name) DO NOTHING")?
            .execute([&**name])?;
        let id = tx
            .prepare_cached("SELECT id FROM lps WHERE name = ?1")?
            .query_row([&**name], |row| row.get(0))?;
        self.0.push((name.clone(), id));
        Ok(id)
    }
}

/// The blotter's SQLite file, written by the writer thread that owns this
/// (and so its connection).
pub struct SqliteStore {
    conn: Connection,
    /// RFQs seen in this process, by id (ids are unique within a process;
    /// across processes the row id keeps them apart).
    rfqs: HashMap<Arc<str>, Rfq>,
    /// LP ids known to be committed or written in the open transaction
    /// (a failed transaction forgets the ones it added).
    lps: LpIds,
    /// The transaction being written, counting from 1.
    transaction: u64,
    /// What the open transaction changed in `rfqs`, to put back if it
    /// fails: each RFQ's state before the transaction first changed it
    /// (`None`: it was not there). Cheaper than copying every live RFQ
    /// before each commit (a thousand streams, hundreds of commits a
    /// second).
    undo: Vec<(Arc<str>, Option<Rfq>)>,
    /// The last second formatted, and its `YYYY-MM-DDTHH:MM:SS` text:
    /// events of one second share it, so formatting is not redone per row.
    second: (i64, String),
    /// Reused text buffers for the hot rows (LP answers): formatting into
    /// them allocates nothing once they have grown.
    at_text: String,
    price_text: String,
    quantity_text: String,
    checkpointer: Checkpointer,
    wal_peak_bytes: Arc<AtomicU64>,
    /// The file the connection has open, to compare its path with.
    file: OpenFile,
    /// Written into every RFQ and health row (`--desk-name`; empty when
    /// unnamed).
    desk: String,
    /// The answers of each live RFQ this store wrote from its `started`
    /// on, summed for its `answer_summaries`. A failed batch drops those
    /// of the RFQs it touched: an RFQ is summed only when every answer of
    /// it was written.
    tallies: LiveTallies,
}

impl SqliteStore {
    /// Writes into `conn`, the blotter at `path` already opened and
    /// upgraded (`schema::open`), and starts its checkpointer.
    pub(crate) fn new(conn: Connection, path: &Path) -> SqliteStore {
        let wal_peak_bytes = Arc::new(AtomicU64::new(0));
        let file = OpenFile::at(path);
        let checkpointer =
            Checkpointer::start(path, &conn, file.header.clone(), wal_peak_bytes.clone());
        SqliteStore {
            conn,
            rfqs: HashMap::new(),
            lps: LpIds::default(),
            transaction: 0,
            undo: Vec::new(),
            second: (i64::MIN, String::new()),
            at_text: String::with_capacity(32),
            price_text: String::with_capacity(32),
            quantity_text: String::with_capacity(32),
            checkpointer,
            wal_peak_bytes,
            file,
            desk: String::new(),
            tallies: LiveTallies::default(),
        }
    }

    /// Names this desk on the rows it writes.
    pub(crate) fn for_desk(mut self, desk: &str) -> SqliteStore {
        self.desk = desk.to_string();
        self
    }
}

/// The blotter's file as it was opened: its path, and its identity (device
/// and inode) then. A file removed or replaced under an open connection
/// takes every later commit with it, unseen (SQLite keeps writing the
/// unlinked inode), so the path is compared with it on every check.
struct OpenFile {
    path: PathBuf,
    #[cfg(unix)]
    identity: Option<(u64, u64)>,
    /// A descriptor on the file, opened once and kept for as long as the
    /// store (and its checkpointer) lives, to read its header through.
    /// Never a fresh `open` per check: closing any descriptor on a file
    /// drops every POSIX lock this process holds on it, SQLite's shared
    /// lock included, and another process closing its last connection
    /// then takes the file for its own, checkpoints and deletes the WAL
    /// under this one's feet: commits made after that were lost (seen as
    /// a stream's `ended` missing when two processes shared one file).
    /// Declared after the connection in [`SqliteStore`], so it is closed
    /// after the connection is.
    header: Option<Arc<std::fs::File>>,
}

/// What a database file starts with.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

impl OpenFile {
    fn at(path: &Path) -> OpenFile {
        OpenFile {
            path: path.to_path_buf(),
            #[cfg(unix)]
            identity: identity(path).ok(),
            header: std::fs::File::open(path).ok().map(Arc::new),
        }
    }

    /// Why the file at the path is no longer the one being written, or no
    /// longer a database, if it is not.
    fn trouble(&self) -> Option<String> {
        #[cfg(unix)]
        match (identity(&self.path), self.identity) {
            (Err(error), _) if error.kind() == std::io::ErrorKind::NotFound => {
                return Some(
                    "its file was removed (what is written now would reach no file)".to_string(),
                );
            }
            (Err(error), _) => return Some(format!("its file cannot be looked at: {error}")),
            (Ok(now), Some(opened)) if now != opened => {
                return Some(
                    "its file was replaced by another (what is written now would reach the old one)"
                        .to_string(),
                );
            }
            _ => {}
        }
        self.header.as_deref().and_then(header_trouble)
    }
}

/// Why the open `file` is no longer an SQLite database, if it is not (its
/// first 16 bytes, read in place: see [`OpenFile::header`]).
fn header_trouble(file: &std::fs::File) -> Option<String> {
    let mut header = [0u8; 16];
    #[cfg(unix)]
    let read = std::os::unix::fs::FileExt::read_at(file, &mut header, 0);
    #[cfg(not(unix))]
    let read = std::os::windows::fs::FileExt::seek_read(file, &mut header, 0);
    match read {
        Err(error) => Some(format!("its file cannot be read: {error}")),
        // A database not yet copied out of its WAL may still be empty.
        Ok(0) => None,
        Ok(_) if &header != SQLITE_HEADER => {
            Some("its file is damaged: it is no longer an SQLite database".to_string())
        }
        Ok(_) => None,
    }
}

/// The file's device and inode.
#[cfg(unix)]
fn identity(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

impl BlotterStore for SqliteStore {
    /// On failure the transaction is rolled back, and so is what the store
    /// learnt in it (new LP ids, the RFQs' state).
    fn write_batch<'r>(
        &mut self,
        records: impl Iterator<Item = &'r Record>,
    ) -> Result<Written, StoreError> {
        let lps_known = self.lps.0.len();
        self.transaction += 1;
        self.undo.clear();
        let written = self.write_transaction(records);
        if written.is_err() {
            // `undo` names every RFQ the transaction touched (its first
            // change to each is undone): the others' tallies hold only
            // committed answers and stay.
            for (rfq_id, before) in &self.undo {
                let rows = [
                    before.map(|rfq| rfq.row),
                    self.rfqs.get(rfq_id).map(|rfq| rfq.row),
                ];
                rows.into_iter()
                    .flatten()
                    .for_each(|row| self.tallies.forget(row));
            }
            self.lps.0.truncate(lps_known);
            // Newest change first, so that each RFQ ends as it was before.
            while let Some((rfq_id, before)) = self.undo.pop() {
                match before {
                    Some(rfq) => self.rfqs.insert(rfq_id, rfq),
                    None => self.rfqs.remove(&rfq_id),
                };
            }
        }
        self.tallies.sweep(Instant::now());
        written.map_err(|error| {
            let retry = if is_transient(&error) {
                Retry::Later
            } else {
                Retry::Never
            };
            StoreError::new(retry, error)
        })
    }

    fn log_peak_bytes(&self) -> u64 {
        self.wal_peak_bytes.load(Ordering::Relaxed)
    }

    /// A stat of the path and a read of the file's first 16 bytes: cheap
    /// enough for every [`super::CHECK_EVERY`]. A page damaged further in
    /// shows as SQLITE_CORRUPT at the next commit, which fails closed too.
    fn check(&mut self) -> Result<(), StoreError> {
        let seen = self
            .checkpointer
            .damage
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match seen.or_else(|| self.file.trouble()) {
            Some(trouble) => Err(StoreError::new(Retry::Later, trouble)),
            None => Ok(()),
        }
    }

    fn close(&mut self) {
        self.checkpointer.stop(&self.conn);
    }
}

impl SqliteStore {
    fn write_transaction<'r>(
        &mut self,
        records: impl Iterator<Item = &'r Record>,
    ) -> rusqlite::Result<Written> {
        // IMMEDIATE takes the write lock up front, so another process's
        // writer makes us wait (busy timeout) rather than fail mid-batch.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (mut rows, mut orphans) = (0, 0);
        {
            let mut started = tx.prepare_cached(
                "INSERT INTO rfqs (rfq_id, side, amount, pair, base, quote, lps, markup_bps,
                 threshold_bps, validity_buffer_ms, poll_interval_ms, lp_timeout_ms, duration_ms,
                 started_at, started_ms, speed, simulated, speed_per_mille, client, simulated_lps,
                 operator, channel, fixed, two_way, answers_from, desk)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24,
                 (SELECT coalesce(MAX(id), 0) + 1 FROM answers), ?25)",
            )?;
            // Every answer after this one gets a higher id (ids only grow,
            // whichever process writes), so an RFQ's answers lie between
            // `answers_from`, set here, and `answers_to`, set at its end.
            let mut lp_quote = tx.prepare_cached(
                "INSERT INTO answers (rfq, seq, t_ms, lp, poll, latency_ms, price, quantity,
                 valid_for_ms, side) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut lp_error = tx.prepare_cached(
                "INSERT INTO answers (rfq, seq, t_ms, lp, poll, latency_ms, failure, reason,
                 side) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut client_quote = tx.prepare_cached(
                "INSERT INTO client_quotes (rfq, seq, t_ms, at, at_ms, quote_id, lp, side,
                 lp_price, client_price, markup_bps, amount, client_pays, pays_asset,
                 client_receives, receives_asset, client_valid_for_ms, reason, simulated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 ?17, ?18, ?19)",
            )?;
            let mut lock = tx.prepare_cached(
                "INSERT INTO lock_events (rfq, seq, t_ms, at, at_ms, event, lp, price,
                 previous_lp, reason, corroborated_by, side)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let mut execution = tx.prepare_cached(
                "INSERT INTO executions (rfq, seq, t_ms, at, at_ms, event, order_id, quote_id,
                 lp, venue_ref, lp_price, client_price, amount, attempt, reason, hold_ms,
                 client_pays, pays_asset, client_receives, receives_asset, desk_pnl, pnl_asset,
                 venue_order_id, simulated, client_order_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6,
                 ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22,
                 ?23, ?24 OR EXISTS (SELECT 1 FROM rfqs r, json_each(r.simulated_lps) s
                                     WHERE r.id = ?1 AND s.value = ?9), ?25)",
            )?;
            let mut ended = tx.prepare_cached(
                "UPDATE rfqs SET end_seq = ?2, end_t_ms = ?3, ended_at = ?4, ended_ms = ?5,
                 end_reason = ?6, improvements = ?7, final_quote_id = ?8, final_lp = ?9,
                 final_client_price = ?10, outcome = ?11,
                 answers_to = coalesce(?12, answers_from - 1) WHERE id = ?1",
            )?;
            let mut summary = tx.prepare_cached(
                "INSERT INTO answer_summaries (rfq, side, lp, first_answer, answers, errors,
                 latencies, distance_units, distance_spilled, distances)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;

            for record in records {
                let event = match record {
                    Record::Event(event) => event,
                    Record::Health(change) => {
                        insert_health(&tx, change, &self.desk)?;
                        continue;
                    }
                };
                if matches!(event.kind, EventKind::BlotterError(_)) {
                    // Only shown: it says the blotter itself is failing.
                    continue;
                }
                if let EventKind::Started(s) = &event.kind {
                    let started_ms = DateTime::parse_from_rfc3339(&s.started_at)
                        .map(|at| at.timestamp_millis())
                        .unwrap_or(0);
                    let lps = serde_json::to_string(&s.lps).unwrap_or_default();
                    let simulated_lps = if s.simulated {
                        lps.clone()
                    } else {
                        serde_json::to_string(&s.simulated_lps).unwrap_or_default()
                    };
                    let speed_per_mille = (s.speed * rust_decimal::Decimal::from(1000))
                        .round()
                        .try_into()
                        .unwrap_or(1000i64)
                        .max(1);
                    started.execute(params![
                        event.rfq_id,
                        s.side.as_str(),
                        s.amount.to_string(),
                        s.pair.symbol(),
                        s.pair.base.as_str(),
                        s.pair.quote.as_str(),
                        lps,
                        s.markup_bps.to_string(),
                        s.threshold_bps.to_string(),
                        s.validity_buffer_ms,
                        s.poll_interval_ms,
                        s.lp_timeout_ms,
                        s.duration_ms,
                        s.started_at,
                        started_ms,
                        s.speed.to_string(),
                        s.simulated,
                        speed_per_mille,
                        s.client.as_str(),
                        simulated_lps,
                        s.operator.as_deref(),
                        s.channel.as_str(),
                        s.fixed.as_str(),
                        s.two_way,
                        self.desk,
                    ])?;
                    let row = tx.last_insert_rowid();
                    self.tallies.start(
                        row,
                        RfqTallies::new(s.side, s.two_way, s.lp_timeout_ms),
                        overdue_at(
                            Instant::now(),
                            s.duration_ms,
                            s.lp_timeout_ms,
                            speed_per_mille,
                        ),
                    );
                    let before = self.rfqs.insert(
                        event.rfq_id.clone(),
                        Rfq {
                            row,
                            started_ms,
                            speed_per_mille,
                            next_seq: 1,
                            last_answer: None,
                            transaction: self.transaction,
                            adopted: false,
                        },
                    );
                    self.undo.push((event.rfq_id.clone(), before));
                    rows += 1;
                    continue;
                }
                if !self.rfqs.contains_key(&event.rfq_id) {
                    // Its `started` may be on disk from an earlier run (a
                    // fallback journal merged at start): carry on its rows.
                    if let Some(rfq) = adopt(&tx, &event.rfq_id, self.transaction)? {
                        self.rfqs.insert(event.rfq_id.clone(), rfq);
                        self.undo.push((event.rfq_id.clone(), None));
                    }
                }
                let Some(rfq) = self.rfqs.get_mut(&event.rfq_id) else {
                    // Its `started` never reached this writer: nothing to
                    // attach it to. Not retryable, so not a failed commit.
                    orphans += 1;
                    tracing::warn!(rfq = %event.rfq_id, event = event.kind.name(), "blotter event for an unknown rfq");
                    continue;
                };
                if rfq.transaction != self.transaction {
                    self.undo.push((event.rfq_id.clone(), Some(*rfq)));
                    rfq.transaction = self.transaction;
                }
                let seq = rfq.next_seq;
                rfq.next_seq += 1;
                let row = rfq.row;
                let adopted = rfq.adopted;
                let t_ms = event.t_ms as i64;
                // A two-way RFQ's side of the row; NULL: the RFQ's own.
                let side = event.two_way_side.map(|side| side.as_str());
                // The hot rows: integers and packed decimals, no text to
                // format (their wall time is derived from the RFQ's start).
                match &event.kind {
                    EventKind::LpQuote(q) => {
                        let lp = self.lps.id(&tx, &q.lp)?;
                        lp_quote.execute(params![
                            row,
                            seq,
                            t_ms,
                            lp,
                            q.poll,
                            int(q.latency_ms),
                            compact::encode(q.price, &mut self.price_text),
                            compact::encode(q.quantity, &mut self.quantity_text),
                            int(q.valid_for_ms),
                            side,
                        ])?;
                        let id = tx.last_insert_rowid();
                        rfq.last_answer = Some(id);
                        if let Some(tallies) = self.tallies.get_mut(row) {
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
                        rows += 1;
                        continue;
                    }
                    EventKind::LpError(e) => {
                        let lp = self.lps.id(&tx, &e.lp)?;
                        lp_error.execute(params![
                            row,
                            seq,
                            t_ms,
                            lp,
                            e.poll,
                            int(e.latency_ms),
                            e.kind.as_str(),
                            e.reason,
                            side,
                        ])?;
                        let id = tx.last_insert_rowid();
                        rfq.last_answer = Some(id);
                        if let Some(tallies) = self.tallies.get_mut(row) {
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
                        rows += 1;
                        continue;
                    }
                    _ => {}
                }
                // Wall time of an event = start + stream time / speed.
                let at_ms = rfq.started_ms + t_ms * 1000 / rfq.speed_per_mille;
                let last_answer = rfq.last_answer;
                iso_at_into(&mut self.second, at_ms, &mut self.at_text);
                let at = self.at_text.as_str();
                match &event.kind {
                    EventKind::Started(_)
                    | EventKind::BlotterError(_)
                    | EventKind::LpQuote(_)
                    | EventKind::LpError(_) => {
                        unreachable!("handled above")
                    }
                    // Recorded once per desk (`lp_health` table, from the
                    // health change itself), not once per stream that saw it.
                    EventKind::LpHealth(_) => continue,
                    EventKind::ClientQuote(c) => client_quote.execute(params![
                        row,
                        seq,
                        t_ms,
                        at,
                        at_ms,
                        c.quote_id,
                        c.lp,
                        c.side.as_str(),
                        c.lp_price.to_string(),
                        c.client_price.to_string(),
                        c.markup_bps.to_string(),
                        c.amount.to_string(),
                        c.client_pays.to_string(),
                        c.pays_asset.as_str(),
                        c.client_receives.to_string(),
                        c.receives_asset.as_str(),
                        int(c.client_valid_for_ms),
                        c.reason.as_str(),
                        c.simulated,
                    ])?,
                    EventKind::Locked(l) => lock.execute(params![
                        row,
                        seq,
                        t_ms,
                        at,
                        at_ms,
                        "locked",
                        l.lp,
                        l.price.to_string(),
                        l.previous_lp,
                        l.reason.as_str(),
                        l.corroborated_by.map(|by| by.as_str()),
                        side,
                    ])?,
                    // The trust decisions ride with the lock's: the
                    // price held back or released, and by whom it was not.
                    EventKind::Unverified(u) => lock.execute(params![
                        row,
                        seq,
                        t_ms,
                        at,
                        at_ms,
                        "unverified",
                        u.lp,
                        u.price.to_string(),
                        None::<String>,
                        None::<String>,
                        None::<String>,
                        side,
                    ])?,
                    EventKind::Released(r) => lock.execute(params![
                        row,
                        seq,
                        t_ms,
                        at,
                        at_ms,
                        "released",
                        r.lp,
                        r.price.to_string(),
                        None::<String>,
                        None::<String>,
                        None::<String>,
                        side,
                    ])?,
                    EventKind::LockExpired(x) => lock.execute(params![
                        row,
                        seq,
                        t_ms,
                        at,
                        at_ms,
                        "lock_expired",
                        x.lp,
                        None::<String>,
                        None::<String>,
                        None::<String>,
                        None::<String>,
                        side,
                    ])?,
                    // Execution rows are few (a handful per accepted RFQ),
                    // so plain `to_string` is fine here; NULL marks a field
                    // the event does not have.
                    EventKind::OrderSent(_)
                    | EventKind::OrderRejected(_)
                    | EventKind::Filled(_)
                    | EventKind::ExecutionUnknown(_)
                    | EventKind::NotFilled(_) => {
                        let x = ExecutionRow::of(&event.kind);
                        if adopted && execution_stored(&tx, row, event.kind.name(), &x)? {
                            tracing::warn!(rfq = %event.rfq_id, event = event.kind.name(), "journal event already in the blotter: not written twice");
                            continue;
                        }
                        execution.execute(params![
                            row,
                            seq,
                            t_ms,
                            at,
                            at_ms,
                            event.kind.name(),
                            x.order_id,
                            x.quote_id,
                            x.lp,
                            x.venue_ref,
                            x.lp_price,
                            x.client_price,
                            x.amount,
                            x.attempt,
                            x.reason,
                            x.hold_ms,
                            x.client_pays,
                            x.pays_asset,
                            x.client_receives,
                            x.receives_asset,
                            x.desk_pnl,
                            x.pnl_asset,
                            x.venue_order_id,
                            x.simulated,
                            x.client_order_id,
                        ])?
                    }
                    EventKind::Ended(e) => {
                        let changed = ended.execute(params![
                            row,
                            seq,
                            t_ms,
                            at,
                            at_ms,
                            e.reason.as_str(),
                            e.improvements,
                            e.quote_id,
                            e.lp,
                            e.client_price.map(|p| p.to_string()),
                            e.outcome.as_str(),
                            last_answer,
                        ])?;
                        if let Some(tallies) = self.tallies.end(row) {
                            for sums in tallies.summaries(row) {
                                insert_summary(&mut summary, &sums)?;
                            }
                        }
                        let before = self.rfqs.remove(&event.rfq_id);
                        self.undo.push((event.rfq_id.clone(), before));
                        changed
                    }
                };
                rows += 1;
            }
        }
        tx.commit()?;
        Ok(Written { rows, orphans })
    }
}

/// An answer as the report's answers pass reads it back (`sqlite_rows`,
/// `postgres::rows`): what the RFQ's tallies count.
pub(super) fn answer_row(
    id: i64,
    rfq: i64,
    event: &crate::rfq::RfqEvent,
    lp: i64,
    poll: u32,
    latency_ms: u64,
    answered: Answered,
) -> AnswerRow {
    AnswerRow {
        id,
        rfq,
        t_ms: (event.t_ms as i64).max(0) as u64,
        lp,
        poll,
        latency_ms: int(latency_ms) as u64,
        answered,
        side: event.two_way_side,
    }
}

/// One `answer_summaries` row.
fn insert_summary(
    insert: &mut rusqlite::CachedStatement<'_>,
    sums: &AnswerSummary,
) -> rusqlite::Result<()> {
    insert.execute(params![
        sums.rfq,
        sums.side.as_str(),
        sums.lp,
        sums.first_answer,
        int(sums.answers),
        answer_summary::errors_text(&sums.errors),
        answer_summary::latencies_text(&sums.latencies),
        sums.distance_units.to_string(),
        sums.spilled_text(),
        int(sums.distances),
    ])?;
    Ok(())
}

/// The unfinished RFQ `rfq_id` as an earlier run left it on disk (its
/// last row's seq, its last answer), to write its later events after; `None`
/// when there is none. Rare: only events whose `started` this process did
/// not write (a fallback journal's) come here.
fn adopt(
    tx: &rusqlite::Transaction,
    rfq_id: &str,
    transaction: u64,
) -> rusqlite::Result<Option<Rfq>> {
    use rusqlite::OptionalExtension as _;
    tx.prepare_cached(
        "SELECT r.id, r.started_ms, r.speed_per_mille,
         max(coalesce((SELECT max(seq) FROM answers WHERE rfq = r.id), 0),
             coalesce((SELECT max(seq) FROM client_quotes WHERE rfq = r.id), 0),
             coalesce((SELECT max(seq) FROM lock_events WHERE rfq = r.id), 0),
             coalesce((SELECT max(seq) FROM executions WHERE rfq = r.id), 0)),
         (SELECT max(id) FROM answers WHERE rfq = r.id)
         FROM rfqs r WHERE r.rfq_id = ?1 AND r.end_seq IS NULL ORDER BY r.id DESC LIMIT 1",
    )?
    .query_row([rfq_id], |row| {
        Ok(Rfq {
            row: row.get(0)?,
            started_ms: row.get(1)?,
            speed_per_mille: row.get::<_, i64>(2)?.max(1),
            next_seq: row.get::<_, i64>(3)? + 1,
            last_answer: row.get(4)?,
            transaction,
            adopted: true,
        })
    })
    .optional()
}

/// One desk-wide change of an LP's health as its `lp_health` row. Rare (a
/// breaker opening, a pause, a fade), so plain `to_string` is fine.
fn insert_health(
    tx: &rusqlite::Transaction,
    recorded: &RecordedChange,
    desk: &str,
) -> rusqlite::Result<()> {
    let change = &recorded.change;
    tx.prepare_cached(
        "INSERT INTO lp_health (lp, at, at_ms, state, previous, retry_in_ms, reject_rate,
         reason, throttled, desk) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        &*recorded.lp,
        iso_millis(recorded.at),
        recorded.at.timestamp_millis(),
        change.state.as_str(),
        change.previous.as_str(),
        change.retry_in_ms.map(int),
        change.reject_rate.to_string(),
        change.reason.as_deref(),
        int(change.throttled),
        desk,
    ])?;
    Ok(())
}

/// Failures of the store rather than of a record: ones that may pass
/// (another writer, the disk) and a file that is damaged or gone (which
/// must fail closed, not be taken for records that cannot be written and
/// dropped one by one).
fn is_transient(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{
        CannotOpen, DatabaseBusy, DatabaseCorrupt, DatabaseLocked, DiskFull,
        FileLockingProtocolFailed, NotADatabase, ReadOnly, SystemIoFailure,
    };
    matches!(
        error.sqlite_error_code(),
        Some(
            DatabaseBusy
                | DatabaseLocked
                | SystemIoFailure
                | DiskFull
                | CannotOpen
                | DatabaseCorrupt
                | NotADatabase
                | ReadOnly
                | FileLockingProtocolFailed
        )
    )
}

/// An LP-supplied count as SQLite's signed integer (it cannot store more).
pub(super) fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Copies the WAL back into the database on its own thread and connection.
///
/// SQLite's automatic checkpoint runs inside a commit and ends with an
/// fsync of the database file, which stalls the writer for the disk's
/// flush time several times a second under load. A PASSIVE checkpoint on
/// another connection never blocks the writer, so the writer only ever
/// appends to the WAL. Durability is unchanged: a commit is in the WAL
/// either way.
///
/// A PASSIVE checkpoint never catches up with a writer that keeps
/// appending, so the WAL is never reset and grew to 6.4 GB in a 60 s
/// bench. Once the WAL passes [`WAL_TRUNCATE_AT`] the checkpointer runs a
/// RESTART checkpoint: it holds the writer off for the few frames left
/// after the passive one (bounded by its own short busy timeout), and the
/// next commit writes the WAL from its start, over the pages the file
/// already has (`journal_size_limit` trims it to [`WAL_TRUNCATE_AT`]).
/// A TRUNCATE checkpoint emptied the file instead, and every reset then
/// cost the kernel allocating and zeroing 64 MB of fresh pages as the
/// WAL grew again (half the writer's `pwrite` time at 1000 streams). It
/// also records the WAL's peak size.
struct Checkpointer {
    /// Damage the checkpointer found in the file before copying into it:
    /// it copies nothing more (a checkpoint would write fresh pages over
    /// the damage, hiding it from the writer's check), and the writer's
    /// check reports it.
    damage: Arc<std::sync::Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How often the checkpointer copies the WAL back.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// WAL size past which the checkpointer resets it (RESTART), and the
/// size SQLite trims it to whenever it restarts it (`journal_size_limit`).
pub const WAL_TRUNCATE_AT: u64 = 64 * 1024 * 1024;

impl Checkpointer {
    fn start(
        path: &Path,
        writer: &Connection,
        header: Option<Arc<std::fs::File>>,
        wal_peak_bytes: Arc<AtomicU64>,
    ) -> Checkpointer {
        let stop = Arc::new(AtomicBool::new(false));
        let damage = Arc::new(std::sync::Mutex::new(None));
        let _ = writer.pragma_update(None, "journal_size_limit", WAL_TRUNCATE_AT as i64);
        let checkpoints = Connection::open(path).and_then(|conn| {
            conn.busy_timeout(Duration::from_millis(100))?;
            Ok(conn)
        });
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        let thread = match checkpoints {
            // Only hand checkpoints over once a thread will do them.
            Ok(conn) if writer.pragma_update(None, "wal_autocheckpoint", 0).is_ok() => {
                let stop = stop.clone();
                let damage = damage.clone();
                std::thread::Builder::new()
                    .name("blotter-checkpoint".into())
                    .spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            std::thread::sleep(CHECKPOINT_EVERY);
                            if let Some(trouble) = header.as_deref().and_then(header_trouble) {
                                let mut damage = damage.lock().unwrap_or_else(|p| p.into_inner());
                                damage.get_or_insert(trouble);
                                continue;
                            }
                            let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
                            wal_peak_bytes.fetch_max(size, Ordering::Relaxed);
                            if let Err(error) =
                                conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                            {
                                tracing::debug!(%error, "blotter checkpoint skipped");
                                continue;
                            }
                            if size > WAL_TRUNCATE_AT {
                                if let Err(error) =
                                    conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
                                {
                                    tracing::debug!(%error, "blotter WAL reset skipped");
                                }
                            }
                        }
                    })
                    .ok()
            }
            _ => None,
        };
        if thread.is_none() {
            // Fall back to SQLite's own checkpoints inside commits.
            let _ = writer.pragma_update(None, "wal_autocheckpoint", 1000);
        }
        Checkpointer {
            damage,
            stop,
            thread,
        }
    }

    /// Stops the thread and leaves the database file complete.
    fn stop(&mut self, writer: &Connection) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Err(error) = writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(%error, "final blotter checkpoint skipped");
        }
    }
}

/// [`iso_at`] into a reused buffer.
pub(super) fn iso_at_into(cache: &mut (i64, String), at_ms: i64, buffer: &mut String) {
    use std::fmt::Write as _;
    refresh_second(cache, at_ms);
    buffer.clear();
    let _ = write!(buffer, "{}.{:03}Z", cache.1, at_ms.rem_euclid(1000));
}

fn refresh_second(cache: &mut (i64, String), at_ms: i64) {
    let second = at_ms.div_euclid(1000);
    if cache.0 != second {
        let full = DateTime::from_timestamp_millis(second * 1000)
            .map(iso_millis)
            .unwrap_or_default();
        // Drop ".000Z": the milliseconds are added per row.
        *cache = (
            second,
            full.get(..full.len().saturating_sub(5))
                .unwrap_or("")
                .to_string(),
        );
    }
}

/// `at_ms` as `crate::clock::iso_millis` writes it, reusing the text of
/// the second it falls in.
/// One `executions` row: the columns an execution event has, NULL for
/// the others. Execution rows are few (a handful per accepted RFQ), so
/// plain `to_string` is fine here.
#[derive(Default)]
pub(super) struct ExecutionRow<'a> {
    pub(super) order_id: Option<&'a str>,
    pub(super) quote_id: Option<&'a str>,
    pub(super) lp: Option<&'a str>,
    pub(super) venue_ref: Option<&'a str>,
    pub(super) lp_price: Option<String>,
    pub(super) client_price: Option<String>,
    pub(super) amount: Option<String>,
    pub(super) attempt: Option<u32>,
    pub(super) reason: Option<std::borrow::Cow<'a, str>>,
    pub(super) hold_ms: Option<i64>,
    pub(super) client_pays: Option<String>,
    pub(super) pays_asset: Option<&'a str>,
    pub(super) client_receives: Option<String>,
    pub(super) receives_asset: Option<&'a str>,
    pub(super) desk_pnl: Option<String>,
    pub(super) pnl_asset: Option<&'a str>,
    pub(super) venue_order_id: Option<&'a str>,
    /// The id the venue saw for the order (on `order_sent`).
    pub(super) client_order_id: Option<&'a str>,
    /// The LP behind the order or fill is a simulation (a reject or an
    /// unknown outcome, whose events do not say, is judged by the RFQ's
    /// `simulated_lps` in the insert).
    pub(super) simulated: bool,
}

impl<'a> ExecutionRow<'a> {
    pub(super) fn of(kind: &'a EventKind) -> ExecutionRow<'a> {
        match kind {
            EventKind::OrderSent(o) => ExecutionRow {
                order_id: Some(&o.order_id),
                quote_id: Some(&o.quote_id),
                lp: Some(&o.lp),
                venue_ref: o.venue_ref.as_deref(),
                client_order_id: o.client_order_id.as_deref(),
                lp_price: Some(o.lp_price.to_string()),
                amount: Some(o.amount.to_string()),
                attempt: Some(o.attempt),
                reason: o.preferred_over.as_ref().map(|why| why.describe().into()),
                simulated: o.simulated,
                ..ExecutionRow::default()
            },
            EventKind::OrderRejected(r) => ExecutionRow {
                order_id: Some(&r.order_id),
                lp: Some(&r.lp),
                reason: Some((&*r.reason).into()),
                hold_ms: Some(int(r.hold_ms)),
                ..ExecutionRow::default()
            },
            EventKind::Filled(f) => ExecutionRow {
                order_id: Some(&f.order_id),
                quote_id: Some(&f.quote_id),
                lp: Some(&f.lp),
                lp_price: Some(f.lp_price.to_string()),
                client_price: Some(f.client_price.to_string()),
                amount: Some(f.amount.to_string()),
                hold_ms: Some(int(f.hold_ms)),
                client_pays: Some(f.client_pays.to_string()),
                pays_asset: Some(f.pays_asset.as_str()),
                client_receives: Some(f.client_receives.to_string()),
                receives_asset: Some(f.receives_asset.as_str()),
                desk_pnl: Some(f.desk_pnl.to_string()),
                pnl_asset: Some(f.pnl_asset.as_str()),
                venue_order_id: f.venue_order_id.as_deref(),
                simulated: f.simulated,
                ..ExecutionRow::default()
            },
            EventKind::ExecutionUnknown(u) => ExecutionRow {
                order_id: Some(&u.order_id),
                lp: Some(&u.lp),
                reason: Some((&*u.reason).into()),
                ..ExecutionRow::default()
            },
            EventKind::NotFilled(n) => ExecutionRow {
                quote_id: n.quote_id.as_deref(),
                reason: Some((&*n.reason).into()),
                ..ExecutionRow::default()
            },
            _ => ExecutionRow::default(),
        }
    }
}

/// Whether RFQ row `rfq` already holds this execution event (same event,
/// order and quote ids).
fn execution_stored(
    tx: &rusqlite::Transaction,
    rfq: i64,
    event: &str,
    row: &ExecutionRow,
) -> rusqlite::Result<bool> {
    tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM executions WHERE rfq = ?1 AND event = ?2
         AND order_id IS ?3 AND quote_id IS ?4)",
    )?
    .query_row(params![rfq, event, row.order_id, row.quote_id], |found| {
        found.get(0)
    })
}

#[cfg(test)]
fn iso_at(cache: &mut (i64, String), at_ms: i64) -> String {
    let mut buffer = String::new();
    iso_at_into(cache, at_ms, &mut buffer);
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lp::health::{HealthChange, HealthState};
    use rust_decimal_macros::dec;

    #[tokio::test]
    async fn health_changes_become_lp_health_rows_and_one_sqlite_refuses_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blotter.db");
        let mut conn = Connection::open(&path).unwrap();
        crate::blotter::schema::migrate(&mut conn, crate::blotter::schema::LATEST).unwrap();
        // LP X's rows fail in a way no retry cures; the others are written.
        conn.execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON lp_health WHEN NEW.lp = 'X'
             BEGIN SELECT RAISE(FAIL, 'refused'); END;",
        )
        .unwrap();
        let blotter = crate::blotter::Blotter::open(&path).unwrap();
        let health = blotter.health_sink();
        for (lp, reason) in [("A", None), ("X", None), ("B", Some("5 failures in 30 s"))] {
            health.record(RecordedChange {
                lp: Arc::from(lp),
                at: DateTime::from_timestamp_millis(1_795_345_200_050).unwrap(),
                change: HealthChange {
                    state: HealthState::Down,
                    previous: HealthState::Ok,
                    retry_in_ms: Some(30_000),
                    reject_rate: dec!(10.0),
                    reason: reason.map(Arc::from),
                    throttled: 7,
                },
            });
        }
        let stats = blotter.close().await;
        assert_eq!((stats.rows, stats.lost), (0, 1), "{stats:?}");
        let rows: Vec<String> = conn
            .prepare("SELECT * FROM lp_health ORDER BY id")
            .unwrap()
            .query_map([], |row| {
                Ok(format!(
                    "{} {} {} {} {} {} {:?} {:?} {}",
                    row.get::<_, i64>("id")?,
                    row.get::<_, String>("lp")?,
                    row.get::<_, String>("at")?,
                    row.get::<_, i64>("at_ms")?,
                    row.get::<_, String>("state")?,
                    row.get::<_, String>("previous")?,
                    row.get::<_, Option<i64>>("retry_in_ms")?,
                    row.get::<_, Option<String>>("reason")?,
                    row.get::<_, i64>("throttled")?,
                ) + &format!(" {}", row.get::<_, String>("reject_rate")?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                "1 A 2026-11-22T11:00:00.050Z 1795345200050 down ok Some(30000) None 7 10.0",
                "2 B 2026-11-22T11:00:00.050Z 1795345200050 down ok Some(30000) Some(\"5 failures in 30 s\") 7 10.0",
            ]
        );
    }

    mod tallies {
        use super::*;
        use crate::blotter::report::{self, Answers, Filter};
        use crate::market::{Bps, Side};
        use crate::rfq::event::{EndReason, Ended, LpQuoteEvent, Outcome, Started};
        use crate::rfq::RfqEvent;

        fn event(rfq: &str, t_ms: u64, kind: EventKind) -> Record {
            Record::Event(RfqEvent {
                kind,
                rfq_id: Arc::from(rfq),
                t_ms,
                two_way_side: None,
            })
        }

        /// A 30 s RFQ at speed 1 with a 1 s LP timeout, started at `at`.
        fn started(rfq: &str, at: &str) -> Record {
            started_for(rfq, at, 30_000)
        }

        fn started_for(rfq: &str, at: &str, duration_ms: u64) -> Record {
            event(
                rfq,
                0,
                EventKind::Started(Box::new(Started {
                    side: Side::Buy,
                    two_way: false,
                    amount: dec!(1),
                    pair: "BTCUSDT".parse().unwrap(),
                    fixed: crate::market::Leg::Base,
                    client: crate::rfq::ClientId::house(),
                    operator: None,
                    channel: crate::rfq::Channel::Operator,
                    lps: vec![Arc::from("LP1"), Arc::from("LP2")],
                    markup_bps: Bps::new(dec!(5)).unwrap(),
                    threshold_bps: Bps::new(dec!(1)).unwrap(),
                    validity_buffer_ms: 2_000,
                    poll_interval_ms: 500,
                    lp_timeout_ms: 1_000,
                    duration_ms,
                    speed: dec!(1),
                    started_at: at.to_string(),
                    simulated: true,
                    simulated_lps: Vec::new(),
                })),
            )
        }

        fn quote(
            rfq: &str,
            t_ms: u64,
            lp: &str,
            price: rust_decimal::Decimal,
            latency_ms: u64,
        ) -> Record {
            event(
                rfq,
                t_ms,
                EventKind::LpQuote(LpQuoteEvent {
                    lp: Arc::from(lp),
                    price,
                    quantity: dec!(1),
                    latency_ms,
                    valid_for_ms: 10_000,
                    poll: 1,
                    simulated: true,
                }),
            )
        }

        fn ended(rfq: &str, t_ms: u64) -> Record {
            event(
                rfq,
                t_ms,
                EventKind::Ended(Ended {
                    reason: EndReason::Duration,
                    outcome: Outcome::NotAccepted,
                    improvements: 0,
                    quote_id: None,
                    lp: None,
                    client_price: None,
                    simulated: false,
                }),
            )
        }

        fn row_of(path: &Path, rfq: &str) -> i64 {
            Connection::open(path)
                .unwrap()
                .query_row("SELECT id FROM rfqs WHERE rfq_id = ?1", [rfq], |row| {
                    row.get(0)
                })
                .unwrap()
        }

        fn summaries_of(path: &Path, rfq: &str) -> i64 {
            Connection::open(path)
                .unwrap()
                .query_row(
                    "SELECT count(*) FROM answer_summaries s JOIN rfqs r ON r.id = s.rfq
                     WHERE r.rfq_id = ?1",
                    [rfq],
                    |row| row.get(0),
                )
                .unwrap()
        }

        fn report_as_scanned(path: &Path) -> report::Report {
            let summed = report::load(path, &Filter::default()).unwrap();
            let scanned =
                report::load_split_from(path, &Filter::default(), None, Answers::Scan).unwrap();
            assert_eq!(summed, scanned);
            summed
        }

        #[test]
        fn a_failed_batch_forgets_only_the_tallies_of_the_rfqs_it_touched() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("blotter.db");
            let mut store = fresh_store(&path);
            let first = [
                started("A", "2026-11-22T10:00:00.000Z"),
                started("B", "2026-11-22T10:00:00.000Z"),
                quote("A", 100, "LP1", dec!(100), 100),
                quote("B", 100, "LP1", dec!(100), 100),
            ];
            store.write_batch(first.iter()).unwrap();
            let (a, b) = (row_of(&path, "A"), row_of(&path, "B"));

            // Another process holds the file: the batch fails before its
            // first record, and every tally stays.
            let holder = Connection::open(&path).unwrap();
            holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
            let waiting = [quote("B", 150, "LP2", dec!(101), 150)];
            assert!(store.write_batch(waiting.iter()).is_err());
            assert!(store.tallies.counts(a) && store.tallies.counts(b));
            holder.execute_batch("ROLLBACK").unwrap();

            // A batch that fails on A's second answer touched A only.
            store
                .conn
                .execute_batch(
                    "CREATE TRIGGER refuse BEFORE INSERT ON answers WHEN NEW.latency_ms = 666
                     BEGIN SELECT RAISE(FAIL, 'refused'); END;",
                )
                .unwrap();
            let failing = [
                quote("A", 200, "LP2", dec!(101), 150),
                quote("A", 700, "LP2", dec!(99), 666),
            ];
            assert!(store.write_batch(failing.iter()).is_err());
            assert!(!store.tallies.counts(a) && store.tallies.counts(b));
            store.conn.execute_batch("DROP TRIGGER refuse").unwrap();

            let rest = [
                quote("A", 200, "LP2", dec!(101), 150),
                quote("B", 200, "LP2", dec!(101), 150),
                ended("A", 30_000),
                ended("B", 30_000),
            ];
            let written = store.write_batch(rest.iter()).unwrap();
            assert_eq!((written.rows, written.orphans), (4, 0));
            // B's summary is written at its end (one row per LP); A's
            // answers are scanned.
            assert_eq!((summaries_of(&path, "A"), summaries_of(&path, "B")), (0, 2));
            let report = report_as_scanned(&path);
            let answers: Vec<u64> = report.lps.iter().map(|lp| lp.answers).collect();
            assert_eq!(answers, [2, 2]);
            store.close();
        }

        #[test]
        fn an_rfq_whose_end_never_came_is_no_longer_counted_and_a_late_end_still_lands() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("blotter.db");
            let mut store = fresh_store(&path);
            // The records' own times do not matter (B says it started a
            // day before A): the writer's clock does.
            let first = [
                started("A", "2026-11-22T10:00:00.000Z"),
                started_for("B", "2026-11-21T10:00:00.000Z", 600_000),
                quote("A", 100, "LP1", dec!(100), 100),
            ];
            let before = Instant::now();
            store.write_batch(first.iter()).unwrap();
            let after = Instant::now();
            let (a, b) = (row_of(&path, "A"), row_of(&path, "B"));
            // A is due 31 s after it was written and waited for a minute
            // more; B, 10 minutes long, is not due yet.
            store.tallies.sweep(before + Duration::from_secs(90));
            assert!(store.tallies.counts(a) && store.tallies.counts(b));
            store.tallies.sweep(after + Duration::from_secs(101));
            assert!(!store.tallies.counts(a) && store.tallies.counts(b));

            // Its `ended` arrives after all: its row still ends, unsummed.
            let late = [
                quote("A", 29_000, "LP2", dec!(101), 150),
                ended("A", 30_000),
            ];
            let written = store.write_batch(late.iter()).unwrap();
            assert_eq!((written.rows, written.orphans), (2, 0));
            assert_eq!(summaries_of(&path, "A"), 0);
            let report = report_as_scanned(&path);
            let answers: Vec<u64> = report.lps.iter().map(|lp| lp.answers).collect();
            assert_eq!(answers, [1, 1]);
            assert_eq!(
                report
                    .rfqs
                    .iter()
                    .map(|r| r.rfq_id.as_str())
                    .collect::<Vec<_>>(),
                ["B", "A"]
            );
            store.close();
        }
    }

    /// A store over a fresh blotter at `path`, and its check's text.
    fn fresh_store(path: &Path) -> SqliteStore {
        let conn = crate::blotter::schema::open(path, true, Duration::from_millis(100)).unwrap();
        SqliteStore::new(conn, path)
    }

    fn check_text(store: &mut SqliteStore) -> Option<String> {
        store.check().err().map(|error| error.to_string())
    }

    #[test]
    #[cfg(unix)]
    fn check_notices_the_file_removed_replaced_or_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blotter.db");
        let mut store = fresh_store(&path);
        assert_eq!(check_text(&mut store), None);

        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            check_text(&mut store).as_deref(),
            Some("its file was removed (what is written now would reach no file)")
        );

        std::fs::write(&path, b"another file").unwrap();
        assert_eq!(
            check_text(&mut store).as_deref(),
            Some("its file was replaced by another (what is written now would reach the old one)")
        );
        store.close();

        let path = dir.path().join("overwritten.db");
        let mut store = fresh_store(&path);
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        // Over the file in place: the same inode, no longer a database.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &garbage))
            .unwrap();
        assert_eq!(
            check_text(&mut store).as_deref(),
            Some("its file is damaged: it is no longer an SQLite database")
        );
        store.close();
    }

    #[test]
    fn a_damaged_or_vanished_file_fails_closed_and_only_a_record_sqlite_refuses_is_dropped() {
        use rusqlite::ffi;
        let failure = |code| rusqlite::Error::SqliteFailure(ffi::Error::new(code), None);
        let held = [
            ffi::SQLITE_CORRUPT,
            ffi::SQLITE_NOTADB,
            ffi::SQLITE_FULL,
            ffi::SQLITE_IOERR,
            ffi::SQLITE_READONLY,
            ffi::SQLITE_CANTOPEN,
            ffi::SQLITE_BUSY,
        ];
        for code in held {
            assert!(
                is_transient(&failure(code)),
                "code {code} must hold the records"
            );
        }
        for code in [
            ffi::SQLITE_CONSTRAINT,
            ffi::SQLITE_TOOBIG,
            ffi::SQLITE_MISMATCH,
        ] {
            assert!(
                !is_transient(&failure(code)),
                "code {code} is the record's fault"
            );
        }
    }

    #[test]
    fn cached_seconds_format_like_iso_millis() {
        let mut cache = (i64::MIN, String::new());
        for at_ms in [
            1_795_345_200_050,
            1_795_345_200_999,
            1_795_345_201_000,
            0,
            -1,
        ] {
            let expected = DateTime::from_timestamp_millis(at_ms)
                .map(iso_millis)
                .unwrap();
            assert_eq!(iso_at(&mut cache, at_ms), expected);
        }
    }
}
