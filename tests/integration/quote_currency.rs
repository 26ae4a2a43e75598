//! Amounts in the quote currency from the binary (`quote … --in USDT`):
//! the client pays (BUY) or receives (SELL) exactly the amount asked, the
//! base leg follows from the client price rounded to the lot in the
//! desk's favour, every line says which leg was fixed, and each venue is
//! asked in the quote currency its own way (the mocks, Binance Convert's
//! `fromAmount`/`toAmount`, FIX CashOrderQty (152)) or declines (B2C2).

use std::process::Output;

use rust_decimal::{Decimal, RoundingStrategy};
use rust_decimal_macros::dec;
use serde_json::Value;

use crate::fake_venues::{FakeB2c2, FakeBinance, B2C2_TOKEN, BINANCE_KEY, BINANCE_SECRET};
use crate::support::{empty_dir, lp_rfq_in};

fn lines(output: &Output) -> Vec<Value> {
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

fn decimal(value: &Value) -> Decimal {
    value.as_str().unwrap().parse().unwrap()
}

/// The base leg a quote-currency amount buys (down) or needs (up) at
/// `price`, to BTC's 8 decimals.
fn base_of(amount: Decimal, price: Decimal, strategy: RoundingStrategy) -> Decimal {
    let mut base = (amount / price).round_dp_with_strategy(8, strategy);
    base.rescale(8);
    base
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

/// The mocks, accepting at 1 s, never rejecting.
fn mock_run(side: &str) -> Output {
    lp_rfq_in(empty_dir())
        .env("MOCK_REJECT_RATE", "0")
        .args([
            "quote", side, "1000000", "BTCUSDT", "--in", "usdt", "--json",
        ])
        .args(["--speed", "10", "--duration", "3", "--accept-after", "1s"])
        .arg("--no-blotter")
        .output()
        .unwrap()
}

#[test]
fn a_buy_in_usdt_pays_exactly_the_amount_and_gets_the_base_rounded_down_to_the_lot() {
    let events = lines(&mock_run("buy"));
    let started = &events[0];
    assert_eq!(
        (
            &started["event"],
            &started["amount"],
            &started["fixed"],
            &started["side"]
        ),
        (
            &Value::from("started"),
            &Value::from("1000000"),
            &Value::from("quote"),
            &Value::from("buy")
        )
    );
    // Every line after `started` says which leg was fixed.
    assert!(events[1..].iter().all(|e| e["fixed"] == "quote"));
    let quotes = of_kind(&events, "client_quote");
    assert!(!quotes.is_empty());
    for quote in &quotes {
        let price = decimal(&quote["client_price"]);
        let base = base_of(dec!(1000000), price, RoundingStrategy::ToNegativeInfinity);
        assert_eq!(quote["client_pays"], "1000000.00", "{quote}");
        assert_eq!(quote["pays_asset"], "USDT");
        assert_eq!(decimal(&quote["client_receives"]), base, "{quote}");
        assert_eq!(
            quote["client_receives"].as_str().unwrap().len(),
            base.to_string().len()
        );
        assert_eq!(quote["receives_asset"], "BTC");
        assert_eq!(quote["amount"], quote["client_receives"]);
        // The client never gets more base than it paid for.
        assert!(base * price <= dec!(1000000));
        assert!((base + dec!(0.00000001)) * price > dec!(1000000));
    }
    let filled = of_kind(&events, "filled");
    assert_eq!(filled.len(), 1, "{events:?}");
    let filled = filled[0];
    assert_eq!(filled["client_pays"], "1000000.00");
    let client_base = decimal(&filled["client_receives"]);
    assert_eq!(
        client_base,
        base_of(
            dec!(1000000),
            decimal(&filled["client_price"]),
            RoundingStrategy::ToNegativeInfinity
        )
    );
    // The desk pays the LP the client's USDT and keeps the base between
    // the LP's fill and the client's leg.
    let lp_base = base_of(
        dec!(1000000),
        decimal(&filled["lp_price"]),
        RoundingStrategy::ToNegativeInfinity,
    );
    assert_eq!(filled["pnl_asset"], "BTC");
    assert_eq!(decimal(&filled["desk_pnl"]), lp_base - client_base);
    assert_eq!(events.last().unwrap()["outcome"], "filled");
}

#[test]
fn a_sell_in_usdt_receives_exactly_the_amount_and_gives_the_base_rounded_up_to_the_lot() {
    let events = lines(&mock_run("sell"));
    assert_eq!(events[0]["fixed"], "quote");
    let quotes = of_kind(&events, "client_quote");
    assert!(!quotes.is_empty());
    for quote in &quotes {
        let price = decimal(&quote["client_price"]);
        let base = base_of(dec!(1000000), price, RoundingStrategy::ToPositiveInfinity);
        assert_eq!(quote["client_receives"], "1000000.00", "{quote}");
        assert_eq!(quote["receives_asset"], "USDT");
        assert_eq!(decimal(&quote["client_pays"]), base, "{quote}");
        assert_eq!(quote["pays_asset"], "BTC");
        assert!(base * price >= dec!(1000000));
        assert!((base - dec!(0.00000001)) * price < dec!(1000000));
    }
    let filled = of_kind(&events, "filled")[0];
    assert_eq!(filled["client_receives"], "1000000.00");
    let lp_base = base_of(
        dec!(1000000),
        decimal(&filled["lp_price"]),
        RoundingStrategy::ToPositiveInfinity,
    );
    assert_eq!(filled["pnl_asset"], "BTC");
    assert_eq!(
        decimal(&filled["desk_pnl"]),
        decimal(&filled["client_pays"]) - lp_base
    );
}

#[test]
fn a_plain_ticket_says_the_quote_leg_was_fixed() {
    let output = lp_rfq_in(empty_dir())
        .env("MOCK_REJECT_RATE", "0")
        .args([
            "quote", "buy", "1000000", "BTCUSDT", "--in", "USDT", "--plain",
        ])
        .args(["--speed", "10", "--duration", "3", "--accept-after", "1s"])
        .arg("--no-blotter")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains(": client BUY BTC for 1000000.00 USDT\n"),
        "{text}"
    );
    assert!(
        text.contains(": desk buys BTC with 1,000,000.00 USDT, LP price "),
        "{text}"
    );
    assert!(
        text.contains("  | Fixed leg:       USDT (exact)                          |"),
        "{text}"
    );
    assert!(
        text.contains("  | Client pays:     1,000,000.00 USDT"),
        "{text}"
    );
}

#[test]
fn a_currency_that_is_not_a_leg_of_the_pair_is_refused_by_name() {
    let output = lp_rfq_in(empty_dir())
        .args([
            "quote", "buy", "1000000", "BTCUSDT", "--in", "EUR", "--json",
        ])
        .arg("--no-blotter")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: currency 'EUR' (--in) is not a leg of BTC/USDT: write BTC or USDT\n"
    );
}

#[test]
fn max_notional_takes_the_quote_amount_itself() {
    let output = lp_rfq_in(empty_dir())
        .args([
            "quote",
            "sell",
            "1000000.01",
            "BTCUSDT",
            "--in",
            "USDT",
            "--json",
        ])
        .arg("--no-blotter")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: notional 1,000,000.01 USDT is above MAX_NOTIONAL 1,000,000: add --confirm-notional to ask for quotes\n"
    );
}

#[test]
fn the_blotter_records_the_fixed_leg_and_replays_it() {
    let dir = tempfile::tempdir().unwrap();
    let blotter = dir.path().join("blotter.db");
    let output = lp_rfq_in(empty_dir())
        .env("MOCK_REJECT_RATE", "0")
        .args([
            "quote", "buy", "250000", "BTCUSDT", "--in", "USDT", "--json",
        ])
        .args(["--speed", "10", "--duration", "3", "--accept-after", "1s"])
        .arg("--blotter")
        .arg(&blotter)
        .output()
        .unwrap();
    let printed = lines(&output);
    let conn = rusqlite::Connection::open(&blotter).unwrap();
    let (fixed, amount): (String, String) = conn
        .query_row("SELECT fixed, amount FROM rfqs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((fixed.as_str(), amount.as_str()), ("quote", "250000"));
    let (pays, receives): (String, String) = conn
        .query_row(
            "SELECT client_pays, client_receives FROM fills",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let filled = of_kind(&printed, "filled")[0];
    assert_eq!(
        (pays.as_str(), receives.as_str()),
        ("250000.00", filled["client_receives"].as_str().unwrap())
    );
    let stored = lp_rfq::blotter::read::stored_rfqs(&blotter).unwrap();
    let lp_rfq::rfq::EventKind::Started(started) = &stored[0].events[0].kind else {
        panic!("no started");
    };
    assert_eq!(started.fixed, lp_rfq::market::Leg::Quote);
}

#[test]
fn a_quote_amount_finer_than_the_tick_is_refused() {
    let output = lp_rfq_in(empty_dir())
        .args([
            "quote", "buy", "1000.001", "BTCUSDT", "--in", "USDT", "--json",
        ])
        .arg("--no-blotter")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: amount '1000.001' has more than 2 decimals, the most BTC/USDT allows\n"
    );
}

fn venues_file(dir: &std::path::Path, b2c2: &str, binance: &str) -> std::path::PathBuf {
    let path = dir.join("lps.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[lp]]
name = "B2C2"
kind = "b2c2"
url = "{b2c2}"
token_env = "QCCY_B2C2_TOKEN"
symbol = "{{base}}{{quote}}.SPOT"

[[lp]]
name = "Binance"
kind = "binance-convert"
url = "{binance}"
key_env = "QCCY_BINANCE_KEY"
secret_env = "QCCY_BINANCE_SECRET"
order_timeout_ms = 3000

[bands]
BTCUSDT = {{ min = "50000", max = "200000" }}
"#
        ),
    )
    .unwrap();
    path
}

async fn venue_run(file: &std::path::Path, side: &'static str) -> Output {
    let file = file.display().to_string();
    tokio::task::spawn_blocking(move || {
        lp_rfq_in(empty_dir())
            .env("NO_BLOTTER", "true")
            .env("QCCY_B2C2_TOKEN", B2C2_TOKEN)
            .env("QCCY_BINANCE_KEY", BINANCE_KEY)
            .env("QCCY_BINANCE_SECRET", BINANCE_SECRET)
            .args([
                "quote", side, "1000000", "BTCUSDT", "--in", "USDT", "--json",
            ])
            .args(["--duration", "3", "--accept-after", "2s", "--lps", &file])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_is_asked_for_the_usdt_end_and_b2c2_declines_visibly() {
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    let dir = tempfile::tempdir().unwrap();
    let file = venues_file(dir.path(), &b2c2.url, &binance.url);

    let events = lines(&venue_run(&file, "buy").await);
    // B2C2 quotes base quantities only: it is never asked, and says why.
    assert_eq!(b2c2.quotes(), 0);
    let declines: Vec<_> = of_kind(&events, "lp_error")
        .into_iter()
        .filter(|e| e["lp"] == "B2C2")
        .collect();
    assert!(!declines.is_empty());
    for decline in declines {
        assert_eq!(decline["kind"], "declined");
        assert_eq!(
            decline["reason"],
            "B2C2 quotes amounts in BTC only, not in USDT"
        );
    }
    // A client BUY of BTC for USDT converts from exactly 1000000 USDT.
    let asked: Vec<_> = binance
        .requests()
        .into_iter()
        .filter(|r| r.path == "/sapi/v1/convert/getQuote")
        .collect();
    assert!(!asked.is_empty());
    for request in &asked {
        let params = request.params();
        assert_eq!(params.get("fromAsset").map(String::as_str), Some("USDT"));
        assert_eq!(params.get("toAsset").map(String::as_str), Some("BTC"));
        assert_eq!(
            params.get("fromAmount").map(String::as_str),
            Some("1000000")
        );
        assert_eq!(params.get("toAmount"), None);
    }
    // 100020.00 × 1.0005 = 100070.01: 1000000 / 100070.01 = 9.99300389…
    let quote = of_kind(&events, "client_quote")[0];
    assert_eq!(
        (
            &quote["lp"],
            &quote["client_price"],
            &quote["client_pays"],
            &quote["client_receives"]
        ),
        (
            &Value::from("Binance"),
            &Value::from("100070.01"),
            &Value::from("1000000.00"),
            &Value::from("9.99300389")
        )
    );
    let filled = of_kind(&events, "filled")[0];
    assert_eq!(filled["client_pays"], "1000000.00");
    assert_eq!(filled["client_receives"], "9.99300389");
    // Binance converts 1000000 USDT at 100020.00 into 9.99800039992… BTC.
    assert_eq!(filled["pnl_asset"], "BTC");
    assert_eq!(
        decimal(&filled["desk_pnl"]),
        dec!(1000000) / dec!(100020.00) - dec!(9.99300389)
    );

    // A client SELL of BTC for USDT converts to exactly 1000000 USDT.
    let events = lines(&venue_run(&file, "sell").await);
    let sells: Vec<_> = binance
        .requests()
        .into_iter()
        .filter(|r| r.path == "/sapi/v1/convert/getQuote")
        .skip(asked.len())
        .collect();
    assert!(!sells.is_empty());
    for request in &sells {
        let params = request.params();
        assert_eq!(params.get("fromAsset").map(String::as_str), Some("BTC"));
        assert_eq!(params.get("toAsset").map(String::as_str), Some("USDT"));
        assert_eq!(params.get("toAmount").map(String::as_str), Some("1000000"));
        assert_eq!(params.get("fromAmount"), None);
    }
    // 99970.00 × 0.9995 = 99920.015 → 99920.01: 1000000 / 99920.01 = 10.00800540…, up
    let filled = of_kind(&events, "filled")[0];
    assert_eq!(
        (&filled["client_receives"], &filled["client_pays"]),
        (&Value::from("1000000.00"), &Value::from("10.00800541"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_venue_is_asked_and_ordered_with_cash_order_qty() {
    use crate::fix_acceptor::{Acceptor, Orders, Quotes, Script};
    let two_way = |offer| Quotes::TwoWay {
        bid: dec!(99900.00),
        offer,
        bid_size: dec!(50),
        offer_size: dec!(50),
        valid_ms: 10_000,
    };
    let best = Acceptor::start(Script {
        quotes: two_way(dec!(100010.00)),
        orders: Orders::Fill,
        ..Script::default()
    })
    .await;
    let second = Acceptor::start(Script {
        quotes: two_way(dec!(100020.00)),
        orders: Orders::Fill,
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lps.toml");
    let lp = |name: &str, port: u16| {
        format!(
            "[[lp]]\nname = \"{name}\"\nkind = \"fix44\"\nhost = \"127.0.0.1\"\nport = {port}\nsender_comp_id = \"DESK\"\ntarget_comp_id = \"LP\"\n\n"
        )
    };
    std::fs::write(
        &file,
        format!(
            "{}{}",
            lp("FixBest", best.port),
            lp("FixSecond", second.port)
        ),
    )
    .unwrap();
    let file_arg = file.display().to_string();
    let output = tokio::task::spawn_blocking(move || {
        lp_rfq_in(empty_dir())
            .env("NO_BLOTTER", "true")
            .args([
                "quote", "buy", "1000000", "BTCUSDT", "--in", "USDT", "--json",
            ])
            .args([
                "--duration",
                "3",
                "--accept-after",
                "2s",
                "--lps",
                &file_arg,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let events = lines(&output);
    // The QuoteRequest names the USDT amount in CashOrderQty (152), not
    // OrderQty (38), with Currency (15) USDT.
    let request = &best.received("R")[0];
    assert_eq!(request.get(152), Some("1000000"));
    assert_eq!(request.get(15), Some("USDT"));
    assert_eq!(request.get(38), None);
    // 100010.00 × 1.0005 = 100060.005 → 100060.01: 9.99400259… BTC.
    let filled = of_kind(&events, "filled")[0];
    assert_eq!(
        (
            &filled["lp"],
            &filled["client_price"],
            &filled["client_pays"],
            &filled["client_receives"]
        ),
        (
            &Value::from("FixBest"),
            &Value::from("100060.01"),
            &Value::from("1000000.00"),
            &Value::from("9.99400259")
        )
    );
    // The order is for the same USDT amount; the venue filled
    // 1000000 / 100010.00 = 9.99900009… BTC, down to 8 decimals: the
    // desk keeps 9.99900009 − 9.99400259.
    let order = &best.received("D")[0];
    assert_eq!(order.get(152), Some("1000000"));
    assert_eq!(order.get(15), Some("USDT"));
    assert_eq!(order.get(38), None);
    assert_eq!(filled["pnl_asset"], "BTC");
    assert_eq!(filled["desk_pnl"], "0.00499750");
}
