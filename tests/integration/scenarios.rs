//! Every scenario replayed under paused time with the default settings and
//! seed 7, its defining outcome asserted exactly.

use std::collections::BTreeSet;

use lp_rfq::config::Settings;
use lp_rfq::market::Side;
use lp_rfq::rfq::RfqEvent;
use lp_rfq::scenario::{self, ScenarioContext};

use crate::support::{only, run_stream_at_speed, spec, trace};

const SEED: u64 = 7;

async fn replay_at(name: &str, side: Side, seed: u64, speed_per_mille: u64) -> Vec<RfqEvent> {
    let settings = Settings::default();
    let scenario = scenario::find(name).unwrap();
    let lps = scenario.lps(&ScenarioContext {
        duration_ms: settings.duration_ms,
        threshold: settings.engine.threshold,
        validity_buffer_ms: settings.engine.validity_buffer_ms,
        btc_reference: settings.mock.base_price,
        seed,
    });
    run_stream_at_speed(
        spec(side),
        lps,
        settings.engine,
        settings.duration_ms,
        speed_per_mille,
        std::future::pending(),
    )
    .await
}

async fn replay(name: &str) -> Vec<String> {
    trace(&replay_at(name, Side::Buy, SEED, 1000).await)
}

fn kinds_of_errors(lines: &[String]) -> BTreeSet<String> {
    only(lines, "error")
        .iter()
        .map(|line| {
            line.split(' ')
                .nth(3)
                .unwrap()
                .trim_end_matches(':')
                .to_string()
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn competing_moves_the_lock_several_times() {
    let lines = replay("competing").await;
    assert_eq!(
        only(&lines, "locked"),
        [
            "320 locked Delta 99996.11 BestOfPoll",
            "6200 locked Bravo 99985.97 Improvement",
            "13340 locked Delta 99989.75 Refresh",
            "14740 locked Charlie 99979.54 Improvement",
            "21160 locked Alpha 99968.95 Improvement",
            "28300 locked Charlie 99972.21 Refresh",
        ]
    );
    assert_eq!(
        lines.last().unwrap(),
        "30000 ended duration improvements=3 lp=Charlie price=100022.20"
    );
}

#[tokio::test(start_paused = true)]
async fn non_competition_never_moves_the_lock_after_the_first_poll() {
    let lines = replay("non-competition").await;
    let locks = only(&lines, "locked");
    assert_eq!(locks[0], "280 locked Anchor 99970.00 BestOfPoll");
    // Later lock events are only refreshes of the same LP.
    assert_eq!(locks.len(), 5);
    assert!(locks[1..]
        .iter()
        .all(|line| line.contains(" locked Anchor 99970.00 Refresh")));
    assert_eq!(
        lines.last().unwrap(),
        "30000 ended duration improvements=0 lp=Anchor price=100019.99"
    );
}

#[tokio::test(start_paused = true)]
async fn hail_mary_takes_the_lock_in_the_last_second() {
    let lines = replay("hail-mary").await;
    let improvements: Vec<String> = only(&lines, "locked")
        .into_iter()
        .filter(|line| line.ends_with("Improvement"))
        .collect();
    assert_eq!(improvements, ["29140 locked HailMary 99920.00 Improvement"]);
    assert_eq!(
        lines.last().unwrap(),
        "30000 ended duration improvements=1 lp=HailMary price=99969.96"
    );
}

#[tokio::test(start_paused = true)]
async fn hail_mary_works_for_a_selling_client_too() {
    let lines = trace(&replay_at("hail-mary", Side::Sell, SEED, 1000).await);
    let last_lock = only(&lines, "locked").pop().unwrap();
    // 8 bps over the 100000 reference, rounded down for the LP's bid.
    assert_eq!(last_lock, "29140 locked HailMary 100080.00 Improvement");
}

#[tokio::test(start_paused = true)]
async fn near_miss_only_the_beat_at_the_threshold_moves_the_lock() {
    let lines = replay("near-miss").await;
    // Five answers 0.9 bp better than the lock, none of them enough.
    let near_misses: Vec<String> = only(&lines, "quote")
        .into_iter()
        .filter(|line| line.contains("Challenger 99991.00"))
        .collect();
    assert_eq!(near_misses.len(), 5);
    assert_eq!(near_misses[0], "700 quote Challenger 99991.00");
    let locks = only(&lines, "locked");
    assert_eq!(
        locks[..2],
        [
            "260 locked Incumbent 100000.00 BestOfPoll",
            // 100000 × (1 − 1/10000) = 99990.00: exactly the threshold.
            "3200 locked Challenger 99990.00 Improvement",
        ]
    );
    assert!(locks[2..]
        .iter()
        .all(|line| line.contains("Challenger 99990.00 Refresh")));
    assert_eq!(
        lines.last().unwrap(),
        "30000 ended duration improvements=1 lp=Challenger price=100040.00"
    );
}

#[tokio::test(start_paused = true)]
async fn flaky_reports_every_failure_and_carries_on() {
    let lines = replay("flaky").await;
    assert_eq!(
        kinds_of_errors(&lines),
        ["declined", "invalid", "malformed", "timeout", "unavailable"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    for failure in [
        "error Crashy unavailable: lp panicked: Crashy adapter crashed",
        "error Garbled invalid: wrong side: quoted for a client SELL, asked for a client BUY",
        "error Garbled invalid: quantity 0.750 is less than the 1.5 asked",
        "error Garbled malformed: unparseable price 'N/A'",
        "error Grumpy declined: size not available",
        "error Sleepy timeout: no answer within 1000 ms",
    ] {
        assert!(
            lines.iter().any(|line| line.contains(failure)),
            "missing {failure}"
        );
    }
    // The healthy LP answered every time it was asked.
    assert!(!lines.iter().any(|line| line.contains("error Steady")));
    assert_eq!(
        lines.last().unwrap(),
        "30000 ended duration improvements=0 lp=Ghost price=100045.00"
    );
}

#[tokio::test(start_paused = true)]
async fn expiry_refreshes_then_shows_the_gap_until_a_fresh_quote() {
    let lines = replay("expiry").await;
    let around_the_gap: Vec<&String> = lines
        .iter()
        .filter(|line| {
            let t: u64 = line.split(' ').next().unwrap().parse().unwrap();
            (7_700..=11_200).contains(&t) && !line.contains(" quote ")
        })
        .collect();
    assert_eq!(
        around_the_gap,
        [
            "7700 locked Primary 100000.00 Refresh",
            "7700 client Primary 100000.00->100050.00 refresh valid 2400",
            "8200 error Backup unavailable: gateway down",
            "8700 error Backup unavailable: gateway down",
            "9100 error Primary unavailable: gateway down",
            "9200 error Backup unavailable: gateway down",
            "9600 error Primary unavailable: gateway down",
            "9700 error Backup unavailable: gateway down",
            // The client validity runs out with no fresh quote in hand...
            "10100 expired Primary",
            "10100 error Primary unavailable: gateway down",
            "10200 error Backup unavailable: gateway down",
            "10600 error Primary unavailable: gateway down",
            "10700 error Backup unavailable: gateway down",
            // ...and nothing is offered until the outage ends.
            "11100 client Primary 100000.00->100050.00 refresh valid 2500",
            "11200 locked Primary 100000.00 BestOfPoll",
        ]
    );
    assert_eq!(only(&lines, "expired").len(), 1);
    assert!(
        only(&lines, "locked")
            .iter()
            .filter(|l| l.ends_with("Refresh"))
            .count()
            >= 10
    );
}

#[tokio::test(start_paused = true)]
async fn one_seed_replays_the_same_sequence() {
    for name in ["competing", "flaky"] {
        let first = trace(&replay_at(name, Side::Buy, 99, 1000).await);
        let second = trace(&replay_at(name, Side::Buy, 99, 1000).await);
        assert_eq!(first, second, "{name}");
    }
    // A different seed draws different jitter and faults.
    let other = trace(&replay_at("flaky", Side::Buy, 100, 1000).await);
    assert_ne!(other, trace(&replay_at("flaky", Side::Buy, 99, 1000).await));
}

/// Splits a trace line into its stream time and the rest.
fn split_time(line: &str) -> (u64, &str) {
    let (t, rest) = line.split_once(' ').unwrap();
    (t.parse().unwrap(), rest)
}

#[tokio::test(start_paused = true)]
async fn a_faster_replay_reports_the_same_sequence_in_stream_time() {
    for name in ["competing", "expiry", "flaky"] {
        let real_time = trace(&replay_at(name, Side::Buy, SEED, 1000).await);
        let twenty_times = trace(&replay_at(name, Side::Buy, SEED, 20_000).await);
        assert_eq!(real_time.len(), twenty_times.len(), "{name}");
        for (slow, fast) in real_time.iter().zip(&twenty_times) {
            let (slow_t, slow_event) = split_time(slow);
            let (fast_t, fast_event) = split_time(fast);
            // Same events, same LPs, same prices, same order...
            assert_eq!(slow_event, fast_event, "{name}");
            // ...at the same stream time.
            assert_eq!(slow_t, fast_t, "{name}: {slow} vs {fast}");
        }
    }
}

#[test]
fn the_scenarios_page_counts_and_lists_every_scenario() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md")).unwrap();
    let count = [
        "Zero", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine",
    ][scenario::SCENARIOS.len()];
    assert!(
        page.contains(&format!("{count} scripted casts")),
        "docs/scenarios.md does not say {count}"
    );
    for listed in &scenario::SCENARIOS {
        assert!(
            page.contains(&format!("| `{}` |", listed.name)),
            "{} missing from docs/scenarios.md",
            listed.name
        );
    }
}
