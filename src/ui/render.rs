//! Pure drawing: view state in, a frame out. Nothing here changes state or
//! reads a clock; [`draw`] renders one stream's screen (the benchmark's
//! entry point) and [`draw_app`] the whole console.

use std::fmt::Write as _;

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Sparkline, Table};
use ratatui::Frame;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::market::Side;
use crate::output::{group_thousands, seconds};
use crate::rfq::event::{ClientQuote, EndReason, HealthState, Outcome};
use crate::ui::state::*;
use crate::ui::words;

/// Wide enough for the client quote panel beside the leaderboard.
const WIDE: u16 = 110;

/// Styles, with colours only when allowed (`NO_COLOR`).
#[derive(Clone, Copy)]
struct Palette {
    color: bool,
}

impl Palette {
    fn fg(self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }
    fn good(self) -> Style {
        self.fg(Color::Green)
    }
    fn warn(self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }
    fn bad(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }
    fn dim(self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }
    fn title(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }
    fn banner(self) -> Style {
        if self.color {
            Style::new()
                .fg(Color::Black)
                .bg(Color::Green)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
}

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
    let [body, footer] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(frame.area());
    match app.screen {
        Screen::Form => draw_form(frame, body, app),
        Screen::Stream => draw_stream(frame, body, &app.stream),
        Screen::Summary => draw_summary(frame, body, &app.stream),
    }
    match (app.screen, app.confirmation(), &app.stream_notice) {
        (Screen::Summary, ..) if app.quit_asked => {
            draw_notice(frame, footer, QUIT_QUESTION, true, app.color)
        }
        (Screen::Stream, Some(confirm), _) => draw_notice(frame, footer, &confirm, true, app.color),
        (Screen::Stream, None, Some(notice)) => draw_notice(
            frame,
            footer,
            &format!(" {notice} · a accept · q stop · ? keys"),
            false,
            app.color,
        ),
        _ => draw_footer(frame, footer, app.screen, app.color),
    }
    if app.help {
        draw_help(frame, app);
    }
}

/// The footer after `q` on the summary.
pub const QUIT_QUESTION: &str =
    " quit? the session's history is not saved: q again to quit, any other key to stay";

/// A footer that asks or tells something: the accept confirmation (loud)
/// or why a key did nothing.
fn draw_notice(frame: &mut Frame, area: Rect, text: &str, loud: bool, color: bool) {
    let style = match (loud, color) {
        (true, true) => Style::new()
            .fg(Color::Black)
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
        (false, true) => Style::new().fg(Color::Black).bg(Color::Gray),
        (_, false) => Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
    };
    frame.render_widget(Paragraph::new(text.to_string()).style(style), area);
}

fn draw_footer(frame: &mut Frame, area: Rect, screen: Screen, color: bool) {
    let keys = match screen {
        Screen::Form => {
            " Enter next/start · Tab/Shift+Tab field · Esc clear · q quit (empty form) · ? keys"
        }
        Screen::Stream => " a accept · q/Ctrl+C stop · Esc stop, back to form · ? keys",
        Screen::Summary => " Enter/n new request · Esc form · q quit · ? keys",
    };
    let style = if color {
        Style::new().fg(Color::Black).bg(Color::Gray)
    } else {
        Style::new().add_modifier(Modifier::REVERSED)
    };
    frame.render_widget(Paragraph::new(keys).style(style), area);
}

fn request_line(state: &ConsoleState) -> String {
    let Some(request) = &state.request else {
        return "waiting for the stream to start".to_string();
    };
    format!(
        "{} {} {} · markup {} bps · threshold {} bps · {} LPs{}",
        request.side.label(),
        request.amount.normalize(),
        request.pair,
        request.markup_bps,
        request.threshold_bps,
        state.lps.len(),
        if request.simulated {
            " (SIMULATED)"
        } else {
            ""
        }
    )
}

/// "{prefix}5.2 s" in the colour of its state: yellow in the last 3 s,
/// red "EXPIRED" once run out.
fn validity_span(state: &ConsoleState, prefix: &str, palette: Palette) -> Span<'static> {
    match state.validity() {
        None => Span::styled("no client quote yet", palette.dim()),
        Some(Validity::Live { remaining_ms }) => {
            Span::styled(format!("{prefix}{}", seconds(remaining_ms)), palette.good())
        }
        Some(Validity::Ending { remaining_ms }) => {
            Span::styled(format!("{prefix}{}", seconds(remaining_ms)), palette.warn())
        }
        Some(Validity::Expired) => Span::styled("EXPIRED", palette.bad()),
    }
}

/// Fewest rows the stream screen needs (footer apart): the header, the
/// two-line client quote, the leaderboard's heading and best row, and a
/// little of the event log.
const MIN_STREAM_HEIGHT: u16 = 17;

/// The smallest area (width, height) that shows the client price and the
/// best LP whole, for what is on the board now.
fn needed_area(state: &ConsoleState) -> (u16, u16) {
    let client_price = state.quote.as_ref().map_or(0, |live| {
        let (quote_asset, _) = assets(&live.quote);
        format!(
            "client {} {quote_asset}",
            group_thousands(live.quote.client_price)
        )
        .chars()
        .count() as u16
    });
    // Below WIDE the name column is at most 10 wide.
    let board = leaderboard_min_width(state, WIDE - 1, false);
    // Borders on both sides.
    (client_price.max(board) + 2, MIN_STREAM_HEIGHT)
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
            .style(palette.warn())
            .wrap(ratatui::widgets::Wrap { trim: true }),
        area,
    );
}

/// The screen cannot show the client price and the best LP whole: says
/// so and returns true.
fn refused_too_small(
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
    let palette = Palette { color: state.color };
    if refused_too_small(frame, area, state, palette) {
        return;
    }
    // The client quote panel beside the board only when both fit whole:
    // the panel its longest line (the quote id), the board every column.
    let panel = quote_panel_width(state);
    let wide = area.width >= WIDE
        && area.width >= panel + leaderboard_min_width(state, area.width, false) + 2;
    let bottom = (area.height / 4).clamp(4, 12);
    let quote_height = if wide { 0 } else { 4 };
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

fn draw_header(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let block = Block::bordered().title(Span::styled(
        format!(" lp-rfq · RFQ {} ", state.rfq_id),
        palette.title(),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [line1, line2, line3] = Layout::vertical([Constraint::Length(1); 3]).areas(inner);
    frame.render_widget(Paragraph::new(request_line(state)), line1);

    let duration = state.request.as_ref().map_or(0, |r| r.duration_ms);
    let left = state.stream_left_ms();
    frame.render_widget(
        Paragraph::new(countdown_bar(left, duration, line2.width, palette)),
        line2,
    );

    let mut spans = if state.execution.accepted() {
        // Accepted: its validity no longer matters, its execution does.
        let (text, style) = match &state.execution.ticket {
            None => ("ACCEPTED: order in flight".to_string(), palette.warn()),
            Some(Ticket::Filled(filled)) => {
                (format!("ACCEPTED: FILLED by {}", filled.lp), palette.good())
            }
            Some(Ticket::NotFilled(_)) => ("ACCEPTED: NOT FILLED".to_string(), palette.warn()),
            Some(Ticket::Unknown(_)) => ("ACCEPTED: UNKNOWN outcome".to_string(), palette.bad()),
        };
        vec![Span::raw("client quote "), Span::styled(text, style)]
    } else {
        vec![
            Span::raw("client quote "),
            validity_span(state, "valid ", palette),
        ]
    };
    if state.blotter_error.is_some() {
        // Loud: a desk must know its record is incomplete.
        spans.push(Span::raw("   "));
        spans.push(Span::styled(
            " BLOTTER ERROR: this stream is not being recorded ",
            palette
                .bad()
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    if state.banner() {
        spans.push(Span::raw("   "));
        spans.push(Span::styled(
            " *** PRICE IMPROVEMENT *** ",
            palette.banner(),
        ));
    }
    if let Some(ended) = &state.ended {
        spans.push(Span::raw("   "));
        spans.push(Span::styled(
            format!("ENDED: {}", words::end_reason(ended.reason)),
            palette.warn(),
        ));
    } else if let Some(lock) = &state.lock {
        spans.push(Span::raw(format!(
            "   locked {} at {}",
            state.lps[lock.lp].name,
            group_thousands(lock.price)
        )));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), line3);
}

/// "stream ████░░░░ 12.3 s left": the bar empties as the stream runs out
/// (block characters, so it reads without colour too).
fn countdown_bar(left: u64, duration: u64, width: u16, palette: Palette) -> Line<'static> {
    let label = format!(" {} left", seconds(left));
    let bar_width = (width as usize).saturating_sub(label.chars().count() + 8);
    let full = if duration == 0 {
        0
    } else {
        (left.min(duration) as u128 * bar_width as u128).div_ceil(duration as u128) as usize
    };
    Line::from(vec![
        Span::raw("stream "),
        Span::styled("█".repeat(full), palette.fg(Color::Cyan)),
        Span::styled("░".repeat(bar_width - full), palette.dim()),
        Span::raw(label),
    ])
}

/// The quote currency and base asset of a client quote, by side.
fn assets(quote: &ClientQuote) -> (String, String) {
    match quote.side {
        Side::Buy => (
            quote.pays_asset.to_string(),
            quote.receives_asset.to_string(),
        ),
        Side::Sell => (
            quote.receives_asset.to_string(),
            quote.pays_asset.to_string(),
        ),
    }
}

/// The client quote panel's frame; `None` (and "no client quote yet"
/// drawn) while there is no quote.
fn quote_block<'a>(
    frame: &mut Frame,
    area: Rect,
    state: &'a ConsoleState,
    palette: Palette,
) -> Option<(Block<'static>, &'a ClientQuote)> {
    let block = Block::bordered().title(Span::styled(" Client quote ", palette.title()));
    match &state.quote {
        Some(live) => Some((block, &live.quote)),
        None => {
            frame.render_widget(Paragraph::new("no client quote yet").block(block), area);
            None
        }
    }
}

/// The client price's style: crossed out once expired, in every layout,
/// so an expired price never looks live.
fn client_price_style(state: &ConsoleState, palette: Palette) -> Style {
    if state.validity() == Some(Validity::Expired) {
        palette.bad().add_modifier(Modifier::CROSSED_OUT)
    } else {
        Style::new().add_modifier(Modifier::BOLD)
    }
}

/// The execution of an accepted quote: each order, each reject with its
/// hold, the order in flight, then the trade ticket (FILLED, NOT FILLED
/// with why, or UNKNOWN in red). Empty until the client accepts.
fn execution_lines(state: &ConsoleState, palette: Palette) -> Vec<Line<'static>> {
    let execution = &state.execution;
    let mut lines = Vec::new();
    let quote_asset = state
        .request
        .as_ref()
        .map(|r| r.pair.quote.to_string())
        .unwrap_or_default();
    for (index, order) in execution.orders.iter().enumerate() {
        lines.push(Line::from(format!(
            "order {} → {} at {} {quote_asset}",
            order.attempt,
            order.lp,
            group_thousands(order.lp_price)
        )));
        if let Some(reject) = execution.rejects.get(index) {
            lines.push(Line::styled(
                format!(
                    "  rejected by {} after {} ms: {}",
                    reject.lp, reject.hold_ms, reject.reason
                ),
                palette.warn(),
            ));
        } else if execution.ticket.is_none() {
            lines.push(Line::styled(
                format!("  waiting for {} (last look)…", order.lp),
                palette.dim(),
            ));
        }
    }
    let label = |text: &'static str| Span::styled(format!("{text:<16}"), palette.dim());
    match &execution.ticket {
        None => {}
        Some(Ticket::Filled(filled)) => {
            lines.push(Line::styled(
                format!(" FILLED by {} ", filled.lp),
                palette.banner(),
            ));
            let (verb, base) = match state.request.as_ref() {
                Some(r) if r.side == Side::Sell => ("Client SELLS", r.pair.base.to_string()),
                Some(r) => ("Client BUYS", r.pair.base.to_string()),
                None => ("Client", String::new()),
            };
            lines.push(Line::from(vec![
                label(verb),
                Span::raw(format!("{} {base}", filled.amount)),
            ]));
            lines.push(Line::from(vec![
                label("LP price"),
                Span::raw(format!(
                    "{} {quote_asset}",
                    group_thousands(filled.lp_price)
                )),
            ]));
            lines.push(Line::from(vec![
                label("Client price"),
                Span::styled(
                    format!("{} {quote_asset}", group_thousands(filled.client_price)),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
            ]));
            lines.push(Line::from(vec![
                label("Client pays"),
                Span::raw(format!(
                    "{} {}",
                    group_thousands(filled.client_pays),
                    filled.pays_asset
                )),
            ]));
            lines.push(Line::from(vec![
                label("Client receives"),
                Span::raw(format!(
                    "{} {}",
                    group_thousands(filled.client_receives),
                    filled.receives_asset
                )),
            ]));
            lines.push(Line::from(vec![
                label("Desk P&L"),
                Span::styled(
                    format!("{} {}", group_thousands(filled.desk_pnl), filled.pnl_asset),
                    palette.good(),
                ),
            ]));
            lines.push(Line::from(vec![
                label("Last look"),
                Span::raw(format!("{} ms", filled.hold_ms)),
            ]));
        }
        Some(Ticket::NotFilled(not_filled)) => {
            lines.push(Line::styled(
                " NOT FILLED ",
                palette.warn().add_modifier(Modifier::BOLD),
            ));
            lines.push(Line::from(not_filled.reason.clone()));
        }
        Some(Ticket::Unknown(unknown)) => {
            lines.push(Line::styled(
                format!(" UNKNOWN: order {} with {} ", unknown.order_id, unknown.lp),
                palette
                    .bad()
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ));
            lines.push(Line::styled(
                format!(
                    "{}: resolve it with {} before trading again",
                    unknown.reason, unknown.lp
                ),
                palette.bad(),
            ));
        }
    }
    lines
}

fn draw_execution(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let title = match state.execution.orders.first() {
        Some(order) => format!(" Accepted {} ", order.quote_id),
        None => " Accepted ".to_string(),
    };
    let block = Block::bordered().title(Span::styled(title, palette.title()));
    let lines = execution_lines(state, palette);
    // The newest lines matter most when the panel is short.
    let inner_height = area.height.saturating_sub(2) as usize;
    let skip = lines.len().saturating_sub(inner_height);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(ratatui::widgets::Wrap { trim: false }),
        area,
    );
}

/// The side panel's width: 44, or more for a long quote id (its 16-column
/// label, the id, the borders).
fn quote_panel_width(state: &ConsoleState) -> u16 {
    let id = state
        .quote
        .as_ref()
        .map_or(0, |live| live.quote.quote_id.chars().count() as u16);
    (16 + id + 2).max(44)
}

fn draw_quote_panel(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    if state.execution.accepted() {
        return draw_execution(frame, area, state, palette);
    }
    let Some((block, quote)) = quote_block(frame, area, state, palette) else {
        return;
    };
    let (quote_asset, _) = assets(quote);
    let label = |text: &'static str| Span::styled(format!("{text:<16}"), palette.dim());
    let price_style = client_price_style(state, palette);
    let lines = vec![
        Line::from(vec![
            label("Quote ID"),
            Span::raw(quote.quote_id.to_string()),
        ]),
        Line::from(vec![label("LP source"), Span::raw(quote.lp.to_string())]),
        Line::from(vec![
            label("Client price"),
            Span::styled(
                format!("{} {quote_asset}", group_thousands(quote.client_price)),
                price_style,
            ),
        ]),
        Line::from(vec![
            label("LP price"),
            Span::raw(format!("{} {quote_asset}", group_thousands(quote.lp_price))),
        ]),
        Line::from(vec![
            label("Markup"),
            Span::raw(format!("{} bps", quote.markup_bps)),
        ]),
        Line::from(vec![
            label("Client pays"),
            Span::raw(format!(
                "{} {}",
                group_thousands(quote.client_pays),
                quote.pays_asset
            )),
        ]),
        Line::from(vec![
            label("Client receives"),
            Span::raw(format!(
                "{} {}",
                group_thousands(quote.client_receives),
                quote.receives_asset
            )),
        ]),
        Line::from(vec![label("Valid for"), validity_span(state, "", palette)]),
        Line::from(vec![
            label("Why"),
            Span::raw(words::quote_reason(quote.reason)),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_quote_compact(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    if state.execution.accepted() {
        return draw_execution(frame, area, state, palette);
    }
    let Some((block, quote)) = quote_block(frame, area, state, palette) else {
        return;
    };
    let (quote_asset, _) = assets(quote);
    // The client price first: on a narrow terminal it is the last thing
    // to be cut.
    let first = Line::from(vec![
        Span::raw("client "),
        Span::styled(
            group_thousands(quote.client_price),
            client_price_style(state, palette),
        ),
        Span::raw(format!(
            " {quote_asset} · {} at {} · +{} bps · {}",
            quote.lp,
            group_thousands(quote.lp_price),
            quote.markup_bps,
            quote.quote_id
        )),
    ]);
    let second = Line::from(vec![
        Span::raw(format!(
            "pays {} {} · receives {} {} · ",
            group_thousands(quote.client_pays),
            quote.pays_asset,
            group_thousands(quote.client_receives),
            quote.receives_asset
        )),
        validity_span(state, "valid ", palette),
    ]);
    frame.render_widget(Paragraph::new(vec![first, second]).block(block), area);
}

/// An LP's status cell text.
fn status_text(state: &ConsoleState, index: usize, out: &mut String) {
    out.clear();
    if state.lock.as_ref().is_some_and(|lock| lock.lp == index) {
        out.push_str("frozen");
        return;
    }
    match &state.lps[index].status {
        LpStatus::Waiting => out.push_str("waiting"),
        LpStatus::Ok => out.push_str("ok"),
        LpStatus::Failed { kind, reason } => {
            out.push_str(words::failure(*kind));
            if !reason.is_empty() && *kind != crate::rfq::event::FailureKind::Timeout {
                let _ = write!(out, ": {reason}");
            }
        }
    }
}

/// One leaderboard column: its heading, how wide it is and which way its
/// text leans. Numbers lean right so their digits line up. To add a
/// column, add it to [`leaderboard_columns`] and its cell to
/// [`leaderboard_row`], in the same place.
struct Column {
    heading: String,
    width: Constraint,
    align: Alignment,
}

impl Column {
    fn left(heading: impl Into<String>, width: u16) -> Column {
        Column {
            heading: heading.into(),
            width: Constraint::Length(width),
            align: Alignment::Left,
        }
    }

    fn right(heading: impl Into<String>, width: u16) -> Column {
        Column {
            heading: heading.into(),
            width: Constraint::Length(width),
            align: Alignment::Right,
        }
    }

    fn rest(heading: impl Into<String>) -> Column {
        Column {
            heading: heading.into(),
            width: Constraint::Fill(1),
            align: Alignment::Left,
        }
    }
}

/// Width of the price column: the widest price on the board, at least 12.
fn price_width(state: &ConsoleState) -> u16 {
    (0..state.lps.len())
        .filter_map(|index| state.shown_price(index))
        .map(|price| group_thousands(price).chars().count())
        .max()
        .unwrap_or(0)
        .max(12) as u16
}

/// As wide as the longest LP name, within what the terminal can spare.
fn name_width(state: &ConsoleState, area_width: u16) -> u16 {
    let longest = state
        .lps
        .iter()
        .map(|lp| lp.name.chars().count())
        .max()
        .unwrap_or(2);
    longest.clamp(2, if area_width >= WIDE { 16 } else { 10 }) as u16
}

/// The leaderboard's columns, left to right. `Δ bps` and `Δ <quote>` are
/// how much worse than the best this LP is, per unit in bps and for the
/// request's whole amount in the quote currency.
fn leaderboard_columns(state: &ConsoleState, area_width: u16, health: bool) -> Vec<Column> {
    let quote_asset = state
        .request
        .as_ref()
        .map(|r| r.pair.quote.to_string())
        .unwrap_or_default();
    let total = format!("Δ {quote_asset} total");
    let total_width = (total.chars().count() as u16).max(10);
    let mut columns = vec![
        Column::left("#", 3),
        Column::left("", 4),
        Column::left("LP", name_width(state, area_width)),
        Column::right("price", price_width(state)),
        Column::right("Δ bps", 6),
        Column::right(total, total_width),
        Column::right("lat", 6),
        Column::right("ans/err", 7),
    ];
    if health {
        columns.push(Column::left("health", HEALTH_WIDTH));
    }
    columns.push(Column::rest("status"));
    columns
}

/// The health column's width: "auth failed", "fading 40.0 %" whole.
const HEALTH_WIDTH: u16 = 13;

/// The status column's least width ("frozen", "ok", "waiting" whole).
const MIN_STATUS_WIDTH: u16 = 7;

/// The width the leaderboard needs inside its borders so that no column
/// is squeezed: below it ratatui shrinks every column, the LP's name and
/// price included.
fn leaderboard_min_width(state: &ConsoleState, area_width: u16, health: bool) -> u16 {
    let columns = leaderboard_columns(state, area_width, health);
    let fixed: u16 = columns
        .iter()
        .map(|column| match column.width {
            Constraint::Length(width) => width,
            _ => MIN_STATUS_WIDTH,
        })
        .sum();
    // ratatui's one-column gap between cells.
    fixed + columns.len() as u16 - 1
}

/// One LP's cells, in the order of [`leaderboard_columns`].
fn leaderboard_row(state: &ConsoleState, place: usize, index: usize, status: &str) -> [String; 9] {
    let row = &state.lps[index];
    let locked = state.lock.as_ref().is_some_and(|lock| lock.lp == index);
    let arrow = match row.movement {
        Movement::Up => "↑",
        Movement::Down => "↓",
        Movement::Same => " ",
    };
    let price = state.shown_price(index);
    let (bps, total) = match price.and_then(|p| state.distance(p)) {
        Some(_) if place == 0 => ("best".to_string(), String::new()),
        Some((bps, total)) => (format!("+{bps}"), format!("+{}", group_thousands(total))),
        None => (String::new(), String::new()),
    };
    let mut position = String::with_capacity(4);
    let _ = write!(position, "{:>2}{arrow}", place + 1);
    [
        position,
        if locked { "LOCK" } else { "" }.to_string(),
        row.name.to_string(),
        price.map_or_else(|| "—".to_string(), group_thousands),
        bps,
        total,
        row.latency_ms
            .map_or_else(String::new, |ms| format!("{ms}ms")),
        format!("{}/{}", row.answers, row.errors),
        status.to_string(),
    ]
}

/// An LP's health text: `ok`, `throttled`, `paused 2 s`, `down 12 s`
/// (counting down on the stream's clock), `fading 40.0 %`, `auth failed`,
/// with its style; `None` while it is plainly ok or not tracked.
fn health_text(state: &ConsoleState, index: usize, palette: Palette) -> Option<(String, Style)> {
    let (health, at) = state.lps[index].health.as_ref()?;
    let style = match health.state {
        HealthState::Ok if !health.fading => return None,
        HealthState::Throttled | HealthState::Probing => palette.dim(),
        _ => palette.bad(),
    };
    Some((health.label(state.now_ms.saturating_sub(*at)), style))
}

fn draw_leaderboard(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let side_text = match state.request.as_ref().map(|r| r.side) {
        Some(Side::Buy) => "BUY: lowest offer first",
        Some(Side::Sell) => "SELL: highest bid first",
        None => "",
    };
    let visible = area.height.saturating_sub(3) as usize;
    // Rows that do not fit are the worst-ranked; say how many there are.
    let hidden = state.ranking.len().saturating_sub(visible);
    let more = if hidden > 0 {
        format!("· {hidden} more below ")
    } else {
        String::new()
    };
    let block = Block::bordered().title(Span::styled(
        format!(" Leaderboard · {side_text} · poll {} {more}", state.poll),
        palette.title(),
    ));
    let flash = state.lock_flash();
    // The health column only when some LP's health is tracked (venues) and
    // the board has room for it: simulated casts keep their layout, and a
    // narrower board shows a health that is not ok in the status's place.
    let tracked = state.lps.iter().any(|row| row.health.is_some());
    let column =
        tracked && area.width.saturating_sub(2) >= leaderboard_min_width(state, area.width, true);
    let columns = leaderboard_columns(state, area.width, column);
    let mut status = String::new();
    let rows = state
        .ranking
        .iter()
        .take(visible)
        .enumerate()
        .map(|(place, &index)| {
            let row = &state.lps[index];
            let locked = state.lock.as_ref().is_some_and(|lock| lock.lp == index);
            status_text(state, index, &mut status);
            let mut status_style = match row.status {
                LpStatus::Failed { .. } if !locked => palette.bad(),
                LpStatus::Waiting => palette.dim(),
                _ => Style::new(),
            };
            if row.passed_over {
                status.push_str(" · passed over");
            }
            let health = health_text(state, index, palette);
            if let (Some((text, style)), false) = (&health, column) {
                status.clone_from(text);
                status_style = *style;
            }
            let style = if locked && flash {
                palette.banner()
            } else if locked {
                palette.good().add_modifier(Modifier::BOLD)
            } else if state.shown_price(index).is_none() {
                palette.dim()
            } else {
                Style::new()
            };
            let mut texts = leaderboard_row(state, place, index, &status).to_vec();
            let last = texts.len() - 1;
            // The health cell goes just before the status.
            let health_at = column.then_some(last);
            let (health_text, health_style) =
                health.unwrap_or_else(|| ("ok".to_string(), Style::new()));
            if let Some(at) = health_at {
                texts.insert(at, health_text);
            }
            let last = texts.len() - 1;
            let cells =
                texts
                    .into_iter()
                    .zip(&columns)
                    .enumerate()
                    .map(move |(at, (text, column))| {
                        let line = Line::from(text).alignment(column.align);
                        if at == last {
                            Cell::from(line.style(status_style))
                        } else if Some(at) == health_at {
                            Cell::from(line.style(health_style))
                        } else {
                            Cell::from(line)
                        }
                    });
            Row::new(cells).style(style)
        });
    let header = Row::new(
        columns
            .iter()
            .map(|column| Cell::from(Line::from(column.heading.clone()).alignment(column.align))),
    )
    .style(palette.dim().add_modifier(Modifier::BOLD));
    let widths: Vec<Constraint> = columns.iter().map(|column| column.width).collect();
    let table = Table::new(rows, widths).header(header).block(block);
    frame.render_widget(table, area);
}

fn draw_log(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let block = Block::bordered().title(Span::styled(" Events ", palette.title()));
    let shown = area.height.saturating_sub(2) as usize;
    let skip = state.log.len().saturating_sub(shown);
    let lines: Vec<Line> = state
        .log
        .iter()
        .skip(skip)
        .map(|line| {
            let style = match line.kind {
                LogKind::Info => Style::new(),
                LogKind::Lock => palette.good(),
                LogKind::Improvement => palette.good().add_modifier(Modifier::BOLD),
                LogKind::Refresh => palette.fg(Color::Cyan),
                LogKind::Error => palette.dim(),
                LogKind::Expired => palette.bad(),
                LogKind::End => palette.warn(),
            };
            Line::from(vec![
                Span::styled(
                    format!("{:>3}.{:03}s ", line.t_ms / 1000, line.t_ms % 1000),
                    palette.dim(),
                ),
                Span::styled(line.text.as_str(), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The best LP price over the stream, one column per slice of time up to
/// now; heights are the price scaled between the lowest and highest seen.
fn draw_sparkline(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let history = &state.best_history;
    let (mut low, mut high) = (None::<Decimal>, None::<Decimal>);
    for price in history.iter().flatten() {
        low = Some(low.map_or(*price, |l| l.min(*price)));
        high = Some(high.map_or(*price, |h| h.max(*price)));
    }
    let range = match (low, high) {
        (Some(low), Some(high)) => {
            format!(" {} – {} ", group_thousands(low), group_thousands(high))
        }
        _ => String::new(),
    };
    let block = Block::bordered()
        .title(Span::styled(" best LP price ", palette.title()))
        .title_bottom(Span::styled(range, palette.dim()));
    let width = block.inner(area).width as usize;
    let duration = state.request.as_ref().map_or(1, |r| r.duration_ms.max(1));
    let end_ms = state.ended_at_ms.unwrap_or(state.now_ms).min(duration);
    let buckets = HISTORY_BUCKETS as u64;
    let last_bucket = (end_ms * (buckets - 1) / duration) as usize;
    let mut data = Vec::with_capacity(width);
    if let (Some(low), Some(high), true) = (low, high, width > 0) {
        let span = high - low;
        let mut carried: Option<Decimal> = None;
        let mut bucket = 0usize;
        for column in 0..width {
            let until = (column + 1) * HISTORY_BUCKETS / width;
            while bucket < until.min(HISTORY_BUCKETS) && bucket <= last_bucket {
                if let Some(price) = history[bucket] {
                    carried = Some(price);
                }
                bucket += 1;
            }
            if bucket > last_bucket + 1 || (column * HISTORY_BUCKETS / width) > last_bucket {
                break;
            }
            let height = match carried {
                None => 0,
                Some(_) if span.is_zero() => 4,
                Some(price) => {
                    ((price - low) / span * Decimal::from(7))
                        .round()
                        .to_u64()
                        .unwrap_or(0)
                        + 1
                }
            };
            data.push(height);
        }
    }
    let sparkline = Sparkline::default()
        .block(block)
        .data(&data)
        .max(8)
        .style(palette.fg(Color::Cyan));
    frame.render_widget(sparkline, area);
}

fn draw_summary(frame: &mut Frame, area: Rect, state: &ConsoleState) {
    let palette = Palette { color: state.color };
    if refused_too_small(frame, area, state, palette) {
        return;
    }
    let ticket = execution_lines(state, palette);
    let [top, board, lower] = Layout::vertical([
        Constraint::Length(6 + ticket.len().min(12) as u16),
        Constraint::Min(4),
        Constraint::Length((area.height / 4).clamp(3, 10)),
    ])
    .areas(area);
    let reason = state.ended.as_ref().map(|e| e.reason);
    let title = match reason {
        Some(reason) => format!(
            " Stream ended: {} · RFQ {} ",
            words::end_reason(reason),
            state.rfq_id
        ),
        None => format!(" RFQ {} ", state.rfq_id),
    };
    let block = Block::bordered().title(Span::styled(title, palette.title()));
    let quote_asset = state
        .request
        .as_ref()
        .map(|r| r.pair.quote.to_string())
        .unwrap_or_default();
    let mut lines = vec![Line::from(request_line(state))];
    match state.ended.as_ref() {
        Some(ended) if ended.outcome != Outcome::NotAccepted => {
            let price = ended
                .client_price
                .map(|p| format!(" at {} {quote_asset}", group_thousands(p)))
                .unwrap_or_default();
            let id = ended.quote_id.as_deref().unwrap_or("-");
            let style = match ended.outcome {
                Outcome::Filled => palette.good(),
                Outcome::Unknown => palette.bad(),
                _ => palette.warn(),
            };
            lines.push(Line::from(vec![
                Span::raw(format!("client accepted {id}{price}: ")),
                Span::styled(
                    words::outcome(ended.outcome),
                    style.add_modifier(Modifier::BOLD),
                ),
            ]));
        }
        Some(ended) => {
            match (&ended.lp, ended.client_price, &ended.quote_id) {
                (Some(lp), Some(price), Some(id)) => {
                    // How long the client may still be told this price
                    // holds (the LP stands behind it that long).
                    let validity = match state.validity_left_at_end() {
                        Some(0) | None => Span::styled(" · expired at the end", palette.bad()),
                        Some(left) => Span::styled(
                            format!(" · valid {} more at the end", seconds(left)),
                            palette.good(),
                        ),
                    };
                    lines.push(Line::from(vec![
                        Span::raw("final: "),
                        Span::styled(
                            format!("{lp} at {} {quote_asset}", group_thousands(price)),
                            palette.good().add_modifier(Modifier::BOLD),
                        ),
                        validity,
                        Span::raw(format!(" · quote {id}")),
                    ]))
                }
                _ => lines.push(Line::styled("no live quote at the end", palette.warn())),
            }
            lines.push(Line::from(format!(
                "{} · {} answers · {} errors",
                words::improvements_and_moves(ended.improvements, state.renewal_moves),
                state.lps.iter().map(|r| r.answers).sum::<u32>(),
                state.lps.iter().map(|r| r.errors).sum::<u32>(),
            )));
        }
        None => lines.push(Line::from("running")),
    }
    lines.extend(ticket);
    lines.push(Line::styled(
        "Enter or n: new request with these values · q: quit",
        palette.dim(),
    ));
    frame.render_widget(Paragraph::new(lines).block(block), top);
    draw_leaderboard(frame, board, state, palette);
    draw_log(frame, lower, state, palette);
}

fn draw_form(frame: &mut Frame, area: Rect, app: &App) {
    let palette = Palette { color: app.color };
    // A blank line, pricing, LPs, and the quotable pairs (two lines: the
    // list wraps on a narrow terminal).
    let settings_lines = match &app.in_force {
        Some(in_force) if in_force.quotable.list().is_some() => 5,
        Some(_) => 3,
        None => 0,
    };
    let form_height = 10 + settings_lines + u16::from(app.notice.is_some());
    let [top, history] =
        Layout::vertical([Constraint::Length(form_height), Constraint::Fill(1)]).areas(area);
    let block = Block::bordered().title(Span::styled(
        " lp-rfq · new client request ",
        palette.title(),
    ));
    let inner = block.inner(top);
    frame.render_widget(block, top);
    let labels = [
        ("Side", "b/buy or s/sell"),
        ("Amount", "amount of the base asset, e.g. 1.5"),
        ("Pair", "e.g. BTCUSDT, BTC/USDT, btc-usdt"),
    ];
    let mut lines = Vec::with_capacity(8);
    let mut cursor = None;
    for (index, (label, hint)) in labels.iter().enumerate() {
        let field = &app.form.fields[index];
        let focused = app.form.focus == index;
        let marker = if focused { "› " } else { "  " };
        let label_style = if focused {
            palette.title()
        } else {
            Style::new()
        };
        let value_style = if field.prefilled {
            palette.dim()
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        };
        let mut spans = vec![
            Span::styled(format!("{marker}{label:<8}"), label_style),
            Span::styled(field.text.clone(), value_style),
        ];
        if focused {
            cursor = Some((
                inner.x + 10 + field.text.chars().count() as u16,
                inner.y + lines.len() as u16,
            ));
        }
        if field.text.is_empty() || field.prefilled {
            spans.push(Span::styled(format!("   {hint}"), palette.dim()));
        }
        lines.push(Line::from(spans));
        match &field.error {
            Some(error) => lines.push(Line::styled(format!("          {error}"), palette.bad())),
            None => lines.push(Line::raw("")),
        }
    }
    match &app.form.confirm {
        Some((_, why)) => lines.push(Line::styled(
            format!("{why} · Enter asks for quotes · Esc goes back"),
            palette.warn().add_modifier(Modifier::BOLD),
        )),
        None => lines.push(Line::styled(
            "Enter on the pair starts the stream · ? for keys",
            palette.dim(),
        )),
    }
    if let Some(notice) = &app.notice {
        lines.push(Line::styled(notice.clone(), palette.warn()));
    }
    if let Some(in_force) = &app.in_force {
        // What the next stream runs with, before it starts.
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled("In force  ", palette.dim()),
            Span::raw(in_force.pricing_line()),
        ]));
        let lps_style = if in_force.all_simulated() {
            palette.warn()
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::styled("          ", palette.dim()),
            Span::styled(in_force.lps_line(), lps_style),
        ]));
        if let Some(pairs) = in_force.quotable.list() {
            lines.push(Line::from(vec![
                Span::styled("Pairs     ", palette.dim()),
                Span::raw(pairs),
            ]));
        }
    }
    // Only the last lines (the pairs) are long enough to wrap, so the
    // fields' cursor positions above them stay put.
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        inner,
    );
    if let Some(position) = cursor {
        if !app.help {
            frame.set_cursor_position(position);
        }
    }
    draw_history(frame, history, app, palette);
}

fn draw_history(frame: &mut Frame, area: Rect, app: &App, palette: Palette) {
    let block = Block::bordered().title(Span::styled(
        format!(" History · {} RFQs this session ", app.history.len()),
        palette.title(),
    ));
    let header = Row::new([
        "time",
        "side",
        "amount",
        "pair",
        "final LP",
        "client price",
        "impr.",
    ])
    .style(palette.dim().add_modifier(Modifier::BOLD));
    let rows = app.history.iter().rev().map(|entry| {
        let price = match (entry.client_price, entry.reason) {
            (Some(price), _) => group_thousands(price),
            (None, EndReason::NoQuotes) => "no LP quotes".to_string(),
            (None, _) => "—".to_string(),
        };
        Row::new([
            entry.time.clone(),
            entry.spec.side.label().to_string(),
            entry.spec.amount.normalize().to_string(),
            entry.spec.pair.to_string(),
            entry.final_lp.as_deref().unwrap_or("—").to_string(),
            price,
            entry.improvements.to_string(),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(16),
        Constraint::Length(5),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

const HELP: [(&str, &str); 13] = [
    ("Form", ""),
    ("  Enter", "check the field, go to the next; on Pair: start"),
    ("  Tab / Shift+Tab", "next / previous field"),
    ("  Esc", "clear the form"),
    ("  q", "quit, only while nothing is typed by hand"),
    ("", "(once you type, q is a character; Esc then q)"),
    ("Stream", ""),
    ("  a", "accept the live quote (confirm with Enter)"),
    ("  q / Ctrl+C", "stop early, show the summary"),
    ("  Esc", "stop early, back to the form"),
    ("Summary", ""),
    ("  Enter / n", "new request, previous values filled in"),
    ("  q / Ctrl+C", "quit (Ctrl+C also quits from the form)"),
];

fn draw_help(frame: &mut Frame, app: &App) {
    let palette = Palette { color: app.color };
    let area = frame.area();
    let width = area.width.min(72);
    let height = area.height.min(HELP.len() as u16 + 5);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(key, what)| {
            if what.is_empty() {
                Line::styled(*key, palette.title())
            } else {
                Line::from(vec![
                    Span::styled(
                        format!("{key:<20}"),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(*what),
                ])
            }
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!(
            "logs: {}",
            app.log_path.as_deref().unwrap_or("stderr (hidden)")
        ),
        palette.dim(),
    ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered().title(Span::styled(" Keys (any key closes) ", palette.title())),
        ),
        popup,
    );
}
