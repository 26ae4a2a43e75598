//! The clients file from the binary: a client's markup (and its per-pair
//! override) prices its quotes, its limits refuse a request before any LP
//! is asked, its daily limit is counted from the blotter across a
//! restart, and its name is on every JSON line, in the blotter and in the
//! report. The console's and the prompt's client choice.

use std::path::Path;
use std::process::Output;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lp_rfq::rfq::{ClientId, QuoteRequest, RequestParams};
use lp_rfq::ui::state::{App, Command};
use serde_json::Value;

use crate::support::lp_rfq_in;

const CLIENTS: &str = r#"
[[client]]
name = "acme"
markup_bps = "8"
pair_markup_bps = { ETHUSDT = "12" }
max_notional = "250000"
daily_notional = "150000"
pairs = ["BTCUSDT", "ETHUSDT"]

[[client]]
name = "dormant"
enabled = false
"#;

fn dir_with_clients() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clients.toml"), CLIENTS).unwrap();
    dir
}

/// `lp-rfq quote …` in `dir` with its clients file, seeded mocks at ten
/// times real speed.
fn quote(dir: &Path, args: &[&str]) -> Output {
    lp_rfq_in(dir)
        .args(["quote"])
        .args(args)
        .args([
            "--clients",
            "clients.toml",
            "--json",
            "--seed",
            "7",
            "--speed",
            "10",
        ])
        .output()
        .unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The first client quote as `lp lp_price markup -> client_price receives`.
fn first_client_quote(lines: &[Value]) -> String {
    let quote = lines
        .iter()
        .find(|line| line["event"] == "client_quote")
        .expect("a client quote");
    format!(
        "{} {} +{} bps -> {} receives {} {}",
        quote["lp"].as_str().unwrap(),
        quote["lp_price"].as_str().unwrap(),
        quote["markup_bps"].as_str().unwrap(),
        quote["client_price"].as_str().unwrap(),
        quote["client_receives"].as_str().unwrap(),
        quote["receives_asset"].as_str().unwrap(),
    )
}

#[test]
fn a_clients_markup_and_its_pair_override_price_its_quotes_to_the_last_digit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clients.toml"),
        "[[client]]\nname = \"acme\"\nmarkup_bps = \"8\"\npair_markup_bps = { ETHUSDT = \"12\" }\n",
    )
    .unwrap();
    let btc = quote(
        dir.path(),
        &[
            "sell",
            "2",
            "BTCUSDT",
            "--client",
            "acme",
            "--duration",
            "1",
            "--no-blotter",
        ],
    );
    assert!(btc.status.success(), "{}", stderr(&btc));
    let lines = json_lines(&btc);
    // The first price two LPs corroborate: 99982.49 × (1 − 0.0008) =
    // 99902.504008 → 99902.50 (down for a selling client); × 2 = 199805.00.
    assert_eq!(
        first_client_quote(&lines),
        "LP1 99982.49 +8 bps -> 99902.50 receives 199805.00 USDT"
    );
    assert_eq!(lines[0]["markup_bps"], "8");
    // Every line names the client.
    assert!(lines.iter().all(|line| line["client"] == "acme"));

    let eth = quote(
        dir.path(),
        &[
            "sell",
            "2",
            "ETHUSDT",
            "--client",
            "acme",
            "--duration",
            "1",
            "--no-blotter",
        ],
    );
    assert!(eth.status.success(), "{}", stderr(&eth));
    let lines = json_lines(&eth);
    // The ETHUSDT override: 3499.38 × (1 − 0.0012) = 3495.180744 →
    // 3495.18; × 2 = 6990.36.
    assert_eq!(
        first_client_quote(&lines),
        "LP1 3499.38 +12 bps -> 3495.18 receives 6990.36 USDT"
    );
    assert!(lines.iter().all(|line| line["client"] == "acme"));
}

#[test]
fn each_limit_refuses_before_any_lp_is_asked_naming_the_limit_and_the_headroom() {
    let dir = dir_with_clients();
    let cases: [(&[&str], &str); 5] = [
        (
            &["buy", "1", "BTCUSDT", "--client", "nobody"],
            "lp-rfq: unknown client 'nobody': clients file 'clients.toml' lists acme, dormant, house\n",
        ),
        (
            &["buy", "1", "BTCUSDT", "--client", "dormant"],
            "lp-rfq: client 'dormant' is disabled in clients file 'clients.toml'\n",
        ),
        (
            &["buy", "1", "SOLUSDT", "--client", "acme"],
            "lp-rfq: client 'acme' may not trade SOL/USDT: its pairs are BTCUSDT, ETHUSDT\n",
        ),
        (
            &["buy", "2.6", "BTCUSDT", "--client", "acme"],
            "lp-rfq: client 'acme': notional 260,000.00 USDT is above its max_notional of 250,000 USDT per RFQ (headroom 250,000 USDT)\n",
        ),
        (
            &["buy", "1.6", "BTCUSDT", "--client", "acme"],
            "lp-rfq: client 'acme': notional 160,000.00 USDT is above what is left of its daily_notional of 150,000 USDT (filled today, UTC: 0.00 USDT; headroom 150,000.00 USDT)\n",
        ),
    ];
    for (args, message) in cases {
        let output = quote(dir.path(), &[args, &["--blotter", "desk.db"]].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&output), message, "{args:?}");
        // Nothing was streamed: no LP was asked.
        assert_eq!(String::from_utf8_lossy(&output.stdout), "", "{args:?}");
    }
    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let rfqs: i64 = conn
        .query_row("SELECT count(*) FROM rfqs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(rfqs, 0);
}

#[test]
fn the_daily_limit_counts_what_the_blotter_holds_across_a_restart() {
    let dir = dir_with_clients();
    let first = quote(
        dir.path(),
        &[
            "buy",
            "1",
            "BTCUSDT",
            "--client",
            "acme",
            "--duration",
            "2",
            "--accept-after",
            "1s",
            "--blotter",
            "desk.db",
        ],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let lines = json_lines(&first);
    let filled = lines
        .iter()
        .find(|line| line["event"] == "filled")
        .expect("the first run fills");
    assert_eq!(filled["client"], "acme");
    let pays: rust_decimal::Decimal = filled["client_pays"].as_str().unwrap().parse().unwrap();
    let left = rust_decimal::Decimal::from(150_000) - pays;

    // A second process: what acme filled today comes from the blotter.
    // 0.5 BTC (50,000 USDT at the reference price) is above what is left.
    let second = quote(
        dir.path(),
        &[
            "buy",
            "0.5",
            "BTCUSDT",
            "--client",
            "acme",
            "--blotter",
            "desk.db",
        ],
    );
    assert_eq!(second.status.code(), Some(2));
    assert_eq!(
        stderr(&second),
        format!(
            "lp-rfq: client 'acme': notional 50,000.00 USDT is above what is left of its daily_notional of 150,000 USDT (filled today, UTC: {} USDT; headroom {} USDT)\n",
            grouped(pays),
            grouped(left)
        )
    );
    // The house has no such limit.
    let house = quote(
        dir.path(),
        &[
            "buy",
            "0.5",
            "BTCUSDT",
            "--duration",
            "0.2",
            "--blotter",
            "desk.db",
        ],
    );
    assert!(house.status.success(), "{}", stderr(&house));

    // The blotter names the client on the RFQ, its order and its fill.
    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let column = |sql: &str| -> Vec<String> {
        let mut statement = conn.prepare(sql).unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        column("SELECT client FROM rfqs ORDER BY id"),
        ["acme", "house"]
    );
    assert_eq!(column("SELECT client FROM orders"), ["acme"]);
    assert_eq!(column("SELECT client FROM fills"), ["acme"]);

    // The report: per client, and one client's alone.
    let report = lp_rfq_in(dir.path())
        .args(["report", "--blotter", "desk.db", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let pnl = filled["desk_pnl"].as_str().unwrap();
    assert_eq!(
        report["clients"],
        serde_json::json!([
            {"client": "acme", "asset": "USDT", "rfqs": 1, "accepted": 1, "fills": 1,
             "fill_ratio": "1", "filled_notional": pays.normalize().to_string(),
             "markup_earned": pnl},
            {"client": "house", "asset": "USDT", "rfqs": 1, "accepted": 0, "fills": 0,
             "fill_ratio": null, "filled_notional": "0", "markup_earned": "0"}
        ])
    );
    let acme = lp_rfq_in(dir.path())
        .args([
            "report",
            "--blotter",
            "desk.db",
            "--client",
            "acme",
            "--section",
            "clients",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&acme.stdout),
        format!(
            "client,asset,rfqs,accepted,fills,fill_ratio,filled_notional,markup_earned\n\
             acme,USDT,1,1,1,1,{},{pnl}\n",
            pays.normalize()
        )
    );
    let bad = lp_rfq_in(dir.path())
        .args(["report", "--blotter", "desk.db", "--client", "acme fund"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(
        stderr(&bad),
        "lp-rfq: invalid --client 'acme fund': must be a client id: 1 to 64 letters, digits, '-', '_' or '.'\n"
    );
}

/// `value` (two decimals) with thousands separators.
pub(crate) fn grouped(value: rust_decimal::Decimal) -> String {
    let text = format!("{:.2}", value);
    let (whole, fraction) = text.split_once('.').unwrap();
    let mut out = String::new();
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    format!("{out}.{fraction}")
}

#[test]
fn a_bad_clients_file_stops_the_start_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clients.toml"),
        "[[client]]\nname = \"acme\"\nmarkup_bps = 8\n",
    )
    .unwrap();
    let output = quote(
        dir.path(),
        &["buy", "1", "BTCUSDT", "--client", "acme", "--no-blotter"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "lp-rfq: clients file 'clients.toml' line 3: markup_bps '8' in [[client]] 'acme' must be a markup in bps from 0 to 500 written as a string, such as \"8\"\n"
    );
    std::fs::write(
        dir.path().join("clients.toml"),
        "[[client]]\nname = \"acme\"\n\n[[client]]\nname = \"acme\"\n",
    )
    .unwrap();
    let output = quote(dir.path(), &["buy", "1", "BTCUSDT", "--no-blotter"]);
    assert_eq!(
        stderr(&output),
        "lp-rfq: clients file 'clients.toml' line 5: client name 'acme' is used twice (first at line 2)\n"
    );
}

#[test]
fn the_prompt_asks_for_the_client_and_keeps_it_for_the_next_request() {
    use std::io::Write;
    let dir = dir_with_clients();
    let mut child = lp_rfq_in(dir.path())
        .args([
            "--plain",
            "--clients",
            "clients.toml",
            "--no-blotter",
            "--duration",
            "0.2",
            "--seed",
            "7",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // acme, then Enter keeps acme; then the dormant client is refused.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"acme\nb\n0.1\nBTCUSDT\n\nb\n0.1\nBTCUSDT\ndormant\nb\n0.1\nBTCUSDT\nq\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("Client (acme, dormant, house; Enter = house): "),
        "{text}"
    );
    assert_eq!(
        text.matches("Client (acme, dormant, house; Enter = acme): ")
            .count(),
        2,
        "{text}"
    );
    let requests: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(": client acme BUY 0.10000000 BTC against USDT"))
        .collect();
    assert_eq!(requests.len(), 2, "{text}");
    assert!(
        text.contains(
            "  client 'dormant' is disabled in clients file 'clients.toml'; enter the request again"
        ),
        "{text}"
    );
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn type_request(app: &mut App, text: &str) -> Command {
    let mut command = Command::None;
    for c in text.chars() {
        command = app.key(key(if c == '\n' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        }));
    }
    command
}

#[test]
fn the_console_form_chooses_the_client_with_f2_and_keeps_it() {
    let names = ["acme", "dormant", "house"].map(|name| ClientId::new(name).unwrap());
    let mut app = App::new(false, None).with_clients(names.to_vec());
    let for_client = |name: &str, command: Command| match command {
        Command::Start(QuoteRequest { params, .. }) => {
            assert_eq!(
                params,
                RequestParams::default().with_client(ClientId::new(name).unwrap())
            );
        }
        other => panic!("no stream started: {other:?}"),
    };
    for_client("acme", type_request(&mut app, "b\n1\nBTCUSDT\n"));
    app.key(key(KeyCode::F(2)));
    app.key(key(KeyCode::F(2)));
    let command = type_request(&mut app, "\n");
    for_client("house", command);
    app.key(key(KeyCode::F(2)));
    for_client("acme", type_request(&mut app, "\n"));
}

#[test]
fn the_plain_request_line_and_ticket_name_the_client() {
    let dir = dir_with_clients();
    let output = lp_rfq_in(dir.path())
        .args([
            "quote",
            "buy",
            "0.1",
            "BTCUSDT",
            "--client",
            "acme",
            "--clients",
            "clients.toml",
            "--plain",
            "--seed",
            "7",
            "--speed",
            "10",
            "--duration",
            "2",
            "--accept-after",
            "1s",
            "--no-blotter",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.lines().any(|line| line.starts_with("RFQ R")
            && line.ends_with(": client acme BUY 0.10000000 BTC against USDT")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|line| line.trim_end().starts_with("  | Client:          acme")),
        "{text}"
    );
}
