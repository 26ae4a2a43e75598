//! Fake venues on 127.0.0.1 that behave as the venues' public docs say: a
//! B2C2-style RFQ venue and Binance Convert (which checks every
//! signature). Each starts on port 0 and hands back its base URL and a
//! handle to script its answers (prices, a rejected order, a status
//! sequence, any raw reply) and to count what it was asked; the server
//! stops when the handle is dropped. Used by the adapter tests and by
//! end-to-end tests of the binary.
//!
//! The HTTP side is a small HTTP/1.1 server with keep-alive, enough for
//! reqwest and cheap to compile; it can also hang or drop a connection.

#![allow(dead_code)] // Each test module uses its own part of the fakes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// The raw query string (after `?`), empty when there is none.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `key=value` parameters of the query string and the form body.
    pub fn params(&self) -> HashMap<String, String> {
        self.query
            .split('&')
            .chain(self.body.split('&'))
            .filter_map(|pair| pair.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }
}

/// How a fake answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status, extra headers and a body (JSON or anything else).
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A 200 whose body is `bytes` of JSON-ish filler sent in 64 KB
    /// pieces (`None`: endless), with a Content-Length or chunked.
    Huge {
        bytes: Option<usize>,
        content_length: bool,
    },
    /// Reads the request and never answers.
    Hang,
    /// Closes the connection without answering.
    Drop,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// A body that is not what the docs promise.
    pub fn garbage(status: u16, body: &str) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn with_header(self, name: &str, value: &str) -> Reply {
        match self {
            Reply::Respond {
                status,
                mut headers,
                body,
            } => {
                headers.push((name.to_string(), value.to_string()));
                Reply::Respond {
                    status,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }
}

type Handler = Arc<dyn Fn(&HttpRequest) -> Reply + Send + Sync>;

/// A running fake server: its URL, the connections it accepted, and the
/// accept loop (stopped on drop).
struct Server {
    url: String,
    connections: Arc<AtomicUsize>,
    task: AbortHandle,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_server(handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve_connection(stream, handler.clone()));
        }
    })
    .abort_handle();
    Server {
        url,
        connections,
        task,
    }
}

/// Answers requests on one connection until the client closes it.
async fn serve_connection(stream: TcpStream, handler: Handler) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = read_request(&mut reader).await {
        match handler(&request) {
            Reply::Hang => std::future::pending::<()>().await,
            Reply::Drop => return,
            Reply::Huge {
                bytes,
                content_length,
            } => {
                let framing = match (content_length, bytes) {
                    (true, Some(bytes)) => format!("content-length: {bytes}"),
                    _ => "transfer-encoding: chunked".to_string(),
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
                );
                if write.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = vec![b' '; 64 * 1024];
                let mut left = bytes.unwrap_or(usize::MAX);
                while left > 0 {
                    let now = left.min(piece.len());
                    let written = if content_length {
                        write.write_all(&piece[..now]).await
                    } else {
                        let mut chunk = format!("{now:x}\r\n").into_bytes();
                        chunk.extend_from_slice(&piece[..now]);
                        chunk.extend_from_slice(b"\r\n");
                        write.write_all(&chunk).await
                    };
                    if written.is_err() {
                        return;
                    }
                    left -= now;
                }
                if !content_length && write.write_all(b"0\r\n\r\n").await.is_err() {
                    return;
                }
            }
            Reply::Respond {
                status,
                headers,
                body,
            } => {
                let mut head = format!(
                    "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    reason(status),
                    body.len()
                );
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                if write.write_all(head.as_bytes()).await.is_err()
                    || write.write_all(body.as_bytes()).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        418 => "I'm a teapot",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).await.ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.ok()?;
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (target, String::new()),
    };
    Some(HttpRequest {
        method,
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A URL on 127.0.0.1 where nothing listens: connecting is refused.
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    drop(listener);
    url
}

fn lock<T>(state: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------- B2C2

/// The token the fake B2C2 accepts.
pub const B2C2_TOKEN: &str = "test-b2c2-token-7Qx";

/// How the fake B2C2 writes `valid_until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStyle {
    /// `2025-01-19T14:30:25.123456` (UTC, no zone).
    Zoneless,
    /// `2025-01-19T14:30:25.123456Z`.
    Utc,
}

/// What the fake B2C2 does and what it saw.
pub struct B2c2State {
    /// The venue's offer (a desk BUY pays it) and bid.
    pub offer: Decimal,
    pub bid: Decimal,
    /// How long a quote is firm, in ms.
    pub validity_ms: i64,
    pub time_style: TimeStyle,
    pub instruments: Vec<String>,
    pub max_quantity: Decimal,
    /// Answers that replace the next quote or order handling, in turn.
    pub next_quote: VecDeque<Reply>,
    pub next_order: VecDeque<Reply>,
    /// The next order is answered "not filled" (executed_price null).
    pub reject_next_order: bool,
    pub quotes: usize,
    pub orders: usize,
    /// Every RFQ and order body received, and their Authorization headers.
    pub rfqs: Vec<Value>,
    pub order_bodies: Vec<Value>,
    pub quote_answers: Vec<Value>,
    pub auth_headers: Vec<String>,
    /// Every `POST /order/` body, however it was answered (a hung one too).
    pub order_requests: Vec<Value>,
    /// The orders `GET /order/<client_order_id>/` finds, by that id, as
    /// `POST /order/` answered them (or as the venue settled them later).
    pub known_orders: std::collections::HashMap<String, Value>,
    /// `GET /order/...` requests received.
    pub status_requests: usize,
    /// The venue's own rate limit: more than this many requests in any
    /// one second are answered 429 (B2C2's throttled shape), as a real
    /// venue protects itself from a desk that runs several processes.
    pub per_second_limit: Option<usize>,
    /// When each request the limit let through arrived.
    pub admitted: VecDeque<std::time::Instant>,
    /// Requests answered 429 by the limit.
    pub throttled: usize,
}

/// A running fake B2C2.
pub struct FakeB2c2 {
    pub url: String,
    pub state: Arc<Mutex<B2c2State>>,
    server: Server,
}

impl FakeB2c2 {
    /// Starts a fake quoting BTCUSD.SPOT, BTCUSDT.SPOT and ETHUSD.SPOT at
    /// bid 99987.65 / offer 100012.34, quotes firm for 10 s.
    pub async fn start() -> FakeB2c2 {
        let state = Arc::new(Mutex::new(B2c2State {
            offer: dec!(100012.34),
            bid: dec!(99987.65),
            validity_ms: 10_000,
            time_style: TimeStyle::Zoneless,
            instruments: ["BTCUSD.SPOT", "BTCUSDT.SPOT", "ETHUSD.SPOT"]
                .map(String::from)
                .to_vec(),
            max_quantity: dec!(100),
            next_quote: VecDeque::new(),
            next_order: VecDeque::new(),
            reject_next_order: false,
            quotes: 0,
            orders: 0,
            rfqs: Vec::new(),
            order_bodies: Vec::new(),
            quote_answers: Vec::new(),
            auth_headers: Vec::new(),
            order_requests: Vec::new(),
            known_orders: std::collections::HashMap::new(),
            status_requests: 0,
            per_second_limit: None,
            admitted: VecDeque::new(),
            throttled: 0,
        }));
        let shared = state.clone();
        let server = start_server(Arc::new(move |request: &HttpRequest| {
            b2c2_answer(&mut lock(&shared), request)
        }))
        .await;
        FakeB2c2 {
            url: server.url.clone(),
            state,
            server,
        }
    }

    pub fn set_prices(&self, bid: Decimal, offer: Decimal) {
        let mut state = lock(&self.state);
        state.bid = bid;
        state.offer = offer;
    }

    pub fn set_time_style(&self, style: TimeStyle) {
        lock(&self.state).time_style = style;
    }

    pub fn answer_next_quote(&self, reply: Reply) {
        lock(&self.state).next_quote.push_back(reply);
    }

    pub fn answer_next_order(&self, reply: Reply) {
        lock(&self.state).next_order.push_back(reply);
    }

    pub fn reject_next_order(&self) {
        lock(&self.state).reject_next_order = true;
    }

    pub fn quotes(&self) -> usize {
        lock(&self.state).quotes
    }

    /// The venue settles the last order it was sent (one whose answer
    /// never reached the desk) as filled at its price: from now on
    /// `GET /order/<client_order_id>/` finds it. Returns its
    /// client_order_id.
    pub fn fill_last_order_later(&self) -> String {
        let mut state = lock(&self.state);
        let body = state
            .order_requests
            .last()
            .cloned()
            .expect("an order was sent");
        let client_order_id = body["client_order_id"].as_str().unwrap().to_string();
        let answer = json!({
            "order_id": "order-late-1",
            "client_order_id": client_order_id,
            "quantity": body["quantity"],
            "side": body["side"],
            "instrument": body["instrument"],
            "price": body["price"],
            "executed_price": body["price"],
            "trades": [{"trade_id": "trade-late-1", "price": body["price"]}],
            "created": "2026-01-19T14:30:25.123456",
        });
        state.known_orders.insert(client_order_id.clone(), answer);
        client_order_id
    }

    /// From now on, more than `limit` requests in any one second are
    /// answered 429 with Retry-After.
    pub fn limit_per_second(&self, limit: usize) {
        lock(&self.state).per_second_limit = Some(limit);
    }

    /// Requests the venue's own limit answered 429 so far.
    pub fn throttled(&self) -> usize {
        lock(&self.state).throttled
    }

    /// `GET /order/...` requests received so far.
    pub fn status_requests(&self) -> usize {
        lock(&self.state).status_requests
    }

    pub fn orders(&self) -> usize {
        lock(&self.state).orders
    }

    /// `POST /order/` requests received, however they were answered (a
    /// held one too).
    pub fn orders_received(&self) -> usize {
        lock(&self.state).order_requests.len()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.server.connections.load(Ordering::SeqCst)
    }

    pub fn last_rfq(&self) -> Value {
        lock(&self.state)
            .rfqs
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn last_quote_answer(&self) -> Value {
        lock(&self.state)
            .quote_answers
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn last_order(&self) -> Value {
        lock(&self.state)
            .order_bodies
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn auth_headers(&self) -> Vec<String> {
        lock(&self.state).auth_headers.clone()
    }
}

fn b2c2_error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"errors": [{"code": code, "message": message}]}),
    )
}

fn decimal_field(body: &Value, field: &str) -> Option<Decimal> {
    body.get(field)?.as_str()?.parse().ok()
}

fn b2c2_answer(state: &mut B2c2State, request: &HttpRequest) -> Reply {
    if let Some(limit) = state.per_second_limit {
        let now = std::time::Instant::now();
        while state
            .admitted
            .front()
            .is_some_and(|at| now.duration_since(*at) >= std::time::Duration::from_secs(1))
        {
            state.admitted.pop_front();
        }
        if state.admitted.len() >= limit {
            state.throttled += 1;
            return b2c2_error(
                429,
                1100,
                "Request was throttled. Expected available in 1 second.",
            )
            .with_header("Retry-After", "1");
        }
        state.admitted.push_back(now);
    }
    let auth = request.header("authorization").unwrap_or("").to_string();
    state.auth_headers.push(auth.clone());
    let is_quote = request.path == "/request_for_quote/";
    let is_order = request.path == "/order/";
    if request.method == "GET" && request.path.starts_with("/order/") {
        state.status_requests += 1;
        if auth != format!("Token {B2C2_TOKEN}") {
            return b2c2_error(401, 1100, "Invalid token.");
        }
        let id = request.path["/order/".len()..].trim_end_matches('/');
        return match state.known_orders.get(id) {
            Some(order) => Reply::json(200, order.clone()),
            None => b2c2_error(404, 1100, "Not found."),
        };
    }
    if request.method != "POST" || !(is_quote || is_order) {
        return b2c2_error(404, 1100, "Not found.");
    }
    if is_quote {
        state.quotes += 1;
        if let Some(reply) = state.next_quote.pop_front() {
            return reply;
        }
    } else {
        state.orders += 1;
        if let Ok(body) = serde_json::from_str::<Value>(&request.body) {
            state.order_requests.push(body);
        }
        if let Some(reply) = state.next_order.pop_front() {
            return reply;
        }
    }
    if auth != format!("Token {B2C2_TOKEN}") {
        return b2c2_error(401, 1100, "Invalid token.");
    }
    let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
        return b2c2_error(400, 1016, "Illegal message.");
    };
    let instrument = body["instrument"].as_str().unwrap_or("").to_string();
    if !state.instruments.contains(&instrument) {
        return b2c2_error(400, 1001, "Instrument not allowed.");
    }
    let Some(quantity) = decimal_field(&body, "quantity") else {
        return b2c2_error(400, 1101, "Field required: quantity.");
    };
    if quantity.normalize().scale() > 4 {
        return b2c2_error(400, 1014, "Too many decimals: at most 4 are allowed.");
    }
    if quantity > state.max_quantity {
        return b2c2_error(400, 1009, "Quantity too big.");
    }
    let side = body["side"].as_str().unwrap_or("").to_string();
    let market = match side.as_str() {
        "buy" => state.offer,
        "sell" => state.bid,
        _ => return b2c2_error(400, 1016, "Illegal message: side."),
    };
    let now = Utc::now();
    if is_quote {
        state.rfqs.push(body.clone());
        let valid_until = now + chrono::Duration::milliseconds(state.validity_ms);
        let valid_until = match state.time_style {
            TimeStyle::Zoneless => valid_until.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            TimeStyle::Utc => valid_until.to_rfc3339_opts(SecondsFormat::Micros, true),
        };
        let answer = json!({
            "valid_until": valid_until,
            "rfq_id": format!("rfq-{:04}", state.quotes),
            "client_rfq_id": body["client_rfq_id"],
            "quantity": quantity.to_string(),
            "side": side,
            "instrument": instrument,
            "price": market.to_string(),
            "created": now.to_rfc3339_opts(SecondsFormat::Micros, true),
        });
        state.quote_answers.push(answer.clone());
        return Reply::json(200, answer);
    }
    state.order_bodies.push(body.clone());
    let Some(price) = decimal_field(&body, "price") else {
        return b2c2_error(400, 1101, "Field required: price.");
    };
    if body["order_type"] != "FOK" || body["valid_until"].as_str().is_none() {
        return b2c2_error(400, 1016, "Illegal message: FOK orders need valid_until.");
    }
    // Fill-or-kill at the order's price: it trades only if the venue's
    // price is still as good, and never when told to reject.
    let fills = !std::mem::take(&mut state.reject_next_order)
        && match side.as_str() {
            "buy" => market <= price,
            _ => market >= price,
        };
    let order_id = format!("order-{:04}", state.orders);
    let created = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let trades = if fills {
        json!([{
            "trade_id": format!("trade-{:04}", state.orders),
            "order": order_id,
            "quantity": quantity.to_string(),
            "side": side,
            "instrument": instrument,
            "price": price.to_string(),
            "created": created,
            "origin": "rest",
        }])
    } else {
        json!([])
    };
    let answer = json!({
            "order_id": order_id,
            "client_order_id": body["client_order_id"],
            "quantity": quantity.to_string(),
            "side": side,
            "instrument": instrument,
            "price": price.to_string(),
            "executed_price": if fills { Value::String(price.to_string()) } else { Value::Null },
            "trades": trades,
            "created": created,
    });
    if let Some(id) = body["client_order_id"].as_str() {
        state.known_orders.insert(id.to_string(), answer.clone());
    }
    Reply::json(200, answer)
}

// ------------------------------------------------------------- Binance

/// The key and secret the fake Binance accepts.
pub const BINANCE_KEY: &str = "test-binance-key-vmP2";
pub const BINANCE_SECRET: &str = "test-binance-secret-Lq9Zt4";

/// The fake Binance's endpoints, for scripting and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    GetQuote,
    AcceptQuote,
    OrderStatus,
}

impl Endpoint {
    fn of(path: &str) -> Option<Endpoint> {
        match path {
            "/sapi/v1/convert/getQuote" => Some(Endpoint::GetQuote),
            "/sapi/v1/convert/acceptQuote" => Some(Endpoint::AcceptQuote),
            "/sapi/v1/convert/orderStatus" => Some(Endpoint::OrderStatus),
            _ => None,
        }
    }
}

/// One quote the fake gave, as Binance keeps it.
#[derive(Debug, Clone)]
struct BinanceQuote {
    from_asset: String,
    to_asset: String,
    from_amount: String,
    to_amount: String,
    ratio: String,
    inverse_ratio: String,
}

#[derive(Debug, Clone)]
struct BinanceOrder {
    order_id: String,
    quote_id: String,
    quote: BinanceQuote,
    /// Statuses still to report; the last one repeats.
    statuses: VecDeque<String>,
}

/// What the fake Binance does and what it saw.
pub struct BinanceState {
    /// The pair it converts and its prices in quote per base: `ask` when
    /// the desk buys base, `bid` when it sells.
    pub base: String,
    pub quote: String,
    pub ask: Decimal,
    pub bid: Decimal,
    /// Smallest base amount it converts.
    pub min_base: Decimal,
    pub validity_ms: i64,
    /// Added to the fake's clock when it checks `timestamp` (to provoke
    /// -1021).
    pub clock_skew_ms: i64,
    /// Statuses an accepted order reports, in turn (the last repeats).
    pub statuses: Vec<String>,
    /// The next accepted order is recorded but its answer never sent.
    pub lose_next_accept_answer: bool,
    pub next: HashMap<Endpoint, VecDeque<Reply>>,
    pub counts: HashMap<Endpoint, usize>,
    /// Every request received, in order, and every quote given.
    pub requests: Vec<HttpRequest>,
    pub quote_answers: Vec<Value>,
    quotes: HashMap<String, BinanceQuote>,
    orders: Vec<BinanceOrder>,
}

/// A running fake Binance Convert.
pub struct FakeBinance {
    pub url: String,
    pub state: Arc<Mutex<BinanceState>>,
    server: Server,
}

impl FakeBinance {
    /// Starts a fake converting BTC/USDT at ask 100012.34 / bid 99987.65,
    /// quotes firm for 10 s, orders going PROCESS then SUCCESS.
    pub async fn start() -> FakeBinance {
        let state = Arc::new(Mutex::new(BinanceState {
            base: "BTC".into(),
            quote: "USDT".into(),
            ask: dec!(100012.34),
            bid: dec!(99987.65),
            min_base: dec!(0.0001),
            validity_ms: 10_000,
            clock_skew_ms: 0,
            statuses: vec!["PROCESS".into(), "SUCCESS".into()],
            lose_next_accept_answer: false,
            next: HashMap::new(),
            counts: HashMap::new(),
            requests: Vec::new(),
            quote_answers: Vec::new(),
            quotes: HashMap::new(),
            orders: Vec::new(),
        }));
        let shared = state.clone();
        let server = start_server(Arc::new(move |request: &HttpRequest| {
            binance_answer(&mut lock(&shared), request)
        }))
        .await;
        FakeBinance {
            url: server.url.clone(),
            state,
            server,
        }
    }

    pub fn set_prices(&self, bid: Decimal, ask: Decimal) {
        let mut state = lock(&self.state);
        state.bid = bid;
        state.ask = ask;
    }

    /// The statuses the next accepted orders report, in turn.
    pub fn set_statuses(&self, statuses: &[&str]) {
        lock(&self.state).statuses = statuses.iter().map(|s| s.to_string()).collect();
    }

    pub fn set_clock_skew_ms(&self, skew: i64) {
        lock(&self.state).clock_skew_ms = skew;
    }

    /// The venue settles its last accepted order: from now on its status
    /// is `status` (`SUCCESS`, `FAIL`).
    pub fn settle_last_order(&self, status: &str) {
        let mut state = lock(&self.state);
        let order = state.orders.last_mut().expect("an order was accepted");
        order.statuses = VecDeque::from([status.to_string()]);
    }

    /// Orders it accepted (recorded), however their answers went.
    pub fn accepted_orders(&self) -> usize {
        lock(&self.state).orders.len()
    }

    pub fn lose_next_accept_answer(&self) {
        lock(&self.state).lose_next_accept_answer = true;
    }

    pub fn answer_next(&self, endpoint: Endpoint, reply: Reply) {
        lock(&self.state)
            .next
            .entry(endpoint)
            .or_default()
            .push_back(reply);
    }

    pub fn count(&self, endpoint: Endpoint) -> usize {
        lock(&self.state)
            .counts
            .get(&endpoint)
            .copied()
            .unwrap_or(0)
    }

    pub fn connections(&self) -> usize {
        self.server.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<HttpRequest> {
        lock(&self.state).requests.clone()
    }

    pub fn last_quote_answer(&self) -> Value {
        lock(&self.state)
            .quote_answers
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }
}

fn binance_error(status: u16, code: i64, msg: &str) -> Reply {
    Reply::json(status, json!({"code": code, "msg": msg}))
}

/// Binance's totalParams: the query string followed by the body, with
/// the signature parameter taken out of whichever holds it.
fn signature_check(request: &HttpRequest) -> Result<(), Reply> {
    fn split(text: &str) -> (String, Option<String>) {
        let mut kept = Vec::new();
        let mut signature = None;
        for pair in text.split('&').filter(|pair| !pair.is_empty()) {
            match pair.strip_prefix("signature=") {
                Some(value) => signature = Some(value.to_string()),
                None => kept.push(pair),
            }
        }
        (kept.join("&"), signature)
    }
    let (query, in_query) = split(&request.query);
    let (body, in_body) = split(&request.body);
    let Some(signature) = in_query.or(in_body) else {
        return Err(binance_error(
            400,
            -1102,
            "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        ));
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(BINANCE_SECRET.as_bytes()).expect("hmac takes any key");
    mac.update(query.as_bytes());
    mac.update(body.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if signature != expected {
        return Err(binance_error(
            400,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    Ok(())
}

fn binance_answer(state: &mut BinanceState, request: &HttpRequest) -> Reply {
    state.requests.push(request.clone());
    let Some(endpoint) = Endpoint::of(&request.path) else {
        return binance_error(404, -1000, "Not found.");
    };
    *state.counts.entry(endpoint).or_default() += 1;
    if let Some(reply) = state.next.get_mut(&endpoint).and_then(VecDeque::pop_front) {
        return reply;
    }
    let method = if endpoint == Endpoint::OrderStatus {
        "GET"
    } else {
        "POST"
    };
    if request.method != method {
        return binance_error(405, -1000, "Method not allowed.");
    }
    if request.header("x-mbx-apikey") != Some(BINANCE_KEY) {
        return binance_error(
            401,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        );
    }
    if let Err(reply) = signature_check(request) {
        return reply;
    }
    let params = request.params();
    let Some(timestamp) = params.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return binance_error(
            400,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        );
    };
    let recv_window = params
        .get("recvWindow")
        .and_then(|w| w.parse::<i64>().ok())
        .unwrap_or(5000);
    let now_ms = Utc::now().timestamp_millis() + state.clock_skew_ms;
    if timestamp > now_ms + 1000 || now_ms - timestamp > recv_window {
        return binance_error(
            400,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        );
    }
    match endpoint {
        Endpoint::GetQuote => binance_quote(state, &params, now_ms),
        Endpoint::AcceptQuote => binance_accept(state, &params),
        Endpoint::OrderStatus => binance_status(state, &params),
    }
}

fn binance_quote(state: &mut BinanceState, params: &HashMap<String, String>, now_ms: i64) -> Reply {
    let from = params.get("fromAsset").cloned().unwrap_or_default();
    let to = params.get("toAsset").cloned().unwrap_or_default();
    let amount = |key: &str| params.get(key).and_then(|a| a.parse::<Decimal>().ok());
    let (from_amount, to_amount) = (amount("fromAmount"), amount("toAmount"));
    if from_amount.is_some() == to_amount.is_some() {
        return binance_error(
            400,
            -1102,
            "Exactly one of fromAmount and toAmount must be sent.",
        );
    }
    let buys_base = from == state.quote && to == state.base;
    let sells_base = from == state.base && to == state.quote;
    if !(buys_base || sells_base) {
        return binance_error(400, 345214, "This pair is not supported for convert.");
    }
    // Binance answers with 8-decimal ratios; the price side is exact.
    let (price, base_amount) = if buys_base {
        (
            state.ask,
            to_amount.unwrap_or_else(|| from_amount.unwrap_or_default() / state.ask),
        )
    } else {
        (
            state.bid,
            from_amount.unwrap_or_else(|| to_amount.unwrap_or_default() / state.bid),
        )
    };
    if base_amount < state.min_base {
        return binance_error(400, 345239, "The amount is too small.");
    }
    let quote_amount = (base_amount * price).round_dp(8);
    let inverse = (Decimal::ONE / price).round_dp(8);
    let quote = if buys_base {
        BinanceQuote {
            from_asset: from,
            to_asset: to,
            from_amount: quote_amount.to_string(),
            to_amount: base_amount.to_string(),
            ratio: inverse.to_string(),
            inverse_ratio: price.to_string(),
        }
    } else {
        BinanceQuote {
            from_asset: from,
            to_asset: to,
            from_amount: base_amount.to_string(),
            to_amount: quote_amount.to_string(),
            ratio: price.to_string(),
            inverse_ratio: inverse.to_string(),
        }
    };
    let quote_id = format!("{now_ms}{:04}", state.quotes.len() + 1);
    state.quotes.insert(quote_id.clone(), quote.clone());
    let answer = json!({
        "quoteId": quote_id,
        "ratio": quote.ratio,
        "inverseRatio": quote.inverse_ratio,
        "validTimestamp": now_ms + state.validity_ms,
        "toAmount": quote.to_amount,
        "fromAmount": quote.from_amount,
    });
    state.quote_answers.push(answer.clone());
    Reply::json(200, answer)
}

fn binance_accept(state: &mut BinanceState, params: &HashMap<String, String>) -> Reply {
    let quote_id = params.get("quoteId").cloned().unwrap_or_default();
    let Some(quote) = state.quotes.get(&quote_id).cloned() else {
        return binance_error(400, 345103, "Quote does not exist or has expired.");
    };
    if state.orders.iter().any(|order| order.quote_id == quote_id) {
        return binance_error(400, 345104, "Quote has already been accepted.");
    }
    // Binance's order ids are 18-digit numbers, written as strings here
    // and as numbers in the status answer (the adapter takes both).
    let order_id = format!("9332562784262{:05}", state.orders.len() + 1);
    state.orders.push(BinanceOrder {
        order_id: order_id.clone(),
        quote_id,
        quote,
        statuses: state.statuses.iter().cloned().collect(),
    });
    if std::mem::take(&mut state.lose_next_accept_answer) {
        return Reply::Hang;
    }
    Reply::json(
        200,
        json!({"orderId": order_id, "createTime": Utc::now().timestamp_millis(), "orderStatus": "PROCESS"}),
    )
}

fn binance_status(state: &mut BinanceState, params: &HashMap<String, String>) -> Reply {
    let order = match (params.get("orderId"), params.get("quoteId")) {
        (Some(id), _) => state.orders.iter_mut().find(|order| &order.order_id == id),
        (None, Some(quote_id)) => state
            .orders
            .iter_mut()
            .find(|order| &order.quote_id == quote_id),
        (None, None) => None,
    };
    let Some(order) = order else {
        // Binance's NO_SUCH_ORDER, as its error codes document it.
        return binance_error(400, -2013, "Order does not exist.");
    };
    let status = if order.statuses.len() > 1 {
        order.statuses.pop_front().unwrap_or_default()
    } else {
        order.statuses.front().cloned().unwrap_or_default()
    };
    let quote = &order.quote;
    Reply::json(
        200,
        json!({
            "orderId": order.order_id.parse::<u64>().map(Value::from).unwrap_or_else(|_| Value::String(order.order_id.clone())),
            "orderStatus": status,
            "fromAsset": quote.from_asset,
            "fromAmount": quote.from_amount,
            "toAsset": quote.to_asset,
            "toAmount": quote.to_amount,
            "ratio": quote.ratio,
            "inverseRatio": quote.inverse_ratio,
            "createTime": Utc::now().timestamp_millis(),
        }),
    )
}

// ------------------------------------------------------- Binance ticker

/// What the fake ticker knows: a price per symbol, and whether it still
/// answers at all.
pub struct TickerState {
    prices: HashMap<String, Decimal>,
    /// How many more requests it answers (`None`: all).
    answers_left: Option<usize>,
    asked: usize,
}

/// Binance's public spot ticker (`GET /api/v3/ticker/price?symbol=…`),
/// as the spot API docs describe it: `{"symbol":"BTCUSDT","price":"…"}`,
/// or 400 `{"code":-1121,"msg":"Invalid symbol."}` for a symbol it does
/// not list.
pub struct FakeTicker {
    pub url: String,
    state: Arc<Mutex<TickerState>>,
    server: Server,
}

impl FakeTicker {
    /// A ticker listing BTCUSDT at `price`.
    pub async fn start(price: Decimal) -> FakeTicker {
        let state = Arc::new(Mutex::new(TickerState {
            prices: HashMap::from([("BTCUSDT".to_string(), price)]),
            answers_left: None,
            asked: 0,
        }));
        let shared = state.clone();
        let server = start_server(Arc::new(move |request: &HttpRequest| {
            let mut state = lock(&shared);
            state.asked += 1;
            match &mut state.answers_left {
                Some(0) => return Reply::Hang,
                Some(left) => *left -= 1,
                None => {}
            }
            if request.method != "GET" || request.path != "/api/v3/ticker/price" {
                return Reply::json(404, json!({"code": -1, "msg": "no such endpoint"}));
            }
            let symbol = request.params().get("symbol").cloned().unwrap_or_default();
            match state.prices.get(&symbol) {
                Some(price) => Reply::json(
                    200,
                    json!({"symbol": symbol, "price": format!("{price:.8}")}),
                ),
                None => Reply::json(400, json!({"code": -1121, "msg": "Invalid symbol."})),
            }
        }))
        .await;
        FakeTicker {
            url: server.url.clone(),
            state,
            server,
        }
    }

    /// Answers the next `count` requests, then reads every later one and
    /// never answers it.
    pub fn answer_only(&self, count: usize) {
        lock(&self.state).answers_left = Some(count);
    }

    /// How many requests it has received.
    pub fn asked(&self) -> usize {
        lock(&self.state).asked
    }
}
