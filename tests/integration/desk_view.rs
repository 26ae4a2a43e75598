//! The desk view (`d`): every live RFQ on the desk and every LP's health,
//! reduced from the desk's pushed facts and drawn on ratatui's
//! `TestBackend` (screen lines asserted), and the console's loop showing
//! this process's own RFQ in it.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lp_rfq::config::{Settings, SettingsArgs};
use lp_rfq::desk::link::DeskLink;
use lp_rfq::desk::registry::LpRegistry;
use lp_rfq::desk::Desk;
use lp_rfq::lp::scripted::{ScriptedLp, Step};
use lp_rfq::streams::{DeskEvent, DeskView, RfqState};
use lp_rfq::ui::render::draw_app;
use lp_rfq::ui::state::{App, Command};
use lp_rfq::ui::Event;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use rust_decimal_macros::dec;
use serde_json::json;
use tokio::sync::mpsc;

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
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

/// A desk server's view as `live_rfqs` carries it: alice's RFQ quoting,
/// bob's accepted with its order out, a FIX venue rate limited, a
/// simulation without a health.
fn two_operators() -> DeskView {
    serde_json::from_value(json!({
        "rfqs": [
            {"rfq_id": "R1", "seq": 9, "operator": "alice", "client": "acme", "side": "buy",
             "amount": "1.5", "pair": "BTCUSDT", "lp": "FixLP", "client_price": "100062.11",
             "left_ms": 21_400, "speed_per_mille": 1000, "state": "quoting", "order": null},
            {"rfq_id": "R2", "seq": 30, "operator": "bob", "client": "house", "side": "sell",
             "amount": "20", "pair": "ETHUSDT", "lp": "B2C2", "client_price": "3001.50",
             "left_ms": 12_000, "speed_per_mille": 1000, "state": "accepted", "order": "out"}
        ],
        "lps": [
            {"lp": "FixLP", "state": "ok", "retry_in_ms": null, "reject_rate": "10", "reason": null},
            {"lp": "B2C2", "state": "rate_limited", "retry_in_ms": 2500, "reject_rate": "12.5",
             "reason": "429 Too Many Requests"},
            {"lp": "Sim", "state": null, "retry_in_ms": null, "reject_rate": null, "reason": null}
        ]
    }))
    .unwrap()
}

fn rfq_event(row: serde_json::Value) -> DeskEvent {
    let mut event = json!({"desk_event": "rfq"});
    event
        .as_object_mut()
        .unwrap()
        .extend(row.as_object().unwrap().clone());
    serde_json::from_value(event).unwrap()
}

/// `d` on the empty form opens the desk view; 3.2 s later on the view's
/// clock every live RFQ has counted down, and bob's RFQ, once ended with
/// its fill, moves under the live ones.
#[test]
fn the_desk_view_lists_every_live_rfq_and_every_lps_health_at_80_by_24() {
    let mut app = App::new(false, None);
    app.desk_view.replace(two_operators(), 0);
    assert_eq!(app.key(key(KeyCode::Char('d'))), Command::None);
    assert!(app.showing_desk);
    app.desk_view.tick(3_200);
    assert_eq!(
        app_screen(&app, 80, 24),
        [
            "┌ Desk · 2 live RFQs ──────────────────────────────────────────────────────────┐",
            "│operator client request          LP      price       left  state     order    │",
            "│alice    acme   BUY 1.5 BTC/USDT FixLP   100,062.11  18.2s quoting   —        │",
            "│bob      house  SELL 20 ETH/USDT B2C2    3,001.50    8.8s  accepted  out      │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Clients · kill switch off · ↑/↓ select · p pause/resume · K kill switch ─────┐",
            "│ no clients file: every request is the house's                                │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ LP health · 3 LPs ───────────────────────────────────────────────────────────┐",
            "│LP           health       retry in rejects why                                │",
            "│FixLP        ok                    10%                                        │",
            "│B2C2         rate_limited 2.5s     12.5%   429 Too Many Requests              │",
            "│Sim          —                                                                │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            " d/Esc back · Ctrl+C stop/quit · ? keys",
        ]
    );
    app.desk_view.apply(
        &rfq_event(
            json!({"rfq_id": "R2", "seq": 33, "operator": "bob", "client": "house",
            "side": "sell", "amount": "20", "pair": "ETHUSDT", "lp": "B2C2",
            "client_price": "3001.50", "left_ms": 0, "speed_per_mille": 1000,
            "state": "ended", "order": "filled"}),
        ),
        3_300,
    );
    app.desk_view.apply(
        &DeskEvent::StreamEnded {
            rfq_id: Arc::from("R2"),
        },
        3_300,
    );
    let screen = app_screen(&app, 80, 24);
    assert_eq!(
        screen[..4],
        [
            "┌ Desk · 1 live RFQ ───────────────────────────────────────────────────────────┐",
            "│operator client request          LP      price       left  state     order    │",
            "│alice    acme   BUY 1.5 BTC/USDT FixLP   100,062.11  18.1s quoting   —        │",
            "│bob      house  SELL 20 ETH/USDT B2C2    3,001.50    —     ended     filled   │",
        ]
    );
    assert_eq!(app.key(key(KeyCode::Esc)), Command::None);
    assert!(!app.showing_desk);
}

/// From 110 columns the columns widen: nothing is cut.
#[test]
fn the_desk_view_widens_its_columns_on_a_wide_terminal() {
    let mut app = App::new(false, None);
    app.desk_view.replace(two_operators(), 0);
    app.key(key(KeyCode::Char('d')));
    let screen = app_screen(&app, 120, 30);
    assert_eq!(
        screen[..4],
        [
            "┌ Desk · 2 live RFQs ──────────────────────────────────────────────────────────────────────────────────────────────────┐",
            "│operator   client     request                  LP           client price   left    state      order                   │",
            "│alice      acme       BUY 1.5 BTC/USDT         FixLP        100,062.11     21.4s   quoting    —                       │",
            "│bob        house      SELL 20 ETH/USDT         B2C2         3,001.50       12.0s   accepted   out                     │",
        ]
    );
}

/// A row older than the one shown (the view was read after it was
/// pushed) changes nothing; a newer one replaces it in place.
#[test]
fn a_row_older_than_the_one_shown_is_ignored() {
    let mut app = App::new(false, None);
    app.desk_view.replace(two_operators(), 0);
    let older = json!({"rfq_id": "R1", "seq": 5, "operator": "alice", "client": "acme",
        "side": "buy", "amount": "1.5", "pair": "BTCUSDT", "lp": null, "client_price": null,
        "left_ms": 25_000, "speed_per_mille": 1000, "state": "waiting", "order": null});
    app.desk_view.apply(&rfq_event(older.clone()), 10);
    assert_eq!(app.desk_view.live[0].rfq.state, RfqState::Quoting);
    let mut newer = older;
    newer["seq"] = json!(12);
    newer["state"] = json!("expired");
    app.desk_view.apply(&rfq_event(newer), 10);
    assert_eq!(
        app.desk_view
            .live
            .iter()
            .map(|seen| (&*seen.rfq.rfq_id, seen.rfq.state))
            .collect::<Vec<_>>(),
        [("R1", RfqState::Expired), ("R2", RfqState::Accepted)]
    );
}

/// `d` is a character of the request once the form is typed into, and
/// opens nothing while the accept confirmation waits for its Enter.
#[test]
fn d_opens_the_desk_view_only_where_it_is_no_character_or_answer() {
    let mut app = App::new(false, None);
    app.key(key(KeyCode::Char('b')));
    app.key(key(KeyCode::Char('d')));
    assert!(!app.showing_desk);
    app.key(key(KeyCode::Esc));
    app.key(key(KeyCode::Char('d')));
    assert!(app.showing_desk);
    app.key(key(KeyCode::Char('d')));
    assert!(!app.showing_desk);
}

/// Local mode: this process's own RFQ shows in the desk view, opened
/// with `d` during the stream, with no operator (a single process), the
/// house as client, the LP behind the client price and its state.
#[tokio::test(start_paused = true)]
async fn the_console_shows_its_own_rfq_in_the_desk_view() {
    let settings = Settings::from_args(&SettingsArgs {
        no_blotter: Some("true".into()),
        ..Default::default()
    })
    .unwrap();
    let lps: Vec<lp_rfq::lp::SharedLp> = vec![
        Arc::new(ScriptedLp::steps(
            "Alpha",
            10_000,
            vec![Step::price(100, dec!(99990.00))],
        )),
        Arc::new(ScriptedLp::steps(
            "Beta",
            10_000,
            vec![Step::price(120, dec!(99995.00))],
        )),
    ];
    let desk = Desk::with_parts(settings, LpRegistry::fixed(lps), None);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let (keys, inputs) = mpsc::channel(64);
    let (interrupt, interrupts) = mpsc::unbounded_channel();
    let operator = async move {
        for c in "b\n1.5\nBTCUSDT\n".chars() {
            let code = if c == '\n' {
                KeyCode::Enter
            } else {
                KeyCode::Char(c)
            };
            keys.send(Event::Key(key(code))).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        keys.send(Event::Key(key(KeyCode::Char('d'))))
            .await
            .unwrap();
        // The 30 s stream ends under the desk view.
        tokio::time::sleep(Duration::from_secs(40)).await;
        interrupt
            .send(lp_rfq::signals::Interrupt::Terminate)
            .unwrap();
        keys
    };
    let link = DeskLink::Local(&desk);
    let (code, _keys) = tokio::join!(
        lp_rfq::ui::event_loop(&mut terminal, &link, interrupts, inputs),
        operator
    );
    assert_eq!(code.unwrap(), std::process::ExitCode::SUCCESS);
    let buffer = terminal.backend().buffer().clone();
    let screen: Vec<String> = (0..24)
        .map(|y| {
            (0..80)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    assert_eq!(
        screen[..3],
        [
            "┌ Desk · 0 live RFQs ──────────────────────────────────────────────────────────┐",
            "│operator client request          LP      price       left  state     order    │",
            "│—        house  BUY 1.5 BTC/USDT Alpha   100,040.00  —     ended     —        │",
        ],
        "{}",
        screen.join("\n")
    );
}

/// The clients under the desk view: ↑/↓ select one, `p` pauses it (or
/// resumes it once the desk says it is paused), `K` asks before it turns
/// the kill switch and only `y` does it; the panel shows who paused what
/// and the kill switch's banner.
#[test]
fn p_pauses_the_selected_client_and_k_asks_before_the_kill_switch() {
    let acme = lp_rfq::rfq::ClientId::new("acme").unwrap();
    let beta = lp_rfq::rfq::ClientId::new("beta").unwrap();
    let mut app = App::new(false, None);
    app.desk_view.replace(two_operators(), 0);
    app.desk_view.clients = vec![acme.clone(), beta.clone()];
    app.key(key(KeyCode::Char('d')));
    assert_eq!(app.key(key(KeyCode::Down)), Command::None);
    assert_eq!(
        app.key(key(KeyCode::Down)),
        Command::None,
        "stays on the last"
    );
    assert_eq!(
        app.key(key(KeyCode::Char('p'))),
        Command::PauseClient {
            client: beta.clone(),
            pause: true
        }
    );
    let paused: lp_rfq::streams::ClientPauses = serde_json::from_value(json!({
        "paused": [{"client": "beta", "by": "alice", "at": "2026-12-07T10:00:00.000Z"}]
    }))
    .unwrap();
    app.desk_view
        .apply(&DeskEvent::ClientPauses(paused.clone()), 10);
    assert_eq!(
        app.key(key(KeyCode::Char('p'))),
        Command::PauseClient {
            client: beta,
            pause: false
        }
    );
    assert_eq!(app.key(key(KeyCode::Char('K'))), Command::None);
    assert_eq!(app.key(key(KeyCode::Char('x'))), Command::None, "cancelled");
    assert_eq!(
        app.desk_view.notice.as_deref(),
        Some("the kill switch is unchanged")
    );
    assert!(app.showing_desk);
    assert_eq!(app.key(key(KeyCode::Char('K'))), Command::None);
    assert_eq!(
        app.desk_view.notice.as_deref(),
        Some("turn the kill switch ON? Every client is paused and its live RFQs stopped. y confirms, any other key cancels")
    );
    assert_eq!(app.key(key(KeyCode::Char('y'))), Command::KillSwitch(true));
    app.desk_view.notice = Some("kill switch on by alice: every client is paused".into());
    let mut on = paused;
    on.kill_switch = Some(lp_rfq::streams::PauseMark {
        by: Arc::from("bob"),
        at: "2026-12-07T10:01:00.000Z".into(),
    });
    app.desk_view.apply(&DeskEvent::ClientPauses(on), 20);
    let screen = app_screen(&app, 80, 24);
    assert_eq!(
        screen[12..17],
        [
            "┌ KILL SWITCH ON · every client paused · by bob at 2026-12-07T10:01:00.000Z ───┐",
            "│  acme         paused (kill switch)                                           │",
            "│▸ beta         PAUSED by alice at 2026-12-07T10:00:00.000Z                    │",
            "│ kill switch on by alice: every client is paused                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
        ],
        "{}",
        screen.join("\n")
    );
}

/// Local mode: `p` in the desk view pauses the selected client on this
/// process's desk (as `local`), and a request for it is then refused.
#[tokio::test(start_paused = true)]
async fn the_console_pauses_a_client_on_its_own_desk() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("clients.toml");
    std::fs::write(&file, "[[client]]\nname = \"acme\"\n").unwrap();
    let settings = Settings::from_args(&SettingsArgs {
        no_blotter: Some("true".into()),
        ..Default::default()
    })
    .unwrap();
    let desk = Desk::with_parts(settings, LpRegistry::fixed(Vec::new()), None)
        .with_clients(lp_rfq::clients::load(&file).unwrap());
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let (keys, inputs) = mpsc::channel(64);
    let (interrupt, interrupts) = mpsc::unbounded_channel();
    let operator = async move {
        for code in [KeyCode::Char('d'), KeyCode::Char('p')] {
            keys.send(Event::Key(key(code))).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        interrupt
            .send(lp_rfq::signals::Interrupt::Terminate)
            .unwrap();
        keys
    };
    let link = DeskLink::Local(&desk);
    let (code, _keys) = tokio::join!(
        lp_rfq::ui::event_loop(&mut terminal, &link, interrupts, inputs),
        operator
    );
    assert_eq!(code.unwrap(), std::process::ExitCode::SUCCESS);
    let pauses = desk.pauses();
    assert_eq!(
        pauses
            .paused
            .iter()
            .map(|paused| (paused.client.as_str(), paused.mark.by.as_ref()))
            .collect::<Vec<_>>(),
        [("acme", "local")]
    );
    let request = lp_rfq::rfq::QuoteRequest {
        spec: crate::support::spec(lp_rfq::market::Side::Buy),
        params: lp_rfq::rfq::RequestParams::default()
            .with_client(lp_rfq::rfq::ClientId::new("acme").unwrap()),
    };
    assert_eq!(
        desk.try_start(request).err().map(|error| error.to_string()),
        Some(
            "client 'acme' is paused by the desk: resume it first (lp-rfq clients resume acme)"
                .into()
        )
    );
    let buffer = terminal.backend().buffer().clone();
    let screen: Vec<String> = (0..24)
        .map(|y| (0..80).map(|x| buffer[(x, y)].symbol()).collect())
        .collect();
    assert!(
        screen
            .iter()
            .any(|line| line.starts_with("│ client 'acme' paused by local")),
        "{}",
        screen.join("\n")
    );
}

/// Two LPs quoting both sides within a basis point of each other: each
/// corroborates the other on both sides.
fn two_sided_lps() -> Vec<lp_rfq::lp::SharedLp> {
    let lp = |name: &str, offer, bid| -> lp_rfq::lp::SharedLp {
        Arc::new(ScriptedLp::new(name, 10_000, move |call| {
            match call.side() {
                lp_rfq::market::Side::Buy => Step::price(100, offer),
                lp_rfq::market::Side::Sell => Step::price(100, bid),
            }
        }))
    };
    vec![
        lp("A", dec!(100010.00), dec!(99990.00)),
        lp("B", dec!(100011.00), dec!(99991.00)),
    ]
}

/// #28 item 5 and the two-way review finding: a client's own requests
/// (over the WebSocket or FIX API) say so where an operator's name would
/// be, and a two-way RFQ says `2W` with its bid's and its offer's LP and
/// client price on two lines, within 80 columns and wide.
#[tokio::test(start_paused = true)]
async fn client_api_and_two_way_rfqs_show_their_channel_and_both_sides() {
    use lp_rfq::rfq::{Channel, QuoteRequest, RequestParams};
    let settings = Settings::from_args(&SettingsArgs {
        no_blotter: Some("true".into()),
        ..Default::default()
    })
    .unwrap();
    let desk = Desk::with_parts(settings, LpRegistry::fixed(two_sided_lps()), None);
    let spec = |side| lp_rfq::rfq::RfqSpec {
        side,
        amount: dec!(1.5),
        pair: "BTCUSDT".parse().unwrap(),
        fixed: lp_rfq::market::Leg::Base,
    };
    let two_way = desk.start(QuoteRequest {
        spec: spec(lp_rfq::market::Side::Buy),
        params: RequestParams::default()
            .with_two_way()
            .with_channel(Channel::Ws),
    });
    let by_fix = desk.start(QuoteRequest {
        spec: spec(lp_rfq::market::Side::Sell),
        params: RequestParams::default().with_channel(Channel::Fix),
    });
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let view = desk.desk_view();
    let row = serde_json::to_value(&view.rfqs[0]).unwrap();
    assert_eq!(
        (
            &row["channel"],
            &row["two_way"],
            &row["bid_lp"],
            &row["bid_price"],
            &row["lp"]
        ),
        (
            &json!("ws"),
            &json!(true),
            &json!("B"),
            &json!("99941.00"),
            &json!("A")
        ),
        "{row}"
    );
    let mut app = App::new(false, None);
    app.desk_view.replace(view, 0);
    app.key(key(KeyCode::Char('d')));
    assert_eq!(
        app_screen(&app, 80, 24)[..6],
        [
            "┌ Desk · 2 live RFQs ──────────────────────────────────────────────────────────┐",
            "│operator client request          LP      price       left  state     order    │",
            "│ws API   house  2W 1.5 BTC/USDT  bid B   99,941.00   29.0s quoting   —        │",
            "│                                 ofr A   100,060.01                           │",
            "│FIX API  house  SELL 1.5 BTC/USD B       99,941.00   29.0s quoting   —        │",
            "│                                                                              │",
        ]
    );
    assert_eq!(
        app_screen(&app, 120, 30)[..5],
        [
            "┌ Desk · 2 live RFQs ──────────────────────────────────────────────────────────────────────────────────────────────────┐",
            "│operator   client     request                  LP           client price   left    state      order                   │",
            "│ws API     house      2W 1.5 BTC/USDT          bid B        99,941.00      29.0s   quoting    —                       │",
            "│                                               ofr A        100,060.01                                                │",
            "│FIX API    house      SELL 1.5 BTC/USDT        B            99,941.00      29.0s   quoting    —                       │",
        ]
    );
    drop((two_way, by_fix));
}

/// The client sells at a two-way RFQ's bid: its row ends filled with the
/// bid's LP and client price, the offer's last ones kept beside them.
#[tokio::test(start_paused = true)]
async fn a_two_way_rfq_filled_on_its_bid_ends_with_the_bids_lp_and_price() {
    use lp_rfq::rfq::{QuoteRequest, RequestParams, StreamCommand};
    let settings = Settings::from_args(&SettingsArgs {
        no_blotter: Some("true".into()),
        ..Default::default()
    })
    .unwrap();
    let desk = Desk::with_parts(settings, LpRegistry::fixed(two_sided_lps()), None);
    let mut desk_events = desk.subscribe_desk();
    let mut handle = desk.start(QuoteRequest {
        spec: lp_rfq::rfq::RfqSpec {
            side: lp_rfq::market::Side::Buy,
            amount: dec!(1.5),
            pair: "BTCUSDT".parse().unwrap(),
            fixed: lp_rfq::market::Leg::Base,
        },
        params: RequestParams::default().with_two_way(),
    });
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    handle.send(StreamCommand::AcceptSide {
        side: lp_rfq::market::Side::Sell,
        quote_id: None,
    });
    while handle.events.recv().await.is_some() {}
    let mut last = None;
    while let Ok(event) = desk_events.try_recv() {
        if let DeskEvent::Rfq(row) = event {
            last = Some(row);
        }
    }
    let last = last.unwrap();
    assert_eq!(
        (
            last.state,
            last.order,
            last.bid_lp.as_deref(),
            last.bid_price,
            last.lp.as_deref(),
            last.client_price
        ),
        (
            RfqState::Ended,
            Some(lp_rfq::streams::OrderState::Filled),
            Some("B"),
            Some(dec!(99941.00)),
            Some("A"),
            Some(dec!(100060.01))
        )
    );
}
