//! The summary once a stream has ended: how it ended, the final quote or
//! the accepted one's outcome and ticket, the last board and the log.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::event_log::draw_log;
use super::execution::execution_lines;
use super::header::request_line;
use super::leaderboard::draw_leaderboard;
use super::refused_too_small;
use crate::market::Side;
use crate::output::{group_thousands, seconds};
use crate::rfq::event::Outcome;
use crate::ui::state::ConsoleState;
use crate::ui::theme::{self, Palette};
use crate::ui::words;

pub(super) fn draw_summary(frame: &mut Frame, area: Rect, state: &ConsoleState) {
    let palette = Palette::new(state.color);
    if refused_too_small(frame, area, state, palette) {
        return;
    }
    let ticket = execution_lines(state, palette);
    // A two-way stream not accepted ends with a final quote per side.
    let final_lines = match &state.ended {
        Some(ended) if ended.outcome == Outcome::NotAccepted && state.two_way() => 2,
        _ => 1,
    };
    let [top, board, lower] = Layout::vertical([
        Constraint::Length(5 + final_lines + ticket.len().min(12) as u16),
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
    let block = Block::bordered().title(Span::styled(title, palette.style(theme::TITLE)));
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
            let look = match ended.outcome {
                Outcome::Filled => theme::OUTCOME_FILLED,
                Outcome::Unknown => theme::OUTCOME_UNKNOWN,
                _ => theme::OUTCOME_NOT_FILLED,
            };
            lines.push(Line::from(vec![
                Span::raw(format!("client accepted {id}{price}: ")),
                Span::styled(words::outcome(ended.outcome), palette.style(look)),
            ]));
        }
        Some(ended) if state.two_way() => {
            for (side, name) in [(Side::Sell, "bid"), (Side::Buy, "offer")] {
                let view = state.side_view(side);
                lines.push(final_line(view, name, state.ended_at_ms, palette));
            }
            let both = [state.side_view(Side::Sell), state];
            lines.push(Line::from(format!(
                "{} · {} answers · {} errors",
                words::improvements_and_moves(
                    ended.improvements,
                    both.iter().map(|view| view.renewal_moves).sum()
                ),
                both.iter()
                    .flat_map(|view| &view.lps)
                    .map(|r| r.answers)
                    .sum::<u32>(),
                both.iter()
                    .flat_map(|view| &view.lps)
                    .map(|r| r.errors)
                    .sum::<u32>(),
            )));
        }
        Some(ended) => {
            match (&ended.lp, ended.client_price, &ended.quote_id) {
                (Some(lp), Some(price), Some(id)) => {
                    // How long the client may still be told this price
                    // holds (the LP stands behind it that long).
                    let validity = match state.validity_left_at_end() {
                        Some(0) | None => Span::styled(
                            " · expired at the end",
                            palette.style(theme::QUOTE_EXPIRED),
                        ),
                        Some(left) => Span::styled(
                            format!(" · valid {} more at the end", seconds(left)),
                            palette.style(theme::QUOTE_LIVE),
                        ),
                    };
                    lines.push(Line::from(vec![
                        Span::raw("final: "),
                        Span::styled(
                            format!(
                                "{lp}, client price {} {quote_asset}",
                                group_thousands(price)
                            ),
                            palette.style(theme::FINAL_PRICE),
                        ),
                        validity,
                        Span::raw(format!(" · quote {id}")),
                    ]))
                }
                _ => lines.push(Line::styled(
                    "no live quote at the end",
                    palette.style(theme::NO_FINAL_QUOTE),
                )),
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
        palette.style(theme::MUTED),
    ));
    frame.render_widget(Paragraph::new(lines).block(block), top);
    draw_leaderboard(frame, board, state, palette);
    draw_log(frame, lower, state, palette);
}

/// A two-way stream's final quote of one side (`name`): its LP, client
/// price, how long it was still valid at the end and its id.
fn final_line(
    view: &ConsoleState,
    name: &str,
    ended_at_ms: Option<crate::clock::StreamMs>,
    palette: Palette,
) -> Line<'static> {
    let Some(live) = &view.quote else {
        return Line::styled(
            format!("final {name}: none"),
            palette.style(theme::NO_FINAL_QUOTE),
        );
    };
    let quote = &live.quote;
    let left = ended_at_ms.and_then(|end| view.validity_left_at(end));
    let validity = match left {
        Some(0) | None => {
            Span::styled(" · expired at the end", palette.style(theme::QUOTE_EXPIRED))
        }
        Some(left) => Span::styled(
            format!(" · valid {} more at the end", seconds(left)),
            palette.style(theme::QUOTE_LIVE),
        ),
    };
    Line::from(vec![
        Span::raw(format!("final {name}: ")),
        Span::styled(
            format!(
                "{}, client price {} {}",
                quote.lp,
                group_thousands(quote.client_price),
                super::quote::assets(quote).0
            ),
            palette.style(theme::FINAL_PRICE),
        ),
        validity,
        Span::raw(format!(" · quote {}", quote.quote_id)),
    ])
}
