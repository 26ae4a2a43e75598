//! The best LP price over the stream as a sparkline, with the range it
//! spans.

use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::{Block, Sparkline};
use ratatui::Frame;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use crate::output::group_thousands;
use crate::ui::state::{ConsoleState, HISTORY_BUCKETS};
use crate::ui::theme::{self, Palette};

/// The best LP price over the stream, one column per slice of time up to
/// now; heights are the price scaled between the lowest and highest seen.
pub(super) fn draw_sparkline(
    frame: &mut Frame,
    area: Rect,
    state: &ConsoleState,
    palette: Palette,
) {
    let history = &state.best_history;
    let (mut low, mut high) = (None::<Decimal>, None::<Decimal>);
    for price in history.iter().flatten() {
        low = Some(low.map_or(*price, |l| l.min(*price)));
        high = Some(high.map_or(*price, |h| h.max(*price)));
    }
    let range = match (low, high) {
        (Some(low), Some(high)) => {
            format!(" {} – {} ", group_thousands(low), group_thousands(high))
        }
        _ => String::new(),
    };
    let block = Block::bordered()
        .title(Span::styled(
            // A two-way stream's line is its offer's.
            if state.two_way() {
                " best LP offer "
            } else {
                " best LP price "
            },
            palette.style(theme::TITLE),
        ))
        .title_bottom(Span::styled(range, palette.style(theme::MUTED)));
    let width = block.inner(area).width as usize;
    let duration = state.request.as_ref().map_or(1, |r| r.duration_ms.max(1));
    let end_ms = state.ended_at_ms.unwrap_or(state.now_ms).min(duration);
    let buckets = HISTORY_BUCKETS as u64;
    let last_bucket = (end_ms * (buckets - 1) / duration) as usize;
    let mut data = Vec::with_capacity(width);
    if let (Some(low), Some(high), true) = (low, high, width > 0) {
        let span = high - low;
        let mut carried: Option<Decimal> = None;
        let mut bucket = 0usize;
        for column in 0..width {
            let until = (column + 1) * HISTORY_BUCKETS / width;
            while bucket < until.min(HISTORY_BUCKETS) && bucket <= last_bucket {
                if let Some(price) = history[bucket] {
                    carried = Some(price);
                }
                bucket += 1;
            }
            if bucket > last_bucket + 1 || (column * HISTORY_BUCKETS / width) > last_bucket {
                break;
            }
            let height = match carried {
                None => 0,
                Some(_) if span.is_zero() => 4,
                Some(price) => {
                    ((price - low) / span * Decimal::from(7))
                        .round()
                        .to_u64()
                        .unwrap_or(0)
                        + 1
                }
            };
            data.push(height);
        }
    }
    let sparkline = Sparkline::default()
        .block(block)
        .data(&data)
        .max(8)
        .style(palette.style(theme::SPARKLINE));
    frame.render_widget(sparkline, area);
}
