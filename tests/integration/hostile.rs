//! Hostile LPs under paused time: absurd prices never become the client's
//! price, off-tick prices are invalid, a band guards a single LP, and an
//! adapter that blocks or spins costs only its own answer.

use std::sync::Arc;

use lp_rfq::lp::scripted::{ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::market::Side;
use rust_decimal_macros::dec;

use crate::support::{only, params, run_stream, spec, trace, with_reference};

fn lp(name: &str, delay_ms: u64, price: rust_decimal::Decimal) -> Arc<ScriptedLp> {
    Arc::new(ScriptedLp::steps(
        name,
        10_000,
        vec![Step::price(delay_ms, price)],
    ))
}

fn shared(lps: &[&Arc<ScriptedLp>]) -> Vec<SharedLp> {
    lps.iter().map(|lp| (*lp).clone() as SharedLp).collect()
}

#[tokio::test(start_paused = true)]
async fn an_absurd_bid_among_sane_lps_is_invalid_and_never_offered() {
    let a = lp("A", 100, dec!(99990.00));
    let b = lp("B", 120, dec!(99995.00));
    // A SELL: the highest bid wins, so a lying 1e20 bid would win.
    let liar = lp("Liar", 150, dec!(100000000000000000000));
    let events = run_stream(spec(Side::Sell), shared(&[&a, &b, &liar]), params(), 400).await;
    let lines = trace(&events);
    assert!(lines.contains(
        &"150 error Liar invalid: price 100000000000000000000 is 10000500025001240062.50 bps from the median 99995.00 of the LPs' live quotes (MAX_DEVIATION_BPS 200)".to_string()
    ), "{lines:#?}");
    assert_eq!(only(&lines, "locked"), ["150 locked B 99995.00 BestOfPoll"]);
    assert!(
        only(&lines, "client")
            .iter()
            .all(|line| !line.contains("Liar")),
        "{lines:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_absurd_first_answer_is_expelled_as_soon_as_peers_show_it() {
    // The liar answers first: with no peer yet nothing can judge it, and
    // nothing corroborates it, so it is never offered; the third answer
    // exposes it, and the first client quote is a sane price.
    let liar = lp("Liar", 50, dec!(0.01));
    let a = lp("A", 100, dec!(100010.00));
    let b = lp("B", 120, dec!(100000.00));
    let events = run_stream(spec(Side::Buy), shared(&[&liar, &a, &b]), params(), 400).await;
    let lines = trace(&events);
    let from_120: Vec<&String> = lines.iter().filter(|l| l.starts_with("120 ")).collect();
    assert_eq!(
        from_120,
        [
            "120 quote B 100000.00",
            "120 error Liar invalid: expelled: price 0.01 is 10000.00 bps from the median 100000.00 of the LPs' live quotes (MAX_DEVIATION_BPS 200)",
            "120 client B 100000.00->100100.00 first valid 8000",
            "120 locked B 100000.00 BestOfPoll",
        ],
        "{lines:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_off_tick_offer_is_invalid() {
    let a = lp("A", 100, dec!(100000.00));
    let tiny = lp("Tiny", 80, dec!(0.00000001));
    // A is the only LP left: the desk's reference corroborates it.
    let events = run_stream(
        spec(Side::Buy),
        shared(&[&tiny, &a]),
        with_reference(params()),
        300,
    )
    .await;
    let lines = trace(&events);
    assert!(
        lines.contains(
            &"80 error Tiny invalid: price 0.00000001 is off the pair's tick of 0.01".to_string()
        ),
        "{lines:#?}"
    );
    assert_eq!(
        only(&lines, "locked"),
        ["100 locked A 100000.00 BestOfPoll"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_band_guards_a_single_lp() {
    use lp_rfq::clock::StreamClock;
    use lp_rfq::market::PriceBand;
    use lp_rfq::rfq::Session;
    let alone = lp("Alone", 100, dec!(1000000.00));
    let clock = StreamClock::start();
    let session = Session {
        rfq_id: Arc::from("R-band"),
        spec: spec(Side::Buy),
        lps: shared(&[&alone]),
        params: params(),
        duration_ms: 300,
        clock,
        band: Some(PriceBand {
            min: dec!(50000),
            max: dec!(200000),
        }),
        reference: None,
        desk_reference: None,
        client: lp_rfq::rfq::ClientId::house(),
        operator: None,
        channel: lp_rfq::rfq::Channel::Operator,
    };
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1000);
    session.run_until(sender, std::future::pending()).await;
    let mut events = Vec::new();
    while let Ok(event) = receiver.try_recv() {
        events.push(event);
    }
    let lines = trace(&events);
    assert!(
        lines.contains(
            &"100 error Alone invalid: price 1000000.00 is outside the pair's band 50000 to 200000"
                .to_string()
        ),
        "{lines:#?}"
    );
    assert!(only(&lines, "client").is_empty());
}

/// An adapter that blocks its thread (a synchronous call) for 3 s.
struct Blocking;

/// An adapter that spins on the CPU for 3 s.
struct Spinning;

#[async_trait::async_trait]
impl lp_rfq::lp::LiquidityProvider for Blocking {
    fn name(&self) -> &str {
        "Blocking"
    }

    async fn quote(
        &self,
        _: &lp_rfq::lp::LpRequest,
    ) -> Result<lp_rfq::lp::LpQuote, lp_rfq::lp::LpError> {
        std::thread::sleep(std::time::Duration::from_secs(3));
        Err(lp_rfq::lp::LpError::Unavailable("woke up".into()))
    }

    async fn execute(&self, _: &lp_rfq::lp::LpOrder) -> lp_rfq::lp::OrderAnswer {
        std::thread::sleep(std::time::Duration::from_secs(3));
        lp_rfq::lp::OrderAnswer::Unknown {
            reason: "woke up".into(),
        }
    }
}

#[async_trait::async_trait]
impl lp_rfq::lp::LiquidityProvider for Spinning {
    fn name(&self) -> &str {
        "Spinning"
    }

    async fn quote(
        &self,
        _: &lp_rfq::lp::LpRequest,
    ) -> Result<lp_rfq::lp::LpQuote, lp_rfq::lp::LpError> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut spins = 0u64;
        while std::time::Instant::now() < until {
            spins = std::hint::black_box(spins + 1);
        }
        Err(lp_rfq::lp::LpError::Unavailable(format!("{spins} spins")))
    }

    async fn execute(&self, _: &lp_rfq::lp::LpOrder) -> lp_rfq::lp::OrderAnswer {
        lp_rfq::lp::OrderAnswer::Unknown {
            reason: "spun".into(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapters_that_block_or_spin_cost_only_their_own_answers() {
    use lp_rfq::config::{Settings, SettingsArgs};
    use lp_rfq::desk::registry::LpRegistry;
    use lp_rfq::desk::Desk;
    use lp_rfq::rfq::event::EventKind;
    let settings = Settings::from_args(&SettingsArgs {
        duration: Some("1".into()),
        lp_timeout_ms: Some("300".into()),
        // (The built-in mocks are not used; their delays must still fit.)
        mock_max_delay: Some("0.2".into()),
        poll_interval_ms: Some("200".into()),
        no_blotter: Some("true".into()),
        ..Default::default()
    })
    .unwrap();
    let sane = lp("Sane", 50, dec!(100000.00));
    // A second sane LP corroborates Sane (the same price, later: Sane
    // keeps the lead on either side).
    let agreeing = lp("Agreeing", 60, dec!(100000.00));
    let registry = LpRegistry::fixed(vec![
        Arc::new(Blocking) as SharedLp,
        Arc::new(Spinning) as SharedLp,
        sane.clone(),
        agreeing,
    ]);
    let desk = Desk::with_parts(settings, registry, None);
    // Two streams at once: neither is held up by the misbehaving adapters.
    let started = std::time::Instant::now();
    let mut handles = vec![desk.start(spec(Side::Buy)), desk.start(spec(Side::Sell))];
    let mut traces = Vec::new();
    for handle in &mut handles {
        let mut events = Vec::new();
        while let Some(event) = handle.events.recv().await {
            events.push(event);
        }
        traces.push(events);
    }
    // Both ended on time (1 s of stream time), long before the 3 s the
    // adapters hold their threads.
    assert!(started.elapsed() < std::time::Duration::from_millis(2_900));
    for events in &traces {
        let ended = events.last().unwrap();
        assert!(matches!(ended.kind, EventKind::Ended(_)));
        assert_eq!(ended.t_ms, 1_000);
        let lines = trace(events);
        assert!(
            lines
                .iter()
                .any(|l| l.contains("error Blocking timeout: no answer within 300 ms")),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("error Spinning timeout: no answer within 300 ms")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("locked Sane 100000.00")),
            "{lines:#?}"
        );
    }
}

/// #24 item 1: a venue quoting 10^15 times the market, or 10^-5 of it,
/// alone or beside one or two sane LPs, never becomes a client quote at
/// any time of the stream.
#[rstest::rstest]
#[case::huge_alone(dec!(100000000000000000000.00), 0)]
#[case::huge_beside_one(dec!(100000000000000000000.00), 1)]
#[case::huge_beside_two(dec!(100000000000000000000.00), 2)]
#[case::tiny_alone(dec!(1.00), 0)]
#[case::tiny_beside_one(dec!(1.00), 1)]
#[case::tiny_beside_two(dec!(1.00), 2)]
#[tokio::test(start_paused = true)]
async fn an_absurd_price_is_never_a_client_quote(
    #[case] absurd: rust_decimal::Decimal,
    #[case] sane_lps: usize,
) {
    // The liar answers first, before any peer could judge it.
    let liar = lp("Liar", 50, absurd);
    let sane = [lp("A", 100, dec!(100010.00)), lp("B", 120, dec!(100000.00))];
    let mut cast = vec![&liar];
    cast.extend(sane.iter().take(sane_lps));
    let side = if absurd > dec!(100000) {
        Side::Sell
    } else {
        Side::Buy
    };
    let events = run_stream(spec(side), shared(&cast), params(), 400).await;
    let lines = trace(&events);
    assert!(
        lines
            .iter()
            .all(|line| !line.contains("client Liar") && !line.contains("locked Liar")),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&format!("50 unverified Liar {absurd}")),
        "{lines:#?}"
    );
}
