//! A FIX 4.4 acceptor on 127.0.0.1 playing an LP for the venue tests. It
//! runs a plain session layer (Logon, Heartbeat for TestRequest, GapFill
//! for ResendRequest, Logout), answers QuoteRequests and orders as its
//! [`Script`] says, records every message it receives, and can be told to
//! misbehave: send anything, skip or reuse sequence numbers, drop the
//! connection, refuse new ones.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lp_rfq::lp::fix::codec::{msg_type, tag, utc_timestamp, Framer, Message};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// The desk's CompID (the acceptor's target).
pub const DESK: &str = "DESK";
/// The LP's CompID.
pub const LP: &str = "LP";

/// How the acceptor answers a Logon.
#[derive(Debug, Clone)]
pub enum Logon {
    Accept,
    /// Logout with this text, then close.
    Logout(String),
    /// A session Reject of the Logon with this text, then close.
    Reject(String),
}

/// How the acceptor answers a QuoteRequest.
#[derive(Debug, Clone)]
pub enum Quotes {
    TwoWay {
        bid: Decimal,
        offer: Decimal,
        bid_size: Decimal,
        offer_size: Decimal,
        valid_ms: i64,
    },
    /// Only a bid (132/134).
    BidOnly {
        bid: Decimal,
        size: Decimal,
    },
    /// QuoteRequestReject (AG).
    Decline {
        reason: u32,
        text: String,
    },
    Silent,
}

/// How the acceptor answers a NewOrderSingle.
#[derive(Debug, Clone)]
pub enum Orders {
    /// Filled in full at the order's price.
    Fill,
    /// ExecutionReport 150=8/39=8 with this text.
    LastLookReject(String),
    /// No ExecutionReport, and no answer to an OrderStatusRequest either.
    Silent,
    /// Filled in full at the order's price, but the ExecutionReport is
    /// never sent (nor an answer to an OrderStatusRequest while this
    /// holds): the fill is only in the venue's book, for a later
    /// OrderStatusRequest to find.
    FillSilently,
}

#[derive(Debug, Clone)]
pub struct Script {
    pub logon: Logon,
    /// When false, every new connection is closed at once.
    pub accept_connections: bool,
    pub quotes: Quotes,
    pub orders: Orders,
}

impl Default for Script {
    fn default() -> Script {
        Script {
            logon: Logon::Accept,
            accept_connections: true,
            quotes: Quotes::TwoWay {
                bid: dec!(99990.5),
                offer: dec!(100010.25),
                bid_size: dec!(2),
                offer_size: dec!(1.5),
                valid_ms: 10_000,
            },
            orders: Orders::Fill,
        }
    }
}

enum Control {
    /// Send with the next MsgSeqNum.
    Send(Message),
    /// Send with this MsgSeqNum, leaving the sequence as it is.
    SendWithSeq(Message, u64),
    /// Send with the next MsgSeqNum and a wrong CheckSum.
    SendCorrupted(Message),
    /// Jump the outgoing sequence ahead.
    SkipSeq(u64),
    /// Close the connection.
    Drop,
}

struct State {
    script: Script,
    received: Vec<Message>,
    connections: u32,
    out_seq: u64,
    quotes_sent: u64,
    orders_seen: u64,
    /// Every order's settled state by ClOrdID, as an OrderStatusRequest
    /// reports it (AvgPx, CumQty, OrdStatus, OrderID).
    book: std::collections::HashMap<String, (String, String, &'static str, String)>,
}

struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.state.lock().unwrap();
        f(&mut state)
    }
}

/// A running acceptor. Dropping it stops it.
pub struct Acceptor {
    pub port: u16,
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    task: JoinHandle<()>,
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long a test waits for something the acceptor should receive.
const WAIT: Duration = Duration::from_secs(3);

impl Acceptor {
    /// Listens on 127.0.0.1 on a free port.
    pub async fn start(script: Script) -> Acceptor {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script,
                received: Vec::new(),
                connections: 0,
                out_seq: 1,
                quotes_sent: 0,
                orders_seen: 0,
                book: std::collections::HashMap::new(),
            }),
            changed: Notify::new(),
        });
        let (control, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(listener, shared.clone(), control_rx));
        Acceptor {
            port,
            shared,
            control,
            task,
        }
    }

    /// Changes how the acceptor answers from now on.
    pub fn script(&self, change: impl FnOnce(&mut Script)) {
        self.shared.with(|s| change(&mut s.script));
    }

    /// Sends `body` (header added) on the current connection.
    pub fn send(&self, body: Message) {
        self.control.send(Control::Send(body)).unwrap();
    }

    /// Sends `body` numbered `seq`, whatever the sequence says.
    pub fn send_with_seq(&self, body: Message, seq: u64) {
        self.control.send(Control::SendWithSeq(body, seq)).unwrap();
    }

    /// Sends `body` with the next MsgSeqNum but a corrupted CheckSum.
    pub fn send_corrupted(&self, body: Message) {
        self.control.send(Control::SendCorrupted(body)).unwrap();
    }

    /// Skips `n` outgoing sequence numbers.
    pub fn skip_seq(&self, n: u64) {
        self.control.send(Control::SkipSeq(n)).unwrap();
    }

    /// Closes the current connection.
    pub fn drop_connection(&self) {
        self.control.send(Control::Drop).unwrap();
    }

    /// How many connections have been accepted.
    pub fn connections(&self) -> u32 {
        self.shared.with(|s| s.connections)
    }

    /// Every message of `kind` received so far.
    pub fn received(&self, kind: &str) -> Vec<Message> {
        self.shared.with(|s| {
            s.received
                .iter()
                .filter(|m| m.msg_type() == kind)
                .cloned()
                .collect()
        })
    }

    /// Waits for the `nth` (from 1) received message of `kind` that
    /// satisfies `matches`; panics after a few seconds.
    pub async fn wait_for_nth(
        &self,
        kind: &str,
        nth: usize,
        matches: impl Fn(&Message) -> bool,
    ) -> Message {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let changed = self.shared.changed.notified();
            let found = self.shared.with(|s| {
                s.received
                    .iter()
                    .filter(|m| m.msg_type() == kind && matches(m))
                    .nth(nth - 1)
                    .cloned()
            });
            if let Some(message) = found {
                return message;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!(
                    "the acceptor received no message #{nth} of type '{kind}' in {WAIT:?}; it has: {:?}",
                    self.shared.with(|s| s.received.clone())
                );
            }
        }
    }

    /// Waits for the first received message of `kind`.
    pub async fn wait_for(&self, kind: &str) -> Message {
        self.wait_for_nth(kind, 1, |_| true).await
    }
}

/// A Quote (S) answering `quote_req_id`, two-way, valid for `valid_ms`.
pub fn quote(quote_req_id: &str, quote_id: &str, bid: Decimal, offer: Decimal) -> Message {
    Message::new(msg_type::QUOTE)
        .with(tag::QUOTE_REQ_ID, quote_req_id)
        .with(tag::QUOTE_ID, quote_id)
        .with(tag::SYMBOL, "BTC/USDT")
        .with(tag::BID_PX, bid)
        .with(tag::OFFER_PX, offer)
        .with(tag::BID_SIZE, 5)
        .with(tag::OFFER_SIZE, 5)
        .with(tag::VALID_UNTIL_TIME, valid_until(10_000))
}

fn valid_until(ms: i64) -> String {
    utc_timestamp(chrono::Utc::now() + chrono::Duration::milliseconds(ms))
}

async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut control: mpsc::UnboundedReceiver<Control>,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let accept = shared.with(|s| {
            s.connections += 1;
            s.script.accept_connections
        });
        shared.changed.notify_waiters();
        if accept {
            serve(stream, &shared, &mut control).await;
        }
    }
}

async fn serve(stream: TcpStream, shared: &Shared, control: &mut mpsc::UnboundedReceiver<Control>) {
    let (mut reader, mut writer) = stream.into_split();
    let mut framer = Framer::new();
    let mut buf = vec![0u8; 4096];
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => {
                match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => framer.push(&buf[..n]),
                }
                while let Some(frame) = framer.next_frame() {
                    let Ok(frame) = frame else { continue };
                    if !answer(frame.message, shared, &mut writer).await {
                        return;
                    }
                }
            }
            command = control.recv() => match command {
                Some(Control::Send(body)) => {
                    let seq = shared.with(|s| { s.out_seq += 1; s.out_seq - 1 });
                    write(&mut writer, &body, seq, false).await;
                }
                Some(Control::SendWithSeq(body, seq)) => write(&mut writer, &body, seq, false).await,
                Some(Control::SendCorrupted(body)) => {
                    let seq = shared.with(|s| { s.out_seq += 1; s.out_seq - 1 });
                    let mut bytes = stamp(&body, seq, false).encode();
                    // The checksum's last digit, before the final SOH.
                    let at = bytes.len() - 2;
                    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
                    let _ = writer.write_all(&bytes).await;
                }
                Some(Control::SkipSeq(n)) => shared.with(|s| s.out_seq += n),
                Some(Control::Drop) | None => return,
            }
        }
    }
}

/// Acts on one message from the desk; false to close the connection.
async fn answer(msg: Message, shared: &Shared, writer: &mut OwnedWriteHalf) -> bool {
    let script = shared.with(|s| {
        s.received.push(msg.clone());
        s.script.clone()
    });
    shared.changed.notify_waiters();
    let next = || {
        shared.with(|s| {
            s.out_seq += 1;
            s.out_seq - 1
        })
    };
    match msg.msg_type() {
        msg_type::LOGON => match script.logon {
            Logon::Accept => {
                let mut logon = Message::new(msg_type::LOGON)
                    .with(tag::ENCRYPT_METHOD, 0)
                    .with(
                        tag::HEART_BT_INT,
                        msg.get(tag::HEART_BT_INT).unwrap_or("30"),
                    );
                if msg.get(tag::RESET_SEQ_NUM_FLAG) == Some("Y") {
                    shared.with(|s| s.out_seq = 1);
                    logon.push(tag::RESET_SEQ_NUM_FLAG, "Y");
                }
                write(writer, &logon, next(), false).await;
            }
            Logon::Logout(text) => {
                let logout = Message::new(msg_type::LOGOUT).with(tag::TEXT, text);
                write(writer, &logout, next(), false).await;
                return false;
            }
            Logon::Reject(text) => {
                let reject = Message::new(msg_type::REJECT)
                    .with(tag::REF_SEQ_NUM, msg.get(tag::MSG_SEQ_NUM).unwrap_or("1"))
                    .with(tag::TEXT, text);
                write(writer, &reject, next(), false).await;
                return false;
            }
        },
        msg_type::TEST_REQUEST => {
            let heartbeat = Message::new(msg_type::HEARTBEAT)
                .with(tag::TEST_REQ_ID, msg.get(tag::TEST_REQ_ID).unwrap_or(""));
            write(writer, &heartbeat, next(), false).await;
        }
        msg_type::RESEND_REQUEST => {
            let begin: u64 = msg
                .get(tag::BEGIN_SEQ_NO)
                .unwrap_or("1")
                .parse()
                .unwrap_or(1);
            let new_seq = shared.with(|s| s.out_seq);
            let fill = Message::new(msg_type::SEQUENCE_RESET)
                .with(tag::GAP_FILL_FLAG, "Y")
                .with(tag::NEW_SEQ_NO, new_seq);
            write(writer, &fill, begin, true).await;
        }
        msg_type::LOGOUT => {
            write(writer, &Message::new(msg_type::LOGOUT), next(), false).await;
            return false;
        }
        msg_type::QUOTE_REQUEST => {
            let key = msg.get(tag::QUOTE_REQ_ID).unwrap_or("").to_string();
            let symbol = msg.get(tag::SYMBOL).unwrap_or("").to_string();
            let n = shared.with(|s| {
                s.quotes_sent += 1;
                s.quotes_sent
            });
            let base = Message::new(msg_type::QUOTE)
                .with(tag::QUOTE_REQ_ID, &key)
                .with(tag::QUOTE_ID, format!("QUOTE-{n}"))
                .with(tag::SYMBOL, &symbol);
            let reply = match script.quotes {
                Quotes::TwoWay {
                    bid,
                    offer,
                    bid_size,
                    offer_size,
                    valid_ms,
                } => Some(
                    base.with(tag::BID_PX, bid)
                        .with(tag::OFFER_PX, offer)
                        .with(tag::BID_SIZE, bid_size)
                        .with(tag::OFFER_SIZE, offer_size)
                        .with(tag::VALID_UNTIL_TIME, valid_until(valid_ms)),
                ),
                Quotes::BidOnly { bid, size } => Some(
                    base.with(tag::BID_PX, bid)
                        .with(tag::BID_SIZE, size)
                        .with(tag::VALID_UNTIL_TIME, valid_until(10_000)),
                ),
                Quotes::Decline { reason, text } => Some(
                    Message::new(msg_type::QUOTE_REQUEST_REJECT)
                        .with(tag::QUOTE_REQ_ID, &key)
                        .with(tag::QUOTE_REQUEST_REJECT_REASON, reason)
                        .with(tag::TEXT, text),
                ),
                Quotes::Silent => None,
            };
            if let Some(reply) = reply {
                write(writer, &reply, next(), false).await;
            }
        }
        msg_type::NEW_ORDER_SINGLE => {
            let n = shared.with(|s| {
                s.orders_seen += 1;
                s.orders_seen
            });
            let report = Message::new(msg_type::EXECUTION_REPORT)
                .with(tag::ORDER_ID, format!("ORD-{n}"))
                .with(tag::EXEC_ID, format!("EXEC-{n}"))
                .with(tag::CL_ORD_ID, msg.get(tag::CL_ORD_ID).unwrap_or(""))
                .with(tag::SYMBOL, msg.get(tag::SYMBOL).unwrap_or(""))
                .with(tag::SIDE, msg.get(tag::SIDE).unwrap_or(""))
                .with(tag::ORDER_QTY, msg.get(tag::ORDER_QTY).unwrap_or(""));
            let price = msg.get(tag::PRICE).unwrap_or("0");
            // An order for an amount of the quote currency (CashOrderQty)
            // fills the base that amount buys at the price, to 8 decimals
            // in the venue's favour (down for a buy, up for a sell).
            let cash_qty = msg.get(tag::CASH_ORDER_QTY).map(|cash| {
                let (cash, px) = (
                    cash.parse::<Decimal>().unwrap_or_default(),
                    price.parse::<Decimal>().unwrap_or(Decimal::ONE),
                );
                let strategy = if msg.get(tag::SIDE) == Some("1") {
                    rust_decimal::RoundingStrategy::ToNegativeInfinity
                } else {
                    rust_decimal::RoundingStrategy::ToPositiveInfinity
                };
                (cash / px).round_dp_with_strategy(8, strategy).to_string()
            });
            let qty = cash_qty
                .as_deref()
                .unwrap_or_else(|| msg.get(tag::ORDER_QTY).unwrap_or("0"));
            let settled = match script.orders {
                Orders::Fill | Orders::FillSilently => Some((price, qty, "2")),
                Orders::LastLookReject(_) => Some(("0", "0", "8")),
                Orders::Silent => None,
            };
            if let Some((avg_px, cum_qty, status)) = settled {
                let cl_ord_id = msg.get(tag::CL_ORD_ID).unwrap_or("").to_string();
                shared.with(|s| {
                    s.book.insert(
                        cl_ord_id,
                        (
                            avg_px.to_string(),
                            cum_qty.to_string(),
                            status,
                            format!("ORD-{n}"),
                        ),
                    )
                });
            }
            let reply = match script.orders {
                Orders::Fill => Some(
                    report
                        .with(tag::EXEC_TYPE, "F")
                        .with(tag::ORD_STATUS, "2")
                        .with(tag::LAST_PX, price)
                        .with(tag::LAST_QTY, qty)
                        .with(tag::CUM_QTY, qty)
                        .with(tag::AVG_PX, price),
                ),
                Orders::LastLookReject(text) => Some(
                    report
                        .with(tag::EXEC_TYPE, "8")
                        .with(tag::ORD_STATUS, "8")
                        .with(tag::CUM_QTY, 0)
                        .with(tag::AVG_PX, 0)
                        .with(tag::TEXT, text),
                ),
                Orders::Silent | Orders::FillSilently => None,
            };
            if let Some(reply) = reply {
                write(writer, &reply, next(), false).await;
            }
        }
        // Answered from the book: 150=I with the order's OrdStatus, or
        // 39=8 OrdRejReason 5 (unknown order) for a ClOrdID never seen.
        msg_type::ORDER_STATUS_REQUEST
            if !matches!(script.orders, Orders::Silent | Orders::FillSilently) =>
        {
            let cl_ord_id = msg.get(tag::CL_ORD_ID).unwrap_or("").to_string();
            let report = Message::new(msg_type::EXECUTION_REPORT)
                .with(tag::CL_ORD_ID, &cl_ord_id)
                .with(tag::EXEC_TYPE, "I")
                .with(tag::SYMBOL, msg.get(tag::SYMBOL).unwrap_or(""))
                .with(tag::SIDE, msg.get(tag::SIDE).unwrap_or(""));
            let report = match shared.with(|s| s.book.get(&cl_ord_id).cloned()) {
                Some((avg_px, cum_qty, status, order_id)) => report
                    .with(tag::ORDER_ID, order_id)
                    .with(tag::ORD_STATUS, status)
                    .with(tag::AVG_PX, avg_px)
                    .with(tag::CUM_QTY, cum_qty),
                None => report
                    .with(tag::ORDER_ID, "NONE")
                    .with(tag::ORD_STATUS, "8")
                    .with(103, 5) // OrdRejReason: unknown order
                    .with(tag::TEXT, "unknown order"),
            };
            write(writer, &report, next(), false).await;
        }
        _ => {}
    }
    true
}

async fn write(writer: &mut OwnedWriteHalf, body: &Message, seq: u64, poss_dup: bool) {
    // The desk may already have gone; the tests look at what it received.
    let _ = writer.write_all(&stamp(body, seq, poss_dup).encode()).await;
}

/// `body` with the acceptor's header.
fn stamp(body: &Message, seq: u64, poss_dup: bool) -> Message {
    let mut message = Message::new(body.msg_type())
        .with(tag::SENDER_COMP_ID, LP)
        .with(tag::TARGET_COMP_ID, DESK)
        .with(tag::MSG_SEQ_NUM, seq)
        .with(tag::SENDING_TIME, utc_timestamp(chrono::Utc::now()));
    if poss_dup {
        message.push(tag::POSS_DUP_FLAG, "Y");
        message.push(tag::ORIG_SENDING_TIME, utc_timestamp(chrono::Utc::now()));
    }
    for (t, value) in body.fields() {
        message.push(*t, value);
    }
    message
}
