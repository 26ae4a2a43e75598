//! Per-request terms: a request's own client, markup and threshold price
//! and lock its stream; a request that names none gets the desk's.

use std::sync::Arc;

use lp_rfq::config::{Settings, SettingsArgs};
use lp_rfq::desk::registry::LpRegistry;
use lp_rfq::desk::{Desk, StreamHandle};
use lp_rfq::lp::scripted::{ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::market::{Bps, Side};
use lp_rfq::rfq::event::EventKind;
use lp_rfq::rfq::{ClientId, QuoteRequest, RequestParams, RfqEvent};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{only, spec, trace};

/// A desk at the default terms (5 bps markup, 1 bp threshold), 2 s
/// streams polled every 500 ms, over `lps`.
fn desk(lps: Vec<SharedLp>) -> Desk {
    let settings = Settings::from_args(&SettingsArgs {
        duration: Some("2".into()),
        poll_interval_ms: Some("500".into()),
        no_blotter: Some("true".into()),
        ..Default::default()
    })
    .unwrap();
    Desk::with_parts(settings, LpRegistry::fixed(lps), None)
}

fn lp(name: &str, steps: Vec<Step>) -> SharedLp {
    Arc::new(ScriptedLp::steps(name, 10_000, steps)) as SharedLp
}

fn bps(value: Decimal) -> Bps {
    Bps::new(value).unwrap()
}

async fn events(mut handle: StreamHandle) -> Vec<RfqEvent> {
    let mut events = Vec::new();
    while let Some(event) = handle.events.recv().await {
        events.push(event);
    }
    handle.finish().await.unwrap();
    events
}

/// The stream's client, markup and threshold as its `started` says.
fn terms(events: &[RfqEvent]) -> (String, String, String) {
    let EventKind::Started(started) = &events[0].kind else {
        panic!("a stream opens with started: {:?}", events[0]);
    };
    (
        started.client.to_string(),
        started.markup_bps.to_string(),
        started.threshold_bps.to_string(),
    )
}

/// Every client quote as `lp lp_price -> client_price pays asset`.
fn client_quotes(events: &[RfqEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ClientQuote(q) => Some(format!(
                "{} {} -> {} pays {} {}",
                q.lp, q.lp_price, q.client_price, q.client_pays, q.pays_asset
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn two_streams_on_one_desk_are_priced_at_their_own_markups() {
    // LP2 agrees with LP1 (a worse price, later): LP1 is corroborated and
    // offered when LP2 answers, and LP2 is never the best.
    let desk = desk(vec![
        lp("LP1", vec![Step::price(100, dec!(100003.37))]),
        lp("LP2", vec![Step::price(150, dec!(100013.37))]),
    ]);
    let house = desk.start(spec(Side::Buy));
    let acme = desk.start(QuoteRequest {
        spec: spec(Side::Buy),
        params: RequestParams::default()
            .with_client(ClientId::new("acme").unwrap())
            .with_markup(bps(dec!(12.5))),
    });
    let (house, acme) = tokio::join!(events(house), events(acme));

    assert_eq!(terms(&house), ("house".into(), "5".into(), "1".into()));
    assert_eq!(terms(&acme), ("acme".into(), "12.5".into(), "1".into()));
    // 100003.37 × 1.0005 = 100053.371685 → 100053.38; × 1.5 = 150080.07.
    assert_eq!(
        client_quotes(&house),
        ["LP1 100003.37 -> 100053.38 pays 150080.07 USDT"]
    );
    // 100003.37 × 1.00125 = 100128.3742125 → 100128.38; × 1.5 = 150192.57.
    assert_eq!(
        client_quotes(&acme),
        ["LP1 100003.37 -> 100128.38 pays 150192.57 USDT"]
    );
}

/// LP1 is locked at 100000.00 in the first poll; from the second poll on
/// LP2 quotes 99995.00, half a bp better.
fn half_a_bp_better_later() -> Vec<SharedLp> {
    vec![
        lp("LP1", vec![Step::price(100, dec!(100000.00))]),
        lp(
            "LP2",
            vec![
                Step::price(120, dec!(100010.00)),
                Step::price(120, dec!(99995.00)),
            ],
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn a_requests_threshold_decides_whether_a_competitor_takes_the_lock() {
    let at_desk_threshold = events(desk(half_a_bp_better_later()).start(spec(Side::Buy))).await;
    let half_a_bp = QuoteRequest {
        spec: spec(Side::Buy),
        params: RequestParams::default().with_threshold(bps(dec!(0.5))),
    };
    let at_own_threshold = events(desk(half_a_bp_better_later()).start(half_a_bp)).await;

    // 1 bp below 100000.00 is 99990.00: 99995.00 does not reach it.
    assert_eq!(
        only(&trace(&at_desk_threshold), "locked"),
        ["120 locked LP1 100000.00 BestOfPoll"]
    );
    // Half a bp below is 99995.00 exactly: at the threshold counts.
    assert_eq!(
        only(&trace(&at_own_threshold), "locked"),
        [
            "120 locked LP1 100000.00 BestOfPoll",
            "620 locked LP2 99995.00 Improvement"
        ]
    );
    assert_eq!(terms(&at_own_threshold).2, "0.5");
}

#[tokio::test(start_paused = true)]
async fn a_request_without_terms_is_the_houses_at_the_desks_settings() {
    let bare = events(desk(half_a_bp_better_later()).start(spec(Side::Buy))).await;
    let defaulted = events(desk(half_a_bp_better_later()).start(QuoteRequest {
        spec: spec(Side::Buy),
        params: RequestParams::default(),
    }))
    .await;

    assert_eq!(terms(&bare), ("house".into(), "5".into(), "1".into()));
    // Everything but the ids and wall-clock start is the same stream.
    assert_eq!(trace(&bare), trace(&defaulted));
    assert_eq!(client_quotes(&bare), client_quotes(&defaulted));
    assert_eq!(terms(&bare), terms(&defaulted));
}

#[tokio::test(start_paused = true)]
async fn a_desk_refuses_a_markup_beyond_its_own_limit() {
    // LP2 agrees with LP1 (a worse price, later): LP1 is corroborated and
    // offered when LP2 answers, and LP2 is never the best.
    let desk = desk(vec![
        lp("LP1", vec![Step::price(100, dec!(100003.37))]),
        lp("LP2", vec![Step::price(150, dec!(100013.37))]),
    ]);
    let greedy = QuoteRequest {
        spec: spec(Side::Buy),
        params: RequestParams::default().with_markup(bps(dec!(501))),
    };
    let error = desk.try_start(greedy).err().unwrap();
    assert_eq!(
        error.to_string(),
        "markup '501' bps is above the desk's limit of 500 bps"
    );
}

#[tokio::test(start_paused = true)]
async fn a_desk_refuses_dust_whichever_front_end_sent_it() {
    // LP2 agrees with LP1 (a worse price, later): LP1 is corroborated and
    // offered when LP2 answers, and LP2 is never the best.
    let desk = desk(vec![
        lp("LP1", vec![Step::price(100, dec!(100003.37))]),
        lp("LP2", vec![Step::price(150, dec!(100013.37))]),
    ]);
    let mut dust = spec(Side::Sell);
    dust.amount = dec!(0.00000001);
    let error = desk.try_start(dust).err().unwrap();
    assert_eq!(
        error.to_string(),
        "amount 0.00000001 BTC is below the minimum for BTCUSDT: notional 0.001 USDT is under MIN_NOTIONAL 10 USDT"
    );
    // The handle-giving start asks no LP either: the stream only says why.
    let refused = events(desk.start(dust)).await;
    assert_eq!(
        refused
            .iter()
            .map(|event| event.kind.name())
            .collect::<Vec<_>>(),
        ["blotter_error", "ended"]
    );
}
