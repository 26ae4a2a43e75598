//! The client API over FIX 4.4, end to end from the binary over loopback
//! (`lp-rfq serve --client-fix`), with a FIX initiator written here: a
//! client logs on by its CompID and password, asks (R), is streamed
//! quotes (S) at its own markup, hits one (D) and is filled (8) at the
//! client price; each refusal has its 658 reason; a repeated ClOrdID
//! never executes twice; a garbled message is rejected (3) and the
//! session goes on; a ResendRequest is answered with the ExecutionReport
//! again (43=Y, 122) and the rest gap-filled; after a server restart the
//! sequence numbers carry on and the order's status (H) is answered from
//! the blotter (and `order_status` on the WebSocket too); nothing the
//! client receives names an LP or its price.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_rfq::lp::fix::codec::{msg_type, tag, utc_timestamp, Framer, Message};
use rust_decimal_macros::dec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fix_acceptor::{Acceptor, Orders, Quotes, Script};
use crate::support::lp_rfq_in;

pub(crate) const ACME_PASSWORD: &str = "acme-fix-pw-Lq72Vd";
pub(crate) const ACME_TOKEN: &str = "acme-token-Vb31xQ9zKw";
pub(crate) const OPERATOR_TOKEN: &str = "alice-token-Zq81mW0pXr";
/// A second operator (a head of desk) on the same server.
pub(crate) const BOB_TOKEN: &str = "bob-token-Hk27vN5sLt9c";
pub(crate) const DESK_ID: &str = "LPRFQ";

const CLIENTS: &str = r#"
[[client]]
name = "acme"
markup_bps = "8"
max_notional = "250000"
pairs = ["BTCUSDT", "SOLUSDT"]
fix_comp_id = "ACMEFIX"
fix_password_env = "CLIENT_FIX_PW_ACME"
token_env = "CLIENT_TOKEN_ACME"

[[client]]
name = "open"
fix_comp_id = "OPENFIX"
"#;

/// A desk server with a FIX venue (its band corroborates the lone LP),
/// the FIX and WebSocket client APIs and two operators, alice and bob.
pub(crate) struct Server {
    child: Child,
    pub(crate) fix_address: String,
    pub(crate) ws_url: String,
    /// Where operators attach (`--desk`).
    pub(crate) desk_url: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    pub(crate) fn start(dir: &Path, venue_port: u16) -> Server {
        Server::start_on(dir, venue_port, &dir.join("desk.db").display().to_string())
    }

    /// [`Server::start`] recording into `blotter` (a file or a
    /// `postgres://` URL).
    pub(crate) fn start_on(dir: &Path, venue_port: u16, blotter: &str) -> Server {
        let operators = dir.join("operators.toml");
        std::fs::write(
            &operators,
            "[[operator]]\nname = \"alice\"\ntoken_env = \"DESK_TOKEN_ALICE\"\n\n[[operator]]\nname = \"bob\"\ntoken_env = \"DESK_TOKEN_BOB\"\n",
        )
        .unwrap();
        let clients = dir.join("clients.toml");
        std::fs::write(&clients, CLIENTS).unwrap();
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
            .env("DESK_TOKEN_BOB", BOB_TOKEN)
            .env("CLIENT_FIX_PW_ACME", ACME_PASSWORD)
            .env("CLIENT_TOKEN_ACME", ACME_TOKEN)
            .env("FIX_PASSWORD_E2E", "fix-pass-S3cret")
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--client-fix",
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
            .args(["--blotter", blotter])
            .args(["--duration", "5"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        let marker = "client API (FIX 4.4) on ";
        let ws_marker = "client API (WebSocket) on ";
        let mut ws_url = String::new();
        let mut desk_url = String::new();
        let fix_address = loop {
            let line = lines
                .next()
                .expect("the server says where FIX clients connect")
                .unwrap();
            stderr.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(at) = line.find("desk serving on ") {
                let rest = &line[at + "desk serving on ".len()..];
                desk_url = rest.split_whitespace().next().unwrap().to_string();
            }
            if let Some(at) = line.find(ws_marker) {
                ws_url = line[at + ws_marker.len()..].trim().to_string();
            }
            if let Some(at) = line.find(marker) {
                let rest = &line[at + marker.len()..];
                assert!(rest.ends_with(&format!(" as {DESK_ID}")), "{line}");
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server {
            child,
            fix_address,
            ws_url,
            desk_url,
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

/// A client's FIX initiator: stamps its own header and sequence numbers,
/// and keeps every byte it receives in `raw`.
pub(crate) struct FixClient {
    stream: TcpStream,
    framer: Framer,
    comp_id: String,
    next_seq: u64,
    pub(crate) raw: Vec<u8>,
}

impl FixClient {
    pub(crate) async fn connect(address: &str, comp_id: &str, next_seq: u64) -> FixClient {
        FixClient {
            stream: TcpStream::connect(address).await.unwrap(),
            framer: Framer::new(),
            comp_id: comp_id.to_string(),
            next_seq,
            raw: Vec::new(),
        }
    }

    fn stamp(&mut self, body: &Message) -> Vec<u8> {
        let mut stamped = Message::new(body.msg_type())
            .with(tag::MSG_SEQ_NUM, self.next_seq)
            .with(tag::SENDER_COMP_ID, &self.comp_id)
            .with(tag::TARGET_COMP_ID, DESK_ID)
            .with(tag::SENDING_TIME, utc_timestamp(chrono::Utc::now()));
        for (field, value) in body.fields() {
            stamped.push(*field, value);
        }
        self.next_seq += 1;
        stamped.encode()
    }

    pub(crate) async fn send(&mut self, body: Message) {
        let bytes = self.stamp(&body);
        self.stream.write_all(&bytes).await.unwrap();
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message, within 10 s; `None` once the desk has closed.
    pub(crate) async fn next(&mut self) -> Option<Message> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(frame) = self.framer.next_frame() {
                return Some(frame.expect("the desk sends sound FIX").message);
            }
            let read = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut buf))
                .await
                .expect("a message within 10 s")
                .unwrap();
            if read == 0 {
                return None;
            }
            self.raw.extend_from_slice(&buf[..read]);
            self.framer.push(&buf[..read]);
        }
    }

    /// The next message of `kind`, skipping others.
    pub(crate) async fn next_of(&mut self, kind: &str) -> Message {
        loop {
            let message = self.next().await.expect("the session is open");
            if message.msg_type() == kind {
                return message;
            }
        }
    }

    pub(crate) async fn logon(&mut self, password: Option<&str>) -> Message {
        let mut logon = Message::new(msg_type::LOGON)
            .with(tag::ENCRYPT_METHOD, 0)
            .with(tag::HEART_BT_INT, 30);
        if let Some(password) = password {
            logon.push(tag::PASSWORD, password);
        }
        self.send(logon).await;
        self.next().await.expect("an answer to the Logon")
    }
}

pub(crate) fn quote_request(id: &str, symbol: &str, side: Option<&str>, qty: &str) -> Message {
    let mut request = Message::new(msg_type::QUOTE_REQUEST)
        .with(tag::QUOTE_REQ_ID, id)
        .with(tag::NO_RELATED_SYM, 1)
        .with(tag::SYMBOL, symbol);
    if let Some(side) = side {
        request.push(tag::SIDE, side);
    }
    request.push(tag::ORDER_QTY, qty);
    request
}

/// A QuoteRequest for `cash` of BTCUSDT's quote currency (152, with 15
/// when `currency` is given), two-way without a `side`.
pub(crate) fn cash_request(
    id: &str,
    side: Option<&str>,
    cash: &str,
    currency: Option<&str>,
) -> Message {
    let mut request = Message::new(msg_type::QUOTE_REQUEST)
        .with(tag::QUOTE_REQ_ID, id)
        .with(tag::NO_RELATED_SYM, 1)
        .with(tag::SYMBOL, "BTCUSDT");
    if let Some(side) = side {
        request.push(tag::SIDE, side);
    }
    request.push(tag::CASH_ORDER_QTY, cash);
    if let Some(currency) = currency {
        request.push(tag::CURRENCY, currency);
    }
    request
}

pub(crate) fn order(cl_ord_id: &str, quote_id: &str, price: &str) -> Message {
    Message::new(msg_type::NEW_ORDER_SINGLE)
        .with(tag::CL_ORD_ID, cl_ord_id)
        .with(tag::QUOTE_ID, quote_id)
        .with(tag::SYMBOL, "BTCUSDT")
        .with(tag::SIDE, 1)
        .with(tag::ORDER_QTY, 1)
        .with(tag::ORD_TYPE, "D")
        .with(tag::PRICE, price)
        .with(tag::TIME_IN_FORCE, 4)
}

fn status_request(cl_ord_id: &str) -> Message {
    Message::new(msg_type::ORDER_STATUS_REQUEST)
        .with(tag::CL_ORD_ID, cl_ord_id)
        .with(tag::SYMBOL, "BTCUSDT")
        .with(tag::SIDE, 1)
}

/// `(tag, value)` of each of `tags` in `message`, for one exact comparison.
pub(crate) fn fields<'m>(message: &'m Message, tags: &[u32]) -> Vec<(u32, Option<&'m str>)> {
    tags.iter().map(|t| (*t, message.get(*t))).collect()
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

/// The issue's flow on FIX: R, a Quote at acme's 8 bps (the LP's
/// 100020.00 offer × 1.0008 = 100100.016, rounded up for a client buy),
/// D at that price, filled F/2 at exactly it; the same ClOrdID again is
/// answered with the first fill and never reaches the venue twice; H says
/// filled with 150=I; a message with a bad checksum is rejected (3) and
/// the session answers a TestRequest after it; a ResendRequest from 1
/// brings the ExecutionReports back with PossDupFlag and OrigSendingTime
/// and gap-fills the rest; the Logout is answered; nothing received names
/// the LP or its prices, and the server's log has no password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_client_requests_hits_and_is_filled_at_its_own_markup() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    let logon = acme.logon(Some(ACME_PASSWORD)).await;
    assert_eq!(
        fields(&logon, &[35, 34, 49, 56, 108]),
        fields(
            &Message::new("A")
                .with(34, 1)
                .with(49, DESK_ID)
                .with(56, "ACMEFIX")
                .with(108, 30),
            &[35, 34, 49, 56, 108]
        )
    );
    acme.send(quote_request("r-1", "BTCUSDT", Some("1"), "1"))
        .await;
    let quote = acme.next_of(msg_type::QUOTE).await;
    let quote_id = quote.get(tag::QUOTE_ID).unwrap().to_string();
    assert_eq!(
        fields(&quote, &[131, 55, 54, 132, 133, 134, 135, 537]),
        vec![
            (131, Some("r-1")),
            (55, Some("BTCUSDT")),
            (54, Some("1")),
            (132, None),
            (133, Some("100100.02")),
            (134, None),
            (135, Some("1.00000000")),
            (537, Some("1")),
        ]
    );
    assert!(
        lp_rfq::lp::fix::codec::parse_utc_timestamp(quote.get(tag::VALID_UNTIL_TIME).unwrap())
            .is_some()
    );
    acme.send(order("o-1", &quote_id, "100100.02")).await;
    let filled = acme.next_of(msg_type::EXECUTION_REPORT).await;
    let filled_fields = [11, 117, 150, 39, 31, 32, 6, 14, 151, 55, 54];
    assert_eq!(
        fields(&filled, &filled_fields),
        vec![
            (11, Some("o-1")),
            (117, None),
            (150, Some("F")),
            (39, Some("2")),
            (31, Some("100100.02")),
            (32, Some("1.00000000")),
            (6, Some("100100.02")),
            (14, Some("1.00000000")),
            (151, Some("0")),
            (55, Some("BTCUSDT")),
            (54, Some("1")),
        ]
    );
    let fill_seq: u64 = filled.get(tag::MSG_SEQ_NUM).unwrap().parse().unwrap();
    acme.send(order("o-1", &quote_id, "100100.02")).await;
    let again = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&again, &[11, 150, 39, 31, 32]),
        fields(&filled, &[11, 150, 39, 31, 32]),
        "the first outcome, not a second execution"
    );
    acme.send(status_request("o-1")).await;
    let status = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&status, &[11, 150, 39, 31, 14]),
        vec![
            (11, Some("o-1")),
            (150, Some("I")),
            (39, Some("2")),
            (31, Some("100100.02")),
            (14, Some("1.00000000")),
        ]
    );
    acme.send(status_request("never")).await;
    let unknown = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&unknown, &[11, 150, 39, 58]),
        vec![
            (11, Some("never")),
            (150, Some("I")),
            (39, Some("8")),
            (58, Some("no order of this client_order_id on this desk")),
        ]
    );
    assert_eq!(venue.received("D").len(), 1, "one order reached the venue");

    // A garbled message: its checksum is wrong. Rejected, and the session
    // goes on (the TestRequest after it is answered).
    let mut garbled = acme.stamp(&Message::new(msg_type::HEARTBEAT));
    let at = garbled.len() - 4;
    garbled[at] = if garbled[at] == b'9' { b'0' } else { b'9' };
    acme.send_raw(&garbled).await;
    let reject = acme.next_of(msg_type::REJECT).await;
    assert!(
        reject
            .get(tag::TEXT)
            .unwrap()
            .starts_with("bad CheckSum (10)"),
        "{reject:?}"
    );
    acme.send(Message::new(msg_type::TEST_REQUEST).with(tag::TEST_REQ_ID, "T-1"))
        .await;
    let heartbeat = acme.next_of(msg_type::HEARTBEAT).await;
    assert_eq!(heartbeat.get(tag::TEST_REQ_ID), Some("T-1"));
    // A message without a required tag (NewOrderSingle without Price).
    acme.send(
        Message::new(msg_type::NEW_ORDER_SINGLE)
            .with(tag::CL_ORD_ID, "o-bare")
            .with(tag::QUOTE_ID, &quote_id)
            .with(tag::SIDE, 1)
            .with(tag::ORDER_QTY, 1)
            .with(tag::ORD_TYPE, "D"),
    )
    .await;
    let reject = acme.next_of(msg_type::REJECT).await;
    assert_eq!(
        fields(&reject, &[371, 372, 373, 58]),
        vec![
            (371, Some("44")),
            (372, Some("D")),
            (373, Some("1")),
            (58, Some("Price (44) is missing")),
        ]
    );

    // Resend from the start: the two ExecutionReports for o-1 come back
    // with PossDupFlag and OrigSendingTime; the rest is gap-filled.
    acme.send(
        Message::new(msg_type::RESEND_REQUEST)
            .with(tag::BEGIN_SEQ_NO, 1)
            .with(tag::END_SEQ_NO, fill_seq),
    )
    .await;
    let fill = acme.next_of(msg_type::SEQUENCE_RESET).await;
    assert_eq!(
        fields(&fill, &[34, 43, 123, 36]),
        vec![
            (34, Some("1")),
            (43, Some("Y")),
            (123, Some("Y")),
            (36, Some(fill_seq.to_string().as_str())),
        ]
    );
    let resent = acme.next().await.unwrap();
    assert_eq!(resent.msg_type(), msg_type::EXECUTION_REPORT);
    assert_eq!(
        fields(&resent, &[34, 43, 122, 11, 150, 39, 31]),
        vec![
            (34, Some(fill_seq.to_string().as_str())),
            (43, Some("Y")),
            (122, filled.get(tag::SENDING_TIME)),
            (11, Some("o-1")),
            (150, Some("F")),
            (39, Some("2")),
            (31, Some("100100.02")),
        ]
    );

    acme.send(Message::new(msg_type::LOGOUT)).await;
    acme.next_of(msg_type::LOGOUT).await;
    for secret in ["FixLP", "100020", "99900", "=LP\x01"] {
        let text = String::from_utf8_lossy(&acme.raw);
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    drop(acme);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    assert!(!said.contains(ACME_PASSWORD));
    let conn = rusqlite::Connection::open(dir.path().join("desk.db")).unwrap();
    let rfq: (String, String, String) = conn
        .query_row("SELECT client, channel, outcome FROM rfqs", [], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap();
    assert_eq!(rfq, ("acme".into(), "fix".into(), "filled".into()));
    let order: (String, String, String, String) = conn
        .query_row(
            "SELECT client, channel, status, price FROM client_orders
             WHERE client_order_id = 'o-1' ORDER BY id DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .unwrap();
    assert_eq!(
        order,
        (
            "acme".into(),
            "fix".into(),
            "filled".into(),
            "100100.02".into()
        )
    );
}

/// After the server restarts, the session carries on its sequence
/// numbers (the Logon answer is the next number, with no reset), the
/// order's status is answered from the blotter, and the same ClOrdID sent
/// again is answered with its fill without reaching the venue again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_sequence_numbers_survive_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let blotter = dir.path().join("desk.db").display().to_string();
    status_and_sequence_numbers_survive_a_restart_on(dir.path(), &blotter).await;
}

/// The same with the desk's blotter in PostgreSQL: the order's status and
/// the repeated ClOrdID are answered from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_sequence_numbers_survive_a_server_restart_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let database = crate::postgres::Cluster::shared().database();
    status_and_sequence_numbers_survive_a_restart_on(dir.path(), &database).await;
    assert_eq!(
        crate::postgres::rows_of(
            &database,
            "SELECT client, client_order_id, channel, status, price FROM client_orders ORDER BY id"
        ),
        [
            ["acme", "o-1", "fix", "pending", ""],
            ["acme", "o-1", "fix", "filled", "100100.02"],
        ],
        "each state on the record, none for the repeated id"
    );
}

async fn status_and_sequence_numbers_survive_a_restart_on(dir: &Path, blotter: &str) {
    let venue = Acceptor::start(venue_script()).await;
    let server = Server::start_on(dir, venue.port, blotter);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    acme.logon(Some(ACME_PASSWORD)).await;
    acme.send(quote_request("r-1", "BTCUSDT", Some("1"), "1"))
        .await;
    let quote = acme.next_of(msg_type::QUOTE).await;
    let quote_id = quote.get(tag::QUOTE_ID).unwrap().to_string();
    acme.send(order("o-1", &quote_id, "100100.02")).await;
    let filled = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(filled.get(tag::EXEC_TYPE), Some("F"));
    acme.send(Message::new(msg_type::LOGOUT)).await;
    let logout = acme.next_of(msg_type::LOGOUT).await;
    let last_seq: u64 = logout.get(tag::MSG_SEQ_NUM).unwrap().parse().unwrap();
    let client_seq = acme.next_seq;
    drop(acme);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");

    let server = Server::start_on(dir, venue.port, blotter);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", client_seq).await;
    let logon = acme.logon(Some(ACME_PASSWORD)).await;
    assert_eq!(
        fields(&logon, &[35, 34, 141]),
        vec![
            (35, None),
            (34, Some((last_seq + 1).to_string().as_str())),
            (141, None)
        ]
    );
    assert_eq!(logon.msg_type(), msg_type::LOGON);
    acme.send(status_request("o-1")).await;
    let status = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&status, &[11, 54, 150, 39, 31, 32, 14]),
        vec![
            (11, Some("o-1")),
            (54, Some("1")),
            (150, Some("I")),
            (39, Some("2")),
            (31, Some("100100.02")),
            (32, Some("1.00000000")),
            (14, Some("1.00000000")),
        ]
    );
    acme.send(order("o-1", &quote_id, "100100.02")).await;
    let again = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&again, &[11, 150, 39, 31]),
        vec![
            (11, Some("o-1")),
            (150, Some("F")),
            (39, Some("2")),
            (31, Some("100100.02")),
        ]
    );
    assert_eq!(venue.received("D").len(), 1, "one order reached the venue");
    drop(acme);
    server.stop();
}

/// Each QuoteRequestReject reason (658) with its text: 1 not a pair, 8 a
/// pair the client may not trade, 3 above its max_notional, 4 an
/// ExpireTime already past, 99 anything else (a CashOrderQty in a
/// Currency that is not the pair's quote currency);
/// an order at another price is rejected 8/8 with why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_has_its_reason() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    acme.logon(Some(ACME_PASSWORD)).await;
    let expired =
        quote_request("bad-4", "BTCUSDT", Some("1"), "1").with(126, "20200101-00:00:00.000");
    let cases = [
        (quote_request("bad-1", "BTC", Some("1"), "1"), "1"),
        (quote_request("bad-8", "ETHUSDT", Some("1"), "1"), "8"),
        (quote_request("bad-3", "BTCUSDT", Some("1"), "100"), "3"),
        (expired, "4"),
        (cash_request("bad-99", None, "100000", Some("EUR")), "99"),
    ];
    for (request, reason) in cases {
        let id = request.get(tag::QUOTE_REQ_ID).unwrap().to_string();
        acme.send(request).await;
        let reject = acme.next_of(msg_type::QUOTE_REQUEST_REJECT).await;
        assert_eq!(
            fields(&reject, &[131, 658]),
            vec![(131, Some(id.as_str())), (658, Some(reason))],
            "{reject:?}"
        );
        assert!(!reject.get(tag::TEXT).unwrap_or("").is_empty());
    }
    acme.send(quote_request("r-1", "BTCUSDT", Some("1"), "1"))
        .await;
    let quote = acme.next_of(msg_type::QUOTE).await;
    let quote_id = quote.get(tag::QUOTE_ID).unwrap().to_string();
    acme.send(order("o-cheap", &quote_id, "100020.00")).await;
    let rejected = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&rejected, &[11, 150, 39, 58]),
        vec![
            (11, Some("o-cheap")),
            (150, Some("8")),
            (39, Some("8")),
            (58, Some("price '100020.00' is not the quote's 100100.02")),
        ]
    );
    assert!(venue.received("D").is_empty(), "no order reached the venue");
    drop(acme);
    server.stop();
}

/// OrderQty (38) is an amount of the base: with a Currency (15) that is
/// not the base (38=50 15=USDT meaning 50 USDT), the QuoteRequest is
/// refused (658=99) and the order rejected (8/8), each saying why, and
/// nothing reaches the venue: it would have traded 50 BTC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_qty_in_another_currency_than_the_base_is_refused() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    acme.logon(Some(ACME_PASSWORD)).await;
    acme.send(quote_request("r-usdt", "BTCUSDT", Some("1"), "50").with(tag::CURRENCY, "USDT"))
        .await;
    let reject = acme.next_of(msg_type::QUOTE_REQUEST_REJECT).await;
    assert_eq!(
        fields(&reject, &[131, 658, 58]),
        vec![
            (131, Some("r-usdt")),
            (658, Some("99")),
            (58, Some("Currency (15) 'USDT' must be BTC, the base currency of BTCUSDT, for OrderQty (38); an amount of the quote currency is CashOrderQty (152)")),
        ]
    );
    // 15 naming the base is what 38 means anyway: quoted.
    acme.send(quote_request("r-1", "BTCUSDT", Some("1"), "1").with(tag::CURRENCY, "BTC"))
        .await;
    let quote = acme.next_of(msg_type::QUOTE).await;
    assert_eq!(quote.get(tag::QUOTE_REQ_ID), Some("r-1"));
    let quote_id = quote.get(tag::QUOTE_ID).unwrap().to_string();
    acme.send(order("o-usdt", &quote_id, "100100.02").with(tag::CURRENCY, "USDT"))
        .await;
    let rejected = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&rejected, &[11, 150, 39, 54, 38, 58]),
        vec![
            (11, Some("o-usdt")),
            (150, Some("8")),
            (39, Some("8")),
            (54, Some("1")),
            (38, Some("1")),
            (58, Some("Currency (15) 'USDT' must be BTC, the base currency of BTCUSDT, for OrderQty (38); an amount of the quote currency is CashOrderQty (152)")),
        ]
    );
    assert!(venue.received("D").is_empty(), "no order reached the venue");
    drop(acme);
    server.stop();
}

/// A repeated ClOrdID with another side and quantity, sent while the
/// first order is out, is answered with the first order's state, and
/// the first order's fill still says its own side (54=1) and quantity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_cl_ord_id_does_not_rewrite_the_first_order() {
    let venue = Acceptor::start(Script {
        orders: Orders::Silent,
        ..venue_script()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    acme.logon(Some(ACME_PASSWORD)).await;
    acme.send(quote_request("r-1", "BTCUSDT", Some("1"), "1"))
        .await;
    let quote = acme.next_of(msg_type::QUOTE).await;
    let quote_id = quote.get(tag::QUOTE_ID).unwrap().to_string();
    acme.send(order("o-1", &quote_id, "100100.02")).await;
    let sent = venue.wait_for(msg_type::NEW_ORDER_SINGLE).await;
    let repeat = Message::new(msg_type::NEW_ORDER_SINGLE)
        .with(tag::CL_ORD_ID, "o-1")
        .with(tag::QUOTE_ID, &quote_id)
        .with(tag::SYMBOL, "BTCUSDT")
        .with(tag::SIDE, 2)
        .with(tag::ORDER_QTY, 2)
        .with(tag::ORD_TYPE, "D")
        .with(tag::PRICE, "99820.08")
        .with(tag::TIME_IN_FORCE, 4);
    acme.send(repeat).await;
    let pending = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&pending, &[11, 150, 39, 54, 38]),
        vec![
            (11, Some("o-1")),
            (150, Some("A")),
            (39, Some("A")),
            (54, Some("1")),
            (38, Some("1")),
        ]
    );
    venue.send(
        Message::new(msg_type::EXECUTION_REPORT)
            .with(tag::ORDER_ID, "ORD-1")
            .with(tag::EXEC_ID, "EXEC-1")
            .with(tag::CL_ORD_ID, sent.get(tag::CL_ORD_ID).unwrap())
            .with(tag::SYMBOL, sent.get(tag::SYMBOL).unwrap())
            .with(tag::SIDE, sent.get(tag::SIDE).unwrap())
            .with(tag::ORDER_QTY, sent.get(tag::ORDER_QTY).unwrap())
            .with(tag::EXEC_TYPE, "F")
            .with(tag::ORD_STATUS, "2")
            .with(tag::LAST_PX, sent.get(tag::PRICE).unwrap())
            .with(tag::LAST_QTY, sent.get(tag::ORDER_QTY).unwrap())
            .with(tag::CUM_QTY, sent.get(tag::ORDER_QTY).unwrap())
            .with(tag::AVG_PX, sent.get(tag::PRICE).unwrap()),
    );
    let filled = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&filled, &[11, 150, 39, 54, 38, 31, 32]),
        vec![
            (11, Some("o-1")),
            (150, Some("F")),
            (39, Some("2")),
            (54, Some("1")),
            (38, Some("1.00000000")),
            (31, Some("100100.02")),
            (32, Some("1.00000000")),
        ]
    );
    assert_eq!(venue.received("D").len(), 1, "one order reached the venue");
    drop(acme);
    server.stop();
}

/// PostgreSQL lost under a running desk: an order is refused, saying the
/// record cannot be read, and never reaches the venue; the session goes
/// on (a TestRequest is answered at once), and a status request says the
/// record cannot be read rather than that the order does not exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_with_postgres_lost_is_refused_and_the_session_goes_on() {
    let cluster = crate::postgres::Cluster::start().unwrap_or_else(|why| panic!("{why}"));
    let database = cluster.database();
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_on(dir.path(), venue.port, &database);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    acme.logon(Some(ACME_PASSWORD)).await;
    acme.send(quote_request("r-1", "BTCUSDT", Some("1"), "1"))
        .await;
    let quote = acme.next_of(msg_type::QUOTE).await;
    let quote_id = quote.get(tag::QUOTE_ID).unwrap().to_string();
    cluster.stop();
    let sent = std::time::Instant::now();
    acme.send(order("o-1", &quote_id, "100100.02")).await;
    let refused = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&refused, &[11, 150, 39, 54, 38, 58]),
        vec![
            (11, Some("o-1")),
            (150, Some("8")),
            (39, Some("8")),
            (54, Some("1")),
            (38, Some("1")),
            (
                58,
                Some("the desk cannot read its order record right now: the order was not sent")
            ),
        ]
    );
    assert!(
        sent.elapsed() < Duration::from_secs(6),
        "{:?}",
        sent.elapsed()
    );
    acme.send(Message::new(msg_type::TEST_REQUEST).with(tag::TEST_REQ_ID, "T-1"))
        .await;
    let heartbeat = acme.next_of(msg_type::HEARTBEAT).await;
    assert_eq!(heartbeat.get(tag::TEST_REQ_ID), Some("T-1"));
    acme.send(status_request("o-1")).await;
    let status = acme.next_of(msg_type::EXECUTION_REPORT).await;
    assert_eq!(
        fields(&status, &[11, 150, 39, 58]),
        vec![
            (11, Some("o-1")),
            (150, Some("I")),
            (39, Some("A")),
            (
                58,
                Some("the desk cannot read its order record right now: ask again")
            ),
        ]
    );
    assert!(venue.received("D").is_empty(), "no order reached the venue");
    drop(acme);
    drop(server);
}

/// Beyond 10 OrderStatusRequests a second, a client's next is refused
/// with a BusinessMessageReject (j) naming the limit; the session goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_status_requests_are_rate_limited_per_client() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    acme.logon(Some(ACME_PASSWORD)).await;
    for n in 0..11 {
        acme.send(status_request(&format!("s-{n}"))).await;
    }
    let mut answers = Vec::new();
    while answers.len() < 11 {
        let message = acme.next().await.expect("the session is open");
        if matches!(message.msg_type(), "8" | "j") {
            answers.push(message);
        }
    }
    let statuses = answers.iter().filter(|m| m.msg_type() == "8").count();
    assert_eq!(statuses, 10);
    let refused = answers.iter().find(|m| m.msg_type() == "j").unwrap();
    assert_eq!(
        fields(refused, &[372, 380, 58]),
        vec![
            (372, Some("H")),
            (380, Some("0")),
            (58, Some("client 'acme' is above 10 order status requests per second: ask again in a moment")),
        ]
    );
    drop(acme);
    server.stop();
}

/// A wrong password, a missing one, a CompID that is no client's, and a
/// second session of a client already logged on are each answered with a
/// Logout saying why; the server's log says why
/// without the password given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logon_that_is_no_clients_is_refused_with_a_logout() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let cases = [
        (
            "ACMEFIX",
            Some("guess-guess-77"),
            "client 'acme': wrong Password (554)",
        ),
        (
            "ACMEFIX",
            None,
            "client 'acme' must send its Password (554)",
        ),
        (
            "NOBODY",
            None,
            "SenderCompID 'NOBODY' is not a client of this desk",
        ),
    ];
    for (comp_id, password, why) in cases {
        let mut client = FixClient::connect(&server.fix_address, comp_id, 1).await;
        let answer = client.logon(password).await;
        assert_eq!(
            (answer.msg_type(), answer.get(tag::TEXT)),
            (msg_type::LOGOUT, Some(why))
        );
        assert!(client.next().await.is_none(), "then the desk closes");
    }
    // A client without a password logs on by its CompID alone.
    let mut open = FixClient::connect(&server.fix_address, "OPENFIX", 1).await;
    assert_eq!(open.logon(None).await.msg_type(), msg_type::LOGON);
    // A second session of the same client while the first is up would
    // share its sequence numbers: refused.
    let mut twin = FixClient::connect(&server.fix_address, "OPENFIX", 2).await;
    let answer = twin.logon(None).await;
    assert_eq!(
        (answer.msg_type(), answer.get(tag::TEXT)),
        (
            msg_type::LOGOUT,
            Some("client 'open' already has a session logged on")
        )
    );
    drop((open, twin));
    let (_, said) = server.stop();
    assert!(
        said.contains("FIX client refused: client 'acme': wrong Password (554)"),
        "{said}"
    );
    assert!(!said.contains("guess-guess-77") && !said.contains(ACME_PASSWORD));
}

/// The same on the WebSocket: a client order filled before a restart is
/// answered `filled` by `order_status` after it, from the blotter, and
/// the same id sent again never reaches the venue a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_order_s_status_survives_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let blotter = dir.path().join("desk.db").display().to_string();
    a_ws_order_s_status_survives_a_restart_on(dir.path(), &blotter).await;
}

/// The same with the desk's blotter in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ws_order_s_status_survives_a_server_restart_on_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let database = crate::postgres::Cluster::shared().database();
    a_ws_order_s_status_survives_a_restart_on(dir.path(), &database).await;
    assert_eq!(
        crate::postgres::rows_of(
            &database,
            "SELECT client, client_order_id, channel, status, price FROM client_orders ORDER BY id"
        ),
        [
            ["acme", "o-ws", "ws", "pending", ""],
            ["acme", "o-ws", "ws", "filled", "100100.02"],
        ],
        "each state on the record, none for the repeated id"
    );
}

async fn a_ws_order_s_status_survives_a_restart_on(dir: &Path, blotter: &str) {
    use futures::{SinkExt, StreamExt};
    use serde_json::{json, Value};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message as Frame;

    async fn connect(
        url: &str,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>> {
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Authorization",
            format!("Bearer {ACME_TOKEN}").parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request).await.unwrap().0
    }
    async fn next_of(
        socket: &mut tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<TcpStream>,
        >,
        kind: &str,
    ) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
                .await
                .expect("a message within 10 s")
                .unwrap()
                .unwrap();
            if let Frame::Text(text) = frame {
                let message: Value = serde_json::from_str(text.as_str()).unwrap();
                if message["type"] == kind {
                    return message;
                }
            }
        }
    }

    let venue = Acceptor::start(venue_script()).await;
    let server = Server::start_on(dir, venue.port, blotter);
    let mut acme = connect(&server.ws_url).await;
    let request = json!({"type": "quote_request", "client_rfq_id": "r-1", "pair": "BTCUSDT", "side": "buy", "amount": "1"});
    acme.send(Frame::text(request.to_string())).await.unwrap();
    let quote = next_of(&mut acme, "quote").await;
    let order = json!({"type": "order", "client_order_id": "o-ws", "quote_id": quote["quote_id"], "side": "buy", "amount": "1", "price": "100100.02"});
    acme.send(Frame::text(order.to_string())).await.unwrap();
    assert_eq!(
        next_of(&mut acme, "execution_report").await["status"],
        "filled"
    );
    drop(acme);
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");

    let server = Server::start_on(dir, venue.port, blotter);
    let mut acme = connect(&server.ws_url).await;
    let ask = json!({"type": "order_status", "client_order_id": "o-ws"});
    acme.send(Frame::text(ask.to_string())).await.unwrap();
    assert_eq!(
        next_of(&mut acme, "execution_report").await,
        json!({"type": "execution_report", "client_order_id": "o-ws", "quote_id": quote["quote_id"], "status": "filled", "price": "100100.02", "amount": "1.00000000", "status_request": true})
    );
    acme.send(Frame::text(order.to_string())).await.unwrap();
    assert_eq!(
        next_of(&mut acme, "execution_report").await,
        json!({"type": "execution_report", "client_order_id": "o-ws", "quote_id": quote["quote_id"], "status": "filled", "price": "100100.02", "amount": "1.00000000"})
    );
    assert_eq!(venue.received("D").len(), 1, "one order reached the venue");
    drop(acme);
    server.stop();
}

/// A gap in the client's numbers: the desk asks for them again
/// (ResendRequest from the number it expected, to infinity), takes no
/// message past the gap until it is filled, and carries on once the
/// client gap-fills it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_from_the_client_is_asked_for_again() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), venue.port);
    let mut acme = FixClient::connect(&server.fix_address, "ACMEFIX", 1).await;
    acme.logon(Some(ACME_PASSWORD)).await;
    // Number 2 is never sent: 3 arrives first.
    acme.next_seq = 3;
    acme.send(Message::new(msg_type::TEST_REQUEST).with(tag::TEST_REQ_ID, "T-gap"))
        .await;
    let resend = acme.next().await.unwrap();
    assert_eq!(
        (resend.msg_type(), fields(&resend, &[7, 16])),
        (
            msg_type::RESEND_REQUEST,
            vec![(7, Some("2")), (16, Some("0"))]
        )
    );
    let gap_fill = Message::new(msg_type::SEQUENCE_RESET)
        .with(tag::MSG_SEQ_NUM, 2)
        .with(tag::SENDER_COMP_ID, "ACMEFIX")
        .with(tag::TARGET_COMP_ID, DESK_ID)
        .with(tag::SENDING_TIME, utc_timestamp(chrono::Utc::now()))
        .with(tag::POSS_DUP_FLAG, "Y")
        .with(tag::GAP_FILL_FLAG, "Y")
        .with(tag::NEW_SEQ_NO, 3);
    acme.send_raw(&gap_fill.encode()).await;
    acme.next_seq = 3;
    acme.send(Message::new(msg_type::TEST_REQUEST).with(tag::TEST_REQ_ID, "T-after"))
        .await;
    let heartbeat = acme.next().await.unwrap();
    assert_eq!(
        (heartbeat.msg_type(), heartbeat.get(tag::TEST_REQ_ID)),
        (msg_type::HEARTBEAT, Some("T-after")),
        "the TestRequest past the gap was not taken; the one resent was"
    );
    drop(acme);
    server.stop();
}

/// What `serve --client-fix` refuses at start, each naming what to fix
/// (exit 2): a CompID that is not one, an address that is not one, a
/// clients file where no client has a fix_comp_id, a password variable
/// that is unset.
#[test]
fn serve_refuses_a_client_fix_it_cannot_honour() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("operators.toml"),
        "[[operator]]\nname = \"alice\"\ntoken_env = \"DESK_TOKEN_ALICE\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("none.toml"),
        "[[client]]\nname = \"acme\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("clients.toml"), CLIENTS).unwrap();
    let cases: [(&[&str], &str, &str); 4] = [
        (
            &["--client-fix", "127.0.0.1:0", "--fix-comp-id", "MY DESK"],
            "clients.toml",
            "lp-rfq: invalid --fix-comp-id 'MY DESK': expected 1 to 64 printable ASCII characters such as LPRFQ\n",
        ),
        (
            &["--client-fix", "localhost"],
            "clients.toml",
            "lp-rfq: invalid --client-fix 'localhost': expected an IP address and port such as 127.0.0.1:7413\n",
        ),
        (
            &["--client-fix", "127.0.0.1:0"],
            "none.toml",
            "lp-rfq: --client-fix: no client in the clients file has a fix_comp_id, so none could log on\n",
        ),
        (
            &["--client-fix", "127.0.0.1:0"],
            "clients.toml",
            "lp-rfq: client 'acme': fix_password_env 'CLIENT_FIX_PW_ACME': ",
        ),
    ];
    for (flags, clients, said) in cases {
        let output = lp_rfq_in(dir.path())
            .env("DESK_TOKEN_ALICE", OPERATOR_TOKEN)
            .args(["serve", "--listen", "127.0.0.1:0", "--no-blotter"])
            .args(["--operators", "operators.toml", "--clients", clients])
            .args(flags)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let last = stderr.lines().last().unwrap_or("").to_string() + "\n";
        assert!(last.starts_with(said), "{flags:?}: {stderr}");
    }
}

/// The acceptor against a client's real FIX engine: QuickFIX (C++),
/// validating everything the desk sends against its own FIX 4.4
/// dictionary. It logs on with its password, asks for 1 BTC, hits the
/// first quote at acme's price (the LP's 100020.00 offer plus 8 bps,
/// 100100.02), is filled, asks the order's status (150=I) and logs out;
/// after the desk restarts it logs on again carrying on its sequence
/// numbers (no reset on either side: a desk that forgot them is refused
/// by QuickFIX) and the order's status comes from the desk's record.
/// QuickFIX rejecting anything the desk sent fails the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quickfix_initiator_trades_and_resumes_its_session() {
    let venue = Acceptor::start(venue_script()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("quickfix");

    let server = Server::start(dir.path(), venue.port);
    let traded = quickfix_client("trade", &server.fix_address, &store).await;
    assert_eq!(
        traded,
        [
            "logon",
            "quote qf-rfq-1 offer 100100.02 size 1.00000000",
            "execution qf-order-1 F 2 100100.02 1.00000000",
            "status qf-order-1 I 2 100100.02 1.00000000",
            "logout",
            "interop ok",
        ]
    );
    let (status, said) = server.stop();
    assert!(status.success(), "{said}");
    assert!(!said.contains(ACME_PASSWORD));

    let server = Server::start(dir.path(), venue.port);
    let resumed = quickfix_client("resume", &server.fix_address, &store).await;
    assert_eq!(
        resumed,
        [
            "logon",
            "status qf-order-1 I 2 100100.02 1.00000000",
            "logout",
            "interop ok",
        ]
    );
    // Its second logon carried on from the first session's numbers.
    let messages = std::fs::read_dir(store.join("log"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            let name = path.to_string_lossy();
            name.contains("-ACMEFIX-") && name.ends_with(".messages.current.log")
        })
        .expect("QuickFIX's message log");
    let log = std::fs::read_to_string(messages)
        .unwrap()
        .replace('\x01', "|");
    let logons: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("|35=A|") && line.contains("|49=ACMEFIX|"))
        .collect();
    assert_eq!(logons.len(), 2, "{log}");
    assert!(logons[0].contains("|34=1|"), "{}", logons[0]);
    assert!(!logons[1].contains("|34=1|"), "{}", logons[1]);
    assert_eq!(venue.received("D").len(), 1, "one order reached the venue");
    let (status, _) = server.stop();
    assert!(status.success());
}

/// Runs one phase of tests/interop/quickfix_client.cpp against the desk's
/// FIX acceptor at `fix_address`, keeping its session state in `store`:
/// the lines it printed (it exits non-zero, failing here, on any problem).
async fn quickfix_client(phase: &str, fix_address: &str, store: &Path) -> Vec<String> {
    let program = crate::quickfix::program("quickfix_client");
    let dictionary = crate::quickfix::fix44_dictionary();
    let (host, port) = fix_address.rsplit_once(':').unwrap();
    let mut command = std::process::Command::new(program);
    command
        .args([phase, host, port])
        .arg(dictionary)
        .arg(store)
        .env("QUICKFIX_CLIENT_PASSWORD", ACME_PASSWORD);
    // It runs for a few seconds: off the runtime's workers.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "QuickFIX {phase}: {said}");
    said.lines().map(str::to_string).collect()
}
