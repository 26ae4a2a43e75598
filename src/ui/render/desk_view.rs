//! The desk view (`d`): every live RFQ on the desk with its operator (or,
//! for a client's own request, its channel: `ws API`, `FIX API`), client,
//! request, the LP behind the client price, time left, state and order
//! outcome, then the last few that ended; a two-way RFQ (`2W`) takes two
//! lines, its bid's LP and client price over its offer's; below them the desk's
//! clients (paused or quoted, the selected one marked) under the kill
//! switch's state, and every LP's health. Every column fits 80 wide;
//! from 110 columns they widen.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::WIDE;
use crate::lp::health::HealthState;
use crate::output::group_thousands;
use crate::rfq::client_id::Channel;
use crate::streams::{OrderState, RfqState};
use crate::ui::state::desk_view::{DeskViewState, Seen};
use crate::ui::theme::{self, Palette};

pub(super) fn draw_desk_view(
    frame: &mut Frame,
    area: Rect,
    view: &DeskViewState,
    palette: Palette,
) {
    // The LPs' table takes what it needs, up to half the screen; the
    // clients theirs (and a line for what the last pause did), up to a
    // quarter.
    let lp_rows = (view.lps.len().max(1) as u16 + 3).min(area.height / 2);
    let client_rows = (view.clients.len().max(1) as u16 + 3).min(area.height / 4);
    let [rfqs, clients, lps] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(client_rows),
        Constraint::Length(lp_rows),
    ])
    .areas(area);
    draw_rfqs(frame, rfqs, view, palette);
    draw_clients(frame, clients, view, palette);
    draw_lps(frame, lps, view, palette);
}

/// The clients and the kill switch: `p` pauses or resumes the selected
/// one (▸), `K` the kill switch.
fn draw_clients(frame: &mut Frame, area: Rect, view: &DeskViewState, palette: Palette) {
    let title = match &view.pauses.kill_switch {
        Some(on) => Span::styled(
            format!(
                " KILL SWITCH ON · every client paused · by {} at {} ",
                on.by, on.at
            ),
            palette.style(theme::KILL_SWITCH_ON),
        ),
        None => Span::styled(
            " Clients · kill switch off · ↑/↓ select · p pause/resume · K kill switch ",
            palette.style(theme::TITLE),
        ),
    };
    let block = Block::bordered().title(title);
    let rows: Vec<Row> = view
        .clients
        .iter()
        .enumerate()
        .map(|(at, client)| {
            let marker = if at == view.selected { "▸" } else { " " };
            let paused = view
                .pauses
                .paused
                .iter()
                .find(|paused| paused.client == *client);
            let state = match paused {
                Some(paused) => Span::styled(
                    format!("PAUSED by {} at {}", paused.mark.by, paused.mark.at),
                    palette.style(theme::CLIENT_PAUSED),
                ),
                None if view.pauses.kill_switch.is_some() => {
                    Span::styled("paused (kill switch)", palette.style(theme::CLIENT_PAUSED))
                }
                None => Span::styled("quoted", palette.style(theme::PLAIN)),
            };
            Row::new([
                Cell::from(marker),
                Cell::from(client.as_str().to_string()),
                Cell::from(state),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(1),
        Constraint::Length(12),
        Constraint::Fill(1),
    ];
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [list, said] = Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(inner);
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                " no clients file: every request is the house's",
                palette.style(theme::MUTED),
            )),
            list,
        );
    } else {
        frame.render_widget(Table::new(rows, widths), list);
    }
    if let Some(notice) = &view.notice {
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!(" {notice}"),
                palette.style(theme::KEY),
            )),
            said,
        );
    }
}

fn draw_rfqs(frame: &mut Frame, area: Rect, view: &DeskViewState, palette: Palette) {
    let wide = area.width >= WIDE;
    let block = Block::bordered().title(Span::styled(
        format!(
            " Desk · {} live RFQ{} ",
            view.live.len(),
            if view.live.len() == 1 { "" } else { "s" }
        ),
        palette.style(theme::TITLE),
    ));
    // Below WIDE the client price's column is headed `price`: no other
    // price is on this screen.
    let price_heading = if wide { "client price" } else { "price" };
    let header = Row::new([
        "operator",
        "client",
        "request",
        "LP",
        price_heading,
        "left",
        "state",
        "order",
    ])
    .style(palette.style(theme::HEADING));
    let live = view
        .live
        .iter()
        .map(|seen| rfq_row(view, seen, false, palette));
    let ended = view
        .ended
        .iter()
        .map(|seen| rfq_row(view, seen, true, palette));
    let mut rows: Vec<Row> = live.chain(ended).collect();
    if rows.is_empty() {
        rows.push(Row::new([Cell::from(Span::styled(
            "no live RFQ on the desk",
            palette.style(theme::MUTED),
        ))]));
    }
    let widths = if wide {
        [10, 10, 24, 12, 14, 7, 10, 10]
    } else {
        [8, 6, 16, 7, 11, 5, 9, 8]
    }
    .map(Constraint::Length);
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn rfq_row<'a>(view: &DeskViewState, seen: &'a Seen, ended: bool, palette: Palette) -> Row<'a> {
    let rfq = &seen.rfq;
    let side = if rfq.two_way { "2W" } else { rfq.side.label() };
    let request = format!("{side} {} {}", rfq.amount.normalize(), rfq.pair);
    let shown_price = |price: Option<rust_decimal::Decimal>| {
        price.map_or_else(|| "—".to_string(), group_thousands)
    };
    let shown_lp = |lp: &Option<std::sync::Arc<str>>| lp.as_deref().unwrap_or("—").to_string();
    // A two-way RFQ's bid over its offer, each LP marked with its side.
    let (lp, price, height) = if rfq.two_way {
        (
            Text::from(vec![
                Line::from(format!("bid {}", shown_lp(&rfq.bid_lp))),
                Line::from(format!("ofr {}", shown_lp(&rfq.lp))),
            ]),
            Text::from(vec![
                Line::from(shown_price(rfq.bid_price)),
                Line::from(shown_price(rfq.client_price)),
            ]),
            2,
        )
    } else {
        (
            Text::from(shown_lp(&rfq.lp)),
            Text::from(shown_price(rfq.client_price)),
            1,
        )
    };
    // A client's own request has no operator: the channel it came by.
    let asked_by = match (&rfq.operator, rfq.channel) {
        (Some(operator), _) => operator.to_string(),
        (None, Channel::Ws) => "ws API".to_string(),
        (None, Channel::Fix) => "FIX API".to_string(),
        (None, Channel::Operator) => "—".to_string(),
    };
    let left = if ended || rfq.state == RfqState::Ended {
        "—".to_string()
    } else {
        tenths(view.left_ms(seen))
    };
    let (order, order_look) = match rfq.order {
        None => ("—", theme::MUTED),
        Some(OrderState::Out) => ("out", theme::ORDER_IN_FLIGHT),
        Some(OrderState::Rejected) => ("rejected", theme::ORDER_REJECTED),
        Some(OrderState::Filled) => ("filled", theme::OUTCOME_FILLED),
        Some(OrderState::NotFilled) => ("not filled", theme::OUTCOME_NOT_FILLED),
        Some(OrderState::Unknown) => ("unknown", theme::OUTCOME_UNKNOWN),
    };
    let state_look = match rfq.state {
        RfqState::Quoting => theme::QUOTE_LIVE,
        RfqState::Expired => theme::QUOTE_EXPIRED,
        RfqState::Unverified => theme::QUOTE_ENDING,
        _ => theme::PLAIN,
    };
    let row = Row::new([
        Cell::from(asked_by),
        Cell::from(rfq.client.as_str().to_string()),
        Cell::from(request),
        Cell::from(lp),
        Cell::from(price),
        Cell::from(left),
        Cell::from(Span::styled(rfq.state.as_str(), palette.style(state_look))),
        Cell::from(Span::styled(order, palette.style(order_look))),
    ])
    .height(height);
    if ended {
        row.style(palette.style(theme::MUTED))
    } else {
        row
    }
}

/// `1234` ms as `1.2s`.
fn tenths(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, ms % 1000 / 100)
}

fn draw_lps(frame: &mut Frame, area: Rect, view: &DeskViewState, palette: Palette) {
    let block = Block::bordered().title(Span::styled(
        format!(" LP health · {} LPs ", view.lps.len()),
        palette.style(theme::TITLE),
    ));
    let header = Row::new(["LP", "health", "retry in", "rejects", "why"])
        .style(palette.style(theme::HEADING));
    let rows = view.lps.iter().map(|lp| {
        let (state, look) = match lp.state {
            // The desk keeps no health of a simulation.
            None => ("—", theme::MUTED),
            Some(state @ (HealthState::Ok | HealthState::Fading)) => (state.as_str(), theme::PLAIN),
            Some(state @ (HealthState::Throttled | HealthState::Probing)) => {
                (state.as_str(), theme::HEALTH_HELD_BACK)
            }
            Some(state) => (state.as_str(), theme::HEALTH_TROUBLE),
        };
        Row::new([
            Cell::from(lp.lp.to_string()),
            Cell::from(Span::styled(state, palette.style(look))),
            Cell::from(lp.retry_in_ms.map(tenths).unwrap_or_default()),
            Cell::from(
                lp.reject_rate
                    .map(|rate| format!("{}%", rate.normalize()))
                    .unwrap_or_default(),
            ),
            Cell::from(lp.reason.as_deref().unwrap_or("").to_string()),
        ])
        .style(Style::default())
    });
    let widths = [
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
