//! The bottom line: the screen's keys, or a question to answer, or why a
//! key did nothing.

use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::state::Screen;
use crate::ui::theme::{self, Palette};

/// The footer after `q` on the summary.
pub const QUIT_QUESTION: &str =
    " quit? the session's history is not saved: q again to quit, any other key to stay";

/// A footer that asks or tells something: the accept confirmation (loud)
/// or why a key did nothing.
pub(super) fn draw_notice(frame: &mut Frame, area: Rect, text: &str, loud: bool, color: bool) {
    let look = if loud {
        theme::QUESTION_BAR
    } else {
        theme::NOTICE_BAR
    };
    let style = Palette::new(color).style(look);
    frame.render_widget(Paragraph::new(text.to_string()).style(style), area);
}

pub(super) fn draw_footer(frame: &mut Frame, area: Rect, screen: Screen, color: bool) {
    let keys = match screen {
        Screen::Form => {
            " Enter next/start · Tab/Shift+Tab field · Esc clear · q quit (empty form) · ? keys"
        }
        Screen::Stream => " a accept · q/Ctrl+C stop · Esc stop, back to form · ? keys",
        Screen::Summary => " Enter/n new request · Esc form · q quit · ? keys",
    };
    let style = Palette::new(color).style(theme::KEYS_BAR);
    frame.render_widget(Paragraph::new(keys).style(style), area);
}
