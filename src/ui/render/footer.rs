//! The bottom line: the screen's keys, or a question to answer, or why a
//! key did nothing.

use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::state::Screen;
use crate::ui::theme::{self, Palette};

/// The footer after `q` on the summary (or on a prefilled form) while the
/// session has a history.
pub(crate) const QUIT_QUESTION: &str =
    " quit? this session's history is not saved: q again quits, other keys stay";

/// A footer that asks or tells something: the accept confirmation (loud)
/// or why a key did nothing; one line of [`pack`] per row.
pub(super) fn draw_notice(
    frame: &mut Frame,
    area: Rect,
    lines: &[String],
    loud: bool,
    color: bool,
) {
    let look = if loud {
        theme::QUESTION_BAR
    } else {
        theme::NOTICE_BAR
    };
    let style = Palette::new(color).style(look);
    let text: Vec<Line> = lines.iter().map(|line| Line::raw(line.clone())).collect();
    frame.render_widget(Paragraph::new(text).style(style), area);
}

/// `text`'s ` · `-separated parts in lines of at most `width` columns,
/// each part whole where it fits, so a long question (the accept
/// confirmation) wraps onto more rows instead of losing its end.
pub(super) fn pack(text: &str, width: u16) -> Vec<String> {
    let width = usize::from(width.max(1));
    let mut lines: Vec<String> = Vec::new();
    for part in text.trim_start().split(" · ") {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 3 + part.chars().count() <= width => {
                line.push_str(" · ");
                line.push_str(part);
            }
            _ => lines.push(format!(" {part}")),
        }
    }
    lines
}

pub(super) fn draw_footer(frame: &mut Frame, area: Rect, screen: Screen, color: bool) {
    let keys = match screen {
        Screen::Form => {
            " Enter next/start · Tab field · Esc clear · q quit, d desk (empty form) · ? keys"
        }
        Screen::Stream => {
            " a accept · q/Ctrl+C stop · Esc stop, back to form · r release · d desk · ? keys"
        }
        Screen::Summary => " Enter/n new request · Esc form · q quit · d desk · ? keys",
    };
    let style = Palette::new(color).style(theme::KEYS_BAR);
    frame.render_widget(Paragraph::new(keys).style(style), area);
}
