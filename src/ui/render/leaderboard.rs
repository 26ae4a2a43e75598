//! The leaderboard: every LP ranked best first for the side, the lock
//! marked, how far each is from the best, its latency, answers, errors,
//! health and status. A two-way stream's board has a row per LP with its
//! bid and its offer side by side, each side's lock marked.

use std::fmt::Write as _;

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;

use super::WIDE;
use crate::market::Side;
use crate::output::group_thousands;
use crate::rfq::event::HealthState;
use crate::ui::state::{ConsoleState, LpStatus, Movement};
use crate::ui::theme::{self, Palette};
use crate::ui::words;

/// An LP's status cell text.
fn status_text(state: &ConsoleState, index: usize, out: &mut String) {
    out.clear();
    if state.lock.as_ref().is_some_and(|lock| lock.lp == index) {
        out.push_str("frozen");
        return;
    }
    answer_text(state, index, out);
}

/// How an LP's latest request went, whatever the lock.
fn answer_text(state: &ConsoleState, index: usize, out: &mut String) {
    match &state.lps[index].status {
        LpStatus::Waiting => out.push_str("waiting"),
        LpStatus::Ok => out.push_str("ok"),
        LpStatus::Unverified => out.push_str("unverified"),
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
pub(super) fn leaderboard_min_width(state: &ConsoleState, area_width: u16, health: bool) -> u16 {
    let columns = match &state.bid {
        Some(bid) => two_way_columns(state, bid, area_width),
        None => leaderboard_columns(state, area_width, health),
    };
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
        HealthState::Throttled | HealthState::Probing => palette.style(theme::HEALTH_HELD_BACK),
        _ => palette.style(theme::HEALTH_TROUBLE),
    };
    Some((health.label(state.now_ms.saturating_sub(*at)), style))
}

pub(super) fn draw_leaderboard(
    frame: &mut Frame,
    area: Rect,
    state: &ConsoleState,
    palette: Palette,
) {
    if let Some(bid) = &state.bid {
        return draw_two_way_board(frame, area, state, bid, palette);
    }
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
        palette.style(theme::TITLE),
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
                LpStatus::Failed { .. } if !locked => palette.style(theme::LP_FAILED),
                LpStatus::Waiting | LpStatus::Unverified => palette.style(theme::LP_WAITING),
                _ => palette.style(theme::PLAIN),
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
                palette.style(theme::LOCK_FLASH)
            } else if locked {
                palette.style(theme::LOCKED)
            } else if state.shown_price(index).is_none() {
                palette.style(theme::NO_PRICE)
            } else {
                palette.style(theme::PLAIN)
            };
            let mut texts = leaderboard_row(state, place, index, &status).to_vec();
            let last = texts.len() - 1;
            // The health cell goes just before the status.
            let health_at = column.then_some(last);
            let (health_text, health_style) =
                health.unwrap_or_else(|| ("ok".to_string(), palette.style(theme::PLAIN)));
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
    .style(palette.style(theme::HEADING));
    let widths: Vec<Constraint> = columns.iter().map(|column| column.width).collect();
    let table = Table::new(rows, widths).header(header).block(block);
    frame.render_widget(table, area);
}

/// A two-way board's columns: the LP, then per side (the bid first) the
/// lock mark, the price and how much worse than that side's best it is in
/// bps; the slower side's last latency; answers/errors of both sides on a
/// wide terminal; the status.
fn two_way_columns(offer: &ConsoleState, bid: &ConsoleState, area_width: u16) -> Vec<Column> {
    let price = price_width(offer).max(price_width(bid));
    let mut columns = vec![
        Column::left("LP", name_width(offer, area_width)),
        Column::left("", 4),
        Column::right("bid", price),
        Column::right("Δ bps", 6),
        Column::left("", 4),
        Column::right("offer", price),
        Column::right("Δ bps", 6),
        Column::right("lat", 6),
    ];
    if area_width >= WIDE {
        columns.push(Column::right("ans/err", 7));
    }
    columns.push(Column::rest("status"));
    columns
}

/// One side's cells of LP `index`: the lock mark, the price it is shown
/// at (its frozen lock price when locked), and `best` or how much worse
/// than the side's best it is.
fn side_cells(view: &ConsoleState, index: usize) -> [String; 3] {
    let locked = view.lock.as_ref().is_some_and(|lock| lock.lp == index);
    let price = view.shown_price(index);
    let distance = match price.and_then(|p| view.distance(p)) {
        Some(_) if view.position(index) == 0 => "best".to_string(),
        Some((bps, _)) => format!("+{bps}"),
        None => String::new(),
    };
    [
        if locked { "LOCK" } else { "" }.to_string(),
        price.map_or_else(|| "—".to_string(), group_thousands),
        distance,
    ]
}

/// The status of LP `index` on both sides: one word when they agree,
/// `bid … · offer …` when they do not; a health that is not ok in its
/// place.
fn two_way_status(
    offer: &ConsoleState,
    bid: &ConsoleState,
    index: usize,
    palette: Palette,
) -> (String, Style) {
    if let Some(health) = health_text(offer, index, palette) {
        return health;
    }
    // The lock is its own column: the status is of the latest answer.
    let status = |view: &ConsoleState| {
        let mut text = String::new();
        answer_text(view, index, &mut text);
        text
    };
    let (of_bid, of_offer) = (status(bid), status(offer));
    let failed = |view: &ConsoleState| matches!(view.lps[index].status, LpStatus::Failed { .. });
    let style = if failed(bid) || failed(offer) {
        palette.style(theme::LP_FAILED)
    } else {
        palette.style(theme::PLAIN)
    };
    let mut text = if of_bid == of_offer {
        of_bid
    } else {
        format!("bid {of_bid} · offer {of_offer}")
    };
    if bid.lps[index].passed_over || offer.lps[index].passed_over {
        text.push_str(" · passed over");
    }
    (text, style)
}

/// The order of a two-way board's rows: the best of either side first
/// (an LP by the better of its two places), so that both sides' best and
/// locked LPs are on screen however many LPs there are.
fn two_way_order(offer: &ConsoleState, bid: &ConsoleState) -> Vec<usize> {
    let mut order: Vec<usize> = (0..offer.lps.len()).collect();
    let place = |index: usize| {
        let (on_bid, on_offer) = (bid.position(index), offer.position(index));
        (on_bid.min(on_offer), on_offer, index)
    };
    order.sort_by_key(|&index| place(index));
    order
}

fn draw_two_way_board(
    frame: &mut Frame,
    area: Rect,
    offer: &ConsoleState,
    bid: &ConsoleState,
    palette: Palette,
) {
    let visible = area.height.saturating_sub(3) as usize;
    let order = two_way_order(offer, bid);
    let hidden = order.len().saturating_sub(visible);
    let more = if hidden > 0 {
        format!("· {hidden} more below ")
    } else {
        String::new()
    };
    let block = Block::bordered().title(Span::styled(
        format!(
            " Leaderboard · TWO-WAY: highest bid, lowest offer · poll {} {more}",
            offer.polls()
        ),
        palette.style(theme::TITLE),
    ));
    let columns = two_way_columns(offer, bid, area.width);
    let answers = area.width >= WIDE;
    let rows = order.into_iter().take(visible).map(|index| {
        let locked_on =
            |view: &ConsoleState| view.lock.as_ref().is_some_and(|lock| lock.lp == index);
        let flashing = |view: &ConsoleState| locked_on(view) && view.lock_flash();
        let style = if flashing(bid) || flashing(offer) {
            palette.style(theme::LOCK_FLASH)
        } else if locked_on(bid) || locked_on(offer) {
            palette.style(theme::LOCKED)
        } else if bid.shown_price(index).is_none() && offer.shown_price(index).is_none() {
            palette.style(theme::NO_PRICE)
        } else {
            palette.style(theme::PLAIN)
        };
        let (status, status_style) = two_way_status(offer, bid, index, palette);
        let latency = [bid, offer]
            .iter()
            .filter_map(|view| view.lps[index].latency_ms)
            .max();
        let mut texts = vec![offer.lps[index].name.to_string()];
        texts.extend(side_cells(bid, index));
        texts.extend(side_cells(offer, index));
        texts.push(latency.map_or_else(String::new, |ms| format!("{ms}ms")));
        if answers {
            let (bid_row, offer_row) = (&bid.lps[index], &offer.lps[index]);
            texts.push(format!(
                "{}/{}",
                bid_row.answers + offer_row.answers,
                bid_row.errors + offer_row.errors
            ));
        }
        texts.push(status);
        let last = texts.len() - 1;
        let cells = texts
            .into_iter()
            .zip(&columns)
            .enumerate()
            .map(move |(at, (text, column))| {
                let line = Line::from(text).alignment(column.align);
                if at == last {
                    Cell::from(line.style(status_style))
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
    .style(palette.style(theme::HEADING));
    let widths: Vec<Constraint> = columns.iter().map(|column| column.width).collect();
    let table = Table::new(rows, widths).header(header).block(block);
    frame.render_widget(table, area);
}
