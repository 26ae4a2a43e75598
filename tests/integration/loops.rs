//! The console's and the prompt's loops driven in-process, as main drives
//! them: a desk with scripted LPs, keys or lines on a channel, interrupts
//! on another, paused time. What an operator does, end to end, without a
//! terminal.

use lp_rfq::desk::link::DeskLink;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lp_rfq::config::{Settings, SettingsArgs};
use lp_rfq::desk::registry::LpRegistry;
use lp_rfq::desk::Desk;
use lp_rfq::lp::scripted::{OrderStep, ScriptedLp, Step};
use lp_rfq::lp::SharedLp;
use lp_rfq::output::OutputMode;
use lp_rfq::prompt::LineInput;
use lp_rfq::signals::Interrupt;
use lp_rfq::ui::Event;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use rust_decimal_macros::dec;
use tokio::sync::mpsc;

/// Fader is best and rejects every order; Solid fills.
fn last_look_lps() -> (Arc<ScriptedLp>, Arc<ScriptedLp>) {
    let fader = ScriptedLp::steps("Fader", 10_000, vec![Step::price(100, dec!(99990.00))])
        .with_orders(|_, _| OrderStep::reject(200, "last look: price moved"));
    let solid = ScriptedLp::steps("Solid", 10_000, vec![Step::price(140, dec!(99995.00))])
        .with_orders(|_, _| OrderStep::fill(60));
    (Arc::new(fader), Arc::new(solid))
}

fn desk(lps: Vec<SharedLp>) -> Desk {
    let settings = Settings::from_args(&SettingsArgs {
        no_blotter: Some("true".into()),
        ..Default::default()
    })
    .unwrap();
    Desk::with_parts(settings, LpRegistry::fixed(lps), None)
}

fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

fn enter() -> Event {
    Event::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
}

#[tokio::test(start_paused = true)]
async fn the_console_loop_streams_accepts_and_shows_the_ticket() {
    let (fader, solid) = last_look_lps();
    let desk = desk(vec![fader.clone(), solid.clone()]);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    let (keys, inputs) = mpsc::channel(64);
    let (_interrupt, interrupts) = mpsc::unbounded_channel();
    let operator = async move {
        for event in "b"
            .chars()
            .map(key)
            .chain([enter()])
            .chain("1.5".chars().map(key))
            .chain([enter()])
            .chain("BTCUSDT".chars().map(key))
            .chain([enter()])
        {
            keys.send(event).await.unwrap();
        }
        // Let the first poll complete and lock Fader, then accept.
        tokio::time::sleep(Duration::from_secs(1)).await;
        keys.send(key('a')).await.unwrap();
        keys.send(enter()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        // q on the summary asks once (the history is not saved), q quits.
        keys.send(key('q')).await.unwrap();
        keys.send(key('q')).await.unwrap();
        keys
    };
    let link = DeskLink::Local(&desk);
    let (code, _keys) = tokio::join!(
        lp_rfq::ui::event_loop(&mut terminal, &link, interrupts, inputs),
        operator
    );
    assert_eq!(code.unwrap(), std::process::ExitCode::SUCCESS);
    assert_eq!((fader.orders(), solid.orders()), (1, 1));
    let buffer = terminal.backend().buffer().clone();
    let screen: String = (0..40)
        .map(|y| {
            (0..120)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                + "\n"
        })
        .collect();
    // The last frame drawn: the summary with the ticket.
    assert!(screen.contains("client accepted Q"), "{screen}");
    // A scripted cast: the fill is a simulation and says so.
    assert!(screen.contains("SIMULATED FILL by Solid"), "{screen}");
    assert!(
        screen.contains("rejected by Fader after 200 ms"),
        "{screen}"
    );
    assert!(screen.contains("Desk P&L        67.50 USDT"), "{screen}");
}

/// Runs the prompt on `desk` while `operator` types lines and sends
/// interrupts on the channels it is given; what the operator returns is
/// kept (a channel held open) until the prompt has ended.
async fn prompt_with<F: std::future::Future>(
    desk: &Desk,
    operator: impl FnOnce(mpsc::UnboundedSender<String>, mpsc::UnboundedSender<Interrupt>) -> F,
) -> std::process::ExitCode {
    let (lines, input) = mpsc::unbounded_channel();
    let (interrupt, interrupts) = mpsc::unbounded_channel();
    let link = DeskLink::Local(desk);
    let (code, _kept) = tokio::join!(
        lp_rfq::prompt::run(
            &link,
            OutputMode::Plain,
            interrupts,
            LineInput::from_channel(input)
        ),
        operator(lines, interrupt)
    );
    code.unwrap()
}

fn type_lines(lines: &mpsc::UnboundedSender<String>, typed: &[&str]) {
    for line in typed {
        lines.send(format!("{line}\n")).unwrap();
    }
}

/// Types a BUY 1.5 BTCUSDT, `a` a second later, then ends the input: once
/// the stream has ended, the next prompt finds no more lines and quits.
/// (No sleep after the `a`: a prompt waiting on its blocking read holds
/// paused time still.)
async fn buy_then_accept(
    lines: mpsc::UnboundedSender<String>,
    _: mpsc::UnboundedSender<Interrupt>,
) {
    type_lines(&lines, &["b", "1.5", "BTCUSDT"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // `a` shows the quote; Enter (an empty line) executes it.
    type_lines(&lines, &["a", ""]);
}

#[tokio::test(start_paused = true)]
async fn the_prompt_shows_a_renewal_while_asked_and_executes_exactly_the_quote_shown() {
    let prices = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = |prices: &Arc<std::sync::Mutex<Vec<_>>>| {
        let prices = prices.clone();
        move |_, order: &lp_rfq::lp::LpOrder| {
            prices.lock().unwrap().push(order.price);
            OrderStep::fill(60)
        }
    };
    let solid = ScriptedLp::steps("Solid", 10_000, vec![Step::price(100, dec!(99995.00))])
        .with_orders(record(&prices));
    // Behind Solid at first; from its fourth answer on, far better: an
    // improvement that renews the client quote while it is asked.
    let sharp = ScriptedLp::new("Sharp", 10_000, |call| {
        if call.index < 3 {
            Step::price(100, dec!(100100.00))
        } else {
            Step::price(100, dec!(99900.00))
        }
    })
    .with_orders(record(&prices));
    let desk = desk(vec![Arc::new(solid), Arc::new(sharp)]);
    let code = prompt_with(&desk, |lines, interrupt| async move {
        // Held: a closed interrupt channel would quit the prompt.
        let _interrupt = interrupt;
        type_lines(&lines, &["b", "1.5", "BTCUSDT"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        type_lines(&lines, &["a"]);
        // The renewal comes; Enter once it has been shown a while.
        tokio::time::sleep(Duration::from_secs(3)).await;
        type_lines(&lines, &[""]);
    })
    .await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert_eq!(*prices.lock().unwrap(), vec![dec!(99900.00)]);
}

#[tokio::test(start_paused = true)]
async fn the_prompt_loop_accepts_with_a_and_quits_at_the_end_of_input() {
    let (fader, solid) = last_look_lps();
    let desk = desk(vec![fader.clone(), solid.clone()]);
    let code = prompt_with(&desk, buy_then_accept).await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert_eq!((fader.orders(), solid.orders()), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_stops_a_prompted_stream_and_sigterm_ends_the_prompt() {
    let (fader, solid) = last_look_lps();
    let desk = desk(vec![fader.clone(), solid.clone()]);
    let code = prompt_with(&desk, |lines, interrupt| async move {
        type_lines(&lines, &["b", "1.5", "BTCUSDT"]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Ctrl+C: this stream stops and the prompt asks again.
        interrupt.send(Interrupt::CtrlC).unwrap();
        // The next request, typed at once (a blocking read at the prompt
        // holds paused time still, so the test does not sleep first).
        type_lines(&lines, &["s", "2", "BTCUSDT"]);
        tokio::time::sleep(Duration::from_secs(1)).await;
        // SIGTERM: the stream stops and the program ends.
        interrupt.send(Interrupt::Terminate).unwrap();
        lines
    })
    .await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    // Two streams ran (each asked Fader once at least), nothing accepted.
    assert!(fader.calls() >= 2);
    assert_eq!((fader.orders(), solid.orders()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_prompted_session_with_an_unknown_outcome_exits_3() {
    let silent = Arc::new(
        ScriptedLp::steps("Silent", 10_000, vec![Step::price(100, dec!(99990.00))])
            .with_orders(|_, _| OrderStep::never()),
    );
    // Echo agrees with Silent at a worse price: Silent is offered, and
    // the order goes to it.
    let echo = Arc::new(ScriptedLp::steps(
        "Echo",
        10_000,
        vec![Step::price(150, dec!(99995.00))],
    ));
    let desk = desk(vec![silent.clone(), echo.clone()]);
    let code = prompt_with(&desk, buy_then_accept).await;
    assert_eq!(code, std::process::ExitCode::from(3));
    assert_eq!(echo.orders(), 0);
    assert_eq!(silent.orders(), 1);
}

/// #24 item 1: a lone LP's price is never executable until the operator
/// releases it with `r` at the prompt; then `a` and Enter fill it.
#[tokio::test(start_paused = true)]
async fn at_the_prompt_a_lone_lps_price_is_executable_only_once_released() {
    let lone = || {
        Arc::new(
            ScriptedLp::steps("Lone", 10_000, vec![Step::price(100, dec!(99990.00))])
                .with_orders(|_, _| OrderStep::fill(50)),
        )
    };
    // Unreleased: `a` finds no client quote, no order goes out, and the
    // stream ends with nothing accepted.
    let unreleased = lone();
    let first_desk = desk(vec![unreleased.clone()]);
    let code = prompt_with(&first_desk, buy_then_accept).await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert_eq!(unreleased.orders(), 0);
    // Released a second in: the price is offered, and `a` fills it.
    let released = lone();
    let second_desk = desk(vec![released.clone()]);
    let code = prompt_with(&second_desk, |lines, interrupts| async move {
        type_lines(&lines, &["b", "1.5", "BTCUSDT"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        type_lines(&lines, &["r"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        buy_then_accept_tail(lines, interrupts);
    })
    .await;
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    assert_eq!(released.orders(), 1);
}

/// `a` and Enter, then the end of input.
fn buy_then_accept_tail(lines: mpsc::UnboundedSender<String>, _: mpsc::UnboundedSender<Interrupt>) {
    type_lines(&lines, &["a", ""]);
}
