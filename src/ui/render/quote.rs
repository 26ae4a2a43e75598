//! The client quote: a side panel beside the leaderboard on a wide
//! terminal, three lines above it on a narrow one; the execution's panel
//! takes its place once the client accepts. A two-way stream shows its
//! bid and its offer, each with its LP, validity and quote id.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::execution::draw_execution;
use crate::market::Side;
use crate::output::{group_thousands, seconds};
use crate::rfq::event::ClientQuote;
use crate::ui::state::{ConsoleState, Validity};
use crate::ui::theme::{self, Palette};
use crate::ui::words;

/// "{prefix}5.2 s" in the colour of its state: yellow in the last 3 s,
/// red "EXPIRED" once run out.
pub(super) fn validity_span(state: &ConsoleState, prefix: &str, palette: Palette) -> Span<'static> {
    match state.validity() {
        None => Span::styled("no client quote yet", palette.style(theme::MUTED)),
        Some(Validity::Live { remaining_ms }) => Span::styled(
            format!("{prefix}{}", seconds(remaining_ms)),
            palette.style(theme::QUOTE_LIVE),
        ),
        Some(Validity::Ending { remaining_ms }) => Span::styled(
            format!("{prefix}{}", seconds(remaining_ms)),
            palette.style(theme::QUOTE_ENDING),
        ),
        Some(Validity::Expired) => Span::styled("EXPIRED", palette.style(theme::QUOTE_EXPIRED)),
    }
}

/// The quote currency and base asset of a client quote, by side.
pub(super) fn assets(quote: &ClientQuote) -> (String, String) {
    match quote.side {
        Side::Buy => (
            quote.pays_asset.to_string(),
            quote.receives_asset.to_string(),
        ),
        Side::Sell => (
            quote.receives_asset.to_string(),
            quote.pays_asset.to_string(),
        ),
    }
}

/// The client quote panel's frame; `None` (and "no client quote yet"
/// drawn) while there is no quote.
fn quote_block<'a>(
    frame: &mut Frame,
    area: Rect,
    state: &'a ConsoleState,
    palette: Palette,
) -> Option<(Block<'static>, &'a ClientQuote)> {
    let block = quote_title(state, palette);
    match &state.quote {
        Some(live) => Some((block, &live.quote)),
        None => {
            frame.render_widget(Paragraph::new("no client quote yet").block(block), area);
            None
        }
    }
}

/// The client price's style: crossed out once expired, in every layout,
/// so an expired price never looks live.
fn client_price_style(state: &ConsoleState, palette: Palette) -> Style {
    if state.validity() == Some(Validity::Expired) {
        palette.style(theme::EXPIRED_PRICE)
    } else {
        palette.style(theme::CLIENT_PRICE)
    }
}

/// The side panel's width: 44, or more for a long quote id (its 16-column
/// label, the id, the borders).
pub(super) fn quote_panel_width(state: &ConsoleState) -> u16 {
    let id = |view: &ConsoleState| {
        view.quote
            .as_ref()
            .map_or(0, |live| live.quote.quote_id.chars().count() as u16)
    };
    let id = id(state).max(state.bid.as_deref().map_or(0, id));
    (16 + id + 2).max(44)
}

/// The panel's title: whose quote it is.
fn quote_title(state: &ConsoleState, palette: Palette) -> Block<'static> {
    let title = match state.request.as_ref().and_then(|r| r.named_client()) {
        Some(client) => format!(" Client quote · {client} "),
        None => " Client quote ".to_string(),
    };
    Block::bordered().title(Span::styled(title, palette.style(theme::TITLE)))
}

/// The two sides of a two-way stream, the bid first (as a price is
/// said: bid, then offer), each with how the operator names it.
const TWO_WAY_SIDES: [(Side, &str, &str); 2] = [
    (Side::Sell, "bid  ", "BID · the client sells (s)"),
    (Side::Buy, "offer", "OFFER · the client buys (b)"),
];

/// The side's client quote comes from its locked LP (before the first
/// lock, and after one expires, it is only the best so far).
fn locked_behind(view: &ConsoleState) -> bool {
    match (&view.lock, &view.quote) {
        (Some(lock), Some(live)) => view.lps[lock.lp].name == live.quote.lp,
        _ => false,
    }
}

/// A two-way stream's panel beside the board: for each side, its client
/// price, the LP behind it, how long it is valid and its quote id.
fn draw_two_way_panel(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let label =
        |text: &'static str| Span::styled(format!("{text:<16}"), palette.style(theme::LABEL));
    let mut lines = Vec::with_capacity(10);
    for (side, _, heading) in TWO_WAY_SIDES {
        let view = state.side_view(side);
        lines.push(Line::styled(heading, palette.style(theme::HEADING)));
        let Some(live) = &view.quote else {
            lines.push(Line::styled("none yet", palette.style(theme::MUTED)));
            continue;
        };
        let quote = &live.quote;
        let (quote_asset, _) = assets(quote);
        lines.push(Line::from(vec![
            label("Client price"),
            Span::styled(
                format!("{} {quote_asset}", group_thousands(quote.client_price)),
                client_price_style(view, palette),
            ),
        ]));
        lines.push(Line::from(vec![
            label(if locked_behind(view) {
                "Locked LP"
            } else {
                "LP"
            }),
            Span::raw(format!(
                "{}{} at {}",
                quote.lp,
                if quote.simulated { " (SIMULATED)" } else { "" },
                group_thousands(quote.lp_price)
            )),
        ]));
        lines.push(Line::from(vec![
            label("Valid for"),
            validity_span(view, "", palette),
        ]));
        lines.push(Line::from(vec![
            label("Quote ID"),
            Span::raw(quote.quote_id.to_string()),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).block(quote_title(state, palette)),
        area,
    );
}

/// A two-way stream's quotes above the board: a line per side (client
/// price first, the LP and its price, the validity), each followed by
/// its quote id whole.
fn draw_two_way_compact(frame: &mut Frame, area: Rect, state: &ConsoleState, palette: Palette) {
    let mut lines = Vec::with_capacity(4);
    for (side, name, _) in TWO_WAY_SIDES {
        let view = state.side_view(side);
        let Some(live) = &view.quote else {
            lines.push(Line::from(vec![
                Span::raw(format!("{name} ")),
                Span::styled("none yet", palette.style(theme::MUTED)),
            ]));
            lines.push(Line::raw(""));
            continue;
        };
        let quote = &live.quote;
        let (quote_asset, _) = assets(quote);
        lines.push(Line::from(vec![
            Span::raw(format!("{name} ")),
            Span::styled(
                group_thousands(quote.client_price),
                client_price_style(view, palette),
            ),
            Span::raw(format!(
                " {quote_asset} · {}{} at {} · +{} bps · ",
                if locked_behind(view) { "locked " } else { "" },
                quote.lp,
                group_thousands(quote.lp_price),
                quote.markup_bps,
            )),
            validity_span(view, "valid ", palette),
        ]));
        lines.push(Line::raw(format!("      quote {}", quote.quote_id)));
    }
    frame.render_widget(
        Paragraph::new(lines).block(quote_title(state, palette)),
        area,
    );
}

pub(super) fn draw_quote_panel(
    frame: &mut Frame,
    area: Rect,
    state: &ConsoleState,
    palette: Palette,
) {
    if state.execution.accepted() {
        return draw_execution(frame, area, state, palette);
    }
    if state.two_way() {
        return draw_two_way_panel(frame, area, state, palette);
    }
    let Some((block, quote)) = quote_block(frame, area, state, palette) else {
        return;
    };
    let (quote_asset, _) = assets(quote);
    let label =
        |text: &'static str| Span::styled(format!("{text:<16}"), palette.style(theme::LABEL));
    let price_style = client_price_style(state, palette);
    let lines = vec![
        Line::from(vec![
            label("Quote ID"),
            Span::raw(quote.quote_id.to_string()),
        ]),
        Line::from(vec![
            label("LP source"),
            Span::raw(if quote.simulated {
                format!("{} (SIMULATED)", quote.lp)
            } else {
                quote.lp.to_string()
            }),
        ]),
        Line::from(vec![
            label("Client price"),
            Span::styled(
                format!("{} {quote_asset}", group_thousands(quote.client_price)),
                price_style,
            ),
        ]),
        Line::from(vec![
            label("LP price"),
            Span::raw(format!("{} {quote_asset}", group_thousands(quote.lp_price))),
        ]),
        Line::from(vec![
            label("Markup"),
            Span::raw(format!("{} bps", quote.markup_bps)),
        ]),
        Line::from(vec![
            label("Client pays"),
            Span::raw(format!(
                "{} {}",
                group_thousands(quote.client_pays),
                quote.pays_asset
            )),
        ]),
        Line::from(vec![
            label("Client receives"),
            Span::raw(format!(
                "{} {}",
                group_thousands(quote.client_receives),
                quote.receives_asset
            )),
        ]),
        Line::from(vec![label("Valid for"), validity_span(state, "", palette)]),
        Line::from(vec![
            label("Why"),
            Span::raw(words::quote_reason(quote.reason)),
        ]),
    ];
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

pub(super) fn draw_quote_compact(
    frame: &mut Frame,
    area: Rect,
    state: &ConsoleState,
    palette: Palette,
) {
    if state.execution.accepted() {
        return draw_execution(frame, area, state, palette);
    }
    if state.two_way() {
        return draw_two_way_compact(frame, area, state, palette);
    }
    let Some((block, quote)) = quote_block(frame, area, state, palette) else {
        return;
    };
    let (quote_asset, _) = assets(quote);
    // The client price first: on a narrow terminal it is the last thing
    // to be cut.
    let first = Line::from(vec![
        Span::raw("client "),
        Span::styled(
            group_thousands(quote.client_price),
            client_price_style(state, palette),
        ),
        Span::raw(format!(
            " {quote_asset} · {} at {} · +{} bps",
            quote.lp,
            group_thousands(quote.lp_price),
            quote.markup_bps,
        )),
    ]);
    let second = Line::from(vec![
        Span::raw(format!(
            "pays {} {} · receives {} {} · ",
            group_thousands(quote.client_pays),
            quote.pays_asset,
            group_thousands(quote.client_receives),
            quote.receives_asset
        )),
        validity_span(state, "valid ", palette),
    ]);
    // The quote id on a line of its own: at 80 columns it is cut at the
    // end of either line above, and its suffix is what tells quotes apart.
    let third = Line::raw(format!("quote {}", quote.quote_id));
    frame.render_widget(
        Paragraph::new(vec![first, second, third]).block(block),
        area,
    );
}
