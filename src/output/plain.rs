//! `--plain`: readable lines for a terminal log or a pipe, in the desk's
//! familiar layout: the request, a box per client quote, a banner on every
//! price improvement, a closing summary.

use std::fmt::Write as _;

use crate::market::{Leg, Pair, Side};
use crate::output::{group_thousands, seconds};
use crate::rfq::event::*;
use crate::rfq::{ClientId, RfqEvent};

const RULE: &str = "==============================================================";
const BOX_WIDTH: usize = 58;

/// The program banner, printed once before the first stream.
pub(crate) fn banner(simulated: bool) -> String {
    let lps = if simulated {
        "  LPs: SIMULATED (built-in mocks or a scenario): no price here is real\n"
    } else {
        ""
    };
    format!("{RULE}\n  lp-rfq · RFQ aggregator · best LP price plus desk markup\n{lps}{RULE}\n")
}

/// What a request asked for: `1.50000000 BTC against USDT`, or for an
/// amount of the quote currency `BTC for 1000000.00 USDT`.
fn requested(started: &crate::rfq::event::Started) -> String {
    let pair = started.pair;
    match started.fixed {
        Leg::Base => format!(
            "{} {} against {}",
            pair.format_amount(started.amount),
            pair.base,
            pair.quote
        ),
        Leg::Quote => {
            let mut amount = started.amount;
            amount.rescale(pair.leg_dp(Leg::Quote));
            format!("{} for {amount} {}", pair.base, pair.quote)
        }
    }
}

/// Formats one stream's events as readable text.
#[derive(Debug, Default)]
pub struct PlainPrinter {
    request: Option<(Side, Pair)>,
    /// The leg the client fixed, said on its quotes and ticket when it is
    /// the quote currency (a base amount reads as it always has).
    fixed: Leg,
    /// The request's amount when it is in the quote currency: what an
    /// order to the LP is for.
    quote_amount: Option<rust_decimal::Decimal>,
    /// The stream's client when it is not the house (the house's lines
    /// read as they did before clients were named).
    client: Option<ClientId>,
    /// Per LP, what these lines last said of its health.
    health_said: Vec<HealthSaid>,
}

/// How long an LP that our own rate limit held back must go without a
/// request held back before `--plain` says it is `ok` again: the desk's
/// quiet spell ([`crate::lp::health::QUIET`]), so that a limit met every
/// other poll is one `throttled` line, not one line per poll.
const THROTTLE_QUIET_MS: u64 = crate::lp::health::QUIET.as_millis() as u64;

/// What `--plain` last said of one LP's health, and an `ok` it holds back
/// until the LP has been quiet for [`THROTTLE_QUIET_MS`].
#[derive(Debug)]
struct HealthSaid {
    lp: std::sync::Arc<str>,
    state: HealthState,
    /// When a request to it was last held back by our rate limit.
    last_throttled_ms: u64,
    /// An `ok` not said yet: the LP answered after being throttled.
    ok_pending: bool,
}

fn stamp(t_ms: u64) -> String {
    format!("[{:>3}.{:03}s]", t_ms / 1000, t_ms % 1000)
}

/// The mark a line gets when the LP behind it is a simulation.
fn simulated_mark(simulated: bool) -> &'static str {
    if simulated {
        " SIMULATED"
    } else {
        ""
    }
}

/// An LP's name as a box shows it: `Sim (SIMULATED)` for a simulation.
fn lp_shown(lp: &str, simulated: bool) -> String {
    if simulated {
        format!("{lp} (SIMULATED)")
    } else {
        lp.to_string()
    }
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
        // Each side of a two-way request says which it is: the client's
        // bid (it sells there) or offer (it buys there).
        let at = match event.two_way_side {
            None => stamp(event.t_ms),
            Some(Side::Sell) => format!("{} BID", stamp(event.t_ms)),
            Some(Side::Buy) => format!("{} OFFER", stamp(event.t_ms)),
        };
        let mut text = String::new();
        self.say_quiet_lps_ok(&mut text, &at, event.t_ms);
        match &event.kind {
            EventKind::Started(started) => {
                self.request = Some((started.side, started.pair));
                self.fixed = started.fixed;
                self.quote_amount = (started.fixed == Leg::Quote).then(|| {
                    let mut amount = started.amount;
                    amount.rescale(started.pair.leg_dp(Leg::Quote));
                    amount
                });
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
                if started.mixed() {
                    let simulated: Vec<&str> =
                        started.simulated_lps.iter().map(|lp| &**lp).collect();
                    let _ = writeln!(
                        text,
                        "MIXED: SIMULATED LPs {}: their prices and fills are not real",
                        simulated.join(", ")
                    );
                }
                // The house's request reads as before; a named client's
                // says whose it is.
                self.client = (started.client != ClientId::house()).then(|| started.client.clone());
                let whose = match &self.client {
                    Some(client) => format!("client {client}"),
                    None => "client".to_string(),
                };
                let _ = writeln!(
                    text,
                    "RFQ {}: {whose} {} {}",
                    event.rfq_id,
                    if started.two_way {
                        "TWO-WAY"
                    } else {
                        started.side.label()
                    },
                    requested(started),
                );
            }
            EventKind::LpQuote(quote) => {
                let _ = writeln!(
                    text,
                    "{at} {:<10} quote {:>16}  qty {}  {} ms  valid {}{}",
                    quote.lp,
                    group_thousands(quote.price),
                    quote.quantity,
                    quote.latency_ms,
                    seconds(quote.valid_for_ms),
                    simulated_mark(quote.simulated),
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
                let _ = writeln!(
                    text,
                    "{at} client quote ({}){}",
                    quote.reason.as_str(),
                    simulated_mark(quote.simulated)
                );
                self.quote_box(&mut text, quote);
            }
            EventKind::Locked(locked) => {
                let from = match &locked.previous_lp {
                    Some(previous) if *previous != locked.lp => format!(" (from {previous})"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    text,
                    "{at} LOCKED {}, LP price {}{from}{}",
                    locked.lp,
                    group_thousands(locked.price),
                    simulated_mark(locked.simulated)
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
                let what = match (self.request, self.quote_amount) {
                    // The LP is ordered the client's exact quote-currency
                    // amount; the base it gives or takes follows its price.
                    (Some((side, pair)), Some(amount)) => format!(
                        "desk {}s {} {} {} {}, LP price {} {}",
                        side.as_str(),
                        pair.base,
                        match side {
                            Side::Buy => "with",
                            Side::Sell => "for",
                        },
                        group_thousands(amount),
                        pair.quote,
                        group_thousands(order.lp_price),
                        pair.quote
                    ),
                    (Some((side, pair)), None) => format!(
                        "desk {}s {} {}, LP price {} {}",
                        side.as_str(),
                        order.amount,
                        pair.base,
                        group_thousands(order.lp_price),
                        pair.quote
                    ),
                    (None, _) => format!(
                        "{}, LP price {}",
                        order.amount,
                        group_thousands(order.lp_price)
                    ),
                };
                let _ = writeln!(
                    text,
                    "{at} ORDER {} to {}: {what} for quote {} (attempt {}){}",
                    order.order_id,
                    order.lp,
                    order.quote_id,
                    order.attempt,
                    simulated_mark(order.simulated),
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
                let _ = writeln!(
                    text,
                    "{at} FILLED by {}{}",
                    filled.lp,
                    simulated_mark(filled.simulated)
                );
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
            EventKind::LpHealth(health) => self.health(&mut text, &at, event.t_ms, health),
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
                            "final quote {id} from {lp}, client price {} {quote_currency}",
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

    /// Says that the quote-currency leg is the one the client fixed.
    fn fixed_line(&self, text: &mut String, quote_asset: crate::market::Asset) {
        if self.fixed == Leg::Quote {
            box_line(text, "Fixed leg:", &format!("{quote_asset} (exact)"));
        }
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
        if filled.simulated {
            // A fake fill must never pass for a real one on a ticket.
            box_line(text, "TRADE TICKET (SIMULATED): ", "FILLED");
        } else {
            box_line(text, "TRADE TICKET:", "FILLED");
        }
        box_line(text, "Order:", &filled.order_id);
        box_line(text, "Quote ID:", &filled.quote_id);
        if let Some(client) = &self.client {
            box_line(text, "Client:", client.as_str());
        }
        box_line(text, "LP:", &lp_shown(&filled.lp, filled.simulated));
        box_line(text, verb, &format!("{} {base_asset}", filled.amount));
        self.fixed_line(text, quote_asset);
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

    /// An LP's health change, said once per real change: a request held
    /// back by our own rate limit is `throttled` once, and the answers
    /// between two held-back requests say nothing; `ok` is said once the
    /// LP has gone [`THROTTLE_QUIET_MS`] without one. Every other change
    /// is said as it comes. (`--json` carries each change as the stream
    /// saw it.)
    fn health(&mut self, text: &mut String, at: &str, t_ms: u64, health: &LpHealthEvent) {
        let index = match self
            .health_said
            .iter()
            .position(|said| said.lp == health.lp)
        {
            Some(index) => index,
            None => {
                self.health_said.push(HealthSaid {
                    lp: health.lp.clone(),
                    state: HealthState::Ok,
                    last_throttled_ms: 0,
                    ok_pending: false,
                });
                self.health_said.len() - 1
            }
        };
        let said = &mut self.health_said[index];
        let plain_ok = health.state == HealthState::Ok && !health.fading;
        if health.state == HealthState::Throttled {
            said.last_throttled_ms = t_ms;
            said.ok_pending = false;
            if said.state == HealthState::Throttled {
                return;
            }
        } else if plain_ok && said.state == HealthState::Throttled {
            said.ok_pending = true;
            return;
        }
        said.state = health.state;
        said.ok_pending = false;
        let why = match (health.state, health.reason.as_deref()) {
            (HealthState::Throttled, _) => {
                " (our rate limit for this LP: requests held back, not sent)".to_string()
            }
            (_, Some(reason)) => format!(" ({reason})"),
            (_, None) => String::new(),
        };
        let _ = writeln!(
            text,
            "{at} {:<10} health      {}{why}",
            health.lp,
            health.label(0)
        );
    }

    /// The `ok` held back for each LP that has now gone
    /// [`THROTTLE_QUIET_MS`] without a request held back.
    fn say_quiet_lps_ok(&mut self, text: &mut String, at: &str, t_ms: u64) {
        for said in &mut self.health_said {
            if said.ok_pending && t_ms.saturating_sub(said.last_throttled_ms) >= THROTTLE_QUIET_MS {
                said.ok_pending = false;
                said.state = HealthState::Ok;
                let _ = writeln!(
                    text,
                    "{at} {:<10} health      ok (nothing held back for {} s)",
                    said.lp,
                    THROTTLE_QUIET_MS / 1000
                );
            }
        }
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
        box_line(text, "LP source:", &lp_shown(&quote.lp, quote.simulated));
        box_line(text, verb, &format!("{} {base_asset}", quote.amount));
        self.fixed_line(text, quote_asset);
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

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn health(t_ms: u64, lp: &str, state: HealthState) -> RfqEvent {
        RfqEvent {
            kind: EventKind::LpHealth(LpHealthEvent {
                lp: lp.into(),
                state,
                retry_in_ms: (state == HealthState::Down).then_some(30_000),
                reject_rate: Decimal::ZERO,
                fading: false,
                reason: (state == HealthState::Down).then(|| "5 failures in 30 s".into()),
            }),
            rfq_id: "R-1".into(),
            t_ms,
            two_way_side: None,
        }
    }

    fn said(events: &[RfqEvent]) -> String {
        let mut printer = PlainPrinter::new();
        events.iter().map(|event| printer.render(event)).collect()
    }

    #[test]
    fn our_rate_limit_is_said_once_and_ok_only_after_a_quiet_spell() {
        use HealthState::{Ok, Throttled};
        let flips = [
            health(500, "LP3", Throttled),
            health(1_010, "LP3", Ok),
            health(1_500, "LP3", Throttled),
            health(2_010, "LP3", Ok),
            // 4,999 ms after LP3's last held-back request: not yet quiet.
            health(6_499, "LP1", Throttled),
            // Any later line says it once the spell is over.
            health(6_500, "LP1", Ok),
        ];
        assert_eq!(
            said(&flips),
            concat!(
                "[  0.500s] LP3        health      throttled (our rate limit for this LP: requests held back, not sent)\n",
                "[  6.499s] LP1        health      throttled (our rate limit for this LP: requests held back, not sent)\n",
                "[  6.500s] LP3        health      ok (nothing held back for 5 s)\n",
            )
        );
    }

    #[test]
    fn a_real_change_after_a_throttle_is_said_at_once() {
        use HealthState::{Down, Throttled};
        assert_eq!(
            said(&[health(500, "B", Throttled), health(900, "B", Down)]),
            concat!(
                "[  0.500s] B          health      throttled (our rate limit for this LP: requests held back, not sent)\n",
                "[  0.900s] B          health      down 30 s (5 failures in 30 s)\n",
            )
        );
    }
}
