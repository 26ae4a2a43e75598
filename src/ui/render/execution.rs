//! An accepted quote's execution: its orders, last-look rejects and the
//! trade ticket, in the client quote's place and on the summary.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::market::Side;
use crate::output::group_thousands;
use crate::ui::state::{ConsoleState, Ticket};
use crate::ui::theme::{self, Palette};

/// The execution of an accepted quote: each order, each reject with its
/// hold, the order in flight, then the trade ticket (FILLED, NOT FILLED
/// with why, or UNKNOWN in red). Empty until the client accepts.
pub(super) fn execution_lines(state: &ConsoleState, palette: Palette) -> Vec<Line<'static>> {
    let execution = &state.execution;
    let mut lines = Vec::new();
    let quote_asset = state
        .request
        .as_ref()
        .map(|r| r.pair.quote.to_string())
        .unwrap_or_default();
    for (index, order) in execution.orders.iter().enumerate() {
        lines.push(Line::from(format!(
            "order {} → {}, LP price {} {quote_asset}",
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
                palette.style(theme::ORDER_REJECTED),
            ));
        } else if execution.ticket.is_none() {
            lines.push(Line::styled(
                format!("  waiting for {} (last look)…", order.lp),
                palette.style(theme::MUTED),
            ));
        }
    }
    let label =
        |text: &'static str| Span::styled(format!("{text:<16}"), palette.style(theme::LABEL));
    match &execution.ticket {
        None => {}
        Some(Ticket::Filled(filled)) => {
            lines.push(Line::styled(
                if filled.simulated {
                    format!(" SIMULATED FILL by {}: nothing real traded ", filled.lp)
                } else {
                    format!(" FILLED by {} ", filled.lp)
                },
                palette.style(theme::FILLED_BANNER),
            ));
            // A two-way stream's ticket is the side the client took.
            let side = execution.side.or(state.request.as_ref().map(|r| r.side));
            let (verb, base) = match state.request.as_ref() {
                Some(r) if side == Some(Side::Sell) => ("Client SELLS", r.pair.base.to_string()),
                Some(r) => ("Client BUYS", r.pair.base.to_string()),
                None => ("Client", String::new()),
            };
            if let Some(client) = state.request.as_ref().and_then(|r| r.named_client()) {
                lines.push(Line::from(vec![
                    label("Client"),
                    Span::raw(client.to_string()),
                ]));
            }
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
                    palette.style(theme::CLIENT_PRICE),
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
                    palette.style(theme::DESK_PNL),
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
                palette.style(theme::NOT_FILLED_BANNER),
            ));
            lines.push(Line::from(not_filled.reason.clone()));
        }
        Some(Ticket::Unknown(unknown)) => {
            lines.push(Line::styled(
                format!(" UNKNOWN: order {} with {} ", unknown.order_id, unknown.lp),
                palette.style(theme::UNKNOWN_BANNER),
            ));
            lines.push(Line::styled(
                format!(
                    "{}: resolve it with {} before trading again",
                    unknown.reason, unknown.lp
                ),
                palette.style(theme::UNKNOWN_OUTCOME),
            ));
        }
    }
    lines
}

pub(super) fn draw_execution(
    frame: &mut Frame,
    area: Rect,
    state: &ConsoleState,
    palette: Palette,
) {
    // A named client's ticket says whose it is where it is never cut: the
    // panel's title.
    let whose = state
        .request
        .as_ref()
        .and_then(|r| r.named_client())
        .map(|client| format!("· {client} "))
        .unwrap_or_default();
    // So is the leg a quote-currency request fixed: the client pays or
    // receives exactly that amount.
    let whose = match state.request.as_ref() {
        Some(r) if r.fixed == crate::market::Leg::Quote => {
            format!("{whose}· {} fixed ", r.pair.quote)
        }
        _ => whose,
    };
    let title = match state.execution.orders.first() {
        Some(order) => format!(" Accepted {} {whose}", order.quote_id),
        None => format!(" Accepted {whose}"),
    };
    let block = Block::bordered().title(Span::styled(title, palette.style(theme::TITLE)));
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
