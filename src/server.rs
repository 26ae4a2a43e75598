//! `lp-rfq serve`: the desk server. One process owns the desk (the
//! venues' LPs with their one session, health and rate limit each, the
//! blotter, the settings) and every operator attaches to it over a
//! WebSocket (`--desk ws://HOST:PORT`), authenticated by the operators
//! file. Each connection is its own task: it reads the operator's
//! messages, starts their streams on the desk and pumps the streams'
//! numbered events into a bounded outbox that one writer drains; a
//! connection that falls a whole outbox behind is closed with the
//! reason, so no operator can hold the desk back or grow its memory.
//! The wire is `desk::protocol`, documented in docs/protocol.md.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::client_api::ws::ClientTokens;
use crate::client_api::ClientApi;
use crate::desk::protocol::{ClientMessage, ServerMessage, PROTOCOL_VERSION, TOKEN_ENV};
use crate::desk::{Desk, DeskError, StreamHandle};
use crate::operators::Operators;
use crate::rfq::inbox::CommandSender;
use crate::rfq::{QuoteRequest, RfqSpec, StreamCommand};
use crate::signals::Interrupts;
use crate::streams::{Refusal, Sequenced, StreamStopper};

/// Messages a connection may fall behind by before it is closed: a
/// console drains every frame, and a 30 s stream of 10 LPs polling every
/// 100 ms makes about 3,000 events; several streams share one connection.
pub(crate) const CONNECTION_BUFFER: usize = 4096;
/// The largest message an operator may send: every command is a few
/// hundred bytes.
const MAX_OPERATOR_MESSAGE: usize = 64 << 10;
/// How long a new connection has to say hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// How long a closing connection's last words may take to leave.
const FAREWELL_WITHIN: Duration = Duration::from_secs(2);

/// What `serve` was asked to do, checked before the desk opens.
pub struct ServePlan {
    address: SocketAddr,
    /// Where clients' WebSocket sessions are taken (`--client-ws`).
    client_ws: Option<SocketAddr>,
    operators: Operators,
    insecure: bool,
}

/// Checks `--listen`, `--insecure` and the operators file; each refusal
/// names the flag or file to fix.
pub fn plan(
    listen: &str,
    operators: &Path,
    insecure: bool,
    client_ws: Option<&str>,
) -> Result<ServePlan, String> {
    let address: SocketAddr = listen.parse().map_err(|_| {
        format!(
            "invalid --listen '{listen}': expected an IP address and port such as 127.0.0.1:7411"
        )
    })?;
    if !address.ip().is_loopback() && !insecure {
        return Err(format!(
            "--listen '{listen}' is not a loopback address: operators' tokens and trades would cross the network in the clear (this build has no TLS); listen on 127.0.0.1, or pass --insecure to accept that"
        ));
    }
    let client_ws = match client_ws {
        None => None,
        Some(text) => {
            let at: SocketAddr = text.parse().map_err(|_| {
                format!("invalid --client-ws '{text}': expected an IP address and port such as 127.0.0.1:7412")
            })?;
            if !at.ip().is_loopback() && !insecure {
                return Err(format!(
                    "--client-ws '{text}' is not a loopback address: clients' tokens and trades would cross the network in the clear (this build has no TLS); listen on 127.0.0.1, or pass --insecure to accept that"
                ));
            }
            Some(at)
        }
    };
    let operators = Operators::load(operators).map_err(|error| error.to_string())?;
    Ok(ServePlan {
        address,
        client_ws,
        operators,
        insecure,
    })
}

/// Serves `desk` until an interrupt (SIGINT, SIGTERM, SIGHUP): then stops
/// taking connections, stops every stream (an order out is waited for
/// and recorded), tells every operator, and returns once every
/// connection has closed, so that the caller can close the desk.
pub async fn serve(
    desk: Arc<Desk>,
    plan: ServePlan,
    mut interrupts: Interrupts,
) -> anyhow::Result<ExitCode> {
    let listener = match TcpListener::bind(plan.address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("lp-rfq: cannot listen on '{}': {error}", plan.address);
            return Ok(ExitCode::from(2));
        }
    };
    let address = listener.local_addr()?;
    if plan.insecure && !address.ip().is_loopback() {
        eprintln!(
            "lp-rfq: WARNING: --insecure: listening on {address} without TLS: operators' tokens and trades cross the network in the clear"
        );
    }
    let facts = desk.facts();
    eprintln!(
        "lp-rfq: desk serving on ws://{address} · {} operators · {} LPs{}",
        plan.operators.len(),
        facts.lps.len(),
        if facts.simulated { " (SIMULATED)" } else { "" }
    );
    let clients = match plan.client_ws {
        None => None,
        Some(at) => {
            let tokens = match ClientTokens::load(desk.clients()) {
                Ok(tokens) => tokens,
                Err(error) => {
                    eprintln!("lp-rfq: {error}");
                    return Ok(ExitCode::from(2));
                }
            };
            let listener = match TcpListener::bind(at).await {
                Ok(listener) => listener,
                Err(error) => {
                    eprintln!("lp-rfq: cannot listen on '{at}' (--client-ws): {error}");
                    return Ok(ExitCode::from(2));
                }
            };
            eprintln!(
                "lp-rfq: client API (WebSocket) on ws://{}",
                listener.local_addr()?
            );
            Some((listener, Arc::new(tokens), ClientApi::new(desk.clone())))
        }
    };
    let operators = Arc::new(plan.operators);
    let (stopping, stop_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = client_accept(&clients) => match accepted {
                Ok((socket, peer)) => {
                    if let Some((_, tokens, api)) = &clients {
                        let (api, tokens, stop) = (api.clone(), tokens.clone(), stop_seen.clone());
                        connections.spawn(async move {
                            crate::client_api::ws::connection(socket, peer, api, tokens, stop).await;
                        });
                    }
                }
                Err(error) => tracing::warn!("cannot accept a client connection: {error}"),
            },
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let desk = desk.clone();
                    let operators = operators.clone();
                    let stop = stop_seen.clone();
                    connections.spawn(async move {
                        connection(socket, peer, desk, operators, stop).await;
                    });
                }
                // A failed accept (out of descriptors) is that client's
                // problem, not the desk's.
                Err(error) => tracing::warn!("cannot accept a connection: {error}"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            Some(interrupt) = interrupts.recv() => {
                eprintln!("lp-rfq: stopping the desk ({interrupt:?}): every stream stops, orders out are waited for");
                break;
            }
        }
    }
    drop(listener);
    drop(clients);
    let _ = stopping.send(true);
    while connections.join_next().await.is_some() {}
    eprintln!("lp-rfq: desk stopped");
    Ok(ExitCode::SUCCESS)
}

/// The next client connection, when the client API listens (pending
/// forever otherwise).
async fn client_accept(
    clients: &Option<(TcpListener, Arc<ClientTokens>, Arc<ClientApi>)>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    match clients {
        Some((listener, _, _)) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// One operator's connection, from the WebSocket handshake to its close.
async fn connection(
    socket: TcpStream,
    peer: SocketAddr,
    desk: Arc<Desk>,
    operators: Arc<Operators>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let config = WebSocketConfig::default().max_message_size(Some(MAX_OPERATOR_MESSAGE));
    let socket = match tokio_tungstenite::accept_async_with_config(socket, Some(config)).await {
        Ok(socket) => socket,
        Err(error) => {
            tracing::info!(%peer, "not a WebSocket: {error}");
            return;
        }
    };
    let (mut sink, mut incoming) = socket.split();
    let operator = match hello(&mut incoming, &operators).await {
        Ok(operator) => operator,
        Err(reason) => {
            tracing::warn!(%peer, "operator refused: {reason}");
            let refused = ServerMessage::Refused { reason };
            let _ = tokio::time::timeout(FAREWELL_WITHIN, async {
                let _ = sink.send(text(&refused)).await;
                let _ = sink.close().await;
            })
            .await;
            return;
        }
    };
    tracing::info!(%peer, %operator, "operator attached");
    let outbox = Outbox::new();
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        operator: operator.clone(),
        desk: desk.facts(),
    };
    outbox.offer(&welcome);
    let (writer_outbox, to_send) = (outbox.clone(), outbox.take_receiver());
    let mut writer = tokio::spawn(write_out(sink, to_send, writer_outbox));
    let mut session = Operating {
        desk,
        operator: operator.clone(),
        outbox,
        owned: HashMap::new(),
        followed: HashMap::new(),
        pumps: JoinSet::new(),
        followers: JoinSet::new(),
    };
    let mut writer_done = false;
    let stopping = loop {
        tokio::select! {
            frame = incoming.next() => match frame {
                Some(Ok(Message::Text(frame))) => session.on_message(frame.as_str()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break false,
                Some(Ok(_)) => {}
            },
            _ = &mut writer => {
                writer_done = true;
                break false;
            }
            _ = stop.changed() => break true,
            Some(_) = session.pumps.join_next(), if !session.pumps.is_empty() => {}
        }
    };
    session.close(stopping).await;
    if !writer_done {
        let _ = tokio::time::timeout(FAREWELL_WITHIN, &mut writer).await;
        writer.abort();
    }
    tracing::info!(%peer, %operator, "operator left");
}

/// Reads the operator's hello and finds who they are; the refusal says
/// why by name, and never repeats the token.
async fn hello(
    incoming: &mut futures::stream::SplitStream<WebSocketStream<TcpStream>>,
    operators: &Operators,
) -> Result<Arc<str>, String> {
    let first = tokio::time::timeout(HELLO_WITHIN, async {
        loop {
            match incoming.next().await {
                Some(Ok(Message::Text(frame))) => return Some(frame),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .map_err(|_| format!("no hello within {} s", HELLO_WITHIN.as_secs()))?
    .ok_or_else(|| "the connection closed before its hello".to_string())?;
    let Ok(ClientMessage::Hello { protocol, token }) =
        serde_json::from_str::<ClientMessage>(first.as_str())
    else {
        return Err(format!(
            "the first message must be a hello: {{\"op\":\"hello\",\"protocol\":{PROTOCOL_VERSION},\"token\":\"…\"}}"
        ));
    };
    if protocol != PROTOCOL_VERSION {
        return Err(format!(
            "protocol version {protocol} is not this desk's (version {PROTOCOL_VERSION}): use an lp-rfq that speaks version {PROTOCOL_VERSION}"
        ));
    }
    let Some(token) = token else {
        return Err(format!(
            "no operator token: set {TOKEN_ENV} to the token the desk's operators file gives you"
        ));
    };
    match operators.who(&token) {
        Some(operator) => Ok(operator.name.clone()),
        None => Err(format!(
            "the token in {TOKEN_ENV} is not any operator's on this desk"
        )),
    }
}

/// A frame of `message`.
fn text(message: &ServerMessage) -> Message {
    Message::text(serde_json::to_string(message).expect("plain data"))
}

/// A connection's bounded queue of messages out. Offering never waits:
/// a connection a whole queue behind is closed (`overflowed` says why)
/// rather than let anything on the desk wait for it.
#[derive(Clone)]
struct Outbox {
    sender: mpsc::Sender<Message>,
    receiver: Arc<std::sync::Mutex<Option<mpsc::Receiver<Message>>>>,
    overflowed: Arc<OnceLock<String>>,
    kick: Arc<Notify>,
}

impl Outbox {
    fn new() -> Outbox {
        let (sender, receiver) = mpsc::channel(CONNECTION_BUFFER);
        Outbox {
            sender,
            receiver: Arc::new(std::sync::Mutex::new(Some(receiver))),
            overflowed: Arc::new(OnceLock::new()),
            kick: Arc::new(Notify::new()),
        }
    }

    /// The queue's far end, for the writer (once).
    fn take_receiver(&self) -> mpsc::Receiver<Message> {
        self.receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("one writer per connection")
    }

    /// Queues `message`; `false` when it was not (the connection is too
    /// slow, and is being closed, or already gone).
    fn offer(&self, message: &ServerMessage) -> bool {
        if self.overflowed.get().is_some() {
            return false;
        }
        match self.sender.try_send(text(message)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let _ = self.overflowed.set(format!(
                    "the connection fell {CONNECTION_BUFFER} messages behind the desk: closed so that it cannot hold the desk back"
                ));
                self.kick.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Writes the outbox to the socket until every sender is gone (then
/// closes it), the socket fails, or the connection overflows (then says
/// why, briefly, and closes).
async fn write_out(
    mut sink: futures::stream::SplitSink<WebSocketStream<TcpStream>, Message>,
    mut to_send: mpsc::Receiver<Message>,
    outbox: Outbox,
) {
    let kick = outbox.kick.clone();
    let overflowed = outbox.overflowed.clone();
    // The writer must not keep its own queue open.
    drop(outbox);
    let too_slow = loop {
        tokio::select! {
            biased;
            _ = kick.notified() => break true,
            message = to_send.recv() => {
                let Some(message) = message else { break false };
                tokio::select! {
                    sent = sink.send(message) => if sent.is_err() { return },
                    _ = kick.notified() => break true,
                }
            }
        }
    };
    let _ = tokio::time::timeout(FAREWELL_WITHIN, async {
        if too_slow {
            let reason = overflowed.get().cloned().unwrap_or_default();
            tracing::warn!("{reason}");
            let _ = sink.send(text(&ServerMessage::Closing { reason })).await;
        }
        let _ = sink.close().await;
    })
    .await;
}

/// An operator's work on the desk over one connection.
struct Operating {
    desk: Arc<Desk>,
    operator: Arc<str>,
    outbox: Outbox,
    /// The streams this connection started: stopped when it goes.
    owned: HashMap<Arc<str>, Owned>,
    /// The streams it attached to: their commands go to the follower.
    followed: HashMap<Arc<str>, mpsc::Sender<StreamCommand>>,
    /// Each owned stream's pump: runs until the stream has ended.
    pumps: JoinSet<()>,
    /// Attached streams and the desk view: dropped with the connection.
    followers: JoinSet<()>,
}

struct Owned {
    stopper: StreamStopper,
    commands: CommandSender<StreamCommand>,
}

impl Operating {
    fn on_message(&mut self, frame: &str) {
        let message = match serde_json::from_str::<ClientMessage>(frame) {
            Ok(message) => message,
            Err(error) => {
                self.outbox.offer(&ServerMessage::BadMessage {
                    reason: error.to_string(),
                });
                return;
            }
        };
        match message {
            ClientMessage::Hello { .. } => {
                self.outbox.offer(&ServerMessage::BadMessage {
                    reason: "hello is said once, first".into(),
                });
            }
            ClientMessage::Start {
                request,
                side,
                amount,
                pair,
                fixed,
                confirm_notional,
            } => self.start(
                request,
                RfqSpec {
                    side,
                    amount,
                    pair,
                    fixed,
                },
                confirm_notional,
            ),
            ClientMessage::Command { rfq_id, command } => self.command(rfq_id, command),
            ClientMessage::Attach { rfq_id } => self.attach(rfq_id),
            ClientMessage::SubscribeDesk => self.subscribe_desk(),
        }
    }

    fn start(&mut self, request: u64, spec: RfqSpec, confirm_notional: bool) {
        self.owned.retain(|_, owned| !owned.commands.is_closed());
        if let Some(why) = self.desk.registry().quotable().refusal(spec.pair) {
            self.outbox.offer(&ServerMessage::StartRefused {
                request,
                reason: why,
                request_error: true,
            });
            return;
        }
        // The desk's fat-finger limit holds whatever the operator's own
        // environment says: an operator with a looser (or no) limit is
        // still asked to confirm.
        let notional =
            self.desk
                .settings()
                .notional_limits()
                .check(spec.pair, spec.fixed, spec.amount);
        if let Some(warning) = notional.warning().filter(|_| !confirm_notional) {
            self.outbox.offer(&ServerMessage::StartRefused {
                request,
                reason: format!(
                    "the desk's limit: {warning}: confirm it to ask for quotes (--confirm-notional)"
                ),
                request_error: true,
            });
            return;
        }
        let request_terms =
            crate::rfq::request::RequestParams::default().with_operator(self.operator.clone());
        let handle = match self.desk.try_start(QuoteRequest {
            spec,
            params: request_terms,
        }) {
            Ok(handle) => handle,
            Err(error) => {
                let request_error =
                    matches!(error, DeskError::Request(_) | DeskError::BelowMinimum(_));
                self.outbox.offer(&ServerMessage::StartRefused {
                    request,
                    reason: error.to_string(),
                    request_error,
                });
                return;
            }
        };
        tracing::info!(operator = %self.operator, rfq_id = %handle.rfq_id, "RFQ started");
        // Before the pump exists: the operator learns the id before any
        // event of it.
        self.outbox.offer(&ServerMessage::Started {
            request,
            rfq_id: handle.rfq_id.clone(),
            speed_per_mille: handle.clock.speed_per_mille(),
        });
        self.owned.insert(
            handle.rfq_id.clone(),
            Owned {
                stopper: handle.stopper(),
                commands: handle.commands.clone(),
            },
        );
        self.pumps.spawn(pump(handle, self.outbox.clone()));
    }

    fn command(&mut self, rfq_id: Arc<str>, command: StreamCommand) {
        if let Some(owned) = self.owned.get(&rfq_id) {
            if command == StreamCommand::Stop {
                owned.stopper.stop();
                return;
            }
            let refused = match owned.commands.try_send(command) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(_)) => Refusal::Busy,
                Err(mpsc::error::TrySendError::Closed(_)) => Refusal::Ended,
            };
            self.outbox.offer(&ServerMessage::CommandRefused {
                rfq_id,
                why: refused,
            });
            return;
        }
        if let Some(follower) = self.followed.get(&rfq_id) {
            if follower.try_send(command).is_err() {
                self.outbox.offer(&ServerMessage::CommandRefused {
                    rfq_id,
                    why: Refusal::Busy,
                });
            }
            return;
        }
        self.outbox.offer(&ServerMessage::BadMessage {
            reason: format!("no RFQ '{rfq_id}' on this connection: start it or attach to it first"),
        });
    }

    fn attach(&mut self, rfq_id: Arc<str>) {
        let Some(mut subscription) = self.desk.attach(&rfq_id) else {
            self.outbox.offer(&ServerMessage::AttachRefused {
                reason: format!("no live RFQ '{rfq_id}' on this desk"),
                rfq_id,
            });
            return;
        };
        if !self
            .outbox
            .offer(&ServerMessage::Snapshot(subscription.snapshot.clone()))
        {
            return;
        }
        let (commands, mut to_stream) = mpsc::channel::<StreamCommand>(crate::desk::COMMAND_BUFFER);
        self.followed.insert(rfq_id.clone(), commands);
        let outbox = self.outbox.clone();
        self.followers.spawn(async move {
            loop {
                tokio::select! {
                    next = subscription.next() => match next {
                        Ok(sequenced) => {
                            if !outbox.offer(&ServerMessage::Event(sequenced)) {
                                return;
                            }
                        }
                        Err(why) => {
                            outbox.offer(&ServerMessage::Detached { rfq_id, why });
                            return;
                        }
                    },
                    Some(command) = to_stream.recv() => {
                        if let Err(refused) = subscription.send(command).await {
                            outbox.offer(&ServerMessage::CommandRefused {
                                rfq_id: rfq_id.clone(),
                                why: refused.why,
                            });
                        }
                    }
                }
            }
        });
    }

    fn subscribe_desk(&mut self) {
        // Subscribed before the list is read: a stream starting between
        // the two is in both, never in neither.
        let mut desk_events = self.desk.subscribe_desk();
        self.outbox.offer(&live_rfqs(&self.desk));
        let outbox = self.outbox.clone();
        let desk = self.desk.clone();
        self.followers.spawn(async move {
            loop {
                match desk_events.recv().await {
                    Ok(event) => {
                        if !outbox.offer(&ServerMessage::Desk(event)) {
                            return;
                        }
                    }
                    // The rows missed are not sent again: the whole view is.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a desk view fell behind the desk's events");
                        if !outbox.offer(&live_rfqs(&desk)) {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// The connection is going: its streams stop (each pump runs on
    /// until its stream has ended, so an order out is waited for and
    /// recorded); when the desk is stopping, the operator is told.
    async fn close(mut self, desk_stopping: bool) {
        for owned in self.owned.values() {
            owned.stopper.stop();
        }
        self.followers.shutdown().await;
        while self.pumps.join_next().await.is_some() {}
        if desk_stopping {
            self.outbox.offer(&ServerMessage::Closing {
                reason: "the desk server is stopping".into(),
            });
        }
    }
}

/// The desk view as `subscribe_desk` answers it.
fn live_rfqs(desk: &Desk) -> ServerMessage {
    let view = desk.desk_view();
    ServerMessage::LiveRfqs {
        rfq_ids: view.rfqs.iter().map(|row| row.rfq_id.clone()).collect(),
        rfqs: view.rfqs,
        lps: view.lps,
    }
}

/// Hands every event of an owned stream, numbered as the desk numbers it
/// (from 1, no gap: the primary consumer sees every event), to the
/// connection; runs to the stream's end whether or not anyone reads.
async fn pump(mut handle: StreamHandle, outbox: Outbox) {
    let mut seq = 0;
    while let Some(event) = handle.events.recv().await {
        seq += 1;
        outbox.offer(&ServerMessage::Event(Sequenced { seq, event }));
    }
    if let Err(error) = handle.finish().await {
        tracing::error!("an RFQ on the desk server failed: {error:#}");
    }
}
