//! `lp-rfq serve`: the desk server. One process owns the desk (the
//! venues' LPs with their one session, health and rate limit each, the
//! blotter, the settings) and every operator attaches to it over a
//! WebSocket (`--desk ws://HOST:PORT`), authenticated by the operators
//! file. With a certificate (`--tls-cert`, `--tls-key`) every listener
//! serves TLS (`wss://`), opened within the same deadline as the
//! WebSocket upgrade; the rest of a connection's code is the same over
//! either stream. Each connection is its own task: it reads the operator's
//! messages and starts their streams on the desk; each stream's task
//! offers its numbered events, as frames, straight into the connection's
//! bounded outbox, which one writer drains (every frame queued, then one
//! flush); a connection that falls a whole outbox behind is closed with
//! the reason, so no operator can hold the desk back or grow its memory.
//! The wire is `desk::protocol`, documented in docs/protocol.md.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::blotter::desk_actions::{DeskAction, DeskActionRow};
use crate::client_api::fix::{FixAcceptor, FixClients};
use crate::client_api::ws::ClientTokens;
use crate::client_api::ClientApi;
use crate::desk::protocol::{
    ClientMessage, ServerMessage, StartTerms, PROTOCOL_VERSION, TOKEN_ENV,
};
use crate::desk::{Desk, DeskError};
use crate::operators::Operators;
use crate::rfq::inbox::CommandSender;
use crate::rfq::outlet::Outlet;
use crate::rfq::{QuoteRequest, RfqEvent, RfqSpec, StreamCommand};
use crate::signals::Interrupts;
use crate::streams::{Refusal, Sequenced, StreamStopper};
use crate::tls::{Opening, ServerTls};
use crate::ws_edge::{self, FAREWELL_WITHIN};

/// Messages a connection may fall behind by before it is closed: a
/// console drains every frame, and a 30 s stream of 10 LPs polling every
/// 100 ms makes about 3,000 events; several streams share one connection.
pub(crate) const CONNECTION_BUFFER: usize = 4096;
/// The largest message an operator may send: every command is a few
/// hundred bytes.
const MAX_OPERATOR_MESSAGE: usize = 64 << 10;
/// How long a new connection has to say hello.
const HELLO_WITHIN: Duration = ws_edge::HANDSHAKE_WITHIN;
/// Connections (operators' and clients' together) served at once: one
/// more is refused and logged, so that a flood of sockets cannot exhaust
/// the desk's descriptors or memory.
pub(crate) const MAX_CONNECTIONS: usize = 256;

/// How long the desk keeps the end of an operator's RFQ that ended after
/// the operator's connection had gone, for the operator's next welcome.
const ENDED_AWAY_KEPT_FOR: Duration = Duration::from_secs(60 * 60);
/// The most such ends kept per operator (the oldest go first).
const ENDED_AWAY_KEPT: usize = 64;

/// The ends of RFQs whose operator was not there to see them (the
/// connection went while an order was out), per operator, for a while:
/// their next connection's welcome carries them.
#[derive(Default)]
struct EndedAway {
    by_operator: std::sync::Mutex<HashMap<Arc<str>, KeptEnds>>,
}

/// One operator's kept ends, each with when it was kept.
type KeptEnds = VecDeque<(Instant, RfqEvent)>;

impl EndedAway {
    fn note(&self, operator: &Arc<str>, ended: RfqEvent) {
        let mut kept = self.by_operator.lock().unwrap_or_else(|p| p.into_inner());
        let ends = kept.entry(operator.clone()).or_default();
        if ends.len() == ENDED_AWAY_KEPT {
            ends.pop_front();
        }
        ends.push_back((Instant::now(), ended));
    }

    /// `operator`'s ends still kept, oldest first.
    fn of(&self, operator: &Arc<str>) -> Vec<RfqEvent> {
        let mut kept = self.by_operator.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ends) = kept.get_mut(operator) else {
            return Vec::new();
        };
        ends.retain(|(at, _)| at.elapsed() < ENDED_AWAY_KEPT_FOR);
        ends.iter().map(|(_, ended)| ended.clone()).collect()
    }
}

/// What `serve` was asked to do, checked before the desk opens.
pub struct ServePlan {
    address: SocketAddr,
    /// Where clients' WebSocket sessions are taken (`--client-ws`).
    client_ws: Option<SocketAddr>,
    /// Where clients' FIX 4.4 sessions are taken (`--client-fix`).
    client_fix: Option<SocketAddr>,
    /// The desk's CompID on those sessions (`--fix-comp-id`).
    fix_comp_id: String,
    operators: Operators,
    insecure: bool,
    /// Every listener serves TLS with this certificate (`--tls-cert`).
    tls: Option<ServerTls>,
}

/// What `serve` is asked for, as given on the command line.
pub struct ServeFlags<'a> {
    pub listen: &'a str,
    pub operators: &'a Path,
    pub insecure: bool,
    pub client_ws: Option<&'a str>,
    pub client_fix: Option<&'a str>,
    pub fix_comp_id: &'a str,
    /// `--tls-cert` and `--tls-key`, read here.
    pub tls: Option<&'a crate::config::TlsFiles>,
}

/// Checks `--listen`, `--insecure`, the certificate and key, the client
/// API addresses, the desk's FIX CompID and the operators file; each
/// refusal names the flag or file to fix. Without TLS an address beyond
/// loopback needs `--insecure`; with it, none does.
pub fn plan(flags: ServeFlags<'_>) -> Result<ServePlan, String> {
    let ServeFlags {
        listen,
        operators,
        insecure,
        client_ws,
        client_fix,
        fix_comp_id,
        tls,
    } = flags;
    let tls = match tls {
        Some(files) => Some(ServerTls::load(&files.cert, &files.key).map_err(|e| e.to_string())?),
        None => None,
    };
    let in_the_clear = tls.is_none() && !insecure;
    let address: SocketAddr = listen.parse().map_err(|_| {
        format!(
            "invalid --listen '{listen}': expected an IP address and port such as 127.0.0.1:7411"
        )
    })?;
    if !address.ip().is_loopback() && in_the_clear {
        return Err(format!(
            "--listen '{listen}' is not a loopback address: operators' tokens and trades would cross the network in the clear; give the desk a certificate (--tls-cert and --tls-key), listen on 127.0.0.1, or pass --insecure to accept that"
        ));
    }
    let client_address = |flag: &str, text: Option<&str>, example: &str| match text {
        None => Ok(None),
        Some(text) => {
            let at: SocketAddr = text.parse().map_err(|_| {
                format!(
                    "invalid {flag} '{text}': expected an IP address and port such as {example}"
                )
            })?;
            if !at.ip().is_loopback() && in_the_clear {
                return Err(format!(
                    "{flag} '{text}' is not a loopback address: clients' credentials and trades would cross the network in the clear; give the desk a certificate (--tls-cert and --tls-key), listen on 127.0.0.1, or pass --insecure to accept that"
                ));
            }
            Ok(Some(at))
        }
    };
    let client_ws = client_address("--client-ws", client_ws, "127.0.0.1:7412")?;
    let client_fix = client_address("--client-fix", client_fix, "127.0.0.1:7413")?;
    if fix_comp_id.is_empty()
        || fix_comp_id.len() > 64
        || !fix_comp_id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "invalid --fix-comp-id '{fix_comp_id}': expected 1 to 64 printable ASCII characters such as LPRFQ"
        ));
    }
    let operators = Operators::load(operators).map_err(|error| error.to_string())?;
    Ok(ServePlan {
        address,
        client_ws,
        client_fix,
        fix_comp_id: fix_comp_id.to_string(),
        operators,
        insecure,
        tls,
    })
}

/// Serves `desk` until an interrupt (SIGINT, SIGTERM, SIGHUP): then stops
/// taking connections, stops every stream (an order out is waited for
/// and recorded), tells every operator, and returns once every
/// connection has closed, so that the caller can close the desk.
pub async fn serve(
    desk: Arc<Desk>,
    plan: ServePlan,
    interrupts: Interrupts,
) -> anyhow::Result<ExitCode> {
    let listener = match TcpListener::bind(plan.address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("lp-rfq: cannot listen on '{}': {error}", plan.address);
            return Ok(ExitCode::from(2));
        }
    };
    serve_on(desk, listener, plan, interrupts).await
}

impl ServePlan {
    /// Operators only, on a loopback listener the caller binds itself
    /// ([`serve_on`]): the bench's desk, whose operators are made up for
    /// the run rather than read from a file.
    pub(crate) fn loopback(operators: Operators) -> ServePlan {
        ServePlan {
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            client_ws: None,
            client_fix: None,
            fix_comp_id: String::new(),
            operators,
            insecure: false,
            tls: None,
        }
    }
}

/// [`serve`] on a `listener` already bound (the plan's address is not
/// used): a caller that must know the port before anyone connects binds
/// port 0 itself.
pub(crate) async fn serve_on(
    desk: Arc<Desk>,
    listener: TcpListener,
    plan: ServePlan,
    mut interrupts: Interrupts,
) -> anyhow::Result<ExitCode> {
    let address = listener.local_addr()?;
    let opening = Opening::new(plan.tls.as_ref());
    if plan.insecure && plan.tls.is_none() && !address.ip().is_loopback() {
        eprintln!(
            "lp-rfq: WARNING: --insecure: listening on {address} without TLS: operators' tokens and trades cross the network in the clear"
        );
    }
    let facts = desk.facts();
    eprintln!(
        "lp-rfq: desk serving on {}://{address} ({}) · {} operators · {} LPs{}",
        opening.ws_scheme(),
        match opening {
            Opening::Plain => "no TLS",
            Opening::Tls(_) => "TLS",
        },
        plan.operators.len(),
        facts.lps.len(),
        if facts.simulated { " (SIMULATED)" } else { "" }
    );
    let pauses = desk.pauses();
    if let Some(on) = &pauses.kill_switch {
        eprintln!(
            "lp-rfq: the kill switch is on (turned on by {} at {}): no client's request is taken until `lp-rfq clients kill-switch off`",
            on.by, on.at
        );
    }
    for paused in &pauses.paused {
        eprintln!(
            "lp-rfq: client '{}' is paused (by {} at {}): `lp-rfq clients resume {}` to quote it again",
            paused.client, paused.mark.by, paused.mark.at, paused.client
        );
    }
    let api = if plan.client_ws.is_some() || plan.client_fix.is_some() {
        match ClientApi::new(desk.clone()) {
            Ok(api) => Some(api),
            Err(error) => {
                eprintln!("lp-rfq: the client API cannot record client orders: {error}");
                return Ok(ExitCode::from(2));
            }
        }
    } else {
        None
    };
    let clients = match (plan.client_ws, &api) {
        (Some(at), Some(api)) => {
            let tokens = match ClientTokens::load(desk.clients(), &plan.operators) {
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
                "lp-rfq: client API (WebSocket) on {}://{}",
                opening.ws_scheme(),
                listener.local_addr()?
            );
            Some((listener, Arc::new(tokens), api.clone()))
        }
        _ => None,
    };
    let fix_clients = match (plan.client_fix, &api) {
        (Some(at), Some(api)) => {
            let clients = match FixClients::load(desk.clients(), &plan.fix_comp_id) {
                Ok(clients) => clients,
                Err(error) => {
                    eprintln!("lp-rfq: {error}");
                    return Ok(ExitCode::from(2));
                }
            };
            let listener = match TcpListener::bind(at).await {
                Ok(listener) => listener,
                Err(error) => {
                    eprintln!("lp-rfq: cannot listen on '{at}' (--client-fix): {error}");
                    return Ok(ExitCode::from(2));
                }
            };
            eprintln!(
                "lp-rfq: client API (FIX 4.4) on {} as {}{}",
                listener.local_addr()?,
                plan.fix_comp_id,
                if plan.tls.is_some() { " (TLS)" } else { "" }
            );
            let acceptor = FixAcceptor {
                api: api.clone(),
                clients,
                comp_id: plan.fix_comp_id.clone(),
                dir: desk.settings().fix_log_dir.join("clients"),
                logged_on: Default::default(),
            };
            Some((listener, Arc::new(acceptor)))
        }
        _ => None,
    };
    let operators = Arc::new(plan.operators);
    let ended_away = Arc::new(EndedAway::default());
    let (stopping, stop_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    let room = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            accepted = client_accept(&clients) => match accepted {
                Ok((socket, peer)) => {
                    let Some(place) = admit(&room, peer) else { continue };
                    if let Some((_, tokens, api)) = &clients {
                        let (api, tokens, stop) = (api.clone(), tokens.clone(), stop_seen.clone());
                        let opening = opening.clone();
                        connections.spawn(async move {
                            crate::client_api::ws::connection(socket, opening, peer, api, tokens, stop).await;
                            drop(place);
                        });
                    }
                }
                Err(error) => tracing::warn!("cannot accept a client connection: {error}"),
            },
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let Some(place) = admit(&room, peer) else { continue };
                    let desk = desk.clone();
                    let operators = operators.clone();
                    let stop = stop_seen.clone();
                    let ended_away = ended_away.clone();
                    let opening = opening.clone();
                    connections.spawn(async move {
                        connection(socket, opening, peer, desk, operators, ended_away, stop).await;
                        drop(place);
                    });
                }
                // A failed accept (out of descriptors) is that client's
                // problem, not the desk's.
                Err(error) => tracing::warn!("cannot accept a connection: {error}"),
            },
            accepted = fix_accept(&fix_clients) => match accepted {
                Ok((socket, peer)) => {
                    if let Some((_, acceptor)) = &fix_clients {
                        let (acceptor, mut stop) = (acceptor.clone(), stop_seen.clone());
                        let opening = opening.clone();
                        connections.spawn(async move {
                            // FIX has no upgrade of its own: the TLS
                            // handshake gets the WebSocket's deadline.
                            let socket = match ws_edge::handshake(opening.open(socket), &mut stop).await {
                                Ok(Ok(socket)) => socket,
                                Ok(Err(error)) => {
                                    tracing::info!(%peer, "FIX connection not opened: {error}");
                                    return;
                                }
                                Err(why) => {
                                    tracing::info!(%peer, "FIX connection dropped: {why}");
                                    return;
                                }
                            };
                            crate::client_api::fix::connection(socket, peer, acceptor, stop).await;
                        });
                    }
                }
                Err(error) => tracing::warn!("cannot accept a FIX client connection: {error}"),
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
    drop(fix_clients);
    let _ = stopping.send(true);
    while connections.join_next().await.is_some() {}
    eprintln!("lp-rfq: desk stopped");
    Ok(ExitCode::SUCCESS)
}

/// A place for `peer`'s connection, or `None` (logged, and the socket
/// dropped) when the desk already serves [`MAX_CONNECTIONS`].
fn admit(room: &Arc<Semaphore>, peer: SocketAddr) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let place = room.clone().try_acquire_owned().ok();
    if place.is_none() {
        tracing::warn!(%peer, "connection refused: the desk already serves {MAX_CONNECTIONS} connections");
    }
    place
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

/// The next FIX client connection, when the FIX acceptor listens
/// (pending forever otherwise).
async fn fix_accept(
    fix_clients: &Option<(TcpListener, Arc<FixAcceptor>)>,
) -> std::io::Result<(TcpStream, SocketAddr)> {
    match fix_clients {
        Some((listener, _)) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// One operator's connection, from the TLS and WebSocket handshakes
/// (within one deadline) to its close.
async fn connection(
    socket: TcpStream,
    opening: Opening,
    peer: SocketAddr,
    desk: Arc<Desk>,
    operators: Arc<Operators>,
    ended_away: Arc<EndedAway>,
    mut stop: watch::Receiver<bool>,
) {
    let config = WebSocketConfig::default().max_message_size(Some(MAX_OPERATOR_MESSAGE));
    let upgrade = async {
        let stream = opening
            .open(socket)
            .await
            .map_err(|error| format!("no TLS: {error}"))?;
        tokio_tungstenite::accept_async_with_config(stream, Some(config))
            .await
            .map_err(|error| format!("not a WebSocket: {error}"))
    };
    let socket = match ws_edge::handshake(upgrade, &mut stop).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(why)) => {
            tracing::info!(%peer, "{why}");
            return;
        }
        Err(why) => {
            tracing::info!(%peer, "connection dropped: {why}");
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
    let (outbox, to_send) = Outbox::new();
    let welcome = ServerMessage::Welcome {
        protocol: PROTOCOL_VERSION,
        operator: operator.clone(),
        desk: desk.facts(),
        ended_while_away: ended_away.of(&operator),
    };
    outbox.offer(&welcome);
    let mut writer = tokio::spawn(ws_edge::write_out(
        sink,
        to_send,
        outbox.0.overflow(),
        |frame| frame,
        |reason| text(&ServerMessage::Closing { reason }),
    ));
    let mut session = Operating {
        desk,
        operator: operator.clone(),
        outbox,
        owned: HashMap::new(),
        followed: HashMap::new(),
        running: JoinSet::new(),
        followers: JoinSet::new(),
        ended_away,
        gone: Arc::new(AtomicBool::new(false)),
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
            Some(_) = session.running.join_next(), if !session.running.is_empty() => {}
        }
    };
    if !stopping {
        // The operator's streams end without them now: each end is kept
        // for their next welcome.
        session.gone.store(true, Ordering::Relaxed);
    }
    session.close(stopping).await;
    if !writer_done {
        let _ = tokio::time::timeout(FAREWELL_WITHIN, &mut writer).await;
        writer.abort();
    }
    tracing::info!(%peer, %operator, "operator left");
}

/// Reads the operator's hello and finds who they are; the refusal says
/// why by name, and never repeats the token.
async fn hello<S: AsyncRead + AsyncWrite + Unpin>(
    incoming: &mut futures::stream::SplitStream<WebSocketStream<S>>,
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

/// A connection's bounded queue of frames out (`ws_edge::Outbox`),
/// offered the desk's messages.
#[derive(Clone)]
struct Outbox(ws_edge::Outbox<Message>);

impl Outbox {
    fn new() -> (Outbox, mpsc::Receiver<Message>) {
        let (outbox, to_send) = ws_edge::Outbox::new(CONNECTION_BUFFER);
        (Outbox(outbox), to_send)
    }

    /// Queues `message`; `false` when it was not (the connection is too
    /// slow, and is being closed, or already gone).
    fn offer(&self, message: &ServerMessage) -> bool {
        self.0.offer(text(message))
    }
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
    /// Each owned stream's end, waited for: done once the stream has
    /// ended and every event of it is offered.
    running: JoinSet<()>,
    /// Attached streams and the desk view: dropped with the connection.
    followers: JoinSet<()>,
    ended_away: Arc<EndedAway>,
    /// The operator's connection has gone (not the desk stopping).
    gone: Arc<AtomicBool>,
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
                terms,
            } => self.start(
                request,
                RfqSpec {
                    side,
                    amount,
                    pair,
                    fixed,
                },
                &terms,
                confirm_notional,
            ),
            ClientMessage::Command { rfq_id, command } => self.command(rfq_id, command),
            ClientMessage::Attach { rfq_id } => self.attach(rfq_id),
            ClientMessage::SubscribeDesk => self.subscribe_desk(),
            ClientMessage::PauseClient { request, client } => {
                let done = self.desk.pause_client(&self.operator, &client);
                self.answer_control(request, done);
            }
            ClientMessage::ResumeClient { request, client } => {
                let done = self.desk.resume_client(&self.operator, &client);
                self.answer_control(request, done);
            }
            ClientMessage::KillSwitch { request, on } => {
                let done = self.desk.set_kill_switch(&self.operator, on);
                self.answer_control(request, done);
            }
        }
    }

    fn answer_control(&self, request: u64, done: Result<crate::desk::PauseChange, DeskError>) {
        let answer = match done {
            Ok(change) => {
                tracing::info!(operator = %self.operator, changed = change.changed, stopped = change.stopped.len(), "client pauses asked");
                ServerMessage::ClientPauses {
                    request,
                    changed: change.changed,
                    stopped: change.stopped,
                    pauses: change.pauses,
                }
            }
            Err(error) => ServerMessage::ControlRefused {
                request,
                reason: error.to_string(),
            },
        };
        self.outbox.offer(&answer);
    }

    fn start(&mut self, request: u64, spec: RfqSpec, terms: &StartTerms, confirm_notional: bool) {
        self.owned.retain(|_, owned| !owned.commands.is_closed());
        let params = match terms.params(self.operator.clone()) {
            Ok(params) => params,
            Err(reason) => {
                self.outbox.offer(&ServerMessage::StartRefused {
                    request,
                    reason,
                    request_error: true,
                });
                return;
            }
        };
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
        let outbox = self.outbox.clone();
        let away = Away {
            ended: self.ended_away.clone(),
            operator: self.operator.clone(),
            gone: self.gone.clone(),
        };
        let started = self
            .desk
            .try_start_into(QuoteRequest { spec, params }, |rfq_id, clock| ToOperator {
                outbox,
                started: Some(ServerMessage::Started {
                    request,
                    rfq_id: rfq_id.clone(),
                    speed_per_mille: clock.speed_per_mille(),
                }),
                seq: 0,
                away,
            });
        let stream = match started {
            Ok(stream) => stream,
            Err(error) => {
                // A client the desk does not know, or a request beyond
                // its client's limits, is the request's fault, as it is
                // in a single process (exit 2).
                let request_error = matches!(
                    error,
                    DeskError::Request(_) | DeskError::BelowMinimum(_) | DeskError::Client(_)
                );
                self.outbox.offer(&ServerMessage::StartRefused {
                    request,
                    reason: error.to_string(),
                    request_error,
                });
                return;
            }
        };
        tracing::info!(operator = %self.operator, rfq_id = %stream.rfq_id, "RFQ started");
        self.owned.insert(
            stream.rfq_id.clone(),
            Owned {
                stopper: stream.stopper,
                commands: stream.commands,
            },
        );
        let task = stream.task;
        self.running.spawn(async move {
            if let Err(error) = task.await {
                tracing::error!("an RFQ on the desk server failed: {error:#}");
            }
        });
    }

    fn command(&mut self, rfq_id: Arc<str>, command: StreamCommand) {
        if let Some(owned) = self.owned.get(&rfq_id) {
            if command == StreamCommand::Stop {
                owned.stopper.stop();
                record_command(&self.desk, &self.operator, &rfq_id, &command);
                return;
            }
            let taken = command.clone();
            let refused = match owned.commands.try_send(command) {
                Ok(()) => {
                    record_command(&self.desk, &self.operator, &rfq_id, &taken);
                    return;
                }
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
        let (desk, operator) = (self.desk.clone(), self.operator.clone());
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
                        match subscription.send(command.clone()).await {
                            Ok(()) => record_command(&desk, &operator, &rfq_id, &command),
                            Err(refused) => {
                                outbox.offer(&ServerMessage::CommandRefused {
                                    rfq_id: rfq_id.clone(),
                                    why: refused.why,
                                });
                            }
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

    /// The connection is going: its streams stop (each is waited for
    /// until it has ended, so an order out is waited for and recorded);
    /// when the desk is stopping, the operator is told.
    async fn close(mut self, desk_stopping: bool) {
        for owned in self.owned.values() {
            owned.stopper.stop();
        }
        self.followers.shutdown().await;
        while self.running.join_next().await.is_some() {}
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
        pauses: view.pauses,
    }
}

/// Records who accepted, released or stopped RFQ `rfq_id`: the stream
/// took `command` from `operator` (who may have attached to another's
/// RFQ), so an order it sends names them (`orders.accepted_by`).
fn record_command(desk: &Desk, operator: &Arc<str>, rfq_id: &Arc<str>, command: &StreamCommand) {
    let (action, quote_id, side) = match command {
        StreamCommand::Stop => (DeskAction::Stop, None, None),
        StreamCommand::Accept { quote_id } => (DeskAction::Accept, quote_id.clone(), None),
        StreamCommand::AcceptSide { side, quote_id } => {
            (DeskAction::Accept, quote_id.clone(), Some(side.to_string()))
        }
        StreamCommand::ReleaseUnverified => (DeskAction::Release, None, None),
        StreamCommand::ReleaseUnverifiedSide { side } => {
            (DeskAction::Release, None, Some(side.to_string()))
        }
    };
    desk.record_action(DeskActionRow {
        operator: operator.to_string(),
        action,
        client: None,
        rfq_id: Some(rfq_id.to_string()),
        quote_id: quote_id.map(|id| id.to_string()),
        side,
    });
}

/// Where a stream's end goes when its operator is not there to see it.
struct Away {
    ended: Arc<EndedAway>,
    operator: Arc<str>,
    gone: Arc<AtomicBool>,
}

/// An owned stream's consumer, inside the stream's own task: each event,
/// numbered as the desk numbers it (from 1, no gap: the primary consumer
/// sees every event), becomes its frame there and is offered to the
/// connection's outbox without waiting (a connection that cannot keep up
/// is closed by its outbox, never waited for). No task sits between the
/// stream and the connection: at a thousand streams a hop per event was
/// a wake-up per event.
struct ToOperator {
    outbox: Outbox,
    /// The answer to the start, offered just before the stream's first
    /// event: the operator learns the id before any event of it.
    started: Option<ServerMessage>,
    seq: u64,
    away: Away,
}

impl Outlet for ToOperator {
    fn send(&mut self, event: RfqEvent) -> impl std::future::Future<Output = ()> + Send {
        if let Some(started) = self.started.take() {
            self.outbox.offer(&started);
        }
        self.seq += 1;
        let ended = matches!(event.kind, crate::rfq::EventKind::Ended(_)).then(|| event.clone());
        let offered = self.outbox.offer(&ServerMessage::Event(Sequenced {
            seq: self.seq,
            event,
        }));
        if let Some(ended) = ended {
            if !offered || self.away.gone.load(Ordering::Relaxed) {
                self.away.ended.note(&self.away.operator, ended);
            }
        }
        std::future::ready(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A desk's certificate and key, made for the test.
    fn server_tls(dir: &Path) -> ServerTls {
        let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        ServerTls::load(&cert, &key).unwrap()
    }

    /// A peer that opens a TLS record and never finishes its hello is
    /// dropped when the handshake's deadline passes, exactly as one that
    /// never upgrades: TLS adds no deadline of its own.
    #[tokio::test(start_paused = true)]
    async fn a_peer_stalled_in_the_tls_handshake_is_dropped_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::config::Settings {
            blotter: None,
            ..crate::config::Settings::default()
        };
        let desk = Arc::new(Desk::open(settings).unwrap());
        let operators = Operators::parse(
            "[[operator]]\nname = \"a\"\ntoken_env = \"T\"\n",
            "operators.toml",
            |_| Ok(crate::secret::Secret::new("a-token-Lw83nQ2xVb")),
        )
        .unwrap();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let mut stalled = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        // A handshake record's header, promising bytes that never come.
        stalled
            .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00])
            .await
            .unwrap();
        let (socket, peer) = listener.accept().await.unwrap();
        let (_stopping, stop) = watch::channel(false);
        let started = Instant::now();
        connection(
            socket,
            Opening::Tls(server_tls(dir.path())),
            peer,
            desk,
            Arc::new(operators),
            Arc::default(),
            stop,
        )
        .await;
        assert_eq!(started.elapsed(), ws_edge::HANDSHAKE_WITHIN);
        let mut buf = [0u8; 16];
        assert_eq!(stalled.read(&mut buf).await.unwrap(), 0);
    }
}
