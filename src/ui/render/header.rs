//! The stream screen's header: the request, the stream's countdown, the
//! client quote's state (or its execution's), and the loud banners.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::quote::validity_span;
use crate::market::Side;
use crate::output::{group_thousands, seconds};
use crate::ui::state::{ConsoleState, Ticket};
use crate::ui::theme::{self, Palette};
use crate::ui::words;

/// "BUY 1.5 BTC/USDT · markup 5 bps · threshold 1 bps · 3 LPs", also the
/// summary's first line.
pub(super) fn request_line(state: &ConsoleState) -> String {
    let Some(request) = &state.request else {
        return "waiting for the stream to start".to_string();
    };
    let whose = request
        .named_client()
        .map(|client| format!(" for {client}"))
        .unwrap_or_default();
    // A quote-currency amount is said with its currency: the client pays
    // or receives exactly it.
    let fixed = match request.fixed {
        crate::market::Leg::Base => String::new(),
        crate::market::Leg::Quote => format!(" in {} (fixed)", request.pair.quote),
    };
    format!(
        "{} {} {}{fixed}{whose} · markup {} bps · threshold {} bps · {} LPs{}",
        request.side_label(),
        request.amount.normalize(),
        request.pair,
        request.markup_bps,
        request.threshold_bps,
        state.lps.len(),
        if request.simulated {
            " (SIMULATED)".to_string()
        } else if !request.simulated_lps.is_empty() {
            format!(" ({} simulated)", request.simulated_lps.len())
        } else {
            String::new()
        }
    )
}

pub(super) fn draw_header(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let block = Block::bordered().title(Span::styled(
        format!(" lp-rfq · RFQ {} ", state.rfq_id),
        palette.style(theme::TITLE),
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
            None => (
                "ACCEPTED: order in flight".to_string(),
                theme::ORDER_IN_FLIGHT,
            ),
            Some(Ticket::Filled(filled)) if filled.simulated => (
                format!("ACCEPTED: SIMULATED FILL by {}", filled.lp),
                theme::FILLED,
            ),
            Some(Ticket::Filled(filled)) => {
                (format!("ACCEPTED: FILLED by {}", filled.lp), theme::FILLED)
            }
            Some(Ticket::NotFilled(_)) => ("ACCEPTED: NOT FILLED".to_string(), theme::NOT_FILLED),
            Some(Ticket::Unknown(_)) => (
                "ACCEPTED: UNKNOWN outcome".to_string(),
                theme::UNKNOWN_OUTCOME,
            ),
        };
        vec![
            Span::raw("client quote "),
            Span::styled(text, palette.style(style)),
        ]
    } else if state.two_way() {
        two_way_validity(state, palette)
    } else {
        vec![
            Span::raw("client quote "),
            validity_span(state, "valid ", palette),
        ]
    };
    if let Some(request) = state.request.as_ref().filter(|r| !r.simulated) {
        if !request.simulated_lps.is_empty() {
            // First and loud: the operator allowed fake prices beside real ones.
            let names: Vec<&str> = request.simulated_lps.iter().map(|lp| &**lp).collect();
            spans.push(Span::raw("   "));
            spans.push(Span::styled(
                format!(" MIXED: SIMULATED LPs {} ", names.join(", ")),
                palette.style(theme::MIXED_BANNER),
            ));
        }
    }
    if state.blotter_error.is_some() {
        // Loud: a desk must know its record is incomplete.
        spans.push(Span::raw("   "));
        spans.push(Span::styled(
            " BLOTTER ERROR: this stream is not being recorded ",
            palette.style(theme::BLOTTER_ERROR),
        ));
    }
    if state.banner() {
        spans.push(Span::raw("   "));
        spans.push(Span::styled(
            " *** PRICE IMPROVEMENT *** ",
            palette.style(theme::IMPROVEMENT_BANNER),
        ));
    }
    if let Some(ended) = &state.ended {
        spans.push(Span::raw("   "));
        spans.push(Span::styled(
            format!("ENDED: {}", words::end_reason(ended.reason)),
            palette.style(theme::ENDED),
        ));
    } else if state.two_way() {
        // Each side's lock is on its line already.
    } else if let Some(lock) = &state.lock {
        spans.push(Span::raw(format!(
            "   locked {}, LP price {}",
            state.lps[lock.lp].name,
            group_thousands(lock.price)
        )));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), line3);
}

/// A two-way stream's quotes: "bid valid 6.1 s · offer valid 7.0 s",
/// each side's countdown in the colour of its state (their locks are on
/// the quote panel and the board, so the banners still fit 80 columns).
fn two_way_validity(state: &ConsoleState, palette: Palette) -> Vec<Span<'static>> {
    let mut spans = Vec::with_capacity(4);
    for (side, name) in [(Side::Sell, "bid "), (Side::Buy, " · offer ")] {
        let view = state.side_view(side);
        spans.push(Span::raw(name));
        spans.push(match view.validity() {
            None => Span::styled("none yet", palette.style(theme::MUTED)),
            Some(_) => validity_span(view, "valid ", palette),
        });
    }
    spans
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
        Span::styled("█".repeat(full), palette.style(theme::COUNTDOWN)),
        Span::styled("░".repeat(bar_width - full), palette.style(theme::MUTED)),
        Span::raw(label),
    ])
}
