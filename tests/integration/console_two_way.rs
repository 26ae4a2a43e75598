//! The console on a two-way stream: both sides' boards, locks and client
//! quotes reduced apart, drawn at 80×24 and wide (exact lines), and the
//! acceptance `a`, then `b` (the client buys at the offer) or `s` (it
//! sells at the bid), then the confirmation and Enter; against a real
//! two-way session under paused time too.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lp_rfq::lp::scripted::{ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::market::{Bps, Pair, Side};
use lp_rfq::rfq::event::*;
use lp_rfq::rfq::{RfqEvent, StreamCommand};
use lp_rfq::ui::render::draw_app;
use lp_rfq::ui::state::*;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::support::{params, run_two_way_with_commands, spec, with_reference};

// ---- event builders -------------------------------------------------------

fn pair() -> Pair {
    "BTCUSDT".parse().unwrap()
}

/// An event of side `side` (`None`: the stream's own).
fn at(t_ms: u64, side: Option<Side>, kind: EventKind) -> RfqEvent {
    RfqEvent {
        kind,
        rfq_id: Arc::from("R-test"),
        t_ms,
        two_way_side: side,
    }
}

fn started() -> RfqEvent {
    at(
        0,
        None,
        EventKind::Started(Box::new(Started {
            simulated_lps: Vec::new(),
            operator: None,
            channel: lp_rfq::rfq::Channel::Operator,
            side: Side::Buy,
            two_way: true,
            amount: dec!(1.5),
            pair: pair(),
            client: lp_rfq::rfq::ClientId::house(),
            lps: ["LP1", "LP2", "LP3"].map(Arc::from).to_vec(),
            markup_bps: Bps::new(dec!(5)).unwrap(),
            threshold_bps: Bps::new(dec!(1)).unwrap(),
            validity_buffer_ms: 2_000,
            poll_interval_ms: 500,
            lp_timeout_ms: 1_000,
            duration_ms: 30_000,
            speed: dec!(1),
            started_at: "2025-01-19T14:30:25.123Z".to_string(),
            simulated: true,
            fixed: lp_rfq::market::Leg::Base,
        })),
    )
}

fn quote(t_ms: u64, side: Side, lp: &str, price: Decimal, poll: u32) -> RfqEvent {
    at(
        t_ms,
        Some(side),
        EventKind::LpQuote(LpQuoteEvent {
            simulated: false,
            lp: Arc::from(lp),
            price,
            quantity: dec!(1.5),
            latency_ms: if side == Side::Buy { 120 } else { 140 },
            valid_for_ms: 10_000,
            poll,
        }),
    )
}

/// The client quote of `side` from `lp` at `lp_price`, 5 bps on, valid 8 s;
/// its id `Q-test-bid-N` or `Q-test-offer-N`.
fn client(
    t_ms: u64,
    side: Side,
    lp: &str,
    lp_price: Decimal,
    n: u32,
    reason: QuoteReason,
) -> RfqEvent {
    let markup = Bps::new(dec!(5)).unwrap();
    let client_price = pair().round_price_for_desk(
        side,
        match side {
            Side::Buy => lp_price * (Decimal::ONE + markup.fraction()),
            Side::Sell => lp_price * (Decimal::ONE - markup.fraction()),
        },
    );
    let notional = (client_price * dec!(1.5)).round_dp(2);
    let (pays, pays_asset, receives, receives_asset, name) = match side {
        Side::Buy => (notional, pair().quote, dec!(1.5), pair().base, "offer"),
        Side::Sell => (dec!(1.5), pair().base, notional, pair().quote, "bid"),
    };
    at(
        t_ms,
        Some(side),
        EventKind::ClientQuote(Box::new(ClientQuote {
            simulated: false,
            quote_id: Arc::from(format!("Q-test-{name}-{n}")),
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
    side: Side,
    lp: &str,
    price: Decimal,
    previous: Option<&str>,
    reason: LockReason,
) -> RfqEvent {
    at(
        t_ms,
        Some(side),
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

/// The first poll of both sides: the bid locked on LP1 (client 99,940.00),
/// the offer on LP2 (client 100,060.01); LP3 is the worst on both.
fn both_locked() -> Vec<RfqEvent> {
    use QuoteReason::*;
    vec![
        started(),
        quote(100, Side::Sell, "LP1", dec!(99990.00), 1),
        client(100, Side::Sell, "LP1", dec!(99990.00), 1, First),
        quote(120, Side::Buy, "LP2", dec!(100010.00), 1),
        client(120, Side::Buy, "LP2", dec!(100010.00), 1, First),
        quote(200, Side::Sell, "LP2", dec!(99985.00), 1),
        quote(220, Side::Buy, "LP1", dec!(100015.00), 1),
        quote(300, Side::Sell, "LP3", dec!(99970.00), 1),
        quote(320, Side::Buy, "LP3", dec!(100030.00), 1),
        locked(
            450,
            Side::Sell,
            "LP1",
            dec!(99990.00),
            None,
            LockReason::BestOfPoll,
        ),
        locked(
            450,
            Side::Buy,
            "LP2",
            dec!(100010.00),
            None,
            LockReason::BestOfPoll,
        ),
    ]
}

/// Poll 2: LP3's bid beats the bid lock by more than the 1 bp threshold
/// and takes it; the offer's lock stays with LP2.
fn bid_improves() -> Vec<RfqEvent> {
    vec![
        quote(700, Side::Sell, "LP3", dec!(100000.00), 2),
        locked(
            700,
            Side::Sell,
            "LP3",
            dec!(100000.00),
            Some("LP1"),
            LockReason::Improvement,
        ),
        client(
            700,
            Side::Sell,
            "LP3",
            dec!(100000.00),
            2,
            QuoteReason::Improvement,
        ),
        quote(720, Side::Buy, "LP1", dec!(100012.00), 2),
    ]
}

fn lock_of(view: &ConsoleState) -> Option<(&str, Decimal)> {
    view.lock
        .as_ref()
        .map(|lock| (&*view.lps[lock.lp].name, lock.price))
}

fn app_with(events: &[RfqEvent], now_ms: u64) -> App {
    let mut app = App::new(false, None);
    app.stream_started();
    for event in events {
        app.apply(event, event.t_ms);
    }
    app.stream.tick(now_ms);
    app
}

fn app_screen(app: &App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| draw_app(frame, app)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            (0..width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect()
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, keys: &str) -> Command {
    let mut command = Command::None;
    for c in keys.chars() {
        command = app.key(key(match c {
            '\n' => KeyCode::Enter,
            '\x1b' => KeyCode::Esc,
            c => KeyCode::Char(c),
        }));
    }
    command
}

// ---- reducer ----------------------------------------------------------------

#[test]
fn each_side_has_its_own_board_lock_and_quote_and_a_lock_moves_on_one_side_only() {
    let mut events = both_locked();
    let state = ConsoleState::from_events(&events, 500);
    let bid = state.bid.as_deref().expect("a two-way stream has a bid");
    assert_eq!(lock_of(bid), Some(("LP1", dec!(99990.00))));
    assert_eq!(lock_of(&state), Some(("LP2", dec!(100010.00))));
    let ranked = |view: &ConsoleState| -> Vec<String> {
        view.ranking
            .iter()
            .map(|&i| view.lps[i].name.to_string())
            .collect()
    };
    assert_eq!(ranked(bid), ["LP1", "LP2", "LP3"]);
    assert_eq!(ranked(&state), ["LP2", "LP1", "LP3"]);

    events.extend(bid_improves());
    let state = ConsoleState::from_events(&events, 800);
    let bid = state.bid.as_deref().unwrap();
    assert_eq!(lock_of(bid), Some(("LP3", dec!(100000.00))));
    assert_eq!(lock_of(&state), Some(("LP2", dec!(100010.00))));
    assert_eq!(
        bid.quote.as_ref().map(|live| &*live.quote.quote_id),
        Some("Q-test-bid-2")
    );
    assert_eq!(
        state.quote.as_ref().map(|live| &*live.quote.quote_id),
        Some("Q-test-offer-1")
    );
    assert_eq!((bid.improvements, state.improvements), (1, 0));
    assert!(state.banner());
    let log: Vec<&str> = state.log.iter().map(|line| line.text.as_str()).collect();
    assert_eq!(
        log,
        [
            "started: TWO-WAY 1.5 BTC/USDT with 3 LPs",
            "bid · first client quote: LP1 client 99,940.00 (LP 99,990.00)",
            "offer · first client quote: LP2 client 100,060.01 (LP 100,010.00)",
            "bid · LOCKED LP1, LP price 99,990.00",
            "offer · LOCKED LP2, LP price 100,010.00",
            "bid · LOCKED LP3, LP price 100,000.00 (from LP1)",
            "bid · PRICE IMPROVEMENT: LP3 client 99,950.00 (LP 100,000.00)",
        ]
    );
}

// ---- drawing ----------------------------------------------------------------

/// Both sides locked, the bid's lock just moved to LP3 (the banner up),
/// drawn 2 s into the stream.
fn drawn(width: u16, height: u16) -> Vec<String> {
    let mut events = both_locked();
    events.extend(bid_improves());
    app_screen(&app_with(&events, 2_000), width, height)
}

#[test]
fn at_80_by_24_both_quotes_their_countdowns_and_both_locks_are_whole() {
    assert_eq!(
        drawn(80, 24),
        [
            "┌ lp-rfq · RFQ R-test ─────────────────────────────────────────────────────────┐",
            "│TWO-WAY 1.5 BTC/USDT · markup 5 bps · threshold 1 bps · 3 LPs (SIMULATED)     │",
            "│stream ███████████████████████████████████████████████████████░░░ 28.0 s left │",
            "│bid valid 6.7 s · offer valid 6.1 s    *** PRICE IMPROVEMENT ***              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Client quote ────────────────────────────────────────────────────────────────┐",
            "│bid   99,950.00 USDT · locked LP3 at 100,000.00 · +5 bps · valid 6.7 s        │",
            "│      quote Q-test-bid-2                                                      │",
            "│offer 100,060.01 USDT · locked LP2 at 100,010.00 · +5 bps · valid 6.1 s       │",
            "│      quote Q-test-offer-1                                                    │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Leaderboard · TWO-WAY: highest bid, lowest offer · poll 2 ───────────────────┐",
            "│LP                bid  Δ bps             offer  Δ bps    lat status           │",
            "│LP2         99,985.00  +1.50 LOCK   100,010.00   best  140ms ok               │",
            "│LP3 LOCK   100,000.00   best        100,030.00  +2.00  140ms ok               │",
            "│LP1         99,990.00  +1.00        100,012.00  +0.20  140ms ok               │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Events ────────────────────────────────────────┐┌ best LP offer ─────────────┐",
            "│  0.450s offer · LOCKED LP2, LP price 100,010.00││                            │",
            "│  0.700s bid · LOCKED LP3, LP price 100,000.00 (││▄▄                          │",
            "│  0.700s bid · PRICE IMPROVEMENT: LP3 client 99,││██                          │",
            "└────────────────────────────────────────────────┘└ 100,010.00 – 100,010.00 ───┘",
            " a accept · q/Ctrl+C stop · Esc stop, back to form · r release · d desk · ? keys",
        ]
    );
}

#[test]
fn wide_the_panel_beside_the_board_shows_each_sides_price_lock_validity_and_id() {
    let screen = drawn(132, 30);
    assert_eq!(
        screen[3],
        "│bid valid 6.7 s · offer valid 6.1 s    *** PRICE IMPROVEMENT ***                                                                  │"
    );
    assert_eq!(
        screen[5..16],
        [
            "┌ Client quote ────────────────────────────┐┌ Leaderboard · TWO-WAY: highest bid, lowest offer · poll 2 ───────────────────────────┐",
            "│BID · the client sells (s)                ││LP                bid  Δ bps             offer  Δ bps    lat status                   │",
            "│Client price    99,950.00 USDT            ││LP2         99,985.00  +1.50 LOCK   100,010.00   best  140ms ok                       │",
            "│Locked LP       LP3 at 100,000.00         ││LP3 LOCK   100,000.00   best        100,030.00  +2.00  140ms ok                       │",
            "│Valid for       6.7 s                     ││LP1         99,990.00  +1.00        100,012.00  +0.20  140ms ok                       │",
            "│Quote ID        Q-test-bid-2              ││                                                                                      │",
            "│OFFER · the client buys (b)               ││                                                                                      │",
            "│Client price    100,060.01 USDT           ││                                                                                      │",
            "│Locked LP       LP2 at 100,010.00         ││                                                                                      │",
            "│Valid for       6.1 s                     ││                                                                                      │",
            "│Quote ID        Q-test-offer-1            ││                                                                                      │",
        ]
    );
}

#[test]
fn an_expired_side_says_so_while_the_other_counts_on() {
    // The offer (at 0.12 s) runs out at 8.12 s; the bid (from 0.7 s) at 8.7 s.
    let mut events = both_locked();
    events.extend(bid_improves());
    let screen = app_screen(&app_with(&events, 8_300), 80, 24);
    assert_eq!(
        screen[3],
        "│bid valid 0.4 s · offer EXPIRED                                               │"
    );
    assert_eq!(
        screen[8],
        "│offer 100,060.01 USDT · locked LP2 at 100,010.00 · +5 bps · EXPIRED           │"
    );
}

// ---- accepting one side -------------------------------------------------------

#[test]
fn a_then_s_confirms_the_bid_and_enter_executes_exactly_it() {
    let events = both_locked();
    let mut app = app_with(&events, 2_000);
    assert_eq!(press(&mut app, "a"), Command::None);
    assert_eq!(app.confirm, None);
    assert_eq!(
        app.side_question().as_deref(),
        Some(" WHICH SIDE? b: the client buys at the offer 100,060.01 USDT · s: the client sells at the bid 99,940.00 USDT · Esc back")
    );
    assert_eq!(press(&mut app, "s"), Command::None);
    assert_eq!(app.side_question(), None);
    assert_eq!(
        app.confirmation().as_deref(),
        Some(" ACCEPT? client SELL 1.5 BTC/USDT at 99,940.00 USDT · notional 149,910.00 USDT · Enter execute · other key cancels")
    );
    assert_eq!(
        press(&mut app, "\n"),
        Command::Accept(Arc::from("Q-test-bid-1"))
    );
}

#[test]
fn a_then_b_confirms_the_offer_and_enter_executes_exactly_it() {
    let mut app = app_with(&both_locked(), 2_000);
    assert_eq!(press(&mut app, "ab"), Command::None);
    assert_eq!(
        app.confirmation().as_deref(),
        Some(" ACCEPT? client BUY 1.5 BTC/USDT at 100,060.01 USDT · notional 150,090.02 USDT · Enter execute · other key cancels")
    );
    // The bid improving meanwhile changes nothing on the offer's line.
    for event in bid_improves() {
        app.apply(&event, 2_100);
    }
    assert_eq!(
        app.confirmation().as_deref(),
        Some(" ACCEPT? client BUY 1.5 BTC/USDT at 100,060.01 USDT · notional 150,090.02 USDT · Enter execute · other key cancels")
    );
    assert_eq!(
        press(&mut app, "\n"),
        Command::Accept(Arc::from("Q-test-offer-1"))
    );
}

#[test]
fn a_renewal_of_the_side_being_confirmed_follows_on_the_line() {
    let mut app = app_with(&both_locked(), 600);
    press(&mut app, "as");
    for event in bid_improves() {
        app.apply(&event, 700);
    }
    assert_eq!(
        app.confirmation().as_deref(),
        Some(" QUOTE CHANGED: now 99,950.00 USDT, was 99,940.00 · client SELL 1.5 BTC/USDT · notional 149,925.00 USDT · Enter execute at 99,950.00 · other key cancels")
    );
    // Within the settle time Enter sends nothing; after it, the new quote.
    assert_eq!(press(&mut app, "\n"), Command::None);
    app.stream.tick(1_300);
    assert_eq!(
        press(&mut app, "\n"),
        Command::Accept(Arc::from("Q-test-bid-2"))
    );
}

#[test]
fn esc_backs_out_of_the_side_question_and_of_the_confirmation() {
    let mut app = app_with(&both_locked(), 2_000);
    assert_eq!(press(&mut app, "a\x1b"), Command::None);
    assert_eq!((app.side_question(), app.confirm.is_none()), (None, true));
    assert_eq!(app.stream_notice.as_deref(), Some("not accepted"));
    assert_eq!(press(&mut app, "ab\x1b"), Command::None);
    assert_eq!((app.side_question(), app.confirm.is_none()), (None, true));
    assert_eq!(app.stream_notice.as_deref(), Some("not accepted"));
    // Nothing was sent: the stream runs on, and `a` asks again.
    assert_eq!(app.screen, Screen::Stream);
    press(&mut app, "a");
    assert!(app.side_question().is_some());
}

#[test]
fn a_key_that_names_no_side_is_explained_and_the_side_asked_again() {
    let mut app = app_with(&both_locked(), 2_000);
    assert_eq!(press(&mut app, "ax"), Command::None);
    assert_eq!(
        app.side_question().as_deref(),
        Some(" 'x' is not a side: WHICH SIDE? b: the client buys at the offer 100,060.01 USDT · s: the client sells at the bid 99,940.00 USDT · Esc back")
    );
    assert_eq!(press(&mut app, "\n"), Command::None);
    assert_eq!(
        app.side_question()
            .as_deref()
            .map(|q| q.split(':').next().unwrap()),
        Some(" Enter is not a side")
    );
    // `d` is an answer here, not the desk view.
    press(&mut app, "d");
    assert!(!app.showing_desk);
    assert_eq!(press(&mut app, "s"), Command::None);
    assert!(app.confirmation().is_some());
}

#[test]
fn at_80_columns_the_side_question_wraps_whole_above_the_screen_end() {
    let mut app = app_with(&both_locked(), 2_000);
    press(&mut app, "ax");
    let screen = app_screen(&app, 80, 24);
    assert_eq!(
        screen[22..],
        [
            " 'x' is not a side: WHICH SIDE? b: the client buys at the offer 100,060.01 USDT",
            " s: the client sells at the bid 99,940.00 USDT · Esc back",
        ]
    );
}

#[test]
fn a_side_without_a_live_quote_cannot_be_taken_and_says_which() {
    // Only the bid has been quoted.
    let events = both_locked();
    let mut app = app_with(&events[..3], 500);
    press(&mut app, "a");
    assert_eq!(
        app.side_question().as_deref(),
        Some(" WHICH SIDE? b: the client buys at the offer none yet · s: the client sells at the bid 99,940.00 USDT · Esc back")
    );
    assert_eq!(press(&mut app, "b"), Command::None);
    assert_eq!(app.confirm, None);
    assert_eq!(
        app.stream_notice.as_deref(),
        Some("no offer yet: nothing to accept")
    );
    // Past its 8 s, the bid has expired.
    app.stream.tick(8_200);
    press(&mut app, "as");
    assert_eq!(
        app.stream_notice.as_deref(),
        Some("the bid has expired: it cannot be accepted")
    );
}

#[test]
fn the_form_starts_a_two_way_request_and_the_next_form_keeps_it() {
    let mut app = App::new(false, None);
    let Command::Start(request) = press(&mut app, "2w\n1.5\nBTCUSDT\n") else {
        panic!("no start: {:?}", app.form);
    };
    assert!(request.params.two_way());
    assert_eq!(request.spec, spec(Side::Buy));
    app.stream_started();
    let mut events = both_locked();
    events.push(at(
        1_000,
        None,
        EventKind::Ended(Ended {
            simulated: false,
            reason: EndReason::Interrupted,
            outcome: Outcome::NotAccepted,
            improvements: 0,
            quote_id: None,
            lp: None,
            client_price: None,
        }),
    ));
    for event in &events {
        app.apply(event, event.t_ms);
    }
    assert_eq!(app.screen, Screen::Summary);
    // Nothing accepted: each side's final quote, cut at 80 columns only
    // after its price and validity.
    assert_eq!(
        app_screen(&app, 80, 24)[1..6],
        [
            "│TWO-WAY 1.5 BTC/USDT · markup 5 bps · threshold 1 bps · 3 LPs (SIMULATED)     │",
            "│final bid: LP1, client price 99,940.00 USDT · valid 7.1 s more at the end · qu│",
            "│final offer: LP2, client price 100,060.01 USDT · valid 7.1 s more at the end ·│",
            "│0 improvements · 6 answers · 0 errors                                         │",
            "│Enter or n: new request with these values · q: quit                           │",
        ]
    );
    assert!(app.history[0].two_way);
    press(&mut app, "n");
    assert_eq!(app.form.fields[0].text, "two-way");
    let Command::Start(again) = press(&mut app, "\n\n\n") else {
        panic!("no start");
    };
    assert!(again.params.two_way());
}

// ---- a real two-way stream ------------------------------------------------------

/// A bids 99,990.00 and offers 100,010.00; B bids 99,980.00 and offers
/// 100,020.00: both locks are A's.
fn two_sided_lps() -> Vec<SharedLp> {
    let lp = |name: &str, delay_ms: u64, offer: Decimal, bid: Decimal| -> SharedLp {
        Arc::new(ScriptedLp::new(name, 10_000, move |call| {
            match call.side() {
                Side::Buy => Step::price(delay_ms, offer),
                Side::Sell => Step::price(delay_ms, bid),
            }
        }))
    };
    vec![
        lp("A", 100, dec!(100010.00), dec!(99990.00)),
        lp("B", 200, dec!(100020.00), dec!(99980.00)),
    ]
}

/// The console's `a`, `s`, Enter on a real two-way session: the command
/// it gives, sent to the session, fills the bid, and the ticket says the
/// client sold.
#[tokio::test(start_paused = true)]
async fn a_s_enter_on_a_real_two_way_stream_fills_the_bid_and_the_ticket_says_so() {
    let before = run_two_way_with_commands(
        spec(Side::Buy),
        two_sided_lps(),
        with_reference(params()),
        1_000,
        vec![],
    )
    .await;
    let mut app = app_with(&before[..before.len() - 1], 1_000);
    let Command::Accept(quote_id) = press(&mut app, "as\n") else {
        panic!("no accept: {:?}", app.stream_notice);
    };
    assert_eq!(&*quote_id, "Q-test-bid-1");
    let events = run_two_way_with_commands(
        spec(Side::Buy),
        two_sided_lps(),
        with_reference(params()),
        2_000,
        vec![(
            1_000,
            StreamCommand::Accept {
                quote_id: Some(quote_id),
            },
        )],
    )
    .await;
    let mut app = app_with(&[], 0);
    for event in &events {
        app.apply(event, event.t_ms);
    }
    assert_eq!(app.screen, Screen::Summary);
    let screen = app_screen(&app, 120, 40);
    assert_eq!(
        screen[1..12],
        [
            "│TWO-WAY 1.5 BTC/USDT · markup 10 bps · threshold 1 bps · 2 LPs (SIMULATED)                                            │",
            "│client accepted Q-test-bid-1 at 99,890.01 USDT: FILLED                                                                │",
            "│order 1 → A, LP price 99,990.00 USDT                                                                                  │",
            "│ SIMULATED FILL by A: nothing real traded                                                                             │",
            "│Client SELLS    1.50000000 BTC                                                                                        │",
            "│LP price        99,990.00 USDT                                                                                        │",
            "│Client price    99,890.01 USDT                                                                                        │",
            "│Client pays     1.50000000 BTC                                                                                        │",
            "│Client receives 149,835.01 USDT                                                                                       │",
            "│Desk P&L        149.99 USDT                                                                                           │",
            "│Last look       0 ms                                                                                                  │",
        ]
    );
    assert_eq!(
        screen[16..19],
        [
            "│LP               bid  Δ bps             offer  Δ bps    lat ans/err status                                            │",
            "│A  LOCK    99,990.00   best LOCK   100,010.00   best  100ms     2/0 ok                                                │",
            "│B          99,980.00  +1.00        100,020.00  +1.00  200ms     4/0 ok                                                │",
        ]
    );
}

#[test]
fn a_terminal_too_short_for_both_quotes_says_how_large_it_must_be() {
    let screen = drawn(80, 19);
    assert_eq!(
        screen[0],
        "Terminal too small (80×19) to show the client price and the best LP: make it at"
    );
    assert_eq!(screen[1], "least 70×20.");
    assert!(drawn(80, 20)[0].starts_with("┌ lp-rfq · RFQ R-test"));
}

// ---- releasing one side's unverified price ----------------------------------------

/// A lone LP with no band or reference: both its sides stay unverified.
fn lone_lp() -> Vec<SharedLp> {
    two_sided_lps().into_iter().take(1).collect()
}

/// Review finding: `r` on a two-way stream released both sides while the
/// line named one LP and price. It now asks the side, names that side's
/// unverified LP and price, and Enter releases that side only.
#[tokio::test(start_paused = true)]
async fn r_on_a_two_way_stream_asks_the_side_and_releases_only_that_side() {
    let before =
        run_two_way_with_commands(spec(Side::Buy), lone_lp(), params(), 1_000, vec![]).await;
    let mut app = app_with(&before[..before.len() - 1], 1_000);
    assert_eq!(press(&mut app, "r"), Command::None);
    assert_eq!(
        app.side_question().as_deref(),
        Some(" RELEASE WHICH SIDE? b: the offer, A's unverified 100,010.00 · s: the bid, A's unverified 99,990.00 · Esc back")
    );
    assert_eq!(press(&mut app, "x"), Command::None);
    assert_eq!(
        app.side_question().as_deref(),
        Some(" 'x' is not a side: RELEASE WHICH SIDE? b: the offer, A's unverified 100,010.00 · s: the bid, A's unverified 99,990.00 · Esc back")
    );
    assert_eq!(press(&mut app, "\x1b"), Command::None);
    assert_eq!(app.stream_notice.as_deref(), Some("not released"));
    assert_eq!(press(&mut app, "rs"), Command::None);
    assert_eq!(app.side_question(), None);
    assert_eq!(
        app.stream_notice.as_deref(),
        Some("release A's unverified bid 99,990.00 to the client? Nothing corroborates it. Enter releases (recorded), any other key cancels")
    );
    let Command::Release(Some(side)) = press(&mut app, "\n") else {
        panic!("no release: {:?}", app.stream_notice);
    };
    assert_eq!(side, Side::Sell);

    // The command the console gives, sent to the session: the bid is
    // offered, the offer stays unverified and unquoted.
    let events = run_two_way_with_commands(
        spec(Side::Buy),
        lone_lp(),
        params(),
        2_000,
        vec![(1_000, StreamCommand::ReleaseUnverifiedSide { side })],
    )
    .await;
    let released: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Released(released) => Some((event.two_way_side, released.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        released,
        [(
            Some(Side::Sell),
            Released {
                lp: Arc::from("A"),
                price: dec!(99990.00)
            }
        )]
    );
    let quoted: Vec<_> = events
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::ClientQuote(quote) => Some((quote.side, quote.client_price)),
            _ => None,
        })
        .collect();
    assert!(!quoted.is_empty());
    assert!(
        quoted
            .iter()
            .all(|quote| *quote == (Side::Sell, dec!(99890.01))),
        "{quoted:?}"
    );
    let mut app = app_with(&[], 0);
    for event in &events[..events.len() - 1] {
        app.apply(event, event.t_ms);
    }
    assert_eq!(
        app.stream.best_unverified(Side::Buy),
        Some((Arc::from("A"), dec!(100010.00)))
    );
    assert_eq!(app.stream.best_unverified(Side::Sell), None);
}

/// A release that names no side (an older console, a desk protocol client)
/// releases neither side of a two-way stream.
#[tokio::test(start_paused = true)]
async fn a_release_naming_no_side_releases_nothing_on_a_two_way_stream() {
    let events = run_two_way_with_commands(
        spec(Side::Buy),
        lone_lp(),
        params(),
        2_000,
        vec![(1_000, StreamCommand::ReleaseUnverified)],
    )
    .await;
    let offered = events.iter().any(|event| {
        matches!(
            event.kind,
            EventKind::Released(_) | EventKind::ClientQuote(_)
        )
    });
    assert!(!offered);
}

#[test]
fn r_on_a_two_way_stream_without_an_unverified_price_on_that_side_says_so() {
    let mut app = app_with(&both_locked(), 2_000);
    assert_eq!(press(&mut app, "r"), Command::None);
    assert_eq!(
        app.side_question().as_deref(),
        Some(" RELEASE WHICH SIDE? b: the offer, none unverified · s: the bid, none unverified · Esc back")
    );
    assert_eq!(press(&mut app, "b"), Command::None);
    assert_eq!(
        app.stream_notice.as_deref(),
        Some("no unverified offer to release")
    );
    // Nothing is waiting for Enter.
    assert_eq!(press(&mut app, "\n"), Command::None);
}
