//! The client API over a WebSocket, end to end from the binary over
//! loopback (`lp-rfq serve --client-ws`): a client authenticates with its
//! bearer token, asks, is streamed its quotes at its own markup, hits one
//! and is filled at the client price; each refusal has its reason; a
//! repeated client order id never executes twice; nothing it receives
//! names an LP or its price.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::fix_acceptor::{Acceptor, Orders, Quotes, Script};
use crate::support::lp_rfq_in;

pub(crate) const ACME_TOKEN: &str = "acme-token-Vb31xQ9zKw";
const SLOW_TOKEN: &str = "slow-token-Pn52yR8tJm";
pub(crate) const DAILY_TOKEN: &str = "daily-token-Hc40tN6wQe";
const OPERATOR_TOKEN: &str = "alice-token-Zq81mW0pXr";

const CLIENTS: &str = r#"
[[client]]
name = "acme"
markup_bps = "8"
max_notional = "250000"
pairs = ["BTCUSDT", "SOLUSDT"]
token_env = "CLIENT_TOKEN_ACME"

[[client]]
name = "slow"
token_env = "CLIENT_TOKEN_SLOW"
max_rfqs_per_sec = 1
"#;

/// A desk server with a FIX venue (its band corroborates the lone LP)
/// and the client API.
pub(crate) struct Server {
    child: Child,
    pub(crate) client_url: String,
    /// Where operators connect (alice's token is OPERATOR_TOKEN).
    pub(crate) operator_url: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Path, venue_port: u16) -> Server {
        Server::start_with_clients(dir, venue_port, CLIENTS)
    }

    /// [`Server::start`] with `clients` as its clients file (a client's
    /// `token_env` may be CLIENT_TOKEN_ACME, _SLOW or _DAILY).
    pub(crate) fn start_with_clients(dir: &Path, venue_port: u16, clients_toml: &str) -> Server {
        let operators = dir.join("operators.toml");
        std::fs::write(
            &operators,
            "[[operator]]\nname = \"alice\"\ntoken_env = \"DESK_TOKEN_ALICE\"\n",
        )
        .unwrap();
        let clients = dir.join("clients.toml");
        std::fs::write(&clients, clients_toml).unwrap();
        let venues = dir.join("lps.toml");
        std::fs::write(
            &venues,
            format!(
                "[[lp]]\nname = \"FixLP\"\nkind = \"fix44\"\nhost = \"127.0.0.1\"\nport = {venue_port}\nsender_comp_id = \"DESK\"\ntarget_comp_id = \"LP\"\npassword_env = \"FIX_PASSWORD_E2E\"\n\n[bands]\nBTCUSDT = {{ min = \"50000\", max = \"200000\" }}\n"
            ),
        )
        .unwrap();
        let mut child = lp_rfq_in(dir)
            .env("DESK_TOKEN_ALICE", OPERATOR_TOKEN)
            .env("CLIENT_TOKEN_ACME", ACME_TOKEN)
            .env("CLIENT_TOKEN_SLOW", SLOW_TOKEN)
            .env("CLIENT_TOKEN_DAILY", DAILY_TOKEN)
            .env("FIX_PASSWORD_E2E", "fix-pass-S3cret")
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--client-ws",
                "127.0.0.1:0",
            ])
            .arg("--operators")
            .arg(&operators)
            .arg("--clients")
            .arg(&clients)
            .arg("--lps")
            .arg(&venues)
            .arg("--blotter")
            .arg(dir.join("desk.db"))
            .args(["--duration", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut operator_url = String::new();
        let client_url = loop {
            let line = lines
                .next()
                .expect("the server says where clients connect")
                .unwrap();
            stderr.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(at) = line.find("desk serving on ws://") {
                let url = &line[at + "desk serving on ".len()..];
                operator_url = url.split_whitespace().next().unwrap().to_string();
            }
            if let Some(at) = line.find("client API (WebSocket) on ws://") {
                let url = &line[at + "client API (WebSocket) on ".len()..];
                break url.split_whitespace().next().unwrap().to_string();
            }
        };
        assert!(
            !operator_url.is_empty(),
            "the server says where operators connect"
        );
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server {
            child,
            client_url,
            operator_url,
            stderr,
        }
    }

    /// SIGTERM, then waits: the exit status and everything it said.
    pub(crate) fn stop(mut self) -> (std::process::ExitStatus, String) {
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A client's connection with `token`, keeping every raw frame it
/// receives in `raw`.
pub(crate) struct Client {
    socket: Socket,
    pub(crate) raw: Vec<String>,
}

impl Client {
    pub(crate) async fn connect(url: &str, token: &str) -> Client {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Authorization", format!("Bearer {token}").parse().unwrap());
        let socket = tokio_tungstenite::connect_async(request).await.unwrap().0;
        Client {
            socket,
            raw: Vec::new(),
        }
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// The next message, within 10 s.
    pub(crate) async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), self.socket.next())
                .await
                .expect("a message within 10 s")
                .expect("the connection is open")
                .unwrap();
            if let Message::Text(text) = frame {
                self.raw.push(text.as_str().to_string());
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// The next message of `kind`, skipping others.
    pub(crate) async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let message = self.next().await;
            if message["type"] == kind {
                return message;
            }
        }
    }
}

pub(crate) fn venue_script() -> Script {
    Script {
        quotes: Quotes::TwoWay {
            bid: dec!(99900.00),
            offer: dec!(100020.00),
            bid_size: dec!(5),
            offer_size: dec!(5),
            valid_ms: 10_000,
        },
        orders: Orders::Fill,
        ..Script::default()
    }
}

/// The issue's flow on the WebSocket: request, a quote at acme's 8 bps
/// (the LP's 100020.00 offer × 1.0008 = 100100.016, rounded up for a
/// client buy), hit, filled at exactly that price; the same client order
/// id again is answered with the first fill and never reaches the venue
/// twice; its status says filled; the blotter records the RFQ as acme's,
/// on channel ws; and nothing the client received names the LP or its
/// prices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_client_requests_hits_and_is_filled_at_its_own_markup() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut acme = Client::connect(&server.client_url, ACME_TOKEN).await;
    acme.send(json!({"type": "quote_request", "client_rfq_id": "r-1", "pair": "BTCUSDT", "side": "buy", "amount": "1"}))
        .await;
    let quote = acme.next_of("quote").await;
    assert_eq!(quote["client_rfq_id"], "r-1");
    assert_eq!(quote["offer"], "100100.02");
    assert_eq!(quote["bid"], Value::Null);
    assert_eq!(quote["amount"], "1.00000000");
    assert!(quote["valid_until"].as_str().unwrap().ends_with('Z'));
    let quote_id = quote["quote_id"].as_str().unwrap().to_string();
    let order = json!({"type": "order", "client_order_id": "o-1", "quote_id": quote_id, "side": "buy", "amount": "1", "price": "100100.02"});
    acme.send(order.clone()).await;
    let filled = acme.next_of("execution_report").await;
    assert_eq!(
        filled,
        json!({"type": "execution_report", "client_order_id": "o-1", "quote_id": quote_id, "status": "filled", "price": "100100.02", "amount": "1.00000000"})
    );
    acme.send(order).await;
    let again = acme.next_of("execution_report").await;
    assert_eq!(again, filled, "the first outcome, not a second execution");
    acme.send(json!({"type": "order_status", "client_order_id": "o-1"}))
        .await;
    let status = acme.next_of("execution_report").await;
    assert_eq!(
        (
            &status["status"],
            &status["price"],
            &status["status_request"]
        ),
        (&json!("filled"), &json!("100100.02"), &json!(true))
    );
    acme.send(json!({"type": "order_status", "client_order_id": "never"}))
        .await;
    assert_eq!(
        acme.next_of("execution_report").await["status"],
        "not_found"
    );
    assert_eq!(venue.received("D").len(), 1, "one order reached the venue");
    for frame in &acme.raw {
        for secret in ["FixLP", "100020", "99900", "LP"] {
            assert!(!frame.contains(secret), "{secret} in {frame}");
        }
    }
    drop(acme);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    for secret in [ACME_TOKEN, SLOW_TOKEN, OPERATOR_TOKEN] {
        assert!(!said.contains(secret));
    }
    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let row: (String, String, String, Option<String>) = conn
        .query_row(
            "SELECT client, channel, outcome, final_client_price FROM rfqs",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "acme".into(),
            "ws".into(),
            "filled".into(),
            Some("100100.02".into())
        )
    );
}

/// #28 item 5: an operator's desk view shows a client's own RFQ live,
/// with its client, its channel (`ws`, no operator) and, two-way, both
/// sides' LP and client price: the LP's 99,900.00 bid less acme's 8 bps
/// (99,820.08) and its 100,020.00 offer plus them (100,100.02).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_desk_view_shows_a_clients_two_way_rfq_with_its_channel() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut alice = crate::desk_server::connect(&server.operator_url).await;
    crate::desk_server::send(
        &mut alice,
        json!({"op": "hello", "protocol": 2, "token": OPERATOR_TOKEN}),
    )
    .await;
    assert_eq!(
        crate::desk_server::next(&mut alice).await["type"],
        "welcome"
    );
    crate::desk_server::send(&mut alice, json!({"op": "subscribe_desk"})).await;
    assert_eq!(
        crate::desk_server::next(&mut alice).await["type"],
        "live_rfqs"
    );
    let mut acme = Client::connect(&server.client_url, ACME_TOKEN).await;
    acme.send(json!({"type": "quote_request", "client_rfq_id": "r-2w", "pair": "BTCUSDT", "side": "two_way", "amount": "1"}))
        .await;
    acme.next_of("quote").await;
    let row = loop {
        let message = crate::desk_server::next(&mut alice).await;
        if message["desk_event"] == "rfq"
            && message["bid_price"].is_string()
            && message["client_price"].is_string()
        {
            break message;
        }
    };
    let shown = |name: &str| row[name].clone();
    assert_eq!(
        [
            "operator",
            "client",
            "channel",
            "two_way",
            "side",
            "lp",
            "client_price",
            "bid_lp",
            "bid_price",
            "state"
        ]
        .map(shown),
        [
            Value::Null,
            json!("acme"),
            json!("ws"),
            json!(true),
            json!("buy"),
            json!("FixLP"),
            json!("100100.02"),
            json!("FixLP"),
            json!("99820.08"),
            json!("quoting")
        ],
        "{row}"
    );
    drop(acme);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
}

/// Every refusal has its reason and says what is wrong: not a pair
/// (unknown_symbol), a pair the client may not trade (not_authorized),
/// above its max_notional or its max_rfqs_per_sec (exceeds_limit); an
/// order at another price, for a quote not live, is rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_has_its_reason() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut acme = Client::connect(&server.client_url, ACME_TOKEN).await;
    let cases = [
        ("BTC", "1", "unknown_symbol"),
        ("ETHUSDT", "1", "not_authorized"),
        ("BTCUSDT", "100", "exceeds_limit"),
    ];
    for (index, (pair, amount, reason)) in cases.into_iter().enumerate() {
        let id = format!("bad-{index}");
        acme.send(json!({"type": "quote_request", "client_rfq_id": id, "pair": pair, "side": "buy", "amount": amount}))
            .await;
        let reject = acme.next_of("quote_request_reject").await;
        assert_eq!(
            (&reject["client_rfq_id"], &reject["reason"]),
            (&json!(id), &json!(reason)),
            "{reject}"
        );
    }
    acme.send(json!({"type": "quote_request", "client_rfq_id": "r-1", "pair": "BTCUSDT", "side": "buy", "amount": "1"}))
        .await;
    let quote = acme.next_of("quote").await;
    acme.send(json!({"type": "order", "client_order_id": "o-cheap", "quote_id": quote["quote_id"], "side": "buy", "amount": "1", "price": "100020.00"}))
        .await;
    let rejected = acme.next_of("execution_report").await;
    assert_eq!(
        (&rejected["status"], &rejected["reason"]),
        (
            &json!("rejected"),
            &json!("price '100020.00' is not the quote's 100100.02")
        )
    );
    acme.send(json!({"type": "order", "client_order_id": "o-ghost", "quote_id": "Q-nothing", "side": "buy", "amount": "1", "price": "1"}))
        .await;
    let rejected = acme.next_of("execution_report").await;
    assert_eq!(
        (&rejected["status"], &rejected["reason"]),
        (&json!("rejected"), &json!("quote 'Q-nothing' is not live"))
    );
    acme.send(json!({"type": "cancel_quote_request", "client_rfq_id": "r-1"}))
        .await;
    let cancel = acme.next_of("quote_cancel").await;
    assert_eq!(
        (&cancel["quote_id"], &cancel["reason"]),
        (&quote["quote_id"], &json!("cancelled"))
    );
    assert!(venue.received("D").is_empty(), "no order reached the venue");

    let mut slow = Client::connect(&server.client_url, SLOW_TOKEN).await;
    for id in ["s-1", "s-2"] {
        slow.send(json!({"type": "quote_request", "client_rfq_id": id, "pair": "BTCUSDT", "side": "sell", "amount": "0.5"}))
            .await;
    }
    let reject = slow.next_of("quote_request_reject").await;
    assert_eq!(
        reject,
        json!({"type": "quote_request_reject", "client_rfq_id": "s-2", "reason": "exceeds_limit", "text": "client 'slow' is above its max_rfqs_per_sec of 1: ask again in a moment"})
    );
    drop((acme, slow));
    server.stop();
}

/// The desk's MAX_NOTIONAL (1,000,000 by default) holds for a client
/// too, with no confirmation to give: "slow" has no max_notional of its
/// own, and 11 BTC (1,100,000 USDT at the reference price) is refused as
/// exceeds_limit with the desk's reason; 1 BTC is quoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_request_above_the_desks_max_notional_is_refused() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut slow = Client::connect(&server.client_url, SLOW_TOKEN).await;
    slow.send(json!({"type": "quote_request", "client_rfq_id": "big", "pair": "BTCUSDT", "side": "buy", "amount": "11"}))
        .await;
    assert_eq!(
        slow.next_of("quote_request_reject").await,
        json!({"type": "quote_request_reject", "client_rfq_id": "big", "reason": "exceeds_limit", "text": "the desk's limit: notional 1,100,000.00 USDT is above MAX_NOTIONAL 1,000,000"})
    );
    slow.send(json!({"type": "quote_request", "client_rfq_id": "small", "pair": "BTCUSDT", "side": "buy", "amount": "1"}))
        .await;
    let quote = slow.next_of("quote").await;
    assert_eq!(quote["client_rfq_id"], json!("small"), "{quote}");
    assert!(
        venue.received("R").len() == 1,
        "only the 1 BTC request reached the venue"
    );
    drop(slow);
    server.stop();
}

/// A client that stops reading is closed once its 1024-message outbox is
/// full (here: thousands of `order_status` answers, most of them the
/// status rate limit's errors, it never reads, more
/// than the socket's buffers hold), with the reason in the server's log
/// and as its last message; another client's quotes go on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_and_others_go_on() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let reason = "the connection fell 1024 messages behind the desk: closed so that it cannot hold the desk back";
    let mut slow = Client::connect(&server.client_url, SLOW_TOKEN).await;
    let ask =
        Message::text(json!({"type": "order_status", "client_order_id": "o-none"}).to_string());
    let mut sent = 0;
    // Until the desk closes the connection (a send fails) or says why.
    let mut open = true;
    while open && !server.stderr.lock().unwrap().contains(reason) {
        assert!(sent < 400_000, "no overflow after {sent} unread answers");
        for _ in 0..500 {
            if slow.socket.feed(ask.clone()).await.is_err() {
                open = false;
                break;
            }
            sent += 1;
        }
        let _ = slow.socket.flush().await;
    }
    // The server's log is read on a thread of its own: give it a moment.
    let logged = async {
        while !server.stderr.lock().unwrap().contains(reason) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), logged)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the slow client was not dropped for falling behind after {sent} unread answers: {}",
                server.stderr.lock().unwrap()
            )
        });
    // The desk closes the connection. Its last message says why when the
    // socket had room for it within the farewell's 2 s; a client this far
    // behind may not have made that room, so the reason is certain only in
    // the server's log (checked above).
    let mut last = None;
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(10), slow.socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                last = Some(serde_json::from_str::<Value>(text.as_str()).unwrap());
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => break true,
            Err(_) => break false,
        }
    };
    assert!(closed, "the slow client's connection was not closed");
    // Beyond 10 a second, the unread answers are themselves errors (the
    // status rate limit): only another error can be the farewell.
    let limited =
        json!("client 'slow' is above 10 order status requests per second: ask again in a moment");
    if let Some(last) = last.filter(|last| last["type"] == "error" && last["reason"] != limited) {
        assert_eq!(last, json!({"type": "error", "reason": reason}));
    }

    let mut acme = Client::connect(&server.client_url, ACME_TOKEN).await;
    acme.send(json!({"type": "quote_request", "client_rfq_id": "r-1", "pair": "BTCUSDT", "side": "buy", "amount": "1"}))
        .await;
    let quote = acme.next_of("quote").await;
    assert_eq!(quote["offer"], json!("100100.02"), "{quote}");
    drop(acme);
    server.stop();
}

/// No token, or one that is no client's, is refused at the upgrade
/// (401), and the server's log says why without the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_client_token_is_refused() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let refused = tokio_tungstenite::connect_async(server.client_url.as_str())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");
    let mut request = server.client_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        "Bearer guess-guess-guess-1".parse().unwrap(),
    );
    let refused = tokio_tungstenite::connect_async(request).await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");
    // An operator's token is not a client's.
    let mut request = server.client_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert(
        "Authorization",
        format!("Bearer {OPERATOR_TOKEN}").parse().unwrap(),
    );
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    let (_, said) = server.stop();
    assert!(
        said.contains("client refused: no Authorization header"),
        "{said}"
    );
    assert!(
        said.contains("client refused: the bearer token is not any client's on this desk"),
        "{said}"
    );
    assert!(!said.contains("guess-guess-guess-1") && !said.contains(OPERATOR_TOKEN));
}
