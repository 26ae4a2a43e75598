//! Events, commands and desk events survive the trip through JSON (what a
//! desk server will send its subscribers and read back from them): every
//! event kind, serialised and parsed back, is the event it was; and what
//! does not hold a valid value is refused.

use std::sync::Arc;

use lp_rfq::lp::health::HealthChange;
use lp_rfq::market::{Bps, Pair, Side};
use lp_rfq::rfq::event::*;
use lp_rfq::rfq::{RfqEvent, StreamCommand};
use lp_rfq::streams::{BlotterTrouble, DeskEvent, Detached, LpHealthChanged, Sequenced, Snapshot};
use rust_decimal_macros::dec;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> String {
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    assert_eq!(&back, value, "{json}");
    json
}

fn name(text: &str) -> Arc<str> {
    Arc::from(text)
}

fn pair() -> Pair {
    "BTCUSDT".parse().unwrap()
}

/// One event of every kind. The match makes a new kind fail to compile
/// here until it is given an example.
fn one_of_each() -> Vec<EventKind> {
    let bps = |value| Bps::new(value).unwrap();
    let usdt = pair().quote;
    let btc = pair().base;
    let kinds = vec![
        EventKind::Started(Box::new(Started {
            simulated_lps: Vec::new(),
            operator: None,
            channel: lp_rfq::rfq::Channel::Operator,
            side: Side::Buy,
            amount: dec!(1.50000000),
            pair: pair(),
            lps: vec![name("A"), name("B")],
            markup_bps: bps(dec!(5)),
            threshold_bps: bps(dec!(0.5)),
            validity_buffer_ms: 2_000,
            poll_interval_ms: 500,
            lp_timeout_ms: 1_000,
            duration_ms: 30_000,
            speed: dec!(1),
            started_at: "2026-01-02T03:04:05.678Z".into(),
            simulated: true,
            client: lp_rfq::rfq::ClientId::new("acme-fund").unwrap(),
            two_way: false,
            fixed: lp_rfq::market::Leg::Base,
        })),
        EventKind::LpQuote(LpQuoteEvent {
            simulated: false,
            lp: name("A"),
            price: dec!(100010.00),
            quantity: dec!(1.5),
            latency_ms: 100,
            valid_for_ms: 10_000,
            poll: 1,
        }),
        EventKind::LpError(LpErrorEvent {
            lp: name("B"),
            kind: FailureKind::RateLimited,
            reason: "slow down".into(),
            latency_ms: 40,
            poll: 2,
        }),
        EventKind::ClientQuote(Box::new(ClientQuote {
            simulated: false,
            quote_id: name("Q1"),
            lp: name("A"),
            side: Side::Sell,
            lp_price: dec!(100010.00),
            client_price: dec!(99960.00),
            markup_bps: bps(dec!(5)),
            amount: dec!(1.5),
            client_pays: dec!(1.50000000),
            pays_asset: btc,
            client_receives: dec!(149940.00),
            receives_asset: usdt,
            client_valid_for_ms: 8_000,
            reason: QuoteReason::Improvement,
        })),
        EventKind::Locked(Locked {
            simulated: false,
            lp: name("A"),
            price: dec!(100010.00),
            previous_lp: Some(name("B")),
            reason: LockReason::Refresh,
        }),
        EventKind::LockExpired(LockExpired { lp: name("A") }),
        EventKind::Unverified(Unverified {
            lp: name("A"),
            price: dec!(100000.00),
        }),
        EventKind::Released(Released {
            lp: name("A"),
            price: dec!(100000.00),
        }),
        EventKind::OrderSent(Box::new(OrderSent {
            simulated: false,
            lp: name("A"),
            order_id: name("O1"),
            quote_id: name("Q1"),
            venue_ref: Some(name("venue-7")),
            client_order_id: None,
            lp_price: dec!(100010.00),
            amount: dec!(1.5),
            attempt: 2,
            preferred_over: Some(PreferredOver {
                lp: name("Fader"),
                lp_price: dec!(100009.00),
                reject_rate: dec!(29.2),
            }),
        })),
        EventKind::OrderRejected(OrderRejected {
            lp: name("A"),
            order_id: name("O1"),
            reason: "last look".into(),
            hold_ms: 200,
        }),
        EventKind::Filled(Box::new(Filled {
            simulated: false,
            lp: name("A"),
            order_id: name("O1"),
            quote_id: name("Q1"),
            lp_price: dec!(100010.00),
            client_price: dec!(100060.01),
            amount: dec!(1.5),
            client_pays: dec!(150090.02),
            pays_asset: usdt,
            client_receives: dec!(1.5),
            receives_asset: btc,
            desk_pnl: dec!(75.015),
            pnl_asset: usdt,
            hold_ms: 60,
            venue_order_id: None,
        })),
        EventKind::ExecutionUnknown(ExecutionUnknown {
            lp: name("A"),
            order_id: name("O2"),
            reason: "no answer in 5000 ms".into(),
        }),
        EventKind::NotFilled(NotFilled {
            quote_id: None,
            reason: "no live quote".into(),
        }),
        EventKind::LpHealth(LpHealthEvent {
            lp: name("B"),
            state: HealthState::Down,
            retry_in_ms: Some(12_000),
            reject_rate: dec!(0.0),
            fading: false,
            reason: Some(name("connection refused")),
        }),
        EventKind::BlotterError(BlotterErrorEvent {
            reason: "disk full".into(),
        }),
        EventKind::Ended(Ended {
            simulated: false,
            reason: EndReason::Accepted,
            outcome: Outcome::Unknown,
            improvements: 3,
            quote_id: Some(name("Q1")),
            lp: Some(name("A")),
            client_price: Some(dec!(100060.01)),
        }),
    ];
    for kind in &kinds {
        match kind {
            EventKind::Started(_)
            | EventKind::LpQuote(_)
            | EventKind::LpError(_)
            | EventKind::ClientQuote(_)
            | EventKind::Locked(_)
            | EventKind::LockExpired(_)
            | EventKind::Unverified(_)
            | EventKind::Released(_)
            | EventKind::OrderSent(_)
            | EventKind::OrderRejected(_)
            | EventKind::Filled(_)
            | EventKind::ExecutionUnknown(_)
            | EventKind::NotFilled(_)
            | EventKind::LpHealth(_)
            | EventKind::BlotterError(_)
            | EventKind::Ended(_) => {}
        }
    }
    kinds
}

#[test]
fn every_event_kind_round_trips_through_json() {
    let kinds = one_of_each();
    let names: Vec<&str> = kinds.iter().map(EventKind::name).collect();
    assert_eq!(
        names,
        [
            "started",
            "lp_quote",
            "lp_error",
            "client_quote",
            "locked",
            "lock_expired",
            "unverified",
            "released",
            "order_sent",
            "order_rejected",
            "filled",
            "execution_unknown",
            "not_filled",
            "lp_health",
            "blotter_error",
            "ended",
        ]
    );
    for (index, kind) in kinds.into_iter().enumerate() {
        let event = RfqEvent {
            kind,
            rfq_id: name("R-1"),
            t_ms: 100 * index as u64,
            two_way_side: None,
        };
        round_trip(&event);
        let sequenced = Sequenced {
            seq: index as u64 + 1,
            event,
        };
        let json = round_trip(&sequenced);
        assert!(
            json.starts_with(&format!("{{\"seq\":{},\"event\":", index + 1)),
            "{json}"
        );
    }
}

#[test]
fn the_json_lines_of_an_event_are_unchanged_and_read_back() {
    let line = r#"{"event":"lp_quote","lp":"A","price":"100010.00","quantity":"1.5","latency_ms":100,"valid_for_ms":10000,"poll":1,"rfq_id":"R-1","t_ms":100}"#;
    let event: RfqEvent = serde_json::from_str(line).unwrap();
    assert_eq!(serde_json::to_string(&event).unwrap(), line);
}

#[test]
fn every_wire_enum_value_round_trips() {
    for kind in FailureKind::ALL {
        assert_eq!(round_trip(kind), format!("\"{}\"", kind.as_str()));
    }
    for state in HealthState::ALL {
        assert_eq!(round_trip(state), format!("\"{}\"", state.as_str()));
    }
    for reason in QuoteReason::ALL {
        round_trip(reason);
    }
    for reason in LockReason::ALL {
        round_trip(reason);
    }
    for outcome in Outcome::ALL {
        round_trip(outcome);
    }
    for reason in EndReason::ALL {
        round_trip(reason);
    }
    let error = serde_json::from_str::<Outcome>("\"won\"").unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown variant `won`, expected one of `filled`, `not_filled`, `unknown`, `not_accepted`"
    );
}

#[test]
fn commands_round_trip_and_read_as_documented() {
    assert_eq!(round_trip(&StreamCommand::Stop), r#"{"command":"stop"}"#);
    assert_eq!(
        round_trip(&StreamCommand::Accept {
            quote_id: Some(name("Q1"))
        }),
        r#"{"command":"accept","quote_id":"Q1"}"#
    );
    assert_eq!(
        serde_json::from_str::<StreamCommand>(r#"{"command":"accept","quote_id":null}"#).unwrap(),
        StreamCommand::Accept { quote_id: None }
    );
}

#[test]
fn desk_events_snapshots_and_detachments_round_trip() {
    round_trip(&DeskEvent::StreamStarted {
        rfq_id: name("R-1"),
    });
    round_trip(&DeskEvent::StreamEnded {
        rfq_id: name("R-1"),
    });
    let json = round_trip(&DeskEvent::LpHealth(LpHealthChanged {
        lp: name("B"),
        at: "2026-01-02T03:04:05.678Z".into(),
        change: HealthChange {
            state: HealthState::RateLimited,
            previous: HealthState::Ok,
            retry_in_ms: Some(2_000),
            reject_rate: dec!(0.0),
            reason: Some(name("429")),
            throttled: 3,
        },
    }));
    assert!(
        json.starts_with(r#"{"desk_event":"lp_health","lp":"B""#),
        "{json}"
    );
    round_trip(&DeskEvent::BlotterTrouble(BlotterTrouble {
        failed_commits: 2,
        lost: 1,
        problem: Some("disk full".into()),
    }));
    round_trip(&Snapshot {
        rfq_id: name("R-1"),
        seq: 7,
        events: vec![Sequenced {
            seq: 3,
            event: RfqEvent {
                kind: EventKind::LockExpired(LockExpired { lp: name("A") }),
                rfq_id: name("R-1"),
                t_ms: 8_000,
                two_way_side: None,
            },
        }],
    });
    round_trip(&Detached::TooSlow {
        buffer: 2,
        missed: 3,
    });
    round_trip(&Detached::Ended);
}

#[test]
fn values_that_break_the_market_rules_are_refused() {
    let refused = |json: &str| serde_json::from_str::<Bps>(json).unwrap_err().to_string();
    assert_eq!(refused("\"-1\""), "bps cannot be negative: '-1'");
    assert_eq!(
        serde_json::from_str::<Side>("\"hold\"")
            .unwrap_err()
            .to_string(),
        "side 'hold' is not one of b, buy, s, sell"
    );
    assert_eq!(
        serde_json::from_str::<Pair>("\"ETHBTC\"")
            .unwrap()
            .to_string(),
        "ETH/BTC"
    );
    assert_eq!(
        serde_json::from_str::<Pair>("\"BTC\"")
            .unwrap_err()
            .to_string(),
        "pair 'BTC' has no known quote asset (known: USDT, USDC, USD, EUR, BTC, ETH)"
    );
}
