//! The session's history under the form: one row per finished RFQ,
//! newest first.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Row, Table};
use ratatui::Frame;

use crate::output::group_thousands;
use crate::rfq::event::EndReason;
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
    ])
    .style(palette.style(theme::HEADING));
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
