//! The help overlay: every key on every screen, and where the logs go.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::state::App;
use crate::ui::theme::{self, Palette};

const HELP: [(&str, &str); 20] = [
    ("Form", ""),
    ("  Enter", "check the field, go to the next; on Pair: start"),
    ("", "(above the notional limit: type yes or the amount)"),
    ("  Tab / Shift+Tab", "next / previous field"),
    ("  F2", "next client (with a clients file)"),
    ("  Esc", "clear the form"),
    ("  q", "quit, only while nothing is typed by hand"),
    ("", "(once you type, q is a character; Esc then q)"),
    ("Stream", ""),
    ("  a", "accept (two-way: then b or s); confirm with Enter"),
    (
        "  r",
        "release an unverified price (two-way: b or s); Enter; recorded",
    ),
    ("", "(a renewed quote replaces the price: Enter takes it)"),
    ("  q / Ctrl+C", "stop early, show the summary"),
    ("  Esc", "stop early, back to the form"),
    ("Summary", ""),
    ("  Enter / n", "new request, previous values filled in"),
    ("  q / Ctrl+C", "quit (Ctrl+C also quits from the form)"),
    ("Desk view", ""),
    ("  d", "the desk's RFQs, clients, LPs (form: when blank)"),
    (
        "  ↑↓ p / K",
        "pause/resume the selected client; kill switch (y)",
    ),
];

pub(super) fn draw_help(frame: &mut Frame, app: &App) {
    let palette = Palette::new(app.color);
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
                Line::styled(*key, palette.style(theme::TITLE))
            } else {
                Line::from(vec![
                    Span::styled(format!("{key:<20}"), palette.style(theme::KEY)),
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
        palette.style(theme::MUTED),
    ));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(Span::styled(
            " Keys (any key closes) ",
            palette.style(theme::TITLE),
        ))),
        popup,
    );
}
