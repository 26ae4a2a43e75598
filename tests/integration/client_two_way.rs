//! Two-way and quote-currency requests on the client APIs, end to end
//! from the binary over loopback (`lp-rfq serve --client-ws` and
//! `--client-fix`): a two-way request is quoted with a bid and an offer,
//! each at the LP's price ± the client's markup to the last digit; an
//! order on either side fills at that side's price; an amount of the
//! quote currency is paid or received exactly, its base rounded in the
//! desk's favour; a currency of neither leg, another side's price or a
//! side not quoted is refused; a two-way request holds one request's
//! worth of the client's daily limit; nothing the client receives names
//! the LP or its prices.
//!
//! The venue's two-way quote: bid 99900.00, offer 100020.00. acme's 8 bps:
//! offer 100020.00 × 1.0008 = 100100.016, up to 100100.02 (a client buy);
//! bid 99900.00 × 0.9992 = 99820.08 exactly (a client sell).

use lp_rfq::lp::fix::codec::{msg_type, tag, Message};
use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;
use serde_json::{json, Value};

use crate::client_api::{venue_script, Client, Server, ACME_TOKEN, DAILY_TOKEN};
use crate::client_fix::{
    self, cash_request, fields, quote_request, FixClient, ACME_PASSWORD, DESK_ID,
};
use crate::fix_acceptor::Acceptor;

const BID: &str = "99820.08";
const OFFER: &str = "100100.02";

/// The base a quote-currency amount buys (down) or needs (up) at `price`,
/// to BTC's 8 decimals.
fn base_of(cash: Decimal, price: &str, strategy: RoundingStrategy) -> String {
    let price: Decimal = price.parse().unwrap();
    let mut base = (cash / price).round_dp_with_strategy(8, strategy);
    base.rescale(8);
    base.to_string()
}

/// Nothing a client received names the LP or shows its prices (as the
/// desk writes them: a bare "99900" is also in the base 0.99900079 that
/// 100,000 USDT buys).
fn assert_no_lp_in(frames: &[String]) {
    for frame in frames {
        for secret in ["FixLP", "100020.00", "99900.00", "LP"] {
            assert!(!frame.contains(secret), "{secret} in {frame}");
        }
    }
}

/// The next quote of `client_rfq_id` that has both a bid and an offer
/// (each side is quoted as its LP answer arrives).
async fn two_sided_quote(client: &mut Client, client_rfq_id: &str) -> Value {
    loop {
        let quote = client.next_of("quote").await;
        assert_eq!(quote["client_rfq_id"], client_rfq_id, "{quote}");
        if quote["bid"].is_string() && quote["offer"].is_string() {
            return quote;
        }
    }
}

/// The WebSocket: two-way requests hit on the bid and on the offer, each
/// filled at that side's price; the sell at the offer's price is refused;
/// the blotter records each RFQ as acme's two-way one on channel ws, with
/// the side taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_client_asks_two_way_and_is_filled_on_the_side_it_hits() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_clients(dir.path(), venue.port, ACME);
    let mut acme = Client::connect(&server.client_url, ACME_TOKEN).await;
    for (rfq, side, price) in [("r-bid", "sell", BID), ("r-offer", "buy", OFFER)] {
        acme.send(json!({"type": "quote_request", "client_rfq_id": rfq, "pair": "BTCUSDT", "side": "two_way", "amount": "1"}))
            .await;
        let quote = two_sided_quote(&mut acme, rfq).await;
        assert_eq!(
            (&quote["bid"], &quote["offer"], &quote["amount"]),
            (&json!(BID), &json!(OFFER), &json!("1.00000000")),
            "{quote}"
        );
        assert!(quote["valid_until"].as_str().unwrap().ends_with('Z'));
        let quote_id = quote["quote_id"].as_str().unwrap().to_string();
        if side == "sell" {
            // The bid side at the offer's price: not this quote's.
            acme.send(json!({"type": "order", "client_order_id": "o-wrong", "quote_id": quote_id, "side": "sell", "amount": "1", "price": OFFER}))
                .await;
            assert_eq!(
                acme.next_of("execution_report").await,
                json!({"type": "execution_report", "client_order_id": "o-wrong", "quote_id": quote_id, "status": "rejected", "reason": format!("price '{OFFER}' is not the quote's bid {BID}")})
            );
        }
        let order_id = format!("o-{side}");
        acme.send(json!({"type": "order", "client_order_id": order_id, "quote_id": quote_id, "side": side, "amount": "1", "price": price}))
            .await;
        let filled = acme.next_of("execution_report").await;
        assert_eq!(
            filled,
            json!({"type": "execution_report", "client_order_id": order_id, "quote_id": quote_id, "status": "filled", "price": price, "amount": "1.00000000"})
        );
    }
    let sides: Vec<String> = venue
        .received("D")
        .iter()
        .map(|order| order.get(tag::SIDE).unwrap().to_string())
        .collect();
    assert_eq!(sides, ["2", "1"], "the bid hit first, then the offer");
    assert_no_lp_in(&acme.raw);
    drop(acme);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    let db = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let mut rows = db
        .prepare(
            "SELECT r.client, r.channel, r.two_way, r.outcome, r.final_client_price, c.side
             FROM rfqs r JOIN client_quotes c ON c.rfq = r.id AND c.quote_id = r.final_quote_id
             ORDER BY r.started_ms",
        )
        .unwrap();
    let rows: Vec<(String, String, i64, String, String, String)> = rows
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let row = |price: &str, side: &str| {
        (
            "acme".to_string(),
            "ws".to_string(),
            1,
            "filled".to_string(),
            price.to_string(),
            side.to_string(),
        )
    };
    assert_eq!(rows, [row(BID, "sell"), row(OFFER, "buy")]);
}

/// The WebSocket in USDT: a buy of 100,000 USDT is quoted with the amount
/// and the base it buys (rounded down), and filled paying exactly 100,000;
/// a two-way request in USDT hit on the bid sells the base it needs
/// (rounded up) for exactly 100,000; EUR is refused naming the pair's
/// currencies, as is an order in BTC on a USDT quote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_client_asks_in_usdt_and_pays_or_receives_exactly_that() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_clients(dir.path(), venue.port, ACME);
    let mut acme = Client::connect(&server.client_url, ACME_TOKEN).await;
    acme.send(json!({"type": "quote_request", "client_rfq_id": "r-eur", "pair": "BTCUSDT", "side": "buy", "amount": "100000", "amount_currency": "EUR"}))
        .await;
    assert_eq!(
        acme.next_of("quote_request_reject").await,
        json!({"type": "quote_request_reject", "client_rfq_id": "r-eur", "reason": "other", "text": "amount_currency 'EUR' must be BTC or USDT, a currency of BTCUSDT"})
    );
    let cash = dec!(100000);
    let bought = base_of(cash, OFFER, RoundingStrategy::ToNegativeInfinity);
    let sold = base_of(cash, BID, RoundingStrategy::ToPositiveInfinity);
    assert_eq!(
        (bought.as_str(), sold.as_str()),
        ("0.99900079", "1.00180245")
    );

    acme.send(json!({"type": "quote_request", "client_rfq_id": "r-buy", "pair": "BTCUSDT", "side": "buy", "amount": "100000", "amount_currency": "USDT"}))
        .await;
    let quote = acme.next_of("quote").await;
    let quote_id = quote["quote_id"].as_str().unwrap().to_string();
    assert_eq!(
        quote,
        json!({"type": "quote", "client_rfq_id": "r-buy", "quote_id": quote_id, "offer": OFFER, "amount": "100000.00", "amount_currency": "USDT", "offer_size": bought, "valid_until": quote["valid_until"]})
    );
    acme.send(json!({"type": "order", "client_order_id": "o-btc", "quote_id": quote_id, "side": "buy", "amount": bought, "amount_currency": "BTC", "price": OFFER}))
        .await;
    assert_eq!(
        acme.next_of("execution_report").await["reason"],
        "amount_currency 'BTC' is not the quote's USDT"
    );
    acme.send(json!({"type": "order", "client_order_id": "o-buy", "quote_id": quote_id, "side": "buy", "amount": "100000", "price": OFFER}))
        .await;
    assert_eq!(
        acme.next_of("execution_report").await,
        json!({"type": "execution_report", "client_order_id": "o-buy", "quote_id": quote_id, "status": "filled", "price": OFFER, "amount": bought, "cash_amount": "100000.00"})
    );

    acme.send(json!({"type": "quote_request", "client_rfq_id": "r-2w", "pair": "BTCUSDT", "side": "two_way", "amount": "100000", "amount_currency": "usdt"}))
        .await;
    let quote = two_sided_quote(&mut acme, "r-2w").await;
    let quote_id = quote["quote_id"].as_str().unwrap().to_string();
    assert_eq!(
        quote,
        json!({"type": "quote", "client_rfq_id": "r-2w", "quote_id": quote_id, "bid": BID, "offer": OFFER, "amount": "100000.00", "amount_currency": "USDT", "bid_size": sold, "offer_size": bought, "valid_until": quote["valid_until"]})
    );
    acme.send(json!({"type": "order", "client_order_id": "o-sell", "quote_id": quote_id, "side": "sell", "amount": "100000.00", "amount_currency": "USDT", "price": BID}))
        .await;
    assert_eq!(
        acme.next_of("execution_report").await,
        json!({"type": "execution_report", "client_order_id": "o-sell", "quote_id": quote_id, "status": "filled", "price": BID, "amount": sold, "cash_amount": "100000.00"})
    );
    // The venue was asked for the cash amount (152), both times.
    let asked: Vec<Option<String>> = venue
        .received("D")
        .iter()
        .map(|order| order.get(tag::CASH_ORDER_QTY).map(str::to_string))
        .collect();
    let cash_asked = Some("100000".to_string());
    assert_eq!(asked, [cash_asked.clone(), cash_asked]);
    assert_no_lp_in(&acme.raw);
    drop(acme);
    server.stop();
}

/// A two-way request is one request to the client's limits, as an
/// operator's is: 100,000 USDT of it holds 100,000 of the 150,000 daily
/// limit while it lives (not 200,000 for its two sides), so 60,000 more is
/// refused and 50,000 is quoted; 300,000 is above max_notional.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_way_request_holds_one_requests_worth_of_the_clients_limits() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_clients(dir.path(), venue.port, ACME);
    let mut daily = Client::connect(&server.client_url, DAILY_TOKEN).await;
    let ask = |id: &str, amount: &str| json!({"type": "quote_request", "client_rfq_id": id, "pair": "BTCUSDT", "side": "two_way", "amount": amount, "amount_currency": "USDT"});
    daily.send(ask("r-big", "300000")).await;
    assert_eq!(
        daily.next_of("quote_request_reject").await,
        json!({"type": "quote_request_reject", "client_rfq_id": "r-big", "reason": "exceeds_limit", "text": "client 'daily': notional 300,000.00 USDT is above its max_notional of 200,000 USDT per RFQ (headroom 200,000 USDT)"})
    );
    daily.send(ask("r-1", "100000")).await;
    two_sided_quote(&mut daily, "r-1").await;
    daily.send(ask("r-2", "60000")).await;
    assert_eq!(
        daily.next_of("quote_request_reject").await,
        json!({"type": "quote_request_reject", "client_rfq_id": "r-2", "reason": "exceeds_limit", "text": "client 'daily': notional 60,000.00 USDT is above what is left of its daily_notional of 150,000 USDT (filled today, UTC: 0.00 USDT; held by its live RFQs: 100,000.00 USDT; headroom 50,000.00 USDT)"})
    );
    daily.send(ask("r-3", "50000")).await;
    two_sided_quote(&mut daily, "r-3").await;
    drop(daily);
    server.stop();
}

/// FIX: a QuoteRequest without Side (54) is quoted with 132 BidPx and 133
/// OfferPx, 134/135 their sizes and no 54; a NewOrderSingle's 54 picks
/// the side (2: the bid) and is filled at its price, LastQty the base; a
/// CashOrderQty (152) request is quoted with each side's base size and
/// 152/15, ordered by 152 and filled with LastQty the base bought (rounded
/// down) and GrossTradeAmt (381) exactly the cash; the offer's price on
/// the bid side is rejected 8/8 with why; nothing names the LP; the
/// blotter records both as acme's two-way RFQs on channel fix, with the
/// leg fixed and the side taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_client_asks_two_way_and_in_cash_and_is_filled_on_the_side_it_hits() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = client_fix::Server::start(dir.path(), venue.port);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    acme.logon(Some(ACME_PASSWORD)).await;

    acme.send(quote_request("r-2w", "BTCUSDT", None, "1")).await;
    let quote = fix_two_sided_quote(&mut acme).await;
    assert_eq!(
        fields(&quote, &[131, 55, 54, 132, 133, 134, 135, 152, 15, 537]),
        vec![
            (131, Some("r-2w")),
            (55, Some("BTCUSDT")),
            (54, None),
            (132, Some(BID)),
            (133, Some(OFFER)),
            (134, Some("1.00000000")),
            (135, Some("1.00000000")),
            (152, None),
            (15, None),
            (537, Some("1")),
        ]
    );
    let quote_id = quote.get(tag::QUOTE_ID).unwrap().to_string();
    acme.send(fix_order(
        "o-wrong",
        &quote_id,
        "2",
        (tag::ORDER_QTY, "1"),
        OFFER,
    ))
    .await;
    let rejected = acme.next_of(msg_type::EXECUTION_REPORT).await;
    let reason = format!("price '{OFFER}' is not the quote's bid {BID}");
    assert_eq!(
        fields(&rejected, &[11, 150, 39, 54, 58]),
        vec![
            (11, Some("o-wrong")),
            (150, Some("8")),
            (39, Some("8")),
            (54, Some("2")),
            (58, Some(reason.as_str())),
        ]
    );
    acme.send(fix_order(
        "o-bid",
        &quote_id,
        "2",
        (tag::ORDER_QTY, "1"),
        BID,
    ))
    .await;
    let filled = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&filled, &[11, 150, 39, 54, 31, 32, 6, 14, 151, 152, 381]),
        vec![
            (11, Some("o-bid")),
            (150, Some("F")),
            (39, Some("2")),
            (54, Some("2")),
            (31, Some(BID)),
            (32, Some("1.00000000")),
            (6, Some(BID)),
            (14, Some("1.00000000")),
            (151, Some("0")),
            (152, None),
            (381, None),
        ]
    );

    acme.send(cash_request("r-cash", None, "100000", Some("USDT")))
        .await;
    let quote = fix_two_sided_quote(&mut acme).await;
    let cash = dec!(100000);
    let bought = base_of(cash, OFFER, RoundingStrategy::ToNegativeInfinity);
    let sold = base_of(cash, BID, RoundingStrategy::ToPositiveInfinity);
    assert_eq!(
        fields(&quote, &[131, 132, 133, 134, 135, 152, 15]),
        vec![
            (131, Some("r-cash")),
            (132, Some(BID)),
            (133, Some(OFFER)),
            (134, Some(sold.as_str())),
            (135, Some(bought.as_str())),
            (152, Some("100000.00")),
            (15, Some("USDT")),
        ]
    );
    let quote_id = quote.get(tag::QUOTE_ID).unwrap().to_string();
    acme.send(fix_order(
        "o-cash",
        &quote_id,
        "1",
        (tag::CASH_ORDER_QTY, "100000"),
        OFFER,
    ))
    .await;
    let filled = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&filled, &[11, 150, 39, 54, 31, 32, 14, 152, 15, 381]),
        vec![
            (11, Some("o-cash")),
            (150, Some("F")),
            (39, Some("2")),
            (54, Some("1")),
            (31, Some(OFFER)),
            (32, Some(bought.as_str())),
            (14, Some(bought.as_str())),
            (152, Some("100000")),
            (15, Some("USDT")),
            (381, Some("100000.00")),
        ]
    );

    acme.send(cash_request("r-eur", None, "100000", Some("EUR")))
        .await;
    let reject = acme.next_of(msg_type::QUOTE_REQUEST_REJECT).await;
    assert_eq!(
        fields(&reject, &[131, 658, 58]),
        vec![
            (131, Some("r-eur")),
            (658, Some("99")),
            (
                58,
                Some("Currency (15) 'EUR' must be USDT, the quote currency of BTCUSDT, for CashOrderQty (152)")
            ),
        ]
    );
    assert_eq!(venue.received("D").len(), 2, "two orders reached the venue");
    // The desk's own CompID is the only "LP" a FIX client may read.
    let raw = String::from_utf8_lossy(&acme.raw).replace(DESK_ID, "");
    assert_no_lp_in(&[raw]);
    drop(acme);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    let db = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let mut rows = db
        .prepare(
            "SELECT r.client || ' ' || r.channel || ' ' || r.two_way || ' ' || r.fixed || ' '
                    || r.outcome || ' ' || r.final_client_price || ' ' || c.side
             FROM rfqs r JOIN client_quotes c ON c.rfq = r.id AND c.quote_id = r.final_quote_id
             ORDER BY r.started_ms",
        )
        .unwrap();
    let rows: Vec<String> = rows
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            format!("acme fix 1 base filled {BID} sell"),
            format!("acme fix 1 quote filled {OFFER} buy"),
        ]
    );
}

/// The next Quote (S) with both a BidPx and an OfferPx.
async fn fix_two_sided_quote(client: &mut FixClient) -> Message {
    loop {
        let quote = client.next_of(msg_type::QUOTE).await;
        if quote.get(tag::BID_PX).is_some() && quote.get(tag::OFFER_PX).is_some() {
            return quote;
        }
    }
}

/// A NewOrderSingle for `quote_id` on `side` (1 buy, 2 sell) at `price`,
/// its amount as `qty` says (38 OrderQty or 152 CashOrderQty).
fn fix_order(
    cl_ord_id: &str,
    quote_id: &str,
    side: &str,
    qty: (u32, &str),
    price: &str,
) -> Message {
    Message::new(msg_type::NEW_ORDER_SINGLE)
        .with(tag::CL_ORD_ID, cl_ord_id)
        .with(tag::QUOTE_ID, quote_id)
        .with(tag::SYMBOL, "BTCUSDT")
        .with(tag::SIDE, side)
        .with(qty.0, qty.1)
        .with(tag::ORD_TYPE, "D")
        .with(tag::PRICE, price)
        .with(tag::TIME_IN_FORCE, 4)
}

/// acme at 8 bps, and a client with a daily limit.
const ACME: &str = r#"
[[client]]
name = "acme"
markup_bps = "8"
max_notional = "250000"
pairs = ["BTCUSDT"]
token_env = "CLIENT_TOKEN_ACME"

[[client]]
name = "daily"
max_notional = "200000"
daily_notional = "150000"
token_env = "CLIENT_TOKEN_DAILY"
"#;
