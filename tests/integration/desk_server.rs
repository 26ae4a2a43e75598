//! `lp-rfq serve` and operators attached to it, end to end from the
//! binary over loopback: several operators share one FIX session, each
//! RFQ records its operator, tokens are checked by name and never shown,
//! and a lost connection or a lost server is handled as an operator
//! expects.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::fix_acceptor::{Acceptor, Orders, Quotes, Script};
use crate::support::lp_rfq_in;

const ALICE_TOKEN: &str = "alice-token-Zq81mW0pXr";
const BOB_TOKEN: &str = "bob-token-Hk27vN5sLt9c";

/// A desk server running in `dir` with the operators alice and bob.
struct Server {
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `lp-rfq serve` on a free loopback port with `args` and
    /// waits until it says where it listens.
    fn start(dir: &Path, args: &[String]) -> Server {
        Server::start_at(dir, "127.0.0.1:0", args)
    }

    /// [`Server::start`] listening on `listen`.
    fn start_at(dir: &Path, listen: &str, args: &[String]) -> Server {
        let operators = dir.join("operators.toml");
        std::fs::write(
            &operators,
            "[[operator]]\nname = \"alice\"\ntoken_env = \"DESK_TOKEN_ALICE\"\n\n[[operator]]\nname = \"bob\"\ntoken_env = \"DESK_TOKEN_BOB\"\n",
        )
        .unwrap();
        let mut child = lp_rfq_in(dir)
            .env("DESK_TOKEN_ALICE", ALICE_TOKEN)
            .env("DESK_TOKEN_BOB", BOB_TOKEN)
            .env("FIX_PASSWORD_E2E", "fix-pass-S3cret")
            .env("E2E_B2C2_TOKEN", crate::fake_venues::B2C2_TOKEN)
            .args(["serve", "--listen", listen, "--operators"])
            .arg(&operators)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let url = loop {
            let line = lines
                .next()
                .expect("the server says where it listens")
                .unwrap();
            stderr.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(at) = line.find("ws://") {
                break line[at..].split_whitespace().next().unwrap().to_string();
            }
        };
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server { child, url, stderr }
    }

    /// SIGTERM, then waits: the exit status and everything it said.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let said = self.stderr.lock().unwrap().clone();
        (status, said)
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `lp-rfq ARGS --desk URL` with `token` in LP_RFQ_TOKEN (none: unset).
pub(crate) async fn operator(url: &str, token: Option<&str>, args: &[&str]) -> Output {
    let mut command = lp_rfq_in(crate::support::empty_dir());
    command.env_remove("LP_RFQ_TOKEN");
    if let Some(token) = token {
        command.env("LP_RFQ_TOKEN", token);
    }
    command.args(args).args(["--desk", url]);
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn events(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// One FIX venue alone: its band corroborates the lone LP's price.
fn fix_venue(dir: &Path, port: u16) -> PathBuf {
    let file = dir.join("lps.toml");
    std::fs::write(
        &file,
        format!(
            "[[lp]]\nname = \"FixLP\"\nkind = \"fix44\"\nhost = \"127.0.0.1\"\nport = {port}\nsender_comp_id = \"DESK\"\ntarget_comp_id = \"LP\"\npassword_env = \"FIX_PASSWORD_E2E\"\n\n[bands]\nBTCUSDT = {{ min = \"50000\", max = \"200000\" }}\n"
        ),
    )
    .unwrap();
    file
}

/// The first measurement, fixed: two operators on one desk
/// against a FIX venue that allows one session both quote and fill, over
/// that one session, and each RFQ records who asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_quote_and_fill_over_one_fix_session() {
    let venue = Acceptor::start(Script {
        quotes: Quotes::TwoWay {
            bid: dec!(99900.00),
            offer: dec!(100020.00),
            bid_size: dec!(5),
            offer_size: dec!(5),
            valid_ms: 10_000,
        },
        orders: Orders::Fill,
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let venues = fix_venue(dir.path(), venue.port);
    let blotter = dir.path().join("desk.db");
    let server = Server::start(
        dir.path(),
        &[
            "--lps".into(),
            venues.display().to_string(),
            "--blotter".into(),
            blotter.display().to_string(),
            "--duration".into(),
            "3".into(),
        ],
    );
    let quote = [
        "quote",
        "buy",
        "1",
        "BTCUSDT",
        "--json",
        "--accept-after",
        "1s",
    ];
    let (alice, bob) = tokio::join!(
        operator(&server.url, Some(ALICE_TOKEN), &quote),
        operator(&server.url, Some(BOB_TOKEN), &quote)
    );
    for (name, output) in [("alice", &alice), ("bob", &bob)] {
        assert!(output.status.success(), "{name}: {}", said(output));
        let events = events(output);
        assert_eq!(events[0]["event"], "started", "{name}");
        assert_eq!(events[0]["operator"], name);
        assert_eq!(events[0]["lps"], json!(["FixLP"]));
        let filled = events
            .iter()
            .find(|event| event["event"] == "filled")
            .unwrap_or_else(|| panic!("{name} has no fill: {}", said(output)));
        assert_eq!(
            (&filled["lp"], &filled["lp_price"], &filled["client_price"]),
            (&json!("FixLP"), &json!("100020.00"), &json!("100070.01"))
        );
        let ended = events.last().unwrap();
        assert_eq!(
            (&ended["event"], &ended["outcome"]),
            (&json!("ended"), &json!("filled"))
        );
    }
    assert_eq!(venue.connections(), 1, "one FIX session for the whole desk");
    let (status, server_said) = server.stop();
    assert!(status.success(), "{server_said}");
    assert!(
        server_said.contains("lp-rfq: desk stopped"),
        "{server_said}"
    );
    for secret in [ALICE_TOKEN, BOB_TOKEN, "fix-pass-S3cret"] {
        assert!(!server_said.contains(secret));
        assert!(!said(&alice).contains(secret) && !said(&bob).contains(secret));
    }
    let conn = rusqlite::Connection::open(&blotter).unwrap();
    let mut rows = conn
        .prepare("SELECT operator, outcome FROM rfqs ORDER BY operator")
        .unwrap();
    let rows: Vec<(String, String)> = rows
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            ("alice".to_string(), "filled".to_string()),
            ("bob".to_string(), "filled".to_string())
        ]
    );
    let report = |args: &[&str]| {
        let output = lp_rfq_in(crate::support::empty_dir())
            .args(args)
            .args(["--blotter", &blotter.display().to_string()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", said(&output));
        String::from_utf8(output.stdout).unwrap()
    };
    let whole: Value = serde_json::from_str(&report(&["report", "--json"])).unwrap();
    let per_operator = |name: &str| {
        json!({"operator": name, "asset": "USDT", "rfqs": 1, "fills": 1, "not_filled": 0,
               "unknown": 0, "accepted": 1, "notional_quoted": "100070.01", "filled_notional": "100020.0000000000",
               "markup_earned": "50.01"})
    };
    assert_eq!(
        whole["operators"],
        json!([per_operator("alice"), per_operator("bob")])
    );
    let alices: Value =
        serde_json::from_str(&report(&["report", "--json", "--operator", "alice"])).unwrap();
    assert_eq!(alices["operators"], json!([per_operator("alice")]));
    assert_eq!(alices["rfqs"].as_array().unwrap().len(), 1);
    assert_eq!(alices["rfqs"][0]["operator"], "alice");
    assert_eq!(
        report(&["report", "--csv", "--section", "operators"]),
        "operator,asset,rfqs,fills,not_filled,unknown,accepted,notional_quoted,filled_notional,markup_earned\n\
         alice,USDT,1,1,0,0,1,100070.01,100020.0000000000,50.01\n\
         bob,USDT,1,1,0,0,1,100070.01,100020.0000000000,50.01\n"
    );
    let table = report(&["report"]);
    let section = &table[table.find("Operators (").expect("an operators section")..];
    assert_eq!(
        section,
        "Operators (desk server; sums in the quote currency, CCY)\n\
         OPERATOR  CCY   RFQS  FILLS  NOT FILLED  UNKNOWN  ACCEPTED  NOTIONAL QUOTED  FILLED NOTIONAL  MARKUP EARNED\n\
         alice     USDT     1      1           0        0         1        100070.01        100020.00          50.01\n\
         bob       USDT     1      1           0        0         1        100070.01        100020.00          50.01\n"
    );
    let orders: Vec<Value> = report(&["orders", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut who: Vec<&str> = orders
        .iter()
        .map(|order| order["operator"].as_str().unwrap())
        .collect();
    who.sort();
    assert_eq!(who, ["alice", "bob"]);
}

/// No token, or one that is no operator's, is refused by name (exit 2),
/// and no token is ever repeated, on either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_token_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-blotter".into()]);
    let quote = ["quote", "buy", "1", "BTCUSDT", "--plain"];
    let none = operator(&server.url, None, &quote).await;
    assert_eq!(none.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&none.stderr),
        format!("lp-rfq: the desk at '{}' refused this operator: no operator token: set LP_RFQ_TOKEN to the token the desk's operators file gives you\n", server.url)
    );
    let wrong = operator(&server.url, Some("guess-guess-guess-1"), &quote).await;
    assert_eq!(wrong.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&wrong.stderr),
        format!("lp-rfq: the desk at '{}' refused this operator: the token in LP_RFQ_TOKEN is not any operator's on this desk\n", server.url)
    );
    assert!(wrong.stdout.is_empty());
    let (status, server_said) = server.stop();
    assert!(status.success());
    assert!(
        !server_said.contains("guess-guess-guess-1"),
        "{server_said}"
    );
}

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next message the server sends, within 10 s.
pub(crate) async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")
            .expect("the connection is open")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

/// The handshake states the protocol version; another version is
/// refused naming both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_protocol_version_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--no-blotter".into()]);
    let mut socket = connect(&server.url).await;
    send(
        &mut socket,
        json!({"op": "hello", "protocol": 99, "token": ALICE_TOKEN}),
    )
    .await;
    assert_eq!(
        next(&mut socket).await,
        json!({"type": "refused", "reason": "protocol version 99 is not this desk's (version 2): use an lp-rfq that speaks version 2"})
    );
    let mut socket = connect(&server.url).await;
    send(
        &mut socket,
        json!({"op": "hello", "protocol": 2, "token": BOB_TOKEN}),
    )
    .await;
    let welcome = next(&mut socket).await;
    assert_eq!(
        (&welcome["type"], &welcome["protocol"], &welcome["operator"]),
        (&json!("welcome"), &json!(2), &json!("bob"))
    );
    assert_eq!(welcome["desk"]["simulated"], true);
}

/// A head of desk attaches to an operator's live RFQ (its snapshot, then
/// its numbered events); when the operator's connection drops, the RFQ
/// stops (interrupted) at once rather than run on unwatched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_operator_stops_their_rfq_and_a_head_of_desk_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--no-blotter".into(), "--duration".into(), "60".into()],
    );
    let mut alice = connect(&server.url).await;
    send(
        &mut alice,
        json!({"op": "hello", "protocol": 2, "token": ALICE_TOKEN}),
    )
    .await;
    assert_eq!(next(&mut alice).await["type"], "welcome");
    send(
        &mut alice,
        json!({"op": "start", "request": 1, "side": "buy", "amount": "1", "pair": "BTCUSDT"}),
    )
    .await;
    let started = next(&mut alice).await;
    assert_eq!(
        (&started["type"], &started["request"]),
        (&json!("started"), &json!(1))
    );
    let rfq_id = started["rfq_id"].as_str().unwrap().to_string();
    let first = next(&mut alice).await;
    assert_eq!(
        (
            &first["type"],
            &first["seq"],
            &first["event"],
            &first["operator"]
        ),
        (
            &json!("event"),
            &json!(1),
            &json!("started"),
            &json!("alice")
        )
    );
    let mut head = connect(&server.url).await;
    send(
        &mut head,
        json!({"op": "hello", "protocol": 2, "token": BOB_TOKEN}),
    )
    .await;
    assert_eq!(next(&mut head).await["type"], "welcome");
    send(&mut head, json!({"op": "attach", "rfq_id": rfq_id})).await;
    let snapshot = next(&mut head).await;
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(snapshot["events"][0]["event"], "started");
    let mut seq = snapshot["seq"].as_u64().unwrap();
    drop(alice);
    let ended = loop {
        let message = next(&mut head).await;
        assert_eq!(message["type"], "event", "{message}");
        assert_eq!(message["seq"].as_u64().unwrap(), seq + 1, "no gap");
        seq += 1;
        if message["event"] == "ended" {
            break message;
        }
    };
    assert_eq!(
        (&ended["reason"], &ended["outcome"]),
        (&json!("interrupted"), &json!("not_accepted"))
    );
    assert_eq!(
        next(&mut head).await,
        json!({"type": "detached", "rfq_id": rfq_id, "detached": "ended"})
    );
}

/// A killed server: the attached operator says so, with the RFQ's last
/// known state, and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_makes_the_operator_say_so_and_exit_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &["--no-blotter".into(), "--duration".into(), "60".into()],
    );
    let mut client = lp_rfq_in(crate::support::empty_dir())
        .env("LP_RFQ_TOKEN", ALICE_TOKEN)
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--desk",
            &server.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = client.stdout.take().unwrap();
    let quote_id = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let event: Value = serde_json::from_str(&line.unwrap()).unwrap();
            if event["event"] == "client_quote" {
                return event["quote_id"].as_str().unwrap().to_string();
            }
        }
        panic!("no client quote");
    })
    .await
    .unwrap();
    server.kill();
    let output = tokio::task::spawn_blocking(move || client.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let url = &server.url;
    assert!(
        stderr.starts_with(&format!("lp-rfq: lost the desk at '{url}' during RFQ R")),
        "{stderr}"
    );
    assert!(stderr.contains("; last known: event "), "{stderr}");
    assert!(stderr.contains(", client quote Q"), "{stderr}");
    // The last quote it knew is the one it showed last, or a later one.
    assert!(stderr.contains(&quote_id[..quote_id.len() - 2]), "{stderr}");
}

/// Says hello as `token` and starts a BUY 1 `pair`: the RFQ's id.
async fn start_rfq(socket: &mut Socket, token: &str, pair: &str) -> String {
    send(
        socket,
        json!({"op": "hello", "protocol": 2, "token": token}),
    )
    .await;
    assert_eq!(next(socket).await["type"], "welcome");
    send(
        socket,
        json!({"op": "start", "request": 1, "side": "buy", "amount": "1", "pair": pair}),
    )
    .await;
    let started = next(socket).await;
    assert_eq!(started["type"], "started", "{started}");
    started["rfq_id"].as_str().unwrap().to_string()
}

/// The desk view over the wire: a third connection's `subscribe_desk`
/// lists both operators' live RFQs, each with its operator, client and
/// request; their rows follow as they change (a client price offered,
/// quoting), and an RFQ its operator stops ends in the view before it
/// leaves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_connection_sees_both_operators_rfqs_in_the_desk_view() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &["--no-blotter".into(), "--duration".into(), "60".into()],
    );
    let mut alice = connect(&server.url).await;
    let alices = start_rfq(&mut alice, ALICE_TOKEN, "BTCUSDT").await;
    let mut bob = connect(&server.url).await;
    let bobs = start_rfq(&mut bob, BOB_TOKEN, "ETHUSDT").await;
    let mut head = connect(&server.url).await;
    send(
        &mut head,
        json!({"op": "hello", "protocol": 2, "token": BOB_TOKEN}),
    )
    .await;
    assert_eq!(next(&mut head).await["type"], "welcome");
    send(&mut head, json!({"op": "subscribe_desk"})).await;
    let view = next(&mut head).await;
    assert_eq!(view["type"], "live_rfqs", "{view}");
    let mut ids = [alices.clone(), bobs.clone()];
    ids.sort();
    assert_eq!(view["rfq_ids"], json!(ids));
    let rows: Vec<(String, String, String, String, String)> = view["rfqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let field = |name: &str| row[name].as_str().unwrap_or("").to_string();
            (
                field("rfq_id"),
                field("operator"),
                field("client"),
                format!("{} {} {}", field("side"), field("amount"), field("pair")),
                row["order"].to_string(),
            )
        })
        .collect();
    let mut expected = vec![
        (
            alices.clone(),
            "alice".to_string(),
            "house".to_string(),
            "buy 1 BTCUSDT".to_string(),
            "null".to_string(),
        ),
        (
            bobs.clone(),
            "bob".to_string(),
            "house".to_string(),
            "buy 1 ETHUSDT".to_string(),
            "null".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    // The built-in mock LPs: every LP of the desk, none with a health.
    assert_eq!(
        view["lps"],
        json!(["LP1", "LP2", "LP3"].map(|lp| json!({"lp": lp, "state": null, "retry_in_ms": null, "reject_rate": null, "reason": null})))
    );
    // Each RFQ quotes: in the view, or in a row that follows.
    let mut quoting: std::collections::HashMap<String, Value> = view["rfqs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["state"] == "quoting")
        .map(|row| (row["rfq_id"].as_str().unwrap().to_string(), row.clone()))
        .collect();
    while quoting.len() < 2 {
        let message = next(&mut head).await;
        if message["desk_event"] == "rfq" && message["state"] == "quoting" {
            quoting.insert(message["rfq_id"].as_str().unwrap().to_string(), message);
        }
    }
    for (rfq_id, operator) in [(&alices, "alice"), (&bobs, "bob")] {
        let row = &quoting[rfq_id];
        assert_eq!(row["operator"], operator, "{row}");
        assert!(row["lp"].as_str().unwrap().starts_with("LP"), "{row}");
        assert!(row["client_price"].as_str().is_some(), "{row}");
        let left = row["left_ms"].as_u64().unwrap();
        assert!(left > 50_000 && left <= 60_000, "{row}");
    }
    // Bob stops his: its row ends (nothing accepted), then it leaves.
    send(
        &mut bob,
        json!({"op": "command", "rfq_id": bobs, "command": "stop"}),
    )
    .await;
    let ended = loop {
        let message = next(&mut head).await;
        if message["desk_event"] == "rfq"
            && message["rfq_id"] == bobs.as_str()
            && message["state"] == "ended"
        {
            break message;
        }
    };
    assert_eq!(
        (&ended["operator"], &ended["left_ms"], &ended["order"]),
        (&json!("bob"), &json!(0), &json!(null))
    );
    assert_eq!(
        next(&mut head).await,
        json!({"type": "desk", "desk_event": "stream_ended", "rfq_id": bobs})
    );
    drop(alice);
}

/// With --desk, a setting only the desk server reads, typed as a flag, is
/// refused by name before anything connects (exit 2); the same setting
/// in the operator's environment is the machine's and is not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_desk_a_server_setting_typed_as_a_flag_is_refused_by_name() {
    for (flags, named) in [
        (&["--lps", "lps.toml"][..], "--lps"),
        (&["--scenario", "last-look"][..], "--scenario"),
        (&["--markup-bps", "7"][..], "--markup-bps"),
        (&["--blotter", "x.db"][..], "--blotter"),
        (&["--no-blotter"][..], "--no-blotter"),
        (&["--duration", "5"][..], "--duration"),
    ] {
        let mut args = vec!["quote", "buy", "1", "BTCUSDT", "--plain"];
        args.extend_from_slice(flags);
        let output = operator("ws://127.0.0.1:9", Some(ALICE_TOKEN), &args).await;
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stderr),
            format!("lp-rfq: {named} is the desk server's setting; it is ignored with --desk (give it to `lp-rfq serve`)\n"),
        );
        assert!(output.stdout.is_empty());
    }
    // The prompt too.
    let mut prompt = lp_rfq_in(crate::support::empty_dir());
    prompt.env("LP_RFQ_TOKEN", ALICE_TOKEN).args([
        "--plain",
        "--speed",
        "2",
        "--desk",
        "ws://127.0.0.1:9",
    ]);
    let output = tokio::task::spawn_blocking(move || prompt.output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "lp-rfq: --speed is the desk server's setting; it is ignored with --desk (give it to `lp-rfq serve`)\n"
    );
    // From the environment, and the operator's own limit as a flag: on to
    // the (absent) desk.
    let mut quote = lp_rfq_in(crate::support::empty_dir());
    quote
        .env("LP_RFQ_TOKEN", ALICE_TOKEN)
        .env("MARKUP_BPS", "7")
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--plain",
            "--max-notional",
            "5000000",
            "--desk",
            "ws://127.0.0.1:9",
        ]);
    let output = tokio::task::spawn_blocking(move || quote.output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .starts_with("lp-rfq: cannot reach the desk at 'ws://127.0.0.1:9': "),
        "{}",
        said(&output)
    );
}

/// The desk's own MAX_NOTIONAL holds whatever the operator's environment
/// says: a request above it is refused with the reason (exit 2) unless
/// the operator confirms it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_refuses_a_notional_above_its_own_limit_unless_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--no-blotter".into(),
            "--duration".into(),
            "1".into(),
            "--max-notional".into(),
            "50000".into(),
        ],
    );
    let quote = ["quote", "buy", "1", "BTCUSDT", "--json"];
    let refused = operator(&server.url, Some(ALICE_TOKEN), &quote).await;
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.starts_with("lp-rfq: the desk's limit: notional 100,"),
        "{stderr}"
    );
    assert!(
        stderr.ends_with(
            " USDT is above MAX_NOTIONAL 50,000: confirm it to ask for quotes (--confirm-notional)\n"
        ),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());
    let confirmed = operator(
        &server.url,
        Some(ALICE_TOKEN),
        &[
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--confirm-notional",
        ],
    )
    .await;
    assert!(confirmed.status.success(), "{}", said(&confirmed));
    let events = events(&confirmed);
    assert_eq!(events[0]["event"], "started");
    assert_eq!(events.last().unwrap()["event"], "ended");
}

/// One B2C2-style venue limited by the desk to 4 requests a second (the
/// venue itself allows 8), its band corroborating the lone LP's price.
fn rate_limited_venue(dir: &Path, url: &str) -> PathBuf {
    let file = dir.join("b2c2.toml");
    std::fs::write(
        &file,
        format!(
            "[[lp]]\nname = \"B2C2\"\nkind = \"b2c2\"\nurl = \"{url}\"\ntoken_env = \"E2E_B2C2_TOKEN\"\nsymbol = \"{{base}}{{quote}}.SPOT\"\nmax_requests_per_sec = 4\n\n[bands]\nBTCUSDT = {{ min = \"50000\", max = \"200000\" }}\n"
        ),
    )
    .unwrap();
    file
}

/// The second measurement, fixed: three operators polling every
/// 100 ms through one desk share its one rate limit for the venue, which
/// never answers 429; three separate processes with the same limit each
/// (the control) do draw 429s from it.
///
/// The venue allows 8 a second, twice the desk's 4: the desk counts its
/// requests when it sends them and the venue when they arrive, so the 4 a
/// burst sends at the end of one of the desk's seconds and the 4 at the
/// start of the next can land in one of the venue's when the first are
/// delayed a millisecond more (a 429 at 1004 ms on a loaded CI machine
/// with the venue at 5; docs/health.md says to leave that room). Three
/// processes still ask 12 a second between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_operators_on_one_desk_never_draw_a_429_where_three_processes_do() {
    let venue = crate::fake_venues::FakeB2c2::start().await;
    venue.limit_per_second(8);
    // Quotes firm for 2.5 s leave the client 0.5 s after the desk's 2 s
    // buffer: every 100 ms poll asks the venue again, the locked LP too.
    venue.state.lock().unwrap().validity_ms = 2_500;
    let dir = tempfile::tempdir().unwrap();
    let venues = rate_limited_venue(dir.path(), &venue.url);
    let server = Server::start(
        dir.path(),
        &[
            "--lps".into(),
            venues.display().to_string(),
            "--no-blotter".into(),
            "--duration".into(),
            "3".into(),
            "--poll-interval-ms".into(),
            "100".into(),
        ],
    );
    let quote = ["quote", "buy", "1", "BTCUSDT", "--json"];
    let (alice, bob, alice_again) = tokio::join!(
        operator(&server.url, Some(ALICE_TOKEN), &quote),
        operator(&server.url, Some(BOB_TOKEN), &quote),
        operator(&server.url, Some(ALICE_TOKEN), &quote),
    );
    for output in [&alice, &bob, &alice_again] {
        assert!(output.status.success(), "{}", said(output));
        let events = events(output);
        assert!(events.iter().any(|event| event["event"] == "lp_quote"));
        assert!(
            !events.iter().any(|event| event["kind"] == "rate_limited"),
            "{}",
            said(output)
        );
    }
    let asked_through_the_desk = venue.quotes();
    assert_eq!(venue.throttled(), 0, "the venue never refused the desk");
    // Three 3 s streams at the desk's 4 a second: about 12 requests, shared.
    assert!(
        (8..=17).contains(&asked_through_the_desk),
        "{asked_through_the_desk}"
    );
    drop(server);

    // The control: the same three streams as three processes, each with
    // its own limit of 4 a second.
    let local = || {
        let mut command = lp_rfq_in(crate::support::empty_dir());
        command
            .env("E2E_B2C2_TOKEN", crate::fake_venues::B2C2_TOKEN)
            .args(["quote", "buy", "1", "BTCUSDT", "--json", "--duration", "3"])
            .args(["--poll-interval-ms", "100", "--no-blotter", "--lps"])
            .arg(&venues);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };
    let (one, two, three) = tokio::join!(local(), local(), local());
    for output in [one.unwrap(), two.unwrap(), three.unwrap()] {
        assert!(output.status.success(), "{}", said(&output));
    }
    assert!(
        venue.throttled() > 0,
        "three processes at 4 a second each against a venue that allows 8 were never refused ({} asked)",
        venue.quotes() - asked_through_the_desk
    );
}

/// Reads a child's stdout on a thread, a chunk at a time.
fn chunks(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (sender, chunks) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut stdout = stdout;
        let mut buffer = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 {
                break;
            }
            let _ = sender.send(String::from_utf8_lossy(&buffer[..n]).to_string());
        }
    });
    chunks
}

/// Waits (up to 20 s) until `seen` holds `text`.
fn wait_for(chunks: &std::sync::mpsc::Receiver<String>, seen: &mut String, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !seen.contains(text) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match chunks.recv_timeout(left) {
            Ok(chunk) => seen.push_str(&chunk),
            Err(_) => panic!("no {text:?} within 20 s: {seen}"),
        }
    }
}

/// The prompt over --desk, end to end from the binary: a request, `a`
/// and Enter accept the live quote, the desk fills it, and the prompt
/// prints the ticket and goes on until its input ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_over_desk_starts_accepts_and_fills() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--no-blotter".into(),
            "--duration".into(),
            "20".into(),
            "--mock-failure-rate".into(),
            "0".into(),
            "--mock-reject-rate".into(),
            "0".into(),
        ],
    );
    let url = server.url.clone();
    let (status, seen) = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = lp_rfq_in(crate::support::empty_dir())
            .env("LP_RFQ_TOKEN", BOB_TOKEN)
            .args(["--plain", "--desk", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let output = chunks(child.stdout.take().unwrap());
        let mut seen = String::new();
        stdin.write_all(b"b\n1\nBTCUSDT\n").unwrap();
        wait_for(&output, &mut seen, "LOCKED ");
        stdin.write_all(b"a\n").unwrap();
        wait_for(&output, &mut seen, "ACCEPT? client BUY 1 BTC at ");
        stdin.write_all(b"\n").unwrap();
        wait_for(&output, &mut seen, "stream ended (filled)");
        drop(stdin);
        let status = child.wait().unwrap();
        while let Ok(chunk) = output.recv_timeout(Duration::from_millis(200)) {
            seen.push_str(&chunk);
        }
        (status, seen)
    })
    .await
    .unwrap();
    assert!(status.success(), "{seen}");
    assert!(seen.contains("SIMULATED"), "{seen}");
    assert!(seen.contains("FILLED by "), "{seen}");
    assert!(seen.contains("| Desk P&L: "), "{seen}");
    assert!(!seen.contains(BOB_TOKEN));
}

/// The console on a desk server that dies: with a stream running, the
/// console's loop ends with what was last known of it (the binary then
/// restores the screen, says so and exits 1); idle, it ends too, rather
/// than sit on a desk that is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_ends_when_it_loses_the_desk() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use lp_rfq::desk::link::DeskLink;
    use lp_rfq::desk::remote::{DeskGone, DeskLost, RemoteDesk};
    use lp_rfq::ui::Event;
    let key = |code| Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
    let settings =
        lp_rfq::config::Settings::from_args(&lp_rfq::config::SettingsArgs::default()).unwrap();
    for streaming in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::start(
            dir.path(),
            &["--no-blotter".into(), "--duration".into(), "60".into()],
        );
        let token = lp_rfq::secret::Secret::new(ALICE_TOKEN.to_string());
        let remote = RemoteDesk::connect(&server.url, Some(token)).await.unwrap();
        let link = DeskLink::Remote {
            desk: remote,
            settings: &settings,
            confirm_notional: false,
        };
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
        let (keys, inputs) = tokio::sync::mpsc::channel(64);
        let (_interrupt, interrupts) = tokio::sync::mpsc::unbounded_channel();
        let operator = async {
            if streaming {
                let typed = "b\n1\nBTCUSDT\n";
                for c in typed.chars() {
                    let code = if c == '\n' {
                        KeyCode::Enter
                    } else {
                        KeyCode::Char(c)
                    };
                    keys.send(key(code)).await.unwrap();
                }
            }
            tokio::time::sleep(Duration::from_millis(1500)).await;
            server.kill();
        };
        let (ended, ()) = tokio::join!(
            tokio::time::timeout(
                Duration::from_secs(20),
                lp_rfq::ui::event_loop(&mut terminal, &link, interrupts, inputs)
            ),
            operator
        );
        let error = ended
            .expect("the console ends once the desk is gone")
            .unwrap_err();
        if streaming {
            let lost = error.downcast_ref::<DeskLost>().expect("a lost stream");
            assert_eq!(lost.exit_code(), 1);
            let said = lost.to_string();
            assert!(
                said.starts_with(&format!("lost the desk at '{}' during RFQ R", server.url)),
                "{said}"
            );
            assert!(said.contains("; last known: event "), "{said}");
        } else {
            let gone = error.downcast_ref::<DeskGone>().expect("a lost desk");
            assert_eq!(gone.url, server.url);
        }
    }
}

const DESK_CLIENTS: &str =
    "[[client]]\nname = \"acme\"\nmarkup_bps = \"8\"\npair_markup_bps = { ETHUSDT = \"12\" }\n";

/// A desk of seeded mocks at ten times real speed, with the clients
/// file `clients`, recording into desk.db.
fn server_with_clients(dir: &Path, clients: &str) -> Server {
    std::fs::write(dir.join("clients.toml"), clients).unwrap();
    Server::start(
        dir,
        &[
            "--clients".into(),
            "clients.toml".into(),
            "--seed".into(),
            "7".into(),
            "--speed".into(),
            "10".into(),
            "--duration".into(),
            "1".into(),
            "--blotter".into(),
            "desk.db".into(),
        ],
    )
}

/// `quote --client` over `--desk` is the client's request on the desk:
/// priced at its markup to the last digit (as the same request in a
/// single process is, tests/integration/clients.rs) and recorded as it;
/// a client the desk does not know is refused with the desk's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_a_client_over_desk_is_priced_and_recorded_as_that_clients() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_clients(dir.path(), DESK_CLIENTS);
    let acme = operator(
        &server.url,
        Some(ALICE_TOKEN),
        &[
            "quote", "sell", "2", "BTCUSDT", "--client", "acme", "--json",
        ],
    )
    .await;
    assert!(acme.status.success(), "{}", said(&acme));
    let lines = events(&acme);
    let quote = lines
        .iter()
        .find(|line| line["event"] == "client_quote")
        .expect("a client quote");
    // 99982.49 × (1 − 0.0008) = 99902.504008 → 99902.50 (down for a
    // selling client); × 2 = 199805.00.
    assert_eq!(
        (
            &quote["lp"],
            &quote["lp_price"],
            &quote["markup_bps"],
            &quote["client_price"],
            &quote["client_receives"]
        ),
        (
            &json!("LP1"),
            &json!("99982.49"),
            &json!("8"),
            &json!("99902.50"),
            &json!("199805.00")
        )
    );
    assert_eq!(lines[0]["markup_bps"], "8");

    let nobody = operator(
        &server.url,
        Some(BOB_TOKEN),
        &[
            "quote", "buy", "1", "BTCUSDT", "--client", "nobody", "--json",
        ],
    )
    .await;
    assert_eq!(nobody.status.code(), Some(2), "{}", said(&nobody));
    assert_eq!(
        String::from_utf8_lossy(&nobody.stderr),
        "lp-rfq: unknown client 'nobody': clients file 'clients.toml' lists acme, house\n"
    );
    assert!(nobody.stdout.is_empty());
    let (status, _) = server.stop();
    assert!(status.success());
    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT client, operator, markup_bps FROM rfqs ORDER BY id")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows, [("acme".into(), "alice".into(), "8".into())]);
}

/// A two-way request over `--desk` quotes both sides on the desk and
/// fills the side the client takes (`--accept-side`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_way_request_over_desk_fills_the_side_the_client_takes() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_clients(dir.path(), DESK_CLIENTS);
    let output = operator(
        &server.url,
        Some(ALICE_TOKEN),
        &[
            "quote",
            "two-way",
            "1",
            "BTCUSDT",
            "--client",
            "acme",
            "--accept-after",
            "500ms",
            "--accept-side",
            "buy",
            "--json",
        ],
    )
    .await;
    assert!(output.status.success(), "{}", said(&output));
    let lines = events(&output);
    let sides: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|line| line["event"] == "client_quote")
        .filter_map(|line| line["two_way_side"].as_str())
        .collect();
    assert_eq!(sides, ["buy", "sell"].into());
    let filled: Vec<&Value> = lines
        .iter()
        .filter(|line| line["event"] == "filled")
        .collect();
    assert_eq!(filled.len(), 1, "{}", said(&output));
    assert_eq!(filled[0]["two_way_side"], "buy");
    assert_eq!(lines.last().unwrap()["outcome"], "filled");
}

/// The prompt over `--desk` asks whom each request is for among the
/// desk's clients (from its welcome) and the desk records it as theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_over_desk_names_the_desks_clients() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with_clients(dir.path(), DESK_CLIENTS);
    let url = server.url.clone();
    let (status, seen) = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = lp_rfq_in(crate::support::empty_dir())
            .env("LP_RFQ_TOKEN", BOB_TOKEN)
            .args(["--plain", "--desk", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let output = chunks(child.stdout.take().unwrap());
        let mut seen = String::new();
        wait_for(&output, &mut seen, "Client (acme, house; Enter = house): ");
        stdin.write_all(b"acme\ns\n2\nBTCUSDT\n").unwrap();
        wait_for(&output, &mut seen, "stream ended");
        wait_for(&output, &mut seen, "Client (acme, house; Enter = acme): ");
        drop(stdin);
        let status = child.wait().unwrap();
        (status, seen)
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?} {seen}");
    // acme's 8 bps on LP1's 99982.49, down for a selling client.
    assert!(seen.contains("Client price:    99,902.50 USDT"), "{seen}");
    let (status, _) = server.stop();
    assert!(status.success());
    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let client: String = conn
        .query_row("SELECT client FROM rfqs", [], |row| row.get(0))
        .unwrap();
    assert_eq!(client, "acme");
}

/// Two of a client's requests live at once are held to its daily limit
/// together: the second, started while the first runs, gets only the
/// headroom the first leaves (its notional is held while it lives), and
/// once the first has ended its hold is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_of_a_client_are_held_to_its_daily_headroom_together() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("clients.toml"),
        "[[client]]\nname = \"acme\"\ndaily_notional = \"150000\"\n",
    )
    .unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--clients".into(),
            "clients.toml".into(),
            "--duration".into(),
            "2".into(),
            "--no-blotter".into(),
        ],
    );
    let url = server.url.clone();
    let mut first = lp_rfq_in(crate::support::empty_dir())
        .env("LP_RFQ_TOKEN", ALICE_TOKEN)
        .args(["quote", "buy", "1", "BTCUSDT", "--client", "acme", "--json"])
        .args(["--desk", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first_out = chunks(first.stdout.take().unwrap());
    let mut seen = String::new();
    wait_for(&first_out, &mut seen, "\"event\":\"started\"");
    let acme = |amount: &'static str| {
        let url = url.clone();
        async move {
            operator(
                &url,
                Some(BOB_TOKEN),
                &[
                    "quote", "buy", amount, "BTCUSDT", "--client", "acme", "--json",
                ],
            )
            .await
        }
    };
    let refused = acme("1").await;
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "lp-rfq: client 'acme': notional 100,000.00 USDT is above what is left of its daily_notional of 150,000 USDT (filled today, UTC: 0.00 USDT; held by its live RFQs: 100,000.00 USDT; headroom 50,000.00 USDT)\n"
    );
    assert!(refused.stdout.is_empty());
    // What the first leaves is still there to take.
    let within = acme("0.5").await;
    assert!(within.status.success(), "{}", said(&within));
    let status = tokio::task::spawn_blocking(move || first.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    // Neither filled: both holds are given back with their ends.
    let after = acme("1.5").await;
    assert!(after.status.success(), "{}", said(&after));
}

/// A connection that stops reading is dropped once its bounded outbox
/// fills, and the desk says why; another operator's stream, running at
/// the same time on the same desk, goes on to its end unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stops_reading_is_dropped_and_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--no-blotter".into(),
            "--mock-lps".into(),
            "10".into(),
            "--poll-interval-ms".into(),
            "100".into(),
            "--speed".into(),
            "50".into(),
            "--duration".into(),
            "120".into(),
        ],
    );
    // A receive window of a few KiB: the server's socket fills quickly
    // and everything else waits in its outbox.
    let address: std::net::SocketAddr = server.url.trim_start_matches("ws://").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let tcp = tcp.connect(address).await.unwrap();
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (mut stuck, _) = tokio_tungstenite::client_async(server.url.as_str(), tcp)
        .await
        .unwrap();
    send(
        &mut stuck,
        json!({"op": "hello", "protocol": 2, "token": ALICE_TOKEN}),
    )
    .await;
    assert_eq!(next(&mut stuck).await["type"], "welcome");
    for request in 1..=20 {
        send(
            &mut stuck,
            json!({"op": "start", "request": request, "side": "buy", "amount": "1", "pair": "BTCUSDT"}),
        )
        .await;
    }
    // From here on the connection reads nothing until the desk says it
    // dropped it; then it reads what was in flight, to the end.
    let dropped = "the connection fell 4096 messages behind the desk: closed so that it cannot hold the desk back";
    let server_said = server.stderr.clone();
    let drain = async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !server_said.lock().unwrap().contains(dropped) {
            assert!(
                std::time::Instant::now() < deadline,
                "never dropped: {}",
                server_said.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::timeout(Duration::from_secs(20), async {
            let mut last = Value::Null;
            while let Some(Ok(frame)) = stuck.next().await {
                if let Message::Text(text) = frame {
                    last = serde_json::from_str(text.as_str()).unwrap();
                }
            }
            last
        })
        .await
        .expect("the server closed the stuck connection")
    };
    let bob = operator(
        &server.url,
        Some(BOB_TOKEN),
        &["quote", "buy", "1", "BTCUSDT", "--json"],
    );
    let (last, bob) = tokio::join!(drain, bob);
    assert_eq!(last, json!({"type": "closing", "reason": dropped}));
    assert!(bob.status.success(), "{}", said(&bob));
    let events = events(&bob);
    assert_eq!(events[0]["event"], "started");
    assert_eq!(events.last().unwrap()["event"], "ended");
    assert_eq!(events.last().unwrap()["reason"], "duration");
    let (status, _) = server.stop();
    assert!(status.success());
}

/// A desk server stopped and started again on the same address is
/// attached to again as before, and its blotter goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_is_attached_again() {
    let dir = tempfile::tempdir().unwrap();
    let listen = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        free.local_addr().unwrap().to_string()
    };
    let args = [
        "--seed".to_string(),
        "7".into(),
        "--speed".into(),
        "10".into(),
        "--duration".into(),
        "1".into(),
        "--blotter".into(),
        "desk.db".into(),
    ];
    let quote = ["quote", "buy", "1", "BTCUSDT", "--json"];
    let first = Server::start_at(dir.path(), &listen, &args);
    let url = first.url.clone();
    let before = operator(&url, Some(ALICE_TOKEN), &quote).await;
    assert!(before.status.success(), "{}", said(&before));
    let (status, _) = first.stop();
    assert!(status.success());
    let gone = operator(&url, Some(ALICE_TOKEN), &quote).await;
    assert_eq!(gone.status.code(), Some(1), "{}", said(&gone));
    assert!(
        String::from_utf8_lossy(&gone.stderr)
            .starts_with(&format!("lp-rfq: cannot reach the desk at '{url}': ")),
        "{}",
        said(&gone)
    );

    let again = Server::start_at(dir.path(), &listen, &args);
    assert_eq!(again.url, url);
    let after = operator(&url, Some(ALICE_TOKEN), &quote).await;
    assert!(after.status.success(), "{}", said(&after));
    assert_eq!(events(&after)[0]["operator"], "alice");
    let (status, _) = again.stop();
    assert!(status.success());
    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let operators: Vec<String> = conn
        .prepare("SELECT operator FROM rfqs ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(operators, ["alice", "alice"]);
}

/// An operator whose connection goes while their order is out learns
/// that order's outcome when they attach again: the desk waits for it,
/// records it, and keeps the RFQ's end for the operator's next welcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_gone_while_an_order_was_out_sees_its_outcome_on_reconnect() {
    let venue = Acceptor::start(Script {
        quotes: Quotes::TwoWay {
            bid: dec!(99900.00),
            offer: dec!(100020.00),
            bid_size: dec!(5),
            offer_size: dec!(5),
            valid_ms: 10_000,
        },
        orders: Orders::Silent,
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let venues = fix_venue(dir.path(), venue.port);
    let server = Server::start(
        dir.path(),
        &[
            "--lps".into(),
            venues.display().to_string(),
            "--no-blotter".into(),
            "--duration".into(),
            "10".into(),
            "--order-timeout-ms".into(),
            "1500".into(),
        ],
    );
    let mut alice = lp_rfq_in(crate::support::empty_dir())
        .env("LP_RFQ_TOKEN", ALICE_TOKEN)
        .args([
            "quote",
            "buy",
            "1",
            "BTCUSDT",
            "--json",
            "--accept-after",
            "1s",
        ])
        .args(["--desk", &server.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let output = chunks(alice.stdout.take().unwrap());
    let mut seen = String::new();
    wait_for(&output, &mut seen, "\"event\":\"order_sent\"");
    alice.kill().unwrap();
    alice.wait().unwrap();
    let started: Value = serde_json::from_str(seen.lines().next().unwrap()).unwrap();
    let rfq_id = started["rfq_id"].as_str().unwrap().to_string();

    // The desk waits for the order (it never answers: unknown), then
    // keeps the end for alice; bob's welcome carries nothing of it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let ended = loop {
        let mut socket = connect(&server.url).await;
        send(
            &mut socket,
            json!({"op": "hello", "protocol": 2, "token": ALICE_TOKEN}),
        )
        .await;
        let welcome = next(&mut socket).await;
        if let Some(ended) = welcome.get("ended_while_away") {
            break ended.clone();
        }
        assert!(std::time::Instant::now() < deadline, "{welcome}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ended.as_array().unwrap().len(), 1, "{ended}");
    let ended = &ended[0];
    // Its connection gone, the RFQ was stopped (interrupted) once the
    // order it had out was resolved: never answered, unknown.
    assert_eq!(
        (
            &ended["event"],
            &ended["rfq_id"],
            &ended["reason"],
            &ended["outcome"],
            &ended["client_price"]
        ),
        (
            &json!("ended"),
            &json!(rfq_id),
            &json!("interrupted"),
            &json!("unknown"),
            &json!("100070.01")
        )
    );
    let mut socket = connect(&server.url).await;
    send(
        &mut socket,
        json!({"op": "hello", "protocol": 2, "token": BOB_TOKEN}),
    )
    .await;
    assert_eq!(next(&mut socket).await.get("ended_while_away"), None);

    // lp-rfq says it when alice attaches again.
    let again = operator(
        &server.url,
        Some(ALICE_TOKEN),
        &["quote", "buy", "1", "BTCUSDT", "--json"],
    )
    .await;
    let stderr = String::from_utf8_lossy(&again.stderr);
    let quote_id = ended["quote_id"].as_str().unwrap();
    let told = format!(
        "lp-rfq: RFQ {rfq_id} ended while this operator was away (interrupted): unknown, quote {quote_id} at 100070.01: resolve it with the LP (lp-rfq orders)\n"
    );
    assert!(stderr.starts_with(&told), "{told}{}", said(&again));
}

/// Several streams on one connection, their events coming faster than a
/// frame at a time (the desk writes whatever is queued and flushes once):
/// every stream's events still arrive in order, numbered from 1 with no
/// gap, each stream ends, and nothing else comes between a stream's
/// `started` answer and its first event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_connection_gets_every_streams_events_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--no-blotter".into(),
            "--mock-lps".into(),
            "10".into(),
            "--poll-interval-ms".into(),
            "100".into(),
            "--mock-min-delay".into(),
            "0.01".into(),
            "--mock-max-delay".into(),
            "0.05".into(),
            "--speed".into(),
            "20".into(),
            "--duration".into(),
            "20".into(),
        ],
    );
    let mut socket = connect(&server.url).await;
    send(
        &mut socket,
        json!({"op": "hello", "protocol": 2, "token": ALICE_TOKEN}),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "welcome");
    const STREAMS: u64 = 6;
    for request in 1..=STREAMS {
        send(
            &mut socket,
            json!({"op": "start", "request": request, "side": if request % 2 == 0 { "sell" } else { "buy" }, "amount": "1", "pair": "BTCUSDT"}),
        )
        .await;
    }
    // Per RFQ: the last seq read, and whether it has ended.
    let mut streams: std::collections::HashMap<String, (u64, bool)> = Default::default();
    let mut events = 0;
    while streams.len() < STREAMS as usize || streams.values().any(|(_, ended)| !ended) {
        let message = next(&mut socket).await;
        match message["type"].as_str().unwrap() {
            "started" => {
                let rfq_id = message["rfq_id"].as_str().unwrap().to_string();
                assert_eq!(streams.insert(rfq_id, (0, false)), None, "{message}");
            }
            "event" => {
                let rfq_id = message["rfq_id"].as_str().unwrap();
                let (seq, ended) = streams
                    .get_mut(rfq_id)
                    .unwrap_or_else(|| panic!("an event before its stream's start: {message}"));
                assert!(!*ended, "an event after its stream's end: {message}");
                assert_eq!(
                    message["seq"].as_u64().unwrap(),
                    *seq + 1,
                    "no gap: {message}"
                );
                if *seq == 0 {
                    assert_eq!(message["event"], "started", "{message}");
                }
                *seq += 1;
                *ended = message["event"] == "ended";
                events += 1;
            }
            _ => panic!("unexpected: {message}"),
        }
    }
    // 20 s of 100 ms polls of 10 LPs: far more than a frame per wake-up.
    assert!(events > 1000 * STREAMS, "{events} events");
    let (status, said) = server.stop();
    assert!(status.success());
    assert!(!said.contains("behind the desk"), "{said}");
}
