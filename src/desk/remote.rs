//! An operator's connection to a desk server (`--desk ws://HOST:PORT`,
//! or `wss://` to one serving TLS, checked against [`DeskTrust`]): the
//! handshake, then streams started on the server that look, to the
//! consumer, like streams of a desk in this process ([`StreamHandle`]s).
//! One task reads the connection and routes each message to its stream;
//! one writes what the streams' inboxes and the operator send. A lost
//! connection ends every stream it carried with [`DeskLost`], which says
//! what was last known of the stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::Message;

use crate::clock::StreamClock;
use crate::desk::protocol::{
    ClientMessage, DeskFacts, ServerMessage, StartTerms, PROTOCOL_VERSION,
};
use crate::desk::{PauseControl, StreamHandle, COMMAND_BUFFER};
use crate::rfq::event::{Ended, EventKind};
use crate::rfq::{QuoteRequest, RfqEvent};
use crate::secret::Secret;
use crate::streams::DeskEvent;
use crate::tls::DeskTrust;

/// Events buffered between the connection and a stream's consumer.
const EVENT_BUFFER: usize = 1024;
/// The largest message the server may send (a snapshot of many LPs is
/// the largest there is): anything bigger is not a desk speaking.
const MAX_MESSAGE: usize = 4 << 20;
/// How long the desk has to connect, open TLS, upgrade and welcome: a
/// desk that does not is not one to wait on (a TLS hello sent to a plain
/// server, or the reverse, must fail, not hang).
const CONNECT_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a desk server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot reach the desk at '{url}': {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the desk at '{url}' refused this operator: {reason}")]
    Refused { url: String, reason: String },
    #[error("the desk at '{url}' did not complete the handshake: {reason}")]
    Handshake { url: String, reason: String },
    #[error("no secure connection to the desk at '{url}': {reason}")]
    Tls { url: String, reason: String },
}

/// The desk was lost while a stream ran on it: what was last known.
#[derive(Debug, thiserror::Error)]
#[error("lost the desk at '{url}' during RFQ {rfq_id}: {reason}; last known: {last_known}")]
pub struct DeskLost {
    pub url: String,
    pub rfq_id: Arc<str>,
    pub reason: String,
    pub last_known: String,
    /// An order was out and its outcome never arrived: unknown here.
    pub order_out: bool,
}

impl DeskLost {
    /// The operator's exit code: 3 when an order was out (its outcome is
    /// unknown here), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.order_out {
            3
        } else {
            1
        }
    }
}

/// The desk was lost while no stream ran on it.
#[derive(Debug, thiserror::Error)]
#[error("lost the desk at '{url}': {reason}")]
pub struct DeskGone {
    pub url: String,
    pub reason: String,
}

/// A start the server refused.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct StartRefused {
    pub reason: String,
    /// The request itself cannot be used (exit code 2), rather than the
    /// desk not taking it now.
    pub request_error: bool,
}

/// A connected desk server; see the module docs.
pub struct RemoteDesk {
    url: String,
    operator: Arc<str>,
    facts: DeskFacts,
    outgoing: mpsc::UnboundedSender<ClientMessage>,
    routes: Arc<Routes>,
    next_request: AtomicU64,
    desk_subscribed: std::sync::atomic::AtomicBool,
}

/// Where the reader task sends what arrives.
struct Routes {
    url: String,
    state: Mutex<RouteState>,
    desk_events: broadcast::Sender<DeskEvent>,
    /// Why the connection was lost, once it is: for a consumer with no
    /// stream running, which no stream's end would tell.
    gone: tokio::sync::watch::Sender<Option<String>>,
    /// The welcome's `ended_while_away` (kept here, beside the rest of
    /// what the connection said, to keep the desk handle small).
    ended_while_away: Vec<RfqEvent>,
}

#[derive(Default)]
struct RouteState {
    starting: HashMap<u64, oneshot::Sender<Result<Begun, StartRefused>>>,
    /// Pause, resume and kill switch requests waiting for their answer.
    controls: HashMap<u64, oneshot::Sender<Result<crate::desk::PauseChange, String>>>,
    streams: HashMap<Arc<str>, Route>,
    /// Set once the connection is gone: why.
    lost: Option<String>,
    /// What the server said when it closed the connection.
    closing: Option<String>,
}

/// A stream the desk started: its channels, made when `started` arrived
/// so that none of its events can come before them.
struct Begun {
    rfq_id: Arc<str>,
    speed_per_mille: u64,
    events: mpsc::Receiver<RfqEvent>,
    ended: oneshot::Receiver<anyhow::Result<Ended>>,
}

/// One stream the connection carries.
struct Route {
    events: mpsc::Sender<RfqEvent>,
    ended: Option<oneshot::Sender<anyhow::Result<Ended>>>,
    last: LastKnown,
}

/// What a consumer would need to know if the desk went away now.
#[derive(Default)]
struct LastKnown {
    seq: u64,
    quote: Option<String>,
    order_out: Option<String>,
}

impl LastKnown {
    fn note(&mut self, seq: u64, event: &RfqEvent) {
        self.seq = seq;
        match &event.kind {
            EventKind::ClientQuote(quote) => {
                self.quote = Some(format!(
                    "client quote {} at {} from {}",
                    quote.quote_id, quote.client_price, quote.lp
                ))
            }
            EventKind::LockExpired(_) => self.quote = None,
            EventKind::OrderSent(order) => {
                self.order_out = Some(format!(
                    "order {} out to {} at {} for quote {}",
                    order.order_id, order.lp, order.lp_price, order.quote_id
                ))
            }
            EventKind::OrderRejected(_)
            | EventKind::Filled(_)
            | EventKind::ExecutionUnknown(_)
            | EventKind::NotFilled(_) => self.order_out = None,
            _ => {}
        }
    }

    fn describe(&self) -> String {
        let mut said = format!("event {}", self.seq);
        if let Some(order) = &self.order_out {
            said.push_str(&format!(
                ", {order} (its outcome is unknown here: check the blotter or the LP)"
            ));
        } else if let Some(quote) = &self.quote {
            said.push_str(&format!(", {quote}"));
        } else {
            said.push_str(", no live client quote");
        }
        said
    }
}

impl Routes {
    fn state(&self) -> MutexGuard<'_, RouteState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection is gone: every stream it carried ends with why.
    fn lose(&self, reason: String) {
        let mut state = self.state();
        let reason = state.closing.clone().unwrap_or(reason);
        state.lost = Some(reason.clone());
        self.gone.send_replace(Some(reason.clone()));
        state.starting.clear();
        state.controls.clear();
        for (rfq_id, mut route) in state.streams.drain() {
            if let Some(ended) = route.ended.take() {
                let _ = ended.send(Err(DeskLost {
                    url: self.url.clone(),
                    rfq_id,
                    reason: reason.clone(),
                    last_known: route.last.describe(),
                    order_out: route.last.order_out.is_some(),
                }
                .into()));
            }
        }
    }
}

impl RemoteDesk {
    /// Connects to the desk at `url` and says hello with `token`; refused
    /// by the desk, the error says why in its words (never the token). A
    /// `wss://` desk is trusted by the public roots only.
    pub async fn connect(url: &str, token: Option<Secret>) -> Result<RemoteDesk, RemoteError> {
        RemoteDesk::connect_with(url, token, &DeskTrust::public()).await
    }

    /// [`RemoteDesk::connect`], trusting a `wss://` desk by `trust`.
    pub async fn connect_with(
        url: &str,
        token: Option<Secret>,
        trust: &DeskTrust,
    ) -> Result<RemoteDesk, RemoteError> {
        let unreachable = |reason: String| RemoteError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let secure = url.starts_with("wss://");
        if !(url.starts_with("ws://") || secure) {
            return Err(unreachable(
                "--desk must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:7411".into(),
            ));
        }
        let request = url
            .into_client_request()
            .map_err(|error| unreachable(error.to_string()))?;
        let host = request
            .uri()
            .host()
            .ok_or_else(|| unreachable("the URL names no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = request
            .uri()
            .port_u16()
            .unwrap_or(if secure { 443 } else { 80 });
        let attached = tokio::time::timeout(CONNECT_WITHIN, async {
            let socket = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|error| unreachable(error.to_string()))?;
            let _ = socket.set_nodelay(true);
            if secure {
                let stream =
                    trust
                        .connect(&host, socket)
                        .await
                        .map_err(|reason| RemoteError::Tls {
                            url: url.to_string(),
                            reason,
                        })?;
                RemoteDesk::attach(url, request, stream, token).await
            } else {
                RemoteDesk::attach(url, request, socket, token).await
            }
        })
        .await;
        attached.unwrap_or_else(|_| {
            Err(unreachable(format!(
                "no answer within {} s",
                CONNECT_WITHIN.as_secs()
            )))
        })
    }

    /// The WebSocket upgrade over `stream` (plain or TLS: the rest is the
    /// same over either), the hello, and the connection's tasks.
    async fn attach<S>(
        url: &str,
        request: Request,
        stream: S,
        token: Option<Secret>,
    ) -> Result<RemoteDesk, RemoteError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let unreachable = |reason: String| RemoteError::Unreachable {
            url: url.to_string(),
            reason,
        };
        let handshake = |reason: &str| RemoteError::Handshake {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE));
        let (mut socket, _) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                .await
                .map_err(|error| unreachable(upgrade_failed(url, error)))?;
        let hello = ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            token,
        };
        socket
            .send(Message::text(
                serde_json::to_string(&hello).expect("plain data"),
            ))
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        let (operator, facts, ended_while_away) = loop {
            let Some(message) = socket.next().await else {
                return Err(handshake("the connection closed"));
            };
            let text = match message {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(_)) => return Err(handshake("the connection closed")),
                Ok(_) => continue,
                Err(error) => return Err(handshake(&error.to_string())),
            };
            match serde_json::from_str::<ServerMessage>(text.as_str()) {
                Ok(ServerMessage::Welcome {
                    operator,
                    desk,
                    ended_while_away,
                    ..
                }) => break (operator, desk, ended_while_away),
                Ok(ServerMessage::Refused { reason }) => {
                    return Err(RemoteError::Refused {
                        url: url.to_string(),
                        reason,
                    })
                }
                Ok(_) => return Err(handshake("it spoke before welcoming")),
                Err(error) => return Err(handshake(&format!("unreadable message: {error}"))),
            }
        };
        let routes = Arc::new(Routes {
            url: url.to_string(),
            state: Mutex::new(RouteState::default()),
            desk_events: broadcast::channel(256).0,
            gone: tokio::sync::watch::channel(None).0,
            ended_while_away,
        });
        let (outgoing, mut to_send) = mpsc::unbounded_channel::<ClientMessage>();
        let (mut sink, mut stream) = socket.split();
        tokio::spawn(async move {
            while let Some(message) = to_send.recv().await {
                let text = serde_json::to_string(&message).expect("plain data");
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader = routes.clone();
        tokio::spawn(async move {
            let why = loop {
                match stream.next().await {
                    None => break "the connection closed".to_string(),
                    Some(Err(error)) => break error.to_string(),
                    Some(Ok(Message::Text(text))) => {
                        match serde_json::from_str::<ServerMessage>(text.as_str()) {
                            Ok(message) => reader.route(message).await,
                            Err(error) => tracing::warn!("unreadable desk message: {error}"),
                        }
                    }
                    Some(Ok(Message::Close(_))) => break "the desk closed the connection".into(),
                    Some(Ok(_)) => {}
                }
            };
            reader.lose(why);
        });
        Ok(RemoteDesk {
            url: url.to_string(),
            operator,
            facts,
            outgoing,
            routes,
            next_request: AtomicU64::new(1),
            desk_subscribed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Completes once the connection to the desk is lost: why.
    pub async fn lost(&self) -> DeskGone {
        let mut gone = self.routes.gone.subscribe();
        let reason = match gone.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => "the connection closed".to_string(),
        };
        DeskGone {
            url: self.url.clone(),
            reason,
        }
    }

    /// The desk's address as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The operator the desk knows this connection as.
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// How this operator's RFQs that ended after an earlier connection
    /// had gone ended, as the welcome said: the last line of each, for
    /// the operator to read (an order out then has its outcome here).
    pub fn ended_while_away(&self) -> Vec<String> {
        self.routes
            .ended_while_away
            .iter()
            .filter_map(|event| match &event.kind {
                EventKind::Ended(ended) => Some(describe_away(&event.rfq_id, ended)),
                _ => None,
            })
            .collect()
    }

    /// The desk's terms and LPs, as its welcome said.
    pub fn facts(&self) -> &DeskFacts {
        &self.facts
    }

    /// Every desk-wide fact from now on (asks the server for them once).
    pub fn subscribe_desk(&self) -> broadcast::Receiver<DeskEvent> {
        let receiver = self.routes.desk_events.subscribe();
        if !self.desk_subscribed.swap(true, Ordering::Relaxed) {
            let _ = self.outgoing.send(ClientMessage::SubscribeDesk);
        }
        receiver
    }

    /// Pauses or resumes a client, or turns the kill switch on or off, on
    /// the desk: what came of it, or the desk's refusal (an unknown
    /// client) or the lost connection, in words.
    pub async fn control(&self, control: PauseControl) -> Result<crate::desk::PauseChange, String> {
        let request = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        {
            let mut state = self.routes.state();
            if let Some(lost) = &state.lost {
                return Err(format!("lost the desk at '{}': {lost}", self.url));
            }
            state.controls.insert(request, answer);
        }
        let message = match control {
            PauseControl::Pause(client) => ClientMessage::PauseClient { request, client },
            PauseControl::Resume(client) => ClientMessage::ResumeClient { request, client },
            PauseControl::KillSwitch(on) => ClientMessage::KillSwitch { request, on },
        };
        let _ = self.outgoing.send(message);
        match answered.await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "lost the desk at '{}' before it answered: {}",
                self.url,
                self.routes.state().lost.clone().unwrap_or_default()
            )),
        }
    }

    /// Starts `request` on the desk: its handle once the desk says it
    /// runs; the desk's refusal, or the lost connection, otherwise.
    /// `confirm_notional`: the operator confirmed a notional above a
    /// limit, so the desk may take one above its own.
    pub async fn try_start(
        &self,
        request: QuoteRequest,
        confirm_notional: bool,
    ) -> anyhow::Result<StreamHandle> {
        let number = self.next_request.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        {
            let mut state = self.routes.state();
            if let Some(lost) = &state.lost {
                anyhow::bail!("lost the desk at '{}': {lost}", self.url);
            }
            state.starting.insert(number, answer);
        }
        let spec = request.spec;
        let _ = self.outgoing.send(ClientMessage::Start {
            request: number,
            side: spec.side,
            amount: spec.amount,
            pair: spec.pair,
            confirm_notional,
            fixed: spec.fixed,
            terms: StartTerms::of(&request.params),
        });
        let begun = match answered.await {
            Ok(Ok(started)) => started,
            Ok(Err(refused)) => return Err(refused.into()),
            Err(_) => anyhow::bail!(
                "lost the desk at '{}' before the RFQ started: {}",
                self.url,
                self.routes.state().lost.clone().unwrap_or_default()
            ),
        };
        let (commands, mut inbox) = crate::rfq::inbox::channel(COMMAND_BUFFER);
        let outgoing = self.outgoing.clone();
        let forwarded = begun.rfq_id.clone();
        tokio::spawn(async move {
            while let Some(command) = inbox.recv().await {
                let rfq_id = forwarded.clone();
                if outgoing
                    .send(ClientMessage::Command { rfq_id, command })
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(StreamHandle::remote(
            begun.rfq_id,
            StreamClock::start_with_speed(begun.speed_per_mille),
            begun.events,
            commands,
            begun.ended,
        ))
    }
}

/// Why the upgrade failed, for the operator: a TLS desk reached with
/// `ws://` answers the HTTP upgrade with TLS, or hangs up.
fn upgrade_failed(url: &str, error: tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    let said = error.to_string();
    match error {
        Error::Io(_) | Error::Protocol(_) | Error::HttpFormat(_) | Error::ConnectionClosed
            if url.starts_with("ws://") =>
        {
            format!("{said}: the desk may serve TLS (--tls-cert); then use wss://")
        }
        _ => said,
    }
}

/// `RFQ R… ended while this operator was away (interrupted): filled,
/// quote Q… from FixLP at 100070.01`; an unknown outcome says what to do.
fn describe_away(rfq_id: &str, ended: &Ended) -> String {
    let mut said = format!(
        "RFQ {rfq_id} ended while this operator was away ({}): {}",
        ended.reason.as_str(),
        ended.outcome.as_str()
    );
    if let Some(quote_id) = &ended.quote_id {
        said.push_str(&format!(", quote {quote_id}"));
    }
    if let Some(lp) = &ended.lp {
        said.push_str(&format!(" from {lp}"));
    }
    if let Some(price) = ended.client_price {
        said.push_str(&format!(" at {price}"));
    }
    if ended.outcome == crate::rfq::event::Outcome::Unknown {
        said.push_str(": resolve it with the LP (lp-rfq orders)");
    }
    said
}

impl Routes {
    /// Hands one server message to whoever waits for it.
    async fn route(&self, message: ServerMessage) {
        match message {
            ServerMessage::Started {
                request,
                rfq_id,
                speed_per_mille,
            } => {
                let (events, receiver) = mpsc::channel(EVENT_BUFFER);
                let (ended, summary) = oneshot::channel();
                let mut state = self.state();
                let Some(answer) = state.starting.remove(&request) else {
                    return;
                };
                state.streams.insert(
                    rfq_id.clone(),
                    Route {
                        events,
                        ended: Some(ended),
                        last: LastKnown::default(),
                    },
                );
                let _ = answer.send(Ok(Begun {
                    rfq_id,
                    speed_per_mille,
                    events: receiver,
                    ended: summary,
                }));
            }
            ServerMessage::StartRefused {
                request,
                reason,
                request_error,
            } => {
                if let Some(answer) = self.state().starting.remove(&request) {
                    let _ = answer.send(Err(StartRefused {
                        reason,
                        request_error,
                    }));
                }
            }
            ServerMessage::Event(sequenced) => {
                let ended = match &sequenced.event.kind {
                    EventKind::Ended(ended) => Some(ended.clone()),
                    _ => None,
                };
                let sender = {
                    let mut state = self.state();
                    let Some(route) = state.streams.get_mut(&sequenced.event.rfq_id) else {
                        return;
                    };
                    route.last.note(sequenced.seq, &sequenced.event);
                    route.events.clone()
                };
                let rfq_id = sequenced.event.rfq_id.clone();
                let _ = sender.send(sequenced.event).await;
                if let Some(ended) = ended {
                    if let Some(mut route) = self.state().streams.remove(&rfq_id) {
                        if let Some(summary) = route.ended.take() {
                            let _ = summary.send(Ok(ended));
                        }
                    }
                }
            }
            ServerMessage::Desk(event) => {
                let _ = self.desk_events.send(event);
            }
            ServerMessage::LiveRfqs {
                rfqs, lps, pauses, ..
            } => {
                let _ = self
                    .desk_events
                    .send(DeskEvent::Resync(crate::streams::DeskView {
                        rfqs,
                        lps,
                        pauses,
                    }));
            }
            ServerMessage::ClientPauses {
                request,
                changed,
                stopped,
                pauses,
            } => {
                if let Some(answer) = self.state().controls.remove(&request) {
                    let _ = answer.send(Ok(crate::desk::PauseChange {
                        changed,
                        stopped,
                        pauses,
                    }));
                }
            }
            ServerMessage::ControlRefused { request, reason } => {
                if let Some(answer) = self.state().controls.remove(&request) {
                    let _ = answer.send(Err(reason));
                }
            }
            ServerMessage::Closing { reason } => self.state().closing = Some(reason),
            ServerMessage::BadMessage { reason } => {
                tracing::warn!("the desk could not read a message: {reason}")
            }
            ServerMessage::CommandRefused { rfq_id, why } => {
                tracing::info!(%rfq_id, "the desk refused a command: {why}")
            }
            ServerMessage::Welcome { .. }
            | ServerMessage::Refused { .. }
            | ServerMessage::Snapshot(_)
            | ServerMessage::AttachRefused { .. }
            | ServerMessage::Detached { .. } => {}
        }
    }
}
