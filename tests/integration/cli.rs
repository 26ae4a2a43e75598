//! The built binary, run as a user would.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::support::{empty_dir, lp_rfq_in};

/// The binary from an empty directory, recording nothing: the blotter has
/// its own tests, and these must leave no files behind.
fn lp_rfq() -> Command {
    let mut command = lp_rfq_in(empty_dir());
    command.env("NO_BLOTTER", "true");
    command
}

const FAST: [&str; 6] = [
    "--duration",
    "1",
    "--mock-min-delay",
    "0.01",
    "--mock-max-delay",
    "0.05",
];

/// The run succeeded; if not, its stderr says why.
fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line}: {e}")))
        .collect()
}

#[test]
fn json_output_is_one_event_per_line_from_started_to_ended() {
    let output = lp_rfq()
        .args(["quote", "buy", "1.5", "BTCUSDT", "--json", "--seed", "7"])
        .args(FAST)
        .output()
        .unwrap();
    assert_ok(&output);
    let events = json_lines(&output);
    assert_eq!(events.first().unwrap()["event"], "started");
    assert_eq!(events.last().unwrap()["event"], "ended");
    let started = &events[0];
    assert_eq!(started["side"], "buy");
    assert_eq!(started["amount"], "1.5");
    assert_eq!(started["pair"], "BTCUSDT");
    assert_eq!(started["lps"], serde_json::json!(["LP1", "LP2", "LP3"]));
    assert_eq!(started["markup_bps"], "5");
    assert_eq!(started["threshold_bps"], "1");
    let quote = events
        .iter()
        .find(|e| e["event"] == "client_quote")
        .expect("a client quote");
    for field in [
        "lp_price",
        "client_price",
        "client_pays",
        "client_receives",
        "amount",
    ] {
        assert!(quote[field].is_string(), "{field} must be a decimal string");
    }
    assert_eq!(quote["reason"], "first");
    assert!(quote["quote_id"].as_str().unwrap().starts_with('Q'));
    let ended = events.last().unwrap();
    assert_eq!(ended["reason"], "duration");
    assert_eq!(ended["t_ms"], 1000);
    let mut last_t = 0;
    for event in &events {
        let t = event["t_ms"].as_u64().unwrap();
        assert!(t >= last_t, "t_ms must never go back");
        last_t = t;
    }
}

#[test]
fn one_seed_replays_the_same_prices_from_the_binary() {
    let run = |args: &[&str]| {
        let output = lp_rfq().args(args).output().unwrap();
        assert_ok(&output);
        json_lines(&output)
    };
    // Replays of whole scenarios (the same lock changes and client quotes
    // at 1x and 20x) are checked under paused time in scenarios.rs, where
    // no machine load can move an event. From the binary, on a real clock,
    // what a seed fixes whatever the timing is each LP's price path.
    // The mock LPs: each LP quotes the same price path under one seed.
    let mock = [
        "quote",
        "sell",
        "2",
        "ETH/USDT",
        "--json",
        "--seed",
        "42",
        "--duration",
        "1",
        "--mock-min-delay",
        "0.01",
        "--mock-max-delay",
        "0.05",
        "--poll-interval-ms",
        "100",
    ];
    let paths = |events: Vec<Value>| {
        let mut by_lp = std::collections::BTreeMap::<String, Vec<String>>::new();
        for e in events.iter().filter(|e| e["event"] == "lp_quote") {
            by_lp
                .entry(e["lp"].to_string())
                .or_default()
                .push(e["price"].to_string());
        }
        by_lp.values_mut().for_each(|prices| prices.truncate(3));
        by_lp
    };
    let first = paths(run(&mock));
    assert_eq!(first.len(), 3, "{first:?}");
    let second = paths(run(&mock));
    // A loaded machine may fit fewer polls into the second; every price
    // both runs saw is the same.
    for (lp, prices) in &first {
        let again = &second[lp];
        let common = prices.len().min(again.len());
        assert!(common >= 1, "{first:?} {second:?}");
        assert_eq!(prices[..common], again[..common], "{lp}");
    }
}

#[test]
fn a_pair_no_configured_lp_quotes_is_refused_at_entry() {
    // The built-in mocks quote the known pairs only: DOGEUSDT is not asked.
    let output = lp_rfq()
        .args([
            "quote",
            "buy",
            "100",
            "DOGEUSDT",
            "--json",
            "--confirm-notional",
        ])
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: no configured LP quotes DOGE/USDT (quotable: BTCEUR, BTCUSD, BTCUSDC, BTCUSDT, ETHBTC, ETHEUR, ETHUSD, ETHUSDC, ETHUSDT, SOLUSDT, USDTEUR, XRPUSDT)\n"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn dust_is_refused_by_name_and_nothing_is_asked() {
    // Issue #25: a 0.00000001 BTC sell once filled, the client receiving
    // 0.00 USDT.
    let refusal = |extra: &[&str]| {
        let output = lp_rfq()
            .args([
                "quote",
                "sell",
                "0.00000001",
                "BTCUSDT",
                "--accept-after",
                "0.5",
            ])
            .args(FAST)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(output.stdout.is_empty(), "nothing streamed");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert_eq!(
        refusal(&[]),
        "lp-rfq: amount 0.00000001 BTC is below the minimum for BTCUSDT: notional 0.001 USDT is under MIN_NOTIONAL 10 USDT\n"
    );
    // Without a configured minimum the lot-based one still holds.
    assert_eq!(
        refusal(&["--min-notional", "0"]),
        "lp-rfq: amount 0.00000001 BTC is below the minimum for BTCUSDT: notional 0.001 USDT is under one tick (0.01 USDT): the client's USDT leg would round to zero\n"
    );
    assert_eq!(
        refusal(&["--min-notional-pairs", "btc/usdt=50"]),
        "lp-rfq: amount 0.00000001 BTC is below the minimum for BTCUSDT: notional 0.001 USDT is under the BTCUSDT minimum 50 USDT (MIN_NOTIONAL_PAIRS)\n"
    );
    // At the minimum, the request is asked.
    let output = lp_rfq()
        .args(["quote", "sell", "0.0001", "BTCUSDT", "--json"])
        .args(FAST)
        .output()
        .unwrap();
    assert_ok(&output);
}

#[test]
fn a_pair_every_lp_declines_ends_with_a_clear_message() {
    // A venues file says its LP quotes DOGEUSDT; the (simulated) LP then
    // declines it, as a real one may.
    let dir = tempfile::tempdir().unwrap();
    let venues = dir.path().join("lps.toml");
    std::fs::write(
        &venues,
        "[[lp]]\nname = \"Sim\"\nkind = \"mock\"\npairs = [\"DOGEUSDT\", \"BTCUSDT\"]\n",
    )
    .unwrap();
    let output = lp_rfq()
        .args([
            "quote",
            "buy",
            "100",
            "DOGEUSDT",
            "--json",
            "--confirm-notional",
        ])
        .arg("--lps")
        .arg(&venues)
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: no LP quotes DOGEUSDT (1 declined)\n"
    );
    let events = json_lines(&output);
    assert_eq!(events.last().unwrap()["reason"], "no_quotes");
    // A pair outside its list is refused at entry.
    let output = lp_rfq()
        .args(["quote", "buy", "1", "ETHUSDT", "--lps"])
        .arg(&venues)
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: no configured LP quotes ETH/USDT (quotable: BTCUSDT, DOGEUSDT)\n"
    );
}

#[test]
fn a_notional_above_max_notional_is_refused_headless_unless_confirmed() {
    let output = lp_rfq()
        .args(["quote", "buy", "20", "BTCUSDT"])
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: notional 2,000,000.00 USDT is above MAX_NOTIONAL 1,000,000: add --confirm-notional to ask for quotes\n"
    );
    assert!(output.stdout.is_empty());
    let output = lp_rfq()
        .args(["quote", "buy", "20", "BTCUSDT", "--max-notional", "5000000"])
        .args(FAST)
        .output()
        .unwrap();
    assert_ok(&output);
    let output = lp_rfq()
        .args(["quote", "buy", "20", "BTCUSDT", "--confirm-notional"])
        .args(FAST)
        .output()
        .unwrap();
    assert_ok(&output);
}

#[test]
fn amounts_are_refused_with_what_is_wrong_never_rounded() {
    for (amount, message) in [
        (
            "10000000000000",
            "lp-rfq: amount '10000000000000' is too large: a desk trades at most 1000000000000\n",
        ),
        (
            "1e3",
            "lp-rfq: amount '1e3' must be written out in full, without an exponent\n",
        ),
        (
            "1.5e-1",
            "lp-rfq: amount '1.5e-1' must be written out in full, without an exponent\n",
        ),
        (
            "1.99999999999999999999999999999",
            "lp-rfq: amount '1.99999999999999999999999999999' has more than 8 decimals, the most BTC/USDT allows\n",
        ),
        (
            "0.000000001",
            "lp-rfq: amount '0.000000001' is below the lot size 0.00000001 of BTC/USDT\n",
        ),
        ("1_000", "lp-rfq: amount '1_000' is not a number\n"),
    ] {
        let output = lp_rfq()
            .args(["quote", "buy", amount, "BTCUSDT"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{amount}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), message);
    }
}

#[test]
fn a_setting_in_exponent_notation_is_refused_never_read() {
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT", "--markup-bps", "1e2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid MARKUP_BPS '1e2' (--markup-bps): must be written out in full, without an exponent\n"
    );
}

#[test]
fn a_pair_with_an_invisible_character_says_so() {
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTC\u{200B}USDT"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: pair 'BTC<U+200B>USDT' contains an invisible character U+200B: type it again without it\n"
    );
}

#[test]
fn settings_that_cannot_work_together_stop_the_start_naming_both() {
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT", "--mock-max-delay", "2"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid MOCK_MAX_DELAY '2' (--mock-max-delay): must not be longer than LP_TIMEOUT_MS '1000', or the slowest mock answers would all time out\n"
    );
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT"])
        .env("VALIDITY_BUFFER_SECONDS", "9.5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid MOCK_VALIDITY_SECONDS '10' (--mock-validity-secs): must be at least 1 second longer than VALIDITY_BUFFER_SECONDS '9.5', or the client would have under a second to accept\n"
    );
}

#[test]
fn a_bad_setting_stops_the_start_with_its_name_and_value() {
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT", "--markup-bps", "-1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid MARKUP_BPS '-1' (--markup-bps): must be a number of bps from 0 to 500\n"
    );
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT"])
        .env("POLL_INTERVAL_MS", "0")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid POLL_INTERVAL_MS '0' (--poll-interval-ms): must be a whole number of milliseconds from 1 to 60000\n"
    );
}

#[test]
fn a_bad_request_argument_is_explained() {
    let output = lp_rfq()
        .args(["quote", "hold", "1", "BTCUSDT"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: side 'hold' is not one of b, buy, s, sell\n"
    );
}

fn started_markup(command: &mut Command) -> String {
    let output = command
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--duration",
            "0.05",
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    json_lines(&output)[0]["markup_bps"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn flags_beat_the_environment_which_beats_dot_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "MARKUP_BPS=8\n").unwrap();
    assert_eq!(started_markup(lp_rfq().current_dir(dir.path())), "8");
    assert_eq!(
        started_markup(lp_rfq().current_dir(dir.path()).env("MARKUP_BPS", "9")),
        "9"
    );
    assert_eq!(
        started_markup(
            lp_rfq()
                .current_dir(dir.path())
                .env("MARKUP_BPS", "9")
                .args(["--markup-bps", "7.5"])
        ),
        "7.5"
    );
}

#[test]
fn the_prompt_asks_again_streams_and_quits() {
    let mut child = lp_rfq()
        .args(["--plain"])
        .args(FAST)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"maybe\nb\n1.5\nBTCUSDT\nq\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(shown.contains("side 'maybe' is not one of b, buy, s, sell, 2w, two-way; try again"));
    assert!(shown.contains("Client BUYS      1.50000000 BTC"));
    assert!(shown.contains("stream ended (duration)"));
    assert!(shown
        .trim_end()
        .ends_with("Side (b/buy, s/sell or 2w/two-way):"));
}

#[test]
fn scenarios_are_listed_and_replay_from_the_command_line() {
    let output = lp_rfq().arg("scenarios").output().unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    for name in [
        "competing",
        "non-competition",
        "hail-mary",
        "near-miss",
        "flaky",
        "expiry",
        "last-look",
    ] {
        assert!(
            listing.contains(&format!("  {name} ")),
            "{name} missing from\n{listing}"
        );
    }
    let output = lp_rfq()
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--scenario",
            "hail-mary",
            "--speed",
            "20",
        ])
        .args(["--duration", "5", "--json", "--seed", "3"])
        .output()
        .unwrap();
    assert_ok(&output);
    let events = json_lines(&output);
    let last_lock = events
        .iter()
        .rev()
        .find(|e| e["event"] == "locked")
        .unwrap();
    assert_eq!(last_lock["lp"], "HailMary");
    let t = last_lock["t_ms"].as_u64().unwrap();
    assert!(
        (4_000..5_000).contains(&t),
        "the hail mary lands in the last second, not at {t}"
    );
    assert_eq!(events.last().unwrap()["t_ms"], 5000);
}

#[test]
fn the_bench_prints_one_json_line_with_every_figure() {
    let output = lp_rfq()
        .args(["bench", "--sessions", "20", "--lps", "3", "--duration", "1"])
        .output()
        .unwrap();
    assert_ok(&output);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    let report = &lines[0];
    for field in [
        "sessions",
        "lps",
        "starts",
        "duration_s",
        "responses",
        "per_sec",
        "locks",
        "client_quotes",
        "added_latency_p50_us",
        "added_latency_p99_us",
        "peak_rss_mb",
        "blotter_rows",
    ] {
        assert!(report.get(field).is_some(), "{field} missing from {report}");
    }
    assert_eq!(report["sessions"], 20);
    assert_eq!(report["lps"], 3);
    // One RFQ per stream unless --rfq-secs.
    assert_eq!(report["rfqs"], 20);
    // No poll interval to spread the starts over.
    assert_eq!(report["starts"], "together");
    assert!(report["responses"].as_u64().unwrap() > 1000);
    // LPs that answer at once never time out: every answer is valid.
    assert_eq!(report["timeouts"], 0);
    assert_eq!(report["lp_errors"], 0);
    assert_eq!(report["valid_answers"], report["responses"]);
    // The same figures for a person, on stderr.
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("bench: 20 streams x 3 LPs (started together),")
            && text.contains("not counted: 0 timeouts, 0 other LP errors"),
        "{text}"
    );
    // Every session locks at least once, and prices drift so locks move.
    assert!(report["locks"].as_u64().unwrap() > 20);
}

#[test]
fn bench_throughput_counts_only_valid_answers_not_timeouts() {
    // Every LP answers after 500 ms but may only take 10: nothing is
    // valid. (The gap is wide so that a machine too loaded to fire the
    // 10 ms timer on time still cannot see the answer first.)
    let output = lp_rfq()
        .args(["bench", "--sessions", "5", "--lps", "2", "--duration", "1"])
        .args([
            "--lp-delay-ms",
            "500",
            "--lp-timeout-ms",
            "10",
            "--no-blotter",
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    let report = &json_lines(&output)[0];
    assert_eq!(report["valid_answers"], 0, "{report}");
    assert_eq!(report["per_sec"], 0, "{report}");
    assert_eq!(report["lp_errors"], 0, "{report}");
    let timeouts = report["timeouts"].as_u64().unwrap();
    assert!(timeouts >= 5 * 2 * 10, "{report}");
    assert_eq!(report["responses"].as_u64().unwrap(), timeouts, "{report}");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains(&format!(
            "0 valid LP answers (0/s); not counted: {timeouts} timeouts"
        )),
        "{text}"
    );
}

#[test]
fn bench_reports_answer_to_action_and_first_quote_latency_percentiles() {
    let output = lp_rfq()
        .args(["bench", "--sessions", "20", "--lps", "3", "--duration", "1"])
        .args(["--poll-ms", "100", "--lp-delay-ms", "5", "--no-blotter"])
        .output()
        .unwrap();
    assert_ok(&output);
    let report = &json_lines(&output)[0];
    // Spread over the 100 ms interval unless --lockstep.
    assert_eq!(report["starts"], "spread");
    for (p50, p99) in [
        ("ready_to_acted_p50_us", "ready_to_acted_p99_us"),
        (
            "first_quote_over_fastest_p50_us",
            "first_quote_over_fastest_p99_us",
        ),
        ("lp_answer_late_p50_us", "lp_answer_late_p99_us"),
    ] {
        let (p50, p99) = (report[p50].as_f64().unwrap(), report[p99].as_f64().unwrap());
        assert!(p50 > 0.0 && p50 <= p99, "{report}");
    }
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("answer ready -> session acted: p50 "),
        "{text}"
    );
    assert!(
        text.contains("first client quote after the fastest LP's answer: p50 "),
        "{text}"
    );
    // --lockstep starts them together: every poll falls on one tick.
    let output = lp_rfq()
        .args(["bench", "--sessions", "5", "--lps", "2", "--duration", "1"])
        .args(["--poll-ms", "100", "--lp-delay-ms", "5", "--no-blotter"])
        .arg("--lockstep")
        .output()
        .unwrap();
    assert_ok(&output);
    assert_eq!(json_lines(&output)[0]["starts"], "together");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("bench: 5 streams x 2 LPs (started together),"),
        "{text}"
    );
}

#[test]
fn bench_through_the_desk_server_times_each_answer_to_the_operators_socket() {
    // Six streams on a desk server in the bench's process, started over
    // two operator connections, recorded into a scratch blotter.
    let output = lp_rfq()
        .args(["bench", "--through-server", "--connections", "2"])
        .args(["--sessions", "6", "--lps", "3", "--duration", "1"])
        .args(["--poll-ms", "100", "--lp-delay-ms", "5"])
        .output()
        .unwrap();
    assert_ok(&output);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    let report = &lines[0];
    assert_eq!(report["through_server"], true, "{report}");
    assert_eq!(report["sessions"], 6, "{report}");
    assert_eq!(report["connections"], 2, "{report}");
    assert_eq!(report["lps"], 3, "{report}");
    assert_eq!(report["starts"], "spread", "{report}");
    // Every stream started, none refused, no connection dropped, and
    // every answer read had its ready moment.
    assert_eq!(report["rfqs"], 6, "{report}");
    assert_eq!(report["start_refused"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["connections_closed"],
        serde_json::json!([]),
        "{report}"
    );
    assert_eq!(report["unmatched_answers"], 0, "{report}");
    // Each stream's first poll asks all three LPs, then the two not
    // locked every 100 ms: ten or eleven polls in its second.
    let answers = report["answers_read"].as_u64().unwrap();
    assert!(
        (6 * (3 + 8 * 2)..=6 * 3 * 11).contains(&answers),
        "{report}"
    );
    // Three LPs corroborate each other: every stream quoted its client.
    assert!(
        report["client_quotes_read"].as_u64().unwrap() >= 6,
        "{report}"
    );
    for (p50, p99) in [
        ("ready_to_socket_p50_us", "ready_to_socket_p99_us"),
        ("ready_to_operator_p50_us", "ready_to_operator_p99_us"),
        ("lp_answer_late_p50_us", "lp_answer_late_p99_us"),
        ("event_serialize_p50_us", "event_serialize_p99_us"),
        ("operator_parse_p50_us", "operator_parse_p99_us"),
    ] {
        let (p50, p99) = (report[p50].as_f64().unwrap(), report[p99].as_f64().unwrap());
        assert!(p50 > 0.0 && p50 <= p99, "{report}");
    }
    for to in ["socket", "operator"] {
        let max = report[format!("ready_to_{to}_max_us")].as_f64().unwrap();
        assert!(
            report[format!("ready_to_{to}_p99_us")].as_f64().unwrap() <= max,
            "{report}"
        );
    }
    // An event arrives at the operator's socket no later than its
    // thread reads it.
    assert!(
        report["ready_to_socket_max_us"].as_f64().unwrap()
            <= report["ready_to_operator_max_us"].as_f64().unwrap(),
        "{report}"
    );
    // Memory: the desk and its connections before any stream, then with
    // every stream running; the difference per stream, not negative.
    let idle = report["idle_rss_mb"].as_f64().unwrap();
    let running = report["running_rss_mb"].as_f64().unwrap();
    assert!(idle > 1.0 && running >= idle, "{report}");
    assert!(
        report["rss_per_stream_kb"].as_f64().unwrap() >= 0.0,
        "{report}"
    );
    assert!(
        report["peak_rss_mb"].as_f64().unwrap() >= running,
        "{report}"
    );
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("bench through the desk server: 6 streams x 3 LPs over 2 operator connections (started spread), ")
            && text.contains("answer ready -> event arrived at the operator's socket: p50 ")
            && text.contains("answer ready -> event read by the operator's thread: p50 ")
            && text.contains("KB per attached stream"),
        "{text}"
    );
}

#[test]
fn bench_through_the_client_api_quotes_every_clients_rfq_and_times_the_first_quote() {
    // Four client RFQs over two API clients on the client WebSocket API
    // of a desk in the bench's process, recorded into a scratch blotter.
    let output = lp_rfq()
        .args(["bench", "--client-api", "--connections", "2"])
        .args(["--sessions", "4", "--lps", "3", "--duration", "1"])
        .args(["--poll-ms", "100", "--lp-delay-ms", "5"])
        .output()
        .unwrap();
    assert_ok(&output);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    let report = &lines[0];
    for (field, expected) in [
        ("client_api", serde_json::json!(true)),
        ("sessions", serde_json::json!(4)),
        ("clients", serde_json::json!(2)),
        ("lps", serde_json::json!(3)),
        ("starts", serde_json::json!("spread")),
        // Every request was sent and quoted, none refused, and each
        // RFQ's end reached its client: its last quote cancelled as
        // `ended`, once.
        ("rfqs_sent", serde_json::json!(4)),
        ("rfqs_quoted", serde_json::json!(4)),
        ("rfqs_rejected", serde_json::json!(0)),
        ("rfqs_unfinished", serde_json::json!(0)),
        ("cancels_read", serde_json::json!(4)),
        ("unmatched_quotes", serde_json::json!(0)),
        ("rejects", serde_json::json!([])),
        ("errors", serde_json::json!([])),
        ("connections_closed", serde_json::json!([])),
        // The burst: no --rfq-secs, so no steady RFQs to tell apart.
        ("rfq_secs", serde_json::Value::Null),
        ("steady_rfqs", serde_json::Value::Null),
        (
            "ramp_first_quote_over_fastest_p50_us",
            serde_json::Value::Null,
        ),
        (
            "ramp_first_quote_over_fastest_p99_us",
            serde_json::Value::Null,
        ),
    ] {
        assert_eq!(report[field], expected, "{field}: {report}");
    }
    // At least the first quote of each RFQ, counted per second of the run.
    let quotes = report["quotes_read"].as_u64().unwrap();
    assert!(quotes >= 4, "{report}");
    assert!(report["quotes_per_sec"].as_u64().unwrap() > 0, "{report}");
    for (p50, p99) in [
        (
            "first_quote_over_fastest_p50_us",
            "first_quote_over_fastest_p99_us",
        ),
        (
            "first_quote_read_over_fastest_p50_us",
            "first_quote_read_over_fastest_p99_us",
        ),
        ("request_to_lp_asked_p50_us", "request_to_lp_asked_p99_us"),
        (
            "fastest_answer_to_quote_read_p50_us",
            "fastest_answer_to_quote_read_p99_us",
        ),
        ("lp_answer_late_p50_us", "lp_answer_late_p99_us"),
        ("quote_serialize_p50_us", "quote_serialize_p99_us"),
        ("client_parse_p50_us", "client_parse_p99_us"),
    ] {
        let (p50, p99) = (report[p50].as_f64().unwrap(), report[p99].as_f64().unwrap());
        assert!(p50 > 0.0 && p50 <= p99, "{report}");
    }
    let max = report["first_quote_over_fastest_max_us"].as_f64().unwrap();
    assert!(
        report["first_quote_over_fastest_p99_us"].as_f64().unwrap() <= max,
        "{report}"
    );
    // A quote arrives at the client's socket no later than its thread
    // reads it.
    assert!(
        report["first_quote_over_fastest_p50_us"].as_f64().unwrap()
            <= report["first_quote_read_over_fastest_p50_us"]
                .as_f64()
                .unwrap(),
        "{report}"
    );
    let idle = report["idle_rss_mb"].as_f64().unwrap();
    let running = report["running_rss_mb"].as_f64().unwrap();
    assert!(idle > 1.0 && running >= idle, "{report}");
    assert!(
        report["rss_per_rfq_kb"].as_f64().unwrap() >= 0.0,
        "{report}"
    );
    assert!(
        report["peak_rss_mb"].as_f64().unwrap() >= running,
        "{report}"
    );
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("bench through the client API: 4 client RFQs x 3 LPs over 2 API clients (started spread), ")
            && text.contains(": 4 quoted, 0 rejected, 0 unfinished; ")
            && text.contains("request -> first quote arrived at the client's socket, less the fastest LP's answer time: p50 ")
            && text.contains("request -> first quote read by the client's thread, less the same: p50 ")
            && text.contains("KB per live client RFQ"),
        "{text}"
    );
}

#[test]
fn bench_through_the_client_api_with_rfq_secs_keeps_c_live_and_times_the_steady_rfqs_apart() {
    // 20 live client RFQs of 1 s each, one sent every 50 ms for 3 s: the
    // first 20 are the ramp, the 40 after start among 20 live ones.
    let output = lp_rfq()
        .args(["bench", "--client-api", "--connections", "2"])
        .args(["--sessions", "20", "--lps", "3", "--duration", "3"])
        .args(["--poll-ms", "100", "--lp-delay-ms", "5", "--rfq-secs", "1"])
        .output()
        .unwrap();
    assert_ok(&output);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    let report = &lines[0];
    // 60 requests 50 ms apart: the last goes 2.95 s after the first,
    // never sooner (later only if the sender fell behind).
    let span = report["requests_span_s"].as_f64().unwrap();
    assert!((2.949..4.0).contains(&span), "{report}");
    for (field, expected) in [
        ("sessions", serde_json::json!(20)),
        ("starts", serde_json::json!("steady")),
        ("rfq_secs", serde_json::json!(1)),
        ("rfqs_sent", serde_json::json!(60)),
        ("steady_rfqs", serde_json::json!(40)),
        // Every RFQ counts here, the ramp's too.
        ("rfqs_quoted", serde_json::json!(60)),
        ("rfqs_rejected", serde_json::json!(0)),
        ("rfqs_unfinished", serde_json::json!(0)),
        ("cancels_read", serde_json::json!(60)),
        ("unmatched_quotes", serde_json::json!(0)),
        ("rejects", serde_json::json!([])),
        ("errors", serde_json::json!([])),
        ("connections_closed", serde_json::json!([])),
    ] {
        assert_eq!(report[field], expected, "{field}: {report}");
    }
    for (p50, p99) in [
        (
            "first_quote_over_fastest_p50_us",
            "first_quote_over_fastest_p99_us",
        ),
        (
            "ramp_first_quote_over_fastest_p50_us",
            "ramp_first_quote_over_fastest_p99_us",
        ),
        (
            "first_quote_read_over_fastest_p50_us",
            "first_quote_read_over_fastest_p99_us",
        ),
        ("request_to_lp_asked_p50_us", "request_to_lp_asked_p99_us"),
        (
            "fastest_answer_to_quote_read_p50_us",
            "fastest_answer_to_quote_read_p99_us",
        ),
    ] {
        let (p50, p99) = (report[p50].as_f64().unwrap(), report[p99].as_f64().unwrap());
        assert!(p50 > 0.0 && p50 <= p99, "{report}");
    }
    let idle = report["idle_rss_mb"].as_f64().unwrap();
    let running = report["running_rss_mb"].as_f64().unwrap();
    assert!(idle > 1.0 && running >= idle, "{report}");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("bench through the client API: 20 client RFQs x 3 LPs over 2 API clients (started steady), ")
            && text.contains(": 60 quoted, 0 rejected, 0 unfinished; ")
            && text.contains("  steady: each RFQ streamed 1 s, 60 sent; the 40 sent with 20 live are below; the ramp's 20 (sent before): ")
            && text.contains("KB per live client RFQ"),
        "{text}"
    );
}

#[test]
fn bench_rfq_secs_starts_each_slots_next_rfq_as_the_last_one_ends() {
    let dir = tempfile::tempdir().unwrap();
    let blotter = dir.path().join("bench.db");
    let output = lp_rfq()
        .args(["bench", "--sessions", "3", "--lps", "2", "--duration", "2"])
        .args(["--poll-ms", "100", "--lp-delay-ms", "5", "--rfq-secs", "1"])
        .arg("--blotter")
        .arg(&blotter)
        .output()
        .unwrap();
    assert_ok(&output);
    let report = &json_lines(&output)[0];
    // Three slots, two one-second RFQs each.
    assert_eq!(report["rfqs"], 6, "{report}");
    assert_eq!(report["valid_answers"], report["blotter_rows"], "{report}");
    // Every RFQ asked both LPs in its first poll and quoted the client.
    assert!(
        report["valid_answers"].as_u64().unwrap() >= 6 * 2,
        "{report}"
    );
    assert!(report["client_quotes"].as_u64().unwrap() >= 6, "{report}");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("bench: 3 streams x 2 LPs (started spread), 6 RFQs,"),
        "{text}"
    );
    // Each slot's later RFQ is named after its first; the first stops
    // 5 ms before the next is due (which then starts at its own moment),
    // the last streams to the end of the run; every one ended.
    let conn = rusqlite::Connection::open(&blotter).unwrap();
    let rfqs: Vec<(String, i64, Option<String>)> = conn
        .prepare("SELECT rfq_id, duration_ms, end_reason FROM rfqs ORDER BY rfq_id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let prefix = rfqs[0].0.strip_suffix('0').unwrap();
    let rfqs: Vec<(&str, i64, bool)> = rfqs
        .iter()
        .map(|(id, ms, end)| (id.strip_prefix(prefix).unwrap(), *ms, end.is_some()))
        .collect();
    assert_eq!(
        rfqs,
        [
            ("0", 995, true),
            ("0.1", 1000, true),
            ("1", 995, true),
            ("1.1", 1000, true),
            ("2", 995, true),
            ("2.1", 1000, true),
        ]
    );
}

#[test]
fn an_interrupt_ends_the_stream_gracefully_with_its_summary() {
    use std::io::{BufRead, BufReader};
    let mut child = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "30"])
        .args(["--mock-min-delay", "0.01", "--mock-max-delay", "0.05"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    // Wait for the first client quote, then press Ctrl+C.
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "stream ended early"
        );
        let event: Value = serde_json::from_str(&line).unwrap();
        lines.push(event.clone());
        if event["event"] == "client_quote" {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for line in stdout.lines() {
        lines.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    assert!(child.wait().unwrap().success());
    let ended = lines.last().unwrap();
    assert_eq!(ended["event"], "ended");
    assert_eq!(ended["reason"], "interrupted");
    assert!(ended["client_price"].is_string());
    assert!(ended["t_ms"].as_u64().unwrap() < 30_000);
}

/// Collects a child's stdout on a thread, so a test can wait for text
/// without blocking on a line that never ends (the prompt has no newline).
fn watch_stdout(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::Read;
    let mut stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read) = stdout.read(&mut buffer) {
            if read == 0
                || sender
                    .send(String::from_utf8_lossy(&buffer[..read]).into_owned())
                    .is_err()
            {
                break;
            }
        }
    });
    receiver
}

fn wait_for(output: &std::sync::mpsc::Receiver<String>, seen: &mut String, text: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !seen.contains(text) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match output.recv_timeout(left) {
            Ok(chunk) => seen.push_str(&chunk),
            Err(_) => panic!("never saw {text:?} in:\n{seen}"),
        }
    }
}

fn exits_within(child: &mut std::process::Child, seconds: u64) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running {seconds} s after the signal");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn signal(child: &std::process::Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_at_the_prompt_quits_even_while_input_is_open() {
    let mut child = lp_rfq()
        .arg("--plain")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _keep_stdin_open = child.stdin.take();
    let output = watch_stdout(&mut child);
    let mut seen = String::new();
    wait_for(&output, &mut seen, "Side (b/buy, s/sell or 2w/two-way):");
    signal(&child, "-INT");
    assert!(exits_within(&mut child, 5).success());
}

#[test]
fn sigterm_during_a_prompted_stream_stops_it_and_exits() {
    let mut child = lp_rfq()
        .args(["--plain", "--duration", "30"])
        .args(["--mock-min-delay", "0.01", "--mock-max-delay", "0.05"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"b\n1\nBTCUSDT\n").unwrap();
    let output = watch_stdout(&mut child);
    let mut seen = String::new();
    wait_for(&output, &mut seen, "client quote (first)");
    signal(&child, "-TERM");
    assert!(exits_within(&mut child, 5).success());
    while let Ok(chunk) = output.recv_timeout(std::time::Duration::from_secs(1)) {
        seen.push_str(&chunk);
    }
    assert!(seen.contains("stream stopped by the operator"), "{seen}");
    // It exits rather than asking for the next request.
    assert_eq!(
        seen.matches("Side (b/buy, s/sell or 2w/two-way):").count(),
        1,
        "{seen}"
    );
    drop(stdin);
}

/// The execution events of a JSON run, as short lines.
fn execution_lines(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| {
            let text = match e["event"].as_str()? {
                "order_sent" => format!(
                    "order_sent {} {} attempt {}",
                    e["lp"], e["lp_price"], e["attempt"]
                ),
                "order_rejected" => format!("order_rejected {} {}", e["lp"], e["reason"]),
                "filled" => format!(
                    "filled {} {} client {} pnl {} {}",
                    e["lp"], e["lp_price"], e["client_price"], e["desk_pnl"], e["pnl_asset"]
                ),
                "execution_unknown" => format!("execution_unknown {} {}", e["lp"], e["reason"]),
                "not_filled" => format!("not_filled {}", e["reason"]),
                "ended" => format!("ended {} {}", e["reason"], e["outcome"]),
                _ => return None,
            };
            Some(text)
        })
        .collect()
}

#[test]
fn accept_after_executes_with_last_look_and_fallback_from_the_binary() {
    let output = lp_rfq()
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--scenario",
            "last-look",
            "--speed",
            "10",
            "--duration",
            "5",
            "--accept-after",
            "1s",
            "--json",
        ])
        .output()
        .unwrap();
    assert_ok(&output);
    // Fader (−1 bp: 99990.00) holds the lock and rejects after 200 ms;
    // Solid (−0.5 bp: 99995.00) is under the client's 100039.995 → 100040.00
    // and fills: the desk keeps 100040.00 − 99995.00 = 45.00 USDT.
    assert_eq!(
        execution_lines(&json_lines(&output)),
        [
            "order_sent \"Fader\" \"99990.00\" attempt 1",
            "order_rejected \"Fader\" \"last look: price moved\"",
            "order_sent \"Solid\" \"99995.00\" attempt 2",
            "filled \"Solid\" \"99995.00\" client \"100040.00\" pnl \"45.00\" \"USDT\"",
            "ended \"accepted\" \"filled\"",
        ]
    );
}

#[test]
fn plain_lines_say_whether_a_price_is_the_lps_or_the_clients() {
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT", "--scenario", "last-look"])
        .args(["--speed", "10", "--duration", "5", "--accept-after", "1s"])
        .arg("--plain")
        .output()
        .unwrap();
    assert_ok(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Stream times and ids differ run to run: each line from its event on.
    let events: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.split_once("s] ").map(|(_, event)| event))
        .collect();
    assert!(
        // A scenario's LPs are simulated: the lock says so.
        events.contains(&"LOCKED Fader, LP price 99,990.00 SIMULATED"),
        "{stdout}"
    );
    let order = events
        .iter()
        .find(|event| event.starts_with("ORDER ") && event.contains(" to Solid: "))
        .unwrap();
    assert!(
        order.contains(": desk buys 1.00000000 BTC, LP price 99,995.00 USDT for quote "),
        "{order}"
    );
    let end = events.last().unwrap();
    assert!(
        end.starts_with("stream ended (filled): 0 improvements; final quote ")
            && end.ends_with(" from Solid, client price 100,040.00 USDT"),
        "{end}"
    );
}

#[test]
fn exit_codes_tell_not_filled_and_unknown_apart() {
    // Nothing is live at 0 s: not filled, exit 1.
    let output = lp_rfq()
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--accept-after",
            "0ms",
            "--json",
        ])
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        execution_lines(&json_lines(&output)),
        [
            "not_filled \"no client quote was live when the client accepted\"",
            "ended \"accepted\" \"not_filled\"",
        ]
    );
    // Ghost (best in `flaky`) never answers an order: unknown, exit 3.
    let output = lp_rfq()
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--scenario",
            "flaky",
            "--speed",
            "10",
            "--seed",
            "3",
            "--duration",
            "5",
            "--accept-after",
            "1s",
            "--order-timeout-ms",
            "500",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        execution_lines(&json_lines(&output)),
        [
            "order_sent \"Ghost\" \"99995.00\" attempt 1",
            "execution_unknown \"Ghost\" \"no answer within 500 ms\"",
            "ended \"accepted\" \"unknown\"",
        ]
    );
    // An acceptance the stream would end before is a usage error.
    let output = lp_rfq()
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--duration",
            "1",
            "--accept-after",
            "2s",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid --accept-after '2s': the stream ends after 1000 ms (--duration), so nothing could be accepted\n"
    );
    // A bad duration is a usage error.
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT", "--accept-after", "soon"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid --accept-after 'soon': must be a stream time such as 3s, 500ms or 1.5s, at most 86400s\n"
    );
}

#[test]
fn typing_a_then_enter_during_a_prompted_stream_accepts_and_prints_the_ticket() {
    let mut child = lp_rfq()
        .args([
            "--plain",
            "--scenario",
            "last-look",
            "--speed",
            "10",
            "--duration",
            "5",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"b\n1\nBTCUSDT\n").unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdout = stdout;
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let _ = lines.send(String::from_utf8_lossy(&buffer[..n]).to_string());
        }
    });
    let mut seen = String::new();
    // Accept once the lock is there, as an operator would.
    wait_for(&output, &mut seen, "LOCKED Fader");
    stdin.write_all(b"a\n").unwrap();
    // `a` shows the price it would execute; Enter executes it.
    wait_for(&output, &mut seen, "ACCEPT? client BUY 1 BTC at ");
    stdin.write_all(b"\n").unwrap();
    wait_for(&output, &mut seen, "stream ended (filled)");
    drop(stdin);
    let status = exits_within(&mut child, 20);
    assert!(status.success());
    // Hold times are real-clock measurements at 10x here: not asserted.
    assert!(seen.contains("REJECTED by Fader after "), "{seen}");
    assert!(
        seen.contains("(last look): last look: price moved"),
        "{seen}"
    );
    assert!(seen.contains("FILLED by Solid"), "{seen}");
    assert!(seen.contains("| Desk P&L:        45.00 USDT"), "{seen}");
}

#[test]
fn a_two_way_request_at_the_prompt_is_accepted_on_the_side_named_at_that_sides_price() {
    // Each side's first quote stays live for the whole test (long
    // validity, no improvement can take its lock), however slowly a loaded
    // machine lets the operator type.
    let mut child = lp_rfq()
        .env("MOCK_FAILURE_RATE", "0")
        .env("MOCK_REJECT_RATE", "0")
        .env("MOCK_VALIDITY_SECONDS", "600")
        .env("IMPROVEMENT_THRESHOLD_BPS", "1000")
        .args(["--plain", "--duration", "120"])
        .args(["--mock-min-delay", "0.01", "--mock-max-delay", "0.05"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"2w\n1\nBTCUSDT\n").unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdout = stdout;
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let _ = lines.send(String::from_utf8_lossy(&buffer[..n]).to_string());
        }
    });
    let mut seen = String::new();
    wait_for(
        &output,
        &mut seen,
        "(a then b or s shows the offer or the bid, then Enter accepts it; Ctrl+C stops the stream)",
    );
    // Both sides locked: the first poll is over, and with a 1000 bps
    // threshold no later answer replaces either quote (a late answer of
    // the first poll could, and then the accept of the replaced quote
    // is refused, as it must be). Then `a` asks which side the client takes.
    wait_for(&output, &mut seen, "BID LOCKED");
    wait_for(&output, &mut seen, "OFFER LOCKED");
    stdin.write_all(b"a\n").unwrap();
    wait_for(
        &output,
        &mut seen,
        "WHICH SIDE? b: the client buys at the offer ",
    );
    stdin.write_all(b"s\n").unwrap();
    wait_for(&output, &mut seen, "ACCEPT? client SELL 1 BTC at ");
    // The price the question shows is the live bid's, and Enter sells there.
    let asked = seen.rsplit("ACCEPT? client SELL 1 BTC at ").next().unwrap();
    let price = asked.split(' ').next().unwrap().to_string();
    stdin.write_all(b"\n").unwrap();
    wait_for(&output, &mut seen, "stream ended (filled)");
    drop(stdin);
    let status = exits_within(&mut child, 20);
    assert!(status.success(), "{seen}");
    assert!(seen.contains("BID FILLED by LP"), "{seen}");
    assert!(
        seen.contains(&format!("Client price:    {price} USDT")),
        "{price} in {seen}"
    );
}

#[test]
fn a_dot_env_key_like_a_setting_is_warned_about_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "SEED=1\nMARKUP_BSP=3\n").unwrap();
    let output = lp_rfq_in(dir.path()).arg("scenarios").output().unwrap();
    assert_ok(&output);
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: warning: .env line 2: 'MARKUP_BSP' is not a setting; did you mean MARKUP_BPS?\n"
    );
}

#[test]
fn a_key_set_twice_in_dot_env_stops_the_start_naming_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "MARKUP_BPS=5\nSEED=1\nMARKUP_BPS=8\n",
    )
    .unwrap();
    let output = lp_rfq_in(dir.path()).arg("scenarios").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: cannot read .env: MARKUP_BPS is set twice, on lines 1 and 3: keep one\n"
    );
}

#[test]
fn a_dot_env_syntax_error_names_the_line_and_key_never_the_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "SEED=1\nB2C2_API_TOKEN=hunter2 secret\n",
    )
    .unwrap();
    let output = lp_rfq_in(dir.path()).arg("scenarios").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: cannot read .env: line 2 (B2C2_API_TOKEN) is not KEY=value (quote a value with spaces or #)\n"
    );
}

#[test]
fn listing_lps_never_connects_nor_creates_the_fix_logs() {
    let venue = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    venue.set_nonblocking(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lps.toml"),
        format!(
            "[[lp]]\nname = \"Fix\"\nkind = \"fix44\"\nhost = \"127.0.0.1\"\nport = {}\nsender_comp_id = \"DESK\"\ntarget_comp_id = \"LP\"\n",
            venue.local_addr().unwrap().port()
        ),
    )
    .unwrap();
    let output = lp_rfq_in(dir.path())
        .args(["lps", "--lps", "lps.toml"])
        .output()
        .unwrap();
    assert_ok(&output);
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "1 LPs from venues file 'lps.toml':\n  Fix  fix44            127.0.0.1:{}\n       health: not checked · 5/s burst 5 · breaker 5 in 30 s, cool-off 30 s\n",
            venue.local_addr().unwrap().port()
        )
    );
    assert_eq!(
        venue.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "lps connected to the venue"
    );
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["lps.toml"]);
}

#[test]
fn the_example_venues_file_names_every_missing_secret_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/lps.example.toml"),
        dir.path().join("lps.toml"),
    )
    .unwrap();
    let output = lp_rfq_in(dir.path())
        .args(["lps", "--lps", "lps.toml"])
        .env_remove("B2C2_API_TOKEN")
        .env_remove("BINANCE_API_KEY")
        .env_remove("BINANCE_API_SECRET")
        .env_remove("LP_FIX_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: venues file 'lps.toml': 4 secrets are missing: \
         lp 'B2C2' needs token_env: environment variable B2C2_API_TOKEN is not set; \
         lp 'BinanceConvert' needs key_env: environment variable BINANCE_API_KEY is not set; \
         lp 'BinanceConvert' needs secret_env: environment variable BINANCE_API_SECRET is not set; \
         lp 'Wintermute' needs password_env: environment variable LP_FIX_PASSWORD is not set\n"
    );
}

#[test]
fn a_log_file_or_blotter_in_a_missing_directory_is_refused_alike() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing").join("dir");
    for (flag, file, setting) in [
        ("--log-file", "x.log", "LOG_FILE"),
        ("--blotter", "b.db", "BLOTTER_PATH"),
    ] {
        let path = missing.join(file);
        let output = lp_rfq_in(dir.path())
            .args(["quote", "buy", "1", "BTCUSDT", flag])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!(
                "lp-rfq: invalid {setting} '{}' ({flag}): directory '{}' does not exist\n",
                path.display(),
                missing.display()
            )
        );
    }
    assert!(!dir.path().join("missing").exists());
}

#[test]
fn the_report_shows_money_at_its_precision_and_explains_its_options() {
    let dir = tempfile::tempdir().unwrap();
    let quoted = lp_rfq_in(dir.path())
        .args(["quote", "buy", "2.5", "BTCUSDT", "--seed", "7", "--json"])
        .args(FAST)
        .output()
        .unwrap();
    assert_ok(&quoted);
    let events = json_lines(&quoted);
    let ended = events.last().unwrap();
    let price: rust_decimal::Decimal = ended["client_price"].as_str().unwrap().parse().unwrap();
    // 2.5 × a price in cents has three decimals; the table shows cents.
    let notional = (price * rust_decimal::Decimal::new(25, 1))
        .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    let report = |args: &[&str]| {
        lp_rfq_in(dir.path())
            .arg("report")
            .args(args)
            .output()
            .unwrap()
    };
    let table = report(&[]);
    assert_ok(&table);
    let stdout = String::from_utf8_lossy(&table.stdout);
    let pair_line = stdout
        .lines()
        .find(|line| line.starts_with("BTCUSDT  USDT"))
        .unwrap();
    assert_eq!(
        pair_line.split_whitespace().collect::<Vec<_>>(),
        [
            "BTCUSDT",
            "USDT",
            "1",
            &format!("{notional:.2}"),
            "0.00",
            "0.00",
            "0"
        ]
    );
    let negative = report(&["--last", "-1"]);
    assert_eq!(negative.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&negative.stderr),
        "lp-rfq: invalid --last '-1': must be a whole number above 0\n"
    );
    // A section is asked for as CSV, with or without --csv.
    let section = report(&["--section", "rfqs"]);
    assert_ok(&section);
    assert!(String::from_utf8_lossy(&section.stdout)
        .starts_with("rfq_id,started_at,side,amount,pair,duration_ms,"));
    let refused = report(&["--no-blotter"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr)
        .starts_with("error: unexpected argument '--no-blotter' found"));
}

#[test]
fn a_setting_a_command_does_not_use_does_not_stop_it() {
    for args in [&["scenarios"][..], &["lps"][..]] {
        let output = lp_rfq()
            .args(args)
            .env("MARKUP_BPS", "-1")
            .env("IMPROVEMENT_THRESHOLD_BPS", "lots")
            .output()
            .unwrap();
        assert_ok(&output);
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    let output = lp_rfq_in(dir.path())
        .arg("report")
        .env("MARKUP_BPS", "-1")
        .env("BLOTTER_PATH", &missing)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!(
            "lp-rfq: blotter '{}' does not exist: nothing recorded yet\n",
            missing.display()
        )
    );
    // A stream still refuses it.
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT"])
        .env("MARKUP_BPS", "-1")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn every_lp_failing_ends_like_every_lp_declining() {
    let output = lp_rfq()
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--mock-failure-rate",
            "1",
        ])
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: no LP quotes BTCUSDT (3 unavailable)\n"
    );
    let events = json_lines(&output);
    assert_eq!(events.last().unwrap()["event"], "ended");
}

#[test]
fn bench_argument_errors_exit_2() {
    for (args, message) in [
        (
            &["bench", "--sessions", "0"][..],
            "lp-rfq: invalid --sessions '0': must be at least 1\n",
        ),
        (
            &["bench", "--lps", "0"][..],
            "lp-rfq: invalid --lps '0': must be at least 1\n",
        ),
        (
            &["bench", "--rfq-secs", "0"][..],
            "lp-rfq: invalid --rfq-secs '0': must be at least 1\n",
        ),
        (
            &["bench", "--lp-delay-ms", "100", "--lp-delay-max-ms", "50"][..],
            "lp-rfq: invalid --lp-delay-max-ms '50': must not be below --lp-delay-ms '100'\n",
        ),
        (
            &[
                "bench",
                "--through-server",
                "--sessions",
                "2",
                "--connections",
                "3",
            ][..],
            "lp-rfq: invalid --connections '3': must be from 1 to --sessions (2)\n",
        ),
        (
            &["bench", "--through-server", "--connections", "0"][..],
            "lp-rfq: invalid --connections '0': must be from 1 to --sessions (1000)\n",
        ),
        (
            &["bench", "--client-api", "--sessions", "2", "--connections", "3"][..],
            "lp-rfq: invalid --connections '3': must be from 1 to --sessions (2)\n",
        ),
        // The steady load needs RFQs shorter than the run, sent apart.
        (
            &["bench", "--client-api", "--rfq-secs", "10"][..],
            "lp-rfq: invalid --rfq-secs '10': must be less than --duration (10)\n",
        ),
        (
            &["bench", "--client-api", "--rfq-secs", "0"][..],
            "lp-rfq: invalid --rfq-secs '0': must be at least 1\n",
        ),
        (
            &["bench", "--client-api", "--rfq-secs", "1", "--lockstep"][..],
            "lp-rfq: --lockstep sends every request at once and --rfq-secs sends them steadily: with --client-api give one of them\n",
        ),
        (
            &["bench", "--connections", "2"][..],
            "lp-rfq: --connections is for a bench over a desk server: add --through-server or --client-api\n",
        ),
    ] {
        let output = lp_rfq().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&output.stderr), message);
    }
    // Flags that mean nothing through a desk server are refused by name.
    for (args, named) in [
        (
            &["bench", "--through-server", "--rfq-secs", "1"][..],
            "--rfq-secs",
        ),
        (
            &["bench", "--through-server", "--keep-snapshots"][..],
            "--keep-snapshots",
        ),
        (
            &["bench", "--client-api", "--through-server"][..],
            "--through-server",
        ),
    ] {
        let output = lp_rfq().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{args:?}: {stderr}");
    }
}

/// The long flags `lp-rfq ARGS --help` lists, in order.
fn help_flags(args: &[&str]) -> Vec<String> {
    let output = lp_rfq().args(args).arg("--help").output().unwrap();
    assert_ok(&output);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let flag = line.trim_start().split([' ', '[', '=']).next()?;
            flag.starts_with("--").then(|| flag.to_string())
        })
        .collect()
}

#[test]
fn each_subcommand_help_lists_only_the_flags_it_uses() {
    assert_eq!(help_flags(&["scenarios"]), ["--log-file"]);
    assert_eq!(
        help_flags(&["report"]),
        [
            "--since",
            "--until",
            "--pair",
            "--lp",
            "--client",
            "--operator",
            "--last",
            "--json",
            "--csv",
            "--section",
            "--blotter",
            "--desk-name",
            "--log-file"
        ]
    );
    assert_eq!(
        help_flags(&["bench"]),
        [
            "--sessions",
            "--lps",
            "--duration",
            "--poll-ms",
            "--lp-delay-ms",
            "--lp-delay-max-ms",
            "--lp-timeout-ms",
            "--blotter",
            "--no-blotter",
            "--lockstep",
            "--rfq-secs",
            "--keep-snapshots",
            "--through-server",
            "--client-api",
            "--connections",
            "--log-file"
        ]
    );
    let lps = help_flags(&["lps"]);
    for flag in [
        "--check",
        "--lps",
        "--lp-timeout-ms",
        "--scenario",
        "--mock-lps",
    ] {
        assert!(lps.contains(&flag.to_string()), "{flag} in {lps:?}");
    }
    for flag in [
        "--markup-bps",
        "--threshold-bps",
        "--blotter",
        "--max-notional",
        "--json",
    ] {
        assert!(!lps.contains(&flag.to_string()), "{flag} in {lps:?}");
    }
    // A stream reads every setting: the console (no subcommand) and quote.
    let quote = help_flags(&["quote"]);
    let top = help_flags(&[]);
    for flag in [
        "--markup-bps",
        "--lps",
        "--blotter",
        "--log-file",
        "--json",
        "--plain",
    ] {
        assert!(quote.contains(&flag.to_string()), "{flag} in {quote:?}");
        assert!(top.contains(&flag.to_string()), "{flag} in {top:?}");
    }
}

#[test]
fn help_texts_say_the_bench_defaults_and_what_json_does() {
    let bench = lp_rfq().args(["bench", "--help"]).output().unwrap();
    let bench = String::from_utf8_lossy(&bench.stdout);
    for text in [
        "Concurrent RFQ streams [default: 1000]",
        "In-process LPs per stream (a bench never asks real venues) [default: 10]",
        "Seconds to run [default: 10]",
    ] {
        assert!(bench.contains(text), "{text} in {bench}");
    }
    let squashed = |args: &[&str]| {
        let output = lp_rfq().args(args).output().unwrap();
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let quote = squashed(&["quote", "--help"]);
    assert!(quote.contains(
        "--json One JSON object per event per line on stdout instead of readable lines (the line prompt asks on stderr)"
    ), "{quote}");
    let report = squashed(&["report", "--help"]);
    assert!(
        report.contains("--json The whole report as one JSON object instead of the tables"),
        "{report}"
    );
}

#[test]
fn a_pair_with_its_own_notional_limit_is_judged_by_it() {
    // 20 BTC × 100,000: above MAX_NOTIONAL, within BTCUSDT's own limit.
    let output = lp_rfq()
        .args(["quote", "buy", "20", "BTCUSDT"])
        .env("MAX_NOTIONAL_PAIRS", "BTCUSDT=5000000")
        .args(FAST)
        .output()
        .unwrap();
    assert_ok(&output);
    // 6 BTC: within MAX_NOTIONAL, above BTCUSDT's own lower limit.
    let output = lp_rfq()
        .args(["quote", "buy", "6", "BTCUSDT"])
        .args(["--max-notional-pairs", "btc/usdt=500000"])
        .args(FAST)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: notional 600,000.00 USDT is above the BTCUSDT limit 500,000 (MAX_NOTIONAL_PAIRS): add --confirm-notional to ask for quotes\n"
    );
    let output = lp_rfq()
        .args(["quote", "buy", "1", "BTCUSDT"])
        .env("MAX_NOTIONAL_PAIRS", "BTCUSDT:5000000")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: invalid MAX_NOTIONAL_PAIRS 'BTCUSDT:5000000' (--max-notional-pairs): 'BTCUSDT:5000000' must be PAIR=AMOUNT, e.g. BTCUSDT=5000000\n"
    );
}

/// SIGHUP (a closed terminal, a dropped SSH session) ends a stream as
/// SIGTERM does: its `ended` event printed and recorded, exit 0. Run with
/// the usual permissive umask, the records it creates are private.
#[rstest::rstest]
#[case::sigterm("-TERM")]
#[case::sighup("-HUP")]
fn a_hangup_ends_the_stream_like_sigterm_and_the_records_are_private(#[case] name: &str) {
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let blotter = dir.path().join("blotter.db");
    // LOG_FILE's directory must exist (#25 item 15): only the file is made.
    let log_file = dir.path().join("lp-rfq.log");
    // The binary under `sh`, which sets the umask and execs it (so the
    // signal reaches lp-rfq itself), with no setting from the outside.
    let mut command = Command::new("sh");
    command.current_dir(dir.path()).env_remove("RUST_LOG");
    for setting in lp_rfq::config::SETTING_NAMES {
        command.env_remove(setting);
    }
    let mut child = command
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_lp-rfq"))
        .args(["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "30"])
        .args(["--mock-min-delay", "0.01", "--mock-max-delay", "0.05"])
        .arg("--blotter")
        .arg(&blotter)
        .env("LOG_FILE", &log_file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut events: Vec<Value> = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "stream ended early"
        );
        let event: Value = serde_json::from_str(&line).unwrap();
        events.push(event.clone());
        if event["event"] == "client_quote" {
            break;
        }
    }
    let with = |suffix: &str| std::path::PathBuf::from(format!("{}{suffix}", blotter.display()));
    assert_eq!(
        [&blotter, &with("-wal"), &with("-shm"), &log_file].map(|path| mode(path)),
        [0o600; 4]
    );
    signal(&child, name);
    for line in stdout.lines() {
        events.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    let status = exits_within(&mut child, 10);
    assert_eq!(status.code(), Some(0));
    let ended = events.last().unwrap();
    assert_eq!(
        (&ended["event"], &ended["reason"]),
        (&Value::from("ended"), &Value::from("interrupted"))
    );
    let conn = rusqlite::Connection::open(&blotter).unwrap();
    let recorded: (String, Option<String>) = conn
        .query_row("SELECT rfq_id, end_reason FROM rfqs", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(
        recorded,
        (
            events[0]["rfq_id"].as_str().unwrap().to_string(),
            Some("interrupted".to_string())
        )
    );
}
