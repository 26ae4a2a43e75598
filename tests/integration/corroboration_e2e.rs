//! Corroboration from the binary, against local fake venues: the desk's
//! own reference kept across restarts in the blotter, its age limit.

use std::process::Output;

use rust_decimal_macros::dec;
use serde_json::Value;

use crate::fake_venues::{FakeB2c2, FakeBinance, B2C2_TOKEN, BINANCE_KEY, BINANCE_SECRET};
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
