//! Unknown orders resolved with their venues, from the binary: an order
//! whose answer never came is on record as unknown (with the id the venue
//! saw); the venue settles it while lp-rfq is down; the next start asks
//! the venue, appends the outcome to the blotter, says so in one line,
//! and `orders --unresolved` and `report` agree. A venue that never saw
//! the order gives "not executed"; one that cannot be reached leaves the
//! order open, listed and counted as unknown.

use std::path::{Path, PathBuf};
use std::process::Output;

use rust_decimal_macros::dec;
use serde_json::Value;

use crate::fake_venues::{
    refused_url, FakeB2c2, FakeBinance, Reply, B2C2_TOKEN, BINANCE_KEY, BINANCE_SECRET,
};
use crate::support::lp_rfq_in;

fn venues(dir: &Path, name: &str, b2c2: &str, binance: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            r#"
[[lp]]
name = "B2C2"
kind = "b2c2"
url = "{b2c2}"
token_env = "E2E_B2C2_TOKEN"
symbol = "{{base}}{{quote}}.SPOT"
timeout_ms = 800
order_timeout_ms = 500

[[lp]]
name = "Binance"
kind = "binance-convert"
url = "{binance}"
key_env = "E2E_BINANCE_KEY"
secret_env = "E2E_BINANCE_SECRET"
order_timeout_ms = 1000
"#
        ),
    )
    .unwrap();
    path
}

async fn run(dir: &Path, args: &[&str]) -> Output {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        lp_rfq_in(&dir)
            .env("E2E_B2C2_TOKEN", B2C2_TOKEN)
            .env("E2E_BINANCE_KEY", BINANCE_KEY)
            .env("E2E_BINANCE_SECRET", BINANCE_SECRET)
            .env("E2E_FIX_PASSWORD", "fix-pass-S3cret")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn events(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A stream that accepts after 1 s: its order goes to the best LP.
async fn accept_once(dir: &Path, file: &Path) -> Output {
    run(
        dir,
        &[
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--duration",
            "4",
            "--accept-after",
            "1s",
            "--lps",
            file.to_str().unwrap(),
        ],
    )
    .await
}

/// A short stream that accepts nothing: a start of lp-rfq.
async fn start_again(dir: &Path, file: &Path) -> Output {
    run(
        dir,
        &[
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--duration",
            "1",
            "--lps",
            file.to_str().unwrap(),
        ],
    )
    .await
}

/// The order's rows in the blotter: event, LP price, desk P&L, reason,
/// how it was reconciled.
fn order_rows(dir: &Path, order_id: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.join("blotter.db")).unwrap();
    let mut select = conn
        .prepare(
            "SELECT event, lp_price, desk_pnl, reason, reconciled_by, reconciled_at IS NOT NULL
             FROM executions WHERE order_id = ?1 ORDER BY seq",
        )
        .unwrap();
    select
        .query_map([order_id], |row| {
            Ok(format!(
                "{} {} {} {} {} {}",
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?.unwrap_or("-".into()),
                row.get::<_, Option<String>>(2)?.unwrap_or("-".into()),
                row.get::<_, Option<String>>(3)?.unwrap_or("-".into()),
                row.get::<_, Option<String>>(4)?.unwrap_or("-".into()),
                row.get::<_, bool>(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The LP's (orders, fills, fill_rate, unknown) in `report --json`.
async fn report_of(dir: &Path, lp: &str) -> (u64, u64, Value, u64) {
    let row = lp_report(dir, lp).await;
    (
        row["orders"].as_u64().unwrap(),
        row["fills"].as_u64().unwrap(),
        row["fill_rate"].clone(),
        row["unknown"].as_u64().unwrap(),
    )
}

/// The LP's row in `report --json`.
async fn lp_report(dir: &Path, lp: &str) -> Value {
    let output = run(dir, &["report", "--json"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let row = report["lps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["lp"] == lp)
        .unwrap()
        .clone();
    row
}

/// The RFQ's line in `report --json`.
async fn rfq_line(dir: &Path, rfq_id: &str) -> Value {
    let output = run(dir, &["report", "--json"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    report["rfqs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|line| line["rfq_id"] == rfq_id)
        .unwrap()
        .clone()
}

/// The unknown order's id and the client_order_id it was sent with.
fn unknown_order(output: &Output) -> (String, String) {
    assert_eq!(output.status.code(), Some(3), "{}", stderr(output));
    let events = events(output);
    let sent = events
        .iter()
        .find(|e| e["event"] == "order_sent")
        .expect("an order was sent");
    assert_eq!(sent["lp"], "B2C2");
    let unknown = events
        .iter()
        .find(|e| e["event"] == "execution_unknown")
        .expect("its outcome is unknown");
    let order_id = sent["order_id"].as_str().unwrap().to_string();
    let client_order_id = sent["client_order_id"].as_str().unwrap().to_string();
    // Asked in-process once the answer was lost: the venue had no record
    // yet, which is no proof, so it stays unknown.
    assert!(
        unknown["reason"].as_str().unwrap().ends_with(&format!(
            "the venue has no order with client_order_id '{client_order_id}' yet (HTTP 404)"
        )),
        "{unknown}"
    );
    (order_id, client_order_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_b2c2_fill_made_while_lp_rfq_was_down_is_found_at_the_next_start() {
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    b2c2.answer_next_order(Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    let file = venues(dir.path(), "lps.toml", &b2c2.url, &binance.url);
    let first = accept_once(dir.path(), &file).await;
    let (order_id, client_order_id) = unknown_order(&first);
    assert_eq!(b2c2.status_requests(), 1);

    // Until it is resolved: listed, and counted as unknown.
    let open = run(dir.path(), &["orders", "--unresolved", "--json"]).await;
    let listed: Vec<Value> = stdout(&open)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 1, "{}", stdout(&open));
    assert_eq!(listed[0]["order_id"], order_id.as_str());
    assert_eq!(listed[0]["client_order_id"], client_order_id.as_str());
    assert_eq!(listed[0]["lp"], "B2C2");
    assert_eq!(listed[0]["price"], "100010.00");
    assert_eq!(listed[0]["outcome"], "unknown");
    assert_eq!(report_of(dir.path(), "B2C2").await, (1, 0, "0".into(), 1));

    // The venue filled it after all.
    assert_eq!(b2c2.fill_last_order_later(), client_order_id);
    let second = start_again(dir.path(), &file).await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        stderr(&second),
        "lp-rfq: 1 order without an outcome on record: 1 filled, 0 not executed, 0 still open (asked B2C2 by GET /order/<client_order_id>/)\n"
    );
    // Appended: the earlier record is kept as it was.
    let unknown_reason = events(&first)
        .into_iter()
        .find(|e| e["event"] == "execution_unknown")
        .unwrap()["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        order_rows(dir.path(), &order_id),
        [
            "order_sent 100010.00 - - - false".to_string(),
            format!("execution_unknown - - {unknown_reason} - false"),
            // At the venue's price as it wrote it; client price 100010.00
            // × 1.0005 → 100060.01, so the desk keeps 50.01.
            "filled 100010 50.01 - B2C2 GET /order/<client_order_id>/ at start-up true".to_string(),
        ]
    );
    let open = run(dir.path(), &["orders", "--unresolved"]).await;
    assert_eq!(stdout(&open), "no orders without an outcome\n");
    assert_eq!(report_of(dir.path(), "B2C2").await, (1, 1, "1".into(), 0));
    // A third start finds nothing left to ask.
    let third = start_again(dir.path(), &file).await;
    assert_eq!(stderr(&third), "");
    assert_eq!(b2c2.status_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_venue_leaves_the_order_open_and_one_that_never_saw_it_says_not_executed() {
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    b2c2.answer_next_order(Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    let file = venues(dir.path(), "lps.toml", &b2c2.url, &binance.url);
    let (order_id, client_order_id) = unknown_order(&accept_once(dir.path(), &file).await);

    // B2C2 cannot be reached at the next start: the order stays open.
    let unreachable = venues(dir.path(), "down.toml", &refused_url().await, &binance.url);
    let second = start_again(dir.path(), &unreachable).await;
    let said = stderr(&second);
    let prefix = format!(
        "lp-rfq: 1 order without an outcome on record: 0 filled, 0 not executed, 1 still open; still open: {order_id}: B2C2: status of client_order_id '{client_order_id}' not learned: "
    );
    assert!(said.starts_with(&prefix), "{said}");
    assert!(
        said.ends_with(" (lp-rfq orders --unresolved lists them)\n"),
        "{said}"
    );
    assert_eq!(said.lines().count(), 1, "{said}");
    let open = run(dir.path(), &["orders", "--unresolved"]).await;
    let table = stdout(&open);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let heading: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        heading,
        [
            "RFQ", "LP", "PAIR", "SIDE", "AMOUNT", "PRICE", "CLIENT", "ORDER", "ID", "VENUE",
            "ORDER", "ID", "AGE", "OUTCOME"
        ]
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        [cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]],
        [
            "B2C2",
            "BTCUSDT",
            "buy",
            "1.00000000",
            "100010.00",
            client_order_id.as_str(),
            "-"
        ]
    );
    assert_eq!(cells.last(), Some(&"unknown"));
    assert_eq!(report_of(dir.path(), "B2C2").await, (1, 0, "0".into(), 1));

    // Reachable again, it has no such order: never executed.
    let third = start_again(dir.path(), &file).await;
    assert_eq!(
        stderr(&third),
        "lp-rfq: 1 order without an outcome on record: 0 filled, 1 not executed, 0 still open (asked B2C2 by GET /order/<client_order_id>/)\n"
    );
    let rows = order_rows(dir.path(), &order_id);
    assert_eq!(
        rows.last().unwrap(),
        &format!("order_rejected - - not executed: the venue has no order with client_order_id '{client_order_id}' (HTTP 404) B2C2 GET /order/<client_order_id>/ at start-up true")
    );
    assert_eq!(rows.len(), 3);
    let open = run(dir.path(), &["orders", "--unresolved"]).await;
    assert_eq!(stdout(&open), "no orders without an outcome\n");
    assert_eq!(report_of(dir.path(), "B2C2").await, (1, 0, "0".into(), 0));
    // The venue never saw it: not executed, not a last-look reject.
    let row = lp_report(dir.path(), "B2C2").await;
    assert_eq!(
        (&row["last_look_rejects"], &row["not_executed"]),
        (&Value::from(0), &Value::from(1))
    );
    let recent = run(dir.path(), &["orders"]).await;
    assert!(
        stdout(&recent)
            .lines()
            .nth(1)
            .is_some_and(|line| line.ends_with("rejected (reconciled)")),
        "{}",
        stdout(&recent)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_fill_whose_report_never_came_is_asked_for_with_h_at_the_next_start() {
    use crate::fix_acceptor::{Acceptor, Orders, Quotes, Script};
    let two_way = |offer| Quotes::TwoWay {
        bid: dec!(99900.00),
        offer,
        bid_size: dec!(5),
        offer_size: dec!(5),
        valid_ms: 10_000,
    };
    let silent = Acceptor::start(Script {
        quotes: two_way(dec!(100010.00)),
        orders: Orders::FillSilently,
        ..Script::default()
    })
    .await;
    let other = Acceptor::start(Script {
        quotes: two_way(dec!(100020.00)),
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fix.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[lp]]
name = "FixA"
kind = "fix44"
host = "127.0.0.1"
port = {}
sender_comp_id = "DESK"
target_comp_id = "LP"
order_timeout_ms = 300

[[lp]]
name = "FixB"
kind = "fix44"
host = "127.0.0.1"
port = {}
sender_comp_id = "DESK"
target_comp_id = "LP"
"#,
            silent.port, other.port
        ),
    )
    .unwrap();
    let logs = dir.path().join("fix-logs");
    let with_logs = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend([
            "--lps".to_string(),
            file.display().to_string(),
            "--fix-log-dir".to_string(),
            logs.display().to_string(),
        ]);
        all
    };
    let args = with_logs(&[
        "quote",
        "buy",
        "1",
        "BTCUSDT",
        "--json",
        "--duration",
        "4",
        "--accept-after",
        "1s",
    ]);
    let first = run(
        dir.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(first.status.code(), Some(3), "{}", stderr(&first));
    let sent = events(&first)
        .into_iter()
        .find(|e| e["event"] == "order_sent")
        .unwrap();
    let order_id = sent["order_id"].as_str().unwrap().to_string();
    // FIX: the ClOrdID the venue saw is our order id.
    assert_eq!(sent["client_order_id"], order_id.as_str());
    assert_eq!(silent.received("D")[0].get(11), Some(order_id.as_str()));

    // The venue answers status requests again; the next start asks.
    silent.script(|s| s.orders = Orders::Fill);
    let args = with_logs(&["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "1"]);
    let second = run(
        dir.path(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        stderr(&second),
        "lp-rfq: 1 order without an outcome on record: 1 filled, 0 not executed, 0 still open (asked FixA by OrderStatusRequest (35=H) by ClOrdID)\n"
    );
    // Asked by ClOrdID with its side and symbol, after a logon that reset
    // the sequence numbers.
    let asked = silent.received("H");
    let last = asked.last().unwrap();
    assert_eq!(
        (last.get(11), last.get(54), last.get(55)),
        (Some(order_id.as_str()), Some("1"), Some("BTC/USDT"))
    );
    let rows = order_rows(dir.path(), &order_id);
    assert_eq!(
        rows.last().unwrap(),
        "filled 100010.00 50.01 - FixA OrderStatusRequest (35=H) by ClOrdID at start-up true"
    );
    let open = run(dir.path(), &["orders", "--unresolved"]).await;
    assert_eq!(stdout(&open), "no orders without an outcome\n");
    assert_eq!(report_of(dir.path(), "FixA").await, (1, 1, "1".into(), 0));
}

/// Runs `quote buy 1 BTCUSDT --json --accept-after 1s` against `file` and
/// kills it (SIGKILL) once its order is on record and at the venue with
/// no answer: what a `kill -9` with an order out leaves. Returns the
/// events it printed until then.
async fn killed_with_an_order_out(dir: &Path, file: &Path, b2c2: &FakeB2c2) -> Vec<Value> {
    use std::io::BufRead;
    let mut child = lp_rfq_in(dir)
        .env("E2E_B2C2_TOKEN", B2C2_TOKEN)
        .env("E2E_BINANCE_KEY", BINANCE_KEY)
        .env("E2E_BINANCE_SECRET", BINANCE_SECRET)
        .args(["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "30"])
        .args(["--accept-after", "1s", "--lps", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let printed = tokio::task::spawn_blocking(move || {
        let mut printed = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
            let sent = event["event"] == "order_sent";
            printed.push(event);
            if sent {
                break;
            }
        }
        printed
    })
    .await
    .unwrap();
    assert_eq!(
        printed.last().unwrap()["event"],
        "order_sent",
        "{printed:?}"
    );
    // An order goes to the blotter's writer before it is shown, and is
    // committed within the writer's commit window: wait for both it and
    // the venue (bounded: 10 s of 10 ms looks).
    let order_id = printed.last().unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    let blotter = dir.join("blotter.db");
    for _ in 0..1000 {
        let on_record = rusqlite::Connection::open(&blotter)
            .and_then(|conn| {
                conn.query_row(
                    "SELECT count(*) FROM executions WHERE order_id = ?1 AND event = 'order_sent'",
                    [&order_id],
                    |row| row.get::<_, i64>(0),
                )
            })
            .unwrap_or(0);
        if on_record == 1 && b2c2.orders_received() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    printed
}

/// The RFQ's end as the blotter holds it: end_reason, outcome, final LP,
/// final client price.
fn rfq_end(dir: &Path, rfq_id: &str) -> [Option<String>; 4] {
    let conn = rusqlite::Connection::open(dir.join("blotter.db")).unwrap();
    conn.query_row(
        "SELECT end_reason, outcome, final_lp, final_client_price FROM rfqs WHERE rfq_id = ?1",
        [rfq_id],
        |row| Ok([row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?]),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_out_when_lp_rfq_was_killed_is_filled_at_the_next_start_and_its_rfq_ended() {
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    // The venue holds the order's answer; lp-rfq would wait 5 s for it.
    b2c2.answer_next_order(Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    let file = venues(dir.path(), "lps.toml", &b2c2.url, &binance.url);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("order_timeout_ms = 500", "order_timeout_ms = 5000"),
    )
    .unwrap();
    let printed = killed_with_an_order_out(dir.path(), &file, &b2c2).await;
    let sent = printed.last().unwrap();
    let order_id = sent["order_id"].as_str().unwrap().to_string();
    let rfq_id = sent["rfq_id"].as_str().unwrap().to_string();
    let client_order_id = sent["client_order_id"].as_str().unwrap().to_string();
    assert_eq!(
        order_rows(dir.path(), &order_id),
        ["order_sent 100010.00 - - - false"]
    );
    assert_eq!(rfq_end(dir.path(), &rfq_id), [None, None, None, None]);

    // Never answered: listed with no outcome, counted as unknown.
    let open = run(dir.path(), &["orders", "--unresolved", "--json"]).await;
    let listed: Value = serde_json::from_str(stdout(&open).trim()).unwrap();
    assert_eq!(
        (
            &listed["order_id"],
            &listed["client_order_id"],
            &listed["outcome"]
        ),
        (
            &Value::from(order_id.as_str()),
            &Value::from(client_order_id.as_str()),
            &Value::Null
        )
    );
    assert_eq!(report_of(dir.path(), "B2C2").await, (1, 0, "0".into(), 1));

    // The venue fills it while lp-rfq is down. The order is made older
    // than its wait (5 s + 1 s grace) and the 5 s margin, as a restart a
    // minute later would find it: its process is gone, so it is asked.
    assert_eq!(b2c2.fill_last_order_later(), client_order_id);
    let conn = rusqlite::Connection::open(dir.path().join("blotter.db")).unwrap();
    conn.execute("UPDATE executions SET at_ms = at_ms - 60000", [])
        .unwrap();
    drop(conn);
    let second = start_again(dir.path(), &file).await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        stderr(&second),
        "lp-rfq: 1 order without an outcome on record: 1 filled, 0 not executed, 0 still open (asked B2C2 by GET /order/<client_order_id>/)\n"
    );
    assert_eq!(
        order_rows(dir.path(), &order_id),
        [
            "order_sent 100010.00 - - - false",
            "filled 100010 50.01 - B2C2 GET /order/<client_order_id>/ at start-up true",
        ]
    );
    // Its RFQ is no longer unfinished: ended by the outcome learned.
    assert_eq!(
        rfq_end(dir.path(), &rfq_id),
        [
            Some("accepted".into()),
            Some("filled".into()),
            Some("B2C2".into()),
            Some("100060.01".into())
        ]
    );
    let open = run(dir.path(), &["orders", "--unresolved"]).await;
    assert_eq!(stdout(&open), "no orders without an outcome\n");
    assert_eq!(report_of(dir.path(), "B2C2").await, (1, 1, "1".into(), 0));
    let line = rfq_line(dir.path(), &rfq_id).await;
    assert_eq!(
        (
            &line["end_reason"],
            &line["outcome"],
            &line["filled_lp"],
            &line["desk_pnl"]
        ),
        (
            &Value::from("accepted"),
            &Value::from("filled"),
            &Value::from("B2C2"),
            &Value::from("50.01")
        )
    );
    // The ids to find it at the venue, and how its outcome was learned.
    assert_eq!(
        [
            &line["order_id"],
            &line["client_order_id"],
            &line["venue_order_id"],
            &line["reconciled_by"]
        ],
        [
            &Value::from(order_id.as_str()),
            &Value::from(client_order_id.as_str()),
            &Value::from("order-late-1"),
            &Value::from("B2C2 GET /order/<client_order_id>/ at start-up")
        ]
    );
    assert!(line["venue_ref"].is_string(), "{line}");
}

/// The order's record is committed before the order leaves: killed with
/// SIGKILL at the very moment the venue receives the order (before it
/// answers), lp-rfq has already committed the `order_sent` row with the
/// id the venue saw, and the next start finds it and resolves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_on_record_before_the_venue_receives_it_so_a_kill_at_that_moment_is_reconciled()
{
    use std::sync::{Arc, Mutex};
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    b2c2.answer_next_order(Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    let file = venues(dir.path(), "lps.toml", &b2c2.url, &binance.url);
    let mut child = lp_rfq_in(dir.path())
        .env("E2E_B2C2_TOKEN", B2C2_TOKEN)
        .env("E2E_BINANCE_KEY", BINANCE_KEY)
        .env("E2E_BINANCE_SECRET", BINANCE_SECRET)
        .args(["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "30"])
        .args(["--accept-after", "1s", "--lps", file.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // At the order's arrival, before any answer: what the blotter file
    // holds for it (event, at_ms, order_id), then kill -9.
    let blotter = dir.path().join("blotter.db");
    let pid = child.id().to_string();
    // The client_order_id the venue saw, and (event, at_ms, order_id) rows.
    type Seen = (String, Vec<(String, i64, String)>);
    let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
    let seen_by_venue = seen.clone();
    b2c2.on_order(move |body| {
        let client_order_id = body["client_order_id"].as_str().unwrap().to_string();
        let conn = rusqlite::Connection::open(&blotter).unwrap();
        let mut select = conn
            .prepare(
                "SELECT event, at_ms, order_id FROM executions WHERE client_order_id = ?1 ORDER BY seq",
            )
            .unwrap();
        let rows = select
            .query_map([&client_order_id], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        *seen_by_venue.lock().unwrap() = Some((client_order_id, rows));
        let killed = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
    });
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), None, "killed by a signal: {status:?}");
    let (client_order_id, rows) = seen.lock().unwrap().take().expect("an order arrived");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (event, at_ms, order_id) = &rows[0];
    assert_eq!(event, "order_sent");
    let arrived = b2c2.order_arrivals()[0]
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        *at_ms <= arrived,
        "recorded at {at_ms}, arrived at {arrived}"
    );
    assert_eq!(
        order_rows(dir.path(), order_id),
        ["order_sent 100010.00 - - - false"]
    );

    // The venue fills it while lp-rfq is down; the next start (its order
    // made a minute old, so that its process is surely gone) asks for it.
    assert_eq!(b2c2.fill_last_order_later(), client_order_id);
    let conn = rusqlite::Connection::open(dir.path().join("blotter.db")).unwrap();
    conn.execute("UPDATE executions SET at_ms = at_ms - 60000", [])
        .unwrap();
    drop(conn);
    let second = start_again(dir.path(), &file).await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        stderr(&second),
        "lp-rfq: 1 order without an outcome on record: 1 filled, 0 not executed, 0 still open (asked B2C2 by GET /order/<client_order_id>/)\n"
    );
    assert_eq!(
        order_rows(dir.path(), order_id),
        [
            "order_sent 100010.00 - - - false",
            "filled 100010 50.01 - B2C2 GET /order/<client_order_id>/ at start-up true",
        ]
    );
    assert_eq!(report_of(dir.path(), "B2C2").await, (1, 1, "1".into(), 0));
}

/// The blotter stops taking writes while the order is out (another
/// process holds its write lock from the moment the venue receives the
/// order): the fill is still shown, and it goes to the fallback journal;
/// the exit fails naming the journal; the next start merges it, so the
/// blotter holds the order and its fill, rows in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_that_arrives_while_the_blotter_fails_is_journalled_and_merged_at_the_next_start() {
    use std::sync::{Arc, Mutex};
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    let dir = tempfile::tempdir().unwrap();
    let file = venues(dir.path(), "lps.toml", &b2c2.url, &binance.url);
    let blotter = dir.path().join("blotter.db");
    let holder: Arc<Mutex<Option<rusqlite::Connection>>> = Arc::default();
    let holding = holder.clone();
    let locked_path = blotter.clone();
    b2c2.on_order(move |_| {
        let conn = rusqlite::Connection::open(&locked_path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        *holding.lock().unwrap() = Some(conn);
    });
    let output = accept_once(dir.path(), &file).await;
    let events = events(&output);
    let said = stderr(&output);
    let sent = events.iter().find(|e| e["event"] == "order_sent").unwrap();
    let order_id = sent["order_id"].as_str().unwrap().to_string();
    let fill = events
        .iter()
        .find(|e| e["event"] == "filled")
        .expect("the fill is shown");
    assert_eq!(
        (&fill["lp"], &fill["lp_price"], &fill["desk_pnl"]),
        (
            &Value::from("B2C2"),
            &Value::from("100010"),
            &Value::from("50.01")
        )
    );
    assert_eq!(events.last().unwrap()["outcome"], "filled");
    assert_eq!(output.status.code(), Some(1), "{said}");
    let journal = dir.path().join("blotter.db.journal");
    let journalled = lp_rfq::blotter::journal::read(&journal).unwrap();
    let outcomes: Vec<&str> = journalled
        .iter()
        .filter(|e| lp_rfq::blotter::journal::is_outcome(e))
        .map(|e| e.kind.name())
        .collect();
    assert_eq!(outcomes, ["filled", "ended"]);
    assert!(
        said.contains("lp-rfq: warning: blotter './blotter.db' cannot be written: database is locked (holding events, retrying)\n"),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "lp-rfq: blotter './blotter.db' could not take {} events: they are in the fallback journal './blotter.db.journal' and are merged into the blotter at the next start\n",
            journalled.len()
        )),
        "{said}"
    );
    // Only the order was committed before the lock was taken.
    holder
        .lock()
        .unwrap()
        .take()
        .unwrap()
        .execute_batch("ROLLBACK")
        .unwrap();
    assert_eq!(
        order_rows(dir.path(), &order_id),
        ["order_sent 100010.00 - - - false"]
    );

    // The next start merges the journal: the fill is on record, once.
    let second = start_again(dir.path(), &file).await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!(
            "merged {} events from the fallback journal",
            journalled.len()
        )),
        "{}",
        stderr(&second)
    );
    assert_eq!(
        order_rows(dir.path(), &order_id),
        [
            "order_sent 100010.00 - - - false",
            "filled 100010 50.01 - - false",
        ]
    );
    assert_eq!(report_of(dir.path(), "B2C2").await, (1, 1, "1".into(), 0));
    assert_eq!(
        lp_rfq::blotter::journal::read(&journal).unwrap_or_default(),
        Vec::new(),
        "the journal is emptied once merged"
    );
}

/// A stream that accepts Binance's price (the best here) and whose
/// outcome stays unknown; the order's id and the quoteId it accepted.
async fn binance_order_left_unknown(dir: &Path, file: &Path) -> (String, String) {
    let output = accept_once(dir, file).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let events = events(&output);
    let sent = events.iter().find(|e| e["event"] == "order_sent").unwrap();
    assert_eq!(sent["lp"], "Binance");
    assert!(events.iter().any(|e| e["event"] == "execution_unknown"));
    (
        sent["order_id"].as_str().unwrap().to_string(),
        sent["venue_ref"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binance_orders_are_asked_by_quote_id_at_the_next_start_success_fills_fail_and_unseen_do_not(
) {
    use crate::fake_venues::Endpoint;
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100030.00));
    binance.set_prices(dec!(99970.00), dec!(100010.00));
    let dir = tempfile::tempdir().unwrap();
    let file = venues(dir.path(), "lps.toml", &b2c2.url, &binance.url);
    let asked_by_quote_id = |quote_id: &str| {
        binance
            .requests()
            .iter()
            .filter(|r| r.path == "/sapi/v1/convert/orderStatus")
            .filter(|r| r.params().get("quoteId").map(String::as_str) == Some(quote_id))
            .count()
    };

    // 1. Accepted, its answer lost, still processing when lp-rfq gives up.
    binance.set_statuses(&["PROCESS"]);
    binance.lose_next_accept_answer();
    let (first, first_quote) = binance_order_left_unknown(dir.path(), &file).await;
    assert_eq!(binance.accepted_orders(), 1);
    // Binance finishes it while lp-rfq is down.
    binance.settle_last_order("SUCCESS");

    // 2. The accept never reaches Binance: it has no such order. This
    // start asks about the first order.
    binance.answer_next(Endpoint::AcceptQuote, Reply::Hang);
    let asked_before = asked_by_quote_id(&first_quote);
    let second_run = accept_once(dir.path(), &file).await;
    assert_eq!(
        stderr(&second_run),
        "lp-rfq: 1 order without an outcome on record: 1 filled, 0 not executed, 0 still open (asked Binance by GET /sapi/v1/convert/orderStatus)\n"
    );
    assert_eq!(asked_by_quote_id(&first_quote), asked_before + 1);
    assert_eq!(
        order_rows(dir.path(), &first).last().unwrap(),
        // Binance's inverseRatio 100010.00 × 1 BTC; client 100060.01.
        "filled 100010.00 50.01 - Binance GET /sapi/v1/convert/orderStatus at start-up true"
    );
    let second_events = events(&second_run);
    let sent = second_events
        .iter()
        .find(|e| e["event"] == "order_sent")
        .unwrap();
    let (second, second_quote) = (
        sent["order_id"].as_str().unwrap().to_string(),
        sent["venue_ref"].as_str().unwrap().to_string(),
    );
    assert_eq!(
        binance.accepted_orders(),
        1,
        "the second accept never arrived"
    );

    // 3. Accepted, answer lost, then failed at Binance.
    binance.lose_next_accept_answer();
    let third_run = accept_once(dir.path(), &file).await;
    assert_eq!(
        stderr(&third_run),
        "lp-rfq: 1 order without an outcome on record: 0 filled, 1 not executed, 0 still open (asked Binance by GET /sapi/v1/convert/orderStatus)\n"
    );
    assert_eq!(
        order_rows(dir.path(), &second).last().unwrap(),
        &format!("order_rejected - - not executed: Binance has no order for quoteId {second_quote} (error -2013: Order does not exist.) Binance GET /sapi/v1/convert/orderStatus at start-up true")
    );
    let third_events = events(&third_run);
    let third = third_events
        .iter()
        .find(|e| e["event"] == "order_sent")
        .unwrap()["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    binance.settle_last_order("FAIL");
    let last = start_again(dir.path(), &file).await;
    assert_eq!(
        stderr(&last),
        "lp-rfq: 1 order without an outcome on record: 0 filled, 1 not executed, 0 still open (asked Binance by GET /sapi/v1/convert/orderStatus)\n"
    );
    assert_eq!(
        order_rows(dir.path(), &third).last().unwrap(),
        "order_rejected - - order 933256278426200002 failed Binance GET /sapi/v1/convert/orderStatus at start-up true"
    );
    let open = run(dir.path(), &["orders", "--unresolved"]).await;
    assert_eq!(stdout(&open), "no orders without an outcome\n");
    let row = lp_report(dir.path(), "Binance").await;
    assert_eq!(
        [
            &row["orders"],
            &row["fills"],
            &row["last_look_rejects"],
            &row["not_executed"],
            &row["unknown"]
        ],
        [
            &Value::from(3),
            &Value::from(1),
            &Value::from(0),
            &Value::from(2),
            &Value::from(0)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_found_at_start_counts_toward_the_clients_daily_limit_and_in_every_report_section() {
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    b2c2.answer_next_order(Reply::Hang);
    let dir = tempfile::tempdir().unwrap();
    let file = venues(dir.path(), "lps.toml", &b2c2.url, &binance.url);
    std::fs::write(
        dir.path().join("clients.toml"),
        "[[client]]\nname = \"acme\"\ndaily_notional = \"150000\"\n",
    )
    .unwrap();
    let as_acme = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--client", "acme", "--clients", "clients.toml", "--lps"].map(String::from));
        all.push(file.to_str().unwrap().to_string());
        all
    };
    let accept = as_acme(&[
        "quote",
        "buy",
        "1",
        "BTCUSDT",
        "--json",
        "--duration",
        "4",
        "--accept-after",
        "1s",
    ]);
    let first = run(
        dir.path(),
        &accept.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    let (_, client_order_id) = unknown_order(&first);

    // The venue filled it after all: 1 BTC at 100,060.01 for acme, found
    // at the next start, before that start's own request is admitted.
    assert_eq!(b2c2.fill_last_order_later(), client_order_id);
    let again = as_acme(&[
        "quote",
        "buy",
        "0.6",
        "BTCUSDT",
        "--json",
        "--duration",
        "1",
    ]);
    let second = run(
        dir.path(),
        &again.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(second.status.code(), Some(2), "{}", stdout(&second));
    assert_eq!(
        stderr(&second),
        "lp-rfq: 1 order without an outcome on record: 1 filled, 0 not executed, 0 still open (asked B2C2 by GET /order/<client_order_id>/)\n\
         lp-rfq: client 'acme': notional 60,000.00 USDT is above what is left of its daily_notional of 150,000 USDT (filled today, UTC: 100,060.01 USDT; headroom 49,939.99 USDT)\n"
    );
    // The report: the RFQ ended `unknown` on record (kept as it was), and
    // every section counts it by its latest order answer, the fill. An
    // operator is named on it as a desk server would have.
    let conn = rusqlite::Connection::open(dir.path().join("blotter.db")).unwrap();
    let recorded: String = conn
        .query_row("SELECT outcome FROM rfqs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(recorded, "unknown");
    conn.execute("UPDATE rfqs SET operator = 'alice'", [])
        .unwrap();
    drop(conn);
    let output = run(dir.path(), &["report", "--json"]).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["rfqs"][0]["outcome"], "filled");
    assert_eq!(
        report["clients"],
        serde_json::json!([{
            "client": "acme", "asset": "USDT", "rfqs": 1, "accepted": 1, "fills": 1,
            "fill_ratio": "1", "filled_notional": "100060.01", "markup_earned": "50.01",
        }])
    );
    assert_eq!(
        report["operators"],
        serde_json::json!([{
            "operator": "alice", "asset": "USDT", "rfqs": 1, "fills": 1, "not_filled": 0,
            "unknown": 0, "accepted": 1, "notional_quoted": "100060.01", "filled_notional": "100010.00000000",
            "markup_earned": "50.01",
        }])
    );
    let b2c2 = report["lps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["lp"] == "B2C2")
        .unwrap();
    assert_eq!(
        [
            &b2c2["orders"],
            &b2c2["fills"],
            &b2c2["unknown"],
            &b2c2["fill_rate"]
        ],
        [
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(0),
            &serde_json::json!("1")
        ]
    );
    assert_eq!(report["pairs"][0]["fills"], 1);
    assert_eq!(report["totals"][0]["fills"], 1);
}
