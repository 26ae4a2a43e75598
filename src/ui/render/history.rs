//! The session's history under the form: one row per finished RFQ,
//! newest first, with how its acceptance ended (filled, not filled,
//! unknown, or — when nothing was accepted). Every column fits 80 wide.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Cell, Row, Table};
use ratatui::Frame;

use crate::output::group_thousands;
use crate::rfq::event::{EndReason, Outcome};
use crate::ui::state::App;
use crate::ui::theme::{self, Palette};

pub(super) fn draw_history(frame: &mut Frame, area: Rect, app: &App, palette: Palette) {
    let block = Block::bordered().title(Span::styled(
        format!(" History · {} RFQs this session ", app.history.len()),
        palette.style(theme::TITLE),
    ));
    let header = Row::new([
        "time",
        "side",
        "amount",
        "pair",
        "final LP",
        "client price",
        "impr.",
        "outcome",
    ])
    .style(palette.style(theme::HEADING));
    let rows = app.history.iter().rev().map(|entry| {
        let price = match (entry.client_price, entry.reason) {
            (Some(price), _) => group_thousands(price),
            (None, EndReason::NoQuotes) => "no LP quotes".to_string(),
            (None, _) => "—".to_string(),
        };
        let (outcome, look) = match entry.outcome {
            Outcome::Filled => ("filled", theme::OUTCOME_FILLED),
            Outcome::NotFilled => ("not filled", theme::OUTCOME_NOT_FILLED),
            Outcome::Unknown => ("unknown", theme::OUTCOME_UNKNOWN),
            Outcome::NotAccepted => ("—", theme::MUTED),
        };
        Row::new([
            Cell::from(entry.time.clone()),
            Cell::from(if entry.two_way {
                "2W"
            } else {
                entry.spec.side.label()
            }),
            Cell::from(entry.spec.amount.normalize().to_string()),
            Cell::from(entry.spec.pair.to_string()),
            Cell::from(entry.final_lp.as_deref().unwrap_or("—").to_string()),
            Cell::from(price),
            Cell::from(entry.improvements.to_string()),
            Cell::from(Span::styled(outcome, palette.style(look))),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(12),
        Constraint::Length(10),
        Constraint::Length(9),
        Constraint::Length(13),
        Constraint::Length(5),
        Constraint::Length(10),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}
