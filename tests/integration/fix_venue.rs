//! The FIX 4.4 venue against a local acceptor playing the LP: logon,
//! quotes, declines, orders and their outcomes, and the session layer's
//! sequence, heartbeat and reconnect behaviour, all on 127.0.0.1 with
//! short timings.

use std::sync::Arc;
use std::time::Duration;

use lp_rfq::clock::StreamClock;
use lp_rfq::lp::fix::codec::{msg_type, parse_utc_timestamp, tag, Message};
use lp_rfq::lp::fix::session::LinkState;
use lp_rfq::lp::fix::{Fix44Config, Fix44Lp};
use lp_rfq::lp::{
    next_request_id, LiquidityProvider, LpError, LpOrder, LpQuote, LpRequest, OrderAnswer,
};
use lp_rfq::market::Side;
use lp_rfq::secret::Secret;
use rust_decimal_macros::dec;
use tempfile::TempDir;

use crate::fix_acceptor::{quote, Acceptor, Logon, Orders, Quotes, Script, DESK, LP};

/// Short timings so the whole module runs in a few seconds.
fn config(port: u16, dir: &TempDir) -> Fix44Config {
    let mut config = Fix44Config::new("Local LP", "127.0.0.1", port, DESK, LP, dir.path());
    config.reconnect_min_ms = 50;
    config.reconnect_max_ms = 200;
    config.logon_timeout_ms = 1_000;
    config.logout_timeout_ms = 500;
    config.order_timeout_ms = 300;
    config.status_timeout_ms = 200;
    config
}

/// An acceptor with `script` and a venue logged on to it.
async fn logged_on(
    script: Script,
    change: impl FnOnce(&mut Fix44Config),
) -> (Acceptor, Fix44Lp, TempDir) {
    let acceptor = Acceptor::start(script).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(acceptor.port, &dir);
    change(&mut config);
    let lp = Fix44Lp::start(config).unwrap();
    lp.wait_logged_on(Duration::from_secs(2)).await.unwrap();
    (acceptor, lp, dir)
}

fn request(side: Side) -> LpRequest {
    LpRequest {
        request_id: next_request_id(),
        rfq_id: Arc::from("R-fix-test"),
        side,
        pair: "BTCUSDT".parse().unwrap(),
        amount: dec!(1.5),
        sent_ms: 0,
        clock: StreamClock::start(),
        fixed: lp_rfq::market::Leg::Base,
    }
}

fn order_for(quote: &LpQuote, request: &LpRequest, order_id: &str) -> LpOrder {
    LpOrder {
        order_id: Arc::from(order_id),
        rfq_id: request.rfq_id.clone(),
        side: request.side,
        pair: request.pair,
        amount: request.amount,
        price: quote.price,
        venue_ref: quote.venue_ref.clone(),
        valid_until_ms: quote.valid_until_ms,
        clock: request.clock,
        fixed: lp_rfq::market::Leg::Base,
    }
}

/// The fields of a message without SendingTime (52), which changes.
fn fields_without_time(message: &Message) -> Vec<(u32, &str)> {
    message
        .fields()
        .iter()
        .filter(|(t, _)| *t != tag::SENDING_TIME)
        .map(|(t, v)| (*t, v.as_str()))
        .collect()
}

fn audit_log(lp: &Fix44Lp) -> String {
    std::fs::read_to_string(lp.audit_log_path()).unwrap()
}

#[tokio::test]
async fn logon_sends_reset_and_credentials_and_the_audit_log_masks_the_password() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |c| {
        c.username = Some("desk-user".to_string());
        c.password = Some(Secret::new("s3cret-pw"));
    })
    .await;
    let logon = acceptor.wait_for(msg_type::LOGON).await;
    assert_eq!(
        fields_without_time(&logon),
        vec![
            (tag::SENDER_COMP_ID, DESK),
            (tag::TARGET_COMP_ID, LP),
            (tag::MSG_SEQ_NUM, "1"),
            (tag::ENCRYPT_METHOD, "0"),
            (tag::HEART_BT_INT, "30"),
            (tag::RESET_SEQ_NUM_FLAG, "Y"),
            (tag::USERNAME, "desk-user"),
            (tag::PASSWORD, "s3cret-pw"),
        ]
    );
    assert!(parse_utc_timestamp(logon.get(tag::SENDING_TIME).unwrap()).is_some());
    assert_eq!(lp.link_state(), LinkState::Up);
    assert!(lp.audit_log_path().ends_with("Local_LP.fix.log"));
    let log = audit_log(&lp);
    assert!(!log.contains("s3cret-pw"), "{log}");
    let out = log
        .lines()
        .find(|l| l.contains(" OUT 8=FIX.4.4|") && l.contains("|35=A|"))
        .unwrap();
    assert!(out.contains("|553=desk-user|554=***|10="), "{out}");
    let answer = log
        .lines()
        .find(|l| l.contains(" IN  8=FIX.4.4|") && l.contains("|35=A|"))
        .unwrap();
    assert!(answer.contains("|49=LP|56=DESK|34=1|"), "{answer}");
}

#[tokio::test]
async fn a_two_way_quote_is_taken_on_the_offer_for_a_buy_and_the_bid_for_a_sell() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |_| {}).await;
    let buy = request(Side::Buy);
    let quote = lp.quote(&buy).await.unwrap();
    assert_eq!(quote.lp.as_ref(), "Local LP");
    assert_eq!(quote.request_id, buy.request_id);
    assert_eq!(
        (quote.side, quote.price, quote.quantity),
        (Side::Buy, dec!(100010.25), dec!(1.5))
    );
    assert_eq!(quote.venue_ref.as_deref(), Some("QUOTE-1"));
    // Valid for 10 s of wall time from the LP's answer.
    assert!(
        (9_000..=10_000).contains(&quote.valid_until_ms),
        "{}",
        quote.valid_until_ms
    );

    let asked = acceptor.wait_for(msg_type::QUOTE_REQUEST).await;
    let request_fields: Vec<(u32, &str)> = fields_without_time(&asked)
        .into_iter()
        .filter(|(t, _)| *t != tag::TRANSACT_TIME)
        .skip(3)
        .collect();
    let key = buy.key();
    assert_eq!(
        request_fields,
        vec![
            (tag::QUOTE_REQ_ID, key.as_str()),
            (tag::NO_RELATED_SYM, "1"),
            (tag::SYMBOL, "BTC/USDT"),
            (tag::SIDE, "1"),
            (tag::ORDER_QTY, "1.5"),
            (tag::CURRENCY, "BTC"),
        ]
    );
    assert!(parse_utc_timestamp(asked.get(tag::TRANSACT_TIME).unwrap()).is_some());

    let sell = request(Side::Sell);
    let quote = lp.quote(&sell).await.unwrap();
    assert_eq!(
        (quote.side, quote.price, quote.quantity),
        (Side::Sell, dec!(99990.5), dec!(2))
    );
    assert_eq!(quote.venue_ref.as_deref(), Some("QUOTE-2"));
    let asked = acceptor
        .wait_for_nth(msg_type::QUOTE_REQUEST, 2, |_| true)
        .await;
    assert_eq!(asked.get(tag::SIDE), Some("2"));
}

#[tokio::test]
async fn a_one_sided_quote_on_the_wrong_side_is_malformed() {
    let script = Script {
        quotes: Quotes::BidOnly {
            bid: dec!(99990),
            size: dec!(1.5),
        },
        ..Script::default()
    };
    let (_acceptor, lp, _dir) = logged_on(script, |_| {}).await;
    assert_eq!(
        lp.quote(&request(Side::Buy)).await,
        Err(LpError::Malformed(
            "Quote 'QUOTE-1' has no OfferPx (133) for a client buy".to_string()
        ))
    );
    assert_eq!(
        lp.quote(&request(Side::Sell)).await.unwrap().price,
        dec!(99990)
    );
}

#[tokio::test]
async fn a_quote_request_reject_is_declined_with_its_text() {
    let script = Script {
        quotes: Quotes::Decline {
            reason: 3,
            text: "size above limit".to_string(),
        },
        ..Script::default()
    };
    let (_acceptor, lp, _dir) = logged_on(script, |_| {}).await;
    assert_eq!(
        lp.quote(&request(Side::Buy)).await,
        Err(LpError::Declined(
            "size above limit (QuoteRequestRejectReason 3: quote request exceeds limit)"
                .to_string()
        ))
    );
}

#[tokio::test]
async fn an_order_against_a_quote_is_filled() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |_| {}).await;
    let buy = request(Side::Buy);
    let quote = lp.quote(&buy).await.unwrap();
    let answer = lp.execute(&order_for(&quote, &buy, "O-fill-1")).await;
    assert_eq!(
        answer,
        OrderAnswer::Filled {
            price: dec!(100010.25),
            quantity: dec!(1.5),
            venue_order_id: Some(Arc::from("ORD-1")),
        }
    );
    let order = acceptor.wait_for(msg_type::NEW_ORDER_SINGLE).await;
    let fields: Vec<(u32, &str)> = fields_without_time(&order)
        .into_iter()
        .filter(|(t, _)| *t != tag::TRANSACT_TIME)
        .skip(3)
        .collect();
    assert_eq!(
        fields,
        vec![
            (tag::CL_ORD_ID, "O-fill-1"),
            (tag::QUOTE_ID, "QUOTE-1"),
            (tag::SYMBOL, "BTC/USDT"),
            (tag::SIDE, "1"),
            (tag::ORDER_QTY, "1.5"),
            (tag::ORD_TYPE, "D"),
            (tag::PRICE, "100010.25"),
            (tag::TIME_IN_FORCE, "4"),
        ]
    );
    assert!(parse_utc_timestamp(order.get(tag::TRANSACT_TIME).unwrap()).is_some());
}

#[tokio::test]
async fn a_last_look_reject_is_rejected_with_its_reason() {
    let script = Script {
        orders: Orders::LastLookReject("price moved".to_string()),
        ..Script::default()
    };
    let (_acceptor, lp, _dir) = logged_on(script, |_| {}).await;
    let sell = request(Side::Sell);
    let quote = lp.quote(&sell).await.unwrap();
    assert_eq!(
        lp.execute(&order_for(&quote, &sell, "O-ll-1")).await,
        OrderAnswer::Rejected {
            reason: "price moved".to_string()
        }
    );
}

#[tokio::test]
async fn an_unanswered_order_asks_for_its_status_once_then_is_unknown() {
    let script = Script {
        orders: Orders::Silent,
        ..Script::default()
    };
    let (acceptor, lp, _dir) = logged_on(script, |_| {}).await;
    let buy = request(Side::Buy);
    let quote = lp.quote(&buy).await.unwrap();
    assert_eq!(
        lp.execute(&order_for(&quote, &buy, "O-silent-1")).await,
        OrderAnswer::Unknown {
            reason: "no execution report within 300 ms, nor an answer to the status request within 200 ms"
                .to_string()
        }
    );
    let status = acceptor.received(msg_type::ORDER_STATUS_REQUEST);
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].get(tag::CL_ORD_ID), Some("O-silent-1"));
    assert_eq!(status[0].get(tag::SIDE), Some("1"));
    assert_eq!(status[0].get(tag::SYMBOL), Some("BTC/USDT"));
}

#[tokio::test]
async fn an_order_out_when_the_connection_drops_is_unknown() {
    let script = Script {
        orders: Orders::Silent,
        ..Script::default()
    };
    let (acceptor, lp, _dir) = logged_on(script, |c| c.order_timeout_ms = 5_000).await;
    let lp = Arc::new(lp);
    let buy = request(Side::Buy);
    let quote = lp.quote(&buy).await.unwrap();
    let order = order_for(&quote, &buy, "O-drop-1");
    let executing = tokio::spawn({
        let lp = lp.clone();
        async move { lp.execute(&order).await }
    });
    acceptor.wait_for(msg_type::NEW_ORDER_SINGLE).await;
    acceptor.drop_connection();
    let answer = tokio::time::timeout(Duration::from_secs(1), executing)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer,
        OrderAnswer::Unknown {
            // Logged on again (a reset logon: no report is redelivered),
            // the order's status is asked; this venue never answers it.
            reason: "no execution report before the connection was lost (connection lost: connection closed by the venue); after logging on again: no answer to the status request within 200 ms"
                .to_string()
        }
    );
}

/// The venue fills the order and the connection drops before its
/// ExecutionReport goes out: the session logs on again with a sequence
/// reset (so the report is never redelivered) and the order's status,
/// asked by ClOrdID after that logon, says filled.
#[tokio::test]
async fn an_order_filled_while_the_connection_dropped_is_filled_by_its_status_after_reconnect() {
    let script = Script {
        orders: Orders::FillThenDrop,
        ..Script::default()
    };
    let (acceptor, lp, _dir) = logged_on(script, |c| c.order_timeout_ms = 5_000).await;
    let buy = request(Side::Buy);
    let quote = lp.quote(&buy).await.unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(3),
        lp.execute(&order_for(&quote, &buy, "O-reconnect-1")),
    )
    .await
    .expect("settled after the reconnect, well inside the order time");
    assert_eq!(
        answer,
        OrderAnswer::Filled {
            price: dec!(100010.25),
            quantity: dec!(1.5),
            venue_order_id: Some(Arc::from("ORD-1")),
        }
    );
    assert_eq!(acceptor.connections(), 2, "logged on again");
    let logons = acceptor.received(msg_type::LOGON);
    assert_eq!(logons.len(), 2);
    assert_eq!(logons[1].get(tag::RESET_SEQ_NUM_FLAG), Some("Y"));
    let status = acceptor.received(msg_type::ORDER_STATUS_REQUEST);
    assert_eq!(status.len(), 1);
    assert_eq!(
        (
            status[0].get(tag::CL_ORD_ID),
            status[0].get(tag::SIDE),
            status[0].get(tag::SYMBOL)
        ),
        (Some("O-reconnect-1"), Some("1"), Some("BTC/USDT"))
    );
}

#[tokio::test]
async fn a_dropped_connection_is_unavailable_at_once_then_quotes_again_after_reconnect() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |_| {}).await;
    acceptor.script(|s| s.accept_connections = false);
    acceptor.drop_connection();
    let down = lp
        .wait_for_link(Duration::from_secs(1), |s| *s != LinkState::Up)
        .await;
    assert_eq!(
        down,
        LinkState::Down("connection closed by the venue".to_string())
    );

    let started = tokio::time::Instant::now();
    match lp.quote(&request(Side::Buy)).await {
        Err(LpError::Unavailable(text)) => assert!(text.starts_with("not connected: "), "{text}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(50));
    // It keeps trying while the venue turns connections away.
    let refused = acceptor.connections();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(acceptor.connections() > refused);

    acceptor.script(|s| s.accept_connections = true);
    lp.wait_logged_on(Duration::from_secs(2)).await.unwrap();
    assert_eq!(
        lp.quote(&request(Side::Buy)).await.unwrap().price,
        dec!(100010.25)
    );
    // A fresh logon with the sequences reset.
    let logons = acceptor.received(msg_type::LOGON);
    assert_eq!(logons.len(), 2);
    assert_eq!(logons[1].get(tag::MSG_SEQ_NUM), Some("1"));
}

#[tokio::test]
async fn a_sequence_gap_from_the_venue_sends_a_resend_request_and_the_session_carries_on() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |_| {}).await;
    // The acceptor's Logon was 1; it now skips 2 and 3 and sends 4.
    acceptor.skip_seq(2);
    acceptor.send(Message::new(msg_type::HEARTBEAT));
    let resend = acceptor.wait_for(msg_type::RESEND_REQUEST).await;
    assert_eq!(resend.get(tag::BEGIN_SEQ_NO), Some("2"));
    assert_eq!(resend.get(tag::END_SEQ_NO), Some("0"));
    // The acceptor gap-fills; later messages are in sequence again and no
    // second resend is asked for.
    assert_eq!(
        lp.quote(&request(Side::Sell)).await.unwrap().price,
        dec!(99990.5)
    );
    assert_eq!(acceptor.received(msg_type::RESEND_REQUEST).len(), 1);
    assert_eq!(acceptor.connections(), 1);
    assert_eq!(lp.link_state(), LinkState::Up);
}

#[tokio::test]
async fn a_corrupted_message_is_logged_and_dropped_and_its_number_asked_again() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |_| {}).await;
    // Number 2 arrives with a bad checksum, then 3 arrives intact.
    acceptor.send_corrupted(Message::new(msg_type::HEARTBEAT));
    acceptor.send(Message::new(msg_type::HEARTBEAT));
    let resend = acceptor.wait_for(msg_type::RESEND_REQUEST).await;
    assert_eq!(resend.get(tag::BEGIN_SEQ_NO), Some("2"));
    assert_eq!(
        lp.quote(&request(Side::Buy)).await.unwrap().price,
        dec!(100010.25)
    );
    let log = audit_log(&lp);
    let dropped = log
        .lines()
        .find(|l| l.contains(" EVT dropped: bad CheckSum"))
        .unwrap();
    assert!(dropped.contains("|34=2|"), "{dropped}");
    assert_eq!(lp.link_state(), LinkState::Up);
}

#[tokio::test]
async fn a_resend_request_from_the_venue_is_answered_with_a_gap_fill() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |_| {}).await;
    lp.quote(&request(Side::Buy)).await.unwrap();
    // The desk has sent Logon (1) and a QuoteRequest (2).
    acceptor.send(
        Message::new(msg_type::RESEND_REQUEST)
            .with(tag::BEGIN_SEQ_NO, 1)
            .with(tag::END_SEQ_NO, 0),
    );
    let fill = acceptor.wait_for(msg_type::SEQUENCE_RESET).await;
    assert_eq!(fill.get(tag::MSG_SEQ_NUM), Some("1"));
    assert_eq!(fill.get(tag::POSS_DUP_FLAG), Some("Y"));
    assert_eq!(fill.get(tag::GAP_FILL_FLAG), Some("Y"));
    assert_eq!(fill.get(tag::NEW_SEQ_NO), Some("3"));
    assert!(fill.get(tag::ORIG_SENDING_TIME).is_some());
    // The quote request itself is never sent again.
    assert_eq!(acceptor.received(msg_type::QUOTE_REQUEST).len(), 1);
    // The next message goes on from 3.
    lp.quote(&request(Side::Buy)).await.unwrap();
    let second = acceptor
        .wait_for_nth(msg_type::QUOTE_REQUEST, 2, |_| true)
        .await;
    assert_eq!(second.get(tag::MSG_SEQ_NUM), Some("3"));
}

#[tokio::test]
async fn a_too_low_sequence_number_logs_out_and_reconnects() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |_| {}).await;
    acceptor.send_with_seq(Message::new(msg_type::HEARTBEAT), 1);
    let logout = acceptor.wait_for(msg_type::LOGOUT).await;
    assert_eq!(
        logout.get(tag::TEXT),
        Some("MsgSeqNum too low, expecting 2 but received 1")
    );
    acceptor.wait_for_nth(msg_type::LOGON, 2, |_| true).await;
    lp.wait_logged_on(Duration::from_secs(2)).await.unwrap();
    assert_eq!(acceptor.connections(), 2);
    assert_eq!(
        lp.quote(&request(Side::Buy)).await.unwrap().price,
        dec!(100010.25)
    );
}

#[tokio::test]
async fn a_test_request_is_answered_with_a_heartbeat_carrying_its_id() {
    let (acceptor, _lp, _dir) = logged_on(Script::default(), |_| {}).await;
    acceptor.send(Message::new(msg_type::TEST_REQUEST).with(tag::TEST_REQ_ID, "PING-7"));
    let heartbeat = acceptor
        .wait_for_nth(msg_type::HEARTBEAT, 1, |m| {
            m.get(tag::TEST_REQ_ID).is_some()
        })
        .await;
    assert_eq!(heartbeat.get(tag::TEST_REQ_ID), Some("PING-7"));
}

#[tokio::test]
async fn a_silent_venue_gets_heartbeats_then_our_test_request() {
    // The acceptor never sends heartbeats of its own: after 1.2 intervals
    // of silence the desk asks with a TestRequest, which it answers.
    let (acceptor, lp, _dir) = logged_on(Script::default(), |c| c.heartbeat_secs = 1).await;
    let heartbeat = acceptor.wait_for(msg_type::HEARTBEAT).await;
    assert_eq!(heartbeat.get(tag::TEST_REQ_ID), None);
    let test_request = acceptor.wait_for(msg_type::TEST_REQUEST).await;
    assert_eq!(test_request.get(tag::TEST_REQ_ID), Some("TEST-1"));
    assert_eq!(lp.link_state(), LinkState::Up);
}

#[tokio::test]
async fn a_late_quote_to_a_timed_out_request_is_not_delivered_to_the_next() {
    let script = Script {
        quotes: Quotes::Silent,
        ..Script::default()
    };
    let (acceptor, lp, _dir) = logged_on(script, |_| {}).await;
    let lp = Arc::new(lp);
    let first = request(Side::Buy);
    // The engine's deadline passes: the caller's future is dropped.
    assert!(
        tokio::time::timeout(Duration::from_millis(100), lp.quote(&first))
            .await
            .is_err()
    );
    let second = request(Side::Buy);
    let asking = tokio::spawn({
        let lp = lp.clone();
        let second = second.clone();
        async move { lp.quote(&second).await }
    });
    let second_key = second.key();
    acceptor
        .wait_for_nth(msg_type::QUOTE_REQUEST, 1, |m| {
            m.get(tag::QUOTE_REQ_ID) == Some(second_key.as_str())
        })
        .await;
    // The late answer to the first arrives while the second waits.
    acceptor.send(quote(&first.key(), "LATE-1", dec!(1), dec!(2)));
    acceptor.send(quote(&second_key, "FRESH-2", dec!(99991), dec!(100009)));
    let answer = asking.await.unwrap().unwrap();
    assert_eq!(answer.request_id, second.request_id);
    assert_eq!(answer.venue_ref.as_deref(), Some("FRESH-2"));
    assert_eq!(answer.price, dec!(100009));
    let log = audit_log(&lp);
    assert!(
        log.contains(&format!(
            "EVT dropped an answer to QuoteReqID (131) '{}' that no request waits for",
            first.key()
        )),
        "{log}"
    );
}

#[tokio::test]
async fn a_logon_answered_with_logout_is_an_auth_error() {
    let acceptor = Acceptor::start(Script {
        logon: Logon::Logout("invalid password".to_string()),
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let lp = Fix44Lp::start(config(acceptor.port, &dir)).unwrap();
    assert_eq!(
        lp.wait_logged_on(Duration::from_secs(2)).await,
        Err(LpError::Auth("invalid password".to_string()))
    );
    assert_eq!(
        lp.quote(&request(Side::Buy)).await,
        Err(LpError::Auth("invalid password".to_string()))
    );
    lp.shutdown().await;
}

#[tokio::test]
async fn a_rejected_logon_is_an_auth_error() {
    let acceptor = Acceptor::start(Script {
        logon: Logon::Reject("unknown CompID".to_string()),
        ..Script::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let lp = Fix44Lp::start(config(acceptor.port, &dir)).unwrap();
    assert_eq!(
        lp.wait_logged_on(Duration::from_secs(2)).await,
        Err(LpError::Auth("Logon rejected: unknown CompID".to_string()))
    );
}

#[tokio::test]
async fn shutdown_logs_out_and_later_quotes_are_unavailable() {
    let (acceptor, lp, _dir) = logged_on(Script::default(), |_| {}).await;
    lp.shutdown().await;
    let logout = acceptor.wait_for(msg_type::LOGOUT).await;
    assert_eq!(logout.get(tag::MSG_SEQ_NUM), Some("2"));
    assert_eq!(lp.link_state(), LinkState::Closed);
    assert_eq!(
        lp.quote(&request(Side::Buy)).await,
        Err(LpError::Unavailable(
            "not connected: session shut down".to_string()
        ))
    );
    let log = audit_log(&lp);
    assert!(log.contains("EVT logged out"), "{log}");
}

/// Against a real FIX engine: QuickFIX (C++, tests/interop/quickfix_lp.cpp)
/// playing the LP, validating everything the adapter sends against its own
/// FIX 4.4 dictionary. A wrong password is refused with QuickFIX's reason;
/// then a logon with username and password, a two-way quote taken on each
/// side, a fill, a last-look reject and a logout, with nothing rejected by
/// QuickFIX.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_a_quickfix_acceptor() {
    const PASSWORD: &str = "interop-pw";
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut quickfix = std::process::Command::new(crate::quickfix::program("quickfix_lp"))
        .arg(port.to_string())
        .arg(crate::quickfix::fix44_dictionary())
        .arg(dir.path().join("quickfix"))
        .env("QUICKFIX_LP_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(quickfix.stdout.take().unwrap());
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut said, &mut ready).unwrap();
    assert_eq!(ready, "ready\n");

    // A wrong password: QuickFIX's RejectLogon is a Logout with its text.
    let mut wrong = config(port, &dir);
    wrong.name = "QuickFIX wrong password".to_string();
    wrong.password = Some(Secret::new("not-the-password"));
    let refused = Fix44Lp::start(wrong).unwrap();
    assert_eq!(
        refused.wait_logged_on(Duration::from_secs(5)).await,
        Err(LpError::Auth(
            "Rejected Logon Attempt: invalid password".to_string()
        ))
    );
    refused.shutdown().await;

    let mut config = config(port, &dir);
    config.username = Some("desk".to_string());
    config.password = Some(Secret::new(PASSWORD));
    config.order_timeout_ms = 2_000;
    let lp = Fix44Lp::start(config).unwrap();
    lp.wait_logged_on(Duration::from_secs(5)).await.unwrap();

    let within = |limit_ms| Duration::from_millis(limit_ms);
    let buy = request(Side::Buy);
    let offer = tokio::time::timeout(within(3_000), lp.quote(&buy))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((offer.price, offer.quantity), (dec!(100010.25), dec!(1.5)));
    let sell = request(Side::Sell);
    let bid = tokio::time::timeout(within(3_000), lp.quote(&sell))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((bid.price, bid.quantity), (dec!(99990.5), dec!(2)));

    let filled = lp.execute(&order_for(&offer, &buy, "O-interop-1")).await;
    assert!(
        matches!(&filled, OrderAnswer::Filled { price, quantity, .. } if *price == dec!(100010.25) && *quantity == dec!(1.5)),
        "{filled:?}"
    );
    // QuickFIX's LP rejects any other amount on last look.
    let mut odd = order_for(&bid, &sell, "O-interop-2");
    odd.amount = dec!(2);
    assert_eq!(
        lp.execute(&odd).await,
        OrderAnswer::Rejected {
            reason: "last look: price moved".to_string()
        }
    );
    lp.shutdown().await;
    let log = audit_log(&lp);
    assert!(log.contains("EVT logged out"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
    // Its stdin closed: it stops and says what it saw.
    drop(quickfix.stdin.take());
    let mut summary = String::new();
    std::io::Read::read_to_string(&mut said, &mut summary).unwrap();
    let status = quickfix.wait().unwrap();
    assert_eq!(summary, "logons 1 quotes 2 orders 2\n");
    assert!(status.success());
}
