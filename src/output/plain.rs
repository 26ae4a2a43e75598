//! `--plain`: readable lines for a terminal log or a pipe, in the desk's
//! familiar layout: the request, a box per client quote, a banner on every
//! price improvement, a closing summary.

use std::fmt::Write as _;

use crate::market::{Pair, Side};
use crate::output::{group_thousands, seconds};
use crate::rfq::event::*;
use crate::rfq::RfqEvent;

const RULE: &str = "==============================================================";
const BOX_WIDTH: usize = 58;

/// The program banner, printed once before the first stream.
pub fn banner(simulated: bool) -> String {
    let lps = if simulated {
        "  LPs: SIMULATED (built-in mocks or a scenario): no price here is real\n"
    } else {
        ""
    };
    format!("{RULE}\n  lp-rfq · RFQ aggregator · best LP price plus desk markup\n{lps}{RULE}\n")
}

/// Formats one stream's events as readable text.
#[derive(Debug, Default)]
pub struct PlainPrinter {
    request: Option<(Side, Pair)>,
}

fn stamp(t_ms: u64) -> String {
    format!("[{:>3}.{:03}s]", t_ms / 1000, t_ms % 1000)
}

fn box_line(text: &mut String, label: &str, value: &str) {
    let content = format!("{label:<17}{value}");
    let _ = writeln!(text, "  | {content:<width$} |", width = BOX_WIDTH - 4);
}

impl PlainPrinter {
    pub fn new() -> PlainPrinter {
        PlainPrinter::default()
    }

    /// The text for `event` (possibly several lines, each ending in '\n').
    pub fn render(&mut self, event: &RfqEvent) -> String {
        let at = stamp(event.t_ms);
        let mut text = String::new();
        match &event.kind {
            EventKind::Started(started) => {
                self.request = Some((started.side, started.pair));
                let _ = writeln!(
                    text,
                    "Settings: markup {} bps · threshold {} bps · validity buffer {} · poll {} ms · LP timeout {} ms · stream {}",
                    started.markup_bps,
                    started.threshold_bps,
                    seconds(started.validity_buffer_ms),
                    started.poll_interval_ms,
                    started.lp_timeout_ms,
                    seconds(started.duration_ms),
                );
                let names: Vec<&str> = started.lps.iter().map(|lp| &**lp).collect();
                let simulated = if started.simulated { ", SIMULATED" } else { "" };
                let _ = writeln!(
                    text,
                    "LPs ({}{simulated}): {}",
                    names.len(),
                    names.join(", ")
                );
                let _ = writeln!(
                    text,
                    "RFQ {}: client {} {} {} against {}",
                    event.rfq_id,
                    started.side.label(),
                    started.pair.format_amount(started.amount),
                    started.pair.base,
                    started.pair.quote,
                );
            }
            EventKind::LpQuote(quote) => {
                let _ = writeln!(
                    text,
                    "{at} {:<10} quote {:>16}  qty {}  {} ms  valid {}",
                    quote.lp,
                    group_thousands(quote.price),
                    quote.quantity,
                    quote.latency_ms,
                    seconds(quote.valid_for_ms),
                );
            }
            EventKind::LpError(error) => {
                let _ = writeln!(
                    text,
                    "{at} {:<10} {} after {} ms: {}",
                    error.lp,
                    error.kind.as_str(),
                    error.latency_ms,
                    error.reason
                );
            }
            EventKind::ClientQuote(quote) => {
                if quote.reason == QuoteReason::Improvement {
                    let _ = writeln!(text, "\n  *** PRICE IMPROVEMENT ***");
                }
                let _ = writeln!(text, "{at} client quote ({})", quote.reason.as_str());
                self.quote_box(&mut text, quote);
            }
            EventKind::Locked(locked) => {
                let from = match &locked.previous_lp {
                    Some(previous) if *previous != locked.lp => format!(" (from {previous})"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    text,
                    "{at} LOCKED {} at {}{from}",
                    locked.lp,
                    group_thousands(locked.price)
                );
            }
            EventKind::LockExpired(expired) => {
                let _ = writeln!(
                    text,
                    "{at} EXPIRED: {}'s quote is no longer offered; waiting for a fresh quote",
                    expired.lp
                );
            }
            EventKind::Unverified(unverified) => {
                let _ = writeln!(
                    text,
                    "{at} UNVERIFIED: {} at {} is not offered: no band, reference or second LP corroborates it",
                    unverified.lp,
                    group_thousands(unverified.price)
                );
            }
            EventKind::Released(released) => {
                let _ = writeln!(
                    text,
                    "{at} RELEASED by the operator: {} at {}",
                    released.lp,
                    group_thousands(released.price)
                );
            }
            EventKind::OrderSent(order) => {
                let what = match self.request {
                    Some((side, pair)) => format!(
                        "desk {}s {} {} at {} {}",
                        side.as_str(),
                        order.amount,
                        pair.base,
                        group_thousands(order.lp_price),
                        pair.quote
                    ),
                    None => format!("{} at {}", order.amount, group_thousands(order.lp_price)),
                };
                let _ = writeln!(
                    text,
                    "{at} ORDER {} to {}: {what} for quote {} (attempt {})",
                    order.order_id, order.lp, order.quote_id, order.attempt,
                );
                if let Some(why) = &order.preferred_over {
                    let _ = writeln!(text, "{at}   {}", why.describe());
                }
            }
            EventKind::OrderRejected(rejected) => {
                let _ = writeln!(
                    text,
                    "{at} REJECTED by {} after {} ms (last look): {}",
                    rejected.lp, rejected.hold_ms, rejected.reason
                );
            }
            EventKind::Filled(filled) => {
                let _ = writeln!(text, "{at} FILLED by {}", filled.lp);
                self.ticket(&mut text, filled);
            }
            EventKind::ExecutionUnknown(unknown) => {
                let _ = writeln!(
                    text,
                    "{at} UNKNOWN: order {} with {}: {}; no other order is sent: resolve it with {} before trading again",
                    unknown.order_id, unknown.lp, unknown.reason, unknown.lp
                );
            }
            EventKind::BlotterError(error) => {
                let _ = writeln!(text, "{at} !!! BLOTTER ERROR: {}", error.reason);
            }
            EventKind::LpHealth(health) => {
                let why = health
                    .reason
                    .as_deref()
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default();
                let _ = writeln!(
                    text,
                    "{at} {:<10} health      {}{why}",
                    health.lp,
                    health.label(0)
                );
            }
            EventKind::NotFilled(not_filled) => {
                let _ = writeln!(text, "{at} NOT FILLED: {}", not_filled.reason);
            }
            EventKind::Ended(ended) => {
                let what = match ended.reason {
                    EndReason::Accepted => format!("stream ended ({})", ended.outcome.as_str()),
                    EndReason::Duration => "stream ended (duration)".to_string(),
                    EndReason::Interrupted => "stream stopped by the operator".to_string(),
                    EndReason::NoQuotes => match self.request {
                        Some((_, pair)) => format!("no LP quotes {}", pair.symbol()),
                        None => "no LP quotes this request".to_string(),
                    },
                };
                let quote_currency = self
                    .request
                    .map(|(_, pair)| pair.quote.to_string())
                    .unwrap_or_default();
                let last = match (&ended.quote_id, &ended.lp, ended.client_price) {
                    (Some(id), Some(lp), Some(price)) => {
                        format!(
                            "final quote {id} from {lp} at {} {quote_currency}",
                            group_thousands(price)
                        )
                    }
                    _ => "no live quote at the end".to_string(),
                };
                let _ = writeln!(
                    text,
                    "{at} {what}: {} improvement{}; {last}\n",
                    ended.improvements,
                    if ended.improvements == 1 { "" } else { "s" }
                );
            }
        }
        text
    }

    /// The trade ticket of a fill.
    fn ticket(&self, text: &mut String, filled: &Filled) {
        let border = format!("  +{}+", "-".repeat(BOX_WIDTH - 2));
        let (verb, base_asset, quote_asset) = match self.request {
            Some((Side::Sell, pair)) => ("Client SELLS", pair.base, pair.quote),
            Some((Side::Buy, pair)) => ("Client BUYS", pair.base, pair.quote),
            None => ("Client", filled.receives_asset, filled.pnl_asset),
        };
        let _ = writeln!(text, "{border}");
        box_line(text, "TRADE TICKET:", "FILLED");
        box_line(text, "Order:", &filled.order_id);
        box_line(text, "Quote ID:", &filled.quote_id);
        box_line(text, "LP:", &filled.lp);
        box_line(text, verb, &format!("{} {base_asset}", filled.amount));
        box_line(
            text,
            "Client price:",
            &format!("{} {quote_asset}", group_thousands(filled.client_price)),
        );
        box_line(
            text,
            "LP price:",
            &format!("{} {quote_asset}", group_thousands(filled.lp_price)),
        );
        box_line(
            text,
            "Client pays:",
            &format!(
                "{} {}",
                group_thousands(filled.client_pays),
                filled.pays_asset
            ),
        );
        box_line(
            text,
            "Client receives:",
            &format!(
                "{} {}",
                group_thousands(filled.client_receives),
                filled.receives_asset
            ),
        );
        box_line(
            text,
            "Desk P&L:",
            &format!("{} {}", group_thousands(filled.desk_pnl), filled.pnl_asset),
        );
        box_line(text, "Last look:", &format!("{} ms", filled.hold_ms));
        let _ = writeln!(text, "{border}");
    }

    fn quote_box(&self, text: &mut String, quote: &ClientQuote) {
        let border = format!("  +{}+", "-".repeat(BOX_WIDTH - 2));
        let quote_asset = match quote.side {
            Side::Buy => quote.pays_asset,
            Side::Sell => quote.receives_asset,
        };
        let base_asset = match quote.side {
            Side::Buy => quote.receives_asset,
            Side::Sell => quote.pays_asset,
        };
        let verb = match quote.side {
            Side::Buy => "Client BUYS",
            Side::Sell => "Client SELLS",
        };
        let _ = writeln!(text, "{border}");
        box_line(text, "Quote ID:", &quote.quote_id);
        box_line(text, "LP source:", &quote.lp);
        box_line(text, verb, &format!("{} {base_asset}", quote.amount));
        box_line(
            text,
            "Client price:",
            &format!("{} {quote_asset}", group_thousands(quote.client_price)),
        );
        box_line(
            text,
            "LP price:",
            &format!("{} {quote_asset}", group_thousands(quote.lp_price)),
        );
        box_line(text, "Markup:", &format!("{} bps", quote.markup_bps));
        box_line(
            text,
            "Client pays:",
            &format!(
                "{} {}",
                group_thousands(quote.client_pays),
                quote.pays_asset
            ),
        );
        box_line(
            text,
            "Client receives:",
            &format!(
                "{} {}",
                group_thousands(quote.client_receives),
                quote.receives_asset
            ),
        );
        box_line(text, "Valid for:", &seconds(quote.client_valid_for_ms));
        let _ = writeln!(text, "{border}");
    }
}
