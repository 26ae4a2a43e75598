//! The blotter: every event kind stored and replayed exactly, many streams
//! into one writer, schema upgrades and refusals, and the report's figures
//! against a fixture worked out by hand.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lp_rfq::blotter::read::stored_rfqs;
use lp_rfq::blotter::report::{self, Filter, Format, Section};
use lp_rfq::blotter::{schema, Blotter};
use lp_rfq::config::{Settings, SettingsArgs};
use lp_rfq::desk::Desk;
use lp_rfq::market::{Bps, Pair, Side};
use lp_rfq::rfq::event::{
    ClientQuote, EndReason, Ended, EventKind, ExecutionUnknown, FailureKind, Filled, LockExpired,
    LockReason, Locked, LpErrorEvent, LpQuoteEvent, NotFilled, OrderRejected, OrderSent, Outcome,
    QuoteReason, Started,
};
use lp_rfq::rfq::{ClientId, QuoteRequest, RequestParams, RfqEvent, RfqSpec};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;

fn ev(rfq: &str, t_ms: u64, kind: EventKind) -> RfqEvent {
    RfqEvent {
        kind,
        rfq_id: Arc::from(rfq),
        t_ms,
        two_way_side: None,
    }
}

fn started(side: Side, amount: Decimal, pair: &str, lps: &[&str], at: &str) -> EventKind {
    EventKind::Started(Box::new(Started {
        simulated_lps: Vec::new(),
        operator: None,
        channel: lp_rfq::rfq::Channel::Operator,
        side,
        amount,
        pair: pair.parse().unwrap(),
        client: lp_rfq::rfq::ClientId::house(),
        lps: lps.iter().map(|lp| Arc::from(*lp)).collect(),
        markup_bps: Bps::new(dec!(5)).unwrap(),
        threshold_bps: Bps::new(dec!(1.25)).unwrap(),
        validity_buffer_ms: 2_000,
        poll_interval_ms: 500,
        lp_timeout_ms: 1_000,
        duration_ms: 30_000,
        speed: dec!(1),
        started_at: at.to_string(),
        simulated: true,
        two_way: false,
        fixed: lp_rfq::market::Leg::Base,
    }))
}

fn quote(lp: &str, price: Decimal, latency_ms: u64, poll: u32) -> EventKind {
    EventKind::LpQuote(LpQuoteEvent {
        simulated: true,
        lp: Arc::from(lp),
        price,
        quantity: dec!(1.50000000),
        latency_ms,
        valid_for_ms: 10_000,
        poll,
    })
}

fn error(lp: &str, kind: FailureKind, latency_ms: u64, poll: u32) -> EventKind {
    EventKind::LpError(LpErrorEvent {
        lp: Arc::from(lp),
        kind,
        reason: format!("{} on poll {poll}, 'quoted'", kind.as_str()),
        latency_ms,
        poll,
    })
}

#[allow(clippy::too_many_arguments)]
fn client(
    id: &str,
    lp: &str,
    side: Side,
    pair: &str,
    lp_price: Decimal,
    client_price: Decimal,
    pays: Decimal,
    receives: Decimal,
    reason: QuoteReason,
) -> EventKind {
    let pair: Pair = pair.parse().unwrap();
    let (pays_asset, receives_asset) = match side {
        Side::Buy => (pair.quote, pair.base),
        Side::Sell => (pair.base, pair.quote),
    };
    EventKind::ClientQuote(Box::new(ClientQuote {
        simulated: true,
        quote_id: Arc::from(id),
        lp: Arc::from(lp),
        side,
        lp_price,
        client_price,
        markup_bps: Bps::new(dec!(5)).unwrap(),
        amount: dec!(1.50000000),
        client_pays: pays,
        pays_asset,
        client_receives: receives,
        receives_asset,
        client_valid_for_ms: 8_000,
        reason,
    }))
}

fn locked(lp: &str, price: Decimal, previous: Option<&str>, reason: LockReason) -> EventKind {
    EventKind::Locked(Locked {
        simulated: true,
        lp: Arc::from(lp),
        price,
        previous_lp: previous.map(Arc::from),
        reason,
        corroborated_by: None,
    })
}

#[allow(clippy::too_many_arguments)]
fn order_sent(
    lp: &str,
    order_id: &str,
    quote_id: &str,
    venue_ref: Option<&str>,
    lp_price: Decimal,
    amount: Decimal,
    attempt: u32,
) -> EventKind {
    EventKind::OrderSent(Box::new(OrderSent {
        simulated: true,
        lp: Arc::from(lp),
        order_id: Arc::from(order_id),
        quote_id: Arc::from(quote_id),
        venue_ref: venue_ref.map(Arc::from),
        client_order_id: None,
        lp_price,
        amount,
        attempt,
        preferred_over: None,
    }))
}

fn order_rejected(lp: &str, order_id: &str, hold_ms: u64) -> EventKind {
    EventKind::OrderRejected(OrderRejected {
        lp: Arc::from(lp),
        order_id: Arc::from(order_id),
        reason: "last look: price moved, 'off'".into(),
        hold_ms,
    })
}

fn ended(
    reason: EndReason,
    outcome: Outcome,
    improvements: u32,
    quote: Option<(&str, &str, Decimal)>,
) -> EventKind {
    EventKind::Ended(Ended {
        // Every LP of these streams is simulated (see `started`).
        simulated: quote.is_some(),
        reason,
        outcome,
        improvements,
        quote_id: quote.map(|q| Arc::from(q.0)),
        lp: quote.map(|q| Arc::from(q.1)),
        client_price: quote.map(|q| q.2),
    })
}

/// Three RFQs with every event kind; the report figures below are worked
/// out by hand from them.
pub(crate) fn fixture() -> Vec<Vec<RfqEvent>> {
    use FailureKind::*;
    let a = "R-A";
    let b = "R-B";
    let c = "R-C";
    let eth: Pair = "ETHUSDT".parse().unwrap();
    vec![
        vec![
            ev(
                a,
                0,
                started(
                    Side::Buy,
                    dec!(1.5),
                    "BTCUSDT",
                    &["LP1", "LP2", "LP3"],
                    "2026-11-22T10:00:00.000Z",
                ),
            ),
            ev(a, 100, quote("LP1", dec!(100000.00), 100, 1)),
            ev(
                a,
                100,
                client(
                    "Q-1",
                    "LP1",
                    Side::Buy,
                    "BTCUSDT",
                    dec!(100000.00),
                    dec!(100050.00),
                    dec!(150075.00),
                    dec!(1.50000000),
                    QuoteReason::First,
                ),
            ),
            ev(a, 200, quote("LP2", dec!(100010.00), 200, 1)),
            ev(a, 300, error("LP3", Timeout, 300, 1)),
            ev(
                a,
                300,
                locked("LP1", dec!(100000.00), None, LockReason::BestOfPoll),
            ),
            ev(a, 600, quote("LP2", dec!(99980.00), 100, 2)),
            ev(
                a,
                600,
                client(
                    "Q-2",
                    "LP2",
                    Side::Buy,
                    "BTCUSDT",
                    dec!(99980.00),
                    dec!(100029.99),
                    dec!(150044.99),
                    dec!(1.50000000),
                    QuoteReason::Improvement,
                ),
            ),
            ev(
                a,
                600,
                locked("LP2", dec!(99980.00), Some("LP1"), LockReason::Improvement),
            ),
            ev(a, 700, error("LP3", Declined, 200, 2)),
            ev(a, 1_100, quote("LP1", dec!(99990.00), 150, 3)),
            ev(a, 1_200, error("LP3", Invalid, 200, 3)),
            ev(
                a,
                4_000,
                EventKind::LockExpired(LockExpired {
                    lp: Arc::from("LP2"),
                }),
            ),
            // Accepted Q-2: LP2 rejects after a 120 ms hold, the fallback
            // to LP1 (99990.00 <= 100029.99) gets no answer.
            ev(
                a,
                3_000,
                order_sent(
                    "LP2",
                    "O-1",
                    "Q-2",
                    Some("V-77"),
                    dec!(99980.00),
                    dec!(1.5),
                    1,
                ),
            ),
            ev(a, 3_120, order_rejected("LP2", "O-1", 120)),
            ev(
                a,
                3_120,
                order_sent("LP1", "O-2", "Q-2", None, dec!(99990.00), dec!(1.5), 2),
            ),
            ev(
                a,
                3_620,
                EventKind::ExecutionUnknown(ExecutionUnknown {
                    lp: Arc::from("LP1"),
                    order_id: Arc::from("O-2"),
                    reason: "no answer within 500 ms".into(),
                }),
            ),
            ev(
                a,
                5_000,
                ended(
                    EndReason::Interrupted,
                    Outcome::Unknown,
                    1,
                    Some(("Q-2", "LP2", dec!(100029.99))),
                ),
            ),
        ],
        vec![
            ev(
                b,
                0,
                started(
                    Side::Sell,
                    dec!(2),
                    "ETH/USDT",
                    &["LP1", "LP2"],
                    "2026-11-22T11:00:00.000Z",
                ),
            ),
            ev(b, 50, quote("LP2", dec!(3500.00), 50, 1)),
            ev(
                b,
                50,
                client(
                    "Q-3",
                    "LP2",
                    Side::Sell,
                    "ETHUSDT",
                    dec!(3500.00),
                    dec!(3498.25),
                    dec!(2.000000),
                    dec!(6996.50),
                    QuoteReason::First,
                ),
            ),
            ev(b, 80, quote("LP1", dec!(3501.75), 80, 1)),
            ev(
                b,
                80,
                client(
                    "Q-4",
                    "LP1",
                    Side::Sell,
                    "ETHUSDT",
                    dec!(3501.75),
                    dec!(3499.99),
                    dec!(2.000000),
                    dec!(6999.98),
                    QuoteReason::BestSoFar,
                ),
            ),
            ev(
                b,
                80,
                locked("LP1", dec!(3501.75), None, LockReason::BestOfPoll),
            ),
            ev(b, 500, error("LP2", RateLimited, 20, 2)),
            ev(b, 1_500, error("LP2", Malformed, 30, 3)),
            ev(b, 1_600, error("LP2", Unavailable, 40, 4)),
            // Accepted Q-4 (sell at 3499.99): LP1 rejects after 40 ms, LP2
            // (3500.00 >= 3499.99) fills after 60 ms; the desk keeps
            // (3500.00 − 3499.99) × 2 = 0.02 USDT.
            ev(
                b,
                1_900,
                order_sent("LP1", "O-3", "Q-4", None, dec!(3501.75), dec!(2), 1),
            ),
            ev(b, 1_940, order_rejected("LP1", "O-3", 40)),
            ev(
                b,
                1_940,
                order_sent("LP2", "O-4", "Q-4", Some("V-9"), dec!(3500.00), dec!(2), 2),
            ),
            ev(
                b,
                2_000,
                EventKind::Filled(Box::new(Filled {
                    simulated: true,
                    lp: Arc::from("LP2"),
                    order_id: Arc::from("O-4"),
                    quote_id: Arc::from("Q-4"),
                    lp_price: dec!(3500.00),
                    client_price: dec!(3499.99),
                    amount: dec!(2),
                    client_pays: dec!(2.000000),
                    pays_asset: eth.base,
                    client_receives: dec!(6999.98),
                    receives_asset: eth.quote,
                    desk_pnl: dec!(0.02),
                    pnl_asset: eth.quote,
                    hold_ms: 60,
                    venue_order_id: Some(Arc::from("T-123")),
                })),
            ),
            ev(
                b,
                2_000,
                ended(
                    EndReason::Accepted,
                    Outcome::Filled,
                    0,
                    Some(("Q-4", "LP1", dec!(3499.99))),
                ),
            ),
        ],
        vec![
            ev(
                c,
                0,
                started(
                    Side::Buy,
                    dec!(1),
                    "DOGEUSDT",
                    &["LP1"],
                    "2026-11-23T09:00:00.000Z",
                ),
            ),
            ev(c, 10, error("LP1", Declined, 10, 1)),
            // A pre-agreed accept with nothing live to accept.
            ev(
                c,
                10,
                EventKind::NotFilled(NotFilled {
                    quote_id: None,
                    reason: "no live quote to accept".into(),
                }),
            ),
            ev(
                c,
                10,
                ended(EndReason::NoQuotes, Outcome::NotFilled, 0, None),
            ),
        ],
    ]
}

/// `report::load`, checked against the report counted from every answer
/// (no `answer_summaries`): the same report, or the same error.
pub fn load_checked(
    path: &Path,
    filter: &Filter,
) -> Result<report::Report, lp_rfq::blotter::read::ReadError> {
    let summed = report::load(path, filter);
    let scanned = report::load_split_from(path, filter, None, report::Answers::Scan);
    match (&summed, &scanned) {
        (Ok(summed), Ok(scanned)) => assert_eq!(summed, scanned, "{}", path.display()),
        (summed, scanned) => assert_eq!(
            summed.as_ref().map(|_| ()).map_err(ToString::to_string),
            scanned.as_ref().map(|_| ()).map_err(ToString::to_string),
            "{}",
            path.display()
        ),
    }
    summed
}

/// Records `streams` into a fresh blotter, interleaving them as concurrent
/// sessions would, and closes it.
async fn record(path: &Path, streams: &[Vec<RfqEvent>]) {
    let blotter = Blotter::open(path).unwrap();
    let sink = blotter.sink();
    let longest = streams.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        for stream in streams {
            if let Some(event) = stream.get(i) {
                sink.record(event.clone()).await;
            }
        }
    }
    drop(sink);
    let stats = blotter.close().await;
    let events: usize = streams.iter().map(Vec::len).sum();
    assert_eq!(stats.rows, events as u64);
    assert_eq!(stats.lost, 0);
}

#[tokio::test]
async fn every_event_kind_round_trips_with_exact_decimals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let streams = fixture();
    record(&path, &streams).await;
    let stored: Vec<Vec<RfqEvent>> = stored_rfqs(&path)
        .unwrap()
        .into_iter()
        .map(|rfq| rfq.events)
        .collect();
    assert_eq!(stored, streams);

    // The file is plain SQLite: decimals as text, exactly as shown; times
    // as UTC ISO-8601 with milliseconds plus epoch ms.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let row: (String, String, String, i64) = conn
        .query_row(
            "SELECT c.client_pays, c.client_receives, c.at, c.at_ms FROM client_quotes c
             JOIN rfqs r ON r.id = c.rfq WHERE r.rfq_id = 'R-B' AND c.quote_id = 'Q-3'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "2.000000".to_string(),
            "6996.50".to_string(),
            "2026-11-22T11:00:00.050Z".to_string(),
            1_795_345_200_050
        )
    );
    let quantity: String = conn
        .query_row("SELECT quantity FROM lp_quotes LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(quantity, "1.50000000");
}

#[tokio::test]
async fn execution_rows_and_views_read_plainly_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    record(&path, &fixture()).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let outcomes: Vec<(String, Option<String>)> = conn
        .prepare("SELECT rfq_id, outcome FROM rfqs ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        outcomes,
        [
            ("R-A".to_string(), Some("unknown".to_string())),
            ("R-B".into(), Some("filled".into())),
            ("R-C".into(), Some("not_filled".into())),
        ]
    );
    type Order = (
        String,
        String,
        String,
        i64,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
    );
    let orders: Vec<Order> = conn
        .prepare(
            "SELECT rfq_id, order_id, lp, attempt, venue_ref, outcome, hold_ms, fill_price
             FROM orders ORDER BY rfq, seq",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let text = |s: &str| Some(s.to_string());
    assert_eq!(
        orders,
        [
            (
                "R-A".to_string(),
                "O-1".to_string(),
                "LP2".to_string(),
                1,
                text("V-77"),
                text("rejected"),
                Some(120),
                None
            ),
            (
                "R-A".into(),
                "O-2".into(),
                "LP1".into(),
                2,
                None,
                text("unknown"),
                None,
                None
            ),
            (
                "R-B".into(),
                "O-3".into(),
                "LP1".into(),
                1,
                None,
                text("rejected"),
                Some(40),
                None
            ),
            (
                "R-B".into(),
                "O-4".into(),
                "LP2".into(),
                2,
                text("V-9"),
                text("filled"),
                Some(60),
                text("3500.00")
            ),
        ]
    );
    let reason: String = conn
        .query_row(
            "SELECT reason FROM orders WHERE order_id = 'O-2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "no answer within 500 ms");
    let fill: (String, String, String, String, String, String, String) = conn
        .query_row(
            "SELECT rfq_id, pair, lp, lp_price, amount, desk_pnl, venue_order_id FROM fills",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        fill,
        (
            "R-B".into(),
            "ETHUSDT".into(),
            "LP2".into(),
            "3500.00".into(),
            "2".into(),
            "0.02".into(),
            "T-123".into()
        )
    );
    let not_filled: (String, Option<String>, String) = conn
        .query_row(
            "SELECT event, quote_id, reason FROM executions WHERE event = 'not_filled'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        not_filled,
        ("not_filled".into(), None, "no live quote to accept".into())
    );
}

/// The fixture's RFQ B up to and including its `filled` event.
fn until_filled() -> (Vec<RfqEvent>, RfqEvent) {
    let mut b = fixture().swap_remove(1);
    let at = b
        .iter()
        .position(|e| matches!(e.kind, EventKind::Filled(_)))
        .unwrap();
    b.truncate(at + 1);
    let filled = b.pop().unwrap();
    (b, filled)
}

#[tokio::test]
async fn record_and_commit_returns_once_the_fill_and_all_before_it_are_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let blotter = Blotter::open(&path).unwrap();
    let sink = blotter.sink();
    let (before, filled) = until_filled();
    for event in &before {
        sink.record(event.clone()).await;
    }
    assert!(sink.record_and_commit(filled.clone()).await);
    // Another connection, while the writer is still running: what it sees
    // is committed, and it holds the whole stream up to the fill.
    let stored = stored_rfqs(&path).unwrap();
    let mut expected = before;
    expected.push(filled);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].events, expected);
    drop(sink);
    let stats = blotter.close().await;
    assert_eq!((stats.rows, stats.lost), (expected.len() as u64, 0));
}

#[tokio::test]
async fn record_and_commit_says_false_when_the_fill_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    Blotter::open(&path).unwrap().close().await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON executions WHEN NEW.event = 'filled'
             BEGIN SELECT RAISE(ABORT, 'poisoned fill'); END;",
        )
        .unwrap();
    let blotter = Blotter::open(&path).unwrap();
    let sink = blotter.sink();
    let (before, filled) = until_filled();
    for event in &before {
        sink.record(event.clone()).await;
    }
    assert!(!sink.record_and_commit(filled).await);
    assert!(sink.problem().unwrap().contains("poisoned fill"));
    // The stream before the fill is kept.
    assert_eq!(stored_rfqs(&path).unwrap()[0].events, before);
    drop(sink);
    assert_eq!(blotter.close().await.lost, 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_streams_all_land_in_one_blotter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let settings = Settings::from_args(&SettingsArgs {
        seed: Some("11".into()),
        blotter: Some(path.display().to_string()),
        duration: Some("3".into()),
        mock_min_delay: Some("0.01".into()),
        mock_max_delay: Some("0.3".into()),
        mock_failure_rate: Some("0.2".into()),
        ..Default::default()
    })
    .unwrap();
    // One desk for all the streams, as in the console: one LP registry,
    // one blotter.
    let desk = Desk::open(settings).unwrap();
    let mut consumers = Vec::new();
    for i in 0..20u64 {
        let spec = RfqSpec {
            side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            amount: dec!(1.5),
            pair: "BTCUSDT".parse().unwrap(),
            fixed: lp_rfq::market::Leg::Base,
        };
        let mut handle = desk.start(spec);
        consumers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(event) = handle.events.recv().await {
                seen.push(event);
            }
            handle.finish().await.unwrap();
            seen
        }));
    }
    let mut shown = Vec::new();
    for consumer in consumers {
        shown.push(consumer.await.unwrap());
    }
    let stats = desk.shutdown().await.blotter.unwrap().1;
    let total: usize = shown.iter().map(Vec::len).sum();
    assert_eq!(stats.rows, total as u64);
    assert_eq!((stats.lost, stats.failed_commits), (0, 0));
    let mut stored: Vec<Vec<RfqEvent>> = stored_rfqs(&path)
        .unwrap()
        .into_iter()
        .map(|rfq| rfq.events)
        .collect();
    assert_eq!(stored.len(), 20);
    stored.sort_by(|a, b| a[0].rfq_id.cmp(&b[0].rfq_id));
    shown.sort_by(|a, b| a[0].rfq_id.cmp(&b[0].rfq_id));
    assert_eq!(stored, shown);
}

/// A request for a named client is stored with its client, and its
/// stream replays naming it; the house's beside it stays the house's.
#[tokio::test(start_paused = true)]
async fn a_stream_for_a_named_client_is_stored_and_replayed_with_its_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let settings = Settings::from_args(&SettingsArgs {
        seed: Some("7".into()),
        blotter: Some(path.display().to_string()),
        duration: Some("1".into()),
        ..Default::default()
    })
    .unwrap();
    let desk = Desk::open(settings).unwrap();
    let spec = RfqSpec {
        side: Side::Buy,
        amount: dec!(1.5),
        pair: "BTCUSDT".parse().unwrap(),
        fixed: lp_rfq::market::Leg::Base,
    };
    let mut shown = Vec::new();
    for request in [
        QuoteRequest {
            spec,
            params: RequestParams::default().with_client(ClientId::new("acme-fund_1").unwrap()),
        },
        QuoteRequest::from(spec),
    ] {
        let mut handle = desk.start(request);
        let mut seen = Vec::new();
        while let Some(event) = handle.events.recv().await {
            seen.push(event);
        }
        handle.finish().await.unwrap();
        shown.push(seen);
    }
    let stats = desk.shutdown().await.blotter.unwrap().1;
    assert_eq!(stats.lost, 0);

    let stored: Vec<Vec<RfqEvent>> = stored_rfqs(&path)
        .unwrap()
        .into_iter()
        .map(|rfq| rfq.events)
        .collect();
    assert_eq!(stored, shown);
    let clients: Vec<String> = stored
        .iter()
        .map(|events| match &events[0].kind {
            EventKind::Started(started) => started.client.to_string(),
            other => panic!("a stream opens with started: {other:?}"),
        })
        .collect();
    assert_eq!(clients, ["acme-fund_1", "house"]);
    // As plain sqlite3 reads it.
    assert_eq!(
        rows_of(&path, "SELECT client FROM rfqs ORDER BY id"),
        [
            vec![rusqlite::types::Value::Text("acme-fund_1".into())],
            vec![rusqlite::types::Value::Text("house".into())],
        ]
    );
}

/// A version-6 blotter (before clients were stored): reading it replays
/// every stream as the house's and leaves the file at version 6; a writer
/// opening it adds the column with `house` for every RFQ, the `fills` view
/// shows it, and the report gives exactly the same figures throughout.
#[tokio::test]
async fn a_v6_blotter_migrates_with_every_rfq_for_the_house() {
    let dir = tempfile::tempdir().unwrap();
    let streams = fixture();
    let current = dir.path().join("current.db");
    record(&current, &streams).await;
    let old = dir.path().join("v6.db");
    {
        let mut conn = rusqlite::Connection::open(&old).unwrap();
        schema::migrate(&mut conn, 6).unwrap();
        conn.execute(
            "ATTACH DATABASE ?1 AS current",
            [current.display().to_string()],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO rfqs SELECT id, rfq_id, side, amount, pair, base, quote, lps,
                 markup_bps, threshold_bps, validity_buffer_ms, poll_interval_ms,
                 lp_timeout_ms, duration_ms, started_at, started_ms, end_seq, end_t_ms,
                 ended_at, ended_ms, end_reason, improvements, final_quote_id, final_lp,
                 final_client_price, speed, outcome, simulated, speed_per_mille,
                 answers_from, answers_to FROM current.rfqs;
             INSERT INTO lps SELECT * FROM current.lps;
             INSERT INTO answers SELECT id, rfq, seq, t_ms, lp, poll, latency_ms, price, quantity,
                 valid_for_ms, failure, reason, at_ms FROM current.answers;
             INSERT INTO client_quotes SELECT id, rfq, seq, t_ms, at, at_ms, quote_id, lp, side, lp_price,
                 client_price, markup_bps, amount, client_pays, pays_asset, client_receives,
                 receives_asset, client_valid_for_ms, reason FROM current.client_quotes;
             INSERT INTO lock_events SELECT id, rfq, seq, t_ms, at, at_ms, event, lp, price,
                 previous_lp, reason FROM current.lock_events;
             INSERT INTO executions SELECT id, rfq, seq, t_ms, at, at_ms, event, order_id, quote_id, lp,
                 venue_ref, lp_price, client_price, amount, attempt, reason, hold_ms, client_pays,
                 pays_asset, client_receives, receives_asset, desk_pnl, pnl_asset, venue_order_id
                 FROM current.executions;",
        )
        .unwrap();
    }
    let version = |path: &Path| -> u32 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    let replay = |path: &Path| -> Vec<Vec<RfqEvent>> {
        stored_rfqs(path)
            .unwrap()
            .into_iter()
            .map(|rfq| rfq.events)
            .collect()
    };
    let expected = load_checked(&current, &Filter::default()).unwrap();
    assert_eq!(load_checked(&old, &Filter::default()).unwrap(), expected);
    assert_eq!(replay(&old), streams);
    assert_eq!(version(&old), 6, "reading never migrates");

    Blotter::open(&old).unwrap().close().await;
    assert_eq!(version(&old), schema::LATEST);
    assert_eq!(
        rows_of(&old, "SELECT rfq_id, client FROM rfqs ORDER BY id"),
        rows_of(&current, "SELECT rfq_id, client FROM rfqs ORDER BY id"),
    );
    assert_eq!(
        rows_of(&old, "SELECT DISTINCT client FROM rfqs"),
        [vec![rusqlite::types::Value::Text("house".into())]]
    );
    assert_eq!(
        rows_of(&old, "SELECT * FROM fills"),
        rows_of(&current, "SELECT * FROM fills")
    );
    assert_eq!(
        rows_of(&old, "SELECT rfq_id, order_id, client FROM fills"),
        [vec![
            rusqlite::types::Value::Text("R-B".into()),
            rusqlite::types::Value::Text("O-4".into()),
            rusqlite::types::Value::Text("house".into()),
        ]]
    );
    assert_eq!(load_checked(&old, &Filter::default()).unwrap(), expected);
    assert_eq!(replay(&old), streams);
}

#[test]
fn an_older_schema_is_upgraded_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrate(&mut conn, 1).unwrap();
        conn.execute(
            "INSERT INTO rfqs (rfq_id, side, amount, pair, base, quote, lps, markup_bps,
             threshold_bps, validity_buffer_ms, poll_interval_ms, lp_timeout_ms, duration_ms,
             started_at, started_ms) VALUES ('R-old', 'buy', '0.50000000', 'BTCUSDT', 'BTC',
             'USDT', '[\"LP1\"]', '5', '1', 2000, 500, 1000, 30000, '2025-01-19T14:30:25.123Z',
             1737297025123)",
            [],
        )
        .unwrap();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let blotter = Blotter::open(&path).unwrap();
    runtime.block_on(blotter.close());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::LATEST);
    let indexes: u32 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // rfqs by time and by pair and time; client quotes, lock events and
    // executions by RFQ; lp_health by LP; client orders by client and
    // their id; operators' actions by RFQ. LP answers have none (their
    // RFQ's id range).
    assert_eq!(indexes, 8);
    let stored = stored_rfqs(&path).unwrap();
    assert_eq!(stored.len(), 1);
    let EventKind::Started(s) = &stored[0].events[0].kind else {
        panic!("started expected")
    };
    assert_eq!(
        (s.amount.to_string(), s.started_at.as_str()),
        ("0.50000000".to_string(), "2025-01-19T14:30:25.123Z")
    );
}

/// A version-3 blotter (before execution) is read as it is: the report and
/// the replay give exactly what the same streams give when written today,
/// and the file stays at version 3 (reading never migrates).
#[tokio::test]
async fn a_v3_blotter_upgrades_and_reports_the_same_figures() {
    let dir = tempfile::tempdir().unwrap();
    // What a v3 writer could have recorded: no execution events, and so
    // nothing accepted.
    let streams: Vec<Vec<RfqEvent>> = fixture()
        .into_iter()
        .map(|stream| {
            stream
                .into_iter()
                .filter(|e| {
                    !matches!(
                        e.kind,
                        EventKind::OrderSent(_)
                            | EventKind::OrderRejected(_)
                            | EventKind::Filled(_)
                            | EventKind::ExecutionUnknown(_)
                            | EventKind::NotFilled(_)
                    )
                })
                .map(|mut e| {
                    if let EventKind::Ended(ended) = &mut e.kind {
                        ended.outcome = Outcome::NotAccepted;
                    }
                    e
                })
                .collect()
        })
        .collect();
    let current = dir.path().join("current.db");
    record(&current, &streams).await;
    let old = dir.path().join("old.db");
    {
        let mut conn = rusqlite::Connection::open(&old).unwrap();
        schema::migrate(&mut conn, 3).unwrap();
        conn.execute(
            "ATTACH DATABASE ?1 AS current",
            [current.display().to_string()],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO rfqs SELECT id, rfq_id, side, amount, pair, base, quote, lps,
                 markup_bps, threshold_bps, validity_buffer_ms, poll_interval_ms,
                 lp_timeout_ms, duration_ms, started_at, started_ms, end_seq, end_t_ms,
                 ended_at, ended_ms, end_reason, improvements, final_quote_id, final_lp,
                 final_client_price, speed FROM current.rfqs;
             INSERT INTO lp_quotes SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, price, quantity,
                 latency_ms, valid_for_ms FROM current.lp_quotes;
             INSERT INTO lp_errors SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, kind, reason,
                 latency_ms FROM current.lp_errors;
             INSERT INTO client_quotes SELECT id, rfq, seq, t_ms, at, at_ms, quote_id, lp, side, lp_price,
                 client_price, markup_bps, amount, client_pays, pays_asset, client_receives,
                 receives_asset, client_valid_for_ms, reason FROM current.client_quotes;
             INSERT INTO lock_events SELECT id, rfq, seq, t_ms, at, at_ms, event, lp, price,
                 previous_lp, reason FROM current.lock_events;",
        )
        .unwrap();
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 3);
    }
    let expected = load_checked(&current, &Filter::default()).unwrap();
    assert_eq!(load_checked(&old, &Filter::default()).unwrap(), expected);
    assert_eq!(
        expected
            .rfqs
            .iter()
            .map(|r| r.outcome.as_deref())
            .collect::<Vec<_>>(),
        [Some("not_accepted"); 3]
    );
    let replayed: Vec<Vec<RfqEvent>> = stored_rfqs(&old)
        .unwrap()
        .into_iter()
        .map(|rfq| rfq.events)
        .collect();
    assert_eq!(replayed, streams);
    let version: u32 = rusqlite::Connection::open(&old)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 3);
}

/// The fixture plus a stream at `--speed 2.5` whose LP quotes prices that
/// do not pack into an integer (1e20, and a negative one) and one that is
/// still running (no `ended`, as after a kill).
fn fixture_with_odd_rows() -> Vec<Vec<RfqEvent>> {
    let mut streams = fixture();
    let mut fast = started(
        Side::Sell,
        dec!(2),
        "BTCUSDT",
        &["LP1", "Wild"],
        "2026-11-22T12:00:00.000Z",
    );
    if let EventKind::Started(started) = &mut fast {
        started.speed = dec!(2.5);
    }
    streams.push(vec![
        ev("R-D", 0, fast),
        ev("R-D", 1_000, quote("LP1", dec!(99990.50), 40, 1)),
        ev(
            "R-D",
            1_500,
            quote("Wild", dec!(100000000000000000000.00), 540, 1),
        ),
        ev("R-D", 2_000, error("Wild", FailureKind::Timeout, 1_000, 2)),
        ev("R-D", 2_100, quote("Wild", dec!(-3.5), 100, 3)),
        ev("R-D", 2_200, quote("LP1", dec!(99991.00), 200, 3)),
        ev(
            "R-D",
            3_000,
            ended(EndReason::Duration, Outcome::NotAccepted, 0, None),
        ),
    ]);
    streams.push(vec![
        ev(
            "R-E",
            0,
            started(
                Side::Buy,
                dec!(1),
                "BTCUSDT",
                &["LP2"],
                "2026-11-22T13:00:00.000Z",
            ),
        ),
        ev("R-E", 300, quote("LP2", dec!(100002.00), 300, 1)),
    ]);
    streams
}

/// Every row of `sql` as SQLite values, to compare tables with views.
fn rows_of(path: &Path, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut select = conn.prepare(sql).unwrap();
    let columns = select.column_count();
    select
        .query_map([], |row| {
            (0..columns)
                .map(|i| row.get::<_, rusqlite::types::Value>(i))
                .collect()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A version-4 blotter (answers in `lp_quotes`/`lp_errors` tables with
/// their `(rfq, seq)` indexes), built by the version-4 migrations and
/// filled with the rows a version-4 writer stored: the report reads it as
/// it is; a writer opening it moves its answers into the compact table,
/// after which the views show exactly the rows the tables held, and the
/// report and the replay give exactly the same as before.
#[tokio::test]
async fn a_v4_blotter_migrates_and_keeps_every_row_and_figure() {
    let dir = tempfile::tempdir().unwrap();
    let streams = fixture_with_odd_rows();
    let current = dir.path().join("current.db");
    let blotter = Blotter::open(&current).unwrap();
    let sink = blotter.sink();
    for event in streams.iter().flatten() {
        sink.record(event.clone()).await;
    }
    drop(sink);
    assert_eq!(blotter.close().await.lost, 0);

    let old = dir.path().join("v4.db");
    {
        let mut conn = rusqlite::Connection::open(&old).unwrap();
        schema::migrate(&mut conn, 4).unwrap();
        conn.execute(
            "ATTACH DATABASE ?1 AS current",
            [current.display().to_string()],
        )
        .unwrap();
        conn.execute_batch(
            "INSERT INTO rfqs SELECT id, rfq_id, side, amount, pair, base, quote, lps,
                 markup_bps, threshold_bps, validity_buffer_ms, poll_interval_ms,
                 lp_timeout_ms, duration_ms, started_at, started_ms, end_seq, end_t_ms,
                 ended_at, ended_ms, end_reason, improvements, final_quote_id, final_lp,
                 final_client_price, speed, outcome, simulated FROM current.rfqs;
             INSERT INTO lp_quotes SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, price, quantity,
                 latency_ms, valid_for_ms FROM current.lp_quotes;
             INSERT INTO lp_errors SELECT id, rfq, seq, t_ms, at, at_ms, lp, poll, kind, reason,
                 latency_ms FROM current.lp_errors;
             INSERT INTO client_quotes SELECT id, rfq, seq, t_ms, at, at_ms, quote_id, lp, side, lp_price,
                 client_price, markup_bps, amount, client_pays, pays_asset, client_receives,
                 receives_asset, client_valid_for_ms, reason FROM current.client_quotes;
             INSERT INTO lock_events SELECT id, rfq, seq, t_ms, at, at_ms, event, lp, price,
                 previous_lp, reason FROM current.lock_events;
             INSERT INTO executions SELECT id, rfq, seq, t_ms, at, at_ms, event, order_id, quote_id, lp,
                 venue_ref, lp_price, client_price, amount, attempt, reason, hold_ms, client_pays,
                 pays_asset, client_receives, receives_asset, desk_pnl, pnl_asset, venue_order_id
                 FROM current.executions;",
        )
        .unwrap();
    }
    let quotes_sql = "SELECT * FROM lp_quotes ORDER BY rfq, seq";
    let errors_sql = "SELECT * FROM lp_errors ORDER BY rfq, seq";
    let v4_quotes = rows_of(&old, quotes_sql);
    let v4_errors = rows_of(&old, errors_sql);
    assert_eq!(v4_quotes.len(), 11);
    assert_eq!(v4_errors.len(), 8);
    let expected = load_checked(&current, &Filter::default()).unwrap();
    assert_eq!(load_checked(&old, &Filter::default()).unwrap(), expected);

    let runtime_free = Blotter::open(&old).unwrap();
    runtime_free.close().await;
    let version: u32 = rusqlite::Connection::open(&old)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, schema::LATEST);
    // The same rows, each with its RFQ's side after them (version 12).
    let without_side =
        |rows: Vec<Vec<rusqlite::types::Value>>| -> Vec<Vec<rusqlite::types::Value>> {
            rows.into_iter()
            .map(|mut row| {
                let side = row.pop();
                assert!(
                    matches!(&side, Some(rusqlite::types::Value::Text(side)) if side == "buy" || side == "sell"),
                    "{side:?}"
                );
                row
            })
            .collect()
        };
    assert_eq!(without_side(rows_of(&old, quotes_sql)), v4_quotes);
    assert_eq!(without_side(rows_of(&old, errors_sql)), v4_errors);
    assert_eq!(load_checked(&old, &Filter::default()).unwrap(), expected);
    let replayed: Vec<Vec<RfqEvent>> = stored_rfqs(&old)
        .unwrap()
        .into_iter()
        .map(|rfq| rfq.events)
        .collect();
    assert_eq!(replayed, streams);
    // Each RFQ's answers are moved together, in stream order, and its range
    // recorded (R-E never ended: a version-4 writer can no longer add to it).
    let ranges: Vec<(String, i64, Option<i64>)> = rows_of(
        &old,
        "SELECT rfq_id, answers_from, answers_to FROM rfqs ORDER BY id",
    )
    .into_iter()
    .map(|row| match &row[..] {
        [rusqlite::types::Value::Text(id), rusqlite::types::Value::Integer(from), to] => (
            id.clone(),
            *from,
            match to {
                rusqlite::types::Value::Integer(to) => Some(*to),
                _ => None,
            },
        ),
        other => panic!("{other:?}"),
    })
    .collect();
    assert_eq!(
        ranges,
        [
            ("R-A".to_string(), 1, Some(7)),
            ("R-B".into(), 8, Some(12)),
            ("R-C".into(), 13, Some(13)),
            ("R-D".into(), 14, Some(18)),
            ("R-E".into(), 19, Some(19)),
        ]
    );
}

/// What plain sqlite3 shows of the compact answers: the old columns, the
/// decimals exactly as the events had them (packed or not), wall times
/// derived with the RFQ's speed, an RFQ's id range for fast reads.
#[tokio::test]
async fn the_views_show_answers_as_the_tables_did() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let blotter = Blotter::open(&path).unwrap();
    let sink = blotter.sink();
    for event in fixture_with_odd_rows().iter().flatten() {
        sink.record(event.clone()).await;
    }
    drop(sink);
    blotter.close().await;
    let columns = |view: &str| -> Vec<String> {
        rows_of(
            &path,
            &format!("SELECT name FROM pragma_table_info('{view}')"),
        )
        .into_iter()
        .map(|row| match &row[0] {
            rusqlite::types::Value::Text(name) => name.clone(),
            other => panic!("{other:?}"),
        })
        .collect()
    };
    assert_eq!(
        columns("lp_quotes"),
        [
            "id",
            "rfq",
            "seq",
            "t_ms",
            "at",
            "at_ms",
            "lp",
            "poll",
            "price",
            "quantity",
            "latency_ms",
            "valid_for_ms",
            // Version 12: the side each answer was for.
            "side"
        ]
    );
    assert_eq!(
        columns("lp_errors"),
        [
            "id",
            "rfq",
            "seq",
            "t_ms",
            "at",
            "at_ms",
            "lp",
            "poll",
            "kind",
            "reason",
            "latency_ms",
            "side"
        ]
    );
    use rusqlite::types::Value::{Integer, Text};
    let text = |s: &str| Text(s.to_string());
    assert_eq!(
        rows_of(
            &path,
            "SELECT q.at, q.at_ms, q.lp, q.price, q.quantity FROM lp_quotes q
             JOIN rfqs r ON r.id = q.rfq WHERE r.rfq_id = 'R-D' ORDER BY q.seq"
        ),
        [
            // Stream ms 1000 at speed 2.5 is 400 ms after the start.
            vec![
                text("2026-11-22T12:00:00.400Z"),
                Integer(1_795_348_800_400),
                text("LP1"),
                text("99990.50"),
                text("1.50000000")
            ],
            vec![
                text("2026-11-22T12:00:00.600Z"),
                Integer(1_795_348_800_600),
                text("Wild"),
                text("100000000000000000000.00"),
                text("1.50000000")
            ],
            vec![
                text("2026-11-22T12:00:00.840Z"),
                Integer(1_795_348_800_840),
                text("Wild"),
                text("-3.5"),
                text("1.50000000")
            ],
            vec![
                text("2026-11-22T12:00:00.880Z"),
                Integer(1_795_348_800_880),
                text("LP1"),
                text("99991.00"),
                text("1.50000000")
            ],
        ]
    );
    assert_eq!(
        rows_of(
            &path,
            "SELECT kind, reason, latency_ms, at FROM lp_errors WHERE lp = 'Wild'"
        ),
        [vec![
            text("timeout"),
            text("timeout on poll 2, 'quoted'"),
            Integer(1_000),
            text("2026-11-22T12:00:00.800Z")
        ]]
    );
    // Stored compactly: the packed price is units * 32 + scale.
    assert_eq!(
        rows_of(
            &path,
            "SELECT typeof(price), price FROM answers WHERE failure IS NULL ORDER BY id LIMIT 1"
        ),
        [vec![text("integer"), Integer(10_000_000 * 32 + 2)]]
    );
}

/// The report only reads: a read-only file works, no file appears beside
/// it, its bytes do not change; what is not a blotter is said so.
#[tokio::test]
async fn the_report_reads_without_creating_or_changing_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    record(&path, &fixture()).await;
    let listing = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = std::fs::read(&path).unwrap();
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&path, permissions).unwrap();
    assert_eq!(listing(), ["blotter.db"]);
    let loaded = load_checked(&path, &Filter::default()).unwrap();
    assert_eq!(loaded.rfqs.len(), 3);
    assert_eq!(stored_rfqs(&path).unwrap().len(), 3);
    assert_eq!(listing(), ["blotter.db"]);
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let not_a_blotter = |name: &str, contents: &[u8]| {
        let file = dir.path().join(name);
        std::fs::write(&file, contents).unwrap();
        let error = load_checked(&file, &Filter::default())
            .unwrap_err()
            .to_string();
        assert_eq!(std::fs::read(&file).unwrap(), contents, "{name} changed");
        error
    };
    assert_eq!(
        not_a_blotter("empty.db", b""),
        format!(
            "'{}' is not a blotter: the file is empty",
            dir.path().join("empty.db").display()
        )
    );
    assert_eq!(
        not_a_blotter("notes.txt", "just notes about LPs\n".repeat(100).as_bytes()),
        format!(
            "'{}' is not a blotter: it is not an SQLite database",
            dir.path().join("notes.txt").display()
        )
    );
    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    assert_eq!(
        load_checked(&other, &Filter::default())
            .unwrap_err()
            .to_string(),
        format!(
            "'{}' is not a blotter: it is an SQLite database without lp-rfq's tables",
            other.display()
        )
    );
    let missing = dir.path().join("missing.db");
    assert_eq!(
        load_checked(&missing, &Filter::default())
            .unwrap_err()
            .to_string(),
        format!(
            "blotter '{}' does not exist: nothing recorded yet",
            missing.display()
        )
    );
    assert!(!missing.exists());
}

#[test]
fn unusable_files_are_refused_with_the_path_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let message = |path: &Path| {
        Blotter::open_with_timeout(path, Duration::from_millis(100))
            .err()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        message(&newer),
        format!("blotter '{}' has schema version 99, newer than this lp-rfq understands ({}): upgrade lp-rfq or use another --blotter", newer.display(), schema::LATEST)
    );

    let garbage = dir.path().join("notes.txt");
    std::fs::write(
        &garbage,
        "this is not a database, just some notes about LPs\n".repeat(100),
    )
    .unwrap();
    assert_eq!(
        message(&garbage),
        format!(
            "cannot open blotter '{}': file is not a database",
            garbage.display()
        )
    );

    let nowhere = dir.path().join("no/such/dir/blotter.db");
    assert_eq!(
        message(&nowhere),
        format!(
            "cannot open blotter '{}': unable to open database file",
            nowhere.display()
        )
    );

    let locked = dir.path().join("locked.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(Blotter::open(&locked).unwrap().close());
    let holder = rusqlite::Connection::open(&locked).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    assert_eq!(
        message(&locked),
        format!(
            "cannot open blotter '{}': database is locked",
            locked.display()
        )
    );
}

fn lp_json(report: &report::Report, lp: &str) -> serde_json::Value {
    serde_json::to_value(report.lps.iter().find(|row| row.lp == lp).unwrap()).unwrap()
}

#[tokio::test]
async fn the_report_matches_the_figures_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    record(&path, &fixture()).await;
    let all = load_checked(&path, &Filter::default()).unwrap();
    let lps: Vec<&str> = all.lps.iter().map(|row| row.lp.as_str()).collect();
    assert_eq!(lps, ["LP1", "LP2", "LP3"]);
    // LP1: answers A@100 (100 ms), A@1100 (150 ms), B@80 (80 ms); one
    // decline in C → 4 requests. Latencies sorted [80, 100, 150]:
    // nearest rank p50 = ceil(1.5) = 2nd = 100, p95/p99 = 3rd = 150.
    // Lock held A 300→600 (300 ms) and B 80→2000 (1920 ms) = 2220 of the
    // 5000 + 2000 + 10 ms of the RFQs that asked it = 0.3167. Always the
    // best of its polls: distance 0. Orders: A's fallback O-2 (unknown: no
    // hold time, and unknown: nothing settled it) and B's O-3, rejected
    // after 40 ms → fill rate 0/2.
    assert_eq!(
        lp_json(&all, "LP1"),
        json!({"lp": "LP1", "requests": 4, "answers": 3, "answer_rate": "0.75",
            "timeouts": 0, "declines": 1, "unavailable": 0, "malformed": 0,
            "rate_limited": 0, "invalid": 0, "auth": 0, "latency_p50_ms": 100,
            "latency_p95_ms": 150, "latency_p99_ms": 150, "locks_won": 2,
            "lock_time_share": "0.3167", "avg_distance_bps": "0", "improvements": 0,
            "orders": 2, "fills": 0, "fill_rate": "0", "last_look_rejects": 1,
            "not_executed": 0, "unknown": 1, "hold_p50_ms": 40, "hold_p99_ms": 40})
    );
    // LP2: 3 answers (50, 100, 200 ms) + rate-limited, malformed,
    // unavailable = 6 requests. Locked by improvement in A from 600 until
    // its lock_expired at 4000: 3400 / (5000 + 2000) = 0.4857. Distances:
    // A poll 1 (100010.00 vs 100000.00) = 1 bp, A poll 2 alone = 0, B poll
    // 1 sell (3500.00 vs 3501.75) = 1.75 / 3501.75 × 10000 = 4.9975 bps;
    // mean 1.9992 → 2. Orders: A's O-1 rejected after 120 ms, B's O-4
    // filled after 60 ms → fill rate 1/2; holds sorted [60, 120]: p50 =
    // rank ceil(1) = 60, p99 = rank ceil(1.98) = 2nd = 120.
    assert_eq!(
        lp_json(&all, "LP2"),
        json!({"lp": "LP2", "requests": 6, "answers": 3, "answer_rate": "0.5",
            "timeouts": 0, "declines": 0, "unavailable": 1, "malformed": 1,
            "rate_limited": 1, "invalid": 0, "auth": 0, "latency_p50_ms": 100,
            "latency_p95_ms": 200, "latency_p99_ms": 200, "locks_won": 1,
            "lock_time_share": "0.4857", "avg_distance_bps": "2", "improvements": 1,
            "orders": 2, "fills": 1, "fill_rate": "0.5", "last_look_rejects": 1,
            "not_executed": 0, "unknown": 0, "hold_p50_ms": 60, "hold_p99_ms": 120})
    );
    assert_eq!(
        lp_json(&all, "LP3"),
        json!({"lp": "LP3", "requests": 3, "answers": 0, "answer_rate": "0",
            "timeouts": 1, "declines": 1, "unavailable": 0, "malformed": 0,
            "rate_limited": 0, "invalid": 1, "auth": 0, "latency_p50_ms": null,
            "latency_p95_ms": null, "latency_p99_ms": null, "locks_won": 0,
            "lock_time_share": "0", "avg_distance_bps": null, "improvements": 0,
            "orders": 0, "fills": 0, "fill_rate": null, "last_look_rejects": 0,
            "not_executed": 0, "unknown": 0, "hold_p50_ms": null, "hold_p99_ms": null})
    );
    assert_eq!(
        serde_json::to_value(&all.rfqs).unwrap(),
        json!([
            {"rfq_id": "R-A", "started_at": "2026-11-22T10:00:00.000Z", "side": "buy",
             "amount": "1.5", "pair": "BTCUSDT", "duration_ms": 5000, "final_lp": "LP2",
             "final_client_price": "100029.99", "improvements": 1, "end_reason": "interrupted",
             "outcome": "unknown", "filled_lp": null, "filled_price": null, "desk_pnl": null,
             "client": "house",
             // Its last order: LP1's fallback, still unknown.
             "order_id": "O-2", "client_order_id": null, "venue_order_id": null,
             "venue_ref": null, "reconciled_by": null},
            {"rfq_id": "R-B", "started_at": "2026-11-22T11:00:00.000Z", "side": "sell",
             "amount": "2", "pair": "ETHUSDT", "duration_ms": 2000, "final_lp": "LP1",
             "final_client_price": "3499.99", "improvements": 0, "end_reason": "accepted",
             "outcome": "filled", "filled_lp": "LP2", "filled_price": "3500.00",
             "desk_pnl": "0.02", "client": "house",
             "order_id": "O-4", "client_order_id": null,
             "venue_order_id": "T-123", "venue_ref": "V-9", "reconciled_by": null},
            {"rfq_id": "R-C", "started_at": "2026-11-23T09:00:00.000Z", "side": "buy",
             "amount": "1", "pair": "DOGEUSDT", "duration_ms": 10, "final_lp": null,
             "final_client_price": null, "improvements": 0, "end_reason": "no_quotes",
             "outcome": "not_filled", "filled_lp": null, "filled_price": null,
             "desk_pnl": null, "client": "house",
             "order_id": null, "client_order_id": null,
             "venue_order_id": null, "venue_ref": null, "reconciled_by": null}
        ])
    );
    // Quoted: A 1.5 × 100029.99 = 150044.985, B 2 × 3499.99 = 6999.98, C
    // no quote. Only B filled: 3500.00 × 2 = 7000 USDT traded, 0.02 USDT
    // kept. Every pair is in USDT: one totals row.
    assert_eq!(
        serde_json::to_value(&all.pairs).unwrap(),
        json!([
            {"pair": "BTCUSDT", "asset": "USDT", "rfqs": 1, "notional_quoted": "150044.985",
             "filled_notional": "0", "markup_earned": "0", "fills": 0},
            {"pair": "ETHUSDT", "asset": "USDT", "rfqs": 1, "notional_quoted": "6999.98",
             "filled_notional": "7000", "markup_earned": "0.02", "fills": 1},
            {"pair": "DOGEUSDT", "asset": "USDT", "rfqs": 1, "notional_quoted": "0",
             "filled_notional": "0", "markup_earned": "0", "fills": 0}
        ])
    );
    assert_eq!(
        serde_json::to_value(&all.totals).unwrap(),
        json!([
            {"pair": "TOTAL", "asset": "USDT", "rfqs": 3, "notional_quoted": "157044.965",
             "filled_notional": "7000", "markup_earned": "0.02", "fills": 1}
        ])
    );

    // Every RFQ is the house's. Each ended with an order sent (A unknown,
    // B filled, C not filled): 3 accepted, 1 filled → 0.3333. B's client
    // leg: 2 × 3499.99 = 6999.98 USDT, 0.02 USDT kept.
    assert_eq!(
        serde_json::to_value(&all.clients).unwrap(),
        json!([
            {"client": "house", "asset": "USDT", "rfqs": 3, "accepted": 3, "fills": 1,
             "fill_ratio": "0.3333", "filled_notional": "6999.98", "markup_earned": "0.02"}
        ])
    );

    let ids = |filter: Filter| -> (Vec<String>, Vec<String>) {
        let report = load_checked(&path, &filter).unwrap();
        (
            report.lps.into_iter().map(|row| row.lp).collect(),
            report.rfqs.into_iter().map(|row| row.rfq_id).collect(),
        )
    };
    let parse = |since, until, pair, lp, last| Filter::parse(since, until, pair, lp, last).unwrap();
    assert_eq!(
        ids(parse(None, None, Some("eth/usdt"), None, None)),
        (vec!["LP1".into(), "LP2".into()], vec!["R-B".into()])
    );
    assert_eq!(
        ids(parse(None, None, None, None, Some("1"))),
        (vec!["LP1".into()], vec!["R-C".into()])
    );
    assert_eq!(
        ids(parse(Some("2026-11-23"), None, None, None, None)).1,
        ["R-C"]
    );
    assert_eq!(
        ids(parse(None, Some("2026-11-22"), None, None, None)).1,
        ["R-A", "R-B"]
    );
    assert_eq!(
        ids(parse(
            Some("2026-11-22T10:30:00Z"),
            Some("2026-11-22 11:00:00"),
            None,
            None,
            None
        ))
        .1,
        ["R-B"]
    );
    assert_eq!(
        ids(parse(None, None, None, Some("LP3"), None)),
        (vec!["LP3".into()], vec!["R-A".into()])
    );

    // LP3 alone over RFQ A, as the aligned table; every LP of these
    // streams is simulated, and each name says so.
    let only_lp3 = load_checked(&path, &parse(None, None, None, Some("LP3"), None)).unwrap();
    assert_eq!(only_lp3.simulated_lps, ["LP2", "LP3"]);
    assert_eq!(
        report::render(&only_lp3, Format::Table, &path, &Filter::default()),
        "LPs\n\
         LP               REQ  ANS  ANS %  TIMEOUT  DECLINE  UNAVAIL  MALFORM  RATELIM  INVALID  AUTH  P50 ms  P95 ms  P99 ms  LOCKS  LOCK TIME %  DIST bps  IMPROV  ORDERS  FILLS  FILL %  LL REJ  NOT EXEC  UNKNOWN  HOLD P50 ms  HOLD P99 ms\n\
         LP3 (simulated)    3    0   0.00        1        1        0        0        0        1     0                              0         0.00                 0       0      0               0         0        0\n\
         \n\
         RFQs\n\
         RFQ  STARTED (UTC)             SIDE  AMOUNT  PAIR     DURATION ms  FINAL LP         CLIENT PRICE  IMPROV  END          OUTCOME  FILLED LP  FILL PRICE  DESK PNL  CLIENT\n\
         R-A  2026-11-22T10:00:00.000Z  buy      1.5  BTCUSDT         5000  LP2 (simulated)     100029.99       1  interrupted  unknown                                   house\n\
         \n\
         Pairs (sums in the quote currency, CCY)\n\
         PAIR     CCY   RFQS  NOTIONAL QUOTED  FILLED NOTIONAL  MARKUP EARNED  FILLS\n\
         BTCUSDT  USDT     1        150044.99             0.00           0.00      0\n\
         TOTAL    USDT     1        150044.99             0.00           0.00      0\n\
         \n\
         Clients (sums in the quote currency, CCY)\n\
         CLIENT  CCY   RFQS  ACCEPTED  FILLS  FILL %  FILLED  MARKUP EARNED\n\
         house   USDT     1         1      0    0.00    0.00           0.00\n"
    );
    // One table per invocation, the section chosen.
    let csv = |section| report::render(&all, Format::Csv(section), &path, &Filter::default());
    assert_eq!(
        csv(Section::Rfqs),
        "rfq_id,started_at,side,amount,pair,duration_ms,final_lp,final_client_price,improvements,end_reason,outcome,filled_lp,filled_price,desk_pnl,client\n\
         R-A,2026-11-22T10:00:00.000Z,buy,1.5,BTCUSDT,5000,LP2,100029.99,1,interrupted,unknown,,,,house\n\
         R-B,2026-11-22T11:00:00.000Z,sell,2,ETHUSDT,2000,LP1,3499.99,0,accepted,filled,LP2,3500.00,0.02,house\n\
         R-C,2026-11-23T09:00:00.000Z,buy,1,DOGEUSDT,10,,,0,no_quotes,not_filled,,,,house\n"
    );
    assert_eq!(
        csv(Section::Pairs),
        "pair,asset,rfqs,notional_quoted,filled_notional,markup_earned,fills\n\
         BTCUSDT,USDT,1,150044.985,0,0,0\n\
         ETHUSDT,USDT,1,6999.98,7000,0.02,1\n\
         DOGEUSDT,USDT,1,0,0,0,0\n\
         TOTAL,USDT,3,157044.965,7000,0.02,1\n"
    );
    assert_eq!(
        csv(Section::Lps),
        "lp,requests,answers,answer_rate,timeouts,declines,unavailable,malformed,rate_limited,invalid,auth,latency_p50_ms,latency_p95_ms,latency_p99_ms,locks_won,lock_time_share,avg_distance_bps,improvements,orders,fills,fill_rate,last_look_rejects,not_executed,unknown,hold_p50_ms,hold_p99_ms\n\
         LP1,4,3,0.75,0,1,0,0,0,0,0,100,150,150,2,0.3167,0,0,2,0,0,1,0,1,40,40\n\
         LP2,6,3,0.5,0,0,1,1,1,0,0,100,200,200,1,0.4857,2,1,2,1,0.5,1,0,0,60,120\n\
         LP3,3,0,0,1,1,0,0,0,1,0,,,,0,0,,0,0,0,,0,0,0,,\n"
    );
    let none = load_checked(&path, &parse(None, None, Some("XRPUSDT"), None, None)).unwrap();
    let filter = parse(None, None, Some("XRPUSDT"), None, None);
    assert_eq!(
        report::render(&none, Format::Table, &path, &filter),
        format!(
            "no RFQs match the filters in blotter '{}'\n",
            path.display()
        )
    );
    assert_eq!(
        report::render(&none, Format::Json, &path, &filter),
        "{\"lps\":[],\"rfqs\":[],\"pairs\":[],\"totals\":[],\"clients\":[]}\n"
    );
    // An empty CSV section is still one table: its header.
    assert_eq!(
        report::render(&none, Format::Csv(Section::Pairs), &path, &filter),
        "pair,asset,rfqs,notional_quoted,filled_notional,markup_earned,fills\n"
    );
    // An LP the blotter never saw says so, naming the LPs it did see.
    let error = load_checked(&path, &parse(None, None, None, Some("LP9"), None)).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "LP 'LP9' never appears in blotter '{}' (LPs seen: LP1, LP2, LP3)",
            path.display()
        )
    );
    assert_eq!(
        Filter::parse(Some("2026-11-23"), Some("2026-11-22"), None, None, None)
            .unwrap_err()
            .to_string(),
        "--since 2026-11-23 is after --until 2026-11-22: nothing can match"
    );
}

/// Many interleaved RFQs, as a busy desk writes them: every failure
/// kind, answers to a poll arriving after later polls' (and some after
/// their poll was settled: slower than the RFQ's timeout + 500 ms), an LP
/// that no RFQ lists, RFQs that never ended, two pairs and both sides.
pub(crate) fn interleaved_fixture() -> Vec<Vec<RfqEvent>> {
    let kinds = FailureKind::ALL;
    (0..24u64)
        .map(|r| {
            let rfq = format!("R-{r}");
            let side = if r % 2 == 0 { Side::Buy } else { Side::Sell };
            let pair = if r % 3 == 0 { "ETHUSDT" } else { "BTCUSDT" };
            let at = format!("2026-11-22T10:{:02}:00.000Z", r);
            let mut answers: Vec<(u64, EventKind)> = Vec::new();
            for poll in 1..=30u32 {
                let began = u64::from(poll - 1) * 250;
                for (i, lp) in ["LP1", "LP2", "LP3", "LP4"].into_iter().enumerate() {
                    let x = (r * 7919 + u64::from(poll) * 104_729 + i as u64 * 1_299_709) % 1000;
                    let latency = match x % 41 {
                        0 => 2_600 + x,
                        _ => x % 400,
                    };
                    let kind = if x.is_multiple_of(7) {
                        error(lp, kinds[(x as usize / 7) % kinds.len()], latency, poll)
                    } else {
                        let cents = Decimal::new(x as i64 % 97, 2);
                        quote(
                            lp,
                            dec!(100000.00) + Decimal::from(x % 13) + cents,
                            latency,
                            poll,
                        )
                    };
                    answers.push((began + latency, kind));
                }
            }
            answers.sort_by_key(|(t, _)| *t);
            let last = answers.last().map_or(0, |(t, _)| *t);
            let mut events = vec![ev(
                &rfq,
                0,
                started(side, dec!(1.5), pair, &["LP1", "LP2", "LP3"], &at),
            )];
            events.extend(answers.into_iter().map(|(t, kind)| ev(&rfq, t, kind)));
            if r % 5 != 4 {
                events.push(ev(
                    &rfq,
                    last + 10,
                    ended(EndReason::Duration, Outcome::NotAccepted, 0, None),
                ));
            }
            events
        })
        .collect()
}

#[tokio::test]
async fn the_report_is_the_same_on_one_thread_or_many() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    record(&path, &interleaved_fixture()).await;
    let parse = |since, until, pair, lp, last| Filter::parse(since, until, pair, lp, last).unwrap();
    let filters = [
        Filter::default(),
        parse(None, None, None, Some("LP2"), None),
        parse(None, None, Some("ETHUSDT"), None, None),
        parse(None, None, None, None, Some("7")),
        parse(
            Some("2026-11-22T10:05:00Z"),
            Some("2026-11-22T10:17:00Z"),
            None,
            None,
            None,
        ),
    ];
    for filter in filters {
        let alone = report::load_split(&path, &filter, Some(1)).unwrap();
        // Not vacuous: the answers were counted, LP4 (in no RFQ's list)
        // among them, and distances came out of the polls.
        assert!(alone.lps.iter().any(|lp| lp.answers > 0), "{filter:?}");
        assert!(alone
            .lps
            .iter()
            .any(|lp| lp.avg_distance_bps.is_some_and(|d| !d.is_zero())));
        for workers in [2, 3, 5, 30] {
            assert_eq!(
                report::load_split(&path, &filter, Some(workers)).unwrap(),
                alone,
                "{workers} workers, {filter:?}"
            );
        }
    }
    let all = load_checked(&path, &Filter::default()).unwrap();
    let lps: Vec<&str> = all.lps.iter().map(|lp| lp.lp.as_str()).collect();
    assert_eq!(lps, ["LP1", "LP2", "LP3", "LP4"]);
    let requests: u64 = all.lps.iter().map(|lp| lp.requests).sum();
    assert_eq!(requests, 24 * 30 * 4);
}

// The built binary against a real file: interrupts, kills, two writers.

mod process {
    use std::io::{BufRead, BufReader, Read};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use lp_rfq::blotter::read::stored_rfqs;
    use serde_json::Value;

    use crate::support::lp_rfq_in as lp_rfq;

    const FAST: [&str; 4] = ["--mock-min-delay", "0.01", "--mock-max-delay", "0.05"];

    /// Starts a 30 s JSON stream and returns it once it printed its first
    /// `locked` event, with the lines read so far.
    // The caller kills and waits on the returned child.
    #[allow(clippy::zombie_processes)]
    fn start_until_locked(
        dir: &Path,
    ) -> (Child, BufReader<std::process::ChildStdout>, Vec<String>) {
        let mut child = lp_rfq(dir)
            .args([
                "quote",
                "buy",
                "1.5",
                "BTCUSDT",
                "--json",
                "--duration",
                "30",
            ])
            .args(FAST)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                let status = child.wait();
                panic!("the stream ended before its first lock: {status:?} {lines:?}");
            }
            let locked = line.contains("\"event\":\"locked\"");
            lines.push(line.trim_end().to_string());
            if locked {
                return (child, out, lines);
            }
        }
    }

    fn rest(mut out: impl Read, mut lines: Vec<String>) -> Vec<Value> {
        let mut text = String::new();
        out.read_to_string(&mut text).unwrap();
        lines.extend(text.lines().map(str::to_string));
        lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The stored streams as the JSON `--json` would have printed: every
    /// line after `started` names the stream's client too.
    fn stored_json(path: &Path) -> Vec<Vec<Value>> {
        stored_rfqs(path)
            .unwrap()
            .into_iter()
            .map(|rfq| {
                let mut lines: Vec<Value> = rfq
                    .events
                    .iter()
                    .map(|event| serde_json::to_value(event).unwrap())
                    .collect();
                let (client, fixed) = (lines[0]["client"].clone(), lines[0]["fixed"].clone());
                for line in lines.iter_mut().skip(1) {
                    line["client"] = client.clone();
                    line["fixed"] = fixed.clone();
                }
                lines
            })
            .collect()
    }

    #[test]
    fn fills_and_unknown_outcomes_are_both_recorded() {
        let dir = tempfile::tempdir().unwrap();
        for (scenario, code) in [("last-look", 0), ("flaky", 3)] {
            let output = lp_rfq(dir.path())
                .args([
                    "quote",
                    "buy",
                    "1",
                    "BTCUSDT",
                    "--json",
                    "--scenario",
                    scenario,
                    "--seed",
                    "3",
                    "--speed",
                    "10",
                    "--duration",
                    "5",
                    "--accept-after",
                    "1s",
                    "--order-timeout-ms",
                    "500",
                ])
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(code), "{scenario}");
        }
        let printed_runs = stored_json(&dir.path().join("blotter.db"));
        assert_eq!(printed_runs.len(), 2);
        let names = |run: &[Value]| -> Vec<String> {
            run.iter()
                .filter_map(|e| e["event"].as_str())
                .filter(|e| !matches!(*e, "lp_quote" | "lp_error" | "client_quote" | "locked"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            names(&printed_runs[0]),
            [
                "started",
                // Each scenario's first answer is alone until a second
                // LP's agrees: held back, and recorded so.
                "unverified",
                "order_sent",
                "order_rejected",
                "order_sent",
                "filled",
                "ended"
            ]
        );
        assert_eq!(
            names(&printed_runs[1]),
            [
                "started",
                "unverified",
                "order_sent",
                "execution_unknown",
                "ended"
            ]
        );
    }

    #[test]
    fn the_blotter_holds_the_same_orders_and_fills_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let output = lp_rfq(dir.path())
            .args([
                "quote",
                "buy",
                "1",
                "BTCUSDT",
                "--json",
                "--scenario",
                "last-look",
                "--speed",
                "10",
                "--duration",
                "5",
                "--accept-after",
                "1s",
            ])
            .output()
            .unwrap();
        assert!(output.status.success());
        let printed: Vec<Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(stored_json(&dir.path().join("blotter.db")), [printed]);
        // And the views a desk reads with sqlite3.
        let conn = rusqlite::Connection::open(dir.path().join("blotter.db")).unwrap();
        let orders: Vec<(String, String, Option<String>)> = conn
            .prepare("SELECT lp, lp_price, outcome FROM orders ORDER BY attempt")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            orders,
            [
                ("Fader".into(), "99990.00".into(), Some("rejected".into())),
                ("Solid".into(), "99995.00".into(), Some("filled".into())),
            ]
        );
        let fill: (String, String, String) = conn
            .query_row("SELECT lp, client_price, desk_pnl FROM fills", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(fill, ("Solid".into(), "100040.00".into(), "45.00".into()));
    }

    /// Ctrl+C, SIGTERM and SIGHUP (a closed terminal, a dropped SSH
    /// session) alike: the order out is waited for, its outcome recorded,
    /// then the exit.
    #[rstest::rstest]
    #[case::sigint("-INT")]
    #[case::sigterm("-TERM")]
    #[case::sighup("-HUP")]
    fn a_signal_while_an_order_is_out_waits_for_its_outcome_and_records_it(#[case] signal: &str) {
        let dir = tempfile::tempdir().unwrap();
        // Ghost (best in `flaky`) never answers an order: its outcome is
        // known only at the order timeout, after the Ctrl+C.
        let mut child = lp_rfq(dir.path())
            .args([
                "quote",
                "buy",
                "1",
                "BTCUSDT",
                "--json",
                "--scenario",
                "flaky",
                "--seed",
                "3",
                "--duration",
                "30",
                "--accept-after",
                "1s",
                "--order-timeout-ms",
                "1500",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(out.read_line(&mut line).unwrap() > 0, "{lines:?}");
            let sent = line.contains("\"event\":\"order_sent\"");
            lines.push(line.trim_end().to_string());
            if sent {
                break;
            }
        }
        let interrupted = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(interrupted.success());
        let printed = rest(out, lines);
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(3));
        let tail: Vec<&str> = printed[printed.len() - 2..]
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(tail, ["execution_unknown", "ended"]);
        assert_eq!(printed.last().unwrap()["outcome"], "unknown");
        assert_eq!(stored_json(&dir.path().join("blotter.db")), [printed]);
    }

    #[test]
    fn processes_sharing_a_blotter_never_share_an_rfq_or_quote_id() {
        let dir = tempfile::tempdir().unwrap();
        // Four processes started together: their RFQs begin in the same
        // few milliseconds, and every id must still be unique.
        let children: Vec<_> = (0..4)
            .map(|_| {
                lp_rfq(dir.path())
                    .args(["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "1"])
                    .args(FAST)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            assert!(child.wait_with_output().unwrap().status.success());
        }
        let conn = rusqlite::Connection::open(dir.path().join("blotter.db")).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT COUNT(*) FROM rfqs"), 4);
        assert_eq!(count("SELECT COUNT(DISTINCT rfq_id) FROM rfqs"), 4);
        assert_eq!(
            count("SELECT COUNT(DISTINCT quote_id) FROM client_quotes"),
            count("SELECT COUNT(*) FROM client_quotes")
        );
    }

    fn integrity(path: &Path) -> String {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn sigterm_ends_the_stream_and_the_blotter_holds_exactly_what_was_printed() {
        let dir = tempfile::tempdir().unwrap();
        // Signals are handled from the start: no need to wait any longer
        // than the lock the helper already waited for.
        let (mut child, out, lines) = start_until_locked(dir.path());
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let printed = rest(out, lines);
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        assert_eq!(printed.last().unwrap()["reason"], "interrupted");
        let stored = stored_json(&dir.path().join("blotter.db"));
        assert_eq!(stored, [printed]);
    }

    #[test]
    fn after_sigkill_the_file_is_intact_and_holds_what_was_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, out, lines) = start_until_locked(dir.path());
        // The writer commits as soon as its channel runs dry; give it a
        // moment, then kill without any chance to clean up.
        std::thread::sleep(Duration::from_millis(300));
        child.kill().unwrap();
        child.wait().unwrap();
        let printed = rest(out, lines);
        let path = dir.path().join("blotter.db");
        assert_eq!(integrity(&path), "ok");
        let stored = stored_json(&path);
        assert_eq!(stored.len(), 1);
        let stored = &stored[0];
        // Both are prefixes of the same stream; the blotter reached at
        // least the first lock, which was printed 300 ms before the kill.
        let first_lock = printed.iter().position(|e| e["event"] == "locked").unwrap();
        assert!(
            stored.len() > first_lock,
            "{} rows, lock at {first_lock}",
            stored.len()
        );
        let common = stored.len().min(printed.len());
        assert_eq!(stored[..common], printed[..common]);
        assert!(stored.iter().all(|e| e["event"] != "ended"));
    }

    #[test]
    fn two_processes_write_one_file_at_the_same_time() {
        let dir = tempfile::tempdir().unwrap();
        let run = |side: &str| {
            lp_rfq(dir.path())
                .args([
                    "quote",
                    side,
                    "2",
                    "ETHUSDT",
                    "--json",
                    "--duration",
                    "1",
                    "--mock-lps",
                    "50",
                ])
                .args(FAST)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let children = [run("buy"), run("sell")];
        let mut printed: Vec<Vec<Value>> = children
            .into_iter()
            .map(|child| {
                let output = child.wait_with_output().unwrap();
                assert!(output.status.success());
                String::from_utf8(output.stdout)
                    .unwrap()
                    .lines()
                    .map(|line| serde_json::from_str(line).unwrap())
                    .collect()
            })
            .collect();
        let path = dir.path().join("blotter.db");
        assert_eq!(integrity(&path), "ok");
        let mut stored = stored_json(&path);
        let side = |events: &Vec<Value>| events[0]["side"].as_str().unwrap().to_string();
        stored.sort_by_key(side);
        printed.sort_by_key(side);
        assert!(
            printed[0].len() > 50,
            "a busy stream: {} events",
            printed[0].len()
        );
        assert_eq!(stored, printed);
    }

    /// A process that closes its blotter first must leave the WAL of one
    /// still writing to the same file. It did not: lp-rfq opened and
    /// closed the file outside SQLite to check its header, which drops
    /// every POSIX lock the process holds on it, SQLite's shared lock
    /// included; the other process, finding itself alone, checkpointed
    /// and deleted the WAL under the running one, and records written
    /// after that could be lost (a stream's `ended`, in 1 of ~100 runs of
    /// the test above).
    #[test]
    fn a_process_closing_first_leaves_the_wal_of_one_still_writing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut long, out, lines) = start_until_locked(dir.path());
        let short = lp_rfq(dir.path())
            .args([
                "quote",
                "sell",
                "2",
                "ETHUSDT",
                "--json",
                "--duration",
                "0.3",
            ])
            .args(FAST)
            .output()
            .unwrap();
        assert!(short.status.success());
        // The long stream runs for 30 s: it is still writing, and its WAL
        // must still be there for it.
        assert!(long.try_wait().unwrap().is_none());
        assert!(dir.path().join("blotter.db-wal").exists());
        let interrupted = Command::new("kill")
            .args(["-INT", &long.id().to_string()])
            .status()
            .unwrap();
        assert!(interrupted.success());
        let printed = rest(out, lines);
        assert!(long.wait().unwrap().success());
        assert_eq!(printed.last().unwrap()["event"], "ended");
        let short_printed: Vec<Value> = String::from_utf8(short.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let path = dir.path().join("blotter.db");
        assert_eq!(integrity(&path), "ok");
        let mut stored = stored_json(&path);
        let side = |events: &Vec<Value>| events[0]["side"].as_str().unwrap().to_string();
        stored.sort_by_key(side);
        assert_eq!(stored, [printed, short_printed]);
    }

    #[test]
    fn an_unusable_blotter_stops_the_start_and_no_blotter_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.db"), "not a database\n".repeat(200)).unwrap();
        let output = lp_rfq(dir.path())
            .args(["quote", "buy", "1", "BTCUSDT", "--blotter", "notes.db"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "lp-rfq: cannot open blotter 'notes.db': file is not a database\n"
        );
        assert!(output.stdout.is_empty());

        let output = lp_rfq(dir.path())
            .args([
                "quote",
                "buy",
                "1",
                "BTCUSDT",
                "--json",
                "--duration",
                "0.05",
                "--no-blotter",
            ])
            .output()
            .unwrap();
        assert!(output.status.success());
        assert!(!dir.path().join("blotter.db").exists());
        let output = lp_rfq(dir.path())
            .args([
                "quote",
                "buy",
                "1",
                "BTCUSDT",
                "--json",
                "--duration",
                "0.05",
            ])
            .env("NO_BLOTTER", "true")
            .output()
            .unwrap();
        assert!(output.status.success());
        assert!(!dir.path().join("blotter.db").exists());
    }

    #[test]
    fn report_explains_a_missing_or_empty_blotter_and_reads_a_recorded_one() {
        let dir = tempfile::tempdir().unwrap();
        let output = lp_rfq(dir.path()).args(["report"]).output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "lp-rfq: blotter './blotter.db' does not exist: nothing recorded yet\n"
        );
        assert!(!dir.path().join("blotter.db").exists());

        let recorded = lp_rfq(dir.path())
            .args([
                "quote",
                "sell",
                "1",
                "BTCUSDT",
                "--json",
                "--duration",
                "0.5",
                "--seed",
                "5",
            ])
            .args(FAST)
            .env("BLOTTER_PATH", "desk.db")
            .output()
            .unwrap();
        assert!(recorded.status.success());
        let output = lp_rfq(dir.path())
            .args([
                "report",
                "--json",
                "--blotter",
                "desk.db",
                "--pair",
                "XRPUSDT",
            ])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "{\"lps\":[],\"rfqs\":[],\"pairs\":[],\"totals\":[],\"clients\":[]}\n"
        );
        let output = lp_rfq(dir.path())
            .args(["report", "--csv", "--blotter", "desk.db"])
            .output()
            .unwrap();
        assert!(output.status.success());
        let text = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "lp,requests,answers,answer_rate,timeouts,declines,unavailable,malformed,rate_limited,invalid,auth,latency_p50_ms,latency_p95_ms,latency_p99_ms,locks_won,lock_time_share,avg_distance_bps,improvements,orders,fills,fill_rate,last_look_rejects,not_executed,unknown,hold_p50_ms,hold_p99_ms");
        assert!(lines[1].starts_with("LP1,"), "{text}");
        let output = lp_rfq(dir.path())
            .args([
                "report",
                "--csv",
                "--section",
                "rfqs",
                "--blotter",
                "desk.db",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], "rfq_id,started_at,side,amount,pair,duration_ms,final_lp,final_client_price,improvements,end_reason,outcome,filled_lp,filled_price,desk_pnl,client");
        assert!(
            lines[1].ends_with(",duration,not_accepted,,,,house"),
            "{text}"
        );
        let output = lp_rfq(dir.path())
            .args([
                "report",
                "--csv",
                "--section",
                "pairs",
                "--blotter",
                "desk.db",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "pair,asset,rfqs,notional_quoted,filled_notional,markup_earned,fills"
        );
        assert!(lines[1].starts_with("BTCUSDT,USDT,1,"), "{text}");
        assert!(lines[2].starts_with("TOTAL,USDT,1,"), "{text}");
        assert_eq!(lines.len(), 3, "{text}");
        let refused = |args: &[&str]| {
            let output = lp_rfq(dir.path())
                .args(args)
                .args(["--blotter", "desk.db"])
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(2));
            String::from_utf8_lossy(&output.stderr).into_owned()
        };
        assert_eq!(
            refused(&["report", "--csv", "--section", "totals"]),
            "lp-rfq: invalid --section 'totals': must be lps, rfqs, pairs, clients, health or operators\n"
        );
        assert_eq!(
            refused(&["report", "--lp", "LP7"]),
            "lp-rfq: LP 'LP7' never appears in blotter 'desk.db' (LPs seen: LP1, LP2, LP3)\n"
        );
        assert_eq!(
            refused(&["report", "--since", "2026-11-23", "--until", "2026-11-22"]),
            "lp-rfq: --since 2026-11-23 is after --until 2026-11-22: nothing can match\n"
        );
        let output = lp_rfq(dir.path())
            .args(["report", "--since", "tomorrow"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            "lp-rfq: invalid --since 'tomorrow': must be a date like 2026-11-22 or a UTC time like 2026-11-22T14:30:00\n"
        );
    }

    /// A 4 s JSON stream that accepts at 2 s, recording into
    /// `records/blotter.db` under `dir`; `spoil` is done to the record once
    /// the first client quote is out. Its exit code, stderr and events.
    fn stream_whose_record_is_spoiled(
        dir: &Path,
        spoil: impl FnOnce(&Path),
    ) -> (Option<i32>, String, Vec<Value>) {
        std::fs::create_dir(dir.join("records")).unwrap();
        let mut child = lp_rfq(dir)
            .args([
                "quote",
                "buy",
                "1.5",
                "BTCUSDT",
                "--json",
                "--duration",
                "4",
            ])
            .args(["--accept-after", "2s", "--blotter", "records/blotter.db"])
            .args(FAST)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap_or(0) > 0,
                "ended before a client quote: {lines:?}"
            );
            let quoted = line.contains("\"event\":\"client_quote\"");
            lines.push(line.trim_end().to_string());
            if quoted {
                break;
            }
        }
        spoil(&dir.join("records"));
        let events = rest(&mut out, lines);
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stderr, events)
    }

    /// What a stream showed from the blotter's failure on: the event
    /// names (but LP answers), and the failure's and refusal's reasons.
    fn after_the_failure(events: &[Value]) -> (Vec<String>, String, String) {
        let failed = events
            .iter()
            .position(|e| e["event"] == "blotter_error")
            .expect("the failure is shown");
        // LP answers already in flight may still arrive: answers, not offers.
        let names = events[failed..]
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_string())
            .filter(|name| !matches!(name.as_str(), "lp_quote" | "lp_error"))
            .collect();
        let refusal = events
            .iter()
            .find(|e| e["event"] == "not_filled")
            .map(|e| e["reason"].as_str().unwrap().to_string())
            .unwrap_or_default();
        let reason = events[failed]["reason"].as_str().unwrap().to_string();
        (names, reason, refusal)
    }

    #[test]
    #[cfg(unix)]
    fn the_blotter_directory_removed_mid_stream_stops_the_offers_refuses_the_accept_and_fails_the_exit(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (code, stderr, events) = stream_whose_record_is_spoiled(dir.path(), |records| {
            std::fs::remove_dir_all(records).unwrap();
        });
        let (names, reason, refusal) = after_the_failure(&events);
        let failure = "blotter 'records/blotter.db' cannot be written: its file was removed (what is written now would reach no file)";
        assert_eq!(
            reason,
            format!("{failure}: no client quote is offered and accepts are refused until it records again")
        );
        // Withdrawn, nothing offered or asked, the accept refused.
        assert_eq!(
            names,
            ["blotter_error", "lock_expired", "not_filled", "ended"]
        );
        assert_eq!(refusal, format!("the blotter cannot record: {failure}"));
        assert_eq!(events.last().unwrap()["outcome"], "not_filled");
        // Nowhere to keep the record (its directory is gone): said, and
        // the exit fails.
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("lp-rfq: blotter 'records/blotter.db': ")
                && stderr.contains(" events could not be written"),
            "{stderr}"
        );
    }

    #[test]
    #[cfg(unix)]
    fn the_blotter_replaced_by_another_file_mid_stream_stops_the_offers_refuses_the_accept_and_fails_the_exit(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (code, stderr, events) = stream_whose_record_is_spoiled(dir.path(), |records| {
            // Another database moved over it (a restore, a careless copy):
            // the open connection would go on writing to the old file.
            let other = records.join("other.db");
            rusqlite::Connection::open(&other)
                .unwrap()
                .execute_batch("CREATE TABLE t (x INTEGER)")
                .unwrap();
            std::fs::rename(&other, records.join("blotter.db")).unwrap();
        });
        let (names, reason, refusal) = after_the_failure(&events);
        let failure = "blotter 'records/blotter.db' cannot be written: its file was replaced by another (what is written now would reach the old one)";
        assert_eq!(
            reason,
            format!("{failure}: no client quote is offered and accepts are refused until it records again")
        );
        assert_eq!(
            names,
            ["blotter_error", "lock_expired", "not_filled", "ended"]
        );
        assert_eq!(refusal, format!("the blotter cannot record: {failure}"));
        assert_eq!(events.last().unwrap()["outcome"], "not_filled");
        // Said at once, and the exit fails naming where the rest is.
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "lp-rfq: warning: {failure} (holding events, retrying)"
            )),
            "{stderr}"
        );
        let journal = dir.path().join("records/blotter.db.journal");
        let journalled = lp_rfq::blotter::journal::read(&journal).unwrap();
        assert!(
            stderr.contains(&format!(
                "lp-rfq: blotter 'records/blotter.db' could not take {} events: they are in the fallback journal 'records/blotter.db.journal'",
                journalled.len()
            )),
            "{stderr}"
        );
        let outcomes: Vec<&str> = journalled
            .iter()
            .filter(|e| lp_rfq::blotter::journal::is_outcome(e))
            .map(|e| e.kind.name())
            .collect();
        assert_eq!(outcomes, ["not_filled", "ended"]);
    }

    #[test]
    #[cfg(unix)]
    fn random_bytes_over_the_blotter_mid_stream_fail_closed_and_the_rest_is_journalled() {
        let dir = tempfile::tempdir().unwrap();
        let (code, stderr, events) = stream_whose_record_is_spoiled(dir.path(), |records| {
            let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect();
            std::fs::OpenOptions::new()
                .write(true)
                .open(records.join("blotter.db"))
                .and_then(|mut file| std::io::Write::write_all(&mut file, &garbage))
                .unwrap();
        });
        let (names, reason, refusal) = after_the_failure(&events);
        let failure = "blotter 'records/blotter.db' cannot be written: its file is damaged: it is no longer an SQLite database";
        assert!(reason.starts_with(failure), "{reason}");
        assert_eq!(
            names,
            ["blotter_error", "lock_expired", "not_filled", "ended"]
        );
        assert_eq!(refusal, format!("the blotter cannot record: {failure}"));
        assert_eq!(code, Some(1), "{stderr}");
        let journal = dir.path().join("records/blotter.db.journal");
        let journalled = lp_rfq::blotter::journal::read(&journal).unwrap();
        assert!(
            stderr.contains(&format!(
                "could not take {} events: they are in the fallback journal 'records/blotter.db.journal'",
                journalled.len()
            )),
            "{stderr}"
        );
        let outcomes: Vec<&str> = journalled
            .iter()
            .filter(|e| lp_rfq::blotter::journal::is_outcome(e))
            .map(|e| e.kind.name())
            .collect();
        assert_eq!(outcomes, ["not_filled", "ended"]);
    }
}

#[tokio::test]
async fn a_row_that_cannot_be_written_is_dropped_and_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    // Create the file, then make one LP's rows fail the way a row that can
    // never be stored would (a constraint, not a busy database).
    Blotter::open(&path).unwrap().close().await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER poison BEFORE INSERT ON answers
             WHEN NEW.lp = (SELECT id FROM lps WHERE name = 'Poison')
             BEGIN SELECT RAISE(ABORT, 'poisoned row'); END;",
        )
        .unwrap();
    let at = "2026-11-22T10:00:00.000Z";
    let stream = vec![
        ev(
            "R-1",
            0,
            started(Side::Buy, dec!(1), "BTCUSDT", &["LP1", "Poison"], at),
        ),
        ev("R-1", 100, quote("LP1", dec!(100000.00), 100, 1)),
        ev("R-1", 120, quote("Poison", dec!(99999.00), 120, 1)),
        // An LP-supplied validity far beyond what SQLite's integers hold
        // is stored clamped, not refused.
        ev(
            "R-1",
            130,
            EventKind::LpQuote(LpQuoteEvent {
                valid_for_ms: u64::MAX,
                ..match quote("LP1", dec!(100001.00), 30, 2) {
                    EventKind::LpQuote(q) => q,
                    _ => unreachable!(),
                }
            }),
        ),
        ev(
            "R-1",
            1_000,
            ended(EndReason::Duration, Outcome::NotAccepted, 0, None),
        ),
    ];
    let blotter = Blotter::open(&path).unwrap();
    let sink = blotter.sink();
    for event in &stream {
        sink.record(event.clone()).await;
    }
    drop(sink);
    let stats = blotter.close().await;
    assert_eq!((stats.rows, stats.lost), (4, 1));
    let stored = stored_rfqs(&path).unwrap();
    let kinds: Vec<&str> = stored[0].events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["started", "lp_quote", "lp_quote", "ended"]);
}

/// The binary with `--blotter path`, one short quote; (exit code, stderr).
fn quote_into(path: &Path) -> (Option<i32>, String) {
    let output = crate::support::lp_rfq_in(crate::support::empty_dir())
        .args(["--duration", "1", "--blotter"])
        .arg(path)
        .args(["quote", "buy", "1", "BTCUSDT"])
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn blotters_that_cannot_be_written_or_are_damaged_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that cannot hold the file (a path under a regular file).
    let file = dir.path().join("file.txt");
    std::fs::write(&file, "notes").unwrap();
    let under = file.join("blotter.db");
    assert_eq!(
        quote_into(&under),
        (
            Some(2),
            format!(
                "lp-rfq: invalid BLOTTER_PATH '{}' (--blotter): '{}' is not a directory\n",
                under.display(),
                file.display()
            )
        )
    );

    // A damaged file: a real blotter whose pages after the header are
    // overwritten.
    let damaged = dir.path().join("damaged.db");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(record(&damaged, &fixture()));
    let mut bytes = std::fs::read(&damaged).unwrap();
    for byte in &mut bytes[8192..] {
        *byte = 0x5a;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let (code, stderr) = quote_into(&damaged);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "lp-rfq: cannot open blotter '{}': ",
            damaged.display()
        )) || stderr.starts_with(&format!(
            "lp-rfq: blotter '{}' is damaged",
            damaged.display()
        )),
        "{stderr}"
    );

    // A read-only file. Root ignores permission bits, so the file is made
    // immutable where `chattr` works (and read-only by mode otherwise).
    let read_only = dir.path().join("read-only.db");
    runtime.block_on(Blotter::open(&read_only).unwrap().close());
    let mut permissions = std::fs::metadata(&read_only).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&read_only, permissions).unwrap();
    let immutable = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&read_only)
        .status()
        .is_ok_and(|status| status.success());
    let (code, stderr) = quote_into(&read_only);
    if immutable {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&read_only)
            .status();
    }
    let is_root = std::fs::OpenOptions::new()
        .append(true)
        .open(&read_only)
        .is_ok();
    if immutable || !is_root {
        assert_eq!(code, Some(2), "{stderr}");
        assert_eq!(
            stderr,
            format!(
                "lp-rfq: blotter '{}' cannot be written: the file is read-only for this user: fix its permissions or use another --blotter\n",
                read_only.display()
            )
        );
    }
}

/// Holds the blotter's write lock from another connection: the writer's
/// transactions fail (busy, past its short timeout) exactly as they fail
/// on a full disk, taking the same hold-and-retry path.
fn hold_write_lock(path: &Path) -> rusqlite::Connection {
    let holder = rusqlite::Connection::open(path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    holder
}

async fn until(mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_held_while_writes_fail_and_written_in_order_once_they_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let stream = fixture().remove(0);
    let (early, late) = stream.split_at(2);
    let blotter = Blotter::open_with_timeout(&path, Duration::from_millis(20)).unwrap();
    let sink = blotter.sink();
    for event in early {
        sink.record(event.clone()).await;
    }
    sink.flush().await;
    let holder = hold_write_lock(&path);
    for event in late {
        sink.record(event.clone()).await;
    }
    until(|| sink.failure().is_some()).await;
    let failure = sink.failure().unwrap();
    assert!(
        failure.starts_with(&format!("blotter '{}' cannot be written: ", path.display())),
        "{failure}"
    );
    assert_eq!(sink.held(), late.len() as u64);
    // Retries follow a schedule (50 ms doubling), not one per event.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.stats().failed_commits <= 5, "{:?}", sink.stats());
    holder.execute_batch("ROLLBACK").unwrap();
    until(|| sink.held() == 0).await;
    assert_eq!(sink.failure(), None);
    drop(sink);
    let stats = blotter.close().await;
    assert_eq!(stats.lost, 0);
    assert_eq!(stored_rfqs(&path).unwrap()[0].events, stream);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_loses_events_counts_them_and_says_streams_must_stop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let blotter = Blotter::open_with_timeout(&path, Duration::from_millis(20)).unwrap();
    let sink = blotter.sink();
    let holder = hold_write_lock(&path);
    let start = ev(
        "R-1",
        0,
        started(
            Side::Buy,
            dec!(1.5),
            "BTCUSDT",
            &["LP1"],
            "2026-11-22T10:00:00.000Z",
        ),
    );
    sink.record(start).await;
    let extra = 10;
    for i in 0..(lp_rfq::blotter::MAX_HELD + extra) {
        sink.record(ev("R-1", i as u64, quote("LP1", dec!(100000), 1, 1)))
            .await;
    }
    until(|| sink.overflowed()).await;
    holder.execute_batch("ROLLBACK").unwrap();
    drop(sink);
    let stats = blotter.close().await;
    assert_eq!(stats.lost, (extra + 1) as u64, "{stats:?}");
    assert_eq!(stats.rows, lp_rfq::blotter::MAX_HELD as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_desk_refuses_a_new_rfq_while_its_blotter_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let blotter = Blotter::open_with_timeout(&path, Duration::from_millis(20)).unwrap();
    let sink = blotter.sink();
    let holder = hold_write_lock(&path);
    sink.record(ev(
        "R-1",
        0,
        started(
            Side::Buy,
            dec!(1.5),
            "BTCUSDT",
            &["LP1"],
            "2026-11-22T10:00:00.000Z",
        ),
    ))
    .await;
    until(|| sink.failure().is_some()).await;
    let settings = Settings::from_args(&SettingsArgs::default()).unwrap();
    let registry = lp_rfq::desk::open_registry(&settings).unwrap();
    let desk = Desk::with_parts(settings, registry, Some(blotter));
    let spec = RfqSpec {
        side: Side::Buy,
        amount: dec!(1),
        pair: "BTCUSDT".parse::<Pair>().unwrap(),
        fixed: lp_rfq::market::Leg::Base,
    };
    let error = desk.try_start(spec).err().unwrap().to_string();
    assert!(
        error.starts_with(&format!("blotter '{}' cannot be written: ", path.display()))
            && error.ends_with(" — not starting a new RFQ"),
        "{error}"
    );
    // The console's and the prompt's `start` get a stream that says why.
    let handle = desk.start(spec);
    let kinds: Vec<&str> = {
        let mut events = handle.events;
        let mut kinds = Vec::new();
        while let Some(event) = events.recv().await {
            kinds.push(event.kind.name());
        }
        kinds
    };
    assert_eq!(kinds, ["blotter_error", "ended"]);
    holder.execute_batch("ROLLBACK").unwrap();
    drop(sink);
    let closed = desk.shutdown().await;
    assert_eq!(closed.blotter.unwrap().1.lost, 0);
}

/// The order is out when the blotter stops taking writes: its outcome is
/// in the fallback journal at once (synced, 0600), everything still held is
/// there at close (nothing lost), and the next start merges it so that the
/// blotter holds the whole stream, rows in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_the_blotter_cannot_take_go_to_the_journal_and_are_merged_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let journal = lp_rfq::blotter::journal::beside(&path);
    let stream = fixture().swap_remove(1);
    let sent = stream
        .iter()
        .position(|e| matches!(e.kind, EventKind::OrderSent(_)))
        .unwrap();
    let (before, after) = stream.split_at(sent);
    let blotter = Blotter::open_with_timeout(&path, Duration::from_millis(20)).unwrap();
    assert_eq!(blotter.merged(), None);
    assert_eq!(blotter.journal(), Some(journal.as_path()));
    let sink = blotter.sink();
    let (last, earlier) = before.split_last().unwrap();
    for event in earlier {
        sink.record(event.clone()).await;
    }
    assert!(sink.record_and_commit(last.clone()).await);
    let holder = hold_write_lock(&path);
    sink.record(after[0].clone()).await;
    until(|| sink.failure().is_some()).await;
    for event in &after[1..] {
        sink.record(event.clone()).await;
    }
    sink.flush().await;
    let outcomes: Vec<&RfqEvent> = after
        .iter()
        .filter(|e| lp_rfq::blotter::journal::is_outcome(e))
        .collect();
    let journalled = lp_rfq::blotter::journal::read(&journal).unwrap();
    assert_eq!(
        journalled.iter().collect::<Vec<_>>(),
        outcomes,
        "every outcome is in the journal while the blotter fails"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&journal).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    drop(sink);
    blotter.abandoner().abandon();
    let stats = blotter.close().await;
    assert_eq!(
        (stats.lost, stats.journalled),
        (0, after.len() as u64),
        "{stats:?}"
    );
    assert_eq!(lp_rfq::blotter::journal::read(&journal).unwrap(), after);
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);

    let blotter = Blotter::open(&path).unwrap();
    assert_eq!(
        blotter.merged(),
        Some(
            format!(
                "merged {} events from the fallback journal '{}' into the blotter",
                after.len(),
                journal.display()
            )
            .as_str()
        )
    );
    assert!(!journal.exists(), "a merged journal is removed");
    blotter.close().await;
    assert_eq!(stored_rfqs(&path).unwrap()[0].events, stream);
}

/// A crash after the blotter took held outcomes but before the journal
/// was cut back leaves them in both: merging that journal at the next
/// start must not record the fill (or any order event) twice.
#[tokio::test]
async fn a_journal_merged_again_after_a_crash_does_not_double_a_fill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let journal = lp_rfq::blotter::journal::beside(&path);
    let stream = fixture().swap_remove(1);
    let ended = stream
        .iter()
        .position(|e| matches!(e.kind, EventKind::Ended(_)))
        .unwrap();
    let running = &stream[..ended];
    let executions = running
        .iter()
        .filter(|e| lp_rfq::blotter::journal::is_outcome(e))
        .count();
    assert!(
        running
            .iter()
            .any(|e| matches!(e.kind, EventKind::Filled(_))),
        "the fixture fills before it ends"
    );
    let blotter = Blotter::open(&path).unwrap();
    let sink = blotter.sink();
    for event in running {
        sink.record(event.clone()).await;
    }
    drop(sink);
    blotter.close().await;
    // What the crash left behind: the same outcomes, still journalled.
    let lines: Vec<String> = running
        .iter()
        .filter(|e| lp_rfq::blotter::journal::is_outcome(e))
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    std::fs::write(&journal, lines.join("\n") + "\n").unwrap();

    let blotter = Blotter::open(&path).unwrap();
    blotter.close().await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let stored: usize = conn
        .query_row("SELECT count(*) FROM executions", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, executions, "each order event is stored once");
    assert!(!journal.exists(), "the merged journal is removed");
}

/// `interleaved_fixture`'s first nine streams again as two-way RFQs
/// (`T-…`): answers for the bid, the offer or both in turn, and the
/// client taking the offer (buying), the bid (selling), or neither.
pub(crate) fn two_way_interleaved_fixture() -> Vec<Vec<RfqEvent>> {
    interleaved_fixture()
        .into_iter()
        .take(9)
        .enumerate()
        .map(|(r, stream)| {
            let rfq = format!("T-{r}");
            let taken = [Some(Side::Buy), Some(Side::Sell), None][r % 3];
            let mut events: Vec<RfqEvent> = Vec::new();
            for (at, mut event) in stream.into_iter().enumerate() {
                event.rfq_id = Arc::from(rfq.as_str());
                match &mut event.kind {
                    EventKind::Started(started) => started.two_way = true,
                    EventKind::LpQuote(_) | EventKind::LpError(_) => {
                        event.two_way_side = [Some(Side::Buy), Some(Side::Sell), None][at % 3];
                    }
                    EventKind::Ended(ended) => {
                        if let Some(side) = taken {
                            let quote_id = format!("Q-{r}");
                            let price = dec!(100000.00);
                            let mut shown = ev(
                                &rfq,
                                event.t_ms,
                                client(
                                    &quote_id,
                                    "LP1",
                                    side,
                                    "BTCUSDT",
                                    price,
                                    price,
                                    price,
                                    dec!(1.5),
                                    QuoteReason::First,
                                ),
                            );
                            shown.two_way_side = Some(side);
                            events.push(shown);
                            ended.quote_id = Some(Arc::from(quote_id.as_str()));
                            ended.lp = Some(Arc::from("LP1"));
                            ended.client_price = Some(price);
                        }
                    }
                    _ => {}
                }
                events.push(event);
            }
            events
        })
        .collect()
}

/// Rows of `sql` (one integer column) in the blotter at `path`.
fn integers(path: &Path, sql: &str) -> Vec<i64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut select = conn.prepare(sql).unwrap();
    let rows = select.query_map([], |row| row.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test]
async fn ended_rfqs_are_reported_from_their_summaries_as_from_every_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    let mut streams = interleaved_fixture();
    streams.extend(two_way_interleaved_fixture());
    // One that ended before any LP answered: nothing to sum or to scan.
    streams.push(vec![
        ev(
            "Q-0",
            0,
            started(
                Side::Buy,
                dec!(1),
                "BTCUSDT",
                &["LP1"],
                "2026-11-22T10:30:00.000Z",
            ),
        ),
        ev(
            "Q-0",
            5,
            ended(EndReason::NoQuotes, Outcome::NotFilled, 0, None),
        ),
    ]);
    record(&path, &streams).await;
    // Every ended RFQ with answers has its summaries, per LP that answered
    // (LP4, in no RFQ's list, too) and, when two-way, per side; a live one
    // has none.
    let summed = integers(
        &path,
        "SELECT r.id FROM rfqs r WHERE EXISTS
         (SELECT 1 FROM answer_summaries s WHERE s.rfq = r.id) ORDER BY r.id",
    );
    let ended = integers(
        &path,
        "SELECT id FROM rfqs WHERE end_seq IS NOT NULL AND rfq_id <> 'Q-0' ORDER BY id",
    );
    assert_eq!(summed, ended);
    assert_eq!(ended.len(), 20 + 8, "{ended:?}");
    assert_eq!(
        integers(
            &path,
            "SELECT count(*) FROM answer_summaries s JOIN rfqs r ON r.id = s.rfq
             WHERE r.rfq_id = 'R-0'"
        ),
        [4]
    );
    assert_eq!(
        integers(
            &path,
            "SELECT count(*) FROM answer_summaries s JOIN rfqs r ON r.id = s.rfq
             WHERE r.rfq_id = 'T-0'"
        ),
        [8]
    );
    // What the summaries hold is what the answers pass counts: the same
    // report by either, on one thread or several, whatever the filter.
    let parse = |since, until, pair, lp, last| Filter::parse(since, until, pair, lp, last).unwrap();
    let filters = [
        Filter::default(),
        parse(None, None, None, Some("LP2"), None),
        parse(None, None, Some("ETHUSDT"), None, None),
        parse(None, None, None, None, Some("7")),
        parse(
            Some("2026-11-22T10:05:00Z"),
            Some("2026-11-22T10:17:00Z"),
            None,
            None,
            None,
        ),
    ];
    for filter in filters {
        let scanned =
            report::load_split_from(&path, &filter, Some(1), report::Answers::Scan).unwrap();
        assert!(scanned.lps.iter().any(|lp| lp.answers > 0), "{filter:?}");
        for workers in [1, 3] {
            let summed =
                report::load_split_from(&path, &filter, Some(workers), report::Answers::Summaries)
                    .unwrap();
            assert_eq!(summed, scanned, "{workers} workers, {filter:?}");
        }
    }
    let all = load_checked(&path, &Filter::default()).unwrap();
    let sides: Vec<&str> = all
        .rfqs
        .iter()
        .filter(|rfq| rfq.rfq_id.starts_with("T-"))
        .map(|rfq| rfq.side.as_str())
        .collect();
    assert_eq!(
        sides,
        [
            "two-way buy",
            "two-way sell",
            "two-way",
            "two-way buy",
            "two-way",
            "two-way",
            "two-way buy",
            "two-way sell",
            "two-way"
        ]
    );
}

/// `streams` with every RFQ id prefixed (another run's RFQs).
fn renamed(streams: Vec<Vec<RfqEvent>>, prefix: &str) -> Vec<Vec<RfqEvent>> {
    streams
        .into_iter()
        .map(|stream| {
            stream
                .into_iter()
                .map(|mut event| {
                    event.rfq_id = Arc::from(format!("{prefix}{}", event.rfq_id));
                    event
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn rfqs_a_failed_batch_or_an_older_lp_rfq_left_unsummed_are_counted_from_their_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    // A first run whose writer fails a batch mid-stream (a client quote
    // the file refuses, dropped), on a file from before `answer_summaries`
    // (the table dropped and the version put back after it).
    let mut first = interleaved_fixture();
    let refused = ev(
        "R-3",
        900,
        client(
            "Q-refused",
            "LP1",
            Side::Sell,
            "BTCUSDT",
            dec!(100000.00),
            dec!(99950.00),
            dec!(1.5),
            dec!(149925.00),
            QuoteReason::First,
        ),
    );
    first[3].insert(40, refused);
    {
        let blotter = Blotter::open(&path).unwrap();
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON client_quotes
                 WHEN NEW.quote_id = 'Q-refused' BEGIN SELECT RAISE(FAIL, 'refused'); END;",
            )
            .unwrap();
        let sink = blotter.sink();
        for i in 0..first.iter().map(Vec::len).max().unwrap() {
            for stream in &first {
                if let Some(event) = stream.get(i) {
                    sink.record(event.clone()).await;
                }
            }
        }
        drop(sink);
        let stats = blotter.close().await;
        assert_eq!(stats.lost, 1, "{stats:?}");
    }
    let summed_by_rfq = |rfq_id: &str| {
        integers(
            &path,
            &format!(
                "SELECT count(*) FROM answer_summaries s JOIN rfqs r ON r.id = s.rfq
                 WHERE r.rfq_id = '{rfq_id}'"
            ),
        )[0]
    };
    // R-3's batch failed while it ran: it has no summary.
    assert_eq!(summed_by_rfq("R-3"), 0);
    let all_scanned = load_checked(&path, &Filter::default()).unwrap();
    assert_eq!(all_scanned.rfqs.len(), 24);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "DROP TRIGGER refuse; DROP TABLE answer_summaries; PRAGMA user_version = 17;",
        )
        .unwrap();
    assert_eq!(
        load_checked(&path, &Filter::default()).unwrap(),
        all_scanned
    );
    // The next run upgrades the file and sums its own RFQs only.
    record(&path, &renamed(interleaved_fixture(), "N")).await;
    assert_eq!(
        integers(&path, "PRAGMA user_version"),
        [i64::from(schema::LATEST)]
    );
    assert_eq!(summed_by_rfq("R-0"), 0);
    assert_eq!(summed_by_rfq("NR-0"), 4);
    let parse = |since, until, pair, lp, last| Filter::parse(since, until, pair, lp, last).unwrap();
    for filter in [
        Filter::default(),
        parse(None, None, None, Some("LP3"), None),
        parse(None, None, Some("BTCUSDT"), None, Some("30")),
    ] {
        let report = load_checked(&path, &filter).unwrap();
        assert!(report.lps.iter().any(|lp| lp.answers > 0), "{filter:?}");
    }
    let both = load_checked(&path, &Filter::default()).unwrap();
    assert_eq!(both.rfqs.len(), 48);
    let requests: u64 = both.lps.iter().map(|lp| lp.requests).sum();
    assert_eq!(requests, 2 * 24 * 30 * 4);
}

#[tokio::test]
async fn summaries_of_rfqs_the_report_did_not_select_are_skipped_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blotter.db");
    record(&path, &interleaved_fixture()).await;
    // An ETH RFQ amid the BTC ones, its summary text damaged by hand.
    let eth = integers(
        &path,
        "SELECT r.id FROM rfqs r WHERE r.pair = 'ETHUSDT' AND EXISTS
         (SELECT 1 FROM answer_summaries s WHERE s.rfq = r.id) ORDER BY r.id LIMIT 1 OFFSET 1",
    );
    let btc = integers(
        &path,
        "SELECT id FROM rfqs WHERE pair = 'BTCUSDT' ORDER BY id",
    );
    assert!(
        btc[0] < eth[0] && eth[0] < btc[btc.len() - 1],
        "{eth:?} {btc:?}"
    );
    let btc_only = Filter::parse(None, None, Some("BTCUSDT"), None, None).unwrap();
    let before = load_checked(&path, &btc_only).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE answer_summaries SET latencies = 'damaged' WHERE rfq = ?1",
            [eth[0]],
        )
        .unwrap();
    // Read only when selected: BTC's report is as it was, the whole one
    // refuses the text it cannot read.
    assert_eq!(load_checked(&path, &btc_only).unwrap(), before);
    let error = report::load(&path, &Filter::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a summary"), "{error}");
}
