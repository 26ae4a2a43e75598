//! Pure drawing: view state in, a frame out. Nothing here changes state or
//! reads a clock; [`draw`] renders one stream's screen (the benchmark's
//! entry point) and [`draw_app`] the whole console. This file is the
//! layout (which panel goes where, and when the terminal is too small);
//! each panel draws itself in a file of its own, in the colours of
//! `crate::ui::theme`.

mod desk_view;
mod event_log;
mod execution;
mod footer;
mod form;
mod header;
mod help;
mod history;
mod leaderboard;
mod quote;
mod sparkline;
mod summary;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::output::group_thousands;
use crate::ui::state::{App, ConsoleState, Screen};
use crate::ui::theme::{self, Palette};
use desk_view::draw_desk_view;
use event_log::draw_log;
use footer::{draw_footer, draw_notice, pack};
use form::draw_form;
use header::draw_header;
use help::draw_help;
use leaderboard::{draw_leaderboard, leaderboard_min_width};
use quote::{assets, draw_quote_compact, draw_quote_panel, quote_panel_width};
use sparkline::draw_sparkline;
use summary::draw_summary;

pub(crate) use footer::QUIT_QUESTION;

/// The footer while the desk view is up.
const DESK_VIEW_KEYS: &str = " d/Esc back · Ctrl+C stop/quit · ? keys";

/// Wide enough for the client quote panel beside the leaderboard.
pub(super) const WIDE: u16 = 110;

/// The live stream screen (or the summary once the stream has ended),
/// filling the frame, footer included.
pub fn draw(frame: &mut Frame, state: &ConsoleState) {
    let [body, footer] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(frame.area());
    if state.ended.is_some() {
        draw_summary(frame, body, state);
        draw_footer(frame, footer, Screen::Summary, state.color);
    } else {
        draw_stream(frame, body, state);
        draw_footer(frame, footer, Screen::Stream, state.color);
    }
}

/// The whole console: the current screen, its footer, the help overlay.
pub fn draw_app(frame: &mut Frame, app: &App) {
    let width = frame.area().width;
    // The accept confirmation takes as many rows as it needs (up to three)
    // so that its end, the key that executes, is never cut.
    // On a two-way stream, after `a`, the question which side comes first.
    let confirmation = match app.screen {
        Screen::Stream => app
            .confirmation()
            .or_else(|| app.side_question())
            .map(|text| pack(&text, width)),
        _ => None,
    };
    let footer_rows = confirmation
        .as_ref()
        .map_or(1, |lines| lines.len().clamp(1, 3));
    let [body, footer] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(footer_rows as u16)])
            .areas(frame.area());
    if app.showing_desk {
        draw_desk_view(frame, body, &app.desk_view, Palette::new(app.color));
        draw_notice(
            frame,
            footer,
            &[DESK_VIEW_KEYS.to_string()],
            false,
            app.color,
        );
        if app.help {
            draw_help(frame, app);
        }
        return;
    }
    match app.screen {
        Screen::Form => draw_form(frame, body, app),
        Screen::Stream => draw_stream(frame, body, &app.stream),
        Screen::Summary => draw_summary(frame, body, &app.stream),
    }
    match (app.screen, confirmation, &app.stream_notice) {
        _ if app.quit_asked => {
            draw_notice(frame, footer, &[QUIT_QUESTION.to_string()], true, app.color)
        }
        (Screen::Stream, Some(confirm), _) => draw_notice(frame, footer, &confirm, true, app.color),
        (Screen::Stream, None, Some(notice)) => draw_notice(
            frame,
            footer,
            &[format!(" {notice} · a accept · q stop · ? keys")],
            false,
            app.color,
        ),
        _ => draw_footer(frame, footer, app.screen, app.color),
    }
    if app.help {
        draw_help(frame, app);
    }
}

/// Fewest rows the stream screen needs (footer apart): the header, the
/// three-line client quote, the leaderboard's heading and best row, and a
/// little of the event log.
const MIN_STREAM_HEIGHT: u16 = 18;

/// The smallest area (width, height) that shows the client price and the
/// best LP whole, for what is on the board now.
fn needed_area(state: &ConsoleState) -> (u16, u16) {
    let client_price = |view: &ConsoleState| {
        view.quote.as_ref().map_or(0, |live| {
            let (quote_asset, _) = assets(&live.quote);
            format!(
                "client {} {quote_asset}",
                group_thousands(live.quote.client_price)
            )
            .chars()
            .count() as u16
        })
    };
    let client_price = client_price(state).max(state.bid.as_deref().map_or(0, client_price));
    // Below WIDE the name column is at most 10 wide.
    let board = leaderboard_min_width(state, WIDE - 1, false);
    // Borders on both sides; a two-way stream's quotes take a line more.
    let height = MIN_STREAM_HEIGHT + u16::from(state.two_way());
    (client_price.max(board) + 2, height)
}

/// Instead of cutting the client price or the best LP: the terminal is
/// too small, and how large it must be.
fn draw_too_small(frame: &mut Frame, area: Rect, needed: (u16, u16), palette: Palette) {
    let text = format!(
        "Terminal too small ({}×{}) to show the client price and the best LP: \
         make it at least {}×{}.",
        area.width,
        area.height + 1,
        needed.0,
        needed.1 + 1
    );
    frame.render_widget(
        Paragraph::new(text)
            .style(palette.style(theme::TOO_SMALL))
            .wrap(ratatui::widgets::Wrap { trim: true }),
        area,
    );
}

/// The screen cannot show the client price and the best LP whole: says
/// so and returns true.
pub(super) fn refused_too_small(
    frame: &mut Frame,
    area: Rect,
    state: &ConsoleState,
    palette: Palette,
) -> bool {
    let needed = needed_area(state);
    if area.width >= needed.0 && area.height >= needed.1 {
        return false;
    }
    draw_too_small(frame, area, needed, palette);
    true
}

fn draw_stream(frame: &mut Frame, area: Rect, state: &ConsoleState) {
    let palette = Palette::new(state.color);
    if refused_too_small(frame, area, state, palette) {
        return;
    }
    // The client quote panel beside the board only when both fit whole:
    // the panel its longest line (the quote id), the board every column.
    let panel = quote_panel_width(state);
    let wide = area.width >= WIDE
        && area.width >= panel + leaderboard_min_width(state, area.width, false) + 2;
    let bottom = (area.height / 4).clamp(4, 12);
    let quote_height = match (wide, state.two_way()) {
        (true, _) => 0,
        // A line and its quote id per side.
        (false, true) => 6,
        (false, false) => 5,
    };
    let [header, quote, middle, lower] = Layout::vertical([
        Constraint::Length(5),
        Constraint::Length(quote_height),
        Constraint::Min(4),
        Constraint::Length(bottom),
    ])
    .areas(area);
    draw_header(frame, header, state, palette);
    let board = if wide {
        let [left, right] =
            Layout::horizontal([Constraint::Length(panel), Constraint::Fill(1)]).areas(middle);
        draw_quote_panel(frame, left, state, palette);
        right
    } else {
        draw_quote_compact(frame, quote, state, palette);
        middle
    };
    draw_leaderboard(frame, board, state, palette);
    let spark_width = if wide { 50 } else { 30 };
    let [log, spark] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(spark_width)]).areas(lower);
    draw_log(frame, log, state, palette);
    draw_sparkline(frame, spark, state, palette);
}
