//! The desk server's wire (`lp-rfq serve`, `--desk ws://…`): the JSON
//! messages an operator's connection carries each way, one per WebSocket
//! text frame, and the protocol version both ends must share. Stream
//! events travel as the desk numbers them ([`Sequenced`]); commands are
//! the stream's own ([`StreamCommand`]). Documented in docs/protocol.md.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::desk::registry::Quotable;
use crate::market::{Bps, Pair, Side};
use crate::rfq::request::RequestParams;
use crate::rfq::{ClientId, RfqEvent, StreamCommand};
use crate::secret::Secret;
use crate::streams::{
    ClientPauses, DeskEvent, Detached, LiveRfq, LpHealthRow, Refusal, Sequenced, Snapshot,
};

/// The protocol this build speaks. A peer with another is refused by
/// name in the handshake, before anything else is said. Version 2 added
/// the request's own terms to `start` (client, two-way, markup,
/// threshold): a version 1 desk would drop them and quote for the house,
/// so the two must not talk.
pub const PROTOCOL_VERSION: u32 = 2;

/// The server's address when `--listen` names none.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7411";

/// The environment variable an operator's token is sent from (never a
/// command-line flag: a command line is visible to every user of the
/// machine).
pub const TOKEN_ENV: &str = "LP_RFQ_TOKEN";

/// What an operator's connection sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ClientMessage {
    /// The first message: the protocol spoken and the operator's token.
    Hello {
        protocol: u32,
        /// Never printed: `Debug` shows `[redacted]`.
        #[serde(default, with = "token_on_wire")]
        token: Option<Secret>,
    },
    /// Start an RFQ for this operator; answered by `started` or
    /// `start_refused` carrying the same `request`.
    Start {
        request: u64,
        side: Side,
        amount: rust_decimal::Decimal,
        pair: Pair,
        /// The operator confirmed a notional above a limit: the desk then
        /// takes a request above its own MAX_NOTIONAL too.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        confirm_notional: bool,
        /// The leg `amount` is in: `quote` for an amount of the quote
        /// currency; left out (and so understood by an older server) for
        /// the base.
        #[serde(default, skip_serializing_if = "crate::market::Leg::is_base")]
        fixed: crate::market::Leg,
        /// The request's own terms; each one left out is the desk's.
        #[serde(flatten)]
        terms: StartTerms,
    },
    /// A command to a stream this connection started or attached to.
    Command {
        rfq_id: Arc<str>,
        #[serde(flatten)]
        command: StreamCommand,
    },
    /// Follow a live RFQ (a head of desk): its snapshot, then its events.
    Attach { rfq_id: Arc<str> },
    /// Desk-wide facts from now on: the live RFQs, then every `desk_event`.
    SubscribeDesk,
    /// Pause client `client` desk-wide: its new requests are refused and
    /// its live RFQs stopped. Answered by `client_pauses` or
    /// `control_refused` with the same `request`.
    PauseClient { request: u64, client: String },
    /// Resume client `client`; answered as `pause_client`.
    ResumeClient { request: u64, client: String },
    /// Turn the kill switch on (every client paused) or off; answered as
    /// `pause_client`.
    KillSwitch { request: u64, on: bool },
}

/// What a `start` brings beside the trade: whom it is for and the terms
/// it asks for. The desk holds them to its clients file and its limits
/// as it would a request of its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartTerms {
    /// The client the request is for (the house when absent); a name the
    /// desk's clients file does not list is refused by name. Read as text
    /// so that a bad name is refused as this `start`, not as an
    /// unreadable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Both sides are quoted (the trade's side is not used); the client's
    /// side is named when it accepts (`accept_side`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub two_way: bool,
    /// A markup in place of the client's (or the desk's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub markup_bps: Option<Bps>,
    /// An improvement threshold in place of the desk's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_bps: Option<Bps>,
}

impl StartTerms {
    /// The terms `params` carries, as `start` sends them.
    pub fn of(params: &RequestParams) -> StartTerms {
        StartTerms {
            client: params.named_client().map(|client| client.to_string()),
            two_way: params.two_way(),
            markup_bps: params.markup(),
            threshold_bps: params.threshold(),
        }
    }

    /// The request's params for `operator`; a client name that is not
    /// one is refused with why.
    pub fn params(&self, operator: Arc<str>) -> Result<RequestParams, String> {
        let mut params = RequestParams::default().with_operator(operator);
        if let Some(name) = &self.client {
            let client = ClientId::new(name.trim())
                .map_err(|error| format!("invalid client '{name}': {error}"))?;
            params = params.with_client(client);
        }
        if self.two_way {
            params = params.with_two_way();
        }
        if let Some(markup) = self.markup_bps {
            params = params.with_markup(markup);
        }
        if let Some(threshold) = self.threshold_bps {
            params = params.with_threshold(threshold);
        }
        Ok(params)
    }
}

/// What the server sends an operator's connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The handshake passed: who the operator is and what the desk offers.
    Welcome {
        protocol: u32,
        operator: Arc<str>,
        desk: DeskFacts,
        /// The `ended` events of this operator's RFQs that ended after
        /// their connection had gone (an order out was waited for): what
        /// the operator could not see then, kept by the desk for a while.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ended_while_away: Vec<RfqEvent>,
    },
    /// The handshake failed (the connection closes after it): why.
    Refused { reason: String },
    /// `start` number `request` is running as `rfq_id`; its events follow.
    Started {
        request: u64,
        rfq_id: Arc<str>,
        /// How many thousandths of real time stream time runs at.
        speed_per_mille: u64,
    },
    /// `start` number `request` did not start: why. `request_error` when
    /// the request itself is what cannot be used (under the pair's
    /// minimum, terms beyond the desk's limits); otherwise the desk
    /// cannot take it now (its blotter cannot write).
    StartRefused {
        request: u64,
        reason: String,
        request_error: bool,
    },
    /// One event of a stream, numbered by the desk.
    Event(Sequenced),
    /// What an attach found: the stream so far; its events follow.
    Snapshot(Snapshot),
    /// An attach that found no live stream of that id.
    AttachRefused { rfq_id: Arc<str>, reason: String },
    /// An attached stream sends nothing more: why.
    Detached {
        rfq_id: Arc<str>,
        #[serde(flatten)]
        why: Detached,
    },
    /// A command the stream did not take, and why.
    CommandRefused {
        rfq_id: Arc<str>,
        #[serde(flatten)]
        why: Refusal,
    },
    /// The desk view when it was subscribed to (and again whenever the
    /// connection fell behind the desk's events): the RFQs live then,
    /// each one's row, every LP's health and the client pauses.
    LiveRfqs {
        rfq_ids: Vec<Arc<str>>,
        #[serde(default)]
        rfqs: Vec<LiveRfq>,
        #[serde(default)]
        lps: Vec<LpHealthRow>,
        #[serde(default)]
        pauses: ClientPauses,
    },
    /// A `pause_client`, `resume_client` or `kill_switch` (number
    /// `request`) was done: whether it changed anything (`false`: it was
    /// already so), the RFQs it stopped, and the desk's pauses now.
    ClientPauses {
        request: u64,
        changed: bool,
        #[serde(default)]
        stopped: Vec<Arc<str>>,
        pauses: ClientPauses,
    },
    /// A `pause_client`, `resume_client` or `kill_switch` the desk did
    /// not do: why (an unknown client, named with those the desk knows).
    ControlRefused { request: u64, reason: String },
    /// A desk-wide fact.
    Desk(DeskEvent),
    /// A message the server could not read: what was wrong with it.
    BadMessage { reason: String },
    /// The connection is being closed by the server: why (the desk is
    /// stopping; the connection fell too far behind).
    Closing { reason: String },
}

/// What an operator needs to know of the desk before asking it anything:
/// the terms its streams run at and who they ask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeskFacts {
    pub markup_bps: Bps,
    pub threshold_bps: Bps,
    pub duration_ms: u64,
    /// Every LP a stream asks, and whether it is a simulation.
    pub lps: Vec<DeskLp>,
    /// The pairs the LPs quote; `null` when some LP does not say (every
    /// pair is asked).
    pub pairs: Option<Vec<Pair>>,
    /// Every LP is a simulation: no price is real.
    pub simulated: bool,
    /// The clients a request may name, in the clients file's order (names
    /// only: their terms stay on the desk); empty when the desk has no
    /// clients file (every request is the house's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientId>,
}

/// One LP of the desk as an operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeskLp {
    pub name: Arc<str>,
    pub simulated: bool,
}

impl DeskFacts {
    /// The pairs the desk's LPs quote, as the entry checks use them.
    pub fn quotable(&self) -> Quotable {
        match &self.pairs {
            None => Quotable::Any,
            Some(pairs) => Quotable::Only(pairs.clone()),
        }
    }
}

/// The token is the one secret the wire carries: written from the
/// [`Secret`] at the one place that sends it, read straight into one.
mod token_on_wire {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::secret::Secret;

    pub(super) fn serialize<S: Serializer>(
        token: &Option<Secret>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match token {
            Some(token) => s.serialize_some(token.expose()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.map(Secret::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire shapes docs/protocol.md shows, both ways.
    #[test]
    fn messages_read_and_write_as_documented() {
        let accept: ClientMessage = serde_json::from_str(
            r#"{"op":"command","rfq_id":"R1","command":"accept","quote_id":"Q1"}"#,
        )
        .unwrap();
        assert_eq!(
            accept,
            ClientMessage::Command {
                rfq_id: Arc::from("R1"),
                command: StreamCommand::Accept {
                    quote_id: Some(Arc::from("Q1"))
                }
            }
        );
        let start: ClientMessage = serde_json::from_str(
            r#"{"op":"start","request":7,"side":"buy","amount":"1.5","pair":"BTCUSDT"}"#,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&start).unwrap(),
            r#"{"op":"start","request":7,"side":"buy","amount":"1.5","pair":"BTCUSDT"}"#
        );
        let for_acme: ClientMessage = serde_json::from_str(
            r#"{"op":"start","request":8,"side":"buy","amount":"1","pair":"BTCUSDT","client":"acme","two_way":true,"markup_bps":"3.5"}"#,
        )
        .unwrap();
        let ClientMessage::Start { terms, .. } = &for_acme else {
            panic!("a start: {for_acme:?}");
        };
        let params = terms.params(Arc::from("alice")).unwrap();
        assert_eq!(
            (
                params.client().as_str(),
                params.two_way(),
                params.markup().map(|m| m.to_string()),
                params.threshold()
            ),
            ("acme", true, Some("3.5".to_string()), None)
        );
        assert_eq!(StartTerms::of(&params), *terms);
        let bad = StartTerms {
            client: Some("a b".into()),
            ..StartTerms::default()
        };
        assert!(bad
            .params(Arc::from("alice"))
            .unwrap_err()
            .starts_with("invalid client 'a b': "));
        let detached = ServerMessage::Detached {
            rfq_id: Arc::from("R1"),
            why: Detached::TooSlow {
                buffer: 1024,
                missed: 9,
            },
        };
        assert_eq!(
            serde_json::to_string(&detached).unwrap(),
            r#"{"type":"detached","rfq_id":"R1","detached":"too_slow","buffer":1024,"missed":9}"#
        );
        let pause: ClientMessage =
            serde_json::from_str(r#"{"op":"pause_client","request":3,"client":"acme"}"#).unwrap();
        assert_eq!(
            pause,
            ClientMessage::PauseClient {
                request: 3,
                client: "acme".into()
            }
        );
        let kill: ClientMessage =
            serde_json::from_str(r#"{"op":"kill_switch","request":4,"on":true}"#).unwrap();
        assert_eq!(
            kill,
            ClientMessage::KillSwitch {
                request: 4,
                on: true
            }
        );
        let done = ServerMessage::ClientPauses {
            request: 3,
            changed: true,
            stopped: vec![Arc::from("R1")],
            pauses: ClientPauses {
                kill_switch: None,
                paused: vec![crate::streams::PausedClient {
                    client: ClientId::new("acme").unwrap(),
                    mark: crate::streams::PauseMark {
                        by: Arc::from("alice"),
                        at: "2026-12-07T10:00:00.000Z".into(),
                    },
                }],
            },
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"type":"client_pauses","request":3,"changed":true,"stopped":["R1"],"pauses":{"paused":[{"client":"acme","by":"alice","at":"2026-12-07T10:00:00.000Z"}]}}"#
        );
        let stop: ClientMessage =
            serde_json::from_str(r#"{"op":"command","rfq_id":"R1","command":"stop"}"#).unwrap();
        assert_eq!(
            stop,
            ClientMessage::Command {
                rfq_id: Arc::from("R1"),
                command: StreamCommand::Stop
            }
        );
    }
}
