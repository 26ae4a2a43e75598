//! Two-way requests: a bid and an offer, each with its own lock, under
//! paused time with scripted LPs (exact event sequences), accepted on
//! either side; and from the binary, the refusals of `--accept-side`.

use std::sync::Arc;

use lp_rfq::lp::scripted::{ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::market::Side;
use lp_rfq::rfq::StreamCommand;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{params, run_two_way_with_commands, spec, two_way_trace, with_reference};

/// An LP answering after `delay_ms` with `offer(now)` when asked for its
/// offer (a client BUY) and `bid(now)` for its bid (a client SELL).
fn two_sided(
    name: &str,
    delay_ms: u64,
    offer: impl Fn(u64) -> Decimal + Send + Sync + 'static,
    bid: impl Fn(u64) -> Decimal + Send + Sync + 'static,
) -> Arc<ScriptedLp> {
    Arc::new(ScriptedLp::new(name, 10_000, move |call| {
        match call.side() {
            Side::Buy => Step::price(delay_ms, offer(call.now_ms)),
            Side::Sell => Step::price(delay_ms, bid(call.now_ms)),
        }
    }))
}

/// A quotes the better offer at first and the better bid throughout; B's
/// offer improves from its second poll on by more than the threshold.
pub(crate) fn lps() -> Vec<SharedLp> {
    let a = two_sided("A", 100, |_| dec!(100010.00), |_| dec!(99990.00));
    let b = two_sided(
        "B",
        200,
        |now| {
            if now < 500 {
                dec!(100020.00)
            } else {
                dec!(99990.00)
            }
        },
        |_| dec!(99980.00),
    );
    vec![a as SharedLp, b as SharedLp]
}

#[tokio::test(start_paused = true)]
async fn a_two_way_streams_bid_and_offer_lock_apart_and_move_independently() {
    let events = run_two_way_with_commands(
        spec(Side::Buy),
        lps(),
        with_reference(params()),
        1_000,
        vec![],
    )
    .await;
    assert_eq!(
        two_way_trace(&events),
        [
            "0 started 2 lps",
            "offer 100 quote A 100010.00",
            "offer 100 client A 100010.00->100110.01 first valid 8000",
            "bid 100 quote A 99990.00",
            "bid 100 client A 99990.00->99890.01 first valid 8000",
            "offer 200 quote B 100020.00",
            "offer 200 locked A 100010.00 BestOfPoll",
            "bid 200 quote B 99980.00",
            "bid 200 locked A 99990.00 BestOfPoll",
            // Poll 2 asks only each side's competitor: B on both sides.
            // B's offer beats the offer lock by more than 1 bp and takes
            // it; the bid lock stays with A.
            "offer 700 quote B 99990.00",
            "offer 700 locked B 99990.00 Improvement",
            "offer 700 client B 99990.00->100089.99 improvement valid 8000",
            "bid 700 quote B 99980.00",
            "1000 ended duration improvements=1 lp=- price=-",
        ]
    );
    let started = &events[0];
    let lp_rfq::rfq::EventKind::Started(started) = &started.kind else {
        panic!("started first")
    };
    assert!(started.two_way);
}

#[rstest::rstest]
#[case::the_client_sells_at_the_bid(
    Side::Sell,
    ["bid 1000 order A 99990.00 attempt 1 for Q-test-bid-1", "bid 1000 filled A 99990.00 client 99890.01 pays 1.50000000 BTC receives 149835.01 USDT pnl 149.99 USDT hold 0"],
    "1000 ended accepted filled improvements=0 lp=A price=99890.01"
)]
#[case::the_client_buys_at_the_offer(
    Side::Buy,
    ["offer 1000 order B 99990.00 attempt 1 for Q-test-offer-2", "offer 1000 filled B 99990.00 client 100089.99 pays 150134.99 USDT receives 1.50000000 BTC pnl 149.99 USDT hold 0"],
    "1000 ended accepted filled improvements=1 lp=B price=100089.99"
)]
#[tokio::test(start_paused = true)]
async fn a_two_way_request_is_filled_on_the_side_the_client_takes_at_that_sides_price(
    #[case] side: Side,
    #[case] execution: [&str; 2],
    #[case] ended: &str,
) {
    let accept = StreamCommand::AcceptSide {
        side,
        quote_id: None,
    };
    let events = run_two_way_with_commands(
        spec(Side::Buy),
        lps(),
        with_reference(params()),
        2_000,
        vec![(1_000, accept)],
    )
    .await;
    let lines = two_way_trace(&events);
    let from_accept: Vec<&str> = lines[13..].iter().map(String::as_str).collect();
    assert_eq!(from_accept, [execution[0], execution[1], ended]);
}

mod binary {
    use std::process::Output;

    use serde_json::Value;

    use crate::support::{empty_dir, lp_rfq_in};

    const FAST: [&str; 6] = [
        "--duration",
        "1",
        "--mock-min-delay",
        "0.01",
        "--mock-max-delay",
        "0.05",
    ];

    fn quote(args: &[&str]) -> Output {
        lp_rfq_in(empty_dir())
            .env("NO_BLOTTER", "true")
            .arg("quote")
            .args(args)
            .args(FAST)
            .output()
            .unwrap()
    }

    fn refusal(args: &[&str]) -> String {
        let output = quote(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "nothing streamed: {args:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    #[test]
    fn accept_side_is_required_with_two_way_and_refused_otherwise_by_name() {
        assert_eq!(
            refusal(&["two-way", "1", "BTCUSDT", "--accept-after", "0.5s"]),
            "lp-rfq: a two-way request needs --accept-side with --accept-after: buy (the client takes the offer) or sell (the client takes the bid)\n"
        );
        assert_eq!(
            refusal(&["buy", "1", "BTCUSDT", "--accept-after", "0.5s", "--accept-side", "buy"]),
            "lp-rfq: invalid --accept-side 'buy': the request is one-sided (buy); --accept-side is only for a two-way request\n"
        );
        assert_eq!(
            refusal(&["2w", "1", "BTCUSDT", "--accept-side", "sell"]),
            "lp-rfq: invalid --accept-side 'sell': it needs --accept-after (when the client accepts)\n"
        );
        assert_eq!(
            refusal(&[
                "2W",
                "1",
                "BTCUSDT",
                "--accept-after",
                "0.5s",
                "--accept-side",
                "bid"
            ]),
            "lp-rfq: invalid --accept-side 'bid': must be buy or sell (the client's side)\n"
        );
    }

    #[test]
    fn a_two_way_json_stream_quotes_both_sides_and_fills_the_side_taken_at_its_price() {
        let dir = tempfile::tempdir().unwrap();
        let output = lp_rfq_in(dir.path())
            .args(["quote", "two-way", "1", "BTCUSDT", "--json"])
            .args(["--accept-after", "0.5s", "--accept-side", "sell"])
            .args(["--blotter", "blotter.db"])
            .args(FAST)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let events: Vec<Value> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(events[0]["event"], "started");
        assert_eq!(events[0]["two_way"], true);
        let quotes = |side: &str| -> Vec<&Value> {
            events
                .iter()
                .filter(|e| e["event"] == "client_quote" && e["side"] == side)
                .collect()
        };
        // Each side's client quotes say their side twice: the quote's own
        // side and the side of the two-way stream they belong to.
        let (bids, offers) = (quotes("sell"), quotes("buy"));
        assert!(!bids.is_empty() && !offers.is_empty());
        assert!(bids.iter().all(|q| q["two_way_side"] == "sell"));
        assert!(offers.iter().all(|q| q["two_way_side"] == "buy"));
        // The bid is below the offer.
        let price = |q: &Value| -> rust_decimal::Decimal {
            q["client_price"].as_str().unwrap().parse().unwrap()
        };
        assert!(price(bids.last().unwrap()) < price(offers.last().unwrap()));
        // The client sold at the bid live when it accepted.
        let sent = events
            .iter()
            .position(|e| e["event"] == "order_sent")
            .unwrap();
        let live_bid = events[..sent]
            .iter()
            .rev()
            .find(|e| e["event"] == "client_quote" && e["side"] == "sell")
            .unwrap();
        assert_eq!(events[sent]["two_way_side"], "sell");
        assert_eq!(events[sent]["quote_id"], live_bid["quote_id"]);
        let filled = events.iter().find(|e| e["event"] == "filled").unwrap();
        assert_eq!(filled["client_price"], live_bid["client_price"]);
        assert_eq!(filled["two_way_side"], "sell");
        // Nothing is offered on the other side once the client has taken one.
        assert!(!events[sent..].iter().any(|e| e["event"] == "client_quote"));
        let ended = events.last().unwrap();
        assert_eq!(ended["event"], "ended");
        assert_eq!(ended["outcome"], "filled");
        assert_eq!(ended["client_price"], live_bid["client_price"]);
        assert!(ended.get("two_way_side").is_none());
        assert_eq!(events.iter().filter(|e| e["event"] == "ended").count(), 1);
        assert_eq!(events.iter().filter(|e| e["event"] == "started").count(), 1);

        // The blotter holds one RFQ, both sides' client quotes, and the
        // order on the side taken.
        let db = rusqlite::Connection::open(dir.path().join("blotter.db")).unwrap();
        let count = |sql: &str| -> i64 { db.query_row(sql, [], |row| row.get(0)).unwrap() };
        assert_eq!(count("SELECT COUNT(*) FROM rfqs"), 1);
        assert_eq!(
            count("SELECT COUNT(*) FROM client_quotes WHERE side = 'sell'"),
            bids.len() as i64
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM client_quotes WHERE side = 'buy'"),
            offers.len() as i64
        );
        let accepted_side: String = db
            .query_row(
                "SELECT c.side FROM client_quotes c JOIN rfqs r ON c.rfq = r.id WHERE c.quote_id = r.final_quote_id",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(accepted_side, "sell");
    }
}

/// From the binary against local venues: a venue with a two-way form
/// (FIX) is asked once per poll for both sides; one without (B2C2), once
/// per side.
mod venues {
    use std::process::Output;

    use lp_rfq::lp::fix::codec::{msg_type, tag};
    use serde_json::Value;

    use crate::fake_venues::{FakeB2c2, B2C2_TOKEN};
    use crate::fix_acceptor::{Acceptor, Script};
    use crate::support::{empty_dir, lp_rfq_in};

    /// `quote two-way 1 BTCUSDT --json` for 2 s against `venues` (a
    /// venues file's text), off the async workers the fakes answer on.
    async fn two_way_stream(venues: String) -> Vec<Value> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lps.toml");
        std::fs::write(&file, venues).unwrap();
        let output: Output = tokio::task::spawn_blocking(move || {
            lp_rfq_in(empty_dir())
                .env("NO_BLOTTER", "true")
                .env("TWO_WAY_B2C2_TOKEN", B2C2_TOKEN)
                .args([
                    "quote",
                    "two-way",
                    "1",
                    "BTCUSDT",
                    "--json",
                    "--duration",
                    "2",
                ])
                .arg("--lps")
                .arg(&file)
                .arg("--fix-log-dir")
                .arg(dir.path().join("fix-logs"))
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The LP prices quoted to one side of the stream, in order.
    fn lp_prices(events: &[Value], side: &str) -> Vec<String> {
        events
            .iter()
            .filter(|e| e["event"] == "lp_quote" && e["two_way_side"] == side)
            .map(|e| e["price"].as_str().unwrap().to_string())
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fix_venue_is_asked_once_per_poll_for_both_sides_without_a_side() {
        let acceptor = Acceptor::start(Script::default()).await;
        let events = two_way_stream(format!(
            r#"
[[lp]]
name = "Fix"
kind = "fix44"
host = "127.0.0.1"
port = {}
sender_comp_id = "DESK"
target_comp_id = "LP"

[bands]
BTCUSDT = {{ min = "50000", max = "200000" }}
"#,
            acceptor.port
        ))
        .await;
        let requests = acceptor.received(msg_type::QUOTE_REQUEST);
        assert!(!requests.is_empty());
        // Side (54) omitted: a two-way QuoteRequest.
        assert!(requests.iter().all(|r| r.get(tag::SIDE).is_none()));
        // Every request's one Quote answered both sides: its OfferPx the
        // offer side's, its BidPx the bid side's.
        let (offers, bids) = (lp_prices(&events, "buy"), lp_prices(&events, "sell"));
        assert_eq!(offers, vec!["100010.25".to_string(); requests.len()]);
        assert_eq!(bids, vec!["99990.5".to_string(); requests.len()]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_b2c2_venue_is_asked_once_per_side() {
        let b2c2 = FakeB2c2::start().await;
        let events = two_way_stream(format!(
            r#"
[[lp]]
name = "B2C2"
kind = "b2c2"
url = "{}"
token_env = "TWO_WAY_B2C2_TOKEN"
symbol = "{{base}}{{quote}}.SPOT"

[bands]
BTCUSDT = {{ min = "50000", max = "200000" }}
"#,
            b2c2.url
        ))
        .await;
        let (offers, bids) = (lp_prices(&events, "buy"), lp_prices(&events, "sell"));
        assert!(!offers.is_empty());
        assert!(offers.iter().all(|price| price == "100012.34"));
        assert!(bids.iter().all(|price| price == "99987.65"));
        assert_eq!(offers.len(), bids.len());
        assert_eq!(b2c2.quotes(), offers.len() + bids.len());
    }
}

/// A two-way RFQ in the blotter: one `rfqs` row marked `two_way`, each
/// answer and lock on its side, read back as the stream ran, and the
/// report's LP figures from the side the client took, the RFQ once.
mod blotter {
    use lp_rfq::blotter::report::Filter;
    use lp_rfq::blotter::Blotter;
    use lp_rfq::market::Side;
    use lp_rfq::rfq::StreamCommand;
    use rusqlite::types::Value as Sql;
    use serde_json::{json, Value};

    use super::lps;
    use crate::support::{params, run_two_way_with_commands, spec, with_reference};

    fn rows(path: &std::path::Path, sql: &str) -> Vec<Vec<Sql>> {
        let conn = rusqlite::Connection::open(path).unwrap();
        let mut select = conn.prepare(sql).unwrap();
        let columns = select.column_count();
        select
            .query_map([], |row| (0..columns).map(|i| row.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn text(value: &str) -> Sql {
        Sql::Text(value.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn a_two_way_rfq_is_stored_by_side_replayed_as_it_ran_and_reported_by_the_side_taken() {
        let accept = StreamCommand::AcceptSide {
            side: Side::Sell,
            quote_id: None,
        };
        let events = run_two_way_with_commands(
            spec(Side::Buy),
            lps(),
            with_reference(params()),
            2_000,
            vec![(1_000, accept)],
        )
        .await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blotter.db");
        let blotter = Blotter::open(&path).unwrap();
        let sink = blotter.sink();
        for event in &events {
            sink.record(event.clone()).await;
        }
        drop(sink);
        assert_eq!(blotter.close().await.lost, 0);

        assert_eq!(
            rows(&path, "SELECT side, two_way FROM rfqs"),
            [[text("buy"), Sql::Integer(1)]]
        );
        let answer = |lp: &str, poll: i64, price: &str, side: &str| {
            vec![text(lp), Sql::Integer(poll), text(price), text(side)]
        };
        assert_eq!(
            rows(
                &path,
                "SELECT lp, poll, price, side FROM lp_quotes ORDER BY seq"
            ),
            [
                answer("A", 1, "100010.00", "buy"),
                answer("A", 1, "99990.00", "sell"),
                answer("B", 1, "100020.00", "buy"),
                answer("B", 1, "99980.00", "sell"),
                answer("B", 2, "99990.00", "buy"),
                answer("B", 2, "99980.00", "sell"),
            ]
        );
        let lock = |event: &str, lp: &str, price: &str, side: &str| {
            vec![text(event), text(lp), text(price), text(side)]
        };
        assert_eq!(
            rows(
                &path,
                "SELECT event, lp, price, side FROM lock_events ORDER BY seq"
            ),
            [
                lock("locked", "A", "100010.00", "buy"),
                lock("locked", "A", "99990.00", "sell"),
                lock("locked", "B", "99990.00", "buy"),
            ]
        );

        // Read back, the stream is the one that ran, each event on its side.
        let stored = lp_rfq::blotter::read::stored_rfqs(&path).unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].events, events);

        // The client sold at the bid: the bid side's answers and locks are
        // the RFQ's figures, the offer side's are not counted again.
        let report =
            serde_json::to_value(crate::blotter::load_checked(&path, &Filter::default()).unwrap())
                .unwrap();
        let figures = |lp: &Value| {
            json!({
                "lp": lp["lp"], "requests": lp["requests"], "answers": lp["answers"],
                "locks_won": lp["locks_won"], "improvements": lp["improvements"],
                "avg_distance_bps": lp["avg_distance_bps"], "orders": lp["orders"],
                "fills": lp["fills"],
            })
        };
        let lps: Vec<Value> = report["lps"]
            .as_array()
            .unwrap()
            .iter()
            .map(figures)
            .collect();
        assert_eq!(
            lps,
            [
                json!({"lp": "A", "requests": 1, "answers": 1, "locks_won": 1, "improvements": 0,
                       "avg_distance_bps": "0", "orders": 1, "fills": 1}),
                json!({"lp": "B", "requests": 2, "answers": 2, "locks_won": 0, "improvements": 0,
                       "avg_distance_bps": "0.5", "orders": 0, "fills": 0}),
            ]
        );
        let rfqs = report["rfqs"].as_array().unwrap();
        assert_eq!(rfqs.len(), 1);
        assert_eq!(rfqs[0]["side"], "two-way sell");
        assert_eq!(rfqs[0]["outcome"], "filled");
        assert_eq!(report["pairs"][0]["rfqs"], 1);
    }
}
