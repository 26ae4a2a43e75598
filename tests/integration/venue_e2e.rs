//! The binary against local venues: a venues file pointing at the fake
//! B2C2 and Binance Convert servers gives real-adapter quotes and an
//! execution with exact prices, and no secret reaches any output.

use std::process::Output;

use rust_decimal_macros::dec;
use serde_json::Value;

use crate::fake_venues::{FakeB2c2, FakeBinance, B2C2_TOKEN, BINANCE_KEY, BINANCE_SECRET};
use crate::support::{empty_dir, lp_rfq_in};

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
token_env = "E2E_B2C2_TOKEN"
symbol = "{{base}}{{quote}}.SPOT"
timeout_ms = 800

[[lp]]
name = "Binance"
kind = "binance-convert"
url = "{binance}"
key_env = "E2E_BINANCE_KEY"
secret_env = "E2E_BINANCE_SECRET"
order_timeout_ms = 3000
"#
        ),
    )
    .unwrap();
    path
}

/// Runs the binary off the async workers (the fakes answer on them).
async fn run(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        lp_rfq_in(empty_dir())
            .env("NO_BLOTTER", "true")
            .env("E2E_B2C2_TOKEN", B2C2_TOKEN)
            .env("E2E_BINANCE_KEY", BINANCE_KEY)
            .env("E2E_BINANCE_SECRET", BINANCE_SECRET)
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The execution events of a run as short lines.
fn execution(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| {
            ["order_sent", "order_rejected", "filled", "ended"]
                .contains(&e["event"].as_str().unwrap_or_default())
        })
        .map(|e| match e["event"].as_str().unwrap_or_default() {
            "order_sent" => format!("order_sent {} {}", e["lp"], e["lp_price"]),
            "order_rejected" => format!("order_rejected {}", e["lp"]),
            "filled" => format!(
                "filled {} {} client {} pnl {}",
                e["lp"], e["lp_price"], e["client_price"], e["desk_pnl"]
            ),
            _ => format!("ended {}", e["outcome"]),
        })
        .collect()
}

fn no_secret_in(output: &Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in [B2C2_TOKEN, BINANCE_KEY, BINANCE_SECRET] {
        assert!(!all.contains(secret), "a secret leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_venues_file_quotes_and_executes_against_local_venues() {
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    // B2C2 has the best offer and rejects on last look; Binance is under
    // the client's price and fills.
    b2c2.reject_next_order();
    let dir = tempfile::tempdir().unwrap();
    let file = venues_file(dir.path(), &b2c2.url, &binance.url);
    let output = run([
        "quote",
        "buy",
        "1",
        "BTCUSDT",
        "--json",
        "--duration",
        "3",
        "--accept-after",
        "2s",
        "--lps",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([file.display().to_string()])
    .collect())
    .await;
    no_secret_in(&output);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = lines(&output);
    assert_eq!(events[0]["simulated"], false);
    assert_eq!(events[0]["lps"], serde_json::json!(["B2C2", "Binance"]));
    let quotes: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "lp_quote")
        .map(|e| format!("{} {}", e["lp"], e["price"]))
        .take(2)
        .collect();
    assert!(
        quotes.contains(&"\"B2C2\" \"100010.00\"".to_string()),
        "{quotes:?}"
    );
    assert!(
        quotes.contains(&"\"Binance\" \"100020.00\"".to_string()),
        "{quotes:?}"
    );
    let execution = execution(&events);
    // Client price: 100010.00 × 1.0005 = 100060.005 → 100060.01 (up).
    assert_eq!(
        execution,
        [
            "order_sent \"B2C2\" \"100010.00\"",
            "order_rejected \"B2C2\"",
            "order_sent \"Binance\" \"100020.00\"",
            "filled \"Binance\" \"100020.00\" client \"100060.01\" pnl \"40.01\"",
            "ended \"filled\"",
        ]
    );
    // The order named the venue's own quote: B2C2's rfq_id, Binance's quoteId.
    let sent: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "order_sent")
        .collect();
    assert!(sent[0]["venue_ref"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(sent[1]["venue_ref"].as_str().is_some_and(|r| !r.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lps_check_reaches_each_venue_and_names_a_bad_credential() {
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = venues_file(dir.path(), &b2c2.url, &binance.url);
    let args = |check: bool| -> Vec<String> {
        let mut args = vec![
            "lps".to_string(),
            "--lps".into(),
            file.display().to_string(),
        ];
        if check {
            args.push("--check".into());
        }
        args
    };
    let listed = run(args(false)).await;
    assert!(listed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        format!(
            "2 LPs from venues file '{}':\n  B2C2     b2c2             {}\n           health: not checked · 5/s burst 5 · breaker 5 in 30 s, cool-off 30 s\n  Binance  binance-convert  {}\n           health: not checked · 0.5/s burst 1 · breaker 5 in 30 s, cool-off 30 s\n",
            file.display(),
            b2c2.url,
            binance.url
        )
    );
    let checked = run(args(true)).await;
    no_secret_in(&checked);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stdout)
    );
    let table = String::from_utf8_lossy(&checked.stdout).to_string();
    assert!(
        table.contains("B2C2     b2c2             yes       ok"),
        "{table}"
    );
    assert!(
        table.contains("Binance  binance-convert  yes       ok"),
        "{table}"
    );
    // A wrong token: reachable, authentication FAILED, exit 1.
    let bad = tokio::task::spawn_blocking({
        let args = args(true);
        move || {
            lp_rfq_in(empty_dir())
                .env("NO_BLOTTER", "true")
                .env("E2E_B2C2_TOKEN", "wrong-token")
                .env("E2E_BINANCE_KEY", BINANCE_KEY)
                .env("E2E_BINANCE_SECRET", BINANCE_SECRET)
                .args(args)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let table = String::from_utf8_lossy(&bad.stdout).to_string();
    assert!(
        table.contains("B2C2     b2c2             yes       FAILED"),
        "{table}"
    );
    // Its health now says so (until restart); the other LP is fine.
    assert!(
        table.contains("B2C2: health auth failed · 5/s burst 5"),
        "{table}"
    );
    assert!(table.contains("Binance: health ok · 0.5/s"), "{table}");
    assert!(!table.contains("wrong-token"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fix_venues_quote_reject_on_last_look_and_fill_from_the_binary() {
    use crate::fix_acceptor::{Acceptor, Orders, Quotes, Script};
    let two_way = |offer| Quotes::TwoWay {
        bid: dec!(99900.00),
        offer,
        bid_size: dec!(5),
        offer_size: dec!(5),
        valid_ms: 10_000,
    };
    let fader = Acceptor::start(Script {
        quotes: two_way(dec!(100010.00)),
        orders: Orders::LastLookReject("last look: off market".into()),
        ..Script::default()
    })
    .await;
    let solid = Acceptor::start(Script {
        quotes: two_way(dec!(100020.00)),
        orders: Orders::Fill,
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lps.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[[lp]]
name = "FixFader"
kind = "fix44"
host = "127.0.0.1"
port = {}
sender_comp_id = "DESK"
target_comp_id = "LP"
password_env = "E2E_FIX_PASSWORD"

[[lp]]
name = "FixSolid"
kind = "fix44"
host = "127.0.0.1"
port = {}
sender_comp_id = "DESK"
target_comp_id = "LP"
"#,
            fader.port, solid.port
        ),
    )
    .unwrap();
    let logs = dir.path().join("fix-logs");
    let args: Vec<String> = [
        "quote",
        "buy",
        "1",
        "BTCUSDT",
        "--json",
        "--duration",
        "3",
        "--accept-after",
        "2s",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        "--lps".to_string(),
        file.display().to_string(),
        "--fix-log-dir".to_string(),
        logs.display().to_string(),
    ])
    .collect();
    let output = tokio::task::spawn_blocking(move || {
        lp_rfq_in(empty_dir())
            .env("NO_BLOTTER", "true")
            .env("E2E_FIX_PASSWORD", "fix-pass-S3cret")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains("fix-pass-S3cret"));
    assert!(output.status.success(), "{all}");
    let events = lines(&output);
    assert_eq!(events[0]["simulated"], false);
    let execution = execution(&events);
    assert_eq!(
        execution,
        [
            "order_sent \"FixFader\" \"100010.00\"",
            "order_rejected \"FixFader\"",
            "order_sent \"FixSolid\" \"100020.00\"",
            "filled \"FixSolid\" \"100020.00\" client \"100060.01\" pnl \"40.01\"",
            "ended \"filled\"",
        ]
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "order_rejected" && e["reason"] == "last look: off market"));
    // The order named the venue's QuoteID, and the audit trail masks 554.
    let order = &fader.received("D")[0];
    assert_eq!(
        order.get(117),
        events.iter().find(|e| e["event"] == "order_sent").unwrap()["venue_ref"].as_str()
    );
    let audit = std::fs::read_to_string(logs.join("FixFader.fix.log")).unwrap();
    assert!(audit.contains("554=***"), "{audit}");
    assert!(!audit.contains("fix-pass-S3cret"));
    assert!(audit.contains("35=D"), "{audit}");
}

/// A 429 with Retry-After from the binary: the venue is not asked again
/// until the pause is over, the stream shows it (`lp_health`), the blotter
/// records the change once (`lp_health` table) and `report` sums it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_pauses_a_venue_and_the_blotter_and_report_show_it() {
    use crate::fake_venues::Reply;
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.answer_next_quote(
        Reply::json(
            429,
            serde_json::json!({"errors": [{"code": 1100, "message": "Request was throttled."}]}),
        )
        .with_header("Retry-After", "2"),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = venues_file(dir.path(), &b2c2.url, &binance.url);
    let blotter = dir.path().join("b.db");
    let binary = |args: Vec<String>| {
        let blotter = blotter.clone();
        tokio::task::spawn_blocking(move || {
            lp_rfq_in(empty_dir())
                .env("BLOTTER_PATH", &blotter)
                .env("E2E_B2C2_TOKEN", B2C2_TOKEN)
                .env("E2E_BINANCE_KEY", BINANCE_KEY)
                .env("E2E_BINANCE_SECRET", BINANCE_SECRET)
                .args(args)
                .output()
                .unwrap()
        })
    };
    let args = [
        "quote",
        "buy",
        "1",
        "BTCUSDT",
        "--json",
        "--duration",
        "3",
        "--lps",
    ];
    let output = binary(
        args.iter()
            .map(|s| s.to_string())
            .chain([file.display().to_string()])
            .collect(),
    )
    .await
    .unwrap();
    no_secret_in(&output);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let events = lines(&output);
    let b2c2_events: Vec<String> = events
        .iter()
        .filter(|e| {
            e["lp"] == "B2C2" && ["lp_error", "lp_health"].contains(&e["event"].as_str().unwrap())
        })
        .map(|e| {
            format!(
                "{} {}{}",
                e["event"].as_str().unwrap(),
                e["kind"],
                e["state"]
            )
        })
        .collect();
    assert_eq!(
        b2c2_events[..3],
        [
            "lp_error \"rate_limited\"null",
            "lp_health null\"rate_limited\"",
            "lp_health null\"ok\"",
        ],
        "{b2c2_events:?}"
    );
    let paused = events
        .iter()
        .find(|e| e["event"] == "lp_health" && e["state"] == "rate_limited")
        .unwrap();
    let retry = paused["retry_in_ms"].as_u64().unwrap();
    assert!((1_900..=2_000).contains(&retry), "{retry}");
    // Asked at 0 (429), then not before the 2 s pause was over: with a poll
    // every 500 ms, once at 2.0–2.5 s and at most twice more by 3 s.
    let asked = b2c2.quotes();
    assert!((2..=4).contains(&asked), "{asked}");
    // Binance's default limit (0.5/s, burst 1) holds it to 2 requests in 3 s.
    let binance_asked = binance.count(crate::fake_venues::Endpoint::GetQuote);
    assert!((1..=2).contains(&binance_asked), "{binance_asked}");

    let conn = rusqlite::Connection::open(&blotter).unwrap();
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT lp, previous, state FROM lp_health ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let b2c2_rows: Vec<_> = rows.iter().filter(|r| r.0 == "B2C2").collect();
    assert_eq!(
        b2c2_rows,
        [
            &("B2C2".into(), "ok".into(), "rate_limited".into()),
            &("B2C2".into(), "rate_limited".into(), "ok".into()),
        ]
    );
    drop(conn);
    let report = binary(vec!["report".into()]).await.unwrap();
    let text = String::from_utf8_lossy(&report.stdout).to_string();
    assert!(
        text.contains("\nLP health (recorded changes in the period)\n"),
        "{text}"
    );
    assert!(
        // The polls at 0.5, 1.0, 1.5 (and 2.0 s, by a hair on real time)
        // were held back: throttled.
        text.lines().any(|l| l.starts_with("B2C2 ")
            && ["3", "4"].contains(&l.split_whitespace().nth(1).unwrap_or(""))),
        "{text}"
    );
}

/// The issue's reproduction: a mock `Sim` beside a real venue that cannot
/// be reached (nothing listens on port 9). The band corroborates Sim's
/// price, the only one quoted.
fn mixed_venues_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("lps.toml");
    std::fs::write(
        &path,
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"http://127.0.0.1:9\"\n\
         token_env = \"E2E_B2C2_TOKEN\"\n\n[[lp]]\nname = \"Sim\"\nkind = \"mock\"\n\n\
         [bands]\nBTCUSDT = { min = \"50000\", max = \"200000\" }\n",
    )
    .unwrap();
    path
}

/// `quote buy 0.1 BTCUSDT --lps <mixed file> --accept-after 1s` plus
/// `extra`, with a mock that always quotes and fills.
fn mixed_run(dir: &std::path::Path, extra: &[&str]) -> Output {
    let file = mixed_venues_file(dir);
    lp_rfq_in(dir)
        .env("E2E_B2C2_TOKEN", B2C2_TOKEN)
        .args(["quote", "buy", "0.1", "BTCUSDT", "--lps"])
        .arg(&file)
        .args(["--accept-after", "1s", "--duration", "2", "--seed", "7"])
        .args(["--mock-failure-rate", "0", "--mock-reject-rate", "0"])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_mock_beside_a_real_venue_is_refused_without_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let output = mixed_run(dir.path(), &["--no-blotter"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "lp-rfq: '{}' mixes simulated LPs (Sim) with real ones: a simulated fill would look real; remove them, or pass --allow-simulated-with-real (ALLOW_SIMULATED_WITH_REAL) to stream with both, every screen marked MIXED\n",
            dir.path().join("lps.toml").display()
        )
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn with_the_flag_a_mock_fill_is_simulated_in_the_ticket_json_blotter_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let plain = mixed_run(
        dir.path(),
        &["--allow-simulated-with-real", "--plain", "--no-blotter"],
    );
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let text = String::from_utf8_lossy(&plain.stdout);
    for line in [
        "MIXED: SIMULATED LPs Sim: their prices and fills are not real",
        "client quote (first) SIMULATED",
        "  | LP source:       Sim (SIMULATED)                       |",
        "FILLED by Sim SIMULATED",
        "  | TRADE TICKET (SIMULATED): FILLED                       |",
        "  | LP:              Sim (SIMULATED)                       |",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    assert!(!text.contains("TRADE TICKET:"), "{text}");

    let blotter = dir.path().join("blotter.db");
    let json = mixed_run(
        dir.path(),
        &[
            "--allow-simulated-with-real",
            "--json",
            "--blotter",
            blotter.to_str().unwrap(),
        ],
    );
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let events = lines(&json);
    assert_eq!(events[0]["simulated"], false);
    assert_eq!(events[0]["simulated_lps"], serde_json::json!(["Sim"]));
    for event in &events {
        let name = event["event"].as_str().unwrap();
        if event["lp"] == "Sim" && name != "lp_error" {
            assert_eq!(event["simulated"], true, "{event}");
        }
        if event["lp"] == "B2C2" {
            assert!(event.get("simulated").is_none(), "{event}");
        }
    }
    let filled: Vec<&Value> = events.iter().filter(|e| e["event"] == "filled").collect();
    assert_eq!(filled.len(), 1);
    assert_eq!(filled[0]["lp"], "Sim");
    assert_eq!(filled[0]["simulated"], true);

    let conn = rusqlite::Connection::open(&blotter).unwrap();
    let stored: (bool, String) = conn
        .query_row("SELECT simulated, simulated_lps FROM rfqs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(stored, (false, "[\"Sim\"]".to_string()));
    let fill: (String, bool) = conn
        .query_row("SELECT lp, simulated FROM fills", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(fill, ("Sim".to_string(), true));
    drop(conn);

    let report = lp_rfq_in(dir.path())
        .args(["report", "--blotter", blotter.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    let lp_line = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(lp_line("Sim (simulated) ").len() > 20, "{text}");
    assert!(lp_line("B2C2 ").len() > 20, "{text}");
    assert!(!lp_line("B2C2 ").contains("simulated"), "{text}");
    let rfq_line = text.lines().find(|line| line.starts_with("R2")).unwrap();
    assert!(
        rfq_line.contains("accepted  filled   Sim (simulated)"),
        "{text}"
    );
}

#[test]
fn a_pure_mock_fill_says_simulated_on_the_ticket_and_in_json() {
    let run = |format: &str| {
        lp_rfq_in(empty_dir())
            .args(["quote", "buy", "1", "BTCUSDT", "--scenario", "last-look"])
            .args(["--speed", "10", "--duration", "5", "--accept-after", "1s"])
            .args([format, "--no-blotter"])
            .output()
            .unwrap()
    };
    let plain = run("--plain");
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.contains("  | TRADE TICKET (SIMULATED): FILLED                       |"),
        "{text}"
    );
    assert!(
        text.contains("  | LP:              Solid (SIMULATED)                     |"),
        "{text}"
    );
    let json = run("--json");
    let events = lines(&json);
    assert_eq!(events[0]["simulated"], true);
    assert!(events[0].get("simulated_lps").is_none());
    let filled = events.iter().find(|e| e["event"] == "filled").unwrap();
    assert_eq!(filled["lp"], "Solid");
    assert_eq!(filled["simulated"], true);
    let ended = events.last().unwrap();
    assert_eq!(ended["event"], "ended");
    assert_eq!(ended["simulated"], true);
}
