//! Reading stored streams back as the events that produced them, in their
//! original order: what tests compare with the `--json` output, and a way
//! to replay a past RFQ.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags, Row};
use rust_decimal::Decimal;

use super::BlotterError;
use crate::market::{Asset, Bps, Pair, Side};
use crate::rfq::event::{
    ClientQuote, EndReason, Ended, EventKind, ExecutionUnknown, FailureKind, Filled, LockExpired,
    LockReason, Locked, LpErrorEvent, LpQuoteEvent, NotFilled, OrderRejected, OrderSent, Outcome,
    QuoteReason, Started,
};
use crate::rfq::RfqEvent;

/// One stored RFQ with its events in stream order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRfq {
    /// The `rfqs.id` row (RFQ ids may repeat across processes; rows never).
    pub row: i64,
    pub events: Vec<RfqEvent>,
}

/// Opens an existing blotter read-only.
pub fn open_read_only(path: &Path) -> Result<Connection, BlotterError> {
    if !path.exists() {
        return Err(BlotterError::Missing {
            path: path.to_path_buf(),
        });
    }
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
            BlotterError::Open {
                path: path.to_path_buf(),
                source,
            }
        })?;
    Ok(conn)
}

/// Every RFQ in the blotter at `path`, oldest row first.
pub fn stored_rfqs(path: &Path) -> Result<Vec<StoredRfq>, BlotterError> {
    // Upgraded first when older: the replay reads the current tables.
    let conn = super::report::open(path)?;
    read_all(&conn).map_err(|source| BlotterError::Read {
        path: path.to_path_buf(),
        source,
    })
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

fn arc(row: &Row, column: &str) -> rusqlite::Result<Arc<str>> {
    Ok(Arc::from(row.get::<_, String>(column)?))
}

fn opt_arc(row: &Row, column: &str) -> rusqlite::Result<Option<Arc<str>>> {
    Ok(row.get::<_, Option<String>>(column)?.map(Arc::from))
}

/// Every stored RFQ, replayed.
pub fn read_all(conn: &Connection) -> rusqlite::Result<Vec<StoredRfq>> {
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
        let started = Started {
            side: side(row, "side")?,
            amount: decimal(row, "amount")?,
            pair,
            lps: lps.into_iter().map(Arc::from).collect(),
            markup_bps: bps(row, "markup_bps")?,
            threshold_bps: bps(row, "threshold_bps")?,
            validity_buffer_ms: row.get("validity_buffer_ms")?,
            poll_interval_ms: row.get("poll_interval_ms")?,
            lp_timeout_ms: row.get("lp_timeout_ms")?,
            duration_ms: row.get("duration_ms")?,
            speed: decimal(row, "speed")?,
            started_at: row.get("started_at")?,
            simulated: row.get("simulated")?,
        };
        let id: i64 = row.get("id")?;
        let mut events: Vec<(i64, RfqEvent)> = vec![(
            0,
            RfqEvent {
                kind: EventKind::Started(Box::new(started)),
                rfq_id: rfq_id.clone(),
                t_ms: 0,
            },
        )];
        let event = |kind, t_ms| RfqEvent {
            kind,
            rfq_id: rfq_id.clone(),
            t_ms,
        };
        read_table(conn, "lp_quotes", id, &mut events, |row| {
            Ok(event(
                EventKind::LpQuote(LpQuoteEvent {
                    lp: arc(row, "lp")?,
                    price: decimal(row, "price")?,
                    quantity: decimal(row, "quantity")?,
                    latency_ms: row.get("latency_ms")?,
                    valid_for_ms: row.get("valid_for_ms")?,
                    poll: row.get("poll")?,
                }),
                row.get("t_ms")?,
            ))
        })?;
        read_table(conn, "lp_errors", id, &mut events, |row| {
            Ok(event(
                EventKind::LpError(LpErrorEvent {
                    lp: arc(row, "lp")?,
                    kind: parse_enum(row, "kind", FailureKind::from_wire)?,
                    reason: row.get("reason")?,
                    latency_ms: row.get("latency_ms")?,
                    poll: row.get("poll")?,
                }),
                row.get("t_ms")?,
            ))
        })?;
        read_table(conn, "client_quotes", id, &mut events, |row| {
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
                })),
                row.get("t_ms")?,
            ))
        })?;
        read_table(conn, "lock_events", id, &mut events, |row| {
            let kind = match row.get::<_, String>("event")?.as_str() {
                "locked" => EventKind::Locked(Locked {
                    lp: arc(row, "lp")?,
                    price: decimal(row, "price")?,
                    previous_lp: opt_arc(row, "previous_lp")?,
                    reason: parse_enum(row, "reason", LockReason::from_wire)?,
                }),
                _ => EventKind::LockExpired(LockExpired {
                    lp: arc(row, "lp")?,
                }),
            };
            Ok(event(kind, row.get("t_ms")?))
        })?;
        read_table(conn, "executions", id, &mut events, |row| {
            let event_name: String = row.get("event")?;
            let kind = match event_name.as_str() {
                "order_sent" => EventKind::OrderSent(OrderSent {
                    lp: arc(row, "lp")?,
                    order_id: arc(row, "order_id")?,
                    quote_id: arc(row, "quote_id")?,
                    venue_ref: opt_arc(row, "venue_ref")?,
                    lp_price: decimal(row, "lp_price")?,
                    amount: decimal(row, "amount")?,
                    attempt: row.get("attempt")?,
                }),
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
            Ok(event(kind, row.get("t_ms")?))
        })?;
        if let Some(end_seq) = row.get::<_, Option<i64>>("end_seq")? {
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
                        lp: opt_arc(row, "final_lp")?,
                        client_price,
                    }),
                    row.get("end_t_ms")?,
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
