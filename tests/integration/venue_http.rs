//! The REST adapters against local fake venues (`fake_venues`) that behave
//! as the public docs say: prices to the last digit, expiry in stream
//! time, every error shape mapped by cause, orders that fill, are
//! rejected, or end unknown. Real sockets on 127.0.0.1; no test waits
//! more than a few hundred milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use lp_rfq::clock::StreamClock;
use lp_rfq::lp::adapter::AdapterTimeouts;
use lp_rfq::lp::b2c2::B2c2Lp;
use lp_rfq::lp::binance::BinanceConvertLp;
use lp_rfq::lp::{
    next_request_id, LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer,
    OrderRefusal,
};
use lp_rfq::market::Side;
use lp_rfq::secret::Secret;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;

use crate::fake_venues::{
    refused_url, Endpoint, FakeB2c2, FakeBinance, Reply, TimeStyle, B2C2_TOKEN, BINANCE_KEY,
    BINANCE_SECRET,
};

/// Generous for answers that come (the suite runs tests in parallel on
/// two cores), short where a test waits for one that never does.
fn timeouts(quote_ms: u64, order_ms: u64) -> AdapterTimeouts {
    AdapterTimeouts {
        quote: Duration::from_millis(quote_ms),
        order: Duration::from_millis(order_ms),
    }
}

const RELAXED: (u64, u64) = (2_000, 2_000);

fn b2c2_with(url: &str, token: &str, (quote_ms, order_ms): (u64, u64)) -> B2c2Lp {
    B2c2Lp::new(
        "B2C2",
        url,
        Secret::new(token),
        "{base}{quote}.SPOT",
        timeouts(quote_ms, order_ms),
    )
    .expect("adapter")
}

fn b2c2(fake: &FakeB2c2) -> B2c2Lp {
    b2c2_with(&fake.url, B2C2_TOKEN, RELAXED)
}

fn binance_with(url: &str, secret: &str, (quote_ms, order_ms): (u64, u64)) -> BinanceConvertLp {
    BinanceConvertLp::new(
        "BinanceConvert",
        url,
        Secret::new(BINANCE_KEY),
        Secret::new(secret),
        Some(5000),
        timeouts(quote_ms, order_ms),
    )
    .expect("adapter")
}

fn binance(fake: &FakeBinance) -> BinanceConvertLp {
    binance_with(&fake.url, BINANCE_SECRET, RELAXED)
}

fn request(pair: &str, side: Side, amount: Decimal, clock: StreamClock) -> LpRequest {
    LpRequest {
        request_id: next_request_id(),
        rfq_id: Arc::from("R-test"),
        side,
        pair: pair.parse().expect("pair"),
        amount,
        sent_ms: clock.now_ms(),
        clock,
        fixed: lp_rfq::market::Leg::Base,
    }
}

fn order_on(quote: &LpQuote, amount: Decimal, clock: StreamClock) -> LpOrder {
    LpOrder {
        order_id: Arc::from(format!("O-test-{}", next_request_id())),
        rfq_id: Arc::from("R-test"),
        side: quote.side,
        pair: quote.pair,
        amount,
        price: quote.price,
        venue_ref: quote.venue_ref.clone(),
        valid_until_ms: quote.valid_until_ms,
        clock,
        fixed: lp_rfq::market::Leg::Base,
    }
}

/// An order naming a quote the venue never gave (or gave elsewhere).
fn order_blind(pair: &str, side: Side, venue_ref: &str, clock: StreamClock) -> LpOrder {
    LpOrder {
        order_id: Arc::from(format!("O-test-{}", next_request_id())),
        rfq_id: Arc::from("R-test"),
        side,
        pair: pair.parse().expect("pair"),
        amount: dec!(1.5),
        price: dec!(100012.34),
        venue_ref: Some(Arc::from(venue_ref)),
        valid_until_ms: 10_000,
        clock,
        fixed: lp_rfq::market::Leg::Base,
    }
}

/// Stream ms of a wall time, computed here independently of the adapter.
fn stream_ms(clock: &StreamClock, at: DateTime<Utc>) -> u64 {
    (at - clock.wall_origin()).num_milliseconds() as u64
}

fn is_uuid_v4(text: &str) -> bool {
    let groups: Vec<usize> = text.split('-').map(str::len).collect();
    groups == [8, 4, 4, 4, 12]
        && &text[14..15] == "4"
        && matches!(&text[19..20], "8" | "9" | "a" | "b")
        && text
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn unknown_reason(answer: OrderAnswer) -> String {
    match answer {
        OrderAnswer::Unknown { reason } => reason,
        other => panic!("expected unknown, got {other:?}"),
    }
}

fn rejected_reason(answer: OrderAnswer) -> String {
    match answer {
        OrderAnswer::Rejected { reason } => reason,
        other => panic!("expected rejected, got {other:?}"),
    }
}

/// An order turned away before the LP's dealing decision: why, and its text.
fn refused(answer: OrderAnswer) -> (OrderRefusal, String) {
    match answer {
        OrderAnswer::Refused { reason, refusal } => (refusal, reason),
        other => panic!("expected refused, got {other:?}"),
    }
}

// ---------------------------------------------------------------- B2C2

#[tokio::test]
async fn b2c2_reads_a_zoneless_valid_until_as_utc() {
    let fake = FakeB2c2::start().await;
    let clock = StreamClock::start();
    let request = request("BTCUSD", Side::Buy, dec!(1.5), clock);
    let quote = b2c2(&fake).quote(&request).await.expect("quote");

    let written = fake.last_quote_answer()["valid_until"]
        .as_str()
        .expect("valid_until")
        .to_string();
    assert!(written.ends_with(|c: char| c.is_ascii_digit()), "{written}");
    let at = NaiveDateTime::parse_from_str(&written, "%Y-%m-%dT%H:%M:%S%.f")
        .expect("zoneless time")
        .and_utc();
    assert_eq!(
        quote,
        LpQuote {
            lp: Arc::from("B2C2"),
            request_id: request.request_id,
            side: Side::Buy,
            pair: request.pair,
            price: dec!(100012.34),
            quantity: dec!(1.5),
            valid_until_ms: stream_ms(&clock, at),
            venue_ref: Some(Arc::from("rfq-0001")),
        }
    );
    // 10 s from the venue's now, which is a little after the stream began:
    // its whole milliseconds may fall 1 ms before the stream's origin, and
    // a loaded machine may take seconds to serve the first request.
    assert!(
        (9_999..=15_000).contains(&quote.valid_until_ms),
        "{quote:?}"
    );
}

#[tokio::test]
async fn b2c2_reads_a_valid_until_in_utc_with_z() {
    let fake = FakeB2c2::start().await;
    fake.set_time_style(TimeStyle::Utc);
    let clock = StreamClock::start();
    let quote = b2c2(&fake)
        .quote(&request("BTCUSD", Side::Sell, dec!(2), clock))
        .await
        .expect("quote");
    let written = fake.last_quote_answer()["valid_until"]
        .as_str()
        .expect("valid_until")
        .to_string();
    assert!(written.ends_with('Z'), "{written}");
    let at = DateTime::parse_from_rfc3339(&written)
        .expect("time")
        .to_utc();
    assert_eq!(quote.valid_until_ms, stream_ms(&clock, at));
    assert_eq!((quote.price, quote.quantity), (dec!(99987.65), dec!(2)));
}

#[tokio::test]
async fn b2c2_rfq_carries_the_token_instrument_side_and_a_uuid() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2(&fake);
    let clock = StreamClock::start();
    let request = request("BTCUSDT", Side::Sell, dec!(1.50), clock);
    lp.quote(&request).await.expect("quote");
    let rfq = fake.last_rfq();
    assert_eq!(rfq["instrument"], "BTCUSDT.SPOT");
    assert_eq!(rfq["side"], "sell");
    assert_eq!(rfq["quantity"], "1.5");
    let id = rfq["client_rfq_id"].as_str().expect("client_rfq_id");
    assert!(is_uuid_v4(id), "{id}");
    assert_eq!(fake.auth_headers(), [format!("Token {B2C2_TOKEN}")]);
}

#[tokio::test]
async fn b2c2_spells_pairs_with_the_venues_template() {
    let fake = FakeB2c2::start().await;
    fake.state
        .lock()
        .unwrap()
        .instruments
        .push("ETH-USD".into());
    let lp = B2c2Lp::new(
        "B2C2",
        &fake.url,
        Secret::new(B2C2_TOKEN),
        "{base}-{quote}",
        timeouts(2_000, 2_000),
    )
    .expect("adapter");
    let quote = lp
        .quote(&request("ETHUSD", Side::Buy, dec!(3), StreamClock::start()))
        .await
        .expect("quote");
    assert_eq!(fake.last_rfq()["instrument"], "ETH-USD");
    assert_eq!(quote.price, dec!(100012.34));
}

#[tokio::test]
async fn b2c2_instrument_not_allowed_is_declined() {
    let fake = FakeB2c2::start().await;
    let error = b2c2(&fake)
        .quote(&request(
            "SOLUSDT",
            Side::Buy,
            dec!(1),
            StreamClock::start(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Declined("error 1001: Instrument not allowed.".into())
    );
}

#[tokio::test]
async fn b2c2_size_limit_is_declined() {
    let fake = FakeB2c2::start().await;
    let error = b2c2(&fake)
        .quote(&request(
            "BTCUSD",
            Side::Buy,
            dec!(250),
            StreamClock::start(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Declined("error 1009: Quantity too big.".into())
    );
}

#[tokio::test]
async fn b2c2_more_than_four_decimals_is_declined_without_asking() {
    let fake = FakeB2c2::start().await;
    let error = b2c2(&fake)
        .quote(&request(
            "BTCUSD",
            Side::Buy,
            dec!(0.00015),
            StreamClock::start(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Declined("quantity 0.00015 has 5 decimals: B2C2 takes at most 4 decimals".into())
    );
    assert_eq!(fake.quotes(), 0);
}

#[tokio::test]
async fn b2c2_a_bad_token_is_auth_and_never_shown() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2_with(&fake.url, "wrong-token-Zk1", RELAXED);
    let error = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), StreamClock::start()))
        .await
        .unwrap_err();
    assert_eq!(error, LpError::Auth("error 1100: Invalid token.".into()));
    let shown = format!("{error} {error:?} {lp:?}");
    assert!(!shown.contains("Zk1"), "{shown}");
}

#[tokio::test]
async fn b2c2_forbidden_is_auth() {
    let fake = FakeB2c2::start().await;
    fake.answer_next_quote(Reply::json(
        403,
        json!({"errors": [{"code": 1100, "message": "Not allowed from this IP."}]}),
    ));
    let error = b2c2(&fake)
        .quote(&request("BTCUSD", Side::Buy, dec!(1), StreamClock::start()))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Auth("error 1100: Not allowed from this IP.".into())
    );
}

#[tokio::test]
async fn b2c2_rate_limit_honours_retry_after() {
    let fake = FakeB2c2::start().await;
    fake.answer_next_quote(
        Reply::json(
            429,
            json!({"errors": [{"code": 1100, "message": "Request was throttled."}]}),
        )
        .with_header("Retry-After", "3"),
    );
    let error = b2c2(&fake)
        .quote(&request("BTCUSD", Side::Buy, dec!(1), StreamClock::start()))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::RateLimited {
            retry_after_ms: Some(3_000)
        }
    );
}

#[tokio::test]
async fn b2c2_server_error_is_unavailable() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2(&fake);
    fake.answer_next_quote(Reply::json(
        503,
        json!({"errors": [{"code": 1200, "message": "API maintenance."}]}),
    ));
    fake.answer_next_quote(Reply::garbage(502, "<html>Bad gateway</html>"));
    let clock = StreamClock::start();
    assert_eq!(
        lp.quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Unavailable(
            "HTTP 503: error 1200: API maintenance.".into()
        ))
    );
    assert_eq!(
        lp.quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Unavailable(
            "HTTP 502: '<html>Bad gateway</html>'".into()
        ))
    );
}

#[tokio::test]
async fn b2c2_garbage_is_malformed() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2(&fake);
    fake.answer_next_quote(Reply::garbage(200, "<html>oops</html>"));
    fake.answer_next_quote(Reply::json(
        200,
        json!({"valid_until": "soon", "rfq_id": "r", "client_rfq_id": "c", "quantity": "1",
               "side": "buy", "instrument": "BTCUSD.SPOT", "price": 100000.5}),
    ));
    fake.answer_next_quote(Reply::garbage(400, "nope"));
    let clock = StreamClock::start();
    assert_eq!(
        lp.quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Malformed(
            "unreadable quote (expected value at line 1 column 1): '<html>oops</html>'".into()
        ))
    );
    // A price as a JSON number is refused: money never passes through f64.
    let error = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LpError::Malformed(text) if text.starts_with("unreadable quote (invalid type: floating point")),
        "{error:?}"
    );
    assert_eq!(
        lp.quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Malformed(
            "HTTP 400 with an unreadable body 'nope'".into()
        ))
    );
}

#[tokio::test]
async fn b2c2_a_quote_for_another_request_is_malformed() {
    let fake = FakeB2c2::start().await;
    fake.answer_next_quote(Reply::json(
        200,
        json!({"valid_until": "2030-01-01T00:00:00", "rfq_id": "r", "client_rfq_id": "someone-else",
               "quantity": "1", "side": "buy", "instrument": "BTCUSD.SPOT", "price": "100000.5",
               "created": "2030-01-01T00:00:00"}),
    ));
    let error = b2c2(&fake)
        .quote(&request("BTCUSD", Side::Buy, dec!(1), StreamClock::start()))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LpError::Malformed(text) if text.starts_with("quote answers client_rfq_id 'someone-else', not '")),
        "{error:?}"
    );
}

#[tokio::test]
async fn b2c2_a_venue_that_hangs_is_unavailable_at_the_adapters_timeout() {
    let fake = FakeB2c2::start().await;
    fake.answer_next_quote(Reply::Hang);
    let lp = b2c2_with(&fake.url, B2C2_TOKEN, (150, 2_000));
    let started = Instant::now();
    let error = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), StreamClock::start()))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Unavailable("no answer within 150 ms".into())
    );
    assert!(started.elapsed() < Duration::from_millis(1_000));
}

#[tokio::test]
async fn b2c2_a_refused_connection_is_unavailable() {
    let lp = b2c2_with(&refused_url().await, B2C2_TOKEN, RELAXED);
    let error = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), StreamClock::start()))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LpError::Unavailable(text) if text.starts_with("cannot connect: ") && text.contains("refused")),
        "{error:?}"
    );
}

#[tokio::test]
async fn b2c2_reuses_one_connection_and_survives_a_dropped_call() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2(&fake);
    let clock = StreamClock::start();
    for _ in 0..3 {
        lp.quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
            .await
            .expect("quote");
    }
    assert_eq!(fake.connections(), 1);

    // The engine drops a call at its own deadline: the adapter stays usable.
    fake.answer_next_quote(Reply::Hang);
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        lp.quote(&request("BTCUSD", Side::Buy, dec!(1), clock)),
    )
    .await;
    assert!(dropped.is_err());
    let quote = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
        .await
        .expect("quote after a dropped call");
    assert_eq!(quote.price, dec!(100012.34));
}

#[tokio::test]
async fn b2c2_order_fills_at_the_executed_price() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2(&fake);
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1.5), clock))
        .await
        .expect("quote");
    let order = order_on(&quote, dec!(1.5), clock);
    assert_eq!(
        lp.execute(&order).await,
        OrderAnswer::Filled {
            price: dec!(100012.34),
            quantity: dec!(1.5),
            venue_order_id: Some(Arc::from("order-0001")),
        }
    );
    let sent = fake.last_order();
    assert_eq!(
        (
            &sent["instrument"],
            &sent["side"],
            &sent["quantity"],
            &sent["price"],
            &sent["order_type"]
        ),
        (
            &json!("BTCUSD.SPOT"),
            &json!("buy"),
            &json!("1.5"),
            &json!("100012.34"),
            &json!("FOK")
        )
    );
    assert!(is_uuid_v4(sent["client_order_id"].as_str().unwrap_or("")));
    // Good only while the LP's quote is, written as zoneless UTC.
    let valid_until = clock
        .wall_at(quote.valid_until_ms)
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string();
    assert_eq!(sent["valid_until"], json!(valid_until));
}

#[tokio::test]
async fn b2c2_sell_order_fills_at_the_bid() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2(&fake);
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("ETHUSD", Side::Sell, dec!(2.25), clock))
        .await
        .expect("quote");
    assert_eq!(
        lp.execute(&order_on(&quote, dec!(2.25), clock)).await,
        OrderAnswer::Filled {
            price: dec!(99987.65),
            quantity: dec!(2.25),
            venue_order_id: Some(Arc::from("order-0001")),
        }
    );
}

#[tokio::test]
async fn b2c2_null_executed_price_is_rejected() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2(&fake);
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    fake.reject_next_order();
    assert_eq!(
        rejected_reason(lp.execute(&order_on(&quote, dec!(1), clock)).await),
        "not filled (order order-0001: executed_price null)"
    );
    // The price moved against the order: FOK does not trade either.
    fake.set_prices(dec!(99990), dec!(100020));
    assert_eq!(
        rejected_reason(lp.execute(&order_on(&quote, dec!(1), clock)).await),
        "not filled (order order-0002: executed_price null)"
    );
}

#[tokio::test]
async fn b2c2_order_errors_are_rejected_when_nothing_traded() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2(&fake);
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    let order = order_on(&quote, dec!(1), clock);
    fake.answer_next_order(Reply::json(
        400,
        json!({"errors": [{"code": 1010, "message": "Not enough balance."}]}),
    ));
    assert_eq!(
        rejected_reason(lp.execute(&order).await),
        "error 1010: Not enough balance."
    );
    fake.answer_next_order(
        Reply::json(
            429,
            json!({"errors": [{"code": 1100, "message": "Request was throttled."}]}),
        )
        .with_header("Retry-After", "2"),
    );
    assert_eq!(
        refused(lp.execute(&order).await),
        (
            OrderRefusal::RateLimited {
                retry_after_ms: Some(2000)
            },
            "rate limited, retry after 2000 ms".to_string()
        )
    );
    let bad_token = b2c2_with(&fake.url, "wrong-token-Zk1", RELAXED);
    assert_eq!(
        refused(bad_token.execute(&order).await),
        (
            OrderRefusal::Auth,
            "authentication failed: error 1100: Invalid token.".to_string()
        )
    );
    let too_precise = order_on(&quote, dec!(1.00001), clock);
    assert_eq!(
        refused(lp.execute(&too_precise).await),
        (
            OrderRefusal::NotSent,
            "not sent: quantity 1.00001 has 5 decimals: B2C2 takes at most 4 decimals".to_string()
        )
    );
    assert_eq!(fake.orders(), 3);
}

#[tokio::test]
async fn b2c2_order_outcome_is_unknown_when_it_cannot_be_told() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2_with(&fake.url, B2C2_TOKEN, (2_000, 200));
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    let order = order_on(&quote, dec!(1), clock);

    fake.answer_next_order(Reply::json(
        500,
        json!({"errors": [{"code": 1000, "message": "Generic error."}]}),
    ));
    // The venue is asked for the order by its client_order_id: no record
    // yet, so it stays unknown.
    let client_order_id = lp_rfq::lp::ClientOrderIds::UuidOfOrderId
        .of(&order.order_id)
        .unwrap();
    assert_eq!(
        unknown_reason(lp.execute(&order).await),
        format!(
            "HTTP 500: error 1000: Generic error.; the venue has no order with client_order_id '{client_order_id}' yet (HTTP 404)"
        )
    );
    assert_eq!(fake.status_requests(), 1);
    fake.answer_next_order(Reply::garbage(200, "{\"order_id\": "));
    assert!(unknown_reason(lp.execute(&order).await)
        .starts_with("unreadable order answer (EOF while parsing"));
    fake.answer_next_order(Reply::Hang);
    assert_eq!(
        unknown_reason(lp.execute(&order).await),
        format!(
            "no answer within 200 ms; the venue has no order with client_order_id '{client_order_id}' yet (HTTP 404)"
        )
    );
    fake.answer_next_order(Reply::Drop);
    let reason = unknown_reason(lp.execute(&order).await);
    assert!(reason.starts_with("connection lost: "), "{reason}");
    assert_eq!(fake.status_requests(), 3);
}

#[tokio::test]
async fn a_b2c2_order_whose_answer_is_lost_is_settled_by_asking_for_it() {
    let fake = FakeB2c2::start().await;
    let lp = b2c2_with(&fake.url, B2C2_TOKEN, (2_000, 200));
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    let order = order_on(&quote, dec!(1), clock);
    let client_order_id = lp_rfq::lp::ClientOrderIds::UuidOfOrderId
        .of(&order.order_id)
        .unwrap();
    // The venue traded it, but its answer to POST /order/ was a 500.
    fake.state.lock().unwrap().known_orders.insert(
        client_order_id.clone(),
        json!({"order_id": "order-0042", "client_order_id": client_order_id,
               "quantity": "1", "executed_price": "100012.34",
               "trades": [{"trade_id": "trade-0042"}]}),
    );
    fake.answer_next_order(Reply::json(
        500,
        json!({"errors": [{"code": 1000, "message": "Generic error."}]}),
    ));
    assert_eq!(
        lp.execute(&order).await,
        OrderAnswer::Filled {
            price: dec!(100012.34),
            quantity: dec!(1),
            venue_order_id: Some("order-0042".into()),
        }
    );
    assert_eq!(fake.status_requests(), 1);
}

#[tokio::test]
async fn b2c2_order_that_cannot_connect_is_rejected_as_not_sent() {
    let fake = FakeB2c2::start().await;
    let clock = StreamClock::start();
    let quote = b2c2(&fake)
        .quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    let gone = b2c2_with(&refused_url().await, B2C2_TOKEN, RELAXED);
    let (refusal, reason) = refused(gone.execute(&order_on(&quote, dec!(1), clock)).await);
    assert_eq!(refusal, OrderRefusal::NotSent);
    assert!(
        reason.starts_with("not sent: cannot connect: ") && reason.contains("refused"),
        "{reason}"
    );
}

// ------------------------------------------------------------- Binance

#[tokio::test]
async fn binance_desk_buy_is_priced_at_the_inverse_ratio() {
    let fake = FakeBinance::start().await;
    let clock = StreamClock::start();
    let request = request("BTCUSDT", Side::Buy, dec!(1.5), clock);
    let quote = binance(&fake).quote(&request).await.expect("quote");

    let sent = &fake.requests()[0];
    assert_eq!(sent.header("x-mbx-apikey"), Some(BINANCE_KEY));
    assert_eq!(
        sent.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let names: Vec<&str> = sent
        .body
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(name, _)| name))
        .collect();
    assert_eq!(
        names,
        [
            "fromAsset",
            "toAsset",
            "toAmount",
            "recvWindow",
            "timestamp",
            "signature"
        ]
    );
    assert!(
        sent.body
            .starts_with("fromAsset=USDT&toAsset=BTC&toAmount=1.5&recvWindow=5000&timestamp="),
        "{}",
        sent.body
    );

    let valid_timestamp = fake.last_quote_answer()["validTimestamp"]
        .as_i64()
        .and_then(DateTime::from_timestamp_millis)
        .expect("validTimestamp");
    assert_eq!(
        quote,
        LpQuote {
            lp: Arc::from("BinanceConvert"),
            request_id: request.request_id,
            side: Side::Buy,
            pair: request.pair,
            price: dec!(100012.34),
            quantity: dec!(1.5),
            valid_until_ms: stream_ms(&clock, valid_timestamp),
            venue_ref: Some(Arc::from(
                fake.last_quote_answer()["quoteId"]
                    .as_str()
                    .expect("quoteId")
            )),
        }
    );
    // 10 s from the venue's now, which is a little after the stream began:
    // its whole milliseconds may fall 1 ms before the stream's origin, and
    // a loaded machine may take seconds to serve the first request.
    assert!(
        (9_999..=15_000).contains(&quote.valid_until_ms),
        "{quote:?}"
    );
}

#[tokio::test]
async fn binance_desk_sell_is_priced_at_the_ratio() {
    let fake = FakeBinance::start().await;
    let quote = binance(&fake)
        .quote(&request(
            "BTCUSDT",
            Side::Sell,
            dec!(1.5),
            StreamClock::start(),
        ))
        .await
        .expect("quote");
    assert!(
        fake.requests()[0]
            .body
            .starts_with("fromAsset=BTC&toAsset=USDT&fromAmount=1.5&recvWindow=5000&timestamp="),
        "{}",
        fake.requests()[0].body
    );
    let answer = fake.last_quote_answer();
    assert_eq!(
        (&answer["ratio"], &answer["inverseRatio"]),
        (&json!("99987.65"), &json!("0.00001000"))
    );
    assert_eq!((quote.price, quote.quantity), (dec!(99987.65), dec!(1.5)));
}

#[tokio::test]
async fn binance_one_changed_byte_of_the_secret_is_auth_and_never_shown() {
    let fake = FakeBinance::start().await;
    let mut wrong = BINANCE_SECRET.as_bytes().to_vec();
    wrong[7] ^= 0x01;
    let wrong = String::from_utf8(wrong).expect("ascii");
    let lp = binance_with(&fake.url, &wrong, RELAXED);
    let error = lp
        .quote(&request(
            "BTCUSDT",
            Side::Buy,
            dec!(1),
            StreamClock::start(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Auth("error -1022: Signature for this request is not valid.".into())
    );
    let shown = format!("{error} {error:?} {lp:?}");
    assert!(
        !shown.contains(&wrong) && !shown.contains(BINANCE_KEY),
        "{shown}"
    );
}

#[tokio::test]
async fn binance_a_bad_key_is_auth() {
    let fake = FakeBinance::start().await;
    let lp = BinanceConvertLp::new(
        "BinanceConvert",
        &fake.url,
        Secret::new("not-the-key"),
        Secret::new(BINANCE_SECRET),
        None,
        timeouts(2_000, 2_000),
    )
    .expect("adapter");
    let error = lp
        .quote(&request(
            "BTCUSDT",
            Side::Buy,
            dec!(1),
            StreamClock::start(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Auth("error -2015: Invalid API-key, IP, or permissions for action.".into())
    );
}

#[tokio::test]
async fn binance_a_timestamp_outside_recv_window_is_unavailable_not_auth() {
    let fake = FakeBinance::start().await;
    fake.set_clock_skew_ms(60_000);
    let error = binance(&fake)
        .quote(&request(
            "BTCUSDT",
            Side::Buy,
            dec!(1),
            StreamClock::start(),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Unavailable(
            "error -1021: Timestamp for this request is outside of the recvWindow.".into()
        )
    );
}

#[tokio::test]
async fn binance_business_errors_are_declined() {
    let fake = FakeBinance::start().await;
    let lp = binance(&fake);
    let clock = StreamClock::start();
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(0.00001), clock))
            .await,
        Err(LpError::Declined(
            "error 345239: The amount is too small.".into()
        ))
    );
    assert_eq!(
        lp.quote(&request("ETHUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Declined(
            "error 345214: This pair is not supported for convert.".into()
        ))
    );
    fake.answer_next(
        Endpoint::GetQuote,
        Reply::json(
            400,
            json!({"code": -2010, "msg": "Account has insufficient balance for requested action."}),
        ),
    );
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Declined(
            "error -2010: Account has insufficient balance for requested action.".into()
        ))
    );
    fake.answer_next(
        Endpoint::GetQuote,
        Reply::json(400, json!({"code": -1013, "msg": "Invalid quantity."})),
    );
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Declined("error -1013: Invalid quantity.".into()))
    );
}

#[tokio::test]
async fn binance_429_and_418_honour_retry_after() {
    let fake = FakeBinance::start().await;
    let lp = binance(&fake);
    let clock = StreamClock::start();
    fake.answer_next(
        Endpoint::GetQuote,
        Reply::json(
            429,
            json!({"code": -1003, "msg": "Too much request weight used."}),
        )
        .with_header("Retry-After", "2"),
    );
    fake.answer_next(
        Endpoint::GetQuote,
        Reply::json(
            418,
            json!({"code": -1003, "msg": "Way too much request weight used; IP banned."}),
        )
        .with_header("Retry-After", "120"),
    );
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::RateLimited {
            retry_after_ms: Some(2_000)
        })
    );
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::RateLimited {
            retry_after_ms: Some(120_000)
        })
    );
}

/// Behind its health, a 418 ban pauses the venue for every caller (capped
/// at 60 s): the next request is not sent at all.
#[tokio::test]
async fn binance_418_behind_its_health_pauses_the_venue_capped() {
    use lp_rfq::lp::guarded::{Guarded, HealthFeed};
    use lp_rfq::lp::health::{BreakerPolicy, HealthPolicy, NotSent};
    use lp_rfq::rfq::event::HealthState;
    let fake = FakeBinance::start().await;
    let policy = HealthPolicy {
        rate: None,
        breaker: BreakerPolicy::default(),
        fade_limit_pct: dec!(25),
    };
    let lp = Guarded::new(
        Arc::new(binance(&fake)),
        policy,
        1_000,
        HealthFeed::default(),
    );
    let clock = StreamClock::start();
    fake.answer_next(
        Endpoint::GetQuote,
        Reply::json(
            418,
            json!({"code": -1003, "msg": "Way too much request weight used; IP banned."}),
        )
        .with_header("Retry-After", "120"),
    );
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::RateLimited {
            retry_after_ms: Some(120_000)
        })
    );
    let view = lp.health().unwrap();
    assert_eq!(view.state, HealthState::RateLimited);
    assert!(
        view.retry_in_ms
            .is_some_and(|ms| (59_000..=60_000).contains(&ms)),
        "{view:?}"
    );
    let held = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
        .await;
    assert!(
        matches!(held, Err(LpError::NotSent(NotSent::RateLimited { .. }))),
        "{held:?}"
    );
    assert_eq!(fake.count(Endpoint::GetQuote), 1);
}

#[tokio::test]
async fn binance_server_errors_and_the_firewall_are_unavailable() {
    let fake = FakeBinance::start().await;
    let lp = binance(&fake);
    let clock = StreamClock::start();
    fake.answer_next(
        Endpoint::GetQuote,
        Reply::json(
            503,
            json!({"code": -1001, "msg": "Internal error; unable to process your request."}),
        ),
    );
    fake.answer_next(
        Endpoint::GetQuote,
        Reply::garbage(403, "<html>Forbidden</html>"),
    );
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Unavailable(
            "HTTP 503: error -1001: Internal error; unable to process your request.".into()
        ))
    );
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Unavailable(
            "HTTP 403 (request refused by Binance's firewall): HTTP 403: '<html>Forbidden</html>'"
                .into()
        ))
    );
}

#[tokio::test]
async fn binance_garbage_is_malformed() {
    let fake = FakeBinance::start().await;
    let lp = binance(&fake);
    let clock = StreamClock::start();
    fake.answer_next(Endpoint::GetQuote, Reply::garbage(200, "{\"quoteId\":"));
    fake.answer_next(Endpoint::GetQuote, Reply::garbage(400, "bad request"));
    let error = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        LpError::Malformed(
            "unreadable quote (EOF while parsing a value at line 1 column 11): '{\"quoteId\":'"
                .into()
        )
    );
    assert_eq!(
        lp.quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Malformed(
            "HTTP 400 with an unreadable body 'bad request'".into()
        ))
    );
}

#[tokio::test]
async fn binance_a_venue_that_hangs_is_unavailable_at_the_adapters_timeout() {
    let fake = FakeBinance::start().await;
    fake.answer_next(Endpoint::GetQuote, Reply::Hang);
    let lp = binance_with(&fake.url, BINANCE_SECRET, (150, 2_000));
    let started = Instant::now();
    assert_eq!(
        lp.quote(&request(
            "BTCUSDT",
            Side::Buy,
            dec!(1),
            StreamClock::start()
        ))
        .await,
        Err(LpError::Unavailable("no answer within 150 ms".into()))
    );
    assert!(started.elapsed() < Duration::from_millis(1_000));
}

#[tokio::test]
async fn binance_order_in_process_then_success_fills_at_the_inverse_ratio() {
    let fake = FakeBinance::start().await;
    let lp = binance(&fake);
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1.5), clock))
        .await
        .expect("quote");
    assert_eq!(
        lp.execute(&order_on(&quote, dec!(1.5), clock)).await,
        OrderAnswer::Filled {
            price: dec!(100012.34),
            quantity: dec!(1.5),
            venue_order_id: Some(Arc::from("933256278426200001")),
        }
    );
    assert_eq!(
        (
            fake.count(Endpoint::AcceptQuote),
            fake.count(Endpoint::OrderStatus)
        ),
        (1, 2)
    );
    let accept = &fake.requests()[1];
    let quote_id = quote.venue_ref.as_deref().expect("quote id");
    assert!(
        accept
            .body
            .starts_with(&format!("quoteId={quote_id}&recvWindow=5000&timestamp=")),
        "{}",
        accept.body
    );
    let status = &fake.requests()[2];
    assert_eq!(status.method, "GET");
    assert!(
        status
            .query
            .starts_with("orderId=933256278426200001&recvWindow=5000&timestamp="),
        "{}",
        status.query
    );
}

#[tokio::test]
async fn binance_sell_order_fills_at_the_ratio() {
    let fake = FakeBinance::start().await;
    fake.set_statuses(&["ACCEPT_SUCCESS", "SUCCESS"]);
    let lp = binance(&fake);
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSDT", Side::Sell, dec!(0.75), clock))
        .await
        .expect("quote");
    assert_eq!(
        lp.execute(&order_on(&quote, dec!(0.75), clock)).await,
        OrderAnswer::Filled {
            price: dec!(99987.65),
            quantity: dec!(0.75),
            venue_order_id: Some(Arc::from("933256278426200001")),
        }
    );
}

#[tokio::test]
async fn binance_order_that_fails_is_rejected() {
    let fake = FakeBinance::start().await;
    fake.set_statuses(&["PROCESS", "FAIL"]);
    let lp = binance(&fake);
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    assert_eq!(
        rejected_reason(lp.execute(&order_on(&quote, dec!(1), clock)).await),
        "order 933256278426200001 failed"
    );
}

#[tokio::test]
async fn binance_order_that_never_settles_is_unknown_and_never_accepted_again() {
    let fake = FakeBinance::start().await;
    fake.set_statuses(&["PROCESS"]);
    let lp = binance_with(&fake.url, BINANCE_SECRET, (2_000, 450));
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    let started = Instant::now();
    assert_eq!(
        unknown_reason(lp.execute(&order_on(&quote, dec!(1), clock)).await),
        "outcome not learned within 450 ms (orderId 933256278426200001: status PROCESS)"
    );
    assert!(started.elapsed() < Duration::from_millis(1_500));
    assert_eq!(fake.count(Endpoint::AcceptQuote), 1);
    assert!(fake.count(Endpoint::OrderStatus) >= 2);
}

#[tokio::test]
async fn binance_lost_accept_answer_is_learned_by_quote_id() {
    let fake = FakeBinance::start().await;
    fake.set_statuses(&["SUCCESS"]);
    fake.lose_next_accept_answer();
    let lp = binance_with(&fake.url, BINANCE_SECRET, (150, 1_500));
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1.5), clock))
        .await
        .expect("quote");
    assert_eq!(
        lp.execute(&order_on(&quote, dec!(1.5), clock)).await,
        OrderAnswer::Filled {
            price: dec!(100012.34),
            quantity: dec!(1.5),
            venue_order_id: Some(Arc::from("933256278426200001")),
        }
    );
    assert_eq!(fake.count(Endpoint::AcceptQuote), 1);
    let quote_id = quote.venue_ref.as_deref().expect("quote id");
    assert!(fake.requests()[2]
        .query
        .starts_with(&format!("quoteId={quote_id}&")));
}

#[tokio::test]
async fn binance_accept_server_error_is_unknown_and_never_accepted_again() {
    let fake = FakeBinance::start().await;
    let lp = binance_with(&fake.url, BINANCE_SECRET, (2_000, 450));
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    fake.answer_next(Endpoint::AcceptQuote, Reply::garbage(500, "upstream error"));
    let reason = unknown_reason(lp.execute(&order_on(&quote, dec!(1), clock)).await);
    let quote_id = quote.venue_ref.as_deref().expect("quote id");
    assert_eq!(
        reason,
        format!(
            "outcome not learned within 450 ms (quoteId {quote_id}: error -2013: Order does not exist.)"
        )
    );
    assert_eq!(fake.count(Endpoint::AcceptQuote), 1);
}

#[tokio::test]
async fn binance_accept_refusals_are_rejected() {
    let fake = FakeBinance::start().await;
    let lp = binance(&fake);
    let clock = StreamClock::start();
    assert_eq!(
        rejected_reason(
            lp.execute(&order_blind("BTCUSDT", Side::Buy, "12345", clock))
                .await
        ),
        "error 345103: Quote does not exist or has expired."
    );
    let quote = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    let order = order_on(&quote, dec!(1), clock);
    fake.answer_next(
        Endpoint::AcceptQuote,
        Reply::json(429, json!({"code": -1003, "msg": "Too many requests."}))
            .with_header("Retry-After", "1"),
    );
    assert_eq!(
        refused(lp.execute(&order).await),
        (
            OrderRefusal::RateLimited {
                retry_after_ms: Some(1000)
            },
            "rate limited, retry after 1000 ms".to_string()
        )
    );
    let wrong = binance_with(&fake.url, "another-secret", RELAXED);
    assert_eq!(
        refused(wrong.execute(&order).await),
        (
            OrderRefusal::Auth,
            "authentication failed: error -1022: Signature for this request is not valid."
                .to_string()
        )
    );
    let gone = binance_with(&refused_url().await, BINANCE_SECRET, RELAXED);
    let (refusal, reason) = refused(gone.execute(&order).await);
    assert_eq!(refusal, OrderRefusal::NotSent);
    assert!(
        reason.starts_with("not sent: cannot connect: ") && reason.contains("refused"),
        "{reason}"
    );
    // None of these reached the order book: the quote is still acceptable.
    assert!(matches!(
        lp.execute(&order).await,
        OrderAnswer::Filled { .. }
    ));
}

#[tokio::test]
async fn b2c2_a_dropped_connection_is_unavailable() {
    let fake = FakeB2c2::start().await;
    fake.answer_next_quote(Reply::Drop);
    let error = b2c2(&fake)
        .quote(&request("BTCUSD", Side::Buy, dec!(1), StreamClock::start()))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, LpError::Unavailable(text) if text.starts_with("connection lost: ")),
        "{error:?}"
    );
}

#[tokio::test]
async fn binance_a_venue_that_hangs_leaves_the_order_unknown() {
    let fake = FakeBinance::start().await;
    let lp = binance_with(&fake.url, BINANCE_SECRET, (150, 400));
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    fake.answer_next(Endpoint::AcceptQuote, Reply::Hang);
    fake.answer_next(Endpoint::OrderStatus, Reply::Hang);
    let started = Instant::now();
    let reason = unknown_reason(lp.execute(&order_on(&quote, dec!(1), clock)).await);
    let quote_id = quote.venue_ref.as_deref().expect("quote id");
    assert!(
        reason.starts_with(&format!(
            "outcome not learned within 400 ms (quoteId {quote_id}: no answer within "
        )),
        "{reason}"
    );
    assert!(started.elapsed() < Duration::from_millis(1_500));
    assert_eq!(fake.count(Endpoint::AcceptQuote), 1);
}

#[tokio::test]
async fn binance_ratios_finer_than_the_tick_are_rounded_against_the_desk() {
    let fake = FakeBinance::start().await;
    fake.set_prices(dec!(99987.6543), dec!(100012.3456));
    let clock = StreamClock::start();
    let buy = binance(&fake)
        .quote(&request("BTCUSDT", Side::Buy, dec!(1.5), clock))
        .await
        .expect("quote");
    // The desk pays the LP: rounded up to the cent.
    assert_eq!(buy.price.to_string(), "100012.35");
    let sell = binance(&fake)
        .quote(&request("BTCUSDT", Side::Sell, dec!(1.5), clock))
        .await
        .expect("quote");
    // The desk is paid by the LP: rounded down.
    assert_eq!(sell.price.to_string(), "99987.65");
}

/// A quote or order answer above 1 MB is refused as malformed (an order's
/// outcome stays unknown: it was sent) without being read whole: an
/// endless body ends the same way, long before the adapter's timeout.
#[rstest::rstest]
#[case::five_mb_declared(Some(5 * 1024 * 1024), true)]
#[case::five_mb_chunked(Some(5 * 1024 * 1024), false)]
#[case::endless_chunked(None, false)]
#[tokio::test]
async fn a_venue_answer_over_the_cap_is_malformed_and_not_read_whole(
    #[case] bytes: Option<usize>,
    #[case] content_length: bool,
) {
    let huge = || Reply::Huge {
        bytes,
        content_length,
    };
    let too_large = "answer larger than the 1 MB cap, not read";
    let b2c2_fake = FakeB2c2::start().await;
    let lp = b2c2_with(&b2c2_fake.url, B2C2_TOKEN, (5_000, 5_000));
    let clock = StreamClock::start();
    let quote = lp
        .quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
        .await
        .expect("quote");
    let started = Instant::now();
    b2c2_fake.answer_next_quote(huge());
    assert_eq!(
        lp.quote(&request("BTCUSD", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Malformed(too_large.into()))
    );
    b2c2_fake.answer_next_order(huge());
    // The order was sent: the venue is then asked for it, and has no
    // record of it yet.
    let reason = unknown_reason(lp.execute(&order_on(&quote, dec!(1), clock)).await);
    assert!(
        reason.starts_with(&format!(
            "{too_large}; the venue has no order with client_order_id '"
        )) && reason.ends_with("' yet (HTTP 404)"),
        "{reason}"
    );
    let binance_fake = FakeBinance::start().await;
    binance_fake.answer_next(Endpoint::GetQuote, huge());
    assert_eq!(
        binance_with(&binance_fake.url, BINANCE_SECRET, (5_000, 5_000))
            .quote(&request("BTCUSDT", Side::Buy, dec!(1), clock))
            .await,
        Err(LpError::Malformed(too_large.into()))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
