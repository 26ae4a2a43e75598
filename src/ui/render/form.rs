//! The new-request form: the three fields with their hints and errors,
//! the settings in force for the next stream, and the session's history
//! below.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::history::draw_history;
use crate::ui::state::App;
use crate::ui::theme::{self, Palette};

pub(super) fn draw_form(frame: &mut Frame, area: Rect, app: &App) {
    let palette = Palette::new(app.color);
    // A blank line, pricing, LPs, and the quotable pairs (two lines: the
    // list wraps on a narrow terminal).
    let settings_lines = match &app.in_force {
        Some(in_force) if in_force.quotable.list().is_some() => 5,
        Some(_) => 3,
        None => 0,
    };
    // A fat-finger confirmation takes the question line and, once an
    // answer is refused, a line saying why.
    let confirm_lines = app
        .form
        .confirm
        .as_ref()
        .map_or(0, |confirm| 1 + u16::from(confirm.refused.is_some()));
    let form_height = 10
        + settings_lines
        + confirm_lines
        + u16::from(app.notice.is_some())
        + u16::from(app.form.clients.is_some());
    let [top, history] =
        Layout::vertical([Constraint::Length(form_height), Constraint::Fill(1)]).areas(area);
    let block = Block::bordered().title(Span::styled(
        " lp-rfq · new client request ",
        palette.style(theme::TITLE),
    ));
    let inner = block.inner(top);
    frame.render_widget(block, top);
    let labels = [
        ("Side", "b/buy, s/sell or 2w/two-way (a bid and an offer)"),
        ("Amount", "of the base, e.g. 1.5, or 1000000 USDT"),
        ("Pair", "e.g. BTCUSDT, BTC/USDT, btc-usdt"),
    ];
    let mut lines = Vec::with_capacity(9);
    let mut cursor = None;
    // Whom the request is for, chosen among the clients file's (F2 moves
    // on); without a file every request is the house's and it is not
    // asked.
    if let Some(choice) = &app.form.clients {
        let names: Vec<&str> = choice.names().iter().map(|id| id.as_str()).collect();
        lines.push(Line::from(vec![
            Span::styled(format!("  {:<8}", "Client"), palette.style(theme::PLAIN)),
            Span::styled(choice.chosen().to_string(), palette.style(theme::TYPED)),
            Span::styled(
                format!("   F2 next: {}", names.join(", ")),
                palette.style(theme::MUTED),
            ),
        ]));
    }
    for (index, (label, hint)) in labels.iter().enumerate() {
        let field = &app.form.fields[index];
        let focused = app.form.focus == index;
        let marker = if focused { "› " } else { "  " };
        let label_style = if focused {
            palette.style(theme::TITLE)
        } else {
            palette.style(theme::PLAIN)
        };
        let value_style = if field.prefilled {
            palette.style(theme::PREFILLED)
        } else {
            palette.style(theme::TYPED)
        };
        let mut spans = vec![
            Span::styled(format!("{marker}{label:<8}"), label_style),
            Span::styled(field.text.clone(), value_style),
        ];
        if focused {
            cursor = Some((
                inner.x + 10 + field.text.chars().count() as u16,
                inner.y + lines.len() as u16,
            ));
        }
        if field.text.is_empty() || field.prefilled {
            spans.push(Span::styled(
                format!("   {hint}"),
                palette.style(theme::MUTED),
            ));
        }
        lines.push(Line::from(spans));
        match &field.error {
            Some(error) => lines.push(Line::styled(
                format!("          {error}"),
                palette.style(theme::FIELD_ERROR),
            )),
            None => lines.push(Line::raw("")),
        }
    }
    match &app.form.confirm {
        Some(confirm) => {
            lines.push(Line::styled(
                confirm.warning.clone(),
                palette.style(theme::FORM_CONFIRM),
            ));
            let question = "Type yes or the amount again, then Enter · Esc back › ";
            cursor = Some((
                inner.x + (question.chars().count() + confirm.typed.chars().count()) as u16,
                inner.y + lines.len() as u16,
            ));
            lines.push(Line::from(vec![
                Span::styled(question, palette.style(theme::FORM_CONFIRM)),
                Span::styled(confirm.typed.clone(), palette.style(theme::TYPED)),
            ]));
            if let Some(refusal) = confirm.refusal() {
                lines.push(Line::styled(refusal, palette.style(theme::FIELD_ERROR)));
            }
        }
        None => lines.push(Line::styled(
            "Enter on the pair starts the stream · ? for keys",
            palette.style(theme::MUTED),
        )),
    }
    if let Some(notice) = &app.notice {
        lines.push(Line::styled(
            notice.clone(),
            palette.style(theme::FORM_NOTICE),
        ));
    }
    if let Some(in_force) = &app.in_force {
        // What the next stream runs with, before it starts.
        lines.push(Line::raw(""));
        lines.push(Line::from(vec![
            Span::styled("In force  ", palette.style(theme::LABEL)),
            Span::raw(in_force.pricing_line()),
        ]));
        let lps_style = if in_force.all_simulated() {
            palette.style(theme::SIMULATED)
        } else {
            palette.style(theme::PLAIN)
        };
        lines.push(Line::from(vec![
            Span::styled("          ", palette.style(theme::LABEL)),
            Span::styled(in_force.lps_line(), lps_style),
        ]));
        if let Some(pairs) = in_force.quotable.list() {
            lines.push(Line::from(vec![
                Span::styled("Pairs     ", palette.style(theme::LABEL)),
                Span::raw(pairs),
            ]));
        }
    }
    // Only the last lines (the pairs) are long enough to wrap, so the
    // fields' cursor positions above them stay put.
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
        inner,
    );
    if let Some(position) = cursor {
        if !app.help {
            frame.set_cursor_position(position);
        }
    }
    draw_history(frame, history, app, palette);
}
