//! What the desk's client may see of a stream: its quotes and its order's
//! outcome, never an LP's name, an LP's price or words, a venue's
//! reference or the desk's P&L. `ClientView` projects the desk's
//! [`RfqEvent`]s into [`ClientEvent`]s, whose types have no field that
//! could hold any of those: every client-facing output is to be built from
//! them, so none can send an LP's name or price by mistake.
//!
//! What is left out on purpose, beside the LP fields: the markup (client
//! price ÷ (1 + markup) is the LP price), the improvement count and quote
//! reasons (how the lock moved), order ids and fallback attempts (how many
//! LPs rejected on last look), and hold times (an LP's last look).

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::clock::StreamMs;
use crate::market::{Asset, Pair, Side};
use crate::rfq::client_id::ClientId;
use crate::rfq::event::{EndReason, EventKind, Outcome, RfqEvent};

/// One event of a stream as its client sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEvent {
    #[serde(flatten)]
    pub kind: ClientEventKind,
    pub rfq_id: Arc<str>,
    /// 1, 2, 3, … over the client's events only: the desk's own numbering
    /// would show, by its gaps, how much the client was not shown.
    pub seq: u64,
    /// Milliseconds of stream time since the stream started.
    pub t_ms: StreamMs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ClientEventKind {
    Opened(Opened),
    Quote(Quote),
    QuoteWithdrawn(QuoteWithdrawn),
    OrderPending(OrderPending),
    OrderFilled(OrderFilled),
    OrderNotFilled(OrderNotFilled),
    OrderUnknown(OrderUnknown),
    Ended(ClientEnded),
}

/// The request the desk is quoting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opened {
    pub(crate) client: ClientId,
    /// `buy` on a two-way request, whose quotes each say their side.
    pub side: Side,
    /// The client asked for both sides: a bid and an offer are quoted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub two_way: bool,
    pub(crate) pair: Pair,
    /// In the `fixed` leg's currency.
    pub(crate) amount: Decimal,
    /// `quote` when the client named an amount of the quote currency
    /// (which it pays or receives exactly); left out for the base.
    #[serde(default, skip_serializing_if = "crate::market::Leg::is_base")]
    pub(crate) fixed: crate::market::Leg,
}

/// A price the client may accept until `valid_for_ms` from this event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub quote_id: Arc<str>,
    pub side: Side,
    pub amount: Decimal,
    pub price: Decimal,
    pub client_pays: Decimal,
    pub pays_asset: Asset,
    pub client_receives: Decimal,
    pub receives_asset: Asset,
    pub valid_for_ms: u64,
    /// The price comes from a simulation, not a market: a client must
    /// never take it for a real one. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

/// The quote may no longer be accepted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuoteWithdrawn {
    pub(crate) quote_id: Arc<str>,
    pub(crate) reason: WithdrawReason,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WithdrawReason {
    /// Its validity ran out before a fresh price replaced it.
    Expired,
}

/// The client accepted `quote_id`; the desk is executing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderPending {
    pub(crate) quote_id: Arc<str>,
}

/// The trade is done at the accepted quote's price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderFilled {
    pub(crate) quote_id: Arc<str>,
    pub price: Decimal,
    pub(crate) amount: Decimal,
    pub(crate) client_pays: Decimal,
    pub(crate) pays_asset: Asset,
    pub(crate) client_receives: Decimal,
    pub(crate) receives_asset: Asset,
    /// The price comes from a simulation, not a market: a client must
    /// never take it for a real one. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) simulated: bool,
}

/// Nothing traded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderNotFilled {
    /// The quote the client accepted, or tried to.
    pub(crate) quote_id: Option<Arc<str>>,
    pub(crate) reason: NotFilledReason,
}

/// Why nothing traded, in the desk's words (an LP's own reason names the
/// LP and its price, so it never reaches the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NotFilledReason {
    /// The quote had expired or been replaced when it was accepted.
    QuoteNotLive,
    /// No liquidity could be found at the accepted price.
    NoFill,
}

/// Whether the accepted quote traded is not known yet: the desk resolves
/// it with its counterparty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderUnknown {
    pub(crate) quote_id: Arc<str>,
}

/// The last event of the client's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEnded {
    pub(crate) reason: ClientEndReason,
    pub outcome: ClientOutcome,
    /// The accepted quote, else the one live at the end, if any.
    pub(crate) quote_id: Option<Arc<str>>,
    /// That quote's price.
    pub price: Option<Decimal>,
}

/// Why the stream ended. Its own enum rather than [`EndReason`], so a
/// reason added for the desk reaches a client only by a choice made here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClientEndReason {
    /// The quoting time ran out.
    Duration,
    /// The desk stopped quoting.
    Interrupted,
    /// No price could be found.
    NoQuotes,
    /// The client accepted and the execution resolved.
    Accepted,
}

/// How the client's acceptance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientOutcome {
    Filled,
    NotFilled,
    /// Resolved by the desk later.
    Unknown,
    NotAccepted,
}

impl From<EndReason> for ClientEndReason {
    fn from(reason: EndReason) -> ClientEndReason {
        match reason {
            EndReason::Duration => ClientEndReason::Duration,
            EndReason::Interrupted => ClientEndReason::Interrupted,
            EndReason::NoQuotes => ClientEndReason::NoQuotes,
            EndReason::Accepted => ClientEndReason::Accepted,
        }
    }
}

impl From<Outcome> for ClientOutcome {
    fn from(outcome: Outcome) -> ClientOutcome {
        match outcome {
            Outcome::Filled => ClientOutcome::Filled,
            Outcome::NotFilled => ClientOutcome::NotFilled,
            Outcome::Unknown => ClientOutcome::Unknown,
            Outcome::NotAccepted => ClientOutcome::NotAccepted,
        }
    }
}

/// Which live quote an event of a two-way request's side concerns (a
/// one-sided request's are all the first).
fn side_slot(event: &RfqEvent) -> usize {
    match event.two_way_side {
        Some(Side::Sell) => 1,
        _ => 0,
    }
}

/// Projects one stream's desk events, in order, into its client's; see
/// the module docs. It keeps what a desk event alone does not say: which
/// quote an expiry withdraws, and which quote an order's outcome is for.
#[derive(Debug, Default)]
pub(crate) struct ClientView {
    seq: u64,
    /// The quote the client may accept now, per side of a two-way
    /// request (a one-sided request uses the first).
    live: [Option<Arc<str>>; 2],
    /// The quote the client accepted, once an order is out for it.
    accepted: Option<Arc<str>>,
}

/// Whether a client RFQ's task needs to see an event of this kind: every
/// kind [`ClientView::project`] may turn into something the client sees,
/// and `blotter_error` (the task withdraws its quote for it); never an
/// LP's quote, error or health, a lock, a release, a check that failed or
/// a last-look reject, which are the desk's alone and ~100 a second per
/// stream. The desk hands the task only these
/// ([`crate::desk::Desk::try_start_keeping`]).
pub(crate) fn keeps_for_client(kind: &EventKind) -> bool {
    match kind {
        EventKind::Started(_)
        | EventKind::ClientQuote(_)
        | EventKind::LockExpired(_)
        | EventKind::OrderSent(_)
        | EventKind::Filled(_)
        | EventKind::ExecutionUnknown(_)
        | EventKind::NotFilled(_)
        | EventKind::BlotterError(_)
        | EventKind::Ended(_) => true,
        EventKind::LpQuote(_)
        | EventKind::LpError(_)
        | EventKind::Unverified(_)
        | EventKind::Released(_)
        | EventKind::Locked(_)
        | EventKind::OrderRejected(_)
        | EventKind::LpHealth(_) => false,
    }
}

impl ClientView {
    pub(crate) fn new() -> ClientView {
        ClientView::default()
    }

    /// What the client sees of `event`: `None` for everything that is the
    /// desk's alone (LP quotes and errors, locks, LP health, last-look
    /// rejects, fallback orders, blotter trouble).
    pub(crate) fn project(&mut self, event: &RfqEvent) -> Option<ClientEvent> {
        let kind = match &event.kind {
            EventKind::Started(started) => ClientEventKind::Opened(Opened {
                client: started.client.clone(),
                side: started.side,
                two_way: started.two_way,
                pair: started.pair,
                amount: match started.fixed {
                    crate::market::Leg::Base => started.pair.format_amount(started.amount),
                    crate::market::Leg::Quote => started.amount,
                },
                fixed: started.fixed,
            }),
            EventKind::ClientQuote(quote) => {
                self.live[side_slot(event)] = Some(quote.quote_id.clone());
                ClientEventKind::Quote(Quote {
                    quote_id: quote.quote_id.clone(),
                    side: quote.side,
                    amount: quote.amount,
                    price: quote.client_price,
                    client_pays: quote.client_pays,
                    pays_asset: quote.pays_asset,
                    client_receives: quote.client_receives,
                    receives_asset: quote.receives_asset,
                    valid_for_ms: quote.client_valid_for_ms,
                    simulated: quote.simulated,
                })
            }
            EventKind::LockExpired(_) => ClientEventKind::QuoteWithdrawn(QuoteWithdrawn {
                quote_id: self.live[side_slot(event)].take()?,
                reason: WithdrawReason::Expired,
            }),
            // Only the first order: a fallback after a last-look reject
            // is the desk's business, and the client's quote stands.
            EventKind::OrderSent(sent) if self.accepted.is_none() => {
                self.live = [None, None];
                self.accepted = Some(sent.quote_id.clone());
                ClientEventKind::OrderPending(OrderPending {
                    quote_id: sent.quote_id.clone(),
                })
            }
            EventKind::Filled(filled) => ClientEventKind::OrderFilled(OrderFilled {
                quote_id: filled.quote_id.clone(),
                price: filled.client_price,
                amount: filled.amount,
                client_pays: filled.client_pays,
                pays_asset: filled.pays_asset,
                client_receives: filled.client_receives,
                receives_asset: filled.receives_asset,
                simulated: filled.simulated,
            }),
            // The engine sends an order before any outcome can be unknown.
            EventKind::ExecutionUnknown(_) => ClientEventKind::OrderUnknown(OrderUnknown {
                quote_id: self.accepted.clone()?,
            }),
            EventKind::NotFilled(not_filled) => ClientEventKind::OrderNotFilled(OrderNotFilled {
                quote_id: not_filled.quote_id.clone(),
                // Told apart by whether an order went out, never by the
                // desk's reason text (it names the LPs that rejected).
                reason: match self.accepted {
                    Some(_) => NotFilledReason::NoFill,
                    None => NotFilledReason::QuoteNotLive,
                },
            }),
            EventKind::Ended(ended) => ClientEventKind::Ended(ClientEnded {
                reason: ended.reason.into(),
                outcome: ended.outcome.into(),
                quote_id: ended.quote_id.clone(),
                price: ended.client_price,
            }),
            EventKind::LpQuote(_)
            | EventKind::LpError(_)
            | EventKind::Unverified(_)
            | EventKind::Released(_)
            | EventKind::Locked(_)
            | EventKind::OrderSent(_)
            | EventKind::OrderRejected(_)
            | EventKind::LpHealth(_)
            | EventKind::BlotterError(_) => return None,
        };
        self.seq += 1;
        Some(ClientEvent {
            kind,
            rfq_id: event.rfq_id.clone(),
            seq: self.seq,
            t_ms: event.t_ms,
        })
    }
}

/// The client's view of a whole stream's desk events.
pub fn client_view<'a>(events: impl IntoIterator<Item = &'a RfqEvent>) -> Vec<ClientEvent> {
    let mut view = ClientView::new();
    events
        .into_iter()
        .filter_map(|event| view.project(event))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Bps;
    use crate::rfq::event::*;
    use rstest::rstest;
    use rust_decimal_macros::dec;

    fn btcusdt() -> Pair {
        "BTCUSDT".parse().unwrap()
    }

    fn asset(code: &str) -> Asset {
        Asset::new(code).unwrap()
    }

    fn at(t_ms: StreamMs, kind: EventKind) -> RfqEvent {
        RfqEvent {
            kind,
            rfq_id: Arc::from("R-1"),
            t_ms,
            two_way_side: None,
        }
    }

    fn started() -> EventKind {
        EventKind::Started(Box::new(Started {
            simulated_lps: Vec::new(),
            operator: None,
            channel: crate::rfq::Channel::Operator,
            side: Side::Buy,
            amount: dec!(1.5),
            pair: btcusdt(),
            client: ClientId::new("acme").unwrap(),
            lps: vec![Arc::from("Fader"), Arc::from("Solid")],
            markup_bps: Bps::new(dec!(5)).unwrap(),
            threshold_bps: Bps::new(dec!(1)).unwrap(),
            validity_buffer_ms: 2_000,
            poll_interval_ms: 500,
            lp_timeout_ms: 1_000,
            duration_ms: 30_000,
            speed: Decimal::ONE,
            started_at: "2026-01-19T14:30:25.123Z".into(),
            simulated: true,
            two_way: false,
            fixed: crate::market::Leg::Base,
        }))
    }

    /// Client quote `id` for 1.5 BTC behind `lp` at `lp_price`, 5 bps up.
    fn client_quote(id: &str, lp: &str, lp_price: Decimal, client_price: Decimal) -> EventKind {
        EventKind::ClientQuote(Box::new(ClientQuote {
            simulated: false,
            quote_id: Arc::from(id),
            lp: Arc::from(lp),
            side: Side::Buy,
            lp_price,
            client_price,
            markup_bps: Bps::new(dec!(5)).unwrap(),
            amount: dec!(1.50000000),
            client_pays: client_price * dec!(1.5),
            pays_asset: asset("USDT"),
            client_receives: dec!(1.50000000),
            receives_asset: asset("BTC"),
            client_valid_for_ms: 8_000,
            reason: QuoteReason::First,
        }))
    }

    fn order_sent(lp: &str, quote_id: &str, attempt: u32) -> EventKind {
        EventKind::OrderSent(Box::new(OrderSent {
            simulated: false,
            lp: Arc::from(lp),
            order_id: Arc::from(format!("O-1-{attempt}")),
            quote_id: Arc::from(quote_id),
            venue_ref: Some(Arc::from("venue-quote-77")),
            client_order_id: None,
            lp_price: dec!(99990.00),
            amount: dec!(1.50000000),
            attempt,
            preferred_over: None,
        }))
    }

    fn rejected() -> EventKind {
        EventKind::OrderRejected(OrderRejected {
            lp: Arc::from("Fader"),
            order_id: Arc::from("O-1-1"),
            reason: "last look: price moved".into(),
            hold_ms: 200,
        })
    }

    fn not_filled(reason: &str) -> EventKind {
        EventKind::NotFilled(NotFilled {
            quote_id: Some(Arc::from("Q-2")),
            reason: reason.into(),
        })
    }

    fn unknown() -> EventKind {
        EventKind::ExecutionUnknown(ExecutionUnknown {
            lp: Arc::from("Solid"),
            order_id: Arc::from("O-1-1"),
            reason: "no answer within 10000 ms".into(),
        })
    }

    fn ended(reason: EndReason, outcome: Outcome) -> EventKind {
        EventKind::Ended(Ended {
            simulated: false,
            reason,
            outcome,
            improvements: 3,
            quote_id: Some(Arc::from("Q-2")),
            lp: Some(Arc::from("Solid")),
            client_price: Some(dec!(100045.00)),
        })
    }

    fn client(seq: u64, t_ms: StreamMs, kind: ClientEventKind) -> ClientEvent {
        ClientEvent {
            kind,
            rfq_id: Arc::from("R-1"),
            seq,
            t_ms,
        }
    }

    #[test]
    fn an_accepted_stream_shows_the_client_its_quotes_and_its_fill_only() {
        let desk = [
            at(0, started()),
            at(
                100,
                EventKind::LpQuote(LpQuoteEvent {
                    simulated: false,
                    lp: Arc::from("Fader"),
                    price: dec!(99990.00),
                    quantity: dec!(1.5),
                    latency_ms: 100,
                    valid_for_ms: 10_000,
                    poll: 1,
                }),
            ),
            at(
                100,
                client_quote("Q-1", "Fader", dec!(99990.00), dec!(100039.99)),
            ),
            at(
                120,
                EventKind::Locked(Locked {
                    simulated: false,
                    lp: Arc::from("Fader"),
                    price: dec!(99990.00),
                    previous_lp: None,
                    reason: LockReason::BestOfPoll,
                    corroborated_by: None,
                }),
            ),
            at(
                8_100,
                EventKind::LockExpired(LockExpired {
                    lp: Arc::from("Fader"),
                }),
            ),
            at(
                8_600,
                client_quote("Q-2", "Solid", dec!(99995.00), dec!(100045.00)),
            ),
            at(9_000, order_sent("Fader", "Q-2", 1)),
            at(9_200, rejected()),
            at(9_200, order_sent("Solid", "Q-2", 2)),
            at(
                9_260,
                EventKind::Filled(Box::new(Filled {
                    simulated: false,
                    lp: Arc::from("Solid"),
                    order_id: Arc::from("O-1-2"),
                    quote_id: Arc::from("Q-2"),
                    lp_price: dec!(99995.00),
                    client_price: dec!(100045.00),
                    amount: dec!(1.50000000),
                    client_pays: dec!(150067.50),
                    pays_asset: asset("USDT"),
                    client_receives: dec!(1.50000000),
                    receives_asset: asset("BTC"),
                    desk_pnl: dec!(75.00),
                    pnl_asset: asset("USDT"),
                    hold_ms: 60,
                    venue_order_id: Some(Arc::from("venue-fill-9")),
                })),
            ),
            at(9_260, ended(EndReason::Accepted, Outcome::Filled)),
        ];
        let quote = |quote_id: &str, price, pays| {
            ClientEventKind::Quote(Quote {
                simulated: false,
                quote_id: Arc::from(quote_id),
                side: Side::Buy,
                amount: dec!(1.50000000),
                price,
                client_pays: pays,
                pays_asset: asset("USDT"),
                client_receives: dec!(1.50000000),
                receives_asset: asset("BTC"),
                valid_for_ms: 8_000,
            })
        };
        let expected = vec![
            client(
                1,
                0,
                ClientEventKind::Opened(Opened {
                    client: ClientId::new("acme").unwrap(),
                    side: Side::Buy,
                    pair: btcusdt(),
                    amount: dec!(1.50000000),
                    two_way: false,
                    fixed: crate::market::Leg::Base,
                }),
            ),
            client(2, 100, quote("Q-1", dec!(100039.99), dec!(150059.985))),
            client(
                3,
                8_100,
                ClientEventKind::QuoteWithdrawn(QuoteWithdrawn {
                    quote_id: Arc::from("Q-1"),
                    reason: WithdrawReason::Expired,
                }),
            ),
            client(4, 8_600, quote("Q-2", dec!(100045.00), dec!(150067.50))),
            client(
                5,
                9_000,
                ClientEventKind::OrderPending(OrderPending {
                    quote_id: Arc::from("Q-2"),
                }),
            ),
            client(
                6,
                9_260,
                ClientEventKind::OrderFilled(OrderFilled {
                    simulated: false,
                    quote_id: Arc::from("Q-2"),
                    price: dec!(100045.00),
                    amount: dec!(1.50000000),
                    client_pays: dec!(150067.50),
                    pays_asset: asset("USDT"),
                    client_receives: dec!(1.50000000),
                    receives_asset: asset("BTC"),
                }),
            ),
            client(
                7,
                9_260,
                ClientEventKind::Ended(ClientEnded {
                    reason: ClientEndReason::Accepted,
                    outcome: ClientOutcome::Filled,
                    quote_id: Some(Arc::from("Q-2")),
                    price: Some(dec!(100045.00)),
                }),
            ),
        ];
        let projected = client_view(&desk);
        assert_eq!(projected, expected);
        for event in &projected {
            let json = serde_json::to_string(event).unwrap();
            let back: ClientEvent = serde_json::from_str(&json).unwrap();
            assert_eq!(&back, event, "{json}");
        }
    }

    #[test]
    fn a_quote_travels_as_exactly_these_fields() {
        let mut view = ClientView::new();
        let quote = view
            .project(&at(
                100,
                client_quote("Q-1", "Fader", dec!(99990.00), dec!(100039.99)),
            ))
            .unwrap();
        let quote_json = r#"{"event":"quote","quote_id":"Q-1","side":"buy","amount":"1.50000000","price":"100039.99","client_pays":"150059.985","pays_asset":"USDT","client_receives":"1.50000000","receives_asset":"BTC","valid_for_ms":8000,"rfq_id":"R-1","seq":1,"t_ms":100}"#;
        assert_eq!(serde_json::to_string(&quote).unwrap(), quote_json);
        let opened = view.project(&at(0, started())).unwrap();
        let opened_json = r#"{"event":"opened","client":"acme","side":"buy","pair":"BTCUSDT","amount":"1.50000000","rfq_id":"R-1","seq":2,"t_ms":0}"#;
        assert_eq!(serde_json::to_string(&opened).unwrap(), opened_json);
        // And the same words read back as the same events.
        let read = |json| serde_json::from_str::<ClientEvent>(json).unwrap();
        assert_eq!(read(quote_json), quote);
        assert_eq!(read(opened_json), opened);
    }

    #[test]
    fn a_client_event_with_a_market_word_out_of_shape_is_refused() {
        // Held to the market types' own rules, as an operator's input is.
        let quote = r#"{"event":"quote","quote_id":"Q-1","side":"buy","amount":"1.5","price":"100039.99","client_pays":"150059.985","pays_asset":"USDT","client_receives":"1.5","receives_asset":"btc","valid_for_ms":8000,"rfq_id":"R-1","seq":1,"t_ms":100}"#;
        let error = serde_json::from_str::<ClientEvent>(quote).unwrap_err();
        assert_eq!(
            error.to_string(),
            "'btc' is not an asset code (upper-case letters and digits, at most 10) at line 1 column 230"
        );
        let opened = r#"{"event":"opened","client":"acme","side":"hold","pair":"BTCUSDT","amount":"1.5","rfq_id":"R-1","seq":1,"t_ms":0}"#;
        let error = serde_json::from_str::<ClientEvent>(opened).unwrap_err();
        assert_eq!(
            error.to_string(),
            "side 'hold' is not one of b, buy, s, sell at line 1 column 112"
        );
    }

    #[rstest]
    #[case::lp_quote(EventKind::LpQuote(LpQuoteEvent { simulated: false,
        lp: Arc::from("Fader"), price: dec!(99990.00), quantity: dec!(1.5),
        latency_ms: 100, valid_for_ms: 10_000, poll: 1,
    }))]
    #[case::lp_error(EventKind::LpError(LpErrorEvent {
        lp: Arc::from("Fader"), kind: FailureKind::Declined, reason: "no".into(),
        latency_ms: 80, poll: 1,
    }))]
    #[case::locked(EventKind::Locked(Locked { simulated: false,
        lp: Arc::from("Fader"), price: dec!(99990.00), previous_lp: None,
        reason: LockReason::BestOfPoll, corroborated_by: None,
    }))]
    #[case::order_rejected(rejected())]
    #[case::lp_health(EventKind::LpHealth(LpHealthEvent {
        lp: Arc::from("Fader"), state: HealthState::Down, retry_in_ms: Some(5_000),
        reject_rate: dec!(40.0), fading: true, reason: Some(Arc::from("timeouts")),
    }))]
    #[case::blotter_error(EventKind::BlotterError(BlotterErrorEvent {
        reason: "disk full".into(),
    }))]
    // Nothing was live: there is no quote to withdraw.
    #[case::expiry_with_nothing_live(EventKind::LockExpired(LockExpired {
        lp: Arc::from("Fader"),
    }))]
    fn desk_only_events_show_the_client_nothing(#[case] kind: EventKind) {
        // The desk does not even hand a client RFQ's task the LP-private
        // ones; a blotter error it hands on (the task withdraws its quote
        // for it), and an expiry (it may withdraw one).
        let handed_on = matches!(kind, EventKind::BlotterError(_) | EventKind::LockExpired(_));
        assert_eq!(keeps_for_client(&kind), handed_on, "{kind:?}");
        let mut view = ClientView::new();
        assert_eq!(view.project(&at(100, kind)), None);
        // Nothing shown takes no number: the next event is still the first.
        assert_eq!(view.project(&at(0, started())).unwrap().seq, 1);
    }

    #[test]
    fn a_refused_acceptance_is_a_quote_not_live_without_the_desks_words() {
        let projected = client_view(&[at(
            9_000,
            not_filled("quote Q-2 was replaced by Q-3 before it was accepted"),
        )]);
        assert_eq!(
            projected,
            [client(
                1,
                9_000,
                ClientEventKind::OrderNotFilled(OrderNotFilled {
                    quote_id: Some(Arc::from("Q-2")),
                    reason: NotFilledReason::QuoteNotLive,
                })
            )]
        );
    }

    #[test]
    fn every_lp_rejecting_is_no_fill_without_their_names() {
        let projected = client_view(&[
            at(9_000, order_sent("Fader", "Q-2", 1)),
            at(9_200, rejected()),
            at(
                9_200,
                not_filled("rejected by Fader (last look: price moved); no other firm LP quote honours the client price 100045.00"),
            ),
        ]);
        assert_eq!(
            projected[1].kind,
            ClientEventKind::OrderNotFilled(OrderNotFilled {
                quote_id: Some(Arc::from("Q-2")),
                reason: NotFilledReason::NoFill,
            })
        );
        assert_eq!(projected.len(), 2);
    }

    #[test]
    fn an_unknown_outcome_names_the_accepted_quote_only() {
        let projected = client_view(&[
            at(9_000, order_sent("Solid", "Q-2", 1)),
            at(19_000, unknown()),
        ]);
        assert_eq!(
            projected[1],
            client(
                2,
                19_000,
                ClientEventKind::OrderUnknown(OrderUnknown {
                    quote_id: Arc::from("Q-2"),
                })
            )
        );
    }

    #[rstest]
    #[case(EndReason::Duration, Outcome::NotAccepted, "duration", "not_accepted")]
    #[case(EndReason::Interrupted, Outcome::Unknown, "interrupted", "unknown")]
    #[case(EndReason::NoQuotes, Outcome::NotAccepted, "no_quotes", "not_accepted")]
    #[case(EndReason::Accepted, Outcome::NotFilled, "accepted", "not_filled")]
    #[case(EndReason::Accepted, Outcome::Filled, "accepted", "filled")]
    fn the_end_keeps_reason_and_outcome_and_drops_the_lp(
        #[case] reason: EndReason,
        #[case] outcome: Outcome,
        #[case] reason_word: &str,
        #[case] outcome_word: &str,
    ) {
        let ended = client_view(&[at(30_000, ended(reason, outcome))]);
        assert_eq!(
            serde_json::to_string(&ended[0]).unwrap(),
            format!(
                r#"{{"event":"ended","reason":"{reason_word}","outcome":"{outcome_word}","quote_id":"Q-2","price":"100045.00","rfq_id":"R-1","seq":1,"t_ms":30000}}"#
            )
        );
    }
}
