//! The live operator console (ratatui + crossterm): terminal setup and
//! restore, and the event loop that turns keys, engine events and ticks
//! into view state ([`state`]) and frames ([`render`], in the colours of
//! `theme`). It only consumes the engine's events; it holds no pricing
//! logic.

pub mod form;
pub mod render;
pub mod state;
pub(crate) mod theme;
pub(crate) mod words;

use std::io::{self, Stdout};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use crossterm::cursor::Show;
use crossterm::event::{Event as TermEvent, KeyEvent, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::blotter::BlotterStats;
use crate::desk::link::DeskLink;
use crate::desk::remote::{DeskGone, DeskLost};
use crate::desk::{PauseControl, StreamHandle};
use crate::logging;
use crate::rfq::RfqEvent;
use crate::signals::Interrupts;
use crate::streams::{DeskEvent, DeskView};
use state::{App, Command, InForce};

/// Shortest time between frames while events flow (about 30 per second).
const FRAME: Duration = Duration::from_millis(33);
/// Redraws for the countdowns when no event arrives (a few per second).
const TICK: Duration = Duration::from_millis(200);
/// Most events applied before a frame is drawn, so keys stay responsive
/// under a flood.
const DRAIN_MAX: usize = 10_000;

/// What wakes the event loop.
#[derive(Debug)]
pub enum Event {
    /// Time passed: countdowns move.
    Tick,
    Key(KeyEvent),
    Resize,
    Rfq(RfqEvent),
    /// The running stream's channel closed: the session is over.
    StreamClosed,
    /// SIGTERM or SIGINT from outside, or the terminal's input is gone.
    Terminate,
}

/// Colours unless `NO_COLOR` is set to something non-empty.
pub(crate) fn colors_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

/// Leaves the console's terminal modes: raw mode off, alternate screen
/// left, cursor shown. Safe to call more than once.
pub(crate) fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

/// The terminal while the console is up; dropping it restores the
/// terminal (normal exit and error alike); a panic on this thread restores
/// it through the logging panic hook.
struct ConsoleTerminal {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl ConsoleTerminal {
    fn enter() -> anyhow::Result<ConsoleTerminal> {
        logging::restore_terminal_on_panic(Some(restore_terminal));
        let setup = || -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode()?;
            execute!(io::stdout(), EnterAlternateScreen)?;
            Terminal::new(CrosstermBackend::new(io::stdout()))
        };
        match setup() {
            Ok(terminal) => Ok(ConsoleTerminal { terminal }),
            Err(error) => {
                restore_terminal();
                logging::restore_terminal_on_panic(None);
                Err(error).context("cannot open the console")
            }
        }
    }
}

impl Drop for ConsoleTerminal {
    fn drop(&mut self) {
        restore_terminal();
        logging::restore_terminal_on_panic(None);
    }
}

/// Reads the terminal on a thread of its own (crossterm's read blocks, so
/// an idle console costs no CPU) and forwards keys and resizes.
fn spawn_input_reader() -> io::Result<mpsc::Receiver<Event>> {
    let (sender, receiver) = mpsc::channel(256);
    std::thread::Builder::new()
        .name("console-input".to_string())
        .spawn(move || loop {
            let event = match crossterm::event::read() {
                Ok(TermEvent::Key(key)) if key.kind != KeyEventKind::Release => Event::Key(key),
                Ok(TermEvent::Resize(..)) => Event::Resize,
                Ok(_) => continue,
                Err(error) => {
                    tracing::warn!("console input failed: {error}");
                    break;
                }
            };
            if sender.blocking_send(event).is_err() {
                break;
            }
        })?;
    Ok(receiver)
}

/// The next event of the running stream; never completes without one.
async fn next_rfq(stream: &mut Option<StreamHandle>) -> Option<RfqEvent> {
    match stream {
        Some(handle) => handle.events.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the console on `desk` until the operator quits; an interrupt
/// (Ctrl+C or SIGTERM from outside) stops the running stream and quits.
pub async fn run(desk: &DeskLink<'_>, interrupts: Interrupts) -> anyhow::Result<ExitCode> {
    let mut terminal = ConsoleTerminal::enter()?;
    let inputs = spawn_input_reader().context("cannot read the terminal")?;
    let result = event_loop(&mut terminal.terminal, desk, interrupts, inputs).await;
    drop(terminal);
    // A lost desk server is said once the screen is the shell's again.
    match result {
        Err(error) => {
            if let Some(lost) = error.downcast_ref::<DeskLost>() {
                eprintln!("lp-rfq: {lost}");
                return Ok(ExitCode::from(lost.exit_code()));
            }
            if let Some(gone) = error.downcast_ref::<DeskGone>() {
                eprintln!("lp-rfq: {gone}");
                return Ok(ExitCode::FAILURE);
            }
            Err(error)
        }
        done => done,
    }
}

/// Hands the blotter write trouble the desk has pushed since the last
/// look to the console's state, which logs what is new. Looked at right
/// after the stream's events are applied (the desk pushes trouble before
/// the event that revealed it reaches the console), so the line lands
/// where the operator expects it. The desk pushes only when the trouble
/// grows, so a push lost to lagging behind would not come again: after a
/// lag the trouble is read from `current` (the desk's blotter) instead.
///
/// Every other desk fact goes to the desk view (at `view_ms` on its
/// clock); after a lag it starts again from `desk`'s view, when this
/// process holds the desk (a desk server sends its own).
fn report_blotter_trouble(
    app: &mut App,
    desk_events: &mut broadcast::Receiver<DeskEvent>,
    now_ms: u64,
    view_ms: u64,
    current: impl FnOnce() -> Option<BlotterStats>,
    current_view: impl FnOnce() -> Option<DeskView>,
) {
    let mut lagged = false;
    loop {
        match desk_events.try_recv() {
            // Cumulative figures: the state logs only what has grown.
            Ok(DeskEvent::BlotterTrouble(trouble)) => {
                app.blotter_trouble(trouble.failed_commits, trouble.lost, now_ms)
            }
            Ok(other) => app.desk_view.apply(&other, view_ms),
            Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
            Err(_) => break,
        }
    }
    if lagged {
        if let Some(stats) = current() {
            app.blotter_trouble(stats.failed_commits, stats.lost, now_ms);
        }
        if let Some(view) = current_view() {
            app.desk_view.replace(view, view_ms);
        }
    }
}

/// A desk fact that arrived while no stream runs: the desk view's, or
/// blotter trouble (told at the stream time of the last stream).
fn desk_fact(
    app: &mut App,
    received: Result<DeskEvent, broadcast::error::RecvError>,
    desk_events: &mut broadcast::Receiver<DeskEvent>,
    view_ms: u64,
    desk: &DeskLink<'_>,
) {
    let now_ms = app.stream.now_ms;
    match received {
        Ok(DeskEvent::BlotterTrouble(trouble)) => {
            app.blotter_trouble(trouble.failed_commits, trouble.lost, now_ms)
        }
        Ok(other) => app.desk_view.apply(&other, view_ms),
        Err(broadcast::error::RecvError::Lagged(_)) => {
            if let Some(view) = desk.desk_view() {
                app.desk_view.replace(view, view_ms);
            }
        }
        Err(broadcast::error::RecvError::Closed) => return,
    }
    report_blotter_trouble(
        app,
        desk_events,
        now_ms,
        view_ms,
        || desk.blotter_stats(),
        || desk.desk_view(),
    );
}

/// The console's loop on any ratatui backend: keys and resizes arrive on
/// `inputs` (the terminal's reader thread, or a test), interrupts on
/// `interrupts`; returns when the operator quits.
pub async fn event_loop<B: ratatui::backend::Backend>(
    terminal: &mut Terminal<B>,
    desk: &DeskLink<'_>,
    mut interrupts: Interrupts,
    mut inputs: mpsc::Receiver<Event>,
) -> anyhow::Result<ExitCode> {
    let settings = desk.settings();
    let mut desk_events = desk.subscribe_desk();
    let log_path = settings
        .log_file
        .as_ref()
        .map(|path| path.display().to_string());
    let mut app = App::new(colors_allowed(), log_path)
        .with_notional_limits(settings.notional_limits())
        .with_minimum_size(settings.minimum_size())
        .with_in_force(InForce::of(desk));
    if desk.clients().from_file() {
        app = app.with_clients(desk.clients().names());
        app.desk_view.clients = desk.clients().names();
    }
    // The desk view's clock: its rows count down by it.
    let view_origin = Instant::now();
    let view_ms = move || u64::try_from(view_origin.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(view) = desk.desk_view() {
        app.desk_view.replace(view, 0);
    }
    let mut desk_open = true;
    let mut stream: Option<StreamHandle> = None;
    let mut signalled = false;
    // The worst execution outcome of the session, for the exit code.
    let mut worst = 0u8;
    // Quit as soon as the running stream has ended.
    let mut quitting = false;
    let mut dirty = true;
    let mut last_frame: Option<Instant> = None;
    loop {
        let frame_due = last_frame.is_none_or(|at| at.elapsed() >= FRAME);
        if dirty && frame_due {
            if let Some(handle) = &stream {
                app.stream.tick(handle.clock.now_ms());
            }
            app.desk_view.tick(view_ms());
            terminal
                .draw(|frame| render::draw_app(frame, &app))
                .context("cannot draw the console")?;
            dirty = false;
            last_frame = Some(Instant::now());
        }
        let next_frame = last_frame.map_or_else(Instant::now, |at| at + FRAME);
        let event = tokio::select! {
            Some(_) = interrupts.recv(), if !signalled => {
                signalled = true;
                Event::Terminate
            }
            input = inputs.recv() => input.unwrap_or(Event::Terminate),
            event = next_rfq(&mut stream) => match event {
                Some(event) => Event::Rfq(event),
                None => Event::StreamClosed,
            },
            // While a stream runs, desk facts are read after its events
            // (see `report_blotter_trouble`).
            received = desk_events.recv(), if stream.is_none() && desk_open => {
                if matches!(received, Err(broadcast::error::RecvError::Closed)) {
                    desk_open = false;
                }
                desk_fact(&mut app, received, &mut desk_events, view_ms(), desk);
                dirty = true;
                continue;
            }
            _ = tokio::time::sleep_until(next_frame), if dirty => continue,
            _ = tokio::time::sleep(TICK), if app.animating() => Event::Tick,
            // With a stream running, its end says what was last known.
            gone = desk.lost(), if stream.is_none() => return Err(gone.into()),
        };
        dirty = true;
        match event {
            Event::Tick | Event::Resize => {
                if app.showing_desk {
                    if let Some(handle) = &stream {
                        let now_ms = handle.clock.now_ms();
                        report_blotter_trouble(
                            &mut app,
                            &mut desk_events,
                            now_ms,
                            view_ms(),
                            || desk.blotter_stats(),
                            || desk.desk_view(),
                        );
                    }
                }
            }
            Event::Rfq(event) => {
                let Some(handle) = stream.as_mut() else {
                    continue;
                };
                app.apply(&event, handle.clock.now_ms());
                for _ in 0..DRAIN_MAX {
                    let Ok(event) = handle.events.try_recv() else {
                        break;
                    };
                    app.apply(&event, handle.clock.now_ms());
                }
                let now_ms = handle.clock.now_ms();
                report_blotter_trouble(
                    &mut app,
                    &mut desk_events,
                    now_ms,
                    view_ms(),
                    || desk.blotter_stats(),
                    || desk.desk_view(),
                );
            }
            Event::StreamClosed => {
                if let Some(handle) = stream.take() {
                    let error = match handle.finish().await {
                        Ok(ended) => {
                            worst = worst.max(ended.outcome.exit_code());
                            None
                        }
                        // The desk server is gone: nothing more can be
                        // done here, and the operator must not think it can.
                        Err(error) if error.downcast_ref::<DeskLost>().is_some() => {
                            return Err(error)
                        }
                        Err(error) => Some(format!("the stream failed: {error:#}")),
                    };
                    if let Some(error) = &error {
                        tracing::error!("{error}");
                    }
                    app.stream_ended(error);
                }
                if quitting {
                    return Ok(ExitCode::from(worst));
                }
            }
            Event::Key(key) => {
                // Judge a key (an acceptance above all) by the stream's
                // time now, not by the last frame's.
                if let Some(handle) = &stream {
                    app.stream.tick(handle.clock.now_ms());
                }
                let command = app.key(key);
                match command {
                    Command::None => {}
                    Command::Start(request) => match desk.admit(&request) {
                        // The client's terms refuse it: said on the form,
                        // nothing asked of any LP.
                        Err(refusal) => app.refused(refusal.to_string()),
                        Ok(()) => {
                            stream = Some(desk.start(request).await);
                            app.stream_started();
                        }
                    },
                    Command::Stop => {
                        if let Some(handle) = stream.as_mut() {
                            handle.stop();
                        }
                    }
                    Command::Accept(quote_id) => {
                        if let Some(handle) = stream.as_ref() {
                            handle.send(crate::rfq::StreamCommand::Accept {
                                quote_id: Some(quote_id),
                            });
                        }
                    }
                    Command::Release(side) => {
                        if let Some(handle) = stream.as_ref() {
                            handle.send(match side {
                                Some(side) => {
                                    crate::rfq::StreamCommand::ReleaseUnverifiedSide { side }
                                }
                                None => crate::rfq::StreamCommand::ReleaseUnverified,
                            });
                        }
                    }
                    Command::PauseClient { client, pause } => {
                        let name = client.to_string();
                        let control = if pause {
                            PauseControl::Pause(name)
                        } else {
                            PauseControl::Resume(name)
                        };
                        app.desk_view.notice = Some(match desk.control(control).await {
                            Ok(said) | Err(said) => said,
                        });
                    }
                    Command::KillSwitch(on) => {
                        app.desk_view.notice =
                            Some(match desk.control(PauseControl::KillSwitch(on)).await {
                                Ok(said) | Err(said) => said,
                            });
                    }
                    Command::Quit => {
                        if stream.is_none() {
                            return Ok(ExitCode::from(worst));
                        }
                    }
                }
            }
            Event::Terminate => match stream.as_mut() {
                Some(handle) => {
                    handle.stop();
                    quitting = true;
                }
                None => return Ok(ExitCode::from(worst)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(app: &App) -> Vec<&str> {
        app.stream
            .log
            .iter()
            .map(|line| line.text.as_str())
            .collect()
    }

    /// The push that told of the trouble is among those a lagging console
    /// missed, and the trouble does not grow again: the console still
    /// says it, from the desk's own figures.
    #[test]
    fn blotter_trouble_missed_in_a_lag_is_read_from_the_desk() {
        let (pushes, mut desk_events) = broadcast::channel(1);
        pushes
            .send(DeskEvent::BlotterTrouble(crate::streams::BlotterTrouble {
                failed_commits: 2,
                lost: 1,
                problem: None,
            }))
            .unwrap();
        pushes
            .send(DeskEvent::StreamStarted {
                rfq_id: "R-2".into(),
            })
            .unwrap();
        let mut app = App::new(false, None);
        let desk_now = BlotterStats {
            failed_commits: 2,
            lost: 1,
            ..BlotterStats::default()
        };
        report_blotter_trouble(
            &mut app,
            &mut desk_events,
            500,
            0,
            || Some(desk_now),
            || None,
        );
        assert_eq!(
            logged(&app),
            ["blotter: 2 failed writes (retrying), 1 events lost; see the log"]
        );
        // Told once: the next look, with nothing new, adds nothing.
        report_blotter_trouble(
            &mut app,
            &mut desk_events,
            600,
            0,
            || Some(desk_now),
            || None,
        );
        assert_eq!(logged(&app).len(), 1);
    }
}
