//! Corroboration from the binary, against local fake venues: the desk's
//! own reference kept across restarts in the blotter, its age limit; a
//! reference source of the venues file (a fake Binance ticker); the band
//! warning at start.

use std::process::Output;

use rust_decimal_macros::dec;
use serde_json::Value;

use crate::fake_venues::{
    FakeB2c2, FakeBinance, FakeTicker, Reply, B2C2_TOKEN, BINANCE_KEY, BINANCE_SECRET,
};
use crate::support::lp_rfq_in;

/// A venues file with B2C2 at `b2c2` and, if given, Binance at `binance`.
fn venues_file(dir: &std::path::Path, name: &str, b2c2: &str, binance: Option<&str>) -> String {
    let mut text = format!(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"{b2c2}\"\ntoken_env = \"E2E_B2C2_TOKEN\"\n"
    );
    if let Some(binance) = binance {
        text.push_str(&format!(
            "\n[[lp]]\nname = \"Binance\"\nkind = \"binance-convert\"\nurl = \"{binance}\"\n\
             key_env = \"E2E_BINANCE_KEY\"\nsecret_env = \"E2E_BINANCE_SECRET\"\n"
        ));
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// `quote buy 1 BTCUSDT --json` for 1 s against `file`, recording in
/// `dir`'s blotter.
async fn quote(dir: &std::path::Path, file: String) -> Output {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        lp_rfq_in(&dir)
            .env("E2E_B2C2_TOKEN", B2C2_TOKEN)
            .env("E2E_BINANCE_KEY", BINANCE_KEY)
            .env("E2E_BINANCE_SECRET", BINANCE_SECRET)
            .args(["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "1"])
            .args(["--lps", &file])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The event names of the first LP answer's moment: what the desk did
/// with B2C2's first quote.
fn names(output: &Output) -> Vec<String> {
    assert!(
        output.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|event| event["event"].as_str().unwrap().to_string())
        .take(3)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_desk_offers_a_lone_lp_near_its_recent_lock_until_the_lock_is_too_old() {
    let b2c2 = FakeB2c2::start().await;
    let binance = FakeBinance::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    binance.set_prices(dec!(99970.00), dec!(100020.00));
    let dir = tempfile::tempdir().unwrap();
    let both = venues_file(dir.path(), "both.toml", &b2c2.url, Some(&binance.url));
    let alone = venues_file(dir.path(), "alone.toml", &b2c2.url, None);

    // A fresh blotter, B2C2 alone: nothing vouches for its first price.
    let empty = tempfile::tempdir().unwrap();
    let lone = quote(empty.path(), alone.clone()).await;
    assert_eq!(names(&lone), ["started", "lp_quote", "unverified"]);

    // Two LPs that agree: a corroborated price is locked and recorded.
    let first = quote(dir.path(), both).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let printed = String::from_utf8_lossy(&first.stdout);
    assert!(printed.contains("\"event\":\"locked\""), "{printed}");

    // A new process, B2C2 alone, within REFERENCE_MAX_AGE_SECS of that
    // lock and within MAX_DEVIATION_BPS of its price: offered at once.
    let second = quote(dir.path(), alone.clone()).await;
    assert_eq!(names(&second), ["started", "lp_quote", "client_quote"]);

    // The same locks made ten minutes old: beyond the 300 s default.
    let blotter = rusqlite::Connection::open(dir.path().join("blotter.db")).unwrap();
    blotter
        .execute("UPDATE lock_events SET at_ms = at_ms - 600000", [])
        .unwrap();
    drop(blotter);
    let third = quote(dir.path(), alone).await;
    assert_eq!(names(&third), ["started", "lp_quote", "unverified"]);
}

/// A venues file with B2C2 at `b2c2` (its own `extra` lines added) and
/// a `[[reference]]` at `ticker` for BTCUSDT with `timings`.
fn with_reference(
    dir: &std::path::Path,
    b2c2: &str,
    extra: &str,
    ticker: &str,
    timings: &str,
) -> String {
    let text = format!(
        "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"{b2c2}\"\ntoken_env = \"E2E_B2C2_TOKEN\"\n{extra}\n\
         [[reference]]\nkind = \"binance-ticker\"\nurl = \"{ticker}\"\npairs = [\"BTCUSDT\"]\n{timings}\n"
    );
    let path = dir.join("reference.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The first `count` event names of a `--json` run.
fn first_names(output: &Output, count: usize) -> Vec<String> {
    event_names(output).into_iter().take(count).collect()
}

fn event_names(output: &Output) -> Vec<String> {
    assert!(
        output.status.code().is_some(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|event| event["event"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticker_near_a_lone_lp_corroborates_it_at_once_and_lps_lists_it() {
    let b2c2 = FakeB2c2::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    let ticker = FakeTicker::start(dec!(100001.50)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = with_reference(dir.path(), &b2c2.url, "", &ticker.url, "");

    let output = quote(dir.path(), file.clone()).await;
    assert_eq!(
        first_names(&output, 3),
        ["started", "lp_quote", "client_quote"]
    );
    assert!(!event_names(&output).contains(&"released".to_string()));
    assert!(ticker.asked() >= 1);

    let listed = lp_rfq_in(dir.path())
        .env("E2E_B2C2_TOKEN", B2C2_TOKEN)
        .args(["lps", "--lps", &file])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listed.stdout);
    let tail: Vec<&str> = text.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            format!(
                "  binance-ticker   {}  BTCUSDT · every 2000 ms, vouches 10000 ms, timeout 2000 ms",
                ticker.url
            )
            .as_str(),
            "1 reference source (a price within MAX_DEVIATION_BPS of theirs is corroborated):",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticker_far_from_a_lone_lp_leaves_it_unverified_and_says_so_once() {
    let b2c2 = FakeB2c2::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    // 2 % away: beyond MAX_DEVIATION_BPS (200 bps is the limit, this is 2000).
    let ticker = FakeTicker::start(dec!(90000.00)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = with_reference(dir.path(), &b2c2.url, "", &ticker.url, "");

    let output = quote(dir.path(), file).await;
    let names = event_names(&output);
    assert_eq!(names[..3], ["started", "lp_quote", "unverified"]);
    // B2C2 quotes the same price at every poll: unverified is said once.
    assert!(
        names.iter().filter(|name| *name == "lp_quote").count() >= 2,
        "{names:?}"
    );
    assert_eq!(names.iter().filter(|name| *name == "unverified").count(), 1);
    assert!(!names.contains(&"client_quote".to_string()));
    let blotter = rusqlite::Connection::open(dir.path().join("blotter.db")).unwrap();
    let rows: i64 = blotter
        .query_row(
            "SELECT COUNT(*) FROM lock_events WHERE event = 'unverified'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticker_that_stops_answering_stops_vouching_past_its_max_age() {
    let b2c2 = FakeB2c2::start().await;
    b2c2.set_prices(dec!(99980.00), dec!(100010.00));
    // B2C2's first answer never comes (it times out at 400 ms); by its
    // second, 500 ms in, the ticker's only price is older than 300 ms.
    b2c2.answer_next_quote(Reply::Hang);
    let ticker = FakeTicker::start(dec!(100001.50)).await;
    ticker.answer_only(1);
    let dir = tempfile::tempdir().unwrap();
    let file = with_reference(
        dir.path(),
        &b2c2.url,
        "timeout_ms = 400",
        &ticker.url,
        "refresh_ms = 100\nmax_age_ms = 300\ntimeout_ms = 50",
    );

    let output = quote(dir.path(), file).await;
    assert_eq!(
        first_names(&output, 4),
        ["started", "lp_error", "lp_quote", "unverified"]
    );
    assert!(!event_names(&output).contains(&"client_quote".to_string()));
    assert!(ticker.asked() >= 2, "the ticker is asked again");
}

#[test]
fn a_band_for_one_pair_and_none_for_its_dollar_twin_is_warned_about_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bands.toml");
    std::fs::write(
        &path,
        "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\npairs = [\"BTCUSDT\", \"BTCUSD\", \"ETHUSDT\"]\n\n\
         [bands]\nBTCUSDT = { min = \"50000\", max = \"200000\" }\n",
    )
    .unwrap();
    let file = path.display().to_string();
    let output = lp_rfq_in(dir.path())
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--duration",
            "0.2",
        ])
        .args(["--lps", &file, "--no-blotter"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("lp-rfq: warning:"))
        .collect();
    assert_eq!(
        warnings,
        [format!("lp-rfq: warning: BTCUSDT has a price band but BTCUSD has none; add BTCUSD to [bands] in '{file}' so that an absurd price is refused for it too")]
    );
}
