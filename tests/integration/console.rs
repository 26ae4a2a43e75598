//! The console: the reducer (events in, view state out), the key handling,
//! and the drawing on ratatui's `TestBackend` (screen lines asserted).

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lp_rfq::desk::registry::Quotable;
use lp_rfq::lp::scripted::{ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::market::{Bps, Pair, Side};
use lp_rfq::rfq::event::*;
use lp_rfq::rfq::{QuoteRequest, RfqEvent};
use lp_rfq::ui::render::{draw, draw_app};
use lp_rfq::ui::state::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{params, run_stream, spec};

// ---- event builders -------------------------------------------------------

fn pair() -> Pair {
    "BTCUSDT".parse().unwrap()
}

fn at(t_ms: u64, kind: EventKind) -> RfqEvent {
    RfqEvent {
        kind,
        rfq_id: Arc::from("R-test"),
        t_ms,
        two_way_side: None,
    }
}

fn started(side: Side, lps: &[&str]) -> RfqEvent {
    at(
        0,
        EventKind::Started(Box::new(Started {
            simulated_lps: Vec::new(),
            operator: None,
            channel: lp_rfq::rfq::Channel::Operator,
            side,
            amount: dec!(1.5),
            pair: pair(),
            client: lp_rfq::rfq::ClientId::house(),
            lps: lps.iter().map(|lp| Arc::from(*lp)).collect(),
            markup_bps: Bps::new(dec!(5)).unwrap(),
            threshold_bps: Bps::new(dec!(1)).unwrap(),
            validity_buffer_ms: 2_000,
            poll_interval_ms: 500,
            lp_timeout_ms: 1_000,
            duration_ms: 30_000,
            speed: dec!(1),
            started_at: "2025-01-19T14:30:25.123Z".to_string(),
            simulated: true,
            two_way: false,
            fixed: lp_rfq::market::Leg::Base,
        })),
    )
}

fn quote(t_ms: u64, lp: &str, price: Decimal, poll: u32) -> RfqEvent {
    at(
        t_ms,
        EventKind::LpQuote(LpQuoteEvent {
            simulated: false,
            lp: Arc::from(lp),
            price,
            quantity: dec!(1.5),
            latency_ms: 120,
            valid_for_ms: 10_000,
            poll,
        }),
    )
}

fn error(t_ms: u64, lp: &str, kind: FailureKind, reason: &str, poll: u32) -> RfqEvent {
    at(
        t_ms,
        EventKind::LpError(LpErrorEvent {
            lp: Arc::from(lp),
            kind,
            reason: reason.to_string(),
            latency_ms: 1_000,
            poll,
        }),
    )
}

fn client(t_ms: u64, side: Side, lp: &str, lp_price: Decimal, reason: QuoteReason) -> RfqEvent {
    let markup = Bps::new(dec!(5)).unwrap();
    let client_price = pair().round_price_for_desk(
        side,
        match side {
            Side::Buy => lp_price * (Decimal::ONE + markup.fraction()),
            Side::Sell => lp_price * (Decimal::ONE - markup.fraction()),
        },
    );
    let notional = (client_price * dec!(1.5)).round_dp(2);
    let (pays, pays_asset, receives, receives_asset) = match side {
        Side::Buy => (notional, pair().quote, dec!(1.5), pair().base),
        Side::Sell => (dec!(1.5), pair().base, notional, pair().quote),
    };
    at(
        t_ms,
        EventKind::ClientQuote(Box::new(ClientQuote {
            simulated: false,
            quote_id: Arc::from(format!("Q-{t_ms}")),
            lp: Arc::from(lp),
            side,
            lp_price,
            client_price,
            markup_bps: markup,
            amount: dec!(1.5),
            client_pays: pays,
            pays_asset,
            client_receives: receives,
            receives_asset,
            client_valid_for_ms: 8_000,
            reason,
        })),
    )
}

fn locked(
    t_ms: u64,
    lp: &str,
    price: Decimal,
    previous: Option<&str>,
    reason: LockReason,
) -> RfqEvent {
    at(
        t_ms,
        EventKind::Locked(Locked {
            simulated: false,
            lp: Arc::from(lp),
            price,
            previous_lp: previous.map(Arc::from),
            reason,
            corroborated_by: None,
        }),
    )
}

fn ended(t_ms: u64, reason: EndReason, lp: Option<&str>, price: Option<Decimal>) -> RfqEvent {
    at(
        t_ms,
        EventKind::Ended(Ended {
            simulated: false,
            reason,
            outcome: Outcome::NotAccepted,
            improvements: 0,
            quote_id: lp.map(|_| Arc::from("Q-1")),
            lp: lp.map(Arc::from),
            client_price: price,
        }),
    )
}

/// A BUY race: LP2 first, LP1 better, LP3 worse; LP1 locked at 0.45 s.
fn buy_race() -> Vec<RfqEvent> {
    vec![
        started(Side::Buy, &["LP1", "LP2", "LP3"]),
        quote(120, "LP2", dec!(100000.00), 1),
        client(120, Side::Buy, "LP2", dec!(100000.00), QuoteReason::First),
        quote(300, "LP1", dec!(99995.00), 1),
        client(
            300,
            Side::Buy,
            "LP1",
            dec!(99995.00),
            QuoteReason::BestSoFar,
        ),
        quote(450, "LP3", dec!(100010.00), 1),
        locked(450, "LP1", dec!(99995.00), None, LockReason::BestOfPoll),
    ]
}

fn names(state: &ConsoleState) -> Vec<&str> {
    state.ranking.iter().map(|&i| &*state.lps[i].name).collect()
}

fn row<'a>(state: &'a ConsoleState, lp: &str) -> &'a LpRow {
    state.lps.iter().find(|row| &*row.name == lp).unwrap()
}

fn lines(width: u16, height: u16, paint: impl FnOnce(&mut ratatui::Frame)) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(paint).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

fn screen(state: &ConsoleState, width: u16, height: u16) -> Vec<String> {
    lines(width, height, |frame| draw(frame, state))
}

/// The leaderboard's rows (after its header), trimmed, up to the border.
fn board(screen: &[String]) -> Vec<String> {
    let header = screen
        .iter()
        .position(|line| line.contains("ans/err"))
        .expect("a leaderboard header");
    screen[header + 1..]
        .iter()
        .map(|line| line.trim_matches(|c| c == '│' || c == ' ').to_string())
        .take_while(|line| !line.starts_with('└'))
        .filter(|line| !line.is_empty())
        .collect()
}

fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- reducer -------------------------------------------------------------

#[test]
fn started_lists_every_lp_waiting_in_configured_order() {
    let state = ConsoleState::from_events(&[started(Side::Buy, &["LP1", "LP2", "LP3"])], 0);
    assert_eq!(names(&state), ["LP1", "LP2", "LP3"]);
    assert!(state.lps.iter().all(|r| r.status == LpStatus::Waiting));
    let request = state.request.as_ref().unwrap();
    assert_eq!((request.side, request.duration_ms), (Side::Buy, 30_000));
    assert_eq!(state.stream_left_ms(), 30_000);
    assert_eq!(state.validity(), None);
}

#[rstest]
#[case(Side::Buy, ["LP1", "LP2", "LP3"])]
#[case(Side::Sell, ["LP3", "LP2", "LP1"])]
fn lp_quotes_rank_best_first_for_the_side(#[case] side: Side, #[case] order: [&str; 3]) {
    let state = ConsoleState::from_events(
        &[
            started(side, &["LP1", "LP2", "LP3", "LP4"]),
            quote(100, "LP2", dec!(100000), 1),
            quote(200, "LP3", dec!(100010), 1),
            quote(300, "LP1", dec!(99995), 1),
        ],
        300,
    );
    assert_eq!(names(&state)[..3], order);
    assert_eq!(names(&state)[3], "LP4", "no answer yet: last");
    assert_eq!(row(&state, "LP2").answers, 1);
    assert_eq!(row(&state, "LP2").latency_ms, Some(120));
}

#[test]
fn an_equal_price_keeps_the_earlier_answer_ahead() {
    let state = ConsoleState::from_events(
        &[
            started(Side::Buy, &["LP1", "LP2"]),
            quote(100, "LP2", dec!(100000), 1),
            quote(200, "LP1", dec!(100000), 1),
        ],
        200,
    );
    assert_eq!(names(&state), ["LP2", "LP1"]);
}

#[test]
fn distance_from_the_best_is_exact_in_bps_and_quote_currency() {
    let state = ConsoleState::from_events(&buy_race(), 450);
    assert_eq!(state.best_price(), Some(dec!(99995.00)));
    // LP3: (100010 − 99995) / 99995 × 10000 = 1.50007… bps; in USDT for
    // the whole 1.5 BTC: 15.00 × 1.5 = 22.50.
    assert_eq!(
        state.distance(dec!(100010.00)),
        Some((dec!(1.50), dec!(22.50)))
    );
    assert_eq!(state.distance(dec!(99995.00)), Some((dec!(0), dec!(0.00))));
}

#[test]
fn an_lp_error_drops_its_price_counts_and_is_logged() {
    let mut events = buy_race();
    events.push(error(
        1_500,
        "LP3",
        FailureKind::Invalid,
        "quantity 1 below 1.5",
        2,
    ));
    let state = ConsoleState::from_events(&events, 1_500);
    let lp3 = row(&state, "LP3");
    assert_eq!(lp3.price, None);
    assert_eq!((lp3.answers, lp3.errors), (1, 1));
    assert_eq!(
        lp3.status,
        LpStatus::Failed {
            kind: FailureKind::Invalid,
            reason: "quantity 1 below 1.5".to_string()
        }
    );
    assert_eq!(names(&state), ["LP1", "LP2", "LP3"]);
    let last = state.log.back().unwrap();
    assert_eq!((last.t_ms, last.kind), (1_500, LogKind::Error));
    assert_eq!(
        last.text,
        "LP3 invalid quote after 1000 ms: quantity 1 below 1.5"
    );
}

#[test]
fn a_client_quote_counts_down_warns_in_its_last_3_s_and_expires() {
    let events = buy_race();
    let mut state = ConsoleState::from_events(&events, 450);
    // Made at 0.3 s, valid 8 s.
    assert_eq!(
        state.validity(),
        Some(Validity::Live {
            remaining_ms: 7_850
        })
    );
    state.tick(5_300);
    assert_eq!(
        state.validity(),
        Some(Validity::Ending {
            remaining_ms: 3_000
        })
    );
    state.tick(8_299);
    assert_eq!(state.validity(), Some(Validity::Ending { remaining_ms: 1 }));
    state.tick(8_300);
    assert_eq!(state.validity(), Some(Validity::Expired));
    assert_eq!(state.quote.as_ref().unwrap().quote.lp.as_ref(), "LP1");
}

#[test]
fn locked_marks_the_lp_and_freezes_its_quote() {
    let mut events = buy_race();
    // The locked LP is not asked again, but were a quote to arrive, the
    // row keeps the frozen lock price.
    events.push(quote(900, "LP1", dec!(100100), 2));
    let state = ConsoleState::from_events(&events, 900);
    let lock = state.lock.as_ref().unwrap();
    assert_eq!(
        (&*state.lps[lock.lp].name, lock.price),
        ("LP1", dec!(99995.00))
    );
    assert_eq!(state.shown_price(lock.lp), Some(dec!(99995.00)));
    assert_eq!(names(&state)[0], "LP1");
    let last = state.log.back().unwrap();
    assert_eq!(
        (last.kind, last.text.as_str()),
        (LogKind::Lock, "LOCKED LP1, LP price 99,995.00")
    );
    assert!(state.lock_flash(), "locked {} ms ago", 900 - 450);
}

#[test]
fn an_improvement_moves_the_lock_raises_the_banner_and_the_arrows() {
    let mut events = buy_race();
    events.extend([
        quote(1_100, "LP3", dec!(99990.00), 2),
        quote(1_150, "LP2", dec!(99985.00), 2),
        locked(
            1_150,
            "LP2",
            dec!(99985.00),
            Some("LP1"),
            LockReason::Improvement,
        ),
        client(
            1_150,
            Side::Buy,
            "LP2",
            dec!(99985.00),
            QuoteReason::Improvement,
        ),
    ]);
    let mut state = ConsoleState::from_events(&events, 1_200);
    assert_eq!(names(&state), ["LP2", "LP3", "LP1"]);
    assert_eq!(state.improvements, 1);
    assert!(state.banner());
    assert!(state.lock_flash());
    // Since poll 1 ended: LP2 2nd → 1st, LP3 3rd → 2nd, LP1 1st → 3rd.
    assert_eq!(row(&state, "LP2").movement, Movement::Up);
    assert_eq!(row(&state, "LP3").movement, Movement::Up);
    assert_eq!(row(&state, "LP1").movement, Movement::Down);
    assert!(state
        .log
        .iter()
        .any(|l| l.kind == LogKind::Improvement
            && l.text == "LOCKED LP2, LP price 99,985.00 (from LP1)"));
    state.tick(1_150 + BANNER_MS);
    assert!(!state.banner());
    assert!(!state.lock_flash());
}

#[test]
fn arrows_compare_with_the_ranking_at_the_start_of_the_poll() {
    let mut events = buy_race();
    events.push(quote(1_100, "LP3", dec!(100005.00), 2));
    let state = ConsoleState::from_events(&events, 1_100);
    // LP3 improved but stays 3rd behind LP2: no arrow for anyone.
    assert!(state.lps.iter().all(|r| r.movement == Movement::Same));
}

#[test]
fn lock_expired_clears_the_lock_and_shows_the_quote_expired() {
    let mut events = buy_race();
    events.push(at(
        8_300,
        EventKind::LockExpired(LockExpired {
            lp: Arc::from("LP1"),
        }),
    ));
    let state = ConsoleState::from_events(&events, 8_300);
    assert_eq!(state.lock, None);
    assert!(state.lock_expired);
    assert_eq!(state.validity(), Some(Validity::Expired));
    assert_eq!(state.log.back().unwrap().kind, LogKind::Expired);
    // A fresh quote puts it back on offer.
    let mut state = state;
    state.apply(
        &client(8_400, Side::Buy, "LP2", dec!(99999), QuoteReason::BestSoFar),
        8_400,
    );
    assert_eq!(
        state.validity(),
        Some(Validity::Live {
            remaining_ms: 8_000
        })
    );
}

#[test]
fn ended_keeps_the_final_quote_for_the_summary_and_history() {
    let mut events = buy_race();
    events.push(ended(
        30_000,
        EndReason::Duration,
        Some("LP1"),
        Some(dec!(100044.99)),
    ));
    let state = ConsoleState::from_events(&events, 30_000);
    assert_eq!(state.stream_left_ms(), 0);
    assert_eq!(state.ended.as_ref().unwrap().reason, EndReason::Duration);
    let entry = HistoryEntry::from_state(&state).unwrap();
    assert_eq!(entry.spec.side, Side::Buy);
    assert_eq!(entry.spec.amount, dec!(1.5));
    assert_eq!(entry.final_lp.as_deref(), Some("LP1"));
    assert_eq!(entry.client_price, Some(dec!(100044.99)));
}

// ---- keys ----------------------------------------------------------------

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl_c() -> KeyEvent {
    KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)
}

fn type_request(app: &mut App, text: &str) -> Command {
    let mut command = Command::None;
    for c in text.chars() {
        command = app.key(key(if c == '\n' {
            KeyCode::Enter
        } else {
            KeyCode::Char(c)
        }));
    }
    command
}

#[test]
fn q_or_ctrl_c_stops_a_stream_gracefully_and_the_summary_follows() {
    let mut app = App::new(false, None);
    let Command::Start(QuoteRequest { spec, .. }) = type_request(&mut app, "b\n1.5\nBTCUSDT\n")
    else {
        panic!("the form did not start a stream");
    };
    assert_eq!(spec.pair.symbol(), "BTCUSDT");
    app.stream_started();
    for event in buy_race() {
        app.apply(&event, event.t_ms);
    }
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::Stop);
    assert_eq!(app.key(ctrl_c()), Command::None, "one stop is enough");
    assert_eq!(app.screen, Screen::Stream, "until the stream has ended");
    app.apply(
        &ended(
            2_000,
            EndReason::Interrupted,
            Some("LP1"),
            Some(dec!(100045)),
        ),
        2_000,
    );
    assert_eq!(app.screen, Screen::Summary);
    assert_eq!(app.history.len(), 1);
    // q with a history that is not saved asks once; any other key stays.
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::None);
    assert!(app.quit_asked);
    assert_eq!(
        app_screen(&app, 100, 30).last().unwrap().trim_end(),
        " quit? this session's history is not saved: q again quits, other keys stay"
    );
    assert_eq!(app.key(key(KeyCode::Char('x'))), Command::None);
    assert!(!app.quit_asked);
    assert_eq!(app.screen, Screen::Summary);
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::None);
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::Quit);
    // Ctrl+C on the summary quits at once.
    let mut asked = app.clone();
    asked.quit_asked = false;
    assert_eq!(asked.key(ctrl_c()), Command::Quit);
    app.quit_asked = false;
    // Enter: a new request with the previous values.
    assert_eq!(app.key(key(KeyCode::Enter)), Command::None);
    assert_eq!(app.screen, Screen::Form);
    assert_eq!(
        type_request(&mut app, "\n\n\n"),
        Command::Start(spec.into())
    );
}

#[test]
fn dust_is_refused_under_the_amount_by_name_and_nothing_starts() {
    let mut app =
        App::new(false, None).with_minimum_size(lp_rfq::market::MinimumSize::uniform(dec!(10)));
    assert_eq!(
        type_request(&mut app, "s\n0.00000001\nBTCUSDT\n"),
        Command::None
    );
    assert_eq!(app.screen, Screen::Form);
    assert_eq!(app.form.focus, lp_rfq::ui::form::AMOUNT);
    assert_eq!(
        app.form.fields[lp_rfq::ui::form::AMOUNT].error.as_deref(),
        Some("amount 0.00000001 BTC is below the minimum for BTCUSDT: notional 0.001 USDT is under MIN_NOTIONAL 10 USDT")
    );
    // Whole at 80x24: wrapped under the amount.
    let screen = app_screen(&app, 80, 24);
    assert_eq!(
        screen[4].trim_end(),
        "│          amount 0.00000001 BTC is below the minimum for BTCUSDT: notional    │"
    );
    assert_eq!(
        screen[5].trim_end(),
        "│0.001 USDT is under MIN_NOTIONAL 10 USDT                                      │"
    );
    // A size above the minimum then goes.
    for _ in 0..10 {
        app.key(key(KeyCode::Backspace));
    }
    let spec = lp_rfq::rfq::RfqSpec {
        side: lp_rfq::market::Side::Sell,
        amount: dec!(0.0001),
        pair: "BTCUSDT".parse().unwrap(),
        fixed: lp_rfq::market::Leg::Base,
    };
    assert_eq!(
        type_request(&mut app, "0.0001\n\n"),
        Command::Start(spec.into())
    );
}

#[test]
fn enter_twice_on_a_fat_finger_starts_nothing_and_asks_for_the_amount_again() {
    let mut app = App::new(false, None)
        .with_notional_limits(lp_rfq::market::NotionalLimits::uniform(dec!(1000000)));
    // The pair's Enter, then Enter again: the second is not a confirmation.
    assert_eq!(type_request(&mut app, "b\n500\nBTCUSDT\n\n"), Command::None);
    assert_eq!(app.screen, Screen::Form);
    let screen = app_screen(&app, 80, 24);
    let text = screen.join("\n");
    assert_eq!(
        screen[7].trim_end(),
        "│notional 50,000,000.00 USDT is above MAX_NOTIONAL 1,000,000                   │",
        "{text}"
    );
    assert_eq!(
        screen[8].trim_end(),
        "│Type yes or the amount again, then Enter · Esc back ›                         │",
        "{text}"
    );
    assert_eq!(
        screen[9].trim_end(),
        "│Enter alone does not confirm: type yes or 500 first                           │",
        "{text}"
    );
    // The amount typed again, then Enter: the request goes.
    let Command::Start(QuoteRequest { spec, .. }) = type_request(&mut app, "500\n") else {
        panic!("the amount typed again did not start the stream");
    };
    assert_eq!(spec.amount, dec!(500));
}

#[test]
fn esc_during_a_stream_stops_it_and_returns_to_the_form() {
    let mut app = App::new(false, None);
    type_request(&mut app, "s\n2\nETHUSDT\n");
    app.stream_started();
    app.apply(&started(Side::Sell, &["LP1"]), 0);
    assert_eq!(app.key(key(KeyCode::Esc)), Command::Stop);
    app.apply(&ended(500, EndReason::Interrupted, None, None), 500);
    assert_eq!(app.screen, Screen::Form);
    assert!(app.form.is_pristine());
    // The stream is in the history, which is not saved: q asks first.
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::None);
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::Quit);
}

#[test]
fn help_opens_with_question_mark_and_any_key_closes_it() {
    let mut app = App::new(false, None);
    app.key(key(KeyCode::Char('?')));
    assert!(app.help);
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::None);
    assert!(!app.help);
    assert_eq!(app.key(ctrl_c()), Command::Quit);
}

// ---- drawing ---------------------------------------------------------------

#[test]
fn the_buy_leaderboard_ranks_the_lowest_offer_first_with_its_lock() {
    let screen = screen(&ConsoleState::from_events(&buy_race(), 1_000), 100, 30);
    assert_eq!(
        board(&screen).iter().map(|l| squash(l)).collect::<Vec<_>>(),
        [
            "1 LOCK LP1 99,995.00 best 120ms 1/0 frozen",
            "2 LP2 100,000.00 +0.50 +7.50 120ms 1/0 ok",
            "3 LP3 100,010.00 +1.50 +22.50 120ms 1/0 ok",
        ]
    );
}

#[test]
fn the_sell_leaderboard_ranks_the_highest_bid_first() {
    let events = [
        started(Side::Sell, &["LP1", "LP2", "LP3"]),
        quote(120, "LP2", dec!(100000.00), 1),
        quote(300, "LP1", dec!(99995.00), 1),
        quote(450, "LP3", dec!(100010.00), 1),
        locked(450, "LP3", dec!(100010.00), None, LockReason::BestOfPoll),
    ];
    let screen = screen(&ConsoleState::from_events(&events, 1_000), 100, 30);
    assert_eq!(
        board(&screen).iter().map(|l| squash(l)).collect::<Vec<_>>(),
        [
            "1 LOCK LP3 100,010.00 best 120ms 1/0 frozen",
            "2 LP2 100,000.00 +1.00 +15.00 120ms 1/0 ok",
            "3 LP1 99,995.00 +1.50 +22.50 120ms 1/0 ok",
        ]
    );
    assert!(screen.iter().any(|l| l.contains("SELL: highest bid first")));
}

#[test]
fn the_locked_row_keeps_its_frozen_price_and_failures_show_their_reason() {
    let mut events = buy_race();
    events.push(quote(900, "LP1", dec!(100100), 2));
    events.push(error(1_000, "LP2", FailureKind::Declined, "no axe", 2));
    events.push(error(
        1_000,
        "LP3",
        FailureKind::Timeout,
        "no answer in 1000 ms",
        2,
    ));
    let screen = screen(&ConsoleState::from_events(&events, 1_000), 100, 30);
    assert_eq!(
        board(&screen).iter().map(|l| squash(l)).collect::<Vec<_>>(),
        [
            "1 LOCK LP1 99,995.00 best 120ms 2/0 frozen",
            "2 LP2 — 1000ms 1/1 declined: no axe",
            "3 LP3 — 1000ms 1/1 timeout",
        ]
    );
}

#[test]
fn the_header_counts_down_the_stream_and_the_quote_validity() {
    let state = ConsoleState::from_events(&buy_race(), 5_000);
    let screen = screen(&state, 100, 30);
    let text = screen.join("\n");
    assert!(
        screen[1].contains("BUY 1.5 BTC/USDT · markup 5 bps · threshold 1 bps · 3 LPs"),
        "{text}"
    );
    assert!(
        screen[2]
            .trim_end_matches(['│', ' '])
            .ends_with("25.0 s left"),
        "{text}"
    );
    assert!(screen[2].contains("stream █"), "{text}");
    // Quote made at 0.3 s, valid 8 s: 3.3 s left at 5 s.
    assert!(screen[3].contains("client quote valid 3.3 s"), "{text}");
    assert!(
        screen[3].contains("locked LP1, LP price 99,995.00"),
        "{text}"
    );
    let ending = self::screen(&ConsoleState::from_events(&buy_race(), 6_000), 100, 30);
    assert!(ending[3].contains("client quote valid 2.3 s"));
}

#[test]
fn an_expired_quote_is_shown_as_expired_never_as_live() {
    let state = ConsoleState::from_events(&buy_race(), 8_300);
    let screen = screen(&state, 120, 30);
    let text = screen.join("\n");
    assert!(screen[3].contains("client quote EXPIRED"), "{text}");
    assert!(text.contains("Valid for       EXPIRED"), "{text}");
    assert!(!text.contains("valid 0.0 s"), "{text}");
}

/// The style of the first cell of `text` on the screen of `state`.
fn style_of(state: &ConsoleState, width: u16, height: u16, text: &str) -> ratatui::style::Style {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw(frame, state)).unwrap();
    let buffer = terminal.backend().buffer();
    for y in 0..height {
        let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
        if let Some(column) = line.find(text) {
            let x = line[..column].chars().count() as u16;
            return buffer[(x, y)].style();
        }
    }
    panic!("{text:?} is not on the screen");
}

#[test]
fn an_expired_client_price_is_crossed_out_in_the_full_and_the_compact_layout() {
    use ratatui::style::Modifier;
    // The client price of buy_race's live quote: 99995.00 × 1.0005.
    let price = "100,045.00";
    let live = ConsoleState::from_events(&buy_race(), 1_000);
    let expired = ConsoleState::from_events(&buy_race(), 8_300);
    for (width, height) in [(120, 30), (80, 24)] {
        let shown = style_of(&live, width, height, price);
        assert!(
            !shown.add_modifier.contains(Modifier::CROSSED_OUT),
            "{width}x{height}"
        );
        let gone = style_of(&expired, width, height, price);
        assert!(
            gone.add_modifier.contains(Modifier::CROSSED_OUT),
            "{width}x{height}"
        );
    }
}

#[test]
fn the_price_improvement_banner_and_the_event_log_show() {
    let mut events = buy_race();
    events.extend([
        quote(1_150, "LP2", dec!(99985.00), 2),
        locked(
            1_150,
            "LP2",
            dec!(99985.00),
            Some("LP1"),
            LockReason::Improvement,
        ),
        client(
            1_150,
            Side::Buy,
            "LP2",
            dec!(99985.00),
            QuoteReason::Improvement,
        ),
    ]);
    let screen = screen(&ConsoleState::from_events(&events, 1_200), 100, 30);
    let text = screen.join("\n");
    assert!(screen[3].contains("*** PRICE IMPROVEMENT ***"), "{text}");
    assert!(
        text.contains("  1.150s LOCKED LP2, LP price 99,985.00 (from LP1)"),
        "{text}"
    );
    assert!(
        text.contains("  1.150s PRICE IMPROVEMENT: LP2 client 100,035.00 (LP 99,985.00)"),
        "{text}"
    );
    assert_eq!(
        squash(&board(&screen)[0]),
        "1↑ LOCK LP2 99,985.00 best 120ms 2/0 frozen"
    );
}

#[test]
fn the_console_fits_80_by_24() {
    let screen = screen(&ConsoleState::from_events(&buy_race(), 1_000), 80, 24);
    let text = screen.join("\n");
    assert_eq!(screen.len(), 24);
    assert!(screen[0].starts_with("┌ lp-rfq · RFQ R-test "), "{text}");
    assert!(
        screen[1].contains("BUY 1.5 BTC/USDT · markup 5 bps"),
        "{text}"
    );
    assert!(
        screen[6].contains("│client 100,045.00 USDT · LP1 at 99,995.00 · +5 bps "),
        "{text}"
    );
    assert!(screen[8].starts_with("│quote Q-300 "), "{text}");
    assert!(
        screen[7].contains("pays 150,067.50 USDT · receives 1.5 BTC · valid 7.3 s"),
        "{text}"
    );
    assert_eq!(board(&screen).len(), 3, "{text}");
    assert!(
        squash(&board(&screen)[0]).starts_with("1 LOCK LP1 99,995.00 best"),
        "{text}"
    );
    assert!(text.contains(" Events "), "{text}");
    assert!(text.contains(" best LP price "), "{text}");
    assert!(
        screen[23].starts_with(
            " a accept · q/Ctrl+C stop · Esc stop, back to form · r release · d desk · ? keys"
        ),
        "{text}"
    );
}

#[test]
fn fifty_lps_at_80_by_24_show_the_best_that_fit() {
    let lps: Vec<String> = (1..=50).map(|i| format!("LP{i}")).collect();
    let lp_refs: Vec<&str> = lps.iter().map(String::as_str).collect();
    let mut events = vec![started(Side::Buy, &lp_refs)];
    for (i, lp) in lps.iter().enumerate() {
        events.push(quote(
            100 + i as u64,
            lp,
            dec!(100000) + Decimal::from(i as i64 * 7 % 50),
            1,
        ));
    }
    let screen = screen(&ConsoleState::from_events(&events, 1_000), 80, 24);
    let rows = board(&screen);
    assert!(rows.len() >= 3, "{}", screen.join("\n"));
    // The rows that do not fit are counted in the title.
    let hidden = 50 - rows.len();
    assert!(
        screen
            .iter()
            .any(|line| line.contains(&format!("· {hidden} more below"))),
        "{}",
        screen.join("\n")
    );
    assert!(
        squash(&rows[0]).starts_with("1 LP1 100,000 best"),
        "{}",
        screen.join("\n")
    );
}

#[test]
fn the_summary_shows_the_final_quote_and_per_lp_counts() {
    let mut events = buy_race();
    events.push(error(1_000, "LP3", FailureKind::Timeout, "no answer", 2));
    events.push(ended(
        30_000,
        EndReason::Duration,
        Some("LP1"),
        Some(dec!(100045.00)),
    ));
    let screen = screen(&ConsoleState::from_events(&events, 30_000), 80, 24);
    let text = screen.join("\n");
    assert!(
        screen[0].contains("Stream ended: stream time over · RFQ R-test"),
        "{text}"
    );
    assert!(
        screen[1].contains("BUY 1.5 BTC/USDT · markup 5 bps · threshold 1 bps · 3 LPs (SIMULATED)"),
        "{text}"
    );
    // Made at 0.3 s, valid 8 s: long gone at 30 s.
    assert!(
        text.contains("final: LP1, client price 100,045.00 USDT · expired at the end · quote Q-1"),
        "{text}"
    );
    assert!(
        text.contains("0 improvements · 3 answers · 1 errors"),
        "{text}"
    );
    assert!(
        screen[23].starts_with(" Enter/n new request · Esc form · q quit"),
        "{text}"
    );
}

#[test]
fn the_form_explains_a_bad_value_under_its_field_and_lists_history() {
    let mut app = App::new(false, None);
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    for event in buy_race() {
        app.apply(&event, event.t_ms);
    }
    app.apply(
        &ended(
            30_000,
            EndReason::Duration,
            Some("LP1"),
            Some(dec!(100045.00)),
        ),
        30_000,
    );
    app.key(key(KeyCode::Char('n')));
    type_request(&mut app, "x\n");
    let screen = lines(80, 24, |frame| draw_app(frame, &app));
    let text = screen.join("\n");
    assert!(screen[1].contains("› Side    x"), "{text}");
    assert!(
        screen[2].contains("side 'x' is not one of b, buy, s, sell"),
        "{text}"
    );
    assert!(screen[3].contains("Amount  1.5"), "{text}");
    assert!(
        text.contains("BUY  1.5          BTC/USDT   LP1       100,045.00"),
        "{text}"
    );
}

#[test]
fn the_help_overlay_lists_the_keys_and_the_q_rule() {
    let mut app = App::new(false, Some("/tmp/lp-rfq.log".to_string()));
    app.key(key(KeyCode::Char('?')));
    let text = lines(80, 24, |frame| draw_app(frame, &app)).join("\n");
    assert!(
        text.contains("quit, only while nothing is typed by hand"),
        "{text}"
    );
    assert!(text.contains("logs: /tmp/lp-rfq.log"), "{text}");
}

/// A real stream from the engine (paused time), reduced and drawn.
#[tokio::test(start_paused = true)]
async fn a_real_stream_reduces_to_a_consistent_board() {
    let lps: Vec<SharedLp> = vec![
        Arc::new(ScriptedLp::steps(
            "LP1",
            10_000,
            vec![Step::price(100, dec!(100010))],
        )),
        Arc::new(ScriptedLp::steps(
            "LP2",
            10_000,
            vec![Step::price(200, dec!(99990))],
        )),
    ];
    let events = run_stream(spec(Side::Buy), lps, params(), 3_000).await;
    let state = ConsoleState::from_events(&events, 3_000);
    assert_eq!(names(&state)[0], "LP2");
    let lock = state.lock.as_ref().expect("a lock");
    assert_eq!(&*state.lps[lock.lp].name, "LP2");
    assert!(state.ended.is_some());
    let screen = screen(&state, 100, 30);
    assert!(
        screen[0].contains("Stream ended: stream time over"),
        "{}",
        screen.join("\n")
    );
}

// ---- accepting a quote ------------------------------------------------------

/// A real last-look stream under paused time: Fader (best) rejects, Solid
/// fills; `accept_at` is when the client accepts.
async fn last_look_events(accept_at: u64) -> Vec<RfqEvent> {
    use lp_rfq::lp::scripted::OrderStep;
    let fader = ScriptedLp::steps("Fader", 10_000, vec![Step::price(100, dec!(99990.00))])
        .with_orders(|_, _| OrderStep::reject(200, "last look: price moved"));
    let solid = ScriptedLp::steps("Solid", 10_000, vec![Step::price(140, dec!(99995.00))])
        .with_orders(|_, _| OrderStep::fill(60));
    let lps: Vec<SharedLp> = vec![Arc::new(fader), Arc::new(solid)];
    crate::support::run_stream_with_commands(
        spec(Side::Buy),
        lps,
        params(),
        30_000,
        vec![(
            accept_at,
            lp_rfq::rfq::StreamCommand::Accept { quote_id: None },
        )],
    )
    .await
}

fn app_screen(app: &App, width: u16, height: u16) -> Vec<String> {
    lines(width, height, |frame| draw_app(frame, app))
}

#[tokio::test(start_paused = true)]
async fn a_then_enter_accepts_the_live_quote_and_the_ticket_follows() {
    let events = last_look_events(1_000).await;
    let first_order = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::OrderSent(_)))
        .unwrap();
    let mut app = App::new(false, None);
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    for event in &events[..first_order] {
        app.apply(event, event.t_ms);
    }
    // `a` asks first, with what the client is about to do.
    assert_eq!(app.key(key(KeyCode::Char('a'))), Command::None);
    assert_eq!(
        app.confirmation().unwrap(),
        " ACCEPT? client BUY 1.5 BTC/USDT at 100,089.99 USDT · notional 150,134.99 USDT \
         · Enter execute · other key cancels"
    );
    let footer = app_screen(&app, 120, 30).pop().unwrap();
    assert!(footer.starts_with(" ACCEPT? client BUY"), "{footer}");
    assert_eq!(
        app.key(key(KeyCode::Enter)),
        Command::Accept(Arc::from("Q-test-1"))
    );
    for event in &events[first_order..] {
        app.apply(event, event.t_ms);
    }
    // The summary carries the ticket.
    assert_eq!(app.screen, Screen::Summary);
    let text = app_screen(&app, 120, 40).join("\n");
    for line in [
        "client accepted Q-test-1 at 100,089.99 USDT: FILLED",
        "order 1 → Fader, LP price 99,990.00 USDT",
        "rejected by Fader after 200 ms: last look: price moved",
        "order 2 → Solid, LP price 99,995.00 USDT",
        // Scripted LPs: the fill is a simulation, and says so.
        "SIMULATED FILL by Solid: nothing real traded",
        "Client BUYS     1.50000000 BTC",
        "LP price        99,995.00 USDT",
        "Client price    100,089.99 USDT",
        "Client pays     150,134.99 USDT",
        "Desk P&L        142.49 USDT",
        "Last look       60 ms",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_order_in_flight_shows_in_place_of_the_quote_and_a_second_a_does_nothing() {
    let events = last_look_events(1_000).await;
    let first_order = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::OrderSent(_)))
        .unwrap();
    let mut app = App::new(false, None);
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    for event in &events[..=first_order] {
        app.apply(event, event.t_ms);
    }
    let text = app_screen(&app, 120, 30).join("\n");
    assert!(text.contains("Accepted Q-test-1"), "{text}");
    assert!(text.contains("waiting for Fader (last look)"), "{text}");
    assert_eq!(app.key(key(KeyCode::Char('a'))), Command::None);
    assert_eq!(app.confirm, None);
    assert_eq!(
        app.stream_notice.as_deref(),
        Some("already accepted: one execution per stream")
    );
}

#[test]
fn a_renewal_after_a_shows_the_new_price_and_enter_takes_exactly_that_quote() {
    let mut app = App::new(false, None);
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    for event in buy_race() {
        app.apply(&event, event.t_ms);
    }
    app.stream.tick(1_000);
    app.key(key(KeyCode::Char('a')));
    assert_eq!(
        app.confirmation().unwrap(),
        " ACCEPT? client BUY 1.5 BTC/USDT at 100,045.00 USDT · notional 150,067.50 USDT \
         · Enter execute · other key cancels"
    );
    // LP2 improves while the operator reads: the line follows it.
    let renewal = client(
        2_000,
        Side::Buy,
        "LP2",
        dec!(99980.00),
        QuoteReason::Improvement,
    );
    app.apply(&renewal, 2_000);
    assert_eq!(
        app.confirmation().unwrap(),
        " QUOTE CHANGED: now 100,029.99 USDT, was 100,045.00 · client BUY 1.5 BTC/USDT \
         · notional 150,044.98 USDT · Enter execute at 100,029.99 · other key cancels"
    );
    // An Enter as the line changes was meant for the price before it.
    assert_eq!(app.key(key(KeyCode::Enter)), Command::None);
    assert!(app.confirm.is_some(), "still asking");
    // Read, then Enter: exactly the quote the line shows.
    app.stream.tick(2_000 + RECONFIRM_SETTLE_MS);
    assert_eq!(
        app.key(key(KeyCode::Enter)),
        Command::Accept(Arc::from("Q-2000"))
    );
}

#[test]
fn a_quote_that_changes_again_re_arms_the_line_and_its_settle_time() {
    let mut app = App::new(false, None);
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    for event in buy_race() {
        app.apply(&event, event.t_ms);
    }
    app.key(key(KeyCode::Char('a')));
    app.apply(
        &client(
            2_000,
            Side::Buy,
            "LP2",
            dec!(99980.00),
            QuoteReason::Improvement,
        ),
        2_000,
    );
    app.apply(
        &client(
            2_400,
            Side::Buy,
            "LP3",
            dec!(99970.00),
            QuoteReason::Improvement,
        ),
        2_400,
    );
    let line = app.confirmation().unwrap();
    assert!(
        line.starts_with(" QUOTE CHANGED: now 100,019.99 USDT, was 100,029.99 ·"),
        "{line}"
    );
    // 600 ms after the first change, 200 ms after the second: not yet.
    app.stream.tick(2_600);
    assert_eq!(app.key(key(KeyCode::Enter)), Command::None);
    app.stream.tick(2_900);
    assert_eq!(
        app.key(key(KeyCode::Enter)),
        Command::Accept(Arc::from("Q-2400"))
    );
}

#[test]
fn at_80_by_24_the_confirmation_the_quote_id_and_every_footer_are_whole() {
    let id = "Q20261124-001251-733-2m4p-1";
    let mut app = App::new(false, None);
    assert_eq!(
        app_screen(&app, 80, 24)[23].trim_end(),
        " Enter next/start · Tab field · Esc clear · q quit, d desk (empty form) · ? keys"
    );
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    for mut event in buy_race() {
        if let EventKind::ClientQuote(quote) = &mut event.kind {
            quote.quote_id = Arc::from(id);
        }
        app.apply(&event, event.t_ms);
    }
    app.stream.tick(1_000);
    let screen = app_screen(&app, 80, 24);
    let text = screen.join("\n");
    assert!(screen[8].starts_with(&format!("│quote {id} ")), "{text}");
    assert_eq!(
        screen[23].trim_end(),
        " a accept · q/Ctrl+C stop · Esc stop, back to form · r release · d desk · ? keys"
    );
    app.key(key(KeyCode::Char('a')));
    let screen = app_screen(&app, 80, 24);
    let text = screen.join("\n");
    assert_eq!(
        screen[22..]
            .iter()
            .map(|line| line.trim_end())
            .collect::<Vec<_>>(),
        [
            " ACCEPT? client BUY 1.5 BTC/USDT at 100,045.00 USDT · notional 150,067.50 USDT",
            " Enter execute · other key cancels",
        ],
        "{text}"
    );
    assert!(screen[8].starts_with(&format!("│quote {id} ")), "{text}");
    app.key(key(KeyCode::Esc));
    app.apply(
        &ended(2_000, EndReason::Interrupted, Some("LP1"), None),
        2_000,
    );
    app.key(key(KeyCode::Char('q')));
    assert_eq!(
        app_screen(&app, 80, 24)[23].trim_end(),
        " quit? this session's history is not saved: q again quits, other keys stay"
    );
}

#[test]
fn q_on_a_prefilled_form_with_a_history_asks_before_quitting() {
    let mut app = App::new(false, None);
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    for event in buy_race() {
        app.apply(&event, event.t_ms);
    }
    app.apply(
        &ended(30_000, EndReason::Duration, Some("LP1"), None),
        30_000,
    );
    // n: the form, prefilled with the request just streamed.
    app.key(key(KeyCode::Char('n')));
    assert_eq!((app.screen, app.form.is_pristine()), (Screen::Form, true));
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::None);
    assert_eq!(
        app_screen(&app, 80, 24)[23].trim_end(),
        " quit? this session's history is not saved: q again quits, other keys stay"
    );
    // Any other key stays, and the form is as it was.
    assert_eq!(app.key(key(KeyCode::Char('x'))), Command::None);
    assert_eq!((app.quit_asked, app.form.is_pristine()), (false, true));
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::None);
    assert_eq!(app.key(key(KeyCode::Char('q'))), Command::Quit);
    // Without a history there is nothing to lose: q quits at once.
    assert_eq!(
        App::new(false, None).key(key(KeyCode::Char('q'))),
        Command::Quit
    );
}

#[test]
fn the_history_says_how_each_rfq_ended() {
    let mut app = App::new(false, None);
    let outcomes = [
        Outcome::Filled,
        Outcome::NotFilled,
        Outcome::Unknown,
        Outcome::NotAccepted,
    ];
    for outcome in outcomes {
        app.key(key(KeyCode::Esc));
        type_request(&mut app, "b\n1.5\nBTCUSDT\n");
        app.stream_started();
        for event in buy_race() {
            app.apply(&event, event.t_ms);
        }
        let mut end = ended(
            9_000,
            EndReason::Accepted,
            Some("LP1"),
            Some(dec!(100045.00)),
        );
        if let EventKind::Ended(ended) = &mut end.kind {
            ended.outcome = outcome;
        }
        app.apply(&end, 9_000);
        app.key(key(KeyCode::Char('n')));
    }
    let screen = app_screen(&app, 80, 24);
    let text = screen.join("\n");
    let start = screen
        .iter()
        .position(|line| line.contains("time     side"))
        .expect("the history's heading");
    let rows: Vec<String> = screen[start..start + 5]
        .iter()
        .map(|line| line.trim_end().to_string())
        .collect();
    // Newest first; the history's time column is local time, so it is
    // compared from the side on.
    let from_side = |line: &str| line.chars().skip(10).collect::<String>();
    assert_eq!(
        rows.iter().map(|row| from_side(row)).collect::<Vec<_>>(),
        [
            "side amount       pair       final LP  client price  impr. outcome   │",
            "BUY  1.5          BTC/USDT   LP1       100,045.00    0     —         │",
            "BUY  1.5          BTC/USDT   LP1       100,045.00    0     unknown   │",
            "BUY  1.5          BTC/USDT   LP1       100,045.00    0     not filled│",
            "BUY  1.5          BTC/USDT   LP1       100,045.00    0     filled    │",
        ],
        "{text}"
    );
}

#[test]
fn an_expired_quote_cannot_be_accepted_and_esc_cancels_a_confirmation() {
    let mut app = App::new(false, None);
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    for event in buy_race() {
        app.apply(&event, event.t_ms);
    }
    app.key(key(KeyCode::Char('a')));
    assert!(app.confirm.is_some());
    // Any key but Enter cancels; nothing is sent.
    assert_eq!(app.key(key(KeyCode::Esc)), Command::None);
    assert_eq!(app.confirm, None);
    assert_eq!(app.screen, Screen::Stream);
    // The client quote from 0.3 s is valid 8 s: at 9 s it has expired.
    app.stream.tick(9_000);
    assert_eq!(app.key(key(KeyCode::Char('a'))), Command::None);
    assert_eq!(app.confirm, None);
    assert_eq!(
        app.stream_notice.as_deref(),
        Some("the client quote has expired: it cannot be accepted")
    );
    let footer = app_screen(&app, 120, 30).pop().unwrap();
    assert!(
        footer.starts_with(" the client quote has expired: it cannot be accepted"),
        "{footer}"
    );
}

#[test]
fn an_unknown_outcome_is_shown_in_red() {
    let mut state = ConsoleState::new(true);
    for event in buy_race() {
        state.apply(&event, event.t_ms);
    }
    state.apply(
        &at(
            1_000,
            EventKind::OrderSent(Box::new(OrderSent {
                simulated: false,
                lp: Arc::from("LP1"),
                order_id: Arc::from("O-1-1"),
                quote_id: Arc::from("Q-300"),
                venue_ref: None,
                client_order_id: None,
                lp_price: dec!(99995.00),
                amount: dec!(1.5),
                attempt: 1,
                preferred_over: None,
            })),
        ),
        1_000,
    );
    state.apply(
        &at(
            11_000,
            EventKind::ExecutionUnknown(ExecutionUnknown {
                lp: Arc::from("LP1"),
                order_id: Arc::from("O-1-1"),
                reason: "no answer within 10000 ms".into(),
            }),
        ),
        11_000,
    );
    let style = style_of(&state, 120, 30, "UNKNOWN: order O-1-1 with LP1");
    assert_eq!(style.fg, Some(ratatui::style::Color::Red));
    let text = screen(&state, 120, 30).join("\n");
    // Wrapped in the 44-column panel.
    assert!(
        text.contains("no answer within 10000 ms: resolve it with"),
        "{text}"
    );
    assert!(text.contains("LP1 before trading again"), "{text}");
    assert!(
        text.contains("client quote ACCEPTED: UNKNOWN outcome"),
        "{text}"
    );
}

#[test]
fn a_blotter_error_raises_a_banner() {
    let mut state = ConsoleState::new(false);
    for event in buy_race() {
        state.apply(&event, event.t_ms);
    }
    state.apply(
        &at(
            600,
            EventKind::BlotterError(BlotterErrorEvent {
                reason: "blotter 'b.db' cannot be written: disk full".into(),
            }),
        ),
        600,
    );
    let text = screen(&state, 120, 30).join("\n");
    assert!(
        text.contains("BLOTTER ERROR: this stream is not being recorded"),
        "{text}"
    );
}

// ---- operator polish: counts, words, alignment, size, settings -------------

/// buy_race, then LP1's lock about to expire is renewed: LP2's fresh quote
/// is the best answer of the renewal and takes the lock (worse than LP1's
/// frozen price: not an improvement).
fn renewal_race() -> Vec<RfqEvent> {
    let mut events = buy_race();
    events.push(quote(6_100, "LP2", dec!(99998.00), 12));
    events.push(locked(
        6_100,
        "LP2",
        dec!(99998.00),
        Some("LP1"),
        LockReason::Refresh,
    ));
    events.push(client(
        6_100,
        Side::Buy,
        "LP2",
        dec!(99998.00),
        QuoteReason::Refresh,
    ));
    events
}

#[test]
fn a_renewal_that_moves_the_lock_is_not_counted_as_an_improvement_and_is_said() {
    let mut events = renewal_race();
    events.push(ended(
        30_000,
        EndReason::Duration,
        Some("LP2"),
        Some(dec!(100048.00)),
    ));
    let state = ConsoleState::from_events(&events, 30_000);
    assert_eq!((state.improvements, state.renewal_moves), (0, 1));
    let lock_line = state
        .log
        .iter()
        .find(|line| line.t_ms == 6_100 && line.text.starts_with("LOCKED"))
        .unwrap();
    assert_eq!(
        lock_line.text,
        "LOCKED LP2, LP price 99,998.00 (from LP1, on renewal: not an improvement)"
    );
    assert_eq!(
        state.log.back().unwrap().text,
        "ended, stream time over: 0 improvements · lock moved to another LP 1× on renewal"
    );
    let screen = screen(&state, 100, 30);
    let text = screen.join("\n");
    assert!(
        text.contains(
            "0 improvements · lock moved to another LP 1× on renewal · 4 answers · 0 errors"
        ),
        "{text}"
    );
}

#[test]
fn an_improvement_is_counted_once_and_its_lock_line_names_the_loser() {
    let mut events = buy_race();
    events.push(quote(1_150, "LP2", dec!(99985.00), 2));
    events.push(locked(
        1_150,
        "LP2",
        dec!(99985.00),
        Some("LP1"),
        LockReason::Improvement,
    ));
    events.push(client(
        1_150,
        Side::Buy,
        "LP2",
        dec!(99985.00),
        QuoteReason::Improvement,
    ));
    let state = ConsoleState::from_events(&events, 1_200);
    assert_eq!((state.improvements, state.renewal_moves), (1, 0));
    assert!(state
        .log
        .iter()
        .any(|line| line.text == "LOCKED LP2, LP price 99,985.00 (from LP1)"));
}

#[test]
fn the_distance_in_quote_currency_is_for_the_whole_amount_and_headed_so() {
    let screen = screen(&ConsoleState::from_events(&buy_race(), 1_000), 100, 30);
    let text = screen.join("\n");
    let header = screen.iter().find(|line| line.contains("ans/err")).unwrap();
    assert_eq!(
        squash(header.trim_matches(|c| c == '│' || c == ' ')),
        "# LP price Δ bps Δ USDT total lat ans/err status",
        "{text}"
    );
    // LP3 is 15.00 a BTC above LP1: 22.50 USDT on the 1.5 BTC asked for.
    assert!(
        squash(&board(&screen)[2]).contains("100,010.00 +1.50 +22.50"),
        "{text}"
    );
}

#[test]
fn prices_and_distances_are_right_aligned_on_the_leaderboard() {
    let screen = screen(&ConsoleState::from_events(&buy_race(), 1_000), 100, 30);
    let header_at = screen
        .iter()
        .position(|line| line.contains("ans/err"))
        .unwrap();
    let rows = &screen[header_at + 1..header_at + 4];
    // The screen column (in characters) where `text` ends on `row`.
    let end_of = |row: &str, text: &str| {
        let at = row.find(text).unwrap_or_else(|| panic!("{text} in {row}"));
        row[..at].chars().count() + text.chars().count()
    };
    // 99,995.00 is one digit shorter than 100,000.00: the digits still line up.
    let ends = [
        end_of(&rows[0], "99,995.00"),
        end_of(&rows[1], "100,000.00"),
        end_of(&rows[2], "100,010.00"),
    ];
    assert_eq!(ends, [ends[0]; 3], "{}", rows.join("\n"));
    let header = &screen[header_at];
    assert_eq!(end_of(header, "price"), ends[0], "{header}");
    // The distances too: "+7.50" and "+22.50" end in the same column.
    assert_eq!(end_of(&rows[1], "+7.50"), end_of(&rows[2], "+22.50"));
}

/// Every word on `screen` that looks like a wire name (`best_so_far`).
fn wire_names(screen: &[String]) -> Vec<String> {
    screen
        .join(" ")
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            word.contains('_')
                && word
                    .split('_')
                    .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase()))
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn no_wire_names_reach_the_screen_only_words() {
    let mut events = renewal_race();
    events.push(error(
        6_500,
        "LP3",
        FailureKind::RateLimited,
        "slow down",
        13,
    ));
    events.push(client(
        6_600,
        Side::Buy,
        "LP2",
        dec!(99997.00),
        QuoteReason::BestSoFar,
    ));
    let live = ConsoleState::from_events(&events, 6_600);
    let wide = screen(&live, 130, 40);
    let text = wide.join("\n");
    assert_eq!(wire_names(&wide), Vec::<String>::new(), "{text}");
    assert!(text.contains("Why             best so far"), "{text}");
    assert!(text.contains("rate limited: slow down"), "{text}");
    assert!(
        text.contains("LP3 rate limited after 1000 ms: slow down"),
        "{text}"
    );

    let mut ended_events = events.clone();
    ended_events.push(ended(7_000, EndReason::NoQuotes, None, None));
    let summary = screen(&ConsoleState::from_events(&ended_events, 7_000), 100, 30);
    assert_eq!(
        wire_names(&summary),
        Vec::<String>::new(),
        "{}",
        summary.join("\n")
    );
    assert!(summary[0].contains("Stream ended: no LP quotes"));
}

#[rstest]
#[case(70, 19, true)]
#[case(69, 19, false)]
#[case(80, 18, false)]
fn a_terminal_too_small_for_the_client_price_and_best_lp_says_so(
    #[case] width: u16,
    #[case] height: u16,
    #[case] fits: bool,
) {
    let state = ConsoleState::from_events(&buy_race(), 1_000);
    let screen = screen(&state, width, height);
    let text = screen.join("\n");
    if fits {
        assert!(text.contains("│client 100,045.00 USDT · LP1"), "{text}");
        assert!(
            squash(&board(&screen)[0]).starts_with("1 LOCK LP1 99,995.00 best"),
            "{text}"
        );
    } else {
        assert_eq!(
            squash(&screen[..3].join(" ")),
            format!(
                "Terminal too small ({width}×{height}) to show the client price and the best LP: make it at least 70×19."
            ),
            "{text}"
        );
        assert!(!text.contains("100,045"), "{text}");
        // The keys still show: the operator can stop the stream.
        assert!(screen[height as usize - 1].starts_with(" a accept · q/Ctrl+C stop"));
    }
}

fn in_force(lps: &[(&str, bool)]) -> InForce {
    InForce {
        markup_bps: Bps::new(dec!(5)).unwrap(),
        threshold_bps: Bps::new(dec!(1)).unwrap(),
        duration_ms: 30_000,
        lps: lps
            .iter()
            .map(|(name, sim)| (Arc::from(*name), *sim))
            .collect(),
        quotable: Quotable::Only(vec![
            "BTCUSDT".parse().unwrap(),
            "ETH/USDT".parse().unwrap(),
        ]),
    }
}

#[test]
fn the_form_shows_the_settings_in_force_and_whether_the_lps_are_simulated() {
    let app = App::new(false, None).with_in_force(in_force(&[
        ("LP1", true),
        ("LP2", true),
        ("LP3", true),
    ]));
    let screen = app_screen(&app, 80, 24);
    let text = screen.join("\n");
    assert!(
        text.contains("│In force  markup 5 bps · threshold 1 bps · 30.0 s streams"),
        "{text}"
    );
    assert!(
        text.contains("│          3 LPs, SIMULATED: LP1, LP2, LP3"),
        "{text}"
    );
    assert!(text.contains("│Pairs     BTCUSDT, ETHUSDT"), "{text}");

    let real = App::new(false, None).with_in_force(in_force(&[("B2C2", false), ("Sim", true)]));
    let text = app_screen(&real, 80, 24).join("\n");
    assert!(
        text.contains("│          2 LPs: B2C2, Sim (simulated)"),
        "{text}"
    );
    assert!(!text.contains("SIMULATED"), "{text}");
}

#[test]
fn the_summary_shows_how_long_the_final_quote_was_still_valid() {
    // The final quote (LP1's at 0.3 s, valid 8 s) at an end at 5 s: 3.3 s left.
    let mut events = buy_race();
    events.push(ended(
        5_000,
        EndReason::Interrupted,
        Some("LP1"),
        Some(dec!(100045.00)),
    ));
    let state = ConsoleState::from_events(&events, 5_000);
    assert_eq!(state.validity_left_at_end(), Some(3_300));
    let text = screen(&state, 100, 30).join("\n");
    assert!(
        text.contains(
            "final: LP1, client price 100,045.00 USDT · valid 3.3 s more at the end · quote Q-1"
        ),
        "{text}"
    );
}

fn health(t_ms: u64, lp: &str, state: HealthState, retry_in_ms: Option<u64>) -> RfqEvent {
    at(
        t_ms,
        EventKind::LpHealth(LpHealthEvent {
            lp: Arc::from(lp),
            state,
            retry_in_ms,
            reject_rate: dec!(29.2),
            fading: state == HealthState::Fading,
            reason: None,
        }),
    )
}

#[test]
fn the_health_column_shows_each_lps_shared_health_counting_down() {
    // Simulated LPs (no health): no column, the layout unchanged.
    let plain = ConsoleState::from_events(&buy_race(), 500);
    assert!(!screen(&plain, 120, 30).iter().any(|l| l.contains("health")));

    let mut events = buy_race();
    events.push(health(500, "LP2", HealthState::Down, Some(12_000)));
    events.push(health(500, "LP3", HealthState::Fading, None));
    let state = ConsoleState::from_events(&events, 3_400);
    // Wide (no side panel below 110 columns): its own column.
    let wide = screen(&state, 100, 30);
    assert!(wide.iter().any(|l| l.contains("health")), "{wide:?}");
    let rows: Vec<String> = board(&wide).iter().map(|r| squash(r)).collect();
    // 2.9 s after the event, 9.1 s of the cool-off are left: `down 10 s`.
    assert!(rows[0].ends_with("1/0 ok frozen"), "{rows:?}");
    assert!(rows[1].ends_with("1/0 down 10 s ok"), "{rows:?}");
    assert!(rows[2].ends_with("1/0 fading 29.2 % ok"), "{rows:?}");
    // Narrow: a health that is not ok takes the status's place.
    let narrow = screen(&state, 80, 24);
    assert!(!narrow.iter().any(|l| l.contains("health")), "{narrow:?}");
    let rows: Vec<String> = board(&narrow).iter().map(|r| squash(r)).collect();
    assert!(rows[0].ends_with("1/0 frozen"), "{rows:?}");
    assert!(rows[1].ends_with("1/0 down 10 s"), "{rows:?}");
    assert!(rows[2].ends_with("1/0 fading 29.2 %"), "{rows:?}");
    let serious: Vec<&str> = state.log.iter().map(|l| l.text.as_str()).collect();
    assert!(serious.contains(&"LP2 down 12 s"), "{serious:?}");
    assert!(serious.contains(&"LP3 fading 29.2 %"), "{serious:?}");
}

#[test]
fn the_client_quote_panel_sits_beside_the_board_only_when_both_fit_whole() {
    // A real quote id (R-stem, process tag, sequence) is 30 characters.
    let id = "Q20261124-001251-733-2m4p-1";
    let events: Vec<RfqEvent> = buy_race()
        .into_iter()
        .map(|mut event| {
            if let EventKind::ClientQuote(quote) = &mut event.kind {
                quote.quote_id = Arc::from(id);
            }
            event
        })
        .collect();
    let state = ConsoleState::from_events(&events, 1_000);
    // 110 columns cannot hold a 45-column panel and the whole board: the
    // quote goes above the board, nothing cut.
    let narrow = screen(&state, 110, 30).join("\n");
    assert!(!narrow.contains("Quote ID"), "{narrow}");
    assert!(narrow.contains(&format!("│quote {id}")), "{narrow}");
    assert!(narrow.contains("ans/err status"), "{narrow}");
    // Wide enough: the panel beside the board, the id whole.
    let wide = screen(&state, 150, 30).join("\n");
    assert!(wide.contains(&format!("Quote ID        {id}│")), "{wide}");
    assert!(wide.contains("ans/err status"), "{wide}");
}

/// A stream the operator allowed to mix a mock (`Sim`) with real venues,
/// filled by the mock.
fn mixed_stream_filled_by_the_mock() -> Vec<RfqEvent> {
    let mut events = vec![started(
        Side::Buy,
        &["B2C2", "Binance", "Wintermute", "Sim"],
    )];
    if let EventKind::Started(started) = &mut events[0].kind {
        started.simulated = false;
        started.simulated_lps = vec![Arc::from("Sim")];
    }
    let mut sim_quote = quote(300, "Sim", dec!(100000.00), 1);
    if let EventKind::LpQuote(quote) = &mut sim_quote.kind {
        quote.simulated = true;
    }
    let mut offered = client(300, Side::Buy, "Sim", dec!(100000.00), QuoteReason::First);
    if let EventKind::ClientQuote(quote) = &mut offered.kind {
        quote.simulated = true;
    }
    events.extend([sim_quote, offered]);
    events.push(at(
        1_000,
        EventKind::OrderSent(Box::new(OrderSent {
            lp: Arc::from("Sim"),
            order_id: Arc::from("O-1"),
            quote_id: Arc::from("Q-300"),
            venue_ref: None,
            client_order_id: None,
            lp_price: dec!(100000.00),
            amount: dec!(1.5),
            attempt: 1,
            preferred_over: None,
            simulated: true,
        })),
    ));
    events.push(at(
        1_100,
        EventKind::Filled(Box::new(lp_rfq::rfq::event::Filled {
            lp: Arc::from("Sim"),
            order_id: Arc::from("O-1"),
            quote_id: Arc::from("Q-300"),
            lp_price: dec!(100000.00),
            client_price: dec!(100050.00),
            amount: dec!(1.5),
            client_pays: dec!(150075.00),
            pays_asset: pair().quote,
            client_receives: dec!(1.5),
            receives_asset: pair().base,
            desk_pnl: dec!(75.00),
            pnl_asset: pair().quote,
            hold_ms: 100,
            venue_order_id: None,
            simulated: true,
        })),
    ));
    events
}

#[test]
fn a_mixed_stream_says_mixed_in_the_header_and_its_mock_fill_is_simulated() {
    let state = ConsoleState::from_events(&mixed_stream_filled_by_the_mock(), 1_200);
    let screen = screen(&state, 120, 50);
    let text = screen.join("\n");
    assert!(
        screen[1]
            .contains("BUY 1.5 BTC/USDT · markup 5 bps · threshold 1 bps · 4 LPs (1 simulated)"),
        "{text}"
    );
    assert!(text.contains(" MIXED: SIMULATED LPs Sim "), "{text}");
    assert!(text.contains("ACCEPTED: SIMULATED FILL by Sim"), "{text}");
    assert!(!text.contains("FILLED by Sim"), "{text}");
}

#[test]
fn a_stream_of_real_lps_has_no_simulated_mark() {
    let mut events = mixed_stream_filled_by_the_mock();
    for event in &mut events {
        match &mut event.kind {
            EventKind::Started(started) => started.simulated_lps.clear(),
            EventKind::LpQuote(quote) => quote.simulated = false,
            EventKind::ClientQuote(quote) => quote.simulated = false,
            EventKind::OrderSent(order) => order.simulated = false,
            EventKind::Filled(filled) => filled.simulated = false,
            _ => {}
        }
    }
    let screen = screen(&ConsoleState::from_events(&events, 1_200), 120, 50);
    let text = screen.join("\n");
    assert!(screen[1].contains("· 4 LPs "), "{text}");
    assert!(!text.contains("SIMULATED"), "{text}");
    assert!(!text.contains("simulated"), "{text}");
    assert!(text.contains("ACCEPTED: FILLED by Sim"), "{text}");
}

/// #24 item 1: `r` names the best unverified price and Enter releases it;
/// any other key cancels; the LP shows `unverified` until it is offered.
#[test]
fn r_then_enter_releases_the_best_unverified_price() {
    let mut app = App::new(false, None);
    type_request(&mut app, "b\n1.5\nBTCUSDT\n");
    app.stream_started();
    app.apply(&started(Side::Buy, &["LP1", "LP2"]), 0);
    assert_eq!(app.key(key(KeyCode::Char('r'))), Command::None);
    assert_eq!(
        app.stream_notice.as_deref(),
        Some("no unverified price to release")
    );
    for (t_ms, lp, price) in [(100, "LP1", dec!(100010.00)), (120, "LP2", dec!(99990.00))] {
        app.apply(&quote(t_ms, lp, price, 1), t_ms);
        let unverified = Unverified {
            lp: Arc::from(lp),
            price,
        };
        app.apply(&at(t_ms, EventKind::Unverified(unverified)), t_ms);
    }
    assert_eq!(row(&app.stream, "LP2").status, LpStatus::Unverified);
    // A BUY: LP2's lower offer is the one a release would offer.
    app.key(key(KeyCode::Char('r')));
    assert_eq!(
        app.stream_notice.as_deref(),
        Some("release LP2's unverified 99,990.00 to the client? Nothing corroborates it. Enter releases (recorded), any other key cancels")
    );
    assert_eq!(app.key(key(KeyCode::Char('x'))), Command::None);
    assert_eq!(app.stream_notice.as_deref(), Some("not released"));
    app.key(key(KeyCode::Char('r')));
    assert_eq!(app.key(key(KeyCode::Enter)), Command::Release(None));
    let offered = client(130, Side::Buy, "LP2", dec!(99990.00), QuoteReason::First);
    app.apply(&offered, 130);
    assert_eq!(row(&app.stream, "LP2").status, LpStatus::Ok);
}

/// `events` as a request for client `acme`.
fn for_acme(mut events: Vec<RfqEvent>) -> Vec<RfqEvent> {
    if let EventKind::Started(started) = &mut events[0].kind {
        started.client = lp_rfq::rfq::ClientId::new("acme").unwrap();
    }
    events
}

#[test]
fn a_named_clients_request_names_it_in_the_header_the_quote_panel_and_the_ticket() {
    let offered = ConsoleState::from_events(&for_acme(buy_race()), 500);
    let screen = screen(&offered, 120, 40);
    let text = screen.join("\n");
    assert!(
        screen[1].contains("BUY 1.5 BTC/USDT for acme · markup 5 bps · threshold 1 bps · 3 LPs"),
        "{text}"
    );
    assert!(text.contains("┌ Client quote · acme ─"), "{text}");

    let filled = ConsoleState::from_events(&for_acme(mixed_stream_filled_by_the_mock()), 1_200);
    let text = screen_text(&filled);
    assert!(text.contains("┌ Accepted Q-300 · acme ─"), "{text}");
    // The house's request reads as it did before clients were named.
    let house = screen_text(&ConsoleState::from_events(&buy_race(), 500));
    assert!(
        !house.contains("acme") && !house.contains("Client quote ·"),
        "{house}"
    );
}

fn screen_text(state: &ConsoleState) -> String {
    screen(state, 120, 50).join("\n")
}

#[test]
fn a_quote_currency_request_says_its_fixed_leg_in_the_header_and_the_ticket() {
    let in_usdt = |mut events: Vec<RfqEvent>| {
        if let EventKind::Started(started) = &mut events[0].kind {
            started.amount = dec!(1000000);
            started.fixed = lp_rfq::market::Leg::Quote;
        }
        events
    };
    let offered = ConsoleState::from_events(&in_usdt(buy_race()), 500);
    let lines = screen(&offered, 120, 40);
    let text = lines.join("\n");
    assert!(
        lines[1].contains(
            "BUY 1000000 BTC/USDT in USDT (fixed) · markup 5 bps · threshold 1 bps · 3 LPs"
        ),
        "{text}"
    );
    let filled = ConsoleState::from_events(&in_usdt(mixed_stream_filled_by_the_mock()), 1_200);
    let text = screen_text(&filled);
    assert!(text.contains("┌ Accepted Q-300 · USDT fixed ─"), "{text}");
}
