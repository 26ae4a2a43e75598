//! The event log: the stream's latest events, newest at the bottom, each
//! in the colour of what it is about.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::ui::state::{ConsoleState, LogKind};
use crate::ui::theme::{self, Palette};

pub(super) fn draw_log(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let block = Block::bordered().title(Span::styled(" Events ", palette.style(theme::TITLE)));
    let shown = area.height.saturating_sub(2) as usize;
    let skip = state.log.len().saturating_sub(shown);
    let lines: Vec<Line> = state
        .log
        .iter()
        .skip(skip)
        .map(|line| {
            let look = match line.kind {
                LogKind::Info => theme::PLAIN,
                LogKind::Lock => theme::LOG_LOCK,
                LogKind::Improvement => theme::LOG_IMPROVEMENT,
                LogKind::Refresh => theme::LOG_REFRESH,
                LogKind::Error => theme::LOG_ERROR,
                LogKind::Expired => theme::LOG_EXPIRED,
                LogKind::End => theme::LOG_END,
            };
            let style = palette.style(look);
            Line::from(vec![
                Span::styled(
                    format!("{:>3}.{:03}s ", line.t_ms / 1000, line.t_ms % 1000),
                    palette.style(theme::MUTED),
                ),
                Span::styled(line.text.as_str(), style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
