//! Reading stored streams back as the events that produced them, in their
//! original order: what tests compare with the `--json` output, and a way
//! to replay a past RFQ.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use rusqlite::{params, Connection, OpenFlags, Row};
use rust_decimal::Decimal;

use super::{compact, schema, BlotterError};
use crate::market::{Asset, Bps, Pair, Side};
use crate::rfq::event::{
    ClientQuote, EndReason, Ended, EventKind, ExecutionUnknown, FailureKind, Filled, LockExpired,
    LockReason, Locked, LpErrorEvent, LpQuoteEvent, NotFilled, OrderRejected, OrderSent, Outcome,
    QuoteReason, Released, Started, Unverified,
};
use crate::rfq::{ClientId, RfqEvent};

/// One stored RFQ with its events in stream order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRfq {
    /// The `rfqs.id` row (RFQ ids may repeat across processes; rows never).
    pub(crate) row: i64,
    pub events: Vec<RfqEvent>,
}

/// Why a blotter could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Blotter(#[from] BlotterError),
    /// An empty file, a file that is not SQLite, or an SQLite file without
    /// lp-rfq's tables.
    #[error("'{}' is not a blotter: {why}", path.display())]
    NotABlotter { path: PathBuf, why: &'static str },
    /// `--lp` names an LP that no stored RFQ asked.
    #[error("LP '{lp}' never appears in blotter '{}' (LPs seen: {})", path.display(), if seen.is_empty() { "none".to_string() } else { seen.join(", ") })]
    UnknownLp {
        lp: String,
        path: PathBuf,
        seen: Vec<String>,
    },
}

/// Opens an existing blotter for reading without ever creating or
/// changing a file: SQLite's read-only mode, so a read-only file works
/// and a missing one stays missing. A blotter written by an older lp-rfq
/// is read as it is: its rows are copied into memory and the copy (never
/// the file) is brought to the current schema, so the report reads one
/// shape. A newer schema is refused like the writer refuses it.
pub(crate) fn open_read_only(path: &Path) -> Result<Connection, ReadError> {
    open_for_reading(path).map(|(conn, _)| conn)
}

/// What a read connection reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reads {
    /// The file itself: other connections can open it too ([`reopen`]).
    TheFile,
    /// A private copy brought to the current schema.
    AnUpgradedCopy,
}

/// [`open_read_only`], saying whether the connection reads the file.
pub(super) fn open_for_reading(path: &Path) -> Result<(Connection, Reads), ReadError> {
    if !path.exists() {
        return Err(BlotterError::Missing {
            path: path.to_path_buf(),
        }
        .into());
    }
    let not_a_blotter = |why| ReadError::NotABlotter {
        path: path.to_path_buf(),
        why,
    };
    if std::fs::metadata(path).is_ok_and(|meta| meta.len() == 0) {
        return Err(not_a_blotter("the file is empty"));
    }
    let cannot = |source| BlotterError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open_with_flags(
        read_only_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(cannot)?;
    // The first statement that reads the file: a non-database fails here.
    let version: u32 = match conn.query_row("PRAGMA user_version", [], |row| row.get(0)) {
        Ok(version) => version,
        Err(error) if error.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            return Err(not_a_blotter("it is not an SQLite database"))
        }
        Err(error) => return Err(cannot(error).into()),
    };
    if version == 0 {
        return Err(not_a_blotter(
            "it is an SQLite database without lp-rfq's tables",
        ));
    }
    if version > schema::LATEST {
        return Err(BlotterError::TooNew {
            path: path.to_path_buf(),
            found: version,
            supported: schema::LATEST,
        }
        .into());
    }
    if version == schema::LATEST {
        return Ok((conn, Reads::TheFile));
    }
    drop(conn);
    let copy = upgraded_copy(path, version).map_err(|source| BlotterError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((copy, Reads::AnUpgradedCopy))
}

/// Another read-only connection on a current blotter that
/// [`open_for_reading`] already checked (a worker of the report's answers
/// pass).
pub(super) fn reopen(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        read_only_uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// A private copy of the older blotter at `path` (schema `version`),
/// brought to the current schema. The file is attached read-only. The copy
/// is SQLite's temporary database (an empty file name): its pages spill to
/// a temporary file that SQLite removes on close, so reading an old blotter
/// of millions of answers costs disk for a while, not memory.
fn upgraded_copy(path: &Path, version: u32) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open("")?;
    conn.execute("ATTACH DATABASE ?1 AS old", [read_only_uri(path)])?;
    let objects: Vec<(String, String, String)> = {
        let mut select = conn.prepare(
            "SELECT type, name, sql FROM old.sqlite_master
             WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
             ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid",
        )?;
        let rows = select.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (kind, name, sql) in &objects {
        conn.execute_batch(sql)?;
        if kind == "table" {
            let name = name.replace('"', "\"\"");
            conn.execute_batch(&format!(
                "INSERT INTO main.\"{name}\" SELECT * FROM old.\"{name}\""
            ))?;
        }
    }
    conn.execute_batch("DETACH DATABASE old")?;
    conn.pragma_update(None, "user_version", version)?;
    schema::migrate(&mut conn, schema::LATEST).map_err(|error| match error {
        schema::MigrateError::Sql(error) => error,
        schema::MigrateError::TooNew(_) => rusqlite::Error::InvalidQuery,
    })?;
    Ok(conn)
}

/// The URI that reads `path` without creating a file. A blotter is in WAL
/// mode, and SQLite creates the `-wal` and `-shm` files beside it even for
/// a read-only connection when they are missing (and cannot remove them
/// afterwards). They are missing only when no writer has the file open
/// (the last writer to close folds the WAL into the file and removes
/// both), so then the file alone holds every commit and is read as
/// immutable; while a writer runs they exist and are read as they are.
fn read_only_uri(path: &Path) -> String {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let immutable = !Path::new(&wal).exists();
    let mut uri = format!("file:{}?mode=ro", url_path(path));
    if immutable {
        uri.push_str("&immutable=1");
    }
    uri
}

/// `path` escaped for an SQLite URI.
fn url_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'%' | b'?' | b'#' | 0x80.. => out.push_str(&format!("%{byte:02X}")),
            _ => out.push(byte as char),
        }
    }
    out
}

/// Every RFQ in the blotter at `path`, oldest row first. The file is only
/// read (an older schema is read through an upgraded copy in memory).
pub fn stored_rfqs(path: &Path) -> Result<Vec<StoredRfq>, ReadError> {
    let conn = open_read_only(path)?;
    read_all(&conn).map_err(|source| {
        BlotterError::Read {
            path: path.to_path_buf(),
            source,
        }
        .into()
    })
}

/// Every RFQ in the blotter `at`, oldest row first: an SQLite file (as
/// [`stored_rfqs`]) or a PostgreSQL database, whose streams are copied
/// into a private SQLite copy and read by the same reader, so a stream
/// replays to the same events from either store. Nothing is written to
/// the database, and one older than this lp-rfq's schema is refused.
pub fn stored_rfqs_at(at: &super::BlotterAt) -> Result<Vec<StoredRfq>, ReadError> {
    match at {
        super::BlotterAt::File(path) => stored_rfqs(path),
        super::BlotterAt::Postgres(url) => super::postgres::off_runtime(|| {
            let conn = super::postgres::replay::stream_copy(url).map_err(|error| match error {
                super::postgres::replay::CopyError::Database(error) => error,
                super::postgres::replay::CopyError::Sqlite(source) => BlotterError::Read {
                    path: at.name(),
                    source,
                },
            })?;
            read_all(&conn).map_err(|source| {
                BlotterError::Read {
                    path: at.name(),
                    source,
                }
                .into()
            })
        }),
    }
}

/// A stored text column that should hold one of our values and does not.
fn bad(column: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("{column} '{value}' is not valid").into(),
    )
}

fn decimal(row: &Row, column: &str) -> rusqlite::Result<Decimal> {
    let text: String = row.get(column)?;
    Decimal::from_str(&text).map_err(|_| bad(column, &text))
}

fn bps(row: &Row, column: &str) -> rusqlite::Result<Bps> {
    let text: String = row.get(column)?;
    Decimal::from_str(&text)
        .ok()
        .and_then(Bps::new)
        .ok_or_else(|| bad(column, &text))
}

fn side(row: &Row, column: &str) -> rusqlite::Result<Side> {
    let text: String = row.get(column)?;
    text.parse().map_err(|_| bad(column, &text))
}

/// A two-way RFQ's side of a row (`side`, NULL on a one-sided RFQ's).
fn opt_side(row: &Row, column: usize) -> rusqlite::Result<Option<Side>> {
    match row.get::<_, Option<String>>(column)? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| bad("side", &text)),
    }
}

fn asset_of(pair: &Pair, row: &Row, column: &str) -> rusqlite::Result<Asset> {
    let text: String = row.get(column)?;
    [pair.base, pair.quote]
        .into_iter()
        .find(|asset| asset.as_str() == text)
        .ok_or_else(|| bad(column, &text))
}

fn parse_enum<T>(
    row: &Row,
    column: &str,
    from_wire: impl Fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    from_wire(&text).ok_or_else(|| bad(column, &text))
}

use super::report_rows::ClientFill;

/// Every fill recorded at or after `since_ms` on `conn` (SQLite's
/// [`super::report_rows::ReportRows::client_fills`]).
pub(super) fn client_fills(conn: &Connection, since_ms: i64) -> rusqlite::Result<Vec<ClientFill>> {
    let mut select = conn.prepare(
        "SELECT client, pair, quote,
                CASE WHEN pays_asset = quote THEN client_pays ELSE client_receives END
                    AS notional
         FROM fills WHERE at_ms >= ?1 ORDER BY at_ms",
    )?;
    let fills = select
        .query_map([since_ms], |row| {
            let pair: Pair = {
                let text: String = row.get("pair")?;
                text.parse().map_err(|_| bad("pair", &text))?
            };
            Ok(ClientFill {
                client: client(row)?,
                asset: asset_of(&pair, row, "quote")?,
                notional: decimal(row, "notional")?,
            })
        })?
        .collect();
    fills
}

/// Who the request was for (`house` for every RFQ stored before the
/// column was).
fn client(row: &Row) -> rusqlite::Result<ClientId> {
    let text: String = row.get("client")?;
    ClientId::new(&text).map_err(|_| bad("client", &text))
}

fn arc(row: &Row, column: &str) -> rusqlite::Result<Arc<str>> {
    Ok(Arc::from(row.get::<_, String>(column)?))
}

fn opt_arc(row: &Row, column: &str) -> rusqlite::Result<Option<Arc<str>>> {
    Ok(row.get::<_, Option<String>>(column)?.map(Arc::from))
}

/// Every LP name by its `lps.id`.
pub(super) fn lp_names(conn: &Connection) -> rusqlite::Result<HashMap<i64, Arc<str>>> {
    let mut select = conn.prepare("SELECT id, name FROM lps")?;
    let rows = select.query_map([], |row| {
        Ok((row.get(0)?, Arc::from(row.get::<_, String>(1)?)))
    })?;
    rows.collect()
}

/// A stored decimal of an answer (packed integer or text).
fn packed_decimal(row: &Row, index: usize, column: &str) -> rusqlite::Result<Decimal> {
    let value = row.get_ref(index)?;
    compact::decode(value).ok_or_else(|| match value.as_str() {
        Ok(text) => bad(column, text),
        Err(_) => bad(column, &format!("{value:?}")),
    })
}

/// Every stored RFQ, replayed.
pub(crate) fn read_all(conn: &Connection) -> rusqlite::Result<Vec<StoredRfq>> {
    let lps = lp_names(conn)?;
    let lp_name = |id: i64| {
        lps.get(&id)
            .cloned()
            .ok_or_else(|| bad("lp", &id.to_string()))
    };
    // One RFQ's answers: its id range, so the scan stays within the rows
    // written while it ran.
    let mut answers_of = conn.prepare(
        "SELECT seq, t_ms, lp, poll, latency_ms, price, quantity, valid_for_ms, failure, reason,
                side
         FROM answers WHERE id >= ?1 AND id <= ?2 AND rfq = ?3",
    )?;
    let mut rfqs = Vec::new();
    let mut select = conn.prepare("SELECT * FROM rfqs ORDER BY id")?;
    let mut rows = select.query([])?;
    while let Some(row) = rows.next()? {
        let rfq_id = arc(row, "rfq_id")?;
        let pair_text = format!(
            "{}/{}",
            row.get::<_, String>("base")?,
            row.get::<_, String>("quote")?
        );
        let pair: Pair = pair_text.parse().map_err(|_| bad("pair", &pair_text))?;
        let lps_text: String = row.get("lps")?;
        let lps: Vec<String> =
            serde_json::from_str(&lps_text).map_err(|_| bad("lps", &lps_text))?;
        let simulated_text: String = row.get("simulated_lps")?;
        let simulated_lps: Vec<Arc<str>> = serde_json::from_str::<Vec<String>>(&simulated_text)
            .map_err(|_| bad("simulated_lps", &simulated_text))?
            .into_iter()
            .map(Arc::from)
            .collect();
        let every_lp_simulated: bool = row.get("simulated")?;
        let is_simulated = |lp: &str| simulated_lps.iter().any(|name| &**name == lp);
        let two_way: bool = row.get("two_way")?;
        let started = Started {
            side: side(row, "side")?,
            amount: decimal(row, "amount")?,
            pair,
            client: client(row)?,
            // A file from before schema version 10 has no operator column.
            operator: row
                .get::<_, Option<String>>("operator")
                .ok()
                .flatten()
                .map(Arc::from),
            // Before schema version 11 every RFQ was an operator's.
            channel: match row
                .get::<_, Option<String>>("channel")
                .ok()
                .flatten()
                .as_deref()
            {
                Some("ws") => crate::rfq::Channel::Ws,
                Some("fix") => crate::rfq::Channel::Fix,
                _ => crate::rfq::Channel::Operator,
            },
            // A file from before schema version 11 has no fixed column:
            // every RFQ then was for a base amount.
            fixed: row
                .get::<_, Option<String>>("fixed")
                .ok()
                .flatten()
                .and_then(|text| crate::market::Leg::from_wire(&text))
                .unwrap_or_default(),
            lps: lps.into_iter().map(Arc::from).collect(),
            markup_bps: bps(row, "markup_bps")?,
            threshold_bps: bps(row, "threshold_bps")?,
            validity_buffer_ms: row.get("validity_buffer_ms")?,
            poll_interval_ms: row.get("poll_interval_ms")?,
            lp_timeout_ms: row.get("lp_timeout_ms")?,
            duration_ms: row.get("duration_ms")?,
            speed: decimal(row, "speed")?,
            started_at: row.get("started_at")?,
            simulated: every_lp_simulated,
            simulated_lps: if every_lp_simulated {
                Vec::new()
            } else {
                simulated_lps.clone()
            },
            two_way,
        };
        let id: i64 = row.get("id")?;
        let mut events: Vec<(i64, RfqEvent)> = vec![(
            0,
            RfqEvent {
                kind: EventKind::Started(Box::new(started)),
                rfq_id: rfq_id.clone(),
                t_ms: 0,
                two_way_side: None,
            },
        )];
        // On a two-way RFQ every event but its `started` and `ended`
        // belongs to one side.
        let event = |kind, t_ms, two_way_side| RfqEvent {
            kind,
            rfq_id: rfq_id.clone(),
            t_ms,
            two_way_side,
        };
        let from: i64 = row.get("answers_from")?;
        let to: i64 = row.get::<_, Option<i64>>("answers_to")?.unwrap_or(i64::MAX);
        let mut answers = answers_of.query(params![from, to, id])?;
        while let Some(answer) = answers.next()? {
            let lp = lp_name(answer.get(2)?)?;
            let poll = answer.get(3)?;
            let latency_ms = answer.get(4)?;
            let kind = match answer.get::<_, Option<String>>(8)? {
                None => EventKind::LpQuote(LpQuoteEvent {
                    simulated: is_simulated(&lp),
                    lp,
                    price: packed_decimal(answer, 5, "price")?,
                    quantity: packed_decimal(answer, 6, "quantity")?,
                    latency_ms,
                    valid_for_ms: answer.get(7)?,
                    poll,
                }),
                Some(failure) => EventKind::LpError(LpErrorEvent {
                    lp,
                    kind: FailureKind::from_wire(&failure)
                        .ok_or_else(|| bad("failure", &failure))?,
                    reason: answer.get(9)?,
                    latency_ms,
                    poll,
                }),
            };
            let two_way_side = opt_side(answer, 10)?;
            events.push((answer.get(0)?, event(kind, answer.get(1)?, two_way_side)));
        }
        // Which side issued each client quote, so that an execution row
        // (which names the quote, or follows the order that did) is put
        // on its side.
        let quote_sides = std::cell::RefCell::new(HashMap::new());
        read_table(conn, "client_quotes", id, &mut events, |row| {
            let quote_side = side(row, "side")?;
            if two_way {
                quote_sides
                    .borrow_mut()
                    .insert(row.get::<_, String>("quote_id")?, quote_side);
            }
            Ok(event(
                EventKind::ClientQuote(Box::new(ClientQuote {
                    quote_id: arc(row, "quote_id")?,
                    lp: arc(row, "lp")?,
                    side: side(row, "side")?,
                    lp_price: decimal(row, "lp_price")?,
                    client_price: decimal(row, "client_price")?,
                    markup_bps: bps(row, "markup_bps")?,
                    amount: decimal(row, "amount")?,
                    client_pays: decimal(row, "client_pays")?,
                    pays_asset: asset_of(&pair, row, "pays_asset")?,
                    client_receives: decimal(row, "client_receives")?,
                    receives_asset: asset_of(&pair, row, "receives_asset")?,
                    client_valid_for_ms: row.get("client_valid_for_ms")?,
                    reason: parse_enum(row, "reason", QuoteReason::from_wire)?,
                    simulated: row.get("simulated")?,
                })),
                row.get("t_ms")?,
                two_way.then_some(quote_side),
            ))
        })?;
        read_table(conn, "lock_events", id, &mut events, |row| {
            let kind = match row.get::<_, String>("event")?.as_str() {
                "locked" => EventKind::Locked(Locked {
                    simulated: is_simulated(&row.get::<_, String>("lp")?),
                    lp: arc(row, "lp")?,
                    price: decimal(row, "price")?,
                    previous_lp: opt_arc(row, "previous_lp")?,
                    reason: parse_enum(row, "reason", LockReason::from_wire)?,
                    corroborated_by: match row.get::<_, Option<String>>("corroborated_by")? {
                        Some(text) => Some(
                            crate::rfq::sanity::Corroboration::from_wire(&text)
                                .ok_or_else(|| bad("corroborated_by", &text))?,
                        ),
                        None => None,
                    },
                }),
                "unverified" => EventKind::Unverified(Unverified {
                    lp: arc(row, "lp")?,
                    price: decimal(row, "price")?,
                }),
                "released" => EventKind::Released(Released {
                    lp: arc(row, "lp")?,
                    price: decimal(row, "price")?,
                }),
                _ => EventKind::LockExpired(LockExpired {
                    lp: arc(row, "lp")?,
                }),
            };
            let two_way_side = opt_side(row, row.as_ref().column_index("side")?)?;
            Ok(event(kind, row.get("t_ms")?, two_way_side))
        })?;
        let quote_sides = quote_sides.into_inner();
        let execution_side = std::cell::Cell::new(None);
        // An outcome learned from the venue after the stream (a
        // reconciled row) was never one of its events: a replay shows the
        // stream as it ran.
        let stream_executions = "(SELECT * FROM executions WHERE reconciled_by IS NULL)";
        read_table(conn, stream_executions, id, &mut events, |row| {
            let event_name: String = row.get("event")?;
            let kind = match event_name.as_str() {
                "order_sent" => EventKind::OrderSent(Box::new(OrderSent {
                    lp: arc(row, "lp")?,
                    order_id: arc(row, "order_id")?,
                    quote_id: arc(row, "quote_id")?,
                    venue_ref: opt_arc(row, "venue_ref")?,
                    client_order_id: opt_arc(row, "client_order_id")?,
                    lp_price: decimal(row, "lp_price")?,
                    amount: decimal(row, "amount")?,
                    attempt: row.get("attempt")?,
                    // Kept as text in `reason`; not rebuilt.
                    preferred_over: None,
                    simulated: row.get("simulated")?,
                })),
                "order_rejected" => EventKind::OrderRejected(OrderRejected {
                    lp: arc(row, "lp")?,
                    order_id: arc(row, "order_id")?,
                    reason: row.get("reason")?,
                    hold_ms: row.get("hold_ms")?,
                }),
                "filled" => EventKind::Filled(Box::new(Filled {
                    lp: arc(row, "lp")?,
                    order_id: arc(row, "order_id")?,
                    quote_id: arc(row, "quote_id")?,
                    lp_price: decimal(row, "lp_price")?,
                    client_price: decimal(row, "client_price")?,
                    amount: decimal(row, "amount")?,
                    client_pays: decimal(row, "client_pays")?,
                    pays_asset: asset_of(&pair, row, "pays_asset")?,
                    client_receives: decimal(row, "client_receives")?,
                    receives_asset: asset_of(&pair, row, "receives_asset")?,
                    desk_pnl: decimal(row, "desk_pnl")?,
                    pnl_asset: asset_of(&pair, row, "pnl_asset")?,
                    hold_ms: row.get("hold_ms")?,
                    venue_order_id: opt_arc(row, "venue_order_id")?,
                    simulated: row.get("simulated")?,
                })),
                "execution_unknown" => EventKind::ExecutionUnknown(ExecutionUnknown {
                    lp: arc(row, "lp")?,
                    order_id: arc(row, "order_id")?,
                    reason: row.get("reason")?,
                }),
                "not_filled" => EventKind::NotFilled(NotFilled {
                    quote_id: opt_arc(row, "quote_id")?,
                    reason: row.get("reason")?,
                }),
                _ => return Err(bad("event", &event_name)),
            };
            if let Some(quote_id) = row.get::<_, Option<String>>("quote_id")? {
                if let Some(&side) = quote_sides.get(&quote_id) {
                    execution_side.set(Some(side));
                }
            }
            Ok(event(kind, row.get("t_ms")?, execution_side.get()))
        })?;
        if let Some(end_seq) = row.get::<_, Option<i64>>("end_seq")? {
            let final_lp = opt_arc(row, "final_lp")?;
            let client_price = match row.get::<_, Option<String>>("final_client_price")? {
                Some(_) => Some(decimal(row, "final_client_price")?),
                None => None,
            };
            events.push((
                end_seq,
                event(
                    EventKind::Ended(Ended {
                        reason: parse_enum(row, "end_reason", EndReason::from_wire)?,
                        outcome: parse_enum(row, "outcome", Outcome::from_wire)?,
                        improvements: row.get("improvements")?,
                        quote_id: opt_arc(row, "final_quote_id")?,
                        simulated: final_lp.as_deref().is_some_and(is_simulated),
                        lp: final_lp,
                        client_price,
                    }),
                    row.get("end_t_ms")?,
                    None,
                ),
            ));
        }
        events.sort_by_key(|(seq, _)| *seq);
        rfqs.push(StoredRfq {
            row: id,
            events: events.into_iter().map(|(_, event)| event).collect(),
        });
    }
    Ok(rfqs)
}

fn read_table(
    conn: &Connection,
    table: &str,
    rfq: i64,
    into: &mut Vec<(i64, RfqEvent)>,
    build: impl Fn(&Row) -> rusqlite::Result<RfqEvent>,
) -> rusqlite::Result<()> {
    let mut select = conn.prepare_cached(&format!("SELECT * FROM {table} WHERE rfq = ?1"))?;
    let mut rows = select.query([rfq])?;
    while let Some(row) = rows.next()? {
        into.push((row.get("seq")?, build(row)?));
    }
    Ok(())
}
